/*
 * The simulator's deterministic generators (prng.c): xoshiro256** streams
 * seeded through splitmix64, FNV-1a, and the jitter distributions of the
 * links. sim.h exports the same functions as tl_sim_prng_* for the tools
 * built on the simulator.
 */
#ifndef TOFULAB_SIM_PRNG_H
#define TOFULAB_SIM_PRNG_H

#include <stdint.h>

#include "sim.h"

typedef tl_sim_prng sim_prng;

uint64_t sim_splitmix64(uint64_t *state);
uint64_t sim_prng_next(sim_prng *p);
/* Uniform in [0, n); n > 0. */
uint64_t sim_prng_below(sim_prng *p, uint64_t n);
/* 1 with probability ppb / 10^9. */
int sim_prng_chance(sim_prng *p, uint32_t ppb);
/* Signed jitter offset in ns for a distribution and spread. */
int64_t sim_prng_jitter(sim_prng *p, tl_sim_dist dist, uint64_t jitter_ns);

#endif /* TOFULAB_SIM_PRNG_H */
