/*
 * The client side of the patterns of tofu's patterns page (PROTOCOL.md
 * section 10), run against the pattern server (pattern_server.h), as one
 * tl_service with a mode:
 *
 *   TL_PC_CORRELATION  Requests id 1..count, up to `concurrency` outstanding,
 *                      body = tl_pattern_fill(size bytes, id, 0); each id must
 *                      be answered exactly once (unknown and duplicate ids are
 *                      errors) with the body sent; answers out of request
 *                      order are counted (stats.out_of_order).
 *   TL_PC_STREAM_IN    per request `frames` frames of `size` bytes, more = 1
 *                      on all but the last, which carries x-checksum; the
 *                      Response must be "frames=N bytes=B fnv=X" as sent.
 *   TL_PC_STREAM_OUT   x-pattern stream-out:frames; the client reassembles:
 *                      count, index order, more = 0 on the last only, the
 *                      checksum the last one carries and its own.
 *   TL_PC_PROGRESS     x-pattern progress:frames; Signals with the request's
 *                      id, percents strictly increasing and < 100, exactly
 *                      `frames` of them, then the Response "done"; a Signal
 *                      after it is an error.
 *   TL_PC_BIDIR        x-pattern bidir; the echo Response and the server's
 *                      own Request, which the client answers with its body;
 *                      the next request goes when both have happened.
 *   TL_PC_REJECT       the Hello carries x-reject; the server aborts it: the
 *                      client must see channel_closed and no HelloResponse.
 *
 * Every mode but reject: HelloRequest / HelloResponse first; after the last
 * answer ByeRequest / ByeResponse (or, with abort, ByeSignal with bit A),
 * then the channel's channel_closed. Report: sent = requests, answered =
 * requests fully answered (latency from the first frame sent to the last
 * answer frame), signals = progress Signals / stream frames received, bytes
 * = answer body bytes checked, errors = violations, closed = channel_closed.
 *
 * Every mode has the clients' handshake timeout, reconnect and reply timeout
 * (cfg.conn, echo_client.h): with reconnect, requests that failed with a
 * channel are sent again on the next one, until `count` are answered.
 */
#ifndef TOFULAB_PATTERN_CLIENT_H
#define TOFULAB_PATTERN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "echo_client.h"
#include "service.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    TL_PC_CORRELATION = 0,
    TL_PC_STREAM_IN,
    TL_PC_STREAM_OUT,
    TL_PC_PROGRESS,
    TL_PC_BIDIR,
    TL_PC_REJECT
} tl_pc_mode;

#define TL_PC_MAX_COUNT 1000000ull

typedef struct {
    const char *connect; /* "tcp|host|port" or "uds|path" */
    tl_pc_mode mode;
    uint64_t count;            /* requests, 1..TL_PC_MAX_COUNT (0 = 1) */
    uint32_t concurrency;      /* correlation: outstanding at most (0 = 1); other modes: 1 */
    uint64_t frames;           /* stream-in / stream-out frames, progress Signals (0 = 4) */
    size_t size;               /* body bytes per request / stream-in frame (0 = 64) */
    int abort;                 /* end with ByeSignal + A instead of the Bye pair */
    uint64_t timeout_ns;       /* the whole run; 0 = none */
    tl_client_connection conn; /* hello timeout and reconnect (echo_client.h) */
} tl_pattern_client_config;

typedef struct {
    uint64_t out_of_order;    /* correlation: answers before an older outstanding one */
    uint64_t server_requests; /* bidir: requests from the server answered */
    int connected;
    uint8_t connect_status; /* non-zero: the engine reported a connect failure */
    int closed;
    int timed_out;
} tl_pattern_client_stats;

int tl_pattern_client_create(const tl_pattern_client_config *cfg, tl_service **out);
void tl_pattern_client_stats_get(const tl_service *s, tl_pattern_client_stats *out);
const char *tl_pc_mode_name(tl_pc_mode mode);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_PATTERN_CLIENT_H */
