/*
 * Streaming frame reader: golden vectors whole, byte by byte, split at every
 * offset, back to back; guard pages; limits, op code rejection, sticky
 * errors; random splits; allocation failure and allocation bounds.
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

#define VEC_MAX           256u
#define STREAM_MAX_FRAMES 256u
#define STREAM_MAX_BYTES  (STREAM_MAX_FRAMES * VEC_MAX)

static uint8_t vec_bytes[GOLDEN_COUNT][VEC_MAX];
static size_t vec_len[GOLDEN_COUNT];

static int load_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        vec_len[i] = hex_to_bytes(golden_vectors[i].frame_hex, vec_bytes[i], VEC_MAX);
        if (vec_len[i] == (size_t)-1)
            return -1;
    }
    return 0;
}

static size_t vec_index(const char *id)
{
    for (size_t i = 0; i < GOLDEN_COUNT; i++)
        if (strcmp(golden_vectors[i].id, id) == 0)
            return i;
    fail_msg("no vector %s", id);
    return 0;
}

/* ---- xorshift64 (fixed seeds; no rand()) ---- */

static uint64_t xs_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* ---- counting allocator ---- */

#define ALLOC_SLOTS 64

typedef struct {
    void *ptr[ALLOC_SLOTS];
    size_t size[ALLOC_SLOTS];
    size_t live; /* bytes currently allocated */
    size_t max_live;
    size_t max_request; /* largest size ever asked for */
    size_t calls;       /* realloc_fn calls with size > 0 */
    size_t successes;
    size_t fail_after; /* successes allowed before every call fails */
    size_t frees;
} alloc_counter;

static int slot_of(alloc_counter *a, void *p)
{
    for (int i = 0; i < ALLOC_SLOTS; i++)
        if (a->ptr[i] == p)
            return i;
    return -1;
}

static void *counting_realloc(void *ctx, void *ptr, size_t size)
{
    alloc_counter *a = ctx;
    int slot = -1;

    if (ptr != NULL) {
        slot = slot_of(a, ptr);
        if (slot < 0)
            fail_msg("realloc_fn: pointer %p was not allocated by realloc_fn", ptr);
    }
    if (size == 0) {
        if (ptr != NULL) {
            a->live -= a->size[slot];
            a->ptr[slot] = NULL;
            a->size[slot] = 0;
            a->frees++;
            free(ptr);
        }
        return NULL;
    }
    a->calls++;
    if (size > a->max_request)
        a->max_request = size;
    if (a->successes >= a->fail_after)
        return NULL;
    void *np = realloc(ptr, size);
    if (np == NULL)
        return NULL;
    a->successes++;
    if (slot < 0) {
        slot = slot_of(a, NULL);
        if (slot < 0)
            fail_msg("realloc_fn: more than %d live blocks", ALLOC_SLOTS);
    } else {
        a->live -= a->size[slot];
    }
    a->ptr[slot] = np;
    a->size[slot] = size;
    a->live += size;
    if (a->live > a->max_live)
        a->max_live = a->live;
    return np;
}

static void counting_free(void *ctx, void *ptr)
{
    alloc_counter *a = ctx;
    if (ptr == NULL)
        return;
    int slot = slot_of(a, ptr);
    if (slot < 0)
        fail_msg("free_fn: pointer %p was not allocated by realloc_fn", ptr);
    a->live -= a->size[slot];
    a->ptr[slot] = NULL;
    a->size[slot] = 0;
    a->frees++;
    free(ptr);
}

static void counter_init(alloc_counter *a, size_t fail_after)
{
    memset(a, 0, sizeof *a);
    a->fail_after = fail_after;
}

static void reader_use_counter(tl_reader *r, alloc_counter *a)
{
    r->realloc_fn = counting_realloc;
    r->free_fn = counting_free;
    r->alloc_ctx = a;
}

static void reader_init_default(tl_reader *r)
{
    tl_reader_options opt;
    memset(&opt, 0, sizeof opt);
    tl_reader_init(r, &opt);
}

/* ---- expected streams and the checking driver ---- */

typedef struct {
    uint8_t bytes[STREAM_MAX_BYTES];
    size_t len;
    size_t count;
    size_t start[STREAM_MAX_FRAMES];
    size_t flen[STREAM_MAX_FRAMES];
    tl_header hdr[STREAM_MAX_FRAMES];
    const char *id[STREAM_MAX_FRAMES];
    /* progress */
    uint64_t base; /* stream offset of bytes[0] */
    size_t pos;    /* bytes consumed so far */
    size_t got;    /* frames received so far */
    int use_guard; /* copy every chunk so it ends at a guard page */
} stream;

static stream the_stream;

static void stream_reset(stream *s)
{
    s->len = 0;
    s->count = 0;
    s->base = 0;
    s->pos = 0;
    s->got = 0;
    s->use_guard = 1;
}

static void stream_add(stream *s, size_t vi)
{
    assert_true(s->count < STREAM_MAX_FRAMES);
    assert_true(s->len + vec_len[vi] <= STREAM_MAX_BYTES);
    s->start[s->count] = s->len;
    s->flen[s->count] = vec_len[vi];
    tl_header_decode(vec_bytes[vi], &s->hdr[s->count]);
    s->id[s->count] = golden_vectors[vi].id;
    memcpy(s->bytes + s->len, vec_bytes[vi], vec_len[vi]);
    s->len += vec_len[vi];
    s->count++;
}

static void check_frame(stream *s, const tl_frame *f)
{
    size_t k = s->got;
    const char *id;

    if (k >= s->count)
        fail_msg("frame %zu returned, only %zu expected", k, s->count);
    id = s->id[k];
    GOLDEN_EXPECT_EQ(id, f->hdr.channel, s->hdr[k].channel);
    GOLDEN_EXPECT_EQ(id, f->hdr.proto, s->hdr[k].proto);
    GOLDEN_EXPECT_EQ(id, f->hdr.status, s->hdr[k].status);
    GOLDEN_EXPECT_EQ(id, f->hdr.message_id, s->hdr[k].message_id);
    GOLDEN_EXPECT_EQ(id, f->hdr.thl, s->hdr[k].thl);
    GOLDEN_EXPECT_EQ(id, f->hdr.bl, s->hdr[k].bl);
    GOLDEN_EXPECT_EQ(id, f->offset, s->base + s->start[k]);
    if (f->hdr.thl > 0) {
        if (f->text == NULL)
            fail_msg("%s: text is NULL", id);
        GOLDEN_EXPECT_MEM(id, f->text, s->bytes + s->start[k] + TL_HEADER_SIZE, f->hdr.thl);
    }
    if (f->hdr.bl > 0) {
        if (f->body == NULL)
            fail_msg("%s: body is NULL", id);
        GOLDEN_EXPECT_MEM(id, f->body, s->bytes + s->start[k] + TL_HEADER_SIZE + f->hdr.thl, f->hdr.bl);
    }
    s->got++;
}

/* After TL_READ_MORE: what the reader holds of frame s->got. */
static void check_partial(const stream *s, const tl_reader *r)
{
    size_t k = s->got;
    size_t have = s->pos - s->start[k];
    size_t want_missing;
    const char *id = s->id[k];

    if (have == 0) {
        /* Between frames. */
        GOLDEN_EXPECT_EQ(id, tl_reader_pending(r), 0);
        GOLDEN_EXPECT_EQ(id, tl_reader_missing(r), 0);
        return;
    }
    if (have < TL_HEADER_SIZE)
        want_missing = TL_HEADER_SIZE - have;
    else
        want_missing = s->flen[k] - have;
    GOLDEN_EXPECT_EQ(id, tl_reader_pending(r), have);
    GOLDEN_EXPECT_EQ(id, tl_reader_missing(r), want_missing);
}

/* Feed one chunk (maybe empty), calling the reader until the chunk is used up. */
static void feed_chunk(stream *s, tl_reader *r, const uint8_t *chunk, size_t n)
{
    guard_region g = {NULL, 0};
    const uint8_t *p = chunk;
    size_t off = 0;

    if (s->use_guard)
        p = guard_place(chunk, n, &g);
    do {
        tl_frame f;
        size_t consumed = (size_t)-1;
        memset(&f, 0xCD, sizeof f);
        tl_read_result res = tl_reader_next(r, p + off, n - off, &consumed, &f);
        if (consumed > n - off)
            fail_msg("consumed %zu of %zu bytes", consumed, n - off);
        off += consumed;
        s->pos += consumed;
        if (res == TL_READ_FRAME) {
            if (consumed == 0)
                fail_msg("frame returned with nothing consumed");
            check_frame(s, &f);
            GOLDEN_EXPECT_EQ(s->id[s->got - 1], s->pos, s->start[s->got - 1] + s->flen[s->got - 1]);
            GOLDEN_EXPECT_EQ(s->id[s->got - 1], tl_reader_pending(r), 0);
            GOLDEN_EXPECT_EQ(s->id[s->got - 1], tl_reader_missing(r), 0);
        } else if (res == TL_READ_MORE) {
            if (off != n)
                fail_msg("TL_READ_MORE with %zu of %zu bytes unconsumed", n - off, n);
            if (s->got >= s->count) {
                /* Only an empty call may follow the last frame. */
                if (consumed != 0)
                    fail_msg("%zu bytes taken after the last frame", consumed);
                GOLDEN_EXPECT_EQ("end", tl_reader_pending(r), 0);
                GOLDEN_EXPECT_EQ("end", tl_reader_missing(r), 0);
            } else {
                check_partial(s, r);
            }
        } else {
            const tl_reader_error_info *e = tl_reader_error(r);
            fail_msg("unexpected TL_READ_ERROR code %d at offset %llu (%s)", e->code,
                     (unsigned long long)e->offset, e->rule ? e->rule : "");
        }
    } while (off < n);
    if (s->use_guard)
        guard_release(&g);
}

static void stream_finish(stream *s, tl_reader *r)
{
    if (s->got != s->count)
        fail_msg("%zu frames received, %zu expected", s->got, s->count);
    assert_int_equal(s->pos, s->len);
    assert_int_equal(tl_reader_pending(r), 0);
    assert_int_equal(tl_reader_missing(r), 0);
}

/* Feed the stream cut at the given ascending offsets (cuts may repeat, giving
 * empty chunks). */
static void run_cuts(stream *s, const size_t *cuts, size_t ncuts)
{
    tl_reader r;
    size_t prev = 0;

    reader_init_default(&r);
    s->pos = 0;
    s->got = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : s->len;
        feed_chunk(s, &r, s->bytes + prev, end - prev);
        prev = end;
    }
    stream_finish(s, &r);
    tl_reader_free(&r);
}

/* ---- whole frames ---- */

static void test_reader_whole_frame_each_vector_zero_copy(void **state)
{
    (void)state;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        const char *id = golden_vectors[i].id;
        guard_region g;
        const uint8_t *p = guard_place(vec_bytes[i], vec_len[i], &g);
        tl_reader r;
        tl_frame f;
        size_t consumed = 0;
        alloc_counter ac;

        reader_init_default(&r);
        counter_init(&ac, (size_t)-1);
        reader_use_counter(&r, &ac);
        assert_int_equal(tl_reader_pending(&r), 0);
        assert_int_equal(tl_reader_missing(&r), 0);
        tl_read_result res = tl_reader_next(&r, p, vec_len[i], &consumed, &f);
        GOLDEN_EXPECT_EQ(id, res, TL_READ_FRAME);
        GOLDEN_EXPECT_EQ(id, consumed, vec_len[i]);
        GOLDEN_EXPECT_EQ(id, f.offset, 0);
        GOLDEN_EXPECT_EQ(id, f.hdr.channel, golden_vectors[i].channel);
        GOLDEN_EXPECT_EQ(id, f.hdr.proto, golden_vectors[i].proto);
        GOLDEN_EXPECT_EQ(id, f.hdr.status, golden_vectors[i].status);
        GOLDEN_EXPECT_EQ(id, f.hdr.message_id, golden_vectors[i].message_id);
        GOLDEN_EXPECT_EQ(id, f.hdr.thl, golden_vectors[i].thl);
        GOLDEN_EXPECT_EQ(id, f.hdr.bl, golden_vectors[i].bl);
        /* Zero-copy: pointers into the caller's bytes. */
        if (f.hdr.thl > 0 && f.text != p + TL_HEADER_SIZE)
            fail_msg("%s: text not returned in place", id);
        if (f.hdr.bl > 0 && f.body != p + TL_HEADER_SIZE + f.hdr.thl)
            fail_msg("%s: body not returned in place", id);
        GOLDEN_EXPECT_EQ(id, ac.calls, 0);
        GOLDEN_EXPECT_EQ(id, tl_reader_pending(&r), 0);
        GOLDEN_EXPECT_EQ(id, tl_reader_missing(&r), 0);
        /* Nothing more: an empty call asks for more. */
        consumed = 99;
        res = tl_reader_next(&r, p + vec_len[i], 0, &consumed, &f);
        GOLDEN_EXPECT_EQ(id, res, TL_READ_MORE);
        GOLDEN_EXPECT_EQ(id, consumed, 0);
        tl_reader_free(&r);
        GOLDEN_EXPECT_EQ(id, ac.live, 0);
        guard_release(&g);
    }
}

static void test_reader_whole_stream_of_all_vectors_in_order(void **state)
{
    (void)state;
    stream *s = &the_stream;
    stream_reset(s);
    for (size_t i = 0; i < GOLDEN_COUNT; i++)
        stream_add(s, i);
    run_cuts(s, NULL, 0);
}

/* ---- byte by byte ---- */

static void test_reader_byte_by_byte_each_vector(void **state)
{
    (void)state;
    stream *s = &the_stream;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        size_t cuts[VEC_MAX];
        stream_reset(s);
        stream_add(s, i);
        for (size_t c = 1; c < s->len; c++)
            cuts[c - 1] = c;
        run_cuts(s, cuts, s->len - 1);
    }
}

static void test_reader_byte_by_byte_all_vectors_one_stream(void **state)
{
    (void)state;
    stream *s = &the_stream;
    static size_t cuts[STREAM_MAX_BYTES];
    stream_reset(s);
    s->use_guard = 0;
    for (size_t i = 0; i < GOLDEN_COUNT; i++)
        stream_add(s, i);
    for (size_t c = 1; c < s->len; c++)
        cuts[c - 1] = c;
    run_cuts(s, cuts, s->len - 1);
}

/* ---- split at every offset ---- */

static void test_reader_split_every_offset_each_vector(void **state)
{
    (void)state;
    stream *s = &the_stream;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        stream_reset(s);
        stream_add(s, i);
        for (size_t k = 0; k <= s->len; k++)
            run_cuts(s, &k, 1);
    }
}

static void test_reader_two_frames_back_to_back_split_everywhere(void **state)
{
    (void)state;
    stream *s = &the_stream;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        stream_reset(s);
        stream_add(s, i);
        stream_add(s, (i + 1) % GOLDEN_COUNT);
        run_cuts(s, NULL, 0);
        for (size_t k = 0; k <= s->len; k++)
            run_cuts(s, &k, 1);
    }
}

static void test_reader_three_frames_back_to_back_split_everywhere(void **state)
{
    (void)state;
    stream *s = &the_stream;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        stream_reset(s);
        stream_add(s, i);
        stream_add(s, (i + 7) % GOLDEN_COUNT);
        stream_add(s, (i + 13) % GOLDEN_COUNT);
        run_cuts(s, NULL, 0);
        for (size_t k = 0; k <= s->len; k++)
            run_cuts(s, &k, 1);
    }
}

static void test_reader_three_frames_every_pair_of_cuts(void **state)
{
    (void)state;
    stream *s = &the_stream;
    stream_reset(s);
    s->use_guard = 0;
    stream_add(s, vec_index("V12")); /* text and body */
    stream_add(s, vec_index("V03")); /* header only */
    stream_add(s, vec_index("V20")); /* text and body */
    for (size_t a = 0; a <= s->len; a++) {
        for (size_t b = a; b <= s->len; b++) {
            size_t cuts[2] = {a, b};
            run_cuts(s, cuts, 2);
        }
    }
}

static void test_reader_back_to_back_later_frames_zero_copy(void **state)
{
    (void)state;
    size_t a = vec_index("V12");
    size_t b = vec_index("V20");
    uint8_t buf[2 * VEC_MAX];
    size_t n = vec_len[a] + vec_len[b];
    guard_region g;
    tl_reader r;
    tl_frame f;
    size_t consumed;

    memcpy(buf, vec_bytes[a], vec_len[a]);
    memcpy(buf + vec_len[a], vec_bytes[b], vec_len[b]);
    const uint8_t *p = guard_place(buf, n, &g);
    reader_init_default(&r);
    assert_int_equal(tl_reader_next(&r, p, n, &consumed, &f), TL_READ_FRAME);
    assert_int_equal(consumed, vec_len[a]);
    assert_ptr_equal(f.text, p + TL_HEADER_SIZE);
    assert_ptr_equal(f.body, p + TL_HEADER_SIZE + 45);
    assert_int_equal(tl_reader_next(&r, p + consumed, n - consumed, &consumed, &f), TL_READ_FRAME);
    assert_int_equal(consumed, vec_len[b]);
    assert_true(f.offset == vec_len[a]);
    assert_ptr_equal(f.text, p + vec_len[a] + TL_HEADER_SIZE);
    assert_ptr_equal(f.body, p + vec_len[a] + TL_HEADER_SIZE + 32);
    tl_reader_free(&r);
    guard_release(&g);
}

/* ---- TL_READ_MORE bookkeeping, explicitly ---- */

static void test_reader_more_reports_missing_and_pending(void **state)
{
    (void)state;
    size_t vi = vec_index("V12"); /* thl 45, bl 7: 68 bytes */
    const uint8_t *v = vec_bytes[vi];
    tl_reader r;
    tl_frame f;
    size_t consumed;

    assert_int_equal(vec_len[vi], 68);
    reader_init_default(&r);
    assert_int_equal(tl_reader_next(&r, v, 5, &consumed, &f), TL_READ_MORE);
    assert_int_equal(consumed, 5);
    assert_int_equal(tl_reader_pending(&r), 5);
    assert_int_equal(tl_reader_missing(&r), 11);
    assert_int_equal(tl_reader_next(&r, v + 5, 11, &consumed, &f), TL_READ_MORE);
    assert_int_equal(consumed, 11);
    assert_int_equal(tl_reader_pending(&r), 16);
    assert_int_equal(tl_reader_missing(&r), 52);
    assert_int_equal(tl_reader_next(&r, v + 16, 40, &consumed, &f), TL_READ_MORE);
    assert_int_equal(tl_reader_pending(&r), 56);
    assert_int_equal(tl_reader_missing(&r), 12);
    assert_int_equal(tl_reader_next(&r, v + 56, 0, &consumed, &f), TL_READ_MORE);
    assert_int_equal(consumed, 0);
    assert_int_equal(tl_reader_pending(&r), 56);
    assert_int_equal(tl_reader_missing(&r), 12);
    assert_int_equal(tl_reader_next(&r, v + 56, 12, &consumed, &f), TL_READ_FRAME);
    assert_int_equal(consumed, 12);
    assert_int_equal(f.hdr.thl, 45);
    assert_int_equal(f.hdr.bl, 7);
    assert_memory_equal(f.text, v + 16, 45);
    assert_memory_equal(f.body, "{\"a\":1}", 7);
    assert_int_equal(tl_reader_pending(&r), 0);
    assert_int_equal(tl_reader_missing(&r), 0);
    tl_reader_free(&r);
}

static void test_reader_max_lengths_declared_waits_for_more(void **state)
{
    (void)state;
    static const uint8_t hdr[TL_HEADER_SIZE] = {0x1a, 0x2b, 0x00, 0x00, 0,    0,    0,    0,
                                                0,    0,    0,    1,    0xff, 0xff, 0xff, 0xff};
    tl_reader r;
    tl_frame f;
    size_t consumed;

    reader_init_default(&r); /* defaults: 65535 each, inclusive */
    assert_int_equal(tl_reader_next(&r, hdr, sizeof hdr, &consumed, &f), TL_READ_MORE);
    assert_int_equal(consumed, 16);
    assert_int_equal(tl_reader_pending(&r), 16);
    assert_int_equal(tl_reader_missing(&r), 131070);
    tl_reader_free(&r);
}

/* ---- limits ---- */

static void reader_init_limits(tl_reader *r, size_t max_text, size_t max_body, int reject_bad_opcode)
{
    tl_reader_options opt;
    memset(&opt, 0, sizeof opt);
    opt.max_text = max_text;
    opt.max_body = max_body;
    opt.reject_bad_opcode = reject_bad_opcode;
    tl_reader_init(r, &opt);
}

/* Feed `bytes` in chunks of `step` (0 = all at once) until an error; return
 * the total consumed. Fails if no error comes. */
static size_t feed_until_error(tl_reader *r, const uint8_t *bytes, size_t n, size_t step)
{
    size_t off = 0;
    size_t total = 0;
    while (off < n) {
        size_t len = step == 0 || n - off < step ? n - off : step;
        tl_frame f;
        size_t consumed = 0;
        tl_read_result res = tl_reader_next(r, bytes + off, len, &consumed, &f);
        if (consumed > len)
            fail_msg("consumed %zu of %zu", consumed, len);
        total += consumed;
        if (res == TL_READ_ERROR)
            return total;
        off += consumed;
        if (res == TL_READ_MORE && consumed != len)
            fail_msg("TL_READ_MORE left bytes");
    }
    fail_msg("no error after %zu bytes", n);
    return total;
}

static void expect_error(const tl_reader *r, int code, uint64_t offset, size_t value, int check_limit,
                         size_t limit)
{
    const tl_reader_error_info *e = tl_reader_error(r);
    assert_non_null(e);
    assert_int_equal(e->code, code);
    if (e->offset != offset)
        fail_msg("error offset %llu, expected %llu", (unsigned long long)e->offset,
                 (unsigned long long)offset);
    assert_int_equal(e->value, value);
    if (check_limit)
        assert_int_equal(e->limit, limit);
    assert_non_null(e->rule);
    assert_true(e->rule[0] != '\0');
}

static void test_reader_text_limit_error_at_thl_offset(void **state)
{
    (void)state;
    size_t a = vec_index("V04"); /* 21 bytes, thl 0 */
    size_t b = vec_index("V01"); /* thl 32 */
    uint8_t buf[2 * VEC_MAX];
    size_t n = vec_len[a] + vec_len[b];
    static const size_t steps[] = {0, 1, 7, 16};

    memcpy(buf, vec_bytes[a], vec_len[a]);
    memcpy(buf + vec_len[a], vec_bytes[b], vec_len[b]);
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        tl_reader r;
        reader_init_limits(&r, 31, 0, 0);
        (void)feed_until_error(&r, buf, n, steps[s]);
        expect_error(&r, TL_E_LIMIT, 21 + 12, 32, 1, 31);
        tl_reader_free(&r);
    }
    /* The limit is inclusive. */
    tl_reader r;
    tl_frame f;
    size_t consumed;
    reader_init_limits(&r, 32, 0, 0);
    assert_int_equal(tl_reader_next(&r, vec_bytes[b], vec_len[b], &consumed, &f), TL_READ_FRAME);
    tl_reader_free(&r);
}

static void test_reader_body_limit_error_at_bl_offset(void **state)
{
    (void)state;
    size_t a = vec_index("V01"); /* 48 bytes, bl 0 */
    size_t b = vec_index("V04"); /* bl 5 */
    uint8_t buf[2 * VEC_MAX];
    size_t n = vec_len[a] + vec_len[b];
    static const size_t steps[] = {0, 1, 5, 48};

    memcpy(buf, vec_bytes[a], vec_len[a]);
    memcpy(buf + vec_len[a], vec_bytes[b], vec_len[b]);
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        tl_reader r;
        reader_init_limits(&r, 0, 4, 0);
        (void)feed_until_error(&r, buf, n, steps[s]);
        expect_error(&r, TL_E_LIMIT, 48 + 14, 5, 1, 4);
        tl_reader_free(&r);
    }
    tl_reader r;
    tl_frame f;
    size_t consumed;
    reader_init_limits(&r, 0, 5, 0);
    assert_int_equal(tl_reader_next(&r, vec_bytes[b], vec_len[b], &consumed, &f), TL_READ_FRAME);
    assert_memory_equal(f.body, "hello", 5);
    tl_reader_free(&r);
}

static void test_reader_bad_opcode_rejected_at_proto_offset(void **state)
{
    (void)state;
    size_t a = vec_index("V12"); /* 68 bytes */
    size_t b = vec_index("V04");
    uint8_t buf[2 * VEC_MAX];
    size_t n = vec_len[a] + vec_len[b];
    static const size_t steps[] = {0, 1, 3, 68};

    memcpy(buf, vec_bytes[a], vec_len[a]);
    memcpy(buf + vec_len[a], vec_bytes[b], vec_len[b]);
    buf[vec_len[a] + 2] = 0x0A; /* op code 10 */
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        tl_reader r;
        reader_init_limits(&r, 0, 0, 1);
        (void)feed_until_error(&r, buf, n, steps[s]);
        expect_error(&r, TL_E_BAD_OPCODE, 68 + 2, 10, 0, 0);
        tl_reader_free(&r);
    }
    /* Op code 15 with every flag set. */
    buf[vec_len[a] + 2] = 0xFF;
    tl_reader r;
    reader_init_limits(&r, 0, 0, 1);
    (void)feed_until_error(&r, buf, n, 0);
    assert_int_equal(tl_reader_error(&r)->code, TL_E_BAD_OPCODE);
    assert_true(tl_reader_error(&r)->offset == 70);
    tl_reader_free(&r);
}

static void test_reader_bad_opcode_delivered_without_option(void **state)
{
    (void)state;
    uint8_t buf[VEC_MAX];
    size_t vi = vec_index("V04");
    tl_reader r;
    tl_frame f;
    size_t consumed;

    memcpy(buf, vec_bytes[vi], vec_len[vi]);
    buf[2] = 0x1F;
    reader_init_default(&r);
    assert_int_equal(tl_reader_next(&r, buf, vec_len[vi], &consumed, &f), TL_READ_FRAME);
    assert_int_equal(f.hdr.proto, 0x1F);
    tl_reader_free(&r);
}

static void test_reader_reject_option_accepts_every_defined_opcode(void **state)
{
    (void)state;
    stream *s = &the_stream;
    tl_reader r;

    stream_reset(s);
    for (size_t i = 0; i < GOLDEN_COUNT; i++)
        stream_add(s, i);
    /* Generous limits and op code checking still let all vectors through. */
    reader_init_limits(&r, 45, 16, 1);
    feed_chunk(s, &r, s->bytes, s->len);
    stream_finish(s, &r);
    tl_reader_free(&r);
}

/* ---- sticky errors and reset ---- */

static void test_reader_error_sticky_until_reset(void **state)
{
    (void)state;
    size_t bad = vec_index("V01");
    size_t good = vec_index("V05");
    tl_reader r;
    tl_frame f;
    size_t consumed;
    size_t total;

    reader_init_limits(&r, 10, 0, 0);
    total = feed_until_error(&r, vec_bytes[bad], vec_len[bad], 0);
    tl_reader_error_info first = *tl_reader_error(&r);
    assert_int_equal(first.code, TL_E_LIMIT);

    for (int i = 0; i < 3; i++) {
        consumed = 0;
        assert_int_equal(tl_reader_next(&r, vec_bytes[good], vec_len[good], &consumed, &f), TL_READ_ERROR);
        assert_true(consumed <= vec_len[good]);
        total += consumed;
        const tl_reader_error_info *e = tl_reader_error(&r);
        assert_int_equal(e->code, first.code);
        assert_true(e->offset == first.offset);
        assert_int_equal(e->value, first.value);
    }
    assert_int_equal(tl_reader_next(&r, vec_bytes[good], 0, &consumed, &f), TL_READ_ERROR);

    tl_reader_reset(&r);
    assert_int_equal(tl_reader_pending(&r), 0);
    assert_int_equal(tl_reader_missing(&r), 0);
    assert_int_equal(tl_reader_next(&r, vec_bytes[good], vec_len[good], &consumed, &f), TL_READ_FRAME);
    assert_int_equal(consumed, vec_len[good]);
    assert_memory_equal(f.body, "world", 5);
    /* The stream offset is kept across reset: every consumed byte counts. */
    if (f.offset != total)
        fail_msg("offset after reset %llu, expected %zu", (unsigned long long)f.offset, total);
    /* Options are kept too: the limit still applies. */
    assert_int_equal(tl_reader_next(&r, vec_bytes[bad], vec_len[bad], &consumed, &f), TL_READ_ERROR);
    assert_int_equal(tl_reader_error(&r)->code, TL_E_LIMIT);
    tl_reader_free(&r);
}

static void test_reader_reset_drops_partial_frame(void **state)
{
    (void)state;
    size_t a = vec_index("V12");
    size_t b = vec_index("V05");
    tl_reader r;
    tl_frame f;
    size_t consumed;
    alloc_counter ac;

    reader_init_default(&r);
    counter_init(&ac, (size_t)-1);
    reader_use_counter(&r, &ac);
    assert_int_equal(tl_reader_next(&r, vec_bytes[a], 30, &consumed, &f), TL_READ_MORE);
    assert_int_equal(tl_reader_pending(&r), 30);
    tl_reader_reset(&r);
    assert_int_equal(tl_reader_pending(&r), 0);
    assert_int_equal(tl_reader_missing(&r), 0);
    assert_int_equal(tl_reader_next(&r, vec_bytes[b], vec_len[b], &consumed, &f), TL_READ_FRAME);
    assert_true(f.offset == 30);
    assert_int_equal(f.hdr.channel, 0x3c4d);
    assert_memory_equal(f.body, "world", 5);
    tl_reader_free(&r);
    assert_int_equal(ac.live, 0);
}

/* ---- random splits ---- */

static void test_reader_random_splits_fixed_seed(void **state)
{
    (void)state;
    stream *s = &the_stream;
    uint64_t seed = UINT64_C(0x2545F4914F6CDD1D);

    for (int round = 0; round < 60; round++) {
        static size_t cuts[STREAM_MAX_BYTES];
        size_t ncuts = 0;
        size_t frames = 1 + (size_t)(xs_next(&seed) % 60);
        size_t maxchunk = (size_t)1 << (xs_next(&seed) % 9); /* 1 .. 256 */
        size_t pos = 0;

        stream_reset(s);
        s->use_guard = (round % 4) == 0;
        for (size_t k = 0; k < frames; k++)
            stream_add(s, (size_t)(xs_next(&seed) % GOLDEN_COUNT));
        while (pos < s->len) {
            uint64_t x = xs_next(&seed);
            size_t step = (x & 15) == 0 ? 0 : 1 + (size_t)((x >> 8) % maxchunk); /* some empty chunks */
            pos = pos + step > s->len ? s->len : pos + step;
            cuts[ncuts++] = pos;
        }
        run_cuts(s, cuts, ncuts);
    }
}

/* ---- allocation ---- */

static void test_reader_failing_allocator_gives_nomem_without_leak(void **state)
{
    (void)state;
    size_t vi = vec_index("V04"); /* 21 bytes */
    tl_reader r;
    tl_frame f;
    size_t consumed;
    alloc_counter ac;

    reader_init_default(&r);
    counter_init(&ac, 0); /* every allocation fails */
    reader_use_counter(&r, &ac);
    /* Header + 2 body bytes: the 2 bytes must be kept, so they need memory. */
    tl_read_result res = tl_reader_next(&r, vec_bytes[vi], 18, &consumed, &f);
    assert_int_equal(res, TL_READ_ERROR);
    assert_int_equal(tl_reader_error(&r)->code, TL_E_NOMEM);
    assert_true(ac.calls > 0);
    /* Sticky like any error. */
    assert_int_equal(tl_reader_next(&r, vec_bytes[vi] + 18, 3, &consumed, &f), TL_READ_ERROR);
    tl_reader_free(&r);
    assert_int_equal(ac.live, 0);
}

static void test_reader_allocator_failing_at_each_step_no_leak(void **state)
{
    (void)state;
    size_t vi = vec_index("V12");
    int completed = 0;

    for (size_t allow = 0; allow < 80; allow++) {
        tl_reader r;
        alloc_counter ac;
        int done = 0;

        reader_init_default(&r);
        counter_init(&ac, allow);
        reader_use_counter(&r, &ac);
        for (size_t i = 0; i < vec_len[vi] && !done; i++) {
            tl_frame f;
            size_t consumed = 0;
            tl_read_result res = tl_reader_next(&r, vec_bytes[vi] + i, 1, &consumed, &f);
            if (res == TL_READ_ERROR) {
                assert_int_equal(tl_reader_error(&r)->code, TL_E_NOMEM);
                assert_true(ac.successes >= allow);
                done = 1;
            } else if (res == TL_READ_FRAME) {
                assert_int_equal(i, vec_len[vi] - 1);
                assert_memory_equal(f.text, vec_bytes[vi] + 16, 45);
                assert_memory_equal(f.body, vec_bytes[vi] + 61, 7);
                completed = 1;
                done = 1;
            } else {
                assert_int_equal(consumed, 1);
            }
        }
        assert_true(done);
        tl_reader_free(&r);
        if (ac.live != 0)
            fail_msg("allow %zu: %zu bytes leaked", allow, ac.live);
    }
    /* With enough successes the frame does complete. */
    assert_true(completed);
}

/* Allowed allocation for n received bytes: twice n plus a 256-byte floor. */
#define ALLOC_BOUND(n) (2 * (size_t)(n) + 256)

static void test_reader_huge_declared_length_allocates_only_received(void **state)
{
    (void)state;
    uint8_t buf[TL_HEADER_SIZE + 1024];
    tl_reader r;
    tl_frame f;
    size_t consumed;
    alloc_counter ac;

    /* Request, bl = 65535, followed by only 10 body bytes. */
    static const uint8_t hdr[TL_HEADER_SIZE] = {0x1a, 0x2b, 0x00, 0x00, 0,    0,    0,    0,
                                                0,    0,    0,    1,    0x00, 0x00, 0xff, 0xff};
    memcpy(buf, hdr, sizeof hdr);
    for (size_t i = 0; i < 1024; i++)
        buf[TL_HEADER_SIZE + i] = (uint8_t)i;

    reader_init_default(&r);
    counter_init(&ac, (size_t)-1);
    reader_use_counter(&r, &ac);
    assert_int_equal(tl_reader_next(&r, buf, TL_HEADER_SIZE + 10, &consumed, &f), TL_READ_MORE);
    assert_int_equal(consumed, 26);
    assert_int_equal(tl_reader_pending(&r), 26);
    assert_int_equal(tl_reader_missing(&r), 65525);
    /* "growing only with bytes actually received": a small multiple at most
     * (plus a small constant floor), never the declared 65535. */
    if (ac.max_request > ALLOC_BOUND(26) || ac.max_live > ALLOC_BOUND(26))
        fail_msg("10 body bytes received, %zu bytes requested (%zu live)", ac.max_request, ac.max_live);

    /* Keep feeding byte by byte: memory stays proportional. */
    for (size_t i = 10; i < 1024; i++) {
        assert_int_equal(tl_reader_next(&r, buf + TL_HEADER_SIZE + i, 1, &consumed, &f), TL_READ_MORE);
        size_t received = TL_HEADER_SIZE + i + 1;
        if (ac.max_live > ALLOC_BOUND(received))
            fail_msg("%zu bytes received, %zu bytes live", received, ac.max_live);
    }
    assert_int_equal(tl_reader_missing(&r), 65535 - 1024);
    tl_reader_free(&r);
    assert_int_equal(ac.live, 0);
}

static void test_reader_huge_text_and_body_declared_small_allocation(void **state)
{
    (void)state;
    static const uint8_t hdr[TL_HEADER_SIZE] = {0x1a, 0x2b, 0x00, 0x00, 0,    0,    0,    0,
                                                0,    0,    0,    1,    0xff, 0xff, 0xff, 0xff};
    uint8_t chunk[TL_HEADER_SIZE + 10];
    tl_reader r;
    tl_frame f;
    size_t consumed;
    alloc_counter ac;

    memcpy(chunk, hdr, sizeof hdr);
    memset(chunk + TL_HEADER_SIZE, 'x', 10);
    reader_init_default(&r);
    counter_init(&ac, (size_t)-1);
    reader_use_counter(&r, &ac);
    /* Header alone, then ten bytes in a separate call. */
    assert_int_equal(tl_reader_next(&r, chunk, TL_HEADER_SIZE, &consumed, &f), TL_READ_MORE);
    assert_int_equal(tl_reader_next(&r, chunk + TL_HEADER_SIZE, 10, &consumed, &f), TL_READ_MORE);
    assert_int_equal(tl_reader_missing(&r), 131070 - 10);
    if (ac.max_request > ALLOC_BOUND(26))
        fail_msg("26 bytes received, %zu bytes requested", ac.max_request);
    tl_reader_free(&r);
    assert_int_equal(ac.live, 0);
}

/* tl_reader_would_complete: after any prefix of a frame has been fed, it is
 * 1 exactly when the bytes offered reach the frame's last byte. */
static void test_reader_would_complete_every_split_and_length(void **state)
{
    (void)state;
    for (size_t v = 0; v < GOLDEN_COUNT; v++) {
        const uint8_t *f = vec_bytes[v];
        size_t n = vec_len[v];
        for (size_t fed = 0; fed < n; fed++) {
            tl_reader r;
            tl_frame fr;
            size_t used = 0;
            tl_reader_init(&r, NULL);
            if (fed > 0) {
                assert_int_equal(tl_reader_next(&r, f, fed, &used, &fr), TL_READ_MORE);
                assert_int_equal(used, fed);
            }
            for (size_t offer = 0; offer <= n - fed; offer++) {
                assert_int_equal(tl_reader_would_complete(&r, f + fed, offer), offer == n - fed);
            }
            tl_reader_free(&r);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_would_complete_every_split_and_length),
        cmocka_unit_test(test_reader_whole_frame_each_vector_zero_copy),
        cmocka_unit_test(test_reader_whole_stream_of_all_vectors_in_order),
        cmocka_unit_test(test_reader_byte_by_byte_each_vector),
        cmocka_unit_test(test_reader_byte_by_byte_all_vectors_one_stream),
        cmocka_unit_test(test_reader_split_every_offset_each_vector),
        cmocka_unit_test(test_reader_two_frames_back_to_back_split_everywhere),
        cmocka_unit_test(test_reader_three_frames_back_to_back_split_everywhere),
        cmocka_unit_test(test_reader_three_frames_every_pair_of_cuts),
        cmocka_unit_test(test_reader_back_to_back_later_frames_zero_copy),
        cmocka_unit_test(test_reader_more_reports_missing_and_pending),
        cmocka_unit_test(test_reader_max_lengths_declared_waits_for_more),
        cmocka_unit_test(test_reader_text_limit_error_at_thl_offset),
        cmocka_unit_test(test_reader_body_limit_error_at_bl_offset),
        cmocka_unit_test(test_reader_bad_opcode_rejected_at_proto_offset),
        cmocka_unit_test(test_reader_bad_opcode_delivered_without_option),
        cmocka_unit_test(test_reader_reject_option_accepts_every_defined_opcode),
        cmocka_unit_test(test_reader_error_sticky_until_reset),
        cmocka_unit_test(test_reader_reset_drops_partial_frame),
        cmocka_unit_test(test_reader_random_splits_fixed_seed),
        cmocka_unit_test(test_reader_failing_allocator_gives_nomem_without_leak),
        cmocka_unit_test(test_reader_allocator_failing_at_each_step_no_leak),
        cmocka_unit_test(test_reader_huge_declared_length_allocates_only_received),
        cmocka_unit_test(test_reader_huge_text_and_body_declared_small_allocation),
    };
    return cmocka_run_group_tests(tests, load_vectors, NULL);
}
