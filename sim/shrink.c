/*
 * The shrinker (shrink.h). The scenario is first written in canonical form
 * (tl_scn_write: one directive a line, swarm draws fixed), then reduced as a
 * list of lines: a candidate is the list with one line removed, one group
 * of link words removed, or one number halved; it is joined, parsed and run
 * with the seed, and kept when the target expectation still fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "shrink.h"

typedef struct {
    char **line;
    size_t n;
} lines;

typedef struct {
    uint64_t seed;
    char target[200]; /* the expectation's text (its constant follows the workload it counts) */
    unsigned runs, max_runs;
    /* The failure's signature: the first service error logged on the
     * target's node (numbers blurred), "" if none. A candidate must fail the
     * expectation with the same signature: a run cut so short that nothing
     * happened fails `answered == N` too, but not for the same reason. */
    char node[SCN_NAME_MAX]; /* "" = any node (target *) */
    char sig[200];
    int have_sig;
} ctx;

typedef struct {
    const ctx *c;
    char sig[200];
} sig_probe;

/* on_trace: "<time> <node> ch=<n> log <service>: error: <text>" */
static void sig_line(void *p, const char *line, size_t len)
{
    sig_probe *sp = p;
    if (sp->sig[0] != '\0' || len >= 600) {
        return;
    }
    char buf[600];
    memcpy(buf, line, len);
    buf[len] = '\0';
    char *node = strchr(buf, ' ');
    if (node == NULL) {
        return;
    }
    node++;
    char *end = strchr(node, ' ');
    char *log = end ? strstr(end, " log ") : NULL;
    char *err = log ? strstr(log, ": error: ") : NULL;
    if (err == NULL) {
        return;
    }
    *end = '\0';
    if (sp->c->node[0] != '\0' && strcmp(node, sp->c->node) != 0) {
        return;
    }
    size_t o = 0;
    for (const char *q = log + 5; *q && o + 2 < sizeof sp->sig; q++) {
        if (*q >= '0' && *q <= '9') {
            if (o == 0 || sp->sig[o - 1] != '#') {
                sp->sig[o++] = '#';
            }
        } else {
            sp->sig[o++] = *q;
        }
    }
    sp->sig[o] = '\0';
}

static void lines_free(lines *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->line[i]);
    }
    free(l->line);
    l->line = NULL;
    l->n = 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Every line of text (a scenario written from node ranges has many). */
static int split(const char *text, lines *out)
{
    size_t max = 1;
    for (const char *q = strchr(text, '\n'); q; q = strchr(q + 1, '\n')) {
        max++;
    }
    out->line = calloc(max, sizeof *out->line);
    out->n = 0;
    if (out->line == NULL) {
        return -1;
    }
    const char *p = text;
    while (*p && out->n < max) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n > 0 && (out->line[out->n] = dup_n(p, n)) == NULL) {
            return -1;
        }
        out->n += n > 0;
        p += n + (nl ? 1 : 0);
    }
    return 0;
}

/* The lines joined; skip: a line index left out (or SIZE_MAX); repl
 * replaces line `at` when not NULL. */
static char *join(const lines *l, size_t skip, size_t at, const char *repl, size_t *len)
{
    size_t total = 1;
    for (size_t i = 0; i < l->n; i++) {
        total += strlen(i == at && repl ? repl : l->line[i]) + 1;
    }
    char *t = malloc(total), *o = t;
    if (t == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < l->n; i++) {
        if (i == skip) {
            continue;
        }
        const char *s = i == at && repl ? repl : l->line[i];
        size_t n = strlen(s);
        memcpy(o, s, n);
        o += n;
        *o++ = '\n';
    }
    *o = '\0';
    *len = (size_t)(o - t);
    return t;
}

/* 1 if the text parses and its run with the seed fails the target. */
static int still_fails(ctx *c, const char *text, size_t len)
{
    tl_scenario *scn = NULL;
    if (c->runs >= c->max_runs || tl_scn_parse(text, len, "shrink", &scn, NULL) != TL_OK) {
        return 0;
    }
    int idx = -1;
    for (size_t i = 0; i < scn->nexpects; i++) {
        if (strcmp(scn->expects[i].text, c->target) == 0) {
            idx = (int)i;
            break;
        }
    }
    int fails = 0;
    if (idx >= 0) {
        unsigned char *ef = calloc(scn->nexpects, 1);
        tl_scn_result res;
        c->runs++;
        tl_scn_run_options ro;
        sig_probe sp;
        memset(&ro, 0, sizeof ro);
        memset(&sp, 0, sizeof sp);
        sp.c = c;
        ro.on_trace = sig_line;
        ro.trace_ctx = &sp;
        if (ef != NULL && scn_run(scn, c->seed, &ro, &res, ef) == TL_OK) {
            fails = ef[idx];
            if (fails && !c->have_sig) {
                memcpy(c->sig, sp.sig, sizeof c->sig);
                c->have_sig = 1;
            } else if (fails && strcmp(c->sig, sp.sig) != 0) {
                fails = 0;
            }
        }
        free(ef);
    }
    tl_scn_free(scn);
    return fails;
}

static int try_candidate(ctx *c, lines *l, size_t skip, size_t at, const char *repl)
{
    size_t len;
    char *t = join(l, skip, at, repl, &len);
    if (t == NULL) {
        return 0;
    }
    int ok = still_fails(c, t, len);
    free(t);
    if (!ok) {
        return 0;
    }
    if (skip < l->n) {
        free(l->line[skip]);
        memmove(&l->line[skip], &l->line[skip + 1], (l->n - skip - 1) * sizeof *l->line);
        l->n--;
    } else if (repl) {
        char *d = dup_n(repl, strlen(repl));
        if (d == NULL) {
            return 0;
        }
        free(l->line[at]);
        l->line[at] = d;
    }
    return 1;
}

static int starts(const char *s, const char *w)
{
    size_t n = strlen(w);
    return strncmp(s, w, n) == 0 && (s[n] == ' ' || s[n] == '\0');
}

/* ---- words of a line ---- */

#define MAX_WORDS 64

typedef struct {
    char *w[MAX_WORDS];
    size_t n;
    char buf[1024];
} words;

static int words_split(const char *line, words *ws)
{
    size_t n = strlen(line);
    if (n >= sizeof ws->buf) {
        return -1;
    }
    memcpy(ws->buf, line, n + 1);
    ws->n = 0;
    for (char *p = strtok(ws->buf, " "); p && ws->n < MAX_WORDS; p = strtok(NULL, " ")) {
        ws->w[ws->n++] = p;
    }
    return 0;
}

/* Words [0, n) except [from, to), with word `at` replaced by repl (if not NULL). */
static void words_join(const words *ws, size_t from, size_t to, size_t at, const char *repl, char *out,
                       size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ws->n; i++) {
        if (i >= from && i < to) {
            continue;
        }
        const char *s = i == at && repl ? repl : ws->w[i];
        int k = snprintf(out + o, cap - o, "%s%s", o ? " " : "", s);
        if (k < 0 || (size_t)k >= cap - o) {
            return;
        }
        o += (size_t)k;
    }
}

static int is_netem_word(const char *w)
{
    static const char *k[] = {"delay", "jitter",  "distribution", "loss", "rate",
                              "limit", "corrupt", "duplicate",    NULL};
    for (size_t i = 0; k[i]; i++) {
        if (strcmp(w, k[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- halving one word ---- */

static void fmt_time(char *out, size_t cap, uint64_t ns)
{
    static const struct {
        uint64_t m;
        const char *u;
    } u[] = {
        {3600000000000ull, "h"}, {60000000000ull, "m"}, {1000000000ull, "s"}, {1000000, "ms"}, {1000, "us"}};
    for (size_t i = 0; i < 5; i++) {
        if (ns && ns % u[i].m == 0) {
            snprintf(out, cap, "%llu%s", (unsigned long long)(ns / u[i].m), u[i].u);
            return;
        }
    }
    snprintf(out, cap, "%lluns", (unsigned long long)ns);
}

/* Percent (ppb) parse of "N[.F]%" (no range). */
static int pct_ppb(const char *s, uint64_t *ppb)
{
    size_t n = strlen(s);
    if (n < 2 || s[n - 1] != '%') {
        return -1;
    }
    uint64_t ip = 0, fp = 0, scale = 1;
    size_t i = 0;
    for (; i < n - 1 && s[i] >= '0' && s[i] <= '9'; i++) {
        ip = ip * 10 + (uint64_t)(s[i] - '0');
    }
    if (i == 0 || ip > 100) {
        return -1;
    }
    if (s[i] == '.') {
        for (i++; i < n - 1 && s[i] >= '0' && s[i] <= '9' && scale < 10000000; i++) {
            fp = fp * 10 + (uint64_t)(s[i] - '0');
            scale *= 10;
        }
    }
    if (i != n - 1) {
        return -1;
    }
    *ppb = ip * 10000000u + fp * (10000000u / scale);
    return 0;
}

static void fmt_pct(char *out, size_t cap, uint64_t ppb)
{
    uint64_t whole = ppb / 10000000u, frac = ppb % 10000000u;
    if (frac == 0) {
        snprintf(out, cap, "%llu%%", (unsigned long long)whole);
        return;
    }
    char d[8];
    snprintf(d, sizeof d, "%07llu", (unsigned long long)frac);
    for (int i = 6; i > 0 && d[i] == '0'; i--) {
        d[i] = '\0';
    }
    snprintf(out, cap, "%llu.%s%%", (unsigned long long)whole, d);
}

/* A smaller value for a word: a time (>= 2us), a percentage, a count or a
 * range A..B, alone or after key=. 0 and out filled, or -1. */
static int halve_word(const char *w, char *out, size_t cap)
{
    const char *eq = strchr(w, '=');
    const char *v = eq ? eq + 1 : w;
    size_t kn = eq ? (size_t)(eq - w) + 1 : 0;
    char val[64];
    uint64_t a, b;
    if (kn >= 32) {
        return -1;
    }
    if (eq &&
        (strncmp(w, "name=", 5) == 0 || strncmp(w, "listen=", 7) == 0 || strncmp(w, "connect=", 8) == 0)) {
        return -1;
    }
    if (scn_parse_time(v, strlen(v), &a) == 0) {
        if (a < 2000) {
            return -1;
        }
        fmt_time(val, sizeof val, a / 2);
    } else if (pct_ppb(v, &a) == 0) {
        if (a < 1000) { /* below 0.0001 % */
            return -1;
        }
        fmt_pct(val, sizeof val, a / 2);
    } else if (eq && scn_parse_range(v, strlen(v), &a, &b) == 0) {
        if (a == b) {
            if (a <= 1) {
                return -1;
            }
            snprintf(val, sizeof val, "%llu", (unsigned long long)(a / 2));
        } else {
            uint64_t na = a / 2 ? a / 2 : 1, nb = b / 2 > na ? b / 2 : na;
            if (na == a && nb == b) {
                return -1;
            }
            snprintf(val, sizeof val, "%llu..%llu", (unsigned long long)na, (unsigned long long)nb);
        }
    } else {
        return -1;
    }
    snprintf(out, cap, "%.*s%s", (int)kn, w, val);
    return 0;
}

/* A workload key halved (count=1000 -> count=500): expectations whose
 * constant was the old number (`answered == 1000`) follow it, so that the
 * candidate fails for the same reason, not because it asks for less. */
static int try_workload(ctx *c, lines *l, size_t at, const char *old_word, const char *new_word,
                        const char *cand)
{
    const char *oe = strchr(old_word, '='), *ne = strchr(new_word, '=');
    uint64_t ov, nv;
    if (oe == NULL || ne == NULL || scn_parse_u64(oe + 1, strlen(oe + 1), &ov) != 0 ||
        scn_parse_u64(ne + 1, strlen(ne + 1), &nv) != 0) {
        return try_candidate(c, l, SIZE_MAX, at, cand);
    }
    lines t;
    t.n = l->n;
    t.line = calloc(l->n, sizeof *t.line);
    if (t.line == NULL) {
        return 0;
    }
    char target[200], ostr[24], nstr[24];
    snprintf(target, sizeof target, "%s", c->target);
    snprintf(ostr, sizeof ostr, "%llu", (unsigned long long)ov);
    snprintf(nstr, sizeof nstr, "%llu", (unsigned long long)nv);
    int bad = 0;
    for (size_t i = 0; i < l->n; i++) {
        const char *src = i == at ? cand : l->line[i];
        char buf[1100];
        words ws;
        snprintf(buf, sizeof buf, "%s", src);
        if (starts(src, "expect") && words_split(src, &ws) == 0 && ws.n >= 2 &&
            strcmp(ws.w[ws.n - 1], ostr) == 0) {
            int is_target = strcmp(src + 7, c->target) == 0;
            words_join(&ws, SIZE_MAX, SIZE_MAX, ws.n - 1, nstr, buf, sizeof buf);
            if (is_target) {
                size_t tn = strlen(buf + 7);
                tn = tn < sizeof target - 1 ? tn : sizeof target - 1;
                memcpy(target, buf + 7, tn);
                target[tn] = '\0';
            }
        }
        if ((t.line[i] = dup_n(buf, strlen(buf))) == NULL) {
            bad = 1;
        }
    }
    int ok = 0;
    if (!bad) {
        char saved[200];
        size_t len;
        snprintf(saved, sizeof saved, "%s", c->target);
        snprintf(c->target, sizeof c->target, "%s", target);
        char *text = join(&t, SIZE_MAX, SIZE_MAX, NULL, &len);
        ok = text != NULL && still_fails(c, text, len);
        free(text);
        if (ok) {
            lines_free(l);
            *l = t;
            return 1;
        }
        snprintf(c->target, sizeof c->target, "%s", saved);
    }
    lines_free(&t);
    return 0;
}

static void logf_line(FILE *log, const char *what, const char *before, const char *after)
{
    if (log == NULL) {
        return;
    }
    if (after) {
        fprintf(log, "%s: %s  ->  %s\n", what, before, after);
    } else {
        fprintf(log, "%s: %s\n", what, before);
    }
}

/* One pass over every kind of reduction; returns the reductions kept. */
static unsigned pass(ctx *c, lines *l, FILE *log)
{
    unsigned kept = 0;
    char buf[1100];
    /* whole lines: actions, links, other services and expectations */
    for (size_t i = l->n; i-- > 0;) {
        const char *s = l->line[i];
        /* services stay (without them an expectation about them fails
         * trivially); their workload shrinks below */
        int removable =
            starts(s, "at") || starts(s, "link") || (starts(s, "expect") && strcmp(s + 7, c->target) != 0);
        if (!removable) {
            continue;
        }
        snprintf(buf, sizeof buf, "%s", s);
        if (try_candidate(c, l, i, SIZE_MAX, NULL)) {
            logf_line(log, "removed", buf, NULL);
            kept++;
        }
    }
    /* groups of link words */
    for (size_t i = 0; i < l->n; i++) {
        words ws;
        if (!(starts(l->line[i], "link") || starts(l->line[i], "at")) || words_split(l->line[i], &ws) != 0) {
            continue;
        }
        for (size_t j = 0; j < ws.n; j++) {
            if (!is_netem_word(ws.w[j])) {
                continue;
            }
            size_t end = j + 1;
            while (end < ws.n && !is_netem_word(ws.w[end]) && strcmp(ws.w[end], "oneway") != 0) {
                end++;
            }
            char cand[1100], before[1100];
            words_join(&ws, j, end, SIZE_MAX, NULL, cand, sizeof cand);
            snprintf(before, sizeof before, "%s", l->line[i]);
            if (try_candidate(c, l, SIZE_MAX, i, cand)) {
                logf_line(log, "removed words", before, cand);
                kept++;
                if (words_split(l->line[i], &ws) != 0) {
                    break;
                }
                j--; /* the next group moved here */
            }
        }
    }
    /* halve numbers: durations, action times, link values, workload keys */
    for (size_t i = 0; i < l->n; i++) {
        words ws;
        const char *s = l->line[i];
        if (starts(s, "seeds") || starts(s, "node") || starts(s, "tcp") || starts(s, "expect") ||
            words_split(s, &ws) != 0) {
            continue;
        }
        for (size_t j = 1; j < ws.n; j++) {
            char half[80], cand[1100], before[1100];
            /* keep halving a word while the run still fails */
            while (halve_word(ws.w[j], half, sizeof half) == 0) {
                words_join(&ws, SIZE_MAX, SIZE_MAX, j, half, cand, sizeof cand);
                snprintf(before, sizeof before, "%s", l->line[i]);
                int ok = starts(s, "service") ? try_workload(c, l, i, ws.w[j], half, cand)
                                              : try_candidate(c, l, SIZE_MAX, i, cand);
                if (!ok) {
                    break;
                }
                s = l->line[i];
                logf_line(log, "reduced", before, cand);
                kept++;
                if (words_split(l->line[i], &ws) != 0) {
                    break;
                }
            }
        }
    }
    return kept;
}

int tl_shrink(const tl_scenario *scn, const char *file, uint64_t seed, const tl_shrink_options *opt,
              char **out, tl_shrink_result *res)
{
    tl_shrink_options none;
    if (opt == NULL) {
        memset(&none, 0, sizeof none);
        opt = &none;
    }
    memset(res, 0, sizeof *res);
    *out = NULL;

    /* the target: the first expectation the original run fails */
    unsigned char *ef = calloc(scn->nexpects ? scn->nexpects : 1, 1);
    tl_scn_run_options ro;
    tl_scn_result r;
    if (ef == NULL) {
        return TL_E_NOMEM;
    }
    memset(&ro, 0, sizeof ro);
    ro.swarm = opt->swarm;
    int rc = scn_run(scn, seed, &ro, &r, ef);
    if (rc != TL_OK) {
        free(ef);
        return rc;
    }
    size_t target = SIZE_MAX;
    for (size_t i = 0; i < scn->nexpects; i++) {
        if (ef[i]) {
            target = i;
            break;
        }
    }
    free(ef);
    if (target == SIZE_MAX) {
        return TL_E_INVAL;
    }
    snprintf(res->expectation, sizeof res->expectation, "%s", scn->expects[target].text);

    /* canonical text, swarm draws fixed */
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m == NULL) {
        return TL_E_NOMEM;
    }
    tl_scn_write(scn, m, TL_SCN_WRITE_SEED | (opt->swarm ? TL_SCN_WRITE_DRAW : 0), seed);
    if (fclose(m) != 0 || text == NULL) {
        free(text);
        return TL_E_NOMEM;
    }
    res->original_bytes = len;
    lines l;
    if (split(text, &l) != 0) {
        free(text);
        lines_free(&l);
        return TL_E_NOMEM;
    }
    ctx c;
    memset(&c, 0, sizeof c);
    c.seed = seed;
    snprintf(c.target, sizeof c.target, "%s", scn->expects[target].text);
    c.max_runs = opt->max_runs ? opt->max_runs : 2000;
    {
        const char *t = c.target;
        size_t nn = strcspn(t, "/ ");
        if (!(nn == 1 && t[0] == '*') && nn < sizeof c.node) {
            memcpy(c.node, t, nn);
            c.node[nn] = '\0';
        }
    }
    /* the canonical form must fail the same way (it is the same network) */
    if (!still_fails(&c, text, len)) {
        free(text);
        lines_free(&l);
        return TL_E_STATE;
    }
    free(text);
    unsigned k;
    while ((k = pass(&c, &l, opt->log)) > 0 && c.runs < c.max_runs) {
        res->steps += k;
    }
    res->steps += k;
    res->runs = c.runs;
    snprintf(res->expectation, sizeof res->expectation, "%s", c.target);

    size_t body_len;
    char *body = join(&l, SIZE_MAX, SIZE_MAX, NULL, &body_len);
    lines_free(&l);
    if (body == NULL) {
        return TL_E_NOMEM;
    }
    res->shrunk_bytes = body_len;
    char *o = NULL;
    size_t olen = 0;
    m = open_memstream(&o, &olen);
    if (m == NULL) {
        free(body);
        return TL_E_NOMEM;
    }
    fprintf(m, "# shrunk by `tofulab sim shrink` from %s, seed %llu%s\n", file ? file : scn->file,
            (unsigned long long)seed, opt->swarm ? " (swarm values fixed)" : "");
    fprintf(m, "# fails: expect %s\n", res->expectation);
    if (strcmp(res->expectation, scn->expects[target].text) != 0) {
        fprintf(m, "# (originally: expect %s, line %u; its constant follows the workload)\n",
                scn->expects[target].text, scn->expects[target].line);
    } else {
        fprintf(m, "# (line %u of the original)\n", scn->expects[target].line);
    }
    if (c.sig[0]) {
        fprintf(m, "# with the error: %s\n", c.sig);
    }
    fprintf(m, "# %u reductions kept in %u runs; %zu -> %zu bytes\n", res->steps, res->runs,
            res->original_bytes, res->shrunk_bytes);
    fputs(body, m);
    free(body);
    if (fclose(m) != 0 || o == NULL) {
        free(o);
        return TL_E_NOMEM;
    }
    *out = o;
    return TL_OK;
}
