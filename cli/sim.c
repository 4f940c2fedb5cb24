/*
 * `tofulab sim run FILE.scn`: run a scenario on the deterministic virtual
 * network (sim/sim.h, docs/scenarios.md) and report.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "../sim/html.h"
#include "../sim/shrink.h"
#include "../sim/sim.h"
#include "../sim/sweep.h"
#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tofulab sim run FILE.scn [--seed N] [--trace FILE] [--pcap FILE] [--json FILE] [--html "
            "FILE]\n"
            "                                 [--swarm] [--verbose]\n"
            "       tofulab sim sweep FILE.scn... [--seeds A..B] [--jobs N] [--shard I/N] [--swarm]\n"
            "                                 [--junit FILE] [--json FILE]\n"
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
            "(scenario, runs, passed, failed, first failing seed, wall time), then `N passed, N failed`:\n"
            "  --seeds A..B   the seeds of every file (default: each file's `seeds` line)\n"
            "  --jobs N       worker processes (default 2)\n"
            "  --shard I/N    run only the I-th of N deterministic slices of the (file, seed) list\n"
            "  --junit FILE   a JUnit XML report (one testcase per run); --json FILE: one JSON object\n"
            "\n"
            "shrink reduces a failing run to a smaller scenario that fails the same expectation with\n"
            "the same seed; it writes it to OUT (default standard output) and what it removed on stderr.\n"
            "\n"
            "examples:\n"
            "  tofulab sim run scenarios/bench/rr-loss.scn --seed 7\n"
            "  tofulab sim run scenarios/request-response/crash.scn --seed 1 --trace - | less\n"
            "  tofulab sim run scenarios/request-response/basic.scn --seed 1 --pcap rr.pcap && tshark -r "
            "rr.pcap\n"
            "  tofulab sim run scenarios/request-response/crash.scn --seed 1 --html crash.html\n"
            "  tofulab sim sweep scenarios/*/*.scn --seeds 1..1000 --jobs 4 --junit sweep.xml\n"
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

static int load_scn(const char *file, tl_scenario **scn)
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

/* Wall clock for the sweep's table (cli/, never sim/: ARCHITECTURE.md 4). */
static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int parse_seed_range(const char *text, uint64_t *lo, uint64_t *hi)
{
    const char *dots = strstr(text, "..");
    char a[32];
    if (dots == NULL) {
        if (cli_parse_u64(text, UINT64_MAX, lo) != 0) {
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
    if (cli_parse_u64(a, UINT64_MAX, lo) != 0 || cli_parse_u64(dots + 2, UINT64_MAX, hi) != 0 || *lo > *hi) {
        return -1;
    }
    return 0;
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

/* ------------------------------------------------------------ sweep */

typedef struct {
    uint64_t runs, passed, failed, first_fail, wall_ns;
    int have_fail;
    char failure[300];
} file_stats;

typedef struct {
    const tl_sweep_item *items;
    file_stats *fs;
    size_t done, total, failed;
    int tty;
    uint64_t start, last_print;
} sweep_ctx;

static void sweep_progress(sweep_ctx *c, int final)
{
    uint64_t now = mono_ns();
    double el = (double)(now - c->start) / 1e9;
    if (c->tty) {
        fprintf(stderr, "\r\033[Ksweep: %zu/%zu runs, %zu failed, %.1fs%s", c->done, c->total, c->failed, el,
                final ? "\n" : "");
    } else if (final || now - c->last_print >= 5000000000ull) {
        fprintf(stderr, "sweep: %zu/%zu runs, %zu failed, %.1fs\n", c->done, c->total, c->failed, el);
    } else {
        return;
    }
    c->last_print = now;
    fflush(stderr);
}

static void sweep_on_result(void *ctx, size_t k, const tl_sweep_result *r)
{
    sweep_ctx *c = ctx;
    file_stats *f = &c->fs[c->items[k].file];
    int ok = r->rc == TL_OK && r->passed;
    f->runs++;
    f->wall_ns += r->wall_ns;
    c->done++;
    if (ok) {
        f->passed++;
    } else {
        f->failed++;
        c->failed++;
        if (!f->have_fail || c->items[k].seed < f->first_fail) {
            f->have_fail = 1;
            f->first_fail = c->items[k].seed;
            if (r->rc != TL_OK) {
                snprintf(f->failure, sizeof f->failure, "run broke: %s",
                         r->first_failure[0] ? r->first_failure : tl_strerror(r->rc));
            } else {
                snprintf(f->failure, sizeof f->failure, "%s", r->first_failure);
            }
        }
    }
    sweep_progress(c, 0);
}

static int sim_sweep(int argc, char **argv)
{
    const char **files = calloc((size_t)argc, sizeof *files);
    const char *junit_path = NULL, *json_path = NULL;
    size_t nfiles = 0;
    uint64_t jobs = 2, shard_i = 1, shard_n = 1, seeds_lo = 0, seeds_hi = 0;
    int have_seeds = 0, swarm = 0, code = CLI_EXIT_USAGE;
    char q[300];
    tl_scenario **scns = NULL;
    uint64_t *first = NULL, *last = NULL;
    tl_sweep_item *items = NULL;
    tl_sweep_result *results = NULL;
    file_stats *fs = NULL;
    FILE *junit = NULL, *json = NULL;
    size_t n = 0;

    if (files == NULL) {
        cli_error("sim sweep: out of memory");
        return CLI_EXIT_FAIL;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int takes = strcmp(a, "--seeds") == 0 || strcmp(a, "--jobs") == 0 || strcmp(a, "-j") == 0 ||
                    strcmp(a, "--shard") == 0 || strcmp(a, "--junit") == 0 || strcmp(a, "--json") == 0;
        if (takes && i + 1 >= argc) {
            cli_error("sim sweep: %s needs a value; run 'tofulab sim --help'", a);
            goto out;
        }
        if (strcmp(a, "--seeds") == 0) {
            const char *v = argv[++i];
            if (parse_seed_range(v, &seeds_lo, &seeds_hi) != 0) {
                cli_error("sim sweep: --seeds expects N or A..B (A <= B), got '%s'",
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
                cli_error("sim sweep: --shard expects I/N with 1 <= I <= N, got '%s'",
                          cli_quote(v, strlen(v), q, sizeof q));
                goto out;
            }
        } else if (strcmp(a, "--junit") == 0) {
            junit_path = argv[++i];
        } else if (strcmp(a, "--json") == 0) {
            json_path = argv[++i];
        } else if (strcmp(a, "--swarm") == 0) {
            swarm = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            code = CLI_EXIT_OK;
            goto out;
        } else if (a[0] == '-' && a[1] != '\0') {
            cli_error("sim sweep: unknown option '%s'; run 'tofulab sim --help'",
                      cli_quote(a, strlen(a), q, sizeof q));
            goto out;
        } else {
            files[nfiles++] = a;
        }
    }
    if (nfiles == 0) {
        cli_error("sim sweep: missing scenario files; run 'tofulab sim --help'");
        goto out;
    }
    scns = calloc(nfiles, sizeof *scns);
    first = calloc(nfiles, sizeof *first);
    last = calloc(nfiles, sizeof *last);
    fs = calloc(nfiles, sizeof *fs);
    if (scns == NULL || first == NULL || last == NULL || fs == NULL) {
        cli_error("sim sweep: out of memory");
        code = CLI_EXIT_FAIL;
        goto out;
    }
    for (size_t f = 0; f < nfiles; f++) {
        if (load_scn(files[f], &scns[f]) != 0) {
            goto out;
        }
        tl_scn_seeds(scns[f], &first[f], &last[f]);
        if (have_seeds) {
            first[f] = seeds_lo;
            last[f] = seeds_hi;
        }
    }
    if (tl_sweep_plan(first, last, nfiles, (unsigned)shard_i, (unsigned)shard_n, &items, &n) != TL_OK) {
        cli_error("sim sweep: too many runs");
        code = CLI_EXIT_FAIL;
        goto out;
    }
    if ((junit_path && (junit = open_out(junit_path, "w", "junit")) == NULL) ||
        (json_path && (json = open_out(json_path, "w", "json")) == NULL)) {
        goto out;
    }
    results = calloc(n ? n : 1, sizeof *results);
    if (results == NULL) {
        cli_error("sim sweep: out of memory");
        code = CLI_EXIT_FAIL;
        goto out;
    }
    sweep_ctx c;
    memset(&c, 0, sizeof c);
    c.items = items;
    c.fs = fs;
    c.total = n;
    c.tty = isatty(2);
    c.start = c.last_print = mono_ns();
    tl_sweep_options so;
    memset(&so, 0, sizeof so);
    so.jobs = (unsigned)jobs;
    so.swarm = swarm;
    so.clock_ns = mono_ns;
    so.on_result = sweep_on_result;
    so.ctx = &c;
    if (shard_n > 1) {
        printf("shard %llu/%llu: %zu runs\n", (unsigned long long)shard_i, (unsigned long long)shard_n, n);
    }
    int rc = tl_sweep_run(scns, items, n, &so, results);
    if (rc != TL_OK) {
        cli_error("sim sweep: cannot start the worker processes: %s", tl_strerror(rc));
        code = CLI_EXIT_FAIL;
        goto out;
    }
    sweep_progress(&c, 1);
    uint64_t total_wall = mono_ns() - c.start;

    size_t w = 8;
    for (size_t f = 0; f < nfiles; f++) {
        size_t l = strlen(files[f]);
        w = l > w ? l : w;
    }
    printf("%-*s %7s %7s %7s %12s %9s\n", (int)w, "scenario", "runs", "passed", "failed", "first-fail",
           "wall");
    uint64_t passed = 0, failed = 0;
    for (size_t f = 0; f < nfiles; f++) {
        char ff[24];
        snprintf(ff, sizeof ff, fs[f].have_fail ? "%llu" : "-", (unsigned long long)fs[f].first_fail);
        printf("%-*s %7llu %7llu %7llu %12s %8.2fs\n", (int)w, files[f], (unsigned long long)fs[f].runs,
               (unsigned long long)fs[f].passed, (unsigned long long)fs[f].failed, ff,
               (double)fs[f].wall_ns / 1e9);
        passed += fs[f].passed;
        failed += fs[f].failed;
    }
    for (size_t f = 0; f < nfiles; f++) {
        if (!fs[f].have_fail) {
            continue;
        }
        printf("FAIL %s seed %llu (%llu of %llu runs failed): %s\n", files[f],
               (unsigned long long)fs[f].first_fail, (unsigned long long)fs[f].failed,
               (unsigned long long)fs[f].runs, fs[f].failure);
        printf("  replay: tofulab sim run %s --seed %llu%s --trace -\n", files[f],
               (unsigned long long)fs[f].first_fail, swarm ? " --swarm" : "");
    }
    if (junit) {
        fprintf(junit,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"%zu\" failures=\"%llu\">\n",
                n, (unsigned long long)failed);
        for (size_t f = 0; f < nfiles; f++) {
            fputs("<testsuite name=\"", junit);
            xml_str(junit, files[f]);
            fprintf(junit, "\" tests=\"%llu\" failures=\"%llu\" time=\"%.3f\">\n",
                    (unsigned long long)fs[f].runs, (unsigned long long)fs[f].failed,
                    (double)fs[f].wall_ns / 1e9);
            for (size_t k = 0; k < n; k++) {
                if (items[k].file != f) {
                    continue;
                }
                const tl_sweep_result *r = &results[k];
                fprintf(junit, "<testcase classname=\"");
                xml_str(junit, files[f]);
                fprintf(junit, "\" name=\"seed %llu\" time=\"%.3f\"", (unsigned long long)items[k].seed,
                        (double)r->wall_ns / 1e9);
                if (r->rc == TL_OK && r->passed) {
                    fputs("/>\n", junit);
                    continue;
                }
                fputs("><failure message=\"", junit);
                xml_str(junit, r->rc == TL_OK ? r->first_failure : "the run broke");
                fputs("\">replay: tofulab sim run ", junit);
                xml_str(junit, files[f]);
                fprintf(junit, " --seed %llu%s --trace -</failure></testcase>\n",
                        (unsigned long long)items[k].seed, swarm ? " --swarm" : "");
            }
            fputs("</testsuite>\n", junit);
        }
        fputs("</testsuites>\n", junit);
    }
    if (json) {
        fputs("{\"runs\":[", json);
        for (size_t k = 0; k < n; k++) {
            const tl_sweep_result *r = &results[k];
            fprintf(json, "%s{\"file\":", k ? "," : "");
            json_text(json, files[items[k].file]);
            fprintf(
                json,
                ",\"seed\":%llu,\"result\":\"%s\",\"trace_hash\":\"%016llx\",\"wall_ns\":%llu,\"failure\":",
                (unsigned long long)items[k].seed,
                r->rc != TL_OK ? "ERROR"
                : r->passed    ? "PASS"
                               : "FAIL",
                (unsigned long long)r->trace_hash, (unsigned long long)r->wall_ns);
            json_text(json, r->first_failure);
            fputc('}', json);
        }
        fprintf(json, "],\"passed\":%llu,\"failed\":%llu,\"swarm\":%s,\"shard\":\"%llu/%llu\"}\n",
                (unsigned long long)passed, (unsigned long long)failed, swarm ? "true" : "false",
                (unsigned long long)shard_i, (unsigned long long)shard_n);
    }
    printf("wall time %.2fs with %llu jobs\n", (double)total_wall / 1e9, (unsigned long long)jobs);
    printf("%llu passed, %llu failed\n", (unsigned long long)passed, (unsigned long long)failed);
    fflush(stdout);
    code = failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
out:
    close_out(junit);
    close_out(json);
    for (size_t f = 0; scns && f < nfiles; f++) {
        tl_scn_free(scns[f]);
    }
    free(scns);
    free(first);
    free(last);
    free(fs);
    free(items);
    free(results);
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
    fprintf(stderr, "shrink: %u reductions kept in %u runs, %zu -> %zu bytes; still fails: expect %s\n",
            res.steps, res.runs, res.original_bytes, res.shrunk_bytes, res.expectation);
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
