/*
 * Seed sweeps over worker processes (sweep.h). Worker j of J runs the items
 * k = j, j + J, j + 2J, ... of the list and writes one record per item on
 * its own pipe; the parent reads item k from worker k mod J, so results come
 * back in list order, and a worker that runs ahead blocks on its full pipe
 * (bounded memory, no reordering buffer). A run that kills its worker
 * gets rc = TL_E_IO and a note saying how, and a new worker takes over the
 * rest of that worker's share.
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

typedef struct {
    tl_scenario *const *scns;
    const source *src;
    uint64_t n;
    unsigned jobs;
    const tl_sweep_options *opt;
    pid_t *pid;
    int *fd; /* read ends, -1 when closed */
    record *rec;
} pool;

/* Start worker j on the items k = start, start + jobs, ... < n. 0, or -1
 * when no pipe or process could be made. */
static int spawn(pool *p, unsigned j, uint64_t start)
{
    int pp[2];
    if (pipe(pp) != 0) {
        return -1;
    }
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t child = fork();
    if (child < 0) {
        close(pp[0]);
        close(pp[1]);
        return -1;
    }
    if (child == 0) {
        /* a crash ends the worker (and is reported as that run's), never a
         * handler inherited from the caller (a test framework's, say) */
        static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
        for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
            signal(fatal[i], SIG_DFL);
        }
        close(pp[0]);
        for (unsigned i = 0; i < p->jobs; i++) {
            if (p->fd[i] >= 0) {
                close(p->fd[i]);
            }
        }
        tl_sweep_item it;
        for (uint64_t k = start; k < p->n; k += p->jobs) {
            memset(p->rec, 0, sizeof *p->rec);
            p->rec->index = k;
            item_at(p->src, k, &it);
            run_one(p->scns, &it, p->opt, &p->rec->r);
            if (write_all(pp[1], p->rec, sizeof *p->rec) != 0) {
                _exit(3);
            }
        }
        _exit(0);
    }
    close(pp[1]);
    p->pid[j] = child;
    p->fd[j] = pp[0];
    return 0;
}

/* Worker j did not report item k: the run crashed it (or it was killed).
 * Say so in r, and start a new worker on the rest of j's share. */
static void crashed(pool *p, unsigned j, uint64_t k, tl_sweep_result *r)
{
    int st = 0;
    close(p->fd[j]);
    p->fd[j] = -1;
    memset(r, 0, sizeof *r);
    r->rc = TL_E_IO;
    if (waitpid(p->pid[j], &st, 0) == p->pid[j] && WIFSIGNALED(st)) {
        snprintf(r->first_failure, sizeof r->first_failure, "the run killed its worker process (signal %d)",
                 WTERMSIG(st));
    } else {
        snprintf(r->first_failure, sizeof r->first_failure, "the run ended its worker process (exit %d)",
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    p->pid[j] = 0;
    if (k + p->jobs < p->n) {
        spawn(p, j, k + p->jobs); /* on failure fd[j] stays -1: the rest is lost */
    }
}

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
    pool p = {scns,
              src,
              n,
              jobs,
              opt,
              calloc(jobs, sizeof(pid_t)),
              calloc(jobs, sizeof(int)),
              malloc(sizeof(record))};
    if (p.pid == NULL || p.fd == NULL || p.rec == NULL) {
        free(p.pid);
        free(p.fd);
        free(p.rec);
        return TL_E_NOMEM;
    }
    for (unsigned j = 0; j < jobs; j++) {
        p.fd[j] = -1;
    }
    for (unsigned j = 0; j < jobs; j++) {
        if (spawn(&p, j, j) != 0) {
            /* the workers that did start cover only some items: stop them */
            for (unsigned i = 0; i < j; i++) {
                kill(p.pid[i], SIGKILL);
                close(p.fd[i]);
                waitpid(p.pid[i], NULL, 0);
            }
            free(p.pid);
            free(p.fd);
            free(p.rec);
            return TL_E_IO;
        }
    }
    for (uint64_t k = 0; k < n; k++) {
        unsigned j = (unsigned)(k % jobs);
        item_at(src, k, &it);
        if (p.fd[j] < 0) {
            memset(p.rec, 0, sizeof *p.rec);
            p.rec->r.rc = TL_E_IO;
            snprintf(p.rec->r.first_failure, sizeof p.rec->r.first_failure,
                     "not run: no worker process could be started");
        } else if (read_all(p.fd[j], p.rec, sizeof *p.rec) != 0 || p.rec->index != k) {
            crashed(&p, j, k, &p.rec->r);
        }
        p.rec->r.first_failure[sizeof p.rec->r.first_failure - 1] = '\0';
        each(ctx, k, &it, &p.rec->r);
    }
    for (unsigned j = 0; j < jobs; j++) {
        if (p.fd[j] >= 0) {
            close(p.fd[j]);
        }
        if (p.pid[j] != 0) {
            waitpid(p.pid[j], NULL, 0);
        }
    }
    free(p.pid);
    free(p.fd);
    free(p.rec);
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
