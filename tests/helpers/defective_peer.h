/*
 * Raw-socket echo peers for the conformance suite's own tests: a server that
 * behaves like tofu's EchoService (PROTOCOL.md section 7) with one defect
 * switched on, and an EchoClient with one defect switched on. They use the
 * wire codec only (no engine), one thread per connection, bounded.
 *
 * No cmocka here: these run on their own threads.
 */
#ifndef TOFULAB_TEST_DEFECTIVE_PEER_H
#define TOFULAB_TEST_DEFECTIVE_PEER_H

#include <stddef.h>

typedef enum {
    /* A correct echo peer with the reference engine's decisions: clears
     * internal bits on replies, tears a channel down on op codes 10-15 and
     * on ByeSignal, ignores response-role and engine-origin frames, never
     * stops, no budget. */
    DP_CORRECT = 0,
    DP_LE_HEADER,       /* reply headers encoded little-endian */
    DP_DROP_TEXT,       /* reply without the text headers */
    DP_ECHO_BODY,       /* reply body = the request's body, not the header copy */
    DP_WRONG_ID,        /* reply message_id = request id + 1 */
    DP_NO_BYE_RESPONSE, /* a ByeRequest gets no ByeResponse */
    DP_CLOSE_ON_MORE,   /* closes the connection on a frame with the more flag */
    DP_WRONG_OPCODE,    /* the reply keeps the request's op code */
    /* tofu's EchoService + MultiHomed as section 7 describes them: the whole
     * server stops on response roles, status 21, refused echoes (id 0, more
     * on hello/bye), op codes 10-15 and after 1100 echoes; engine-origin
     * frames are ignored; internal bits stay on replies; ByeSignal 0x07 is
     * echoed. Not defective, just tofu. */
    DP_TOFU,
    DP_HANG,  /* reads everything, never answers, never closes */
    DP_FLOOD, /* sends an endless stream of bytes on every connection */
    /* A correct echo peer that writes each frame as tofu does: header, text
     * headers and body in three send() calls, TCP_NODELAY off (PROTOCOL.md
     * 6.6, A24). Every other peer writes a frame in one send(), except DP_TOFU,
     * which writes like this one. */
    DP_NAGLE,
    /* Not tofu peers at all: */
    DP_HTTP, /* answers the first bytes with "HTTP/1.1 400 Bad Request" and closes */
    DP_TLS,  /* answers the first bytes with a TLS ServerHello record and waits */
    /* correct, except that the first Request after dp_server_lose_next()
     * gets no answer: lost (the real-process scenarios' defective peer
     * loses the first request after a restart or a resume) */
    DP_LOSE_REQUEST,
    /* For the network fuzzer's tests (DP_CORRECT plus one defect each).
     * The first two take the whole process down: run them in a process of
     * their own (tests/tools/defective_peer_main.c). */
    DP_ABORT_OPCODE,        /* op code 10-15: prints a panic line, abort() (tofu Debug, A7) */
    DP_CRASH_BIG_TEXT,      /* text headers longer than 60,000 bytes: SIGSEGV, no report */
    DP_HANG_HELLO2,         /* after a second HelloRequest on a connection: never answers again */
    DP_WRONG_ID_AFTER_MORE, /* after a frame with more: later replies carry message_id + 1 */
    /* Not a defect: correct, but it closes a connection as soon as its
     * ByeResponse is out, without reading what follows (tofu's responder
     * waits for the initiator to close, 6.8; `tofulab serve` closes when
     * echoes pile up behind its ByeResponse). The fuzzer must read the
     * ByeResponse even when a write fails first because of the close. */
    DP_BYE_CLOSES,
    DP_DEFECT_COUNT
} dp_defect;

typedef struct dp_server dp_server;

/* Start a server: on TCP 127.0.0.1 with a free port, or on the UDS path
 * given. addr gets "tcp|127.0.0.1|PORT" or "uds|PATH". NULL on failure. */
dp_server *dp_server_start(dp_defect defect, const char *uds_path, char *addr, size_t addr_cap);
/* The same on a given address, "tcp|127.0.0.1|PORT" (that port) or
 * "uds|PATH". NULL on failure. */
dp_server *dp_server_listen(dp_defect defect, const char *listen_addr);
/* DP_LOSE_REQUEST: the next Request is lost. Async-signal-safe. */
void dp_server_lose_next(dp_server *s);
/* 1 once the server has stopped itself (DP_TOFU's "stop"). */
int dp_server_stopped(dp_server *s);
/* Stop, join every thread, free. */
void dp_server_stop(dp_server *s);
const char *dp_defect_name(dp_defect d);
/* Short names for command lines: "correct", "abort-opcode", "crash-big-text",
 * "hang-hello2", "wrong-id-after-more", ... (dp_defect_key); -1 if unknown. */
const char *dp_defect_key(dp_defect d);
int dp_defect_parse(const char *key);

typedef enum {
    DC_CORRECT = 0,   /* tofu's EchoClient: HelloRequest, Requests 1..N one at a time, RST */
    DC_LE_HEADER,     /* headers encoded little-endian */
    DC_NO_WAIT,       /* sends everything at once without waiting for replies */
    DC_BYE_REQUEST,   /* ends with ByeRequest/ByeResponse instead of the abort */
    DC_WRONG_IDS,     /* request ids start at 100 */
    DC_NO_HELLO_BODY, /* HelloRequest without the header-copy body */
    DC_BYESIGNAL_07,  /* sends a ByeSignal 0x07 frame before closing */
    DC_NO_CLOSE,      /* stays connected after its last Response */
    DC_DEFECT_COUNT
} dc_defect;

typedef struct dc_client dc_client;

/* Run a client in a thread: connect to addr ("tcp|host|port" or "uds|path",
 * retrying for up to 5 s), then the EchoClient sequence with n requests. */
dc_client *dc_client_start(const char *addr, dc_defect defect, unsigned n);
/* Wait for the client thread; returns its result (0 = it completed its
 * sequence, -1 = something went wrong on its side). */
int dc_client_join(dc_client *c);

#endif
