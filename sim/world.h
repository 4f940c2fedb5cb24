/*
 * What every layer of the simulator's core shares (ARCHITECTURE.md 7): the
 * options of the run, the virtual clock, the event heap, the statistics,
 * the failure flag, and the trace line being built with the running hash
 * (trace.c writes them). The layers above embed it: net.c's sim_net holds
 * it first, node.c's tl_sim holds the sim_net.
 */
#ifndef TOFULAB_SIM_WORLD_H
#define TOFULAB_SIM_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "sched.h"
#include "sim.h"

typedef struct {
    tl_sim_options opt;
    uint64_t now;
    sim_heap heap;
    tl_sim_stats stats;
    int failed; /* out of memory: the run is broken (tl_sim_run returns TL_E_NOMEM) */
    /* the trace (trace.c) */
    char line[1024];
    size_t line_len;
    uint64_t hash;
} sim_world;

static inline void sim_fail(sim_world *w) { w->failed = 1; }

#endif /* TOFULAB_SIM_WORLD_H */
