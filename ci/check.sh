#!/bin/sh
# make check: the test suite under ASan+UBSan (clang), then under Valgrind
# memcheck with 0 errors and 0 leaks required, then under ThreadSanitizer
# (ci/tsan.sh) with 0 reports.
set -eu
jobs=$(nproc 2>/dev/null || echo 2)

echo "### ASan + UBSan (clang)"
make --no-print-directory -j"$jobs" CC=clang SAN=1 OPT=-O1 BUILD=build-asan tests
# The faketime children (tests/integration/test_heartbeat_faketime.c) cannot
# be sanitizer builds (an ASan binary hangs at start under libfaketime's
# LD_PRELOAD): they run the normal build; the test process is checked.
make --no-print-directory -j"$jobs" all
TOFULAB_FAKETIME_BIN="$(pwd)/build/tofulab" \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
TOFULAB_CHECK=asan TOFULAB="$(pwd)/build-asan/tofulab" \
    sh ci/run-tests.sh build-asan/tests

echo "### Valgrind memcheck"
make --no-print-directory -j"$jobs" tests
TOFULAB_CHECK=valgrind TOFULAB="$(pwd)/build/tofulab" \
    sh ci/run-tests.sh build/tests valgrind -q --error-exitcode=99 --leak-check=full \
    --show-leak-kinds=all --errors-for-leak-kinds=all --track-fds=no

# ThreadSanitizer (the POSIX host's threads): about 3 minutes here, beside
# Valgrind's many more; `make tsan` runs it alone.
sh ci/tsan.sh
