/*
 * ci/doc-commands.sh, the step of make test that runs every command of
 * README.md and the docs/ pages: run on small Markdown files written here, it
 * passes a doc whose commands do what the doc shows (output lines, exit
 * statuses, a background server on a substituted port, `wait $!`, shell
 * state kept within a block, a marked block listed as not run), and fails,
 * naming file and line, a doc whose output or exit status is stale, a `$ `
 * command outside a ```sh block, a misplaced not-run marker and a background
 * command that ends before it is ready.
 *
 * Runs from the repository root; the binary is $TOFULAB (default
 * build/tofulab).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers/spawn.h"

#define SCRIPT_TIMEOUT 120000

static char *tmp;

static const char *tofulab(void)
{
    const char *b = getenv("TOFULAB");
    return (b && b[0]) ? b : "build/tofulab";
}

/* Writes DOC as NAME in the temporary directory and runs the script on it. */
static void run_doc(spawn_result *r, const char *name, const char *doc, char **path)
{
    *path = spawn_fmt("%s/%s", tmp, name);
    assert_int_equal(spawn_write_file(*path, doc, strlen(doc)), 0);
    const char *argv[] = {"sh", "ci/doc-commands.sh", tofulab(), *path, NULL};
    if (spawn_run(r, argv, NULL, NULL, NULL, 0, SCRIPT_TIMEOUT) != 0) {
        fail_msg("cannot run sh: %s", strerror(r->spawn_errno));
    }
    assert_false(r->timed_out);
}

/* The report has a line starting with WHAT for line LINE of PATH, holding TEXT. */
static void assert_reported(const spawn_result *r, const char *what, const char *path, int line,
                            const char *text)
{
    char *head = spawn_fmt("%s %s:%d  ", what, path, line);
    const char *p = strstr(r->out, head);
    if (p == NULL || (p != r->out && p[-1] != '\n')) {
        fail_msg("no line '%s...' in:\n%s", head, r->out);
    }
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    /* TEXT may be on the line or on the indented detail lines below it */
    const char *next = eol;
    while (next && next[1] == ' ') {
        next = strchr(next + 1, '\n');
    }
    size_t span = next ? (size_t)(next - p) : strlen(p);
    char *region = spawn_fmt("%.*s", (int)span, p);
    if (strstr(region, text) == NULL) {
        fail_msg("'%.*s' (and its details) lacks '%s'", (int)len, p, text);
    }
    free(region);
    free(head);
}

static int setup(void **state)
{
    (void)state;
    tmp = spawn_tmpdir("tofulab-doc-test");
    return tmp ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    spawn_rmtree(tmp);
    free(tmp);
    return 0;
}

static const char pass_doc[] =
    "# a doc whose commands run as written\n"
    "\n"
    "```sh\n"
    "$ tofulab frame encode --op Request --channel 6699 --id 42 --body hello\n"
    "1a2b0000000000000000002a0000000568656c6c6f\n"
    "$ tofulab serve --listen 'tcp|127.0.0.1|7099' --listen 'uds|/tmp/echo.sock' &\n"
    "listening on tcp|127.0.0.1|7099\n"
    "listening on uds|/tmp/echo.sock\n"
    "$ tofulab client --connect 'uds|/tmp/echo.sock' --pattern echo \\\n"
    "      --count 3 --abort             # a comment\n"
    "answered:    3\n"
    "...\n"
    "errors: 0\n"
    "$ tofulab frame decode --hex zz     # bad hex (exit 2)\n"
    "$ X=42; export X\n"
    "$ test \"$X\" = 42 && test -S /tmp/echo.sock\n"
    "```\n"
    "\n"
    "```sh\n"
    "$ sh -c 'echo started; sleep 0.3; echo done; exit 0' &\n"
    "started\n"
    "$ wait $!\n"
    "done\n"
    "```\n"
    "\n"
    "Output shown on its own is text, not a command:\n"
    "\n"
    "```text\n"
    "trace-hash: 0000\n"
    "```\n"
    "\n"
    "<!-- not run in CI: ./my-thing stands for yours -->\n"
    "```sh\n"
    "./my-thing --forever\n"
    "```\n";

static void test_doc_commands_doc_as_written_passes(void **state)
{
    (void)state;
    spawn_result r;
    char *path;
    run_doc(&r, "pass.md", pass_doc, &path);
    if (r.exit_code != 0) {
        fail_msg("exit %d:\n%s%s", r.exit_code, r.out, r.err);
    }
    assert_reported(&r, "ok     ", path, 4, "frame encode");
    assert_reported(&r, "ok     ", path, 6, "serve");
    assert_reported(&r, "ok     ", path, 9, "--count 3 --abort");
    assert_reported(&r, "ok     ", path, 14, "frame decode --hex zz");
    assert_reported(&r, "ok     ", path, 16, "test \"$X\" = 42");
    assert_reported(&r, "ok     ", path, 22, "wait $!");
    assert_reported(&r, "not run", path, 34, "./my-thing --forever: ./my-thing stands for yours");
    assert_non_null(strstr(r.out, "\ndoc-commands: 8 passed, 0 failed, 1 not run\n"));
    spawn_free(&r);
    free(path);
}

static const char fail_doc[] = "# a doc gone stale\n"
                               "\n"
                               "```sh\n"
                               "$ tofulab frame encode --op Request --channel 6699 --id 42 --body hello\n"
                               "1a2b000000000000000000000000000000\n"
                               "$ echo after\n"
                               "```\n"
                               "\n"
                               "```sh\n"
                               "$ tofulab frame encode --op Bogus\n"
                               "```\n"
                               "\n"
                               "```text\n"
                               "$ tofulab --version\n"
                               "```\n"
                               "\n"
                               "<!-- not run in CI: a marker that marks no sh block -->\n"
                               "```text\n"
                               "hello\n"
                               "```\n"
                               "\n"
                               "```sh\n"
                               "$ sh -c 'exit 3' &\n"
                               "```\n";

static void test_doc_commands_stale_doc_fails_naming_line(void **state)
{
    (void)state;
    spawn_result r;
    char *path;
    run_doc(&r, "fail.md", fail_doc, &path);
    assert_int_equal(r.exit_code, 1);
    assert_reported(&r, "FAIL   ", path, 4, "is not in its output: 1a2b000000000000000000000000000000");
    assert_reported(&r, "FAIL   ", path, 6, "not reached");
    assert_reported(&r, "FAIL   ", path, 10, "exit status 2, the doc expects 0");
    assert_reported(&r, "FAIL   ", path, 14, "a `$ ` command in a ```text block");
    assert_reported(&r, "FAIL   ", path, 17, "a not-run marker must come right before a ```sh block");
    assert_reported(&r, "FAIL   ", path, 23, "it ended (status 3) before printing");
    assert_non_null(strstr(r.out, "\ndoc-commands: 0 passed, 6 failed, 0 not run\n"));
    spawn_free(&r);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_commands_doc_as_written_passes),
        cmocka_unit_test(test_doc_commands_stale_doc_fails_naming_line),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
