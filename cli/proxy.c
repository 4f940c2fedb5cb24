/*
 * `tofulab proxy`: a tofu-aware fault proxy between a client and a server
 * on real sockets (hosts/proxy.h, docs/proxy.md), with a timeline and an
 * HTTP control API compatible with toxiproxy's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "../hosts/proxy.h"
#include "../hosts/proxy_http.h"
#include "../sim/scenario.h"

#define PROXY_MAX_TIME_NS (86400ull * 1000000000ull * 365ull)
#define PROXY_MAX_ITEMS   256

static const char proxy_usage[] =
    "usage: tofulab proxy --listen ADDR --upstream ADDR [--fault WORDS]... [--at 'TIME WORDS']...\n"
    "                     [--at-file FILE] [--seed N] [--trace FILE] [--pcap FILE] [--api ADDR]\n"
    "                     [--name NAME] [--duration TIME] [--quiet]\n"
    "\n"
    "Forwards tofu connections from ADDR to the upstream server and puts them under\n"
    "faults. Every byte of both directions is read with the engine's frame reader, so\n"
    "faults can aim at frames (hold every ByeResponse, cut inside frame 3's header) and\n"
    "the trace says which frame was in flight. TCP or Unix sockets on either side (the\n"
    "proxy also bridges them). Prints 'proxy NAME: LISTEN -> UPSTREAM' once ready (the\n"
    "bound port when LISTEN asked for port 0), runs until SIGINT/SIGTERM or --duration,\n"
    "then prints a line of counters.\n"
    "\n"
    "options:\n"
    "  --listen ADDR     where clients connect: tcp|HOST|PORT, uds|PATH or HOST:PORT\n"
    "                    (port 0: a free port, printed); quote it, '|' is a shell pipe\n"
    "  --upstream ADDR   the tofu server: tcp|HOST|PORT, uds|PATH or HOST:PORT\n"
    "  --fault WORDS     a fault from the start (repeatable); see FAULTS\n"
    "  --at 'TIME WORDS' a fault or an action TIME after the start (repeatable)\n"
    "  --at-file FILE    a timeline: one 'at TIME WORDS' a line ('#' comments), the\n"
    "                    way scenario files write their faults\n"
    "  --seed N          seed of every random choice: jitter, loss, slice sizes,\n"
    "                    toxicity (default 1); the same seed gives the same choices\n"
    "  --trace FILE      a line per frame (time, route, connection, direction, op code,\n"
    "                    channel, id, more, status, thl, bl, byte offset) and per\n"
    "                    connection and fault event; '-' = standard output\n"
    "  --pcap FILE       each connection as one TCP stream (client <-> server), as\n"
    "                    forwarded, for Wireshark or tshark\n"
    "  --api ADDR        serve the control API on HOST:PORT (toxiproxy's is 8474;\n"
    "                    port 0: a free one, printed); see API\n"
    "  --name NAME       the route's name in the API, trace and log (default tofu)\n"
    "  --duration TIME   stop after TIME (default: until SIGINT or SIGTERM)\n"
    "  --quiet           no informational lines on stderr\n"
    "\n"
    "FAULTS (--fault, --at, the API's /faults). Each applies to both directions unless\n"
    "a direction word is among the words: client->server (or upstream, c>s) or\n"
    "server->client (downstream, s>c). A fault stands until healed and applies to open\n"
    "and new connections; name=NAME names it (for 'remove NAME'), toxicity=P% applies\n"
    "it to that share of connections (drawn from --seed).\n"
    "  delay TIME [JITTER]     latency, as netem and the simulator's links; with\n"
    "  jitter TIME             distribution uniform|normal|pareto|paretonormal\n"
    "  rate RATE               bandwidth: bit kbit mbit gbit, bps kbps mbps gbps\n"
    "  loss P% | loss gemodel P% [R% [1-H% [1-K%]]]\n"
    "                          loss on a stream is its effect: a chunk (1448 bytes) is\n"
    "                          held back for a retransmission timeout, 200 ms doubled\n"
    "                          at each further loss (up to 15, 120 s at most)\n"
    "  corrupt P%              a chunk gets one byte flipped\n"
    "  slice N | slice A..B    write in pieces of N (or A..B) bytes, one write each\n"
    "  slice at header,text,body,boundaries,N,...\n"
    "                          cut every frame inside the header (after byte 8), at\n"
    "                          header/text (16), text/body (16+thl), or at byte N\n"
    "  slice ... delay TIME    pause between pieces\n"
    "  stall TIME frame N [byte B]\n"
    "                          forwarding stops for TIME when frame N's byte B (default\n"
    "                          its middle) comes, sockets open\n"
    "  blackhole               silent death: nothing forwarded, no FIN, no RST; bytes\n"
    "                          wait in the proxy and the kernels until healed\n"
    "  timeout TIME            toxiproxy's timeout: data dropped, connection closed after\n"
    "                          TIME (0: never)\n"
    "  reset-peer [TIME]       RST both sides TIME after the fault meets a connection\n"
    "  slow-close TIME         a FIN or RST is relayed TIME late\n"
    "  limit-data SIZE         close the connection after SIZE bytes (64k, 1m)\n"
    "  delay OP[,OP...] TIME   before each frame of those op codes the stream waits TIME\n"
    "  hold OP[,OP...]         frames of those op codes are withheld until healed (the\n"
    "                          frames after them go on)\n"
    "                          OP: Request Response Signal HelloRequest HelloResponse\n"
    "                          ByeRequest ByeResponse ByeSignal WelcomeRequest\n"
    "                          WelcomeResponse, or heartbeat (an empty Signal)\n"
    "  cut after N             RST both sides after frame N of the direction\n"
    "  cut frame N [byte B]    RST both sides after B bytes of frame N (default: middle)\n"
    "  inject OP [channel=N] [id=N] [status=S] [origin=engine] [more]\n"
    "         [header=NAME:VALUE]... [body=TEXT] [body-hex=HEX] [after N]\n"
    "  inject hex=FRAME [after N]\n"
    "                          a frame inserted at the next frame boundary (after frame\n"
    "                          N of each connection, with 'after')\n"
    "  down                    the route is down: listener and connections closed\n"
    "Actions, done once: reset (RST both sides of every open connection), stall TIME\n"
    "(open connections stop forwarding for TIME), inject ... without 'after' (into\n"
    "open connections), remove NAME, heal (every fault ends: faults removed, stalls\n"
    "end, held frames and queued bytes go now, the route is up).\n"
    "\n"
    "API (--api): toxiproxy's HTTP API for its toxics (latency, bandwidth, slicer,\n"
    "timeout, reset_peer, slow_close, limit_data; down = POST /proxies/NAME with\n"
    "enabled false): GET/POST /proxies, POST /populate, GET/POST/PATCH/DELETE\n"
    "/proxies/NAME, GET/POST /proxies/NAME/toxics, GET/POST/PATCH/DELETE\n"
    "/proxies/NAME/toxics/TOXIC, POST /reset, GET /version. tofu's own: POST\n"
    "/proxies/NAME/faults with fault or action words as the body; a toxic of any of\n"
    "our words with the attribute \"fault\"; GET /proxies/NAME/connections (frames in\n"
    "flight per direction); GET /proxies/NAME/stats; POST /heal.\n"
    "\n"
    "TIME is a number with a unit (ns, us, ms, s, m, h) or a bare number of seconds.\n"
    "Bad words are refused with the column; malformed frames from either side are\n"
    "logged with their byte offset and forwarded unchanged.\n"
    "\n"
    "exit status: 0 stopped (signal or --duration); 2 usage error, bad address, bad\n"
    "fault words, or a listener that cannot listen.\n"
    "\n"
    "examples:\n"
    "  tofulab proxy --listen 'tcp|127.0.0.1|7100' --upstream 'tcp|127.0.0.1|7099' \\\n"
    "      --fault 'delay 50ms jitter 10ms distribution normal' --trace -\n"
    "  tofulab proxy --listen 'tcp|127.0.0.1|7100' --upstream 'uds|/tmp/echo.sock' \\\n"
    "      --fault 'slice 1' --fault 'hold ByeResponse server->client'\n"
    "  tofulab proxy --listen 'tcp|127.0.0.1|7100' --upstream 'tcp|127.0.0.1|7099' \\\n"
    "      --at '10s blackhole client->server' --at '20s heal' --seed 7\n"
    "  tofulab proxy --listen 'tcp|127.0.0.1|7100' --upstream 'tcp|127.0.0.1|7099' \\\n"
    "      --fault 'stall 3s frame 2 byte 20 client->server' --pcap run.pcap\n"
    "  tofulab proxy --listen 127.0.0.1:26379 --upstream 127.0.0.1:7099 --api 127.0.0.1:8474\n"
    "  curl -X POST 127.0.0.1:8474/proxies/tofu/toxics \\\n"
    "      -d '{\"type\":\"latency\",\"stream\":\"downstream\",\"attributes\":{\"latency\":100}}'\n"
    "  curl -X POST 127.0.0.1:8474/proxies/tofu/faults -d 'cut frame 3 byte 8 client->server'\n";

typedef struct {
    uint64_t t;
    char words[600];
    char where[300]; /* for errors: "--at '...'" or "FILE:LINE" */
} at_item;

static int is_help(const char *a) { return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0; }

/* "TIME WORDS..." -> t and the words. */
static int split_at(const char *text, uint64_t *t, char *words, size_t cap, size_t *col)
{
    const char *p = text;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    const char *e = p;
    while (*e && *e != ' ' && *e != '\t') {
        e++;
    }
    char tbuf[64];
    size_t n = (size_t)(e - p);
    *col = (size_t)(p - text) + 1;
    if (n == 0 || n >= sizeof tbuf) {
        return -1;
    }
    memcpy(tbuf, p, n);
    tbuf[n] = '\0';
    uint64_t v;
    if (cli_parse_u64(tbuf, UINT64_MAX / 1000000000ull, &v) == 0) {
        v *= 1000000000ull;
    } else if (scn_parse_time(tbuf, n, &v) != 0) {
        return -1;
    }
    *t = v;
    while (*e == ' ' || *e == '\t') {
        e++;
    }
    *col = (size_t)(e - text) + 1;
    snprintf(words, cap, "%s", e);
    return 0;
}

static int load_at_file(const char *path, at_item *items, size_t *n)
{
    FILE *f = fopen(path, "r");
    char line[700];
    unsigned ln = 0;
    if (f == NULL) {
        cli_error("--at-file %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        ln++;
        line[strcspn(line, "\r\n")] = '\0';
        char *hash = strchr(line, '#');
        if (hash != NULL) {
            *hash = '\0';
        }
        char *p = line;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p == '\0') {
            continue;
        }
        if (strncmp(p, "at ", 3) != 0 && strncmp(p, "at\t", 3) != 0) {
            cli_error("%s:%u:%u: expected 'at TIME WORDS'", path, ln, (unsigned)(p - line) + 1);
            fclose(f);
            return -1;
        }
        if (*n == PROXY_MAX_ITEMS) {
            cli_error("%s:%u: expected at most %d timeline lines", path, ln, PROXY_MAX_ITEMS);
            fclose(f);
            return -1;
        }
        at_item *it = &items[*n];
        size_t col;
        if (split_at(p + 3, &it->t, it->words, sizeof it->words, &col) != 0) {
            cli_error("%s:%u:%u: expected a time with a unit (e.g. 10s, 250ms)", path, ln,
                      (unsigned)(p + 3 - line + 1));
            fclose(f);
            return -1;
        }
        snprintf(it->where, sizeof it->where, "%s:%u", path, ln);
        (*n)++;
    }
    fclose(f);
    return 0;
}

int cli_proxy_main(int argc, char **argv)
{
    const char *listen = NULL, *upstream = NULL, *name = "tofu", *trace_path = NULL, *pcap_path = NULL;
    const char *api = NULL;
    const char *faults[PROXY_MAX_ITEMS];
    size_t nfaults = 0, nat = 0;
    static at_item ats[PROXY_MAX_ITEMS];
    uint64_t seed = 1, duration = 0;
    int quiet = 0;
    char q[120];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (is_help(a)) {
            fputs(proxy_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(a, "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (v == NULL) {
            cli_error("proxy: %s needs a value; run 'tofulab proxy --help'",
                      cli_quote(a, strlen(a), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
        i++;
        if (strcmp(a, "--listen") == 0) {
            listen = v;
        } else if (strcmp(a, "--upstream") == 0) {
            upstream = v;
        } else if (strcmp(a, "--name") == 0) {
            name = v;
        } else if (strcmp(a, "--trace") == 0) {
            trace_path = v;
        } else if (strcmp(a, "--pcap") == 0) {
            pcap_path = v;
        } else if (strcmp(a, "--api") == 0) {
            api = v;
        } else if (strcmp(a, "--seed") == 0) {
            if (cli_parse_u64(v, UINT64_MAX, &seed) != 0) {
                cli_error("proxy: --seed: expected a whole number, got '%s'",
                          cli_quote(v, strlen(v), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--duration") == 0) {
            if (cli_parse_time(v, PROXY_MAX_TIME_NS, &duration) != 0) {
                cli_error("proxy: --duration: expected a time (e.g. 30s, 2m), got '%s'",
                          cli_quote(v, strlen(v), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--fault") == 0) {
            if (nfaults == PROXY_MAX_ITEMS) {
                cli_error("proxy: at most %d --fault options", PROXY_MAX_ITEMS);
                return CLI_EXIT_USAGE;
            }
            faults[nfaults++] = v;
        } else if (strcmp(a, "--at") == 0) {
            size_t col;
            if (nat == PROXY_MAX_ITEMS) {
                cli_error("proxy: at most %d timeline entries", PROXY_MAX_ITEMS);
                return CLI_EXIT_USAGE;
            }
            if (split_at(v, &ats[nat].t, ats[nat].words, sizeof ats[nat].words, &col) != 0) {
                cli_error(
                    "proxy: --at '%s': column 1: expected 'TIME WORDS' with a time such as 10s or 250ms",
                    cli_quote(v, strlen(v), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
            snprintf(ats[nat].where, sizeof ats[nat].where, "--at '%s'",
                     cli_quote(v, strlen(v), q, sizeof q));
            nat++;
        } else if (strcmp(a, "--at-file") == 0) {
            if (load_at_file(v, ats, &nat) != 0) {
                return CLI_EXIT_USAGE;
            }
        } else {
            cli_error("proxy: unknown option '%s'; run 'tofulab proxy --help'",
                      cli_quote(a, strlen(a), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
    }
    if (listen == NULL || upstream == NULL) {
        cli_error("proxy: --listen and --upstream are required; run 'tofulab proxy --help'");
        return CLI_EXIT_USAGE;
    }
    /* every word is checked before anything listens */
    char err[300];
    for (size_t i = 0; i < nfaults; i++) {
        tl_px_fault f[2];
        if (tl_px_fault_parse(faults[i], f, err, sizeof err) < 0) {
            cli_error("proxy: --fault '%s': %s", cli_quote(faults[i], strlen(faults[i]), q, sizeof q), err);
            return CLI_EXIT_USAGE;
        }
    }
    for (size_t i = 0; i < nat; i++) {
        tl_px_fault f[2];
        if (tl_px_fault_parse(ats[i].words, f, err, sizeof err) < 0) {
            cli_error("proxy: %s: %s", ats[i].where, err);
            return CLI_EXIT_USAGE;
        }
    }

    FILE *trace = NULL, *pcap = NULL;
    if (trace_path != NULL &&
        (trace = cli_open_out(trace_path, "w", "--trace %s: cannot open", trace_path)) == NULL) {
        return CLI_EXIT_USAGE;
    }
    if (pcap_path != NULL &&
        (pcap = cli_open_out(pcap_path, "wb", "--pcap %s: cannot open", pcap_path)) == NULL) {
        cli_close_out(trace);
        return CLI_EXIT_USAGE;
    }
    if (pcap != NULL) {
        tl_sim_pcap_header(pcap);
    }

    /* signals: blocked in every thread, waited for here */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    tl_proxy_options po;
    memset(&po, 0, sizeof po);
    po.seed = seed;
    po.trace = trace;
    po.pcap = pcap;
    po.quiet = quiet;
    tl_proxy *px = NULL;
    tl_proxy_http *http = NULL;
    int rc = CLI_EXIT_OK;
    if (tl_proxy_create(&po, &px) != TL_OK) {
        cli_error("proxy: out of memory");
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    int r = tl_proxy_route_add(px, name, listen, upstream, 1, err, sizeof err);
    if (r != TL_OK) {
        cli_error("proxy: %s", err);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    for (size_t i = 0; i < nfaults; i++) {
        if (tl_proxy_apply_text(px, name, faults[i], err, sizeof err) != TL_OK) {
            cli_error("proxy: --fault '%s': %s", cli_quote(faults[i], strlen(faults[i]), q, sizeof q), err);
            rc = CLI_EXIT_USAGE;
            goto out;
        }
    }
    if (tl_proxy_start(px) != TL_OK) {
        cli_error("proxy: cannot start its thread");
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    for (size_t i = 0; i < nat; i++) {
        if (tl_proxy_at(px, ats[i].t, name, ats[i].words, err, sizeof err) != TL_OK) {
            cli_error("proxy: %s: %s", ats[i].where, err);
            rc = CLI_EXIT_USAGE;
            goto out;
        }
    }
    if (api != NULL) {
        if (tl_proxy_http_start(px, api, &http, err, sizeof err) != TL_OK) {
            cli_error("proxy: --api: %s", err);
            rc = CLI_EXIT_USAGE;
            goto out;
        }
    }
    char bound[320];
    tl_proxy_route_listen(px, name, bound, sizeof bound);
    printf("proxy %s: %s -> %s\n", name, bound, upstream);
    if (http != NULL) {
        printf("api: http://127.0.0.1:%u\n", (unsigned)tl_proxy_http_port(http));
    }
    fflush(stdout);

    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct timespec ts = {0, 200000000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            break;
        }
        if (duration) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            uint64_t el = (uint64_t)(now.tv_sec - start.tv_sec) * 1000000000ull + (uint64_t)now.tv_nsec -
                          (uint64_t)start.tv_nsec;
            if (el >= duration) {
                break;
            }
        }
        if (trace != NULL) {
            fflush(trace);
        }
    }
    tl_proxy_stats st;
    tl_proxy_get_stats(px, NULL, &st);
    if (!quiet) {
        fprintf(
            stderr,
            "proxy %s: %llu connections (%llu upstream failures), frames c>s %llu s>c %llu, bytes c>s %llu "
            "s>c %llu, dropped %llu, held %llu, injected %llu, resets %llu, malformed %llu\n",
            name, (unsigned long long)st.connections, (unsigned long long)st.upstream_failures,
            (unsigned long long)st.frames[0], (unsigned long long)st.frames[1],
            (unsigned long long)st.bytes_out[0], (unsigned long long)st.bytes_out[1],
            (unsigned long long)(st.dropped[0] + st.dropped[1]), (unsigned long long)st.held,
            (unsigned long long)st.injected, (unsigned long long)st.resets, (unsigned long long)st.malformed);
    }
out:
    tl_proxy_http_stop(http);
    tl_proxy_destroy(px);
    cli_close_out(trace);
    cli_close_out(pcap);
    return rc;
}
