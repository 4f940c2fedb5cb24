/*
 * tofulab engine core: tofu's engine semantics (PROTOCOL.md section 6) as a
 * sans-I/O state machine. It never touches a socket, a clock, a thread or a
 * random source: bytes, time and commands go in; bytes, transport commands
 * and messages for the application come out. Not thread-safe: a host
 * serialises every call (engine/posix with a mutex, sim/ by construction).
 *
 * Handles: the local channel number (1-65534) names a connection or listener
 * in every host call. Groups are numbered from 1.
 */
#ifndef TOFULAB_ENGINE_H
#define TOFULAB_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "tofulab/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- memory ---- */

typedef struct {
    void *(*alloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *ptr, size_t size);
    void (*free)(void *ctx, void *ptr);
    void *ctx;
} tl_allocator;

/* libc malloc/realloc/free. */
const tl_allocator *tl_allocator_default(void);

/* ---- messages (tofu's Message) ---- */

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} tl_buf;

typedef struct tl_message {
    tl_header hdr; /* thl/bl are recomputed from text.len/body.len at post and send */
    tl_buf text;   /* raw text headers block, up to 65535 bytes */
    tl_buf body;   /* up to 65535 bytes */
    /* engine-private below */
    const tl_allocator *alloc;
    struct tl_message *next;
    uint8_t wire_hdr[TL_HEADER_SIZE];
    uint8_t pooled;
} tl_message;

/* Append a "name:value\r\n" text header (tl_text_append rules, A17). */
int tl_msg_add_header(tl_message *m, const char *name, const char *value);
/* Append raw bytes to the text headers block, unchecked (tofu's second entry point). */
int tl_msg_text_append_raw(tl_message *m, const void *data, size_t len);
int tl_msg_body_set(tl_message *m, const void *data, size_t len);
int tl_msg_body_append(tl_message *m, const void *data, size_t len);
/* Set op code (keeping the other proto bits). */
void tl_msg_set_opcode(tl_message *m, unsigned opcode);
/* Header zeroed, text and body emptied (capacity kept). */
void tl_msg_reset(tl_message *m);
/* Free a message outside any engine (e.g. one still held after the engine
 * was destroyed). Inside an engine's life, use tl_engine_put. */
void tl_msg_free(tl_message *m);
/* Add the address header for a Hello (~connect_to) or Welcome (~listen_on)
 * request from text like "tcp|127.0.0.1|7099" or "uds|/path"; sets the op code,
 * channel 0 and message_id 0 as tofu's address helpers do. */
int tl_msg_set_address(tl_message *m, unsigned opcode, const char *address);

/* ---- engine ---- */

typedef enum { TL_GET_ALWAYS = 0, TL_GET_POOL_ONLY = 1 } tl_get_strategy;

typedef struct tl_engine tl_engine;

/* ---- rules a peer can break (the core then closes its channel) ---- */

typedef enum {
    TL_RULE_OPCODE = 1,            /* A7: op code 10-15 received (value: the op code, limit 9) */
    TL_RULE_TEXT_LEN = 2,          /* thl over max_text (value: thl, limit: max_text) */
    TL_RULE_BODY_LEN = 3,          /* bl over max_body (value: bl, limit: max_body) */
    TL_RULE_HANDSHAKE_TIMEOUT = 4, /* no HelloRequest within handshake_timeout_ns of the accept */
    TL_RULE_IDLE_TIMEOUT = 5,      /* no byte received or sent for idle_timeout_ns */
    TL_RULE_FRAME_TIMEOUT = 6,     /* a frame still incomplete frame_timeout_ns after its first byte */
    TL_RULE_SEND_AFTER_BYE = 7     /* messages queued behind the channel's bye frame (6.6: never sent) over
                                      max_send_queue (value: their memory, limit: max_send_queue) */
} tl_rule;

#define TL_RULE_COUNT 8u

/* What on_violation reports, just before the channel's teardown (whose
 * reason, on returned messages, is the status named below). */
typedef struct {
    tl_rule rule;
    uint16_t channel;
    tl_status reason;  /* teardown reason: invalid_op_code, invalid_headers_len, invalid_body_len,
                          channel_closed (timeouts, send queue after bye) */
    uint64_t offset;   /* protocol rules: stream offset of the offending header field */
    uint64_t value;    /* op code, thl or bl; timeouts: ns since the timer started; send queue: bytes */
    uint64_t limit;    /* 9, max_text, max_body; timeouts: the configured timeout in ns; max_send_queue */
    uint64_t received; /* bytes received on the channel so far */
} tl_violation;

/* "op code 10-15", "thl over the text limit", ..., "handshake timeout"; NULL if unknown. */
const char *tl_rule_name(tl_rule rule);
/* One line without newline, e.g. "no HelloRequest within 10 s of the accept (handshake timeout)",
 * "bl 65535 over the body limit 1024 at byte 14 (body length)". Returns the length
 * snprintf would write (truncated to cap). */
int tl_violation_format(const tl_violation *v, char *out, size_t cap);

typedef struct {
    uint64_t seed;                 /* channel-number PRNG seed (A6); same seed, same numbers */
    uint16_t pool_initial;         /* 0 = 16 (6.10) */
    uint16_t pool_max;             /* 0 = 64; raised to pool_initial if lower */
    const tl_allocator *allocator; /* NULL = libc */
    uint64_t connect_timeout_ns;   /* A21: 0 = none (tofu) -> connect_failed on expiry */
    uint64_t
        bye_grace_ns; /* A3: responder closes this long after its ByeResponse is sent; 0 = never (tofu) */
    int strict_bye;   /* A4: a ByeResponse may still be sent after our own ByeRequest */
    size_t max_text;  /* receive limit for thl, 0 = 65535; beyond it the channel closes */
    size_t max_body;  /* receive limit for bl, 0 = 65535 */
    uint32_t max_channels; /* 0 = 64510 (65534 minus the 1024 recently closed) */

    /* Protection against hostile peers (`tofulab serve` turns these on; see
     * docs/serve.md). Every field 0 = off, tofu's semantics, the library's
     * default. Timers need time: hosts tick (tl_engine_tick) and wake up at
     * tl_engine_next_deadline. A channel closed for a rule is reported to
     * on_violation, counted in the stats, and torn down as by a local abort. */
    uint64_t handshake_timeout_ns; /* server channel: no HelloRequest this long after the accept */
    uint64_t idle_timeout_ns;      /* open connection: no byte received or sent for this long */
    uint64_t frame_timeout_ns;     /* a frame still incomplete this long after its first byte */
    /* Non-zero: a frame takes its pool message when its last byte arrives,
     * not its first, so that peers holding incomplete frames cannot empty the
     * pool (6.15); and the bytes of incomplete frames all channels hold beyond
     * rx_reserve each are limited to rx_budget. A channel that would need
     * more stops reading (the rest waits in the host's socket) until budget
     * frees, the longest-waiting channel first. SIZE_MAX: no budget. */
    size_t rx_budget;
    size_t rx_reserve; /* bytes of an incomplete frame every channel may hold outside the budget; 0 = 4096 */
    /* Non-zero: a channel stops reading while its unsent messages hold more
     * than this many bytes of memory (message, text and body buffers), until
     * its peer reads them. Messages queued behind the channel's bye frame
     * can never leave (6.6): past the limit the channel is closed instead
     * (TL_RULE_SEND_AFTER_BYE). 0 = no limit. */
    size_t max_send_queue;
    /* A channel is about to be closed for breaking a rule. Optional; called
     * under the host's serialisation (do not call back into the engine). */
    void (*on_violation)(void *ctx, const tl_violation *v);

    /* Called (under the host's serialisation) when the core has new work for
     * the host: a command was queued. Optional. */
    void (*on_host_work)(void *ctx);
    /* Called when a message was appended to a group's receive queue. Optional. */
    void (*on_deliver)(void *ctx, uint32_t group);
    void *cb_ctx;
} tl_engine_options;

/* Post outcome. On TL_OK hdr is the final header (allocated channel, assigned
 * message_id). On TL_E_REJECTED status tells which rule failed (also in the
 * message's status byte; the caller keeps the message). */
typedef struct {
    tl_header hdr;
    tl_status status;
} tl_post_out;

/* Diagnostics; every counter only grows except the *_live/_now ones. */
typedef struct {
    uint64_t frames_in, frames_out, bytes_in, bytes_out;
    uint64_t origin_bits_cleared;        /* A7: peer frames that had origin set */
    uint64_t internal_bits_cleared;      /* A7: peer frames that had bit A or B set */
    uint64_t invalid_opcodes;            /* A7: frames with op code 10-15 (channel closed) */
    uint64_t pool_empty_episodes;        /* A20 */
    uint64_t data_before_hello_response; /* A14 diagnostic: client got data before HelloResponse */
    uint64_t peer_bye_signals;           /* A2: peer transmitted op code 7 */
    uint64_t channels_opened, channels_closed;
    uint64_t notifications; /* engine-made messages delivered */
    uint64_t alloc_failures;
    uint32_t channels_now;
    uint32_t messages_live; /* allocated and not freed (pool + app + engine queues) */
    uint32_t pool_now;      /* messages resting in the pool */
    uint32_t engine_now;    /* messages the engine holds (group and send queues, receive buffers,
                               pending WelcomeRequests); the application holds the rest:
                               messages_live - pool_now - engine_now */
    uint64_t next_message_id;
    /* Channel teardowns the application was told of (Signal channel_closed),
     * by reason: communication_failed, recv_failed, connect_failed, ...,
     * channel_closed when the engine closed the channel itself (6.9). */
    uint64_t closed_by[TL_STATUS_COUNT];
    /* protection (tl_engine_options); violations[rule] counts channels closed per tl_rule */
    uint64_t violations[TL_RULE_COUNT];
    uint64_t rx_budget_pauses;  /* a channel stopped reading: rx_budget used up */
    uint64_t rx_overdrafts;     /* a channel out of budget finished its frame beyond it (one at a time) */
    uint64_t send_queue_pauses; /* a channel stopped reading: max_send_queue reached */
    uint64_t rx_buffered_now;   /* bytes of incomplete frames held by every channel together */
    uint64_t rx_buffered_peak;
    uint64_t rx_charged_now; /* of which beyond the channels' reserves (counted against rx_budget) */
} tl_engine_stats;

int tl_engine_create(const tl_engine_options *opt, tl_engine **out);
/* Frees everything the engine owns (pool, queues, channels, messages still in
 * group queues). Messages the application holds must be put or freed before:
 * put after destroy is undefined. Issues no host commands. */
void tl_engine_destroy(tl_engine *e);

/* Application side (tofu's Ampe / ChannelGroup API). */
int tl_engine_get(tl_engine *e, tl_get_strategy how,
                  tl_message **out); /* TL_OK, TL_E_AGAIN (pool empty), TL_E_NOMEM, TL_E_CLOSED */
void tl_engine_put(tl_engine *e, tl_message **msg); /* NULL or *NULL: no-op; nulls the pointer */
int tl_engine_group_create(tl_engine *e, uint32_t *group);
/* Channels of the group are closed with RST and no notification; queued and
 * undelivered messages return to the pool (6.13). */
int tl_engine_group_destroy(tl_engine *e, uint32_t group);
/* Section 5 validation plus A8, A12 (header kind), A13, A15, A16; A6 for closed
 * channels. On success *msg is set to NULL. Errors: TL_E_REJECTED (see
 * out->status), TL_E_BAD_OPCODE (op 10-15, status untouched), TL_E_INVAL
 * (NULL message: status null_message), TL_E_CLOSED (shutdown: notification_disabled),
 * TL_E_NOT_FOUND (no such group). */
int tl_engine_post(tl_engine *e, uint32_t group, tl_message **msg, tl_post_out *out);
/* (TL_E_NOT_FOUND sets out->status to invalid_mchn_group. Message ids are
 * assigned per engine from 1, A23. The core itself never returns TL_E_CLOSED;
 * hosts do during shutdown.) */
/* Next message of the group, FIFO. TL_OK, TL_E_AGAIN (none), TL_E_NOT_FOUND. */
int tl_engine_receive(tl_engine *e, uint32_t group, tl_message **out);
/* updateReceiver (6.11): msg NULL or *msg NULL -> Signal receiver_update from
 * the engine; else that message with origin application, status 21. */
int tl_engine_update_receiver(tl_engine *e, uint32_t group, tl_message **msg);
/* Messages waiting in a group's receive queue. */
size_t tl_engine_pending(const tl_engine *e, uint32_t group);

/* ---- host side ---- */

typedef enum {
    TL_CMD_LISTEN = 1,  /* open a listener for channel at addr; answer tl_engine_listen_result */
    TL_CMD_CONNECT = 2, /* connect channel to addr; answer tl_engine_connect_result */
    TL_CMD_CLOSE = 3,   /* close channel's socket (reset: RST via SO_LINGER 0, else FIN). The
                           core has already forgotten the channel when it queues CLOSE: from
                           then on io_state/input/output answer TL_E_NOT_FOUND or 0. The core
                           always asks for a reset, as tofu does (SO_LINGER 0). */
    TL_CMD_IO = 4       /* channel's I/O interest changed: see tl_engine_io_state */
} tl_command_kind;

typedef struct {
    tl_command_kind kind;
    uint16_t channel;
    int reset;       /* CLOSE */
    int listener;    /* CLOSE: the channel was a listener (UDS: remove the path) */
    tl_address addr; /* LISTEN, CONNECT, and CLOSE of a listener (IO: addr.kind 0, the rest
                        left as it was) */
} tl_command;

typedef struct {
    int want_read;      /* the engine accepts input now (not starving, not stopped, not paused
                           for rx_budget or max_send_queue) */
    size_t out_pending; /* non-zero when tl_engine_output has bytes to give (it counts every
                           queued byte, frames held behind a bye frame included) */
    int connecting;     /* waiting for tl_engine_connect_result */
    int is_listener;
    size_t read_max; /* with want_read: read at most this many bytes now (>= 1; SIZE_MAX without
                        rx_budget), so that what the core cannot take waits in the socket */
} tl_io_state;

/* Pop the next command, in the order the engine issued them. 1 = got one, 0 = none. */
int tl_engine_next_command(tl_engine *e, tl_command *out);
int tl_engine_io_state(const tl_engine *e, uint16_t channel, tl_io_state *out);

/* Answers to LISTEN / CONNECT and accept reports return TL_E_STATE when the
 * channel was aborted in the meantime (e.g. a ByeSignal before the listen
 * result): the host then just closes what it opened. CLOSE may also come for
 * a channel whose LISTEN or CONNECT was never issued (bad address): hosts
 * ignore a CLOSE for a channel they hold nothing for. */

/* Listener: status 0 = listening; else listen_failed / invalid_address / ... */
int tl_engine_listen_result(tl_engine *e, uint16_t channel, tl_status status);
/* Client: status 0 = connected. A failure with immediate != 0 returns the
 * HelloRequest as HelloResponse (A10: address, UDS path, socket creation,
 * immediate refusal); otherwise as HelloRequest (connect_failed). */
int tl_engine_connect_result(tl_engine *e, uint16_t channel, tl_status status, int immediate);
/* A connection was accepted on a listener; *channel receives the new server
 * channel's number. On error the host closes the socket. */
int tl_engine_accepted(tl_engine *e, uint16_t listener, uint16_t *channel);

/* Bytes received on a channel. *consumed < len when the engine stops reading
 * (pool empty; rx_budget used up; max_send_queue reached: offer the rest
 * again once want_read is set; a host that reads at most read_max bytes has
 * nothing left over but for the pool case). After a ByeResponse or a protocol
 * error the rest is consumed and dropped. Protocol errors close the channel
 * (on_violation) with: op code 10-15 -> invalid_op_code (A7), thl over
 * max_text -> invalid_headers_len, bl over max_body -> invalid_body_len.
 * TL_E_STATE on a listener or a channel still connecting. */
int tl_engine_input(tl_engine *e, uint16_t channel, const uint8_t *data, size_t len, size_t *consumed);
/* The transport ended: reason is the status the host saw (A9): EOF over TCP ->
 * recv_failed, EOF over UDS or RST/error -> communication_failed, write error
 * -> send_failed. The channel is torn down and a CLOSE command follows. */
int tl_engine_transport_closed(tl_engine *e, uint16_t channel, tl_status reason);

/* Gather list of bytes to send on a channel, across queued frames (for writev),
 * up to max entries. Returns the number of entries (0 = nothing to send). */
int tl_engine_output(tl_engine *e, uint16_t channel, tl_iov *iov, int max);
/* The same, stopping after the frame in which the entries reach max_bytes
 * (so at least one frame when max_bytes > 0; none for 0): a host that writes
 * at most about that much at a time (a socket's send buffer) does not gather
 * a long queue it cannot send. */
int tl_engine_output_bytes(tl_engine *e, uint16_t channel, tl_iov *iov, int max, size_t max_bytes);
/* n bytes of that output were written; n must not pass what
 * tl_engine_output offered (TL_E_INVAL, and nothing changes). */
int tl_engine_output_done(tl_engine *e, uint16_t channel, size_t n);

/* Time: monotonic nanoseconds. Fires due timers (A21, A3, and the protection
 * timeouts: handshake, idle, partial frame), earliest first, equal deadlines
 * in channel creation order. Timers the core starts (connect timeout at post,
 * Bye grace after a ByeResponse is sent, a frame's first byte, activity) are
 * dated from the last tick: a host ticks before it posts, feeds input or
 * acknowledges output, as engine/posix and sim/ do. The core never reads a
 * clock. */
void tl_engine_tick(tl_engine *e, uint64_t now_ns);
/* Earliest timer deadline, or UINT64_MAX if none. May be earlier than the
 * real one (activity since moved it later): a host that wakes then just
 * ticks, and the next deadline is exact again. */
uint64_t tl_engine_next_deadline(const tl_engine *e);

void tl_engine_get_stats(const tl_engine *e, tl_engine_stats *out);
/* Check internal invariants; NULL when all hold, else a static description. */
const char *tl_engine_check(const tl_engine *e);
/* Channels currently open, ascending by number, up to max; returns the count. */
size_t tl_engine_channels(const tl_engine *e, uint16_t *out, size_t max);
/* The group owning a channel, 0 if none. */
uint32_t tl_engine_channel_group(const tl_engine *e, uint16_t channel);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_ENGINE_H */
