/*
 * tofulab sim: the deterministic virtual network (ARCHITECTURE.md 1, 4).
 *
 * A discrete-event simulator that hosts the REAL engine core
 * (tofulab/engine.h) on virtual stream sockets: a virtual clock in
 * nanoseconds, events ordered by (time, sequence number), idle time skipped,
 * every random choice drawn from one seed. Nodes run application services
 * (patterns/service.h) through tl_svc_env; links between nodes model latency,
 * jitter, bandwidth, loss (random or Gilbert-Elliott), corruption and
 * partitions in netem's vocabulary; a small TCP model (handshake, windows,
 * cumulative ACKs over the reverse link, RTO with exponential backoff, fast
 * retransmit, FIN/RST) carries the bytes. Nodes crash, die silently, pause,
 * resume and restart.
 *
 * Every run writes a canonical trace, one line per event:
 *
 *   <s>.<ns:9> <node> ch=<channel> <event> [details]
 *   12.000345000 client1 ch=4821 send Request id=7 more=0 thl=0 bl=64
 *
 * and its 64-bit FNV-1a hash: same seed + same code = same hash. Optionally
 * every TCP connection goes to a pcap file (LINKTYPE_RAW IPv4, nanosecond
 * timestamps) that Wireshark and tshark read as real TCP streams.
 *
 * Scenario files (docs/scenarios.md) describe a whole run; tl_scn_* parse and
 * run them. Single-threaded; nothing here reads a wall clock.
 */
#ifndef TOFULAB_SIM_H
#define TOFULAB_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tofulab/engine.h"
#include "../patterns/service.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TL_SIM_NS_PER_MS        1000000ull
#define TL_SIM_NS_PER_S         1000000000ull
#define TL_SIM_NODE_NAME_MAX    31u /* bytes of a node name, without the terminator */
#define TL_SIM_SERVICE_NAME_MAX 31u
#define TL_SIM_PPB              1000000000u      /* probabilities are parts per 10^9 */
#define TL_SIM_JITTER_MAX       3600000000000ull /* jitter is capped at 1 h */

typedef struct tl_sim tl_sim;

/* ---- links (one direction) ---- */

typedef enum {
    TL_SIM_DIST_UNIFORM = 0, /* delay +- jitter, uniform */
    TL_SIM_DIST_NORMAL = 1,  /* jitter is the standard deviation (Irwin-Hall, 12 terms, +-6 sd) */
    TL_SIM_DIST_PARETO = 2,  /* Pareto alpha 3, standardised (mean 0, sd 1) times jitter; tail cut at 2^-20 */
    TL_SIM_DIST_PARETONORMAL = 3 /* 1/4 normal + 3/4 Pareto (as netem mixes them), rescaled to sd 1 */
} tl_sim_dist;

typedef enum {
    TL_SIM_LOSS_NONE = 0,
    TL_SIM_LOSS_RANDOM = 1, /* each segment lost with probability loss_ppb */
    TL_SIM_LOSS_GEMODEL = 2 /* Gilbert-Elliott: ge_p good->bad, ge_r bad->good, loss 1-h / 1-k */
} tl_sim_loss_model;

typedef struct {
    uint64_t delay_ns;  /* one-way latency */
    uint64_t jitter_ns; /* spread around delay_ns (see tl_sim_dist); the result is clamped at 0 */
    tl_sim_dist distribution;
    uint64_t rate_bps; /* bandwidth in bit/s (IPv4 + TCP headers counted); 0 = unlimited */
    uint32_t limit;    /* queue limit in packets when rate_bps is set (netem's limit); 0 = 1000 */
    tl_sim_loss_model loss;
    uint32_t loss_ppb;         /* RANDOM: loss probability */
    uint32_t ge_p_ppb;         /* GEMODEL: good -> bad transition probability per segment */
    uint32_t ge_r_ppb;         /* GEMODEL: bad -> good */
    uint32_t ge_bad_loss_ppb;  /* GEMODEL: 1-h, loss in the bad state (netem default 100 %) */
    uint32_t ge_good_loss_ppb; /* GEMODEL: 1-k, loss in the good state (default 0) */
    uint32_t corrupt_ppb;   /* a delivered segment with payload gets one byte flipped (past the checksum) */
    uint32_t duplicate_ppb; /* a segment is delivered twice */
} tl_sim_link;

/* An ideal link: no delay, no faults. */
void tl_sim_link_defaults(tl_sim_link *l);
/* The same link without its faults: delay, jitter, distribution, rate and
 * limit stay (the network's character); loss (every model), corruption and
 * duplication go. What `heal TIME` does to every link, and what a fault-free
 * control run uses. */
void tl_sim_link_clear_faults(tl_sim_link *l);
/* 1 if the link loses, corrupts or duplicates anything. */
int tl_sim_link_has_faults(const tl_sim_link *l);

/* ---- nodes ---- */

typedef enum {
    TL_SIM_CHOP_FULL = 0,  /* as large as allowed (MSS, window, buffer, bytes available) */
    TL_SIM_CHOP_RANDOM = 1 /* a random size between 1 and that */
} tl_sim_chop;

typedef struct {
    /* TCP model */
    uint32_t mss;            /* largest segment payload; 1 gives 1-byte segments. Default 1460 */
    uint32_t sndbuf;         /* send buffer bytes (short writes when full). Default 65536 */
    uint32_t rcvbuf;         /* receive buffer bytes = the largest advertised window. Default 65536 */
    tl_sim_chop segments;    /* segment sizes */
    tl_sim_chop writes;      /* bytes a write() accepts from the engine's gather list */
    tl_sim_chop reads;       /* bytes a read() hands to the engine */
    uint64_t rto_min_ns;     /* default 200 ms */
    uint64_t rto_max_ns;     /* default 120 s */
    uint64_t rto_initial_ns; /* before any RTT sample (SYN, SYN-ACK). Default 1 s */
    uint32_t retries;        /* retransmissions of data before the connection aborts. Default 15 */
    uint32_t syn_retries;    /* SYN retransmissions before connect fails. Default 6 */
    uint32_t synack_retries; /* default 5 */
    uint32_t backlog;        /* listen backlog (half-open + not yet accepted). Default 1024 */
    int close_fin;           /* close with FIN even when the engine asks for RST (a non-tofu peer) */
    /* engine options (tl_engine_options) */
    uint16_t pool_initial; /* 0 = engine default (16) */
    uint16_t pool_max;     /* 0 = engine default (64) */
    uint64_t connect_timeout_ns;
    uint64_t bye_grace_ns;
    int strict_bye;
} tl_sim_node_options;

void tl_sim_node_defaults(tl_sim_node_options *o);

typedef enum {
    TL_SIM_NODE_UP = 0,
    TL_SIM_NODE_PAUSED = 1, /* process stopped; its kernel still ACKs and buffers */
    TL_SIM_NODE_DOWN = 2,   /* process dead (crash); the kernel answers with RST */
    TL_SIM_NODE_DEAD = 3    /* host vanished (silent death): nothing answers */
} tl_sim_node_state;

/* ---- services ---- */

/* Creates a fresh instance of a service (at start and at every restart). */
typedef int (*tl_sim_service_create)(void *arg, tl_service **out);

/* ---- the simulator ---- */

typedef struct {
    uint64_t seed;
    FILE *trace; /* optional: every trace line is written here */
    FILE *pcap;  /* optional: every TCP segment as an IPv4 packet (global header written at create) */
    /* optional: every trace line (without the newline) */
    void (*on_trace)(void *ctx, const char *line, size_t len);
    void *trace_ctx;
} tl_sim_options;

int tl_sim_create(const tl_sim_options *opt, tl_sim **out);
/* Destroys services (their final reports are kept until here), engines,
 * sockets, everything. */
void tl_sim_destroy(tl_sim *sim);

/* Nodes are numbered from 0 in order of creation; node N has the address
 * 10.0.0.(N+1) (10.x.y.z beyond 254). Names: 1-31 of [A-Za-z0-9_.-], unique.
 * opt NULL = defaults. TL_E_INVAL (name), TL_E_STATE (already running). */
int tl_sim_node_add(tl_sim *sim, const char *name, const tl_sim_node_options *opt, uint32_t *id);
/* Node by name; -1 if none. */
int tl_sim_node_find(const tl_sim *sim, const char *name);
const char *tl_sim_node_name(const tl_sim *sim, uint32_t node);
uint32_t tl_sim_node_count(const tl_sim *sim);

/* One direction of a link (from == to: the node's loopback). Takes effect
 * for segments sent from now on. */
int tl_sim_link_set(tl_sim *sim, uint32_t from, uint32_t to, const tl_sim_link *l);
/* The parameters of every link not set explicitly with tl_sim_link_set
 * (loopbacks excluded: they stay ideal unless set). */
int tl_sim_link_set_default(tl_sim *sim, const tl_sim_link *l);

/* A service on a node, started start_delay_ns after the node (re)starts.
 * name (optional, NULL = the service's ops->name) names it in the trace.
 * arg must outlive the simulator. *id: services are numbered from 0. */
int tl_sim_service_add(tl_sim *sim, uint32_t node, const char *name, tl_sim_service_create create, void *arg,
                       uint64_t start_delay_ns, uint32_t *id);
uint32_t tl_sim_service_count(const tl_sim *sim);
uint32_t tl_sim_service_node(const tl_sim *sim, uint32_t svc);
const char *tl_sim_service_name(const tl_sim *sim, uint32_t svc);
/* The live instance (NULL while its node is down, before it starts). */
tl_service *tl_sim_service_get(tl_sim *sim, uint32_t svc);
/* Counters summed over every incarnation (latency_max: the largest;
 * first_error: the first). Live instances are asked now. */
int tl_sim_service_report(tl_sim *sim, uint32_t svc, tl_svc_report *out);
/* 1 if the live instance finished (on_message returned 1, done set, or
 * start failed). */
int tl_sim_service_done(const tl_sim *sim, uint32_t svc);

/* ---- faults and life cycle ---- */

typedef enum {
    TL_SIM_CRASH = 1,        /* process dies: services + engine destroyed, peers get RST */
    TL_SIM_SILENT_DEATH = 2, /* host vanishes: no RST, no ACK, segments to it are dropped */
    TL_SIM_PAUSE = 3,        /* process stops (no reads, writes, services, timers); the kernel keeps ACKing */
    TL_SIM_RESUME = 4,
    TL_SIM_RESTART = 5,       /* (crash if running, then) a fresh engine and fresh services */
    TL_SIM_STOP_LISTENER = 6, /* close listening sockets under the engine (arg: port, 0 = all) */
    TL_SIM_PARTITION =
        7, /* a -> b (and b -> a unless flags & ONEWAY) drops everything; arg: duration, 0 = until healed */
    TL_SIM_HEAL = 8, /* a <-> b partition ends (both directions) */
    /* every fault ends (a and b ignored): every link, the default included,
     * keeps its delay, jitter, distribution, rate and limit but loses its
     * loss, corruption and duplication (tl_sim_link_clear_faults); every
     * partition heals; every paused node resumes. Crashed and vanished nodes
     * stay down: a death is an event, not a fault that heals. The scenario
     * directive `heal TIME` (docs/scenarios.md, the liveness phase). */
    TL_SIM_HEAL_ALL = 9
} tl_sim_action;

#define TL_SIM_ONEWAY    1u
#define TL_SIM_ALL_NODES UINT32_MAX /* partition/heal: b = every other node */

/* Schedule an action at absolute virtual time t (>= now). */
int tl_sim_at(tl_sim *sim, uint64_t t, tl_sim_action action, uint32_t a, uint32_t b, uint64_t arg,
              unsigned flags);
/* Do it now (from a callback, or before tl_sim_run). */
int tl_sim_act(tl_sim *sim, tl_sim_action action, uint32_t a, uint32_t b, uint64_t arg, unsigned flags);
/* Change one direction of a link at time t. */
int tl_sim_at_link(tl_sim *sim, uint64_t t, uint32_t from, uint32_t to, const tl_sim_link *l);
/* Call fn(sim, arg) at time t (tests). */
int tl_sim_call_at(tl_sim *sim, uint64_t t, void (*fn)(tl_sim *sim, void *arg), void *arg);

/* Process events in (time, sequence) order until the queue is empty or the
 * next event is later than until_ns; afterwards the clock reads until_ns
 * (unless UINT64_MAX: then the time of the last event). Idle time costs
 * nothing. May be called again with a later time. TL_OK, TL_E_NOMEM (the run
 * is broken), TL_E_STATE (after a failure or tl_sim_finish). */
int tl_sim_run(tl_sim *sim, uint64_t until_ns);
/* Write the closing trace line ("end") once; tl_sim_destroy does it too. */
void tl_sim_finish(tl_sim *sim);

uint64_t tl_sim_now(const tl_sim *sim);
uint64_t tl_sim_trace_hash(const tl_sim *sim);
tl_sim_node_state tl_sim_node_state_get(const tl_sim *sim, uint32_t node);
/* The node's current engine (NULL while down), e.g. for tl_engine_check. */
tl_engine *tl_sim_node_engine(tl_sim *sim, uint32_t node);

typedef struct {
    uint64_t events; /* events processed */
    uint64_t trace_lines;
    uint64_t segments_sent;  /* every transmission, retransmissions included */
    uint64_t data_segments;  /* of which carry payload */
    uint64_t retransmits;    /* RTO and fast retransmissions (segments) */
    uint64_t timeouts;       /* RTO expiries */
    uint64_t lost_random;    /* dropped by the loss model */
    uint64_t lost_queue;     /* tail drops (bandwidth queue full) */
    uint64_t lost_partition; /* dropped by a partition */
    uint64_t lost_dead;      /* sent to a host that has vanished */
    uint64_t corrupted;      /* segments with a flipped byte */
    uint64_t duplicated;
    uint64_t duplicates_dropped; /* bytes received twice and discarded */
    uint64_t challenge_acks;     /* segments discarded for acknowledging unsent data */
    uint64_t out_of_order;       /* segments held until the gap was filled */
    uint64_t resets_sent;
    uint64_t connections; /* connects started */
    uint64_t accepted;    /* connections handed to an engine */
    uint64_t aborted;     /* connections aborted by retransmission exhaustion */
    uint64_t zero_window_probes;
    uint64_t bytes_delivered;    /* payload bytes delivered in order to receive buffers */
    uint64_t pcap_records;       /* packets written to the pcap file */
    uint64_t messages_delivered; /* messages handed to services */
    uint64_t messages_posted;    /* successful posts by services */
    uint64_t
        oracle_violations; /* host oracles: per-channel FIFO, channel_closed once, last and never missing */
} tl_sim_stats;

void tl_sim_get_stats(const tl_sim *sim, tl_sim_stats *out);

/* The first violation of the host oracles (NULL if none): every application
 * message (Request, Response, Signal) a service receives on a channel was
 * posted by the peer's service on its channel, in the order posted, once
 * (skipped when a link corrupts); channel_closed reaches a service at most
 * once per channel and no peer message follows it; at tl_sim_finish, every
 * channel a live service saw and its engine closed has had its
 * channel_closed delivered (unless the service finished or messages still
 * wait in its group). */
const char *tl_sim_oracle_error(const tl_sim *sim);

typedef struct {
    tl_sim_node_state state;
    uint32_t incarnation; /* 1 at the first start, +1 per restart */
    uint32_t sockets;     /* open connection endpoints */
    uint32_t listeners;
    uint64_t sndbuf_bytes;               /* bytes waiting in send buffers (unacknowledged included) */
    uint64_t rcvbuf_bytes;               /* bytes waiting in receive buffers (unread) */
    uint64_t bytes_written;              /* engine -> socket */
    uint64_t bytes_read;                 /* socket -> engine */
    uint64_t closed_by[TL_STATUS_COUNT]; /* channel closes by reason (see closed-by in docs/scenarios.md) */
} tl_sim_node_stats;

int tl_sim_node_stats_get(const tl_sim *sim, uint32_t node, tl_sim_node_stats *out);

/* Deterministic generator helpers (xoshiro256**, seeded through splitmix64),
 * exposed for the tools built on the simulator. */
typedef struct {
    uint64_t s[4];
} tl_sim_prng;

/* Stream for (seed, kind, name, n): splitmix64 of seed ^ FNV-1a(kind ":" name "#" n). */
void tl_sim_prng_init(tl_sim_prng *p, uint64_t seed, const char *kind, const char *name, uint64_t n);
uint64_t tl_sim_prng_next(tl_sim_prng *p);
uint64_t tl_sim_fnv1a(uint64_t h, const void *data, size_t len);
#define TL_SIM_FNV_OFFSET 0xcbf29ce484222325ull

/* ---- scenarios (docs/scenarios.md) ---- */

typedef struct tl_scenario tl_scenario;

typedef struct {
    char file[256];
    unsigned line;     /* 1-based; 0 = not about a line */
    unsigned column;   /* 1-based */
    char message[400]; /* "expected ..., got '...'" */
} tl_scn_error;

/* Parse a whole scenario; nothing is run. TL_OK, TL_E_INVAL (err filled),
 * TL_E_NOMEM. file names the text in error messages. */
int tl_scn_parse(const char *text, size_t len, const char *file, tl_scenario **out, tl_scn_error *err);
/* Read and parse a file; TL_E_IO if it cannot be read (err says why). */
int tl_scn_load(const char *path, tl_scenario **out, tl_scn_error *err);
void tl_scn_free(tl_scenario *scn);
/* The `seeds` range (default 1..1). */
void tl_scn_seeds(const tl_scenario *scn, uint64_t *first, uint64_t *last);
uint64_t tl_scn_duration(const tl_scenario *scn);

typedef struct {
    FILE *trace;   /* optional */
    FILE *pcap;    /* optional */
    FILE *summary; /* optional: human summary lines (per node and expectation) */
    FILE *json;    /* optional: one JSON object for this run */
    void (*on_trace)(void *ctx, const char *line, size_t len);
    void *trace_ctx;
    int swarm; /* draw the link ranges (`loss 1%..10%`) per seed; 0: a range means its lower bound */
} tl_scn_run_options;

typedef struct {
    int passed; /* every expectation held */
    unsigned expectations;
    unsigned failed; /* expectations that did not hold */
    uint64_t trace_hash;
    uint64_t end_ns; /* virtual time at the end */
    tl_sim_stats stats;
    char first_failure[256]; /* "file:line: expect ... (actual ...)" */
    /* the values of the file's `report` lines, in order (the first
     * TL_SCN_REPORTS_MAX of them): measured, never asserted */
#define TL_SCN_REPORTS_MAX 32
    unsigned reports;
    uint64_t report_value[TL_SCN_REPORTS_MAX];
} tl_scn_result;

/* The i-th `report` line of a scenario: its text as written (after `report`)
 * and whether its value is a duration (ns). NULL past the last. */
const char *tl_scn_report_text(const tl_scenario *scn, size_t i, int *is_time);

/* The declared nodes, in order (lanes of tl_html). */
size_t tl_scn_node_count(const tl_scenario *scn);
const char *tl_scn_node_name(const tl_scenario *scn, size_t i);
/* Whether any link of the scenario declares a swarm range. */
int tl_scn_has_ranges(const tl_scenario *scn);

/* Write the scenario back as scenario text (one directive a line, canonical
 * units, comments dropped) that tl_scn_parse reads to the same network.
 * Flags: TL_SCN_WRITE_SEED: the seeds line is `seeds SEED`;
 * TL_SCN_WRITE_DRAW: every swarm range is replaced by the value SEED draws
 * with swarm on. TL_OK or TL_E_IO. */
#define TL_SCN_WRITE_SEED 1u
#define TL_SCN_WRITE_DRAW 2u
int tl_scn_write(const tl_scenario *scn, FILE *out, unsigned flags, uint64_t seed);

/* Build the network for one seed, run it for the scenario's duration, check
 * its expectations. TL_OK (see res->passed), TL_E_NOMEM, or another error
 * from building the network. */
int tl_scn_run(const tl_scenario *scn, uint64_t seed, const tl_scn_run_options *opt, tl_scn_result *res);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_SIM_H */
