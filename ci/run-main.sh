#!/bin/sh
# The main job (`make run`):
#   1. golden vectors (quick): decode PROTOCOL.md section 8's vectors with
#      `tofulab frame decode` and compare with tests/vectors/golden.jsonl;
#   2. the swarm: every scenarios/**/*.scn over many seeds, as many as
#      ci/seeds.txt gives it by its cost (2,000 for most files, fewer for the
#      expensive ones: about a minute on 2 cores), from a random base seed
#      printed first, so each `make run` explores new seeds; one
#      `tofulab sim sweep --plan` with a progress bar, then for each failing
#      file its first failing seed, the check that failed, the replay and
#      the shrink commands, and the totals;
#   3. the files that declare swarm ranges (`loss 1%..10%`) again with
#      --swarm: each seed draws its own link values.
# The last line counts all three: "N passed, N failed".
#
#   usage: sh ci/run-main.sh path/to/tofulab
#          sh ci/run-main.sh --costs path/to/tofulab   (measure each file's cost)
#   environment:
#     JOBS=N        worker processes (default 2)
#     SEED_BASE=N   every file's seeds start at N (1 to 999999999999999999)
#                   instead of a random base: the same runs again
#     SEEDS=A..B    run exactly these seeds of every file (ci/seeds.txt unused)
#     FAILURES=DIR  write each failing seed with its replay command and its
#                   shrunk scenario under DIR (sim sweep --failures)
#     VERBOSE=1     also print the table of every file (runs, failures, wall)
# Exit status: 0 everything passed, 1 anything failed, 2 bad usage or a bad
# scenario file.
set -u

costs=0
if [ "${1:-}" = "--costs" ]; then
    costs=1
    shift
fi
if [ $# -ne 1 ]; then
    echo "usage: sh ci/run-main.sh [--costs] path/to/tofulab" >&2
    exit 2
fi
bin=$1
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
vectors=$root/docs/golden-vectors.txt
expected=$root/tests/vectors/golden.jsonl
jobs=${JOBS:-2}

if [ ! -x "$bin" ]; then
    echo "run-main: '$bin' is not an executable (build it with make)" >&2
    exit 2
fi
case $jobs in
'' | *[!0-9]* | 0)
    echo "run-main: JOBS must be a number of worker processes, got '$jobs'" >&2
    exit 2
    ;;
esac

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/tofulab-run.XXXXXX") || exit 2
trap 'rm -rf "$tmpdir"' EXIT
trap 'exit 130' HUP INT PIPE TERM
errout=$tmpdir/stderr
cd "$root" || exit 2

# --costs: one core's milliseconds per seed of each file (100 seeds each, one
# job, so the figures add up), with the RUN count ci/seeds.txt gives it and
# the one the rule there suggests. Timings on a shared machine are noisy.
if [ "$costs" -eq 1 ]; then
    sh ci/seed-plan.sh run 1 >"$tmpdir/plan" || exit 2
    sed 's/ [0-9]*\.\.[0-9]*$/ 1..100/' "$tmpdir/plan" >"$tmpdir/plan100"
    "$bin" sim sweep --plan "$tmpdir/plan100" --jobs 1 >"$tmpdir/table" 2>/dev/null
    [ -s "$tmpdir/table" ] || exit 2
    echo "file                                              ms/seed   seeds.txt  suggested"
    awk 'FNR == NR { split($2, r, /\.\./); n[$1] = r[2] - r[1] + 1; next }
         $1 in n && $2 ~ /^[0-9]+$/ {
             w = $NF; sub(/s$/, "", w); ms = w * 1000 / $2
             s = ms < 1 ? 2000 : (ms < 10 ? 1000 : 200)
             printf "%-50s %7.2f   %9d  %9d%s\n", $1, ms, n[$1], s, (s != n[$1] ? "  <-" : "")
         }' "$tmpdir/plan" "$tmpdir/table" | sort -k2 -n -r
    exit 0
fi

for f in "$vectors" "$expected"; do
    if [ ! -r "$f" ]; then
        echo "run-main: cannot read $f" >&2
        exit 2
    fi
done

# ---- 1. golden vectors
echo "== golden vectors (PROTOCOL.md section 8)"
gpassed=0
gfailed=0
count=0
while IFS= read -r line || [ -n "$line" ]; do
    case $line in
    V[0-9]*) ;;
    *) continue ;; # comments and blank lines
    esac
    id=${line%% *}
    rest=${line#* }
    hex=${rest%%  # *}
    count=$((count + 1))
    # Vector VNN is checked against line NN of golden.jsonl.
    num=$(expr "${id#V}" + 0 2>/dev/null) || num=0
    want=""
    if [ "$num" -gt 0 ]; then
        want=$(sed -n "${num}p" "$expected")
    fi
    got=$("$bin" frame decode --hex "$hex" 2>"$errout")
    rc=$?
    if [ $rc -eq 0 ] && [ -n "$want" ] && [ "$got" = "$want" ]; then
        gpassed=$((gpassed + 1))
    else
        gfailed=$((gfailed + 1))
        printf 'FAIL %s: decode exited %s %s\n' "$id" "$rc" "$(head -n 1 "$errout")"
        printf '  got:      %s\n  expected: %s\n' "$got" "${want:-<no line $num in $expected>}"
    fi
done <"$vectors"
lines=$(wc -l <"$expected" | tr -d ' ')
if [ "$lines" -ne "$count" ]; then
    echo "run-main: $vectors has $count vectors but $expected has $lines lines" >&2
    gfailed=$((gfailed + 1))
fi
echo "golden vectors: $gpassed passed, $gfailed failed"
echo

# ---- 2. the scenario suite, every file over many seeds
if [ -n "${SEEDS:-}" ]; then
    # exactly these seeds of every file (sim sweep checks them)
    find scenarios -name '*.scn' | LC_ALL=C sort | while read -r f; do
        echo "$f"
    done >"$tmpdir/files"
    echo "== scenarios: seeds $SEEDS of every file ($jobs jobs)"
else
    if [ -n "${SEED_BASE:-}" ]; then
        base=$SEED_BASE
    else
        # a random base in 1..2^59: 18 digits at most, so base + count fits
        set -- $(od -An -N8 -tu4 /dev/urandom 2>/dev/null)
        if [ $# -eq 2 ]; then
            base=$((($1 % 134217728) * 4294967296 + $2 + 1))
        else
            base=$(($$ * 100000 + $(date +%s) % 100000 + 1))
        fi
    fi
    sh ci/seed-plan.sh run "$base" >"$tmpdir/plan" || exit 2
    cut -d ' ' -f 1 "$tmpdir/plan" >"$tmpdir/files"
    echo "== scenarios: every file over many seeds (ci/seeds.txt, $jobs jobs)"
    if [ -n "${SEED_BASE:-}" ]; then
        echo "seeds from $base (SEED_BASE)"
    else
        echo "seeds from $base (random; the same runs again: SEED_BASE=$base make run)"
    fi
fi
set -- --jobs "$jobs"
[ "${VERBOSE:-0}" = 1 ] || set -- "$@" --quiet
# sweep NAME FLAGS...: run a sweep, add its counts to spassed/sfailed
spassed=0
sfailed=0
sweep() {
    name=$1
    shift
    if [ -n "${FAILURES:-}" ]; then
        set -- "$@" --failures "$FAILURES/$name"
    fi
    "$bin" sim sweep "$@" | tee "$tmpdir/sweep"
    last=$(tail -n 1 "$tmpdir/sweep")
    p=$(printf '%s\n' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(printf '%s\n' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$p" ]; then
        echo "run-main: the scenario sweep did not finish (a bad scenario file or --seeds?)" >&2
        exit 2
    fi
    spassed=$((spassed + p))
    sfailed=$((sfailed + f))
}
# seeds FILE...: the sweep's arguments for these files
seeds() {
    if [ -n "${SEEDS:-}" ]; then
        printf '%s\n' "$@" --seeds "$SEEDS"
    else
        for f in "$@"; do
            grep "^$f " "$tmpdir/plan"
        done >"$tmpdir/plan-part"
        printf '%s\n' --plan "$tmpdir/plan-part"
    fi
}
# shellcheck disable=SC2046 # file names have no blanks
sweep plain $(seeds $(cat "$tmpdir/files")) "$@"

# ---- 3. the files with swarm ranges, again with --swarm
# shellcheck disable=SC2046
swarm_files=$(grep -lE '^[[:space:]]*(link|at)[[:space:]].*[0-9](ns|us|ms|s|m|h|%)\.\.[0-9]' $(cat "$tmpdir/files"))
if [ -n "$swarm_files" ]; then
    echo
    echo "== swarm: the files with ranges again, each seed drawing its own values (--swarm)"
    # shellcheck disable=SC2046,SC2086
    sweep swarm $(seeds $swarm_files) --swarm "$@"
fi

echo
passed=$((gpassed + spassed))
failed=$((gfailed + sfailed))
echo "golden vectors, scenario runs and swarm runs together:"
echo "$passed passed, $failed failed"
if [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
    exit 1
fi
exit 0
