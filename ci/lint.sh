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
if command -v clang-format >/dev/null 2>&1; then
    files=$(ls engine/include/tofulab/*.h engine/core/*.[ch] engine/posix/*.[ch] sim/*.[ch] patterns/*.[ch] conform/*.[ch] fuzzpeer/*.[ch] cli/*.[ch] 2>/dev/null)
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
