/*
 * tofu's EchoClient as a service (PROTOCOL.md section 7); see echo_client.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_base.h"
#include "echo_client.h"

int tl_echo_check_reply(const tl_message *reply, const tl_header *sent_hdr, const uint8_t *sent_text,
                        size_t sent_thl, char *why, size_t why_cap)
{
    unsigned sent_op = tl_proto_opcode(sent_hdr->proto);
    const tl_opcode_info *info = tl_opcode_info_get(sent_op);
    unsigned want_op, got_op = tl_proto_opcode(reply->hdr.proto);
    uint8_t want_proto;
    tl_header body;

    if (info == NULL || (info->role == TL_ROLE_REQUEST && info->echo < 0) || info->role == TL_ROLE_RESPONSE) {
        snprintf(why, why_cap, "op code %u has no echo", sent_op);
        return -1;
    }
    want_op = info->role == TL_ROLE_REQUEST ? (unsigned)info->echo : sent_op;
    want_proto = (uint8_t)((sent_hdr->proto & ~TL_PROTO_OPCODE_MASK & ~TL_PROTO_ORIGIN) | want_op);
    if (got_op != want_op) {
        snprintf(why, why_cap, "reply to %s id %llu has op code %u (%s), expected %u (%s)", info->name,
                 (unsigned long long)sent_hdr->message_id, got_op,
                 tl_opcode_name(got_op) ? tl_opcode_name(got_op) : "undefined", want_op,
                 tl_opcode_name(want_op));
        return -1;
    }
    if (reply->hdr.message_id != sent_hdr->message_id) {
        snprintf(why, why_cap, "reply to %s id %llu carries id %llu", info->name,
                 (unsigned long long)sent_hdr->message_id, (unsigned long long)reply->hdr.message_id);
        return -1;
    }
    if (tl_proto_origin_engine(reply->hdr.proto) || reply->hdr.status != TL_STATUS_SUCCESS) {
        snprintf(why, why_cap,
                 "reply to %s id %llu has proto 0x%02x status %u, expected origin application, "
                 "status 0",
                 info->name, (unsigned long long)sent_hdr->message_id, (unsigned)reply->hdr.proto,
                 (unsigned)reply->hdr.status);
        return -1;
    }
    if (reply->text.len != sent_thl || (sent_thl > 0 && memcmp(reply->text.data, sent_text, sent_thl) != 0)) {
        snprintf(why, why_cap,
                 "reply to %s id %llu: text headers (%zu bytes) differ from those sent (%zu bytes)",
                 info->name, (unsigned long long)sent_hdr->message_id, reply->text.len, sent_thl);
        return -1;
    }
    if (reply->body.len != TL_HEADER_SIZE) {
        snprintf(why, why_cap, "reply to %s id %llu: bl %zu, expected 16", info->name,
                 (unsigned long long)sent_hdr->message_id, reply->body.len);
        return -1;
    }
    tl_header_decode_native(reply->body.data, &body);
    if (body.channel == TL_CHANNEL_NONE || body.channel == TL_CHANNEL_INTERNAL) {
        snprintf(why, why_cap, "reply to %s id %llu: body channel %u is not a server channel", info->name,
                 (unsigned long long)sent_hdr->message_id, (unsigned)body.channel);
        return -1;
    }
    if (body.proto != want_proto || body.status != sent_hdr->status ||
        body.message_id != sent_hdr->message_id || body.thl != sent_hdr->thl || body.bl != sent_hdr->bl) {
        snprintf(why, why_cap,
                 "reply to %s id %llu: body says proto 0x%02x status %u id %llu thl %u bl %u, expected proto "
                 "0x%02x status %u id %llu thl %u bl %u",
                 info->name, (unsigned long long)sent_hdr->message_id, (unsigned)body.proto,
                 (unsigned)body.status, (unsigned long long)body.message_id, (unsigned)body.thl,
                 (unsigned)body.bl, (unsigned)want_proto, (unsigned)sent_hdr->status,
                 (unsigned long long)sent_hdr->message_id, (unsigned)sent_hdr->thl, (unsigned)sent_hdr->bl);
        return -1;
    }
    return 0;
}

typedef enum {
    EC_HELLO = 0, /* HelloRequest posted, waiting for HelloResponse */
    EC_RUN,       /* Request `next_id` posted, waiting for its Response */
    EC_BYE,       /* ByeRequest posted, waiting for ByeResponse */
    EC_CLOSING,   /* waiting for channel_closed */
    EC_WAIT,      /* no channel: the reconnect backoff runs */
    EC_FAILED     /* nothing posted yet / start failed */
} ec_state;

typedef struct {
    tl_client_base b; /* connect, channel, Hello text headers, report */
    tl_echo_client_config cfg;
    ec_state state;
    tl_header sent;   /* what the server received of the message in flight */
    uint64_t next_id; /* id of the Request in flight (1..count): answered + 1, on a new channel too */
    uint64_t sent_at; /* env->now at its post */
    uint64_t *latencies;
    tl_client_stats stats;
    uint64_t requests_sent;
    int inflight; /* request next_id waits for its Response */
} ec_client;

/* Local abort: ByeSignal with bit A (6.8); then wait for channel_closed. */
static void ec_abort(ec_client *c, const tl_svc_env *env)
{
    c->state = EC_CLOSING;
    tl_client_abort(&c->b, env);
}

/* Post m on our channel with its own native header copy as body; record
 * what the server will receive. Returns 0 or -1 (error recorded). */
static int ec_post_copy(ec_client *c, const tl_svc_env *env, tl_message *m, const char *what)
{
    uint8_t native[TL_HEADER_SIZE];
    tl_post_out out;
    int rc;

    tl_header_encode_native(&m->hdr, native);
    rc = tl_msg_body_set(m, native, sizeof native);
    if (rc == TL_OK) {
        memset(&out, 0, sizeof out);
        rc = env->post(env->host, &m, &out);
    }
    if (rc != TL_OK) {
        env->put(env->host, &m);
        if (!tl_client_post_closed(rc, &out)) {
            tl_svc_report_error(&c->b.rep, env, "post of %s refused: %s", what, tl_strerror(rc));
        }
        return -1;
    }
    c->sent = out.hdr;
    c->sent.bl = TL_HEADER_SIZE;
    return 0;
}

static void ec_send_bye_or_request(ec_client *c, const tl_svc_env *env)
{
    tl_message *m = NULL;

    if (tl_client_get(&c->b, env, &m) != TL_OK) {
        ec_abort(c, env);
        return;
    }
    m->hdr.channel = c->b.channel;
    if (c->b.rep.answered < c->cfg.count) {
        c->next_id = c->b.rep.answered + 1;
        m->hdr.proto = tl_proto_make(TL_OP_REQUEST, 0, 0, 0, 0);
        m->hdr.message_id = c->next_id;
        c->sent_at = env->now(env->host);
        if (c->stats.first_send_ns == 0) {
            c->stats.first_send_ns = c->sent_at;
        }
        if (ec_post_copy(c, env, m, "Request") != 0) {
            ec_abort(c, env);
            return;
        }
        c->sent.thl = 0;
        c->requests_sent++;
        c->inflight = 1;
        c->state = EC_RUN;
        return;
    }
    if (c->cfg.abort) {
        env->put(env->host, &m);
        ec_abort(c, env);
        return;
    }
    /* Graceful close (6.8): id left 0, the engine assigns one. */
    m->hdr.proto = tl_proto_make(TL_OP_BYE_REQUEST, 0, 0, 0, 0);
    if (ec_post_copy(c, env, m, "ByeRequest") != 0) {
        ec_abort(c, env);
        return;
    }
    c->sent.thl = 0;
    c->state = EC_BYE;
}

/* Open a channel: HelloRequest (again: a reconnect). 0 or an error code
 * (recorded). */
static int ec_connect(ec_client *c, const tl_svc_env *env, int again)
{
    tl_message *m = NULL;
    int rc = tl_client_hello(&c->b, env, &m);

    if (rc != TL_OK) {
        return rc;
    }
    /* Body = the native header copy taken BEFORE post (V19). */
    if (ec_post_copy(c, env, m, "HelloRequest") != 0) {
        return TL_E_REJECTED;
    }
    c->sent.thl = (uint16_t)c->b.hello_thl;
    tl_client_attempt(&c->b, env, c->sent.channel, again);
    c->state = EC_HELLO;
    tl_svc_logf(env, "HelloRequest id %llu on channel %u to %s", (unsigned long long)c->sent.message_id,
                (unsigned)c->b.channel, c->b.connect);
    return 0;
}

static int ec_start(tl_service *s, const tl_svc_env *env)
{
    ec_client *c = s->state;
    int rc;

    c->state = EC_FAILED;
    rc = ec_connect(c, env, 0);
    if (rc != 0) {
        return rc;
    }
    if (c->cfg.timeout_ns != 0) {
        env->set_timer(env->host, c->cfg.timeout_ns, TL_CLIENT_TIMER_TIMEOUT);
    }
    return 0;
}

static const char *ec_state_name(ec_state st)
{
    switch (st) {
    case EC_HELLO: return "waiting for HelloResponse";
    case EC_RUN: return "waiting for a Response";
    case EC_BYE: return "waiting for ByeResponse";
    case EC_CLOSING: return "closing";
    case EC_WAIT: return "waiting to reconnect";
    case EC_FAILED: break;
    }
    return "not started";
}

/* An origin-engine message on our channel. Returns 1 when finished. */
static int ec_on_notification(ec_client *c, const tl_svc_env *env, const tl_message *m)
{
    switch (tl_client_notification(&c->b, env, m, c->state == EC_HELLO, c->state == EC_CLOSING,
                                   &c->stats.connect_status)) {
    case TL_CLIENT_NOTE_CLOSED:
        c->stats.closed = 1;
        if (c->state != EC_CLOSING && c->stats.connect_status == 0) {
            tl_svc_logf(env, "channel closed while %s (%llu of %llu answered)", ec_state_name(c->state),
                        (unsigned long long)c->b.rep.answered, (unsigned long long)c->cfg.count);
        }
        if (c->inflight) {
            c->inflight = 0; /* channel_closed: the explicit failure of the request in flight */
            c->b.rep.failed++;
        }
        if (tl_client_closed(&c->b, env, c->b.rep.answered < c->cfg.count)) {
            c->state = EC_WAIT; /* the failed request is sent again on the next channel */
            return 0;
        }
        return 1;
    case TL_CLIENT_NOTE_RETURNED:
        /* One of our messages returned unsent: the request fails if it was it. */
        if (tl_proto_opcode(m->hdr.proto) == TL_OP_REQUEST && c->inflight &&
            m->hdr.message_id == c->next_id) {
            c->inflight = 0;
            c->b.rep.failed++;
        }
        return 0;
    case TL_CLIENT_NOTE_CONNECT:
    case TL_CLIENT_NOTE_NONE: break;
    }
    return 0;
}

static int ec_handle(tl_service *s, const tl_svc_env *env, tl_message **msg)
{
    ec_client *c = s->state;
    const tl_message *m = *msg;
    unsigned op = tl_proto_opcode(m->hdr.proto);
    char why[200];

    if (tl_client_foreign(&c->b, env, m)) {
        return 0;
    }
    if (tl_proto_origin_engine(m->hdr.proto)) {
        return ec_on_notification(c, env, m);
    }
    if (c->b.attempt_over) {
        return 0; /* a frame of the channel we gave up on (hello or reply timeout) */
    }
    tl_client_heard(&c->b, env);
    switch (c->state) {
    case EC_HELLO:
        if (op != TL_OP_HELLO_RESPONSE) {
            break;
        }
        c->stats.connected = 1;
        tl_client_handshake(&c->b, env);
        if (tl_echo_check_reply(m, &c->sent, c->b.hello_text, c->b.hello_thl, why, sizeof why) != 0) {
            tl_svc_report_error(&c->b.rep, env, "%s", why);
        } else {
            c->b.rep.bytes += m->body.len;
        }
        ec_send_bye_or_request(c, env);
        return 0;
    case EC_RUN:
        if (op != TL_OP_RESPONSE || m->hdr.message_id != c->next_id || !c->inflight) {
            break;
        }
        c->inflight = 0;
        {
            uint64_t now = env->now(env->host);
            uint64_t lat = now - c->sent_at;

            c->latencies[c->b.rep.answered] = lat;
            tl_svc_report_answer(&c->b.rep, lat);
            c->stats.last_answer_ns = now;
        }
        if (tl_echo_check_reply(m, &c->sent, NULL, 0, why, sizeof why) != 0) {
            tl_svc_report_error(&c->b.rep, env, "%s", why);
        } else {
            c->b.rep.bytes += m->body.len;
        }
        ec_send_bye_or_request(c, env);
        return 0;
    case EC_BYE:
        if (op != TL_OP_BYE_RESPONSE) {
            break;
        }
        if (tl_echo_check_reply(m, &c->sent, NULL, 0, why, sizeof why) != 0) {
            tl_svc_report_error(&c->b.rep, env, "%s", why);
        }
        /* The initiator's engine closes on ByeResponse (6.8). */
        c->state = EC_CLOSING;
        env->set_timer(env->host, TL_CLIENT_CLOSE_GRACE_NS, TL_CLIENT_TIMER_CLOSE);
        return 0;
    case EC_CLOSING:
    case EC_WAIT:
    case EC_FAILED: break;
    }
    tl_client_unexpected(&c->b, env, m, ec_state_name(c->state));
    return 0;
}

/* The reply timeout watches a Request in flight and the ByeResponse. */
static void ec_watch(ec_client *c, const tl_svc_env *env)
{
    tl_client_reply_watch(&c->b, env, (c->state == EC_RUN && c->inflight) || c->state == EC_BYE);
}

static int ec_on_message(tl_service *s, const tl_svc_env *env, tl_message **msg)
{
    int rc = ec_handle(s, env, msg);

    ec_watch(s->state, env);
    return rc;
}

static void ec_on_timer(tl_service *s, const tl_svc_env *env, uint64_t token)
{
    ec_client *c = s->state;

    switch (tl_client_on_timer(s, &c->b, env, token, c->state == EC_CLOSING, &c->stats.timed_out,
                               ec_state_name(c->state), c->cfg.count)) {
    case TL_CLIENT_ACT_ABORT:
        if (c->state == EC_WAIT) {
            env->cancel_timer(env->host, TL_CLIENT_TIMER_RECONNECT);
            s->done = 1; /* no channel to close */
        } else {
            ec_abort(c, env);
        }
        break;
    case TL_CLIENT_ACT_GIVE_UP: c->state = EC_CLOSING; break;
    case TL_CLIENT_ACT_RECONNECT:
        if (c->state == EC_WAIT && ec_connect(c, env, 1) != 0) {
            c->b.final = 1;
            s->done = 1;
        }
        break;
    case TL_CLIENT_ACT_NONE: break;
    }
    ec_watch(c, env);
}

static void ec_report(const tl_service *s, tl_svc_report *out)
{
    const ec_client *c = s->state;

    *out = c->b.rep;
    out->sent = c->requests_sent;
    out->requests = 1;
    out->open = (uint64_t)c->inflight;
}

static void ec_destroy(tl_service *s)
{
    ec_client *c = s != NULL ? s->state : NULL;

    if (c != NULL) {
        tl_client_base_free(&c->b);
        free(c->latencies);
    }
    tl_svc_free(s);
}

static const tl_service_ops ec_ops = {
    "echo-client", ec_start, ec_on_message, ec_on_timer, ec_report, ec_destroy,
};

int tl_echo_client_create(const tl_echo_client_config *cfg, tl_service **out)
{
    tl_service *s;
    ec_client *c;
    int ok = cfg != NULL && cfg->connect != NULL && cfg->count <= SIZE_MAX / sizeof(uint64_t) - 1;
    int rc = tl_svc_new(out, ok, &ec_ops, sizeof *c, &s);

    if (rc != TL_OK) {
        return rc;
    }
    c = s->state;
    c->cfg = *cfg;
    rc = tl_client_base_init(&c->b, cfg->connect, &cfg->conn);
    c->latencies = malloc((size_t)(cfg->count ? cfg->count : 1) * sizeof *c->latencies);
    if (rc != TL_OK || c->latencies == NULL) {
        ec_destroy(s);
        return TL_E_NOMEM;
    }
    c->cfg.connect = c->b.connect;
    c->state = EC_FAILED;
    *out = s;
    return TL_OK;
}

void tl_echo_client_stats(const tl_service *s, tl_client_stats *out)
{
    const ec_client *c = s->state;

    *out = c->stats;
    tl_client_stats_finish(out, &c->b, c->cfg.count, c->latencies);
}
