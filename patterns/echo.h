/*
 * tofu's EchoService (recipes/services.zig) with MultiHomed's listener set,
 * as a tl_service (PROTOCOL.md section 7).
 *
 * Per message:
 *   - a WelcomeResponse for one of its listeners: status 0 -> on_listening;
 *     any failure -> the service records an error and finishes;
 *   - a message on a listener channel otherwise (its channel_closed) -> error,
 *     finish (MultiHomed stops);
 *   - origin engine: pool_empty -> get(always) + put of one message; anything
 *     else is counted, not echoed;
 *   - request role -> echo op code; signal role -> unchanged; the body becomes
 *     the 16-byte native header copy of the message as it is then
 *     (tl_header_encode_native), text headers stay byte for byte, posted on
 *     the same channel.
 *
 * Modes (tl_echo_mode): TL_ECHO_REFERENCE (0, the simulator's and the
 * default below), TL_ECHO_SURVIVE (`tofulab serve`: a refused echo aborts
 * only its channel) and TL_ECHO_EXACT (`tofulab serve --exact`: tofu's stops,
 * see below). docs/serve.md explains the choice.
 *
 * Documented divergences from tofu (TL_ECHO_REFERENCE):
 *   - budget: tofu's is 1100 regular/welcome echoes; here 0 = unlimited unless
 *     configured (the next message after the budget is used up finishes the
 *     service, as in tofu);
 *   - a response-role frame from a client is ignored and counted instead of
 *     stopping the whole server;
 *   - a peer frame with status receiver_update (21) is echoed like any other
 *     (tofu's MultiHomed stops on it);
 *   - post refusals: where tofu's engine silently drops what the echo posts
 *     and the reference engine refuses it at post, the service counts it
 *     (`refused`) and goes on, as tofu's server does: echoing a peer's
 *     WelcomeRequest gives a WelcomeResponse (A16: not_allowed), and a
 *     channel that closed between the frame's arrival and the echo
 *     (A6: invalid_channel_number). Any other post failure finishes the
 *     service, as in tofu (a peer can provoke one with message_id 0 on a
 *     request, or more = 1 on HelloRequest / ByeRequest).
 */
#ifndef TOFULAB_ECHO_H
#define TOFULAB_ECHO_H

#include <stddef.h>
#include <stdint.h>

#include "service.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TL_ECHO_TOFU_BUDGET 1100u

/* What the service does where tofu's EchoService stops the whole server. */
typedef enum {
    /* The reference behaviour (the divergences above): response-role frames
     * are ignored, status 21 is echoed, and a refused echo finishes the
     * service, as in tofu. */
    TL_ECHO_REFERENCE = 0,
    /* `tofulab serve`'s default: as TL_ECHO_REFERENCE, but a refused echo
     * (a post tofu's engine would reject: message_id 0 on a request, the more
     * flag on a hello/bye) aborts that channel only (a local abort: RST) and
     * the service goes on; one warn line names the connection and the rule. */
    TL_ECHO_SURVIVE = 1,
    /* `tofulab serve --exact`: tofu's EchoService + MultiHomed to the letter
     * (PROTOCOL.md 7): a response-role frame, a frame with status 21
     * (receiver_update) and a refused echo each finish the service. Use it
     * with budget = TL_ECHO_TOFU_BUDGET for tofu's 1100-echo budget. */
    TL_ECHO_EXACT = 2
} tl_echo_mode;

typedef struct {
    const char *const *listen; /* addresses, "tcp|host|port" or "uds|path" */
    size_t listen_count;       /* at least 1 */
    uint64_t budget;           /* regular + welcome echoes; 0 = unlimited */
    tl_echo_mode mode;         /* TL_ECHO_REFERENCE (0), TL_ECHO_SURVIVE or TL_ECHO_EXACT */
    /* A listener is ready (WelcomeResponse status 0); channel is its local
     * channel number. Optional. */
    void (*on_listening)(void *ctx, const char *address, uint16_t channel);
    void *ctx;
} tl_echo_config;

typedef struct {
    uint64_t echoed;            /* echoes posted */
    uint64_t echoed_requests;   /* of which Request -> Response */
    uint64_t echoed_signals;    /* of which Signal / ByeSignal */
    uint64_t echoed_hello;      /* of which HelloRequest -> HelloResponse */
    uint64_t echoed_bye;        /* of which ByeRequest -> ByeResponse */
    uint64_t responses_ignored; /* response-role frames from clients (divergence) */
    uint64_t notifications;     /* origin-engine messages, not echoed */
    uint64_t pool_empty;        /* of which pool_empty (one message added each) */
    uint64_t closed;            /* of which channel_closed */
    uint64_t refused;           /* echoes the engine refused where tofu drops silently */
    uint64_t closed_refused;    /* TL_ECHO_SURVIVE: channels aborted because their echo was refused */
    uint64_t invalid_opcodes;   /* op code 10-15 delivered (the reference engine never does) */
    uint64_t length_mismatch;   /* received hdr.thl/bl differed from the text/body lengths */
    uint64_t budget_left;       /* when a budget is configured */
    size_t listening;           /* listeners ready */
    int budget_exhausted;       /* finished because the budget was used up */
    int failed;                 /* finished on an error (listener failed, post failed) */
    int exact_stop;             /* TL_ECHO_EXACT: finished where tofu's server stops (response, status 21) */
} tl_echo_stats;

/* Copies the configuration (addresses included). TL_OK, TL_E_INVAL, TL_E_NOMEM.
 * s->ops->destroy(s) frees the service itself too. */
int tl_echo_service_create(const tl_echo_config *cfg, tl_service **out);
void tl_echo_stats_get(const tl_service *s, tl_echo_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_ECHO_H */
