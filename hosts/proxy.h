/*
 * tofulab proxy: a tofu-aware fault proxy on real sockets (docs/proxy.md).
 *
 * Routes (toxiproxy's "proxies") each listen on an address (TCP or UDS) and
 * forward every accepted connection to an upstream address (TCP or UDS), so
 * a route also bridges the two. Every byte of both directions goes through
 * the engine's streaming frame reader (tofulab/wire.h): the proxy knows at
 * each byte which frame it belongs to, logs one trace line per frame, and
 * applies faults per direction:
 *
 *   link words of the simulator (delay, jitter with its distribution, rate,
 *   loss modelled as a chunk held back for a retransmission timeout with
 *   backoff, corrupt), toxiproxy's toxics (slicer, stall, blackhole, timeout,
 *   reset, slow_close, limit_data, down) and frame-aware faults (delay or
 *   hold the frames of an op code, cut after N frames or inside frame N,
 *   inject a frame).
 *
 * A fault stands until healed or removed and applies to the connections open
 * when it is added and to every later one; `reset`, `stall TIME` and `inject`
 * without a frame position act once, on the connections open at that
 * moment. Random choices (jitter, loss, slice sizes, toxicity) come from
 * per-connection streams of one seed, so the fault schedule of a run is
 * reproducible even though real time is not.
 *
 * One I/O thread (epoll) serves every route; the functions below may be
 * called from any thread. Nothing is lost that no fault asked to drop: bytes
 * a peer sent are forwarded, in order, or the connection is reset by a
 * fault. A malformed frame is logged with its byte offset and forwarded
 * unchanged (frame-aware faults then stop applying to that direction).
 */
#ifndef TOFULAB_HOSTS_PROXY_H
#define TOFULAB_HOSTS_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tofulab/wire.h"
#include "../sim/sim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TL_PX_NAME_MAX   64   /* route and fault names, with the terminator */
#define TL_PX_INJECT_MAX 1024 /* bytes of an injected frame */
#define TL_PX_FAULTS_MAX 64   /* standing faults per route */

/* Directions. upstream = client -> server, downstream = server -> client
 * (toxiproxy's stream names). */
enum { TL_PX_UP = 0, TL_PX_DOWN = 1 };

typedef enum {
    TL_PXF_LINK = 1,   /* link words: delay, jitter, distribution, rate, loss, corrupt */
    TL_PXF_SLICE,      /* slicer: sizes, frame positions, delay between slices */
    TL_PXF_STALL,      /* forwarding stops for time_ns (once, or at frame `frame` byte `byte`) */
    TL_PXF_BLACKHOLE,  /* silent death: nothing forwarded, no FIN, no RST; bytes kept until healed */
    TL_PXF_TIMEOUT,    /* toxiproxy's timeout: data dropped; closed after time_ns (0 = never) */
    TL_PXF_RESET_PEER, /* toxiproxy's reset_peer: RST both sides time_ns after the fault meets the connection
                        */
    TL_PXF_SLOW_CLOSE, /* a close (FIN or RST) is relayed time_ns late */
    TL_PXF_LIMIT_DATA, /* after `count` bytes in this direction the connection is closed */
    TL_PXF_DELAY_OP,   /* frames of the op codes in opmask: the stream waits time_ns before each */
    TL_PXF_HOLD_OP,    /* frames of the op codes in opmask are withheld until healed */
    TL_PXF_CUT,        /* RST both sides after frame `frame` (after = 1) or at byte `byte` of it */
    TL_PXF_INJECT,     /* a frame inserted at the next frame boundary (after frame `frame`) */
    TL_PXF_DOWN,       /* the route is disabled: listener and connections closed */
    /* actions: done once, never stored */
    TL_PXA_RESET, /* RST both sides of every open connection */
    TL_PXA_HEAL,  /* every fault ends: standing faults removed, stalls end, held frames go */
    TL_PXA_REMOVE /* the fault named `name` (both directions' halves) is removed */
} tl_px_kind;

/* opmask bits: 1u << op code (0-15), and this one for heartbeats (an empty
 * Signal from the application, as patterns/heartbeat.c sends). */
#define TL_PX_OP_HEARTBEAT (1u << 16)

/* slice_marks: cut points inside every frame. */
#define TL_PX_MARK_HEADER 1u /* inside the binary header (after byte 8) */
#define TL_PX_MARK_TEXT   2u /* header / text headers boundary (byte 16) */
#define TL_PX_MARK_BODY   4u /* text headers / body boundary (byte 16 + thl) */

typedef struct {
    tl_px_kind kind;
    int dir;                       /* TL_PX_UP or TL_PX_DOWN */
    char name[TL_PX_NAME_MAX];     /* "" = TYPE_STREAM, as toxiproxy names toxics */
    uint32_t toxicity_ppb;         /* share of connections it applies to (10^9 = all) */
    tl_sim_link link;              /* LINK */
    uint64_t time_ns;              /* STALL, TIMEOUT, RESET_PEER, SLOW_CLOSE, DELAY_OP */
    uint64_t count;                /* LIMIT_DATA: bytes */
    uint64_t frame;                /* STALL, CUT, INJECT: frame number in the direction (from 1); 0 = none */
    uint64_t byte;                 /* STALL, CUT: byte of that frame (UINT64_MAX: the middle) */
    int after;                     /* CUT, INJECT: after that frame rather than inside it */
    uint32_t opmask;               /* DELAY_OP, HOLD_OP */
    uint32_t slice_min, slice_max; /* SLICE: piece sizes in bytes (0: no size cuts) */
    uint32_t slice_marks;          /* SLICE: TL_PX_MARK_* */
    uint32_t slice_offsets[8];     /* SLICE: more cut points, byte offsets in every frame */
    unsigned nslice_offsets;
    uint64_t slice_delay_ns;          /* SLICE: pause between slices */
    uint8_t inject[TL_PX_INJECT_MAX]; /* INJECT: the frame's bytes */
    size_t inject_len;
    char type[24];  /* toxiproxy's type name (latency, bandwidth, ...) or our word */
    char text[160]; /* the words it was made from, for reports */
} tl_px_fault;

/* Parse fault or action words (docs/proxy.md, `tofulab proxy --help`):
 * "delay 20ms jitter 5ms", "slice 1", "hold ByeResponse downstream",
 * "cut frame 3 byte 8", "blackhole client->server", "heal" ... A direction
 * word (client->server / upstream, server->client / downstream, both) may
 * appear anywhere; without one a fault applies to both directions and out[]
 * gets one fault per direction. Returns the number of faults (1 or 2), or
 * -1 with a one-line message in err naming the word (column from 1). */
int tl_px_fault_parse(const char *text, tl_px_fault out[2], char *err, size_t cap);

/* A toxiproxy toxic: type (latency, bandwidth, slicer, timeout, reset_peer,
 * slow_close, limit_data, or one of ours with attribute "fault" holding the
 * words), stream, attributes as name/number pairs. -1 with err on a bad
 * type or attribute. */
typedef struct {
    const char *name;
    double number;
    const char *text; /* string attributes (ours: "fault") */
} tl_px_attr;
int tl_px_fault_from_toxic(const char *type, int dir, const tl_px_attr *attrs, size_t nattrs,
                           tl_px_fault *out, char *err, size_t cap);
/* Attributes of a fault as toxiproxy shows them ("latency": 100, "jitter": 0).
 * Returns how many were written (at most max). */
size_t tl_px_fault_attrs(const tl_px_fault *f, tl_px_attr *out, size_t max);

/* ---- the proxy ---- */

typedef struct tl_proxy tl_proxy;

/* What the observer sees of a frame (hosts/realrun.c's oracles). */
typedef struct {
    const char *route;
    uint64_t conn; /* connection number, from 1 */
    int dir;       /* TL_PX_UP or TL_PX_DOWN */
    const tl_frame *frame;
    int held; /* withheld by a hold fault (reported again with released = 1 when it goes) */
    int released;
    int injected;
} tl_px_frame_event;

typedef struct {
    uint64_t seed;
    FILE *trace; /* optional: a line per frame, per connection event and per fault event */
    FILE *pcap;  /* optional: both directions of every connection as one TCP stream each */
    FILE *log;   /* one-line errors and warnings; NULL = stderr */
    int quiet;   /* no informational lines on log (errors still) */
    /* optional: every complete frame read, in either direction, before its
     * last byte is forwarded (called on the I/O thread, under the proxy's lock) */
    void (*on_frame)(void *ctx, const tl_px_frame_event *ev);
    void *ctx;
} tl_proxy_options;

int tl_proxy_create(const tl_proxy_options *opt, tl_proxy **out);
/* Start the I/O thread. Time 0 of the trace and the timeline is now. */
int tl_proxy_start(tl_proxy *px);
/* Stop the thread, close every socket (RST), free. */
void tl_proxy_destroy(tl_proxy *px);

/* Monotonic nanoseconds since tl_proxy_start. */
uint64_t tl_proxy_elapsed(const tl_proxy *px);

/* Routes. listen and upstream are tofu addresses ("tcp|127.0.0.1|0",
 * "uds|/tmp/x.sock") or toxiproxy's "host:port". Port 0 listens on a free
 * port (see tl_proxy_route_listen). TL_OK, TL_E_BAD_ADDRESS, TL_E_IO (listen
 * failed), TL_E_STATE (the name exists), TL_E_NOMEM; err says which. */
int tl_proxy_route_add(tl_proxy *px, const char *name, const char *listen, const char *upstream, int enabled,
                       char *err, size_t cap);
int tl_proxy_route_remove(tl_proxy *px, const char *name);
/* listen or upstream NULL: unchanged; enabled < 0: unchanged. Changing an
 * address closes the route's connections (as toxiproxy does). */
int tl_proxy_route_update(tl_proxy *px, const char *name, const char *listen, const char *upstream,
                          int enabled, char *err, size_t cap);
/* Close (on = 0) or reopen the route's listener, leaving its connections
 * and faults alone: new clients are refused while it is closed (what a
 * crashed server's host does). TL_OK, TL_E_NOT_FOUND, TL_E_IO. */
int tl_proxy_route_accepting(tl_proxy *px, const char *name, int on);
/* The address the route listens on, as a tofu address (port 0 resolved). */
int tl_proxy_route_listen(tl_proxy *px, const char *name, char *out, size_t cap);

/* Add a standing fault to a route (NULL: every route), or do an action.
 * TL_OK, TL_E_NOT_FOUND (route / fault name), TL_E_STATE (a fault of that
 * name exists), TL_E_LIMIT (too many faults). */
int tl_proxy_apply(tl_proxy *px, const char *route, const tl_px_fault *f, char *err, size_t cap);
/* Parse words and apply them now. */
int tl_proxy_apply_text(tl_proxy *px, const char *route, const char *words, char *err, size_t cap);
/* Schedule words at t_ns after tl_proxy_start (a timeline); parsed now. */
int tl_proxy_at(tl_proxy *px, uint64_t t_ns, const char *route, const char *words, char *err, size_t cap);
/* Every fault of the route (NULL: all routes) ends. */
void tl_proxy_heal(tl_proxy *px, const char *route);

typedef struct {
    uint64_t connections;       /* accepted */
    uint64_t open;              /* open now */
    uint64_t upstream_failures; /* upstream connects that failed */
    uint64_t frames[2];         /* complete frames read per direction */
    uint64_t bytes_in[2];       /* read per direction */
    uint64_t bytes_out[2];      /* written per direction */
    uint64_t dropped[2];        /* bytes dropped by faults (timeout, cut, limit_data, reset) */
    uint64_t writes[2];         /* send calls that wrote bytes, per direction */
    uint64_t held;              /* frames withheld by hold faults */
    uint64_t injected;
    uint64_t resets;    /* connections reset by faults */
    uint64_t malformed; /* directions whose frames stopped parsing */
} tl_proxy_stats;

/* Counters of a route (NULL: summed over all). */
void tl_proxy_get_stats(tl_proxy *px, const char *route, tl_proxy_stats *out);

/* Format the trace's time (seconds with 9 decimals). */
void tl_px_fmt_time(uint64_t ns, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_HOSTS_PROXY_H */
