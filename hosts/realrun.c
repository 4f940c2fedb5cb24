/*
 * Scenarios with real processes on real sockets (hosts/realrun.h).
 *
 * Layout of a run: every exec node is spawned (hosts/proc.h) and must accept
 * connections; every (client node, real node) pair a service connects over
 * gets a proxy route (hosts/proxy.h) carrying the file's link between them;
 * the client nodes each run an engine on the POSIX host
 * (patterns/runner_posix.h) with their services, wrapped to start at their
 * start= time, to see scenario time from the start of the run, and to feed
 * the channel oracles (sim/oracle.h) every message they are handed. The
 * timeline plays in real time on the calling thread; then the run is
 * checked by scn_verdict, as the simulator checks its runs.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "proxy.h"
#include "realrun.h"
#include "../patterns/runner_posix.h"
#include "../sim/oracle.h"
#include "../sim/scenario.h"
#include "../sim/verdict.h"

#define TOKEN_START 0x7f5e7a2700000001ull /* the wrapper's own timer; patterns use small tokens */

typedef struct realrun realrun;

typedef struct {
    int kind; /* SCN_NODE_* */
    const char *name;
    char command[2048];
    char addr[TL_ADDR_TEXT_MAX];
    uint64_t ready_ns;
    tl_proc *proc;
    char log[640];
    tl_sim_node_state state;
    uint32_t incarnation;
    /* a node of ours: its engine and services */
    size_t nsvcs;
    tl_runner *runner;
    pthread_t thread;
    int thread_on;
    tl_engine_stats es;
    tl_chan_oracles oracles; /* its channels, as its services see them */
    tl_chan_oracles peer;    /* per its channel: what the real peer wrote (the proxy saw it) */
} rnode;

typedef struct {
    realrun *rr;
    size_t index;
    rnode *node;
    tl_service outer; /* what the runner runs */
    tl_service *inner;
    void *cfg;
    char connect[320];
    const tl_svc_env *env;
    tl_svc_env ienv;
    int started;
    pthread_mutex_t lock; /* held while the pattern works; the timeline's snapshots take it */
} rsvc;

typedef struct {
    char name[2 * SCN_NAME_MAX + 5];
    int client, server;
    char listen[320];
} rroute;

struct realrun {
    const tl_scenario *scn;
    const tl_real_options *opt;
    rnode *nodes;
    rsvc *svcs;
    rroute *routes;
    size_t nroutes;
    tl_proxy *px;
    uint64_t t0;
    FILE *trace;
    int trace_own;
    char trace_path[640];
    char logs[512];
    int logs_made;
    int remove_logs; /* the run passed in a directory of ours: it goes */
    pthread_mutex_t olock;
    uint16_t *conn_chan; /* proxy connection -> the client's channel number */
    int *conn_node;      /* proxy connection -> client node */
    size_t conn_cap;
    char oracle_first[320];
    uint64_t oracle_violations;
    uint64_t oracle_checks; /* application messages matched against the peer */
    int fifo_off;
    unsigned spawns;
    tl_proxy_stats pst;
};

static uint64_t now_ns(void) { return tl_runner_now_ns(); }

static uint64_t elapsed(const realrun *rr)
{
    uint64_t t = now_ns();
    return t > rr->t0 ? t - rr->t0 : 0;
}

static int stopped(const realrun *rr) { return rr->opt->stop != NULL && *rr->opt->stop != 0; }

/* Sleep until t (run time) in slices, so that a stop request is seen. */
static void sleep_until(const realrun *rr, uint64_t t)
{
    for (;;) {
        uint64_t e = elapsed(rr);
        if (e >= t || stopped(rr)) {
            return;
        }
        uint64_t d = t - e;
        if (d > 50 * TL_SIM_NS_PER_MS) {
            d = 50 * TL_SIM_NS_PER_MS;
        }
        struct timespec ts = {(time_t)(d / 1000000000ull), (long)(d % 1000000000ull)};
        nanosleep(&ts, NULL);
    }
}

/* A trace line of the runner: "<time> <node> <event>" (the proxy adds its own). */
static void rtr(realrun *rr, const char *who, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void rtr(realrun *rr, const char *who, const char *fmt, ...)
{
    char t[32];
    va_list ap;
    if (rr->trace == NULL) {
        return;
    }
    tl_px_fmt_time(elapsed(rr), t, sizeof t);
    flockfile(rr->trace);
    fprintf(rr->trace, "%s %s ", t, who);
    va_start(ap, fmt);
    vfprintf(rr->trace, fmt, ap);
    va_end(ap);
    fputc('\n', rr->trace);
    funlockfile(rr->trace);
}

/* ------------------------------------------------------------ the check */

static int is_client_kind(const scn_service_kind *k) { return !k->listens; }

/* The node a service's connect= names: a real node, or -1. */
static int connect_target(const tl_scenario *scn, const scn_service *s, const rnode *nodes)
{
    const char *addrs[8];
    size_t n = scn_service_addresses(s->kind, s->cfg, addrs, 8);
    for (size_t i = 0; i < n; i++) {
        tl_address a;
        if (tl_address_parse(addrs[i], strlen(addrs[i]), &a) != TL_OK || a.kind != TL_ADDR_TCP) {
            continue;
        }
        for (size_t k = 0; k < scn->nnodes; k++) {
            if (strcmp(scn->nodes[k].name, a.host) == 0 && nodes[k].kind != SCN_NODE_SIM) {
                return (int)k;
            }
        }
    }
    return -1;
}

static int cerr(tl_scn_error *err, unsigned line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int cerr(tl_scn_error *err, unsigned line, const char *fmt, ...)
{
    va_list ap;
    err->line = line;
    err->column = 1;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return TL_E_INVAL;
}

/* The nodes as this run sees them: the file's, with --exec / --external. */
static int nodes_init(const tl_scenario *scn, const tl_real_options *opt, rnode *nodes, tl_scn_error *err)
{
    for (size_t i = 0; i < scn->nnodes; i++) {
        const scn_node *sn = &scn->nodes[i];
        rnode *n = &nodes[i];
        n->kind = sn->real;
        n->name = sn->name;
        n->ready_ns = sn->ready_ns ? sn->ready_ns : 10 * TL_SIM_NS_PER_S;
        snprintf(n->addr, sizeof n->addr, "%s", sn->addr);
        if (sn->command != NULL) {
            snprintf(n->command, sizeof n->command, "%s", sn->command);
        }
    }
    const char *const *lists[2] = {opt ? opt->exec : NULL, opt ? opt->external : NULL};
    size_t counts[2] = {opt ? opt->nexec : 0, opt ? opt->nexternal : 0};
    for (int w = 0; w < 2; w++) {
        for (size_t j = 0; j < counts[w]; j++) {
            const char *eq = strchr(lists[w][j], '=');
            char name[SCN_NAME_MAX];
            size_t nl = eq ? (size_t)(eq - lists[w][j]) : 0;
            if (eq == NULL || nl == 0 || nl >= sizeof name || eq[1] == '\0') {
                snprintf(err->message, sizeof err->message, "--%s %s: expected NODE=%s",
                         w ? "external" : "exec", lists[w][j], w ? "ADDR" : "COMMAND");
                return TL_E_INVAL;
            }
            memcpy(name, lists[w][j], nl);
            name[nl] = '\0';
            size_t k = 0;
            while (k < scn->nnodes && strcmp(scn->nodes[k].name, name) != 0) {
                k++;
            }
            if (k == scn->nnodes) {
                snprintf(err->message, sizeof err->message, "--%s: the file has no node named '%s'",
                         w ? "external" : "exec", name);
                return TL_E_INVAL;
            }
            if (scn->nodes[k].real == SCN_NODE_SIM) {
                snprintf(
                    err->message, sizeof err->message,
                    "--%s: node %s is one of tofulab's own (it runs the file's services); only a real node "
                    "(exec or external) can be replaced",
                    w ? "external" : "exec", name);
                return TL_E_INVAL;
            }
            rnode *n = &nodes[k];
            if (w == 0) {
                n->kind = SCN_NODE_EXEC;
                snprintf(n->command, sizeof n->command, "%s", eq + 1);
                if (n->addr[0] == '\0' && scn->nodes[k].real == SCN_NODE_EXTERNAL) {
                    snprintf(n->addr, sizeof n->addr, "%s", scn->nodes[k].addr);
                }
            } else {
                tl_address a;
                if (tl_address_parse(eq + 1, strlen(eq + 1), &a) != TL_OK) {
                    snprintf(err->message, sizeof err->message,
                             "--external %s: expected an address tcp|HOST|PORT or uds|PATH", lists[w][j]);
                    return TL_E_INVAL;
                }
                n->kind = SCN_NODE_EXTERNAL;
                snprintf(n->addr, sizeof n->addr, "%s", eq + 1);
            }
        }
    }
    return TL_OK;
}

static int check_expect(const tl_scenario *scn, const rnode *nodes, const scn_expect *e, const char *what,
                        tl_scn_error *err)
{
    if (e->node < 0) {
        if (e->metric != M_CONNECTIONS) {
            return cerr(
                err, e->line,
                "%s * %s: real sockets do not show it; the real-socket runner measures `* connections` "
                "(through the proxy) of the network-wide metrics",
                what, e->text[0] ? e->text + 2 : "");
        }
        return TL_OK;
    }
    if (nodes[e->node].kind != SCN_NODE_SIM && e->metric == M_CLOSED_BY) {
        return cerr(err, e->line,
                    "%s %s: closed-by is counted by tofulab's own engines; node %s is a real process", what,
                    e->text, scn->nodes[e->node].name);
    }
    return TL_OK;
}

int tl_real_check(const tl_scenario *scn, const tl_real_options *opt, tl_scn_error *err)
{
    memset(err, 0, sizeof *err);
    snprintf(err->file, sizeof err->file, "%s", scn->file);
    rnode *nodes = calloc(scn->nnodes, sizeof *nodes);
    if (nodes == NULL) {
        snprintf(err->message, sizeof err->message, "out of memory");
        return TL_E_NOMEM;
    }
    int rc = nodes_init(scn, opt, nodes, err);
    int any_real = 0;
    for (size_t i = 0; rc == TL_OK && i < scn->nnodes; i++) {
        any_real |= nodes[i].kind != SCN_NODE_SIM;
    }
    if (rc == TL_OK && !any_real) {
        rc = cerr(err, 0,
                  "no node is a real process: declare one with `node NAME exec \"COMMAND\"` or `node NAME "
                  "external ADDR`, or run the file with `tofulab sim run`");
        err->column = 0;
    }
    for (size_t i = 0; rc == TL_OK && i < scn->nservices; i++) {
        const scn_service *s = &scn->services[i];
        const char *node = scn->nodes[s->node].name;
        if (nodes[s->node].kind != SCN_NODE_SIM) {
            rc = cerr(err, s->line,
                      "service %s on node %s: %s is a real process and runs its own services; the file's "
                      "services run on tofulab's own nodes",
                      s->name, node, node);
        } else if (!is_client_kind(s->kind)) {
            rc = cerr(
                err, s->line,
                "service %s (%s) listens: on real sockets tofulab's nodes run the client patterns, the real "
                "processes are the servers",
                s->name, s->kind->name);
        } else if (connect_target(scn, s, nodes) < 0) {
            rc = cerr(
                err, s->line,
                "service %s on node %s: its connect= must name a real node (tcp|NODE|PORT, NODE declared "
                "with exec or external)",
                s->name, node);
        }
    }
    for (size_t i = 0; rc == TL_OK && i < scn->nactions; i++) {
        const scn_action *a = &scn->actions[i];
        if (a->is_link) {
            continue;
        }
        const rnode *n = &nodes[a->a];
        const char *word = a->action == TL_SIM_CRASH     ? "crash"
                           : a->action == TL_SIM_PAUSE   ? "pause"
                           : a->action == TL_SIM_RESUME  ? "resume"
                           : a->action == TL_SIM_RESTART ? "restart"
                                                         : NULL;
        if (a->action == TL_SIM_STOP_LISTENER) {
            rc = cerr(
                err, a->line,
                "stop-listener: tofulab cannot close a real process's listener under it; use crash, or a "
                "`down` fault in `tofulab proxy`");
        } else if (word != NULL && n->kind == SCN_NODE_SIM) {
            rc = cerr(
                err, a->line,
                "%s %s: node %s is one of tofulab's own (its client patterns); crash, pause and restart are "
                "for real processes (exec)",
                word, n->name, n->name);
        } else if (word != NULL && n->kind == SCN_NODE_EXTERNAL) {
            rc = cerr(
                err, a->line,
                "%s %s: node %s is external (already running): tofulab did not start it and cannot %s it; "
                "declare it with `exec \"COMMAND\"`",
                word, n->name, n->name, word);
        } else if (a->action == TL_SIM_SILENT_DEATH && n->kind == SCN_NODE_SIM) {
            rc = cerr(err, a->line,
                      "silent-death %s: node %s is one of tofulab's own; only a real node can vanish",
                      n->name, n->name);
        }
    }
    for (size_t i = 0; rc == TL_OK && i < scn->nexpects; i++) {
        rc = check_expect(scn, nodes, &scn->expects[i], "expect", err);
    }
    for (size_t i = 0; rc == TL_OK && i < scn->nreports; i++) {
        rc = check_expect(scn, nodes, &scn->reports[i], "report", err);
    }
    free(nodes);
    return rc;
}

/* ------------------------------------------------------------ oracles */

static void oracle_violation(realrun *rr, const rnode *n, uint16_t ch, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void oracle_violation(realrun *rr, const rnode *n, uint16_t ch, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    rr->oracle_violations++;
    rtr(rr, n->name, "ch=%u oracle %s", (unsigned)ch, what);
    if (rr->oracle_first[0] == '\0') {
        snprintf(rr->oracle_first, sizeof rr->oracle_first, "node %s channel %u: %s", n->name, (unsigned)ch,
                 what);
    }
}

static int grow_conns(realrun *rr, uint64_t conn)
{
    if (conn < rr->conn_cap) {
        return 0;
    }
    size_t cap = rr->conn_cap ? rr->conn_cap : 64;
    while (cap <= conn) {
        cap *= 2;
    }
    uint16_t *c = realloc(rr->conn_chan, cap * sizeof *c);
    if (c == NULL) {
        return -1;
    }
    rr->conn_chan = c;
    int *nd = realloc(rr->conn_node, cap * sizeof *nd);
    if (nd == NULL) {
        return -1;
    }
    rr->conn_node = nd;
    memset(rr->conn_chan + rr->conn_cap, 0, (cap - rr->conn_cap) * sizeof *c);
    for (size_t i = rr->conn_cap; i < cap; i++) {
        rr->conn_node[i] = -1;
    }
    rr->conn_cap = cap;
    return 0;
}

/* The proxy's observer: the client's channel of each connection (the
 * channel number its engine writes on every frame, 6.6), and what the peer
 * wrote on it, in order. */
static void on_frame(void *ctx, const tl_px_frame_event *ev)
{
    realrun *rr = ctx;
    const tl_frame *f = ev->frame;
    pthread_mutex_lock(&rr->olock);
    if (grow_conns(rr, ev->conn) != 0) {
        pthread_mutex_unlock(&rr->olock);
        return;
    }
    if (ev->dir == TL_PX_UP && rr->conn_chan[ev->conn] == 0 && f->hdr.channel != 0) {
        for (size_t i = 0; i < rr->nroutes; i++) {
            if (strcmp(rr->routes[i].name, ev->route) == 0) {
                rr->conn_node[ev->conn] = rr->routes[i].client;
            }
        }
        rr->conn_chan[ev->conn] = f->hdr.channel;
        if (rr->conn_node[ev->conn] >= 0) {
            /* a new connection under that number: what an old one left is gone */
            tl_chan_oracle *q =
                tl_chan_oracles_get(&rr->nodes[rr->conn_node[ev->conn]].peer, f->hdr.channel, 1);
            if (q != NULL) {
                q->head = q->n = 0;
            }
        }
    }
    if (ev->dir == TL_PX_DOWN && !ev->held && rr->conn_chan[ev->conn] != 0 && rr->conn_node[ev->conn] >= 0 &&
        tl_oracle_app_message(f->hdr.proto)) {
        tl_chan_oracle *q =
            tl_chan_oracles_get(&rr->nodes[rr->conn_node[ev->conn]].peer, rr->conn_chan[ev->conn], 1);
        uint64_t d = tl_oracle_digest(
            tl_oracle_content(f->hdr.proto, f->hdr.status, f->text, f->hdr.thl, f->body, f->hdr.bl),
            f->hdr.message_id);
        if (q == NULL || tl_oracle_posted(q, d) != 0) {
            rr->fifo_off = 1; /* out of memory: the FIFO check cannot go on */
        }
    }
    pthread_mutex_unlock(&rr->olock);
}

/* A message handed to service w: channel_closed once and last, FIFO. */
static void oracle_delivered(rsvc *w, const tl_message *m)
{
    realrun *rr = w->rr;
    rnode *n = w->node;
    uint16_t ch = m->hdr.channel;
    if (ch == 0) {
        return;
    }
    pthread_mutex_lock(&rr->olock);
    tl_chan_oracle *o = tl_chan_oracles_get(&n->oracles, ch, 1);
    unsigned found = o ? tl_oracle_delivered(o, (uint32_t)w->index + 1, m) : 0;
    if (found & TL_ORACLE_CLOSED_TWICE) {
        oracle_violation(rr, n, ch, "channel_closed delivered twice");
    }
    if (found & TL_ORACLE_AFTER_CLOSED) {
        oracle_violation(rr, n, ch, "%s id %llu from the peer after channel_closed",
                         tl_opcode_name(tl_proto_opcode(m->hdr.proto)),
                         (unsigned long long)m->hdr.message_id);
    }
    if ((found & TL_ORACLE_CHECK_FIFO) && !rr->fifo_off) {
        rr->oracle_checks++;
        uint64_t d = tl_oracle_digest(tl_oracle_content(m->hdr.proto, m->hdr.status, m->text.data,
                                                        m->text.len, m->body.data, m->body.len),
                                      m->hdr.message_id);
        if (!tl_oracle_match(tl_chan_oracles_get(&n->peer, ch, 0), d)) {
            oracle_violation(
                rr, n, ch,
                "%s id %llu delivered, but the peer never wrote it on that connection after what came "
                "before (reordered, duplicated or altered)",
                tl_opcode_name(tl_proto_opcode(m->hdr.proto)), (unsigned long long)m->hdr.message_id);
        }
    }
    pthread_mutex_unlock(&rr->olock);
}

/* ------------------------------------------------------------ services */

static rsvc *W(void *host) { return host; }

static int w_get(void *host, tl_get_strategy how, tl_message **out)
{
    return W(host)->env->get(W(host)->env->host, how, out);
}

static void w_put(void *host, tl_message **msg) { W(host)->env->put(W(host)->env->host, msg); }

static int w_post(void *host, tl_message **msg, tl_post_out *out)
{
    return W(host)->env->post(W(host)->env->host, msg, out);
}

/* scenario time: from the start of the run, as in the simulator */
static uint64_t w_now(void *host) { return elapsed(W(host)->rr); }

static void w_set_timer(void *host, uint64_t delay_ns, uint64_t token)
{
    W(host)->env->set_timer(W(host)->env->host, delay_ns, token);
}

static void w_cancel_timer(void *host, uint64_t token)
{
    W(host)->env->cancel_timer(W(host)->env->host, token);
}

static uint64_t w_random(void *host) { return W(host)->env->random(W(host)->env->host); }

static void w_log(void *host, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 0)))
#endif
    ;

static void w_log(void *host, const char *fmt, va_list ap)
{
    rsvc *w = host;
    char line[400];
    va_list cp;
    va_copy(cp, ap);
    vsnprintf(line, sizeof line, fmt, cp);
    va_end(cp);
    rtr(w->rr, w->node->name, "log %s: %s", w->rr->scn->services[w->index].name, line);
    if (w->rr->opt->verbose) {
        w->env->log(w->env->host, fmt, ap);
    }
}

static void inner_start(rsvc *w)
{
    const scn_service *s = &w->rr->scn->services[w->index];
    w->started = 1;
    rtr(w->rr, w->node->name, "service %s start", s->name);
    int rc = w->inner->ops->start ? w->inner->ops->start(w->inner, &w->ienv) : 0;
    if (rc != 0) {
        rtr(w->rr, w->node->name, "service %s start-failed", s->name);
        w->inner->done = 1;
    }
    if (w->inner->done) {
        w->outer.done = 1;
        rtr(w->rr, w->node->name, "service %s done", s->name);
    }
}

static int wrap_start(tl_service *s, const tl_svc_env *env)
{
    rsvc *w = s->state;
    const scn_service *sv = &w->rr->scn->services[w->index];
    pthread_mutex_lock(&w->lock);
    w->env = env;
    uint64_t now = elapsed(w->rr);
    if (sv->start <= now) {
        inner_start(w);
    } else {
        env->set_timer(env->host, sv->start - now, TOKEN_START);
    }
    pthread_mutex_unlock(&w->lock);
    return 0;
}

static int wrap_on_message(tl_service *s, const tl_svc_env *env, tl_message **msg)
{
    rsvc *w = s->state;
    int r = 0;
    (void)env;
    pthread_mutex_lock(&w->lock);
    if (w->started && !w->inner->done) {
        oracle_delivered(w, *msg);
        r = w->inner->ops->on_message(w->inner, &w->ienv, msg);
        if (r != 0 || w->inner->done) {
            w->inner->done = 1;
            s->done = 1;
            rtr(w->rr, w->node->name, "service %s done", w->rr->scn->services[w->index].name);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return r;
}

static void wrap_on_timer(tl_service *s, const tl_svc_env *env, uint64_t token)
{
    rsvc *w = s->state;
    (void)env;
    pthread_mutex_lock(&w->lock);
    if (token == TOKEN_START) {
        if (!w->started) {
            inner_start(w);
        }
    } else if (w->started && !w->inner->done && w->inner->ops->on_timer) {
        w->inner->ops->on_timer(w->inner, &w->ienv, token);
        if (w->inner->done) {
            s->done = 1;
            rtr(w->rr, w->node->name, "service %s done", w->rr->scn->services[w->index].name);
        }
    }
    pthread_mutex_unlock(&w->lock);
}

static void wrap_report(const tl_service *s, tl_svc_report *out)
{
    rsvc *w = s->state;
    pthread_mutex_lock(&w->lock);
    memset(out, 0, sizeof *out);
    w->inner->ops->report(w->inner, out);
    pthread_mutex_unlock(&w->lock);
}

static const tl_service_ops wrap_ops = {"scenario-service", wrap_start,  wrap_on_message,
                                        wrap_on_timer,      wrap_report, NULL};

/* The service's configuration with connect= pointing at its route. */
static int svc_create(realrun *rr, rsvc *w, const char *listen)
{
    const scn_service *s = &rr->scn->services[w->index];
    const scn_service_kind *k = s->kind;
    w->cfg = malloc(k->cfg_size);
    if (w->cfg == NULL) {
        return TL_E_NOMEM;
    }
    memcpy(w->cfg, s->cfg, k->cfg_size);
    snprintf(w->connect, sizeof w->connect, "%s", listen);
    for (size_t i = 0; i < k->ntable; i++) {
        if (k->table[i].type == SCN_K_ADDR) {
            const char **field = (const char **)(void *)((char *)w->cfg + k->pattern_off + k->table[i].off);
            *field = w->connect;
        }
    }
    int rc = k->create(w->cfg, &w->inner);
    if (rc != TL_OK) {
        return rc;
    }
    w->ienv.host = w;
    w->ienv.get = w_get;
    w->ienv.put = w_put;
    w->ienv.post = w_post;
    w->ienv.now = w_now;
    w->ienv.set_timer = w_set_timer;
    w->ienv.cancel_timer = w_cancel_timer;
    w->ienv.random = w_random;
    w->ienv.log = w_log;
    w->outer.ops = &wrap_ops;
    w->outer.state = w;
    return TL_OK;
}

typedef struct {
    realrun *rr;
    rnode *node;
} node_thread_arg;

static void *node_main(void *arg)
{
    node_thread_arg *a = arg;
    realrun *rr = a->rr;
    rnode *n = a->node;
    tl_service *list[256];
    size_t k = 0;
    for (size_t i = 0; i < rr->scn->nservices && k < 256; i++) {
        if (rr->svcs[i].node == n) {
            list[k++] = &rr->svcs[i].outer;
        }
    }
    (void)tl_runner_run(n->runner, list, k, NULL);
    free(a);
    return NULL;
}

/* ------------------------------------------------------------ processes */

static void substitute(const realrun *rr, const rnode *n, char *out, size_t cap)
{
    const char *p = n->command;
    size_t o = 0;
    tl_address a;
    char port[16] = "", host[TL_ADDR_HOST_MAX + 1] = "", path[TL_ADDR_PATH_MAX + 1] = "";
    char inc[16];
    if (tl_address_parse(n->addr, strlen(n->addr), &a) == TL_OK) {
        if (a.kind == TL_ADDR_TCP) {
            snprintf(port, sizeof port, "%u", (unsigned)a.port);
            snprintf(host, sizeof host, "%s", a.host);
        } else {
            snprintf(path, sizeof path, "%s", a.path);
        }
    }
    snprintf(inc, sizeof inc, "%u", (unsigned)n->incarnation);
    const struct {
        const char *key;
        const char *val;
    } subs[] = {{"{tofulab}", rr->opt->tofulab ? rr->opt->tofulab : "tofulab"},
                {"{addr}", n->addr},
                {"{port}", port},
                {"{host}", host},
                {"{path}", path},
                {"{node}", n->name},
                {"{incarnation}", inc},
                {"{logs}", rr->logs}};
    while (*p && o + 1 < cap) {
        size_t s = 0;
        for (; s < sizeof subs / sizeof subs[0]; s++) {
            size_t kl = strlen(subs[s].key);
            if (strncmp(p, subs[s].key, kl) == 0) {
                /* an address carries '|': quote it for the shell */
                int quote = strcmp(subs[s].key, "{addr}") == 0;
                o += (size_t)snprintf(out + o, cap - o, quote ? "'%s'" : "%s", subs[s].val);
                p += kl;
                break;
            }
        }
        if (s == sizeof subs / sizeof subs[0]) {
            out[o++] = *p++;
        }
        if (o >= cap) {
            o = cap - 1;
        }
    }
    out[o] = '\0';
}

static int spawn_node(realrun *rr, rnode *n, char *err, size_t cap)
{
    char cmd[4096], why[400];
    n->incarnation++;
    substitute(rr, n, cmd, sizeof cmd);
    FILE *lg = fopen(n->log, "a");
    if (lg != NULL) {
        fprintf(lg, "--- tofulab run: node %s, incarnation %u: %s\n", n->name, (unsigned)n->incarnation, cmd);
        fclose(lg);
    }
    if (tl_proc_spawn(cmd, n->log, &n->proc, why, sizeof why) != TL_OK) {
        snprintf(err, cap, "node %s: cannot spawn '%s': %s", n->name, cmd, why);
        return TL_E_IO;
    }
    rr->spawns++;
    rtr(rr, n->name, "spawn incarnation=%u pid=%ld: %s", (unsigned)n->incarnation, (long)tl_proc_pid(n->proc),
        cmd);
    if (tl_proc_wait_ready(n->proc, n->addr, n->ready_ns, why, sizeof why) != TL_OK) {
        snprintf(err, cap, "node %s: '%s' %s (its output: %s)", n->name, cmd, why, n->log);
        tl_proc_free(n->proc);
        n->proc = NULL;
        return TL_E_IO;
    }
    n->state = TL_SIM_NODE_UP;
    rtr(rr, n->name, "ready on %s", n->addr);
    return TL_OK;
}

/* ------------------------------------------------------------ faults */

static void px_apply(realrun *rr, const rroute *r, tl_px_fault *f)
{
    char err[200];
    if (tl_proxy_apply(rr->px, r->name, f, err, sizeof err) != TL_OK && f->kind != TL_PXA_REMOVE) {
        rtr(rr, "-", "fault on %s refused: %s", r->name, err);
    }
}

static void px_remove(realrun *rr, const rroute *r, const char *name)
{
    tl_px_fault f;
    memset(&f, 0, sizeof f);
    f.kind = TL_PXA_REMOVE;
    snprintf(f.name, sizeof f.name, "%s", name);
    px_apply(rr, r, &f);
}

/* The link from -> to of the file (the default first, as the simulator). */
static int file_link(const tl_scenario *scn, int from, int to, tl_sim_link *out)
{
    int found = 0;
    tl_sim_link_defaults(out);
    for (size_t i = 0; i < scn->nlinks; i++) {
        const scn_link *l = &scn->links[i];
        if (l->a < 0 && l->b < 0) {
            *out = l->p;
            found = 1;
        }
    }
    for (size_t i = 0; i < scn->nlinks; i++) {
        const scn_link *l = &scn->links[i];
        if (l->a < 0 && l->b < 0) {
            continue;
        }
        int ab = (l->a < 0 || l->a == from) && (l->b < 0 || l->b == to);
        int ba = !l->oneway && (l->a < 0 || l->a == to) && (l->b < 0 || l->b == from);
        if (ab || ba) {
            *out = l->p;
            found = 1;
        }
    }
    return found;
}

static int link_is_ideal(const tl_sim_link *l)
{
    tl_sim_link z;
    tl_sim_link_defaults(&z);
    return memcmp(&z, l, sizeof z) == 0;
}

/* The link words of a route's direction: replaces what was there. */
static void set_link(realrun *rr, const rroute *r, int dir, const tl_sim_link *l)
{
    px_remove(rr, r, dir == TL_PX_UP ? "link_upstream" : "link_downstream");
    if (l == NULL || link_is_ideal(l)) {
        return;
    }
    tl_px_fault f;
    memset(&f, 0, sizeof f);
    f.kind = TL_PXF_LINK;
    f.dir = dir;
    f.toxicity_ppb = TL_SIM_PPB;
    f.link = *l;
    snprintf(f.name, sizeof f.name, "%s", dir == TL_PX_UP ? "link_upstream" : "link_downstream");
    snprintf(f.type, sizeof f.type, "link");
    snprintf(f.text, sizeof f.text, "the file's link");
    px_apply(rr, r, &f);
}

static void blackhole(realrun *rr, const rroute *r, int dir, const char *name)
{
    tl_px_fault f;
    memset(&f, 0, sizeof f);
    f.kind = TL_PXF_BLACKHOLE;
    f.dir = dir;
    f.toxicity_ppb = TL_SIM_PPB;
    snprintf(f.name, sizeof f.name, "%s_%s", name, dir == TL_PX_UP ? "upstream" : "downstream");
    snprintf(f.type, sizeof f.type, "blackhole");
    snprintf(f.text, sizeof f.text, "%s", name);
    px_apply(rr, r, &f);
}

static void partition_name(const realrun *rr, const rroute *r, char *out, size_t cap)
{
    snprintf(out, cap, "partition-%s-%s", rr->nodes[r->client].name, rr->nodes[r->server].name);
}

/* partition / heal between a and b (b < 0: every other node). */
static void partition(realrun *rr, int a, int b, int oneway, int heal)
{
    for (size_t i = 0; i < rr->nroutes; i++) {
        const rroute *r = &rr->routes[i];
        int a_is_client = r->client == a && (b < 0 || r->server == b);
        int a_is_server = r->server == a && (b < 0 || r->client == b);
        if (!a_is_client && !a_is_server) {
            continue;
        }
        char name[TL_PX_NAME_MAX];
        partition_name(rr, r, name, sizeof name);
        if (heal) {
            px_remove(rr, r, name);
            continue;
        }
        /* a -> b is the route's upstream when a is its client */
        int ab = a_is_client ? TL_PX_UP : TL_PX_DOWN;
        blackhole(rr, r, ab, name);
        if (!oneway) {
            blackhole(rr, r, !ab, name);
        }
    }
}

static void routes_accepting(realrun *rr, int server, int on)
{
    for (size_t i = 0; i < rr->nroutes; i++) {
        if (rr->routes[i].server == server) {
            tl_proxy_route_accepting(rr->px, rr->routes[i].name, on);
        }
    }
}

typedef struct {
    uint64_t t;
    int kind; /* 0 file action, 1 heal all, 2 end of a partition's `for`, 3 liveness snapshot */
    size_t action;
    unsigned seq;
} tl_event;

static int event_cmp(const void *x, const void *y)
{
    const tl_event *a = x, *b = y;
    if (a->t != b->t) {
        return a->t < b->t ? -1 : 1;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void do_action(realrun *rr, const scn_action *a, int end_of_for, char *err, size_t cap)
{
    rnode *n = &rr->nodes[a->a];
    if (a->is_link) {
        for (size_t i = 0; i < rr->nroutes; i++) {
            const rroute *r = &rr->routes[i];
            if (r->client == a->a && r->server == a->b) {
                set_link(rr, r, TL_PX_UP, &a->link);
            }
            if (r->server == a->a && r->client == a->b) {
                set_link(rr, r, TL_PX_DOWN, &a->link);
            }
            if (!(a->flags & TL_SIM_ONEWAY)) {
                if (r->client == a->b && r->server == a->a) {
                    set_link(rr, r, TL_PX_UP, &a->link);
                }
                if (r->server == a->b && r->client == a->a) {
                    set_link(rr, r, TL_PX_DOWN, &a->link);
                }
            }
        }
        rtr(rr, n->name, "link %s changed", a->b >= 0 ? rr->nodes[a->b].name : "*");
        return;
    }
    switch (a->action) {
    case TL_SIM_CRASH:
        rtr(rr, n->name, "crash (SIGKILL)");
        tl_proc_kill(n->proc);
        n->state = TL_SIM_NODE_DOWN;
        routes_accepting(rr, a->a, 0);
        break;
    case TL_SIM_PAUSE:
        rtr(rr, n->name, "pause (SIGSTOP)");
        if (tl_proc_signal(n->proc, SIGSTOP) == TL_OK) {
            n->state = TL_SIM_NODE_PAUSED;
        }
        break;
    case TL_SIM_RESUME:
        rtr(rr, n->name, "resume (SIGCONT)");
        if (tl_proc_signal(n->proc, SIGCONT) == TL_OK) {
            n->state = TL_SIM_NODE_UP;
        }
        break;
    case TL_SIM_RESTART:
        rtr(rr, n->name, "restart");
        tl_proc_free(n->proc);
        n->proc = NULL;
        for (size_t i = 0; i < rr->nroutes; i++) {
            if (rr->routes[i].server == a->a) {
                px_remove(rr, &rr->routes[i], "silent-death");
            }
        }
        if (spawn_node(rr, n, err, cap) != TL_OK) {
            n->state = TL_SIM_NODE_DOWN;
            return;
        }
        routes_accepting(rr, a->a, 1);
        break;
    case TL_SIM_SILENT_DEATH:
        rtr(rr, n->name, "silent-death (blackholed%s)", n->proc ? ", SIGSTOP" : "");
        for (size_t i = 0; i < rr->nroutes; i++) {
            if (rr->routes[i].server == a->a) {
                blackhole(rr, &rr->routes[i], TL_PX_UP, "silent-death");
                blackhole(rr, &rr->routes[i], TL_PX_DOWN, "silent-death");
            }
        }
        if (n->proc != NULL) {
            tl_proc_signal(n->proc, SIGSTOP);
        }
        n->state = TL_SIM_NODE_DEAD;
        break;
    case TL_SIM_PARTITION:
        if (end_of_for) {
            rtr(rr, n->name, "partition %s ends", a->b >= 0 ? rr->nodes[a->b].name : "*");
            partition(rr, a->a, a->b, 0, 1);
        } else {
            rtr(rr, n->name, "partition %s%s", a->b >= 0 ? rr->nodes[a->b].name : "*",
                (a->flags & TL_SIM_ONEWAY) ? " oneway" : "");
            partition(rr, a->a, a->b, (a->flags & TL_SIM_ONEWAY) != 0, 0);
        }
        break;
    case TL_SIM_HEAL:
        rtr(rr, n->name, "heal %s", a->b >= 0 ? rr->nodes[a->b].name : "*");
        partition(rr, a->a, a->b, 0, 1);
        break;
    default: break;
    }
}

/* heal TIME (TL_SIM_HEAL_ALL): links keep delay, jitter and rate, lose loss
 * and corruption; partitions heal; paused processes resume. Deaths stay. */
static void heal_all(realrun *rr)
{
    rtr(rr, "-", "heal all");
    for (size_t i = 0; i < rr->nroutes; i++) {
        const rroute *r = &rr->routes[i];
        char name[TL_PX_NAME_MAX];
        partition_name(rr, r, name, sizeof name);
        px_remove(rr, r, name);
        for (int dir = 0; dir < 2; dir++) {
            tl_sim_link l;
            int from = dir == TL_PX_UP ? r->client : r->server, to = dir == TL_PX_UP ? r->server : r->client;
            file_link(rr->scn, from, to, &l);
            /* the latest `at ... link` for this direction, if any, replaced it */
            for (size_t k = 0; k < rr->scn->nactions; k++) {
                const scn_action *a = &rr->scn->actions[k];
                if (a->is_link && a->t <= rr->scn->heal_ns &&
                    ((a->a == from && a->b == to) ||
                     (!(a->flags & TL_SIM_ONEWAY) && a->a == to && a->b == from))) {
                    l = a->link;
                }
            }
            tl_sim_link_clear_faults(&l);
            set_link(rr, r, dir, &l);
        }
    }
    for (size_t i = 0; i < rr->scn->nnodes; i++) {
        rnode *n = &rr->nodes[i];
        if (n->state == TL_SIM_NODE_PAUSED && tl_proc_signal(n->proc, SIGCONT) == TL_OK) {
            n->state = TL_SIM_NODE_UP;
        }
    }
}

/* ------------------------------------------------------------ the view */

static void v_service_report(void *ctx, size_t svc, tl_svc_report *out)
{
    realrun *rr = ctx;
    wrap_report(&rr->svcs[svc].outer, out);
}

static int v_service_done(void *ctx, size_t svc)
{
    realrun *rr = ctx;
    rsvc *w = &rr->svcs[svc];
    pthread_mutex_lock(&w->lock);
    int d = w->started && w->inner->done;
    pthread_mutex_unlock(&w->lock);
    return d;
}

static void v_node_stats(void *ctx, size_t node, tl_sim_node_stats *out)
{
    realrun *rr = ctx;
    const rnode *n = &rr->nodes[node];
    memset(out, 0, sizeof *out);
    out->state = n->kind == SCN_NODE_SIM ? TL_SIM_NODE_UP : n->state;
    out->incarnation = n->kind == SCN_NODE_SIM ? 1 : n->incarnation;
    memcpy(out->closed_by, n->es.closed_by, sizeof out->closed_by);
}

static void v_net_stats(void *ctx, tl_sim_stats *out)
{
    realrun *rr = ctx;
    memset(out, 0, sizeof *out);
    out->connections = rr->pst.connections;
    out->accepted = rr->pst.connections - rr->pst.upstream_failures;
    out->messages_delivered = rr->pst.frames[0] + rr->pst.frames[1];
}

static void v_checks(const scn_host *h, const tl_scenario *scn, tl_scn_result *res)
{
    realrun *rr = h->ctx;
    if (rr->oracle_first[0]) {
        scn_fail(h, res, "%s: %s", scn->file, rr->oracle_first);
    }
}

static void v_summary_head(void *ctx, FILE *f, uint64_t seed, const tl_scn_result *res)
{
    realrun *rr = ctx;
    char end[40];
    scn_format_time(end, sizeof end, res->end_ns);
    fprintf(f,
            "seed %llu: %s real, %u process(es) started, %llu connection(s) through the proxy, %llu frames "
            "(%llu c>s, %llu s>c), %llu reset by faults\n",
            (unsigned long long)seed, end, rr->spawns, (unsigned long long)rr->pst.connections,
            (unsigned long long)(rr->pst.frames[0] + rr->pst.frames[1]),
            (unsigned long long)rr->pst.frames[0], (unsigned long long)rr->pst.frames[1],
            (unsigned long long)rr->pst.resets);
}

static void v_json_stats(void *ctx, FILE *f, const tl_scn_result *res)
{
    realrun *rr = ctx;
    (void)res;
    fprintf(f,
            "\"real\":true,\"spawns\":%u,\"connections\":%llu,\"upstream_failures\":%llu,\"frames_up\":%llu,"
            "\"frames_down\":%llu,\"bytes_up\":%llu,\"bytes_down\":%llu,\"dropped\":%llu,\"held\":%llu,"
            "\"resets\":%llu,\"malformed\":%llu,\"fifo_checks\":%llu,\"oracle_violations\":%llu",
            rr->spawns, (unsigned long long)rr->pst.connections,
            (unsigned long long)rr->pst.upstream_failures, (unsigned long long)rr->pst.frames[0],
            (unsigned long long)rr->pst.frames[1], (unsigned long long)rr->pst.bytes_out[0],
            (unsigned long long)rr->pst.bytes_out[1],
            (unsigned long long)(rr->pst.dropped[0] + rr->pst.dropped[1]), (unsigned long long)rr->pst.held,
            (unsigned long long)rr->pst.resets, (unsigned long long)rr->pst.malformed,
            (unsigned long long)rr->oracle_checks, (unsigned long long)rr->oracle_violations);
}

/* ------------------------------------------------------------ the run */

static uint64_t file_hash(const char *path)
{
    uint64_t h = TL_SIM_FNV_OFFSET;
    FILE *f = fopen(path, "rb");
    char buf[4096];
    size_t n;
    if (f == NULL) {
        return 0;
    }
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        h = tl_sim_fnv1a(h, buf, n);
    }
    fclose(f);
    return h;
}

static void remove_logs(realrun *rr)
{
    for (size_t i = 0; i < rr->scn->nnodes; i++) {
        if (rr->nodes[i].log[0]) {
            unlink(rr->nodes[i].log);
        }
    }
    if (rr->trace_own) {
        unlink(rr->trace_path);
    }
    rmdir(rr->logs);
}

static void teardown(realrun *rr)
{
    for (size_t i = 0; i < rr->scn->nnodes; i++) {
        rnode *n = &rr->nodes[i];
        if (n->thread_on) {
            tl_runner_stop(n->runner);
            pthread_join(n->thread, NULL);
            n->thread_on = 0;
        }
        if (n->runner != NULL) {
            tl_posix_stats(tl_runner_host(n->runner), &n->es);
        }
    }
    if (rr->px != NULL) {
        tl_proxy_get_stats(rr->px, NULL, &rr->pst);
    }
}

static void cleanup(realrun *rr)
{
    for (size_t i = 0; rr->nodes && i < rr->scn->nnodes; i++) {
        rnode *n = &rr->nodes[i];
        tl_runner_destroy(n->runner);
        n->runner = NULL;
        tl_proc_free(n->proc);
        n->proc = NULL;
        tl_chan_oracles_clear(&n->oracles);
        tl_chan_oracles_clear(&n->peer);
    }
    tl_proxy_destroy(rr->px);
    rr->px = NULL;
    for (size_t i = 0; rr->svcs && i < rr->scn->nservices; i++) {
        rsvc *w = &rr->svcs[i];
        if (w->inner != NULL) {
            w->inner->ops->destroy(w->inner);
        }
        free(w->cfg);
        pthread_mutex_destroy(&w->lock);
    }
    free(rr->svcs);
    if (rr->trace_own && rr->trace != NULL) {
        fclose(rr->trace);
        rr->trace = NULL;
    }
    if (rr->remove_logs) {
        remove_logs(rr);
    }
    free(rr->nodes);
    free(rr->routes);
    free(rr->conn_chan);
    free(rr->conn_node);
    pthread_mutex_destroy(&rr->olock);
}

static int setup(realrun *rr, char *err, size_t cap)
{
    const tl_scenario *scn = rr->scn;
    const tl_real_options *opt = rr->opt;
    tl_scn_error se;
    memset(&se, 0, sizeof se);
    if (nodes_init(scn, opt, rr->nodes, &se) != TL_OK) {
        snprintf(err, cap, "%s", se.message);
        return TL_E_INVAL;
    }
    /* the logs */
    if (opt->logs != NULL) {
        snprintf(rr->logs, sizeof rr->logs, "%s", opt->logs);
        if (mkdir(rr->logs, 0755) != 0 && errno != EEXIST) {
            snprintf(err, cap, "--logs %s: cannot create: %s", rr->logs, strerror(errno));
            return TL_E_IO;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(rr->logs, sizeof rr->logs, "%s/tofulab-run.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (mkdtemp(rr->logs) == NULL) {
            snprintf(err, cap, "cannot create a directory for the logs: %s", strerror(errno));
            return TL_E_IO;
        }
        rr->logs_made = 1;
    }
    if (opt->trace != NULL) {
        rr->trace = opt->trace;
    } else {
        snprintf(rr->trace_path, sizeof rr->trace_path, "%s/trace.txt", rr->logs);
        rr->trace = fopen(rr->trace_path, "w");
        if (rr->trace == NULL) {
            snprintf(err, cap, "%s: cannot write: %s", rr->trace_path, strerror(errno));
            return TL_E_IO;
        }
        rr->trace_own = 1;
    }
    for (size_t i = 0; i < scn->nnodes; i++) {
        rnode *n = &rr->nodes[i];
        if (n->kind == SCN_NODE_EXEC) {
            snprintf(n->log, sizeof n->log, "%s/%s.log", rr->logs, n->name);
            tl_address a;
            if (n->addr[0] == '\0' || (tl_address_parse(n->addr, strlen(n->addr), &a) == TL_OK &&
                                       a.kind == TL_ADDR_TCP && a.port == 0)) {
                uint16_t port = tl_proc_free_port();
                if (port == 0) {
                    snprintf(err, cap, "node %s: no free TCP port on 127.0.0.1", n->name);
                    return TL_E_IO;
                }
                snprintf(n->addr, sizeof n->addr, "tcp|127.0.0.1|%u", (unsigned)port);
            }
        }
        if (n->kind == SCN_NODE_EXTERNAL) {
            n->state = TL_SIM_NODE_UP;
            n->incarnation = 1;
        }
    }
    /* the proxy and its routes */
    tl_proxy_options po;
    memset(&po, 0, sizeof po);
    po.seed = rr->opt->seed;
    po.trace = rr->trace;
    po.pcap = opt->pcap;
    po.quiet = 1;
    po.on_frame = on_frame;
    po.ctx = rr;
    if (tl_proxy_create(&po, &rr->px) != TL_OK) {
        snprintf(err, cap, "out of memory");
        return TL_E_NOMEM;
    }
    rr->routes = calloc(scn->nservices + 1, sizeof *rr->routes);
    if (rr->routes == NULL) {
        snprintf(err, cap, "out of memory");
        return TL_E_NOMEM;
    }
    for (size_t i = 0; i < scn->nservices; i++) {
        const scn_service *s = &scn->services[i];
        rsvc *w = &rr->svcs[i];
        w->rr = rr;
        w->index = i;
        w->node = &rr->nodes[s->node];
        pthread_mutex_init(&w->lock, NULL);
        int target = connect_target(scn, s, rr->nodes);
        rroute *r = NULL;
        for (size_t k = 0; k < rr->nroutes; k++) {
            if (rr->routes[k].client == s->node && rr->routes[k].server == target) {
                r = &rr->routes[k];
            }
        }
        if (r == NULL) {
            r = &rr->routes[rr->nroutes++];
            r->client = s->node;
            r->server = target;
            snprintf(r->name, sizeof r->name, "%s-to-%s", scn->nodes[s->node].name, scn->nodes[target].name);
            int rc =
                tl_proxy_route_add(rr->px, r->name, "tcp|127.0.0.1|0", rr->nodes[target].addr, 1, err, cap);
            if (rc != TL_OK) {
                return rc;
            }
            tl_proxy_route_listen(rr->px, r->name, r->listen, sizeof r->listen);
            for (int dir = 0; dir < 2; dir++) {
                tl_sim_link l;
                if (file_link(scn, dir == TL_PX_UP ? r->client : r->server,
                              dir == TL_PX_UP ? r->server : r->client, &l)) {
                    set_link(rr, r, dir, &l);
                }
            }
        }
        int rc = svc_create(rr, w, r->listen);
        if (rc != TL_OK) {
            snprintf(err, cap, "service %s on node %s: cannot create it (%s)", s->name,
                     scn->nodes[s->node].name, tl_strerror(rc));
            return rc;
        }
        w->node->nsvcs++;
    }
    /* a link that corrupts: the FIFO check cannot match content */
    for (size_t i = 0; i < scn->nlinks; i++) {
        rr->fifo_off |= scn->links[i].p.corrupt_ppb != 0;
    }
    for (size_t i = 0; i < scn->nactions; i++) {
        rr->fifo_off |= scn->actions[i].is_link && scn->actions[i].link.corrupt_ppb != 0;
    }
    /* the real processes */
    for (size_t i = 0; i < scn->nnodes; i++) {
        rnode *n = &rr->nodes[i];
        if (n->kind == SCN_NODE_EXEC) {
            int rc = spawn_node(rr, n, err, cap);
            if (rc != TL_OK) {
                return rc;
            }
        }
    }
    /* tofulab's own nodes: an engine each */
    for (size_t i = 0; i < scn->nnodes; i++) {
        rnode *n = &rr->nodes[i];
        if (n->kind != SCN_NODE_SIM || n->nsvcs == 0) {
            continue;
        }
        tl_runner_options ro;
        tl_engine_options eo;
        memset(&ro, 0, sizeof ro);
        memset(&eo, 0, sizeof eo);
        eo.seed = rr->opt->seed * 0x9e3779b97f4a7c15ull + i + 1;
        ro.engine = &eo;
        ro.seed = rr->opt->seed ^ (0x5851f42d4c957f2dull * (i + 1));
        ro.verbose = rr->opt->verbose;
        ro.deadline_ns = scn->duration + 5 * TL_SIM_NS_PER_S;
        int rc = tl_runner_create(&ro, &n->runner);
        if (rc != TL_OK) {
            snprintf(err, cap, "node %s: cannot start an engine (%s)", n->name, tl_strerror(rc));
            return rc;
        }
    }
    return TL_OK;
}

int tl_real_run(const tl_scenario *scn, const tl_real_options *opt, tl_real_result *res, char *err,
                size_t cap)
{
    realrun rr;
    tl_real_options local;
    memset(res, 0, sizeof *res);
    memset(&rr, 0, sizeof rr);
    err[0] = '\0';
    tl_scn_error ce;
    if (tl_real_check(scn, opt, &ce) != TL_OK) {
        if (ce.line) {
            snprintf(err, cap, "%s:%u:%u: %s", ce.file, ce.line, ce.column, ce.message);
        } else {
            snprintf(err, cap, "%s: %s", ce.file, ce.message);
        }
        return TL_E_INVAL;
    }
    local = *opt;
    if (!local.have_seed) {
        uint64_t last;
        tl_scn_seeds(scn, &local.seed, &last);
    }
    rr.scn = scn;
    rr.opt = &local;
    res->seed = local.seed;
    pthread_mutex_init(&rr.olock, NULL);
    rr.nodes = calloc(scn->nnodes, sizeof *rr.nodes);
    rr.svcs = calloc(scn->nservices + 1, sizeof *rr.svcs);
    if (rr.nodes == NULL || rr.svcs == NULL) {
        snprintf(err, cap, "out of memory");
        free(rr.nodes);
        free(rr.svcs);
        pthread_mutex_destroy(&rr.olock);
        return TL_E_NOMEM;
    }
    rr.t0 = now_ns();
    int rc = setup(&rr, err, cap);
    if (rc != TL_OK) {
        teardown(&rr);
        cleanup(&rr);
        snprintf(res->logs, sizeof res->logs, "%s", rr.logs);
        res->logs_kept = 1;
        return rc;
    }

    /* the timeline */
    size_t nev = 0;
    tl_event *ev = calloc(2 * scn->nactions + 3, sizeof *ev);
    if (ev == NULL) {
        teardown(&rr);
        cleanup(&rr);
        snprintf(err, cap, "out of memory");
        return TL_E_NOMEM;
    }
    for (size_t i = 0; i < scn->nactions; i++) {
        ev[nev] = (tl_event){scn->actions[i].t, 0, i, (unsigned)nev};
        nev++;
        if (!scn->actions[i].is_link && scn->actions[i].action == TL_SIM_PARTITION &&
            scn->actions[i].arg != 0) {
            ev[nev] = (tl_event){scn->actions[i].t + scn->actions[i].arg, 2, i, (unsigned)nev};
            nev++;
        }
    }
    if (scn->heal_line) {
        ev[nev] = (tl_event){scn->heal_ns, 1, 0, (unsigned)nev};
        nev++;
    }
    int live = scn->faults_end_known && scn->faults_end_ns < scn->duration;
    uint64_t *at_heal = calloc(scn->nexpects + scn->nservices + 1, sizeof *at_heal);
    if (live) {
        ev[nev] = (tl_event){scn->faults_end_ns, 3, 0, (unsigned)nev};
        nev++;
    }
    qsort(ev, nev, sizeof *ev, event_cmp);

    scn_host h;
    memset(&h, 0, sizeof h);
    h.ctx = &rr;
    h.service_report = v_service_report;
    h.service_done = v_service_done;
    h.node_stats = v_node_stats;
    h.net_stats = v_net_stats;
    h.checks = v_checks;
    h.summary_head = v_summary_head;
    h.json_stats = v_json_stats;

    /* time 0: the proxy and the services start */
    rr.t0 = now_ns();
    tl_proxy_start(rr.px);
    rtr(&rr, "-", "start %s seed %llu (real time)", scn->file, (unsigned long long)local.seed);
    for (size_t i = 0; i < scn->nnodes; i++) {
        rnode *n = &rr.nodes[i];
        if (n->runner == NULL) {
            continue;
        }
        node_thread_arg *a = malloc(sizeof *a);
        if (a != NULL) {
            a->rr = &rr;
            a->node = n;
            if (pthread_create(&n->thread, NULL, node_main, a) == 0) {
                n->thread_on = 1;
            } else {
                free(a);
            }
        }
    }
    char aerr[600] = "";
    for (size_t i = 0; i < nev && aerr[0] == '\0'; i++) {
        if (ev[i].t > scn->duration) {
            break;
        }
        sleep_until(&rr, ev[i].t);
        if (stopped(&rr)) {
            break;
        }
        switch (ev[i].kind) {
        case 0: do_action(&rr, &scn->actions[ev[i].action], 0, aerr, sizeof aerr); break;
        case 1: heal_all(&rr); break;
        case 2: do_action(&rr, &scn->actions[ev[i].action], 1, aerr, sizeof aerr); break;
        default:
            if (at_heal != NULL) {
                scn_at_heal(scn, &h, at_heal);
            }
            rtr(&rr, "-", "faults ended: the liveness phase");
            break;
        }
    }
    /* the rest of the duration, or less: once every service has finished
     * and the timeline is played out, nothing a check reads can change */
    while (aerr[0] == '\0' && elapsed(&rr) < scn->duration && !stopped(&rr)) {
        int done = 1;
        for (size_t i = 0; i < scn->nservices && done; i++) {
            done = v_service_done(&rr, i);
        }
        if (done && scn->nservices > 0) {
            break;
        }
        uint64_t left = scn->duration - elapsed(&rr);
        sleep_until(&rr, elapsed(&rr) + (left < 20 * TL_SIM_NS_PER_MS ? left : 20 * TL_SIM_NS_PER_MS));
    }
    uint64_t end = elapsed(&rr);
    if (stopped(&rr) && aerr[0] == '\0') {
        snprintf(aerr, sizeof aerr, "interrupted by a signal at %.3fs; the processes were killed",
                 (double)end / 1e9);
    }
    rtr(&rr, "-", "end");
    teardown(&rr);
    free(ev);
    if (aerr[0] != '\0') {
        snprintf(err, cap, "%s", aerr);
        free(at_heal);
        cleanup(&rr);
        snprintf(res->logs, sizeof res->logs, "%s", rr.logs);
        res->logs_kept = 1;
        return TL_E_IO;
    }
    if (rr.trace != NULL) {
        fflush(rr.trace);
    }
    res->r.end_ns = end;
    res->r.trace_hash = rr.trace_own ? file_hash(rr.trace_path) : 0;
    res->spawns = rr.spawns;
    tl_scn_run_options so;
    memset(&so, 0, sizeof so);
    so.summary = opt->summary;
    so.json = opt->json;
    /* every failed check by name, after the summary (the first is in res) */
    char *fbuf = NULL;
    size_t flen = 0;
    h.failures = opt->summary ? open_memstream(&fbuf, &flen) : NULL;
    rc = at_heal ? scn_verdict(scn, local.seed, &h, at_heal, live, &so, &res->r, NULL) : TL_E_NOMEM;
    if (h.failures != NULL) {
        fclose(h.failures);
        if (flen > 0) {
            fprintf(opt->summary, "failed checks:\n%s", fbuf);
        }
        free(fbuf);
    }
    free(at_heal);
    rr.remove_logs = rc == TL_OK && res->r.passed && rr.logs_made;
    res->logs_kept = !rr.remove_logs;
    snprintf(res->logs, sizeof res->logs, "%s", rr.logs);
    cleanup(&rr);
    return rc;
}
