/*
 * `tofulab sim run FILE.scn`: run a scenario on the deterministic virtual
 * network (sim/sim.h, docs/scenarios.md) and report.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../sim/html.h"
#include "../sim/shrink.h"
#include "../sim/sim.h"
#include "../sim/sweep.h"
#include "cli.h"

static int refuse_real(const char *file, tl_scenario *scn);

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tofulab sim run FILE.scn [--seed N] [--trace FILE] [--pcap FILE] [--json FILE] [--html "
            "FILE]\n"
            "                                 [--swarm] [--verbose]\n"
            "       tofulab sim sweep FILE.scn... [--seeds A..B] [--jobs N] [--shard I/N] [--swarm]\n"
            "                                 [--failures DIR [--shrink-time S]] [--junit FILE]\n"
            "                                 [--json FILE] [--quiet]\n"
            "       tofulab sim sweep --plan PLAN [the same options, no --seeds]\n"
            "       tofulab sim shrink FILE.scn --seed N [-o OUT.scn] [--swarm] [--max-runs N]\n"
            "\n"
            "Runs a scenario on the deterministic virtual network: the reference engine on virtual\n"
            "sockets, with the links, faults and services the file describes (docs/scenarios.md).\n"
            "Prints a summary ending with `trace-hash: <16 hex digits>` and `result: PASS` or\n"
            "`result: FAIL`. The same file and seed give the same trace hash, byte for byte.\n"
            "Every run is also checked by oracles, whatever the file expects: each request ends in one\n"
            "answer or one explicit failure, application messages arrive in the order posted and once,\n"
            "channel_closed comes once, last and never goes missing, engine invariants hold, finished\n"
            "services leak no message (a violation fails the run and names node and channel).\n"
            "\n"
            "  --seed N       run this seed only (default: every seed of the file's `seeds` line)\n"
            "  --trace FILE   write the canonical trace, one line per event (`-`: standard output)\n"
            "  --pcap FILE    write every TCP connection as IPv4 packets (Wireshark, tshark); one seed only\n"
            "  --json FILE    write the results as one JSON object (`-`: standard output)\n"
            "  --html FILE    write a sequence diagram of the run (self-contained HTML); one seed only\n"
            "  --swarm        draw the link ranges (`loss 1%%..10%%`) from the seed (default: lower bounds)\n"
            "  --verbose      print every seed's details, not only those that failed\n"
            "\n"
            "sweep runs many seeds of many files in parallel worker processes and prints a table\n"
            "(scenario, runs, passed, failed, first failing seed, wall time), each failing file's first\n"
            "failing seed with its check and its replay and shrink commands, the totals\n"
            "(`88 scenarios x 500 seeds = 44,000 runs: ...`), then `N passed, N failed`:\n"
            "  --seeds A..B   the seeds of every file, 1 <= A <= B <= 2^63 (default: each file's\n"
            "                 `seeds` line); one sweep runs at most 2^32 runs: split more with --shard\n"
            "  --plan PLAN    each file its own seeds: PLAN has one `FILE A..B` a line (`#` comments)\n"
            "  --jobs N       worker processes (default 2)\n"
            "  --shard I/N    run only the I-th of N slices of the (file, seed) list: the pairs at\n"
            "                 positions k with k mod N = I - 1; the slices partition the list on any\n"
            "                 machine, so N CI jobs (or batch tasks) each run `--shard $INDEX/N` and\n"
            "                 together run it all (docs/scenarios.md: GitHub Actions, GNU parallel,\n"
            "                 a Kubernetes Indexed Job)\n"
            "  --failures DIR for each failing (file, seed), DIR/<file>/seed-N.txt with the check that\n"
            "                 failed and the replay and shrink commands, DIR/failures.txt listing them,\n"
            "                 and the first failing seed of each failed check shrunk into seed-N.min.scn\n"
            "  --shrink-time S  seconds each of those shrinks may take (default 60; 0: no shrinking)\n"
            "  --junit FILE   a JUnit XML report (one testcase per run); --json FILE: one JSON object\n"
            "  --quiet        no table: only the failures and the totals\n"
            "A file with real processes (`tofulab run`'s, scenarios-real/) among several FILEs is\n"
            "skipped, with a line on stderr naming it, so `scenarios/*/*.scn` sweeps the simulator's.\n"
            "\n"
            "shrink reduces a failing run to a smaller scenario that fails the same check with the same\n"
            "seed, for the same cause. The check is the first expectation that fails, else the first\n"
            "oracle. A step is kept only if (a) the run still fails that check with the same signature\n"
            "(first error, first channel close) within the original run's event count, and (b) its\n"
            "fault-free control passes: the same file without `at` actions, `heal`, or link loss,\n"
            "corrupt and duplicate words. If the original's own control fails, shrink says the failure\n"
            "is not caused by the faults and keeps (a) only. Steps remove work (duration, actions, links,\n"
            "services, nodes, expectations, link words, counts, sizes); intervals, timeouts and delays\n"
            "are never shortened. Each kept step, and why, goes to stderr.\n"
            "  --seed N        the failing seed (required)\n"
            "  -o, --output OUT  write the smaller scenario to OUT (default: standard output); its header\n"
            "                  names the failing check and whether its fault-free control passes\n"
            "  --max-runs N    stop after N runs, controls included (default 2000, at most 1000000)\n"
            "  --swarm         the seed failed with --swarm: the values it drew are written into OUT\n"
            "shrink exits 0 when it wrote the scenario, 1 when the seed passes (nothing to shrink) or\n"
            "a run breaks, 2 on usage or a bad file.\n"
            "\n"
            "examples:\n"
            "  tofulab sim run scenarios/bench/rr-loss.scn --seed 7\n"
            "  tofulab sim run scenarios/request-response/crash.scn --seed 1 --trace - | less\n"
            "  tofulab sim run scenarios/request-response/basic.scn --seed 1 --pcap rr.pcap && tshark -r "
            "rr.pcap\n"
            "  tofulab sim run scenarios/request-response/crash.scn --seed 1 --html crash.html\n"
            "  tofulab sim sweep scenarios/*/*.scn --seeds 1..1000 --jobs 4 --junit sweep.xml\n"
            "  tofulab sim sweep scenarios/*/*.scn --seeds 1..12000 --shard 3/16 --failures failed/\n"
            "  tofulab sim shrink failing.scn --seed 7 -o minimal.scn\n"
            "\n"
            "exit status: 0 every expectation held, 1 one failed (or the run broke), 2 bad scenario file\n"
            "or usage (one line: file:line:column: what was expected).\n");
}

typedef struct {
    uint64_t hash;
    tl_html *html;
} combined;

static void on_line(void *ctx, const char *line, size_t len)
{
    combined *c = ctx;
    c->hash = tl_sim_fnv1a(c->hash, line, len);
    c->hash = tl_sim_fnv1a(c->hash, "\n", 1);
    if (c->html) {
        tl_html_on_trace(c->html, line, len);
    }
}

static FILE *open_out(const char *path, const char *mode, const char *what)
{
    if (strcmp(path, "-") == 0) {
        return stdout;
    }
    FILE *f = fopen(path, mode);
    if (f == NULL) {
        char q[300];
        cli_error("cannot open %s file %s: %s", what, cli_quote(path, strlen(path), q, sizeof q),
                  strerror(errno));
    }
    return f;
}

static void close_out(FILE *f)
{
    if (f != NULL && f != stdout) {
        fclose(f);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void print_value(uint64_t v, int is_time)
{
    if (!is_time) {
        printf("%llu", (unsigned long long)v);
    } else if (v % TL_SIM_NS_PER_MS == 0) {
        printf("%llums", (unsigned long long)(v / TL_SIM_NS_PER_MS));
    } else {
        printf("%lluns", (unsigned long long)v);
    }
}

/* A `report` line's value over several seeds: min, median, max (a study's
 * measured figure, never asserted). values: runs rows of nrep. */
static void print_report_spread(const tl_scenario *scn, const uint64_t *values, size_t nrep, uint64_t runs)
{
    if (runs < 2 || values == NULL) {
        return;
    }
    uint64_t *col = malloc(runs * sizeof *col);
    if (col == NULL) {
        return;
    }
    for (size_t k = 0; k < nrep; k++) {
        int is_time = 0;
        const char *text = tl_scn_report_text(scn, k, &is_time);
        for (uint64_t r = 0; r < runs; r++) {
            col[r] = values[r * nrep + k];
        }
        qsort(col, runs, sizeof *col, cmp_u64);
        printf("report %s over %llu seeds: min ", text, (unsigned long long)runs);
        print_value(col[0], is_time);
        printf(", median ");
        print_value(col[runs / 2], is_time);
        printf(", max ");
        print_value(col[runs - 1], is_time);
        printf("\n");
    }
    free(col);
}

static int sim_run(int argc, char **argv)
{
    const char *file = NULL, *trace_path = NULL, *pcap_path = NULL, *json_path = NULL, *html_path = NULL;
    uint64_t seed = 0;
    int have_seed = 0, verbose = 0, swarm = 0;
    char q[300];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "--seed") == 0 || strcmp(a, "--trace") == 0 || strcmp(a, "--pcap") == 0 ||
            strcmp(a, "--json") == 0 || strcmp(a, "--html") == 0) {
            if (i + 1 >= argc) {
                cli_error("sim run: %s needs a value; run 'tofulab sim --help'", a);
                return CLI_EXIT_USAGE;
            }
            if (strcmp(a, "--seed") == 0) {
                if (cli_parse_u64(argv[i + 1], UINT64_MAX, &seed) != 0) {
                    cli_error("sim run: --seed expects a whole number, got '%s'",
                              cli_quote(argv[i + 1], strlen(argv[i + 1]), q, sizeof q));
                    return CLI_EXIT_USAGE;
                }
                have_seed = 1;
                i++;
                continue;
            }
            dst = strcmp(a, "--trace") == 0  ? &trace_path
                  : strcmp(a, "--pcap") == 0 ? &pcap_path
                  : strcmp(a, "--html") == 0 ? &html_path
                                             : &json_path;
            *dst = argv[++i];
        } else if (strcmp(a, "--swarm") == 0) {
            swarm = 1;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            verbose = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (a[0] == '-' && a[1] != '\0') {
            cli_error("sim run: unknown option '%s'; run 'tofulab sim --help'",
                      cli_quote(a, strlen(a), q, sizeof q));
            return CLI_EXIT_USAGE;
        } else if (file == NULL) {
            file = a;
        } else {
            cli_error("sim run: one scenario file only, got also '%s'", cli_quote(a, strlen(a), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
    }
    if (file == NULL) {
        cli_error("sim run: missing scenario file; run 'tofulab sim --help'");
        return CLI_EXIT_USAGE;
    }
    if (html_path != NULL && strcmp(html_path, "-") == 0) {
        cli_error("sim run: --html needs a file name (the summary uses standard output)");
        return CLI_EXIT_USAGE;
    }
    if (pcap_path != NULL && strcmp(pcap_path, "-") == 0) {
        cli_error("sim run: --pcap needs a file name (binary output)");
        return CLI_EXIT_USAGE;
    }

    tl_scenario *scn = NULL;
    tl_scn_error err;
    int rc = tl_scn_load(file, &scn, &err);
    if (rc != TL_OK) {
        if (err.line > 0) {
            cli_error("%s:%u:%u: %s", err.file, err.line, err.column, err.message);
        } else if (err.message[0]) {
            cli_error("%s: %s", err.file, err.message);
        } else {
            cli_error("%s: %s", file, tl_strerror(rc));
        }
        return CLI_EXIT_USAGE;
    }
    if (refuse_real(file, scn) != 0) {
        tl_scn_free(scn);
        return CLI_EXIT_USAGE;
    }
    uint64_t first, last;
    tl_scn_seeds(scn, &first, &last);
    if (have_seed) {
        first = last = seed;
    }
    if (pcap_path != NULL && first != last) {
        cli_error("sim run: --pcap needs a single seed (the file runs seeds %llu..%llu; add --seed N)",
                  (unsigned long long)first, (unsigned long long)last);
        tl_scn_free(scn);
        return CLI_EXIT_USAGE;
    }
    if (html_path != NULL && first != last) {
        cli_error("sim run: --html needs a single seed (the file runs seeds %llu..%llu; add --seed N)",
                  (unsigned long long)first, (unsigned long long)last);
        tl_scn_free(scn);
        return CLI_EXIT_USAGE;
    }
    FILE *trace = NULL, *pcap = NULL, *json = NULL, *html = NULL;
    if ((trace_path && (trace = open_out(trace_path, "w", "trace")) == NULL) ||
        (pcap_path && (pcap = open_out(pcap_path, "wb", "pcap")) == NULL) ||
        (json_path && (json = open_out(json_path, "w", "json")) == NULL) ||
        (html_path && (html = open_out(html_path, "w", "html")) == NULL)) {
        close_out(trace);
        close_out(pcap);
        close_out(json);
        tl_scn_free(scn);
        return CLI_EXIT_USAGE;
    }

    combined comb = {TL_SIM_FNV_OFFSET, NULL};
    if (html) {
        const char *names[256];
        size_t nn = tl_scn_node_count(scn);
        const char **np = nn <= 256 ? names : malloc(nn * sizeof *np);
        for (size_t i = 0; np && i < nn; i++) {
            np[i] = tl_scn_node_name(scn, i);
        }
        if (np == NULL || tl_html_new(np, nn, 0, &comb.html) != TL_OK) {
            cli_error("sim run: out of memory for --html");
            if (np != names) {
                free((void *)np);
            }
            close_out(trace);
            close_out(pcap);
            close_out(json);
            close_out(html);
            tl_scn_free(scn);
            return CLI_EXIT_FAIL;
        }
        if (np != names) {
            free((void *)np);
        }
    }
    tl_scn_run_options ro;
    memset(&ro, 0, sizeof ro);
    ro.trace = trace;
    ro.pcap = pcap;
    ro.json = json;
    ro.on_trace = on_line;
    ro.trace_ctx = &comb;
    ro.swarm = swarm;
    uint64_t runs = 0, passed = 0;
    int broken = 0;
    /* the `report` lines' values over the seeds, for their distribution */
    size_t nrep = 0;
    while (nrep < TL_SCN_REPORTS_MAX && tl_scn_report_text(scn, nrep, NULL) != NULL) {
        nrep++;
    }
    uint64_t *repv = NULL;
    size_t repcap = 0;
    char first_failure[320] = "";
    char dur[32];
    uint64_t d = tl_scn_duration(scn);
    if (d % TL_SIM_NS_PER_S == 0) {
        snprintf(dur, sizeof dur, "%llus", (unsigned long long)(d / TL_SIM_NS_PER_S));
    } else {
        snprintf(dur, sizeof dur, "%lluns", (unsigned long long)d);
    }
    printf("scenario: %s (seeds %llu..%llu, duration %s)\n", file, (unsigned long long)first,
           (unsigned long long)last, dur);
    if (json) {
        fputs("{\"scenario\":\"", json);
        for (const char *p = file; *p; p++) {
            if (*p == '"' || *p == '\\') {
                fputc('\\', json);
            }
            fputc((unsigned char)*p < 0x20 ? '?' : *p, json);
        }
        fputs("\",\"runs\":[", json);
    }
    for (uint64_t s = first;; s++) {
        tl_scn_result res;
        char *details = NULL;
        size_t details_len = 0;
        FILE *mem = (verbose || first == last) ? stdout : open_memstream(&details, &details_len);
        if (json && runs > 0) {
            fputc(',', json);
        }
        if (first != last) {
            /* a separator line, part of the trace and of its hash */
            char sep[40];
            int n = snprintf(sep, sizeof sep, "# seed %llu", (unsigned long long)s);
            on_line(&comb, sep, (size_t)n);
            if (trace) {
                fprintf(trace, "%s\n", sep);
            }
        }
        ro.summary = mem;
        rc = tl_scn_run(scn, s, &ro, &res);
        runs++;
        if (mem != NULL && mem != stdout) {
            fclose(mem);
        }
        if (rc != TL_OK) {
            cli_error("sim run: seed %llu could not run: %s", (unsigned long long)s, tl_strerror(rc));
            broken = 1;
            free(details);
            if (json) {
                fprintf(json, "{\"seed\":%llu,\"result\":\"ERROR\"}", (unsigned long long)s);
            }
            break;
        }
        if (nrep > 0) {
            if (runs > repcap) {
                size_t cap = repcap ? repcap * 2 : 64;
                uint64_t *g = realloc(repv, cap * nrep * sizeof *g);
                if (g == NULL) {
                    cli_error("sim run: out of memory");
                    broken = 1;
                    free(details);
                    break;
                }
                repv = g;
                repcap = cap;
            }
            for (size_t k = 0; k < nrep; k++) {
                repv[(runs - 1) * nrep + k] = res.report_value[k];
            }
        }
        if (res.passed) {
            passed++;
            if (!(verbose || first == last)) {
                printf("seed %llu: PASS, trace %016llx\n", (unsigned long long)s,
                       (unsigned long long)res.trace_hash);
            }
        } else {
            if (details) {
                fwrite(details, 1, details_len, stdout);
            }
            if (first_failure[0] == '\0') {
                snprintf(first_failure, sizeof first_failure, "seed %llu: %s", (unsigned long long)s,
                         res.first_failure);
            }
        }
        free(details);
        if (s == last) {
            break;
        }
    }
    if (json) {
        fprintf(json, "],\"passed\":%llu,\"failed\":%llu,\"trace_hash\":\"%016llx\",\"result\":\"%s\"}\n",
                (unsigned long long)passed, (unsigned long long)(runs - passed),
                (unsigned long long)comb.hash, (!broken && passed == runs) ? "PASS" : "FAIL");
    }
    if (html && comb.html) {
        char title[400];
        size_t drawn, frames = tl_html_frames(comb.html, &drawn);
        snprintf(title, sizeof title, "%s, seed %llu%s", file, (unsigned long long)first,
                 swarm ? " (swarm)" : "");
        if (tl_html_write(comb.html, html, title) != TL_OK) {
            cli_error("sim run: cannot write the html file");
            broken = 1;
        } else if (drawn < frames) {
            cli_error("sim run: --html drew the first %zu of %zu frames", drawn, frames);
        }
    }
    tl_html_free(comb.html);
    close_out(trace);
    close_out(pcap);
    close_out(json);
    close_out(html);
    tl_scn_free(scn);
    print_report_spread(scn, repv, nrep, broken ? 0 : runs);
    free(repv);
    printf("runs: %llu, passed %llu, failed %llu\n", (unsigned long long)runs, (unsigned long long)passed,
           (unsigned long long)(runs - passed));
    if (first_failure[0]) {
        printf("first failure: %s\n", first_failure);
    }
    printf("trace-hash: %016llx\n", (unsigned long long)comb.hash);
    printf("result: %s\n", (!broken && passed == runs) ? "PASS" : "FAIL");
    fflush(stdout);
    return (!broken && passed == runs) ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* ------------------------------------------------------------ loading */

/* A file with real processes runs on real sockets, not here. */
static int refuse_real(const char *file, tl_scenario *scn)
{
    unsigned line = 0;
    const char *node = tl_scn_real_node(scn, &line);
    if (node == NULL) {
        return 0;
    }
    cli_error(
        "%s:%u: node %s is a real process (exec or external) and the simulator runs only tofulab's engine; "
        "run this file on real sockets with `tofulab run %s`",
        file, line, node, file);
    return -1;
}

/* Loads FILE, or says why it is not a scenario; real-process files too. */
static int load_scn_any(const char *file, tl_scenario **scn)
{
    tl_scn_error err;
    int rc = tl_scn_load(file, scn, &err);
    if (rc == TL_OK) {
        return 0;
    }
    if (err.line > 0) {
        cli_error("%s:%u:%u: %s", err.file, err.line, err.column, err.message);
    } else if (err.message[0]) {
        cli_error("%s: %s", err.file, err.message);
    } else {
        cli_error("%s: %s", file, tl_strerror(rc));
    }
    return -1;
}

/* Loads FILE for the simulator: a real-process file is refused. */
static int load_scn(const char *file, tl_scenario **scn)
{
    if (load_scn_any(file, scn) != 0) {
        return -1;
    }
    if (refuse_real(file, *scn) != 0) {
        tl_scn_free(*scn);
        *scn = NULL;
        return -1;
    }
    return 0;
}

/* Wall clock for the sweep's table (cli/, never sim/: ARCHITECTURE.md 4). */
static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ sweep */

#define SEEDS_RULE "1 <= A <= B <= 2^63 = 9223372036854775808"

/* N or A..B with 1 <= A <= B <= 2^63. */
static int parse_seed_range(const char *text, uint64_t *lo, uint64_t *hi)
{
    const char *dots = strstr(text, "..");
    char a[32];
    if (dots == NULL) {
        if (cli_parse_u64(text, TL_SWEEP_SEED_MAX, lo) != 0 || *lo == 0) {
            return -1;
        }
        *hi = *lo;
        return 0;
    }
    size_t n = (size_t)(dots - text);
    if (n == 0 || n >= sizeof a) {
        return -1;
    }
    memcpy(a, text, n);
    a[n] = '\0';
    if (cli_parse_u64(a, TL_SWEEP_SEED_MAX, lo) != 0 || cli_parse_u64(dots + 2, TL_SWEEP_SEED_MAX, hi) != 0 ||
        *lo == 0 || *lo > *hi) {
        return -1;
    }
    return 0;
}

/* 1234567 -> "1,234,567" */
static const char *grouped(uint64_t v, char *buf, size_t cap)
{
    char d[24];
    int n = snprintf(d, sizeof d, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0) {
            buf[o++] = ',';
        }
        buf[o++] = d[i];
    }
    buf[o] = '\0';
    return buf;
}

static void xml_str(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
        }
    }
}

static void json_text(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', f);
        }
        fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
    }
    fputc('"', f);
}

/* mkdir -p */
static int make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            int bad = mkdir(path, 0777) != 0 && errno != EEXIST;
            *p = '/';
            if (bad) {
                return -1;
            }
        }
    }
    return mkdir(path, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* DIR/<the scenario's path, made relative ('..' -> '__'), without .scn>;
 * -1 when too long */
static int failure_dir_of(const char *dir, const char *file, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s", dir);
    if (n < 0 || (size_t)n >= cap) {
        return -1;
    }
    size_t o = (size_t)n;
    const char *p = file;
    while (*p) {
        while (*p == '/') {
            p++;
        }
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *seg = p;
        p += len;
        if (len == 0 || (len == 1 && seg[0] == '.')) {
            continue;
        }
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            seg = "__";
        }
        if (*p == '\0' && len > 4 && strncmp(seg + len - 4, ".scn", 4) == 0) {
            len -= 4;
        }
        if (o + 1 + len >= cap) {
            return -1;
        }
        out[o++] = '/';
        memcpy(out + o, seg, len);
        o += len;
    }
    out[o] = '\0';
    return 0;
}

/* The failed check a run is grouped by: its text without the actual value
 * (`FILE:LINE: expect ...`), other failures with their numbers blurred. */
static void check_of(const char *failure, char *out, size_t cap)
{
    const char *cut = strstr(failure, " (actual ");
    size_t o = 0;
    if (cut != NULL) {
        size_t n = (size_t)(cut - failure);
        n = n < cap - 1 ? n : cap - 1;
        memcpy(out, failure, n);
        out[n] = '\0';
        return;
    }
    for (const char *q = failure; *q && o + 2 < cap; q++) {
        if (*q >= '0' && *q <= '9') {
            if (o == 0 || out[o - 1] != '#') {
                out[o++] = '#';
            }
        } else {
            out[o++] = *q;
        }
    }
    out[o] = '\0';
}

#define MAX_CHECKS 8 /* distinct failed checks reported per scenario */

typedef struct {
    char check[200];   /* check_of() */
    char failure[300]; /* the first run's failure text */
    uint64_t seed;     /* the first (lowest) seed that failed it */
    uint64_t runs;
} failed_check;

typedef struct {
    uint64_t runs, passed, failed, wall_ns;
    failed_check *checks; /* [MAX_CHECKS], allocated at the first failure */
    unsigned nchecks;
    uint64_t other_runs; /* failures of further checks */
} file_stats;

typedef struct {
    uint32_t file;
    uint64_t seed;
} shrink_job;

typedef struct {
    const char *const *files;
    tl_scenario *const *scns;
    const tl_sweep_list *list;
    file_stats *fs;
    int swarm;
    uint64_t done, failed;
    int tty;
    uint64_t start, last_print;
    FILE *json;
    /* JUnit: each scenario's testcases go to suite, then (with the counts
     * known) into body; body follows the header at the end */
    FILE *junit_suite, *junit_body;
    long suite_len;
    uint32_t suite_file;
    int suite_open;
    const char *fail_dir; /* --failures */
    FILE *fail_index;
    int fail_error;
    shrink_job *shrinks;
    size_t nshrinks;
} sweep_ctx;

static void sweep_progress(sweep_ctx *c, int final)
{
    uint64_t now = mono_ns();
    if (!final && now - c->last_print < (c->tty ? 200000000ull : 5000000000ull)) {
        return;
    }
    uint64_t total = c->list->count;
    double el = (double)(now - c->start) / 1e9;
    unsigned pct = total ? (unsigned)(c->done * 100 / total) : 100;
    char a[32], b[32], f[32], eta[48] = "";
    if (!final && c->done > 0 && c->done < total) {
        snprintf(eta, sizeof eta, ", about %.0fs to go", el * (double)(total - c->done) / (double)c->done);
    }
    grouped(c->done, a, sizeof a);
    grouped(total, b, sizeof b);
    grouped(c->failed, f, sizeof f);
    if (c->tty) {
        enum { WIDTH = 30 };
        unsigned fill = total ? (unsigned)(c->done * WIDTH / total) : WIDTH;
        char bar[WIDTH + 1];
        for (unsigned i = 0; i < WIDTH; i++) {
            bar[i] = i < fill ? '#' : '.';
        }
        bar[WIDTH] = '\0';
        fprintf(stderr, "\r\033[K[%s] %3u%%  %s/%s runs, %s failed, %.0fs%s%s", bar, pct, a, b, f, el, eta,
                final ? "\n" : "");
    } else {
        fprintf(stderr, "sweep: %u%% %s/%s runs, %s failed, %.0fs%s\n", pct, a, b, f, el, eta);
    }
    c->last_print = now;
    fflush(stderr);
}

static void junit_close_suite(sweep_ctx *c)
{
    if (!c->suite_open) {
        return;
    }
    const file_stats *s = &c->fs[c->suite_file];
    fputs("<testsuite name=\"", c->junit_body);
    xml_str(c->junit_body, c->files[c->suite_file]);
    fprintf(c->junit_body, "\" tests=\"%llu\" failures=\"%llu\" time=\"%.3f\">\n",
            (unsigned long long)s->runs, (unsigned long long)s->failed, (double)s->wall_ns / 1e9);
    fflush(c->junit_suite);
    rewind(c->junit_suite);
    char buf[8192];
    long left = c->suite_len;
    while (left > 0) {
        size_t want = left < (long)sizeof buf ? (size_t)left : sizeof buf;
        size_t got = fread(buf, 1, want, c->junit_suite);
        if (got == 0) {
            break;
        }
        fwrite(buf, 1, got, c->junit_body);
        left -= (long)got;
    }
    rewind(c->junit_suite);
    c->suite_len = 0;
    fputs("</testsuite>\n", c->junit_body);
    c->suite_open = 0;
}

static void junit_case(sweep_ctx *c, const tl_sweep_item *it, const tl_sweep_result *r, const char *failure)
{
    if (c->suite_open && c->suite_file != it->file) {
        junit_close_suite(c);
    }
    c->suite_open = 1;
    c->suite_file = it->file;
    FILE *j = c->junit_suite;
    long before = ftell(j);
    const char *file = c->files[it->file];
    fputs("<testcase classname=\"", j);
    xml_str(j, file);
    fprintf(j, "\" name=\"seed %llu\" time=\"%.3f\"", (unsigned long long)it->seed, (double)r->wall_ns / 1e9);
    if (failure == NULL) {
        fputs("/>\n", j);
    } else {
        const char *sw = c->swarm ? " --swarm" : "";
        fputs("><failure message=\"", j);
        xml_str(j, failure);
        fputs("\">replay: tofulab sim run ", j);
        xml_str(j, file);
        fprintf(j, " --seed %llu%s --trace -\nshrink: tofulab sim shrink ", (unsigned long long)it->seed, sw);
        xml_str(j, file);
        fprintf(j, " --seed %llu%s -o minimal.scn</failure></testcase>\n", (unsigned long long)it->seed, sw);
    }
    long after = ftell(j);
    if (before >= 0 && after >= before) {
        c->suite_len += after - before;
    }
}

/* --failures: DIR/<scenario>/seed-N.txt for a failing run; rep: the seed
 * whose shrunk scenario stands for this check (the run itself when equal). */
static void write_failure(sweep_ctx *c, const tl_sweep_item *it, const tl_sweep_result *r,
                          const char *failure, uint64_t rep)
{
    char dir[4096], path[4200];
    const char *file = c->files[it->file];
    const char *sw = c->swarm ? " --swarm" : "";
    if (failure_dir_of(c->fail_dir, file, dir, sizeof dir) != 0 || make_dirs(dir) != 0) {
        c->fail_error = 1;
        return;
    }
    snprintf(path, sizeof path, "%s/seed-%llu.txt", dir, (unsigned long long)it->seed);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        c->fail_error = 1;
        return;
    }
    fprintf(f, "scenario: %s\nseed: %llu%s\nfirst failed check: %s\n", file, (unsigned long long)it->seed,
            c->swarm ? " (swarm)" : "", failure);
    if (r->rc == TL_OK) {
        fprintf(f, "checks failed: %u\ntrace hash: %016llx\n", r->failed, (unsigned long long)r->trace_hash);
    }
    fprintf(f, "replay: tofulab sim run %s --seed %llu%s --trace -\n", file, (unsigned long long)it->seed,
            sw);
    fprintf(f, "shrink: tofulab sim shrink %s --seed %llu%s -o minimal.scn\n", file,
            (unsigned long long)it->seed, sw);
    if (rep == 0) {
        fprintf(f, "shrunk: none (more than %d different checks failed in this scenario)\n", MAX_CHECKS);
    } else if (rep != it->seed) {
        fprintf(f, "shrunk: see seed-%llu.min.scn (the same check failed first with seed %llu)\n",
                (unsigned long long)rep, (unsigned long long)rep);
    }
    if (fclose(f) != 0) {
        c->fail_error = 1;
    }
    fprintf(c->fail_index, "%s %llu: %s\n", file, (unsigned long long)it->seed, failure);
}

static void sweep_each(void *ctx, uint64_t k, const tl_sweep_item *it, const tl_sweep_result *r)
{
    sweep_ctx *c = ctx;
    file_stats *f = &c->fs[it->file];
    int ok = r->rc == TL_OK && r->passed;
    char failure[300];
    f->runs++;
    f->wall_ns += r->wall_ns;
    c->done++;
    if (c->json) {
        fprintf(c->json, "%s{\"file\":", k ? "," : "");
        json_text(c->json, c->files[it->file]);
        fprintf(
            c->json,
            ",\"seed\":%llu,\"result\":\"%s\",\"trace_hash\":\"%016llx\",\"events\":%llu,\"wall_ns\":%llu,"
            "\"failure\":",
            (unsigned long long)it->seed,
            r->rc != TL_OK ? "ERROR"
            : r->passed    ? "PASS"
                           : "FAIL",
            (unsigned long long)r->trace_hash, (unsigned long long)r->events, (unsigned long long)r->wall_ns);
        json_text(c->json, r->first_failure);
        fputc('}', c->json);
    }
    if (ok) {
        f->passed++;
        if (c->junit_suite) {
            junit_case(c, it, r, NULL);
        }
        sweep_progress(c, 0);
        return;
    }
    f->failed++;
    c->failed++;
    if (r->rc != TL_OK) {
        snprintf(failure, sizeof failure, "%s: the run broke: %s", c->files[it->file],
                 r->first_failure[0] ? r->first_failure : tl_strerror(r->rc));
    } else {
        snprintf(failure, sizeof failure, "%s", r->first_failure);
    }
    if (c->junit_suite) {
        junit_case(c, it, r, failure);
    }
    /* group by the failed check; the first run of a check (the lowest
     * seed: results come in order) stands for it */
    char check[200];
    check_of(failure, check, sizeof check);
    if (f->checks == NULL) {
        f->checks = calloc(MAX_CHECKS, sizeof *f->checks);
    }
    failed_check *fc = NULL;
    for (unsigned i = 0; f->checks && i < f->nchecks; i++) {
        if (strcmp(f->checks[i].check, check) == 0) {
            fc = &f->checks[i];
            break;
        }
    }
    int first_of_check = 0;
    if (fc == NULL && f->checks && f->nchecks < MAX_CHECKS) {
        fc = &f->checks[f->nchecks++];
        snprintf(fc->check, sizeof fc->check, "%s", check);
        snprintf(fc->failure, sizeof fc->failure, "%s", failure);
        fc->seed = it->seed;
        first_of_check = 1;
    }
    if (fc) {
        fc->runs++;
    } else {
        f->other_runs++;
    }
    if (c->fail_dir) {
        write_failure(c, it, r, failure, fc ? fc->seed : 0);
        if (first_of_check) {
            c->shrinks[c->nshrinks].file = it->file;
            c->shrinks[c->nshrinks].seed = it->seed;
            c->nshrinks++;
        }
    }
    sweep_progress(c, 0);
}

/* Shrink one failing run into DIR/<scenario>/seed-N.min.scn and note the
 * outcome in its seed-N.txt. 0 done, -1 a file could not be written. */
static int shrink_one(const sweep_ctx *c, const shrink_job *j)
{
    char dir[4096], txt[4200], min[4200];
    if (failure_dir_of(c->fail_dir, c->files[j->file], dir, sizeof dir) != 0) {
        return -1;
    }
    snprintf(txt, sizeof txt, "%s/seed-%llu.txt", dir, (unsigned long long)j->seed);
    snprintf(min, sizeof min, "%s/seed-%llu.min.scn", dir, (unsigned long long)j->seed);
    char *log = NULL, *text = NULL;
    size_t loglen = 0;
    FILE *logf = open_memstream(&log, &loglen);
    tl_shrink_options so;
    tl_shrink_result res;
    memset(&so, 0, sizeof so);
    memset(&res, 0, sizeof res);
    so.swarm = c->swarm;
    so.log = logf;
    int rc = tl_shrink(c->scns[j->file], c->files[j->file], j->seed, &so, &text, &res);
    if (logf) {
        fclose(logf);
    }
    int bad = 0;
    FILE *t = fopen(txt, "a");
    if (t == NULL) {
        bad = 1;
    } else if (rc == TL_OK) {
        FILE *m = fopen(min, "w");
        if (m == NULL || fputs(text, m) < 0) {
            bad = 1;
        }
        if (m != NULL && fclose(m) != 0) {
            bad = 1;
        }
        fprintf(t,
                "shrunk: seed-%llu.min.scn (%u reductions kept in %u runs, %zu -> %zu bytes; still fails: "
                "expect %s)\n",
                (unsigned long long)j->seed, res.steps, res.runs, res.original_bytes, res.shrunk_bytes,
                res.expectation);
        unsigned shown = 0, more = 0; /* the shrinker's log, the first 40 lines */
        for (const char *p = log; p && *p;) {
            const char *nl = strchr(p, '\n');
            int len = nl ? (int)(nl - p) : (int)strlen(p);
            if (shown < 40) {
                fprintf(t, "  %.*s\n", len, p);
                shown++;
            } else {
                more++;
            }
            p += len + (nl ? 1 : 0);
        }
        if (more) {
            fprintf(t, "  (%u more lines: run the shrink command above to see them)\n", more);
        }
    } else {
        fprintf(t, "shrunk: none (%s)\n",
                rc == TL_E_INVAL ? "the shrinker found no failing expectation to keep" : tl_strerror(rc));
    }
    if (t != NULL && fclose(t) != 0) {
        bad = 1;
    }
    free(log);
    free(text);
    return bad ? -1 : 0;
}

/* Append a line to DIR/<scenario>/seed-N.txt. */
static void note_failure(const sweep_ctx *c, const shrink_job *j, const char *line)
{
    char dir[4096], txt[4200];
    if (failure_dir_of(c->fail_dir, c->files[j->file], dir, sizeof dir) != 0) {
        return;
    }
    snprintf(txt, sizeof txt, "%s/seed-%llu.txt", dir, (unsigned long long)j->seed);
    FILE *t = fopen(txt, "a");
    if (t != NULL) {
        fprintf(t, "%s\n", line);
        fclose(t);
    }
}

/* Every shrink, up to jobs at a time, each in a child process that gets
 * secs seconds (alarm) so that no shrink holds the sweep up for long. */
static int run_shrinks(sweep_ctx *c, unsigned jobs, unsigned secs)
{
    int bad = 0;
    if (c->nshrinks == 0) {
        return 0;
    }
    if (secs == 0) {
        for (size_t i = 0; i < c->nshrinks; i++) {
            note_failure(c, &c->shrinks[i],
                         "shrunk: not tried (--shrink-time 0): run the shrink command above");
        }
        return 0;
    }
    fprintf(stderr, "shrinking the first failing seed of %zu failed check(s) into %s (at most %us each)\n",
            c->nshrinks, c->fail_dir, secs);
    fflush(NULL);
    jobs = jobs ? jobs : 1;
    pid_t *pid = calloc(jobs, sizeof *pid);
    size_t *job = calloc(jobs, sizeof *job);
    if (pid == NULL || job == NULL) {
        free(pid);
        free(job);
        return -1;
    }
    size_t next = 0, running = 0;
    while (next < c->nshrinks || running > 0) {
        if (next < c->nshrinks && running < jobs) {
            unsigned slot = 0;
            while (pid[slot] != 0) {
                slot++;
            }
            pid_t p = fork();
            if (p == 0) {
                alarm(secs);
                _exit(shrink_one(c, &c->shrinks[next]) == 0 ? 0 : 1);
            }
            if (p < 0) { /* no process: shrink it here, without a time limit */
                bad |= shrink_one(c, &c->shrinks[next]) != 0;
            } else {
                pid[slot] = p;
                job[slot] = next;
                running++;
            }
            next++;
            continue;
        }
        int st;
        pid_t done = wait(&st);
        if (done < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        for (unsigned slot = 0; slot < jobs; slot++) {
            if (pid[slot] != done) {
                continue;
            }
            pid[slot] = 0;
            running--;
            if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) {
                char line[120];
                snprintf(line, sizeof line,
                         "shrunk: none (the shrinker did not finish in %us: run the shrink command above)",
                         secs);
                note_failure(c, &c->shrinks[job[slot]], line);
            } else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
                bad = 1;
            }
        }
    }
    free(pid);
    free(job);
    return bad ? -1 : 0;
}

/* --plan FILE: one scenario and its seeds a line (`FILE A..B`); '#' starts
 * a comment. Appends to files/first/last (grown as needed). 0, or -1 after
 * printing the error (PLAN:LINE:COLUMN: what). */
static int read_plan(const char *plan, char ***files, uint64_t **first, uint64_t **last, size_t *n,
                     size_t *cap)
{
    char q[300];
    FILE *f = fopen(plan, "r");
    if (f == NULL) {
        cli_error("sim sweep: cannot read the plan %s: %s", cli_quote(plan, strlen(plan), q, sizeof q),
                  strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t lcap = 0;
    unsigned lineno = 0;
    int rc = 0;
    while (getline(&line, &lcap, f) >= 0) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) {
            *hash = '\0';
        }
        char *tok[3];
        size_t col[3];
        int nt = 0;
        for (char *p = line; *p && nt < 3;) {
            while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
                p++;
            }
            if (*p == '\0') {
                break;
            }
            tok[nt] = p;
            col[nt] = (size_t)(p - line) + 1;
            nt++;
            while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
                p++;
            }
            if (*p) {
                *p++ = '\0';
            }
        }
        if (nt == 0) {
            continue;
        }
        uint64_t lo, hi;
        if (nt == 1 || parse_seed_range(tok[1], &lo, &hi) != 0) {
            cli_error("%s:%u:%zu: expected a seed range A..B (%s) after the scenario file",
                      cli_quote(plan, strlen(plan), q, sizeof q), lineno,
                      nt == 1 ? col[0] + strlen(tok[0]) : col[1], SEEDS_RULE);
            rc = -1;
            break;
        }
        if (nt == 3) {
            cli_error("%s:%u:%zu: expected the end of the line (FILE A..B)",
                      cli_quote(plan, strlen(plan), q, sizeof q), lineno, col[2]);
            rc = -1;
            break;
        }
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            char **nf = realloc(*files, nc * sizeof *nf);
            if (nf) {
                *files = nf;
            }
            uint64_t *na = nf ? realloc(*first, nc * sizeof *na) : NULL;
            if (na) {
                *first = na;
            }
            uint64_t *nb = na ? realloc(*last, nc * sizeof *nb) : NULL;
            if (nb == NULL) {
                cli_error("sim sweep: out of memory");
                rc = -1;
                break;
            }
            *last = nb;
            *cap = nc;
        }
        (*files)[*n] = strdup(tok[0]);
        if ((*files)[*n] == NULL) {
            cli_error("sim sweep: out of memory");
            rc = -1;
            break;
        }
        (*first)[*n] = lo;
        (*last)[*n] = hi;
        (*n)++;
    }
    if (rc == 0 && *n == 0) {
        cli_error("%s: the plan lists no scenario (one `FILE A..B` a line)",
                  cli_quote(plan, strlen(plan), q, sizeof q));
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

/* "88 scenarios x 500 seeds = 44,000 runs" (or "x 200..2,000 seeds" and a
 * line with the counts when they differ) */
static void print_totals(const sweep_ctx *c, size_t nfiles, uint64_t shard_i, uint64_t shard_n,
                         uint64_t passed, uint64_t failed)
{
    const tl_sweep_list *l = c->list;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t f = 0; f < nfiles; f++) {
        uint64_t n = l->last[f] - l->first[f] + 1;
        lo = n < lo ? n : lo;
        hi = n > hi ? n : hi;
    }
    char a[32], b[32], t[32], r[32], p[32], x[32];
    grouped(lo, a, sizeof a);
    grouped(hi, b, sizeof b);
    grouped(l->total, t, sizeof t);
    grouped(l->count, r, sizeof r);
    grouped(passed, p, sizeof p);
    grouped(failed, x, sizeof x);
    printf("%zu scenario%s x %s%s%s seed%s = %s run%s", nfiles, nfiles == 1 ? "" : "s", a,
           lo == hi ? "" : "..", lo == hi ? "" : b, hi == 1 ? "" : "s", t, l->total == 1 ? "" : "s");
    if (shard_n > 1) {
        printf(", shard %llu/%llu: %s runs", (unsigned long long)shard_i, (unsigned long long)shard_n, r);
    }
    printf(": %s passed, %s failed\n", p, x);
    if (lo == hi) {
        return;
    }
    /* the distinct counts, largest first, with how many scenarios have each */
    printf("seeds per scenario:");
    uint64_t below = UINT64_MAX;
    for (int shown = 0;; shown++) {
        uint64_t best = 0, cnt = 0;
        for (size_t f = 0; f < nfiles; f++) {
            uint64_t n = l->last[f] - l->first[f] + 1;
            if (n < below && n > best) {
                best = n;
            }
        }
        if (best == 0) {
            break;
        }
        if (shown == 8) {
            printf(" ...");
            break;
        }
        for (size_t f = 0; f < nfiles; f++) {
            cnt += l->last[f] - l->first[f] + 1 == best;
        }
        printf("%s %s (%llu scenario%s)", shown ? "," : "", grouped(best, a, sizeof a),
               (unsigned long long)cnt, cnt == 1 ? "" : "s");
        below = best;
    }
    printf("\n");
}

static int sim_sweep(int argc, char **argv)
{
    char **files = calloc((size_t)argc, sizeof *files);
    size_t fcap = (size_t)argc, nfiles = 0, nargfiles = 0;
    int own_files = 0; /* files[] strings are strdup'd (--plan) */
    const char *junit_path = NULL, *json_path = NULL, *plan_path = NULL, *fail_dir = NULL;
    uint64_t jobs = 2, shard_i = 1, shard_n = 1, seeds_lo = 0, seeds_hi = 0, shrink_secs = 60;
    int have_seeds = 0, swarm = 0, quiet = 0, code = CLI_EXIT_USAGE;
    char q[300];
    tl_scenario **scns = NULL;
    uint64_t *first = NULL, *last = NULL;
    file_stats *fs = NULL;
    FILE *junit = NULL, *json = NULL;
    tl_sweep_list list;
    sweep_ctx c;
    memset(&list, 0, sizeof list);
    memset(&c, 0, sizeof c);

    if (files == NULL) {
        cli_error("sim sweep: out of memory");
        return CLI_EXIT_FAIL;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int takes = strcmp(a, "--seeds") == 0 || strcmp(a, "--jobs") == 0 || strcmp(a, "-j") == 0 ||
                    strcmp(a, "--shard") == 0 || strcmp(a, "--junit") == 0 || strcmp(a, "--json") == 0 ||
                    strcmp(a, "--plan") == 0 || strcmp(a, "--failures") == 0 ||
                    strcmp(a, "--shrink-time") == 0;
        if (takes && i + 1 >= argc) {
            cli_error("sim sweep: %s needs a value; run 'tofulab sim --help'", a);
            goto out;
        }
        if (strcmp(a, "--seeds") == 0) {
            const char *v = argv[++i];
            if (parse_seed_range(v, &seeds_lo, &seeds_hi) != 0) {
                cli_error("sim sweep: --seeds expects N or A..B with %s, got '%s'", SEEDS_RULE,
                          cli_quote(v, strlen(v), q, sizeof q));
                goto out;
            }
            have_seeds = 1;
        } else if (strcmp(a, "--jobs") == 0 || strcmp(a, "-j") == 0) {
            const char *v = argv[++i];
            if (cli_parse_u64(v, 1024, &jobs) != 0 || jobs == 0) {
                cli_error("sim sweep: --jobs expects a number from 1 to 1024, got '%s'",
                          cli_quote(v, strlen(v), q, sizeof q));
                goto out;
            }
        } else if (strcmp(a, "--shard") == 0) {
            const char *v = argv[++i];
            const char *slash = strchr(v, '/');
            char num[24];
            size_t nl = slash ? (size_t)(slash - v) : 0;
            if (slash == NULL || nl == 0 || nl >= sizeof num ||
                (memcpy(num, v, nl), num[nl] = '\0', cli_parse_u64(num, 1000000, &shard_i) != 0) ||
                cli_parse_u64(slash + 1, 1000000, &shard_n) != 0 || shard_i < 1 || shard_i > shard_n) {
                cli_error("sim sweep: --shard expects I/N with 1 <= I <= N <= 1000000, got '%s'",
                          cli_quote(v, strlen(v), q, sizeof q));
                goto out;
            }
        } else if (strcmp(a, "--junit") == 0) {
            junit_path = argv[++i];
        } else if (strcmp(a, "--json") == 0) {
            json_path = argv[++i];
        } else if (strcmp(a, "--plan") == 0) {
            plan_path = argv[++i];
        } else if (strcmp(a, "--failures") == 0) {
            fail_dir = argv[++i];
            if (fail_dir[0] == '\0') {
                cli_error("sim sweep: --failures needs a directory name");
                goto out;
            }
        } else if (strcmp(a, "--shrink-time") == 0) {
            const char *v = argv[++i];
            if (cli_parse_u64(v, 86400, &shrink_secs) != 0) {
                cli_error("sim sweep: --shrink-time expects seconds from 0 to 86400, got '%s'",
                          cli_quote(v, strlen(v), q, sizeof q));
                goto out;
            }
        } else if (strcmp(a, "--swarm") == 0) {
            swarm = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            code = CLI_EXIT_OK;
            goto out;
        } else if (a[0] == '-' && a[1] != '\0') {
            cli_error("sim sweep: unknown option '%s'; run 'tofulab sim --help'",
                      cli_quote(a, strlen(a), q, sizeof q));
            goto out;
        } else {
            files[nfiles++] = argv[i];
        }
    }
    nargfiles = nfiles;
    if (plan_path != NULL) {
        if (nargfiles > 0 || have_seeds) {
            cli_error("sim sweep: --plan lists the scenario files and their seeds: give no FILE or --seeds "
                      "with it");
            goto out;
        }
        own_files = 1;
        fcap = 0;
        free(files);
        files = NULL;
        if (read_plan(plan_path, &files, &first, &last, &nfiles, &fcap) != 0) {
            goto out;
        }
    } else if (nfiles == 0) {
        cli_error("sim sweep: missing scenario files; run 'tofulab sim --help'");
        goto out;
    }
    scns = calloc(nfiles, sizeof *scns);
    fs = calloc(nfiles, sizeof *fs);
    if (plan_path == NULL) {
        first = calloc(nfiles, sizeof *first);
        last = calloc(nfiles, sizeof *last);
    }
    if (scns == NULL || first == NULL || last == NULL || fs == NULL) {
        cli_error("sim sweep: out of memory");
        code = CLI_EXIT_FAIL;
        goto out;
    }
    /* Real-process files among the FILEs (a glob over scenarios/ takes
     * scenarios-real/ in) are skipped and named; given alone, in a plan, or
     * with no simulator file beside them, they are refused. */
    size_t kept = 0, skipped = 0;
    const char **skip = calloc(nfiles, sizeof *skip);
    if (skip == NULL) {
        cli_error("sim sweep: out of memory");
        code = CLI_EXIT_FAIL;
        goto out;
    }
    for (size_t f = 0; f < nfiles; f++) {
        unsigned real_line = 0;
        if (load_scn_any(files[f], &scns[kept]) != 0) {
            free(skip);
            goto out;
        }
        if (plan_path == NULL && tl_scn_real_node(scns[kept], &real_line) != NULL) {
            skip[skipped++] = files[f];
            tl_scn_free(scns[kept]);
            scns[kept] = NULL;
            continue;
        }
        files[kept] = files[f];
        if (plan_path == NULL) {
            tl_scn_seeds(scns[kept], &first[kept], &last[kept]);
            if (have_seeds) {
                first[kept] = seeds_lo;
                last[kept] = seeds_hi;
            }
        } else if (refuse_real(files[f], scns[kept]) != 0) {
            free(skip);
            goto out;
        }
        kept++;
    }
    if (kept == 0) {
        /* only real-process files: refused as `sim run` refuses one */
        tl_scenario *real = NULL;
        if (load_scn(skip[0], &real) == 0) {
            tl_scn_free(real);
        }
        free(skip);
        goto out;
    }
    if (skipped > 0) {
        fprintf(stderr,
                "tofulab: sim sweep: skipped %zu file%s of real processes (`tofulab run FILE` runs them):",
                skipped, skipped == 1 ? "" : "s");
        for (size_t i = 0; i < skipped; i++) {
            fprintf(stderr, " %s", skip[i]);
        }
        fputc('\n', stderr);
    }
    free(skip);
    nfiles = kept;
    int lrc = tl_sweep_list_init(&list, first, last, nfiles, shard_i, shard_n);
    if (lrc == TL_E_NOMEM) {
        cli_error("sim sweep: out of memory");
        code = CLI_EXIT_FAIL;
        goto out;
    }
    if (lrc != TL_OK || list.count > TL_SWEEP_RUNS_MAX) {
        /* beyond what one sweep can run: say how far, and how to split it */
        char what[300], t[32], need[80] = "";
        if (have_seeds) {
            snprintf(what, sizeof what, "seeds %llu..%llu", (unsigned long long)seeds_lo,
                     (unsigned long long)seeds_hi);
        } else {
            snprintf(what, sizeof what, "%s", plan_path ? "the plan's seeds" : "their seeds lines");
        }
        if (lrc == TL_OK) {
            uint64_t shards = list.total / TL_SWEEP_RUNS_MAX + (list.total % TL_SWEEP_RUNS_MAX != 0);
            if (shards <= 1000000) {
                snprintf(need, sizeof need, "fewer seeds, or --shard I/N with N >= %llu",
                         (unsigned long long)shards);
            } else {
                snprintf(need, sizeof need, "fewer seeds");
            }
        }
        cli_error("sim sweep: %zu scenario file%s x %s is %s%s runs; one sweep runs at most 2^32 = "
                  "4,294,967,296 (use %s)",
                  nfiles, nfiles == 1 ? "" : "s", what, lrc == TL_OK ? "" : "more than ",
                  lrc == TL_OK ? grouped(list.total, t, sizeof t) : "2^64",
                  lrc == TL_OK ? need : "fewer seeds");
        goto out;
    }
    if ((junit_path && (junit = open_out(junit_path, "w", "junit")) == NULL) ||
        (json_path && (json = open_out(json_path, "w", "json")) == NULL)) {
        goto out;
    }
    if (fail_dir != NULL) {
        char d[4096], idx[4200];
        snprintf(d, sizeof d, "%s", fail_dir);
        snprintf(idx, sizeof idx, "%s/failures.txt", fail_dir);
        if (strlen(fail_dir) >= sizeof d - 64 || make_dirs(d) != 0 ||
            (c.fail_index = fopen(idx, "w")) == NULL) {
            cli_error("sim sweep: cannot create the --failures directory %s: %s",
                      cli_quote(fail_dir, strlen(fail_dir), q, sizeof q), strerror(errno));
            goto out;
        }
        c.shrinks = calloc(nfiles * MAX_CHECKS, sizeof *c.shrinks);
        if (c.shrinks == NULL) {
            cli_error("sim sweep: out of memory");
            code = CLI_EXIT_FAIL;
            goto out;
        }
    }
    if (junit && ((c.junit_suite = tmpfile()) == NULL || (c.junit_body = tmpfile()) == NULL)) {
        cli_error("sim sweep: cannot make a temporary file for --junit: %s", strerror(errno));
        code = CLI_EXIT_FAIL;
        goto out;
    }
    c.files = (const char *const *)files;
    c.scns = scns;
    c.list = &list;
    c.fs = fs;
    c.swarm = swarm;
    c.json = json;
    c.fail_dir = fail_dir;
    c.tty = isatty(2);
    c.start = c.last_print = mono_ns();
    tl_sweep_options so;
    memset(&so, 0, sizeof so);
    so.jobs = (unsigned)jobs;
    so.swarm = swarm;
    so.clock_ns = mono_ns;
    if (shard_n > 1) {
        printf("shard %llu/%llu: %llu runs\n", (unsigned long long)shard_i, (unsigned long long)shard_n,
               (unsigned long long)list.count);
    }
    if (json) {
        fputs("{\"runs\":[", json);
    }
    int rc = tl_sweep_stream(scns, &list, &so, sweep_each, &c);
    if (rc != TL_OK) {
        cli_error("sim sweep: cannot start the worker processes: %s", tl_strerror(rc));
        code = CLI_EXIT_FAIL;
        goto out;
    }
    sweep_progress(&c, 1);
    uint64_t total_wall = mono_ns() - c.start;
    int write_error = 0;
    if (c.fail_dir) {
        if (fclose(c.fail_index) != 0) {
            c.fail_error = 1;
        }
        c.fail_index = NULL;
        if (run_shrinks(&c, (unsigned)jobs, (unsigned)shrink_secs) != 0) {
            c.fail_error = 1;
        }
        if (c.fail_error) {
            cli_error("sim sweep: could not write every file under %s",
                      cli_quote(fail_dir, strlen(fail_dir), q, sizeof q));
            write_error = 1;
        }
    }

    uint64_t passed = 0, failed = 0;
    for (size_t f = 0; f < nfiles; f++) {
        passed += fs[f].passed;
        failed += fs[f].failed;
    }
    if (!quiet) {
        size_t w = 8;
        for (size_t f = 0; f < nfiles; f++) {
            size_t l = strlen(files[f]);
            w = l > w ? l : w;
        }
        printf("%-*s %7s %7s %7s %12s %9s\n", (int)w, "scenario", "runs", "passed", "failed", "first-fail",
               "wall");
        for (size_t f = 0; f < nfiles; f++) {
            char ff[24];
            snprintf(ff, sizeof ff, fs[f].nchecks ? "%llu" : "-",
                     (unsigned long long)(fs[f].nchecks ? fs[f].checks[0].seed : 0));
            printf("%-*s %7llu %7llu %7llu %12s %8.2fs\n", (int)w, files[f], (unsigned long long)fs[f].runs,
                   (unsigned long long)fs[f].passed, (unsigned long long)fs[f].failed, ff,
                   (double)fs[f].wall_ns / 1e9);
        }
    }
    const char *sw = swarm ? " --swarm" : "";
    for (size_t f = 0; f < nfiles; f++) {
        if (fs[f].failed == 0) {
            continue;
        }
        if (fs[f].nchecks == 0) { /* no memory for the checks */
            printf("FAIL %s (%llu of %llu runs failed)\n", files[f], (unsigned long long)fs[f].failed,
                   (unsigned long long)fs[f].runs);
            continue;
        }
        const failed_check *fc = &fs[f].checks[0];
        printf("FAIL %s seed %llu (%llu of %llu runs failed): %s\n", files[f], (unsigned long long)fc->seed,
               (unsigned long long)fs[f].failed, (unsigned long long)fs[f].runs, fc->failure);
        printf("  replay: tofulab sim run %s --seed %llu%s --trace -\n", files[f],
               (unsigned long long)fc->seed, sw);
        printf("  shrink: tofulab sim shrink %s --seed %llu%s -o minimal.scn\n", files[f],
               (unsigned long long)fc->seed, sw);
        for (unsigned i = 1; i < fs[f].nchecks; i++) {
            fc = &fs[f].checks[i];
            printf("  also seed %llu (%llu run%s failed this check): %s\n", (unsigned long long)fc->seed,
                   (unsigned long long)fc->runs, fc->runs == 1 ? "" : "s", fc->failure);
        }
        if (fs[f].other_runs) {
            printf("  and %llu run%s failed more checks\n", (unsigned long long)fs[f].other_runs,
                   fs[f].other_runs == 1 ? "" : "s");
        }
    }
    if (fail_dir && failed) {
        printf("failing seeds, their replay commands and shrunk scenarios: %s/failures.txt\n", fail_dir);
    }
    if (junit) {
        junit_close_suite(&c);
        fprintf(junit,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"%llu\" failures=\"%llu\" "
                "time=\"%.3f\">\n",
                (unsigned long long)list.count, (unsigned long long)failed, (double)total_wall / 1e9);
        fflush(c.junit_body);
        rewind(c.junit_body);
        char buf[8192];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, c.junit_body)) > 0) {
            fwrite(buf, 1, got, junit);
        }
        fputs("</testsuites>\n", junit);
        if (ferror(junit) || ferror(c.junit_body) || ferror(c.junit_suite)) {
            cli_error("sim sweep: cannot write the junit file %s",
                      cli_quote(junit_path, strlen(junit_path), q, sizeof q));
            write_error = 1;
        }
    }
    if (json) {
        fprintf(json, "],\"passed\":%llu,\"failed\":%llu,\"swarm\":%s,\"shard\":\"%llu/%llu\"}\n",
                (unsigned long long)passed, (unsigned long long)failed, swarm ? "true" : "false",
                (unsigned long long)shard_i, (unsigned long long)shard_n);
        if (ferror(json)) {
            cli_error("sim sweep: cannot write the json file %s",
                      cli_quote(json_path, strlen(json_path), q, sizeof q));
            write_error = 1;
        }
    }
    print_totals(&c, nfiles, shard_i, shard_n, passed, failed);
    {
        char rate[32];
        double secs = (double)total_wall / 1e9;
        printf("wall time %.2fs with %llu job%s, %s runs/s\n", secs, (unsigned long long)jobs,
               jobs == 1 ? "" : "s",
               grouped(secs > 0 ? (uint64_t)((double)list.count / secs) : 0, rate, sizeof rate));
    }
    printf("%llu passed, %llu failed\n", (unsigned long long)passed, (unsigned long long)failed);
    fflush(stdout);
    code = failed || write_error ? CLI_EXIT_FAIL : CLI_EXIT_OK;
out:
    close_out(junit);
    close_out(json);
    if (c.junit_suite) {
        fclose(c.junit_suite);
    }
    if (c.junit_body) {
        fclose(c.junit_body);
    }
    if (c.fail_index) {
        fclose(c.fail_index);
    }
    free(c.shrinks);
    tl_sweep_list_free(&list);
    for (size_t f = 0; scns && f < nfiles; f++) {
        tl_scn_free(scns[f]);
    }
    for (size_t f = 0; fs && f < nfiles; f++) {
        free(fs[f].checks);
    }
    for (size_t f = 0; own_files && files && f < nfiles; f++) {
        free(files[f]);
    }
    free(scns);
    free(first);
    free(last);
    free(fs);
    free(files);
    return code;
}

/* ------------------------------------------------------------ shrink */

static int sim_shrink(int argc, char **argv)
{
    const char *file = NULL, *out_path = NULL;
    uint64_t seed = 0, max_runs = 0;
    int have_seed = 0, swarm = 0;
    char q[300];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--seed") == 0 || strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 ||
            strcmp(a, "--max-runs") == 0) {
            if (i + 1 >= argc) {
                cli_error("sim shrink: %s needs a value; run 'tofulab sim --help'", a);
                return CLI_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (strcmp(a, "--seed") == 0 || strcmp(a, "--max-runs") == 0) {
                uint64_t *dst = strcmp(a, "--seed") == 0 ? &seed : &max_runs;
                if (cli_parse_u64(v, strcmp(a, "--seed") == 0 ? UINT64_MAX : 1000000, dst) != 0) {
                    cli_error("sim shrink: %s expects a whole number, got '%s'", a,
                              cli_quote(v, strlen(v), q, sizeof q));
                    return CLI_EXIT_USAGE;
                }
                have_seed |= strcmp(a, "--seed") == 0;
            } else {
                out_path = v;
            }
        } else if (strcmp(a, "--swarm") == 0) {
            swarm = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (a[0] == '-' && a[1] != '\0') {
            cli_error("sim shrink: unknown option '%s'; run 'tofulab sim --help'",
                      cli_quote(a, strlen(a), q, sizeof q));
            return CLI_EXIT_USAGE;
        } else if (file == NULL) {
            file = a;
        } else {
            cli_error("sim shrink: one scenario file only, got also '%s'",
                      cli_quote(a, strlen(a), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
    }
    if (file == NULL || !have_seed) {
        cli_error("sim shrink: needs a scenario file and --seed N; run 'tofulab sim --help'");
        return CLI_EXIT_USAGE;
    }
    tl_scenario *scn = NULL;
    if (load_scn(file, &scn) != 0) {
        return CLI_EXIT_USAGE;
    }
    tl_shrink_options so;
    tl_shrink_result res;
    char *text = NULL;
    memset(&so, 0, sizeof so);
    so.swarm = swarm;
    so.max_runs = (unsigned)max_runs;
    so.log = stderr;
    int rc = tl_shrink(scn, file, seed, &so, &text, &res);
    tl_scn_free(scn);
    if (rc == TL_E_INVAL) {
        cli_error("sim shrink: seed %llu of %s passes: nothing to shrink", (unsigned long long)seed,
                  cli_quote(file, strlen(file), q, sizeof q));
        return CLI_EXIT_FAIL;
    }
    if (rc != TL_OK) {
        cli_error("sim shrink: %s", tl_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    FILE *out = out_path ? open_out(out_path, "w", "output") : stdout;
    if (out == NULL) {
        free(text);
        return CLI_EXIT_USAGE;
    }
    fputs(text, out);
    free(text);
    int bad = ferror(out);
    close_out(out);
    if (bad) {
        cli_error("sim shrink: cannot write the output");
        return CLI_EXIT_FAIL;
    }
    fprintf(
        stderr,
        "shrink: %u reductions kept in %u runs (%u controls; rejected: %u no longer failing the same way, "
        "%u whose control failed, %u over the event budget, %u invalid); %zu -> %zu bytes, %llu -> %llu "
        "events\n",
        res.steps, res.runs, res.control_runs, res.rejected_passes, res.rejected_control, res.rejected_budget,
        res.rejected_invalid, res.original_bytes, res.shrunk_bytes, (unsigned long long)res.original_events,
        (unsigned long long)res.shrunk_events);
    fprintf(stderr, "shrink: still fails: %s%s; its fault-free control %s\n",
            res.oracle ? "the oracle: " : "expect ", res.expectation,
            res.control_passes ? "passes" : "fails too (see the header)");
    return CLI_EXIT_OK;
}

int cli_sim_main(int argc, char **argv)
{
    char q[96];
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc < 2) {
            cli_error("sim: missing subcommand; run 'tofulab sim --help'");
            return CLI_EXIT_USAGE;
        }
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "run") == 0) {
        return sim_run(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "sweep") == 0) {
        return sim_sweep(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "shrink") == 0) {
        return sim_shrink(argc - 1, argv + 1);
    }
    cli_error("sim: unknown subcommand '%s'; run 'tofulab sim --help'",
              cli_quote(argv[1], strlen(argv[1]), q, sizeof q));
    return CLI_EXIT_USAGE;
}
