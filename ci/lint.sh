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
# conform/ is layered (ARCHITECTURE.md 7): a file includes only conform headers of a
# lower layer (or its own header), so no module calls up and no loop comes back.
# A new conform header needs a line here; internal.h (every layer at once) is for
# code outside conform/ only.
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
for f in conform/*.c conform/*.h; do
    [ -f "$f" ] || continue
    mod=$(basename "$f"); mod=${mod%.*}
    [ "$mod" = internal ] && continue
    own=$(conform_layer "$mod")
    for inc in $(sed -n 's/^#include "\([a-z_]*\)\.h".*/\1/p' "$f"); do
        [ "$inc" = "$mod" ] && continue
        if [ "$(conform_layer "$inc")" -ge "$own" ]; then
            echo "lint: $f includes $inc.h, which is not a lower layer of conform/ (see ci/lint.sh)"
            bad=1
        fi
    done
done
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
