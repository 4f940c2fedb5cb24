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

/* The hello timeout and reconnect backoff of a client (tl_client_connection
 * in echo_client.h); the heartbeat client uses it on its own. */
typedef struct {
    tl_client_connection conn; /* effective settings: defaults filled in */
    uint64_t backoff_ns;       /* the next reconnect's delay, before jitter */
} tl_client_retry;

/* Fill in conn's defaults (conn may be NULL: all defaults); default_hello_ns
 * is the pattern's handshake timeout when conn leaves it 0. */
void tl_client_retry_init(tl_client_retry *r, const tl_client_connection *conn, uint64_t default_hello_ns);
/* A HelloRequest was posted: TL_CLIENT_TIMER_HELLO armed (unless off). */
void tl_client_retry_hello_posted(const tl_client_retry *r, const tl_svc_env *env);
/* The HelloResponse came: the hello timer cancelled, the backoff reset. */
void tl_client_retry_connected(tl_client_retry *r, const tl_svc_env *env);
/* A connection failed while work remains: with reconnect on and the limit
 * not used up (rep->reconnects so far), TL_CLIENT_TIMER_RECONNECT is armed
 * after the backoff (jittered by env->random, logged) and 1 returned; else
 * 0 (logged when the limit ran out): the client finishes. */
int tl_client_retry_schedule(tl_client_retry *r, const tl_svc_env *env, const tl_svc_report *rep,
                             const char *connect);
/* Count the current attempt as a connect failure in rep and log why. */
void tl_client_retry_failed(const tl_svc_env *env, tl_svc_report *rep, const char *connect, const char *why);
/* The same for "no HelloResponse within <hello timeout>". */
void tl_client_retry_hello_timed_out(const tl_client_retry *r, const tl_svc_env *env, tl_svc_report *rep,
                                     const char *connect);

typedef struct {
    char *connect;       /* owned copy of the configured address */
    uint16_t channel;    /* the channel of our HelloRequest (TL_CHANNEL_NONE before it) */
    uint8_t *hello_text; /* text headers of the HelloRequest (tl_client_hello) */
    size_t hello_thl;
    tl_svc_report rep; /* counters and the first error */
    tl_client_retry retry;
    int handshaken;   /* the HelloResponse came on the current channel */
    int attempt_over; /* the current channel failed or was given up: its frames are ignored */
    int final;        /* the client stopped for good (finished, error, timeout): no reconnect */
    int no_hello_ok;  /* reject: channel_closed before the HelloResponse is the expected end */
    /* reply timeout (tl_client_connection.reply_timeout_ns) */
    int reply_waiting;   /* the client waits for the server */
    int reply_armed;     /* TL_CLIENT_TIMER_REPLY is set */
    uint64_t last_heard; /* env->now of the last frame on the channel, or when the waiting began */
} tl_client_base;

/* Copies connect; the connection settings with the request patterns'
 * default hello timeout. TL_OK or TL_E_NOMEM. */
int tl_client_base_init(tl_client_base *b, const char *connect, const tl_client_connection *conn);
/* Frees what the base owns (not b itself). */
void tl_client_base_free(tl_client_base *b);

/* A message from the pool; on failure the error ("no message") is recorded. */
int tl_client_get(tl_client_base *b, const tl_svc_env *env, tl_message **m);

/* A HelloRequest addressed to b->connect, its text headers kept in
 * b->hello_text, ready to post. On failure the error is recorded and the
 * message put back. */
int tl_client_hello(tl_client_base *b, const tl_svc_env *env, tl_message **m);

/* The HelloRequest of a new attempt was posted on channel ch: the attempt's
 * state reset, the hello timer armed; again: a reconnect (counted, logged). */
void tl_client_attempt(tl_client_base *b, const tl_svc_env *env, uint16_t ch, int again);

/* The HelloResponse came on our channel. */
void tl_client_handshake(tl_client_base *b, const tl_svc_env *env);

/* A frame of the server on our channel (for the reply timeout). */
void tl_client_heard(tl_client_base *b, const tl_svc_env *env);
/* After each step: whether the client now waits for the server (requests
 * outstanding, or its ByeResponse); arms the reply timeout when it is on. */
void tl_client_reply_watch(tl_client_base *b, const tl_svc_env *env, int waiting);

/* After channel_closed (outstanding requests already failed): 1 when a
 * reconnect is scheduled (the client waits for TL_CLIENT_ACT_RECONNECT),
 * 0 when the client finishes. work_left: requests remain to be answered. */
int tl_client_closed(tl_client_base *b, const tl_svc_env *env, int work_left);

/* Local abort (6.8): ByeSignal with bit A on our channel and the close grace
 * timer; then the client waits for channel_closed. The client stops for good
 * (b->final): tl_client_on_timer's hello timeout aborts an attempt without. */
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

typedef enum {
    TL_CLIENT_ACT_NONE = 0, /* nothing to do */
    TL_CLIENT_ACT_ABORT, /* the overall timeout (error recorded): abort for good, or finish without a channel
                          */
    TL_CLIENT_ACT_GIVE_UP, /* hello or reply timeout: the channel aborted (logged); wait for channel_closed */
    TL_CLIENT_ACT_RECONNECT /* the backoff ran out: open a new channel */
} tl_client_act;

/* The client timers: on TL_CLIENT_TIMER_CLOSE an error and s->done; on
 * TL_CLIENT_TIMER_TIMEOUT *timed_out, and s->done if closing, else the error
 * "timed out <state> (<answered> of <count> answered)" (state may be NULL)
 * and TL_CLIENT_ACT_ABORT; on TL_CLIENT_TIMER_HELLO, while the handshake is
 * pending, the attempt counted as a connect failure, logged and aborted
 * (TL_CLIENT_ACT_GIVE_UP); on TL_CLIENT_TIMER_REPLY, when the client has
 * waited for the server that long without a frame, the channel logged and
 * aborted (TL_CLIENT_ACT_GIVE_UP); TL_CLIENT_TIMER_RECONNECT gives
 * TL_CLIENT_ACT_RECONNECT. */
tl_client_act tl_client_on_timer(tl_service *s, tl_client_base *b, const tl_svc_env *env, uint64_t token,
                                 int closing, int *timed_out, const char *state, uint64_t count);

/* Complete a client's stats (*out already a copy of its tl_client_stats). */
void tl_client_stats_finish(tl_client_stats *out, const tl_client_base *b, uint64_t count,
                            const uint64_t *latencies);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_CLIENT_BASE_H */
