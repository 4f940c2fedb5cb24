/*
 * Conformance suite: raw sockets. Every wait is bounded by a deadline; the
 * receive buffer is capped so a flooding peer cannot exhaust memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net.h"
#include "case.h"
#include "sniff.h"
#include "util.h"

#define RX_INITIAL             (64u * 1024u)
#define RX_CAP                 (4u * 1024u * 1024u) /* more unparsed bytes than this: flood */
#define FRAMES_LOGGED_PER_CONN 48u

static int set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        return -1;
    }
    return 0;
}

static int poll_ms_until(uint64_t deadline_us)
{
    uint64_t now = tlc_now_us();
    uint64_t left;

    if (now >= deadline_us) {
        return 0;
    }
    left = (deadline_us - now + 999u) / 1000u;
    return left > 1000u ? 1000 : (int)left;
}

/* ---- the peer's address ---- */

int tlc_resolve(tlc_run *run, char *err, size_t err_cap)
{
    const tl_address *a = &run->opt.peer;

    memset(&run->addr, 0, sizeof run->addr);
    if (a->kind == TL_ADDR_UDS) {
        struct sockaddr_un *un = (struct sockaddr_un *)&run->addr;

        if (strlen(a->path) >= sizeof un->sun_path) {
            snprintf(err, err_cap, "UDS path too long");
            return TL_E_INVAL;
        }
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, a->path, strlen(a->path) + 1);
        run->addr_len = (socklen_t)sizeof *un;
        return TL_OK;
    }
    if (a->kind == TL_ADDR_TCP) {
        struct addrinfo hints, *res = NULL;
        char port[8];
        int rc;

        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        snprintf(port, sizeof port, "%u", a->port);
        rc = getaddrinfo(a->host, port, &hints, &res);
        if (rc != 0 || res == NULL) {
            snprintf(err, err_cap, "cannot resolve %s: %s", a->host, gai_strerror(rc));
            return TL_E_IO;
        }
        /* tofu uses the first result (4.3) */
        memcpy(&run->addr, res->ai_addr, res->ai_addrlen);
        run->addr_len = res->ai_addrlen;
        freeaddrinfo(res);
        return TL_OK;
    }
    snprintf(err, err_cap, "bad address kind");
    return TL_E_INVAL;
}

static tlc_conn *conn_new(tlc_case *c, int fd)
{
    tlc_conn *k = calloc(1, sizeof *k);

    if (k == NULL) {
        return NULL;
    }
    k->c = c;
    k->fd = fd;
    k->num = ++c->conns;
    return k;
}

tlc_conn *tlc_conn_wrap(tlc_case *c, int fd)
{
    tlc_conn *k;

    if (set_nonblocking(fd) != 0) {
        return NULL;
    }
    k = conn_new(c, fd);
    return k;
}

static int connect_once(tlc_run *run, uint64_t deadline, int *err_out)
{
    const struct sockaddr *sa = (const struct sockaddr *)&run->addr;
    int fd = socket(sa->sa_family, SOCK_STREAM, 0);
    int rc;

    if (fd < 0) {
        *err_out = errno;
        return -1;
    }
    if (set_nonblocking(fd) != 0) {
        *err_out = errno;
        close(fd);
        return -1;
    }
    if (sa->sa_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    rc = connect(fd, sa, run->addr_len);
    if (rc != 0 && errno != EINPROGRESS && errno != EAGAIN) {
        *err_out = errno;
        close(fd);
        return -1;
    }
    if (rc != 0) {
        for (;;) {
            struct pollfd pf;
            int pr;
            int soerr = 0;
            socklen_t sl = sizeof soerr;

            pf.fd = fd;
            pf.events = POLLOUT;
            pf.revents = 0;
            pr = poll(&pf, 1, poll_ms_until(deadline));
            if (pr < 0 && errno == EINTR) {
                continue;
            }
            if (pr == 0) {
                if (tlc_now_us() >= deadline) {
                    *err_out = ETIMEDOUT;
                    close(fd);
                    return -1;
                }
                continue;
            }
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
                soerr = errno;
            }
            if (soerr != 0) {
                *err_out = soerr;
                close(fd);
                return -1;
            }
            break;
        }
    }
    return fd;
}

tlc_conn *tlc_open(tlc_case *c, int report_fail)
{
    uint64_t deadline = tlc_deadline(c);
    int err = 0;
    int fd = connect_once(c->run, deadline, &err);
    tlc_conn *k;

    if (fd < 0 && (err == ECONNREFUSED || err == EAGAIN)) {
        /* one retry: a full accept backlog also refuses */
        tlc_sleep_us(50000);
        fd = connect_once(c->run, deadline, &err);
    }
    if (fd < 0) {
        c->connect_failed = 1;
        c->connect_errno = err;
        tlc_event_note(c, c->conns + 1, "connect failed: %s", strerror(err));
        if (report_fail) {
            tlc_fail(c, "cannot connect to the peer: %s", strerror(err));
        }
        return NULL;
    }
    k = conn_new(c, fd);
    if (k == NULL) {
        close(fd);
        tlc_fail(c, "out of memory");
        return NULL;
    }
    tlc_event_note(c, k->num, "connected (connection #%u)", k->num);
    return k;
}

void tlc_close(tlc_conn *k, int rst)
{
    if (k == NULL) {
        return;
    }
    if (k->head_len > 0 && k->c->not_tofu == TLC_SNIFF_TOFU) {
        tlc_sb why = {0};
        tlc_sniff_kind kind = tlc_sniff(k->head, k->head_len, k->rx_total, &why);

        if (kind != TLC_SNIFF_TOFU) {
            k->c->not_tofu = (int)kind;
            snprintf(k->c->not_tofu_why, sizeof k->c->not_tofu_why, "%s", why.s != NULL ? why.s : "");
        }
        tlc_sb_free(&why);
    }
    if (rst) {
        struct linger lg;

        lg.l_onoff = 1;
        lg.l_linger = 0;
        setsockopt(k->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(k->fd);
    if (k->rx_len > 0) {
        tlc_event(k->c, TL_CONFORM_RECEIVED, k->num, k->rx, k->rx_len, "bytes not forming a whole frame");
    }
    tlc_event_note(k->c, k->num, "we closed connection #%u%s", k->num, rst ? " (RST)" : "");
    free(k->rx);
    free(k);
}

/* Linux drops out of quick-ACK mode by itself (after sending data, for
 * one): with quickack on, every read and every wait turns it on again. */
static void rearm_quickack(tlc_conn *k)
{
#ifdef TCP_QUICKACK
    if (k->quickack) {
        int one = 1;

        (void)setsockopt(k->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
#else
    (void)k;
#endif
}

int tlc_set_quickack(tlc_conn *k, int on)
{
#ifdef TCP_QUICKACK
    int v = on ? 1 : 0;

    if (setsockopt(k->fd, IPPROTO_TCP, TCP_QUICKACK, &v, sizeof v) != 0) {
        k->quickack = 0;
        return -1;
    }
    k->quickack = on;
    return 0;
#else
    (void)on;
    k->quickack = 0;
    return -1;
#endif
}

/* Read whatever is available. Returns bytes read (0: nothing now). */
static size_t conn_read(tlc_conn *k)
{
    size_t got = 0;

    while (!k->closed && !k->flood) {
        ssize_t n;

        if (k->rx_len == k->rx_cap) {
            size_t ncap = k->rx_cap ? k->rx_cap * 2 : RX_INITIAL;
            uint8_t *nb;

            if (k->rx_cap >= RX_CAP) {
                k->flood = 1;
                tlc_event_note(k->c, k->num, "more than %u unparsed bytes: the peer floods; reading stopped",
                               RX_CAP);
                break;
            }
            if (ncap > RX_CAP) {
                ncap = RX_CAP;
            }
            nb = realloc(k->rx, ncap);
            if (nb == NULL) {
                k->flood = 1;
                break;
            }
            k->rx = nb;
            k->rx_cap = ncap;
        }
        n = recv(k->fd, k->rx + k->rx_len, k->rx_cap - k->rx_len, 0);
        if (n > 0) {
            if (k->rx_len == 0) {
                k->rx_since_us = tlc_now_us();
            }
            if (k->head_len < sizeof k->head) {
                size_t h = sizeof k->head - k->head_len;

                if (h > (size_t)n) {
                    h = (size_t)n;
                }
                memcpy(k->head + k->head_len, k->rx + k->rx_len, h);
                k->head_len += h;
            }
            rearm_quickack(k);
            k->rx_len += (size_t)n;
            k->rx_total += (uint64_t)n;
            got += (size_t)n;
            continue;
        }
        if (n == 0) {
            k->closed = TLC_CLOSED_EOF;
            tlc_event_note(k->c, k->num, "peer closed connection #%u (end of stream)", k->num);
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        }
        k->closed = TLC_CLOSED_RESET;
        tlc_event_note(k->c, k->num, "connection #%u: %s", k->num, strerror(errno));
        break;
    }
    return got;
}

/* Wait for readability until deadline and read. Returns 1 if bytes arrived
 * or the state changed, 0 on timeout. */
static int conn_wait_read(tlc_conn *k, uint64_t deadline)
{
    for (;;) {
        struct pollfd pf;
        int pr;

        if (k->closed || k->flood) {
            return 1;
        }
        if (tlc_now_us() >= deadline) {
            return 0;
        }
        rearm_quickack(k);
        pf.fd = k->fd;
        pf.events = POLLIN;
        pf.revents = 0;
        pr = poll(&pf, 1, poll_ms_until(deadline));
        if (pr < 0 && errno != EINTR) {
            k->closed = TLC_CLOSED_RESET;
            return 1;
        }
        if (pr > 0) {
            uint64_t before = k->rx_total;
            int was_closed = k->closed;

            conn_read(k);
            if (k->rx_total != before || k->closed != was_closed || k->flood) {
                return 1;
            }
        }
    }
}

static void pause_reading(tlc_conn *k, unsigned us)
{
    if (us > 0) {
        tlc_sleep_us(us);
    }
    conn_read(k);
}

static size_t next_chunk(const tlc_split *s, size_t off, size_t left, size_t *cut_i, uint64_t *rng)
{
    size_t n = left;

    if (s == NULL) {
        return left;
    }
    switch (s->mode) {
    case TLC_SPLIT_NONE: n = left; break;
    case TLC_SPLIT_BYTES: n = 1; break;
    case TLC_SPLIT_RANDOM: n = 1 + (size_t)(tlc_rand(rng) % 64u); break;
    case TLC_SPLIT_AT:
        while (*cut_i < s->ncuts && s->cuts[*cut_i] <= off) {
            (*cut_i)++;
        }
        n = *cut_i < s->ncuts ? s->cuts[*cut_i] - off : left;
        break;
    }
    return n < left ? n : left;
}

int tlc_send(tlc_conn *k, const uint8_t *data, size_t len, const tlc_split *split, const char *what)
{
    uint64_t deadline = tlc_deadline(k->c) + (uint64_t)len / 16u; /* 1 s more per 16 MB */
    uint64_t rng = split != NULL ? split->seed : 0;
    size_t off = 0;
    size_t writes = 0;
    size_t cut_i = 0;
    unsigned pause = 0;
    tlc_sb note = {0};

    if (split != NULL) {
        pause = split->pause_us;
        if (pause == 0 && split->mode == TLC_SPLIT_RANDOM) {
            pause = 300;
        } else if (pause == 0 && split->mode != TLC_SPLIT_NONE) {
            pause = 1000;
        }
    }
    while (off < len) {
        size_t chunk = next_chunk(split, off, len - off, &cut_i, &rng);
        size_t end = off + chunk;

        if (writes > 0 && pause > 0) {
            pause_reading(k, pause);
        }
        writes++;
        while (off < end) {
            ssize_t n = send(k->fd, data + off, end - off, MSG_NOSIGNAL);

            if (n > 0) {
                off += (size_t)n;
                continue;
            }
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                struct pollfd pf;

                if (tlc_now_us() >= deadline) {
                    tlc_event(k->c, TL_CONFORM_SENT, k->num, data, off, what);
                    tlc_event_note(k->c, k->num, "send stalled: the peer took only %zu of %zu bytes in %u ms",
                                   off, len, k->c->run->timeout_ms);
                    k->send_error = ETIMEDOUT;
                    return -1;
                }
                pf.fd = k->fd;
                pf.events = POLLOUT | POLLIN;
                pf.revents = 0;
                if (poll(&pf, 1, poll_ms_until(deadline)) > 0 && (pf.revents & POLLIN)) {
                    conn_read(k); /* keep the peer's replies flowing */
                }
                continue;
            }
            k->send_error = n < 0 ? errno : EPIPE;
            if (k->closed == TLC_CLOSED_NO) {
                k->closed = TLC_CLOSED_RESET;
            }
            tlc_event(k->c, TL_CONFORM_SENT, k->num, data, off, what);
            tlc_event_note(k->c, k->num, "send failed after %zu of %zu bytes: %s", off, len,
                           strerror(k->send_error));
            return -1;
        }
    }
    if (what != NULL) {
        tlc_sb_printf(&note, "%s; ", what);
    }
    tlc_sb_printf(&note, "%zu bytes in %zu write%s", len, writes, writes == 1 ? "" : "s");
    if (split != NULL && split->mode == TLC_SPLIT_BYTES) {
        tlc_sb_printf(&note, " (byte by byte)");
    } else if (split != NULL && split->mode == TLC_SPLIT_RANDOM) {
        tlc_sb_printf(&note, " (random split, seed %llu)", (unsigned long long)split->seed);
    }
    tlc_event(k->c, TL_CONFORM_SENT, k->num, data, len, note.s);
    tlc_sb_free(&note);
    return 0;
}

static int try_parse(tlc_conn *k, tlc_frame *f)
{
    tl_header h;
    size_t need;

    if (k->rx_len < TL_HEADER_SIZE) {
        return 0;
    }
    tl_header_decode(k->rx, &h);
    need = TL_HEADER_SIZE + (size_t)h.thl + h.bl;
    if (k->rx_len < need) {
        return 0;
    }
    memset(f, 0, sizeof *f);
    f->h = h;
    if (h.thl > 0) {
        f->text = malloc(h.thl);
        if (f->text != NULL) {
            memcpy(f->text, k->rx + TL_HEADER_SIZE, h.thl);
        }
    }
    if (h.bl > 0) {
        f->body = malloc(h.bl);
        if (f->body != NULL) {
            memcpy(f->body, k->rx + TL_HEADER_SIZE + h.thl, h.bl);
        }
    }
    if ((h.thl > 0 && f->text == NULL) || (h.bl > 0 && f->body == NULL)) {
        tlc_frame_free(f);
        k->flood = 1;
        return 0;
    }
    k->frame_first_us = k->rx_since_us;
    k->frames_in++;
    if (k->frames_logged < FRAMES_LOGGED_PER_CONN) {
        k->frames_logged++;
        tlc_event(k->c, TL_CONFORM_RECEIVED, k->num, k->rx, need, NULL);
        if (k->frames_logged == FRAMES_LOGGED_PER_CONN) {
            tlc_event_note(k->c, k->num, "further frames on connection #%u are not recorded", k->num);
        }
    }
    memmove(k->rx, k->rx + need, k->rx_len - need);
    k->rx_len -= need;
    return 1;
}

int tlc_recv(tlc_conn *k, uint64_t deadline_us, tlc_frame *f)
{
    memset(f, 0, sizeof *f);
    for (;;) {
        if (try_parse(k, f)) {
            return TLC_RX_FRAME;
        }
        if (k->flood) {
            return TLC_RX_FLOOD;
        }
        if (k->closed) {
            return TLC_RX_CLOSED;
        }
        conn_read(k);
        if (try_parse(k, f)) {
            return TLC_RX_FRAME;
        }
        if (k->closed || k->flood) {
            continue;
        }
        if (!conn_wait_read(k, deadline_us)) {
            return TLC_RX_TIMEOUT;
        }
    }
}

int tlc_wait_quiet(tlc_conn *k, uint64_t deadline_us)
{
    uint64_t before;

    conn_read(k);
    if (k->rx_len > 0 || k->closed || k->flood) {
        return 1;
    }
    before = k->rx_total;
    while (conn_wait_read(k, deadline_us)) {
        if (k->rx_total != before || k->closed || k->flood) {
            return 1;
        }
    }
    return 0;
}

int tlc_wait_close(tlc_conn *k, uint64_t deadline_us, size_t *frames)
{
    for (;;) {
        tlc_frame f;
        int r = tlc_recv(k, deadline_us, &f);

        if (r == TLC_RX_FRAME) {
            if (frames != NULL) {
                (*frames)++;
            }
            tlc_frame_free(&f);
            continue;
        }
        if (r == TLC_RX_CLOSED) {
            return 1;
        }
        if (r == TLC_RX_FLOOD) {
            return 0;
        }
        return 0;
    }
}

void tlc_discard(tlc_conn *k)
{
    if (k->rx_len > 0) {
        tlc_event(k->c, TL_CONFORM_RECEIVED, k->num, k->rx, k->rx_len,
                  "bytes not forming a whole frame (discarded)");
    }
    k->rx_len = 0;
}

void tlc_describe_pending(tlc_conn *k, tlc_sb *out)
{
    tl_header be, le;

    if (k->rx_len == 0) {
        tlc_sb_printf(out, "nothing arrived");
        return;
    }
    if (k->rx_len < TL_HEADER_SIZE) {
        tlc_sb_printf(out, "only %zu byte%s arrived (a header has 16)", k->rx_len, k->rx_len == 1 ? "" : "s");
        return;
    }
    tl_header_decode(k->rx, &be);
    tl_header_decode_native(k->rx, &le);
    tlc_sb_printf(out, "%zu bytes arrived; their header announces thl %u + bl %u = %zu bytes", k->rx_len,
                  be.thl, be.bl, TL_HEADER_SIZE + (size_t)be.thl + be.bl);
    if (TL_HEADER_SIZE + (size_t)le.thl + le.bl <= k->rx_len && (le.bl != be.bl || le.thl != be.thl)) {
        tlc_sb_printf(out,
                      "; read as little-endian it would be a whole frame (thl %u bl %u id %llu): the peer "
                      "encodes the header little-endian, not big-endian per field (1.2, A1)",
                      le.thl, le.bl, (unsigned long long)le.message_id);
    }
}

/* ---- listening (client role) ---- */

int tlc_listen(tlc_run *run, char *bound, size_t bound_cap, char *err, size_t err_cap)
{
    const struct sockaddr *sa = (const struct sockaddr *)&run->addr;
    int fd;
    int one = 1;

    if (sa->sa_family == AF_UNIX) {
        struct stat st;

        if (lstat(run->opt.peer.path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                snprintf(err, err_cap, "%s exists and is not a socket; not removing it", run->opt.peer.path);
                return -1;
            }
            unlink(run->opt.peer.path);
        }
    }
    fd = socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(err, err_cap, "socket: %s", strerror(errno));
        return -1;
    }
    if (sa->sa_family != AF_UNIX) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (bind(fd, sa, run->addr_len) != 0 || listen(fd, 16) != 0) {
        snprintf(err, err_cap, "cannot listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (set_nonblocking(fd) != 0) {
        snprintf(err, err_cap, "fcntl: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (sa->sa_family == AF_UNIX) {
        snprintf(bound, bound_cap, "uds|%s", run->opt.peer.path);
    } else {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        unsigned port = run->opt.peer.port;

        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
            if (ss.ss_family == AF_INET) {
                port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            } else if (ss.ss_family == AF_INET6) {
                port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            }
        }
        snprintf(bound, bound_cap, "tcp|%s|%u", run->opt.peer.host, port);
    }
    return fd;
}
