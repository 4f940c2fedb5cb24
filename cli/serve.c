/*
 * `tofulab serve`: tofu's echo server (PROTOCOL.md section 7, patterns/echo.h)
 * on real sockets, until SIGINT or SIGTERM; with --pattern heartbeat-server,
 * the heartbeat pattern's listen role (patterns/heartbeat.h) instead.
 *
 * A peer nobody can knock over (docs/serve.md): the engine's protection
 * options (timeouts, the incomplete-frame budget, the send-queue limit) and
 * the host's (max connections, the descriptor limit) are on by default; a
 * peer that breaks a rule loses its own connection, with one line on stderr,
 * and every other connection is untouched. The echo survives bad requests
 * (TL_ECHO_SURVIVE) unless --exact asks for tofu's EchoService to the letter.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "../patterns/echo.h"
#include "../patterns/heartbeat.h"
#include "../patterns/runner_posix.h"

#define SERVE_MAX_LISTEN  64
#define SERVE_MAX_TIME_NS (86400ull * 1000000000ull) /* --interval / --timeout: at most a day */
#define SERVE_SEC         1000000000ull

/* Defaults of the limits (docs/serve.md explains each). */
#define SERVE_MAX_CONNECTIONS 4096u
#define SERVE_FD_RESERVE      32u /* descriptors kept for listeners, epoll, stdio, the spare */
#define SERVE_HANDSHAKE_NS    (10 * SERVE_SEC)
#define SERVE_IDLE_NS         (300 * SERVE_SEC)
#define SERVE_FRAME_NS        (30 * SERVE_SEC)
#define SERVE_RX_BUDGET       (16u << 20)
#define SERVE_RX_RESERVE      4096u
#define SERVE_SEND_QUEUE      (32u << 10)
#define SERVE_POOL_INITIAL    64u
#define SERVE_POOL_MAX        1024u

static const char serve_usage[] =
    "usage: tofulab serve --listen ADDR [--listen ADDR ...] [--exact] [--budget N] [LIMITS]\n"
    "             [--quiet] [--verbose]\n"
    "       tofulab serve --listen ADDR [...] --pattern heartbeat-server [--interval TIME]\n"
    "             [--timeout TIME] [LIMITS] [--quiet] [--verbose]\n"
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
    "  --exact         tofu's EchoService and MultiHomed to the letter: the 1100-echo budget\n"
    "                  (unless --budget) and the stops listed below; the conformance\n"
    "                  suite's tofu predictions hold against it. The limits stay on.\n"
    "  --budget N      stop after N regular/welcome echoes (tofu stops after 1100;\n"
    "                  default: no budget, or 1100 with --exact)\n"
    "  --quiet         no per-connection lines on stderr (counts are kept; --verbose\n"
    "                  prints them at exit)\n"
    "  --verbose       log every listener and notification on stderr, and the limits'\n"
    "                  counts at exit\n"
    "  --pattern NAME  echo (default: the echo service above) or heartbeat-server\n"
    "\n"
    "bad requests (default): a request whose echo tofu's engine would refuse\n"
    "(message_id 0 on a Request, the more flag on a HelloRequest, ByeRequest or\n"
    "ByeSignal) has its connection closed with RST and one line on stderr naming\n"
    "the connection and the rule; the server goes on. A response-role frame from a\n"
    "client is ignored; a frame with status 21 (receiver_update) is echoed.\n"
    "\n"
    "LIMITS (docs/serve.md). A connection that breaks one is closed with RST and one\n"
    "line on stderr names it and the rule ('connection 4711 (tcp 127.0.0.1:40112):\n"
    "no HelloRequest within 10 s of the accept (handshake timeout): closed'); every\n"
    "other connection is untouched. TIME is a duration (see below) or 'off'.\n"
    "  --max-connections N    accepted connections open at once (default 4096, at most\n"
    "                         the descriptor limit less 32; raised to the hard limit\n"
    "                         when needed). One more is accepted and closed at once.\n"
    "  --handshake-timeout T  no HelloRequest within T of the accept (default 10s)\n"
    "  --idle-timeout T       no byte received or sent for T (default 300s; with\n"
    "                         heartbeat-server at least twice the interval)\n"
    "  --frame-timeout T      a frame still incomplete T after its first byte (default 30s)\n"
    "  --max-text BYTES       text headers a frame may announce (default 65535)\n"
    "  --max-body BYTES       body a frame may announce (default 65535)\n"
    "  --rx-budget BYTES      bytes of incomplete frames all connections together hold\n"
    "                         beyond 4 KiB each (default 16MiB). Incomplete frames hold no\n"
    "                         pool message; a connection that needs more is not read until\n"
    "                         budget frees (its bytes wait in the kernel), except that one\n"
    "                         at a time may finish its frame beyond the budget.\n"
    "  --spin-us N            microseconds a thread waiting for a reply (or for the\n"
    "                         next message of a stream) polls the sockets before it\n"
    "                         sleeps (default 50; 0: never). A message due within\n"
    "                         them is seen at once instead of after a wake-up (tens\n"
    "                         of microseconds); backs off by itself when messages\n"
    "                         come later (docs/ARCHITECTURE.md)\n"
    "  --max-send-queue BYTES memory of replies waiting for a connection that does not\n"
    "                         read them (default 32KiB); past it the connection is not\n"
    "                         read until it reads (with the idle timeout, a peer that\n"
    "                         never reads is closed); echoes queued behind a\n"
    "                         ByeResponse are never sent (6.6): past the limit\n"
    "                         that connection is closed\n"
    "BYTES is a number with an optional unit: 65536, 64KiB, 16MiB (k, M, G: powers of 1024).\n"
    "Memory: at most about rx-budget + 128 KiB + max-connections x (4 KiB + max-send-queue\n"
    "+ 1 KiB), plus the messages in flight, whatever the peers send (about 53 MiB for\n"
    "1,000 connections with the defaults).\n"
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
    "number of seconds; 0 < TIME <= 24h. --budget and --exact belong to the echo pattern.\n"
    "\n"
    "what ends the server (nothing a peer sends does, unless --exact):\n"
    "  SIGINT or SIGTERM                    every connection closed (RST), exit 0\n"
    "  --budget N used up                   the next message ends it, exit 0\n"
    "  a listener cannot start (bad address, port in use, path not bindable, no\n"
    "    descriptor)                        exit 2, with the OS reason\n"
    "  a listener fails while running (a poller error on its socket), exit 1\n"
    "  --exact only, as tofu's echo server: a response-role frame (Response,\n"
    "    HelloResponse, ByeResponse, WelcomeResponse), a frame with status 21\n"
    "    (receiver_update), a refused echo (message_id 0 on a Request or a\n"
    "    WelcomeRequest, the more flag on HelloRequest/ByeRequest/ByeSignal), exit 1\n"
    "  the engine cannot start or runs out of memory building an echo, exit 1\n"
    "\n"
    "divergences from tofu's EchoService (without --exact): no budget unless --budget;\n"
    "a response-role frame from a client is ignored instead of stopping the server; a\n"
    "frame with status 21 (receiver_update) is echoed instead of stopping it; a refused\n"
    "echo closes its connection instead of stopping the server; an echo the reference\n"
    "engine refuses where tofu's drops it silently (a peer's WelcomeRequest, a channel\n"
    "closed meanwhile) is counted and the server goes on. Either way the limits above\n"
    "are the reference engine's (tofu has none). Unlike tofu, TCP_NODELAY is set (no\n"
    "reply waits for a delayed ACK behind an unacknowledged one; PROTOCOL.md A24).\n"
    "\n"
    "exit status: 0 stopped by a signal (or the budget was used up); 1 the service\n"
    "stopped while running (see above); 2 usage error, bad address, or a listener\n"
    "could not start.\n"
    "\n"
    "examples:\n"
    "  tofulab serve --listen 'tcp|127.0.0.1|7099'\n"
    "  tofulab serve --listen 'tcp|0.0.0.0|7099' --listen 'uds|/tmp/echo.sock' --verbose\n"
    "  tofulab serve --listen 'tcp|127.0.0.1|0'      # OS-chosen port, printed\n"
    "  tofulab serve --listen 'tcp|127.0.0.1|7099' --exact   # a tofu-exact fixture\n"
    "  tofulab serve --listen 'tcp|0.0.0.0|7099' --max-connections 10000 \\\n"
    "      --handshake-timeout 2s --idle-timeout 60s --quiet\n"
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

/* The limits, as given or defaulted. */
typedef struct {
    uint64_t max_connections;
    uint64_t handshake_ns, idle_ns, frame_ns;
    uint64_t max_text, max_body;
    uint64_t rx_budget, send_queue;
    int idle_given;
    uint64_t spin_ns; /* tl_posix_options.spin_ns: 0 = the host's default */
    int quiet;
} serve_limits;

/* One line per connection refused or closed for a rule (host and echo). */
static void serve_log_line(void *ctx, const char *line)
{
    const serve_limits *lim = ctx;

    if (lim->quiet) {
        return;
    }
    flockfile(stderr);
    fprintf(stderr, "tofulab: serve: %s\n", line);
    funlockfile(stderr);
}

/* TIME or "off" (0) for a limit. */
static int serve_parse_limit_time(const char *text, uint64_t *out)
{
    if (strcmp(text, "off") == 0 || strcmp(text, "0") == 0) {
        *out = 0;
        return 0;
    }
    return cli_parse_time(text, SERVE_MAX_TIME_NS, out);
}

/* --max-connections against the descriptor limit: raise the soft limit
 * towards the hard one when needed. Returns 0, or -1 when impossible (and
 * *have gets the most that fits). */
static int serve_fit_descriptors(uint64_t want, int given, uint64_t *have)
{
    struct rlimit rl;

    *have = want;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return 0;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want + SERVE_FD_RESERVE) {
        struct rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want + SERVE_FD_RESERVE
                              ? (rlim_t)(want + SERVE_FD_RESERVE)
                              : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            rl = raised;
        }
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want + SERVE_FD_RESERVE) {
        *have = rl.rlim_cur > SERVE_FD_RESERVE ? rl.rlim_cur - SERVE_FD_RESERVE : 1;
        return given ? -1 : 0;
    }
    return 0;
}

static void serve_engine_options(const serve_limits *lim, tl_engine_options *eo, tl_posix_options *po)
{
    memset(eo, 0, sizeof *eo);
    eo->pool_initial = SERVE_POOL_INITIAL;
    eo->pool_max = SERVE_POOL_MAX;
    eo->handshake_timeout_ns = lim->handshake_ns;
    eo->idle_timeout_ns = lim->idle_ns;
    eo->frame_timeout_ns = lim->frame_ns;
    eo->max_text = (size_t)lim->max_text;
    eo->max_body = (size_t)lim->max_body;
    eo->rx_budget = lim->rx_budget != 0 ? (size_t)lim->rx_budget : SIZE_MAX;
    eo->rx_reserve = SERVE_RX_RESERVE;
    eo->max_send_queue = (size_t)lim->send_queue;
    memset(po, 0, sizeof *po);
    po->max_connections = (uint32_t)lim->max_connections;
    po->spin_ns = lim->spin_ns;
    po->log = serve_log_line;
    po->log_ctx = (void *)lim;
}

/* --verbose at exit: what the limits did. */
static void serve_print_limits(tl_runner *runner)
{
    tl_engine_stats es;
    tl_posix_host_stats hs;
    tl_posix *host = tl_runner_host(runner);

    tl_posix_stats(host, &es);
    tl_posix_host_stats_get(host, &hs);
    fprintf(stderr,
            "tofulab: serve: connections accepted %llu (peak %u open), refused %llu (max-connections) and "
            "%llu (no descriptor); closed for handshake timeout %llu, idle timeout %llu, frame timeout %llu, "
            "op code %llu, text length %llu, body length %llu, send queue after bye %llu; reads paused for "
            "rx budget %llu (overdrafts %llu), for send queue %llu; incomplete-frame bytes peak %llu\n",
            (unsigned long long)hs.accepted, (unsigned)hs.connections_peak,
            (unsigned long long)hs.refused_max_connections, (unsigned long long)hs.refused_no_descriptor,
            (unsigned long long)es.violations[TL_RULE_HANDSHAKE_TIMEOUT],
            (unsigned long long)es.violations[TL_RULE_IDLE_TIMEOUT],
            (unsigned long long)es.violations[TL_RULE_FRAME_TIMEOUT],
            (unsigned long long)es.violations[TL_RULE_OPCODE],
            (unsigned long long)es.violations[TL_RULE_TEXT_LEN],
            (unsigned long long)es.violations[TL_RULE_BODY_LEN],
            (unsigned long long)es.violations[TL_RULE_SEND_AFTER_BYE],
            (unsigned long long)es.rx_budget_pauses, (unsigned long long)es.rx_overdrafts,
            (unsigned long long)es.send_queue_pauses, (unsigned long long)es.rx_buffered_peak);
}

int cli_serve_main(int argc, char **argv)
{
    const char *listen[SERVE_MAX_LISTEN];
    size_t listen_count = 0;
    uint64_t budget = 0;
    uint64_t interval_ns = 0, timeout_ns = 0;
    int verbose = 0, heartbeat = 0, budget_given = 0, exact = 0, max_conn_given = 0;
    serve_limits lim;
    char q[160];
    int i;

    memset(&lim, 0, sizeof lim);
    lim.max_connections = SERVE_MAX_CONNECTIONS;
    lim.handshake_ns = SERVE_HANDSHAKE_NS;
    lim.idle_ns = SERVE_IDLE_NS;
    lim.frame_ns = SERVE_FRAME_NS;
    lim.max_text = TL_MAX_TEXT_LEN;
    lim.max_body = TL_MAX_BODY_LEN;
    lim.rx_budget = SERVE_RX_BUDGET;
    lim.send_queue = SERVE_SEND_QUEUE;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(serve_usage, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0) {
            verbose = 1;
        } else if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "-q") == 0) {
            lim.quiet = 1;
        } else if (strcmp(arg, "--exact") == 0) {
            exact = 1;
        } else if (strcmp(arg, "--spin-us") == 0) {
            if (i + 1 >= argc) {
                cli_error("serve: --spin-us needs a value; run 'tofulab serve --help'");
                return CLI_EXIT_USAGE;
            }
            if (cli_parse_spin_us(argv[i + 1], &lim.spin_ns) != 0) {
                const char *v = argv[i + 1];
                cli_error("serve: --spin-us '%s' is not a number of microseconds from 0 to 1000 (0: never)",
                          cli_quote(v, strlen(v), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
            i++;
        } else if (strcmp(arg, "--listen") == 0 || strcmp(arg, "--budget") == 0 ||
                   strcmp(arg, "--pattern") == 0 || strcmp(arg, "--interval") == 0 ||
                   strcmp(arg, "--timeout") == 0 || strcmp(arg, "--max-connections") == 0 ||
                   strcmp(arg, "--handshake-timeout") == 0 || strcmp(arg, "--idle-timeout") == 0 ||
                   strcmp(arg, "--frame-timeout") == 0 || strcmp(arg, "--max-text") == 0 ||
                   strcmp(arg, "--max-body") == 0 || strcmp(arg, "--rx-budget") == 0 ||
                   strcmp(arg, "--max-send-queue") == 0) {
            const char *val;

            if (i + 1 >= argc) {
                cli_error("serve: %s needs a value; run 'tofulab serve --help'", arg);
                return CLI_EXIT_USAGE;
            }
            val = argv[++i];
            if (strcmp(arg, "--pattern") == 0) {
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
                uint64_t *dst = strcmp(arg, "--interval") == 0 ? &interval_ns : &timeout_ns;
                if (cli_parse_time(val, SERVE_MAX_TIME_NS, dst) != 0) {
                    cli_error("serve: %s '%s' is not a time like 30s, 250ms or 2m (0 < TIME <= 24h)", arg,
                              cli_quote(val, strlen(val), q, sizeof q));
                    return CLI_EXIT_USAGE;
                }
            } else if (strcmp(arg, "--handshake-timeout") == 0 || strcmp(arg, "--idle-timeout") == 0 ||
                       strcmp(arg, "--frame-timeout") == 0) {
                uint64_t *dst = strcmp(arg, "--handshake-timeout") == 0 ? &lim.handshake_ns
                                : strcmp(arg, "--idle-timeout") == 0    ? &lim.idle_ns
                                                                        : &lim.frame_ns;
                if (serve_parse_limit_time(val, dst) != 0) {
                    cli_error("serve: %s '%s' is not a time like 30s, 250ms or 2m (0 < TIME <= 24h) or 'off'",
                              arg, cli_quote(val, strlen(val), q, sizeof q));
                    return CLI_EXIT_USAGE;
                }
                lim.idle_given |= dst == &lim.idle_ns;
            } else if (strcmp(arg, "--max-text") == 0 || strcmp(arg, "--max-body") == 0) {
                uint64_t *dst = strcmp(arg, "--max-text") == 0 ? &lim.max_text : &lim.max_body;
                if (cli_parse_bytes(val, TL_MAX_BODY_LEN, dst) != 0 || *dst == 0) {
                    cli_error("serve: %s '%s' is not a byte count from 1 to 65535", arg,
                              cli_quote(val, strlen(val), q, sizeof q));
                    return CLI_EXIT_USAGE;
                }
            } else if (strcmp(arg, "--rx-budget") == 0 || strcmp(arg, "--max-send-queue") == 0) {
                uint64_t *dst = strcmp(arg, "--rx-budget") == 0 ? &lim.rx_budget : &lim.send_queue;
                if (cli_parse_bytes(val, (uint64_t)1 << 40, dst) != 0 || *dst == 0) {
                    cli_error("serve: %s '%s' is not a byte count like 65536, 64KiB or 16MiB (at least 1)",
                              arg, cli_quote(val, strlen(val), q, sizeof q));
                    return CLI_EXIT_USAGE;
                }
            } else if (strcmp(arg, "--max-connections") == 0) {
                if (cli_parse_u64(val, 1000000, &lim.max_connections) != 0 || lim.max_connections == 0) {
                    cli_error("serve: --max-connections '%s' is not a number from 1 to 1000000",
                              cli_quote(val, strlen(val), q, sizeof q));
                    return CLI_EXIT_USAGE;
                }
                max_conn_given = 1;
            } else if (strcmp(arg, "--listen") == 0) {
                if (listen_count == SERVE_MAX_LISTEN) {
                    cli_error("serve: at most %d --listen addresses", SERVE_MAX_LISTEN);
                    return CLI_EXIT_USAGE;
                }
                listen[listen_count++] = val;
            } else {
                budget_given = 1;
                if (cli_parse_u64(val, UINT64_MAX, &budget) != 0) {
                    cli_error("serve: --budget '%s' is not a number",
                              cli_quote(val, strlen(val), q, sizeof q));
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
    if (heartbeat && (budget_given || exact)) {
        cli_error("serve: %s belongs to --pattern echo", budget_given ? "--budget" : "--exact");
        return CLI_EXIT_USAGE;
    }
    if (!heartbeat && (interval_ns != 0 || timeout_ns != 0)) {
        cli_error("serve: --interval and --timeout belong to --pattern heartbeat-server");
        return CLI_EXIT_USAGE;
    }
    if (exact && !budget_given) {
        budget = TL_ECHO_TOFU_BUDGET;
    }
    if (heartbeat) {
        /* Heartbeats count as traffic: the idle timeout must outlast a period. */
        uint64_t period = interval_ns ? interval_ns : SERVE_SEC;
        if (!lim.idle_given && lim.idle_ns < 2 * period) {
            lim.idle_ns = 2 * period;
        } else if (lim.idle_ns != 0 && lim.idle_ns <= period) {
            cli_error("serve: --idle-timeout must be longer than the heartbeat --interval (or 'off')");
            return CLI_EXIT_USAGE;
        }
    }
    for (size_t k = 0; k < listen_count; k++) {
        tl_address a;

        if (cli_parse_address("serve", listen[k], &a) != 0) {
            return CLI_EXIT_USAGE;
        }
    }
    {
        uint64_t have;
        if (serve_fit_descriptors(lim.max_connections, max_conn_given, &have) != 0) {
            cli_error("serve: --max-connections %llu needs %llu file descriptors; the limit allows %llu "
                      "connections (ulimit -n)",
                      (unsigned long long)lim.max_connections,
                      (unsigned long long)(lim.max_connections + SERVE_FD_RESERVE), (unsigned long long)have);
            return CLI_EXIT_USAGE;
        }
        lim.max_connections = have;
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

    tl_engine_options eo;
    tl_posix_options po;
    serve_engine_options(&lim, &eo, &po);
    tl_runner_options ro;
    memset(&ro, 0, sizeof ro);
    ro.engine = &eo;
    ro.host = &po;
    ro.verbose = verbose;
    ro.stop_flag = &serve_stop_flag;
    ro.warn = serve_log_line;
    ro.warn_ctx = &lim;
    tl_runner *runner = NULL;
    int rc = tl_runner_create(&ro, &runner);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != TL_OK) {
        cli_error("serve: cannot start the engine: %s", tl_strerror(rc));
        return CLI_EXIT_FAIL;
    }

    if (heartbeat) {
        rc = serve_heartbeat(runner, listen, listen_count, interval_ns, timeout_ns, verbose);
        if (verbose) {
            serve_print_limits(runner);
        }
        tl_runner_destroy(runner);
        return rc;
    }

    serve_ctx sc = {runner};
    tl_echo_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.listen = listen;
    cfg.listen_count = listen_count;
    cfg.budget = budget;
    cfg.mode = exact ? TL_ECHO_EXACT : TL_ECHO_SURVIVE;
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
        /* A listener could not start (bad address, port in use, path not bindable). */
        cli_error("serve: %s", rep.first_error[0] ? rep.first_error : "a listener failed");
        code = CLI_EXIT_USAGE;
    } else {
        cli_error("serve: %s", rep.first_error[0] ? rep.first_error : "the echo service stopped");
        code = CLI_EXIT_FAIL;
    }
    if (verbose) {
        fprintf(stderr,
                "tofulab: serve: echoed %llu (requests %llu, signals %llu, hello %llu, bye %llu), "
                "responses ignored %llu, notifications %llu, channels closed %llu, closed for a refused "
                "echo %llu\n",
                (unsigned long long)st.echoed, (unsigned long long)st.echoed_requests,
                (unsigned long long)st.echoed_signals, (unsigned long long)st.echoed_hello,
                (unsigned long long)st.echoed_bye, (unsigned long long)st.responses_ignored,
                (unsigned long long)st.notifications, (unsigned long long)st.closed,
                (unsigned long long)st.closed_refused);
        serve_print_limits(runner);
    }
    svc->ops->destroy(svc);
    tl_runner_destroy(runner);
    return code;
}
