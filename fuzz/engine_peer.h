/*
 * The engine harness shared by fuzz_engine_server.c and fuzz_engine_client.c:
 * a sans-I/O engine (engine.h) driven as a host and an application would,
 * with the fuzz input as the bytes the peer sends. Statics carry the ep_
 * prefix (see fuzz.h); this header is included once per translation unit.
 *
 * Input: [cfg0] [cfg1] [n] [n step descriptors of 2 bytes] [peer stream...]
 *
 *   cfg0 bits 0-1 pool_initial 2/1/4/16   bit 2 pool_max = pool_initial
 *        bits 3-4 receive limits: none / max_text 24 / max_body 24 / both 8
 *        bit 5 strict_bye (A4)             bit 6 bye_grace_ns = 1000 (A3)
 *        bit 7 server: a second accepted connection
 *   cfg1 bits 0-3 k: when non-zero, every k+1-th allocation fails, from
 *        the engine's creation on (then only invariants, memory safety and
 *        leaks are checked, and a failed setup just ends the run)
 *        bit 4 end with tl_engine_group_destroy (else tl_engine_destroy with
 *        everything still in place)
 *        bits 5-7 target-specific (see the target)
 *   n    bits 0-3: number of step descriptors, cycled (0: one default step)
 *        bits 4-5: setup variant (see the target); bit 6: API edge cases at
 *        the end (ep_edge_cases); bit 7: updateReceiver with a message
 *   step byte 0: 0xFF = the transport closes (reason from byte 1 bits 4-5),
 *        0xFE = the whole rest of the stream, else 1 + byte bytes of it
 *        byte 1: bit 0 reply to what the peer sent (echo, as tofu's
 *        EchoService: Request->Response, HelloRequest->HelloResponse,
 *        ByeRequest->ByeResponse, Signal->Signal, ByeSignal->ByeSignal = local
 *        abort, WelcomeRequest->WelcomeResponse = refused A16); bit 1 hold
 *        received messages (starves the pool, 6.10/A20); bit 2 acknowledge
 *        only half of the output; bit 3 post an application message (bits
 *        4-5: Request, Signal, ByeRequest, ByeSignal); bit 6 advance time by
 *        1 ms and call updateReceiver; bit 7 use the second channel.
 *
 * The model. The bytes each channel consumed are read again by a shadow
 * tl_reader with the engine's options: every frame must reach the group, in
 * order, with the local channel number, origin and internal bits cleared
 * (A7) and everything else as sent; a reader error (A7 op code, limits) or a
 * ByeResponse (6.7) must tear the channel down at once, and nothing else may.
 * Every message returned at a teardown is one the application posted and
 * that was not completely sent, in order, with the teardown's reason; then
 * comes Signal channel_closed with the id of the first frame received (6.9),
 * then nothing more for that channel. What the engine outputs is decoded and
 * must be exactly the posted frames in order (channel, A/B cleared, status
 * 0, thl/bl from the content), nothing after a bye frame but one
 * ByeResponse after our own ByeRequest in strict mode (6.6, A4). Post
 * results follow section 5 and A6/A16. A short tl_engine_input means
 * starving: exactly one pool_empty Signal per episode, which lasts until the
 * channel gets a message (A20); bytes not consumed are offered again once
 * want_read is back. tl_engine_check() is NULL after every call; every
 * CLOSE command names a channel the model closed; the channel list and the
 * next deadline are the model's; LeakSanitizer checks tl_engine_destroy.
 */
#ifndef TOFULAB_FUZZ_ENGINE_PEER_H
#define TOFULAB_FUZZ_ENGINE_PEER_H

#include <string.h>

#include "tofulab/engine.h"

#include "fuzz.h"

#define EP_MAX_CHANNELS 2
#define EP_MAX_HELD     256
#define EP_STEP_NS      1000000u

typedef struct ep_frame {
    struct ep_frame *next;
    tl_header hdr;
    size_t tl, bl;
    uint8_t *text, *body;
} ep_frame;

typedef struct {
    ep_frame *head, *tail;
} ep_fifo;

typedef struct {
    uint16_t number;
    int exists;            /* the model says the engine still has the channel */
    int closed_cmd;        /* its CLOSE command was seen */
    int silent;            /* torn down by group destroy: no messages */
    int teardown_seen;     /* a teardown message (returned or final) was seen */
    int final_seen;        /* its final Signal channel_closed was seen */
    tl_status reason;      /* status of the messages returned at teardown */
    int hello_as_response; /* A10 immediate shape for a returned HelloRequest */
    uint64_t first_id;
    int got_first;
    tl_reader in; /* shadow of the engine's reader */
    uint64_t in_total, in_frame_start;
    int in_done;
    ep_fifo expect_in; /* peer frames the application must still receive */
    ep_fifo posted;    /* posted frames not completely sent */
    tl_reader out;     /* decodes the engine's output */
    unsigned out_bye;  /* op code of the first bye frame sent, 0 if none */
    int grace_armed;
    uint64_t grace_deadline;
    size_t pool_empty_due;
    int starving; /* in a starvation episode: one pool_empty per episode (A20) */
    int abort_echo_due;
    uint64_t abort_id;
} ep_chan;

typedef struct {
    tl_engine *e;
    tl_engine_options opt;
    tl_allocator alloc;
    unsigned long alloc_calls, fail_every;
    int alloc_armed;
    int loose; /* allocations fail: only invariants are checked */
    uint32_t group;
    int group_alive;
    uint16_t listener;
    int listener_exists, listener_closed_cmd;
    ep_chan ch[EP_MAX_CHANNELS];
    int nch;
    tl_message *held[EP_MAX_HELD];
    size_t nheld;
    uint64_t now;
    size_t update_receiver_due;
    uint64_t frames_in;
    uint64_t delivered, received; /* on_deliver calls; messages taken from the group */
    uint64_t host_work;           /* on_host_work calls */
    uint8_t cfg0, cfg1, n;
} ep_ctx;

/* ---- failing allocator (cfg1 bits 0-3) ---- */

static int ep_alloc_fails(ep_ctx *c)
{
    return c->alloc_armed && c->fail_every != 0 && ++c->alloc_calls % c->fail_every == 0;
}

static void *ep_alloc(void *ctx, size_t size) { return ep_alloc_fails(ctx) ? NULL : malloc(size); }

static void *ep_realloc(void *ctx, void *ptr, size_t size)
{
    return ep_alloc_fails(ctx) ? NULL : realloc(ptr, size);
}

static void ep_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

/* ---- engine callbacks ---- */

static void ep_on_deliver(void *ctx, uint32_t group)
{
    ep_ctx *c = ctx;
    FUZZ_CHECK(group == c->group);
    c->delivered++;
}

static void ep_on_host_work(void *ctx)
{
    ep_ctx *c = ctx;
    c->host_work++;
}

/* ---- the model's frames ---- */

static ep_frame *ep_frame_new(const tl_header *h, const uint8_t *text, size_t tl, const uint8_t *body,
                              size_t bl)
{
    ep_frame *f = malloc(sizeof *f + tl + bl);
    if (f == NULL) {
        abort(); /* the harness itself must not fail */
    }
    f->next = NULL;
    f->hdr = *h;
    f->tl = tl;
    f->bl = bl;
    f->text = (uint8_t *)(f + 1);
    f->body = f->text + tl;
    if (tl > 0) {
        memcpy(f->text, text, tl);
    }
    if (bl > 0) {
        memcpy(f->body, body, bl);
    }
    return f;
}

static void ep_fifo_push(ep_fifo *q, ep_frame *f)
{
    f->next = NULL;
    if (q->tail) {
        q->tail->next = f;
    } else {
        q->head = f;
    }
    q->tail = f;
}

static ep_frame *ep_fifo_pop(ep_fifo *q)
{
    ep_frame *f = q->head;
    if (f) {
        q->head = f->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
    }
    return f;
}

static void ep_fifo_free(ep_fifo *q)
{
    ep_frame *f;
    while ((f = ep_fifo_pop(q)) != NULL) {
        free(f);
    }
}

static int ep_bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

/* ---- channels ---- */

static ep_chan *ep_chan_add(ep_ctx *c, uint16_t number, uint64_t first_id)
{
    ep_chan *ch = &c->ch[c->nch++];
    memset(ch, 0, sizeof *ch);
    ch->number = number;
    ch->exists = 1;
    ch->first_id = first_id;
    tl_reader_options in = {c->opt.max_text, c->opt.max_body, 1};
    tl_reader_init(&ch->in, &in);
    tl_reader_init(&ch->out, NULL);
    return ch;
}

static ep_chan *ep_chan_find(ep_ctx *c, uint16_t number)
{
    for (int i = 0; i < c->nch; i++) {
        if (c->ch[i].number == number) {
            return &c->ch[i];
        }
    }
    return NULL;
}

/* The model expects the channel's teardown now, with this reason. */
static void ep_expect_teardown(ep_chan *ch, tl_status reason)
{
    if (ch->exists) {
        ch->exists = 0;
        ch->reason = reason;
    }
}

/* ---- commands and invariants ---- */

static void ep_commands(ep_ctx *c)
{
    tl_command cmd;
    while (tl_engine_next_command(c->e, &cmd)) {
        if (cmd.kind == TL_CMD_IO) {
            tl_io_state st;
            FUZZ_CHECK(tl_engine_io_state(c->e, cmd.channel, &st) == TL_OK);
            continue;
        }
        FUZZ_CHECK(cmd.kind == TL_CMD_CLOSE);
        FUZZ_CHECK(cmd.reset == 1);
        if (cmd.channel == c->listener && c->listener != 0) {
            FUZZ_CHECK(cmd.listener == 1);
            FUZZ_CHECK(c->loose || (!c->listener_exists && !c->listener_closed_cmd));
            c->listener_exists = 0;
            c->listener_closed_cmd = 1;
            continue;
        }
        ep_chan *ch = ep_chan_find(c, cmd.channel);
        FUZZ_CHECK(ch != NULL);
        FUZZ_CHECK(cmd.listener == 0);
        FUZZ_CHECK(c->loose || (!ch->exists && !ch->closed_cmd));
        ch->exists = 0;
        ch->closed_cmd = 1;
    }
}

/* After every engine call: the engine's own invariants, then the model's
 * idea of which channels exist. */
static void ep_check(ep_ctx *c)
{
    const char *why = tl_engine_check(c->e);
    if (why != NULL) {
        fprintf(stderr, "tl_engine_check: %s\n", why);
    }
    FUZZ_CHECK(why == NULL);
    ep_commands(c);
    tl_io_state st;
    for (int i = 0; i < c->nch; i++) {
        ep_chan *ch = &c->ch[i];
        int found = tl_engine_io_state(c->e, ch->number, &st) == TL_OK;
        if (c->loose) {
            if (!found) {
                ch->exists = 0;
            }
            continue;
        }
        FUZZ_CHECK(found == ch->exists);
        FUZZ_CHECK(found || ch->closed_cmd);
    }
    if (c->listener != 0) {
        int found = tl_engine_io_state(c->e, c->listener, &st) == TL_OK;
        FUZZ_CHECK(c->loose || found == c->listener_exists);
    }
}

/* ---- posting ---- */

/* Section 5 (engine flags A8 A13 A16) and A6 for what this harness posts:
 * the status a post must end with. */
static tl_status ep_expected_post(unsigned op, uint8_t proto, uint64_t id, int channel_exists)
{
    int response = op == TL_OP_RESPONSE || op == TL_OP_HELLO_RESPONSE || op == TL_OP_BYE_RESPONSE ||
                   op == TL_OP_WELCOME_RESPONSE;
    if (op == TL_OP_WELCOME_RESPONSE) {
        return TL_STATUS_NOT_ALLOWED; /* A16 */
    }
    if (response && id == 0) {
        return TL_STATUS_INVALID_MESSAGE_ID;
    }
    if (op > TL_OP_SIGNAL && (proto & TL_PROTO_MORE)) {
        return TL_STATUS_INVALID_MORE_USAGE;
    }
    if (!channel_exists) {
        return TL_STATUS_INVALID_CHANNEL_NUMBER; /* A6: closed numbers too */
    }
    return TL_STATUS_SUCCESS;
}

/* Puts are checked with the batch they belong to (see ep_receive_all). */
static void ep_put(ep_ctx *c, tl_message **m)
{
    tl_engine_put(c->e, m);
    FUZZ_CHECK(*m == NULL);
}

static void ep_hold_or_put(ep_ctx *c, tl_message **m, int hold)
{
    if (hold) {
        if (c->nheld == EP_MAX_HELD) {
            ep_put(c, &c->held[0]);
            memmove(c->held, c->held + 1, (EP_MAX_HELD - 1) * sizeof c->held[0]);
            c->nheld--;
        }
        c->held[c->nheld++] = *m;
        *m = NULL;
        return;
    }
    ep_put(c, m);
}

static void ep_release_held(ep_ctx *c)
{
    for (size_t i = 0; i < c->nheld; i++) {
        ep_put(c, &c->held[i]);
    }
    c->nheld = 0;
    ep_check(c);
}

/* Post m on ch (opcode already set) and check the outcome; m is consumed
 * either way (posted, or put back when refused). Returns the post's result. */
static int ep_post(ep_ctx *c, ep_chan *ch, tl_message **m)
{
    tl_message *msg = *m;
    unsigned op = tl_proto_opcode(msg->hdr.proto);
    tl_status want = ep_expected_post(op, msg->hdr.proto, msg->hdr.message_id, ch->exists);
    ep_frame *rec = ep_frame_new(&msg->hdr, msg->text.data, msg->text.len, msg->body.data, msg->body.len);
    tl_post_out out;
    int rc = tl_engine_post(c->e, c->group, m, &out);
    if (c->loose) {
        FUZZ_CHECK(rc == TL_OK || rc == TL_E_REJECTED);
        if (rc == TL_OK && op == TL_OP_BYE_SIGNAL) {
            ch->exists = 0;
        }
    } else if (want != TL_STATUS_SUCCESS) {
        FUZZ_CHECK(rc == TL_E_REJECTED);
        FUZZ_CHECK(*m == msg && out.status == want && msg->hdr.status == (uint8_t)want);
    } else {
        FUZZ_CHECK(rc == TL_OK && *m == NULL && out.status == TL_STATUS_SUCCESS);
        FUZZ_CHECK(out.hdr.channel == ch->number && out.hdr.status == 0 && out.hdr.message_id != 0);
        FUZZ_CHECK(rec->hdr.message_id == 0 || out.hdr.message_id == rec->hdr.message_id);
        FUZZ_CHECK(out.hdr.thl == rec->tl && out.hdr.bl == rec->bl);
        /* A8: origin, A and B never leave; A2: ByeSignal is a local abort. */
        if (op == TL_OP_BYE_SIGNAL) {
            FUZZ_CHECK(out.hdr.proto == (uint8_t)(TL_OP_BYE_SIGNAL | TL_PROTO_BIT_A));
            ep_expect_teardown(ch, TL_STATUS_CHANNEL_CLOSED);
            ch->abort_echo_due = 1;
            ch->abort_id = out.hdr.message_id;
        } else {
            FUZZ_CHECK(out.hdr.proto == (rec->hdr.proto & (TL_PROTO_OPCODE_MASK | TL_PROTO_MORE)));
            rec->hdr = out.hdr;
            ep_fifo_push(&ch->posted, rec);
            rec = NULL;
        }
    }
    free(rec);
    if (*m != NULL) {
        ep_put(c, m);
    }
    ep_check(c);
    return rc;
}

/* ---- what the application receives ---- */

static unsigned ep_echo(unsigned op)
{
    switch (op) {
    case TL_OP_REQUEST: return TL_OP_RESPONSE;
    case TL_OP_SIGNAL: return TL_OP_SIGNAL;
    case TL_OP_HELLO_REQUEST: return TL_OP_HELLO_RESPONSE;
    case TL_OP_BYE_REQUEST: return TL_OP_BYE_RESPONSE;
    case TL_OP_BYE_SIGNAL: return TL_OP_BYE_SIGNAL;
    case TL_OP_WELCOME_REQUEST: return TL_OP_WELCOME_RESPONSE;
    default: return 16; /* responses: no echo */
    }
}

static int ep_msg_is(const tl_message *m, const ep_frame *f)
{
    return m->text.len == f->tl && m->body.len == f->bl && ep_bytes_equal(m->text.data, f->text, f->tl) &&
           ep_bytes_equal(m->body.data, f->body, f->bl);
}

/* One message from the group, checked against the model. */
static void ep_classify(ep_ctx *c, tl_message *m)
{
    const tl_header *h = &m->hdr;
    unsigned op = tl_proto_opcode(h->proto);
    int engine = (h->proto & TL_PROTO_ORIGIN) != 0;

    if (h->channel == 0) {
        /* updateReceiver (6.11): NULL gives an engine Signal with id 0; a
         * message comes back with origin application and status 21. */
        FUZZ_CHECK(h->status == TL_STATUS_RECEIVER_UPDATE && c->update_receiver_due > 0);
        FUZZ_CHECK((engine && op == TL_OP_SIGNAL && h->message_id == 0) ||
                   (!engine && op == TL_OP_REQUEST && h->message_id == 77));
        c->update_receiver_due--;
        return;
    }
    if (h->channel == c->listener) {
        /* Only its local abort: the ByeSignal, then Signal channel_closed. */
        FUZZ_CHECK(!c->listener_exists && engine && h->status == TL_STATUS_CHANNEL_CLOSED);
        return;
    }
    ep_chan *ch = ep_chan_find(c, h->channel);
    FUZZ_CHECK(ch != NULL);
    FUZZ_CHECK(!ch->final_seen && !ch->silent);
    if (!engine) {
        /* A frame from the peer, exactly as the shadow reader saw it. */
        ep_frame *f = ep_fifo_pop(&ch->expect_in);
        FUZZ_CHECK(f != NULL);
        FUZZ_CHECK(!ch->teardown_seen);
        FUZZ_CHECK(h->proto == (f->hdr.proto & (TL_PROTO_OPCODE_MASK | TL_PROTO_MORE)));
        FUZZ_CHECK(h->status == f->hdr.status && h->message_id == f->hdr.message_id);
        FUZZ_CHECK(h->thl == f->tl && h->bl == f->bl);
        FUZZ_CHECK(ep_msg_is(m, f));
        c->frames_in++;
        free(f);
        return;
    }
    if (op == TL_OP_SIGNAL && h->status == TL_STATUS_POOL_EMPTY) {
        FUZZ_CHECK(ch->pool_empty_due > 0 && !ch->teardown_seen);
        FUZZ_CHECK(h->message_id == 0 && m->text.len == 0 && m->body.len == 0);
        ch->pool_empty_due--;
        return;
    }
    /* The teardown sequence: [ByeSignal echo] returned messages, final Signal. */
    FUZZ_CHECK(!ch->exists);
    ch->teardown_seen = 1;
    if (ch->abort_echo_due) {
        FUZZ_CHECK(op == TL_OP_BYE_SIGNAL && h->status == TL_STATUS_CHANNEL_CLOSED);
        FUZZ_CHECK(h->proto == (TL_OP_BYE_SIGNAL | TL_PROTO_ORIGIN | TL_PROTO_BIT_A)); /* 0x57 */
        FUZZ_CHECK(h->message_id == ch->abort_id);
        ch->abort_echo_due = 0;
        return;
    }
    ep_frame *f = ep_fifo_pop(&ch->posted);
    if (f != NULL) {
        unsigned want_op = tl_proto_opcode(f->hdr.proto);
        if (ch->hello_as_response && want_op == TL_OP_HELLO_REQUEST) {
            want_op = TL_OP_HELLO_RESPONSE; /* A10 */
        }
        FUZZ_CHECK(op == want_op && h->status == ch->reason);
        FUZZ_CHECK((h->proto & ~TL_PROTO_OPCODE_MASK) ==
                   ((f->hdr.proto & ~TL_PROTO_OPCODE_MASK) | TL_PROTO_ORIGIN));
        FUZZ_CHECK(h->message_id == f->hdr.message_id);
        FUZZ_CHECK(ep_msg_is(m, f));
        free(f);
        return;
    }
    FUZZ_CHECK(op == TL_OP_SIGNAL && h->status == TL_STATUS_CHANNEL_CLOSED);
    FUZZ_CHECK(h->message_id == ch->first_id);
    FUZZ_CHECK(m->text.len == 0 && m->body.len == 0);
    FUZZ_CHECK(ch->expect_in.head == NULL && ch->pool_empty_due == 0);
    ch->final_seen = 1;
}

/* One message from the group, counted against on_deliver. */
static int ep_receive_one(ep_ctx *c, tl_message **m)
{
    int rc = tl_engine_receive(c->e, c->group, m);
    c->received += rc == TL_OK;
    return rc;
}

/* Receive everything; echo peer requests when asked (reply), hold or put. */
static void ep_receive_all(ep_ctx *c, int reply, int hold)
{
    tl_message *m;
    int rc;
    while ((rc = ep_receive_one(c, &m)) == TL_OK) {
        int from_peer = (m->hdr.proto & TL_PROTO_ORIGIN) == 0 && m->hdr.channel != 0;
        if (!c->loose) {
            ep_classify(c, m);
        }
        ep_chan *ch = ep_chan_find(c, m->hdr.channel);
        unsigned echo = ep_echo(tl_proto_opcode(m->hdr.proto));
        if (reply && from_peer && ch != NULL && echo < 16) {
            tl_msg_set_opcode(m, echo);
            ep_post(c, ch, &m);
            continue;
        }
        ep_hold_or_put(c, &m, hold);
    }
    FUZZ_CHECK(rc == TL_E_AGAIN || (rc == TL_E_NOT_FOUND && !c->group_alive));
    /* Every message the group held was announced by on_deliver. */
    FUZZ_CHECK(c->received == c->delivered || !c->group_alive);
    ep_check(c);
    if (c->loose) {
        return;
    }
    /* Delivery is synchronous: nothing the peer sent is still due, and a
     * channel torn down has said everything it had to say. */
    for (int i = 0; i < c->nch; i++) {
        ep_chan *ch = &c->ch[i];
        FUZZ_CHECK(ch->expect_in.head == NULL && ch->pool_empty_due == 0);
        if (!ch->exists && !ch->silent) {
            FUZZ_CHECK(ch->final_seen && ch->posted.head == NULL && !ch->abort_echo_due);
        }
    }
    FUZZ_CHECK(c->update_receiver_due == 0);
}

/* ---- input ---- */

static void ep_drain_all_output(ep_ctx *c, int half, int max_iov);

static tl_status ep_reader_reason(const ep_chan *ch)
{
    const tl_reader_error_info *err = tl_reader_error(&ch->in);
    if (err->code == TL_E_BAD_OPCODE) {
        return TL_STATUS_INVALID_OP_CODE; /* A7 */
    }
    FUZZ_CHECK(err->code == TL_E_LIMIT);
    FUZZ_CHECK(err->offset == ch->in_frame_start + 12 || err->offset == ch->in_frame_start + 14);
    return err->offset == ch->in_frame_start + 12 ? TL_STATUS_INVALID_HEADERS_LEN
                                                  : TL_STATUS_INVALID_BODY_LEN;
}

/* The bytes the engine consumed, read again: what must come out of them. */
static void ep_shadow(ep_ctx *c, ep_chan *ch, const uint8_t *p, size_t n)
{
    (void)c;
    while (n > 0 && !ch->in_done) {
        size_t used = 0;
        tl_frame f;
        tl_read_result r = tl_reader_next(&ch->in, p, n, &used, &f);
        p += used;
        n -= used;
        ch->in_total += used;
        if (r == TL_READ_MORE) {
            break;
        }
        if (r == TL_READ_ERROR) {
            ch->in_done = 1;
            ep_expect_teardown(ch, ep_reader_reason(ch));
            break;
        }
        ch->in_frame_start = ch->in_total;
        ep_fifo_push(&ch->expect_in, ep_frame_new(&f.hdr, f.text, f.hdr.thl, f.body, f.hdr.bl));
        if (!ch->got_first) {
            ch->got_first = 1;
            ch->first_id = f.hdr.message_id;
        }
        if (tl_proto_opcode(f.hdr.proto) == TL_OP_BYE_RESPONSE) {
            ch->in_done = 1; /* 6.7: the receiver of ByeResponse closes */
            ep_expect_teardown(ch, TL_STATUS_CHANNEL_CLOSED);
        }
    }
}

/* Offer bytes to a channel until it took them all, closed, or cannot read
 * even after the application gave everything back. */
static void ep_feed(ep_ctx *c, ep_chan *ch, const uint8_t *p, size_t n, int reply, int hold)
{
    size_t off = 0;
    while (off < n) {
        tl_io_state st;
        if (tl_engine_io_state(c->e, ch->number, &st) != TL_OK) {
            FUZZ_CHECK(c->loose || !ch->exists);
            return;
        }
        if (!st.want_read) {
            /* Starving (A20): give everything back, then try again. */
            ep_receive_all(c, 0, 0);
            ep_release_held(c);
            ep_drain_all_output(c, 0, 8);
            ep_receive_all(c, 0, 0);
            if (tl_engine_io_state(c->e, ch->number, &st) != TL_OK || !st.want_read) {
                return; /* every message is stuck in send queues: the rest is dropped */
            }
        }
        size_t consumed = (size_t)-1;
        tl_engine_stats before, after;
        tl_engine_get_stats(c->e, &before);
        int rc = tl_engine_input(c->e, ch->number, p + off, n - off, &consumed);
        tl_engine_get_stats(c->e, &after);
        FUZZ_CHECK(rc == TL_OK);
        FUZZ_CHECK(consumed <= n - off);
        if (!c->loose) {
            ep_shadow(c, ch, p + off, consumed);
        }
        int short_read = consumed < n - off;
        off += consumed;
        ep_check(c);
        if (consumed > 0) {
            ch->starving = 0; /* it got a message: the episode is over */
        }
        if (short_read) {
            /* Only a starving channel stops early, or (rx_budget) one paused
             * for budget. An episode lasts until the channel gets a message,
             * and says pool_empty once (A20); a pause says nothing. */
            FUZZ_CHECK(tl_engine_io_state(c->e, ch->number, &st) == TL_OK && !st.want_read);
            if (after.rx_budget_pauses > before.rx_budget_pauses) {
                FUZZ_CHECK(c->opt.rx_budget != 0);
            } else if (!ch->starving) {
                ch->starving = 1;
                ch->pool_empty_due++;
            }
        }
        ep_receive_all(c, reply, hold);
    }
}

/* ---- output ---- */

static void ep_output_bytes(ep_ctx *c, ep_chan *ch, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t used = 0;
        tl_frame f;
        tl_read_result r = tl_reader_next(&ch->out, p, n, &used, &f);
        FUZZ_CHECK(r != TL_READ_ERROR);
        p += used;
        n -= used;
        if (r == TL_READ_MORE) {
            break;
        }
        unsigned op = tl_proto_opcode(f.hdr.proto);
        /* Nothing after a bye frame, except one ByeResponse after our own
         * ByeRequest in strict mode (6.6, A4). */
        FUZZ_CHECK(ch->out_bye == 0 ||
                   (c->opt.strict_bye && ch->out_bye == TL_OP_BYE_REQUEST && op == TL_OP_BYE_RESPONSE));
        ep_frame *want = ep_fifo_pop(&ch->posted);
        FUZZ_CHECK(want != NULL);
        FUZZ_CHECK(f.hdr.channel == ch->number && f.hdr.proto == want->hdr.proto && f.hdr.status == 0);
        FUZZ_CHECK(f.hdr.message_id == want->hdr.message_id);
        FUZZ_CHECK(f.hdr.thl == want->tl && f.hdr.bl == want->bl);
        FUZZ_CHECK(ep_bytes_equal(f.text, want->text, want->tl) &&
                   ep_bytes_equal(f.body, want->body, want->bl));
        free(want);
        /* A ByeResponse ends sending even in strict mode. */
        if ((op == TL_OP_BYE_REQUEST && ch->out_bye == 0) || op == TL_OP_BYE_RESPONSE) {
            ch->out_bye = op;
        }
        if (op == TL_OP_BYE_RESPONSE && c->opt.bye_grace_ns != 0) {
            ch->grace_armed = 1; /* A3 */
            ch->grace_deadline = c->now + c->opt.bye_grace_ns;
        }
    }
}

static void ep_drain_output(ep_ctx *c, ep_chan *ch, int half, int max_iov)
{
    for (int round = 0; round < 1024; round++) {
        tl_iov iov[8];
        int k = tl_engine_output(c->e, ch->number, iov, max_iov);
        FUZZ_CHECK(k >= 0 && k <= max_iov);
        ep_check(c);
        if (k == 0) {
            return;
        }
        size_t total = 0;
        for (int i = 0; i < k; i++) {
            FUZZ_CHECK(iov[i].base != NULL && iov[i].len > 0);
            total += iov[i].len;
        }
        tl_io_state st;
        FUZZ_CHECK(tl_engine_io_state(c->e, ch->number, &st) == TL_OK && st.out_pending >= total);
        if (round == 0) {
            /* More than is queued is refused, and changes nothing. */
            FUZZ_CHECK(tl_engine_output_done(c->e, ch->number, st.out_pending + 1) == TL_E_INVAL);
            tl_io_state again;
            FUZZ_CHECK(tl_engine_io_state(c->e, ch->number, &again) == TL_OK);
            FUZZ_CHECK(again.out_pending == st.out_pending);
            ep_check(c);
        }
        size_t ack = half ? (total + 1) / 2 : total, left = ack;
        for (int i = 0; i < k && left > 0; i++) {
            size_t take = iov[i].len < left ? iov[i].len : left;
            if (!c->loose) {
                ep_output_bytes(c, ch, iov[i].base, take);
            }
            left -= take;
        }
        FUZZ_CHECK(tl_engine_output_done(c->e, ch->number, ack) == TL_OK);
        ep_check(c);
        if (half) {
            return;
        }
    }
}

static void ep_drain_all_output(ep_ctx *c, int half, int max_iov)
{
    for (int i = 0; i < c->nch; i++) {
        if (c->ch[i].exists) {
            ep_drain_output(c, &c->ch[i], half, max_iov);
        }
    }
}

/* ---- application actions ---- */

/* 1 when a new message of this kind was posted. */
static int ep_post_new(ep_ctx *c, ep_chan *ch, unsigned kind, unsigned step)
{
    static const unsigned ops[4] = {TL_OP_REQUEST, TL_OP_SIGNAL, TL_OP_BYE_REQUEST, TL_OP_BYE_SIGNAL};
    tl_message *m = NULL;
    int rc = tl_engine_get(c->e, TL_GET_ALWAYS, &m);
    ep_check(c);
    if (rc != TL_OK) {
        FUZZ_CHECK(c->loose && rc == TL_E_NOMEM);
        return 0;
    }
    m->hdr.channel = ch->number;
    tl_msg_set_opcode(m, ops[kind & 3]);
    if (ops[kind & 3] == TL_OP_REQUEST) {
        uint8_t body[3] = {'r', (uint8_t)step, (uint8_t)(step >> 8)};
        if (tl_msg_add_header(m, "step", "x") != TL_OK || tl_msg_body_set(m, body, sizeof body) != TL_OK) {
            FUZZ_CHECK(c->loose);
        }
    }
    return ep_post(c, ch, &m) == TL_OK;
}

static void ep_tick(ep_ctx *c)
{
    if (!c->loose) {
        /* The only timers after setup: Bye grace, once a ByeResponse is out (A3). */
        uint64_t due = UINT64_MAX;
        for (int i = 0; i < c->nch; i++) {
            if (c->ch[i].exists && c->ch[i].grace_armed && c->ch[i].grace_deadline < due) {
                due = c->ch[i].grace_deadline;
            }
        }
        FUZZ_CHECK(tl_engine_next_deadline(c->e) == due);
    }
    c->now += EP_STEP_NS;
    for (int i = 0; i < c->nch; i++) {
        ep_chan *ch = &c->ch[i];
        if (ch->exists && ch->grace_armed && ch->grace_deadline <= c->now) {
            ep_expect_teardown(ch, TL_STATUS_CHANNEL_CLOSED); /* A3 grace timer */
        }
    }
    tl_engine_tick(c->e, c->now);
    ep_check(c);
    /* updateReceiver (6.11): a Signal from the engine, or the app's message. */
    tl_message *m = NULL;
    if ((c->n & 0x80) && tl_engine_get(c->e, TL_GET_POOL_ONLY, &m) == TL_OK) {
        m->hdr.proto = TL_PROTO_ORIGIN | TL_OP_REQUEST;
        m->hdr.status = 7;
        m->hdr.message_id = 77;
    }
    int rc = tl_engine_update_receiver(c->e, c->group, &m);
    FUZZ_CHECK(rc == TL_OK || (c->loose && rc == TL_E_NOMEM));
    FUZZ_CHECK(m == NULL || rc != TL_OK);
    ep_put(c, &m);
    c->update_receiver_due += rc == TL_OK;
    ep_check(c);
}

static void ep_transport_closed(ep_ctx *c, ep_chan *ch, unsigned which)
{
    static const tl_status reasons[4] = {TL_STATUS_RECV_FAILED, TL_STATUS_COMMUNICATION_FAILED,
                                         TL_STATUS_SEND_FAILED, TL_STATUS_RECV_FAILED};
    int existed = ch->exists;
    ep_expect_teardown(ch, reasons[which & 3]);
    int rc = tl_engine_transport_closed(c->e, ch->number, reasons[which & 3]);
    FUZZ_CHECK(c->loose || rc == (existed ? TL_OK : TL_E_NOT_FOUND));
    ep_check(c);
}

/* ---- the run ---- */

/* Set up the options from cfg0/cfg1; the target creates the engine. */
static void ep_init(ep_ctx *c, uint8_t cfg0, uint8_t cfg1, uint8_t n)
{
    static const uint16_t pools[4] = {2, 1, 4, 16};
    memset(c, 0, sizeof *c);
    c->cfg0 = cfg0;
    c->cfg1 = cfg1;
    c->n = n;
    c->opt.seed = 0x746f6675u + cfg1;
    c->opt.pool_initial = pools[cfg0 & 3];
    c->opt.pool_max = (cfg0 & 4) ? c->opt.pool_initial : 0;
    switch ((cfg0 >> 3) & 3) {
    case 1: c->opt.max_text = 24; break;
    case 2: c->opt.max_body = 24; break;
    case 3: c->opt.max_text = c->opt.max_body = 8; break;
    default: break;
    }
    c->opt.strict_bye = (cfg0 & 0x20) != 0;
    c->opt.bye_grace_ns = (cfg0 & 0x40) ? 1000u : 0u;
    c->alloc.alloc = ep_alloc;
    c->alloc.realloc = ep_realloc;
    c->alloc.free = ep_free;
    c->alloc.ctx = c;
    c->opt.allocator = &c->alloc;
    c->opt.on_deliver = ep_on_deliver;
    c->opt.on_host_work = ep_on_host_work;
    c->opt.cb_ctx = c;
    c->fail_every = (cfg1 & 0x0F) ? (unsigned long)(cfg1 & 0x0F) + 1u : 0u;
    c->loose = c->fail_every != 0;
    c->alloc_armed = 1;
}

/* After the target's setup: the steps over the peer stream, then the end. */
static void ep_run(ep_ctx *c, fuzz_bytes *in)
{
    size_t nsteps;
    const uint8_t *steps = fuzz_take(in, (size_t)(c->n & 0x0F) * 2u, &nsteps);
    nsteps /= 2;
    size_t n;
    const uint8_t *stream = fuzz_take(in, fuzz_left(in), &n);
    static const uint8_t default_step[2] = {0xFE, 0x01};
    if (nsteps == 0) {
        steps = default_step;
        nsteps = 1;
    }
    size_t pos = 0;
    unsigned step = 0;
    /* Every step consumes stream bytes or closes a channel, so this ends. */
    while (pos < n && step < 4 * n + 16) {
        const uint8_t *d = steps + 2 * (step % nsteps);
        uint8_t act = d[1];
        ep_chan *ch = &c->ch[(act & 0x80) && c->nch > 1 ? 1 : 0];
        int reply = act & 1, hold = (act & 2) != 0, half = (act & 4) != 0;
        int max_iov = 1 + (int)(step % 8);
        step++;
        if (d[0] == 0xFF) {
            ep_transport_closed(c, ch, act >> 4);
        } else {
            size_t len = d[0] == 0xFE ? n - pos : (size_t)d[0] + 1;
            if (len > n - pos) {
                len = n - pos;
            }
            if (ch->exists) {
                ep_feed(c, ch, stream + pos, len, reply, hold);
            }
            pos += len;
        }
        if (act & 0x08) {
            ep_post_new(c, ch, act >> 4, step);
        }
        if (act & 0x40) {
            ep_tick(c);
        }
        ep_receive_all(c, reply, hold);
        ep_drain_all_output(c, half, max_iov);
        ep_receive_all(c, reply, hold);
        if (c->nheld > 0 && !hold) {
            ep_release_held(c);
        }
    }
    ep_receive_all(c, 0, 0);
    ep_release_held(c);
}

/* The end: either destroy the group (channels closed silently, 6.13) or
 * leave everything in place for tl_engine_destroy; then free the model. */
static void ep_finish(ep_ctx *c)
{
    if (c->e == NULL) {
        return;
    }
    if (!c->loose) {
        tl_engine_stats s;
        tl_engine_get_stats(c->e, &s);
        FUZZ_CHECK(s.frames_in == c->frames_in);
        /* The channel list is the model's: open channels and the listener. */
        uint16_t list[EP_MAX_CHANNELS + 2];
        size_t want = c->listener_exists ? 1 : 0, got = tl_engine_channels(c->e, list, EP_MAX_CHANNELS + 2);
        for (int i = 0; i < c->nch; i++) {
            want += c->ch[i].exists ? 1 : 0;
        }
        FUZZ_CHECK(got == want && got == s.channels_now);
        for (size_t i = 0; i < got; i++) {
            ep_chan *ch = ep_chan_find(c, list[i]);
            FUZZ_CHECK((ch != NULL && ch->exists) || (list[i] == c->listener && c->listener_exists));
            FUZZ_CHECK(i == 0 || list[i - 1] < list[i]);
        }
    }
    if ((c->cfg1 & 0x10) && c->group_alive) {
        for (int i = 0; i < c->nch; i++) {
            if (c->ch[i].exists) {
                c->ch[i].silent = 1;
                ep_expect_teardown(&c->ch[i], TL_STATUS_CHANNEL_CLOSED);
            }
        }
        c->listener_exists = 0;
        FUZZ_CHECK(tl_engine_group_destroy(c->e, c->group) == TL_OK);
        c->group_alive = 0;
        ep_check(c);
        tl_message *m;
        FUZZ_CHECK(tl_engine_receive(c->e, c->group, &m) == TL_E_NOT_FOUND);
        FUZZ_CHECK(tl_engine_pending(c->e, c->group) == 0);
    }
    ep_release_held(c);
    tl_engine_destroy(c->e);
    c->e = NULL;
    for (int i = 0; i < c->nch; i++) {
        ep_fifo_free(&c->ch[i].expect_in);
        ep_fifo_free(&c->ch[i].posted);
        tl_reader_free(&c->ch[i].in);
        tl_reader_free(&c->ch[i].out);
    }
}

/* n bit 6: posts the engine must refuse, whatever state it is in (section 5,
 * A6, A13, A15; engine.h). */
static void ep_edge_cases(ep_ctx *c)
{
    tl_message *m = NULL;
    tl_post_out out;
    FUZZ_CHECK(tl_engine_post(c->e, c->group, NULL, &out) == TL_E_INVAL &&
               out.status == TL_STATUS_NULL_MESSAGE);
    FUZZ_CHECK(tl_engine_post(c->e, c->group, &m, &out) == TL_E_INVAL);
    if (tl_engine_get(c->e, TL_GET_ALWAYS, &m) != TL_OK) {
        FUZZ_CHECK(c->loose);
        return;
    }
    uint16_t some = c->nch > 0 ? c->ch[0].number : 1;
    /* No such group. */
    m->hdr.channel = some;
    FUZZ_CHECK(tl_engine_post(c->e, c->group + 100, &m, &out) == TL_E_NOT_FOUND && m != NULL);
    FUZZ_CHECK(out.status == TL_STATUS_INVALID_MCHN_GROUP);
    /* Op code 10-15: status byte untouched. */
    m->hdr.proto = 0x0B;
    m->hdr.status = 0x42;
    FUZZ_CHECK(tl_engine_post(c->e, c->group, &m, &out) == TL_E_BAD_OPCODE && m != NULL);
    FUZZ_CHECK(out.status == TL_STATUS_INVALID_OP_CODE && m->hdr.status == 0x42);
    /* Channel 0 on a regular message; 65535 is never a channel. */
    tl_msg_reset(m);
    FUZZ_CHECK(tl_engine_post(c->e, c->group, &m, &out) == TL_E_REJECTED && m != NULL);
    FUZZ_CHECK(out.status == TL_STATUS_INVALID_CHANNEL_NUMBER);
    m->hdr.channel = TL_CHANNEL_INTERNAL;
    FUZZ_CHECK(tl_engine_post(c->e, c->group, &m, &out) == TL_E_REJECTED && m != NULL);
    FUZZ_CHECK(out.status == TL_STATUS_INVALID_CHANNEL_NUMBER);
    /* A13: Hello with a channel number. */
    if (tl_msg_set_address(m, TL_OP_HELLO_REQUEST, "tcp|127.0.0.1|7099") == TL_OK) {
        m->hdr.channel = some;
        FUZZ_CHECK(tl_engine_post(c->e, c->group, &m, &out) == TL_E_REJECTED && m != NULL);
        FUZZ_CHECK(out.status == TL_STATUS_INVALID_CHANNEL_NUMBER);
    }
    /* A12: a Welcome carrying ~connect_to. */
    tl_msg_reset(m);
    if (tl_msg_add_header(m, TL_HEADER_CONNECT_TO, "tcp|127.0.0.1|7099") == TL_OK) {
        tl_msg_set_opcode(m, TL_OP_WELCOME_REQUEST);
        FUZZ_CHECK(tl_engine_post(c->e, c->group, &m, &out) == TL_E_REJECTED && m != NULL);
        FUZZ_CHECK(out.status == TL_STATUS_INVALID_ADDRESS);
    }
    /* Another group's channel (11), a listener (A15). */
    uint32_t other;
    if (c->nch > 0 && c->ch[0].exists && tl_engine_group_create(c->e, &other) == TL_OK) {
        tl_msg_reset(m);
        m->hdr.channel = c->ch[0].number;
        FUZZ_CHECK(tl_engine_post(c->e, other, &m, &out) == TL_E_REJECTED && m != NULL);
        FUZZ_CHECK(out.status == TL_STATUS_INVALID_MCHN_GROUP);
        FUZZ_CHECK(tl_engine_group_destroy(c->e, other) == TL_OK);
        FUZZ_CHECK(tl_engine_group_destroy(c->e, other) == TL_E_NOT_FOUND);
    }
    if (c->listener_exists) {
        tl_msg_reset(m);
        m->hdr.channel = c->listener;
        FUZZ_CHECK(tl_engine_post(c->e, c->group, &m, &out) == TL_E_REJECTED && m != NULL);
        FUZZ_CHECK(out.status == TL_STATUS_NOT_ALLOWED);
    }
    ep_put(c, &m);
    ep_check(c);
}

#endif
