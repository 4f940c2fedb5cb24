/*
 * The Heartbeat pattern (PROTOCOL.md section 10); see heartbeat.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_base.h"
#include "heartbeat.h"

#define HB_TIMER_SEND  11u
#define HB_TIMER_CHECK 12u
#define HB_TIMER_STOP  13u

typedef struct {
    uint16_t channel;
    int gone;             /* channel closed or said Bye: no more sends */
    int leaving;          /* ByeRequest seen / sent: its close is not a death */
    int dead;             /* declared dead */
    uint64_t last_heard;  /* env->now */
    uint64_t declared_at; /* when declared dead */
    uint64_t latency;     /* detection latency of the current declaration */
} hb_peer;

typedef struct {
    tl_heartbeat_config cfg;
    char *address;
    uint16_t own;  /* listener (listen role) or our channel (connect role) */
    int connected; /* connect role: the HelloResponse came on `own` */
    /* connect role: hello timeout and reconnect */
    tl_client_retry retry;
    int attempt_over; /* the attempt on `own` failed (counted) or was given up: its frames are ignored */
    int waiting;      /* no channel: the reconnect backoff runs */
    int stopping;     /* stop_ns reached: no reconnect */
    hb_peer *peers;
    size_t npeers, cappeers;
    tl_heartbeat_stats stats;
    tl_svc_report rep;
} hb_state;

static hb_peer *find_peer(hb_state *st, uint16_t ch)
{
    for (size_t i = 0; i < st->npeers; i++) {
        if (st->peers[i].channel == ch && !st->peers[i].gone) {
            return &st->peers[i];
        }
    }
    return NULL;
}

static hb_peer *add_peer(hb_state *st, const tl_svc_env *env, uint16_t ch)
{
    hb_peer *p;

    if (st->npeers == st->cappeers) {
        size_t ncap = st->cappeers ? st->cappeers * 2 : 8;
        void *np = realloc(st->peers, ncap * sizeof *st->peers);
        if (np == NULL) {
            tl_svc_report_error(&st->rep, env, "out of memory tracking a peer");
            return NULL;
        }
        st->peers = np;
        st->cappeers = ncap;
    }
    p = &st->peers[st->npeers++];
    memset(p, 0, sizeof *p);
    p->channel = ch;
    p->last_heard = env->now(env->host);
    st->stats.peers++;
    return p;
}

static void arm_check(hb_state *st, const tl_svc_env *env)
{
    uint64_t now = env->now(env->host), due = UINT64_MAX;

    for (size_t i = 0; i < st->npeers; i++) {
        const hb_peer *p = &st->peers[i];
        if (!p->gone && !p->dead && p->last_heard + st->cfg.timeout_ns < due) {
            due = p->last_heard + st->cfg.timeout_ns;
        }
    }
    if (due == UINT64_MAX) {
        env->cancel_timer(env->host, HB_TIMER_CHECK);
    } else {
        env->set_timer(env->host, due > now ? due - now : 0, HB_TIMER_CHECK);
    }
}

static void declare_dead(hb_state *st, const tl_svc_env *env, hb_peer *p, const char *why)
{
    uint64_t now = env->now(env->host);

    p->dead = 1;
    p->declared_at = now;
    if (st->cfg.expect_death_ns != 0) {
        p->latency = now > st->cfg.expect_death_ns ? now - st->cfg.expect_death_ns : 0;
    } else {
        p->latency = now - p->last_heard;
    }
    st->stats.suspicions++;
    st->stats.last_latency_ns = p->latency;
    tl_svc_logf(env, "channel %u: peer declared dead (%s) after %llu ns of silence", (unsigned)p->channel,
                why, (unsigned long long)(now - p->last_heard));
}

/* A frame from the peer: alive. */
static void heard(hb_state *st, const tl_svc_env *env, hb_peer *p)
{
    uint64_t now = env->now(env->host);

    if (p->dead) {
        p->dead = 0;
        st->stats.false_suspicions++;
        tl_svc_logf(env, "channel %u: peer heard again %llu ns after it was declared dead (false suspicion)",
                    (unsigned)p->channel, (unsigned long long)(now - p->declared_at));
    }
    p->last_heard = now;
    arm_check(st, env);
}

static void send_heartbeats(hb_state *st, const tl_svc_env *env)
{
    for (size_t i = 0; i < st->npeers; i++) {
        hb_peer *p = &st->peers[i];
        tl_message *m = NULL;
        tl_post_out out;
        int rc;

        if (p->gone || p->leaving) {
            continue;
        }
        rc = env->get(env->host, TL_GET_ALWAYS, &m);
        if (rc != TL_OK) {
            tl_svc_report_error(&st->rep, env, "no message: %s", tl_strerror(rc));
            return;
        }
        /* Empty body, id 0: the engine assigns a fresh id (section 10). */
        m->hdr.channel = p->channel;
        m->hdr.proto = tl_proto_make(TL_OP_SIGNAL, 0, 0, 0, 0);
        memset(&out, 0, sizeof out);
        rc = env->post(env->host, &m, &out);
        if (rc == TL_OK) {
            st->rep.sent++;
        } else {
            env->put(env->host, &m);
        }
    }
}

/* Connect role: local abort of our channel (6.8); channel_closed follows. */
static void abort_own(hb_state *st, const tl_svc_env *env)
{
    tl_message *m = NULL;

    st->attempt_over = 1;
    if (env->get(env->host, TL_GET_ALWAYS, &m) != TL_OK) {
        tl_svc_report_error(&st->rep, env, "abort: no message");
        return;
    }
    m->hdr.channel = st->own;
    m->hdr.proto = tl_proto_make(TL_OP_BYE_SIGNAL, 0, 0, 1, 0);
    if (env->post(env->host, &m, &(tl_post_out){0}) != TL_OK) {
        env->put(env->host, &m);
        tl_svc_report_error(&st->rep, env, "abort on channel %u refused", (unsigned)st->own);
    }
}

/* Post the WelcomeRequest (listen role) or a HelloRequest (connect role;
 * again: a reconnect). 0 or an error code (recorded). */
static int hb_open(hb_state *st, const tl_svc_env *env, int again)
{
    tl_message *m = NULL;
    tl_post_out out;
    int rc = env->get(env->host, TL_GET_ALWAYS, &m);

    if (rc != TL_OK) {
        tl_svc_report_error(&st->rep, env, "no message: %s", tl_strerror(rc));
        return rc;
    }
    rc = tl_msg_set_address(m, st->cfg.listen ? TL_OP_WELCOME_REQUEST : TL_OP_HELLO_REQUEST, st->address);
    if (rc == TL_OK) {
        memset(&out, 0, sizeof out);
        rc = env->post(env->host, &m, &out);
    }
    if (rc != TL_OK) {
        env->put(env->host, &m);
        tl_svc_report_error(&st->rep, env, "cannot %s %s: %s", st->cfg.listen ? "listen on" : "connect to",
                            st->address, tl_strerror(rc));
        return rc;
    }
    st->own = out.hdr.channel;
    if (!st->cfg.listen) {
        st->connected = 0;
        st->attempt_over = 0;
        st->waiting = 0;
        if (again) {
            st->rep.reconnects++;
            tl_svc_logf(env, "reconnect %llu: HelloRequest on channel %u to %s",
                        (unsigned long long)st->rep.reconnects, (unsigned)st->own, st->address);
        }
        tl_client_retry_hello_posted(&st->retry, env);
    }
    return 0;
}

static int hb_start(tl_service *s, const tl_svc_env *env)
{
    hb_state *st = s->state;
    int rc = hb_open(st, env, 0);

    if (rc != 0) {
        return rc;
    }
    env->set_timer(env->host, st->cfg.interval_ns, HB_TIMER_SEND);
    if (!st->cfg.listen && st->cfg.stop_ns != 0) {
        env->set_timer(env->host, st->cfg.stop_ns, HB_TIMER_STOP);
    }
    return 0;
}

static int on_closed(hb_state *st, const tl_svc_env *env, uint16_t ch)
{
    hb_peer *p = find_peer(st, ch);

    st->rep.closed++;
    if (p != NULL) {
        if (!p->dead && !p->leaving) {
            declare_dead(st, env, p, "channel closed");
            st->stats.by_transport++;
        }
        p->gone = 1;
        arm_check(st, env);
    }
    if (!st->cfg.listen && ch == st->own) {
        env->cancel_timer(env->host, TL_CLIENT_TIMER_HELLO);
        if (!st->connected && !st->attempt_over) {
            tl_client_retry_failed(env, &st->rep, st->address, "channel closed");
            st->attempt_over = 1;
        }
        /* With reconnect the client keeps going, whatever ended the channel
         * (a connect failure, the hello timeout, its peer declared dead),
         * until stop; else (or with finish_on_death) it finishes. */
        if (!st->stopping && !st->cfg.finish_on_death &&
            tl_client_retry_schedule(&st->retry, env, &st->rep, st->address)) {
            st->waiting = 1;
            st->own = TL_CHANNEL_NONE;
            return 0;
        }
        return 1;
    }
    return 0;
}

static int hb_on_message(tl_service *s, const tl_svc_env *env, tl_message **msg)
{
    hb_state *st = s->state;
    tl_message *m = *msg;
    unsigned op = tl_proto_opcode(m->hdr.proto);
    hb_peer *p;

    if (tl_proto_origin_engine(m->hdr.proto)) {
        if (m->hdr.status == TL_STATUS_POOL_EMPTY) {
            tl_message *extra = NULL;
            if (env->get(env->host, TL_GET_ALWAYS, &extra) == TL_OK) {
                env->put(env->host, &extra);
            }
            return 0;
        }
        if (!st->cfg.listen && m->hdr.channel == st->own && !st->attempt_over &&
            (op == TL_OP_HELLO_REQUEST || op == TL_OP_HELLO_RESPONSE) && m->hdr.status != TL_STATUS_SUCCESS) {
            /* Connect failure (6.4): our HelloRequest comes back; channel_closed follows. */
            char why[128];
            tl_client_retry_failed(env, &st->rep, st->address,
                                   tl_svc_describe(env, st->own, TL_SVC_OS_ERROR, why, sizeof why)
                                       ? why
                                       : tl_status_name(m->hdr.status));
            st->attempt_over = 1;
            return 0;
        }
        if (op == TL_OP_SIGNAL && m->hdr.status == TL_STATUS_CHANNEL_CLOSED) {
            if (st->cfg.listen && m->hdr.channel == st->own) {
                tl_svc_report_error(&st->rep, env, "listener %s closed", st->address);
                return 1;
            }
            return on_closed(st, env, m->hdr.channel);
        }
        return 0;
    }
    if (st->cfg.listen && m->hdr.channel == st->own) {
        if (op != TL_OP_WELCOME_RESPONSE || m->hdr.status != TL_STATUS_SUCCESS) {
            tl_svc_report_error(&st->rep, env, "cannot listen on %s", st->address);
            return 1;
        }
        if (!st->stats.listening) {
            st->stats.listening = 1;
            if (st->cfg.on_listening != NULL) {
                st->cfg.on_listening(st->cfg.ctx, st->address, st->own);
            }
        }
        return 0;
    }
    if (op == TL_OP_HELLO_REQUEST && st->cfg.listen) {
        if (add_peer(st, env, m->hdr.channel) == NULL) {
            return 0;
        }
        tl_msg_set_opcode(m, TL_OP_HELLO_RESPONSE);
        if (env->post(env->host, msg, &(tl_post_out){0}) != TL_OK) {
            env->put(env->host, msg);
        }
        arm_check(st, env);
        return 0;
    }
    if (!st->cfg.listen && m->hdr.channel == st->own && st->attempt_over) {
        return 0; /* a frame of the attempt we gave up on */
    }
    if (op == TL_OP_HELLO_RESPONSE && !st->cfg.listen && m->hdr.channel == st->own && !st->connected) {
        st->connected = 1;
        tl_client_retry_connected(&st->retry, env);
        if (add_peer(st, env, m->hdr.channel) != NULL) {
            arm_check(st, env);
        }
        return 0;
    }
    p = find_peer(st, m->hdr.channel);
    if (p == NULL) {
        tl_svc_report_error(&st->rep, env, "%s on channel %u, not a peer",
                            tl_opcode_name(op) ? tl_opcode_name(op) : "?", (unsigned)m->hdr.channel);
        return 0;
    }
    heard(st, env, p);
    switch (op) {
    case TL_OP_SIGNAL:
        st->rep.signals++;
        if (m->body.len != 0) {
            tl_svc_report_error(&st->rep, env, "channel %u: heartbeat with a body of %zu bytes",
                                (unsigned)m->hdr.channel, m->body.len);
        }
        return 0;
    case TL_OP_BYE_REQUEST:
        p->leaving = 1;
        tl_msg_set_opcode(m, TL_OP_BYE_RESPONSE);
        if (env->post(env->host, msg, &(tl_post_out){0}) != TL_OK) {
            env->put(env->host, msg);
        }
        return 0;
    case TL_OP_BYE_RESPONSE: return 0;
    default:
        tl_svc_report_error(&st->rep, env, "channel %u: unexpected %s", (unsigned)m->hdr.channel,
                            tl_opcode_name(op) ? tl_opcode_name(op) : "op code");
        return 0;
    }
}

static void hb_on_timer(tl_service *s, const tl_svc_env *env, uint64_t token)
{
    hb_state *st = s->state;
    uint64_t now = env->now(env->host);

    if (token == HB_TIMER_SEND) {
        send_heartbeats(st, env);
        env->set_timer(env->host, st->cfg.interval_ns, HB_TIMER_SEND);
    } else if (token == HB_TIMER_CHECK) {
        for (size_t i = 0; i < st->npeers; i++) {
            hb_peer *p = &st->peers[i];
            if (!p->gone && !p->dead && now >= p->last_heard + st->cfg.timeout_ns) {
                declare_dead(st, env, p, "silence");
                if (!st->cfg.listen && st->cfg.finish_on_death) {
                    s->done = 1;
                } else if (!st->cfg.listen && st->retry.conn.reconnect && p->channel == st->own &&
                           !st->stopping) {
                    /* Give the channel up and open a new one when it has
                     * closed: the peer stays dead on this channel. */
                    p->gone = 1;
                    abort_own(st, env);
                }
            }
        }
        arm_check(st, env);
    } else if (token == TL_CLIENT_TIMER_HELLO) {
        if (!st->cfg.listen && !st->connected && !st->attempt_over && !st->waiting) {
            tl_client_retry_hello_timed_out(&st->retry, env, &st->rep, st->address);
            abort_own(st, env);
        }
    } else if (token == TL_CLIENT_TIMER_RECONNECT) {
        if (st->waiting && hb_open(st, env, 1) != 0) {
            s->done = 1;
        }
    } else if (token == HB_TIMER_STOP) {
        hb_peer *p = find_peer(st, st->own);
        tl_message *m = NULL;

        st->stopping = 1;
        env->cancel_timer(env->host, TL_CLIENT_TIMER_RECONNECT);
        if (p == NULL || env->get(env->host, TL_GET_ALWAYS, &m) != TL_OK) {
            s->done = 1;
            return;
        }
        p->leaving = 1;
        m->hdr.channel = st->own;
        m->hdr.proto = tl_proto_make(TL_OP_BYE_REQUEST, 0, 0, 0, 0);
        if (env->post(env->host, &m, &(tl_post_out){0}) != TL_OK) {
            env->put(env->host, &m);
            s->done = 1;
        }
    }
}

static void hb_report(const tl_service *s, tl_svc_report *out)
{
    const hb_state *st = s->state;

    *out = st->rep;
    out->suspicions = st->stats.suspicions;
    out->false_suspicions = st->stats.false_suspicions;
    for (size_t i = 0; i < st->npeers; i++) {
        if (st->peers[i].dead) {
            /* a death detected: its detection latency */
            uint64_t lat = st->peers[i].latency;
            out->deaths++;
            out->latency_count++;
            out->latency_sum_ns += lat;
            if (lat > out->latency_max_ns) {
                out->latency_max_ns = lat;
            }
        }
    }
    /* Told when a peer dies: each death must be declared within interval +
     * timeout of it (the last heartbeat left at most an interval before). */
    for (size_t i = 0; i < st->npeers && st->cfg.expect_death_ns != 0; i++) {
        uint64_t bound = st->cfg.interval_ns + st->cfg.timeout_ns;
        if (st->peers[i].dead && st->peers[i].latency > bound) {
            tl_svc_report_error(
                out, NULL,
                "channel %u: death detected %llu ns after it, later than interval + timeout (%llu ns)",
                (unsigned)st->peers[i].channel, (unsigned long long)st->peers[i].latency,
                (unsigned long long)bound);
        }
    }
    /* Told that a peer dies: not noticing any death is a violation. */
    if (st->cfg.expect_death_ns != 0 && out->deaths == 0) {
        tl_svc_report_error(out, NULL, "no peer declared dead (a death was expected at %llu ns)",
                            (unsigned long long)st->cfg.expect_death_ns);
    }
}

static void hb_destroy(tl_service *s)
{
    hb_state *st = s != NULL ? s->state : NULL;

    if (st != NULL) {
        free(st->peers);
        free(st->address);
    }
    tl_svc_free(s);
}

static const tl_service_ops hb_ops = {
    "heartbeat", hb_start, hb_on_message, hb_on_timer, hb_report, hb_destroy,
};

int tl_heartbeat_create(const tl_heartbeat_config *cfg, tl_service **out)
{
    tl_service *s;
    hb_state *st;
    int rc = tl_svc_new(out, cfg != NULL && cfg->address != NULL, &hb_ops, sizeof *st, &s);

    if (rc != TL_OK) {
        return rc;
    }
    st = s->state;
    st->cfg = *cfg;
    if (st->cfg.interval_ns == 0) {
        st->cfg.interval_ns = 1000000000ull;
    }
    if (st->cfg.timeout_ns == 0) {
        st->cfg.timeout_ns = 3 * st->cfg.interval_ns;
    }
    /* The handshake gets as long as a peer may stay silent, and at least
     * the request patterns' 30 s: it goes through TCP's connection setup,
     * whose SYN retransmissions start at 1 s and double, and without
     * reconnect a hello timeout ends the client for good. */
    tl_client_retry_init(&st->retry, &cfg->conn,
                         st->cfg.timeout_ns > TL_CLIENT_HELLO_TIMEOUT_NS ? st->cfg.timeout_ns
                                                                         : TL_CLIENT_HELLO_TIMEOUT_NS);
    st->address = tl_svc_strdup(cfg->address);
    if (st->address == NULL) {
        hb_destroy(s);
        return TL_E_NOMEM;
    }
    st->cfg.address = st->address;
    *out = s;
    return TL_OK;
}

void tl_heartbeat_stats_get(const tl_service *s, tl_heartbeat_stats *out)
{
    const hb_state *st = s->state;
    size_t i;

    *out = st->stats;
    out->deaths = 0;
    for (i = 0; i < st->npeers; i++) {
        if (st->peers[i].dead) {
            out->deaths++;
        }
    }
}
