/*
 * Conformance suite: what a case records. Findings raise the case's verdict
 * and add a line to its detail; events (connections, writes, frames, notes)
 * are kept for the reports, within a per-case cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "case.h"
#include "util.h"

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

uint64_t tlc_deadline(const tlc_case *c) { return tlc_now_us() + (uint64_t)c->run->timeout_ms * 1000u; }

uint64_t tlc_quiet_deadline(const tlc_case *c) { return tlc_now_us() + (uint64_t)c->run->quiet_ms * 1000u; }

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
