#!/bin/sh
# make check: the test suite under ASan+UBSan (clang), then under Valgrind
# memcheck with 0 errors and 0 leaks required, then under ThreadSanitizer
# with 0 reports. Quiet as make test is (one line per binary, the details of
# a failure; V=1 prints everything); each pass ends with its total,
# "asan+ubsan: N passed, N failed", "valgrind: ..." and "tsan: ...".
set -u
cd "$(dirname "$0")/.." || exit 2
jobs=$(nproc 2>/dev/null || echo 2)
. ci/steps.sh
. ci/tsan-pass.sh
root=$(pwd)

echo "== ASan + UBSan (clang)"
steps_mark
# The faketime children (tests/integration/test_heartbeat_faketime.c) cannot
# be sanitizer builds (an ASan binary hangs at start under libfaketime's
# LD_PRELOAD): they run the normal build; the test process is checked.
if step "build (clang, ASan+UBSan)" build make --no-print-directory -j"$jobs" CC=clang SAN=1 OPT=-O1 \
    BUILD=build-asan tests && step "build (normal, faketime)" build make --no-print-directory -j"$jobs" all; then
    TOFULAB_FAKETIME_BIN="$root/build/tofulab" \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    TOFULAB_CHECK=asan TOFULAB="$root/build-asan/tofulab" \
        steps_cmocka "$root/build-asan/tests"
fi
steps_since "asan+ubsan"

echo "== Valgrind memcheck"
steps_mark
if step "build" build make --no-print-directory -j"$jobs" tests; then
    TOFULAB_CHECK=valgrind TOFULAB="$root/build/tofulab" \
        steps_cmocka "$root/build/tests" valgrind -q --error-exitcode=99 --leak-check=full \
        --show-leak-kinds=all --errors-for-leak-kinds=all --track-fds=no
fi
steps_since "valgrind"

# ThreadSanitizer (ci/tsan-pass.sh): about 3 minutes here, beside Valgrind's
# many more; `make tsan` runs this pass alone.
tsan_pass
steps_ok
