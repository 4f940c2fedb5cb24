/*
 * Shrinking a failing run (`tofulab sim shrink`): from a scenario and a
 * seed whose run fails an expectation, find a smaller scenario whose run
 * with the same seed still fails that same expectation (the same `expect`
 * line). Greedy, one reduction at a time, each kept only if the run still
 * fails that way: drop `at` actions, links, other services and the other
 * expectations; drop link words (loss, jitter, corruption...); halve times
 * (delays, action times, the duration), loss rates and workload numbers
 * (count=, concurrency=, size=...). Every candidate is scenario text, parsed
 * and run: the result is valid scenario syntax by construction.
 */
#ifndef TOFULAB_SIM_SHRINK_H
#define TOFULAB_SIM_SHRINK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim.h"

typedef struct {
    int swarm;         /* the failing run drew its swarm ranges (tl_scn_run_options.swarm) */
    unsigned max_runs; /* budget of candidate runs; 0 = 2000 */
    FILE *log;         /* optional: one line per reduction kept ("removed: ...", "reduced: ...") */
} tl_shrink_options;

typedef struct {
    char expectation[200]; /* the expectation that fails, as written after `expect` */
    unsigned runs;         /* candidate runs made */
    unsigned steps;        /* reductions kept */
    size_t original_bytes; /* the canonical text (tl_scn_write) before and after */
    size_t shrunk_bytes;
} tl_shrink_result;

/* *out (malloc'd, NUL-terminated) receives the minimal scenario: a comment
 * header naming file, seed and the failing expectation, then `seeds SEED`
 * and the directives. TL_OK; TL_E_INVAL: that seed passes (nothing to
 * shrink); TL_E_NOMEM; another error when the original run breaks. */
int tl_shrink(const tl_scenario *scn, const char *file, uint64_t seed, const tl_shrink_options *opt,
              char **out, tl_shrink_result *res);

#endif /* TOFULAB_SIM_SHRINK_H */
