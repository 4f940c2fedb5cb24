#!/bin/sh
# The main job (`make run`): until the simulator lands, decode the golden
# vectors of PROTOCOL.md section 8 with `tofulab frame decode` and compare each
# result with its expected JSON line.
#
#   usage: sh ci/run-main.sh path/to/tofulab
#
# Data (kept in the project, never read from the shared spec folder):
#   docs/golden-vectors.txt      "VNN <frame hex>  # <title>", one vector a line
#   tests/vectors/golden.jsonl   line N = the expected decode of vector VNN
# Exit status: 0 when every vector matches, 1 on any mismatch, 2 on bad usage.
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
summary=$tmpdir/summary
errout=$tmpdir/stderr
: >"$summary"

passed=0
failed=0
count=0
while IFS= read -r line || [ -n "$line" ]; do
    case $line in
    V[0-9]*) ;;
    *) continue ;; # comments and blank lines
    esac
    id=${line%% *}
    rest=${line#* }
    hex=${rest%%  # *}
    title=${rest#*  # }
    [ "$title" = "$rest" ] && title=""
    count=$((count + 1))

    # Vector VNN is checked against line NN of golden.jsonl.
    num=$(expr "${id#V}" + 0 2>/dev/null) || num=0
    want=""
    if [ "$num" -gt 0 ]; then
        want=$(sed -n "${num}p" "$expected")
    fi

    printf '%s  %s\n' "$id" "$title"
    got=$("$bin" frame decode --hex "$hex" 2>"$errout")
    rc=$?
    [ -n "$got" ] && printf '%s\n' "$got"

    if [ $rc -eq 0 ] && [ -n "$want" ] && [ "$got" = "$want" ]; then
        result=pass
        passed=$((passed + 1))
    else
        result=FAIL
        failed=$((failed + 1))
        if [ $rc -ne 0 ]; then
            printf '  decode exited with %s: %s\n' "$rc" "$(head -n 1 "$errout")"
        fi
        if [ -z "$want" ]; then
            printf '  no expected line %s in %s\n' "$num" "$expected"
        else
            printf '  expected: %s\n' "$want"
        fi
    fi
    op=$(printf '%s\n' "$got" | sed -n 's/.*"opcode":"\([^"]*\)".*/\1/p')
    [ -n "$op" ] || op="-"
    printf '%-4s %-16s %6s  %s\n' "$id" "$op" $((${#hex} / 2)) "$result" >>"$summary"
done <"$vectors"

lines=$(wc -l <"$expected" | tr -d ' ')
if [ "$lines" -ne "$count" ]; then
    echo "run-main: $vectors has $count vectors but $expected has $lines lines" >&2
    failed=$((failed + 1))
fi

echo
printf '%-4s %-16s %6s  %s\n' "id" "opcode" "bytes" "result"
cat "$summary"
echo
echo "$passed passed, $failed failed"

if [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
    exit 1
fi
exit 0
