#!/bin/sh
# The main job (`make run`):
#   1. golden vectors (quick): decode PROTOCOL.md section 8's vectors with
#      `tofulab frame decode` and compare with tests/vectors/golden.jsonl;
#   2. the scenario suite: every scenarios/**/*.scn with each file's own
#      seed range, in parallel (`tofulab sim sweep --jobs $JOBS`), printing a
#      table (scenario, runs, passed, failed, first failing seed, wall time)
#      and, for a failure, the command that replays it;
#   3. the files that declare swarm ranges (`loss 1%..10%`) again with
#      --swarm: each seed draws its own link values.
# The last line counts all three: "N passed, N failed".
#
#   usage: sh ci/run-main.sh path/to/tofulab
#   environment: JOBS (worker processes, default 2), SEEDS (A..B: run these
#   seeds of every file instead of each file's range)
# Exit status: 0 everything passed, 1 anything failed, 2 bad usage or a bad
# scenario file.
set -u

if [ $# -ne 1 ]; then
    echo "usage: sh ci/run-main.sh path/to/tofulab" >&2
    exit 2
fi
bin=$1
root=$(cd "$(dirname "$0")/.." && pwd)
vectors=$root/docs/golden-vectors.txt
expected=$root/tests/vectors/golden.jsonl

if [ ! -x "$bin" ]; then
    echo "run-main: '$bin' is not an executable (build it with make)" >&2
    exit 2
fi
for f in "$vectors" "$expected"; do
    if [ ! -r "$f" ]; then
        echo "run-main: cannot read $f" >&2
        exit 2
    fi
done

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/tofulab-run.XXXXXX") || exit 2
trap 'rm -rf "$tmpdir"' EXIT
trap 'exit 130' HUP INT PIPE TERM
errout=$tmpdir/stderr

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

# ---- 2. the scenario suite
echo "== scenarios (tofulab sim sweep, ${JOBS:-2} jobs)"
cd "$root" || exit 2
# scenarios/real/ holds real-process files: `tofulab run` runs them, not the simulator
files=$(find scenarios -name '*.scn' ! -path 'scenarios/real/*' | LC_ALL=C sort)
if [ -z "$files" ]; then
    echo "run-main: no scenario files under scenarios/" >&2
    exit 2
fi
set -- --jobs "${JOBS:-2}"
if [ -n "${SEEDS:-}" ]; then
    set -- "$@" --seeds "$SEEDS"
fi
# sweep FLAGS... FILES: run a sweep, add its counts to spassed/sfailed
spassed=0
sfailed=0
sweep() {
    # shellcheck disable=SC2068 # the file names have no blanks
    "$bin" sim sweep $@ | tee "$tmpdir/sweep"
    last=$(tail -n 1 "$tmpdir/sweep")
    p=$(printf '%s\n' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(printf '%s\n' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$p" ]; then
        echo "run-main: the scenario sweep did not finish (a bad scenario file?)" >&2
        exit 2
    fi
    spassed=$((spassed + p))
    sfailed=$((sfailed + f))
}
sweep "$@" $files

swarm_files=$(grep -lE '^[[:space:]]*(link|at)[[:space:]].*[0-9](ns|us|ms|s|m|h|%)\.\.[0-9]' $files)
if [ -n "$swarm_files" ]; then
    echo
    echo "== swarm (the files with ranges, --swarm)"
    sweep "$@" --swarm $swarm_files
fi

echo
passed=$((gpassed + spassed))
failed=$((gfailed + sfailed))
echo "$passed passed, $failed failed"
if [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
    exit 1
fi
exit 0
