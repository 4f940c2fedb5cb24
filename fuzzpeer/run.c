/*
 * fuzz-peer: the loop. Pick a corpus entry, mutate it, append the barrier,
 * predict, run it over a fresh connection, judge the peer (crash, liveness,
 * hang, echo), keep the case if its reply pattern is new, restart a spawned
 * peer that stopped, until the time or the run count is used up.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

/* ---- setup ---- */

static int resolve(fp_ctx *x, char *err, size_t err_cap)
{
    const tl_address *a = &x->opt.peer;

    memset(&x->sa, 0, sizeof x->sa);
    if (a->kind == TL_ADDR_UDS) {
        struct sockaddr_un *un = (struct sockaddr_un *)&x->sa;

        un->sun_family = AF_UNIX;
        if (strlen(a->path) >= sizeof un->sun_path) {
            snprintf(err, err_cap, "UDS path too long: %s", a->path);
            return -1;
        }
        memcpy(un->sun_path, a->path, strlen(a->path) + 1);
        x->sa_len = (socklen_t)sizeof *un;
        return 0;
    }
    {
        struct addrinfo hints, *res = NULL;
        char port[8];
        int rc;

        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        snprintf(port, sizeof port, "%u", a->port);
        rc = getaddrinfo(a->host, port, &hints, &res);
        if (rc != 0 || res == NULL) {
            snprintf(err, err_cap, "cannot resolve '%s' in %s: %s", a->host, x->peer_text, gai_strerror(rc));
            return -1;
        }
        memcpy(&x->sa, res->ai_addr, res->ai_addrlen);
        x->sa_len = (socklen_t)res->ai_addrlen;
        freeaddrinfo(res);
    }
    return 0;
}

static int ctx_init(fp_ctx *x, const tl_fuzzpeer_options *opt, char *err, size_t err_cap)
{
    memset(x, 0, sizeof *x);
    x->opt = *opt;
    if (x->opt.oracles == 0) {
        x->opt.oracles = TL_FP_ORACLE_ALL;
    }
    x->opt.liveness_every = x->opt.liveness_every ? x->opt.liveness_every : 1;
    x->opt.hang_ms = x->opt.hang_ms ? x->opt.hang_ms : TL_FP_DEFAULT_HANG_MS;
    x->opt.liveness_ms = x->opt.liveness_ms ? x->opt.liveness_ms : TL_FP_DEFAULT_LIVENESS_MS;
    x->opt.startup_ms = x->opt.startup_ms ? x->opt.startup_ms : TL_FP_DEFAULT_STARTUP_MS;
    x->opt.minimize_ms = x->opt.minimize_ms ? x->opt.minimize_ms : TL_FP_DEFAULT_MINIMIZE_MS;
    x->echo = (x->opt.oracles & TL_FP_ORACLE_ECHO) != 0;
    if (tl_address_format(&opt->peer, x->peer_text, sizeof x->peer_text) < 0) {
        snprintf(err, err_cap, "bad peer address");
        return -1;
    }
    x->hello_tl = 0;
    if (tl_address_append_header(x->hello_text, sizeof x->hello_text, &x->hello_tl, TL_OP_HELLO_REQUEST,
                                 &opt->peer) != TL_OK) {
        x->hello_tl = 0;
    }
    x->opt.connections = x->opt.connections ? x->opt.connections : TL_FP_DEFAULT_CONNECTIONS;
    if (x->opt.connections > FP_MAX_LANES) {
        x->opt.connections = FP_MAX_LANES;
    }
    return resolve(x, err, err_cap);
}

/* mkdir -p for the out directory, then prove it can be written. */
static int prepare_out(fp_run *r, const char *dir, char *err, size_t err_cap)
{
    char path[600];
    size_t i, n = strlen(dir);
    FILE *f;

    if (n == 0 || n >= sizeof r->out_dir - 40) {
        snprintf(err, err_cap, "out directory name '%s' is empty or too long", dir);
        return -1;
    }
    snprintf(r->out_dir, sizeof r->out_dir, "%s", dir);
    snprintf(path, sizeof path, "%s", dir);
    for (i = 1; i <= n; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            char save = path[i];

            path[i] = '\0';
            if (mkdir(path, 0777) != 0 && errno != EEXIST) {
                snprintf(err, err_cap, "cannot create out directory %s: %s", path, strerror(errno));
                return -1;
            }
            path[i] = save;
        }
    }
    snprintf(path, sizeof path, "%s/findings", dir);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        snprintf(err, err_cap, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/.write-test", dir);
    f = fopen(path, "w");
    if (f == NULL || fclose(f) != 0) {
        snprintf(err, err_cap, "cannot write in out directory %s: %s", dir, strerror(errno));
        return -1;
    }
    unlink(path);
    return 0;
}

/* ---- the peer ---- */

/* The peer answered a probe. Well past 1100 echoes it certainly counted (twice
 * that: implementations count a little differently), it has no budget, and a
 * stop from now on is not the budget's. Stop rules sent shortly before stay
 * pending: a stop can show a moment after this answer. */
static void alive(fp_run *r)
{
    if (r->budget_low > 2u * FP_ECHO_BUDGET) {
        r->no_budget = 1;
    }
    if (r->pending_rules != 0 && tlc_now_us() >= r->rules_sent_us + FP_RULE_SETTLE_MS * 1000u) {
        r->pending_rules = 0; /* they did not stop it */
    }
    r->since_probe = 0;
}

static int probe(fp_run *r, unsigned timeout_ms, char *why, size_t why_cap)
{
    fp_lane *l = &r->lanes[0];
    uint64_t before = l->budget;
    int rc = fp_probe(&r->x, l, timeout_ms, why, why_cap);

    r->budget_used += l->budget - before;
    if (rc == 0) {
        r->budget_low += l->budget - before;
        alive(r);
    }
    return rc;
}

int fp_run_start_peer(fp_run *r, char *err, size_t err_cap)
{
    uint64_t deadline;
    char why[256] = "";
    int first = r->peer.cmd == NULL;

    if (r->peer.pid > 0) {
        fp_peer_stop(&r->peer);
    }
    if (r->x.opt.peer.kind == TL_ADDR_UDS) {
        /* A socket file left by the instance that died would make a peer
         * that does not unlink it first fail to listen. */
        struct stat st;

        if (lstat(r->x.opt.peer.path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            unlink(r->x.opt.peer.path);
        }
    }
    if (fp_peer_start(&r->peer, first ? r->x.opt.spawn : r->peer.cmd, err, err_cap) != 0) {
        return -1;
    }
    r->budget_used = 0;
    r->budget_low = 0;
    r->no_budget = 0;
    r->pending_rules = 0;
    r->since_probe = 0;
    deadline = tlc_now_us() + (uint64_t)r->x.opt.startup_ms * 1000u;
    for (;;) {
        if (fp_peer_poll(&r->peer)) {
            char ex[64];

            fp_peer_describe_exit(&r->peer, ex, sizeof ex);
            fp_fmt(err, err_cap, "--spawn '%s' ended (%s) before the peer answered at %s%s%s", r->peer.cmd,
                   ex, r->x.peer_text, r->peer.first_line[0] ? ": " : "", r->peer.first_line);
            return -1;
        }
        if (probe(r, 500, why, sizeof why) == 0) {
            return 0;
        }
        if (tlc_now_us() >= deadline) {
            fp_fmt(err, err_cap, "--spawn '%s': the peer did not answer at %s within %u ms (%s)", r->peer.cmd,
                   r->x.peer_text, r->x.opt.startup_ms, why);
            return -1;
        }
        tlc_sleep_us(5000);
    }
}

static int restart(fp_run *r)
{
    char err[512];

    r->rep->restarts++;
    if (fp_run_start_peer(r, err, sizeof err) != 0) {
        fprintf(r->log, "fuzz-peer: restart failed: %s\n", err);
        return -1;
    }
    return 0;
}

/* ---- judging ---- */

static void crash_verdict(fp_run *r, fp_verdict *v, int died)
{
    char ex[64], norm[200];
    const char *line = r->peer.report[0] ? r->peer.report : r->peer.first_line;

    v->failed = 1;
    v->oracle = TL_FP_CRASH;
    v->stopped = 1;
    if (died) {
        fp_peer_describe_exit(&r->peer, ex, sizeof ex);
    } else {
        fp_fmt(ex, sizeof ex, "report on stderr");
    }
    /* Deduplicated by signal / exit status and the first report line (or the
     * first stderr line when there is no report). */
    fp_normalize(norm, sizeof norm, line);
    fp_fmt(v->sig, sizeof v->sig, "crash: %s%s%s", ex, norm[0] ? ": " : "", norm);
    if (died) {
        fp_fmt(v->detail, sizeof v->detail, "the peer died: %s%s%s", ex, line[0] ? "; stderr: " : "", line);
    } else {
        fp_fmt(v->detail, sizeof v->detail, "the peer printed a crash report: %s", line);
    }
    fp_copy(v->stderr_line, sizeof v->stderr_line, line);
}

/* The rule that explains a stop, or FP_RULE_NONE: one a frame sent since the
 * peer last answered, or the budget if the 1100th echo went by meanwhile. */
static int stop_rule(const fp_run *r)
{
    /* Several cases ran at once: the rule that stops most servers first (a
     * refused echo stops `serve --exact` and tofu alike). */
    static const int order[] = {FP_RULE_ID0, FP_RULE_MORE, FP_RULE_STATUS21, FP_RULE_RESPONSE};
    size_t i;

    for (i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (r->pending_rules & (1u << order[i])) {
            return order[i];
        }
    }
    if (!r->no_budget && r->budget_used >= FP_ECHO_BUDGET) {
        return FP_RULE_BUDGET;
    }
    return FP_RULE_NONE;
}

static void expected_stop(fp_verdict *v, int rule)
{
    v->stopped = 1;
    v->expected_stop = 1;
    v->rule = rule;
}

static int troubled(const fp_outcome *o)
{
    return o->closed || o->connect_err || o->reset_by_us || o->failed || o->probe_failed;
}

void fp_judge_peer(fp_run *r, const fp_outcome *o, size_t n, int force_probe, fp_verdict *v)
{
    const tl_fuzzpeer_options *opt = &r->x.opt;
    int trouble = 0, stall_probe_failed = 0;
    char why[256] = "";
    size_t i;

    memset(v, 0, sizeof *v);
    v->rule = FP_RULE_NONE;
    for (i = 0; i < n; i++) {
        trouble |= troubled(&o[i]);
        if (o[i].probe_failed && !stall_probe_failed) {
            stall_probe_failed = 1;
            fp_fmt(why, sizeof why, "while another connection stalled mid-frame: %s", o[i].probe_detail);
        }
    }
    /* 1. crash: a spawned peer that died or printed a report. */
    if (r->spawned) {
        /* No waiting here: if the peer is dying, the probe below fails and
         * waits for it. */
        int died = fp_peer_poll(&r->peer);

        if (died) {
            int rule = stop_rule(r);

            if (fp_peer_exit_is_signal(&r->peer) || r->peer.report[0] || rule == FP_RULE_NONE) {
                if (opt->oracles & TL_FP_ORACLE_CRASH) {
                    crash_verdict(r, v, 1);
                } else {
                    v->stopped = 1;
                }
            } else {
                expected_stop(v, rule);
            }
            return;
        }
        if (r->peer.report[0] && (opt->oracles & TL_FP_ORACLE_CRASH)) {
            /* A report is usually followed by the death it announces. */
            died = fp_peer_wait_exit(&r->peer, 500);
            crash_verdict(r, v, died);
            return;
        }
    }
    /* 2. liveness: a fresh connection completes Hello and an echo. */
    r->since_probe += n;
    if (force_probe || trouble || r->since_probe >= opt->liveness_every) {
        int bad = stall_probe_failed;

        if (!bad && probe(r, opt->liveness_ms, why, sizeof why) != 0) {
            /* A peer that is merely slow (a loaded machine) gets a second
             * chance; a dead one fails both, a refused connect at once. */
            bad = (r->spawned && fp_peer_poll(&r->peer)) || strncmp(why, "connect:", 8) == 0 ||
                  probe(r, opt->liveness_ms, why, sizeof why) != 0;
        }
        if (bad) {
            char norm[200];
            int rule;

            if (r->spawned && fp_peer_wait_exit(&r->peer, 200)) {
                fp_judge_peer(r, o, 0, 0, v); /* it is dying: judge that */
                return;
            }
            rule = stop_rule(r);
            if (rule != FP_RULE_NONE && !stall_probe_failed) {
                expected_stop(v, rule);
                return;
            }
            v->stopped = !stall_probe_failed;
            if (!(opt->oracles & TL_FP_ORACLE_LIVENESS)) {
                return;
            }
            v->failed = 1;
            v->oracle = TL_FP_LIVENESS;
            fp_normalize(norm, sizeof norm, why);
            fp_fmt(v->sig, sizeof v->sig, "liveness: %s", norm);
            fp_fmt(v->detail, sizeof v->detail,
                   "a fresh connection did not complete Hello and an echo within %u ms: %s", opt->liveness_ms,
                   why);
        }
    }
}

void fp_case_verdict(const fp_run *r, const fp_outcome *o, fp_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->rule = FP_RULE_NONE;
    if (o->failed && (r->x.opt.oracles & (1u << o->oracle))) {
        v->failed = 1;
        v->oracle = o->oracle;
        fp_copy(v->sig, sizeof v->sig, o->sig);
        fp_copy(v->detail, sizeof v->detail, o->detail);
    }
}

/* Complete a case for sending: the barrier after whole frames, or (when fill
 * is set) the missing bytes of a trailing incomplete frame and then the
 * barrier; otherwise the incomplete frame is left as it is. */
static int finish_case(fp_run *r, fp_case *c, int fill)
{
    fp_model m;
    size_t missing;

    if (c->plan.bytewise && c->bytes.len > 1024) {
        c->plan.bytewise = 0; /* one byte per write is for small cases */
    }
    if (c->plan.reset) {
        return 0; /* the connection is cut before the end anyway */
    }
    if (fp_model_build(&m, c->bytes.p, c->bytes.len, 0, 0) != 0) {
        return -1;
    }
    missing = m.missing;
    fp_model_free(&m);
    if (missing > 0) {
        if (!fill || c->bytes.len + missing > FP_MAX_CASE_BYTES + TL_MAX_FRAME_LEN) {
            return 0;
        }
        if (fp_buf_reserve(&c->bytes, missing + TL_HEADER_SIZE) != 0) {
            return -1;
        }
        memset(c->bytes.p + c->bytes.len, 0, missing);
        c->bytes.len += missing;
    }
    if (c->plan.bytewise && c->bytes.len > 1024) {
        c->plan.bytewise = 0;
    }
    return fp_append_barrier(r->next_barrier++, &c->bytes);
}

/* What the peer counted against its budget: at least the frames before one
 * it answered (budget_low), at most every frame it got (budget_used). */
static void count_budget(fp_run *r, const fp_model *m, const fp_outcome *o)
{
    size_t i;

    for (i = 0; i < m->n && i < o->answered; i++) {
        r->budget_low += (uint64_t)m->p[i].budget;
    }
    for (i = 0; i < m->n && m->p[i].end <= o->sent; i++) {
        r->budget_used += (uint64_t)m->p[i].budget_max;
    }
}

/* ---- lanes: cases on several connections at once ---- */

typedef struct {
    const fp_case *c;
    fp_model m;
    fp_outcome o;
    int rc;
} fp_job;

typedef struct {
    struct fp_pool *pool;
    unsigned index;
    pthread_t th;
} fp_worker;

struct fp_pool {
    fp_run *r;
    pthread_mutex_t mu;
    pthread_cond_t go;
    pthread_cond_t done;
    uint64_t gen;
    unsigned running;
    int quit;
    fp_job *jobs[FP_MAX_LANES];
    fp_worker workers[FP_MAX_LANES];
    unsigned nworkers;
};

static void *worker_main(void *arg)
{
    fp_worker *w = arg;
    struct fp_pool *p = w->pool;
    uint64_t seen = 0;

    for (;;) {
        fp_job *j;

        pthread_mutex_lock(&p->mu);
        while (p->gen == seen && !p->quit) {
            pthread_cond_wait(&p->go, &p->mu);
        }
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->gen;
        j = p->jobs[w->index];
        pthread_mutex_unlock(&p->mu);
        if (j != NULL) {
            j->rc = fp_exec_case(&p->r->x, &p->r->lanes[w->index], j->c, &j->m, &j->o);
            pthread_mutex_lock(&p->mu);
            p->running--;
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void pool_free(fp_run *r)
{
    struct fp_pool *p = r->pool;
    unsigned i;

    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (i = 1; i < p->nworkers; i++) {
        pthread_join(p->workers[i].th, NULL);
    }
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p);
    r->pool = NULL;
}

static int pool_init(fp_run *r)
{
    struct fp_pool *p;
    unsigned i;

    if (r->nlanes <= 1) {
        return 0;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        return -1;
    }
    p->r = r;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    r->pool = p;
    p->nworkers = 1; /* lane 0 runs on the calling thread */
    for (i = 1; i < r->nlanes; i++) {
        p->workers[i].pool = p;
        p->workers[i].index = i;
        if (pthread_create(&p->workers[i].th, NULL, worker_main, &p->workers[i]) != 0) {
            break;
        }
        p->nworkers++;
    }
    r->nlanes = p->nworkers;
    return 0;
}

/* Run jobs[0..n) at once: job i on lane i. */
static void run_jobs(fp_run *r, fp_job *jobs, unsigned n)
{
    struct fp_pool *p = r->pool;
    unsigned i;

    if (p == NULL || n <= 1) {
        for (i = 0; i < n; i++) {
            jobs[i].rc = fp_exec_case(&r->x, &r->lanes[0], jobs[i].c, &jobs[i].m, &jobs[i].o);
        }
        return;
    }
    pthread_mutex_lock(&p->mu);
    for (i = 0; i < FP_MAX_LANES; i++) {
        p->jobs[i] = (i > 0 && i < n) ? &jobs[i] : NULL;
    }
    p->running = n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    jobs[0].rc = fp_exec_case(&r->x, &r->lanes[0], jobs[0].c, &jobs[0].m, &jobs[0].o);
    pthread_mutex_lock(&p->mu);
    while (p->running > 0) {
        pthread_cond_wait(&p->done, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
}

/* Build the job's model, noting the stop rules it may trigger. */
static int prepare_job(fp_run *r, fp_job *j, const fp_case *c)
{
    memset(j, 0, sizeof *j);
    j->c = c;
    if (fp_model_build(&j->m, c->bytes.p, c->bytes.len, 0, r->x.echo) != 0) {
        return -1;
    }
    r->pending_rules |= j->m.stop_rules; /* rules_sent_us: when the cases have run */
    return 0;
}

int fp_reproduce(fp_run *r, const fp_case *cases, size_t n, fp_verdict *v)
{
    fp_job j;
    size_t i;
    int rc = 0;
    int trouble = 0;

    memset(v, 0, sizeof *v);
    memset(&j, 0, sizeof j);
    /* A fresh peer after a crash, and after cases that may have stopped it
     * (a stop can come late: it would be put down to this attempt). */
    if (r->spawned && (r->peer.exited || r->peer.pid <= 0 || r->peer.report[0] || r->pending_rules != 0)) {
        if (restart(r) != 0) {
            return -1;
        }
    }
    r->pending_rules = 0;
    if (r->spawned) {
        fp_peer_poll(&r->peer);
        fp_peer_mark(&r->peer);
    }
    for (i = 0; i < n; i++) {
        fp_model_free(&j.m);
        if (prepare_job(r, &j, &cases[i]) != 0) {
            rc = -1;
            break;
        }
        run_jobs(r, &j, 1);
        if (j.m.stop_rules != 0) {
            r->rules_sent_us = tlc_now_us();
        }
        count_budget(r, &j.m, &j.o);
        trouble |= j.o.closed || j.o.connect_err || j.o.reset_by_us;
        if (j.rc != 0) {
            rc = -1;
            break;
        }
        if (j.o.failed || j.o.connect_err) {
            break;
        }
    }
    if (rc == 0) {
        if (r->spawned) {
            /* A crash takes a moment: after the connection drops, or after
             * the last frame when nothing was awaited. Meanwhile another
             * thread of the peer may still answer the probe, and the crash
             * would be put down to the next attempt. */
            (void)fp_peer_wait_exit(&r->peer, r->pending_rules != 0 ? 500 : trouble ? 150 : 50);
        }
        fp_judge_peer(r, &j.o, 1, 1, v);
        if (!v->failed && !v->stopped) {
            fp_case_verdict(r, &j.o, v);
        }
        if (v->stopped && r->spawned) {
            fp_peer_poll(&r->peer);
            if (!r->peer.exited) {
                fp_peer_stop(&r->peer); /* alive but not serving: restart on the next attempt */
            }
        }
    }
    fp_model_free(&j.m);
    return rc;
}

/* ---- the loop ---- */

static void remember(fp_run *r, const fp_case *c)
{
    fp_case *slot = &r->recent[r->recent_head];

    fp_case_free(slot);
    if (fp_case_copy(slot, c) != 0) {
        return;
    }
    r->recent_head = (r->recent_head + 1) % FP_RECENT;
    if (r->nrecent < FP_RECENT) {
        r->nrecent++;
    }
}

/* The recent cases, oldest first; *index_of gets the position of the case
 * that is `back` places from the newest. */
static size_t recent_cases(fp_run *r, fp_case *out)
{
    size_t i;

    for (i = 0; i < r->nrecent; i++) {
        out[i] = r->recent[(r->recent_head + FP_RECENT - r->nrecent + i) % FP_RECENT];
    }
    return r->nrecent;
}

static const fp_entry *pick(fp_run *r)
{
    fp_corpus *c = &r->corpus;
    const fp_entry *a, *b;

    /* Newer entries (new reply patterns) get a bit more attention. */
    if (c->n > 16 && fp_below(&r->rng, 4) == 0) {
        return &c->e[c->n - 1 - fp_below(&r->rng, 16)];
    }
    /* Of two, the smaller: small cases run fast, and mutations grow them
     * anyway (as AFL favours small, fast inputs). */
    a = &c->e[fp_below(&r->rng, c->n)];
    b = &c->e[fp_below(&r->rng, c->n)];
    return a->bytes.len <= b->bytes.len ? a : b;
}

static int stop_requested(const fp_run *r) { return r->x.opt.stop_flag != NULL && *r->x.opt.stop_flag; }

/* A peer that was not spawned stopped: wait for it to come back (a
 * supervisor may restart it), else end the run. */
static int wait_for_return(fp_run *r)
{
    uint64_t deadline = tlc_now_us() + (uint64_t)r->x.opt.startup_ms * 1000u;
    char why[256];

    while (tlc_now_us() < deadline && !stop_requested(r)) {
        if (probe(r, 500, why, sizeof why) == 0) {
            r->budget_used = 0;
            r->budget_low = 0;
            r->no_budget = 0;
            return 0;
        }
        tlc_sleep_us(50000);
    }
    return -1;
}

/* A new case. Without --spawn, none that would stop the peer (it could not
 * be brought back). With it, one in FP_STOP_ONE_IN, and only while no other
 * is pending (a stop is put down to the rule of a case sent shortly before;
 * with one such case at a time, a clean exit at any other time is a finding).
 * Others are withheld and drawn again. 1 ok, 0 none, -1 OOM. */
static int next_case(fp_run *r, fp_case *c, int *rule_taken)
{
    unsigned tries;

    for (tries = 0; tries < 64; tries++) {
        const fp_entry *e = pick(r);
        fp_model pm;

        if (fp_mutate(&r->mut, e->bytes.p, e->bytes.len, c) != 0 ||
            finish_case(r, c, (int)fp_below(&r->rng, 2)) != 0) {
            fp_case_free(c);
            return -1;
        }
        if (fp_model_build(&pm, c->bytes.p, c->bytes.len, 0, r->x.echo) != 0) {
            fp_case_free(c);
            return -1;
        }
        if (pm.stop_rule == FP_RULE_NONE) {
            fp_model_free(&pm);
            return 1;
        }
        if (r->spawned && !*rule_taken && r->pending_rules == 0 && fp_below(&r->rng, FP_STOP_ONE_IN) == 0) {
            *rule_taken = 1;
            fp_model_free(&pm);
            return 1;
        }
        r->rep->withheld++;
        fp_model_free(&pm);
        fp_case_free(c);
    }
    return 0;
}

/* Keep a case whose reply pattern is new (without its barrier). */
static void feedback(fp_run *r, const fp_job *j)
{
    size_t keep;
    const fp_model *m = &j->m;

    if (j->o.failed || j->o.connect_err || !fp_corpus_new_pattern(&r->corpus, j->o.pattern)) {
        return;
    }
    keep = j->c->bytes.len;
    if (m->n > 0 && m->p[m->n - 1].end == keep && m->p[m->n - 1].h.message_id >= FP_BARRIER_ID0) {
        keep = m->p[m->n - 1].offset;
    }
    if (keep <= FP_KEEP_MAX) {
        fp_corpus_add(&r->corpus, j->c->bytes.p, keep, 0);
    }
}

static void fill_report(fp_run *r)
{
    tl_fuzzpeer_report *rep = r->rep;
    unsigned i;

    rep->elapsed_ms = (tlc_now_us() - r->t0) / 1000u;
    rep->cases_per_s = rep->elapsed_ms > 0 ? (double)rep->cases * 1000.0 / (double)rep->elapsed_ms : 0.0;
    rep->frames_sent = rep->bytes_sent = rep->replies = rep->probes = 0;
    for (i = 0; i < FP_MAX_LANES; i++) {
        rep->frames_sent += r->lanes[i].frames_sent;
        rep->bytes_sent += r->lanes[i].bytes_sent;
        rep->replies += r->lanes[i].replies;
        rep->probes += r->lanes[i].probes;
    }
    rep->corpus_entries = r->corpus.n;
    rep->corpus_bytes = r->corpus.bytes;
    rep->corpus_seeds = r->corpus.seeds;
    rep->corpus_new = r->corpus.added;
    rep->corpus_new_bytes = r->corpus.found_bytes;
    rep->patterns = r->corpus.pattern_count;
    for (i = 0; i < TL_FP_RULE_COUNT; i++) {
        rep->stops[i].rule = fp_rule_text((int)i);
    }
    fp_copy(rep->out_dir, sizeof rep->out_dir, r->out_dir);
}

static int run_setup(fp_run *r, const tl_fuzzpeer_options *opt, tl_fuzzpeer_report *rep, char *err,
                     size_t err_cap)
{
    size_t i;

    memset(r, 0, sizeof *r);
    r->rep = rep;
    r->log = opt->log != NULL ? opt->log : stderr;
    r->pending_rules = 0;
    r->peer.err_fd = -1;
    r->next_barrier = FP_BARRIER_ID0;
    if (ctx_init(&r->x, opt, err, err_cap) != 0) {
        return TL_E_INVAL;
    }
    r->nlanes = r->x.opt.connections;
    for (i = 0; i < FP_MAX_LANES; i++) {
        if (fp_lane_init(&r->lanes[i], (unsigned)i) != 0) {
            fp_fmt(err, err_cap, "out of memory");
            return TL_E_NOMEM;
        }
    }
    fp_copy(rep->peer, sizeof rep->peer, r->x.peer_text);
    rep->seed = opt->seed;
    r->rng = opt->seed;
    if (fp_corpus_init(&r->corpus, opt->corpus_max_bytes) != 0 ||
        fp_builtin_seeds(&r->corpus, r->x.hello_text, r->x.hello_tl) != 0) {
        fp_fmt(err, err_cap, "out of memory");
        return TL_E_NOMEM;
    }
    for (i = 0; i < opt->corpus_count; i++) {
        if (fp_corpus_load_dir(&r->corpus, opt->corpus[i], err, err_cap) != 0) {
            return TL_E_INVAL;
        }
    }
    if (opt->dict != NULL && fp_dict_load(&r->corpus, opt->dict, err, err_cap) != 0) {
        return TL_E_INVAL;
    }
    r->mut.rng = &r->rng;
    r->mut.corpus = &r->corpus;
    r->mut.hello_text = r->x.hello_text;
    r->mut.hello_tl = r->x.hello_tl;
    r->spawned = opt->spawn != NULL && opt->spawn[0] != '\0';
    return TL_OK;
}

static int run_connect(fp_run *r, char *err, size_t err_cap)
{
    char why[256];

    if (r->spawned) {
        return fp_run_start_peer(r, err, err_cap) == 0 ? TL_OK : TL_E_IO;
    }
    if (probe(r, r->x.opt.liveness_ms, why, sizeof why) != 0) {
        fp_fmt(err, err_cap, "cannot reach the peer at %s: %s", r->x.peer_text, why);
        return TL_E_IO;
    }
    return TL_OK;
}

static void run_free(fp_run *r)
{
    size_t i;

    pool_free(r);
    if (r->peer.cmd != NULL) {
        fp_peer_free(&r->peer);
    }
    for (i = 0; i < FP_RECENT; i++) {
        fp_case_free(&r->recent[i]);
    }
    for (i = 0; i < FP_MAX_LANES; i++) {
        fp_lane_free(&r->lanes[i]);
    }
    fp_corpus_free(&r->corpus);
}

/* One batch: a case per lane, at once, then the judgement. Returns 0 to go
 * on, 1 to end the run (reason in the report), -1 on OOM. */
static int batch(fp_run *r)
{
    tl_fuzzpeer_report *rep = r->rep;
    fp_case cases[FP_MAX_LANES];
    fp_job jobs[FP_MAX_LANES];
    fp_outcome outs[FP_MAX_LANES];
    fp_verdict v;
    unsigned n = 0, i;
    int rc = 0, stopped = 0, rule_taken = 0;
    uint64_t left = r->x.opt.runs != 0 ? r->x.opt.runs - rep->cases : UINT64_MAX;

    memset(jobs, 0, sizeof jobs);
    while (n < r->nlanes && n < left) {
        int got = next_case(r, &cases[n], &rule_taken);

        if (got < 0) {
            rc = -1;
            break;
        }
        if (got == 0) {
            break;
        }
        if (prepare_job(r, &jobs[n], &cases[n]) != 0) {
            fp_case_free(&cases[n]);
            rc = -1;
            break;
        }
        remember(r, &cases[n]);
        n++;
    }
    if (n == 0) {
        return rc;
    }
    if (r->spawned) {
        fp_peer_mark(&r->peer);
    }
    run_jobs(r, jobs, n);
    for (i = 0; i < n; i++) {
        if (jobs[i].m.stop_rules != 0) {
            r->rules_sent_us = tlc_now_us();
        }
        r->case_no = ++rep->cases;
        count_budget(r, &jobs[i].m, &jobs[i].o);
        if (jobs[i].rc != 0) {
            rc = -1;
        }
        feedback(r, &jobs[i]);
        outs[i] = jobs[i].o;
    }
    /* The peer first: a crash or a stop explains whatever the cases saw. */
    fp_judge_peer(r, outs, n, 0, &v);
    if (v.failed) {
        fp_case rc_cases[FP_RECENT];
        size_t nr = recent_cases(r, rc_cases);

        fp_finding(r, &v, rc_cases, nr, -1);
    } else if (v.expected_stop) {
        rep->stops[v.rule].count++;
        rep->stops_total++;
        if (r->spawned && rep->stops[v.rule].example[0] == '\0') {
            fp_peer_poll(&r->peer);
            fp_copy(rep->stops[v.rule].example, sizeof rep->stops[v.rule].example,
                    r->peer.report[0] ? r->peer.report : r->peer.last_line);
        }
    } else if (!v.stopped) {
        for (i = 0; i < n; i++) {
            fp_verdict cv;

            fp_case_verdict(r, &outs[i], &cv);
            if (cv.failed) {
                fp_finding(r, &cv, &cases[i], 1, 0);
                stopped |= r->spawned && (r->peer.exited || r->peer.pid <= 0);
            }
        }
    }
    for (i = 0; i < n; i++) {
        fp_model_free(&jobs[i].m);
        fp_case_free(&cases[i]);
    }
    if (v.failed || v.stopped) {
        r->nrecent = 0; /* the next cases start from a clean slate */
    }
    if (v.stopped || stopped || (r->spawned && (r->peer.exited || r->peer.pid <= 0))) {
        if (r->spawned) {
            if (restart(r) != 0) {
                rep->peer_lost = 1;
                fp_fmt(rep->end_reason, sizeof rep->end_reason, "the peer could not be restarted");
                return 1;
            }
        } else if (wait_for_return(r) != 0) {
            rep->peer_lost = 1;
            fp_fmt(rep->end_reason, sizeof rep->end_reason,
                   "the peer at %s stopped %s; without --spawn it cannot be restarted", r->x.peer_text,
                   v.expected_stop ? "as PROTOCOL.md predicts" : "answering");
            return 1;
        }
    }
    return rc;
}

int tl_fuzzpeer_run(const tl_fuzzpeer_options *opt, tl_fuzzpeer_report *rep, char *err, size_t err_cap)
{
    fp_run *r;
    char dummy[8];
    int rc;
    uint64_t end_us = 0, last_progress;
    FILE *junit = NULL;

    if (err == NULL || err_cap == 0) {
        err = dummy;
        err_cap = sizeof dummy;
    }
    err[0] = '\0';
    memset(rep, 0, sizeof *rep);
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        fp_fmt(err, err_cap, "out of memory");
        return TL_E_NOMEM;
    }
    rc = run_setup(r, opt, rep, err, err_cap);
    if (rc == TL_OK &&
        prepare_out(r, opt->out_dir != NULL ? opt->out_dir : "fuzz-peer-out", err, err_cap) != 0) {
        rc = TL_E_INVAL;
    }
    if (rc == TL_OK && opt->junit != NULL) {
        junit = fopen(opt->junit, "w");
        if (junit == NULL) {
            fp_fmt(err, err_cap, "cannot write JUnit file %s: %s", opt->junit, strerror(errno));
            rc = TL_E_INVAL;
        }
    }
    if (rc == TL_OK) {
        rc = run_connect(r, err, err_cap);
    }
    if (rc == TL_OK && pool_init(r) != 0) {
        fp_fmt(err, err_cap, "out of memory");
        rc = TL_E_NOMEM;
    }
    if (rc != TL_OK) {
        if (junit != NULL) {
            fclose(junit);
            unlink(opt->junit);
        }
        run_free(r);
        free(r);
        return rc;
    }
    r->t0 = tlc_now_us();
    last_progress = r->t0;
    if (opt->time_ms > 0 || opt->runs == 0) {
        end_us = r->t0 + (opt->time_ms > 0 ? opt->time_ms : 60000u) * 1000u;
    }
    for (;;) {
        int b;

        if (stop_requested(r)) {
            fp_fmt(rep->end_reason, sizeof rep->end_reason, "stopped by a signal");
            break;
        }
        if ((end_us != 0 && tlc_now_us() >= end_us) || (opt->runs != 0 && rep->cases >= opt->runs)) {
            break;
        }
        if (opt->max_findings != 0 && rep->finding_count >= opt->max_findings) {
            fp_fmt(rep->end_reason, sizeof rep->end_reason, "%u finding%s (--max-findings)",
                   opt->max_findings, opt->max_findings == 1 ? "" : "s");
            break;
        }
        b = batch(r);
        if (b < 0) {
            fp_fmt(rep->end_reason, sizeof rep->end_reason, "out of memory");
            break;
        }
        if (b > 0) {
            break;
        }
        if (opt->verbose && tlc_now_us() - last_progress >= 5000000u) {
            last_progress = tlc_now_us();
            fprintf(r->log,
                    "fuzz-peer: %.0f s: %llu cases (%.0f/s), %zu findings, %llu restarts, corpus %zu\n",
                    (double)(last_progress - r->t0) / 1e6, (unsigned long long)rep->cases,
                    (double)rep->cases * 1e6 / (double)(last_progress - r->t0), rep->finding_count,
                    (unsigned long long)rep->restarts, r->corpus.n);
            fflush(r->log);
        }
    }
    pool_free(r);
    if (r->spawned) {
        fp_peer_stop(&r->peer);
    }
    fill_report(r);
    if (opt->save_corpus != NULL && fp_corpus_save(&r->corpus, opt->save_corpus, err, err_cap) != 0) {
        fprintf(r->log, "fuzz-peer: %s\n", err);
        err[0] = '\0';
    }
    {
        char path[600];
        FILE *f;

        fp_fmt(path, sizeof path, "%s/summary.txt", r->out_dir);
        f = fopen(path, "w");
        if (f != NULL) {
            tl_fuzzpeer_write_summary(f, rep);
            fclose(f);
        }
    }
    if (junit != NULL) {
        tl_fuzzpeer_write_junit(junit, rep);
        fclose(junit);
    }
    run_free(r);
    free(r);
    return TL_OK;
}

/* ---- replay ---- */

static int load_case(const char *file, fp_case *c, char *err, size_t err_cap)
{
    FILE *f;
    char plan_path[4200];
    long sz;

    memset(c, 0, sizeof c[0]);
    f = fopen(file, "rb");
    if (f == NULL) {
        snprintf(err, err_cap, "cannot read replay file %s: %s", file, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, err_cap, "cannot read replay file %s: not a regular file", file);
        fclose(f);
        return -1;
    }
    if ((unsigned long)sz > TL_FP_MAX_INPUT) {
        snprintf(err, err_cap, "replay file %s: %ld bytes, more than the %u a case may hold", file, sz,
                 TL_FP_MAX_INPUT);
        fclose(f);
        return -1;
    }
    if (fp_buf_reserve(&c->bytes, (size_t)sz + 1) != 0) {
        snprintf(err, err_cap, "out of memory");
        fclose(f);
        return -1;
    }
    c->bytes.len = fread(c->bytes.p, 1, (size_t)sz, f);
    fclose(f);
    if (c->bytes.len != (size_t)sz) {
        snprintf(err, err_cap, "cannot read replay file %s at byte %zu", file, c->bytes.len);
        fp_case_free(c);
        return -1;
    }
    /* conn-1.bin -> conn-1.plan beside it, when there is one. */
    snprintf(plan_path, sizeof plan_path, "%s", file);
    {
        size_t l = strlen(plan_path);

        if (l > 4 && strcmp(plan_path + l - 4, ".bin") == 0) {
            plan_path[l - 4] = '\0';
        }
        strncat(plan_path, ".plan", sizeof plan_path - strlen(plan_path) - 1);
    }
    f = fopen(plan_path, "rb");
    if (f != NULL) {
        char text[8192];
        size_t n = fread(text, 1, sizeof text, f);

        fclose(f);
        if (fp_plan_parse(text, n, plan_path, &c->plan, err, err_cap) != 0) {
            fp_case_free(c);
            return -1;
        }
        fp_plan_clamp(&c->plan, c->bytes.len);
    }
    return 0;
}

int tl_fuzzpeer_replay(const tl_fuzzpeer_options *opt, const char *const *files, size_t nfiles, int *failed,
                       tl_fuzzpeer_finding *finding, char *err, size_t err_cap)
{
    fp_run *r;
    tl_fuzzpeer_report *rep;
    fp_case cases[TL_FP_MAX_REPLAY];
    fp_verdict v;
    size_t i, loaded = 0;
    int rc = TL_OK;
    char dummy[8];

    if (err == NULL || err_cap == 0) {
        err = dummy;
        err_cap = sizeof dummy;
    }
    err[0] = '\0';
    *failed = 0;
    memset(finding, 0, sizeof *finding);
    if (nfiles == 0 || nfiles > TL_FP_MAX_REPLAY) {
        snprintf(err, err_cap, "replay needs 1 to %d files", TL_FP_MAX_REPLAY);
        return TL_E_INVAL;
    }
    r = calloc(1, sizeof *r);
    rep = calloc(1, sizeof *rep);
    if (r == NULL || rep == NULL) {
        free(r);
        free(rep);
        snprintf(err, err_cap, "out of memory");
        return TL_E_NOMEM;
    }
    memset(cases, 0, sizeof cases);
    rc = run_setup(r, opt, rep, err, err_cap);
    for (i = 0; rc == TL_OK && i < nfiles; i++) {
        if (load_case(files[i], &cases[i], err, err_cap) != 0) {
            rc = TL_E_INVAL;
            break;
        }
        loaded++;
    }
    if (rc == TL_OK) {
        rc = run_connect(r, err, err_cap);
    }
    if (rc == TL_OK) {
        r->t0 = tlc_now_us();
        if (fp_reproduce(r, cases, loaded, &v) != 0) {
            snprintf(err, err_cap, "the peer could not be started again");
            rc = TL_E_IO;
        } else {
            finding->oracle = v.oracle;
            snprintf(finding->signature, sizeof finding->signature, "%s", v.sig);
            if (v.expected_stop) {
                snprintf(finding->detail, sizeof finding->detail, "expected stop: %s", fp_rule_text(v.rule));
            } else {
                snprintf(finding->detail, sizeof finding->detail, "%s", v.detail);
            }
            snprintf(finding->stderr_line, sizeof finding->stderr_line, "%s", v.stderr_line);
            finding->conns = loaded;
            for (i = 0; i < loaded; i++) {
                finding->bytes += cases[i].bytes.len;
            }
            *failed = v.failed;
        }
    }
    for (i = 0; i < loaded; i++) {
        fp_case_free(&cases[i]);
    }
    run_free(r);
    free(r);
    free(rep);
    return rc;
}
