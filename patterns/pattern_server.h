/*
 * One server for every client pattern of tofu's patterns page (PROTOCOL.md
 * section 10) on the same listener, as a tl_service:
 *
 *   HelloRequest -> HelloResponse (the message reused, headers echoed), or,
 *   when the Hello carries a text header `x-reject`, a local abort
 *   (ByeSignal with bit A: no frame, the client sees its channel close);
 *   ByeRequest -> ByeResponse; the channel is forgotten on its
 *   channel_closed.
 *
 *   A Request is answered per its text header `x-pattern`:
 *     (none), `echo`     one Response, the request's body (correlation);
 *     `stream-in`        frames with more = 1 are accumulated per
 *                        (channel, message_id); the last one (more = 0)
 *                        gets one Response with body "frames=N bytes=B
 *                        fnv=XXXXXXXX" (FNV-1a 32 of every body byte in
 *                        order); when the last frame carries `x-checksum`
 *                        the server checks it (an error otherwise);
 *     `stream-out:N`     N Responses, more = 1 on all but the last; body =
 *                        4-byte big-endian index then tl_pattern_fill bytes;
 *                        the last carries `x-checksum` of all bodies;
 *     `progress:K`       K Signals with the request's id and a body of one
 *                        percent byte (strictly increasing, < 100), then the
 *                        Response "done";
 *     `bidir`            the echo Response, and the server's own Request to
 *                        the client (id 1, 2, ... per channel, body of 8
 *                        bytes), whose Response must echo that body.
 *   With odd_delay_ns, echo answers of odd message ids are held that long
 *   (timers), so answers leave out of request order.
 *
 * Report: sent = messages the server originated (answers, signals, its own
 * requests), answered = requests fully answered, failed = answers the engine
 * refused because the channel had closed meanwhile, errors = oracle
 * violations (bad checksum, unknown answer, leaked channels), signals =
 * frames of streams received, closed = channel_closed seen for client
 * channels, bytes = request body bytes received.
 *
 * With clients = N the service finishes once N clients have said Hello and
 * every channel has closed again: `expect server done` is then the "no
 * channel leaks" oracle of the multi-client churn pattern. A client that
 * reconnects (its Hello carries `x-reconnect`) may lose a channel and come
 * back on another, so it counts only once it says ByeRequest (once, whatever
 * channels it used); its channels are tracked like any other.
 */
#ifndef TOFULAB_PATTERN_SERVER_H
#define TOFULAB_PATTERN_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "service.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TL_PATTERN_HEADER   "x-pattern"
#define TL_PATTERN_CHECKSUM "x-checksum"
#define TL_PATTERN_REJECT   "x-reject"
/* On every Hello of a client with reconnect on: the reconnects so far. */
#define TL_PATTERN_RECONNECT "x-reconnect"

typedef struct {
    const char *listen;    /* "tcp|host|port" or "uds|path" */
    uint64_t odd_delay_ns; /* hold echo answers of odd ids this long; 0 = none */
    uint64_t clients;      /* finish after this many clients came and went; 0 = never */
} tl_pattern_server_config;

typedef struct {
    uint64_t hellos;       /* clients accepted */
    uint64_t hellos_again; /* of which reconnections (x-reconnect > 0) */
    uint64_t rejected;     /* Hellos aborted for x-reject */
    uint64_t byes;         /* ByeRequests answered */
    uint64_t open;         /* channels tracked now */
    uint64_t open_max;     /* most at once */
    uint64_t delayed;      /* answers held by odd_delay */
    uint64_t own_requests; /* bidir requests the server sent */
    uint64_t own_answered; /* of which correctly answered by the client */
} tl_pattern_server_stats;

/* FNV-1a 32 continued over data. Start with TL_PATTERN_FNV_INIT. */
#define TL_PATTERN_FNV_INIT 2166136261u
uint32_t tl_pattern_fnv(uint32_t h, const uint8_t *data, size_t len);
/* Deterministic payload byte i of (id, part): what clients and the server
 * put in bodies, so either side can check without storing them. */
void tl_pattern_fill(uint8_t *out, size_t len, uint64_t id, uint64_t part);
/* Copy the value of text header `name` (first one) into out, NUL-terminated.
 * Returns its length, or -1 when absent or longer than cap - 1. */
int tl_pattern_header(const tl_message *m, const char *name, char *out, size_t cap);

/* Copies the configuration. TL_OK, TL_E_INVAL, TL_E_NOMEM. s->ops->destroy(s)
 * frees the service itself too. */
int tl_pattern_server_create(const tl_pattern_server_config *cfg, tl_service **out);
void tl_pattern_server_stats_get(const tl_service *s, tl_pattern_server_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_PATTERN_SERVER_H */
