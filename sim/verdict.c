/*
 * The verdict of a finished run over a scn_host view (verdict.h): the
 * expectations, the host's own oracles, the request accounting, the
 * reports and the liveness oracle; the human summary lines and one JSON
 * object. The simulator (runner.c) and the real-process runner
 * (hosts/realrun.c) both end their runs here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verdict.h"
#include "scenario.h"
#include "values.h"

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

/* The actual value of an expectation after the run. */
uint64_t scn_actual(const tl_scenario *scn, const scn_host *h, const scn_expect *e)
{
    tl_sim_stats st;
    h->net_stats(h->ctx, &st);
    switch (e->metric) {
    case M_EVENTS: return st.events;
    case M_RETRANSMITS: return st.retransmits;
    case M_TIMEOUTS: return st.timeouts;
    case M_LOST: return st.lost_random + st.lost_queue + st.lost_partition + st.lost_dead;
    case M_CORRUPTED: return st.corrupted;
    case M_RESETS: return st.resets_sent;
    case M_CONNECTIONS: return st.connections;
    case M_ACCEPTED: return st.accepted;
    case M_ABORTED: return st.aborted;
    case M_PROBES: return st.zero_window_probes;
    case M_DELIVERED: return st.messages_delivered;
    default: break;
    }
    tl_sim_node_stats ns;
    h->node_stats(h->ctx, (size_t)e->node, &ns);
    switch (e->metric) {
    case M_CLOSED_BY: return ns.closed_by[e->status];
    case M_STATE: return (uint64_t)ns.state;
    case M_INCARNATION: return ns.incarnation;
    default: break;
    }
    tl_svc_report sum;
    memset(&sum, 0, sizeof sum);
    uint64_t all_done = 1, any = 0;
    for (size_t i = 0; i < scn->nservices; i++) {
        if (scn->services[i].node != e->node || (e->service >= 0 && (size_t)e->service != i)) {
            continue;
        }
        tl_svc_report r;
        h->service_report(h->ctx, i, &r);
        tl_svc_report_add(&sum, &r, 1);
        if (!h->service_done(h->ctx, i)) {
            all_done = 0;
        }
        any = 1;
    }
    switch (e->metric) {
    case M_SENT: return sum.sent;
    case M_ANSWERED: return sum.answered;
    case M_FAILED: return sum.failed;
    case M_ERRORS: return sum.errors;
    case M_SIGNALS: return sum.signals;
    case M_BYTES: return sum.bytes;
    case M_CLOSED: return sum.closed;
    case M_LATENCY_MAX: return sum.latency_max_ns;
    case M_LATENCY_MEAN: return sum.latency_count ? sum.latency_sum_ns / sum.latency_count : 0;
    case M_DONE: return any && all_done;
    case M_OPEN: return sum.open;
    case M_ABANDONED: return sum.abandoned;
    case M_OUT_OF_ORDER: return sum.out_of_order;
    case M_SUSPICIONS: return sum.suspicions;
    case M_FALSE_SUSPICIONS: return sum.false_suspicions;
    case M_DEATHS: return sum.deaths;
    case M_CONNECT_FAILURES: return sum.connect_failures;
    case M_RECONNECTS: return sum.reconnects;
    default: return 0;
    }
}

int scn_holds(scn_op op, uint64_t a, uint64_t v)
{
    switch (op) {
    case OP_EQ: return a == v;
    case OP_NE: return a != v;
    case OP_LT: return a < v;
    case OP_LE: return a <= v;
    case OP_GT: return a > v;
    case OP_GE: return a >= v;
    }
    return 0;
}

void scn_value_text(const scn_expect *e, uint64_t v, char *out, size_t cap)
{
    static const char *states[] = {"up", "paused", "down", "dead"};
    if (e->is_time) {
        scn_format_time(out, cap, v);
    } else if (e->metric == M_STATE) {
        snprintf(out, cap, "%s", v < 4 ? states[v] : "?");
    } else {
        snprintf(out, cap, "%llu", (unsigned long long)v);
    }
}

static void summary_services(const tl_scenario *scn, const scn_host *h, FILE *f)
{
    for (size_t i = 0; i < scn->nservices; i++) {
        tl_svc_report r;
        char mean[32], max[32];
        h->service_report(h->ctx, i, &r);
        scn_format_time(mean, sizeof mean, r.latency_count ? r.latency_sum_ns / r.latency_count : 0);
        scn_format_time(max, sizeof max, r.latency_max_ns);
        fprintf(f,
                "  %s/%s: sent=%llu answered=%llu failed=%llu open=%llu errors=%llu signals=%llu closed=%llu "
                "latency mean=%s max=%s%s\n",
                scn->nodes[scn->services[i].node].name, scn->services[i].name, (unsigned long long)r.sent,
                (unsigned long long)r.answered, (unsigned long long)r.failed, (unsigned long long)r.open,
                (unsigned long long)r.errors, (unsigned long long)r.signals, (unsigned long long)r.closed,
                mean, max, h->service_done(h->ctx, i) ? " (done)" : "");
        if (r.connect_failures || r.reconnects) {
            fprintf(f, "    connect-failures=%llu reconnects=%llu\n", (unsigned long long)r.connect_failures,
                    (unsigned long long)r.reconnects);
        }
        if (r.abandoned || r.out_of_order || r.suspicions) {
            fprintf(
                f, "    abandoned=%llu out-of-order=%llu suspicions=%llu false-suspicions=%llu deaths=%llu\n",
                (unsigned long long)r.abandoned, (unsigned long long)r.out_of_order,
                (unsigned long long)r.suspicions, (unsigned long long)r.false_suspicions,
                (unsigned long long)r.deaths);
        }
        if (r.first_error[0]) {
            fprintf(f, "    first error: %s\n", r.first_error);
        }
    }
}

static void json_run(const tl_scenario *scn, const scn_host *h, uint64_t seed, const tl_scn_result *res,
                     const uint64_t *actuals, FILE *f)
{
    fprintf(f, "{\"seed\":%llu,\"result\":\"%s\",\"trace_hash\":\"%016llx\",\"virtual_ns\":%llu,",
            (unsigned long long)seed, res->passed ? "PASS" : "FAIL", (unsigned long long)res->trace_hash,
            (unsigned long long)res->end_ns);
    fputs("\"stats\":{", f);
    h->json_stats(h->ctx, f, res);
    fputs("},", f);
    fputs("\"services\":[", f);
    for (size_t i = 0; i < scn->nservices; i++) {
        tl_svc_report r;
        h->service_report(h->ctx, i, &r);
        fprintf(f, "%s{\"node\":", i ? "," : "");
        json_str(f, scn->nodes[scn->services[i].node].name);
        fputs(",\"name\":", f);
        json_str(f, scn->services[i].name);
        fprintf(f,
                ",\"sent\":%llu,\"answered\":%llu,\"failed\":%llu,\"open\":%llu,\"abandoned\":%llu,"
                "\"out_of_order\":%llu,\"errors\":%llu,\"signals\":%llu,\"bytes\":%llu,\"closed\":%llu,"
                "\"suspicions\":%llu,\"false_suspicions\":%llu,\"deaths\":%llu,\"connect_failures\":%llu,"
                "\"reconnects\":%llu,"
                "\"latency_count\":%llu,\"latency_sum_ns\":%llu,\"latency_max_ns\":%llu,\"done\":%s,"
                "\"first_error\":",
                (unsigned long long)r.sent, (unsigned long long)r.answered, (unsigned long long)r.failed,
                (unsigned long long)r.open, (unsigned long long)r.abandoned,
                (unsigned long long)r.out_of_order, (unsigned long long)r.errors,
                (unsigned long long)r.signals, (unsigned long long)r.bytes, (unsigned long long)r.closed,
                (unsigned long long)r.suspicions, (unsigned long long)r.false_suspicions,
                (unsigned long long)r.deaths, (unsigned long long)r.connect_failures,
                (unsigned long long)r.reconnects, (unsigned long long)r.latency_count,
                (unsigned long long)r.latency_sum_ns, (unsigned long long)r.latency_max_ns,
                h->service_done(h->ctx, i) ? "true" : "false");
        json_str(f, r.first_error);
        fputc('}', f);
    }
    fputs("],\"expectations\":[", f);
    for (size_t i = 0; i < scn->nexpects; i++) {
        const scn_expect *e = &scn->expects[i];
        char a[40];
        scn_value_text(e, actuals[i], a, sizeof a);
        fprintf(f, "%s{\"line\":%u,\"expect\":", i ? "," : "", e->line);
        json_str(f, e->text);
        fputs(",\"actual\":", f);
        json_str(f, a);
        fprintf(f, ",\"pass\":%s}", scn_holds(e->op, actuals[i], e->value) ? "true" : "false");
    }
    fputs("],\"reports\":[", f);
    for (size_t i = 0; i < scn->nreports; i++) {
        const scn_expect *e = &scn->reports[i];
        char a[40];
        scn_value_text(e, scn_actual(scn, h, e), a, sizeof a);
        fprintf(f, "%s{\"line\":%u,\"report\":", i ? "," : "", e->line);
        json_str(f, e->text);
        fputs(",\"value\":", f);
        json_str(f, a);
        fputc('}', f);
    }
    fputs("]}", f);
}

/* Count a failed check of the run; keep the text of the first (cut if long);
 * a line on h->failures when the host wants every one. */
void scn_fail(const scn_host *h, tl_scn_result *res, const char *fmt, ...)
{
    va_list ap;
    res->failed++;
    if (res->first_failure[0] == '\0') {
        va_start(ap, fmt);
        if (vsnprintf(res->first_failure, sizeof res->first_failure, fmt, ap) < 0) {
            res->first_failure[0] = '\0';
        }
        va_end(ap);
    }
    if (h != NULL && h->failures != NULL) {
        fputs("  FAIL ", h->failures);
        va_start(ap, fmt);
        vfprintf(h->failures, fmt, ap);
        va_end(ap);
        fputc('\n', h->failures);
    }
}

/* ------------------------------------------------------------ the verdict */

uint64_t *scn_at_heal(const tl_scenario *scn, const scn_host *h, uint64_t *at_heal)
{
    for (size_t i = 0; i < scn->nexpects; i++) {
        if (scn->expects[i].since_heal) {
            at_heal[i] = scn_actual(scn, h, &scn->expects[i]);
        }
    }
    for (size_t sv = 0; sv < scn->nservices; sv++) {
        tl_svc_report r;
        h->service_report(h->ctx, sv, &r);
        at_heal[scn->nexpects + sv] = r.answered + r.failed;
    }
    return at_heal;
}

int scn_verdict(const tl_scenario *scn, uint64_t seed, const scn_host *h, const uint64_t *at_heal, int live,
                const tl_scn_run_options *opt, tl_scn_result *res, unsigned char *expect_failed)
{
    res->expectations = (unsigned)scn->nexpects;
    uint64_t *actuals = calloc(scn->nexpects ? scn->nexpects : 1, sizeof *actuals);
    if (actuals == NULL) {
        return TL_E_NOMEM;
    }
    for (size_t i = 0; i < scn->nexpects; i++) {
        const scn_expect *e = &scn->expects[i];
        actuals[i] = scn_actual(scn, h, e);
        if (e->since_heal) {
            actuals[i] -= at_heal[i];
        }
        if (expect_failed) {
            expect_failed[i] = !scn_holds(e->op, actuals[i], e->value);
        }
        if (!scn_holds(e->op, actuals[i], e->value)) {
            char a[40];
            scn_value_text(e, actuals[i], a, sizeof a);
            scn_fail(h, res, "%s:%u: expect %s (actual %s)", scn->file, e->line, e->text, a);
        }
    }
    if (h->checks != NULL) {
        h->checks(h, scn, res);
    }
    /* Each request ends in exactly one answer or one explicit failure: the
     * accounting of every request-originating service adds up, and a finished
     * service left none open (nothing silently lost). */
    for (size_t sv = 0; sv < scn->nservices; sv++) {
        tl_svc_report r;
        char why[200];
        h->service_report(h->ctx, sv, &r);
        const char *bad = tl_svc_report_check(&r, h->service_done(h->ctx, sv), why, sizeof why);
        if (bad != NULL) {
            scn_fail(h, res, "%s: %s/%s: %s", scn->file, scn->nodes[scn->services[sv].node].name,
                     scn->services[sv].name, bad);
        }
    }
    for (size_t i = 0; i < scn->nreports && i < TL_SCN_REPORTS_MAX; i++) {
        res->report_value[res->reports++] = scn_actual(scn, h, &scn->reports[i]);
    }
    /* Liveness: after the faults end, a client that still waits for answers
     * makes progress — one of its open requests is answered or fails
     * explicitly within the rest of the run — or it is stuck. */
    for (size_t sv = 0; live && sv < scn->nservices; sv++) {
        tl_svc_report r;
        char t1[40], t2[40];
        h->service_report(h->ctx, sv, &r);
        if (!r.requests || r.open == 0 || h->service_done(h->ctx, sv) ||
            r.answered + r.failed != at_heal[scn->nexpects + sv]) {
            continue;
        }
        scn_format_time(t1, sizeof t1, scn->faults_end_ns);
        scn_format_time(t2, sizeof t2, res->end_ns - scn->faults_end_ns);
        scn_fail(h, res,
                 "%s: %s/%s: liveness: %llu request(s) open and none answered or failed in the %s after the "
                 "faults ended (at %s)",
                 scn->file, scn->nodes[scn->services[sv].node].name, scn->services[sv].name,
                 (unsigned long long)r.open, t2, t1);
    }
    res->passed = res->failed == 0;

    if (opt->summary) {
        FILE *f = opt->summary;
        h->summary_head(h->ctx, f, seed, res);
        if (opt->swarm) {
            /* what this seed drew, to read the run by */
            char stream[80];
            for (size_t i = 0; i < scn->nlinks; i++) {
                const scn_link *l = &scn->links[i];
                tl_sim_link p;
                if (l->sw.mask == 0) {
                    continue;
                }
                scn_link_stream(scn, i, stream, sizeof stream);
                scn_swarm_draw(&l->p, &l->sw, 1, seed, stream, 0, &p);
                fprintf(f, "  swarm: link %s %s%s", l->a < 0 ? "*" : scn->nodes[l->a].name,
                        l->b < 0 ? "*" : scn->nodes[l->b].name, l->oneway ? " oneway" : "");
                scn_write_link_words(f, &p);
                fputc('\n', f);
            }
            for (size_t i = 0; i < scn->nactions; i++) {
                const scn_action *a = &scn->actions[i];
                tl_sim_link p;
                char t[40];
                if (!a->is_link || a->sw.mask == 0) {
                    continue;
                }
                scn_action_stream(scn, i, stream, sizeof stream);
                scn_swarm_draw(&a->link, &a->sw, 1, seed, stream, a->t, &p);
                scn_format_time(t, sizeof t, a->t);
                fprintf(f, "  swarm: at %s link %s %s%s", t, scn->nodes[a->a].name, scn->nodes[a->b].name,
                        (a->flags & TL_SIM_ONEWAY) ? " oneway" : "");
                scn_write_link_words(f, &p);
                fputc('\n', f);
            }
        }
        summary_services(scn, h, f);
        for (size_t i = 0; i < scn->nexpects; i++) {
            const scn_expect *e = &scn->expects[i];
            char a[40];
            scn_value_text(e, actuals[i], a, sizeof a);
            fprintf(f, "  %-4s expect %s (actual %s)  [line %u]\n",
                    scn_holds(e->op, actuals[i], e->value) ? "ok" : "FAIL", e->text, a, e->line);
        }
        for (size_t i = 0; i < scn->nreports; i++) {
            const scn_expect *e = &scn->reports[i];
            char a[40];
            scn_value_text(e, scn_actual(scn, h, e), a, sizeof a);
            fprintf(f, "  report %s = %s  [line %u]\n", e->text, a, e->line);
        }
        fprintf(f, "seed %llu: %s, trace %016llx\n", (unsigned long long)seed, res->passed ? "PASS" : "FAIL",
                (unsigned long long)res->trace_hash);
    }
    if (opt->json) {
        json_run(scn, h, seed, res, actuals, opt->json);
    }
    free(actuals);
    return TL_OK;
}
