#!/bin/sh
# make lint: engine/core depends on libc alone (ARCHITECTURE.md 1); sim/ and
# engine/core never read a clock or call rand() (ARCHITECTURE.md 4).
set -u
bad=0
hits=$(grep -nE '#include <(sys/socket|sys/epoll|pthread|time|sys/time|netinet/[a-z]+|arpa/inet|netdb|unistd|fcntl)\.h>' engine/core/*.c engine/core/*.h 2>/dev/null)
if [ -n "$hits" ]; then
    echo "lint: engine/core must use libc only (no sockets, clocks, threads):"
    echo "$hits"
    bad=1
fi
hits=$(grep -nE '[^_a-z](rand|srand|random|time|clock_gettime|gettimeofday)\(' engine/core/*.c sim/*.c 2>/dev/null)
if [ -n "$hits" ]; then
    echo "lint: no clock and no rand() in engine/core or sim/:"
    echo "$hits"
    bad=1
fi
# conform/ and sim/ are layered (ARCHITECTURE.md 7): each module has a layer
# in the folder's table below, and no module calls up. Two checks per folder:
#   includes: a file includes only headers of its folder of a lower layer (or
#     its own), so a lower module does not even see a higher one's
#     declarations or types;
#   calls: a function defined in one .c file of the folder and called from
#     another is defined in a lower layer (this also covers functions that a
#     public header, e.g. sim/sim.h, declares for every layer at once).
# A module (a .c or .h) missing from its folder's table is an error: a new
# module needs a line. conform/internal.h (every layer at once) is for code
# outside conform/ only and has no layer.
conform_layer() {
    case "$1" in
    conform | util) echo 0 ;;
    sniff) echo 1 ;;
    case) echo 2 ;;
    net) echo 3 ;;
    echo) echo 4 ;;
    cases) echo 5 ;;
    cases_server | cases_client) echo 6 ;;
    runner | report) echo 7 ;;
    *) echo 99 ;;
    esac
}
sim_layer() {
    case "$1" in
    sim) echo 0 ;; # the public API: types, and every layer's tl_sim_* / tl_scn_* (the calls check orders those)
    prng | sched | html | values) echo 1 ;;
    oracle | world) echo 2 ;;
    trace) echo 3 ;;
    net) echo 4 ;;
    node) echo 5 ;;
    services) echo 6 ;;
    scenario) echo 7 ;;
    verdict) echo 8 ;;
    runner) echo 9 ;;
    sweep | shrink) echo 10 ;;
    *) echo 99 ;;
    esac
}
# check_layers DIR LAYERFN: prints the violations, returns 1 if any.
check_layers() {
    dir=$1
    layerfn=$2
    found=0
    table=""
    for f in "$dir"/*.c "$dir"/*.h; do
        [ -f "$f" ] || continue
        mod=$(basename "$f")
        mod=${mod%.*}
        [ "$mod" = internal ] && continue
        own=$($layerfn "$mod")
        if [ "$own" -eq 99 ]; then
            echo "lint: $f has no layer in ci/lint.sh's table for $dir/ (add a line; ARCHITECTURE.md 7)"
            found=1
            continue
        fi
        table="$table $mod=$own"
        for inc in $(sed -n 's/^#include "\([a-z_]*\)\.h".*/\1/p' "$f"); do
            [ "$inc" = "$mod" ] && continue
            if [ "$(${layerfn} "$inc")" -ge "$own" ]; then
                echo "lint: $f includes $inc.h, which is not a lower layer of $dir/ (see ci/lint.sh)"
                found=1
            fi
        done
    done
    # Calls: comments, strings and preprocessor lines stripped; a definition
    # is a line at column 0 that is not static and names a function before
    # its first '(' without ending in ';'.
    hits=$(awk -v table="$table" -v dir="$dir" '
        BEGIN {
            n = split(table, pairs, " ")
            for (i = 1; i <= n; i++) {
                split(pairs[i], kv, "=")
                layer[kv[1]] = kv[2] + 0
            }
        }
        FNR == 1 {
            file = FILENAME
            sub(/.*\//, "", file)
            mod = file
            sub(/\.c$/, "", mod)
            incomment = 0
        }
        {
            line = $0
            out = ""
            len = length(line)
            i = 1
            while (i <= len) {
                c = substr(line, i, 1)
                if (incomment) {
                    if (c == "*" && substr(line, i + 1, 1) == "/") {
                        incomment = 0
                        i += 2
                    } else {
                        i++
                    }
                    continue
                }
                if (c == "/" && substr(line, i + 1, 1) == "*") {
                    incomment = 1
                    i += 2
                    continue
                }
                if (c == "/" && substr(line, i + 1, 1) == "/") {
                    break
                }
                if (c == "\"" || c == "\047") {
                    i++
                    while (i <= len) {
                        d = substr(line, i, 1)
                        if (d == "\\") {
                            i += 2
                            continue
                        }
                        if (d == c) {
                            break
                        }
                        i++
                    }
                    i++
                    out = out " "
                    continue
                }
                out = out c
                i++
            }
            if (out ~ /^[ \t]*#/) {
                next
            }
            if (out ~ /^[A-Za-z_]/ && out !~ /^(static|typedef|extern|struct|enum|union)[ \t]/ && \
                out !~ /;[ \t]*$/ && match(out, /[A-Za-z_][A-Za-z0-9_]*\(/)) {
                name = substr(out, RSTART, RLENGTH - 1)
                def[name] = mod
            }
            rest = out
            while (match(rest, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
                name = substr(rest, RSTART, RLENGTH)
                sub(/[ \t]*\($/, "", name)
                calls[mod, name] = 1
                rest = substr(rest, RSTART + RLENGTH)
            }
        }
        END {
            for (k in calls) {
                split(k, kv, SUBSEP)
                caller = kv[1]
                name = kv[2]
                if (!(name in def) || def[name] == caller) {
                    continue
                }
                callee = def[name]
                if (!(caller in layer) || !(callee in layer)) {
                    continue
                }
                if (layer[callee] >= layer[caller]) {
                    printf("lint: %s/%s.c calls %s (%s/%s.c), which is not a lower layer of %s/ (see ci/lint.sh)\n", \
                           dir, caller, name, dir, callee, dir)
                }
            }
        }' "$dir"/*.c) || {
        echo "lint: the calls check of $dir/ could not run (awk)"
        found=1
    }
    if [ -n "$hits" ]; then
        printf '%s\n' "$hits" | sort
        found=1
    fi
    return "$found"
}
check_layers conform conform_layer || bad=1
check_layers sim sim_layer || bad=1
if command -v clang-format >/dev/null 2>&1; then
    files=$(ls engine/include/tofulab/*.h engine/core/*.[ch] engine/posix/*.[ch] sim/*.[ch] patterns/*.[ch] conform/*.[ch] hosts/*.[ch] fuzzpeer/*.[ch] cli/*.[ch] 2>/dev/null)
    if [ -n "$files" ] && ! clang-format --dry-run --Werror $files >/dev/null 2>&1; then
        echo "lint: files not formatted (run 'make format'):"
        for f in $files; do
            clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "  $f"
        done
        bad=1
    fi
fi
[ "$bad" -eq 0 ] && echo "lint: ok"
exit "$bad"
