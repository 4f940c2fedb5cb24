/*
 * Engine benchmarks over real sockets (issue: reference engine, item 6):
 *   rr/<tcp|uds>        request/response round trips/s, one outstanding request,
 *                       against a raw-socket ping-pong of the same frame bytes
 *   stream/64B-<t>      one-way messages/s of 64-byte bodies, against a raw
 *                       socket streaming the same frame bytes
 *   stream/64KiB-<t>    one-way GB/s of 65535-byte bodies, same baseline
 * Two tl_posix engines in one process (each with its reactor thread), one
 * application thread each, as a tofu client and server would run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "tofulab/posix.h"

#define RR_BODY 64u

typedef struct {
    int uds;
    char addr[160];
    char path[108];
} transport;

/* ------------------------------------------------------------ raw sockets */

static int raw_listen(transport *t, int *port)
{
    int fd;
    if (t->uds) {
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", t->path);
        unlink(t->path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 8) != 0) {
            return -1;
        }
        return fd;
    }
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static int raw_connect(transport *t, int port)
{
    int fd;
    if (t->uds) {
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", t->path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            return -1;
        }
        return fd;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        return -1;
    }
    return fd;
}

static int read_full(int fd, uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_full(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

typedef struct {
    int fd;
    size_t frame; /* bytes per message */
    long count;   /* messages */
    int echo;     /* 1: ping-pong server, 0: sink */
} raw_peer;

static void *raw_server(void *arg)
{
    raw_peer *p = arg;
    int c = accept(p->fd, NULL, NULL);
    uint8_t *buf = malloc(p->echo ? p->frame : 1 << 20);
    if (c >= 0 && buf) {
        if (p->echo) {
            for (long i = 0; i < p->count; i++) {
                if (read_full(c, buf, p->frame) != 0 || write_full(c, buf, p->frame) != 0) {
                    break;
                }
            }
        } else {
            size_t total = p->frame * (size_t)p->count;
            while (total > 0) {
                ssize_t n = read(c, buf, total < (1u << 20) ? total : (1u << 20));
                if (n <= 0) {
                    break;
                }
                total -= (size_t)n;
            }
        }
    }
    free(buf);
    if (c >= 0) {
        close(c);
    }
    return NULL;
}

/* Raw ping-pong: round trips/s of `frame` bytes each way. */
static double raw_rr(transport *t, size_t frame, long count)
{
    int port = 0;
    int lfd = raw_listen(t, &port);
    if (lfd < 0) {
        return 0;
    }
    raw_peer srv = {lfd, frame, count, 1};
    pthread_t th;
    pthread_create(&th, NULL, raw_server, &srv);
    int fd = raw_connect(t, port);
    uint8_t *buf = calloc(1, frame);
    double t0 = bench_now();
    long done = 0;
    for (; fd >= 0 && done < count; done++) {
        if (write_full(fd, buf, frame) != 0 || read_full(fd, buf, frame) != 0) {
            break;
        }
    }
    double dt = bench_now() - t0;
    free(buf);
    if (fd >= 0) {
        close(fd);
    }
    pthread_join(th, NULL);
    close(lfd);
    if (t->uds) {
        unlink(t->path);
    }
    return done / dt;
}

/* Raw one-way stream: messages/s of `frame`-byte messages written in 64 KiB batches. */
static double raw_stream(transport *t, size_t frame, long count)
{
    int port = 0;
    int lfd = raw_listen(t, &port);
    if (lfd < 0) {
        return 0;
    }
    raw_peer srv = {lfd, frame, count, 0};
    pthread_t th;
    pthread_create(&th, NULL, raw_server, &srv);
    int fd = raw_connect(t, port);
    size_t batch = frame >= 65536 ? frame : (65536 / frame) * frame;
    uint8_t *buf = calloc(1, batch);
    size_t total = frame * (size_t)count;
    double t0 = bench_now();
    while (fd >= 0 && total > 0) {
        size_t n = total < batch ? total : batch;
        if (write_full(fd, buf, n) != 0) {
            break;
        }
        total -= n;
    }
    pthread_join(th, NULL);
    double dt = bench_now() - t0;
    free(buf);
    if (fd >= 0) {
        close(fd);
    }
    close(lfd);
    if (t->uds) {
        unlink(t->path);
    }
    return count / dt;
}

/* ---------------------------------------------------------------- engine */

typedef struct {
    tl_posix *p;
    uint32_t group;
    long count; /* messages the server expects (stream) */
    int echo;   /* 1: echo Requests as Responses; 0: count and drop */
    long got;
} engine_server;

static void *engine_server_loop(void *arg)
{
    engine_server *s = arg;
    for (;;) {
        tl_message *m = NULL;
        if (tl_posix_wait_receive(s->p, s->group, 5 * TL_WAIT_SECOND, &m) != TL_OK) {
            break;
        }
        unsigned op = tl_proto_opcode(m->hdr.proto);
        if (tl_proto_origin_engine(m->hdr.proto)) {
            tl_posix_put(s->p, &m);
            if (s->echo == 0 && s->got >= s->count) {
                break;
            }
            continue;
        }
        if (op == TL_OP_HELLO_REQUEST) {
            tl_msg_set_opcode(m, TL_OP_HELLO_RESPONSE);
            tl_posix_post(s->p, s->group, &m, NULL);
        } else if (op == TL_OP_REQUEST && s->echo) {
            tl_msg_set_opcode(m, TL_OP_RESPONSE);
            tl_posix_post(s->p, s->group, &m, NULL);
        } else if (op == TL_OP_SIGNAL) {
            s->got++;
        } else if (op == TL_OP_BYE_REQUEST) {
            tl_msg_set_opcode(m, TL_OP_BYE_RESPONSE);
            tl_posix_post(s->p, s->group, &m, NULL);
            if (!s->echo) {
                break;
            }
        }
        tl_posix_put(s->p, &m);
        if (!s->echo && s->got >= s->count) {
            break;
        }
    }
    return NULL;
}

typedef struct {
    tl_posix *srv, *cli;
    uint32_t sg, cg;
    uint16_t ch;
    engine_server es;
    pthread_t th;
} engine_pair;

static tl_message *wait_for(tl_posix *p, uint32_t g, unsigned op)
{
    for (;;) {
        tl_message *m = NULL;
        if (tl_posix_wait_receive(p, g, 5 * TL_WAIT_SECOND, &m) != TL_OK) {
            return NULL;
        }
        if (tl_proto_opcode(m->hdr.proto) == op && !tl_proto_origin_engine(m->hdr.proto)) {
            return m;
        }
        tl_posix_put(p, &m);
    }
}

static int pair_open(engine_pair *ep, transport *t, int echo, long count)
{
    tl_engine_options opt;
    memset(&opt, 0, sizeof opt);
    opt.pool_initial = 64;
    opt.pool_max = 4096;
    memset(ep, 0, sizeof *ep);
    if (tl_posix_create(&opt, &ep->srv) != TL_OK || tl_posix_create(&opt, &ep->cli) != TL_OK) {
        return -1;
    }
    tl_posix_group_create(ep->srv, &ep->sg);
    tl_posix_group_create(ep->cli, &ep->cg);
    tl_message *m = NULL;
    tl_post_out out;
    tl_posix_get(ep->srv, TL_GET_ALWAYS, &m);
    const char *listen_addr = t->uds ? t->addr : "tcp|127.0.0.1|0";
    if (tl_msg_set_address(m, TL_OP_WELCOME_REQUEST, listen_addr) != TL_OK ||
        tl_posix_post(ep->srv, ep->sg, &m, &out) != TL_OK) {
        return -1;
    }
    m = wait_for(ep->srv, ep->sg, TL_OP_WELCOME_RESPONSE);
    if (m == NULL) {
        return -1;
    }
    tl_posix_put(ep->srv, &m);
    char connect_addr[160];
    if (t->uds) {
        snprintf(connect_addr, sizeof connect_addr, "%s", t->addr);
    } else {
        snprintf(connect_addr, sizeof connect_addr, "tcp|127.0.0.1|%u",
                 (unsigned)tl_posix_listener_port(ep->srv, out.hdr.channel));
    }
    ep->es.p = ep->srv;
    ep->es.group = ep->sg;
    ep->es.echo = echo;
    ep->es.count = count;
    pthread_create(&ep->th, NULL, engine_server_loop, &ep->es);
    tl_posix_get(ep->cli, TL_GET_ALWAYS, &m);
    if (tl_msg_set_address(m, TL_OP_HELLO_REQUEST, connect_addr) != TL_OK ||
        tl_posix_post(ep->cli, ep->cg, &m, &out) != TL_OK) {
        return -1;
    }
    ep->ch = out.hdr.channel;
    m = wait_for(ep->cli, ep->cg, TL_OP_HELLO_RESPONSE);
    if (m == NULL) {
        return -1;
    }
    tl_posix_put(ep->cli, &m);
    return 0;
}

static void pair_close(engine_pair *ep)
{
    tl_message *m = NULL;
    tl_posix_get(ep->cli, TL_GET_ALWAYS, &m);
    m->hdr.proto = TL_OP_BYE_REQUEST;
    m->hdr.channel = ep->ch;
    if (tl_posix_post(ep->cli, ep->cg, &m, NULL) == TL_OK) {
        m = wait_for(ep->cli, ep->cg, TL_OP_BYE_RESPONSE);
        tl_posix_put(ep->cli, &m);
    } else {
        tl_posix_put(ep->cli, &m);
    }
    pthread_join(ep->th, NULL);
    tl_posix_destroy(ep->cli);
    tl_posix_destroy(ep->srv);
}

static double engine_rr(transport *t, long count)
{
    engine_pair ep;
    if (pair_open(&ep, t, 1, 0) != 0) {
        return 0;
    }
    static uint8_t body[RR_BODY];
    double t0 = bench_now();
    long done = 0;
    for (; done < count; done++) {
        tl_message *m = NULL;
        tl_posix_get(ep.cli, TL_GET_ALWAYS, &m);
        m->hdr.proto = TL_OP_REQUEST;
        m->hdr.channel = ep.ch;
        m->hdr.message_id = (uint64_t)done + 1;
        tl_msg_body_set(m, body, sizeof body);
        if (tl_posix_post(ep.cli, ep.cg, &m, NULL) != TL_OK) {
            tl_posix_put(ep.cli, &m);
            break;
        }
        m = wait_for(ep.cli, ep.cg, TL_OP_RESPONSE);
        if (m == NULL) {
            break;
        }
        tl_posix_put(ep.cli, &m);
    }
    double dt = bench_now() - t0;
    pair_close(&ep);
    return done / dt;
}

static double engine_stream(transport *t, size_t body_len, long count)
{
    engine_pair ep;
    if (pair_open(&ep, t, 0, count) != 0) {
        return 0;
    }
    uint8_t *body = calloc(1, body_len);
    double t0 = bench_now();
    long sent = 0;
    for (; sent < count; sent++) {
        tl_message *m = NULL;
        tl_posix_get(ep.cli, TL_GET_ALWAYS, &m);
        m->hdr.proto = TL_OP_SIGNAL;
        m->hdr.channel = ep.ch;
        m->hdr.message_id = (uint64_t)sent + 1;
        tl_msg_body_set(m, body, body_len);
        if (tl_posix_post(ep.cli, ep.cg, &m, NULL) != TL_OK) {
            tl_posix_put(ep.cli, &m);
            break;
        }
        /* Keep the client's queue bounded the way an application would:
         * returned messages are recycled by the engine after sending. */
    }
    pthread_join(ep.th, NULL); /* the server counted every message */
    double dt = bench_now() - t0;
    long got = ep.es.got;
    free(body);
    /* The server loop has ended: no Bye, just close both engines. */
    tl_posix_destroy(ep.cli);
    tl_posix_destroy(ep.srv);
    return got == count ? count / dt : 0;
}

/* ------------------------------------------------- tofulab serve memory */

/* VmHWM (peak resident set) of a process, in KiB; -1 if unknown. */
static long peak_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
        }
    }
    fclose(f);
    return kib;
}

/* Start `tofulab serve` on a TCP port; returns its pid and the port. */
static pid_t serve_start(const char *bin, int *port)
{
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execl(bin, bin, "serve", "--listen", "tcp|127.0.0.1|0", (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    FILE *f = fdopen(pipefd[0], "r");
    char line[256];
    *port = 0;
    if (f && fgets(line, sizeof line, f)) {
        char *bar = strrchr(line, '|');
        *port = bar ? atoi(bar + 1) : 0;
    }
    if (f) {
        fclose(f);
    }
    return pid;
}

/* A frame: Hello or Request with a 64-byte body. */
static size_t make_frame(uint8_t *out, unsigned op, uint64_t id, int hello)
{
    static const char hdr[] = "~connect_to:tcp|127.0.0.1|7099\r\n";
    uint8_t body[RR_BODY] = {0};
    tl_header h = {1, (uint8_t)op, 0, id, 0, 0};
    return (size_t)tl_frame_encode(&h, (const uint8_t *)hdr, hello ? sizeof hdr - 1 : 0, body, sizeof body,
                                   out, 512);
}

static int serve_memory(const char *bin, int clients, long *idle_kib, long *peak_kib)
{
    int port = 0;
    pid_t pid = serve_start(bin, &port);
    if (pid <= 0 || port == 0) {
        return -1;
    }
    *idle_kib = peak_rss_kib(pid);
    transport t;
    memset(&t, 0, sizeof t);
    int *fds = calloc((size_t)clients, sizeof *fds);
    uint8_t frame[512], reply[1024];
    int ok = 0;
    for (int c = 0; c < clients; c++) {
        fds[c] = raw_connect(&t, port);
        size_t n = make_frame(frame, TL_OP_HELLO_REQUEST, 1, 1);
        if (fds[c] < 0 || write_full(fds[c], frame, n) != 0) {
            continue;
        }
        /* HelloResponse: header + 32-byte address header + 16-byte body. */
        if (read_full(fds[c], reply, TL_HEADER_SIZE + 32 + 16) != 0) {
            continue;
        }
        for (uint64_t id = 2; id < 12; id++) {
            n = make_frame(frame, TL_OP_REQUEST, id, 0);
            if (write_full(fds[c], frame, n) != 0 || read_full(fds[c], reply, TL_HEADER_SIZE + 16) != 0) {
                break;
            }
        }
        ok++;
    }
    *peak_kib = peak_rss_kib(pid);
    for (int c = 0; c < clients; c++) {
        if (fds[c] >= 0) {
            close(fds[c]);
        }
    }
    free(fds);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return ok == clients ? 0 : -1;
}

/* ------------------------------------------------------------------ cases */

static void transport_init(transport *t, int uds)
{
    memset(t, 0, sizeof t[0]);
    t->uds = uds;
    if (uds) {
        snprintf(t->path, sizeof t->path, "/tmp/tofulab-bench-%ld.sock", (long)getpid());
        snprintf(t->addr, sizeof t->addr, "uds|%s", t->path);
    }
}

static void ratio_row(const char *name, double value, double baseline, const char *unit)
{
    printf("%-22s %14.0f %9s %12.0f %8.2fx  (%s; baseline: raw socket)\n", name, value, "-", baseline,
           baseline > 0 ? value / baseline : 0.0, unit);
    fflush(stdout);
}

int bench_engine_run(const bench_options *opt)
{
    long rr_count = opt->quick ? 5000 : 20000;
    long small_count = opt->quick ? 200000 : 1000000;
    long big_count = opt->quick ? 2000 : 10000;
    int runs = opt->quick ? 1 : 3;
    for (int uds = 0; uds <= 1; uds++) {
        transport t;
        transport_init(&t, uds);
        const char *tn = uds ? "uds" : "tcp";
        char name[64];
        double e[5], r[5];

        snprintf(name, sizeof name, "engine/rr-%s", tn);
        if (bench_selected(opt, name)) {
            for (int i = 0; i < runs; i++) {
                r[i] = raw_rr(&t, TL_HEADER_SIZE + RR_BODY, rr_count);
                e[i] = engine_rr(&t, rr_count);
            }
            ratio_row(name, bench_median(e, runs), bench_median(r, runs), "round trips/s");
        }
        snprintf(name, sizeof name, "engine/stream64-%s", tn);
        if (bench_selected(opt, name)) {
            for (int i = 0; i < runs; i++) {
                r[i] = raw_stream(&t, TL_HEADER_SIZE + 64, small_count);
                e[i] = engine_stream(&t, 64, small_count);
            }
            ratio_row(name, bench_median(e, runs), bench_median(r, runs), "messages/s");
        }
        snprintf(name, sizeof name, "engine/stream64k-%s", tn);
        if (bench_selected(opt, name)) {
            for (int i = 0; i < runs; i++) {
                r[i] = raw_stream(&t, TL_HEADER_SIZE + 65535, big_count) * (TL_HEADER_SIZE + 65535) / 1e9;
                e[i] = engine_stream(&t, 65535, big_count) * (TL_HEADER_SIZE + 65535) / 1e9;
            }
            double ev = bench_median(e, runs), rv = bench_median(r, runs);
            printf("%-22s %14s %9.2f %12.2f %8.2fx  (GB/s; baseline: raw socket)\n", name, "-", ev, rv,
                   rv > 0 ? ev / rv : 0.0);
            fflush(stdout);
        }
    }
    if (bench_selected(opt, "engine/serve-100-clients")) {
        char bin[4096];
        ssize_t n = readlink("/proc/self/exe", bin, sizeof bin - 32);
        if (n > 0) {
            bin[n] = '\0';
            char *slash = strrchr(bin, '/');
            /* build/bench/tofulab-bench -> build/tofulab */
            if (slash) {
                *slash = '\0';
                slash = strrchr(bin, '/');
            }
            if (slash) {
                strcpy(slash + 1, "tofulab");
            }
            long idle = 0, peak = 0;
            if (serve_memory(bin, 100, &idle, &peak) == 0) {
                printf("%-22s %14ld %9s %12ld %8.2fx  (peak RSS KiB with 100 clients; baseline: idle serve;"
                       " %.1f KiB per client)\n",
                       "engine/serve-100-clients", peak, "-", idle, idle > 0 ? (double)peak / idle : 0.0,
                       (double)(peak - idle) / 100.0);
            } else {
                printf("%-22s failed to run %s serve\n", "engine/serve-100-clients", bin);
            }
            fflush(stdout);
        }
    }
    return 0;
}
