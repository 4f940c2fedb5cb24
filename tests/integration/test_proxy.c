/*
 * The fault proxy (hosts/proxy.h) on loopback with `tofulab serve` behind it
 * (the binary named by $TOFULAB, default build/tofulab, spawned through
 * hosts/proc.h) and tofulab's client patterns in front (patterns/ on the
 * POSIX host): each fault shown doing what it says, the control API
 * answering as toxiproxy's does, bad input refused with its position.
 * Every wait is bounded; bounds grow under $TOFULAB_CHECK (ASan, Valgrind).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tofulab/posix.h"
#include "tofulab/wire.h"

#include "../../hosts/proc.h"
#include "../../hosts/proxy.h"
#include "../../hosts/proxy_http.h"
#include "../../patterns/heartbeat.h"
#include "../../patterns/request_response.h"
#include "../../patterns/runner_posix.h"
#include "../helpers/spawn.h"

#define MS 1000000ull

static int time_scale(void)
{
    const char *c = getenv("TOFULAB_CHECK");
    return (c != NULL && c[0] != '\0') ? 4 : 1;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

typedef struct {
    char dir[64];
    char log_path[128];
    tl_proc *serve;
    char serve_addr[64];
    tl_proxy *px;
    FILE *log;
    FILE *trace;
    char px_addr[320];
} fixture;

static void serve_start(fixture *f, const char *extra)
{
    char cmd[600], err[300];
    uint16_t port = tl_proc_free_port();
    assert_true(port != 0);
    snprintf(f->serve_addr, sizeof f->serve_addr, "tcp|127.0.0.1|%u", (unsigned)port);
    snprintf(cmd, sizeof cmd, "exec '%s' serve --listen '%s' %s", spawn_tofulab(), f->serve_addr, extra);
    snprintf(f->log_path, sizeof f->log_path, "%s/serve.log", f->dir);
    assert_int_equal(tl_proc_spawn(cmd, f->log_path, &f->serve, err, sizeof err), TL_OK);
    if (tl_proc_wait_ready(f->serve, f->serve_addr, 10000 * MS * (uint64_t)time_scale(), err, sizeof err) !=
        TL_OK) {
        fail_msg("tofulab serve did not start: %s", err);
    }
}

/* The proxy in front of upstream, listening on a free TCP port (or listen). */
static void proxy_start(fixture *f, const char *upstream, const char *listen, uint64_t seed)
{
    char err[300];
    tl_proxy_options o;
    memset(&o, 0, sizeof o);
    o.seed = seed;
    o.log = f->log;
    o.trace = f->trace;
    o.quiet = 1;
    assert_int_equal(tl_proxy_create(&o, &f->px), TL_OK);
    if (tl_proxy_route_add(f->px, "tofu", listen ? listen : "tcp|127.0.0.1|0", upstream, 1, err,
                           sizeof err) != TL_OK) {
        fail_msg("route: %s", err);
    }
    assert_int_equal(tl_proxy_start(f->px), TL_OK);
    assert_int_equal(tl_proxy_route_listen(f->px, "tofu", f->px_addr, sizeof f->px_addr), TL_OK);
}

static int setup_bare(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tofulab-proxy-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->log = tmpfile();
    f->trace = tmpfile();
    assert_non_null(f->log);
    assert_non_null(f->trace);
    *state = f;
    return 0;
}

static int setup_echo(void **state)
{
    setup_bare(state);
    fixture *f = *state;
    serve_start(f, "");
    proxy_start(f, f->serve_addr, NULL, 1);
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    tl_proxy_destroy(f->px);
    tl_proc_free(f->serve);
    fclose(f->log);
    fclose(f->trace);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", f->dir);
    }
    free(f);
    return 0;
}

/* The whole of a tmpfile (the proxy's log or trace). */
static char *slurp(FILE *fp)
{
    fflush(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    assert_true(n >= 0);
    char *buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    rewind(fp);
    size_t got = fread(buf, 1, (size_t)n, fp);
    buf[got] = '\0';
    fseek(fp, 0, SEEK_END);
    return buf;
}

static void apply(fixture *f, const char *words)
{
    char err[300];
    if (tl_proxy_apply_text(f->px, "tofu", words, err, sizeof err) != TL_OK) {
        fail_msg("%s: %s", words, err);
    }
}

/* ---- a client pattern on the POSIX host ---- */

typedef struct {
    tl_svc_report rep;
    tl_engine_stats es;
    int done;
    tl_run_result res;
} client_result;

static void run_service(tl_service *s, uint64_t deadline_ns, client_result *out)
{
    tl_runner_options ro;
    tl_runner *r;
    memset(&ro, 0, sizeof ro);
    ro.deadline_ns = deadline_ns;
    ro.seed = 11;
    assert_int_equal(tl_runner_create(&ro, &r), TL_OK);
    (void)tl_runner_run(r, &s, 1, &out->res);
    s->ops->report(s, &out->rep);
    out->done = s->done;
    tl_posix_stats(tl_runner_host(r), &out->es);
    s->ops->destroy(s);
    tl_runner_destroy(r);
}

static void run_rr(const char *addr, uint64_t count, size_t smin, size_t smax, uint32_t conc,
                   uint64_t deadline_ns, client_result *out)
{
    tl_rr_config cfg;
    tl_service *s;
    memset(&cfg, 0, sizeof cfg);
    cfg.connect = addr;
    cfg.count = count;
    cfg.size_min = smin;
    cfg.size_max = smax;
    cfg.concurrency = conc;
    cfg.check_echo_body = 1;
    assert_int_equal(tl_rr_client_create(&cfg, &s), TL_OK);
    memset(out, 0, sizeof *out);
    run_service(s, deadline_ns, out);
}

static void assert_accounting(const client_result *c)
{
    char why[200];
    const char *bad = tl_svc_report_check(&c->rep, c->done, why, sizeof why);
    if (bad != NULL) {
        fail_msg("%s", bad);
    }
}

/* ---- the faults ---- */

static void test_proxy_no_fault_forwards_every_byte(void **state)
{
    fixture *f = *state;
    client_result c;
    tl_proxy_stats st;
    run_rr(f->px_addr, 300, 1, 20000, 8, 30000 * MS * (uint64_t)time_scale(), &c);
    assert_int_equal(c.rep.answered, 300);
    assert_int_equal(c.rep.errors, 0);
    assert_true(c.done);
    sleep_ms(50);
    tl_proxy_get_stats(f->px, "tofu", &st);
    assert_int_equal(st.connections, 1);
    assert_int_equal(st.upstream_failures, 0);
    /* HelloRequest, 300 Requests, ByeRequest; and their answers */
    assert_int_equal(st.frames[TL_PX_UP], 302);
    assert_int_equal(st.frames[TL_PX_DOWN], 302);
    assert_int_equal(st.bytes_in[TL_PX_UP], st.bytes_out[TL_PX_UP]);
    assert_int_equal(st.bytes_in[TL_PX_DOWN], st.bytes_out[TL_PX_DOWN]);
    assert_int_equal(st.dropped[0] + st.dropped[1], 0);
}

static void test_proxy_delay_round_trip_within_10_percent(void **state)
{
    fixture *f = *state;
    client_result c;
    const uint64_t asked = 200 * MS; /* 100 ms each way */
    apply(f, "delay 100ms");
    run_rr(f->px_addr, 5, 64, 64, 1, 20000 * MS * (uint64_t)time_scale(), &c);
    assert_int_equal(c.rep.answered, 5);
    assert_int_equal(c.rep.errors, 0);
    uint64_t mean = c.rep.latency_sum_ns / c.rep.latency_count;
    uint64_t slack = asked / 10 * (uint64_t)time_scale();
    if (mean < asked || mean > asked + slack) {
        fail_msg("mean round trip %llu us, asked %llu us (+%llu us)", (unsigned long long)(mean / 1000),
                 (unsigned long long)(asked / 1000), (unsigned long long)(slack / 1000));
    }
}

static void test_proxy_slice_one_byte_echoes_correctly(void **state)
{
    fixture *f = *state;
    client_result c;
    tl_proxy_stats st;
    apply(f, "slice 1");
    run_rr(f->px_addr, 20, 1, 300, 2, 30000 * MS * (uint64_t)time_scale(), &c);
    assert_int_equal(c.rep.answered, 20);
    assert_int_equal(c.rep.errors, 0);
    tl_proxy_get_stats(f->px, "tofu", &st);
    /* one byte per write, both ways */
    assert_true(st.bytes_out[TL_PX_UP] > 20);
    assert_int_equal(st.writes[TL_PX_UP], st.bytes_out[TL_PX_UP]);
    assert_int_equal(st.writes[TL_PX_DOWN], st.bytes_out[TL_PX_DOWN]);
}

static void test_proxy_slice_at_boundaries_echoes_correctly(void **state)
{
    fixture *f = *state;
    client_result c;
    tl_proxy_stats st;
    apply(f, "slice at boundaries,12 client->server");
    run_rr(f->px_addr, 20, 1, 300, 1, 30000 * MS * (uint64_t)time_scale(), &c);
    assert_int_equal(c.rep.answered, 20);
    assert_int_equal(c.rep.errors, 0);
    tl_proxy_get_stats(f->px, "tofu", &st);
    /* every frame in 4 writes (0-8, 8-12, 12-16, 16-...), the ByeRequest (16 bytes) in 3 */
    assert_int_equal(st.writes[TL_PX_UP], 4 * st.frames[TL_PX_UP] - 1);
}

typedef struct {
    fixture *f;
    uint64_t at; /* tl_runner_now_ns() */
    const char *words;
} later_arg;

static void *apply_later(void *arg)
{
    later_arg *a = arg;
    uint64_t now = tl_runner_now_ns();
    if (a->at > now) {
        sleep_ms((unsigned)((a->at - now) / MS));
    }
    char err[200];
    (void)tl_proxy_apply_text(a->f->px, "tofu", a->words, err, sizeof err);
    return NULL;
}

static void test_proxy_blackhole_detected_by_heartbeat_client(void **state)
{
    fixture *f;
    setup_bare(state);
    f = *state;
    serve_start(f, "--pattern heartbeat-server --interval 200ms --timeout 600ms");
    proxy_start(f, f->serve_addr, NULL, 1);

    tl_heartbeat_config hc;
    tl_service *s;
    client_result c;
    pthread_t th;
    later_arg la = {f, tl_runner_now_ns() + 800 * MS, "blackhole"};
    memset(&hc, 0, sizeof hc);
    hc.address = f->px_addr;
    hc.interval_ns = 200 * MS;
    hc.timeout_ns = 600 * MS;
    hc.expect_death_ns = la.at;
    hc.finish_on_death = 1;
    assert_int_equal(tl_heartbeat_create(&hc, &s), TL_OK);
    assert_int_equal(pthread_create(&th, NULL, apply_later, &la), 0);
    memset(&c, 0, sizeof c);
    run_service(s, 10000 * MS * (uint64_t)time_scale(), &c);
    pthread_join(th, NULL);
    assert_int_equal(c.res.outcome, TL_RUN_DONE);
    assert_int_equal(c.rep.deaths, 1);
    assert_int_equal(c.rep.false_suspicions, 0);
    /* declared within interval + timeout of the blackhole (the pattern's own bound) */
    if (c.rep.errors != 0) {
        fail_msg("%s", c.rep.first_error);
    }
    assert_true(c.rep.latency_max_ns >= 400 * MS);
    /* a blackhole sends no FIN and no RST: the engine did not close the channel */
    assert_int_equal(c.es.closed_by[TL_STATUS_COMMUNICATION_FAILED], 0);
    assert_int_equal(c.es.closed_by[TL_STATUS_RECV_FAILED], 0);
}

static void test_proxy_reset_peer_gives_communication_failed(void **state)
{
    fixture *f = *state;
    client_result c;
    tl_proxy_stats st;
    apply(f, "delay 20ms");
    apply(f, "reset-peer 300ms client->server");
    run_rr(f->px_addr, 100, 64, 64, 1, 20000 * MS * (uint64_t)time_scale(), &c);
    assert_true(c.done);
    assert_int_equal(c.es.closed_by[TL_STATUS_COMMUNICATION_FAILED], 1);
    assert_true(c.rep.answered > 0 && c.rep.answered < 100);
    assert_int_equal(c.rep.failed, 1);
    assert_accounting(&c);
    tl_proxy_get_stats(f->px, "tofu", &st);
    assert_int_equal(st.resets, 1);
}

static void test_proxy_reset_action_gives_communication_failed(void **state)
{
    fixture *f = *state;
    client_result c;
    pthread_t th;
    later_arg la = {f, tl_runner_now_ns() + 400 * MS, "reset"};
    apply(f, "delay 20ms");
    assert_int_equal(pthread_create(&th, NULL, apply_later, &la), 0);
    run_rr(f->px_addr, 100, 64, 64, 1, 20000 * MS * (uint64_t)time_scale(), &c);
    pthread_join(th, NULL);
    assert_int_equal(c.es.closed_by[TL_STATUS_COMMUNICATION_FAILED], 1);
    assert_int_equal(c.rep.failed, 1);
    assert_accounting(&c);
}

typedef struct {
    fixture *f;
    client_result c;
} rr_thread_arg;

static void *rr_thread(void *arg)
{
    rr_thread_arg *a = arg;
    run_rr(a->f->px_addr, 3, 64, 64, 1, 20000 * MS * (uint64_t)time_scale(), &a->c);
    return NULL;
}

static void test_proxy_hold_byeresponse_until_healed(void **state)
{
    fixture *f = *state;
    tl_proxy_stats st;
    pthread_t th;
    rr_thread_arg a;
    memset(&a, 0, sizeof a);
    a.f = f;
    apply(f, "hold ByeResponse server->client");
    assert_int_equal(pthread_create(&th, NULL, rr_thread, &a), 0);
    for (int i = 0; i < 300 * time_scale(); i++) {
        tl_proxy_get_stats(f->px, "tofu", &st);
        if (st.held == 1) {
            break;
        }
        sleep_ms(10);
    }
    assert_int_equal(st.held, 1);
    sleep_ms(300);
    /* the client still waits for its ByeResponse */
    tl_proxy_get_stats(f->px, "tofu", &st);
    assert_int_equal(st.open, 1);
    tl_proxy_heal(f->px, "tofu");
    pthread_join(th, NULL);
    assert_int_equal(a.c.rep.answered, 3);
    assert_int_equal(a.c.rep.errors, 0);
    assert_true(a.c.done);
    char *trace = slurp(f->trace);
    assert_non_null(strstr(trace, "fault hold ByeResponse"));
    assert_non_null(strstr(trace, "release ByeResponse"));
    free(trace);
}

static void test_proxy_cut_inside_header_resets_both_sides(void **state)
{
    fixture *f = *state;
    client_result c;
    tl_proxy_stats st;
    apply(f, "cut frame 2 byte 8 client->server");
    run_rr(f->px_addr, 5, 64, 64, 1, 20000 * MS * (uint64_t)time_scale(), &c);
    assert_true(c.done);
    assert_int_equal(c.rep.answered, 0);
    assert_int_equal(c.rep.failed, 1);
    assert_int_equal(c.es.closed_by[TL_STATUS_COMMUNICATION_FAILED], 1);
    assert_accounting(&c);
    tl_proxy_get_stats(f->px, "tofu", &st);
    assert_int_equal(st.resets, 1);
    /* HelloRequest (49 bytes) and 8 bytes of the Request went */
    assert_int_equal(st.bytes_out[TL_PX_UP], 49 + 8);
    char *trace = slurp(f->trace);
    assert_non_null(strstr(trace, "fault cut in frame 2 at byte 8"));
    free(trace);
}

static void test_proxy_inject_signal_reaches_client(void **state)
{
    fixture *f = *state;
    client_result c;
    tl_proxy_stats st;
    apply(f, "inject Signal id=77 body=hi after 1 server->client");
    run_rr(f->px_addr, 3, 64, 64, 1, 20000 * MS * (uint64_t)time_scale(), &c);
    assert_int_equal(c.rep.answered, 3);
    assert_int_equal(c.rep.errors, 1);
    assert_non_null(strstr(c.rep.first_error, "Signal id 77"));
    tl_proxy_get_stats(f->px, "tofu", &st);
    assert_int_equal(st.injected, 1);
}

static void test_proxy_limit_data_closes_after_n_bytes(void **state)
{
    fixture *f = *state;
    client_result c;
    tl_proxy_stats st;
    apply(f, "limit-data 200 client->server");
    run_rr(f->px_addr, 10, 64, 64, 1, 20000 * MS * (uint64_t)time_scale(), &c);
    assert_true(c.done);
    assert_accounting(&c);
    assert_true(c.rep.answered < 10);
    tl_proxy_get_stats(f->px, "tofu", &st);
    assert_int_equal(st.bytes_out[TL_PX_UP], 200);
}

static void test_proxy_stall_mid_frame_delays_it(void **state)
{
    fixture *f = *state;
    client_result c;
    apply(f, "stall 500ms frame 3 byte 20 client->server");
    run_rr(f->px_addr, 3, 64, 64, 1, 20000 * MS * (uint64_t)time_scale(), &c);
    assert_int_equal(c.rep.answered, 3);
    assert_int_equal(c.rep.errors, 0);
    /* the second Request (frame 3) waited half a second in its middle */
    assert_true(c.rep.latency_max_ns >= 500 * MS);
    char *trace = slurp(f->trace);
    assert_non_null(strstr(trace, "fault stall 500ms in frame 3 at byte 20"));
    free(trace);
}

static void test_proxy_rate_limits_the_bandwidth(void **state)
{
    fixture *f = *state;
    client_result c;
    /* 10000 bytes at 800 kbit/s: 100 ms on the way up */
    apply(f, "rate 800kbit client->server");
    run_rr(f->px_addr, 4, 10000, 10000, 1, 20000 * MS * (uint64_t)time_scale(), &c);
    assert_int_equal(c.rep.answered, 4);
    assert_int_equal(c.rep.errors, 0);
    assert_true(c.rep.latency_sum_ns / c.rep.latency_count >= 95 * MS);
}

static void test_proxy_corrupt_flips_bytes_the_client_notices(void **state)
{
    fixture *f = *state;
    client_result c;
    apply(f, "corrupt 100% server->client");
    run_rr(f->px_addr, 5, 64, 64, 1, 3000 * MS * (uint64_t)time_scale(), &c);
    /* the echo of the HelloRequest or of a Request came back altered */
    assert_true(c.rep.errors > 0 || c.rep.answered < 5);
    char *trace = slurp(f->trace);
    assert_non_null(strstr(trace, "s>c corrupt byte at offset"));
    free(trace);
}

static void test_proxy_timeout_drops_and_closes(void **state)
{
    fixture *f = *state;
    client_result c;
    tl_proxy_stats st;
    apply(f, "timeout 300ms client->server");
    run_rr(f->px_addr, 3, 64, 64, 1, 10000 * MS * (uint64_t)time_scale(), &c);
    assert_true(c.done);
    assert_int_equal(c.rep.answered, 0);
    /* toxiproxy's timeout closes with FIN: recv_failed over TCP */
    assert_int_equal(c.es.closed_by[TL_STATUS_RECV_FAILED], 1);
    tl_proxy_get_stats(f->px, "tofu", &st);
    assert_true(st.dropped[TL_PX_UP] > 0);
    assert_int_equal(st.bytes_out[TL_PX_UP], 0);
}

static void test_proxy_delay_op_and_slow_close_leave_their_mark(void **state)
{
    fixture *f = *state;
    client_result c;
    uint64_t t0 = tl_runner_now_ns();
    apply(f, "delay ByeResponse 400ms server->client");
    apply(f, "slow-close 200ms");
    run_rr(f->px_addr, 2, 64, 64, 1, 10000 * MS * (uint64_t)time_scale(), &c);
    assert_int_equal(c.rep.answered, 2);
    assert_int_equal(c.rep.errors, 0);
    assert_true(c.done);
    /* the answers were quick, the ByeResponse was not */
    assert_true(c.rep.latency_max_ns < 300 * MS * (uint64_t)time_scale());
    assert_true(tl_runner_now_ns() - t0 >= 400 * MS);
    sleep_ms(300);
    char *trace = slurp(f->trace);
    assert_non_null(strstr(trace, "fault delay ByeResponse id="));
    assert_non_null(strstr(trace, " by 400ms"));
    assert_non_null(strstr(trace, "fault slow-close: close relayed in 200ms"));
    free(trace);
}

static void test_proxy_uds_to_tcp_bridge_echoes(void **state)
{
    fixture *f;
    char listen[128];
    client_result c;
    setup_bare(state);
    f = *state;
    serve_start(f, "");
    snprintf(listen, sizeof listen, "uds|%s/p.sock", f->dir);
    proxy_start(f, f->serve_addr, listen, 1);
    assert_string_equal(f->px_addr, listen);
    run_rr(f->px_addr, 50, 1, 5000, 4, 20000 * MS * (uint64_t)time_scale(), &c);
    assert_int_equal(c.rep.answered, 50);
    assert_int_equal(c.rep.errors, 0);
}

/* ---- seeded randomness ---- */

static char *loss_lines(const char *trace)
{
    size_t cap = strlen(trace) + 1, o = 0;
    char *out = calloc(1, cap);
    const char *p = trace;
    assert_non_null(out);
    while ((p = strstr(p, "loss chunk at offset")) != NULL) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        memcpy(out + o, p, n);
        o += n;
        out[o++] = '\n';
        p += n;
    }
    return out;
}

static char *run_loss(fixture *f, uint64_t seed)
{
    char listen[128];
    client_result c;
    snprintf(listen, sizeof listen, "uds|%s/loss.sock", f->dir);
    fclose(f->trace);
    f->trace = tmpfile();
    proxy_start(f, f->serve_addr, listen, seed);
    apply(f, "loss 25% client->server");
    run_rr(f->px_addr, 6, 3000, 3000, 1, 60000 * MS * (uint64_t)time_scale(), &c);
    assert_int_equal(c.rep.answered, 6);
    tl_proxy_destroy(f->px);
    f->px = NULL;
    char *trace = slurp(f->trace);
    char *lines = loss_lines(trace);
    free(trace);
    return lines;
}

static void test_proxy_seed_gives_same_loss_schedule(void **state)
{
    fixture *f;
    setup_bare(state);
    f = *state;
    serve_start(f, "");
    char *a = run_loss(f, 5);
    char *b = run_loss(f, 5);
    char *c = run_loss(f, 6);
    assert_true(strlen(a) > 0);
    assert_string_equal(a, b);
    assert_true(strcmp(a, c) != 0);
    free(a);
    free(b);
    free(c);
}

/* ---- bad input ---- */

static void test_proxy_upstream_refused_logged_one_line(void **state)
{
    fixture *f;
    char up[64];
    client_result c;
    tl_proxy_stats st;
    setup_bare(state);
    f = *state;
    snprintf(up, sizeof up, "tcp|127.0.0.1|%u", (unsigned)tl_proc_free_port());
    proxy_start(f, up, NULL, 1);
    run_rr(f->px_addr, 1, 8, 8, 1, 10000 * MS * (uint64_t)time_scale(), &c);
    assert_true(c.done);
    assert_int_equal(c.rep.answered, 0);
    tl_proxy_get_stats(f->px, "tofu", &st);
    assert_int_equal(st.upstream_failures, 1);
    char *log = slurp(f->log);
    assert_non_null(strstr(log, "refused connection 1"));
    assert_non_null(strstr(log, up));
    assert_int_equal(strchr(log, '\n') - log + 1, (long)strlen(log)); /* one line */
    free(log);
}

/* A raw upstream that keeps what it receives. */
typedef struct {
    int lfd;
    uint16_t port;
    uint8_t got[256];
    size_t n;
} sink;

static void *sink_main(void *arg)
{
    sink *k = arg;
    int fd = accept(k->lfd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    struct pollfd pf = {fd, POLLIN, 0};
    while (k->n < sizeof k->got && poll(&pf, 1, 3000 * time_scale()) > 0) {
        ssize_t r = read(fd, k->got + k->n, sizeof k->got - k->n);
        if (r <= 0) {
            break;
        }
        k->n += (size_t)r;
    }
    close(fd);
    return NULL;
}

static int connect_tcp(const char *tofu_addr)
{
    tl_address a;
    struct sockaddr_in sin;
    assert_int_equal(tl_address_parse(tofu_addr, strlen(tofu_addr), &a), TL_OK);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(a.port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    return fd;
}

static void test_proxy_malformed_frame_logged_and_forwarded_unchanged(void **state)
{
    fixture *f;
    sink k;
    pthread_t th;
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    char up[64];
    setup_bare(state);
    f = *state;
    memset(&k, 0, sizeof k);
    k.lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(k.lfd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(k.lfd, 4), 0);
    assert_int_equal(getsockname(k.lfd, (struct sockaddr *)&sin, &sl), 0);
    snprintf(up, sizeof up, "tcp|127.0.0.1|%u", (unsigned)ntohs(sin.sin_port));
    assert_int_equal(pthread_create(&th, NULL, sink_main, &k), 0);
    proxy_start(f, up, NULL, 1);
    apply(f, "hold Request"); /* frame faults stop once the stream is malformed */

    /* a good Signal (16 + 2 bytes), then a header with op code 12, then junk */
    uint8_t bytes[64];
    tl_header h;
    memset(&h, 0, sizeof h);
    h.proto = TL_OP_SIGNAL;
    h.message_id = 5;
    int n1 = tl_frame_encode(&h, NULL, 0, (const uint8_t *)"ok", 2, bytes, sizeof bytes);
    assert_int_equal(n1, 18);
    memset(&h, 0, sizeof h);
    h.proto = 12;
    h.bl = 4;
    tl_header_encode(&h, bytes + n1);
    memcpy(bytes + n1 + 16, "abcdXYZ", 7);
    size_t total = (size_t)n1 + 16 + 7;
    int fd = connect_tcp(f->px_addr);
    assert_int_equal(write(fd, bytes, total), (ssize_t)total);
    sleep_ms(300);
    close(fd);
    pthread_join(th, NULL);
    close(k.lfd);
    assert_int_equal(k.n, total);
    assert_memory_equal(k.got, bytes, total);
    char *log = slurp(f->log);
    assert_non_null(strstr(log, "malformed frame at byte offset 20: op code 10-15 is undefined (value 12)"));
    free(log);
}

static void test_proxy_fault_words_bad_input_names_column(void **state)
{
    (void)state;
    static const struct {
        const char *words;
        const char *msg;
    } bad[] = {
        {"delay 20", "column 7: expected a time with a unit"},
        {"hold Foo", "column 6: expected op codes"},
        {"slice 0", "column 7: expected a slice size"},
        {"duplicate 1%", "column 1: duplicate has no effect on a TCP stream"},
        {"cut frame x", "column 11: expected a frame number"},
        {"blackhole upstream downstream", "column 20: expected one direction word"},
        {"frobnicate", "column 1: expected a fault"},
        {"delay 5ms..9ms", "expected single values, not ranges"},
        {"inject Signal id=x", "column 15: expected id=N"},
        {"limit-data lots", "column 12: expected a number of bytes"},
        {"", "expected fault words"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tl_px_fault f[2];
        char err[300];
        err[0] = '\0';
        assert_int_equal(tl_px_fault_parse(bad[i].words, f, err, sizeof err), -1);
        if (strstr(err, bad[i].msg) == NULL) {
            fail_msg("'%s': got '%s', expected '%s'", bad[i].words, err, bad[i].msg);
        }
        assert_null(strchr(err, '\n'));
    }
    tl_px_fault f[2];
    char err[300];
    assert_int_equal(tl_px_fault_parse("delay 20ms jitter 5ms distribution normal", f, err, sizeof err), 2);
    assert_int_equal(f[0].dir, TL_PX_UP);
    assert_int_equal(f[1].dir, TL_PX_DOWN);
    assert_int_equal(f[0].link.delay_ns, 20 * MS);
    assert_int_equal(f[0].link.distribution, TL_SIM_DIST_NORMAL);
    assert_int_equal(tl_px_fault_parse("hold ByeResponse,heartbeat s>c", f, err, sizeof err), 1);
    assert_int_equal(f[0].dir, TL_PX_DOWN);
    assert_int_equal(f[0].opmask, (1u << TL_OP_BYE_RESPONSE) | TL_PX_OP_HEARTBEAT);
}

static void test_proxy_cli_bad_input_exits_2_with_one_line(void **state)
{
    fixture *f;
    setup_bare(state);
    f = *state;
    static const struct {
        const char *args;
        const char *msg;
    } bad[] = {
        {"--listen 'tcp|127.0.0.1|0' --upstream 'tcp|127.0.0.1|1' --fault 'delay 20'",
         "--fault 'delay 20': column 7: expected a time"},
        {"--listen 'tcp|127.0.0.1|0' --upstream 'bogus'", "bad upstream address 'bogus'"},
        {"--listen 'tcp|127.0.0.1|0' --upstream 'tcp|no-such-host.invalid|7'", "cannot resolve host"},
        {"--listen 'tcp|127.0.0.1|0'", "--listen and --upstream are required"},
        {"--listen 'tcp|127.0.0.1|0' --upstream 'tcp|127.0.0.1|1' --at 'soon heal'", "expected 'TIME WORDS'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cmd[600], err[300], log[128];
        tl_proc *p;
        int st = 0;
        snprintf(log, sizeof log, "%s/cli%zu.log", f->dir, i);
        snprintf(cmd, sizeof cmd, "exec '%s' proxy %s", spawn_tofulab(), bad[i].args);
        assert_int_equal(tl_proc_spawn(cmd, log, &p, err, sizeof err), TL_OK);
        for (int k = 0; k < 1000 && tl_proc_running(p, &st); k++) {
            sleep_ms(10);
        }
        assert_false(tl_proc_running(p, &st));
        tl_proc_free(p);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 2);
        FILE *fp = fopen(log, "r");
        assert_non_null(fp);
        char *text = slurp(fp);
        fclose(fp);
        if (strstr(text, bad[i].msg) == NULL || strchr(text, '\n') != text + strlen(text) - 1) {
            fail_msg("%s: got '%s'", bad[i].args, text);
        }
        free(text);
    }
}

/* ---- the control API ---- */

typedef struct {
    int status;
    char body[4096];
} http_reply;

/* One request on its own connection; reads to EOF (Connection: close). The
 * reply is checked by its status line and body text, nothing more. */
static void http(uint16_t port, const char *method, const char *path, const char *body, http_reply *out)
{
    char req[2048], buf[8192];
    size_t n = 0;
    char addr[64];
    snprintf(addr, sizeof addr, "tcp|127.0.0.1|%u", (unsigned)port);
    int fd = connect_tcp(addr);
    int len = snprintf(req, sizeof req,
                       "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: %zu\r\n"
                       "Content-Type: application/json\r\n\r\n%s",
                       method, path, body ? strlen(body) : 0, body ? body : "");
    assert_int_equal(write(fd, req, (size_t)len), len);
    struct pollfd pf = {fd, POLLIN, 0};
    while (n < sizeof buf - 1 && poll(&pf, 1, 5000 * time_scale()) > 0) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &out->status), 1);
    const char *b = strstr(buf, "\r\n\r\n");
    snprintf(out->body, sizeof out->body, "%s", b ? b + 4 : "");
}

static void test_proxy_api_speaks_toxiproxy(void **state)
{
    fixture *f = *state;
    tl_proxy_http *h;
    http_reply r;
    char err[200], body[400];
    assert_int_equal(tl_proxy_http_start(f->px, "127.0.0.1:0", &h, err, sizeof err), TL_OK);
    uint16_t port = tl_proxy_http_port(h);

    http(port, "GET", "/version", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"version\""));
    http(port, "GET", "/proxies", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"tofu\":{\"name\":\"tofu\""));
    assert_non_null(strstr(r.body, "\"enabled\":true"));

    /* a second proxy, as toxiproxy clients create them */
    snprintf(body, sizeof body, "{\"name\":\"second\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"%s\"}",
             "127.0.0.1:9");
    http(port, "POST", "/proxies", body, &r);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body, "\"name\":\"second\""));
    http(port, "POST", "/proxies", body, &r);
    assert_int_equal(r.status, 409);
    http(port, "DELETE", "/proxies/second", NULL, &r);
    assert_int_equal(r.status, 204);
    http(port, "GET", "/proxies/second", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "proxy not found"));

    /* a latency toxic shows in the round trip */
    http(port, "POST", "/proxies/tofu/toxics",
         "{\"type\":\"latency\",\"stream\":\"downstream\",\"attributes\":{\"latency\":150,\"jitter\":0}}",
         &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"name\":\"latency_downstream\""));
    assert_non_null(strstr(r.body, "\"latency\":150"));
    http(port, "GET", "/proxies/tofu/toxics/latency_downstream", NULL, &r);
    assert_int_equal(r.status, 200);
    client_result c;
    run_rr(f->px_addr, 2, 64, 64, 1, 20000 * MS * (uint64_t)time_scale(), &c);
    assert_int_equal(c.rep.answered, 2);
    assert_true(c.rep.latency_sum_ns / c.rep.latency_count >= 150 * MS);
    http(port, "POST", "/proxies/tofu/toxics/latency_downstream", "{\"attributes\":{\"latency\":20}}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"latency\":20"));
    http(port, "DELETE", "/proxies/tofu/toxics/latency_downstream", NULL, &r);
    assert_int_equal(r.status, 204);
    http(port, "GET", "/proxies/tofu/toxics", NULL, &r);
    assert_string_equal(r.body, "[]");

    /* the other toxics' shapes */
    http(port, "POST", "/proxies/tofu/toxics",
         "{\"type\":\"slicer\",\"stream\":\"upstream\",\"attributes\":{\"average_size\":8,\"size_variation\":"
         "3,"
         "\"delay\":10}}",
         &r);
    assert_int_equal(r.status, 200);
    http(port, "POST", "/proxies/tofu/toxics", "{\"type\":\"limit_data\",\"attributes\":{\"bytes\":1000}}",
         &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"stream\":\"downstream\""));
    http(port, "POST", "/proxies/tofu/toxics", "{\"type\":\"limit_data\",\"attributes\":{\"bytes\":1000}}",
         &r);
    assert_int_equal(r.status, 409);
    http(port, "POST", "/proxies/tofu/toxics", "{\"type\":\"nonsense\"}", &r);
    assert_int_equal(r.status, 400);
    http(port, "POST", "/proxies/tofu/toxics", "{\"type\":\"latency\", oops", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "bad request body"));
    http(port, "POST", "/reset", NULL, &r);
    assert_int_equal(r.status, 204);
    http(port, "GET", "/proxies/tofu/toxics", NULL, &r);
    assert_string_equal(r.body, "[]");

    /* tofu's own: fault words, a toxic of our words, connections */
    http(port, "POST", "/proxies/tofu/faults", "hold ByeResponse server->client", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"name\":\"hold_downstream\""));
    http(port, "POST", "/proxies/tofu/faults", "cut frame x", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "column 11"));
    http(port, "POST", "/proxies/tofu/toxics",
         "{\"type\":\"tofu\",\"name\":\"slow-hello\",\"stream\":\"upstream\",\"attributes\":{\"fault\":"
         "\"delay HelloRequest 10ms\"}}",
         &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"fault\":\"delay HelloRequest 10ms\""));
    http(port, "GET", "/proxies/tofu/connections", NULL, &r);
    assert_int_equal(r.status, 200);
    http(port, "POST", "/proxies/tofu", "{\"enabled\":false}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"enabled\":false"));
    run_rr(f->px_addr, 1, 8, 8, 1, 10000 * MS * (uint64_t)time_scale(), &c);
    assert_int_equal(c.es.closed_by[TL_STATUS_CONNECT_FAILED], 1); /* nothing listens */
    http(port, "POST", "/reset", NULL, &r);
    assert_int_equal(r.status, 204);
    run_rr(f->px_addr, 1, 8, 8, 1, 10000 * MS * (uint64_t)time_scale(), &c);
    assert_int_equal(c.rep.answered, 1);
    http(port, "GET", "/nowhere", NULL, &r);
    assert_int_equal(r.status, 404);
    tl_proxy_http_stop(h);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_proxy_no_fault_forwards_every_byte, setup_echo, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_delay_round_trip_within_10_percent, setup_echo, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_slice_one_byte_echoes_correctly, setup_echo, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_slice_at_boundaries_echoes_correctly, setup_echo,
                                        teardown),
        cmocka_unit_test_teardown(test_proxy_blackhole_detected_by_heartbeat_client, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_reset_peer_gives_communication_failed, setup_echo,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proxy_reset_action_gives_communication_failed, setup_echo,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proxy_hold_byeresponse_until_healed, setup_echo, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_cut_inside_header_resets_both_sides, setup_echo, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_inject_signal_reaches_client, setup_echo, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_limit_data_closes_after_n_bytes, setup_echo, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_stall_mid_frame_delays_it, setup_echo, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_rate_limits_the_bandwidth, setup_echo, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_corrupt_flips_bytes_the_client_notices, setup_echo,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proxy_timeout_drops_and_closes, setup_echo, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_delay_op_and_slow_close_leave_their_mark, setup_echo,
                                        teardown),
        cmocka_unit_test_teardown(test_proxy_uds_to_tcp_bridge_echoes, teardown),
        cmocka_unit_test_teardown(test_proxy_seed_gives_same_loss_schedule, teardown),
        cmocka_unit_test_teardown(test_proxy_upstream_refused_logged_one_line, teardown),
        cmocka_unit_test_teardown(test_proxy_malformed_frame_logged_and_forwarded_unchanged, teardown),
        cmocka_unit_test(test_proxy_fault_words_bad_input_names_column),
        cmocka_unit_test_teardown(test_proxy_cli_bad_input_exits_2_with_one_line, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_api_speaks_toxiproxy, setup_echo, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
