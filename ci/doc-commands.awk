# The commands of one Markdown file, for ci/doc-commands.sh (the convention
# is written there and in README.md, "Contributing docs"). Reads the file,
# writes one record per line:
#
#   B LINE run|skip      a ```sh block starts at LINE (skip: marked not run)
#   R REASON             why the block is not run (after B ... skip)
#   C LINE MODE EXIT CMD a command starting at LINE; MODE fg, bg (it ends in
#                        `&`) or wait (it is `wait ...`); EXIT the status the
#                        doc expects ("(exit N)" in its comment, else 0); CMD
#                        its text, continuation lines joined, comment removed
#   O TEXT               a line of the output the doc shows for the command
#   E                    the block ends
#   X LINE MESSAGE       the file breaks the convention at LINE
#
#   usage: awk -f ci/doc-commands.awk FILE.md

function rtrim(s) { sub(/[ \t]+$/, "", s); return s }
function ltrim(s) { sub(/^[ \t]+/, "", s); return s }

# Where a shell comment starts in s (a # outside quotes, at the start or
# after a blank), or 0.
function comment_at(s,    i, n, c, q, prev) {
    n = length(s)
    q = ""
    prev = " "
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (q != "") {
            if (c == q) {
                q = ""
            } else if (c == "\\" && q == "\"") {
                i++
            }
        } else if (c == "\\") {
            i++
        } else if (c == "'" || c == "\"") {
            q = c
        } else if (c == "#" && (prev == " " || prev == "\t")) {
            return i
        }
        prev = c
    }
    return 0
}

function emit_command(line, text,    at, code, comment, mode, want) {
    at = comment_at(text)
    code = at ? substr(text, 1, at - 1) : text
    comment = at ? substr(text, at) : ""
    code = rtrim(ltrim(code))
    want = 0
    if (match(comment, /\(exit [0-9]+\)/)) {
        want = substr(comment, RSTART + 6, RLENGTH - 7) + 0
    }
    mode = "fg"
    if (code ~ /[^&]&$/) {
        mode = "bg"
        code = rtrim(substr(code, 1, length(code) - 1))
    } else if (code ~ /^wait([ \t]|$)/) {
        mode = "wait"
    }
    if (code == "") {
        printf "X %d an empty command\n", line
        return
    }
    printf "C %d %s %d %s\n", line, mode, want, code
    ncommands++
}

# The collected block: lines[1..nlines], its fence at line start.
function flush_block(    i, l, session, cmd, cmdline, cont, ln) {
    if (!runnable) {
        for (i = 1; i <= nlines; i++) {
            if (lines[i] ~ /^\$ /) {
                printf "X %d a `$ ` command in a ```%s block: tag the block ```sh to run it, or drop the `$ `\n", start + i, (tag == "" ? "" : tag)
                return
            }
        }
        return
    }
    session = 0
    for (i = 1; i <= nlines; i++) {
        if (lines[i] ~ /^\$ /) {
            session = 1
        }
    }
    printf "B %d %s\n", start, (skip != "" ? "skip" : "run")
    if (skip != "") {
        printf "R %s\n", skip
    }
    ncommands = 0
    cont = 0
    have = 0
    for (i = 1; i <= nlines; i++) {
        l = lines[i]
        ln = start + i
        if (cont) {
            cmd = cmd " " ltrim(l)
        } else if (session && l ~ /^\$ /) {
            cmd = substr(l, 3)
            cmdline = ln
        } else if (l ~ /^[ \t]*$/ || l ~ /^[ \t]*#/) {
            continue
        } else if (session) {
            if (!have) {
                printf "X %d output shown before any `$ ` command\n", ln
                continue
            }
            printf "O %s\n", l
            continue
        } else {
            cmd = l
            cmdline = ln
        }
        if (cmd ~ /\\$/) {
            cmd = substr(cmd, 1, length(cmd) - 1)
            cont = 1
            continue
        }
        cont = 0
        emit_command(cmdline, cmd)
        have = 1
    }
    if (cont) {
        printf "X %d the last command ends in a `\\`\n", cmdline
    }
    if (ncommands == 0) {
        printf "X %d a ```sh block without a command (use ```text for other text)\n", start
    }
    print "E"
}

BEGIN {
    inblock = 0
    pending = ""
}

{
    sub(/\r$/, "")
}

inblock && $0 ~ /^[ \t]*```[ \t]*$/ {
    flush_block()
    inblock = 0
    next
}

inblock {
    l = $0
    # a fence indented in a list indents its lines as much
    for (k = 0; k < indent && substr(l, 1, 1) == " "; k++) {
        l = substr(l, 2)
    }
    lines[++nlines] = l
    next
}

/^[ \t]*```/ {
    match($0, /^[ \t]*```/)
    indent = RLENGTH - 3
    info = ltrim(substr($0, RLENGTH + 1))
    tag = info
    sub(/[ \t{].*$/, "", tag)
    runnable = (tag == "sh" || tag == "shell" || tag == "bash" || tag == "console")
    inblock = 1
    start = NR
    nlines = 0
    skip = pending
    if (pending != "" && !runnable) {
        printf "X %d a not-run marker must come right before a ```sh block\n", pending_line
    }
    pending = ""
    next
}

/^[ \t]*<!--[ \t]*not run in CI/ {
    r = $0
    if (!match(r, /not run in CI:[ \t]*[^ \t]/) || r !~ /-->[ \t]*$/) {
        printf "X %d write the marker as <!-- not run in CI: REASON --> on one line\n", NR
        next
    }
    sub(/^[ \t]*<!--[ \t]*not run in CI:[ \t]*/, "", r)
    sub(/[ \t]*-->[ \t]*$/, "", r)
    pending = r
    pending_line = NR
    next
}

pending != "" && $0 !~ /^[ \t]*$/ {
    printf "X %d a not-run marker must come right before a ```sh block\n", pending_line
    pending = ""
}

END {
    if (inblock) {
        printf "X %d a ``` block that never ends\n", start
    }
    if (pending != "") {
        printf "X %d a not-run marker must come right before a ```sh block\n", pending_line
    }
}
