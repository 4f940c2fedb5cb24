/*
 * `tofulab sim run FILE.scn`: run a scenario on the deterministic virtual
 * network (sim/sim.h, docs/scenarios.md) and report.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sim/sim.h"
#include "cli.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: tofulab sim run FILE.scn [--seed N] [--trace FILE] [--pcap FILE] [--json FILE] [--verbose]\n"
        "\n"
        "Runs a scenario on the deterministic virtual network: the reference engine on virtual\n"
        "sockets, with the links, faults and services the file describes (docs/scenarios.md).\n"
        "Prints a summary ending with `trace-hash: <16 hex digits>` and `result: PASS` or\n"
        "`result: FAIL`. The same file and seed give the same trace hash, byte for byte.\n"
        "\n"
        "  --seed N       run this seed only (default: every seed of the file's `seeds` line)\n"
        "  --trace FILE   write the canonical trace, one line per event (`-`: standard output)\n"
        "  --pcap FILE    write every TCP connection as IPv4 packets (Wireshark, tshark); one seed only\n"
        "  --json FILE    write the results as one JSON object (`-`: standard output)\n"
        "  --verbose      print every seed's details, not only those that failed\n"
        "\n"
        "examples:\n"
        "  tofulab sim run scenarios/bench/rr-loss.scn --seed 7\n"
        "  tofulab sim run scenarios/request-response/crash.scn --seed 1 --trace - | less\n"
        "  tofulab sim run scenarios/request-response/basic.scn --seed 1 --pcap rr.pcap && tshark -r rr.pcap\n"
        "\n"
        "exit status: 0 every expectation held, 1 one failed (or the run broke), 2 bad scenario file\n"
        "or usage (one line: file:line:column: what was expected).\n");
}

typedef struct {
    uint64_t hash;
} combined;

static void on_line(void *ctx, const char *line, size_t len)
{
    combined *c = ctx;
    c->hash = tl_sim_fnv1a(c->hash, line, len);
    c->hash = tl_sim_fnv1a(c->hash, "\n", 1);
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

static int sim_run(int argc, char **argv)
{
    const char *file = NULL, *trace_path = NULL, *pcap_path = NULL, *json_path = NULL;
    uint64_t seed = 0;
    int have_seed = 0, verbose = 0;
    char q[300];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "--seed") == 0 || strcmp(a, "--trace") == 0 || strcmp(a, "--pcap") == 0 ||
            strcmp(a, "--json") == 0) {
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
                                             : &json_path;
            *dst = argv[++i];
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
    FILE *trace = NULL, *pcap = NULL, *json = NULL;
    if ((trace_path && (trace = open_out(trace_path, "w", "trace")) == NULL) ||
        (pcap_path && (pcap = open_out(pcap_path, "wb", "pcap")) == NULL) ||
        (json_path && (json = open_out(json_path, "w", "json")) == NULL)) {
        close_out(trace);
        close_out(pcap);
        tl_scn_free(scn);
        return CLI_EXIT_USAGE;
    }

    combined comb = {TL_SIM_FNV_OFFSET};
    tl_scn_run_options ro;
    memset(&ro, 0, sizeof ro);
    ro.trace = trace;
    ro.pcap = pcap;
    ro.json = json;
    ro.on_trace = on_line;
    ro.trace_ctx = &comb;
    uint64_t runs = 0, passed = 0;
    int broken = 0;
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
    close_out(trace);
    close_out(pcap);
    close_out(json);
    tl_scn_free(scn);
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
    cli_error("sim: unknown subcommand '%s'; run 'tofulab sim --help'",
              cli_quote(argv[1], strlen(argv[1]), q, sizeof q));
    return CLI_EXIT_USAGE;
}
