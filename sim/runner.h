/*
 * A parsed scenario on the simulator (runner.c): the network built for one
 * seed, run for the scenario's duration, judged by verdict.c.
 */
#ifndef TOFULAB_SIM_RUNNER_H
#define TOFULAB_SIM_RUNNER_H

#include "scenario.h"

/* tl_scn_run, and expect_failed[i] (if not NULL, nexpects bytes) = 1 when
 * expectation i did not hold. */
int scn_run(const tl_scenario *scn, uint64_t seed, const tl_scn_run_options *opt, tl_scn_result *res,
            unsigned char *expect_failed);

#endif /* TOFULAB_SIM_RUNNER_H */
