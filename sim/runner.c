/*
 * Runs a parsed scenario for one seed on the simulator: builds the network,
 * schedules the actions, runs for the scenario's duration, then hands the
 * run to the verdict (verdict.c) through the simulator's scn_host view.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "scenario.h"
#include "verdict.h"

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

/* ------------------------------------------------------------ the sim as a host */

static void sim_service_report(void *ctx, size_t svc, tl_svc_report *out)
{
    tl_sim_service_report(ctx, (uint32_t)svc, out);
}

static int sim_service_done(void *ctx, size_t svc) { return tl_sim_service_done(ctx, (uint32_t)svc); }

static void sim_node_stats(void *ctx, size_t node, tl_sim_node_stats *out)
{
    tl_sim_node_stats_get(ctx, (uint32_t)node, out);
}

static void sim_net_stats(void *ctx, tl_sim_stats *out) { tl_sim_get_stats(ctx, out); }

/* The simulator's own oracles: engine invariants, leaks, the host oracles. */
static void sim_checks(const scn_host *h, const tl_scenario *scn, tl_scn_result *res)
{
    tl_sim *sim = h->ctx;
    /* An oracle on every run, whatever the file expects: the invariants of
     * every live engine hold at the end (tl_engine_check). */
    for (uint32_t n = 0; n < tl_sim_node_count(sim); n++) {
        tl_engine *eng = tl_sim_node_engine(sim, n);
        const char *broken = eng != NULL ? tl_engine_check(eng) : NULL;
        if (broken != NULL) {
            scn_fail(h, res, "%s: node %s: engine invariant: %s", scn->file, tl_sim_node_name(sim, n),
                     broken);
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
            scn_fail(h, res, "%s: node %s: %u message(s) leaked by finished services", scn->file,
                     tl_sim_node_name(sim, n), app);
        }
    }
    /* The host oracles (sim.h, tl_sim_oracle_error): per-channel FIFO,
     * channel_closed once, last and never missing. */
    if (tl_sim_oracle_error(sim) != NULL) {
        scn_fail(h, res, "%s: %s", scn->file, tl_sim_oracle_error(sim));
    }
}

static void sim_summary_head(void *ctx, FILE *f, uint64_t seed, const tl_scn_result *res)
{
    const tl_sim_stats *st = &res->stats;
    char end[40];
    (void)ctx;
    scn_format_time(end, sizeof end, res->end_ns);
    fprintf(f,
            "seed %llu: %s virtual, %llu events, %llu segments (%llu lost, %llu retransmitted), %llu "
            "messages delivered\n",
            (unsigned long long)seed, end, (unsigned long long)st->events,
            (unsigned long long)st->segments_sent,
            (unsigned long long)(st->lost_random + st->lost_queue + st->lost_partition + st->lost_dead),
            (unsigned long long)st->retransmits, (unsigned long long)st->messages_delivered);
}

static void sim_json_stats(void *ctx, FILE *f, const tl_scn_result *res)
{
    const tl_sim_stats *st = &res->stats;
    (void)ctx;
    fprintf(f,
            "\"events\":%llu,\"trace_lines\":%llu,\"segments\":%llu,\"retransmits\":%llu,"
            "\"timeouts\":%llu,\"lost_random\":%llu,\"lost_queue\":%llu,\"lost_partition\":%llu,"
            "\"lost_dead\":%llu,\"corrupted\":%llu,\"duplicated\":%llu,\"resets\":%llu,\"connections\":%llu,"
            "\"accepted\":%llu,\"aborted\":%llu,\"messages_delivered\":%llu,\"messages_posted\":%llu",
            (unsigned long long)st->events, (unsigned long long)st->trace_lines,
            (unsigned long long)st->segments_sent, (unsigned long long)st->retransmits,
            (unsigned long long)st->timeouts, (unsigned long long)st->lost_random,
            (unsigned long long)st->lost_queue, (unsigned long long)st->lost_partition,
            (unsigned long long)st->lost_dead, (unsigned long long)st->corrupted,
            (unsigned long long)st->duplicated, (unsigned long long)st->resets_sent,
            (unsigned long long)st->connections, (unsigned long long)st->accepted,
            (unsigned long long)st->aborted, (unsigned long long)st->messages_delivered,
            (unsigned long long)st->messages_posted);
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
    if (scn->real_line != 0) {
        return TL_E_STATE; /* real processes: hosts/realrun.c runs them */
    }
    memset(&so, 0, sizeof so);
    so.seed = seed;
    so.trace = opt->trace;
    so.pcap = opt->pcap;
    so.on_trace = opt->on_trace;
    so.trace_ctx = opt->trace_ctx;
    so.max_events = opt->max_events;
    if ((rc = tl_sim_create(&so, &sim)) != TL_OK) {
        return rc;
    }
    scn_host h;
    memset(&h, 0, sizeof h);
    h.ctx = sim;
    h.service_report = sim_service_report;
    h.service_done = sim_service_done;
    h.node_stats = sim_node_stats;
    h.net_stats = sim_net_stats;
    h.checks = sim_checks;
    h.summary_head = sim_summary_head;
    h.json_stats = sim_json_stats;
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
        if (rc == TL_OK) {
            scn_at_heal(scn, &h, at_heal);
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
    rc = scn_verdict(scn, seed, &h, at_heal, live, opt, res, expect_failed);
    free(at_heal);
    tl_sim_destroy(sim);
    return rc;
}
