/*
 * `tofulab serve`: tofu's echo server (PROTOCOL.md section 7, patterns/echo.h)
 * on real sockets, until SIGINT or SIGTERM; with --pattern heartbeat-server,
 * the heartbeat pattern's listen role (patterns/heartbeat.h) instead.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../patterns/echo.h"
#include "../patterns/heartbeat.h"
#include "../patterns/runner_posix.h"

#define SERVE_MAX_LISTEN  64
#define SERVE_MAX_TIME_NS (86400ull * 1000000000ull) /* --interval / --timeout: at most a day */

static const char serve_usage[] =
    "usage: tofulab serve --listen ADDR [--listen ADDR ...] [--budget N] [--verbose]\n"
    "       tofulab serve --listen ADDR [...] --pattern heartbeat-server [--interval TIME]\n"
    "             [--timeout TIME] [--verbose]\n"
    "\n"
    "Runs tofu's echo service (PROTOCOL.md section 7) on the reference engine: every\n"
    "request is answered with its echo op code (Request->Response, HelloRequest->\n"
    "HelloResponse, ByeRequest->ByeResponse), signals come back unchanged, text\n"
    "headers are kept and the body becomes the 16-byte little-endian copy of the\n"
    "message's header. Prints one line 'listening on ADDR' per listener once it is\n"
    "ready (with the bound port when ADDR asked for port 0), then runs until SIGINT\n"
    "or SIGTERM and exits 0.\n"
    "\n"
    "options:\n"
    "  --listen ADDR   listen address, tcp|HOST|PORT or uds|PATH (repeatable, at most 64);\n"
    "                  quote it in shells, '|' is a pipe there\n"
    "  --budget N      stop after N regular/welcome echoes (tofu stops after 1100;\n"
    "                  default: no budget)\n"
    "  --verbose       log every listener and notification on stderr\n"
    "  --pattern NAME  echo (default: the echo service above) or heartbeat-server\n"
    "\n"
    "heartbeat-server (the Heartbeat pattern, PROTOCOL.md section 10, patterns/heartbeat.h):\n"
    "instead of echoing, every HelloRequest is answered (HelloResponse) and its client\n"
    "becomes a peer; every --interval the server sends each peer an empty Signal (id 0)\n"
    "and declares a peer dead after --timeout without any frame from it, or at once when\n"
    "its connection closes; a peer declared dead and then heard again is a false\n"
    "suspicion; a client that leaves with ByeRequest is not counted dead. Use it with\n"
    "`tofulab client --pattern heartbeat`. Runs until SIGINT or SIGTERM, then prints\n"
    "'key: value' lines on stdout: pattern, peers, heartbeats sent, heartbeats\n"
    "received, suspicions, false suspicions, deaths detected, errors.\n"
    "  --interval TIME heartbeat period (default 1s)\n"
    "  --timeout TIME  silence after which a peer is declared dead (default 3 x interval)\n"
    "TIME is a number with a unit (ns, us, ms, s, m, h: 30s, 1.5s, 250ms, 2m) or a bare\n"
    "number of seconds; 0 < TIME <= 24h. --budget belongs to the echo pattern.\n"
    "\n"
    "divergences from tofu's EchoService: no budget unless --budget; a response-role\n"
    "frame from a client is ignored instead of stopping the server; a frame with\n"
    "status 21 (receiver_update) is echoed instead of stopping it; an echo the\n"
    "reference engine refuses where tofu's drops it silently (a peer's\n"
    "WelcomeRequest, a channel closed meanwhile) is counted and the server goes on.\n"
    "Like tofu, TCP_NODELAY is not set (pipelined replies may wait for delayed ACKs).\n"
    "\n"
    "exit status: 0 stopped by a signal (or the budget was used up); 1 the service\n"
    "failed while running; 2 usage error, bad address, or a listener failed (e.g. the\n"
    "port is in use).\n"
    "\n"
    "examples:\n"
    "  tofulab serve --listen 'tcp|127.0.0.1|7099'\n"
    "  tofulab serve --listen 'tcp|0.0.0.0|7099' --listen 'uds|/tmp/echo.sock' --verbose\n"
    "  tofulab serve --listen 'tcp|127.0.0.1|0'      # OS-chosen port, printed\n"
    "  tofulab serve --listen 'uds|/tmp/hb.sock' --pattern heartbeat-server \\\n"
    "      --interval 30s --timeout 60s\n";

static volatile sig_atomic_t serve_stop_flag;

static void serve_on_signal(int sig)
{
    (void)sig;
    serve_stop_flag = 1;
}

typedef struct {
    tl_runner *runner;
} serve_ctx;

static void serve_on_listening(void *ctx, const char *address, uint16_t channel)
{
    serve_ctx *sc = ctx;
    tl_address a;
    char text[TL_ADDR_TEXT_MAX];

    /* Port 0: print the port the OS chose, so callers can connect. */
    if (tl_address_parse(address, strlen(address), &a) == TL_OK && a.kind == TL_ADDR_TCP && a.port == 0) {
        a.port = tl_posix_listener_port(tl_runner_host(sc->runner), channel);
        if (tl_address_format(&a, text, sizeof text) > 0) {
            address = text;
        }
    }
    printf("listening on %s\n", address);
    fflush(stdout);
}

static int serve_install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = serve_on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        return -1;
    }
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

/* --pattern heartbeat-server: one heartbeat service (listen role) per
 * listener, each on its own runner thread, until SIGINT / SIGTERM. */
static int serve_heartbeat(tl_runner *runner, const char *const *listen, size_t listen_count,
                           uint64_t interval_ns, uint64_t timeout_ns, int verbose)
{
    tl_service *svcs[SERVE_MAX_LISTEN];
    tl_run_result res[SERVE_MAX_LISTEN];
    serve_ctx sc = {runner};
    tl_heartbeat_stats total, st;
    tl_svc_report rep;
    uint64_t sent = 0, received = 0, errors = 0;
    size_t listening = 0, k;
    char first_error[sizeof rep.first_error] = "";
    int code = CLI_EXIT_OK, failed = 0, rc = TL_OK;

    memset(svcs, 0, sizeof svcs);
    memset(res, 0, sizeof res);
    for (k = 0; k < listen_count; k++) {
        tl_heartbeat_config cfg;

        memset(&cfg, 0, sizeof cfg);
        cfg.address = listen[k];
        cfg.listen = 1;
        cfg.interval_ns = interval_ns;
        cfg.timeout_ns = timeout_ns;
        cfg.on_listening = serve_on_listening;
        cfg.ctx = &sc;
        rc = tl_heartbeat_create(&cfg, &svcs[k]);
        if (rc != TL_OK) {
            break;
        }
    }
    if (rc != TL_OK) {
        cli_error("serve: %s", tl_strerror(rc));
        for (k = 0; k < listen_count; k++) {
            if (svcs[k] != NULL) {
                svcs[k]->ops->destroy(svcs[k]);
            }
        }
        return CLI_EXIT_FAIL;
    }
    tl_runner_run(runner, svcs, listen_count, res);

    memset(&total, 0, sizeof total);
    for (k = 0; k < listen_count; k++) {
        tl_heartbeat_stats_get(svcs[k], &st);
        svcs[k]->ops->report(svcs[k], &rep);
        total.peers += st.peers;
        total.suspicions += st.suspicions;
        total.false_suspicions += st.false_suspicions;
        total.deaths += st.deaths;
        total.by_transport += st.by_transport;
        listening += st.listening ? 1u : 0u;
        sent += rep.sent;
        received += rep.signals;
        errors += rep.errors;
        if (res[k].outcome != TL_RUN_STOPPED) {
            failed = 1;
            if (first_error[0] == '\0') {
                memcpy(first_error, rep.first_error, sizeof first_error);
            }
        }
    }
    if (failed) {
        if (listening < listen_count) {
            /* A listener failed (bad address, port in use, path not bindable). */
            cli_error("serve: %s", first_error[0] ? first_error : "a listener failed");
            code = CLI_EXIT_USAGE;
        } else {
            cli_error("serve: %s", first_error[0] ? first_error : "the heartbeat service stopped");
            code = CLI_EXIT_FAIL;
        }
    }
    if (code == CLI_EXIT_OK) {
        printf("pattern: heartbeat-server\n");
        printf("peers: %llu\n", (unsigned long long)total.peers);
        printf("heartbeats sent: %llu\n", (unsigned long long)sent);
        printf("heartbeats received: %llu\n", (unsigned long long)received);
        printf("suspicions: %llu\n", (unsigned long long)total.suspicions);
        printf("false suspicions: %llu\n", (unsigned long long)total.false_suspicions);
        printf("deaths detected: %llu\n", (unsigned long long)total.deaths);
        printf("errors: %llu\n", (unsigned long long)errors);
        fflush(stdout);
    }
    if (verbose) {
        fprintf(stderr,
                "tofulab: serve: heartbeat-server: %llu peers, %llu of the declarations at channel_closed\n",
                (unsigned long long)total.peers, (unsigned long long)total.by_transport);
    }
    for (k = 0; k < listen_count; k++) {
        svcs[k]->ops->destroy(svcs[k]);
    }
    return code;
}

int cli_serve_main(int argc, char **argv)
{
    const char *listen[SERVE_MAX_LISTEN];
    size_t listen_count = 0;
    uint64_t budget = 0;
    uint64_t interval_ns = 0, timeout_ns = 0;
    int verbose = 0, heartbeat = 0, budget_given = 0;
    char q[160];
    int i;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(serve_usage, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0) {
            verbose = 1;
        } else if (strcmp(arg, "--listen") == 0 || strcmp(arg, "--budget") == 0 ||
                   strcmp(arg, "--pattern") == 0 || strcmp(arg, "--interval") == 0 ||
                   strcmp(arg, "--timeout") == 0) {
            if (i + 1 >= argc) {
                cli_error("serve: %s needs a value; run 'tofulab serve --help'", arg);
                return CLI_EXIT_USAGE;
            }
            if (strcmp(arg, "--pattern") == 0) {
                const char *val = argv[++i];
                if (strcmp(val, "echo") == 0) {
                    heartbeat = 0;
                } else if (strcmp(val, "heartbeat-server") == 0) {
                    heartbeat = 1;
                } else {
                    cli_error("serve: unknown pattern '%s' (echo, heartbeat-server)",
                              cli_quote(val, strlen(val), q, sizeof q));
                    return CLI_EXIT_USAGE;
                }
            } else if (strcmp(arg, "--interval") == 0 || strcmp(arg, "--timeout") == 0) {
                const char *val = argv[++i];
                uint64_t *dst = strcmp(arg, "--interval") == 0 ? &interval_ns : &timeout_ns;
                if (cli_parse_time(val, SERVE_MAX_TIME_NS, dst) != 0) {
                    cli_error("serve: %s '%s' is not a time like 30s, 250ms or 2m (0 < TIME <= 24h)", arg,
                              cli_quote(val, strlen(val), q, sizeof q));
                    return CLI_EXIT_USAGE;
                }
            } else if (strcmp(arg, "--listen") == 0) {
                if (listen_count == SERVE_MAX_LISTEN) {
                    cli_error("serve: at most %d --listen addresses", SERVE_MAX_LISTEN);
                    return CLI_EXIT_USAGE;
                }
                listen[listen_count++] = argv[++i];
            } else {
                budget_given = 1;
                if (cli_parse_u64(argv[++i], UINT64_MAX, &budget) != 0) {
                    cli_error("serve: --budget '%s' is not a number",
                              cli_quote(argv[i], strlen(argv[i]), q, sizeof q));
                    return CLI_EXIT_USAGE;
                }
            }
        } else {
            cli_error("serve: unknown option '%s'; run 'tofulab serve --help'",
                      cli_quote(arg, strlen(arg), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
    }
    if (listen_count == 0) {
        cli_error("serve: no --listen address; run 'tofulab serve --help'");
        return CLI_EXIT_USAGE;
    }
    if (heartbeat && budget_given) {
        cli_error("serve: --budget belongs to --pattern echo");
        return CLI_EXIT_USAGE;
    }
    if (!heartbeat && (interval_ns != 0 || timeout_ns != 0)) {
        cli_error("serve: --interval and --timeout belong to --pattern heartbeat-server");
        return CLI_EXIT_USAGE;
    }
    for (size_t k = 0; k < listen_count; k++) {
        tl_address a;

        if (tl_address_parse(listen[k], strlen(listen[k]), &a) != TL_OK) {
            cli_error("serve: bad address '%s' (expected tcp|HOST|PORT or uds|PATH)",
                      cli_quote(listen[k], strlen(listen[k]), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
    }

    /* Signals go to this thread only: block them while the host starts its
     * reactor thread (it inherits the mask), then unblock here. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    if (serve_install_signals() != 0) {
        cli_error("serve: cannot install signal handlers");
        return CLI_EXIT_FAIL;
    }

    tl_runner_options ro;
    memset(&ro, 0, sizeof ro);
    ro.verbose = verbose;
    ro.stop_flag = &serve_stop_flag;
    tl_runner *runner = NULL;
    int rc = tl_runner_create(&ro, &runner);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != TL_OK) {
        cli_error("serve: cannot start the engine: %s", tl_strerror(rc));
        return CLI_EXIT_FAIL;
    }

    if (heartbeat) {
        rc = serve_heartbeat(runner, listen, listen_count, interval_ns, timeout_ns, verbose);
        tl_runner_destroy(runner);
        return rc;
    }

    serve_ctx sc = {runner};
    tl_echo_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.listen = listen;
    cfg.listen_count = listen_count;
    cfg.budget = budget;
    cfg.on_listening = serve_on_listening;
    cfg.ctx = &sc;
    tl_service *svc = NULL;
    rc = tl_echo_service_create(&cfg, &svc);
    if (rc != TL_OK) {
        tl_runner_destroy(runner);
        cli_error("serve: %s", tl_strerror(rc));
        return CLI_EXIT_FAIL;
    }

    tl_run_result res;
    memset(&res, 0, sizeof res);
    tl_runner_run(runner, &svc, 1, &res);

    tl_echo_stats st;
    tl_svc_report rep;
    tl_echo_stats_get(svc, &st);
    svc->ops->report(svc, &rep);
    int code = CLI_EXIT_OK;
    if (res.outcome == TL_RUN_STOPPED) {
        code = CLI_EXIT_OK;
    } else if (st.budget_exhausted) {
        cli_error("serve: budget of %llu echoes used up; stopped", (unsigned long long)budget);
        code = CLI_EXIT_OK;
    } else if (st.listening < listen_count) {
        /* A listener failed (bad address, port in use, path not bindable). */
        cli_error("serve: %s", rep.first_error[0] ? rep.first_error : "a listener failed");
        code = CLI_EXIT_USAGE;
    } else {
        cli_error("serve: %s", rep.first_error[0] ? rep.first_error : "the echo service stopped");
        code = CLI_EXIT_FAIL;
    }
    if (verbose) {
        fprintf(stderr,
                "tofulab: serve: echoed %llu (requests %llu, signals %llu, hello %llu, bye %llu), "
                "responses ignored %llu, notifications %llu, channels closed %llu\n",
                (unsigned long long)st.echoed, (unsigned long long)st.echoed_requests,
                (unsigned long long)st.echoed_signals, (unsigned long long)st.echoed_hello,
                (unsigned long long)st.echoed_bye, (unsigned long long)st.responses_ignored,
                (unsigned long long)st.notifications, (unsigned long long)st.closed);
    }
    svc->ops->destroy(svc);
    tl_runner_destroy(runner);
    return code;
}
