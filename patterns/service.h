/*
 * Application services: the patterns of tofu's patterns page and the echo
 * service, written once and run on both hosts — the POSIX host (real sockets,
 * real time) and the simulator (virtual sockets, virtual time). A service
 * sees its host only through tl_svc_env; it never calls a socket, a clock or
 * rand() itself, so it behaves deterministically in simulation.
 */
#ifndef TOFULAB_SERVICE_H
#define TOFULAB_SERVICE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "tofulab/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a host gives a service. All calls act on the service's own group. */
typedef struct tl_svc_env {
    void *host;
    int (*get)(void *host, tl_get_strategy how, tl_message **out);
    void (*put)(void *host, tl_message **msg);
    /* tl_engine_post semantics on the service's group. */
    int (*post)(void *host, tl_message **msg, tl_post_out *out);
    /* Monotonic nanoseconds (virtual in the simulator). */
    uint64_t (*now)(void *host);
    /* One-shot timer: on_timer(token) after delay_ns. Re-arming the same token
     * replaces the earlier deadline. */
    void (*set_timer)(void *host, uint64_t delay_ns, uint64_t token);
    void (*cancel_timer)(void *host, uint64_t token);
    /* Deterministic randomness (seeded per node in the simulator). */
    uint64_t (*random)(void *host);
    /* A line for the trace / verbose log (no newline). */
    void (*log)(void *host, const char *fmt, va_list ap);
    /* Optional (hosts without sockets leave them NULL). What the host knows of
     * a channel: TL_SVC_PEER its connection ("tcp 127.0.0.1:40112"),
     * TL_SVC_OS_ERROR the operating system's reason its listen or connect
     * failed ("Connection refused"). 1 and the text, or 0 and "". */
    int (*describe)(void *host, uint16_t channel, int what, char *buf, size_t cap);
    /* A line shown whatever the verbosity: a peer broke a rule and the
     * service acted (no newline). NULL: log is used. */
    void (*warn)(void *host, const char *fmt, va_list ap);
} tl_svc_env;

#define TL_SVC_PEER     1
#define TL_SVC_OS_ERROR 2

/* env->describe when the host has it; else 0 and "". */
int tl_svc_describe(const tl_svc_env *env, uint16_t channel, int what, char *buf, size_t cap);

/* env->warn (or env->log when the host has no warn). */
void tl_svc_warnf(const tl_svc_env *env, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Outcome of a service's own checks (its oracle).
 *
 * A service that originates requests (the client patterns) sets requests = 1
 * and accounts for each request exactly once: answered (its complete answer
 * came), failed (an explicit failure notification ended it: channel_closed
 * while it was outstanding, or the engine returned it with an error status)
 * or open (still waiting). The hosts check sent == answered + failed + open
 * (+ abandoned: open when a crash killed the process),
 * and open == 0 once the service has finished: nothing silently lost.
 *
 * Every client pattern (the heartbeat client too) counts its connection
 * attempts that ended before the handshake completed (connect_failures: the
 * engine's connect failure, channel_closed before the HelloResponse, or the
 * hello timeout) and the new channels it opened after a failure
 * (reconnects). A reconnecting client's failed requests stay failed; it
 * sends new ones in their place, so sent may exceed its count. */
typedef struct {
    int requests;          /* 1: sent/answered/failed/open count requests (the per-request oracle applies) */
    uint64_t sent;         /* requests / messages the service originated */
    uint64_t answered;     /* requests that got their complete answer */
    uint64_t failed;       /* requests that ended in an explicit failure notification */
    uint64_t open;         /* requests still waiting for their answer */
    uint64_t abandoned;    /* requests open when the service's process died (host only) */
    uint64_t out_of_order; /* answers that came before the answer of an earlier request */
    uint64_t errors;       /* check violations (wrong content, duplicate, reordering, loss) */
    uint64_t signals;      /* signals received (progress, heartbeat) */
    uint64_t bytes;        /* payload bytes verified */
    uint64_t closed;       /* channel_closed notifications seen */
    uint64_t latency_count;
    uint64_t latency_sum_ns;
    uint64_t latency_max_ns;
    /* heartbeat: declarations of a peer's death; false ones (heard again
     * afterwards); deaths (declared and not heard since). Latency = detection. */
    uint64_t suspicions;
    uint64_t false_suspicions;
    uint64_t deaths;
    /* clients: connection attempts that ended before the HelloResponse;
     * channels opened again after a failure */
    uint64_t connect_failures;
    uint64_t reconnects;
    char first_error[200]; /* first violation, "" if none */
} tl_svc_report;

typedef struct tl_service tl_service;

typedef struct {
    const char *name;
    /* Called once the host is ready; typically posts Welcome/Hello requests. */
    int (*start)(tl_service *s, const tl_svc_env *env);
    /* A message arrived in the service's group. The service may keep it
     * (post it, store it) by setting *msg to NULL; otherwise the host puts it
     * back. Return 0 to continue, 1 when the service has finished. */
    int (*on_message)(tl_service *s, const tl_svc_env *env, tl_message **msg);
    void (*on_timer)(tl_service *s, const tl_svc_env *env, uint64_t token);
    /* Finished: the service's counters and verdict. */
    void (*report)(const tl_service *s, tl_svc_report *out);
    void (*destroy)(tl_service *s);
} tl_service_ops;

struct tl_service {
    const tl_service_ops *ops;
    void *state;
    int done;
};

/* Record a check violation in a report: count it, keep the first one's text,
 * log it through env. */
void tl_svc_report_error(tl_svc_report *r, const tl_svc_env *env, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Record one answered request and its latency. */
void tl_svc_report_answer(tl_svc_report *r, uint64_t latency_ns);

/* Add r to t (counters summed, latency max kept, first error kept). With
 * with_open = 0, r's open requests are added as abandoned: r is the report of
 * a process that died, and its open requests died with it. */
void tl_svc_report_add(tl_svc_report *t, const tl_svc_report *r, int with_open);

/* The per-request oracle on a report: NULL if it holds, else what is wrong
 * (written into buf). done: the service has finished. */
const char *tl_svc_report_check(const tl_svc_report *r, int done, char *buf, size_t cap);

/* The start of a service's *_create: TL_E_INVAL when out is NULL (else *out
 * is set to NULL) or cfg_ok is 0; otherwise a new tl_service in *s with ops
 * and a zeroed state of state_size bytes (s->state): TL_OK or TL_E_NOMEM. The
 * caller sets *out once the service is complete. */
int tl_svc_new(tl_service **out, int cfg_ok, const tl_service_ops *ops, size_t state_size, tl_service **s);

/* Frees s->state and s (the state's own allocations must be freed first).
 * NULL is a no-op. */
void tl_svc_free(tl_service *s);

/* A malloc'ed copy of str, NULL when out of memory. */
char *tl_svc_strdup(const char *str);

void tl_svc_logf(const tl_svc_env *env, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_SERVICE_H */
