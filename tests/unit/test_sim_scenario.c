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

#include "../../sim/scenario.h" /* the expanded directives of node ranges */
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
                 "link b a oneway loss gemodel 1% 10% 70% 0.1% corrupt 0.01% duplicate 0.5%\n"
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

static const char good[] =
    "seeds 1..2\n"
    "duration 30s\n" BASE "link client server delay 5ms loss 5%\n"
    "heal 20s\n" ECHO "service client rr connect=tcp|server|7099 count=30 size=10..100 concurrency=2\n"
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
    assert_non_null(strstr(sum, "  ok   expect client answered == 30 (actual 30)  [line 9]"));
    assert_non_null(strstr(sum, "seed 2: PASS, trace "));
    assert_true(json[0] == '{' && json[json_len - 1] == '}');
    assert_non_null(strstr(json, "\"seed\":2,\"result\":\"PASS\",\"trace_hash\":\""));
    assert_non_null(
        strstr(json, "{\"line\":9,\"expect\":\"client answered == 30\",\"actual\":\"30\",\"pass\":true}"));
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

/* ---- node ranges: NAME[A..B], NAME[*] ---- */

static void test_sim_scenario_node_range_declares_each_node_with_its_options(void **state)
{
    (void)state;
    tl_scenario *scn = parse_ok("tcp mss=1000\n"
                                "node server\n"
                                "\n"
                                "node peer[1..3] mss=536 close=fin\n"
                                "node peer[10..10]\n"
                                "node x[0..1]\n");
    static const char *names[] = {"server", "peer1", "peer2", "peer3", "peer10", "x0", "x1"};
    static const unsigned lines[] = {2, 4, 4, 4, 5, 6, 6};
    assert_int_equal(tl_scn_node_count(scn), 7);
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(tl_scn_node_name(scn, i), names[i]);
        assert_int_equal(scn->nodes[i].line, lines[i]);
    }
    for (size_t i = 1; i <= 3; i++) {
        assert_int_equal(scn->nodes[i].opt.mss, 536);
        assert_int_equal(scn->nodes[i].opt.close_fin, 1);
        assert_true(scn->nodes[i].mask == (1ull << 0 | 1ull << 13)); /* mss, close */
    }
    assert_true(scn->nodes[0].mask == 0 && scn->nodes[4].mask == 0);
    tl_scn_free(scn);
}

static void test_sim_scenario_ranges_expand_every_directive_per_node(void **state)
{
    (void)state;
    tl_scenario *scn = parse_ok("node server\n"                                           /* 1: node 0 */
                                "node peer[1..3]\n"                                       /* 2: nodes 1-3 */
                                "node other\n"                                            /* 3: node 4 */
                                "link peer[1..3] server delay 5ms\n"                      /* 4 */
                                "link peer[1..2] peer[2..3] oneway delay 1ms\n"           /* 5 */
                                "service server echo listen=tcp|server|7099\n"            /* 6 */
                                "service peer[2..3] rr connect=tcp|server|7099 count=2\n" /* 7 */
                                "at 5s crash peer[1..2]\n"                                /* 8 */
                                "at 6s partition peer[1..2] server oneway for 1s\n"       /* 9 */
                                "at 7s heal peer[1..2] *\n"                               /* 10 */
                                "at 8s link peer[1..2] other delay 9ms\n"                 /* 11 */
                                "at 9s stop-listener peer[3..3] 80\n"                     /* 12 */
                                "at 10s silent-death peer[*]\n"                           /* 13 */
                                "expect peer[2..3]/request-response answered == 2\n"      /* 14 */
                                "expect peer[*] incarnation >= 1\n"                       /* 15 */
                                "expect * lost >= 0\n");                                  /* 16 */
    /* links: the cross product, in order, a node never paired with itself */
    static const int la[] = {1, 2, 3, 1, 1, 2}, lb[] = {0, 0, 0, 2, 3, 3};
    static const unsigned ll[] = {4, 4, 4, 5, 5, 5};
    assert_int_equal(scn->nlinks, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(scn->links[i].a, la[i]);
        assert_int_equal(scn->links[i].b, lb[i]);
        assert_int_equal(scn->links[i].line, ll[i]);
        assert_int_equal(scn->links[i].oneway, i >= 3);
        assert_true(scn->links[i].p.delay_ns == (i < 3 ? 5000000u : 1000000u));
    }
    /* services: one per node, each with its own configuration */
    assert_int_equal(scn->nservices, 3);
    for (size_t i = 1; i < 3; i++) {
        assert_int_equal(scn->services[i].node, (int)i + 1);
        assert_string_equal(scn->services[i].name, "request-response");
        assert_int_equal(scn->services[i].line, 7);
        assert_string_equal(scn->services[i].args, "connect=tcp|server|7099 count=2");
    }
    assert_true(scn->services[1].cfg != scn->services[2].cfg);
    /* actions */
    static const struct {
        tl_sim_action action;
        int a, b, is_link;
        uint64_t arg;
        unsigned flags, line;
    } want[] = {
        {TL_SIM_CRASH, 1, 0, 0, 0, 0, 8},
        {TL_SIM_CRASH, 2, 0, 0, 0, 0, 8},
        {TL_SIM_PARTITION, 1, 0, 0, 1000000000ull, TL_SIM_ONEWAY, 9},
        {TL_SIM_PARTITION, 2, 0, 0, 1000000000ull, TL_SIM_ONEWAY, 9},
        {TL_SIM_HEAL, 1, -1, 0, 0, 0, 10},
        {TL_SIM_HEAL, 2, -1, 0, 0, 0, 10},
        {0, 1, 4, 1, 0, 0, 11},
        {0, 2, 4, 1, 0, 0, 11},
        {TL_SIM_STOP_LISTENER, 3, 0, 0, 80, 0, 12},
        {TL_SIM_SILENT_DEATH, 1, 0, 0, 0, 0, 13},
        {TL_SIM_SILENT_DEATH, 2, 0, 0, 0, 0, 13},
        {TL_SIM_SILENT_DEATH, 3, 0, 0, 0, 0, 13},
    };
    assert_int_equal(scn->nactions, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < scn->nactions; i++) {
        const scn_action *a = &scn->actions[i];
        if (a->action != want[i].action || a->a != want[i].a || a->b != want[i].b ||
            a->is_link != want[i].is_link || a->arg != want[i].arg || a->flags != want[i].flags ||
            a->line != want[i].line) {
            fail_msg("action %zu: action %d a %d b %d link %d arg %llu flags %u line %u", i, (int)a->action,
                     a->a, a->b, a->is_link, (unsigned long long)a->arg, a->flags, a->line);
        }
    }
    assert_true(scn->actions[6].link.delay_ns == 9000000u && scn->actions[6].t == 8000000000ull);
    /* expectations: one per node, each with its own text, on the range's line */
    static const struct {
        int node, service;
        const char *text;
        unsigned line;
    } ex[] = {
        {2, 1, "peer2/request-response answered == 2", 14},
        {3, 2, "peer3/request-response answered == 2", 14},
        {1, -1, "peer1 incarnation >= 1", 15},
        {2, -1, "peer2 incarnation >= 1", 15},
        {3, -1, "peer3 incarnation >= 1", 15},
        {-1, -1, "* lost >= 0", 16},
    };
    assert_int_equal(scn->nexpects, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(scn->expects[i].node, ex[i].node);
        assert_int_equal(scn->expects[i].service, ex[i].service);
        assert_string_equal(scn->expects[i].text, ex[i].text);
        assert_int_equal(scn->expects[i].line, ex[i].line);
    }
    tl_scn_free(scn);
}

static void test_sim_scenario_star_range_is_name_then_digits_in_declaration_order(void **state)
{
    (void)state;
    tl_scenario *scn = parse_ok("node peer2\n"  /* 0 */
                                "node peerx\n"  /* 1 */
                                "node peer10\n" /* 2 */
                                "node p3\n"     /* 3 */
                                "node peer\n"   /* 4 */
                                "node peer1\n"  /* 5 */
                                "node peer2a\n" /* 6 */
                                "node peer-3\n" /* 7 */
                                "node apeer4\n" /* 8 */
                                "link * * delay 1ms\n"
                                "service peer[*] echo listen=tcp|0.0.0.0|7\n"
                                "at 1s partition peer[*] *\n"
                                "expect peer[*]/echo done == 0\n");
    static const int want[] = {0, 2, 5};
    /* `*` keeps its meaning: one line, every node */
    assert_int_equal(scn->nlinks, 1);
    assert_true(scn->links[0].a == -1 && scn->links[0].b == -1);
    assert_int_equal(scn->nservices, 3);
    assert_int_equal(scn->nactions, 3);
    assert_int_equal(scn->nexpects, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(scn->services[i].node, want[i]);
        assert_int_equal(scn->actions[i].a, want[i]);
        assert_int_equal(scn->actions[i].b, -1);
        assert_int_equal(scn->expects[i].node, want[i]);
        assert_int_equal(scn->expects[i].service, (int)i);
    }
    assert_string_equal(scn->expects[2].text, "peer1/echo done == 0");
    tl_scn_free(scn);
}

typedef struct {
    const char *text;
    const char *message; /* exactly, as file:line:column: message */
} range_error;

static const range_error range_errors[] = {
    {"node a\nnode b\nnode peer[5..2]\n", "bad.scn:3:11: expected a range A..B with A <= B, got '5..2'"},
    {"node peer[1..x]\n", "bad.scn:1:11: expected a range A..B with A <= B, got '1..x'"},
    {"node peer[*]\n", "bad.scn:1:11: expected a range A..B with A <= B, got '*'"},
    {"node peer[01..10]\n",
     "bad.scn:1:11: expected a range A..B with A <= B, got '01..10' (no leading zeros: "
     "the names are NAME1, NAME2, ...)"},
    {"node peer[1..1001]\n", "bad.scn:1:11: expected a range of at most 1000 nodes, got '1..1001'"},
    {"node peer[1..3\n", "bad.scn:1:6: expected NAME[A..B], got 'peer[1..3'"},
    {"node [1..3]\n", "bad.scn:1:6: expected a node name (1-31 of A-Z a-z 0-9 _ . -) before [, got ''"},
    {"node abcdefghijklmnopqrstuvwxyzabc[98..100]\n",
     "bad.scn:1:6: expected node names of at most 31 characters, got 'abcdefghijklmnopqrstuvwxyzabc100'"},
    {"node peer2\nnode peer[1..3]\n", "bad.scn:2:6: expected a new node name, got 'peer2' (declared before)"},
    {"node peer[1..100]\nlink peer[1..200] peer1 delay 1ms\n",
     "bad.scn:2:6: expected only declared nodes in 'peer[1..200]', got 'peer101' (not declared)"},
    {"node server\nnode peer[1..2]\nservice peer[1..3] echo listen=tcp|0.0.0.0|7\n",
     "bad.scn:3:9: expected only declared nodes in 'peer[1..3]', got 'peer3' (not declared)"},
    {"node peer[1..4]\nat 5s crash peer[2..5]\n",
     "bad.scn:2:13: expected only declared nodes in 'peer[2..5]', got 'peer5' (not declared)"},
    {"node server\nnode peer[1..4]\nat 5s partition server peer[0..4]\n",
     "bad.scn:3:24: expected only declared nodes in 'peer[0..4]', got 'peer0' (not declared)"},
    {"node peer[1..4]\nexpect peer[3..9] errors == 0\n",
     "bad.scn:2:8: expected only declared nodes in 'peer[3..9]', got 'peer5' (not declared)"},
    {"node a\nexpect ghost[*] errors == 0\n",
     "bad.scn:2:8: expected a declared node named ghost followed by digits, got none for 'ghost[*]'"},
    {"node a\nnode ghost\nlink a ghost[*] delay 1ms\n",
     "bad.scn:3:8: expected a declared node named ghost followed by digits, got none for 'ghost[*]'"},
    {"node peer[1..150]\nlink peer[*] peer[*] delay 1ms\n",
     "bad.scn:2:6: expected at most 10000 directives from one line, got 22350"},
    {"node peer[1..3]\nlink peer[2..2] peer[2..2] delay 1ms\n",
     "bad.scn:2:17: expected a node other than the first, got 'peer[2..2]'"},
    {"node peer[1..3]\nat 1s partition peer[1..1] peer1\n",
     "bad.scn:2:28: expected a node other than the first, got 'peer1'"},
    {"node peer[1..3]\nat 1s crash peer[1..3]x\n",
     "bad.scn:2:13: expected NAME[A..B] or NAME[*], got 'peer[1..3]x'"},
    {"node peer[1..3]\nservice peer[*] echo listen=tcp|peer1|7\n",
     "bad.scn:2:29: expected the service's own node (peer2) as the host of tcp|peer1|7"},
    {"node peer[1..2]\nservice peer1 echo listen=tcp|peer1|7\nexpect peer[*]/echo errors == 0\n",
     "bad.scn:3:16: expected a service of node peer2 (its name= or kind), got 'echo'"},
};

static void test_sim_scenario_range_errors_name_line_column_and_expectation(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof range_errors / sizeof range_errors[0]; i++) {
        const char *text = range_errors[i].text;
        tl_scenario *scn = NULL;
        tl_scn_error err;
        char got[800];
        int rc = tl_scn_parse(text, strlen(text), "bad.scn", &scn, &err);
        if (rc != TL_E_INVAL || scn != NULL) {
            fail_msg("case %zu parsed: %s", i, text);
        }
        snprintf(got, sizeof got, "%s:%u:%u: %s", err.file, err.line, err.column, err.message);
        if (strcmp(got, range_errors[i].message) != 0) {
            fail_msg("case %zu: got\n  %s\nwant\n  %s", i, got, range_errors[i].message);
        }
    }
}

/* 20 heartbeat clients declared by range; two die silently at 10 s. */
static const char hb20[] = "seeds 1..2\n"
                           "duration 30s\n"
                           "node server\n"
                           "node peer[1..20]\n"
                           "link peer[*] server delay 5ms jitter 1ms\n"
                           "service server heartbeat-server listen=tcp|server|7200 interval=500ms timeout=2s "
                           "expect-death-at=10s\n"
                           "service peer[1..20] heartbeat connect=tcp|server|7200 interval=500ms timeout=2s\n"
                           "at 10s silent-death peer[4..5]\n"
                           "expect server deaths == 2\n"
                           "expect server false-suspicions == 0\n"
                           "expect server latency-max <= 2s\n"
                           "expect peer[*] errors == 0\n"       /* line 12 */
                           "expect peer[*] suspicions == 0\n"   /* line 13 */
                           "expect peer[4..5] state == dead\n"; /* line 14 */

static void test_sim_scenario_heartbeat_clients_by_range_run_and_pass(void **state)
{
    (void)state;
    tl_scenario *scn = parse_ok(hb20);
    assert_int_equal(tl_scn_node_count(scn), 21);
    assert_string_equal(tl_scn_node_name(scn, 20), "peer20");
    for (uint64_t seed = 1; seed <= 2; seed++) {
        char *sum = NULL;
        size_t sum_len = 0;
        tl_scn_run_options o;
        tl_scn_result r;
        memset(&o, 0, sizeof o);
        o.summary = open_memstream(&sum, &sum_len);
        assert_int_equal(tl_scn_run(scn, seed, &o, &r), TL_OK);
        fclose(o.summary);
        if (!r.passed) {
            fail_msg("seed %llu: %s", (unsigned long long)seed, r.first_failure);
        }
        assert_int_equal(r.expectations, 3 + 20 + 20 + 2);
        /* each node reports separately, citing the range's line */
        assert_non_null(strstr(sum, "  ok   expect peer20 errors == 0 (actual 0)  [line 12]"));
        assert_non_null(strstr(sum, "  ok   expect peer5 state == dead (actual dead)  [line 14]"));
        assert_non_null(strstr(sum, "  ok   expect server deaths == 2 (actual 2)  [line 9]"));
        free(sum);
    }
    tl_scn_free(scn);

    /* a failing range expectation fails once per node, named by node and line */
    char text[sizeof hb20 + 64];
    snprintf(text, sizeof text, "%sexpect peer[1..20] signals == 0\n", hb20);
    scn = parse_ok(text);
    tl_scn_result r;
    assert_int_equal(tl_scn_run(scn, 1, NULL, &r), TL_OK);
    assert_false(r.passed);
    assert_int_equal(r.failed, 20);
    assert_true(strncmp(r.first_failure, "t.scn:15: expect peer1 signals == 0 (actual ", 44) == 0);
    tl_scn_free(scn);
}

static void test_sim_scenario_write_expands_ranges_into_a_parseable_file(void **state)
{
    (void)state;
    tl_scenario *scn = parse_ok(hb20), *back = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    assert_int_equal(tl_scn_write(scn, m, 0, 0), TL_OK);
    fclose(m);
    assert_null(strchr(text, '[')); /* the expanded form */
    assert_non_null(strstr(text, "\nnode peer20\n"));
    assert_non_null(strstr(text, "\nlink peer7 server delay 5ms jitter 1ms\n"));
    assert_non_null(
        strstr(text, "\nservice peer13 heartbeat connect=tcp|server|7200 interval=500ms timeout=2s\n"));
    assert_non_null(strstr(text, "\nat 10s silent-death peer5\n"));
    assert_non_null(strstr(text, "\nexpect peer17 suspicions == 0\n"));
    tl_scn_error err;
    if (tl_scn_parse(text, len, "written", &back, &err) != TL_OK) {
        fail_msg("written:%u:%u: %s", err.line, err.column, err.message);
    }
    assert_int_equal(back->nnodes, scn->nnodes);
    assert_int_equal(back->nlinks, scn->nlinks);
    assert_int_equal(back->nservices, scn->nservices);
    assert_int_equal(back->nactions, scn->nactions);
    assert_int_equal(back->nexpects, scn->nexpects);
    /* the same network: the same run */
    tl_scn_result a, b;
    assert_int_equal(tl_scn_run(scn, 1, NULL, &a), TL_OK);
    assert_int_equal(tl_scn_run(back, 1, NULL, &b), TL_OK);
    assert_true(a.passed && b.passed);
    assert_true(a.trace_hash == b.trace_hash);
    free(text);
    tl_scn_free(back);
    tl_scn_free(scn);
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
        cmocka_unit_test(test_sim_scenario_node_range_declares_each_node_with_its_options),
        cmocka_unit_test(test_sim_scenario_ranges_expand_every_directive_per_node),
        cmocka_unit_test(test_sim_scenario_star_range_is_name_then_digits_in_declaration_order),
        cmocka_unit_test(test_sim_scenario_range_errors_name_line_column_and_expectation),
        cmocka_unit_test(test_sim_scenario_heartbeat_clients_by_range_run_and_pass),
        cmocka_unit_test(test_sim_scenario_write_expands_ranges_into_a_parseable_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
