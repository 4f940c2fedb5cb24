/*
 * Services on the POSIX host: the only place in patterns/ that reads a clock
 * or picks random numbers; services see both only through tl_svc_env.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner_posix.h"

#define DEFAULT_POLL_NS 50000000ull /* 50 ms */
#define DEFAULT_SEED    0x746f66756c6162ull

typedef struct {
    uint64_t token;
    uint64_t deadline;
} runner_timer;

typedef struct {
    struct tl_runner *runner;
    tl_service *service;
    size_t index;
    uint32_t group;
    int have_group;
    tl_svc_env env;
    runner_timer *timers;
    size_t timer_count;
    size_t timer_cap;
    uint64_t rng[4];
    uint64_t deadline; /* absolute, 0 = none */
    tl_run_result result;
} runner_slot;

struct tl_runner {
    tl_posix *host;
    tl_runner_options opt;
    atomic_int stop;
    pthread_mutex_t lock; /* guards slots/slot_count for tl_runner_stop */
    runner_slot *slots;
    size_t slot_count;
};

uint64_t tl_runner_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- randomness: splitmix64 seeds xoshiro256** ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5u, 7) * 9u;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* ---- the env callbacks (host = runner_slot) ---- */

static int env_get(void *host, tl_get_strategy how, tl_message **out)
{
    runner_slot *s = host;

    return tl_posix_get(s->runner->host, how, out);
}

static void env_put(void *host, tl_message **msg)
{
    runner_slot *s = host;

    tl_posix_put(s->runner->host, msg);
}

static int env_post(void *host, tl_message **msg, tl_post_out *out)
{
    runner_slot *s = host;

    return tl_posix_post(s->runner->host, s->group, msg, out);
}

static uint64_t env_now(void *host)
{
    (void)host;
    return tl_runner_now_ns();
}

static void env_cancel_timer(void *host, uint64_t token)
{
    runner_slot *s = host;
    size_t i;

    for (i = 0; i < s->timer_count; i++) {
        if (s->timers[i].token == token) {
            s->timers[i] = s->timers[s->timer_count - 1];
            s->timer_count--;
            return;
        }
    }
}

static void env_set_timer(void *host, uint64_t delay_ns, uint64_t token)
{
    runner_slot *s = host;
    uint64_t now = tl_runner_now_ns();
    uint64_t deadline = (delay_ns > UINT64_MAX - now) ? UINT64_MAX : now + delay_ns;
    size_t i;

    for (i = 0; i < s->timer_count; i++) {
        if (s->timers[i].token == token) {
            s->timers[i].deadline = deadline;
            return;
        }
    }
    if (s->timer_count == s->timer_cap) {
        size_t cap = s->timer_cap ? s->timer_cap * 2 : 8;
        runner_timer *t = realloc(s->timers, cap * sizeof *t);

        if (t == NULL) {
            /* No way to report through the env: say it, the service's own
             * timeout logic will not fire. */
            fprintf(stderr, "tofulab: runner: out of memory for a timer\n");
            return;
        }
        s->timers = t;
        s->timer_cap = cap;
    }
    s->timers[s->timer_count].token = token;
    s->timers[s->timer_count].deadline = deadline;
    s->timer_count++;
}

static uint64_t env_random(void *host)
{
    runner_slot *s = host;

    return xoshiro_next(s->rng);
}

static void env_log(void *host, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 0)))
#endif
    ;

static void env_log(void *host, const char *fmt, va_list ap)
{
    runner_slot *s = host;
    const char *name =
        (s->service->ops != NULL && s->service->ops->name != NULL) ? s->service->ops->name : "service";

    if (!s->runner->opt.verbose) {
        return;
    }
    flockfile(stderr);
    fprintf(stderr, "tofulab[%s]: ", name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}

static void env_warn(void *host, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 0)))
#endif
    ;

static void env_warn(void *host, const char *fmt, va_list ap)
{
    runner_slot *s = host;
    const char *name =
        (s->service->ops != NULL && s->service->ops->name != NULL) ? s->service->ops->name : "service";
    char line[512];

    vsnprintf(line, sizeof line, fmt, ap);
    if (s->runner->opt.warn != NULL) {
        s->runner->opt.warn(s->runner->opt.warn_ctx, line);
        return;
    }
    flockfile(stderr);
    fprintf(stderr, "tofulab[%s]: %s\n", name, line);
    funlockfile(stderr);
}

static int env_describe(void *host, uint16_t channel, int what, char *buf, size_t cap)
{
    runner_slot *s = host;

    if (what == TL_SVC_PEER) {
        return tl_posix_peer_name(s->runner->host, channel, buf, cap);
    }
    if (what == TL_SVC_OS_ERROR) {
        return tl_posix_channel_error(s->runner->host, channel, buf, cap);
    }
    if (buf != NULL && cap > 0) {
        buf[0] = '\0';
    }
    return 0;
}

/* ---- the loop ---- */

static int stop_requested(const struct tl_runner *r)
{
    if (atomic_load(&r->stop)) {
        return 1;
    }
    return r->opt.stop_flag != NULL && *r->opt.stop_flag != 0;
}

/* Earliest timer deadline, UINT64_MAX if none. */
static uint64_t next_timer(const runner_slot *s)
{
    uint64_t best = UINT64_MAX;
    size_t i;

    for (i = 0; i < s->timer_count; i++) {
        if (s->timers[i].deadline < best) {
            best = s->timers[i].deadline;
        }
    }
    return best;
}

/* Fire every timer due at now, earliest first; a callback may re-arm. */
static void fire_timers(runner_slot *s, uint64_t now)
{
    tl_service *svc = s->service;

    while (!svc->done && s->timer_count > 0) {
        size_t i, best = 0;
        uint64_t token;

        for (i = 1; i < s->timer_count; i++) {
            if (s->timers[i].deadline < s->timers[best].deadline) {
                best = i;
            }
        }
        if (s->timers[best].deadline > now) {
            return;
        }
        token = s->timers[best].token;
        s->timers[best] = s->timers[s->timer_count - 1];
        s->timer_count--;
        if (svc->ops->on_timer != NULL) {
            svc->ops->on_timer(svc, &s->env, token);
        }
    }
}

static void run_slot(runner_slot *s)
{
    struct tl_runner *r = s->runner;
    tl_service *svc = s->service;
    uint64_t poll = r->opt.poll_ns ? r->opt.poll_ns : DEFAULT_POLL_NS;
    int rc;

    s->result.outcome = TL_RUN_DONE;
    s->result.error = 0;
    rc = svc->ops->start != NULL ? svc->ops->start(svc, &s->env) : 0;
    if (rc != 0) {
        svc->done = 1;
        s->result.outcome = TL_RUN_FAILED;
        s->result.error = rc;
        return;
    }
    while (!svc->done) {
        uint64_t now, wait, t;
        tl_message *m = NULL;

        if (stop_requested(r)) {
            s->result.outcome = TL_RUN_STOPPED;
            return;
        }
        now = tl_runner_now_ns();
        if (s->deadline != 0 && now >= s->deadline) {
            s->result.outcome = TL_RUN_DEADLINE;
            return;
        }
        fire_timers(s, now);
        if (svc->done) {
            break;
        }
        wait = poll;
        t = next_timer(s);
        if (t != UINT64_MAX) {
            wait = t > now ? (t - now < wait ? t - now : wait) : 0;
        }
        if (s->deadline != 0 && s->deadline - now < wait) {
            wait = s->deadline - now;
        }
        rc = tl_posix_wait_receive(r->host, s->group, wait, &m);
        if (rc == TL_E_TIMEOUT) {
            continue;
        }
        if (rc != TL_OK) {
            s->result.outcome = TL_RUN_FAILED;
            s->result.error = rc;
            return;
        }
        if (m == NULL) {
            continue;
        }
        if (stop_requested(r)) {
            /* Probably tl_runner_stop's wake-up; the service is not told. */
            tl_posix_put(r->host, &m);
            s->result.outcome = TL_RUN_STOPPED;
            return;
        }
        if (svc->ops->on_message(svc, &s->env, &m) != 0) {
            svc->done = 1;
        }
        if (m != NULL) {
            tl_posix_put(r->host, &m);
        }
    }
}

static void *slot_thread(void *arg)
{
    run_slot(arg);
    return NULL;
}

int tl_runner_create(const tl_runner_options *opt, tl_runner **out)
{
    struct tl_runner *r;
    int rc;

    if (out == NULL) {
        return TL_E_INVAL;
    }
    *out = NULL;
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        return TL_E_NOMEM;
    }
    if (opt != NULL) {
        r->opt = *opt;
    }
    atomic_init(&r->stop, 0);
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        return TL_E_NOMEM;
    }
    rc = tl_posix_create_ex(r->opt.engine, r->opt.host, &r->host);
    if (rc != TL_OK) {
        pthread_mutex_destroy(&r->lock);
        free(r);
        return rc;
    }
    r->opt.engine = NULL; /* borrowed only for the call */
    r->opt.host = NULL;
    *out = r;
    return TL_OK;
}

tl_posix *tl_runner_host(tl_runner *r) { return r != NULL ? r->host : NULL; }

static int result_code(const tl_run_result *res)
{
    switch (res->outcome) {
    case TL_RUN_DONE:
    case TL_RUN_STOPPED: return TL_OK;
    case TL_RUN_DEADLINE: return TL_E_TIMEOUT;
    case TL_RUN_FAILED: break;
    }
    return res->error < 0 ? res->error : TL_E_STATE;
}

int tl_runner_run(tl_runner *r, tl_service *const *services, size_t count, tl_run_result *results)
{
    runner_slot *slots;
    pthread_t *threads = NULL;
    uint64_t start = tl_runner_now_ns();
    uint64_t seed;
    size_t i;
    int rc = TL_OK;

    if (r == NULL || (services == NULL && count > 0)) {
        return TL_E_INVAL;
    }
    for (i = 0; i < count; i++) {
        if (services[i] == NULL || services[i]->ops == NULL || services[i]->ops->on_message == NULL) {
            return TL_E_INVAL;
        }
    }
    if (count == 0) {
        return TL_OK;
    }
    slots = calloc(count, sizeof *slots);
    if (slots == NULL) {
        return TL_E_NOMEM;
    }
    seed = r->opt.seed ? r->opt.seed : DEFAULT_SEED;
    for (i = 0; i < count; i++) {
        runner_slot *s = &slots[i];
        uint64_t x = seed ^ (0xd1b54a32d192ed03ull * (uint64_t)(i + 1));
        int k;

        s->runner = r;
        s->service = services[i];
        s->index = i;
        for (k = 0; k < 4; k++) {
            s->rng[k] = splitmix64(&x);
        }
        s->env.host = s;
        s->env.get = env_get;
        s->env.put = env_put;
        s->env.post = env_post;
        s->env.now = env_now;
        s->env.set_timer = env_set_timer;
        s->env.cancel_timer = env_cancel_timer;
        s->env.random = env_random;
        s->env.log = env_log;
        s->env.warn = env_warn;
        s->env.describe = env_describe;
        s->deadline = r->opt.deadline_ns ? start + r->opt.deadline_ns : 0;
        rc = tl_posix_group_create(r->host, &s->group);
        if (rc != TL_OK) {
            s->result.outcome = TL_RUN_FAILED;
            s->result.error = rc;
            s->service->done = 1;
            continue;
        }
        s->have_group = 1;
    }
    pthread_mutex_lock(&r->lock);
    r->slots = slots;
    r->slot_count = count;
    pthread_mutex_unlock(&r->lock);

    if (count == 1) {
        if (slots[0].have_group) {
            run_slot(&slots[0]);
        }
    } else {
        threads = calloc(count, sizeof *threads);
        for (i = 0; i < count; i++) {
            if (!slots[i].have_group) {
                continue;
            }
            if (threads == NULL || pthread_create(&threads[i], NULL, slot_thread, &slots[i]) != 0) {
                /* No thread: run it here, after the others were started. */
                slots[i].have_group = 2;
            }
        }
        for (i = 0; i < count; i++) {
            if (slots[i].have_group == 2) {
                run_slot(&slots[i]);
                slots[i].have_group = 1;
            } else if (slots[i].have_group == 1 && threads != NULL) {
                pthread_join(threads[i], NULL);
            }
        }
        free(threads);
    }

    pthread_mutex_lock(&r->lock);
    r->slots = NULL;
    r->slot_count = 0;
    pthread_mutex_unlock(&r->lock);

    rc = TL_OK;
    for (i = 0; i < count; i++) {
        runner_slot *s = &slots[i];
        int code;

        if (s->have_group) {
            tl_posix_group_destroy(r->host, s->group);
        }
        free(s->timers);
        if (results != NULL) {
            results[i] = s->result;
        }
        code = result_code(&s->result);
        if (code != TL_OK && (rc == TL_OK || rc == TL_E_TIMEOUT)) {
            rc = code;
        }
    }
    free(slots);
    return rc;
}

void tl_runner_stop(tl_runner *r)
{
    size_t i;

    if (r == NULL) {
        return;
    }
    atomic_store(&r->stop, 1);
    /* Wake the waiting loops at once (receiver_update, 6.11) instead of
     * letting them notice at the next poll. */
    pthread_mutex_lock(&r->lock);
    for (i = 0; i < r->slot_count; i++) {
        if (r->slots[i].have_group) {
            tl_posix_update_receiver(r->host, r->slots[i].group, NULL);
        }
    }
    pthread_mutex_unlock(&r->lock);
}

void tl_runner_destroy(tl_runner *r)
{
    if (r == NULL) {
        return;
    }
    tl_posix_destroy(r->host);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
