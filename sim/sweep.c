/*
 * Seed sweeps over worker processes (sweep.h). Worker j of J runs items j,
 * j + J, j + 2J, ... and writes one record per item on its own pipe; the
 * parent polls every pipe, fills results[] and calls on_result. A worker
 * that dies leaves its missing items with rc = TL_E_IO.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sweep.h"

typedef struct {
    uint64_t index;
    tl_sweep_result r;
} record;

int tl_sweep_plan(const uint64_t *first, const uint64_t *last, size_t nfiles, unsigned shard_i,
                  unsigned shard_n, tl_sweep_item **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    if (shard_n == 0) {
        shard_n = 1;
        shard_i = 1;
    }
    if (shard_i < 1 || shard_i > shard_n) {
        return TL_E_INVAL;
    }
    size_t total = 0;
    for (size_t f = 0; f < nfiles; f++) {
        if (first[f] > last[f] ||
            last[f] - first[f] >= (uint64_t)(SIZE_MAX / sizeof(tl_sweep_item)) - total) {
            return TL_E_INVAL;
        }
        total += (size_t)(last[f] - first[f] + 1);
    }
    tl_sweep_item *v = calloc(total / shard_n + 1, sizeof *v);
    if (v == NULL) {
        return TL_E_NOMEM;
    }
    size_t k = 0, kept = 0;
    for (size_t f = 0; f < nfiles; f++) {
        for (uint64_t s = first[f];; s++, k++) {
            if (k % shard_n == shard_i - 1) {
                v[kept].file = (uint32_t)f;
                v[kept].seed = s;
                kept++;
            }
            if (s == last[f]) {
                k++;
                break;
            }
        }
    }
    *items = v;
    *n = kept;
    return TL_OK;
}

static void run_one(tl_scenario *const *scns, const tl_sweep_item *it, const tl_sweep_options *opt,
                    tl_sweep_result *out)
{
    tl_scn_run_options ro;
    tl_scn_result res;
    memset(&ro, 0, sizeof ro);
    ro.swarm = opt->swarm;
    memset(out, 0, sizeof *out);
    uint64_t t0 = opt->clock_ns ? opt->clock_ns() : 0;
    out->rc = tl_scn_run(scns[it->file], it->seed, &ro, &res);
    out->wall_ns = opt->clock_ns ? opt->clock_ns() - t0 : 0;
    if (out->rc == TL_OK) {
        out->passed = res.passed;
        out->failed = res.failed;
        out->trace_hash = res.trace_hash;
        memcpy(out->first_failure, res.first_failure, sizeof out->first_failure);
    }
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

typedef struct {
    pid_t pid;
    int fd; /* -1 when closed */
    size_t have;
    record buf;
} worker;

int tl_sweep_run(tl_scenario *const *scns, const tl_sweep_item *items, size_t n, const tl_sweep_options *opt,
                 tl_sweep_result *results)
{
    tl_sweep_options none;
    if (opt == NULL) {
        memset(&none, 0, sizeof none);
        opt = &none;
    }
    unsigned jobs = opt->jobs;
    if ((size_t)jobs > n) {
        jobs = (unsigned)n;
    }
    if (jobs <= 1) {
        for (size_t k = 0; k < n; k++) {
            run_one(scns, &items[k], opt, &results[k]);
            if (opt->on_result) {
                opt->on_result(opt->ctx, k, &results[k]);
            }
        }
        return TL_OK;
    }
    worker *w = calloc(jobs, sizeof *w);
    unsigned char *got = calloc(n, 1);
    struct pollfd *pfd = calloc(jobs, sizeof *pfd);
    if (w == NULL || got == NULL || pfd == NULL) {
        free(w);
        free(got);
        free(pfd);
        return TL_E_NOMEM;
    }
    fflush(NULL); /* nothing buffered may be written twice */
    unsigned started = 0;
    for (unsigned j = 0; j < jobs; j++) {
        int p[2];
        if (pipe(p) != 0) {
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            close(p[0]);
            close(p[1]);
            break;
        }
        if (pid == 0) {
            close(p[0]);
            for (unsigned i = 0; i < started; i++) {
                close(w[i].fd);
            }
            for (size_t k = j; k < n; k += jobs) {
                record rec;
                memset(&rec, 0, sizeof rec);
                rec.index = k;
                run_one(scns, &items[k], opt, &rec.r);
                if (write_all(p[1], &rec, sizeof rec) != 0) {
                    _exit(3);
                }
            }
            _exit(0);
        }
        close(p[1]);
        w[j].pid = pid;
        w[j].fd = p[0];
        started++;
    }
    if (started < jobs) {
        /* the workers that did start cover only some items: stop them */
        for (unsigned j = 0; j < started; j++) {
            kill(w[j].pid, SIGKILL);
            close(w[j].fd);
            waitpid(w[j].pid, NULL, 0);
        }
        free(w);
        free(got);
        free(pfd);
        return TL_E_IO;
    }
    unsigned open_fds = jobs;
    while (open_fds > 0) {
        for (unsigned j = 0; j < jobs; j++) {
            pfd[j].fd = w[j].fd; /* poll skips the closed ones (-1) */
            pfd[j].events = POLLIN;
            pfd[j].revents = 0;
        }
        if (poll(pfd, jobs, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        for (unsigned j = 0; j < jobs; j++) {
            if (w[j].fd < 0 || pfd[j].revents == 0) {
                continue;
            }
            ssize_t r = read(w[j].fd, (char *)&w[j].buf + w[j].have, sizeof w[j].buf - w[j].have);
            if (r < 0 && errno == EINTR) {
                continue;
            }
            if (r <= 0) {
                close(w[j].fd);
                w[j].fd = -1;
                open_fds--;
                continue;
            }
            w[j].have += (size_t)r;
            if (w[j].have == sizeof w[j].buf) {
                w[j].have = 0;
                uint64_t k = w[j].buf.index;
                if (k < n && !got[k]) {
                    got[k] = 1;
                    results[k] = w[j].buf.r;
                    results[k].first_failure[sizeof results[k].first_failure - 1] = '\0';
                    if (opt->on_result) {
                        opt->on_result(opt->ctx, (size_t)k, &results[k]);
                    }
                }
            }
        }
    }
    for (unsigned j = 0; j < jobs; j++) {
        if (w[j].fd >= 0) {
            close(w[j].fd);
        }
        waitpid(w[j].pid, NULL, 0);
    }
    for (size_t k = 0; k < n; k++) {
        if (!got[k]) {
            memset(&results[k], 0, sizeof results[k]);
            results[k].rc = TL_E_IO;
            snprintf(results[k].first_failure, sizeof results[k].first_failure, "the worker process died");
            if (opt->on_result) {
                opt->on_result(opt->ctx, k, &results[k]);
            }
        }
    }
    free(w);
    free(got);
    free(pfd);
    return TL_OK;
}
