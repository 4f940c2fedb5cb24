/*
 * Seed sweeps (`tofulab sim sweep`): many (scenario, seed) runs spread over
 * worker processes. Each worker (fork) runs its share of the list with
 * tl_scn_run and sends one fixed-size record per run back through a pipe;
 * the parent hands the results to the caller in list order. Results do not
 * depend on the number of workers: a run is a pure function of (scenario,
 * seed, swarm).
 *
 * The list is never materialised: a tl_sweep_list names the k-th pair of a
 * shard in O(log files), and tl_sweep_stream delivers each result through a
 * callback, so a sweep of a billion runs uses the memory of a sweep of ten.
 *
 * Nothing here reads a clock (ARCHITECTURE.md 4): the caller may pass one
 * (clock_ns) to time each run for its report.
 */
#ifndef TOFULAB_SIM_SWEEP_H
#define TOFULAB_SIM_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"

/* The seeds a user may ask for: 1..2^63 (the scenario language's range). */
#define TL_SWEEP_SEED_MAX (UINT64_C(1) << 63)
/* The most runs one sweep (one shard) takes on: 2^32, some weeks of one core
 * at today's rates. A larger list is split with shards. */
#define TL_SWEEP_RUNS_MAX (UINT64_C(1) << 32)

typedef struct {
    uint32_t file; /* index into the caller's scenario list */
    uint64_t seed;
} tl_sweep_item;

/* The (file, seed) pairs, file by file, seeds in increasing order: file i
 * contributes first[i]..last[i]. With shard_n > 1 only the pairs at
 * positions g with g % shard_n == shard_i - 1 belong to the shard (shard_i
 * is 1-based): the N shards partition the list exactly, differ in size by
 * at most one, and are the same on every machine. */
typedef struct {
    const uint64_t *first, *last; /* borrowed: keep them alive */
    uint64_t *start;              /* start[i]: position of file i's first pair */
    size_t nfiles;
    uint64_t shard_i, shard_n;
    uint64_t total; /* pairs in the whole list */
    uint64_t count; /* pairs in this shard */
} tl_sweep_list;

/* TL_OK; TL_E_INVAL (shard_i not in 1..shard_n, a range with first > last,
 * more than 2^32 files); TL_E_LIMIT (the whole list has more than
 * UINT64_MAX pairs); TL_E_NOMEM. Free with tl_sweep_list_free. */
int tl_sweep_list_init(tl_sweep_list *l, const uint64_t *first, const uint64_t *last, size_t nfiles,
                       uint64_t shard_i, uint64_t shard_n);
void tl_sweep_list_free(tl_sweep_list *l);
/* The k-th pair of the shard, 0 <= k < l->count. */
void tl_sweep_list_at(const tl_sweep_list *l, uint64_t k, tl_sweep_item *out);

/* The shard's pairs as an array (tl_sweep_list materialised; for small
 * lists and tests). *items is malloc'd (free it); TL_OK, TL_E_INVAL (as
 * tl_sweep_list_init), TL_E_LIMIT (more pairs than an array can hold),
 * TL_E_NOMEM. */
int tl_sweep_plan(const uint64_t *first, const uint64_t *last, size_t nfiles, unsigned shard_i,
                  unsigned shard_n, tl_sweep_item **items, size_t *n);

typedef struct {
    int rc; /* tl_scn_run's result; TL_E_IO: the run killed its worker process */
    int passed;
    unsigned failed; /* expectations that did not hold */
    uint64_t trace_hash;
    uint64_t events;  /* events the run processed */
    uint64_t wall_ns; /* by the caller's clock_ns, 0 without one */
    char first_failure[256];
} tl_sweep_result;

typedef struct {
    unsigned jobs;              /* worker processes; 0 or 1: run here, in order */
    int swarm;                  /* tl_scn_run_options.swarm */
    uint64_t (*clock_ns)(void); /* optional: a monotonic clock, to fill wall_ns */
    /* optional: called in the parent for each result, in index order */
    void (*on_result)(void *ctx, size_t index, const tl_sweep_result *r);
    void *ctx;
} tl_sweep_options;

/* Run items[0..n) on scns[items[k].file]; results[k] receives item k's
 * result. TL_OK (every item has a result; see rc and passed), TL_E_NOMEM,
 * TL_E_IO (no pipe or process could be made: nothing ran). */
int tl_sweep_run(tl_scenario *const *scns, const tl_sweep_item *items, size_t n, const tl_sweep_options *opt,
                 tl_sweep_result *results);

/* Run every pair of the list's shard on scns[item.file] and call each(ctx,
 * k, item, result) in the parent for k = 0, 1, ... in order (opt->on_result
 * is not used). Memory does not grow with the list: a worker that runs
 * ahead of the order waits on its full pipe. TL_OK (each pair got its
 * call; a run that kills its worker process gets rc TL_E_IO and a
 * first_failure saying how, and a new worker runs the rest of that share),
 * TL_E_NOMEM, TL_E_IO (no pipe or process could be made: nothing ran). */
int tl_sweep_stream(tl_scenario *const *scns, const tl_sweep_list *list, const tl_sweep_options *opt,
                    void (*each)(void *ctx, uint64_t k, const tl_sweep_item *it, const tl_sweep_result *r),
                    void *ctx);

#endif /* TOFULAB_SIM_SWEEP_H */
