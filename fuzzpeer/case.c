/*
 * fuzz-peer: a test case (the bytes of one connection and how they are
 * delivered), its plan file, and the frame view the structure-level
 * mutators edit (frames split as a tofu receiver splits them, 1.1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- delivery plan ---- */

int fp_plan_is_plain(const fp_plan *p)
{
    return p->ncuts == 0 && !p->bytewise && p->stall_ms == 0 && !p->reset && p->end == FP_END_FIN;
}

void fp_plan_clamp(fp_plan *p, size_t len)
{
    size_t i, k = 0;

    for (i = 0; i < p->ncuts; i++) {
        if (p->cuts[i] > 0 && p->cuts[i] < len && (k == 0 || p->cuts[i] > p->cuts[k - 1])) {
            p->cuts[k++] = p->cuts[i];
        }
    }
    p->ncuts = k;
    if (p->stall_ms > 0 && (p->stall_at == 0 || p->stall_at >= len)) {
        p->stall_ms = 0;
        p->stall_at = 0;
    }
    if (p->reset && p->reset_at > len) {
        p->reset_at = len;
    }
}

size_t fp_plan_format(const fp_plan *p, char *out, size_t cap)
{
    size_t o = 0;
    size_t i;

#define PUT(...)                                                                                             \
    do {                                                                                                     \
        if (o < cap) {                                                                                       \
            int n_ = snprintf(out + o, cap - o, __VA_ARGS__);                                                \
            if (n_ > 0) {                                                                                    \
                o += (size_t)n_ < cap - o ? (size_t)n_ : cap - o - 1;                                        \
            }                                                                                                \
        }                                                                                                    \
    } while (0)

    if (cap == 0) {
        return 0;
    }
    out[0] = '\0';
    PUT("# tofulab fuzz-peer delivery plan: how the bytes of the file beside it are written\n");
    for (i = 0; i < p->ncuts; i++) {
        PUT("cut %zu\n", p->cuts[i]);
    }
    if (p->bytewise) {
        PUT("bytewise\n");
    }
    if (p->stall_ms > 0) {
        PUT("stall %zu %u\n", p->stall_at, p->stall_ms);
    }
    if (p->reset) {
        PUT("reset %zu\n", p->reset_at);
    }
    PUT("end %s\n", p->end == FP_END_RST ? "rst" : "fin");
#undef PUT
    return o;
}

/* A decimal number at *pos (no sign); -1 if none or too large. */
static int parse_num(const char *t, size_t len, size_t *pos, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t p = *pos;

    if (p >= len || t[p] < '0' || t[p] > '9') {
        return -1;
    }
    while (p < len && t[p] >= '0' && t[p] <= '9') {
        v = v * 10u + (uint64_t)(t[p] - '0');
        if (v > max) {
            return -1;
        }
        p++;
    }
    *pos = p;
    *out = v;
    return 0;
}

static void skip_blanks(const char *t, size_t len, size_t *pos)
{
    while (*pos < len && (t[*pos] == ' ' || t[*pos] == '\t')) {
        (*pos)++;
    }
}

int fp_plan_parse(const char *text, size_t len, const char *file, fp_plan *p, char *err, size_t err_cap)
{
    size_t pos = 0;
    unsigned line = 1;

    memset(p, 0, sizeof *p);
    while (pos < len) {
        size_t bol = pos, eol = pos, w0, w1;
        uint64_t a = 0, b = 0;

        while (eol < len && text[eol] != '\n') {
            eol++;
        }
        skip_blanks(text, eol, &pos);
        if (pos == eol || text[pos] == '#' || text[pos] == '\r') {
            pos = eol + 1;
            line++;
            continue;
        }
        w0 = pos;
        while (pos < eol && text[pos] != ' ' && text[pos] != '\t' && text[pos] != '\r') {
            pos++;
        }
        w1 = pos;
        skip_blanks(text, eol, &pos);
#define IS(word) (w1 - w0 == sizeof(word) - 1 && memcmp(text + w0, word, sizeof(word) - 1) == 0)
#define FAIL(col, ...)                                                                                       \
    do {                                                                                                     \
        char m_[200];                                                                                        \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                                \
        snprintf(err, err_cap, "%s:%u:%zu: %s", file, line, (size_t)(col)-bol + 1, m_);                      \
        return -1;                                                                                           \
    } while (0)
        if (IS("cut")) {
            if (parse_num(text, eol, &pos, TL_FP_MAX_INPUT, &a) != 0) {
                FAIL(pos, "cut needs a byte offset (0-%u)", TL_FP_MAX_INPUT);
            }
            if (p->ncuts == FP_MAX_CUTS) {
                FAIL(w0, "at most %d cuts", FP_MAX_CUTS);
            }
            if (p->ncuts > 0 && a <= p->cuts[p->ncuts - 1]) {
                FAIL(w0, "cut offsets must increase");
            }
            p->cuts[p->ncuts++] = (size_t)a;
        } else if (IS("bytewise")) {
            p->bytewise = 1;
        } else if (IS("stall")) {
            if (parse_num(text, eol, &pos, TL_FP_MAX_INPUT, &a) != 0) {
                FAIL(pos, "stall needs a byte offset, then milliseconds");
            }
            skip_blanks(text, eol, &pos);
            if (parse_num(text, eol, &pos, 60000, &b) != 0 || b == 0) {
                FAIL(pos, "stall needs milliseconds (1-60000) after the offset");
            }
            p->stall_at = (size_t)a;
            p->stall_ms = (unsigned)b;
        } else if (IS("reset")) {
            if (parse_num(text, eol, &pos, TL_FP_MAX_INPUT, &a) != 0) {
                FAIL(pos, "reset needs a byte offset");
            }
            p->reset = 1;
            p->reset_at = (size_t)a;
        } else if (IS("end")) {
            size_t v0 = pos;

            while (pos < eol && text[pos] != ' ' && text[pos] != '\t' && text[pos] != '\r') {
                pos++;
            }
            if (pos - v0 == 3 && memcmp(text + v0, "fin", 3) == 0) {
                p->end = FP_END_FIN;
            } else if (pos - v0 == 3 && memcmp(text + v0, "rst", 3) == 0) {
                p->end = FP_END_RST;
            } else {
                FAIL(v0, "end is 'fin' or 'rst'");
            }
        } else {
            FAIL(w0, "unknown word (cut, bytewise, stall, reset, end)");
        }
        skip_blanks(text, eol, &pos);
        if (pos < eol && text[pos] != '\r' && text[pos] != '#') {
            FAIL(pos, "unexpected text after the value");
        }
#undef IS
#undef FAIL
        pos = eol + 1;
        line++;
    }
    return 0;
}

int fp_case_copy(fp_case *dst, const fp_case *src)
{
    memset(dst, 0, sizeof *dst);
    dst->plan = src->plan;
    return fp_buf_set(&dst->bytes, src->bytes.p, src->bytes.len);
}

void fp_case_free(fp_case *c)
{
    fp_buf_free(&c->bytes);
    memset(c, 0, sizeof *c);
}

/* ---- frame view ---- */

void fp_sframe_free(fp_sframe *f)
{
    fp_buf_free(&f->text);
    fp_buf_free(&f->body);
    memset(f, 0, sizeof *f);
}

int fp_sframe_make(fp_sframe *f, unsigned proto, uint64_t id, const void *text, size_t tl, const void *body,
                   size_t bl)
{
    memset(f, 0, sizeof *f);
    f->h.channel = 0x1a2b;
    f->h.proto = (uint8_t)proto;
    f->h.message_id = id;
    if (fp_buf_set(&f->text, text, tl) != 0 || fp_buf_set(&f->body, body, bl) != 0) {
        fp_sframe_free(f);
        return -1;
    }
    return 0;
}

static int seq_grow(fp_seq *s)
{
    fp_sframe *nf = fp_grow(s->f, &s->cap, s->n, sizeof *nf, 8);

    if (nf == NULL) {
        return -1;
    }
    s->f = nf;
    return 0;
}

int fp_seq_insert(fp_seq *s, size_t at, const fp_sframe *f)
{
    fp_sframe c;

    if (at > s->n || seq_grow(s) != 0) {
        return -1;
    }
    memset(&c, 0, sizeof c);
    c.h = f->h;
    c.lie = f->lie;
    if (fp_buf_set(&c.text, f->text.p, f->text.len) != 0 ||
        fp_buf_set(&c.body, f->body.p, f->body.len) != 0) {
        fp_sframe_free(&c);
        return -1;
    }
    memmove(s->f + at + 1, s->f + at, (s->n - at) * sizeof *s->f);
    s->f[at] = c;
    s->n++;
    return 0;
}

void fp_seq_remove(fp_seq *s, size_t at)
{
    if (at >= s->n) {
        return;
    }
    fp_sframe_free(&s->f[at]);
    memmove(s->f + at, s->f + at + 1, (s->n - at - 1) * sizeof *s->f);
    s->n--;
}

void fp_seq_free(fp_seq *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        fp_sframe_free(&s->f[i]);
    }
    free(s->f);
    fp_buf_free(&s->tail);
    memset(s, 0, sizeof *s);
}

int fp_seq_parse(fp_seq *s, const uint8_t *data, size_t len)
{
    size_t off = 0;

    memset(s, 0, sizeof *s);
    while (len - off >= TL_HEADER_SIZE) {
        tl_header h;
        size_t need;
        fp_sframe f;

        tl_header_decode(data + off, &h);
        need = TL_HEADER_SIZE + (size_t)h.thl + h.bl;
        if (need > len - off) {
            break;
        }
        if (fp_sframe_make(&f, h.proto, h.message_id, data + off + TL_HEADER_SIZE, h.thl,
                           data + off + TL_HEADER_SIZE + h.thl, h.bl) != 0) {
            fp_seq_free(s);
            return -1;
        }
        f.h = h;
        if (seq_grow(s) != 0) {
            fp_sframe_free(&f);
            fp_seq_free(s);
            return -1;
        }
        s->f[s->n++] = f;
        off += need;
    }
    if (len > off && fp_buf_set(&s->tail, data + off, len - off) != 0) {
        fp_seq_free(s);
        return -1;
    }
    return 0;
}

size_t fp_seq_bytes(const fp_seq *s)
{
    size_t n = s->tail.len;
    size_t i;

    for (i = 0; i < s->n; i++) {
        n += TL_HEADER_SIZE + s->f[i].text.len + s->f[i].body.len;
    }
    return n;
}

int fp_seq_write(const fp_seq *s, fp_buf *out)
{
    size_t i;

    out->len = 0;
    if (fp_buf_reserve(out, fp_seq_bytes(s)) != 0) {
        return -1;
    }
    for (i = 0; i < s->n; i++) {
        const fp_sframe *f = &s->f[i];
        tl_header h = f->h;
        uint8_t hdr[TL_HEADER_SIZE];
        size_t tl = f->text.len > TL_MAX_TEXT_LEN ? TL_MAX_TEXT_LEN : f->text.len;
        size_t bl = f->body.len > TL_MAX_BODY_LEN ? TL_MAX_BODY_LEN : f->body.len;

        if (!f->lie) {
            h.thl = (uint16_t)tl;
            h.bl = (uint16_t)bl;
        }
        tl_header_encode(&h, hdr);
        fp_buf_append(out, hdr, sizeof hdr);
        fp_buf_append(out, f->text.p, tl);
        fp_buf_append(out, f->body.p, bl);
    }
    fp_buf_append(out, s->tail.p, s->tail.len);
    return 0;
}
