/*
 * The Heartbeat pattern of tofu's patterns page (PROTOCOL.md section 10) as
 * a tl_service, for either end:
 *
 *   listen role: WelcomeRequest on `address`; every HelloRequest is answered
 *   (HelloResponse) and its channel becomes a peer. connect role:
 *   HelloRequest to `address`; the HelloResponse makes the channel a peer.
 *
 *   Every `interval` each side posts a Signal with an empty body and id 0 on
 *   every peer channel (the engine assigns a fresh id). The receiver keeps
 *   the time it last heard each peer (any frame counts) and declares the
 *   peer dead after `timeout` of silence; a channel_closed also declares it
 *   dead (the transport noticed first). A peer declared dead and then heard
 *   again was a false suspicion.
 *
 *   With stop_ns (connect role) the client ends after that long with
 *   ByeRequest / ByeResponse; the server then forgets the peer without
 *   counting a death. With finish_on_death (connect role) the client ends as
 *   soon as it declares its peer dead (`tofulab client --expect-death`).
 *
 *   Connect role, handshake and reconnect (tl_client_connection): without a
 *   HelloResponse within the hello timeout (default: the larger of `timeout`
 *   and 30 s) the client
 *   counts a connect failure and aborts the channel; a channel that closes
 *   before its HelloResponse is counted the same way. Without reconnect the
 *   client then finishes. With reconnect it opens a new channel after the
 *   backoff whenever its channel ended (connect failure, hello timeout,
 *   channel_closed, its peer declared dead by silence: the client then aborts
 *   that channel) until stop_ns, and heartbeats resume on the new channel.
 *   Every channel is a peer of its own, at both ends: a channel given up
 *   stays counted as a death.
 *
 * Report: sent = heartbeats sent; signals = heartbeats received; failed =
 * false suspicions; answered = deaths detected (declared dead and never
 * heard again); latency = detection latency of those (from expect_death_ns
 * when given, else from the last heartbeat heard) -- `latency-max` /
 * `latency-mean` in a scenario; closed = channel_closed seen; errors =
 * oracle violations (a heartbeat with a body, an unexpected frame, and,
 * with expect_death_ns, no peer declared dead by the end of the run).
 */
#ifndef TOFULAB_HEARTBEAT_H
#define TOFULAB_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>

#include "echo_client.h"
#include "service.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *address;      /* "tcp|host|port" or "uds|path" */
    int listen;               /* 1: listen role, 0: connect role */
    uint64_t interval_ns;     /* 0 = 1 s */
    uint64_t timeout_ns;      /* 0 = 3 x interval */
    uint64_t expect_death_ns; /* env->now of the peer's death, when known; 0 = not told */
    uint64_t stop_ns;         /* connect role: Bye after this long; 0 = never */
    int finish_on_death;      /* connect role: the service ends once its peer is declared dead
                                 (by silence too, not only at channel_closed) */
    /* connect role: hello timeout (default: the larger of timeout_ns and
     * TL_CLIENT_HELLO_TIMEOUT_NS) and reconnect; with
     * reconnect the client opens a new channel when its channel closes or
     * its peer is declared dead (the old channel's peer stays counted dead) */
    tl_client_connection conn;
    /* listen role, optional: called once the listener is up (WelcomeResponse). */
    void (*on_listening)(void *ctx, const char *address, uint16_t channel);
    void *ctx;
} tl_heartbeat_config;

typedef struct {
    uint64_t peers;            /* peers ever seen */
    uint64_t suspicions;       /* declarations of death, false ones included */
    uint64_t false_suspicions; /* declared dead, then heard again */
    uint64_t deaths;           /* declared dead and not heard since */
    uint64_t by_transport;     /* of the declarations: channel_closed came first */
    uint64_t listening;        /* listen role: 1 once the listener is up */
    uint64_t last_latency_ns;  /* detection latency of the latest declaration (0 if none) */
} tl_heartbeat_stats;

int tl_heartbeat_create(const tl_heartbeat_config *cfg, tl_service **out);
void tl_heartbeat_stats_get(const tl_service *s, tl_heartbeat_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_HEARTBEAT_H */
