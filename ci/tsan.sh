#!/bin/sh
# make tsan: the test suite under ThreadSanitizer (clang), 0 reports required.
# The POSIX host's threads (leader/follower receive, the reactor standing by)
# are what it is for; every test runs, as under ASan in ci/check.sh. The
# programs the tests spawn (tofulab serve, client, the defective peer) are
# ThreadSanitizer builds too, except libfaketime's children (an instrumented
# binary does not start under its LD_PRELOAD: they run the normal build).
set -eu
jobs=$(nproc 2>/dev/null || echo 2)

echo "### ThreadSanitizer (clang)"
make --no-print-directory -j"$jobs" CC=clang SAN=thread OPT=-O1 BUILD=build-tsan tests
make --no-print-directory -j"$jobs" all
TOFULAB_FAKETIME_BIN="$(pwd)/build/tofulab" \
TSAN_OPTIONS="halt_on_error=1 abort_on_error=1 second_deadlock_stack=1 report_signal_unsafe=0 handle_segv=0" \
TOFULAB_CHECK=tsan TOFULAB="$(pwd)/build-tsan/tofulab" \
    sh ci/run-tests.sh build-tsan/tests
