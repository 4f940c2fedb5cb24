/*
 * Parsed scenarios (internal to sim/): what scenario.c builds from a .scn
 * file and runner.c turns into a network. See docs/scenarios.md.
 */
#ifndef TOFULAB_SIM_SCENARIO_H
#define TOFULAB_SIM_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"

#define SCN_NAME_MAX 32 /* with the terminator */

/* ---- service kinds (services.c) ---- */

enum { SCN_KEY_OK = 0, SCN_KEY_UNKNOWN = -1, SCN_KEY_BAD = -2 };

/* How a key's value is read. */
typedef enum {
    SCN_K_ADDR,  /* one address; the field is the pattern's `const char *` */
    SCN_K_ADDRS, /* addresses separated by commas, repeatable, MAX 8 in all (no field) */
    SCN_K_TIME,  /* a time with a unit, in [min, max] ns; the field is uint64_t */
    SCN_K_UINT,  /* a decimal count in [min, max]; the field is any unsigned integer */
    SCN_K_RANGE, /* N or A..B, B at most max; two fields of the same type (off, off2) */
    SCN_K_BOOL   /* on/off yes/no true/false 1/0; the field is int */
} scn_key_type;

/* One key of a service kind: its value goes to the field at `off` (`size`
 * bytes) of the pattern's configuration (patterns/STAR.h) inside the kind's
 * cfg. A bad value: "expected EXPECTED for KEY", EXPECTED being `expected`,
 * followed by max when expected_max. */
typedef struct {
    const char *name;
    scn_key_type type;
    size_t off, size;
    size_t off2; /* SCN_K_RANGE: the upper end's field */
    uint64_t min, max;
    const char *expected;
    int expected_max;
} scn_key;

typedef struct {
    const char *name;
    const char *alias;  /* or NULL */
    const char *keys;   /* for messages: "listen=ADDR[,ADDR...] budget=N" (the table's keys in order) */
    int listens;        /* its addresses are listen addresses (on its own node) */
    size_t cfg_size;    /* the cfg scn_service_new allocates */
    size_t pattern_off; /* where the pattern's configuration is in the cfg */
    const scn_key *table;
    size_t ntable;
    void (*init)(void *cfg);      /* the defaults, or NULL */
    tl_sim_service_create create; /* arg = the cfg */
} scn_service_kind;

const scn_service_kind *scn_service_kind_find(const char *name);
/* The i-th kind, NULL past the last. */
const scn_service_kind *scn_service_kind_at(size_t i);
/* "echo, request-response (rr), echo-client" */
const char *scn_service_kind_list(void);

/* A kind's configuration, with its defaults; NULL without memory. */
void *scn_service_new(const scn_service_kind *k);
/* One key=value. SCN_KEY_OK, SCN_KEY_UNKNOWN, or SCN_KEY_BAD with what was
 * expected in `expected`. */
int scn_service_set(const scn_service_kind *k, void *cfg, const char *key, const char *value, char *expected,
                    size_t cap);
/* After all keys: 0, or -1 with what is missing in `expected`. */
int scn_service_check(const scn_service_kind *k, const void *cfg, char *expected, size_t cap);
/* Every address the service uses, for the parser's host check. */
size_t scn_service_addresses(const scn_service_kind *k, const void *cfg, const char **out, size_t max);
void scn_service_free(const scn_service_kind *k, void *cfg);

/* ---- the scenario ---- */

typedef struct {
    char name[SCN_NAME_MAX];
    tl_sim_node_options opt; /* the keys given on its line */
    uint64_t mask;           /* which keys (bit per option key) */
    unsigned line;
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

/* Value parsers shared by the parser and the service kinds (0 ok, -1 bad). */
int scn_parse_u64(const char *text, size_t len, uint64_t *out);  /* decimal, no sign */
int scn_parse_time(const char *text, size_t len, uint64_t *out); /* 1.5s 20ms 30us 100ns 2m 1h */
int scn_parse_bool(const char *text, size_t len, int *out);      /* on off yes no true false 1 0 */
int scn_parse_range(const char *text, size_t len, uint64_t *lo, uint64_t *hi); /* N or A..B */

/* A duration for people, rounded to 3 decimals: 61.979ms, 1.438s, 250us, 0s. */
void scn_format_time(char *out, size_t cap, uint64_t ns);

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

/* The netem words of a link (" delay 5ms loss 1%"), as tl_scn_write writes them. */
void scn_write_link_words(FILE *f, const tl_sim_link *l);

/* Metrics by kind of service (scn_service_metric_group): which counters a
 * service reports, so that an expectation on a node that runs no service
 * reporting that metric is an error at parse time. */
enum { SCN_MG_CLIENT = 1u, SCN_MG_SERVER = 2u, SCN_MG_HEARTBEAT = 4u };
unsigned scn_service_metric_group(const scn_service_kind *k);

/* tl_scn_run, and expect_failed[i] (if not NULL, nexpects bytes) = 1 when
 * expectation i did not hold. */
int scn_run(const tl_scenario *scn, uint64_t seed, const tl_scn_run_options *opt, tl_scn_result *res,
            unsigned char *expect_failed);

#endif /* TOFULAB_SIM_SCENARIO_H */
