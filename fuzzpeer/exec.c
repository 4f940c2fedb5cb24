/*
 * fuzz-peer: one case over a real connection, and the liveness probe.
 *
 * A case's bytes are written as its plan says while replies are read at the
 * same time (a peer answering hundreds of pipelined frames must never block
 * on us). Each reply is matched, in order, against the model's prediction and
 * checked with the conformance suite's echo rules. The case ends when every
 * predicted reply is in, when the peer closes, or when nothing has moved for
 * the hang bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../conform/conform.h"
#include "internal.h"

#define RX_CHUNK 65536u

int fp_append_barrier(uint64_t id, fp_buf *bytes)
{
    tl_header h;
    uint8_t hdr[TL_HEADER_SIZE];

    memset(&h, 0, sizeof h);
    h.channel = 0x1a2b;
    h.proto = TL_OP_HELLO_REQUEST;
    h.message_id = id;
    tl_header_encode(&h, hdr);
    return fp_buf_append(bytes, hdr, sizeof hdr);
}

/* ---- sockets ---- */

static int poll_ms(uint64_t deadline_us)
{
    uint64_t now = tlc_now_us();

    if (now >= deadline_us) {
        return 0;
    }
    return (int)((deadline_us - now + 999u) / 1000u);
}

/* Connect before deadline. Returns the socket, or -1 with *err = errno. A
 * full UDS backlog (EAGAIN) is retried; a refusal is final. */
static int fp_connect(const fp_ctx *x, uint64_t deadline_us, int *err)
{
    for (;;) {
        int fd = socket(x->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int rc;

        if (fd < 0) {
            *err = errno;
            return -1;
        }
        rc = connect(fd, (const struct sockaddr *)&x->sa, x->sa_len);
        if (rc == 0) {
            goto connected;
        }
        if (errno == EINPROGRESS) {
            struct pollfd pf = {fd, POLLOUT, 0};
            int so = 0;
            socklen_t sl = sizeof so;

            while (poll(&pf, 1, poll_ms(deadline_us)) < 0 && errno == EINTR) {
            }
            if (!(pf.revents & (POLLOUT | POLLERR | POLLHUP))) {
                close(fd);
                *err = ETIMEDOUT;
                return -1;
            }
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) != 0 || so != 0) {
                close(fd);
                *err = so ? so : errno;
                return -1;
            }
            goto connected;
        }
        *err = errno;
        close(fd);
        if ((*err == EAGAIN || *err == EINTR) && tlc_now_us() < deadline_us) {
            tlc_sleep_us(1000);
            continue;
        }
        return -1;
    connected:
        if (x->sa.ss_family != AF_UNIX) {
            int one = 1;

            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        return fd;
    }
}

static void close_rst(int fd)
{
    struct linger lg = {1, 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static const char *op_name(unsigned op)
{
    const char *n = tl_opcode_name(op);
    return n != NULL ? n : "undefined op code";
}

/* ---- the case ---- */

/* Where the replies so far may have left us. Optional replies (a frame tofu
 * ignores and the reference server echoes, a ByeSignal tofu echoes and the
 * reference server does not) make more than one reading possible, so the
 * matcher keeps every position consistent with the replies seen (a small
 * NFA over the predictions). A position is an index 0..n, so n + 1 slots hold
 * every reading: none is ever dropped (16 fixed slots once dropped the right
 * reading after 16 optional frames in a row, and a correct peer was reported). */

typedef struct {
    const fp_ctx *x;
    fp_lane *l;
    const fp_model *m;
    fp_outcome *o;
    size_t *states; /* index of the first prediction not yet answered, per reading */
    size_t *next;   /* scratch for the next set; both hold m->n + 1 */
    size_t nstates;
    size_t first_unchecked; /* index of the first FP_P_UNCHECKED frame, or m->n */
    int have_channel;
    uint16_t channel;
    uint64_t t0;
    uint64_t rx_bytes;
} match_state;

static void fail(match_state *st, tl_fp_oracle oracle, const char *sig, const char *fmt, ...) FP_PRINTF(4, 5);

static void fail(match_state *st, tl_fp_oracle oracle, const char *sig, const char *fmt, ...)
{
    va_list ap;

    if (st->o->failed) {
        return;
    }
    st->o->failed = 1;
    st->o->oracle = oracle;
    fp_copy(st->o->sig, sizeof st->o->sig, sig);
    va_start(ap, fmt);
    vsnprintf(st->o->detail, sizeof st->o->detail, fmt, ap);
    va_end(ap);
}

static void describe_pred(char *out, size_t cap, const fp_pred *p)
{
    fp_fmt(out, cap, "frame #%zu (%s, proto 0x%02x, id %llu, at byte %zu)", p->index + 1,
           op_name(tl_proto_opcode(p->h.proto)), p->h.proto, (unsigned long long)p->h.message_id, p->offset);
}

static int must_answer(const fp_pred *p) { return (p->flags & FP_P_REPLY) && !(p->flags & FP_P_OPTIONAL); }

/* The first prediction at or after s that must be answered, or NULL. */
static const fp_pred *pending_from(const match_state *st, size_t s)
{
    for (; s < st->m->n; s++) {
        if (must_answer(&st->m->p[s])) {
            return &st->m->p[s];
        }
    }
    return NULL;
}

/* The reading that got furthest (the highest position). */
static size_t furthest(const match_state *st)
{
    size_t i, s = 0;

    for (i = 0; i < st->nstates; i++) {
        s = st->states[i] > s ? st->states[i] : s;
    }
    return s;
}

/* Every reply that must come has come, in some reading: in the furthest,
 * since what is pending from a position is pending from any before it. */
static int complete(const match_state *st) { return pending_from(st, furthest(st)) == NULL; }

/* The reading that got furthest: its first pending prediction. */
static const fp_pred *first_pending(const match_state *st) { return pending_from(st, furthest(st)); }

/* Sort the positions (insertion: they are nearly always in order already). */
static void sort_states(size_t *v, size_t n)
{
    size_t i, j;

    for (i = 1; i < n; i++) {
        size_t s = v[i];

        for (j = i; j > 0 && v[j - 1] > s; j--) {
            v[j] = v[j - 1];
        }
        v[j] = s;
    }
}

/* What tl_conform_check_echo fails at once, without formatting a word: the
 * id (a reply carries the frame's id, never 0) and the echo's size (the
 * same text headers, a 16-byte body). Most candidates of a long pipeline
 * are told apart here. */
static int may_echo(const fp_pred *p, const tl_header *r)
{
    if (p->h.message_id != 0 ? r->message_id != p->h.message_id : r->message_id == 0) {
        return 0;
    }
    return r->thl == p->h.thl && r->bl == TL_HEADER_SIZE;
}

static void on_reply(match_state *st, const tl_frame *f)
{
    const fp_model *m = st->m;
    const tl_header *r = &f->hdr;
    fp_outcome *o = st->o;
    size_t *next = st->next, nnext = 0, i;
    uint8_t sig_byte;

    /* The reply pattern (AFLNet's response codes): op, flags, size class. */
    sig_byte = (uint8_t)(r->proto & 0x3Fu);
    {
        /* A set, not a sequence: which kinds of reply came back (bits 0-47). */
        uint8_t cls = (uint8_t)((r->thl == 0     ? 0
                                 : r->thl <= 256 ? 1
                                                 : 2) |
                                (r->bl == 16  ? 4
                                 : r->bl == 0 ? 0
                                              : 8) |
                                (r->status != 0 ? 16 : 0));
        uint64_t k = fp_hash(fp_hash(FP_HASH_INIT, &sig_byte, 1), &cls, 1);

        o->pattern |= 1ull << (k % 48u);
    }
    if (o->replies == 0) {
        o->first_reply_us = tlc_now_us() - st->t0;
    }
    o->replies++;
    st->l->replies++;
    if (o->failed) {
        return;
    }
    if (!st->x->echo) {
        /* Only HelloResponses to our HelloRequests are awaited; anything
         * else the peer sends is its own business. */
        for (i = 0; i < st->nstates; i++) {
            const fp_pred *p = pending_from(st, st->states[i]);

            if (p != NULL && tl_proto_opcode(r->proto) == TL_OP_HELLO_RESPONSE &&
                r->message_id == p->h.message_id) {
                st->states[i] = p->index + 1;
            }
        }
        return;
    }
    /* The reply's channel is the sender's own number, the same on every
     * reply of a connection (6.6). */
    if (st->have_channel && r->channel != st->channel) {
        fail(st, TL_FP_ECHO, "echo: the channel number changed within a connection",
             "reply %zu: channel 0x%04x, but earlier replies on this connection used 0x%04x (6.6)",
             o->replies, r->channel, st->channel);
        return;
    }
    st->have_channel = 1;
    st->channel = r->channel;
    /* From each reading's position, the reply may answer any frame up to
     * and including the first one that must be answered. Readings whose
     * scans overlap end at the same frame, so in position order each frame
     * is checked once per reply (checking per reading made a case of
     * hundreds of optional frames cubic: seconds of CPU, seen as 0.4-4.4 k
     * cases/s from one run to the next), and the next positions come out
     * in order and distinct. */
    sort_states(st->states, st->nstates);
    size_t scanned = 0; /* positions before this are checked */
    for (i = 0; i < st->nstates; i++) {
        size_t t;

        if (st->states[i] < scanned) {
            continue; /* inside the previous reading's scan: it ends where that one did */
        }
        for (t = st->states[i]; t < st->first_unchecked; t++) {
            const fp_pred *p = &m->p[t];

            if (!(p->flags & FP_P_REPLY)) {
                continue;
            }
            if (may_echo(p, r) && tl_conform_check_echo(&p->h, p->text, r, f->text, f->body, NULL, 0)) {
                next[nnext++] = t + 1;
            }
            if (!(p->flags & FP_P_OPTIONAL)) {
                break;
            }
        }
        scanned = t + 1;
    }
    if (nnext > 0) {
        memcpy(st->states, next, nnext * sizeof next[0]);
        st->nstates = nnext;
        return;
    }
    /* No reading explains it. Past the point where nothing is judged, that
     * is fine; else it is wrong for the first frame that must be answered. */
    for (i = 0; i < st->nstates; i++) {
        const fp_pred *p = pending_from(st, st->states[i]);

        if (st->first_unchecked < m->n && (p == NULL || p->index >= st->first_unchecked)) {
            return;
        }
    }
    {
        const fp_pred *p = pending_from(st, st->states[0]);
        char what[160], sig[256], norm[200], why[300];

        if (p != NULL && p->index < st->first_unchecked) {
            (void)tl_conform_check_echo(&p->h, p->text, r, f->text, f->body, why, sizeof why);
            describe_pred(what, sizeof what, p);
            fp_normalize(norm, sizeof norm, why);
            fp_fmt(sig, sizeof sig, "echo: %s: %s", op_name(tl_proto_opcode(p->h.proto)), norm);
            fail(st, TL_FP_ECHO, sig, "reply %zu to %s: %s", o->replies, what, why);
        } else {
            fp_fmt(sig, sizeof sig, "echo: a %s came back where no reply is predicted",
                   op_name(tl_proto_opcode(r->proto)));
            fail(st, TL_FP_ECHO, sig,
                 "reply %zu, %s (proto 0x%02x) id %llu, answers no frame: every frame that gets an echo was "
                 "answered already, or none gets one (section 7)",
                 o->replies, op_name(tl_proto_opcode(r->proto)), r->proto, (unsigned long long)r->message_id);
        }
    }
}

/* Read what is there. Returns 0, or 1 when the peer closed. */
static int read_some(match_state *st, int fd)
{
    fp_lane *l = st->l;
    unsigned rounds = 0;

    for (;;) {
        ssize_t n = recv(fd, l->rx, l->rx_cap, 0);
        size_t off = 0;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (n > 0) {
            st->rx_bytes += (uint64_t)n;
        }
        if (n <= 0) {
            st->o->closed = n == 0 ? FP_CLOSED_EOF : FP_CLOSED_RESET;
            return 1;
        }
        while (off < (size_t)n) {
            size_t used = 0;
            tl_frame f;
            tl_read_result rr = tl_reader_next(&l->reader, l->rx + off, (size_t)n - off, &used, &f);

            off += used;
            if (rr == TL_READ_FRAME) {
                on_reply(st, &f);
            } else if (rr == TL_READ_ERROR) {
                fail(st, TL_FP_ECHO, "echo: a reply that is not a frame",
                     "the peer sent bytes that are not a frame");
                return 0;
            } else {
                break;
            }
        }
        /* A peer that floods must not keep us here: a finding, or 1 MiB per
         * call, and the caller's loop goes on. */
        if ((size_t)n < l->rx_cap || st->o->failed || ++rounds >= 16) {
            return 0;
        }
    }
}

/* May the peer stop reading, or close, at stream offset off? Only past a
 * frame that allows a close (6.7: after a ByeResponse it stops reading). */
static int may_stop_reading(const fp_model *m, size_t off)
{
    size_t i;

    for (i = 0; i < m->n && m->p[i].offset < off; i++) {
        if (m->p[i].close_rule >= 0 || (m->p[i].flags & FP_P_UNCHECKED)) {
            return 1;
        }
    }
    return 0;
}

int fp_exec_case(const fp_ctx *x, fp_lane *l, const fp_case *c, const fp_model *m, fp_outcome *o)
{
    match_state st;
    const fp_plan *pl = &c->plan;
    size_t len = c->bytes.len, cut = 0;
    uint64_t hang_us = (uint64_t)x->opt.hang_ms * 1000u;
    uint64_t progress;
    int fd, err = 0, stalled = 0, peer_gone = 0;
    size_t i;

    memset(o, 0, sizeof *o);
    memset(&st, 0, sizeof st);
    st.x = x;
    st.l = l;
    st.m = m;
    st.o = o;
    st.t0 = tlc_now_us();
    st.states = malloc(2 * (m->n + 1) * sizeof *st.states);
    if (st.states == NULL) {
        o->connect_err = ENOMEM;
        return 0;
    }
    st.next = st.states + m->n + 1;
    st.nstates = 1;
    st.states[0] = 0;
    o->pattern = 0;
    for (i = 0; i < m->n && !(m->p[i].flags & FP_P_UNCHECKED); i++) {
    }
    st.first_unchecked = i;
    fd = fp_connect(x, tlc_now_us() + (uint64_t)x->opt.liveness_ms * 1000u, &err);
    if (fd < 0) {
        o->connect_err = err ? err : EIO;
        free(st.states);
        return 0;
    }
    tl_reader_reset(&l->reader);
    progress = tlc_now_us();
    for (;;) {
        size_t target = len;
        struct pollfd pf;
        int rc;

        if (pl->bytewise) {
            target = o->sent + 1 < len ? o->sent + 1 : len;
        }
        while (cut < pl->ncuts && pl->cuts[cut] <= o->sent) {
            cut++;
        }
        if (cut < pl->ncuts && pl->cuts[cut] < target) {
            target = pl->cuts[cut];
        }
        if (pl->stall_ms > 0 && !stalled && pl->stall_at > o->sent && pl->stall_at < target) {
            target = pl->stall_at;
        }
        if (pl->reset && pl->reset_at < target) {
            target = pl->reset_at > o->sent ? pl->reset_at : o->sent;
        }
        if (pl->reset && o->sent >= pl->reset_at) {
            /* A reset mid-frame: RST, nothing more sent or awaited. */
            (void)read_some(&st, fd);
            close_rst(fd);
            fd = -1;
            o->reset_by_us = 1;
            break;
        }
        if (pl->stall_ms > 0 && !stalled && o->sent == pl->stall_at) {
            /* A stall mid-frame: the peer must go on serving others (the
             * probe) and take the rest of the frame afterwards. */
            uint64_t until = tlc_now_us() + (uint64_t)pl->stall_ms * 1000u;

            stalled = 1;
            if (x->opt.oracles & TL_FP_ORACLE_LIVENESS) {
                if (fp_probe(x, l, x->opt.liveness_ms, o->probe_detail, sizeof o->probe_detail) != 0) {
                    o->probe_failed = 1;
                }
            }
            while (tlc_now_us() < until && !peer_gone) {
                pf.fd = fd;
                pf.events = POLLIN;
                pf.revents = 0;
                if (poll(&pf, 1, poll_ms(until)) > 0) {
                    peer_gone = read_some(&st, fd);
                }
            }
            progress = tlc_now_us();
            continue;
        }
        if (o->sent >= len && (complete(&st) || o->failed)) {
            break;
        }
        if (peer_gone || o->closed) {
            break;
        }
        if (o->failed) {
            break;
        }
        pf.fd = fd;
        pf.events = (short)(POLLIN | (o->sent < len ? POLLOUT : 0));
        pf.revents = 0;
        rc = poll(&pf, 1, poll_ms(progress + hang_us));
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc == 0) {
            const fp_pred *p = first_pending(&st);
            char what[160];

            if (o->sent < len) {
                if (!may_stop_reading(m, o->sent) && (x->opt.oracles & TL_FP_ORACLE_HANG)) {
                    fail(&st, TL_FP_HANG, "hang: the peer stopped reading",
                         "the peer stopped reading: %zu of %zu bytes written, nothing moved for %u ms, the "
                         "connection stayed open",
                         o->sent, len, x->opt.hang_ms);
                }
            } else if (p != NULL && (x->opt.oracles & TL_FP_ORACLE_HANG)) {
                char sig[160];

                describe_pred(what, sizeof what, p);
                fp_fmt(sig, sizeof sig, "hang: no reply to a %s", op_name(tl_proto_opcode(p->h.proto)));
                fail(&st, TL_FP_HANG, sig, "no reply to %s within %u ms; the connection stayed open", what,
                     x->opt.hang_ms);
            }
            break;
        }
        if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
            uint64_t before = st.rx_bytes;

            peer_gone = read_some(&st, fd);
            if (st.rx_bytes != before || peer_gone) {
                progress = tlc_now_us();
            }
            if (peer_gone) {
                continue;
            }
        }
        if ((pf.revents & POLLOUT) && o->sent < target) {
            ssize_t n = send(fd, c->bytes.p + o->sent, target - o->sent, MSG_NOSIGNAL);

            if (n > 0) {
                o->sent += (size_t)n;
                l->bytes_sent += (uint64_t)n;
                progress = tlc_now_us();
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                int how = errno == EPIPE ? FP_CLOSED_EOF : FP_CLOSED_RESET;

                /* The peer closed between the poll and this write: what it
                 * wrote before closing is still queued for us (its replies,
                 * then the end of stream), and is read before judging. */
                (void)read_some(&st, fd);
                if (!o->closed) {
                    o->closed = how;
                }
                peer_gone = 1;
            }
        }
    }
    if (fd >= 0) {
        if (pl->end == FP_END_RST || x->sa.ss_family != AF_UNIX) {
            /* Over TCP always RST: thousands of FIN-closed connections a
             * second would exhaust the local ports in TIME_WAIT. */
            close_rst(fd);
        } else {
            close(fd);
        }
    }
    for (i = 0; i < m->n && m->p[i].end <= o->sent; i++) {
        l->frames_sent++;
    }
    for (i = 0; i < st.nstates; i++) {
        if (st.states[i] > o->answered) {
            o->answered = st.states[i];
        }
    }
    /* The peer closed before every predicted reply was in. */
    if (!o->failed && o->closed && !o->reset_by_us && !complete(&st) && !m->may_close &&
        (x->opt.oracles & TL_FP_ORACLE_ECHO)) {
        const fp_pred *p = first_pending(&st);
        char what[160], sig[160];

        if (p != NULL) {
            describe_pred(what, sizeof what, p);
            fp_fmt(sig, sizeof sig, "echo: the connection closed before the reply to a %s",
                   op_name(tl_proto_opcode(p->h.proto)));
            fail(&st, TL_FP_ECHO, sig,
                 "the peer %s the connection before the reply to %s; no rule of section 7 closes it",
                 o->closed == FP_CLOSED_EOF ? "closed" : "reset", what);
        }
    }
    {
        /* How it ended (bits 48-55): closes, reply count and time to the first reply, coarse. */
        uint64_t ended = (uint64_t)(o->closed | (o->reset_by_us << 2));
        uint64_t count = (uint64_t)(o->replies < 4     ? o->replies
                                    : o->replies < 16  ? 4
                                    : o->replies < 128 ? 5
                                                       : 6);
        uint64_t slow = (uint64_t)(o->first_reply_us < 1000 ? 0 : o->first_reply_us < 10000 ? 1 : 2);

        o->pattern |= (ended << 48) | (count << 51) | (slow << 54);
    }
    free(st.states);
    return 0;
}

/* ---- liveness ---- */

int fp_probe(const fp_ctx *x, fp_lane *l, unsigned timeout_ms, char *why, size_t why_cap)
{
    uint64_t deadline = tlc_now_us() + (uint64_t)timeout_ms * 1000u;
    uint8_t out[TL_HEADER_SIZE * 3 + sizeof x->hello_text];
    uint8_t body[TL_HEADER_SIZE];
    tl_header h;
    tl_reader rd;
    size_t len = 0, sent = 0, want = x->echo ? 2u : 1u, got = 0;
    uint64_t id = l->next_id;
    int fd, err = 0, rc = -1;

    l->next_id += 2;
    l->probes++;
    fd = fp_connect(x, deadline, &err);
    if (fd < 0) {
        fp_fmt(why, why_cap, "connect: %s", strerror(err));
        return -1;
    }
    memset(&h, 0, sizeof h);
    h.channel = 0x1a2b;
    h.proto = TL_OP_HELLO_REQUEST;
    h.message_id = id;
    h.thl = (uint16_t)x->hello_tl;
    tl_header_encode(&h, out);
    memcpy(out + TL_HEADER_SIZE, x->hello_text, x->hello_tl);
    len = TL_HEADER_SIZE + x->hello_tl;
    if (x->echo) {
        h.proto = TL_OP_REQUEST;
        h.message_id = id + 1;
        h.thl = 0;
        h.bl = TL_HEADER_SIZE;
        tl_header_encode_native(&h, body);
        tl_header_encode(&h, out + len);
        memcpy(out + len + TL_HEADER_SIZE, body, sizeof body);
        len += 2 * TL_HEADER_SIZE;
        l->budget++;
    }
    tl_reader_init(&rd, NULL);
    fp_fmt(why, why_cap, "no reply within %u ms", timeout_ms);
    while (got < want) {
        struct pollfd pf = {fd, (short)(POLLIN | (sent < len ? POLLOUT : 0)), 0};
        int pr = poll(&pf, 1, poll_ms(deadline));

        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr <= 0) {
            fp_fmt(why, why_cap, "%s within %u ms (%zu of %zu replies)",
                   got == 0 ? "no HelloResponse" : "no echo of the Request", timeout_ms, got, want);
            break;
        }
        if ((pf.revents & POLLOUT) && sent < len) {
            ssize_t n = send(fd, out + sent, len - sent, MSG_NOSIGNAL);

            if (n > 0) {
                sent += (size_t)n;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                fp_fmt(why, why_cap, "send: %s", strerror(errno));
                break;
            }
        }
        if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, l->rx, l->rx_cap, 0);
            size_t off = 0;

            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                fp_fmt(why, why_cap, "the peer %s the connection after %zu of %zu replies",
                       n == 0 ? "closed" : "reset", got, want);
                break;
            }
            while (n > 0 && off < (size_t)n) {
                size_t used = 0;
                tl_frame f;
                tl_read_result rr = tl_reader_next(&rd, l->rx + off, (size_t)n - off, &used, &f);

                off += used;
                if (rr == TL_READ_FRAME) {
                    got++;
                } else {
                    break;
                }
            }
        }
    }
    if (got >= want) {
        rc = 0;
        why[0] = '\0';
    }
    tl_reader_free(&rd);
    close_rst(fd);
    return rc;
}

int fp_lane_init(fp_lane *l, unsigned index)
{
    memset(l, 0, sizeof *l);
    l->rx_cap = RX_CHUNK;
    l->rx = malloc(l->rx_cap);
    if (l->rx == NULL) {
        return -1;
    }
    tl_reader_init(&l->reader, NULL);
    /* Probe ids: a range of their own per lane, apart from the cases' ids
     * and from the barriers (0x7f...). */
    l->next_id = 0x7e00000000000001ull + ((uint64_t)index << 40);
    return 0;
}

void fp_lane_free(fp_lane *l)
{
    tl_reader_free(&l->reader);
    free(l->rx);
    memset(l, 0, sizeof *l);
}
