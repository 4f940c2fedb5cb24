/*
 * What the client services (echo_client.c, request_response.c,
 * pattern_client.c) share: the address they connect to, their channel, their
 * report, the HelloRequest that opens the channel, the local abort (ByeSignal
 * with bit A and the close grace), the two client timers and the handling of
 * the engine's notifications on the channel. Internal to patterns/; the
 * clients' public API stays in their own headers.
 */
#ifndef TOFULAB_CLIENT_BASE_H
#define TOFULAB_CLIENT_BASE_H

#include <stddef.h>
#include <stdint.h>

#include "echo_client.h"
#include "service.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *connect;       /* owned copy of the configured address */
    uint16_t channel;    /* the channel of our HelloRequest (TL_CHANNEL_NONE before it) */
    uint8_t *hello_text; /* text headers of the HelloRequest (tl_client_hello) */
    size_t hello_thl;
    tl_svc_report rep; /* counters and the first error */
} tl_client_base;

/* Copies connect. TL_OK or TL_E_NOMEM. */
int tl_client_base_init(tl_client_base *b, const char *connect);
/* Frees what the base owns (not b itself). */
void tl_client_base_free(tl_client_base *b);

/* A message from the pool; on failure the error ("no message") is recorded. */
int tl_client_get(tl_client_base *b, const tl_svc_env *env, tl_message **m);

/* A HelloRequest addressed to b->connect, its text headers kept in
 * b->hello_text, ready to post. On failure the error is recorded and the
 * message put back. */
int tl_client_hello(tl_client_base *b, const tl_svc_env *env, tl_message **m);

/* Local abort (6.8): ByeSignal with bit A on our channel and the close grace
 * timer; then the client waits for channel_closed. */
void tl_client_abort(tl_client_base *b, const tl_svc_env *env);

/* A message not on our channel: 1 (an error unless it is an engine
 * notification on channel 0), else 0. */
int tl_client_foreign(tl_client_base *b, const tl_svc_env *env, const tl_message *m);

/* 1 when a post was refused because our channel is gone (invalid channel
 * number, A6): on a threaded host (patterns/runner_posix.c) the reactor can
 * tear the channel down between a delivery and the service's next post; its
 * channel_closed is on the way and ends the client. Not a check violation. */
int tl_client_post_closed(int rc, const tl_post_out *out);
/* Record "unexpected <op> id <id> while <state>". */
void tl_client_unexpected(tl_client_base *b, const tl_svc_env *env, const tl_message *m, const char *state);

typedef enum {
    TL_CLIENT_NOTE_NONE = 0, /* nothing to do (pool empty, our abort handed back) */
    TL_CLIENT_NOTE_CLOSED,   /* channel_closed: counted, both client timers cancelled; finished */
    TL_CLIENT_NOTE_CONNECT,  /* our HelloRequest came back: connect failure, logged */
    TL_CLIENT_NOTE_RETURNED  /* one of our messages came back unsent: logged */
} tl_client_note;

/* An origin-engine message on our channel. hello: the client waits for its
 * HelloResponse (connect_status then receives a connect failure's status;
 * with connect_status NULL there is no such check); closing: the client has
 * aborted or closed. */
tl_client_note tl_client_notification(tl_client_base *b, const tl_svc_env *env, const tl_message *m,
                                      int hello, int closing, uint8_t *connect_status);

/* The client timers: on TL_CLIENT_TIMER_CLOSE an error and s->done; on
 * TL_CLIENT_TIMER_TIMEOUT *timed_out, and s->done if closing, else the error
 * "timed out <state> (<answered> of <count> answered)" (state may be NULL)
 * and 1: the caller aborts. Otherwise 0. */
int tl_client_on_timer(tl_service *s, tl_client_base *b, const tl_svc_env *env, uint64_t token, int closing,
                       int *timed_out, const char *state, uint64_t count);

/* Complete a client's stats (*out already a copy of its tl_client_stats). */
void tl_client_stats_finish(tl_client_stats *out, const tl_client_base *b, uint64_t count,
                            const uint64_t *latencies);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_CLIENT_BASE_H */
