/*
 * Conformance suite: the run and the case being run, and what a case
 * records - findings (which set its verdict) and events (what the reports
 * show). Every layer above writes into a tlc_case; this layer calls nothing
 * above it (util.h only).
 */
#ifndef TOFULAB_CONFORM_CASE_H
#define TOFULAB_CONFORM_CASE_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "conform.h"
#include "util.h"

/* ---- the run and the case being run ---- */

struct tlc_session; /* client role: what the client did (cases.h) */

typedef struct {
    tl_conform_options opt;
    struct sockaddr_storage addr; /* resolved peer / listen address */
    socklen_t addr_len;
    unsigned timeout_ms;
    unsigned quiet_ms;
    uint64_t regular_sent; /* regular/welcome frames sent, as tofu's budget counts them */
    int peer_dead;
    int not_tofu;                /* a FAILED case met a peer that does not speak tofu: the rest is NOT-RUN */
    struct tlc_session *session; /* client role: what the client did */
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
    int not_tofu;           /* a connection's first bytes are plainly not tofu (a tlc_sniff_kind) */
    char not_tofu_why[384]; /* what came back, one line */
} tlc_case;

/* Deadlines. */
uint64_t tlc_deadline(const tlc_case *c);       /* now + timeout */
uint64_t tlc_quiet_deadline(const tlc_case *c); /* now + quiet window */

/* ---- findings ---- */

/* Each adds a line to the detail and raises the verdict to at least the
 * given one (FAILED > NON-STRICT > INFORMATIONAL > OK). */
void tlc_fail(tlc_case *c, const char *fmt, ...) TLC_PRINTF(2, 3);
void tlc_nonstrict(tlc_case *c, const char *fmt, ...) TLC_PRINTF(2, 3);
void tlc_inform(tlc_case *c, const char *fmt, ...) TLC_PRINTF(2, 3);
void tlc_unimplemented(tlc_case *c, const char *fmt, ...) TLC_PRINTF(2, 3);
/* A line of detail that does not change the verdict. */
void tlc_note(tlc_case *c, const char *fmt, ...) TLC_PRINTF(2, 3);
/* Nothing worse than OK so far. */
int tlc_clean(const tlc_case *c);

/* ---- events ---- */

/* Report events. bytes may be NULL; text may be NULL. */
void tlc_event(tlc_case *c, int dir, unsigned conn, const uint8_t *bytes, size_t len, const char *text);
void tlc_event_note(tlc_case *c, unsigned conn, const char *fmt, ...) TLC_PRINTF(3, 4);
/* Copy a session's events into a case's result (client role). */
void tlc_copy_events(tlc_case *c, const tl_conform_result *from);
/* Free the events and detail of a result. */
void tlc_result_clear(tl_conform_result *r);

#endif /* TOFULAB_CONFORM_CASE_H */
