# Sourced by ci/test.sh (make test), ci/check.sh (make check) and
# ci/run-tests.sh: runs test steps quietly. Each step's output goes to a
# temporary file; the step prints one line (its name, ok or FAILED, its
# counts, its time) and, when it fails, the part of its output that says why.
# With V=1 (make test V=1) every step's whole output is printed as it comes.
#
#   step NAME KIND CMD...   run CMD as a step; KIND says how its tests count:
#       cmocka    a cmocka binary: its [ PASSED ], [ FAILED ] and [ SKIPPED ]
#                 counts (a binary that exits non-zero without a FAILED count,
#                 e.g. on a crash or a sanitizer report, counts one failure)
#       counted   a script whose last "N passed, N failed" line gives the
#                 counts (anything after "failed" on that line is shown too)
#       check     one test: it passes when CMD exits 0
#       build     not a test: a make run; its compile lines are counted
#     Any step fails when CMD exits non-zero. A failure's details are its
#     output without the lines of what passed: cmocka's RUN/OK pairs, lines
#     starting with "ok ", and sweep progress lines.
#   steps_cmocka DIR [WRAPPER...]   a step for each DIR/test_* binary,
#                                   STEPS_JOBS (default 1) at a time; the
#                                   lines still come in name order
#   steps_mark; steps_since LABEL   print "LABEL: N passed, N failed" for the
#                                   steps since the mark (make check's passes)
#   steps_total                     print the failed steps, then the closing
#                                   "N passed, N failed" over every step
#   steps_ok                        true when no step failed
# Counters: STEPS_PASSED, STEPS_FAILED. POSIX sh.

STEPS_PASSED=0
STEPS_FAILED=0
STEPS_FAILED_NAMES=""
steps_mark_p=0
steps_mark_f=0
steps_dir=$(mktemp -d "${TMPDIR:-/tmp}/tofulab-steps.XXXXXX") || exit 2
trap 'rm -rf "$steps_dir"' EXIT
trap 'exit 130' HUP INT TERM

# The failure details of a cmocka binary: every line but the RUN/OK pairs of
# the tests that passed (a test that failed keeps its RUN line and all it
# printed).
steps_cmocka_details() {
    awk '
        /^\[ RUN      \] / { if (inrun) printf "%s", buf; buf = $0 "\n"; inrun = 1; next }
        inrun && /^\[       OK \] / { inrun = 0; buf = ""; next }
        inrun { buf = buf $0 "\n"; if ($0 ~ /^\[  (FAILED|SKIPPED|ERROR) *\] /) { printf "%s", buf; inrun = 0; buf = "" } next }
        { print }
        END { if (inrun) printf "%s", buf }
    ' "$1"
}

steps_details() {
    grep -v -E '^ok |^sweep: +[0-9]+% ' "$1"
}

# n PATTERN FILE: the number sed's PATTERN captures on FILE's last match.
steps_num() {
    sed -n "s/$1/\\1/p" "$2" | tail -n 1
}

step() {
    s_name=$1
    s_kind=$2
    shift 2
    s_out=$steps_dir/out
    s_start=$(date +%s)
    if [ -n "${V:-}" ]; then
        echo "=== $s_name"
        { "$@" </dev/null 2>&1; echo $? >"$steps_dir/rc"; } | tee "$s_out"
        s_rc=$(cat "$steps_dir/rc")
    else
        printf '%-30s ' "$s_name"
        "$@" </dev/null >"$s_out" 2>&1
        s_rc=$?
    fi
    steps_report "$s_name" "$s_kind" "$s_out" "$s_rc" $(($(date +%s) - s_start))
}

# steps_report NAME KIND OUTPUT STATUS SECONDS: count a finished step and
# print its line (after the name, which is printed already unless V=1) and,
# when it failed, its details.
steps_report() {
    s_name=$1
    s_kind=$2
    s_out=$3
    s_rc=$4
    s_secs=$5
    s_p=0
    s_f=0
    s_more=""
    case $s_kind in
    cmocka)
        s_p=$(steps_num '^\[  PASSED  \] \([0-9][0-9]*\) test.*' "$s_out")
        [ -n "$s_p" ] || s_p=$(grep -c '^\[       OK \] ' "$s_out")
        s_f=$(steps_num '^\[  FAILED  \] \([0-9][0-9]*\) test.*' "$s_out")
        s_s=$(steps_num '^\[  SKIPPED \] \([0-9][0-9]*\) test.*' "$s_out")
        [ -n "$s_s" ] && [ "$s_s" -gt 0 ] && s_more=", $s_s skipped"
        ;;
    counted)
        s_last=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$s_out" | tail -n 1)
        s_p=$(printf '%s\n' "$s_last" | sed -n 's/.*[^0-9]\([0-9][0-9]*\) passed, .*/\1/p; s/^\([0-9][0-9]*\) passed, .*/\1/p' | head -n 1)
        s_f=$(printf '%s\n' "$s_last" | sed -n 's/.* passed, \([0-9][0-9]*\) failed.*/\1/p')
        s_more=$(printf '%s\n' "$s_last" | sed -n 's/.* passed, [0-9][0-9]* failed\(.*\)$/\1/p')
        ;;
    check)
        if [ "$s_rc" -eq 0 ]; then s_p=1; else s_f=1; fi
        ;;
    build)
        s_n=$(grep -c -E ' -c |^  CC ' "$s_out")
        if [ "$s_n" -eq 0 ]; then s_more="nothing to rebuild"; else s_more="$s_n files compiled"; fi
        ;;
    esac
    s_p=${s_p:-0}
    s_f=${s_f:-0}
    # a crash, a sanitizer report or a script that stopped early
    [ "$s_rc" -ne 0 ] && [ "$s_f" -eq 0 ] && s_f=1
    if [ "$s_kind" = build ]; then
        [ "$s_rc" -ne 0 ] && s_more="exit status $s_rc"
        s_counts=$s_more
        s_f=$((s_rc != 0))
        s_p=0
    elif [ "$s_f" -gt 0 ]; then
        s_counts="$s_p passed, $s_f failed$s_more"
    else
        s_counts="$s_p passed$s_more"
    fi
    if [ "$s_f" -gt 0 ]; then
        s_verdict=FAILED
        STEPS_FAILED_NAMES="${STEPS_FAILED_NAMES:+$STEPS_FAILED_NAMES, }$s_name"
    else
        s_verdict=ok
    fi
    if [ -n "${V:-}" ]; then
        printf '%-30s ' "$s_name"
    fi
    printf '%-6s %s (%ss)\n' "$s_verdict" "$s_counts" "$s_secs"
    if [ "$s_f" -gt 0 ] && [ -z "${V:-}" ]; then
        if [ "$s_kind" = cmocka ]; then
            steps_cmocka_details "$s_out"
        else
            steps_details "$s_out"
        fi | sed 's/^/    /'
        [ "$s_rc" -ne 0 ] && echo "    (exit status $s_rc)"
    fi
    STEPS_PASSED=$((STEPS_PASSED + s_p))
    STEPS_FAILED=$((STEPS_FAILED + s_f))
    return "$((s_f != 0))"
}

# steps_cmocka DIR [WRAPPER...]: a step per DIR/test_* binary, STEPS_JOBS
# (default 1) of them at a time; the lines come in name order either way.
steps_cmocka() {
    sc_dir=$1
    shift
    sc_jobs=${STEPS_JOBS:-1}
    sc_n=0
    for sc_t in "$sc_dir"/test_*; do
        [ -x "$sc_t" ] || continue
        sc_n=$((sc_n + 1))
        eval "sc_bin_$sc_n=\$sc_t"
    done
    if [ "$sc_n" -eq 0 ]; then
        printf '%-30s FAILED no test binaries in %s\n' "cmocka" "$sc_dir"
        STEPS_FAILED=$((STEPS_FAILED + 1))
        STEPS_FAILED_NAMES="${STEPS_FAILED_NAMES:+$STEPS_FAILED_NAMES, }cmocka"
        return 1
    fi
    if [ "$sc_jobs" -le 1 ]; then
        sc_i=0
        while [ "$sc_i" -lt "$sc_n" ]; do
            sc_i=$((sc_i + 1))
            eval "sc_t=\$sc_bin_$sc_i"
            step "$(basename "$sc_t")" cmocka "$@" "$sc_t"
        done
        return 0
    fi
    # in parallel: each binary's output and "STATUS START END" in files
    sc_launched=0
    sc_printed=0
    while [ "$sc_printed" -lt "$sc_n" ]; do
        sc_done=0
        sc_i=0
        while [ "$sc_i" -lt "$sc_launched" ]; do
            sc_i=$((sc_i + 1))
            [ -f "$steps_dir/c.$sc_i.rc" ] && sc_done=$((sc_done + 1))
        done
        while [ $((sc_launched - sc_done)) -lt "$sc_jobs" ] && [ "$sc_launched" -lt "$sc_n" ]; do
            sc_launched=$((sc_launched + 1))
            eval "sc_t=\$sc_bin_$sc_launched"
            (
                sc_start=$(date +%s)
                "$@" "$sc_t" </dev/null >"$steps_dir/c.$sc_launched.out" 2>&1
                echo "$? $sc_start $(date +%s)" >"$steps_dir/c.$sc_launched.tmp"
                mv "$steps_dir/c.$sc_launched.tmp" "$steps_dir/c.$sc_launched.rc"
            ) &
        done
        sc_next=$((sc_printed + 1))
        if [ -f "$steps_dir/c.$sc_next.rc" ]; then
            eval "sc_t=\$sc_bin_$sc_next"
            read -r sc_rc sc_start sc_end <"$steps_dir/c.$sc_next.rc"
            if [ -n "${V:-}" ]; then
                echo "=== $(basename "$sc_t")"
                cat "$steps_dir/c.$sc_next.out"
            else
                printf '%-30s ' "$(basename "$sc_t")"
            fi
            steps_report "$(basename "$sc_t")" cmocka "$steps_dir/c.$sc_next.out" "$sc_rc" $((sc_end - sc_start))
            sc_printed=$sc_next
        else
            sleep 0.2
        fi
    done
    wait
}

steps_mark() {
    steps_mark_p=$STEPS_PASSED
    steps_mark_f=$STEPS_FAILED
}

steps_since() {
    echo "$1: $((STEPS_PASSED - steps_mark_p)) passed, $((STEPS_FAILED - steps_mark_f)) failed"
}

steps_total() {
    [ -n "$STEPS_FAILED_NAMES" ] && echo "failed: $STEPS_FAILED_NAMES"
    echo "$STEPS_PASSED passed, $STEPS_FAILED failed"
}

steps_ok() {
    [ "$STEPS_FAILED" -eq 0 ]
}
