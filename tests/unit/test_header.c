/*
 * Binary header (PROTOCOL.md 1.2-1.4): big-endian wire form, the native
 * little-endian form copied into echo bodies, and the proto byte helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "tofulab/wire.h"

#include "../helpers/golden.h"
#include "../helpers/guard.h"

#define MAX_FRAME 512u

static size_t load_frame(const golden_vector *v, uint8_t *out)
{
    size_t n = hex_to_bytes(v->frame_hex, out, MAX_FRAME);
    assert_true(n != (size_t)-1);
    assert_true(n >= TL_HEADER_SIZE);
    return n;
}

static tl_header golden_header_of(const golden_vector *v)
{
    tl_header h;
    memset(&h, 0, sizeof h);
    h.channel = v->channel;
    h.proto = v->proto;
    h.status = v->status;
    h.message_id = v->message_id;
    h.thl = v->thl;
    h.bl = v->bl;
    return h;
}

static void assert_header_eq_id(const char *id, const tl_header *a, const tl_header *b)
{
    GOLDEN_EXPECT_EQ(id, a->channel, b->channel);
    GOLDEN_EXPECT_EQ(id, a->proto, b->proto);
    GOLDEN_EXPECT_EQ(id, a->status, b->status);
    GOLDEN_EXPECT_EQ(id, a->message_id, b->message_id);
    GOLDEN_EXPECT_EQ(id, a->thl, b->thl);
    GOLDEN_EXPECT_EQ(id, a->bl, b->bl);
}

#define assert_header_eq(a, b) assert_header_eq_id("header", (a), (b))

/* The section 1.2 example. */
static const uint8_t example_wire[TL_HEADER_SIZE] = {0x12, 0x34, 0x00, 0xff, 0xaa, 0xbb, 0xcc, 0xdd,
                                                     0xee, 0xff, 0x00, 0x11, 0x56, 0x78, 0x9a, 0xbc};
/* The same header in tofu's in-memory form on a little-endian host (1.3). */
static const uint8_t example_native[TL_HEADER_SIZE] = {0x34, 0x12, 0x00, 0xff, 0x11, 0x00, 0xff, 0xee,
                                                       0xdd, 0xcc, 0xbb, 0xaa, 0x78, 0x56, 0xbc, 0x9a};

static tl_header example_header(void)
{
    tl_header h;
    memset(&h, 0, sizeof h);
    h.channel = 0x1234;
    h.proto = 0x00;
    h.status = 0xff;
    h.message_id = UINT64_C(0xAABBCCDDEEFF0011);
    h.thl = 0x5678;
    h.bl = 0x9ABC;
    return h;
}

/* ---- golden vectors ---- */

static void test_header_golden_decode_matches_fields(void **state)
{
    (void)state;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        const golden_vector *v = &golden_vectors[i];
        uint8_t frame[MAX_FRAME];
        size_t n = load_frame(v, frame);
        tl_header want = golden_header_of(v);
        tl_header got;

        memset(&got, 0xA5, sizeof got);
        tl_header_decode(frame, &got);
        assert_header_eq_id(v->id, &got, &want);
        /* The frame is exactly header || thl || bl. */
        GOLDEN_EXPECT_EQ(v->id, n, TL_HEADER_SIZE + got.thl + got.bl);
    }
}

static void test_header_golden_encode_matches_bytes(void **state)
{
    (void)state;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        const golden_vector *v = &golden_vectors[i];
        uint8_t frame[MAX_FRAME];
        uint8_t out[TL_HEADER_SIZE + 2];
        tl_header h = golden_header_of(v);

        (void)load_frame(v, frame);
        memset(out, 0xEE, sizeof out);
        tl_header_encode(&h, out);
        GOLDEN_EXPECT_MEM(v->id, out, frame, TL_HEADER_SIZE);
        /* Exactly 16 bytes are written. */
        GOLDEN_EXPECT_EQ(v->id, out[TL_HEADER_SIZE], 0xEE);
        GOLDEN_EXPECT_EQ(v->id, out[TL_HEADER_SIZE + 1], 0xEE);
    }
}

static void test_header_golden_proto_fields_match_opcode_origin_more(void **state)
{
    (void)state;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        const golden_vector *v = &golden_vectors[i];
        uint8_t frame[MAX_FRAME];
        tl_header h;

        (void)load_frame(v, frame);
        tl_header_decode(frame, &h);
        const char *name = tl_opcode_name(tl_proto_opcode(h.proto));
        if (v->opcode == NULL && name != NULL)
            fail_msg("%s: op code name %s, expected none", v->id, name);
        if (v->opcode != NULL && (name == NULL || strcmp(name, v->opcode) != 0))
            fail_msg("%s: op code name %s, expected %s", v->id, name ? name : "(null)", v->opcode);
        if (strcmp(tl_proto_origin_engine(h.proto) ? "engine" : "application", v->origin) != 0)
            fail_msg("%s: origin differs from %s", v->id, v->origin);
        GOLDEN_EXPECT_EQ(v->id, tl_proto_more(h.proto), v->more ? 1 : 0);
    }
}

/* ---- section 1.2 example ---- */

static void test_header_spec_example_encode_big_endian_fields(void **state)
{
    (void)state;
    tl_header h = example_header();
    uint8_t out[TL_HEADER_SIZE];

    tl_header_encode(&h, out);
    assert_memory_equal(out, example_wire, TL_HEADER_SIZE);
}

static void test_header_spec_example_decode_big_endian_fields(void **state)
{
    (void)state;
    tl_header want = example_header();
    tl_header got;

    memset(&got, 0, sizeof got);
    tl_header_decode(example_wire, &got);
    assert_header_eq(&got, &want);
}

static void test_header_decode_at_guard_page_reads_16_bytes_only(void **state)
{
    (void)state;
    guard_region g;
    const uint8_t *p = guard_place(example_wire, TL_HEADER_SIZE, &g);
    tl_header want = example_header();
    tl_header got;

    tl_header_decode(p, &got);
    assert_header_eq(&got, &want);
    tl_header_decode_native(p, &got);
    assert_int_equal(got.channel, 0x3412);
    guard_release(&g);
}

static void test_header_encode_at_guard_page_writes_16_bytes_only(void **state)
{
    (void)state;
    guard_region g;
    uint8_t zero[TL_HEADER_SIZE] = {0};
    uint8_t *p = guard_place(zero, TL_HEADER_SIZE, &g);
    tl_header h = example_header();

    tl_header_encode(&h, p);
    assert_memory_equal(p, example_wire, TL_HEADER_SIZE);
    tl_header_encode_native(&h, p);
    assert_memory_equal(p, example_native, TL_HEADER_SIZE);
    guard_release(&g);
}

/* ---- native (little-endian in-memory) form ---- */

static void test_header_spec_example_native_is_little_endian_per_field(void **state)
{
    (void)state;
    tl_header h = example_header();
    tl_header got;
    uint8_t out[TL_HEADER_SIZE];

    tl_header_encode_native(&h, out);
    assert_memory_equal(out, example_native, TL_HEADER_SIZE);
    memset(&got, 0, sizeof got);
    tl_header_decode_native(example_native, &got);
    assert_header_eq(&got, &h);
}

typedef struct {
    const char *id;
    tl_header hdr; /* what the echo body encodes (sections 7, 8) */
} echo_body_case;

static void test_header_echo_bodies_decode_native(void **state)
{
    (void)state;
    /* V19: header copy before post: channel 0, HelloRequest, everything else 0.
     * V20: channel 0x3c4d, HelloResponse, id 5, thl 32, bl 16.
     * V21: channel 0x1a2b, Request, id 1, thl 0, bl 0.
     * V22: channel 0x3c4d, Response, id 1, thl 0, bl 16. */
    static const echo_body_case cases[] = {
        {"V19", {0x0000, 0x03, 0, 0, 0, 0}},
        {"V20", {0x3c4d, 0x04, 0, 5, 32, 16}},
        {"V21", {0x1a2b, 0x00, 0, 1, 0, 0}},
        {"V22", {0x3c4d, 0x01, 0, 1, 0, 16}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const golden_vector *v = NULL;
        for (size_t i = 0; i < GOLDEN_COUNT; i++)
            if (strcmp(golden_vectors[i].id, cases[c].id) == 0)
                v = &golden_vectors[i];
        assert_non_null(v);
        uint8_t body[64];
        size_t n = hex_to_bytes(v->body_hex, body, sizeof body);
        assert_int_equal(n, TL_HEADER_SIZE);
        assert_int_equal(v->bl, TL_HEADER_SIZE);

        tl_header got;
        memset(&got, 0x5A, sizeof got);
        tl_header_decode_native(body, &got);
        assert_header_eq_id(cases[c].id, &got, &cases[c].hdr);

        uint8_t out[TL_HEADER_SIZE];
        tl_header_encode_native(&cases[c].hdr, out);
        GOLDEN_EXPECT_MEM(cases[c].id, out, body, TL_HEADER_SIZE);
    }
}

static void test_header_v20_body_describes_v20_header_native(void **state)
{
    (void)state;
    /* The EchoService body is the reply's in-memory header with thl/bl of the
     * received V19 (32, 16), which equal V20's own: header and body agree. */
    const golden_vector *v = &golden_vectors[19];
    uint8_t frame[MAX_FRAME];
    size_t n = load_frame(v, frame);
    tl_header wire;
    tl_header native;

    assert_string_equal(v->id, "V20");
    tl_header_decode(frame, &wire);
    tl_header_decode_native(frame + n - TL_HEADER_SIZE, &native);
    assert_header_eq(&native, &wire);
}

static void test_header_native_differs_from_wire_for_multibyte_fields(void **state)
{
    (void)state;
    tl_header h = example_header();
    uint8_t wire[TL_HEADER_SIZE];
    uint8_t native[TL_HEADER_SIZE];
    tl_header back;

    tl_header_encode(&h, wire);
    tl_header_encode_native(&h, native);
    assert_memory_not_equal(wire, native, TL_HEADER_SIZE);
    /* Decoding wire bytes as native gives byte-swapped fields. */
    tl_header_decode_native(wire, &back);
    assert_int_equal(back.channel, 0x3412);
    assert_int_equal(back.thl, 0x7856);
    assert_int_equal(back.bl, 0xBC9A);
    assert_true(back.message_id == UINT64_C(0x1100FFEEDDCCBBAA));
}

/* ---- round trips with distinct bytes in every position ---- */

static uint64_t xs_state = UINT64_C(0x9E3779B97F4A7C15);

static uint64_t xs_next(void)
{
    uint64_t x = xs_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    xs_state = x;
    return x;
}

static void test_header_random_round_trip_both_forms(void **state)
{
    (void)state;
    for (int i = 0; i < 2000; i++) {
        tl_header h;
        tl_header back;
        uint8_t out[TL_HEADER_SIZE];
        uint64_t r = xs_next();

        memset(&h, 0, sizeof h);
        h.channel = (uint16_t)r;
        h.proto = (uint8_t)(r >> 16);
        h.status = (uint8_t)(r >> 24);
        h.message_id = xs_next();
        h.thl = (uint16_t)(r >> 32);
        h.bl = (uint16_t)(r >> 48);

        tl_header_encode(&h, out);
        assert_int_equal(out[0], h.channel >> 8);
        assert_int_equal(out[1], h.channel & 0xFF);
        assert_int_equal(out[2], h.proto);
        assert_int_equal(out[3], h.status);
        for (int b = 0; b < 8; b++)
            assert_int_equal(out[4 + b], (uint8_t)(h.message_id >> (56 - 8 * b)));
        assert_int_equal(out[12], h.thl >> 8);
        assert_int_equal(out[13], h.thl & 0xFF);
        assert_int_equal(out[14], h.bl >> 8);
        assert_int_equal(out[15], h.bl & 0xFF);
        memset(&back, 0, sizeof back);
        tl_header_decode(out, &back);
        assert_header_eq(&back, &h);

        tl_header_encode_native(&h, out);
        assert_int_equal(out[0], h.channel & 0xFF);
        assert_int_equal(out[1], h.channel >> 8);
        assert_int_equal(out[2], h.proto);
        assert_int_equal(out[3], h.status);
        for (int b = 0; b < 8; b++)
            assert_int_equal(out[4 + b], (uint8_t)(h.message_id >> (8 * b)));
        assert_int_equal(out[12], h.thl & 0xFF);
        assert_int_equal(out[14], h.bl & 0xFF);
        memset(&back, 0, sizeof back);
        tl_header_decode_native(out, &back);
        assert_header_eq(&back, &h);
    }
}

static void test_header_extreme_values_round_trip(void **state)
{
    (void)state;
    tl_header h = {0xFFFF, 0xFF, 0xFF, UINT64_MAX, 0xFFFF, 0xFFFF};
    tl_header z = {0, 0, 0, 0, 0, 0};
    uint8_t out[TL_HEADER_SIZE];
    uint8_t ff[TL_HEADER_SIZE];
    uint8_t zz[TL_HEADER_SIZE] = {0};
    tl_header back;

    memset(ff, 0xFF, sizeof ff);
    tl_header_encode(&h, out);
    assert_memory_equal(out, ff, TL_HEADER_SIZE);
    tl_header_decode(ff, &back);
    assert_header_eq(&back, &h);
    tl_header_encode(&z, out);
    assert_memory_equal(out, zz, TL_HEADER_SIZE);
    memset(&back, 0x77, sizeof back);
    tl_header_decode(zz, &back);
    assert_header_eq(&back, &z);
}

/* ---- proto byte (1.4) ---- */

static void test_header_proto_spec_examples_make(void **state)
{
    (void)state;
    /* ByeSignal with A = 0x47; engine Signal = 0x12; Request with more = 0x20;
     * all flags on a Response = 0xF1. */
    assert_int_equal(tl_proto_make(TL_OP_BYE_SIGNAL, 0, 0, 1, 0), 0x47);
    assert_int_equal(tl_proto_make(TL_OP_SIGNAL, 1, 0, 0, 0), 0x12);
    assert_int_equal(tl_proto_make(TL_OP_REQUEST, 0, 1, 0, 0), 0x20);
    assert_int_equal(tl_proto_make(TL_OP_RESPONSE, 1, 1, 1, 1), 0xF1);
    /* V16 as handed back after the abort: 0x57. */
    assert_int_equal(tl_proto_make(TL_OP_BYE_SIGNAL, 1, 0, 1, 0), 0x57);
}

static void test_header_proto_spec_examples_split(void **state)
{
    (void)state;
    assert_int_equal(tl_proto_opcode(0x47), TL_OP_BYE_SIGNAL);
    assert_int_equal(tl_proto_origin_engine(0x47), 0);
    assert_int_equal(tl_proto_more(0x47), 0);
    assert_true((0x47 & TL_PROTO_BIT_A) != 0);

    assert_int_equal(tl_proto_opcode(0x12), TL_OP_SIGNAL);
    assert_int_equal(tl_proto_origin_engine(0x12), 1);
    assert_int_equal(tl_proto_more(0x12), 0);

    assert_int_equal(tl_proto_opcode(0x20), TL_OP_REQUEST);
    assert_int_equal(tl_proto_origin_engine(0x20), 0);
    assert_int_equal(tl_proto_more(0x20), 1);

    assert_int_equal(tl_proto_opcode(0xF1), TL_OP_RESPONSE);
    assert_int_equal(tl_proto_origin_engine(0xF1), 1);
    assert_int_equal(tl_proto_more(0xF1), 1);
    assert_true((0xF1 & TL_PROTO_BIT_A) != 0);
    assert_true((0xF1 & TL_PROTO_BIT_B) != 0);
}

static void test_header_proto_masks_are_the_spec_bits(void **state)
{
    (void)state;
    assert_int_equal(TL_PROTO_OPCODE_MASK, 0x0F);
    assert_int_equal(TL_PROTO_ORIGIN, 0x10);
    assert_int_equal(TL_PROTO_MORE, 0x20);
    assert_int_equal(TL_PROTO_BIT_A, 0x40);
    assert_int_equal(TL_PROTO_BIT_B, 0x80);
    assert_int_equal(TL_HEADER_SIZE, 16);
    assert_int_equal(TL_MAX_FRAME_LEN, 131086);
}

static void test_header_proto_every_byte_round_trips(void **state)
{
    (void)state;
    for (unsigned p = 0; p < 256; p++) {
        uint8_t b = (uint8_t)p;
        uint8_t back = tl_proto_make(tl_proto_opcode(b), tl_proto_origin_engine(b), tl_proto_more(b),
                                     (b & TL_PROTO_BIT_A) != 0, (b & TL_PROTO_BIT_B) != 0);
        assert_int_equal(back, b);
        assert_int_equal(tl_proto_opcode(b), p & 0x0F);
        assert_int_equal(tl_proto_origin_engine(b), (p >> 4) & 1);
        assert_int_equal(tl_proto_more(b), (p >> 5) & 1);
    }
}

static void test_header_proto_make_masks_opcode_and_normalises_flags(void **state)
{
    (void)state;
    /* Op code bits above 0x0F do not leak into the flags; any non-zero flag
     * argument counts as set. */
    assert_int_equal(tl_proto_make(0x1F, 0, 0, 0, 0), 0x0F);
    assert_int_equal(tl_proto_make(0xF3, 0, 0, 0, 0), 0x03);
    assert_int_equal(tl_proto_make(0, 2, -1, 7, 100), 0xF0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_golden_decode_matches_fields),
        cmocka_unit_test(test_header_golden_encode_matches_bytes),
        cmocka_unit_test(test_header_golden_proto_fields_match_opcode_origin_more),
        cmocka_unit_test(test_header_spec_example_encode_big_endian_fields),
        cmocka_unit_test(test_header_spec_example_decode_big_endian_fields),
        cmocka_unit_test(test_header_decode_at_guard_page_reads_16_bytes_only),
        cmocka_unit_test(test_header_encode_at_guard_page_writes_16_bytes_only),
        cmocka_unit_test(test_header_spec_example_native_is_little_endian_per_field),
        cmocka_unit_test(test_header_echo_bodies_decode_native),
        cmocka_unit_test(test_header_v20_body_describes_v20_header_native),
        cmocka_unit_test(test_header_native_differs_from_wire_for_multibyte_fields),
        cmocka_unit_test(test_header_random_round_trip_both_forms),
        cmocka_unit_test(test_header_extreme_values_round_trip),
        cmocka_unit_test(test_header_proto_spec_examples_make),
        cmocka_unit_test(test_header_proto_spec_examples_split),
        cmocka_unit_test(test_header_proto_masks_are_the_spec_bits),
        cmocka_unit_test(test_header_proto_every_byte_round_trips),
        cmocka_unit_test(test_header_proto_make_masks_opcode_and_normalises_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
