/*
 * Conformance suite: the runner. Selects cases, orders them (safe, then
 * budget-heavy, then destructive), runs them, checks after every destructive
 * or FAILED case that the peer is still alive, reports NOT-RUN once it is
 * not, and turns findings into verdicts.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cases.h"
#include "case.h"
#include "echo.h"
#include "net.h"
#include "util.h"

/* ---- case tables ---- */

static const tlc_case_def *case_table(tl_conform_role role, size_t *n)
{
    if (role == TL_CONFORM_ROLE_CLIENT) {
        *n = tlc_client_case_count;
        return tlc_client_cases;
    }
    *n = tlc_server_case_count;
    return tlc_server_cases;
}

size_t tl_conform_case_count(tl_conform_role role)
{
    size_t n;

    (void)case_table(role, &n);
    return n;
}

const tl_conform_case_info *tl_conform_case_at(tl_conform_role role, size_t i)
{
    size_t n;
    const tlc_case_def *t = case_table(role, &n);

    return i < n ? &t[i].info : NULL;
}

/* ---- selection ---- */

static int glob_match(const char *globs, const char *id)
{
    const char *p = globs;

    if (globs == NULL || globs[0] == '\0') {
        return 1;
    }
    while (*p != '\0') {
        char one[128];
        size_t n = strcspn(p, ",");

        if (n > 0 && n < sizeof one) {
            memcpy(one, p, n);
            one[n] = '\0';
            if (fnmatch(one, id, 0) == 0) {
                return 1;
            }
        }
        p += n;
        if (*p == ',') {
            p++;
        }
    }
    return 0;
}

/* Safe cases, then the budget-heavy one, then destructive probes a robust
 * peer survives, then those even the reference server stops on. */
static unsigned phase(unsigned flags)
{
    if (flags & TL_CONFORM_FATAL) {
        return 3;
    }
    if (flags & TL_CONFORM_DESTRUCTIVE) {
        return 2;
    }
    return (flags & TL_CONFORM_HEAVY) ? 1 : 0;
}

/* ---- running one case ---- */

static void finish_case(tlc_case *c, tl_conform_result *r)
{
    if (c->worst < 0) {
        c->worst = TL_VERDICT_OK;
    }
    r->verdict = (tl_conform_verdict)c->worst;
    r->detail = tlc_sb_take(&c->detail);
    r->duration_us = tlc_now_us() - c->t0;
}

static void run_case(tlc_run *run, const tlc_case_def *d, tl_conform_result *r, unsigned order,
                     tl_conform_report *rep)
{
    tlc_case c;

    memset(&c, 0, sizeof c);
    c.run = run;
    c.res = r;
    c.flags = d->info.flags;
    c.worst = -1;
    c.t0 = tlc_now_us();
    c.budget_before = run->regular_sent;
    r->run_order = order;
    d->fn(&c);
    if (run->opt.role == TL_CONFORM_ROLE_SERVER && !c.alive_checked &&
        ((d->info.flags & TL_CONFORM_DESTRUCTIVE) || c.worst == TL_VERDICT_FAILED || c.connect_failed)) {
        (void)tlc_check_alive(&c);
    }
    if (run->opt.role == TL_CONFORM_ROLE_SERVER && c.alive_checked && !c.alive) {
        run->peer_dead = 1;
        rep->peer_died = 1;
        snprintf(rep->died_after, sizeof rep->died_after, "%s", d->info.id);
        if (!(d->info.flags & TL_CONFORM_CHECKS_SURVIVAL)) {
            tlc_note(&c, "the peer did not survive this case: a follow-up connection got no answer");
        }
    }
    /* A peer whose replies are plainly not tofu fails every case the same way,
     * each after a full timeout: say what came back and stop (1.3 of
     * docs/conformance.md). A FAILED case is wanted too, so a tofu peer is
     * never stopped on a look at bytes alone. */
    if (run->opt.role == TL_CONFORM_ROLE_SERVER && c.not_tofu != 0 && c.worst == TL_VERDICT_FAILED) {
        tlc_fail(&c, "the peer does not speak tofu: %s", c.not_tofu_why);
        if (rep->not_tofu[0] == '\0') {
            snprintf(rep->not_tofu, sizeof rep->not_tofu, "%s", c.not_tofu_why);
            snprintf(rep->not_tofu_after, sizeof rep->not_tofu_after, "%s", d->info.id);
        }
        if (!run->opt.keep_going) {
            run->not_tofu = 1;
        }
    }
    finish_case(&c, r);
}

int tl_conform_run(const tl_conform_options *opt, tl_conform_report *rep, char *err, size_t err_cap)
{
    tlc_run run;
    const tlc_case_def *defs;
    size_t ndefs, i, n = 0;
    const tlc_case_def **sel = NULL;
    char dummy[8];
    int rc;
    uint64_t t0 = tlc_now_us();
    unsigned ph, order = 0;
    int lfd = -1;
    tl_conform_result session_log;

    if (err == NULL || err_cap == 0) {
        err = dummy;
        err_cap = sizeof dummy;
    }
    err[0] = '\0';
    memset(rep, 0, sizeof *rep);
    memset(&run, 0, sizeof run);
    memset(&session_log, 0, sizeof session_log);
    if (opt == NULL || (opt->role != TL_CONFORM_ROLE_SERVER && opt->role != TL_CONFORM_ROLE_CLIENT)) {
        snprintf(err, err_cap, "bad options");
        return TL_E_INVAL;
    }
    run.opt = *opt;
    run.timeout_ms = opt->timeout_ms ? opt->timeout_ms : TL_CONFORM_DEFAULT_TIMEOUT_MS;
    run.quiet_ms = run.timeout_ms / 5u;
    if (run.quiet_ms < 50u) {
        run.quiet_ms = 50u;
    }
    if (run.quiet_ms > 500u) {
        run.quiet_ms = 500u;
    }
    rep->role = opt->role;
    rep->strict = opt->strict;
    rep->timeout_ms = run.timeout_ms;
    if (tl_address_format(&opt->peer, rep->peer, sizeof rep->peer) < 0) {
        snprintf(err, err_cap, "bad peer address");
        return TL_E_INVAL;
    }
    {
        time_t now = time(NULL);
        struct tm tmv;

        if (gmtime_r(&now, &tmv) != NULL) {
            strftime(rep->started, sizeof rep->started, "%Y-%m-%dT%H:%M:%SZ", &tmv);
        }
    }
    defs = case_table(opt->role, &ndefs);
    sel = calloc(ndefs, sizeof *sel);
    if (sel == NULL) {
        snprintf(err, err_cap, "out of memory");
        return TL_E_NOMEM;
    }
    for (ph = 0; ph < 4; ph++) {
        for (i = 0; i < ndefs; i++) {
            if (phase(defs[i].info.flags) == ph && glob_match(opt->cases, defs[i].info.id)) {
                sel[n++] = &defs[i];
            }
        }
    }
    if (n == 0) {
        snprintf(err, err_cap, "no case matches '%s'", opt->cases != NULL ? opt->cases : "");
        free(sel);
        return TL_E_INVAL;
    }
    rc = tlc_resolve(&run, err, err_cap);
    if (rc != TL_OK) {
        free(sel);
        return rc;
    }
    if (opt->role == TL_CONFORM_ROLE_SERVER) {
        /* Reachability: one plain connection first. */
        tlc_case probe;
        tlc_conn *k;

        memset(&probe, 0, sizeof probe);
        probe.run = &run;
        probe.worst = -1;
        probe.t0 = tlc_now_us();
        k = tlc_open(&probe, 0);
        tlc_sb_free(&probe.detail);
        if (k == NULL) {
            snprintf(err, err_cap, "cannot connect to the peer at '%s': %s", rep->peer,
                     probe.connect_errno != 0 ? strerror(probe.connect_errno) : "no connection");
            free(sel);
            return TL_E_IO;
        }
        tlc_close(k, 0);
    } else {
        tlc_case sc;

        lfd = tlc_listen(&run, run.bound, sizeof run.bound, err, err_cap);
        if (lfd < 0) {
            free(sel);
            return TL_E_IO;
        }
        snprintf(rep->peer, sizeof rep->peer, "%s", run.bound);
        if (opt->on_listening != NULL) {
            opt->on_listening(opt->arg, run.bound);
        }
        memset(&sc, 0, sizeof sc);
        rc = tlc_client_session(&run, lfd, &session_log);
        close(lfd);
        if (opt->peer.kind == TL_ADDR_UDS) {
            unlink(opt->peer.path);
        }
        if (rc != TL_OK) {
            tlc_result_clear(&session_log);
            tlc_session_free(run.session);
            if (rc == TL_E_TIMEOUT) {
                unsigned ms = opt->accept_timeout_ms ? opt->accept_timeout_ms : 10u * run.timeout_ms;
                snprintf(err, err_cap, "no client connected to %s within %u ms", run.bound, ms);
            } else {
                snprintf(err, err_cap, "out of memory");
            }
            free(sel);
            return rc;
        }
        run.session_log = &session_log;
    }
    rep->results = calloc(n, sizeof *rep->results);
    if (rep->results == NULL) {
        tlc_result_clear(&session_log);
        tlc_session_free(run.session);
        free(sel);
        snprintf(err, err_cap, "out of memory");
        return TL_E_NOMEM;
    }
    rep->count = n;
    for (i = 0; i < n; i++) {
        tl_conform_result *r = &rep->results[i];

        r->info = &sel[i]->info;
        if (run.peer_dead || run.not_tofu) {
            tlc_sb d = {0};

            r->verdict = TL_VERDICT_NOT_RUN;
            if (run.not_tofu) {
                tlc_sb_printf(&d, "not run: the peer does not speak tofu (found by %s)\n",
                              rep->not_tofu_after);
            } else {
                tlc_sb_printf(&d, "not run: the peer stopped answering after %s\n", rep->died_after);
            }
            r->detail = tlc_sb_take(&d);
        } else {
            run_case(&run, sel[i], r, ++order, rep);
        }
        if (opt->strict && r->verdict == TL_VERDICT_NON_STRICT) {
            r->verdict = TL_VERDICT_FAILED;
            r->strict_escalated = 1;
        }
        rep->totals[r->verdict]++;
        if (opt->on_result != NULL) {
            opt->on_result(opt->arg, r);
        }
    }
    rep->regular_sent = run.regular_sent;
    rep->duration_us = tlc_now_us() - t0;
    tlc_result_clear(&session_log);
    tlc_session_free(run.session);
    free(sel);
    return TL_OK;
}

void tl_conform_report_free(tl_conform_report *rep)
{
    size_t i;

    if (rep == NULL) {
        return;
    }
    for (i = 0; i < rep->count; i++) {
        tlc_result_clear(&rep->results[i]);
    }
    free(rep->results);
    memset(rep, 0, sizeof *rep);
}

size_t tl_conform_failed_count(const tl_conform_report *rep) { return rep->totals[TL_VERDICT_FAILED]; }

const tl_conform_result *tl_conform_find(const tl_conform_report *rep, const char *id)
{
    size_t i;

    for (i = 0; i < rep->count; i++) {
        if (strcmp(rep->results[i].info->id, id) == 0) {
            return &rep->results[i];
        }
    }
    return NULL;
}
