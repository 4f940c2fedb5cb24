/*
 * The virtual network: per-direction links (netem's model) and a small TCP.
 *
 * Links: partition, loss (random; Gilbert-Elliott, as netem's
 * loss_gilb_ell, per packet; or bursts that last a time: good and bad
 * periods of exponential length, independent of traffic), a bounded queue
 * served at a bit rate (tail drop when full), then latency plus jitter
 * (uniform, normal, Pareto, Pareto-normal); optional duplication and
 * corruption that slips past the checksum (one byte of the delivered
 * payload flipped).
 *
 * TCP: three-way handshake (SYN, SYN-ACK, ACK) with MSS and window-scale
 * options for the pcap; byte sequence numbers as 64-bit offsets (SYN = 0);
 * flow control by the advertised window (free receive buffer) with
 * zero-window probes; cumulative ACKs that travel the reverse link (and can be
 * lost) and piggyback on data sent in the same instant; retransmission after
 * an RTO (RFC 6298 estimator, minimum and maximum, exponential backoff,
 * go-back-N from the first unacknowledged byte) and fast retransmit after 3
 * duplicate ACKs; the receiver delivers in order, holds out-of-order segments
 * in the receive buffer and discards duplicates; a segment that acknowledges
 * unsent data is discarded and answered by a challenge ACK, at most one per
 * 500 ms (RFC 5961 5.2, as Linux). Too many retransmissions
 * abort the connection (ETIMEDOUT: communication_failed, no RST). FIN is an
 * orderly close, RST a reset; segments for a closed endpoint are answered with
 * RST while the host lives, and silently dropped when it has vanished.
 *
 * No congestion control: the window alone limits what is in flight.
 *
 * Hosts: the kernel half of each node (sim_host, net.h) lives here; its
 * process (node.c) is one layer up and hears of a socket or listener with
 * news only through sim_net.notify (ARCHITECTURE.md 7).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "trace.h"

/* ------------------------------------------------------------------ rings */

static int ring_reserve(sim_ring *r, uint32_t need)
{
    if (need <= r->cap) {
        return TL_OK;
    }
    uint32_t cap = r->cap ? r->cap : 2048;
    while (cap < need) {
        cap *= 2;
    }
    uint8_t *b = malloc(cap);
    if (b == NULL) {
        return TL_E_NOMEM;
    }
    if (r->len > 0) {
        uint32_t first = r->cap - r->head;
        if (first > r->len) {
            first = r->len;
        }
        memcpy(b, r->buf + r->head, first);
        memcpy(b + first, r->buf, r->len - first);
    }
    free(r->buf);
    r->buf = b;
    r->cap = cap;
    r->head = 0;
    return TL_OK;
}

/* Copy n bytes to offset off (from head); the ring must hold off + n. */
static void ring_put(sim_ring *r, uint32_t off, const uint8_t *src, uint32_t n)
{
    uint32_t pos = (r->head + off) & (r->cap - 1);
    uint32_t first = r->cap - pos;
    if (first > n) {
        first = n;
    }
    memcpy(r->buf + pos, src, first);
    memcpy(r->buf, src + first, n - first);
    if (off + n > r->len) {
        r->len = off + n;
    }
}

static void ring_get(const sim_ring *r, uint32_t off, uint8_t *dst, uint32_t n)
{
    uint32_t pos = (r->head + off) & (r->cap - 1);
    uint32_t first = r->cap - pos;
    if (first > n) {
        first = n;
    }
    memcpy(dst, r->buf + pos, first);
    memcpy(dst + first, r->buf, n - first);
}

static uint8_t *ring_at(const sim_ring *r, uint32_t off) { return r->buf + ((r->head + off) & (r->cap - 1)); }

static void ring_drop(sim_ring *r, uint32_t n)
{
    if (n >= r->len) {
        r->head = 0;
        r->len = 0;
        return;
    }
    r->head = (r->head + n) & (r->cap - 1);
    r->len -= n;
}

/* ------------------------------------------------------------ conn / refs */

void sim_conn_unref(sim_net *net, sim_conn *c)
{
    (void)net;
    if (--c->refs > 0) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        free(c->ep[i].sb.buf);
        free(c->ep[i].rb.buf);
    }
    free(c);
}

static sim_seg *seg_alloc(sim_net *net)
{
    sim_seg *g = net->seg_free;
    if (g) {
        net->seg_free = g->next_free;
    } else {
        g = malloc(sizeof *g);
        if (g == NULL) {
            sim_fail(&net->w);
            return NULL;
        }
    }
    memset(g, 0, sizeof *g);
    return g;
}

static void seg_release(sim_net *net, sim_seg *g)
{
    g->next_free = net->seg_free;
    net->seg_free = g;
}

void sim_seg_free_all(sim_net *net)
{
    while (net->seg_free) {
        sim_seg *g = net->seg_free;
        net->seg_free = g->next_free;
        free(g);
    }
}

void sim_link_free(sim_link *l)
{
    free(l->departures);
    l->departures = NULL;
}

/* ------------------------------------------------------------------ trace */

static void tr_sock(sim_net *net, const sim_sock *s, const char *event)
{
    sim_tr_begin(&net->w, s->host->name, s->obj.channel);
    sim_tr_str(&net->w, event);
}

static void tr_flags(sim_net *net, uint8_t f)
{
    sim_tr_str(&net->w, " flags=");
    if (f & SEG_SYN) {
        sim_tr_ch(&net->w, 'S');
    }
    if (f & SEG_FIN) {
        sim_tr_ch(&net->w, 'F');
    }
    if (f & SEG_RST) {
        sim_tr_ch(&net->w, 'R');
    }
    if (f & SEG_PSH) {
        sim_tr_ch(&net->w, 'P');
    }
    if (f & SEG_ACK) {
        sim_tr_ch(&net->w, 'A');
    }
}

static void tr_seg(sim_net *net, const sim_seg *g)
{
    sim_tr_str(&net->w, " seq=");
    sim_tr_u64(&net->w, g->seq);
    sim_tr_str(&net->w, " len=");
    sim_tr_u64(&net->w, g->len);
    tr_flags(net, g->flags);
}

static void tr_peer(sim_net *net, const sim_conn *c, unsigned dir)
{
    sim_tr_str(&net->w, c->host[dir]->name);
    sim_tr_ch(&net->w, ':');
    sim_tr_u64(&net->w, c->port[dir]);
}

/* ------------------------------------------------------------------- pcap */

/* A segment as an IPv4 packet with its TCP header (tl_sim_pcap_write). */
static void pcap_segment(sim_net *net, const sim_conn *c, const sim_seg *g, const uint8_t *payload)
{
    const sim_sock *src = &c->ep[g->dir];
    const sim_sock *dst = &c->ep[!g->dir];
    sim_host *sn = c->host[g->dir];
    const sim_host *dn = c->host[!g->dir];
    int syn = (g->flags & SEG_SYN) != 0;
    tl_sim_pcap_packet p;

    memset(&p, 0, sizeof p);
    p.t_ns = net->w.now;
    p.src = sn->addr;
    p.dst = dn->addr;
    p.sport = c->port[g->dir];
    p.dport = c->port[!g->dir];
    p.seq = (uint32_t)(src->iss + g->seq);
    p.ack = (g->flags & SEG_ACK) ? (uint32_t)(dst->iss + g->ack) : 0;
    p.flags = g->flags;
    uint64_t w = syn ? g->wnd : g->wnd >> src->ws_shift;
    p.window = (uint16_t)(w > 65535 ? 65535 : w);
    p.ip_id = sn->ip_id++;
    p.mss = (uint16_t)(sn->opt.mss > 65535 ? 65535 : sn->opt.mss);
    p.ws_shift = src->ws_shift;
    p.payload = payload;
    p.len = g->len;
    tl_sim_pcap_write(net->w.opt.pcap, &p);
    net->w.stats.pcap_records++;
}
/* ------------------------------------------------------------ burst loss */

/* -ln(u) for u uniform in (0, 1] at 2^-32 resolution, in units of 2^-20
 * (0 .. 22.2): log2 in fixed point (the top bit, then 20 fraction bits by
 * repeated squaring), times ln 2. Integer arithmetic only, so a seed gives
 * the same periods on every platform. */
static uint64_t exp_z20(sim_prng *p)
{
    uint64_t x = 1 + (sim_prng_next(p) >> 32); /* u = x / 2^32 */
    unsigned msb = 0;
    while (msb < 32 && (x >> (msb + 1)) != 0) {
        msb++;
    }
    uint64_t m = msb <= 31 ? x << (31 - msb) : x >> (msb - 31); /* x / 2^msb in Q31: [1, 2) */
    uint64_t log2x = (uint64_t)msb << 20;
    for (int bit = 19; bit >= 0; bit--) {
        m = (m * m) >> 31; /* m < 2^32, so m * m < 2^64 */
        if (m >= (1ull << 32)) {
            m >>= 1;
            log2x |= 1ull << bit;
        }
    }
    uint64_t v = (32ull << 20) - log2x; /* -log2(u) in units of 2^-20, < 2^25 */
    return (v * 2977044472ull) >> 32;   /* times ln 2 (Q32) */
}

/* A period of mean `mean`: mean * -ln(u), at least 1 ns. */
static uint64_t burst_period(sim_prng *p, uint64_t mean)
{
    uint64_t z = exp_z20(p);
    uint64_t d = (mean >> 20) * z + (((mean & ((1ull << 20) - 1)) * z) >> 20);
    return d ? d : 1;
}

void tl_sim_burst_init(tl_sim_burst *b, uint64_t seed, const char *from, const char *to, uint64_t t0,
                       uint64_t good_ns, uint64_t bad_ns)
{
    char name[2 * TL_SIM_NODE_NAME_MAX + 4];
    snprintf(name, sizeof name, "%s>%s", from, to);
    memset(b, 0, sizeof *b);
    tl_sim_prng_init(&b->rng, seed, "burst", name, t0);
    b->good_ns = good_ns ? good_ns : 1;
    b->bad_ns = bad_ns ? bad_ns : 1;
    b->bad = 0;
    b->next = t0 + burst_period(&b->rng, b->good_ns);
}

int tl_sim_burst_at(tl_sim_burst *b, uint64_t t, uint64_t *end)
{
    /* a quiet sender skips whole periods: they are drawn all the same, so
     * the timeline does not depend on when packets come */
    while (t >= b->next) {
        b->bad = !b->bad;
        b->next += burst_period(&b->rng, b->bad ? b->bad_ns : b->good_ns);
    }
    if (end) {
        *end = b->next;
    }
    return b->bad;
}

/* ------------------------------------------------------------------ links */

void tl_sim_link_defaults(tl_sim_link *l)
{
    memset(l, 0, sizeof *l);
    l->distribution = TL_SIM_DIST_UNIFORM;
    l->loss = TL_SIM_LOSS_NONE;
    l->ge_bad_loss_ppb = TL_SIM_PPB;
}

void tl_sim_link_clear_faults(tl_sim_link *l)
{
    tl_sim_link clean;
    tl_sim_link_defaults(&clean);
    clean.delay_ns = l->delay_ns;
    clean.jitter_ns = l->jitter_ns;
    clean.distribution = l->distribution;
    clean.rate_bps = l->rate_bps;
    clean.limit = l->limit;
    *l = clean;
}

int tl_sim_link_has_faults(const tl_sim_link *l)
{
    return l->loss != TL_SIM_LOSS_NONE || l->corrupt_ppb > 0 || l->duplicate_ppb > 0;
}

int sim_net_host_reserve(sim_net *net)
{
    if (net->nhosts == net->hosts_cap) {
        uint32_t cap = net->hosts_cap ? net->hosts_cap * 2 : 8;
        sim_host **v = realloc(net->hosts, cap * sizeof *v);
        if (v == NULL) {
            return TL_E_NOMEM;
        }
        net->hosts = v;
        net->hosts_cap = cap;
    }
    return TL_OK;
}

void sim_net_host_add(sim_net *net, sim_host *h)
{
    h->net = net;
    h->id = net->nhosts;
    net->hosts[net->nhosts++] = h;
}

void sim_link_params(sim_net *net, sim_link *k, const tl_sim_link *p)
{
    k->p = *p;
    k->burst_on = 0;
    k->burst_epoch = net->w.now;
}

sim_link *sim_link_get(sim_net *net, uint32_t from, uint32_t to)
{
    if (from >= net->nhosts || to >= net->nhosts) {
        return NULL;
    }
    if (net->links_n != net->nhosts) {
        uint32_t n = net->nhosts;
        sim_link *nl = calloc((size_t)n * n, sizeof *nl);
        if (nl == NULL) {
            sim_fail(&net->w);
            return NULL;
        }
        for (uint32_t a = 0; a < n; a++) {
            for (uint32_t b = 0; b < n; b++) {
                sim_link *l = &nl[(size_t)a * n + b];
                if (a < net->links_n && b < net->links_n) {
                    *l = net->links[(size_t)a * net->links_n + b];
                    continue;
                }
                if (a == b) {
                    tl_sim_link_defaults(&l->p);
                } else {
                    l->p = net->default_link;
                }
                char name[2 * TL_SIM_NODE_NAME_MAX + 4];
                snprintf(name, sizeof name, "%s>%s", net->hosts[a]->name, net->hosts[b]->name);
                tl_sim_prng_init(&l->rng, net->w.opt.seed, "link", name, 0);
            }
        }
        free(net->links);
        net->links = nl;
        net->links_n = n;
    }
    return &net->links[(size_t)from * net->nhosts + to];
}
/* Pass a packet of `bytes` through the link now: 0 and why when dropped,
 * else 1 and the arrival time. */
static int link_pass(sim_net *net, sim_link *l, const sim_host *from, const sim_host *to, uint32_t bytes,
                     uint64_t *arrive, const char **why)
{
    uint64_t now = net->w.now;
    const tl_sim_link *p = &l->p;

    if (l->part) {
        if (l->part_until == 0 || now < l->part_until) {
            *why = "partition";
            net->w.stats.lost_partition++;
            return 0;
        }
        l->part = 0;
    }
    int lost = 0;
    if (p->loss == TL_SIM_LOSS_RANDOM) {
        lost = sim_prng_chance(&l->rng, p->loss_ppb);
    } else if (p->loss == TL_SIM_LOSS_GEMODEL) {
        /* netem loss_gilb_ell: the transition, then the loss of the state
         * the packet found. */
        if (!l->ge_bad) {
            if (sim_prng_chance(&l->rng, p->ge_p_ppb)) {
                l->ge_bad = 1;
            }
            lost = sim_prng_chance(&l->rng, p->ge_good_loss_ppb);
        } else {
            if (sim_prng_chance(&l->rng, p->ge_r_ppb)) {
                l->ge_bad = 0;
            }
            lost = sim_prng_chance(&l->rng, p->ge_bad_loss_ppb);
        }
    } else if (p->loss == TL_SIM_LOSS_BURST) {
        /* a period that lasts a time: a quiet sender is not held in it */
        if (!l->burst_on) {
            tl_sim_burst_init(&l->burst, net->w.opt.seed, from->name, to->name, l->burst_epoch,
                              p->burst_good_ns, p->burst_bad_ns);
            l->burst_on = 1;
        }
        if (tl_sim_burst_at(&l->burst, now, NULL)) {
            lost = sim_prng_chance(&l->rng, p->burst_loss_ppb);
        }
    }
    if (lost) {
        *why = "loss";
        net->w.stats.lost_random++;
        return 0;
    }
    uint64_t depart = now;
    if (p->rate_bps) {
        uint32_t limit = p->limit ? p->limit : 1000;
        while (l->dep_n > 0 && l->departures[l->dep_head] <= now) {
            l->dep_head = (l->dep_head + 1) % l->dep_cap;
            l->dep_n--;
        }
        if (l->dep_n >= limit) {
            *why = "queue";
            net->w.stats.lost_queue++;
            return 0;
        }
        if (l->dep_n == l->dep_cap) {
            uint32_t cap = l->dep_cap ? l->dep_cap * 2 : 64;
            uint64_t *d = malloc(cap * sizeof *d);
            if (d == NULL) {
                sim_fail(&net->w);
                *why = "memory";
                return 0;
            }
            for (uint32_t i = 0; i < l->dep_n; i++) {
                d[i] = l->departures[(l->dep_head + i) % l->dep_cap];
            }
            free(l->departures);
            l->departures = d;
            l->dep_cap = cap;
            l->dep_head = 0;
        }
        uint64_t start = l->busy_until > now ? l->busy_until : now;
        uint64_t tx = ((uint64_t)bytes * 8u * TL_SIM_NS_PER_S + p->rate_bps - 1) / p->rate_bps;
        l->busy_until = start + tx;
        l->departures[(l->dep_head + l->dep_n) % l->dep_cap] = l->busy_until;
        l->dep_n++;
        depart = l->busy_until;
    }
    int64_t d = (int64_t)p->delay_ns + sim_prng_jitter(&l->rng, p->distribution, p->jitter_ns);
    *arrive = depart + (d > 0 ? (uint64_t)d : 0);
    return 1;
}

/* ---------------------------------------------------------------- sending */

static uint64_t rcv_data_end(const sim_sock *s) { return s->fin_rcvd ? s->rcv_nxt - 1 : s->rcv_nxt; }

static uint64_t rcv_window(const sim_sock *s)
{
    if (s->rcv_nxt == 0) {
        return s->rb_limit; /* our SYN */
    }
    uint64_t edge = s->rb_seq + s->rb_limit;
    uint64_t end = rcv_data_end(s);
    return edge > end ? edge - end : 0;
}

static void seg_schedule(sim_net *net, sim_seg *g, uint64_t at)
{
    g->conn->refs++;
    if (sim_heap_push(&net->w.heap, at, EV_SEGMENT, g, 0) != TL_OK) {
        g->conn->refs--;
        seg_release(net, g);
        sim_fail(&net->w);
    }
}

/* Emit a segment from s. Data bytes are read from s's send buffer. */
static void seg_emit(sim_net *net, sim_sock *s, uint8_t flags, uint64_t seq, uint32_t len)
{
    sim_conn *c = s->conn;
    sim_seg *g = seg_alloc(net);
    if (g == NULL) {
        return;
    }
    g->conn = c;
    g->dir = s->dir;
    g->flags = flags;
    g->seq = seq;
    g->len = len;
    g->wnd = rcv_window(s);
    if (flags & SEG_ACK) {
        g->ack = s->rcv_nxt;
        s->adv_edge = s->rb_seq + s->rb_limit;
        s->ack_pending = 0;
    }
    net->w.stats.segments_sent++;
    if (len > 0) {
        net->w.stats.data_segments++;
    }
    if (flags & SEG_RST) {
        net->w.stats.resets_sent++;
    }
    if (net->w.opt.pcap && !c->uds) {
        uint8_t stackbuf[2048];
        uint8_t *payload = stackbuf;
        if (len > sizeof stackbuf) {
            payload = malloc(len);
        }
        if (payload) {
            if (len > 0) {
                ring_get(&s->sb, (uint32_t)(seq - s->sb_seq), payload, len);
            }
            pcap_segment(net, c, g, payload);
            if (payload != stackbuf) {
                free(payload);
            }
        }
    }
    uint64_t at = net->w.now;
    if (!c->uds) {
        sim_link *l = sim_link_get(net, c->host[s->dir]->id, c->host[!s->dir]->id);
        const char *why = NULL;
        if (l == NULL || !link_pass(net, l, c->host[s->dir], c->host[!s->dir], len + 40u, &at, &why)) {
            tr_sock(net, s, "lost");
            tr_seg(net, g);
            sim_tr_str(&net->w, " to=");
            sim_tr_str(&net->w, c->host[!s->dir]->name);
            sim_tr_str(&net->w, " why=");
            sim_tr_str(&net->w, why ? why : "link");
            sim_tr_end(&net->w);
            seg_release(net, g);
            return;
        }
        if (len > 0 && sim_prng_chance(&l->rng, l->p.corrupt_ppb)) {
            g->corrupt = 1;
        }
        if (sim_prng_chance(&l->rng, l->p.duplicate_ppb)) {
            sim_seg *d = seg_alloc(net);
            if (d) {
                *d = *g;
                d->next_free = NULL;
                net->w.stats.duplicated++;
                seg_schedule(net, d, at);
            }
        }
    }
    seg_schedule(net, g, at);
}

static void timer_set(sim_net *net, sim_sock *s, int kind, uint64_t deadline)
{
    s->timer = kind;
    s->timer_deadline = deadline;
    if (s->timer_event_at <= deadline) {
        return; /* an earlier event will look and re-arm */
    }
    s->timer_gen++;
    s->timer_event_at = deadline;
    s->conn->refs++;
    if (sim_heap_push(&net->w.heap, deadline, EV_TCP_TIMER, s->conn, (uint64_t)s->dir | s->timer_gen << 1) !=
        TL_OK) {
        s->conn->refs--;
        sim_fail(&net->w);
    }
}

static void timer_stop(sim_sock *s) { s->timer = TIMER_NONE; }

static uint64_t rto_base(const sim_sock *s)
{
    const tl_sim_node_options *o = &s->host->opt;
    uint64_t r = o->rto_initial_ns;
    if (s->rtt_valid) {
        uint64_t var4 = 4 * s->rttvar;
        r = s->srtt + (var4 > 1000 ? var4 : 1000); /* G: 1 us clock granularity */
    }
    if (r < o->rto_min_ns) {
        r = o->rto_min_ns;
    }
    if (r > o->rto_max_ns) {
        r = o->rto_max_ns;
    }
    return r;
}

static void rtt_sample(sim_sock *s, uint64_t rtt)
{
    if (!s->rtt_valid) {
        s->srtt = rtt;
        s->rttvar = rtt / 2;
        s->rtt_valid = 1;
    } else {
        uint64_t diff = s->srtt > rtt ? s->srtt - rtt : rtt - s->srtt;
        s->rttvar = (3 * s->rttvar + diff) / 4;
        s->srtt = (7 * s->srtt + rtt) / 8;
    }
}

void sim_sock_want_flush(sim_sock *s)
{
    sim_net *net = s->host->net;
    if (s->in_flush) {
        return;
    }
    s->in_flush = 1;
    s->next_flush = NULL;
    s->conn->refs++;
    if (net->flush_tail) {
        net->flush_tail->next_flush = s;
    } else {
        net->flush_head = s;
    }
    net->flush_tail = s;
}

/* Send what the window allows, a FIN when due, or a pure ACK. */
static void tcp_output(sim_net *net, sim_sock *s)
{
    if (!s->opened || s->state == TCP_CLOSED || s->state == TCP_SYN_SENT) {
        return;
    }
    if (s->state == TCP_SYN_RCVD) {
        if (s->ack_pending) {
            seg_emit(net, s, SEG_SYN | SEG_ACK, 0, 0);
        }
        return;
    }
    const tl_sim_node_options *o = &s->host->opt;
    uint64_t data_end = s->sb_seq + s->sb.len;
    uint64_t edge = s->snd_una + s->snd_wnd;
    int sent = 0;
    while (s->snd_nxt < data_end && s->snd_nxt < edge) {
        uint64_t len = data_end - s->snd_nxt;
        if (edge - s->snd_nxt < len) {
            len = edge - s->snd_nxt;
        }
        if (len > o->mss) {
            len = o->mss;
        }
        if (o->segments == TL_SIM_CHOP_RANDOM && len > 1) {
            len = 1 + sim_prng_below(&s->host->tcp_rng, len);
        }
        uint8_t flags = SEG_ACK;
        if (s->snd_nxt + len == data_end) {
            flags |= SEG_PSH;
        }
        if (!s->rtt_timing && s->snd_nxt == s->snd_max) {
            s->rtt_timing = 1;
            s->rtt_seq = s->snd_nxt + len;
            s->rtt_t0 = net->w.now;
        }
        seg_emit(net, s, flags, s->snd_nxt, (uint32_t)len);
        s->snd_nxt += len;
        if (s->snd_nxt > s->snd_max) {
            s->snd_max = s->snd_nxt;
        }
        sent = 1;
    }
    if (s->fin_queued && s->snd_nxt == s->fin_seq && s->snd_nxt == data_end) {
        seg_emit(net, s, SEG_FIN | SEG_ACK, s->snd_nxt, 0);
        s->snd_nxt++;
        if (s->snd_nxt > s->snd_max) {
            s->snd_max = s->snd_nxt;
        }
        sent = 1;
    }
    if (!sent && s->ack_pending) {
        /* The highest sequence sent (Linux's tcp_acceptable_seq): after a
         * go-back-N rewind snd_nxt would look like a probe to the peer. */
        seg_emit(net, s, SEG_ACK, s->snd_max, 0);
    }
    if (s->snd_una < s->snd_max) {
        if (s->timer != TIMER_RTO) {
            timer_set(net, s, TIMER_RTO, net->w.now + s->rto);
        }
    } else if (s->snd_nxt < data_end && s->snd_wnd == 0) {
        if (s->timer != TIMER_PERSIST) {
            timer_set(net, s, TIMER_PERSIST, net->w.now + s->rto);
        }
    } else if (s->timer != TIMER_NONE) {
        timer_stop(s);
    }
}

void sim_flush_all(sim_net *net)
{
    while (net->flush_head) {
        sim_sock *s = net->flush_head;
        net->flush_head = s->next_flush;
        if (net->flush_head == NULL) {
            net->flush_tail = NULL;
        }
        s->in_flush = 0;
        tcp_output(net, s);
        sim_conn_unref(net, s->conn);
    }
}

/* ----------------------------------------------------------- endpoint life */

static void sock_open(sim_net *net, sim_sock *s, sim_host *n)
{
    const tl_sim_node_options *o = &n->opt;
    s->obj.kind = OBJ_SOCK;
    s->host = n;
    s->opened = 1;
    s->sb_limit = o->sndbuf;
    s->rb_limit = o->rcvbuf;
    s->sb_seq = 1;
    s->rb_seq = 1;
    s->rto = o->rto_initial_ns;
    s->timer_event_at = UINT64_MAX;
    s->iss = (uint32_t)sim_prng_next(&n->tcp_rng);
    uint8_t shift = 0;
    while (shift < 14 && (o->rcvbuf >> shift) > 65535u) {
        shift++;
    }
    s->ws_shift = shift;
    s->conn->refs++; /* the open endpoint */
    s->node_prev = NULL;
    s->node_next = n->socks;
    if (n->socks) {
        n->socks->node_prev = s;
    }
    n->socks = s;
    n->st.sockets++;
    (void)net;
}

/* TCP is over for this endpoint: no more segments from or to it. */
static void tcp_closed(sim_sock *s)
{
    s->state = TCP_CLOSED;
    s->timer = TIMER_NONE;
    s->ack_pending = 0;
    s->ooo_n = 0;
}

static void listener_unqueue(sim_sock *s)
{
    sim_listener *l = s->listener;
    if (l == NULL) {
        return;
    }
    if (s->state == TCP_SYN_RCVD) {
        l->embryos--;
    } else {
        sim_sock **pp = &l->acc_head;
        sim_sock *prev = NULL;
        while (*pp && *pp != s) {
            prev = *pp;
            pp = &(*pp)->next_accept;
        }
        if (*pp) {
            *pp = s->next_accept;
            if (l->acc_tail == s) {
                l->acc_tail = prev;
            }
            l->queued--;
        }
    }
    s->listener = NULL;
    s->next_accept = NULL;
}

/* Drop the endpoint's hold on the connection once nothing names it: TCP
 * closed, no engine channel, not waiting in an accept queue. */
static void sock_maybe_release(sim_net *net, sim_sock *s)
{
    if (!s->opened || s->state != TCP_CLOSED || s->obj.channel != 0 || s->listener != NULL) {
        return;
    }
    sim_host *n = s->host;
    s->opened = 0;
    if (s->node_prev) {
        s->node_prev->node_next = s->node_next;
    } else {
        n->socks = s->node_next;
    }
    if (s->node_next) {
        s->node_next->node_prev = s->node_prev;
    }
    s->node_prev = s->node_next = NULL;
    n->st.sockets--;
    sim_conn_unref(net, s->conn);
}

static void send_rst_for(sim_net *net, sim_sock *s)
{
    if (s->state == TCP_SYN_SENT || s->state == TCP_CLOSED) {
        return; /* the peer's end does not know us yet */
    }
    seg_emit(net, s, SEG_RST | SEG_ACK, s->snd_nxt, 0);
}

/* The host interface noticed something on this socket. */
static void sock_notify(sim_sock *s)
{
    if (s->obj.channel != 0) {
        s->host->net->notify(s->host, &s->obj);
    }
}

static void sock_abort(sim_net *net, sim_sock *s, uint8_t reason)
{
    tcp_closed(s);
    s->error = reason;
    if (s->obj.channel != 0) {
        sock_notify(s);
    } else if (s->listener == NULL) {
        sock_maybe_release(net, s);
    }
}

void sim_sock_close(sim_sock *s, int reset)
{
    sim_net *net = s->host->net;
    s->app_closed = 1;
    s->obj.channel = 0;
    if (s->host->opt.close_fin) {
        reset = 0;
    }
    if (s->state == TCP_SYN_SENT) {
        tcp_closed(s);
    } else if (s->state != TCP_CLOSED) {
        /* Unread data makes even an orderly close a reset (as Linux does). */
        if (reset || rcv_data_end(s) > s->rb_seq || s->error) {
            send_rst_for(net, s);
            tcp_closed(s);
        } else if (!s->fin_queued) {
            s->fin_queued = 1;
            s->fin_seq = s->sb_seq + s->sb.len;
            sim_sock_want_flush(s);
        }
    }
    sock_maybe_release(net, s);
}

void sim_sock_kill(sim_sock *s, int rst)
{
    sim_net *net = s->host->net;
    s->obj.channel = 0;
    if (s->state != TCP_CLOSED) {
        if (rst) {
            send_rst_for(net, s);
        }
        tcp_closed(s);
    }
    listener_unqueue(s);
    sock_maybe_release(net, s);
}

void sim_sock_detach(sim_sock *s)
{
    s->obj.channel = 0;
    sock_maybe_release(s->host->net, s);
}

/* ------------------------------------------------------------- host side */

uint32_t sim_sock_send_room(const sim_sock *s)
{
    if (s->state != TCP_ESTABLISHED || s->fin_queued) {
        return 0;
    }
    return s->sb.len < s->sb_limit ? s->sb_limit - s->sb.len : 0;
}

uint32_t sim_sock_write(sim_sock *s, const tl_iov *iov, int n, uint32_t max)
{
    uint32_t room = sim_sock_send_room(s);
    if (max > room) {
        max = room;
    }
    if (max == 0) {
        return 0;
    }
    if (ring_reserve(&s->sb, s->sb.len + max) != TL_OK) {
        sim_fail(&s->host->net->w);
        return 0;
    }
    uint32_t done = 0;
    for (int i = 0; i < n && done < max; i++) {
        uint32_t take = (uint32_t)(iov[i].len < max - done ? iov[i].len : max - done);
        ring_put(&s->sb, s->sb.len, iov[i].base, take);
        done += take;
    }
    s->host->st.bytes_written += done;
    sim_sock_want_flush(s);
    return done;
}

uint32_t sim_sock_available(const sim_sock *s) { return (uint32_t)(rcv_data_end(s) - s->rb_seq); }

uint32_t sim_sock_readable(const sim_sock *s, const uint8_t **p)
{
    uint32_t n = sim_sock_available(s);
    if (n == 0) {
        *p = NULL;
        return 0;
    }
    uint32_t first = s->rb.cap - s->rb.head;
    *p = s->rb.buf + s->rb.head;
    return n < first ? n : first;
}

void sim_sock_consume(sim_sock *s, uint32_t n)
{
    if (n == 0) {
        return;
    }
    ring_drop(&s->rb, n);
    s->rb_seq += n;
    s->host->st.bytes_read += n;
    /* Receiver-side silly window avoidance (RFC 1122): announce the opened
     * window once it grew by min(rcvbuf / 2, MSS). */
    uint64_t edge = s->rb_seq + s->rb_limit;
    uint64_t step = s->rb_limit / 2 < s->host->opt.mss ? s->rb_limit / 2 : s->host->opt.mss;
    if (step == 0) {
        step = 1;
    }
    if (s->state == TCP_ESTABLISHED && edge >= s->adv_edge + step) {
        s->ack_pending = 1;
        sim_sock_want_flush(s);
    }
}

/* ---------------------------------------------------------------- listen */

sim_listener *sim_listener_find_uds(sim_host *n, const char *path)
{
    for (sim_listener *l = n->listeners; l; l = l->next) {
        if (l->open && l->uds && strcmp(l->path, path) == 0) {
            return l;
        }
    }
    return NULL;
}

static sim_listener *listener_find_port(sim_host *n, uint16_t port)
{
    for (sim_listener *l = n->listeners; l; l = l->next) {
        if (l->open && !l->uds && l->port == port) {
            return l;
        }
    }
    return NULL;
}

sim_listener *sim_listen(sim_host *n, int uds, uint16_t port, const char *path, tl_status *why)
{
    if (uds) {
        /* tofu unlinks an existing path before binding: the new listener
         * takes the name over. */
        sim_listener *old = sim_listener_find_uds(n, path);
        if (old) {
            old->path[0] = '\0';
        }
    } else if (port == 0) {
        do {
            port = n->next_port++;
            if (n->next_port == 0) {
                n->next_port = 49152;
            }
        } while (listener_find_port(n, port));
    } else if (listener_find_port(n, port)) {
        *why = TL_STATUS_LISTEN_FAILED; /* EADDRINUSE (see docs/scenarios.md) */
        return NULL;
    }
    sim_listener *l = calloc(1, sizeof *l);
    if (l == NULL) {
        *why = TL_STATUS_ALLOCATION_FAILED;
        return NULL;
    }
    l->obj.kind = OBJ_LISTENER;
    l->host = n;
    l->uds = uds;
    l->port = port;
    if (uds) {
        memcpy(l->path, path, strlen(path) + 1);
    }
    l->open = 1;
    l->next = n->listeners;
    n->listeners = l;
    n->st.listeners++;
    return l;
}

void sim_listener_close(sim_listener *l, int kernel_alive)
{
    sim_net *net = l->host->net;
    if (!l->open) {
        return;
    }
    l->open = 0;
    l->obj.channel = 0;
    l->host->st.listeners--;
    while (l->acc_head) {
        sim_sock *s = l->acc_head;
        listener_unqueue(s);
        if (s->state != TCP_CLOSED) {
            if (kernel_alive) {
                send_rst_for(net, s);
            }
            tcp_closed(s);
        }
        sock_maybe_release(net, s);
    }
}

static sim_sock *conn_alloc(sim_net *net, sim_host *a, sim_host *b)
{
    sim_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        sim_fail(&net->w);
        return NULL;
    }
    c->host[0] = a;
    c->host[1] = b;
    c->id = ++net->next_conn_id;
    for (int i = 0; i < 2; i++) {
        c->ep[i].conn = c;
        c->ep[i].dir = (uint8_t)i;
        c->ep[i].host = c->host[i];
    }
    return &c->ep[0];
}

sim_sock *sim_connect(sim_host *n, uint16_t channel, sim_host *dst, uint16_t port, sim_listener *ul)
{
    sim_net *net = n->net;
    sim_sock *s = conn_alloc(net, n, ul ? n : dst);
    if (s == NULL) {
        return NULL;
    }
    sim_conn *c = s->conn;
    c->uds = ul != NULL;
    c->port[0] = n->next_port++;
    if (n->next_port == 0) {
        n->next_port = 49152;
    }
    c->port[1] = ul ? 0 : port;
    if (ul) {
        /* The path names the listener; remember which one by its port slot:
         * UDS connections reach the listener object directly. */
        c->ep[1].listener = ul;
    }
    sock_open(net, s, n);
    s->obj.channel = channel; /* the node's table entry is made by the caller */
    s->uds = (uint8_t)c->uds;
    s->state = TCP_SYN_SENT;
    s->snd_una = 0;
    s->snd_nxt = 1;
    s->snd_max = 1;
    net->w.stats.connections++;
    s->rtt_timing = 1;
    s->rtt_seq = 1;
    s->rtt_t0 = net->w.now;
    return s;
}

void sim_connect_start(sim_sock *s)
{
    sim_net *net = s->conn->host[0]->net;
    seg_emit(net, s, SEG_SYN, 0, 0);
    timer_set(net, s, TIMER_RTO, net->w.now + s->rto);
}

/* ---------------------------------------------------------------- receive */

/* Answer a segment that reached no endpoint (RFC 793 reset generation). */
static void reply_rst(sim_net *net, const sim_seg *g)
{
    if (g->flags & SEG_RST) {
        return;
    }
    sim_conn *c = g->conn;
    /* A reply from the closed end: the endpoint struct is kept for the
     * connection's life, so its numbers (iss) still name it in the pcap. */
    sim_seg *r = seg_alloc(net);
    if (r == NULL) {
        return;
    }
    r->conn = c;
    r->dir = (uint8_t)!g->dir;
    if (g->flags & SEG_ACK) {
        r->flags = SEG_RST;
        r->seq = g->ack;
    } else {
        r->flags = SEG_RST | SEG_ACK;
        r->seq = 0;
        r->ack = g->seq + g->len + ((g->flags & SEG_SYN) ? 1 : 0) + ((g->flags & SEG_FIN) ? 1 : 0);
    }
    net->w.stats.segments_sent++;
    net->w.stats.resets_sent++;
    if (net->w.opt.pcap && !c->uds) {
        pcap_segment(net, c, r, NULL);
    }
    uint64_t at = net->w.now;
    if (!c->uds) {
        sim_link *l = sim_link_get(net, c->host[r->dir]->id, c->host[!r->dir]->id);
        const char *why = NULL;
        if (l == NULL || !link_pass(net, l, c->host[r->dir], c->host[!r->dir], 40u, &at, &why)) {
            seg_release(net, r);
            return;
        }
    }
    seg_schedule(net, r, at);
}

static void ooo_add(sim_net *net, sim_sock *s, uint64_t a, uint64_t b)
{
    uint32_t i = 0;
    while (i < s->ooo_n && s->ooo_end[i] < a) {
        i++;
    }
    if (i < s->ooo_n && s->ooo_start[i] <= b) {
        /* overlaps or touches interval i: merge forward */
        if (a < s->ooo_start[i]) {
            s->ooo_start[i] = a;
        }
        if (b > s->ooo_end[i]) {
            s->ooo_end[i] = b;
        }
        while (i + 1 < s->ooo_n && s->ooo_start[i + 1] <= s->ooo_end[i]) {
            if (s->ooo_end[i + 1] > s->ooo_end[i]) {
                s->ooo_end[i] = s->ooo_end[i + 1];
            }
            memmove(&s->ooo_start[i + 1], &s->ooo_start[i + 2], (s->ooo_n - i - 2) * sizeof s->ooo_start[0]);
            memmove(&s->ooo_end[i + 1], &s->ooo_end[i + 2], (s->ooo_n - i - 2) * sizeof s->ooo_end[0]);
            s->ooo_n--;
        }
        return;
    }
    memmove(&s->ooo_start[i + 1], &s->ooo_start[i], (s->ooo_n - i) * sizeof s->ooo_start[0]);
    memmove(&s->ooo_end[i + 1], &s->ooo_end[i], (s->ooo_n - i) * sizeof s->ooo_end[0]);
    s->ooo_start[i] = a;
    s->ooo_end[i] = b;
    s->ooo_n++;
    net->w.stats.out_of_order++;
}

/* Payload bytes of g: copy what is new and fits the window into the
 * receive buffer, straight from the sender's send buffer. */
static void tcp_data(sim_net *net, sim_sock *s, const sim_seg *g)
{
    const sim_sock *from = &g->conn->ep[g->dir];
    uint64_t end = g->seq + g->len;
    uint64_t rcv_before = s->rcv_nxt;
    uint64_t win_end = s->rb_seq + s->rb_limit;
    uint64_t a = g->seq > s->rcv_nxt ? g->seq : s->rcv_nxt;
    uint64_t b = end < win_end ? end : win_end;

    s->ack_pending = 1;
    if (s->fin_seen && b > s->peer_fin_seq) {
        b = s->peer_fin_seq;
    }
    if (g->seq < rcv_before) {
        uint64_t dup = (end < rcv_before ? end : rcv_before) - g->seq;
        net->w.stats.duplicates_dropped += dup;
    }
    if (a >= b) {
        return;
    }
    if (a > s->rcv_nxt && s->ooo_n >= SIM_OOO_MAX) {
        /* No room to remember another hole: drop, it will come again. */
        int fits = 0;
        for (uint32_t i = 0; i < s->ooo_n; i++) {
            if (s->ooo_end[i] >= a && s->ooo_start[i] <= b) {
                fits = 1;
            }
        }
        if (!fits) {
            return;
        }
    }
    uint32_t off = (uint32_t)(a - s->rb_seq);
    uint32_t n = (uint32_t)(b - a);
    if (ring_reserve(&s->rb, off + n) != TL_OK) {
        sim_fail(&net->w);
        return;
    }
    /* Copy from the sender's ring, which holds [sb_seq, sb_seq + len). */
    uint32_t src_off = (uint32_t)(a - from->sb_seq);
    uint32_t done = 0;
    while (done < n) {
        uint32_t pos = (from->sb.head + src_off + done) & (from->sb.cap - 1);
        uint32_t chunk = from->sb.cap - pos;
        if (chunk > n - done) {
            chunk = n - done;
        }
        ring_put(&s->rb, off + done, from->sb.buf + pos, chunk);
        done += chunk;
    }
    if (g->corrupt) {
        /* Corruption that slipped past the checksum: one byte flipped. */
        sim_host *ln = s->host;
        sim_link *l = sim_link_get(net, g->conn->host[g->dir]->id, ln->id);
        uint32_t at = l ? (uint32_t)sim_prng_below(&l->rng, n) : 0;
        uint8_t mask = l ? (uint8_t)(1 + sim_prng_below(&l->rng, 255)) : 0xff;
        *ring_at(&s->rb, off + at) ^= mask;
        net->w.stats.corrupted++;
        tr_sock(net, s, "corrupt");
        sim_tr_str(&net->w, " seq=");
        sim_tr_u64(&net->w, a + at);
        sim_tr_end(&net->w);
    }
    if (a == s->rcv_nxt) {
        s->rcv_nxt = b;
        while (s->ooo_n > 0 && s->ooo_start[0] <= s->rcv_nxt) {
            if (s->ooo_end[0] > s->rcv_nxt) {
                s->rcv_nxt = s->ooo_end[0];
            }
            memmove(&s->ooo_start[0], &s->ooo_start[1], (s->ooo_n - 1) * sizeof s->ooo_start[0]);
            memmove(&s->ooo_end[0], &s->ooo_end[1], (s->ooo_n - 1) * sizeof s->ooo_end[0]);
            s->ooo_n--;
        }
        net->w.stats.bytes_delivered += s->rcv_nxt - rcv_before;
        sock_notify(s);
    } else {
        ooo_add(net, s, a, b);
    }
}

static void tcp_fin_check(sim_sock *s)
{
    if (s->fin_seen && !s->fin_rcvd && s->rcv_nxt == s->peer_fin_seq) {
        s->rcv_nxt++;
        s->fin_rcvd = 1;
        s->ack_pending = 1;
        sock_notify(s);
    }
}

static int tcp_ack(sim_net *net, sim_sock *s, const sim_seg *g)
{
    uint64_t ack = g->ack;
    if (ack > s->snd_max) {
        /* It acknowledges something never sent: discard the segment and
         * answer with a challenge ACK, at most one per SIM_OOW_ACK_NS (Linux:
         * RFC 5961 5.2 and tcp_invalid_ratelimit). Unlimited answers let two
         * desynchronised ends ping-pong pure ACKs for ever, and duplication
         * on the link multiplies the loops (fuzz finding F3). */
        net->w.stats.challenge_acks++;
        if (s->oow_ack_at == 0 || net->w.now + 1 - s->oow_ack_at >= SIM_OOW_ACK_NS) {
            s->oow_ack_at = net->w.now + 1;
            s->ack_pending = 1;
        }
        return -1;
    }
    s->probes = 0; /* the peer is alive (Linux: icsk_probes_out = 0 on any ACK) */
    if (ack > s->snd_una) {
        uint64_t data_end = s->sb_seq + s->sb.len;
        uint64_t upto = ack < data_end ? ack : data_end;
        int freed = 0;
        if (upto > s->sb_seq) {
            ring_drop(&s->sb, (uint32_t)(upto - s->sb_seq));
            s->sb_seq = upto;
            freed = 1;
        }
        s->snd_una = ack;
        if (s->snd_nxt < ack) {
            s->snd_nxt = ack;
        }
        s->retries = 0;
        s->dupacks = 0;
        if (s->rtt_timing && ack >= s->rtt_seq) {
            rtt_sample(s, net->w.now - s->rtt_t0);
            s->rtt_timing = 0;
        }
        s->rto = rto_base(s);
        if (s->snd_una >= s->snd_max) {
            if (s->timer == TIMER_RTO) {
                timer_stop(s);
            }
        } else {
            timer_set(net, s, TIMER_RTO, net->w.now + s->rto);
        }
        if (freed) {
            sock_notify(s);
        }
        sim_sock_want_flush(s);
    } else if (ack == s->snd_una && g->len == 0 && !(g->flags & (SEG_SYN | SEG_FIN)) &&
               s->snd_una < s->snd_max && g->wnd == s->snd_wnd) {
        if (++s->dupacks == 3) {
            /* Fast retransmit of the first unacknowledged segment: only what
             * was sent before (beyond snd_max lies data the window did not
             * admit; sending it would put the peer ahead of snd_max). */
            uint64_t data_end = s->sb_seq + s->sb.len;
            uint64_t sent_end = data_end < s->snd_max ? data_end : s->snd_max;
            if (s->snd_una < sent_end) {
                uint64_t len = sent_end - s->snd_una;
                if (len > s->host->opt.mss) {
                    len = s->host->opt.mss;
                }
                net->w.stats.retransmits++;
                tr_sock(net, s, "rexmit");
                sim_tr_str(&net->w, " seq=");
                sim_tr_u64(&net->w, s->snd_una);
                sim_tr_str(&net->w, " len=");
                sim_tr_u64(&net->w, len);
                sim_tr_str(&net->w, " why=dupack");
                sim_tr_end(&net->w);
                s->rtt_timing = 0;
                seg_emit(net, s, SEG_ACK, s->snd_una, (uint32_t)len);
            }
        }
    }
    if (g->seq > s->snd_wl1 || (g->seq == s->snd_wl1 && ack >= s->snd_wl2)) {
        if (g->wnd != s->snd_wnd) {
            s->snd_wnd = g->wnd;
            sim_sock_want_flush(s);
        }
        if (g->wnd > 0) {
            s->probe_backoff = 0;
        }
        s->snd_wl1 = g->seq;
        s->snd_wl2 = ack;
    }
    /* An orphan whose FIN was acknowledged is done. */
    if (s->app_closed && s->fin_queued && s->snd_una > s->fin_seq) {
        tcp_closed(s);
        sock_maybe_release(net, s);
    }
    return 0;
}

static void syn_arrive(sim_net *net, sim_seg *g)
{
    sim_conn *c = g->conn;
    sim_host *n = c->host[1];
    sim_sock *s = &c->ep[1];
    sim_listener *l = c->uds ? s->listener : listener_find_port(n, c->port[1]);

    if (l != NULL && !l->open) {
        l = NULL;
    }
    if (l == NULL) {
        reply_rst(net, g); /* nobody listens: RST (connection refused) */
        return;
    }
    if (l->embryos + l->queued >= n->opt.backlog) {
        sim_tr_begin(&net->w, n->name, l->obj.channel);
        sim_tr_str(&net->w, "syn-drop backlog from=");
        tr_peer(net, c, 0);
        sim_tr_end(&net->w);
        return;
    }
    sock_open(net, s, n);
    s->uds = (uint8_t)c->uds;
    s->listener = l;
    l->embryos++;
    s->state = TCP_SYN_RCVD;
    s->rcv_nxt = 1;
    s->snd_una = 0;
    s->snd_nxt = 1;
    s->snd_max = 1;
    s->snd_wnd = g->wnd;
    s->snd_wl1 = g->seq;
    s->rtt_timing = 1;
    s->rtt_seq = 1;
    s->rtt_t0 = net->w.now;
    s->adv_edge = s->rb_seq + s->rb_limit;
    seg_emit(net, s, SEG_SYN | SEG_ACK, 0, 0);
    timer_set(net, s, TIMER_RTO, net->w.now + s->rto);
}

static void tcp_input(sim_net *net, sim_sock *s, sim_seg *g)
{
    s->last_heard = net->w.now;
    if (g->flags & SEG_RST) {
        if (s->state == TCP_SYN_SENT) {
            if ((g->flags & SEG_ACK) && g->ack == 1) {
                tr_sock(net, s, "refused by ");
                tr_peer(net, g->conn, 1);
                sim_tr_end(&net->w);
                tcp_closed(s);
                s->connect_status = TL_STATUS_CONNECT_FAILED;
                sock_notify(s);
            }
            return;
        }
        if (s->state == TCP_SYN_RCVD) {
            listener_unqueue(s);
            tcp_closed(s);
            sock_maybe_release(net, s);
            return;
        }
        tr_sock(net, s, "rst from ");
        tr_peer(net, g->conn, g->dir);
        sim_tr_end(&net->w);
        sock_abort(net, s, TL_STATUS_COMMUNICATION_FAILED);
        return;
    }
    if (s->state == TCP_SYN_SENT) {
        if ((g->flags & (SEG_SYN | SEG_ACK)) == (SEG_SYN | SEG_ACK) && g->ack == 1) {
            s->state = TCP_ESTABLISHED;
            s->rcv_nxt = 1;
            s->snd_una = 1;
            s->snd_wnd = g->wnd;
            s->snd_wl1 = g->seq;
            s->snd_wl2 = g->ack;
            if (s->rtt_timing && s->retries == 0) {
                rtt_sample(s, net->w.now - s->rtt_t0);
            }
            s->rtt_timing = 0;
            s->retries = 0;
            s->rto = rto_base(s);
            timer_stop(s);
            s->adv_edge = s->rb_seq + s->rb_limit;
            s->connect_status = 255;
            s->ack_pending = 1;
            sim_sock_want_flush(s);
            sock_notify(s);
        }
        return;
    }
    if (s->state == TCP_SYN_RCVD) {
        if (g->flags & SEG_SYN) {
            s->ack_pending = 1; /* the client sent its SYN again: SYN-ACK again */
            sim_sock_want_flush(s);
            return;
        }
        if (!(g->flags & SEG_ACK) || g->ack < 1) {
            return;
        }
        s->state = TCP_ESTABLISHED;
        s->snd_una = 1;
        if (s->rtt_timing && s->retries == 0) {
            rtt_sample(s, net->w.now - s->rtt_t0);
        }
        s->rtt_timing = 0;
        s->retries = 0;
        s->rto = rto_base(s);
        timer_stop(s);
        sim_listener *l = s->listener;
        l->embryos--;
        if (!l->open) {
            s->listener = NULL;
            send_rst_for(net, s);
            tcp_closed(s);
            sock_maybe_release(net, s);
            return;
        }
        /* Into the accept queue; the engine accepts when its process runs. */
        s->next_accept = NULL;
        if (l->acc_tail) {
            l->acc_tail->next_accept = s;
        } else {
            l->acc_head = s;
        }
        l->acc_tail = s;
        l->queued++;
        if (l->obj.channel != 0) {
            net->notify(l->host, &l->obj);
        }
    }
    if (g->flags & SEG_SYN) {
        s->ack_pending = 1; /* a SYN-ACK again: our ACK was lost */
        sim_sock_want_flush(s);
        return;
    }
    if (s->app_closed && g->len > 0) {
        /* Data for a socket the application has closed: reset. */
        send_rst_for(net, s);
        tcp_closed(s);
        sock_maybe_release(net, s);
        return;
    }
    if (g->flags & SEG_ACK) {
        if (tcp_ack(net, s, g) < 0) {
            if (s->ack_pending) {
                sim_sock_want_flush(s);
            }
            return;
        }
        if (s->state == TCP_CLOSED) {
            return;
        }
    }
    if (g->len > 0) {
        tcp_data(net, s, g);
    } else if (g->seq < s->rcv_nxt && !(g->flags & SEG_FIN)) {
        s->ack_pending = 1; /* a probe (keep-alive form) asks for our window */
    }
    if (g->flags & SEG_FIN) {
        if (!s->fin_seen) {
            s->fin_seen = 1;
            s->peer_fin_seq = g->seq + g->len;
        }
        s->ack_pending = 1;
    }
    tcp_fin_check(s);
    if (s->ack_pending) {
        sim_sock_want_flush(s);
    }
}

void sim_seg_arrive(sim_net *net, sim_seg *g)
{
    sim_conn *c = g->conn;
    sim_host *dst = c->host[!g->dir];
    sim_sock *s = &c->ep[!g->dir];

    if (dst->state == TL_SIM_NODE_DEAD) {
        net->w.stats.lost_dead++;
        const sim_sock *from = &c->ep[g->dir];
        if (from->opened) {
            tr_sock(net, from, "lost");
        } else {
            sim_tr_begin(&net->w, c->host[g->dir]->name, 0);
            sim_tr_str(&net->w, "lost");
        }
        tr_seg(net, g);
        sim_tr_str(&net->w, " to=");
        sim_tr_str(&net->w, dst->name);
        sim_tr_str(&net->w, " why=dead");
        sim_tr_end(&net->w);
    } else if (!s->opened && g->dir == 0 && (g->flags & (SEG_SYN | SEG_ACK | SEG_RST)) == SEG_SYN &&
               s->state == TCP_CLOSED && !s->app_closed && s->rcv_nxt == 0) {
        syn_arrive(net, g);
    } else if (!s->opened || s->state == TCP_CLOSED) {
        reply_rst(net, g);
    } else {
        tcp_input(net, s, g);
    }
    seg_release(net, g);
    sim_conn_unref(net, c);
}

/* ----------------------------------------------------------------- timers */

static void tr_rexmit(sim_net *net, sim_sock *s, const char *what)
{
    tr_sock(net, s, "rexmit ");
    sim_tr_str(&net->w, what);
    sim_tr_str(&net->w, " seq=");
    sim_tr_u64(&net->w, s->snd_una);
    sim_tr_str(&net->w, " try=");
    sim_tr_u64(&net->w, s->retries);
    sim_tr_str(&net->w, " rto=");
    sim_tr_dur(&net->w, s->rto);
    sim_tr_end(&net->w);
}

static void rto_backoff(sim_sock *s)
{
    uint64_t max = s->host->opt.rto_max_ns;
    s->rto = s->rto > max / 2 ? max : s->rto * 2;
}

static void rto_expired(sim_net *net, sim_sock *s)
{
    const tl_sim_node_options *o = &s->host->opt;
    net->w.stats.timeouts++;
    switch (s->state) {
    case TCP_SYN_SENT:
        if (++s->retries > o->syn_retries) {
            tr_sock(net, s, "connect-timeout");
            sim_tr_end(&net->w);
            tcp_closed(s);
            s->connect_status = TL_STATUS_CONNECT_FAILED;
            sock_notify(s);
            if (s->obj.channel == 0) {
                sock_maybe_release(net, s);
            }
            return;
        }
        rto_backoff(s);
        s->rtt_timing = 0;
        net->w.stats.retransmits++;
        tr_rexmit(net, s, "syn");
        seg_emit(net, s, SEG_SYN, 0, 0);
        timer_set(net, s, TIMER_RTO, net->w.now + s->rto);
        return;
    case TCP_SYN_RCVD:
        if (++s->retries > o->synack_retries) {
            listener_unqueue(s);
            tcp_closed(s);
            sock_maybe_release(net, s);
            return;
        }
        rto_backoff(s);
        s->rtt_timing = 0;
        net->w.stats.retransmits++;
        tr_rexmit(net, s, "syn-ack");
        seg_emit(net, s, SEG_SYN | SEG_ACK, 0, 0);
        timer_set(net, s, TIMER_RTO, net->w.now + s->rto);
        return;
    case TCP_ESTABLISHED: break;
    default: return;
    }
    if (s->snd_una >= s->snd_max) {
        return;
    }
    if (s->snd_wnd == 0 && net->w.now - s->last_heard <= o->rto_max_ns) {
        /* The peer closed its window and still answers: the retransmission
         * is a window probe and does not count towards the abort (Linux
         * tcp_retransmit_timer); the peer must have been silent for rto-max
         * before the connection times out. */
        rto_backoff(s);
        s->rtt_timing = 0;
        s->snd_nxt = s->snd_una;
        net->w.stats.zero_window_probes++;
        uint64_t data_end = s->sb_seq + s->sb.len;
        uint64_t len = data_end > s->snd_una ? data_end - s->snd_una : 0;
        if (len > o->mss) {
            len = o->mss;
        }
        if (len == 0 && !s->fin_queued) {
            return;
        }
        tr_rexmit(net, s, "probe");
        seg_emit(net, s, len ? SEG_ACK : SEG_ACK | SEG_FIN, s->snd_una, (uint32_t)len);
        s->snd_nxt = s->snd_una + (len ? len : 1);
        timer_set(net, s, TIMER_RTO, net->w.now + s->rto);
        return;
    }
    if (++s->retries > o->retries) {
        tr_sock(net, s, "timeout after ");
        sim_tr_u64(&net->w, s->retries - 1);
        sim_tr_str(&net->w, " retransmissions");
        sim_tr_end(&net->w);
        net->w.stats.aborted++;
        sock_abort(net, s, TL_STATUS_COMMUNICATION_FAILED); /* ETIMEDOUT, no RST */
        return;
    }
    rto_backoff(s);
    s->rtt_timing = 0;
    s->dupacks = 0;
    s->snd_nxt = s->snd_una; /* go back N */
    net->w.stats.retransmits++;
    tr_rexmit(net, s, "data");
    tcp_output(net, s);
    if (s->timer != TIMER_RTO) {
        timer_set(net, s, TIMER_RTO, net->w.now + s->rto);
    }
}

static void persist_expired(sim_net *net, sim_sock *s)
{
    uint64_t data_end = s->sb_seq + s->sb.len;
    if (s->state != TCP_ESTABLISHED || s->snd_wnd > 0 || s->snd_nxt >= data_end) {
        return;
    }
    if (++s->probes > s->host->opt.retries) {
        tr_sock(net, s, "timeout after ");
        sim_tr_u64(&net->w, s->probes - 1);
        sim_tr_str(&net->w, " window probes");
        sim_tr_end(&net->w);
        net->w.stats.aborted++;
        sock_abort(net, s, TL_STATUS_COMMUNICATION_FAILED);
        return;
    }
    net->w.stats.zero_window_probes++;
    s->probe_backoff++;
    tr_sock(net, s, "probe zero-window try=");
    sim_tr_u64(&net->w, s->probe_backoff);
    sim_tr_end(&net->w);
    seg_emit(net, s, SEG_ACK, s->snd_una - 1, 0);
    uint64_t wait = s->rto;
    for (uint32_t i = 1; i < s->probe_backoff && wait < s->host->opt.rto_max_ns; i++) {
        wait *= 2;
    }
    if (wait > s->host->opt.rto_max_ns) {
        wait = s->host->opt.rto_max_ns;
    }
    timer_set(net, s, TIMER_PERSIST, net->w.now + wait);
}

void sim_tcp_timer(sim_net *net, sim_conn *c, unsigned dir, uint64_t gen)
{
    sim_sock *s = &c->ep[dir];
    if (gen == s->timer_gen) {
        s->timer_event_at = UINT64_MAX;
        if (s->opened && s->state != TCP_CLOSED && s->timer != TIMER_NONE) {
            if (s->timer_deadline > net->w.now) {
                timer_set(net, s, s->timer, s->timer_deadline);
            } else {
                int kind = s->timer;
                s->timer = TIMER_NONE;
                if (kind == TIMER_RTO) {
                    rto_expired(net, s);
                } else {
                    persist_expired(net, s);
                }
            }
        }
    }
    sim_conn_unref(net, c);
}
