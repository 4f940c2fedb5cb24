/*
 * Engine core (engine/core/engine.c) against PROTOCOL.md sections 5, 6, 7 and
 * the decisions of section 9, driven by the in-memory pair driver
 * (tests/helpers/pair.h), which asserts tl_engine_check() after every call.
 *
 * Node 0 is the client engine, node 1 the server engine, unless said.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tofulab/engine.h"
#include "tofulab/wire.h"

#include "../helpers/pair.h"

#define ADDR "tcp|127.0.0.1|7099"
#define ANY  PAIR_ANY

static pair_net net; /* large: static, one test at a time */

/* ------------------------------------------------------------- helpers */

static tl_engine *E(int node) { return net.node[node].e; }
static uint32_t G(int node) { return net.node[node].group; }

static tl_engine_stats stats(int node)
{
    tl_engine_stats st;
    tl_engine_get_stats(E(node), &st);
    return st;
}

static int channel_open(int node, uint16_t ch)
{
    tl_io_state io;
    return tl_engine_io_state(E(node), ch, &io) == TL_OK;
}

/* Encode one frame into out; returns its length. */
static size_t mkframe(uint8_t *out, size_t cap, uint16_t ch, uint8_t proto, uint8_t status, uint64_t id,
                      const char *text, const char *body)
{
    tl_header h = {ch, proto, status, id, 0, 0};
    size_t tl = text ? strlen(text) : 0, bl = body ? strlen(body) : 0;
    int n = tl_frame_encode(&h, (const uint8_t *)text, tl, (const uint8_t *)body, bl, out, cap);
    assert_true(n > 0);
    return (size_t)n;
}

static void inject_frame(pair_conn *c, uint16_t ch, uint8_t proto, uint8_t status, uint64_t id,
                         const char *text, const char *body)
{
    uint8_t buf[1024];
    size_t n = mkframe(buf, sizeof buf, ch, proto, status, id, text, body);
    pair_inject(c, 1, buf, n);
}

static void assert_body(const tl_message *m, const char *body)
{
    size_t n = strlen(body);
    assert_int_equal(m->body.len, n);
    if (n) {
        assert_memory_equal(m->body.data, body, n);
    }
}

/* Post ByeSignal (abort) on ch and assert it comes back at once as 0x57/22. */
static void abort_channel(int node, uint16_t ch)
{
    tl_message *m = pair_msg(&net, node, TL_OP_BYE_SIGNAL, ch, 0, NULL);
    tl_post_out out;
    assert_int_equal(pair_post(&net, node, &m, &out), TL_OK);
    tl_message *r = pair_expect(&net, node, TL_OP_BYE_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, ch,
                                (int64_t)out.hdr.message_id);
    assert_int_equal(r->hdr.proto, 0x57);
    pair_put(&net, node, &r);
}

static size_t wire_frames(int node, uint16_t ch, int end_of_node, tl_header *out, size_t max)
{
    int end;
    pair_conn *c = pair_find(&net, node, ch, &end);
    assert_non_null(c);
    size_t rest = 0;
    size_t k = pair_wire_frames(c, end_of_node ? end : 1 - end, out, max, &rest);
    assert_int_equal(rest, 0);
    return k;
}

/* ================================================= 6.9: listener rows */

static void test_engine_listener_started_welcome_response_origin_application(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    tl_message *m = pair_get(&net, 1);
    assert_int_equal(tl_msg_set_address(m, TL_OP_WELCOME_REQUEST, "tcp|0.0.0.0|7099"), TL_OK);
    assert_int_equal(tl_msg_body_set(m, "xyz", 3), TL_OK);
    tl_message *posted = m;
    tl_post_out out;
    assert_int_equal(pair_post(&net, 1, &m, &out), TL_OK);
    assert_null(m);
    uint16_t l = out.hdr.channel;
    assert_true(l >= 1 && l <= 65534);
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_LISTEN, ANY, l), 0); /* not run yet */
    pair_run(&net);
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_LISTEN, ANY, l), 1);
    /* A11: success comes back with origin application, status 0, the same message. */
    m = pair_expect(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)out.hdr.message_id);
    assert_ptr_equal(m, posted);
    assert_int_equal(m->hdr.proto, TL_OP_WELCOME_RESPONSE);
    const char *hdr = "~listen_on:tcp|0.0.0.0|7099\r\n";
    assert_int_equal(m->text.len, strlen(hdr));
    assert_memory_equal(m->text.data, hdr, strlen(hdr));
    assert_body(m, "xyz");
    pair_put(&net, 1, &m);
    pair_expect_none(&net, 1);
    /* Nothing on any wire, the listener stays. */
    assert_true(channel_open(1, l));
    tl_io_state io;
    assert_int_equal(tl_engine_io_state(E(1), l, &io), TL_OK);
    assert_true(io.is_listener);
    assert_false(io.want_read);
    assert_int_equal(io.out_pending, 0);
    assert_int_equal(tl_engine_channel_group(E(1), l), G(1));
    pair_free(&net);
}

static void expect_listen_failure(const char *addr_text, tl_status st, int raw)
{
    uint64_t wid;
    uint16_t l;
    if (raw) {
        tl_message *m = pair_get(&net, 1);
        tl_msg_set_opcode(m, TL_OP_WELCOME_REQUEST);
        assert_int_equal(tl_msg_text_append_raw(m, addr_text, strlen(addr_text)), TL_OK);
        tl_post_out out;
        assert_int_equal(pair_post(&net, 1, &m, &out), TL_OK);
        l = out.hdr.channel;
        wid = out.hdr.message_id;
    } else {
        l = pair_listen(&net, 1, addr_text, &wid);
    }
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_WELCOME_RESPONSE, 1, (int)st, l, (int64_t)wid);
    assert_true(m->text.len > 0); /* the WelcomeRequest itself comes back */
    pair_put(&net, 1, &m);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, l, (int64_t)wid);
    pair_expect_none(&net, 1);
    assert_false(channel_open(1, l));
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 1, l), 1);
}

static void test_engine_listener_failed_welcome_response_then_signal_closed(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    pair_fail_listen(&net, "tcp|0.0.0.0|7001", TL_STATUS_LISTEN_FAILED);
    pair_fail_listen(&net, "uds|/tmp/tl-test-31.sock", TL_STATUS_UNKNOWN_ERROR);
    expect_listen_failure("tcp|0.0.0.0|7001", TL_STATUS_LISTEN_FAILED, 0);
    expect_listen_failure("uds|/tmp/tl-test-31.sock", TL_STATUS_UNKNOWN_ERROR, 0);
    /* Malformed address: invalid_address, found by the engine (A12). */
    expect_listen_failure("~listen_on:tcp|0.0.0.0\r\n", TL_STATUS_INVALID_ADDRESS, 1);
    expect_listen_failure("x:y\r\n", TL_STATUS_INVALID_ADDRESS, 1);
    /* Address in use: the second listener fails, the first stays. */
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, "tcp|0.0.0.0|7002", &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    expect_listen_failure("tcp|0.0.0.0|7002", TL_STATUS_LISTEN_FAILED, 0);
    assert_true(channel_open(1, l));
    pair_free(&net);
}

/* ================================================= 6.9: connect failures (A10) */

static void test_engine_connect_failed_immediately_hello_response_then_signal_closed(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint64_t hid;
    uint16_t c;
    tl_message *m;
    tl_post_out out;

    /* Unparseable ~connect_to value: found at post, answered at once. */
    m = pair_get(&net, 0);
    tl_msg_set_opcode(m, TL_OP_HELLO_REQUEST);
    const char *bad = "~connect_to:tcp|127.0.0.1\r\n";
    assert_int_equal(tl_msg_text_append_raw(m, bad, strlen(bad)), TL_OK);
    assert_int_equal(pair_post(&net, 0, &m, &out), TL_OK);
    c = out.hdr.channel;
    m = pair_expect(&net, 0, TL_OP_HELLO_RESPONSE, 1, TL_STATUS_INVALID_ADDRESS, c,
                    (int64_t)out.hdr.message_id);
    assert_int_equal(m->hdr.proto, 0x14);
    pair_put(&net, 0, &m);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, c, (int64_t)out.hdr.message_id);
    pair_run(&net);
    assert_int_equal(pair_count_cmds(&net, 0, TL_CMD_CONNECT, ANY, c), 0);
    assert_int_equal(pair_count_cmds(&net, 0, TL_CMD_CLOSE, 1, c), 1);

    /* TCP port 0 cannot be connected to. */
    c = pair_connect(&net, 0, "tcp|127.0.0.1|0", &hid);
    pair_expect_put(&net, 0, TL_OP_HELLO_RESPONSE, 1, TL_STATUS_INVALID_ADDRESS, c, (int64_t)hid);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, c, (int64_t)hid);

    /* UDS path missing: the host answers uds_path_not_found, immediate. A
     * message queued behind the HelloRequest keeps its op code. */
    c = pair_connect(&net, 0, "uds|/nonexistent/tl.sock", &hid);
    uint64_t rid = pair_send(&net, 0, TL_OP_REQUEST, c, 0, "q");
    pair_run(&net);
    pair_expect_put(&net, 0, TL_OP_HELLO_RESPONSE, 1, TL_STATUS_UDS_PATH_NOT_FOUND, c, (int64_t)hid);
    m = pair_expect(&net, 0, TL_OP_REQUEST, 1, TL_STATUS_UDS_PATH_NOT_FOUND, c, (int64_t)rid);
    assert_body(m, "q");
    pair_put(&net, 0, &m);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, c, (int64_t)hid);

    /* Immediate refusal reported by the host: communication_failed. */
    net.hold_connects = 1;
    c = pair_connect(&net, 0, "tcp|127.0.0.1|7100", &hid);
    pair_run(&net);
    pair_expect_none(&net, 0);
    pair_complete_connect(&net, 0, c, TL_STATUS_COMMUNICATION_FAILED, 1);
    pair_expect_put(&net, 0, TL_OP_HELLO_RESPONSE, 1, TL_STATUS_COMMUNICATION_FAILED, c, (int64_t)hid);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, c, (int64_t)hid);
    pair_expect_none(&net, 0);
    pair_run(&net);
    assert_int_equal(stats(0).channels_now, 0);
    pair_free(&net);
}

static void test_engine_connect_failed_later_hello_request_connect_failed(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint64_t hid;
    uint16_t c = pair_connect(&net, 0, "tcp|127.0.0.1|7101", &hid);
    /* Queued while connecting, behind the HelloRequest. */
    tl_message *r = pair_msg(&net, 0, TL_OP_REQUEST, c, 0, "one");
    tl_message *rp = r;
    tl_post_out out;
    assert_int_equal(pair_post(&net, 0, &r, &out), TL_OK);
    uint64_t sid = pair_send(&net, 0, TL_OP_SIGNAL, c, 0, "two");
    pair_expect_none(&net, 0);
    pair_run(&net); /* nobody listens there: a refusal, reported later */
    tl_message *m = pair_expect(&net, 0, TL_OP_HELLO_REQUEST, 1, TL_STATUS_CONNECT_FAILED, c, (int64_t)hid);
    assert_int_equal(m->hdr.proto, 0x13);
    pair_put(&net, 0, &m);
    m = pair_expect(&net, 0, TL_OP_REQUEST, 1, TL_STATUS_CONNECT_FAILED, c, (int64_t)out.hdr.message_id);
    assert_ptr_equal(m, rp); /* the same object the app posted (6.12) */
    assert_body(m, "one");
    pair_put(&net, 0, &m);
    m = pair_expect(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CONNECT_FAILED, c, (int64_t)sid);
    assert_body(m, "two");
    pair_put(&net, 0, &m);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, c, (int64_t)hid);
    pair_expect_none(&net, 0);
    assert_int_equal(pair_count_cmds(&net, 0, TL_CMD_CONNECT, ANY, c), 1);
    pair_run(&net);
    assert_int_equal(pair_count_cmds(&net, 0, TL_CMD_CLOSE, 1, c), 1);
    pair_free(&net);
}

/* ================================================= 6.9: transport rows */

static void test_engine_peer_reset_unsent_communication_failed(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    pair_set_stalled(&net, 0, cc, 1);
    uint64_t r1 = pair_send(&net, 0, TL_OP_REQUEST, cc, 0, "r1");
    uint64_t r2 = pair_send(&net, 0, TL_OP_SIGNAL, cc, 0, "r2");
    /* The server resets the connection (local abort). */
    abort_channel(1, sc);
    tl_message *m = pair_expect(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, ANY);
    uint64_t first_at_server = m->hdr.message_id;
    pair_put(&net, 1, &m);
    pair_run(&net);
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 1, sc), 1);
    pair_expect_put(&net, 0, TL_OP_REQUEST, 1, TL_STATUS_COMMUNICATION_FAILED, cc, (int64_t)r1);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_COMMUNICATION_FAILED, cc, (int64_t)r2);
    /* The client's first received frame was the HelloResponse: the hello id. */
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, cc, (int64_t)first_at_server);
    pair_expect_none(&net, 0);
    pair_expect_none(&net, 1);
    assert_false(channel_open(0, cc));
    assert_int_equal(pair_count_cmds(&net, 0, TL_CMD_CLOSE, 1, cc), 1);
    pair_free(&net);
}

/* A raw client: a listener on node 1, a raw connection, a HelloRequest from
 * the raw end with id hid delivered; returns the connection, *sc the server
 * channel, *lch the listener. */
static pair_conn *raw_client(const char *addr, uint64_t hid, uint16_t *sc, uint16_t *lch)
{
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, addr, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    pair_conn *c = pair_raw_connect(&net, 1, l);
    char text[64];
    snprintf(text, sizeof text, "~connect_to:%s\r\n", addr);
    inject_frame(c, 0x1A2B, TL_OP_HELLO_REQUEST, 0, hid, text, NULL);
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_HELLO_REQUEST, 0, 0, c->ch[1], (int64_t)hid);
    pair_put(&net, 1, &m);
    if (sc) {
        *sc = c->ch[1];
    }
    if (lch) {
        *lch = l;
    }
    return c;
}

static void test_engine_peer_orderly_close_tcp_recv_failed(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t sc;
    pair_conn *c = raw_client(ADDR, 0x55, &sc, NULL);
    pair_set_stalled(&net, 1, sc, 1);
    uint64_t a = pair_send(&net, 1, TL_OP_HELLO_RESPONSE, sc, 0x55, NULL);
    uint64_t b = pair_send(&net, 1, TL_OP_REQUEST, sc, 0, "b");
    /* A frame fully received before the FIN is still delivered (6.7). */
    inject_frame(c, 0x1A2B, TL_OP_SIGNAL, 0, 0x56, NULL, "last words");
    pair_raw_close(&net, c, 0); /* FIN over TCP (A9) */
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_SIGNAL, 0, 0, sc, 0x56);
    assert_body(m, "last words");
    pair_put(&net, 1, &m);
    pair_expect_put(&net, 1, TL_OP_HELLO_RESPONSE, 1, TL_STATUS_RECV_FAILED, sc, (int64_t)a);
    pair_expect_put(&net, 1, TL_OP_REQUEST, 1, TL_STATUS_RECV_FAILED, sc, (int64_t)b);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, 0x55);
    pair_expect_none(&net, 1);
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 1, sc), 1);
    pair_free(&net);
}

static void test_engine_peer_orderly_close_uds_communication_failed(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t sc;
    pair_conn *c = raw_client("uds|/tmp/tl-engine-test.sock", 9, &sc, NULL);
    pair_set_stalled(&net, 1, sc, 1);
    uint64_t b = pair_send(&net, 1, TL_OP_SIGNAL, sc, 0, "b");
    pair_raw_close(&net, c, 0); /* EOF over UDS: EPOLLHUP (A9) */
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_COMMUNICATION_FAILED, sc, (int64_t)b);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, 9);
    pair_expect_none(&net, 1);
    pair_free(&net);
}

static void test_engine_write_error_unsent_send_failed(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    uint64_t hid;
    pair_handshake(&net, ADDR, &cc, &sc);
    hid = stats(0).next_message_id - 1;
    pair_set_stalled(&net, 0, cc, 1);
    uint64_t r = pair_send(&net, 0, TL_OP_REQUEST, cc, 0, "unsent");
    pair_transport_closed(&net, 0, cc, TL_STATUS_SEND_FAILED);
    tl_message *m = pair_expect(&net, 0, TL_OP_REQUEST, 1, TL_STATUS_SEND_FAILED, cc, (int64_t)r);
    assert_body(m, "unsent");
    pair_put(&net, 0, &m);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, cc, (int64_t)hid);
    pair_expect_none(&net, 0);
    pair_run(&net);
    assert_int_equal(pair_count_cmds(&net, 0, TL_CMD_CLOSE, 1, cc), 1);
    /* The server sees the reset; nothing was queued there. */
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, (int64_t)hid);
    pair_expect_none(&net, 1);
    pair_free(&net);
}

/* ================================================= 6.9 + 6.8: bye */

static void test_engine_bye_response_received_initiator_closes_with_rst(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    uint64_t hid = stats(0).next_message_id - 1;
    uint64_t bid = pair_send(&net, 0, TL_OP_BYE_REQUEST, cc, 0, NULL);
    uint64_t late = pair_send(&net, 0, TL_OP_REQUEST, cc, 0, "late"); /* never sent (6.6) */
    pair_run(&net);
    /* R: the ByeRequest is delivered; nothing else happens. */
    tl_message *m = pair_expect(&net, 1, TL_OP_BYE_REQUEST, 0, 0, sc, (int64_t)bid);
    pair_expect_none(&net, 1);
    assert_true(channel_open(1, sc));
    assert_true(channel_open(0, cc));
    /* R may still send before its ByeResponse. */
    uint64_t s1 = pair_send(&net, 1, TL_OP_SIGNAL, sc, 0, "s1");
    tl_msg_set_opcode(m, TL_OP_BYE_RESPONSE);
    assert_int_equal(pair_post(&net, 1, &m, NULL), TL_OK);
    uint64_t after = pair_send(&net, 1, TL_OP_REQUEST, sc, 0, "after"); /* R stops after ByeResponse */
    pair_run(&net);
    /* I: the Signal, the ByeResponse (origin application), its unsent
     * message with 22, then Signal 22; the socket is closed with RST. */
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 0, 0, cc, (int64_t)s1);
    pair_expect_put(&net, 0, TL_OP_BYE_RESPONSE, 0, 0, cc, (int64_t)bid);
    m = pair_expect(&net, 0, TL_OP_REQUEST, 1, TL_STATUS_CHANNEL_CLOSED, cc, (int64_t)late);
    assert_body(m, "late");
    pair_put(&net, 0, &m);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, cc, (int64_t)hid);
    pair_expect_none(&net, 0);
    assert_int_equal(pair_count_cmds(&net, 0, TL_CMD_CLOSE, 1, cc), 1);
    assert_int_equal(pair_count_cmds(&net, 0, TL_CMD_CLOSE, 0, cc), 0);
    /* R: the reset, its unsent message with the reset's reason. */
    pair_expect_put(&net, 1, TL_OP_REQUEST, 1, TL_STATUS_COMMUNICATION_FAILED, sc, (int64_t)after);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, (int64_t)hid);
    pair_expect_none(&net, 1);
    /* Wires: nothing after a bye frame. */
    tl_header h[8];
    pair_conn *conn = &net.conn[0];
    size_t k = pair_wire_frames(conn, 0, h, 8, NULL);
    assert_int_equal(k, 2);
    assert_int_equal(h[0].proto, TL_OP_HELLO_REQUEST);
    assert_int_equal(h[1].proto, TL_OP_BYE_REQUEST);
    k = pair_wire_frames(conn, 1, h, 8, NULL);
    assert_int_equal(k, 3);
    assert_int_equal(h[0].proto, TL_OP_HELLO_RESPONSE);
    assert_int_equal(h[1].proto, TL_OP_SIGNAL);
    assert_int_equal(h[2].proto, TL_OP_BYE_RESPONSE);
    assert_int_equal(h[2].channel, sc);
    assert_int_equal(tl_engine_next_deadline(E(1)), UINT64_MAX); /* no grace timer by default */
    pair_free(&net);
}

static void test_engine_bye_responder_stops_sending_after_bye_response(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t sc;
    pair_conn *c = raw_client(ADDR, 3, &sc, NULL);
    inject_frame(c, 0x1A2B, TL_OP_BYE_REQUEST, 0, 4, NULL, NULL);
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_BYE_REQUEST, 0, 0, sc, 4);
    tl_msg_set_opcode(m, TL_OP_BYE_RESPONSE);
    assert_int_equal(pair_post(&net, 1, &m, NULL), TL_OK);
    pair_run(&net);
    uint64_t x = pair_send(&net, 1, TL_OP_RESPONSE, sc, 77, "x");
    uint64_t y = pair_send(&net, 1, TL_OP_SIGNAL, sc, 0, "y");
    pair_run(&net);
    tl_header h[4];
    size_t rest;
    assert_int_equal(pair_wire_frames(c, 1, h, 4, &rest), 1);
    assert_int_equal(rest, 0);
    assert_int_equal(h[0].proto, TL_OP_BYE_RESPONSE);
    tl_io_state io;
    assert_int_equal(tl_engine_io_state(E(1), sc, &io), TL_OK);
    assert_int_equal(io.out_pending, 0);
    assert_true(io.want_read); /* receiving continues */
    tl_iov iov[4];
    assert_int_equal(tl_engine_output(E(1), sc, iov, 4), 0);
    pair_check(&net);
    /* The responder does not close; the peer still talks to it. */
    inject_frame(c, 0x1A2B, TL_OP_SIGNAL, 0, 5, NULL, "still");
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 0, 0, sc, 5);
    pair_raw_close(&net, c, 1);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_RESPONSE, 1, TL_STATUS_COMMUNICATION_FAILED, sc, (int64_t)x);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_COMMUNICATION_FAILED, sc, (int64_t)y);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, 3);
    pair_expect_none(&net, 1);
    pair_free(&net);
}

static void test_engine_bye_simultaneous_requests_hang_by_default(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    uint64_t b0 = pair_send(&net, 0, TL_OP_BYE_REQUEST, cc, 0, NULL);
    uint64_t b1 = pair_send(&net, 1, TL_OP_BYE_REQUEST, sc, 0, NULL);
    pair_run(&net);
    tl_message *m0 = pair_expect(&net, 0, TL_OP_BYE_REQUEST, 0, 0, cc, (int64_t)b1);
    tl_message *m1 = pair_expect(&net, 1, TL_OP_BYE_REQUEST, 0, 0, sc, (int64_t)b0);
    tl_msg_set_opcode(m0, TL_OP_BYE_RESPONSE);
    tl_msg_set_opcode(m1, TL_OP_BYE_RESPONSE);
    assert_int_equal(pair_post(&net, 0, &m0, NULL), TL_OK);
    assert_int_equal(pair_post(&net, 1, &m1, NULL), TL_OK);
    pair_run(&net);
    /* A4: neither ByeResponse can be sent; both channels stay. */
    pair_expect_none(&net, 0);
    pair_expect_none(&net, 1);
    assert_true(channel_open(0, cc));
    assert_true(channel_open(1, sc));
    tl_header h[4];
    assert_int_equal(wire_frames(0, cc, 1, h, 4), 2);
    assert_int_equal(h[1].proto, TL_OP_BYE_REQUEST);
    assert_int_equal(wire_frames(1, sc, 1, h, 4), 2);
    assert_int_equal(h[1].proto, TL_OP_BYE_REQUEST);
    /* Until aborted. */
    abort_channel(0, cc);
    pair_expect_put(&net, 0, TL_OP_BYE_RESPONSE, 1, TL_STATUS_CHANNEL_CLOSED, cc, (int64_t)b1);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, cc, ANY);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_BYE_RESPONSE, 1, TL_STATUS_COMMUNICATION_FAILED, sc, (int64_t)b0);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, ANY);
    pair_free(&net);
}

static void test_engine_bye_simultaneous_requests_strict_bye_completes(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.strict_bye = 1;
    pair_init(&net, 2, &o);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    uint64_t b0 = pair_send(&net, 0, TL_OP_BYE_REQUEST, cc, 0, NULL);
    uint64_t b1 = pair_send(&net, 1, TL_OP_BYE_REQUEST, sc, 0, NULL);
    pair_run(&net);
    tl_message *m0 = pair_expect(&net, 0, TL_OP_BYE_REQUEST, 0, 0, cc, (int64_t)b1);
    tl_message *m1 = pair_expect(&net, 1, TL_OP_BYE_REQUEST, 0, 0, sc, (int64_t)b0);
    tl_msg_set_opcode(m0, TL_OP_BYE_RESPONSE);
    tl_msg_set_opcode(m1, TL_OP_BYE_RESPONSE);
    assert_int_equal(pair_post(&net, 0, &m0, NULL), TL_OK);
    assert_int_equal(pair_post(&net, 1, &m1, NULL), TL_OK);
    pair_run(&net);
    pair_expect_put(&net, 0, TL_OP_BYE_RESPONSE, 0, 0, cc, (int64_t)b0);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, cc, ANY);
    pair_expect_put(&net, 1, TL_OP_BYE_RESPONSE, 0, 0, sc, (int64_t)b1);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, ANY);
    pair_expect_none(&net, 0);
    pair_expect_none(&net, 1);
    assert_int_equal(pair_count_cmds(&net, 0, TL_CMD_CLOSE, 1, cc), 1);
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 1, sc), 1);
    pair_free(&net);
}

static void test_engine_bye_strict_nothing_sent_after_bye_response(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.strict_bye = 1;
    pair_init(&net, 2, &o);
    uint16_t sc;
    pair_conn *c = raw_client(ADDR, 3, &sc, NULL);
    uint64_t own = pair_send(&net, 1, TL_OP_BYE_REQUEST, sc, 0, NULL);
    pair_run(&net);
    inject_frame(c, 0x1A2B, TL_OP_BYE_REQUEST, 0, 4, NULL, NULL);
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_BYE_REQUEST, 0, 0, sc, 4);
    tl_msg_set_opcode(m, TL_OP_BYE_RESPONSE);
    assert_int_equal(pair_post(&net, 1, &m, NULL), TL_OK);
    pair_run(&net);
    /* A second ByeResponse and a Request are not sent any more. */
    uint64_t again = pair_send(&net, 1, TL_OP_BYE_RESPONSE, sc, 4, NULL);
    pair_run(&net);
    uint64_t req = pair_send(&net, 1, TL_OP_REQUEST, sc, 0, NULL);
    pair_run(&net);
    tl_header h[8];
    assert_int_equal(pair_wire_frames(c, 1, h, 8, NULL), 2);
    assert_int_equal(h[0].proto, TL_OP_BYE_REQUEST);
    assert_int_equal(h[0].message_id, own);
    assert_int_equal(h[1].proto, TL_OP_BYE_RESPONSE);
    pair_raw_close(&net, c, 1);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_BYE_RESPONSE, 1, TL_STATUS_COMMUNICATION_FAILED, sc, (int64_t)again);
    pair_expect_put(&net, 1, TL_OP_REQUEST, 1, TL_STATUS_COMMUNICATION_FAILED, sc, (int64_t)req);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, 3);
    pair_free(&net);
}

static void test_engine_bye_grace_timer_closes_responder(void **state)
{
    (void)state;
    tl_engine_options o[2];
    memset(o, 0, sizeof o);
    o[0].seed = 1;
    o[1].seed = 2;
    o[1].bye_grace_ns = 1000;
    pair_init_each(&net, 2, o);
    pair_tick(&net, 500);
    uint16_t sc;
    pair_conn *c = raw_client(ADDR, 3, &sc, NULL);
    assert_int_equal(tl_engine_next_deadline(E(1)), UINT64_MAX);
    inject_frame(c, 0x1A2B, TL_OP_BYE_REQUEST, 0, 4, NULL, NULL);
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_BYE_REQUEST, 0, 0, sc, 4);
    tl_msg_set_opcode(m, TL_OP_BYE_RESPONSE);
    assert_int_equal(pair_post(&net, 1, &m, NULL), TL_OK);
    assert_int_equal(tl_engine_next_deadline(E(1)), UINT64_MAX); /* armed once it is sent */
    pair_run(&net);
    assert_int_equal(tl_engine_next_deadline(E(1)), 1500);
    uint64_t q = pair_send(&net, 1, TL_OP_SIGNAL, sc, 0, "q");
    pair_tick(&net, 1499);
    pair_expect_none(&net, 1);
    assert_true(channel_open(1, sc));
    pair_tick(&net, 1500);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, (int64_t)q);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, 3);
    pair_expect_none(&net, 1);
    assert_false(channel_open(1, sc));
    assert_int_equal(tl_engine_next_deadline(E(1)), UINT64_MAX);
    pair_run(&net);
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 1, sc), 1);
    pair_free(&net);
}

/* ================================================= 6.9: local abort (A2) */

/* tl_engine_output_bytes stops gathering after the frame in which the entries
 * reach max_bytes; nothing is lost or reordered by it. */
static void test_engine_output_bytes_cap_stops_after_frame_rest_follows(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    pair_set_stalled(&net, 0, cc, 1);
    uint64_t a = pair_send(&net, 0, TL_OP_SIGNAL, cc, 0, "first-body");
    uint64_t b = pair_send(&net, 0, TL_OP_SIGNAL, cc, 0, "second");
    tl_iov iov[8];
    int all = tl_engine_output(E(0), cc, iov, 8);
    assert_int_equal(all, 4); /* two frames: header and body each */
    int n = tl_engine_output_bytes(E(0), cc, iov, 8, 20);
    assert_int_equal(n, 2); /* 16 + 10 bytes: the first frame only */
    assert_int_equal(iov[0].len, TL_HEADER_SIZE);
    assert_int_equal(iov[1].len, 10);
    assert_memory_equal(iov[1].base, "first-body", 10);
    assert_int_equal(tl_engine_output_bytes(E(0), cc, iov, 8, 1), 2);  /* at least one frame */
    assert_int_equal(tl_engine_output_bytes(E(0), cc, iov, 8, 27), 4); /* 26 < 27: the next frame too */
    assert_memory_equal(iov[3].base, "second", 6);
    assert_int_equal(tl_engine_output_bytes(E(0), cc, iov, 8, 0), 0); /* nothing asked, nothing given */
    pair_set_stalled(&net, 0, cc, 0);
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_SIGNAL, 0, TL_STATUS_SUCCESS, sc, (int64_t)a);
    assert_body(m, "first-body");
    pair_put(&net, 1, &m);
    m = pair_expect(&net, 1, TL_OP_SIGNAL, 0, TL_STATUS_SUCCESS, sc, (int64_t)b);
    assert_body(m, "second");
    pair_put(&net, 1, &m);
    pair_free(&net);
}

/* Large bodies that arrive in pieces are gathered in the reader's buffer and
 * handed to the message without a second copy: each arrives whole and
 * intact, one after another, also when the pooled message had a big buffer. */
static void test_engine_large_body_in_pieces_delivered_intact(void **state)
{
    (void)state;
    static char big[3][20001];
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    pair_set_chunk(&net, PAIR_CHUNK_FIXED, 777, 0);
    for (int k = 0; k < 3; k++) {
        size_t len = k == 1 ? 5000 : 20000;
        for (size_t i = 0; i < len; i++) {
            big[k][i] = (char)('a' + (i * 7 + (size_t)k) % 26);
        }
        big[k][len] = '\0';
    }
    for (int round = 0; round < 2; round++) {
        uint64_t id[3];
        for (int k = 0; k < 3; k++) {
            id[k] = pair_send(&net, 0, TL_OP_SIGNAL, cc, 0, big[k]);
        }
        pair_run(&net);
        for (int k = 0; k < 3; k++) {
            tl_message *m = pair_expect(&net, 1, TL_OP_SIGNAL, 0, TL_STATUS_SUCCESS, sc, (int64_t)id[k]);
            assert_body(m, big[k]);
            pair_put(&net, 1, &m); /* back to the pool with its big body buffer */
        }
    }
    pair_free(&net);
}

/* A stream of large bodies arriving in pieces allocates nothing per frame
 * once warm: the reader's big buffer goes to the engine's spare between
 * frames (an idle channel keeps none) and is taken again by the next large
 * frame; the message's old body buffer takes its place. */
static size_t counted_allocs;
static void *count_alloc(void *ctx, size_t size)
{
    (void)ctx;
    counted_allocs++;
    return malloc(size);
}
static void *count_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    counted_allocs++;
    return realloc(ptr, size);
}
static void count_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

static void test_engine_large_body_stream_allocates_nothing_per_frame_once_warm(void **state)
{
    (void)state;
    static const tl_allocator counting = {count_alloc, count_realloc, count_free, NULL};
    static char big[30001];
    tl_engine_options opt;
    memset(&opt, 0, sizeof opt);
    opt.allocator = &counting;
    pair_init(&net, 2, &opt);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    pair_set_chunk(&net, PAIR_CHUNK_FIXED, 4096, 0);
    memset(big, 'z', 30000);
    size_t warm = 0;
    for (int round = 0; round < 6; round++) {
        if (round == 2) {
            warm = counted_allocs;
        }
        uint64_t id = pair_send(&net, 0, TL_OP_SIGNAL, cc, 0, big);
        pair_run(&net);
        tl_message *m = pair_expect(&net, 1, TL_OP_SIGNAL, 0, TL_STATUS_SUCCESS, sc, (int64_t)id);
        assert_body(m, big);
        pair_put(&net, 1, &m);
    }
    assert_int_equal(counted_allocs, warm); /* rounds 2..5: no allocation on either side */
    pair_free(&net);
}

static void test_engine_local_abort_bye_signal_returned_nothing_transmitted(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    uint64_t hid = stats(0).next_message_id - 1;
    pair_conn *conn = pair_find(&net, 0, cc, NULL);
    size_t before = conn->wire[0].len;
    pair_set_stalled(&net, 0, cc, 1);
    uint64_t r1 = pair_send(&net, 0, TL_OP_REQUEST, cc, 0, "r1");
    uint64_t r2 = pair_send(&net, 0, TL_OP_BYE_REQUEST, cc, 0, NULL);
    /* A2: op code 7 without bit A is an abort too (proto 0x07 as posted). */
    tl_message *m = pair_msg(&net, 0, TL_OP_BYE_SIGNAL, cc, 0, "bye");
    assert_int_equal(m->hdr.proto, 0x07);
    tl_message *mp = m;
    tl_post_out out;
    assert_int_equal(pair_post(&net, 0, &m, &out), TL_OK);
    assert_null(m);
    m = pair_expect(&net, 0, TL_OP_BYE_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, cc, (int64_t)out.hdr.message_id);
    assert_ptr_equal(m, mp);
    assert_int_equal(m->hdr.proto, 0x57);
    assert_body(m, "bye");
    pair_put(&net, 0, &m);
    pair_expect_put(&net, 0, TL_OP_REQUEST, 1, TL_STATUS_CHANNEL_CLOSED, cc, (int64_t)r1);
    pair_expect_put(&net, 0, TL_OP_BYE_REQUEST, 1, TL_STATUS_CHANNEL_CLOSED, cc, (int64_t)r2);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, cc, (int64_t)hid);
    pair_expect_none(&net, 0);
    pair_run(&net);
    assert_int_equal(conn->wire[0].len, before); /* nothing transmitted */
    assert_int_equal(pair_count_cmds(&net, 0, TL_CMD_CLOSE, 1, cc), 1);
    /* The other side: reset. */
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, (int64_t)hid);
    pair_expect_none(&net, 1);
    /* A partially written frame is cut off: the abort returns it too. */
    pair_handshake(&net, "tcp|127.0.0.1|7200", &cc, &sc);
    hid = stats(0).next_message_id - 1;
    pair_set_chunk(&net, PAIR_CHUNK_FIXED, 5, 0);
    pair_set_stalled(&net, 0, cc, 1);
    uint64_t big = pair_send(&net, 0, TL_OP_REQUEST, cc, 0, "0123456789abcdef0123");
    tl_iov iov[4];
    assert_true(tl_engine_output(E(0), cc, iov, 4) > 0);
    assert_int_equal(tl_engine_output_done(E(0), cc, 20), TL_OK); /* header + 4 body bytes */
    pair_check(&net);
    abort_channel(0, cc);
    m = pair_expect(&net, 0, TL_OP_REQUEST, 1, TL_STATUS_CHANNEL_CLOSED, cc, (int64_t)big);
    assert_body(m, "0123456789abcdef0123");
    pair_put(&net, 0, &m);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, cc, (int64_t)hid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, (int64_t)hid);
    pair_free(&net);
}

/* ================================================= 6.9: pool empty (A20) */

static void test_engine_pool_empty_one_signal_per_episode(void **state)
{
    (void)state;
    tl_engine_options o[2];
    memset(o, 0, sizeof o);
    o[0].seed = 1;
    o[1].seed = 2;
    o[1].pool_initial = 2;
    o[1].pool_max = 2;
    pair_init_each(&net, 2, o);
    uint16_t sc;
    pair_conn *c = raw_client(ADDR, 1, &sc, NULL);
    assert_int_equal(stats(1).pool_now, 2);
    /* Six Requests in one go; the app keeps what it receives. */
    uint8_t buf[6 * 32];
    size_t len = 0;
    for (int i = 0; i < 6; i++) {
        char body[8];
        snprintf(body, sizeof body, "r%d", i);
        len += mkframe(buf + len, sizeof buf - len, 0x1A2B, TL_OP_REQUEST, 0, (uint64_t)(10 + i), NULL, body);
    }
    pair_inject(c, 1, buf, len);
    pair_run(&net);
    tl_message *held[8];
    held[0] = pair_expect(&net, 1, TL_OP_REQUEST, 0, 0, sc, 10);
    held[1] = pair_expect(&net, 1, TL_OP_REQUEST, 0, 0, sc, 11);
    tl_message *pe = pair_expect(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_POOL_EMPTY, sc, 0);
    assert_int_equal(pe->hdr.proto, 0x12);
    pair_expect_none(&net, 1);
    assert_int_equal(stats(1).pool_empty_episodes, 1);
    tl_io_state io;
    assert_int_equal(tl_engine_io_state(E(1), sc, &io), TL_OK);
    assert_false(io.want_read);
    /* A host that offers bytes anyway: nothing consumed, no second Signal. */
    size_t used = 99;
    assert_int_equal(
        tl_engine_input(E(1), sc, c->pipe[1].data + c->pipe_off[1], c->pipe[1].len - c->pipe_off[1], &used),
        TL_OK);
    pair_check(&net);
    assert_int_equal(used, 0);
    for (int i = 0; i < 5; i++) {
        pair_run(&net);
    }
    pair_expect_none(&net, 1);
    assert_int_equal(stats(1).pool_empty_episodes, 1);
    /* Put one message back: reading resumes, one frame, then a new episode. */
    pair_put(&net, 1, &pe);
    assert_int_equal(tl_engine_io_state(E(1), sc, &io), TL_OK);
    assert_true(io.want_read);
    pair_run(&net);
    held[2] = pair_expect(&net, 1, TL_OP_REQUEST, 0, 0, sc, 12);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_POOL_EMPTY, sc, 0);
    /* That put (pool 0 -> 1) resumes reading again: frame 13, episode 3. */
    pair_run(&net);
    held[3] = pair_expect(&net, 1, TL_OP_REQUEST, 0, 0, sc, 13);
    pe = pair_expect(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_POOL_EMPTY, sc, 0);
    pair_expect_none(&net, 1);
    assert_int_equal(stats(1).pool_empty_episodes, 3);
    /* Everything back: the rest arrives, no further pool_empty. */
    pair_put(&net, 1, &pe);
    for (int i = 0; i < 4; i++) {
        pair_put(&net, 1, &held[i]);
    }
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_REQUEST, 0, 0, sc, 14);
    pair_expect_put(&net, 1, TL_OP_REQUEST, 0, 0, sc, 15);
    pair_expect_none(&net, 1);
    assert_int_equal(stats(1).pool_empty_episodes, 3);
    assert_int_equal(c->pipe[1].len - c->pipe_off[1], 0);
    pair_free(&net);
}

static void test_engine_pool_empty_each_starving_channel_signalled(void **state)
{
    (void)state;
    tl_engine_options o[2];
    memset(o, 0, sizeof o);
    o[0].seed = 1;
    o[1].seed = 2;
    o[1].pool_initial = 1;
    o[1].pool_max = 1;
    pair_init_each(&net, 2, o);
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    pair_conn *a = pair_raw_connect(&net, 1, l);
    pair_conn *b = pair_raw_connect(&net, 1, l);
    inject_frame(a, 1, TL_OP_REQUEST, 0, 1, NULL, "a1");
    inject_frame(a, 1, TL_OP_REQUEST, 0, 2, NULL, "a2");
    inject_frame(b, 1, TL_OP_REQUEST, 0, 3, NULL, "b1");
    pair_run(&net);
    tl_message *a1 = pair_expect(&net, 1, TL_OP_REQUEST, 0, 0, a->ch[1], 1);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_POOL_EMPTY, a->ch[1], 0);
    tl_message *pb = pair_expect(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_POOL_EMPTY, b->ch[1], 0);
    pair_expect_none(&net, 1);
    assert_int_equal(stats(1).pool_empty_episodes, 2);
    /* That put (pool 0 -> 1) woke both; a got the message and reads a2, b
     * lost the race: still the same episode for b, no second Signal. */
    pair_run(&net);
    tl_message *a2 = pair_expect(&net, 1, TL_OP_REQUEST, 0, 0, a->ch[1], 2);
    pair_expect_none(&net, 1);
    assert_int_equal(stats(1).pool_empty_episodes, 2);
    tl_io_state io;
    assert_int_equal(tl_engine_io_state(E(1), b->ch[1], &io), TL_OK);
    assert_false(io.want_read);
    pair_put(&net, 1, &pb);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_REQUEST, 0, 0, b->ch[1], 3);
    pair_expect_none(&net, 1);
    pair_put(&net, 1, &a1);
    pair_put(&net, 1, &a2);
    assert_int_equal(stats(1).pool_empty_episodes, 2);
    pair_free(&net);
}

/* ================================================= 6.9 / 6.11: updateReceiver */

static void test_engine_update_receiver_null_signal_receiver_update(void **state)
{
    (void)state;
    pair_init(&net, 1, NULL);
    tl_message *none = NULL;
    assert_int_equal(tl_engine_update_receiver(E(0), G(0), NULL), TL_OK);
    assert_int_equal(tl_engine_update_receiver(E(0), G(0), &none), TL_OK);
    pair_check(&net);
    for (int i = 0; i < 2; i++) {
        tl_message *m = pair_expect(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_RECEIVER_UPDATE, 0, 0);
        assert_int_equal(m->hdr.proto, 0x12);
        pair_put(&net, 0, &m);
    }
    assert_int_equal(tl_engine_update_receiver(E(0), 99, NULL), TL_E_NOT_FOUND);
    pair_free(&net);
}

static void test_engine_update_receiver_msg_origin_application_status_21(void **state)
{
    (void)state;
    pair_init(&net, 1, NULL);
    tl_message *m = pair_msg(&net, 0, TL_OP_RESPONSE, 4321, 77, "payload");
    m->hdr.proto |= TL_PROTO_ORIGIN | TL_PROTO_MORE;
    m->hdr.status = 9;
    tl_message *mp = m;
    assert_int_equal(tl_engine_update_receiver(E(0), G(0), &m), TL_OK);
    pair_check(&net);
    assert_null(m);
    m = pair_expect(&net, 0, TL_OP_RESPONSE, 0, TL_STATUS_RECEIVER_UPDATE, 4321, 77);
    assert_ptr_equal(m, mp);
    assert_int_equal(m->hdr.proto, TL_OP_RESPONSE | TL_PROTO_MORE); /* other fields untouched */
    assert_body(m, "payload");
    pair_put(&net, 0, &m);
    pair_free(&net);
}

/* ================================================= 6.9: post rejections */

static void test_engine_post_closed_channel_rejected_invalid_channel_number(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    abort_channel(0, cc);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, cc, ANY);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, ANY);
    /* A6: every op code to the closed number is refused with status 10. */
    const unsigned ops[] = {TL_OP_REQUEST,     TL_OP_RESPONSE,     TL_OP_SIGNAL,    TL_OP_HELLO_RESPONSE,
                            TL_OP_BYE_REQUEST, TL_OP_BYE_RESPONSE, TL_OP_BYE_SIGNAL};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        tl_message *m = pair_msg(&net, 0, ops[i], cc, 5, "x");
        tl_post_out out;
        assert_int_equal(pair_post(&net, 0, &m, &out), TL_E_REJECTED);
        assert_non_null(m);
        assert_int_equal(out.status, TL_STATUS_INVALID_CHANNEL_NUMBER);
        assert_int_equal(m->hdr.status, TL_STATUS_INVALID_CHANNEL_NUMBER);
        pair_put(&net, 0, &m);
    }
    /* 65535 and never-used numbers too. */
    tl_message *m = pair_msg(&net, 1, TL_OP_SIGNAL, 65535, 0, NULL);
    tl_post_out out;
    assert_int_equal(pair_post(&net, 1, &m, &out), TL_E_REJECTED);
    assert_int_equal(out.status, TL_STATUS_INVALID_CHANNEL_NUMBER);
    pair_put(&net, 1, &m);
    pair_expect_none(&net, 0);
    pair_expect_none(&net, 1);
    pair_free(&net);
}

static void test_engine_post_regular_to_listener_not_allowed(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    /* A15: regular, hello-response and bye-request/response frames. */
    const unsigned ops[] = {TL_OP_REQUEST,        TL_OP_RESPONSE,    TL_OP_SIGNAL,
                            TL_OP_HELLO_RESPONSE, TL_OP_BYE_REQUEST, TL_OP_BYE_RESPONSE};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        tl_message *m = pair_msg(&net, 1, ops[i], l, 5, "x");
        tl_post_out out;
        assert_int_equal(pair_post(&net, 1, &m, &out), TL_E_REJECTED);
        assert_non_null(m);
        assert_int_equal(out.status, TL_STATUS_NOT_ALLOWED);
        assert_int_equal(m->hdr.status, TL_STATUS_NOT_ALLOWED);
        pair_put(&net, 1, &m);
    }
    assert_true(channel_open(1, l));
    pair_expect_none(&net, 1);
    /* ByeSignal closes a listener: the final Signal carries the Welcome id. */
    abort_channel(1, l);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, l, (int64_t)wid);
    pair_expect_none(&net, 1);
    pair_run(&net);
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 1, l), 1);
    for (size_t i = 0; i < net.nlog; i++) {
        if (net.log[i].cmd.kind == TL_CMD_CLOSE && net.log[i].cmd.channel == l) {
            assert_true(net.log[i].cmd.listener);
        }
    }
    /* Gone: a client now gets a refusal. */
    uint64_t hid;
    uint16_t c = pair_connect(&net, 0, ADDR, &hid);
    pair_run(&net);
    pair_expect_put(&net, 0, TL_OP_HELLO_REQUEST, 1, TL_STATUS_CONNECT_FAILED, c, (int64_t)hid);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, c, (int64_t)hid);
    pair_free(&net);
}

static void test_engine_post_welcome_response_not_allowed(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    uint16_t chans[] = {cc, 0, 1234};
    for (size_t i = 0; i < 3; i++) {
        tl_message *m = pair_msg(&net, 0, TL_OP_WELCOME_RESPONSE, chans[i], 8, NULL);
        tl_post_out out;
        assert_int_equal(pair_post(&net, 0, &m, &out), TL_E_REJECTED);
        assert_int_equal(out.status, TL_STATUS_NOT_ALLOWED); /* A16 */
        assert_int_equal(m->hdr.status, TL_STATUS_NOT_ALLOWED);
        pair_put(&net, 0, &m);
    }
    pair_run(&net);
    pair_expect_none(&net, 0);
    pair_expect_none(&net, 1);
    tl_header h[4];
    assert_int_equal(wire_frames(0, cc, 1, h, 4), 1); /* only the HelloRequest */
    pair_free(&net);
}

static void test_engine_post_hello_welcome_nonzero_channel_invalid_channel_number(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    const unsigned ops[] = {TL_OP_HELLO_REQUEST, TL_OP_WELCOME_REQUEST};
    const char *addrs[] = {"tcp|127.0.0.1|7099", "tcp|0.0.0.0|7300"};
    const uint16_t chans[] = {cc, 4242, 65535};
    for (size_t i = 0; i < 2; i++) {
        for (size_t k = 0; k < 3; k++) {
            tl_message *m = pair_get(&net, 0);
            assert_int_equal(tl_msg_set_address(m, ops[i], addrs[i]), TL_OK);
            m->hdr.channel = chans[k];
            tl_post_out out;
            assert_int_equal(pair_post(&net, 0, &m, &out), TL_E_REJECTED); /* A13 */
            assert_int_equal(out.status, TL_STATUS_INVALID_CHANNEL_NUMBER);
            assert_int_equal(m->hdr.status, TL_STATUS_INVALID_CHANNEL_NUMBER);
            pair_put(&net, 0, &m);
        }
    }
    pair_run(&net);
    assert_true(channel_open(0, cc)); /* the existing channel is not touched */
    assert_int_equal(stats(0).channels_now, 1);
    pair_expect_none(&net, 0);
    pair_free(&net);
}

/* ================================================= 6.9 / 6.13: group destroy */

static void test_engine_group_destroyed_no_notifications_rst(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    uint64_t hid = stats(0).next_message_id - 1;
    uint16_t lst[4];
    assert_int_equal(tl_engine_channels(E(1), lst, 4), 2);
    uint16_t l = lst[0] == sc ? lst[1] : lst[0];
    /* Something queued, something undelivered. */
    pair_set_stalled(&net, 1, sc, 1);
    pair_send(&net, 1, TL_OP_REQUEST, sc, 0, "queued");
    pair_send(&net, 0, TL_OP_SIGNAL, cc, 0, "undelivered");
    pair_run(&net);
    assert_int_equal(pair_pending(&net, 1), 1);
    size_t closes = pair_count_cmds(&net, 1, TL_CMD_CLOSE, ANY, 0);
    assert_int_equal(tl_engine_group_destroy(E(1), G(1)), TL_OK);
    pair_check(&net);
    assert_int_equal(tl_engine_pending(E(1), G(1)), 0);
    tl_message *m = NULL;
    assert_int_equal(tl_engine_receive(E(1), G(1), &m), TL_E_NOT_FOUND);
    tl_engine_stats st = stats(1);
    assert_int_equal(st.channels_now, 0);
    assert_int_equal(st.messages_live, st.pool_now); /* queued and undelivered went back */
    pair_run(&net);
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 1, 0), closes + 2);
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 1, sc), 1);
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 1, l), 1);
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 0, 0), 0);
    assert_null(pair_find(&net, 0, cc, NULL)); /* the client end is closed too by now */
    /* The client sees the reset. */
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, cc, (int64_t)hid);
    pair_expect_none(&net, 0);
    /* The group is gone for every call. */
    m = pair_msg(&net, 1, TL_OP_SIGNAL, sc, 0, NULL);
    tl_post_out out;
    assert_int_equal(tl_engine_post(E(1), G(1), &m, &out), TL_E_NOT_FOUND);
    pair_put(&net, 1, &m);
    assert_int_equal(tl_engine_group_destroy(E(1), G(1)), TL_E_NOT_FOUND);
    assert_int_equal(tl_engine_update_receiver(E(1), G(1), NULL), TL_E_NOT_FOUND);
    pair_free(&net);
}

static void test_engine_group_destroyed_wire_has_no_bye(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    pair_conn *conn = pair_find(&net, 0, cc, NULL);
    assert_int_equal(tl_engine_group_destroy(E(0), G(0)), TL_OK);
    pair_check(&net);
    pair_run(&net);
    tl_header h[4];
    assert_int_equal(pair_wire_frames(conn, 0, h, 4, NULL), 1);
    assert_int_equal(pair_wire_frames(conn, 1, h, 4, NULL), 1);
    assert_int_equal(conn->closed_reset[0], 1);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, ANY);
    pair_free(&net);
}

/* ================================================= 6.9: final Signal id */

static void test_engine_final_signal_client_hello_id_until_received(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint64_t wid, hid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    /* Connected, nothing received: the HelloRequest's id. */
    uint16_t c = pair_connect(&net, 0, ADDR, &hid);
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_HELLO_REQUEST, 0, 0, ANY, (int64_t)hid);
    uint16_t s = m->hdr.channel;
    pair_put(&net, 1, &m);
    abort_channel(1, s);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, s, (int64_t)hid);
    pair_run(&net);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, c, (int64_t)hid);
    /* The server's first frame decides: a Signal with id 777 before anything. */
    c = pair_connect(&net, 0, ADDR, &hid);
    pair_run(&net);
    m = pair_expect(&net, 1, TL_OP_HELLO_REQUEST, 0, 0, ANY, (int64_t)hid);
    s = m->hdr.channel;
    pair_put(&net, 1, &m);
    pair_send(&net, 1, TL_OP_SIGNAL, s, 777, NULL);
    pair_send(&net, 1, TL_OP_HELLO_RESPONSE, s, hid, NULL);
    pair_run(&net);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 0, 0, c, 777);
    pair_expect_put(&net, 0, TL_OP_HELLO_RESPONSE, 0, 0, c, (int64_t)hid);
    abort_channel(0, c);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, c, 777);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, s, (int64_t)hid);
    pair_free(&net);
}

static void test_engine_final_signal_server_zero_until_first_frame(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    pair_conn *c = pair_raw_connect(&net, 1, l);
    uint16_t s = c->ch[1];
    pair_run(&net);
    pair_expect_none(&net, 1); /* accepts are silent (6.3) */
    pair_raw_close(&net, c, 1);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, s, 0);
    /* A partial first frame does not count either. */
    c = pair_raw_connect(&net, 1, l);
    s = c->ch[1];
    uint8_t f[64];
    size_t n = mkframe(f, sizeof f, 1, TL_OP_REQUEST, 0, 99, NULL, "abc");
    pair_inject(c, 1, f, n - 1);
    pair_run(&net);
    pair_raw_close(&net, c, 1);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, s, 0);
    /* The first frame (not a HelloRequest) decides, later ones do not. */
    c = pair_raw_connect(&net, 1, l);
    s = c->ch[1];
    inject_frame(c, 1, TL_OP_REQUEST, 0, 99, NULL, "abc");
    inject_frame(c, 1, TL_OP_HELLO_REQUEST, 0, 100, "~connect_to:tcp|127.0.0.1|7099\r\n", NULL);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_REQUEST, 0, 0, s, 99);
    pair_expect_put(&net, 1, TL_OP_HELLO_REQUEST, 0, 0, s, 100);
    pair_raw_close(&net, c, 1);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, s, 99);
    pair_expect_none(&net, 1);
    pair_free(&net);
}

static void test_engine_final_signal_listener_welcome_id(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    /* Connections through it do not change it. */
    uint16_t cc, sc;
    uint64_t hid;
    cc = pair_connect(&net, 0, ADDR, &hid);
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_HELLO_REQUEST, 0, 0, ANY, (int64_t)hid);
    sc = m->hdr.channel;
    pair_put(&net, 1, &m);
    abort_channel(1, l);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, l, (int64_t)wid);
    pair_expect_none(&net, 1);
    assert_true(channel_open(1, sc)); /* accepted channels outlive their listener */
    assert_true(channel_open(0, cc));
    pair_free(&net);
}

/* ================================================= 6.5: server side */

static void test_engine_server_first_frame_channel_rewritten_rest_unchanged(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    pair_conn *c = pair_raw_connect(&net, 1, l);
    const char *text = "~connect_to:tcp|127.0.0.1|7099\r\nX-a: b\r\n";
    /* more bit and a status byte: delivered as received (A7: status/more kept). */
    inject_frame(c, 0x1A2B, TL_OP_HELLO_REQUEST | TL_PROTO_MORE, 0x2A, 0x0102030405060708ull, text, "body!");
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_HELLO_REQUEST, 0, 0x2A, c->ch[1], 0x0102030405060708ll);
    assert_int_not_equal(m->hdr.channel, 0x1A2B);
    assert_int_equal(m->hdr.proto, 0x23);
    assert_int_equal(m->hdr.thl, strlen(text));
    assert_int_equal(m->hdr.bl, 5);
    assert_int_equal(m->text.len, strlen(text));
    assert_memory_equal(m->text.data, text, strlen(text));
    assert_body(m, "body!");
    assert_int_equal(tl_engine_channel_group(E(1), m->hdr.channel), G(1));
    /* Accept: a HelloResponse reusing it echoes id, headers and body. */
    tl_msg_set_opcode(m, TL_OP_HELLO_RESPONSE);
    m->hdr.proto &= (uint8_t)~TL_PROTO_MORE;
    tl_post_out out;
    assert_int_equal(pair_post(&net, 1, &m, &out), TL_OK);
    pair_run(&net);
    tl_header h[2];
    assert_int_equal(pair_wire_frames(c, 1, h, 2, NULL), 1);
    assert_int_equal(h[0].channel, c->ch[1]);
    assert_int_equal(h[0].proto, 0x04);
    assert_int_equal(h[0].status, 0);
    assert_int_equal(h[0].message_id, 0x0102030405060708ull);
    assert_int_equal(h[0].thl, strlen(text));
    assert_int_equal(h[0].bl, 5);
    assert_int_equal(c->wire[1].len, 16 + strlen(text) + 5);
    assert_memory_equal(c->wire[1].data + 16, text, strlen(text));
    assert_memory_equal(c->wire[1].data + 16 + strlen(text), "body!", 5);
    pair_free(&net);
}

static void test_engine_server_hello_response_matches_golden_v02(void **state)
{
    (void)state;
    /* V01 in, V02 out (with the channel numbers of this run). */
    pair_init(&net, 2, NULL);
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    pair_conn *c = pair_raw_connect(&net, 1, l);
    static const uint8_t v01[] = {0x1a, 0x2b, 0x03, 0x00, 0,   0,   0,   0,   0,   0,   0,    1,
                                  0x00, 0x20, 0x00, 0x00, '~', 'c', 'o', 'n', 'n', 'e', 'c',  't',
                                  '_',  't',  'o',  ':',  't', 'c', 'p', '|', '1', '2', '7',  '.',
                                  '0',  '.',  '0',  '.',  '1', '|', '7', '0', '9', '9', '\r', '\n'};
    pair_inject(c, 1, v01, sizeof v01);
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_HELLO_REQUEST, 0, 0, c->ch[1], 1);
    tl_msg_set_opcode(m, TL_OP_HELLO_RESPONSE);
    assert_int_equal(pair_post(&net, 1, &m, NULL), TL_OK);
    pair_run(&net);
    uint8_t v02[sizeof v01];
    memcpy(v02, v01, sizeof v01);
    v02[0] = (uint8_t)(c->ch[1] >> 8);
    v02[1] = (uint8_t)c->ch[1];
    v02[2] = 0x04;
    assert_int_equal(c->wire[1].len, sizeof v02);
    assert_memory_equal(c->wire[1].data, v02, sizeof v02);
    pair_free(&net);
}

static void test_engine_frames_before_hello_response_sent_after_hello_request(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint64_t wid, hid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    net.hold_connects = 1;
    uint16_t c = pair_connect(&net, 0, ADDR, &hid);
    uint64_t r1 = pair_send(&net, 0, TL_OP_REQUEST, c, 0, "r1");
    pair_run(&net);
    uint64_t r2 = pair_send(&net, 0, TL_OP_SIGNAL, c, 0, "r2");
    tl_io_state io;
    assert_int_equal(tl_engine_io_state(E(0), c, &io), TL_OK);
    assert_true(io.connecting);
    assert_int_equal(io.out_pending, 0);
    assert_false(io.want_read);
    pair_complete_connect(&net, 0, c, TL_STATUS_SUCCESS, 0);
    assert_int_equal(tl_engine_io_state(E(0), c, &io), TL_OK);
    assert_false(io.connecting);
    assert_true(io.want_read);
    assert_true(io.out_pending > 16 * 3);
    pair_run(&net);
    /* A14: no gating; the server gets all three before it answers. */
    tl_message *m = pair_expect(&net, 1, TL_OP_HELLO_REQUEST, 0, 0, ANY, (int64_t)hid);
    uint16_t s = m->hdr.channel;
    pair_expect_put(&net, 1, TL_OP_REQUEST, 0, 0, s, (int64_t)r1);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 0, 0, s, (int64_t)r2);
    tl_header h[4];
    assert_int_equal(wire_frames(0, c, 1, h, 4), 3);
    assert_int_equal(h[0].proto, TL_OP_HELLO_REQUEST);
    assert_int_equal(h[0].channel, c);
    assert_int_equal(h[1].message_id, r1);
    assert_int_equal(h[2].message_id, r2);
    /* The server may talk first too; the client counts it (A14 diagnostic). */
    assert_int_equal(stats(0).data_before_hello_response, 0);
    pair_send(&net, 1, TL_OP_SIGNAL, s, 500, NULL);
    pair_send(&net, 1, TL_OP_RESPONSE, s, r1, NULL);
    tl_msg_set_opcode(m, TL_OP_HELLO_RESPONSE);
    assert_int_equal(pair_post(&net, 1, &m, NULL), TL_OK);
    pair_send(&net, 1, TL_OP_REQUEST, s, 501, NULL);
    pair_run(&net);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 0, 0, c, 500);
    pair_expect_put(&net, 0, TL_OP_RESPONSE, 0, 0, c, (int64_t)r1);
    pair_expect_put(&net, 0, TL_OP_HELLO_RESPONSE, 0, 0, c, (int64_t)hid);
    pair_expect_put(&net, 0, TL_OP_REQUEST, 0, 0, c, 501);
    assert_int_equal(stats(0).data_before_hello_response, 2);
    assert_int_equal(stats(1).data_before_hello_response, 0);
    pair_free(&net);
}

/* ================================================= A21: connect timeout */

static void test_engine_connect_timeout_connect_failed_shape(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.connect_timeout_ns = 5000;
    pair_init(&net, 2, &o);
    net.hold_connects = 1;
    pair_tick(&net, 1000);
    assert_int_equal(tl_engine_next_deadline(E(0)), UINT64_MAX);
    uint64_t hid;
    uint16_t c = pair_connect(&net, 0, ADDR, &hid);
    uint64_t r = pair_send(&net, 0, TL_OP_REQUEST, c, 0, NULL);
    pair_run(&net);
    assert_int_equal(tl_engine_next_deadline(E(0)), 6000);
    pair_tick(&net, 5999);
    pair_expect_none(&net, 0);
    pair_tick(&net, 6000);
    pair_expect_put(&net, 0, TL_OP_HELLO_REQUEST, 1, TL_STATUS_CONNECT_FAILED, c, (int64_t)hid);
    pair_expect_put(&net, 0, TL_OP_REQUEST, 1, TL_STATUS_CONNECT_FAILED, c, (int64_t)r);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, c, (int64_t)hid);
    pair_expect_none(&net, 0);
    assert_int_equal(tl_engine_next_deadline(E(0)), UINT64_MAX);
    pair_run(&net);
    assert_int_equal(pair_count_cmds(&net, 0, TL_CMD_CLOSE, 1, c), 1);
    /* A late connect result for it is refused. */
    assert_int_equal(tl_engine_connect_result(E(0), c, TL_STATUS_SUCCESS, 0), TL_E_STATE);
    pair_check(&net);
    /* Connected in time: the timer is cancelled. */
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    c = pair_connect(&net, 0, ADDR, &hid);
    pair_run(&net);
    assert_int_equal(tl_engine_next_deadline(E(0)), 11000);
    pair_complete_connect(&net, 0, c, TL_STATUS_SUCCESS, 0);
    assert_int_equal(tl_engine_next_deadline(E(0)), UINT64_MAX);
    pair_run(&net);
    pair_tick(&net, 20000);
    assert_true(channel_open(0, c));
    pair_expect_put(&net, 1, TL_OP_HELLO_REQUEST, 0, 0, ANY, (int64_t)hid);
    pair_expect_none(&net, 0);
    /* Two pending timers: next_deadline is the earliest. */
    c = pair_connect(&net, 0, "tcp|127.0.0.1|1", NULL);
    pair_tick(&net, 21000);
    uint16_t c2 = pair_connect(&net, 0, "tcp|127.0.0.1|2", NULL);
    assert_int_equal(tl_engine_next_deadline(E(0)), 25000);
    pair_tick(&net, 25000);
    assert_false(channel_open(0, c));
    assert_true(channel_open(0, c2));
    assert_int_equal(tl_engine_next_deadline(E(0)), 26000);
    pair_free(&net);
}

/* ================================================= A7: receive policy */

static void test_engine_receive_invalid_opcode_tears_down_invalid_op_code(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    for (unsigned op = 10; op <= 15; op++) {
        pair_conn *c = pair_raw_connect(&net, 1, l);
        uint16_t s = c->ch[1];
        inject_frame(c, 7, TL_OP_HELLO_REQUEST, 0, 40 + op, "~connect_to:tcp|127.0.0.1|7099\r\n", NULL);
        pair_run(&net);
        pair_expect_put(&net, 1, TL_OP_HELLO_REQUEST, 0, 0, s, (int64_t)(40 + op));
        pair_set_stalled(&net, 1, s, 1);
        uint64_t q = pair_send(&net, 1, TL_OP_REQUEST, s, 0, "queued");
        /* The bad frame, and a good one behind it in the same chunk. */
        uint8_t buf[128];
        size_t n = mkframe(buf, sizeof buf, 7, (uint8_t)op, 0, 1, NULL, "bad");
        n += mkframe(buf + n, sizeof buf - n, 7, TL_OP_SIGNAL, 0, 2, NULL, "good");
        pair_inject(c, 1, buf, n);
        pair_run(&net);
        pair_expect_put(&net, 1, TL_OP_REQUEST, 1, TL_STATUS_INVALID_OP_CODE, s, (int64_t)q);
        pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, s, (int64_t)(40 + op));
        pair_expect_none(&net, 1);
        assert_false(channel_open(1, s));
        assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 1, s), 1);
        assert_int_equal(stats(1).invalid_opcodes, op - 9);
    }
    /* Split byte by byte: the same outcome as soon as the proto byte is in. */
    pair_set_chunk(&net, PAIR_CHUNK_ONE, 1, 0);
    pair_conn *c = pair_raw_connect(&net, 1, l);
    uint16_t s = c->ch[1];
    inject_frame(c, 7, 0x1B, 0, 1, NULL, NULL);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, s, 0);
    pair_expect_none(&net, 1);
    pair_free(&net);
}

static void test_engine_receive_origin_and_internal_bits_cleared_counted(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t s;
    pair_conn *c = raw_client(ADDR, 1, &s, NULL);
    static const struct {
        uint8_t proto, status, want_proto;
    } cases[] = {
        {0x12, 0x13, 0x02}, /* forged pool_empty notification */
        {0x12, 0x16, 0x02}, /* forged channel_closed */
        {0x40, 0x00, 0x00}, /* bit A on a Request */
        {0x82, 0x00, 0x02}, /* bit B on a Signal */
        {0xF1, 0xFF, 0x21}, /* every flag on a Response; status 255 kept */
        {0x20, 0x07, 0x20}, /* more and a status: unchanged */
        {0x05, 0x15, 0x05}, /* ByeRequest with receiver_update status */
    };
    const size_t N = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < N; i++) {
        inject_frame(c, 1, cases[i].proto, cases[i].status, 100 + i, NULL, "b");
    }
    pair_run(&net);
    for (size_t i = 0; i < N; i++) {
        tl_message *m =
            pair_expect(&net, 1, cases[i].want_proto & 0x0F, 0, cases[i].status, s, (int64_t)(100 + i));
        assert_int_equal(m->hdr.proto, cases[i].want_proto);
        assert_body(m, "b");
        pair_put(&net, 1, &m);
    }
    pair_expect_none(&net, 1);
    tl_engine_stats st = stats(1);
    assert_int_equal(st.origin_bits_cleared, 3);
    assert_int_equal(st.internal_bits_cleared, 3);
    assert_int_equal(st.invalid_opcodes, 0);
    assert_int_equal(st.frames_in, 1 + N);
    assert_true(channel_open(1, s)); /* never closed for content */
    pair_free(&net);
}

static void test_engine_receive_bye_signal_frame_delivered_counted(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t s;
    pair_conn *c = raw_client(ADDR, 1, &s, NULL);
    inject_frame(c, 1, 0x07, 0, 9, NULL, NULL);
    inject_frame(c, 1, 0x47, 0, 10, NULL, NULL);
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_BYE_SIGNAL, 0, 0, s, 9);
    assert_int_equal(m->hdr.proto, 0x07);
    pair_put(&net, 1, &m);
    m = pair_expect(&net, 1, TL_OP_BYE_SIGNAL, 0, 0, s, 10);
    assert_int_equal(m->hdr.proto, 0x07);
    pair_put(&net, 1, &m);
    tl_engine_stats st = stats(1);
    assert_int_equal(st.peer_bye_signals, 2);
    assert_int_equal(st.internal_bits_cleared, 1);
    /* No effect on the engine: still open, still sending. */
    assert_true(channel_open(1, s));
    pair_send(&net, 1, TL_OP_SIGNAL, s, 0, "after");
    pair_run(&net);
    tl_header h[2];
    assert_int_equal(pair_wire_frames(c, 1, h, 2, NULL), 1);
    assert_int_equal(h[0].proto, TL_OP_SIGNAL);
    /* A received ByeRequest has no effect either. */
    inject_frame(c, 1, TL_OP_BYE_REQUEST, 0, 11, NULL, NULL);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_BYE_REQUEST, 0, 0, s, 11);
    assert_true(channel_open(1, s));
    pair_free(&net);
}

static void test_engine_receive_after_bye_response_rest_dropped(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint64_t hid;
    /* The driver has no raw listener, so feed node 0 directly: after its
     * ByeRequest, a ByeResponse and a Signal in one chunk. */
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, "tcp|127.0.0.1|7400", &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    uint16_t cc = pair_connect(&net, 0, "tcp|127.0.0.1|7400", &hid);
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_HELLO_REQUEST, 0, 0, ANY, (int64_t)hid);
    uint16_t s2 = m->hdr.channel;
    pair_put(&net, 1, &m);
    uint64_t bid = pair_send(&net, 0, TL_OP_BYE_REQUEST, cc, 0, NULL);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_BYE_REQUEST, 0, 0, s2, (int64_t)bid);
    uint8_t buf[64];
    size_t n = mkframe(buf, sizeof buf, s2, TL_OP_BYE_RESPONSE, 0, bid, NULL, NULL);
    n += mkframe(buf + n, sizeof buf - n, s2, TL_OP_SIGNAL, 0, 5, NULL, "x");
    size_t used = 0;
    assert_int_equal(tl_engine_input(E(0), cc, buf, n, &used), TL_OK);
    pair_check(&net);
    assert_int_equal(used, n); /* the rest is consumed and dropped */
    pair_expect_put(&net, 0, TL_OP_BYE_RESPONSE, 0, 0, cc, (int64_t)bid);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, cc, (int64_t)bid);
    pair_expect_none(&net, 0);
    assert_int_equal(tl_engine_input(E(0), cc, buf, n, &used), TL_E_NOT_FOUND);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, s2, (int64_t)hid);
    pair_free(&net);
}

/* ================================================= section 5 through the engine */

static void expect_reject(int node, tl_message **m, int rc, tl_status st)
{
    tl_post_out out;
    memset(&out, 0xEE, sizeof out);
    assert_int_equal(pair_post(&net, node, m, &out), rc);
    assert_non_null(*m); /* the caller keeps it */
    assert_int_equal(out.status, st);
    assert_int_equal((*m)->hdr.status, st);
    pair_put(&net, node, m);
}

static void test_engine_post_validation_rules_status_byte(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    tl_message *m;
    tl_post_out out;

    /* Step 1: no message. */
    m = NULL;
    assert_int_equal(pair_post(&net, 0, &m, &out), TL_E_INVAL);
    assert_int_equal(out.status, TL_STATUS_NULL_MESSAGE);
    assert_int_equal(pair_post(&net, 0, NULL, &out), TL_E_INVAL);
    assert_int_equal(out.status, TL_STATUS_NULL_MESSAGE);

    /* Step 2: op code 10-15; status byte and proto untouched. */
    for (unsigned op = 10; op <= 15; op++) {
        m = pair_msg(&net, 0, op, cc, 5, NULL);
        m->hdr.proto |= TL_PROTO_ORIGIN;
        m->hdr.status = 0x77;
        uint8_t proto = m->hdr.proto;
        assert_int_equal(pair_post(&net, 0, &m, &out), TL_E_BAD_OPCODE);
        assert_non_null(m);
        assert_int_equal(m->hdr.status, 0x77);
        assert_int_equal(m->hdr.proto, proto);
        pair_put(&net, 0, &m);
    }

    /* Step 4: response roles need a message_id. */
    const unsigned resp[] = {TL_OP_RESPONSE, TL_OP_HELLO_RESPONSE, TL_OP_BYE_RESPONSE};
    for (size_t i = 0; i < 3; i++) {
        m = pair_msg(&net, 0, resp[i], cc, 0, NULL);
        expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_INVALID_MESSAGE_ID);
    }
    /* ... checked before more (step 5) and channel (step 6). */
    m = pair_msg(&net, 0, TL_OP_BYE_RESPONSE, 0, 0, NULL);
    m->hdr.proto |= TL_PROTO_MORE;
    expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_INVALID_MESSAGE_ID);

    /* Step 5: more only on regular messages. */
    const unsigned nonreg[] = {TL_OP_HELLO_RESPONSE, TL_OP_BYE_REQUEST, TL_OP_BYE_RESPONSE, TL_OP_BYE_SIGNAL};
    for (size_t i = 0; i < 4; i++) {
        m = pair_msg(&net, 0, nonreg[i], cc, 3, NULL);
        m->hdr.proto |= TL_PROTO_MORE;
        expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_INVALID_MORE_USAGE);
    }
    m = pair_get(&net, 0);
    assert_int_equal(tl_msg_set_address(m, TL_OP_HELLO_REQUEST, ADDR), TL_OK);
    m->hdr.proto |= TL_PROTO_MORE;
    expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_INVALID_MORE_USAGE);
    m = pair_get(&net, 0);
    assert_int_equal(tl_msg_set_address(m, TL_OP_WELCOME_REQUEST, "tcp|0.0.0.0|1"), TL_OK);
    m->hdr.proto |= TL_PROTO_MORE;
    expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_INVALID_MORE_USAGE);

    /* Step 6: channel 0 only for Hello/Welcome requests. */
    const unsigned need[] = {TL_OP_REQUEST,     TL_OP_RESPONSE,     TL_OP_SIGNAL,    TL_OP_HELLO_RESPONSE,
                             TL_OP_BYE_REQUEST, TL_OP_BYE_RESPONSE, TL_OP_BYE_SIGNAL};
    for (size_t i = 0; i < 7; i++) {
        m = pair_msg(&net, 0, need[i], 0, 3, NULL);
        expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_INVALID_CHANNEL_NUMBER);
    }

    /* Step 7: text headers over 65535. */
    m = pair_msg(&net, 0, TL_OP_REQUEST, cc, 0, NULL);
    {
        uint8_t *p = m->alloc->realloc(m->alloc->ctx, m->text.data, 65536);
        assert_non_null(p);
        memset(p, 'a', 65536);
        m->text.data = p;
        m->text.cap = m->text.len = 65536;
    }
    expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_INVALID_HEADERS_LEN);

    /* Step 8: Hello/Welcome requests without text headers. */
    m = pair_msg(&net, 0, TL_OP_HELLO_REQUEST, 0, 0, NULL);
    expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_WRONG_ADDRESS);
    m = pair_msg(&net, 0, TL_OP_WELCOME_REQUEST, 0, 0, "body is not an address");
    expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_WRONG_ADDRESS);

    /* Step 9: body over 65535. */
    m = pair_msg(&net, 0, TL_OP_SIGNAL, cc, 0, NULL);
    {
        uint8_t *p = m->alloc->realloc(m->alloc->ctx, m->body.data, 65536);
        assert_non_null(p);
        memset(p, 'b', 65536);
        m->body.data = p;
        m->body.cap = m->body.len = 65536;
    }
    expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_INVALID_BODY_LEN);
    /* Exactly 65535 of each passes. */
    m = pair_msg(&net, 0, TL_OP_SIGNAL, cc, 0, NULL);
    {
        static uint8_t big[65535];
        memset(big, 'c', sizeof big);
        assert_int_equal(tl_msg_body_set(m, big, sizeof big), TL_OK);
        assert_int_equal(tl_msg_text_append_raw(m, big, sizeof big), TL_OK);
    }
    assert_int_equal(pair_post(&net, 0, &m, &out), TL_OK);
    assert_int_equal(out.hdr.thl, 65535);
    assert_int_equal(out.hdr.bl, 65535);

    /* Step 11: unknown channel; another group's channel. */
    m = pair_msg(&net, 0, TL_OP_REQUEST, (uint16_t)(cc ^ 0x5555), 0, NULL);
    expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_INVALID_CHANNEL_NUMBER);
    uint32_t g2;
    assert_int_equal(tl_engine_group_create(E(0), &g2), TL_OK);
    m = pair_msg(&net, 0, TL_OP_REQUEST, cc, 0, NULL);
    assert_int_equal(tl_engine_post(E(0), g2, &m, &out), TL_E_REJECTED);
    pair_check(&net);
    assert_int_equal(out.status, TL_STATUS_INVALID_MCHN_GROUP);
    assert_int_equal(m->hdr.status, TL_STATUS_INVALID_MCHN_GROUP);
    pair_put(&net, 0, &m);
    m = pair_msg(&net, 0, TL_OP_REQUEST, cc, 0, NULL);
    assert_int_equal(tl_engine_post(E(0), 77, &m, &out), TL_E_NOT_FOUND);
    assert_non_null(m);
    pair_put(&net, 0, &m);

    /* A12: the address header kind must match the op code. */
    m = pair_get(&net, 0);
    assert_int_equal(tl_msg_set_address(m, TL_OP_WELCOME_REQUEST, "tcp|0.0.0.0|1"), TL_OK);
    tl_msg_set_opcode(m, TL_OP_HELLO_REQUEST);
    expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_INVALID_ADDRESS);
    m = pair_get(&net, 0);
    assert_int_equal(tl_msg_set_address(m, TL_OP_HELLO_REQUEST, ADDR), TL_OK);
    tl_msg_set_opcode(m, TL_OP_WELCOME_REQUEST);
    expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_INVALID_ADDRESS);

    /* Step 3: forced fields on success (origin 0, status 0, thl/bl from content). */
    m = pair_msg(&net, 0, TL_OP_REQUEST, cc, 0, "abc");
    assert_int_equal(tl_msg_add_header(m, "k", "v"), TL_OK);
    m->hdr.proto |= TL_PROTO_ORIGIN;
    m->hdr.status = 0x33;
    m->hdr.thl = 999;
    m->hdr.bl = 999;
    assert_int_equal(pair_post(&net, 0, &m, &out), TL_OK);
    assert_null(m);
    assert_int_equal(out.status, TL_STATUS_SUCCESS);
    assert_int_equal(out.hdr.proto, 0x00);
    assert_int_equal(out.hdr.status, 0);
    assert_int_equal(out.hdr.thl, 5);
    assert_int_equal(out.hdr.bl, 3);
    assert_int_equal(out.hdr.channel, cc);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 0, 0, sc, ANY); /* the 65535/65535 one */
    m = pair_expect(&net, 1, TL_OP_REQUEST, 0, 0, sc, (int64_t)out.hdr.message_id);
    assert_int_equal(m->hdr.thl, 5);
    assert_int_equal(m->hdr.bl, 3);
    assert_memory_equal(m->text.data, "k:v\r\n", 5);
    pair_put(&net, 1, &m);
    pair_expect_none(&net, 0);
    pair_expect_none(&net, 1);
    pair_free(&net);
}

static void test_engine_message_id_per_engine_from_one(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    assert_int_equal(stats(0).next_message_id, 1);
    uint64_t wid, hid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    assert_int_equal(wid, 1); /* A23: per engine, from 1 */
    pair_run(&net);
    uint16_t c = pair_connect(&net, 0, ADDR, &hid);
    assert_int_equal(hid, 1);
    assert_int_equal(pair_send(&net, 0, TL_OP_SIGNAL, c, 0, NULL), 2);
    assert_int_equal(pair_send(&net, 0, TL_OP_REQUEST, c, 100, NULL), 100); /* kept */
    assert_int_equal(pair_send(&net, 0, TL_OP_REQUEST, c, 0, NULL), 3);     /* counter not moved by 100 */
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, 1);
    tl_message *m = pair_expect(&net, 1, TL_OP_HELLO_REQUEST, 0, 0, ANY, 1);
    uint16_t s = m->hdr.channel;
    pair_put(&net, 1, &m);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 0, 0, s, 2);
    pair_expect_put(&net, 1, TL_OP_REQUEST, 0, 0, s, 100);
    pair_expect_put(&net, 1, TL_OP_REQUEST, 0, 0, s, 3);
    /* Node 1's counter is its own: its next id is 2 whatever node 0 did. */
    assert_int_equal(pair_send(&net, 1, TL_OP_SIGNAL, s, 0, NULL), 2);
    /* Notifications and rejected posts do not take ids. */
    assert_int_equal(tl_engine_update_receiver(E(0), G(0), NULL), TL_OK);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_RECEIVER_UPDATE, 0, 0);
    m = pair_msg(&net, 0, TL_OP_SIGNAL, 0, 0, NULL);
    expect_reject(0, &m, TL_E_REJECTED, TL_STATUS_INVALID_CHANNEL_NUMBER);
    assert_int_equal(stats(0).next_message_id, 4);
    assert_int_equal(pair_send(&net, 0, TL_OP_BYE_REQUEST, c, 0, NULL), 4);
    pair_free(&net);
}

static void test_engine_internal_bits_never_on_wire(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    static const struct {
        unsigned op;
        uint8_t extra, want;
        uint64_t id;
    } cases[] = {
        {TL_OP_REQUEST, 0xF0, 0x20, 0}, /* A, B, origin, more -> more only */
        {TL_OP_SIGNAL, 0x40, 0x02, 0},  {TL_OP_RESPONSE, 0x80, 0x01, 9},
        {TL_OP_REQUEST, 0xC0, 0x00, 0}, {TL_OP_BYE_REQUEST, 0xC0, 0x05, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tl_message *m = pair_msg(&net, 0, cases[i].op, cc, cases[i].id, "z");
        m->hdr.proto |= cases[i].extra;
        tl_post_out out;
        assert_int_equal(pair_post(&net, 0, &m, &out), TL_OK);
        assert_int_equal(out.hdr.proto, cases[i].want); /* A8 */
    }
    /* Bit A does not make a message jump the queue either. */
    pair_run(&net);
    tl_header h[8];
    size_t k = wire_frames(0, cc, 1, h, 8);
    assert_int_equal(k, 6);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(h[1 + i].proto, cases[i].want);
        assert_int_equal(h[1 + i].proto & 0xD0, 0);
    }
    pair_free(&net);
}

static void test_engine_send_order_fifo(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.pool_initial = 64; /* the server app reads only at the end */
    pair_init(&net, 2, &o);
    pair_set_chunk(&net, PAIR_CHUNK_RANDOM, 37, 12345);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    uint64_t ids[40];
    char body[600];
    for (int i = 0; i < 40; i++) {
        size_t n = (size_t)(i * 13) % sizeof body;
        memset(body, 'a' + i % 26, n);
        body[n] = '\0';
        ids[i] = pair_send(&net, 0, i % 3 ? TL_OP_REQUEST : TL_OP_SIGNAL, cc, 0, body);
        if (i % 7 == 0) {
            pair_run(&net);
        }
    }
    pair_run(&net);
    for (int i = 0; i < 40; i++) {
        tl_message *m = pair_expect(&net, 1, i % 3 ? TL_OP_REQUEST : TL_OP_SIGNAL, 0, 0, sc, (int64_t)ids[i]);
        size_t n = (size_t)(i * 13) % sizeof body;
        assert_int_equal(m->body.len, n);
        for (size_t k = 0; k < n; k++) {
            assert_int_equal(m->body.data[k], 'a' + i % 26);
        }
        pair_put(&net, 1, &m);
    }
    tl_header h[64];
    assert_int_equal(wire_frames(0, cc, 1, h, 64), 41);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(h[1 + i].message_id, ids[i]);
        assert_int_equal(h[1 + i].channel, cc);
    }
    pair_free(&net);
}

/* ================================================= 6.2 / A6: channel numbers */

static void collect_numbers(uint64_t seed, uint16_t *out, size_t n)
{
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.seed = seed;
    tl_engine *e;
    uint32_t g;
    assert_int_equal(tl_engine_create(&o, &e), TL_OK);
    assert_int_equal(tl_engine_group_create(e, &g), TL_OK);
    for (size_t i = 0; i < n; i++) {
        tl_message *m;
        assert_int_equal(tl_engine_get(e, TL_GET_ALWAYS, &m), TL_OK);
        assert_int_equal(tl_msg_set_address(m, TL_OP_HELLO_REQUEST, ADDR), TL_OK);
        tl_post_out po;
        assert_int_equal(tl_engine_post(e, g, &m, &po), TL_OK);
        assert_null(tl_engine_check(e));
        out[i] = po.hdr.channel;
    }
    tl_engine_destroy(e);
}

static void test_engine_channel_numbers_same_seed_same_numbers(void **state)
{
    (void)state;
    uint16_t a[50], b[50], c[50];
    collect_numbers(42, a, 50);
    collect_numbers(42, b, 50);
    collect_numbers(43, c, 50);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    /* Not sequential. */
    int seq = 0;
    for (int i = 1; i < 50; i++) {
        seq += a[i] == a[i - 1] + 1;
    }
    assert_true(seq < 5);
}

static void test_engine_channel_numbers_in_range_not_active_not_recent(void **state)
{
    (void)state;
    pair_init(&net, 1, NULL);
    static uint8_t active[65536];
    static uint16_t recent[1024];
    static uint8_t in_recent[65536];
    memset(active, 0, sizeof active);
    memset(in_recent, 0, sizeof in_recent);
    size_t rhead = 0, rcount = 0;
    /* 300 channels stay open (connects held). */
    net.hold_connects = 1;
    for (int i = 0; i < 300; i++) {
        uint16_t c = pair_connect(&net, 0, "tcp|127.0.0.1|1", NULL);
        assert_true(c >= 1 && c <= 65534);
        assert_false(active[c]);
        active[c] = 1;
    }
    pair_run(&net);
    net.hold_connects = 0;
    /* 4000 short-lived ones: UDS path missing, closed at once. */
    for (int i = 0; i < 4000; i++) {
        uint64_t hid;
        uint16_t c = pair_connect(&net, 0, "uds|/nonexistent/x", &hid);
        assert_true(c >= 1 && c <= 65534);
        assert_false(active[c]);
        assert_false(in_recent[c]);
        pair_run(&net);
        pair_expect_put(&net, 0, TL_OP_HELLO_RESPONSE, 1, TL_STATUS_UDS_PATH_NOT_FOUND, c, (int64_t)hid);
        pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, c, (int64_t)hid);
        if (rcount == 1024) {
            in_recent[recent[rhead]] = 0;
            rhead = (rhead + 1) % 1024;
            rcount--;
        }
        recent[(rhead + rcount) % 1024] = c;
        rcount++;
        in_recent[c] = 1;
    }
    uint16_t list[400];
    assert_int_equal(tl_engine_channels(E(0), list, 400), 300);
    for (int i = 0; i < 300; i++) {
        assert_true(active[list[i]]);
        if (i) {
            assert_true(list[i] > list[i - 1]);
        }
    }
    assert_int_equal(stats(0).channels_now, 300);
    pair_free(&net);
}

static void test_engine_channel_limit_rejects_hello(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.max_channels = 2;
    pair_init(&net, 1, &o);
    net.hold_connects = 1;
    pair_connect(&net, 0, ADDR, NULL);
    pair_connect(&net, 0, ADDR, NULL);
    tl_message *m = pair_get(&net, 0);
    assert_int_equal(tl_msg_set_address(m, TL_OP_HELLO_REQUEST, ADDR), TL_OK);
    tl_post_out out;
    assert_int_equal(pair_post(&net, 0, &m, &out), TL_E_REJECTED);
    assert_non_null(m);
    assert_int_equal(out.status, TL_STATUS_INVALID_CHANNEL_NUMBER);
    pair_put(&net, 0, &m);
    assert_int_equal(stats(0).channels_now, 2);
    pair_free(&net);
}

/* ================================================= 6.10: pool */

/* What the application holds = live - pooled - held by the engine: the
 * accounting the simulator's leak oracle relies on. */
static uint32_t app_held(tl_engine *e)
{
    tl_engine_stats st;
    tl_engine_get_stats(e, &st);
    return st.messages_live - st.pool_now - st.engine_now;
}

static void test_engine_stats_engine_now_tracks_app_held_messages(void **state)
{
    (void)state;
    tl_engine *e = NULL;
    uint32_t g = 0;
    tl_message *a = NULL, *b = NULL, *r = NULL;
    tl_post_out out;
    assert_int_equal(tl_engine_create(NULL, &e), TL_OK);
    assert_int_equal(tl_engine_group_create(e, &g), TL_OK);
    assert_int_equal(app_held(e), 0);
    assert_int_equal(tl_engine_get(e, TL_GET_ALWAYS, &a), TL_OK);
    assert_int_equal(tl_engine_get(e, TL_GET_ALWAYS, &b), TL_OK);
    assert_int_equal(app_held(e), 2);
    /* A WelcomeRequest is held by the engine until the listen result. */
    assert_int_equal(tl_msg_set_address(a, TL_OP_WELCOME_REQUEST, "tcp|0.0.0.0|7099"), TL_OK);
    assert_int_equal(tl_engine_post(e, g, &a, &out), TL_OK);
    assert_int_equal(app_held(e), 1);
    /* The WelcomeResponse waits in the group queue: still the engine's. */
    assert_int_equal(tl_engine_listen_result(e, out.hdr.channel, TL_STATUS_SUCCESS), TL_OK);
    assert_int_equal(app_held(e), 1);
    assert_int_equal(tl_engine_receive(e, g, &r), TL_OK);
    assert_int_equal(app_held(e), 2);
    tl_engine_put(e, &r);
    tl_engine_put(e, &b);
    assert_int_equal(app_held(e), 0);
    tl_engine_destroy(e);
}

static void test_engine_pool_defaults_16_and_64(void **state)
{
    (void)state;
    tl_engine *e;
    assert_int_equal(tl_engine_create(NULL, &e), TL_OK);
    tl_engine_stats st;
    tl_engine_get_stats(e, &st);
    assert_int_equal(st.pool_now, 16);
    assert_int_equal(st.messages_live, 16);
    tl_message *m[80];
    for (int i = 0; i < 80; i++) {
        assert_int_equal(tl_engine_get(e, TL_GET_ALWAYS, &m[i]), TL_OK);
        assert_non_null(m[i]);
        assert_int_equal(m[i]->text.cap, 256);
        assert_int_equal(m[i]->body.cap, 256);
        assert_null(tl_engine_check(e));
    }
    tl_engine_get_stats(e, &st);
    assert_int_equal(st.pool_now, 0);
    assert_int_equal(st.messages_live, 80);
    for (int i = 0; i < 80; i++) {
        tl_engine_put(e, &m[i]);
        assert_null(m[i]);
        assert_null(tl_engine_check(e));
        tl_engine_get_stats(e, &st);
        assert_int_equal(st.pool_now, i < 64 ? i + 1 : 64);
        assert_int_equal(st.messages_live, i < 64 ? 80 : 80 - (i - 63));
    }
    tl_engine_get_stats(e, &st);
    assert_int_equal(st.messages_live, 64);
    tl_engine_put(e, NULL); /* no-ops */
    tl_message *none = NULL;
    tl_engine_put(e, &none);
    assert_null(tl_engine_check(e));
    tl_engine_destroy(e);
}

static void test_engine_pool_max_below_initial_raised_to_initial(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.pool_initial = 10;
    o.pool_max = 4;
    tl_engine *e;
    assert_int_equal(tl_engine_create(&o, &e), TL_OK);
    tl_message *m[12];
    for (int i = 0; i < 12; i++) {
        assert_int_equal(tl_engine_get(e, TL_GET_ALWAYS, &m[i]), TL_OK);
    }
    for (int i = 0; i < 12; i++) {
        tl_engine_put(e, &m[i]);
    }
    tl_engine_stats st;
    tl_engine_get_stats(e, &st);
    assert_int_equal(st.pool_now, 10);
    assert_int_equal(st.messages_live, 10);
    assert_null(tl_engine_check(e));
    tl_engine_destroy(e);
    /* Only max given, below the default initial 16: raised to 16. */
    memset(&o, 0, sizeof o);
    o.pool_max = 8;
    assert_int_equal(tl_engine_create(&o, &e), TL_OK);
    tl_engine_get_stats(e, &st);
    assert_int_equal(st.pool_now, 16);
    tl_message *x[20];
    for (int i = 0; i < 20; i++) {
        assert_int_equal(tl_engine_get(e, TL_GET_ALWAYS, &x[i]), TL_OK);
    }
    for (int i = 0; i < 20; i++) {
        tl_engine_put(e, &x[i]);
    }
    tl_engine_get_stats(e, &st);
    assert_int_equal(st.pool_now, 16);
    assert_int_equal(st.messages_live, 16);
    tl_engine_destroy(e);
}

static void test_engine_pool_only_get_on_empty_pool_again(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.pool_initial = 3;
    tl_engine *e;
    assert_int_equal(tl_engine_create(&o, &e), TL_OK);
    tl_message *m[4];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tl_engine_get(e, TL_GET_POOL_ONLY, &m[i]), TL_OK);
    }
    m[3] = NULL;
    assert_int_equal(tl_engine_get(e, TL_GET_POOL_ONLY, &m[3]), TL_E_AGAIN);
    assert_null(m[3]);
    tl_engine_stats st;
    tl_engine_get_stats(e, &st);
    assert_int_equal(st.messages_live, 3);
    /* A put message comes back reset (6.10). */
    m[0]->hdr.proto = 0x25;
    m[0]->hdr.message_id = 9;
    assert_int_equal(tl_msg_body_set(m[0], "abc", 3), TL_OK);
    assert_int_equal(tl_msg_add_header(m[0], "a", "b"), TL_OK);
    tl_message *keep = m[0];
    tl_engine_put(e, &m[0]);
    assert_int_equal(tl_engine_get(e, TL_GET_POOL_ONLY, &m[0]), TL_OK);
    assert_ptr_equal(m[0], keep); /* LIFO */
    assert_int_equal(m[0]->hdr.proto, 0);
    assert_int_equal(m[0]->hdr.message_id, 0);
    assert_int_equal(m[0]->text.len, 0);
    assert_int_equal(m[0]->body.len, 0);
    for (int i = 0; i < 3; i++) {
        tl_engine_put(e, &m[i]);
    }
    assert_null(tl_engine_check(e));
    tl_engine_destroy(e);
}

/* ================================================= allocation failures */

typedef struct {
    size_t calls;   /* alloc + realloc calls */
    size_t fail_at; /* 1-based call that fails; 0 = none */
    size_t live;    /* blocks held */
    int failed;
    int fail_all; /* every call fails */
} fail_alloc;

static void *fa_alloc(void *ctx, size_t size)
{
    fail_alloc *f = ctx;
    if (++f->calls == f->fail_at || f->fail_all) {
        f->failed = 1;
        return NULL;
    }
    void *p = malloc(size);
    if (p) {
        f->live++;
    }
    return p;
}

static void *fa_realloc(void *ctx, void *ptr, size_t size)
{
    fail_alloc *f = ctx;
    if (++f->calls == f->fail_at || f->fail_all) {
        f->failed = 1;
        return NULL;
    }
    void *p = realloc(ptr, size);
    if (p && ptr == NULL) {
        f->live++;
    }
    return p;
}

static void fa_free(void *ctx, void *ptr)
{
    fail_alloc *f = ctx;
    if (ptr) {
        f->live--;
        free(ptr);
    }
}

enum { SW_COMPLETE, SW_API_ERROR, SW_NOTIFIED };

typedef struct {
    int outcome;
    const char *where;
    uint64_t alloc_failures;
} sweep_result;

/* Drain both groups; return 1 when a message matching (node, op, id) was seen.
 * Engine notifications (origin engine) set *failed. Everything is put back. */
static int sweep_wait(int node, unsigned op, uint64_t id, tl_message **keep, int *failed)
{
    int found = 0;
    for (int k = 0; k < 2; k++) {
        tl_message *m;
        while ((m = pair_recv(&net, k)) != NULL) {
            if (k == node && !found && tl_proto_opcode(m->hdr.proto) == op &&
                !tl_proto_origin_engine(m->hdr.proto) && m->hdr.status == 0 &&
                (id == 0 || m->hdr.message_id == id)) {
                found = 1;
                if (keep) {
                    *keep = m;
                    continue;
                }
            } else if (tl_proto_origin_engine(m->hdr.proto)) {
                *failed = 1;
            }
            pair_put(&net, k, &m);
        }
    }
    return found;
}

#define SWEEP_STEP(cond, what)                                                                               \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            r.outcome = SW_API_ERROR;                                                                        \
            r.where = what;                                                                                  \
            goto done;                                                                                       \
        }                                                                                                    \
    } while (0)

/* A post in the sweep fails only for memory: TL_E_REJECTED must say
 * allocation_failed (20). */
static int sweep_post(int node, tl_message **m, tl_post_out *out)
{
    int rc = pair_post(&net, node, m, out);
    if (rc == TL_E_REJECTED) {
        assert_int_equal(out->status, TL_STATUS_ALLOCATION_FAILED);
        assert_int_equal((*m)->hdr.status, TL_STATUS_ALLOCATION_FAILED);
    }
    return rc;
}

#define SWEEP_WAIT(node, op, id, keep, what)                                                                 \
    do {                                                                                                     \
        int failed_ = 0;                                                                                     \
        pair_run(&net);                                                                                      \
        if (!sweep_wait(node, op, id, keep, &failed_)) {                                                     \
            if (!failed_) {                                                                                  \
                fail_msg("allocation %zu failing: hang waiting for %s (nothing reported)", fa.fail_at,       \
                         what);                                                                              \
            }                                                                                                \
            r.outcome = SW_NOTIFIED;                                                                         \
            r.where = what;                                                                                  \
            goto done;                                                                                       \
        }                                                                                                    \
    } while (0)

static sweep_result sweep_run(size_t fail_at, pair_chunk_mode mode, size_t *calls)
{
    fail_alloc fa = {0, fail_at, 0, 0, 0};
    tl_allocator A = {fa_alloc, fa_realloc, fa_free, &fa};
    tl_engine_options o[2];
    memset(o, 0, sizeof o);
    o[0].seed = 5;
    o[1].seed = 6;
    o[0].allocator = o[1].allocator = &A;
    o[0].pool_initial = o[1].pool_initial = 4;
    sweep_result r = {SW_COMPLETE, "end", 0};
    tl_message *m = NULL, *held = NULL;
    int m_node = 1;
    char big[700];
    memset(big, 'B', sizeof big - 1);
    big[sizeof big - 1] = '\0';

    if (pair_try_init(&net, 2, o) != TL_OK) {
        assert_int_equal(fa.live, 0);
        r.outcome = SW_API_ERROR;
        r.where = "create";
        *calls = fa.calls;
        return r;
    }
    pair_set_chunk(&net, mode, 7, 99);
    tl_post_out out;
    /* Listener. */
    SWEEP_STEP(tl_engine_get(E(1), TL_GET_ALWAYS, &m) == TL_OK, "get");
    SWEEP_STEP(tl_msg_set_address(m, TL_OP_WELCOME_REQUEST, "tcp|0.0.0.0|9000") == TL_OK, "set_address");
    SWEEP_STEP(sweep_post(1, &m, &out) == TL_OK, "post welcome");
    SWEEP_WAIT(1, TL_OP_WELCOME_RESPONSE, 0, NULL, "WelcomeResponse");
    /* Client. */
    m_node = 0;
    SWEEP_STEP(tl_engine_get(E(0), TL_GET_ALWAYS, &m) == TL_OK, "get");
    SWEEP_STEP(tl_msg_set_address(m, TL_OP_HELLO_REQUEST, "tcp|127.0.0.1|9000") == TL_OK, "set_address");
    SWEEP_STEP(sweep_post(0, &m, &out) == TL_OK, "post hello");
    uint16_t cc = out.hdr.channel;
    uint64_t hid = out.hdr.message_id;
    SWEEP_WAIT(1, TL_OP_HELLO_REQUEST, hid, &held, "HelloRequest");
    uint16_t sc = held->hdr.channel;
    tl_msg_set_opcode(held, TL_OP_HELLO_RESPONSE);
    SWEEP_STEP(sweep_post(1, &held, &out) == TL_OK, "post hello response");
    SWEEP_WAIT(0, TL_OP_HELLO_RESPONSE, hid, NULL, "HelloResponse");
    /* Request and Response, bodies larger than a new message's 256 bytes. */
    SWEEP_STEP(tl_engine_get(E(0), TL_GET_ALWAYS, &m) == TL_OK, "get");
    m->hdr.channel = cc;
    SWEEP_STEP(tl_msg_body_set(m, big, strlen(big)) == TL_OK, "body_set");
    SWEEP_STEP(sweep_post(0, &m, &out) == TL_OK, "post request");
    uint64_t rid = out.hdr.message_id;
    SWEEP_WAIT(1, TL_OP_REQUEST, rid, &held, "Request");
    assert_int_equal(held->body.len, strlen(big));
    tl_msg_set_opcode(held, TL_OP_RESPONSE);
    SWEEP_STEP(tl_msg_add_header(held, "x", big + 400) == TL_OK, "add_header");
    SWEEP_STEP(sweep_post(1, &held, &out) == TL_OK, "post response");
    SWEEP_WAIT(0, TL_OP_RESPONSE, rid, NULL, "Response");
    SWEEP_STEP(tl_engine_update_receiver(E(0), G(0), NULL) == TL_OK, "update_receiver");
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_RECEIVER_UPDATE, 0, 0);
    /* Bye. */
    SWEEP_STEP(tl_engine_get(E(0), TL_GET_ALWAYS, &m) == TL_OK, "get");
    tl_msg_set_opcode(m, TL_OP_BYE_REQUEST);
    m->hdr.channel = cc;
    SWEEP_STEP(sweep_post(0, &m, &out) == TL_OK, "post bye");
    SWEEP_WAIT(1, TL_OP_BYE_REQUEST, out.hdr.message_id, &held, "ByeRequest");
    tl_msg_set_opcode(held, TL_OP_BYE_RESPONSE);
    SWEEP_STEP(sweep_post(1, &held, &out) == TL_OK, "post bye response");
    pair_run(&net);
    {
        /* Both ends end with their final Signal (or an earlier failure). */
        int closed0 = 0, closed1 = 0, failed = 0;
        for (int k = 0; k < 2; k++) {
            tl_message *x;
            while ((x = pair_recv(&net, k)) != NULL) {
                if (tl_proto_opcode(x->hdr.proto) == TL_OP_SIGNAL &&
                    x->hdr.status == TL_STATUS_CHANNEL_CLOSED && tl_proto_origin_engine(x->hdr.proto)) {
                    if (k == 0 && x->hdr.channel == cc) {
                        closed0 = 1;
                    }
                    if (k == 1 && x->hdr.channel == sc) {
                        closed1 = 1;
                    }
                } else if (tl_proto_origin_engine(x->hdr.proto)) {
                    failed = 1;
                }
                pair_put(&net, k, &x);
            }
        }
        if (!closed0 || !closed1) {
            if (!failed && fa.fail_at != 0) {
                fail_msg("allocation %zu failing: a final Signal is missing (client %d, server %d)",
                         fa.fail_at, closed0, closed1);
            }
            assert_true(fa.fail_at != 0);
            r.outcome = SW_NOTIFIED;
            r.where = "final signals";
        }
    }
done:
    if (m) {
        pair_put(&net, m_node, &m);
    }
    if (held) {
        pair_put(&net, 1, &held);
    }
    r.alloc_failures = stats(0).alloc_failures + stats(1).alloc_failures;
    pair_free(&net); /* asserts messages_live == pool and no channels left */
    if (fa.live != 0) {
        fail_msg("allocation %zu failing: %zu blocks leaked", fail_at, fa.live);
    }
    *calls = fa.calls;
    if (fail_at != 0 && fail_at <= fa.calls) {
        assert_true(fa.failed);
    }
    return r;
}

static void sweep(pair_chunk_mode mode)
{
    size_t total = 0;
    sweep_result clean = sweep_run(0, mode, &total);
    if (clean.outcome != SW_COMPLETE) {
        fail_msg("the exchange without failures did not complete: %d at %s", clean.outcome, clean.where);
    }
    assert_int_equal(clean.alloc_failures, 0);
    assert_true(total > 20);
    size_t complete = 0, api = 0, notified = 0;
    for (size_t n = 1; n <= total + 1; n++) {
        size_t calls = 0;
        sweep_result r = sweep_run(n, mode, &calls);
        switch (r.outcome) {
        case SW_COMPLETE:
            complete++;
            /* The failure was absorbed: it must at least be counted. */
            if (n <= total && r.alloc_failures == 0) {
                fail_msg("allocation %zu of %zu failed without a trace", n, total);
            }
            break;
        case SW_API_ERROR: api++; break;
        default: notified++; break;
        }
    }
    assert_true(api > 0);
    print_message("alloc sweep (mode %d): %zu allocations; %zu completed, %zu API errors, %zu notified\n",
                  (int)mode, total, complete, api, notified);
}

static void test_engine_alloc_failure_sweep_no_crash_no_leak(void **state)
{
    (void)state;
    sweep(PAIR_CHUNK_ALL);
}

static void test_engine_alloc_failure_sweep_split_input_no_leak(void **state)
{
    (void)state;
    sweep(PAIR_CHUNK_RANDOM);
}

static void test_engine_alloc_failure_host_commands_never_lost(void **state)
{
    (void)state;
    fail_alloc fa = {0, 0, 0, 0, 0};
    tl_allocator A = {fa_alloc, fa_realloc, fa_free, &fa};
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.allocator = &A;
    tl_engine *e;
    uint32_t g;
    assert_int_equal(tl_engine_create(&o, &e), TL_OK);
    assert_int_equal(tl_engine_group_create(e, &g), TL_OK);
    /* 40 client channels whose CONNECTs the host has not taken yet. */
    enum { N = 40 };
    for (int i = 0; i < N; i++) {
        tl_message *m;
        assert_int_equal(tl_engine_get(e, TL_GET_ALWAYS, &m), TL_OK);
        assert_int_equal(tl_msg_set_address(m, TL_OP_HELLO_REQUEST, ADDR), TL_OK);
        assert_int_equal(tl_engine_post(e, g, &m, NULL), TL_OK);
        assert_null(tl_engine_check(e));
    }
    /* From now on nothing can be allocated: every CLOSE must still reach the host. */
    fa.fail_all = 1;
    assert_int_equal(tl_engine_group_destroy(e, g), TL_OK);
    assert_null(tl_engine_check(e));
    tl_command c;
    int connects = 0, closes = 0;
    while (tl_engine_next_command(e, &c)) {
        connects += c.kind == TL_CMD_CONNECT;
        closes += c.kind == TL_CMD_CLOSE;
    }
    assert_int_equal(connects, N);
    assert_int_equal(closes, N);
    tl_engine_stats st;
    tl_engine_get_stats(e, &st);
    assert_int_equal(st.alloc_failures, 0);
    assert_int_equal(st.messages_live, st.pool_now);
    tl_engine_destroy(e);
    assert_int_equal(fa.live, 0);
}

/* ================================================= splitting */

/* A stream of varied frames towards a server channel; returns its length. */
static size_t sample_stream(uint8_t *buf, size_t cap)
{
    size_t n = 0;
    n += mkframe(buf + n, cap - n, 0x1A2B, TL_OP_HELLO_REQUEST, 0, 1, "~connect_to:tcp|127.0.0.1|7099\r\n",
                 NULL);
    n += mkframe(buf + n, cap - n, 0x1A2B, TL_OP_REQUEST, 0, 0x0102030405060708ull,
                 "Content-Type:application/json\r\nJob-ID:12345\r\n", "{\"a\":1}");
    n += mkframe(buf + n, cap - n, 0x1A2B, TL_OP_SIGNAL, 0, 1000, NULL, NULL);
    n += mkframe(buf + n, cap - n, 0x1A2B, TL_OP_REQUEST | TL_PROTO_MORE, 0, 77, NULL, "chunk-1");
    char big[400];
    memset(big, 'Q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    n += mkframe(buf + n, cap - n, 0x1A2B, TL_OP_REQUEST, 0, 77, big, big);
    n += mkframe(buf + n, cap - n, 0x1A2B, TL_OP_BYE_REQUEST, 0, 7, NULL, NULL);
    return n;
}

typedef struct {
    uint8_t hdr[TL_HEADER_SIZE]; /* encoded, channel replaced by a tag */
    size_t text_len, body_len;
    uint8_t text[512];
    uint8_t body[512];
} snap;

static void take_snap(snap *s, const tl_message *m, uint16_t tag)
{
    memset(s, 0, sizeof *s);
    tl_header h = m->hdr;
    h.channel = tag;
    tl_header_encode(&h, s->hdr);
    assert_int_equal(m->text.len, m->hdr.thl);
    assert_int_equal(m->body.len, m->hdr.bl);
    s->text_len = m->text.len;
    s->body_len = m->body.len;
    memcpy(s->text, m->text.data, m->text.len < 512 ? m->text.len : 512);
    memcpy(s->body, m->body.data, m->body.len < 512 ? m->body.len : 512);
}

static size_t drain_snaps(uint16_t s, snap *out, size_t max)
{
    size_t k = 0;
    tl_message *m;
    while ((m = pair_recv(&net, 1)) != NULL) {
        assert_true(k < max);
        assert_int_equal(m->hdr.channel, s);
        take_snap(&out[k], m, 0);
        pair_put(&net, 1, &m);
        k++;
    }
    return k;
}

static void test_engine_frames_split_at_every_byte_identical(void **state)
{
    (void)state;
    static uint8_t stream[4096];
    static snap ref[8], got[8];
    size_t len = sample_stream(stream, sizeof stream);
    pair_init(&net, 2, NULL);
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    /* Reference: whole. */
    pair_conn *c = pair_raw_connect(&net, 1, l);
    uint16_t s = c->ch[1];
    pair_inject(c, 1, stream, len);
    pair_run(&net);
    size_t nref = drain_snaps(s, ref, 8);
    assert_int_equal(nref, 6);
    assert_int_equal(ref[1].hdr[11], 0x08);
    assert_int_equal(ref[3].hdr[2], 0x20);
    assert_int_equal(ref[4].body_len, 399);
    /* Every split point on one channel: the stream repeated. */
    for (size_t k = 0; k <= len; k++) {
        pair_inject(c, 1, stream, k);
        pair_run(&net);
        pair_inject(c, 1, stream + k, len - k);
        pair_run(&net);
        size_t n = drain_snaps(s, got, 8);
        assert_int_equal(n, nref);
        assert_memory_equal(got, ref, sizeof(snap) * nref);
    }
    /* One byte per call, and random splits. */
    pair_set_chunk(&net, PAIR_CHUNK_ONE, 1, 0);
    pair_inject(c, 1, stream, len);
    pair_run(&net);
    assert_int_equal(drain_snaps(s, got, 8), nref);
    assert_memory_equal(got, ref, sizeof(snap) * nref);
    for (uint64_t seed = 1; seed <= 20; seed++) {
        pair_set_chunk(&net, PAIR_CHUNK_RANDOM, 1 + seed * 5, seed);
        pair_inject(c, 1, stream, len);
        pair_run(&net);
        assert_int_equal(drain_snaps(s, got, 8), nref);
        assert_memory_equal(got, ref, sizeof(snap) * nref);
    }
    assert_true(channel_open(1, s));
    assert_int_equal(stats(1).frames_in, nref * (len + 1 + 1 + 20 + 1));
    pair_free(&net);
}

static void test_engine_many_frames_in_one_chunk_all_delivered(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t s;
    pair_conn *c = raw_client(ADDR, 1, &s, NULL);
    (void)c;
    enum { N = 200 };
    static uint8_t buf[N * 40];
    size_t len = 0;
    for (int i = 0; i < N; i++) {
        char body[16];
        snprintf(body, sizeof body, "m%d", i);
        len += mkframe(buf + len, sizeof buf - len, 0x1A2B, TL_OP_SIGNAL, 0, (uint64_t)(i + 1), NULL, body);
    }
    size_t used = 0;
    /* The pool grows only as the app puts back: receive in batches. */
    size_t off = 0;
    int got = 0;
    while (off < len) {
        assert_int_equal(tl_engine_input(E(1), s, buf + off, len - off, &used), TL_OK);
        pair_check(&net);
        off += used;
        tl_message *m;
        while ((m = pair_recv(&net, 1)) != NULL) {
            if (tl_proto_origin_engine(m->hdr.proto)) {
                assert_int_equal(m->hdr.status, TL_STATUS_POOL_EMPTY);
            } else {
                char body[16];
                snprintf(body, sizeof body, "m%d", got);
                assert_int_equal(m->hdr.message_id, (uint64_t)got + 1);
                assert_body(m, body);
                got++;
            }
            pair_put(&net, 1, &m);
        }
    }
    assert_int_equal(got, N);
    /* With a pool big enough, one call takes them all. */
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.pool_initial = N + 8;
    o.pool_max = N + 8;
    pair_free(&net);
    pair_init(&net, 2, &o);
    c = raw_client(ADDR, 1, &s, NULL);
    assert_int_equal(tl_engine_input(E(1), s, buf, len, &used), TL_OK);
    pair_check(&net);
    assert_int_equal(used, len);
    assert_int_equal(pair_pending(&net, 1), N);
    for (int i = 0; i < N; i++) {
        pair_expect_put(&net, 1, TL_OP_SIGNAL, 0, 0, s, i + 1);
    }
    pair_free(&net);
}

static void exchange(pair_chunk_mode mode, size_t chunk, uint64_t seed, snap *out, size_t *nout)
{
    pair_init(&net, 2, NULL);
    pair_set_chunk(&net, mode, chunk, seed);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    char big[1500];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 5; i++) {
        tl_message *m = pair_msg(&net, 0, TL_OP_REQUEST, cc, (uint64_t)(50 + i), i == 2 ? big : "hello");
        assert_int_equal(tl_msg_add_header(m, "Idx", i % 2 ? "odd" : "even"), TL_OK);
        assert_int_equal(pair_post(&net, 0, &m, NULL), TL_OK);
    }
    pair_send(&net, 0, TL_OP_SIGNAL, cc, 0, NULL);
    pair_run(&net);
    size_t k = 0;
    tl_message *m;
    while ((m = pair_recv(&net, 1)) != NULL) {
        assert_true(k < 8);
        take_snap(&out[k], m, m->hdr.channel == sc ? 1 : 0);
        pair_put(&net, 1, &m);
        k++;
    }
    *nout = k;
    pair_free(&net);
}

static void test_engine_engine_to_engine_any_chunking_identical(void **state)
{
    (void)state;
    static snap ref[8], got[8];
    size_t nref, n;
    exchange(PAIR_CHUNK_ALL, 0, 0, ref, &nref);
    assert_int_equal(nref, 6);
    assert_int_equal(ref[2].body_len, 1499);
    exchange(PAIR_CHUNK_ONE, 1, 0, got, &n);
    assert_int_equal(n, nref);
    assert_memory_equal(got, ref, sizeof(snap) * n);
    for (uint64_t seed = 1; seed <= 10; seed++) {
        exchange(PAIR_CHUNK_RANDOM, 3 + seed * 11, seed, got, &n);
        assert_int_equal(n, nref);
        assert_memory_equal(got, ref, sizeof(snap) * n);
    }
    exchange(PAIR_CHUNK_FIXED, 16, 0, got, &n);
    assert_int_equal(n, nref);
    assert_memory_equal(got, ref, sizeof(snap) * n);
}

static void test_engine_receive_over_limits_closes_with_length_status(void **state)
{
    (void)state;
    tl_engine_options o[2];
    memset(o, 0, sizeof o);
    o[0].seed = 1;
    o[1].seed = 2;
    o[1].max_text = 8;
    o[1].max_body = 10;
    pair_init_each(&net, 2, o);
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    static const struct {
        const char *text, *body;
        tl_status st;
        pair_chunk_mode mode;
    } cases[] = {
        {"123456789", NULL, TL_STATUS_INVALID_HEADERS_LEN, PAIR_CHUNK_ALL},
        {NULL, "12345678901", TL_STATUS_INVALID_BODY_LEN, PAIR_CHUNK_ALL},
        {"123456789", "12345678901", TL_STATUS_INVALID_HEADERS_LEN, PAIR_CHUNK_ALL},
        {"123456789", NULL, TL_STATUS_INVALID_HEADERS_LEN, PAIR_CHUNK_ONE},
        {NULL, "12345678901", TL_STATUS_INVALID_BODY_LEN, PAIR_CHUNK_ONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pair_set_chunk(&net, cases[i].mode, 1, 0);
        pair_conn *c = pair_raw_connect(&net, 1, l);
        uint16_t s = c->ch[1];
        /* Exactly at the limits passes. */
        inject_frame(c, 1, TL_OP_REQUEST, 0, 5, "12345678", "1234567890");
        pair_run(&net);
        pair_expect_put(&net, 1, TL_OP_REQUEST, 0, 0, s, 5);
        pair_set_stalled(&net, 1, s, 1);
        uint64_t q = pair_send(&net, 1, TL_OP_SIGNAL, s, 0, NULL);
        inject_frame(c, 1, TL_OP_REQUEST, 0, 6, cases[i].text, cases[i].body);
        pair_run(&net);
        pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, (int)cases[i].st, s, (int64_t)q);
        pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, s, 5);
        pair_expect_none(&net, 1);
        assert_false(channel_open(1, s));
    }
    pair_free(&net);
}

static void test_engine_listener_transport_error_signal_closed_only(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    /* A poller error on the listening socket (6.3 step 5). */
    pair_transport_closed(&net, 1, l, TL_STATUS_ACCEPT_FAILED);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, l, (int64_t)wid);
    pair_expect_none(&net, 1);
    pair_run(&net);
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 1, l), 1);
    uint16_t x;
    assert_int_equal(tl_engine_accepted(E(1), l, &x), TL_E_STATE);
    pair_check(&net);
    pair_free(&net);
}

static void test_engine_abort_while_connecting_hello_request_returned_closed(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    net.hold_connects = 1;
    uint64_t hid;
    uint16_t c = pair_connect(&net, 0, ADDR, &hid);
    uint64_t r = pair_send(&net, 0, TL_OP_REQUEST, c, 0, NULL);
    pair_run(&net);
    abort_channel(0, c);
    pair_expect_put(&net, 0, TL_OP_HELLO_REQUEST, 1, TL_STATUS_CHANNEL_CLOSED, c, (int64_t)hid);
    pair_expect_put(&net, 0, TL_OP_REQUEST, 1, TL_STATUS_CHANNEL_CLOSED, c, (int64_t)r);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, c, (int64_t)hid);
    pair_expect_none(&net, 0);
    pair_run(&net);
    assert_int_equal(pair_count_cmds(&net, 0, TL_CMD_CLOSE, 1, c), 1);
    /* The host's late answer is refused. */
    assert_int_equal(tl_engine_connect_result(E(0), c, TL_STATUS_SUCCESS, 0), TL_E_STATE);
    pair_check(&net);
    /* Abort of a listener whose LISTEN is still unanswered. */
    uint64_t wid;
    tl_message *m = pair_get(&net, 1);
    assert_int_equal(tl_msg_set_address(m, TL_OP_WELCOME_REQUEST, ADDR), TL_OK);
    tl_post_out out;
    assert_int_equal(pair_post(&net, 1, &m, &out), TL_OK);
    uint16_t l = out.hdr.channel;
    wid = out.hdr.message_id;
    abort_channel(1, l);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, l, (int64_t)wid);
    pair_expect_none(&net, 1);
    pair_run(&net); /* LISTEN then CLOSE reach the host in that order */
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 1, l), 1);
    pair_free(&net);
}

typedef struct {
    int host_work;
    int delivered[4];
} cb_count;

static void cb_host_work(void *ctx) { ((cb_count *)ctx)->host_work++; }

static void cb_deliver(void *ctx, uint32_t group)
{
    assert_true(group >= 1 && group < 4);
    ((cb_count *)ctx)->delivered[group]++;
}

static void test_engine_callbacks_report_commands_and_deliveries(void **state)
{
    (void)state;
    static cb_count k[2];
    memset(k, 0, sizeof k);
    tl_engine_options o[2];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 2; i++) {
        o[i].seed = (uint64_t)i + 1;
        o[i].on_host_work = cb_host_work;
        o[i].on_deliver = cb_deliver;
        o[i].cb_ctx = &k[i];
    }
    pair_init_each(&net, 2, o);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    /* Node 1: WelcomeResponse, HelloRequest; node 0: HelloResponse. */
    assert_int_equal(k[1].delivered[1], 2);
    assert_int_equal(k[0].delivered[1], 1);
    assert_int_equal((size_t)k[0].host_work, pair_count_cmds(&net, 0, TL_CMD_IO, ANY, 0) +
                                                 pair_count_cmds(&net, 0, TL_CMD_CONNECT, ANY, 0));
    assert_true(k[1].host_work >= 2);
    assert_int_equal(tl_engine_update_receiver(E(0), G(0), NULL), TL_OK);
    assert_int_equal(k[0].delivered[1], 2);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_RECEIVER_UPDATE, 0, 0);
    pair_free(&net);
}

static void test_engine_output_done_past_offer_rejected_state_kept(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    uint16_t cc, sc;
    pair_handshake(&net, ADDR, &cc, &sc);
    pair_set_stalled(&net, 0, cc, 1);
    pair_send(&net, 0, TL_OP_BYE_REQUEST, cc, 0, NULL);
    pair_send(&net, 0, TL_OP_REQUEST, cc, 0, "behind");
    tl_iov iov[8];
    assert_int_equal(tl_engine_output(E(0), cc, iov, 8), 1); /* the ByeRequest only */
    assert_int_equal(iov[0].len, 16);
    assert_int_equal(tl_engine_output_done(E(0), cc, 16 + 16 + 6), TL_E_INVAL);
    pair_check(&net);
    assert_int_equal(tl_engine_output_done(E(0), cc, 17), TL_E_INVAL);
    pair_check(&net);
    assert_int_equal(tl_engine_output(E(0), cc, iov, 8), 1);
    assert_int_equal(iov[0].len, 16);
    assert_int_equal(tl_engine_output_done(E(0), cc, 10), TL_OK);
    pair_check(&net);
    assert_int_equal(tl_engine_output_done(E(0), cc, 7), TL_E_INVAL);
    pair_check(&net);
    assert_int_equal(tl_engine_output_done(E(0), cc, 6), TL_OK);
    pair_check(&net);
    assert_int_equal(tl_engine_output(E(0), cc, iov, 8), 0);
    assert_int_equal(tl_engine_output_done(E(0), cc, 1), TL_E_INVAL);
    assert_int_equal(tl_engine_output_done(E(0), cc, 0), TL_OK);
    pair_check(&net);
    /* A channel still connecting takes nothing either. */
    net.hold_connects = 1;
    uint16_t c2 = pair_connect(&net, 0, ADDR, NULL);
    assert_int_equal(tl_engine_output(E(0), c2, iov, 8), 0);
    assert_int_equal(tl_engine_output_done(E(0), c2, 1), TL_E_INVAL);
    pair_check(&net);
    pair_free(&net);
}

/* ================================================= host interface */

static void test_engine_io_state_and_commands_reflect_channel(void **state)
{
    (void)state;
    pair_init(&net, 2, NULL);
    tl_io_state io;
    assert_int_equal(tl_engine_io_state(E(0), 1, &io), TL_E_NOT_FOUND);
    net.hold_connects = 1;
    uint64_t hid;
    uint16_t c = pair_connect(&net, 0, ADDR, &hid);
    tl_command cmd;
    assert_int_equal(tl_engine_next_command(E(0), &cmd), 1);
    pair_check(&net);
    assert_int_equal(cmd.kind, TL_CMD_CONNECT);
    assert_int_equal(cmd.channel, c);
    assert_int_equal(cmd.addr.kind, TL_ADDR_TCP);
    assert_string_equal(cmd.addr.host, "127.0.0.1");
    assert_int_equal(cmd.addr.port, 7099);
    assert_int_equal(tl_engine_next_command(E(0), &cmd), 0);
    assert_int_equal(tl_engine_io_state(E(0), c, &io), TL_OK);
    assert_true(io.connecting);
    assert_false(io.is_listener);
    assert_int_equal(tl_engine_connect_result(E(0), c, TL_STATUS_SUCCESS, 0), TL_OK);
    pair_check(&net);
    assert_int_equal(tl_engine_connect_result(E(0), c, TL_STATUS_SUCCESS, 0), TL_E_STATE);
    assert_int_equal(tl_engine_next_command(E(0), &cmd), 1);
    assert_int_equal(cmd.kind, TL_CMD_IO);
    assert_int_equal(tl_engine_io_state(E(0), c, &io), TL_OK);
    assert_int_equal(io.out_pending, 16 + 32);
    assert_true(io.want_read);
    /* Output in two pieces. */
    tl_iov iov[4];
    int k = tl_engine_output(E(0), c, iov, 4);
    assert_int_equal(k, 2);
    assert_int_equal(iov[0].len, 16);
    assert_int_equal(iov[1].len, 32);
    assert_int_equal(tl_engine_output_done(E(0), c, 10), TL_OK);
    pair_check(&net);
    k = tl_engine_output(E(0), c, iov, 4);
    assert_int_equal(k, 2);
    assert_int_equal(iov[0].len, 6);
    assert_int_equal(tl_engine_output(E(0), c, iov, 1), 1);
    assert_int_equal(tl_engine_output_done(E(0), c, 39), TL_E_INVAL); /* more than queued */
    assert_int_equal(tl_engine_output_done(E(0), c, 38), TL_OK);
    pair_check(&net);
    assert_int_equal(tl_engine_io_state(E(0), c, &io), TL_OK);
    assert_int_equal(io.out_pending, 0);
    assert_int_equal(tl_engine_output(E(0), c, iov, 4), 0);
    assert_int_equal(stats(0).frames_out, 1);
    assert_int_equal(stats(0).bytes_out, 48);
    /* Host calls on unknown channels. */
    size_t used;
    assert_int_equal(tl_engine_input(E(0), 9, (const uint8_t *)"x", 1, &used), TL_E_NOT_FOUND);
    assert_int_equal(tl_engine_transport_closed(E(0), 9, TL_STATUS_RECV_FAILED), TL_E_NOT_FOUND);
    assert_int_equal(tl_engine_listen_result(E(0), c, TL_STATUS_SUCCESS), TL_E_STATE);
    uint16_t out;
    assert_int_equal(tl_engine_accepted(E(0), c, &out), TL_E_STATE);
    pair_check(&net);
    /* Drain what is left and close. */
    while (tl_engine_next_command(E(0), &cmd)) {
    }
    abort_channel(0, c);
    pair_expect_put(&net, 0, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, c, (int64_t)hid);
    assert_int_equal(tl_engine_next_command(E(0), &cmd), 1);
    assert_int_equal(cmd.kind, TL_CMD_CLOSE);
    assert_int_equal(cmd.channel, c);
    assert_true(cmd.reset);
    assert_false(cmd.listener);
    assert_int_equal(tl_engine_next_command(E(0), &cmd), 0);
    pair_free(&net);
}

/* ================================== protection against hostile peers */

typedef struct {
    tl_violation v[16];
    size_t n;
} violation_log;

static violation_log vlog;

static void record_violation(void *ctx, const tl_violation *v)
{
    violation_log *l = ctx;
    if (l->n < sizeof l->v / sizeof l->v[0]) {
        l->v[l->n] = *v;
    }
    l->n++;
}

/* Server node 1 with the given protection, node 0 plain; violations go to vlog. */
static void init_protected(const tl_engine_options *server)
{
    tl_engine_options o[2];
    memset(o, 0, sizeof o);
    o[0].seed = 1;
    o[1] = *server;
    o[1].seed = 2;
    o[1].on_violation = record_violation;
    o[1].cb_ctx = &vlog;
    memset(&vlog, 0, sizeof vlog);
    pair_init_each(&net, 2, o);
}

/* A listener on node 1 and its channel. */
static uint16_t protected_listener(void)
{
    uint64_t wid;
    uint16_t l = pair_listen(&net, 1, ADDR, &wid);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_WELCOME_RESPONSE, 0, 0, l, (int64_t)wid);
    return l;
}

/* The channel was closed for rule: the app got channel_closed, the host a
 * CLOSE with reset, the violation was reported and counted once. */
static void expect_closed_for(uint16_t sc, tl_rule rule, int64_t first_id)
{
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, first_id);
    pair_expect_none(&net, 1);
    assert_false(channel_open(1, sc));
    pair_run(&net);
    assert_int_equal(pair_count_cmds(&net, 1, TL_CMD_CLOSE, 1, sc), 1);
    assert_int_equal(vlog.n, 1);
    assert_int_equal(vlog.v[0].rule, rule);
    assert_int_equal(vlog.v[0].channel, sc);
    assert_int_equal(stats(1).violations[rule], 1);
}

static void test_engine_handshake_timeout_closes_channel_without_hello(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.handshake_timeout_ns = 1000;
    init_protected(&o);
    pair_tick(&net, 100);
    uint16_t l = protected_listener();
    assert_int_equal(tl_engine_next_deadline(E(1)), UINT64_MAX); /* a listener has none */
    pair_conn *c = pair_raw_connect(&net, 1, l);
    pair_run(&net);
    uint16_t sc = c->ch[1];
    assert_int_equal(tl_engine_next_deadline(E(1)), 1100);
    /* Data before a HelloRequest (A14) is delivered, but does not count. */
    inject_frame(c, 0x1A2B, TL_OP_SIGNAL, 0, 5, NULL, "early");
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 0, 0, sc, 5);
    pair_tick(&net, 1099);
    assert_true(channel_open(1, sc));
    assert_int_equal(vlog.n, 0);
    pair_tick(&net, 1100);
    expect_closed_for(sc, TL_RULE_HANDSHAKE_TIMEOUT, 5);
    assert_int_equal(vlog.v[0].reason, TL_STATUS_CHANNEL_CLOSED);
    assert_int_equal(vlog.v[0].value, 1000);
    assert_int_equal(vlog.v[0].limit, 1000);
    char line[160];
    tl_violation_format(&vlog.v[0], line, sizeof line);
    assert_string_equal(line, "no HelloRequest within 1000 ns of the accept (handshake timeout)");
    assert_int_equal(tl_engine_next_deadline(E(1)), UINT64_MAX);
    pair_free(&net);
}

static void test_engine_handshake_timeout_stopped_by_hello_request(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.handshake_timeout_ns = 1000;
    init_protected(&o);
    uint16_t sc;
    raw_client(ADDR, 7, &sc, NULL);
    assert_int_equal(tl_engine_next_deadline(E(1)), UINT64_MAX);
    pair_tick(&net, 1000000);
    assert_true(channel_open(1, sc));
    assert_int_equal(vlog.n, 0);
    assert_int_equal(stats(1).violations[TL_RULE_HANDSHAKE_TIMEOUT], 0);
    pair_free(&net);
}

static void test_engine_protection_off_by_default_nothing_closes(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    init_protected(&o);
    uint16_t l = protected_listener();
    pair_conn *idle = pair_raw_connect(&net, 1, l);
    pair_conn *half = pair_raw_connect(&net, 1, l);
    pair_run(&net);
    uint8_t hdr[TL_HEADER_SIZE];
    tl_header h = {1, TL_OP_REQUEST, 0, 9, 0, 65535};
    tl_header_encode(&h, hdr);
    pair_inject(half, 1, hdr, sizeof hdr);
    pair_run(&net);
    assert_int_equal(tl_engine_next_deadline(E(1)), UINT64_MAX);
    pair_tick(&net, UINT64_MAX / 2);
    assert_true(channel_open(1, idle->ch[1]));
    assert_true(channel_open(1, half->ch[1]));
    assert_int_equal(vlog.n, 0);
    /* tofu's pool semantics: the half frame holds a pool message (6.15). */
    assert_int_equal(stats(1).pool_now, 15);
    tl_io_state io;
    assert_int_equal(tl_engine_io_state(E(1), half->ch[1], &io), TL_OK);
    assert_true(io.read_max == SIZE_MAX);
    pair_free(&net);
}

static void test_engine_idle_timeout_restarted_by_traffic_both_ways(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.idle_timeout_ns = 1000;
    init_protected(&o);
    uint16_t sc;
    pair_conn *c = raw_client(ADDR, 7, &sc, NULL); /* at time 0 */
    assert_int_equal(tl_engine_next_deadline(E(1)), 1000);
    pair_tick(&net, 900);
    inject_frame(c, 0x1A2B, TL_OP_REQUEST, 0, 8, NULL, "in");
    pair_run(&net); /* received at 900 */
    tl_message *m = pair_expect(&net, 1, TL_OP_REQUEST, 0, 0, sc, 8);
    pair_tick(&net, 1000); /* the first deadline passes: re-keyed, not fired */
    assert_true(channel_open(1, sc));
    assert_int_equal(tl_engine_next_deadline(E(1)), 1900);
    pair_tick(&net, 1800);
    tl_msg_set_opcode(m, TL_OP_RESPONSE);
    assert_int_equal(pair_post(&net, 1, &m, NULL), TL_OK);
    pair_run(&net); /* sent at 1800 */
    pair_tick(&net, 2700);
    assert_true(channel_open(1, sc));
    assert_int_equal(vlog.n, 0);
    pair_tick(&net, 2800);
    expect_closed_for(sc, TL_RULE_IDLE_TIMEOUT, 7);
    assert_int_equal(vlog.v[0].value, 1000);
    pair_free(&net);
}

static void test_engine_frame_timeout_closes_incomplete_frame_only(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.frame_timeout_ns = 1000;
    init_protected(&o);
    uint16_t sc;
    pair_conn *c = raw_client(ADDR, 7, &sc, NULL);
    assert_int_equal(tl_engine_next_deadline(E(1)), UINT64_MAX); /* nothing incomplete */
    /* Frames completed within the timeout, byte by byte, with long silences
     * between them (no incomplete frame, no timer). */
    uint8_t f[64];
    size_t n = mkframe(f, sizeof f, 0x1A2B, TL_OP_SIGNAL, 0, 8, NULL, "ok");
    uint64_t t = 0;
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < n; i++) {
            pair_inject(c, 1, f + i, 1);
            pair_run(&net);
            t += 50;
            pair_tick(&net, t);
            assert_true(channel_open(1, sc));
        }
        pair_expect_put(&net, 1, TL_OP_SIGNAL, 0, 0, sc, 8);
        assert_int_equal(tl_engine_next_deadline(E(1)), UINT64_MAX);
        t += 100000;
        pair_tick(&net, t);
        assert_true(channel_open(1, sc));
    }
    /* A header promising 100 bytes, then 10 of them, then silence. */
    tl_header h = {1, TL_OP_REQUEST, 0, 9, 0, 100};
    uint8_t buf[TL_HEADER_SIZE + 10] = {0};
    tl_header_encode(&h, buf);
    pair_inject(c, 1, buf, sizeof buf);
    pair_run(&net); /* at t */
    assert_int_equal(tl_engine_next_deadline(E(1)), t + 1000);
    pair_tick(&net, t + 999);
    assert_true(channel_open(1, sc));
    pair_tick(&net, t + 1000);
    expect_closed_for(sc, TL_RULE_FRAME_TIMEOUT, 7);
    assert_int_equal(vlog.v[0].received, 48 + 2 * n + sizeof buf);
    char line[160];
    tl_violation_format(&vlog.v[0], line, sizeof line);
    assert_non_null(strstr(line, "partial-frame timeout"));
    pair_free(&net);
}

static void test_engine_violation_opcode_names_offset_and_value(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.max_body = 100;
    init_protected(&o);
    uint16_t sc;
    pair_conn *c = raw_client(ADDR, 7, &sc, NULL); /* 48 bytes of HelloRequest */
    inject_frame(c, 0x1A2B, 0x0A, 0, 8, NULL, NULL);
    pair_run(&net);
    expect_closed_for(sc, TL_RULE_OPCODE, 7);
    assert_int_equal(vlog.v[0].reason, TL_STATUS_INVALID_OP_CODE);
    assert_int_equal(vlog.v[0].offset, 48 + 2);
    assert_int_equal(vlog.v[0].value, 10);
    assert_int_equal(stats(1).invalid_opcodes, 1);
    char line[160];
    tl_violation_format(&vlog.v[0], line, sizeof line);
    assert_string_equal(line, "op code 10 at byte 50 is undefined, 0-9 are (undefined op code)");
    /* Over the body limit: named with the field's offset and the limit. */
    memset(&vlog, 0, sizeof vlog);
    c = raw_client("tcp|127.0.0.1|7100", 9, &sc, NULL);
    inject_frame(c, 0x1A2B, TL_OP_REQUEST, 0, 8, NULL,
                 "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"
                 "1234567890");
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, sc, 9);
    assert_int_equal(vlog.n, 1);
    assert_int_equal(vlog.v[0].rule, TL_RULE_BODY_LEN);
    tl_violation_format(&vlog.v[0], line, sizeof line);
    assert_string_equal(line, "bl 101 at byte 62 is over the limit 100 (body over the limit)");
    pair_free(&net);
}

/* The pool is shared fairly: with rx_budget, incomplete frames hold no pool
 * message, so peers stalling mid-frame cannot starve a well-behaved one. */
static void test_engine_rx_budget_partial_frames_cannot_empty_pool(void **state)
{
    (void)state;
    for (int budget = 0; budget <= 1; budget++) {
        tl_engine_options o;
        memset(&o, 0, sizeof o);
        o.pool_initial = 4;
        o.pool_max = 4;
        o.rx_budget = budget ? 1u << 20 : 0;
        init_protected(&o);
        uint16_t l = protected_listener();
        pair_conn *stall[6];
        uint8_t buf[TL_HEADER_SIZE + 1000];
        memset(buf, 'x', sizeof buf);
        tl_header h = {1, TL_OP_REQUEST, 0, 9, 0, 60000};
        tl_header_encode(&h, buf);
        for (int i = 0; i < 6; i++) {
            stall[i] = pair_raw_connect(&net, 1, l);
            pair_inject(stall[i], 1, buf, i % 2 ? TL_HEADER_SIZE : sizeof buf); /* header, or 1000 of 60000 */
        }
        pair_run(&net);
        pair_conn *good = pair_raw_connect(&net, 1, l);
        inject_frame(good, 0x1A2B, TL_OP_HELLO_REQUEST, 0, 3, "~connect_to:" ADDR "\r\n", NULL);
        inject_frame(good, 0x1A2B, TL_OP_REQUEST, 0, 4, NULL, "served");
        pair_run(&net);
        if (budget) {
            assert_int_equal(stats(1).pool_empty_episodes, 0);
            pair_expect_put(&net, 1, TL_OP_HELLO_REQUEST, 0, 0, good->ch[1], 3);
            pair_expect_put(&net, 1, TL_OP_REQUEST, 0, 0, good->ch[1], 4);
            assert_int_equal(stats(1).rx_buffered_now, 3 * TL_HEADER_SIZE + 3 * sizeof buf);
            assert_int_equal(stats(1).pool_now, 4);
        } else {
            /* tofu's way: the stalled peers hold the four messages. */
            assert_true(stats(1).pool_empty_episodes >= 1);
            assert_int_equal(stats(1).pool_now, 0);
            pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_POOL_EMPTY, ANY, 0);
        }
        for (int i = 0; i < 6; i++) {
            assert_true(channel_open(1, stall[i]->ch[1]));
        }
        pair_free(&net);
    }
}

static void test_engine_rx_budget_pauses_then_resumes_oldest_first(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.rx_budget = 100;
    o.rx_reserve = 50;
    init_protected(&o);
    uint16_t l = protected_listener();
    /* Three peers announce 300-byte bodies and send 200 bytes each. */
    uint8_t frame[3][TL_HEADER_SIZE + 300];
    pair_conn *p[3];
    for (int i = 0; i < 3; i++) {
        tl_header h = {1, TL_OP_REQUEST, 0, (uint64_t)(10 + i), 0, 300};
        memset(frame[i], 'a' + i, sizeof frame[i]);
        tl_header_encode(&h, frame[i]);
        p[i] = pair_raw_connect(&net, 1, l);
        pair_inject(p[i], 1, frame[i], 200);
        pair_run(&net);
    }
    /* p0 used its reserve and the budget, then took the overdraft (nobody
     * held it) and read on; p1 and p2 used their reserves and wait. */
    tl_engine_stats st = stats(1);
    assert_int_equal(st.rx_buffered_now, 200 + 50 + 50);
    assert_int_equal(st.rx_charged_now, 150);
    assert_int_equal(st.rx_overdrafts, 1);
    assert_int_equal(st.rx_budget_pauses, 2);
    tl_io_state io;
    assert_int_equal(tl_engine_io_state(E(1), p[0]->ch[1], &io), TL_OK);
    assert_true(io.want_read);
    assert_int_equal(io.read_max, SIZE_MAX);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(tl_engine_io_state(E(1), p[i]->ch[1], &io), TL_OK);
        assert_false(io.want_read);
    }
    /* The overdraft holder goes away: p1, the longest waiting, takes the
     * budget and then the overdraft; p2 still waits. */
    pair_raw_close(&net, p[0], 1);
    pair_run(&net);
    pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, p[0]->ch[1], 0);
    st = stats(1);
    assert_int_equal(st.rx_buffered_now, 200 + 50);
    assert_int_equal(st.rx_overdrafts, 2);
    assert_int_equal(tl_engine_io_state(E(1), p[2]->ch[1], &io), TL_OK);
    assert_false(io.want_read);
    /* p1 completes; then p2 gets its turn and completes. */
    pair_inject(p[1], 1, frame[1] + 200, sizeof frame[1] - 200);
    pair_inject(p[2], 1, frame[2] + 200, sizeof frame[2] - 200);
    pair_run(&net);
    tl_message *m = pair_expect(&net, 1, TL_OP_REQUEST, 0, 0, p[1]->ch[1], 11);
    assert_int_equal(m->body.len, 300);
    assert_memory_equal(m->body.data, frame[1] + TL_HEADER_SIZE, 300);
    pair_put(&net, 1, &m);
    m = pair_expect(&net, 1, TL_OP_REQUEST, 0, 0, p[2]->ch[1], 12);
    assert_memory_equal(m->body.data, frame[2] + TL_HEADER_SIZE, 300);
    pair_put(&net, 1, &m);
    st = stats(1);
    assert_int_equal(st.rx_buffered_now, 0);
    assert_int_equal(st.rx_charged_now, 0);
    assert_int_equal(st.rx_overdrafts, 3);
    /* never more than the budget, one frame beyond it and the reserves */
    assert_true(st.rx_buffered_peak <= 100 + 300 + 3 * 50);
    assert_int_equal(vlog.n, 0); /* waiting is not a violation */
    pair_free(&net);
}

static void test_engine_rx_budget_read_max_bounds_what_a_host_reads(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.rx_budget = 1000;
    o.rx_reserve = 100;
    o.pool_initial = 1;
    o.pool_max = 1;
    init_protected(&o);
    uint16_t sc;
    pair_conn *c = raw_client(ADDR, 7, &sc, NULL);
    (void)c;
    tl_io_state io;
    assert_int_equal(tl_engine_io_state(E(1), sc, &io), TL_OK);
    assert_true(io.want_read);
    assert_int_equal(io.read_max, 1100); /* reserve + budget */
    /* The app holds the only message: the pool is empty, reads shrink to a
     * reserve so that frames the core cannot take wait in the socket. */
    tl_message *held = pair_get(&net, 1);
    assert_int_equal(tl_engine_io_state(E(1), sc, &io), TL_OK);
    assert_int_equal(io.read_max, 100);
    pair_put(&net, 1, &held);
    pair_free(&net);
}

/* The app echoes whatever arrives; returns how many. */
static int echo_all(int node)
{
    int n = 0;
    pair_run(&net);
    tl_message *m;
    while ((m = pair_recv(&net, node)) != NULL) {
        tl_msg_set_opcode(m, TL_OP_RESPONSE);
        assert_int_equal(pair_post(&net, node, &m, NULL), TL_OK);
        n++;
    }
    pair_run(&net);
    return n;
}

static void test_engine_send_queue_limit_stops_reading_until_peer_reads(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.max_send_queue = 2000; /* three messages with 256 + 256 bytes of buffers fit, four do not */
    init_protected(&o);
    uint16_t sc;
    pair_conn *c = raw_client(ADDR, 7, &sc, NULL);
    pair_set_stalled(&net, 1, sc, 1); /* the peer does not read */
    for (int i = 0; i < 4; i++) {
        inject_frame(c, 0x1A2B, TL_OP_REQUEST, 0, (uint64_t)(20 + i), NULL, "q");
    }
    assert_int_equal(echo_all(1), 4);
    tl_io_state io;
    assert_int_equal(tl_engine_io_state(E(1), sc, &io), TL_OK);
    assert_false(io.want_read);
    assert_int_equal(stats(1).send_queue_pauses, 1);
    for (int i = 4; i < 10; i++) {
        inject_frame(c, 0x1A2B, TL_OP_REQUEST, 0, (uint64_t)(20 + i), NULL, "q");
    }
    assert_int_equal(echo_all(1), 0); /* nothing read while the replies wait */
    /* The peer reads: everything flows again. */
    pair_set_stalled(&net, 1, sc, 0);
    int echoed = 4;
    for (int round = 0; round < 20 && echoed < 10; round++) {
        echoed += echo_all(1);
    }
    assert_int_equal(echoed, 10);
    tl_header hs[16];
    assert_int_equal(wire_frames(1, sc, 1, hs, 16), 10);
    assert_int_equal(vlog.n, 0);
    pair_free(&net);
}

/* After its ByeResponse the responder never sends again (6.6) but keeps
 * reading; a peer that goes on sending after its ByeRequest has its echoes
 * queued for good. Past max_send_queue the channel would neither read nor
 * write (its peer's close unseen, its socket held): it is closed instead. */
static void test_engine_send_queue_after_bye_over_limit_closes_channel(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.max_send_queue = 2000; /* two queued echoes (~700 bytes each with their buffers) fit, three do not */
    init_protected(&o);
    uint16_t sc;
    pair_conn *c = raw_client(ADDR, 7, &sc, NULL);
    inject_frame(c, 0x1A2B, TL_OP_BYE_REQUEST, 0, 8, NULL, NULL);
    pair_run(&net);
    tl_message *bye = pair_expect(&net, 1, TL_OP_BYE_REQUEST, 0, 0, sc, 8);
    tl_msg_set_opcode(bye, TL_OP_BYE_RESPONSE);
    assert_int_equal(pair_post(&net, 1, &bye, NULL), TL_OK);
    pair_run(&net);
    tl_header hs[4];
    assert_int_equal(wire_frames(1, sc, 1, hs, 4), 1); /* the ByeResponse left */
    for (int i = 0; i < 3; i++) {
        inject_frame(c, 0x1A2B, TL_OP_REQUEST, 0, (uint64_t)(20 + i), NULL, "q");
    }
    pair_run(&net);
    tl_message *req[3];
    for (int i = 0; i < 3; i++) {
        req[i] = pair_expect(&net, 1, TL_OP_REQUEST, 0, 0, sc, 20 + i);
        tl_msg_set_opcode(req[i], TL_OP_RESPONSE);
    }
    tl_io_state io;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pair_post(&net, 1, &req[i], NULL), TL_OK);
        pair_run(&net);
        assert_int_equal(tl_engine_io_state(E(1), sc, &io), TL_OK);
        assert_true(io.want_read); /* within the limit: receiving continues (6.6) */
        assert_int_equal(io.out_pending, 0);
    }
    assert_int_equal(vlog.n, 0);
    assert_int_equal(pair_post(&net, 1, &req[2], NULL), TL_OK); /* accepted, then returned */
    for (int i = 0; i < 3; i++) {
        pair_expect_put(&net, 1, TL_OP_RESPONSE, 1, TL_STATUS_CHANNEL_CLOSED, sc, 20 + i);
    }
    expect_closed_for(sc, TL_RULE_SEND_AFTER_BYE, 7);
    assert_int_equal(vlog.v[0].reason, TL_STATUS_CHANNEL_CLOSED);
    assert_int_equal(vlog.v[0].limit, 2000);
    assert_true(vlog.v[0].value > 2000);
    char line[200];
    tl_violation_format(&vlog.v[0], line, sizeof line);
    assert_non_null(strstr(line, "queued behind its bye frame, over the limit 2000: they can never be sent "
                                 "(send queue after bye)"));
    assert_int_equal(pair_wire_frames(c, 1, hs, 4, NULL), 1); /* nothing after the bye frame went out */
    pair_free(&net);
}

/* The same when the messages were queued before the bye frame left: the
 * write that completes it finds more than max_send_queue behind it. */
static void test_engine_send_queue_behind_bye_over_limit_closes_when_bye_leaves(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.max_send_queue = 2000;
    init_protected(&o);
    uint16_t sc;
    pair_conn *c = raw_client(ADDR, 7, &sc, NULL);
    pair_set_stalled(&net, 1, sc, 1); /* the peer does not read yet */
    inject_frame(c, 0x1A2B, TL_OP_BYE_REQUEST, 0, 8, NULL, NULL);
    for (int i = 0; i < 4; i++) {
        inject_frame(c, 0x1A2B, TL_OP_REQUEST, 0, (uint64_t)(20 + i), NULL, "q");
    }
    pair_run(&net);
    tl_message *bye = pair_expect(&net, 1, TL_OP_BYE_REQUEST, 0, 0, sc, 8);
    tl_msg_set_opcode(bye, TL_OP_BYE_RESPONSE);
    assert_int_equal(pair_post(&net, 1, &bye, NULL), TL_OK);
    for (int i = 0; i < 4; i++) {
        tl_message *m = pair_expect(&net, 1, TL_OP_REQUEST, 0, 0, sc, 20 + i);
        tl_msg_set_opcode(m, TL_OP_RESPONSE);
        assert_int_equal(pair_post(&net, 1, &m, NULL), TL_OK);
    }
    pair_run(&net);
    assert_int_equal(vlog.n, 0); /* the bye frame has not left: they may still go */
    assert_true(channel_open(1, sc));
    pair_set_stalled(&net, 1, sc, 0);
    pair_run(&net);
    for (int i = 0; i < 4; i++) {
        pair_expect_put(&net, 1, TL_OP_RESPONSE, 1, TL_STATUS_CHANNEL_CLOSED, sc, 20 + i);
    }
    expect_closed_for(sc, TL_RULE_SEND_AFTER_BYE, 7);
    tl_header hs[8];
    assert_int_equal(pair_wire_frames(c, 1, hs, 8, NULL), 1);
    assert_int_equal(hs[0].proto, TL_OP_BYE_RESPONSE);
    pair_free(&net);
}
/* Equal deadlines fire in channel creation order; earlier ones first. */
static void test_engine_timers_fire_earliest_first_ties_by_creation(void **state)
{
    (void)state;
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.handshake_timeout_ns = 1000;
    init_protected(&o);
    uint16_t l = protected_listener();
    pair_conn *a = pair_raw_connect(&net, 1, l);
    pair_conn *b = pair_raw_connect(&net, 1, l);
    pair_run(&net);
    pair_tick(&net, 10);
    pair_conn *c = pair_raw_connect(&net, 1, l);
    pair_run(&net);
    pair_tick(&net, 5000);
    assert_int_equal(vlog.n, 3);
    assert_int_equal(vlog.v[0].channel, a->ch[1]);
    assert_int_equal(vlog.v[1].channel, b->ch[1]);
    assert_int_equal(vlog.v[2].channel, c->ch[1]);
    assert_int_equal(vlog.v[2].value, 4990);
    assert_int_equal(stats(1).violations[TL_RULE_HANDSHAKE_TIMEOUT], 3);
    for (int i = 0; i < 3; i++) {
        pair_expect_put(&net, 1, TL_OP_SIGNAL, 1, TL_STATUS_CHANNEL_CLOSED, ANY, 0);
    }
    pair_free(&net);
}

/* Many peers, frames of random sizes sent in random slices, a budget far
 * smaller than their sum, a small pool and an application that holds
 * messages for a while: every frame still arrives, whole and in order per
 * connection (the budget never deadlocks), memory stays within budget +
 * one frame + the reserves, and the invariants hold after every call (the
 * pair driver checks them). */
static void test_engine_rx_budget_random_traffic_all_delivered_in_order(void **state)
{
    (void)state;
    enum { CONNS = 12, FRAMES = 6, MAXBODY = 400 };
    tl_engine_options o;
    memset(&o, 0, sizeof o);
    o.rx_budget = 300;
    o.rx_reserve = 20;
    o.pool_initial = 3;
    o.pool_max = 3;
    init_protected(&o);
    pair_set_chunk(&net, PAIR_CHUNK_RANDOM, 97, 0x5eed);
    uint16_t l = protected_listener();
    static uint8_t stream[CONNS][FRAMES * (TL_HEADER_SIZE + MAXBODY)];
    size_t len[CONNS] = {0}, sent[CONNS] = {0};
    int got[CONNS] = {0};
    pair_conn *c[CONNS];
    uint64_t rng = 0x1234567;
    for (int i = 0; i < CONNS; i++) {
        c[i] = pair_raw_connect(&net, 1, l);
        for (int f = 0; f < FRAMES; f++) {
            size_t bl = (size_t)(pair_xorshift(&rng) % MAXBODY);
            tl_header h = {1, TL_OP_REQUEST, 0, (uint64_t)(f + 1), 0, (uint16_t)bl};
            tl_header_encode(&h, stream[i] + len[i]);
            memset(stream[i] + len[i] + TL_HEADER_SIZE, 'a' + (i * FRAMES + f) % 26, bl);
            len[i] += TL_HEADER_SIZE + bl;
        }
    }
    pair_run(&net);
    tl_message *held[8];
    int nheld = 0;
    for (int round = 0; round < 5000; round++) {
        int i = (int)(pair_xorshift(&rng) % CONNS);
        if (sent[i] < len[i]) {
            size_t k = 1 + (size_t)(pair_xorshift(&rng) % 150);
            if (k > len[i] - sent[i]) {
                k = len[i] - sent[i];
            }
            pair_inject(c[i], 1, stream[i] + sent[i], k);
            sent[i] += k;
        }
        pair_run(&net);
        tl_message *m;
        while ((m = pair_recv(&net, 1)) != NULL) {
            if (tl_proto_origin_engine(m->hdr.proto)) {
                assert_int_equal(m->hdr.status, TL_STATUS_POOL_EMPTY);
                pair_put(&net, 1, &m);
                continue;
            }
            int who = -1;
            for (int k = 0; k < CONNS; k++) {
                who = c[k]->ch[1] == m->hdr.channel ? k : who;
            }
            assert_true(who >= 0);
            assert_int_equal(m->hdr.message_id, (uint64_t)(got[who] + 1)); /* in order */
            for (size_t b = 0; b < m->body.len; b++) {
                assert_int_equal(m->body.data[b], 'a' + (who * FRAMES + got[who]) % 26);
            }
            got[who]++;
            /* the application keeps a few for a while (starves the pool) */
            if (nheld < 2 && (pair_xorshift(&rng) & 1)) {
                held[nheld++] = m;
            } else {
                pair_put(&net, 1, &m);
            }
        }
        if (nheld > 0 && (pair_xorshift(&rng) % 4) == 0) {
            pair_put(&net, 1, &held[--nheld]);
        }
        int done = 1;
        for (int k = 0; k < CONNS; k++) {
            done &= got[k] == FRAMES;
        }
        if (done) {
            break;
        }
    }
    while (nheld > 0) {
        pair_put(&net, 1, &held[--nheld]);
    }
    pair_run(&net);
    for (int i = 0; i < CONNS; i++) {
        assert_int_equal(got[i], FRAMES);
        assert_true(channel_open(1, c[i]->ch[1]));
    }
    tl_engine_stats st = stats(1);
    print_message("    pauses %llu, overdrafts %llu, pool_empty %llu, peak %llu bytes\n",
                  (unsigned long long)st.rx_budget_pauses, (unsigned long long)st.rx_overdrafts,
                  (unsigned long long)st.pool_empty_episodes, (unsigned long long)st.rx_buffered_peak);
    assert_true(st.rx_budget_pauses > 0); /* the budget was tight */
    assert_int_equal(st.rx_buffered_now, 0);
    assert_true(st.rx_buffered_peak <= 300 + TL_HEADER_SIZE + MAXBODY + CONNS * 20);
    assert_int_equal(vlog.n, 0);
    pair_free(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_listener_started_welcome_response_origin_application),
        cmocka_unit_test(test_engine_listener_failed_welcome_response_then_signal_closed),
        cmocka_unit_test(test_engine_connect_failed_immediately_hello_response_then_signal_closed),
        cmocka_unit_test(test_engine_connect_failed_later_hello_request_connect_failed),
        cmocka_unit_test(test_engine_peer_reset_unsent_communication_failed),
        cmocka_unit_test(test_engine_peer_orderly_close_tcp_recv_failed),
        cmocka_unit_test(test_engine_peer_orderly_close_uds_communication_failed),
        cmocka_unit_test(test_engine_write_error_unsent_send_failed),
        cmocka_unit_test(test_engine_bye_response_received_initiator_closes_with_rst),
        cmocka_unit_test(test_engine_bye_responder_stops_sending_after_bye_response),
        cmocka_unit_test(test_engine_bye_simultaneous_requests_hang_by_default),
        cmocka_unit_test(test_engine_bye_simultaneous_requests_strict_bye_completes),
        cmocka_unit_test(test_engine_bye_strict_nothing_sent_after_bye_response),
        cmocka_unit_test(test_engine_bye_grace_timer_closes_responder),
        cmocka_unit_test(test_engine_output_bytes_cap_stops_after_frame_rest_follows),
        cmocka_unit_test(test_engine_large_body_in_pieces_delivered_intact),
        cmocka_unit_test(test_engine_large_body_stream_allocates_nothing_per_frame_once_warm),
        cmocka_unit_test(test_engine_local_abort_bye_signal_returned_nothing_transmitted),
        cmocka_unit_test(test_engine_pool_empty_one_signal_per_episode),
        cmocka_unit_test(test_engine_pool_empty_each_starving_channel_signalled),
        cmocka_unit_test(test_engine_update_receiver_null_signal_receiver_update),
        cmocka_unit_test(test_engine_update_receiver_msg_origin_application_status_21),
        cmocka_unit_test(test_engine_post_closed_channel_rejected_invalid_channel_number),
        cmocka_unit_test(test_engine_post_regular_to_listener_not_allowed),
        cmocka_unit_test(test_engine_post_welcome_response_not_allowed),
        cmocka_unit_test(test_engine_post_hello_welcome_nonzero_channel_invalid_channel_number),
        cmocka_unit_test(test_engine_group_destroyed_no_notifications_rst),
        cmocka_unit_test(test_engine_group_destroyed_wire_has_no_bye),
        cmocka_unit_test(test_engine_final_signal_client_hello_id_until_received),
        cmocka_unit_test(test_engine_final_signal_server_zero_until_first_frame),
        cmocka_unit_test(test_engine_final_signal_listener_welcome_id),
        cmocka_unit_test(test_engine_server_first_frame_channel_rewritten_rest_unchanged),
        cmocka_unit_test(test_engine_server_hello_response_matches_golden_v02),
        cmocka_unit_test(test_engine_frames_before_hello_response_sent_after_hello_request),
        cmocka_unit_test(test_engine_connect_timeout_connect_failed_shape),
        cmocka_unit_test(test_engine_receive_invalid_opcode_tears_down_invalid_op_code),
        cmocka_unit_test(test_engine_receive_origin_and_internal_bits_cleared_counted),
        cmocka_unit_test(test_engine_receive_bye_signal_frame_delivered_counted),
        cmocka_unit_test(test_engine_receive_after_bye_response_rest_dropped),
        cmocka_unit_test(test_engine_post_validation_rules_status_byte),
        cmocka_unit_test(test_engine_message_id_per_engine_from_one),
        cmocka_unit_test(test_engine_internal_bits_never_on_wire),
        cmocka_unit_test(test_engine_send_order_fifo),
        cmocka_unit_test(test_engine_channel_numbers_same_seed_same_numbers),
        cmocka_unit_test(test_engine_channel_numbers_in_range_not_active_not_recent),
        cmocka_unit_test(test_engine_channel_limit_rejects_hello),
        cmocka_unit_test(test_engine_pool_defaults_16_and_64),
        cmocka_unit_test(test_engine_stats_engine_now_tracks_app_held_messages),
        cmocka_unit_test(test_engine_pool_max_below_initial_raised_to_initial),
        cmocka_unit_test(test_engine_pool_only_get_on_empty_pool_again),
        cmocka_unit_test(test_engine_alloc_failure_sweep_no_crash_no_leak),
        cmocka_unit_test(test_engine_alloc_failure_sweep_split_input_no_leak),
        cmocka_unit_test(test_engine_alloc_failure_host_commands_never_lost),
        cmocka_unit_test(test_engine_frames_split_at_every_byte_identical),
        cmocka_unit_test(test_engine_many_frames_in_one_chunk_all_delivered),
        cmocka_unit_test(test_engine_engine_to_engine_any_chunking_identical),
        cmocka_unit_test(test_engine_io_state_and_commands_reflect_channel),
        cmocka_unit_test(test_engine_receive_over_limits_closes_with_length_status),
        cmocka_unit_test(test_engine_listener_transport_error_signal_closed_only),
        cmocka_unit_test(test_engine_abort_while_connecting_hello_request_returned_closed),
        cmocka_unit_test(test_engine_callbacks_report_commands_and_deliveries),
        cmocka_unit_test(test_engine_output_done_past_offer_rejected_state_kept),
        cmocka_unit_test(test_engine_handshake_timeout_closes_channel_without_hello),
        cmocka_unit_test(test_engine_handshake_timeout_stopped_by_hello_request),
        cmocka_unit_test(test_engine_protection_off_by_default_nothing_closes),
        cmocka_unit_test(test_engine_idle_timeout_restarted_by_traffic_both_ways),
        cmocka_unit_test(test_engine_frame_timeout_closes_incomplete_frame_only),
        cmocka_unit_test(test_engine_violation_opcode_names_offset_and_value),
        cmocka_unit_test(test_engine_rx_budget_partial_frames_cannot_empty_pool),
        cmocka_unit_test(test_engine_rx_budget_pauses_then_resumes_oldest_first),
        cmocka_unit_test(test_engine_rx_budget_read_max_bounds_what_a_host_reads),
        cmocka_unit_test(test_engine_send_queue_limit_stops_reading_until_peer_reads),
        cmocka_unit_test(test_engine_send_queue_after_bye_over_limit_closes_channel),
        cmocka_unit_test(test_engine_send_queue_behind_bye_over_limit_closes_when_bye_leaves),
        cmocka_unit_test(test_engine_timers_fire_earliest_first_ties_by_creation),
        cmocka_unit_test(test_engine_rx_budget_random_traffic_all_delivered_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
