/*
 * The proxy's state, shared by hosts/proxy.c (the I/O thread) and
 * hosts/proxy_http.c (the control API). Everything here is guarded by
 * tl_proxy.lock: the I/O thread holds it while it works and lets go while
 * it waits in epoll; the API takes it to read or change routes and faults,
 * then wakes the I/O thread.
 */
#ifndef TOFULAB_HOSTS_PROXY_INTERNAL_H
#define TOFULAB_HOSTS_PROXY_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "proxy.h"

enum { PXFD_LISTEN = 1, PXFD_CLIENT, PXFD_UPSTREAM, PXFD_WAKE };

typedef struct {
    int fd;
    int kind;
    void *owner;
    uint32_t events; /* interest registered (0 = not registered) */
    int registered;
    int parked; /* taken out of epoll after an error it cannot act on yet */
} px_fd;

/* Queued output of one direction: data, or a close to relay. */
enum { P_DATA = 0, P_FIN, P_RST, P_CUT, P_CLOSE };

typedef struct px_piece {
    struct px_piece *next;
    uint64_t release; /* not written before */
    uint32_t len, off;
    uint8_t kind;
    uint8_t slice;   /* written by a write() of its own */
    uint8_t delayed; /* a close already pushed back by slow_close */
    uint8_t data[];
} px_piece;

#define PX_TRIGGERS 8

typedef struct {
    tl_px_kind kind; /* STALL, CUT, INJECT */
    uint64_t frame, byte, time_ns;
    int after;
    const tl_px_fault *f;
} px_trigger;

/* The faults that apply to one direction of one connection, merged. */
typedef struct {
    int link_on;
    tl_sim_link link;
    int slice_on;
    uint32_t smin, smax, marks;
    uint32_t offs[8];
    unsigned noffs;
    uint64_t sdelay;
    int blackhole;
    int drop;            /* timeout: read and discard */
    uint64_t close_at;   /* timeout: close both sides then (UINT64_MAX none) */
    uint64_t reset_at;   /* reset_peer (UINT64_MAX none) */
    uint64_t slow_close; /* ns */
    uint64_t limit;      /* bytes (UINT64_MAX none) */
    uint32_t hold_mask;
    uint32_t delay_mask;
    uint64_t delay_op[17];
    px_trigger trig[PX_TRIGGERS];
    unsigned ntrig;
    int frame_aware; /* the op code must be known before a frame's first byte goes */
    int passthrough; /* nothing holds bytes back: read only once the last read is written */
} px_eff;

struct px_conn;

typedef struct {
    struct px_conn *c;
    int idx; /* TL_PX_UP or TL_PX_DOWN */
    tl_reader rd;
    int rd_broken;
    uint64_t in;     /* bytes read from the source */
    uint64_t fwd;    /* bytes passed on for forwarding */
    uint64_t out;    /* bytes written to the destination */
    uint64_t frames; /* complete frames read */
    uint64_t frame_start;
    int cur_known, cur_decided, cur_held;
    uint64_t cur_emitted; /* bytes of the current frame passed on */
    tl_header cur_hdr;
    uint64_t cur_cut_at; /* in-frame offset of a cut in this frame, UINT64_MAX none */
    uint64_t cur_stall_at;
    uint64_t cur_stall_ns;
    uint8_t pend[TL_HEADER_SIZE]; /* header bytes waiting for the op code */
    size_t npend;
    px_piece *q, *qtail;
    size_t queued;
    px_piece *held, *heldtail; /* frames withheld (hold), in order */
    uint8_t *hbuf;             /* the frame being withheld */
    size_t hlen, hcap;
    px_piece *inj; /* one-shot injects waiting for a frame boundary */
    uint64_t last_release, busy_until, min_release, stall_until, next_write_at;
    int ge_bad;
    tl_sim_prng rng;
    int chunk_valid;      /* chunk_delay and corrupt_at hold for the chunk at fwd */
    uint64_t chunk_delay; /* delay + jitter + retransmission wait of the current chunk */
    uint64_t corrupt_at;  /* offset in the chunk of a byte to flip, UINT64_MAX none */
    uint32_t slice_left;  /* bytes left in the current slice */
    int src_eof, src_dead, fin_sent, dead, want_out;
    px_eff eff;
    uint32_t pcap_seq;
    /* a run of output not yet queued: bytes of the read buffer */
    const uint8_t *run_p;
    size_t run_len;
    uint64_t run_release;
} px_dir;

typedef struct px_route px_route;

typedef struct px_conn {
    struct px_conn *next, *prev;
    px_route *r;
    uint64_t id;
    px_fd fd[2]; /* 0 = client, 1 = upstream */
    int up_connected;
    px_dir d[2];
    uint64_t start;
    uint64_t met[TL_PX_FAULTS_MAX]; /* when each fault slot met this connection */
    uint64_t applies;               /* fault slots that apply (toxicity drawn) */
    int dying;
    char client_addr[80];
    uint32_t ip[2];
    uint16_t port[2];
    uint16_t ip_id;
} px_conn;

typedef struct {
    int used;
    tl_px_fault f;
    uint64_t added;
} px_slot;

struct px_route {
    px_route *next;
    char name[TL_PX_NAME_MAX];
    char listen_text[300]; /* as given */
    char upstream_text[300];
    tl_address listen, upstream;
    char listen_bound[300]; /* tofu address with the real port */
    int enabled;
    int downs; /* standing `down` faults */
    px_fd lfd;
    px_slot slots[TL_PX_FAULTS_MAX];
    px_conn *conns;
    tl_proxy_stats st;
};

typedef struct px_timed {
    struct px_timed *next;
    uint64_t at; /* elapsed ns */
    char route[TL_PX_NAME_MAX];
    int all_routes;
    tl_px_fault f[2];
    int nf;
} px_timed;

struct tl_proxy {
    tl_proxy_options opt;
    pthread_mutex_t lock;
    pthread_t thread;
    int started;
    int stop;
    int ep;
    px_fd wake;
    uint64_t t0;
    px_route *routes;
    px_timed *timeline;
    uint64_t next_conn_id;
    uint8_t *rbuf;
    size_t rbuf_cap;
    px_conn *graveyard;
    px_route *route_graveyard;
};

/* proxy.c, for proxy_http.c (lock held) */
px_route *px_route_find(tl_proxy *px, const char *name);
uint64_t px_now(const tl_proxy *px);

#endif /* TOFULAB_HOSTS_PROXY_INTERNAL_H */
