/*
 * The virtual network (sim/sim.h), three cases:
 *
 *   sim/rr-2node        delivered messages per second of wall time for a
 *                       2-node request/response run without faults (echo
 *                       server, one client, 64-byte requests, one
 *                       outstanding). Target >= 1 M/s on one core.
 *   sim/rr-loss-seeds   seeds per second of scenarios/bench/rr-loss.scn
 *                       (1000 pairs, 5 % loss, 20 +- 5 ms). Target >= 200/s.
 *   sim/heartbeat-100   wall time of 100 peers sending a heartbeat Signal
 *                       every 30 s to an echo server for 24 virtual hours
 *                       (a minimal periodic-Signal service defined here).
 *                       Target < 1 s.
 *
 * Everything runs with the trace hash on (the trace is hashed, not written),
 * as every simulation does. GB/s columns are not meaningful here (0).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../patterns/echo.h"
#include "../../patterns/request_response.h"
#include "../../sim/sim.h"
#include "bench.h"

#define MAX_RUNS 16

static const char *echo_listen[] = {"tcp|server|7099"};

static int make_echo(void *arg, tl_service **out)
{
    tl_echo_config c;
    (void)arg;
    memset(&c, 0, sizeof c);
    c.listen = echo_listen;
    c.listen_count = 1;
    return tl_echo_service_create(&c, out);
}

static int make_rr(void *arg, tl_service **out) { return tl_rr_client_create(arg, out); }

/* ---- a minimal heartbeat: Hello, then an empty Signal every period ---- */

typedef struct {
    uint64_t period;
    uint16_t channel;
    uint64_t sent, echoed, errors;
} hb_state;

static int hb_start(tl_service *s, const tl_svc_env *env)
{
    hb_state *h = s->state;
    tl_message *m = NULL;
    tl_post_out out;
    if (env->get(env->host, TL_GET_ALWAYS, &m) != TL_OK ||
        tl_msg_set_address(m, TL_OP_HELLO_REQUEST, "tcp|server|7099") != TL_OK) {
        env->put(env->host, &m);
        return -1;
    }
    if (env->post(env->host, &m, &out) != TL_OK) {
        env->put(env->host, &m);
        return -1;
    }
    h->channel = out.hdr.channel;
    return 0;
}

static int hb_on_message(tl_service *s, const tl_svc_env *env, tl_message **msg)
{
    hb_state *h = s->state;
    unsigned op = tl_proto_opcode((*msg)->hdr.proto);
    if (tl_proto_origin_engine((*msg)->hdr.proto)) {
        h->errors++;
        return (*msg)->hdr.status == TL_STATUS_CHANNEL_CLOSED;
    }
    if (op == TL_OP_HELLO_RESPONSE) {
        env->set_timer(env->host, h->period, 1);
    } else if (op == TL_OP_SIGNAL) {
        h->echoed++;
    }
    return 0;
}

static void hb_on_timer(tl_service *s, const tl_svc_env *env, uint64_t token)
{
    hb_state *h = s->state;
    tl_message *m = NULL;
    (void)token;
    if (env->get(env->host, TL_GET_ALWAYS, &m) != TL_OK) {
        return;
    }
    m->hdr.channel = h->channel;
    m->hdr.proto = tl_proto_make(TL_OP_SIGNAL, 0, 0, 0, 0);
    if (env->post(env->host, &m, NULL) != TL_OK) {
        env->put(env->host, &m);
        h->errors++;
        return;
    }
    h->sent++;
    env->set_timer(env->host, h->period, 1);
}

static void hb_report(const tl_service *s, tl_svc_report *out)
{
    const hb_state *h = s->state;
    memset(out, 0, sizeof *out);
    out->sent = h->sent;
    out->signals = h->echoed;
    out->errors = h->errors;
}

static void hb_destroy(tl_service *s)
{
    if (s) {
        free(s->state);
        free(s);
    }
}

static const tl_service_ops hb_ops = {"heartbeat", hb_start,  hb_on_message,
                                      hb_on_timer, hb_report, hb_destroy};

static int make_hb(void *arg, tl_service **out)
{
    tl_service *s = calloc(1, sizeof *s);
    hb_state *h = calloc(1, sizeof *h);
    if (s == NULL || h == NULL) {
        free(s);
        free(h);
        return TL_E_NOMEM;
    }
    h->period = *(const uint64_t *)arg;
    s->ops = &hb_ops;
    s->state = h;
    *out = s;
    return TL_OK;
}

/* ---- runs ---- */

/* One 2-node run of n requests; returns messages delivered, 0 on failure. */
static uint64_t run_rr(uint64_t n)
{
    tl_sim *sim;
    tl_sim_options o;
    tl_rr_config rr;
    uint32_t server, client, svc;
    tl_svc_report rep;
    tl_sim_stats st;

    memset(&o, 0, sizeof o);
    o.seed = 1;
    memset(&rr, 0, sizeof rr);
    rr.connect = "tcp|server|7099";
    rr.count = n;
    rr.size_min = rr.size_max = 64;
    rr.concurrency = 1;
    rr.check_echo_body = 1;
    if (tl_sim_create(&o, &sim) != TL_OK) {
        return 0;
    }
    tl_sim_node_add(sim, "server", NULL, &server);
    tl_sim_node_add(sim, "client", NULL, &client);
    tl_sim_service_add(sim, server, NULL, make_echo, NULL, 0, NULL);
    tl_sim_service_add(sim, client, NULL, make_rr, &rr, 0, &svc);
    tl_sim_run(sim, UINT64_MAX);
    tl_sim_service_report(sim, svc, &rep);
    tl_sim_get_stats(sim, &st);
    tl_sim_destroy(sim);
    return rep.answered == n && rep.errors == 0 ? st.messages_delivered : 0;
}

static int case_rr(const bench_options *opt)
{
    const char *name = "sim/rr-2node";
    double rates[MAX_RUNS];
    uint64_t n = opt->quick ? 50000 : 200000;
    if (!bench_selected(opt, name)) {
        return 0;
    }
    for (int r = 0; r < opt->runs && r < MAX_RUNS; r++) {
        uint64_t msgs = 0;
        double t0 = bench_now(), dt;
        do {
            uint64_t got = run_rr(n);
            if (got == 0) {
                fprintf(stderr, "bench_sim: %s: the run did not answer every request\n", name);
                return -1;
            }
            msgs += got;
            dt = bench_now() - t0;
        } while (dt < opt->min_seconds);
        rates[r] = (double)msgs / dt;
    }
    double med = bench_median(rates, opt->runs < MAX_RUNS ? opt->runs : MAX_RUNS);
    bench_print_row(name, med, 0.0, 0.0);
    printf("  sim/rr-2node: items = messages delivered to services; target >= 1000000/s: %s\n",
           med >= 1e6 ? "met" : "NOT met");
    return 0;
}

static int case_rr_loss(const bench_options *opt)
{
    const char *name = "sim/rr-loss-seeds";
    const char *path = "scenarios/bench/rr-loss.scn";
    double rates[MAX_RUNS];
    tl_scenario *scn;
    tl_scn_error err;
    if (!bench_selected(opt, name)) {
        return 0;
    }
    if (tl_scn_load(path, &scn, &err) != TL_OK) {
        fprintf(stderr, "bench_sim: %s:%u:%u: %s (run from the repository root)\n", err.file, err.line,
                err.column, err.message);
        return -1;
    }
    uint64_t seed = 1;
    for (int r = 0; r < opt->runs && r < MAX_RUNS; r++) {
        uint64_t seeds = 0;
        double t0 = bench_now(), dt;
        do {
            tl_scn_result res;
            if (tl_scn_run(scn, seed++, NULL, &res) != TL_OK || !res.passed) {
                fprintf(stderr, "bench_sim: %s: seed %llu failed: %s\n", name, (unsigned long long)(seed - 1),
                        res.first_failure);
                tl_scn_free(scn);
                return -1;
            }
            seeds++;
            dt = bench_now() - t0;
        } while (dt < opt->min_seconds);
        rates[r] = (double)seeds / dt;
    }
    tl_scn_free(scn);
    double med = bench_median(rates, opt->runs < MAX_RUNS ? opt->runs : MAX_RUNS);
    bench_print_row(name, med, 0.0, 0.0);
    printf("  sim/rr-loss-seeds: items = seeds of %s; target >= 200/s: %s\n", path,
           med >= 200 ? "met" : "NOT met");
    return 0;
}

/* 100 peers, 24 h; returns wall seconds, < 0 on failure. */
static double run_heartbeat(uint64_t *signals)
{
    static const uint64_t period = 30 * TL_SIM_NS_PER_S;
    tl_sim *sim;
    tl_sim_options o;
    tl_sim_link l;
    uint32_t server;
    char name[16];
    double t0 = bench_now();

    memset(&o, 0, sizeof o);
    o.seed = 1;
    if (tl_sim_create(&o, &sim) != TL_OK) {
        return -1;
    }
    tl_sim_link_defaults(&l);
    l.delay_ns = 5 * TL_SIM_NS_PER_MS;
    l.jitter_ns = TL_SIM_NS_PER_MS;
    tl_sim_link_set_default(sim, &l);
    tl_sim_node_add(sim, "server", NULL, &server);
    tl_sim_service_add(sim, server, NULL, make_echo, NULL, 0, NULL);
    for (int i = 0; i < 100; i++) {
        uint32_t peer;
        snprintf(name, sizeof name, "peer%d", i);
        tl_sim_node_add(sim, name, NULL, &peer);
        /* staggered starts: the peers do not beat in step */
        tl_sim_service_add(sim, peer, NULL, make_hb, (void *)&period, (uint64_t)i * 300 * TL_SIM_NS_PER_MS,
                           NULL);
    }
    tl_sim_run(sim, 24 * 3600 * TL_SIM_NS_PER_S);
    *signals = 0;
    int ok = 1;
    for (uint32_t s = 1; s < tl_sim_service_count(sim); s++) {
        tl_svc_report r;
        tl_sim_service_report(sim, s, &r);
        *signals += r.signals;
        if (r.errors != 0 || r.signals + 1 < r.sent) {
            ok = 0;
        }
    }
    tl_sim_destroy(sim);
    double dt = bench_now() - t0;
    return ok ? dt : -1;
}

static int case_heartbeat(const bench_options *opt)
{
    const char *name = "sim/heartbeat-100";
    double walls[MAX_RUNS];
    uint64_t signals = 0;
    int runs = opt->quick ? 1 : (opt->runs < 3 ? opt->runs : 3);
    if (!bench_selected(opt, name)) {
        return 0;
    }
    for (int r = 0; r < runs; r++) {
        walls[r] = run_heartbeat(&signals);
        if (walls[r] < 0) {
            fprintf(stderr, "bench_sim: %s: a heartbeat went unanswered\n", name);
            return -1;
        }
    }
    double med = bench_median(walls, runs);
    bench_print_row(name, (double)signals / med, 0.0, 0.0);
    printf("  sim/heartbeat-100: items = heartbeats echoed; 100 peers x 24 h virtual in %.3f s wall, target "
           "< 1 s: "
           "%s\n",
           med, med < 1.0 ? "met" : "NOT met");
    return 0;
}

int bench_sim_run(const bench_options *opt)
{
    if (case_rr(opt) != 0 || case_rr_loss(opt) != 0 || case_heartbeat(opt) != 0) {
        return -1;
    }
    return 0;
}
