/*
 * Parsed scenarios (internal to sim/): what scenario.c builds from a .scn
 * file, verdict.c judges and runner.c turns into a network. See
 * docs/scenarios.md. Code outside sim/ includes this header for the value
 * words and the service kinds too (values.h, services.h); the verdict of a
 * run is verdict.h.
 */
#ifndef TOFULAB_SIM_SCENARIO_H
#define TOFULAB_SIM_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "services.h"
#include "sim.h"
#include "values.h"

#define SCN_NAME_MAX 32 /* with the terminator */

/* ---- the scenario ---- */

/* A node the simulator hosts, or a real process (`tofulab run`, hosts/realrun.c). */
enum { SCN_NODE_SIM = 0, SCN_NODE_EXEC = 1, SCN_NODE_EXTERNAL = 2 };

typedef struct {
    char name[SCN_NAME_MAX];
    tl_sim_node_options opt; /* the keys given on its line */
    uint64_t mask;           /* which keys (bit per option key) */
    unsigned line;
    int real;                    /* SCN_NODE_* */
    char *command;               /* exec: the command, as between the quotes */
    char addr[TL_ADDR_TEXT_MAX]; /* external: its address; exec: addr= ("": a free port, {addr}) */
    uint64_t ready_ns;           /* exec: how long it may take to accept connections (ready=, 10s) */
} scn_node;

/* Swarm ranges in link words (`delay 5ms..50ms`, `loss 1%..10%`): the
 * tl_sim_link holds the lower bounds, hi the upper ones of the fields in
 * mask. Without swarm a range means its lower bound; with it each seed draws
 * a value in [lo, hi] (runner.c, scn_swarm_draw). */
enum { SW_DELAY = 1u, SW_JITTER = 2u, SW_LOSS = 4u, SW_CORRUPT = 8u, SW_DUPLICATE = 16u };

typedef struct {
    unsigned mask;
    tl_sim_link hi;
} scn_swarm;

typedef struct {
    int a, b; /* node index, -1 = `*` */
    int oneway;
    tl_sim_link p;
    scn_swarm sw;
    unsigned line;
} scn_link;

typedef struct {
    int node;
    char name[SCN_NAME_MAX];
    const scn_service_kind *kind;
    void *cfg;
    uint64_t start;
    unsigned line;
    char *args; /* the key=value words as written (name= and start= included), for tl_scn_write */
} scn_service;

typedef struct {
    uint64_t t;
    tl_sim_action action; /* 0 for a link change */
    int a, b;             /* node indexes; b = -1 for `*` */
    uint64_t arg;
    unsigned flags;
    int is_link;
    tl_sim_link link;
    scn_swarm sw;
    unsigned line;
} scn_action;

typedef enum {
    M_SENT = 1,
    M_ANSWERED,
    M_FAILED,
    M_ERRORS,
    M_SIGNALS,
    M_BYTES,
    M_CLOSED,
    M_LATENCY_MAX,
    M_LATENCY_MEAN,
    M_CLOSED_BY, /* node: closes for status `status` */
    M_DONE,      /* every service of the target finished */
    M_STATE,     /* node state (value: tl_sim_node_state) */
    M_INCARNATION,
    M_OPEN,      /* requests still waiting */
    M_ABANDONED, /* requests open when a crash killed the process */
    M_OUT_OF_ORDER,
    M_SUSPICIONS, /* heartbeat */
    M_FALSE_SUSPICIONS,
    M_DEATHS,
    M_CONNECT_FAILURES, /* clients: attempts that ended before the HelloResponse */
    M_RECONNECTS,       /* clients: channels opened again after a failure */
    /* network-wide (target `*`) */
    M_EVENTS,
    M_RETRANSMITS,
    M_TIMEOUTS,
    M_LOST,
    M_CORRUPTED,
    M_RESETS,
    M_CONNECTIONS,
    M_ACCEPTED,
    M_ABORTED,
    M_PROBES,
    M_DELIVERED
} scn_metric;

typedef enum { OP_EQ = 1, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } scn_op;

typedef struct {
    int node;    /* -1: the whole network (`*`) */
    int service; /* index into services, -1: every service of the node */
    scn_metric metric;
    unsigned status; /* M_CLOSED_BY */
    scn_op op;
    uint64_t value;
    int is_time;    /* value and actual printed as durations */
    int since_heal; /* `... since heal`: the metric's growth from the end of the faults to the end */
    int progress;   /* a progress expectation: it needs the faults to end (scn_expect_is_progress) */
    unsigned line;
    unsigned col;   /* of the metric word, for errors found after the parse */
    char text[160]; /* the expectation as written (after `expect` / `report`), for reports */
} scn_expect;

struct tl_scenario {
    char file[256];
    unsigned real_line; /* the first `node ... exec|external` line: real processes, `tofulab run` only */
    uint64_t seed_first, seed_last;
    uint64_t duration;
    tl_sim_node_options tcp; /* `tcp` defaults */
    uint64_t tcp_mask;
    scn_node *nodes;
    size_t nnodes;
    scn_link *links;
    size_t nlinks;
    scn_service *services;
    size_t nservices;
    scn_action *actions;
    size_t nactions;
    scn_expect *expects;
    size_t nexpects;
    scn_expect *reports; /* `report TARGET METRIC`: measured and printed, never asserted (op 0) */
    size_t nreports;
    /* `heal TIME`: every fault ends at heal_ns (TL_SIM_HEAL_ALL); 0 = no such line */
    uint64_t heal_ns;
    unsigned heal_line;
    /* When the faults end (computed after the parse, docs/scenarios.md "Safety
     * and liveness"): heal_ns with a `heal` line; else the time of the last
     * action (or the end of the last `partition ... for`), when no fault is
     * left at the end of the file's timeline. faults_end_known = 0: some fault
     * never ends; faults_line is the line of one such fault. */
    int faults_end_known;
    uint64_t faults_end_ns;
    unsigned faults_line;
    char faults_why[160]; /* "link client -> server loses, corrupts or duplicates" */
};

/* Apply the option keys in mask from src to dst. */
void scn_apply_options(tl_sim_node_options *dst, const tl_sim_node_options *src, uint64_t mask);
const char *scn_metric_name(scn_metric m);

/* The link a seed runs with: lo, or with swarm a value drawn per field of
 * sw->mask from the stream ("swarm", name, n) of the seed. */
void scn_swarm_draw(const tl_sim_link *lo, const scn_swarm *sw, int swarm, uint64_t seed, const char *name,
                    uint64_t n, tl_sim_link *out);
/* The stream names of link i and of action i (for scn_swarm_draw). */
void scn_link_stream(const tl_scenario *scn, size_t i, char *name, size_t cap);
void scn_action_stream(const tl_scenario *scn, size_t i, char *name, size_t cap);

/* The link words of text alone (" delay 5ms loss 1%"), as on a `link` line
 * after its node names; no ranges. 0, or -1 with err (line 1, column in
 * text) filled. */
int scn_parse_link_words(const char *text, size_t len, tl_sim_link *out, int *oneway, tl_scn_error *err);

/* The netem words of a link (" delay 5ms loss 1%"), as tl_scn_write writes them. */
void scn_write_link_words(FILE *f, const tl_sim_link *l);

#endif /* TOFULAB_SIM_SCENARIO_H */
