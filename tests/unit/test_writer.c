/*
 * Frame writer (gather list, resumable after short writes) and whole-frame
 * encoding, checked against the golden vectors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tofulab/wire.h"

#include "../helpers/golden.h"
#include "../helpers/guard.h"

#define VEC_MAX 256u

typedef struct {
    const char *id;
    uint8_t frame[VEC_MAX];
    size_t len;
    tl_header hdr; /* as decoded, but thl/bl garbage: the writer must use the lengths */
    const uint8_t *text;
    size_t text_len;
    const uint8_t *body;
    size_t body_len;
} wvec;

static wvec vecs[GOLDEN_COUNT];

static int load_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        wvec *v = &vecs[i];
        v->id = golden_vectors[i].id;
        v->len = hex_to_bytes(golden_vectors[i].frame_hex, v->frame, VEC_MAX);
        if (v->len == (size_t)-1)
            return -1;
        tl_header_decode(v->frame, &v->hdr);
        v->text_len = v->hdr.thl;
        v->body_len = v->hdr.bl;
        v->text = v->frame + TL_HEADER_SIZE;
        v->body = v->frame + TL_HEADER_SIZE + v->text_len;
        v->hdr.thl = 0xBEEF;
        v->hdr.bl = 0xF00D;
    }
    return 0;
}

/* Concatenate what iov describes into out; return the byte count. */
static size_t gather(const tl_iov *iov, int n, uint8_t *out, size_t cap)
{
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (iov[i].len == 0)
            fail_msg("iov entry %d is empty", i);
        if (total + iov[i].len > cap)
            fail_msg("iov describes more than %zu bytes", cap);
        memcpy(out + total, iov[i].base, iov[i].len);
        total += iov[i].len;
    }
    return total;
}

/* ---- gather list ---- */

static void test_writer_iov_each_vector_equals_frame(void **state)
{
    (void)state;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        const wvec *v = &vecs[i];
        tl_writer w;
        tl_iov iov[8];
        uint8_t out[VEC_MAX];
        int want_n = 1 + (v->text_len > 0) + (v->body_len > 0);

        GOLDEN_EXPECT_EQ(v->id, tl_writer_init(&w, &v->hdr, v->text, v->text_len, v->body, v->body_len),
                         TL_OK);
        GOLDEN_EXPECT_EQ(v->id, tl_writer_remaining(&w), v->len);
        memset(iov, 0, sizeof iov);
        int n = tl_writer_iov(&w, iov, 8);
        GOLDEN_EXPECT_EQ(v->id, n, want_n);
        GOLDEN_EXPECT_EQ(v->id, iov[0].len, TL_HEADER_SIZE);
        size_t got = gather(iov, n, out, sizeof out);
        GOLDEN_EXPECT_EQ(v->id, got, v->len);
        GOLDEN_EXPECT_MEM(v->id, out, v->frame, v->len);
        /* Text and body are borrowed, not copied. */
        int k = 1;
        if (v->text_len > 0) {
            if (iov[k].base != (const void *)v->text || iov[k].len != v->text_len)
                fail_msg("%s: text entry is not the caller's text", v->id);
            k++;
        }
        if (v->body_len > 0 && (iov[k].base != (const void *)v->body || iov[k].len != v->body_len))
            fail_msg("%s: body entry is not the caller's body", v->id);
    }
}

static void test_writer_iov_max_limits_entries(void **state)
{
    (void)state;
    const wvec *v = &vecs[11]; /* V12: header, text, body */
    tl_writer w;
    tl_iov iov[3];

    assert_string_equal(v->id, "V12");
    assert_int_equal(tl_writer_init(&w, &v->hdr, v->text, v->text_len, v->body, v->body_len), TL_OK);
    memset(iov, 0, sizeof iov);
    assert_int_equal(tl_writer_iov(&w, iov, 1), 1);
    assert_int_equal(iov[0].len, TL_HEADER_SIZE);
    assert_null(iov[1].base);
    assert_int_equal(tl_writer_iov(&w, iov, 2), 2);
    assert_ptr_equal(iov[1].base, v->text);
    assert_int_equal(tl_writer_iov(&w, iov, 0), 0);
}

/* ---- resuming after short writes ---- */

static void test_writer_resume_after_short_writes_every_size(void **state)
{
    (void)state;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        const wvec *v = &vecs[i];
        for (size_t step = 1; step <= v->len; step++) {
            tl_writer w;
            uint8_t out[VEC_MAX];
            size_t written = 0;

            assert_int_equal(tl_writer_init(&w, &v->hdr, v->text, v->text_len, v->body, v->body_len), TL_OK);
            for (;;) {
                tl_iov iov[3];
                uint8_t rest[VEC_MAX];
                int n = tl_writer_iov(&w, iov, 3);
                size_t avail = gather(iov, n, rest, sizeof rest);

                /* The list always describes exactly the unwritten tail. */
                GOLDEN_EXPECT_EQ(v->id, avail, v->len - written);
                GOLDEN_EXPECT_EQ(v->id, tl_writer_remaining(&w), v->len - written);
                GOLDEN_EXPECT_MEM(v->id, rest, v->frame + written, avail);

                size_t k = avail < step ? avail : step; /* a short write of k bytes */
                memcpy(out + written, rest, k);
                written += k;
                int r = tl_writer_advance(&w, k);
                if (written == v->len) {
                    GOLDEN_EXPECT_EQ(v->id, r, 1);
                    break;
                }
                GOLDEN_EXPECT_EQ(v->id, r, 0);
            }
            GOLDEN_EXPECT_MEM(v->id, out, v->frame, v->len);
            GOLDEN_EXPECT_EQ(v->id, tl_writer_remaining(&w), 0);
            tl_iov iov[3];
            GOLDEN_EXPECT_EQ(v->id, tl_writer_iov(&w, iov, 3), 0);
        }
    }
}

static void test_writer_partial_entry_points_inside_part(void **state)
{
    (void)state;
    const wvec *v = &vecs[11]; /* V12: 16 + 45 + 7 */
    tl_writer w;
    tl_iov iov[3];

    assert_int_equal(tl_writer_init(&w, &v->hdr, v->text, v->text_len, v->body, v->body_len), TL_OK);
    assert_int_equal(tl_writer_advance(&w, 5), 0);
    assert_int_equal(tl_writer_iov(&w, iov, 3), 3);
    assert_int_equal(iov[0].len, 11);
    assert_memory_equal(iov[0].base, v->frame + 5, 11);
    /* Across the header/text boundary in one step. */
    assert_int_equal(tl_writer_advance(&w, 11 + 20), 0);
    assert_int_equal(tl_writer_iov(&w, iov, 3), 2);
    assert_ptr_equal(iov[0].base, v->text + 20);
    assert_int_equal(iov[0].len, 25);
    assert_ptr_equal(iov[1].base, v->body);
    assert_int_equal(iov[1].len, 7);
    /* Into the body. */
    assert_int_equal(tl_writer_advance(&w, 27), 0);
    assert_int_equal(tl_writer_iov(&w, iov, 3), 1);
    assert_ptr_equal(iov[0].base, v->body + 2);
    assert_int_equal(iov[0].len, 5);
    assert_int_equal(tl_writer_remaining(&w), 5);
    assert_int_equal(tl_writer_advance(&w, 5), 1);
}

static void test_writer_advance_zero_and_past_end(void **state)
{
    (void)state;
    const wvec *v = &vecs[3]; /* V04: 21 bytes */
    tl_writer w;

    assert_string_equal(v->id, "V04");
    assert_int_equal(tl_writer_init(&w, &v->hdr, v->text, v->text_len, v->body, v->body_len), TL_OK);
    assert_int_equal(tl_writer_advance(&w, 0), 0);
    assert_int_equal(tl_writer_remaining(&w), 21);
    assert_int_equal(tl_writer_advance(&w, 22), TL_E_INVAL);
    assert_int_equal(tl_writer_remaining(&w), 21);
    assert_int_equal(tl_writer_advance(&w, 15), 0);
    assert_int_equal(tl_writer_advance(&w, 7), TL_E_INVAL);
    assert_int_equal(tl_writer_remaining(&w), 6);
    assert_int_equal(tl_writer_advance(&w, 6), 1);
    assert_int_equal(tl_writer_advance(&w, 1), TL_E_INVAL);
    assert_int_equal(tl_writer_remaining(&w), 0);
    assert_int_equal(tl_writer_advance(&w, SIZE_MAX), TL_E_INVAL);
}

/* ---- empty parts ---- */

static void test_writer_empty_parts_skipped(void **state)
{
    (void)state;
    static const uint8_t text[] = "a:b\r\n";
    static const uint8_t body[] = "hello";
    tl_header h = {0x1a2b, 0x02, 0, 42, 0, 0};
    tl_writer w;
    tl_iov iov[3];

    /* Body only. */
    assert_int_equal(tl_writer_init(&w, &h, NULL, 0, body, 5), TL_OK);
    assert_int_equal(tl_writer_iov(&w, iov, 3), 2);
    assert_int_equal(iov[0].len, 16);
    assert_ptr_equal(iov[1].base, body);
    assert_int_equal(iov[1].len, 5);
    assert_int_equal(tl_writer_advance(&w, 16), 0);
    assert_int_equal(tl_writer_iov(&w, iov, 3), 1);
    assert_ptr_equal(iov[0].base, body);

    /* Text only. */
    assert_int_equal(tl_writer_init(&w, &h, text, 5, body, 0), TL_OK);
    assert_int_equal(tl_writer_iov(&w, iov, 3), 2);
    assert_ptr_equal(iov[1].base, text);
    assert_int_equal(iov[1].len, 5);
    assert_int_equal(tl_writer_remaining(&w), 21);
    assert_int_equal(((const uint8_t *)iov[0].base)[13], 5); /* thl */
    assert_int_equal(((const uint8_t *)iov[0].base)[15], 0); /* bl */

    /* Neither: header only, and after it nothing. */
    assert_int_equal(tl_writer_init(&w, &h, NULL, 0, NULL, 0), TL_OK);
    assert_int_equal(tl_writer_iov(&w, iov, 3), 1);
    assert_int_equal(iov[0].len, 16);
    assert_int_equal(tl_writer_advance(&w, 16), 1);
    assert_int_equal(tl_writer_iov(&w, iov, 3), 0);
}

/* ---- limits ---- */

static void test_writer_too_long_text_or_body(void **state)
{
    (void)state;
    uint8_t *big = calloc(1, 65536);
    tl_header h = {1, 0, 0, 1, 0, 0};
    tl_writer w;
    tl_iov iov[3];

    assert_non_null(big);
    assert_int_equal(tl_writer_init(&w, &h, big, 65536, NULL, 0), TL_E_TOO_LONG);
    assert_int_equal(tl_writer_init(&w, &h, NULL, 0, big, 65536), TL_E_TOO_LONG);
    assert_int_equal(tl_writer_init(&w, &h, big, SIZE_MAX, NULL, 0), TL_E_TOO_LONG);
    assert_int_equal(tl_writer_init(&w, &h, big, 65535, big, 65535), TL_OK);
    assert_int_equal(tl_writer_remaining(&w), TL_MAX_FRAME_LEN);
    assert_int_equal(tl_writer_iov(&w, iov, 3), 3);
    const uint8_t *hb = iov[0].base;
    assert_int_equal(hb[12], 0xff);
    assert_int_equal(hb[13], 0xff);
    assert_int_equal(hb[14], 0xff);
    assert_int_equal(hb[15], 0xff);
    free(big);
}

/* ---- tl_frame_encode ---- */

static void test_writer_frame_encode_each_vector(void **state)
{
    (void)state;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        const wvec *v = &vecs[i];
        uint8_t zero[VEC_MAX] = {0};
        guard_region g;
        uint8_t *out = guard_place(zero, v->len, &g);

        /* Exact fit, ending at a guard page. */
        int n = tl_frame_encode(&v->hdr, v->text, v->text_len, v->body, v->body_len, out, v->len);
        GOLDEN_EXPECT_EQ(v->id, n, v->len);
        GOLDEN_EXPECT_MEM(v->id, out, v->frame, v->len);
        guard_release(&g);

        /* One byte short: refused, nothing written past cap. */
        out = guard_place(zero, v->len - 1, &g);
        n = tl_frame_encode(&v->hdr, v->text, v->text_len, v->body, v->body_len, out, v->len - 1);
        GOLDEN_EXPECT_EQ(v->id, n, TL_E_NOSPACE);
        guard_release(&g);
    }
}

static void test_writer_frame_encode_nospace_small_caps(void **state)
{
    (void)state;
    const wvec *v = &vecs[11];
    uint8_t out[VEC_MAX];

    assert_int_equal(tl_frame_encode(&v->hdr, v->text, v->text_len, v->body, v->body_len, out, 0),
                     TL_E_NOSPACE);
    assert_int_equal(tl_frame_encode(&v->hdr, v->text, v->text_len, v->body, v->body_len, out, 15),
                     TL_E_NOSPACE);
    assert_int_equal(tl_frame_encode(&v->hdr, v->text, v->text_len, v->body, v->body_len, out, 16),
                     TL_E_NOSPACE);
    assert_int_equal(tl_frame_encode(&v->hdr, v->text, v->text_len, v->body, v->body_len, out, 61),
                     TL_E_NOSPACE);
    assert_int_equal(tl_frame_encode(&v->hdr, v->text, v->text_len, v->body, v->body_len, out, sizeof out),
                     68);
}

static void test_writer_frame_encode_too_long(void **state)
{
    (void)state;
    uint8_t *big = calloc(1, TL_MAX_FRAME_LEN + 1);
    uint8_t *out = malloc(TL_MAX_FRAME_LEN + 16);
    tl_header h = {1, 0, 0, 1, 0, 0};

    assert_non_null(big);
    assert_non_null(out);
    assert_int_equal(tl_frame_encode(&h, big, 65536, NULL, 0, out, TL_MAX_FRAME_LEN + 16), TL_E_TOO_LONG);
    assert_int_equal(tl_frame_encode(&h, NULL, 0, big, 65536, out, TL_MAX_FRAME_LEN + 16), TL_E_TOO_LONG);
    assert_int_equal(tl_frame_encode(&h, big, 65535, big, 65535, out, TL_MAX_FRAME_LEN),
                     (int)TL_MAX_FRAME_LEN);
    assert_int_equal(out[12], 0xff);
    assert_int_equal(out[15], 0xff);
    free(big);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_iov_each_vector_equals_frame),
        cmocka_unit_test(test_writer_iov_max_limits_entries),
        cmocka_unit_test(test_writer_resume_after_short_writes_every_size),
        cmocka_unit_test(test_writer_partial_entry_points_inside_part),
        cmocka_unit_test(test_writer_advance_zero_and_past_end),
        cmocka_unit_test(test_writer_empty_parts_skipped),
        cmocka_unit_test(test_writer_too_long_text_or_body),
        cmocka_unit_test(test_writer_frame_encode_each_vector),
        cmocka_unit_test(test_writer_frame_encode_nospace_small_caps),
        cmocka_unit_test(test_writer_frame_encode_too_long),
    };
    return cmocka_run_group_tests(tests, load_vectors, NULL);
}
