#!/bin/sh
# ClusterFuzzLite / OSS-Fuzz build: every fuzz/fuzz_<target>.c into
# $OUT/fuzz_<target>, with its seed corpus (fuzz/corpus/<target>) as
# $OUT/fuzz_<target>_seed_corpus.zip and the dictionary as $OUT/fuzz_<target>.dict.
# The environment gives CC, CXX, CFLAGS (sanitizers, coverage) and
# LIB_FUZZING_ENGINE (libFuzzer, AFL++ or honggfuzz). Try it locally:
#   CC=clang CXX=clang++ CFLAGS='-O1 -g -fsanitize=address,fuzzer-no-link' \
#   LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/cflite sh .clusterfuzzlite/build.sh
set -eu
cd "${SRC:-.}/tofulab" 2>/dev/null || cd "$(dirname "$0")/.."
: "${CC:=clang}" "${CXX:=clang++}" "${CFLAGS:=}" "${LIB_FUZZING_ENGINE:=-fsanitize=fuzzer}" "${OUT:?set OUT}"
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags="-std=c11 -Iengine/include -D_POSIX_C_SOURCE=200809L"

compile() { # source -> object path on stdout
    o="$work/$(echo "$1" | tr '/' '_').o"
    [ -f "$o" ] || $CC $CFLAGS $flags -c "$1" -o "$o"
    echo "$o"
}

core=""
for f in engine/core/*.c; do core="$core $(compile "$f")"; done
simobjs=""
for f in sim/*.c patterns/*.c; do
    case "$f" in patterns/runner_posix.c) continue ;; esac
    simobjs="$simobjs $(compile "$f")"
done

for src in fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    name=${t#fuzz_}
    objs="$(compile "$src") $core"
    [ "$name" = sim ] && objs="$objs $simobjs"
    [ "$name" = faults ] && objs="$objs $simobjs $(compile hosts/proxy_fault.c)"
    # shellcheck disable=SC2086
    $CXX $CFLAGS $objs $LIB_FUZZING_ENGINE -o "$OUT/$t"
    if [ -d "fuzz/corpus/$name" ] && command -v zip >/dev/null; then
        (cd "fuzz/corpus/$name" && zip -q -r "$OUT/${t}_seed_corpus.zip" .)
    fi
    cp fuzz/dict/tofu.dict "$OUT/$t.dict"
done
echo "cflite build: $(ls "$OUT" | grep -c '^fuzz_[a-z_]*$') targets in $OUT"
