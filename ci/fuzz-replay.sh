#!/bin/sh
# make fuzz-replay (part of make test): every input of fuzz/corpus/<target>/
# and tests/regress/<target>/ through the plain-build driver of its target
# ($FUZZ_DIR/replay/fuzz_<target>, built with the project's compiler). Open
# findings (tests/regress/KNOWN-OPEN) are tolerated by the plain build, so
# their inputs must run too. Any failed check or crash fails the replay.
# One line per target ("ok ..." or "FAIL ..." with the end of its output),
# then "fuzz-replay: N passed, N failed": N passed counts the inputs of the
# targets that replayed every input; a target that failed counts one failure
# (the driver stops at the input that failed).
#
#   usage: sh ci/fuzz-replay.sh [WRAPPER...]   e.g. valgrind -q --error-exitcode=99
set -u
dir=${FUZZ_DIR:-build-fuzz}
failed=""
nfailed=0
total=0
for bin in "$dir"/replay/fuzz_*; do
    [ -x "$bin" ] || continue
    t=${bin##*/fuzz_}
    paths=""
    for p in "fuzz/corpus/$t" "tests/regress/$t"; do
        [ -d "$p" ] && paths="$paths $p"
    done
    [ -n "$paths" ] || continue
    # shellcheck disable=SC2086
    out=$("$@" "$bin" $paths 2>&1)
    rc=$?
    n=$(printf '%s\n' "$out" | sed -n 's/.*: \([0-9]*\) inputs ran$/\1/p' | tail -n 1)
    if [ "$rc" -eq 0 ] && [ -n "$n" ]; then
        printf 'ok    %-14s %5s inputs\n' "$t" "$n"
        total=$((total + n))
    else
        printf 'FAIL  %-14s exit %s\n' "$t" "$rc"
        printf '%s\n' "$out" | tail -n 20
        echo "fuzz-replay: find the input with: $bin -v$paths"
        failed="$failed $t"
        nfailed=$((nfailed + 1))
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz-replay: FAILED:$failed"
fi
if [ "$total" -eq 0 ] && [ "$nfailed" -eq 0 ]; then
    echo "fuzz-replay: no inputs replayed (is $dir/replay built?)"
    nfailed=1
fi
echo "fuzz-replay: $total passed, $nfailed failed"
[ "$nfailed" -eq 0 ]
