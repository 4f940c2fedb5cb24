/*
 * The host oracles on channels (docs/scenarios.md), shared by the
 * simulator's host (sim/node.c) and the real-socket runner (hosts/realrun.c):
 *
 *   per-channel FIFO: every application message (Request, Response, Signal)
 *   a service receives on a channel was posted by the peer on its channel —
 *   in the simulator by the peer's service, on real sockets as the proxy saw
 *   the peer write it — in that order and once (matched by a digest of op,
 *   more, status, message id, text headers, the body's length and its first
 *   and last 32 bytes);
 *
 *   channel_closed reaches a service at most once per channel, and nothing
 *   from the peer follows it on that channel.
 *
 * Pure bookkeeping: the hosts decide whose queue a message is matched
 * against and what to do with a violation.
 */
#ifndef TOFULAB_SIM_ORACLE_H
#define TOFULAB_SIM_ORACLE_H

#include <stddef.h>
#include <stdint.h>

#include "tofulab/engine.h"

/* One channel: which service saw it and whether it got channel_closed; the
 * digests of the application messages posted on it that the peer has not
 * delivered yet (front = oldest). */
typedef struct {
    uint64_t *q;
    uint32_t head, n, cap;
    uint32_t svc; /* index + 1 of the service that saw the channel, 0 none */
    uint8_t seen, closed;
} tl_chan_oracle;

/* Every channel number of one engine (pages allocated on first use). */
typedef struct {
    tl_chan_oracle *pages[256];
} tl_chan_oracles;

/* The state of channel ch; NULL when absent and !create, or out of memory. */
tl_chan_oracle *tl_chan_oracles_get(tl_chan_oracles *t, uint16_t ch, int create);
/* A new incarnation: its channels start unseen. The FIFO queues stay: what
 * the dead process posted may still arrive at its peers. */
void tl_chan_oracles_reset(tl_chan_oracles *t);
/* Free everything. */
void tl_chan_oracles_clear(tl_chan_oracles *t);

/* The messages the FIFO oracle follows: what one application posts and the
 * peer's application receives unchanged (Hello, Welcome and Bye are the
 * engine's business). */
int tl_oracle_app_message(uint8_t proto);
/* What travels of a message, without its message id: op, more, status, the
 * text headers, the body's length and its first and last 32 bytes. */
uint64_t tl_oracle_content(uint8_t proto, uint8_t status, const uint8_t *text, size_t text_len,
                           const uint8_t *body, size_t body_len);
uint64_t tl_oracle_digest(uint64_t content, uint64_t message_id);

/* Posted (or written, as the proxy saw it) on the channel: queue its digest.
 * 0, or -1 out of memory. */
int tl_oracle_posted(tl_chan_oracle *o, uint64_t digest);
/* Delivered: find digest in what the peer posted, dropping what comes before
 * it (lost with a connection, or a reorder that shows when the skipped
 * message arrives later and is no longer there). 1 found, 0 not (a
 * violation: reordered, duplicated or altered). o may be NULL (nothing
 * posted: not found). */
int tl_oracle_match(tl_chan_oracle *o, uint64_t digest);

/* What tl_oracle_delivered found (bits). */
#define TL_ORACLE_CLOSED_TWICE 1u /* channel_closed delivered twice */
#define TL_ORACLE_AFTER_CLOSED 2u /* a peer message after channel_closed */
#define TL_ORACLE_CHECK_FIFO   4u /* an application message: match it against the peer (tl_oracle_match) */

/* A message handed to service svc (index + 1) on its channel (not 0): the
 * channel_closed checks, and whether the FIFO match is due. */
unsigned tl_oracle_delivered(tl_chan_oracle *o, uint32_t svc, const tl_message *m);

#endif /* TOFULAB_SIM_ORACLE_H */
