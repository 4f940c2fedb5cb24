/*
 * tofulab conformance suite: numbered cases that check a tofu peer byte by
 * byte over raw sockets (PROTOCOL.md sections 1-7 and 9), verdicts per case,
 * and reports (console, JSON, JUnit XML, self-contained HTML).
 *
 * Two roles:
 *   - server (default): the peer runs tofu's EchoService (section 7) at an
 *     address; every case opens its own connection(s) and checks what comes
 *     back. Cases that may stop or crash a real tofu peer are marked
 *     destructive and run after all others; after each of them (and after any
 *     FAILED case) a follow-up connection checks that the peer is still alive.
 *     Once it is not, the remaining cases are reported NOT-RUN.
 *   - client: the suite listens at the address, acts as an echo server, and
 *     checks a peer's client that connects and runs tofu's EchoClient
 *     sequence (section 7).
 *
 * The suite never uses the engine: it writes and reads every byte itself with
 * the wire codec (tofulab/wire.h). Every wait is bounded by the configured
 * timeout; a peer that hangs, floods or vanishes is reported per case.
 */
#ifndef TOFULAB_CONFORM_H
#define TOFULAB_CONFORM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tofulab/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TL_CONFORM_ROLE_SERVER = 0, TL_CONFORM_ROLE_CLIENT = 1 } tl_conform_role;

/* Verdicts, from the user's point of view:
 *   OK             the peer does what tofu's code does and what our decisions
 *                  (PROTOCOL.md section 9 recommendations) ask;
 *   NON_STRICT     what tofu's code allows but its docs or our decisions do
 *                  not (reported as FAILED under --strict);
 *   FAILED         the peer broke a rule;
 *   INFORMATIONAL  observed behaviour where the spec allows several reactions
 *                  (e.g. to forged engine frames); never a failure;
 *   UNIMPLEMENTED  the case exists but cannot be checked in this setting;
 *   NOT_RUN        skipped because the peer had died earlier in the run, or
 *                  (server role) a FAILED case found it does not speak tofu. */
typedef enum {
    TL_VERDICT_OK = 0,
    TL_VERDICT_NON_STRICT = 1,
    TL_VERDICT_FAILED = 2,
    TL_VERDICT_INFORMATIONAL = 3,
    TL_VERDICT_UNIMPLEMENTED = 4,
    TL_VERDICT_NOT_RUN = 5
} tl_conform_verdict;

#define TL_VERDICT_COUNT 6

/* "OK", "NON-STRICT", "FAILED", "INFORMATIONAL", "UNIMPLEMENTED", "NOT-RUN". */
const char *tl_conform_verdict_name(tl_conform_verdict v);

/* ---- cases ---- */

/* Scheduling flags. */
#define TL_CONFORM_DESTRUCTIVE 0x01u /* may stop or crash a real tofu peer: runs last */
#define TL_CONFORM_HEAVY       0x02u /* spends most of tofu's 1100-echo budget: runs just before them */
#define TL_CONFORM_FATAL                                                                                     \
    0x04u /* destructive, and even the reference server stops on it as tofu's                                \
           * does (a peer-provoked post failure, section 7 step 7): runs at                                  \
           * the very end */
/* What a case inspects (documentation, and the test fixture's map of which
 * defect may fail which case). */
#define TL_CONFORM_CHECKS_REPLY    0x0100u /* decodes echo replies: header, op code, id, body copy */
#define TL_CONFORM_CHECKS_TEXT     0x0200u /* compares non-empty text headers */
#define TL_CONFORM_CHECKS_BYE      0x0400u /* needs a ByeResponse */
#define TL_CONFORM_CHECKS_MORE     0x0800u /* sends the more flag */
#define TL_CONFORM_CHECKS_SURVIVAL 0x1000u /* verdict depends on a follow-up connection */
#define TL_CONFORM_CHECKS_SESSION  0x2000u /* client role: judged on the client's session */

typedef struct {
    const char *id;    /* "tofu/<PROTOCOL.md section>/<n>", e.g. "tofu/7/2" */
    const char *title; /* one line */
    const char *rule;  /* the rule checked, citing PROTOCOL.md */
    unsigned flags;
} tl_conform_case_info;

size_t tl_conform_case_count(tl_conform_role role);
/* NULL when i is out of range. */
const tl_conform_case_info *tl_conform_case_at(tl_conform_role role, size_t i);

/* ---- options and run ---- */

#define TL_CONFORM_DEFAULT_TIMEOUT_MS 5000u

typedef struct tl_conform_result tl_conform_result;

typedef struct {
    tl_conform_role role;
    tl_address peer;   /* server role: where the peer listens; client role: where we listen */
    const char *cases; /* fnmatch(3) glob on case ids; NULL or "" = all */
    int strict;        /* NON-STRICT counts as FAILED */
    /* Longest wait for anything the peer should send (0 = the default, 5 s).
     * Windows in which the peer should send nothing last a fifth of it
     * (at least 50 ms, at most 500 ms). */
    unsigned timeout_ms;
    /* Client role: how long to wait for the client to connect
     * (0 = 10 x timeout_ms). */
    unsigned accept_timeout_ms;
    /* Called after each case (in run order); optional. */
    void (*on_result)(void *arg, const tl_conform_result *r);
    /* Client role: called once the listener is ready, with its address
     * ("tcp|host|port" with the bound port, or "uds|path"); optional. */
    void (*on_listening)(void *arg, const char *address);
    void *arg;
    /* Server role: run every case even after a FAILED case met a peer whose
     * replies are plainly not tofu (HTTP, TLS, a byte-swapped header, text).
     * By default the rest of the run is NOT-RUN then, and the report names
     * the cause (not_tofu). */
    int keep_going;
} tl_conform_options;

/* One thing that happened during a case, for the reports. */
#define TL_CONFORM_SENT        0
#define TL_CONFORM_RECEIVED    1
#define TL_CONFORM_NOTE        2
#define TL_CONFORM_EVENT_BYTES 4096u /* bytes kept per event */

typedef struct {
    int dir;        /* TL_CONFORM_SENT / RECEIVED / NOTE */
    unsigned conn;  /* connection number within the case (1-based; 0 = none) */
    uint64_t t_us;  /* since the case started */
    uint8_t *bytes; /* the first min(total, TL_CONFORM_EVENT_BYTES) bytes */
    size_t len;     /* bytes stored */
    size_t total;   /* bytes the event stands for */
    char *text;     /* note, or how the bytes were written; may be NULL */
} tl_conform_event;

struct tl_conform_result {
    const tl_conform_case_info *info;
    tl_conform_verdict verdict;
    int strict_escalated; /* NON-STRICT reported as FAILED because of strict */
    unsigned run_order;   /* 1-based; 0 when not run */
    uint64_t duration_us;
    char *detail; /* findings, one per line; never NULL after a run */
    tl_conform_event *events;
    size_t event_count;
    size_t event_cap;
    size_t events_dropped; /* events not kept (per-case cap) */
};

typedef struct {
    tl_conform_role role;
    char peer[TL_ADDR_TEXT_MAX]; /* address text (client role: with the bound port) */
    int strict;
    unsigned timeout_ms;
    tl_conform_result *results; /* in run order */
    size_t count;
    size_t totals[TL_VERDICT_COUNT];
    uint64_t duration_us;
    uint64_t regular_sent; /* regular/welcome frames sent (tofu's echo budget is 1100) */
    int peer_died;         /* the peer stopped answering during the run */
    char died_after[64];   /* id of the case after which it was found dead */
    char started[32];      /* UTC, ISO 8601 */
    /* Server role: why the peer is not a tofu peer, one line ("" when nothing
     * said so), and the FAILED case that found it. */
    char not_tofu[384];
    char not_tofu_after[64];
} tl_conform_report;

/* Run the selected cases. Returns TL_OK with the report filled (whatever the
 * verdicts), or: TL_E_INVAL (no case matches the glob, bad options),
 * TL_E_IO (server role: the peer cannot be reached; client role: cannot
 * listen), TL_E_TIMEOUT (client role: no client connected in time),
 * TL_E_NOMEM. On error err (if not NULL) holds one line of explanation and
 * the report is empty but safe to free. */
int tl_conform_run(const tl_conform_options *opt, tl_conform_report *rep, char *err, size_t err_cap);
void tl_conform_report_free(tl_conform_report *rep);

/* Number of FAILED results (after strict escalation). */
size_t tl_conform_failed_count(const tl_conform_report *rep);
/* The result for a case id, or NULL if the case was not selected. */
const tl_conform_result *tl_conform_find(const tl_conform_report *rep, const char *id);

/* ---- EchoService's reply to one frame (section 7), for other tools ---- */

/* The op code EchoService answers a frame of op code op with, or -1 when
 * nothing reaches the wire (responses, WelcomeRequest, op codes 10-15). */
int tl_conform_echo_opcode(unsigned op);
/* The body tofu's EchoClient posts (section 7, V19, V21): the header of the
 * message it goes with, copied before post in the native form
 * (tl_header_encode_native), with channel, proto and id set and every other
 * field 0. */
void tl_conform_echo_body(uint8_t out[TL_HEADER_SIZE], uint16_t channel, unsigned proto, uint64_t id);
/* Check one reply against the echo of a frame: sent = the frame's header as
 * sent (thl/bl as on the wire), sent_text its thl bytes; reply_text and
 * reply_body the reply's thl and bl bytes. Returns 1 when it is what tofu's
 * EchoService or the reference server sends (internal bits echoed back, as
 * tofu does, are accepted), else 0 with the first broken rule in why (one
 * line, cut to why_cap; why may be NULL). */
int tl_conform_check_echo(const tl_header *sent, const uint8_t *sent_text, const tl_header *reply,
                          const uint8_t *reply_text, const uint8_t *reply_body, char *why, size_t why_cap);

/* ---- reports (each returns 0, or -1 on a write error) ---- */

/* Console table: tl_conform_console_header, then one row per result, then
 * the footer (findings of non-OK cases, then the totals line
 * "N passed, N failed (OK n, NON-STRICT n, ...)"). tl_conform_write_console
 * does all three. */
int tl_conform_console_header(FILE *out, const tl_conform_report *rep);
int tl_conform_console_row(FILE *out, const tl_conform_result *r);
int tl_conform_console_footer(FILE *out, const tl_conform_report *rep);
int tl_conform_write_console(FILE *out, const tl_conform_report *rep);
int tl_conform_write_json(FILE *out, const tl_conform_report *rep);
int tl_conform_write_junit(FILE *out, const tl_conform_report *rep);
int tl_conform_write_html(FILE *out, const tl_conform_report *rep);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_CONFORM_H */
