#!/bin/sh
# make fuzz-cov: line coverage of engine/core reached by the committed corpora
# (fuzz/corpus/<target>/ and tests/regress/<target>/), measured with clang's
# source-based coverage on the replay driver. Prints one line per target and
# the llvm-cov report of engine/core for all targets together. FUZZ_COV_HTML=1
# also writes $FUZZ_DIR/cov/html/. FUZZ_COV_EXTRA=dir adds more inputs (for
# example build-fuzz/corpus, what local fuzzing found).
#
#   usage: sh ci/fuzz-cov.sh TARGET...
set -u
dir=${FUZZ_DIR:-build-fuzz}
pick() {
    for c in "$@"; do
        if command -v "$c" >/dev/null 2>&1; then
            echo "$c"
            return
        fi
    done
    echo "fuzz-cov: none of $* found (apt install llvm)" >&2
    exit 2
}
profdata=$(pick llvm-profdata llvm-profdata-14)
llvmcov=$(pick llvm-cov llvm-cov-14)
prof=$dir/cov/prof
rm -rf "$prof"
mkdir -p "$prof"
sources=$(ls engine/core/*.c)
objects=""
for t in "$@"; do
    bin=$dir/cov/fuzz_$t
    paths=""
    for p in "fuzz/corpus/$t" "tests/regress/$t" ${FUZZ_COV_EXTRA:+"$FUZZ_COV_EXTRA/$t"}; do
        [ -d "$p" ] && paths="$paths $p"
    done
    # shellcheck disable=SC2086
    LLVM_PROFILE_FILE="$prof/$t-%p.profraw" "$bin" $paths >/dev/null 2>&1 || {
        echo "fuzz-cov: $t: replay failed" >&2
        exit 1
    }
    "$profdata" merge -sparse "$prof/$t"-*.profraw -o "$prof/$t.profdata"
    # shellcheck disable=SC2086
    line=$("$llvmcov" report "$bin" -instr-profile="$prof/$t.profdata" $sources | tail -n 1)
    # TOTAL regions missed cover% functions missed exec% lines missed cover% ...
    printf 'fuzz-cov: %-14s engine/core lines %s (%s of %s), regions %s\n' "$t" \
        "$(echo "$line" | awk '{print $10}')" \
        "$(echo "$line" | awk '{print $8 - $9}')" "$(echo "$line" | awk '{print $8}')" \
        "$(echo "$line" | awk '{print $4}')"
    if [ -z "$objects" ]; then
        objects=$bin
    else
        objects="$objects -object $bin"
    fi
done
"$profdata" merge -sparse "$prof"/*.profraw -o "$prof/all.profdata"
echo
echo "fuzz-cov: engine/core, all targets together:"
# shellcheck disable=SC2086
"$llvmcov" report $objects -instr-profile="$prof/all.profdata" $sources
if [ "${FUZZ_COV_HTML:-0}" = 1 ]; then
    # shellcheck disable=SC2086
    "$llvmcov" show $objects -instr-profile="$prof/all.profdata" -format=html \
        -output-dir="$dir/cov/html" $sources
    echo "fuzz-cov: $dir/cov/html/index.html"
fi
