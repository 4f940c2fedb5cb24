/*
 * What the client services share; see client_base.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_base.h"

/* "1.500 s" */
static void fmt_seconds(char *out, size_t cap, uint64_t ns)
{
    snprintf(out, cap, "%llu.%03llu s", (unsigned long long)(ns / 1000000000ull),
             (unsigned long long)(ns % 1000000000ull / 1000000ull));
}

void tl_client_retry_init(tl_client_retry *r, const tl_client_connection *conn, uint64_t default_hello_ns)
{
    memset(r, 0, sizeof *r);
    if (conn != NULL) {
        r->conn = *conn;
    }
    if (r->conn.hello_timeout_ns == 0) {
        r->conn.hello_timeout_ns = default_hello_ns;
    }
    if (r->conn.reconnect_delay_ns == 0) {
        r->conn.reconnect_delay_ns = TL_CLIENT_RECONNECT_DELAY_NS;
    }
    if (r->conn.reconnect_max_ns == 0) {
        r->conn.reconnect_max_ns = TL_CLIENT_RECONNECT_MAX_NS;
    }
    if (r->conn.reconnect_max_ns < r->conn.reconnect_delay_ns) {
        r->conn.reconnect_max_ns = r->conn.reconnect_delay_ns;
    }
    r->backoff_ns = r->conn.reconnect_delay_ns;
}

void tl_client_retry_hello_posted(const tl_client_retry *r, const tl_svc_env *env)
{
    if (r->conn.hello_timeout_ns != TL_CLIENT_HELLO_TIMEOUT_OFF) {
        env->set_timer(env->host, r->conn.hello_timeout_ns, TL_CLIENT_TIMER_HELLO);
    }
}

void tl_client_retry_connected(tl_client_retry *r, const tl_svc_env *env)
{
    env->cancel_timer(env->host, TL_CLIENT_TIMER_HELLO);
    r->backoff_ns = r->conn.reconnect_delay_ns;
}

int tl_client_retry_schedule(tl_client_retry *r, const tl_svc_env *env, const tl_svc_report *rep,
                             const char *connect)
{
    uint64_t d = r->backoff_ns, half = d / 2, wait;
    char text[40];

    if (!r->conn.reconnect) {
        return 0;
    }
    if (r->conn.reconnects != 0 && rep->reconnects >= r->conn.reconnects) {
        tl_svc_logf(env, "giving up on %s: %llu reconnect(s) used", connect,
                    (unsigned long long)rep->reconnects);
        return 0;
    }
    /* Uniform in [d/2, d]: clients that failed together do not come back
     * together, and the wait never exceeds the cap. */
    wait = half + env->random(env->host) % (d - half + 1);
    r->backoff_ns = d > r->conn.reconnect_max_ns / 2 ? r->conn.reconnect_max_ns : 2 * d;
    env->set_timer(env->host, wait, TL_CLIENT_TIMER_RECONNECT);
    fmt_seconds(text, sizeof text, wait);
    tl_svc_logf(env, "reconnecting to %s in %s", connect, text);
    return 1;
}

void tl_client_retry_failed(const tl_svc_env *env, tl_svc_report *rep, const char *connect, const char *why)
{
    rep->connect_failures++;
    tl_svc_logf(env, "connection to %s failed before its HelloResponse (%s): %llu connect failure(s)",
                connect, why, (unsigned long long)rep->connect_failures);
}

void tl_client_retry_hello_timed_out(const tl_client_retry *r, const tl_svc_env *env, tl_svc_report *rep,
                                     const char *connect)
{
    char text[40], why[80];

    fmt_seconds(text, sizeof text, r->conn.hello_timeout_ns);
    snprintf(why, sizeof why, "no HelloResponse within %s", text);
    tl_client_retry_failed(env, rep, connect, why);
}

int tl_client_base_init(tl_client_base *b, const char *connect, const tl_client_connection *conn)
{
    tl_client_retry_init(&b->retry, conn, TL_CLIENT_HELLO_TIMEOUT_NS);
    b->channel = TL_CHANNEL_NONE;
    b->connect = tl_svc_strdup(connect);
    return b->connect != NULL ? TL_OK : TL_E_NOMEM;
}

void tl_client_base_free(tl_client_base *b)
{
    free(b->connect);
    free(b->hello_text);
}

int tl_client_get(tl_client_base *b, const tl_svc_env *env, tl_message **m)
{
    int rc = env->get(env->host, TL_GET_ALWAYS, m);

    if (rc != TL_OK) {
        tl_svc_report_error(&b->rep, env, "no message: %s", tl_strerror(rc));
    }
    return rc;
}

int tl_client_hello(tl_client_base *b, const tl_svc_env *env, tl_message **m)
{
    int rc = tl_client_get(b, env, m);

    if (rc != TL_OK) {
        return rc;
    }
    rc = tl_msg_set_address(*m, TL_OP_HELLO_REQUEST, b->connect);
    if (rc != TL_OK) {
        env->put(env->host, m);
        tl_svc_report_error(&b->rep, env, "bad address %s: %s", b->connect, tl_strerror(rc));
        return rc;
    }
    free(b->hello_text); /* a reconnect's Hello replaces the earlier one's */
    b->hello_text = malloc((*m)->text.len ? (*m)->text.len : 1);
    if (b->hello_text == NULL) {
        env->put(env->host, m);
        tl_svc_report_error(&b->rep, env, "out of memory");
        return TL_E_NOMEM;
    }
    memcpy(b->hello_text, (*m)->text.data, (*m)->text.len);
    b->hello_thl = (*m)->text.len;
    return TL_OK;
}

void tl_client_attempt(tl_client_base *b, const tl_svc_env *env, uint16_t ch, int again)
{
    b->channel = ch;
    b->handshaken = 0;
    b->attempt_over = 0;
    if (again) {
        b->rep.reconnects++;
        tl_svc_logf(env, "reconnect %llu: HelloRequest on channel %u to %s",
                    (unsigned long long)b->rep.reconnects, (unsigned)ch, b->connect);
    }
    tl_client_retry_hello_posted(&b->retry, env);
}

void tl_client_handshake(tl_client_base *b, const tl_svc_env *env)
{
    b->handshaken = 1;
    tl_client_retry_connected(&b->retry, env);
}

void tl_client_heard(tl_client_base *b, const tl_svc_env *env)
{
    if (b->retry.conn.reply_timeout_ns != 0) {
        b->last_heard = env->now(env->host);
    }
}

void tl_client_reply_watch(tl_client_base *b, const tl_svc_env *env, int waiting)
{
    if (b->retry.conn.reply_timeout_ns == 0) {
        return;
    }
    if (!waiting) {
        b->reply_waiting = 0; /* a timer still armed finds nothing to do */
        return;
    }
    if (!b->reply_waiting) {
        b->reply_waiting = 1;
        b->last_heard = env->now(env->host);
    }
    if (!b->reply_armed) {
        b->reply_armed = 1;
        env->set_timer(env->host, b->retry.conn.reply_timeout_ns, TL_CLIENT_TIMER_REPLY);
    }
}

int tl_client_closed(tl_client_base *b, const tl_svc_env *env, int work_left)
{
    b->reply_waiting = 0;
    env->cancel_timer(env->host, TL_CLIENT_TIMER_HELLO);
    if (!b->handshaken && !b->attempt_over && !b->no_hello_ok) {
        tl_client_retry_failed(env, &b->rep, b->connect, "channel closed");
        b->attempt_over = 1;
    }
    if (b->final || !work_left || !tl_client_retry_schedule(&b->retry, env, &b->rep, b->connect)) {
        env->cancel_timer(env->host, TL_CLIENT_TIMER_TIMEOUT);
        return 0;
    }
    b->channel = TL_CHANNEL_NONE;
    return 1;
}

/* ByeSignal with bit A (6.8) and the close grace timer. */
static void abort_channel(tl_client_base *b, const tl_svc_env *env)
{
    tl_message *m = NULL;
    tl_post_out out;
    int rc;

    env->set_timer(env->host, TL_CLIENT_CLOSE_GRACE_NS, TL_CLIENT_TIMER_CLOSE);
    rc = env->get(env->host, TL_GET_ALWAYS, &m);
    if (rc != TL_OK) {
        tl_svc_report_error(&b->rep, env, "abort: no message: %s", tl_strerror(rc));
        return;
    }
    m->hdr.channel = b->channel;
    m->hdr.proto = tl_proto_make(TL_OP_BYE_SIGNAL, 0, 0, 1, 0);
    rc = env->post(env->host, &m, &out);
    if (rc != TL_OK) {
        env->put(env->host, &m);
        if (!tl_client_post_closed(rc, &out)) {
            tl_svc_report_error(&b->rep, env, "abort on channel %u refused: %s", (unsigned)b->channel,
                                tl_strerror(rc));
        }
    }
}

void tl_client_abort(tl_client_base *b, const tl_svc_env *env)
{
    b->final = 1;
    abort_channel(b, env);
}

int tl_client_foreign(tl_client_base *b, const tl_svc_env *env, const tl_message *m)
{
    if (m->hdr.channel == b->channel && b->channel != TL_CHANNEL_NONE) {
        return 0;
    }
    if (!(tl_proto_origin_engine(m->hdr.proto) && m->hdr.channel == TL_CHANNEL_NONE)) {
        tl_svc_report_error(&b->rep, env, "message on unexpected channel %u", (unsigned)m->hdr.channel);
    }
    return 1;
}

void tl_client_unexpected(tl_client_base *b, const tl_svc_env *env, const tl_message *m, const char *state)
{
    unsigned op = tl_proto_opcode(m->hdr.proto);

    tl_svc_report_error(&b->rep, env, "unexpected %s id %llu while %s",
                        tl_opcode_name(op) ? tl_opcode_name(op) : "frame",
                        (unsigned long long)m->hdr.message_id, state);
}

tl_client_note tl_client_notification(tl_client_base *b, const tl_svc_env *env, const tl_message *m,
                                      int hello, int closing, uint8_t *connect_status)
{
    unsigned op = tl_proto_opcode(m->hdr.proto);

    if (op == TL_OP_SIGNAL && m->hdr.status == TL_STATUS_CHANNEL_CLOSED) {
        b->rep.closed++;
        env->cancel_timer(env->host, TL_CLIENT_TIMER_CLOSE);
        env->cancel_timer(env->host, TL_CLIENT_TIMER_HELLO);
        return TL_CLIENT_NOTE_CLOSED;
    }
    if (hello && connect_status != NULL && (op == TL_OP_HELLO_REQUEST || op == TL_OP_HELLO_RESPONSE) &&
        m->hdr.status != TL_STATUS_SUCCESS) {
        /* Connect failure (6.4, A10): our HelloRequest comes back. */
        *connect_status = m->hdr.status;
        tl_svc_logf(env, "cannot connect to %s: %s (%u)", b->connect, tl_status_name(m->hdr.status),
                    (unsigned)m->hdr.status);
        if (!b->attempt_over) {
            tl_client_retry_failed(env, &b->rep, b->connect, tl_status_name(m->hdr.status));
            b->attempt_over = 1;
        }
        return TL_CLIENT_NOTE_CONNECT;
    }
    if (op == TL_OP_BYE_SIGNAL && closing) {
        return TL_CLIENT_NOTE_NONE; /* our abort handed back (6.8) */
    }
    if (m->hdr.status == TL_STATUS_POOL_EMPTY) {
        return TL_CLIENT_NOTE_NONE;
    }
    tl_svc_logf(env, "%s id %llu returned: %s", tl_opcode_name(op) ? tl_opcode_name(op) : "?",
                (unsigned long long)m->hdr.message_id, tl_status_name(m->hdr.status));
    return TL_CLIENT_NOTE_RETURNED;
}

tl_client_act tl_client_on_timer(tl_service *s, tl_client_base *b, const tl_svc_env *env, uint64_t token,
                                 int closing, int *timed_out, const char *state, uint64_t count)
{
    if (token == TL_CLIENT_TIMER_HELLO) {
        if (b->handshaken || b->attempt_over || closing || b->channel == TL_CHANNEL_NONE) {
            return TL_CLIENT_ACT_NONE;
        }
        tl_client_retry_hello_timed_out(&b->retry, env, &b->rep, b->connect);
        b->attempt_over = 1;
        abort_channel(b, env);
        return TL_CLIENT_ACT_GIVE_UP;
    }
    if (token == TL_CLIENT_TIMER_REPLY) {
        uint64_t now = env->now(env->host), limit = b->retry.conn.reply_timeout_ns;
        char text[40];

        b->reply_armed = 0;
        if (!b->reply_waiting || b->attempt_over || closing || b->channel == TL_CHANNEL_NONE) {
            return TL_CLIENT_ACT_NONE;
        }
        if (now - b->last_heard < limit) {
            b->reply_armed = 1; /* heard since: wait out the rest */
            env->set_timer(env->host, b->last_heard + limit - now, TL_CLIENT_TIMER_REPLY);
            return TL_CLIENT_ACT_NONE;
        }
        fmt_seconds(text, sizeof text, limit);
        tl_svc_logf(env, "nothing from %s on channel %u for %s while waiting for it: giving the channel up",
                    b->connect, (unsigned)b->channel, text);
        b->attempt_over = 1;
        abort_channel(b, env);
        return TL_CLIENT_ACT_GIVE_UP;
    }
    if (token == TL_CLIENT_TIMER_RECONNECT) {
        return TL_CLIENT_ACT_RECONNECT;
    }
    if (token == TL_CLIENT_TIMER_TIMEOUT) {
        *timed_out = 1;
        if (closing) {
            s->done = 1;
            return TL_CLIENT_ACT_NONE;
        }
        if (state != NULL) {
            tl_svc_report_error(&b->rep, env, "timed out %s (%llu of %llu answered)", state,
                                (unsigned long long)b->rep.answered, (unsigned long long)count);
        } else {
            tl_svc_report_error(&b->rep, env, "timed out (%llu of %llu answered)",
                                (unsigned long long)b->rep.answered, (unsigned long long)count);
        }
        b->final = 1;
        return TL_CLIENT_ACT_ABORT;
    }
    if (token == TL_CLIENT_TIMER_CLOSE) {
        tl_svc_report_error(&b->rep, env, "channel %u not closed in time", (unsigned)b->channel);
        s->done = 1;
    }
    return TL_CLIENT_ACT_NONE;
}

void tl_client_stats_finish(tl_client_stats *out, const tl_client_base *b, uint64_t count,
                            const uint64_t *latencies)
{
    out->clean =
        b->rep.errors == 0 && out->connected && out->closed && b->rep.answered == count && !out->timed_out;
    out->latencies = latencies;
    out->latency_count = (size_t)b->rep.answered;
    out->channel = b->channel;
}

int tl_client_post_closed(int rc, const tl_post_out *out)
{
    return rc == TL_E_REJECTED && out->status == TL_STATUS_INVALID_CHANNEL_NUMBER;
}
