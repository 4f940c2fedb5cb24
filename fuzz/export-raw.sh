#!/bin/sh
# Strip the harness prefixes off the committed corpora, leaving what a peer
# puts on the wire, for fuzzing another tofu implementation's parser:
#
#   out/frames/<target>-<name>    byte streams of tofu frames (from the reader,
#                                 engine_server and engine_client corpora)
#   out/text/<name>               text headers blocks (text corpus, as is)
#   out/address/<name>            address values and header blocks (address
#                                 corpus without its first byte)
#
#   usage: sh fuzz/export-raw.sh [OUTDIR]      (default build-fuzz/raw)
#
# Prefixes (see fuzz/fuzz_reader.c and fuzz/engine_peer.h): reader inputs
# start with [cfg] [k] and k&15 split bytes; engine inputs with [cfg0] [cfg1]
# [n] and 2*(n&15) step bytes.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-build-fuzz/raw}
mkdir -p "$out/frames" "$out/text" "$out/address"

byte() { od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' '; }

count=0
for t in reader engine_server engine_client; do
    for f in fuzz/corpus/$t/*; do
        [ -f "$f" ] || continue
        size=$(wc -c <"$f" | tr -d ' ')
        if [ "$t" = reader ]; then
            [ "$size" -ge 2 ] || continue
            skip=$((2 + $(byte "$f" 1) % 16))
        else
            [ "$size" -ge 3 ] || continue
            skip=$((3 + 2 * ($(byte "$f" 2) % 16)))
        fi
        [ "$size" -gt "$skip" ] || continue
        tail -c +$((skip + 1)) "$f" >"$out/frames/$t-${f##*/}"
        count=$((count + 1))
    done
done
cp fuzz/corpus/text/* "$out/text/"
for f in fuzz/corpus/address/*; do
    tail -c +2 "$f" >"$out/address/${f##*/}"
done
echo "export-raw: $count frame streams in $out/frames, text blocks in $out/text, addresses in $out/address"
