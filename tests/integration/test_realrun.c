/*
 * Scenarios with real processes (hosts/realrun.h, `tofulab run`): the
 * shipped files of scenarios-real/ pass against a spawned `tofulab serve`
 * (the binary named by $TOFULAB, default build/tofulab) and fail, naming
 * the oracle that broke, against a deliberately defective peer — this test
 * binary itself, run as `test_realrun --defective-peer ADDR INCARNATION`: a
 * correct echo peer (tests/helpers/defective_peer.c) that loses the first
 * request after it was restarted or resumed. Also: the file format's real
 * nodes, the simulator refusing such files, the runner refusing what real
 * sockets cannot do, and bad commands. Runs that share nothing run in
 * parallel threads to keep the wall time short; every wait is bounded by the
 * file's duration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tofulab/wire.h"

#include "../../hosts/proc.h"
#include "../../hosts/realrun.h"
#include "../../sim/scenario.h"
#include "../helpers/defective_peer.h"

static const char *tofulab_path(void)
{
    const char *p = getenv("TOFULAB");
    return (p != NULL && p[0] != '\0') ? p : "build/tofulab";
}

static char self_path[1024];

/* ---- the defective peer (this binary, run by the scenario) ---- */

/* Set by the main thread, read by the SIGCONT handler on a connection's
 * thread: atomic, so the handler sees the server once it is up. */
static _Atomic(dp_server *) peer;

/* SIGCONT is blocked in every thread but the connections' (defective_peer.c),
 * so the handler runs in the thread that reads the waiting request, first. */
static void on_cont(int sig)
{
    (void)sig;
    dp_server *s = atomic_load(&peer);
    if (s != NULL) {
        dp_server_lose_next(s); /* resumed: the next request is lost */
    }
}

static int defective_peer_main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: test_realrun --defective-peer ADDR INCARNATION\n");
        return 2;
    }
    sigset_t cont;
    sigemptyset(&cont);
    sigaddset(&cont, SIGCONT);
    pthread_sigmask(SIG_BLOCK, &cont, NULL); /* inherited by the server's threads */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_cont;
    sigaction(SIGCONT, &sa, NULL);
    dp_server *s = dp_server_listen(DP_LOSE_REQUEST, argv[2]);
    atomic_store(&peer, s);
    if (s == NULL) {
        fprintf(stderr, "defective peer: cannot listen on %s\n", argv[2]);
        return 1;
    }
    if (atoi(argv[3]) > 1) {
        dp_server_lose_next(s); /* restarted: the first request is lost */
    }
    for (;;) { /* until SIGKILL */
        pause();
    }
}

/* ---- helpers ---- */

static tl_scenario *parse(const char *text)
{
    tl_scenario *scn = NULL;
    tl_scn_error err;
    if (tl_scn_parse(text, strlen(text), "t.scn", &scn, &err) != TL_OK) {
        fail_msg("parse: %u:%u: %s", err.line, err.column, err.message);
    }
    return scn;
}

static void parse_fails(const char *text, unsigned line, unsigned col, const char *msg)
{
    tl_scenario *scn = NULL;
    tl_scn_error err;
    assert_int_equal(tl_scn_parse(text, strlen(text), "t.scn", &scn, &err), TL_E_INVAL);
    if (err.line != line || err.column != col || strstr(err.message, msg) == NULL) {
        fail_msg("got %u:%u: %s; expected %u:%u: ...%s...", err.line, err.column, err.message, line, col,
                 msg);
    }
}

typedef struct {
    const char *file;    /* a scenario file, or */
    const char *text;    /* its text */
    const char *exec;    /* --exec override, or NULL */
    const char *tofulab; /* {tofulab}, default $TOFULAB */
    int rc;
    tl_real_result res;
    char err[1024];
    char *summary;
    size_t summary_len;
} real_job;

static void *run_job(void *arg)
{
    real_job *j = arg;
    tl_scenario *scn = NULL;
    tl_scn_error err;
    int rc = j->file ? tl_scn_load(j->file, &scn, &err)
                     : tl_scn_parse(j->text, strlen(j->text), "t.scn", &scn, &err);
    if (rc != TL_OK) {
        snprintf(j->err, sizeof j->err, "load: %u:%u: %s", err.line, err.column, err.message);
        j->rc = rc;
        return NULL;
    }
    FILE *sum = open_memstream(&j->summary, &j->summary_len);
    tl_real_options o;
    memset(&o, 0, sizeof o);
    o.tofulab = j->tofulab ? j->tofulab : tofulab_path();
    o.summary = sum;
    char exec[1200];
    const char *execs[1];
    if (j->exec != NULL) {
        snprintf(exec, sizeof exec, "server=%s", j->exec);
        execs[0] = exec;
        o.exec = execs;
        o.nexec = 1;
    }
    j->rc = tl_real_run(scn, &o, &j->res, j->err, sizeof j->err);
    fclose(sum);
    if (j->res.logs_kept && j->res.logs[0]) {
        /* a failing run keeps its logs: the test removes them */
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", j->res.logs);
        if (system(cmd) != 0) {
            fprintf(stderr, "cannot remove %s\n", j->res.logs);
        }
    }
    tl_scn_free(scn);
    return NULL;
}

static void run_parallel(real_job *jobs, size_t n)
{
    pthread_t th[8];
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    }
    for (size_t i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
    }
}

static void assert_passed(const real_job *j)
{
    if (j->rc != TL_OK) {
        fail_msg("%s: %s", j->file ? j->file : "t.scn", j->err);
    }
    if (!j->res.r.passed) {
        fail_msg("%s: %s\n%s", j->file ? j->file : "t.scn", j->res.r.first_failure, j->summary);
    }
}

static void free_jobs(real_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].summary);
    }
}

/* ---- the file format ---- */

static void test_realrun_parse_real_nodes_reads_exec_and_external(void **state)
{
    (void)state;
    tl_scenario *scn =
        parse("node server exec \"my-server --listen {addr} --tag \\\"x\\\" #1\" addr=tcp|127.0.0.1|7000 "
              "ready=3s # a comment\n"
              "node other external uds|/run/peer.sock\n"
              "node client\n");
    unsigned line = 0;
    assert_string_equal(tl_scn_real_node(scn, &line), "server");
    assert_int_equal(line, 1);
    assert_int_equal(scn->real_line, 1);
    assert_int_equal(scn->nodes[0].real, SCN_NODE_EXEC);
    assert_string_equal(scn->nodes[0].command, "my-server --listen {addr} --tag \"x\" #1");
    assert_string_equal(scn->nodes[0].addr, "tcp|127.0.0.1|7000");
    assert_int_equal(scn->nodes[0].ready_ns, 3000000000ull);
    assert_int_equal(scn->nodes[1].real, SCN_NODE_EXTERNAL);
    assert_string_equal(scn->nodes[1].addr, "uds|/run/peer.sock");
    assert_int_equal(scn->nodes[2].real, SCN_NODE_SIM);
    tl_scn_free(scn);

    scn = parse("node a\nnode b\n");
    assert_null(tl_scn_real_node(scn, NULL));
    tl_scn_free(scn);

    parse_fails("node s exec my-server\n", 1, 13, "expected a command in double quotes");
    parse_fails("node s exec \"my-server\n", 1, 13, "expected the closing \" of the command");
    parse_fails("node s exec \"\"\n", 1, 13, "expected a command between the quotes");
    parse_fails("node s exec \"x\" port=7\n", 1, 17, "expected addr=ADDR");
    parse_fails("node s exec \"x\" addr=tcp|h\n", 1, 17, "expected addr=ADDR");
    parse_fails("node s exec \"x\" ready=soon\n", 1, 17, "expected addr=ADDR");
    parse_fails("node s external\n", 1, 16, "expected the address it listens on");
    parse_fails("node s external tcp|h|1 more\n", 1, 25, "expected the end of the line");
    parse_fails("node s[1..3] exec \"x\"\n", 1, 6, "a real process (exec, external) is a node of its own");
}

static void test_realrun_sim_refuses_real_files_naming_the_line(void **state)
{
    (void)state;
    tl_scenario *scn = parse("node client\nnode server exec \"x --listen {addr}\"\n"
                             "service client rr connect=tcp|server|7099\n");
    tl_scn_result res;
    assert_int_equal(tl_scn_run(scn, 1, NULL, &res), TL_E_STATE);
    tl_scn_free(scn);

    char dir[] = "/tmp/tofulab-realrun-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[128], log[128], cmd[600], err[200];
    snprintf(file, sizeof file, "%s/real.scn", dir);
    snprintf(log, sizeof log, "%s/out.log", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("node client\n# the server\nnode server exec \"x --listen {addr}\"\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "exec '%s' sim run '%s'", tofulab_path(), file);
    tl_proc *p;
    int st = 0;
    assert_int_equal(tl_proc_spawn(cmd, log, &p, err, sizeof err), TL_OK);
    for (int i = 0; i < 3000 && tl_proc_running(p, &st); i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    assert_false(tl_proc_running(p, &st));
    tl_proc_free(p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    char text[600];
    f = fopen(log, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_non_null(strstr(text, "real.scn:3: node server is a real process"));
    assert_non_null(strstr(text, "`tofulab run"));
    assert_ptr_equal(strchr(text, '\n'), text + n - 1);
    unlink(file);
    unlink(log);
    rmdir(dir);
}

static void check_refuses(const char *text, unsigned line, const char *msg)
{
    tl_scenario *scn = parse(text);
    tl_scn_error err;
    tl_real_options o;
    memset(&o, 0, sizeof o);
    assert_int_equal(tl_real_check(scn, &o, &err), TL_E_INVAL);
    if (err.line != line || strstr(err.message, msg) == NULL) {
        fail_msg("got line %u: %s; expected line %u: ...%s...", err.line, err.message, line, msg);
    }
    tl_scn_free(scn);
}

static void test_realrun_check_refuses_what_real_sockets_cannot_do(void **state)
{
    (void)state;
#define BASE "node server exec \"s {addr}\"\nnode ext external tcp|127.0.0.1|9\nnode client\n"
#define RR   "service client rr connect=tcp|server|7099\n"
    check_refuses(BASE RR "at 1s crash ext\n", 5, "node ext is external");
    check_refuses(BASE RR "at 1s pause client\n", 5, "node client is one of tofulab's own");
    check_refuses(BASE RR "at 1s stop-listener server\n", 5, "stop-listener");
    check_refuses(BASE "service server rr connect=tcp|ext|9\n", 4, "server is a real process");
    check_refuses(BASE "service client echo listen=tcp|client|7099\n", 4, "listens");
    check_refuses(BASE "service client rr connect=tcp|client|7099\n", 4, "must name a real node");
    check_refuses(BASE RR "expect * retransmits == 0\n", 5, "real sockets do not show it");
    check_refuses(BASE RR "expect server closed-by communication_failed\n", 5, "closed-by is counted");
    check_refuses("node a\nnode b\nservice a rr connect=tcp|b|1\nservice b echo listen=tcp|b|1\n", 0,
                  "no node is a real process");
#undef BASE
#undef RR
}

/* ---- real runs ---- */

static void test_realrun_shipped_scenarios_pass_against_tofulab_serve(void **state)
{
    (void)state;
    real_job jobs[3];
    memset(jobs, 0, sizeof jobs);
    jobs[0].file = "scenarios-real/crash-restart.scn";
    jobs[1].file = "scenarios-real/pause-resume.scn";
    jobs[2].file = "scenarios-real/partition-heal.scn";
    run_parallel(jobs, 3);
    for (int i = 0; i < 3; i++) {
        assert_passed(&jobs[i]);
        assert_false(jobs[i].res.logs_kept); /* removed: the run passed */
    }
    /* the crash surfaced on the client, the restart brought the server back */
    assert_non_null(strstr(jobs[0].summary, "ok   expect server incarnation == 2"));
    assert_int_equal(jobs[0].res.spawns, 2);
    assert_non_null(strstr(jobs[1].summary, "ok   expect client latency-max >= 900ms"));
    free_jobs(jobs, 3);
}

static void test_realrun_defective_peer_fails_naming_the_liveness_oracle(void **state)
{
    (void)state;
    char exec[1200];
    snprintf(exec, sizeof exec, "'%s' --defective-peer {addr} {incarnation}", self_path);
    real_job jobs[2];
    memset(jobs, 0, sizeof jobs);
    jobs[0].file = "scenarios-real/crash-restart.scn";
    jobs[1].file = "scenarios-real/pause-resume.scn";
    jobs[0].exec = jobs[1].exec = exec;
    run_parallel(jobs, 2);
    for (int i = 0; i < 2; i++) {
        if (jobs[i].rc != TL_OK) {
            fail_msg("%s: %s", jobs[i].file, jobs[i].err);
        }
        assert_false(jobs[i].res.r.passed);
        assert_true(jobs[i].res.logs_kept);
    }
    /* after the restart, the first request of the client started then is lost */
    if (strstr(jobs[0].summary, "client/after: liveness: 1 request(s) open and none answered or failed") ==
        NULL) {
        fail_msg("%s", jobs[0].summary);
    }
    assert_non_null(strstr(jobs[0].summary, "FAIL expect client/after answered == 50"));
    /* after the resume, the next request is lost */
    if (strstr(jobs[1].summary, "client/request-response: liveness: 1 request(s) open") == NULL) {
        fail_msg("%s", jobs[1].summary);
    }
    free_jobs(jobs, 2);
}

/* The faketime wrapper's objects in /dev/shm (one per live wrapper). */
static int faketime_objects(void)
{
    int n = 0;
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        n += strncmp(e->d_name, "faketime_shm_", 13) == 0;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static void test_realrun_heartbeat_scenarios_detect_within_the_bound(void **state)
{
    (void)state;
    real_job jobs[2];
    memset(jobs, 0, sizeof jobs);
    jobs[0].file = "scenarios-real/silent-death-heartbeat.scn";
    /* heartbeats ten times faster under libfaketime; an ASan build hangs
     * under its preload (ci/check.sh): the normal build is the peer then */
    const char *fb = getenv("TOFULAB_FAKETIME_BIN");
    jobs[1].tofulab = fb != NULL && fb[0] ? fb : NULL;
    jobs[1].file = "scenarios-real/heartbeat-faketime.scn";
    int shm_before = faketime_objects();
    run_parallel(jobs, 2);
    /* the wrapper killed with its node leaves no semaphore or shared memory
     * behind (a later wrapper with its PID could not start: hosts/proc.c) */
    assert_true(faketime_objects() <= shm_before);
    for (int i = 0; i < 2; i++) {
        assert_passed(&jobs[i]);
        assert_non_null(strstr(jobs[i].summary, "ok   expect client deaths == 1"));
    }
    free_jobs(jobs, 2);
}

static void test_realrun_command_that_dies_at_once_is_named(void **state)
{
    (void)state;
    real_job j;
    memset(&j, 0, sizeof j);
    j.text = "duration 2s\nnode server exec \"no-such-command-tofulab --listen {addr}\"\nnode client\n"
             "service client rr connect=tcp|server|7099\n";
    run_job(&j);
    assert_int_equal(j.rc, TL_E_IO);
    if (strstr(j.err, "node server: 'no-such-command-tofulab --listen 'tcp|127.0.0.1|") == NULL ||
        strstr(j.err, "exited at once (exit status 127)") == NULL || strchr(j.err, '\n') != NULL) {
        fail_msg("%s", j.err);
    }
    free(j.summary);
}

static void test_realrun_cli_writes_summary_json_and_junit(void **state)
{
    (void)state;
    char dir[] = "/tmp/tofulab-realrun-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[128], out[128], json[128], junit[128], cmd[1200], err[200];
    snprintf(file, sizeof file, "%s/pause.scn", dir);
    snprintf(out, sizeof out, "%s/out.log", dir);
    snprintf(json, sizeof json, "%s/run.json", dir);
    snprintf(junit, sizeof junit, "%s/run.xml", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("duration 3s\nnode server exec \"{tofulab} serve --listen {addr}\"\nnode client\n"
          "link client server delay 2ms\n"
          "service client rr connect=tcp|server|7099 count=30\n"
          "at 100ms pause server\nat 300ms resume server\n"
          "expect client answered == 30\nreport client latency-max\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "exec '%s' run '%s' --json '%s' --junit '%s' --seed 4", tofulab_path(), file,
             json, junit);
    tl_proc *p;
    int st = 0;
    assert_int_equal(tl_proc_spawn(cmd, out, &p, err, sizeof err), TL_OK);
    for (int i = 0; i < 6000 && tl_proc_running(p, &st); i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    assert_false(tl_proc_running(p, &st));
    tl_proc_free(p);
    char text[8192];
    f = fopen(out, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fail_msg("exit %d: %s", st, text);
    }
    assert_non_null(strstr(text, "(real processes, seed 4, duration 3s)"));
    assert_non_null(strstr(text, "ok   expect client answered == 30"));
    assert_non_null(strstr(text, "report client latency-max = "));
    assert_non_null(strstr(text, "result: PASS"));
    f = fopen(json, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_non_null(strstr(text, "{\"seed\":4,\"result\":\"PASS\""));
    assert_non_null(strstr(text, "\"real\":true,\"spawns\":1"));
    /* every Response was matched against what the peer wrote, none out of place */
    const char *fc = strstr(text, "\"fifo_checks\":");
    assert_non_null(fc);
    assert_true(strtoull(fc + 14, NULL, 10) >= 30);
    assert_non_null(strstr(text, "\"oracle_violations\":0"));
    f = fopen(junit, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_non_null(strstr(text, "tests=\"1\" failures=\"0\""));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--defective-peer") == 0) {
        return defective_peer_main(argc, argv);
    }
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n <= 0) {
        fprintf(stderr, "test_realrun: cannot find its own path\n");
        return 1;
    }
    self_path[n] = '\0';
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_realrun_parse_real_nodes_reads_exec_and_external),
        cmocka_unit_test(test_realrun_sim_refuses_real_files_naming_the_line),
        cmocka_unit_test(test_realrun_check_refuses_what_real_sockets_cannot_do),
        cmocka_unit_test(test_realrun_shipped_scenarios_pass_against_tofulab_serve),
        cmocka_unit_test(test_realrun_defective_peer_fails_naming_the_liveness_oracle),
        cmocka_unit_test(test_realrun_heartbeat_scenarios_detect_within_the_bound),
        cmocka_unit_test(test_realrun_command_that_dies_at_once_is_named),
        cmocka_unit_test(test_realrun_cli_writes_summary_json_and_junit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
