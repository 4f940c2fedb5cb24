/*
 * The heartbeat pattern on real sockets, in real processes, in fast-forward:
 * `tofulab serve --pattern heartbeat-server` and `tofulab client --pattern
 * heartbeat` (the binary named by $TOFULAB, default build/tofulab) run as
 * separate processes under libfaketime (LD_PRELOAD, FAKETIME="+0 x20"), so a
 * 30 s interval and a 60 s timeout of fake time take 1.5 s and 3 s of real
 * time. The services read CLOCK_MONOTONIC and sleep in pthread_cond_timedwait
 * on CLOCK_MONOTONIC (patterns/runner_posix.c, engine/posix/posix.c), both of
 * which libfaketime fakes (epoll_wait too, in the installed 0.9.10; the
 * reactor never sleeps more than 1 s either way).
 *
 * This test process itself is not under libfaketime: its clock is the real
 * one, so it measures the real time each run takes and bounds every wait
 * (children are killed and the test fails, never hangs). The children get a
 * copy of the environment with LD_PRELOAD replaced, so under Valgrind they
 * run natively, not with Valgrind's preloads.
 *
 * libfaketime: $TOFULAB_LIBFAKETIME, else a few usual paths, else what
 * `dpkg -L libfaketime` lists; libfaketimeMT.so.1 (thread-safe time()) is
 * preferred to libfaketime.so.1. Missing: every faketime test fails with a
 * message naming ci/install-deps.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

#include "../helpers/spawn.h"
#include "../../hosts/proc.h"

extern char **environ;

#define MAX_ARGS   32
#define SPEED      20 /* FAKETIME="+0 x20" */
#define INTERVAL_S 30 /* fake seconds */
#define TIMEOUT_S  60 /* fake seconds */
#define FAKETIME   "+0 x20"

/* ---- time (real: this process is not under libfaketime) ---- */

static int time_scale(void)
{
    const char *c = getenv("TOFULAB_CHECK");
    return (c != NULL && c[0] != '\0') ? 4 : 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - now_ms();
    return left < 0 ? 0 : (int)left;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- libfaketime ---- */

static int readable(const char *path) { return path != NULL && access(path, R_OK) == 0; }

/* The preload library's path, or NULL. */
static const char *find_libfaketime(void)
{
    static char found[512];
    static const char *const dirs[] = {
        "/usr/lib/x86_64-linux-gnu/faketime",
        "/usr/lib/aarch64-linux-gnu/faketime",
        "/usr/lib/i386-linux-gnu/faketime",
        "/usr/lib/faketime",
        "/usr/lib64/faketime",
        "/usr/local/lib/faketime",
    };
    static const char *const names[] = {"libfaketimeMT.so.1", "libfaketime.so.1"};
    const char *env = getenv("TOFULAB_LIBFAKETIME");
    char line[512];
    FILE *f;

    if (env != NULL && env[0] != '\0') {
        return readable(env) ? env : NULL;
    }
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
            snprintf(found, sizeof found, "%s/%s", dirs[d], names[n]);
            if (readable(found)) {
                return found;
            }
        }
    }
    /* Elsewhere on Debian-like systems: ask dpkg where the package put it. */
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        f = popen("dpkg -L libfaketime 2>/dev/null", "r");
        if (f == NULL) {
            return NULL;
        }
        while (fgets(line, sizeof line, f) != NULL) {
            size_t len = strcspn(line, "\n");
            size_t nl = strlen(names[n]);

            line[len] = '\0';
            if (len > nl && line[len - nl - 1] == '/' && strcmp(line + len - nl, names[n]) == 0 &&
                readable(line)) {
                snprintf(found, sizeof found, "%s", line);
                pclose(f);
                return found;
            }
        }
        pclose(f);
    }
    return NULL;
}

/* ---- child processes ---- */

typedef spawn_proc proc;

/* The binary for the children under libfaketime: $TOFULAB_FAKETIME_BIN, else
 * $TOFULAB. A sanitizer build hangs at start-up under libfaketime's preload
 * (ASan and libfaketime both interpose early), so `make check` points
 * TOFULAB_FAKETIME_BIN at the normal build for its ASan pass. */
static const char *faketime_bin(void)
{
    const char *p = getenv("TOFULAB_FAKETIME_BIN");
    return (p != NULL && p[0] != '\0') ? p : spawn_tofulab();
}

/* The environment for a child: ours without LD_PRELOAD and FAKETIME*, plus
 * (when lib is not NULL) LD_PRELOAD=lib and FAKETIME. Free with free(). */
static char **child_env(const char *lib, char *preload, size_t preload_cap)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ[n] != NULL) {
        n++;
    }
    env = calloc(n + 3, sizeof *env);
    assert_non_null(env);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0 || strncmp(environ[i], "FAKETIME", 8) == 0) {
            continue;
        }
        env[k++] = environ[i];
    }
    if (lib != NULL) {
        snprintf(preload, preload_cap, "LD_PRELOAD=%s", lib);
        env[k++] = preload;
        env[k++] = (char *)"FAKETIME=" FAKETIME;
    }
    env[k] = NULL;
    return env;
}

/* Spawn $TOFULAB args..., under libfaketime when lib is not NULL. */
static void proc_start(proc *p, const char *lib, const char *const *args)
{
    const char *bin = lib != NULL ? faketime_bin() : spawn_tofulab();
    char preload[600];
    char **env = child_env(lib, preload, sizeof preload);
    int rc = spawn_start(p, bin, args, env);

    free(env);
    if (rc != 0) {
        fail_msg("cannot run %s: %s (set TOFULAB)", bin, strerror(rc));
    }
}

/* Wait until stdout holds needle; 1 when it came, 0 on timeout or exit. */
static int proc_wait_output(proc *p, const char *needle, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    while (strstr(p->out, needle) == NULL) {
        int left = remaining_ms(deadline);
        if (left == 0 || !spawn_pump(p, left > 50 ? 50 : left)) {
            return strstr(p->out, needle) != NULL;
        }
    }
    return 1;
}

/* Drain the pipes and reap the child; after timeout_ms it is killed and the
 * test fails. */
static void proc_finish(proc *p, const char *what, int timeout_ms)
{
    if (spawn_finish(p, timeout_ms) != 0) {
        fail_msg("%s did not finish within %d ms of real time; stdout [%s] stderr [%s]", what, timeout_ms,
                 p->out, p->err);
    }
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL) {
        fail_msg("expected [%s] in [%s]", needle, haystack);
    }
}

/* The number after "key: " in a heartbeat report. */
static double output_value(const char *out, const char *key)
{
    char pat[64];
    const char *q;
    char *end;
    double v;

    snprintf(pat, sizeof pat, "\n%s: ", key);
    q = strstr(out, pat);
    if (q == NULL && strncmp(out, pat + 1, strlen(pat + 1)) == 0) {
        q = out - 1;
    }
    if (q == NULL) {
        fail_msg("no '%s: ' in output [%s]", key, out);
    }
    v = strtod(q + strlen(pat), &end);
    if (end == q + strlen(pat)) {
        fail_msg("'%s' has no number in output [%s]", key, out);
    }
    return v;
}

static const char *require_libfaketime(void)
{
    static int probed; /* 0 not yet, 1 works, -1 does not */
    const char *lib = find_libfaketime();

    if (lib == NULL) {
        fail_msg("libfaketime not found (looked at $TOFULAB_LIBFAKETIME, /usr/lib/*/faketime/, "
                 "`dpkg -L libfaketime`): install it with `sh ci/install-deps.sh` (package libfaketime)");
    }
    if (probed == 0) {
        /* Once: `tofulab --version` must run under the preload (bounded). */
        const char *args[] = {"--version", NULL};
        proc p;

        probed = -1;
        proc_start(&p, lib, args);
        proc_finish(&p,
                    "tofulab --version under libfaketime (a sanitizer build? set TOFULAB_FAKETIME_BIN "
                    "to a normal build of tofulab)",
                    3000 * time_scale());
        if (p.exit_code != 0 || strstr(p.out, "tofulab ") == NULL) {
            fail_msg("%s --version under LD_PRELOAD=%s: exit %d, stdout [%s] stderr [%s]", faketime_bin(),
                     lib, p.exit_code, p.out, p.err);
        }
        spawn_proc_free(&p);
        probed = 1;
    }
    if (probed < 0) {
        fail_msg("%s does not run under LD_PRELOAD=%s (see the first failure)", faketime_bin(), lib);
    }
    return lib;
}

/* ---- fixture: a temporary directory for the socket, a server, a client ---- */

typedef struct {
    char dir[64];
    char path[128];
    char addr[160];
    const char *lib;
    proc server;
    proc client;
} fixture;

static int fixture_setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    spawn_proc_init(&f->server);
    spawn_proc_init(&f->client);
    strcpy(f->dir, "/tmp/tofulab-hbft-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/hb.sock", f->dir);
    snprintf(f->addr, sizeof f->addr, "uds|%s", f->path);
    *state = f;
    return 0;
}

/* Free a process that ran under libfaketime: when it was killed (these
 * tests kill and freeze them) libfaketime's /dev/shm objects named by its
 * PID stay behind and a later process with that PID fails to start:
 * remove them. Returns the PID it had (0: none). */
static pid_t proc_free_faketime(proc *p)
{
    pid_t pid = p->pid;
    spawn_proc_free(p);
    if (pid > 0) {
        tl_proc_forget_faketime(pid);
    }
    return pid;
}

/* No libfaketime object of pid is left in /dev/shm. */
static void assert_faketime_forgotten(pid_t pid)
{
    char name[64];
    snprintf(name, sizeof name, "/dev/shm/faketime_shm_%ld", (long)pid);
    assert_int_equal(access(name, F_OK), -1);
    snprintf(name, sizeof name, "/dev/shm/sem.faketime_sem_%ld", (long)pid);
    assert_int_equal(access(name, F_OK), -1);
}

static int fixture_teardown(void **state)
{
    fixture *f = *state;

    if (f == NULL) {
        return 0;
    }
    (void)proc_free_faketime(&f->client);
    (void)proc_free_faketime(&f->server);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    *state = NULL;
    return 0;
}

/* The heartbeat server under libfaketime, listening once this returns. */
static void start_server(fixture *f)
{
    const char *args[] = {"serve",      "--listen", f->addr,     "--pattern", "heartbeat-server",
                          "--interval", "30s",      "--timeout", "60s",       NULL};

    f->lib = require_libfaketime();
    proc_start(&f->server, f->lib, args);
    if (!proc_wait_output(&f->server, "listening on ", 10000 * time_scale())) {
        fail_msg("serve did not report its listener: stdout [%s] stderr [%s]", f->server.out, f->server.err);
    }
}

/* The heartbeat client under libfaketime; extra arguments after the common ones. */
static void start_client(fixture *f, const char *const *extra)
{
    const char *args[MAX_ARGS];
    int n = 0;

    args[n++] = "client";
    args[n++] = "--connect";
    args[n++] = f->addr;
    args[n++] = "--pattern";
    args[n++] = "heartbeat";
    args[n++] = "--interval";
    args[n++] = "30s";
    args[n++] = "--timeout";
    args[n++] = "60s";
    while (extra != NULL && *extra != NULL) {
        args[n++] = *extra++;
    }
    args[n] = NULL;
    proc_start(&f->client, f->lib, args);
}

/* Kill (SIGKILL) or freeze (SIGSTOP) the server after `after_ms` of real
 * time, then wait for the client to notice. Returns the real ms between the
 * signal and the client's exit. */
static int64_t hit_server_and_wait(fixture *f, int sig, int after_ms)
{
    const int64_t bound_ms = (INTERVAL_S + TIMEOUT_S) * 1000 / SPEED; /* 4.5 s real */
    int64_t hit;

    sleep_ms(after_ms);
    spawn_pump(&f->client, 0);
    if (f->client.pid > 0 && waitpid(f->client.pid, &(int){0}, WNOHANG) == f->client.pid) {
        f->client.reaped = 1;
        fail_msg("the client ended before the server was hit: stdout [%s] stderr [%s]", f->client.out,
                 f->client.err);
    }
    hit = now_ms();
    assert_int_equal(kill(f->server.pid, sig), 0);
    /* interval + timeout of fake time, plus slack for start-up and checks. */
    proc_finish(&f->client, "the heartbeat client", (int)bound_ms + 5000 * time_scale());
    return f->client.ended_ms - hit;
}

static void check_death_report(const proc *c, const char *by, double lat_min, double lat_max)
{
    if (c->exit_code != 0) {
        fail_msg("client exit %d (want 0: death detected in time); stdout [%s] stderr [%s]", c->exit_code,
                 c->out, c->err);
    }
    assert_contains(c->out, "pattern: heartbeat\n");
    assert_int_equal((int)output_value(c->out, "deaths detected"), 1);
    assert_int_equal((int)output_value(c->out, "suspicions"), 1);
    assert_int_equal((int)output_value(c->out, "false suspicions"), 0);
    assert_int_equal((int)output_value(c->out, "errors"), 0);
    assert_contains(c->out, by);
    /* "A few fake heartbeats" came before the hit. */
    if (output_value(c->out, "heartbeats received") < 2) {
        fail_msg("fewer than 2 heartbeats received before the server was hit: [%s]", c->out);
    }
    {
        double lat = output_value(c->out, "detection latency");
        if (lat < lat_min || lat > lat_max) {
            fail_msg("detection latency %.3f s of fake time, want %.0f..%.0f s; [%s]", lat, lat_min, lat_max,
                     c->out);
        }
    }
}

/* The client's fake elapsed time over its real run time: the speed-up seen. */
static double check_speedup(const proc *c)
{
    double fake_s = output_value(c->out, "elapsed");
    double real_s = (double)(c->ended_ms - c->started_ms) / 1000.0;

    if (real_s <= 0.0 || fake_s / real_s < SPEED / 2.0) {
        fail_msg("%.3f s of fake time in %.3f s of real time: libfaketime's x%d not in effect? [%s]", fake_s,
                 real_s, SPEED, c->out);
    }
    return fake_s;
}

/* ---- tests ---- */

/* SIGKILL: the kernel closes the server's socket, the client sees its
 * channel close and declares the death at once (well within interval +
 * timeout). */
static void test_heartbeat_faketime_server_killed_death_detected(void **state)
{
    fixture *f = *state;
    const char *extra[] = {"--expect-death", "--duration", "10m", NULL};
    int64_t t0 = now_ms(), after_kill;
    double fake;

    start_server(f);
    start_client(f, extra);
    /* 70 s of fake time: the server's heartbeats at 30 s and 60 s are in. */
    after_kill = hit_server_and_wait(f, SIGKILL, 70 * 1000 / SPEED);
    check_death_report(&f->client, "detected by: connection closed", 0.0, INTERVAL_S + TIMEOUT_S);
    /* Measured from the kill on the real clock, scaled to fake time. */
    if ((double)after_kill * SPEED / 1000.0 > INTERVAL_S + TIMEOUT_S) {
        fail_msg("death noticed %lld ms (real) after the kill: more than interval + timeout of fake time",
                 (long long)after_kill);
    }
    fake = check_speedup(&f->client);
    assert_faketime_forgotten(proc_free_faketime(&f->server));
    print_message(
        "killed server: client ran %.1f s fake in %.2f s real; death noticed %lld ms real after the "
        "kill; whole test %.2f s real\n",
        fake, (double)(f->client.ended_ms - f->client.started_ms) / 1000.0, (long long)after_kill,
        (double)(now_ms() - t0) / 1000.0);
}

/* SIGSTOP: the server's socket stays open but nothing comes; only the 60 s
 * timeout can notice. Detection latency (silence before the declaration)
 * is at least the timeout and at most interval + timeout. */
static void test_heartbeat_faketime_server_frozen_death_detected_by_timeout(void **state)
{
    fixture *f = *state;
    const char *extra[] = {"--expect-death", "--duration", "10m", NULL};
    int64_t t0 = now_ms(), after_stop;
    double fake;

    start_server(f);
    start_client(f, extra);
    after_stop = hit_server_and_wait(f, SIGSTOP, 70 * 1000 / SPEED);
    check_death_report(&f->client, "detected by: silence", TIMEOUT_S, INTERVAL_S + TIMEOUT_S);
    /* From the freeze: at least timeout - interval (the last heartbeat came
     * at most one interval before it), at most interval + timeout. */
    if ((double)after_stop * SPEED / 1000.0 > INTERVAL_S + TIMEOUT_S + 10 * time_scale() ||
        (double)after_stop * SPEED / 1000.0 < TIMEOUT_S - INTERVAL_S - 5) {
        fail_msg("death noticed %lld ms (real) after the freeze, want (timeout - interval .. interval + "
                 "timeout) / %d",
                 (long long)after_stop, SPEED);
    }
    fake = check_speedup(&f->client);
    assert_faketime_forgotten(proc_free_faketime(&f->server));
    print_message("frozen server: client ran %.1f s fake in %.2f s real; death noticed %lld ms real "
                  "(%.1f s fake) after the freeze; whole test %.2f s real\n",
                  fake, (double)(f->client.ended_ms - f->client.started_ms) / 1000.0, (long long)after_stop,
                  (double)after_stop * SPEED / 1000.0, (double)(now_ms() - t0) / 1000.0);
}

/* Control: nobody dies; over 2 fake minutes (4 heartbeats each way, 60 s
 * timeout never reached) neither end suspects the other. */
static void test_heartbeat_faketime_no_kill_no_false_suspicion(void **state)
{
    fixture *f = *state;
    const char *extra[] = {"--duration", "2m", NULL};
    int64_t t0 = now_ms();
    double fake;

    start_server(f);
    start_client(f, extra);
    proc_finish(&f->client, "the heartbeat client", 120 * 1000 / SPEED + 5000 * time_scale());
    if (f->client.exit_code != 0) {
        fail_msg("client exit %d (want 0: clean run); stdout [%s] stderr [%s]", f->client.exit_code,
                 f->client.out, f->client.err);
    }
    assert_int_equal((int)output_value(f->client.out, "suspicions"), 0);
    assert_int_equal((int)output_value(f->client.out, "false suspicions"), 0);
    assert_int_equal((int)output_value(f->client.out, "deaths detected"), 0);
    assert_int_equal((int)output_value(f->client.out, "errors"), 0);
    assert_contains(f->client.out, "detected by: -\n");
    assert_true(output_value(f->client.out, "heartbeats sent") >= 3);
    assert_true(output_value(f->client.out, "heartbeats received") >= 3);
    fake = check_speedup(&f->client);
    assert_true(fake >= 120.0);

    assert_int_equal(kill(f->server.pid, SIGTERM), 0);
    proc_finish(&f->server, "the heartbeat server", 5000 * time_scale());
    if (f->server.exit_code != 0) {
        fail_msg("server exit %d; stdout [%s] stderr [%s]", f->server.exit_code, f->server.out,
                 f->server.err);
    }
    assert_contains(f->server.out, "pattern: heartbeat-server\n");
    assert_int_equal((int)output_value(f->server.out, "peers"), 1);
    assert_int_equal((int)output_value(f->server.out, "suspicions"), 0);
    assert_int_equal((int)output_value(f->server.out, "deaths detected"), 0); /* the client said Bye */
    assert_int_equal((int)output_value(f->server.out, "errors"), 0);
    assert_true(output_value(f->server.out, "heartbeats received") >= 3);
    print_message("control: client ran %.1f s fake in %.2f s real, no suspicion; whole test %.2f s real\n",
                  fake, (double)(f->client.ended_ms - f->client.started_ms) / 1000.0,
                  (double)(now_ms() - t0) / 1000.0);
}

/* The other way round: the client is killed, the server notices (its
 * report at SIGTERM counts one death). */
static void test_heartbeat_faketime_client_killed_server_detects(void **state)
{
    fixture *f = *state;

    start_server(f);
    start_client(f, NULL);
    sleep_ms(40 * 1000 / SPEED); /* 40 s fake: one heartbeat each way */
    assert_int_equal(kill(f->client.pid, SIGKILL), 0);
    proc_finish(&f->client, "the heartbeat client", 5000 * time_scale());
    assert_int_equal(f->client.signal, SIGKILL);
    sleep_ms(200); /* 4 s fake for the server to see the connection close */
    assert_int_equal(kill(f->server.pid, SIGTERM), 0);
    proc_finish(&f->server, "the heartbeat server", 5000 * time_scale());
    if (f->server.exit_code != 0) {
        fail_msg("server exit %d; stdout [%s] stderr [%s]", f->server.exit_code, f->server.out,
                 f->server.err);
    }
    assert_int_equal((int)output_value(f->server.out, "peers"), 1);
    assert_int_equal((int)output_value(f->server.out, "deaths detected"), 1);
    assert_int_equal((int)output_value(f->server.out, "false suspicions"), 0);
}

/* Usage errors of the new options: exit 2, one line on stderr. No faketime. */
static void test_heartbeat_faketime_bad_usage_exits_2(void **state)
{
    fixture *f = *state;
    const char *const cases[][12] = {
        {"client", "--connect", f->addr, "--pattern", "heartbeat", "--count", "3", NULL},
        {"client", "--connect", f->addr, "--pattern", "echo", "--interval", "1s", NULL},
        {"client", "--connect", f->addr, "--expect-death", NULL},
        {"client", "--connect", f->addr, "--pattern", "heartbeat", "--interval", "0s", NULL},
        {"client", "--connect", f->addr, "--pattern", "heartbeat", "--timeout", "soon", NULL},
        {"client", "--connect", f->addr, "--pattern", "heartbeat", "--duration", NULL},
        {"serve", "--listen", f->addr, "--pattern", "heartbeat-server", "--budget", "3", NULL},
        {"serve", "--listen", f->addr, "--interval", "1s", NULL},
        {"serve", "--listen", f->addr, "--pattern", "heartbeat", NULL},
        /* nothing listens there: the server cannot be reached */
        {"client", "--connect", f->addr, "--pattern", "heartbeat", "--interval", "100ms", NULL},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proc p;

        proc_start(&p, NULL, cases[i]);
        proc_finish(&p, cases[i][0], 10000 * time_scale());
        if (p.exit_code != 2 || strncmp(p.err, "tofulab: ", 9) != 0) {
            fail_msg("case %zu (%s ... %s): exit %d, stderr [%s], want 2 and a 'tofulab: ' line", i,
                     cases[i][0], cases[i][4] != NULL ? cases[i][4] : "", p.exit_code, p.err);
        }
        spawn_proc_free(&p);
    }
}

static void test_heartbeat_faketime_help_mentions_heartbeat(void **state)
{
    const char *serve_help[] = {"serve", "--help", NULL};
    const char *client_help[] = {"client", "--help", NULL};
    proc p;

    (void)state;
    proc_start(&p, NULL, serve_help);
    proc_finish(&p, "serve --help", 10000 * time_scale());
    assert_int_equal(p.exit_code, 0);
    assert_contains(p.out, "heartbeat-server");
    assert_contains(p.out, "--interval TIME");
    spawn_proc_free(&p);
    proc_start(&p, NULL, client_help);
    proc_finish(&p, "client --help", 10000 * time_scale());
    assert_int_equal(p.exit_code, 0);
    assert_contains(p.out, "--expect-death");
    assert_contains(p.out, "--duration TIME");
    assert_contains(p.out, "detection latency");
    spawn_proc_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_heartbeat_faketime_server_killed_death_detected, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_faketime_server_frozen_death_detected_by_timeout,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_faketime_no_kill_no_false_suspicion, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_faketime_client_killed_server_detects, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_faketime_bad_usage_exits_2, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_heartbeat_faketime_help_mentions_heartbeat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
