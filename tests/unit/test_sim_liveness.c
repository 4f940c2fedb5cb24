/*
 * Safety and liveness in scenario files (docs/scenarios.md "Safety and
 * liveness"): `heal TIME` ends every fault; a progress expectation needs the
 * faults to end (else the file is refused at parse time, naming
 * file:line:column and the fault); `since heal` measures what happened after
 * the faults ended; the liveness oracle fails a client that is stuck after
 * the faults ended; `report` measures without asserting; an expectation on a
 * metric no service of the node reports is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sim/scenario.h"
#include "../../sim/sim.h"

#define BASE "node server\nnode client\n"
#define ECHO "service server echo listen=tcp|server|7099\n"
#define RR   "service client rr connect=tcp|server|7099 count=5\n"

static tl_scenario *parse_ok(const char *text)
{
    tl_scenario *scn = NULL;
    tl_scn_error err;
    if (tl_scn_parse(text, strlen(text), "t.scn", &scn, &err) != TL_OK) {
        fail_msg("unexpected parse error %s:%u:%u: %s", err.file, err.line, err.column, err.message);
    }
    return scn;
}

/* The whole one-line error, "file:line:column: message". */
static void parse_bad(const char *text, char *out, size_t cap)
{
    tl_scenario *scn = NULL;
    tl_scn_error err;
    int rc = tl_scn_parse(text, strlen(text), "t.scn", &scn, &err);
    if (rc != TL_E_INVAL || scn != NULL) {
        fail_msg("parsed, but should not have: %s", text);
    }
    snprintf(out, cap, "%s:%u:%u: %s", err.file, err.line, err.column, err.message);
}

static void assert_error(const char *text, const char *want)
{
    char got[800];
    parse_bad(text, got, sizeof got);
    if (strcmp(got, want) != 0) {
        fail_msg("got\n  %s\nwant\n  %s", got, want);
    }
}

static void test_sim_liveness_progress_under_endless_faults_is_refused_at_parse(void **state)
{
    (void)state;
    /* loss to the end of the run: `answered == 5` cannot be promised */
    assert_error(
        BASE "link client server delay 5ms loss 5%\n" ECHO RR "expect client answered == 5\n",
        "t.scn:6:15: `client answered == 5` needs the faults to end, but link server -> client keeps "
        "losing, corrupting or duplicating to the end (line 3): add `heal TIME`, or expect only what "
        "holds under faults");
    /* a partition without an end, a pause without a resume */
    assert_error(
        BASE ECHO RR "at 1s partition client server\nexpect client done\n",
        "t.scn:6:15: `client done` needs the faults to end, but the partition server -> client never "
        "heals (line 5): add `heal TIME`, or expect only what holds under faults");
    assert_error(
        BASE ECHO RR "at 1s pause server\nexpect client open == 0\n",
        "t.scn:6:15: `client open == 0` needs the faults to end, but node server is paused and never "
        "resumes (line 5): add `heal TIME`, or expect only what holds under faults");
    /* faults that end at the very end of the run leave no time to recover */
    assert_error("duration 10s\n" BASE ECHO RR "at 10s crash server\nexpect client sent >= 1\n",
                 "t.scn:7:15: `client sent >= 1` needs time after the faults end (at 10s), but the run ends "
                 "there: a longer duration or an earlier `heal`");
    /* `since heal` needs an end of the faults too, and a count */
    assert_error(BASE "link client server loss 5%\n" ECHO RR "expect client errors == 0 since heal\n",
                 "t.scn:6:15: `client errors == 0 since heal` needs the faults to end, but link server -> "
                 "client keeps losing, corrupting or duplicating to the end (line 3): add `heal TIME`, or "
                 "expect only what holds under faults");
    assert_error(BASE ECHO RR "expect client done == 1 since heal\n",
                 "t.scn:5:25: expected a count after done, not `since heal` (done is not a count)");
    assert_error(BASE ECHO RR "expect client answered == 1 since noon\n",
                 "t.scn:5:35: expected heal (`since heal`: the growth after the faults end), got 'noon'");
}

static void test_sim_liveness_what_holds_under_faults_parses_without_heal(void **state)
{
    (void)state;
    /* safety and upper bounds: fine under faults that never end */
    tl_scenario *scn =
        parse_ok(BASE "link client server delay 5ms loss 30%\n" ECHO RR "expect client errors == 0\n"
                      "expect client failed <= 5\n"
                      "expect client answered <= 5\n"
                      "expect client out-of-order == 0\n"
                      "report client answered\n");
    assert_int_equal(scn->faults_end_known, 0);
    assert_int_equal(scn->faults_line, 3);
    tl_scn_free(scn);
    /* faults that end by themselves: the last action, or the end of a `for` */
    scn = parse_ok(BASE ECHO RR "at 1s partition client server for 20s\n"
                                "at 2s pause server\nat 3s resume server\n"
                                "at 4s link client server loss 50%\nat 9s link client server delay 1ms\n"
                                "expect client answered == 5\n");
    assert_int_equal(scn->faults_end_known, 1);
    assert_true(scn->faults_end_ns == 21 * TL_SIM_NS_PER_S);
    tl_scn_free(scn);
    /* a `heal` line decides */
    scn = parse_ok(BASE "link client server loss 5%\nheal 30s\n" ECHO RR "expect client answered == 5\n");
    assert_int_equal(scn->faults_end_known, 1);
    assert_true(scn->faults_end_ns == 30 * TL_SIM_NS_PER_S);
    tl_scn_free(scn);
}

static void test_sim_liveness_heal_line_errors_name_line_and_column(void **state)
{
    (void)state;
    assert_error(BASE "heal 5s\nheal 6s\n", "t.scn:4:1: expected one `heal` line (the first is line 3)");
    assert_error(BASE "heal soon\n",
                 "t.scn:3:6: expected a time with a unit (ns, us, ms, s, m, h), e.g. 20ms or "
                 "1.5s, got 'soon'");
    assert_error(BASE "heal 5s now\n",
                 "t.scn:3:9: expected the end of the line (`heal TIME` ends every fault; "
                 "`at TIME heal A B` ends one partition), got 'now'");
    assert_error("duration 30s\n" BASE "heal 30s\n",
                 "t.scn:4:6: expected `heal` before the end of the run (heal 30s, duration 30s)");
    assert_error(BASE ECHO RR "heal 10s\nat 12s crash server\n",
                 "t.scn:6:4: expected every action before `heal 10s` (line 5): after it the network is "
                 "fault-free and only recovery is checked");
}

static void test_sim_liveness_metric_no_service_reports_is_refused(void **state)
{
    (void)state;
    assert_error(BASE ECHO RR "expect server deaths == 1\n",
                 "t.scn:5:15: expected a metric that node server reports: deaths is not one of echo");
    assert_error(BASE ECHO RR "expect client/request-response suspicions == 0\n",
                 "t.scn:5:32: expected a metric that service request-response reports: suspicions is not one "
                 "of request-response");
    assert_error("node server\nnode idle\n" ECHO "expect idle errors == 0\n",
                 "t.scn:4:13: expected a metric that node idle reports: errors is not one of no service");
    /* node metrics need no service */
    tl_scenario *scn = parse_ok("node server\nnode idle\n" ECHO "expect idle state == up\n"
                                "expect idle incarnation == 1\nreport idle closed-by communication_failed\n");
    tl_scn_free(scn);
}

static void test_sim_liveness_nul_and_duplicate_link_are_named_where_they_are(void **state)
{
    (void)state;
    static const char nul[] = "node a\nnode b\nlink a b delay 5m\0s\n";
    char got[800];
    tl_scenario *scn = NULL;
    tl_scn_error err;
    assert_int_equal(tl_scn_parse(nul, sizeof nul - 1, "t.scn", &scn, &err), TL_E_INVAL);
    snprintf(got, sizeof got, "%u:%u: %s", err.line, err.column, err.message);
    assert_string_equal(got, "3:18: expected text, got a NUL byte");
    assert_error(BASE "link client server delay 5ms\nlink server client loss 1%\n",
                 "t.scn:4:6: expected one `link` line per pair of nodes: server client is set on line 3 (to "
                 "change a link during the run: `at TIME link ...`)");
    assert_error(BASE "link client server oneway delay 5ms\nlink * * delay 1ms\nlink client server loss 1%\n",
                 "t.scn:5:6: expected one `link` line per pair of nodes: client server is set on line 3 (to "
                 "change a link during the run: `at TIME link ...`)");
    /* the two directions of a pair, one line each, are not duplicates */
    scn = parse_ok(BASE "link client server oneway delay 5ms\nlink server client oneway loss 1%\n"
                        "link * * delay 1ms\n");
    tl_scn_free(scn);
}

static tl_scn_result run1(const char *text, uint64_t seed, char *summary, size_t cap)
{
    tl_scenario *scn = parse_ok(text);
    tl_scn_result r;
    tl_scn_run_options o;
    char *buf = NULL;
    size_t len = 0;
    memset(&o, 0, sizeof o);
    o.summary = open_memstream(&buf, &len);
    assert_non_null(o.summary);
    assert_int_equal(tl_scn_run(scn, seed, &o, &r), TL_OK);
    fclose(o.summary);
    if (summary) {
        snprintf(summary, cap, "%s", buf);
    }
    free(buf);
    tl_scn_free(scn);
    return r;
}

/* Total loss until heal: nothing can be answered before it, everything after. */
static const char total_loss[] = "duration 5m\n" BASE "link client server delay 5ms loss 100%\n"
                                 "heal 10s\n" ECHO RR "expect client answered == 5\n"
                                 "expect client answered == 5 since heal\n"
                                 "expect * lost > 0\n";

static void test_sim_liveness_heal_ends_the_loss_and_the_run_recovers(void **state)
{
    (void)state;
    char sum[4096];
    tl_scn_result r = run1(total_loss, 1, sum, sizeof sum);
    if (!r.passed) {
        fail_msg("%s\n%s", r.first_failure, sum);
    }
    /* the same without heal: nothing gets through (upper bounds hold) */
    r = run1("duration 5m\n" BASE "link client server delay 5ms loss 100%\n" ECHO RR
             "expect client answered == 0\n",
             1, sum, sizeof sum);
    assert_true(r.passed);
}

static void heal_trace(void *ctx, const char *line, size_t len)
{
    int *seen = ctx;
    if (len >= 8 && memcmp(line + len - 8, "heal all", 8) == 0) {
        (*seen)++;
    }
}

static void test_sim_liveness_heal_is_in_the_trace_and_deterministic(void **state)
{
    (void)state;
    tl_scenario *scn = parse_ok(total_loss);
    tl_scn_run_options o;
    tl_scn_result a, b;
    int seen = 0;
    memset(&o, 0, sizeof o);
    o.on_trace = heal_trace;
    o.trace_ctx = &seen;
    assert_int_equal(tl_scn_run(scn, 3, &o, &a), TL_OK);
    assert_int_equal(seen, 1);
    assert_int_equal(tl_scn_run(scn, 3, &o, &b), TL_OK);
    assert_true(a.trace_hash == b.trace_hash);
    tl_scn_free(scn);
}

static void test_sim_liveness_heal_resumes_paused_nodes_and_heals_partitions(void **state)
{
    (void)state;
    char sum[4096];
    tl_scn_result r = run1("duration 5m\n" BASE ECHO
                           "service client rr connect=tcp|server|7099 count=50 concurrency=2 start=1s\n"
                           "at 2s pause server\nat 3s partition client server\n"
                           "heal 20s\nexpect client answered == 50\nexpect server state == up\n",
                           1, sum, sizeof sum);
    if (!r.passed) {
        fail_msg("%s\n%s", r.first_failure, sum);
    }
}

static void test_sim_liveness_stuck_client_after_faults_end_fails_the_run(void **state)
{
    (void)state;
    char sum[4096];
    /* The server vanishes at 2 s with requests outstanding; TCP would retry
     * for about 15 minutes, the run lasts 60 s, the rr client has no timeout:
     * its requests neither complete nor fail after the faults ended. */
    tl_scn_result r = run1("duration 60s\n" BASE "link client server delay 5ms\n" ECHO
                           "service client rr connect=tcp|server|7099 count=1000000 concurrency=4\n"
                           "at 2s silent-death server\n",
                           1, sum, sizeof sum);
    assert_false(r.passed);
    if (strstr(r.first_failure, "client/request-response: liveness: 4 request(s) open and none answered or "
                                "failed in the 58s after the faults ended (at 2s)") == NULL) {
        fail_msg("%s", r.first_failure);
    }
    /* with a request timeout the client fails them explicitly: no liveness failure */
    r = run1("duration 60s\n" BASE "link client server delay 5ms\n" ECHO
             "service client rr connect=tcp|server|7099 count=1000000 concurrency=4 timeout=5s\n"
             "at 2s silent-death server\n",
             1, sum, sizeof sum);
    if (!r.passed) {
        fail_msg("%s\n%s", r.first_failure, sum);
    }
    /* and while the faults last, waiting is not a liveness failure */
    r = run1("duration 60s\n" BASE "link client server delay 5ms\n" ECHO
             "service client rr connect=tcp|server|7099 count=1000000 concurrency=4\n"
             "at 2s partition client server\n",
             1, sum, sizeof sum);
    if (!r.passed) {
        fail_msg("%s\n%s", r.first_failure, sum);
    }
}

static void test_sim_liveness_report_measures_without_asserting(void **state)
{
    (void)state;
    char sum[4096];
    tl_scn_result r = run1("duration 60s\n" BASE "link client server delay 5ms loss 20%\n" ECHO RR
                           "report * retransmits\nreport client answered\nreport client latency-max\n",
                           4, sum, sizeof sum);
    assert_true(r.passed);
    assert_int_equal(r.expectations, 0);
    assert_int_equal(r.reports, 3);
    assert_true(r.report_value[0] > 0);
    assert_true(r.report_value[1] == 5);
    assert_non_null(strstr(sum, "  report client answered = 5  [line 8]"));
    assert_non_null(strstr(sum, "  report client latency-max = "));
    assert_error(BASE ECHO RR "report client answered >= 5\n",
                 "t.scn:5:24: expected the end of the line (a report has no comparison), got '>='");
}

static void test_sim_liveness_write_keeps_heal_reports_and_since_heal(void **state)
{
    (void)state;
    tl_scenario *scn = parse_ok(total_loss);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(tl_scn_write(scn, f, 0, 0), TL_OK);
    fputs("report client latency-max\n", f);
    fclose(f);
    assert_non_null(strstr(buf, "\nheal 10s\n"));
    assert_non_null(strstr(buf, "\nexpect client answered == 5 since heal\n"));
    tl_scenario *back = parse_ok(buf);
    free(buf);
    assert_true(back->heal_ns == 10 * TL_SIM_NS_PER_S);
    assert_int_equal(back->nreports, 1);
    f = open_memstream(&buf, &len);
    assert_int_equal(tl_scn_write(back, f, 0, 0), TL_OK);
    fclose(f);
    assert_non_null(strstr(buf, "\nreport client latency-max\n"));
    free(buf);
    tl_scn_free(back);
    tl_scn_free(scn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_liveness_progress_under_endless_faults_is_refused_at_parse),
        cmocka_unit_test(test_sim_liveness_what_holds_under_faults_parses_without_heal),
        cmocka_unit_test(test_sim_liveness_heal_line_errors_name_line_and_column),
        cmocka_unit_test(test_sim_liveness_metric_no_service_reports_is_refused),
        cmocka_unit_test(test_sim_liveness_nul_and_duplicate_link_are_named_where_they_are),
        cmocka_unit_test(test_sim_liveness_heal_ends_the_loss_and_the_run_recovers),
        cmocka_unit_test(test_sim_liveness_heal_is_in_the_trace_and_deterministic),
        cmocka_unit_test(test_sim_liveness_heal_resumes_paused_nodes_and_heals_partitions),
        cmocka_unit_test(test_sim_liveness_stuck_client_after_faults_end_fails_the_run),
        cmocka_unit_test(test_sim_liveness_report_measures_without_asserting),
        cmocka_unit_test(test_sim_liveness_write_keeps_heal_reports_and_since_heal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
