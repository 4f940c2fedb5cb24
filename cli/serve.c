/*
 * `tofulab serve`: tofu's echo server (PROTOCOL.md section 7, patterns/echo.h)
 * on real sockets, until SIGINT or SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../patterns/echo.h"
#include "../patterns/runner_posix.h"

#define SERVE_MAX_LISTEN 64

static const char serve_usage[] =
    "usage: tofulab serve --listen ADDR [--listen ADDR ...] [--budget N] [--verbose]\n"
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
    "  tofulab serve --listen 'tcp|127.0.0.1|0'      # OS-chosen port, printed\n";

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

int cli_serve_main(int argc, char **argv)
{
    const char *listen[SERVE_MAX_LISTEN];
    size_t listen_count = 0;
    uint64_t budget = 0;
    int verbose = 0;
    char q[160];
    int i;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(serve_usage, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0) {
            verbose = 1;
        } else if (strcmp(arg, "--listen") == 0 || strcmp(arg, "--budget") == 0) {
            if (i + 1 >= argc) {
                cli_error("serve: %s needs a value; run 'tofulab serve --help'", arg);
                return CLI_EXIT_USAGE;
            }
            if (strcmp(arg, "--listen") == 0) {
                if (listen_count == SERVE_MAX_LISTEN) {
                    cli_error("serve: at most %d --listen addresses", SERVE_MAX_LISTEN);
                    return CLI_EXIT_USAGE;
                }
                listen[listen_count++] = argv[++i];
            } else if (cli_parse_u64(argv[++i], UINT64_MAX, &budget) != 0) {
                cli_error("serve: --budget '%s' is not a number",
                          cli_quote(argv[i], strlen(argv[i]), q, sizeof q));
                return CLI_EXIT_USAGE;
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
