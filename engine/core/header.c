/* Binary header and proto byte (PROTOCOL.md 1.2-1.4). */
#include "tofulab/wire.h"

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint16_t get_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint16_t get_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Explicit big-endian fields at fixed offsets, independent of the host (A1). */
void tl_header_encode(const tl_header *h, uint8_t out[TL_HEADER_SIZE])
{
    put_be16(out + 0, h->channel);
    out[2] = h->proto;
    out[3] = h->status;
    put_be64(out + 4, h->message_id);
    put_be16(out + 12, h->thl);
    put_be16(out + 14, h->bl);
}

void tl_header_decode(const uint8_t in[TL_HEADER_SIZE], tl_header *h)
{
    h->channel = get_be16(in + 0);
    h->proto = in[2];
    h->status = in[3];
    h->message_id = get_be64(in + 4);
    h->thl = get_be16(in + 12);
    h->bl = get_be16(in + 14);
}

/* tofu's in-memory header on a little-endian host, as its echo recipe copies
 * it into a body (section 1.3, section 7). */
void tl_header_encode_native(const tl_header *h, uint8_t out[TL_HEADER_SIZE])
{
    put_le16(out + 0, h->channel);
    out[2] = h->proto;
    out[3] = h->status;
    put_le64(out + 4, h->message_id);
    put_le16(out + 12, h->thl);
    put_le16(out + 14, h->bl);
}

void tl_header_decode_native(const uint8_t in[TL_HEADER_SIZE], tl_header *h)
{
    h->channel = get_le16(in + 0);
    h->proto = in[2];
    h->status = in[3];
    h->message_id = get_le64(in + 4);
    h->thl = get_le16(in + 12);
    h->bl = get_le16(in + 14);
}
