/*
 * The shrinker (shrink.h). The scenario is first written in canonical form
 * (tl_scn_write: one directive a line, swarm draws fixed), then reduced as a
 * list of lines: a candidate is the list with one line (or a node and every
 * line naming it) removed, one group of link words removed, or one number
 * made smaller; it is joined, parsed and run with the seed under the event
 * budget, and kept when it still fails the check the same way and its
 * fault-free control (tl_shrink_control) passes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shrink.h"
#include "runner.h"
#include "scenario.h"
#include "values.h"

typedef struct {
    char **line;
    size_t n;
} lines;

/* Why a candidate was not kept (or V_KEEP). */
typedef enum { V_KEEP = 0, V_PASSES, V_CONTROL, V_BUDGET, V_INVALID, V_NO_RUNS } verdict;

typedef struct {
    uint64_t seed;
    int oracle;       /* the check is an oracle's failure, not an expectation (target: its text, blurred) */
    char target[200]; /* the expectation's text (its constant follows the workload it counts) */
    unsigned max_runs;
    uint64_t budget;         /* events of a failing run: the original's */
    uint64_t control_budget; /* events of a control run: the original control's */
    int use_control;         /* condition (b) is checked (the original's control passed) */
    /* The failure's signature (sig_line): the first service error logged on
     * the target's node (numbers blurred) and the status of the first
     * channel that closed there, "" if neither. A candidate must fail the
     * check with the same signature: a run cut so short that nothing
     * happened fails `answered == N` too, but not for the same reason. */
    char node[SCN_NAME_MAX]; /* "" = any node (target *) */
    char sig[200];
    int have_sig;
    tl_shrink_result *res;
} ctx;

typedef struct {
    const ctx *c;
    char err[160];
    char closed[64];
} sig_probe;

/* Digits replaced by '#', a run of them by one: "after 12 tries" and "after
 * 9 tries" are the same failure. */
static void blur(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 2 < cap; s++) {
        if (*s >= '0' && *s <= '9') {
            if (o == 0 || out[o - 1] != '#') {
                out[o++] = '#';
            }
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

/* An oracle's failure text as a check: "FILE: " dropped, every number
 * with its unit blurred ("in the 119s after" and "in the 500ms after" are
 * the same failure). */
static void blur_failure(const char *file, const char *s, char *out, size_t cap)
{
    static const char *units[] = {"ns", "us", "ms", "s", "m", "h", NULL};
    size_t o = 0, fn = strlen(file);
    if (strncmp(s, file, fn) == 0 && s[fn] == ':' && s[fn + 1] == ' ') {
        s += fn + 2;
    }
    while (*s && o + 2 < cap) {
        if (!(*s >= '0' && *s <= '9')) {
            out[o++] = *s++;
            continue;
        }
        while ((*s >= '0' && *s <= '9') || (*s == '.' && s[1] >= '0' && s[1] <= '9')) {
            s++;
        }
        for (size_t u = 0; units[u]; u++) {
            size_t n = strlen(units[u]);
            if (strncmp(s, units[u], n) == 0 &&
                !((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z'))) {
                s += n;
                break;
            }
        }
        out[o++] = '#';
    }
    out[o] = '\0';
}

/* on_trace: the first "<time> <node> ch=<n> log <service>: error: <text>"
 * and the first "<time> <node> ch=<n> closed reason=<status>" of the
 * target's node: "<error, blurred>" and " (a channel closed: <status>)". A
 * run that aborts a connection after its retries and one cut short before
 * anything closed fail `answered == N` for different reasons. */
static void sig_line(void *p, const char *line, size_t len)
{
    sig_probe *sp = p;
    if ((sp->err[0] != '\0' && sp->closed[0] != '\0') || len >= 600) {
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
    if (end == NULL) {
        return;
    }
    char *log = strstr(end, " log ");
    char *err = log ? strstr(log, ": error: ") : NULL;
    char *closed = strstr(end, " closed reason=");
    if (err == NULL && closed == NULL) {
        return;
    }
    *end = '\0';
    if (sp->c->node[0] != '\0' && strcmp(node, sp->c->node) != 0) {
        return;
    }
    if (err != NULL && sp->err[0] == '\0') {
        blur(log + 5, sp->err, sizeof sp->err);
    } else if (err == NULL && sp->closed[0] == '\0') {
        snprintf(sp->closed, sizeof sp->closed, "%.60s", closed + 15);
    }
}

/* The signature of a run: its error, then how a channel closed. */
static void sig_of(const sig_probe *sp, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    if (sp->err[0] != '\0') {
        o = (size_t)snprintf(out, cap, "%.150s", sp->err);
    }
    if (sp->closed[0] != '\0' && o < cap) {
        snprintf(out + o, cap - o, "%sa channel closed: %.40s", o ? "; " : "", sp->closed);
    }
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

/* Every non-empty line of text. */
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

/* The lines joined, those with drop[i] set left out (drop may be NULL);
 * line `at` replaced by repl when repl is not NULL. */
static char *join(const lines *l, const unsigned char *drop, size_t at, const char *repl, size_t *len)
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
        if (drop && drop[i]) {
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
    for (char *p = strtok(ws->buf, " "); p; p = strtok(NULL, " ")) {
        if (ws->n == MAX_WORDS) {
            return -1;
        }
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

/* The end of the group of link words that starts at word j (a netem word):
 * the next netem word or `oneway`. */
static size_t group_end(const words *ws, size_t j)
{
    size_t end = j + 1;
    while (end < ws->n && !is_netem_word(ws->w[end]) && strcmp(ws->w[end], "oneway") != 0) {
        end++;
    }
    return end;
}

/* A link word that is a fault (the control removes it). */
static int is_fault_word(const char *w)
{
    return strcmp(w, "loss") == 0 || strcmp(w, "corrupt") == 0 || strcmp(w, "duplicate") == 0;
}

int tl_shrink_control(const char *text, char **out)
{
    lines l;
    *out = NULL;
    if (split(text, &l) != 0) {
        lines_free(&l);
        return TL_E_NOMEM;
    }
    char *o = NULL;
    size_t olen = 0;
    FILE *m = open_memstream(&o, &olen);
    if (m == NULL) {
        lines_free(&l);
        return TL_E_NOMEM;
    }
    for (size_t i = 0; i < l.n; i++) {
        const char *s = l.line[i];
        words ws;
        if (starts(s, "at") || starts(s, "heal")) {
            continue;
        }
        if (!starts(s, "link") || words_split(s, &ws) != 0) {
            fprintf(m, "%s\n", s);
            continue;
        }
        int first = 1;
        for (size_t j = 0; j < ws.n;) {
            size_t end = is_netem_word(ws.w[j]) ? group_end(&ws, j) : j + 1;
            for (size_t k = j; k < end && !is_fault_word(ws.w[j]); k++) {
                fprintf(m, "%s%s", first ? "" : " ", ws.w[k]);
                first = 0;
            }
            j = end;
        }
        fputc('\n', m);
    }
    lines_free(&l);
    if (fclose(m) != 0 || o == NULL) {
        free(o);
        return TL_E_NOMEM;
    }
    *out = o;
    return TL_OK;
}

/* ---- running a candidate ---- */

typedef struct {
    tl_scn_result r;
    int idx;           /* the target expectation's index, -1 none */
    int target_failed; /* the check failed: the expectation, or the oracle with the same text */
    char sig[200];
} outcome;

/* Parse text and run it with the seed within `budget` events. V_KEEP when it
 * ran (o filled), else why not. */
static verdict run_text(ctx *c, const char *text, size_t len, uint64_t budget, int control, outcome *o)
{
    tl_shrink_result *res = c->res;
    tl_scenario *scn = NULL;
    memset(o, 0, sizeof *o);
    o->idx = -1;
    if (res->runs >= c->max_runs) {
        return V_NO_RUNS;
    }
    if (tl_scn_parse(text, len, "shrink", &scn, NULL) != TL_OK) {
        return V_INVALID;
    }
    for (size_t i = 0; i < scn->nexpects && !c->oracle; i++) {
        if (strcmp(scn->expects[i].text, c->target) == 0) {
            o->idx = (int)i;
            break;
        }
    }
    if (o->idx < 0 && !c->oracle) {
        tl_scn_free(scn);
        return V_INVALID;
    }
    unsigned char *ef = calloc(scn->nexpects ? scn->nexpects : 1, 1);
    if (ef == NULL) {
        tl_scn_free(scn);
        return V_INVALID;
    }
    tl_scn_run_options ro;
    sig_probe sp;
    memset(&ro, 0, sizeof ro);
    memset(&sp, 0, sizeof sp);
    sp.c = c;
    ro.on_trace = sig_line;
    ro.trace_ctx = &sp;
    ro.max_events = budget;
    res->runs++;
    res->control_runs += control != 0;
    int rc = scn_run(scn, c->seed, &ro, &o->r, ef);
    verdict v = V_KEEP;
    if (rc == TL_E_LIMIT) {
        res->total_events += budget;
        v = V_BUDGET;
    } else if (rc != TL_OK) {
        v = V_INVALID;
    } else {
        if (c->oracle) {
            /* the expectations are gone: the first failure is an oracle's */
            char b[256];
            blur_failure("shrink", o->r.first_failure, b, sizeof b);
            o->target_failed = !o->r.passed && strcmp(b, c->target) == 0;
        } else {
            o->target_failed = ef[o->idx];
        }
        sig_of(&sp, o->sig, sizeof o->sig);
        res->total_events += o->r.stats.events;
        uint64_t *max = control ? &res->max_control_run_events : &res->max_run_events;
        if (o->r.stats.events > *max) {
            *max = o->r.stats.events;
        }
    }
    free(ef);
    tl_scn_free(scn);
    return v;
}

static int is_target_line(const ctx *c, const char *s)
{
    return !c->oracle && starts(s, "expect") && strcmp(s + 7, c->target) == 0;
}

/* The control of text as the verdict sees it: faults removed, and of the
 * expectations only the check's (the others may expect a fault's effects,
 * `deaths == 1`); so its first failure is the check's or an oracle's. */
static char *control_text(const ctx *c, const char *text)
{
    char *ct = NULL, *t = NULL;
    lines l;
    size_t len;
    if (tl_shrink_control(text, &ct) != TL_OK) {
        return NULL;
    }
    if (split(ct, &l) != 0) {
        free(ct);
        lines_free(&l);
        return NULL;
    }
    free(ct);
    unsigned char *drop = calloc(l.n ? l.n : 1, 1);
    if (drop != NULL) {
        for (size_t i = 0; i < l.n; i++) {
            drop[i] = starts(l.line[i], "expect") && !is_target_line(c, l.line[i]);
        }
        t = join(&l, drop, SIZE_MAX, NULL, &len);
    }
    free(drop);
    lines_free(&l);
    return t;
}

/* Does the control of text pass? V_KEEP yes, V_CONTROL no (o->r says
 * why), V_BUDGET over the control budget, V_INVALID, V_NO_RUNS. */
static verdict control_passes(ctx *c, const char *text, outcome *o)
{
    char *ct = control_text(c, text);
    if (ct == NULL) {
        memset(o, 0, sizeof *o);
        return V_INVALID;
    }
    verdict v = run_text(c, ct, strlen(ct), c->control_budget, 1, o);
    free(ct);
    if (v != V_KEEP) {
        return v;
    }
    return o->r.passed ? V_KEEP : V_CONTROL;
}

/* The verdict on a candidate: (a) it fails the check the same way within
 * the budget, and (b) its control passes. */
static verdict judge(ctx *c, const char *text, size_t len)
{
    outcome o;
    verdict v = run_text(c, text, len, c->budget, 0, &o);
    if (v == V_KEEP && !o.target_failed) {
        v = V_PASSES;
    }
    if (v == V_KEEP) {
        if (!c->have_sig) {
            memcpy(c->sig, o.sig, sizeof c->sig);
            c->have_sig = 1;
        } else if (strcmp(c->sig, o.sig) != 0) {
            v = V_PASSES; /* fails, but with another error */
        }
    }
    if (v == V_KEEP && c->use_control) {
        v = control_passes(c, text, &o);
    }
    switch (v) {
    case V_PASSES: c->res->rejected_passes++; break;
    case V_CONTROL: c->res->rejected_control++; break;
    case V_BUDGET: c->res->rejected_budget++; break;
    case V_INVALID: c->res->rejected_invalid++; break;
    default: break;
    }
    return v;
}

static void log_kept(const ctx *c, FILE *log, const char *what, const char *before, const char *after)
{
    if (log == NULL) {
        return;
    }
    fprintf(log, "kept: %s: %s%s%s\n      still fails: %s%s%s; %s\n", what, before, after ? "  ->  " : "",
            after ? after : "", c->oracle ? "" : "expect ", c->target, c->sig[0] ? " (same signature)" : "",
            c->use_control ? "fault-free control passes" : "no control: the original's fails too");
}

/* Candidate: l with the lines of drop left out and line `at` replaced by
 * repl; kept (l updated) on V_KEEP. */
static verdict try_candidate(ctx *c, lines *l, const unsigned char *drop, size_t at, const char *repl)
{
    size_t len;
    char *t = join(l, drop, at, repl, &len);
    if (t == NULL) {
        return V_INVALID;
    }
    verdict v = judge(c, t, len);
    if (v != V_KEEP) {
        free(t);
        return v;
    }
    lines nl;
    if (split(t, &nl) != 0) {
        lines_free(&nl);
        free(t);
        return V_INVALID;
    }
    free(t);
    lines_free(l);
    *l = nl;
    return V_KEEP;
}

/* ---- smaller values ---- */

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

/* The largest round value (1, 2 or 5 times a power of ten) at most v / 2,
 * if it is at least min: 20s -> 10s -> 5s -> 2s -> 1s -> 500ms, 10% -> 5%
 * -> 2%. Round values read better than 4687500us, and a ladder takes fewer
 * runs than halving down to nanoseconds. */
static int lower_round(uint64_t v, uint64_t min, uint64_t *out)
{
    uint64_t half = v / 2, best = 0;
    for (uint64_t p = 1; p <= half; p *= 10) {
        static const uint64_t k[] = {1, 2, 5};
        for (size_t i = 0; i < 3; i++) {
            if (k[i] * p <= half && k[i] * p > best) {
                best = k[i] * p;
            }
        }
        if (p > UINT64_MAX / 10) {
            break;
        }
    }
    if (best == 0 || best < min) {
        return -1;
    }
    *out = best;
    return 0;
}

/* A smaller time (a round value down to 1 ms; then 0 if zero_ok), a
 * smaller percentage (down to 0.001 %), or half a count or range A..B (after
 * key=). 0 and out filled, or -1. */
static int halve_value(const char *v, int keyed, int zero_ok, char *out, size_t cap)
{
    uint64_t a, b, n;
    if (scn_parse_time(v, strlen(v), &a) == 0) {
        if (lower_round(a, TL_SIM_NS_PER_MS, &n) == 0) {
            fmt_time(out, cap, n);
        } else if (zero_ok && a > 0) {
            snprintf(out, cap, "0s");
        } else {
            return -1;
        }
    } else if (pct_ppb(v, &a) == 0) {
        if (lower_round(a, 10000, &n) != 0) {
            return -1;
        }
        fmt_pct(out, cap, n);
    } else if (keyed && scn_parse_range(v, strlen(v), &a, &b) == 0) {
        if (a == b) {
            if (a <= 1) {
                return -1;
            }
            snprintf(out, cap, "%llu", (unsigned long long)(a / 2));
        } else {
            uint64_t na = a / 2 ? a / 2 : 1, nb = b / 2 > na ? b / 2 : na;
            if (na == a && nb == b) {
                return -1;
            }
            if (na == nb) {
                snprintf(out, cap, "%llu", (unsigned long long)na);
            } else {
                snprintf(out, cap, "%llu..%llu", (unsigned long long)na, (unsigned long long)nb);
            }
        }
    } else {
        return -1;
    }
    return 0;
}

/* Service keys whose value is work: fewer requests, frames, bytes, less
 * concurrency, an earlier stop. Periods (interval=, timeout=, odd-delay=)
 * are not among them: halving a period multiplies the events. */
static int is_work_key(const char *w)
{
    static const char *k[] = {"count=", "concurrency=", "size=", "frames=", "budget=", "stop=", NULL};
    for (size_t i = 0; k[i]; i++) {
        if (strncmp(w, k[i], strlen(k[i])) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A workload key halved (count=1000 -> count=500): expectations whose
 * constant was the old number (`answered == 1000`) follow it, so that the
 * candidate fails for the same reason, not because it asks for less. */
static verdict try_workload(ctx *c, lines *l, size_t at, const char *old_word, const char *new_word,
                            const char *cand)
{
    const char *oe = strchr(old_word, '='), *ne = strchr(new_word, '=');
    uint64_t ov, nv;
    if (oe == NULL || ne == NULL || scn_parse_u64(oe + 1, strlen(oe + 1), &ov) != 0 ||
        scn_parse_u64(ne + 1, strlen(ne + 1), &nv) != 0) {
        return try_candidate(c, l, NULL, at, cand);
    }
    lines t;
    t.n = l->n;
    t.line = calloc(l->n, sizeof *t.line);
    if (t.line == NULL) {
        return V_INVALID;
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
            int is_target = !c->oracle && strcmp(src + 7, c->target) == 0;
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
    verdict v = V_INVALID;
    if (!bad) {
        char saved[200];
        size_t len;
        snprintf(saved, sizeof saved, "%s", c->target);
        snprintf(c->target, sizeof c->target, "%s", target);
        char *text = join(&t, NULL, SIZE_MAX, NULL, &len);
        v = text != NULL ? judge(c, text, len) : V_INVALID;
        free(text);
        if (v == V_KEEP) {
            lines_free(l);
            *l = t;
            return V_KEEP;
        }
        snprintf(c->target, sizeof c->target, "%s", saved);
    }
    lines_free(&t);
    return v;
}

/* Word j of line i made smaller, again and again while the candidate is
 * kept. Returns the reductions kept. */
static unsigned shrink_word(ctx *c, lines *l, size_t i, size_t j, int zero_ok, FILE *log)
{
    unsigned kept = 0;
    for (;;) {
        words ws;
        char val[80], half[120], cand[1100], before[1100];
        if (words_split(l->line[i], &ws) != 0 || j >= ws.n) {
            break;
        }
        const char *w = ws.w[j];
        const char *eq = strchr(w, '=');
        size_t kn = eq ? (size_t)(eq - w) + 1 : 0;
        if (kn >= 40 || halve_value(w + kn, eq != NULL, zero_ok, val, sizeof val) != 0) {
            break;
        }
        snprintf(half, sizeof half, "%.*s%s", (int)kn, w, val);
        words_join(&ws, SIZE_MAX, SIZE_MAX, j, half, cand, sizeof cand);
        snprintf(before, sizeof before, "%s", l->line[i]);
        verdict v = starts(before, "service") ? try_workload(c, l, i, w, half, cand)
                                              : try_candidate(c, l, NULL, i, cand);
        if (v != V_KEEP) {
            break;
        }
        log_kept(c, log, "reduced", before, l->line[i]);
        kept++;
    }
    return kept;
}

/* ---- the passes ---- */

static int line_names_node(const char *s, const char *node)
{
    words ws;
    if (words_split(s, &ws) != 0) {
        return 1; /* unknown: take it along */
    }
    size_t n = strlen(node);
    for (size_t k = 1; k < ws.n; k++) {
        if (strcmp(ws.w[k], node) == 0 || (strncmp(ws.w[k], node, n) == 0 && ws.w[k][n] == '/')) {
            return 1;
        }
    }
    return 0;
}

static int is_target_line(const ctx *c, const char *s);

/* A line removed on its own: actions, links, heal, services, the other
 * expectations and reports. Without the control a service stays: removing
 * it could make its expectation fail trivially. */
static int removable_line(const ctx *c, const char *s)
{
    return starts(s, "at") || starts(s, "link") || starts(s, "heal") || starts(s, "report") ||
           (starts(s, "service") && c->use_control) || (starts(s, "expect") && !is_target_line(c, s));
}

/* A node removed with every line naming it (its services, links, actions
 * and expectations): with the control only, never the target's node. */
static int removable_node(const ctx *c, const char *s)
{
    words ws;
    return c->use_control && starts(s, "node") && words_split(s, &ws) == 0 && ws.n >= 2 &&
           strcmp(ws.w[1], c->node) != 0;
}

/* Mark line k and, for a node line, every line naming its node. */
static void mark_drop(const lines *l, size_t k, unsigned char *drop)
{
    words ws;
    drop[k] = 1;
    if (!starts(l->line[k], "node") || words_split(l->line[k], &ws) != 0 || ws.n < 2) {
        return;
    }
    for (size_t m = 0; m < l->n; m++) {
        if (!starts(l->line[m], "seeds") && !starts(l->line[m], "duration") && !starts(l->line[m], "tcp") &&
            !starts(l->line[m], "node") && line_names_node(l->line[m], ws.w[1])) {
            drop[m] = 1;
        }
    }
}

/* Remove the lines `pick` selects, several at a time when there are many
 * (delta debugging's chunks: half of them, a quarter, ... one), one at a
 * time when there are few. Returns the lines removed. */
static unsigned drop_chunks(ctx *c, lines *l, int (*pick)(const ctx *, const char *), const char *one,
                            const char *many, FILE *log)
{
    unsigned kept = 0;
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        n += (size_t)pick(c, l->line[i]);
    }
    size_t chunk = n >= 16 ? n / 2 : 1;
    for (;;) {
        size_t g = 0;
        for (;;) {
            /* the picked lines now, from the last (the order of the file's later lines first) */
            size_t m = 0, first = SIZE_MAX, last = 0, count = 0;
            unsigned char *drop = calloc(l->n ? l->n : 1, 1);
            if (drop == NULL) {
                return kept;
            }
            for (size_t i = l->n; i-- > 0;) {
                if (!pick(c, l->line[i])) {
                    continue;
                }
                if (m >= g && m < g + chunk) {
                    mark_drop(l, i, drop);
                    first = first == SIZE_MAX ? i : first;
                    last = i;
                    count++;
                }
                m++;
            }
            if (count == 0) {
                free(drop);
                break;
            }
            char a[1100], b[1100];
            snprintf(a, sizeof a, "%s", l->line[first]);
            snprintf(b, sizeof b, "%s", l->line[last]);
            verdict v = try_candidate(c, l, drop, SIZE_MAX, NULL);
            free(drop);
            if (v == V_KEEP) {
                char msg[2300];
                if (count == 1) {
                    snprintf(msg, sizeof msg, "%s%s", a, one);
                } else {
                    snprintf(msg, sizeof msg, "%zu %s, from %s to %s", count, many, b, a);
                }
                log_kept(c, log, "removed", msg, NULL);
                kept += (unsigned)count;
            } else {
                g += chunk;
            }
        }
        if (chunk == 1) {
            break;
        }
        chunk /= 2;
    }
    return kept;
}

/* One pass over every kind of reduction; returns the reductions kept. */
static unsigned pass(ctx *c, lines *l, FILE *log)
{
    unsigned kept = 0;
    /* the duration first: every later run gets cheaper */
    for (size_t i = 0; i < l->n; i++) {
        if (starts(l->line[i], "duration")) {
            kept += shrink_word(c, l, i, 1, 0, log);
            break;
        }
    }
    /* whole lines, then nodes with every line naming them */
    kept += drop_chunks(c, l, removable_line, "", "lines", log);
    kept += drop_chunks(c, l, removable_node, ", with every line naming it",
                        "nodes, with every line naming them", log);
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
            char cand[1100], before[1100];
            words_join(&ws, j, group_end(&ws, j), SIZE_MAX, NULL, cand, sizeof cand);
            snprintf(before, sizeof before, "%s", l->line[i]);
            if (try_candidate(c, l, NULL, i, cand) == V_KEEP) {
                log_kept(c, log, "removed words", before, cand);
                kept++;
                if (words_split(l->line[i], &ws) != 0) {
                    break;
                }
                j--; /* the next group moved here */
            }
        }
    }
    /* smaller numbers that remove work or fault: action and heal times,
     * partition lengths, workload keys, loss / corrupt / duplicate rates */
    for (size_t i = 0; i < l->n; i++) {
        words ws;
        if (words_split(l->line[i], &ws) != 0) {
            continue;
        }
        int at = starts(l->line[i], "at"),
            link = starts(l->line[i], "link") || (at && ws.n > 2 && strcmp(ws.w[2], "link") == 0);
        for (size_t j = 1; j < ws.n; j++) {
            const char *w = ws.w[j], *prev = ws.w[j - 1];
            int pick = 0;
            if ((at || starts(l->line[i], "heal")) && j == 1) {
                pick = 1; /* the time: the fault comes (or ends) earlier */
            } else if (at && strcmp(prev, "for") == 0) {
                pick = 1; /* a shorter partition */
            } else if (starts(l->line[i], "service") && is_work_key(w)) {
                pick = 1;
            } else if (link && (strcmp(prev, "loss") == 0 || strcmp(prev, "random") == 0 ||
                                strcmp(prev, "corrupt") == 0 || strcmp(prev, "duplicate") == 0)) {
                pick = strchr(w, '%') != NULL && strstr(w, "..") == NULL;
            }
            if (pick) {
                kept += shrink_word(c, l, i, j, at && j == 1, log);
                if (words_split(l->line[i], &ws) != 0) {
                    break;
                }
            }
        }
    }
    return kept;
}

/* ---- the shrink ---- */

static int write_canonical(const tl_scenario *scn, int swarm, uint64_t seed, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    FILE *m = open_memstream(text, len);
    if (m == NULL) {
        return TL_E_NOMEM;
    }
    tl_scn_write(scn, m, TL_SCN_WRITE_SEED | (swarm ? TL_SCN_WRITE_DRAW : 0), seed);
    if (fclose(m) != 0 || *text == NULL) {
        free(*text);
        *text = NULL;
        return TL_E_NOMEM;
    }
    return TL_OK;
}

/* The whole control of the final text: every expectation and oracle. */
static int final_control(ctx *c, const char *text, char *why, size_t cap)
{
    char *ct = NULL;
    tl_scenario *scn = NULL;
    tl_scn_result r;
    why[0] = '\0';
    if (tl_shrink_control(text, &ct) != TL_OK ||
        tl_scn_parse(ct, strlen(ct), "control", &scn, NULL) != TL_OK) {
        free(ct);
        snprintf(why, cap, "not a valid scenario");
        return 0;
    }
    free(ct);
    tl_scn_run_options ro;
    memset(&ro, 0, sizeof ro);
    ro.max_events = c->control_budget;
    c->res->runs++;
    c->res->control_runs++;
    int rc = tl_scn_run(scn, c->seed, &ro, &r);
    tl_scn_free(scn);
    if (rc != TL_OK) {
        snprintf(why, cap, "%s", rc == TL_E_LIMIT ? "over its event budget" : tl_strerror(rc));
        return 0;
    }
    c->res->total_events += r.stats.events;
    snprintf(why, cap, "%s", r.first_failure);
    return r.passed;
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

    /* the check: the first expectation the original run fails, else the
     * first oracle failure */
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
    if (r.passed) {
        return TL_E_INVAL;
    }
    ctx c;
    memset(&c, 0, sizeof c);
    c.res = res;
    c.seed = seed;
    c.max_runs = opt->max_runs ? opt->max_runs : 2000;
    c.oracle = target == SIZE_MAX;
    if (c.oracle) {
        /* "client/rr: liveness: ..." or "node client channel 7: ...": its node */
        const char *t = c.target;
        blur_failure(scn->file, r.first_failure, c.target, sizeof c.target);
        t += strncmp(t, "node ", 5) == 0 ? 5 : 0;
        size_t nn = strcspn(t, "/: ");
        for (size_t i = 0; i < scn->nnodes; i++) {
            if (strlen(scn->nodes[i].name) == nn && strncmp(scn->nodes[i].name, t, nn) == 0) {
                memcpy(c.node, t, nn);
                c.node[nn] = '\0';
            }
        }
    } else {
        snprintf(c.target, sizeof c.target, "%s", scn->expects[target].text);
        const char *t = c.target;
        size_t nn = strcspn(t, "/ ");
        if (!(nn == 1 && t[0] == '*') && nn < sizeof c.node) {
            memcpy(c.node, t, nn);
            c.node[nn] = '\0';
        }
    }

    /* canonical text, swarm draws fixed; for an oracle the expectations go
     * (they do not change the run, and would fail first) */
    char *text = NULL;
    size_t len = 0;
    if ((rc = write_canonical(scn, opt->swarm, seed, &text, &len)) != TL_OK) {
        return rc;
    }
    res->original_bytes = len;
    lines l;
    if (split(text, &l) != 0) {
        free(text);
        lines_free(&l);
        return TL_E_NOMEM;
    }
    free(text);
    {
        unsigned char *drop = calloc(l.n ? l.n : 1, 1);
        for (size_t i = 0; drop != NULL && i < l.n; i++) {
            drop[i] = c.oracle && starts(l.line[i], "expect");
        }
        text = drop ? join(&l, drop, SIZE_MAX, NULL, &len) : NULL;
        free(drop);
        lines_free(&l);
        if (text == NULL || split(text, &l) != 0) {
            free(text);
            lines_free(&l);
            return TL_E_NOMEM;
        }
    }

    /* the canonical form fails the same way (it is the same network); its
     * events are every candidate's budget */
    outcome o;
    verdict v = run_text(&c, text, len, 0, 0, &o);
    if (v != V_KEEP || !o.target_failed) {
        free(text);
        lines_free(&l);
        return TL_E_STATE;
    }
    memcpy(c.sig, o.sig, sizeof c.sig);
    c.have_sig = 1;
    c.budget = o.r.stats.events;
    res->original_events = o.r.stats.events;
    snprintf(res->expectation, sizeof res->expectation, "%s", c.target);
    res->oracle = c.oracle;

    /* the original's control: does the failure come from the faults? Its
     * budget is generous (a fault may have cut the failing run short); its
     * events are then every later control's budget. */
    {
        outcome co;
        c.control_budget = c.budget * 64 + 100000;
        verdict cv = control_passes(&c, text, &co);
        if (cv == V_KEEP) {
            c.use_control = 1;
            c.control_budget = co.r.stats.events;
            res->control_events = co.r.stats.events;
            res->control_checked = 1;
        } else if (cv == V_BUDGET) {
            snprintf(res->control_failure, sizeof res->control_failure,
                     "it ran past %llu events (64 times the failing run's)",
                     (unsigned long long)c.control_budget);
        } else {
            const char *t = co.r.first_failure;
            snprintf(res->control_failure, sizeof res->control_failure, "%s",
                     strncmp(t, "shrink", 6) == 0 && strchr(t, ' ') ? strchr(t, ' ') + 1 : t);
        }
    }
    free(text);
    if (opt->log) {
        fprintf(opt->log, "shrink: seed %llu fails %s%s in %llu events%s%s\n", (unsigned long long)seed,
                c.oracle ? "the oracle: " : "expect ", c.target, (unsigned long long)c.budget,
                c.sig[0] ? ", signature: " : "", c.sig);
        if (c.use_control) {
            fprintf(opt->log,
                    "shrink: its fault-free control passes (%llu events): a step is kept only if it still "
                    "fails and its control passes\n",
                    (unsigned long long)c.control_budget);
        } else {
            fprintf(opt->log,
                    "shrink: its fault-free control fails too (%s): the failure is not caused by the faults; "
                    "shrinking with the same-failure check only\n",
                    res->control_failure);
        }
    }

    unsigned k;
    while ((k = pass(&c, &l, opt->log)) > 0 && res->runs < c.max_runs) {
        res->steps += k;
    }
    res->steps += k;
    snprintf(res->expectation, sizeof res->expectation, "%s", c.target);

    size_t body_len;
    char *body = join(&l, NULL, SIZE_MAX, NULL, &body_len);
    lines_free(&l);
    if (body == NULL) {
        return TL_E_NOMEM;
    }
    res->shrunk_bytes = body_len;
    /* the result, measured: its failing run and its whole control */
    {
        outcome fo;
        unsigned max = c.max_runs;
        c.max_runs = res->runs + 1;
        if (run_text(&c, body, body_len, 0, 0, &fo) == V_KEEP) {
            res->shrunk_events = fo.r.stats.events;
        }
        c.max_runs = max;
    }
    char cwhy[256];
    res->control_passes = final_control(&c, body, cwhy, sizeof cwhy);

    char *o_text = NULL;
    size_t olen = 0;
    FILE *m = open_memstream(&o_text, &olen);
    if (m == NULL) {
        free(body);
        return TL_E_NOMEM;
    }
    fprintf(m, "# shrunk by `tofulab sim shrink` from %s, seed %llu%s\n", file ? file : scn->file,
            (unsigned long long)seed, opt->swarm ? " (swarm values fixed)" : "");
    if (c.oracle) {
        fprintf(m, "# fails the oracle: %s\n", c.target);
    } else {
        fprintf(m, "# fails: expect %s\n", c.target);
        if (strcmp(c.target, scn->expects[target].text) != 0) {
            fprintf(m, "# (originally: expect %s, line %u; its constant follows the workload)\n",
                    scn->expects[target].text, scn->expects[target].line);
        } else {
            fprintf(m, "# (line %u of the original)\n", scn->expects[target].line);
        }
    }
    if (c.sig[0]) {
        fprintf(m, "# signature (the first error and channel close on its node): %s\n", c.sig);
    }
    if (res->control_passes) {
        fprintf(m,
                "# its fault-free control passes: with seed %llu, this file without `at` actions and without "
                "link loss, corruption and duplication passes\n",
                (unsigned long long)seed);
    } else {
        fprintf(m, "# its fault-free control fails too: %s\n", cwhy);
    }
    if (!c.use_control) {
        fprintf(m,
                "# not caused by the faults: the original's control fails (%s); shrunk keeping the failure "
                "only\n",
                res->control_failure);
    }
    fprintf(m, "# %u reductions kept in %u runs (%u controls); %zu -> %zu bytes; %llu -> %llu events\n",
            res->steps, res->runs, res->control_runs, res->original_bytes, res->shrunk_bytes,
            (unsigned long long)res->original_events, (unsigned long long)res->shrunk_events);
    fputs(body, m);
    free(body);
    if (fclose(m) != 0 || o_text == NULL) {
        free(o_text);
        return TL_E_NOMEM;
    }
    *out = o_text;
    return TL_OK;
}
