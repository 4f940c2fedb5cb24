#!/bin/sh
# Scenario determinism check (ARCHITECTURE.md 4): every scenario file under
# scenarios/ is run twice with the same seed; both runs must exit the same
# way, pass, and print the same trace hash. Any difference fails loudly.
#
#   usage: sh ci/scenarios.sh [--quick] path/to/tofulab
#     --quick   only the first seed of each file (for `make test`)
#               default: every seed of each file's `seeds` line
# Exit status: 0 all passed and deterministic, 1 anything failed, 2 bad usage.
set -u

quick=0
if [ "${1:-}" = "--quick" ]; then
    quick=1
    shift
fi
if [ $# -ne 1 ]; then
    echo "usage: sh ci/scenarios.sh [--quick] path/to/tofulab" >&2
    exit 2
fi
bin=$1
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$bin" ]; then
    echo "scenarios: '$bin' is not an executable (build it with make)" >&2
    exit 2
fi
cd "$root" || exit 2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tofulab-scn.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' HUP INT PIPE TERM

passed=0
failed=0
# scenarios/real/ holds real-process files: `tofulab run` runs them, not the simulator
files=$(find scenarios -name '*.scn' ! -path 'scenarios/real/*' | LC_ALL=C sort)
if [ -z "$files" ]; then
    echo "scenarios: no scenario files under scenarios/" >&2
    exit 1
fi
for f in $files; do
    first=$(sed -n 's/^[ \t]*seeds[ \t][ \t]*\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1)
    [ -n "$first" ] || first=1
    if [ "$quick" -eq 1 ]; then
        set -- --seed "$first"
        what="seed $first"
    else
        set --
        what="all seeds"
    fi
    "$bin" sim run "$f" "$@" >"$tmp/a" 2>&1
    rc1=$?
    "$bin" sim run "$f" "$@" >"$tmp/b" 2>&1
    rc2=$?
    h1=$(sed -n 's/^trace-hash: //p' "$tmp/a")
    h2=$(sed -n 's/^trace-hash: //p' "$tmp/b")
    if [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] && [ -n "$h1" ] && [ "$h1" = "$h2" ]; then
        printf 'ok    %-56s %-10s %s\n' "$f" "$what" "$h1"
        passed=$((passed + 1))
        continue
    fi
    failed=$((failed + 1))
    if [ -n "$h1" ] && [ "$h1" != "$h2" ]; then
        printf 'NONDETERMINISTIC %s (%s): trace hash %s then %s\n' "$f" "$what" "$h1" "${h2:-none}"
        echo "  the same file and seed must give the same trace, byte for byte; compare:"
        echo "  $bin sim run $f $* --trace a.txt; $bin sim run $f $* --trace b.txt; diff a.txt b.txt"
    else
        printf 'FAIL  %s (%s): exit %s / %s\n' "$f" "$what" "$rc1" "$rc2"
        grep -E '^(tofulab:|first failure:|  FAIL)' "$tmp/a" | head -n 5 | sed 's/^/  /'
        echo "  replay: $bin sim run $f $* --trace -"
    fi
done
echo "scenarios: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
