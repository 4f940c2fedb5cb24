/*
 * tofu's EchoService + MultiHomed as a service (PROTOCOL.md section 7).
 * See echo.h for the rules and the documented divergences.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo.h"

typedef struct {
    char **listen;
    uint16_t *channels; /* listener channel per address, 0 until posted */
    unsigned char *ready;
    size_t listen_count;
    uint64_t budget;
    tl_echo_mode mode;
    void (*on_listening)(void *ctx, const char *address, uint16_t channel);
    void *ctx;
    tl_echo_stats stats;
    uint64_t errors;
    char first_error[200];
} echo_state;

static void echo_error(echo_state *st, const tl_svc_env *env, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void echo_error(echo_state *st, const tl_svc_env *env, const char *fmt, ...)
{
    char line[sizeof st->first_error];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    st->errors++;
    if (st->first_error[0] == '\0') {
        memcpy(st->first_error, line, sizeof line);
    }
    tl_svc_logf(env, "error: %s", line);
}

/* "cannot listen on 'ADDR': OS reason (status)" or "...: status (n)". */
static void listen_failed(echo_state *st, const tl_svc_env *env, size_t li, uint16_t channel, uint8_t status)
{
    char why[128];

    if (tl_svc_describe(env, channel, TL_SVC_OS_ERROR, why, sizeof why)) {
        echo_error(st, env, "cannot listen on '%s': %s (%s)", st->listen[li], why, tl_status_name(status));
    } else {
        echo_error(st, env, "cannot listen on '%s': %s (%u)", st->listen[li], tl_status_name(status),
                   (unsigned)status);
    }
}

/* "connection 4711 (tcp 127.0.0.1:40112)" for warn and error lines. */
static const char *connection_name(const tl_svc_env *env, uint16_t channel, char *buf, size_t cap)
{
    char peer[128];

    if (tl_svc_describe(env, channel, TL_SVC_PEER, peer, sizeof peer)) {
        snprintf(buf, cap, "connection %u (%s)", (unsigned)channel, peer);
    } else {
        snprintf(buf, cap, "connection %u", (unsigned)channel);
    }
    return buf;
}

/* TL_ECHO_SURVIVE: the echo of m was refused; abort its channel (a local
 * abort, 6.8: RST, nothing else sent) and go on. m is still ours. */
static void abort_refused(echo_state *st, const tl_svc_env *env, tl_message **msg, const tl_opcode_info *info,
                          uint8_t status)
{
    tl_message *m = *msg;
    uint16_t channel = m->hdr.channel;
    uint64_t id = m->hdr.message_id;
    char who[192];
    tl_post_out out;

    connection_name(env, channel, who, sizeof who);
    tl_msg_reset(m);
    m->hdr.proto = tl_proto_make(TL_OP_BYE_SIGNAL, 0, 0, 1, 0);
    m->hdr.channel = channel;
    memset(&out, 0, sizeof out);
    if (env->post(env->host, msg, &out) != TL_OK) {
        return; /* closed meanwhile: the host puts the message back */
    }
    st->stats.closed_refused++;
    tl_svc_warnf(env, "%s: %s id %llu: its echo is refused (%s, PROTOCOL.md 5): closed", who, info->name,
                 (unsigned long long)id, tl_status_name(status));
}

static int listener_index(const echo_state *st, uint16_t channel)
{
    size_t i;

    if (channel == TL_CHANNEL_NONE) {
        return -1;
    }
    for (i = 0; i < st->listen_count; i++) {
        if (st->channels[i] == channel) {
            return (int)i;
        }
    }
    return -1;
}

static int echo_start(tl_service *s, const tl_svc_env *env)
{
    echo_state *st = s->state;
    size_t i;

    for (i = 0; i < st->listen_count; i++) {
        tl_message *m = NULL;
        tl_post_out out;
        int rc;

        rc = env->get(env->host, TL_GET_ALWAYS, &m);
        if (rc != TL_OK) {
            echo_error(st, env, "cannot listen on '%s': no message (%s)", st->listen[i], tl_strerror(rc));
            st->stats.failed = 1;
            return rc;
        }
        /* WelcomeRequest with ~listen_on, channel 0 (6.3). */
        rc = tl_msg_set_address(m, TL_OP_WELCOME_REQUEST, st->listen[i]);
        if (rc != TL_OK) {
            env->put(env->host, &m);
            echo_error(st, env, "cannot listen on '%s': bad address (%s)", st->listen[i], tl_strerror(rc));
            st->stats.failed = 1;
            return rc;
        }
        memset(&out, 0, sizeof out);
        rc = env->post(env->host, &m, &out);
        if (rc != TL_OK) {
            uint8_t status = (uint8_t)(rc == TL_E_REJECTED ? out.status : TL_STATUS_SUCCESS);

            env->put(env->host, &m);
            if (rc == TL_E_REJECTED) {
                echo_error(st, env, "cannot listen on '%s': %s (%u)", st->listen[i], tl_status_name(status),
                           (unsigned)status);
            } else {
                echo_error(st, env, "cannot listen on '%s': %s", st->listen[i], tl_strerror(rc));
            }
            st->stats.failed = 1;
            return rc;
        }
        st->channels[i] = out.hdr.channel;
        tl_svc_logf(env, "listener %s on channel %u", st->listen[i], (unsigned)out.hdr.channel);
    }
    return 0;
}

/* A message on one of our listener channels. Returns 1 to finish. */
static int on_listener_message(echo_state *st, const tl_svc_env *env, size_t li, const tl_message *m)
{
    unsigned op = tl_proto_opcode(m->hdr.proto);

    if (op == TL_OP_WELCOME_RESPONSE && m->hdr.status == TL_STATUS_SUCCESS && !st->ready[li]) {
        st->ready[li] = 1;
        st->stats.listening++;
        tl_svc_logf(env, "listening on %s", st->listen[li]);
        if (st->on_listening != NULL) {
            st->on_listening(st->ctx, st->listen[li], st->channels[li]);
        }
        return 0;
    }
    if (op == TL_OP_WELCOME_RESPONSE) {
        listen_failed(st, env, li, m->hdr.channel, m->hdr.status);
    } else {
        /* MultiHomed: anything on a listener channel (its channel_closed)
         * stops the server. */
        echo_error(st, env, "listener %s closed: %s (%u)", st->listen[li], tl_status_name(m->hdr.status),
                   (unsigned)m->hdr.status);
    }
    st->stats.failed = 1;
    return 1;
}

static int echo_on_message(tl_service *s, const tl_svc_env *env, tl_message **msg)
{
    echo_state *st = s->state;
    tl_message *m = *msg;
    const tl_opcode_info *info;
    unsigned op, echo_op;
    uint8_t native[TL_HEADER_SIZE];
    tl_post_out out;
    int li, rc;

    /* 0. --exact: MultiHomed stops on any message with status 21
     * (receiver_update) before the EchoService sees it (6.15). */
    if (st->mode == TL_ECHO_EXACT && m->hdr.status == TL_STATUS_RECEIVER_UPDATE &&
        listener_index(st, m->hdr.channel) < 0) {
        char who[192];
        echo_error(st, env, "%s: a frame with status 21 (receiver_update) stops tofu's echo server (--exact)",
                   connection_name(env, m->hdr.channel, who, sizeof who));
        st->stats.exact_stop = 1;
        st->stats.failed = 1;
        return 1;
    }
    /* 1. Budget: already used up -> finish (the message is put back). */
    if (st->budget != 0 && st->stats.budget_left == 0) {
        st->stats.budget_exhausted = 1;
        tl_svc_logf(env, "budget of %llu echoes used up: finishing", (unsigned long long)st->budget);
        return 1;
    }
    li = listener_index(st, m->hdr.channel);
    if (li >= 0) {
        return on_listener_message(st, env, (size_t)li, m);
    }
    /* 2. Engine notifications are counted, never echoed. */
    if (tl_proto_origin_engine(m->hdr.proto)) {
        st->stats.notifications++;
        if (m->hdr.status == TL_STATUS_POOL_EMPTY) {
            tl_message *extra = NULL;

            st->stats.pool_empty++;
            if (env->get(env->host, TL_GET_ALWAYS, &extra) == TL_OK) {
                env->put(env->host, &extra);
            }
        } else if (m->hdr.status == TL_STATUS_CHANNEL_CLOSED) {
            st->stats.closed++;
        }
        tl_svc_logf(env, "channel %u: %s %s (not echoed)", (unsigned)m->hdr.channel,
                    tl_opcode_name(tl_proto_opcode(m->hdr.proto))
                        ? tl_opcode_name(tl_proto_opcode(m->hdr.proto))
                        : "?",
                    tl_status_name(m->hdr.status));
        return 0;
    }
    /* 3. Op codes 10-15: the reference engine closes such channels (A7);
     * tofu would panic. Count and drop. */
    op = tl_proto_opcode(m->hdr.proto);
    info = tl_opcode_info_get(op);
    if (info == NULL) {
        st->stats.invalid_opcodes++;
        tl_svc_logf(env, "channel %u: op code %u dropped", (unsigned)m->hdr.channel, op);
        return 0;
    }
    /* 4. Response role: tofu stops the server (--exact); else ignored (divergence). */
    if (info->role == TL_ROLE_RESPONSE && st->mode == TL_ECHO_EXACT) {
        char who[192];
        echo_error(st, env,
                   "%s: a %s (id %llu) stops tofu's echo server: response roles are not supported (--exact)",
                   connection_name(env, m->hdr.channel, who, sizeof who), info->name,
                   (unsigned long long)m->hdr.message_id);
        st->stats.exact_stop = 1;
        st->stats.failed = 1;
        return 1;
    }
    if (info->role == TL_ROLE_RESPONSE) {
        st->stats.responses_ignored++;
        tl_svc_logf(env, "channel %u: %s id %llu ignored (response role)", (unsigned)m->hdr.channel,
                    info->name, (unsigned long long)m->hdr.message_id);
        return 0;
    }
    echo_op = info->role == TL_ROLE_REQUEST ? (unsigned)info->echo : op;
    /* 5. Budget counts regular and welcome messages. */
    if (st->budget != 0 && (info->type == TL_TYPE_REGULAR || info->type == TL_TYPE_WELCOME)) {
        st->stats.budget_left--;
    }
    if (m->hdr.thl != m->text.len || m->hdr.bl != m->body.len) {
        st->stats.length_mismatch++;
    }
    /* 6. Body := the native header as it is now: server-local channel, the
     * echoed op code with the received origin/more/A/B bits, the received
     * status, message_id, thl and bl. Text headers untouched. */
    tl_msg_set_opcode(m, echo_op);
    tl_header_encode_native(&m->hdr, native);
    rc = tl_msg_body_set(m, native, sizeof native);
    if (rc != TL_OK) {
        echo_error(st, env, "channel %u: cannot build the echo body: %s", (unsigned)m->hdr.channel,
                   tl_strerror(rc));
        st->stats.failed = 1;
        return 1;
    }
    /* 7. Post on the same channel. */
    memset(&out, 0, sizeof out);
    rc = env->post(env->host, msg, &out);
    if (rc == TL_OK) {
        st->stats.echoed++;
        switch (info->type) {
        case TL_TYPE_HELLO: st->stats.echoed_hello++; break;
        case TL_TYPE_BYE:
            if (info->role == TL_ROLE_SIGNAL) {
                st->stats.echoed_signals++;
            } else {
                st->stats.echoed_bye++;
            }
            break;
        case TL_TYPE_REGULAR:
        case TL_TYPE_WELCOME:
            if (info->role == TL_ROLE_SIGNAL) {
                st->stats.echoed_signals++;
            } else {
                st->stats.echoed_requests++;
            }
            break;
        }
        return 0;
    }
    if (rc == TL_E_REJECTED && st->mode == TL_ECHO_EXACT && echo_op == TL_OP_WELCOME_RESPONSE &&
        m->hdr.message_id == 0) {
        /* tofu checks the response id (5 step 4) before anything refuses a
         * WelcomeResponse: InvalidMessageId, and its server stops. */
        out.status = TL_STATUS_INVALID_MESSAGE_ID;
    } else if (rc == TL_E_REJECTED &&
               ((echo_op == TL_OP_WELCOME_RESPONSE && out.status == TL_STATUS_NOT_ALLOWED) ||
                out.status == TL_STATUS_INVALID_CHANNEL_NUMBER)) {
        /* Where tofu's engine drops the message silently, the reference
         * engine refuses it at post: a WelcomeResponse (A16), or a channel
         * that closed after the message arrived (A6: the client sent and
         * went away). Same wire result; tofu's server goes on, so do we. */
        st->stats.refused++;
        tl_svc_logf(env, "channel %u: echo of %s id %llu dropped: %s", (unsigned)m->hdr.channel, info->name,
                    (unsigned long long)m->hdr.message_id, tl_status_name((uint8_t)out.status));
        return 0;
    }
    if (rc == TL_E_REJECTED && st->mode == TL_ECHO_SURVIVE) {
        abort_refused(st, env, msg, info, (uint8_t)out.status);
        return 0;
    }
    if (rc == TL_E_REJECTED) {
        char who[192];
        echo_error(st, env, "%s: echo of %s id %llu refused: %s (%u)%s",
                   connection_name(env, m->hdr.channel, who, sizeof who), info->name,
                   (unsigned long long)m->hdr.message_id, tl_status_name((uint8_t)out.status),
                   (unsigned)out.status,
                   st->mode == TL_ECHO_EXACT ? "; tofu's echo server stops (--exact)" : "");
    } else {
        echo_error(st, env, "channel %u: echo of %s id %llu failed: %s", (unsigned)m->hdr.channel, info->name,
                   (unsigned long long)m->hdr.message_id, tl_strerror(rc));
    }
    st->stats.failed = 1;
    return 1;
}

static void echo_report(const tl_service *s, tl_svc_report *out)
{
    const echo_state *st = s->state;

    memset(out, 0, sizeof *out);
    out->sent = st->stats.echoed;
    out->answered = st->stats.echoed;
    out->failed = st->stats.refused;
    out->errors = st->errors;
    out->signals = st->stats.notifications;
    out->bytes = st->stats.echoed * TL_HEADER_SIZE;
    out->closed = st->stats.closed;
    memcpy(out->first_error, st->first_error, sizeof out->first_error);
}

static void echo_destroy(tl_service *s)
{
    echo_state *st = s != NULL ? s->state : NULL;
    size_t i;

    if (st != NULL) {
        for (i = 0; st->listen != NULL && i < st->listen_count; i++) {
            free(st->listen[i]);
        }
        free(st->listen);
        free(st->channels);
        free(st->ready);
    }
    tl_svc_free(s);
}

static const tl_service_ops echo_ops = {
    "echo", echo_start, echo_on_message, NULL, echo_report, echo_destroy,
};

int tl_echo_service_create(const tl_echo_config *cfg, tl_service **out)
{
    tl_service *s;
    echo_state *st;
    int ok = cfg != NULL && cfg->listen != NULL && cfg->listen_count != 0;
    size_t i;
    int rc;

    for (i = 0; ok && i < cfg->listen_count; i++) {
        ok = cfg->listen[i] != NULL;
    }
    rc = tl_svc_new(out, ok, &echo_ops, sizeof *st, &s);
    if (rc != TL_OK) {
        return rc;
    }
    st = s->state;
    st->listen = calloc(cfg->listen_count, sizeof *st->listen);
    st->channels = calloc(cfg->listen_count, sizeof *st->channels);
    st->ready = calloc(cfg->listen_count, sizeof *st->ready);
    if (st->listen == NULL || st->channels == NULL || st->ready == NULL) {
        echo_destroy(s);
        return TL_E_NOMEM;
    }
    st->listen_count = cfg->listen_count;
    for (i = 0; i < cfg->listen_count; i++) {
        st->listen[i] = tl_svc_strdup(cfg->listen[i]);
        if (st->listen[i] == NULL) {
            echo_destroy(s);
            return TL_E_NOMEM;
        }
    }
    st->budget = cfg->budget;
    st->mode = cfg->mode;
    st->stats.budget_left = cfg->budget;
    st->on_listening = cfg->on_listening;
    st->ctx = cfg->ctx;
    *out = s;
    return TL_OK;
}

void tl_echo_stats_get(const tl_service *s, tl_echo_stats *out)
{
    const echo_state *st = s->state;

    *out = st->stats;
}
