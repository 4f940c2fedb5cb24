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
#define TL_CLIENT_TIMER_TIMEOUT 1u /* the overall timeout ran out */
#define TL_CLIENT_TIMER_CLOSE   2u /* no channel_closed after the abort / Bye */

/* How long a client waits for channel_closed after its abort or Bye. */
#define TL_CLIENT_CLOSE_GRACE_NS 3000000000ull

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
    const char *connect; /* "tcp|host|port" or "uds|path" */
    uint64_t count;      /* requests, message_id 1..count */
    int abort;           /* 0: ByeRequest/ByeResponse; 1: ByeSignal local abort (tofu's EchoClient) */
    uint64_t timeout_ns; /* the whole sequence; 0 = none. On expiry: error, abort, wait for closed */
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
