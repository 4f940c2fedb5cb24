/*
 * The pattern services on the POSIX host (patterns/runner_posix.h): the
 * pattern server on a Unix socket in one thread, each client mode on the
 * calling thread, real sockets and real time, the same oracles as in the
 * simulator.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../patterns/heartbeat.h"
#include "../../patterns/pattern_client.h"
#include "../../patterns/pattern_server.h"
#include "../../patterns/runner_posix.h"

#define SEC 1000000000ull

typedef struct {
    tl_runner *runner;
    tl_service *svc;
    pthread_t thread;
    tl_run_result res;
} bg_server;

static void *bg_main(void *arg)
{
    bg_server *b = arg;

    tl_runner_run(b->runner, &b->svc, 1, &b->res);
    return NULL;
}

static void wait_for_path(const char *path)
{
    struct stat sb;
    struct timespec ts = {0, 10000000L};

    for (int i = 0; i < 500; i++) {
        if (stat(path, &sb) == 0) {
            return;
        }
        nanosleep(&ts, NULL);
    }
    fail_msg("%s never appeared", path);
}

static void bg_start(bg_server *b, tl_service *svc, const char *path)
{
    tl_runner_options o;

    memset(&o, 0, sizeof o);
    o.seed = 1;
    o.deadline_ns = 60 * SEC;
    b->svc = svc;
    assert_int_equal(tl_runner_create(&o, &b->runner), TL_OK);
    assert_int_equal(pthread_create(&b->thread, NULL, bg_main, b), 0);
    wait_for_path(path);
}

static void bg_stop(bg_server *b, tl_svc_report *rep)
{
    tl_runner_stop(b->runner);
    pthread_join(b->thread, NULL);
    b->svc->ops->report(b->svc, rep);
    tl_runner_destroy(b->runner);
    b->svc->ops->destroy(b->svc);
}

static void run_client(tl_service *svc, tl_svc_report *rep)
{
    tl_runner_options o;
    tl_runner *r;
    tl_run_result res;

    memset(&o, 0, sizeof o);
    o.seed = 2;
    o.deadline_ns = 30 * SEC;
    assert_int_equal(tl_runner_create(&o, &r), TL_OK);
    assert_int_equal(tl_runner_run(r, &svc, 1, &res), TL_OK);
    assert_int_equal(res.outcome, TL_RUN_DONE);
    svc->ops->report(svc, rep);
    tl_runner_destroy(r);
}

static void test_patterns_posix_every_mode_over_uds_succeeds(void **state)
{
    char dir[] = "/tmp/tofulab-patterns-XXXXXX";
    char path[128], addr[160];
    tl_pattern_server_config sc;
    tl_service *server = NULL;
    bg_server bg;
    tl_svc_report rep;
    static const tl_pc_mode modes[] = {TL_PC_CORRELATION, TL_PC_STREAM_IN, TL_PC_STREAM_OUT,
                                       TL_PC_PROGRESS,    TL_PC_BIDIR,     TL_PC_REJECT};

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/p.sock", dir);
    snprintf(addr, sizeof addr, "uds|%s", path);
    memset(&sc, 0, sizeof sc);
    sc.listen = addr;
    sc.odd_delay_ns = 5000000ull;
    assert_int_equal(tl_pattern_server_create(&sc, &server), TL_OK);
    bg_start(&bg, server, path);
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        tl_pattern_client_config c;
        tl_service *client = NULL;

        memset(&c, 0, sizeof c);
        c.connect = addr;
        c.mode = modes[i];
        c.count = 20;
        c.concurrency = 5;
        c.frames = 8;
        c.size = 500;
        c.timeout_ns = 20 * SEC;
        assert_int_equal(tl_pattern_client_create(&c, &client), TL_OK);
        run_client(client, &rep);
        client->ops->destroy(client);
        if (rep.errors != 0) {
            fail_msg("%s: %s", tl_pc_mode_name(modes[i]), rep.first_error);
        }
        assert_int_equal(rep.closed, 1);
        assert_int_equal(rep.answered, modes[i] == TL_PC_REJECT ? 0 : 20);
    }
    bg_stop(&bg, &rep);
    if (rep.errors != 0) {
        fail_msg("server: %s", rep.first_error);
    }
    assert_int_equal(rep.answered, 5 * 20);
    unlink(path);
    rmdir(dir);
}

static void test_patterns_posix_heartbeat_over_uds_no_suspicion(void **state)
{
    char dir[] = "/tmp/tofulab-heartbeat-XXXXXX";
    char path[128], addr[160];
    tl_heartbeat_config hs, hc;
    tl_service *server = NULL, *client = NULL;
    bg_server bg;
    tl_svc_report rs, rc;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/h.sock", dir);
    snprintf(addr, sizeof addr, "uds|%s", path);
    memset(&hs, 0, sizeof hs);
    hs.address = addr;
    hs.listen = 1;
    hs.interval_ns = 20000000ull;
    hs.timeout_ns = 2 * SEC;
    hc = hs;
    hc.listen = 0;
    hc.stop_ns = 300000000ull;
    assert_int_equal(tl_heartbeat_create(&hs, &server), TL_OK);
    assert_int_equal(tl_heartbeat_create(&hc, &client), TL_OK);
    bg_start(&bg, server, path);
    run_client(client, &rc);
    client->ops->destroy(client);
    bg_stop(&bg, &rs);
    assert_int_equal(rc.errors, 0);
    assert_int_equal(rs.errors, 0);
    assert_int_equal(rc.failed, 0);
    assert_int_equal(rs.failed, 0);
    assert_int_equal(rs.answered, 0); /* the client said Bye: not a death */
    assert_true(rc.sent >= 5 && rs.signals >= 5);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns_posix_every_mode_over_uds_succeeds),
        cmocka_unit_test(test_patterns_posix_heartbeat_over_uds_no_suspicion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
