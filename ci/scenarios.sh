#!/bin/sh
# The scenario suite in `make test`, two checks:
#   1. determinism (ARCHITECTURE.md 4): every scenario file under scenarios/
#      is run twice with the same seed; both runs must exit the same way,
#      pass, and print the same trace hash. Any difference fails loudly.
#   2. every seed green: every file over a fixed set of seeds, seeds 1..N
#      with N its TEST column in ci/seeds.txt (a few hundred; one
#      `tofulab sim sweep --plan`, about 20 s on 2 cores). A failing seed is
#      printed with its first failed check and its replay and shrink commands.
#      Every shipped file must pass every seed: there is no allow-list.
#
#   usage: sh ci/scenarios.sh [--quick] [--only determinism|sweep] path/to/tofulab
#     --quick   determinism with the first seed of each file (for `make test`)
#               default: every seed of each file's `seeds` line
#     --only    run one of the two checks (make test runs each as a step)
#   environment: JOBS (worker processes for the sweep, default 2)
# The last line is "scenarios: N passed, N failed" (files for the determinism
# check plus runs of the sweep).
# Exit status: 0 all passed and deterministic, 1 anything failed, 2 bad usage.
set -u

usage() {
    echo "usage: sh ci/scenarios.sh [--quick] [--only determinism|sweep] path/to/tofulab" >&2
    exit 2
}
quick=0
only=""
while [ $# -gt 1 ]; do
    case $1 in
    --quick) quick=1 ;;
    --only)
        [ $# -gt 2 ] || usage
        case $2 in determinism | sweep) only=$2 ;; *) usage ;; esac
        shift
        ;;
    *) usage ;;
    esac
    shift
done
[ $# -eq 1 ] || usage
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
files=$(find scenarios -name '*.scn' | LC_ALL=C sort)
if [ -z "$files" ]; then
    echo "scenarios: no scenario files under scenarios/" >&2
    exit 1
fi
# ---- 1. determinism
[ "$only" = sweep ] && files=""
[ "$only" = sweep ] || echo "== determinism: every scenario file twice with the same seed"
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
if [ "$only" = determinism ]; then
    echo "scenarios: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
fi
[ "$only" = sweep ] || echo "determinism: $passed passed, $failed failed"

# ---- 2. every file over a fixed set of seeds
echo "== every scenario file over seeds 1..N (N from ci/seeds.txt's TEST column)"
sh ci/seed-plan.sh test 1 >"$tmp/plan" || exit 2
"$bin" sim sweep --plan "$tmp/plan" --jobs "${JOBS:-2}" --quiet >"$tmp/sweep"
last=$(tail -n 1 "$tmp/sweep")
case $last in
*" passed, "*" failed") ;;
*)
    cat "$tmp/sweep"
    echo "scenarios: the sweep did not finish (a bad scenario file?)"
    echo "scenarios: $passed passed, $((failed + 1)) failed"
    exit 1
    ;;
esac
# The sweep's failures, as it printed them (seed, check, replay, shrink),
# then its counts.
grep -v -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/sweep" >"$tmp/report"
sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/sweep: \1 passed, \2 failed/p' "$tmp/sweep" >>"$tmp/report"
cat "$tmp/report"
sp=$(sed -n 's/^sweep: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$tmp/report")
sf=$(sed -n 's/^sweep: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$tmp/report")
passed=$((passed + ${sp:-0}))
failed=$((failed + ${sf:-1}))
echo "scenarios: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
