/*
 * The verdict of a finished run (verdict.c), whichever host ran it: the
 * simulator (runner.c) or real processes on real sockets (hosts/realrun.c).
 * The host answers through a scn_host view; the verdict checks the
 * expectations, the request accounting, the liveness oracle and the
 * reports, and writes the summary and the JSON, the same way for both.
 */
#ifndef TOFULAB_SIM_VERDICT_H
#define TOFULAB_SIM_VERDICT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "scenario.h"

/* A finished run, as the expectations and the oracles read it. */
typedef struct scn_host scn_host;
struct scn_host {
    void *ctx;
    void (*service_report)(void *ctx, size_t svc, tl_svc_report *out); /* summed over incarnations */
    int (*service_done)(void *ctx, size_t svc);
    void (*node_stats)(void *ctx, size_t node, tl_sim_node_stats *out);
    void (*net_stats)(void *ctx, tl_sim_stats *out);
    /* the host's own oracles, checked after the expectations (NULL: none) */
    void (*checks)(const scn_host *h, const tl_scenario *scn, tl_scn_result *res);
    /* the summary's first line, and the members of the JSON's "stats" object */
    void (*summary_head)(void *ctx, FILE *f, uint64_t seed, const tl_scn_result *res);
    void (*json_stats)(void *ctx, FILE *f, const tl_scn_result *res);
    FILE *failures; /* optional: a "  FAIL ..." line per failed check (the first is in res too) */
};

uint64_t scn_actual(const tl_scenario *scn, const scn_host *h, const scn_expect *e);
int scn_holds(scn_op op, uint64_t a, uint64_t v);
void scn_value_text(const scn_expect *e, uint64_t v, char *out, size_t cap);
/* Count a failed check; the first one's text goes to res->first_failure. */
void scn_fail(const scn_host *h, tl_scn_result *res, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* What the liveness phase measures from, taken when the faults end:
 * at_heal[nexpects + nservices] (the `since heal` values, then every
 * service's answered + failed). Returns at_heal. */
uint64_t *scn_at_heal(const tl_scenario *scn, const scn_host *h, uint64_t *at_heal);
/* After the run (res->trace_hash, end_ns and stats filled): expectations,
 * h->checks, request accounting, reports, the liveness oracle (when live:
 * the faults ended before the end, at_heal taken then), then the summary
 * and the JSON of opt. TL_OK or TL_E_NOMEM. */
int scn_verdict(const tl_scenario *scn, uint64_t seed, const scn_host *h, const uint64_t *at_heal, int live,
                const tl_scn_run_options *opt, tl_scn_result *res, unsigned char *expect_failed);

#endif /* TOFULAB_SIM_VERDICT_H */
