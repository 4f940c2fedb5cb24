#!/bin/sh
# libFuzzer runs of one target (make fuzz / fuzz-merge / fuzz-min).
#
#   sh ci/fuzz-run.sh TARGET SECS              fuzz for SECS seconds
#   sh ci/fuzz-run.sh --merge TARGET           add what build-fuzz/corpus/TARGET (and
#                                              AFL++'s queue) covers beyond
#                                              fuzz/corpus/TARGET to it
#   sh ci/fuzz-run.sh --minimize TARGET CRASH [NAME]
#                                              minimise CRASH into tests/regress/TARGET/NAME
#
# New inputs go to $FUZZ_DIR/corpus/TARGET (the committed fuzz/corpus/TARGET is
# only read), crashes to $FUZZ_DIR/artifacts/TARGET/, the log to
# $FUZZ_DIR/logs/TARGET.log. Environment: FUZZ_DIR (build-fuzz), FUZZ_MAX_LEN
# (per target by default), FUZZ_TIMEOUT (10 s per input), FUZZ_ARGS (more
# libFuzzer flags, e.g. "-jobs=4 -workers=4"). Exit status: libFuzzer's (0 = no finding).
set -u
dir=${FUZZ_DIR:-build-fuzz}
mode=run
case ${1:-} in
--merge) mode=merge; shift ;;
--minimize) mode=minimize; shift ;;
esac
t=${1:?usage: ci/fuzz-run.sh [--merge|--minimize] TARGET [SECS|CRASH [NAME]]}
bin=$dir/libfuzzer/fuzz_$t
seeds=fuzz/corpus/$t
work=$dir/corpus/$t
art=$dir/artifacts/$t
dict=fuzz/dict/tofu.dict
if [ ! -x "$bin" ]; then
    echo "fuzz-run: $bin is missing (make $bin)" >&2
    exit 2
fi
mkdir -p "$seeds" "$work" "$art" "$dir/logs"

# Inputs past these sizes add little and slow the parser targets down.
max_len() {
    if [ -n "${FUZZ_MAX_LEN:-}" ]; then
        echo "$FUZZ_MAX_LEN"
        return
    fi
    case $1 in
    address) echo 300 ;;
    reader) echo 512 ;;
    text | roundtrip) echo 1024 ;;
    *) echo 4096 ;;
    esac
}

# Leaks are failures (LeakSanitizer); a failed check aborts.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:handle_abort=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

case $mode in
merge)
    before=$(ls "$seeds" | wc -l | tr -d ' ')
    # What libFuzzer found, and AFL++'s queue if there is one.
    queue=$dir/afl-out/$t/default/queue
    [ -d "$queue" ] || queue=""
    # shellcheck disable=SC2086
    "$bin" -merge=1 -max_len="$(max_len "$t")" "$seeds" "$work" $queue >"$dir/logs/$t-merge.log" 2>&1
    rc=$?
    after=$(ls "$seeds" | wc -l | tr -d ' ')
    bytes=$(cat "$seeds"/* | wc -c | tr -d ' ')
    echo "fuzz-merge: $t: $before -> $after inputs, $bytes bytes in $seeds (rc $rc)"
    if [ "$bytes" -gt 1000000 ]; then
        echo "fuzz-merge: $seeds is over 1 MB; drop the largest non-seed inputs" >&2
    fi
    exit $rc
    ;;
minimize)
    crash=${2:?usage: ci/fuzz-run.sh --minimize TARGET CRASH [NAME]}
    name=${3:-}
    [ -n "$name" ] || name=$(basename "$crash")
    out=tests/regress/$t/$name
    mkdir -p "tests/regress/$t"
    "$bin" -minimize_crash=1 -runs="${FUZZ_MIN_RUNS:-50000}" -exact_artifact_path="$out" "$crash" \
        >"$dir/logs/$t-minimize.log" 2>&1
    if [ ! -s "$out" ]; then
        echo "fuzz-min: no minimised input (does $crash still crash?); see $dir/logs/$t-minimize.log" >&2
        exit 1
    fi
    echo "fuzz-min: $crash ($(wc -c <"$crash" | tr -d ' ') bytes) -> $out ($(wc -c <"$out" | tr -d ' ') bytes)"
    echo "fuzz-min: its stack:"
    "$bin" "$out" 2>&1 | grep -E 'check failed|ERROR|SUMMARY|^ +#[0-9]+ ' | head -n 25
    exit 0
    ;;
esac

secs=${2:-60}
log=$dir/logs/$t.log
rcfile=$dir/logs/$t.rc
# shellcheck disable=SC2086
("$bin" -max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 \
    -max_len="$(max_len "$t")" -dict="$dict" -artifact_prefix="$art/" -print_final_stats=1 \
    ${FUZZ_ARGS:-} "$work" "$seeds"
    echo $? >"$rcfile") 2>&1 | tee "$log"
rc=$(cat "$rcfile" 2>/dev/null || echo 1)
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/cov \1 ft \2 corpus \3/p')
echo "fuzz: $t: ${runs:-?} runs, ${eps:-?} exec/s, ${cov:-?}; exit $rc"
if [ "$rc" -ne 0 ]; then
    echo "fuzz: $t: finding(s) in $art/:" >&2
    ls -l "$art" >&2
    echo "fuzz: minimise with: make fuzz-min T=$t CRASH=<file> NAME=<name>" >&2
fi
exit "$rc"
