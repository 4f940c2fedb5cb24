/*
 * fuzz-peer: findings. A new finding (oracle + signature not seen before) is
 * minimised while the same oracle still fails with the same signature -
 * first whole connections, then the delivery plan, then frames, then the
 * text and body of each frame, then bytes - and saved as the raw bytes of
 * each connection (conn-N.bin, with conn-N.plan when the delivery matters),
 * finding.txt and the peer's stderr, with a replay command. Known findings
 * are only counted. Also the summary table and JUnit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

const char *tl_fuzzpeer_oracle_name(tl_fp_oracle o)
{
    switch (o) {
    case TL_FP_CRASH: return "crash";
    case TL_FP_LIVENESS: return "liveness";
    case TL_FP_HANG: return "hang";
    case TL_FP_ECHO: return "echo";
    }
    return "?";
}

/* ---- minimisation ---- */

typedef struct {
    fp_run *r;
    const fp_verdict *want;
    uint64_t deadline;
    unsigned attempts;
} mini;

static int same(const fp_verdict *a, const fp_verdict *b)
{
    return a->failed && b->failed && a->oracle == b->oracle && strcmp(a->sig, b->sig) == 0;
}

#define FP_BYTE_TRIES 32 /* attempts of the byte phase */

static int out_of_time(const mini *m) { return tlc_now_us() >= m->deadline || m->attempts >= 2000; }

/* 1 if the cases still fail the same way. */
static int still_fails(mini *m, const fp_case *cases, size_t n)
{
    fp_verdict v;

    m->attempts++;
    if (fp_reproduce(m->r, cases, n, &v) != 0) {
        return 0;
    }
    if (m->r->x.opt.verbose) {
        fprintf(m->r->log, "fuzz-peer: minimising: attempt %u, %zu connection%s, %zu bytes: %s\n",
                m->attempts, n, n == 1 ? "" : "s", cases[n - 1].bytes.len,
                v.failed          ? v.sig
                : v.expected_stop ? "an expected stop"
                                  : "nothing");
    }
    return same(&v, m->want);
}

/* Try a candidate for the last case: keep it if it still fails. */
static int try_last(mini *m, fp_case *cases, size_t n, fp_case *cand)
{
    fp_case saved = cases[n - 1];
    int ok;

    cases[n - 1] = *cand;
    ok = still_fails(m, cases, n);
    if (ok) {
        fp_case_free(&saved);
        memset(cand, 0, sizeof *cand);
    } else {
        cases[n - 1] = saved;
    }
    return ok;
}

static int seq_case(const fp_seq *s, const fp_plan *plan, fp_case *out)
{
    memset(out, 0, sizeof *out);
    out->plan = *plan;
    if (fp_seq_write(s, &out->bytes) != 0) {
        return -1;
    }
    fp_plan_clamp(&out->plan, out->bytes.len);
    return 0;
}

/* ddmin over the frames of the last case, then its trailing bytes. */
static void drop_frames(mini *m, fp_case *cases, size_t n)
{
    fp_seq s;
    size_t chunk;

    if (fp_seq_parse(&s, cases[n - 1].bytes.p, cases[n - 1].bytes.len) != 0) {
        return;
    }
    for (chunk = s.n / 2 > 0 ? s.n / 2 : 1; !out_of_time(m); chunk /= 2) {
        size_t at = 0;

        while (at < s.n && !out_of_time(m)) {
            fp_seq t;
            fp_case cand;
            size_t k;
            int ok = 0;

            if (fp_seq_parse(&t, cases[n - 1].bytes.p, cases[n - 1].bytes.len) != 0) {
                break;
            }
            for (k = 0; k < chunk && at < t.n; k++) {
                fp_seq_remove(&t, at);
            }
            if (seq_case(&t, &cases[n - 1].plan, &cand) == 0) {
                ok = try_last(m, cases, n, &cand);
            }
            fp_case_free(&cand);
            fp_seq_free(&t);
            if (ok) {
                fp_seq_free(&s);
                if (fp_seq_parse(&s, cases[n - 1].bytes.p, cases[n - 1].bytes.len) != 0) {
                    return;
                }
            } else {
                at += chunk;
            }
        }
        if (chunk <= 1) {
            break;
        }
    }
    if (s.tail.len > 0 && !out_of_time(m)) {
        fp_case cand;

        if (fp_case_copy(&cand, &cases[n - 1]) == 0) {
            cand.bytes.len -= s.tail.len;
            fp_plan_clamp(&cand.plan, cand.bytes.len);
            (void)try_last(m, cases, n, &cand);
            fp_case_free(&cand);
        }
    }
    fp_seq_free(&s);
}

/* The last case with frame fi's text (part 0) or body (part 1) cut to keep
 * bytes, lengths kept true. */
static int cut_field(const fp_case *c, size_t fi, int part, size_t keep, fp_case *out)
{
    fp_seq t;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (fp_seq_parse(&t, c->bytes.p, c->bytes.len) != 0) {
        return -1;
    }
    if (fi < t.n) {
        fp_buf *b = part == 0 ? &t.f[fi].text : &t.f[fi].body;

        if (keep < b->len) {
            b->len = keep;
            rc = seq_case(&t, &c->plan, out);
        }
    }
    fp_seq_free(&t);
    return rc;
}

/* Shrink the text and the body of each frame, lengths kept true: a binary
 * search for the shortest prefix that still fails (a crash on text headers
 * past some length needs 16 attempts, not thousands). */
static void shrink_fields(mini *m, fp_case *cases, size_t n)
{
    size_t fi, nframes;
    fp_seq s;

    if (fp_seq_parse(&s, cases[n - 1].bytes.p, cases[n - 1].bytes.len) != 0) {
        return;
    }
    nframes = s.n;
    for (fi = 0; fi < nframes && !out_of_time(m); fi++) {
        int part;

        for (part = 0; part < 2 && !out_of_time(m); part++) {
            size_t lo = 0, hi;
            fp_seq cur;

            if (fp_seq_parse(&cur, cases[n - 1].bytes.p, cases[n - 1].bytes.len) != 0 || fi >= cur.n) {
                fp_seq_free(&cur);
                break;
            }
            hi = part == 0 ? cur.f[fi].text.len : cur.f[fi].body.len; /* fails with hi bytes */
            fp_seq_free(&cur);
            if (hi > 0 && !out_of_time(m)) {
                /* Nothing at all is the likeliest answer: try it first. */
                fp_case cand;

                if (cut_field(&cases[n - 1], fi, part, 0, &cand) == 0 && try_last(m, cases, n, &cand)) {
                    hi = 0;
                }
                fp_case_free(&cand);
            }
            while (lo < hi && !out_of_time(m)) {
                size_t mid = lo + (hi - lo) / 2;
                fp_case cand;

                if (cut_field(&cases[n - 1], fi, part, mid, &cand) != 0) {
                    break;
                }
                if (try_last(m, cases, n, &cand)) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
                fp_case_free(&cand);
            }
        }
    }
    fp_seq_free(&s);
}

/* Remove byte ranges of the last case: over the whole case in chunks of at
 * least a header (16 bytes; smaller cuts inside whole frames only break the
 * framing the frame phase already tried), then down to single bytes in what
 * follows the last complete frame. Bounded (each attempt may cost a restart). */
static void drop_bytes(mini *m, fp_case *cases, size_t n)
{
    unsigned tries = 0;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        size_t chunk = cases[n - 1].bytes.len / 2;

        while (chunk >= (pass == 0 ? TL_HEADER_SIZE : 1u) && !out_of_time(m) && tries < FP_BYTE_TRIES) {
            fp_model fm;
            size_t at;

            if (fp_model_build(&fm, cases[n - 1].bytes.p, cases[n - 1].bytes.len, 0, 0) != 0) {
                return;
            }
            at = pass == 0 ? 0 : fm.complete;
            fp_model_free(&fm);
            while (at < cases[n - 1].bytes.len && !out_of_time(m) && tries < FP_BYTE_TRIES) {
                fp_case cand;

                if (fp_case_copy(&cand, &cases[n - 1]) != 0) {
                    return;
                }
                fp_buf_erase(&cand.bytes, at, chunk);
                fp_plan_clamp(&cand.plan, cand.bytes.len);
                tries++;
                if (!try_last(m, cases, n, &cand)) {
                    at += chunk;
                }
                fp_case_free(&cand);
            }
            chunk /= 2;
        }
    }
}

/* Keep only cases[keep]. */
static void keep_one(fp_case *cases, size_t *n, size_t keep)
{
    size_t i;

    for (i = 0; i < *n; i++) {
        if (i != keep) {
            fp_case_free(&cases[i]);
        }
    }
    cases[0] = cases[keep];
    *n = 1;
}

/* Returns 1 minimised, -1 did not reproduce; cases / n are updated. */
static int minimize(fp_run *r, const fp_verdict *want, fp_case *cases, size_t *n, int focus)
{
    mini m;
    size_t i;
    int found = 0;

    memset(&m, 0, sizeof m);
    m.r = r;
    m.want = want;
    m.deadline = tlc_now_us() + (uint64_t)r->x.opt.minimize_ms * 1000u;
    /* One case alone: the one the oracle pointed at, else each of the
     * recent ones, newest first (cases ran on several connections at once). */
    if (focus >= 0 && (size_t)focus < *n) {
        if (still_fails(&m, &cases[focus], 1)) {
            keep_one(cases, n, (size_t)focus);
            found = 1;
        }
    } else {
        for (i = *n; i-- > 0 && !out_of_time(&m);) {
            if (still_fails(&m, &cases[i], 1)) {
                keep_one(cases, n, i);
                found = 1;
                break;
            }
        }
    }
    if (!found && *n > 1 && !out_of_time(&m) && still_fails(&m, cases, *n)) {
        found = 1;
        /* Several connections are needed: drop them one by one. */
        for (i = 0; *n > 1 && i + 1 < *n && !out_of_time(&m);) {
            fp_case *rest = malloc((*n - 1) * sizeof *rest);
            size_t k, j = 0;

            if (rest == NULL) {
                break;
            }
            for (k = 0; k < *n; k++) {
                if (k != i) {
                    rest[j++] = cases[k];
                }
            }
            if (still_fails(&m, rest, *n - 1)) {
                fp_case_free(&cases[i]);
                memcpy(cases, rest, (*n - 1) * sizeof *rest);
                (*n)--;
            } else {
                i++;
            }
            free(rest);
        }
    }
    if (!found) {
        return -1;
    }
    /* The delivery plan: plain writes and FIN if that still fails. */
    if (!fp_plan_is_plain(&cases[*n - 1].plan) && !out_of_time(&m)) {
        fp_case cand;

        if (fp_case_copy(&cand, &cases[*n - 1]) == 0) {
            memset(&cand.plan, 0, sizeof cand.plan);
            (void)try_last(&m, cases, *n, &cand);
            fp_case_free(&cand);
        }
    }
    drop_frames(&m, cases, *n);
    shrink_fields(&m, cases, *n);
    drop_bytes(&m, cases, *n);
    /* Leave the peer as the next case expects it: up. */
    return 1;
}

/* ---- saving ---- */

static void shell_quote(char *out, size_t cap, const char *s)
{
    size_t o = 0;

    if (cap < 3) {
        return;
    }
    out[o++] = '\'';
    for (; *s != '\0' && o + 6 < cap; s++) {
        if (*s == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *s;
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
}

void fp_replay_command(const fp_run *r, char *out, size_t cap, const char *dir, size_t nfiles)
{
    char q[1200], path[700];
    size_t i, o;

    o = (size_t)snprintf(out, cap, "tofulab fuzz-peer");
    for (i = 0; i < nfiles && o < cap; i++) {
        snprintf(path, sizeof path, "%s/conn-%zu.bin", dir, i + 1);
        shell_quote(q, sizeof q, path);
        o += (size_t)snprintf(out + o, cap - o, " --replay %s", q);
    }
    if (o < cap) {
        shell_quote(q, sizeof q, r->x.peer_text);
        o += (size_t)snprintf(out + o, cap - o, " --peer %s", q);
    }
    if (r->spawned && o < cap) {
        shell_quote(q, sizeof q, r->peer.cmd);
        snprintf(out + o, cap - o, " --spawn %s", q);
    }
}

static int write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int bad;

    if (f == NULL) {
        return -1;
    }
    bad = len > 0 && fwrite(data, 1, len, f) != len;
    if (fclose(f) != 0) {
        bad = 1;
    }
    return bad ? -1 : 0;
}

static void describe_frames(FILE *f, const fp_case *c)
{
    fp_model m;
    size_t i;

    if (fp_model_build(&m, c->bytes.p, c->bytes.len, 0, 1) != 0) {
        return;
    }
    for (i = 0; i < m.n && i < 64; i++) {
        const fp_pred *p = &m.p[i];
        const char *name = tl_opcode_name(tl_proto_opcode(p->h.proto));
        char text[100];

        fp_printable(text, sizeof text, p->text, p->h.thl < 60 ? p->h.thl : 60);
        fprintf(f, "  #%zu at %zu: %s (proto 0x%02x) channel 0x%04x status %u id %llu thl %u bl %u%s%s%s\n",
                i + 1, p->offset, name != NULL ? name : "undefined op code", p->h.proto, p->h.channel,
                p->h.status, (unsigned long long)p->h.message_id, p->h.thl, p->h.bl,
                p->h.thl ? " text \"" : "", p->h.thl ? text : "",
                p->h.thl ? (p->h.thl > 60 ? "...\"" : "\"") : "");
    }
    if (m.n > 64) {
        fprintf(f, "  ... %zu frames in all\n", m.n);
    }
    if (m.complete < c->bytes.len) {
        fprintf(f, "  then %zu bytes of an incomplete frame (%zu more would complete it)\n",
                c->bytes.len - m.complete, m.missing);
    }
    fp_model_free(&m);
}

static void save(fp_run *r, tl_fuzzpeer_finding *F, const fp_case *cases, size_t n)
{
    char dir[700], path[800];
    FILE *f;
    size_t i;

    snprintf(dir, sizeof dir, "%s/findings/%s-%s", r->out_dir, F->id, tl_fuzzpeer_oracle_name(F->oracle));
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(r->log, "fuzz-peer: cannot create %s: %s\n", dir, strerror(errno));
        return;
    }
    /* An earlier run's finding of the same number: none of its files stay. */
    for (i = 0; i <= FP_RECENT; i++) {
        snprintf(path, sizeof path, "%s/conn-%zu.bin", dir, i + 1);
        unlink(path);
        snprintf(path, sizeof path, "%s/conn-%zu.plan", dir, i + 1);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    unlink(path);
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/conn-%zu.bin", dir, i + 1);
        if (write_bytes(path, cases[i].bytes.p, cases[i].bytes.len) != 0) {
            fprintf(r->log, "fuzz-peer: cannot write %s: %s\n", path, strerror(errno));
            return;
        }
        if (!fp_plan_is_plain(&cases[i].plan)) {
            char text[2048];
            size_t tl = fp_plan_format(&cases[i].plan, text, sizeof text);

            snprintf(path, sizeof path, "%s/conn-%zu.plan", dir, i + 1);
            (void)write_bytes(path, text, tl);
        }
    }
    snprintf(F->dir, sizeof F->dir, "%s", dir);
    fp_replay_command(r, F->replay, sizeof F->replay, dir, n);
    if (r->spawned && r->peer.tail_len > 0) {
        snprintf(path, sizeof path, "%s/stderr.txt", dir);
        (void)write_bytes(path, r->peer.tail, r->peer.tail_len);
    }
    snprintf(path, sizeof path, "%s/finding.txt", dir);
    f = fopen(path, "w");
    if (f == NULL) {
        return;
    }
    fprintf(f, "finding %s: %s\n", F->id, tl_fuzzpeer_oracle_name(F->oracle));
    fprintf(f, "signature: %s\n", F->signature);
    fprintf(f, "detail: %s\n", F->detail);
    if (F->stderr_line[0] != '\0') {
        fprintf(f, "peer stderr: %s\n", F->stderr_line);
    }
    fprintf(f, "peer: %s%s%s\n", r->x.peer_text, r->spawned ? ", spawned as " : "",
            r->spawned ? r->peer.cmd : "");
    fprintf(f, "first seen: case %llu, %.1f s into the run (seed %llu)\n", (unsigned long long)F->first_case,
            (double)F->first_ms / 1000.0, (unsigned long long)r->rep->seed);
    fprintf(f, "reproducer: %zu connection%s, %zu bytes, %zu frames%s\n", n, n == 1 ? "" : "s", F->bytes,
            F->frames,
            F->minimized > 0   ? " (minimised)"
            : F->minimized < 0 ? " (did not reproduce on its own: as sent)"
                               : " (as sent)");
    for (i = 0; i < n; i++) {
        fprintf(f, "conn-%zu.bin:%s\n", i + 1,
                fp_plan_is_plain(&cases[i].plan) ? "" : " (delivery: conn-N.plan)");
        describe_frames(f, &cases[i]);
    }
    fprintf(f, "replay:\n  %s\n", F->replay);
    fclose(f);
}

void fp_finding(fp_run *r, const fp_verdict *v, const fp_case *cases, size_t n, int focus)
{
    tl_fuzzpeer_report *rep = r->rep;
    tl_fuzzpeer_finding *F;
    fp_case *work;
    size_t i, nw = n;

    for (i = 0; i < rep->finding_count; i++) {
        if (rep->findings[i].oracle == v->oracle && strcmp(rep->findings[i].signature, v->sig) == 0) {
            rep->findings[i].count++;
            return;
        }
    }
    if (rep->finding_count == TL_FP_MAX_FINDINGS) {
        rep->findings_dropped++;
        return;
    }
    F = &rep->findings[rep->finding_count++];
    memset(F, 0, sizeof *F);
    F->oracle = v->oracle;
    snprintf(F->id, sizeof F->id, "F%zu", rep->finding_count);
    snprintf(F->signature, sizeof F->signature, "%s", v->sig);
    snprintf(F->detail, sizeof F->detail, "%s", v->detail);
    snprintf(F->stderr_line, sizeof F->stderr_line, "%s", v->stderr_line);
    F->first_case = r->case_no;
    F->first_ms = (tlc_now_us() - r->t0) / 1000u;
    F->count = 1;
    fprintf(r->log, "fuzz-peer: %s %s after %.1f s (case %llu): %s\n", F->id,
            tl_fuzzpeer_oracle_name(F->oracle), (double)F->first_ms / 1000.0,
            (unsigned long long)F->first_case, F->detail);
    fflush(r->log);
    work = calloc(n, sizeof *work);
    if (work == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        F->bytes_before += cases[i].bytes.len;
        if (fp_case_copy(&work[i], &cases[i]) != 0) {
            nw = i;
            break;
        }
    }
    /* A finding that took the peer down cannot be minimised without a way
     * to bring it back. */
    if (!r->x.opt.no_minimize && nw > 0 && (r->spawned || !v->stopped)) {
        F->minimized = minimize(r, v, work, &nw, focus);
    }
    for (i = 0; i < nw; i++) {
        fp_model m;

        F->bytes += work[i].bytes.len;
        if (fp_model_build(&m, work[i].bytes.p, work[i].bytes.len, 0, 1) == 0) {
            F->frames += m.n;
            fp_model_free(&m);
        }
    }
    F->conns = nw;
    save(r, F, work, nw);
    if (F->minimized != 0) {
        fprintf(r->log, "fuzz-peer: %s %s: %zu connection%s, %zu frames, %zu bytes (from %zu)\n", F->id,
                F->minimized > 0 ? "minimised" : "did not reproduce alone; kept as sent", nw,
                nw == 1 ? "" : "s", F->frames, F->bytes, F->bytes_before);
    }
    if (F->dir[0] != '\0') {
        fprintf(r->log, "fuzz-peer: %s saved in %s; replay: %s\n", F->id, F->dir, F->replay);
    }
    fflush(r->log);
    for (i = 0; i < nw; i++) {
        fp_case_free(&work[i]);
    }
    free(work);
}

/* ---- reports ---- */

int tl_fuzzpeer_write_summary(FILE *out, const tl_fuzzpeer_report *rep)
{
    size_t i;

    fprintf(out, "fuzz-peer: %s, seed %llu, %.1f s, %llu cases (%.0f/s), %llu frames, %llu replies\n",
            rep->peer, (unsigned long long)rep->seed, (double)rep->elapsed_ms / 1000.0,
            (unsigned long long)rep->cases, rep->cases_per_s, (unsigned long long)rep->frames_sent,
            (unsigned long long)rep->replies);
    fprintf(out,
            "  liveness probes %llu, restarts %llu, withheld %llu; working corpus %zu entries, %zu bytes "
            "(%zu seeds; %zu kept for a new reply pattern, %zu bytes of them left); reply patterns %zu\n",
            (unsigned long long)rep->probes, (unsigned long long)rep->restarts,
            (unsigned long long)rep->withheld, rep->corpus_entries, rep->corpus_bytes, rep->corpus_seeds,
            rep->corpus_new, rep->corpus_new_bytes, rep->patterns);
    if (rep->stops_total > 0) {
        fprintf(out, "expected stops (PROTOCOL.md; not findings):\n");
        for (i = 0; i < TL_FP_RULE_COUNT; i++) {
            if (rep->stops[i].count > 0) {
                fprintf(out, "  %6llu  %s\n", (unsigned long long)rep->stops[i].count, rep->stops[i].rule);
                if (rep->stops[i].example[0] != '\0') {
                    fprintf(out, "          the peer said: %s\n", rep->stops[i].example);
                }
            }
        }
    }
    if (rep->finding_count == 0) {
        fprintf(out, "findings: none\n");
    } else {
        fprintf(out, "findings: %zu%s\n", rep->finding_count,
                rep->findings_dropped ? " (more were not kept)" : "");
        fprintf(out, "  %-4s %-9s %-16s %6s  %-28s %s\n", "id", "oracle", "first seen", "seen", "reproducer",
                "signature");
        for (i = 0; i < rep->finding_count; i++) {
            const tl_fuzzpeer_finding *F = &rep->findings[i];
            char when[40], repro[64];

            snprintf(when, sizeof when, "%.1f s, case %llu", (double)F->first_ms / 1000.0,
                     (unsigned long long)F->first_case);
            snprintf(repro, sizeof repro, "%zu frame%s, %zu B%s", F->frames, F->frames == 1 ? "" : "s",
                     F->bytes, F->minimized > 0 ? " (min)" : "");
            fprintf(out, "  %-4s %-9s %-16s %6llu  %-28s %s\n", F->id, tl_fuzzpeer_oracle_name(F->oracle),
                    when, (unsigned long long)F->count, repro, F->signature);
            fprintf(out, "       %s\n", F->detail);
            if (F->replay[0] != '\0') {
                fprintf(out, "       replay: %s\n", F->replay);
            }
        }
    }
    if (rep->end_reason[0] != '\0') {
        fprintf(out, "ended: %s\n", rep->end_reason);
    }
    fprintf(out, "result: %s\n", rep->finding_count == 0 ? "nothing found" : "FINDINGS");
    return ferror(out) ? -1 : 0;
}

static void xml_text(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        switch (ch) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:
            if (ch < 0x20 && ch != '\n' && ch != '\t') {
                fprintf(out, "&#x%x;", 0xFFFD);
            } else {
                fputc(ch, out);
            }
        }
    }
}

int tl_fuzzpeer_write_junit(FILE *out, const tl_fuzzpeer_report *rep)
{
    size_t i, tests = rep->finding_count;
    int o;
    double secs = (double)rep->elapsed_ms / 1000.0;
    unsigned with[TL_FP_ORACLE_COUNT] = {0};

    for (i = 0; i < rep->finding_count; i++) {
        with[rep->findings[i].oracle]++;
    }
    for (o = 0; o < TL_FP_ORACLE_COUNT; o++) {
        tests += with[o] == 0;
    }
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(out, "<testsuites name=\"tofulab fuzz-peer\" tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n",
            tests, rep->finding_count, secs);
    fprintf(out, "  <testsuite name=\"fuzz-peer ");
    xml_text(out, rep->peer);
    fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\" time=\"%.3f\">\n", tests,
            rep->finding_count, secs);
    fprintf(out, "    <properties>\n");
    fprintf(out, "      <property name=\"seed\" value=\"%llu\"/>\n", (unsigned long long)rep->seed);
    fprintf(out, "      <property name=\"cases\" value=\"%llu\"/>\n", (unsigned long long)rep->cases);
    fprintf(out, "      <property name=\"cases_per_second\" value=\"%.0f\"/>\n", rep->cases_per_s);
    fprintf(out, "      <property name=\"restarts\" value=\"%llu\"/>\n", (unsigned long long)rep->restarts);
    for (i = 0; i < TL_FP_RULE_COUNT; i++) {
        if (rep->stops[i].count > 0) {
            fprintf(out, "      <property name=\"expected stop: ");
            xml_text(out, rep->stops[i].rule);
            fprintf(out, "\" value=\"%llu\"/>\n", (unsigned long long)rep->stops[i].count);
        }
    }
    fprintf(out, "    </properties>\n");
    for (o = 0; o < TL_FP_ORACLE_COUNT; o++) {
        if (with[o] == 0) {
            fprintf(out,
                    "    <testcase classname=\"fuzz-peer\" name=\"%s: nothing found in %llu cases\" "
                    "time=\"%.3f\"/>\n",
                    tl_fuzzpeer_oracle_name((tl_fp_oracle)o), (unsigned long long)rep->cases, secs);
        }
    }
    for (i = 0; i < rep->finding_count; i++) {
        const tl_fuzzpeer_finding *F = &rep->findings[i];

        fprintf(out, "    <testcase classname=\"fuzz-peer.%s\" name=\"%s ",
                tl_fuzzpeer_oracle_name(F->oracle), F->id);
        xml_text(out, F->signature);
        fprintf(out, "\" time=\"%.3f\">\n      <failure type=\"%s\" message=\"", (double)F->first_ms / 1000.0,
                tl_fuzzpeer_oracle_name(F->oracle));
        xml_text(out, F->detail);
        fprintf(out, "\">");
        fprintf(out, "first seen at case %llu after %.1f s, seen %llu times\n",
                (unsigned long long)F->first_case, (double)F->first_ms / 1000.0,
                (unsigned long long)F->count);
        if (F->stderr_line[0] != '\0') {
            fprintf(out, "peer stderr: ");
            xml_text(out, F->stderr_line);
            fprintf(out, "\n");
        }
        if (F->dir[0] != '\0') {
            fprintf(out, "saved in ");
            xml_text(out, F->dir);
            fprintf(out, "\nreplay: ");
            xml_text(out, F->replay);
            fprintf(out, "\n");
        }
        fprintf(out, "</failure>\n    </testcase>\n");
    }
    fprintf(out, "  </testsuite>\n</testsuites>\n");
    return ferror(out) ? -1 : 0;
}
