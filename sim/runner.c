/*
 * Runs a parsed scenario for one seed: builds the network, schedules the
 * actions, runs for the scenario's duration, evaluates the expectations and
 * reports (human summary lines, one JSON object).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

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

static int build(const tl_scenario *scn, tl_sim *sim, uint64_t seed, int swarm)
{
    char stream[80];
    int rc;
    tl_sim_node_options base;
    tl_sim_node_defaults(&base);
    scn_apply_options(&base, &scn->tcp, scn->tcp_mask);
    for (size_t i = 0; i < scn->nnodes; i++) {
        tl_sim_node_options o = base;
        scn_apply_options(&o, &scn->nodes[i].opt, scn->nodes[i].mask);
        if ((rc = tl_sim_node_add(sim, scn->nodes[i].name, &o, NULL)) != TL_OK) {
            return rc;
        }
    }
    /* `link * *` sets the default first; specific links override it */
    for (size_t i = 0; i < scn->nlinks; i++) {
        const scn_link *l = &scn->links[i];
        tl_sim_link p;
        scn_link_stream(scn, i, stream, sizeof stream);
        scn_swarm_draw(&l->p, &l->sw, swarm, seed, stream, 0, &p);
        if (l->a < 0 && l->b < 0 && (rc = tl_sim_link_set_default(sim, &p)) != TL_OK) {
            return rc;
        }
    }
    for (size_t i = 0; i < scn->nlinks; i++) {
        const scn_link *l = &scn->links[i];
        tl_sim_link p;
        if (l->a < 0 && l->b < 0) {
            continue;
        }
        scn_link_stream(scn, i, stream, sizeof stream);
        scn_swarm_draw(&l->p, &l->sw, swarm, seed, stream, 0, &p);
        for (size_t a = 0; a < scn->nnodes; a++) {
            for (size_t b = 0; b < scn->nnodes; b++) {
                int ab = (l->a < 0 || (size_t)l->a == a) && (l->b < 0 || (size_t)l->b == b);
                int ba = !l->oneway && (l->a < 0 || (size_t)l->a == b) && (l->b < 0 || (size_t)l->b == a);
                if (a == b && (l->a < 0 || l->b < 0)) {
                    continue; /* a wildcard never sets a loopback */
                }
                if ((ab || ba) && (rc = tl_sim_link_set(sim, (uint32_t)a, (uint32_t)b, &p)) != TL_OK) {
                    return rc;
                }
            }
        }
    }
    for (size_t i = 0; i < scn->nservices; i++) {
        const scn_service *s = &scn->services[i];
        if ((rc = tl_sim_service_add(sim, (uint32_t)s->node, s->name, s->kind->create, s->cfg, s->start,
                                     NULL)) != TL_OK) {
            return rc;
        }
    }
    if (scn->heal_line && (rc = tl_sim_at(sim, scn->heal_ns, TL_SIM_HEAL_ALL, 0, 0, 0, 0)) != TL_OK) {
        return rc;
    }
    for (size_t i = 0; i < scn->nactions; i++) {
        const scn_action *a = &scn->actions[i];
        if (a->is_link) {
            tl_sim_link p;
            scn_action_stream(scn, i, stream, sizeof stream);
            scn_swarm_draw(&a->link, &a->sw, swarm, seed, stream, a->t, &p);
            rc = tl_sim_at_link(sim, a->t, (uint32_t)a->a, (uint32_t)a->b, &p);
            if (rc == TL_OK && !(a->flags & TL_SIM_ONEWAY)) {
                rc = tl_sim_at_link(sim, a->t, (uint32_t)a->b, (uint32_t)a->a, &p);
            }
        } else {
            uint32_t b = a->b < 0 ? TL_SIM_ALL_NODES : (uint32_t)a->b;
            rc = tl_sim_at(sim, a->t, a->action, (uint32_t)a->a, b, a->arg, a->flags);
        }
        if (rc != TL_OK) {
            return rc;
        }
    }
    return TL_OK;
}

/* The actual value of an expectation after the run. */
static uint64_t actual(const tl_scenario *scn, tl_sim *sim, const scn_expect *e)
{
    tl_sim_stats st;
    tl_sim_get_stats(sim, &st);
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
    tl_sim_node_stats_get(sim, (uint32_t)e->node, &ns);
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
        tl_sim_service_report(sim, (uint32_t)i, &r);
        tl_svc_report_add(&sum, &r, 1);
        if (!tl_sim_service_done(sim, (uint32_t)i)) {
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
    default: return 0;
    }
}

static int holds(scn_op op, uint64_t a, uint64_t v)
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

static void value_text(const scn_expect *e, uint64_t v, char *out, size_t cap)
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

static void summary_services(const tl_scenario *scn, tl_sim *sim, FILE *f)
{
    for (size_t i = 0; i < scn->nservices; i++) {
        tl_svc_report r;
        char mean[32], max[32];
        tl_sim_service_report(sim, (uint32_t)i, &r);
        scn_format_time(mean, sizeof mean, r.latency_count ? r.latency_sum_ns / r.latency_count : 0);
        scn_format_time(max, sizeof max, r.latency_max_ns);
        fprintf(f,
                "  %s/%s: sent=%llu answered=%llu failed=%llu open=%llu errors=%llu signals=%llu closed=%llu "
                "latency mean=%s max=%s%s\n",
                scn->nodes[scn->services[i].node].name, scn->services[i].name, (unsigned long long)r.sent,
                (unsigned long long)r.answered, (unsigned long long)r.failed, (unsigned long long)r.open,
                (unsigned long long)r.errors, (unsigned long long)r.signals, (unsigned long long)r.closed,
                mean, max, tl_sim_service_done(sim, (uint32_t)i) ? " (done)" : "");
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

static void json_run(const tl_scenario *scn, tl_sim *sim, uint64_t seed, const tl_scn_result *res,
                     const uint64_t *actuals, FILE *f)
{
    const tl_sim_stats *st = &res->stats;
    fprintf(f, "{\"seed\":%llu,\"result\":\"%s\",\"trace_hash\":\"%016llx\",\"virtual_ns\":%llu,",
            (unsigned long long)seed, res->passed ? "PASS" : "FAIL", (unsigned long long)res->trace_hash,
            (unsigned long long)res->end_ns);
    fprintf(f,
            "\"stats\":{\"events\":%llu,\"trace_lines\":%llu,\"segments\":%llu,\"retransmits\":%llu,"
            "\"timeouts\":%llu,\"lost_random\":%llu,\"lost_queue\":%llu,\"lost_partition\":%llu,"
            "\"lost_dead\":%llu,\"corrupted\":%llu,\"duplicated\":%llu,\"resets\":%llu,\"connections\":%llu,"
            "\"accepted\":%llu,\"aborted\":%llu,\"messages_delivered\":%llu,\"messages_posted\":%llu},",
            (unsigned long long)st->events, (unsigned long long)st->trace_lines,
            (unsigned long long)st->segments_sent, (unsigned long long)st->retransmits,
            (unsigned long long)st->timeouts, (unsigned long long)st->lost_random,
            (unsigned long long)st->lost_queue, (unsigned long long)st->lost_partition,
            (unsigned long long)st->lost_dead, (unsigned long long)st->corrupted,
            (unsigned long long)st->duplicated, (unsigned long long)st->resets_sent,
            (unsigned long long)st->connections, (unsigned long long)st->accepted,
            (unsigned long long)st->aborted, (unsigned long long)st->messages_delivered,
            (unsigned long long)st->messages_posted);
    fputs("\"services\":[", f);
    for (size_t i = 0; i < scn->nservices; i++) {
        tl_svc_report r;
        tl_sim_service_report(sim, (uint32_t)i, &r);
        fprintf(f, "%s{\"node\":", i ? "," : "");
        json_str(f, scn->nodes[scn->services[i].node].name);
        fputs(",\"name\":", f);
        json_str(f, scn->services[i].name);
        fprintf(f,
                ",\"sent\":%llu,\"answered\":%llu,\"failed\":%llu,\"open\":%llu,\"abandoned\":%llu,"
                "\"out_of_order\":%llu,\"errors\":%llu,\"signals\":%llu,\"bytes\":%llu,\"closed\":%llu,"
                "\"suspicions\":%llu,\"false_suspicions\":%llu,\"deaths\":%llu,"
                "\"latency_count\":%llu,\"latency_sum_ns\":%llu,\"latency_max_ns\":%llu,\"done\":%s,"
                "\"first_error\":",
                (unsigned long long)r.sent, (unsigned long long)r.answered, (unsigned long long)r.failed,
                (unsigned long long)r.open, (unsigned long long)r.abandoned,
                (unsigned long long)r.out_of_order, (unsigned long long)r.errors,
                (unsigned long long)r.signals, (unsigned long long)r.bytes, (unsigned long long)r.closed,
                (unsigned long long)r.suspicions, (unsigned long long)r.false_suspicions,
                (unsigned long long)r.deaths, (unsigned long long)r.latency_count,
                (unsigned long long)r.latency_sum_ns, (unsigned long long)r.latency_max_ns,
                tl_sim_service_done(sim, (uint32_t)i) ? "true" : "false");
        json_str(f, r.first_error);
        fputc('}', f);
    }
    fputs("],\"expectations\":[", f);
    for (size_t i = 0; i < scn->nexpects; i++) {
        const scn_expect *e = &scn->expects[i];
        char a[40];
        value_text(e, actuals[i], a, sizeof a);
        fprintf(f, "%s{\"line\":%u,\"expect\":", i ? "," : "", e->line);
        json_str(f, e->text);
        fputs(",\"actual\":", f);
        json_str(f, a);
        fprintf(f, ",\"pass\":%s}", holds(e->op, actuals[i], e->value) ? "true" : "false");
    }
    fputs("],\"reports\":[", f);
    for (size_t i = 0; i < scn->nreports; i++) {
        const scn_expect *e = &scn->reports[i];
        char a[40];
        value_text(e, actual(scn, sim, e), a, sizeof a);
        fprintf(f, "%s{\"line\":%u,\"report\":", i ? "," : "", e->line);
        json_str(f, e->text);
        fputs(",\"value\":", f);
        json_str(f, a);
        fputc('}', f);
    }
    fputs("]}", f);
}

/* Count a failed check of the run; keep the text of the first (cut if long). */
static void run_failed(tl_scn_result *res, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void run_failed(tl_scn_result *res, const char *fmt, ...)
{
    res->failed++;
    if (res->first_failure[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        if (vsnprintf(res->first_failure, sizeof res->first_failure, fmt, ap) < 0) {
            res->first_failure[0] = '\0';
        }
        va_end(ap);
    }
}

int tl_scn_run(const tl_scenario *scn, uint64_t seed, const tl_scn_run_options *opt, tl_scn_result *res)
{
    return scn_run(scn, seed, opt, res, NULL);
}

int scn_run(const tl_scenario *scn, uint64_t seed, const tl_scn_run_options *opt, tl_scn_result *res,
            unsigned char *expect_failed)
{
    tl_scn_run_options none;
    tl_sim_options so;
    tl_sim *sim = NULL;
    int rc;

    if (opt == NULL) {
        memset(&none, 0, sizeof none);
        opt = &none;
    }
    memset(res, 0, sizeof *res);
    memset(&so, 0, sizeof so);
    so.seed = seed;
    so.trace = opt->trace;
    so.pcap = opt->pcap;
    so.on_trace = opt->on_trace;
    so.trace_ctx = opt->trace_ctx;
    if ((rc = tl_sim_create(&so, &sim)) != TL_OK) {
        return rc;
    }
    /* The liveness phase (docs/scenarios.md "Safety and liveness"): when the
     * faults end before the end of the run, the run stops there once to note
     * what `since heal` expectations and the liveness oracle measure from. */
    uint64_t *at_heal = calloc(scn->nexpects + scn->nservices + 1, sizeof *at_heal);
    int live = scn->faults_end_known && scn->faults_end_ns < scn->duration;
    if (at_heal == NULL) {
        tl_sim_destroy(sim);
        return TL_E_NOMEM;
    }
    rc = build(scn, sim, seed, opt->swarm);
    if (rc == TL_OK && live) {
        rc = tl_sim_run(sim, scn->faults_end_ns);
        for (size_t i = 0; rc == TL_OK && i < scn->nexpects; i++) {
            if (scn->expects[i].since_heal) {
                at_heal[i] = actual(scn, sim, &scn->expects[i]);
            }
        }
        for (uint32_t sv = 0; rc == TL_OK && sv < tl_sim_service_count(sim); sv++) {
            tl_svc_report r;
            tl_sim_service_report(sim, sv, &r);
            at_heal[scn->nexpects + sv] = r.answered + r.failed;
        }
    }
    if (rc == TL_OK) {
        rc = tl_sim_run(sim, scn->duration);
    }
    if (rc != TL_OK) {
        free(at_heal);
        tl_sim_destroy(sim);
        return rc;
    }
    tl_sim_finish(sim);
    res->trace_hash = tl_sim_trace_hash(sim);
    res->end_ns = tl_sim_now(sim);
    tl_sim_get_stats(sim, &res->stats);
    res->expectations = (unsigned)scn->nexpects;

    uint64_t *actuals = calloc(scn->nexpects ? scn->nexpects : 1, sizeof *actuals);
    if (actuals == NULL) {
        tl_sim_destroy(sim);
        return TL_E_NOMEM;
    }
    for (size_t i = 0; i < scn->nexpects; i++) {
        const scn_expect *e = &scn->expects[i];
        actuals[i] = actual(scn, sim, e);
        if (e->since_heal) {
            actuals[i] -= at_heal[i];
        }
        if (expect_failed) {
            expect_failed[i] = !holds(e->op, actuals[i], e->value);
        }
        if (!holds(e->op, actuals[i], e->value)) {
            char a[40];
            value_text(e, actuals[i], a, sizeof a);
            run_failed(res, "%s:%u: expect %s (actual %s)", scn->file, e->line, e->text, a);
        }
    }
    /* An oracle on every run, whatever the file expects: the invariants of
     * every live engine hold at the end (tl_engine_check). */
    for (uint32_t n = 0; n < tl_sim_node_count(sim); n++) {
        tl_engine *eng = tl_sim_node_engine(sim, n);
        const char *broken = eng != NULL ? tl_engine_check(eng) : NULL;
        if (broken != NULL) {
            run_failed(res, "%s: node %s: engine invariant: %s", scn->file, tl_sim_node_name(sim, n), broken);
        }
    }
    /* No message leak: a node whose services have all finished holds no
     * message outside its engine and its pool. */
    for (uint32_t n = 0; n < tl_sim_node_count(sim); n++) {
        tl_engine *eng = tl_sim_node_engine(sim, n);
        int all_done = 1;
        for (uint32_t sv = 0; sv < tl_sim_service_count(sim); sv++) {
            if (tl_sim_service_node(sim, sv) == n && !tl_sim_service_done(sim, sv)) {
                all_done = 0;
            }
        }
        if (eng == NULL || !all_done) {
            continue;
        }
        tl_engine_stats es;
        tl_engine_get_stats(eng, &es);
        uint32_t app = es.messages_live - es.pool_now - es.engine_now;
        if (app != 0) {
            run_failed(res, "%s: node %s: %u message(s) leaked by finished services", scn->file,
                       tl_sim_node_name(sim, n), app);
        }
    }
    /* The host oracles (sim.h, tl_sim_oracle_error): per-channel FIFO,
     * channel_closed once, last and never missing. */
    if (tl_sim_oracle_error(sim) != NULL) {
        run_failed(res, "%s: %s", scn->file, tl_sim_oracle_error(sim));
    }
    /* Each request ends in exactly one answer or one explicit failure: the
     * accounting of every request-originating service adds up, and a finished
     * service left none open (nothing silently lost). */
    for (uint32_t sv = 0; sv < tl_sim_service_count(sim); sv++) {
        tl_svc_report r;
        char why[200];
        tl_sim_service_report(sim, sv, &r);
        const char *bad = tl_svc_report_check(&r, tl_sim_service_done(sim, sv), why, sizeof why);
        if (bad != NULL) {
            run_failed(res, "%s: %s/%s: %s", scn->file, tl_sim_node_name(sim, tl_sim_service_node(sim, sv)),
                       tl_sim_service_name(sim, sv), bad);
        }
    }
    for (size_t i = 0; i < scn->nreports && i < TL_SCN_REPORTS_MAX; i++) {
        res->report_value[res->reports++] = actual(scn, sim, &scn->reports[i]);
    }
    /* Liveness: after the faults end, a client that still waits for answers
     * makes progress — one of its open requests is answered or fails
     * explicitly within the rest of the run — or it is stuck. */
    for (uint32_t sv = 0; live && sv < tl_sim_service_count(sim); sv++) {
        tl_svc_report r;
        char t1[40], t2[40];
        tl_sim_service_report(sim, sv, &r);
        if (!r.requests || r.open == 0 || tl_sim_service_done(sim, sv) ||
            r.answered + r.failed != at_heal[scn->nexpects + sv]) {
            continue;
        }
        scn_format_time(t1, sizeof t1, scn->faults_end_ns);
        scn_format_time(t2, sizeof t2, res->end_ns - scn->faults_end_ns);
        run_failed(
            res,
            "%s: %s/%s: liveness: %llu request(s) open and none answered or failed in the %s after the "
            "faults ended (at %s)",
            scn->file, tl_sim_node_name(sim, tl_sim_service_node(sim, sv)), tl_sim_service_name(sim, sv),
            (unsigned long long)r.open, t2, t1);
    }
    res->passed = res->failed == 0;

    if (opt->summary) {
        FILE *f = opt->summary;
        const tl_sim_stats *st = &res->stats;
        char end[40];
        scn_format_time(end, sizeof end, res->end_ns);
        fprintf(f,
                "seed %llu: %s virtual, %llu events, %llu segments (%llu lost, %llu retransmitted), %llu "
                "messages delivered\n",
                (unsigned long long)seed, end, (unsigned long long)st->events,
                (unsigned long long)st->segments_sent,
                (unsigned long long)(st->lost_random + st->lost_queue + st->lost_partition + st->lost_dead),
                (unsigned long long)st->retransmits, (unsigned long long)st->messages_delivered);
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
        summary_services(scn, sim, f);
        for (size_t i = 0; i < scn->nexpects; i++) {
            const scn_expect *e = &scn->expects[i];
            char a[40];
            value_text(e, actuals[i], a, sizeof a);
            fprintf(f, "  %-4s expect %s (actual %s)  [line %u]\n",
                    holds(e->op, actuals[i], e->value) ? "ok" : "FAIL", e->text, a, e->line);
        }
        for (size_t i = 0; i < scn->nreports; i++) {
            const scn_expect *e = &scn->reports[i];
            char a[40];
            value_text(e, actual(scn, sim, e), a, sizeof a);
            fprintf(f, "  report %s = %s  [line %u]\n", e->text, a, e->line);
        }
        fprintf(f, "seed %llu: %s, trace %016llx\n", (unsigned long long)seed, res->passed ? "PASS" : "FAIL",
                (unsigned long long)res->trace_hash);
    }
    if (opt->json) {
        json_run(scn, sim, seed, res, actuals, opt->json);
    }
    free(actuals);
    free(at_heal);
    tl_sim_destroy(sim);
    return TL_OK;
}
