# The ThreadSanitizer pass, sourced (after ci/steps.sh) by ci/tsan.sh
# (`make tsan`) and ci/check.sh (`make check`, its last pass): the test
# suite under ThreadSanitizer (clang), 0 reports required. The POSIX host's
# threads - leader/follower receive, the reactor standing by - are what it
# is for; every test binary runs, as under ASan. The programs the tests
# spawn (tofulab serve, client, the defective peer) are ThreadSanitizer
# builds too, except libfaketime's children (an instrumented binary does not
# start under its LD_PRELOAD: they run the normal build). handle_segv=0: a
# peer that crashes on purpose still dies of SIGSEGV. Ends with
# "tsan: N passed, N failed". Needs $jobs and $root.
tsan_pass() {
    echo "== ThreadSanitizer (clang)"
    steps_mark
    if step "build (clang, TSan)" build make --no-print-directory -j"$jobs" CC=clang SAN=thread OPT=-O1 \
        BUILD=build-tsan tests && step "build (normal, faketime)" build make --no-print-directory -j"$jobs" all; then
        TOFULAB_FAKETIME_BIN="$root/build/tofulab" \
        TSAN_OPTIONS="halt_on_error=1 abort_on_error=1 second_deadlock_stack=1 report_signal_unsafe=0 handle_segv=0" \
        TOFULAB_CHECK=tsan TOFULAB="$root/build-tsan/tofulab" \
            steps_cmocka "$root/build-tsan/tests"
    fi
    steps_since "tsan"
}
