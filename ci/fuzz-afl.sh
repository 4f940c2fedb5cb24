#!/bin/sh
# make fuzz-afl: one AFL++ run (persistent mode, fuzz/driver.c) of a target.
#
#   usage: sh ci/fuzz-afl.sh TARGET SECS
#
# Seeds fuzz/corpus/TARGET, dictionary fuzz/dict/tofu.dict, output
# $FUZZ_DIR/afl-out/TARGET (started afresh unless FUZZ_AFL_RESUME=1). Prints
# the average exec/s; exits 1 if AFL++ saved a crash or a hang.
# Environment on a shared or unconfigured machine: AFL_SKIP_CPUFREQ=1,
# AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1, AFL_NO_UI=1, AFL_TRY_AFFINITY=1
# are set here unless already set; FUZZ_AFL_ARGS adds afl-fuzz flags.
set -u
dir=${FUZZ_DIR:-build-fuzz}
t=${1:?usage: ci/fuzz-afl.sh TARGET SECS}
secs=${2:-60}
bin=$dir/afl/fuzz_$t
out=$dir/afl-out/$t
if [ ! -x "$bin" ]; then
    echo "fuzz-afl: $bin is missing (make $bin)" >&2
    exit 2
fi
command -v afl-fuzz >/dev/null 2>&1 || { echo "fuzz-afl: afl-fuzz not found (apt install afl++)" >&2; exit 2; }
case $t in
address) maxlen=300 ;;
reader) maxlen=512 ;;
text | roundtrip) maxlen=1024 ;;
*) maxlen=4096 ;;
esac
maxlen=${FUZZ_MAX_LEN:-$maxlen}

export AFL_SKIP_CPUFREQ=${AFL_SKIP_CPUFREQ:-1}
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=${AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES:-1}
export AFL_NO_UI=${AFL_NO_UI:-1}
export AFL_TRY_AFFINITY=${AFL_TRY_AFFINITY:-1}
if [ "${FUZZ_AFL_RESUME:-0}" = 1 ] && [ -d "$out/default" ]; then
    input=-
else
    rm -rf "$out"
    input=fuzz/corpus/$t
fi
mkdir -p "$out" "$dir/logs"
log=$dir/logs/$t-afl.log
# shellcheck disable=SC2086
afl-fuzz -i "$input" -o "$out" -x fuzz/dict/tofu.dict -G "$maxlen" -V "$secs" ${FUZZ_AFL_ARGS:-} \
    -- "$bin" >"$log" 2>&1
rc=$?
stats=$out/default/fuzzer_stats
if [ ! -f "$stats" ]; then
    echo "fuzz-afl: $t: afl-fuzz did not start (exit $rc); see $log:" >&2
    tail -n 20 "$log" >&2
    exit 2
fi
field() { sed -n "s/^$1 *: *//p" "$stats"; }
execs=$(field execs_done)
start=$(field start_time)
last=$(field last_update)
elapsed=$((last - start))
[ "$elapsed" -gt 0 ] || elapsed=1
crashes=$(ls "$out/default/crashes" 2>/dev/null | grep -c '^id' || true)
hangs=$(ls "$out/default/hangs" 2>/dev/null | grep -c '^id' || true)
echo "fuzz-afl: $t: $execs execs in ${elapsed}s = $((execs / elapsed)) exec/s (persistent mode)," \
    "corpus $(field corpus_count), edges $(field edges_found)/$(field total_edges)," \
    "stability $(field stability), crashes $crashes, hangs $hangs"
if [ "$crashes" -gt 0 ] || [ "$hangs" -gt 0 ]; then
    echo "fuzz-afl: inputs in $out/default/crashes and hangs; reproduce with $bin <file>;" >&2
    echo "fuzz-afl: minimise with afl-tmin -i <file> -o tests/regress/$t/<name> -- $bin" >&2
    exit 1
fi
exit 0
