/*
 * fuzz-peer: growable bytes, PRNG and text helpers (the clock is conform's,
 * conform/util.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int fp_buf_reserve(fp_buf *b, size_t extra)
{
    size_t need = b->len + extra;
    size_t ncap;
    uint8_t *np;

    if (need < b->len) {
        return -1;
    }
    if (need <= b->cap) {
        return 0;
    }
    ncap = b->cap ? b->cap : 64;
    while (ncap < need) {
        ncap *= 2;
    }
    np = realloc(b->p, ncap);
    if (np == NULL) {
        return -1;
    }
    b->p = np;
    b->cap = ncap;
    return 0;
}

void *fp_grow(void *items, size_t *cap, size_t n, size_t elem, size_t first)
{
    size_t ncap;
    void *ni;

    if (n < *cap) {
        return items;
    }
    ncap = *cap ? *cap * 2 : first;
    ni = realloc(items, ncap * elem);
    if (ni != NULL) {
        *cap = ncap;
    }
    return ni;
}

int fp_buf_append(fp_buf *b, const void *data, size_t len)
{
    if (fp_buf_reserve(b, len) != 0) {
        return -1;
    }
    if (len > 0) {
        memcpy(b->p + b->len, data, len);
    }
    b->len += len;
    return 0;
}

int fp_buf_insert(fp_buf *b, size_t at, const void *data, size_t len)
{
    if (at > b->len || fp_buf_reserve(b, len) != 0) {
        return -1;
    }
    if (len > 0) {
        memmove(b->p + at + len, b->p + at, b->len - at);
        memcpy(b->p + at, data, len);
    }
    b->len += len;
    return 0;
}

int fp_buf_set(fp_buf *b, const void *data, size_t len)
{
    b->len = 0;
    return fp_buf_append(b, data, len);
}

void fp_buf_erase(fp_buf *b, size_t at, size_t len)
{
    if (at >= b->len) {
        return;
    }
    if (len > b->len - at) {
        len = b->len - at;
    }
    memmove(b->p + at, b->p + at + len, b->len - at - len);
    b->len -= len;
}

void fp_buf_free(fp_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

uint64_t fp_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t fp_below(uint64_t *state, uint64_t n) { return n == 0 ? 0 : fp_rand(state) % n; }

uint64_t fp_hash(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

char *fp_fmt(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;

    if (cap == 0) {
        return out;
    }
    va_start(ap, fmt);
    vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return out;
}

static int is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

void fp_normalize(char *out, size_t cap, const char *line)
{
    size_t o = 0;
    const char *p = line;

    if (cap == 0) {
        return;
    }
    /* Sanitizers prefix their lines with ==PID==. */
    if (p[0] == '=' && p[1] == '=') {
        const char *q = p + 2;

        while (*q >= '0' && *q <= '9') {
            q++;
        }
        if (q[0] == '=' && q[1] == '=') {
            p = q + 2;
        }
    }
    while (*p == ' ') {
        p++;
    }
    while (*p != '\0' && *p != '\n' && o + 4 < cap) {
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && is_hex(p[2])) {
            out[o++] = '0';
            out[o++] = 'x';
            out[o++] = '#';
            p += 2;
            while (is_hex(*p)) {
                p++;
            }
        } else if (*p >= '0' && *p <= '9') {
            out[o++] = '#';
            while (*p >= '0' && *p <= '9') {
                p++;
            }
        } else {
            unsigned char ch = (unsigned char)*p++;

            out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
        }
    }
    while (o > 0 && out[o - 1] == ' ') {
        o--;
    }
    out[o] = '\0';
}

void fp_printable(char *out, size_t cap, const uint8_t *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    size_t i;

    if (cap == 0) {
        return;
    }
    for (i = 0; i < len; i++) {
        uint8_t ch = data[i];

        if (o + 8 >= cap) {
            if (o + 4 <= cap) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

void fp_copy(char *dst, size_t cap, const char *src)
{
    size_t n;

    if (cap == 0) {
        return;
    }
    n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}
