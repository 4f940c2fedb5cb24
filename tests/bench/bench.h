/*
 * tofulab-bench (`make bench`): a table of registered benchmarks.
 *
 * To add one: write tests/bench/bench_<name>.c with
 * `int bench_<name>_run(const bench_options *)`, declare it here and add one
 * row to the table in bench_main.c. A benchmark measures one or more cases,
 * skips the cases bench_selected() refuses, and reports each measured case
 * with bench_print_row().
 */
#ifndef TOFULAB_BENCH_H
#define TOFULAB_BENCH_H

#include <stddef.h>

typedef struct {
    int quick;          /* --quick: fewer and shorter runs */
    const char *filter; /* --filter NAME: only cases whose name contains NAME */
    int runs;           /* runs per case; the median is reported (5, quick 3) */
    double min_seconds; /* each run repeats its work for at least this long (0.5, quick 0.1) */
} bench_options;

typedef struct {
    const char *name;
    int (*run)(const bench_options *opt); /* 0 on success */
    const char *help;                     /* one line */
} bench_entry;

/* ---- registered benchmarks ---- */

/* Streaming frame reader throughput against memcpy (bench_reader.c). */
int bench_reader_run(const bench_options *opt);

/* Engine over real sockets vs raw-socket baselines; serve memory (bench_engine.c). */
int bench_engine_run(const bench_options *opt);

/* The virtual network: rr messages/s, rr-loss seeds/s, 100-peer heartbeat wall time (bench_sim.c). */
int bench_sim_run(const bench_options *opt);

/* Seed sweeps: rr-loss seeds/s in one process and with --jobs 2 (bench_sweep.c). */
int bench_sweep_run(const bench_options *opt);

/* The fault proxy without faults vs a direct connection: added round-trip
 * latency, GB/s of 64 KiB frames (bench_proxy.c). */
int bench_proxy_run(const bench_options *opt);
/* The network fuzzer: cases/s against serve over UDS (bench_fuzzpeer.c). */
int bench_fuzzpeer_run(const bench_options *opt);
/* tofulab serve under attack: p99 of a new client, RSS (bench_serve.c). */
int bench_serve_run(const bench_options *opt);

/* ---- shared helpers (bench_main.c) ---- */

/* CLOCK_MONOTONIC in seconds. */
double bench_now(void);

/* Whether the case named name ("reader/1k-body") passes --filter. */
int bench_selected(const bench_options *opt, const char *name);

/* build/tofulab beside build/bench/tofulab-bench (from /proc/self/exe); NULL if unknown. */
const char *bench_tofulab_bin(void);

/* Median of n values (sorts v in place). */
double bench_median(double *v, int n);

/* One row of the result table: items per second, GB/s (1e9 bytes) of the
 * measured work, GB/s of its baseline (0 if none) and their ratio. */
void bench_print_row(const char *name, double items_per_s, double gb_per_s, double baseline_gb_per_s);

#endif /* TOFULAB_BENCH_H */
