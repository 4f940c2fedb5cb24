#!/bin/sh
# Run every cmocka test binary in a directory, quietly: one line per binary,
# the output of what failed (V=1: everything), and a closing line
# "[LABEL: ]N passed, N failed" over all the binaries' tests. Exit 1 if any
# failed. Tests run from the repository root, so they find tests/vectors/.
#
#   usage: sh ci/run-tests.sh [--label LABEL] DIR [WRAPPER...]
#          e.g. sh ci/run-tests.sh build/tests valgrind -q
set -u
label=""
if [ "${1:-}" = "--label" ] && [ $# -ge 2 ]; then
    label=$2
    shift 2
fi
if [ $# -lt 1 ]; then
    echo "usage: sh ci/run-tests.sh [--label LABEL] DIR [WRAPPER...]" >&2
    exit 2
fi
dir=$1
shift
case $dir in /*) ;; *) dir=$(pwd)/$dir ;; esac
cd "$(dirname "$0")/.." || exit 2
. ci/steps.sh
steps_cmocka "$dir" "$@"
if [ -n "$label" ]; then
    steps_since "$label"
else
    steps_total
fi
steps_ok
