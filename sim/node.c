/*
 * Simulated hosts: each node runs the real engine core (tofulab/engine.h)
 * and its services (patterns/service.h) on the virtual sockets of net.c. A
 * node is net.c's sim_host (its kernel half: name, address, options, state,
 * sockets, listeners) with the process kept here; net.c tells the process of
 * news through the sim_net.notify callback (node_notify), never by name.
 *
 * The pump, after every event touching a node: tick the engine, drain its
 * commands (LISTEN, CONNECT, CLOSE, IO), service the sockets and listeners
 * marked dirty in FIFO order (connect results, errors first as tofu's
 * reactor does, then engine -> socket writes that may be short, then socket ->
 * engine reads of random sizes, re-offering what a starving pool did not
 * consume later, then end of stream), hand delivered messages to their
 * services, and repeat until nothing moves; then schedule the engine's next
 * deadline. Kernel work (ACKs, buffering, retransmission) goes on without the
 * pump, so a paused process still fills its buffers.
 *
 * Also here: the event loop, node life cycle (crash, silent death, pause,
 * resume, restart, listener stop), partitions, service timers and the
 * public API of sim.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "oracle.h"
#include "prng.h"
#include "sched.h"
#include "sim.h"
#include "trace.h"
#include "world.h"

/* ------------------------------------------------------------------ types */

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

/* A node: its kernel half (net.c's sim_host: name, address, options, state,
 * sockets, listeners, counters) and its process. */
typedef struct sim_node {
    sim_host host; /* first */
    struct tl_sim *sim;
    uint32_t incarnation;
    tl_engine *engine;
    sim_prng svc_rng;
    sim_obj **pages[256];    /* channel -> socket / listener */
    tl_chan_oracles oracles; /* channel -> host oracle state (sim/oracle.h), this incarnation */
    sim_obj *dirty_head, *dirty_tail;
    struct sim_svc **svcs;
    uint32_t nsvcs;
    uint32_t *group_svc; /* group id -> svc index + 1 */
    uint32_t group_cap;
    sim_timer *timers;
    uint32_t ntimers, timers_cap;
    uint64_t engine_event_at;
    int in_kick;
    int pumping;
    int resume_work;
    struct sim_node *next_kick;
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
    sim_net net; /* first: the network and the world under it (net.h, world.h) */
    sim_node **nodes;
    uint32_t nnodes, nodes_cap;
    sim_svc **svcs;
    uint32_t nsvcs, svcs_cap;
    sim_node *kick_head, *kick_tail;
    sim_action *actions;
    int started;
    int finished;
    int over_budget;        /* opt.max_events reached (tl_sim_run returns TL_E_LIMIT) */
    int fifo_off;           /* a link corrupts: the FIFO oracle cannot match content */
    char oracle_first[240]; /* the first host-oracle violation, "" if none */
};

static sim_node *node_of(sim_host *h) { return (sim_node *)(void *)h; }

/* --------------------------------------------------------------- defaults */

void tl_sim_node_defaults(tl_sim_node_options *o)
{
    memset(o, 0, sizeof *o);
    o->mss = 1460;
    o->sndbuf = 65536;
    o->rcvbuf = 65536;
    o->rto_min_ns = 200 * TL_SIM_NS_PER_MS;
    o->rto_max_ns = 120 * TL_SIM_NS_PER_S;
    o->rto_initial_ns = TL_SIM_NS_PER_S;
    o->retries = 15;
    o->syn_retries = 6;
    o->synack_retries = 5;
    o->backlog = 1024;
}

/* ------------------------------------------------------------------ misc */

static sim_node *sim_node_at(tl_sim *sim, uint32_t id) { return id < sim->nnodes ? sim->nodes[id] : NULL; }

static void sim_node_note_close(sim_node *n, unsigned reason)
{
    if (reason < TL_STATUS_COUNT) {
        n->host.st.closed_by[reason]++;
    }
}

static int node_running(const sim_node *n) { return n->host.state == TL_SIM_NODE_UP && n->engine != NULL; }

static void sim_node_kick(sim_node *n)
{
    tl_sim *sim = n->sim;
    if (n->in_kick || !node_running(n)) {
        return;
    }
    n->in_kick = 1;
    n->next_kick = NULL;
    if (sim->kick_tail) {
        sim->kick_tail->next_kick = n;
    } else {
        sim->kick_head = n;
    }
    sim->kick_tail = n;
}

static void sim_obj_mark(sim_node *n, sim_obj *o)
{
    if (!o->in_dirty) {
        o->in_dirty = 1;
        o->next_dirty = NULL;
        if (o->kind == OBJ_SOCK) {
            ((sim_sock *)o)->conn->refs++;
        }
        if (n->dirty_tail) {
            n->dirty_tail->next_dirty = o;
        } else {
            n->dirty_head = o;
        }
        n->dirty_tail = o;
    }
    sim_node_kick(n);
}

/* net.c's sim_net.notify: a socket or listener of h has news for its process. */
static void node_notify(sim_host *h, sim_obj *o) { sim_obj_mark(node_of(h), o); }

static sim_obj *dirty_pop(sim_node *n)
{
    sim_obj *o = n->dirty_head;
    if (o) {
        n->dirty_head = o->next_dirty;
        if (n->dirty_head == NULL) {
            n->dirty_tail = NULL;
        }
        o->in_dirty = 0;
        o->next_dirty = NULL;
    }
    return o;
}

static void dirty_done(tl_sim *sim, sim_obj *o)
{
    if (o->kind == OBJ_SOCK) {
        sim_conn_unref(&sim->net, ((sim_sock *)o)->conn);
    }
}

/* ---------------------------------------------------------- channel table */

static sim_obj *chan_get(const sim_node *n, uint16_t ch)
{
    sim_obj **page = n->pages[ch >> 8];
    return page ? page[ch & 255] : NULL;
}

static int chan_set(sim_node *n, uint16_t ch, sim_obj *o)
{
    sim_obj ***page = &n->pages[ch >> 8];
    if (*page == NULL) {
        if (o == NULL) {
            return TL_OK;
        }
        *page = calloc(256, sizeof(sim_obj *));
        if (*page == NULL) {
            return TL_E_NOMEM;
        }
    }
    (*page)[ch & 255] = o;
    return TL_OK;
}

static void chan_clear(sim_node *n)
{
    for (int i = 0; i < 256; i++) {
        free(n->pages[i]);
        n->pages[i] = NULL;
    }
}

static void bind_obj(sim_node *n, uint16_t ch, sim_obj *o)
{
    if (chan_set(n, ch, o) != TL_OK) {
        sim_fail(&n->sim->net.w);
        return;
    }
    o->channel = ch;
    if (o->kind == OBJ_SOCK) {
        ((sim_sock *)o)->app_channel = ch;
    }
}

/* ------------------------------------------------------------------ trace */

static void tr_node(tl_sim *sim, const sim_node *n, unsigned ch, const char *event)
{
    sim_tr_begin(&sim->net.w, n->host.name, ch);
    sim_tr_str(&sim->net.w, event);
}

static void tr_address(tl_sim *sim, const tl_address *a)
{
    char text[TL_ADDR_TEXT_MAX];
    if (tl_address_format(a, text, sizeof text) > 0) {
        sim_tr_str(&sim->net.w, text);
    }
}

/* -------------------------------------------------------------- resolving */

static int parse_ipv4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int part = 0; part < 4; part++) {
        uint32_t x = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            x = x * 10 + (uint32_t)(*s - '0');
            s++;
            digits++;
        }
        if (digits == 0 || x > 255) {
            return -1;
        }
        v = v << 8 | x;
        if (part < 3) {
            if (*s != '.') {
                return -1;
            }
            s++;
        }
    }
    if (*s != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static int host_is_local(const sim_node *n, const char *host)
{
    uint32_t ip;
    if (strcmp(host, n->host.name) == 0 || strcmp(host, "localhost") == 0 || strcmp(host, "0.0.0.0") == 0 ||
        strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::") == 0 || strcmp(host, "::1") == 0) {
        return 1;
    }
    return parse_ipv4(host, &ip) == 0 && ip == n->host.addr;
}

static sim_node *resolve(tl_sim *sim, sim_node *self, const char *host)
{
    uint32_t ip;
    if (host_is_local(self, host)) {
        return self;
    }
    if (parse_ipv4(host, &ip) == 0) {
        for (uint32_t i = 0; i < sim->nnodes; i++) {
            if (sim->nodes[i]->host.addr == ip) {
                return sim->nodes[i];
            }
        }
        return NULL;
    }
    for (uint32_t i = 0; i < sim->nnodes; i++) {
        if (strcmp(sim->nodes[i]->host.name, host) == 0) {
            return sim->nodes[i];
        }
    }
    return NULL;
}

/* --------------------------------------------------------------- services */

/* ------------------------------------------------------------ host oracles */

/* The bookkeeping is sim/oracle.c's (hosts/realrun.c shares it); here are
 * the simulator's glue: whose queue a message is matched against, and a
 * violation's trace line. */

static tl_chan_oracle *oracle_get(sim_node *n, uint16_t ch, int create)
{
    int had = n->oracles.pages[ch >> 8] != NULL;
    tl_chan_oracle *o = tl_chan_oracles_get(&n->oracles, ch, create);
    if (o == NULL && create && !had) {
        sim_fail(&n->sim->net.w);
    }
    return o;
}

static void oracle_violation(sim_node *n, uint16_t ch, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void oracle_violation(sim_node *n, uint16_t ch, const char *fmt, ...)
{
    tl_sim *sim = n->sim;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    sim->net.w.stats.oracle_violations++;
    tr_node(sim, n, ch, "oracle ");
    sim_tr_str(&sim->net.w, what);
    sim_tr_end(&sim->net.w);
    if (sim->oracle_first[0] == '\0') {
        snprintf(sim->oracle_first, sizeof sim->oracle_first, "node %s channel %u: %s", n->host.name,
                 (unsigned)ch, what);
    }
}

static uint64_t oracle_content(const tl_message *m)
{
    return tl_oracle_content(m->hdr.proto, m->hdr.status, m->text.data, m->text.len, m->body.data,
                             m->body.len);
}

/* Posted on ch of n: the peer must deliver it after what came before. */
static void oracle_posted(sim_node *n, uint16_t ch, uint64_t digest)
{
    tl_chan_oracle *o = oracle_get(n, ch, 1);
    if (o != NULL && tl_oracle_posted(o, digest) != 0) {
        sim_fail(&n->sim->net.w);
    }
}

/* Delivered on ch of n: find it in what the peer posted on its channel. */
static void oracle_delivered_app(sim_node *n, uint16_t ch, const tl_message *m)
{
    sim_obj *obj = chan_get(n, ch);
    if (n->sim->fifo_off || obj == NULL || obj->kind != OBJ_SOCK) {
        return;
    }
    sim_sock *s = (sim_sock *)obj;
    sim_sock *peer = &s->conn->ep[!s->dir];
    sim_node *pn = node_of(s->conn->host[!s->dir]);
    if (peer->app_channel == 0) {
        return;
    }
    tl_chan_oracle *o = oracle_get(pn, peer->app_channel, 0);
    if (tl_oracle_match(o, tl_oracle_digest(oracle_content(m), m->hdr.message_id))) {
        return;
    }
    oracle_violation(n, ch,
                     "%s id %llu delivered, but %s never posted it on its channel %u after what came before "
                     "(reordered, duplicated or altered)",
                     tl_opcode_name(tl_proto_opcode(m->hdr.proto)), (unsigned long long)m->hdr.message_id,
                     pn->host.name, (unsigned)peer->app_channel);
}

/* Every message handed to service index i of n. */
static void oracle_delivered(sim_node *n, uint32_t i, const tl_message *m)
{
    uint16_t ch = m->hdr.channel;
    if (ch == 0) {
        return;
    }
    tl_chan_oracle *o = oracle_get(n, ch, 1);
    if (o == NULL) {
        return;
    }
    unsigned found = tl_oracle_delivered(o, i + 1, m);
    if (found & TL_ORACLE_CLOSED_TWICE) {
        oracle_violation(n, ch, "channel_closed delivered twice");
    }
    if (found & TL_ORACLE_AFTER_CLOSED) {
        oracle_violation(n, ch, "%s id %llu from the peer after channel_closed",
                         tl_opcode_name(tl_proto_opcode(m->hdr.proto)),
                         (unsigned long long)m->hdr.message_id);
    }
    if (found & TL_ORACLE_CHECK_FIFO) {
        oracle_delivered_app(n, ch, m);
    }
}

/* End of run: a channel a live service saw, that its engine closed, must
 * have brought that service its channel_closed. */
static void oracle_finish(tl_sim *sim)
{
    for (uint32_t id = 0; id < sim->nnodes; id++) {
        sim_node *n = sim->nodes[id];
        if (n->engine == NULL || n->host.state == TL_SIM_NODE_DOWN || n->host.state == TL_SIM_NODE_DEAD) {
            continue;
        }
        for (uint32_t ch = 1; ch < 65536; ch++) {
            tl_chan_oracle *o = tl_chan_oracles_get(&n->oracles, (uint16_t)ch, 0);
            if (o == NULL) {
                ch |= 255;
                continue;
            }
            if (!o->seen || o->closed || o->svc == 0 || o->svc > n->nsvcs) {
                continue;
            }
            sim_svc *v = n->svcs[o->svc - 1];
            if (v->done || v->svc == NULL || tl_engine_channel_group(n->engine, (uint16_t)ch) != 0 ||
                tl_engine_pending(n->engine, v->group) != 0) {
                continue;
            }
            oracle_violation(n, (uint16_t)ch,
                             "closed by the engine, but its service %s never got channel_closed", v->name);
        }
    }
}

const char *tl_sim_oracle_error(const tl_sim *sim) { return sim->oracle_first[0] ? sim->oracle_first : NULL; }

static sim_svc *svc_of_group(const sim_node *n, uint32_t group)
{
    if (group >= n->group_cap || n->group_svc[group] == 0) {
        return NULL;
    }
    return n->svcs[n->group_svc[group] - 1];
}

static void on_deliver(void *ctx, uint32_t group)
{
    sim_node *n = ctx;
    sim_svc *v = svc_of_group(n, group);
    if (v) {
        v->pending = 1;
    }
}

static void svc_retire(sim_svc *v)
{
    if (v->svc == NULL) {
        return;
    }
    if (v->svc->ops->report) {
        tl_svc_report r;
        memset(&r, 0, sizeof r);
        v->svc->ops->report(v->svc, &r);
        tl_svc_report_add(&v->total, &r, 0);
    }
    if (v->svc->ops->destroy) {
        v->svc->ops->destroy(v->svc);
    }
    v->svc = NULL;
}

static void timers_cancel_svc(sim_node *n, uint32_t idx)
{
    for (uint32_t i = 0; i < n->ntimers; i++) {
        if (n->timers[i].svc == idx) {
            n->timers[i].active = 0;
        }
    }
}

static uint32_t svc_index(const sim_svc *v) { return v->index; }

/* The service finished: like MultiHomed's stop, its group is destroyed, which
 * closes its channels with RST and no notification (6.13). */
static void svc_finish(sim_svc *v)
{
    sim_node *n = v->node;
    if (v->done) {
        return;
    }
    v->done = 1;
    v->pending = 0;
    tr_node(n->sim, n, 0, "service ");
    sim_tr_str(&n->sim->net.w, v->name);
    sim_tr_str(&n->sim->net.w, " done");
    sim_tr_end(&n->sim->net.w);
    timers_cancel_svc(n, svc_index(v));
    if (n->engine && v->group) {
        tl_engine_group_destroy(n->engine, v->group);
    }
    sim_node_kick(n);
}

static int env_get(void *host, tl_get_strategy how, tl_message **out)
{
    sim_svc *v = host;
    if (v->node->engine == NULL) {
        return TL_E_CLOSED;
    }
    return tl_engine_get(v->node->engine, how, out);
}

static void env_put(void *host, tl_message **msg)
{
    sim_svc *v = host;
    if (v->node->engine == NULL) {
        if (msg && *msg) {
            tl_msg_free(*msg);
            *msg = NULL;
        }
        return;
    }
    tl_engine_put(v->node->engine, msg);
}

static int env_post(void *host, tl_message **msg, tl_post_out *out)
{
    sim_svc *v = host;
    sim_node *n = v->node;
    tl_sim *sim = n->sim;
    tl_post_out local;
    if (out == NULL) {
        out = &local;
    }
    if (n->engine == NULL) {
        return TL_E_CLOSED;
    }
    int follow = msg != NULL && *msg != NULL && tl_oracle_app_message((*msg)->hdr.proto);
    uint64_t content = follow ? oracle_content(*msg) : 0;
    int rc = tl_engine_post(n->engine, v->group, msg, out);
    if (rc == TL_OK) {
        if (follow) {
            oracle_posted(n, out->hdr.channel, tl_oracle_digest(content, out->hdr.message_id));
        }
        sim->net.w.stats.messages_posted++;
        tr_node(sim, n, out->hdr.channel, "send ");
        sim_tr_header(&sim->net.w, &out->hdr, 0);
        sim_tr_end(&sim->net.w);
        sim_node_kick(n);
    } else {
        tr_node(sim, n, out->hdr.channel, "post-refused ");
        sim_tr_header(&sim->net.w, &out->hdr, 0);
        sim_tr_str(&sim->net.w, " status=");
        sim_tr_str(&sim->net.w, tl_status_name((uint8_t)out->status));
        sim_tr_end(&sim->net.w);
    }
    return rc;
}

static uint64_t env_now(void *host)
{
    sim_svc *v = host;
    return v->sim->net.w.now;
}

static void env_set_timer(void *host, uint64_t delay_ns, uint64_t token)
{
    sim_svc *v = host;
    sim_node *n = v->node;
    tl_sim *sim = n->sim;
    uint32_t idx = svc_index(v);
    uint32_t slot = n->ntimers;
    for (uint32_t i = 0; i < n->ntimers; i++) {
        if (n->timers[i].svc == idx && n->timers[i].token == token) {
            slot = i; /* re-arming replaces the earlier deadline */
            break;
        }
    }
    for (uint32_t i = 0; slot == n->ntimers && i < n->ntimers; i++) {
        if (!n->timers[i].active) {
            slot = i;
        }
    }
    if (slot == n->ntimers) {
        if (n->ntimers == n->timers_cap) {
            uint32_t cap = n->timers_cap ? n->timers_cap * 2 : 8;
            sim_timer *t = realloc(n->timers, cap * sizeof *t);
            if (t == NULL) {
                sim_fail(&sim->net.w);
                return;
            }
            n->timers = t;
            n->timers_cap = cap;
        }
        n->ntimers++;
    }
    sim_timer *t = &n->timers[slot];
    t->svc = idx;
    t->token = token;
    t->deadline = delay_ns > UINT64_MAX - sim->net.w.now ? UINT64_MAX : sim->net.w.now + delay_ns;
    t->active = 1;
    if (sim_heap_push(&sim->net.w.heap, t->deadline, EV_SVC_TIMER, n,
                      (uint64_t)slot | (uint64_t)n->incarnation << 32) != TL_OK) {
        sim_fail(&sim->net.w);
    }
}

static void env_cancel_timer(void *host, uint64_t token)
{
    sim_svc *v = host;
    sim_node *n = v->node;
    uint32_t idx = svc_index(v);
    for (uint32_t i = 0; i < n->ntimers; i++) {
        if (n->timers[i].svc == idx && n->timers[i].token == token) {
            n->timers[i].active = 0;
        }
    }
}

static uint64_t env_prng(void *host)
{
    sim_svc *v = host;
    return sim_prng_next(&v->node->svc_rng);
}

static void env_log(void *host, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 0)))
#endif
    ;

static void env_log(void *host, const char *fmt, va_list ap)
{
    sim_svc *v = host;
    tl_sim *sim = v->sim;
    char text[400];
    vsnprintf(text, sizeof text, fmt, ap);
    for (char *p = text; *p; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) {
            *p = ' ';
        }
    }
    tr_node(sim, v->node, 0, "log ");
    sim_tr_str(&sim->net.w, v->name);
    sim_tr_str(&sim->net.w, ": ");
    sim_tr_str(&sim->net.w, text);
    sim_tr_end(&sim->net.w);
}

static void svc_start(sim_svc *v)
{
    sim_node *n = v->node;
    tl_sim *sim = n->sim;
    tl_service *s = NULL;

    if (v->started) {
        return;
    }
    v->started = 1;
    v->done = 0;
    int rc = v->create(v->arg, &s);
    if (rc != TL_OK || s == NULL) {
        tr_node(sim, n, 0, "service ");
        sim_tr_str(&sim->net.w, v->name);
        sim_tr_str(&sim->net.w, " create-failed");
        sim_tr_end(&sim->net.w);
        v->done = 1;
        return;
    }
    v->svc = s;
    if (v->name[0] == '\0' && s->ops->name) {
        snprintf(v->name, sizeof v->name, "%s", s->ops->name);
    }
    uint32_t group = 0;
    if (tl_engine_group_create(n->engine, &group) != TL_OK) {
        sim_fail(&sim->net.w);
        return;
    }
    if (group >= n->group_cap) {
        uint32_t cap = n->group_cap ? n->group_cap : 8;
        while (cap <= group) {
            cap *= 2;
        }
        uint32_t *g = realloc(n->group_svc, cap * sizeof *g);
        if (g == NULL) {
            sim_fail(&sim->net.w);
            return;
        }
        memset(g + n->group_cap, 0, (cap - n->group_cap) * sizeof *g);
        n->group_svc = g;
        n->group_cap = cap;
    }
    n->group_svc[group] = svc_index(v) + 1;
    v->group = group;
    v->env.host = v;
    v->env.get = env_get;
    v->env.put = env_put;
    v->env.post = env_post;
    v->env.now = env_now;
    v->env.set_timer = env_set_timer;
    v->env.cancel_timer = env_cancel_timer;
    v->env.random = env_prng;
    v->env.log = env_log;
    tr_node(sim, n, 0, "service ");
    sim_tr_str(&sim->net.w, v->name);
    sim_tr_str(&sim->net.w, " start");
    sim_tr_end(&sim->net.w);
    rc = s->ops->start ? s->ops->start(s, &v->env) : 0;
    if (rc != 0) {
        tr_node(sim, n, 0, "service ");
        sim_tr_str(&sim->net.w, v->name);
        sim_tr_str(&sim->net.w, " start-failed");
        sim_tr_end(&sim->net.w);
        svc_finish(v);
    } else if (s->done) {
        svc_finish(v);
    }
    sim_node_kick(n);
}

static int dispatch_services(sim_node *n)
{
    tl_sim *sim = n->sim;
    int any = 0;
    for (uint32_t i = 0; i < n->nsvcs && n->engine; i++) {
        sim_svc *v = n->svcs[i];
        while (v->pending && n->engine) {
            tl_message *m = NULL;
            if (tl_engine_receive(n->engine, v->group, &m) != TL_OK) {
                v->pending = 0;
                break;
            }
            any = 1;
            if (v->done || v->svc == NULL) {
                tl_engine_put(n->engine, &m);
                continue;
            }
            sim->net.w.stats.messages_delivered++;
            tr_node(sim, n, m->hdr.channel, "recv ");
            sim_tr_header(&sim->net.w, &m->hdr, 1);
            sim_tr_end(&sim->net.w);
            oracle_delivered(n, i, m);
            int r = v->svc->ops->on_message(v->svc, &v->env, &m);
            if (m != NULL) {
                tl_engine_put(n->engine, &m);
            }
            if (r != 0 || v->svc->done) {
                svc_finish(v);
            }
        }
    }
    return any;
}

/* --------------------------------------------------------------- commands */

static void cmd_listen(sim_node *n, const tl_command *c)
{
    tl_sim *sim = n->sim;
    tl_status why = TL_STATUS_LISTEN_FAILED;
    sim_listener *l = NULL;
    int local = c->addr.kind == TL_ADDR_UDS || host_is_local(n, c->addr.host);
    if (local) {
        l = sim_listen(&n->host, c->addr.kind == TL_ADDR_UDS, c->addr.port, c->addr.path, &why);
    }
    tr_node(sim, n, c->channel, "listen ");
    tr_address(sim, &c->addr);
    if (l == NULL) {
        sim_tr_str(&sim->net.w, " failed=");
        sim_tr_str(&sim->net.w, tl_status_name((uint8_t)why));
        sim_tr_end(&sim->net.w);
        sim_node_note_close(n, why);
        tl_engine_listen_result(n->engine, c->channel, why);
        return;
    }
    if (!l->uds && l->port != c->addr.port) {
        sim_tr_str(&sim->net.w, " port=");
        sim_tr_u64(&sim->net.w, l->port);
    }
    sim_tr_str(&sim->net.w, " ok");
    sim_tr_end(&sim->net.w);
    bind_obj(n, c->channel, &l->obj);
    tl_engine_listen_result(n->engine, c->channel, TL_STATUS_SUCCESS);
}

static void cmd_connect(sim_node *n, const tl_command *c)
{
    tl_sim *sim = n->sim;
    sim_listener *ul = NULL;
    sim_node *dst = n;
    tl_status fail = TL_STATUS_SUCCESS;

    if (c->addr.kind == TL_ADDR_UDS) {
        ul = sim_listener_find_uds(&n->host, c->addr.path);
        if (ul == NULL) {
            fail = TL_STATUS_UDS_PATH_NOT_FOUND;
        }
    } else {
        dst = resolve(sim, n, c->addr.host);
        if (dst == NULL) {
            fail = TL_STATUS_INVALID_ADDRESS; /* getaddrinfo failed */
        }
    }
    tr_node(sim, n, c->channel, "connect ");
    tr_address(sim, &c->addr);
    if (fail != TL_STATUS_SUCCESS) {
        sim_tr_str(&sim->net.w, " failed=");
        sim_tr_str(&sim->net.w, tl_status_name((uint8_t)fail));
        sim_tr_end(&sim->net.w);
        sim_node_note_close(n, fail);
        tl_engine_connect_result(n->engine, c->channel, fail, 1);
        return;
    }
    sim_sock *s = sim_connect(&n->host, c->channel, &dst->host, c->addr.port, ul);
    if (s == NULL) {
        sim_tr_end(&sim->net.w);
        tl_engine_connect_result(n->engine, c->channel, TL_STATUS_COMMUNICATION_FAILED, 1);
        return;
    }
    sim_tr_str(&sim->net.w, " port=");
    sim_tr_u64(&sim->net.w, s->conn->port[0]);
    sim_tr_end(&sim->net.w);
    bind_obj(n, c->channel, &s->obj);
    sim_connect_start(s);
}

static void cmd_close(sim_node *n, const tl_command *c)
{
    tl_sim *sim = n->sim;
    sim_obj *o = chan_get(n, c->channel);
    if (o == NULL) {
        return; /* never bound (immediate connect failure) or already unbound */
    }
    chan_set(n, c->channel, NULL);
    if (!o->reported) {
        sim_node_note_close(n, TL_STATUS_CHANNEL_CLOSED); /* the engine closed it by itself */
    }
    o->reported = 0;
    if (o->kind == OBJ_LISTENER) {
        tr_node(sim, n, c->channel, "close listener");
        sim_tr_end(&sim->net.w);
        sim_listener_close((sim_listener *)o, 1);
        return;
    }
    sim_sock *s = (sim_sock *)o;
    tr_node(sim, n, c->channel, (c->reset && !n->host.opt.close_fin) ? "close rst" : "close fin");
    sim_tr_end(&sim->net.w);
    sim_sock_close(s, c->reset);
}

static void handle_command(sim_node *n, const tl_command *c)
{
    switch (c->kind) {
    case TL_CMD_LISTEN: cmd_listen(n, c); break;
    case TL_CMD_CONNECT: cmd_connect(n, c); break;
    case TL_CMD_CLOSE: cmd_close(n, c); break;
    case TL_CMD_IO: {
        sim_obj *o = chan_get(n, c->channel);
        if (o) {
            sim_obj_mark(n, o);
        }
        break;
    }
    default: break;
    }
}

/* ---------------------------------------------------------------- sockets */

static void report_closed(sim_node *n, sim_obj *o, unsigned reason, const char *event)
{
    tl_sim *sim = n->sim;
    uint16_t ch = o->channel;
    o->reported = 1;
    sim_node_note_close(n, reason);
    tr_node(sim, n, ch, event);
    sim_tr_str(&sim->net.w, " reason=");
    sim_tr_str(&sim->net.w, tl_status_name((uint8_t)reason));
    sim_tr_end(&sim->net.w);
}

static void service_listener(sim_node *n, sim_listener *l)
{
    tl_sim *sim = n->sim;
    uint16_t lch = l->obj.channel;
    if (lch == 0) {
        return;
    }
    if (l->error) {
        /* The listening socket went away under the engine (listener stop):
         * the poller error closes the listener (6.3). */
        l->error = 0;
        report_closed(n, &l->obj, TL_STATUS_COMMUNICATION_FAILED, "closed");
        chan_set(n, lch, NULL);
        l->obj.channel = 0;
        l->obj.reported = 0;
        tl_engine_transport_closed(n->engine, lch, TL_STATUS_COMMUNICATION_FAILED);
        return;
    }
    while (l->acc_head && l->open) {
        sim_sock *s = l->acc_head;
        l->acc_head = s->next_accept;
        if (l->acc_head == NULL) {
            l->acc_tail = NULL;
        }
        s->next_accept = NULL;
        s->listener = NULL;
        l->queued--;
        uint16_t ch = 0;
        int rc = tl_engine_accepted(n->engine, lch, &ch);
        tr_node(sim, n, rc == TL_OK ? ch : lch, rc == TL_OK ? "accept from " : "accept-failed from ");
        sim_tr_str(&sim->net.w, s->conn->host[0]->name);
        sim_tr_ch(&sim->net.w, ':');
        sim_tr_u64(&sim->net.w, s->conn->port[0]);
        sim_tr_end(&sim->net.w);
        if (rc != TL_OK) {
            sim_sock_close(s, 1);
            continue;
        }
        sim->net.w.stats.accepted++;
        bind_obj(n, ch, &s->obj);
        sim_obj_mark(n, &s->obj);
    }
}

static void service_sock(sim_node *n, sim_sock *s)
{
    tl_sim *sim = n->sim;
    tl_engine *e = n->engine;
    uint16_t ch = s->obj.channel;
    tl_io_state st;

    if (ch == 0 || tl_engine_io_state(e, ch, &st) != TL_OK) {
        return;
    }
    if (s->connect_status) {
        uint8_t status = s->connect_status;
        s->connect_status = 0;
        if (st.connecting) {
            if (status == 255) {
                tr_node(sim, n, ch, "connected to ");
                sim_tr_str(&sim->net.w, s->conn->host[1]->name);
                sim_tr_end(&sim->net.w);
                tl_engine_connect_result(e, ch, TL_STATUS_SUCCESS, 0);
                if (tl_engine_io_state(e, ch, &st) != TL_OK) {
                    return;
                }
            } else {
                report_closed(n, &s->obj, status, "connect-failed");
                tl_engine_connect_result(e, ch, status, 0);
                return;
            }
        }
    }
    if (s->error) {
        unsigned reason = s->error;
        s->error = 0;
        report_closed(n, &s->obj, reason, "closed");
        tl_engine_transport_closed(e, ch, (tl_status)reason);
        return;
    }
    const tl_sim_node_options *o = &n->host.opt;
    /* engine -> socket: short writes when the buffer fills (or by choice) */
    while (st.out_pending > 0) {
        uint32_t room = sim_sock_send_room(s);
        if (room == 0) {
            break;
        }
        tl_iov iov[16];
        int k = tl_engine_output(e, ch, iov, 16);
        if (k <= 0) {
            break;
        }
        uint64_t total = 0;
        for (int i = 0; i < k; i++) {
            total += iov[i].len;
        }
        uint32_t max = total < room ? (uint32_t)total : room;
        if (o->writes == TL_SIM_CHOP_RANDOM && max > 1) {
            max = 1 + (uint32_t)sim_prng_below(&n->host.tcp_rng, max);
        }
        uint32_t w = sim_sock_write(s, iov, k, max);
        if (w == 0) {
            break;
        }
        tl_engine_output_done(e, ch, w);
        if (tl_engine_io_state(e, ch, &st) != TL_OK) {
            return;
        }
    }
    /* socket -> engine: reads of random sizes; what a starving pool leaves
     * stays in the buffer and is offered again when want_read returns */
    while (st.want_read) {
        const uint8_t *p;
        uint32_t avail = sim_sock_readable(s, &p);
        if (avail == 0) {
            break;
        }
        if (o->reads == TL_SIM_CHOP_RANDOM && avail > 1) {
            avail = 1 + (uint32_t)sim_prng_below(&n->host.tcp_rng, avail);
        }
        size_t used = 0;
        tl_engine_input(e, ch, p, avail, &used);
        sim_sock_consume(s, (uint32_t)used);
        if (tl_engine_io_state(e, ch, &st) != TL_OK) {
            return; /* closed by what it read (ByeResponse, protocol error) */
        }
        if (used < avail) {
            break;
        }
    }
    /* end of stream once everything before the FIN was read (A9) */
    if (s->fin_rcvd && sim_sock_available(s) == 0 && st.want_read) {
        unsigned reason = s->uds ? TL_STATUS_COMMUNICATION_FAILED : TL_STATUS_RECV_FAILED;
        report_closed(n, &s->obj, reason, "eof");
        tl_engine_transport_closed(e, ch, (tl_status)reason);
    }
}

static void service_obj(sim_node *n, sim_obj *o)
{
    if (o->kind == OBJ_LISTENER) {
        service_listener(n, (sim_listener *)o);
    } else {
        service_sock(n, (sim_sock *)o);
    }
}

static void schedule_engine_deadline(sim_node *n)
{
    tl_sim *sim = n->sim;
    uint64_t d = tl_engine_next_deadline(n->engine);
    if (d == UINT64_MAX) {
        return;
    }
    if (d < sim->net.w.now) {
        d = sim->net.w.now;
    }
    if (d >= n->engine_event_at) {
        return;
    }
    n->engine_event_at = d;
    if (sim_heap_push(&sim->net.w.heap, d, EV_ENGINE_TIMER, n, n->incarnation) != TL_OK) {
        sim_fail(&sim->net.w);
    }
}

static void node_pump(sim_node *n)
{
    tl_sim *sim = n->sim;
    if (!node_running(n) || n->pumping) {
        return;
    }
    n->pumping = 1;
    /* The engine core has timers only with connect_timeout_ns or
     * bye_grace_ns; without them tick and next_deadline are no-ops that scan
     * every channel, so they are skipped. */
    int timers = n->host.opt.connect_timeout_ns != 0 || n->host.opt.bye_grace_ns != 0;
    if (timers) {
        tl_engine_tick(n->engine, sim->net.w.now);
    }
    for (;;) {
        int progress = 0;
        tl_command c;
        while (n->engine && tl_engine_next_command(n->engine, &c)) {
            handle_command(n, &c);
            progress = 1;
        }
        sim_obj *o;
        while (n->engine && (o = dirty_pop(n)) != NULL) {
            service_obj(n, o);
            dirty_done(sim, o);
            progress = 1;
        }
        if (dispatch_services(n)) {
            progress = 1;
        }
        if (!progress || sim->net.w.failed) {
            break;
        }
    }
    if (n->engine && timers) {
        schedule_engine_deadline(n);
    }
    n->pumping = 0;
}

/* ------------------------------------------------------------- life cycle */

static void node_start(sim_node *n)
{
    tl_sim *sim = n->sim;
    tl_engine_options eo;
    sim_prng p;

    n->incarnation++;
    n->host.st.incarnation = n->incarnation;
    memset(&eo, 0, sizeof eo);
    tl_sim_prng_init(&p, sim->net.w.opt.seed, "engine", n->host.name, n->incarnation);
    eo.seed = sim_prng_next(&p);
    eo.pool_initial = n->host.opt.pool_initial;
    eo.pool_max = n->host.opt.pool_max;
    eo.connect_timeout_ns = n->host.opt.connect_timeout_ns;
    eo.bye_grace_ns = n->host.opt.bye_grace_ns;
    eo.strict_bye = n->host.opt.strict_bye;
    eo.on_deliver = on_deliver;
    eo.cb_ctx = n;
    if (tl_engine_create(&eo, &n->engine) != TL_OK) {
        sim_fail(&sim->net.w);
        return;
    }
    tl_engine_tick(n->engine, sim->net.w.now);
    n->host.state = TL_SIM_NODE_UP;
    n->engine_event_at = UINT64_MAX;
    n->ntimers = 0;
    tr_node(sim, n, 0, "start incarnation=");
    sim_tr_u64(&sim->net.w, n->incarnation);
    sim_tr_end(&sim->net.w);
    for (uint32_t i = 0; i < n->nsvcs; i++) {
        sim_svc *v = n->svcs[i];
        v->started = 0;
        v->start_due = 0;
        v->done = 0;
        v->pending = 0;
        v->group = 0;
        if (v->start_delay == 0) {
            svc_start(v);
        } else if (sim_heap_push(&sim->net.w.heap, sim->net.w.now + v->start_delay, EV_SVC_START, v,
                                 n->incarnation) != TL_OK) {
            sim_fail(&sim->net.w);
        }
    }
    sim_node_kick(n);
}

/* The process ends. rst: the kernel lives and resets the connections
 * (crash); else the whole host vanished (silent death). */
static void node_stop(sim_node *n, int rst)
{
    tl_sim *sim = n->sim;
    for (uint32_t i = 0; i < n->nsvcs; i++) {
        svc_retire(n->svcs[i]);
        n->svcs[i]->started = 0;
        n->svcs[i]->pending = 0;
        n->svcs[i]->group = 0;
    }
    if (n->engine) {
        tl_engine_destroy(n->engine);
        n->engine = NULL;
    }
    sim_obj *o;
    while ((o = dirty_pop(n)) != NULL) {
        dirty_done(sim, o);
    }
    sim_sock *s = n->host.socks;
    while (s) {
        sim_sock *next = s->node_next;
        sim_sock_kill(s, rst);
        s = next;
    }
    for (sim_listener *l = n->host.listeners; l; l = l->next) {
        if (l->open) {
            sim_listener_close(l, rst);
        }
        l->obj.channel = 0;
        l->error = 0;
    }
    chan_clear(n);
    tl_chan_oracles_reset(&n->oracles);
    if (n->group_svc != NULL) { /* none yet when a node dies before its first group */
        memset(n->group_svc, 0, n->group_cap * sizeof *n->group_svc);
    }
    n->ntimers = 0;
    n->engine_event_at = UINT64_MAX;
    n->host.state = rst ? TL_SIM_NODE_DOWN : TL_SIM_NODE_DEAD;
}

static void stop_listeners(sim_node *n, uint16_t port)
{
    for (sim_listener *l = n->host.listeners; l; l = l->next) {
        if (!l->open || (port != 0 && (l->uds || l->port != port))) {
            continue;
        }
        uint16_t ch = l->obj.channel;
        tr_node(n->sim, n, ch, "stop-listener ");
        if (l->uds) {
            sim_tr_str(&n->sim->net.w, l->path);
        } else {
            sim_tr_u64(&n->sim->net.w, l->port);
        }
        sim_tr_end(&n->sim->net.w);
        sim_listener_close(l, 1);
        if (ch != 0 && n->engine) {
            l->obj.channel = ch;
            l->error = 1;
            sim_obj_mark(n, &l->obj);
        }
    }
}

static void set_partition(tl_sim *sim, uint32_t a, uint32_t b, int on, uint64_t until, int oneway)
{
    for (uint32_t x = 0; x < sim->nnodes; x++) {
        if (b != TL_SIM_ALL_NODES ? x != b : x == a) {
            continue;
        }
        sim_link *l = sim_link_get(&sim->net, a, x);
        if (l) {
            l->part = on;
            l->part_until = until;
        }
        if (!oneway || !on) {
            l = sim_link_get(&sim->net, x, a);
            if (l) {
                l->part = on;
                l->part_until = until;
            }
        }
    }
}

static const char *action_name(tl_sim_action a)
{
    switch (a) {
    case TL_SIM_CRASH: return "crash";
    case TL_SIM_SILENT_DEATH: return "silent-death";
    case TL_SIM_PAUSE: return "pause";
    case TL_SIM_RESUME: return "resume";
    case TL_SIM_RESTART: return "restart";
    case TL_SIM_STOP_LISTENER: return "stop-listener";
    case TL_SIM_PARTITION: return "partition";
    case TL_SIM_HEAL: return "heal";
    case TL_SIM_HEAL_ALL: return "heal all";
    }
    return "?";
}

static void resume_work(sim_node *n)
{
    tl_sim *sim = n->sim;
    if (sim_heap_push(&sim->net.w.heap, sim->net.w.now, EV_RESUME_WORK, n, n->incarnation) != TL_OK) {
        sim_fail(&sim->net.w);
    }
}

/* TL_SIM_HEAL_ALL: the end of every fault (sim.h). */
static void heal_all(tl_sim *sim)
{
    sim_tr_begin(&sim->net.w, NULL, 0);
    sim_tr_str(&sim->net.w, "heal all");
    sim_tr_end(&sim->net.w);
    tl_sim_link_clear_faults(&sim->net.default_link);
    for (uint32_t a = 0; a < sim->nnodes; a++) {
        for (uint32_t b = 0; b < sim->nnodes; b++) {
            sim_link *l = sim_link_get(&sim->net, a, b);
            if (l) {
                tl_sim_link_clear_faults(&l->p);
                l->part = 0;
                l->part_until = 0;
            }
        }
    }
    for (uint32_t a = 0; a < sim->nnodes; a++) {
        sim_node *n = sim->nodes[a];
        if (n->host.state == TL_SIM_NODE_PAUSED) {
            tl_sim_act(sim, TL_SIM_RESUME, a, 0, 0, 0);
        }
    }
}

int tl_sim_act(tl_sim *sim, tl_sim_action action, uint32_t a, uint32_t b, uint64_t arg, unsigned flags)
{
    if (action == TL_SIM_HEAL_ALL) {
        heal_all(sim);
        return TL_OK;
    }
    sim_node *n = sim_node_at(sim, a);
    if (n == NULL) {
        return TL_E_INVAL;
    }
    if ((action == TL_SIM_PARTITION || action == TL_SIM_HEAL) && b != TL_SIM_ALL_NODES &&
        (b >= sim->nnodes || b == a)) {
        return TL_E_INVAL;
    }
    if (action != TL_SIM_STOP_LISTENER) {
        sim_tr_begin(&sim->net.w, n->host.name, 0);
        sim_tr_str(&sim->net.w, action_name(action));
        if (action == TL_SIM_PARTITION || action == TL_SIM_HEAL) {
            sim_tr_ch(&sim->net.w, ' ');
            sim_tr_str(&sim->net.w, b == TL_SIM_ALL_NODES ? "*" : sim->nodes[b]->host.name);
            if (flags & TL_SIM_ONEWAY) {
                sim_tr_str(&sim->net.w, " oneway");
            }
            if (action == TL_SIM_PARTITION && arg) {
                sim_tr_str(&sim->net.w, " for ");
                sim_tr_dur(&sim->net.w, arg);
            }
        }
        sim_tr_end(&sim->net.w);
    }
    switch (action) {
    case TL_SIM_CRASH:
        if (n->host.state == TL_SIM_NODE_UP || n->host.state == TL_SIM_NODE_PAUSED) {
            node_stop(n, 1);
        }
        break;
    case TL_SIM_SILENT_DEATH:
        if (n->host.state != TL_SIM_NODE_DEAD) {
            node_stop(n, 0);
        }
        break;
    case TL_SIM_PAUSE:
        if (n->host.state == TL_SIM_NODE_UP) {
            n->host.state = TL_SIM_NODE_PAUSED;
        }
        break;
    case TL_SIM_RESUME:
        if (n->host.state == TL_SIM_NODE_PAUSED) {
            n->host.state = TL_SIM_NODE_UP;
            sim_node_kick(n);
            resume_work(n);
        }
        break;
    case TL_SIM_RESTART:
        if (n->host.state == TL_SIM_NODE_UP || n->host.state == TL_SIM_NODE_PAUSED) {
            node_stop(n, 1);
        }
        node_start(n);
        break;
    case TL_SIM_STOP_LISTENER:
        if (n->host.state != TL_SIM_NODE_DEAD) {
            stop_listeners(n, (uint16_t)arg);
        }
        break;
    case TL_SIM_PARTITION:
        set_partition(sim, a, b, 1, arg ? sim->net.w.now + arg : 0, (flags & TL_SIM_ONEWAY) != 0);
        break;
    case TL_SIM_HEAL: set_partition(sim, a, b, 0, 0, 0); break;
    default: return TL_E_INVAL;
    }
    return TL_OK;
}

/* ---------------------------------------------------------------- events */

static void ev_svc_timer(tl_sim *sim, sim_node *n, uint64_t arg)
{
    uint32_t slot = (uint32_t)arg;
    uint32_t inc = (uint32_t)(arg >> 32);
    if (inc != n->incarnation || n->host.state != TL_SIM_NODE_UP || slot >= n->ntimers) {
        return; /* a paused node fires its due timers at resume */
    }
    sim_timer *t = &n->timers[slot];
    if (!t->active || t->deadline > sim->net.w.now) {
        return;
    }
    t->active = 0;
    sim_svc *v = n->svcs[t->svc];
    if (v->svc == NULL || v->done) {
        return;
    }
    tr_node(sim, n, 0, "timer ");
    sim_tr_str(&sim->net.w, v->name);
    sim_tr_str(&sim->net.w, " token=");
    sim_tr_u64(&sim->net.w, t->token);
    sim_tr_end(&sim->net.w);
    if (v->svc->ops->on_timer) {
        v->svc->ops->on_timer(v->svc, &v->env, t->token);
    }
    if (v->svc->done) {
        svc_finish(v);
    }
    sim_node_kick(n);
}

static void ev_resume_work(tl_sim *sim, sim_node *n, uint64_t inc)
{
    if (inc != n->incarnation || n->host.state != TL_SIM_NODE_UP) {
        return;
    }
    /* Timers that came due during the pause, in deadline order. */
    for (;;) {
        uint32_t best = UINT32_MAX;
        for (uint32_t i = 0; i < n->ntimers; i++) {
            if (n->timers[i].active && n->timers[i].deadline <= sim->net.w.now &&
                (best == UINT32_MAX || n->timers[i].deadline < n->timers[best].deadline)) {
                best = i;
            }
        }
        if (best == UINT32_MAX) {
            break;
        }
        ev_svc_timer(sim, n, (uint64_t)best | (uint64_t)n->incarnation << 32);
        if (n->host.state != TL_SIM_NODE_UP) {
            return;
        }
    }
    for (uint32_t i = 0; i < n->nsvcs && n->host.state == TL_SIM_NODE_UP; i++) {
        sim_svc *v = n->svcs[i];
        if (v->start_due) {
            v->start_due = 0;
            svc_start(v);
        }
    }
    sim_node_kick(n);
}

static void dispatch_event(tl_sim *sim, const sim_event *ev)
{
    switch (ev->kind) {
    case EV_SEGMENT: sim_seg_arrive(&sim->net, ev->ptr); break;
    case EV_TCP_TIMER: sim_tcp_timer(&sim->net, ev->ptr, (unsigned)(ev->arg & 1), ev->arg >> 1); break;
    case EV_SVC_TIMER: ev_svc_timer(sim, ev->ptr, ev->arg); break;
    case EV_ENGINE_TIMER: {
        sim_node *n = ev->ptr;
        if (ev->time == n->engine_event_at) {
            n->engine_event_at = UINT64_MAX;
        }
        if (ev->arg == n->incarnation) {
            sim_node_kick(n);
        }
        break;
    }
    case EV_NODE_START: {
        sim_node *n = ev->ptr;
        if (n->incarnation == 0 && n->host.state == TL_SIM_NODE_DOWN) {
            node_start(n);
        }
        break;
    }
    case EV_SVC_START: {
        sim_svc *v = ev->ptr;
        sim_node *n = v->node;
        if (ev->arg != n->incarnation) {
            break;
        }
        if (n->host.state == TL_SIM_NODE_PAUSED) {
            v->start_due = 1; /* the process is stopped: start when it resumes */
            break;
        }
        if (node_running(n)) {
            svc_start(v);
        }
        break;
    }
    case EV_ACTION: {
        sim_action *a = ev->ptr;
        if (a->is_call) {
            a->fn(sim, a->fn_arg);
        } else if (a->is_link) {
            sim_link *l = sim_link_get(&sim->net, a->a, a->b);
            if (l) {
                sim_link_params(&sim->net, l, &a->link);
                l->set = 1;
                sim_tr_begin(&sim->net.w, sim->nodes[a->a]->host.name, 0);
                sim_tr_str(&sim->net.w, "link ");
                sim_tr_str(&sim->net.w, sim->nodes[a->b]->host.name);
                sim_tr_str(&sim->net.w, " changed");
                sim_tr_end(&sim->net.w);
            }
        } else {
            tl_sim_act(sim, a->action, a->a, a->b, a->arg, a->flags);
        }
        break;
    }
    case EV_RESUME_WORK: ev_resume_work(sim, ev->ptr, ev->arg); break;
    default: break;
    }
}

static void settle(tl_sim *sim)
{
    while (sim->kick_head) {
        sim_node *n = sim->kick_head;
        sim->kick_head = n->next_kick;
        if (sim->kick_head == NULL) {
            sim->kick_tail = NULL;
        }
        n->in_kick = 0;
        node_pump(n);
    }
    sim_flush_all(&sim->net);
}

int tl_sim_run(tl_sim *sim, uint64_t until_ns)
{
    if (sim->net.w.failed || sim->finished) {
        return TL_E_STATE;
    }
    if (sim->over_budget) {
        return TL_E_LIMIT;
    }
    if (!sim->started) {
        sim->started = 1;
        (void)sim_link_get(&sim->net, 0, 0);
    }
    sim_event ev;
    while (sim->net.w.heap.n > 0 && sim->net.w.heap.v[0].time <= until_ns) {
        if (sim->net.w.opt.max_events != 0 && sim->net.w.stats.events >= sim->net.w.opt.max_events) {
            sim->over_budget = 1; /* the event budget is spent: stop here, trace untouched */
            return TL_E_LIMIT;
        }
        sim_heap_pop(&sim->net.w.heap, &ev);
        sim->net.w.now = ev.time;
        sim->net.w.stats.events++;
        dispatch_event(sim, &ev);
        settle(sim);
        if (sim->net.w.failed) {
            return TL_E_NOMEM;
        }
    }
    if (until_ns != UINT64_MAX && sim->net.w.now < until_ns) {
        sim->net.w.now = until_ns;
    }
    return TL_OK;
}

void tl_sim_finish(tl_sim *sim)
{
    if (sim->finished) {
        return;
    }
    sim->finished = 1;
    oracle_finish(sim);
    sim_tr_begin(&sim->net.w, NULL, 0);
    sim_tr_str(&sim->net.w, "end events=");
    sim_tr_u64(&sim->net.w, sim->net.w.stats.events);
    sim_tr_end(&sim->net.w);
}

/* -------------------------------------------------------------- creation */

int tl_sim_create(const tl_sim_options *opt, tl_sim **out)
{
    if (out == NULL) {
        return TL_E_INVAL;
    }
    tl_sim *sim = calloc(1, sizeof *sim);
    if (sim == NULL) {
        return TL_E_NOMEM;
    }
    if (opt) {
        sim->net.w.opt = *opt;
    }
    sim->net.w.hash = TL_SIM_FNV_OFFSET;
    sim->net.notify = node_notify;
    tl_sim_link_defaults(&sim->net.default_link);
    if (sim->net.w.opt.pcap) {
        sim_pcap_header(sim->net.w.opt.pcap);
    }
    *out = sim;
    return TL_OK;
}

static int name_ok(const char *name, size_t max)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > max) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.')) {
            return 0;
        }
    }
    return 1;
}

int tl_sim_node_add(tl_sim *sim, const char *name, const tl_sim_node_options *opt, uint32_t *id)
{
    if (!name_ok(name, TL_SIM_NODE_NAME_MAX) || tl_sim_node_find(sim, name) >= 0 ||
        sim->nnodes >= 0xFFFFFEu) {
        return TL_E_INVAL;
    }
    if (sim->started) {
        return TL_E_STATE;
    }
    if (sim->nnodes == sim->nodes_cap) {
        uint32_t cap = sim->nodes_cap ? sim->nodes_cap * 2 : 8;
        sim_node **v = realloc(sim->nodes, cap * sizeof *v);
        if (v == NULL) {
            return TL_E_NOMEM;
        }
        sim->nodes = v;
        sim->nodes_cap = cap;
    }
    if (sim_net_host_reserve(&sim->net) != TL_OK) {
        return TL_E_NOMEM;
    }
    sim_node *n = calloc(1, sizeof *n);
    if (n == NULL) {
        return TL_E_NOMEM;
    }
    n->sim = sim;
    n->host.id = sim->nnodes;
    snprintf(n->host.name, sizeof n->host.name, "%s", name);
    n->host.addr = 0x0A000000u | (n->host.id + 1);
    if (opt) {
        n->host.opt = *opt;
    } else {
        tl_sim_node_defaults(&n->host.opt);
    }
    if (n->host.opt.mss == 0) {
        n->host.opt.mss = 1460;
    }
    if (n->host.opt.sndbuf == 0) {
        n->host.opt.sndbuf = 65536;
    }
    if (n->host.opt.rcvbuf == 0) {
        n->host.opt.rcvbuf = 65536;
    }
    if (n->host.opt.rto_min_ns == 0) {
        n->host.opt.rto_min_ns = 1000;
    }
    if (n->host.opt.rto_max_ns < n->host.opt.rto_min_ns) {
        n->host.opt.rto_max_ns = n->host.opt.rto_min_ns;
    }
    if (n->host.opt.rto_initial_ns == 0) {
        n->host.opt.rto_initial_ns = n->host.opt.rto_min_ns;
    }
    if (n->host.opt.backlog == 0) {
        n->host.opt.backlog = 1;
    }
    n->host.state = TL_SIM_NODE_DOWN;
    n->host.next_port = 49152;
    n->engine_event_at = UINT64_MAX;
    tl_sim_prng_init(&n->host.tcp_rng, sim->net.w.opt.seed, "tcp", name, 0);
    tl_sim_prng_init(&n->svc_rng, sim->net.w.opt.seed, "service", name, 0);
    /* The node starts at the current time, before anything scheduled later. */
    if (sim_heap_push(&sim->net.w.heap, sim->net.w.now, EV_NODE_START, n, 0) != TL_OK) {
        free(n);
        return TL_E_NOMEM;
    }
    sim->nodes[sim->nnodes++] = n;
    sim_net_host_add(&sim->net, &n->host); /* the same id: nodes and hosts join together */
    if (id) {
        *id = n->host.id;
    }
    return TL_OK;
}

int tl_sim_node_find(const tl_sim *sim, const char *name)
{
    for (uint32_t i = 0; i < sim->nnodes; i++) {
        if (strcmp(sim->nodes[i]->host.name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *tl_sim_node_name(const tl_sim *sim, uint32_t node)
{
    return node < sim->nnodes ? sim->nodes[node]->host.name : NULL;
}

uint32_t tl_sim_node_count(const tl_sim *sim) { return sim->nnodes; }

/* A link that corrupts: the FIFO oracle cannot match content in this run. */
static void note_link(tl_sim *sim, const tl_sim_link *l)
{
    if (l->corrupt_ppb > 0) {
        sim->fifo_off = 1;
    }
}

int tl_sim_link_set(tl_sim *sim, uint32_t from, uint32_t to, const tl_sim_link *l)
{
    if (l == NULL || from >= sim->nnodes || to >= sim->nnodes) {
        return TL_E_INVAL;
    }
    sim_link *k = sim_link_get(&sim->net, from, to);
    if (k == NULL) {
        return TL_E_NOMEM;
    }
    note_link(sim, l);
    sim_link_params(&sim->net, k, l);
    k->set = 1;
    return TL_OK;
}

int tl_sim_link_set_default(tl_sim *sim, const tl_sim_link *l)
{
    if (l == NULL) {
        return TL_E_INVAL;
    }
    sim->net.default_link = *l;
    note_link(sim, l);
    for (uint32_t a = 0; a < sim->net.links_n; a++) {
        for (uint32_t b = 0; b < sim->net.links_n; b++) {
            sim_link *k = &sim->net.links[(size_t)a * sim->net.links_n + b];
            if (a != b && !k->set) {
                sim_link_params(&sim->net, k, l);
            }
        }
    }
    return TL_OK;
}

int tl_sim_service_add(tl_sim *sim, uint32_t node, const char *name, tl_sim_service_create create, void *arg,
                       uint64_t start_delay_ns, uint32_t *id)
{
    sim_node *n = sim_node_at(sim, node);
    if (n == NULL || create == NULL || (name && strlen(name) > TL_SIM_SERVICE_NAME_MAX)) {
        return TL_E_INVAL;
    }
    if (sim->started) {
        return TL_E_STATE;
    }
    sim_svc *v = calloc(1, sizeof *v);
    if (v == NULL) {
        return TL_E_NOMEM;
    }
    sim_svc **nv = realloc(n->svcs, (n->nsvcs + 1) * sizeof *nv);
    if (nv == NULL) {
        free(v);
        return TL_E_NOMEM;
    }
    n->svcs = nv;
    if (sim->nsvcs == sim->svcs_cap) {
        uint32_t cap = sim->svcs_cap ? sim->svcs_cap * 2 : 8;
        sim_svc **sv = realloc(sim->svcs, cap * sizeof *sv);
        if (sv == NULL) {
            free(v);
            return TL_E_NOMEM;
        }
        sim->svcs = sv;
        sim->svcs_cap = cap;
    }
    v->sim = sim;
    v->node = n;
    v->id = sim->nsvcs;
    v->create = create;
    v->arg = arg;
    v->start_delay = start_delay_ns;
    v->index = n->nsvcs;
    if (name) {
        snprintf(v->name, sizeof v->name, "%s", name);
    }
    n->svcs[n->nsvcs++] = v;
    sim->svcs[sim->nsvcs++] = v;
    if (id) {
        *id = v->id;
    }
    return TL_OK;
}

uint32_t tl_sim_service_count(const tl_sim *sim) { return sim->nsvcs; }

uint32_t tl_sim_service_node(const tl_sim *sim, uint32_t svc)
{
    return svc < sim->nsvcs ? sim->svcs[svc]->node->host.id : UINT32_MAX;
}

const char *tl_sim_service_name(const tl_sim *sim, uint32_t svc)
{
    return svc < sim->nsvcs ? sim->svcs[svc]->name : NULL;
}

tl_service *tl_sim_service_get(tl_sim *sim, uint32_t svc)
{
    return svc < sim->nsvcs ? sim->svcs[svc]->svc : NULL;
}

int tl_sim_service_report(tl_sim *sim, uint32_t svc, tl_svc_report *out)
{
    if (svc >= sim->nsvcs || out == NULL) {
        return TL_E_INVAL;
    }
    sim_svc *v = sim->svcs[svc];
    *out = v->total;
    if (v->svc && v->svc->ops->report) {
        tl_svc_report r;
        memset(&r, 0, sizeof r);
        v->svc->ops->report(v->svc, &r);
        tl_svc_report_add(out, &r, 1);
    }
    return TL_OK;
}

int tl_sim_service_done(const tl_sim *sim, uint32_t svc) { return svc < sim->nsvcs && sim->svcs[svc]->done; }

static sim_action *action_new(tl_sim *sim)
{
    sim_action *a = calloc(1, sizeof *a);
    if (a) {
        a->next_all = sim->actions;
        sim->actions = a;
    }
    return a;
}

static int action_push(tl_sim *sim, uint64_t t, sim_action *a)
{
    return sim_heap_push(&sim->net.w.heap, t, EV_ACTION, a, 0);
}

int tl_sim_at(tl_sim *sim, uint64_t t, tl_sim_action action, uint32_t a, uint32_t b, uint64_t arg,
              unsigned flags)
{
    if (t < sim->net.w.now || action < TL_SIM_CRASH || action > TL_SIM_HEAL_ALL ||
        (a >= sim->nnodes && action != TL_SIM_HEAL_ALL)) {
        return TL_E_INVAL;
    }
    if ((action == TL_SIM_PARTITION || action == TL_SIM_HEAL) && b != TL_SIM_ALL_NODES &&
        (b >= sim->nnodes || b == a)) {
        return TL_E_INVAL;
    }
    sim_action *x = action_new(sim);
    if (x == NULL) {
        return TL_E_NOMEM;
    }
    x->action = action;
    x->a = a;
    x->b = b;
    x->arg = arg;
    x->flags = flags;
    return action_push(sim, t, x);
}

int tl_sim_at_link(tl_sim *sim, uint64_t t, uint32_t from, uint32_t to, const tl_sim_link *l)
{
    if (t < sim->net.w.now || from >= sim->nnodes || to >= sim->nnodes || l == NULL) {
        return TL_E_INVAL;
    }
    sim_action *x = action_new(sim);
    if (x == NULL) {
        return TL_E_NOMEM;
    }
    x->is_link = 1;
    x->a = from;
    x->b = to;
    x->link = *l;
    note_link(sim, l);
    return action_push(sim, t, x);
}

int tl_sim_call_at(tl_sim *sim, uint64_t t, void (*fn)(tl_sim *sim, void *arg), void *arg)
{
    if (t < sim->net.w.now || fn == NULL) {
        return TL_E_INVAL;
    }
    sim_action *x = action_new(sim);
    if (x == NULL) {
        return TL_E_NOMEM;
    }
    x->is_call = 1;
    x->fn = fn;
    x->fn_arg = arg;
    return action_push(sim, t, x);
}

uint64_t tl_sim_now(const tl_sim *sim) { return sim->net.w.now; }

uint64_t tl_sim_trace_hash(const tl_sim *sim) { return sim->net.w.hash; }

tl_sim_node_state tl_sim_node_state_get(const tl_sim *sim, uint32_t node)
{
    return node < sim->nnodes ? sim->nodes[node]->host.state : TL_SIM_NODE_DEAD;
}

tl_engine *tl_sim_node_engine(tl_sim *sim, uint32_t node)
{
    return node < sim->nnodes ? sim->nodes[node]->engine : NULL;
}

void tl_sim_get_stats(const tl_sim *sim, tl_sim_stats *out) { *out = sim->net.w.stats; }

int tl_sim_node_stats_get(const tl_sim *sim, uint32_t node, tl_sim_node_stats *out)
{
    if (node >= sim->nnodes || out == NULL) {
        return TL_E_INVAL;
    }
    const sim_node *n = sim->nodes[node];
    *out = n->host.st;
    out->state = n->host.state;
    out->sndbuf_bytes = 0;
    out->rcvbuf_bytes = 0;
    for (const sim_sock *s = n->host.socks; s; s = s->node_next) {
        out->sndbuf_bytes += s->sb.len;
        out->rcvbuf_bytes += sim_sock_available(s);
    }
    return TL_OK;
}

void tl_sim_destroy(tl_sim *sim)
{
    if (sim == NULL) {
        return;
    }
    if (!sim->net.w.failed) {
        tl_sim_finish(sim);
    }
    /* Services first (their reports are no longer asked for), then engines. */
    for (uint32_t i = 0; i < sim->nnodes; i++) {
        sim_node *n = sim->nodes[i];
        for (uint32_t k = 0; k < n->nsvcs; k++) {
            sim_svc *v = n->svcs[k];
            if (v->svc && v->svc->ops->destroy) {
                v->svc->ops->destroy(v->svc);
            }
            v->svc = NULL;
        }
        if (n->engine) {
            tl_engine_destroy(n->engine);
            n->engine = NULL;
        }
    }
    /* Drop every reference the queues hold, then the sockets' own. */
    sim_event ev;
    while (sim_heap_pop(&sim->net.w.heap, &ev)) {
        if (ev.kind == EV_SEGMENT) {
            sim_seg *g = ev.ptr;
            sim_conn_unref(&sim->net, g->conn);
            g->next_free = sim->net.seg_free;
            sim->net.seg_free = g;
        } else if (ev.kind == EV_TCP_TIMER) {
            sim_conn_unref(&sim->net, ev.ptr);
        }
    }
    sim_heap_free(&sim->net.w.heap);
    while (sim->net.flush_head) {
        sim_sock *s = sim->net.flush_head;
        sim->net.flush_head = s->next_flush;
        s->in_flush = 0;
        sim_conn_unref(&sim->net, s->conn);
    }
    for (uint32_t i = 0; i < sim->nnodes; i++) {
        sim_node *n = sim->nodes[i];
        sim_obj *o;
        while ((o = dirty_pop(n)) != NULL) {
            dirty_done(sim, o);
        }
    }
    for (uint32_t i = 0; i < sim->nnodes; i++) {
        sim_node *n = sim->nodes[i];
        while (n->host.socks) {
            sim_sock *s = n->host.socks;
            s->state = TCP_CLOSED;
            s->listener = NULL;
            sim_sock_detach(s);
        }
    }
    for (uint32_t i = 0; i < sim->nnodes; i++) {
        sim_node *n = sim->nodes[i];
        while (n->host.listeners) {
            sim_listener *l = n->host.listeners;
            n->host.listeners = l->next;
            free(l);
        }
        chan_clear(n);
        tl_chan_oracles_clear(&n->oracles);
        for (uint32_t k = 0; k < n->nsvcs; k++) {
            free(n->svcs[k]);
        }
        free(n->svcs);
        free(n->group_svc);
        free(n->timers);
        free(n);
    }
    free(sim->nodes);
    free(sim->net.hosts);
    for (uint32_t i = 0; i < sim->net.links_n * sim->net.links_n; i++) {
        sim_link_free(&sim->net.links[i]);
    }
    free(sim->net.links);
    free(sim->svcs);
    while (sim->actions) {
        sim_action *a = sim->actions;
        sim->actions = a->next_all;
        free(a);
    }
    sim_seg_free_all(&sim->net);
    free(sim);
}
