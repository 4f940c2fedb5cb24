#!/bin/sh
# make fuzz-peer-smoke: `tofulab fuzz-peer` against `tofulab serve` (spawned,
# over a Unix socket) for SECS seconds, from the committed corpora and the
# dictionary. Must find nothing: exits with fuzz-peer's status (0 nothing
# found, 1 findings, 2 bad input). Findings, the summary and JUnit are left in
# $FUZZ_DIR/$FUZZ_PEER_OUT (default fuzz-peer/) for CI to upload. `make
# fuzz-peer-smoke` runs it twice: against `serve` and against `serve --exact`
# (tofu's EchoService to the letter: its predicted stops are expected, the
# fuzzer restarts it).
#
#   usage: sh ci/fuzz-peer-smoke.sh TOFULAB SECS [SERVE-ARGS...]
set -u
bin=${1:?usage: ci/fuzz-peer-smoke.sh TOFULAB SECS [SERVE-ARGS...]}
secs=${2:?usage: ci/fuzz-peer-smoke.sh TOFULAB SECS [SERVE-ARGS...]}
shift 2
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
out=${FUZZ_DIR:-build-fuzz}/${FUZZ_PEER_OUT:-fuzz-peer}
rm -rf "$out"
mkdir -p "$out"
sock=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-peer-smoke.XXXXXX")
trap 'rm -rf "$sock"' EXIT
echo "=== fuzz-peer-smoke: tofulab serve $* for ${secs}s"
"$bin" fuzz-peer --peer "uds|$sock/echo.sock" \
    --spawn "exec '$bin' serve --listen 'uds|$sock/echo.sock' $*" \
    --time "${secs}s" --corpus fuzz/corpus --dict fuzz/dict/tofu.dict \
    --out "$out" --junit "$out/junit.xml" --save-corpus "$out/corpus" --verbose
