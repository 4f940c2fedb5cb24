#!/bin/sh
# Install, from the distribution's packages, whatever tofulab needs that is
# missing. Works on Debian 12 and 13 and Ubuntu 22.04 and 24.04. Idempotent,
# and silent when nothing is missing; when it installs, it says so in one line.
# Root (or sudo) is needed only when something has to be installed.
#
#   usage: sh ci/install-deps.sh [--dry-run]
#     --dry-run   print the packages tofulab needs (the compiler runtime
#                 resolved for this machine) and which are missing; install
#                 nothing
#
# The compiler runtime (ASan, UBSan, libFuzzer: compiler-rt) must match the
# installed clang's major version N. Debian 12 and 13 and Ubuntu 24.04 ship it
# as libclang-rt-N-dev (14, 19 and 18 by default); Ubuntu 22.04 has no such
# package: there it is part of libclang-common-N-dev. So: the major version of
# `clang` (or, before clang is installed, of the clang-N the `clang` package
# depends on), then libclang-rt-N-dev when the package lists know it, else
# libclang-common-N-dev. A clang that already finds its sanitizer and fuzzer
# runtimes needs nothing more, whichever package brought them.
#
# Why each package: make, gcc, clang, llvm (llvm-cov and llvm-profdata for
# make fuzz-cov), the compiler runtime, libcmocka-dev and pkg-config (tests),
# libfaketime and faketime (heartbeat tests), valgrind (make check), afl++
# (make fuzz-afl), clang-format (make lint), tshark (the Wireshark dissector's
# tests), help2man (the man page of make install).
# Exit status: 0 done (or nothing to do); 1 apt failed; 2 bad usage or the
# clang version could not be found.
set -eu

# libmicrohttpd-dev and libjansson-dev: the HTTP control API of `tofulab proxy`
# (hosts/proxy_http.c): HTTP by libmicrohttpd, the JSON bodies by jansson.
BASE_PACKAGES="make gcc clang llvm libcmocka-dev pkg-config libfaketime faketime valgrind afl++ \
clang-format tshark help2man libmicrohttpd-dev libjansson-dev"

dry_run=0
case ${1:-} in
--dry-run) dry_run=1 ;;
"") ;;
*)
    echo "usage: sh ci/install-deps.sh [--dry-run]" >&2
    exit 2
    ;;
esac

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

# The major version of the installed clang, or of the one `apt-get install
# clang` would bring; empty when neither is known.
clang_major() {
    if command -v clang >/dev/null 2>&1; then
        clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9][0-9]*\).*/\1/p' | head -n 1
    else
        apt-cache depends clang 2>/dev/null | sed -n 's/^ *Depends: clang-\([0-9][0-9]*\)$/\1/p' | head -n 1
    fi
}

# Does the installed clang find its ASan and libFuzzer runtimes?
compiler_rt_present() {
    command -v clang >/dev/null 2>&1 || return 1
    res=$(clang -print-resource-dir 2>/dev/null) || return 1
    [ -d "$res/lib" ] || return 1
    [ -n "$(find "$res/lib" -name 'libclang_rt.asan*' 2>/dev/null | head -n 1)" ] &&
        [ -n "$(find "$res/lib" -name 'libclang_rt.fuzzer*' 2>/dev/null | head -n 1)" ]
}

compiler_rt_package() {
    if installed "libclang-rt-$1-dev" || apt-cache show "libclang-rt-$1-dev" >/dev/null 2>&1; then
        echo "libclang-rt-$1-dev"
    else
        echo "libclang-common-$1-dev"
    fi
}

missing_base() {
    for pkg in $BASE_PACKAGES; do
        installed "$pkg" || printf ' %s' "$pkg"
    done
}

need=$(missing_base)
major=$(clang_major)
rt=""
rt_needed=0
compiler_rt_present || rt_needed=1
if [ -n "$major" ]; then
    rt=$(compiler_rt_package "$major")
fi

if [ "$dry_run" -eq 1 ]; then
    missing=$need
    if [ "$rt_needed" -eq 1 ]; then
        missing="$missing ${rt:-compiler-rt(clang version unknown)}"
    fi
    echo "install-deps: packages: $BASE_PACKAGES ${rt:-compiler-rt(clang version unknown)}"
    echo "install-deps: missing:${missing:- none}"
    exit 0
fi

[ -n "$need" ] || [ "$rt_needed" -eq 1 ] || exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# On a new machine the package lists may be missing or stale; they also
# decide the compiler runtime's package name.
$SUDO apt-get update -qq >/dev/null
if [ "$rt_needed" -eq 1 ]; then
    major=$(clang_major)
    if [ -z "$major" ]; then
        echo "install-deps: cannot tell which clang this machine has or would install" >&2
        exit 2
    fi
    need="$need $(compiler_rt_package "$major")"
fi
echo "install-deps: installing$need" >&2
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null; then
    echo "install-deps: apt-get install$need failed" >&2
    exit 1
fi
