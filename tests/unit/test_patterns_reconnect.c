/*
 * The client patterns' handshake timeout and reconnect (tl_client_connection,
 * patterns/echo_client.h; docs/patterns.md "Handshake timeout and
 * reconnect"): a HelloRequest that gets no answer becomes a counted connect
 * failure and the client finishes, never a silent wait; with reconnect on a
 * client comes back after a connect failure, a channel_closed or a healed
 * partition and completes its count; the heartbeat client resumes its
 * heartbeats on the new channel; the pattern server counts a reconnecting
 * client once. Most cases are scenarios written inline (the run's oracles
 * check the request accounting of every run); the backoff is checked
 * directly against a scripted env.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../patterns/client_base.h"
#include "../../patterns/heartbeat.h"
#include "../../sim/sim.h"

#define SEC TL_SIM_NS_PER_S

/* ---- running inline scenarios ---- */

typedef struct {
    const char *needle; /* a trace line fragment to count */
    unsigned hits;
} trace_grep;

static void on_trace(void *ctx, const char *line, size_t len)
{
    trace_grep *g = ctx;
    size_t n = strlen(g->needle);

    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(line + i, g->needle, n) == 0) {
            g->hits++;
            return;
        }
    }
}

/* Run text for seed: passed (want_pass) or failed with a first failure that
 * contains want_failure. The number of trace lines containing needle (may be
 * NULL) is returned. */
static unsigned run_scn(const char *what, const char *text, uint64_t seed, const char *needle, int want_pass,
                        const char *want_failure)
{
    tl_scenario *scn = NULL;
    tl_scn_error err;
    tl_scn_result res;
    tl_scn_run_options o;
    trace_grep g = {needle ? needle : "", 0};

    if (tl_scn_parse(text, strlen(text), what, &scn, &err) != TL_OK) {
        fail_msg("%s:%u:%u: %s", err.file, err.line, err.column, err.message);
    }
    memset(&o, 0, sizeof o);
    if (needle != NULL) {
        o.on_trace = on_trace;
        o.trace_ctx = &g;
    }
    assert_int_equal(tl_scn_run(scn, seed, &o, &res), TL_OK);
    tl_scn_free(scn);
    if (want_pass && !res.passed) {
        fail_msg("%s seed %llu: %s", what, (unsigned long long)seed, res.first_failure);
    }
    if (!want_pass && (res.passed || strstr(res.first_failure, want_failure) == NULL)) {
        fail_msg("%s seed %llu: expected a failure with '%s', got %s", what, (unsigned long long)seed,
                 want_failure, res.passed ? "a pass" : res.first_failure);
    }
    return g.hits;
}

/* Run text for seed; its expectations (and the oracles) must hold. */
static unsigned run_ok(const char *what, const char *text, uint64_t seed, const char *needle)
{
    return run_scn(what, text, seed, needle, 1, NULL);
}

/* The client kinds, each with the server it talks to and its workload
 * keys besides count (the heartbeat has no count). */
static const struct {
    const char *kind;
    const char *server;
    const char *work;
} kinds[] = {
    {"echo-client", "echo", ""},
    {"rr", "echo", "concurrency=4"},
    {"correlation", "pattern-server", "concurrency=4"},
    {"stream-in", "pattern-server", "frames=5"},
    {"stream-out", "pattern-server", "frames=5"},
    {"progress", "pattern-server", "frames=5"},
    {"bidir", "pattern-server", ""},
    {"reject", "pattern-server", ""},
    {"heartbeat", "heartbeat-server", NULL},
};

/* "count=N KEYS" of kind k. */
static const char *work(size_t k, int count, char *buf, size_t cap)
{
    if (kinds[k].work == NULL) {
        buf[0] = '\0';
    } else {
        snprintf(buf, cap, "count=%d %s", count, kinds[k].work);
    }
    return buf;
}

/* A scenario: server and client over a 10 ms link, then `extra` lines. */
static void scenario(char *out, size_t cap, size_t k, const char *duration, const char *client_keys,
                     const char *extra)
{
    char w[64];

    snprintf(out, cap,
             "duration %s\nnode server\nnode client\nlink client server delay 10ms\n"
             "service server %s listen=tcp|server|7100\n"
             "service client %s connect=tcp|server|7100 %s %s\n%s",
             duration, kinds[k].server, kinds[k].kind, work(k, 5, w, sizeof w), client_keys, extra);
}

/* The HelloRequest is lost: from 15 ms the client's segments to the server
 * are dropped (its SYN went through at 0, the Hello leaves at 20 ms). The
 * partition ends at 5 s, 29 s or not within the run (progress expectations
 * need the faults to end, docs/scenarios.md "Safety and liveness"); TCP's
 * next retransmission of the Hello after 5 s is at 6.2 s, after 29 s at 51 s. */
#define LOSE_HELLO       "at 15ms partition client server oneway for 5s\n"
#define LOSE_HELLO_29S   "at 15ms partition client server oneway for 29s\n"
#define LOSE_HELLO_NEVER "at 15ms partition client server oneway for 1h\n"

static void test_patterns_reconnect_lost_hello_counts_connect_failure_and_finishes(void **state)
{
    char text[1024];

    (void)state;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        /* hello-timeout=2s: done long before TCP would give up, one failure
         * counted and logged, nothing sent, no error */
        scenario(text, sizeof text, k, "10s", "hello-timeout=2s",
                 LOSE_HELLO "expect client connect-failures == 1\nexpect client reconnects == 0\n"
                            "expect client done\nexpect client sent == 0\nexpect client errors == 0\n"
                            "expect client closed == 1\n");
        assert_int_equal(run_ok(kinds[k].kind, text, 1, "no HelloResponse within 2.000 s"), 1);
        /* without it (an hour): the silent wait this timeout ends */
        scenario(text, sizeof text, k, "10s", "hello-timeout=1h",
                 LOSE_HELLO_NEVER "expect client connect-failures == 0\nexpect client done == 0\n");
        run_ok(kinds[k].kind, text, 1, NULL);
    }
}

static void test_patterns_reconnect_hello_timeout_defaults_to_30s(void **state)
{
    char text[1024];

    (void)state;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        scenario(text, sizeof text, k, "29s", "", LOSE_HELLO_NEVER "expect client done == 0\n");
        run_ok(kinds[k].kind, text, 1, NULL);
        scenario(text, sizeof text, k, "31s", "",
                 LOSE_HELLO_29S "expect client done\nexpect client connect-failures == 1\n");
        assert_int_equal(run_ok(kinds[k].kind, text, 1, "no HelloResponse within 30.000 s"), 1);
    }
    /* heartbeat: the larger of 30 s and its timeout */
    static const char hb[] = "duration %s\nnode server\nnode client\nlink client server delay 10ms\n"
                             "service server heartbeat-server listen=tcp|server|7100\n"
                             "service client heartbeat connect=tcp|server|7100 timeout=45s\n"
                             "at 15ms partition client server oneway for %s\nexpect client done == %d\n";
    snprintf(text, sizeof text, hb, "44s", "1h", 0);
    run_ok("heartbeat timeout=45s", text, 1, NULL);
    snprintf(text, sizeof text, hb, "46s", "45s", 1);
    assert_int_equal(run_ok("heartbeat timeout=45s", text, 1, "no HelloResponse within 45.000 s"), 1);
}

static void test_patterns_reconnect_after_connect_failure_answers_all(void **state)
{
    char text[1024], w[64];

    (void)state;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (strcmp(kinds[k].kind, "heartbeat") == 0 || strcmp(kinds[k].kind, "reject") == 0) {
            continue; /* heartbeat: after the loop; reject: its rejection ends it */
        }
        /* The server's service starts at 5 s: connections are refused
         * (connect_failed) until then. */
        snprintf(text, sizeof text,
                 "duration 5m\nnode server\nnode client\nlink client server delay 10ms\n"
                 "service server %s listen=tcp|server|7100 start=5s%s\n"
                 "service client %s connect=tcp|server|7100 %s",
                 kinds[k].server, strcmp(kinds[k].server, "pattern-server") == 0 ? " clients=1" : "",
                 kinds[k].kind, work(k, 20, w, sizeof w));
        char with[2048], without[2048];
        strcpy(with, text);
        strcat(with, " reconnect=on\n");
        strcat(with, "expect client answered == 20\nexpect client connect-failures >= 1\n"
                     "expect client reconnects >= 1\nexpect client errors == 0\nexpect client done\n"
                     "expect client sent == 20\n");
        if (strcmp(kinds[k].server, "pattern-server") == 0) {
            strcat(with, "expect server done\n"); /* the one client came and went */
        }
        assert_true(run_ok(kinds[k].kind, with, 1, "cannot connect to tcp|server|7100: connect_failed") >= 1);
        /* the same without reconnect: one failure, and the client gives up */
        strcpy(without, text);
        strcat(without, "\n");
        strcat(without, "expect client answered == 0\nexpect client connect-failures == 1\n"
                        "expect client reconnects == 0\nexpect client done\n");
        run_ok(kinds[k].kind, without, 1, NULL);
    }
    /* the heartbeat client: its heartbeats start once the server is there */
    assert_true(
        run_ok("heartbeat refused",
               "duration 1m\nnode server\nnode client\nlink client server delay 5ms\n"
               "service server heartbeat-server listen=tcp|server|7200 start=5s\n"
               "service client heartbeat connect=tcp|server|7200 reconnect=on\n"
               "expect client connect-failures >= 1\nexpect client reconnects >= 1\n"
               "expect server signals >= 50\nexpect client signals >= 50\nexpect client errors == 0\n"
               "expect client deaths == 0\n",
               1,
               "heartbeat: connection to tcp|server|7200 failed before its HelloResponse (connect_failed)") >=
        1);
}

static void test_patterns_reconnect_after_channel_closed_resends_failed_requests(void **state)
{
    static const struct {
        const char *kind, *server, *count, *keys;
    } cases[] = {
        {"echo-client", "echo", "200", ""},
        {"rr", "echo", "2000", "concurrency=8"},
        {"correlation", "pattern-server", "2000", "concurrency=8"},
        {"stream-in", "pattern-server", "200", "frames=5"},
        {"stream-out", "pattern-server", "200", "frames=5"},
        {"progress", "pattern-server", "200", "frames=5"},
        {"bidir", "pattern-server", "200", ""},
    };
    char text[1024];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* The server restarts at 1 s: the client's channel gets a reset,
         * the requests in flight fail; on the new channel they are sent
         * again (sent = answered + failed, the run's oracle checks it too). */
        snprintf(text, sizeof text,
                 "duration 10m\nnode server\nnode client\nlink client server delay 10ms\n"
                 "service server %s listen=tcp|server|7100\n"
                 "service client %s connect=tcp|server|7100 count=%s %s reconnect=on\n"
                 "at 1s restart server\n"
                 "expect client answered == %s\nexpect client failed >= 1\nexpect client reconnects == 1\n"
                 "expect client connect-failures == 0\nexpect client errors == 0\nexpect client done\n"
                 "expect client open == 0\n",
                 cases[i].server, cases[i].kind, cases[i].count, cases[i].keys, cases[i].count);
        run_ok(cases[i].kind, text, 1, NULL);
    }
    /* sent exceeds count by exactly the failed ones */
    snprintf(text, sizeof text,
             "duration 10m\nnode server\nnode client\nlink client server delay 10ms\n"
             "service server echo listen=tcp|server|7100\n"
             "service client rr connect=tcp|server|7100 count=2000 concurrency=8 reconnect=on\n"
             "at 1s restart server\nexpect client failed == 8\nexpect client sent == 2008\n");
    run_ok("rr sent", text, 1, NULL);
}

static void test_patterns_reconnect_after_healed_partition_answers_all(void **state)
{
    (void)state;
    /* A 20-minute partition outlasts TCP's retransmissions (the channel
     * closes with its requests failed), then every attempt's hello times
     * out until the heal; after it the client reconnects within
     * hello-timeout + reconnect-max and finishes. */
    static const char text[] =
        "duration 1h\nnode server\nnode client\nlink client server delay 10ms\n"
        "service server pattern-server listen=tcp|server|7100 clients=1\n"
        "service client correlation connect=tcp|server|7100 count=100000 concurrency=4 reconnect=on\n"
        "at 1s partition client server for 20m\n"
        "expect client answered == 100000\nexpect client failed >= 1\nexpect client reconnects >= 2\n"
        "expect client connect-failures >= 1\nexpect client errors == 0\nexpect client done\n"
        "expect server done\nexpect server errors == 0\n";
    run_ok("healed partition", text, 1, NULL);
}

static void test_patterns_reconnect_reply_timeout_ends_half_open_wait(void **state)
{
    /* The partition outlasts the server's retransmissions: its channel
     * closes and its reset is lost. The client had nothing unacknowledged,
     * so its TCP never notices: without reply-timeout it waits for its
     * answers forever; with it, it gives the channel up (the outstanding
     * requests fail explicitly) and reconnects after the heal. */
    static const char base[] =
        "duration 1h\nnode server\nnode client\nlink client server delay 10ms jitter 2ms loss 1%\nheal 21m\n"
        "service server pattern-server listen=tcp|server|7100\n"
        "service client correlation connect=tcp|server|7100 count=3000 concurrency=8 reconnect=on "
        "hello-timeout=3s reconnect-max=4s";
    char text[1024];

    (void)state;
    /* without: the liveness oracle finds the client stuck after the heal */
    snprintf(text, sizeof text, "%s\nat 1s partition client server for 20m\nexpect client errors == 0\n",
             base);
    run_scn("half-open, no reply-timeout", text, 11, NULL, 0,
            "client/correlation: liveness: 8 request(s) open and none answered or failed");
    snprintf(text, sizeof text,
             "%s reply-timeout=60s\nat 1s partition client server for 20m\n"
             "expect client answered == 3000\nexpect client failed == 8\nexpect client done\n"
             "expect client errors == 0\nexpect client reconnects >= 1\n",
             base);
    assert_int_equal(run_ok("half-open, reply-timeout", text, 11, "for 60.000 s while waiting for it"), 1);
    /* heard often enough, the timer never fires: slow answers are no reason */
    run_ok("slow but alive",
           "duration 10m\nnode server\nnode client\nlink client server delay 10ms\n"
           "service server pattern-server listen=tcp|server|7100 odd-delay=3s\n"
           "service client correlation connect=tcp|server|7100 count=40 concurrency=4 reply-timeout=5s\n"
           "expect client answered == 40\nexpect client failed == 0\nexpect client done\n",
           1, NULL);
    run_ok("too slow",
           "duration 10m\nnode server\nnode client\nlink client server delay 10ms\n"
           "service server pattern-server listen=tcp|server|7100 odd-delay=3s\n"
           "service client correlation connect=tcp|server|7100 count=1 reply-timeout=2s\n"
           "expect client answered == 0\nexpect client failed == 1\nexpect client done\n"
           "expect client errors == 0\n",
           1, NULL);
}

/* ---- heartbeat ---- */

static int make_heartbeat(void *arg, tl_service **out) { return tl_heartbeat_create(arg, out); }

static void test_patterns_reconnect_heartbeat_resumes_after_server_restart(void **state)
{
    for (int reconnect = 0; reconnect <= 1; reconnect++) {
        tl_heartbeat_config hs, hc;
        tl_sim_options o;
        tl_sim_node_options no;
        tl_sim_link l;
        tl_sim *sim;
        uint32_t server, client, ssvc, csvc;
        tl_svc_report r;
        uint64_t before;

        (void)state;
        memset(&hs, 0, sizeof hs);
        hs.address = "tcp|server|7200";
        hs.listen = 1;
        hs.interval_ns = 1 * SEC;
        hs.timeout_ns = 3 * SEC;
        hc = hs;
        hc.listen = 0;
        hc.conn.reconnect = reconnect;
        memset(&o, 0, sizeof o);
        o.seed = 1;
        tl_sim_node_defaults(&no);
        assert_int_equal(tl_sim_create(&o, &sim), TL_OK);
        assert_int_equal(tl_sim_node_add(sim, "server", &no, &server), TL_OK);
        assert_int_equal(tl_sim_node_add(sim, "client", &no, &client), TL_OK);
        tl_sim_link_defaults(&l);
        l.delay_ns = 5 * TL_SIM_NS_PER_MS;
        assert_int_equal(tl_sim_link_set(sim, client, server, &l), TL_OK);
        assert_int_equal(tl_sim_link_set(sim, server, client, &l), TL_OK);
        assert_int_equal(tl_sim_service_add(sim, server, NULL, make_heartbeat, &hs, 0, &ssvc), TL_OK);
        assert_int_equal(tl_sim_service_add(sim, client, NULL, make_heartbeat, &hc, 0, &csvc), TL_OK);
        /* The server restarts at 10 s: the client's channel is reset. */
        assert_int_equal(tl_sim_at(sim, 10 * SEC, TL_SIM_RESTART, server, 0, 0, 0), TL_OK);
        assert_int_equal(tl_sim_run(sim, 20 * SEC), TL_OK);
        assert_int_equal(tl_sim_service_report(sim, csvc, &r), TL_OK);
        before = r.signals;
        assert_int_equal(tl_sim_run(sim, 60 * SEC), TL_OK);
        assert_int_equal(tl_sim_service_report(sim, csvc, &r), TL_OK);
        if (r.errors != 0) {
            fail_msg("client: %s", r.first_error);
        }
        assert_int_equal(r.deaths, 1); /* the reset channel's peer, declared by the transport */
        assert_int_equal(r.connect_failures, 0);
        if (reconnect) {
            /* heartbeats flow again on the new channel, both ways */
            assert_int_equal(r.reconnects, 1);
            assert_false(tl_sim_service_done(sim, csvc));
            assert_true(r.signals - before >= 38);
            assert_int_equal(tl_sim_service_report(sim, ssvc, &r), TL_OK);
            assert_true(r.signals >= 38); /* the restarted server's incarnation hears the client */
            assert_int_equal(r.errors, 0);
        } else {
            /* without reconnect the client finished at the reset */
            assert_int_equal(r.reconnects, 0);
            assert_true(tl_sim_service_done(sim, csvc));
            assert_int_equal(r.signals, before);
        }
        tl_sim_destroy(sim);
    }
}

static void test_patterns_reconnect_heartbeat_declared_dead_reconnects_after_heal(void **state)
{
    (void)state;
    /* The partition (20 s) outlasts the timeout (3 s): the client declares
     * the server dead, gives the channel up and, after the heal, its new
     * channel carries heartbeats again. */
    static const char text[] =
        "duration 2m\nnode server\nnode client\nlink client server delay 5ms\n"
        "service server heartbeat-server listen=tcp|server|7200 interval=1s timeout=3s\n"
        "service client heartbeat connect=tcp|server|7200 interval=1s timeout=3s reconnect=on\n"
        "at 10s partition client server for 20s\n"
        "expect client reconnects >= 1\nexpect client suspicions == 1\nexpect client deaths == 1\n"
        "expect client errors == 0\nexpect server errors == 0\nexpect client done == 0\n"
        "expect server signals >= 80\n";
    assert_int_equal(run_ok("heartbeat heal", text, 1, "peer declared dead (silence)"), 2);
}

/* ---- regressions: the seeds that found the silent wait (docs/findings.md) ---- */

/* scenarios/heartbeat/burst-loss.scn, seed 132 (with the heal the liveness
 * rules ask for): a Gilbert-Elliott burst swallows the HelloRequest and TCP
 * keeps retransmitting it for minutes; the heartbeat client used to wait
 * forever, with no error and no count. */
#define HB_BURST                                                                                             \
    "duration 5m\nnode server\nnode client\nlink client server delay 10ms loss gemodel 2% 20%\nheal 3m\n"    \
    "service server heartbeat-server listen=tcp|server|7200 interval=1s timeout=5s\n"                        \
    "service client heartbeat connect=tcp|server|7200 interval=1s timeout=5s"

static void test_patterns_reconnect_regress_heartbeat_burst_loss_seed_132(void **state)
{
    (void)state;
    /* the explicit failure: counted, logged, the client finished */
    assert_int_equal(run_ok("hb burst-loss 132",
                            HB_BURST "\nexpect client connect-failures == 1\nexpect client done\n"
                                     "expect client errors == 0\nexpect server signals == 0\n",
                            132,
                            "heartbeat: connection to tcp|server|7200 failed before its HelloResponse (no "
                            "HelloResponse within 30.000 s)"),
                     1);
    /* with reconnect the heartbeats flow once the burst is over */
    run_ok(
        "hb burst-loss 132 reconnect",
        HB_BURST
        " reconnect=on\nexpect client connect-failures >= 1\nexpect client reconnects >= 1\n"
        "expect client errors == 0\nexpect server signals >= 200\nexpect server signals >= 100 since heal\n",
        132, NULL);
}

/* scenarios/correlation/burst-loss.scn seed 388 (with the heal the liveness
 * rules ask for): the client used to end at 564 s with sent = 0 and
 * answered = 0 when the server's reset came. */
#define CORR_BURST                                                                                           \
    "duration 1h\nnode server\nnode client\nlink client server delay 10ms loss gemodel 5% 30%\nheal 10m\n"   \
    "service server pattern-server listen=tcp|server|7100 odd-delay=40ms clients=1\n"                        \
    "service client correlation connect=tcp|server|7100 count=200 concurrency=16 size=200"

static void test_patterns_reconnect_regress_correlation_burst_loss_seed_388(void **state)
{
    (void)state;
    assert_int_equal(run_ok("corr burst-loss 388",
                            CORR_BURST "\nexpect client connect-failures == 1\nexpect client done\n"
                                       "expect client sent == 0\nexpect client errors == 0\n",
                            388, "no HelloResponse within 30.000 s"),
                     1);
    run_ok("corr burst-loss 388 reconnect",
           CORR_BURST " reconnect=on\nexpect client answered == 200\nexpect client reconnects >= 1\n"
                      "expect client errors == 0\nexpect client done\nexpect server done\n",
           388, NULL);
}

/* ---- the pattern server and a client that comes back ---- */

static void test_patterns_reconnect_pattern_server_counts_a_returning_client_once(void **state)
{
    (void)state;
    /* The HelloResponse is lost (server -> client dropped for 5 s): the
     * client's hello timeout aborts the channel the server had accepted.
     * Counting that as the one client of clients=1 would finish the server
     * and leave the client nothing to come back to. */
    static const char text[] =
        "duration 5m\nnode server\nnode client\nlink client server delay 10ms\n"
        "service server pattern-server listen=tcp|server|7100 clients=1\n"
        "service client correlation connect=tcp|server|7100 count=20 hello-timeout=2s reconnect=on\n"
        "at 15ms partition server client oneway for 5s\n"
        "expect client answered == 20\nexpect client connect-failures >= 1\nexpect client reconnects >= 1\n"
        "expect client done\nexpect server done\nexpect server closed >= 2\nexpect server errors == 0\n";
    run_ok("returning client", text, 1, NULL);
}

/* ---- the backoff ---- */

typedef struct {
    uint64_t rnd;       /* what random() returns */
    uint64_t delay_ns;  /* the last timer armed */
    uint64_t token;     /* and its token */
    unsigned cancelled; /* cancel_timer calls for TL_CLIENT_TIMER_HELLO */
} fake_host;

static void fake_set_timer(void *host, uint64_t delay_ns, uint64_t token)
{
    fake_host *h = host;
    h->delay_ns = delay_ns;
    h->token = token;
}

static void fake_cancel_timer(void *host, uint64_t token)
{
    fake_host *h = host;
    h->cancelled += token == TL_CLIENT_TIMER_HELLO;
}

static uint64_t fake_random(void *host) { return ((fake_host *)host)->rnd; }

static void test_patterns_reconnect_backoff_doubles_to_cap_with_bounded_jitter(void **state)
{
    fake_host h;
    tl_svc_env env;
    tl_client_retry r;
    tl_client_connection conn;
    tl_svc_report rep;
    /* first delay 1 s, cap 5 s: backoffs 1, 2, 4, 5, 5 s */
    static const uint64_t backoff[] = {1 * SEC, 2 * SEC, 4 * SEC, 5 * SEC, 5 * SEC};

    (void)state;
    memset(&h, 0, sizeof h);
    memset(&env, 0, sizeof env);
    env.host = &h;
    env.set_timer = fake_set_timer;
    env.cancel_timer = fake_cancel_timer;
    env.random = fake_random;
    memset(&rep, 0, sizeof rep);
    memset(&conn, 0, sizeof conn);

    /* reconnect off: never scheduled; defaults filled in */
    tl_client_retry_init(&r, &conn, TL_CLIENT_HELLO_TIMEOUT_NS);
    assert_int_equal(r.conn.hello_timeout_ns, 30 * SEC);
    assert_int_equal(r.conn.reconnect_delay_ns, TL_CLIENT_RECONNECT_DELAY_NS);
    assert_int_equal(r.conn.reconnect_max_ns, TL_CLIENT_RECONNECT_MAX_NS);
    assert_int_equal(tl_client_retry_schedule(&r, &env, &rep, "tcp|s|1"), 0);
    assert_int_equal(h.token, 0);
    tl_client_retry_hello_posted(&r, &env);
    assert_int_equal(h.token, TL_CLIENT_TIMER_HELLO);
    assert_int_equal(h.delay_ns, 30 * SEC);

    conn.reconnect = 1;
    conn.reconnect_max_ns = 5 * SEC;
    conn.reconnects = 7;
    conn.hello_timeout_ns = TL_CLIENT_HELLO_TIMEOUT_OFF;
    tl_client_retry_init(&r, &conn, TL_CLIENT_HELLO_TIMEOUT_NS);
    h.token = 0;
    tl_client_retry_hello_posted(&r, &env);
    assert_int_equal(h.token, 0); /* off: no hello timer */
    for (size_t i = 0; i < sizeof backoff / sizeof backoff[0]; i++) {
        /* random 0: the shortest wait, half the backoff */
        h.rnd = 0;
        assert_int_equal(tl_client_retry_schedule(&r, &env, &rep, "tcp|s|1"), 1);
        assert_int_equal(h.token, TL_CLIENT_TIMER_RECONNECT);
        assert_int_equal(h.delay_ns, backoff[i] / 2);
        rep.reconnects++;
    }
    /* a handshake resets the backoff; the largest draw waits the whole backoff */
    tl_client_retry_connected(&r, &env);
    assert_int_equal(h.cancelled, 1);
    h.rnd = backoff[0] / 2; /* 1 s - 0.5 s: the top of [0.5 s, 1 s] */
    assert_int_equal(tl_client_retry_schedule(&r, &env, &rep, "tcp|s|1"), 1);
    assert_int_equal(h.delay_ns, backoff[0]);
    rep.reconnects++;
    h.rnd = UINT64_MAX; /* any draw stays within [backoff/2, backoff] */
    assert_int_equal(tl_client_retry_schedule(&r, &env, &rep, "tcp|s|1"), 1);
    assert_true(h.delay_ns >= backoff[1] / 2 && h.delay_ns <= backoff[1]);
    rep.reconnects++;
    /* reconnects=7 used up: no more */
    assert_int_equal(rep.reconnects, 7);
    h.token = 0;
    assert_int_equal(tl_client_retry_schedule(&r, &env, &rep, "tcp|s|1"), 0);
    assert_int_equal(h.token, 0);

    /* a first delay above the default cap raises the cap to it */
    memset(&conn, 0, sizeof conn);
    conn.reconnect = 1;
    conn.reconnect_delay_ns = 60 * SEC;
    tl_client_retry_init(&r, &conn, 3 * SEC);
    assert_int_equal(r.conn.hello_timeout_ns, 3 * SEC);
    assert_int_equal(r.conn.reconnect_max_ns, 60 * SEC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns_reconnect_lost_hello_counts_connect_failure_and_finishes),
        cmocka_unit_test(test_patterns_reconnect_hello_timeout_defaults_to_30s),
        cmocka_unit_test(test_patterns_reconnect_after_connect_failure_answers_all),
        cmocka_unit_test(test_patterns_reconnect_after_channel_closed_resends_failed_requests),
        cmocka_unit_test(test_patterns_reconnect_after_healed_partition_answers_all),
        cmocka_unit_test(test_patterns_reconnect_reply_timeout_ends_half_open_wait),
        cmocka_unit_test(test_patterns_reconnect_heartbeat_resumes_after_server_restart),
        cmocka_unit_test(test_patterns_reconnect_heartbeat_declared_dead_reconnects_after_heal),
        cmocka_unit_test(test_patterns_reconnect_regress_heartbeat_burst_loss_seed_132),
        cmocka_unit_test(test_patterns_reconnect_regress_correlation_burst_loss_seed_388),
        cmocka_unit_test(test_patterns_reconnect_pattern_server_counts_a_returning_client_once),
        cmocka_unit_test(test_patterns_reconnect_backoff_doubles_to_cap_with_bounded_jitter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
