/*
 * The pattern client (PROTOCOL.md section 10); see pattern_client.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_base.h"
#include "pattern_client.h"
#include "pattern_server.h"

typedef enum { PC_IDLE = 0, PC_HELLO, PC_RUN, PC_BYE, PC_CLOSING, PC_WAIT } pc_phase;
enum { PC_NOT_SENT = 0, PC_OUTSTANDING, PC_ANSWERED, PC_FAILED }; /* req[] values */

typedef struct {
    tl_client_base b; /* connect, channel, report */
    tl_pattern_client_config cfg;
    pc_phase phase;
    uint64_t next_id;     /* lowest id that may not be sent yet (failed ids go again after a reconnect) */
    uint64_t hi;          /* highest id ever sent + 1 */
    uint64_t cur_id;      /* the request in flight (modes other than correlation) */
    uint64_t outstanding; /* requests sent, not yet fully answered */
    uint64_t oldest;      /* correlation: lowest outstanding id (hi: none) */
    uint8_t *req;         /* per id (1..count): PC_NOT_SENT, PC_OUTSTANDING, PC_ANSWERED, PC_FAILED */
    uint64_t *sent_at;    /* per id */
    /* the request in flight (modes other than correlation) */
    uint64_t cur_frames;
    uint32_t cur_fnv;
    int cur_pct;
    int cur_response;
    int cur_server_req;
    tl_pattern_client_stats stats;
} pc_client;

const char *tl_pc_mode_name(tl_pc_mode mode)
{
    switch (mode) {
    case TL_PC_CORRELATION: return "correlation";
    case TL_PC_STREAM_IN: return "stream-in";
    case TL_PC_STREAM_OUT: return "stream-out";
    case TL_PC_PROGRESS: return "progress";
    case TL_PC_BIDIR: return "bidir";
    case TL_PC_REJECT: return "reject";
    }
    return "?";
}

static int pc_post(pc_client *c, const tl_svc_env *env, tl_message **m, const char *what)
{
    tl_post_out out;
    int rc;

    memset(&out, 0, sizeof out);
    rc = env->post(env->host, m, &out);
    if (rc != TL_OK) {
        env->put(env->host, m);
        if (!tl_client_post_closed(rc, &out)) {
            tl_svc_report_error(&c->b.rep, env, "post of %s refused: %s", what, tl_strerror(rc));
        }
    }
    return rc;
}

static int pc_new(pc_client *c, const tl_svc_env *env, tl_message **m, unsigned op, int more, uint64_t id)
{
    int rc = tl_client_get(&c->b, env, m);

    if (rc != TL_OK) {
        return rc;
    }
    (*m)->hdr.channel = c->b.channel;
    (*m)->hdr.proto = tl_proto_make(op, 0, more, 0, 0);
    (*m)->hdr.message_id = id;
    return TL_OK;
}

/* The end, for good: Bye pair, or ByeSignal with bit A with abort. */
static void pc_close(pc_client *c, const tl_svc_env *env)
{
    tl_message *m = NULL;

    c->b.final = 1;
    c->phase = PC_CLOSING;
    if (c->cfg.abort) {
        /* A local abort closes at once; a ByeResponse may take a while
         * under loss, so the grace starts when it arrives. */
        env->set_timer(env->host, TL_CLIENT_CLOSE_GRACE_NS, TL_CLIENT_TIMER_CLOSE);
    }
    if (pc_new(c, env, &m, c->cfg.abort ? TL_OP_BYE_SIGNAL : TL_OP_BYE_REQUEST, 0, 0) != TL_OK) {
        return;
    }
    if (c->cfg.abort) {
        m->hdr.proto = tl_proto_make(TL_OP_BYE_SIGNAL, 0, 0, 1, 0);
    }
    if (pc_post(c, env, &m, c->cfg.abort ? "ByeSignal" : "ByeRequest") == TL_OK && !c->cfg.abort) {
        c->phase = PC_BYE;
    }
}

/* Send one request of the current mode with id. */
static int send_request(pc_client *c, const tl_svc_env *env, uint64_t id)
{
    tl_message *m = NULL;
    uint8_t *body;
    char pat[40];
    size_t size = c->cfg.size;
    uint64_t frames = c->cfg.mode == TL_PC_STREAM_IN ? c->cfg.frames : 1;
    uint32_t fnv = TL_PATTERN_FNV_INIT;

    body = malloc(size ? size : 1);
    if (body == NULL) {
        tl_svc_report_error(&c->b.rep, env, "out of memory");
        return -1;
    }
    switch (c->cfg.mode) {
    case TL_PC_STREAM_IN: snprintf(pat, sizeof pat, "stream-in"); break;
    case TL_PC_STREAM_OUT:
        snprintf(pat, sizeof pat, "stream-out:%llu", (unsigned long long)c->cfg.frames);
        break;
    case TL_PC_PROGRESS: snprintf(pat, sizeof pat, "progress:%llu", (unsigned long long)c->cfg.frames); break;
    case TL_PC_BIDIR: snprintf(pat, sizeof pat, "bidir"); break;
    default: snprintf(pat, sizeof pat, "echo"); break;
    }
    c->sent_at[id] = env->now(env->host);
    for (uint64_t f = 0; f < frames; f++) {
        int last = f + 1 == frames;
        int rc = pc_new(c, env, &m, TL_OP_REQUEST, !last, id);

        if (rc == TL_OK) {
            tl_pattern_fill(body, size, id, f);
            fnv = tl_pattern_fnv(fnv, body, size);
            rc = tl_msg_add_header(m, TL_PATTERN_HEADER, pat);
            if (rc == TL_OK) {
                rc = tl_msg_body_set(m, body, size);
            }
            if (rc == TL_OK && last && c->cfg.mode == TL_PC_STREAM_IN) {
                char sum[16];
                snprintf(sum, sizeof sum, "%08x", (unsigned)fnv);
                rc = tl_msg_add_header(m, TL_PATTERN_CHECKSUM, sum);
            }
            if (rc != TL_OK) {
                env->put(env->host, &m);
                tl_svc_report_error(&c->b.rep, env, "cannot build request %llu: %s", (unsigned long long)id,
                                    tl_strerror(rc));
            } else {
                rc = pc_post(c, env, &m, "Request");
            }
        }
        if (rc != TL_OK) {
            free(body);
            return -1;
        }
    }
    free(body);
    c->b.rep.sent++;
    c->req[id] = PC_OUTSTANDING;
    c->cur_id = id;
    if (id >= c->hi) {
        c->hi = id + 1;
    }
    c->outstanding++;
    c->cur_frames = 0;
    c->cur_fnv = TL_PATTERN_FNV_INIT;
    c->cur_pct = -1;
    c->cur_response = 0;
    c->cur_server_req = 0;
    return 0;
}

/* Fill the window, or close when everything was answered. */
static void pc_pump(pc_client *c, const tl_svc_env *env)
{
    uint32_t window = c->cfg.mode == TL_PC_CORRELATION ? c->cfg.concurrency : 1;

    while (c->phase == PC_RUN && c->outstanding < window) {
        while (c->next_id <= c->cfg.count && c->req[c->next_id] != PC_NOT_SENT) {
            c->next_id++;
        }
        if (c->next_id > c->cfg.count) {
            break;
        }
        if (send_request(c, env, c->next_id) != 0) {
            pc_close(c, env);
            return;
        }
        c->next_id++;
    }
    if (c->phase == PC_RUN && c->next_id > c->cfg.count && c->outstanding == 0) {
        pc_close(c, env);
    }
}

/* Open a channel: HelloRequest (again: a reconnect). 0 or an error code
 * (recorded). A reconnecting client says so in every Hello (x-reconnect:
 * reconnects so far), so that the pattern server does not count a channel
 * that dies as a client gone for good (pattern_server.h). */
static int pc_connect(pc_client *c, const tl_svc_env *env, int again)
{
    tl_message *m = NULL;
    tl_post_out out;
    int rc = tl_client_get(&c->b, env, &m);

    if (rc != TL_OK) {
        return rc;
    }
    rc = tl_msg_set_address(m, TL_OP_HELLO_REQUEST, c->b.connect);
    if (rc == TL_OK && c->cfg.mode == TL_PC_REJECT) {
        rc = tl_msg_add_header(m, TL_PATTERN_REJECT, "test");
    }
    if (rc == TL_OK && c->b.retry.conn.reconnect) {
        char n[24];

        snprintf(n, sizeof n, "%llu", (unsigned long long)(c->b.rep.reconnects + (again ? 1u : 0u)));
        rc = tl_msg_add_header(m, TL_PATTERN_RECONNECT, n);
    }
    if (rc == TL_OK) {
        memset(&out, 0, sizeof out);
        rc = env->post(env->host, &m, &out);
    }
    if (rc != TL_OK) {
        env->put(env->host, &m);
        tl_svc_report_error(&c->b.rep, env, "HelloRequest to %s refused: %s", c->b.connect, tl_strerror(rc));
        return rc;
    }
    tl_client_attempt(&c->b, env, out.hdr.channel, again);
    c->phase = PC_HELLO;
    c->next_id = 1;
    c->oldest = 1;
    return 0;
}

static int pc_start(tl_service *s, const tl_svc_env *env)
{
    pc_client *c = s->state;
    int rc;

    c->hi = 1;
    rc = pc_connect(c, env, 0);
    if (rc != 0) {
        return rc;
    }
    if (c->cfg.timeout_ns != 0) {
        env->set_timer(env->host, c->cfg.timeout_ns, TL_CLIENT_TIMER_TIMEOUT);
    }
    return 0;
}

static void advance_oldest(pc_client *c)
{
    while (c->oldest < c->hi && c->req[c->oldest] != PC_OUTSTANDING) {
        c->oldest++;
    }
}

static void request_done(pc_client *c, const tl_svc_env *env, uint64_t id)
{
    c->req[id] = PC_ANSWERED;
    c->outstanding--;
    tl_svc_report_answer(&c->b.rep, env->now(env->host) - c->sent_at[id]);
    advance_oldest(c);
}

/* End request id with an explicit failure (its channel closed, or the engine
 * returned one of its frames). */
static void request_failed(pc_client *c, uint64_t id)
{
    if (id >= 1 && id < c->hi && c->req[id] == PC_OUTSTANDING) {
        c->req[id] = PC_FAILED;
        c->outstanding--;
        c->b.rep.failed++;
        advance_oldest(c);
    }
}

/* The id of a request in flight, or 0 (error recorded). */
static uint64_t check_id(pc_client *c, const tl_svc_env *env, const tl_message *m, const char *what)
{
    uint64_t id = m->hdr.message_id;
    int st = id == 0 || id > c->cfg.count ? PC_NOT_SENT : c->req[id];

    if (st != PC_OUTSTANDING) {
        tl_svc_report_error(&c->b.rep, env, "%s id %llu answers no outstanding request%s", what,
                            (unsigned long long)id,
                            st == PC_FAILED     ? " (it had failed)"
                            : st == PC_ANSWERED ? " (duplicate)"
                                                : "");
        return 0;
    }
    return id;
}

static void on_response(pc_client *c, const tl_svc_env *env, const tl_message *m)
{
    uint64_t id = check_id(c, env, m, "Response");
    uint8_t *want;
    char text[80];
    int n;

    if (id == 0) {
        return;
    }
    switch (c->cfg.mode) {
    case TL_PC_CORRELATION:
    case TL_PC_BIDIR:
        if (tl_proto_more(m->hdr.proto)) {
            tl_svc_report_error(&c->b.rep, env, "Response id %llu has more = 1", (unsigned long long)id);
        }
        want = malloc(c->cfg.size ? c->cfg.size : 1);
        if (want == NULL) {
            return;
        }
        tl_pattern_fill(want, c->cfg.size, id, 0);
        if (m->body.len != c->cfg.size || memcmp(m->body.data, want, c->cfg.size) != 0) {
            tl_svc_report_error(&c->b.rep, env,
                                "Response id %llu: body of %zu bytes differs from the request's",
                                (unsigned long long)id, m->body.len);
        } else {
            c->b.rep.bytes += m->body.len;
        }
        free(want);
        advance_oldest(c);
        if (id > c->oldest) {
            c->stats.out_of_order++;
        }
        if (c->cfg.mode == TL_PC_BIDIR) {
            c->cur_response = 1;
            if (!c->cur_server_req) {
                return;
            }
        }
        request_done(c, env, id);
        return;
    case TL_PC_STREAM_IN:
        n = snprintf(text, sizeof text, "frames=%llu bytes=%llu fnv=", (unsigned long long)c->cfg.frames,
                     (unsigned long long)(c->cfg.frames * c->cfg.size));
        {
            uint8_t *body = malloc(c->cfg.size ? c->cfg.size : 1);
            uint32_t fnv = TL_PATTERN_FNV_INIT;
            if (body == NULL) {
                return;
            }
            for (uint64_t f = 0; f < c->cfg.frames; f++) {
                tl_pattern_fill(body, c->cfg.size, id, f);
                fnv = tl_pattern_fnv(fnv, body, c->cfg.size);
            }
            free(body);
            n += snprintf(text + n, sizeof text - (size_t)n, "%08x", (unsigned)fnv);
        }
        if (m->body.len != (size_t)n || memcmp(m->body.data, text, (size_t)n) != 0) {
            tl_svc_report_error(&c->b.rep, env, "stream-in id %llu: the server says '%.*s', expected '%s'",
                                (unsigned long long)id, (int)(m->body.len > 80 ? 80 : m->body.len),
                                (const char *)m->body.data, text);
        } else {
            c->b.rep.bytes += m->body.len;
        }
        request_done(c, env, id);
        return;
    case TL_PC_STREAM_OUT: {
        uint8_t body[64];
        uint64_t idx = c->cur_frames;
        int last = !tl_proto_more(m->hdr.proto);

        c->b.rep.signals++;
        body[0] = (uint8_t)(idx >> 24);
        body[1] = (uint8_t)(idx >> 16);
        body[2] = (uint8_t)(idx >> 8);
        body[3] = (uint8_t)idx;
        tl_pattern_fill(body + 4, sizeof body - 4, id, idx);
        if (m->body.len != sizeof body || memcmp(m->body.data, body, sizeof body) != 0) {
            tl_svc_report_error(&c->b.rep, env, "stream-out id %llu: frame %llu out of order or wrong",
                                (unsigned long long)id, (unsigned long long)idx);
        } else {
            c->b.rep.bytes += m->body.len;
        }
        c->cur_fnv = tl_pattern_fnv(c->cur_fnv, m->body.data, m->body.len);
        c->cur_frames++;
        if (!last && c->cur_frames >= c->cfg.frames) {
            tl_svc_report_error(&c->b.rep, env, "stream-out id %llu: more than %llu frames",
                                (unsigned long long)id, (unsigned long long)c->cfg.frames);
        }
        if (!last) {
            return;
        }
        if (c->cur_frames != c->cfg.frames) {
            tl_svc_report_error(&c->b.rep, env, "stream-out id %llu: %llu frames, expected %llu",
                                (unsigned long long)id, (unsigned long long)c->cur_frames,
                                (unsigned long long)c->cfg.frames);
        }
        {
            char got[16], said[32];
            snprintf(got, sizeof got, "%08x", (unsigned)c->cur_fnv);
            if (tl_pattern_header(m, TL_PATTERN_CHECKSUM, said, sizeof said) < 0 || strcmp(said, got) != 0) {
                tl_svc_report_error(&c->b.rep, env,
                                    "stream-out id %llu: checksum %s does not match the server's",
                                    (unsigned long long)id, got);
            }
        }
        request_done(c, env, id);
        return;
    }
    case TL_PC_PROGRESS:
        if (m->body.len != 4 || memcmp(m->body.data, "done", 4) != 0) {
            tl_svc_report_error(&c->b.rep, env, "progress id %llu: final Response is not \"done\"",
                                (unsigned long long)id);
        }
        if (c->cur_frames != c->cfg.frames) {
            tl_svc_report_error(
                &c->b.rep, env, "progress id %llu: %llu Signals before the Response, expected %llu",
                (unsigned long long)id, (unsigned long long)c->cur_frames, (unsigned long long)c->cfg.frames);
        }
        request_done(c, env, id);
        return;
    case TL_PC_REJECT: break;
    }
    tl_svc_report_error(&c->b.rep, env, "unexpected Response id %llu", (unsigned long long)id);
}

static void on_signal(pc_client *c, const tl_svc_env *env, const tl_message *m)
{
    uint64_t id;
    int pct;

    if (c->cfg.mode != TL_PC_PROGRESS) {
        tl_svc_report_error(&c->b.rep, env, "unexpected Signal id %llu",
                            (unsigned long long)m->hdr.message_id);
        return;
    }
    id = check_id(c, env, m, "progress Signal");
    if (id == 0) {
        return;
    }
    c->b.rep.signals++;
    if (m->body.len != 1) {
        tl_svc_report_error(&c->b.rep, env, "progress id %llu: Signal body of %zu bytes",
                            (unsigned long long)id, m->body.len);
        return;
    }
    pct = m->body.data[0];
    if (pct <= c->cur_pct || pct >= 100) {
        tl_svc_report_error(&c->b.rep, env, "progress id %llu: percent %d after %d", (unsigned long long)id,
                            pct, c->cur_pct);
    }
    c->cur_pct = pct;
    c->cur_frames++;
}

static void on_server_request(pc_client *c, const tl_svc_env *env, tl_message **msg)
{
    tl_message *m = *msg;

    if (c->cfg.mode != TL_PC_BIDIR || c->outstanding == 0 || c->cur_server_req) {
        tl_svc_report_error(&c->b.rep, env, "unexpected Request id %llu from the server",
                            (unsigned long long)m->hdr.message_id);
        return;
    }
    c->cur_server_req = 1;
    m->hdr.proto = tl_proto_make(TL_OP_RESPONSE, 0, 0, 0, 0);
    m->text.len = 0;
    if (pc_post(c, env, msg, "Response to the server") != TL_OK) {
        return;
    }
    c->stats.server_requests++;
    if (c->cur_response) {
        request_done(c, env, c->cur_id);
    }
}

static int on_notification(pc_client *c, const tl_svc_env *env, const tl_message *m)
{
    switch (tl_client_notification(&c->b, env, m, c->phase == PC_HELLO, c->phase == PC_CLOSING,
                                   &c->stats.connect_status)) {
    case TL_CLIENT_NOTE_CLOSED:
        c->stats.closed = 1;
        if (c->cfg.mode == TL_PC_REJECT) {
            if (c->stats.connected) {
                tl_svc_report_error(&c->b.rep, env, "rejected Hello was answered");
            }
            /* Closed before the HelloResponse: the rejection, unless the
             * attempt had failed already (connect failure, hello timeout). */
            if (tl_client_closed(&c->b, env, c->b.attempt_over)) {
                c->phase = PC_WAIT;
                return 0;
            }
            return 1;
        }
        if (c->phase != PC_CLOSING) {
            tl_svc_logf(env, "channel closed while %s (%llu of %llu answered, %llu outstanding fail)",
                        c->phase == PC_HELLO ? "connecting"
                        : c->phase == PC_BYE ? "waiting for ByeResponse"
                                             : "running",
                        (unsigned long long)c->b.rep.answered, (unsigned long long)c->cfg.count,
                        (unsigned long long)c->outstanding);
        }
        /* channel_closed is the explicit failure of every outstanding request */
        for (uint64_t id = 1; id < c->hi; id++) {
            request_failed(c, id);
        }
        if (tl_client_closed(&c->b, env, c->b.rep.answered < c->cfg.count)) {
            /* The failed ones stay counted failed; their ids go again, as new
             * requests, on the next channel. */
            for (uint64_t id = 1; id < c->hi; id++) {
                if (c->req[id] == PC_FAILED) {
                    c->req[id] = PC_NOT_SENT;
                }
            }
            c->phase = PC_WAIT;
            return 0;
        }
        return 1;
    case TL_CLIENT_NOTE_RETURNED:
        if (tl_proto_opcode(m->hdr.proto) == TL_OP_REQUEST) {
            request_failed(c, m->hdr.message_id);
        }
        return 0;
    case TL_CLIENT_NOTE_CONNECT:
    case TL_CLIENT_NOTE_NONE: break;
    }
    return 0;
}

static int pc_handle(tl_service *s, const tl_svc_env *env, tl_message **msg)
{
    pc_client *c = s->state;
    const tl_message *m = *msg;
    unsigned op = tl_proto_opcode(m->hdr.proto);

    if (m->hdr.channel != c->b.channel || c->b.channel == TL_CHANNEL_NONE) {
        return 0;
    }
    if (tl_proto_origin_engine(m->hdr.proto)) {
        return on_notification(c, env, m);
    }
    if (c->b.attempt_over) {
        return 0; /* a frame of the channel we gave up on (hello or reply timeout) */
    }
    tl_client_heard(&c->b, env);
    if (c->phase == PC_HELLO && op == TL_OP_HELLO_RESPONSE) {
        c->stats.connected = 1;
        tl_client_handshake(&c->b, env);
        if (c->cfg.mode == TL_PC_REJECT) {
            tl_svc_report_error(&c->b.rep, env, "HelloResponse to a Hello the server should reject");
            pc_close(c, env);
            return 0;
        }
        c->phase = PC_RUN;
        c->next_id = 1;
        pc_pump(c, env);
        return 0;
    }
    if (c->phase == PC_BYE && op == TL_OP_BYE_RESPONSE) {
        c->phase = PC_CLOSING;
        env->set_timer(env->host, TL_CLIENT_CLOSE_GRACE_NS, TL_CLIENT_TIMER_CLOSE);
        return 0;
    }
    if (c->phase != PC_RUN && c->phase != PC_BYE && c->phase != PC_CLOSING) {
        tl_svc_report_error(&c->b.rep, env, "unexpected %s before HelloResponse",
                            tl_opcode_name(op) ? tl_opcode_name(op) : "frame");
        return 0;
    }
    switch (op) {
    case TL_OP_RESPONSE: on_response(c, env, m); break;
    case TL_OP_SIGNAL: on_signal(c, env, m); break;
    case TL_OP_REQUEST: on_server_request(c, env, msg); break;
    default:
        tl_svc_report_error(&c->b.rep, env, "unexpected %s id %llu",
                            tl_opcode_name(op) ? tl_opcode_name(op) : "frame",
                            (unsigned long long)m->hdr.message_id);
        break;
    }
    pc_pump(c, env);
    return 0;
}

/* The reply timeout watches the outstanding requests and the ByeResponse. */
static void pc_watch(pc_client *c, const tl_svc_env *env)
{
    tl_client_reply_watch(&c->b, env, (c->phase == PC_RUN && c->outstanding > 0) || c->phase == PC_BYE);
}

static int pc_on_message(tl_service *s, const tl_svc_env *env, tl_message **msg)
{
    int rc = pc_handle(s, env, msg);

    pc_watch(s->state, env);
    return rc;
}

static void pc_on_timer(tl_service *s, const tl_svc_env *env, uint64_t token)
{
    pc_client *c = s->state;

    switch (tl_client_on_timer(s, &c->b, env, token, c->phase == PC_CLOSING, &c->stats.timed_out, NULL,
                               c->cfg.count)) {
    case TL_CLIENT_ACT_ABORT:
        if (c->phase == PC_WAIT) {
            env->cancel_timer(env->host, TL_CLIENT_TIMER_RECONNECT);
            s->done = 1; /* no channel to close */
        } else {
            c->cfg.abort = 1;
            pc_close(c, env);
        }
        break;
    case TL_CLIENT_ACT_GIVE_UP: c->phase = PC_CLOSING; break;
    case TL_CLIENT_ACT_RECONNECT:
        if (c->phase == PC_WAIT && pc_connect(c, env, 1) != 0) {
            c->b.final = 1;
            s->done = 1;
        }
        break;
    case TL_CLIENT_ACT_NONE: break;
    }
    pc_watch(c, env);
}

static void pc_report(const tl_service *s, tl_svc_report *out)
{
    const pc_client *c = s->state;

    *out = c->b.rep;
    out->out_of_order = c->stats.out_of_order;
    out->requests = 1;
    out->open = 0;
    for (uint64_t id = 1; id < c->hi; id++) {
        out->open += c->req[id] == PC_OUTSTANDING;
    }
}

static void pc_destroy(tl_service *s)
{
    pc_client *c = s != NULL ? s->state : NULL;

    if (c != NULL) {
        tl_client_base_free(&c->b);
        free(c->req);
        free(c->sent_at);
    }
    tl_svc_free(s);
}

static const tl_service_ops pc_ops = {
    "pattern-client", pc_start, pc_on_message, pc_on_timer, pc_report, pc_destroy,
};

int tl_pattern_client_create(const tl_pattern_client_config *cfg, tl_service **out)
{
    tl_service *s;
    pc_client *c;
    int ok = cfg != NULL && cfg->connect != NULL && cfg->count <= TL_PC_MAX_COUNT &&
             cfg->size <= TL_MAX_BODY_LEN && cfg->mode <= TL_PC_REJECT;
    int rc = tl_svc_new(out, ok, &pc_ops, sizeof *c, &s);

    if (rc != TL_OK) {
        return rc;
    }
    c = s->state;
    c->cfg = *cfg;
    if (c->cfg.count == 0) {
        c->cfg.count = 1;
    }
    if (c->cfg.concurrency == 0) {
        c->cfg.concurrency = 1;
    }
    if (c->cfg.frames == 0) {
        c->cfg.frames = 4;
    }
    if (c->cfg.size == 0) {
        c->cfg.size = 64;
    }
    if (c->cfg.mode == TL_PC_REJECT) {
        c->cfg.count = 0;
    }
    rc = tl_client_base_init(&c->b, cfg->connect, &cfg->conn);
    c->b.no_hello_ok = c->cfg.mode == TL_PC_REJECT;
    c->req = calloc((size_t)c->cfg.count + 2, 1);
    c->sent_at = calloc((size_t)c->cfg.count + 2, sizeof *c->sent_at);
    if (rc != TL_OK || c->req == NULL || c->sent_at == NULL) {
        pc_destroy(s);
        return TL_E_NOMEM;
    }
    c->cfg.connect = c->b.connect;
    *out = s;
    return TL_OK;
}

void tl_pattern_client_stats_get(const tl_service *s, tl_pattern_client_stats *out)
{
    const pc_client *c = s->state;

    *out = c->stats;
}
