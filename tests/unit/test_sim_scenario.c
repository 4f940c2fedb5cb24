/*
 * Scenario files (sim/sim.h tl_scn_*, docs/scenarios.md): the parser's
 * errors name line and column and what was expected; good files run, their
 * expectations are checked; the scenario files of scenarios/ pass and are
 * deterministic. Runs from the repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sim/sim.h"

static tl_scenario *parse_ok(const char *text)
{
    tl_scenario *scn = NULL;
    tl_scn_error err;
    int rc = tl_scn_parse(text, strlen(text), "t.scn", &scn, &err);
    if (rc != TL_OK) {
        fail_msg("unexpected parse error %s:%u:%u: %s", err.file, err.line, err.column, err.message);
    }
    return scn;
}

#define BASE "node server\nnode client\n"
#define ECHO "service server echo listen=tcp|server|7099\n"
#define RR   "service client rr connect=tcp|server|7099 count=5\n"

typedef struct {
    const char *text;
    unsigned line, column;
    const char *says; /* part of the message */
} bad_case;

static const bad_case bad[] = {
    {"nodes server\n", 1, 1, "expected a directive"},
    {"duration 20\nnode a\n", 1, 10, "expected a time with a unit"},
    {"duration 5 s\nnode a\n", 1, 10, "expected a time with a unit"},
    {"seeds 5..1\nnode a\n", 1, 7, "expected a seed N or a range A..B"},
    {"node a\nnode a\n", 2, 6, "declared before"},
    {"node a b\n", 1, 8, "expected an option key=value"},
    {"node a mss=0\n", 1, 12, "positive whole number"},
    {"node a chop=some\n", 1, 13, "full or random"},
    {"node a speed=1\n", 1, 8, "expected an option key"},
    {BASE "link client nobody delay 1ms\n", 3, 13, "expected a declared node name or *"},
    {BASE "link client server delay 1ms loss 5\n", 3, 35, "expected a percentage"},
    {BASE "link client server loss 101%\n", 3, 25, "expected a percentage"},
    {BASE "link client server delay 10ms 2ms 25%\n", 3, 35, "correlation is not modelled"},
    {BASE "link client server rate 10\n", 3, 25, "expected a rate with a unit"},
    {BASE "link client server distribution gauss\n", 3, 33, "uniform, normal, pareto or paretonormal"},
    {BASE "link client server reorder 5%\n", 3, 20, "jitter reorders"},
    {BASE "link client server bogus\n", 3, 20, "expected a link word"},
    {BASE "service server web port=80\n", 3, 16, "expected a service kind"},
    {BASE "service server echo\n", 3, 20, "listen=ADDR"},
    {BASE "service server echo listen=tcp|server\n", 3, 28, "an address tcp|HOST|PORT"},
    {BASE "service server echo listen=tcp|client|7099\n", 3, 28, "own node"},
    {BASE ECHO "service client rr connect=tcp|elsewhere|7099\n", 4, 27, "declared node as the host"},
    {BASE ECHO "service client rr connect=tcp|server|7099 size=9..2\n", 4, 48, "size N or range A..B"},
    {BASE ECHO "service client rr connect=tcp|server|7099 colour=red\n", 4, 43,
     "expected a key of request-response"},
    {BASE ECHO RR "at 5 crash server\n", 5, 4, "expected a time"},
    {BASE ECHO RR "at 5s explode server\n", 5, 7, "expected an action"},
    {BASE ECHO RR "at 5s crash\n", 5, 12, "expected a declared node name"},
    {BASE ECHO RR "at 5s partition client client\n", 5, 24, "a node other than the first"},
    {BASE ECHO RR "at 5s partition client server for\n", 5, 34, "expected a time"},
    {BASE ECHO RR "at 5s crash server now\n", 5, 20, "expected the end of the line"},
    {BASE ECHO RR "expect client answered\n", 5, 23, "expected a comparison"},
    {BASE ECHO RR "expect client answered = 5\n", 5, 24, "expected a comparison"},
    {BASE ECHO RR "expect client answered == lots\n", 5, 27, "expected a whole number"},
    {BASE ECHO RR "expect client happiness > 1\n", 5, 15, "expected a metric"},
    {BASE ECHO RR "expect ghost answered == 1\n", 5, 8, "expected a declared node"},
    {BASE ECHO RR "expect client/echo answered == 1\n", 5, 15, "expected a service of node client"},
    {BASE ECHO RR "expect client closed-by sadness\n", 5, 25, "expected a status name"},
    {BASE ECHO RR "expect client retransmits > 1\n", 5, 15, "expected * as the target"},
    {BASE ECHO RR "expect * answered > 1\n", 5, 10, "expected a node as the target"},
    {BASE ECHO RR "expect client latency-max < 100\n", 5, 29, "expected a time"},
    {BASE ECHO RR "expect server state asleep\n", 5, 21, "up, paused, down or dead"},
    {"# only a comment\n\n", 0, 0, "at least one `node`"},
};

static void test_sim_scenario_errors_name_line_column_and_expectation(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tl_scenario *scn = NULL;
        tl_scn_error err;
        int rc = tl_scn_parse(bad[i].text, strlen(bad[i].text), "bad.scn", &scn, &err);
        if (rc != TL_E_INVAL || scn != NULL) {
            fail_msg("case %zu parsed: %s", i, bad[i].text);
        }
        if (err.line != bad[i].line || err.column != bad[i].column ||
            strstr(err.message, bad[i].says) == NULL) {
            fail_msg("case %zu: got %u:%u: %s; want %u:%u: ...%s...", i, err.line, err.column, err.message,
                     bad[i].line, bad[i].column, bad[i].says);
        }
        assert_string_equal(err.file, "bad.scn");
    }
}

static void test_sim_scenario_units_and_defaults_parse(void **state)
{
    (void)state;
    tl_scenario *scn =
        parse_ok("# units\n"
                 "seeds 3..9   # a comment after a directive\n"
                 "duration 1.5s\n"
                 "tcp mss=536 sndbuf=32k rcvbuf=1m rto-min=50ms rto-max=2m retries=3 chop=random\n"
                 "node a close=fin strict-bye=on pool-initial=4\n"
                 "node b\n"
                 "link * * delay 1ms\n"
                 "link a b oneway delay 100us 10us distribution pareto rate 10mbit limit 50\n"
                 "link b a loss gemodel 1% 10% 70% 0.1% corrupt 0.01% duplicate 0.5%\n"
                 "service a echo listen=tcp|a|1,tcp|0.0.0.0|2 budget=100\n"
                 "service b rr connect=tcp|10.0.0.1|1 size=8 name=first start=250ms\n"
                 "service b rr connect=tcp|a|2 timeout=1h check=off\n"
                 "at 1h crash a\n"
                 "at 2m partition a * oneway for 1.25s\n"
                 "at 90s link a b delay 5ms loss random 2%\n"
                 "at 100ms stop-listener a 2\n"
                 "expect b/first answered >= 0\n"
                 "expect b/request-response errors == 0\n"
                 "expect b latency-mean < 1.5s\n"
                 "expect a closed-by recv_failed\n"
                 "expect a done == 0\n"
                 "expect a state != dead\n"
                 "expect * lost < 1000000\n");
    uint64_t a, b;
    tl_scn_seeds(scn, &a, &b);
    assert_true(a == 3 && b == 9);
    assert_true(tl_scn_duration(scn) == 1500000000ull);
    tl_scn_free(scn);
    /* defaults: seed 1, 60 s */
    scn = parse_ok("node a\n");
    tl_scn_seeds(scn, &a, &b);
    assert_true(a == 1 && b == 1);
    assert_true(tl_scn_duration(scn) == 60 * TL_SIM_NS_PER_S);
    tl_scn_free(scn);
}

static const char good[] = "seeds 1..2\n"
                           "duration 30s\n" BASE "link client server delay 5ms loss 5%\n" ECHO
                           "service client rr connect=tcp|server|7099 count=30 size=10..100 concurrency=2\n"
                           "expect client answered == 30\n"
                           "expect client errors == 0\n";

static void test_sim_scenario_run_checks_expectations(void **state)
{
    (void)state;
    tl_scenario *scn = parse_ok(good);
    tl_scn_result r1, r2, r3;
    assert_int_equal(tl_scn_run(scn, 1, NULL, &r1), TL_OK);
    assert_true(r1.passed);
    assert_int_equal(r1.expectations, 2);
    assert_int_equal(r1.failed, 0);
    assert_true(r1.end_ns == 30 * TL_SIM_NS_PER_S);
    assert_int_equal(tl_scn_run(scn, 1, NULL, &r2), TL_OK);
    assert_true(r1.trace_hash == r2.trace_hash);
    assert_int_equal(tl_scn_run(scn, 2, NULL, &r3), TL_OK);
    assert_true(r1.trace_hash != r3.trace_hash);
    tl_scn_free(scn);

    /* a failing expectation: named with its line and the actual value */
    scn = parse_ok(BASE ECHO RR "expect client answered == 6\n"
                                "expect client errors == 0\n");
    assert_int_equal(tl_scn_run(scn, 1, NULL, &r1), TL_OK);
    assert_false(r1.passed);
    assert_int_equal(r1.failed, 1);
    assert_string_equal(r1.first_failure, "t.scn:5: expect client answered == 6 (actual 5)");
    tl_scn_free(scn);
}

static void test_sim_scenario_summary_and_json_are_written(void **state)
{
    (void)state;
    tl_scenario *scn = parse_ok(good);
    char *sum = NULL, *json = NULL, *trace = NULL;
    size_t sum_len = 0, json_len = 0, trace_len = 0;
    tl_scn_run_options o;
    tl_scn_result r;
    memset(&o, 0, sizeof o);
    o.summary = open_memstream(&sum, &sum_len);
    o.json = open_memstream(&json, &json_len);
    o.trace = open_memstream(&trace, &trace_len);
    assert_int_equal(tl_scn_run(scn, 2, &o, &r), TL_OK);
    fclose(o.summary);
    fclose(o.json);
    fclose(o.trace);
    assert_true(r.passed);
    assert_non_null(strstr(sum, "client/request-response: sent=30 answered=30"));
    assert_non_null(strstr(sum, "  ok   expect client answered == 30 (actual 30)  [line 8]"));
    assert_non_null(strstr(sum, "seed 2: PASS, trace "));
    assert_true(json[0] == '{' && json[json_len - 1] == '}');
    assert_non_null(strstr(json, "\"seed\":2,\"result\":\"PASS\",\"trace_hash\":\""));
    assert_non_null(
        strstr(json, "{\"line\":8,\"expect\":\"client answered == 30\",\"actual\":\"30\",\"pass\":true}"));
    /* the written trace is exactly what was hashed */
    assert_true(tl_sim_fnv1a(TL_SIM_FNV_OFFSET, trace, trace_len) == r.trace_hash);
    assert_non_null(strstr(trace, " end events="));
    free(sum);
    free(json);
    free(trace);
    tl_scn_free(scn);
}

static void test_sim_scenario_load_reports_missing_file(void **state)
{
    (void)state;
    tl_scenario *scn = NULL;
    tl_scn_error err;
    assert_int_equal(tl_scn_load("scenarios/no-such-file.scn", &scn, &err), TL_E_IO);
    assert_null(scn);
    assert_int_equal(err.line, 0);
    assert_non_null(strstr(err.message, "cannot open"));
}

static const char *const files[] = {
    "scenarios/bench/rr-loss.scn",
    "scenarios/echo-client/basic.scn",
    "scenarios/request-response/bandwidth.scn",
    "scenarios/request-response/basic.scn",
    "scenarios/request-response/crash.scn",
    "scenarios/request-response/fin-close.scn",
    "scenarios/request-response/loss-30.scn",
    "scenarios/request-response/one-byte-segments.scn",
    "scenarios/request-response/partition-oneway.scn",
    "scenarios/request-response/partition.scn",
    "scenarios/request-response/pause-long.scn",
    "scenarios/request-response/pause.scn",
    "scenarios/request-response/pool-starvation.scn",
    "scenarios/request-response/refused.scn",
    "scenarios/request-response/restart.scn",
    "scenarios/request-response/silent-death.scn",
};

static void test_sim_scenario_files_pass_and_repeat(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        tl_scenario *scn = NULL;
        tl_scn_error err;
        uint64_t first, last;
        if (tl_scn_load(files[i], &scn, &err) != TL_OK) {
            fail_msg("%s:%u:%u: %s", err.file, err.line, err.column, err.message);
        }
        tl_scn_seeds(scn, &first, &last);
        tl_scn_result a, b;
        assert_int_equal(tl_scn_run(scn, first, NULL, &a), TL_OK);
        if (!a.passed) {
            fail_msg("%s seed %llu: %s", files[i], (unsigned long long)first, a.first_failure);
        }
        assert_int_equal(tl_scn_run(scn, first, NULL, &b), TL_OK);
        assert_true(a.trace_hash == b.trace_hash);
        tl_scn_free(scn);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_scenario_errors_name_line_column_and_expectation),
        cmocka_unit_test(test_sim_scenario_units_and_defaults_parse),
        cmocka_unit_test(test_sim_scenario_run_checks_expectations),
        cmocka_unit_test(test_sim_scenario_summary_and_json_are_written),
        cmocka_unit_test(test_sim_scenario_load_reports_missing_file),
        cmocka_unit_test(test_sim_scenario_files_pass_and_repeat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
