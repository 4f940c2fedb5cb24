/*
 * In-memory driver for engine cores (tofulab/engine.h): two or more engines
 * driven in one thread, without sockets. The driver plays every engine's host:
 *
 *   LISTEN   registers a virtual listener under the address text
 *            ("tcp|host|port" / "uds|path") and answers listen_result(0), or
 *            the status configured with pair_fail_listen(), or listen_failed
 *            when the address is already taken.
 *   CONNECT  to a registered address (a TCP listener on 0.0.0.0 or :: also
 *            takes connections to any host on its port): tl_engine_accepted()
 *            on the listener's engine, then connect_result(0); if accepting
 *            fails, the client then sees a reset. To an unknown address:
 *            TCP -> connect_result(connect_failed, later) like a refusal,
 *            UDS -> connect_result(uds_path_not_found, immediate).
 *            With hold_connects set the CONNECT waits for
 *            pair_complete_connect(). A LISTEN/CONNECT for a channel closed
 *            meanwhile is answered with nothing (the engine says TL_E_STATE).
 *   CLOSE    the end is gone; the other end gets the bytes still in flight
 *            towards it, then tl_engine_transport_closed() with
 *            communication_failed (reset: RST) or, orderly, recv_failed over
 *            TCP / communication_failed over UDS (A9).
 *   IO       nothing (the driver polls every end on each pass).
 *
 * Output bytes are moved with tl_engine_output()/tl_engine_output_done() and
 * fed with tl_engine_input() in chunks: everything, one byte, a fixed size,
 * or random sizes from a fixed-seed xorshift. Bytes not consumed (pool
 * starvation) are offered again once io_state says want_read. Every byte each
 * end wrote is kept in a transcript. tl_engine_check() is asserted after every
 * engine call the driver makes.
 *
 * A "raw" end (node PAIR_RAW) is the test itself: pair_inject() puts bytes on
 * the wire towards an engine end, pair_raw_close() ends the connection.
 *
 * Uses cmocka's assertions: link into cmocka test programs only. A pair_net
 * is several hundred KiB: give it static storage.
 */
#ifndef TOFULAB_TEST_PAIR_H
#define TOFULAB_TEST_PAIR_H

#include <stddef.h>
#include <stdint.h>

#include "tofulab/engine.h"

#define PAIR_MAX_NODES     4
#define PAIR_MAX_CONNS     64
#define PAIR_MAX_LISTENERS 16
#define PAIR_MAX_HELD      512
#define PAIR_MAX_FAILS     8
#define PAIR_RAW           (-1)
#define PAIR_ANY           (-1)

typedef enum {
    PAIR_CHUNK_ALL = 0,   /* every byte available */
    PAIR_CHUNK_ONE = 1,   /* one byte per call */
    PAIR_CHUNK_FIXED = 2, /* at most `chunk` bytes per call */
    PAIR_CHUNK_RANDOM = 3 /* 1..chunk bytes per call, xorshift with a fixed seed */
} pair_chunk_mode;

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} pair_bytes;

/* One virtual connection. End 0 is the connecting side, end 1 the accepted one. */
typedef struct {
    int used;
    int node[2];          /* engine index or PAIR_RAW */
    uint16_t ch[2];       /* local channel number of each end */
    int alive[2];         /* the end's channel still exists */
    int stalled[2];       /* the driver does not take output from this end */
    int close_pending[2]; /* a transport_closed is due to end i */
    tl_status close_reason[2];
    pair_bytes pipe[2]; /* bytes in flight towards end i */
    size_t pipe_off[2];
    pair_bytes wire[2];  /* transcript: every byte end i wrote */
    int closed_reset[2]; /* end i's CLOSE: 1 reset, 0 orderly, -1 not closed */
    tl_addr_kind kind;
} pair_conn;

typedef struct {
    int used;
    int node;
    uint16_t ch;
    char addr[TL_ADDR_TEXT_MAX];
    tl_address a;
} pair_listener;

typedef struct {
    int used;
    int node;
    uint16_t ch;
    tl_address addr;
} pair_held;

typedef struct {
    int node;
    tl_command cmd;
} pair_log_entry;

typedef struct {
    tl_engine *e;
    uint32_t group;
} pair_node;

typedef struct {
    int nnodes;
    pair_node node[PAIR_MAX_NODES];
    pair_conn conn[PAIR_MAX_CONNS];
    pair_listener lst[PAIR_MAX_LISTENERS];
    pair_held held[PAIR_MAX_HELD];
    struct {
        char addr[TL_ADDR_TEXT_MAX];
        tl_status status;
    } listen_fail[PAIR_MAX_FAILS];
    pair_chunk_mode mode;
    size_t chunk;
    uint64_t rng;
    int hold_connects;
    pair_log_entry *log; /* every command executed, in order (heap) */
    size_t nlog, log_cap;
    uint64_t now;
} pair_net;

/* Engines 0..nnodes-1, each with options *opt (NULL: defaults) and one group.
 * A seed of 0 becomes 0x1000 + node index, so the nodes' numbers differ. */
void pair_init(pair_net *n, int nnodes, const tl_engine_options *opt);
/* Same with one options struct per node (seeds used as given). */
void pair_init_each(pair_net *n, int nnodes, const tl_engine_options *opts);
/* Like pair_init_each but returns the first tl_engine_create or
 * tl_engine_group_create error (nothing left allocated) instead of failing. */
int pair_try_init(pair_net *n, int nnodes, const tl_engine_options *opts);
/* Put back whatever the groups still hold, destroy the engines, free buffers.
 * Asserts every engine's messages_live is what its pool holds. */
void pair_free(pair_net *n);
void pair_set_chunk(pair_net *n, pair_chunk_mode mode, size_t chunk, uint64_t seed);

/* Assert tl_engine_check() == NULL on every engine. */
void pair_check(const pair_net *n);
/* Execute commands, move bytes and deliver closes until nothing moves.
 * Returns the number of passes that made progress. */
int pair_run(pair_net *n);

/* ---- application side conveniences (each asserts the engine check) ---- */

tl_message *pair_get(pair_net *n, int node);
/* A message from node's pool: op code, channel, message_id, optional body text. */
tl_message *pair_msg(pair_net *n, int node, unsigned opcode, uint16_t channel, uint64_t id, const char *body);
int pair_post(pair_net *n, int node, tl_message **m, tl_post_out *out);
/* Post a WelcomeRequest / HelloRequest for addr; assert success; return the
 * channel (and the message_id in *id when id != NULL). */
uint16_t pair_listen(pair_net *n, int node, const char *addr, uint64_t *id);
uint16_t pair_connect(pair_net *n, int node, const char *addr, uint64_t *id);
/* Post a regular/bye message on a channel; assert success; return the id. */
uint64_t pair_send(pair_net *n, int node, unsigned opcode, uint16_t channel, uint64_t id, const char *body);
/* Next message of node's group or NULL. */
tl_message *pair_recv(pair_net *n, int node);
size_t pair_pending(const pair_net *n, int node);
void pair_put(pair_net *n, int node, tl_message **m);
/* Receive one message and assert its fields (PAIR_ANY skips a field; opcode is
 * the proto's low nibble, origin 0/1). Returns it: the caller owns it. */
tl_message *pair_expect(pair_net *n, int node, int opcode, int origin, int status, long channel, int64_t id);
/* pair_expect, then put the message back. */
void pair_expect_put(pair_net *n, int node, int opcode, int origin, int status, long channel, int64_t id);
/* Assert the group queue is empty. */
void pair_expect_none(pair_net *n, int node);

/* Typical setup: node 1 listens on addr, node 0 connects, the HelloRequest is
 * delivered to node 1 and accepted with a HelloResponse reusing it, node 0
 * receives the HelloResponse. *cc / *sc receive the two channel numbers. */
void pair_handshake(pair_net *n, const char *addr, uint16_t *cc, uint16_t *sc);

/* ---- connections and raw ends ---- */

pair_conn *pair_find(pair_net *n, int node, uint16_t ch, int *end);
/* The channel number of the other end of (node, ch), 0 if none. */
uint16_t pair_peer_channel(pair_net *n, int node, uint16_t ch);
/* A connection from a raw end to the listener (node, listener); returns it
 * with end 1 = the accepted engine channel. */
pair_conn *pair_raw_connect(pair_net *n, int node, uint16_t listener);
/* Bytes on the wire towards end `end` of c (delivered by pair_run). */
void pair_inject(pair_conn *c, int end, const void *data, size_t len);
/* The raw end of c closes: the engine end gets transport_closed after the
 * bytes in flight (reset: communication_failed; orderly: A9). */
void pair_raw_close(pair_net *n, pair_conn *c, int reset);
/* The host of (node, ch) reports the transport ended with reason. */
void pair_transport_closed(pair_net *n, int node, uint16_t ch, tl_status reason);
/* Complete a held CONNECT of (node, ch): to the registered listener or, when
 * status != 0, with that failure. */
void pair_complete_connect(pair_net *n, int node, uint16_t ch, tl_status status, int immediate);
void pair_set_stalled(pair_net *n, int node, uint16_t ch, int stalled);
/* LISTEN on addr gets status instead of success. */
void pair_fail_listen(pair_net *n, const char *addr, tl_status status);
void pair_tick(pair_net *n, uint64_t now_ns);

/* ---- what happened ---- */

/* Commands executed for node (PAIR_ANY: every node) of kind; for CLOSE,
 * reset PAIR_ANY / 0 / 1 filters. channel 0 = any. */
size_t pair_count_cmds(const pair_net *n, int node, tl_command_kind kind, int reset, uint16_t channel);
/* Decode the transcript of end `end` of c into headers (up to max); returns
 * the number of complete frames; *rest gets the trailing partial bytes. */
size_t pair_wire_frames(const pair_conn *c, int end, tl_header *out, size_t max, size_t *rest);

/* Same bytes for the same seed: the xorshift64 the driver uses. */
uint64_t pair_xorshift(uint64_t *state);

#endif
