#!/bin/sh
# Generate the seed corpora fuzz/corpus/<target>/seed-* from the golden
# vectors (docs/golden-vectors.txt, the project's copy of PROTOCOL.md section
# 8; tests/vectors/golden.json holds the same frames) and from frames built
# with `tofulab frame encode`.
#
#   usage: sh fuzz/gen-corpus.sh [path/to/tofulab]     (default build/tofulab)
#
# Only files named seed-* are replaced; inputs merged in by `make fuzz-merge`
# (named by their SHA-1) and, later, simulator traces (sim-*) are left alone.
# Every seed starts with the target's own prefix (options, split points, step
# descriptors: see the comment at the top of each fuzz/fuzz_<target>.c and
# fuzz/engine_peer.h) followed by the bytes a peer would send.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tofulab=${1:-${TOFULAB:-build/tofulab}}
vectors=docs/golden-vectors.txt
corpus=fuzz/corpus

if [ ! -x "$tofulab" ]; then
    echo "gen-corpus: $tofulab is not an executable (run make first)" >&2
    exit 2
fi
if [ ! -r "$vectors" ]; then
    echo "gen-corpus: cannot read $vectors" >&2
    exit 2
fi

# hex on stdin -> bytes on stdout (xxd if installed, else awk + printf).
hex2bin() {
    if command -v xxd >/dev/null 2>&1; then
        xxd -r -p
    else
        tr -d ' \n' | awk '{
            for (i = 1; i < length($0); i += 2) printf "\\%03o", \
                index("0123456789abcdef", tolower(substr($0, i, 1))) * 16 - 16 + \
                index("0123456789abcdef", tolower(substr($0, i + 1, 1))) - 1
        }' | while IFS= read -r esc; do printf "$esc"; done
    fi
}

# The frame of golden vector $1 (V01..V22), as hex.
vec() {
    hex=$(sed -n "s/^$1 \([0-9a-f]*\) .*/\1/p" "$vectors")
    if [ -z "$hex" ]; then
        echo "gen-corpus: no vector $1 in $vectors" >&2
        exit 1
    fi
    printf '%s' "$hex"
}

# A frame built by the CLI, as hex.
enc() {
    "$tofulab" frame encode "$@"
}

# seed TARGET NAME HEX: write fuzz/corpus/TARGET/seed-NAME.
seed() {
    mkdir -p "$corpus/$1"
    printf '%s' "$3" | hex2bin >"$corpus/$1/seed-$2"
}

for t in reader text address roundtrip engine_server engine_client; do
    mkdir -p "$corpus/$t"
    rm -f "$corpus/$t"/seed-*
done

ids=$(sed -n 's/^\(V[0-9][0-9]\) .*/\1/p' "$vectors")
all=""
for id in $ids; do
    all="$all$(vec "$id")"
done

# Frames no golden vector has.
bad_op=$(enc --op 11 --channel 6699 --id 3 --body x)          # op code 11 (A7)
op15=$(enc --op 15 --channel 6699 --id 4)
forged=$(enc --op Signal --channel 6699 --id 5 --origin engine --status 22 --bit-a --bit-b)
long_text=$(enc --op Request --channel 6699 --id 6 --header 'Content-Type:application/json' \
    --header 'X-Trace:0123456789abcdef0123456789abcdef' --body '{"a":1}')
long_body=$(enc --op Request --channel 6699 --id 7 --body '0123456789abcdef0123456789abcdef0123')
status21=$(enc --op Request --channel 6699 --id 8 --status receiver_update)
bye_resp_c=$(enc --op ByeResponse --channel 6699 --id 9)
bye_req_id0=$(enc --op ByeRequest --channel 6699)
req_id0=$(enc --op Request --channel 6699 --body zero)
hello_more=$(enc --op HelloRequest --channel 6699 --id 10 --more --header '~connect_to:tcp|127.0.0.1|7099')
welcome_peer=$(vec V18)
partial=$(vec V12 | cut -c1-60)

# ---- reader: [cfg] [k] [k split bytes] [stream] ----
for id in $ids; do
    seed reader "$id" "0000$(vec "$id")"
done
seed reader all "0000$all"
seed reader all-split-1-7-16 "0003010710$all"
seed reader all-bytes "000101$(vec V01)$(vec V04)$(vec V12)"
seed reader zero-length-calls "000200ff$all"
seed reader limits-badop "3390$(vec V04)$bad_op$all"
seed reader limits-split "33b3020511$long_text$long_body$(vec V12)"
seed reader allocfail-split "0043030105$(vec V12)$(vec V19)"
seed reader partial "0000$(vec V01)$partial"
seed reader op15 "0010$(vec V09)$op15"

# ---- text: the whole input is a text block; also [cfg] [room] [nl] [vl] [name] [value]... ----
crlf=0d0a
# txt STRING: its bytes as hex (printf %b: \t, \r, \n are expanded).
txt() { printf '%b' "$1" | od -An -tx1 | tr -d ' \n'; }
# rec NAME VALUE: one record of the append part: [nl] [vl] [name] [value].
rec() {
    n=$(printf '%b' "$1" | wc -c | tr -d ' ')
    v=$(printf '%b' "$2" | wc -c | tr -d ' ')
    printf '%02x%02x%s%s' "$n" "$v" "$(txt "$1")" "$(txt "$2")"
}
seed text v01 "$(vec V01 | cut -c33-)"
seed text v12 "$(vec V12 | cut -c33-98)"
seed text spec-a-b "$(txt 'a: b')"
seed text spec-empty-lines "$(txt 'a: b')${crlf}$(txt 'c:  ')${crlf}$(txt 'd:e')${crlf}${crlf}$(txt 'f: g')${crlf}${crlf}"
seed text spec-empty-name "$(txt ': ss')${crlf}$(txt 'x:y')${crlf}"
seed text spec-tail "$(txt 'a:b')${crlf}$(txt 'tail')"
seed text spec-lone-lf "$(txt 'a:b')0a$(txt 'c:d')${crlf}"
seed text spec-untrimmed-name "$(txt '  x : v')${crlf}$(txt 'k: v:w')${crlf}"
seed text records "10ff$(rec '~connect_to' 'tcp|127.0.0.1|7099')$(rec ' name\t' ' val ')$(rec 'k' 'v:w')"
seed text records-bad "1040$(rec ' \t' 'a:b')$(rec 'x' '')$(rec 'a:b' 'c')$(rec 'n\rm' 'v')$(rec 'n' 'v\nw')$(rec 'room' 'is limited to 128 bytes, this record does not fit in what is left of it after the others')"
seed text prefill-65535 "1f03$(rec 'name' 'value')$(rec 'n' 'v')"

# ---- address: [mode] [value or text block] ----
for a in 'tcp|127.0.0.1|7099' 'tcp|0.0.0.0|7099' 'tcp|::1|7099' 'tcp|localhost|0' 'tcp|h|65535' \
    'uds|/srv/tofu/echo.sock' 'uds|/tmp/tofu_1_1.port' 'tcp||7099' 'foo|h|1' 'a|b|c|d' 'tcp|h|+1' \
    'tcp|h|07099' 'tcp|h|65536' '"tcp|127.0.0.1|7099"' 'uds|' 'tcp|h h|1'; do
    name=$(printf '%s' "$a" | tr -c 'a-zA-Z0-9.' '_')
    seed address "value-$name" "03$(txt "$a")"
done
seed address hello-v01 "03$(vec V01 | cut -c33-)"
seed address hello-v13 "03$(vec V13 | cut -c33-)"
seed address welcome-v18 "08$(vec V18 | cut -c33-)"
seed address wrong-kind "08$(vec V01 | cut -c33-)"
seed address first-wins "03$(txt 'x:y')${crlf}$(txt '~connect_to: uds|/tmp/s ')${crlf}$(txt '~connect_to:tcp|h|1')${crlf}"
seed address empty-name-stops "03$(txt ':z')${crlf}$(txt '~connect_to:tcp|h|1')${crlf}"
seed address untrimmed-name "03$(txt ' ~connect_to:tcp|h|1')${crlf}"

# ---- roundtrip: [hdr 16] [split:2 = thl] [cut] [flags] [text + body] ----
for id in $ids; do
    h=$(vec "$id")
    seed roundtrip "$id" "$(printf '%s' "$h" | cut -c1-32)$(printf '%s' "$h" | cut -c25-28)0500$(printf '%s' "$h" | cut -c33-)"
done
seed roundtrip validate-address "$(vec V01 | cut -c1-32)00200b08$(vec V01 | cut -c33-)"
seed roundtrip validate-too-long "$(vec V04 | cut -c1-32)00000330$(vec V04 | cut -c33-)"

# ---- engine_server: [cfg0] [cfg1] [n] [n x (len, action)] [what clients send] ----
# (n bits 4-5 pick a setup variant, bit 6 adds API edge cases; see the targets)
hello=$(vec V01)
e_plain=000000
seed engine_server hello "$e_plain$hello"
seed engine_server request-bye "$e_plain$hello$(vec V04)$(vec V12)$(vec V10)"
seed engine_server streaming "$e_plain$hello$(vec V06)$(vec V07)$(vec V09)$(vec V08)"
seed engine_server echo-client "$e_plain$(vec V19)$(vec V21)$(vec V17)"
seed engine_server bye-signal-echo "$e_plain$hello$(vec V17)$(vec V04)"
seed engine_server bad-op "$e_plain$hello$(vec V04)$bad_op$(vec V05)"
seed engine_server forged-bits "$e_plain$hello$forged$(vec V14)$(vec V16)$status21"
seed engine_server peer-bye-response "$e_plain$hello$(vec V04)$bye_resp_c$(vec V04)"
seed engine_server peer-responses "$e_plain$hello$(vec V02)$(vec V05)$(vec V22)$welcome_peer"
seed engine_server id0-more "$e_plain$hello$req_id0$bye_req_id0$hello_more"
seed engine_server partial "$e_plain$hello$partial"
seed engine_server limits-text "080000$hello$long_text"
seed engine_server limits-body "100000$hello$long_body"
seed engine_server limits-both "180000$(vec V04)$(vec V12)"
seed engine_server bytewise-hold-pool1 "0500010003$hello$(vec V04)$(vec V04)$(vec V12)"
seed engine_server chunks-half-output "00000206050f01$hello$(vec V04)$(vec V12)$(vec V10)"
# Two clients, frame by frame: 48 bytes to the first, 64 to the second, ...
seed engine_server two-clients "8000042f013f8114011f81$hello$(vec V19)$(vec V04)$(vec V21)"
seed engine_server transport-closed "0000023f01ff10$hello$(vec V04)$(vec V04)"
seed engine_server app-posts "0000041f091f191f291f39$hello$(vec V04)$(vec V04)$(vec V04)$(vec V04)"
seed engine_server grace-timer "4000023f010041$hello$(vec V10)$(vec V04)"
seed engine_server strict-bye "2000023f293f01$hello$(vec V10)$(vec V04)"
seed engine_server group-destroy "001000$hello$(vec V04)$partial"
seed engine_server listener-abort "002000$hello$(vec V04)"
seed engine_server max-channels "804000$hello$(vec V04)"
seed engine_server allocfail-16 "000f00$hello$(vec V04)$(vec V12)$(vec V10)"
seed engine_server allocfail-13 "800c0101fe$hello$(vec V04)$(vec V12)$(vec V10)"
seed engine_server allocfail-2 "000100"
seed engine_server listen-bad-address "000010"
seed engine_server listen-failed "000020"
seed engine_server listen-aborted "000030"
seed engine_server edge-cases "000040$hello$(vec V04)"
seed engine_server update-receiver-msg "000081fe41$hello$(vec V04)"

# ---- engine_client: the same prefix; what the server sends ----
seed engine_client hello-response "$e_plain$(vec V02)"
seed engine_client request-response "000002fe09fe01$(vec V03)$(vec V05)$(vec V08)$(vec V05)"
seed engine_client echo-service "008000$(vec V20)$(vec V22)"
seed engine_client bye-response "000002fe29fe01$(vec V02)$(vec V11)$(vec V05)"
seed engine_client server-requests "$e_plain$(vec V02)$(vec V04)$(vec V10)$(vec V17)"
seed engine_client data-before-hello "$e_plain$(vec V05)$(vec V02)"
seed engine_client bad-op "$e_plain$(vec V02)$bad_op"
seed engine_client forged "$e_plain$(vec V02)$(vec V15)$forged"
seed engine_client connect-failed "002000"
seed engine_client connect-refused-now "004000"
seed engine_client connect-timeout "006000"
seed engine_client bytewise-pool1 "0500010003$(vec V02)$(vec V05)$(vec V12)"
seed engine_client strict-bye "200002fe29fe01$(vec V02)$(vec V10)$(vec V04)"
seed engine_client grace "4000023f010041$(vec V02)$(vec V10)$(vec V04)"
seed engine_client transport-closed "0000021f01ff20$(vec V02)$(vec V05)$(vec V05)"
seed engine_client allocfail-16 "000f00$(vec V02)$(vec V05)$(vec V11)"
seed engine_client allocfail-11 "000a0101fe$(vec V02)$(vec V05)$(vec V11)"
seed engine_client port-zero "000010"
seed engine_client abort-connecting "000020"
seed engine_client request-before-connect "000030$(vec V02)$(vec V05)"
seed engine_client edge-cases "000040$(vec V02)"

for t in reader text address roundtrip engine_server engine_client; do
    n=$(ls "$corpus/$t" | wc -l | tr -d ' ')
    size=$(du -sk "$corpus/$t" | cut -f1)
    echo "gen-corpus: $t: $n files, ${size} KiB"
done
