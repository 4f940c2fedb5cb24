/*
 * The POSIX host against the physical limit (issue 14): every case is a ratio
 * to a raw-socket baseline measured in the same run, the two interleaved
 * (engine, raw, engine, raw, ...; opt->runs of each), the median reported with
 * the range of the per-run ratios:
 *   engine/rr-<t>        round trips/s, one request outstanding, against a raw
 *                        ping-pong of the same frame bytes; p50/p99 round trip
 *   engine/rr32-<t>      32 requests outstanding on one connection, against a
 *                        raw pipelined loop keeping 32 frames outstanding
 *                        (both rr cases also against the raw loop busy-polling
 *                        as the host does - TL_POSIX_SPIN_DEFAULT_NS before
 *                        each sleep - and with the process CPU time per round
 *                        trip of each: the host trades CPU for wake-ups)
 *   engine/stream64-<t>  one-way messages/s of 64-byte bodies, against raw
 *                        writes of the same frames in the batch sizes the
 *                        engine wrote (frames per sendmsg, measured in its run)
 *   engine/stream64k-<t> one-way GB/s of 65535-byte bodies, the same way
 *   engine/serve-c<N>    N connections (1, 10, 100, 1000) with one request
 *                        outstanding each, from one engine client thread to
 *                        `tofulab serve`: aggregate round trips/s and p99,
 *                        against a raw epoll client and a raw epoll echo server
 *   engine/serve-100-clients  serve's peak RSS with 100 clients
 * t is tcp or uds. Two tl_posix hosts in one process (the client's and the
 * server's, each an application thread and its reactor thread) except for
 * serve-c<N>. The engines' invariants (tl_posix_check) are checked after every
 * engine run; a broken invariant fails the bench. TCP sockets have
 * TCP_NODELAY on both sides (the host sets it; the raw baselines too).
 * Figures from a shared machine are indicative: read the ratios.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "tofulab/posix.h"
#include "../helpers/hostile.h"

#define RR_BODY    64u
#define RR_FRAME   (TL_HEADER_SIZE + RR_BODY)
#define WINDOW_MAX 64u
#define LAT_CAP    (4u << 20) /* round trips recorded per run */

typedef struct {
    int uds;
    char addr[160];
    char path[108];
} transport;

static int invariants_broken;

/* ------------------------------------------------------------ raw sockets */

static void set_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

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
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 1024) != 0) {
            return -1;
        }
        return fd;
    }
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int one = 1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 1024) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static int raw_connect(const transport *t, int port)
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
    set_nodelay(fd);
    return fd;
}

/* One read that first busy-polls (non-blocking reads) for up to spin_ns
 * before it sleeps in poll(): the raw loop's version of the host's
 * busy-polling (tl_posix_options.spin_ns), for the second baseline. */
static uint64_t now_ns(void);
static ssize_t recv_spin(int fd, uint8_t *buf, size_t len, uint64_t spin_ns)
{
    uint64_t start = now_ns();
    for (;;) {
        ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            return n;
        }
        if (now_ns() - start >= spin_ns) {
            struct pollfd pf = {fd, POLLIN, 0};
            (void)poll(&pf, 1, -1);
        }
    }
}

/* Read exactly len bytes (spin_ns: busy-poll before each sleep; 0: blocking reads). */
static int read_full_spin(int fd, uint8_t *buf, size_t len, uint64_t spin_ns)
{
    while (len > 0) {
        ssize_t n = spin_ns > 0 ? recv_spin(fd, buf, len, spin_ns) : read(fd, buf, len);
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

static int read_full(int fd, uint8_t *buf, size_t len) { return read_full_spin(fd, buf, len, 0); }

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

static uint64_t now_ns(void) { return (uint64_t)(bench_now() * 1e9); }

/* CPU time of the whole process (both ends of a run live in it), ns. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One run's result. */
typedef struct {
    double rate;   /* items/s (or GB/s) */
    uint64_t *lat; /* round trips, ns (rr cases) */
    size_t nlat;
    double p50_us, p99_us;
    double batch;  /* stream: frames per write the engine achieved */
    double cpu_us; /* rr: CPU time of the process per round trip, us */
} run_result;

static void lat_summary(run_result *r)
{
    if (r->nlat == 0) {
        r->p50_us = r->p99_us = 0;
        return;
    }
    r->p50_us = (double)hs_percentile(r->lat, r->nlat, 50) / 1e3;
    r->p99_us = (double)hs_percentile(r->lat, r->nlat, 99) / 1e3;
}

/* ---- raw baselines ---- */

typedef struct {
    int lfd;
    size_t frame;
    int echo;         /* 1: echo every frame back; 0: a sink */
    size_t total;     /* sink: bytes to read */
    uint64_t spin_ns; /* echo: busy-poll this long before sleeping (0: plain blocking reads) */
} raw_srv;

static void *raw_server(void *arg)
{
    raw_srv *s = arg;
    int c = accept(s->lfd, NULL, NULL);
    uint8_t *buf = malloc(1u << 20);
    if (c >= 0 && buf != NULL) {
        if (!s->echo) {
            size_t left = s->total;
            while (left > 0) {
                ssize_t n = read(c, buf, left < (1u << 20) ? left : (1u << 20));
                if (n <= 0) {
                    break;
                }
                left -= (size_t)n;
            }
        } else {
            set_nodelay(c);
            while (read_full_spin(c, buf, s->frame, s->spin_ns) == 0 && write_full(c, buf, s->frame) == 0) {
            }
        }
    }
    free(buf);
    if (c >= 0) {
        close(c);
    }
    return NULL;
}

/* A raw request/response loop of RR_FRAME-byte frames keeping `window`
 * outstanding (1: a ping-pong), for min_seconds: round trips/s and each
 * round trip (a reply answers the oldest outstanding frame). spin_ns: both
 * ends busy-poll that long before each sleep (0: blocking reads). */
static int raw_rr(const transport *t, unsigned window, double min_seconds, uint64_t spin_ns, run_result *r)
{
    int port = 0;
    int lfd = raw_listen((transport *)t, &port);
    if (lfd < 0) {
        return -1;
    }
    raw_srv srv = {lfd, RR_FRAME, 1, 0, spin_ns};
    pthread_t th;
    pthread_create(&th, NULL, raw_server, &srv);
    int fd = raw_connect(t, port);
    uint8_t frame[RR_FRAME];
    uint64_t sent_at[WINDOW_MAX];
    unsigned head = 0, out = 0;
    memset(frame, 0x5a, sizeof frame);
    r->nlat = 0;
    uint64_t cpu0 = cpu_ns();
    double t0 = bench_now(), end = t0 + min_seconds;
    int stop = 0, rc = fd >= 0 ? 0 : -1;
    while (rc == 0 && (!stop || out > 0)) {
        while (!stop && out < window) {
            sent_at[(head + out) % WINDOW_MAX] = now_ns();
            if (write_full(fd, frame, sizeof frame) != 0) {
                rc = -1;
                break;
            }
            out++;
        }
        if (rc != 0 || read_full_spin(fd, frame, sizeof frame, spin_ns) != 0) {
            rc = -1;
            break;
        }
        if (r->nlat < LAT_CAP) {
            r->lat[r->nlat++] = now_ns() - sent_at[head % WINDOW_MAX];
        }
        head++;
        out--;
        if ((head & 63u) == 0 && bench_now() >= end) {
            stop = 1;
        }
    }
    double dt = bench_now() - t0;
    if (fd >= 0) {
        close(fd);
    }
    pthread_join(th, NULL);
    close(lfd);
    if (t->uds) {
        unlink(t->path);
    }
    r->cpu_us = head > 0 ? (double)(cpu_ns() - cpu0) / 1e3 / (double)head : 0;
    r->rate = rc == 0 ? (double)head / dt : 0;
    lat_summary(r);
    return rc;
}

/* Raw one-way stream: `count` frames of `frame` bytes, written `batch` frames
 * per write: messages/s. */
static int raw_stream(const transport *t, size_t frame, long count, long batch, run_result *r)
{
    int port = 0;
    int lfd = raw_listen((transport *)t, &port);
    if (lfd < 0) {
        return -1;
    }
    if (batch < 1) {
        batch = 1;
    }
    raw_srv srv = {lfd, frame, 0, frame * (size_t)count, 0};
    pthread_t th;
    pthread_create(&th, NULL, raw_server, &srv);
    int fd = raw_connect(t, port);
    uint8_t *buf = calloc((size_t)batch, frame);
    int rc = (fd >= 0 && buf != NULL) ? 0 : -1;
    for (long i = 0; buf != NULL && i < batch; i++) {
        tl_header h = {0x1A2B, TL_OP_SIGNAL, 0, (uint64_t)i + 1, 0, (uint16_t)(frame - TL_HEADER_SIZE)};
        tl_header_encode(&h, buf + (size_t)i * frame);
    }
    double t0 = bench_now();
    for (long sent = 0; rc == 0 && sent < count;) {
        long n = count - sent < batch ? count - sent : batch;
        if (write_full(fd, buf, (size_t)n * frame) != 0) {
            rc = -1;
        }
        sent += n;
    }
    pthread_join(th, NULL); /* the server read every byte */
    double dt = bench_now() - t0;
    free(buf);
    if (fd >= 0) {
        close(fd);
    }
    close(lfd);
    if (t->uds) {
        unlink(t->path);
    }
    r->rate = rc == 0 ? (double)count / dt : 0;
    return rc;
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
            /* The client closes after the ByeResponse: the loop is done
             * (waiting on would only time out, 5 s a run). */
            tl_posix_put(s->p, &m);
            break;
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

static int pair_open(engine_pair *ep, const transport *t, int echo, long count)
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

/* The engines' invariants after a run (a broken one fails the bench). */
static void check_invariants(const char *what, tl_posix *a, tl_posix *b)
{
    tl_posix *hosts[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const char *broken = hosts[i] != NULL ? tl_posix_check(hosts[i]) : NULL;
        if (broken != NULL) {
            fprintf(stderr, "tofulab-bench: %s: engine invariant broken (%s host): %s\n", what,
                    i == 0 ? "client" : "server", broken);
            invariants_broken = 1;
        }
    }
}

static void pair_close(engine_pair *ep, const char *what)
{
    tl_message *m = NULL;
    check_invariants(what, ep->cli, ep->srv);
    tl_posix_get(ep->cli, TL_GET_ALWAYS, &m);
    m->hdr.proto = TL_OP_BYE_REQUEST;
    m->hdr.channel = ep->ch;
    if (tl_posix_post(ep->cli, ep->cg, &m, NULL) == TL_OK) {
        m = wait_for(ep->cli, ep->cg, TL_OP_BYE_RESPONSE);
        if (m != NULL) {
            tl_posix_put(ep->cli, &m);
        }
    } else {
        tl_posix_put(ep->cli, &m);
    }
    pthread_join(ep->th, NULL);
    tl_posix_destroy(ep->cli);
    tl_posix_destroy(ep->srv);
}

static int post_request(engine_pair *ep, uint64_t id)
{
    static const uint8_t body[RR_BODY];
    tl_message *m = NULL;
    tl_posix_get(ep->cli, TL_GET_ALWAYS, &m);
    m->hdr.proto = TL_OP_REQUEST;
    m->hdr.channel = ep->ch;
    m->hdr.message_id = id;
    tl_msg_body_set(m, body, sizeof body);
    if (tl_posix_post(ep->cli, ep->cg, &m, NULL) != TL_OK) {
        tl_posix_put(ep->cli, &m);
        return -1;
    }
    return 0;
}

/* Request/response through both engines keeping `window` requests
 * outstanding, for min_seconds: round trips/s and each round trip. */
static int engine_rr(const transport *t, unsigned window, double min_seconds, const char *what, run_result *r)
{
    engine_pair ep;
    uint64_t sent_at[WINDOW_MAX];
    uint64_t next_id = 1, answered = 0;
    if (pair_open(&ep, t, 1, 0) != 0) {
        return -1;
    }
    r->nlat = 0;
    uint64_t cpu0 = cpu_ns();
    double t0 = bench_now(), end = t0 + min_seconds;
    int stop = 0, rc = 0;
    while (rc == 0 && (!stop || next_id - 1 > answered)) {
        while (!stop && next_id - 1 - answered < window) {
            sent_at[next_id % WINDOW_MAX] = now_ns();
            if (post_request(&ep, next_id) != 0) {
                rc = -1;
                break;
            }
            next_id++;
        }
        tl_message *m = rc == 0 ? wait_for(ep.cli, ep.cg, TL_OP_RESPONSE) : NULL;
        if (m == NULL) {
            rc = -1;
            break;
        }
        if (m->hdr.message_id != answered + 1) {
            fprintf(stderr, "tofulab-bench: %s: response %llu where %llu was due\n", what,
                    (unsigned long long)m->hdr.message_id, (unsigned long long)answered + 1);
            rc = -1;
        }
        if (r->nlat < LAT_CAP) {
            r->lat[r->nlat++] = now_ns() - sent_at[m->hdr.message_id % WINDOW_MAX];
        }
        tl_posix_put(ep.cli, &m);
        answered++;
        if ((answered & 63u) == 0 && bench_now() >= end) {
            stop = 1;
        }
    }
    double dt = bench_now() - t0;
    r->cpu_us = answered > 0 ? (double)(cpu_ns() - cpu0) / 1e3 / (double)answered : 0;
    pair_close(&ep, what);
    r->rate = rc == 0 ? (double)answered / dt : 0;
    lat_summary(r);
    return rc;
}

/* One-way stream of `count` Signals with body_len-byte bodies: messages/s at
 * the server, and the frames per write the client's host achieved. */
static int engine_stream(const transport *t, size_t body_len, long count, const char *what, run_result *r)
{
    engine_pair ep;
    if (pair_open(&ep, t, 0, count) != 0) {
        return -1;
    }
    tl_posix_host_stats before;
    tl_engine_stats ebefore;
    tl_posix_host_stats_get(ep.cli, &before);
    tl_posix_stats(ep.cli, &ebefore);
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
    }
    pthread_join(ep.th, NULL); /* the server counted every message */
    double dt = bench_now() - t0;
    long got = ep.es.got;
    tl_posix_host_stats after;
    tl_engine_stats eafter;
    tl_posix_host_stats_get(ep.cli, &after);
    tl_posix_stats(ep.cli, &eafter);
    uint64_t writes = after.write_calls - before.write_calls;
    uint64_t frames = eafter.frames_out - ebefore.frames_out;
    r->batch = writes > 0 ? (double)frames / (double)writes : 1.0;
    free(body);
    check_invariants(what, ep.cli, ep.srv);
    /* The server loop has ended: no Bye, just close both engines. */
    tl_posix_destroy(ep.cli);
    tl_posix_destroy(ep.srv);
    r->rate = got == count ? (double)count / dt : 0;
    return got == count ? 0 : -1;
}
/* ------------------------------------------------ scale: N connections */

/* N connections to `tofulab serve` from one engine client thread, one
 * request outstanding on each, for min_seconds: aggregate round trips/s and
 * every round trip. */
static int engine_conns(uint16_t port, int n, double min_seconds, const char *what, run_result *r)
{
    static const uint8_t body[RR_BODY];
    tl_engine_options opt;
    tl_posix *p = NULL;
    uint32_t g = 0;
    char addr[64];
    uint64_t *sent_at = calloc(65536, sizeof *sent_at);
    uint16_t *chans = calloc((size_t)n, sizeof *chans);
    int rc = 0, hellos = 0;
    memset(&opt, 0, sizeof opt);
    opt.pool_initial = 64;
    opt.pool_max = 4096;
    if (sent_at == NULL || chans == NULL || tl_posix_create(&opt, &p) != TL_OK ||
        tl_posix_group_create(p, &g) != TL_OK) {
        free(sent_at);
        free(chans);
        tl_posix_destroy(p);
        return -1;
    }
    snprintf(addr, sizeof addr, "tcp|127.0.0.1|%u", (unsigned)port);
    for (int i = 0; i < n; i++) {
        tl_message *m = NULL;
        tl_posix_get(p, TL_GET_ALWAYS, &m);
        if (tl_msg_set_address(m, TL_OP_HELLO_REQUEST, addr) != TL_OK ||
            tl_posix_post(p, g, &m, NULL) != TL_OK) {
            tl_posix_put(p, &m);
            rc = -1;
            break;
        }
    }
    while (rc == 0 && hellos < n) {
        tl_message *m = NULL;
        if (tl_posix_wait_receive(p, g, 10 * TL_WAIT_SECOND, &m) != TL_OK) {
            rc = -1;
            break;
        }
        if (tl_proto_opcode(m->hdr.proto) == TL_OP_HELLO_RESPONSE && !tl_proto_origin_engine(m->hdr.proto)) {
            chans[hellos++] = m->hdr.channel;
        }
        tl_posix_put(p, &m);
    }
    /* Every connection is up: one request outstanding on each. */
    for (int i = 0; rc == 0 && i < n; i++) {
        tl_message *m = NULL;
        tl_posix_get(p, TL_GET_ALWAYS, &m);
        m->hdr.proto = TL_OP_REQUEST;
        m->hdr.channel = chans[i];
        m->hdr.message_id = 1;
        tl_msg_body_set(m, body, sizeof body);
        sent_at[chans[i]] = 0; /* the first round trips warm up: not counted */
        if (tl_posix_post(p, g, &m, NULL) != TL_OK) {
            tl_posix_put(p, &m);
            rc = -1;
        }
    }
    /* Every channel has one request outstanding: measure. */
    uint64_t answered = 0;
    long outstanding = n;
    r->nlat = 0;
    double t0 = bench_now(), end = t0 + min_seconds;
    int stop = 0;
    while (rc == 0 && outstanding > 0) {
        tl_message *m = NULL;
        int wr = tl_posix_wait_receive(p, g, 10 * TL_WAIT_SECOND, &m);
        if (wr != TL_OK) {
            fprintf(stderr, "tofulab-bench: %s: no reply within 10 s (%s), %ld outstanding\n", what,
                    tl_strerror(wr), outstanding);
            rc = -1;
            break;
        }
        if (tl_proto_opcode(m->hdr.proto) != TL_OP_RESPONSE || tl_proto_origin_engine(m->hdr.proto)) {
            if (tl_proto_origin_engine(m->hdr.proto) && m->hdr.status == TL_STATUS_CHANNEL_CLOSED) {
                fprintf(stderr, "tofulab-bench: %s: serve closed a connection\n", what);
                rc = -1;
            }
            tl_posix_put(p, &m);
            continue;
        }
        uint16_t ch = m->hdr.channel;
        uint64_t now = now_ns();
        if (sent_at[ch] != 0) {
            answered++;
            if (r->nlat < LAT_CAP) {
                r->lat[r->nlat++] = now - sent_at[ch];
            }
        }
        outstanding--;
        if ((answered & 255u) == 0 && bench_now() >= end) {
            stop = 1;
        }
        if (stop) {
            tl_posix_put(p, &m);
            continue;
        }
        uint64_t id = m->hdr.message_id + 1;
        tl_msg_reset(m);
        m->hdr.proto = TL_OP_REQUEST;
        m->hdr.channel = ch;
        m->hdr.message_id = id;
        tl_msg_body_set(m, body, sizeof body);
        sent_at[ch] = now_ns();
        if (tl_posix_post(p, g, &m, NULL) != TL_OK) {
            tl_posix_put(p, &m);
            rc = -1;
            break;
        }
        outstanding++;
    }
    double dt = bench_now() - t0;
    check_invariants(what, p, NULL);
    tl_posix_destroy(p); /* every connection closed with RST (6.13) */
    free(sent_at);
    free(chans);
    r->rate = rc == 0 ? (double)answered / dt : 0;
    lat_summary(r);
    return rc;
}

/* The raw baseline: an epoll echo server thread and an epoll client in this
 * thread, N connections, one RR_FRAME frame outstanding on each. */
typedef struct {
    int lfd, n;
    volatile int stop;
} raw_echo_srv;

static void *raw_echo_server(void *arg)
{
    raw_echo_srv *s = arg;
    int ep = epoll_create1(0);
    uint8_t buf[65536];
    struct epoll_event ev, evs[256];
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = s->lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, s->lfd, &ev);
    while (!s->stop) {
        int k = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < k; i++) {
            int fd = evs[i].data.fd;
            if (fd == s->lfd) {
                int c = accept(s->lfd, NULL, NULL);
                if (c >= 0) {
                    set_nodelay(c);
                    ev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                }
                continue;
            }
            ssize_t got = read(fd, buf, sizeof buf);
            if (got <= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
                continue;
            }
            (void)write_full(fd, buf, (size_t)got); /* one frame at a time: never blocks long */
        }
    }
    close(ep);
    return NULL;
}

static int raw_conns(int n, double min_seconds, run_result *r)
{
    transport t;
    memset(&t, 0, sizeof t);
    int port = 0;
    int lfd = raw_listen(&t, &port);
    if (lfd < 0) {
        return -1;
    }
    raw_echo_srv srv = {lfd, n, 0};
    pthread_t th;
    pthread_create(&th, NULL, raw_echo_server, &srv);
    int *fds = calloc((size_t)n, sizeof *fds);
    uint64_t *sent_at = calloc((size_t)n, sizeof *sent_at);
    size_t *have = calloc((size_t)n, sizeof *have);
    uint8_t frame[RR_FRAME], buf[RR_FRAME];
    int ep = epoll_create1(0), rc = 0;
    memset(frame, 0x5a, sizeof frame);
    for (int i = 0; fds != NULL && i < n; i++) {
        fds[i] = -1;
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        fds[i] = raw_connect(&t, port);
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN;
        ev.data.u32 = (uint32_t)i;
        if (fds[i] < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0) {
            rc = -1;
        }
    }
    r->nlat = 0;
    uint64_t answered = 0;
    long outstanding = 0;
    double t0 = bench_now(), end = t0 + min_seconds;
    for (int i = 0; rc == 0 && i < n; i++) {
        sent_at[i] = now_ns();
        rc = write_full(fds[i], frame, sizeof frame);
        outstanding++;
    }
    int stop = 0;
    struct epoll_event evs[256];
    while (rc == 0 && outstanding > 0) {
        int k = epoll_wait(ep, evs, 256, 10000);
        if (k <= 0) {
            rc = -1;
            break;
        }
        for (int e = 0; e < k && rc == 0; e++) {
            int i = (int)evs[e].data.u32;
            ssize_t got = read(fds[i], buf, sizeof buf - have[i]);
            if (got <= 0) {
                rc = -1;
                break;
            }
            have[i] += (size_t)got;
            if (have[i] < RR_FRAME) {
                continue;
            }
            have[i] = 0;
            uint64_t now = now_ns();
            answered++;
            outstanding--;
            if (r->nlat < LAT_CAP) {
                r->lat[r->nlat++] = now - sent_at[i];
            }
            if ((answered & 255u) == 0 && bench_now() >= end) {
                stop = 1;
            }
            if (!stop) {
                sent_at[i] = now_ns();
                rc = write_full(fds[i], frame, sizeof frame);
                outstanding++;
            }
        }
    }
    double dt = bench_now() - t0;
    for (int i = 0; i < n; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    srv.stop = 1;
    pthread_join(th, NULL);
    close(ep);
    close(lfd);
    free(fds);
    free(sent_at);
    free(have);
    r->rate = rc == 0 ? (double)answered / dt : 0;
    lat_summary(r);
    return rc;
}

/* Open descriptors enough for 1,000 connections at each end in one process. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 8192) {
        rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
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
    hs_server s;
    memset(&s, 0, sizeof s);
    if (hs_server_start(&s, bin, NULL, 10000) != 0) {
        return -1;
    }
    *idle_kib = peak_rss_kib(s.pid);
    transport t;
    memset(&t, 0, sizeof t);
    int *fds = calloc((size_t)clients, sizeof *fds);
    uint8_t frame[512], reply[1024];
    int ok = 0;
    for (int c = 0; c < clients; c++) {
        fds[c] = raw_connect(&t, s.port);
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
    *peak_kib = peak_rss_kib(s.pid);
    for (int c = 0; c < clients; c++) {
        if (fds[c] >= 0) {
            close(fds[c]);
        }
    }
    free(fds);
    hs_server_stop(&s, 5000);
    free(s.err);
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

/* The runs of a case: engine and raw results, interleaved. */
typedef struct {
    run_result e[16], r[16], s[16]; /* engine, raw, raw busy-polling (rr cases) */
    int n;
} case_runs;

static double median_of(const case_runs *c, int engine, int what)
{
    double v[16];
    for (int i = 0; i < c->n; i++) {
        const run_result *x = engine ? &c->e[i] : &c->r[i];
        v[i] = what == 0 ? x->rate : what == 1 ? x->p50_us : x->p99_us;
    }
    return bench_median(v, c->n);
}

/* name  engine  -  raw  ratio  (unit; ratio range; p50/p99) */
static void print_case(const char *name, const case_runs *c, const char *unit, int latency, const char *extra)
{
    double ratios[16], lo = 0, hi = 0;
    for (int i = 0; i < c->n; i++) {
        ratios[i] = c->r[i].rate > 0 ? c->e[i].rate / c->r[i].rate : 0;
        lo = (i == 0 || ratios[i] < lo) ? ratios[i] : lo;
        hi = (i == 0 || ratios[i] > hi) ? ratios[i] : hi;
    }
    double ev = median_of(c, 1, 0), rv = median_of(c, 0, 0);
    double ratio = bench_median(ratios, c->n);
    char lat[160] = "";
    if (latency) {
        snprintf(lat, sizeof lat, "; p50/p99 %.1f/%.1f us, raw %.1f/%.1f us", median_of(c, 1, 1),
                 median_of(c, 1, 2), median_of(c, 0, 1), median_of(c, 0, 2));
    }
    if (strcmp(unit, "GB/s") == 0) {
        printf("%-22s %14s %9.2f %12.2f %8.2fx  (GB/s; ratio %.2f-%.2f over %d runs%s%s)\n", name, "-", ev,
               rv, ratio, lo, hi, c->n, lat, extra);
    } else {
        printf("%-22s %14.0f %9s %12.0f %8.2fx  (%s; raw %s; ratio %.2f-%.2f over %d runs%s%s)\n", name, ev,
               "-", rv, ratio, unit, unit, lo, hi, c->n, lat, extra);
    }
    fflush(stdout);
}

/* The rr cases' second baseline and the CPU each side spent: the raw loop
 * busy-polling as the host does (TL_POSIX_SPIN_DEFAULT_NS before each
 * sleep), the engine's ratio to it, and the process CPU time per round trip
 * of the engine, the raw loop and the busy-polling raw loop (medians). */
static void rr_extra(const case_runs *c, char *out, size_t cap)
{
    double spin[16], ratio[16], cpu_e[16], cpu_r[16], cpu_s[16];
    for (int i = 0; i < c->n; i++) {
        spin[i] = c->s[i].rate;
        ratio[i] = c->s[i].rate > 0 ? c->e[i].rate / c->s[i].rate : 0;
        cpu_e[i] = c->e[i].cpu_us;
        cpu_r[i] = c->r[i].cpu_us;
        cpu_s[i] = c->s[i].cpu_us;
    }
    snprintf(
        out, cap,
        "; raw busy-polling %.0f/s, engine %.2fx of it; CPU us per round trip: engine %.1f, raw %.1f, raw"
        " busy-polling %.1f",
        bench_median(spin, c->n), bench_median(ratio, c->n), bench_median(cpu_e, c->n),
        bench_median(cpu_r, c->n), bench_median(cpu_s, c->n));
}

static void alloc_lat(case_runs *c) { memset(c, 0, sizeof *c); }

/* Latency buffers for the rr cases (shared by every run: summaries kept). */
static uint64_t *lat_buf_e, *lat_buf_r;

static void give_lat(run_result *e, run_result *r)
{
    e->lat = lat_buf_e;
    r->lat = lat_buf_r;
}

static void keep_summary(run_result *x)
{
    x->lat = NULL; /* the buffer is reused by the next run; p50/p99 are kept */
}

static int run_failed(const char *name, int run, const char *which, int rc)
{
    if (rc != 0) {
        fprintf(stderr, "tofulab-bench: %s: run %d (%s) failed\n", name, run + 1, which);
    }
    return rc != 0;
}

int bench_engine_run(const bench_options *opt)
{
    int runs = opt->runs > 16 ? 16 : opt->runs;
    double secs = opt->min_seconds;
    /* Stream runs last about min_seconds too (0.5 s: 3 M small messages at
     * 6 M/s, 40,000 64 KiB frames at 4.5 GB/s): shorter runs (a sixth of
     * that, before) left each median to a few brief scheduling phases. */
    long small_count = opt->quick ? 200000 : 3000000;
    long big_count = opt->quick ? 2000 : 40000;
    case_runs c;
    char name[64];
    int failed = 0;

    lat_buf_e = malloc(LAT_CAP * sizeof *lat_buf_e);
    lat_buf_r = malloc(LAT_CAP * sizeof *lat_buf_r);
    if (lat_buf_e == NULL || lat_buf_r == NULL) {
        free(lat_buf_e);
        free(lat_buf_r);
        return -1;
    }
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    for (int uds = 0; uds <= 1; uds++) {
        transport t;
        transport_init(&t, uds);
        const char *tn = uds ? "uds" : "tcp";
        unsigned windows[2] = {1, 32};

        for (int w = 0; w < 2; w++) {
            snprintf(name, sizeof name, windows[w] == 1 ? "engine/rr-%s" : "engine/rr32-%s", tn);
            if (!bench_selected(opt, name)) {
                continue;
            }
            alloc_lat(&c);
            for (int i = 0; i < runs; i++) {
                give_lat(&c.e[i], &c.r[i]);
                failed |= run_failed(name, i, "engine", engine_rr(&t, windows[w], secs, name, &c.e[i]));
                failed |= run_failed(name, i, "raw", raw_rr(&t, windows[w], secs, 0, &c.r[i]));
                keep_summary(&c.e[i]);
                keep_summary(&c.r[i]);
                c.s[i].lat = lat_buf_r;
                failed |= run_failed(name, i, "raw busy-polling",
                                     raw_rr(&t, windows[w], secs, TL_POSIX_SPIN_DEFAULT_NS, &c.s[i]));
                keep_summary(&c.s[i]);
                c.n++;
            }
            char extra[200];
            rr_extra(&c, extra, sizeof extra);
            print_case(name, &c, "round trips/s", 1, extra);
        }
        size_t bodies[2] = {64, 65535};
        for (int b = 0; b < 2; b++) {
            size_t frame = TL_HEADER_SIZE + bodies[b];
            long count = b == 0 ? small_count : big_count;
            snprintf(name, sizeof name, b == 0 ? "engine/stream64-%s" : "engine/stream64k-%s", tn);
            if (!bench_selected(opt, name)) {
                continue;
            }
            alloc_lat(&c);
            double batches[16];
            for (int i = 0; i < runs; i++) {
                failed |= run_failed(name, i, "engine", engine_stream(&t, bodies[b], count, name, &c.e[i]));
                batches[i] = c.e[i].batch;
                long batch = (long)(c.e[i].batch + 0.5);
                failed |= run_failed(name, i, "raw", raw_stream(&t, frame, count, batch, &c.r[i]));
                if (b == 1) {
                    c.e[i].rate = c.e[i].rate * (double)frame / 1e9;
                    c.r[i].rate = c.r[i].rate * (double)frame / 1e9;
                }
                c.n++;
            }
            char extra[96];
            snprintf(extra, sizeof extra, "; %.1f frames per write (median)", bench_median(batches, c.n));
            print_case(name, &c, b == 0 ? "messages/s" : "GB/s", 0, extra);
        }
    }
    const char *bin = bench_tofulab_bin();
    int conns[4] = {1, 10, 100, 1000};
    for (int k = 0; k < 4; k++) {
        snprintf(name, sizeof name, "engine/serve-c%d", conns[k]);
        if (!bench_selected(opt, name)) {
            continue;
        }
        hs_server s;
        const char *extra[] = {"--quiet", "--max-connections", "4000", NULL};
        memset(&s, 0, sizeof s);
        if (bin == NULL || hs_server_start(&s, bin, extra, 10000) != 0) {
            printf("%-22s failed to start %s serve\n", name, bin != NULL ? bin : "tofulab");
            failed = 1;
            continue;
        }
        alloc_lat(&c);
        for (int i = 0; i < runs; i++) {
            give_lat(&c.e[i], &c.r[i]);
            failed |= run_failed(name, i, "engine", engine_conns(s.port, conns[k], secs, name, &c.e[i]));
            failed |= run_failed(name, i, "raw", raw_conns(conns[k], secs, &c.r[i]));
            keep_summary(&c.e[i]);
            keep_summary(&c.r[i]);
            c.n++;
        }
        hs_server_stop(&s, 5000);
        free(s.err);
        print_case(name, &c, "round trips/s", 1, "; baseline: raw epoll client and echo server");
    }
    if (bin != NULL && bench_selected(opt, "engine/serve-100-clients")) {
        long idle = 0, peak = 0;
        if (serve_memory(bin, 100, &idle, &peak) == 0) {
            printf("%-22s %14ld %9s %12ld %8.2fx  (peak RSS KiB with 100 clients; baseline: idle serve;"
                   " %.1f KiB per client)\n",
                   "engine/serve-100-clients", peak, "-", idle, idle > 0 ? (double)peak / idle : 0.0,
                   (double)(peak - idle) / 100.0);
        } else {
            printf("%-22s failed to run %s serve\n", "engine/serve-100-clients", bin);
            failed = 1;
        }
        fflush(stdout);
    }
    free(lat_buf_e);
    free(lat_buf_r);
    if (invariants_broken) {
        printf("engine: an engine invariant was broken after a run (see above)\n");
        failed = 1;
    }
    return failed ? -1 : 0;
}
