/*
 * Post-time validation (PROTOCOL.md section 5, steps 2-9, in tofu's order)
 * and the reference-engine flags (A2/A8, A12, A13, A16).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "tofulab/wire.h"

#include "../helpers/guard.h"

#define TOO_LONG ((size_t)TL_MAX_TEXT_LEN + 1u)

static const uint8_t good_connect[] = "~connect_to:tcp|127.0.0.1|7099\r\n";
static const uint8_t good_listen[] = "~listen_on:tcp|0.0.0.0|7099\r\n";
#define GOOD_CONNECT_LEN (sizeof good_connect - 1)
#define GOOD_LISTEN_LEN  (sizeof good_listen - 1)

static tl_header mk(unsigned op, int more, uint16_t channel, uint64_t id)
{
    tl_header h;
    memset(&h, 0, sizeof h);
    h.proto = tl_proto_make(op, 0, more, 0, 0);
    h.channel = channel;
    h.message_id = id;
    /* Garbage the validator must overwrite or leave alone. */
    h.status = 0x55;
    h.thl = 0x1234;
    h.bl = 0x4321;
    return h;
}

/* Expect failure with `status`; checks err, the status byte and that channel
 * and message_id are untouched. */
static void expect_fail(const char *what, tl_header h, const uint8_t *text, size_t text_len, size_t body_len,
                        unsigned flags, tl_status status)
{
    tl_header before = h;
    tl_post_result r = tl_post_validate(&h, text, text_len, body_len, flags);

    if (r.err != TL_E_REJECTED)
        fail_msg("%s: err %d, expected TL_E_REJECTED (%d)", what, r.err, TL_E_REJECTED);
    if (r.status != status)
        fail_msg("%s: result status %d, expected %d", what, (int)r.status, (int)status);
    if (h.status != (uint8_t)status)
        fail_msg("%s: status byte %u, expected %d", what, h.status, (int)status);
    if (h.channel != before.channel || h.message_id != before.message_id)
        fail_msg("%s: channel or message_id changed", what);
    if (tl_proto_opcode(h.proto) != tl_proto_opcode(before.proto))
        fail_msg("%s: op code changed", what);
    /* Step 3 runs before every rule that can fail: origin forced to 0. */
    if (tl_proto_origin_engine(h.proto))
        fail_msg("%s: origin bit still set", what);
}

static tl_header expect_ok(const char *what, tl_header h, const uint8_t *text, size_t text_len,
                           size_t body_len, unsigned flags)
{
    tl_header before = h;
    tl_post_result r = tl_post_validate(&h, text, text_len, body_len, flags);

    if (r.err != TL_OK || r.status != TL_STATUS_SUCCESS)
        fail_msg("%s: err %d status %d, expected success", what, r.err, (int)r.status);
    if (h.status != 0)
        fail_msg("%s: status byte %u, expected 0", what, h.status);
    if (h.thl != text_len || h.bl != body_len)
        fail_msg("%s: thl %u bl %u, expected %zu %zu", what, h.thl, h.bl, text_len, body_len);
    if (h.channel != before.channel || h.message_id != before.message_id)
        fail_msg("%s: channel or message_id changed", what);
    if (tl_proto_opcode(h.proto) != tl_proto_opcode(before.proto))
        fail_msg("%s: op code changed", what);
    if (tl_proto_origin_engine(h.proto))
        fail_msg("%s: origin bit still set", what);
    if (tl_proto_more(h.proto) != tl_proto_more(before.proto))
        fail_msg("%s: more bit changed", what);
    return h;
}

/* ---- step 2: op code ---- */

static void test_validate_bad_opcode_leaves_header_untouched(void **state)
{
    (void)state;
    static const unsigned flag_sets[] = {TL_POST_TOFU, TL_POST_REFERENCE};
    for (unsigned op = 10; op <= 15; op++) {
        for (size_t f = 0; f < 2; f++) {
            for (unsigned bits = 0; bits < 16; bits++) {
                tl_header h;
                memset(&h, 0, sizeof h);
                h.proto = (uint8_t)(op | bits << 4); /* origin, more, A, B in every combination */
                h.channel = 0;
                h.status = 0x55;
                h.message_id = 0;
                h.thl = 0x1234;
                h.bl = 0x4321;
                tl_header before = h;
                tl_post_result r = tl_post_validate(&h, NULL, TOO_LONG, TOO_LONG, flag_sets[f]);
                if (r.err != TL_E_BAD_OPCODE)
                    fail_msg("op %u proto 0x%02x: err %d, expected TL_E_BAD_OPCODE", op, h.proto, r.err);
                if (h.proto != before.proto || h.status != before.status || h.channel != before.channel ||
                    h.message_id != before.message_id || h.thl != before.thl || h.bl != before.bl)
                    fail_msg("op %u proto 0x%02x flags %u: header modified", op, before.proto, flag_sets[f]);
            }
        }
    }
}

/* ---- step 3: forced fields ---- */

static void test_validate_success_forces_origin_status_sets_lengths(void **state)
{
    (void)state;
    tl_header h = mk(TL_OP_REQUEST, 1, 5, 0);
    h.proto |= TL_PROTO_ORIGIN | TL_PROTO_BIT_A | TL_PROTO_BIT_B;

    /* tofu: origin := 0, status := 0; A, B and more are NOT touched. */
    h = expect_ok("request all bits", h, NULL, 3, 4, TL_POST_TOFU);
    assert_int_equal(h.proto, 0xE0);
    assert_int_equal(h.thl, 3);
    assert_int_equal(h.bl, 4);
    /* message_id 0 stays 0 here (step 10 needs the engine). */
    assert_true(h.message_id == 0);
}

static void test_validate_success_text_not_needed_without_address_check(void **state)
{
    (void)state;
    tl_header h = mk(TL_OP_HELLO_REQUEST, 0, 0, 0);
    /* text NULL with a length: only the length is used. */
    h = expect_ok("hello NULL text", h, NULL, 10, 0, TL_POST_TOFU);
    assert_int_equal(h.thl, 10);
}

static void test_validate_success_max_lengths_accepted(void **state)
{
    (void)state;
    tl_header h = mk(TL_OP_SIGNAL, 0, 65534, 7);
    h = expect_ok("max lengths", h, NULL, TL_MAX_TEXT_LEN, TL_MAX_BODY_LEN, TL_POST_TOFU);
    assert_int_equal(h.thl, 65535);
    assert_int_equal(h.bl, 65535);
}

static void test_validate_success_every_opcode_plain_form(void **state)
{
    (void)state;
    for (unsigned op = 0; op < TL_OPCODE_COUNT; op++) {
        int hello_welcome = op == TL_OP_HELLO_REQUEST || op == TL_OP_WELCOME_REQUEST;
        tl_header h = mk(op, 0, hello_welcome ? 0 : 9, 1);
        (void)expect_ok(tl_opcode_name(op), h, NULL, hello_welcome ? 20 : 0, 2, TL_POST_TOFU);
    }
    /* Channel 65535 and unknown channels are step 11, not checked here. */
    (void)expect_ok("channel 65535", mk(TL_OP_REQUEST, 0, 65535, 1), NULL, 0, 0, TL_POST_TOFU);
}

static void test_validate_failure_forces_lengths_to_zero_before_rules(void **state)
{
    (void)state;
    /* Step 3 sets thl := 0 and bl := 0; a failure at step 4 leaves them so. */
    tl_header h = mk(TL_OP_RESPONSE, 0, 5, 0);
    h.proto |= TL_PROTO_ORIGIN;
    (void)tl_post_validate(&h, NULL, 3, 4, TL_POST_TOFU);
    assert_int_equal(h.status, TL_STATUS_INVALID_MESSAGE_ID);
    assert_int_equal(h.thl, 0);
    assert_int_equal(h.bl, 0);
    assert_int_equal(h.proto, TL_OP_RESPONSE);

    /* Step 7 set thl before step 9 failed; bl is still the forced 0. */
    h = mk(TL_OP_REQUEST, 0, 5, 1);
    (void)tl_post_validate(&h, NULL, 3, TOO_LONG, TL_POST_TOFU);
    assert_int_equal(h.status, TL_STATUS_INVALID_BODY_LEN);
    assert_int_equal(h.thl, 3);
    assert_int_equal(h.bl, 0);
}

/* ---- step 4: response role needs a message_id ---- */

static void test_validate_response_id_zero_is_invalid_message_id(void **state)
{
    (void)state;
    static const unsigned responses[] = {TL_OP_RESPONSE, TL_OP_HELLO_RESPONSE, TL_OP_BYE_RESPONSE,
                                         TL_OP_WELCOME_RESPONSE};
    for (size_t i = 0; i < 4; i++) {
        const char *name = tl_opcode_name(responses[i]);
        expect_fail(name, mk(responses[i], 0, 5, 0), NULL, 0, 0, TL_POST_TOFU, TL_STATUS_INVALID_MESSAGE_ID);
        /* Step 4 comes before steps 5-9: every later rule is broken too. */
        expect_fail(name, mk(responses[i], 1, 0, 0), NULL, TOO_LONG, TOO_LONG, TL_POST_TOFU,
                    TL_STATUS_INVALID_MESSAGE_ID);
        /* The reference flags keep that order (A16 is left out: where its
         * NotAllowed ranks against step 4 is not specified). */
        expect_fail(name, mk(responses[i], 1, 0, 0), NULL, TOO_LONG, TOO_LONG,
                    TL_POST_REFERENCE & ~TL_POST_NO_WELCOME_RESP, TL_STATUS_INVALID_MESSAGE_ID);
        (void)expect_ok(name, mk(responses[i], 0, 5, 1), NULL, 0, 0, TL_POST_TOFU);
    }
    /* Requests and signals may have id 0 (the engine assigns one). */
    (void)expect_ok("request id 0", mk(TL_OP_REQUEST, 0, 5, 0), NULL, 0, 0, TL_POST_TOFU);
    (void)expect_ok("signal id 0", mk(TL_OP_SIGNAL, 0, 5, 0), NULL, 0, 0, TL_POST_TOFU);
    (void)expect_ok("byesignal id 0", mk(TL_OP_BYE_SIGNAL, 0, 5, 0), NULL, 0, 0, TL_POST_TOFU);
}

/* ---- step 5: more only on regular op codes ---- */

static void test_validate_more_on_non_regular_is_invalid_more_usage(void **state)
{
    (void)state;
    static const unsigned ops[] = {TL_OP_HELLO_REQUEST,   TL_OP_HELLO_RESPONSE, TL_OP_BYE_REQUEST,
                                   TL_OP_BYE_RESPONSE,    TL_OP_BYE_SIGNAL,     TL_OP_WELCOME_REQUEST,
                                   TL_OP_WELCOME_RESPONSE};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const char *name = tl_opcode_name(ops[i]);
        int req = ops[i] == TL_OP_HELLO_REQUEST || ops[i] == TL_OP_WELCOME_REQUEST;
        expect_fail(name, mk(ops[i], 1, req ? 0 : 5, 1), NULL, 20, 0, TL_POST_TOFU,
                    TL_STATUS_INVALID_MORE_USAGE);
        /* Before step 6 (channel 0), 7, 8 and 9. */
        expect_fail(name, mk(ops[i], 1, 0, 1), NULL, 0, TOO_LONG, TL_POST_TOFU, TL_STATUS_INVALID_MORE_USAGE);
        expect_fail(name, mk(ops[i], 1, 0, 1), NULL, TOO_LONG, 0, TL_POST_TOFU, TL_STATUS_INVALID_MORE_USAGE);
    }
    /* Regular op codes may stream. */
    (void)expect_ok("request more", mk(TL_OP_REQUEST, 1, 5, 1), NULL, 0, 1, TL_POST_TOFU);
    (void)expect_ok("response more", mk(TL_OP_RESPONSE, 1, 5, 1), NULL, 0, 1, TL_POST_TOFU);
    (void)expect_ok("signal more", mk(TL_OP_SIGNAL, 1, 5, 1), NULL, 0, 1, TL_POST_TOFU);
}

/* ---- step 6: channel 0 only for Hello/Welcome requests ---- */

static void test_validate_channel_zero_is_invalid_channel_number(void **state)
{
    (void)state;
    static const unsigned ops[] = {TL_OP_REQUEST,        TL_OP_RESPONSE,        TL_OP_SIGNAL,
                                   TL_OP_HELLO_RESPONSE, TL_OP_BYE_REQUEST,     TL_OP_BYE_RESPONSE,
                                   TL_OP_BYE_SIGNAL,     TL_OP_WELCOME_RESPONSE};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const char *name = tl_opcode_name(ops[i]);
        expect_fail(name, mk(ops[i], 0, 0, 1), NULL, 0, 0, TL_POST_TOFU, TL_STATUS_INVALID_CHANNEL_NUMBER);
        /* Before steps 7 and 9. */
        expect_fail(name, mk(ops[i], 0, 0, 1), NULL, TOO_LONG, TOO_LONG, TL_POST_TOFU,
                    TL_STATUS_INVALID_CHANNEL_NUMBER);
    }
    (void)expect_ok("hello ch 0", mk(TL_OP_HELLO_REQUEST, 0, 0, 0), NULL, 5, 0, TL_POST_TOFU);
    (void)expect_ok("welcome ch 0", mk(TL_OP_WELCOME_REQUEST, 0, 0, 0), NULL, 5, 0, TL_POST_TOFU);
}

/* ---- step 7: text length ---- */

static void test_validate_text_too_long_is_invalid_headers_len(void **state)
{
    (void)state;
    expect_fail("request", mk(TL_OP_REQUEST, 0, 5, 1), NULL, TOO_LONG, 0, TL_POST_TOFU,
                TL_STATUS_INVALID_HEADERS_LEN);
    /* Before step 9 (body) and, for Hello, step 8 cannot apply (thl > 0). */
    expect_fail("request both", mk(TL_OP_REQUEST, 0, 5, 1), NULL, TOO_LONG, TOO_LONG, TL_POST_TOFU,
                TL_STATUS_INVALID_HEADERS_LEN);
    expect_fail("hello", mk(TL_OP_HELLO_REQUEST, 0, 0, 0), NULL, TOO_LONG, 0, TL_POST_TOFU,
                TL_STATUS_INVALID_HEADERS_LEN);
    /* Lengths are size_t: no truncation to 16 bits. */
    expect_fail("size_max", mk(TL_OP_REQUEST, 0, 5, 1), NULL, SIZE_MAX, 0, TL_POST_TOFU,
                TL_STATUS_INVALID_HEADERS_LEN);
    expect_fail("65536 + 65536", mk(TL_OP_REQUEST, 0, 5, 1), NULL, (size_t)65536 * 2, 0, TL_POST_TOFU,
                TL_STATUS_INVALID_HEADERS_LEN);
    expect_fail("with check_address", mk(TL_OP_HELLO_REQUEST, 0, 0, 0), NULL, TOO_LONG, 0,
                TL_POST_CHECK_ADDRESS, TL_STATUS_INVALID_HEADERS_LEN);
}

/* ---- step 8: Hello/Welcome need text headers ---- */

static void test_validate_hello_welcome_without_text_is_wrong_address(void **state)
{
    (void)state;
    expect_fail("hello ch 0", mk(TL_OP_HELLO_REQUEST, 0, 0, 0), NULL, 0, 0, TL_POST_TOFU,
                TL_STATUS_WRONG_ADDRESS);
    expect_fail("welcome ch 0", mk(TL_OP_WELCOME_REQUEST, 0, 0, 0), NULL, 0, 0, TL_POST_TOFU,
                TL_STATUS_WRONG_ADDRESS);
    /* Whatever the channel number. */
    expect_fail("hello ch 5", mk(TL_OP_HELLO_REQUEST, 0, 5, 0), NULL, 0, 0, TL_POST_TOFU,
                TL_STATUS_WRONG_ADDRESS);
    expect_fail("welcome ch 5", mk(TL_OP_WELCOME_REQUEST, 0, 5, 0), NULL, 0, 0, TL_POST_TOFU,
                TL_STATUS_WRONG_ADDRESS);
    /* Before step 9. */
    expect_fail("hello body too long", mk(TL_OP_HELLO_REQUEST, 0, 0, 0), NULL, 0, TOO_LONG, TL_POST_TOFU,
                TL_STATUS_WRONG_ADDRESS);
    /* With the address check too (the address cannot be checked without text). */
    expect_fail("hello check address", mk(TL_OP_HELLO_REQUEST, 0, 0, 0), NULL, 0, 0, TL_POST_REFERENCE,
                TL_STATUS_WRONG_ADDRESS);
    /* Only those two op codes need text. */
    (void)expect_ok("hello response", mk(TL_OP_HELLO_RESPONSE, 0, 5, 1), NULL, 0, 0, TL_POST_TOFU);
}

/* ---- step 9: body length ---- */

static void test_validate_body_too_long_is_invalid_body_len(void **state)
{
    (void)state;
    expect_fail("request", mk(TL_OP_REQUEST, 0, 5, 1), NULL, 0, TOO_LONG, TL_POST_TOFU,
                TL_STATUS_INVALID_BODY_LEN);
    expect_fail("hello", mk(TL_OP_HELLO_REQUEST, 0, 0, 0), good_connect, GOOD_CONNECT_LEN, TOO_LONG,
                TL_POST_REFERENCE, TL_STATUS_INVALID_BODY_LEN);
    expect_fail("size_max", mk(TL_OP_SIGNAL, 0, 5, 1), NULL, 0, SIZE_MAX, TL_POST_TOFU,
                TL_STATUS_INVALID_BODY_LEN);
    expect_fail("65536 + 65535", mk(TL_OP_SIGNAL, 0, 5, 1), NULL, 0, (size_t)65536 + 65535, TL_POST_TOFU,
                TL_STATUS_INVALID_BODY_LEN);
}

/* ---- TL_POST_CLEAR_INTERNAL (A8, A2) ---- */

static void test_validate_clear_internal_clears_a_and_b(void **state)
{
    (void)state;
    tl_header h = mk(TL_OP_REQUEST, 1, 5, 1);
    h.proto |= TL_PROTO_BIT_A | TL_PROTO_BIT_B | TL_PROTO_ORIGIN;
    h = expect_ok("request", h, NULL, 0, 0, TL_POST_CLEAR_INTERNAL);
    assert_int_equal(h.proto, 0x20); /* more kept */

    h = mk(TL_OP_SIGNAL, 0, 5, 1);
    h.proto |= TL_PROTO_BIT_A;
    h = expect_ok("signal", h, NULL, 0, 0, TL_POST_CLEAR_INTERNAL);
    assert_int_equal(h.proto, 0x02);

    h = mk(TL_OP_WELCOME_REQUEST, 0, 0, 0);
    h.proto |= TL_PROTO_BIT_B;
    h = expect_ok("welcome", h, good_listen, GOOD_LISTEN_LEN, 0, TL_POST_CLEAR_INTERNAL);
    assert_int_equal(h.proto, 0x08);
}

static void test_validate_clear_internal_byesignal_always_gets_a(void **state)
{
    (void)state;
    tl_header h = mk(TL_OP_BYE_SIGNAL, 0, 5, 9);
    h = expect_ok("0x07", h, NULL, 0, 0, TL_POST_CLEAR_INTERNAL);
    assert_int_equal(h.proto, 0x47);

    h = mk(TL_OP_BYE_SIGNAL, 0, 5, 9);
    h.proto |= TL_PROTO_BIT_A | TL_PROTO_BIT_B;
    h = expect_ok("0xc7", h, NULL, 0, 0, TL_POST_CLEAR_INTERNAL);
    assert_int_equal(h.proto, 0x47);
}

static void test_validate_tofu_keeps_internal_bits(void **state)
{
    (void)state;
    tl_header h = mk(TL_OP_REQUEST, 0, 5, 1);
    h.proto |= TL_PROTO_BIT_A | TL_PROTO_BIT_B;
    h = expect_ok("request", h, NULL, 0, 0, TL_POST_TOFU);
    assert_int_equal(h.proto, 0xC0);

    h = mk(TL_OP_BYE_SIGNAL, 0, 5, 9);
    h = expect_ok("bye signal without A", h, NULL, 0, 0, TL_POST_TOFU);
    assert_int_equal(h.proto, 0x07);

    /* The other flags do not touch the internal bits either. */
    h = mk(TL_OP_REQUEST, 0, 5, 1);
    h.proto |= TL_PROTO_BIT_A | TL_PROTO_BIT_B;
    h = expect_ok("request other flags", h, NULL, 0, 0,
                  TL_POST_NO_CHANNEL_HELLO | TL_POST_NO_WELCOME_RESP | TL_POST_CHECK_ADDRESS);
    assert_int_equal(h.proto, 0xC0);
}

/* ---- TL_POST_NO_CHANNEL_HELLO (A13) ---- */

static void test_validate_no_channel_hello_rejects_nonzero_channel(void **state)
{
    (void)state;
    expect_fail("hello ch 5", mk(TL_OP_HELLO_REQUEST, 0, 5, 0), good_connect, GOOD_CONNECT_LEN, 0,
                TL_POST_NO_CHANNEL_HELLO, TL_STATUS_INVALID_CHANNEL_NUMBER);
    expect_fail("welcome ch 1", mk(TL_OP_WELCOME_REQUEST, 0, 1, 0), good_listen, GOOD_LISTEN_LEN, 0,
                TL_POST_NO_CHANNEL_HELLO, TL_STATUS_INVALID_CHANNEL_NUMBER);
    expect_fail("welcome ch 65535", mk(TL_OP_WELCOME_REQUEST, 0, 65535, 0), good_listen, GOOD_LISTEN_LEN, 0,
                TL_POST_REFERENCE, TL_STATUS_INVALID_CHANNEL_NUMBER);
    /* tofu allows it. */
    (void)expect_ok("hello ch 5 tofu", mk(TL_OP_HELLO_REQUEST, 0, 5, 0), good_connect, GOOD_CONNECT_LEN, 0,
                    TL_POST_TOFU);
    (void)expect_ok("hello ch 0", mk(TL_OP_HELLO_REQUEST, 0, 0, 0), good_connect, GOOD_CONNECT_LEN, 0,
                    TL_POST_NO_CHANNEL_HELLO);
    /* Only the two requests are concerned. */
    (void)expect_ok("hello response ch 5", mk(TL_OP_HELLO_RESPONSE, 0, 5, 1), NULL, 0, 0,
                    TL_POST_NO_CHANNEL_HELLO);
    (void)expect_ok("request ch 5", mk(TL_OP_REQUEST, 0, 5, 1), NULL, 0, 0, TL_POST_NO_CHANNEL_HELLO);
}

/* ---- TL_POST_NO_WELCOME_RESP (A16) ---- */

static void test_validate_no_welcome_resp_is_not_allowed(void **state)
{
    (void)state;
    expect_fail("welcome response", mk(TL_OP_WELCOME_RESPONSE, 0, 5, 3), NULL, 0, 0, TL_POST_NO_WELCOME_RESP,
                TL_STATUS_NOT_ALLOWED);
    expect_fail("welcome response ref", mk(TL_OP_WELCOME_RESPONSE, 0, 5, 3), NULL, 4, 4, TL_POST_REFERENCE,
                TL_STATUS_NOT_ALLOWED);
    (void)expect_ok("welcome response tofu", mk(TL_OP_WELCOME_RESPONSE, 0, 5, 3), NULL, 0, 0, TL_POST_TOFU);
    (void)expect_ok("welcome request", mk(TL_OP_WELCOME_REQUEST, 0, 0, 0), good_listen, GOOD_LISTEN_LEN, 0,
                    TL_POST_NO_WELCOME_RESP);
}

/* ---- TL_POST_CHECK_ADDRESS (A12) ---- */

static void test_validate_check_address_accepts_matching_header(void **state)
{
    (void)state;
    guard_region g;
    const uint8_t *p = guard_place(good_connect, GOOD_CONNECT_LEN, &g);

    (void)expect_ok("hello", mk(TL_OP_HELLO_REQUEST, 0, 0, 0), p, GOOD_CONNECT_LEN, 16,
                    TL_POST_CHECK_ADDRESS);
    guard_release(&g);
    p = guard_place(good_listen, GOOD_LISTEN_LEN, &g);
    (void)expect_ok("welcome", mk(TL_OP_WELCOME_REQUEST, 0, 0, 0), p, GOOD_LISTEN_LEN, 0, TL_POST_REFERENCE);
    guard_release(&g);
}

static void test_validate_check_address_rejects_bad_or_mismatched(void **state)
{
    (void)state;
    static const struct {
        unsigned op;
        const char *text;
    } cases[] = {
        {TL_OP_HELLO_REQUEST, "~listen_on:tcp|0.0.0.0|7099\r\n"},
        {TL_OP_WELCOME_REQUEST, "~connect_to:tcp|127.0.0.1|7099\r\n"},
        {TL_OP_HELLO_REQUEST, "~connect_to:foo|h|1\r\n"},
        {TL_OP_HELLO_REQUEST, "~connect_to:tcp||7099\r\n"},
        {TL_OP_HELLO_REQUEST, "~connect_to: \"tcp|127.0.0.1|7099\"\r\n"},
        {TL_OP_HELLO_REQUEST, "a:b\r\n"},
        {TL_OP_WELCOME_REQUEST, "~listen_on:uds|\r\n"},
        {TL_OP_HELLO_REQUEST, "~listen_on:tcp|0.0.0.0|1\r\n~connect_to:tcp|h|2\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint8_t *t = (const uint8_t *)cases[i].text;
        size_t n = strlen(cases[i].text);
        expect_fail(cases[i].text, mk(cases[i].op, 0, 0, 0), t, n, 0, TL_POST_CHECK_ADDRESS,
                    TL_STATUS_INVALID_ADDRESS);
        expect_fail(cases[i].text, mk(cases[i].op, 0, 0, 0), t, n, 0, TL_POST_REFERENCE,
                    TL_STATUS_INVALID_ADDRESS);
        /* tofu does not look at the address at post time. */
        (void)expect_ok(cases[i].text, mk(cases[i].op, 0, 0, 0), t, n, 0, TL_POST_TOFU);
    }
}

static void test_validate_check_address_uses_text_len(void **state)
{
    (void)state;
    /* Only the first 15 bytes ("~connect_to:tcp") are the text headers. */
    expect_fail("truncated", mk(TL_OP_HELLO_REQUEST, 0, 0, 0), good_connect, 15, 0, TL_POST_CHECK_ADDRESS,
                TL_STATUS_INVALID_ADDRESS);
}

static void test_validate_check_address_ignores_other_opcodes(void **state)
{
    (void)state;
    static const uint8_t junk[] = "a:b\r\n";
    (void)expect_ok("request", mk(TL_OP_REQUEST, 0, 5, 1), junk, 5, 0, TL_POST_CHECK_ADDRESS);
    (void)expect_ok("hello response", mk(TL_OP_HELLO_RESPONSE, 0, 5, 1), junk, 5, 0, TL_POST_CHECK_ADDRESS);
    (void)expect_ok("signal no text", mk(TL_OP_SIGNAL, 0, 5, 1), NULL, 0, 0, TL_POST_CHECK_ADDRESS);
}

static void test_validate_reference_success_clears_bits_and_sets_lengths(void **state)
{
    (void)state;
    tl_header h = mk(TL_OP_HELLO_REQUEST, 0, 0, 0);
    h.proto |= TL_PROTO_ORIGIN | TL_PROTO_BIT_A | TL_PROTO_BIT_B;
    h = expect_ok("hello", h, good_connect, GOOD_CONNECT_LEN, 16, TL_POST_REFERENCE);
    assert_int_equal(h.proto, 0x03);
    assert_int_equal(h.thl, 32);
    assert_int_equal(h.bl, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_bad_opcode_leaves_header_untouched),
        cmocka_unit_test(test_validate_success_forces_origin_status_sets_lengths),
        cmocka_unit_test(test_validate_success_text_not_needed_without_address_check),
        cmocka_unit_test(test_validate_success_max_lengths_accepted),
        cmocka_unit_test(test_validate_success_every_opcode_plain_form),
        cmocka_unit_test(test_validate_failure_forces_lengths_to_zero_before_rules),
        cmocka_unit_test(test_validate_response_id_zero_is_invalid_message_id),
        cmocka_unit_test(test_validate_more_on_non_regular_is_invalid_more_usage),
        cmocka_unit_test(test_validate_channel_zero_is_invalid_channel_number),
        cmocka_unit_test(test_validate_text_too_long_is_invalid_headers_len),
        cmocka_unit_test(test_validate_hello_welcome_without_text_is_wrong_address),
        cmocka_unit_test(test_validate_body_too_long_is_invalid_body_len),
        cmocka_unit_test(test_validate_clear_internal_clears_a_and_b),
        cmocka_unit_test(test_validate_clear_internal_byesignal_always_gets_a),
        cmocka_unit_test(test_validate_tofu_keeps_internal_bits),
        cmocka_unit_test(test_validate_no_channel_hello_rejects_nonzero_channel),
        cmocka_unit_test(test_validate_no_welcome_resp_is_not_allowed),
        cmocka_unit_test(test_validate_check_address_accepts_matching_header),
        cmocka_unit_test(test_validate_check_address_rejects_bad_or_mismatched),
        cmocka_unit_test(test_validate_check_address_uses_text_len),
        cmocka_unit_test(test_validate_check_address_ignores_other_opcodes),
        cmocka_unit_test(test_validate_reference_success_clears_bits_and_sets_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
