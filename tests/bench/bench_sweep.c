/*
 * Seed sweeps (sim/sweep.h), two cases over scenarios/bench/rr-loss.scn:
 *
 *   sweep/rr-loss-jobs1   seeds per second, every run in this process
 *   sweep/rr-loss-jobs2   seeds per second with --jobs 2 (two worker
 *                         processes, results back through pipes); on two
 *                         free cores it should approach twice jobs1
 *
 * Each measurement sweeps a batch of seeds (400, quick 100) from start to
 * end, fork and collection included. GB/s columns are not meaningful (0).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sim/sim.h"
#include "../../sim/sweep.h"
#include "bench.h"

#define MAX_RUNS 16

static int sweep_rate(const bench_options *opt, tl_scenario *scn, unsigned jobs, double *rate)
{
    uint64_t first = 1, last = opt->quick ? 100 : 400;
    double rates[MAX_RUNS];
    tl_sweep_item *items;
    size_t n;
    if (tl_sweep_plan(&first, &last, 1, 1, 1, &items, &n) != TL_OK) {
        return -1;
    }
    tl_sweep_result *res = calloc(n, sizeof *res);
    if (res == NULL) {
        free(items);
        return -1;
    }
    tl_sweep_options so;
    memset(&so, 0, sizeof so);
    so.jobs = jobs;
    int runs = opt->runs < MAX_RUNS ? opt->runs : MAX_RUNS;
    for (int r = 0; r < runs; r++) {
        double t0 = bench_now();
        if (tl_sweep_run(&scn, items, n, &so, res) != TL_OK) {
            free(res);
            free(items);
            return -1;
        }
        rates[r] = (double)n / (bench_now() - t0);
        for (size_t k = 0; k < n; k++) {
            if (res[k].rc != TL_OK || !res[k].passed) {
                fprintf(stderr, "bench_sweep: seed %llu failed: %s\n", (unsigned long long)items[k].seed,
                        res[k].first_failure);
                free(res);
                free(items);
                return -1;
            }
        }
    }
    *rate = bench_median(rates, runs);
    free(res);
    free(items);
    return 0;
}

int bench_sweep_run(const bench_options *opt)
{
    const char *path = "scenarios/bench/rr-loss.scn";
    tl_scenario *scn;
    tl_scn_error err;
    double r1 = 0, r2 = 0;
    int want1 = bench_selected(opt, "sweep/rr-loss-jobs1");
    int want2 = bench_selected(opt, "sweep/rr-loss-jobs2");
    if (!want1 && !want2) {
        return 0;
    }
    if (tl_scn_load(path, &scn, &err) != TL_OK) {
        fprintf(stderr, "bench_sweep: %s:%u:%u: %s (run from the repository root)\n", err.file, err.line,
                err.column, err.message);
        return -1;
    }
    if (want1) {
        if (sweep_rate(opt, scn, 1, &r1) != 0) {
            tl_scn_free(scn);
            return -1;
        }
        bench_print_row("sweep/rr-loss-jobs1", r1, 0.0, 0.0);
    }
    if (want2) {
        if (sweep_rate(opt, scn, 2, &r2) != 0) {
            tl_scn_free(scn);
            return -1;
        }
        bench_print_row("sweep/rr-loss-jobs2", r2, 0.0, 0.0);
    }
    if (want1 && want2 && r1 > 0) {
        printf("  sweep: items = seeds of %s; --jobs 2 runs %.2fx the seeds/s of one process\n", path,
               r2 / r1);
    }
    tl_scn_free(scn);
    return 0;
}
