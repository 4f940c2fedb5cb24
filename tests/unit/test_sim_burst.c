/*
 * Time-correlated burst loss (`loss burst GOOD BAD [LOSS%]`, sim/net.c,
 * tl_sim_burst): the share of time in bad periods is bad / (good + bad),
 * the periods have the stated means, they depend on seed and time only (a
 * quiet sender resumes after the burst, at its first try past it), every
 * segment a link loses falls in a bad period of that link's timeline
 * (which starts when the words take effect), heal ends the bursts, the same
 * seed gives the same trace, and the words parse, write back and report
 * errors with file:line:column.
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

#define MS  (1000000ull)
#define SEC (1000000000ull)

static tl_scenario *parse(const char *text)
{
    tl_scenario *scn = NULL;
    tl_scn_error err;
    if (tl_scn_parse(text, strlen(text), "b.scn", &scn, &err) != TL_OK) {
        fail_msg("%u:%u: %s\n%s", err.line, err.column, err.message, text);
    }
    return scn;
}

/* The trace of one run, in memory. */
typedef struct {
    char *text;
    size_t len;
} trace;

static tl_scn_result run_traced(const char *text, uint64_t seed, trace *t)
{
    tl_scenario *scn = parse(text);
    tl_scn_run_options o;
    tl_scn_result r;
    memset(&o, 0, sizeof o);
    t->text = NULL;
    t->len = 0;
    o.trace = open_memstream(&t->text, &t->len);
    assert_non_null(o.trace);
    assert_int_equal(tl_scn_run(scn, seed, &o, &r), TL_OK);
    fclose(o.trace);
    tl_scn_free(scn);
    return r;
}

/* "12.000345000 ..." -> ns */
static uint64_t line_time(const char *line)
{
    uint64_t s = strtoull(line, NULL, 10);
    const char *dot = strchr(line, '.');
    return s * SEC + (dot ? strtoull(dot + 1, NULL, 10) : 0);
}

/* ---- the model ---- */

static void test_sim_burst_time_share_and_period_means_match(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        tl_sim_burst b;
        tl_sim_burst_init(&b, seed, "client", "server", 0, 200 * MS, 50 * MS);
        /* a packet every millisecond for 2000 s: how many find the link bad */
        uint64_t bad = 0, n = 0;
        for (uint64_t t = 0; t < 2000 * SEC; t += MS, n++) {
            bad += (uint64_t)tl_sim_burst_at(&b, t, NULL);
        }
        double share = (double)bad / (double)n;
        if (share < 0.18 || share > 0.22) {
            fail_msg("seed %llu: %.4f of the packets in bad periods, expected 0.2 +- 0.02",
                     (unsigned long long)seed, share);
        }
        /* the periods themselves: means 200 ms and 50 ms within 5 % */
        tl_sim_burst p;
        uint64_t t = 0, sum[2] = {0, 0}, count[2] = {0, 0}, end;
        tl_sim_burst_init(&p, seed, "client", "server", 0, 200 * MS, 50 * MS);
        while (t < 2000 * SEC) {
            int s = tl_sim_burst_at(&p, t, &end);
            assert_true(end > t);
            sum[s] += end - t;
            count[s]++;
            t = end;
        }
        double good = (double)sum[0] / (double)count[0] / 1e6, badm = (double)sum[1] / (double)count[1] / 1e6;
        if (good < 190 || good > 210 || badm < 47.5 || badm > 52.5) {
            fail_msg("seed %llu: mean periods %.2f ms good, %.2f ms bad", (unsigned long long)seed, good,
                     badm);
        }
        assert_true(count[1] > 7000); /* about 8000 bursts */
    }
}

static void test_sim_burst_same_seed_same_periods(void **state)
{
    (void)state;
    tl_sim_burst a, b, c;
    tl_sim_burst_init(&a, 9, "x", "y", 5 * SEC, SEC, SEC);
    tl_sim_burst_init(&b, 9, "x", "y", 5 * SEC, SEC, SEC);
    tl_sim_burst_init(&c, 9, "y", "x", 5 * SEC, SEC, SEC); /* the other direction: its own periods */
    uint64_t ea, eb, ec;
    int differ = 0;
    /* sampled at different times, a and b agree on every period */
    for (uint64_t t = 5 * SEC; t < 500 * SEC; t += 7 * MS) {
        int sa = tl_sim_burst_at(&a, t, &ea);
        int sb = tl_sim_burst_at(&b, t + (t % 3 == 0 ? 0 : 1), &eb);
        if (t % 3 == 0) {
            assert_int_equal(sa, sb);
            assert_true(ea == eb);
        }
        differ |= tl_sim_burst_at(&c, t, &ec) != sa;
    }
    assert_true(differ);
    /* good from t0 */
    tl_sim_burst d;
    tl_sim_burst_init(&d, 9, "x", "y", 5 * SEC, SEC, SEC);
    assert_int_equal(tl_sim_burst_at(&d, 5 * SEC, NULL), 0);
}

/* ---- on a link ---- */

/* heartbeats every 100 ms from client to server; the burst words take
 * effect at 30 s (the timeline starts then), heal at 100 s ends them */
static const char *hb_burst =
    "seeds 7\n"
    "duration 150s\n"
    "node server\n"
    "node client\n"
    "link client server delay 5ms\n"
    "service server heartbeat-server listen=tcp|server|7200 interval=100ms timeout=20s\n"
    "service client heartbeat connect=tcp|server|7200 interval=100ms timeout=20s\n"
    "at 30s link client server oneway delay 5ms loss burst 2s 500ms\n"
    "heal 100s\n"
    "expect server signals >= 100 since heal\n";

static void test_sim_burst_losses_fall_in_the_links_bad_periods(void **state)
{
    (void)state;
    trace t;
    tl_scn_result r = run_traced(hb_burst, 7, &t);
    assert_true(r.passed);
    tl_sim_burst b;
    tl_sim_burst_init(&b, 7, "client", "server", 30 * SEC, 2 * SEC, 500 * MS);
    unsigned lost = 0, after_heal = 0;
    for (char *line = t.text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
        }
        if (strstr(line, " why=loss") != NULL) {
            uint64_t when = line_time(line);
            assert_non_null(strstr(line, " client ch="));
            assert_non_null(strstr(line, " to=server "));
            assert_true(when >= 30 * SEC);
            after_heal += when >= 100 * SEC;
            if (tl_sim_burst_at(&b, when, NULL) != 1) {
                fail_msg("lost in a good period: %s", line);
            }
            lost++;
        }
        line = nl ? nl + 1 : NULL;
    }
    assert_true(lost > 20); /* about 28 bursts in 70 s, several heartbeats each */
    assert_int_equal(after_heal, 0);
    free(t.text);
}

static void test_sim_burst_same_seed_same_trace(void **state)
{
    (void)state;
    trace a, b, c;
    tl_scn_result ra = run_traced(hb_burst, 7, &a);
    tl_scn_result rb = run_traced(hb_burst, 7, &b);
    tl_scn_result rc = run_traced(hb_burst, 8, &c);
    assert_true(ra.trace_hash == rb.trace_hash);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.text, b.text, a.len);
    assert_true(ra.trace_hash != rc.trace_hash);
    free(a.text);
    free(b.text);
    free(c.text);
}

/* A client starts while client -> server is in a bad period: every SYN
 * is lost until the period ends, and the first retransmission after it
 * connects — the burst lasts a time, however quiet the sender. */
static void test_sim_burst_quiet_sender_resumes_after_the_burst(void **state)
{
    (void)state;
    /* SYN retransmissions back off from rto-initial 1 s: 1, 3, 7, 15, 31 s after the start */
    static const uint64_t tries[] = {0, 1, 3, 7, 15, 31};
    uint64_t seed = 0, start = 0, b1 = 0, retry = 0;
    for (uint64_t s = 1; s <= 500 && seed == 0; s++) {
        tl_sim_burst b;
        uint64_t t = 0, end;
        tl_sim_burst_init(&b, s, "client", "server", 0, 20 * SEC, 8 * SEC);
        while (tl_sim_burst_at(&b, t, &end) == 0) {
            t = end;
        }
        if (end - t < 4 * SEC) {
            continue; /* a long burst: several SYNs fall in it */
        }
        uint64_t st = t + 100 * MS, first_after = 0;
        for (size_t i = 0; i < 6 && first_after == 0; i++) {
            if (st + tries[i] * SEC >= end) {
                first_after = st + tries[i] * SEC;
            }
        }
        /* the next good period reaches that try (the timeline says so) */
        if (first_after != 0 && tl_sim_burst_at(&b, first_after, NULL) == 0) {
            seed = s;
            start = st;
            b1 = end;
            retry = first_after;
        }
    }
    assert_true(seed != 0);
    char text[1024];
    snprintf(text, sizeof text,
             "duration 10m\n"
             "node server\n"
             "node client\n"
             "link client server oneway delay 5ms loss burst 20s 8s\n"
             "link server client oneway delay 5ms\n"
             "heal 5m\n"
             "service server echo listen=tcp|server|7099\n"
             "service client rr connect=tcp|server|7099 count=1 start=%lluns\n"
             "expect client answered == 1\n"
             "expect client errors == 0\n",
             (unsigned long long)start);
    trace t;
    tl_scn_result r = run_traced(text, seed, &t);
    if (!r.passed) {
        fail_msg("seed %llu: %s", (unsigned long long)seed, r.first_failure);
    }
    /* connected when the SYN-ACK of the first try past the burst came back */
    const char *c = strstr(t.text, " client ch=");
    const char *conn = strstr(t.text, " connected to server");
    assert_non_null(c);
    assert_non_null(conn);
    while (conn > t.text && conn[-1] != '\n') {
        conn--;
    }
    uint64_t connected = line_time(conn);
    assert_true(connected >= b1);
    assert_true(connected == retry + 10 * MS);
    /* and every try before it was lost */
    unsigned lost_syn = 0;
    for (const char *p = strstr(t.text, "flags=S to=server why=loss"); p;
         p = strstr(p + 1, "flags=S to=server why=loss")) {
        lost_syn++;
    }
    assert_true(lost_syn >= 2);
    free(t.text);
}

/* ---- the words ---- */

static void test_sim_burst_words_parse_and_write_back(void **state)
{
    (void)state;
    tl_scenario *scn = parse("node a\nnode b\n"
                             "link a b delay 5ms loss burst 10s 1500ms\n"
                             "at 3s link a b oneway loss burst 2m 1s 50%\n");
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    assert_int_equal(tl_scn_write(scn, m, 0, 0), TL_OK);
    fclose(m);
    assert_non_null(strstr(out, "link a b delay 5ms loss burst 10s 1500ms 100%\n"));
    assert_non_null(strstr(out, "at 3s link a b oneway loss burst 2m 1s 50%\n"));
    /* and what it wrote reads back to the same */
    tl_scenario *again = parse(out);
    char *out2 = NULL;
    size_t len2 = 0;
    m = open_memstream(&out2, &len2);
    assert_int_equal(tl_scn_write(again, m, 0, 0), TL_OK);
    fclose(m);
    assert_string_equal(out, out2);
    free(out);
    free(out2);
    tl_scn_free(again);
    tl_scn_free(scn);
}

static void test_sim_burst_bad_words_name_line_and_column(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        unsigned column;
        const char *message;
    } bad[] = {
        {"link a b loss burst 10s", 0,
         "expected the mean bad period of loss burst GOOD BAD [LOSS%], a time from "
         "1ms to 24h at the end of the line"},
        {"link a b loss burst 500us 1s", 21,
         "expected the mean good period of loss burst GOOD BAD [LOSS%], a time "
         "from 1ms to 24h, got '500us'"},
        {"link a b loss burst 1s 25h", 24,
         "expected the mean bad period of loss burst GOOD BAD [LOSS%], a time "
         "from 1ms to 24h, got '25h'"},
        {"link a b loss burst 1s 2", 24, "got '2'"},
        {"link a b loss burst 1s 2s 150%", 27, "expected a percentage between 0% and 100%"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[200];
        tl_scenario *scn = NULL;
        tl_scn_error err;
        snprintf(text, sizeof text, "node a\nnode b\n%s\n", bad[i].line);
        memset(&err, 0, sizeof err);
        assert_int_equal(tl_scn_parse(text, strlen(text), "b.scn", &scn, &err), TL_E_INVAL);
        assert_null(scn);
        assert_int_equal(err.line, 3);
        if (bad[i].column) {
            assert_int_equal(err.column, bad[i].column);
        }
        if (strstr(err.message, bad[i].message) == NULL) {
            fail_msg("'%s': %s", bad[i].line, err.message);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_burst_time_share_and_period_means_match),
        cmocka_unit_test(test_sim_burst_same_seed_same_periods),
        cmocka_unit_test(test_sim_burst_losses_fall_in_the_links_bad_periods),
        cmocka_unit_test(test_sim_burst_same_seed_same_trace),
        cmocka_unit_test(test_sim_burst_quiet_sender_resumes_after_the_burst),
        cmocka_unit_test(test_sim_burst_words_parse_and_write_back),
        cmocka_unit_test(test_sim_burst_bad_words_name_line_and_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
