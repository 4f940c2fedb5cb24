#!/bin/sh
# Writes the man page tofulab(1) from the command's own --help texts, with
# help2man: `tofulab --help` and `--version` make the head, and every
# command's and subcommand's --help (found by reading the command list and the
# usage lines) goes into a COMMANDS section, verbatim.
#
#   usage: sh mk/man.sh path/to/tofulab OUT.1
#
# Exit status: 0 written; 2 bad usage, help2man missing, or the command failed.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: sh mk/man.sh path/to/tofulab OUT.1" >&2
    exit 2
fi
bin=$1
out=$2
if ! command -v help2man >/dev/null 2>&1; then
    echo "man.sh: help2man is not installed (sh ci/install-deps.sh installs it)" >&2
    exit 2
fi
if [ ! -x "$bin" ]; then
    echo "man.sh: '$bin' is not an executable (build it with make)" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tofulab-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' HUP INT TERM

# roff-safe verbatim text: backslashes as \e, a leading . or ' neutralised.
verbatim() {
    printf '.nf\n'
    sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
    printf '.fi\n'
}

# One block: a subsection heading and the help text.
block() {
    printf '.SS "%s"\n' "$1"
    verbatim <"$2"
}

"$bin" --help >"$tmp/top"
commands=$(sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' "$tmp/top")
if [ -z "$commands" ]; then
    echo "man.sh: no commands found in '$bin --help'" >&2
    exit 2
fi

{
    printf '[COMMANDS]\n'
    printf 'Each command documents itself with \\fBtofulab\\fR \\fIcommand\\fR \\fB\\-\\-help\\fR;\n'
    printf 'those texts follow.\n'
    for cmd in $commands; do
        "$bin" "$cmd" --help >"$tmp/cmd"
        block "tofulab $cmd" "$tmp/cmd"
        # subcommands: `tofulab CMD WORD ...` in its usage lines
        subs=$(sed -n "s/^\\(usage:\\)\\{0,1\\} *tofulab $cmd \\([a-z][a-z-]*\\)\\( .*\\)\\{0,1\\}\$/\\2/p" "$tmp/cmd" |
            awk '!seen[$0]++')
        for sub in $subs; do
            "$bin" "$cmd" "$sub" --help >"$tmp/sub"
            if ! cmp -s "$tmp/sub" "$tmp/cmd"; then
                block "tofulab $cmd $sub" "$tmp/sub"
            fi
        done
    done
    printf '[SEE ALSO]\n'
    printf 'README.md and docs/ in the source tree: scenarios.md (the scenario format),\n'
    printf 'patterns.md, conformance.md, fuzzing.md, wireshark.md (the tofu dissector),\n'
    printf 'PROTOCOL.md (the protocol as tofulab implements it).\n'
} >"$tmp/include"

# help2man makes a SYNOPSIS of "Usage:" and "  or:" lines; the house style
# writes "usage:" and aligns the other forms under it, so a wrapper named
# tofulab rewrites just those lines of the top-level --help.
case $bin in
/*) abs_bin=$bin ;;
*) abs_bin=$(pwd)/$bin ;;
esac
mkdir "$tmp/bin"
{
    printf '#!/bin/sh\n'
    printf 'if [ "$1" = --help ]; then\n'
    printf '    "%s" --help | sed -e "1s/^usage: /Usage: /" -e "2,/^\\$/s/^       tofulab /  or:  tofulab /"\n' \
        "$abs_bin"
    printf 'else\n'
    printf '    exec "%s" "$@"\n' "$abs_bin"
    printf 'fi\n'
} >"$tmp/bin/tofulab"
chmod +x "$tmp/bin/tofulab"

help2man --no-info --section=1 \
    --name='proving ground for peers of the tofu message-passing protocol' \
    --include="$tmp/include" --output="$tmp/page" "$tmp/bin/tofulab"
mv "$tmp/page" "$out"
