#!/bin/sh
# make test: every test, quietly. One line per step — the build, a check
# that the build left nothing to rebuild, each cmocka binary (unit and
# integration tests, the CLI's included), the fuzz corpus replay, the
# scenario determinism check, the scenario sweep and the documented commands
# (ci/doc-commands.sh) — with the details of a failure only; V=1 prints
# everything. The last line is "N passed, N failed" over every test run:
# cmocka tests, the rebuild check, fuzz replay inputs, scenario runs
# (determinism: one per file; sweep: one per file and seed) and doc commands.
# Exit status 0 when nothing failed, 1 otherwise.
#
#   usage: sh ci/test.sh      (the Makefile passes MAKE, BUILD, FUZZ_DIR, V,
#                              TEST_JOBS)
#   TEST_JOBS=N   cmocka binaries run N at a time (default 2: most of their
#                 time is spent waiting on sockets and timers, so two at once
#                 take about 45 s off; TEST_JOBS=1 runs them one by one)
set -u
cd "$(dirname "$0")/.." || exit 2
MAKE=${MAKE:-make}
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
export FUZZ_DIR="${FUZZ_DIR:-build-fuzz}"
. ci/steps.sh

targets="tests fuzz-replay-build"
# shellcheck disable=SC2086 # MAKE may carry arguments
if ! step build build $MAKE --no-print-directory $targets; then
    steps_total
    exit 1
fi
# A second make test must compile nothing: test objects are kept, not
# deleted as intermediates (the Makefile's .SECONDARY).
# shellcheck disable=SC2086
step "rebuild check (make -q)" check $MAKE -q --no-print-directory $targets

bin=$BUILD/tofulab
export TOFULAB="$bin"
STEPS_JOBS=${TEST_JOBS:-2} steps_cmocka "$BUILD/tests"
step "fuzz replay" counted sh ci/fuzz-replay.sh
step "scenario determinism" counted sh ci/scenarios.sh --quick --only determinism "$bin"
step "scenario sweep" counted sh ci/scenarios.sh --only sweep "$bin"
step "doc commands" counted sh ci/doc-commands.sh "$bin"
steps_total
steps_ok
