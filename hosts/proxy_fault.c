/*
 * The proxy's fault words (docs/proxy.md) and toxiproxy's toxics, both read
 * into tl_px_fault. Link words are read by the scenario parser
 * (scn_parse_link_words), so `delay 20ms jitter 5ms distribution normal`
 * means on a real socket what it means in the simulator.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "../sim/scenario.h"

#define MAX_WORDS 48

typedef struct {
    const char *p;
    size_t n;
    unsigned col; /* from 1 */
} word;

typedef struct {
    word w[MAX_WORDS];
    size_t nw;
    char *err;
    size_t cap;
    int failed;
} wparser;

static int werr(wparser *wp, const word *w, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int werr(wparser *wp, const word *w, const char *fmt, ...)
{
    char msg[240];
    va_list ap;
    if (wp->failed) {
        return -1;
    }
    wp->failed = 1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w != NULL) {
        snprintf(wp->err, wp->cap, "column %u: %s", w->col, msg);
    } else {
        snprintf(wp->err, wp->cap, "%s", msg);
    }
    return -1;
}

static int is(const word *w, const char *s) { return strlen(s) == w->n && memcmp(w->p, s, w->n) == 0; }

static int has_prefix(const word *w, const char *s)
{
    size_t n = strlen(s);
    return w->n >= n && memcmp(w->p, s, n) == 0;
}

static void wcopy(const word *w, char *out, size_t cap)
{
    size_t n = w->n < cap - 1 ? w->n : cap - 1;
    memcpy(out, w->p, n);
    out[n] = '\0';
}

/* "expected WHAT, got 'WORD'" or "... at the end". */
static int wexpected(wparser *wp, size_t i, const char *what)
{
    if (i >= wp->nw) {
        return werr(wp, NULL, "expected %s at the end", what);
    }
    char q[48];
    size_t o = 0;
    for (size_t k = 0; k < wp->w[i].n && o + 5 < sizeof q; k++) {
        unsigned char c = (unsigned char)wp->w[i].p[k];
        if (c >= 0x20 && c < 0x7f) {
            q[o++] = (char)c;
        } else {
            o += (size_t)snprintf(q + o, sizeof q - o, "\\x%02x", c);
        }
    }
    q[o] = '\0';
    return werr(wp, &wp->w[i], "expected %s, got '%s'", what, q);
}

static int split_words(wparser *wp, const char *text)
{
    size_t i = 0, len = strlen(text);
    wp->nw = 0;
    while (i < len) {
        while (i < len && (text[i] == ' ' || text[i] == '\t')) {
            i++;
        }
        if (i >= len) {
            break;
        }
        size_t start = i;
        while (i < len && text[i] != ' ' && text[i] != '\t') {
            i++;
        }
        word w = {text + start, i - start, (unsigned)start + 1};
        for (size_t k = 0; k < w.n; k++) {
            unsigned char c = (unsigned char)w.p[k];
            if (c < 0x20 || c == 0x7f) {
                return werr(wp, &w, "expected printable words, got a control character (byte 0x%02x)", c);
            }
        }
        if (wp->nw == MAX_WORDS) {
            return werr(wp, &w, "expected at most %d words", MAX_WORDS);
        }
        wp->w[wp->nw++] = w;
    }
    if (wp->nw == 0) {
        return werr(wp, NULL, "expected fault words (e.g. 'delay 20ms', 'blackhole', 'heal'), got nothing");
    }
    return 0;
}

/* ---- values ---- */

static int w_time(wparser *wp, size_t i, uint64_t *out, int allow_zero)
{
    if (i >= wp->nw || scn_parse_time(wp->w[i].p, wp->w[i].n, out) != 0 || (*out == 0 && !allow_zero)) {
        return wexpected(wp, i, "a time with a unit (ns, us, ms, s, m, h), e.g. 20ms or 1.5s");
    }
    return 0;
}

static int w_u64(wparser *wp, size_t i, uint64_t *out, uint64_t min, const char *what)
{
    if (i >= wp->nw || scn_parse_u64(wp->w[i].p, wp->w[i].n, out) != 0 || *out < min) {
        return wexpected(wp, i, what);
    }
    return 0;
}

/* A size: bytes, or with k/kb/kib (1024), m/mb/mib. */
static int parse_size(const char *p, size_t n, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = {{"kib", 1024}, {"kb", 1024}, {"k", 1024}, {"mib", 1048576}, {"mb", 1048576}, {"m", 1048576}};
    uint64_t mul = 1;
    size_t digits = n;
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        size_t ul = strlen(units[u].unit);
        if (n > ul && memcmp(p + n - ul, units[u].unit, ul) == 0) {
            mul = units[u].mul;
            digits = n - ul;
            break;
        }
    }
    uint64_t v;
    if (scn_parse_u64(p, digits, &v) != 0 || v > UINT64_MAX / mul) {
        return -1;
    }
    *out = v * mul;
    return 0;
}

static int parse_pct(const char *p, size_t n, uint32_t *ppb)
{
    /* N%, N.NNN% */
    if (n < 2 || p[n - 1] != '%') {
        return -1;
    }
    uint64_t whole = 0, frac = 0, scale = 10000000ull; /* ppb per percent */
    size_t i = 0;
    int any = 0;
    for (; i < n - 1 && p[i] >= '0' && p[i] <= '9'; i++) {
        whole = whole * 10 + (uint64_t)(p[i] - '0');
        any = 1;
        if (whole > 100) {
            return -1;
        }
    }
    if (i < n - 1 && p[i] == '.') {
        for (i++; i < n - 1 && p[i] >= '0' && p[i] <= '9'; i++) {
            if (scale > 1) {
                scale /= 10;
                frac += (uint64_t)(p[i] - '0') * scale;
            }
            any = 1;
        }
    }
    if (!any || i != n - 1) {
        return -1;
    }
    uint64_t v = whole * 10000000ull + frac;
    if (v > TL_SIM_PPB) {
        return -1;
    }
    *ppb = (uint32_t)v;
    return 0;
}

/* An op-code list: names or numbers 0-15 or `heartbeat`, separated by commas. */
static int w_ops(wparser *wp, size_t i, uint32_t *mask)
{
    if (i >= wp->nw) {
        return wexpected(
            wp, i, "an op code (Request, Response, Signal, HelloRequest, ..., ByeResponse, or heartbeat)");
    }
    const word *w = &wp->w[i];
    size_t a = 0;
    *mask = 0;
    while (a <= w->n) {
        size_t b = a;
        while (b < w->n && w->p[b] != ',') {
            b++;
        }
        char name[32];
        size_t n = b - a < sizeof name - 1 ? b - a : sizeof name - 1;
        memcpy(name, w->p + a, n);
        name[n] = '\0';
        int op = tl_opcode_parse(name);
        if (strcmp(name, "heartbeat") == 0 || strcmp(name, "heartbeats") == 0) {
            *mask |= TL_PX_OP_HEARTBEAT;
        } else if (op >= 0 && op <= 15) {
            *mask |= 1u << op;
        } else {
            return wexpected(wp, i,
                             "op codes (Request, Response, Signal, HelloRequest, HelloResponse, ByeRequest, "
                             "ByeResponse, ByeSignal, WelcomeRequest, WelcomeResponse, 0-15, heartbeat) "
                             "separated by commas");
        }
        a = b + 1;
    }
    return 0;
}

static int is_op_list(const word *w)
{
    char name[32];
    size_t n = 0;
    while (n < w->n && w->p[n] != ',' && n < sizeof name - 1) {
        name[n] = w->p[n];
        n++;
    }
    name[n] = '\0';
    if (strcmp(name, "heartbeat") == 0 || strcmp(name, "heartbeats") == 0) {
        return 1;
    }
    return n > 0 && name[0] >= 'A' && name[0] <= 'Z' && tl_opcode_parse(name) >= 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int unhex(const char *p, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    if (n % 2 != 0 || n / 2 > cap) {
        return -1;
    }
    for (size_t i = 0; i < n; i += 2) {
        int h = hexval(p[i]), l = hexval(p[i + 1]);
        if (h < 0 || l < 0) {
            return -1;
        }
        out[i / 2] = (uint8_t)(h << 4 | l);
    }
    *len = n / 2;
    return 0;
}

/* ---- the faults ---- */

static int frame_position(wparser *wp, size_t *i, tl_px_fault *f, int allow_after)
{
    /* frame N [byte B] | after N */
    if (*i < wp->nw && is(&wp->w[*i], "frame")) {
        if (w_u64(wp, *i + 1, &f->frame, 1, "a frame number (from 1)")) {
            return -1;
        }
        *i += 2;
        f->byte = UINT64_MAX;
        if (*i < wp->nw && is(&wp->w[*i], "byte")) {
            if (w_u64(wp, *i + 1, &f->byte, 0, "a byte offset in the frame (from 0)")) {
                return -1;
            }
            *i += 2;
        }
        return 1;
    }
    if (allow_after && *i < wp->nw && is(&wp->w[*i], "after")) {
        if (w_u64(wp, *i + 1, &f->frame, 1, "a frame count (from 1)")) {
            return -1;
        }
        f->after = 1;
        *i += 2;
        return 1;
    }
    return 0;
}

static int parse_slice(wparser *wp, size_t i, tl_px_fault *f)
{
    f->kind = TL_PXF_SLICE;
    snprintf(f->type, sizeof f->type, "slicer");
    int any = 0;
    while (i < wp->nw) {
        const word *w = &wp->w[i];
        uint64_t lo, hi;
        if (is(w, "at")) {
            i++;
            if (i >= wp->nw) {
                return wexpected(wp, i, "header, text, body, boundaries or byte offsets (8,16,...)");
            }
            const word *a = &wp->w[i];
            size_t s = 0;
            while (s <= a->n) {
                size_t e = s;
                while (e < a->n && a->p[e] != ',') {
                    e++;
                }
                word part = {a->p + s, e - s, a->col + (unsigned)s};
                uint64_t off;
                if (is(&part, "header")) {
                    f->slice_marks |= TL_PX_MARK_HEADER;
                } else if (is(&part, "text")) {
                    f->slice_marks |= TL_PX_MARK_TEXT;
                } else if (is(&part, "body")) {
                    f->slice_marks |= TL_PX_MARK_BODY;
                } else if (is(&part, "boundaries")) {
                    f->slice_marks |= TL_PX_MARK_HEADER | TL_PX_MARK_TEXT | TL_PX_MARK_BODY;
                } else if (scn_parse_u64(part.p, part.n, &off) == 0 && off > 0 && off < TL_MAX_FRAME_LEN) {
                    if (f->nslice_offsets == sizeof f->slice_offsets / sizeof f->slice_offsets[0]) {
                        return werr(wp, &part, "expected at most 8 byte offsets");
                    }
                    f->slice_offsets[f->nslice_offsets++] = (uint32_t)off;
                } else {
                    return werr(wp, &part,
                                "expected header, text, body, boundaries or a byte offset 1-131085 (comma "
                                "separated)");
                }
                s = e + 1;
            }
            any = 1;
            i++;
        } else if (is(w, "delay")) {
            if (w_time(wp, i + 1, &f->slice_delay_ns, 0)) {
                return -1;
            }
            i += 2;
        } else if (scn_parse_range(w->p, w->n, &lo, &hi) == 0) {
            if (lo == 0 || hi > 65536) {
                return wexpected(wp, i, "a slice size N or A..B, 1-65536 bytes");
            }
            f->slice_min = (uint32_t)lo;
            f->slice_max = (uint32_t)hi;
            any = 1;
            i++;
        } else {
            return wexpected(wp, i, "a slice size (N or A..B bytes), at POSITIONS, or delay TIME");
        }
    }
    if (!any) {
        return wexpected(wp, i, "a slice size (N or A..B bytes) or at POSITIONS");
    }
    if (f->slice_marks || f->nslice_offsets) {
        snprintf(f->type, sizeof f->type, "slice");
    }
    return 0;
}

static int parse_inject(wparser *wp, size_t i, tl_px_fault *f)
{
    tl_header h;
    uint8_t text[TL_PX_INJECT_MAX];
    uint8_t body[TL_PX_INJECT_MAX];
    size_t tl = 0, bl = 0;
    int have_hex = 0;
    memset(&h, 0, sizeof h);
    f->kind = TL_PXF_INJECT;
    snprintf(f->type, sizeof f->type, "inject");
    unsigned op = TL_OP_SIGNAL;
    int origin = 0, more = 0;
    if (i < wp->nw && !has_prefix(&wp->w[i], "hex=")) {
        char name[32];
        wcopy(&wp->w[i], name, sizeof name);
        int o = tl_opcode_parse(name);
        if (o < 0) {
            return wexpected(wp, i, "an op code name or number, or hex=FRAME");
        }
        op = (unsigned)o;
        i++;
    }
    for (; i < wp->nw; i++) {
        const word *w = &wp->w[i];
        const char *eq = memchr(w->p, '=', w->n);
        size_t vn = eq ? w->n - (size_t)(eq + 1 - w->p) : 0;
        const char *v = eq ? eq + 1 : NULL;
        uint64_t u;
        if (is(w, "after")) {
            if (w_u64(wp, i + 1, &f->frame, 1, "a frame count (from 1)")) {
                return -1;
            }
            f->after = 1;
            i++;
        } else if (is(w, "more")) {
            more = 1;
        } else if (has_prefix(w, "hex=")) {
            if (unhex(v, vn, f->inject, sizeof f->inject, &f->inject_len) != 0 || f->inject_len == 0) {
                return wexpected(wp, i, "hex=HEX: an even number of hex digits, at most 1024 bytes");
            }
            have_hex = 1;
        } else if (has_prefix(w, "channel=")) {
            if (scn_parse_u64(v, vn, &u) != 0 || u > 65535) {
                return wexpected(wp, i, "channel=N (0-65535)");
            }
            h.channel = (uint16_t)u;
        } else if (has_prefix(w, "id=")) {
            if (scn_parse_u64(v, vn, &u) != 0) {
                return wexpected(wp, i, "id=N (a message id)");
            }
            h.message_id = u;
        } else if (has_prefix(w, "status=")) {
            char name[40];
            size_t n = vn < sizeof name - 1 ? vn : sizeof name - 1;
            memcpy(name, v, n);
            name[n] = '\0';
            int st = tl_status_parse(name);
            if (st < 0 || st > 255) {
                return wexpected(wp, i, "status=N or a status name (channel_closed, ...)");
            }
            h.status = (uint8_t)st;
        } else if (has_prefix(w, "origin=")) {
            if (vn == 6 && memcmp(v, "engine", 6) == 0) {
                origin = 1;
            } else if (vn == 11 && memcmp(v, "application", 11) == 0) {
                origin = 0;
            } else {
                return wexpected(wp, i, "origin=application or origin=engine");
            }
        } else if (has_prefix(w, "header=")) {
            const char *colon = memchr(v, ':', vn);
            if (colon == NULL || tl_text_append(text, sizeof text, &tl, v, (size_t)(colon - v), colon + 1,
                                                vn - (size_t)(colon + 1 - v)) != TL_OK) {
                return wexpected(wp, i, "header=NAME:VALUE (a valid text header, 1024 bytes in all)");
            }
        } else if (has_prefix(w, "body=")) {
            if (vn > sizeof body) {
                return wexpected(wp, i, "body=TEXT of at most 1024 bytes");
            }
            memcpy(body, v, vn);
            bl = vn;
        } else if (has_prefix(w, "body-hex=")) {
            if (unhex(v, vn, body, sizeof body, &bl) != 0) {
                return wexpected(wp, i, "body-hex=HEX: an even number of hex digits, at most 1024 bytes");
            }
        } else {
            return wexpected(wp, i,
                             "channel=N, id=N, status=S, origin=engine, more, header=NAME:VALUE, body=TEXT, "
                             "body-hex=HEX, hex=FRAME or after N");
        }
    }
    if (!have_hex) {
        h.proto = tl_proto_make(op, origin, more, 0, 0);
        int n = tl_frame_encode(&h, text, tl, body, bl, f->inject, sizeof f->inject);
        if (n < 0) {
            return werr(wp, NULL, "the injected frame would exceed %d bytes", TL_PX_INJECT_MAX);
        }
        f->inject_len = (size_t)n;
    }
    return 0;
}

/* The word list of one fault, direction and modifiers taken out. */
static int parse_fault(wparser *wp, tl_px_fault *f, unsigned *dirs)
{
    size_t keep = 0;
    *dirs = 3;
    int dir_given = 0;
    for (size_t i = 0; i < wp->nw; i++) {
        const word *w = &wp->w[i];
        unsigned d = 0;
        if (is(w, "client->server") || is(w, "c>s") || is(w, "upstream")) {
            d = 1;
        } else if (is(w, "server->client") || is(w, "s>c") || is(w, "downstream")) {
            d = 2;
        } else if (is(w, "both")) {
            d = 3;
        }
        if (d != 0) {
            if (dir_given) {
                return werr(wp, w, "expected one direction word, got a second one");
            }
            dir_given = 1;
            *dirs = d;
            continue;
        }
        if (has_prefix(w, "name=")) {
            word v = {w->p + 5, w->n - 5, w->col + 5};
            int ok = v.n > 0 && v.n < TL_PX_NAME_MAX - 16;
            for (size_t k = 0; ok && k < v.n; k++) {
                char c = v.p[k];
                ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                     c == '-' || c == '.';
            }
            if (!ok) {
                return werr(wp, w, "expected name=NAME (1-47 of A-Z a-z 0-9 _ - .)");
            }
            wcopy(&v, f->name, sizeof f->name);
            continue;
        }
        if (has_prefix(w, "toxicity=")) {
            uint32_t ppb;
            if (parse_pct(w->p + 9, w->n - 9, &ppb) != 0) {
                return werr(wp, w, "expected toxicity=P%% (0%%-100%%)");
            }
            f->toxicity_ppb = ppb;
            continue;
        }
        wp->w[keep++] = *w;
    }
    wp->nw = keep;
    if (wp->nw == 0) {
        return werr(wp, NULL, "expected a fault or an action after the direction");
    }
    const word *w0 = &wp->w[0];
    uint64_t u;
    if (is(w0, "delay") && wp->nw >= 2 && is_op_list(&wp->w[1])) {
        f->kind = TL_PXF_DELAY_OP;
        snprintf(f->type, sizeof f->type, "delay_frames");
        if (w_ops(wp, 1, &f->opmask) || w_time(wp, 2, &f->time_ns, 0)) {
            return -1;
        }
        return wp->nw > 3 ? wexpected(wp, 3, "the end of the words") : 0;
    }
    if (is(w0, "delay") || is(w0, "jitter") || is(w0, "distribution") || is(w0, "loss") || is(w0, "rate") ||
        is(w0, "limit") || is(w0, "corrupt") || is(w0, "duplicate") || is(w0, "reorder")) {
        /* the scenario parser's link words, rebuilt with a column map */
        char buf[600];
        unsigned cols[MAX_WORDS];
        size_t starts[MAX_WORDS];
        size_t o = 0;
        for (size_t i = 0; i < wp->nw; i++) {
            if (is(&wp->w[i], "duplicate")) {
                return werr(wp, &wp->w[i],
                            "duplicate has no effect on a TCP stream (the receiver drops duplicate "
                            "segments); remove it");
            }
            if (is(&wp->w[i], "oneway")) {
                return werr(wp, &wp->w[i],
                            "expected a direction word (client->server, server->client), not oneway");
            }
            if (o + wp->w[i].n + 2 > sizeof buf) {
                return werr(wp, &wp->w[i], "expected shorter link words");
            }
            starts[i] = o;
            cols[i] = wp->w[i].col;
            memcpy(buf + o, wp->w[i].p, wp->w[i].n);
            o += wp->w[i].n;
            buf[o++] = ' ';
        }
        buf[o] = '\0';
        tl_scn_error se;
        int oneway = 0;
        if (scn_parse_link_words(buf, o, &f->link, &oneway, &se) != 0) {
            unsigned col = 0;
            for (size_t i = 0; i < wp->nw; i++) {
                if (se.column >= starts[i] + 1) {
                    col = cols[i] + (unsigned)(se.column - 1 - starts[i]);
                }
            }
            if (se.column == 0 || se.column > o) {
                snprintf(wp->err, wp->cap, "%s", se.message);
            } else {
                snprintf(wp->err, wp->cap, "column %u: %s", col, se.message);
            }
            wp->failed = 1;
            return -1;
        }
        f->kind = TL_PXF_LINK;
        int plain_latency = f->link.rate_bps == 0 && f->link.loss == TL_SIM_LOSS_NONE &&
                            f->link.corrupt_ppb == 0 && f->link.distribution == TL_SIM_DIST_UNIFORM;
        int plain_rate = f->link.delay_ns == 0 && f->link.jitter_ns == 0 &&
                         f->link.loss == TL_SIM_LOSS_NONE && f->link.corrupt_ppb == 0 &&
                         f->link.rate_bps != 0;
        snprintf(f->type, sizeof f->type, "%s",
                 plain_latency ? "latency"
                 : plain_rate  ? "bandwidth"
                               : "link");
        return 0;
    }
    if (is(w0, "slice") || is(w0, "slicer")) {
        return parse_slice(wp, 1, f);
    }
    if (is(w0, "stall")) {
        size_t i = 2;
        f->kind = TL_PXF_STALL;
        snprintf(f->type, sizeof f->type, "stall");
        if (w_time(wp, 1, &f->time_ns, 0) || frame_position(wp, &i, f, 0) < 0) {
            return -1;
        }
        return i < wp->nw ? wexpected(wp, i, "frame N [byte B] or the end of the words") : 0;
    }
    if (is(w0, "blackhole")) {
        f->kind = TL_PXF_BLACKHOLE;
        snprintf(f->type, sizeof f->type, "blackhole");
        return wp->nw > 1 ? wexpected(wp, 1, "the end of the words") : 0;
    }
    if (is(w0, "timeout")) {
        f->kind = TL_PXF_TIMEOUT;
        snprintf(f->type, sizeof f->type, "timeout");
        if (w_time(wp, 1, &f->time_ns, 1)) {
            return -1;
        }
        return wp->nw > 2 ? wexpected(wp, 2, "the end of the words") : 0;
    }
    if (is(w0, "reset") || is(w0, "reset-peer") || is(w0, "reset_peer")) {
        if (is(w0, "reset") && wp->nw == 1) {
            f->kind = TL_PXA_RESET;
            snprintf(f->type, sizeof f->type, "reset");
            return 0;
        }
        size_t i = 1;
        if (i < wp->nw && is(&wp->w[i], "after")) {
            i++;
        }
        f->kind = TL_PXF_RESET_PEER;
        snprintf(f->type, sizeof f->type, "reset_peer");
        if (i < wp->nw && w_time(wp, i, &f->time_ns, 1)) {
            return -1;
        }
        return i + 1 < wp->nw ? wexpected(wp, i + 1, "the end of the words") : 0;
    }
    if (is(w0, "slow-close") || is(w0, "slow_close")) {
        f->kind = TL_PXF_SLOW_CLOSE;
        snprintf(f->type, sizeof f->type, "slow_close");
        if (w_time(wp, 1, &f->time_ns, 0)) {
            return -1;
        }
        return wp->nw > 2 ? wexpected(wp, 2, "the end of the words") : 0;
    }
    if (is(w0, "limit-data") || is(w0, "limit_data")) {
        f->kind = TL_PXF_LIMIT_DATA;
        snprintf(f->type, sizeof f->type, "limit_data");
        if (wp->nw < 2 || parse_size(wp->w[1].p, wp->w[1].n, &f->count) != 0) {
            return wexpected(wp, 1, "a number of bytes (or with k, m: 64k)");
        }
        return wp->nw > 2 ? wexpected(wp, 2, "the end of the words") : 0;
    }
    if (is(w0, "hold")) {
        f->kind = TL_PXF_HOLD_OP;
        snprintf(f->type, sizeof f->type, "hold");
        if (w_ops(wp, 1, &f->opmask)) {
            return -1;
        }
        return wp->nw > 2 ? wexpected(wp, 2, "the end of the words") : 0;
    }
    if (is(w0, "cut")) {
        size_t i = 1;
        f->kind = TL_PXF_CUT;
        snprintf(f->type, sizeof f->type, "cut");
        int r = frame_position(wp, &i, f, 1);
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            return wexpected(wp, 1, "after N (frames) or frame N [byte B]");
        }
        return i < wp->nw ? wexpected(wp, i, "the end of the words") : 0;
    }
    if (is(w0, "inject")) {
        return parse_inject(wp, 1, f);
    }
    if (is(w0, "down")) {
        f->kind = TL_PXF_DOWN;
        snprintf(f->type, sizeof f->type, "down");
        return wp->nw > 1 ? wexpected(wp, 1, "the end of the words") : 0;
    }
    if (is(w0, "heal")) {
        f->kind = TL_PXA_HEAL;
        snprintf(f->type, sizeof f->type, "heal");
        return wp->nw > 1 ? wexpected(wp, 1, "the end of the words") : 0;
    }
    if (is(w0, "remove")) {
        f->kind = TL_PXA_REMOVE;
        snprintf(f->type, sizeof f->type, "remove");
        if (wp->nw != 2 || wp->w[1].n >= TL_PX_NAME_MAX) {
            return wexpected(wp, 1, "the name of a fault");
        }
        wcopy(&wp->w[1], f->name, sizeof f->name);
        return 0;
    }
    (void)u;
    return wexpected(
        wp, 0,
        "a fault: delay, jitter, distribution, rate, loss, corrupt, slice, stall, blackhole, "
        "timeout, reset, reset-peer, slow-close, limit-data, delay OP, hold, cut, inject, down; or "
        "heal, remove NAME");
}

static void fault_init(tl_px_fault *f)
{
    memset(f, 0, sizeof *f);
    f->toxicity_ppb = TL_SIM_PPB;
    f->byte = UINT64_MAX;
    tl_sim_link_defaults(&f->link);
}

int tl_px_fault_parse(const char *text, tl_px_fault out[2], char *err, size_t cap)
{
    wparser wp;
    unsigned dirs;
    memset(&wp, 0, sizeof wp);
    wp.err = err;
    wp.cap = cap;
    fault_init(&out[0]);
    if (split_words(&wp, text) != 0 || parse_fault(&wp, &out[0], &dirs) != 0) {
        return -1;
    }
    snprintf(out[0].text, sizeof out[0].text, "%s", text);
    if (out[0].kind == TL_PXA_HEAL || out[0].kind == TL_PXA_REMOVE || out[0].kind == TL_PXA_RESET ||
        out[0].kind == TL_PXF_DOWN) {
        out[0].dir = TL_PX_DOWN;
        return 1;
    }
    if (dirs == 3) {
        out[1] = out[0];
        out[0].dir = TL_PX_UP;
        out[1].dir = TL_PX_DOWN;
        return 2;
    }
    out[0].dir = dirs == 1 ? TL_PX_UP : TL_PX_DOWN;
    return 1;
}

/* ---- toxiproxy's toxics ---- */

static const tl_px_attr *attr_find(const tl_px_attr *a, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(a[i].name, name) == 0) {
            return &a[i];
        }
    }
    return NULL;
}

/* A whole number >= 0 that fits (toxiproxy sends integers). */
static int attr_num(const tl_px_attr *a, size_t n, const char *name, double max, uint64_t *out, int required,
                    char *err, size_t cap)
{
    const tl_px_attr *x = attr_find(a, n, name);
    if (x == NULL || x->text != NULL) {
        if (x == NULL && !required) {
            *out = 0;
            return 0;
        }
        snprintf(err, cap, "attribute %s: expected a number", name);
        return -1;
    }
    if (!(x->number >= 0 && x->number <= max)) {
        snprintf(err, cap, "attribute %s: expected a number from 0 to %.0f, got %g", name, max, x->number);
        return -1;
    }
    *out = (uint64_t)x->number;
    return 0;
}

int tl_px_fault_from_toxic(const char *type, int dir, const tl_px_attr *attrs, size_t nattrs,
                           tl_px_fault *out, char *err, size_t cap)
{
    uint64_t a, b, c;
    const double ms_max = 86400000.0; /* a day */
    fault_init(out);
    out->dir = dir;
    snprintf(out->type, sizeof out->type, "%s", type);
    if (strcmp(type, "latency") == 0) {
        if (attr_num(attrs, nattrs, "latency", ms_max, &a, 0, err, cap) ||
            attr_num(attrs, nattrs, "jitter", ms_max, &b, 0, err, cap)) {
            return -1;
        }
        out->kind = TL_PXF_LINK;
        out->link.delay_ns = a * TL_SIM_NS_PER_MS;
        out->link.jitter_ns = b * TL_SIM_NS_PER_MS;
        snprintf(out->text, sizeof out->text, "delay %llums jitter %llums", (unsigned long long)a,
                 (unsigned long long)b);
        return 0;
    }
    if (strcmp(type, "bandwidth") == 0) {
        if (attr_num(attrs, nattrs, "rate", 1e12, &a, 1, err, cap)) {
            return -1;
        }
        if (a == 0) {
            snprintf(err, cap, "attribute rate: expected a rate above 0 KB/s");
            return -1;
        }
        out->kind = TL_PXF_LINK;
        out->link.rate_bps = a * 8000u; /* KB/s, 1000 bytes */
        snprintf(out->text, sizeof out->text, "rate %llukbps", (unsigned long long)a);
        return 0;
    }
    if (strcmp(type, "slicer") == 0) {
        if (attr_num(attrs, nattrs, "average_size", 65536, &a, 1, err, cap) ||
            attr_num(attrs, nattrs, "size_variation", 65536, &b, 0, err, cap) ||
            attr_num(attrs, nattrs, "delay", 3.6e9, &c, 0, err, cap)) {
            return -1;
        }
        if (a == 0 || b >= a) {
            snprintf(err, cap, "expected average_size above 0 and size_variation below it");
            return -1;
        }
        out->kind = TL_PXF_SLICE;
        out->slice_min = (uint32_t)(a - b);
        out->slice_max = (uint32_t)(a + b);
        out->slice_delay_ns = c * 1000u; /* microseconds */
        snprintf(out->text, sizeof out->text, "slice %llu..%llu delay %lluus", (unsigned long long)(a - b),
                 (unsigned long long)(a + b), (unsigned long long)c);
        return 0;
    }
    if (strcmp(type, "timeout") == 0 || strcmp(type, "reset_peer") == 0 || strcmp(type, "slow_close") == 0) {
        const char *key = strcmp(type, "slow_close") == 0 ? "delay" : "timeout";
        if (attr_num(attrs, nattrs, key, ms_max, &a, 0, err, cap)) {
            return -1;
        }
        out->kind = type[0] == 't' ? TL_PXF_TIMEOUT : type[0] == 'r' ? TL_PXF_RESET_PEER : TL_PXF_SLOW_CLOSE;
        out->time_ns = a * TL_SIM_NS_PER_MS;
        snprintf(out->text, sizeof out->text, "%s %llums", type, (unsigned long long)a);
        return 0;
    }
    if (strcmp(type, "limit_data") == 0) {
        if (attr_num(attrs, nattrs, "bytes", 1.8e19, &a, 1, err, cap)) {
            return -1;
        }
        out->kind = TL_PXF_LIMIT_DATA;
        out->count = a;
        snprintf(out->text, sizeof out->text, "limit-data %llu", (unsigned long long)a);
        return 0;
    }
    /* ours: any of our words, given as the attribute "fault" */
    const tl_px_attr *x = attr_find(attrs, nattrs, "fault");
    if (x == NULL || x->text == NULL) {
        snprintf(
            err, cap,
            "invalid toxic type '%s': expected latency, bandwidth, slicer, timeout, reset_peer, slow_close, "
            "limit_data, or a tofu fault with the attribute \"fault\" (e.g. \"hold ByeResponse\")",
            type);
        return -1;
    }
    tl_px_fault two[2];
    char e2[200];
    int n = tl_px_fault_parse(x->text, two, e2, sizeof e2);
    if (n < 0) {
        snprintf(err, cap, "attribute fault: %s", e2);
        return -1;
    }
    if (two[0].kind >= TL_PXF_DOWN) {
        snprintf(err, cap, "attribute fault: expected a standing fault, not '%s'", two[0].type);
        return -1;
    }
    *out = two[n == 2 && dir == TL_PX_DOWN ? 1 : 0];
    out->dir = dir;
    snprintf(out->type, sizeof out->type, "%s", type);
    return 0;
}

size_t tl_px_fault_attrs(const tl_px_fault *f, tl_px_attr *out, size_t max)
{
    size_t n = 0;
#define PUT(nm, v)                                                                                           \
    do {                                                                                                     \
        if (n < max) {                                                                                       \
            out[n].name = (nm);                                                                              \
            out[n].number = (double)(v);                                                                     \
            out[n].text = NULL;                                                                              \
            n++;                                                                                             \
        }                                                                                                    \
    } while (0)
    if (strcmp(f->type, "latency") == 0) {
        PUT("latency", f->link.delay_ns / TL_SIM_NS_PER_MS);
        PUT("jitter", f->link.jitter_ns / TL_SIM_NS_PER_MS);
    } else if (strcmp(f->type, "bandwidth") == 0) {
        PUT("rate", f->link.rate_bps / 8000u);
    } else if (strcmp(f->type, "slicer") == 0) {
        PUT("average_size", (f->slice_min + f->slice_max) / 2);
        PUT("size_variation", (f->slice_max - f->slice_min) / 2);
        PUT("delay", f->slice_delay_ns / 1000u);
    } else if (strcmp(f->type, "timeout") == 0 || strcmp(f->type, "reset_peer") == 0) {
        PUT("timeout", f->time_ns / TL_SIM_NS_PER_MS);
    } else if (strcmp(f->type, "slow_close") == 0) {
        PUT("delay", f->time_ns / TL_SIM_NS_PER_MS);
    } else if (strcmp(f->type, "limit_data") == 0) {
        PUT("bytes", f->count);
    } else if (n < max) {
        out[n].name = "fault";
        out[n].number = 0;
        out[n].text = f->text;
        n++;
    }
#undef PUT
    return n;
}
