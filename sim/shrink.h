/*
 * Shrinking a failing run (`tofulab sim shrink`): from a scenario and a
 * seed whose run fails a check, find a smaller scenario whose run with the
 * same seed still fails that check for the same cause.
 *
 * The check is the first expectation the run fails: its `expect` line, and
 * its signature (the first service error logged on its node, numbers
 * blurred, and the status of the first channel that closed there); or,
 * when every expectation holds, the first oracle failure (its text, numbers
 * and their units blurred; the expectations are then dropped). A reduction
 * is kept only if
 *
 *   (a) the reduced scenario, run with the seed, still fails that check with
 *       the same signature, within the event budget (the original failing
 *       run's event count: a reduction never makes a run more expensive), and
 *   (b) its fault-free control passes: the same text with every link's
 *       `loss`, `corrupt` and `duplicate` words removed, no `at` action and no
 *       `heal` line (tl_shrink_control), run with the seed, holds the check
 *       and every oracle, within the event budget of the original's control.
 *       A control that fails means the reduction, not a fault, now causes the
 *       failure.
 *
 * When the original's own control fails, the failure is not caused by the
 * faults: that is reported (tl_shrink_result.control_failure) and the shrink
 * keeps condition (a) only.
 *
 * Reductions remove work, never add it: shorten the duration; remove `at`
 * actions, `link` lines, `heal`, services, nodes (with every line naming
 * them), the other expectations and reports (in chunks when there are 16
 * or more); remove groups of link words; move `at` actions and `heal`
 * earlier and shorten partitions; halve workload keys (count=, concurrency=,
 * size=, frames=, budget=, stop=); lower loss, corrupt and duplicate rates.
 * Periods, intervals, timeouts, delays and TCP timers are never touched:
 * halving them multiplies the events per virtual second. Every candidate is
 * scenario text, parsed and run: the result is valid scenario syntax by
 * construction.
 */
#ifndef TOFULAB_SIM_SHRINK_H
#define TOFULAB_SIM_SHRINK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim.h"

typedef struct {
    int swarm;         /* the failing run drew its swarm ranges (tl_scn_run_options.swarm) */
    unsigned max_runs; /* budget of runs, controls included; 0 = 2000 */
    /* optional: one line per reduction kept, with the check that still fails
     * and the control's verdict, and the shrink's first and last lines */
    FILE *log;
} tl_shrink_options;

typedef struct {
    char expectation[256]; /* the failing expectation as written after `expect`, or the oracle's text */
    int oracle;    /* 1: the check is an oracle failure (the liveness oracle, ...), not an expectation */
    unsigned runs; /* runs made, controls included */
    unsigned control_runs;
    unsigned steps; /* reductions kept */
    /* candidates rejected: no longer failing the check the same way; failing
     * it, but so does their control (the cause changed); over the event
     * budget; not a valid scenario */
    unsigned rejected_passes, rejected_control, rejected_budget, rejected_invalid;
    size_t original_bytes; /* the canonical text (tl_scn_write) before and after */
    size_t shrunk_bytes;
    uint64_t original_events;        /* the failing run's events: every candidate's budget */
    uint64_t control_events;         /* the original's control's events: every control's budget */
    uint64_t shrunk_events;          /* the shrunk scenario's failing run */
    uint64_t max_run_events;         /* the most events a failing run made (<= original_events) */
    uint64_t max_control_run_events; /* the most events a control made (<= control_events) */
    uint64_t total_events;           /* summed over every run */
    /* 1: the original's fault-free control passed, so every kept step kept a
     * passing control (condition b); 0: it failed, control_failure says how */
    int control_checked;
    char control_failure[256];
    int control_passes; /* the written scenario's fault-free control passes, every expectation and oracle */
} tl_shrink_result;

/* *out (malloc'd, NUL-terminated) receives the minimal scenario: a comment
 * header naming file, seed, the failing check and the control's verdict,
 * then `seeds SEED` and the directives. TL_OK; TL_E_INVAL: that seed passes
 * (nothing to shrink); TL_E_NOMEM; another error when the original run
 * breaks. */
int tl_shrink(const tl_scenario *scn, const char *file, uint64_t seed, const tl_shrink_options *opt,
              char **out, tl_shrink_result *res);

/* The fault-free control of scenario text (one directive a line, as
 * tl_scn_write writes it): `at` and `heal` lines dropped, and on `link`
 * lines the `loss ...`, `corrupt P` and `duplicate P` words; delay, jitter,
 * distribution, rate and limit stay. *out is malloc'd. TL_OK or TL_E_NOMEM. */
int tl_shrink_control(const char *text, char **out);

#endif /* TOFULAB_SIM_SHRINK_H */
