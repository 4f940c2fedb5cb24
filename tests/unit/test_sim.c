/*
 * The virtual network (sim/sim.h): determinism, the scheduler, the PRNG
 * split, and one test per fault kind showing its effect, with the real
 * engine core, tofu's echo service and the request/response client.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../patterns/echo.h"
#include "../../patterns/request_response.h"
#include "../../sim/sim.h"

#define MS  TL_SIM_NS_PER_MS
#define SEC TL_SIM_NS_PER_S

/* ------------------------------------------------------------ trace capture */

typedef struct {
    char *buf;
    size_t len, cap;
} tbuf;

static void capture_line(void *ctx, const char *line, size_t len)
{
    tbuf *t = ctx;
    if (t->len + len + 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 65536;
        while (cap < t->len + len + 2) {
            cap *= 2;
        }
        t->buf = realloc(t->buf, cap);
        assert_non_null(t->buf);
        t->cap = cap;
    }
    memcpy(t->buf + t->len, line, len);
    t->len += len;
    t->buf[t->len++] = '\n';
    t->buf[t->len] = '\0';
}

static int trace_has(const tbuf *t, const char *needle)
{
    return t->buf != NULL && strstr(t->buf, needle) != NULL;
}

/* ------------------------------------------------------------ a test network */

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

typedef struct {
    uint64_t seed;
    tl_sim_link link; /* client <-> server, both directions */
    tl_sim_node_options server_opt, client_opt;
    tl_rr_config rr;
    FILE *pcap;
} net_cfg;

typedef struct {
    tl_sim *sim;
    uint32_t server, client;
    uint32_t echo, rr;
    tbuf trace;
} net;

static void net_defaults(net_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    tl_sim_link_defaults(&c->link);
    c->link.delay_ns = 10 * MS;
    tl_sim_node_defaults(&c->server_opt);
    tl_sim_node_defaults(&c->client_opt);
    c->rr.connect = "tcp|server|7099";
    c->rr.count = 50;
    c->rr.size_min = 64;
    c->rr.size_max = 1024;
    c->rr.concurrency = 1;
    c->rr.check_echo_body = 1;
}

static void net_build(net *n, net_cfg *c)
{
    tl_sim_options o;
    memset(n, 0, sizeof *n);
    memset(&o, 0, sizeof o);
    o.seed = c->seed;
    o.pcap = c->pcap;
    o.on_trace = capture_line;
    o.trace_ctx = &n->trace;
    assert_int_equal(tl_sim_create(&o, &n->sim), TL_OK);
    assert_int_equal(tl_sim_node_add(n->sim, "server", &c->server_opt, &n->server), TL_OK);
    assert_int_equal(tl_sim_node_add(n->sim, "client", &c->client_opt, &n->client), TL_OK);
    assert_int_equal(tl_sim_link_set(n->sim, n->client, n->server, &c->link), TL_OK);
    assert_int_equal(tl_sim_link_set(n->sim, n->server, n->client, &c->link), TL_OK);
    assert_int_equal(tl_sim_service_add(n->sim, n->server, NULL, make_echo, NULL, 0, &n->echo), TL_OK);
    assert_int_equal(tl_sim_service_add(n->sim, n->client, NULL, make_rr, &c->rr, 0, &n->rr), TL_OK);
}

static void net_free(net *n)
{
    for (uint32_t i = 0; i < tl_sim_node_count(n->sim); i++) {
        tl_engine *e = tl_sim_node_engine(n->sim, i);
        if (e) {
            const char *bad = tl_engine_check(e);
            if (bad) {
                fail_msg("engine of node %u: %s", i, bad);
            }
        }
    }
    tl_sim_destroy(n->sim);
    free(n->trace.buf);
}

static tl_svc_report report_of(net *n, uint32_t svc)
{
    tl_svc_report r;
    assert_int_equal(tl_sim_service_report(n->sim, svc, &r), TL_OK);
    return r;
}

static tl_sim_node_stats node_stats(net *n, uint32_t node)
{
    tl_sim_node_stats s;
    assert_int_equal(tl_sim_node_stats_get(n->sim, node, &s), TL_OK);
    return s;
}

static tl_sim_stats sim_stats(net *n)
{
    tl_sim_stats s;
    tl_sim_get_stats(n->sim, &s);
    return s;
}

/* Every request answered, checked, nothing wrong, the Bye pair done. */
static void assert_rr_clean(net *n, uint64_t count)
{
    tl_svc_report r = report_of(n, n->rr);
    if (r.errors != 0) {
        fail_msg("client errors: %llu, first: %s", (unsigned long long)r.errors, r.first_error);
    }
    assert_int_equal(r.answered, count);
    assert_true(tl_sim_service_done(n->sim, n->rr));
    tl_client_stats cs;
    tl_service *s = tl_sim_service_get(n->sim, n->rr);
    assert_non_null(s);
    tl_rr_client_stats(s, &cs);
    assert_true(cs.clean);
}

/* ------------------------------------------------------------ a probe service */

/* A small service for the fault tests: listens (answering HelloRequest with
 * HelloResponse) or connects; sends an empty Signal every `period` from
 * `first` after the connection is up; counts what arrives and when the
 * channel closed. */
typedef struct {
    const char *listen; /* or */
    const char *connect;
    uint64_t first, period;
    uint64_t stop_after; /* Signals to send, 0 = no limit */
    /* results */
    uint16_t channel;
    int connected;
    uint64_t sent, received, closed;
    uint64_t closed_at;
    uint8_t last_status; /* of a returned message */
} probe;

static int probe_start(tl_service *s, const tl_svc_env *env)
{
    probe *p = s->state;
    tl_message *m = NULL;
    assert_int_equal(env->get(env->host, TL_GET_ALWAYS, &m), TL_OK);
    if (p->listen) {
        assert_int_equal(tl_msg_set_address(m, TL_OP_WELCOME_REQUEST, p->listen), TL_OK);
    } else {
        assert_int_equal(tl_msg_set_address(m, TL_OP_HELLO_REQUEST, p->connect), TL_OK);
    }
    tl_post_out out;
    assert_int_equal(env->post(env->host, &m, &out), TL_OK);
    if (p->connect) {
        p->channel = out.hdr.channel;
    }
    return 0;
}

static void probe_arm(probe *p, const tl_svc_env *env)
{
    p->connected = 1;
    if (p->period || p->first) {
        env->set_timer(env->host, p->first ? p->first : p->period, 1);
    }
}

static int probe_on_message(tl_service *s, const tl_svc_env *env, tl_message **msg)
{
    probe *p = s->state;
    tl_message *m = *msg;
    unsigned op = tl_proto_opcode(m->hdr.proto);
    if (tl_proto_origin_engine(m->hdr.proto)) {
        if (op == TL_OP_SIGNAL && m->hdr.status == TL_STATUS_CHANNEL_CLOSED && m->hdr.channel == p->channel) {
            p->closed++;
            p->closed_at = env->now(env->host);
        } else if (m->hdr.status != 0) {
            p->last_status = m->hdr.status;
        }
        return 0;
    }
    if (op == TL_OP_HELLO_REQUEST && p->listen) {
        p->channel = m->hdr.channel;
        tl_msg_set_opcode(m, TL_OP_HELLO_RESPONSE);
        assert_int_equal(env->post(env->host, msg, NULL), TL_OK);
        probe_arm(p, env);
    } else if (op == TL_OP_HELLO_RESPONSE) {
        probe_arm(p, env);
    } else if (op == TL_OP_SIGNAL) {
        p->received++;
    }
    return 0;
}

static void probe_on_timer(tl_service *s, const tl_svc_env *env, uint64_t token)
{
    probe *p = s->state;
    tl_message *m = NULL;
    (void)token;
    if (p->stop_after && p->sent >= p->stop_after) {
        return;
    }
    assert_int_equal(env->get(env->host, TL_GET_ALWAYS, &m), TL_OK);
    m->hdr.channel = p->channel;
    m->hdr.proto = tl_proto_make(TL_OP_SIGNAL, 0, 0, 0, 0);
    if (env->post(env->host, &m, NULL) == TL_OK) {
        p->sent++;
    } else {
        env->put(env->host, &m);
    }
    if (p->period) {
        env->set_timer(env->host, p->period, 1);
    }
}

static void probe_report(const tl_service *s, tl_svc_report *out)
{
    const probe *p = s->state;
    memset(out, 0, sizeof *out);
    out->sent = p->sent;
    out->signals = p->received;
    out->closed = p->closed;
}

static void probe_destroy(tl_service *s) { free(s); }

static const tl_service_ops probe_ops = {"probe",        probe_start,  probe_on_message,
                                         probe_on_timer, probe_report, probe_destroy};

/* arg: a probe the test owns (the results stay readable after the run) */
static int make_probe(void *arg, tl_service **out)
{
    tl_service *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return TL_E_NOMEM;
    }
    s->ops = &probe_ops;
    s->state = arg;
    *out = s;
    return TL_OK;
}

/* ------------------------------------------------------------ PRNG, scheduler */

static void test_sim_prng_streams_split_by_kind_and_name(void **state)
{
    tl_sim_prng a, b, c, d;
    (void)state;
    tl_sim_prng_init(&a, 42, "node", "client", 0);
    tl_sim_prng_init(&b, 42, "node", "client", 0);
    tl_sim_prng_init(&c, 42, "node", "server", 0);
    tl_sim_prng_init(&d, 43, "node", "client", 0);
    uint64_t x = tl_sim_prng_next(&a);
    assert_true(x == tl_sim_prng_next(&b));
    assert_true(x != tl_sim_prng_next(&c));
    assert_true(x != tl_sim_prng_next(&d));
    /* xoshiro256** reference: state {1, 2, 3, 4} gives 11520 first */
    tl_sim_prng r = {{1, 2, 3, 4}};
    assert_true(tl_sim_prng_next(&r) == 11520u);
    assert_true(tl_sim_prng_next(&r) == 0u);
    assert_true(tl_sim_prng_next(&r) == 1509978240u);
    /* FNV-1a 64 of "a" */
    assert_true(tl_sim_fnv1a(TL_SIM_FNV_OFFSET, "a", 1) == 0xaf63dc4c8601ec8cull);
}

typedef struct {
    uint64_t at[8];
    int order[8];
    int n;
    tl_sim *sim;
} sched_log;

static sched_log slog;

static void sched_cb(tl_sim *sim, void *arg)
{
    slog.at[slog.n] = tl_sim_now(sim);
    slog.order[slog.n] = (int)(intptr_t)arg;
    slog.n++;
}

static void test_sim_sched_orders_by_time_then_sequence(void **state)
{
    tl_sim *sim;
    (void)state;
    memset(&slog, 0, sizeof slog);
    assert_int_equal(tl_sim_create(NULL, &sim), TL_OK);
    assert_int_equal(tl_sim_call_at(sim, 5 * SEC, sched_cb, (void *)(intptr_t)1), TL_OK);
    assert_int_equal(tl_sim_call_at(sim, 2 * SEC, sched_cb, (void *)(intptr_t)2), TL_OK);
    assert_int_equal(tl_sim_call_at(sim, 5 * SEC, sched_cb, (void *)(intptr_t)3), TL_OK);
    assert_int_equal(tl_sim_call_at(sim, 3600 * SEC, sched_cb, (void *)(intptr_t)4), TL_OK);
    assert_int_equal(tl_sim_run(sim, 10 * SEC), TL_OK);
    assert_int_equal(slog.n, 3);
    assert_int_equal(slog.order[0], 2);
    assert_int_equal(slog.order[1], 1); /* same time: scheduling order */
    assert_int_equal(slog.order[2], 3);
    assert_true(slog.at[0] == 2 * SEC && slog.at[2] == 5 * SEC);
    assert_true(tl_sim_now(sim) == 10 * SEC);
    assert_int_equal(tl_sim_call_at(sim, SEC, sched_cb, NULL), TL_E_INVAL); /* the past */
    assert_int_equal(tl_sim_run(sim, UINT64_MAX), TL_OK);                   /* idle hour skipped */
    assert_int_equal(slog.n, 4);
    assert_true(slog.at[3] == 3600 * SEC);
    tl_sim_destroy(sim);
}

/* ------------------------------------------------------------ determinism */

static void run_lossy(uint64_t seed, tbuf *trace_out, uint64_t *hash)
{
    net_cfg c;
    net n;
    net_defaults(&c);
    c.seed = seed;
    c.link.jitter_ns = 5 * MS;
    c.link.distribution = TL_SIM_DIST_NORMAL;
    c.link.loss = TL_SIM_LOSS_RANDOM;
    c.link.loss_ppb = TL_SIM_PPB / 20;
    c.client_opt.reads = TL_SIM_CHOP_RANDOM;
    c.client_opt.writes = TL_SIM_CHOP_RANDOM;
    c.rr.count = 200;
    c.rr.concurrency = 4;
    net_build(&n, &c);
    assert_int_equal(tl_sim_run(n.sim, 600 * SEC), TL_OK);
    assert_rr_clean(&n, 200);
    tl_sim_finish(n.sim);
    *hash = tl_sim_trace_hash(n.sim);
    assert_true(*hash == tl_sim_fnv1a(TL_SIM_FNV_OFFSET, n.trace.buf, n.trace.len));
    *trace_out = n.trace;
    n.trace.buf = NULL;
    net_free(&n);
}

static void test_sim_same_seed_gives_identical_trace(void **state)
{
    tbuf a, b;
    uint64_t ha, hb;
    (void)state;
    run_lossy(7, &a, &ha);
    run_lossy(7, &b, &hb);
    assert_true(ha == hb);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.buf, b.buf, a.len);
    assert_true(strstr(a.buf, " lost ") != NULL); /* the run did meet faults */
    free(a.buf);
    free(b.buf);
}

static void test_sim_different_seeds_give_different_traces(void **state)
{
    tbuf a, b;
    uint64_t ha, hb;
    (void)state;
    run_lossy(1, &a, &ha);
    run_lossy(2, &b, &hb);
    assert_true(ha != hb);
    assert_true(a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0);
    free(a.buf);
    free(b.buf);
}

static void test_sim_trace_lines_have_the_canonical_form(void **state)
{
    net_cfg c;
    net n;
    (void)state;
    net_defaults(&c);
    c.rr.count = 3;
    c.rr.size_min = c.rr.size_max = 64;
    net_build(&n, &c);
    assert_int_equal(tl_sim_run(n.sim, 60 * SEC), TL_OK);
    /* time with 9 decimals, node, ch=N, event, frame summary */
    assert_true(trace_has(&n.trace, "0.000000000 server ch=0 start incarnation=1\n"));
    assert_true(trace_has(&n.trace, " client ch="));
    assert_true(trace_has(&n.trace, " send Request id=1 more=0 thl=0 bl=64\n"));
    assert_true(trace_has(&n.trace, " recv Response id=1 more=0 thl=0 bl=16\n"));
    assert_true(trace_has(&n.trace, " origin=engine status=channel_closed\n"));
    /* the Request reaches the server one link delay after it was sent */
    assert_true(trace_has(&n.trace, " server ch="));
    net_free(&n);
}

/* ------------------------------------------------------------ faults */

static void test_sim_one_byte_segments_deliver_intact_frames(void **state)
{
    net_cfg c;
    net n;
    (void)state;
    net_defaults(&c);
    c.link.delay_ns = MS;
    c.client_opt.mss = 1;
    c.server_opt.mss = 1;
    c.client_opt.reads = c.server_opt.reads = TL_SIM_CHOP_RANDOM;
    c.client_opt.writes = c.server_opt.writes = TL_SIM_CHOP_RANDOM;
    c.rr.count = 12;
    c.rr.size_min = 1;
    c.rr.size_max = 300;
    c.rr.concurrency = 3;
    net_build(&n, &c);
    assert_int_equal(tl_sim_run(n.sim, 60 * SEC), TL_OK);
    assert_rr_clean(&n, 12);
    tl_sim_stats st = sim_stats(&n);
    /* every payload byte travelled alone */
    assert_true(st.data_segments == st.bytes_delivered);
    assert_true(st.data_segments > 12 * 16);
    net_free(&n);
}

static void test_sim_loss_30pct_delivers_everything_later(void **state)
{
    net_cfg c;
    net clean, lossy;
    (void)state;
    net_defaults(&c);
    c.rr.count = 100;
    c.rr.concurrency = 2;
    net_build(&clean, &c);
    assert_int_equal(tl_sim_run(clean.sim, 3600 * SEC), TL_OK);
    assert_rr_clean(&clean, 100);
    c.link.loss = TL_SIM_LOSS_RANDOM;
    c.link.loss_ppb = 300000000; /* 30 % each way, ACKs included */
    net_build(&lossy, &c);
    assert_int_equal(tl_sim_run(lossy.sim, 3600 * SEC), TL_OK);
    assert_rr_clean(&lossy, 100);
    tl_sim_stats st = sim_stats(&lossy);
    assert_true(st.lost_random > 20);
    assert_true(st.retransmits > 10);
    tl_svc_report a = report_of(&clean, clean.rr), b = report_of(&lossy, lossy.rr);
    assert_true(b.latency_sum_ns > 2 * a.latency_sum_ns); /* later */
    assert_true(b.latency_max_ns >= 200 * MS);            /* at least one RTO */
    net_free(&clean);
    net_free(&lossy);
}

static void test_sim_crash_gives_peer_communication_failed_and_channel_closed(void **state)
{
    net_cfg c;
    net n;
    (void)state;
    net_defaults(&c);
    c.rr.count = 100000;
    net_build(&n, &c);
    assert_int_equal(tl_sim_at(n.sim, 2 * SEC, TL_SIM_CRASH, n.server, 0, 0, 0), TL_OK);
    assert_int_equal(tl_sim_run(n.sim, 60 * SEC), TL_OK);
    assert_true(trace_has(&n.trace, "2.000000000 server ch=0 crash\n"));
    /* the RST reaches the client one link delay later */
    assert_true(trace_has(&n.trace, "2.010000000 client ch="));
    assert_true(trace_has(&n.trace, " rst from server:7099\n"));
    assert_true(trace_has(&n.trace, " closed reason=communication_failed\n"));
    tl_sim_node_stats cs = node_stats(&n, n.client);
    assert_int_equal(cs.closed_by[TL_STATUS_COMMUNICATION_FAILED], 1);
    tl_svc_report r = report_of(&n, n.rr);
    assert_int_equal(r.closed, 1); /* its channel_closed */
    assert_true(r.answered > 0 && r.answered < 100000);
    assert_int_equal(tl_sim_node_state_get(n.sim, n.server), TL_SIM_NODE_DOWN);
    assert_null(tl_sim_node_engine(n.sim, n.server));
    net_free(&n);
}

static void test_sim_silent_death_gives_nothing_until_timers_fire(void **state)
{
    tl_sim *sim;
    tl_sim_options o;
    tl_sim_node_options opt;
    uint32_t server, client;
    probe srv, idle, talker;
    tbuf tr = {0};
    (void)state;
    memset(&o, 0, sizeof o);
    o.seed = 3;
    o.on_trace = capture_line;
    o.trace_ctx = &tr;
    memset(&srv, 0, sizeof srv);
    memset(&idle, 0, sizeof idle);
    memset(&talker, 0, sizeof talker);
    srv.listen = "tcp|server|7099";
    idle.connect = "tcp|server|7099";   /* never sends after the Hello */
    talker.connect = "tcp|server|7099"; /* sends one Signal at 100 s */
    talker.first = 100 * SEC;
    talker.stop_after = 1;
    tl_sim_node_defaults(&opt);
    opt.retries = 4;
    assert_int_equal(tl_sim_create(&o, &sim), TL_OK);
    assert_int_equal(tl_sim_node_add(sim, "server", &opt, &server), TL_OK);
    assert_int_equal(tl_sim_node_add(sim, "client", &opt, &client), TL_OK);
    assert_int_equal(tl_sim_service_add(sim, server, NULL, make_probe, &srv, 0, NULL), TL_OK);
    assert_int_equal(tl_sim_service_add(sim, client, "idle", make_probe, &idle, 0, NULL), TL_OK);
    assert_int_equal(tl_sim_service_add(sim, client, "talker", make_probe, &talker, 0, NULL), TL_OK);
    assert_int_equal(tl_sim_at(sim, 5 * SEC, TL_SIM_SILENT_DEATH, server, 0, 0, 0), TL_OK);
    assert_int_equal(tl_sim_run(sim, 99 * SEC), TL_OK);
    assert_true(idle.connected && talker.connected);
    /* no RST, no FIN: the client has heard nothing */
    assert_int_equal(idle.closed + talker.closed, 0);
    tl_sim_stats st;
    tl_sim_get_stats(sim, &st);
    assert_int_equal(st.resets_sent, 0);
    assert_int_equal(tl_sim_node_state_get(sim, server), TL_SIM_NODE_DEAD);
    /* the talker's Signal is retransmitted into the void until it gives up:
     * 0.2 + 0.4 + 0.8 + 1.6 + 3.2 s after 100 s */
    assert_int_equal(tl_sim_run(sim, 1000 * SEC), TL_OK);
    assert_int_equal(talker.closed, 1);
    assert_true(talker.closed_at == 100 * SEC + 6200 * MS);
    assert_int_equal(idle.closed, 0); /* an idle connection never learns */
    tl_sim_get_stats(sim, &st);
    assert_int_equal(st.aborted, 1);
    assert_true(st.lost_dead >= 5);
    tl_sim_node_stats ns;
    tl_sim_node_stats_get(sim, client, &ns);
    assert_int_equal(ns.closed_by[TL_STATUS_COMMUNICATION_FAILED], 1);
    assert_true(strstr(tr.buf, " timeout after 4 retransmissions\n") != NULL);
    tl_sim_destroy(sim);
    free(tr.buf);
}

typedef struct {
    probe *a, *b;
    uint64_t a_mid, b_mid;
} part_snap;

static part_snap psnap;

static void snap_start(tl_sim *sim, void *arg)
{
    (void)sim;
    (void)arg;
    psnap.a_mid = psnap.a->received;
    psnap.b_mid = psnap.b->received;
}

static void snap_end(tl_sim *sim, void *arg)
{
    (void)sim;
    (void)arg;
    /* b -> a flowed on; a -> b stalled */
    assert_true(psnap.a->received > psnap.a_mid + 50);
    assert_true(psnap.b->received == psnap.b_mid);
}

static void test_sim_oneway_partition_stalls_one_direction(void **state)
{
    tl_sim *sim;
    tl_sim_options o;
    tl_sim_link l;
    uint32_t a, b;
    probe pa, pb;
    (void)state;
    memset(&o, 0, sizeof o);
    o.seed = 5;
    memset(&pa, 0, sizeof pa);
    memset(&pb, 0, sizeof pb);
    pa.listen = "tcp|a|7000";
    pa.period = 100 * MS;
    pb.connect = "tcp|a|7000";
    pb.period = 100 * MS;
    psnap.a = &pa;
    psnap.b = &pb;
    tl_sim_link_defaults(&l);
    l.delay_ns = 5 * MS;
    assert_int_equal(tl_sim_create(&o, &sim), TL_OK);
    assert_int_equal(tl_sim_node_add(sim, "a", NULL, &a), TL_OK);
    assert_int_equal(tl_sim_node_add(sim, "b", NULL, &b), TL_OK);
    assert_int_equal(tl_sim_link_set_default(sim, &l), TL_OK);
    assert_int_equal(tl_sim_service_add(sim, a, NULL, make_probe, &pa, 0, NULL), TL_OK);
    assert_int_equal(tl_sim_service_add(sim, b, NULL, make_probe, &pb, 0, NULL), TL_OK);
    /* a -> b is cut for 10 s */
    assert_int_equal(tl_sim_at(sim, 2 * SEC, TL_SIM_PARTITION, a, b, 10 * SEC, TL_SIM_ONEWAY), TL_OK);
    assert_int_equal(tl_sim_call_at(sim, 3 * SEC, snap_start, NULL), TL_OK);
    assert_int_equal(tl_sim_call_at(sim, 11 * SEC, snap_end, NULL), TL_OK);
    assert_int_equal(tl_sim_run(sim, 30 * SEC), TL_OK);
    /* healed: everything a sent arrived in the end, nothing closed */
    assert_true(pb.received + 2 >= pa.sent);
    assert_true(pa.received + 2 >= pb.sent);
    assert_int_equal(pa.closed + pb.closed, 0);
    tl_sim_stats st;
    tl_sim_get_stats(sim, &st);
    assert_true(st.lost_partition > 0);
    tl_sim_destroy(sim);
}

static void test_sim_retransmission_exhaustion_aborts_connection(void **state)
{
    net_cfg c;
    net n;
    (void)state;
    net_defaults(&c);
    c.client_opt.retries = 3;
    c.rr.count = 100000;
    net_build(&n, &c);
    /* cut for good at 1 s: the client's next Request is never acknowledged */
    assert_int_equal(tl_sim_at(n.sim, SEC, TL_SIM_PARTITION, n.client, n.server, 0, 0), TL_OK);
    assert_int_equal(tl_sim_run(n.sim, 600 * SEC), TL_OK);
    tl_sim_stats st = sim_stats(&n);
    assert_true(st.aborted >= 1);
    assert_true(trace_has(&n.trace, " timeout after 3 retransmissions\n"));
    tl_sim_node_stats cs = node_stats(&n, n.client);
    assert_int_equal(cs.closed_by[TL_STATUS_COMMUNICATION_FAILED], 1);
    tl_svc_report r = report_of(&n, n.rr);
    assert_int_equal(r.closed, 1);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.failed, 1); /* channel_closed failed the request in flight */
    assert_int_equal(r.open, 0);
    assert_int_equal(st.resets_sent, 0); /* a timeout sends no RST */
    net_free(&n);
}

typedef struct {
    net *n;
    int checked;
} pause_ctx;

static void pause_check(tl_sim *sim, void *arg)
{
    pause_ctx *p = arg;
    tl_sim_node_stats s, cl;
    (void)sim;
    assert_int_equal(tl_sim_node_stats_get(p->n->sim, p->n->server, &s), TL_OK);
    assert_int_equal(tl_sim_node_stats_get(p->n->sim, p->n->client, &cl), TL_OK);
    assert_int_equal(s.state, TL_SIM_NODE_PAUSED);
    /* the paused server's kernel took bytes until its receive buffer was full */
    assert_true(s.rcvbuf_bytes == 8192);
    /* and the rest waits in the client's send buffer */
    assert_true(cl.sndbuf_bytes > 0);
    p->checked = 1;
}

static void test_sim_pause_fills_buffers_and_resume_drains_them(void **state)
{
    net_cfg c;
    net n;
    pause_ctx pc;
    (void)state;
    net_defaults(&c);
    c.link.delay_ns = MS;
    c.server_opt.rcvbuf = 8192;
    c.rr.count = 400;
    c.rr.size_min = c.rr.size_max = 1000;
    c.rr.concurrency = 40;
    net_build(&n, &c);
    pc.n = &n;
    pc.checked = 0;
    assert_int_equal(tl_sim_at(n.sim, 5 * MS, TL_SIM_PAUSE, n.server, 0, 0, 0), TL_OK);
    assert_int_equal(tl_sim_call_at(n.sim, 10 * SEC, pause_check, &pc), TL_OK);
    assert_int_equal(tl_sim_at(n.sim, 20 * SEC, TL_SIM_RESUME, n.server, 0, 0, 0), TL_OK);
    assert_int_equal(tl_sim_run(n.sim, 120 * SEC), TL_OK);
    assert_true(pc.checked);
    assert_rr_clean(&n, 400);
    tl_sim_stats st = sim_stats(&n);
    assert_true(st.zero_window_probes > 0); /* the client probed the closed window */
    assert_int_equal(st.aborted, 0);        /* a paused peer answers probes: no timeout */
    tl_svc_report r = report_of(&n, n.rr);
    assert_true(r.latency_max_ns > 19 * SEC);
    tl_sim_node_stats s = node_stats(&n, n.server);
    assert_true(s.rcvbuf_bytes == 0);
    net_free(&n);
}

static void test_sim_restart_accepts_new_connections(void **state)
{
    net_cfg c;
    net n;
    tl_rr_config late;
    uint32_t client2, rr2;
    (void)state;
    net_defaults(&c);
    c.rr.count = 100000;
    late = c.rr;
    late.count = 10;
    memset(&n, 0, sizeof n);
    tl_sim_options o;
    memset(&o, 0, sizeof o);
    o.seed = 1;
    o.on_trace = capture_line;
    o.trace_ctx = &n.trace;
    assert_int_equal(tl_sim_create(&o, &n.sim), TL_OK);
    assert_int_equal(tl_sim_node_add(n.sim, "server", NULL, &n.server), TL_OK);
    assert_int_equal(tl_sim_node_add(n.sim, "client", NULL, &n.client), TL_OK);
    assert_int_equal(tl_sim_node_add(n.sim, "client2", NULL, &client2), TL_OK);
    assert_int_equal(tl_sim_link_set_default(n.sim, &c.link), TL_OK);
    assert_int_equal(tl_sim_service_add(n.sim, n.server, NULL, make_echo, NULL, 0, &n.echo), TL_OK);
    assert_int_equal(tl_sim_service_add(n.sim, n.client, NULL, make_rr, &c.rr, 0, &n.rr), TL_OK);
    /* a client that connects only after the restart */
    assert_int_equal(tl_sim_service_add(n.sim, client2, NULL, make_rr, &late, 10 * SEC, &rr2), TL_OK);
    assert_int_equal(tl_sim_at(n.sim, 5 * SEC, TL_SIM_RESTART, n.server, 0, 0, 0), TL_OK);
    assert_int_equal(tl_sim_run(n.sim, 60 * SEC), TL_OK);
    tl_sim_node_stats ss = node_stats(&n, n.server);
    assert_int_equal(ss.incarnation, 2);
    assert_int_equal(ss.state, TL_SIM_NODE_UP);
    assert_true(trace_has(&n.trace, "5.000000000 server ch=0 start incarnation=2\n"));
    /* the old connection was reset; the new one works end to end */
    tl_sim_node_stats cs = node_stats(&n, n.client);
    assert_int_equal(cs.closed_by[TL_STATUS_COMMUNICATION_FAILED], 1);
    tl_svc_report r2 = report_of(&n, rr2);
    assert_int_equal(r2.answered, 10);
    assert_int_equal(r2.errors, 0);
    /* the echo service counts over both incarnations */
    tl_svc_report e = report_of(&n, n.echo);
    assert_true(e.answered > 10);
    net_free(&n);
}

static void test_sim_bandwidth_limit_shows_serialisation_delay(void **state)
{
    net_cfg c;
    net fast, slow;
    (void)state;
    net_defaults(&c);
    c.rr.count = 4;
    c.rr.size_min = c.rr.size_max = 50000;
    net_build(&fast, &c);
    assert_int_equal(tl_sim_run(fast.sim, 600 * SEC), TL_OK);
    assert_rr_clean(&fast, 4);
    c.link.rate_bps = 1000000; /* 1 Mbit/s */
    net_build(&slow, &c);
    assert_int_equal(tl_sim_run(slow.sim, 600 * SEC), TL_OK);
    assert_rr_clean(&slow, 4);
    tl_svc_report f = report_of(&fast, fast.rr), s = report_of(&slow, slow.rr);
    /* without a rate: two link delays; with it, 50 KB take >= 400 ms on the wire */
    assert_true(f.latency_max_ns < 30 * MS);
    uint64_t mean = s.latency_sum_ns / s.latency_count;
    assert_true(mean >= 20 * MS + 400 * MS);
    assert_true(mean < 20 * MS + 600 * MS);
    net_free(&fast);
    net_free(&slow);
}

static void test_sim_refused_connect_fails_after_one_rtt(void **state)
{
    tl_sim *sim;
    tl_sim_options o;
    tl_sim_link l;
    tl_rr_config rr;
    uint32_t server, client, svc;
    tbuf tr = {0};
    (void)state;
    memset(&o, 0, sizeof o);
    o.on_trace = capture_line;
    o.trace_ctx = &tr;
    memset(&rr, 0, sizeof rr);
    rr.connect = "tcp|server|7099";
    rr.count = 1;
    tl_sim_link_defaults(&l);
    l.delay_ns = 15 * MS;
    assert_int_equal(tl_sim_create(&o, &sim), TL_OK);
    assert_int_equal(tl_sim_node_add(sim, "server", NULL, &server), TL_OK); /* nobody listens */
    assert_int_equal(tl_sim_node_add(sim, "client", NULL, &client), TL_OK);
    assert_int_equal(tl_sim_link_set_default(sim, &l), TL_OK);
    assert_int_equal(tl_sim_service_add(sim, client, NULL, make_rr, &rr, 0, &svc), TL_OK);
    assert_int_equal(tl_sim_run(sim, 60 * SEC), TL_OK);
    tl_client_stats cs;
    tl_rr_client_stats(tl_sim_service_get(sim, svc), &cs);
    /* A10: the HelloRequest comes back (connect_failed), not immediately */
    assert_int_equal(cs.connect_status, TL_STATUS_CONNECT_FAILED);
    assert_true(strstr(tr.buf, "0.030000000 client ch=") != NULL);
    assert_true(strstr(tr.buf, " refused by server:7099\n") != NULL);
    assert_true(
        strstr(tr.buf, " recv HelloRequest id=1 more=0 thl=29 bl=0 origin=engine status=connect_failed\n") !=
        NULL);
    tl_sim_destroy(sim);
    free(tr.buf);
}

static void test_sim_uds_missing_path_fails_immediately(void **state)
{
    tl_sim *sim;
    tl_rr_config rr;
    uint32_t client, svc;
    (void)state;
    memset(&rr, 0, sizeof rr);
    rr.connect = "uds|/tmp/nobody.sock";
    rr.count = 1;
    assert_int_equal(tl_sim_create(NULL, &sim), TL_OK);
    assert_int_equal(tl_sim_node_add(sim, "client", NULL, &client), TL_OK);
    assert_int_equal(tl_sim_service_add(sim, client, NULL, make_rr, &rr, 0, &svc), TL_OK);
    assert_int_equal(tl_sim_run(sim, SEC), TL_OK);
    tl_client_stats cs;
    tl_rr_client_stats(tl_sim_service_get(sim, svc), &cs);
    assert_int_equal(cs.connect_status, TL_STATUS_UDS_PATH_NOT_FOUND);
    tl_sim_destroy(sim);
}

static const char *uds_listen[] = {"uds|/run/echo.sock"};

static int make_uds_echo(void *arg, tl_service **out)
{
    tl_echo_config c;
    (void)arg;
    memset(&c, 0, sizeof c);
    c.listen = uds_listen;
    c.listen_count = 1;
    return tl_echo_service_create(&c, out);
}

static void test_sim_uds_connection_on_one_node_works(void **state)
{
    tl_sim *sim;
    tl_rr_config rr;
    uint32_t node, svc;
    (void)state;
    memset(&rr, 0, sizeof rr);
    rr.connect = "uds|/run/echo.sock";
    rr.count = 20;
    rr.size_min = rr.size_max = 100;
    rr.check_echo_body = 1;
    assert_int_equal(tl_sim_create(NULL, &sim), TL_OK);
    assert_int_equal(tl_sim_node_add(sim, "box", NULL, &node), TL_OK);
    assert_int_equal(tl_sim_service_add(sim, node, NULL, make_uds_echo, NULL, 0, NULL), TL_OK);
    assert_int_equal(tl_sim_service_add(sim, node, NULL, make_rr, &rr, 0, &svc), TL_OK);
    assert_int_equal(tl_sim_run(sim, 10 * SEC), TL_OK);
    tl_svc_report r;
    tl_sim_service_report(sim, svc, &r);
    assert_int_equal(r.answered, 20);
    assert_int_equal(r.errors, 0);
    tl_sim_destroy(sim);
}

static void test_sim_fin_close_gives_peer_recv_failed(void **state)
{
    net_cfg c;
    net n;
    (void)state;
    net_defaults(&c);
    c.rr.count = 5;
    c.client_opt.close_fin = 1; /* a peer that closes with FIN */
    net_build(&n, &c);
    assert_int_equal(tl_sim_run(n.sim, 60 * SEC), TL_OK);
    assert_rr_clean(&n, 5);
    assert_true(trace_has(&n.trace, " close fin\n"));
    assert_true(trace_has(&n.trace, " eof reason=recv_failed\n"));
    tl_sim_node_stats ss = node_stats(&n, n.server);
    assert_int_equal(ss.closed_by[TL_STATUS_RECV_FAILED], 1);
    assert_int_equal(ss.closed_by[TL_STATUS_COMMUNICATION_FAILED], 0);
    net_free(&n);
}

static void test_sim_stop_listener_refuses_new_connections(void **state)
{
    net_cfg c;
    net n;
    (void)state;
    net_defaults(&c);
    c.rr.count = 5;
    net_build(&n, &c);
    assert_int_equal(tl_sim_at(n.sim, MS, TL_SIM_STOP_LISTENER, n.server, 0, 0, 0), TL_OK);
    assert_int_equal(tl_sim_run(n.sim, 60 * SEC), TL_OK);
    tl_client_stats cs;
    tl_rr_client_stats(tl_sim_service_get(n.sim, n.rr), &cs);
    assert_int_equal(cs.connect_status, TL_STATUS_CONNECT_FAILED);
    /* the echo service saw its listener close (MultiHomed stops) */
    assert_true(tl_sim_service_done(n.sim, n.echo));
    assert_true(trace_has(&n.trace, " stop-listener 7099\n"));
    net_free(&n);
}

static void test_sim_duplicates_and_jitter_reordering_are_absorbed(void **state)
{
    net_cfg c;
    net n;
    (void)state;
    net_defaults(&c);
    c.link.jitter_ns = 9 * MS;
    c.link.duplicate_ppb = TL_SIM_PPB / 4;
    c.client_opt.mss = c.server_opt.mss = 100;
    c.rr.count = 40;
    c.rr.size_min = 2000;
    c.rr.size_max = 4000;
    c.rr.concurrency = 4;
    net_build(&n, &c);
    assert_int_equal(tl_sim_run(n.sim, 600 * SEC), TL_OK);
    assert_rr_clean(&n, 40);
    tl_sim_stats st = sim_stats(&n);
    assert_true(st.duplicated > 0);
    assert_true(st.duplicates_dropped > 0);
    assert_true(st.out_of_order > 0); /* held until the gap filled */
    net_free(&n);
}

static void test_sim_fast_retransmit_never_passes_what_was_sent(void **state)
{
    /* Fuzz finding F3: with a 512-byte window, reordering and duplicate ACKs,
     * a fast retransmit of a whole MSS sent bytes the window had not admitted;
     * the receiver then acknowledged past the sender's snd_max and the two
     * ends ping-ponged pure ACKs (multiplied by duplication) for ever. */
    net_cfg c;
    net n;
    (void)state;
    net_defaults(&c);
    c.link.delay_ns = 60 * MS;
    c.link.jitter_ns = 5 * MS;
    c.link.duplicate_ppb = TL_SIM_PPB / 20;
    c.client_opt.rcvbuf = c.server_opt.rcvbuf = 512;
    c.client_opt.segments = c.server_opt.segments = TL_SIM_CHOP_RANDOM;
    c.rr.count = 32;
    c.rr.size_min = 448;
    c.rr.size_max = 8384;
    c.rr.concurrency = 4;
    net_build(&n, &c);
    assert_int_equal(tl_sim_run(n.sim, 600 * SEC), TL_OK);
    assert_rr_clean(&n, 32);
    tl_sim_stats st = sim_stats(&n);
    assert_true(st.retransmits > 0);
    assert_int_equal(st.challenge_acks, 0); /* nobody acknowledged unsent data */
    net_free(&n);
}

static void test_sim_gemodel_loss_comes_in_bursts(void **state)
{
    net_cfg c;
    net n;
    (void)state;
    net_defaults(&c);
    c.link.loss = TL_SIM_LOSS_GEMODEL;
    c.link.ge_p_ppb = TL_SIM_PPB / 20; /* 5 % good -> bad */
    c.link.ge_r_ppb = TL_SIM_PPB / 2;  /* 50 % bad -> good */
    c.link.ge_bad_loss_ppb = TL_SIM_PPB;
    c.rr.count = 100;
    net_build(&n, &c);
    assert_int_equal(tl_sim_run(n.sim, 3600 * SEC), TL_OK);
    assert_rr_clean(&n, 100);
    assert_true(sim_stats(&n).lost_random > 0);
    net_free(&n);
}

static void test_sim_corruption_reaches_the_application(void **state)
{
    net_cfg c;
    net n;
    (void)state;
    net_defaults(&c);
    c.rr.count = 200;
    c.rr.timeout_ns = 30 * SEC;
    net_build(&n, &c);
    tl_sim_link bad = c.link;
    bad.corrupt_ppb = TL_SIM_PPB / 10;
    assert_int_equal(tl_sim_link_set(n.sim, n.server, n.client, &bad), TL_OK);
    assert_int_equal(tl_sim_run(n.sim, 120 * SEC), TL_OK);
    assert_true(sim_stats(&n).corrupted > 0);
    assert_true(trace_has(&n.trace, " corrupt seq="));
    /* past the checksum: the client's checks see it (or the stream breaks) */
    tl_svc_report r = report_of(&n, n.rr);
    assert_true(r.errors > 0 || r.answered < 200);
    net_free(&n);
}

static void test_sim_full_queue_tail_drops_then_retransmits(void **state)
{
    net_cfg c;
    net n;
    (void)state;
    net_defaults(&c);
    c.link.rate_bps = 2000000; /* 2 Mbit/s, a queue of 4 packets */
    c.link.limit = 4;
    c.rr.count = 6;
    c.rr.size_min = c.rr.size_max = 30000;
    c.rr.concurrency = 3;
    net_build(&n, &c);
    assert_int_equal(tl_sim_run(n.sim, 600 * SEC), TL_OK);
    assert_rr_clean(&n, 6);
    tl_sim_stats st = sim_stats(&n);
    assert_true(st.lost_queue > 0);
    assert_true(st.retransmits > 0);
    assert_true(trace_has(&n.trace, " why=queue\n"));
    net_free(&n);
}

static const char *twice_listen[] = {"tcp|server|7099", "tcp|server|7099"};

static int make_echo_twice(void *arg, tl_service **out)
{
    tl_echo_config c;
    (void)arg;
    memset(&c, 0, sizeof c);
    c.listen = twice_listen;
    c.listen_count = 2;
    return tl_echo_service_create(&c, out);
}

static void test_sim_listen_on_port_in_use_fails(void **state)
{
    tl_sim *sim;
    tl_sim_options o;
    uint32_t server, svc;
    tbuf tr = {0};
    (void)state;
    memset(&o, 0, sizeof o);
    o.on_trace = capture_line;
    o.trace_ctx = &tr;
    assert_int_equal(tl_sim_create(&o, &sim), TL_OK);
    assert_int_equal(tl_sim_node_add(sim, "server", NULL, &server), TL_OK);
    assert_int_equal(tl_sim_service_add(sim, server, NULL, make_echo_twice, NULL, 0, &svc), TL_OK);
    assert_int_equal(tl_sim_run(sim, SEC), TL_OK);
    assert_non_null(strstr(tr.buf, " listen tcp|server|7099 ok\n"));
    assert_non_null(strstr(tr.buf, " listen tcp|server|7099 failed=listen_failed\n"));
    assert_non_null(
        strstr(tr.buf, " recv WelcomeResponse id=2 more=0 thl=28 bl=0 origin=engine status=listen_failed\n"));
    tl_sim_node_stats ns;
    tl_sim_node_stats_get(sim, server, &ns);
    assert_int_equal(ns.closed_by[TL_STATUS_LISTEN_FAILED], 1);
    assert_true(tl_sim_service_done(sim, svc)); /* the echo service stops on a failed listener */
    tl_sim_destroy(sim);
    free(tr.buf);
}

/* ------------------------------------------------------------ pcap */

static uint32_t rd32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t rd16be(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t rd32be(const uint8_t *p) { return rd16be(p) << 16 | rd16be(p + 2); }

static uint32_t csum(uint32_t sum, const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i + 1 < n; i += 2) {
        sum += rd16be(p + i);
    }
    if (i < n) {
        sum += (uint32_t)p[i] << 8;
    }
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)sum;
}

static void test_sim_pcap_is_well_formed(void **state)
{
    net_cfg c;
    net n;
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    net_defaults(&c);
    c.rr.count = 20;
    c.link.loss = TL_SIM_LOSS_RANDOM;
    c.link.loss_ppb = TL_SIM_PPB / 10;
    c.pcap = f;
    net_build(&n, &c);
    assert_int_equal(tl_sim_run(n.sim, 600 * SEC), TL_OK);
    assert_rr_clean(&n, 20);
    tl_sim_stats st = sim_stats(&n);
    net_free(&n);
    fflush(f);
    long size = ftell(f);
    assert_true(size > 24);
    rewind(f);
    uint8_t *buf = malloc((size_t)size);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);

    /* global header: nanosecond magic, 2.4, snaplen, LINKTYPE_RAW */
    assert_true(rd32le(buf) == 0xa1b23c4du);
    assert_true(buf[4] == 2 && buf[5] == 0 && buf[6] == 4 && buf[7] == 0);
    assert_true(rd32le(buf + 16) == 262144);
    assert_true(rd32le(buf + 20) == 101);

    size_t off = 24;
    uint64_t records = 0, syn = 0, synack = 0, rst = 0, data = 0;
    uint64_t last_ts = 0;
    while (off < (size_t)size) {
        assert_true(off + 16 <= (size_t)size);
        uint64_t ts = (uint64_t)rd32le(buf + off) * SEC + rd32le(buf + off + 4);
        uint32_t incl = rd32le(buf + off + 8);
        assert_true(rd32le(buf + off + 12) == incl);
        assert_true(rd32le(buf + off + 4) < SEC);
        assert_true(ts >= last_ts); /* captured in time order */
        last_ts = ts;
        const uint8_t *ip = buf + off + 16;
        assert_true(off + 16 + incl <= (size_t)size);
        /* IPv4: version 4, IHL 5, protocol TCP, total length, checksum */
        assert_true(ip[0] == 0x45);
        assert_true(ip[9] == 6);
        assert_true(rd16be(ip + 2) == incl);
        assert_true(fold(csum(0, ip, 20)) == 0xffff);
        uint32_t src = rd32be(ip + 12), dst = rd32be(ip + 16);
        assert_true((src == 0x0A000001u && dst == 0x0A000002u) || (src == 0x0A000002u && dst == 0x0A000001u));
        const uint8_t *tcp = ip + 20;
        size_t thl = (size_t)(tcp[12] >> 4) * 4;
        assert_true(thl == 20 || thl == 28);
        /* TCP checksum over the pseudo-header */
        uint8_t pseudo[12];
        memcpy(pseudo, ip + 12, 8);
        pseudo[8] = 0;
        pseudo[9] = 6;
        pseudo[10] = (uint8_t)((incl - 20) >> 8);
        pseudo[11] = (uint8_t)(incl - 20);
        assert_true(fold(csum(csum(0, pseudo, 12), tcp, incl - 20)) == 0xffff);
        uint8_t flags = tcp[13];
        if (records == 0) {
            /* the first packet: the client's SYN from 10.0.0.2:49152 to :7099 */
            assert_true(flags == 0x02);
            assert_true(src == 0x0A000002u);
            assert_true(rd16be(tcp) == 49152 && rd16be(tcp + 2) == 7099);
            assert_true(thl == 28 && tcp[20] == 2 && tcp[21] == 4 && rd16be(tcp + 22) == 1460); /* MSS */
            assert_true(tcp[25] == 3 && tcp[26] == 3); /* window scale */
        }
        if (flags == 0x02) {
            syn++;
        } else if (flags == 0x12) {
            synack++;
        }
        if (flags & 0x04) {
            rst++;
        }
        if (incl > 20 + thl) {
            data++;
        }
        records++;
        off += 16 + incl;
    }
    assert_true(off == (size_t)size);
    assert_true(records == st.pcap_records);
    assert_true(records == st.segments_sent);
    assert_true(syn >= 1 && synack >= 1);
    assert_true(rst >= 1); /* the client's close after ByeResponse */
    assert_true(data == st.data_segments);
    free(buf);
}

/* S10 (docs/findings.md): a SYN lost as it leaves writes its `lost` line
 * after the whole `connect` line, never inside it. */
static void connect_line_check(void *ctx, const char *line, size_t len)
{
    int *state = ctx;
    const char *c = NULL;
    for (size_t i = 0; i + 13 <= len; i++) {
        if (memcmp(line + i, " connect tcp|", 13) == 0) {
            c = line + i;
            break;
        }
    }
    if (c == NULL) {
        return;
    }
    state[0]++;
    /* a whole line: "... connect tcp|server|7099 port=49152", nothing after */
    const char *port = NULL;
    for (const char *p = c; p + 6 <= line + len; p++) {
        if (memcmp(p, " port=", 6) == 0) {
            port = p;
        }
    }
    if (port == NULL || memchr(c + 9, '=', (size_t)(port - c - 9)) != NULL ||
        strspn(port + 6, "0123456789") != (size_t)(line + len - port - 6)) {
        state[1]++;
    }
}

static void test_sim_connect_line_is_whole_when_the_syn_is_lost(void **state)
{
    (void)state;
    static const char text[] = "duration 30s\nnode server\nnode client\n"
                               "link client server delay 5ms loss 100%\nheal 20s\n"
                               "service server echo listen=tcp|server|7099\n"
                               "service client rr connect=tcp|server|7099 count=2\n";
    tl_scenario *scn = NULL;
    tl_scn_run_options o;
    tl_scn_result r;
    int seen[2] = {0, 0};
    assert_int_equal(tl_scn_parse(text, sizeof text - 1, "t.scn", &scn, NULL), TL_OK);
    memset(&o, 0, sizeof o);
    o.on_trace = connect_line_check;
    o.trace_ctx = seen;
    assert_int_equal(tl_scn_run(scn, 1, &o, &r), TL_OK);
    assert_true(r.stats.lost_random > 0);
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 0);
    tl_scn_free(scn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_prng_streams_split_by_kind_and_name),
        cmocka_unit_test(test_sim_sched_orders_by_time_then_sequence),
        cmocka_unit_test(test_sim_same_seed_gives_identical_trace),
        cmocka_unit_test(test_sim_different_seeds_give_different_traces),
        cmocka_unit_test(test_sim_trace_lines_have_the_canonical_form),
        cmocka_unit_test(test_sim_one_byte_segments_deliver_intact_frames),
        cmocka_unit_test(test_sim_loss_30pct_delivers_everything_later),
        cmocka_unit_test(test_sim_crash_gives_peer_communication_failed_and_channel_closed),
        cmocka_unit_test(test_sim_silent_death_gives_nothing_until_timers_fire),
        cmocka_unit_test(test_sim_oneway_partition_stalls_one_direction),
        cmocka_unit_test(test_sim_retransmission_exhaustion_aborts_connection),
        cmocka_unit_test(test_sim_pause_fills_buffers_and_resume_drains_them),
        cmocka_unit_test(test_sim_restart_accepts_new_connections),
        cmocka_unit_test(test_sim_bandwidth_limit_shows_serialisation_delay),
        cmocka_unit_test(test_sim_refused_connect_fails_after_one_rtt),
        cmocka_unit_test(test_sim_uds_missing_path_fails_immediately),
        cmocka_unit_test(test_sim_uds_connection_on_one_node_works),
        cmocka_unit_test(test_sim_fin_close_gives_peer_recv_failed),
        cmocka_unit_test(test_sim_stop_listener_refuses_new_connections),
        cmocka_unit_test(test_sim_duplicates_and_jitter_reordering_are_absorbed),
        cmocka_unit_test(test_sim_fast_retransmit_never_passes_what_was_sent),
        cmocka_unit_test(test_sim_gemodel_loss_comes_in_bursts),
        cmocka_unit_test(test_sim_connect_line_is_whole_when_the_syn_is_lost),
        cmocka_unit_test(test_sim_corruption_reaches_the_application),
        cmocka_unit_test(test_sim_full_queue_tail_drops_then_retransmits),
        cmocka_unit_test(test_sim_listen_on_port_in_use_fails),
        cmocka_unit_test(test_sim_pcap_is_well_formed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
