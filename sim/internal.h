/*
 * sim internals shared by the sim/ sources. Not installed, not for other modules.
 *
 * Ownership: the simulator owns nodes, links, services' slots, connections
 * and segments. A connection (two endpoints, client = ep[0], server = ep[1])
 * is reference-counted: open endpoints, segments in flight and scheduled TCP
 * timers each hold one reference, so a segment can always read the bytes it
 * carries from its sender's send buffer (segments reference ring-buffer bytes
 * by sequence number; nothing is copied until delivery).
 */
#ifndef TOFULAB_SIM_INTERNAL_H
#define TOFULAB_SIM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "oracle.h"
#include "sim.h"

/* ---- PRNG (prng.c) ---- */

typedef tl_sim_prng sim_prng;

uint64_t sim_splitmix64(uint64_t *state);
uint64_t sim_prng_next(sim_prng *p);
/* Uniform in [0, n); n > 0. */
uint64_t sim_prng_below(sim_prng *p, uint64_t n);
/* 1 with probability ppb / 10^9. */
int sim_prng_chance(sim_prng *p, uint32_t ppb);
/* Signed jitter offset in ns for a distribution and spread. */
int64_t sim_prng_jitter(sim_prng *p, tl_sim_dist dist, uint64_t jitter_ns);

/* ---- event heap (sched.c) ---- */

typedef enum {
    EV_SEGMENT = 1,  /* ptr: sim_seg arriving at its destination */
    EV_TCP_TIMER,    /* ptr: sim_conn, arg: dir | gen << 1 */
    EV_SVC_TIMER,    /* ptr: sim_node, arg: timer slot | incarnation << 32 */
    EV_ENGINE_TIMER, /* ptr: sim_node, arg: incarnation */
    EV_NODE_START,   /* ptr: sim_node, arg: incarnation */
    EV_SVC_START,    /* ptr: sim_svc, arg: incarnation of its node */
    EV_ACTION,       /* ptr: sim_action */
    EV_RESUME_WORK   /* ptr: sim_node, arg: incarnation: fire what waited during a pause */
} sim_event_kind;

typedef struct {
    uint64_t time;
    uint64_t seq;
    void *ptr;
    uint64_t arg;
    uint32_t kind;
} sim_event;

typedef struct {
    sim_event *v;
    size_t n;
    size_t cap;
    uint64_t next_seq;
} sim_heap;

int sim_heap_push(sim_heap *h, uint64_t time, uint32_t kind, void *ptr, uint64_t arg);
int sim_heap_pop(sim_heap *h, sim_event *out);
void sim_heap_free(sim_heap *h);

/* ---- byte ring (net.c) ---- */

typedef struct {
    uint8_t *buf;
    uint32_t cap;  /* physical capacity, grows up to the logical limit */
    uint32_t head; /* index of the first byte */
    uint32_t len;  /* bytes held from head (receive side: the extent written, holes included) */
} sim_ring;

/* ---- objects a channel number can name on a node ---- */

enum { OBJ_SOCK = 1, OBJ_LISTENER = 2 };

typedef struct sim_obj {
    uint8_t kind;
    uint8_t in_dirty;
    uint16_t channel; /* engine channel bound to it, 0 if none */
    uint8_t reported; /* the host reported its end to the engine (closed-by bookkeeping) */
    struct sim_obj *next_dirty;
} sim_obj;

struct sim_node;
struct sim_conn;

typedef struct sim_listener {
    sim_obj obj; /* first */
    struct sim_node *node;
    int uds;
    uint16_t port;
    char path[TL_ADDR_PATH_MAX + 1];
    int open;
    int error;        /* closed under the engine (listener stop): tell it */
    uint32_t embryos; /* half-open connections (SYN received) */
    uint32_t queued;  /* established, not yet accepted */
    struct sim_sock *acc_head, *acc_tail;
    struct sim_listener *next; /* node's list */
} sim_listener;

typedef enum {
    TCP_CLOSED = 0,
    TCP_SYN_SENT,
    TCP_SYN_RCVD,
    TCP_ESTABLISHED /* also after FINs: see fin_* flags */
} tcp_state;

enum { TIMER_NONE = 0, TIMER_RTO, TIMER_PERSIST };

#define SIM_OOO_MAX    16u
#define SIM_OOW_ACK_NS 500000000ull /* challenge ACKs: at most one per 500 ms per socket */

typedef struct sim_sock {
    sim_obj obj; /* first */
    struct sim_conn *conn;
    struct sim_node *node;
    uint8_t dir;    /* 0 client end, 1 server end: segments from here travel dir */
    uint8_t opened; /* the endpoint exists (ep[1] only after its SYN arrived) */
    uint8_t state;  /* tcp_state */
    uint8_t uds;
    /* send side; sequence numbers are 64-bit offsets (SYN = 0, first data byte = 1) */
    uint64_t snd_una, snd_nxt, snd_max;
    uint64_t snd_wnd; /* the peer's advertised window */
    uint64_t snd_wl1, snd_wl2;
    sim_ring sb; /* data bytes from sb_seq */
    uint64_t sb_seq;
    uint32_t sb_limit;
    int fin_queued; /* the application closed with FIN: fin_seq = end of data */
    uint64_t fin_seq;
    /* receive side */
    uint64_t irs_known;
    uint64_t rcv_nxt;
    sim_ring rb; /* bytes from rb_seq (first unread) */
    uint64_t rb_seq;
    uint32_t rb_limit;
    uint64_t adv_edge; /* right edge last advertised */
    uint64_t ooo_start[SIM_OOO_MAX], ooo_end[SIM_OOO_MAX];
    uint32_t ooo_n;
    int fin_rcvd; /* in order: EOF after the buffered bytes */
    int fin_seen; /* a FIN arrived (maybe out of order) at peer_fin_seq */
    uint64_t peer_fin_seq;
    /* timers */
    uint64_t rto, srtt, rttvar;
    int rtt_valid, rtt_timing;
    uint64_t rtt_seq, rtt_t0;
    uint32_t retries;
    uint32_t probes;        /* window probes not answered by any ACK */
    uint32_t probe_backoff; /* probes sent while the window stayed closed */
    uint64_t last_heard;    /* time of the last segment from the peer */
    uint32_t dupacks;
    uint64_t oow_ack_at; /* when the last challenge ACK went out (1 + time; 0 = never) */
    int timer;           /* TIMER_* */
    uint64_t timer_deadline;
    uint64_t timer_gen;
    uint64_t timer_event_at; /* time of the heap event that will look at the timer, UINT64_MAX if none */
    /* host interface */
    int ack_pending;
    int in_flush;
    struct sim_sock *next_flush;
    uint8_t connect_status; /* pending for the engine: 0 none, 255 success, else the failure status */
    uint8_t error;          /* pending transport_closed reason, 0 none */
    int app_closed;         /* the engine closed it (orphan until gone) */
    sim_listener *listener; /* server end: until accepted */
    struct sim_sock *next_accept;
    struct sim_sock *node_prev, *node_next;
    uint16_t app_channel; /* the engine channel it was bound to (kept after the unbind) */
    uint32_t iss;         /* pcap: initial sequence number */
    uint8_t ws_shift;     /* pcap: our window scale */
} sim_sock;

typedef struct sim_conn {
    sim_sock ep[2];
    struct sim_node *node[2];
    uint16_t port[2];
    int refs;
    uint64_t id;
    int uds;
} sim_conn;

typedef struct sim_seg {
    sim_conn *conn;
    uint8_t dir; /* sender end */
    uint8_t flags;
    uint8_t corrupt;
    uint32_t len;
    uint64_t seq, ack, wnd;
    struct sim_seg *next_free;
} sim_seg;

enum { SEG_SYN = 0x02, SEG_ACK = 0x10, SEG_FIN = 0x01, SEG_RST = 0x04, SEG_PSH = 0x08 };

typedef struct {
    tl_sim_link p;
    int set; /* explicitly configured */
    sim_prng rng;
    uint64_t busy_until;
    uint64_t *departures; /* ring of departure times of queued packets (rate limiting) */
    uint32_t dep_cap, dep_head, dep_n;
    int ge_bad;
    /* BURST (TL_SIM_LOSS_BURST): the timeline of good and bad periods from
     * burst_epoch, the time the link words took effect (burst_on = 0: not
     * started yet). */
    int burst_on;
    uint64_t burst_epoch;
    tl_sim_burst burst;
    int part;            /* partitioned */
    uint64_t part_until; /* 0 = until healed */
} sim_link;

/* ---- nodes and services (node.c) ---- */

typedef struct sim_svc {
    struct tl_sim *sim;
    struct sim_node *node;
    uint32_t id;
    uint32_t index; /* in node->svcs */
    char name[TL_SIM_SERVICE_NAME_MAX + 1];
    tl_sim_service_create create;
    void *arg;
    uint64_t start_delay;
    tl_service *svc;
    uint32_t group;
    tl_svc_env env;
    int started;
    int start_due; /* its start time came while the process was paused */
    int done;
    int pending;
    tl_svc_report total;
    int have_total;
} sim_svc;

typedef struct {
    uint32_t svc; /* index into node->svcs */
    uint64_t token;
    uint64_t deadline;
    int active;
    uint64_t gen;
} sim_timer;

typedef struct sim_node {
    struct tl_sim *sim;
    uint32_t id;
    char name[TL_SIM_NODE_NAME_MAX + 1];
    uint32_t addr; /* IPv4, host order */
    tl_sim_node_options opt;
    tl_sim_node_state state;
    uint32_t incarnation;
    tl_engine *engine;
    sim_prng tcp_rng;
    sim_prng svc_rng;
    sim_obj **pages[256];    /* channel -> socket / listener */
    tl_chan_oracles oracles; /* channel -> host oracle state (sim/oracle.h), this incarnation */
    sim_obj *dirty_head, *dirty_tail;
    sim_sock *socks;
    sim_listener *listeners;
    struct sim_svc **svcs;
    uint32_t nsvcs;
    uint32_t *group_svc; /* group id -> svc index + 1 */
    uint32_t group_cap;
    sim_timer *timers;
    uint32_t ntimers, timers_cap;
    uint64_t engine_event_at;
    uint16_t next_port;
    uint16_t ip_id;
    int in_kick;
    int pumping;
    int resume_work;
    struct sim_node *next_kick;
    tl_sim_node_stats st;
} sim_node;

typedef struct sim_action {
    tl_sim_action action;
    uint32_t a, b;
    uint64_t arg;
    unsigned flags;
    int is_link;
    int is_call;
    tl_sim_link link;
    void (*fn)(tl_sim *sim, void *arg);
    void *fn_arg;
    struct sim_action *next_all;
} sim_action;

struct tl_sim {
    tl_sim_options opt;
    uint64_t now;
    sim_heap heap;
    sim_node **nodes;
    uint32_t nnodes, nodes_cap;
    sim_link *links; /* nnodes * nnodes, [from * nnodes + to] */
    uint32_t links_n;
    tl_sim_link default_link;
    sim_svc **svcs;
    uint32_t nsvcs, svcs_cap;
    sim_seg *seg_free;
    sim_node *kick_head, *kick_tail;
    sim_sock *flush_head, *flush_tail;
    sim_action *actions;
    uint64_t next_conn_id;
    int started;
    int failed;
    int finished;
    int over_budget;        /* opt.max_events reached (tl_sim_run returns TL_E_LIMIT) */
    int fifo_off;           /* a link corrupts: the FIFO oracle cannot match content */
    char oracle_first[240]; /* the first host-oracle violation, "" if none */
    /* trace */
    char line[1024];
    size_t line_len;
    uint64_t hash;
    tl_sim_stats stats;
};

/* node.c */
sim_node *sim_node_at(tl_sim *sim, uint32_t id);
/* Run the node's process part (engine + services) at the end of the event. */
void sim_node_kick(sim_node *n);
void sim_obj_mark(sim_node *n, sim_obj *o);
sim_link *sim_link_get(tl_sim *sim, uint32_t from, uint32_t to);
void sim_fail(tl_sim *sim);
void sim_node_note_close(sim_node *n, unsigned reason);

/* net.c: TCP */
sim_listener *sim_listen(sim_node *n, int uds, uint16_t port, const char *path, tl_status *why);
void sim_listener_close(sim_listener *l, int kernel_alive);
sim_listener *sim_listener_find_uds(sim_node *n, const char *path);
/* Start a connection for engine channel `channel` of n to dst:port (or the
 * UDS listener ul): the SYN leaves now. */
/* A connecting socket in SYN_SENT; nothing is sent until sim_connect_start
 * (so that the caller's `connect` trace line is complete before the SYN's
 * own lines, a loss among them). */
sim_sock *sim_connect(sim_node *n, uint16_t channel, sim_node *dst, uint16_t port, sim_listener *ul);
void sim_connect_start(sim_sock *s);
/* The engine closed the socket: reset (RST) or orderly (FIN after the data). */
void sim_sock_close(sim_sock *s, int reset);
/* The node crashed (rst = 1: its kernel resets) or vanished (rst = 0). */
void sim_sock_kill(sim_sock *s, int rst);
void sim_sock_detach(sim_sock *s);
/* Bytes the engine may still write; copy in up to len. Returns bytes taken. */
uint32_t sim_sock_send_room(const sim_sock *s);
uint32_t sim_sock_write(sim_sock *s, const tl_iov *iov, int n, uint32_t max);
/* Readable contiguous bytes (first part of the ring), and consuming them. */
uint32_t sim_sock_readable(const sim_sock *s, const uint8_t **p);
uint32_t sim_sock_available(const sim_sock *s);
void sim_sock_consume(sim_sock *s, uint32_t n);
void sim_sock_want_flush(sim_sock *s);
void sim_flush_all(tl_sim *sim);
void sim_seg_arrive(tl_sim *sim, sim_seg *g);
void sim_tcp_timer(tl_sim *sim, sim_conn *c, unsigned dir, uint64_t gen);
void sim_conn_unref(tl_sim *sim, sim_conn *c);
void sim_seg_free_all(tl_sim *sim);
void sim_link_free(sim_link *l);

/* trace.c */
/* Start a line: "<time> <node> ch=<ch> "; node NULL -> "*". */
void sim_tr_begin(tl_sim *sim, const sim_node *n, unsigned channel);
void sim_tr_str(tl_sim *sim, const char *s);
void sim_tr_strn(tl_sim *sim, const char *s, size_t n);
void sim_tr_u64(tl_sim *sim, uint64_t v);
void sim_tr_ch(tl_sim *sim, char c);
void sim_tr_dur(tl_sim *sim, uint64_t ns); /* "200ms", "1.5s" style, exact */
void sim_tr_header(tl_sim *sim, const tl_header *h, int with_status);
void sim_tr_end(tl_sim *sim);
void sim_pcap_header(FILE *f);
void sim_pcap_segment(tl_sim *sim, const sim_conn *c, const sim_seg *g, const uint8_t *payload);

#endif /* TOFULAB_SIM_INTERNAL_H */
