/* Frame writer: header, text headers and body as a gather list (PROTOCOL.md
 * 1.1, 6.6), resumable after short writes. */
#include <string.h>

#include "tofulab/wire.h"

int tl_writer_init(tl_writer *w, const tl_header *h, const uint8_t *text, size_t text_len,
                   const uint8_t *body, size_t body_len)
{
    if (text_len > TL_MAX_TEXT_LEN || body_len > TL_MAX_BODY_LEN) {
        return TL_E_TOO_LONG;
    }
    if ((text == NULL && text_len != 0) || (body == NULL && body_len != 0)) {
        return TL_E_INVAL;
    }
    tl_header hh = *h;
    /* tofu recomputes both lengths from the content at send time. */
    hh.thl = (uint16_t)text_len;
    hh.bl = (uint16_t)body_len;
    tl_header_encode(&hh, w->hdr);
    w->text = text;
    w->text_len = text_len;
    w->body = body;
    w->body_len = body_len;
    w->total = TL_HEADER_SIZE + text_len + body_len;
    w->written = 0;
    return TL_OK;
}

int tl_writer_iov(const tl_writer *w, tl_iov *iov, int max)
{
    const uint8_t *base[3] = {w->hdr, w->text, w->body};
    size_t len[3] = {TL_HEADER_SIZE, w->text_len, w->body_len};
    size_t skip = w->written;
    int n = 0;
    for (int i = 0; i < 3 && n < max; i++) {
        if (skip >= len[i]) {
            skip -= len[i];
            continue;
        }
        iov[n].base = base[i] + skip;
        iov[n].len = len[i] - skip;
        skip = 0;
        n++;
    }
    return n;
}

int tl_writer_advance(tl_writer *w, size_t n)
{
    if (n > w->total - w->written) {
        return TL_E_INVAL;
    }
    w->written += n;
    return w->written == w->total ? 1 : 0;
}

int tl_frame_encode(const tl_header *h, const uint8_t *text, size_t text_len, const uint8_t *body,
                    size_t body_len, uint8_t *out, size_t cap)
{
    tl_writer w;
    int rc = tl_writer_init(&w, h, text, text_len, body, body_len);
    if (rc != TL_OK) {
        return rc;
    }
    if (w.total > cap) {
        return TL_E_NOSPACE;
    }
    memcpy(out, w.hdr, TL_HEADER_SIZE);
    if (text_len > 0) {
        memcpy(out + TL_HEADER_SIZE, text, text_len);
    }
    if (body_len > 0) {
        memcpy(out + TL_HEADER_SIZE + text_len, body, body_len);
    }
    return (int)w.total;
}
