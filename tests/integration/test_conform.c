/*
 * Tests of the conformance suite (conform/, `tofulab conform`).
 *
 * Proof that the suite can fail: it is run in-process against deliberately
 * defective echo peers (tests/helpers/defective_peer.c) and each must FAIL the
 * cases covering its defect and nothing else; a tofu-like peer that stops on
 * the destructive probes must yield NOT-RUN, never a cascade of FAILED; a
 * hanging and a flooding peer must be reported in bounded time. The command
 * itself ($TOFULAB, default build/tofulab) is run for usage errors, exit
 * codes and reports, and against `tofulab serve` over TCP and UDS, where
 * nothing may FAIL. Runs from the repository root; timeouts grow when
 * $TOFULAB_CHECK is set (ASan, Valgrind).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../conform/conform.h"
#include "../helpers/defective_peer.h"

extern char **environ;

/* ---- timing ---- */

static unsigned scale(void)
{
    const char *c = getenv("TOFULAB_CHECK");

    if (c == NULL || c[0] == '\0') {
        return 1u;
    }
    return strcmp(c, "valgrind") == 0 ? 6u : 2u;
}

/* Per-wait timeout for the in-process runs. Only waits for something that
 * does not come cost it, so correct peers run as fast with a generous one. */
static unsigned fast_ms(void) { return 500u * scale(); }

/* Timeout for runs where both ends are child processes (serve, client):
 * they are not under Valgrind, so it does not grow with it. */
static unsigned child_ms(void) { return 500u; }

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A fresh path under /tmp; called from the run threads too. */
static void tmp_path(char *out, size_t cap, const char *tag)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static unsigned seq;
    unsigned n;

    pthread_mutex_lock(&mu);
    n = ++seq;
    pthread_mutex_unlock(&mu);
    snprintf(out, cap, "/tmp/tofulab-conform-%ld-%u-%s", (long)getpid(), n, tag);
}

/* ---- running the suite in-process against a helper peer ---- */

typedef struct {
    const char *name;
    dp_defect defect;
    int uds;
    int strict;
    const char *cases;
    int keep_going;
    int default_timeout; /* the suite's default timeout (5 s), as a user runs it */
    /* results */
    tl_conform_report rep;
    int rc;
    int peer_stopped;
    uint64_t elapsed_ms;
    pthread_t th;
} server_run;

static void *server_run_main(void *arg)
{
    server_run *r = arg;
    char addr[TL_ADDR_TEXT_MAX];
    char path[108];
    tl_conform_options opt;
    dp_server *s;
    uint64_t t0 = now_ms();

    tmp_path(path, sizeof path, "dp.sock");
    s = dp_server_start(r->defect, r->uds ? path : NULL, addr, sizeof addr);
    if (s == NULL) {
        r->rc = -1000;
        return NULL;
    }
    memset(&opt, 0, sizeof opt);
    opt.role = TL_CONFORM_ROLE_SERVER;
    if (tl_address_parse(addr, strlen(addr), &opt.peer) != TL_OK) {
        r->rc = -1001;
        dp_server_stop(s);
        return NULL;
    }
    /* Every reply of the little-endian peer is undecodable and costs a full
     * timeout (when it is run to the end); the cases that must not fail only
     * need a byte back. */
    opt.timeout_ms = r->defect == DP_LE_HEADER ? 150u * scale() : fast_ms();
    if (r->default_timeout) {
        opt.timeout_ms = 0;
    }
    opt.strict = r->strict;
    opt.keep_going = r->keep_going;
    opt.cases = r->cases;
    r->rc = tl_conform_run(&opt, &r->rep, NULL, 0);
    r->peer_stopped = dp_server_stopped(s);
    dp_server_stop(s);
    r->elapsed_ms = now_ms() - t0;
    return NULL;
}

enum {
    RUN_CORRECT_TCP,
    RUN_CORRECT_UDS,
    RUN_LE_HEADER,
    RUN_DROP_TEXT,
    RUN_ECHO_BODY,
    RUN_WRONG_ID,
    RUN_NO_BYE,
    RUN_CLOSE_ON_MORE,
    RUN_WRONG_OPCODE,
    RUN_TOFU,
    RUN_TOFU_STRICT,
    RUN_HANG,
    RUN_FLOOD,
    RUN_SWAPPED,
    RUN_HTTP,
    RUN_TLS,
    RUN_COUNT
};

static server_run server_runs[RUN_COUNT] = {
    {"correct (tcp)", DP_CORRECT, 0, 0, NULL, 0, 0, {0}, 0, 0, 0, 0},
    {"correct (uds)", DP_CORRECT, 1, 0, NULL, 0, 0, {0}, 0, 0, 0, 0},
    {"little-endian header", DP_LE_HEADER, 0, 0, NULL, 1, 0, {0}, 0, 0, 0, 0},
    {"text headers dropped", DP_DROP_TEXT, 1, 0, NULL, 0, 0, {0}, 0, 0, 0, 0},
    {"body echoed", DP_ECHO_BODY, 0, 0, NULL, 0, 0, {0}, 0, 0, 0, 0},
    {"wrong message_id", DP_WRONG_ID, 1, 0, NULL, 0, 0, {0}, 0, 0, 0, 0},
    {"no ByeResponse", DP_NO_BYE_RESPONSE, 0, 0, NULL, 0, 0, {0}, 0, 0, 0, 0},
    {"closes on more", DP_CLOSE_ON_MORE, 1, 0, NULL, 0, 0, {0}, 0, 0, 0, 0},
    {"wrong op code", DP_WRONG_OPCODE, 0, 0, NULL, 0, 0, {0}, 0, 0, 0, 0},
    {"tofu", DP_TOFU, 0, 0, NULL, 0, 0, {0}, 0, 0, 0, 0},
    {"tofu, strict", DP_TOFU, 1, 1, NULL, 0, 0, {0}, 0, 0, 0, 0},
    {"hang", DP_HANG, 0, 0, NULL, 0, 0, {0}, 0, 0, 0, 0},
    {"flood", DP_FLOOD, 1, 0, "tofu/1.1/1,tofu/2/*,tofu/6.7/3", 0, 0, {0}, 0, 0, 0, 0},
    {"byte-swapped header, default timeout", DP_LE_HEADER, 0, 0, NULL, 0, 1, {0}, 0, 0, 0, 0},
    {"HTTP server, default timeout", DP_HTTP, 0, 0, NULL, 0, 1, {0}, 0, 0, 0, 0},
    {"TLS server, default timeout", DP_TLS, 0, 0, NULL, 0, 1, {0}, 0, 0, 0, 0},
};

/* ---- the client role in-process ---- */

typedef struct {
    const char *name;
    dc_defect defect;
    unsigned n;
    tl_conform_report rep;
    int rc;
    int client_rc;
    pthread_t th;
} client_run;

enum {
    CRUN_CORRECT,
    CRUN_ONE_REQUEST,
    CRUN_LE_HEADER,
    CRUN_NO_WAIT,
    CRUN_BYE_REQUEST,
    CRUN_WRONG_IDS,
    CRUN_NO_HELLO_BODY,
    CRUN_BYESIGNAL_07,
    CRUN_NO_CLOSE,
    CRUN_COUNT
};

static client_run client_runs[CRUN_COUNT] = {
    {"correct", DC_CORRECT, 5, {0}, 0, 0, 0},
    {"one request", DC_CORRECT, 1, {0}, 0, 0, 0},
    {"little-endian header", DC_LE_HEADER, 3, {0}, 0, 0, 0},
    {"no wait", DC_NO_WAIT, 3, {0}, 0, 0, 0},
    {"ByeRequest", DC_BYE_REQUEST, 3, {0}, 0, 0, 0},
    {"wrong ids", DC_WRONG_IDS, 3, {0}, 0, 0, 0},
    {"no hello body", DC_NO_HELLO_BODY, 3, {0}, 0, 0, 0},
    {"ByeSignal 0x07", DC_BYESIGNAL_07, 3, {0}, 0, 0, 0},
    {"no close", DC_NO_CLOSE, 3, {0}, 0, 0, 0},
};

static void *client_run_main(void *arg)
{
    client_run *r = arg;
    char path[108], addr[TL_ADDR_TEXT_MAX];
    tl_conform_options opt;
    dc_client *cl;

    tmp_path(path, sizeof path, "cl.sock");
    snprintf(addr, sizeof addr, "uds|%s", path);
    memset(&opt, 0, sizeof opt);
    opt.role = TL_CONFORM_ROLE_CLIENT;
    tl_address_parse(addr, strlen(addr), &opt.peer);
    opt.timeout_ms = fast_ms();
    opt.accept_timeout_ms = 10000u * scale();
    cl = dc_client_start(addr, r->defect, r->n); /* retries until we listen */
    r->rc = tl_conform_run(&opt, &r->rep, NULL, 0);
    r->client_rc = dc_client_join(cl);
    return NULL;
}

static int group_setup(void **state)
{
    size_t i;

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < RUN_COUNT; i++) {
        if (pthread_create(&server_runs[i].th, NULL, server_run_main, &server_runs[i]) != 0) {
            return -1;
        }
    }
    for (i = 0; i < CRUN_COUNT; i++) {
        if (pthread_create(&client_runs[i].th, NULL, client_run_main, &client_runs[i]) != 0) {
            return -1;
        }
    }
    for (i = 0; i < RUN_COUNT; i++) {
        pthread_join(server_runs[i].th, NULL);
    }
    for (i = 0; i < CRUN_COUNT; i++) {
        pthread_join(client_runs[i].th, NULL);
    }
    if (getenv("CONFORM_TIMES") != NULL) {
        for (i = 0; i < RUN_COUNT; i++) {
            fprintf(stderr, "%s: %llu ms, %llu budget-counted frames\n", server_runs[i].name,
                    (unsigned long long)server_runs[i].elapsed_ms,
                    (unsigned long long)server_runs[i].rep.regular_sent);
        }
    }
    return 0;
}

static int group_teardown(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < RUN_COUNT; i++) {
        tl_conform_report_free(&server_runs[i].rep);
    }
    for (i = 0; i < CRUN_COUNT; i++) {
        tl_conform_report_free(&client_runs[i].rep);
    }
    return 0;
}

/* ---- checks ---- */

static void print_failures(const char *name, const tl_conform_report *rep)
{
    size_t i;

    for (i = 0; i < rep->count; i++) {
        const tl_conform_result *r = &rep->results[i];

        if (r->verdict == TL_VERDICT_FAILED) {
            print_message("[%s] %s FAILED:\n%s", name, r->info->id, r->detail);
        }
    }
}

static const tl_conform_result *result(const tl_conform_report *rep, const char *id)
{
    const tl_conform_result *r = tl_conform_find(rep, id);

    if (r == NULL) {
        fail_msg("case %s is not in the report", id);
    }
    return r;
}

static void expect_verdict(const char *name, const tl_conform_report *rep, const char *id,
                           tl_conform_verdict v)
{
    const tl_conform_result *r = result(rep, id);

    if (r->verdict != v) {
        fail_msg("[%s] %s is %s, expected %s:\n%s", name, id, tl_conform_verdict_name(r->verdict),
                 tl_conform_verdict_name(v), r->detail != NULL ? r->detail : "");
    }
}

/* The defect must FAIL every case in must_fail; every FAILED case must carry
 * one of the allowed check tags; nothing may be NOT-RUN. */
static void expect_defect(int run, const char *const *must_fail, unsigned allowed)
{
    const server_run *r = &server_runs[run];
    size_t i;

    assert_int_equal(r->rc, TL_OK);
    assert_int_equal(r->rep.count, tl_conform_case_count(TL_CONFORM_ROLE_SERVER));
    for (i = 0; must_fail[i] != NULL; i++) {
        expect_verdict(r->name, &r->rep, must_fail[i], TL_VERDICT_FAILED);
    }
    for (i = 0; i < r->rep.count; i++) {
        const tl_conform_result *x = &r->rep.results[i];

        if (x->verdict == TL_VERDICT_FAILED && (x->info->flags & allowed) == 0) {
            fail_msg("[%s] %s FAILED although it does not cover the defect:\n%s", r->name, x->info->id,
                     x->detail);
        }
        if (x->verdict == TL_VERDICT_NOT_RUN) {
            fail_msg("[%s] %s NOT-RUN: the peer was taken for dead", r->name, x->info->id);
        }
    }
}

/* ---- correct peers ---- */

static void expect_all_pass(int run)
{
    const server_run *r = &server_runs[run];

    assert_int_equal(r->rc, TL_OK);
    print_failures(r->name, &r->rep);
    assert_int_equal(r->rep.count, tl_conform_case_count(TL_CONFORM_ROLE_SERVER));
    assert_int_equal(tl_conform_failed_count(&r->rep), 0);
    assert_int_equal(r->rep.totals[TL_VERDICT_NOT_RUN], 0);
    assert_int_equal(r->rep.totals[TL_VERDICT_NON_STRICT], 0);
    /* the latency case is measured over TCP only */
    assert_int_equal(r->rep.totals[TL_VERDICT_UNIMPLEMENTED], r->uds ? 1 : 0);
    expect_verdict(r->name, &r->rep, "tofu/6.6/3", r->uds ? TL_VERDICT_UNIMPLEMENTED : TL_VERDICT_OK);
    assert_false(r->rep.peer_died);
    assert_true(r->rep.totals[TL_VERDICT_OK] >= 60);
}

static void test_conform_correct_peer_tcp_nothing_fails(void **state)
{
    (void)state;
    expect_all_pass(RUN_CORRECT_TCP);
}

static void test_conform_correct_peer_uds_nothing_fails(void **state)
{
    (void)state;
    expect_all_pass(RUN_CORRECT_UDS);
}

static void test_conform_case_table_well_formed(void **state)
{
    size_t i, j, n = tl_conform_case_count(TL_CONFORM_ROLE_SERVER);

    (void)state;
    assert_true(n >= 60);
    for (i = 0; i < n; i++) {
        const tl_conform_case_info *a = tl_conform_case_at(TL_CONFORM_ROLE_SERVER, i);

        assert_non_null(a->title);
        assert_non_null(a->rule);
        assert_int_equal(strncmp(a->id, "tofu/", 5), 0);
        for (j = i + 1; j < n; j++) {
            assert_string_not_equal(a->id, tl_conform_case_at(TL_CONFORM_ROLE_SERVER, j)->id);
        }
    }
    assert_null(tl_conform_case_at(TL_CONFORM_ROLE_SERVER, n));
    n = tl_conform_case_count(TL_CONFORM_ROLE_CLIENT);
    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            assert_string_not_equal(tl_conform_case_at(TL_CONFORM_ROLE_CLIENT, i)->id,
                                    tl_conform_case_at(TL_CONFORM_ROLE_CLIENT, j)->id);
        }
    }
}

/* ---- defective peers ---- */

static void test_conform_little_endian_header_fails_reply_cases(void **state)
{
    static const char *const must[] = {"tofu/1.2/1", "tofu/2/1", "tofu/7/2", "tofu/1.1/7", "tofu/7/1", NULL};

    (void)state;
    expect_defect(RUN_LE_HEADER, must, TL_CONFORM_CHECKS_REPLY);
    assert_non_null(strstr(result(&server_runs[RUN_LE_HEADER].rep, "tofu/1.2/1")->detail, "little-endian"));
}

static void test_conform_text_dropped_fails_text_cases(void **state)
{
    static const char *const must[] = {"tofu/4.1/1", "tofu/1.5/2", "tofu/1.5/5", "tofu/2/3",
                                       "tofu/7/1",   "tofu/6.8/1", "tofu/4.2/1", NULL};

    (void)state;
    expect_defect(RUN_DROP_TEXT, must, TL_CONFORM_CHECKS_TEXT);
    expect_verdict("text dropped", &server_runs[RUN_DROP_TEXT].rep, "tofu/2/1", TL_VERDICT_OK);
    expect_verdict("text dropped", &server_runs[RUN_DROP_TEXT].rep, "tofu/1.5/9", TL_VERDICT_OK);
}

static void test_conform_body_echoed_fails_body_cases(void **state)
{
    static const char *const must[] = {"tofu/7/4", "tofu/1.5/9", "tofu/2/1", "tofu/7/2", "tofu/1.3/1", NULL};

    (void)state;
    expect_defect(RUN_ECHO_BODY, must, TL_CONFORM_CHECKS_REPLY);
}

static void test_conform_wrong_message_id_fails_id_cases(void **state)
{
    static const char *const must[] = {"tofu/1.2/2", "tofu/2/1", "tofu/7/5", "tofu/2/3", NULL};

    (void)state;
    expect_defect(RUN_WRONG_ID, must, TL_CONFORM_CHECKS_REPLY);
}

static void test_conform_no_bye_response_fails_bye_cases(void **state)
{
    static const char *const must[] = {"tofu/2/4",   "tofu/6.6/2", "tofu/6.8/1",
                                       "tofu/6.8/2", "tofu/9/2",   NULL};

    (void)state;
    expect_defect(RUN_NO_BYE, must, TL_CONFORM_CHECKS_BYE);
    expect_verdict("no bye", &server_runs[RUN_NO_BYE].rep, "tofu/2/1", TL_VERDICT_OK);
}

static void test_conform_close_on_more_fails_more_cases(void **state)
{
    static const char *const must[] = {"tofu/6.7/1", "tofu/6.7/2", "tofu/9/7", "tofu/9/8", "tofu/7/3", NULL};

    (void)state;
    expect_defect(RUN_CLOSE_ON_MORE, must, TL_CONFORM_CHECKS_MORE);
    expect_verdict("close on more", &server_runs[RUN_CLOSE_ON_MORE].rep, "tofu/5/3", TL_VERDICT_OK);
}

static void test_conform_wrong_opcode_fails_reply_cases(void **state)
{
    static const char *const must[] = {"tofu/2/1", "tofu/2/3", "tofu/2/4", "tofu/1.4/1", NULL};

    (void)state;
    expect_defect(RUN_WRONG_OPCODE, must, TL_CONFORM_CHECKS_REPLY);
    expect_verdict("wrong op", &server_runs[RUN_WRONG_OPCODE].rep, "tofu/2/2", TL_VERDICT_OK);
}

/* ---- a tofu-like peer: destructive probes last, NOT-RUN after its death ---- */

static void test_conform_tofu_peer_stops_without_cascade(void **state)
{
    const server_run *r = &server_runs[RUN_TOFU];
    size_t i;
    int seen_destructive = 0;

    (void)state;
    assert_int_equal(r->rc, TL_OK);
    print_failures(r->name, &r->rep);
    assert_int_equal(tl_conform_failed_count(&r->rep), 0);
    assert_true(r->peer_stopped);
    assert_true(r->rep.peer_died);
    /* what tofu's code does and our decisions do not */
    expect_verdict(r->name, &r->rep, "tofu/9/1", TL_VERDICT_NON_STRICT);
    expect_verdict(r->name, &r->rep, "tofu/9/4", TL_VERDICT_NON_STRICT);
    expect_verdict(r->name, &r->rep, "tofu/9/5", TL_VERDICT_NON_STRICT);
    expect_verdict(r->name, &r->rep, "tofu/9/3", TL_VERDICT_INFORMATIONAL);
    /* the 1000-frame case fits tofu's 1100-echo budget */
    expect_verdict(r->name, &r->rep, "tofu/1.1/7", TL_VERDICT_OK);
    assert_true(r->rep.regular_sent <= 1100 + 1);
    for (i = 0; i < r->rep.count; i++) {
        const tl_conform_result *x = &r->rep.results[i];

        if (!(x->info->flags & TL_CONFORM_DESTRUCTIVE)) {
            assert_false(seen_destructive); /* destructive cases run last */
            assert_true(x->verdict != TL_VERDICT_NOT_RUN);
            continue;
        }
        if (!seen_destructive) {
            seen_destructive = 1;
            if (x->verdict != TL_VERDICT_NON_STRICT) {
                fail_msg("first destructive case %s is %s:\n%s", x->info->id,
                         tl_conform_verdict_name(x->verdict), x->detail);
            }
            assert_string_equal(r->rep.died_after, x->info->id);
        } else {
            assert_int_equal(x->verdict, TL_VERDICT_NOT_RUN);
            assert_int_equal(x->run_order, 0);
        }
    }
    assert_true(seen_destructive);
}

static void test_conform_tofu_peer_strict_fails_non_strict_cases(void **state)
{
    const server_run *r = &server_runs[RUN_TOFU_STRICT];
    const tl_conform_result *x;

    (void)state;
    assert_int_equal(r->rc, TL_OK);
    assert_int_equal(r->rep.totals[TL_VERDICT_NON_STRICT], 0);
    x = result(&r->rep, "tofu/9/4");
    assert_int_equal(x->verdict, TL_VERDICT_FAILED);
    assert_true(x->strict_escalated);
    expect_verdict(r->name, &r->rep, "tofu/9/1", TL_VERDICT_FAILED);
    expect_verdict(r->name, &r->rep, "tofu/2/1", TL_VERDICT_OK);
    assert_true(tl_conform_failed_count(&r->rep) >= 4);
}

/* ---- bad peers: bounded time, no crash ---- */

static void test_conform_hanging_peer_times_out_then_not_run(void **state)
{
    const server_run *r = &server_runs[RUN_HANG];

    (void)state;
    assert_int_equal(r->rc, TL_OK);
    assert_int_equal(r->rep.results[0].verdict, TL_VERDICT_FAILED);
    assert_non_null(strstr(r->rep.results[0].detail, "within"));
    assert_true(r->rep.peer_died);
    assert_int_equal(r->rep.totals[TL_VERDICT_NOT_RUN], r->rep.count - 1);
    assert_true(r->elapsed_ms < 20u * fast_ms());
}

static void test_conform_flooding_peer_fails_in_bounded_time(void **state)
{
    const server_run *r = &server_runs[RUN_FLOOD];

    (void)state;
    assert_int_equal(r->rc, TL_OK);
    assert_true(r->rep.count >= 3);
    assert_true(tl_conform_failed_count(&r->rep) >= 1);
    assert_true(r->elapsed_ms < 60000u * scale());
}

/* ---- peers that are not tofu peers: one FAILED case, a verdict, no waiting ---- */

static void expect_not_tofu(int run, const char *cause)
{
    const server_run *r = &server_runs[run];
    const tl_conform_result *first = &r->rep.results[0];

    assert_int_equal(r->rc, TL_OK);
    if (first->verdict != TL_VERDICT_FAILED || strstr(first->detail, cause) == NULL ||
        strstr(first->detail, "does not speak tofu") == NULL) {
        fail_msg("[%s] first case %s is %s:\n%s", r->name, first->info->id,
                 tl_conform_verdict_name(first->verdict), first->detail);
    }
    assert_non_null(strstr(r->rep.not_tofu, cause));
    assert_string_equal(r->rep.not_tofu_after, first->info->id);
    assert_int_equal(tl_conform_failed_count(&r->rep), 1);
    assert_int_equal(r->rep.totals[TL_VERDICT_NOT_RUN], r->rep.count - 1);
    assert_non_null(strstr(r->rep.results[1].detail, "does not speak tofu"));
    assert_false(r->rep.peer_died);
    /* with the default 5 s timeout: instead of a timeout per case */
    if (r->elapsed_ms >= 30000u) {
        fail_msg("[%s] took %llu ms", r->name, (unsigned long long)r->elapsed_ms);
    }
}

static void test_conform_byte_swapped_peer_ends_fast_naming_the_cause(void **state)
{
    (void)state;
    expect_not_tofu(RUN_SWAPPED, "byte-swapped header");
    assert_non_null(strstr(server_runs[RUN_SWAPPED].rep.not_tofu, "little-endian"));
}

static void test_conform_http_server_ends_fast_naming_the_cause(void **state)
{
    (void)state;
    expect_not_tofu(RUN_HTTP, "'HTTP/1.1 400 Bad Request': an HTTP server");
}

static void test_conform_tls_server_ends_fast_naming_the_cause(void **state)
{
    (void)state;
    expect_not_tofu(RUN_TLS, "a TLS server");
    assert_non_null(strstr(server_runs[RUN_TLS].rep.not_tofu, "16 03 03 00 4a 02"));
}

/* ---- latency: a reply written in pieces with Nagle on (6.6, A24) ---- */

/* Run one case alone, not beside the group's other runs: it is timed. */
static void run_alone(server_run *r)
{
    memset(&r->rep, 0, sizeof r->rep);
    (void)server_run_main(r);
    assert_int_equal(r->rc, TL_OK);
    assert_int_equal(r->rep.count, 1);
}

static void test_conform_nagle_peer_replies_wait_for_delayed_ack(void **state)
{
    server_run nagle = {"Nagle", DP_NAGLE, 0, 0, "tofu/6.6/3", 0, 0, {0}, 0, 0, 0, 0};
    server_run whole = {"one write per frame", DP_CORRECT, 0, 0, "tofu/6.6/3", 0, 0, {0}, 0, 0, 0, 0};
    const char *d;

    (void)state;
    run_alone(&nagle);
    d = nagle.rep.results[0].detail;
    if (nagle.rep.results[0].verdict != TL_VERDICT_NON_STRICT || strstr(d, "several send() calls") == NULL ||
        strstr(d, "Nagle") == NULL || strstr(d, "waits for our delayed ACK") == NULL) {
        fail_msg("[Nagle] tofu/6.6/3 is %s:\n%s", tl_conform_verdict_name(nagle.rep.results[0].verdict), d);
    }
    if (getenv("CONFORM_TIMES") != NULL) {
        fprintf(stderr, "[Nagle] tofu/6.6/3 %s:\n%s", tl_conform_verdict_name(nagle.rep.results[0].verdict),
                d);
    }
    run_alone(&whole);
    if (getenv("CONFORM_TIMES") != NULL) {
        fprintf(stderr, "[one write] tofu/6.6/3 %s:\n%s",
                tl_conform_verdict_name(whole.rep.results[0].verdict), whole.rep.results[0].detail);
    }
    if (whole.rep.results[0].verdict != TL_VERDICT_OK) {
        fail_msg("[one write] tofu/6.6/3 is %s:\n%s", tl_conform_verdict_name(whole.rep.results[0].verdict),
                 whole.rep.results[0].detail);
    }
    tl_conform_report_free(&nagle.rep);
    tl_conform_report_free(&whole.rep);
}

static void test_conform_latency_over_uds_is_unimplemented(void **state)
{
    server_run r = {"Nagle (uds)", DP_NAGLE, 1, 0, "tofu/6.6/3", 0, 0, {0}, 0, 0, 0, 0};

    (void)state;
    run_alone(&r);
    assert_int_equal(r.rep.results[0].verdict, TL_VERDICT_UNIMPLEMENTED);
    assert_non_null(strstr(r.rep.results[0].detail, "TCP only"));
    tl_conform_report_free(&r.rep);
}

static void test_conform_unreachable_peer_returns_io_error(void **state)
{
    tl_conform_options opt;
    tl_conform_report rep;
    char err[128];
    char path[108];
    int rc;

    (void)state;
    tmp_path(path, sizeof path, "nobody.sock");
    memset(&opt, 0, sizeof opt);
    opt.peer.kind = TL_ADDR_UDS;
    snprintf(opt.peer.path, sizeof opt.peer.path, "%s", path);
    opt.timeout_ms = fast_ms();
    rc = tl_conform_run(&opt, &rep, err, sizeof err);
    assert_int_equal(rc, TL_E_IO);
    assert_non_null(strstr(err, "cannot connect"));
    assert_int_equal(rep.count, 0);
    tl_conform_report_free(&rep);
}

static void test_conform_glob_matching_nothing_is_invalid(void **state)
{
    tl_conform_options opt;
    tl_conform_report rep;
    char err[128];

    (void)state;
    memset(&opt, 0, sizeof opt);
    tl_address_parse("tcp|127.0.0.1|1", 15, &opt.peer);
    opt.cases = "nope/*";
    assert_int_equal(tl_conform_run(&opt, &rep, err, sizeof err), TL_E_INVAL);
    assert_non_null(strstr(err, "no case matches"));
    tl_conform_report_free(&rep);
}

/* ---- client role ---- */

static const client_run *crun(int i)
{
    const client_run *r = &client_runs[i];

    if (r->rc != TL_OK) {
        fail_msg("[%s] client-role run returned %d", r->name, r->rc);
    }
    assert_int_equal(r->rep.count, tl_conform_case_count(TL_CONFORM_ROLE_CLIENT));
    return r;
}

static void expect_client_fails(int i, const char *const *must)
{
    const client_run *r = crun(i);
    size_t k;

    for (k = 0; must[k] != NULL; k++) {
        expect_verdict(r->name, &r->rep, must[k], TL_VERDICT_FAILED);
    }
}

static void test_conform_client_role_correct_client_passes(void **state)
{
    const client_run *r = crun(CRUN_CORRECT);

    (void)state;
    print_failures(r->name, &r->rep);
    assert_int_equal(tl_conform_failed_count(&r->rep), 0);
    assert_int_equal(r->rep.totals[TL_VERDICT_OK], r->rep.count);
    assert_int_equal(r->client_rc, 0);
}

static void test_conform_client_role_one_request_is_unimplemented_split(void **state)
{
    const client_run *r = crun(CRUN_ONE_REQUEST);

    (void)state;
    assert_int_equal(tl_conform_failed_count(&r->rep), 0);
    expect_verdict(r->name, &r->rep, "tofu/7/7", TL_VERDICT_UNIMPLEMENTED);
}

static void test_conform_client_role_defective_clients_fail(void **state)
{
    static const char *const le[] = {"tofu/1.2/1", "tofu/6.4/1", "tofu/1.1/1", NULL};
    static const char *const nowait[] = {"tofu/6.4/3", "tofu/7/6", NULL};
    static const char *const bye[] = {"tofu/6.8/1", NULL};
    static const char *const ids[] = {"tofu/7/2", NULL};
    static const char *const body[] = {"tofu/7/1", NULL};
    static const char *const noclose[] = {"tofu/6.8/2", NULL};

    (void)state;
    expect_client_fails(CRUN_LE_HEADER, le);
    assert_non_null(strstr(result(&client_runs[CRUN_LE_HEADER].rep, "tofu/1.2/1")->detail, "little-endian"));
    expect_client_fails(CRUN_NO_WAIT, nowait);
    expect_client_fails(CRUN_BYE_REQUEST, bye);
    expect_verdict("bye", &crun(CRUN_BYE_REQUEST)->rep, "tofu/7/2", TL_VERDICT_OK);
    expect_client_fails(CRUN_WRONG_IDS, ids);
    expect_verdict("ids", &crun(CRUN_WRONG_IDS)->rep, "tofu/7/4", TL_VERDICT_OK);
    expect_client_fails(CRUN_NO_HELLO_BODY, body);
    expect_verdict("hello body", &crun(CRUN_NO_HELLO_BODY)->rep, "tofu/7/2", TL_VERDICT_OK);
    expect_verdict("0x07", &crun(CRUN_BYESIGNAL_07)->rep, "tofu/6.8/1", TL_VERDICT_NON_STRICT);
    assert_int_equal(tl_conform_failed_count(&crun(CRUN_BYESIGNAL_07)->rep), 0);
    expect_client_fails(CRUN_NO_CLOSE, noclose);
    expect_verdict("no close", &crun(CRUN_NO_CLOSE)->rep, "tofu/7/6", TL_VERDICT_OK);
}

/* ---- the command ---- */

static const char *tofulab_path(void)
{
    const char *p = getenv("TOFULAB");
    return (p != NULL && p[0] != '\0') ? p : "build/tofulab";
}

typedef struct {
    pid_t pid;
    char out_path[128];
    char err_path[128];
} proc;

static void proc_start(proc *p, const char *const *args)
{
    char *argv[32];
    posix_spawn_file_actions_t fa;
    int n = 0, rc;

    tmp_path(p->out_path, sizeof p->out_path, "out");
    tmp_path(p->err_path, sizeof p->err_path, "err");
    argv[n++] = (char *)tofulab_path();
    while (args[n - 1] != NULL && n < 31) {
        argv[n] = (char *)args[n - 1];
        n++;
    }
    argv[n] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, p->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, p->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    rc = posix_spawn(&p->pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fail_msg("cannot run %s: %s (set TOFULAB)", argv[0], strerror(rc));
    }
}

/* Exit status, or -1 if it had to be killed after limit_ms. */
static int proc_wait(proc *p, unsigned limit_ms)
{
    uint64_t deadline = now_ms() + limit_ms;
    int status = 0;

    for (;;) {
        pid_t w = waitpid(p->pid, &status, WNOHANG);

        if (w == p->pid) {
            break;
        }
        if (now_ms() >= deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            return -1;
        }
        sleep_ms(10);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL) {
        buf = calloc(1, 1);
        assert_non_null(buf);
        return buf;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        n = 0;
    }
    fclose(f);
    return buf;
}

static void proc_cleanup(proc *p)
{
    unlink(p->out_path);
    unlink(p->err_path);
}

/* Run tofulab to completion; out/err (may be NULL) receive its output. */
static int run_cli(const char *const *args, char **out, char **err, unsigned limit_ms)
{
    proc p;
    int rc;

    proc_start(&p, args);
    rc = proc_wait(&p, limit_ms);
    if (out != NULL) {
        *out = slurp(p.out_path);
    }
    if (err != NULL) {
        *err = slurp(p.err_path);
    }
    proc_cleanup(&p);
    return rc;
}

static const char *last_line(const char *s)
{
    size_t n = strlen(s);
    const char *p;

    while (n > 0 && s[n - 1] == '\n') {
        n--;
    }
    p = s + n;
    while (p > s && p[-1] != '\n') {
        p--;
    }
    return p;
}

static void test_conform_cli_usage_errors_exit_2(void **state)
{
    static const char *const a1[] = {"conform", NULL};
    static const char *const a2[] = {"conform", "--peer", "tcp|nohost", NULL};
    static const char *const a3[] = {"conform", "--peer", "uds|/tmp/x", "--role", "both", NULL};
    static const char *const a4[] = {"conform", "--peer", "uds|/tmp/x", "--timeout", "0", NULL};
    static const char *const a5[] = {"conform", "--peer", "uds|/tmp/x", "--bogus", NULL};
    static const char *const a6[] = {"conform", "--peer", "uds|/tmp/x", "--cases", "nothing/*", NULL};
    static const char *const a7[] = {"conform", "--peer", NULL};
    const char *const *all[] = {a1, a2, a3, a4, a5, a6, a7};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        char *out = NULL, *err = NULL;
        int rc = run_cli(all[i], &out, &err, 10000);

        if (rc != 2 || strncmp(err, "tofulab: ", 9) != 0) {
            fail_msg("case %zu: exit %d, stderr '%s'", i, rc, err);
        }
        free(out);
        free(err);
    }
}

static void test_conform_cli_unreachable_peer_exits_2(void **state)
{
    char path[108], addr[160];
    const char *args[] = {"conform", "--peer", addr, "--timeout", "0.2", NULL};
    char *err = NULL;

    (void)state;
    tmp_path(path, sizeof path, "none.sock");
    snprintf(addr, sizeof addr, "uds|%s", path);
    assert_int_equal(run_cli(args, NULL, &err, 10000), 2);
    assert_non_null(strstr(err, "cannot connect"));
    free(err);
}

static void test_conform_cli_client_role_without_client_exits_2(void **state)
{
    char path[108], addr[160];
    const char *args[] = {"conform", "--role", "client", "--peer", addr, "--timeout", "0.05", NULL};
    char *err = NULL;
    struct stat st;

    (void)state;
    tmp_path(path, sizeof path, "lonely.sock");
    snprintf(addr, sizeof addr, "uds|%s", path);
    assert_int_equal(run_cli(args, NULL, &err, 20000), 2);
    assert_non_null(strstr(err, "listening on"));
    assert_non_null(strstr(err, "no client connected"));
    assert_int_not_equal(stat(path, &st), 0); /* the socket file is removed */
    free(err);
}

static void test_conform_cli_list_prints_cases(void **state)
{
    static const char *const a[] = {"conform", "--list", NULL};
    static const char *const b[] = {"conform", "--list", "--role", "client", NULL};
    char *out = NULL;
    char want[64];

    (void)state;
    assert_int_equal(run_cli(a, &out, NULL, 10000), 0);
    snprintf(want, sizeof want, "%zu cases (server role)", tl_conform_case_count(TL_CONFORM_ROLE_SERVER));
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "tofu/7/1"));
    free(out);
    assert_int_equal(run_cli(b, &out, NULL, 10000), 0);
    assert_non_null(strstr(out, "(client role)"));
    free(out);
}

static void test_conform_cli_correct_peer_exits_0_and_writes_reports(void **state)
{
    char addr[TL_ADDR_TEXT_MAX], json[128], junit[128], html[128], tmo[16];
    dp_server *s = dp_server_start(DP_CORRECT, NULL, addr, sizeof addr);
    const char *args[] = {
        "conform", "--peer", addr,      "--timeout",         tmo, "--json", json, "--junit", junit,
        "--html",  html,     "--cases", "tofu/1.*,tofu/7/*", NULL};
    char *out = NULL, *j = NULL, *x = NULL, *h = NULL;
    const char *last;

    (void)state;
    assert_non_null(s);
    tmp_path(json, sizeof json, "r.json");
    tmp_path(junit, sizeof junit, "r.xml");
    tmp_path(html, sizeof html, "r.html");
    snprintf(tmo, sizeof tmo, "%.2f", fast_ms() / 1000.0);
    assert_int_equal(run_cli(args, &out, NULL, 60000u * scale()), 0);
    dp_server_stop(s);
    last = last_line(out);
    assert_int_equal(strncmp(strstr(last, "passed, ") + 8, "0 failed (OK ", 13), 0);
    assert_non_null(strstr(out, "tofu/1.1/1"));
    j = slurp(json);
    x = slurp(junit);
    h = slurp(html);
    assert_non_null(strstr(j, "\"failed\": 0"));
    assert_non_null(strstr(j, "\"id\": \"tofu/7/2\""));
    assert_non_null(strstr(j, "\"hex\": \""));
    assert_non_null(strstr(x, "<testsuites name=\"tofulab conform\""));
    assert_non_null(strstr(x, "failures=\"0\""));
    assert_non_null(strstr(h, "<details class=\"case v-OK\">"));
    assert_non_null(strstr(h, "HelloResponse (proto 0x04"));
    assert_null(strstr(h, "src="));
    assert_null(strstr(h, "href="));
    assert_non_null(strstr(h, "</html>"));
    free(out);
    free(j);
    free(x);
    free(h);
    unlink(json);
    unlink(junit);
    unlink(html);
}

static void test_conform_cli_defective_peer_exits_1(void **state)
{
    char addr[TL_ADDR_TEXT_MAX], tmo[16];
    dp_server *s = dp_server_start(DP_WRONG_ID, NULL, addr, sizeof addr);
    const char *args[] = {"conform", "--peer", addr, "--timeout", tmo, "--cases", "tofu/2/*", NULL};
    char *out = NULL;

    (void)state;
    assert_non_null(s);
    snprintf(tmo, sizeof tmo, "%.2f", fast_ms() / 1000.0);
    assert_int_equal(run_cli(args, &out, NULL, 60000u * scale()), 1);
    dp_server_stop(s);
    assert_non_null(strstr(out, "FAILED"));
    assert_non_null(strstr(out, "message_id"));
    free(out);
}

static void test_conform_cli_http_server_exits_1_naming_the_cause(void **state)
{
    char addr[TL_ADDR_TEXT_MAX], tmo[16];
    dp_server *s = dp_server_start(DP_HTTP, NULL, addr, sizeof addr);
    const char *args[] = {"conform", "--peer", addr, NULL}; /* the default timeout, 5 s */
    const char *all[] = {"conform", "--peer",     addr,           "--timeout", tmo,
                         "--cases", "tofu/1.1/*", "--keep-going", NULL};
    char *out = NULL;
    uint64_t t0 = now_ms();

    (void)state;
    assert_non_null(s);
    assert_int_equal(run_cli(args, &out, NULL, 60000u * scale()), 1);
    assert_true(now_ms() - t0 < 30000u);
    assert_non_null(strstr(out,
                           "verdict: the peer does not speak tofu (found by tofu/1.1/1): the reply starts "
                           "with 'HTTP/1.1 400 Bad Request': an HTTP server, not a tofu peer"));
    assert_non_null(strstr(out, "not run (--keep-going runs them anyway)"));
    free(out);
    /* --keep-going: every selected case runs, and FAILS */
    snprintf(tmo, sizeof tmo, "%.2f", fast_ms() / 1000.0);
    assert_int_equal(run_cli(all, &out, NULL, 60000u * scale()), 1);
    assert_non_null(strstr(out, "verdict: the peer does not speak tofu"));
    assert_null(strstr(out, "NOT-RUN  "));
    assert_null(strstr(out, "not run (--keep-going"));
    free(out);
    dp_server_stop(s);
}

static void test_conform_cli_strict_turns_non_strict_into_exit_1(void **state)
{
    char addr[TL_ADDR_TEXT_MAX], tmo[16];
    dp_server *s = dp_server_start(DP_TOFU, NULL, addr, sizeof addr);
    const char *lax[] = {"conform", "--peer", addr, "--timeout", tmo, "--cases", "tofu/9/4", NULL};
    const char *strict[] = {"conform", "--peer",   addr,       "--timeout", tmo,
                            "--cases", "tofu/9/4", "--strict", NULL};
    char *out = NULL;

    (void)state;
    assert_non_null(s);
    snprintf(tmo, sizeof tmo, "%.2f", fast_ms() / 1000.0);
    assert_int_equal(run_cli(lax, &out, NULL, 30000u * scale()), 0);
    assert_non_null(strstr(out, "NON-STRICT"));
    free(out);
    assert_int_equal(run_cli(strict, &out, NULL, 30000u * scale()), 1);
    assert_non_null(strstr(out, "failed because of --strict"));
    free(out);
    dp_server_stop(s);
}

/* ---- against `tofulab serve` ---- */

static int serve_available(void)
{
    static const char *const a[] = {"serve", "--help", NULL};
    return run_cli(a, NULL, NULL, 10000) == 0;
}

/* Start `tofulab serve --listen listen [--exact]`; addr gets the address it printed. */
static void serve_start(proc *p, const char *listen, int exact, char *addr, size_t cap)
{
    const char *args[] = {"serve", "--listen", listen, exact ? "--exact" : NULL, NULL};
    uint64_t deadline = now_ms() + 10000u * scale();

    proc_start(p, args);
    for (;;) {
        char *out = slurp(p->out_path);
        char *at = strstr(out, "listening on ");

        if (at != NULL && strchr(at, '\n') != NULL) {
            size_t n = strcspn(at + 13, "\n");

            snprintf(addr, cap, "%.*s", (int)n, at + 13);
            free(out);
            return;
        }
        free(out);
        if (now_ms() >= deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            fail_msg("tofulab serve did not start listening");
        }
        sleep_ms(20);
    }
}

/* Stop a serve; its exit status, -1 if it had to be killed. */
static int serve_stop(proc *p)
{
    kill(p->pid, SIGTERM);
    int rc = proc_wait(p, 10000);
    proc_cleanup(p);
    return rc;
}

/* The verdict of case id in a JSON report ("" if absent). */
static void json_verdict(const char *json, const char *id, char *out, size_t cap)
{
    char key[48];
    const char *p, *v;

    snprintf(key, sizeof key, "\"id\": \"%s\"", id);
    out[0] = '\0';
    p = strstr(json, key);
    v = p != NULL ? strstr(p, "\"verdict\": \"") : NULL;
    if (v != NULL) {
        snprintf(out, cap, "%.*s", (int)strcspn(v + 12, "\""), v + 12);
    }
}

/* Run the whole suite against a fresh serve; then every case the first run
 * could not run (the peer stopped), each against its own fresh serve.
 * Default serve: it survives everything, nothing is NOT-RUN, and the probes
 * tofu dies on are answered or close only their own connection (OK).
 * --exact: it stops where tofu's echo server stops (NON-STRICT for the first
 * such probe, then NOT-RUN); alone, each of those stops it (exit 1; the
 * budget probe exit 0) and none FAILS. */
static void serve_suite(const char *listen, int exact)
{
    proc sp;
    char addr[TL_ADDR_TEXT_MAX], json[128], tmo[16];
    const char *args[] = {"conform", "--peer", addr, "--timeout", tmo, "--json", json, NULL};
    char *out = NULL, *j = NULL;
    int rc, not_run = 0;
    const char *p;

    snprintf(tmo, sizeof tmo, "%.2f", child_ms() / 1000.0);
    tmp_path(json, sizeof json, "serve.json");
    serve_start(&sp, listen, exact, addr, sizeof addr);
    rc = run_cli(args, &out, NULL, 120000u * scale());
    int serve_rc = serve_stop(&sp);
    if (rc != 0) {
        print_message("%s", out);
    }
    assert_int_equal(rc, 0);
    assert_non_null(strstr(last_line(out), " 0 failed"));
    j = slurp(json);
    if (strncmp(listen, "tcp|", 4) == 0) {
        /* serve writes a frame in one call: no reply waits for a delayed ACK */
        const char *lat = strstr(j, "\"id\": \"tofu/6.6/3\"");

        assert_non_null(lat);
        assert_non_null(strstr(lat, "\"verdict\": \"OK\""));
        assert_true(strstr(lat, "\"verdict\": \"OK\"") < strstr(lat + 1, "\"id\": \""));
    }
    if (!exact) {
        char v[32];
        assert_int_equal(serve_rc, 0); /* alive until SIGTERM */
        assert_non_null(strstr(last_line(out), "NOT-RUN 0)"));
        /* tofu stops on these; the default serve closes the one connection */
        json_verdict(j, "tofu/5/2", v, sizeof v);
        assert_string_equal(v, "OK");
        json_verdict(j, "tofu/7/6", v, sizeof v);
        assert_string_equal(v, "OK");
        json_verdict(j, "tofu/6.15/2", v, sizeof v);
        assert_string_equal(v, "OK");
        json_verdict(j, "tofu/1.1/7", v, sizeof v);
        assert_string_equal(v, "OK");
    } else {
        char v[32];
        assert_int_equal(serve_rc, 1);              /* it stopped by itself, as tofu's would */
        json_verdict(j, "tofu/1.1/7", v, sizeof v); /* 1000 frames fit tofu's budget */
        assert_string_equal(v, "OK");
        json_verdict(j, "tofu/6.15/2", v, sizeof v); /* the first probe tofu stops on */
        assert_string_equal(v, "NON-STRICT");
    }
    /* every case NOT-RUN because serve stopped: run it alone */
    for (p = strstr(j, "\"id\": \""); p != NULL; p = strstr(p + 1, "\"id\": \"")) {
        const char *v = strstr(p, "\"verdict\": \"");
        char id[32];
        const char *solo[] = {"conform", "--peer", addr, "--timeout", tmo, "--cases", id, NULL};
        char *o2 = NULL;

        snprintf(id, sizeof id, "%.*s", (int)strcspn(p + 7, "\""), p + 7);
        if (v == NULL || strncmp(v + 12, "NOT-RUN", 7) != 0) {
            continue;
        }
        not_run++;
        serve_start(&sp, listen, exact, addr, sizeof addr);
        rc = run_cli(solo, &o2, NULL, 60000u * scale());
        /* --exact: tofu's server stops on each of these; so does this one */
        int alone_rc = proc_wait(&sp, exact ? 5000u * scale() : 0u);
        if (alone_rc == -1 && !exact) {
            alone_rc = 0;
        }
        proc_cleanup(&sp);
        if (rc != 0) {
            print_message("%s", o2);
        }
        assert_int_equal(rc, 0);
        assert_null(strstr(o2, "NOT-RUN  "));
        if (exact) {
            if (alone_rc != (strcmp(id, "tofu/7/10") == 0 ? 0 : 1)) {
                fail_msg("serve --exact alone with %s: exit %d", id, alone_rc);
            }
        }
        free(o2);
    }
    if (exact) {
        assert_true(not_run >= 10); /* response roles, the budget, the five post refusals */
    } else {
        assert_int_equal(not_run, 0);
    }
    free(out);
    free(j);
    unlink(json);
}

static void test_conform_serve_tcp_nothing_fails(void **state)
{
    (void)state;
    if (!serve_available()) {
        print_message("tofulab serve is not available: skipped\n");
        skip();
    }
    serve_suite("tcp|127.0.0.1|0", 0);
}

static void test_conform_serve_uds_nothing_fails(void **state)
{
    char listen[160], path[108];

    (void)state;
    if (!serve_available()) {
        print_message("tofulab serve is not available: skipped\n");
        skip();
    }
    tmp_path(path, sizeof path, "serve.sock");
    snprintf(listen, sizeof listen, "uds|%s", path);
    serve_suite(listen, 0);
    unlink(path);
}

static void test_conform_serve_exact_stops_where_tofu_does_nothing_fails(void **state)
{
    (void)state;
    if (!serve_available()) {
        print_message("tofulab serve is not available: skipped\n");
        skip();
    }
    serve_suite("tcp|127.0.0.1|0", 1);
}

/* `tofulab conform --role client` against `tofulab client --pattern echo --abort`. */
static void test_conform_client_role_against_tofulab_client_passes(void **state)
{
    char path[108], addr[160];
    const char *conform_args[] = {"conform", "--role", "client", "--peer", addr, "--timeout", "0.5", NULL};
    const char *client_args[] = {"client",  "--connect", addr,      "--pattern", "echo",
                                 "--count", "4",         "--abort", NULL};
    proc cp;
    char *out, *err;
    int rc;
    uint64_t deadline = now_ms() + 10000u * scale();

    (void)state;
    if (!serve_available()) {
        skip();
    }
    tmp_path(path, sizeof path, "role.sock");
    snprintf(addr, sizeof addr, "uds|%s", path);
    proc_start(&cp, conform_args);
    for (;;) {
        err = slurp(cp.err_path);
        if (strstr(err, "listening on") != NULL) {
            free(err);
            break;
        }
        free(err);
        assert_true(now_ms() < deadline);
        sleep_ms(20);
    }
    rc = run_cli(client_args, NULL, NULL, 30000u * scale());
    assert_int_equal(rc, 0);
    rc = proc_wait(&cp, 30000u * scale());
    out = slurp(cp.out_path);
    proc_cleanup(&cp);
    if (rc != 0) {
        print_message("%s", out);
    }
    assert_int_equal(rc, 0);
    assert_non_null(strstr(last_line(out), " 0 failed"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conform_case_table_well_formed),
        cmocka_unit_test(test_conform_correct_peer_tcp_nothing_fails),
        cmocka_unit_test(test_conform_correct_peer_uds_nothing_fails),
        cmocka_unit_test(test_conform_little_endian_header_fails_reply_cases),
        cmocka_unit_test(test_conform_text_dropped_fails_text_cases),
        cmocka_unit_test(test_conform_body_echoed_fails_body_cases),
        cmocka_unit_test(test_conform_wrong_message_id_fails_id_cases),
        cmocka_unit_test(test_conform_no_bye_response_fails_bye_cases),
        cmocka_unit_test(test_conform_close_on_more_fails_more_cases),
        cmocka_unit_test(test_conform_wrong_opcode_fails_reply_cases),
        cmocka_unit_test(test_conform_tofu_peer_stops_without_cascade),
        cmocka_unit_test(test_conform_tofu_peer_strict_fails_non_strict_cases),
        cmocka_unit_test(test_conform_hanging_peer_times_out_then_not_run),
        cmocka_unit_test(test_conform_flooding_peer_fails_in_bounded_time),
        cmocka_unit_test(test_conform_byte_swapped_peer_ends_fast_naming_the_cause),
        cmocka_unit_test(test_conform_http_server_ends_fast_naming_the_cause),
        cmocka_unit_test(test_conform_tls_server_ends_fast_naming_the_cause),
        cmocka_unit_test(test_conform_nagle_peer_replies_wait_for_delayed_ack),
        cmocka_unit_test(test_conform_latency_over_uds_is_unimplemented),
        cmocka_unit_test(test_conform_unreachable_peer_returns_io_error),
        cmocka_unit_test(test_conform_glob_matching_nothing_is_invalid),
        cmocka_unit_test(test_conform_client_role_correct_client_passes),
        cmocka_unit_test(test_conform_client_role_one_request_is_unimplemented_split),
        cmocka_unit_test(test_conform_client_role_defective_clients_fail),
        cmocka_unit_test(test_conform_cli_usage_errors_exit_2),
        cmocka_unit_test(test_conform_cli_unreachable_peer_exits_2),
        cmocka_unit_test(test_conform_cli_client_role_without_client_exits_2),
        cmocka_unit_test(test_conform_cli_list_prints_cases),
        cmocka_unit_test(test_conform_cli_correct_peer_exits_0_and_writes_reports),
        cmocka_unit_test(test_conform_cli_defective_peer_exits_1),
        cmocka_unit_test(test_conform_cli_strict_turns_non_strict_into_exit_1),
        cmocka_unit_test(test_conform_cli_http_server_exits_1_naming_the_cause),
        cmocka_unit_test(test_conform_serve_tcp_nothing_fails),
        cmocka_unit_test(test_conform_serve_uds_nothing_fails),
        cmocka_unit_test(test_conform_serve_exact_stops_where_tofu_does_nothing_fails),
        cmocka_unit_test(test_conform_client_role_against_tofulab_client_passes),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
