#!/bin/sh
# Install, from Debian's packages, whatever tofulab needs that is missing.
# Idempotent, and silent when everything is already there. Root (or sudo) is
# needed only when something has to be installed.
set -eu

# libmicrohttpd-dev and libjansson-dev: the HTTP control API of `tofulab proxy`
# (hosts/proxy_http.c): HTTP by libmicrohttpd, the JSON bodies by jansson.
PACKAGES="make gcc clang llvm libclang-rt-14-dev libcmocka-dev pkg-config \
libfaketime faketime valgrind afl++ clang-format tshark libmicrohttpd-dev libjansson-dev"

need=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
        need="$need $pkg"
    fi
done
[ -n "$need" ] || exit 0

echo "install-deps: installing:$need" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# On a new machine the package lists may be missing or stale.
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
echo "install-deps: done" >&2
