/*
 * Real processes (hosts/proc.h).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "tofulab/wire.h"

extern char **environ;

struct tl_proc {
    pid_t pid;
    int reaped;
    int status;
    int stopped;
    char log[512];
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Our environment without Valgrind's preloads (a child under them would run
 * Valgrind's interposers without Valgrind). */
static char **child_env(void)
{
    size_t n = 0, k = 0;
    while (environ[n] != NULL) {
        n++;
    }
    char **env = calloc(n + 1, sizeof *env);
    if (env == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0 && strstr(environ[i], "vgpreload") != NULL) {
            continue;
        }
        env[k++] = environ[i];
    }
    env[k] = NULL;
    return env;
}

int tl_proc_spawn(const char *command, const char *log_path, tl_proc **out, char *err, size_t cap)
{
    *out = NULL;
    tl_proc *p = calloc(1, sizeof *p);
    if (p == NULL) {
        snprintf(err, cap, "out of memory");
        return TL_E_NOMEM;
    }
    snprintf(p->log, sizeof p->log, "%s", log_path ? log_path : "");
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int lg = log_path ? open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)
                      : open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (in < 0 || lg < 0) {
        snprintf(err, cap, "cannot open %s: %s", lg < 0 && log_path ? log_path : "/dev/null",
                 strerror(errno));
        if (in >= 0) {
            close(in);
        }
        if (lg >= 0) {
            close(lg);
        }
        free(p);
        return TL_E_IO;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, lg, 1);
    posix_spawn_file_actions_adddup2(&fa, lg, 2);
    posix_spawnattr_init(&at);
    posix_spawnattr_setpgroup(&at, 0);
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGTERM);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)command, NULL};
    char **env = child_env();
    int rc = env ? posix_spawn(&p->pid, "/bin/sh", &fa, &at, argv, env) : ENOMEM;
    free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(in);
    close(lg);
    if (rc != 0) {
        snprintf(err, cap, "cannot run /bin/sh: %s", strerror(rc));
        free(p);
        return TL_E_IO;
    }
    *out = p;
    return TL_OK;
}

int tl_proc_running(tl_proc *p, int *status)
{
    if (!p->reaped) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->reaped = 1;
            p->status = st;
        }
    }
    if (p->reaped && status != NULL) {
        *status = p->status;
    }
    return !p->reaped;
}

void tl_proc_describe(int status, char *out, size_t cap)
{
    if (WIFEXITED(status)) {
        snprintf(out, cap, "exit status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(out, cap, "killed by signal %d", WTERMSIG(status));
    } else {
        snprintf(out, cap, "status %d", status);
    }
}

void tl_proc_last_line(const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    if (path == NULL || path[0] == '\0') {
        return;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        if (n > 0) {
            snprintf(out, cap, "%s", line);
        }
    }
    fclose(f);
}

static int probe(const tl_address *a)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (a->kind == TL_ADDR_UDS) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, a->path, strlen(a->path) + 1);
        len = (socklen_t)sizeof *un;
    } else {
        struct addrinfo hints, *res = NULL;
        char port[8];
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        snprintf(port, sizeof port, "%u", (unsigned)a->port);
        if (getaddrinfo(a->host, port, &hints, &res) != 0 || res == NULL) {
            return -1;
        }
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        len = res->ai_addrlen;
        freeaddrinfo(res);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int ok = connect(fd, (struct sockaddr *)&ss, len) == 0;
    close(fd);
    return ok ? 0 : -1;
}

int tl_proc_wait_ready(tl_proc *p, const char *addr, uint64_t timeout_ns, char *err, size_t cap)
{
    tl_address a;
    if (tl_address_parse(addr, strlen(addr), &a) != TL_OK) {
        snprintf(err, cap, "bad address '%s'", addr);
        return TL_E_BAD_ADDRESS;
    }
    uint64_t end = mono_ns() + timeout_ns;
    for (;;) {
        int st;
        if (!tl_proc_running(p, &st)) {
            char how[64], last[300];
            tl_proc_describe(st, how, sizeof how);
            tl_proc_last_line(p->log, last, sizeof last);
            snprintf(err, cap, "exited at once (%s)%s%s", how, last[0] ? ": " : "", last);
            return TL_E_CLOSED;
        }
        if (probe(&a) == 0) {
            return TL_OK;
        }
        if (mono_ns() >= end) {
            snprintf(err, cap, "nothing accepted connections on %s within %llums", addr,
                     (unsigned long long)(timeout_ns / 1000000ull));
            return TL_E_TIMEOUT;
        }
        sleep_ns(20000000ull);
    }
}

int tl_proc_signal(tl_proc *p, int sig)
{
    if (!tl_proc_running(p, NULL)) {
        return TL_E_STATE;
    }
    if (kill(-p->pid, sig) != 0 && kill(p->pid, sig) != 0) {
        return TL_E_STATE;
    }
    if (sig == SIGSTOP) {
        p->stopped = 1;
    } else if (sig == SIGCONT) {
        p->stopped = 0;
    }
    return TL_OK;
}

void tl_proc_forget_faketime(pid_t pid)
{
    char name[64];
    snprintf(name, sizeof name, "/dev/shm/faketime_shm_%ld", (long)pid);
    (void)unlink(name);
    snprintf(name, sizeof name, "/dev/shm/sem.faketime_sem_%ld", (long)pid);
    (void)unlink(name);
}

/* libfaketime's faketime wrapper keeps a semaphore and a shared memory
 * object named by its PID in /dev/shm and removes them when its command
 * exits. Killed with its process group it leaves them behind, and a later
 * wrapper that gets the same PID cannot start ("faketime: sem_open ...
 * However, you may LD_PRELOAD libfaketime without using this wrapper"). The
 * faketime processes of group pgid, from /proc (at most max). */
static size_t faketime_members(pid_t pgid, pid_t *out, size_t max)
{
    size_t n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d != NULL && n < max && (e = readdir(d)) != NULL) {
        char path[300], line[512];
        if (e->d_name[0] < '1' || e->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        size_t len = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[len] = '\0';
        /* pid (comm) state ppid pgrp ...: comm may hold spaces and ')' */
        char *lp = strchr(line, '('), *rp = strrchr(line, ')');
        int ppid, pgrp;
        char state;
        if (lp == NULL || rp == NULL || rp < lp || sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) != 3 ||
            pgrp != (int)pgid) {
            continue;
        }
        *rp = '\0';
        if (strcmp(lp + 1, "faketime") == 0) {
            out[n++] = (pid_t)atoi(e->d_name);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

void tl_proc_kill(tl_proc *p)
{
    if (p == NULL || p->reaped) {
        return;
    }
    pid_t wrappers[16];
    size_t nw = faketime_members(p->pid, wrappers, sizeof wrappers / sizeof wrappers[0]);
    (void)kill(-p->pid, SIGKILL);
    (void)kill(p->pid, SIGKILL);
    for (size_t i = 0; i < nw; i++) {
        tl_proc_forget_faketime(wrappers[i]);
    }
    int st;
    while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR) {
    }
    p->reaped = 1;
    p->status = st;
}

pid_t tl_proc_pid(const tl_proc *p) { return p->pid; }

void tl_proc_free(tl_proc *p)
{
    if (p == NULL) {
        return;
    }
    tl_proc_kill(p);
    free(p);
}

uint16_t tl_proc_free_port(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return 0;
    }
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    uint16_t port = 0;
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0) {
        port = ntohs(sin.sin_port);
    }
    close(fd);
    return port;
}
