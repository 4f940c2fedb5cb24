/*
 * Internals of the conformance suite (the conform/ sources). Not installed.
 */
#ifndef TOFULAB_CONFORM_INTERNAL_H
#define TOFULAB_CONFORM_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "conform.h"

#if defined(__GNUC__) || defined(__clang__)
#define TLC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define TLC_PRINTF(fmt, args)
#endif

/* ---- growable text ---- */

typedef struct {
    char *s;
    size_t len;
    size_t cap;
    int oom;
} tlc_sb;

void tlc_sb_printf(tlc_sb *b, const char *fmt, ...) TLC_PRINTF(2, 3);
void tlc_sb_vprintf(tlc_sb *b, const char *fmt, va_list ap) TLC_PRINTF(2, 0);
void tlc_sb_append(tlc_sb *b, const char *data, size_t len);
void tlc_sb_hex(tlc_sb *b, const uint8_t *data, size_t len);
/* Printable ASCII as is, backslash escapes for CR, LF, TAB, \\ and \xNN. */
void tlc_sb_quoted(tlc_sb *b, const uint8_t *data, size_t len);
/* Take the string (never NULL; "" when empty); b is reset. */
char *tlc_sb_take(tlc_sb *b);
void tlc_sb_free(tlc_sb *b);

/* ---- growable bytes ---- */

typedef struct {
    uint8_t *p;
    size_t len;
    size_t cap;
    int oom;
} tlc_bytes;

void tlc_bytes_append(tlc_bytes *b, const void *data, size_t len);
void tlc_bytes_free(tlc_bytes *b);

/* ---- time and randomness ---- */

uint64_t tlc_now_us(void);
void tlc_sleep_us(uint64_t us);
/* xorshift64*, deterministic per seed. */
uint64_t tlc_rand(uint64_t *state);

/* One line per frame in data[0..len): op, fields, headers, body, the native
 * decode of a 16-byte body; a trailing incomplete frame is described as such. */
void tlc_describe_frames(tlc_sb *out, const uint8_t *data, size_t len, size_t total);

/* ---- a received frame (owned copy) ---- */

typedef struct {
    tl_header h;
    uint8_t *text; /* h.thl bytes (NULL when 0) */
    uint8_t *body; /* h.bl bytes (NULL when 0) */
} tlc_frame;

void tlc_frame_free(tlc_frame *f);

/* ---- the run and the case being run ---- */

typedef struct {
    tl_conform_options opt;
    struct sockaddr_storage addr; /* resolved peer / listen address */
    socklen_t addr_len;
    unsigned timeout_ms;
    unsigned quiet_ms;
    uint64_t regular_sent; /* regular/welcome frames sent, as tofu's budget counts them */
    int peer_dead;
    struct tlc_session *session;          /* client role: what the client did */
    const tl_conform_result *session_log; /* client role: the session's events */
    char bound[TL_ADDR_TEXT_MAX];         /* client role: the address we listen at */
} tlc_run;

typedef struct tlc_case {
    tlc_run *run;
    tl_conform_result *res;
    unsigned flags; /* the case's TL_CONFORM_* flags */
    uint64_t t0;
    unsigned conns; /* connections opened so far */
    int worst;      /* worst verdict flagged: -1 none, else a tl_conform_verdict */
    tlc_sb detail;
    int connect_failed;     /* a connection could not be opened: the runner checks liveness */
    int connect_errno;      /* the OS reason of the last failed connection */
    int alive_checked;      /* the case ran a liveness check itself */
    int alive;              /* its result */
    uint64_t budget_before; /* run->regular_sent when the case started */
} tlc_case;

typedef void (*tlc_case_fn)(tlc_case *c);

typedef struct {
    tl_conform_case_info info;
    tlc_case_fn fn;
} tlc_case_def;

extern const tlc_case_def tlc_server_cases[];
extern const size_t tlc_server_case_count;
extern const tlc_case_def tlc_client_cases[];
extern const size_t tlc_client_case_count;

/* Findings. Each adds a line to the detail and raises the verdict to at
 * least the given one (FAILED > NON-STRICT > INFORMATIONAL > OK). */
void tlc_fail(tlc_case *c, const char *fmt, ...) TLC_PRINTF(2, 3);
void tlc_nonstrict(tlc_case *c, const char *fmt, ...) TLC_PRINTF(2, 3);
void tlc_inform(tlc_case *c, const char *fmt, ...) TLC_PRINTF(2, 3);
void tlc_unimplemented(tlc_case *c, const char *fmt, ...) TLC_PRINTF(2, 3);
/* A line of detail that does not change the verdict. */
void tlc_note(tlc_case *c, const char *fmt, ...) TLC_PRINTF(2, 3);
/* Nothing worse than OK so far. */
int tlc_clean(const tlc_case *c);

/* Report events. bytes may be NULL; text may be NULL. */
void tlc_event(tlc_case *c, int dir, unsigned conn, const uint8_t *bytes, size_t len, const char *text);
void tlc_event_note(tlc_case *c, unsigned conn, const char *fmt, ...) TLC_PRINTF(3, 4);

/* Server role: a follow-up connection still works (connect + HelloRequest
 * answered with at least one byte within the timeout). Records a note and
 * remembers the result for the runner. */
int tlc_check_alive(tlc_case *c);

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
} tlc_conn;

/* Server role: connect to the peer (bounded by the timeout). NULL (and a
 * FAILED finding when report_fail) if it cannot. */
tlc_conn *tlc_open(tlc_case *c, int report_fail);
/* Close; with rst the socket is closed with SO_LINGER 0 (an RST, as tofu
 * does). Frees the connection. */
void tlc_close(tlc_conn *k, int rst);
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

/* ---- frames we build ---- */

typedef struct {
    tl_header h; /* thl/bl filled in by tlc_out_add */
    const uint8_t *text;
    size_t text_len;
    const uint8_t *body;
    size_t body_len;
} tlc_msg;

/* A run of frames to send. */
typedef struct {
    tlc_bytes bytes;
    size_t frames;
    size_t regular; /* frames tofu's echo budget counts */
} tlc_out;

/* Encode m (thl/bl from the lengths) and append; m->h gets thl/bl. */
void tlc_out_add(tlc_out *o, tlc_msg *m);
void tlc_out_free(tlc_out *o);
/* Send an tlc_out and account for the budget. */
int tlc_send_out(tlc_conn *k, tlc_out *o, const tlc_split *split, const char *what);
/* Build and send one frame in one write. */
int tlc_send_msg(tlc_conn *k, tlc_msg *m, const char *what);

/* ---- echo rules (section 7) ---- */

/* Op code EchoService replies with, or -1 when it sends nothing back. */
int tlc_echo_opcode(unsigned op);
/* Check reply against the echo of sent (header as sent, text as sent).
 * Findings go to the case, prefixed with what. Returns 1 if nothing FAILED. */
int tlc_check_echo(tlc_case *c, tlc_conn *k, const tl_header *sent, const uint8_t *text,
                   const tlc_frame *reply, const char *what);
/* Receive and check one echo. Returns 1 if a correct echo arrived. */
int tlc_expect_echo(tlc_case *c, tlc_conn *k, const tlc_msg *sent, const char *what);
/* Receive one frame or explain why not (FAILED finding). Returns 1 on a frame. */
int tlc_expect_frame(tlc_case *c, tlc_conn *k, tlc_frame *f, const char *what);
/* Build the echo reply EchoService would send for a received frame
 * (client role), with our channel number. */
void tlc_make_echo(const tlc_frame *in, uint16_t our_channel, tlc_out *o);

/* Deadlines. */
uint64_t tlc_deadline(const tlc_case *c);       /* now + timeout */
uint64_t tlc_quiet_deadline(const tlc_case *c); /* now + quiet window */

/* ---- client role ---- */

struct tlc_session;
/* Listen at the configured address. Returns the listening socket or -1 with
 * err filled. bound gets the address text with the real port. */
int tlc_listen(tlc_run *run, char *bound, size_t bound_cap, char *err, size_t err_cap);
/* Accept one client and run the echo session; fills run->session. Returns
 * TL_OK, TL_E_TIMEOUT or TL_E_NOMEM. */
int tlc_client_session(tlc_run *run, int lfd, tl_conform_result *session_log);
void tlc_session_free(struct tlc_session *s);
/* Copy a session's events into a case's result (client role). */
void tlc_copy_events(tlc_case *c, const tl_conform_result *from);
/* Free the events and detail of a result. */
void tlc_result_clear(tl_conform_result *r);

#endif /* TOFULAB_CONFORM_INTERNAL_H */
