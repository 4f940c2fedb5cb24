/*
 * Conformance suite: building frames and checking echo replies against
 * tofu's EchoService (PROTOCOL.md section 7); the liveness probe.
 */
#include <stdlib.h>
#include <string.h>

#include "echo.h"
#include "case.h"
#include "net.h"
#include "util.h"

void tlc_out_add(tlc_out *o, tlc_msg *m)
{
    uint8_t hdr[TL_HEADER_SIZE];
    unsigned op = tl_proto_opcode(m->h.proto);

    m->h.thl = (uint16_t)m->text_len;
    m->h.bl = (uint16_t)m->body_len;
    tl_header_encode(&m->h, hdr);
    tlc_bytes_append(&o->bytes, hdr, sizeof hdr);
    tlc_bytes_append(&o->bytes, m->text, m->text_len);
    tlc_bytes_append(&o->bytes, m->body, m->body_len);
    o->frames++;
    /* EchoService's budget counts regular and welcome frames that reach it:
     * not engine-origin ones (ignored earlier), not invalid op codes (they
     * crash it) and not response roles (they stop it) (section 7). */
    if (!tl_proto_origin_engine(m->h.proto) &&
        (op == TL_OP_REQUEST || op == TL_OP_SIGNAL || op == TL_OP_WELCOME_REQUEST)) {
        o->regular++;
    }
}

void tlc_out_free(tlc_out *o)
{
    tlc_bytes_free(&o->bytes);
    memset(o, 0, sizeof *o);
}

int tlc_send_out(tlc_conn *k, tlc_out *o, const tlc_split *split, const char *what)
{
    tlc_sb note = {0};
    int rc;

    if (o->bytes.oom) {
        tlc_fail(k->c, "out of memory building frames");
        return -1;
    }
    if (what != NULL) {
        tlc_sb_printf(&note, "%s: ", what);
    }
    tlc_sb_printf(&note, "%zu frame%s", o->frames, o->frames == 1 ? "" : "s");
    rc = tlc_send(k, o->bytes.p, o->bytes.len, split, note.s);
    tlc_sb_free(&note);
    if (rc == 0) {
        k->c->run->regular_sent += o->regular;
    }
    return rc;
}

int tlc_send_msg(tlc_conn *k, tlc_msg *m, const char *what)
{
    tlc_out o = {0};
    int rc;

    tlc_out_add(&o, m);
    rc = tlc_send_out(k, &o, NULL, what);
    tlc_out_free(&o);
    return rc;
}

int tlc_echo_opcode(unsigned op)
{
    const tl_opcode_info *info = tl_opcode_info_get(op);

    if (info == NULL) {
        return -1;
    }
    if (info->role == TL_ROLE_REQUEST) {
        /* WelcomeRequest echoes to WelcomeResponse, which tofu's engine drops
         * inside the server: nothing reaches the wire (section 7). */
        return op == TL_OP_WELCOME_REQUEST ? -1 : info->echo;
    }
    if (info->role == TL_ROLE_SIGNAL) {
        /* Signal stays Signal; ByeSignal stays ByeSignal (see A2 for what
         * happens to it then). */
        return (int)op;
    }
    return -1;
}

static const char *op_name(unsigned op)
{
    const char *n = tl_opcode_name(op);
    return n != NULL ? n : "undefined";
}

/* Bits of the native body's proto byte that may be either as received
 * (tofu) or cleared on receipt (reference engine, A7). */
static int proto_bit_ok(uint8_t got, uint8_t sent, uint8_t bit)
{
    return (got & bit) == 0 || (got & bit) == (sent & bit);
}

int tlc_check_echo(tlc_case *c, tlc_conn *k, const tl_header *sent, const uint8_t *text,
                   const tlc_frame *reply, const char *what)
{
    const tl_header *r = &reply->h;
    unsigned sop = tl_proto_opcode(sent->proto);
    int eop = tlc_echo_opcode(sop);
    unsigned rop = tl_proto_opcode(r->proto);
    int ok = 1;
    uint8_t ab_sent = sent->proto & (TL_PROTO_BIT_A | TL_PROTO_BIT_B);
    uint8_t ab_got = r->proto & (TL_PROTO_BIT_A | TL_PROTO_BIT_B);

#define FAIL(...)                                                                                            \
    do {                                                                                                     \
        tlc_fail(c, __VA_ARGS__);                                                                            \
        ok = 0;                                                                                              \
    } while (0)

    if (eop < 0) {
        FAIL("%s: a %s frame came back, but EchoService sends nothing for a %s (section 7)", what,
             op_name(rop), op_name(sop));
        return 0;
    }
    if (rop != (unsigned)eop) {
        FAIL("%s: op code %u (%s), expected %d (%s) (section 2 echo mapping)", what, rop, op_name(rop), eop,
             op_name((unsigned)eop));
    }
    if (sent->message_id != 0 && r->message_id != sent->message_id) {
        FAIL("%s: message_id %llu, expected %llu, the request's (section 7)", what,
             (unsigned long long)r->message_id, (unsigned long long)sent->message_id);
    } else if (sent->message_id == 0 && r->message_id == 0) {
        FAIL("%s: message_id 0; post assigns a fresh id to a message sent with 0 (section 5 step 10)", what);
    }
    if (r->status != 0) {
        FAIL("%s: status byte %u on the wire; post forces it to 0 (sections 3 and 5)", what, r->status);
    }
    if (tl_proto_origin_engine(r->proto)) {
        FAIL("%s: origin bit set on the wire; post forces origin application (section 5 step 3)", what);
    }
    if (tl_proto_more(r->proto) != tl_proto_more(sent->proto)) {
        FAIL("%s: more flag %d, expected %d: the echo keeps the received more bit (sections 5, 7)", what,
             tl_proto_more(r->proto), tl_proto_more(sent->proto));
    }
    if (ab_got != 0) {
        if (ab_got == ab_sent) {
            tlc_nonstrict(c,
                          "%s: internal bits 0x%02x came back on the wire: tofu's post keeps them (A8), the "
                          "reference engine clears them",
                          what, ab_got);
        } else {
            FAIL("%s: internal bits 0x%02x in the reply, we sent 0x%02x (1.4)", what, ab_got, ab_sent);
        }
    }
    if (r->thl != sent->thl) {
        FAIL("%s: thl %u, expected %u: text headers come back byte for byte (section 7 step 6)", what, r->thl,
             sent->thl);
    } else if (r->thl > 0 && memcmp(reply->text, text, r->thl) != 0) {
        size_t i = 0;

        while (reply->text[i] == text[i]) {
            i++;
        }
        FAIL("%s: text headers differ from those sent at byte %zu of %u (section 7 step 6)", what, i, r->thl);
    }
    if (r->channel == TL_CHANNEL_NONE || r->channel == TL_CHANNEL_INTERNAL) {
        FAIL("%s: channel %u in the reply; a sender's own channel number is 1-65534 (sections 5, 6.6)", what,
             r->channel);
    } else if (k != NULL) {
        if (k->have_channel && k->channel != r->channel) {
            FAIL("%s: channel 0x%04x, but earlier replies on this connection used 0x%04x (6.6)", what,
                 r->channel, k->channel);
        }
        k->have_channel = 1;
        k->channel = r->channel;
    }
    if (r->bl != TL_HEADER_SIZE) {
        FAIL("%s: bl %u, expected 16: the body is the 16-byte copy of the header (section 7 step 6)", what,
             r->bl);
    } else {
        tl_header nb, be;
        int body_ok = 1;

        tl_header_decode_native(reply->body, &nb);
        tl_header_decode(reply->body, &be);
        if (nb.channel != r->channel) {
            FAIL("%s: body channel 0x%04x differs from the reply's channel 0x%04x (the copy is taken after "
                 "the "
                 "channel is set to the server's own number)",
                 what, nb.channel, r->channel);
            body_ok = 0;
        }
        if (tl_proto_opcode(nb.proto) != (unsigned)eop ||
            tl_proto_more(nb.proto) != tl_proto_more(sent->proto) ||
            !proto_bit_ok(nb.proto, sent->proto, TL_PROTO_ORIGIN) ||
            !proto_bit_ok(nb.proto, sent->proto, TL_PROTO_BIT_A) ||
            !proto_bit_ok(nb.proto, sent->proto, TL_PROTO_BIT_B)) {
            FAIL("%s: body proto 0x%02x, expected 0x%02x (the echo op code with the received flag bits)",
                 what, nb.proto, (unsigned)eop | (sent->proto & 0xF0u));
            body_ok = 0;
        }
        if (nb.status != sent->status) {
            FAIL("%s: body status %u, expected %u, the received status byte (section 7 step 6)", what,
                 nb.status, sent->status);
            body_ok = 0;
        }
        if (nb.message_id != sent->message_id) {
            FAIL("%s: body message_id %llu, expected %llu, the received id (section 7 step 6)", what,
                 (unsigned long long)nb.message_id, (unsigned long long)sent->message_id);
            body_ok = 0;
        }
        if (nb.thl != sent->thl || nb.bl != sent->bl) {
            FAIL("%s: body thl %u bl %u, expected %u and %u, the received frame's lengths (section 7 step 6)",
                 what, nb.thl, nb.bl, sent->thl, sent->bl);
            body_ok = 0;
        }
        if (!body_ok && be.message_id == sent->message_id && be.thl == sent->thl && be.bl == sent->bl) {
            tlc_note(c,
                     "%s: the body holds the header big-endian; tofu copies its little-endian in-memory form "
                     "(1.3)",
                     what);
        }
    }
#undef FAIL
    return ok;
}

static int check_echo_msg(tlc_case *c, tlc_conn *k, const tlc_msg *sent, const tlc_frame *reply,
                          const char *what)
{
    int ok = tlc_check_echo(c, k, &sent->h, sent->text, reply, what);

    if (!ok && sent->body_len > 0 && reply->h.bl == sent->body_len && reply->body != NULL &&
        memcmp(reply->body, sent->body, sent->body_len) == 0) {
        tlc_note(c, "%s: the reply carries the body we sent; EchoService replaces it by the header copy",
                 what);
    }
    return ok;
}

int tlc_expect_frame(tlc_case *c, tlc_conn *k, tlc_frame *f, const char *what)
{
    int r = tlc_recv(k, tlc_deadline(c), f);
    tlc_sb why = {0};

    if (r == TLC_RX_FRAME) {
        return 1;
    }
    tlc_describe_pending(k, &why);
    if (r == TLC_RX_TIMEOUT) {
        tlc_fail(c, "no %s within %u ms: %s", what, c->run->timeout_ms, why.s != NULL ? why.s : "");
    } else if (r == TLC_RX_FLOOD) {
        tlc_fail(c, "waiting for %s: the peer sent more than it should (flood)", what);
    } else {
        tlc_fail(c, "the peer %s the connection before %s (%s)",
                 k->closed == TLC_CLOSED_EOF ? "closed" : "reset", what, why.s != NULL ? why.s : "");
    }
    tlc_sb_free(&why);
    return 0;
}

int tlc_expect_echo(tlc_case *c, tlc_conn *k, const tlc_msg *sent, const char *what)
{
    tlc_frame f;
    int ok;

    if (!tlc_expect_frame(c, k, &f, what)) {
        return 0;
    }
    ok = check_echo_msg(c, k, sent, &f, what);
    tlc_frame_free(&f);
    return ok;
}

void tlc_make_echo(const tlc_frame *in, uint16_t our_channel, tlc_out *o)
{
    int eop = tlc_echo_opcode(tl_proto_opcode(in->h.proto));
    tl_header copy;
    uint8_t body[TL_HEADER_SIZE];
    tlc_msg m;

    if (eop < 0) {
        return;
    }
    /* The copy is taken before post (section 7 step 6): channel = ours, the
     * echo op with the received more bit (we clear origin and internal bits
     * on receipt, as the reference engine does, A7), status, id, thl and bl
     * as received. */
    copy = in->h;
    copy.channel = our_channel;
    copy.proto = (uint8_t)((unsigned)eop | (in->h.proto & TL_PROTO_MORE));
    tl_header_encode_native(&copy, body);
    memset(&m, 0, sizeof m);
    m.h.channel = our_channel;
    m.h.proto = copy.proto;
    m.h.status = 0;
    m.h.message_id = in->h.message_id;
    m.text = in->text;
    m.text_len = in->h.thl;
    m.body = body;
    m.body_len = sizeof body;
    tlc_out_add(o, &m);
}

/* ---- liveness ---- */

int tlc_check_alive(tlc_case *c)
{
    tlc_conn *k;
    int alive = 0;

    tlc_event_note(c, 0, "follow-up connection: is the peer still alive?");
    k = tlc_open(c, 0);
    c->connect_failed = 0; /* this failure is the answer, not a finding */
    if (k != NULL) {
        tlc_msg m;
        uint8_t text[TL_ADDR_TEXT_MAX + 16];
        size_t tl = 0;
        char addr[TL_ADDR_TEXT_MAX];

        memset(&m, 0, sizeof m);
        if (tl_address_format(&c->run->opt.peer, addr, sizeof addr) > 0) {
            tl_address_append_header(text, sizeof text, &tl, TL_OP_HELLO_REQUEST, &c->run->opt.peer);
        }
        m.h.channel = 0x7e57;
        m.h.proto = TL_OP_HELLO_REQUEST;
        m.h.message_id = 0x7e57;
        m.text = text;
        m.text_len = tl;
        if (tlc_send_msg(k, &m, "liveness HelloRequest") == 0) {
            (void)tlc_wait_quiet(k, tlc_deadline(c));
            alive = k->rx_total > 0;
        }
        tlc_close(k, 1);
    }
    c->alive_checked = 1;
    c->alive = alive;
    tlc_event_note(
        c, 0, alive ? "the peer is alive" : "the peer is NOT alive: no answer on a follow-up connection");
    return alive;
}

/* ---- for other tools (conform.h) ---- */

int tl_conform_echo_opcode(unsigned op) { return tlc_echo_opcode(op); }

void tl_conform_echo_body(uint8_t out[TL_HEADER_SIZE], uint16_t channel, unsigned proto, uint64_t id)
{
    tl_header h;

    memset(&h, 0, sizeof h);
    h.channel = channel;
    h.proto = (uint8_t)proto;
    h.message_id = id;
    tl_header_encode_native(&h, out);
}

int tl_conform_check_echo(const tl_header *sent, const uint8_t *sent_text, const tl_header *reply,
                          const uint8_t *reply_text, const uint8_t *reply_body, char *why, size_t why_cap)
{
    tlc_case c;
    tlc_frame f;
    int ok;

    /* A case of its own that no run owns: findings only go to its detail. */
    memset(&c, 0, sizeof c);
    c.worst = -1;
    f.h = *reply;
    f.text = (uint8_t *)(uintptr_t)reply_text;
    f.body = (uint8_t *)(uintptr_t)reply_body;
    ok = tlc_check_echo(&c, NULL, sent, sent_text, &f, "echo");
    if (why != NULL && why_cap > 0) {
        const char *d = c.detail.s != NULL ? c.detail.s : "";
        const char *line = ok ? "" : strstr(d, "FAILED: ");
        size_t n;

        line = line != NULL ? line + 8 : d;
        n = strcspn(line, "\n");
        if (n >= why_cap) {
            n = why_cap - 1;
        }
        memcpy(why, line, n);
        why[n] = '\0';
    }
    tlc_sb_free(&c.detail);
    return ok;
}
