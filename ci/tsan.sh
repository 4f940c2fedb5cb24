#!/bin/sh
# make tsan: the ThreadSanitizer pass of make check alone (ci/tsan-pass.sh).
# Quiet as make test (V=1 prints everything).
set -u
cd "$(dirname "$0")/.." || exit 2
jobs=$(nproc 2>/dev/null || echo 2)
. ci/steps.sh
. ci/tsan-pass.sh
root=$(pwd)

tsan_pass
steps_ok
