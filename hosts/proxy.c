/*
 * tofulab proxy: the I/O thread (hosts/proxy.h, docs/proxy.md).
 *
 * Each accepted connection has two directions (up: client -> server, down:
 * server -> client). A direction reads its source, feeds every byte to the
 * engine's streaming frame reader (one reader per direction: frame
 * boundaries, op codes, malformed frames with their offsets), decides per
 * frame what the faults do, and queues the bytes as pieces with a release
 * time. The writer sends due pieces to the destination; a close (FIN or RST)
 * of the source travels behind the data as a marker piece, so it arrives
 * when the bytes before it have. Without faults nothing is queued: a read is
 * written at once, in one send.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proxy_internal.h"

#define RBUF_SIZE    (256u * 1024u)
#define HIGH_WATER   (8u << 20) /* queued bytes per direction before reading pauses */
#define CHUNK_MSS    1448u      /* loss and rate work on chunks of this size */
#define RTO_INITIAL  (200ull * TL_SIM_NS_PER_MS)
#define RTO_MAX      (120ull * TL_SIM_NS_PER_S)
#define LOSS_RETRIES 15
#define NONE         UINT64_MAX

static const char *const dir_name[2] = {"c>s", "s>c"};
static const char *const stream_name[2] = {"upstream", "downstream"};

/* ------------------------------------------------------------- basics */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t px_now(const tl_proxy *px)
{
    uint64_t t = mono_ns();
    return t > px->t0 ? t - px->t0 : 0;
}

uint64_t tl_proxy_elapsed(const tl_proxy *px) { return px_now(px); }

void tl_px_fmt_time(uint64_t ns, char *out, size_t cap)
{
    snprintf(out, cap, "%llu.%09llu", (unsigned long long)(ns / 1000000000ull),
             (unsigned long long)(ns % 1000000000ull));
}

static void px_log(tl_proxy *px, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void px_log(tl_proxy *px, const char *fmt, ...)
{
    FILE *f = px->opt.log ? px->opt.log : stderr;
    va_list ap;
    flockfile(f);
    fputs("tofulab: proxy: ", f);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    funlockfile(f);
    fflush(f);
}

static void tr(tl_proxy *px, const px_conn *c, int dir, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* One trace line: "<time> <route> conn=<n> <dir> <event>". */
static void tr(tl_proxy *px, const px_conn *c, int dir, const char *fmt, ...)
{
    char t[32];
    va_list ap;
    if (px->opt.trace == NULL) {
        return;
    }
    tl_px_fmt_time(px_now(px), t, sizeof t);
    flockfile(px->opt.trace);
    if (c != NULL) {
        fprintf(px->opt.trace, "%s %s conn=%llu %s ", t, c->r->name, (unsigned long long)c->id,
                dir >= 0 ? dir_name[dir] : "-");
    } else {
        fprintf(px->opt.trace, "%s - ", t);
    }
    va_start(ap, fmt);
    vfprintf(px->opt.trace, fmt, ap);
    va_end(ap);
    fputc('\n', px->opt.trace);
    funlockfile(px->opt.trace);
}

static const char *op_name(unsigned op, char *buf, size_t cap)
{
    const char *n = tl_opcode_name(op);
    if (n != NULL) {
        return n;
    }
    snprintf(buf, cap, "op%u", op);
    return buf;
}

/* ------------------------------------------------------------ addresses */

/* A tofu address, or toxiproxy's host:port ([v6]:port, :port). */
static int parse_addr(const char *text, tl_address *out)
{
    if (tl_address_parse(text, strlen(text), out) == TL_OK) {
        return 0;
    }
    const char *colon = strrchr(text, ':');
    if (colon == NULL || strchr(text, '|') != NULL) {
        return -1;
    }
    char port[8];
    size_t pl = strlen(colon + 1);
    if (pl == 0 || pl >= sizeof port) {
        return -1;
    }
    memcpy(port, colon + 1, pl + 1);
    const char *h = text;
    size_t hl = (size_t)(colon - text);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    char tofu[TL_ADDR_TEXT_MAX + 16];
    snprintf(tofu, sizeof tofu, "tcp|%.*s|%s", (int)(hl ? hl : 7), hl ? h : "0.0.0.0", port);
    return tl_address_parse(tofu, strlen(tofu), out) == TL_OK ? 0 : -1;
}

static int resolve(const tl_address *a, int passive, struct sockaddr_storage *ss, socklen_t *len, char *err,
                   size_t cap)
{
    memset(ss, 0, sizeof *ss);
    if (a->kind == TL_ADDR_UDS) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, a->path, strlen(a->path) + 1);
        *len = (socklen_t)sizeof *un;
        return 0;
    }
    struct addrinfo hints, *res = NULL;
    char port[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    snprintf(port, sizeof port, "%u", (unsigned)a->port);
    int rc = getaddrinfo(a->host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, cap, "cannot resolve host '%s': %s", a->host, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void set_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Close with RST (SO_LINGER 0), as tofu closes. */
static void close_rst(int fd)
{
    struct linger lg = {1, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static int listen_on(const tl_address *a, char *bound, size_t bcap, char *err, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (resolve(a, 1, &ss, &len, err, cap) != 0) {
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, cap, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, cap, "cannot listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (a->kind == TL_ADDR_UDS) {
        snprintf(bound, bcap, "uds|%s", a->path);
    } else {
        struct sockaddr_storage got;
        socklen_t gl = sizeof got;
        uint16_t port = a->port;
        if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0) {
            port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                   : ((struct sockaddr_in *)&got)->sin_port);
        }
        snprintf(bound, bcap, "tcp|%s|%u", a->host, (unsigned)port);
    }
    return fd;
}

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char h[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, h, sizeof h);
        snprintf(out, cap, "tcp|%s|%u", h, (unsigned)ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in->sin6_addr, h, sizeof h);
        snprintf(out, cap, "tcp|%s|%u", h, (unsigned)ntohs(in->sin6_port));
    } else {
        snprintf(out, cap, "uds");
    }
}

/* ------------------------------------------------------------ epoll */

static void fd_interest(tl_proxy *px, px_fd *f, uint32_t ev)
{
    if (f->fd < 0 || f->parked) {
        return;
    }
    struct epoll_event e;
    memset(&e, 0, sizeof e);
    e.events = ev;
    e.data.ptr = f;
    if (!f->registered) {
        if (epoll_ctl(px->ep, EPOLL_CTL_ADD, f->fd, &e) == 0) {
            f->registered = 1;
            f->events = ev;
        }
    } else if (f->events != ev) {
        if (epoll_ctl(px->ep, EPOLL_CTL_MOD, f->fd, &e) == 0) {
            f->events = ev;
        }
    }
}

static void fd_park(tl_proxy *px, px_fd *f)
{
    if (f->registered) {
        (void)epoll_ctl(px->ep, EPOLL_CTL_DEL, f->fd, NULL);
        f->registered = 0;
        f->events = 0;
    }
    f->parked = 1;
}

static void fd_close(tl_proxy *px, px_fd *f, int rst)
{
    if (f->fd < 0) {
        return;
    }
    if (f->registered) {
        (void)epoll_ctl(px->ep, EPOLL_CTL_DEL, f->fd, NULL);
    }
    if (rst) {
        close_rst(f->fd);
    } else {
        close(f->fd);
    }
    f->fd = -1;
    f->registered = 0;
    f->parked = 0;
}

/* The direction that reads fd k is d[k]; the one that writes it is d[!k]. */
static void conn_interest(tl_proxy *px, px_conn *c)
{
    for (int k = 0; k < 2; k++) {
        const px_dir *rd = &c->d[k], *wr = &c->d[!k];
        uint32_t ev = 0;
        /* without faults that hold bytes back, read only what the
         * destination took: the kernel buffers the rest, nothing is copied */
        size_t high = rd->eff.passthrough ? 1 : HIGH_WATER;
        if (!rd->src_eof && !rd->src_dead && !rd->eff.blackhole &&
            (rd->queued < high || rd->eff.drop || rd->dead)) {
            ev |= EPOLLIN;
        }
        if (wr->want_out || (k == 1 && !c->up_connected)) {
            ev |= EPOLLOUT;
        }
        fd_interest(px, &c->fd[k], ev);
    }
}

/* ------------------------------------------------------------ pcap */

static void pcap_pkt(tl_proxy *px, px_conn *c, int dir, uint8_t flags, const uint8_t *p, size_t n)
{
    if (px->opt.pcap == NULL) {
        return;
    }
    do {
        tl_sim_pcap_packet k;
        size_t take = n > 65000 ? 65000 : n;
        memset(&k, 0, sizeof k);
        k.t_ns = px_now(px);
        k.src = c->ip[dir];
        k.dst = c->ip[!dir];
        k.sport = c->port[dir];
        k.dport = c->port[!dir];
        k.seq = c->d[dir].pcap_seq;
        k.ack = (flags & 0x10) ? c->d[!dir].pcap_seq : 0;
        k.flags = flags;
        k.window = 65535;
        k.ip_id = c->ip_id++;
        k.mss = 65495;
        k.payload = p;
        k.len = (uint32_t)take;
        tl_sim_pcap_write(px->opt.pcap, &k);
        c->d[dir].pcap_seq += (uint32_t)take + ((flags & 0x03) ? 1u : 0u);
        p += take;
        n -= take;
    } while (n > 0);
}

/* ------------------------------------------------------------ faults -> eff */

static int slot_applies(const px_conn *c, int s) { return (c->applies >> s) & 1u; }

static void eff_compute(px_conn *c, int dir)
{
    px_dir *d = &c->d[dir];
    px_eff *e = &d->eff;
    memset(e, 0, sizeof *e);
    e->close_at = e->reset_at = e->limit = NONE;
    for (int s = 0; s < TL_PX_FAULTS_MAX; s++) {
        const px_slot *sl = &c->r->slots[s];
        const tl_px_fault *f = &sl->f;
        if (!sl->used || f->dir != dir || !slot_applies(c, s)) {
            continue;
        }
        uint64_t met = c->met[s];
        switch (f->kind) {
        case TL_PXF_LINK:
            if (!e->link_on) {
                e->link = f->link;
                e->link_on = 1;
            } else {
                e->link.delay_ns += f->link.delay_ns;
                e->link.jitter_ns += f->link.jitter_ns;
                if (f->link.jitter_ns) {
                    e->link.distribution = f->link.distribution;
                }
                if (f->link.rate_bps && (e->link.rate_bps == 0 || f->link.rate_bps < e->link.rate_bps)) {
                    e->link.rate_bps = f->link.rate_bps;
                }
                if (f->link.loss != TL_SIM_LOSS_NONE) {
                    e->link.loss = f->link.loss;
                    e->link.loss_ppb = f->link.loss_ppb;
                    e->link.ge_p_ppb = f->link.ge_p_ppb;
                    e->link.ge_r_ppb = f->link.ge_r_ppb;
                    e->link.ge_bad_loss_ppb = f->link.ge_bad_loss_ppb;
                    e->link.ge_good_loss_ppb = f->link.ge_good_loss_ppb;
                }
                if (f->link.corrupt_ppb > e->link.corrupt_ppb) {
                    e->link.corrupt_ppb = f->link.corrupt_ppb;
                }
            }
            break;
        case TL_PXF_SLICE:
            e->slice_on = 1;
            e->smin = f->slice_min;
            e->smax = f->slice_max;
            e->marks = f->slice_marks;
            memcpy(e->offs, f->slice_offsets, sizeof e->offs);
            e->noffs = f->nslice_offsets;
            e->sdelay = f->slice_delay_ns;
            break;
        case TL_PXF_BLACKHOLE: e->blackhole = 1; break;
        case TL_PXF_TIMEOUT:
            e->drop = 1;
            if (f->time_ns && met + f->time_ns < e->close_at) {
                e->close_at = met + f->time_ns;
            }
            break;
        case TL_PXF_RESET_PEER:
            if (met + f->time_ns < e->reset_at) {
                e->reset_at = met + f->time_ns;
            }
            break;
        case TL_PXF_SLOW_CLOSE:
            if (f->time_ns > e->slow_close) {
                e->slow_close = f->time_ns;
            }
            break;
        case TL_PXF_LIMIT_DATA:
            if (f->count < e->limit) {
                e->limit = f->count;
            }
            break;
        case TL_PXF_HOLD_OP: e->hold_mask |= f->opmask; break;
        case TL_PXF_DELAY_OP:
            e->delay_mask |= f->opmask;
            for (int op = 0; op < 17; op++) {
                if ((f->opmask >> op) & 1u && f->time_ns > e->delay_op[op]) {
                    e->delay_op[op] = f->time_ns;
                }
            }
            break;
        case TL_PXF_STALL:
        case TL_PXF_CUT:
        case TL_PXF_INJECT:
            if (f->frame != 0 && e->ntrig < PX_TRIGGERS) {
                px_trigger *t = &e->trig[e->ntrig++];
                t->kind = f->kind;
                t->frame = f->frame;
                t->byte = f->byte;
                t->after = f->after;
                t->time_ns = f->time_ns;
                t->f = f;
            }
            break;
        default: break;
        }
    }
    e->frame_aware = e->hold_mask || e->delay_mask || e->ntrig;
    e->passthrough = !e->link_on && !e->slice_on && !e->frame_aware && !e->blackhole && !e->drop;
}

/* ------------------------------------------------------------ output */

static px_piece *piece_new(size_t n, uint8_t kind, uint64_t release)
{
    px_piece *p = malloc(sizeof *p + (n ? n : 1));
    if (p == NULL) {
        return NULL;
    }
    memset(p, 0, sizeof *p);
    p->len = (uint32_t)n;
    p->kind = kind;
    p->release = release;
    return p;
}

static void q_push(px_dir *d, px_piece *p)
{
    p->next = NULL;
    if (d->qtail) {
        d->qtail->next = p;
    } else {
        d->q = p;
    }
    d->qtail = p;
    d->queued += p->len - p->off;
}

/* Frees a list of pieces. */
static void pieces_free(px_piece *p)
{
    while (p) {
        px_piece *n = p->next;
        free(p);
        p = n;
    }
}

static void q_free_all(px_dir *d)
{
    pieces_free(d->q);
    d->q = d->qtail = NULL;
    d->queued = 0;
}

static void held_free_all(px_dir *d)
{
    pieces_free(d->held);
    d->held = d->heldtail = NULL;
    pieces_free(d->inj);
    d->inj = NULL;
}

static int dst_fd(const px_dir *d) { return d->c->fd[!d->idx].fd; }

static void conn_reset(tl_proxy *px, px_conn *c, const char *why, int by_fault);
static void conn_close_both(tl_proxy *px, px_conn *c, const char *why);
static void dir_flush(tl_proxy *px, px_dir *d, uint64_t now);

/* The destination of d failed on write: it is gone. The news travels the
 * other way (from it to d's source) as a reset behind what is queued. */
static void dst_failed(tl_proxy *px, px_dir *d, int err)
{
    px_conn *c = d->c;
    px_dir *back = &c->d[!d->idx];
    tr(px, c, d->idx, "write failed: %s", strerror(err));
    c->r->st.dropped[d->idx] += d->queued;
    q_free_all(d);
    d->dead = 1;
    d->want_out = 0;
    if (!back->src_dead) {
        back->src_dead = 1;
        px_piece *p = piece_new(0, P_RST, back->last_release);
        if (p != NULL) {
            q_push(back, p);
        }
    }
}

/* Send bytes now; returns how many went (0 on EAGAIN or error). */
static size_t send_now(tl_proxy *px, px_dir *d, const uint8_t *p, size_t n)
{
    ssize_t w = send(dst_fd(d), p, n, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            d->want_out = 1;
        } else {
            dst_failed(px, d, errno);
        }
        return 0;
    }
    if ((size_t)w < n) {
        d->want_out = 1;
    }
    d->out += (uint64_t)w;
    d->c->r->st.bytes_out[d->idx] += (uint64_t)w;
    d->c->r->st.writes[d->idx]++;
    pcap_pkt(px, d->c, d->idx, 0x18, p, (size_t)w);
    return (size_t)w;
}

static int dst_ready(const px_dir *d, uint64_t now)
{
    const px_conn *c = d->c;
    if (d->idx == TL_PX_UP && !c->up_connected) {
        return 0;
    }
    return !d->eff.blackhole && !d->want_out && !d->dead && now >= d->stall_until &&
           now >= d->next_write_at && dst_fd(d) >= 0;
}

static void run_flush(tl_proxy *px, px_dir *d, uint64_t now)
{
    if (d->run_len == 0) {
        return;
    }
    const uint8_t *p = d->run_p;
    size_t n = d->run_len;
    d->run_len = 0;
    if (d->q == NULL && d->run_release <= now && dst_ready(d, now)) {
        size_t w = send_now(px, d, p, n);
        p += w;
        n -= w;
        if (d->dead) {
            return;
        }
    }
    if (n > 0) {
        px_piece *pc = piece_new(n, P_DATA, d->run_release);
        if (pc == NULL) {
            px_log(px, "out of memory: connection %llu reset", (unsigned long long)d->c->id);
            conn_reset(px, d->c, "out of memory", 0);
            return;
        }
        memcpy(pc->data, p, n);
        q_push(d, pc);
    }
}

static void run_add(tl_proxy *px, px_dir *d, const uint8_t *p, size_t n, uint64_t release, uint64_t now)
{
    if (d->run_len > 0 && d->run_p + d->run_len == p && d->run_release == release) {
        d->run_len += n;
        return;
    }
    run_flush(px, d, now);
    d->run_p = p;
    d->run_len = n;
    d->run_release = release;
}

static void marker(tl_proxy *px, px_dir *d, uint8_t kind, uint64_t now)
{
    run_flush(px, d, now);
    px_piece *p = piece_new(0, kind, d->last_release > now ? d->last_release : now);
    if (p != NULL) {
        q_push(d, p);
    }
}

static int chunk_lost(px_dir *d)
{
    const tl_sim_link *l = &d->eff.link;
    if (l->loss == TL_SIM_LOSS_RANDOM) {
        return tl_sim_prng_chance(&d->rng, l->loss_ppb);
    }
    if (l->loss == TL_SIM_LOSS_GEMODEL) {
        int lost;
        if (!d->ge_bad) {
            d->ge_bad = tl_sim_prng_chance(&d->rng, l->ge_p_ppb);
            lost = tl_sim_prng_chance(&d->rng, l->ge_good_loss_ppb);
        } else {
            d->ge_bad = !tl_sim_prng_chance(&d->rng, l->ge_r_ppb);
            lost = tl_sim_prng_chance(&d->rng, l->ge_bad_loss_ppb);
        }
        return lost;
    }
    return 0;
}

/* Jitter, loss and rate work on chunks at fixed stream offsets (every
 * CHUNK_MSS bytes of the direction), drawn in chunk order: the same bytes
 * get the same draws whatever the reads looked like, so a seed gives the
 * same fault schedule. */
static int chunked(const px_dir *d)
{
    const tl_sim_link *l = &d->eff.link;
    return d->eff.link_on && (l->jitter_ns || l->loss != TL_SIM_LOSS_NONE || l->rate_bps || l->corrupt_ppb);
}

/* A new chunk starts at d->fwd: its delay, loss and corruption. */
static void chunk_start(tl_proxy *px, px_dir *d, uint64_t now)
{
    const tl_sim_link *l = &d->eff.link;
    int64_t dl = (int64_t)l->delay_ns + tl_sim_prng_jitter(&d->rng, l->distribution, l->jitter_ns);
    uint64_t extra = 0;
    d->corrupt_at = NONE;
    if (l->loss != TL_SIM_LOSS_NONE) {
        /* loss on a stream: the chunk is retransmitted after an RTO,
         * doubled at each further loss */
        uint64_t rto = RTO_INITIAL;
        int k = 0;
        while (k < LOSS_RETRIES && chunk_lost(d)) {
            extra += rto;
            rto = rto * 2 > RTO_MAX ? RTO_MAX : rto * 2;
            k++;
        }
        if (k > 0) {
            tr(px, d->c, d->idx, "loss chunk at offset %llu: %d retransmission(s), +%llums",
               (unsigned long long)d->fwd, k, (unsigned long long)(extra / TL_SIM_NS_PER_MS));
        }
    }
    if (l->corrupt_ppb && tl_sim_prng_chance(&d->rng, l->corrupt_ppb)) {
        d->corrupt_at = tl_sim_prng_below(&d->rng, CHUNK_MSS); /* offset in the chunk */
    }
    d->chunk_delay = (dl > 0 ? (uint64_t)dl : 0) + extra;
    (void)now;
}

/* When n bytes at d->fwd, read now, may be written. */
static uint64_t release_of(tl_proxy *px, px_dir *d, uint8_t *p, size_t n, uint64_t now)
{
    uint64_t t = now;
    if (d->eff.link_on) {
        const tl_sim_link *l = &d->eff.link;
        if (!chunked(d)) {
            t = now + l->delay_ns;
        } else {
            if (d->fwd % CHUNK_MSS == 0 || !d->chunk_valid) {
                chunk_start(px, d, now);
                d->chunk_valid = 1;
            }
            if (l->rate_bps) {
                uint64_t start = d->busy_until > now ? d->busy_until : now;
                d->busy_until = start + ((uint64_t)n * 8u * TL_SIM_NS_PER_S + l->rate_bps - 1) / l->rate_bps;
                t = d->busy_until;
            }
            t += d->chunk_delay;
            if (d->corrupt_at != NONE && n > 0) {
                /* in the chunk's first piece, so that a chunk the stream
                 * never fills is corrupted too */
                uint64_t at = d->corrupt_at < n ? d->corrupt_at : n - 1;
                p[at] ^= (uint8_t)(1u + tl_sim_prng_below(&d->rng, 255));
                tr(px, d->c, d->idx, "corrupt byte at offset %llu", (unsigned long long)(d->fwd + at));
                d->corrupt_at = NONE;
            }
        }
    }
    if (t < d->min_release) {
        t = d->min_release;
    }
    if (t < d->last_release) {
        t = d->last_release;
    }
    d->last_release = t;
    return t;
}

static void emit_piece(tl_proxy *px, px_dir *d, uint8_t *p, size_t n, int slice, uint64_t now)
{
    uint64_t rel = release_of(px, d, p, n, now);
    if (!slice) {
        run_add(px, d, p, n, rel, now);
        return;
    }
    run_flush(px, d, now);
    px_piece *pc = piece_new(n, P_DATA, rel);
    if (pc == NULL) {
        conn_reset(px, d->c, "out of memory", 0);
        return;
    }
    memcpy(pc->data, p, n);
    pc->slice = 1;
    q_push(d, pc);
}

/* Bytes to forward (not held): limit_data, slicing, chunks. Slice sizes are
 * drawn in order and carried across reads, like chunks. */
static void emit(tl_proxy *px, px_dir *d, uint8_t *p, size_t n, int slice, uint64_t now)
{
    px_conn *c = d->c;
    if (d->dead || c->dying) {
        c->r->st.dropped[d->idx] += n;
        return;
    }
    int close_after = 0;
    if (d->eff.limit != NONE) {
        uint64_t left = d->eff.limit > d->fwd ? d->eff.limit - d->fwd : 0;
        if (n >= left) {
            c->r->st.dropped[d->idx] += n - left;
            n = (size_t)left;
            close_after = 1;
        }
    }
    int sized = d->eff.slice_on && d->eff.smax > 0;
    int chunks = chunked(d);
    while (n > 0 && !d->dead && !c->dying) {
        size_t take = n;
        int sl = slice;
        if (sized) {
            if (d->slice_left == 0) {
                d->slice_left = d->eff.smin + (uint32_t)tl_sim_prng_below(
                                                  &d->rng, (uint64_t)(d->eff.smax - d->eff.smin) + 1);
            }
            take = take < d->slice_left ? take : d->slice_left;
            sl = 1;
        }
        if (chunks) {
            size_t room = CHUNK_MSS - (size_t)(d->fwd % CHUNK_MSS);
            take = take < room ? take : room;
        }
        emit_piece(px, d, p, take, sl, now);
        d->fwd += take;
        if (sized) {
            d->slice_left -= (uint32_t)take;
        }
        p += take;
        n -= take;
    }
    if (close_after && !d->dead) {
        tr(px, c, d->idx, "fault limit-data: %llu bytes passed, closing", (unsigned long long)d->eff.limit);
        marker(px, d, P_CLOSE, now);
        d->dead = 1;
    }
}

/* ------------------------------------------------------------ frames */

static void frame_trace(tl_proxy *px, px_dir *d, const tl_frame *fr, const char *note)
{
    char ob[16];
    unsigned op = tl_proto_opcode(fr->hdr.proto);
    tr(px, d->c, d->idx, "%s ch=%u id=%llu more=%d status=%u%s thl=%u bl=%u at=%llu%s",
       op_name(op, ob, sizeof ob), (unsigned)fr->hdr.channel, (unsigned long long)fr->hdr.message_id,
       tl_proto_more(fr->hdr.proto), (unsigned)fr->hdr.status,
       tl_proto_origin_engine(fr->hdr.proto) ? " origin=engine" : "", (unsigned)fr->hdr.thl,
       (unsigned)fr->hdr.bl, (unsigned long long)fr->offset, note);
}

static void observe(tl_proxy *px, px_dir *d, const tl_frame *fr, int held, int released, int injected)
{
    if (px->opt.on_frame == NULL) {
        return;
    }
    tl_px_frame_event ev;
    ev.route = d->c->r->name;
    ev.conn = d->c->id;
    ev.dir = d->idx;
    ev.frame = fr;
    ev.held = held;
    ev.released = released;
    ev.injected = injected;
    px->opt.on_frame(px->opt.ctx, &ev);
}

/* A whole frame held in bytes (injected, released): decode for the observer. */
static int frame_of_bytes(const uint8_t *p, size_t n, tl_frame *fr)
{
    if (n < TL_HEADER_SIZE) {
        return -1;
    }
    tl_header_decode(p, &fr->hdr);
    if ((size_t)TL_HEADER_SIZE + fr->hdr.thl + fr->hdr.bl != n) {
        return -1;
    }
    fr->text = p + TL_HEADER_SIZE;
    fr->body = p + TL_HEADER_SIZE + fr->hdr.thl;
    fr->offset = 0;
    return 0;
}

static void inject_now(tl_proxy *px, px_dir *d, const uint8_t *bytes, size_t n, uint64_t now)
{
    run_flush(px, d, now);
    px_piece *pc = piece_new(n, P_DATA, d->last_release > now ? d->last_release : now);
    if (pc == NULL) {
        return;
    }
    memcpy(pc->data, bytes, n);
    pc->slice = 1;
    tl_frame fr;
    if (frame_of_bytes(pc->data, n, &fr) == 0) {
        char ob[16];
        tr(px, d->c, d->idx, "fault inject %s ch=%u id=%llu bl=%u",
           op_name(tl_proto_opcode(fr.hdr.proto), ob, sizeof ob), (unsigned)fr.hdr.channel,
           (unsigned long long)fr.hdr.message_id, (unsigned)fr.hdr.bl);
        observe(px, d, &fr, 0, 0, 1);
    } else {
        tr(px, d->c, d->idx, "fault inject %zu bytes", n);
    }
    d->c->r->st.injected++;
    q_push(d, pc);
}

static int between_frames(const px_dir *d)
{
    return d->rd_broken || (tl_reader_pending(&d->rd) == 0 && d->npend == 0);
}

static uint64_t frame_len(const tl_header *h) { return (uint64_t)TL_HEADER_SIZE + h->thl + h->bl; }

/* The header of the current frame is known: what the faults do to it. */
static void frame_decide(tl_proxy *px, px_dir *d, uint64_t emitted, uint64_t now)
{
    const tl_header *h = &d->cur_hdr;
    unsigned op = tl_proto_opcode(h->proto);
    uint32_t bit = 1u << op;
    char ob[16];
    if (op == TL_OP_SIGNAL && h->bl == 0 && !tl_proto_origin_engine(h->proto)) {
        bit |= TL_PX_OP_HEARTBEAT;
    }
    d->cur_decided = 1;
    if ((d->eff.hold_mask & bit) && emitted == 0) {
        d->cur_held = 1;
        d->c->r->st.held++;
        tr(px, d->c, d->idx, "fault hold %s id=%llu (frame %llu)", op_name(op, ob, sizeof ob),
           (unsigned long long)h->message_id, (unsigned long long)(d->frames + 1));
    }
    if (d->eff.delay_mask & bit) {
        uint64_t ns = 0;
        for (int k = 0; k < 17; k++) {
            if (((bit >> k) & 1u) && d->eff.delay_op[k] > ns) {
                ns = d->eff.delay_op[k];
            }
        }
        if (now + ns > d->min_release) {
            d->min_release = now + ns;
        }
        tr(px, d->c, d->idx, "fault delay %s id=%llu by %llums", op_name(op, ob, sizeof ob),
           (unsigned long long)h->message_id, (unsigned long long)(ns / TL_SIM_NS_PER_MS));
    }
    uint64_t len = frame_len(h);
    for (unsigned i = 0; i < d->eff.ntrig; i++) {
        const px_trigger *t = &d->eff.trig[i];
        if (t->after || t->frame != d->frames + 1) {
            continue;
        }
        uint64_t at = t->byte == NONE ? len / 2 : (t->byte > len ? len : t->byte);
        if (at < emitted) {
            at = emitted;
        }
        if (t->kind == TL_PXF_CUT) {
            d->cur_cut_at = at;
        } else if (t->kind == TL_PXF_STALL) {
            d->cur_stall_at = at;
            d->cur_stall_ns = t->time_ns;
        }
    }
}

static void do_cut(tl_proxy *px, px_dir *d, uint64_t now, const char *what)
{
    tr(px, d->c, d->idx, "fault cut %s", what);
    marker(px, d, P_CUT, now);
    d->dead = 1;
}

static void do_stall_at(tl_proxy *px, px_dir *d, uint64_t now)
{
    tr(px, d->c, d->idx, "fault stall %llums in frame %llu at byte %llu",
       (unsigned long long)(d->cur_stall_ns / TL_SIM_NS_PER_MS), (unsigned long long)(d->frames + 1),
       (unsigned long long)d->cur_stall_at);
    if (now + d->cur_stall_ns > d->min_release) {
        d->min_release = now + d->cur_stall_ns;
    }
    d->cur_stall_at = NONE;
}

static void hold_append(tl_proxy *px, px_dir *d, const uint8_t *p, size_t n)
{
    if (d->hlen + n > d->hcap) {
        size_t cap = d->hcap ? d->hcap * 2 : 4096;
        while (cap < d->hlen + n) {
            cap *= 2;
        }
        uint8_t *b = realloc(d->hbuf, cap);
        if (b == NULL) {
            conn_reset(px, d->c, "out of memory", 0);
            return;
        }
        d->hbuf = b;
        d->hcap = cap;
    }
    memcpy(d->hbuf + d->hlen, p, n);
    d->hlen += n;
}

/* Bytes [off, off+n) of the current frame. */
static void frame_bytes(tl_proxy *px, px_dir *d, uint8_t *p, size_t n, uint64_t off, uint64_t now)
{
    uint64_t end = off + n;
    int pos_slice = d->eff.slice_on && (d->eff.marks || d->eff.noffs);
    while (off < end && !d->dead && !d->c->dying) {
        if (d->cur_cut_at == off) {
            char what[64];
            snprintf(what, sizeof what, "in frame %llu at byte %llu", (unsigned long long)(d->frames + 1),
                     (unsigned long long)off);
            d->c->r->st.dropped[d->idx] += end - off;
            do_cut(px, d, now, what);
            return;
        }
        if (d->cur_stall_at == off) {
            do_stall_at(px, d, now);
        }
        uint64_t next = end;
        if (d->cur_cut_at > off && d->cur_cut_at < next) {
            next = d->cur_cut_at;
        }
        if (d->cur_stall_at > off && d->cur_stall_at < next) {
            next = d->cur_stall_at;
        }
        if (pos_slice) {
            uint64_t pts[11];
            unsigned np = 0;
            if (d->eff.marks & TL_PX_MARK_HEADER) {
                pts[np++] = 8;
            }
            if (d->eff.marks & TL_PX_MARK_TEXT) {
                pts[np++] = TL_HEADER_SIZE;
            }
            if ((d->eff.marks & TL_PX_MARK_BODY) && d->cur_known) {
                pts[np++] = (uint64_t)TL_HEADER_SIZE + d->cur_hdr.thl;
            }
            for (unsigned i = 0; i < d->eff.noffs; i++) {
                pts[np++] = d->eff.offs[i];
            }
            for (unsigned i = 0; i < np; i++) {
                if (pts[i] > off && pts[i] < next) {
                    next = pts[i];
                }
            }
        }
        size_t take = (size_t)(next - off);
        if (d->cur_held) {
            hold_append(px, d, p, take);
        } else {
            emit(px, d, p, take, pos_slice, now);
            d->cur_emitted += take;
        }
        p += take;
        off = next;
    }
}

static void frame_complete(tl_proxy *px, px_dir *d, uint64_t now)
{
    uint64_t len = frame_len(&d->cur_hdr);
    if (d->cur_held && !d->dead) {
        px_piece *pc = piece_new(d->hlen, P_DATA, 0);
        if (pc != NULL) {
            memcpy(pc->data, d->hbuf, d->hlen);
            pc->slice = 1;
            pc->next = NULL;
            if (d->heldtail) {
                d->heldtail->next = pc;
            } else {
                d->held = pc;
            }
            d->heldtail = pc;
        }
    }
    d->hlen = 0;
    if (d->cur_cut_at != NONE && d->cur_cut_at >= len && !d->dead) {
        char what[64];
        snprintf(what, sizeof what, "after frame %llu", (unsigned long long)(d->frames + 1));
        do_cut(px, d, now, what);
    }
    if (d->cur_stall_at != NONE && !d->dead) {
        do_stall_at(px, d, now);
    }
    d->frames++;
    d->c->r->st.frames[d->idx]++;
    d->frame_start = d->in;
    d->cur_known = d->cur_decided = d->cur_held = 0;
    d->cur_emitted = 0;
    d->cur_cut_at = d->cur_stall_at = NONE;
    d->npend = 0;
    for (unsigned i = 0; i < d->eff.ntrig && !d->dead; i++) {
        const px_trigger *t = &d->eff.trig[i];
        if (!t->after || t->frame != d->frames) {
            continue;
        }
        if (t->kind == TL_PXF_CUT) {
            char what[64];
            snprintf(what, sizeof what, "after frame %llu", (unsigned long long)d->frames);
            do_cut(px, d, now, what);
        } else if (t->kind == TL_PXF_INJECT) {
            inject_now(px, d, t->f->inject, t->f->inject_len, now);
        }
    }
    while (d->inj != NULL && !d->dead) {
        px_piece *pc = d->inj;
        d->inj = pc->next;
        inject_now(px, d, pc->data, pc->len, now);
        free(pc);
    }
}

/* One segment of the source's bytes, all of one frame (the reader stops
 * after each frame); fr when the segment ends the frame. */
static void frame_segment(tl_proxy *px, px_dir *d, uint8_t *p, size_t n, const tl_frame *fr, uint64_t now)
{
    if (d->rd_broken) {
        emit(px, d, p, n, 0, now);
        d->in += n;
        return;
    }
    uint64_t off = d->in - d->frame_start;
    if (!d->cur_known && (fr != NULL || d->rd.hdr_have == TL_HEADER_SIZE)) {
        d->cur_known = 1;
        d->cur_hdr = fr != NULL ? fr->hdr : d->rd.hdr;
    }
    if (d->eff.frame_aware && !d->cur_known) {
        /* the op code decides: keep the header's first bytes until it is in */
        memcpy(d->pend + d->npend, p, n);
        d->npend += n;
        d->in += n;
        return;
    }
    if (!d->cur_decided && d->cur_known && d->eff.frame_aware) {
        frame_decide(px, d, d->cur_emitted, now);
    }
    if (fr != NULL) {
        frame_trace(px, d, fr, d->cur_held ? " held" : "");
        observe(px, d, fr, d->cur_held, 0, 0);
    }
    if (d->npend > 0) {
        size_t np = d->npend;
        d->npend = 0;
        frame_bytes(px, d, d->pend, np, off - np, now);
        run_flush(px, d, now); /* pend is reused by the next frame */
    }
    frame_bytes(px, d, p, n, off, now);
    d->in += n;
    if (fr != NULL) {
        frame_complete(px, d, now);
    }
}

static void malformed(tl_proxy *px, px_dir *d, uint64_t now)
{
    const tl_reader_error_info *e = tl_reader_error(&d->rd);
    px_conn *c = d->c;
    px_log(px,
           "%s conn %llu %s: malformed frame at byte offset %llu: %s (value %zu); forwarding the rest "
           "unchanged, frame faults off for this direction",
           c->r->name, (unsigned long long)c->id, stream_name[d->idx],
           (unsigned long long)(e ? e->offset : 0), e ? e->rule : "reader failed", e ? e->value : 0);
    tr(px, c, d->idx, "malformed at=%llu %s", (unsigned long long)(e ? e->offset : 0), e ? e->rule : "");
    d->rd_broken = 1;
    c->r->st.malformed++;
    if (d->npend > 0) {
        size_t np = d->npend;
        d->npend = 0;
        emit(px, d, d->pend, np, 0, now);
        run_flush(px, d, now);
    }
    if (d->cur_held && d->hlen > 0) {
        emit(px, d, d->hbuf, d->hlen, 0, now);
        run_flush(px, d, now);
        d->hlen = 0;
        d->cur_held = 0;
    }
}

static void dir_input(tl_proxy *px, px_dir *d, uint8_t *p, size_t n, uint64_t now)
{
    d->run_len = 0;
    d->c->r->st.bytes_in[d->idx] += n;
    if (d->eff.drop) {
        d->c->r->st.dropped[d->idx] += n;
        d->in += n;
        return;
    }
    while (n > 0 && !d->c->dying) {
        size_t take = n;
        tl_frame fr;
        int complete = 0;
        if (!d->rd_broken) {
            size_t used = 0;
            tl_read_result r = tl_reader_next(&d->rd, p, n, &used, &fr);
            if (r == TL_READ_ERROR) {
                if (used > 0) {
                    frame_segment(px, d, p, used, NULL, now);
                    p += used;
                    n -= used;
                }
                malformed(px, d, now);
                continue;
            }
            take = used;
            complete = r == TL_READ_FRAME;
        }
        if (take == 0) {
            break;
        }
        frame_segment(px, d, p, take, complete ? &fr : NULL, now);
        p += take;
        n -= take;
    }
    if (!d->c->dying) {
        run_flush(px, d, now);
    }
}

/* The source ended (FIN) or failed (RST): say where a frame was cut short,
 * pass on what waited for an op code, and queue the close behind the data. */
static void dir_source_end(tl_proxy *px, px_dir *d, int rst, uint64_t now)
{
    px_conn *c = d->c;
    if (!d->rd_broken && (tl_reader_pending(&d->rd) > 0 || d->npend > 0)) {
        uint64_t at = d->frame_start;
        size_t missing = tl_reader_missing(&d->rd);
        tr(px, c, d->idx, "truncated frame %llu at=%llu: the stream ended %zu byte(s) short",
           (unsigned long long)(d->frames + 1), (unsigned long long)at, missing);
        if (!px->opt.quiet) {
            px_log(px,
                   "%s conn %llu %s: the stream ended inside frame %llu (starting at byte offset %llu), %zu "
                   "byte(s) short",
                   c->r->name, (unsigned long long)c->id, stream_name[d->idx],
                   (unsigned long long)(d->frames + 1), (unsigned long long)at, missing);
        }
        if (d->npend > 0) {
            size_t np = d->npend;
            d->npend = 0;
            emit(px, d, d->pend, np, 0, now);
        }
        if (d->cur_held && d->hlen > 0) {
            /* a frame withheld whole: what came of it goes when healed */
            frame_complete(px, d, now);
        }
    }
    tr(px, c, d->idx, "%s from %s", rst ? "reset" : "eof", d->idx == TL_PX_UP ? "client" : "server");
    if (rst) {
        d->src_dead = 1;
    } else {
        d->src_eof = 1;
    }
    if (!d->dead) {
        marker(px, d, rst ? P_RST : P_FIN, now);
    }
}

/* ------------------------------------------------------------ writer */

static void conn_maybe_done(tl_proxy *px, px_conn *c)
{
    if (c->dying) {
        return;
    }
    if (c->d[0].fin_sent && c->d[1].fin_sent) {
        tr(px, c, -1, "closed");
        fd_close(px, &c->fd[0], 0);
        fd_close(px, &c->fd[1], 0);
        c->dying = 1;
    }
}

static void dir_flush(tl_proxy *px, px_dir *d, uint64_t now)
{
    px_conn *c = d->c;
    if (c->dying || d->q == NULL) {
        return;
    }
    if (d->idx == TL_PX_UP && !c->up_connected) {
        return;
    }
    if (d->eff.blackhole || now < d->stall_until) {
        return;
    }
    while (d->q != NULL && !c->dying && !d->want_out) {
        px_piece *h = d->q;
        if (h->release > now || now < d->next_write_at) {
            return;
        }
        if (h->kind != P_DATA) {
            if ((h->kind == P_FIN || h->kind == P_RST) && d->eff.slow_close && !h->delayed) {
                h->delayed = 1;
                h->release = now + d->eff.slow_close;
                tr(px, c, d->idx, "fault slow-close: close relayed in %llums",
                   (unsigned long long)(d->eff.slow_close / TL_SIM_NS_PER_MS));
                continue;
            }
            d->q = h->next;
            if (d->q == NULL) {
                d->qtail = NULL;
            }
            uint8_t kind = h->kind;
            free(h);
            if (kind == P_FIN) {
                if (dst_fd(d) >= 0) {
                    (void)shutdown(dst_fd(d), SHUT_WR);
                }
                pcap_pkt(px, c, d->idx, 0x11, NULL, 0);
                tr(px, c, d->idx, "fin relayed");
                d->fin_sent = 1;
                conn_maybe_done(px, c);
            } else if (kind == P_RST) {
                pcap_pkt(px, c, d->idx, 0x14, NULL, 0);
                conn_reset(px, c, "reset relayed", 0);
            } else if (kind == P_CUT) {
                pcap_pkt(px, c, d->idx, 0x14, NULL, 0);
                conn_reset(px, c, "cut", 1);
            } else {
                conn_close_both(px, c, "limit-data");
            }
            return;
        }
        struct iovec iov[64];
        int niov = 0;
        size_t total = 0;
        if (h->slice) {
            iov[0].iov_base = h->data + h->off;
            iov[0].iov_len = h->len - h->off;
            total = iov[0].iov_len;
            niov = 1;
        } else {
            for (px_piece *x = h; x != NULL && niov < 64; x = x->next) {
                if (x->kind != P_DATA || x->slice || x->release > now) {
                    break;
                }
                iov[niov].iov_base = x->data + x->off;
                iov[niov].iov_len = x->len - x->off;
                total += iov[niov].iov_len;
                niov++;
            }
        }
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)niov;
        ssize_t w = sendmsg(dst_fd(d), &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                d->want_out = 1;
            } else {
                dst_failed(px, d, errno);
            }
            return;
        }
        size_t left = (size_t)w;
        d->out += (uint64_t)w;
        c->r->st.bytes_out[d->idx] += (uint64_t)w;
        c->r->st.writes[d->idx]++;
        for (int i = 0; i < niov; i++) {
            size_t part = iov[i].iov_len < left ? iov[i].iov_len : left;
            pcap_pkt(px, c, d->idx, 0x18, iov[i].iov_base, part);
            left -= part;
        }
        left = (size_t)w;
        while (left > 0 && d->q != NULL) {
            px_piece *x = d->q;
            size_t rem = x->len - x->off;
            if (left < rem) {
                x->off += (uint32_t)left;
                d->queued -= left;
                left = 0;
                break;
            }
            left -= rem;
            d->queued -= rem;
            d->q = x->next;
            if (d->q == NULL) {
                d->qtail = NULL;
            }
            int was_slice = x->slice;
            free(x);
            if (was_slice && d->eff.sdelay) {
                d->next_write_at = now + d->eff.sdelay;
            }
        }
        if ((size_t)w < total) {
            d->want_out = 1;
            return;
        }
    }
}

/* ------------------------------------------------------------ connections */

static void conn_kill(tl_proxy *px, px_conn *c)
{
    c->dying = 1;
    for (int k = 0; k < 2; k++) {
        c->r->st.dropped[k] += c->d[k].queued;
        q_free_all(&c->d[k]);
    }
    (void)px;
}

static void conn_reset(tl_proxy *px, px_conn *c, const char *why, int by_fault)
{
    if (c->dying) {
        return;
    }
    tr(px, c, -1, "reset (%s)", why);
    if (by_fault) {
        c->r->st.resets++;
    }
    fd_close(px, &c->fd[0], 1);
    fd_close(px, &c->fd[1], 1);
    conn_kill(px, c);
}

static void conn_close_both(tl_proxy *px, px_conn *c, const char *why)
{
    if (c->dying) {
        return;
    }
    tr(px, c, -1, "close (%s)", why);
    fd_close(px, &c->fd[0], 0);
    fd_close(px, &c->fd[1], 0);
    conn_kill(px, c);
}

static void conn_unlink(px_conn *c)
{
    px_route *r = c->r;
    if (c->prev) {
        c->prev->next = c->next;
    } else if (r->conns == c) {
        r->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    c->next = c->prev = NULL;
}

static void conn_free(px_conn *c)
{
    for (int k = 0; k < 2; k++) {
        q_free_all(&c->d[k]);
        held_free_all(&c->d[k]);
        tl_reader_free(&c->d[k].rd);
        free(c->d[k].hbuf);
    }
    free(c);
}

/* Move connections that died to the graveyard (freed after the events). */
static void reap(tl_proxy *px)
{
    for (px_route *r = px->routes; r != NULL; r = r->next) {
        px_conn *c = r->conns;
        while (c != NULL) {
            px_conn *n = c->next;
            if (c->dying) {
                conn_unlink(c);
                r->st.open--;
                c->next = px->graveyard;
                px->graveyard = c;
            }
            c = n;
        }
    }
}

/* Only the I/O thread frees (or anyone once it has stopped): epoll may
 * still hand it pointers to what died since its last wait. */
static void bury(tl_proxy *px)
{
    while (px->graveyard != NULL) {
        px_conn *c = px->graveyard;
        px->graveyard = c->next;
        conn_free(c);
    }
    while (px->route_graveyard != NULL) {
        px_route *r = px->route_graveyard;
        px->route_graveyard = r->next;
        free(r);
    }
}

static void draw_toxicity(tl_proxy *px, px_conn *c, int s)
{
    const px_slot *sl = &c->r->slots[s];
    uint64_t bit = 1ull << s;
    c->applies &= ~bit;
    if (sl->f.toxicity_ppb >= TL_SIM_PPB) {
        c->applies |= bit;
        return;
    }
    char nm[2 * TL_PX_NAME_MAX + 2];
    tl_sim_prng p;
    snprintf(nm, sizeof nm, "%s/%s", c->r->name, sl->f.name);
    tl_sim_prng_init(&p, px->opt.seed, "toxicity", nm, c->id);
    if (tl_sim_prng_chance(&p, sl->f.toxicity_ppb)) {
        c->applies |= bit;
    }
}

static void conn_refresh(tl_proxy *px, px_conn *c, uint64_t now);

static void conn_accept(tl_proxy *px, px_route *r, int cfd, const struct sockaddr_storage *peer)
{
    px_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        px_log(px, "%s: out of memory, connection refused", r->name);
        close_rst(cfd);
        return;
    }
    uint64_t now = px_now(px);
    c->r = r;
    c->id = ++px->next_conn_id;
    c->start = now;
    c->fd[0].fd = cfd;
    c->fd[0].kind = PXFD_CLIENT;
    c->fd[0].owner = c;
    c->fd[1].fd = -1;
    c->fd[1].kind = PXFD_UPSTREAM;
    c->fd[1].owner = c;
    addr_text(peer, c->client_addr, sizeof c->client_addr);
    for (int k = 0; k < 2; k++) {
        px_dir *d = &c->d[k];
        char nm[TL_PX_NAME_MAX + 8];
        d->c = c;
        d->idx = k;
        tl_reader_options ro;
        memset(&ro, 0, sizeof ro);
        ro.reject_bad_opcode = 1;
        tl_reader_init(&d->rd, &ro);
        d->cur_cut_at = d->cur_stall_at = NONE;
        d->corrupt_at = NONE;
        snprintf(nm, sizeof nm, "%s>%s", r->name, stream_name[k]);
        tl_sim_prng_init(&d->rng, px->opt.seed, "proxy", nm, c->id);
        d->pcap_seq = (uint32_t)tl_sim_prng_next(&d->rng);
    }
    /* pcap endpoints: the real IPv4 ones, else 10.0.0.1 / 10.0.0.2 */
    c->ip[0] = 0x0a000001u;
    c->ip[1] = 0x0a000002u;
    c->port[0] = (uint16_t)(49152 + c->id % 16000);
    c->port[1] = r->upstream.kind == TL_ADDR_TCP ? r->upstream.port : 7000;
    if (peer->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
        c->ip[0] = ntohl(in->sin_addr.s_addr);
        c->port[0] = ntohs(in->sin_port);
    }
    if (peer->ss_family != AF_UNIX) {
        set_nodelay(cfd);
    }
    for (int s = 0; s < TL_PX_FAULTS_MAX; s++) {
        if (r->slots[s].used) {
            c->met[s] = now;
            draw_toxicity(px, c, s);
        }
    }
    eff_compute(c, TL_PX_UP);
    eff_compute(c, TL_PX_DOWN);
    c->next = r->conns;
    if (r->conns) {
        r->conns->prev = c;
    }
    r->conns = c;
    r->st.connections++;
    r->st.open++;
    tr(px, c, -1, "open from %s to %s", c->client_addr, r->upstream_text);

    struct sockaddr_storage ss;
    socklen_t len;
    char err[200];
    int ufd = -1;
    if (resolve(&r->upstream, 0, &ss, &len, err, sizeof err) == 0) {
        if (ss.ss_family == AF_INET) {
            c->ip[1] = ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr);
        }
        ufd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (ufd < 0) {
            snprintf(err, sizeof err, "socket: %s", strerror(errno));
        } else if (connect(ufd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
            snprintf(err, sizeof err, "%s", strerror(errno));
            close(ufd);
            ufd = -1;
        }
    }
    if (ufd < 0) {
        r->st.upstream_failures++;
        px_log(px, "%s: upstream %s refused connection %llu from %s: %s; the client is reset", r->name,
               r->upstream_text, (unsigned long long)c->id, c->client_addr, err);
        conn_reset(px, c, "upstream refused", 0);
        return;
    }
    if (ss.ss_family != AF_UNIX) {
        set_nodelay(ufd);
    }
    c->fd[1].fd = ufd;
    conn_refresh(px, c, now);
}

static void upstream_connected(tl_proxy *px, px_conn *c, uint64_t now)
{
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(c->fd[1].fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
        soerr = errno;
    }
    if (soerr != 0) {
        c->r->st.upstream_failures++;
        px_log(px, "%s: upstream %s refused connection %llu from %s: %s; the client is reset", c->r->name,
               c->r->upstream_text, (unsigned long long)c->id, c->client_addr, strerror(soerr));
        conn_reset(px, c, "upstream refused", 0);
        return;
    }
    c->up_connected = 1;
    tr(px, c, -1, "connected to %s", c->r->upstream_text);
    if (px->opt.pcap) {
        /* the handshake, as the client and the server would have seen it */
        pcap_pkt(px, c, TL_PX_UP, 0x02, NULL, 0);
        pcap_pkt(px, c, TL_PX_DOWN, 0x12, NULL, 0);
        pcap_pkt(px, c, TL_PX_UP, 0x10, NULL, 0);
    }
    conn_refresh(px, c, now);
}

/* Read what the source of d has (until EAGAIN, or a bounded amount). */
static void dir_read(tl_proxy *px, px_dir *d, uint64_t now)
{
    px_conn *c = d->c;
    int fd = c->fd[d->idx].fd;
    for (int rounds = 0; rounds < 8 && !c->dying && fd >= 0; rounds++) {
        if (d->src_eof || d->src_dead || d->eff.blackhole) {
            return;
        }
        ssize_t n = recv(fd, px->rbuf, px->rbuf_cap, 0);
        if (n > 0) {
            dir_input(px, d, px->rbuf, (size_t)n, now);
            if ((size_t)n < px->rbuf_cap || (d->eff.passthrough && d->q != NULL)) {
                return;
            }
            continue;
        }
        if (n == 0) {
            dir_source_end(px, d, 0, now);
            return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return;
        }
        dir_source_end(px, d, 1, now);
        return;
    }
}

static void conn_refresh(tl_proxy *px, px_conn *c, uint64_t now)
{
    for (int k = 0; k < 2 && !c->dying; k++) {
        dir_flush(px, &c->d[k], now);
    }
    if (!c->dying) {
        conn_interest(px, c);
    }
}

static void on_conn_event(tl_proxy *px, px_fd *f, uint32_t ev, uint64_t now)
{
    px_conn *c = f->owner;
    int k = f->kind == PXFD_CLIENT ? 0 : 1;
    if (c->dying) {
        return;
    }
    if (k == 1 && !c->up_connected) {
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            upstream_connected(px, c, now);
        }
        return;
    }
    if (ev & EPOLLOUT) {
        c->d[!k].want_out = 0;
        dir_flush(px, &c->d[!k], now);
    }
    px_dir *rd = &c->d[k];
    int can_read = !rd->src_eof && !rd->src_dead && !rd->eff.blackhole;
    if (!c->dying && (ev & EPOLLIN) && can_read) {
        dir_read(px, rd, now);
    } else if (!c->dying && (ev & (EPOLLERR | EPOLLHUP))) {
        if (can_read) {
            dir_read(px, rd, now);
        } else {
            /* nothing we may act on now (a blackhole keeps the news, or
             * the source is already done): stop hearing about it */
            fd_park(px, f);
        }
    }
    if (!c->dying) {
        conn_refresh(px, c, now);
    }
}

/* ------------------------------------------------------------ routes */

px_route *px_route_find(tl_proxy *px, const char *name)
{
    for (px_route *r = px->routes; r != NULL; r = r->next) {
        if (strcmp(r->name, name) == 0) {
            return r;
        }
    }
    return NULL;
}

static int route_open(tl_proxy *px, px_route *r, char *err, size_t cap)
{
    if (r->lfd.fd >= 0) {
        return 0;
    }
    int fd = listen_on(&r->listen, r->listen_bound, sizeof r->listen_bound, err, cap);
    if (fd < 0) {
        return -1;
    }
    /* port 0 is resolved once: a route taken down and up again listens
     * where its clients know it (as toxiproxy does) */
    tl_address b;
    if (r->listen.kind == TL_ADDR_TCP &&
        tl_address_parse(r->listen_bound, strlen(r->listen_bound), &b) == TL_OK) {
        r->listen.port = b.port;
    }
    r->lfd.fd = fd;
    r->lfd.kind = PXFD_LISTEN;
    r->lfd.owner = r;
    r->lfd.registered = 0;
    r->lfd.parked = 0;
    fd_interest(px, &r->lfd, EPOLLIN);
    return 0;
}

static void route_close_conns(tl_proxy *px, px_route *r, int rst, const char *why)
{
    for (px_conn *c = r->conns; c != NULL; c = c->next) {
        if (rst) {
            conn_reset(px, c, why, 0);
        } else {
            conn_close_both(px, c, why);
        }
    }
}

static void route_shut(tl_proxy *px, px_route *r)
{
    if (r->lfd.fd >= 0) {
        fd_close(px, &r->lfd, 0);
        if (r->listen.kind == TL_ADDR_UDS) {
            unlink(r->listen.path);
        }
    }
}

static void route_set_enabled(tl_proxy *px, px_route *r, int on)
{
    char err[200];
    int want = on && r->downs == 0;
    if (want && r->lfd.fd < 0) {
        if (route_open(px, r, err, sizeof err) != 0) {
            px_log(px, "%s: cannot listen on %s again: %s", r->name, r->listen_text, err);
        } else {
            tr(px, NULL, -1, "route %s up", r->name);
        }
    } else if (!want && r->lfd.fd >= 0) {
        route_shut(px, r);
        route_close_conns(px, r, 0, "route down");
        tr(px, NULL, -1, "route %s down", r->name);
    }
}

static void on_listen_event(tl_proxy *px, px_route *r)
{
    for (int i = 0; i < 64 && r->lfd.fd >= 0; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int cfd = accept4(r->lfd.fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
                px_log(px, "%s: accept: %s", r->name, strerror(errno));
            }
            return;
        }
        conn_accept(px, r, cfd, &ss);
    }
}

static void route_free(tl_proxy *px, px_route *r)
{
    for (px_conn *c = r->conns; c != NULL;) {
        px_conn *n = c->next;
        fd_close(px, &c->fd[0], 1);
        fd_close(px, &c->fd[1], 1);
        conn_free(c);
        c = n;
    }
    r->conns = NULL;
    route_shut(px, r);
    free(r);
}

/* ------------------------------------------------------------ faults */

static void release_held(tl_proxy *px, px_dir *d, uint64_t now)
{
    while (d->held != NULL) {
        px_piece *pc = d->held;
        d->held = pc->next;
        if (d->held == NULL) {
            d->heldtail = NULL;
        }
        if (d->dead || d->c->dying) {
            free(pc);
            continue;
        }
        tl_frame fr;
        if (frame_of_bytes(pc->data, pc->len, &fr) == 0) {
            char ob[16];
            tr(px, d->c, d->idx, "release %s id=%llu", op_name(tl_proto_opcode(fr.hdr.proto), ob, sizeof ob),
               (unsigned long long)fr.hdr.message_id);
            observe(px, d, &fr, 0, 1, 0);
        }
        pc->release = d->last_release > now ? d->last_release : now;
        q_push(d, pc);
    }
}

static void route_recompute(tl_proxy *px, px_route *r, uint64_t now)
{
    for (px_conn *c = r->conns; c != NULL; c = c->next) {
        if (c->dying) {
            continue;
        }
        for (int k = 0; k < 2; k++) {
            eff_compute(c, k);
            if (!c->d[k].eff.hold_mask && c->d[k].held) {
                release_held(px, &c->d[k], now);
            }
            if (!c->d[k].eff.blackhole && c->fd[k].parked) {
                c->fd[k].parked = 0;
            }
        }
        conn_refresh(px, c, now);
    }
}

static void route_heal(tl_proxy *px, px_route *r, uint64_t now)
{
    for (int s = 0; s < TL_PX_FAULTS_MAX; s++) {
        r->slots[s].used = 0;
    }
    r->downs = 0;
    for (px_conn *c = r->conns; c != NULL; c = c->next) {
        for (int k = 0; k < 2; k++) {
            px_dir *d = &c->d[k];
            d->stall_until = d->min_release = d->next_write_at = 0;
            if (d->last_release > now) {
                d->last_release = now;
            }
            if (d->busy_until > now) {
                d->busy_until = now;
            }
            for (px_piece *p = d->q; p != NULL; p = p->next) {
                if (p->release > now) {
                    p->release = now;
                }
            }
        }
    }
    route_recompute(px, r, now);
    route_set_enabled(px, r, 1);
    r->enabled = 1;
    tr(px, NULL, -1, "heal route %s", r->name);
}

static int route_apply(tl_proxy *px, px_route *r, const tl_px_fault *f, uint64_t now, char *err, size_t cap)
{
    switch (f->kind) {
    case TL_PXA_HEAL: route_heal(px, r, now); return TL_OK;
    case TL_PXA_RESET:
        tr(px, NULL, -1, "action reset route %s", r->name);
        for (px_conn *c = r->conns; c != NULL; c = c->next) {
            conn_reset(px, c, "fault reset", 1);
        }
        return TL_OK;
    case TL_PXA_REMOVE: {
        int found = 0;
        char up[TL_PX_NAME_MAX + 16], down[TL_PX_NAME_MAX + 16];
        snprintf(up, sizeof up, "%s_upstream", f->name);
        snprintf(down, sizeof down, "%s_downstream", f->name);
        for (int s = 0; s < TL_PX_FAULTS_MAX; s++) {
            px_slot *sl = &r->slots[s];
            if (sl->used && (strcmp(sl->f.name, f->name) == 0 || strcmp(sl->f.name, up) == 0 ||
                             strcmp(sl->f.name, down) == 0)) {
                if (sl->f.kind == TL_PXF_DOWN && r->downs > 0) {
                    r->downs--;
                }
                sl->used = 0;
                found = 1;
                tr(px, NULL, -1, "remove %s from route %s", sl->f.name, r->name);
            }
        }
        if (!found) {
            snprintf(err, cap, "no fault named '%s' on %s", f->name, r->name);
            return TL_E_NOT_FOUND;
        }
        route_recompute(px, r, now);
        route_set_enabled(px, r, r->enabled);
        return TL_OK;
    }
    default: break;
    }
    if ((f->kind == TL_PXF_STALL && f->frame == 0) || (f->kind == TL_PXF_INJECT && f->frame == 0)) {
        /* once, on the connections open now */
        tr(px, NULL, -1, "action %s %s route %s", f->text[0] ? f->text : f->type, stream_name[f->dir],
           r->name);
        for (px_conn *c = r->conns; c != NULL; c = c->next) {
            px_dir *d = &c->d[f->dir];
            if (c->dying || d->dead) {
                continue;
            }
            if (f->kind == TL_PXF_STALL) {
                if (now + f->time_ns > d->stall_until) {
                    d->stall_until = now + f->time_ns;
                }
                tr(px, c, f->dir, "fault stall %llums", (unsigned long long)(f->time_ns / TL_SIM_NS_PER_MS));
            } else if (between_frames(d) && !d->cur_held) {
                inject_now(px, d, f->inject, f->inject_len, now);
                conn_refresh(px, c, now);
            } else {
                px_piece *pc = piece_new(f->inject_len, P_DATA, 0);
                if (pc != NULL) {
                    memcpy(pc->data, f->inject, f->inject_len);
                    pc->next = d->inj;
                    d->inj = pc;
                }
            }
        }
        return TL_OK;
    }
    /* a standing fault */
    char name[TL_PX_NAME_MAX];
    if (f->name[0]) {
        snprintf(name, sizeof name, "%s", f->name);
    } else {
        snprintf(name, sizeof name, "%s_%s", f->type, stream_name[f->dir]);
    }
    int free_slot = -1;
    for (int s = 0; s < TL_PX_FAULTS_MAX; s++) {
        if (r->slots[s].used && strcmp(r->slots[s].f.name, name) == 0) {
            snprintf(err, cap, "a fault named '%s' exists on %s", name, r->name);
            return TL_E_STATE;
        }
        if (!r->slots[s].used && free_slot < 0) {
            free_slot = s;
        }
    }
    if (free_slot < 0) {
        snprintf(err, cap, "%s has %d faults already", r->name, TL_PX_FAULTS_MAX);
        return TL_E_LIMIT;
    }
    px_slot *sl = &r->slots[free_slot];
    sl->used = 1;
    sl->f = *f;
    snprintf(sl->f.name, sizeof sl->f.name, "%s", name);
    sl->added = now;
    tr(px, NULL, -1, "fault %s on route %s %s: %s", name, r->name, stream_name[f->dir],
       f->text[0] ? f->text : f->type);
    for (px_conn *c = r->conns; c != NULL; c = c->next) {
        c->met[free_slot] = now;
        draw_toxicity(px, c, free_slot);
    }
    if (f->kind == TL_PXF_DOWN) {
        r->downs++;
        route_set_enabled(px, r, r->enabled);
    }
    route_recompute(px, r, now);
    return TL_OK;
}

static void wake(tl_proxy *px)
{
    uint64_t one = 1;
    if (px->wake.fd >= 0) {
        ssize_t w = write(px->wake.fd, &one, sizeof one);
        (void)w;
    }
}

int tl_proxy_apply(tl_proxy *px, const char *route, const tl_px_fault *f, char *err, size_t cap)
{
    int rc = TL_OK;
    pthread_mutex_lock(&px->lock);
    uint64_t now = px_now(px);
    if (route != NULL) {
        px_route *r = px_route_find(px, route);
        if (r == NULL) {
            snprintf(err, cap, "no route named '%s'", route);
            rc = TL_E_NOT_FOUND;
        } else {
            rc = route_apply(px, r, f, now, err, cap);
        }
    } else {
        int any = 0;
        for (px_route *r = px->routes; r != NULL; r = r->next) {
            int one = route_apply(px, r, f, now, err, cap);
            if (one == TL_OK) {
                any = 1;
            } else if (f->kind != TL_PXA_REMOVE) {
                rc = one;
            }
        }
        if (f->kind == TL_PXA_REMOVE && !any) {
            rc = TL_E_NOT_FOUND;
        }
    }
    reap(px);
    pthread_mutex_unlock(&px->lock);
    wake(px);
    return rc;
}

int tl_proxy_apply_text(tl_proxy *px, const char *route, const char *words, char *err, size_t cap)
{
    tl_px_fault f[2];
    int n = tl_px_fault_parse(words, f, err, cap);
    if (n < 0) {
        return TL_E_INVAL;
    }
    for (int i = 0; i < n; i++) {
        int rc = tl_proxy_apply(px, route, &f[i], err, cap);
        if (rc != TL_OK) {
            return rc;
        }
    }
    return TL_OK;
}

void tl_proxy_heal(tl_proxy *px, const char *route)
{
    tl_px_fault f;
    char err[8];
    memset(&f, 0, sizeof f);
    f.kind = TL_PXA_HEAL;
    (void)tl_proxy_apply(px, route, &f, err, sizeof err);
}

int tl_proxy_at(tl_proxy *px, uint64_t t_ns, const char *route, const char *words, char *err, size_t cap)
{
    px_timed *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(err, cap, "out of memory");
        return TL_E_NOMEM;
    }
    t->nf = tl_px_fault_parse(words, t->f, err, cap);
    if (t->nf < 0) {
        free(t);
        return TL_E_INVAL;
    }
    t->at = t_ns;
    t->all_routes = route == NULL;
    if (route != NULL) {
        snprintf(t->route, sizeof t->route, "%s", route);
    }
    pthread_mutex_lock(&px->lock);
    px_timed **pp = &px->timeline;
    while (*pp != NULL && (*pp)->at <= t_ns) {
        pp = &(*pp)->next;
    }
    t->next = *pp;
    *pp = t;
    pthread_mutex_unlock(&px->lock);
    wake(px);
    return TL_OK;
}

static void run_timeline(tl_proxy *px, uint64_t now)
{
    while (px->timeline != NULL && px->timeline->at <= now) {
        px_timed *t = px->timeline;
        px->timeline = t->next;
        char err[200];
        for (int i = 0; i < t->nf; i++) {
            int rc = TL_OK;
            if (t->all_routes) {
                for (px_route *r = px->routes; r != NULL; r = r->next) {
                    rc = route_apply(px, r, &t->f[i], now, err, sizeof err);
                }
            } else {
                px_route *r = px_route_find(px, t->route);
                rc = r ? route_apply(px, r, &t->f[i], now, err, sizeof err) : TL_E_NOT_FOUND;
                if (r == NULL) {
                    snprintf(err, sizeof err, "no route named '%s'", t->route);
                }
            }
            if (rc != TL_OK) {
                px_log(px, "timeline: %s: %s", t->f[i].text, err);
            }
        }
        free(t);
    }
}

/* ------------------------------------------------------------ the loop */

static uint64_t conn_timers(tl_proxy *px, px_conn *c, uint64_t now)
{
    uint64_t next = NONE;
    for (int k = 0; k < 2 && !c->dying; k++) {
        px_dir *d = &c->d[k];
        if (d->eff.reset_at != NONE) {
            if (d->eff.reset_at <= now) {
                conn_reset(px, c, "fault reset-peer", 1);
                return NONE;
            }
            next = d->eff.reset_at < next ? d->eff.reset_at : next;
        }
        if (d->eff.close_at != NONE) {
            if (d->eff.close_at <= now) {
                conn_close_both(px, c, "fault timeout");
                return NONE;
            }
            next = d->eff.close_at < next ? d->eff.close_at : next;
        }
    }
    for (int k = 0; k < 2 && !c->dying; k++) {
        px_dir *d = &c->d[k];
        if (d->q == NULL) {
            continue;
        }
        dir_flush(px, d, now);
        if (c->dying || d->q == NULL || d->want_out || d->eff.blackhole) {
            continue;
        }
        uint64_t t = d->q->release;
        if (d->stall_until > t) {
            t = d->stall_until;
        }
        if (d->next_write_at > t) {
            t = d->next_write_at;
        }
        next = t < next ? t : next;
    }
    if (!c->dying) {
        conn_interest(px, c);
    }
    return next;
}

static void *io_main(void *arg)
{
    tl_proxy *px = arg;
    struct epoll_event evs[64];
    pthread_mutex_lock(&px->lock);
    while (!px->stop) {
        uint64_t now = px_now(px);
        run_timeline(px, now);
        uint64_t next = px->timeline ? px->timeline->at : NONE;
        for (px_route *r = px->routes; r != NULL; r = r->next) {
            for (px_conn *c = r->conns; c != NULL; c = c->next) {
                if (!c->dying) {
                    uint64_t t = conn_timers(px, c, now);
                    next = t < next ? t : next;
                }
            }
        }
        reap(px);
        bury(px);
        int timeout = -1;
        if (next != NONE) {
            uint64_t wait = next > now ? next - now : 0;
            timeout = (int)((wait + 999999) / 1000000);
            if (timeout > 1000) {
                timeout = 1000;
            }
        }
        pthread_mutex_unlock(&px->lock);
        int n = epoll_wait(px->ep, evs, 64, timeout);
        pthread_mutex_lock(&px->lock);
        if (px->stop) {
            break;
        }
        now = px_now(px);
        for (int i = 0; i < n; i++) {
            px_fd *f = evs[i].data.ptr;
            if (f->kind == PXFD_WAKE) {
                uint64_t v;
                ssize_t rd = read(f->fd, &v, sizeof v);
                (void)rd;
            } else if (f->kind == PXFD_LISTEN) {
                on_listen_event(px, f->owner);
            } else {
                on_conn_event(px, f, evs[i].events, now);
            }
        }
        reap(px);
        bury(px);
    }
    pthread_mutex_unlock(&px->lock);
    return NULL;
}

/* ------------------------------------------------------------ public */

int tl_proxy_create(const tl_proxy_options *opt, tl_proxy **out)
{
    tl_proxy *px = calloc(1, sizeof *px);
    if (px == NULL) {
        return TL_E_NOMEM;
    }
    if (opt != NULL) {
        px->opt = *opt;
    }
    px->rbuf_cap = RBUF_SIZE;
    px->rbuf = malloc(px->rbuf_cap);
    px->ep = epoll_create1(EPOLL_CLOEXEC);
    px->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    px->wake.kind = PXFD_WAKE;
    if (px->rbuf == NULL || px->ep < 0 || px->wake.fd < 0 || pthread_mutex_init(&px->lock, NULL) != 0) {
        if (px->ep >= 0) {
            close(px->ep);
        }
        if (px->wake.fd >= 0) {
            close(px->wake.fd);
        }
        free(px->rbuf);
        free(px);
        return TL_E_NOMEM;
    }
    fd_interest(px, &px->wake, EPOLLIN);
    px->t0 = mono_ns();
    *out = px;
    return TL_OK;
}

int tl_proxy_start(tl_proxy *px)
{
    pthread_mutex_lock(&px->lock);
    px->t0 = mono_ns();
    pthread_mutex_unlock(&px->lock);
    if (pthread_create(&px->thread, NULL, io_main, px) != 0) {
        return TL_E_NOMEM;
    }
    px->started = 1;
    return TL_OK;
}

void tl_proxy_destroy(tl_proxy *px)
{
    if (px == NULL) {
        return;
    }
    pthread_mutex_lock(&px->lock);
    px->stop = 1;
    pthread_mutex_unlock(&px->lock);
    wake(px);
    if (px->started) {
        pthread_join(px->thread, NULL);
    }
    while (px->routes != NULL) {
        px_route *r = px->routes;
        px->routes = r->next;
        route_free(px, r);
    }
    bury(px);
    while (px->timeline != NULL) {
        px_timed *t = px->timeline;
        px->timeline = t->next;
        free(t);
    }
    close(px->wake.fd);
    close(px->ep);
    pthread_mutex_destroy(&px->lock);
    if (px->opt.trace) {
        fflush(px->opt.trace);
    }
    if (px->opt.pcap) {
        fflush(px->opt.pcap);
    }
    free(px->rbuf);
    free(px);
}

static int valid_route_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len >= TL_PX_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.')) {
            return 0;
        }
    }
    return 1;
}

int tl_proxy_route_add(tl_proxy *px, const char *name, const char *listen, const char *upstream, int enabled,
                       char *err, size_t cap)
{
    px_route *r = calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(err, cap, "out of memory");
        return TL_E_NOMEM;
    }
    r->lfd.fd = -1;
    if (!valid_route_name(name)) {
        snprintf(err, cap, "bad route name '%s': expected 1-63 of A-Z a-z 0-9 _ - .", name);
        free(r);
        return TL_E_INVAL;
    }
    snprintf(r->name, sizeof r->name, "%s", name);
    if (parse_addr(listen, &r->listen) != 0) {
        snprintf(err, cap, "bad listen address '%s': expected tcp|HOST|PORT, uds|PATH or HOST:PORT", listen);
        free(r);
        return TL_E_BAD_ADDRESS;
    }
    if (parse_addr(upstream, &r->upstream) != 0 ||
        (r->upstream.kind == TL_ADDR_TCP && r->upstream.port == 0)) {
        snprintf(err, cap,
                 "bad upstream address '%s': expected tcp|HOST|PORT (port 1-65535), uds|PATH or HOST:PORT",
                 upstream);
        free(r);
        return TL_E_BAD_ADDRESS;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (resolve(&r->upstream, 0, &ss, &sl, err, cap) != 0) {
        free(r);
        return TL_E_BAD_ADDRESS;
    }
    snprintf(r->listen_text, sizeof r->listen_text, "%s", listen);
    snprintf(r->upstream_text, sizeof r->upstream_text, "%s", upstream);
    r->enabled = enabled;
    pthread_mutex_lock(&px->lock);
    if (px_route_find(px, name) != NULL) {
        pthread_mutex_unlock(&px->lock);
        snprintf(err, cap, "a route named '%s' exists", name);
        free(r);
        return TL_E_STATE;
    }
    if (enabled && route_open(px, r, err, cap) != 0) {
        pthread_mutex_unlock(&px->lock);
        char msg[300];
        snprintf(msg, sizeof msg, "%s", err);
        snprintf(err, cap, "%s: %s", listen, msg);
        free(r);
        return TL_E_IO;
    }
    if (!enabled) {
        char tmp[8];
        (void)tmp;
        snprintf(r->listen_bound, sizeof r->listen_bound, "%s", listen);
    }
    px_route **pp = &px->routes;
    while (*pp != NULL) {
        pp = &(*pp)->next;
    }
    *pp = r;
    pthread_mutex_unlock(&px->lock);
    wake(px);
    return TL_OK;
}

int tl_proxy_route_remove(tl_proxy *px, const char *name)
{
    pthread_mutex_lock(&px->lock);
    px_route **pp = &px->routes;
    while (*pp != NULL && strcmp((*pp)->name, name) != 0) {
        pp = &(*pp)->next;
    }
    if (*pp == NULL) {
        pthread_mutex_unlock(&px->lock);
        return TL_E_NOT_FOUND;
    }
    px_route *r = *pp;
    *pp = r->next;
    /* the I/O thread may hold events for it: it frees it after its next pass */
    route_close_conns(px, r, 0, "route removed");
    route_shut(px, r);
    px_conn *c = r->conns;
    while (c != NULL) {
        px_conn *n = c->next;
        c->next = px->graveyard;
        px->graveyard = c;
        c = n;
    }
    r->conns = NULL;
    r->next = px->route_graveyard;
    px->route_graveyard = r;
    if (!px->started) {
        bury(px);
    }
    pthread_mutex_unlock(&px->lock);
    wake(px);
    return TL_OK;
}

int tl_proxy_route_update(tl_proxy *px, const char *name, const char *listen, const char *upstream,
                          int enabled, char *err, size_t cap)
{
    tl_address la, ua;
    if (listen != NULL && parse_addr(listen, &la) != 0) {
        snprintf(err, cap, "bad listen address '%s'", listen);
        return TL_E_BAD_ADDRESS;
    }
    if (upstream != NULL && (parse_addr(upstream, &ua) != 0 || (ua.kind == TL_ADDR_TCP && ua.port == 0))) {
        snprintf(err, cap, "bad upstream address '%s'", upstream);
        return TL_E_BAD_ADDRESS;
    }
    pthread_mutex_lock(&px->lock);
    px_route *r = px_route_find(px, name);
    if (r == NULL) {
        pthread_mutex_unlock(&px->lock);
        snprintf(err, cap, "no route named '%s'", name);
        return TL_E_NOT_FOUND;
    }
    int rc = TL_OK;
    int changed = 0;
    if (listen != NULL && strcmp(listen, r->listen_text) != 0) {
        route_shut(px, r);
        r->listen = la;
        snprintf(r->listen_text, sizeof r->listen_text, "%s", listen);
        changed = 1;
    }
    if (upstream != NULL && strcmp(upstream, r->upstream_text) != 0) {
        r->upstream = ua;
        snprintf(r->upstream_text, sizeof r->upstream_text, "%s", upstream);
        changed = 1;
    }
    if (changed) {
        route_close_conns(px, r, 0, "route changed");
    }
    if (enabled >= 0) {
        r->enabled = enabled;
    }
    if (r->enabled && r->downs == 0 && r->lfd.fd < 0) {
        if (route_open(px, r, err, cap) != 0) {
            rc = TL_E_IO;
        }
    } else if ((!r->enabled || r->downs) && r->lfd.fd >= 0) {
        route_set_enabled(px, r, 0);
    }
    reap(px);
    pthread_mutex_unlock(&px->lock);
    wake(px);
    return rc;
}

int tl_proxy_route_accepting(tl_proxy *px, const char *name, int on)
{
    char err[200];
    int rc = TL_OK;
    pthread_mutex_lock(&px->lock);
    px_route *r = px_route_find(px, name);
    if (r == NULL) {
        rc = TL_E_NOT_FOUND;
    } else if (!on) {
        route_shut(px, r);
    } else if (r->enabled && r->downs == 0 && route_open(px, r, err, sizeof err) != 0) {
        px_log(px, "%s: cannot listen on %s again: %s", r->name, r->listen_bound, err);
        rc = TL_E_IO;
    }
    pthread_mutex_unlock(&px->lock);
    wake(px);
    return rc;
}

int tl_proxy_route_listen(tl_proxy *px, const char *name, char *out, size_t cap)
{
    pthread_mutex_lock(&px->lock);
    px_route *r = px_route_find(px, name);
    if (r != NULL) {
        snprintf(out, cap, "%s", r->listen_bound);
    }
    pthread_mutex_unlock(&px->lock);
    return r != NULL ? TL_OK : TL_E_NOT_FOUND;
}

void tl_proxy_get_stats(tl_proxy *px, const char *route, tl_proxy_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&px->lock);
    for (px_route *r = px->routes; r != NULL; r = r->next) {
        if (route != NULL && strcmp(route, r->name) != 0) {
            continue;
        }
        const tl_proxy_stats *s = &r->st;
        out->connections += s->connections;
        out->open += s->open;
        out->upstream_failures += s->upstream_failures;
        for (int k = 0; k < 2; k++) {
            out->frames[k] += s->frames[k];
            out->bytes_in[k] += s->bytes_in[k];
            out->bytes_out[k] += s->bytes_out[k];
            out->dropped[k] += s->dropped[k];
            out->writes[k] += s->writes[k];
        }
        out->held += s->held;
        out->injected += s->injected;
        out->resets += s->resets;
        out->malformed += s->malformed;
    }
    pthread_mutex_unlock(&px->lock);
}
