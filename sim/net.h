/*
 * The virtual network (net.c): links in netem's model and a small TCP, and
 * the half of each simulated host that belongs to its kernel: its name and
 * address, its TCP options and generator, its sockets and listeners, its
 * counters. The process half (engine, services, channel table) is node.c's,
 * one layer up; this layer never calls it. What a process needs to hear
 * from its kernel (a socket or listener has news: connected, data, an
 * error, end of stream, a connection to accept) goes through the one
 * callback sim_net.notify, which node.c sets.
 *
 * Ownership: the simulator owns hosts, links, connections and segments. A
 * connection (two endpoints, client = ep[0], server = ep[1]) is
 * reference-counted: open endpoints, segments in flight and scheduled TCP
 * timers each hold one reference (and node.c one per socket in its dirty
 * list), so a segment can always read the bytes it carries from its
 * sender's send buffer (segments reference ring-buffer bytes by sequence
 * number; nothing is copied until delivery).
 */
#ifndef TOFULAB_SIM_NET_H
#define TOFULAB_SIM_NET_H

#include <stddef.h>
#include <stdint.h>

#include "prng.h"
#include "sim.h"
#include "world.h"

/* ---- byte ring (net.c) ---- */

typedef struct {
    uint8_t *buf;
    uint32_t cap;  /* physical capacity, grows up to the logical limit */
    uint32_t head; /* index of the first byte */
    uint32_t len;  /* bytes held from head (receive side: the extent written, holes included) */
} sim_ring;

/* ---- objects a channel number can name on a host ---- */

enum { OBJ_SOCK = 1, OBJ_LISTENER = 2 };

/* The first member of a socket and of a listener. channel is the engine
 * channel bound to it (0 if none): this layer reads it to know whether a
 * process holds the object. in_dirty, next_dirty and reported are the
 * process layer's (node.c's dirty list and closed-by bookkeeping), kept here
 * so that it needs no table of its own. */
typedef struct sim_obj {
    uint8_t kind;
    uint8_t in_dirty;
    uint16_t channel; /* engine channel bound to it, 0 if none */
    uint8_t reported; /* the host reported its end to the engine (closed-by bookkeeping) */
    struct sim_obj *next_dirty;
} sim_obj;

struct sim_host;
struct sim_conn;

typedef struct sim_listener {
    sim_obj obj; /* first */
    struct sim_host *host;
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
    struct sim_host *host;
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
    struct sim_host *host[2];
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

/* ---- hosts: the kernel half of a node ---- */

struct sim_net;

typedef struct sim_host {
    struct sim_net *net;
    uint32_t id;
    char name[TL_SIM_NODE_NAME_MAX + 1];
    uint32_t addr; /* IPv4, host order */
    tl_sim_node_options opt;
    tl_sim_node_state state; /* node.c sets it; here DEAD drops what arrives */
    sim_prng tcp_rng;
    sim_sock *socks;
    sim_listener *listeners;
    uint16_t next_port;
    uint16_t ip_id;
    tl_sim_node_stats st;
} sim_host;

/* ---- the network ---- */

typedef struct sim_net {
    sim_world w;      /* first */
    sim_host **hosts; /* by node id (link names) */
    uint32_t nhosts, hosts_cap;
    sim_link *links; /* nhosts * nhosts, [from * nhosts + to], grown lazily (sim_link_get) */
    uint32_t links_n;
    tl_sim_link default_link;
    sim_seg *seg_free;
    sim_sock *flush_head, *flush_tail;
    uint64_t next_conn_id;
    /* A socket or listener bound to a channel has news for h's process. */
    void (*notify)(sim_host *h, sim_obj *o);
} sim_net;

/* Room for one more host (TL_OK or TL_E_NOMEM); then h joins the network
 * (its id is nhosts), which cannot fail. */
int sim_net_host_reserve(sim_net *net);
void sim_net_host_add(sim_net *net, sim_host *h);

/* links */
sim_link *sim_link_get(sim_net *net, uint32_t from, uint32_t to);
/* New parameters for one direction; a burst timeline (TL_SIM_LOSS_BURST)
 * starts again from now. */
void sim_link_params(sim_net *net, sim_link *k, const tl_sim_link *p);
void sim_link_free(sim_link *l);

/* TCP */
sim_listener *sim_listen(sim_host *n, int uds, uint16_t port, const char *path, tl_status *why);
void sim_listener_close(sim_listener *l, int kernel_alive);
sim_listener *sim_listener_find_uds(sim_host *n, const char *path);
/* A connecting socket in SYN_SENT for engine channel `channel` of n to
 * dst:port (or the UDS listener ul); nothing is sent until
 * sim_connect_start (so that the caller's `connect` trace line is complete
 * before the SYN's own lines, a loss among them). */
sim_sock *sim_connect(sim_host *n, uint16_t channel, sim_host *dst, uint16_t port, sim_listener *ul);
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
void sim_flush_all(sim_net *net);
void sim_seg_arrive(sim_net *net, sim_seg *g);
void sim_tcp_timer(sim_net *net, sim_conn *c, unsigned dir, uint64_t gen);
void sim_conn_unref(sim_net *net, sim_conn *c);
void sim_seg_free_all(sim_net *net);

#endif /* TOFULAB_SIM_NET_H */
