/*
 * The Request/Response pattern (tofu's patterns page; PROTOCOL.md section 10)
 * as a client service, run against an echo server:
 *
 *   HelloRequest / HelloResponse; then `count` Requests with message_id
 *   1..count, at most `concurrency` outstanding, each body `size_min` to
 *   `size_max` bytes (sizes drawn from env->random); every reply must be a
 *   Response with the id of an outstanding request, exactly one per request
 *   (duplicates and unknown ids are errors); with `check_echo_body` the reply
 *   body must also be the echo service's 16-byte native header copy naming
 *   that id and the request's body length (section 7). Latency per request
 *   from env->now. Ends with ByeRequest / ByeResponse and the channel's
 *   channel_closed. Results: tl_svc_report plus tl_client_stats
 *   (echo_client.h). Handshake timeout, reconnect and reply timeout:
 *   cfg.conn (echo_client.h); with reconnect, failed requests go again
 *   on the next channel until `count` are answered.
 */
#ifndef TOFULAB_REQUEST_RESPONSE_H
#define TOFULAB_REQUEST_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "echo_client.h"
#include "service.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TL_RR_MAX_COUNT 10000000ull

typedef struct {
    const char *connect; /* "tcp|host|port" or "uds|path" */
    uint64_t count;      /* requests, 0..TL_RR_MAX_COUNT */
    size_t size_min;     /* body bytes, <= size_max <= 65535 */
    size_t size_max;
    uint32_t concurrency;      /* outstanding requests at most; 0 = 1 */
    int check_echo_body;       /* verify the echo service's body (section 7) */
    uint64_t timeout_ns;       /* the whole run; 0 = none. On expiry: error, abort, wait for closed */
    tl_client_connection conn; /* hello timeout and reconnect (echo_client.h) */
} tl_rr_config;

/* Copies the configuration. TL_OK, TL_E_INVAL, TL_E_NOMEM. s->ops->destroy(s)
 * frees the service itself too. */
int tl_rr_client_create(const tl_rr_config *cfg, tl_service **out);
void tl_rr_client_stats(const tl_service *s, tl_client_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_REQUEST_RESPONSE_H */
