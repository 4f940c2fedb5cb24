/*
 * Runs services (patterns/service.h) on the POSIX host (tofulab/posix.h):
 * one group per service, a tl_svc_env backed by CLOCK_MONOTONIC, a small
 * timer list and a seeded xoshiro256** generator, and a loop around
 * tl_posix_wait_receive that dispatches on_message / on_timer until the
 * service has finished, a stop was requested or an overall deadline passed.
 *
 * One service runs on the calling thread; with several, each gets its own
 * thread (the POSIX host's API is thread-safe; each env is private to its
 * service).
 */
#ifndef TOFULAB_RUNNER_POSIX_H
#define TOFULAB_RUNNER_POSIX_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "tofulab/posix.h"
#include "service.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const tl_engine_options *engine;        /* NULL: the host's defaults */
    const tl_posix_options *host;           /* NULL: no host limits, no log (tl_posix_create_ex) */
    uint64_t seed;                          /* services' random streams (splitmix64-derived) */
    int verbose;                            /* env->log lines go to stderr */
    const volatile sig_atomic_t *stop_flag; /* optional; non-zero = stop (set by a signal handler) */
    uint64_t deadline_ns;                   /* limit for tl_runner_run from its start; 0 = none */
    uint64_t poll_ns;                       /* how often stop_flag is looked at; 0 = 50 ms */
    /* env->warn lines (a peer broke a rule; shown whatever the verbosity). NULL:
     * stderr, "tofulab[service]: line". */
    void (*warn)(void *ctx, const char *line);
    void *warn_ctx;
} tl_runner_options;

typedef enum {
    TL_RUN_DONE = 0,     /* the service finished by itself (on_message returned 1 or it set done) */
    TL_RUN_STOPPED = 1,  /* stop_flag or tl_runner_stop */
    TL_RUN_DEADLINE = 2, /* the overall deadline passed first */
    TL_RUN_FAILED = 3    /* start() failed, or the host failed (group, wait) */
} tl_run_outcome;

typedef struct {
    tl_run_outcome outcome;
    int error; /* start()'s result or the host's tl_err when FAILED, else 0 */
} tl_run_result;

typedef struct tl_runner tl_runner;

/* Create the POSIX host. Returns TL_OK, TL_E_NOMEM or the host's error. */
int tl_runner_create(const tl_runner_options *opt, tl_runner **out);
/* The host, e.g. for tl_posix_listener_port from a service callback. */
tl_posix *tl_runner_host(tl_runner *r);
/* Run the services to their end (see tl_run_outcome). results (may be NULL)
 * receives one entry per service. Returns TL_OK when every service ended
 * DONE or STOPPED, TL_E_TIMEOUT if one hit the deadline, another tl_err if
 * one failed. The services' groups are destroyed before it returns. */
int tl_runner_run(tl_runner *r, tl_service *const *services, size_t count, tl_run_result *results);
/* Ask a running tl_runner_run to stop (any thread; not async-signal-safe —
 * use stop_flag from signal handlers). Sticky: a tl_runner_run started
 * afterwards returns at once with TL_RUN_STOPPED. */
void tl_runner_stop(tl_runner *r);
/* Stop the host (sockets closed, UDS listener paths removed) and free. */
void tl_runner_destroy(tl_runner *r);

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC). */
uint64_t tl_runner_now_ns(void);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_RUNNER_POSIX_H */
