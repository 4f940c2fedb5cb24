/*
 * The patterns of tofu's patterns page as services (patterns/pattern_server.h,
 * patterns/pattern_client.h, patterns/heartbeat.h), each run on the
 * simulator clean and under one fault, asserting the services' reports.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../patterns/heartbeat.h"
#include "../../patterns/pattern_client.h"
#include "../../patterns/pattern_server.h"
#include "../../sim/sim.h"

#define MS   TL_SIM_NS_PER_MS
#define SEC  TL_SIM_NS_PER_S
#define ADDR "tcp|server|7100"

typedef struct {
    tl_sim *sim;
    uint32_t server, client;
    uint32_t ssvc, csvc;
} net;

static int make_server(void *arg, tl_service **out) { return tl_pattern_server_create(arg, out); }
static int make_client(void *arg, tl_service **out) { return tl_pattern_client_create(arg, out); }
static int make_heartbeat(void *arg, tl_service **out) { return tl_heartbeat_create(arg, out); }

static void net_up(net *n, uint64_t seed, uint64_t delay_ns, uint32_t loss_ppb, tl_sim_service_create sc,
                   void *sa, tl_sim_service_create cc, void *ca)
{
    tl_sim_options o;
    tl_sim_node_options no;
    tl_sim_link l;

    memset(&o, 0, sizeof o);
    o.seed = seed;
    tl_sim_node_defaults(&no);
    assert_int_equal(tl_sim_create(&o, &n->sim), TL_OK);
    assert_int_equal(tl_sim_node_add(n->sim, "server", &no, &n->server), TL_OK);
    assert_int_equal(tl_sim_node_add(n->sim, "client", &no, &n->client), TL_OK);
    tl_sim_link_defaults(&l);
    l.delay_ns = delay_ns;
    if (loss_ppb != 0) {
        l.loss = TL_SIM_LOSS_RANDOM;
        l.loss_ppb = loss_ppb;
    }
    assert_int_equal(tl_sim_link_set(n->sim, n->client, n->server, &l), TL_OK);
    assert_int_equal(tl_sim_link_set(n->sim, n->server, n->client, &l), TL_OK);
    assert_int_equal(tl_sim_service_add(n->sim, n->server, NULL, sc, sa, 0, &n->ssvc), TL_OK);
    assert_int_equal(tl_sim_service_add(n->sim, n->client, NULL, cc, ca, 0, &n->csvc), TL_OK);
}

static void net_reports(net *n, uint64_t until_ns, tl_svc_report *server, tl_svc_report *client)
{
    assert_int_equal(tl_sim_run(n->sim, until_ns), TL_OK);
    assert_int_equal(tl_sim_service_report(n->sim, n->ssvc, server), TL_OK);
    assert_int_equal(tl_sim_service_report(n->sim, n->csvc, client), TL_OK);
}

static void assert_clean(const tl_svc_report *r)
{
    if (r->errors != 0) {
        fail_msg("%llu errors, first: %s", (unsigned long long)r->errors, r->first_error);
    }
}

static tl_pattern_client_config client_cfg(tl_pc_mode mode, uint64_t count)
{
    tl_pattern_client_config c;

    memset(&c, 0, sizeof c);
    c.connect = ADDR;
    c.mode = mode;
    c.count = count;
    c.concurrency = 1;
    c.frames = 6;
    c.size = 100;
    c.timeout_ns = 600 * SEC;
    return c;
}

/* Run one client mode against the pattern server; returns the client's report. */
static void run_mode(const tl_pattern_client_config *cc, uint64_t odd_delay_ns, uint32_t loss_ppb,
                     tl_svc_report *server, tl_svc_report *client, tl_pattern_client_stats *stats)
{
    tl_pattern_server_config sc;
    tl_pattern_client_config c = *cc;
    net n;

    memset(&sc, 0, sizeof sc);
    sc.listen = ADDR;
    sc.odd_delay_ns = odd_delay_ns;
    sc.clients = 1;
    net_up(&n, 1, 10 * MS, loss_ppb, make_server, &sc, make_client, &c);
    net_reports(&n, 3600 * SEC, server, client);
    assert_true(tl_sim_service_done(n.sim, n.csvc));
    assert_true(tl_sim_service_done(n.sim, n.ssvc)); /* clients = 1: no channel left */
    if (stats != NULL) {
        tl_pattern_client_stats_get(tl_sim_service_get(n.sim, n.csvc), stats);
    }
    tl_sim_destroy(n.sim);
}

static void test_patterns_helpers_checksum_and_header_work(void **state)
{
    tl_message m;
    char v[32];

    (void)state;
    /* FNV-1a 32 test vectors. */
    assert_true(tl_pattern_fnv(TL_PATTERN_FNV_INIT, (const uint8_t *)"", 0) == 0x811c9dc5u);
    assert_true(tl_pattern_fnv(TL_PATTERN_FNV_INIT, (const uint8_t *)"a", 1) == 0xe40c292cu);
    memset(&m, 0, sizeof m);
    m.alloc = tl_allocator_default();
    assert_int_equal(tl_msg_add_header(&m, "x-other", "1"), TL_OK);
    assert_int_equal(tl_msg_add_header(&m, TL_PATTERN_HEADER, "stream-out:7"), TL_OK);
    assert_int_equal(tl_pattern_header(&m, TL_PATTERN_HEADER, v, sizeof v), 12);
    assert_string_equal(v, "stream-out:7");
    assert_int_equal(tl_pattern_header(&m, TL_PATTERN_HEADER, v, 5), -1);
    assert_int_equal(tl_pattern_header(&m, TL_PATTERN_REJECT, v, sizeof v), -1);
    free(m.text.data);
    free(m.body.data);
}

static void test_patterns_create_bad_config_returns_inval(void **state)
{
    tl_service *s = (tl_service *)1;
    tl_pattern_client_config c = client_cfg(TL_PC_CORRELATION, 1);
    tl_pattern_server_config sc;
    tl_heartbeat_config hb;

    (void)state;
    memset(&sc, 0, sizeof sc);
    memset(&hb, 0, sizeof hb);
    assert_int_equal(tl_pattern_server_create(&sc, &s), TL_E_INVAL);
    assert_null(s);
    assert_int_equal(tl_pattern_server_create(NULL, &s), TL_E_INVAL);
    assert_int_equal(tl_heartbeat_create(&hb, &s), TL_E_INVAL);
    c.connect = NULL;
    assert_int_equal(tl_pattern_client_create(&c, &s), TL_E_INVAL);
    c = client_cfg(TL_PC_CORRELATION, TL_PC_MAX_COUNT + 1);
    assert_int_equal(tl_pattern_client_create(&c, &s), TL_E_INVAL);
    c = client_cfg(TL_PC_CORRELATION, 1);
    c.size = 70000;
    assert_int_equal(tl_pattern_client_create(&c, &s), TL_E_INVAL);
    assert_int_equal(tl_pattern_client_create(&c, NULL), TL_E_INVAL);
}

static void test_patterns_correlation_clean_answers_out_of_order_once(void **state)
{
    tl_pattern_client_config c = client_cfg(TL_PC_CORRELATION, 100);
    tl_svc_report s, r;
    tl_pattern_client_stats st;

    (void)state;
    c.concurrency = 10;
    run_mode(&c, 30 * MS, 0, &s, &r, &st);
    assert_clean(&r);
    assert_clean(&s);
    assert_int_equal(r.sent, 100);
    assert_int_equal(r.answered, 100);
    assert_int_equal(r.bytes, 100 * 100);
    assert_true(st.out_of_order > 0); /* odd ids held 30 ms */
    assert_true(r.latency_max_ns >= 30 * MS);
    assert_int_equal(s.answered, 100);
    assert_int_equal(s.closed, 1);
}

static void test_patterns_correlation_loss_answers_all(void **state)
{
    tl_pattern_client_config c = client_cfg(TL_PC_CORRELATION, 100);
    tl_svc_report s, r;

    (void)state;
    c.concurrency = 8;
    run_mode(&c, 20 * MS, TL_SIM_PPB / 10, &s, &r, NULL);
    assert_clean(&r);
    assert_clean(&s);
    assert_int_equal(r.answered, 100);
}

static void test_patterns_stream_in_clean_checksum_matches(void **state)
{
    tl_pattern_client_config c = client_cfg(TL_PC_STREAM_IN, 10);
    tl_svc_report s, r;

    (void)state;
    c.frames = 12;
    c.size = 1000;
    run_mode(&c, 0, 0, &s, &r, NULL);
    assert_clean(&r);
    assert_clean(&s);
    assert_int_equal(r.answered, 10);
    assert_int_equal(s.signals, 120); /* frames received */
    assert_int_equal(s.bytes, 120 * 1000);
}

static void test_patterns_stream_in_loss_checksum_matches(void **state)
{
    tl_pattern_client_config c = client_cfg(TL_PC_STREAM_IN, 10);
    tl_svc_report s, r;

    (void)state;
    c.frames = 12;
    c.size = 1500;
    run_mode(&c, 0, TL_SIM_PPB / 5, &s, &r, NULL);
    assert_clean(&r);
    assert_clean(&s);
    assert_int_equal(r.answered, 10);
}

static void test_patterns_stream_out_clean_reassembles(void **state)
{
    tl_pattern_client_config c = client_cfg(TL_PC_STREAM_OUT, 5);
    tl_svc_report s, r;

    (void)state;
    c.frames = 30;
    run_mode(&c, 0, 0, &s, &r, NULL);
    assert_clean(&r);
    assert_clean(&s);
    assert_int_equal(r.answered, 5);
    assert_int_equal(r.signals, 150);
    assert_int_equal(s.sent, 1 + 150 + 1); /* HelloResponse, frames, ByeResponse */
}

static void test_patterns_stream_out_loss_reassembles(void **state)
{
    tl_pattern_client_config c = client_cfg(TL_PC_STREAM_OUT, 5);
    tl_svc_report s, r;

    (void)state;
    c.frames = 30;
    run_mode(&c, 0, TL_SIM_PPB / 5, &s, &r, NULL);
    assert_clean(&r);
    assert_int_equal(r.answered, 5);
    assert_int_equal(r.signals, 150);
}

static void test_patterns_progress_clean_signals_then_done(void **state)
{
    tl_pattern_client_config c = client_cfg(TL_PC_PROGRESS, 4);
    tl_svc_report s, r;

    (void)state;
    c.frames = 9;
    run_mode(&c, 0, 0, &s, &r, NULL);
    assert_clean(&r);
    assert_clean(&s);
    assert_int_equal(r.answered, 4);
    assert_int_equal(r.signals, 36);
}

static void test_patterns_progress_loss_signals_then_done(void **state)
{
    tl_pattern_client_config c = client_cfg(TL_PC_PROGRESS, 4);
    tl_svc_report s, r;

    (void)state;
    run_mode(&c, 0, TL_SIM_PPB / 5, &s, &r, NULL);
    assert_clean(&r);
    assert_int_equal(r.answered, 4);
    assert_int_equal(r.signals, 24);
}

static void test_patterns_bidir_clean_both_verify(void **state)
{
    tl_pattern_client_config c = client_cfg(TL_PC_BIDIR, 7);
    tl_svc_report s, r;
    tl_pattern_client_stats st;

    (void)state;
    run_mode(&c, 0, 0, &s, &r, &st);
    assert_clean(&r);
    assert_clean(&s);
    assert_int_equal(r.answered, 7);
    assert_int_equal(st.server_requests, 7);
}

static void test_patterns_bidir_loss_both_verify(void **state)
{
    tl_pattern_client_config c = client_cfg(TL_PC_BIDIR, 7);
    tl_svc_report s, r;
    tl_pattern_client_stats st;

    (void)state;
    run_mode(&c, 0, TL_SIM_PPB / 5, &s, &r, &st);
    assert_clean(&r);
    assert_clean(&s);
    assert_int_equal(st.server_requests, 7);
}

static void test_patterns_reject_hello_closes_channel(void **state)
{
    tl_pattern_client_config c = client_cfg(TL_PC_REJECT, 1);
    tl_svc_report s, r;
    tl_pattern_client_stats st;

    (void)state;
    run_mode(&c, 0, 0, &s, &r, &st);
    assert_clean(&r);
    assert_clean(&s);
    assert_int_equal(r.closed, 1);
    assert_int_equal(r.answered, 0);
    assert_false(st.connected);
}

static void test_patterns_request_oracle_catches_lost_and_double_counted_requests(void **state)
{
    tl_svc_report r, t;
    char why[200];

    (void)state;
    memset(&r, 0, sizeof r);
    r.sent = 10;
    r.answered = 7;
    r.failed = 2;
    r.open = 1;
    assert_null(tl_svc_report_check(&r, 0, why, sizeof why)); /* still waiting: fine */
    assert_null(tl_svc_report_check(&r, 1, why, sizeof why)); /* not a request service: no oracle */
    r.requests = 1;
    assert_null(tl_svc_report_check(&r, 0, why, sizeof why));
    assert_non_null(tl_svc_report_check(&r, 1, why, sizeof why)); /* finished with one open: lost */
    assert_non_null(strstr(why, "1 request(s) neither answered nor failed"));
    r.open = 0;
    r.failed = 3;
    assert_null(tl_svc_report_check(&r, 1, why, sizeof why));
    r.answered = 8; /* one request both answered and failed */
    assert_non_null(tl_svc_report_check(&r, 0, why, sizeof why));
    assert_non_null(strstr(why, "10 sent, but 8 answered + 3 failed + 0 open + 0 abandoned"));
    /* a crashed incarnation's open requests are abandoned, not lost */
    memset(&t, 0, sizeof t);
    r.answered = 7;
    r.failed = 2;
    r.open = 1;
    tl_svc_report_add(&t, &r, 0);
    assert_int_equal(t.abandoned, 1);
    assert_int_equal(t.open, 0);
    assert_null(tl_svc_report_check(&t, 1, why, sizeof why));
    tl_svc_report_add(&t, &r, 1);
    assert_int_equal(t.open, 1);
    assert_non_null(tl_svc_report_check(&t, 1, why, sizeof why));
}

static void test_patterns_server_crash_fails_every_outstanding_request(void **state)
{
    tl_pattern_server_config sc;
    tl_pattern_client_config c = client_cfg(TL_PC_CORRELATION, 100000);
    tl_svc_report s, r;
    net n;

    (void)state;
    c.concurrency = 8;
    memset(&sc, 0, sizeof sc);
    sc.listen = ADDR;
    net_up(&n, 1, 10 * MS, 0, make_server, &sc, make_client, &c);
    assert_int_equal(tl_sim_at(n.sim, 200 * MS, TL_SIM_CRASH, n.server, 0, 0, 0), TL_OK);
    net_reports(&n, 60 * SEC, &s, &r);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.closed, 1);
    assert_true(r.answered > 0);
    /* channel_closed ended each outstanding request: at least one, at most the window */
    assert_true(r.failed >= 1 && r.failed <= c.concurrency);
    assert_int_equal(r.open, 0);
    assert_int_equal(r.sent, r.answered + r.failed);
    assert_true(r.requests);
    assert_true(tl_sim_service_done(n.sim, n.csvc));
    tl_sim_destroy(n.sim);
}

static void test_patterns_churn_server_finishes_without_leaks(void **state)
{
    tl_pattern_server_config sc;
    tl_pattern_client_config c[3];
    tl_sim_options o;
    tl_sim_node_options no;
    tl_sim *sim;
    uint32_t server, client, ssvc, id;
    tl_svc_report s;
    tl_pattern_server_stats st;

    (void)state;
    memset(&sc, 0, sizeof sc);
    sc.listen = ADDR;
    sc.clients = 3;
    memset(&o, 0, sizeof o);
    o.seed = 3;
    tl_sim_node_defaults(&no);
    assert_int_equal(tl_sim_create(&o, &sim), TL_OK);
    assert_int_equal(tl_sim_node_add(sim, "server", &no, &server), TL_OK);
    assert_int_equal(tl_sim_node_add(sim, "client", &no, &client), TL_OK);
    assert_int_equal(tl_sim_service_add(sim, server, NULL, make_server, &sc, 0, &ssvc), TL_OK);
    for (int i = 0; i < 3; i++) {
        c[i] = client_cfg(TL_PC_CORRELATION, 10);
        c[i].abort = i == 1;
        assert_int_equal(tl_sim_service_add(sim, client, NULL, make_client, &c[i], (uint64_t)i * SEC, &id),
                         TL_OK);
    }
    assert_int_equal(tl_sim_run(sim, 60 * SEC), TL_OK);
    assert_int_equal(tl_sim_service_report(sim, ssvc, &s), TL_OK);
    assert_clean(&s);
    assert_int_equal(s.closed, 3);
    assert_int_equal(s.answered, 30);
    assert_true(tl_sim_service_done(sim, ssvc));
    tl_pattern_server_stats_get(tl_sim_service_get(sim, ssvc), &st);
    assert_int_equal(st.hellos, 3);
    assert_int_equal(st.open, 0);
    assert_int_equal(st.open_max, 1);
    tl_sim_destroy(sim);
}

static tl_heartbeat_config hb_cfg(int listen, uint64_t death_ns)
{
    tl_heartbeat_config h;

    memset(&h, 0, sizeof h);
    h.address = ADDR;
    h.listen = listen;
    h.interval_ns = 1 * SEC;
    h.timeout_ns = 3 * SEC;
    h.expect_death_ns = death_ns;
    return h;
}

static void test_patterns_heartbeat_clean_no_suspicion(void **state)
{
    tl_heartbeat_config hs = hb_cfg(1, 0), hc = hb_cfg(0, 0);
    tl_svc_report s, r;
    net n;

    (void)state;
    net_up(&n, 1, 5 * MS, 0, make_heartbeat, &hs, make_heartbeat, &hc);
    net_reports(&n, 30 * SEC, &s, &r);
    assert_clean(&s);
    assert_clean(&r);
    assert_int_equal(s.failed, 0);
    assert_int_equal(r.failed, 0);
    assert_int_equal(s.answered, 0);
    assert_true(s.signals >= 28 && r.signals >= 28);
    tl_sim_destroy(n.sim);
}

static void test_patterns_heartbeat_silent_death_detected_within_timeout(void **state)
{
    tl_heartbeat_config hs = hb_cfg(1, 10 * SEC), hc = hb_cfg(0, 0);
    tl_svc_report s, r;
    tl_heartbeat_stats st;
    net n;

    (void)state;
    net_up(&n, 1, 5 * MS, 0, make_heartbeat, &hs, make_heartbeat, &hc);
    assert_int_equal(tl_sim_at(n.sim, 10 * SEC, TL_SIM_SILENT_DEATH, n.client, 0, 0, 0), TL_OK);
    net_reports(&n, 30 * SEC, &s, &r);
    assert_clean(&s);
    assert_int_equal(s.deaths, 1);
    assert_int_equal(s.suspicions, 1);
    assert_int_equal(s.false_suspicions, 0);
    assert_int_equal(s.answered, 0); /* a heartbeat is no request */
    assert_false(s.requests);
    assert_true(s.latency_max_ns <= 3 * SEC && s.latency_max_ns >= 2 * SEC);
    tl_heartbeat_stats_get(tl_sim_service_get(n.sim, n.ssvc), &st);
    assert_int_equal(st.deaths, 1);
    assert_int_equal(st.by_transport, 0);
    tl_sim_destroy(n.sim);
}

static void test_patterns_heartbeat_late_detection_is_an_error(void **state)
{
    /* told the client dies at 5 s; it vanishes at 10 s: declared at 13 s, 8 s
     * after the death it was told of, more than interval + timeout (4 s) */
    tl_heartbeat_config hs = hb_cfg(1, 5 * SEC), hc = hb_cfg(0, 0);
    tl_svc_report s, r;
    net n;

    (void)state;
    net_up(&n, 1, 5 * MS, 0, make_heartbeat, &hs, make_heartbeat, &hc);
    assert_int_equal(tl_sim_at(n.sim, 10 * SEC, TL_SIM_SILENT_DEATH, n.client, 0, 0, 0), TL_OK);
    net_reports(&n, 30 * SEC, &s, &r);
    assert_int_equal(s.deaths, 1);
    assert_int_equal(s.errors, 1);
    assert_non_null(strstr(s.first_error, "later than interval + timeout (4000000000 ns)"));
    tl_sim_destroy(n.sim);
}

static void test_patterns_heartbeat_pause_counts_false_suspicion(void **state)
{
    tl_heartbeat_config hs = hb_cfg(1, 0), hc = hb_cfg(0, 0);
    tl_svc_report s, r;
    net n;

    (void)state;
    net_up(&n, 1, 5 * MS, 0, make_heartbeat, &hs, make_heartbeat, &hc);
    assert_int_equal(tl_sim_at(n.sim, 10 * SEC, TL_SIM_PAUSE, n.client, 0, 0, 0), TL_OK);
    assert_int_equal(tl_sim_at(n.sim, 20 * SEC, TL_SIM_RESUME, n.client, 0, 0, 0), TL_OK);
    net_reports(&n, 40 * SEC, &s, &r);
    assert_clean(&s);
    assert_clean(&r);
    assert_int_equal(s.false_suspicions, 1);
    assert_int_equal(s.deaths, 0);
    tl_sim_destroy(n.sim);
}

static void test_patterns_scenario_kinds_parse_and_run(void **state)
{
    static const char text[] =
        "duration 30s\nnode server\nnode client\nlink client server delay 5ms\n"
        "service server pattern-server listen=tcp|server|7100 odd-delay=10ms clients=1\n"
        "service client correlation connect=tcp|server|7100 count=20 concurrency=5\n"
        "expect client answered == 20\nexpect client errors == 0\nexpect server done\n";
    static const char bad[] =
        "node server\nservice server heartbeat-server listen=tcp|server|1 interval=0s\n";
    tl_scenario *scn = NULL;
    tl_scn_error err;
    tl_scn_result a, b;

    (void)state;
    assert_int_equal(tl_scn_parse(text, strlen(text), "t.scn", &scn, &err), TL_OK);
    assert_int_equal(tl_scn_run(scn, 1, NULL, &a), TL_OK);
    assert_true(a.passed);
    assert_int_equal(tl_scn_run(scn, 1, NULL, &b), TL_OK);
    assert_true(a.trace_hash == b.trace_hash);
    tl_scn_free(scn);
    scn = NULL;
    assert_int_equal(tl_scn_parse(bad, strlen(bad), "bad.scn", &scn, &err), TL_E_INVAL);
    assert_int_equal(err.line, 2);
}

/* Every scenario file of the pattern folders passes for every seed of its
 * `seeds` line and repeats its trace hash (runs from the repository root). */
static void test_patterns_scenario_files_pass_and_repeat(void **state)
{
    static const char *const dirs[] = {
        "scenarios/pattern-server", "scenarios/correlation", "scenarios/stream-in",
        "scenarios/stream-out",     "scenarios/progress",    "scenarios/bidirectional",
        "scenarios/heartbeat",      "scenarios/churn",       "scenarios/close"};
    unsigned files = 0;

    (void)state;
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        DIR *dir = opendir(dirs[d]);
        struct dirent *e;

        if (dir == NULL) {
            fail_msg("cannot open %s (run from the repository root)", dirs[d]);
        }
        while ((e = readdir(dir)) != NULL) {
            char path[512];
            size_t n = strlen(e->d_name);
            tl_scenario *scn = NULL;
            tl_scn_error err;
            uint64_t first, last;

            if (n < 5 || strcmp(e->d_name + n - 4, ".scn") != 0) {
                continue;
            }
            snprintf(path, sizeof path, "%s/%s", dirs[d], e->d_name);
            if (tl_scn_load(path, &scn, &err) != TL_OK) {
                fail_msg("%s:%u:%u: %s", err.file, err.line, err.column, err.message);
            }
            tl_scn_seeds(scn, &first, &last);
            for (uint64_t seed = first; seed <= last; seed++) {
                tl_scn_result a, b;
                assert_int_equal(tl_scn_run(scn, seed, NULL, &a), TL_OK);
                if (!a.passed) {
                    fail_msg("%s seed %llu: %s", path, (unsigned long long)seed, a.first_failure);
                }
                assert_int_equal(tl_scn_run(scn, seed, NULL, &b), TL_OK);
                assert_true(a.trace_hash == b.trace_hash);
            }
            tl_scn_free(scn);
            files++;
        }
        closedir(dir);
    }
    assert_true(files >= 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns_helpers_checksum_and_header_work),
        cmocka_unit_test(test_patterns_create_bad_config_returns_inval),
        cmocka_unit_test(test_patterns_correlation_clean_answers_out_of_order_once),
        cmocka_unit_test(test_patterns_correlation_loss_answers_all),
        cmocka_unit_test(test_patterns_stream_in_clean_checksum_matches),
        cmocka_unit_test(test_patterns_stream_in_loss_checksum_matches),
        cmocka_unit_test(test_patterns_stream_out_clean_reassembles),
        cmocka_unit_test(test_patterns_stream_out_loss_reassembles),
        cmocka_unit_test(test_patterns_progress_clean_signals_then_done),
        cmocka_unit_test(test_patterns_progress_loss_signals_then_done),
        cmocka_unit_test(test_patterns_bidir_clean_both_verify),
        cmocka_unit_test(test_patterns_bidir_loss_both_verify),
        cmocka_unit_test(test_patterns_reject_hello_closes_channel),
        cmocka_unit_test(test_patterns_request_oracle_catches_lost_and_double_counted_requests),
        cmocka_unit_test(test_patterns_server_crash_fails_every_outstanding_request),
        cmocka_unit_test(test_patterns_churn_server_finishes_without_leaks),
        cmocka_unit_test(test_patterns_heartbeat_clean_no_suspicion),
        cmocka_unit_test(test_patterns_heartbeat_silent_death_detected_within_timeout),
        cmocka_unit_test(test_patterns_heartbeat_late_detection_is_an_error),
        cmocka_unit_test(test_patterns_heartbeat_pause_counts_false_suspicion),
        cmocka_unit_test(test_patterns_scenario_kinds_parse_and_run),
        cmocka_unit_test(test_patterns_scenario_files_pass_and_repeat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
