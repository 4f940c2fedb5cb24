/* In-memory host for engine cores: see pair.h. */
#include "pair.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAIR_MAX_PASSES 200000
#define PAIR_IOV        16

uint64_t pair_xorshift(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static void bytes_append(pair_bytes *b, const void *data, size_t len)
{
    if (len == 0) {
        return;
    }
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len) {
            cap *= 2;
        }
        uint8_t *p = realloc(b->data, cap);
        assert_non_null(p);
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void bytes_free(pair_bytes *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void pair_check(const pair_net *n)
{
    for (int i = 0; i < n->nnodes; i++) {
        const char *why = tl_engine_check(n->node[i].e);
        if (why != NULL) {
            fail_msg("tl_engine_check(node %d): %s", i, why);
        }
    }
}

void pair_init_each(pair_net *n, int nnodes, const tl_engine_options *opts)
{
    assert_int_equal(pair_try_init(n, nnodes, opts), TL_OK);
}

int pair_try_init(pair_net *n, int nnodes, const tl_engine_options *opts)
{
    assert_true(nnodes >= 1 && nnodes <= PAIR_MAX_NODES);
    memset(n, 0, sizeof *n);
    n->mode = PAIR_CHUNK_ALL;
    n->rng = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < nnodes; i++) {
        int rc = tl_engine_create(&opts[i], &n->node[i].e);
        if (rc == TL_OK) {
            n->nnodes = i + 1;
            rc = tl_engine_group_create(n->node[i].e, &n->node[i].group);
        }
        if (rc != TL_OK) {
            for (int k = 0; k < n->nnodes; k++) {
                tl_engine_destroy(n->node[k].e);
            }
            memset(n, 0, sizeof *n);
            return rc;
        }
    }
    pair_check(n);
    return TL_OK;
}

void pair_init(pair_net *n, int nnodes, const tl_engine_options *opt)
{
    tl_engine_options o[PAIR_MAX_NODES];
    assert_true(nnodes >= 1 && nnodes <= PAIR_MAX_NODES);
    for (int i = 0; i < nnodes; i++) {
        if (opt) {
            o[i] = *opt;
        } else {
            memset(&o[i], 0, sizeof o[i]);
        }
        if (o[i].seed == 0) {
            o[i].seed = 0x1000u + (uint64_t)i;
        }
    }
    pair_init_each(n, nnodes, o);
}

void pair_free(pair_net *n)
{
    for (int i = 0; i < n->nnodes; i++) {
        tl_engine *e = n->node[i].e;
        tl_message *m;
        /* Whatever is left in the groups goes back; then every group goes
         * (channels closed, queued messages to the pool). */
        for (uint32_t g = 1; g <= 64; g++) {
            while (tl_engine_receive(e, g, &m) == TL_OK) {
                tl_engine_put(e, &m);
            }
            (void)tl_engine_group_destroy(e, g);
        }
        const char *why = tl_engine_check(e);
        if (why != NULL) {
            fail_msg("tl_engine_check(node %d) at free: %s", i, why);
        }
        tl_engine_stats st;
        tl_engine_get_stats(e, &st);
        if (st.messages_live != st.pool_now || st.channels_now != 0) {
            fail_msg("node %d leaks: messages_live %u, pool_now %u, channels_now %u", i,
                     (unsigned)st.messages_live, (unsigned)st.pool_now, (unsigned)st.channels_now);
        }
        tl_engine_destroy(e);
        n->node[i].e = NULL;
    }
    for (int c = 0; c < PAIR_MAX_CONNS; c++) {
        for (int k = 0; k < 2; k++) {
            bytes_free(&n->conn[c].pipe[k]);
            bytes_free(&n->conn[c].wire[k]);
        }
    }
    free(n->log);
    memset(n, 0, sizeof *n);
}

void pair_set_chunk(pair_net *n, pair_chunk_mode mode, size_t chunk, uint64_t seed)
{
    n->mode = mode;
    n->chunk = chunk ? chunk : 1;
    n->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
}

static size_t chunk_size(pair_net *n, size_t avail)
{
    size_t k = avail;
    switch (n->mode) {
    case PAIR_CHUNK_ALL: break;
    case PAIR_CHUNK_ONE: k = 1; break;
    case PAIR_CHUNK_FIXED: k = n->chunk; break;
    case PAIR_CHUNK_RANDOM: k = 1 + (size_t)(pair_xorshift(&n->rng) % n->chunk); break;
    }
    return k < avail ? k : avail;
}

/* ------------------------------------------------------------ bookkeeping */

pair_conn *pair_find(pair_net *n, int node, uint16_t ch, int *end)
{
    for (int i = 0; i < PAIR_MAX_CONNS; i++) {
        pair_conn *c = &n->conn[i];
        if (!c->used) {
            continue;
        }
        for (int k = 0; k < 2; k++) {
            if (c->node[k] == node && c->ch[k] == ch && c->alive[k]) {
                if (end) {
                    *end = k;
                }
                return c;
            }
        }
    }
    return NULL;
}

uint16_t pair_peer_channel(pair_net *n, int node, uint16_t ch)
{
    int end;
    pair_conn *c = pair_find(n, node, ch, &end);
    return c ? c->ch[1 - end] : 0;
}

/* A free slot, else a finished one (both ends gone, nothing due). */
static pair_conn *conn_new(pair_net *n)
{
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < PAIR_MAX_CONNS; i++) {
            pair_conn *c = &n->conn[i];
            int done =
                c->used && !c->alive[0] && !c->alive[1] && !c->close_pending[0] && !c->close_pending[1];
            if (c->used && !(pass == 1 && done)) {
                continue;
            }
            for (int k = 0; k < 2; k++) {
                bytes_free(&c->pipe[k]);
                bytes_free(&c->wire[k]);
            }
            memset(c, 0, sizeof *c);
            c->used = 1;
            c->closed_reset[0] = c->closed_reset[1] = -1;
            return c;
        }
    }
    fail_msg("pair: too many connections");
    return NULL;
}

static pair_listener *listener_find(pair_net *n, const char *addr)
{
    for (int i = 0; i < PAIR_MAX_LISTENERS; i++) {
        if (n->lst[i].used && strcmp(n->lst[i].addr, addr) == 0) {
            return &n->lst[i];
        }
    }
    return NULL;
}

/* The listener a CONNECT to a reaches: the same address, else a TCP
 * wildcard listener on the same port. */
static pair_listener *listener_reached(pair_net *n, const tl_address *a, const char *text)
{
    pair_listener *l = listener_find(n, text);
    if (l != NULL || a->kind != TL_ADDR_TCP) {
        return l;
    }
    for (int i = 0; i < PAIR_MAX_LISTENERS; i++) {
        pair_listener *w = &n->lst[i];
        if (w->used && w->a.kind == TL_ADDR_TCP && w->a.port == a->port &&
            (strcmp(w->a.host, "0.0.0.0") == 0 || strcmp(w->a.host, "::") == 0)) {
            return w;
        }
    }
    return NULL;
}

static void format_addr(const tl_address *a, char *out)
{
    int rc = tl_address_format(a, out, TL_ADDR_TEXT_MAX);
    assert_true(rc > 0);
}

static void log_cmd(pair_net *n, int node, const tl_command *c)
{
    if (n->nlog == n->log_cap) {
        size_t cap = n->log_cap ? n->log_cap * 2 : 256;
        pair_log_entry *p = realloc(n->log, cap * sizeof *p);
        assert_non_null(p);
        n->log = p;
        n->log_cap = cap;
    }
    n->log[n->nlog].node = node;
    n->log[n->nlog].cmd = *c;
    n->nlog++;
}

/* ------------------------------------------------------------ commands */

static void do_listen(pair_net *n, int node, const tl_command *c)
{
    tl_engine *e = n->node[node].e;
    char addr[TL_ADDR_TEXT_MAX];
    format_addr(&c->addr, addr);
    tl_status st = TL_STATUS_SUCCESS;
    for (int i = 0; i < PAIR_MAX_FAILS; i++) {
        if (n->listen_fail[i].addr[0] && strcmp(n->listen_fail[i].addr, addr) == 0) {
            st = n->listen_fail[i].status;
        }
    }
    if (st == TL_STATUS_SUCCESS && listener_find(n, addr) != NULL) {
        st = TL_STATUS_LISTEN_FAILED; /* address in use */
    }
    if (st == TL_STATUS_SUCCESS) {
        int i;
        for (i = 0; i < PAIR_MAX_LISTENERS && n->lst[i].used; i++) {
        }
        assert_true(i < PAIR_MAX_LISTENERS);
        n->lst[i].used = 1;
        n->lst[i].node = node;
        n->lst[i].ch = c->channel;
        memcpy(n->lst[i].addr, addr, sizeof addr);
        n->lst[i].a = c->addr;
    }
    tl_io_state io;
    if (tl_engine_io_state(e, c->channel, &io) != TL_OK) {
        /* Closed before the host got to it (abort): its CLOSE follows. */
        assert_int_equal(tl_engine_listen_result(e, c->channel, st), TL_E_STATE);
    } else {
        assert_int_equal(tl_engine_listen_result(e, c->channel, st), TL_OK);
    }
    pair_check(n);
}

static void do_connect(pair_net *n, int node, uint16_t ch, const tl_address *a)
{
    tl_engine *e = n->node[node].e;
    tl_io_state io;
    if (tl_engine_io_state(e, ch, &io) != TL_OK || !io.connecting) {
        return; /* gone meanwhile (timeout, abort) */
    }
    char addr[TL_ADDR_TEXT_MAX];
    format_addr(a, addr);
    pair_listener *l = listener_reached(n, a, addr);
    if (l == NULL) {
        if (a->kind == TL_ADDR_UDS) {
            assert_int_equal(tl_engine_connect_result(e, ch, TL_STATUS_UDS_PATH_NOT_FOUND, 1), TL_OK);
        } else {
            assert_int_equal(tl_engine_connect_result(e, ch, TL_STATUS_CONNECT_FAILED, 0), TL_OK);
        }
        pair_check(n);
        return;
    }
    pair_conn *c = conn_new(n);
    c->kind = a->kind;
    c->node[0] = node;
    c->ch[0] = ch;
    c->alive[0] = 1;
    c->node[1] = l->node;
    uint16_t sch = 0;
    int rc = tl_engine_accepted(n->node[l->node].e, l->ch, &sch);
    pair_check(n);
    if (rc == TL_OK) {
        assert_true(sch != 0 && sch != 65535);
        c->ch[1] = sch;
        c->alive[1] = 1;
    } else {
        /* The host closes the accepted socket: the client sees a reset. */
        c->close_pending[0] = 1;
        c->close_reason[0] = TL_STATUS_COMMUNICATION_FAILED;
    }
    assert_int_equal(tl_engine_connect_result(e, ch, TL_STATUS_SUCCESS, 0), TL_OK);
    pair_check(n);
}

static void do_close(pair_net *n, int node, const tl_command *c)
{
    for (int i = 0; i < PAIR_MAX_LISTENERS; i++) {
        if (n->lst[i].used && n->lst[i].node == node && n->lst[i].ch == c->channel) {
            n->lst[i].used = 0;
        }
    }
    for (int i = 0; i < PAIR_MAX_HELD; i++) {
        if (n->held[i].used && n->held[i].node == node && n->held[i].ch == c->channel) {
            n->held[i].used = 0;
        }
    }
    int end;
    pair_conn *k = pair_find(n, node, c->channel, &end);
    if (k == NULL) {
        return;
    }
    int other = 1 - end;
    k->alive[end] = 0;
    k->closed_reset[end] = c->reset ? 1 : 0;
    k->pipe[end].len = 0;
    k->pipe_off[end] = 0;
    if (k->alive[other] || k->node[other] == PAIR_RAW) {
        k->close_pending[other] = 1;
        k->close_reason[other] =
            (c->reset || k->kind == TL_ADDR_UDS) ? TL_STATUS_COMMUNICATION_FAILED : TL_STATUS_RECV_FAILED;
    }
}

static int run_commands(pair_net *n, int node)
{
    tl_engine *e = n->node[node].e;
    tl_command c;
    int did = 0;
    while (tl_engine_next_command(e, &c)) {
        did++;
        pair_check(n);
        log_cmd(n, node, &c);
        switch (c.kind) {
        case TL_CMD_LISTEN: do_listen(n, node, &c); break;
        case TL_CMD_CONNECT:
            if (n->hold_connects) {
                int i;
                for (i = 0; i < PAIR_MAX_HELD && n->held[i].used; i++) {
                }
                assert_true(i < PAIR_MAX_HELD);
                n->held[i].used = 1;
                n->held[i].node = node;
                n->held[i].ch = c.channel;
                n->held[i].addr = c.addr;
            } else {
                do_connect(n, node, c.channel, &c.addr);
            }
            break;
        case TL_CMD_CLOSE: do_close(n, node, &c); break;
        case TL_CMD_IO: break;
        default: fail_msg("node %d: unknown command kind %d", node, (int)c.kind);
        }
    }
    return did;
}

/* ------------------------------------------------------------ bytes */

static int move_output(pair_net *n, pair_conn *c, int end)
{
    if (c->node[end] == PAIR_RAW || !c->alive[end] || c->stalled[end]) {
        return 0;
    }
    tl_engine *e = n->node[c->node[end]].e;
    tl_iov iov[PAIR_IOV];
    int cnt = tl_engine_output(e, c->ch[end], iov, PAIR_IOV);
    pair_check(n);
    assert_true(cnt >= 0 && cnt <= PAIR_IOV);
    if (cnt == 0) {
        return 0;
    }
    size_t total = 0;
    for (int i = 0; i < cnt; i++) {
        assert_true(iov[i].len > 0);
        total += iov[i].len;
    }
    size_t want = chunk_size(n, total);
    size_t left = want;
    int other = 1 - end;
    for (int i = 0; i < cnt && left > 0; i++) {
        size_t k = iov[i].len < left ? iov[i].len : left;
        bytes_append(&c->wire[end], iov[i].base, k);
        if (c->alive[other]) {
            bytes_append(&c->pipe[other], iov[i].base, k);
        }
        left -= k;
    }
    assert_int_equal(tl_engine_output_done(e, c->ch[end], want), TL_OK);
    pair_check(n);
    return 1;
}

/* 1 = consumed something; 0 = nothing to do or the end cannot read now. */
static int move_input(pair_net *n, pair_conn *c, int end)
{
    if (c->node[end] == PAIR_RAW) {
        return 0;
    }
    size_t avail = c->pipe[end].len - c->pipe_off[end];
    if (!c->alive[end] || avail == 0) {
        return 0;
    }
    tl_engine *e = n->node[c->node[end]].e;
    tl_io_state io;
    if (tl_engine_io_state(e, c->ch[end], &io) != TL_OK || !io.want_read) {
        return 0;
    }
    size_t offer = chunk_size(n, avail);
    if (offer > io.read_max) {
        offer = io.read_max; /* a host reads no more than the core can take (rx_budget) */
    }
    size_t used = 0;
    assert_int_equal(tl_engine_input(e, c->ch[end], c->pipe[end].data + c->pipe_off[end], offer, &used),
                     TL_OK);
    pair_check(n);
    assert_true(used <= offer);
    c->pipe_off[end] += used;
    if (c->pipe_off[end] == c->pipe[end].len) {
        c->pipe[end].len = 0;
        c->pipe_off[end] = 0;
    }
    return used > 0;
}

static int deliver_close(pair_net *n, pair_conn *c, int end)
{
    if (!c->close_pending[end]) {
        return 0;
    }
    if (c->node[end] == PAIR_RAW || !c->alive[end]) {
        c->close_pending[end] = 0;
        return 0;
    }
    tl_engine *e = n->node[c->node[end]].e;
    tl_io_state io;
    if (tl_engine_io_state(e, c->ch[end], &io) != TL_OK) {
        return 0; /* torn down already; its CLOSE is on the way */
    }
    if (c->pipe[end].len - c->pipe_off[end] > 0 && io.want_read) {
        return 0; /* frames fully received before the error are delivered first */
    }
    c->close_pending[end] = 0;
    assert_int_equal(tl_engine_transport_closed(e, c->ch[end], c->close_reason[end]), TL_OK);
    pair_check(n);
    return 1;
}

int pair_run(pair_net *n)
{
    int passes = 0;
    for (int pass = 0; pass < PAIR_MAX_PASSES; pass++) {
        int progress = 0;
        for (int i = 0; i < n->nnodes; i++) {
            progress += run_commands(n, i);
        }
        for (int i = 0; i < PAIR_MAX_CONNS; i++) {
            pair_conn *c = &n->conn[i];
            if (!c->used) {
                continue;
            }
            for (int k = 0; k < 2; k++) {
                progress += move_output(n, c, k);
            }
            for (int k = 0; k < 2; k++) {
                progress += move_input(n, c, k);
            }
            for (int k = 0; k < 2; k++) {
                progress += deliver_close(n, c, k);
            }
        }
        if (progress == 0) {
            pair_check(n);
            return passes;
        }
        passes++;
    }
    fail_msg("pair_run: no quiescence after %d passes", PAIR_MAX_PASSES);
    return passes;
}

/* ------------------------------------------------------------ application */

tl_message *pair_get(pair_net *n, int node)
{
    tl_message *m = NULL;
    assert_int_equal(tl_engine_get(n->node[node].e, TL_GET_ALWAYS, &m), TL_OK);
    assert_non_null(m);
    pair_check(n);
    return m;
}

tl_message *pair_msg(pair_net *n, int node, unsigned opcode, uint16_t channel, uint64_t id, const char *body)
{
    tl_message *m = pair_get(n, node);
    tl_msg_set_opcode(m, opcode);
    m->hdr.channel = channel;
    m->hdr.message_id = id;
    if (body) {
        assert_int_equal(tl_msg_body_set(m, body, strlen(body)), TL_OK);
    }
    return m;
}

int pair_post(pair_net *n, int node, tl_message **m, tl_post_out *out)
{
    tl_post_out o;
    int rc = tl_engine_post(n->node[node].e, n->node[node].group, m, out ? out : &o);
    pair_check(n);
    return rc;
}

static uint16_t post_address(pair_net *n, int node, unsigned op, const char *addr, uint64_t *id)
{
    tl_message *m = pair_get(n, node);
    assert_int_equal(tl_msg_set_address(m, op, addr), TL_OK);
    tl_post_out out;
    int rc = pair_post(n, node, &m, &out);
    if (rc != TL_OK) {
        fail_msg("post of op %u for %s: rc %d status %d", op, addr, rc, (int)out.status);
    }
    assert_null(m);
    assert_true(out.hdr.channel != 0 && out.hdr.channel != 65535);
    if (id) {
        *id = out.hdr.message_id;
    }
    return out.hdr.channel;
}

uint16_t pair_listen(pair_net *n, int node, const char *addr, uint64_t *id)
{
    return post_address(n, node, TL_OP_WELCOME_REQUEST, addr, id);
}

uint16_t pair_connect(pair_net *n, int node, const char *addr, uint64_t *id)
{
    return post_address(n, node, TL_OP_HELLO_REQUEST, addr, id);
}

uint64_t pair_send(pair_net *n, int node, unsigned opcode, uint16_t channel, uint64_t id, const char *body)
{
    tl_message *m = pair_msg(n, node, opcode, channel, id, body);
    tl_post_out out;
    int rc = pair_post(n, node, &m, &out);
    if (rc != TL_OK) {
        fail_msg("post of op %u on channel %u: rc %d status %d", opcode, channel, rc, (int)out.status);
    }
    assert_null(m);
    return out.hdr.message_id;
}

tl_message *pair_recv(pair_net *n, int node)
{
    tl_message *m = NULL;
    int rc = tl_engine_receive(n->node[node].e, n->node[node].group, &m);
    pair_check(n);
    if (rc == TL_E_AGAIN) {
        return NULL;
    }
    assert_int_equal(rc, TL_OK);
    return m;
}

size_t pair_pending(const pair_net *n, int node)
{
    return tl_engine_pending(n->node[node].e, n->node[node].group);
}

void pair_put(pair_net *n, int node, tl_message **m)
{
    tl_engine_put(n->node[node].e, m);
    assert_null(*m);
    pair_check(n);
}

tl_message *pair_expect(pair_net *n, int node, int opcode, int origin, int status, long channel, int64_t id)
{
    tl_message *m = pair_recv(n, node);
    if (m == NULL) {
        fail_msg("node %d: expected op %d status %d on channel %ld, got nothing", node, opcode, status,
                 channel);
    }
    const tl_header *h = &m->hdr;
    int ok = 1;
    ok &= opcode == PAIR_ANY || (int)tl_proto_opcode(h->proto) == opcode;
    ok &= origin == PAIR_ANY || tl_proto_origin_engine(h->proto) == origin;
    ok &= status == PAIR_ANY || h->status == status;
    ok &= channel == PAIR_ANY || h->channel == channel;
    ok &= id == PAIR_ANY || h->message_id == (uint64_t)id;
    if (!ok) {
        fail_msg("node %d: expected op %d origin %d status %d channel %ld id %lld; got proto 0x%02x "
                 "(op %u) status %u channel %u id %llu",
                 node, opcode, origin, status, channel, (long long)id, h->proto, tl_proto_opcode(h->proto),
                 h->status, h->channel, (unsigned long long)h->message_id);
    }
    return m;
}

void pair_expect_put(pair_net *n, int node, int opcode, int origin, int status, long channel, int64_t id)
{
    tl_message *m = pair_expect(n, node, opcode, origin, status, channel, id);
    pair_put(n, node, &m);
}

void pair_expect_none(pair_net *n, int node)
{
    tl_message *m = pair_recv(n, node);
    if (m != NULL) {
        fail_msg("node %d: expected no message; got proto 0x%02x status %u channel %u id %llu", node,
                 m->hdr.proto, m->hdr.status, m->hdr.channel, (unsigned long long)m->hdr.message_id);
    }
}

void pair_handshake(pair_net *n, const char *addr, uint16_t *cc, uint16_t *sc)
{
    uint64_t wid, hid;
    uint16_t lch = pair_listen(n, 1, addr, &wid);
    pair_run(n);
    pair_expect_put(n, 1, TL_OP_WELCOME_RESPONSE, 0, 0, lch, (int64_t)wid);
    uint16_t c = pair_connect(n, 0, addr, &hid);
    pair_run(n);
    tl_message *m = pair_expect(n, 1, TL_OP_HELLO_REQUEST, 0, 0, PAIR_ANY, (int64_t)hid);
    uint16_t s = m->hdr.channel;
    assert_int_equal(s, pair_peer_channel(n, 0, c));
    tl_msg_set_opcode(m, TL_OP_HELLO_RESPONSE);
    assert_int_equal(pair_post(n, 1, &m, NULL), TL_OK);
    pair_run(n);
    pair_expect_put(n, 0, TL_OP_HELLO_RESPONSE, 0, 0, c, (int64_t)hid);
    if (cc) {
        *cc = c;
    }
    if (sc) {
        *sc = s;
    }
}

/* ------------------------------------------------------------ raw ends, control */

pair_conn *pair_raw_connect(pair_net *n, int node, uint16_t listener)
{
    pair_conn *c = conn_new(n);
    c->kind = TL_ADDR_TCP;
    for (int i = 0; i < PAIR_MAX_LISTENERS; i++) {
        if (n->lst[i].used && n->lst[i].node == node && n->lst[i].ch == listener) {
            c->kind = strncmp(n->lst[i].addr, "uds|", 4) == 0 ? TL_ADDR_UDS : TL_ADDR_TCP;
        }
    }
    c->node[0] = PAIR_RAW;
    c->alive[0] = 1;
    c->node[1] = node;
    uint16_t sch = 0;
    assert_int_equal(tl_engine_accepted(n->node[node].e, listener, &sch), TL_OK);
    pair_check(n);
    c->ch[1] = sch;
    c->alive[1] = 1;
    return c;
}

void pair_inject(pair_conn *c, int end, const void *data, size_t len)
{
    assert_true(c->alive[end]);
    bytes_append(&c->pipe[end], data, len);
    bytes_append(&c->wire[1 - end], data, len);
}

void pair_raw_close(pair_net *n, pair_conn *c, int reset)
{
    (void)n;
    int end = c->node[0] == PAIR_RAW ? 0 : 1;
    assert_int_equal(c->node[end], PAIR_RAW);
    c->alive[end] = 0;
    c->closed_reset[end] = reset;
    c->close_pending[1 - end] = 1;
    c->close_reason[1 - end] =
        (reset || c->kind == TL_ADDR_UDS) ? TL_STATUS_COMMUNICATION_FAILED : TL_STATUS_RECV_FAILED;
}

void pair_transport_closed(pair_net *n, int node, uint16_t ch, tl_status reason)
{
    assert_int_equal(tl_engine_transport_closed(n->node[node].e, ch, reason), TL_OK);
    pair_check(n);
}

void pair_complete_connect(pair_net *n, int node, uint16_t ch, tl_status status, int immediate)
{
    for (int i = 0; i < PAIR_MAX_HELD; i++) {
        pair_held *h = &n->held[i];
        if (!h->used || h->node != node || h->ch != ch) {
            continue;
        }
        h->used = 0;
        if (status == TL_STATUS_SUCCESS) {
            do_connect(n, node, ch, &h->addr);
        } else {
            assert_int_equal(tl_engine_connect_result(n->node[node].e, ch, status, immediate), TL_OK);
            pair_check(n);
        }
        return;
    }
    fail_msg("node %d: no held CONNECT for channel %u", node, ch);
}

void pair_set_stalled(pair_net *n, int node, uint16_t ch, int stalled)
{
    int end;
    pair_conn *c = pair_find(n, node, ch, &end);
    assert_non_null(c);
    c->stalled[end] = stalled;
}

void pair_fail_listen(pair_net *n, const char *addr, tl_status status)
{
    for (int i = 0; i < PAIR_MAX_FAILS; i++) {
        if (n->listen_fail[i].addr[0] == '\0') {
            snprintf(n->listen_fail[i].addr, sizeof n->listen_fail[i].addr, "%s", addr);
            n->listen_fail[i].status = status;
            return;
        }
    }
    fail_msg("pair: too many listen failures");
}

void pair_tick(pair_net *n, uint64_t now_ns)
{
    n->now = now_ns;
    for (int i = 0; i < n->nnodes; i++) {
        tl_engine_tick(n->node[i].e, now_ns);
    }
    pair_check(n);
}

size_t pair_count_cmds(const pair_net *n, int node, tl_command_kind kind, int reset, uint16_t channel)
{
    size_t k = 0;
    for (size_t i = 0; i < n->nlog; i++) {
        const pair_log_entry *l = &n->log[i];
        if ((node != PAIR_ANY && l->node != node) || l->cmd.kind != kind) {
            continue;
        }
        if (channel != 0 && l->cmd.channel != channel) {
            continue;
        }
        if (kind == TL_CMD_CLOSE && reset != PAIR_ANY && (l->cmd.reset != 0) != (reset != 0)) {
            continue;
        }
        k++;
    }
    return k;
}

size_t pair_wire_frames(const pair_conn *c, int end, tl_header *out, size_t max, size_t *rest)
{
    tl_reader r;
    tl_reader_init(&r, NULL);
    size_t pos = 0, k = 0;
    const pair_bytes *w = &c->wire[end];
    while (pos < w->len) {
        size_t used = 0;
        tl_frame f;
        tl_read_result res = tl_reader_next(&r, w->data + pos, w->len - pos, &used, &f);
        pos += used;
        if (res == TL_READ_FRAME) {
            if (k < max) {
                out[k] = f.hdr;
            }
            k++;
        } else if (res == TL_READ_ERROR) {
            fail_msg("pair_wire_frames: transcript does not decode");
        } else {
            break;
        }
    }
    if (rest) {
        *rest = tl_reader_pending(&r);
    }
    tl_reader_free(&r);
    return k;
}
