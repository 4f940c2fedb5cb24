/*
 * Fuzz target: encode -> decode (PROTOCOL.md 1.2-1.6, section 5). Statics
 * carry the rt_ prefix (see fuzz.h).
 *
 * Input: [channel:2] [proto] [status] [message_id:8] [thl:2] [bl:2] [split:2]
 *        [cut] [flags] [payload...]
 *   The first `split` payload bytes (at most all of them) are the text
 *   headers, the rest the body; thl/bl in the header are whatever the input
 *   says and must be ignored by the encoder (tofu recomputes them, 1.6).
 *
 * Checks: tl_header_encode against the byte layout of 1.2 written out here
 * by hand, and the native (little-endian, 1.3) form likewise; both decode
 * back. tl_frame_encode gives header || text || body with thl/bl from the
 * lengths and refuses a buffer one byte short. tl_writer's gather list,
 * consumed in steps chosen by `cut`, yields the same bytes. The reader reads
 * the frame back (whole, and split at `cut`) field by field. Last,
 * tl_post_validate (section 5, steps 2-9, flags from `flags`) is compared
 * with the rules of section 5 and A8/A12/A13/A16 applied here in tofu's order.
 */
#include <string.h>

#include "tofulab/wire.h"

#include "fuzz.h"

static uint8_t rt_frame[TL_MAX_FRAME_LEN];
static uint8_t rt_gather[TL_MAX_FRAME_LEN];

static int rt_header_equal(const tl_header *a, const tl_header *b)
{
    return a->channel == b->channel && a->proto == b->proto && a->status == b->status &&
           a->message_id == b->message_id && a->thl == b->thl && a->bl == b->bl;
}

static void rt_check_header_bytes(const tl_header *h)
{
    uint8_t be[TL_HEADER_SIZE], le[TL_HEADER_SIZE], want[TL_HEADER_SIZE];
    tl_header back;

    /* 1.2: channel@0 proto@2 status@3 message_id@4 thl@12 bl@14, big-endian. */
    want[0] = (uint8_t)(h->channel >> 8);
    want[1] = (uint8_t)(h->channel & 0xFF);
    want[2] = h->proto;
    want[3] = h->status;
    for (int i = 0; i < 8; i++) {
        want[4 + i] = (uint8_t)(h->message_id >> (56 - 8 * i));
    }
    want[12] = (uint8_t)(h->thl >> 8);
    want[13] = (uint8_t)(h->thl & 0xFF);
    want[14] = (uint8_t)(h->bl >> 8);
    want[15] = (uint8_t)(h->bl & 0xFF);
    tl_header_encode(h, be);
    FUZZ_CHECK(memcmp(be, want, sizeof want) == 0);
    tl_header_decode(be, &back);
    FUZZ_CHECK(rt_header_equal(&back, h));

    /* 1.3: the same fields, each little-endian. */
    want[0] = (uint8_t)(h->channel & 0xFF);
    want[1] = (uint8_t)(h->channel >> 8);
    for (int i = 0; i < 8; i++) {
        want[4 + i] = (uint8_t)(h->message_id >> (8 * i));
    }
    want[12] = (uint8_t)(h->thl & 0xFF);
    want[13] = (uint8_t)(h->thl >> 8);
    want[14] = (uint8_t)(h->bl & 0xFF);
    want[15] = (uint8_t)(h->bl >> 8);
    tl_header_encode_native(h, le);
    FUZZ_CHECK(memcmp(le, want, sizeof want) == 0);
    tl_header_decode_native(le, &back);
    FUZZ_CHECK(rt_header_equal(&back, h));
}

static void rt_check_frame(const tl_frame *f, const tl_header *h, const uint8_t *text, size_t tl,
                           const uint8_t *body, size_t bl)
{
    FUZZ_CHECK(f->offset == 0);
    FUZZ_CHECK(f->hdr.channel == h->channel && f->hdr.proto == h->proto && f->hdr.status == h->status);
    FUZZ_CHECK(f->hdr.message_id == h->message_id);
    FUZZ_CHECK(f->hdr.thl == tl && f->hdr.bl == bl);
    FUZZ_CHECK(tl == 0 || memcmp(f->text, text, tl) == 0);
    FUZZ_CHECK(bl == 0 || memcmp(f->body, body, bl) == 0);
}

static int rt_is_hello_or_welcome_request(unsigned op) { return op == 3 || op == 8; }

/* Section 5 steps 2-9 with the reference decisions, in tofu's order. */
static void rt_check_validate(const tl_header *h0, const uint8_t *text, size_t text_len, size_t body_len,
                              unsigned flags)
{
    tl_header h = *h0;
    tl_post_result r = tl_post_validate(&h, text, text_len, body_len, flags);
    unsigned op = h0->proto & 0x0Fu;
    if (op >= 10) {
        FUZZ_CHECK(r.err == TL_E_BAD_OPCODE && r.status == TL_STATUS_INVALID_OP_CODE);
        FUZZ_CHECK(rt_header_equal(&h, h0));
        return;
    }
    /* Forced fields (step 3), A8 and A2. */
    uint8_t proto = (uint8_t)(h0->proto & ~0x10u);
    if (flags & TL_POST_CLEAR_INTERNAL) {
        proto = (uint8_t)(proto & ~0xC0u);
        if (op == 7) {
            proto |= 0x40u;
        }
    }
    int response = op == 1 || op == 4 || op == 6 || op == 9;
    int regular = op <= 2;
    tl_status want = TL_STATUS_SUCCESS;
    if ((flags & TL_POST_NO_WELCOME_RESP) && op == 9) {
        want = TL_STATUS_NOT_ALLOWED;
    } else if (response && h0->message_id == 0) {
        want = TL_STATUS_INVALID_MESSAGE_ID;
    } else if (!regular && (h0->proto & 0x20u)) {
        want = TL_STATUS_INVALID_MORE_USAGE;
    } else if (h0->channel == 0 && !rt_is_hello_or_welcome_request(op)) {
        want = TL_STATUS_INVALID_CHANNEL_NUMBER;
    } else if ((flags & TL_POST_NO_CHANNEL_HELLO) && h0->channel != 0 && rt_is_hello_or_welcome_request(op)) {
        want = TL_STATUS_INVALID_CHANNEL_NUMBER;
    } else if (text_len > TL_MAX_TEXT_LEN) {
        want = TL_STATUS_INVALID_HEADERS_LEN;
    } else if (text_len == 0 && rt_is_hello_or_welcome_request(op)) {
        want = TL_STATUS_WRONG_ADDRESS;
    } else if ((flags & TL_POST_CHECK_ADDRESS) && rt_is_hello_or_welcome_request(op)) {
        tl_address a;
        want = tl_address_from_headers(text, text_len, op, &a);
    }
    if (want == TL_STATUS_SUCCESS && body_len > TL_MAX_BODY_LEN) {
        want = TL_STATUS_INVALID_BODY_LEN;
    }
    FUZZ_CHECK(r.status == want);
    FUZZ_CHECK(r.err == (want == TL_STATUS_SUCCESS ? TL_OK : TL_E_REJECTED));
    FUZZ_CHECK(h.status == (uint8_t)want);
    FUZZ_CHECK(h.proto == proto);
    FUZZ_CHECK(h.channel == h0->channel && h.message_id == h0->message_id);
    if (want == TL_STATUS_SUCCESS) {
        FUZZ_CHECK(h.thl == text_len && h.bl == body_len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bytes in;
    fuzz_bytes_init(&in, data, size);
    tl_header h;
    memset(&h, 0, sizeof h);
    h.channel = fuzz_u16(&in);
    h.proto = fuzz_u8(&in);
    h.status = fuzz_u8(&in);
    h.message_id = fuzz_u64(&in);
    h.thl = fuzz_u16(&in);
    h.bl = fuzz_u16(&in);
    size_t split = fuzz_u16(&in);
    uint8_t cut = fuzz_u8(&in);
    uint8_t flags = fuzz_u8(&in);
    size_t tl, bl;
    const uint8_t *text = fuzz_take(&in, split, &tl);
    const uint8_t *body = fuzz_take(&in, fuzz_left(&in), &bl);
    if (tl > TL_MAX_TEXT_LEN || bl > TL_MAX_BODY_LEN) {
        return 0;
    }

    rt_check_header_bytes(&h);

    /* tl_frame_encode: thl and bl come from the lengths, not from h. */
    size_t total = TL_HEADER_SIZE + tl + bl;
    int n = tl_frame_encode(&h, text, tl, body, bl, rt_frame, total);
    FUZZ_CHECK(n >= 0 && (size_t)n == total);
    tl_header want = h;
    want.thl = (uint16_t)tl;
    want.bl = (uint16_t)bl;
    uint8_t hdr[TL_HEADER_SIZE];
    tl_header_encode(&want, hdr);
    FUZZ_CHECK(memcmp(rt_frame, hdr, TL_HEADER_SIZE) == 0);
    FUZZ_CHECK(tl == 0 || memcmp(rt_frame + TL_HEADER_SIZE, text, tl) == 0);
    FUZZ_CHECK(bl == 0 || memcmp(rt_frame + TL_HEADER_SIZE + tl, body, bl) == 0);
    FUZZ_CHECK(tl_frame_encode(&h, text, tl, body, bl, rt_gather, total - 1) == TL_E_NOSPACE);

    /* The writer's gather list, consumed in steps of 1 + cut bytes (all of
     * it at once when cut is 0). */
    tl_writer w;
    FUZZ_CHECK(tl_writer_init(&w, &h, text, tl, body, bl) == TL_OK);
    FUZZ_CHECK(tl_writer_remaining(&w) == total);
    size_t got = 0;
    for (;;) {
        tl_iov iov[3];
        int k = tl_writer_iov(&w, iov, 3);
        FUZZ_CHECK(k >= 0 && k <= 3);
        if (k == 0) {
            break;
        }
        size_t step = cut ? (size_t)cut + 1 : total, done = 0;
        for (int i = 0; i < k && done < step; i++) {
            size_t take = iov[i].len < step - done ? iov[i].len : step - done;
            FUZZ_CHECK(iov[i].len > 0 && got + take <= total);
            memcpy(rt_gather + got, iov[i].base, take);
            got += take;
            done += take;
        }
        int rc = tl_writer_advance(&w, done);
        FUZZ_CHECK(rc == (got == total ? 1 : 0));
        FUZZ_CHECK(tl_writer_remaining(&w) == total - got);
    }
    FUZZ_CHECK(got == total && memcmp(rt_gather, rt_frame, total) == 0);
    FUZZ_CHECK(tl_writer_advance(&w, 1) == TL_E_INVAL);

    /* The reader gives the frame back: whole, then in two pieces. */
    tl_reader r;
    tl_frame f;
    size_t consumed;
    tl_reader_init(&r, NULL);
    FUZZ_CHECK(tl_reader_next(&r, rt_frame, total, &consumed, &f) == TL_READ_FRAME && consumed == total);
    rt_check_frame(&f, &h, text, tl, body, bl);
    tl_reader_free(&r);

    size_t first = total > 1 ? (size_t)cut % total : 0;
    tl_reader_init(&r, NULL);
    tl_read_result res = tl_reader_next(&r, rt_frame, first, &consumed, &f);
    FUZZ_CHECK(res == TL_READ_MORE && consumed == first);
    res = tl_reader_next(&r, rt_frame + first, total - first, &consumed, &f);
    FUZZ_CHECK(res == TL_READ_FRAME && consumed == total - first);
    f.offset = 0;
    rt_check_frame(&f, &h, text, tl, body, bl);
    tl_reader_free(&r);

    /* Post-time validation; lengths past 65535 are claimed by flags bits
     * 4-5 (the text pointer is only read for the address check). */
    size_t vtext = tl, vbody = bl;
    if (flags & 0x10) {
        vtext = TL_MAX_TEXT_LEN + 1 + cut;
    }
    if (flags & 0x20) {
        vbody = TL_MAX_BODY_LEN + 1 + cut;
    }
    rt_check_validate(&h, vtext > tl ? NULL : text, vtext, vbody, flags & 0x0Fu);
    return 0;
}
