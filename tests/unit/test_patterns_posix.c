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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../patterns/heartbeat.h"
#include "../../patterns/pattern_client.h"
#include "../../patterns/pattern_server.h"
#include "../../patterns/request_response.h"
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

/* A TCP listener on 127.0.0.1 that never accepts: the kernel completes the
 * handshake into the backlog, the HelloRequest is never answered. */
static int silent_listener(char *addr, size_t cap)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0; /* ephemeral */
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(addr, cap, "tcp|127.0.0.1|%u", (unsigned)ntohs(sa.sin_port));
    return fd;
}

static void test_patterns_posix_unanswered_hello_times_out_and_reconnects(void **state)
{
    char addr[64];
    int fd = silent_listener(addr, sizeof addr);
    tl_service *svc = NULL;
    tl_svc_report rep;
    struct timespec t0, t1;

    (void)state;
    /* without reconnect: one counted failure, the client finishes */
    for (int reconnect = 0; reconnect <= 1; reconnect++) {
        tl_rr_config c;

        memset(&c, 0, sizeof c);
        c.connect = addr;
        c.count = 5;
        c.size_min = c.size_max = 16;
        c.check_echo_body = 1;
        c.timeout_ns = 25 * SEC;
        c.conn.hello_timeout_ns = 200000000ull; /* 200 ms */
        c.conn.reconnect = reconnect;
        c.conn.reconnect_delay_ns = 50000000ull;
        c.conn.reconnects = 2;
        assert_int_equal(tl_rr_client_create(&c, &svc), TL_OK);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        run_client(svc, &rep); /* asserts the run ended with the service done */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        svc->ops->destroy(svc);
        assert_int_equal(rep.errors, 0);
        assert_int_equal(rep.sent, 0);
        assert_int_equal(rep.connect_failures, reconnect ? 3 : 1);
        assert_int_equal(rep.reconnects, reconnect ? 2 : 0);
        assert_int_equal(rep.closed, reconnect ? 3 : 1);
        /* long before the overall timeout (25 s): generous, never flaky */
        assert_true(t1.tv_sec - t0.tv_sec < 20);
    }
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns_posix_every_mode_over_uds_succeeds),
        cmocka_unit_test(test_patterns_posix_heartbeat_over_uds_no_suspicion),
        cmocka_unit_test(test_patterns_posix_unanswered_hello_times_out_and_reconnects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
