/*
 * Fuzz target: the streaming frame reader (tl_reader_next, PROTOCOL.md 1.1-1.6).
 * Statics carry the rd_ prefix (see fuzz.h).
 *
 * Input: [cfg] [k] [k split bytes] [stream...]
 *   cfg   low nibble / high nibble: the small max_text / max_body of run 2
 *   k     bits 0-3: number of split bytes; bit 4: run 2 rejects op codes
 *         10-15; bit 5: run 2 keeps the default limits; bit 6: run 2's
 *         allocations fail; bit 7: run 2 uses the splits too (else one piece)
 *   split each byte is the length of the next reader call, cycled; 0 means a
 *         zero-length call followed by the whole rest of the stream.
 *
 * Three runs over the same stream: the given splits with default options; the
 * small limits (split or in one piece, bit 7); the whole stream in one piece. Each run
 * is checked against an independent frame splitter written here from 1.2 (no
 * tl_header_decode): same frames at the same offsets, same first error at the
 * same offset; every frame re-encodes (tl_frame_encode) to exactly the bytes
 * it was read from; the reader never reports consuming more than it was given;
 * pending/missing agree with the bytes held; an error is sticky.
 */
#include <string.h>

#include "tofulab/wire.h"

#include "fuzz.h"

#define RD_MAX_FRAMES 4096

typedef struct {
    size_t max_text, max_body;
    int reject_bad_opcode;
    int alloc_fails;
} rd_config;

/* The independent reading of the stream. */
typedef struct {
    size_t offsets[RD_MAX_FRAMES]; /* complete frames, in order */
    size_t count;
    int error;          /* 0, TL_E_BAD_OPCODE or TL_E_LIMIT after the last frame */
    size_t error_field; /* stream offset of the offending field */
    size_t error_value, error_limit;
    size_t tail_start; /* first byte not in a complete frame */
} rd_expect;

static uint16_t rd_be16(const uint8_t *p) { return (uint16_t)(p[0] * 256u + p[1]); }

static void rd_split_naively(const uint8_t *s, size_t n, const rd_config *c, rd_expect *x)
{
    size_t off = 0;
    x->count = 0;
    x->error = 0;
    x->error_field = x->error_value = x->error_limit = 0;
    while (n - off >= TL_HEADER_SIZE) {
        size_t op = s[off + 2] & 0x0Fu, thl = rd_be16(s + off + 12), bl = rd_be16(s + off + 14);
        if (c->reject_bad_opcode && op >= 10) {
            x->error = TL_E_BAD_OPCODE;
            x->error_field = off + 2;
            x->error_value = op;
            x->error_limit = 9;
            break;
        }
        if (thl > c->max_text) {
            x->error = TL_E_LIMIT;
            x->error_field = off + 12;
            x->error_value = thl;
            x->error_limit = c->max_text;
            break;
        }
        if (bl > c->max_body) {
            x->error = TL_E_LIMIT;
            x->error_field = off + 14;
            x->error_value = bl;
            x->error_limit = c->max_body;
            break;
        }
        if (n - off - TL_HEADER_SIZE < thl + bl) {
            break;
        }
        x->offsets[x->count++] = off;
        off += TL_HEADER_SIZE + thl + bl;
    }
    x->tail_start = off;
}

static void *rd_failing_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    (void)ptr;
    (void)size;
    return NULL;
}

static void rd_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

static uint8_t rd_encoded[TL_MAX_FRAME_LEN];

/* One frame as yielded: fields as the naive reading says, bytes in place. */
static void rd_check_frame(const uint8_t *s, size_t frame_start, const tl_frame *f)
{
    const uint8_t *h = s + frame_start;
    FUZZ_CHECK(f->offset == frame_start);
    FUZZ_CHECK(f->hdr.channel == rd_be16(h));
    FUZZ_CHECK(f->hdr.proto == h[2]);
    FUZZ_CHECK(f->hdr.status == h[3]);
    uint64_t id = 0;
    for (int i = 0; i < 8; i++) {
        id = (id << 8) | h[4 + i];
    }
    FUZZ_CHECK(f->hdr.message_id == id);
    FUZZ_CHECK(f->hdr.thl == rd_be16(h + 12));
    FUZZ_CHECK(f->hdr.bl == rd_be16(h + 14));
    FUZZ_CHECK(f->hdr.thl == 0 || memcmp(f->text, h + TL_HEADER_SIZE, f->hdr.thl) == 0);
    FUZZ_CHECK(f->hdr.bl == 0 || memcmp(f->body, h + TL_HEADER_SIZE + f->hdr.thl, f->hdr.bl) == 0);
    size_t len = TL_HEADER_SIZE + (size_t)f->hdr.thl + f->hdr.bl;
    int n = tl_frame_encode(&f->hdr, f->text, f->hdr.thl, f->body, f->hdr.bl, rd_encoded, sizeof rd_encoded);
    FUZZ_CHECK(n >= 0 && (size_t)n == len);
    FUZZ_CHECK(memcmp(rd_encoded, h, len) == 0);
    /* One byte short of room is refused, not overrun. */
    FUZZ_CHECK(tl_frame_encode(&f->hdr, f->text, f->hdr.thl, f->body, f->hdr.bl, rd_encoded, len - 1) ==
               TL_E_NOSPACE);
}

static void rd_run(const uint8_t *s, size_t n, const uint8_t *splits, size_t nsplits, const rd_config *c)
{
    static rd_expect expect;
    rd_expect *x = &expect;
    rd_split_naively(s, n, c, x);

    tl_reader_options opt = {c->max_text, c->max_body, c->reject_bad_opcode};
    tl_reader r;
    tl_reader_init(&r, &opt);
    if (c->alloc_fails) {
        r.realloc_fn = rd_failing_realloc;
        r.free_fn = rd_free;
    }
    size_t pos = 0, frames = 0, split = 0, frame_start = 0;
    int failed = 0;
    int zero_call = 0;
    while (!failed && (pos < n || zero_call)) {
        size_t chunk = n - pos;
        if (nsplits > 0 && !zero_call) {
            uint8_t sb = splits[split++ % nsplits];
            if (sb == 0) {
                zero_call = 1;
                chunk = 0;
            } else if (sb < chunk) {
                chunk = sb;
            }
        } else {
            zero_call = 0;
        }
        size_t end = pos + chunk;
        do {
            size_t consumed = (size_t)-1;
            tl_frame f;
            tl_read_result rc = tl_reader_next(&r, s + pos, end - pos, &consumed, &f);
            FUZZ_CHECK(consumed <= end - pos);
            if (rc == TL_READ_ERROR) {
                const tl_reader_error_info *e = tl_reader_error(&r);
                FUZZ_CHECK(e != NULL);
                if (e->code == TL_E_NOMEM) {
                    FUZZ_CHECK(c->alloc_fails);
                } else {
                    FUZZ_CHECK(frames == x->count);
                    FUZZ_CHECK(e->code == x->error);
                    FUZZ_CHECK(e->offset == x->error_field);
                    FUZZ_CHECK(e->value == x->error_value);
                    FUZZ_CHECK(e->limit == x->error_limit);
                    FUZZ_CHECK(e->rule != NULL);
                    /* wire.h: r->hdr then holds the offending header. */
                    const uint8_t *h = s + frame_start;
                    FUZZ_CHECK(r.hdr.proto == h[2] && r.hdr.thl == rd_be16(h + 12) &&
                               r.hdr.bl == rd_be16(h + 14));
                    FUZZ_CHECK(r.hdr.channel == rd_be16(h) && r.hdr.status == h[3]);
                }
                /* Sticky until reset. */
                size_t again = 1;
                FUZZ_CHECK(tl_reader_next(&r, s + pos, end - pos, &again, &f) == TL_READ_ERROR);
                FUZZ_CHECK(again == 0);
                failed = 1;
                break;
            }
            pos += consumed;
            if (rc == TL_READ_FRAME) {
                FUZZ_CHECK(frames < x->count);
                FUZZ_CHECK(x->offsets[frames] == frame_start);
                rd_check_frame(s, frame_start, &f);
                /* The frame ends exactly where the reader says it stopped. */
                FUZZ_CHECK(frame_start + TL_HEADER_SIZE + f.hdr.thl + f.hdr.bl == pos);
                frames++;
                frame_start = pos;
                FUZZ_CHECK(tl_reader_pending(&r) == 0 && tl_reader_missing(&r) == 0);
            } else {
                FUZZ_CHECK(rc == TL_READ_MORE);
                FUZZ_CHECK(pos == end);
                size_t held = pos - frame_start;
                FUZZ_CHECK(tl_reader_pending(&r) == held);
                size_t missing = tl_reader_missing(&r);
                if (held == 0) {
                    FUZZ_CHECK(missing == 0);
                } else if (held < TL_HEADER_SIZE) {
                    FUZZ_CHECK(missing == TL_HEADER_SIZE - held);
                } else {
                    const uint8_t *h = s + frame_start;
                    FUZZ_CHECK(held + missing == TL_HEADER_SIZE + rd_be16(h + 12) + (size_t)rd_be16(h + 14));
                    FUZZ_CHECK(missing > 0);
                }
            }
        } while (pos < end);
    }
    if (!failed) {
        /* Everything was offered: every frame came out, the tail is held. */
        FUZZ_CHECK(frames == x->count);
        FUZZ_CHECK(x->error == 0);
        FUZZ_CHECK(frame_start == x->tail_start);
        FUZZ_CHECK(tl_reader_error(&r) == NULL);
    } else {
        /* After a reset the reader takes a fresh empty frame at the current offset. */
        static const uint8_t empty_frame[TL_HEADER_SIZE] = {0};
        uint64_t at = r.stream_offset;
        tl_reader_reset(&r);
        FUZZ_CHECK(tl_reader_error(&r) == NULL && tl_reader_pending(&r) == 0);
        size_t consumed = 0;
        tl_frame f;
        FUZZ_CHECK(tl_reader_next(&r, empty_frame, sizeof empty_frame, &consumed, &f) == TL_READ_FRAME);
        FUZZ_CHECK(consumed == TL_HEADER_SIZE && f.offset == at);
    }
    tl_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bytes in;
    fuzz_bytes_init(&in, data, size);
    uint8_t cfg = fuzz_u8(&in);
    uint8_t k = fuzz_u8(&in);
    size_t nsplits;
    const uint8_t *splits = fuzz_take(&in, k & 0x0Fu, &nsplits);
    size_t n;
    /* At most RD_MAX_FRAMES frames fit: every frame has 16 header bytes. */
    const uint8_t *stream = fuzz_take(&in, (size_t)RD_MAX_FRAMES * TL_HEADER_SIZE, &n);

    rd_config plain = {TL_MAX_TEXT_LEN, TL_MAX_BODY_LEN, 0, 0};
    rd_config small = {(size_t)(cfg & 0x0Fu) * 5u + 1u, (size_t)(cfg >> 4) * 5u + 1u, (k & 0x10) != 0,
                       (k & 0x40) != 0};
    if (k & 0x20) {
        small.max_text = TL_MAX_TEXT_LEN;
        small.max_body = TL_MAX_BODY_LEN;
    }
    rd_run(stream, n, splits, nsplits, &plain);
    if (k & 0x80) {
        rd_run(stream, n, splits, nsplits, &small);
    } else {
        rd_run(stream, n, NULL, 0, &small);
    }
    if (nsplits > 0) {
        rd_run(stream, n, NULL, 0, &plain);
    }
    return 0;
}
