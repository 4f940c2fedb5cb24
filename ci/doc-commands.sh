#!/bin/sh
# Every command in README.md and docs/*.md runs as written (a step of make
# test). The convention, for whoever writes a doc (README.md, "Contributing
# docs", says it too):
#
# - A fenced block tagged ```sh (or shell, bash, console) is run; any other
#   block (```text, ```yaml, untagged ...) is not. Synopses and anything with
#   placeholders (FILE, ADDR, `...`) go in ```text. A `$ ` line in a block
#   that is not ```sh is an error (tag it, or drop the `$ `).
# - In a ```sh block with `$ ` lines (a session), each `$ ` line is a command;
#   a line ending in `\` goes on with the next line; lines starting with `#`
#   are comments; any other line is output the command above it prints (on
#   stdout or stderr): the command must print those lines in that order,
#   blanks squeezed, other lines allowed between (`...` marks elided lines).
#   A ```sh block without `$ ` lines is a script: each line is a command.
# - A command must exit 0, or the status its comment states: `# ... (exit 1)`.
# - A command ending in `&` runs in the background, as in a shell: before the
#   next command runs it must have printed the output lines shown under it,
#   or some line when none is shown (a server prints where it listens). It is
#   stopped (SIGTERM to its process group) when its block ends; its exit
#   status is not checked. `wait` (or `wait $!`) waits for it: then its exit
#   status is checked, and the output shown under `wait` is looked for in
#   what the background commands printed.
# - A block's commands run one after another in one shell (so `cd`, `export`
#   and `$!` carry over); the first command that fails ends the block, the
#   rest count as failed (not reached).
# - Not run in CI: a block that cannot run here (installs, runs for minutes,
#   needs your own peer, a GUI, GNU parallel or kubectl, ...) has the line
#   `<!-- not run in CI: REASON -->` right before its opening fence. Its
#   commands are listed as "not run" with the reason, never silently skipped.
#
# Where commands run: `tofulab` and `build/tofulab` are the binary under
# test. Each doc file gets a fresh directory (its blocks share it, so a file
# a block writes is there for the next block) holding a symlink to every
# top-level entry of the repository (`scenarios/...`, `wireshark/tofu.lua`
# resolve; files the commands write stay there), with HOME and TMPDIR inside
# it. Substitutions, in commands and in the output shown alike:
# - every TCP port in `127.0.0.1|PORT`, `0.0.0.0|PORT`, `localhost|PORT` (or
#   with `:` for `|`; but 0) becomes a free port (the same PORT in one doc file, the same free
#   port), so docs can show the usual 7099 and still run beside other tests;
# - every `/tmp/` path is under the doc file's directory.
# Knobs (environment), to keep the step well under a minute:
#   DOC_SEEDS=N     a `--seeds A..B` range of more than N seeds runs A..A+N-1
#                   (default 50; 0 runs every seed as written)
#   DOC_JOBS=N      doc files run N at a time (default 3; a doc's blocks run
#                   in order)
#   DOC_TIMEOUT=S   a block that runs longer is stopped and fails (default 180)
#   DOC_READY=S     how long a background command may take to print its first
#                   lines (default 10)
#
#   usage: sh ci/doc-commands.sh path/to/tofulab [FILE.md...]
#          (default files: README.md docs/*.md)
# Output: one line per command (`ok`, `not run: REASON`, `FAIL` with why and
# the end of its output), then "doc-commands: N passed, N failed, N not run".
# Exit status: 0 all passed, 1 any failed, 2 bad usage.
set -u

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
    echo "usage: sh ci/doc-commands.sh path/to/tofulab [FILE.md...]" >&2
    exit 2
fi
bin=$1
shift
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
if [ $# -eq 0 ]; then
    set -- README.md docs/*.md
fi
seeds_max=${DOC_SEEDS:-50}
jobs=${DOC_JOBS:-3}
block_timeout=${DOC_TIMEOUT:-180}
ready_timeout=${DOC_READY:-10}
for v in "$seeds_max" "$jobs" "$block_timeout" "$ready_timeout"; do
    case $v in
    '' | *[!0-9]*)
        echo "doc-commands: DOC_SEEDS, DOC_JOBS, DOC_TIMEOUT and DOC_READY are whole numbers" >&2
        exit 2
        ;;
    esac
done
[ "$jobs" -ge 1 ] || jobs=1

work=$(mktemp -d "${TMPDIR:-/tmp}/tofulab-doc.XXXXXX") || exit 2
# Background commands are process groups of their own (setsid): whatever a
# block left running (it timed out) is stopped here, by its recorded id.
cleanup() {
    for pids in "$work"/*/blk.*/bgpids; do
        [ -f "$pids" ] || continue
        while read -r p; do
            kill -KILL "-$p" 2>/dev/null
        done <"$pids"
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' HUP INT TERM

# ---------------------------------------------------------------- helpers
# Sourced by every block's script (see gen_block).
cat >"$work/lib.sh" <<'EOF'
# _match EXPECTED OUTPUT: the first expected line not found in order (status 1)
_match() {
    awk 'function norm(s) { gsub(/\r/, "", s); gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }
        NR == FNR { e[++ne] = norm($0); next }
        { a[++na] = norm($0) }
        END {
            j = 1
            for (i = 1; i <= ne; i++) {
                if (e[i] == "..." || e[i] == "") continue
                while (j <= na && a[j] != e[i]) j++
                if (j > na) { print e[i]; exit 1 }
                j++
            }
        }' "$1" "$2"
}
_tail() {
    if [ -s "$1" ]; then
        echo "its output (last 15 lines):"
        tail -n 15 "$1" | sed 's/^/| /'
    else
        echo "it printed nothing"
    fi
}
_begin() {
    _i=$1
    _t0=$(date +%s)
}
_fail() {
    printf '%s\n' "$1" >"$_blk/fail.$_i"
    [ -n "${2:-}" ] && _tail "$2" >>"$_blk/fail.$_i"
    echo "fail $_i" >>"$_blk/results"
    _end 1
}
_check() { # status expected-status output-file
    if [ "$1" -ne "$2" ]; then
        _fail "exit status $1, the doc expects $2" "$3"
    fi
    if [ -s "$_blk/exp.$_i" ] && ! _miss=$(_match "$_blk/exp.$_i" "$3"); then
        _fail "this line the doc shows is not in its output: $_miss" "$3"
    fi
    echo "ok $_i $(($(date +%s) - _t0))" >>"$_blk/results"
}
_fg() {
    _check "$1" "$2" "$_blk/out.$_i"
}
_state() {
    sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d ' ' -f 1
}
_bg() { # pid
    echo "$1" >>"$_blk/bgpids"
    echo "$_i" >>"$_blk/bgidx"
    _n=0
    while :; do
        if [ -s "$_blk/exp.$_i" ]; then
            _match "$_blk/exp.$_i" "$_blk/out.$_i" >/dev/null && break
        elif [ -s "$_blk/out.$_i" ]; then
            break
        fi
        _st=$(_state "$1")
        if [ "$_st" = Z ] || { [ -z "$_st" ] && ! kill -0 "$1" 2>/dev/null; }; then
            wait "$1"
            _fail "it ended (status $?) before printing what it prints when ready" "$_blk/out.$_i"
        fi
        _n=$((_n + 1))
        if [ "$_n" -ge $((DOC_READY * 10)) ]; then
            _fail "it printed nothing for ${DOC_READY}s (DOC_READY): a background command must print a line when ready" "$_blk/out.$_i"
        fi
        sleep 0.1
    done
    echo "ok $_i $(($(date +%s) - _t0))" >>"$_blk/results"
}
_waited() { # status expected-status
    : >"$_blk/bgout.$_i"
    if [ -f "$_blk/bgidx" ]; then
        while read -r _k; do
            cat "$_blk/out.$_k" >>"$_blk/bgout.$_i"
        done <"$_blk/bgidx"
    fi
    cat "$_blk/out.$_i" >>"$_blk/bgout.$_i"
    _check "$1" "$2" "$_blk/bgout.$_i"
}
_end() {
    if [ -f "$_blk/bgpids" ]; then
        while read -r _p; do
            kill -TERM "-$_p" 2>/dev/null
        done <"$_blk/bgpids"
        _n=0
        while [ "$_n" -lt 30 ]; do
            _alive=0
            while read -r _p; do
                _st=$(_state "$_p")
                [ -n "$_st" ] && [ "$_st" != Z ] && _alive=1
            done <"$_blk/bgpids"
            [ "$_alive" -eq 0 ] && break
            sleep 0.1
            _n=$((_n + 1))
        done
        while read -r _p; do
            kill -KILL "-$_p" 2>/dev/null
        done <"$_blk/bgpids"
        wait
    fi
    exit "${1:-0}"
}
EOF

# A free TCP port for a doc's PORT: 20000-32767 (below Linux's ephemeral
# range, so no outgoing connection holds it), not open in /proc/net/tcp*, not
# handed out before (so not in a subshell: it sets fp).
taken_ports=" "
free_port() {
    used=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk 'NR > 1 { split($2, a, ":"); print a[2] }' | sort -u | tr '\n' ' ')
    while :; do
        r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
        p=$((20000 + r % 12768))
        hex=$(printf '%04X' "$p")
        case " $used $taken_ports " in
        *" $hex "* | *" $p "*) continue ;;
        esac
        taken_ports="$taken_ports$p "
        fp=$p
        return
    done
}

# The sed program of a doc file's substitutions: ports, /tmp/ paths.
make_subst() { # RECORDS DIR RUNDIR: writes DIR/ports and DIR/subst.sed
    grep -E '^[CO] ' "$1" | grep -o -E '(127\.0\.0\.1|0\.0\.0\.0|localhost)[|:][0-9]+' |
        sed 's/.*[|:]//' | sort -u >"$2/ports"
    : >"$2/subst.sed"
    while read -r port; do
        [ "$port" -eq 0 ] && continue # port 0: the kernel picks one, as written
        free_port
        new=$fp
        printf '%s\n' "s/(127\\.0\\.0\\.1|0\\.0\\.0\\.0|localhost)([|:])$port([^0-9]|\$)/\\1\\2$new\\3/g" >>"$2/subst.sed"
    done <"$2/ports"
    printf '%s\n' "s#(^|[^A-Za-z0-9_./-])/tmp/#\\1$3/tmp/#g" >>"$2/subst.sed"
}

# DOC_SEEDS: a range of more seeds than that runs its first seeds only.
scale() {
    awk -v max="$seeds_max" '{
        if (max > 0 && match($0, /--seeds [0-9]+\.\.[0-9]+/)) {
            r = substr($0, RSTART + 8, RLENGTH - 8)
            split(r, ab, /\.\./)
            if (ab[1] < 1e15 && ab[2] - ab[1] + 1 > max) {
                $0 = substr($0, 1, RSTART - 1) "--seeds " ab[1] ".." (ab[1] + max - 1) substr($0, RSTART + RLENGTH)
            }
        }
        print
    }'
}

# ------------------------------------------------------- one doc file
# run_file K FILE: extract, generate and run FILE's blocks in $work/K; write
# its report to $work/K/report and "PASSED FAILED NOTRUN" to $work/K/counts.
run_file() {
    k=$1
    doc=$2
    d=$work/$k
    recs=$d/records
    report=$d/report
    passed=0
    failed=0
    notrun=0
    : >"$report"

    # the directory the commands run in
    w=$d/run
    mkdir -p "$w"
    for e in "$root"/* "$root"/.[!.]*; do
        [ -e "$e" ] || continue
        name=${e##*/}
        case $name in .git | build | build-* | tmp | .doc-bin | .home) continue ;; esac
        ln -s "$e" "$w/$name"
    done
    ln -s "$(dirname "$bin")" "$w/build"
    mkdir -p "$w/.doc-bin" "$w/.home" "$w/tmp"
    ln -s "$bin" "$w/.doc-bin/tofulab"

    nb=0
    blk=""
    while IFS= read -r rec; do
        case $rec in
        "B "*)
            nb=$((nb + 1))
            blk=$d/blk.$nb
            mkdir -p "$blk"
            set -- ${rec#B }
            echo "$1 $2" >"$blk/info"
            idx=0
            : >"$blk/cmds"
            {
                echo ". '$work/lib.sh'"
                echo "_blk='$blk'"
                echo "DOC_READY=$ready_timeout"
            } >"$blk/script.sh"
            ;;
        "R "*)
            printf '%s\n' "${rec#R }" >"$blk/reason"
            ;;
        "C "*)
            idx=$((idx + 1))
            r=${rec#C }
            line=${r%% *}
            r=${r#* }
            mode=${r%% *}
            r=${r#* }
            want=${r%% *}
            cmd=${r#* }
            run=$(printf '%s\n' "$cmd" | sed -E -f "$d/subst.sed" | scale)
            printf '%s %s %s\n' "$idx" "$line" "$cmd" >>"$blk/cmds"
            [ "$run" != "$(printf '%s\n' "$cmd" | sed -E -f "$d/subst.sed")" ] &&
                printf '%s %s\n' "$idx" "$run" >>"$blk/scaled"
            : >"$blk/exp.$idx"
            {
                echo "_begin $idx"
                case $mode in
                bg)
                    q=$(printf '%s\n' "$run" | sed "s/'/'\\\\''/g")
                    echo "setsid sh -c '$q' </dev/null >\"\$_blk/out.$idx\" 2>&1 &"
                    echo "_bg \$!"
                    ;;
                fg)
                    echo "{"
                    printf '%s\n' "$run"
                    echo "} </dev/null >\"\$_blk/out.$idx\" 2>&1"
                    echo "_fg \$? $want"
                    ;;
                wait)
                    echo "{"
                    printf '%s\n' "$run"
                    echo "} </dev/null >\"\$_blk/out.$idx\" 2>&1"
                    echo "_waited \$? $want"
                    ;;
                esac
            } >>"$blk/script.sh"
            ;;
        "O "*)
            printf '%s\n' "${rec#O }" | sed -E -f "$d/subst.sed" >>"$blk/exp.$idx"
            ;;
        "E")
            echo "_end 0" >>"$blk/script.sh"
            ;;
        "X "*)
            r=${rec#X }
            failed=$((failed + 1))
            printf 'FAIL    %s:%s  %s\n' "$doc" "${r%% *}" "${r#* }" >>"$report"
            ;;
        esac
    done <"$recs"

    b=0
    while [ "$b" -lt "$nb" ]; do
        b=$((b + 1))
        blk=$d/blk.$b
        if [ -f "$blk/reason" ]; then
            reason=$(cat "$blk/reason")
            while read -r idx line cmd; do
                notrun=$((notrun + 1))
                printf 'not run %s:%s  %s: %s\n' "$doc" "$line" "$(short "$cmd")" "$reason" >>"$report"
            done <"$blk/cmds"
            continue
        fi
        (
            cd "$w" || exit 2
            HOME=$w/.home TMPDIR=$w/tmp PATH=$w/.doc-bin:$PATH
            export HOME TMPDIR PATH
            if command -v timeout >/dev/null 2>&1; then
                timeout -k 5 "$block_timeout" sh "$blk/script.sh"
            else
                sh "$blk/script.sh"
            fi
        ) >"$blk/log" 2>&1
        brc=$?
        # what a block that timed out left running
        if [ -f "$blk/bgpids" ]; then
            while read -r p; do
                kill -KILL "-$p" 2>/dev/null
            done <"$blk/bgpids"
        fi
        stopped=""
        while read -r idx line cmd; do
            res=$(grep "^[a-z]* $idx\( \|$\)" "$blk/results" 2>/dev/null | head -n 1)
            shown="$(short "$cmd")"
            scaled=$(sed -n "s/^$idx //p" "$blk/scaled" 2>/dev/null)
            case $res in
            "ok "*)
                passed=$((passed + 1))
                secs=${res##* }
                note=""
                [ -n "$scaled" ] && note=" [ran: $(short "$scaled"), DOC_SEEDS=$seeds_max]"
                printf 'ok      %s:%s  %s (%ss)%s\n' "$doc" "$line" "$shown" "$secs" "$note" >>"$report"
                ;;
            "fail "*)
                failed=$((failed + 1))
                stopped="$doc:$line"
                printf 'FAIL    %s:%s  %s\n' "$doc" "$line" "$shown" >>"$report"
                [ -n "$scaled" ] && printf '    ran as: %s\n' "$scaled" >>"$report"
                sed 's/^/    /' "$blk/fail.$idx" >>"$report"
                ;;
            *)
                failed=$((failed + 1))
                if [ -n "$stopped" ]; then
                    printf 'FAIL    %s:%s  %s: not reached (%s failed)\n' "$doc" "$line" "$shown" "$stopped" >>"$report"
                else
                    stopped="$doc:$line"
                    if [ "$brc" -eq 124 ] || [ "$brc" -eq 137 ]; then
                        why="the block ran past DOC_TIMEOUT=${block_timeout}s"
                    else
                        why="the block's shell stopped (status $brc)"
                    fi
                    printf 'FAIL    %s:%s  %s: %s\n' "$doc" "$line" "$shown" "$why" >>"$report"
                    [ -s "$blk/log" ] && tail -n 5 "$blk/log" | sed 's/^/    | /' >>"$report"
                    [ -s "$blk/out.$idx" ] && tail -n 10 "$blk/out.$idx" | sed 's/^/    | /' >>"$report"
                fi
                ;;
            esac
        done <"$blk/cmds"
    done
    echo "$passed $failed $notrun" >"$d/counts"
}

short() {
    printf '%s\n' "$1" | awk '{ s = $0; gsub(/[ \t]+/, " ", s); if (length(s) > 100) s = substr(s, 1, 97) "..."; print s }'
}

# ----------------------------------------------------------------- main
# Extract every file and hand out the ports first (one process, so no two
# docs get the same port), then run the files DOC_JOBS at a time.
k=0
for doc in "$@"; do
    k=$((k + 1))
    mkdir -p "$work/$k"
    if [ ! -r "$doc" ]; then
        echo "X 0 cannot read the file" >"$work/$k/records"
    else
        awk -f ci/doc-commands.awk "$doc" >"$work/$k/records"
    fi
    make_subst "$work/$k/records" "$work/$k" "$work/$k/run"
done
n=$k
k=0
running=0
for doc in "$@"; do
    k=$((k + 1))
    while [ "$running" -ge "$jobs" ]; do
        running=0
        j=0
        while [ "$j" -lt "$k" ]; do
            j=$((j + 1))
            [ -f "$work/$j/started" ] && [ ! -f "$work/$j/done" ] && running=$((running + 1))
        done
        [ "$running" -ge "$jobs" ] && sleep 0.2
    done
    touch "$work/$k/started"
    (
        run_file "$k" "$doc"
        touch "$work/$k/done"
    ) &
    running=$((running + 1))
done
wait

passed=0
failed=0
notrun=0
k=0
while [ "$k" -lt "$n" ]; do
    k=$((k + 1))
    cat "$work/$k/report"
    if [ -f "$work/$k/counts" ]; then
        read -r p f s <"$work/$k/counts"
    else
        p=0 f=1 s=0
        echo "FAIL    file $k: its run broke"
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    notrun=$((notrun + s))
done
echo "doc-commands: $passed passed, $failed failed, $notrun not run"
[ "$failed" -eq 0 ]
