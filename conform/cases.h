/*
 * Conformance suite: the cases of both roles (cases_server.c,
 * cases_client.c) and the client role's echo session. The runner reads the
 * tables and runs them; the cases use echo.h, net.h, case.h and util.h and
 * never call the runner.
 */
#ifndef TOFULAB_CONFORM_CASES_H
#define TOFULAB_CONFORM_CASES_H

#include <stddef.h>

#include "case.h"

typedef void (*tlc_case_fn)(tlc_case *c);

typedef struct {
    tl_conform_case_info info;
    tlc_case_fn fn;
} tlc_case_def;

extern const tlc_case_def tlc_server_cases[];
extern const size_t tlc_server_case_count;
extern const tlc_case_def tlc_client_cases[];
extern const size_t tlc_client_case_count;

/* ---- client role: the session every client case is judged on ---- */

/* Accept one client on the listening socket lfd and run the echo session;
 * fills run->session and records the session's events in session_log.
 * Returns TL_OK, TL_E_TIMEOUT or TL_E_NOMEM. */
int tlc_client_session(tlc_run *run, int lfd, tl_conform_result *session_log);
void tlc_session_free(struct tlc_session *s);

#endif /* TOFULAB_CONFORM_CASES_H */
