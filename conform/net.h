/*
 * Conformance suite: raw connections to the peer (and, client role, the
 * listener). Every wait is bounded by a deadline; what is sent and received
 * is recorded as events of the case that owns the connection. Uses case.h
 * and util.h only.
 */
#ifndef TOFULAB_CONFORM_NET_H
#define TOFULAB_CONFORM_NET_H

#include <stddef.h>
#include <stdint.h>

#include "case.h"
#include "sniff.h"
#include "util.h"

/* ---- connections ---- */

#define TLC_RX_FRAME   1
#define TLC_RX_TIMEOUT 0
#define TLC_RX_CLOSED  (-1) /* orderly close or reset; see conn->closed */
#define TLC_RX_FLOOD   (-2) /* the peer sent more than the receive cap */

#define TLC_CLOSED_NO    0
#define TLC_CLOSED_EOF   1
#define TLC_CLOSED_RESET 2

typedef struct {
    tlc_case *c;
    unsigned num; /* label in the report */
    int fd;
    uint8_t *rx;
    size_t rx_len;
    size_t rx_cap;
    int closed; /* TLC_CLOSED_* */
    int flood;
    uint64_t rx_total;
    size_t frames_in;     /* frames parsed */
    size_t frames_logged; /* received frames recorded as events */
    int have_channel;     /* the peer's channel number seen in its frames */
    uint16_t channel;
    int send_error;
    uint8_t head[TLC_SNIFF_HEAD]; /* the first bytes the peer sent (tlc_sniff when we close) */
    size_t head_len;
    uint64_t rx_since_us;    /* when the oldest byte still buffered arrived (tlc_now_us) */
    uint64_t frame_first_us; /* the frame tlc_recv returned last: when its first byte arrived */
    int quickack;            /* TCP_QUICKACK re-armed around every read (tlc_set_quickack) */
} tlc_conn;

/* Server role: connect to the peer (bounded by the timeout). NULL (and a
 * FAILED finding when report_fail) if it cannot. */
tlc_conn *tlc_open(tlc_case *c, int report_fail);
/* Close; with rst the socket is closed with SO_LINGER 0 (an RST, as tofu
 * does). Frees the connection. When the peer's first bytes on it are plainly
 * not tofu (tlc_sniff), the case notes it in c->not_tofu (first one wins). */
void tlc_close(tlc_conn *k, int rst);
/* TCP only: acknowledge every segment at once (TCP_QUICKACK, re-armed around
 * each read) instead of delaying ACKs; 0 when it took, -1 where the platform
 * or socket has no such option. */
int tlc_set_quickack(tlc_conn *k, int on);
/* Client role: wrap an accepted socket. */
tlc_conn *tlc_conn_wrap(tlc_case *c, int fd);

/* How a byte string is cut into writes. */
typedef enum {
    TLC_SPLIT_NONE = 0,   /* one write */
    TLC_SPLIT_BYTES = 1,  /* one byte per write, with a pause */
    TLC_SPLIT_RANDOM = 2, /* 1..64-byte writes at seeded random points */
    TLC_SPLIT_AT = 3      /* writes ending at the given offsets */
} tlc_split_mode;

typedef struct {
    tlc_split_mode mode;
    uint64_t seed;
    const size_t *cuts; /* TLC_SPLIT_AT: increasing offsets */
    size_t ncuts;
    unsigned pause_us; /* between writes (default 1000 for BYTES/AT, 300 for RANDOM) */
} tlc_split;

/* Send bytes (all of them, as split says), reading whatever the peer sends
 * meanwhile. Records one event. frames/regular: how many frames and
 * budget-counted frames the bytes hold (for the note and the budget).
 * Returns 0, or -1 if the peer closed or the timeout passed. */
int tlc_send(tlc_conn *k, const uint8_t *data, size_t len, const tlc_split *split, const char *what);

/* Receive one complete frame before deadline (tlc_now_us() based). */
int tlc_recv(tlc_conn *k, uint64_t deadline_us, tlc_frame *f);
/* Wait until deadline; returns 1 if any byte arrived or the peer closed,
 * 0 if the connection stayed silent. Bytes that arrive are kept for tlc_recv. */
int tlc_wait_quiet(tlc_conn *k, uint64_t deadline_us);
/* Read until the peer closes or deadline: 1 closed, 0 still open. Frames that
 * arrive meanwhile are recorded and counted in *frames (may be NULL). */
int tlc_wait_close(tlc_conn *k, uint64_t deadline_us, size_t *frames);
/* Drop buffered bytes (after an undecodable reply). */
void tlc_discard(tlc_conn *k);
/* Explain bytes that do not yet make a frame (for a timeout finding). */
void tlc_describe_pending(tlc_conn *k, tlc_sb *out);

/* ---- the peer's address ---- */

/* Resolve run->opt.peer into run->addr / run->addr_len (TCP: the first
 * getaddrinfo result, as tofu, 4.3). TL_OK, or TL_E_INVAL / TL_E_IO with err
 * filled. */
int tlc_resolve(tlc_run *run, char *err, size_t err_cap);

/* ---- listening (client role) ---- */

/* Listen at the configured address. Returns the listening socket or -1 with
 * err filled. bound gets the address text with the real port. */
int tlc_listen(tlc_run *run, char *bound, size_t bound_cap, char *err, size_t err_cap);

#endif /* TOFULAB_CONFORM_NET_H */
