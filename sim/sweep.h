/*
 * Seed sweeps (`tofulab sim sweep`): many (scenario, seed) runs spread over
 * worker processes. Each worker (fork) runs its share of the list with
 * tl_scn_run and sends one fixed-size record per run back through a pipe;
 * the parent collects them. Results do not depend on the number of workers:
 * a run is a pure function of (scenario, seed, swarm).
 *
 * Nothing here reads a clock (ARCHITECTURE.md 4): the caller may pass one
 * (clock_ns) to time each run for its report.
 */
#ifndef TOFULAB_SIM_SWEEP_H
#define TOFULAB_SIM_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"

typedef struct {
    uint32_t file; /* index into the caller's scenario list */
    uint64_t seed;
} tl_sweep_item;

/* The list of (file, seed) pairs, file by file, seeds in increasing order:
 * file i contributes first[i]..last[i]. With shard_n > 1 only the pairs at
 * positions k with k % shard_n == shard_i - 1 are kept (shard_i is 1-based):
 * the N shards partition the list exactly, and each is the same on every
 * machine. *items is malloc'd (free it); TL_OK, TL_E_INVAL (shard_i not in
 * 1..shard_n, or a range with first > last), TL_E_NOMEM. */
int tl_sweep_plan(const uint64_t *first, const uint64_t *last, size_t nfiles, unsigned shard_i,
                  unsigned shard_n, tl_sweep_item **items, size_t *n);

typedef struct {
    int rc; /* tl_scn_run's result; TL_E_IO: the worker died before reporting */
    int passed;
    unsigned failed; /* expectations that did not hold */
    uint64_t trace_hash;
    uint64_t wall_ns; /* by the caller's clock_ns, 0 without one */
    char first_failure[256];
} tl_sweep_result;

typedef struct {
    unsigned jobs;              /* worker processes; 0 or 1: run here, in order */
    int swarm;                  /* tl_scn_run_options.swarm */
    uint64_t (*clock_ns)(void); /* optional: a monotonic clock, to fill wall_ns */
    /* optional: called in the parent as each result arrives (any order) */
    void (*on_result)(void *ctx, size_t index, const tl_sweep_result *r);
    void *ctx;
} tl_sweep_options;

/* Run items[0..n) on scns[items[k].file]; results[k] receives item k's
 * result. TL_OK (every item has a result; see rc and passed), TL_E_NOMEM,
 * TL_E_IO (no pipe or process could be made: nothing ran). */
int tl_sweep_run(tl_scenario *const *scns, const tl_sweep_item *items, size_t n, const tl_sweep_options *opt,
                 tl_sweep_result *results);

#endif /* TOFULAB_SIM_SWEEP_H */
