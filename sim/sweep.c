/*
 * Seed sweeps over worker processes (sweep.h). Worker j of J runs the items
 * k = j, j + J, j + 2J, ... of the list and writes one record per item on
 * its own pipe; the parent reads item k from worker k mod J, so results come
 * back in list order, and a worker that runs ahead blocks on its full pipe
 * (bounded memory, no reordering buffer). A worker that dies leaves its
 * missing items with rc = TL_E_IO.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sweep.h"

int tl_sweep_list_init(tl_sweep_list *l, const uint64_t *first, const uint64_t *last, size_t nfiles,
                       uint64_t shard_i, uint64_t shard_n)
{
    memset(l, 0, sizeof *l);
    if (shard_n == 0 || shard_i < 1 || shard_i > shard_n || (uint64_t)nfiles > UINT32_MAX) {
        return TL_E_INVAL;
    }
    uint64_t total = 0;
    for (size_t f = 0; f < nfiles; f++) {
        if (first[f] > last[f]) {
            return TL_E_INVAL;
        }
    }
    uint64_t *start = malloc((nfiles ? nfiles : 1) * sizeof *start);
    if (start == NULL) {
        return TL_E_NOMEM;
    }
    for (size_t f = 0; f < nfiles; f++) {
        uint64_t span = last[f] - first[f]; /* pairs - 1 */
        if (span == UINT64_MAX || total > UINT64_MAX - (span + 1)) {
            free(start);
            return TL_E_LIMIT;
        }
        start[f] = total;
        total += span + 1;
    }
    l->first = first;
    l->last = last;
    l->start = start;
    l->nfiles = nfiles;
    l->shard_i = shard_i;
    l->shard_n = shard_n;
    l->total = total;
    l->count = total / shard_n + (total % shard_n > shard_i - 1 ? 1 : 0);
    return TL_OK;
}

void tl_sweep_list_free(tl_sweep_list *l)
{
    free(l->start);
    l->start = NULL;
}

void tl_sweep_list_at(const tl_sweep_list *l, uint64_t k, tl_sweep_item *out)
{
    uint64_t g = k * l->shard_n + (l->shard_i - 1); /* < total: no overflow */
    size_t lo = 0, hi = l->nfiles;                  /* the last file with start <= g */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->start[mid] <= g) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    out->file = (uint32_t)lo;
    out->seed = l->first[lo] + (g - l->start[lo]);
}

int tl_sweep_plan(const uint64_t *first, const uint64_t *last, size_t nfiles, unsigned shard_i,
                  unsigned shard_n, tl_sweep_item **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    if (shard_n == 0) {
        shard_n = 1;
        shard_i = 1;
    }
    tl_sweep_list l;
    int rc = tl_sweep_list_init(&l, first, last, nfiles, shard_i, shard_n);
    if (rc != TL_OK) {
        return rc;
    }
    if (l.count > SIZE_MAX / sizeof(tl_sweep_item) - 1) {
        tl_sweep_list_free(&l);
        return TL_E_LIMIT;
    }
    tl_sweep_item *v = calloc((size_t)l.count + 1, sizeof *v);
    if (v == NULL) {
        tl_sweep_list_free(&l);
        return TL_E_NOMEM;
    }
    for (uint64_t k = 0; k < l.count; k++) {
        tl_sweep_list_at(&l, k, &v[k]);
    }
    *items = v;
    *n = (size_t)l.count;
    tl_sweep_list_free(&l);
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
        out->events = res.stats.events;
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

/* 0: n bytes read; -1: end of file or an error first */
static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

typedef struct {
    uint64_t index;
    tl_sweep_result r;
} record;

/* Where the items come from: an array or a list. */
typedef struct {
    const tl_sweep_item *items;
    const tl_sweep_list *list;
} source;

static void item_at(const source *s, uint64_t k, tl_sweep_item *out)
{
    if (s->items) {
        *out = s->items[k];
    } else {
        tl_sweep_list_at(s->list, k, out);
    }
}

typedef void (*deliver_fn)(void *ctx, uint64_t k, const tl_sweep_item *it, const tl_sweep_result *r);

static int sweep_core(tl_scenario *const *scns, const source *src, uint64_t n, const tl_sweep_options *opt,
                      deliver_fn each, void *ctx)
{
    tl_sweep_options none;
    if (opt == NULL) {
        memset(&none, 0, sizeof none);
        opt = &none;
    }
    unsigned jobs = opt->jobs;
    if ((uint64_t)jobs > n) {
        jobs = (unsigned)n;
    }
    tl_sweep_item it;
    if (jobs <= 1) {
        tl_sweep_result r;
        for (uint64_t k = 0; k < n; k++) {
            item_at(src, k, &it);
            run_one(scns, &it, opt, &r);
            each(ctx, k, &it, &r);
        }
        return TL_OK;
    }
    pid_t *pid = calloc(jobs, sizeof *pid);
    int *fd = calloc(jobs, sizeof *fd);
    record *rec = malloc(sizeof *rec);
    if (pid == NULL || fd == NULL || rec == NULL) {
        free(pid);
        free(fd);
        free(rec);
        return TL_E_NOMEM;
    }
    fflush(NULL); /* nothing buffered may be written twice */
    unsigned started = 0;
    for (unsigned j = 0; j < jobs; j++) {
        int p[2];
        if (pipe(p) != 0) {
            break;
        }
        pid_t child = fork();
        if (child < 0) {
            close(p[0]);
            close(p[1]);
            break;
        }
        if (child == 0) {
            close(p[0]);
            for (unsigned i = 0; i < started; i++) {
                close(fd[i]);
            }
            for (uint64_t k = j; k < n; k += jobs) {
                memset(rec, 0, sizeof *rec);
                rec->index = k;
                item_at(src, k, &it);
                run_one(scns, &it, opt, &rec->r);
                if (write_all(p[1], rec, sizeof *rec) != 0) {
                    _exit(3);
                }
            }
            _exit(0);
        }
        close(p[1]);
        pid[j] = child;
        fd[j] = p[0];
        started++;
    }
    if (started < jobs) {
        /* the workers that did start cover only some items: stop them */
        for (unsigned j = 0; j < started; j++) {
            kill(pid[j], SIGKILL);
            close(fd[j]);
            waitpid(pid[j], NULL, 0);
        }
        free(pid);
        free(fd);
        free(rec);
        return TL_E_IO;
    }
    for (uint64_t k = 0; k < n; k++) {
        unsigned j = (unsigned)(k % jobs);
        item_at(src, k, &it);
        if (fd[j] >= 0 && (read_all(fd[j], rec, sizeof *rec) != 0 || rec->index != k)) {
            close(fd[j]); /* the worker died (or garbled its pipe): the rest of its share is lost */
            fd[j] = -1;
        }
        if (fd[j] < 0) {
            memset(rec, 0, sizeof *rec);
            rec->r.rc = TL_E_IO;
            snprintf(rec->r.first_failure, sizeof rec->r.first_failure, "the worker process died");
        }
        rec->r.first_failure[sizeof rec->r.first_failure - 1] = '\0';
        each(ctx, k, &it, &rec->r);
    }
    for (unsigned j = 0; j < jobs; j++) {
        if (fd[j] >= 0) {
            close(fd[j]);
        }
        waitpid(pid[j], NULL, 0);
    }
    free(pid);
    free(fd);
    free(rec);
    return TL_OK;
}

typedef struct {
    tl_sweep_result *results;
    const tl_sweep_options *opt;
} array_sink;

static void to_array(void *ctx, uint64_t k, const tl_sweep_item *it, const tl_sweep_result *r)
{
    (void)it;
    array_sink *s = ctx;
    s->results[k] = *r;
    if (s->opt && s->opt->on_result) {
        s->opt->on_result(s->opt->ctx, (size_t)k, r);
    }
}

int tl_sweep_run(tl_scenario *const *scns, const tl_sweep_item *items, size_t n, const tl_sweep_options *opt,
                 tl_sweep_result *results)
{
    source src = {items, NULL};
    array_sink sink = {results, opt};
    return sweep_core(scns, &src, n, opt, to_array, &sink);
}

int tl_sweep_stream(tl_scenario *const *scns, const tl_sweep_list *list, const tl_sweep_options *opt,
                    void (*each)(void *ctx, uint64_t k, const tl_sweep_item *it, const tl_sweep_result *r),
                    void *ctx)
{
    source src = {NULL, list};
    return sweep_core(scns, &src, list->count, opt, each, ctx);
}
