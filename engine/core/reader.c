/* Streaming frame reader (PROTOCOL.md 1.1): feed any split of the stream.
 *
 * A frame lying wholly inside the caller's bytes is returned in place (no
 * copy). A frame split across calls is gathered into a buffer that grows only
 * with the bytes actually received, never ahead of them because of a length
 * field. */
#include <stdlib.h>
#include <string.h>

#include "tofulab/wire.h"

static void *default_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return realloc(ptr, size);
}

static void default_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

void tl_reader_init(tl_reader *r, const tl_reader_options *opt)
{
    memset(r, 0, sizeof *r);
    if (opt != NULL) {
        r->opt = *opt;
    }
    if (r->opt.max_text == 0 || r->opt.max_text > TL_MAX_TEXT_LEN) {
        r->opt.max_text = TL_MAX_TEXT_LEN;
    }
    if (r->opt.max_body == 0 || r->opt.max_body > TL_MAX_BODY_LEN) {
        r->opt.max_body = TL_MAX_BODY_LEN;
    }
    r->realloc_fn = default_realloc;
    r->free_fn = default_free;
}

void tl_reader_free(tl_reader *r)
{
    if (r->buf != NULL) {
        r->free_fn(r->alloc_ctx, r->buf);
    }
    r->buf = NULL;
    r->buf_cap = 0;
    r->buf_len = 0;
    r->hdr_have = 0;
}

void tl_reader_reset(tl_reader *r)
{
    r->hdr_have = 0;
    r->buf_len = 0;
    r->failed = 0;
    memset(&r->error, 0, sizeof r->error);
}

static tl_read_result fail(tl_reader *r, int code, uint64_t offset, const char *rule, size_t value,
                           size_t limit)
{
    r->failed = 1;
    r->error.code = code;
    r->error.offset = offset;
    r->error.rule = rule;
    r->error.value = value;
    r->error.limit = limit;
    return TL_READ_ERROR;
}

/* Limits and the optional op code rule, checked as soon as a header is known. */
static tl_read_result check_header(tl_reader *r, const tl_header *h, uint64_t frame_offset)
{
    if (r->opt.reject_bad_opcode && tl_proto_opcode(h->proto) >= TL_OPCODE_COUNT) {
        return fail(r, TL_E_BAD_OPCODE, frame_offset + 2, "op code 10-15 is undefined",
                    tl_proto_opcode(h->proto), TL_OPCODE_COUNT - 1);
    }
    if (h->thl > r->opt.max_text) {
        return fail(r, TL_E_LIMIT, frame_offset + 12, "thl exceeds the text header limit", h->thl,
                    r->opt.max_text);
    }
    if (h->bl > r->opt.max_body) {
        return fail(r, TL_E_LIMIT, frame_offset + 14, "bl exceeds the body limit", h->bl, r->opt.max_body);
    }
    return TL_READ_FRAME;
}

static int grow(tl_reader *r, size_t want, size_t need)
{
    if (want <= r->buf_cap) {
        return TL_OK;
    }
    /* Double what we hold, but never past what the frame needs nor ahead of
     * the bytes in hand by more than that factor. */
    size_t cap = r->buf_cap ? r->buf_cap * 2 : 256;
    if (cap < want) {
        cap = want;
    }
    if (cap > need) {
        cap = need;
    }
    void *p = r->realloc_fn(r->alloc_ctx, r->buf, cap);
    if (p == NULL) {
        return TL_E_NOMEM;
    }
    r->buf = p;
    r->buf_cap = cap;
    return TL_OK;
}

tl_read_result tl_reader_next(tl_reader *r, const uint8_t *data, size_t len, size_t *consumed,
                              tl_frame *frame)
{
    size_t pos = 0;
    tl_read_result res = TL_READ_MORE;
    *consumed = 0;
    if (r->failed) {
        return TL_READ_ERROR;
    }
    if (data == NULL) {
        len = 0;
    }

    /* Fast path: a whole frame in place. */
    if (r->hdr_have == 0 && len >= TL_HEADER_SIZE) {
        tl_header h;
        tl_header_decode(data, &h);
        r->hdr = h; /* so that an error can be explained from r->hdr */
        if (check_header(r, &h, r->stream_offset) == TL_READ_ERROR) {
            return TL_READ_ERROR;
        }
        size_t need = (size_t)h.thl + h.bl;
        if (len - TL_HEADER_SIZE >= need) {
            frame->hdr = h;
            frame->text = data + TL_HEADER_SIZE;
            frame->body = data + TL_HEADER_SIZE + h.thl;
            frame->offset = r->stream_offset;
            *consumed = TL_HEADER_SIZE + need;
            r->stream_offset += *consumed;
            return TL_READ_FRAME;
        }
    }

    /* Slow path: gather the header, then text and body. */
    if (r->hdr_have < TL_HEADER_SIZE) {
        if (len == 0) {
            return TL_READ_MORE;
        }
        if (r->hdr_have == 0) {
            r->frame_offset = r->stream_offset;
        }
        size_t take = TL_HEADER_SIZE - r->hdr_have;
        if (take > len) {
            take = len;
        }
        memcpy(r->hdr_buf + r->hdr_have, data, take);
        r->hdr_have += take;
        pos += take;
        if (r->hdr_have < TL_HEADER_SIZE) {
            goto out;
        }
        tl_header_decode(r->hdr_buf, &r->hdr);
        r->buf_len = 0;
        if (check_header(r, &r->hdr, r->frame_offset) == TL_READ_ERROR) {
            res = TL_READ_ERROR;
            goto out;
        }
    }

    size_t need = (size_t)r->hdr.thl + r->hdr.bl;
    size_t take = need - r->buf_len;
    if (take > len - pos) {
        take = len - pos;
    }
    const uint8_t *payload;
    if (r->buf_len == 0 && take == need) {
        payload = data + pos; /* the rest of the frame is in place */
        pos += take;
    } else {
        if (take > 0) {
            if (grow(r, r->buf_len + take, need) != TL_OK) {
                res = fail(r, TL_E_NOMEM, r->stream_offset + pos, "out of memory", r->buf_len + take, 0);
                goto out;
            }
            memcpy(r->buf + r->buf_len, data + pos, take);
            r->buf_len += take;
            pos += take;
        }
        if (r->buf_len < need) {
            goto out;
        }
        payload = r->buf;
    }
    frame->hdr = r->hdr;
    frame->text = payload;
    frame->body = payload + r->hdr.thl;
    frame->offset = r->frame_offset;
    r->hdr_have = 0;
    r->buf_len = 0;
    res = TL_READ_FRAME;
out:
    *consumed = pos;
    r->stream_offset += pos;
    return res;
}

size_t tl_reader_missing(const tl_reader *r)
{
    if (r->hdr_have == 0) {
        return 0;
    }
    if (r->hdr_have < TL_HEADER_SIZE) {
        return TL_HEADER_SIZE - r->hdr_have;
    }
    return (size_t)r->hdr.thl + r->hdr.bl - r->buf_len;
}

size_t tl_reader_pending(const tl_reader *r) { return r->hdr_have + r->buf_len; }

const tl_reader_error_info *tl_reader_error(const tl_reader *r) { return r->failed ? &r->error : NULL; }

int tl_reader_would_complete(const tl_reader *r, const uint8_t *data, size_t len)
{
    if (r->failed || (data == NULL && len > 0)) {
        return 0;
    }
    if (r->hdr_have == TL_HEADER_SIZE) {
        return len >= (size_t)r->hdr.thl + r->hdr.bl - r->buf_len;
    }
    if (r->hdr_have + len < TL_HEADER_SIZE) {
        return 0;
    }
    uint8_t hb[TL_HEADER_SIZE];
    tl_header h;
    size_t from_data = TL_HEADER_SIZE - r->hdr_have;
    memcpy(hb, r->hdr_buf, r->hdr_have);
    memcpy(hb + r->hdr_have, data, from_data);
    tl_header_decode(hb, &h);
    return len - from_data >= (size_t)h.thl + h.bl;
}
