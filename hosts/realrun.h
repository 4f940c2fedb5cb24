/*
 * Scenarios with real processes on real sockets (`tofulab run`, docs/proxy.md
 * "Real-process scenarios").
 *
 * A scenario file whose nodes include `node NAME exec "COMMAND"` (spawned,
 * its output captured) or `node NAME external ADDR` (already running) runs
 * here instead of the simulator: tofulab's client patterns run on the POSIX
 * host as the file's other nodes, and connect to each real node through a
 * built-in fault proxy (hosts/proxy.h) that applies the file's links and
 * `at` faults. `crash` is SIGKILL, `pause`/`resume` SIGSTOP/SIGCONT,
 * `restart` respawns the command, `silent-death` and `partition` are
 * blackholes in the proxy, `heal TIME` ends the faults (links keep delay,
 * jitter and rate, lose loss and corruption; partitions heal; paused
 * processes resume). The run is checked as the simulator checks one
 * (sim/verdict.h scn_verdict): the file's expectations, request
 * accounting, the liveness oracle, the heartbeat pattern's detection bound,
 * and per-channel FIFO and channel_closed-once on every client channel
 * against what the proxy saw the peer write (sim/oracle.h).
 */
#ifndef TOFULAB_HOSTS_REALRUN_H
#define TOFULAB_HOSTS_REALRUN_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>

#include "../sim/sim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t seed;       /* the proxy's choices and the services' randomness; 0 = the file's first seed */
    int have_seed;       /* seed was given (0 can be a seed) */
    FILE *trace;         /* optional (default: LOGS/trace.txt) */
    FILE *pcap;          /* optional: the proxied connections */
    FILE *summary;       /* optional: the summary lines, as `sim run` writes them */
    FILE *json;          /* optional: one JSON object, as `sim run --json` writes a run */
    const char *logs;    /* the processes' output and the trace go to LOGS/NODE.log, LOGS/trace.txt;
                            NULL: a fresh directory under $TMPDIR, removed when the run passes */
    const char *tofulab; /* what {tofulab} stands for in commands */
    /* NODE=COMMAND: run NODE as this command instead (it becomes an exec node);
     * NODE=ADDR for external overrides */
    const char *const *exec;
    size_t nexec;
    const char *const *external;
    size_t nexternal;
    int verbose; /* service log lines on stderr too */
    /* optional, set by a signal handler: the run stops at once, its
     * processes are killed, tl_real_run returns TL_E_CLOSED */
    const volatile sig_atomic_t *stop;
} tl_real_options;

typedef struct {
    tl_scn_result r; /* passed, expectations, failed, first_failure, reports, trace_hash, end_ns */
    uint64_t seed;
    char logs[512]; /* where the logs are (if kept) */
    int logs_kept;
    unsigned spawns; /* processes started */
} tl_real_result;

/* Whether the file can run on real sockets with these overrides; TL_OK or
 * TL_E_INVAL with err naming the line and column (a crash of an external
 * node, a service on a real node, a listening service, a metric real
 * sockets do not show, ...). */
int tl_real_check(const tl_scenario *scn, const tl_real_options *opt, tl_scn_error *err);

/* Run it: spawn the exec nodes (each must accept connections within its
 * ready= time), start the proxy and the services, play the timeline in real
 * time for the file's duration, check. TL_OK (see res->r.passed) or an
 * error with err filled (a command that cannot be spawned or dies at once,
 * an address in use, ...). */
int tl_real_run(const tl_scenario *scn, const tl_real_options *opt, tl_real_result *res, char *err,
                size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_HOSTS_REALRUN_H */
