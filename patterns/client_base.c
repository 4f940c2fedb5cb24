/*
 * What the client services share; see client_base.h.
 */
#include <stdlib.h>
#include <string.h>

#include "client_base.h"

int tl_client_base_init(tl_client_base *b, const char *connect)
{
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

void tl_client_abort(tl_client_base *b, const tl_svc_env *env)
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
        tl_svc_report_error(&b->rep, env, "abort on channel %u refused: %s", (unsigned)b->channel,
                            tl_strerror(rc));
    }
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
        env->cancel_timer(env->host, TL_CLIENT_TIMER_TIMEOUT);
        return TL_CLIENT_NOTE_CLOSED;
    }
    if (hello && connect_status != NULL && (op == TL_OP_HELLO_REQUEST || op == TL_OP_HELLO_RESPONSE) &&
        m->hdr.status != TL_STATUS_SUCCESS) {
        /* Connect failure (6.4, A10): our HelloRequest comes back. */
        *connect_status = m->hdr.status;
        tl_svc_logf(env, "cannot connect to %s: %s (%u)", b->connect, tl_status_name(m->hdr.status),
                    (unsigned)m->hdr.status);
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

int tl_client_on_timer(tl_service *s, tl_client_base *b, const tl_svc_env *env, uint64_t token, int closing,
                       int *timed_out, const char *state, uint64_t count)
{
    if (token == TL_CLIENT_TIMER_TIMEOUT) {
        *timed_out = 1;
        if (closing) {
            s->done = 1;
            return 0;
        }
        if (state != NULL) {
            tl_svc_report_error(&b->rep, env, "timed out %s (%llu of %llu answered)", state,
                                (unsigned long long)b->rep.answered, (unsigned long long)count);
        } else {
            tl_svc_report_error(&b->rep, env, "timed out (%llu of %llu answered)",
                                (unsigned long long)b->rep.answered, (unsigned long long)count);
        }
        return 1;
    }
    if (token == TL_CLIENT_TIMER_CLOSE) {
        tl_svc_report_error(&b->rep, env, "channel %u not closed in time", (unsigned)b->channel);
        s->done = 1;
    }
    return 0;
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
