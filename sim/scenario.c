/*
 * The scenario parser (docs/scenarios.md): plain text, one directive per
 * line, `#` starts a comment, words separated by blanks. The whole file is
 * parsed and checked before anything runs; the first problem is reported as
 * file:line:column and what was expected there.
 *
 * Built to grow: directives, node options, link words, actions, metrics and
 * service kinds (services.c) are tables.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "services.h"
#include "values.h"

#define MAX_TOKENS 64
#define MAX_FILE   (4u << 20)
#define RANGE_MAX  1000  /* nodes in one NAME[A..B] */
#define EXPAND_MAX 10000 /* directives one line expands to */

typedef struct {
    const char *p;
    size_t n;
    unsigned col;
} tok;

/* The nodes a node word names, in order (-1 = `*`). */
typedef struct {
    int *v;
    size_t n, cap;
} node_set;

typedef struct {
    tl_scenario *scn;
    tl_scn_error *err;
    unsigned line;
    tok t[MAX_TOKENS];
    size_t nt;
    const char *line_start;
    size_t line_len;
    int failed;
    node_set set[2]; /* the node words of the current line */
} parser;

/* ------------------------------------------------------------ errors */

static int perr(parser *ps, const tok *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int perr(parser *ps, const tok *t, const char *fmt, ...)
{
    va_list ap;
    if (ps->failed) {
        return -1;
    }
    ps->failed = 1;
    ps->err->line = ps->line;
    ps->err->column = t ? t->col : (unsigned)ps->line_len + 1;
    va_start(ap, fmt);
    vsnprintf(ps->err->message, sizeof ps->err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static void quote(const tok *t, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < t->n && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)t->p[i];
        if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        }
    }
    if (o + 4 < cap && t->n > 0 && o < t->n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/* "expected WHAT, got 'TOKEN'" or "... at the end of the line". */
static int expected(parser *ps, size_t i, const char *what)
{
    if (i >= ps->nt) {
        return perr(ps, NULL, "expected %s at the end of the line", what);
    }
    char q[80];
    quote(&ps->t[i], q, sizeof q);
    return perr(ps, &ps->t[i], "expected %s, got '%s'", what, q);
}

static int tok_is(const tok *t, const char *s) { return strlen(s) == t->n && memcmp(t->p, s, t->n) == 0; }

static void tok_copy(const tok *t, char *out, size_t cap)
{
    size_t n = t->n < cap - 1 ? t->n : cap - 1;
    memcpy(out, t->p, n);
    out[n] = '\0';
}

/* ------------------------------------------------------------ values (values.c reads the words) */

static const scn_unit pct_units[] = {{"%", 10000000ull}, {NULL, 0}};
static const scn_unit rate_units[] = {{"bit", 1}, {"kbit", 1000}, {"mbit", 1000000}, {"gbit", 1000000000ull},
                                      {"bps", 8}, {"kbps", 8000}, {"mbps", 8000000}, {"gbps", 8000000000ull},
                                      {NULL, 0}};
static const scn_unit size_units[] = {
    {"b", 1},           {"k", 1024},         {"kb", 1024},     {"kib", 1024},
    {"m", 1048576},     {"mb", 1048576},     {"mib", 1048576}, {"g", 1073741824},
    {"gb", 1073741824}, {"gib", 1073741824}, {NULL, 0}};

static int parse_pct(const char *text, size_t len, uint32_t *ppb)
{
    uint64_t v;
    if (scn_parse_unit(text, len, pct_units, 1, 0, &v) != 0 || v > TL_SIM_PPB) {
        return -1;
    }
    *ppb = (uint32_t)v;
    return 0;
}

static int tok_time(parser *ps, size_t i, uint64_t *out)
{
    if (i >= ps->nt || scn_parse_time(ps->t[i].p, ps->t[i].n, out) != 0) {
        return expected(ps, i, "a time with a unit (ns, us, ms, s, m, h), e.g. 20ms or 1.5s");
    }
    return 0;
}

static int tok_pct(parser *ps, size_t i, uint32_t *out)
{
    if (i >= ps->nt || parse_pct(ps->t[i].p, ps->t[i].n, out) != 0) {
        return expected(ps, i, "a percentage between 0% and 100%, e.g. 5% or 0.5%");
    }
    return 0;
}

static int tok_u64(parser *ps, size_t i, uint64_t *out, const char *what)
{
    if (i >= ps->nt || scn_parse_u64(ps->t[i].p, ps->t[i].n, out) != 0) {
        return expected(ps, i, what);
    }
    return 0;
}

/* ------------------------------------------------------------ names */

static int find_node(const tl_scenario *scn, const tok *t)
{
    for (size_t i = 0; i < scn->nnodes; i++) {
        if (tok_is(t, scn->nodes[i].name)) {
            return (int)i;
        }
    }
    return -1;
}

static int find_node_str(const tl_scenario *scn, const char *name)
{
    for (size_t i = 0; i < scn->nnodes; i++) {
        if (strcmp(scn->nodes[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int tok_node(parser *ps, size_t i, int allow_star, int *out)
{
    if (i < ps->nt && allow_star && tok_is(&ps->t[i], "*")) {
        *out = -1;
        return 0;
    }
    if (i < ps->nt) {
        int n = find_node(ps->scn, &ps->t[i]);
        if (n >= 0) {
            *out = n;
            return 0;
        }
    }
    return expected(ps, i, allow_star ? "a declared node name or *" : "a declared node name");
}

static int valid_name(const tok *t)
{
    if (t->n == 0 || t->n >= SCN_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < t->n; i++) {
        char c = t->p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.')) {
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------ node ranges */

static int is_range_word(const tok *t) { return memchr(t->p, '[', t->n) != NULL; }

/* A..B, both decimal, A <= B: 0; -1 if not; -2 for a leading zero (names
 * are NAME1, NAME2, ...: `peer[01..10]` would not name peer01). */
static int parse_index_range(const tok *t, uint64_t *lo, uint64_t *hi)
{
    for (size_t i = 0; i + 1 < t->n; i++) {
        if (t->p[i] == '.' && t->p[i + 1] == '.') {
            size_t bn = t->n - i - 2;
            if (scn_parse_u64(t->p, i, lo) != 0 || scn_parse_u64(t->p + i + 2, bn, hi) != 0 || *lo > *hi) {
                return -1;
            }
            return (i > 1 && t->p[0] == '0') || (bn > 1 && t->p[i + 2] == '0') ? -2 : 0;
        }
    }
    return -1;
}

/* NAME[A..B] (or NAME[*] when allow_star) in word t: the name, and *star or
 * the bounds (at most RANGE_MAX nodes apart). */
static int range_word(parser *ps, const tok *t, int allow_star, tok *name, int *star, uint64_t *lo,
                      uint64_t *hi)
{
    const char *lb = memchr(t->p, '[', t->n);
    char q[80];
    name->p = t->p;
    name->n = (size_t)(lb - t->p);
    name->col = t->col;
    tok in = {lb + 1, t->n - name->n - 1, t->col + (unsigned)name->n + 1};
    if (in.n == 0 || in.p[in.n - 1] != ']' || memchr(in.p, '[', in.n) || memchr(in.p, ']', in.n - 1)) {
        quote(t, q, sizeof q);
        return perr(ps, t, "expected NAME[A..B]%s, got '%s'", allow_star ? " or NAME[*]" : "", q);
    }
    in.n--;
    if (!valid_name(name)) {
        quote(name, q, sizeof q);
        return perr(ps, t, "expected a node name (1-31 of A-Z a-z 0-9 _ . -) before [, got '%s'", q);
    }
    *star = allow_star && tok_is(&in, "*");
    if (*star) {
        return 0;
    }
    quote(&in, q, sizeof q);
    int rc = parse_index_range(&in, lo, hi);
    if (rc != 0) {
        return perr(ps, &in, "expected a range A..B with A <= B, got '%s'%s", q,
                    rc == -2 ? " (no leading zeros: the names are NAME1, NAME2, ...)" : "");
    }
    if (*hi - *lo >= RANGE_MAX) {
        return perr(ps, &in, "expected a range of at most %d nodes, got '%s'", RANGE_MAX, q);
    }
    return 0;
}

/* NAME followed by the decimal k. */
static void range_name(const tok *name, uint64_t k, char *out, size_t cap)
{
    snprintf(out, cap, "%.*s%llu", (int)name->n, name->p, (unsigned long long)k);
}

static int set_add(parser *ps, node_set *s, int node)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        int *v = realloc(s->v, cap * sizeof *v);
        if (v == NULL) {
            return perr(ps, NULL, "out of memory");
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = node;
    return 0;
}

/* The declared nodes a range word t names, into out: NAME[A..B] (every one
 * declared) or NAME[*] (NAME followed by digits only, in declaration order,
 * at least one). */
static int range_nodes(parser *ps, const tok *t, node_set *out)
{
    tok name;
    int star;
    uint64_t lo = 0, hi = 0;
    char q[80], nm[64];
    out->n = 0;
    if (range_word(ps, t, 1, &name, &star, &lo, &hi)) {
        return -1;
    }
    quote(t, q, sizeof q);
    if (star) {
        for (size_t j = 0; j < ps->scn->nnodes; j++) {
            const char *s = ps->scn->nodes[j].name;
            size_t len = strlen(s);
            if (len > name.n && memcmp(s, name.p, name.n) == 0 &&
                strspn(s + name.n, "0123456789") == len - name.n && set_add(ps, out, (int)j)) {
                return -1;
            }
        }
        if (out->n == 0) {
            return perr(ps, t, "expected a declared node named %.*s followed by digits, got none for '%s'",
                        (int)name.n, name.p, q);
        }
        return 0;
    }
    for (uint64_t k = lo;; k++) {
        range_name(&name, k, nm, sizeof nm);
        int n = find_node_str(ps->scn, nm);
        if (n < 0) {
            return perr(ps, t, "expected only declared nodes in '%s', got '%s' (not declared)", q, nm);
        }
        if (set_add(ps, out, n)) {
            return -1;
        }
        if (k == hi) {
            break;
        }
    }
    return 0;
}

/* Word i as nodes: a declared name, NAME[A..B], NAME[*], or * (-1) when
 * allow_star. */
static int tok_nodes(parser *ps, size_t i, int allow_star, node_set *out)
{
    int n = -1;
    out->n = 0;
    if (i < ps->nt && is_range_word(&ps->t[i])) {
        return range_nodes(ps, &ps->t[i], out);
    }
    if (tok_node(ps, i, allow_star, &n)) {
        return -1;
    }
    return set_add(ps, out, n);
}

/* A line may expand to at most EXPAND_MAX directives. */
static int check_expand(parser *ps, size_t i, size_t n)
{
    if (n > EXPAND_MAX) {
        return perr(ps, &ps->t[i], "expected at most %d directives from one line, got %zu", EXPAND_MAX, n);
    }
    return 0;
}

/* ------------------------------------------------------------ arrays */

static void *grow(void *v, size_t n, size_t size)
{
    /* capacity doubles at powers of two */
    if (n != 0 && (n & (n - 1)) != 0) {
        return v;
    }
    size_t cap = n ? n * 2 : 4;
    return realloc(v, cap * size);
}

#define PUSH(ps, arr, count, out)                                                                            \
    do {                                                                                                     \
        void *g_ = grow((ps)->scn->arr, (ps)->scn->count, sizeof *(ps)->scn->arr);                           \
        if (g_ == NULL) {                                                                                    \
            return perr((ps), NULL, "out of memory");                                                        \
        }                                                                                                    \
        (ps)->scn->arr = g_;                                                                                 \
        (out) = &(ps)->scn->arr[(ps)->scn->count++];                                                         \
        memset((out), 0, sizeof *(out));                                                                     \
    } while (0)

/* ------------------------------------------------------------ node options */

typedef enum { O_U32, O_SIZE, O_TIME, O_CHOP, O_BOOL, O_U16, O_CLOSE, O_CHOP_ALL } opt_type;

typedef struct {
    const char *key;
    opt_type type;
    size_t off;
} opt_key;

#define OFF(f) offsetof(tl_sim_node_options, f)
static const opt_key opt_keys[] = {
    {"mss", O_U32, OFF(mss)},
    {"sndbuf", O_SIZE, OFF(sndbuf)},
    {"rcvbuf", O_SIZE, OFF(rcvbuf)},
    {"segments", O_CHOP, OFF(segments)},
    {"writes", O_CHOP, OFF(writes)},
    {"reads", O_CHOP, OFF(reads)},
    {"rto-min", O_TIME, OFF(rto_min_ns)},
    {"rto-max", O_TIME, OFF(rto_max_ns)},
    {"rto-initial", O_TIME, OFF(rto_initial_ns)},
    {"retries", O_U32, OFF(retries)},
    {"syn-retries", O_U32, OFF(syn_retries)},
    {"synack-retries", O_U32, OFF(synack_retries)},
    {"backlog", O_U32, OFF(backlog)},
    {"close", O_CLOSE, OFF(close_fin)},
    {"pool-initial", O_U16, OFF(pool_initial)},
    {"pool-max", O_U16, OFF(pool_max)},
    {"connect-timeout", O_TIME, OFF(connect_timeout_ns)},
    {"bye-grace", O_TIME, OFF(bye_grace_ns)},
    {"strict-bye", O_BOOL, OFF(strict_bye)},
    {"chop", O_CHOP_ALL, 0},
};
#define OPT_KEYS (sizeof opt_keys / sizeof opt_keys[0])

static size_t opt_size(opt_type t)
{
    switch (t) {
    case O_TIME: return sizeof(uint64_t);
    case O_U16: return sizeof(uint16_t);
    case O_CHOP: return sizeof(tl_sim_chop);
    case O_BOOL:
    case O_CLOSE: return sizeof(int);
    default: return sizeof(uint32_t);
    }
}

void scn_apply_options(tl_sim_node_options *dst, const tl_sim_node_options *src, uint64_t mask)
{
    for (size_t i = 0; i < OPT_KEYS; i++) {
        if ((mask >> i) & 1 && opt_keys[i].type != O_CHOP_ALL) {
            memcpy((char *)dst + opt_keys[i].off, (const char *)src + opt_keys[i].off,
                   opt_size(opt_keys[i].type));
        }
    }
}

static int parse_chop(const char *v, size_t n, tl_sim_chop *out)
{
    if (n == 4 && memcmp(v, "full", 4) == 0) {
        *out = TL_SIM_CHOP_FULL;
        return 0;
    }
    if (n == 6 && memcmp(v, "random", 6) == 0) {
        *out = TL_SIM_CHOP_RANDOM;
        return 0;
    }
    return -1;
}

/* key=value words from index i on into opt/mask. */
static int parse_options(parser *ps, size_t i, tl_sim_node_options *opt, uint64_t *mask)
{
    for (; i < ps->nt; i++) {
        const tok *t = &ps->t[i];
        const char *eq = memchr(t->p, '=', t->n);
        if (eq == NULL) {
            return expected(ps, i, "an option key=value (e.g. mss=536, chop=random, rto-min=200ms)");
        }
        size_t kn = (size_t)(eq - t->p);
        const char *v = eq + 1;
        size_t vn = t->n - kn - 1;
        tok vt = {v, vn, t->col + (unsigned)kn + 1};
        size_t k;
        for (k = 0; k < OPT_KEYS; k++) {
            if (strlen(opt_keys[k].key) == kn && memcmp(opt_keys[k].key, t->p, kn) == 0) {
                break;
            }
        }
        if (k == OPT_KEYS) {
            return perr(
                ps, t,
                "expected an option key (mss sndbuf rcvbuf segments writes reads chop rto-min rto-max "
                "rto-initial retries syn-retries synack-retries backlog close pool-initial pool-max "
                "connect-timeout bye-grace strict-bye), got '%.*s'",
                (int)kn, t->p);
        }
        char *field = (char *)opt + opt_keys[k].off;
        uint64_t u;
        int b;
        tl_sim_chop ch;
        switch (opt_keys[k].type) {
        case O_U32:
        case O_U16:
            if (scn_parse_u64(v, vn, &u) != 0 || u > (opt_keys[k].type == O_U16 ? 65535u : UINT32_MAX) ||
                (u == 0 && (k == 0 || opt_keys[k].type == O_U16))) {
                return perr(ps, &vt, "expected a positive whole number for %s", opt_keys[k].key);
            }
            if (opt_keys[k].type == O_U16) {
                uint16_t x = (uint16_t)u;
                memcpy(field, &x, sizeof x);
            } else {
                uint32_t x = (uint32_t)u;
                memcpy(field, &x, sizeof x);
            }
            break;
        case O_SIZE:
            if (scn_parse_unit(v, vn, size_units, 0, 1, &u) != 0 || u == 0 || u > (1u << 30)) {
                return perr(ps, &vt, "expected a size such as 65536, 64k or 1m (at most 1g) for %s",
                            opt_keys[k].key);
            }
            {
                uint32_t x = (uint32_t)u;
                memcpy(field, &x, sizeof x);
            }
            break;
        case O_TIME:
            if (scn_parse_time(v, vn, &u) != 0) {
                return perr(ps, &vt, "expected a time with a unit (e.g. 200ms) for %s", opt_keys[k].key);
            }
            memcpy(field, &u, sizeof u);
            break;
        case O_BOOL:
            if (scn_parse_bool(v, vn, &b) != 0) {
                return perr(ps, &vt, "expected on or off for %s", opt_keys[k].key);
            }
            memcpy(field, &b, sizeof b);
            break;
        case O_CLOSE:
            if (vn == 3 && memcmp(v, "rst", 3) == 0) {
                b = 0;
            } else if (vn == 3 && memcmp(v, "fin", 3) == 0) {
                b = 1;
            } else {
                return perr(ps, &vt, "expected rst (as the engine asks) or fin (always an orderly close)");
            }
            memcpy(field, &b, sizeof b);
            break;
        case O_CHOP:
            if (parse_chop(v, vn, &ch) != 0) {
                return perr(ps, &vt, "expected full or random for %s", opt_keys[k].key);
            }
            memcpy(field, &ch, sizeof ch);
            break;
        case O_CHOP_ALL:
            if (parse_chop(v, vn, &ch) != 0) {
                return perr(ps, &vt, "expected full or random for chop (segments, writes and reads)");
            }
            opt->segments = opt->writes = opt->reads = ch;
            *mask |= 1ull << 3 | 1ull << 4 | 1ull << 5;
            continue;
        }
        *mask |= 1ull << k;
    }
    return 0;
}

/* ------------------------------------------------------------ netem words */

/* Index of ".." in a word (a swarm range), 0 if none. */
static size_t range_dots(const tok *t)
{
    for (size_t i = 1; i + 2 < t->n; i++) {
        if (t->p[i] == '.' && t->p[i + 1] == '.') {
            return i;
        }
    }
    return 0;
}

/* TIME or a swarm range TIME..TIME (lo <= hi); *ranged says which. */
static int tok_time_range(parser *ps, size_t i, uint64_t *lo, uint64_t *hi, int *ranged)
{
    *ranged = 0;
    size_t d = i < ps->nt ? range_dots(&ps->t[i]) : 0;
    if (d == 0) {
        return tok_time(ps, i, lo);
    }
    const tok *t = &ps->t[i];
    if (scn_parse_time(t->p, d, lo) != 0 || scn_parse_time(t->p + d + 2, t->n - d - 2, hi) != 0 ||
        *lo > *hi) {
        return expected(ps, i, "a time range A..B with units, A <= B, e.g. 5ms..50ms");
    }
    *ranged = 1;
    return 0;
}

static int is_time_or_range(const tok *t)
{
    uint64_t u;
    size_t d = range_dots(t);
    if (d) {
        return scn_parse_time(t->p, d, &u) == 0;
    }
    return scn_parse_time(t->p, t->n, &u) == 0;
}

static int tok_pct_range(parser *ps, size_t i, uint32_t *lo, uint32_t *hi, int *ranged)
{
    *ranged = 0;
    size_t d = i < ps->nt ? range_dots(&ps->t[i]) : 0;
    if (d == 0) {
        return tok_pct(ps, i, lo);
    }
    const tok *t = &ps->t[i];
    if (parse_pct(t->p, d, lo) != 0 || parse_pct(t->p + d + 2, t->n - d - 2, hi) != 0 || *lo > *hi) {
        return expected(ps, i, "a percentage range A..B, A <= B, e.g. 1%..10%");
    }
    *ranged = 1;
    return 0;
}

static void sw_mark(scn_swarm *sw, unsigned bit, int ranged)
{
    if (ranged) {
        sw->mask |= bit;
    } else {
        sw->mask &= ~bit;
    }
}

/* Bounds of a burst period's mean: below 1 ms a period is shorter than a
 * round trip (per-packet loss: use random or gemodel), and the timeline is
 * drawn period by period through quiet times, so 1 ms keeps that cheap. */
#define BURST_MEAN_MIN TL_SIM_NS_PER_MS
#define BURST_MEAN_MAX (24ull * 3600 * TL_SIM_NS_PER_S)

/* `loss burst GOOD BAD [LOSS%]`, *i at `burst`; *i ends at its last word. */
static int parse_burst(parser *ps, size_t *i, tl_sim_link *l)
{
    static const char *what[2] = {
        "the mean good period of loss burst GOOD BAD [LOSS%], a time from 1ms to 24h",
        "the mean bad period of loss burst GOOD BAD [LOSS%], a time from 1ms to 24h"};
    uint64_t *mean[2] = {&l->burst_good_ns, &l->burst_bad_ns};
    for (int k = 0; k < 2; k++) {
        size_t w = ++*i;
        if (w >= ps->nt || scn_parse_time(ps->t[w].p, ps->t[w].n, mean[k]) != 0 ||
            *mean[k] < BURST_MEAN_MIN || *mean[k] > BURST_MEAN_MAX) {
            return expected(ps, w, what[k]);
        }
    }
    l->loss = TL_SIM_LOSS_BURST;
    l->burst_loss_ppb = TL_SIM_PPB;
    if (*i + 1 < ps->nt && ps->t[*i + 1].n > 0 && ps->t[*i + 1].p[ps->t[*i + 1].n - 1] == '%') {
        if (tok_pct(ps, ++*i, &l->burst_loss_ppb)) {
            return -1;
        }
    }
    return 0;
}

static int tokenize(parser *ps, const char *line, size_t len);

static int parse_netem(parser *ps, size_t i, tl_sim_link *l, scn_swarm *sw, int *oneway)
{
    int rg;
    for (; i < ps->nt; i++) {
        const tok *t = &ps->t[i];
        uint64_t u;
        if (tok_is(t, "oneway")) {
            *oneway = 1;
        } else if (tok_is(t, "delay")) {
            if (tok_time_range(ps, ++i, &l->delay_ns, &sw->hi.delay_ns, &rg)) {
                return -1;
            }
            sw_mark(sw, SW_DELAY, rg);
            if (i + 1 < ps->nt && is_time_or_range(&ps->t[i + 1])) {
                if (tok_time_range(ps, ++i, &l->jitter_ns, &sw->hi.jitter_ns, &rg)) {
                    return -1;
                }
                sw_mark(sw, SW_JITTER, rg);
                if (i + 1 < ps->nt && parse_pct(ps->t[i + 1].p, ps->t[i + 1].n, &l->loss_ppb) == 0) {
                    return perr(ps, &ps->t[i + 1],
                                "delay correlation is not modelled (jitter samples are "
                                "independent); remove it");
                }
            }
        } else if (tok_is(t, "jitter")) {
            if (tok_time_range(ps, ++i, &l->jitter_ns, &sw->hi.jitter_ns, &rg)) {
                return -1;
            }
            sw_mark(sw, SW_JITTER, rg);
        } else if (tok_is(t, "distribution")) {
            i++;
            if (i < ps->nt && tok_is(&ps->t[i], "uniform")) {
                l->distribution = TL_SIM_DIST_UNIFORM;
            } else if (i < ps->nt && tok_is(&ps->t[i], "normal")) {
                l->distribution = TL_SIM_DIST_NORMAL;
            } else if (i < ps->nt && tok_is(&ps->t[i], "pareto")) {
                l->distribution = TL_SIM_DIST_PARETO;
            } else if (i < ps->nt && tok_is(&ps->t[i], "paretonormal")) {
                l->distribution = TL_SIM_DIST_PARETONORMAL;
            } else {
                return expected(ps, i, "uniform, normal, pareto or paretonormal");
            }
        } else if (tok_is(t, "loss")) {
            i++;
            if (i < ps->nt && tok_is(&ps->t[i], "random")) {
                i++;
            }
            if (i < ps->nt && tok_is(&ps->t[i], "gemodel")) {
                l->loss = TL_SIM_LOSS_GEMODEL;
                sw_mark(sw, SW_LOSS, 0);
                l->ge_r_ppb = TL_SIM_PPB;
                l->ge_bad_loss_ppb = TL_SIM_PPB;
                l->ge_good_loss_ppb = 0;
                if (tok_pct(ps, ++i, &l->ge_p_ppb)) {
                    return -1;
                }
                uint32_t *more[3] = {&l->ge_r_ppb, &l->ge_bad_loss_ppb, &l->ge_good_loss_ppb};
                for (int k = 0; k < 3 && i + 1 < ps->nt; k++) {
                    uint32_t v;
                    if (parse_pct(ps->t[i + 1].p, ps->t[i + 1].n, &v) != 0) {
                        break;
                    }
                    *more[k] = v;
                    i++;
                }
            } else if (i < ps->nt && tok_is(&ps->t[i], "burst")) {
                if (parse_burst(ps, &i, l)) {
                    return -1;
                }
                sw_mark(sw, SW_LOSS, 0);
            } else if (i < ps->nt && tok_is(&ps->t[i], "state")) {
                return perr(ps, &ps->t[i], "the 4-state loss model is not modelled; use gemodel or random");
            } else {
                l->loss = TL_SIM_LOSS_RANDOM;
                if (tok_pct_range(ps, i, &l->loss_ppb, &sw->hi.loss_ppb, &rg)) {
                    return -1;
                }
                sw_mark(sw, SW_LOSS, rg);
            }
        } else if (tok_is(t, "rate")) {
            i++;
            if (i >= ps->nt || scn_parse_unit(ps->t[i].p, ps->t[i].n, rate_units, 1, 0, &u) != 0 || u == 0) {
                return expected(ps, i, "a rate with a unit (bit, kbit, mbit, gbit, bps, kbps, mbps, gbps)");
            }
            l->rate_bps = u;
        } else if (tok_is(t, "limit")) {
            if (tok_u64(ps, ++i, &u, "a queue limit in packets") || u == 0 || u > 10000000) {
                return ps->failed ? -1 : expected(ps, i, "a queue limit between 1 and 10000000 packets");
            }
            l->limit = (uint32_t)u;
        } else if (tok_is(t, "corrupt")) {
            if (tok_pct_range(ps, ++i, &l->corrupt_ppb, &sw->hi.corrupt_ppb, &rg)) {
                return -1;
            }
            sw_mark(sw, SW_CORRUPT, rg);
        } else if (tok_is(t, "duplicate")) {
            if (tok_pct_range(ps, ++i, &l->duplicate_ppb, &sw->hi.duplicate_ppb, &rg)) {
                return -1;
            }
            sw_mark(sw, SW_DUPLICATE, rg);
        } else if (tok_is(t, "reorder")) {
            return perr(ps, t, "reorder is not modelled separately: jitter reorders segments");
        } else {
            return expected(ps, i,
                            "a link word: delay, jitter, distribution, loss, rate, limit, corrupt, "
                            "duplicate or oneway");
        }
    }
    return 0;
}

/* Link words alone (hosts/proxy.c reads its faults with them): the words of
 * text, as on a `link` line after the node names; ranges are refused. */
int scn_parse_link_words(const char *text, size_t len, tl_sim_link *out, int *oneway, tl_scn_error *err)
{
    parser ps;
    scn_swarm sw;
    memset(&ps, 0, sizeof ps);
    memset(&sw, 0, sizeof sw);
    memset(err, 0, sizeof *err);
    ps.err = err;
    ps.line = 1;
    tl_sim_link_defaults(out);
    *oneway = 0;
    if (tokenize(&ps, text, len) != 0 || parse_netem(&ps, 0, out, &sw, oneway) != 0) {
        return -1;
    }
    if (sw.mask != 0) {
        perr(&ps, NULL, "expected single values, not ranges (ranges are for `sim --swarm`)");
        err->column = 1;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ directives */

static int d_seeds(parser *ps)
{
    uint64_t lo, hi;
    if (ps->nt != 2 || scn_parse_range(ps->t[1].p, ps->t[1].n, &lo, &hi) != 0) {
        return expected(ps, 1, "a seed N or a range A..B (A <= B)");
    }
    ps->scn->seed_first = lo;
    ps->scn->seed_last = hi;
    return 0;
}

static int d_duration(parser *ps)
{
    if (tok_time(ps, 1, &ps->scn->duration)) {
        return -1;
    }
    if (ps->nt > 2) {
        return expected(ps, 2, "the end of the line");
    }
    return 0;
}

static int d_tcp(parser *ps)
{
    if (ps->nt < 2) {
        return expected(ps, 1, "option key=value words");
    }
    return parse_options(ps, 1, &ps->scn->tcp, &ps->scn->tcp_mask);
}

/* node NAME[A..B] [options]: NAMEA ... NAMEB, each with the options. */
static int d_node_range(parser *ps)
{
    const tok *t = &ps->t[1];
    tok name;
    int star;
    uint64_t lo = 0, hi = 0;
    char nm[64];
    if (range_word(ps, t, 0, &name, &star, &lo, &hi)) {
        return -1;
    }
    for (uint64_t k = lo;; k++) {
        range_name(&name, k, nm, sizeof nm);
        tok nt = {nm, strlen(nm), t->col};
        if (!valid_name(&nt)) {
            return perr(ps, t, "expected node names of at most %d characters, got '%s'", SCN_NAME_MAX - 1,
                        nm);
        }
        if (find_node(ps->scn, &nt) >= 0) {
            return perr(ps, t, "expected a new node name, got '%s' (declared before)", nm);
        }
        if (k == hi) {
            break;
        }
    }
    tl_sim_node_options opt;
    uint64_t mask = 0;
    memset(&opt, 0, sizeof opt);
    if (parse_options(ps, 2, &opt, &mask)) {
        return -1;
    }
    for (uint64_t k = lo;; k++) {
        scn_node *n;
        PUSH(ps, nodes, nnodes, n);
        range_name(&name, k, n->name, sizeof n->name);
        n->opt = opt;
        n->mask = mask;
        n->line = ps->line;
        if (k == hi) {
            break;
        }
    }
    return 0;
}

/* node NAME exec "COMMAND" [addr=ADDR] [ready=TIME] | node NAME external ADDR:
 * a real process, run on real sockets by `tofulab run` (hosts/realrun.c);
 * the simulator refuses the file (scn->real_line). */
static int d_node_real(parser *ps, scn_node *n)
{
    const tok *kind = &ps->t[2];
    if (ps->scn->real_line == 0) {
        ps->scn->real_line = ps->line;
    }
    n->ready_ns = 10 * TL_SIM_NS_PER_S;
    if (tok_is(kind, "external")) {
        n->real = SCN_NODE_EXTERNAL;
        tl_address a;
        if (ps->nt < 4 || ps->t[3].n >= sizeof n->addr ||
            tl_address_parse(ps->t[3].p, ps->t[3].n, &a) != TL_OK) {
            return expected(ps, 3, "the address it listens on, tcp|HOST|PORT or uds|PATH");
        }
        tok_copy(&ps->t[3], n->addr, sizeof n->addr);
        return ps->nt > 4 ? expected(ps, 4, "the end of the line") : 0;
    }
    n->real = SCN_NODE_EXEC;
    if (ps->nt < 4 || ps->t[3].p[0] != '"') {
        return expected(ps, 3, "a command in double quotes, e.g. \"./my-server --listen {addr}\"");
    }
    /* the command: between the quotes, \" and \\ escaped; '#' is text there */
    const char *p = ps->t[3].p + 1, *end = ps->line_start + ps->line_len;
    char cmd[1024];
    size_t n_cmd = 0;
    for (; p < end && *p != '"'; p++) {
        if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\')) {
            p++;
        }
        if (n_cmd + 1 >= sizeof cmd) {
            return perr(ps, &ps->t[3], "expected a command of at most %zu bytes", sizeof cmd - 1);
        }
        cmd[n_cmd++] = *p;
    }
    if (p >= end) {
        return perr(ps, &ps->t[3], "expected the closing \" of the command");
    }
    if (n_cmd == 0) {
        return perr(ps, &ps->t[3], "expected a command between the quotes");
    }
    cmd[n_cmd] = '\0';
    n->command = malloc(n_cmd + 1);
    if (n->command == NULL) {
        return perr(ps, NULL, "out of memory");
    }
    memcpy(n->command, cmd, n_cmd + 1);
    /* after the closing quote: addr=ADDR ready=TIME, a comment */
    for (p++; p < end;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) {
            p++;
        }
        if (p >= end || *p == '#') {
            break;
        }
        tok w = {p, 0, (unsigned)(p - ps->line_start) + 1};
        while (p < end && *p != ' ' && *p != '\t' && *p != '\r') {
            p++;
        }
        w.n = (size_t)(p - w.p);
        tl_address a;
        if (w.n > 5 && memcmp(w.p, "addr=", 5) == 0 && w.n - 5 < sizeof n->addr &&
            tl_address_parse(w.p + 5, w.n - 5, &a) == TL_OK) {
            memcpy(n->addr, w.p + 5, w.n - 5);
            n->addr[w.n - 5] = '\0';
        } else if (w.n > 6 && memcmp(w.p, "ready=", 6) == 0 &&
                   scn_parse_time(w.p + 6, w.n - 6, &n->ready_ns) == 0 && n->ready_ns > 0) {
            continue;
        } else {
            char q[80];
            quote(&w, q, sizeof q);
            return perr(ps, &w,
                        "expected addr=ADDR (where it listens: tcp|HOST|PORT or uds|PATH) or ready=TIME, "
                        "got '%s'",
                        q);
        }
    }
    return 0;
}

static int d_node(parser *ps)
{
    if (ps->nt >= 3 && is_range_word(&ps->t[1]) &&
        (tok_is(&ps->t[2], "exec") || tok_is(&ps->t[2], "external"))) {
        return perr(ps, &ps->t[1],
                    "expected one node name: a real process (exec, external) is a node of its own");
    }
    if (ps->nt >= 2 && is_range_word(&ps->t[1])) {
        return d_node_range(ps);
    }
    if (ps->nt < 2 || !valid_name(&ps->t[1])) {
        return expected(ps, 1, "a node name (1-31 of A-Z a-z 0-9 _ . -)");
    }
    if (find_node(ps->scn, &ps->t[1]) >= 0) {
        char q[40];
        quote(&ps->t[1], q, sizeof q);
        return perr(ps, &ps->t[1], "expected a new node name, got '%s' (declared before)", q);
    }
    scn_node *n;
    PUSH(ps, nodes, nnodes, n);
    tok_copy(&ps->t[1], n->name, sizeof n->name);
    n->line = ps->line;
    if (ps->nt >= 3 && (tok_is(&ps->t[2], "exec") || tok_is(&ps->t[2], "external"))) {
        return d_node_real(ps, n);
    }
    return parse_options(ps, 2, &n->opt, &n->mask);
}

/* The pairs of a cross product of node sets; with a range word among them a
 * node is not paired with itself (as a wildcard never sets a loopback). */
static size_t count_pairs(const node_set *a, const node_set *b, int ranged)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++) {
        for (size_t j = 0; j < b->n; j++) {
            n += !(ranged && a->v[i] >= 0 && a->v[i] == b->v[j]);
        }
    }
    return n;
}

/* Whether link line o sets the direction x -> y (node indexes, -1 = `*`). */
static int link_covers(const scn_link *o, int x, int y)
{
    return (o->a == x && o->b == y) || (!o->oneway && o->a == y && o->b == x);
}

static int d_link(parser *ps)
{
    node_set *as = &ps->set[0], *bs = &ps->set[1];
    if (tok_nodes(ps, 1, 1, as) || tok_nodes(ps, 2, 1, bs)) {
        return -1;
    }
    scn_link tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.line = ps->line;
    tl_sim_link_defaults(&tmpl.p);
    if (parse_netem(ps, 3, &tmpl.p, &tmpl.sw, &tmpl.oneway)) {
        return -1;
    }
    int ranged = is_range_word(&ps->t[1]) || is_range_word(&ps->t[2]);
    size_t pairs = count_pairs(as, bs, ranged);
    if (pairs == 0) {
        return expected(ps, 2, "a node other than the first");
    }
    if (check_expand(ps, 1, pairs)) {
        return -1;
    }
    size_t before = ps->scn->nlinks;
    for (size_t i = 0; i < as->n; i++) {
        for (size_t j = 0; j < bs->n; j++) {
            if (ranged && as->v[i] >= 0 && as->v[i] == bs->v[j]) {
                continue;
            }
            /* one line per pair: a second would silently override the first */
            for (size_t k = 0; k < before; k++) {
                const scn_link *o = &ps->scn->links[k];
                int a = as->v[i], b = bs->v[j];
                if (link_covers(o, a, b) || (!tmpl.oneway && link_covers(o, b, a))) {
                    return perr(
                        ps, &ps->t[1],
                        "expected one `link` line per pair of nodes: %s %s is set on line %u (to change "
                        "a link during the run: `at TIME link ...`)",
                        a < 0 ? "*" : ps->scn->nodes[a].name, b < 0 ? "*" : ps->scn->nodes[b].name, o->line);
                }
            }
            scn_link *l;
            PUSH(ps, links, nlinks, l);
            *l = tmpl;
            l->a = as->v[i];
            l->b = bs->v[j];
        }
    }
    return 0;
}

static int service_on(parser *ps, int node);

/* service NODE KIND ...: one service per node of the node word. */
static int d_service(parser *ps)
{
    node_set *ns = &ps->set[0];
    if (tok_nodes(ps, 1, 0, ns) || check_expand(ps, 1, ns->n)) {
        return -1;
    }
    for (size_t i = 0; i < ns->n; i++) {
        if (service_on(ps, ns->v[i])) {
            return -1;
        }
    }
    return 0;
}

static int service_on(parser *ps, int node)
{
    char kind_name[40];
    if (ps->nt < 3) {
        return expected(ps, 2, "a service kind");
    }
    tok_copy(&ps->t[2], kind_name, sizeof kind_name);
    const scn_service_kind *k = scn_service_kind_find(kind_name);
    if (k == NULL) {
        char q[60], list[120];
        quote(&ps->t[2], q, sizeof q);
        snprintf(list, sizeof list, "%s", scn_service_kind_list());
        return perr(ps, &ps->t[2], "expected a service kind (%s), got '%s'", list, q);
    }
    scn_service *s;
    PUSH(ps, services, nservices, s);
    s->node = node;
    s->kind = k;
    s->line = ps->line;
    s->cfg = scn_service_new(k);
    if (s->cfg == NULL) {
        return perr(ps, NULL, "out of memory");
    }
    for (size_t i = 3; i < ps->nt; i++) {
        const tok *t = &ps->t[i];
        const char *eq = memchr(t->p, '=', t->n);
        char key[40], value[TL_ADDR_TEXT_MAX + 64], what[160];
        if (eq == NULL || eq == t->p) {
            char keys[200];
            snprintf(keys, sizeof keys, "a key=value word (%s name=NAME start=TIME)", k->keys);
            return expected(ps, i, keys);
        }
        size_t kn = (size_t)(eq - t->p);
        size_t vn = t->n - kn - 1;
        tok vt = {eq + 1, vn, t->col + (unsigned)kn + 1};
        if (kn >= sizeof key || vn >= sizeof value) {
            return perr(ps, t, "expected a shorter key=value word");
        }
        memcpy(key, t->p, kn);
        key[kn] = '\0';
        memcpy(value, eq + 1, vn);
        value[vn] = '\0';
        if (strcmp(key, "name") == 0) {
            if (!valid_name(&vt)) {
                return perr(ps, &vt, "expected a service name (1-31 of A-Z a-z 0-9 _ . -)");
            }
            memcpy(s->name, value, vn + 1);
            continue;
        }
        if (strcmp(key, "start") == 0) {
            if (scn_parse_time(value, vn, &s->start) != 0) {
                return perr(ps, &vt, "expected a start delay with a unit, e.g. start=500ms");
            }
            continue;
        }
        what[0] = '\0';
        int rc = scn_service_set(k, s->cfg, key, value, what, sizeof what);
        if (rc == SCN_KEY_UNKNOWN) {
            return perr(ps, t, "expected a key of %s (%s name=NAME start=TIME), got '%s'", k->name, k->keys,
                        key);
        }
        if (rc != SCN_KEY_OK) {
            return perr(ps, &vt, "expected %s for %s", what, key);
        }
    }
    {
        size_t n = 0;
        const char *from = "";
        if (ps->nt > 3) {
            from = ps->t[3].p;
            n = (size_t)(ps->t[ps->nt - 1].p + ps->t[ps->nt - 1].n - from);
        }
        s->args = malloc(n + 1);
        if (s->args == NULL) {
            return perr(ps, NULL, "out of memory");
        }
        memcpy(s->args, from, n);
        s->args[n] = '\0';
    }
    char what[160];
    if (scn_service_check(k, s->cfg, what, sizeof what) != 0) {
        return perr(ps, NULL, "expected %s for a %s service", what, k->name);
    }
    /* Hosts must be nodes of this scenario (or literals); a listener listens
     * on its own node. */
    const char *addrs[8];
    size_t na = scn_service_addresses(k, s->cfg, addrs, 8);
    for (size_t j = 0; j < na; j++) {
        tl_address a;
        if (tl_address_parse(addrs[j], strlen(addrs[j]), &a) != TL_OK || a.kind != TL_ADDR_TCP) {
            continue;
        }
        int literal = strcmp(a.host, "localhost") == 0 || strcmp(a.host, "0.0.0.0") == 0 ||
                      strcmp(a.host, "127.0.0.1") == 0 || (a.host[0] >= '0' && a.host[0] <= '9');
        int known = find_node_str(ps->scn, a.host);
        /* point at the address in the line */
        tok at = {NULL, 0, 0};
        size_t alen = strlen(addrs[j]);
        for (size_t c = 0; c + alen <= ps->line_len; c++) {
            if (memcmp(ps->line_start + c, addrs[j], alen) == 0) {
                at.p = ps->line_start + c;
                at.n = alen;
                at.col = (unsigned)c + 1;
                break;
            }
        }
        if (!literal && known < 0) {
            return perr(ps, at.p ? &at : NULL, "expected a declared node as the host of %s", addrs[j]);
        }
        if (k->listens && !literal && known != node) {
            return perr(ps, at.p ? &at : NULL, "expected the service's own node (%s) as the host of %s",
                        ps->scn->nodes[node].name, addrs[j]);
        }
    }
    if (s->name[0] == '\0') {
        snprintf(s->name, sizeof s->name, "%s", k->name);
        for (int suffix = 2;; suffix++) {
            int clash = 0;
            for (size_t j = 0; j + 1 < ps->scn->nservices; j++) {
                const scn_service *o = &ps->scn->services[j];
                if (o->node == node && strcmp(o->name, s->name) == 0) {
                    clash = 1;
                }
            }
            if (!clash) {
                break;
            }
            snprintf(s->name, sizeof s->name, "%s.%d", k->name, suffix);
        }
    } else {
        for (size_t j = 0; j + 1 < ps->scn->nservices; j++) {
            const scn_service *o = &ps->scn->services[j];
            if (o->node == node && strcmp(o->name, s->name) == 0) {
                return perr(ps, NULL, "expected a service name not used on node %s before: %s",
                            ps->scn->nodes[node].name, s->name);
            }
        }
    }
    return 0;
}

/* One action per pair of the node sets (b NULL: per node of a, b = tmpl's). */
static int push_actions(parser *ps, const scn_action *tmpl, const node_set *as, const node_set *bs,
                        int ranged)
{
    for (size_t i = 0; i < as->n; i++) {
        for (size_t j = 0; j < (bs ? bs->n : 1); j++) {
            int b = bs ? bs->v[j] : tmpl->b;
            if (bs && ranged && b >= 0 && as->v[i] == b) {
                continue;
            }
            scn_action *a;
            PUSH(ps, actions, nactions, a);
            *a = *tmpl;
            a->a = as->v[i];
            a->b = b;
        }
    }
    return 0;
}

static int d_at(parser *ps)
{
    static const struct {
        const char *word;
        tl_sim_action action;
    } simple[] = {{"crash", TL_SIM_CRASH},         {"silent-death", TL_SIM_SILENT_DEATH},
                  {"pause", TL_SIM_PAUSE},         {"resume", TL_SIM_RESUME},
                  {"restart", TL_SIM_RESTART},     {"stop-listener", TL_SIM_STOP_LISTENER},
                  {"partition", TL_SIM_PARTITION}, {"heal", TL_SIM_HEAL}};
    node_set *as = &ps->set[0], *bs = &ps->set[1];
    scn_action tmpl, *a = &tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    if (tok_time(ps, 1, &a->t)) {
        return -1;
    }
    a->line = ps->line;
    if (ps->nt > 2 && tok_is(&ps->t[2], "link")) {
        if (tok_nodes(ps, 3, 0, as) || tok_nodes(ps, 4, 0, bs)) {
            return -1;
        }
        a->is_link = 1;
        tl_sim_link_defaults(&a->link);
        int oneway = 0;
        if (parse_netem(ps, 5, &a->link, &a->sw, &oneway)) {
            return -1;
        }
        a->flags = oneway ? TL_SIM_ONEWAY : 0;
        int ranged = is_range_word(&ps->t[3]) || is_range_word(&ps->t[4]);
        size_t pairs = count_pairs(as, bs, ranged);
        if (pairs == 0) {
            return expected(ps, 4, "a node other than the first");
        }
        if (check_expand(ps, 3, pairs)) {
            return -1;
        }
        return push_actions(ps, a, as, bs, ranged);
    }
    size_t k;
    for (k = 0; k < sizeof simple / sizeof simple[0]; k++) {
        if (ps->nt > 2 && tok_is(&ps->t[2], simple[k].word)) {
            break;
        }
    }
    if (k == sizeof simple / sizeof simple[0]) {
        return expected(ps, 2,
                        "an action: crash, silent-death, pause, resume, restart, stop-listener, partition, "
                        "heal or link");
    }
    a->action = simple[k].action;
    if (tok_nodes(ps, 3, 0, as)) {
        return -1;
    }
    size_t i = 4;
    int pair = a->action == TL_SIM_PARTITION || a->action == TL_SIM_HEAL;
    int ranged = is_range_word(&ps->t[3]);
    size_t n = as->n;
    if (a->action == TL_SIM_STOP_LISTENER) {
        if (i < ps->nt) {
            uint64_t port;
            if (tok_u64(ps, i, &port, "a port (or nothing: every listener)") || port == 0 || port > 65535) {
                return ps->failed ? -1 : expected(ps, i, "a port between 1 and 65535");
            }
            a->arg = port;
            i++;
        }
    } else if (pair) {
        if (tok_nodes(ps, i, 1, bs)) {
            return -1;
        }
        ranged |= is_range_word(&ps->t[i]);
        n = count_pairs(as, bs, ranged);
        if (n == 0 || (!ranged && bs->v[0] == as->v[0])) {
            return expected(ps, i, "a node other than the first");
        }
        i++;
        while (a->action == TL_SIM_PARTITION && i < ps->nt) {
            if (tok_is(&ps->t[i], "oneway")) {
                a->flags |= TL_SIM_ONEWAY;
                i++;
            } else if (tok_is(&ps->t[i], "for")) {
                if (tok_time(ps, i + 1, &a->arg)) {
                    return -1;
                }
                i += 2;
            } else {
                break;
            }
        }
    }
    if (i < ps->nt) {
        return expected(ps, i,
                        a->action == TL_SIM_PARTITION ? "oneway, for TIME or the end of the line"
                                                      : "the end of the line");
    }
    if (check_expand(ps, 3, n)) {
        return -1;
    }
    return push_actions(ps, a, as, pair ? bs : NULL, ranged);
}

/* groups: the kinds of service that report the metric (SCN_MG_*; 0: the node
 * itself or the network). progress: PROG_UP, a count that only grows when
 * the system makes progress (a lower bound on it needs the faults to end);
 * PROG_DOWN, a level that falls as work completes (open). counter: it only
 * grows, so `since heal` (its growth after the faults ended) means something. */
enum { PROG_NONE = 0, PROG_UP = 1, PROG_DOWN = 2 };
#define MG_ALL (SCN_MG_CLIENT | SCN_MG_SERVER | SCN_MG_HEARTBEAT)
#define MG_CS  (SCN_MG_CLIENT | SCN_MG_SERVER)
#define MG_CH  (SCN_MG_CLIENT | SCN_MG_HEARTBEAT)
#define MG_C   SCN_MG_CLIENT
#define MG_H   SCN_MG_HEARTBEAT

static const struct {
    const char *name;
    scn_metric m;
    int is_time;
    int network;
    unsigned groups;
    int progress;
    int counter;
} metrics[] = {
    {"sent", M_SENT, 0, 0, MG_ALL, PROG_UP, 1},
    {"answered", M_ANSWERED, 0, 0, MG_CS, PROG_UP, 1},
    {"failed", M_FAILED, 0, 0, MG_CS, PROG_NONE, 1},
    {"errors", M_ERRORS, 0, 0, MG_ALL, PROG_NONE, 1},
    {"signals", M_SIGNALS, 0, 0, MG_ALL, PROG_UP, 1},
    {"bytes", M_BYTES, 0, 0, MG_CS, PROG_UP, 1},
    {"closed", M_CLOSED, 0, 0, MG_ALL, PROG_UP, 1},
    {"latency-max", M_LATENCY_MAX, 1, 0, MG_CH, PROG_NONE, 0},
    {"latency-mean", M_LATENCY_MEAN, 1, 0, MG_CH, PROG_NONE, 0},
    {"closed-by", M_CLOSED_BY, 0, 0, 0, PROG_NONE, 1},
    {"done", M_DONE, 0, 0, MG_ALL, PROG_UP, 0},
    {"state", M_STATE, 0, 0, 0, PROG_NONE, 0},
    {"incarnation", M_INCARNATION, 0, 0, 0, PROG_NONE, 0},
    {"open", M_OPEN, 0, 0, MG_C, PROG_DOWN, 0},
    {"abandoned", M_ABANDONED, 0, 0, MG_C, PROG_NONE, 1},
    {"out-of-order", M_OUT_OF_ORDER, 0, 0, MG_C, PROG_NONE, 1},
    {"suspicions", M_SUSPICIONS, 0, 0, MG_H, PROG_UP, 1},
    {"false-suspicions", M_FALSE_SUSPICIONS, 0, 0, MG_H, PROG_NONE, 1},
    {"deaths", M_DEATHS, 0, 0, MG_H, PROG_UP, 0},
    {"connect-failures", M_CONNECT_FAILURES, 0, 0, MG_CH, PROG_NONE, 1},
    {"reconnects", M_RECONNECTS, 0, 0, MG_CH, PROG_NONE, 1},
    {"detection-latency-max", M_LATENCY_MAX, 1, 0, MG_H, PROG_NONE, 0},
    {"detection-latency-mean", M_LATENCY_MEAN, 1, 0, MG_H, PROG_NONE, 0},
    {"events", M_EVENTS, 0, 1, 0, PROG_NONE, 1},
    {"retransmits", M_RETRANSMITS, 0, 1, 0, PROG_NONE, 1},
    {"timeouts", M_TIMEOUTS, 0, 1, 0, PROG_NONE, 1},
    {"lost", M_LOST, 0, 1, 0, PROG_NONE, 1},
    {"corrupted", M_CORRUPTED, 0, 1, 0, PROG_NONE, 1},
    {"resets", M_RESETS, 0, 1, 0, PROG_NONE, 1},
    {"connections", M_CONNECTIONS, 0, 1, 0, PROG_UP, 1},
    {"accepted", M_ACCEPTED, 0, 1, 0, PROG_UP, 1},
    {"aborted", M_ABORTED, 0, 1, 0, PROG_NONE, 1},
    {"probes", M_PROBES, 0, 1, 0, PROG_NONE, 1},
    {"delivered", M_DELIVERED, 0, 1, 0, PROG_UP, 1},
};

static size_t metric_index(scn_metric m)
{
    for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
        if (metrics[i].m == m) {
            return i;
        }
    }
    return 0;
}

/* A progress expectation asks for something to have happened (a lower bound
 * on a growing count, done, nothing left open): it can only be promised once
 * the faults end (docs/scenarios.md "Safety and liveness"). */
static int expect_is_progress(const scn_expect *e, int kind)
{
    if (kind == PROG_UP) {
        switch (e->op) {
        case OP_EQ:
        case OP_GE: return e->value > 0;
        case OP_GT: return 1;
        case OP_NE: return e->value == 0;
        default: return 0;
        }
    }
    if (kind == PROG_DOWN) {
        return e->op == OP_EQ || e->op == OP_LE || e->op == OP_LT;
    }
    return 0;
}

const char *scn_metric_name(scn_metric m)
{
    for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
        if (metrics[i].m == m) {
            return metrics[i].name;
        }
    }
    return "?";
}

static const char *state_words[] = {"up", "paused", "down", "dead"};

static int parse_op(const tok *t, scn_op *op)
{
    static const struct {
        const char *s;
        scn_op op;
    } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<", OP_LT}, {"<=", OP_LE}, {">", OP_GT}, {">=", OP_GE}};
    for (size_t i = 0; i < 6; i++) {
        if (tok_is(t, ops[i].s)) {
            *op = ops[i].op;
            return 0;
        }
    }
    return -1;
}

/* expect TARGET METRIC [OP VALUE] [since heal] / report TARGET METRIC: one
 * expectation (report) per node of a range target, each with its own text
 * (the node's name in place of the range word). */
static int expect_or_report(parser *ps, int report)
{
    scn_expect tmpl, *e = &tmpl;
    node_set *ns = &ps->set[0], *svc = &ps->set[1];
    const char *rest = NULL; /* after the range word, for the texts */
    memset(&tmpl, 0, sizeof tmpl);
    ns->n = svc->n = 0;
    e->line = ps->line;
    e->service = -1;
    e->node = -1;
    /* the text as written, after "expect" */
    {
        const char *from = ps->nt > 1 ? ps->t[1].p : ps->t[0].p + ps->t[0].n;
        const tok *last = &ps->t[ps->nt - 1];
        size_t n = (size_t)(last->p + last->n - from);
        if (n >= sizeof e->text) {
            n = sizeof e->text - 1;
        }
        memcpy(e->text, from, n);
        e->text[n] = '\0';
    }
    if (ps->nt < 2) {
        return expected(ps, 1, "a node, node/service or *");
    }
    const tok *target = &ps->t[1];
    if (!tok_is(target, "*")) {
        const char *slash = memchr(target->p, '/', target->n);
        tok nt = {target->p, slash ? (size_t)(slash - target->p) : target->n, target->col};
        if (is_range_word(&nt)) {
            if (range_nodes(ps, &nt, ns) || check_expand(ps, 1, ns->n)) {
                return -1;
            }
            rest = nt.p + nt.n;
        } else {
            int n = find_node(ps->scn, &nt);
            if (n < 0) {
                char q[40];
                quote(&nt, q, sizeof q);
                return perr(ps, target, "expected a declared node, node/service or *, got '%s'", q);
            }
            if (set_add(ps, ns, n)) {
                return -1;
            }
        }
        e->node = ns->v[0];
        if (slash) {
            tok st = {slash + 1, target->n - nt.n - 1, target->col + (unsigned)nt.n + 1};
            for (size_t k = 0; k < ns->n; k++) {
                int n = ns->v[k], found = -1;
                for (size_t j = 0; j < ps->scn->nservices; j++) {
                    if (ps->scn->services[j].node == n && tok_is(&st, ps->scn->services[j].name)) {
                        found = (int)j;
                    }
                }
                if (found < 0) {
                    char q[40];
                    quote(&st, q, sizeof q);
                    return perr(ps, &st, "expected a service of node %s (its name= or kind), got '%s'",
                                ps->scn->nodes[n].name, q);
                }
                if (set_add(ps, svc, found)) {
                    return -1;
                }
            }
            e->service = svc->v[0];
        }
    }
    size_t mi;
    for (mi = 0; mi < sizeof metrics / sizeof metrics[0]; mi++) {
        if (ps->nt > 2 && tok_is(&ps->t[2], metrics[mi].name)) {
            break;
        }
    }
    if (mi == sizeof metrics / sizeof metrics[0]) {
        return expected(
            ps, 2,
            "a metric: sent answered failed open abandoned errors out-of-order signals bytes closed "
            "latency-max latency-mean suspicions false-suspicions deaths connect-failures reconnects "
            "detection-latency-max "
            "detection-latency-mean closed-by done state incarnation, or for *: events retransmits "
            "timeouts lost corrupted resets connections accepted aborted probes delivered");
    }
    e->metric = metrics[mi].m;
    e->is_time = metrics[mi].is_time;
    e->col = ps->t[2].col;
    if (metrics[mi].network != (e->node < 0)) {
        return perr(ps, &ps->t[2],
                    metrics[mi].network ? "expected * as the target of %s (a network metric)"
                                        : "expected a node as the target of %s",
                    metrics[mi].name);
    }
    size_t i = 3;
    if (e->metric == M_CLOSED_BY) {
        char st[40];
        if (i >= ps->nt) {
            return expected(ps, i, "a status name such as communication_failed");
        }
        tok_copy(&ps->t[i], st, sizeof st);
        int s = tl_status_parse(st);
        if (s < 0 || s >= (int)TL_STATUS_COUNT || (st[0] >= '0' && st[0] <= '9')) {
            return expected(ps, i, "a status name such as communication_failed, recv_failed, channel_closed");
        }
        e->status = (unsigned)s;
        i++;
    }
    if (report) {
        /* measured, printed, never asserted */
    } else if (e->metric == M_STATE) {
        e->op = OP_EQ;
        if (i < ps->nt && parse_op(&ps->t[i], &e->op) == 0) {
            if (e->op != OP_EQ && e->op != OP_NE) {
                return expected(ps, i, "== or !=");
            }
            i++;
        }
        size_t w;
        for (w = 0; w < 4; w++) {
            if (i < ps->nt && tok_is(&ps->t[i], state_words[w])) {
                break;
            }
        }
        if (w == 4) {
            return expected(ps, i, "up, paused, down or dead");
        }
        e->value = w;
        i++;
    } else if (i >= ps->nt && (e->metric == M_CLOSED_BY || e->metric == M_DONE)) {
        e->op = e->metric == M_DONE ? OP_EQ : OP_GE;
        e->value = 1;
    } else {
        if (i >= ps->nt || parse_op(&ps->t[i], &e->op) != 0) {
            return expected(ps, i, "a comparison: == != < <= > >=");
        }
        i++;
        if (e->is_time) {
            if (tok_time(ps, i, &e->value)) {
                return -1;
            }
        } else if (tok_u64(ps, i, &e->value, "a whole number")) {
            return -1;
        }
        i++;
    }
    if (!report && i < ps->nt && tok_is(&ps->t[i], "since")) {
        if (i + 1 >= ps->nt || !tok_is(&ps->t[i + 1], "heal")) {
            return expected(ps, i + 1, "heal (`since heal`: the growth after the faults end)");
        }
        if (!metrics[mi].counter) {
            return perr(ps, &ps->t[i], "expected a count after %s, not `since heal` (%s is not a count)",
                        metrics[mi].name, metrics[mi].name);
        }
        e->since_heal = 1;
        i += 2;
    }
    if (i < ps->nt) {
        return expected(ps, i,
                        report ? "the end of the line (a report has no comparison)"
                               : "the end of the line (or `since heal`)");
    }
    e->progress = !report && (e->since_heal || expect_is_progress(e, metrics[mi].progress));
    for (size_t k = 0; k < (ns->n ? ns->n : 1); k++) {
        scn_expect *x;
        if (report) {
            PUSH(ps, reports, nreports, x);
        } else {
            PUSH(ps, expects, nexpects, x);
        }
        *x = tmpl;
        if (ns->n) {
            x->node = ns->v[k];
            x->service = svc->n ? svc->v[k] : -1;
        }
        if (rest) {
            const tok *last = &ps->t[ps->nt - 1];
            snprintf(x->text, sizeof x->text, "%s%.*s", ps->scn->nodes[x->node].name,
                     (int)(last->p + last->n - rest), rest);
        }
    }
    return 0;
}

static int d_expect(parser *ps) { return expect_or_report(ps, 0); }
static int d_report(parser *ps) { return expect_or_report(ps, 1); }

/* heal TIME: every fault ends then (checked against the rest after the parse). */
static int d_heal(parser *ps)
{
    if (ps->scn->heal_line) {
        return perr(ps, &ps->t[0], "expected one `heal` line (the first is line %u)", ps->scn->heal_line);
    }
    if (tok_time(ps, 1, &ps->scn->heal_ns)) {
        return -1;
    }
    if (ps->nt > 2) {
        return expected(
            ps, 2,
            "the end of the line (`heal TIME` ends every fault; `at TIME heal A B` ends one partition)");
    }
    ps->scn->heal_line = ps->line;
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(parser *ps);
} directives[] = {
    {"seeds", d_seeds}, {"duration", d_duration}, {"tcp", d_tcp}, {"node", d_node},
    {"link", d_link},   {"service", d_service},   {"at", d_at},   {"expect", d_expect},
    {"heal", d_heal},   {"report", d_report},
};

/* ------------------------------------------------------------ driver */

static int tokenize(parser *ps, const char *line, size_t len)
{
    size_t i = 0;
    ps->nt = 0;
    ps->line_start = line;
    ps->line_len = len;
    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) {
            i++;
        }
        if (i >= len || line[i] == '#') {
            break;
        }
        size_t start = i;
        while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
            i++;
        }
        if (ps->nt == MAX_TOKENS) {
            tok t = {line + start, i - start, (unsigned)start + 1};
            return perr(ps, &t, "expected at most %d words on a line", MAX_TOKENS);
        }
        tok *t = &ps->t[ps->nt++];
        t->p = line + start;
        t->n = i - start;
        t->col = (unsigned)start + 1;
        const char *nul = memchr(t->p, '\0', t->n);
        if (nul) {
            tok at = {nul, 1, t->col + (unsigned)(nul - t->p)};
            return perr(ps, &at, "expected text, got a NUL byte");
        }
    }
    return 0;
}

static int parse_line(parser *ps)
{
    if (ps->nt == 0) {
        return 0;
    }
    for (size_t i = 0; i < sizeof directives / sizeof directives[0]; i++) {
        if (tok_is(&ps->t[0], directives[i].name)) {
            return directives[i].fn(ps);
        }
    }
    return expected(ps, 0,
                    "a directive: seeds, duration, tcp, node, link, service, at, heal, expect or report");
}

/* ------------------------------------------------------------ the fault timeline */

/* An error about a line other than the current one (checks after the parse). */
static int perr_line(parser *ps, unsigned line, unsigned col, const char *msg)
{
    tok t = {NULL, 0, col};
    ps->line = line;
    return perr(ps, col ? &t : NULL, "%s", msg);
}

static int link_faulty(const tl_sim_link *p, const scn_swarm *sw)
{
    return tl_sim_link_has_faults(p) || (sw->mask & (SW_LOSS | SW_CORRUPT | SW_DUPLICATE)) != 0;
}

typedef struct {
    size_t n;
    unsigned char *fault, *part;
    uint64_t *until;
    unsigned *line; /* of what made the pair faulty */
    unsigned char *paused;
    unsigned *pause_line;
} timeline;

static void tl_pair(timeline *tm, size_t a, size_t b, int fault, unsigned line)
{
    size_t k = a * tm->n + b;
    tm->fault[k] = (unsigned char)fault;
    if (fault) {
        tm->line[k] = line;
    }
}

/* Both ends may be -1 (`*`); a wildcard never sets a loopback (as build()). */
static void tl_link(timeline *tm, int la, int lb, int oneway, int fault, unsigned line)
{
    for (size_t a = 0; a < tm->n; a++) {
        for (size_t b = 0; b < tm->n; b++) {
            int ab = (la < 0 || (size_t)la == a) && (lb < 0 || (size_t)lb == b);
            int ba = !oneway && (la < 0 || (size_t)la == b) && (lb < 0 || (size_t)lb == a);
            if ((a == b && (la < 0 || lb < 0)) || !(ab || ba)) {
                continue;
            }
            tl_pair(tm, a, b, fault, line);
        }
    }
}

static void tl_partition(timeline *tm, int a, int b, int on, uint64_t until, int oneway, unsigned line)
{
    for (size_t x = 0; x < tm->n; x++) {
        if (b >= 0 ? x != (size_t)b : x == (size_t)a) {
            continue;
        }
        size_t k1 = (size_t)a * tm->n + x, k2 = x * tm->n + (size_t)a;
        tm->part[k1] = (unsigned char)on;
        tm->until[k1] = until;
        tm->line[k1] = on ? line : tm->line[k1];
        if (!oneway || !on) {
            tm->part[k2] = (unsigned char)on;
            tm->until[k2] = until;
            tm->line[k2] = on ? line : tm->line[k2];
        }
    }
}

static int cmp_action_time(const void *x, const void *y)
{
    const scn_action *a = *(const scn_action *const *)x, *b = *(const scn_action *const *)y;
    if (a->t != b->t) {
        return a->t < b->t ? -1 : 1;
    }
    return a < b ? -1 : a > b; /* file order */
}

/* When do the faults end? Fills scn->faults_end_*; -1 without memory. */
static int faults_end(tl_scenario *scn)
{
    if (scn->heal_line) {
        scn->faults_end_known = 1;
        scn->faults_end_ns = scn->heal_ns;
        return 0;
    }
    timeline tm;
    size_t n = scn->nnodes, nn = n * n;
    memset(&tm, 0, sizeof tm);
    tm.n = n;
    tm.fault = calloc(nn, 1);
    tm.part = calloc(nn, 1);
    tm.until = calloc(nn, sizeof *tm.until);
    tm.line = calloc(nn, sizeof *tm.line);
    tm.paused = calloc(n, 1);
    tm.pause_line = calloc(n, sizeof *tm.pause_line);
    const scn_action **order = calloc(scn->nactions ? scn->nactions : 1, sizeof *order);
    int rc = -1;
    if (!tm.fault || !tm.part || !tm.until || !tm.line || !tm.paused || !tm.pause_line || !order) {
        goto out;
    }
    /* `link * *` first, then the specific links, as build() sets them */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < scn->nlinks; i++) {
            const scn_link *l = &scn->links[i];
            if ((pass == 0) == (l->a < 0 && l->b < 0)) {
                tl_link(&tm, l->a, l->b, l->oneway, link_faulty(&l->p, &l->sw), l->line);
            }
        }
    }
    for (size_t i = 0; i < scn->nactions; i++) {
        order[i] = &scn->actions[i];
    }
    qsort(order, scn->nactions, sizeof *order, cmp_action_time);
    uint64_t last = 0;
    for (size_t i = 0; i < scn->nactions; i++) {
        const scn_action *a = order[i];
        last = a->t > last ? a->t : last;
        if (a->is_link) {
            int f = link_faulty(&a->link, &a->sw);
            tl_pair(&tm, (size_t)a->a, (size_t)a->b, f, a->line);
            if (!(a->flags & TL_SIM_ONEWAY)) {
                tl_pair(&tm, (size_t)a->b, (size_t)a->a, f, a->line);
            }
            continue;
        }
        switch (a->action) {
        case TL_SIM_PARTITION:
            tl_partition(&tm, a->a, a->b, 1, a->arg ? a->t + a->arg : 0, (a->flags & TL_SIM_ONEWAY) != 0,
                         a->line);
            break;
        case TL_SIM_HEAL: tl_partition(&tm, a->a, a->b, 0, 0, 0, a->line); break;
        case TL_SIM_PAUSE:
            tm.paused[a->a] = 1;
            tm.pause_line[a->a] = a->line;
            break;
        case TL_SIM_RESUME:
        case TL_SIM_CRASH:
        case TL_SIM_SILENT_DEATH:
        case TL_SIM_RESTART: tm.paused[a->a] = 0; break;
        default: break;
        }
    }
    scn->faults_end_known = 1;
    for (size_t k = 0; k < nn && scn->faults_end_known; k++) {
        const char *a = scn->nodes[k / n].name, *b = scn->nodes[k % n].name;
        if (tm.fault[k]) {
            scn->faults_end_known = 0;
            scn->faults_line = tm.line[k];
            snprintf(scn->faults_why, sizeof scn->faults_why,
                     "link %s -> %s keeps losing, corrupting or duplicating to the end", a, b);
        } else if (tm.part[k] && tm.until[k] == 0) {
            scn->faults_end_known = 0;
            scn->faults_line = tm.line[k];
            snprintf(scn->faults_why, sizeof scn->faults_why, "the partition %s -> %s never heals", a, b);
        } else if (tm.part[k] && tm.until[k] > last) {
            last = tm.until[k];
        }
    }
    for (size_t x = 0; x < n && scn->faults_end_known; x++) {
        if (tm.paused[x]) {
            scn->faults_end_known = 0;
            scn->faults_line = tm.pause_line[x];
            snprintf(scn->faults_why, sizeof scn->faults_why, "node %s is paused and never resumes",
                     scn->nodes[x].name);
        }
    }
    scn->faults_end_ns = scn->faults_end_known ? last : 0;
    rc = 0;
out:
    free(tm.fault);
    free(tm.part);
    free(tm.until);
    free(tm.line);
    free(tm.paused);
    free(tm.pause_line);
    free(order);
    return rc;
}

/* Whether a service of node (or service svc) reports metric index mi. */
static int metric_reported(const tl_scenario *scn, const scn_expect *e, size_t mi)
{
    if (metrics[mi].groups == 0) {
        return 1;
    }
    for (size_t i = 0; i < scn->nservices; i++) {
        const scn_service *s = &scn->services[i];
        if (s->node == e->node && (e->service < 0 || (size_t)e->service == i) &&
            (scn_service_metric_group(s->kind) & metrics[mi].groups)) {
            return 1;
        }
    }
    return 0;
}

/* The checks that need the whole file: the fault timeline against the
 * expectations (docs/scenarios.md "Safety and liveness"), and every metric
 * against the services that report it. */
static int validate(parser *ps)
{
    tl_scenario *scn = ps->scn;
    char msg[640], t1[40], t2[40];
    if (faults_end(scn) != 0) {
        return perr(ps, NULL, "out of memory");
    }
    if (scn->heal_line) {
        if (scn->heal_ns >= scn->duration) {
            scn_format_time(t1, sizeof t1, scn->heal_ns);
            scn_format_time(t2, sizeof t2, scn->duration);
            snprintf(msg, sizeof msg, "expected `heal` before the end of the run (heal %s, duration %s)", t1,
                     t2);
            return perr_line(ps, scn->heal_line, 6, msg);
        }
        for (size_t i = 0; i < scn->nactions; i++) {
            const scn_action *a = &scn->actions[i];
            if (a->t >= scn->heal_ns) {
                scn_format_time(t1, sizeof t1, scn->heal_ns);
                snprintf(
                    msg, sizeof msg,
                    "expected every action before `heal %s` (line %u): after it the network is fault-free "
                    "and only recovery is checked",
                    t1, scn->heal_line);
                return perr_line(ps, a->line, 4, msg);
            }
        }
    }
    for (int r = 0; r < 2; r++) {
        const scn_expect *list = r ? scn->reports : scn->expects;
        size_t count = r ? scn->nreports : scn->nexpects;
        for (size_t i = 0; i < count; i++) {
            const scn_expect *e = &list[i];
            size_t mi = metric_index(e->metric);
            if (e->node >= 0 && !metric_reported(scn, e, mi)) {
                char kinds[120] = "";
                size_t o = 0;
                for (size_t j = 0; j < scn->nservices && o + 40 < sizeof kinds; j++) {
                    const scn_service *s = &scn->services[j];
                    if (s->node == e->node && (e->service < 0 || (size_t)e->service == j)) {
                        o += (size_t)snprintf(kinds + o, sizeof kinds - o, "%s%s", o ? ", " : "",
                                              s->kind->name);
                    }
                }
                snprintf(msg, sizeof msg, "expected a metric that %s%s reports: %s is not one of %s",
                         e->service >= 0 ? "service " : "node ",
                         e->service >= 0 ? scn->services[e->service].name : scn->nodes[e->node].name,
                         metrics[mi].name, o ? kinds : "no service");
                return perr_line(ps, e->line, e->col, msg);
            }
            if (!e->progress) {
                continue;
            }
            if (!scn->faults_end_known) {
                snprintf(msg, sizeof msg,
                         "`%.60s` needs the faults to end, but %s (line %u): add `heal TIME`, or expect only "
                         "what holds under faults",
                         e->text, scn->faults_why, scn->faults_line);
                return perr_line(ps, e->line, e->col, msg);
            }
            if (scn->faults_end_ns >= scn->duration) {
                scn_format_time(t1, sizeof t1, scn->faults_end_ns);
                snprintf(msg, sizeof msg,
                         "`%.60s` needs time after the faults end (at %s), but the run ends there: a longer "
                         "duration or an earlier `heal`",
                         e->text, t1);
                return perr_line(ps, e->line, e->col, msg);
            }
        }
    }
    return 0;
}

void tl_scn_free(tl_scenario *scn)
{
    if (scn == NULL) {
        return;
    }
    for (size_t i = 0; i < scn->nservices; i++) {
        if (scn->services[i].kind && scn->services[i].cfg) {
            scn_service_free(scn->services[i].kind, scn->services[i].cfg);
        }
        free(scn->services[i].args);
    }
    for (size_t i = 0; i < scn->nnodes; i++) {
        free(scn->nodes[i].command);
    }
    free(scn->nodes);
    free(scn->links);
    free(scn->services);
    free(scn->actions);
    free(scn->expects);
    free(scn->reports);
    free(scn);
}

int tl_scn_parse(const char *text, size_t len, const char *file, tl_scenario **out, tl_scn_error *err)
{
    tl_scn_error dummy;
    parser ps;
    if (err == NULL) {
        err = &dummy;
    }
    memset(err, 0, sizeof *err);
    snprintf(err->file, sizeof err->file, "%s", file ? file : "<scenario>");
    *out = NULL;
    memset(&ps, 0, sizeof ps);
    ps.err = err;
    ps.scn = calloc(1, sizeof *ps.scn);
    if (ps.scn == NULL) {
        return TL_E_NOMEM;
    }
    snprintf(ps.scn->file, sizeof ps.scn->file, "%s", err->file);
    ps.scn->seed_first = ps.scn->seed_last = 1;
    ps.scn->duration = 60 * TL_SIM_NS_PER_S;
    size_t pos = 0;
    while (pos < len && !ps.failed) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        ps.line++;
        if (tokenize(&ps, text + pos, n) == 0) {
            parse_line(&ps);
        }
        pos += n + (nl ? 1 : 0);
    }
    free(ps.set[0].v);
    free(ps.set[1].v);
    if (!ps.failed && ps.scn->nnodes == 0) {
        ps.line = 0;
        perr(&ps, NULL, "expected at least one `node` line");
        err->column = 0;
    }
    if (!ps.failed && ps.scn->duration == 0) {
        ps.line = 0;
        perr(&ps, NULL, "expected a duration above 0");
        err->column = 0;
    }
    if (!ps.failed) {
        validate(&ps);
    }
    if (ps.failed) {
        tl_scn_free(ps.scn);
        return TL_E_INVAL;
    }
    *out = ps.scn;
    return TL_OK;
}

int tl_scn_load(const char *path, tl_scenario **out, tl_scn_error *err)
{
    tl_scn_error dummy;
    if (err == NULL) {
        err = &dummy;
    }
    memset(err, 0, sizeof *err);
    snprintf(err->file, sizeof err->file, "%s", path);
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err->message, sizeof err->message, "cannot open: %s", strerror(errno));
        return TL_E_IO;
    }
    char *buf = malloc(MAX_FILE + 1);
    if (buf == NULL) {
        fclose(f);
        return TL_E_NOMEM;
    }
    size_t n = fread(buf, 1, MAX_FILE + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err->message, sizeof err->message, "cannot read: %s", strerror(errno));
        return TL_E_IO;
    }
    if (n > MAX_FILE) {
        free(buf);
        snprintf(err->message, sizeof err->message, "expected a file of at most %u bytes", MAX_FILE);
        return TL_E_INVAL;
    }
    int rc = tl_scn_parse(buf, n, path, out, err);
    free(buf);
    return rc;
}

void tl_scn_seeds(const tl_scenario *scn, uint64_t *first, uint64_t *last)
{
    *first = scn->seed_first;
    *last = scn->seed_last;
}

uint64_t tl_scn_duration(const tl_scenario *scn) { return scn->duration; }

size_t tl_scn_node_count(const tl_scenario *scn) { return scn->nnodes; }

const char *tl_scn_node_name(const tl_scenario *scn, size_t i)
{
    return i < scn->nnodes ? scn->nodes[i].name : "";
}

const char *tl_scn_report_text(const tl_scenario *scn, size_t i, int *is_time)
{
    if (i >= scn->nreports) {
        return NULL;
    }
    if (is_time) {
        *is_time = scn->reports[i].is_time;
    }
    return scn->reports[i].text;
}

const char *tl_scn_real_node(const tl_scenario *scn, unsigned *line)
{
    for (size_t i = 0; i < scn->nnodes; i++) {
        if (scn->nodes[i].real != SCN_NODE_SIM) {
            if (line != NULL) {
                *line = scn->nodes[i].line;
            }
            return scn->nodes[i].name;
        }
    }
    return NULL;
}

int tl_scn_has_ranges(const tl_scenario *scn)
{
    for (size_t i = 0; i < scn->nlinks; i++) {
        if (scn->links[i].sw.mask) {
            return 1;
        }
    }
    for (size_t i = 0; i < scn->nactions; i++) {
        if (scn->actions[i].sw.mask) {
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ swarm */

static uint64_t draw_between(tl_sim_prng *p, uint64_t lo, uint64_t hi)
{
    uint64_t r = tl_sim_prng_next(p);
    if (hi <= lo) {
        return lo;
    }
    uint64_t span = hi - lo;
    return span == UINT64_MAX ? r : lo + r % (span + 1);
}

void scn_swarm_draw(const tl_sim_link *lo, const scn_swarm *sw, int swarm, uint64_t seed, const char *name,
                    uint64_t n, tl_sim_link *out)
{
    *out = *lo;
    if (!swarm || sw->mask == 0) {
        return;
    }
    tl_sim_prng p;
    tl_sim_prng_init(&p, seed, "swarm", name, n);
    /* one draw per field, in a fixed order, whether ranged or not */
    uint64_t d = draw_between(&p, lo->delay_ns, sw->hi.delay_ns);
    uint64_t j = draw_between(&p, lo->jitter_ns, sw->hi.jitter_ns);
    uint64_t l = draw_between(&p, lo->loss_ppb, sw->hi.loss_ppb);
    uint64_t c = draw_between(&p, lo->corrupt_ppb, sw->hi.corrupt_ppb);
    uint64_t u = draw_between(&p, lo->duplicate_ppb, sw->hi.duplicate_ppb);
    if (sw->mask & SW_DELAY) {
        out->delay_ns = d;
    }
    if (sw->mask & SW_JITTER) {
        out->jitter_ns = j;
    }
    if (sw->mask & SW_LOSS) {
        out->loss_ppb = (uint32_t)l;
    }
    if (sw->mask & SW_CORRUPT) {
        out->corrupt_ppb = (uint32_t)c;
    }
    if (sw->mask & SW_DUPLICATE) {
        out->duplicate_ppb = (uint32_t)u;
    }
}

static const char *node_or_star(const tl_scenario *scn, int n) { return n < 0 ? "*" : scn->nodes[n].name; }

void scn_link_stream(const tl_scenario *scn, size_t i, char *name, size_t cap)
{
    snprintf(name, cap, "link:%s>%s", node_or_star(scn, scn->links[i].a), node_or_star(scn, scn->links[i].b));
}

void scn_action_stream(const tl_scenario *scn, size_t i, char *name, size_t cap)
{
    snprintf(name, cap, "at:%s>%s", node_or_star(scn, scn->actions[i].a),
             node_or_star(scn, scn->actions[i].b));
}

/* ------------------------------------------------------------ writer */

static void w_time(FILE *f, uint64_t ns)
{
    static const scn_unit *u = scn_time_units;
    for (int i = 5; i > 0; i--) {
        if (ns != 0 && ns % u[i].mult == 0) {
            fprintf(f, "%llu%s", (unsigned long long)(ns / u[i].mult), u[i].suffix);
            return;
        }
    }
    fprintf(f, "%lluns", (unsigned long long)ns);
}

static void w_pct(FILE *f, uint64_t ppb)
{
    uint64_t whole = ppb / 10000000u, frac = ppb % 10000000u;
    if (frac == 0) {
        fprintf(f, "%llu%%", (unsigned long long)whole);
        return;
    }
    char digits[8];
    snprintf(digits, sizeof digits, "%07llu", (unsigned long long)frac);
    for (int i = 6; i > 0 && digits[i] == '0'; i--) {
        digits[i] = '\0';
    }
    fprintf(f, "%llu.%s%%", (unsigned long long)whole, digits);
}

static void w_time_r(FILE *f, uint64_t lo, uint64_t hi, int ranged)
{
    w_time(f, lo);
    if (ranged) {
        fputs("..", f);
        w_time(f, hi);
    }
}

static void w_pct_r(FILE *f, uint64_t lo, uint64_t hi, int ranged)
{
    w_pct(f, lo);
    if (ranged) {
        fputs("..", f);
        w_pct(f, hi);
    }
}

static void w_netem(FILE *f, const tl_sim_link *l, const scn_swarm *sw)
{
    static const char *dists[] = {"uniform", "normal", "pareto", "paretonormal"};
    if (l->delay_ns || (sw->mask & SW_DELAY)) {
        fputs(" delay ", f);
        w_time_r(f, l->delay_ns, sw->hi.delay_ns, (sw->mask & SW_DELAY) != 0);
    }
    if (l->jitter_ns || (sw->mask & SW_JITTER)) {
        fputs(" jitter ", f);
        w_time_r(f, l->jitter_ns, sw->hi.jitter_ns, (sw->mask & SW_JITTER) != 0);
    }
    if (l->distribution != TL_SIM_DIST_UNIFORM && (unsigned)l->distribution < 4) {
        fprintf(f, " distribution %s", dists[l->distribution]);
    }
    if (l->loss == TL_SIM_LOSS_RANDOM) {
        fputs(" loss ", f);
        w_pct_r(f, l->loss_ppb, sw->hi.loss_ppb, (sw->mask & SW_LOSS) != 0);
    } else if (l->loss == TL_SIM_LOSS_GEMODEL) {
        fputs(" loss gemodel ", f);
        w_pct(f, l->ge_p_ppb);
        fputc(' ', f);
        w_pct(f, l->ge_r_ppb);
        fputc(' ', f);
        w_pct(f, l->ge_bad_loss_ppb);
        fputc(' ', f);
        w_pct(f, l->ge_good_loss_ppb);
    } else if (l->loss == TL_SIM_LOSS_BURST) {
        fputs(" loss burst ", f);
        w_time(f, l->burst_good_ns);
        fputc(' ', f);
        w_time(f, l->burst_bad_ns);
        fputc(' ', f);
        w_pct(f, l->burst_loss_ppb);
    }
    if (l->rate_bps) {
        fprintf(f, " rate %llubit", (unsigned long long)l->rate_bps);
    }
    if (l->limit) {
        fprintf(f, " limit %u", l->limit);
    }
    if (l->corrupt_ppb || (sw->mask & SW_CORRUPT)) {
        fputs(" corrupt ", f);
        w_pct_r(f, l->corrupt_ppb, sw->hi.corrupt_ppb, (sw->mask & SW_CORRUPT) != 0);
    }
    if (l->duplicate_ppb || (sw->mask & SW_DUPLICATE)) {
        fputs(" duplicate ", f);
        w_pct_r(f, l->duplicate_ppb, sw->hi.duplicate_ppb, (sw->mask & SW_DUPLICATE) != 0);
    }
}

void scn_write_link_words(FILE *f, const tl_sim_link *l)
{
    scn_swarm none;
    memset(&none, 0, sizeof none);
    w_netem(f, l, &none);
}

static void w_options(FILE *f, const tl_sim_node_options *o, uint64_t mask)
{
    for (size_t k = 0; k < OPT_KEYS; k++) {
        if (!((mask >> k) & 1) || opt_keys[k].type == O_CHOP_ALL) {
            continue;
        }
        const char *field = (const char *)o + opt_keys[k].off;
        uint32_t u32;
        uint16_t u16;
        uint64_t u64;
        int b;
        tl_sim_chop ch;
        fprintf(f, " %s=", opt_keys[k].key);
        switch (opt_keys[k].type) {
        case O_U32:
        case O_SIZE:
            memcpy(&u32, field, sizeof u32);
            fprintf(f, "%u", u32);
            break;
        case O_U16:
            memcpy(&u16, field, sizeof u16);
            fprintf(f, "%u", (unsigned)u16);
            break;
        case O_TIME:
            memcpy(&u64, field, sizeof u64);
            w_time(f, u64);
            break;
        case O_BOOL:
            memcpy(&b, field, sizeof b);
            fputs(b ? "on" : "off", f);
            break;
        case O_CLOSE:
            memcpy(&b, field, sizeof b);
            fputs(b ? "fin" : "rst", f);
            break;
        case O_CHOP:
            memcpy(&ch, field, sizeof ch);
            fputs(ch == TL_SIM_CHOP_RANDOM ? "random" : "full", f);
            break;
        case O_CHOP_ALL: break;
        }
    }
}

int tl_scn_write(const tl_scenario *scn, FILE *f, unsigned flags, uint64_t seed)
{
    int resolve = (flags & TL_SCN_WRITE_DRAW) != 0;
    static const char *words[] = {"",        "crash",         "silent-death", "pause", "resume",
                                  "restart", "stop-listener", "partition",    "heal"};
    if (flags & TL_SCN_WRITE_SEED) {
        fprintf(f, "seeds %llu\n", (unsigned long long)seed);
    } else if (scn->seed_first == scn->seed_last) {
        fprintf(f, "seeds %llu\n", (unsigned long long)scn->seed_first);
    } else {
        fprintf(f, "seeds %llu..%llu\n", (unsigned long long)scn->seed_first,
                (unsigned long long)scn->seed_last);
    }
    fputs("duration ", f);
    w_time(f, scn->duration);
    fputc('\n', f);
    if (scn->tcp_mask) {
        fputs("tcp", f);
        w_options(f, &scn->tcp, scn->tcp_mask);
        fputc('\n', f);
    }
    for (size_t i = 0; i < scn->nnodes; i++) {
        fprintf(f, "node %s", scn->nodes[i].name);
        if (scn->nodes[i].real == SCN_NODE_EXTERNAL) {
            fprintf(f, " external %s", scn->nodes[i].addr);
        } else if (scn->nodes[i].real == SCN_NODE_EXEC) {
            fputs(" exec \"", f);
            for (const char *c = scn->nodes[i].command; *c; c++) {
                if (*c == '"' || *c == '\\') {
                    fputc('\\', f);
                }
                fputc(*c, f);
            }
            fputc('"', f);
            if (scn->nodes[i].addr[0]) {
                fprintf(f, " addr=%s", scn->nodes[i].addr);
            }
        }
        w_options(f, &scn->nodes[i].opt, scn->nodes[i].mask);
        fputc('\n', f);
    }
    for (size_t i = 0; i < scn->nlinks; i++) {
        const scn_link *l = &scn->links[i];
        tl_sim_link p;
        scn_swarm none;
        char name[80];
        memset(&none, 0, sizeof none);
        scn_link_stream(scn, i, name, sizeof name);
        scn_swarm_draw(&l->p, &l->sw, resolve, seed, name, 0, &p);
        fprintf(f, "link %s %s%s", node_or_star(scn, l->a), node_or_star(scn, l->b),
                l->oneway ? " oneway" : "");
        w_netem(f, &p, resolve ? &none : &l->sw);
        fputc('\n', f);
    }
    for (size_t i = 0; i < scn->nservices; i++) {
        const scn_service *s = &scn->services[i];
        fprintf(f, "service %s %s%s%s\n", scn->nodes[s->node].name, s->kind->name,
                s->args && s->args[0] ? " " : "", s->args ? s->args : "");
    }
    for (size_t i = 0; i < scn->nactions; i++) {
        const scn_action *a = &scn->actions[i];
        fputs("at ", f);
        w_time(f, a->t);
        if (a->is_link) {
            tl_sim_link p;
            scn_swarm none;
            char name[80];
            memset(&none, 0, sizeof none);
            scn_action_stream(scn, i, name, sizeof name);
            scn_swarm_draw(&a->link, &a->sw, resolve, seed, name, a->t, &p);
            fprintf(f, " link %s %s%s", scn->nodes[a->a].name, scn->nodes[a->b].name,
                    (a->flags & TL_SIM_ONEWAY) ? " oneway" : "");
            w_netem(f, &p, resolve ? &none : &a->sw);
            fputc('\n', f);
            continue;
        }
        unsigned w = (unsigned)a->action < sizeof words / sizeof words[0] ? (unsigned)a->action : 0;
        fprintf(f, " %s %s", words[w], scn->nodes[a->a].name);
        if (a->action == TL_SIM_STOP_LISTENER && a->arg) {
            fprintf(f, " %llu", (unsigned long long)a->arg);
        }
        if (a->action == TL_SIM_PARTITION || a->action == TL_SIM_HEAL) {
            fprintf(f, " %s", node_or_star(scn, a->b));
        }
        if (a->action == TL_SIM_PARTITION) {
            if (a->flags & TL_SIM_ONEWAY) {
                fputs(" oneway", f);
            }
            if (a->arg) {
                fputs(" for ", f);
                w_time(f, a->arg);
            }
        }
        fputc('\n', f);
    }
    if (scn->heal_line) {
        fputs("heal ", f);
        w_time(f, scn->heal_ns);
        fputc('\n', f);
    }
    for (size_t i = 0; i < scn->nexpects; i++) {
        fprintf(f, "expect %s\n", scn->expects[i].text);
    }
    for (size_t i = 0; i < scn->nreports; i++) {
        fprintf(f, "report %s\n", scn->reports[i].text);
    }
    return ferror(f) ? TL_E_IO : TL_OK;
}
