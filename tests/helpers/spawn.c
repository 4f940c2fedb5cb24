/* Running other programs from a test: see spawn.h. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Appends to a NUL-terminated buffer whose capacity is the next power of two
 * above its length (so appending n bytes costs O(n) overall, even for the
 * 60 MB of `tshark -G values`). */
static int buf_append(char **buf, size_t *len, const char *data, size_t n)
{
    size_t cap = 64;
    char *nb = *buf;

    while (cap < *len + 1) {
        cap *= 2;
    }
    if (*buf == NULL || *len + n + 1 > cap) {
        while (cap < *len + n + 1) {
            cap *= 2;
        }
        nb = realloc(*buf, cap);
        if (nb == NULL) {
            return -1;
        }
    }
    memcpy(nb + *len, data, n);
    *len += n;
    nb[*len] = '\0';
    *buf = nb;
    return 0;
}

static int name_listed(const char *entry, const char *const *names)
{
    size_t n;

    if (names == NULL) {
        return 0;
    }
    for (; *names != NULL; names++) {
        n = strlen(*names);
        if (strncmp(entry, *names, n) == 0 && entry[n] == '=') {
            return 1;
        }
    }
    return 0;
}

/* environ minus `unset` and minus the names `set` redefines, plus `set`. */
static char **build_env(const char *const *set, const char *const *unset)
{
    size_t n = 0, k = 0, i;
    char **env;

    for (i = 0; environ[i] != NULL; i++) {
        n++;
    }
    for (i = 0; set != NULL && set[i] != NULL; i++) {
        n++;
    }
    env = calloc(n + 1, sizeof *env);
    if (env == NULL) {
        return NULL;
    }
    for (i = 0; environ[i] != NULL; i++) {
        int replaced = 0;
        size_t j;

        for (j = 0; set != NULL && set[j] != NULL; j++) {
            const char *eq = strchr(set[j], '=');
            size_t name_len = eq != NULL ? (size_t)(eq - set[j]) : strlen(set[j]);
            if (strncmp(environ[i], set[j], name_len) == 0 && environ[i][name_len] == '=') {
                replaced = 1;
            }
        }
        if (!replaced && !name_listed(environ[i], unset)) {
            env[k++] = environ[i];
        }
    }
    for (i = 0; set != NULL && set[i] != NULL; i++) {
        env[k++] = (char *)set[i];
    }
    env[k] = NULL;
    return env;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int spawn_run(spawn_result *r, const char *const *argv, const char *const *set, const char *const *unset,
              const char *input, size_t input_len, int timeout_ms)
{
    int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    char **env;
    pid_t pid;
    size_t in_off = 0;
    int out_open = 1, err_open = 1;
    int status = 0;
    long long deadline;
    int rc;

    memset(r, 0, sizeof *r);
    if (buf_append(&r->out, &r->out_len, "", 0) != 0 || buf_append(&r->err, &r->err_len, "", 0) != 0) {
        r->spawn_errno = ENOMEM;
        return -1;
    }
    env = build_env(set, unset);
    if (env == NULL || pipe(in_pipe) != 0 || pipe(out_pipe) != 0 || pipe(err_pipe) != 0) {
        r->spawn_errno = errno != 0 ? errno : ENOMEM;
        free(env);
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    posix_spawn_file_actions_addclose(&fa, in_pipe[0]);
    posix_spawn_file_actions_addclose(&fa, in_pipe[1]);
    posix_spawn_file_actions_addclose(&fa, out_pipe[0]);
    posix_spawn_file_actions_addclose(&fa, out_pipe[1]);
    posix_spawn_file_actions_addclose(&fa, err_pipe[0]);
    posix_spawn_file_actions_addclose(&fa, err_pipe[1]);
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0) {
        r->spawn_errno = rc;
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(err_pipe[0]);
        return -1;
    }
    if (input == NULL || input_len == 0) {
        close(in_pipe[1]);
        in_pipe[1] = -1;
    } else {
        fcntl(in_pipe[1], F_SETFL, fcntl(in_pipe[1], F_GETFL) | O_NONBLOCK);
    }

    /* Feed stdin and drain stdout and stderr together, so no pipe fills up. */
    deadline = now_ms() + timeout_ms;
    while (out_open || err_open || in_pipe[1] >= 0) {
        struct pollfd pf[3];
        int np = 0, i;
        long long left = deadline - now_ms();
        char chunk[65536];

        if (left <= 0) {
            kill(pid, SIGKILL);
            r->timed_out = 1;
            break;
        }
        if (out_open) {
            pf[np].fd = out_pipe[0];
            pf[np++].events = POLLIN;
        }
        if (err_open) {
            pf[np].fd = err_pipe[0];
            pf[np++].events = POLLIN;
        }
        if (in_pipe[1] >= 0) {
            pf[np].fd = in_pipe[1];
            pf[np++].events = POLLOUT;
        }
        if (poll(pf, (nfds_t)np, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR) {
            kill(pid, SIGKILL);
            break;
        }
        for (i = 0; i < np; i++) {
            if (pf[i].revents == 0) {
                continue;
            }
            if (pf[i].fd == in_pipe[1]) {
                ssize_t w = write(in_pipe[1], input + in_off, input_len - in_off);
                if (w > 0) {
                    in_off += (size_t)w;
                }
                if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_off == input_len) {
                    close(in_pipe[1]);
                    in_pipe[1] = -1;
                }
            } else {
                ssize_t got = read(pf[i].fd, chunk, sizeof chunk);
                int is_out = pf[i].fd == out_pipe[0];

                if (got > 0) {
                    if (buf_append(is_out ? &r->out : &r->err, is_out ? &r->out_len : &r->err_len, chunk,
                                   (size_t)got) != 0) {
                        kill(pid, SIGKILL);
                    }
                } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                    if (is_out) {
                        out_open = 0;
                    } else {
                        err_open = 0;
                    }
                }
            }
        }
    }
    if (in_pipe[1] >= 0) {
        close(in_pipe[1]);
    }
    close(out_pipe[0]);
    close(err_pipe[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && !r->timed_out) {
        r->exit_code = WEXITSTATUS(status);
    } else {
        r->exit_code = -1;
        r->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    return 0;
}

void spawn_free(spawn_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

const char *spawn_tofulab(void)
{
    const char *p = getenv("TOFULAB");
    return (p != NULL && p[0] != '\0') ? p : "build/tofulab";
}

/* prog, then args up to their NULL: a NULL-terminated argv (malloc'd; aborts
 * when out of memory). */
static const char **make_argv(const char *prog, const char *const *args)
{
    size_t n = 0, i;
    const char **argv;

    while (args != NULL && args[n] != NULL) {
        n++;
    }
    argv = calloc(n + 2, sizeof *argv);
    if (argv == NULL) {
        abort();
    }
    argv[0] = prog;
    for (i = 0; i < n; i++) {
        argv[i + 1] = args[i];
    }
    return argv;
}

int spawn_tofulab_run(spawn_result *r, const char *const *args, const char *input, size_t input_len,
                      int timeout_ms)
{
    const char **argv = make_argv(spawn_tofulab(), args);
    int rc = spawn_run(r, argv, NULL, NULL, input, input_len, timeout_ms);

    free(argv);
    return rc;
}

void spawn_proc_init(spawn_proc *p)
{
    memset(p, 0, sizeof *p);
    p->out_fd = p->err_fd = -1;
}

int spawn_start(spawn_proc *p, const char *prog, const char *const *args, char *const *env)
{
    int out_pipe[2], err_pipe[2], devnull;
    const char **argv;
    posix_spawn_file_actions_t fa;
    int rc;

    spawn_proc_init(p);
    if (buf_append(&p->out, &p->out_len, "", 0) != 0 || buf_append(&p->err, &p->err_len, "", 0) != 0) {
        abort();
    }
    if (pipe(out_pipe) != 0) {
        return errno;
    }
    if (pipe(err_pipe) != 0) {
        rc = errno;
        close(out_pipe[0]);
        close(out_pipe[1]);
        return rc;
    }
    devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0) {
        rc = errno;
        close(out_pipe[0]);
        close(out_pipe[1]);
        close(err_pipe[0]);
        close(err_pipe[1]);
        return rc;
    }
    argv = make_argv(prog, args);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, devnull, 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    posix_spawn_file_actions_addclose(&fa, devnull);
    posix_spawn_file_actions_addclose(&fa, out_pipe[0]);
    posix_spawn_file_actions_addclose(&fa, out_pipe[1]);
    posix_spawn_file_actions_addclose(&fa, err_pipe[0]);
    posix_spawn_file_actions_addclose(&fa, err_pipe[1]);
    rc = posix_spawnp(&p->pid, prog, &fa, NULL, (char *const *)argv, env != NULL ? env : environ);
    posix_spawn_file_actions_destroy(&fa);
    free(argv);
    close(devnull);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0) {
        close(out_pipe[0]);
        close(err_pipe[0]);
        p->pid = 0;
        return rc;
    }
    p->started_ms = now_ms();
    p->out_fd = out_pipe[0];
    p->err_fd = err_pipe[0];
    return 0;
}

int spawn_pump(spawn_proc *p, int wait_ms)
{
    struct pollfd pf[2];
    int np = 0, i;
    char chunk[8192];

    if (p->out_fd >= 0) {
        pf[np].fd = p->out_fd;
        pf[np++].events = POLLIN;
    }
    if (p->err_fd >= 0) {
        pf[np].fd = p->err_fd;
        pf[np++].events = POLLIN;
    }
    if (np == 0) {
        return 0;
    }
    if (poll(pf, (nfds_t)np, wait_ms) <= 0) {
        return 1;
    }
    for (i = 0; i < np; i++) {
        ssize_t got;
        int is_out = pf[i].fd == p->out_fd;

        if (pf[i].revents == 0) {
            continue;
        }
        got = read(pf[i].fd, chunk, sizeof chunk);
        if (got > 0) {
            if (buf_append(is_out ? &p->out : &p->err, is_out ? &p->out_len : &p->err_len, chunk,
                           (size_t)got) != 0) {
                abort();
            }
        } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
            close(pf[i].fd);
            if (is_out) {
                p->out_fd = -1;
            } else {
                p->err_fd = -1;
            }
        }
    }
    return p->out_fd >= 0 || p->err_fd >= 0;
}

static void record_status(spawn_proc *p, int status)
{
    p->reaped = 1;
    p->ended_ms = now_ms();
    if (WIFEXITED(status)) {
        p->exit_code = WEXITSTATUS(status);
    } else {
        p->exit_code = -1;
        p->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
}

int spawn_finish(spawn_proc *p, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    int status = 0;

    for (;;) {
        spawn_pump(p, 20);
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            record_status(p, status);
            while (spawn_pump(p, 50) && now_ms() < deadline) {
            }
            return 0;
        }
        if (now_ms() >= deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            record_status(p, status);
            return -1;
        }
    }
}

void spawn_proc_free(spawn_proc *p)
{
    if (p->pid > 0 && !p->reaped) {
        int status;

        kill(p->pid, SIGKILL);
        kill(p->pid, SIGCONT); /* a stopped child must run to die */
        waitpid(p->pid, &status, 0);
    }
    if (p->out_fd >= 0) {
        close(p->out_fd);
    }
    if (p->err_fd >= 0) {
        close(p->err_fd);
    }
    free(p->out);
    free(p->err);
    spawn_proc_init(p);
}

int spawn_which(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    const char *p;

    if (path == NULL || strchr(name, '/') != NULL) {
        return -1;
    }
    for (p = path; *p != '\0';) {
        const char *end = strchr(p, ':');
        size_t dir_len = end != NULL ? (size_t)(end - p) : strlen(p);
        int n = snprintf(out, cap, "%.*s/%s", (int)dir_len, dir_len == 0 ? "." : p, name);

        if (n > 0 && (size_t)n < cap && access(out, X_OK) == 0) {
            return 0;
        }
        p += dir_len;
        if (*p == ':') {
            p++;
        }
    }
    return -1;
}

char *spawn_tmpdir(const char *tag)
{
    const char *dir = getenv("TMPDIR");
    char *path = spawn_fmt("%s/tofulab-%s-XXXXXX", (dir != NULL && dir[0] != '\0') ? dir : "/tmp", tag);

    if (mkdtemp(path) == NULL) {
        free(path);
        return NULL;
    }
    return path;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int spawn_rmtree(const char *path) { return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

char *spawn_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;
    char chunk[65536];
    size_t got;

    if (f == NULL) {
        return NULL;
    }
    if (buf_append(&buf, &n, "", 0) != 0) {
        fclose(f);
        return NULL;
    }
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_append(&buf, &n, chunk, got) != 0) {
            free(buf);
            fclose(f);
            return NULL;
        }
    }
    fclose(f);
    if (len != NULL) {
        *len = n;
    }
    return buf;
}

int spawn_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int rc = 0;

    if (f == NULL) {
        return -1;
    }
    if (len > 0 && fwrite(data, 1, len, f) != len) {
        rc = -1;
    }
    if (fclose(f) != 0) {
        rc = -1;
    }
    return rc;
}

char *spawn_fmt(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (s = malloc((size_t)n + 1)) == NULL) {
        abort();
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}
