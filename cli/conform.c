/*
 * `tofulab conform`: the conformance suite against a peer (conform/conform.h).
 *
 * Prints a console table as cases finish and writes JSON, JUnit XML and HTML
 * reports on request. Exit 0 when no case FAILED, 1 when one did, 2 on usage
 * errors, an unreachable peer (server role) or no client (client role).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../conform/conform.h"
#include "cli.h"

static const char conform_usage[] =
    "usage: tofulab conform --peer ADDR [--role server|client] [--cases GLOB] [--strict]\n"
    "                       [--json FILE] [--junit FILE] [--html FILE] [--timeout S]\n"
    "                       [--keep-going]\n"
    "       tofulab conform --list [--role server|client]\n"
    "\n"
    "Checks a tofu peer byte by byte over raw sockets against PROTOCOL.md\n"
    "sections 1-7 and 9. Cases are numbered tofu/<section>/<n>.\n"
    "\n"
    "  --peer ADDR      tcp|HOST|PORT or uds|PATH (quote it: '|' is a shell pipe)\n"
    "  --role server    (default) the peer runs tofu's EchoService at ADDR; every\n"
    "                   case opens its own connection(s). Destructive probes run\n"
    "                   last; once the peer stops answering, the rest is NOT-RUN.\n"
    "  --role client    listen at ADDR and check the first client that connects and\n"
    "                   runs tofu's EchoClient sequence (HelloRequest, Requests 1..N,\n"
    "                   abort); waits up to 10 x the timeout for it\n"
    "  --cases GLOB     run only matching case ids (fnmatch; comma-separated list),\n"
    "                   e.g. 'tofu/1.*,tofu/7/*'\n"
    "  --strict         NON-STRICT verdicts count as FAILED\n"
    "  --json FILE      write a JSON report\n"
    "  --junit FILE     write a JUnit XML report\n"
    "  --html FILE      write a self-contained HTML report (frames as hex and decoded)\n"
    "  --timeout S      longest wait for anything the peer should send, in seconds\n"
    "                   (default 5; fractions allowed, 0.05-3600)\n"
    "  --keep-going     run every case even when the peer's replies are plainly not\n"
    "                   tofu (HTTP, TLS, a byte-swapped header, text); by default the\n"
    "                   first FAILED case that meets them ends the run (the rest is\n"
    "                   NOT-RUN) with a verdict naming the cause\n"
    "  --list           list the cases of the role and exit\n"
    "\n"
    "verdicts: OK; NON-STRICT (tofu's code does it, its docs or our decisions do not;\n"
    "FAILED under --strict); FAILED; INFORMATIONAL (observed behaviour); UNIMPLEMENTED;\n"
    "NOT-RUN (the peer had died, or does not speak tofu).\n"
    "\n"
    "exit status: 0 no case FAILED; 1 a case FAILED; 2 usage error, unreachable peer,\n"
    "or (client role) no client connected.\n"
    "\n"
    "examples:\n"
    "  tofulab conform --peer 'tcp|127.0.0.1|7099' --html report.html\n"
    "  tofulab conform --peer 'uds|/tmp/echo.sock' --cases 'tofu/7/*' --strict\n"
    "  tofulab conform --peer 'tcp|127.0.0.1|7100' --role client --junit client.xml\n";

typedef struct {
    FILE *out;
} progress;

static void on_result(void *arg, const tl_conform_result *r)
{
    progress *p = arg;

    tl_conform_console_row(p->out, r);
}

static void on_listening(void *arg, const char *address)
{
    (void)arg;
    fprintf(stderr, "tofulab: listening on %s; start the client now\n", address);
    fflush(stderr);
}

static int parse_seconds(const char *text, unsigned *ms_out)
{
    char *end = NULL;
    double s;

    if (text == NULL || text[0] == '\0' || text[0] == '-' || text[0] == '+' || text[0] == ' ') {
        return -1;
    }
    errno = 0;
    s = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(s >= 0.05 && s <= 3600.0)) {
        return -1;
    }
    *ms_out = (unsigned)(s * 1000.0 + 0.5);
    return 0;
}

static FILE *open_report(const char *path)
{
    char q[96];

    if (path == NULL) {
        return NULL;
    }
    return cli_open_out(path, "w", "conform: cannot write '%s'", cli_quote(path, strlen(path), q, sizeof q));
}

static int close_report(FILE *f, const char *path, int write_rc)
{
    char q[96];
    int rc = write_rc;

    if (f == NULL) {
        return 0;
    }
    if (f != stdout && fclose(f) != 0) {
        rc = -1;
    }
    if (rc != 0) {
        cli_error("conform: writing '%s' failed", cli_quote(path, strlen(path), q, sizeof q));
    }
    return rc;
}

static void list_cases(tl_conform_role role)
{
    size_t i, n = tl_conform_case_count(role);

    for (i = 0; i < n; i++) {
        const tl_conform_case_info *c = tl_conform_case_at(role, i);

        printf("%-12s %s%s\n             rule: %s\n", c->id, c->title,
               (c->flags & TL_CONFORM_DESTRUCTIVE) ? " [destructive]" : "", c->rule);
    }
    printf("%zu cases (%s role)\n", n, role == TL_CONFORM_ROLE_CLIENT ? "client" : "server");
}

int cli_conform_main(int argc, char **argv)
{
    tl_conform_options opt;
    tl_conform_report rep;
    const char *peer = NULL, *json = NULL, *junit = NULL, *html = NULL;
    FILE *fj = NULL, *fx = NULL, *fh = NULL;
    int list = 0, i, rc, wrc = 0;
    char q[96];
    char err[256];
    progress prog;

    memset(&opt, 0, sizeof opt);
    opt.role = TL_CONFORM_ROLE_SERVER;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = strcmp(a, "--peer") == 0 || strcmp(a, "--role") == 0 || strcmp(a, "--cases") == 0 ||
                    strcmp(a, "--json") == 0 || strcmp(a, "--junit") == 0 || strcmp(a, "--html") == 0 ||
                    strcmp(a, "--timeout") == 0;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(conform_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (takes && v == NULL) {
            cli_error("conform: %s needs a value; run 'tofulab conform --help'", a);
            return CLI_EXIT_USAGE;
        }
        if (strcmp(a, "--peer") == 0) {
            peer = v;
        } else if (strcmp(a, "--role") == 0) {
            if (strcmp(v, "server") == 0) {
                opt.role = TL_CONFORM_ROLE_SERVER;
            } else if (strcmp(v, "client") == 0) {
                opt.role = TL_CONFORM_ROLE_CLIENT;
            } else {
                cli_error("conform: --role is server or client, not '%s'",
                          cli_quote(v, strlen(v), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--cases") == 0) {
            opt.cases = v;
        } else if (strcmp(a, "--json") == 0) {
            json = v;
        } else if (strcmp(a, "--junit") == 0) {
            junit = v;
        } else if (strcmp(a, "--html") == 0) {
            html = v;
        } else if (strcmp(a, "--timeout") == 0) {
            if (parse_seconds(v, &opt.timeout_ms) != 0) {
                cli_error("conform: --timeout takes seconds between 0.05 and 3600, not '%s'",
                          cli_quote(v, strlen(v), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--strict") == 0) {
            opt.strict = 1;
        } else if (strcmp(a, "--keep-going") == 0) {
            opt.keep_going = 1;
        } else if (strcmp(a, "--list") == 0) {
            list = 1;
        } else {
            cli_error("conform: unknown option '%s'; run 'tofulab conform --help'",
                      cli_quote(a, strlen(a), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
        if (takes) {
            i++;
        }
    }
    if (list) {
        list_cases(opt.role);
        return CLI_EXIT_OK;
    }
    if (peer == NULL) {
        cli_error("conform: --peer ADDR is required; run 'tofulab conform --help'");
        return CLI_EXIT_USAGE;
    }
    if (cli_parse_address("conform", peer, &opt.peer) != 0) {
        return CLI_EXIT_USAGE;
    }
    if ((json != NULL && (fj = open_report(json)) == NULL) ||
        (junit != NULL && (fx = open_report(junit)) == NULL) ||
        (html != NULL && (fh = open_report(html)) == NULL)) {
        if (fj != NULL && fj != stdout) {
            fclose(fj);
        }
        if (fx != NULL && fx != stdout) {
            fclose(fx);
        }
        return CLI_EXIT_USAGE;
    }
    prog.out = stdout;
    opt.on_result = on_result;
    opt.on_listening = on_listening;
    opt.arg = &prog;
    {
        /* the header needs the report's fields: print it from what we know */
        tl_conform_report head;

        memset(&head, 0, sizeof head);
        head.role = opt.role;
        head.strict = opt.strict;
        head.timeout_ms = opt.timeout_ms ? opt.timeout_ms : TL_CONFORM_DEFAULT_TIMEOUT_MS;
        tl_address_format(&opt.peer, head.peer, sizeof head.peer);
        tl_conform_console_header(stdout, &head);
    }
    rc = tl_conform_run(&opt, &rep, err, sizeof err);
    if (rc != TL_OK) {
        cli_error("conform: %s", err);
        if (fj != NULL && fj != stdout) {
            fclose(fj);
        }
        if (fx != NULL && fx != stdout) {
            fclose(fx);
        }
        if (fh != NULL && fh != stdout) {
            fclose(fh);
        }
        return CLI_EXIT_USAGE;
    }
    tl_conform_console_footer(stdout, &rep);
    if (fj != NULL) {
        wrc |= close_report(fj, json, tl_conform_write_json(fj, &rep));
    }
    if (fx != NULL) {
        wrc |= close_report(fx, junit, tl_conform_write_junit(fx, &rep));
    }
    if (fh != NULL) {
        wrc |= close_report(fh, html, tl_conform_write_html(fh, &rep));
    }
    rc = tl_conform_failed_count(&rep) > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    tl_conform_report_free(&rep);
    if (wrc != 0 && rc == CLI_EXIT_OK) {
        rc = CLI_EXIT_FAIL;
    }
    return rc;
}
