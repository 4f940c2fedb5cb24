/*
 * Conformance suite: small utilities (text and byte buffers, clock, PRNG,
 * frame descriptions for the reports).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* ---- growable text ---- */

static int sb_reserve(tlc_sb *b, size_t extra)
{
    size_t need;
    char *ns;
    size_t ncap;

    if (b->oom) {
        return -1;
    }
    need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    ncap = b->cap ? b->cap : 128;
    while (ncap < need) {
        ncap *= 2;
    }
    ns = realloc(b->s, ncap);
    if (ns == NULL) {
        b->oom = 1;
        return -1;
    }
    b->s = ns;
    b->cap = ncap;
    return 0;
}

void tlc_sb_vprintf(tlc_sb *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || sb_reserve(b, (size_t)n) != 0) {
        return;
    }
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void tlc_sb_printf(tlc_sb *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tlc_sb_vprintf(b, fmt, ap);
    va_end(ap);
}

void tlc_sb_append(tlc_sb *b, const char *data, size_t len)
{
    if (sb_reserve(b, len) != 0) {
        return;
    }
    if (len > 0) {
        memcpy(b->s + b->len, data, len);
    }
    b->len += len;
    b->s[b->len] = '\0';
}

void tlc_sb_hex(tlc_sb *b, const uint8_t *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    if (sb_reserve(b, 2 * len) != 0) {
        return;
    }
    for (i = 0; i < len; i++) {
        b->s[b->len++] = hex[data[i] >> 4];
        b->s[b->len++] = hex[data[i] & 15];
    }
    b->s[b->len] = '\0';
}

void tlc_sb_quoted(tlc_sb *b, const uint8_t *data, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        uint8_t ch = data[i];

        if (ch == '\r') {
            tlc_sb_append(b, "\\r", 2);
        } else if (ch == '\n') {
            tlc_sb_append(b, "\\n", 2);
        } else if (ch == '\t') {
            tlc_sb_append(b, "\\t", 2);
        } else if (ch == '\\') {
            tlc_sb_append(b, "\\\\", 2);
        } else if (ch >= 0x20 && ch < 0x7f) {
            char one = (char)ch;
            tlc_sb_append(b, &one, 1);
        } else {
            tlc_sb_printf(b, "\\x%02x", ch);
        }
    }
}

char *tlc_sb_take(tlc_sb *b)
{
    char *s;

    if (b->s == NULL || b->oom) {
        free(b->s);
        memset(b, 0, sizeof *b);
        s = malloc(1);
        if (s != NULL) {
            s[0] = '\0';
        }
        return s;
    }
    s = b->s;
    memset(b, 0, sizeof *b);
    return s;
}

void tlc_sb_free(tlc_sb *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* ---- growable bytes ---- */

void tlc_bytes_append(tlc_bytes *b, const void *data, size_t len)
{
    if (b->oom) {
        return;
    }
    if (b->len + len > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        uint8_t *np;

        while (ncap < b->len + len) {
            ncap *= 2;
        }
        np = realloc(b->p, ncap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    if (len > 0) {
        memcpy(b->p + b->len, data, len);
    }
    b->len += len;
}

void tlc_bytes_free(tlc_bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- time and randomness ---- */

uint64_t tlc_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void tlc_sleep_us(uint64_t us)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(us / 1000000u);
    ts.tv_nsec = (long)(us % 1000000u) * 1000L;
    while (nanosleep(&ts, &ts) != 0) {
        /* interrupted: sleep the rest */
    }
}

uint64_t tlc_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- frame descriptions ---- */

static void describe_proto(tlc_sb *out, uint8_t proto)
{
    unsigned op = tl_proto_opcode(proto);
    const char *name = tl_opcode_name(op);

    tlc_sb_printf(out, "%s (proto 0x%02x", name != NULL ? name : "undefined op code", proto);
    if (name == NULL) {
        tlc_sb_printf(out, ", op %u", op);
    }
    if (proto & TL_PROTO_ORIGIN) {
        tlc_sb_printf(out, ", origin engine");
    }
    if (proto & TL_PROTO_MORE) {
        tlc_sb_printf(out, ", more");
    }
    if (proto & TL_PROTO_BIT_A) {
        tlc_sb_printf(out, ", bit A");
    }
    if (proto & TL_PROTO_BIT_B) {
        tlc_sb_printf(out, ", bit B");
    }
    tlc_sb_printf(out, ")");
}

static void describe_header(tlc_sb *out, const tl_header *h)
{
    describe_proto(out, h->proto);
    tlc_sb_printf(out, " channel 0x%04x status %u", h->channel, h->status);
    if (h->status != 0) {
        tlc_sb_printf(out, " (%s)", tl_status_name(h->status));
    }
    tlc_sb_printf(out, " id %llu thl %u bl %u", (unsigned long long)h->message_id, h->thl, h->bl);
}

#define DESCRIBE_MAX_TEXT 160u
#define DESCRIBE_MAX_BODY 64u

void tlc_describe_frames(tlc_sb *out, const uint8_t *data, size_t len, size_t total)
{
    size_t off = 0;
    size_t n = 0;

    while (off < len) {
        tl_header h;
        size_t need;

        if (len - off < TL_HEADER_SIZE) {
            tlc_sb_printf(out, "(%zu bytes: not a whole header)\n", len - off);
            break;
        }
        tl_header_decode(data + off, &h);
        need = TL_HEADER_SIZE + (size_t)h.thl + h.bl;
        if (n >= 64) {
            tlc_sb_printf(out, "... further frames not decoded\n");
            break;
        }
        n++;
        describe_header(out, &h);
        tlc_sb_printf(out, "\n");
        if (h.thl > 0) {
            size_t have = len - off - TL_HEADER_SIZE;
            size_t show = h.thl < have ? h.thl : have;
            int cut = 0;

            if (show > DESCRIBE_MAX_TEXT) {
                show = DESCRIBE_MAX_TEXT;
                cut = 1;
            }
            tlc_sb_printf(out, "  text \"");
            tlc_sb_quoted(out, data + off + TL_HEADER_SIZE, show);
            tlc_sb_printf(out, "\"%s\n", (cut || show < h.thl) ? " ..." : "");
        }
        if (h.bl > 0 && len - off > TL_HEADER_SIZE + (size_t)h.thl) {
            const uint8_t *body = data + off + TL_HEADER_SIZE + h.thl;
            size_t have = len - off - TL_HEADER_SIZE - h.thl;
            size_t show = h.bl < have ? h.bl : have;

            tlc_sb_printf(out, "  body ");
            tlc_sb_hex(out, body, show < DESCRIBE_MAX_BODY ? show : DESCRIBE_MAX_BODY);
            tlc_sb_printf(out, "%s\n", (show > DESCRIBE_MAX_BODY || show < h.bl) ? " ..." : "");
            if (h.bl == TL_HEADER_SIZE && have >= TL_HEADER_SIZE) {
                tl_header nb;

                tl_header_decode_native(body, &nb);
                tlc_sb_printf(out, "  body as native header: ");
                describe_header(out, &nb);
                tlc_sb_printf(out, "\n");
            }
        }
        if (need > len - off) {
            if (len < total) {
                tlc_sb_printf(out, "  (%zu more bytes not kept in the report)\n", total - len);
            } else {
                tlc_sb_printf(out, "  (incomplete: %zu of %zu bytes)\n", len - off, need);
            }
            break;
        }
        off += need;
    }
}

void tlc_frame_free(tlc_frame *f)
{
    free(f->text);
    free(f->body);
    memset(f, 0, sizeof *f);
}
