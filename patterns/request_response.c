/*
 * Request/Response client service; see request_response.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_base.h"
#include "request_response.h"

enum { RQ_NOT_SENT = 0, RQ_OUTSTANDING = 1, RQ_ANSWERED = 2, RQ_FAILED = 3 };

typedef enum {
    RR_HELLO = 0, /* waiting for HelloResponse */
    RR_RUN,       /* requests in flight */
    RR_BYE,       /* ByeRequest posted, waiting for ByeResponse */
    RR_CLOSING,   /* waiting for channel_closed */
    RR_WAIT,      /* no channel: the reconnect backoff runs */
    RR_FAILED
} rr_state;

typedef struct {
    tl_client_base b; /* connect, channel, Hello text headers, report */
    tl_rr_config cfg;
    rr_state state;
    tl_header hello; /* HelloRequest as posted (final header) */
    uint64_t bye_id;
    uint8_t *req_state; /* [1..count] */
    uint16_t *req_size; /* [1..count] */
    uint64_t *sent_at;  /* [1..count] */
    uint64_t *latencies;
    uint8_t *scratch; /* size_max bytes of body pattern */
    uint64_t next_id; /* lowest id that may not be sent yet (failed ids are sent again after a reconnect) */
    uint64_t hi;      /* highest id ever sent + 1 */
    uint64_t posted;  /* requests sent, resent ones included */
    uint64_t outstanding;
    uint64_t oldest; /* lowest id that may still be outstanding */
    tl_client_stats stats;
} rr_client;

static const char *rr_state_name(rr_state st)
{
    switch (st) {
    case RR_HELLO: return "waiting for HelloResponse";
    case RR_RUN: return "waiting for Responses";
    case RR_BYE: return "waiting for ByeResponse";
    case RR_CLOSING: return "closing";
    case RR_WAIT: return "waiting to reconnect";
    case RR_FAILED: break;
    }
    return "not started";
}

/* End request id with an explicit failure (its channel closed, or the engine
 * returned it). */
static void rr_fail(rr_client *c, uint64_t id)
{
    if (id >= 1 && id < c->hi && c->req_state[id] == RQ_OUTSTANDING) {
        c->req_state[id] = RQ_FAILED;
        c->outstanding--;
        c->b.rep.failed++;
    }
}

static void rr_abort(rr_client *c, const tl_svc_env *env)
{
    c->state = RR_CLOSING;
    tl_client_abort(&c->b, env);
}

static void rr_send_bye(rr_client *c, const tl_svc_env *env)
{
    tl_message *m = NULL;
    tl_post_out out;
    int rc = tl_client_get(&c->b, env, &m);

    if (rc != TL_OK) {
        rr_abort(c, env);
        return;
    }
    m->hdr.channel = c->b.channel;
    m->hdr.proto = tl_proto_make(TL_OP_BYE_REQUEST, 0, 0, 0, 0);
    rc = env->post(env->host, &m, &out);
    if (rc != TL_OK) {
        env->put(env->host, &m);
        if (tl_client_post_closed(rc, &out)) {
            return; /* the channel closed under us: channel_closed follows */
        }
        tl_svc_report_error(&c->b.rep, env, "post of ByeRequest refused: %s", tl_strerror(rc));
        rr_abort(c, env);
        return;
    }
    c->bye_id = out.hdr.message_id;
    c->state = RR_BYE;
}

/* Post requests until the window is full or all are sent; Bye when done. */
static void rr_fill(rr_client *c, const tl_svc_env *env)
{
    uint32_t window = c->cfg.concurrency ? c->cfg.concurrency : 1;

    while (c->state == RR_RUN && c->outstanding < window) {
        uint64_t id;
        size_t span = c->cfg.size_max - c->cfg.size_min;
        size_t size;
        tl_message *m = NULL;
        tl_post_out out;
        size_t k;
        int rc;

        while (c->next_id <= c->cfg.count && c->req_state[c->next_id] != RQ_NOT_SENT) {
            c->next_id++;
        }
        if (c->next_id > c->cfg.count) {
            break;
        }
        id = c->next_id;
        size = c->cfg.size_min + (span ? (size_t)(env->random(env->host) % (span + 1)) : 0);

        rc = tl_client_get(&c->b, env, &m);
        if (rc != TL_OK) {
            rr_abort(c, env);
            return;
        }
        m->hdr.channel = c->b.channel;
        m->hdr.proto = tl_proto_make(TL_OP_REQUEST, 0, 0, 0, 0);
        m->hdr.message_id = id;
        /* The id in the first bytes, the rest a fixed pattern. */
        for (k = 0; k < 8 && k < size; k++) {
            c->scratch[k] = (uint8_t)(id >> (8 * k));
        }
        rc = tl_msg_body_set(m, c->scratch, size);
        c->sent_at[id] = env->now(env->host);
        if (rc == TL_OK) {
            rc = env->post(env->host, &m, &out);
        }
        if (rc != TL_OK) {
            env->put(env->host, &m);
            if (tl_client_post_closed(rc, &out)) {
                return; /* the channel closed under us: channel_closed follows */
            }
            tl_svc_report_error(&c->b.rep, env, "post of Request id %llu refused: %s", (unsigned long long)id,
                                tl_strerror(rc));
            rr_abort(c, env);
            return;
        }
        if (c->stats.first_send_ns == 0) {
            c->stats.first_send_ns = c->sent_at[id];
        }
        c->req_state[id] = RQ_OUTSTANDING;
        c->req_size[id] = (uint16_t)size;
        c->outstanding++;
        c->posted++;
        c->next_id++;
        if (id >= c->hi) {
            c->hi = id + 1;
        }
    }
    if (c->state == RR_RUN && c->outstanding == 0 && c->next_id > c->cfg.count) {
        rr_send_bye(c, env);
    }
}

/* Open a channel: HelloRequest (again: a reconnect). 0 or an error code
 * (recorded). */
static int rr_connect(rr_client *c, const tl_svc_env *env, int again)
{
    tl_message *m = NULL;
    tl_post_out out;
    int rc = tl_client_hello(&c->b, env, &m);

    if (rc != TL_OK) {
        return rc;
    }
    rc = env->post(env->host, &m, &out);
    if (rc != TL_OK) {
        env->put(env->host, &m);
        tl_svc_report_error(&c->b.rep, env, "post of HelloRequest refused: %s", tl_strerror(rc));
        return rc;
    }
    c->hello = out.hdr;
    c->hello.thl = (uint16_t)c->b.hello_thl;
    c->hello.bl = 0;
    tl_client_attempt(&c->b, env, out.hdr.channel, again);
    c->state = RR_HELLO;
    c->next_id = 1;
    c->oldest = 1;
    return 0;
}

static int rr_start(tl_service *s, const tl_svc_env *env)
{
    rr_client *c = s->state;
    int rc;

    c->state = RR_FAILED;
    c->hi = 1;
    rc = rr_connect(c, env, 0);
    if (rc != 0) {
        return rc;
    }
    if (c->cfg.timeout_ns != 0) {
        env->set_timer(env->host, c->cfg.timeout_ns, TL_CLIENT_TIMER_TIMEOUT);
    }
    return 0;
}

static int rr_on_notification(rr_client *c, const tl_svc_env *env, const tl_message *m)
{
    switch (tl_client_notification(&c->b, env, m, c->state == RR_HELLO, c->state == RR_CLOSING,
                                   &c->stats.connect_status)) {
    case TL_CLIENT_NOTE_CLOSED:
        c->stats.closed = 1;
        if (c->state != RR_CLOSING && c->stats.connect_status == 0) {
            tl_svc_logf(env, "channel closed while %s (%llu of %llu answered, %llu outstanding fail)",
                        rr_state_name(c->state), (unsigned long long)c->b.rep.answered,
                        (unsigned long long)c->cfg.count, (unsigned long long)c->outstanding);
        }
        /* channel_closed is the explicit failure of every outstanding request */
        for (uint64_t id = 1; id < c->hi; id++) {
            rr_fail(c, id);
        }
        if (tl_client_closed(&c->b, env, c->b.rep.answered < c->cfg.count)) {
            /* The failed ones stay counted failed; their ids go again, as new
             * requests, on the next channel. */
            for (uint64_t id = 1; id < c->hi; id++) {
                if (c->req_state[id] == RQ_FAILED) {
                    c->req_state[id] = RQ_NOT_SENT;
                }
            }
            c->state = RR_WAIT;
            return 0;
        }
        return 1;
    case TL_CLIENT_NOTE_RETURNED:
        if (tl_proto_opcode(m->hdr.proto) == TL_OP_REQUEST) {
            rr_fail(c, m->hdr.message_id);
        }
        return 0;
    case TL_CLIENT_NOTE_CONNECT:
    case TL_CLIENT_NOTE_NONE: break;
    }
    return 0;
}

static void rr_on_response(rr_client *c, const tl_svc_env *env, const tl_message *m)
{
    uint64_t id = m->hdr.message_id;
    uint64_t now, lat;
    char why[200];

    if (id == 0 || id > c->cfg.count || c->req_state[id] == RQ_NOT_SENT) {
        tl_svc_report_error(&c->b.rep, env, "Response with unknown id %llu", (unsigned long long)id);
        return;
    }
    if (c->req_state[id] == RQ_ANSWERED) {
        tl_svc_report_error(&c->b.rep, env, "duplicate Response for id %llu", (unsigned long long)id);
        return;
    }
    if (c->req_state[id] == RQ_FAILED) {
        tl_svc_report_error(&c->b.rep, env, "Response for id %llu after its failure", (unsigned long long)id);
        return;
    }
    while (c->oldest < c->hi && c->req_state[c->oldest] != RQ_OUTSTANDING) {
        c->oldest++;
    }
    if (id != c->oldest) {
        c->b.rep.out_of_order++; /* an earlier request is still waiting */
    }
    now = env->now(env->host);
    lat = now - c->sent_at[id];
    c->req_state[id] = RQ_ANSWERED;
    c->outstanding--;
    c->latencies[c->b.rep.answered] = lat;
    tl_svc_report_answer(&c->b.rep, lat);
    c->stats.last_answer_ns = now;
    if (c->cfg.check_echo_body) {
        tl_header sent;

        memset(&sent, 0, sizeof sent);
        sent.channel = c->b.channel;
        sent.proto = tl_proto_make(TL_OP_REQUEST, 0, 0, 0, 0);
        sent.message_id = id;
        sent.bl = c->req_size[id];
        if (tl_echo_check_reply(m, &sent, NULL, 0, why, sizeof why) != 0) {
            tl_svc_report_error(&c->b.rep, env, "%s", why);
            return;
        }
    }
    c->b.rep.bytes += m->body.len;
}

static int rr_handle(tl_service *s, const tl_svc_env *env, tl_message **msg)
{
    rr_client *c = s->state;
    const tl_message *m = *msg;
    unsigned op = tl_proto_opcode(m->hdr.proto);

    if (tl_client_foreign(&c->b, env, m)) {
        return 0;
    }
    if (tl_proto_origin_engine(m->hdr.proto)) {
        return rr_on_notification(c, env, m);
    }
    if (c->b.attempt_over) {
        return 0; /* a frame of the channel we gave up on (hello or reply timeout) */
    }
    tl_client_heard(&c->b, env);
    if (c->state == RR_HELLO && op == TL_OP_HELLO_RESPONSE) {
        c->stats.connected = 1;
        tl_client_handshake(&c->b, env);
        if (m->hdr.message_id != c->hello.message_id) {
            tl_svc_report_error(&c->b.rep, env, "HelloResponse id %llu, expected %llu",
                                (unsigned long long)m->hdr.message_id,
                                (unsigned long long)c->hello.message_id);
        } else if (c->cfg.check_echo_body) {
            char why[200];

            if (tl_echo_check_reply(m, &c->hello, c->b.hello_text, c->b.hello_thl, why, sizeof why) != 0) {
                tl_svc_report_error(&c->b.rep, env, "%s", why);
            }
        }
        c->state = RR_RUN;
        rr_fill(c, env);
        return 0;
    }
    if ((c->state == RR_RUN || c->state == RR_BYE) && op == TL_OP_RESPONSE) {
        rr_on_response(c, env, m);
        rr_fill(c, env);
        return 0;
    }
    if (c->state == RR_BYE && op == TL_OP_BYE_RESPONSE) {
        if (m->hdr.message_id != c->bye_id) {
            tl_svc_report_error(&c->b.rep, env, "ByeResponse id %llu, expected %llu",
                                (unsigned long long)m->hdr.message_id, (unsigned long long)c->bye_id);
        }
        c->state = RR_CLOSING;
        env->set_timer(env->host, TL_CLIENT_CLOSE_GRACE_NS, TL_CLIENT_TIMER_CLOSE);
        return 0;
    }
    tl_client_unexpected(&c->b, env, m, rr_state_name(c->state));
    return 0;
}

/* The reply timeout watches the outstanding requests and the ByeResponse. */
static void rr_watch(rr_client *c, const tl_svc_env *env)
{
    tl_client_reply_watch(&c->b, env, (c->state == RR_RUN && c->outstanding > 0) || c->state == RR_BYE);
}

static int rr_on_message(tl_service *s, const tl_svc_env *env, tl_message **msg)
{
    int rc = rr_handle(s, env, msg);

    rr_watch(s->state, env);
    return rc;
}

static void rr_on_timer(tl_service *s, const tl_svc_env *env, uint64_t token)
{
    rr_client *c = s->state;

    switch (tl_client_on_timer(s, &c->b, env, token, c->state == RR_CLOSING, &c->stats.timed_out,
                               rr_state_name(c->state), c->cfg.count)) {
    case TL_CLIENT_ACT_ABORT:
        if (c->state == RR_WAIT) {
            env->cancel_timer(env->host, TL_CLIENT_TIMER_RECONNECT);
            s->done = 1; /* no channel to close */
        } else {
            rr_abort(c, env);
        }
        break;
    case TL_CLIENT_ACT_GIVE_UP: c->state = RR_CLOSING; break;
    case TL_CLIENT_ACT_RECONNECT:
        if (c->state == RR_WAIT && rr_connect(c, env, 1) != 0) {
            c->b.final = 1;
            s->done = 1;
        }
        break;
    case TL_CLIENT_ACT_NONE: break;
    }
    rr_watch(c, env);
}

static void rr_report(const tl_service *s, tl_svc_report *out)
{
    const rr_client *c = s->state;

    *out = c->b.rep;
    out->sent = c->posted;
    out->requests = 1;
    out->open = 0;
    for (uint64_t id = 1; id < c->hi; id++) {
        out->open += c->req_state[id] == RQ_OUTSTANDING;
    }
}

static void rr_destroy(tl_service *s)
{
    rr_client *c = s != NULL ? s->state : NULL;

    if (c != NULL) {
        tl_client_base_free(&c->b);
        free(c->req_state);
        free(c->req_size);
        free(c->sent_at);
        free(c->latencies);
        free(c->scratch);
    }
    tl_svc_free(s);
}

static const tl_service_ops rr_ops = {
    "request-response", rr_start, rr_on_message, rr_on_timer, rr_report, rr_destroy,
};

int tl_rr_client_create(const tl_rr_config *cfg, tl_service **out)
{
    tl_service *s;
    rr_client *c;
    size_t slots, k;
    int ok = cfg != NULL && cfg->connect != NULL && cfg->count <= TL_RR_MAX_COUNT &&
             cfg->size_min <= cfg->size_max && cfg->size_max <= TL_MAX_BODY_LEN;
    int rc = tl_svc_new(out, ok, &rr_ops, sizeof *c, &s);

    if (rc != TL_OK) {
        return rc;
    }
    c = s->state;
    c->cfg = *cfg;
    slots = (size_t)cfg->count + 1;
    rc = tl_client_base_init(&c->b, cfg->connect, &cfg->conn);
    c->req_state = calloc(slots, sizeof *c->req_state);
    c->req_size = calloc(slots, sizeof *c->req_size);
    c->sent_at = calloc(slots, sizeof *c->sent_at);
    c->latencies = calloc(slots, sizeof *c->latencies);
    c->scratch = malloc(cfg->size_max ? cfg->size_max : 1);
    if (rc != TL_OK || c->req_state == NULL || c->req_size == NULL || c->sent_at == NULL ||
        c->latencies == NULL || c->scratch == NULL) {
        rr_destroy(s);
        return TL_E_NOMEM;
    }
    c->cfg.connect = c->b.connect;
    for (k = 0; k < cfg->size_max; k++) {
        c->scratch[k] = (uint8_t)(k * 31u + 7u);
    }
    c->state = RR_FAILED;
    *out = s;
    return TL_OK;
}

void tl_rr_client_stats(const tl_service *s, tl_client_stats *out)
{
    const rr_client *c = s->state;

    *out = c->stats;
    tl_client_stats_finish(out, &c->b, c->cfg.count, c->latencies);
}
