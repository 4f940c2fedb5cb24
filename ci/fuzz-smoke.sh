#!/bin/sh
# make fuzz-smoke: every fuzz target under libFuzzer (ASan+UBSan) for SECS
# seconds each, one after the other, from its committed corpus with the
# dictionary. Prints exec/s per target; fails on any crash, failed check,
# leak, timeout or out-of-memory (the inputs are left in
# $FUZZ_DIR/artifacts/<target>/ for CI to upload).
#
#   usage: sh ci/fuzz-smoke.sh SECS TARGET...
set -u
dir=${FUZZ_DIR:-build-fuzz}
secs=${1:?usage: ci/fuzz-smoke.sh SECS TARGET...}
shift
[ $# -gt 0 ] || { echo "fuzz-smoke: no targets" >&2; exit 2; }

summary=$(mktemp "${TMPDIR:-/tmp}/fuzz-smoke.XXXXXX")
trap 'rm -f "$summary"' EXIT
failed=""
for t in "$@"; do
    echo "=== fuzz-smoke: $t (${secs}s)"
    # A fresh output corpus each time: the result depends only on the commit.
    rm -rf "$dir/corpus/$t" "$dir/artifacts/$t"
    FUZZ_DIR=$dir sh ci/fuzz-run.sh "$t" "$secs" >/dev/null 2>&1
    rc=$?
    log=$dir/logs/$t.log
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.* cov: \([0-9]*\) .*/\1/p')
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        result=FAIL
        failed="$failed $t"
        echo "--- $t failed (exit $rc); last lines of $log:"
        grep -E 'check failed|ERROR|SUMMARY|tl_engine_check|^ +#[0-9]+ |Test unit written' "$log" | head -n 30
        ls -l "$dir/artifacts/$t"
    fi
    printf '%-14s %10s %10s %6s  %s\n' "$t" "${runs:-?}" "${eps:-?}" "${cov:-?}" "$result" >>"$summary"
done
echo
printf '%-14s %10s %10s %6s  %s\n' target runs exec/s cov result
cat "$summary"
if [ -n "$failed" ]; then
    echo
    echo "fuzz-smoke: FAILED:$failed (inputs in $dir/artifacts/)"
    echo "fuzz-smoke: reproduce with $dir/libfuzzer/fuzz_<target> <input>; minimise with make fuzz-min"
    exit 1
fi
echo
echo "fuzz-smoke: all $# targets ok"
