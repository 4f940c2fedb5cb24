/*
 * `tofulab client`: run a client pattern (patterns/echo_client.h,
 * patterns/request_response.h) against a server, verify every reply, print
 * counts, round trips per second and latency percentiles.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../patterns/echo_client.h"
#include "../patterns/request_response.h"
#include "../patterns/runner_posix.h"

#define CLIENT_DEFAULT_TIMEOUT_S 10u
#define CLIENT_MAX_TIMEOUT_S     86400u
#define CLIENT_BACKSTOP_NS       5000000000ull /* runner deadline beyond the service's own timeout */

static const char client_usage[] =
    "usage: tofulab client --connect ADDR [--pattern NAME] [options]\n"
    "\n"
    "Connects to a tofu echo server (e.g. `tofulab serve`), runs a pattern, checks\n"
    "every reply and prints: pattern, sent, answered, errors, round trips/s, and the\n"
    "p50 / p99 / max latency in microseconds, one 'key: value' per line.\n"
    "\n"
    "patterns:\n"
    "  echo              tofu's EchoClient (PROTOCOL.md section 7): HelloRequest, then\n"
    "                    N Requests one at a time with ids 1..N, each body its own\n"
    "                    16-byte header copy; each reply must carry the echo op code,\n"
    "                    the same id, the same text headers, bl 16 and a body that\n"
    "                    decodes to what was sent; then ByeRequest/ByeResponse\n"
    "  request-response  N Requests with random body sizes, up to K outstanding; each\n"
    "                    must get exactly one Response with its id (and, by default,\n"
    "                    the echo body naming that id and size); then Bye\n"
    "\n"
    "options:\n"
    "  --connect ADDR        tcp|HOST|PORT or uds|PATH (quote it in shells)\n"
    "  --pattern NAME        echo (default) or request-response\n"
    "  --count N             requests (default 10; at most 10000000)\n"
    "  --timeout S           give up after S seconds (default 10)\n"
    "  --abort               echo: end with ByeSignal (local abort, as tofu's EchoClient)\n"
    "                        instead of ByeRequest\n"
    "  --size MIN[..MAX]     request-response: body bytes, 0-65535 (default 16)\n"
    "  --concurrency K       request-response: outstanding requests (default 1)\n"
    "  --no-echo-check       request-response: do not check the echo service's body\n"
    "  --verbose             log the client's steps on stderr\n"
    "\n"
    "exit status: 0 every reply arrived and passed its checks; 1 a check failed or a\n"
    "request was not answered in time; 2 usage error, bad address, or the server\n"
    "could not be reached.\n"
    "\n"
    "examples:\n"
    "  tofulab client --connect 'tcp|127.0.0.1|7099' --pattern echo --count 100\n"
    "  tofulab client --connect 'uds|/tmp/echo.sock' --pattern request-response \\\n"
    "      --count 10000 --size 16..4096 --concurrency 32\n";

typedef enum { PATTERN_ECHO = 0, PATTERN_RR = 1 } client_pattern;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return x < y ? -1 : (x > y ? 1 : 0);
}

/* Nearest-rank percentile of sorted values. */
static uint64_t percentile(const uint64_t *sorted, size_t n, unsigned p)
{
    size_t rank;

    if (n == 0) {
        return 0;
    }
    rank = (size_t)(((uint64_t)n * p + 99u) / 100u);
    if (rank == 0) {
        rank = 1;
    }
    return sorted[rank - 1];
}

/* "MIN" or "MIN..MAX", each 0-65535. */
static int parse_size(const char *text, size_t *min, size_t *max)
{
    const char *dots = strstr(text, "..");
    uint64_t a, b;
    char first[32];

    if (dots == NULL) {
        if (cli_parse_u64(text, TL_MAX_BODY_LEN, &a) != 0) {
            return -1;
        }
        *min = *max = (size_t)a;
        return 0;
    }
    if ((size_t)(dots - text) >= sizeof first) {
        return -1;
    }
    memcpy(first, text, (size_t)(dots - text));
    first[dots - text] = '\0';
    if (cli_parse_u64(first, TL_MAX_BODY_LEN, &a) != 0 || cli_parse_u64(dots + 2, TL_MAX_BODY_LEN, &b) != 0 ||
        a > b) {
        return -1;
    }
    *min = (size_t)a;
    *max = (size_t)b;
    return 0;
}

static void print_results(const char *pattern, const tl_svc_report *rep, const tl_client_stats *cs)
{
    uint64_t *sorted = NULL;
    size_t n = cs->latency_count;
    double rate = 0.0;

    if (n > 0) {
        sorted = malloc(n * sizeof *sorted);
        if (sorted != NULL) {
            memcpy(sorted, cs->latencies, n * sizeof *sorted);
            qsort(sorted, n, sizeof *sorted, cmp_u64);
        }
    }
    if (cs->first_send_ns != 0 && cs->last_answer_ns > cs->first_send_ns) {
        rate = (double)rep->answered * 1e9 / (double)(cs->last_answer_ns - cs->first_send_ns);
    }
    printf("pattern: %s\n", pattern);
    printf("sent: %llu\n", (unsigned long long)rep->sent);
    printf("answered: %llu\n", (unsigned long long)rep->answered);
    printf("errors: %llu\n", (unsigned long long)rep->errors);
    printf("round trips/s: %.1f\n", rate);
    if (sorted != NULL) {
        printf("latency p50: %.1f us\n", (double)percentile(sorted, n, 50) / 1e3);
        printf("latency p99: %.1f us\n", (double)percentile(sorted, n, 99) / 1e3);
        printf("latency max: %.1f us\n", (double)sorted[n - 1] / 1e3);
    } else {
        printf("latency p50: -\nlatency p99: -\nlatency max: -\n");
    }
    fflush(stdout);
    free(sorted);
}

int cli_client_main(int argc, char **argv)
{
    const char *connect = NULL;
    client_pattern pattern = PATTERN_ECHO;
    uint64_t count = 10, timeout_s = CLIENT_DEFAULT_TIMEOUT_S, concurrency = 1;
    size_t size_min = 16, size_max = 16;
    int abort_close = 0, verbose = 0, echo_check = 1;
    int rr_option = 0, echo_option = 0;
    char q[160];
    int i;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = NULL;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(client_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0) {
            verbose = 1;
            continue;
        }
        if (strcmp(arg, "--abort") == 0) {
            abort_close = 1;
            echo_option = 1;
            continue;
        }
        if (strcmp(arg, "--no-echo-check") == 0) {
            echo_check = 0;
            rr_option = 1;
            continue;
        }
        if (strcmp(arg, "--connect") != 0 && strcmp(arg, "--pattern") != 0 && strcmp(arg, "--count") != 0 &&
            strcmp(arg, "--timeout") != 0 && strcmp(arg, "--size") != 0 &&
            strcmp(arg, "--concurrency") != 0) {
            cli_error("client: unknown option '%s'; run 'tofulab client --help'",
                      cli_quote(arg, strlen(arg), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
        if (i + 1 >= argc) {
            cli_error("client: %s needs a value; run 'tofulab client --help'", arg);
            return CLI_EXIT_USAGE;
        }
        val = argv[++i];
        if (strcmp(arg, "--connect") == 0) {
            connect = val;
        } else if (strcmp(arg, "--pattern") == 0) {
            if (strcmp(val, "echo") == 0) {
                pattern = PATTERN_ECHO;
            } else if (strcmp(val, "request-response") == 0) {
                pattern = PATTERN_RR;
            } else {
                cli_error("client: unknown pattern '%s' (echo, request-response)",
                          cli_quote(val, strlen(val), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(arg, "--count") == 0) {
            if (cli_parse_u64(val, TL_RR_MAX_COUNT, &count) != 0) {
                cli_error("client: --count '%s' is not a number 0-%llu",
                          cli_quote(val, strlen(val), q, sizeof q), (unsigned long long)TL_RR_MAX_COUNT);
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(arg, "--timeout") == 0) {
            if (cli_parse_u64(val, CLIENT_MAX_TIMEOUT_S, &timeout_s) != 0 || timeout_s == 0) {
                cli_error("client: --timeout '%s' is not a number of seconds 1-%u",
                          cli_quote(val, strlen(val), q, sizeof q), CLIENT_MAX_TIMEOUT_S);
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(arg, "--size") == 0) {
            rr_option = 1;
            if (parse_size(val, &size_min, &size_max) != 0) {
                cli_error("client: --size '%s' is not MIN or MIN..MAX with 0 <= MIN <= MAX <= 65535",
                          cli_quote(val, strlen(val), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
        } else {
            rr_option = 1;
            if (cli_parse_u64(val, 65535, &concurrency) != 0 || concurrency == 0) {
                cli_error("client: --concurrency '%s' is not a number 1-65535",
                          cli_quote(val, strlen(val), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
        }
    }
    if (connect == NULL) {
        cli_error("client: no --connect address; run 'tofulab client --help'");
        return CLI_EXIT_USAGE;
    }
    {
        tl_address a;

        if (tl_address_parse(connect, strlen(connect), &a) != TL_OK ||
            (a.kind == TL_ADDR_TCP && a.port == 0)) {
            cli_error("client: bad address '%s' (expected tcp|HOST|PORT with PORT 1-65535, or uds|PATH)",
                      cli_quote(connect, strlen(connect), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
    }
    if (pattern == PATTERN_ECHO && rr_option) {
        cli_error("client: --size, --concurrency and --no-echo-check belong to --pattern request-response");
        return CLI_EXIT_USAGE;
    }
    if (pattern == PATTERN_RR && echo_option) {
        cli_error("client: --abort belongs to --pattern echo");
        return CLI_EXIT_USAGE;
    }

    {
        struct sigaction sa;

        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGPIPE, &sa, NULL);
    }

    tl_service *svc = NULL;
    int rc;
    uint64_t timeout_ns = timeout_s * 1000000000ull;
    if (pattern == PATTERN_ECHO) {
        tl_echo_client_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.connect = connect;
        cfg.count = count;
        cfg.abort = abort_close;
        cfg.timeout_ns = timeout_ns;
        rc = tl_echo_client_create(&cfg, &svc);
    } else {
        tl_rr_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.connect = connect;
        cfg.count = count;
        cfg.size_min = size_min;
        cfg.size_max = size_max;
        cfg.concurrency = (uint32_t)concurrency;
        cfg.check_echo_body = echo_check;
        cfg.timeout_ns = timeout_ns;
        rc = tl_rr_client_create(&cfg, &svc);
    }
    if (rc != TL_OK) {
        cli_error("client: %s", tl_strerror(rc));
        return rc == TL_E_INVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }

    tl_runner_options ro;
    memset(&ro, 0, sizeof ro);
    ro.verbose = verbose;
    ro.deadline_ns = timeout_ns + CLIENT_BACKSTOP_NS;
    tl_runner *runner = NULL;
    rc = tl_runner_create(&ro, &runner);
    if (rc != TL_OK) {
        svc->ops->destroy(svc);
        cli_error("client: cannot start the engine: %s", tl_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    tl_run_result res;
    memset(&res, 0, sizeof res);
    tl_runner_run(runner, &svc, 1, &res);

    tl_svc_report rep;
    tl_client_stats cs;
    svc->ops->report(svc, &rep);
    if (pattern == PATTERN_ECHO) {
        tl_echo_client_stats(svc, &cs);
    } else {
        tl_rr_client_stats(svc, &cs);
    }
    print_results(pattern == PATTERN_ECHO ? "echo" : "request-response", &rep, &cs);

    int code = CLI_EXIT_OK;
    if (res.outcome == TL_RUN_FAILED && !cs.connected && cs.connect_status == 0) {
        cli_error("client: %s", rep.first_error[0] ? rep.first_error : tl_strerror(res.error));
        code = CLI_EXIT_USAGE;
    } else if (cs.connect_status != 0) {
        cli_error("client: cannot connect to %s: %s (%u)", cli_quote(connect, strlen(connect), q, sizeof q),
                  tl_status_name(cs.connect_status), (unsigned)cs.connect_status);
        code = CLI_EXIT_USAGE;
    } else if (!cs.clean || rep.errors != 0 || rep.answered != rep.sent || res.outcome != TL_RUN_DONE) {
        if (rep.first_error[0] != '\0') {
            cli_error("client: %s", rep.first_error);
        } else if (res.outcome == TL_RUN_DEADLINE) {
            cli_error("client: no end after %llu s", (unsigned long long)timeout_s);
        } else {
            cli_error("client: %llu of %llu requests answered", (unsigned long long)rep.answered,
                      (unsigned long long)count);
        }
        code = CLI_EXIT_FAIL;
    }
    svc->ops->destroy(svc);
    tl_runner_destroy(runner);
    return code;
}
