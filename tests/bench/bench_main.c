/*
 * tofulab-bench: runs the registered benchmarks and prints one table.
 *
 *   tofulab-bench [--quick] [--filter NAME] [--list]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static const bench_entry benches[] = {
    {"reader", bench_reader_run, "streaming frame reader vs memcpy, 64 KiB chunks over ~64 MiB"},
    {"engine", bench_engine_run,
     "engine over loopback TCP/UDS vs raw sockets; serve memory with 100 clients"},
    {"sim", bench_sim_run, "virtual network: rr messages/s, rr-loss seeds/s, 100-peer 24 h heartbeat"},
    {"sweep", bench_sweep_run, "seed sweep of rr-loss: seeds/s in one process and with --jobs 2"},
    {"proxy", bench_proxy_run,
     "fault proxy without faults vs direct: added round-trip us, GB/s of 64 KiB frames"},
    {"fuzzpeer", bench_fuzzpeer_run,
     "tofulab fuzz-peer: cases/s against serve over UDS vs bare connect-Hello-echo cycles"},
    {"serve", bench_serve_run,
     "tofulab serve under attack: p99 of a new client, RSS with 1,000 idle and 1,000 hostile connections"},
};

#define BENCH_COUNT (sizeof benches / sizeof benches[0])

static int selected_cases;

double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *bench_tofulab_bin(void)
{
    static char bin[4096];
    ssize_t n = readlink("/proc/self/exe", bin, sizeof bin - 32);
    if (n <= 0) {
        return NULL;
    }
    bin[n] = '\0';
    /* build/bench/tofulab-bench -> build/tofulab */
    char *slash = strrchr(bin, '/');
    if (slash == NULL) {
        return NULL;
    }
    *slash = '\0';
    slash = strrchr(bin, '/');
    if (slash == NULL) {
        return NULL;
    }
    strcpy(slash + 1, "tofulab");
    return access(bin, X_OK) == 0 ? bin : NULL;
}

int bench_selected(const bench_options *opt, const char *name)
{
    if (opt->filter != NULL && strstr(name, opt->filter) == NULL) {
        return 0;
    }
    selected_cases++;
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    if (n <= 0) {
        return 0.0;
    }
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return (n % 2) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

void bench_print_row(const char *name, double items_per_s, double gb_per_s, double baseline_gb_per_s)
{
    if (baseline_gb_per_s > 0.0) {
        printf("%-22s %14.0f %9.2f %12.2f %8.2fx\n", name, items_per_s, gb_per_s, baseline_gb_per_s,
               gb_per_s / baseline_gb_per_s);
    } else {
        printf("%-22s %14.0f %9.2f %12s %9s\n", name, items_per_s, gb_per_s, "-", "-");
    }
    fflush(stdout);
}

static void usage(FILE *out)
{
    size_t i;

    fprintf(out, "usage: tofulab-bench [--quick] [--filter NAME] [--list]\n"
                 "  --quick        3 runs of >= 0.1 s per case instead of 5 runs of >= 0.5 s\n"
                 "  --filter NAME  only cases whose name contains NAME (e.g. reader/1k)\n"
                 "  --list         list the benchmarks\n"
                 "benchmarks:\n");
    for (i = 0; i < BENCH_COUNT; i++) {
        fprintf(out, "  %-10s %s\n", benches[i].name, benches[i].help);
    }
}

int main(int argc, char **argv)
{
    bench_options opt;
    size_t i;
    int a;
    int failed = 0;

    memset(&opt, 0, sizeof opt);
    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--quick") == 0) {
            opt.quick = 1;
        } else if (strcmp(argv[a], "--filter") == 0 && a + 1 < argc) {
            opt.filter = argv[++a];
        } else if (strncmp(argv[a], "--filter=", 9) == 0) {
            opt.filter = argv[a] + 9;
        } else if (strcmp(argv[a], "--list") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "tofulab-bench: unknown or incomplete argument '%s'; see --help\n", argv[a]);
            return 2;
        }
    }
    opt.runs = opt.quick ? 3 : 5;
    opt.min_seconds = opt.quick ? 0.1 : 0.5;

    printf("tofulab-bench: median of %d runs, each repeated for >= %.1f s%s\n\n", opt.runs, opt.min_seconds,
           opt.quick ? " (quick)" : "");
    printf("%-22s %14s %9s %12s %9s\n", "case", "items/s", "GB/s", "base GB/s", "ratio");
    for (i = 0; i < BENCH_COUNT; i++) {
        if (benches[i].run(&opt) != 0) {
            fprintf(stderr, "tofulab-bench: %s failed\n", benches[i].name);
            failed = 1;
        }
    }
    if (selected_cases == 0) {
        fprintf(stderr, "tofulab-bench: no case matches --filter '%s'\n", opt.filter ? opt.filter : "");
        return 2;
    }
    return failed;
}
