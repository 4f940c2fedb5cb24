/*
 * The shrinker (sim/shrink.h) keeps the cause: seeded failures — a partition
 * that outlasts the retry budget, a crash during a stream, a burst during
 * Hello, a heartbeat failure caused by an 8 s server pause, a client stuck
 * after its server vanished (the liveness oracle), forty peers removed in
 * chunks — each shrink to scenario
 * text that still fails the same check with the same seed, whose fault-free
 * control (tl_shrink_control) passes, that is no larger than a stated size,
 * and whose every run stayed within the original run's event count. A
 * failure that happens without faults is said to be so. The event budget
 * itself (max_events) stops a run and leaves runs within it unchanged.
 *
 * The failing scenarios are written here, not taken from scenarios/: their
 * expectations must fail on purpose.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sim/shrink.h"
#include "../../sim/sim.h"

static tl_scenario *parse(const char *text)
{
    tl_scenario *scn = NULL;
    tl_scn_error err;
    if (tl_scn_parse(text, strlen(text), "t.scn", &scn, &err) != TL_OK) {
        fail_msg("%u:%u: %s\n%s", err.line, err.column, err.message, text);
    }
    return scn;
}

static size_t count_directives(const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        n += len > 0 && p[0] != '#';
        p += len + (nl != NULL);
    }
    return n;
}

/* The directives, after the comment header. */
static const char *body_of(const char *text)
{
    while (*text == '#') {
        const char *nl = strchr(text, '\n');
        text = nl ? nl + 1 : text + strlen(text);
    }
    return text;
}

static tl_scn_result run_text(const char *text, uint64_t seed)
{
    tl_scenario *scn = parse(text);
    tl_scn_result r;
    assert_int_equal(tl_scn_run(scn, seed, NULL, &r), TL_OK);
    tl_scn_free(scn);
    return r;
}

typedef struct {
    const char *text;
    uint64_t seed;
    size_t max_directives; /* the stated size of the result */
    const char *keep[4];   /* words the cause needs: they must survive */
    const char *gone[4];   /* what the failure does not need */
} shrink_case;

/* Shrink, then check the result on its own: it fails the same check, its
 * control passes, it is small, and no run went past its budget. */
static char *check_case(const shrink_case *k, tl_shrink_result *res)
{
    tl_scenario *scn = parse(k->text);
    char *out = NULL;
    tl_scn_result before = run_text(k->text, k->seed);
    assert_false(before.passed); /* the seed fails, as written */
    assert_int_equal(tl_shrink(scn, "case.scn", k->seed, NULL, &out, res), TL_OK);
    tl_scn_free(scn);
    assert_non_null(out);

    /* the cause: the original's control passed, every step kept it so */
    assert_int_equal(res->control_checked, 1);
    assert_int_equal(res->control_passes, 1);
    assert_non_null(strstr(out, "# its fault-free control passes"));
    assert_true(res->steps > 0);

    /* it fails the same check with the same seed */
    tl_scn_result r = run_text(out, k->seed);
    assert_false(r.passed);
    char want[300];
    if (res->oracle) {
        assert_non_null(strstr(out, "# fails the oracle: "));
        assert_null(strstr(out, "\nexpect "));
    } else {
        snprintf(want, sizeof want, ": expect %s (actual", res->expectation);
        assert_non_null(strstr(r.first_failure, want));
    }

    /* its fault-free control passes, every expectation and oracle */
    char *control = NULL;
    assert_int_equal(tl_shrink_control(out, &control), TL_OK);
    assert_null(strstr(control, "\nat "));
    r = run_text(control, k->seed);
    if (!r.passed) {
        fail_msg("control fails: %s\n%s", r.first_failure, control);
    }
    free(control);

    /* small */
    if (count_directives(out) > k->max_directives) {
        fail_msg("%zu directives, more than %zu:\n%s", count_directives(out), k->max_directives, out);
    }
    assert_true(res->shrunk_bytes < res->original_bytes);
    for (size_t i = 0; i < 4 && k->keep[i]; i++) {
        if (strstr(body_of(out), k->keep[i]) == NULL) {
            fail_msg("'%s' is gone:\n%s", k->keep[i], out);
        }
    }
    for (size_t i = 0; i < 4 && k->gone[i]; i++) {
        if (strstr(body_of(out), k->gone[i]) != NULL) {
            fail_msg("'%s' is still there:\n%s", k->gone[i], out);
        }
    }

    /* within the event budget: no failing run past the original's count,
     * no control past the original control's; a bounded number of runs */
    assert_true(res->original_events > 0);
    assert_true(res->max_run_events <= res->original_events);
    assert_true(res->max_control_run_events <= res->control_events);
    assert_true(res->shrunk_events <= res->original_events);
    assert_true(res->runs <= 300);
    assert_true(res->total_events <= (uint64_t)res->runs * (res->original_events + res->control_events));
    return out;
}

/* ---- the fault-free control ---- */

static void test_sim_shrink_control_drops_faults_keeps_the_network(void **state)
{
    (void)state;
    const char *text =
        "seeds 3\n"
        "duration 60s\n"
        "node server\n"
        "node client\n"
        "link * * delay 1ms loss gemodel 5% 30% 100% 0%\n"
        "link client server oneway delay 20ms jitter 5ms distribution normal loss 5% rate 1000000bit "
        "limit 50 corrupt 1% duplicate 2%\n"
        "link server client loss burst 10s 1s 100%\n"
        "service server echo listen=tcp|server|7099\n"
        "at 5s crash server\n"
        "at 6s link client server delay 9ms corrupt 5%\n"
        "heal 30s\n"
        "expect client answered == 10\n";
    char *control = NULL;
    assert_int_equal(tl_shrink_control(text, &control), TL_OK);
    assert_string_equal(control, "seeds 3\n"
                                 "duration 60s\n"
                                 "node server\n"
                                 "node client\n"
                                 "link * * delay 1ms\n"
                                 "link client server oneway delay 20ms jitter 5ms distribution normal rate "
                                 "1000000bit limit 50\n"
                                 "link server client\n"
                                 "service server echo listen=tcp|server|7099\n"
                                 "expect client answered == 10\n");
    free(control);
}

/* ---- seeded failures ---- */

static void test_sim_shrink_partition_past_retries_keeps_the_partition(void **state)
{
    (void)state;
    /* 10 minutes of partition, 5 retries (about 6 s): the connection aborts */
    shrink_case k = {.text =
                         "seeds 1..3\n"
                         "duration 30m\n"
                         "tcp retries=5\n"
                         "node server\n"
                         "node client\n"
                         "node other\n"
                         "link client server delay 10ms jitter 2ms\n"
                         "link other server delay 3ms loss 1%\n"
                         "service server echo listen=tcp|server|7099\n"
                         "service client rr connect=tcp|server|7099 count=200 size=64..512 concurrency=2\n"
                         "service other rr connect=tcp|server|7099 count=20\n"
                         "at 2s partition client server for 10m\n"
                         "heal 11m\n"
                         "expect client answered == 200\n"
                         "expect client errors == 0\n"
                         "expect other answered == 20\n",
                     .seed = 1,
                     .max_directives = 10,
                     .keep = {"partition client server for ", "retries=5", "count=1 "},
                     .gone = {"other", "loss", "expect client errors"}};
    tl_shrink_result res;
    char *out = check_case(&k, &res);
    assert_non_null(strstr(out,
                           "# signature (the first error and channel close on its node): a channel closed: "
                           "communication_failed\n"));
    assert_non_null(strstr(out,
                           "(originally: expect client answered == 200, line 14; its constant follows the "
                           "workload)\n"));
    free(out);
}

static void test_sim_shrink_crash_during_stream_keeps_the_crash(void **state)
{
    (void)state;
    shrink_case k = {.text = "seeds 1..3\n"
                             "duration 10m\n"
                             "node server\n"
                             "node client\n"
                             "link client server delay 10ms loss 1%\n"
                             "service server pattern-server listen=tcp|server|7100\n"
                             "service client stream-out connect=tcp|server|7100 count=20 frames=200\n"
                             "at 300ms crash server\n"
                             "at 30s restart server\n"
                             "heal 40s\n"
                             "expect client answered == 20\n"
                             "expect client errors == 0\n"
                             "expect server errors == 0\n",
                     .seed = 1,
                     .max_directives = 9,
                     .keep = {"crash server", "stream-out"},
                     .gone = {"restart", "loss", "heal"}};
    tl_shrink_result res;
    free(check_case(&k, &res));
}

static void test_sim_shrink_burst_during_hello_keeps_the_burst(void **state)
{
    (void)state;
    /* client -> server turns bad a few ms after the SYN (mean good 1 ms,
     * mean bad 10 min): the HelloRequest is lost until 3 retries abort */
    shrink_case k = {.text = "seeds 1..3\n"
                             "duration 1h\n"
                             "tcp retries=3\n"
                             "node server\n"
                             "node client\n"
                             "link client server oneway delay 5ms loss burst 1ms 10m\n"
                             "link server client oneway delay 5ms\n"
                             "heal 20m\n"
                             "service server echo listen=tcp|server|7099\n"
                             "service client rr connect=tcp|server|7099 count=10 size=100\n"
                             "expect client answered == 10\n"
                             "expect client errors == 0\n",
                     .seed = 1,
                     .max_directives = 10,
                     .keep = {"loss burst 1ms 10m", "count=1 "},
                     .gone = {"expect client errors"}};
    tl_shrink_result res;
    char *out = check_case(&k, &res);
    assert_non_null(strstr(out, "a channel closed: communication_failed"));
    free(out);
}

static void test_sim_shrink_heartbeat_pause_keeps_the_interval_and_the_budget(void **state)
{
    (void)state;
    /* the example: halving the interval down to 1.9 us ran for
     * minutes; periods are never halved and every run is budgeted */
    shrink_case k = {.text = "seeds 1\n"
                             "duration 5m\n"
                             "node server\n"
                             "node client\n"
                             "link client server delay 5ms\n"
                             "service server heartbeat-server listen=tcp|server|7200 interval=1s timeout=3s\n"
                             "service client heartbeat connect=tcp|server|7200 interval=1s timeout=3s\n"
                             "at 20s pause server\n"
                             "at 28s resume server\n"
                             "expect server errors == 0\n"
                             "expect client errors == 0\n"
                             "expect client false-suspicions == 0\n"
                             "report server signals\n",
                     .seed = 1,
                     .max_directives = 9,
                     .keep = {"pause server", "resume server", "interval=1s timeout=3s"},
                     .gone = {"report", "expect server errors"}};
    tl_shrink_result res;
    char *out = check_case(&k, &res);
    assert_string_equal(res.expectation, "client false-suspicions == 0");
    assert_true(res.runs <= 150);
    free(out);
}

static void test_sim_shrink_forty_peers_go_in_chunks(void **state)
{
    (void)state;
    /* 40 peers: their 200 lines go in chunks (half, quarter, ...), not one
     * run each */
    shrink_case k = {.text =
                         "seeds 1\n"
                         "duration 2m\n"
                         "node server\n"
                         "node peer[1..40]\n"
                         "link peer[*] server delay 5ms\n"
                         "service server heartbeat-server listen=tcp|0.0.0.0|7200 interval=500ms timeout=2s\n"
                         "service peer[1..40] heartbeat connect=tcp|server|7200 interval=500ms timeout=2s\n"
                         "at 30s pause server\n"
                         "at 36s resume server\n"
                         "expect peer[*] errors == 0\n"
                         "expect peer[*] suspicions == 0\n",
                     .seed = 1,
                     .max_directives = 8,
                     .keep = {"node peer1\n", "pause server", "interval=500ms timeout=2s"},
                     .gone = {"peer2", "peer40", "errors"}};
    tl_shrink_result res;
    char *out = check_case(&k, &res);
    assert_string_equal(res.expectation, "peer1 suspicions == 0");
    assert_true(res.runs <= 120);
    assert_true(res.steps >= 200);
    free(out);
}

static void test_sim_shrink_stuck_client_keeps_the_liveness_oracle(void **state)
{
    (void)state;
    /* the server vanishes, the client has no timeout: stuck after the
     * faults end. No expectation fails: the check is the oracle's. */
    shrink_case k = {.text = "seeds 1\n"
                             "duration 2m\n"
                             "node server\n"
                             "node client\n"
                             "node other\n"
                             "link client server delay 10ms\n"
                             "link other server delay 2ms\n"
                             "service server echo listen=tcp|server|7099\n"
                             "service client rr connect=tcp|server|7099 count=100 concurrency=2\n"
                             "service other rr connect=tcp|server|7099 count=10\n"
                             "at 1s silent-death server\n"
                             "expect client errors == 0\n"
                             "expect other answered == 10\n",
                     .seed = 1,
                     .max_directives = 8,
                     .keep = {"silent-death server"},
                     .gone = {"other", "expect"}};
    tl_shrink_result res;
    char *out = check_case(&k, &res);
    assert_int_equal(res.oracle, 1);
    assert_non_null(strstr(res.expectation, "client/request-response: liveness: # request(s) open"));
    free(out);
}

static void test_sim_shrink_failure_without_faults_is_said_so(void **state)
{
    (void)state;
    /* count=3 can never give answered == 5, loss or not */
    tl_scenario *scn = parse("seeds 1\n"
                             "duration 20s\n"
                             "node server\n"
                             "node client\n"
                             "link client server delay 5ms loss 2%\n"
                             "heal 10s\n"
                             "service server echo listen=tcp|server|7099\n"
                             "service client rr connect=tcp|server|7099 count=3\n"
                             "expect client answered == 5\n");
    tl_shrink_result res;
    char *out = NULL;
    assert_int_equal(tl_shrink(scn, "nf.scn", 1, NULL, &out, &res), TL_OK);
    assert_int_equal(res.control_checked, 0);
    assert_non_null(strstr(res.control_failure, "expect client answered == 5 (actual 3)"));
    assert_non_null(strstr(out, "# not caused by the faults: the original's control fails"));
    assert_non_null(strstr(out, "# its fault-free control fails too: "));
    /* without the control, services stay (an expectation on a removed
     * service would fail trivially) */
    assert_non_null(strstr(out, "service client "));
    assert_non_null(strstr(out, "service server "));
    tl_scn_result r = run_text(out, 1);
    assert_false(r.passed);
    free(out);
    tl_scn_free(scn);
}

/* ---- the earlier shape: a crash under a full workload ---- */

static const char *failing =
    "# a crash makes `answered == 1000` impossible\n"
    "seeds 1..4\n"
    "duration 120s\n"
    "node server\n"
    "node client\n"
    "node extra\n"
    "link client server delay 20ms jitter 5ms loss 1%..10%\n"
    "link extra server delay 3ms duplicate 1%\n"
    "service server echo listen=tcp|server|7099\n"
    "service client rr connect=tcp|server|7099 count=1000 size=64..1024 concurrency=4\n"
    "service extra rr connect=tcp|server|7099 count=50\n"
    "at 1s partition extra server for 2s\n"
    "at 5s crash server\n"
    "at 9s restart server\n"
    "heal 60s\n"
    "expect extra errors <= 5\n"
    "expect client answered == 1000\n"
    "expect client errors <= 1\n";

static void check_shrinks(int swarm)
{
    tl_scenario *scn = parse(failing);
    tl_shrink_options o;
    tl_shrink_result res;
    char *out = NULL;
    memset(&o, 0, sizeof o);
    o.swarm = swarm;
    assert_int_equal(tl_shrink(scn, "failing.scn", 2, &o, &out, &res), TL_OK);
    assert_non_null(out);
    /* the header names the file, the seed and the failing expectation */
    assert_non_null(strstr(out, "from failing.scn, seed 2"));
    assert_non_null(strstr(out, "# fails: expect client answered == "));
    assert_non_null(strstr(out, "seeds 2\n"));
    assert_int_equal(res.control_passes, 1);
    /* smaller */
    assert_true(res.shrunk_bytes < res.original_bytes);
    assert_true(count_directives(out) < count_directives(failing));
    assert_true(res.steps > 0);
    assert_null(strstr(body_of(out), "restart")); /* not needed to fail */
    assert_null(strstr(body_of(out), "partition"));
    assert_null(strstr(body_of(out), "duplicate"));
    assert_null(strstr(body_of(out), "extra")); /* the node and its lines */
    assert_non_null(strstr(body_of(out), "crash server"));
    /* it parses, and the same seed fails the same expectation first */
    tl_scn_result r = run_text(out, 2);
    assert_false(r.passed);
    char want[300];
    snprintf(want, sizeof want, ": expect %s (actual", res.expectation);
    assert_non_null(strstr(r.first_failure, want));
    assert_non_null(strstr(res.expectation, "client answered == "));
    /* and again: the same output (the shrinker is deterministic) */
    char *out2 = NULL;
    tl_shrink_result res2;
    assert_int_equal(tl_shrink(scn, "failing.scn", 2, &o, &out2, &res2), TL_OK);
    assert_string_equal(out, out2);
    free(out2);
    tl_scn_free(scn);
    free(out);
}

static void test_sim_shrink_crash_scenario_smaller_same_failure(void **state)
{
    (void)state;
    check_shrinks(0);
}

static void test_sim_shrink_swarm_run_fixes_draws_same_failure(void **state)
{
    (void)state;
    check_shrinks(1);
}

static void test_sim_shrink_passing_seed_is_einval(void **state)
{
    (void)state;
    tl_scenario *scn = parse("node server\nnode client\nlink client server delay 1ms\n"
                             "service server echo listen=tcp|server|7099\n"
                             "service client rr connect=tcp|server|7099 count=3\n"
                             "expect client answered == 3\n");
    tl_shrink_result res;
    char *out = NULL;
    assert_int_equal(tl_shrink(scn, "ok.scn", 1, NULL, &out, &res), TL_E_INVAL);
    assert_null(out);
    tl_scn_free(scn);
}

static void test_sim_shrink_max_runs_bounds_the_work(void **state)
{
    (void)state;
    tl_scenario *scn = parse(failing);
    tl_shrink_options o;
    tl_shrink_result res;
    char *out = NULL;
    memset(&o, 0, sizeof o);
    o.max_runs = 10;
    assert_int_equal(tl_shrink(scn, "failing.scn", 2, &o, &out, &res), TL_OK);
    /* the budget, plus the two runs that measure the result */
    assert_true(res.runs <= 12);
    tl_scn_result r = run_text(out, 2);
    assert_false(r.passed);
    free(out);
    tl_scn_free(scn);
}

/* ---- the event budget the shrinker runs under ---- */

static void count_call(tl_sim *sim, void *arg)
{
    (void)sim;
    (*(unsigned *)arg)++;
}

static void test_sim_max_events_stops_the_run_and_keeps_runs_within_it(void **state)
{
    (void)state;
    tl_scenario *scn = parse(failing);
    tl_scn_result full, within, over;
    tl_scn_run_options o;
    memset(&o, 0, sizeof o);
    assert_int_equal(tl_scn_run(scn, 3, &o, &full), TL_OK);
    assert_true(full.stats.events > 10);
    o.max_events = full.stats.events; /* exactly enough: the same run */
    assert_int_equal(tl_scn_run(scn, 3, &o, &within), TL_OK);
    assert_true(within.trace_hash == full.trace_hash);
    assert_int_equal(within.stats.events, full.stats.events);
    o.max_events = full.stats.events - 1;
    assert_int_equal(tl_scn_run(scn, 3, &o, &over), TL_E_LIMIT);
    tl_scn_free(scn);

    /* the simulator itself: stopped, it stays stopped */
    tl_sim_options so;
    tl_sim *sim = NULL;
    unsigned calls = 0;
    memset(&so, 0, sizeof so);
    so.max_events = 3;
    assert_int_equal(tl_sim_create(&so, &sim), TL_OK);
    for (uint64_t t = 1; t <= 10; t++) {
        assert_int_equal(tl_sim_call_at(sim, t * 1000, count_call, &calls), TL_OK);
    }
    assert_int_equal(tl_sim_run(sim, UINT64_MAX), TL_E_LIMIT);
    assert_int_equal(calls, 3);
    assert_int_equal(tl_sim_run(sim, UINT64_MAX), TL_E_LIMIT);
    assert_int_equal(calls, 3);
    tl_sim_destroy(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_shrink_control_drops_faults_keeps_the_network),
        cmocka_unit_test(test_sim_shrink_partition_past_retries_keeps_the_partition),
        cmocka_unit_test(test_sim_shrink_crash_during_stream_keeps_the_crash),
        cmocka_unit_test(test_sim_shrink_burst_during_hello_keeps_the_burst),
        cmocka_unit_test(test_sim_shrink_heartbeat_pause_keeps_the_interval_and_the_budget),
        cmocka_unit_test(test_sim_shrink_forty_peers_go_in_chunks),
        cmocka_unit_test(test_sim_shrink_stuck_client_keeps_the_liveness_oracle),
        cmocka_unit_test(test_sim_shrink_failure_without_faults_is_said_so),
        cmocka_unit_test(test_sim_shrink_crash_scenario_smaller_same_failure),
        cmocka_unit_test(test_sim_shrink_swarm_run_fixes_draws_same_failure),
        cmocka_unit_test(test_sim_shrink_passing_seed_is_einval),
        cmocka_unit_test(test_sim_shrink_max_runs_bounds_the_work),
        cmocka_unit_test(test_sim_max_events_stops_the_run_and_keeps_runs_within_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
