/*
 * Fuzz target: the engine's receive path as a server (PROTOCOL.md 6.3, 6.5,
 * 6.7-6.10, A2-A4, A6, A7, A11, A15, A16, A20). Statics carry the es_
 * prefix, the shared harness the ep_ prefix (see fuzz.h and engine_peer.h,
 * which also describes the input format and the model).
 *
 * Setup: a group, a WelcomeRequest on tcp|0.0.0.0|7099, the LISTEN command
 * answered with success (WelcomeResponse, origin application, A11), then one
 * accepted connection (two with cfg0 bit 7). The fuzz input is what the
 * client(s) send. Setup variants (n bits 4-5): 1 an address the engine
 * cannot parse, 2 the listen fails, 3 the listener is aborted before the
 * listen result (which must then be refused with TL_E_STATE); each ends with
 * WelcomeResponse/ByeSignal and Signal channel_closed (6.3, 6.9). With cfg1
 * bit 6 max_channels is 2, so a second accept is refused (TL_E_LIMIT). With cfg1
 * bit 5 the listener is aborted at the end (a ByeSignal on it: the ByeSignal
 * comes back, then Signal channel_closed with the WelcomeRequest's id). With
 * cfg1 bit 7 the protection mode of rx_budget is on (48 bytes, 16 per
 * channel): a short read is then either starvation or a pause for budget.
 */
#include "engine_peer.h"

static void es_accept(ep_ctx *c)
{
    uint16_t sc = 0;
    int rc = tl_engine_accepted(c->e, c->listener, &sc);
    if (c->opt.max_channels != 0 && (uint32_t)c->nch + 1 >= c->opt.max_channels) {
        FUZZ_CHECK(rc == TL_E_LIMIT); /* listener + accepted channels at the limit */
        ep_check(c);
        return;
    }
    if (rc != TL_OK) {
        FUZZ_CHECK(c->loose && rc == TL_E_NOMEM);
        return;
    }
    FUZZ_CHECK(sc != 0 && sc != TL_CHANNEL_INTERNAL && sc != c->listener);
    FUZZ_CHECK(tl_engine_channel_group(c->e, sc) == c->group);
    ep_chan_add(c, sc, 0); /* server channel: id 0 until the first frame (6.9) */
    ep_check(c);
}

/* A ByeSignal on the listener: it comes back (0x57, status 22), then Signal
 * channel_closed with the WelcomeRequest's id. 0 if no message could be had
 * (allocation failures). */
static int es_abort_listener(ep_ctx *c, uint64_t welcome_id)
{
    tl_message *m = NULL;
    tl_post_out out;
    if (tl_engine_get(c->e, TL_GET_ALWAYS, &m) != TL_OK) {
        FUZZ_CHECK(c->loose);
        return 0;
    }
    m->hdr.channel = c->listener;
    tl_msg_set_opcode(m, TL_OP_BYE_SIGNAL);
    c->listener_exists = 0;
    FUZZ_CHECK(tl_engine_post(c->e, c->group, &m, &out) == TL_OK && m == NULL);
    ep_check(c);
    if (c->loose) {
        return 1;
    }
    FUZZ_CHECK(ep_receive_one(c, &m) == TL_OK);
    FUZZ_CHECK(m->hdr.channel == c->listener && m->hdr.proto == 0x57 &&
               m->hdr.status == TL_STATUS_CHANNEL_CLOSED);
    FUZZ_CHECK(m->hdr.message_id == out.hdr.message_id);
    ep_put(c, &m);
    FUZZ_CHECK(ep_receive_one(c, &m) == TL_OK);
    FUZZ_CHECK(m->hdr.channel == c->listener && m->hdr.proto == (TL_OP_SIGNAL | TL_PROTO_ORIGIN));
    FUZZ_CHECK(m->hdr.status == TL_STATUS_CHANNEL_CLOSED && m->hdr.message_id == welcome_id);
    ep_put(c, &m);
    FUZZ_CHECK(ep_receive_one(c, &m) == TL_E_AGAIN);
    return 1;
}

/* A listener that never opens: WelcomeResponse (origin engine, status),
 * then Signal channel_closed; nothing more (6.3 step 4). */
static void es_expect_listener_failed(ep_ctx *c, tl_status status, uint64_t welcome_id)
{
    tl_message *m = NULL;
    c->listener_exists = 0;
    ep_check(c);
    if (c->loose) {
        return;
    }
    FUZZ_CHECK(ep_receive_one(c, &m) == TL_OK);
    FUZZ_CHECK(m->hdr.proto == (TL_OP_WELCOME_RESPONSE | TL_PROTO_ORIGIN) && m->hdr.status == status);
    FUZZ_CHECK(m->hdr.channel == c->listener && m->hdr.message_id == welcome_id);
    ep_put(c, &m);
    FUZZ_CHECK(ep_receive_one(c, &m) == TL_OK);
    FUZZ_CHECK(m->hdr.proto == (TL_OP_SIGNAL | TL_PROTO_ORIGIN) && m->hdr.status == TL_STATUS_CHANNEL_CLOSED);
    FUZZ_CHECK(m->hdr.channel == c->listener && m->hdr.message_id == welcome_id);
    ep_put(c, &m);
    FUZZ_CHECK(ep_receive_one(c, &m) == TL_E_AGAIN);
    FUZZ_CHECK(c->listener_closed_cmd);
}

/* The listener (6.3); 1 when it is listening. */
static int es_listen(ep_ctx *c, unsigned variant, uint64_t *welcome_id)
{
    tl_message *m = NULL;
    tl_post_out out;
    if (tl_engine_get(c->e, TL_GET_ALWAYS, &m) != TL_OK) {
        FUZZ_CHECK(c->loose);
        return 0;
    }
    int rc = variant == 1 ? tl_msg_text_append_raw(m, "~listen_on:tcp|0.0.0.0|\r\n", 25)
                          : tl_msg_set_address(m, TL_OP_WELCOME_REQUEST, "tcp|0.0.0.0|7099");
    tl_msg_set_opcode(m, TL_OP_WELCOME_REQUEST);
    if (rc != TL_OK) {
        FUZZ_CHECK(c->loose && rc == TL_E_NOMEM);
        ep_put(c, &m);
        return 0;
    }
    rc = tl_engine_post(c->e, c->group, &m, &out);
    if (rc != TL_OK) {
        FUZZ_CHECK(c->loose && rc == TL_E_REJECTED && out.status == TL_STATUS_ALLOCATION_FAILED);
        ep_put(c, &m);
        return 0;
    }
    c->listener = out.hdr.channel;
    c->listener_exists = 1;
    *welcome_id = out.hdr.message_id;
    FUZZ_CHECK(c->listener != 0 && *welcome_id != 0 && m == NULL);
    if (variant == 1) {
        /* The address does not parse: no LISTEN, the failure comes at once. */
        es_expect_listener_failed(c, TL_STATUS_INVALID_ADDRESS, *welcome_id);
        return 0;
    }
    tl_command cmd;
    FUZZ_CHECK(tl_engine_next_command(c->e, &cmd) == 1);
    FUZZ_CHECK(cmd.kind == TL_CMD_LISTEN && cmd.channel == c->listener && cmd.addr.kind == TL_ADDR_TCP);
    FUZZ_CHECK(strcmp(cmd.addr.host, "0.0.0.0") == 0 && cmd.addr.port == 7099);
    tl_io_state st;
    FUZZ_CHECK(tl_engine_io_state(c->e, c->listener, &st) == TL_OK && st.is_listener && !st.want_read);
    if (variant == 2) {
        FUZZ_CHECK(tl_engine_listen_result(c->e, c->listener, TL_STATUS_LISTEN_FAILED) == TL_OK);
        es_expect_listener_failed(c, TL_STATUS_LISTEN_FAILED, *welcome_id);
        return 0;
    }
    if (variant == 3) {
        /* Aborted before the host answered: the answer is refused. */
        if (es_abort_listener(c, *welcome_id)) {
            FUZZ_CHECK(tl_engine_listen_result(c->e, c->listener, TL_STATUS_SUCCESS) == TL_E_STATE);
            uint16_t sc;
            FUZZ_CHECK(tl_engine_accepted(c->e, c->listener, &sc) == TL_E_STATE);
        }
        return 0;
    }
    FUZZ_CHECK(tl_engine_listen_result(c->e, c->listener, TL_STATUS_SUCCESS) == TL_OK);
    FUZZ_CHECK(tl_engine_listen_result(c->e, c->listener, TL_STATUS_SUCCESS) == TL_E_STATE);
    FUZZ_CHECK(ep_receive_one(c, &m) == TL_OK);
    FUZZ_CHECK(m->hdr.proto == TL_OP_WELCOME_RESPONSE && m->hdr.status == 0); /* A11 */
    FUZZ_CHECK(m->hdr.channel == c->listener && m->hdr.message_id == *welcome_id);
    ep_put(c, &m);
    ep_check(c);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ep_ctx ctx, *c = &ctx;
    fuzz_bytes in;
    fuzz_bytes_init(&in, data, size);
    uint8_t cfg0 = fuzz_u8(&in), cfg1 = fuzz_u8(&in), n = fuzz_u8(&in);
    ep_init(c, cfg0, cfg1, n);
    if (cfg1 & 0x40) {
        c->opt.max_channels = 2; /* the listener and one connection: a second accept is refused */
    }
    if (cfg1 & 0x80) {
        /* Protection mode: frames take their pool message with their last
         * byte, and a tiny incomplete-frame budget pauses and resumes the
         * channels (one may finish its frame beyond it). */
        c->opt.rx_budget = 48;
        c->opt.rx_reserve = 16;
    }
    if (tl_engine_create(&c->opt, &c->e) != TL_OK) {
        FUZZ_CHECK(c->loose);
        return 0;
    }
    uint64_t welcome_id = 0;
    if (tl_engine_group_create(c->e, &c->group) != TL_OK) {
        FUZZ_CHECK(c->loose);
    } else {
        c->group_alive = 1;
        if (es_listen(c, (n >> 4) & 3, &welcome_id)) {
            es_accept(c);
            if (cfg0 & 0x80) {
                es_accept(c);
            }
            ep_run(c, &in);
        }
        if (n & 0x40) {
            ep_edge_cases(c);
        }
        if ((cfg1 & 0x20) && c->listener_exists) {
            es_abort_listener(c, welcome_id);
        }
    }
    ep_finish(c);
    return 0;
}
