/*
 * Integration tests of `tofulab serve` and `tofulab client` (the binary named
 * by $TOFULAB, default build/tofulab, run with posix_spawn), plus direct tests
 * of the echo service (patterns/echo.h) on the POSIX host, driven over a raw
 * socket and compared with the golden echo bodies of PROTOCOL.md section 8
 * (V19 -> V20, V21 -> V22). Every wait is bounded; the bounds grow when
 * $TOFULAB_CHECK is set (ASan, Valgrind). Runs from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tofulab/posix.h"
#include "tofulab/wire.h"

#include "../../patterns/echo.h"
#include "../../patterns/echo_client.h"
#include "../../patterns/request_response.h"
#include "../../patterns/runner_posix.h"
#include "../helpers/golden.h"
#include "../helpers/spawn.h"

#define MAX_ARGS 32

/* ---- time ---- */

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
    nanosleep(&ts, NULL);
}

/* ---- child processes ---- */

typedef spawn_proc proc;

static void proc_start(proc *p, const char *const *args)
{
    int rc = spawn_start(p, spawn_tofulab(), args, NULL);

    if (rc != 0) {
        fail_msg("cannot run %s: %s (set TOFULAB)", spawn_tofulab(), strerror(rc));
    }
}

static size_t count_occurrences(const char *s, const char *needle)
{
    size_t n = 0;
    size_t nl = strlen(needle);
    const char *q = s;

    while ((q = strstr(q, needle)) != NULL) {
        n++;
        q += nl;
    }
    return n;
}

/* Wait until stdout holds `lines` lines starting with "listening on ".
 * Returns 1 when they came, 0 when the pipes closed or the time ran out. */
static int proc_wait_listening(proc *p, size_t lines, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    while (count_occurrences(p->out, "listening on ") < lines) {
        if (remaining_ms(deadline) == 0 ||
            !spawn_pump(p, remaining_ms(deadline) > 100 ? 100 : remaining_ms(deadline))) {
            return count_occurrences(p->out, "listening on ") >= lines;
        }
    }
    return 1;
}

/* Drain the pipes and reap the child; after timeout_ms it is killed and the
 * test fails. */
static void proc_finish(proc *p, int timeout_ms)
{
    if (spawn_finish(p, timeout_ms) != 0) {
        fail_msg("tofulab did not finish within %d ms; stdout [%s] stderr [%s]", timeout_ms, p->out, p->err);
    }
}

static void run_tofulab(proc *p, const char *const *args, int timeout_ms)
{
    proc_start(p, args);
    proc_finish(p, timeout_ms);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

static void assert_one_error_line(const proc *p, const char *prefix)
{
    if (p->err_len == 0 || count_lines(p->err) != 1 || p->err[p->err_len - 1] != '\n' ||
        strncmp(p->err, prefix, strlen(prefix)) != 0) {
        fail_msg("expected one '%s' line on stderr, got: [%s]", prefix, p->err);
    }
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL) {
        fail_msg("expected [%s] in [%s]", needle, haystack);
    }
}

/* The number after "key: " in the client's output. */
static unsigned long long output_value(const char *out, const char *key)
{
    char pat[64];
    const char *q;

    snprintf(pat, sizeof pat, "%s: ", key);
    q = strstr(out, pat);
    if (q == NULL) {
        fail_msg("no '%s' in client output [%s]", pat, out);
    }
    return strtoull(q + strlen(pat), NULL, 10);
}

/* ---- the server fixture: tcp|127.0.0.1|0 and uds|<tmpdir>/echo.sock ---- */

typedef struct {
    proc server;
    char dir[64];
    char uds_path[128];
    char tcp_addr[64];
    char uds_addr[160];
} fixture;

static int fixture_setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    const char *args[8];
    char *line;
    unsigned port = 0;

    assert_non_null(f);
    spawn_proc_init(&f->server);
    strcpy(f->dir, "/tmp/tofulab-serve-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->uds_path, sizeof f->uds_path, "%s/echo.sock", f->dir);
    snprintf(f->uds_addr, sizeof f->uds_addr, "uds|%s", f->uds_path);
    args[0] = "serve";
    args[1] = "--listen";
    args[2] = "tcp|127.0.0.1|0";
    args[3] = "--listen";
    args[4] = f->uds_addr;
    args[5] = NULL;
    proc_start(&f->server, args);
    if (!proc_wait_listening(&f->server, 2, 10000 * time_scale())) {
        fail_msg("serve did not report two listeners: stdout [%s] stderr [%s]", f->server.out, f->server.err);
    }
    line = strstr(f->server.out, "listening on tcp|127.0.0.1|");
    assert_non_null(line);
    port = (unsigned)strtoul(line + strlen("listening on tcp|127.0.0.1|"), NULL, 10);
    assert_true(port > 0 && port < 65536);
    snprintf(f->tcp_addr, sizeof f->tcp_addr, "tcp|127.0.0.1|%u", port);
    assert_non_null(strstr(f->server.out, f->uds_addr));
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    fixture *f = *state;

    if (f == NULL) {
        return 0;
    }
    if (f->server.pid > 0 && !f->server.reaped) {
        kill(f->server.pid, SIGTERM);
        /* Bounded: proc_free kills it if it is still there. */
        {
            int64_t deadline = now_ms() + 5000 * time_scale();
            int status;
            while (remaining_ms(deadline) > 0) {
                if (waitpid(f->server.pid, &status, WNOHANG) == f->server.pid) {
                    f->server.reaped = 1;
                    break;
                }
                sleep_ms(20);
            }
        }
    }
    spawn_proc_free(&f->server);
    unlink(f->uds_path);
    rmdir(f->dir);
    free(f);
    *state = NULL;
    return 0;
}

static void check_client_ok(const proc *c, unsigned long long count)
{
    if (c->exit_code != 0) {
        fail_msg("client exit %d; stdout [%s] stderr [%s]", c->exit_code, c->out, c->err);
    }
    assert_int_equal(output_value(c->out, "sent"), count);
    assert_int_equal(output_value(c->out, "answered"), count);
    assert_int_equal(output_value(c->out, "errors"), 0);
    assert_contains(c->out, "round trips/s: ");
    assert_contains(c->out, "latency p50: ");
    assert_contains(c->out, "latency p99: ");
    assert_int_equal(c->err_len, 0);
}

static void run_client(proc *c, const char *addr, const char *pattern, const char *count,
                       const char *const *extra)
{
    const char *args[MAX_ARGS];
    int n = 0;

    args[n++] = "client";
    args[n++] = "--connect";
    args[n++] = addr;
    args[n++] = "--pattern";
    args[n++] = pattern;
    args[n++] = "--count";
    args[n++] = count;
    args[n++] = "--timeout";
    args[n++] = time_scale() > 1 ? "40" : "10";
    while (extra != NULL && *extra != NULL) {
        args[n++] = *extra++;
    }
    args[n] = NULL;
    run_tofulab(c, args, 60000 * time_scale());
}

static void test_serve_client_echo_tcp_succeeds(void **state)
{
    fixture *f = *state;
    proc c;

    run_client(&c, f->tcp_addr, "echo", "200", NULL);
    check_client_ok(&c, 200);
    assert_contains(c.out, "pattern: echo\n");
    spawn_proc_free(&c);
}

static void test_serve_client_echo_uds_succeeds(void **state)
{
    fixture *f = *state;
    proc c;

    run_client(&c, f->uds_addr, "echo", "200", NULL);
    check_client_ok(&c, 200);
    spawn_proc_free(&c);
}

static void test_serve_client_echo_abort_succeeds(void **state)
{
    fixture *f = *state;
    const char *extra[] = {"--abort", NULL};
    proc c;

    run_client(&c, f->tcp_addr, "echo", "20", extra);
    check_client_ok(&c, 20);
    spawn_proc_free(&c);
}

static void test_serve_client_request_response_tcp_succeeds(void **state)
{
    fixture *f = *state;
    const char *extra[] = {"--size", "0..3000", "--concurrency", "8", NULL};
    proc c;

    run_client(&c, f->tcp_addr, "request-response", "1000", extra);
    check_client_ok(&c, 1000);
    assert_contains(c.out, "pattern: request-response\n");
    spawn_proc_free(&c);
}

static void test_serve_client_request_response_uds_succeeds(void **state)
{
    fixture *f = *state;
    const char *extra[] = {"--size", "65535", "--concurrency", "4", NULL};
    proc c;

    run_client(&c, f->uds_addr, "request-response", "50", extra);
    check_client_ok(&c, 50);
    spawn_proc_free(&c);
}

static void test_serve_client_zero_count_succeeds(void **state)
{
    fixture *f = *state;
    proc c;

    run_client(&c, f->tcp_addr, "request-response", "0", NULL);
    check_client_ok(&c, 0);
    spawn_proc_free(&c);
}

static void test_serve_client_parallel_clients_succeed(void **state)
{
    fixture *f = *state;
    const char *args_tcp[] = {"client",  "--connect", f->tcp_addr,     "--pattern", "request-response",
                              "--count", "300",       "--concurrency", "3",         "--timeout",
                              "30",      NULL};
    const char *args_uds[] = {"client",  "--connect", f->uds_addr, "--pattern", "echo",
                              "--count", "300",       "--timeout", "30",        NULL};
    proc c[4];
    int i;

    for (i = 0; i < 4; i++) {
        proc_start(&c[i], (i % 2) ? args_uds : args_tcp);
    }
    for (i = 0; i < 4; i++) {
        proc_finish(&c[i], 60000 * time_scale());
        check_client_ok(&c[i], 300);
        spawn_proc_free(&c[i]);
    }
}

static void test_serve_client_sigterm_exits_0_and_removes_uds_path(void **state)
{
    fixture *f = *state;
    struct stat sb;

    assert_int_equal(stat(f->uds_path, &sb), 0);
    assert_int_equal(kill(f->server.pid, SIGTERM), 0);
    proc_finish(&f->server, 10000 * time_scale());
    if (f->server.exit_code != 0) {
        fail_msg("serve exit %d (signal %d); stderr [%s]", f->server.exit_code, f->server.signal,
                 f->server.err);
    }
    assert_int_equal(f->server.err_len, 0);
    assert_int_equal(count_occurrences(f->server.out, "listening on "), 2);
    assert_int_equal(count_lines(f->server.out), 2);
    assert_int_equal(stat(f->uds_path, &sb), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_serve_client_sigint_exits_0(void **state)
{
    fixture *f = *state;

    assert_int_equal(kill(f->server.pid, SIGINT), 0);
    proc_finish(&f->server, 10000 * time_scale());
    assert_int_equal(f->server.exit_code, 0);
}

/* ---- failures ---- */

static void test_serve_client_bad_address_exits_2(void **state)
{
    /* Each error names the wrong part and the reason, then the value. */
    static const struct {
        const char *value;
        const char *line;
    } bad[] = {
        {"tcp|nope", "tofulab: serve: bad address: no port (expected tcp|HOST|PORT) in 'tcp|nope'\n"},
        {"udp|127.0.0.1|7099",
         "tofulab: serve: bad address: unknown kind 'udp' (expected tcp or uds) in 'udp|127.0.0.1|7099'\n"},
        {"tcp|127.0.0.1|70000",
         "tofulab: serve: bad address: port 70000 out of range 1-65535 in 'tcp|127.0.0.1|70000'\n"},
        {"uds|", "tofulab: serve: bad address: empty path in 'uds|'\n"},
        {"tcp|127.0.0.1|x",
         "tofulab: serve: bad address: port 'x' is not a decimal number in 'tcp|127.0.0.1|x'\n"},
        {"tcp|a b|1", "tofulab: serve: bad address: space 0x20 in the host at byte 5 in 'tcp|a b|1'\n"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[] = {"serve", "--listen", bad[i].value, NULL};
        proc p;

        run_tofulab(&p, args, 10000 * time_scale());
        assert_int_equal(p.exit_code, 2);
        assert_string_equal(p.err, bad[i].line);
        assert_int_equal(p.out_len, 0);
        spawn_proc_free(&p);
    }
    /* The client says the same, and that a connection needs a port. */
    {
        const char *args[] = {"client", "--connect", "tcp|1.2.3.4|99999", NULL};
        proc p;
        run_tofulab(&p, args, 10000 * time_scale());
        assert_int_equal(p.exit_code, 2);
        assert_string_equal(
            p.err, "tofulab: client: bad address: port 99999 out of range 1-65535 in 'tcp|1.2.3.4|99999'\n");
        spawn_proc_free(&p);
    }
    {
        const char *args[] = {"client", "--connect", "tcp|1.2.3.4|0", NULL};
        proc p;
        run_tofulab(&p, args, 10000 * time_scale());
        assert_int_equal(p.exit_code, 2);
        assert_string_equal(p.err,
                            "tofulab: client: bad address: port 0 out of range 1-65535 in 'tcp|1.2.3.4|0'\n");
        spawn_proc_free(&p);
    }
}

static void test_serve_client_unresolvable_host_exits_2(void **state)
{
    const char *args[] = {"serve", "--listen", "tcp|256.256.256.256|7099", NULL};
    proc p;

    (void)state;
    run_tofulab(&p, args, 20000 * time_scale());
    assert_int_equal(p.exit_code, 2);
    assert_one_error_line(&p, "tofulab: serve: ");
    assert_contains(p.err, "tcp|256.256.256.256|7099");
    assert_int_equal(p.out_len, 0);
    spawn_proc_free(&p);
}

static void test_serve_client_uds_dir_missing_exits_2(void **state)
{
    const char *args[] = {"serve", "--listen", "uds|/nonexistent-tofulab-dir/x.sock", NULL};
    proc p;

    (void)state;
    run_tofulab(&p, args, 10000 * time_scale());
    assert_int_equal(p.exit_code, 2);
    assert_one_error_line(&p, "tofulab: serve: ");
    assert_string_equal(
        p.err, "tofulab: serve: cannot listen on 'uds|/nonexistent-tofulab-dir/x.sock': No such file or "
               "directory (listen_failed)\n");
    spawn_proc_free(&p);
}

/* A plain listening socket (no SO_REUSEPORT) on 127.0.0.1, OS-chosen port. */
static int plain_listener(unsigned *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void test_serve_client_port_in_use_exits_2(void **state)
{
    unsigned port;
    int fd = plain_listener(&port);
    char addr[64];
    const char *args[] = {"serve", "--listen", addr, NULL};
    proc p;

    (void)state;
    snprintf(addr, sizeof addr, "tcp|127.0.0.1|%u", port);
    run_tofulab(&p, args, 10000 * time_scale());
    close(fd);
    assert_int_equal(p.exit_code, 2);
    assert_one_error_line(&p, "tofulab: serve: ");
    assert_contains(p.err, addr);
    assert_contains(p.err, "Address already in use (listen_failed)");
    assert_int_equal(p.out_len, 0);
    spawn_proc_free(&p);
}

static void test_serve_client_second_listener_fails_exits_2(void **state)
{
    unsigned port;
    int fd = plain_listener(&port);
    char addr[64];
    const char *args[] = {"serve", "--listen", "tcp|127.0.0.1|0", "--listen", addr, NULL};
    proc p;

    (void)state;
    snprintf(addr, sizeof addr, "tcp|127.0.0.1|%u", port);
    run_tofulab(&p, args, 10000 * time_scale());
    close(fd);
    assert_int_equal(p.exit_code, 2);
    assert_contains(p.err, addr);
    assert_true(count_occurrences(p.out, "listening on ") <= 1);
    spawn_proc_free(&p);
}

static void test_serve_client_nothing_listening_exits_2(void **state)
{
    unsigned port;
    int fd = plain_listener(&port);
    char addr[64];
    proc p;

    (void)state;
    close(fd); /* nothing listens there now */
    snprintf(addr, sizeof addr, "tcp|127.0.0.1|%u", port);
    run_client(&p, addr, "echo", "5", NULL);
    assert_int_equal(p.exit_code, 2);
    assert_one_error_line(&p, "tofulab: client: ");
    assert_contains(p.err, addr);
    assert_contains(p.err, ": Connection refused (connect_failed)");
    spawn_proc_free(&p);

    run_client(&p, "uds|/nonexistent-tofulab-dir/echo.sock", "request-response", "5", NULL);
    assert_int_equal(p.exit_code, 2);
    assert_one_error_line(&p, "tofulab: client: ");
    assert_contains(p.err,
                    "cannot connect to 'uds|/nonexistent-tofulab-dir/echo.sock': No such file or directory "
                    "(uds_path_not_found)");
    spawn_proc_free(&p);
}

static void test_serve_client_bad_usage_exits_2(void **state)
{
    const char *const cases[][10] = {
        {"client", "--pattern", "echo", NULL},
        {"client", "--connect", "tcp|127.0.0.1|7099", "--pattern", "nope", NULL},
        {"client", "--connect", "tcp|127.0.0.1|7099", "--pattern", "request-response", "--size", "9..2",
         NULL},
        {"client", "--connect", "tcp|127.0.0.1|7099", "--count", "-1", NULL},
        {"client", "--connect", "tcp|127.0.0.1|7099", "--pattern", "echo", "--concurrency", "4", NULL},
        {"client", "--connect", "tcp|bad", NULL},
        {"client", "--connect", "tcp|127.0.0.1|7099", "--timeout", "0", NULL},
        {"client", "--connect", NULL},
        {"serve", NULL},
        {"serve", "--listen", "tcp|127.0.0.1|0", "--budget", "x", NULL},
        {"serve", "--listen", "tcp|127.0.0.1|0", "--max-connections", "0", NULL},
        {"serve", "--listen", "tcp|127.0.0.1|0", "--idle-timeout", "soon", NULL},
        {"serve", "--listen", "tcp|127.0.0.1|0", "--rx-budget", "12parsecs", NULL},
        {"serve", "--listen", "tcp|127.0.0.1|0", "--max-body", "65536", NULL},
        {"serve", "--listen", "tcp|127.0.0.1|0", "--pattern", "heartbeat-server", "--exact", NULL},
        {"serve", "--listen", "tcp|127.0.0.1|0", "--spin-us", "x", NULL},
        {"serve", "--listen", "tcp|127.0.0.1|0", "--spin-us", NULL},
        {"client", "--connect", "tcp|127.0.0.1|7099", "--spin-us", "1001", NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proc p;

        run_tofulab(&p, cases[i], 10000 * time_scale());
        if (p.exit_code != 2) {
            fail_msg("case %zu: exit %d, stderr [%s]", i, p.exit_code, p.err);
        }
        assert_one_error_line(&p, "tofulab: ");
        spawn_proc_free(&p);
    }
}

static void test_serve_client_help_exits_0(void **state)
{
    const char *serve_help[] = {"serve", "--help", NULL};
    const char *client_help[] = {"client", "--help", NULL};
    const char *top_help[] = {"--help", NULL};
    proc p;

    (void)state;
    run_tofulab(&p, serve_help, 10000);
    assert_int_equal(p.exit_code, 0);
    assert_contains(p.out, "--listen");
    /* every limit, the modes, what ends the server and the exit codes */
    {
        static const char *const must[] = {"--exact",
                                           "--max-connections",
                                           "--handshake-timeout",
                                           "--idle-timeout",
                                           "--frame-timeout",
                                           "--max-text",
                                           "--max-body",
                                           "--rx-budget",
                                           "--max-send-queue",
                                           "--quiet",
                                           "what ends the server",
                                           "SIGINT or SIGTERM",
                                           "--budget N used up",
                                           "a listener cannot start",
                                           "a listener fails while running",
                                           "--exact only",
                                           "exit status: 0"};
        for (size_t k = 0; k < sizeof must / sizeof must[0]; k++) {
            assert_contains(p.out, must[k]);
        }
    }
    assert_contains(p.out, "examples:");
    spawn_proc_free(&p);
    run_tofulab(&p, client_help, 10000);
    assert_int_equal(p.exit_code, 0);
    assert_contains(p.out, "request-response");
    assert_contains(p.out, "--concurrency");
    assert_contains(p.out, "examples:");
    spawn_proc_free(&p);
    run_tofulab(&p, top_help, 10000);
    assert_int_equal(p.exit_code, 0);
    assert_contains(p.out, "serve");
    assert_contains(p.out, "client");
    spawn_proc_free(&p);
}

/* Every name `client --pattern` accepts (the list its "unknown pattern" error
 * gives) is on the --pattern line of `client --help` and has its own entry
 * under "patterns:"; each is accepted (the bad address is what fails). */
static void test_serve_client_help_lists_every_pattern(void **state)
{
    const char *unknown[] = {"client", "--connect", "tcp|127.0.0.1|1", "--pattern", "no-such-pattern", NULL};
    const char *help[] = {"client", "--help", NULL};
    char names[256];
    char *open_paren, *close_paren, *name, *save = NULL;
    const char *option_line;
    int count = 0;
    proc p, h;

    (void)state;
    run_tofulab(&p, unknown, 10000);
    assert_int_equal(p.exit_code, 2);
    open_paren = strchr(p.err, '(');
    close_paren = open_paren != NULL ? strchr(open_paren, ')') : NULL;
    if (open_paren == NULL || close_paren == NULL || (size_t)(close_paren - open_paren) >= sizeof names) {
        fail_msg("no '(name, ...)' list in: %s", p.err);
    }
    memcpy(names, open_paren + 1, (size_t)(close_paren - open_paren - 1));
    names[close_paren - open_paren - 1] = '\0';
    spawn_proc_free(&p);

    run_tofulab(&h, help, 10000);
    assert_int_equal(h.exit_code, 0);
    option_line = strstr(h.out, "\n  --pattern NAME");
    assert_non_null(option_line);
    for (name = strtok_r(names, ", ", &save); name != NULL; name = strtok_r(NULL, ", ", &save)) {
        char entry[64];
        const char *accept[] = {"client", "--connect", "not-an-address", "--pattern", name, NULL};
        const char *line_end;

        /* on the option's text (its line and its continuation line) */
        line_end = strstr(option_line + 1, "\n  --");
        assert_non_null(line_end);
        {
            const char *hit = strstr(option_line, name);
            if (hit == NULL || hit > line_end) {
                fail_msg("pattern '%s' missing from the --pattern option of client --help", name);
            }
        }
        /* an entry of its own under "patterns:" */
        snprintf(entry, sizeof entry, "\n  %s ", name);
        if (strstr(h.out, entry) == NULL) {
            fail_msg("pattern '%s' has no entry under 'patterns:' in client --help", name);
        }
        run_tofulab(&p, accept, 10000);
        assert_int_equal(p.exit_code, 2);
        if (strstr(p.err, "unknown pattern") != NULL) {
            fail_msg("'%s' is listed but refused: %s", name, p.err);
        }
        spawn_proc_free(&p);
        count++;
    }
    assert_true(count >= 3);
    spawn_proc_free(&h);
}

static void test_serve_client_budget_stops_server(void **state)
{
    const char *args[] = {"serve", "--listen", "tcp|127.0.0.1|0", "--budget", "5", NULL};
    proc s, c;
    char addr[64];
    const char *line;

    (void)state;
    proc_start(&s, args);
    if (!proc_wait_listening(&s, 1, 10000 * time_scale())) {
        fail_msg("serve did not listen: [%s]", s.err);
    }
    line = strstr(s.out, "listening on ");
    assert_non_null(line);
    snprintf(addr, sizeof addr, "%.*s", (int)strcspn(line + 13, "\n"), line + 13);
    run_client(&c, addr, "echo", "10", NULL);
    /* 5 echoes, then the next message stops the server: the rest is lost. */
    assert_int_equal(c.exit_code, 1);
    assert_int_equal(output_value(c.out, "answered"), 5);
    assert_one_error_line(&c, "tofulab: client: ");
    spawn_proc_free(&c);
    proc_finish(&s, 10000 * time_scale());
    assert_int_equal(s.exit_code, 0);
    assert_contains(s.err, "budget");
    spawn_proc_free(&s);
}

/* --spin-us: serve and client with busy-polling off (0) and at its most
 * (1000 us) still echo every request (the option only changes how a waiting
 * thread waits). */
static void test_serve_client_spin_us_off_and_max_succeed(void **state)
{
    const char *args[] = {"serve", "--listen", "uds|/tmp/tofulab-spin-test.sock", "--spin-us", "0", NULL};
    const char *off[] = {"--spin-us", "0", "--concurrency", "4", NULL};
    const char *most[] = {"--spin-us", "1000", "--concurrency", "4", NULL};
    proc s, c;

    (void)state;
    unlink("/tmp/tofulab-spin-test.sock");
    proc_start(&s, args);
    if (!proc_wait_listening(&s, 1, 10000 * time_scale())) {
        fail_msg("serve did not listen: [%s]", s.err);
    }
    run_client(&c, "uds|/tmp/tofulab-spin-test.sock", "request-response", "300", off);
    check_client_ok(&c, 300);
    spawn_proc_free(&c);
    run_client(&c, "uds|/tmp/tofulab-spin-test.sock", "request-response", "300", most);
    check_client_ok(&c, 300);
    spawn_proc_free(&c);
    kill(s.pid, SIGTERM);
    proc_finish(&s, 10000 * time_scale());
    assert_int_equal(s.exit_code, 0);
    spawn_proc_free(&s);
}

static const golden_vector *vector(const char *id)
{
    size_t i;

    for (i = 0; i < GOLDEN_COUNT; i++) {
        if (strcmp(golden_vectors[i].id, id) == 0) {
            return &golden_vectors[i];
        }
    }
    fail_msg("no golden vector %s", id);
    return NULL;
}

static void test_serve_client_silent_server_times_out_exits_1(void **state)
{
    unsigned port;
    int fd = plain_listener(&port); /* the kernel accepts; nobody answers */
    char addr[64];
    const char *args[] = {"client",           "--connect", addr, "--pattern",
                          "request-response", "--timeout", "1",  NULL};
    int64_t started = now_ms();
    proc c;

    (void)state;
    snprintf(addr, sizeof addr, "tcp|127.0.0.1|%u", port);
    run_tofulab(&c, args, 20000 * time_scale());
    close(fd);
    assert_int_equal(c.exit_code, 1);
    assert_one_error_line(&c, "tofulab: client: ");
    assert_contains(c.err, "timed out waiting for HelloResponse");
    assert_int_equal(output_value(c.out, "answered"), 0);
    assert_true(now_ms() - started < 10000 * time_scale());
    spawn_proc_free(&c);
}

/* ---- a deliberately wrong echo server (raw socket, in a thread) ---- */

typedef struct {
    int listen_fd;
    int correct; /* 1: a real echo (section 7), 0: zero bodies */
    int frames;
    uint8_t first[2][512]; /* the first two frames received, whole */
    size_t first_len[2];
    int64_t deadline;
} wrong_echo;

static int write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Answers every request with its echo op code and id; with w->correct the
 * body is the echoed header's native copy as section 7 says, otherwise 16
 * zero bytes. Records the first two frames. */
static void *wrong_echo_main(void *arg)
{
    wrong_echo *w = arg;
    struct pollfd pf = {w->listen_fd, POLLIN, 0};
    tl_reader rd;
    int fd;

    if (poll(&pf, 1, remaining_ms(w->deadline)) <= 0) {
        return NULL;
    }
    fd = accept(w->listen_fd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    tl_reader_init(&rd, NULL);
    for (;;) {
        uint8_t buf[4096];
        ssize_t got;
        size_t off = 0;

        pf.fd = fd;
        if (poll(&pf, 1, remaining_ms(w->deadline)) <= 0) {
            break;
        }
        got = recv(fd, buf, sizeof buf, 0);
        if (got <= 0) {
            break;
        }
        while (off < (size_t)got) {
            size_t used = 0;
            tl_frame fr;
            tl_read_result r = tl_reader_next(&rd, buf + off, (size_t)got - off, &used, &fr);

            off += used;
            if (r == TL_READ_ERROR) {
                off = (size_t)got;
                break;
            }
            if (r == TL_READ_FRAME) {
                uint8_t body[TL_HEADER_SIZE];
                uint8_t out[512];
                tl_header h = fr.hdr;
                const tl_opcode_info *info = tl_opcode_info_get(tl_proto_opcode(h.proto));
                int n;

                if (w->frames < 2) {
                    n = tl_frame_encode(&fr.hdr, fr.text, fr.hdr.thl, fr.body, fr.hdr.bl, w->first[w->frames],
                                        sizeof w->first[0]);
                    w->first_len[w->frames] = n > 0 ? (size_t)n : 0;
                }
                w->frames++;
                if (info == NULL || info->role != TL_ROLE_REQUEST || info->echo < 0) {
                    continue;
                }
                h.proto = (uint8_t)((h.proto & ~TL_PROTO_OPCODE_MASK) | (unsigned)info->echo);
                h.channel = 0x3c4d;
                memset(body, 0, sizeof body);
                if (w->correct) {
                    tl_header_encode_native(&h, body);
                }
                h.bl = TL_HEADER_SIZE;
                n = tl_frame_encode(&h, fr.text, fr.hdr.thl, body, sizeof body, out, sizeof out);
                if (n > 0) {
                    write_all(fd, out, (size_t)n);
                }
            }
        }
    }
    tl_reader_free(&rd);
    close(fd);
    return NULL;
}

static void test_serve_client_wrong_echo_exits_1(void **state)
{
    wrong_echo w;
    pthread_t th;
    unsigned port;
    char addr[64];
    proc c;

    (void)state;
    memset(&w, 0, sizeof w);
    w.listen_fd = plain_listener(&port);
    w.deadline = now_ms() + 30000 * time_scale();
    assert_int_equal(pthread_create(&th, NULL, wrong_echo_main, &w), 0);
    snprintf(addr, sizeof addr, "tcp|127.0.0.1|%u", port);
    run_client(&c, addr, "echo", "3", NULL);
    pthread_join(th, NULL);
    close(w.listen_fd);
    assert_int_equal(c.exit_code, 1);
    assert_one_error_line(&c, "tofulab: client: ");
    assert_contains(c.err, "body");
    assert_true(output_value(c.out, "errors") >= 1);
    assert_true(w.frames >= 1);
    spawn_proc_free(&c);
}

/* The EchoClient's own frames: HelloRequest as V19 and Request #1 as V21
 * (channel, message_id and the address header aside), against an
 * independent echo written here; the client must accept its replies. */
static void test_serve_client_echo_client_frames_match_v19_v21(void **state)
{
    wrong_echo w;
    pthread_t th;
    unsigned port;
    char addr[64], text[128];
    uint8_t v19[512], v21[512];
    size_t n19, n21;
    tl_header h, want;
    proc c;

    (void)state;
    memset(&w, 0, sizeof w);
    w.correct = 1;
    w.listen_fd = plain_listener(&port);
    w.deadline = now_ms() + 30000 * time_scale();
    assert_int_equal(pthread_create(&th, NULL, wrong_echo_main, &w), 0);
    snprintf(addr, sizeof addr, "tcp|127.0.0.1|%u", port);
    run_client(&c, addr, "echo", "2", NULL);
    pthread_join(th, NULL);
    close(w.listen_fd);
    if (c.exit_code != 0) {
        fail_msg("client exit %d against a correct echo: [%s]", c.exit_code, c.err);
    }
    assert_true(w.frames >= 4); /* hello, 2 requests, bye */

    /* HelloRequest: body exactly V19's (the copy taken before post). */
    n19 = hex_to_bytes(vector("V19")->frame_hex, v19, sizeof v19);
    tl_header_decode(v19, &want);
    tl_header_decode(w.first[0], &h);
    assert_int_equal(h.proto, want.proto);
    assert_int_equal(h.status, 0);
    assert_true(h.channel != 0 && h.channel != 0xffff);
    assert_true(h.message_id != 0);
    assert_int_equal(h.bl, 16);
    snprintf(text, sizeof text, "~connect_to:%s\r\n", addr);
    assert_int_equal(h.thl, strlen(text));
    assert_memory_equal(w.first[0] + TL_HEADER_SIZE, text, h.thl);
    assert_int_equal(w.first_len[0], TL_HEADER_SIZE + h.thl + 16u);
    assert_memory_equal(w.first[0] + TL_HEADER_SIZE + h.thl, v19 + n19 - 16, 16);

    /* Request #1: V21 with our channel in the header and in the body. */
    n21 = hex_to_bytes(vector("V21")->frame_hex, v21, sizeof v21);
    assert_int_equal(w.first_len[1], n21);
    tl_header_decode(w.first[1], &want);
    assert_int_equal(want.channel, h.channel);
    v21[0] = w.first[1][0];
    v21[1] = w.first[1][1];
    v21[16] = (uint8_t)(h.channel & 0xff);
    v21[17] = (uint8_t)(h.channel >> 8);
    GOLDEN_EXPECT_MEM("V21", w.first[1], v21, n21);
    spawn_proc_free(&c);
}

/* ---- the echo service in-process, against golden bodies ---- */

typedef struct {
    tl_runner *runner;
    tl_service *svc;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int listening;
    uint16_t port;
    tl_run_result result;
    int finished;
    char dir[64];
    char uds_path[128];
} inproc;

static void inproc_on_listening(void *ctx, const char *address, uint16_t channel)
{
    inproc *ip = ctx;

    pthread_mutex_lock(&ip->lock);
    if (strncmp(address, "tcp|", 4) == 0) {
        ip->port = tl_posix_listener_port(tl_runner_host(ip->runner), channel);
    }
    ip->listening++;
    pthread_cond_broadcast(&ip->cond);
    pthread_mutex_unlock(&ip->lock);
}

static void *inproc_main(void *arg)
{
    inproc *ip = arg;
    tl_run_result res;

    tl_runner_run(ip->runner, &ip->svc, 1, &res);
    pthread_mutex_lock(&ip->lock);
    ip->result = res;
    ip->finished = 1;
    pthread_cond_broadcast(&ip->cond);
    pthread_mutex_unlock(&ip->lock);
    return NULL;
}

/* Wait (bounded) until cond_value() holds; returns it. */
static int inproc_wait(inproc *ip, int listening, int finished, int timeout_ms)
{
    struct timespec ts;
    int ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ip->lock);
    for (;;) {
        ok = (listening == 0 || ip->listening >= listening) && (finished == 0 || ip->finished);
        if (ok || ip->finished || pthread_cond_timedwait(&ip->cond, &ip->lock, &ts) != 0) {
            ok = (listening == 0 || ip->listening >= listening) && (finished == 0 || ip->finished);
            break;
        }
    }
    pthread_mutex_unlock(&ip->lock);
    return ok;
}

static void inproc_start(inproc *ip, uint64_t budget)
{
    const char *listen[2];
    char uds_addr[160];
    tl_echo_config cfg;
    tl_runner_options ro;

    memset(ip, 0, sizeof *ip);
    pthread_mutex_init(&ip->lock, NULL);
    pthread_cond_init(&ip->cond, NULL);
    strcpy(ip->dir, "/tmp/tofulab-echo-XXXXXX");
    assert_non_null(mkdtemp(ip->dir));
    snprintf(ip->uds_path, sizeof ip->uds_path, "%s/e.sock", ip->dir);
    snprintf(uds_addr, sizeof uds_addr, "uds|%s", ip->uds_path);
    listen[0] = "tcp|127.0.0.1|0";
    listen[1] = uds_addr;
    memset(&ro, 0, sizeof ro);
    ro.seed = 42;
    ro.deadline_ns = 120ull * 1000000000ull * (uint64_t)time_scale();
    assert_int_equal(tl_runner_create(&ro, &ip->runner), TL_OK);
    memset(&cfg, 0, sizeof cfg);
    cfg.listen = listen;
    cfg.listen_count = 2;
    cfg.budget = budget;
    cfg.on_listening = inproc_on_listening;
    cfg.ctx = ip;
    assert_int_equal(tl_echo_service_create(&cfg, &ip->svc), TL_OK);
    assert_int_equal(pthread_create(&ip->thread, NULL, inproc_main, ip), 0);
    if (!inproc_wait(ip, 2, 0, 10000 * time_scale())) {
        fail_msg("echo service did not start its listeners");
    }
    assert_true(ip->port != 0);
}

static void inproc_stop(inproc *ip)
{
    tl_runner_stop(ip->runner);
    if (!inproc_wait(ip, 0, 1, 10000 * time_scale())) {
        fail_msg("runner did not stop");
    }
    pthread_join(ip->thread, NULL);
    tl_runner_destroy(ip->runner);
    pthread_mutex_destroy(&ip->lock);
    pthread_cond_destroy(&ip->cond);
    unlink(ip->uds_path);
    rmdir(ip->dir);
}

static void inproc_free(inproc *ip)
{
    ip->svc->ops->destroy(ip->svc);
    ip->svc = NULL;
}

static int connect_tcp(uint16_t port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static int connect_uds(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    assert_true(strlen(path) < sizeof sa.sun_path);
    strcpy(sa.sun_path, path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Read exactly n bytes within timeout_ms; returns bytes read (< n on EOF,
 * error or timeout). */
static size_t read_exact(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    size_t have = 0;

    while (have < n) {
        struct pollfd pf = {fd, POLLIN, 0};
        ssize_t got;

        if (poll(&pf, 1, remaining_ms(deadline)) <= 0) {
            break;
        }
        got = recv(fd, buf + have, n - have, 0);
        if (got <= 0) {
            break;
        }
        have += (size_t)got;
    }
    return have;
}

/* Read one whole frame into buf; returns its length (fails the test on
 * timeout or EOF). */
static size_t read_frame(int fd, uint8_t *buf, size_t cap)
{
    tl_header h;
    size_t rest;

    if (read_exact(fd, buf, TL_HEADER_SIZE, 10000 * time_scale()) != TL_HEADER_SIZE) {
        fail_msg("no reply frame header");
    }
    tl_header_decode(buf, &h);
    rest = (size_t)h.thl + h.bl;
    assert_true(TL_HEADER_SIZE + rest <= cap);
    if (read_exact(fd, buf + TL_HEADER_SIZE, rest, 10000 * time_scale()) != rest) {
        fail_msg("reply frame cut short");
    }
    return TL_HEADER_SIZE + rest;
}

static void send_vector(int fd, const char *id)
{
    uint8_t frame[512];
    size_t n = hex_to_bytes(vector(id)->frame_hex, frame, sizeof frame);

    assert_true(n != (size_t)-1);
    assert_int_equal(write_all(fd, frame, n), 0);
}

/* The reply must equal the golden vector except the server-local channel
 * (bytes 0-1 big-endian in the header, bytes 0-1 little-endian at the start
 * of the body), which must be the same number in both places. */
static void expect_vector(int fd, const char *id)
{
    uint8_t want[512], got[512];
    size_t wn = hex_to_bytes(vector(id)->frame_hex, want, sizeof want);
    size_t gn = read_frame(fd, got, sizeof got);
    size_t body_at = wn - TL_HEADER_SIZE; /* every echo body is 16 bytes, at the end */
    uint16_t hdr_ch = (uint16_t)(got[0] << 8 | got[1]);
    uint16_t body_ch = (uint16_t)(got[body_at] | got[body_at + 1] << 8);

    assert_true(wn != (size_t)-1);
    assert_int_equal(gn, wn);
    assert_true(hdr_ch != 0 && hdr_ch != 0xffff);
    assert_int_equal(hdr_ch, body_ch);
    got[0] = want[0];
    got[1] = want[1];
    got[body_at] = want[body_at];
    got[body_at + 1] = want[body_at + 1];
    GOLDEN_EXPECT_MEM(id, got, want, wn);
}

/* Send a frame built from its fields. */
static void send_frame(int fd, uint8_t proto, uint64_t id, const char *text, size_t body_len)
{
    uint8_t frame[512], body[64];
    tl_header h;
    size_t tl = text != NULL ? strlen(text) : 0;
    int n;

    memset(&h, 0, sizeof h);
    memset(body, 0x5a, sizeof body);
    h.channel = 0x1a2b;
    h.proto = proto;
    h.message_id = id;
    assert_true(body_len <= sizeof body);
    n = tl_frame_encode(&h, (const uint8_t *)text, tl, body, body_len, frame, sizeof frame);
    assert_true(n > 0);
    assert_int_equal(write_all(fd, frame, (size_t)n), 0);
}

/* The next frame must be the echo (section 7) of a frame sent with proto
 * `sent_proto`, id, text and a body of sent_bl bytes. */
static void expect_echo(int fd, uint8_t want_proto, uint8_t sent_proto, uint64_t id, const char *text,
                        size_t sent_bl)
{
    uint8_t got[512];
    size_t tl = text != NULL ? strlen(text) : 0;
    size_t n = read_frame(fd, got, sizeof got);
    tl_header h, b;

    (void)sent_proto;
    tl_header_decode(got, &h);
    assert_int_equal(n, TL_HEADER_SIZE + tl + TL_HEADER_SIZE);
    assert_int_equal(h.proto, want_proto);
    assert_int_equal(h.status, 0);
    assert_int_equal(h.message_id, id);
    assert_int_equal(h.thl, tl);
    assert_int_equal(h.bl, TL_HEADER_SIZE);
    if (tl > 0) {
        assert_memory_equal(got + TL_HEADER_SIZE, text, tl);
    }
    tl_header_decode_native(got + TL_HEADER_SIZE + tl, &b);
    assert_int_equal(b.channel, h.channel);
    assert_int_equal(b.proto, want_proto);
    assert_int_equal(b.status, 0);
    assert_int_equal(b.message_id, id);
    assert_int_equal(b.thl, tl);
    assert_int_equal(b.bl, sent_bl);
}

/* The peer closes the connection (EOF or reset) within the time, sending
 * nothing more. */
static void expect_closed(int fd)
{
    uint8_t buf[64];

    assert_int_equal(read_exact(fd, buf, sizeof buf, 5000 * time_scale()), 0);
}

static void golden_exchange(int fd)
{
    send_vector(fd, "V19");
    expect_vector(fd, "V20");
    send_vector(fd, "V21");
    expect_vector(fd, "V22");
}

static void test_serve_client_echo_service_golden_tcp_matches(void **state)
{
    inproc ip;
    tl_echo_stats st;
    int fd;

    (void)state;
    inproc_start(&ip, 0);
    fd = connect_tcp(ip.port);
    golden_exchange(fd);
    close(fd);
    inproc_stop(&ip);
    assert_int_equal(ip.result.outcome, TL_RUN_STOPPED);
    tl_echo_stats_get(ip.svc, &st);
    assert_int_equal(st.echoed_hello, 1);
    assert_int_equal(st.echoed_requests, 1);
    assert_int_equal(st.length_mismatch, 0);
    assert_int_equal(st.listening, 2);
    inproc_free(&ip);
}

static void test_serve_client_echo_service_golden_uds_matches(void **state)
{
    inproc ip;
    int fd;

    (void)state;
    inproc_start(&ip, 0);
    fd = connect_uds(ip.uds_path);
    golden_exchange(fd);
    close(fd);
    inproc_stop(&ip);
    assert_int_equal(ip.result.outcome, TL_RUN_STOPPED);
    inproc_free(&ip);
}

static void test_serve_client_echo_service_response_frame_ignored(void **state)
{
    inproc ip;
    tl_echo_stats st;
    int fd;

    (void)state;
    inproc_start(&ip, 0);
    fd = connect_tcp(ip.port);
    send_vector(fd, "V19");
    expect_vector(fd, "V20");
    send_vector(fd, "V05"); /* a Response from the client: tofu would stop */
    send_vector(fd, "V21");
    expect_vector(fd, "V22"); /* the next frame back is V21's echo */
    close(fd);
    inproc_stop(&ip);
    tl_echo_stats_get(ip.svc, &st);
    assert_int_equal(st.responses_ignored, 1);
    assert_int_equal(st.echoed, 2);
    assert_int_equal(st.failed, 0);
    inproc_free(&ip);
}

static void test_serve_client_echo_service_budget_finishes(void **state)
{
    inproc ip;
    uint8_t buf[64];
    int fd;

    (void)state;
    inproc_start(&ip, 1);
    fd = connect_tcp(ip.port);
    send_vector(fd, "V19"); /* hello: not counted */
    expect_vector(fd, "V20");
    send_vector(fd, "V21"); /* uses the budget of 1 */
    expect_vector(fd, "V22");
    send_vector(fd, "V21"); /* budget already 0: the service finishes */
    if (!inproc_wait(&ip, 0, 1, 10000 * time_scale())) {
        fail_msg("echo service did not finish after its budget");
    }
    assert_int_equal(ip.result.outcome, TL_RUN_DONE);
    /* Its group is gone: the connection is closed, no echo came. */
    assert_int_equal(read_exact(fd, buf, sizeof buf, 5000 * time_scale()), 0);
    close(fd);
    inproc_stop(&ip);
    {
        tl_echo_stats st;
        tl_echo_stats_get(ip.svc, &st);
        assert_true(st.budget_exhausted);
        assert_int_equal(st.echoed, 2);
    }
    inproc_free(&ip);
}

static void test_serve_client_echo_service_signal_and_bye_echoed(void **state)
{
    inproc ip;
    tl_echo_stats st;
    int fd;

    (void)state;
    inproc_start(&ip, 0);
    fd = connect_tcp(ip.port);
    golden_exchange(fd);
    send_frame(fd, 0x02, 1000, NULL, 0); /* V09 Signal: unchanged */
    expect_echo(fd, 0x02, 0x02, 1000, NULL, 0);
    send_frame(fd, 0x22, 1001, "k:v\r\n", 3); /* Signal with more: the bit stays */
    expect_echo(fd, 0x22, 0x22, 1001, "k:v\r\n", 3);
    send_frame(fd, 0x20, 77, NULL, 5); /* streamed Request chunk: Response with more */
    expect_echo(fd, 0x21, 0x20, 77, NULL, 5);
    send_frame(fd, 0x05, 7, NULL, 0); /* V10 ByeRequest -> ByeResponse */
    expect_echo(fd, 0x06, 0x05, 7, NULL, 0);
    close(fd);
    inproc_stop(&ip);
    tl_echo_stats_get(ip.svc, &st);
    assert_int_equal(st.echoed_bye, 1);
    assert_int_equal(st.echoed_signals, 2);
    assert_int_equal(st.echoed_requests, 2);
    assert_int_equal(st.failed, 0);
    inproc_free(&ip);
}

static void test_serve_client_echo_service_peer_bye_signal_closes_channel(void **state)
{
    inproc ip;
    tl_echo_stats st;
    int fd;

    (void)state;
    inproc_start(&ip, 0);
    fd = connect_tcp(ip.port);
    golden_exchange(fd);
    /* V17, ByeSignal without bit A: echoed as received, which the reference
     * engine turns into a local abort (A2): nothing comes back, the
     * connection is closed. */
    send_vector(fd, "V17");
    expect_closed(fd);
    close(fd);
    /* The server goes on. */
    fd = connect_uds(ip.uds_path);
    golden_exchange(fd);
    close(fd);
    inproc_stop(&ip);
    assert_int_equal(ip.result.outcome, TL_RUN_STOPPED);
    tl_echo_stats_get(ip.svc, &st);
    assert_int_equal(st.failed, 0);
    inproc_free(&ip);
}

static void test_serve_client_echo_service_client_gone_server_continues(void **state)
{
    inproc ip;
    tl_echo_stats st;
    int round, fd, i;

    (void)state;
    inproc_start(&ip, 0);
    for (round = 0; round < 10; round++) {
        struct linger lg = {1, 0};

        fd = connect_tcp(ip.port);
        send_vector(fd, "V19");
        for (i = 0; i < 100; i++) {
            send_frame(fd, 0x00, (uint64_t)i + 1, NULL, 8);
        }
        /* Gone at once, with a reset: echoes may meet a closed channel. */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
    }
    fd = connect_tcp(ip.port);
    golden_exchange(fd);
    close(fd);
    inproc_stop(&ip);
    assert_int_equal(ip.result.outcome, TL_RUN_STOPPED);
    tl_echo_stats_get(ip.svc, &st);
    assert_int_equal(st.failed, 0);
    inproc_free(&ip);
}

static void test_serve_client_echo_service_request_id_0_finishes(void **state)
{
    inproc ip;
    tl_echo_stats st;
    tl_svc_report rep;
    int fd;

    (void)state;
    inproc_start(&ip, 0);
    fd = connect_tcp(ip.port);
    golden_exchange(fd);
    /* As tofu: the echo would be a Response with message_id 0, which post
     * refuses (invalid_message_id), and the server stops. */
    send_frame(fd, 0x00, 0, NULL, 0);
    if (!inproc_wait(&ip, 0, 1, 10000 * time_scale())) {
        fail_msg("echo service did not finish");
    }
    expect_closed(fd);
    close(fd);
    inproc_stop(&ip);
    assert_int_equal(ip.result.outcome, TL_RUN_DONE);
    tl_echo_stats_get(ip.svc, &st);
    assert_int_equal(st.failed, 1);
    ip.svc->ops->report(ip.svc, &rep);
    assert_int_equal(rep.errors, 1);
    assert_non_null(strstr(rep.first_error, "invalid_message_id"));
    inproc_free(&ip);
}

/* Several services per runner (one thread each): two echo services on two
 * Unix sockets in one runner, the EchoClient and the Request/Response
 * client in another runner (a second host in this process). */
typedef struct {
    tl_runner *runner;
    tl_service *svcs[2];
    tl_run_result results[2];
    int rc;
} multi_run;

static void *multi_main(void *arg)
{
    multi_run *mr = arg;

    mr->rc = tl_runner_run(mr->runner, mr->svcs, 2, mr->results);
    return NULL;
}

static void test_serve_client_runner_several_services_succeed(void **state)
{
    inproc ip; /* only its lock, cond and listening counter are used */
    multi_run servers, clients;
    tl_runner_options ro;
    char dir[64], path[2][128], addr[2][300];
    const char *listen[2][1];
    tl_echo_client_config ec;
    tl_rr_config rr;
    tl_svc_report rep;
    tl_client_stats cs;
    pthread_t th;
    int i;

    (void)state;
    memset(&ip, 0, sizeof ip);
    pthread_mutex_init(&ip.lock, NULL);
    pthread_cond_init(&ip.cond, NULL);
    strcpy(dir, "/tmp/tofulab-multi-XXXXXX");
    assert_non_null(mkdtemp(dir));
    memset(&ro, 0, sizeof ro);
    ro.deadline_ns = 120ull * 1000000000ull * (uint64_t)time_scale();
    memset(&servers, 0, sizeof servers);
    memset(&clients, 0, sizeof clients);
    assert_int_equal(tl_runner_create(&ro, &servers.runner), TL_OK);
    ip.runner = servers.runner;
    for (i = 0; i < 2; i++) {
        tl_echo_config cfg;

        snprintf(path[i], sizeof path[i], "%s/e%d.sock", dir, i);
        snprintf(addr[i], sizeof addr[i], "uds|%s", path[i]);
        listen[i][0] = addr[i];
        memset(&cfg, 0, sizeof cfg);
        cfg.listen = listen[i];
        cfg.listen_count = 1;
        cfg.on_listening = inproc_on_listening;
        cfg.ctx = &ip;
        assert_int_equal(tl_echo_service_create(&cfg, &servers.svcs[i]), TL_OK);
    }
    assert_int_equal(pthread_create(&th, NULL, multi_main, &servers), 0);
    if (!inproc_wait(&ip, 2, 0, 10000 * time_scale())) {
        fail_msg("two echo services did not both listen");
    }

    memset(&ec, 0, sizeof ec);
    ec.connect = addr[0];
    ec.count = 100;
    ec.timeout_ns = 30ull * 1000000000ull * (uint64_t)time_scale();
    assert_int_equal(tl_echo_client_create(&ec, &clients.svcs[0]), TL_OK);
    memset(&rr, 0, sizeof rr);
    rr.connect = addr[1];
    rr.count = 500;
    rr.size_min = 0;
    rr.size_max = 1000;
    rr.concurrency = 7;
    rr.check_echo_body = 1;
    rr.timeout_ns = ec.timeout_ns;
    assert_int_equal(tl_rr_client_create(&rr, &clients.svcs[1]), TL_OK);
    ro.seed = 7;
    assert_int_equal(tl_runner_create(&ro, &clients.runner), TL_OK);
    multi_main(&clients);
    assert_int_equal(clients.rc, TL_OK);
    for (i = 0; i < 2; i++) {
        assert_int_equal(clients.results[i].outcome, TL_RUN_DONE);
        clients.svcs[i]->ops->report(clients.svcs[i], &rep);
        if (rep.errors != 0) {
            fail_msg("client %d: %s", i, rep.first_error);
        }
        assert_int_equal(rep.sent, i == 0 ? 100 : 500);
        assert_int_equal(rep.answered, rep.sent);
        assert_int_equal(rep.latency_count, rep.sent);
        assert_int_equal(rep.closed, 1);
        if (i == 0) {
            tl_echo_client_stats(clients.svcs[i], &cs);
        } else {
            tl_rr_client_stats(clients.svcs[i], &cs);
        }
        assert_true(cs.clean);
        assert_true(cs.connected);
        assert_int_equal(cs.connect_status, 0);
        assert_int_equal(cs.latency_count, rep.sent);
        clients.svcs[i]->ops->destroy(clients.svcs[i]);
    }
    tl_runner_destroy(clients.runner);

    tl_runner_stop(servers.runner);
    pthread_join(th, NULL);
    assert_int_equal(servers.rc, TL_OK);
    for (i = 0; i < 2; i++) {
        tl_echo_stats st;

        assert_int_equal(servers.results[i].outcome, TL_RUN_STOPPED);
        tl_echo_stats_get(servers.svcs[i], &st);
        assert_int_equal(st.echoed_hello, 1);
        assert_int_equal(st.echoed_bye, 1);
        assert_int_equal(st.echoed_requests, i == 0 ? 100 : 500);
        servers.svcs[i]->ops->destroy(servers.svcs[i]);
    }
    tl_runner_destroy(servers.runner);
    pthread_mutex_destroy(&ip.lock);
    pthread_cond_destroy(&ip.cond);
    for (i = 0; i < 2; i++) {
        struct stat sb;
        assert_int_equal(stat(path[i], &sb), -1); /* the host removed the paths */
    }
    rmdir(dir);
}

static void test_serve_client_echo_service_peer_welcome_request_dropped(void **state)
{
    inproc ip;
    tl_echo_stats st;
    int fd;

    (void)state;
    inproc_start(&ip, 2);
    fd = connect_tcp(ip.port);
    send_vector(fd, "V19");
    expect_vector(fd, "V20");
    /* V18 from a peer: its echo, a WelcomeResponse, goes nowhere (tofu drops
     * it in the engine, the reference engine refuses it at post, A16); it
     * counts against the budget like in tofu. */
    send_vector(fd, "V18");
    send_vector(fd, "V21");
    expect_vector(fd, "V22");
    close(fd);
    inproc_stop(&ip);
    tl_echo_stats_get(ip.svc, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.budget_left, 0);
    assert_int_equal(st.failed, 0);
    inproc_free(&ip);
}

/* A server at its connection limit refuses with a clean close, one line on
 * its stderr; the client calls that unreachable (exit 2). */
static void test_serve_client_refused_at_max_connections_exits_2(void **state)
{
    const char *args[] = {"serve", "--listen", "tcp|127.0.0.1|0", "--max-connections", "1", NULL};
    proc s, c;
    char addr[64];
    const char *line;
    int held;

    (void)state;
    proc_start(&s, args);
    if (!proc_wait_listening(&s, 1, 10000 * time_scale())) {
        fail_msg("serve did not listen: [%s]", s.err);
    }
    line = strstr(s.out, "listening on ");
    assert_non_null(line);
    snprintf(addr, sizeof addr, "%.*s", (int)strcspn(line + 13, "\n"), line + 13);
    held = connect_tcp((uint16_t)strtoul(strrchr(addr, '|') + 1, NULL, 10));
    sleep_ms(100);
    run_client(&c, addr, "echo", "3", NULL);
    assert_int_equal(c.exit_code, 2);
    assert_one_error_line(&c, "tofulab: client: ");
    assert_contains(c.err, "closed the connection before its HelloResponse (refused)");
    spawn_proc_free(&c);
    close(held);
    kill(s.pid, SIGTERM);
    proc_finish(&s, 10000 * time_scale());
    assert_int_equal(s.exit_code, 0);
    assert_int_equal(
        count_occurrences(s.err, "refused: 1 connections open, the most allowed (max-connections)"), 1);
    spawn_proc_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_serve_client_echo_tcp_succeeds, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_serve_client_echo_uds_succeeds, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_serve_client_echo_abort_succeeds, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_serve_client_request_response_tcp_succeeds, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_serve_client_request_response_uds_succeeds, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_serve_client_zero_count_succeeds, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_serve_client_parallel_clients_succeed, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_serve_client_sigterm_exits_0_and_removes_uds_path, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_serve_client_sigint_exits_0, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_serve_client_bad_address_exits_2),
        cmocka_unit_test(test_serve_client_unresolvable_host_exits_2),
        cmocka_unit_test(test_serve_client_uds_dir_missing_exits_2),
        cmocka_unit_test(test_serve_client_port_in_use_exits_2),
        cmocka_unit_test(test_serve_client_second_listener_fails_exits_2),
        cmocka_unit_test(test_serve_client_nothing_listening_exits_2),
        cmocka_unit_test(test_serve_client_refused_at_max_connections_exits_2),
        cmocka_unit_test(test_serve_client_bad_usage_exits_2),
        cmocka_unit_test(test_serve_client_help_exits_0),
        cmocka_unit_test(test_serve_client_help_lists_every_pattern),
        cmocka_unit_test(test_serve_client_budget_stops_server),
        cmocka_unit_test(test_serve_client_spin_us_off_and_max_succeed),
        cmocka_unit_test(test_serve_client_silent_server_times_out_exits_1),
        cmocka_unit_test(test_serve_client_wrong_echo_exits_1),
        cmocka_unit_test(test_serve_client_echo_client_frames_match_v19_v21),
        cmocka_unit_test(test_serve_client_echo_service_golden_tcp_matches),
        cmocka_unit_test(test_serve_client_echo_service_golden_uds_matches),
        cmocka_unit_test(test_serve_client_echo_service_response_frame_ignored),
        cmocka_unit_test(test_serve_client_echo_service_budget_finishes),
        cmocka_unit_test(test_serve_client_echo_service_signal_and_bye_echoed),
        cmocka_unit_test(test_serve_client_echo_service_peer_bye_signal_closes_channel),
        cmocka_unit_test(test_serve_client_echo_service_client_gone_server_continues),
        cmocka_unit_test(test_serve_client_echo_service_request_id_0_finishes),
        cmocka_unit_test(test_serve_client_echo_service_peer_welcome_request_dropped),
        cmocka_unit_test(test_serve_client_runner_several_services_succeed),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
