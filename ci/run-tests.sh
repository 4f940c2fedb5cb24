#!/bin/sh
# Run every test binary in a directory; print each one's cmocka output and a
# final "N passed, N failed" line over all binaries. Exit 1 if any failed.
# Usage: ci/run-tests.sh DIR [WRAPPER...]   e.g. ci/run-tests.sh build/tests valgrind -q
# Tests run from the repository root, so they find tests/vectors/ and such.
set -u
dir=$1
shift
passed=0
failed=0
failed_names=""
for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    echo "=== $name"
    out=$(mktemp)
    "$@" "$t" >"$out" 2>&1
    rc=$?
    cat "$out"
    # cmocka: "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s), listed below:"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
    rm -f "$out"
    passed=$((passed + ${p:-0}))
    if [ "$rc" -ne 0 ]; then
        failed=$((failed + ${f:-1}))
        failed_names="$failed_names $name(exit $rc)"
    fi
done
echo
[ -n "$failed_names" ] && echo "failing binaries:$failed_names"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
