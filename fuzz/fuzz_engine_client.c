/*
 * Fuzz target: the engine's receive path as a client (PROTOCOL.md 6.4, 6.7-6.10,
 * A2-A4, A7, A10, A14, A20, A21). Statics carry the ec_ prefix, the shared
 * harness the ep_ prefix (see fuzz.h and engine_peer.h, which also describes
 * the input format and the model).
 *
 * Setup: a group and a HelloRequest to tcp|127.0.0.1|7099 (with a body when
 * cfg1 bit 7 is set); the CONNECT command is answered as cfg1 bits 5-6 say:
 * 0 connected; 1 refused later (the HelloRequest comes back with
 * connect_failed); 2 refused at once (it comes back as a HelloResponse, A10);
 * 3 the connect timer (A21) runs out. Setup variants (n bits 4-5): 1 port 0,
 * refused by the engine at once (HelloResponse, invalid_address, no
 * CONNECT); 2 a ByeSignal before the connect result (which must then be
 * refused with TL_E_STATE); 3 a Request posted before the connect result,
 * which must go out right after the HelloRequest (6.4, A14). Once connected
 * the HelloRequest must be the first frame out; the fuzz input is what the
 * server sends.
 */
#include "engine_peer.h"

/* Post the HelloRequest; NULL when the run cannot go on. */
static ep_chan *ec_hello(ep_ctx *c, unsigned variant)
{
    tl_message *m = NULL;
    if (tl_engine_get(c->e, TL_GET_ALWAYS, &m) != TL_OK) {
        FUZZ_CHECK(c->loose);
        return NULL;
    }
    int rc =
        tl_msg_set_address(m, TL_OP_HELLO_REQUEST, variant == 1 ? "tcp|127.0.0.1|0" : "tcp|127.0.0.1|7099");
    if (rc == TL_OK && (c->cfg1 & 0x80)) {
        static const uint8_t body[16] = {0, 0, 3}; /* EchoClient's native header copy (V19) */
        rc = tl_msg_body_set(m, body, sizeof body);
    }
    if (rc != TL_OK) {
        FUZZ_CHECK(c->loose && rc == TL_E_NOMEM);
        ep_put(c, &m);
        return NULL;
    }
    ep_frame *hello = ep_frame_new(&m->hdr, m->text.data, m->text.len, m->body.data, m->body.len);
    tl_post_out out;
    rc = tl_engine_post(c->e, c->group, &m, &out);
    if (rc != TL_OK) {
        FUZZ_CHECK(c->loose && rc == TL_E_REJECTED && out.status == TL_STATUS_ALLOCATION_FAILED);
        ep_put(c, &m);
        free(hello);
        return NULL;
    }
    FUZZ_CHECK(m == NULL && out.hdr.channel != 0 && out.hdr.message_id != 0);
    FUZZ_CHECK(out.hdr.proto == TL_OP_HELLO_REQUEST && out.hdr.thl == hello->tl && out.hdr.bl == hello->bl);
    hello->hdr = out.hdr;
    ep_chan *ch = ep_chan_add(c, out.hdr.channel, out.hdr.message_id);
    ep_fifo_push(&ch->posted, hello);
    return ch;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ep_ctx ctx, *c = &ctx;
    fuzz_bytes in;
    fuzz_bytes_init(&in, data, size);
    uint8_t cfg0 = fuzz_u8(&in), cfg1 = fuzz_u8(&in), n = fuzz_u8(&in);
    unsigned connect = (cfg1 >> 5) & 3, variant = (n >> 4) & 3;
    ep_init(c, cfg0, cfg1, n);
    if (connect == 3) {
        c->opt.connect_timeout_ns = 1000;
    }
    if (tl_engine_create(&c->opt, &c->e) != TL_OK) {
        FUZZ_CHECK(c->loose);
        return 0;
    }
    if (tl_engine_group_create(c->e, &c->group) != TL_OK) {
        FUZZ_CHECK(c->loose);
        ep_finish(c);
        return 0;
    }
    c->group_alive = 1;
    ep_chan *ch = ec_hello(c, variant);
    if (ch == NULL) {
        ep_finish(c);
        return 0;
    }
    if (variant == 1) {
        /* Port 0: refused while posting (A10 immediate shape), no CONNECT. */
        ch->hello_as_response = 1;
        ep_expect_teardown(ch, TL_STATUS_INVALID_ADDRESS);
        ep_check(c);
        ep_receive_all(c, 0, 0);
        FUZZ_CHECK(tl_engine_connect_result(c->e, ch->number, TL_STATUS_SUCCESS, 0) == TL_E_STATE);
        ep_finish(c);
        return 0;
    }
    tl_command cmd;
    FUZZ_CHECK(tl_engine_next_command(c->e, &cmd) == 1);
    FUZZ_CHECK(cmd.kind == TL_CMD_CONNECT && cmd.channel == ch->number && cmd.addr.kind == TL_ADDR_TCP);
    FUZZ_CHECK(strcmp(cmd.addr.host, "127.0.0.1") == 0 && cmd.addr.port == 7099);
    tl_io_state st;
    tl_iov iov[1];
    size_t consumed;
    FUZZ_CHECK(tl_engine_io_state(c->e, ch->number, &st) == TL_OK && st.connecting && !st.want_read);
    FUZZ_CHECK(tl_engine_output(c->e, ch->number, iov, 1) == 0);
    FUZZ_CHECK(tl_engine_input(c->e, ch->number, (const uint8_t *)"x", 1, &consumed) == TL_E_STATE);
    if (variant == 2) {
        /* ByeSignal: abort while connecting; the late answer is refused. */
        if (ep_post_new(c, ch, 3, 0)) {
            ep_receive_all(c, 0, 0);
            FUZZ_CHECK(tl_engine_connect_result(c->e, ch->number, TL_STATUS_SUCCESS, 0) == TL_E_STATE);
        }
        if (n & 0x40) {
            ep_edge_cases(c);
        }
        ep_finish(c);
        return 0;
    }
    if (variant == 3) {
        ep_post_new(c, ch, 0, 0); /* queued behind the HelloRequest, no gating (A14) */
    }

    switch (connect) {
    case 0:
        FUZZ_CHECK(tl_engine_connect_result(c->e, ch->number, TL_STATUS_SUCCESS, 0) == TL_OK);
        FUZZ_CHECK(tl_engine_connect_result(c->e, ch->number, TL_STATUS_SUCCESS, 0) == TL_E_STATE);
        break;
    case 1:
        ep_expect_teardown(ch, TL_STATUS_CONNECT_FAILED);
        FUZZ_CHECK(tl_engine_connect_result(c->e, ch->number, TL_STATUS_CONNECT_FAILED, 0) == TL_OK);
        break;
    case 2:
        ch->hello_as_response = 1;
        ep_expect_teardown(ch, TL_STATUS_COMMUNICATION_FAILED);
        FUZZ_CHECK(tl_engine_connect_result(c->e, ch->number, TL_STATUS_COMMUNICATION_FAILED, 1) == TL_OK);
        break;
    default:
        FUZZ_CHECK(tl_engine_next_deadline(c->e) == 1000);
        ep_expect_teardown(ch, TL_STATUS_CONNECT_FAILED);
        c->now = 1000;
        tl_engine_tick(c->e, c->now);
        FUZZ_CHECK(tl_engine_next_deadline(c->e) == UINT64_MAX);
        break;
    }
    ep_check(c);
    ep_receive_all(c, 0, 0);
    ep_run(c, &in);
    if (n & 0x40) {
        ep_edge_cases(c);
    }
    ep_finish(c);
    return 0;
}
