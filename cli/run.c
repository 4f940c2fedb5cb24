/*
 * `tofulab run FILE.scn`: a scenario whose nodes include real processes
 * (`node NAME exec "COMMAND"`, `node NAME external ADDR`), on real sockets
 * through the fault proxy (hosts/realrun.h, docs/proxy.md).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../hosts/realrun.h"
#include "../sim/scenario.h"

#define RUN_MAX_OVERRIDES 64

static const char run_usage[] =
    "usage: tofulab run FILE.scn [--exec NODE=COMMAND]... [--external NODE=ADDR]... [--seed N]\n"
    "                   [--trace FILE] [--pcap FILE] [--json FILE] [--junit FILE] [--logs DIR]\n"
    "                   [--verbose]\n"
    "\n"
    "Runs a scenario whose nodes include real processes on real sockets, in real time.\n"
    "A file declares them with\n"
    "  node NAME exec \"COMMAND\" [addr=ADDR] [ready=TIME]   tofulab spawns COMMAND (sh -c)\n"
    "  node NAME external ADDR                            already running at ADDR\n"
    "and its other nodes run tofulab's client patterns (its `service` lines) on the\n"
    "POSIX host; they connect to a real node through a built-in fault proxy that\n"
    "carries the file's `link` between them and its faults: crash is SIGKILL (the node\n"
    "refuses connections until restarted), pause/resume are SIGSTOP/SIGCONT, restart\n"
    "respawns COMMAND on the same address, silent-death and partition are blackholes\n"
    "in the proxy, `at ... link` changes the proxy's link, `heal TIME` ends the faults.\n"
    "Every client-side oracle of the simulator checks the run: the file's\n"
    "expectations, request accounting (nothing lost silently, each request ends once),\n"
    "per-channel FIFO and channel_closed once (against what the proxy saw the peer\n"
    "write), the heartbeat pattern's detection bound, and after `heal` (or the last\n"
    "fault) the liveness oracle. `tofulab sim run` refuses such files.\n"
    "\n"
    "In COMMAND, {tofulab} is this tofulab, {addr} the address the node listens on\n"
    "(quoted; a free port on 127.0.0.1 unless addr= gives one), {port} {host} {path}\n"
    "its parts, {node} its name, {incarnation} 1, 2, ... (restarts), {logs} the logs\n"
    "directory. A node must accept connections within ready= (default 10s). Its output\n"
    "goes to LOGS/NODE.log; the run's trace (runner events and the proxy's line per\n"
    "frame) to LOGS/trace.txt unless --trace. Without --logs the directory is a fresh\n"
    "one under $TMPDIR, removed when the run passes and named when it fails.\n"
    "\n"
    "options:\n"
    "  --exec NODE=COMMAND   run NODE as COMMAND instead of the file's (point the file's\n"
    "                        faults at your own server)\n"
    "  --external NODE=ADDR  NODE is already running at ADDR\n"
    "  --seed N              the proxy's and the services' random choices (default: the\n"
    "                        first of the file's seeds); real time is not reproducible\n"
    "  --trace FILE          the trace ('-' = standard output)\n"
    "  --pcap FILE           the proxied connections as TCP streams\n"
    "  --json FILE           one JSON object, as `sim run --json` writes a run\n"
    "  --junit FILE          a JUnit XML report (one testcase)\n"
    "  --logs DIR            where the processes' output goes (kept)\n"
    "  --verbose             the services' log lines on stderr\n"
    "\n"
    "Heartbeats faster than real time: run the peer under libfaketime, e.g.\n"
    "  node server exec \"faketime -f '+0 x10' {tofulab} serve --listen {addr} \\\n"
    "      --pattern heartbeat-server --interval 10s --timeout 30s\"\n"
    "(10 fake seconds pass in one real second; give tofulab's client real-time values).\n"
    "\n"
    "exit status: 0 every expectation and oracle held; 1 something failed (the summary\n"
    "names each failed check; the logs are kept), or SIGINT/SIGTERM stopped the run (its\n"
    "processes are killed); 2 usage error, a bad file, a file the\n"
    "real runner cannot honour, or a command that cannot be spawned or dies at once.\n"
    "\n"
    "examples:\n"
    "  tofulab run scenarios-real/crash-restart.scn\n"
    "  tofulab run scenarios-real/crash-restart.scn --exec server='./my-server --port {port}'\n"
    "  tofulab run scenarios-real/partition-heal.scn --external server='tcp|127.0.0.1|7099' \\\n"
    "      --trace run.trace --junit run.xml\n";

static volatile sig_atomic_t run_stop;

static void run_on_signal(int sig)
{
    (void)sig;
    run_stop = 1;
}

static void xml_str(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') {
                fputc('?', f);
            } else {
                fputc(*s, f);
            }
        }
    }
}

static FILE *open_out(const char *path, const char *mode, const char *what)
{
    if (strcmp(path, "-") == 0) {
        return stdout;
    }
    FILE *f = fopen(path, mode);
    if (f == NULL) {
        cli_error("run: --%s %s: cannot open: %s", what, path, strerror(errno));
    }
    return f;
}

static void close_out(FILE *f)
{
    if (f != NULL && f != stdout) {
        fclose(f);
    }
}

int cli_run_main(int argc, char **argv)
{
    const char *file = NULL, *trace_path = NULL, *pcap_path = NULL, *json_path = NULL, *junit_path = NULL;
    const char *logs = NULL;
    const char *execs[RUN_MAX_OVERRIDES], *externals[RUN_MAX_OVERRIDES];
    size_t nexec = 0, next = 0;
    uint64_t seed = 0;
    int have_seed = 0, verbose = 0;
    char q[300];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(run_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            verbose = 1;
            continue;
        }
        if (a[0] == '-' && a[1] != '\0') {
            if (i + 1 >= argc) {
                cli_error("run: %s needs a value; run 'tofulab run --help'",
                          cli_quote(a, strlen(a), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (strcmp(a, "--seed") == 0) {
                if (cli_parse_u64(v, UINT64_MAX, &seed) != 0) {
                    cli_error("run: --seed expects a whole number, got '%s'",
                              cli_quote(v, strlen(v), q, sizeof q));
                    return CLI_EXIT_USAGE;
                }
                have_seed = 1;
            } else if (strcmp(a, "--exec") == 0 || strcmp(a, "--external") == 0) {
                int ex = strcmp(a, "--exec") == 0;
                if ((ex ? nexec : next) == RUN_MAX_OVERRIDES) {
                    cli_error("run: at most %d %s options", RUN_MAX_OVERRIDES, a);
                    return CLI_EXIT_USAGE;
                }
                if (ex) {
                    execs[nexec++] = v;
                } else {
                    externals[next++] = v;
                }
            } else if (strcmp(a, "--trace") == 0) {
                trace_path = v;
            } else if (strcmp(a, "--pcap") == 0) {
                pcap_path = v;
            } else if (strcmp(a, "--json") == 0) {
                json_path = v;
            } else if (strcmp(a, "--junit") == 0) {
                junit_path = v;
            } else if (strcmp(a, "--logs") == 0) {
                logs = v;
            } else {
                cli_error("run: unknown option '%s'; run 'tofulab run --help'",
                          cli_quote(a, strlen(a), q, sizeof q));
                return CLI_EXIT_USAGE;
            }
        } else if (file == NULL) {
            file = a;
        } else {
            cli_error("run: one scenario file only, got also '%s'", cli_quote(a, strlen(a), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
    }
    if (file == NULL) {
        cli_error("run: missing scenario file; run 'tofulab run --help'");
        return CLI_EXIT_USAGE;
    }
    if (pcap_path != NULL && strcmp(pcap_path, "-") == 0) {
        cli_error("run: --pcap needs a file name (binary output)");
        return CLI_EXIT_USAGE;
    }
    tl_scenario *scn = NULL;
    tl_scn_error err;
    int rc = tl_scn_load(file, &scn, &err);
    if (rc != TL_OK) {
        if (err.line > 0) {
            cli_error("%s:%u:%u: %s", err.file, err.line, err.column, err.message);
        } else {
            cli_error("%s: %s", err.file, err.message[0] ? err.message : tl_strerror(rc));
        }
        return CLI_EXIT_USAGE;
    }
    char self[1024];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) {
        snprintf(self, sizeof self, "tofulab");
    } else {
        self[sl] = '\0';
    }
    tl_real_options ro;
    memset(&ro, 0, sizeof ro);
    ro.seed = seed;
    ro.have_seed = have_seed;
    ro.logs = logs;
    ro.tofulab = self;
    ro.exec = execs;
    ro.nexec = nexec;
    ro.external = externals;
    ro.nexternal = next;
    ro.verbose = verbose;
    ro.summary = stdout;
    if (tl_real_check(scn, &ro, &err) != TL_OK) {
        if (err.line > 0) {
            cli_error("%s:%u:%u: %s", err.file, err.line, err.column, err.message);
        } else {
            cli_error("%s: %s", file, err.message);
        }
        tl_scn_free(scn);
        return CLI_EXIT_USAGE;
    }
    FILE *trace = NULL, *pcap = NULL, *json = NULL, *junit = NULL;
    if ((trace_path && (trace = open_out(trace_path, "w", "trace")) == NULL) ||
        (pcap_path && (pcap = open_out(pcap_path, "wb", "pcap")) == NULL) ||
        (json_path && (json = open_out(json_path, "w", "json")) == NULL) ||
        (junit_path && (junit = open_out(junit_path, "w", "junit")) == NULL)) {
        close_out(trace);
        close_out(pcap);
        close_out(json);
        tl_scn_free(scn);
        return CLI_EXIT_USAGE;
    }
    if (pcap) {
        tl_sim_pcap_header(pcap);
    }
    ro.trace = trace;
    ro.pcap = pcap;
    ro.json = json;
    ro.stop = &run_stop;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = run_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    char dur[40];
    scn_format_time(dur, sizeof dur, tl_scn_duration(scn));
    printf("scenario: %s (real processes, seed %llu, duration %s)\n", file,
           (unsigned long long)(have_seed ? seed : scn->seed_first), dur);
    fflush(stdout);
    tl_real_result res;
    char rerr[1024];
    rc = tl_real_run(scn, &ro, &res, rerr, sizeof rerr);
    int exit_code;
    if (rc != TL_OK) {
        cli_error("%s", rerr[0] ? rerr : tl_strerror(rc));
        if (res.logs_kept && res.logs[0]) {
            printf("logs: %s\n", res.logs);
        }
        exit_code = rc == TL_E_CLOSED ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
    } else {
        if (res.logs_kept) {
            printf("logs: %s\n", res.logs);
        }
        if (!res.r.passed) {
            printf("first failure: %s\n", res.r.first_failure);
        }
        printf("trace-hash: %016llx\n", (unsigned long long)res.r.trace_hash);
        printf("result: %s\n", res.r.passed ? "PASS" : "FAIL");
        exit_code = res.r.passed ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
    if (json) {
        fputc('\n', json);
    }
    if (junit) {
        int failed = rc != TL_OK || !res.r.passed;
        fprintf(junit, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"");
        xml_str(junit, file);
        fprintf(junit, "\" tests=\"1\" failures=\"%d\" time=\"%.3f\">\n<testcase classname=\"", failed,
                (double)res.r.end_ns / 1e9);
        xml_str(junit, file);
        fprintf(junit, "\" name=\"real seed %llu\" time=\"%.3f\"", (unsigned long long)res.seed,
                (double)res.r.end_ns / 1e9);
        if (!failed) {
            fputs("/>\n", junit);
        } else {
            fputs("><failure message=\"", junit);
            xml_str(junit, rc != TL_OK ? rerr : res.r.first_failure);
            fputs("\">", junit);
            if (res.logs_kept) {
                fputs("logs: ", junit);
                xml_str(junit, res.logs);
            }
            fputs("</failure></testcase>\n", junit);
        }
        fputs("</testsuite>\n</testsuites>\n", junit);
    }
    close_out(trace);
    close_out(pcap);
    close_out(json);
    close_out(junit);
    tl_scn_free(scn);
    fflush(stdout);
    return exit_code;
}
