/*
 * tofu's EchoClient (recipes/services.zig) as a service, with the checks a
 * conformance checker can make on every echo reply (PROTOCOL.md section 7):
 *
 *   HelloRequest (body = its native header copy taken before post: channel 0,
 *   proto 0x03, id 0, thl 0, bl 0 -- vector V19), wait for HelloResponse;
 *   then Requests with message_id 1..N, each body its own native header copy
 *   (V21), one at a time, each reply verified; then ByeRequest / ByeResponse
 *   (graceful) or ByeSignal with bit A (local abort, tofu's choice), and wait
 *   for the channel's final channel_closed.
 *
 * Reply checks: op code = echo(op code sent); same message_id; origin
 * application, status 0; text headers byte-identical to those sent; bl = 16;
 * the body decodes (little-endian) to proto = echoed op code with the sent
 * flag bits, status 0, message_id, thl and bl as sent, and a channel that is
 * neither 0 nor 65535.
 *
 * Also the result type both client services (this one and
 * request_response.h) expose beside tl_svc_report.
 */
#ifndef TOFULAB_ECHO_CLIENT_H
#define TOFULAB_ECHO_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "service.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Timer tokens used by the client services. */
#define TL_CLIENT_TIMER_TIMEOUT   1u /* the overall timeout ran out */
#define TL_CLIENT_TIMER_CLOSE     2u /* no channel_closed after the abort / Bye */
#define TL_CLIENT_TIMER_HELLO     3u /* no HelloResponse in time: the attempt is aborted */
#define TL_CLIENT_TIMER_RECONNECT 4u /* the backoff after a failed connection ran out */
#define TL_CLIENT_TIMER_REPLY     5u /* waiting for the server, nothing heard for reply_timeout_ns */

/* How long a client waits for channel_closed after its abort or Bye. */
#define TL_CLIENT_CLOSE_GRACE_NS 3000000000ull

/* The handshake timeout of the client patterns when none is configured (the
 * heartbeat client's is the larger of this and its own `timeout`). */
#define TL_CLIENT_HELLO_TIMEOUT_NS  30000000000ull
#define TL_CLIENT_HELLO_TIMEOUT_OFF UINT64_MAX /* wait for the HelloResponse forever */
/* Reconnect backoff defaults: the first delay, and the cap it doubles up to. */
#define TL_CLIENT_RECONNECT_DELAY_NS 1000000000ull
#define TL_CLIENT_RECONNECT_MAX_NS   30000000000ull

/* How every client pattern opens its channel and what it does when the
 * connection fails (docs/patterns.md, "Handshake timeout and reconnect").
 * All zero: the defaults (hello timeout on, no reconnect).
 *
 * A connection attempt that ends before its HelloResponse -- the engine's
 * connect failure, channel_closed, or no HelloResponse within
 * hello_timeout_ns (the client then aborts the channel locally, 6.8) -- is
 * counted in tl_svc_report.connect_failures and logged. Without reconnect the
 * client then finishes. With reconnect, a client whose connection failed
 * while work remained opens a new channel after a backoff: the first wait
 * is reconnect_delay_ns, doubling after every failed attempt up to
 * reconnect_max_ns, each wait drawn uniformly from [delay/2, delay] by
 * env->random (deterministic in the simulator); a completed handshake resets
 * it. tl_svc_report.reconnects counts the new channels.
 *
 * reply_timeout_ns (0 = off) notices a connection that died without either
 * end's TCP telling (a half-open connection: the peer gave up and its reset
 * was lost): while the client waits for the server -- requests outstanding,
 * or its ByeResponse -- and hears no frame on the channel for that long, it
 * gives the channel up (local abort; the outstanding requests fail with the
 * channel_closed) and, with reconnect, opens a new one. */
typedef struct {
    uint64_t hello_timeout_ns;   /* 0 = the pattern's default; TL_CLIENT_HELLO_TIMEOUT_OFF = none */
    int reconnect;               /* 1: open a new channel after a failure while work remains */
    uint64_t reconnect_delay_ns; /* first backoff; 0 = TL_CLIENT_RECONNECT_DELAY_NS */
    uint64_t reconnect_max_ns;   /* backoff cap; 0 = TL_CLIENT_RECONNECT_MAX_NS (at least the delay) */
    uint64_t reconnects;         /* reconnects at most, over the whole run; 0 = no limit */
    uint64_t reply_timeout_ns; /* waiting for the server and nothing heard this long: give the channel up; 0 =
                                  off */
} tl_client_connection;

typedef struct {
    int connected;             /* the HelloResponse arrived */
    uint8_t connect_status;    /* non-zero: the engine reported a connect failure (13, 14, 18, 24, ...) */
    int closed;                /* the channel's final channel_closed was seen */
    int timed_out;             /* the overall timeout ran out */
    int clean;                 /* the whole sequence ran, Bye included, without error */
    uint64_t first_send_ns;    /* env->now when the first request was posted (0: none) */
    uint64_t last_answer_ns;   /* env->now when the last answer arrived */
    const uint64_t *latencies; /* ns per answered request, in answer order; owned by the service */
    size_t latency_count;
    uint16_t channel; /* the client's channel (0 before its HelloRequest was posted) */
} tl_client_stats;

typedef struct {
    const char *connect;       /* "tcp|host|port" or "uds|path" */
    uint64_t count;            /* requests, message_id 1..count */
    int abort;                 /* 0: ByeRequest/ByeResponse; 1: ByeSignal local abort (tofu's EchoClient) */
    uint64_t timeout_ns;       /* the whole sequence; 0 = none. On expiry: error, abort, wait for closed */
    tl_client_connection conn; /* hello timeout and reconnect */
} tl_echo_client_config;

/* Copies the configuration. TL_OK, TL_E_INVAL, TL_E_NOMEM. s->ops->destroy(s)
 * frees the service itself too. */
int tl_echo_client_create(const tl_echo_client_config *cfg, tl_service **out);
void tl_echo_client_stats(const tl_service *s, tl_client_stats *out);

/* Check one echo reply as section 7 allows. sent_hdr is the header the echo
 * server received: the posted message's final header (tl_post_out.hdr) with
 * thl/bl of what was sent. sent_text/sent_thl: the text headers sent.
 * Returns 0 when every check holds, else -1 with a one-line reason in why. */
int tl_echo_check_reply(const tl_message *reply, const tl_header *sent_hdr, const uint8_t *sent_text,
                        size_t sent_thl, char *why, size_t why_cap);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_ECHO_CLIENT_H */
