/*
 * Conformance suite: the runner. Selects cases, orders them (safe, then
 * budget-heavy, then destructive), runs them, checks after every destructive
 * or FAILED case that the peer is still alive, reports NOT-RUN once it is
 * not, and turns findings into verdicts.
 */
#include <errno.h>
#include <fnmatch.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define MAX_EVENTS_PER_CASE 256u

const char *tl_conform_verdict_name(tl_conform_verdict v)
{
    switch (v) {
    case TL_VERDICT_OK: return "OK";
    case TL_VERDICT_NON_STRICT: return "NON-STRICT";
    case TL_VERDICT_FAILED: return "FAILED";
    case TL_VERDICT_INFORMATIONAL: return "INFORMATIONAL";
    case TL_VERDICT_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case TL_VERDICT_NOT_RUN: return "NOT-RUN";
    }
    return "?";
}

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

/* ---- findings ---- */

static int rank(int v)
{
    switch (v) {
    case TL_VERDICT_FAILED: return 4;
    case TL_VERDICT_NON_STRICT: return 3;
    case TL_VERDICT_INFORMATIONAL: return 2;
    case TL_VERDICT_UNIMPLEMENTED: return 1;
    default: return 0;
    }
}

static void finding(tlc_case *c, int verdict, const char *tag, const char *fmt, va_list ap) TLC_PRINTF(4, 0);

static void finding(tlc_case *c, int verdict, const char *tag, const char *fmt, va_list ap)
{
    if (c->worst < 0 || rank(verdict) > rank(c->worst)) {
        c->worst = verdict;
    }
    if (tag != NULL) {
        tlc_sb_printf(&c->detail, "%s: ", tag);
    }
    tlc_sb_vprintf(&c->detail, fmt, ap);
    tlc_sb_append(&c->detail, "\n", 1);
}

void tlc_fail(tlc_case *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    finding(c, TL_VERDICT_FAILED, "FAILED", fmt, ap);
    va_end(ap);
}

void tlc_nonstrict(tlc_case *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    finding(c, TL_VERDICT_NON_STRICT, "NON-STRICT", fmt, ap);
    va_end(ap);
}

void tlc_inform(tlc_case *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    finding(c, TL_VERDICT_INFORMATIONAL, "INFO", fmt, ap);
    va_end(ap);
}

void tlc_unimplemented(tlc_case *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    finding(c, TL_VERDICT_UNIMPLEMENTED, "UNIMPLEMENTED", fmt, ap);
    va_end(ap);
}

void tlc_note(tlc_case *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tlc_sb_vprintf(&c->detail, fmt, ap);
    tlc_sb_append(&c->detail, "\n", 1);
    va_end(ap);
}

int tlc_clean(const tlc_case *c) { return c->worst < 0 || c->worst == TL_VERDICT_OK; }

/* ---- events ---- */

/* Append a copy of e (bytes and text duplicated) to r, within the cap. */
static void push_event(tl_conform_result *r, const tl_conform_event *e)
{
    tl_conform_event *d;

    if (r->event_count >= MAX_EVENTS_PER_CASE) {
        r->events_dropped++;
        return;
    }
    if (r->event_count == r->event_cap) {
        size_t ncap = r->event_cap ? r->event_cap * 2 : 16;
        tl_conform_event *ne = realloc(r->events, ncap * sizeof *ne);

        if (ne == NULL) {
            r->events_dropped++;
            return;
        }
        r->events = ne;
        r->event_cap = ncap;
    }
    d = &r->events[r->event_count];
    *d = *e;
    d->bytes = NULL;
    d->len = 0;
    d->text = NULL;
    if (e->len > 0 && e->bytes != NULL) {
        d->bytes = malloc(e->len);
        if (d->bytes != NULL) {
            memcpy(d->bytes, e->bytes, e->len);
            d->len = e->len;
        }
    }
    if (e->text != NULL) {
        size_t n = strlen(e->text) + 1;

        d->text = malloc(n);
        if (d->text != NULL) {
            memcpy(d->text, e->text, n);
        }
    }
    r->event_count++;
}

void tlc_event(tlc_case *c, int dir, unsigned conn, const uint8_t *bytes, size_t len, const char *text)
{
    tl_conform_event e;

    if (c->res == NULL) {
        return;
    }
    memset(&e, 0, sizeof e);
    e.dir = dir;
    e.conn = conn;
    e.t_us = tlc_now_us() - c->t0;
    e.bytes = (uint8_t *)(uintptr_t)bytes;
    e.len = len < TL_CONFORM_EVENT_BYTES ? len : TL_CONFORM_EVENT_BYTES;
    e.total = len;
    e.text = (char *)(uintptr_t)text;
    push_event(c->res, &e);
}

void tlc_event_note(tlc_case *c, unsigned conn, const char *fmt, ...)
{
    tlc_sb b = {0};
    va_list ap;

    va_start(ap, fmt);
    tlc_sb_vprintf(&b, fmt, ap);
    va_end(ap);
    tlc_event(c, TL_CONFORM_NOTE, conn, NULL, 0, b.s);
    tlc_sb_free(&b);
}

void tlc_copy_events(tlc_case *c, const tl_conform_result *from)
{
    size_t i;

    if (from == NULL || c->res == NULL) {
        return;
    }
    for (i = 0; i < from->event_count; i++) {
        push_event(c->res, &from->events[i]);
    }
    c->res->events_dropped += from->events_dropped;
}

void tlc_result_clear(tl_conform_result *r)
{
    size_t i;

    for (i = 0; i < r->event_count; i++) {
        free(r->events[i].bytes);
        free(r->events[i].text);
    }
    free(r->events);
    free(r->detail);
    r->events = NULL;
    r->event_count = r->event_cap = 0;
    r->detail = NULL;
}

/* ---- liveness ---- */

int tlc_check_alive(tlc_case *c)
{
    tlc_conn *k;
    int alive = 0;

    tlc_event_note(c, 0, "follow-up connection: is the peer still alive?");
    k = tlc_open(c, 0);
    c->connect_failed = 0; /* this failure is the answer, not a finding */
    if (k != NULL) {
        tlc_msg m;
        uint8_t text[TL_ADDR_TEXT_MAX + 16];
        size_t tl = 0;
        char addr[TL_ADDR_TEXT_MAX];

        memset(&m, 0, sizeof m);
        if (tl_address_format(&c->run->opt.peer, addr, sizeof addr) > 0) {
            tl_address_append_header(text, sizeof text, &tl, TL_OP_HELLO_REQUEST, &c->run->opt.peer);
        }
        m.h.channel = 0x7e57;
        m.h.proto = TL_OP_HELLO_REQUEST;
        m.h.message_id = 0x7e57;
        m.text = text;
        m.text_len = tl;
        if (tlc_send_msg(k, &m, "liveness HelloRequest") == 0) {
            (void)tlc_wait_quiet(k, tlc_deadline(c));
            alive = k->rx_total > 0;
        }
        tlc_close(k, 1);
    }
    c->alive_checked = 1;
    c->alive = alive;
    tlc_event_note(
        c, 0, alive ? "the peer is alive" : "the peer is NOT alive: no answer on a follow-up connection");
    return alive;
}

/* ---- address ---- */

static int resolve(tlc_run *run, char *err, size_t err_cap)
{
    const tl_address *a = &run->opt.peer;

    memset(&run->addr, 0, sizeof run->addr);
    if (a->kind == TL_ADDR_UDS) {
        struct sockaddr_un *un = (struct sockaddr_un *)&run->addr;

        if (strlen(a->path) >= sizeof un->sun_path) {
            snprintf(err, err_cap, "UDS path too long");
            return TL_E_INVAL;
        }
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, a->path, strlen(a->path) + 1);
        run->addr_len = (socklen_t)sizeof *un;
        return TL_OK;
    }
    if (a->kind == TL_ADDR_TCP) {
        struct addrinfo hints, *res = NULL;
        char port[8];
        int rc;

        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        snprintf(port, sizeof port, "%u", a->port);
        rc = getaddrinfo(a->host, port, &hints, &res);
        if (rc != 0 || res == NULL) {
            snprintf(err, err_cap, "cannot resolve %s: %s", a->host, gai_strerror(rc));
            return TL_E_IO;
        }
        /* tofu uses the first result (4.3) */
        memcpy(&run->addr, res->ai_addr, res->ai_addrlen);
        run->addr_len = res->ai_addrlen;
        freeaddrinfo(res);
        return TL_OK;
    }
    snprintf(err, err_cap, "bad address kind");
    return TL_E_INVAL;
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
    rc = resolve(&run, err, err_cap);
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
        if (run.peer_dead) {
            tlc_sb d = {0};

            r->verdict = TL_VERDICT_NOT_RUN;
            tlc_sb_printf(&d, "not run: the peer stopped answering after %s\n", rep->died_after);
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
