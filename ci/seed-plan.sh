#!/bin/sh
# The seed plan of `make run` and `make test`: one line per scenario file,
# `FILE A..B`, for `tofulab sim sweep --plan`. File F runs BASE..BASE+N-1,
# N its RUN or TEST column in ci/seeds.txt (the `*` row for a file not listed).
#
#   usage: sh ci/seed-plan.sh run|test BASE
#     BASE  the first seed of every file, 1 to 999999999999999999
# Lists every scenarios/**/*.scn (sorted); run from anywhere.
# Exit status: 0, or 2 for bad usage or a bad line in ci/seeds.txt.
set -u

if [ $# -ne 2 ] || { [ "$1" != run ] && [ "$1" != test ]; }; then
    echo "usage: sh ci/seed-plan.sh run|test BASE" >&2
    exit 2
fi
case $2 in
'' | *[!0-9]* | 0 | 0*)
    echo "seed-plan: BASE must be a whole number from 1 to 999999999999999999, got '$2'" >&2
    exit 2
    ;;
esac
if [ ${#2} -gt 18 ]; then
    echo "seed-plan: BASE must be a whole number from 1 to 999999999999999999, got '$2'" >&2
    exit 2
fi
base=$2
col=2
[ "$1" = test ] && col=3
root=$(cd "$(dirname "$0")/.." && pwd)
table=$root/ci/seeds.txt
cd "$root" || exit 2
if [ ! -r "$table" ]; then
    echo "seed-plan: cannot read $table" >&2
    exit 2
fi
files=$(find scenarios -name '*.scn' | LC_ALL=C sort)
if [ -z "$files" ]; then
    echo "seed-plan: no scenario files under scenarios/" >&2
    exit 2
fi
# FILE COUNT for every scenario file (awk for the table, sh for the seeds:
# awk's numbers are doubles, exact only below 2^53)
counts=$(printf '%s\n' "$files" | awk -v col="$col" -v table="$table" '
    FNR == NR {
        sub(/#.*/, "")
        if (NF == 0) next
        if (NF != 3 || $2 !~ /^[1-9][0-9]*$/ || $3 !~ /^[1-9][0-9]*$/ || length($2) > 6 || length($3) > 6) {
            printf "%s:%d: expected FILE RUN TEST (RUN and TEST: 1 to 999999 seeds)\n", table, FNR > "/dev/stderr"
            bad = 1
            exit 2
        }
        n[$1] = $col
        next
    }
    {
        if (!("*" in n)) {
            printf "%s: no `*` line (the seeds of the files not listed)\n", table > "/dev/stderr"
            bad = 1
            exit 2
        }
        print $0, (($0 in n) ? n[$0] : n["*"])
    }
    END { if (bad) exit 2 }' "$table" -) || exit 2
printf '%s\n' "$counts" | while read -r f n; do
    echo "$f $base..$((base + n - 1))"
done
