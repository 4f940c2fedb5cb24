/*
 * `tofulab fuzz-peer` against real peers over Unix sockets.
 *
 * Deliberately broken peers (tests/helpers/defective_peer.h, run as a process
 * of their own: tests/tools/defective-peer, spawned by the fuzzer) must each
 * be found within a stated time, by the right oracle, minimised, saved and
 * replayable:
 *   abort on an op code above 9            crash (SIGABRT and its panic line)
 *   SIGSEGV on text headers > 60,000 bytes crash (no report on stderr)
 *   hang after a second HelloRequest       hang
 *   wrong message_id after a streamed one  echo
 * and against `tofulab serve` (the binary named by $TOFULAB) and the correct
 * defective peer nothing may be found. Then the command line: its bad-input
 * errors (exit 2, one line naming what and where), --help, the summary, JUnit,
 * the saved corpus and a finding's replay command.
 *
 * Time: each defect is stated to be found within FIND_S seconds (in practice
 * well under one); bounds grow under $TOFULAB_CHECK (ASan x4, Valgrind x10),
 * since the fuzzer then runs inside the sanitizer. The peers are never under
 * a sanitizer's slow-down of their own making.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../fuzzpeer/fuzzpeer.h"
#include "../helpers/defective_peer.h"
#include "../helpers/spawn.h"

#define FIND_S 10u /* each defect is found within this many seconds (times scale()) */

static unsigned scale(void)
{
    const char *c = getenv("TOFULAB_CHECK");

    if (c == NULL || c[0] == '\0') {
        return 1u;
    }
    return strcmp(c, "valgrind") == 0 ? 10u : 4u;
}

/* tests/tools/defective-peer beside this binary (build/tests or build-asan/tests). */
static void peer_path(char *out, size_t cap)
{
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    char *slash;

    assert_true(n > 0);
    self[n] = '\0';
    slash = strrchr(self, '/');
    assert_non_null(slash);
    *slash = '\0';
    snprintf(out, cap, "%s/tools/defective-peer", self);
    assert_int_equal(access(out, X_OK), 0);
}

typedef struct {
    char dir[128];
    char sock[200];
    char addr[220];
    char out[200];
    char spawn[900];
    FILE *log;
} env;

static void env_init(env *e, const char *defect)
{
    char tmpl[] = "/tmp/test_fuzz_peer.XXXXXX";
    char dp[600];

    memset(e, 0, sizeof *e);
    assert_non_null(mkdtemp(tmpl));
    snprintf(e->dir, sizeof e->dir, "%s", tmpl);
    snprintf(e->sock, sizeof e->sock, "%s/peer.sock", e->dir);
    snprintf(e->addr, sizeof e->addr, "uds|%s", e->sock);
    snprintf(e->out, sizeof e->out, "%s/out", e->dir);
    if (defect != NULL) {
        peer_path(dp, sizeof dp);
        /* Without exec for one of them: then sh reports the signal as exit
         * status 128+N, and the fuzzer must still call it a signal. */
        snprintf(e->spawn, sizeof e->spawn, "%s'%s' --defect %s --listen '%s'",
                 strcmp(defect, "crash-big-text") == 0 ? "" : "exec ", dp, defect, e->addr);
    } else {
        snprintf(e->spawn, sizeof e->spawn, "exec '%s' serve --listen '%s'", spawn_tofulab(), e->addr);
    }
    e->log = tmpfile();
    assert_non_null(e->log);
}

static void show_log(env *e);

static void env_free(env *e)
{
    char cmd[300];

    if (getenv("FP_TEST_VERBOSE") != NULL) {
        show_log(e);
    }
    fclose(e->log);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    assert_int_equal(system(cmd), 0);
}

/* The fuzzer's own log, for a failed assertion's context. */
static void show_log(env *e)
{
    char line[600];

    rewind(e->log);
    while (fgets(line, sizeof line, e->log) != NULL) {
        fprintf(stderr, "  | %s", line);
    }
}

static void options(env *e, tl_fuzzpeer_options *o)
{
    memset(o, 0, sizeof *o);
    assert_int_equal(tl_address_parse(e->addr, strlen(e->addr), &o->peer), TL_OK);
    o->spawn = e->spawn;
    o->seed = 1;
    o->out_dir = e->out;
    o->log = e->log;
    o->startup_ms = 10000u * scale();
    o->liveness_ms = 2000u * scale();
    o->minimize_ms = 10000u * scale();
    o->verbose = getenv("FP_TEST_VERBOSE") != NULL;
}

static int file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char buf[8192];
    size_t n;

    if (f == NULL) {
        return 0;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* Fuzz a defective peer until the first finding; check what was found, the
 * time it took, the saved files, and that the saved reproducer replays. */
static void find_defect(const char *defect, tl_fp_oracle oracle, const char *sig_part, unsigned hang_ms,
                        size_t max_frames, const tl_fuzzpeer_finding **out_f, env *e, tl_fuzzpeer_report *rep)
{
    tl_fuzzpeer_options o;
    char err[600] = "", path[900];
    const tl_fuzzpeer_finding *f;
    int rc;

    env_init(e, defect);
    options(e, &o);
    o.time_ms = (uint64_t)FIND_S * 1000u * scale();
    o.max_findings = 1;
    o.hang_ms = hang_ms;
    rc = tl_fuzzpeer_run(&o, rep, err, sizeof err);
    if (rc != TL_OK || rep->finding_count != 1) {
        show_log(e);
        fail_msg("%s: rc %d (%s), %zu findings in %llu cases", defect, rc, err, rep->finding_count,
                 (unsigned long long)rep->cases);
    }
    f = &rep->findings[0];
    if (f->oracle != oracle || strstr(f->signature, sig_part) == NULL) {
        show_log(e);
        fail_msg("%s: found %s '%s', want %s with '%s'", defect, tl_fuzzpeer_oracle_name(f->oracle),
                 f->signature, tl_fuzzpeer_oracle_name(oracle), sig_part);
    }
    /* The stated bound (the run would have ended there anyway). */
    assert_true(f->first_ms <= (uint64_t)FIND_S * 1000u * scale());
    print_message(
        "    %s: %s after %llu ms (case %llu), %s, minimised to %zu frame(s), %zu bytes (from %zu)\n", defect,
        tl_fuzzpeer_oracle_name(f->oracle), (unsigned long long)f->first_ms,
        (unsigned long long)f->first_case, f->signature, f->frames, f->bytes, f->bytes_before);
    assert_int_equal(f->minimized, 1);
    assert_int_equal(f->conns, 1);
    assert_true(f->frames >= 1 && f->frames <= max_frames);
    assert_true(f->bytes <= f->bytes_before);
    snprintf(path, sizeof path, "%s/conn-1.bin", f->dir);
    assert_int_equal(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/finding.txt", f->dir);
    assert_true(file_has(path, "replay:"));
    assert_true(file_has(path, "tofulab fuzz-peer --replay"));
    snprintf(path, sizeof path, "%s/summary.txt", e->out);
    assert_true(file_has(path, f->signature));
    *out_f = f;
}

static void replays(env *e, const tl_fuzzpeer_finding *f, unsigned hang_ms)
{
    tl_fuzzpeer_options o;
    tl_fuzzpeer_finding again;
    char file[900], err[600] = "";
    const char *files[1];
    int failed = 0;

    options(e, &o);
    o.hang_ms = hang_ms;
    snprintf(file, sizeof file, "%s/conn-1.bin", f->dir);
    files[0] = file;
    assert_int_equal(tl_fuzzpeer_replay(&o, files, 1, &failed, &again, err, sizeof err), TL_OK);
    assert_true(failed);
    assert_int_equal(again.oracle, f->oracle);
    assert_string_equal(again.signature, f->signature);
}

static void test_fuzz_peer_abort_on_opcode_above_9_is_a_crash(void **state)
{
    tl_fuzzpeer_report *rep = calloc(1, sizeof *rep);
    const tl_fuzzpeer_finding *f;
    env e;

    (void)state;
    assert_non_null(rep);
    find_defect("abort-opcode", TL_FP_CRASH, "signal 6 (SIGABRT): thread # panic: switch on corrupt value", 0,
                1, &f, &e, rep);
    assert_int_equal(f->bytes, 16); /* one bare header with op code 10-15 */
    assert_non_null(strstr(f->stderr_line, "panic: switch on corrupt value"));
    replays(&e, f, 0);
    env_free(&e);
    free(rep);
}

static void test_fuzz_peer_crash_on_big_text_headers_is_a_crash(void **state)
{
    tl_fuzzpeer_report *rep = calloc(1, sizeof *rep);
    const tl_fuzzpeer_finding *f;
    env e;

    (void)state;
    assert_non_null(rep);
    find_defect("crash-big-text", TL_FP_CRASH, "SEGV", 0, 1, &f, &e, rep);
    /* one frame whose text headers are just past 60,000 bytes */
    assert_true(f->bytes >= 16u + 60001u && f->bytes <= 16u + 65535u + 16u);
    replays(&e, f, 0);
    env_free(&e);
    free(rep);
}

static void test_fuzz_peer_hang_after_second_hello_is_a_hang(void **state)
{
    tl_fuzzpeer_report *rep = calloc(1, sizeof *rep);
    const tl_fuzzpeer_finding *f;
    unsigned hang_ms =
        300u * (scale() < 4u ? scale() : 4u); /* the peer is native: no need for Valgrind's x10 */
    env e;

    (void)state;
    assert_non_null(rep);
    find_defect("hang-hello2", TL_FP_HANG, "hang: no reply to a HelloRequest", hang_ms, 2, &f, &e, rep);
    assert_int_equal(f->frames, 2);        /* two HelloRequests */
    assert_int_equal(rep->stops_total, 0); /* a hung connection is no stop of the peer */
    replays(&e, f, hang_ms);
    env_free(&e);
    free(rep);
}

static void test_fuzz_peer_wrong_id_after_streamed_request_is_an_echo_finding(void **state)
{
    tl_fuzzpeer_report *rep = calloc(1, sizeof *rep);
    const tl_fuzzpeer_finding *f;
    env e;

    (void)state;
    assert_non_null(rep);
    find_defect("wrong-id-after-more", TL_FP_ECHO, "message_id #, expected #", 0, 2, &f, &e, rep);
    assert_non_null(strstr(f->detail, "the request's (section 7)"));
    replays(&e, f, 0);
    env_free(&e);
    free(rep);
}

/* Nothing is found against correct peers. */
static void no_findings(const char *defect, int spawn, uint64_t time_ms, size_t corpus_max)
{
    tl_fuzzpeer_report *rep = calloc(1, sizeof *rep);
    tl_fuzzpeer_options o;
    char err[600] = "";
    FILE *pid_file = NULL;
    env e;
    int rc;

    assert_non_null(rep);
    env_init(&e, defect);
    options(&e, &o);
    o.time_ms = time_ms;
    o.seed = 5;
    o.corpus[0] = "fuzz/corpus";
    o.corpus_count = 1;
    o.dict = "fuzz/dict/tofu.dict";
    o.corpus_max_bytes = corpus_max;
    /* Generous bounds: a correct peer answers at once, so they cost nothing,
     * and a loaded machine must not turn a slow reply into a finding. */
    o.hang_ms = 5000u * scale();
    o.liveness_ms = 5000u * scale();
    if (!spawn) {
        /* The same command in the background, not spawned: cases that would
         * stop it are withheld. */
        char cmd[1600], pidp[300];
        pid_t pid = 0;

        snprintf(pidp, sizeof pidp, "%s/pid", e.dir);
        snprintf(cmd, sizeof cmd, "(%s) >/dev/null 2>&1 & echo $! >'%s'", e.spawn, pidp);
        assert_int_equal(system(cmd), 0);
        pid_file = fopen(pidp, "r");
        assert_non_null(pid_file);
        assert_int_equal(fscanf(pid_file, "%d", &pid), 1);
        fclose(pid_file);
        o.spawn = NULL;
        {
            int tries;

            for (tries = 0; tries < 500 && access(e.sock, F_OK) != 0; tries++) {
                struct timespec ts = {0, 10000000L};

                nanosleep(&ts, NULL);
            }
        }
        rc = tl_fuzzpeer_run(&o, rep, err, sizeof err);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        assert_true(rep->withheld > 0);
    } else {
        rc = tl_fuzzpeer_run(&o, rep, err, sizeof err);
    }
    if (rc != TL_OK || rep->finding_count != 0) {
        show_log(&e);
        fail_msg("%s: rc %d (%s), %zu findings, first: %s", defect != NULL ? defect : "serve", rc, err,
                 rep->finding_count, rep->finding_count ? rep->findings[0].detail : "");
    }
    print_message(
        "    %s%s: %llu cases (%.0f/s), %llu replies, %llu restarts, %llu expected stops, nothing found\n",
        defect != NULL ? defect : "serve", spawn ? " (spawned)" : "", (unsigned long long)rep->cases,
        rep->cases_per_s, (unsigned long long)rep->replies, (unsigned long long)rep->restarts,
        (unsigned long long)rep->stops_total);
    assert_true(rep->cases > 20);
    assert_true(rep->replies > rep->cases); /* the barrier and most frames were answered */
    assert_false(rep->peer_lost);
    if (corpus_max != 0) {
        /* The fuzzer's own memory stays bounded: the working corpus (the
         * built-in and loaded seeds are kept whatever the bound) and the
         * reply patterns. */
        assert_true(rep->corpus_new > 0);
        assert_true(rep->corpus_new_bytes > 0 && rep->corpus_new_bytes <= corpus_max);
        assert_true(rep->patterns < 65536);
    }
    env_free(&e);
    free(rep);
}

static void test_fuzz_peer_serve_spawned_nothing_found(void **state)
{
    (void)state;
    no_findings(NULL, 1, 2000, 256u * 1024u);
}

static void test_fuzz_peer_serve_running_nothing_found(void **state)
{
    (void)state;
    no_findings(NULL, 0, 1000, 0);
}

static void test_fuzz_peer_correct_defective_peer_nothing_found(void **state)
{
    (void)state;
    no_findings("correct", 1, 1000, 0);
}

/* A peer that closes its connection as soon as its ByeResponse is out (as
 * `tofulab serve` does when echoes pile up behind it) while the fuzzer is
 * still writing the case byte by byte: a write then fails with EPIPE, and
 * the replies the peer wrote before closing are still to be read. The
 * fuzzer used to stop at the failed write and report "the connection closed
 * before the reply" (found by a 60 s run against serve). The close and the
 * write race, so the case is replayed many times; each replay must pass. */
static void test_fuzz_peer_close_after_bye_response_during_write_not_a_finding(void **state)
{
    tl_fuzzpeer_options o;
    tl_fuzzpeer_finding f;
    char err[600] = "", addr[300], file[300], plan[300];
    static uint8_t bytes[4096];
    size_t len = 0;
    env e;
    int replays = 150 / (int)scale() + 10;

    (void)state;
    env_init(&e, NULL);
    dp_server *s = dp_server_start(DP_BYE_CLOSES, e.sock, addr, sizeof addr);
    assert_non_null(s);
    {
        char text[340];
        tl_header h = {0x1A2B, TL_OP_HELLO_REQUEST, 0, 1, 0, 0};
        int n;

        snprintf(text, sizeof text, "~connect_to:%s\r\n", addr);
        n = tl_frame_encode(&h, (const uint8_t *)text, strlen(text), NULL, 0, bytes, sizeof bytes);
        assert_true(n > 0);
        len += (size_t)n;
        h.proto = TL_OP_BYE_REQUEST;
        h.message_id = 2;
        n = tl_frame_encode(&h, NULL, 0, NULL, 0, bytes + len, sizeof bytes - len);
        assert_true(n > 0);
        len += (size_t)n;
        for (uint64_t id = 3; id < 80; id++) {
            h.proto = TL_OP_SIGNAL; /* sent after the ByeRequest: never answered (6.6) */
            h.message_id = id;
            n = tl_frame_encode(&h, NULL, 0, NULL, 0, bytes + len, sizeof bytes - len);
            assert_true(n > 0);
            len += (size_t)n;
        }
    }
    snprintf(file, sizeof file, "%s/conn-1.bin", e.dir);
    snprintf(plan, sizeof plan, "%s/conn-1.plan", e.dir);
    {
        FILE *fb = fopen(file, "wb"), *fp = fopen(plan, "w");

        assert_non_null(fb);
        assert_non_null(fp);
        assert_int_equal(fwrite(bytes, 1, len, fb), len);
        fputs("bytewise\nend fin\n", fp);
        fclose(fb);
        fclose(fp);
    }
    options(&e, &o);
    o.spawn = NULL;
    o.hang_ms = 5000u * scale();
    for (int i = 0; i < replays; i++) {
        const char *files[1] = {file};
        int failed = 0;

        memset(&f, 0, sizeof f);
        assert_int_equal(tl_fuzzpeer_replay(&o, files, 1, &failed, &f, err, sizeof err), TL_OK);
        if (failed) {
            dp_server_stop(s);
            fail_msg("replay %d of %d: %s", i + 1, replays, f.detail);
        }
    }
    print_message("    %d replays of a close after ByeResponse during the case's writes: nothing found\n",
                  replays);
    dp_server_stop(s);
    env_free(&e);
}
/* `optional` frames with the origin bit (tofu ignores them, the reference
 * engine clears the bit and echoes them: each reply optional), then the same
 * Request without it and a Signal, replayed against a peer that ignores them
 * (DP_CORRECT, tofu's way) or against `tofulab serve` (which echoes them all).
 * Either is correct; the matcher must keep every reading consistent with the
 * replies. */
static void optional_replies(int optional, int serve)
{
    tl_fuzzpeer_options o;
    tl_fuzzpeer_finding f;
    char err[600] = "", addr[300], file[300];
    static uint8_t bytes[64 * 1024];
    const uint8_t body[2] = {0, 2};
    size_t len = 0;
    env e;
    int n, failed = 0;
    dp_server *s = NULL;

    env_init(&e, NULL);
    if (!serve) {
        s = dp_server_start(DP_CORRECT, e.sock, addr, sizeof addr);
        assert_non_null(s);
    }
    for (int i = 0; i <= optional; i++) {
        tl_header h = {0x3A00, (uint8_t)(TL_OP_REQUEST | (i < optional ? TL_PROTO_ORIGIN : 0u)),
                       0,      0x032B1A000000C000ull,
                       0,      0};
        n = tl_frame_encode(&h, NULL, 0, body, sizeof body, bytes + len, sizeof bytes - len);
        assert_true(n > 0);
        len += (size_t)n;
    }
    {
        tl_header h = {0x1A2B, TL_OP_SIGNAL, 32, 9, 0, 0};
        n = tl_frame_encode(&h, NULL, 0, NULL, 0, bytes + len, sizeof bytes - len);
        assert_true(n > 0);
        len += (size_t)n;
    }
    snprintf(file, sizeof file, "%s/conn-1.bin", e.dir);
    {
        FILE *fb = fopen(file, "wb");

        assert_non_null(fb);
        assert_int_equal(fwrite(bytes, 1, len, fb), len);
        fclose(fb);
    }
    options(&e, &o);
    if (!serve) {
        o.spawn = NULL;
    }
    o.hang_ms = 5000u * scale();
    {
        const char *files[1] = {file};

        memset(&f, 0, sizeof f);
        assert_int_equal(tl_fuzzpeer_replay(&o, files, 1, &failed, &f, err, sizeof err), TL_OK);
    }
    if (s != NULL) {
        dp_server_stop(s);
    }
    if (failed) {
        fail_msg("%d optional frames, %s: a correct peer was reported: %s", optional,
                 serve ? "serve" : "a peer that ignores them", f.detail);
    }
    env_free(&e);
}

/* Seventeen: the matcher once kept 16 readings and dropped the one in which
 * the first reply is the last Request's echo (the correct peer was reported,
 * found by the test above). Three hundred against serve: up to 300 readings
 * at once, each reply now checked against each frame once in position order
 * rather than once per reading (fuzzpeer/cases-uds in `make bench` shows
 * the speed). */
static void test_fuzz_peer_many_optional_replies_in_a_row_not_a_finding(void **state)
{
    (void)state;
    optional_replies(17, 0);
    optional_replies(17, 1);
    optional_replies(300, 0);
    optional_replies(300, 1);
}

/* --no-echo: a peer that does not run EchoService is judged on crashes,
 * liveness and HelloResponses only: a reply body that is not the header copy
 * (an echo-only defect) goes unreported, while a peer that stops answering
 * HelloRequests is still a hang. */
static void test_fuzz_peer_no_echo_judges_hello_only(void **state)
{
    tl_fuzzpeer_report *rep = calloc(1, sizeof *rep);
    tl_fuzzpeer_options o;
    char err[600] = "";
    env e;

    (void)state;
    assert_non_null(rep);
    env_init(&e, "echo-body");
    options(&e, &o);
    o.oracles = TL_FP_ORACLE_ALL & ~TL_FP_ORACLE_ECHO;
    o.time_ms = 1000;
    o.hang_ms = 5000u * scale();
    o.liveness_ms = 5000u * scale();
    assert_int_equal(tl_fuzzpeer_run(&o, rep, err, sizeof err), TL_OK);
    if (rep->finding_count != 0) {
        show_log(&e);
        fail_msg("--no-echo: %s", rep->findings[0].detail);
    }
    assert_true(rep->cases > 20);
    env_free(&e);

    env_init(&e, "hang-hello2");
    options(&e, &o);
    o.oracles = TL_FP_ORACLE_ALL & ~TL_FP_ORACLE_ECHO;
    o.time_ms = (uint64_t)FIND_S * 1000u * scale();
    o.max_findings = 1;
    o.no_minimize = 1;
    o.hang_ms = 300u * (scale() < 4u ? scale() : 4u);
    assert_int_equal(tl_fuzzpeer_run(&o, rep, err, sizeof err), TL_OK);
    assert_int_equal(rep->finding_count, 1);
    assert_int_equal(rep->findings[0].oracle, TL_FP_HANG);
    assert_int_equal(rep->findings[0].minimized, 0);
    env_free(&e);
    free(rep);
}

/* ---- the command line ---- */

/* Run a shell command; returns its exit status, stdout and stderr in files. */
static int sh(env *e, const char *cmd)
{
    char full[3000];
    int st;

    snprintf(full, sizeof full, "%s >'%s/stdout' 2>'%s/stderr'", cmd, e->dir, e->dir);
    st = system(full);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static char *slurp(env *e, const char *name)
{
    char path[300];
    FILE *f;
    char *buf = calloc(1, 65536);
    size_t n;

    assert_non_null(buf);
    snprintf(path, sizeof path, "%s/%s", e->dir, name);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Exit 2 and exactly one line on stderr containing want. */
static void bad_input(env *e, const char *args, const char *want)
{
    char cmd[2500];
    char *err;
    int rc;

    snprintf(cmd, sizeof cmd, "'%s' fuzz-peer %s", spawn_tofulab(), args);
    rc = sh(e, cmd);
    err = slurp(e, "stderr");
    if (rc != 2 || strstr(err, want) == NULL || strchr(err, '\n') != err + strlen(err) - 1) {
        fail_msg("fuzz-peer %s: exit %d, stderr '%s'; want exit 2 and one line with '%s'", args, rc, err,
                 want);
    }
    free(err);
}

static void test_fuzz_peer_cli_bad_input_exits_2_naming_what_and_where(void **state)
{
    char args[2000], path[300];
    env e;

    (void)state;
    env_init(&e, NULL);
    /* an unreachable peer */
    snprintf(args, sizeof args, "--peer 'uds|%s/nobody.sock' --time 1s --out '%s'", e.dir, e.out);
    snprintf(path, sizeof path, "cannot reach the peer at uds|%s/nobody.sock", e.dir);
    bad_input(&e, args, path);
    /* a spawn command that fails, and one that does not exist */
    snprintf(args, sizeof args, "--peer '%s' --spawn 'echo no such luck >&2; exit 3' --time 1s --out '%s'",
             e.addr, e.out);
    bad_input(&e, args,
              "--spawn 'echo no such luck >&2; exit 3' ended (exit status 3) before the peer answered");
    snprintf(args, sizeof args, "--peer '%s' --spawn '%s/no-such-peer' --time 1s --out '%s'", e.addr, e.dir,
             e.out);
    bad_input(&e, args, "no-such-peer");
    /* a corrupt corpus file */
    snprintf(path, sizeof path, "%s/corpus", e.dir);
    assert_int_equal(mkdir(path, 0777), 0);
    snprintf(path, sizeof path, "%s/corpus/fp-0123456789abcdef", e.dir);
    {
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        fputs("cut short", f);
        fclose(f);
    }
    snprintf(args, sizeof args, "--peer '%s' --spawn \"%s\" --corpus '%s/corpus' --out '%s'", e.addr, e.spawn,
             e.dir, e.out);
    bad_input(&e, args, path);
    snprintf(args, sizeof args, "--peer '%s' --corpus '%s/none' --out '%s'", e.addr, e.dir, e.out);
    snprintf(path, sizeof path, "cannot open corpus directory %s/none", e.dir);
    bad_input(&e, args, path);
    /* a dictionary with an error: file:line:column */
    snprintf(path, sizeof path, "%s/bad.dict", e.dir);
    {
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        fputs("ok=\"a\"\nbad=\"b\n", f);
        fclose(f);
    }
    snprintf(args, sizeof args, "--peer '%s' --dict '%s' --out '%s'", e.addr, path, e.out);
    strncat(path, ":2:7: the value has no closing", sizeof path - strlen(path) - 1);
    bad_input(&e, args, path);
    /* an out directory that cannot be written (a file in the way) */
    snprintf(args, sizeof args, "--peer '%s' --out '%s/bad.dict/out'", e.addr, e.dir);
    snprintf(path, sizeof path, "cannot create out directory %s/bad.dict", e.dir);
    bad_input(&e, args, path);
    /* a JUnit file that cannot be written */
    snprintf(args, sizeof args, "--peer '%s' --spawn \"%s\" --junit '%s/no/dir/x.xml' --out '%s'", e.addr,
             e.spawn, e.dir, e.out);
    bad_input(&e, args, "cannot write JUnit file");
    /* a replay file that is not there, a plan that does not parse */
    snprintf(args, sizeof args, "--replay '%s/none.bin' --peer '%s'", e.dir, e.addr);
    snprintf(path, sizeof path, "cannot read replay file %s/none.bin", e.dir);
    bad_input(&e, args, path);
    snprintf(path, sizeof path, "%s/conn-1.bin", e.dir);
    {
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        fclose(f);
        snprintf(path, sizeof path, "%s/conn-1.plan", e.dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("cut 4\nstall 9\n", f);
        fclose(f);
    }
    snprintf(args, sizeof args, "--replay '%s/conn-1.bin' --peer '%s'", e.dir, e.addr);
    strncat(path, ":2:8: stall needs milliseconds", sizeof path - strlen(path) - 1);
    bad_input(&e, args, path);
    /* usage */
    bad_input(&e, "--time 1s", "no --peer address");
    bad_input(&e, "--peer 'tcp|host'", "bad --peer address 'tcp|host'");
    bad_input(&e, "--peer 'uds|/x' --time soon", "--time 'soon' is not a time");
    bad_input(&e, "--peer 'uds|/x' --connections 9", "--connections '9' is not a number (0-8)");
    bad_input(&e, "--peer 'uds|/x' --frobnicate", "unknown option '--frobnicate'");
    env_free(&e);
}

static void test_fuzz_peer_cli_help_documents_every_option(void **state)
{
    static const char *const opts[] = {
        "--peer",
        "--spawn",
        "--time",
        "--runs",
        "--seed",
        "--corpus",
        "--dict",
        "--save-corpus",
        "--out",
        "--junit",
        "--max-findings",
        "--connections",
        "--liveness-every",
        "--liveness-timeout",
        "--hang-timeout",
        "--startup-timeout",
        "--minimize-time",
        "--no-minimize",
        "--no-echo",
        "--max-corpus-mb",
        "--replay",
        "--verbose",
    };
    char cmd[600];
    char *out;
    size_t i;
    env e;

    (void)state;
    env_init(&e, NULL);
    snprintf(cmd, sizeof cmd, "'%s' fuzz-peer --help", spawn_tofulab());
    assert_int_equal(sh(&e, cmd), 0);
    out = slurp(&e, "stdout");
    for (i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        if (strstr(out, opts[i]) == NULL) {
            fail_msg("fuzz-peer --help does not mention %s", opts[i]);
        }
    }
    assert_non_null(strstr(out, "exit status"));
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' --help", spawn_tofulab());
    assert_int_equal(sh(&e, cmd), 0);
    out = slurp(&e, "stdout");
    assert_non_null(strstr(out, "fuzz-peer"));
    free(out);
    env_free(&e);
}

/* The whole loop from the command line: findings (exit 1), the summary,
 * JUnit, the saved corpus reused, and the replay command a finding prints. */
static void test_fuzz_peer_cli_finding_summary_junit_corpus_and_replay(void **state)
{
    char cmd[4000], bindir[300], junit[300], saved[300], finding[600];
    char *out, *line, *end;
    env e;

    (void)state;
    env_init(&e, "wrong-id-after-more");
    snprintf(junit, sizeof junit, "%s/fuzz.xml", e.dir);
    snprintf(saved, sizeof saved, "%s/saved", e.dir);
    snprintf(cmd, sizeof cmd,
             "'%s' fuzz-peer --peer '%s' --spawn \"%s\" --time %us --seed 3 --max-findings 1 --out '%s' "
             "--junit '%s' --save-corpus '%s' --minimize-time %us",
             spawn_tofulab(), e.addr, e.spawn, FIND_S * scale(), e.out, junit, saved, 10u * scale());
    assert_int_equal(sh(&e, cmd), 1);
    out = slurp(&e, "stdout");
    assert_non_null(strstr(out, "F1   echo"));
    assert_non_null(strstr(out, "result: FINDINGS"));
    assert_non_null(strstr(out, "replay: tofulab fuzz-peer --replay"));
    free(out);
    assert_true(file_has(junit, "<failure type=\"echo\""));
    assert_true(file_has(junit, "crash: nothing found in"));
    /* the saved corpus loads as a corpus (hashes match the names) */
    snprintf(cmd, sizeof cmd,
             "'%s' fuzz-peer --peer '%s' --spawn \"%s\" --runs 40 --seed 4 --corpus '%s' --out '%s/out2' "
             "--no-minimize",
             spawn_tofulab(), e.addr, e.spawn, saved, e.dir);
    assert_true(sh(&e, cmd) <= 1);
    /* the replay command in finding.txt, as a user would paste it */
    snprintf(finding, sizeof finding, "cat '%s'/findings/F1-echo/finding.txt", e.out);
    assert_int_equal(sh(&e, finding), 0);
    out = slurp(&e, "stdout");
    line = strstr(out, "\n  tofulab fuzz-peer --replay");
    assert_non_null(line);
    line += 3;
    end = strchr(line, '\n');
    assert_non_null(end);
    *end = '\0';
    snprintf(bindir, sizeof bindir, "%s/bin", e.dir);
    assert_int_equal(mkdir(bindir, 0777), 0);
    {
        char target[300], link[400];

        if (spawn_tofulab()[0] == '/') {
            snprintf(target, sizeof target, "%s", spawn_tofulab());
        } else {
            char cwd[200];

            assert_non_null(getcwd(cwd, sizeof cwd));
            snprintf(target, sizeof target, "%s/%s", cwd, spawn_tofulab());
        }
        snprintf(link, sizeof link, "%s/tofulab", bindir);
        assert_int_equal(symlink(target, link), 0);
    }
    snprintf(cmd, sizeof cmd, "PATH='%s':\"$PATH\" %s", bindir, line);
    free(out);
    assert_int_equal(sh(&e, cmd), 1);
    out = slurp(&e, "stdout");
    assert_non_null(strstr(out, "replay: echo:"));
    assert_non_null(strstr(out, "message_id"));
    free(out);
    env_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz_peer_abort_on_opcode_above_9_is_a_crash),
        cmocka_unit_test(test_fuzz_peer_crash_on_big_text_headers_is_a_crash),
        cmocka_unit_test(test_fuzz_peer_hang_after_second_hello_is_a_hang),
        cmocka_unit_test(test_fuzz_peer_wrong_id_after_streamed_request_is_an_echo_finding),
        cmocka_unit_test(test_fuzz_peer_serve_spawned_nothing_found),
        cmocka_unit_test(test_fuzz_peer_serve_running_nothing_found),
        cmocka_unit_test(test_fuzz_peer_correct_defective_peer_nothing_found),
        cmocka_unit_test(test_fuzz_peer_close_after_bye_response_during_write_not_a_finding),
        cmocka_unit_test(test_fuzz_peer_many_optional_replies_in_a_row_not_a_finding),
        cmocka_unit_test(test_fuzz_peer_no_echo_judges_hello_only),
        cmocka_unit_test(test_fuzz_peer_cli_bad_input_exits_2_naming_what_and_where),
        cmocka_unit_test(test_fuzz_peer_cli_help_documents_every_option),
        cmocka_unit_test(test_fuzz_peer_cli_finding_summary_junit_corpus_and_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
