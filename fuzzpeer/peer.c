/*
 * fuzz-peer: the spawned peer. `sh -c COMMAND` in a process group of its own
 * (so that a restart ends everything it started), stdin and stdout on
 * /dev/null, stderr captured: the last 64 KiB are kept for the finding, and
 * each line is scanned for sanitizer and panic reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

/* Lines that start a crash report: AddressSanitizer, LeakSanitizer and
 * friends, UBSan, Valgrind, Zig / Go / Rust panics, C assertions, glibc's
 * own aborts. */
static const char *const report_marks[] = {
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "ERROR: MemorySanitizer",
    "WARNING: ThreadSanitizer",
    "ERROR: HWAddressSanitizer",
    "runtime error:",
    "Invalid read of size",
    "Invalid write of size",
    "Invalid free()",
    "Conditional jump or move depends on uninitialised",
    "panic:",
    "panicked at",
    "Assertion `",
    "assertion failed",
    "Assertion failed",
    "fatal error:",
    "*** stack smashing detected",
    "double free or corruption",
    "malloc(): ",
    "free(): invalid",
    "Segmentation fault",
};

int fp_is_report_line(const char *line)
{
    size_t i;

    for (i = 0; i < sizeof report_marks / sizeof report_marks[0]; i++) {
        if (strstr(line, report_marks[i]) != NULL) {
            return 1;
        }
    }
    return 0;
}

/* n <= FP_STDERR_KEEP (drain reads 8 KiB at a time). */
static void keep_tail(fp_peer *p, const char *data, size_t n)
{
    if (p->tail_len + n > FP_STDERR_KEEP) {
        size_t drop = p->tail_len + n - FP_STDERR_KEEP;

        memmove(p->tail, p->tail + drop, p->tail_len - drop);
        p->tail_len -= drop;
    }
    memcpy(p->tail + p->tail_len, data, n);
    p->tail_len += n;
}

static void end_line(fp_peer *p)
{
    p->line[p->line_len] = '\0';
    if (p->line_len > 0) {
        if (p->first_line[0] == '\0') {
            fp_copy(p->first_line, sizeof p->first_line, p->line);
        }
        fp_copy(p->last_line, sizeof p->last_line, p->line);
        if (p->report[0] == '\0' && fp_is_report_line(p->line)) {
            fp_copy(p->report, sizeof p->report, p->line);
        }
    }
    p->line_len = 0;
}

static void scan(fp_peer *p, const char *data, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (data[i] == '\n') {
            end_line(p);
        } else if (p->line_len + 1 < sizeof p->line) {
            p->line[p->line_len++] = data[i] == '\r' ? ' ' : data[i];
        }
    }
}

static void drain(fp_peer *p)
{
    char buf[8192];

    if (p->err_fd < 0) {
        return;
    }
    for (;;) {
        ssize_t n = read(p->err_fd, buf, sizeof buf);

        if (n > 0) {
            keep_tail(p, buf, (size_t)n);
            scan(p, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0) {
            end_line(p); /* EOF: the last line may lack its newline */
            close(p->err_fd);
            p->err_fd = -1;
        }
        break;
    }
}

int fp_peer_start(fp_peer *p, const char *cmd, char *err, size_t err_cap)
{
    int pipefd[2], devnull;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    char *argv[4];
    char sh[] = "/bin/sh", dash_c[] = "-c";
    int rc;

    if (p->cmd == NULL) {
        size_t n = strlen(cmd) + 1;

        p->cmd = malloc(n);
        if (p->cmd == NULL) {
            snprintf(err, err_cap, "out of memory");
            return -1;
        }
        memcpy(p->cmd, cmd, n);
    }
    p->pid = 0;
    p->err_fd = -1;
    p->exited = 0;
    p->status = 0;
    p->tail_len = 0;
    p->line_len = 0;
    p->report[0] = '\0';
    p->first_line[0] = '\0';
    p->last_line[0] = '\0';
    if (pipe(pipefd) != 0) {
        snprintf(err, err_cap, "cannot spawn '%s': pipe: %s", p->cmd, strerror(errno));
        return -1;
    }
    devnull = open("/dev/null", O_RDWR);
    if (devnull < 0) {
        snprintf(err, err_cap, "cannot spawn '%s': /dev/null: %s", p->cmd, strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, devnull, 0);
    posix_spawn_file_actions_adddup2(&fa, devnull, 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawn_file_actions_addclose(&fa, devnull);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    posix_spawn_file_actions_addclose(&fa, pipefd[1]);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    {
        sigset_t none, all;

        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &all);
    }
    argv[0] = sh;
    argv[1] = dash_c;
    argv[2] = p->cmd;
    argv[3] = NULL;
    rc = posix_spawn(&p->pid, "/bin/sh", &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(devnull);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        p->pid = 0;
        snprintf(err, err_cap, "cannot spawn '%s': %s", p->cmd, strerror(rc));
        return -1;
    }
    fcntl(pipefd[0], F_SETFL, fcntl(pipefd[0], F_GETFL) | O_NONBLOCK);
    fcntl(pipefd[0], F_SETFD, FD_CLOEXEC);
    p->err_fd = pipefd[0];
    p->started_us = tlc_now_us();
    return 0;
}

int fp_peer_poll(fp_peer *p)
{
    drain(p);
    if (p->pid > 0 && !p->exited) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);

        if (r == p->pid) {
            p->exited = 1;
            p->status = st;
            drain(p);
        }
    }
    return p->exited;
}

int fp_peer_wait_exit(fp_peer *p, unsigned ms)
{
    uint64_t deadline = tlc_now_us() + (uint64_t)ms * 1000u;

    while (!fp_peer_poll(p)) {
        if (tlc_now_us() >= deadline) {
            return 0;
        }
        tlc_sleep_us(2000);
    }
    /* Let the rest of a report reach the pipe (grandchildren may hold it). */
    tlc_sleep_us(1000);
    drain(p);
    return 1;
}

void fp_peer_mark(fp_peer *p)
{
    p->report[0] = '\0';
    p->first_line[0] = '\0';
    p->last_line[0] = '\0';
}

void fp_peer_stop(fp_peer *p)
{
    if (p->pid > 0) {
        if (!p->exited) {
            kill(-p->pid, SIGTERM);
            if (!fp_peer_wait_exit(p, 2000)) {
                kill(-p->pid, SIGKILL);
                (void)fp_peer_wait_exit(p, 5000);
            }
        }
        /* Whatever the shell left behind in the group. */
        kill(-p->pid, SIGKILL);
        if (!p->exited) {
            int st;

            if (waitpid(p->pid, &st, 0) == p->pid) {
                p->exited = 1;
                p->status = st;
            }
        }
    }
    drain(p);
    if (p->err_fd >= 0) {
        close(p->err_fd);
        p->err_fd = -1;
    }
}

void fp_peer_free(fp_peer *p)
{
    fp_peer_stop(p);
    free(p->cmd);
    p->cmd = NULL;
}

static const char *sig_name(int sig)
{
    switch (sig) {
    case SIGABRT: return "SIGABRT";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGPIPE: return "SIGPIPE";
    case SIGSYS: return "SIGSYS";
    default: return "signal";
    }
}

/* sh -c reports a child's death by signal N as exit status 128+N. */
static int shell_signal(int code)
{
    int sig = code - 128;

    return (code > 128 && (sig == SIGABRT || sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
                           sig == SIGFPE || sig == SIGKILL || sig == SIGTRAP || sig == SIGSYS))
               ? sig
               : 0;
}

int fp_peer_exit_is_signal(const fp_peer *p)
{
    return p->exited &&
           (WIFSIGNALED(p->status) || (WIFEXITED(p->status) && shell_signal(WEXITSTATUS(p->status))));
}

void fp_peer_describe_exit(const fp_peer *p, char *out, size_t cap)
{
    if (!p->exited) {
        fp_fmt(out, cap, "still running");
    } else if (WIFSIGNALED(p->status)) {
        fp_fmt(out, cap, "signal %d (%s)", WTERMSIG(p->status), sig_name(WTERMSIG(p->status)));
    } else if (WIFEXITED(p->status) && shell_signal(WEXITSTATUS(p->status))) {
        int sig = shell_signal(WEXITSTATUS(p->status));

        fp_fmt(out, cap, "signal %d (%s)", sig, sig_name(sig));
    } else if (WIFEXITED(p->status)) {
        fp_fmt(out, cap, "exit status %d", WEXITSTATUS(p->status));
    } else {
        fp_fmt(out, cap, "wait status 0x%x", (unsigned)p->status);
    }
}
