/*
 * `tofulab client`: run a client pattern (patterns/echo_client.h,
 * patterns/request_response.h) against a server, verify every reply, print
 * counts, round trips per second and latency percentiles; or the heartbeat
 * pattern's connect role (patterns/heartbeat.h) against
 * `tofulab serve --pattern heartbeat-server`.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../patterns/echo_client.h"
#include "../patterns/heartbeat.h"
#include "../patterns/request_response.h"
#include "../patterns/runner_posix.h"

#define CLIENT_DEFAULT_TIMEOUT_S 10u
#define CLIENT_MAX_TIMEOUT_S     86400u
#define CLIENT_BACKSTOP_NS       5000000000ull /* runner deadline beyond the service's own timeout */
#define CLIENT_MAX_TIME_NS       (86400ull * 1000000000ull)

static const char client_usage[] =
    "usage: tofulab client --connect ADDR [--pattern NAME] [options]\n"
    "       tofulab client --connect ADDR --pattern heartbeat [--interval TIME]\n"
    "             [--timeout TIME] [--duration TIME] [--expect-death] [--verbose]\n"
    "\n"
    "Connects to a tofu echo server (e.g. `tofulab serve`), runs a pattern, checks\n"
    "every reply and prints: pattern, sent, answered, failed, connect failures,\n"
    "reconnects, errors, round trips/s, and the p50 / p99 / max latency in\n"
    "microseconds, one 'key: value' per line.\n"
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
    "  heartbeat         against `tofulab serve --pattern heartbeat-server` (PROTOCOL.md\n"
    "                    section 10): HelloRequest, then an empty Signal every --interval;\n"
    "                    the server is declared dead after --timeout without any frame\n"
    "                    from it, or at once when the connection closes (see below)\n"
    "The other patterns of docs/patterns.md (correlation, streaming, progress,\n"
    "bidirectional, churn, close) run on the virtual network: `tofulab sim run`.\n"
    "\n"
    "options:\n"
    "  --connect ADDR        tcp|HOST|PORT or uds|PATH (quote it in shells)\n"
    "  --pattern NAME        echo (default), request-response or heartbeat (see\n"
    "                        patterns above)\n"
    "  --count N             requests (default 10; at most 10000000)\n"
    "  --timeout S           give up after S seconds (default 10)\n"
    "  --abort               echo: end with ByeSignal (local abort, as tofu's EchoClient)\n"
    "                        instead of ByeRequest\n"
    "  --size MIN[..MAX]     request-response: body bytes, 0-65535 (default 16)\n"
    "  --concurrency K       request-response: outstanding requests (default 1)\n"
    "  --no-echo-check       request-response: do not check the echo service's body\n"
    "  --verbose             log the client's steps on stderr\n"
    "  --spin-us N           microseconds a thread waiting for a reply (or for the next\n"
    "                        message of a stream) polls the socket before it sleeps\n"
    "                        (default 50; 0: never; docs/ARCHITECTURE.md)\n"
    "\n"
    "heartbeat options (TIME: a number with a unit ns us ms s m h, e.g. 30s, 250ms, 2m,\n"
    "or a bare number of seconds; 0 < TIME <= 24h):\n"
    "  --interval TIME       heartbeat period (default 1s)\n"
    "  --timeout TIME        silence after which the server is declared dead (default\n"
    "                        3 x interval); here not the give-up time of echo /\n"
    "                        request-response\n"
    "  --duration TIME       run this long, then leave with ByeRequest / ByeResponse\n"
    "                        (default: until the server is declared dead, or SIGINT /\n"
    "                        SIGTERM)\n"
    "  --expect-death        the server is expected to die: end as soon as it is declared\n"
    "                        dead; --duration, if given, is then the longest wait\n"
    "prints 'key: value' lines: pattern, interval, timeout, heartbeats sent, heartbeats\n"
    "received, suspicions, false suspicions (declared dead, then heard again), deaths\n"
    "detected, detected by (silence, connection closed or -), detection latency (from\n"
    "the last frame heard from the server to the declaration; the server died after\n"
    "that frame was sent, so this bounds the time from its death), connect failures,\n"
    "reconnects, errors, elapsed\n"
    "(times in seconds, on the client's clock: CLOCK_MONOTONIC, which libfaketime\n"
    "speeds up).\n"
    "\n"
    "connection options (every pattern; TIME as above):\n"
    "  --hello-timeout TIME  give a connection attempt up when its HelloResponse has not\n"
    "                        come within TIME (default 30s; heartbeat: the larger of 30s\n"
    "                        and --timeout): the channel is aborted and counted in\n"
    "                        'connect failures'; without --reconnect the client ends\n"
    "  --reconnect           when the connection fails (connect failure, hello timeout,\n"
    "                        connection closed; heartbeat: also the server declared dead)\n"
    "                        connect again after a backoff and go on: requests that\n"
    "                        failed stay counted failed and are sent again, so 'sent'\n"
    "                        may exceed --count ('reconnects' counts the new connections;\n"
    "                        exit 0 needs all --count answered)\n"
    "  --reconnect-delay TIME  the first backoff (default 1s), doubled after each failed\n"
    "                        attempt; each wait is drawn from [backoff/2, backoff]\n"
    "  --reconnect-max TIME  the backoff's cap (default 30s)\n"
    "  --reconnects N        reconnect at most N times (default: no limit)\n"
    "  --reply-timeout TIME  echo, request-response: while waiting for the server (a\n"
    "                        request outstanding, or the ByeResponse), nothing from it\n"
    "                        for TIME gives the connection up (its requests fail; with\n"
    "                        --reconnect it connects again); default off\n"
    "\n"
    "exit status: 0 every reply arrived and passed its checks; 1 a check failed or a\n"
    "request was not answered in time; 2 usage error, bad address, or the server\n"
    "could not be reached (the connect failed, with the OS reason, or the server closed\n"
    "the connection before its HelloResponse: refused).\n"
    "heartbeat: with --expect-death, 0 when the server was declared dead with a\n"
    "detection latency of at most interval + timeout, no false suspicion and no protocol\n"
    "error, else 1 (no death before --duration, too late, or stopped by a signal);\n"
    "without it, 0 when the run ended (--duration, SIGINT or SIGTERM) with the server\n"
    "never suspected and no protocol error, else 1. 2 as above.\n"
    "\n"
    "examples:\n"
    "  tofulab client --connect 'tcp|127.0.0.1|7099' --pattern echo --count 100\n"
    "  tofulab client --connect 'uds|/tmp/echo.sock' --pattern request-response \\\n"
    "      --count 10000 --size 16..4096 --concurrency 32\n"
    "  tofulab client --connect 'uds|/tmp/hb.sock' --pattern heartbeat \\\n"
    "      --interval 30s --timeout 60s --expect-death\n";

typedef enum { PATTERN_ECHO = 0, PATTERN_RR = 1, PATTERN_HB = 2 } client_pattern;

static volatile sig_atomic_t client_stop_flag;
/* Host options (--spin-us); zero: the host's defaults. */
static tl_posix_options client_host;

static void client_on_signal(int sig)
{
    (void)sig;
    client_stop_flag = 1;
}

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
    printf("failed: %llu\n", (unsigned long long)rep->failed);
    printf("connect failures: %llu\n", (unsigned long long)rep->connect_failures);
    printf("reconnects: %llu\n", (unsigned long long)rep->reconnects);
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

static void print_seconds(const char *key, uint64_t ns)
{
    printf("%s: %llu.%03llu s\n", key, (unsigned long long)(ns / 1000000000ull),
           (unsigned long long)(ns % 1000000000ull / 1000000ull));
}

/* --pattern heartbeat: the connect role of patterns/heartbeat.h; exit status
 * as client_usage says. */
static int client_heartbeat(const char *connect, uint64_t interval_ns, uint64_t timeout_ns,
                            uint64_t duration_ns, int expect_death, const tl_client_connection *conn,
                            int verbose)
{
    tl_heartbeat_config cfg;
    tl_heartbeat_stats st;
    tl_svc_report rep;
    tl_service *svc = NULL;
    tl_runner *runner = NULL;
    tl_runner_options ro;
    tl_run_result res;
    struct sigaction sa;
    sigset_t block, old;
    uint64_t start, elapsed, bound;
    char q[160];
    int rc, code = CLI_EXIT_OK;

    memset(&cfg, 0, sizeof cfg);
    cfg.address = connect;
    cfg.interval_ns = interval_ns;
    cfg.timeout_ns = timeout_ns;
    cfg.stop_ns = duration_ns;
    cfg.finish_on_death = expect_death;
    cfg.conn = *conn;
    rc = tl_heartbeat_create(&cfg, &svc);
    if (rc != TL_OK) {
        cli_error("client: %s", tl_strerror(rc));
        return rc == TL_E_INVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    /* The effective values (defaults filled in by the service). */
    interval_ns = interval_ns ? interval_ns : 1000000000ull;
    timeout_ns = timeout_ns ? timeout_ns : 3 * interval_ns;
    bound = interval_ns + timeout_ns;

    /* SIGINT / SIGTERM end the run; only this thread takes them (the host's
     * reactor thread inherits the blocked mask). */
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = client_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);

    memset(&ro, 0, sizeof ro);
    ro.verbose = verbose;
    ro.stop_flag = &client_stop_flag;
    ro.host = &client_host;
    /* Backstop: the Bye of --duration gets one more timeout (+5 s) to finish. */
    ro.deadline_ns = duration_ns != 0 ? duration_ns + timeout_ns + CLIENT_BACKSTOP_NS : 0;
    rc = tl_runner_create(&ro, &runner);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != TL_OK) {
        svc->ops->destroy(svc);
        cli_error("client: cannot start the engine: %s", tl_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    memset(&res, 0, sizeof res);
    start = tl_runner_now_ns();
    tl_runner_run(runner, &svc, 1, &res);
    elapsed = tl_runner_now_ns() - start;

    svc->ops->report(svc, &rep);
    tl_heartbeat_stats_get(svc, &st);
    printf("pattern: heartbeat\n");
    print_seconds("interval", interval_ns);
    print_seconds("timeout", timeout_ns);
    printf("heartbeats sent: %llu\n", (unsigned long long)rep.sent);
    printf("heartbeats received: %llu\n", (unsigned long long)rep.signals);
    printf("suspicions: %llu\n", (unsigned long long)st.suspicions);
    printf("false suspicions: %llu\n", (unsigned long long)st.false_suspicions);
    printf("deaths detected: %llu\n", (unsigned long long)st.deaths);
    if (st.suspicions != 0) {
        printf("detected by: %s\n", st.by_transport != 0 ? "connection closed" : "silence");
        print_seconds("detection latency", st.last_latency_ns);
    } else {
        printf("detected by: -\ndetection latency: -\n");
    }
    printf("connect failures: %llu\n", (unsigned long long)rep.connect_failures);
    printf("reconnects: %llu\n", (unsigned long long)rep.reconnects);
    printf("errors: %llu\n", (unsigned long long)rep.errors);
    print_seconds("elapsed", elapsed);
    fflush(stdout);

    if (st.peers == 0) {
        /* No HelloResponse: the server could not be reached. */
        if (res.outcome == TL_RUN_STOPPED) {
            cli_error("client: stopped before %s answered", cli_quote(connect, strlen(connect), q, sizeof q));
            code = CLI_EXIT_FAIL;
        } else {
            cli_error("client: cannot connect to '%s'%s%s", cli_quote(connect, strlen(connect), q, sizeof q),
                      rep.first_error[0] ? ": " : "", rep.first_error);
            code = CLI_EXIT_USAGE;
        }
    } else if (rep.errors != 0) {
        cli_error("client: %s", rep.first_error);
        code = CLI_EXIT_FAIL;
    } else if (st.false_suspicions != 0) {
        cli_error("client: %llu false suspicion(s): the server was declared dead, then heard again",
                  (unsigned long long)st.false_suspicions);
        code = CLI_EXIT_FAIL;
    } else if (expect_death) {
        if (st.deaths == 0) {
            cli_error("client: the server's death was expected, none detected%s",
                      res.outcome == TL_RUN_STOPPED ? " (stopped by a signal)" : "");
            code = CLI_EXIT_FAIL;
        } else if (st.last_latency_ns > bound) {
            cli_error("client: death detected %llu ms after the last frame heard, more than interval + "
                      "timeout (%llu ms)",
                      (unsigned long long)(st.last_latency_ns / 1000000u),
                      (unsigned long long)(bound / 1000000u));
            code = CLI_EXIT_FAIL;
        }
    } else if (st.suspicions != 0) {
        cli_error("client: the server was declared dead (%s)",
                  st.by_transport != 0 ? "connection closed" : "silence");
        code = CLI_EXIT_FAIL;
    } else if (res.outcome == TL_RUN_DEADLINE) {
        cli_error("client: the Bye after --duration did not finish");
        code = CLI_EXIT_FAIL;
    }
    svc->ops->destroy(svc);
    tl_runner_destroy(runner);
    return code;
}

int cli_client_main(int argc, char **argv)
{
    const char *connect = NULL;
    client_pattern pattern = PATTERN_ECHO;
    uint64_t count = 10, timeout_s = CLIENT_DEFAULT_TIMEOUT_S, concurrency = 1;
    size_t size_min = 16, size_max = 16;
    int abort_close = 0, verbose = 0, echo_check = 1;
    int rr_option = 0, echo_option = 0, hb_option = 0, count_given = 0, expect_death = 0;
    uint64_t interval_ns = 0, hb_timeout_ns = 0, duration_ns = 0;
    const char *timeout_text = NULL;
    tl_client_connection conn;
    char q[160];
    int i;

    memset(&conn, 0, sizeof conn);
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
        if (strcmp(arg, "--spin-us") == 0) {
            if (i + 1 >= argc) {
                cli_error("client: --spin-us needs a value; run 'tofulab client --help'");
                return CLI_EXIT_USAGE;
            }
            if (cli_parse_spin_us(argv[i + 1], &client_host.spin_ns) != 0) {
                cli_error("client: --spin-us '%s' is not a number of microseconds from 0 to 1000 (0: never)",
                          cli_quote(argv[i + 1], strlen(argv[i + 1]), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
            i++;
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
        if (strcmp(arg, "--expect-death") == 0) {
            expect_death = 1;
            hb_option = 1;
            continue;
        }
        if (strcmp(arg, "--reconnect") == 0) {
            conn.reconnect = 1;
            continue;
        }
        if (strcmp(arg, "--hello-timeout") == 0 || strcmp(arg, "--reconnect-delay") == 0 ||
            strcmp(arg, "--reconnect-max") == 0 || strcmp(arg, "--reconnects") == 0 ||
            strcmp(arg, "--reply-timeout") == 0) {
            uint64_t *field = strcmp(arg, "--hello-timeout") == 0     ? &conn.hello_timeout_ns
                              : strcmp(arg, "--reconnect-delay") == 0 ? &conn.reconnect_delay_ns
                              : strcmp(arg, "--reconnect-max") == 0   ? &conn.reconnect_max_ns
                              : strcmp(arg, "--reply-timeout") == 0   ? &conn.reply_timeout_ns
                                                                      : &conn.reconnects;

            if (i + 1 >= argc) {
                cli_error("client: %s needs a value; run 'tofulab client --help'", arg);
                return CLI_EXIT_USAGE;
            }
            val = argv[++i];
            if (field == &conn.reconnects ? cli_parse_u64(val, UINT32_MAX, field) != 0
                                          : cli_parse_time(val, CLIENT_MAX_TIME_NS, field) != 0) {
                cli_error(field == &conn.reconnects ? "client: %s '%s' is not a number 0-4294967295"
                                                    : "client: %s '%s' is not a time like 30s, 250ms or 2m "
                                                      "(0 < TIME <= 24h)",
                          arg, cli_quote(val, strlen(val), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
            continue;
        }
        if (strcmp(arg, "--connect") != 0 && strcmp(arg, "--pattern") != 0 && strcmp(arg, "--count") != 0 &&
            strcmp(arg, "--timeout") != 0 && strcmp(arg, "--size") != 0 &&
            strcmp(arg, "--concurrency") != 0 && strcmp(arg, "--interval") != 0 &&
            strcmp(arg, "--duration") != 0) {
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
            } else if (strcmp(val, "heartbeat") == 0) {
                pattern = PATTERN_HB;
            } else {
                cli_error("client: unknown pattern '%s' (echo, request-response, heartbeat)",
                          cli_quote(val, strlen(val), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(arg, "--interval") == 0 || strcmp(arg, "--duration") == 0) {
            hb_option = 1;
            if (cli_parse_time(val, CLIENT_MAX_TIME_NS,
                               strcmp(arg, "--interval") == 0 ? &interval_ns : &duration_ns) != 0) {
                cli_error("client: %s '%s' is not a time like 30s, 250ms or 2m (0 < TIME <= 24h)", arg,
                          cli_quote(val, strlen(val), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(arg, "--count") == 0) {
            count_given = 1;
            if (cli_parse_u64(val, TL_RR_MAX_COUNT, &count) != 0) {
                cli_error("client: --count '%s' is not a number 0-%llu",
                          cli_quote(val, strlen(val), q, sizeof q), (unsigned long long)TL_RR_MAX_COUNT);
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(arg, "--timeout") == 0) {
            timeout_text = val; /* seconds, or a TIME with --pattern heartbeat: parsed below */
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

        if (cli_parse_address("client", connect, &a) != 0) {
            return CLI_EXIT_USAGE;
        }
        if (a.kind == TL_ADDR_TCP && a.port == 0) {
            cli_error("client: bad address: port 0 out of range 1-65535 in '%s'",
                      cli_quote(connect, strlen(connect), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
    }
    if (timeout_text != NULL) {
        const char *val = timeout_text;

        if (pattern == PATTERN_HB) {
            if (cli_parse_time(val, CLIENT_MAX_TIME_NS, &hb_timeout_ns) != 0) {
                cli_error("client: --timeout '%s' is not a time like 60s, 500ms or 2m (0 < TIME <= 24h)",
                          cli_quote(val, strlen(val), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
        } else if (cli_parse_u64(val, CLIENT_MAX_TIMEOUT_S, &timeout_s) != 0 || timeout_s == 0) {
            cli_error("client: --timeout '%s' is not a number of seconds 1-%u",
                      cli_quote(val, strlen(val), q, sizeof q), CLIENT_MAX_TIMEOUT_S);
            return CLI_EXIT_USAGE;
        }
    }
    if (pattern != PATTERN_HB && hb_option) {
        cli_error("client: --interval, --duration and --expect-death belong to --pattern heartbeat");
        return CLI_EXIT_USAGE;
    }
    if (pattern == PATTERN_HB && (rr_option || echo_option || count_given)) {
        cli_error("client: --count, --abort, --size, --concurrency and --no-echo-check do not apply to "
                  "--pattern heartbeat");
        return CLI_EXIT_USAGE;
    }
    if (pattern == PATTERN_HB && conn.reply_timeout_ns != 0) {
        cli_error("client: --reply-timeout does not apply to --pattern heartbeat (its --timeout watches the "
                  "server)");
        return CLI_EXIT_USAGE;
    }
    if (pattern == PATTERN_HB) {
        return client_heartbeat(connect, interval_ns, hb_timeout_ns, duration_ns, expect_death, &conn,
                                verbose);
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
        cfg.conn = conn;
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
        cfg.conn = conn;
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
    ro.host = &client_host;
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
    } else if (cs.connect_status != 0 && !cs.connected) {
        char why[128];
        if (tl_posix_channel_error(tl_runner_host(runner), cs.channel, why, sizeof why)) {
            cli_error("client: cannot connect to '%s': %s (%s)",
                      cli_quote(connect, strlen(connect), q, sizeof q), why,
                      tl_status_name(cs.connect_status));
        } else {
            cli_error("client: cannot connect to '%s': %s (%u)",
                      cli_quote(connect, strlen(connect), q, sizeof q), tl_status_name(cs.connect_status),
                      (unsigned)cs.connect_status);
        }
        code = CLI_EXIT_USAGE;
    } else if (!cs.connected && cs.closed && !cs.timed_out) {
        /* Connected, then closed before any HelloResponse: the server refused
         * us (e.g. `tofulab serve` at --max-connections): unreachable. */
        cli_error("client: '%s' closed the connection before its HelloResponse (refused)",
                  cli_quote(connect, strlen(connect), q, sizeof q));
        code = CLI_EXIT_USAGE;
    } else if (!cs.connected && rep.connect_failures != 0 && rep.errors == 0) {
        /* No HelloResponse within --hello-timeout: the server could not be reached. */
        cli_error("client: no HelloResponse from %s (%llu connection attempt(s) failed)",
                  cli_quote(connect, strlen(connect), q, sizeof q), (unsigned long long)rep.connect_failures);
        code = CLI_EXIT_USAGE;
    } else if (!cs.clean || rep.errors != 0 || rep.answered != (conn.reconnect ? count : rep.sent) ||
               res.outcome != TL_RUN_DONE) {
        /* With --reconnect, failed requests were sent again: success is every
         * one of the --count answered. */
        if (rep.first_error[0] != '\0') {
            cli_error("client: %s", rep.first_error);
        } else if (res.outcome == TL_RUN_DEADLINE) {
            cli_error("client: no end after %llu s", (unsigned long long)timeout_s);
        } else {
            cli_error("client: %llu of %llu requests answered, %llu failed (channel closed)",
                      (unsigned long long)rep.answered, (unsigned long long)count,
                      (unsigned long long)rep.failed);
        }
        code = CLI_EXIT_FAIL;
    }
    svc->ops->destroy(svc);
    tl_runner_destroy(runner);
    return code;
}
