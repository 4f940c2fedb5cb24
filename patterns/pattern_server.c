/*
 * The pattern server (PROTOCOL.md section 10); see pattern_server.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern_server.h"

#define PS_TIMER_DELAYED 1u

typedef struct {
    uint16_t channel;
    uint64_t next_own_id; /* bidir: the server's next request id */
    int reconnecting;     /* its Hello carried x-reconnect: the client counts once it says Bye */
} ps_channel;

typedef struct {
    uint16_t channel;
    uint64_t id;
    uint64_t frames;
    uint64_t bytes;
    uint32_t fnv;
} ps_stream;

typedef struct {
    uint64_t due;
    tl_message *m;
} ps_held;

typedef struct {
    tl_pattern_server_config cfg;
    char *listen;
    uint16_t listener;
    int listening;
    ps_channel *chans;
    size_t nchans, capchans;
    ps_stream *streams;
    size_t nstreams, capstreams;
    ps_held *held;
    size_t nheld, capheld;
    uint64_t seen_clients; /* clients counted for `clients`: Hellos, rejected ones included;
                              a reconnecting client at its ByeRequest */
    tl_pattern_server_stats stats;
    tl_svc_report rep;
} ps_state;

uint32_t tl_pattern_fnv(uint32_t h, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= data[i];
        h *= 16777619u;
    }
    return h;
}

void tl_pattern_fill(uint8_t *out, size_t len, uint64_t id, uint64_t part)
{
    for (size_t i = 0; i < len; i++) {
        out[i] = (uint8_t)(id * 131u + part * 31u + i * 7u + (i >> 8));
    }
}

int tl_pattern_header(const tl_message *m, const char *name, char *out, size_t cap)
{
    tl_text_iter it;
    tl_text_field f;
    size_t n = strlen(name);

    tl_text_iter_init(&it, m->text.data, m->text.len);
    while (tl_text_iter_next(&it, &f)) {
        if (f.name_len == n && memcmp(f.name, name, n) == 0) {
            if (f.value_len + 1 > cap) {
                return -1;
            }
            memcpy(out, f.value, f.value_len);
            out[f.value_len] = '\0';
            return (int)f.value_len;
        }
    }
    return -1;
}

static ps_channel *find_channel(ps_state *st, uint16_t ch)
{
    for (size_t i = 0; i < st->nchans; i++) {
        if (st->chans[i].channel == ch) {
            return &st->chans[i];
        }
    }
    return NULL;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    void *p;
    size_t ncap;

    if (need <= *cap) {
        return 0;
    }
    ncap = *cap ? *cap * 2 : 8;
    while (ncap < need) {
        ncap *= 2;
    }
    p = realloc(*arr, ncap * elem);
    if (p == NULL) {
        return -1;
    }
    *arr = p;
    *cap = ncap;
    return 0;
}

static ps_channel *add_channel(ps_state *st, const tl_svc_env *env, uint16_t ch)
{
    ps_channel *c = find_channel(st, ch);

    if (c != NULL) {
        return c;
    }
    if (grow((void **)&st->chans, &st->capchans, st->nchans + 1, sizeof *st->chans) != 0) {
        tl_svc_report_error(&st->rep, env, "out of memory tracking channel %u", (unsigned)ch);
        return NULL;
    }
    c = &st->chans[st->nchans++];
    memset(c, 0, sizeof *c);
    c->channel = ch;
    c->next_own_id = 1;
    st->stats.open = st->nchans;
    if (st->nchans > st->stats.open_max) {
        st->stats.open_max = st->nchans;
    }
    return c;
}

/* channel_closed: forget the channel, its streams and its held answers. */
static void drop_channel(ps_state *st, const tl_svc_env *env, uint16_t ch)
{
    size_t i, j;

    for (i = 0; i < st->nchans; i++) {
        if (st->chans[i].channel == ch) {
            st->chans[i] = st->chans[--st->nchans];
            st->rep.closed++;
            break;
        }
    }
    st->stats.open = st->nchans;
    for (i = 0, j = 0; i < st->nstreams; i++) {
        if (st->streams[i].channel != ch) {
            st->streams[j++] = st->streams[i];
        }
    }
    st->nstreams = j;
    for (i = 0, j = 0; i < st->nheld; i++) {
        if (st->held[i].m->hdr.channel == ch) {
            st->rep.failed++;
            env->put(env->host, &st->held[i].m);
        } else {
            st->held[j++] = st->held[i];
        }
    }
    st->nheld = j;
}

/* Post m; TL_OK, or the refusal counted (channel gone) / recorded. */
static int ps_post(ps_state *st, const tl_svc_env *env, tl_message **m, const char *what)
{
    tl_post_out out;
    uint16_t ch = (*m)->hdr.channel;
    uint64_t id = (*m)->hdr.message_id;
    int rc;

    memset(&out, 0, sizeof out);
    rc = env->post(env->host, m, &out);
    if (rc == TL_OK) {
        st->rep.sent++;
        return TL_OK;
    }
    env->put(env->host, m);
    if (rc == TL_E_REJECTED && out.status == TL_STATUS_INVALID_CHANNEL_NUMBER) {
        /* The client went away between its request and our answer (A6). */
        st->rep.failed++;
        tl_svc_logf(env, "channel %u: %s id %llu dropped: channel closed", (unsigned)ch, what,
                    (unsigned long long)id);
        return rc;
    }
    tl_svc_report_error(&st->rep, env, "channel %u: %s id %llu refused: %s", (unsigned)ch, what,
                        (unsigned long long)id, tl_strerror(rc));
    return rc;
}

static int new_message(ps_state *st, const tl_svc_env *env, tl_message **m, uint16_t ch, unsigned op,
                       int more, uint64_t id)
{
    int rc = env->get(env->host, TL_GET_ALWAYS, m);

    if (rc != TL_OK) {
        tl_svc_report_error(&st->rep, env, "no message: %s", tl_strerror(rc));
        return rc;
    }
    (*m)->hdr.channel = ch;
    (*m)->hdr.proto = tl_proto_make(op, 0, more, 0, 0);
    (*m)->hdr.message_id = id;
    return TL_OK;
}

static int ps_start(tl_service *s, const tl_svc_env *env)
{
    ps_state *st = s->state;
    tl_message *m = NULL;
    tl_post_out out;
    int rc = env->get(env->host, TL_GET_ALWAYS, &m);

    if (rc != TL_OK) {
        tl_svc_report_error(&st->rep, env, "cannot listen on %s: %s", st->listen, tl_strerror(rc));
        return rc;
    }
    rc = tl_msg_set_address(m, TL_OP_WELCOME_REQUEST, st->listen);
    if (rc == TL_OK) {
        memset(&out, 0, sizeof out);
        rc = env->post(env->host, &m, &out);
    }
    if (rc != TL_OK) {
        env->put(env->host, &m);
        tl_svc_report_error(&st->rep, env, "cannot listen on %s: %s", st->listen, tl_strerror(rc));
        return rc;
    }
    st->listener = out.hdr.channel;
    return 0;
}

static void arm_held_timer(ps_state *st, const tl_svc_env *env)
{
    uint64_t now = env->now(env->host), due = UINT64_MAX;

    for (size_t i = 0; i < st->nheld; i++) {
        if (st->held[i].due < due) {
            due = st->held[i].due;
        }
    }
    if (due == UINT64_MAX) {
        env->cancel_timer(env->host, PS_TIMER_DELAYED);
    } else {
        env->set_timer(env->host, due > now ? due - now : 0, PS_TIMER_DELAYED);
    }
}

/* Echo answer: the request becomes its Response, text headers emptied. */
static void answer_echo(ps_state *st, const tl_svc_env *env, tl_message **msg)
{
    tl_message *m = *msg;

    m->hdr.proto = tl_proto_make(TL_OP_RESPONSE, 0, 0, 0, 0);
    m->text.len = 0;
    if (st->cfg.odd_delay_ns != 0 && (m->hdr.message_id & 1u) != 0) {
        if (grow((void **)&st->held, &st->capheld, st->nheld + 1, sizeof *st->held) == 0) {
            st->held[st->nheld].due = env->now(env->host) + st->cfg.odd_delay_ns;
            st->held[st->nheld].m = m;
            st->nheld++;
            *msg = NULL;
            st->stats.delayed++;
            arm_held_timer(st, env);
            return;
        }
    }
    if (ps_post(st, env, msg, "Response") == TL_OK) {
        st->rep.answered++;
    }
}

static ps_stream *find_stream(ps_state *st, uint16_t ch, uint64_t id)
{
    for (size_t i = 0; i < st->nstreams; i++) {
        if (st->streams[i].channel == ch && st->streams[i].id == id) {
            return &st->streams[i];
        }
    }
    return NULL;
}

static void on_stream_in(ps_state *st, const tl_svc_env *env, tl_message **msg)
{
    tl_message *m = *msg;
    ps_stream *sm = find_stream(st, m->hdr.channel, m->hdr.message_id);
    ps_stream done;
    char want[32], body[80];
    int n;

    if (sm == NULL) {
        if (grow((void **)&st->streams, &st->capstreams, st->nstreams + 1, sizeof *st->streams) != 0) {
            tl_svc_report_error(&st->rep, env, "out of memory for a stream");
            return;
        }
        sm = &st->streams[st->nstreams++];
        sm->channel = m->hdr.channel;
        sm->id = m->hdr.message_id;
        sm->frames = 0;
        sm->bytes = 0;
        sm->fnv = TL_PATTERN_FNV_INIT;
    }
    sm->frames++;
    sm->bytes += m->body.len;
    sm->fnv = tl_pattern_fnv(sm->fnv, m->body.data, m->body.len);
    st->rep.signals++;
    if (tl_proto_more(m->hdr.proto)) {
        return;
    }
    done = *sm;
    *sm = st->streams[--st->nstreams];
    n = snprintf(body, sizeof body, "frames=%llu bytes=%llu fnv=%08x", (unsigned long long)done.frames,
                 (unsigned long long)done.bytes, (unsigned)done.fnv);
    if (tl_pattern_header(m, TL_PATTERN_CHECKSUM, want, sizeof want) >= 0) {
        char got[16];
        snprintf(got, sizeof got, "%08x", (unsigned)done.fnv);
        if (strcmp(got, want) != 0) {
            tl_svc_report_error(&st->rep, env, "channel %u: stream id %llu: checksum %s, the client says %s",
                                (unsigned)m->hdr.channel, (unsigned long long)done.id, got, want);
        }
    }
    m->hdr.proto = tl_proto_make(TL_OP_RESPONSE, 0, 0, 0, 0);
    m->text.len = 0;
    if (tl_msg_body_set(m, body, (size_t)n) != TL_OK) {
        tl_svc_report_error(&st->rep, env, "cannot build the stream answer");
        return;
    }
    if (ps_post(st, env, msg, "Response") == TL_OK) {
        st->rep.answered++;
    }
}

static void on_stream_out(ps_state *st, const tl_svc_env *env, const tl_message *req, uint64_t n)
{
    uint32_t fnv = TL_PATTERN_FNV_INIT;
    uint8_t body[64];

    if (n == 0) {
        n = 1;
    }
    for (uint64_t i = 0; i < n; i++) {
        tl_message *m = NULL;
        char sum[16];

        if (new_message(st, env, &m, req->hdr.channel, TL_OP_RESPONSE, i + 1 < n, req->hdr.message_id) !=
            TL_OK) {
            return;
        }
        body[0] = (uint8_t)(i >> 24);
        body[1] = (uint8_t)(i >> 16);
        body[2] = (uint8_t)(i >> 8);
        body[3] = (uint8_t)i;
        tl_pattern_fill(body + 4, sizeof body - 4, req->hdr.message_id, i);
        fnv = tl_pattern_fnv(fnv, body, sizeof body);
        if (tl_msg_body_set(m, body, sizeof body) != TL_OK) {
            env->put(env->host, &m);
            tl_svc_report_error(&st->rep, env, "cannot build a stream frame");
            return;
        }
        if (i + 1 == n) {
            snprintf(sum, sizeof sum, "%08x", (unsigned)fnv);
            if (tl_msg_add_header(m, TL_PATTERN_CHECKSUM, sum) != TL_OK) {
                env->put(env->host, &m);
                tl_svc_report_error(&st->rep, env, "cannot build the stream checksum");
                return;
            }
        }
        if (ps_post(st, env, &m, "stream Response") != TL_OK) {
            return;
        }
    }
    st->rep.answered++;
}

static void on_progress(ps_state *st, const tl_svc_env *env, tl_message **msg, uint64_t k)
{
    tl_message *req = *msg;

    for (uint64_t i = 0; i < k; i++) {
        tl_message *m = NULL;
        uint8_t pct = (uint8_t)((i + 1) * 99u / k);

        if (new_message(st, env, &m, req->hdr.channel, TL_OP_SIGNAL, 0, req->hdr.message_id) != TL_OK) {
            return;
        }
        if (tl_msg_body_set(m, &pct, 1) != TL_OK) {
            env->put(env->host, &m);
            return;
        }
        if (ps_post(st, env, &m, "progress Signal") != TL_OK) {
            return;
        }
    }
    req->hdr.proto = tl_proto_make(TL_OP_RESPONSE, 0, 0, 0, 0);
    req->text.len = 0;
    if (tl_msg_body_set(req, "done", 4) == TL_OK && ps_post(st, env, msg, "Response") == TL_OK) {
        st->rep.answered++;
    }
}

static void on_bidir(ps_state *st, const tl_svc_env *env, tl_message **msg)
{
    uint16_t ch = (*msg)->hdr.channel;
    ps_channel *c = find_channel(st, ch);
    tl_message *m = NULL;
    uint8_t body[8];

    answer_echo(st, env, msg);
    if (c == NULL) {
        return;
    }
    if (new_message(st, env, &m, ch, TL_OP_REQUEST, 0, c->next_own_id) != TL_OK) {
        return;
    }
    tl_pattern_fill(body, sizeof body, c->next_own_id, 0xb1d);
    if (tl_msg_body_set(m, body, sizeof body) != TL_OK) {
        env->put(env->host, &m);
        return;
    }
    if (ps_post(st, env, &m, "server Request") == TL_OK) {
        c->next_own_id++;
        st->stats.own_requests++;
    }
}

/* A Response from the client: the answer to one of our bidir requests. */
static void on_client_response(ps_state *st, const tl_svc_env *env, const tl_message *m)
{
    ps_channel *c = find_channel(st, m->hdr.channel);
    uint8_t body[8];

    if (c == NULL || m->hdr.message_id == 0 || m->hdr.message_id >= c->next_own_id) {
        tl_svc_report_error(&st->rep, env, "channel %u: Response id %llu answers nothing we asked",
                            (unsigned)m->hdr.channel, (unsigned long long)m->hdr.message_id);
        return;
    }
    tl_pattern_fill(body, sizeof body, m->hdr.message_id, 0xb1d);
    if (m->body.len != sizeof body || memcmp(m->body.data, body, sizeof body) != 0) {
        tl_svc_report_error(&st->rep, env, "channel %u: client's Response id %llu has the wrong body",
                            (unsigned)m->hdr.channel, (unsigned long long)m->hdr.message_id);
        return;
    }
    st->stats.own_answered++;
}

static void on_request(ps_state *st, const tl_svc_env *env, tl_message **msg)
{
    tl_message *m = *msg;
    char pat[64];
    unsigned long long n;

    st->rep.bytes += m->body.len;
    if (tl_pattern_header(m, TL_PATTERN_HEADER, pat, sizeof pat) < 0 || strcmp(pat, "echo") == 0) {
        answer_echo(st, env, msg);
    } else if (strcmp(pat, "stream-in") == 0) {
        on_stream_in(st, env, msg);
    } else if (tl_proto_more(m->hdr.proto)) {
        tl_svc_report_error(&st->rep, env, "channel %u: more = 1 on a %s request", (unsigned)m->hdr.channel,
                            pat);
    } else if (sscanf(pat, "stream-out:%llu", &n) == 1) {
        on_stream_out(st, env, m, n);
    } else if (sscanf(pat, "progress:%llu", &n) == 1) {
        on_progress(st, env, msg, n);
    } else if (strcmp(pat, "bidir") == 0) {
        on_bidir(st, env, msg);
    } else {
        tl_svc_report_error(&st->rep, env, "channel %u: unknown pattern '%s'", (unsigned)m->hdr.channel, pat);
    }
}

static int finished(ps_state *st, const tl_svc_env *env)
{
    if (st->cfg.clients != 0 && st->seen_clients >= st->cfg.clients && st->nchans == 0) {
        tl_svc_logf(env, "%llu clients came and went, no channel left: finishing",
                    (unsigned long long)st->seen_clients);
        return 1;
    }
    return 0;
}

static int on_hello(ps_state *st, const tl_svc_env *env, tl_message **msg)
{
    tl_message *m = *msg;
    ps_channel *c;
    char why[64], again[24];
    int reconnecting = tl_pattern_header(m, TL_PATTERN_RECONNECT, again, sizeof again) >= 0;

    if (tl_pattern_header(m, TL_PATTERN_REJECT, why, sizeof why) >= 0) {
        st->seen_clients++;
        /* Reject: local abort, no frame (section 10, Abort / reject). */
        st->stats.rejected++;
        m->hdr.proto = tl_proto_make(TL_OP_BYE_SIGNAL, 0, 0, 1, 0);
        m->text.len = 0;
        m->body.len = 0;
        tl_svc_logf(env, "channel %u: rejected (%s)", (unsigned)m->hdr.channel, why);
        if (add_channel(st, env, m->hdr.channel) == NULL) {
            return 0;
        }
        (void)ps_post(st, env, msg, "ByeSignal");
        return 0;
    }
    c = add_channel(st, env, m->hdr.channel);
    if (c == NULL) {
        return 0;
    }
    st->stats.hellos++;
    if (reconnecting) {
        /* A channel of a client that reconnects may die and the client come
         * back on another: it counts as gone only when it says Bye. */
        c->reconnecting = 1;
        if (strcmp(again, "0") != 0) {
            st->stats.hellos_again++;
        }
    } else {
        st->seen_clients++;
    }
    tl_msg_set_opcode(m, TL_OP_HELLO_RESPONSE);
    (void)ps_post(st, env, msg, "HelloResponse");
    return 0;
}

static int ps_on_message(tl_service *s, const tl_svc_env *env, tl_message **msg)
{
    ps_state *st = s->state;
    tl_message *m = *msg;
    unsigned op = tl_proto_opcode(m->hdr.proto);

    if (m->hdr.channel == st->listener && st->listener != TL_CHANNEL_NONE) {
        if (op == TL_OP_WELCOME_RESPONSE && m->hdr.status == TL_STATUS_SUCCESS && !st->listening) {
            st->listening = 1;
            tl_svc_logf(env, "listening on %s", st->listen);
            return 0;
        }
        tl_svc_report_error(&st->rep, env, "listener %s: %s (%u)", st->listen, tl_status_name(m->hdr.status),
                            (unsigned)m->hdr.status);
        return 1;
    }
    if (tl_proto_origin_engine(m->hdr.proto)) {
        if (m->hdr.status == TL_STATUS_POOL_EMPTY) {
            tl_message *extra = NULL;
            if (env->get(env->host, TL_GET_ALWAYS, &extra) == TL_OK) {
                env->put(env->host, &extra);
            }
        } else if (op == TL_OP_SIGNAL && m->hdr.status == TL_STATUS_CHANNEL_CLOSED) {
            if (find_channel(st, m->hdr.channel) != NULL) {
                drop_channel(st, env, m->hdr.channel);
            }
            arm_held_timer(st, env);
            return finished(st, env);
        } else if (op != TL_OP_BYE_SIGNAL) {
            st->rep.failed++; /* one of our messages returned unsent */
        }
        return 0;
    }
    switch (op) {
    case TL_OP_HELLO_REQUEST: return on_hello(st, env, msg);
    case TL_OP_BYE_REQUEST: {
        ps_channel *c = find_channel(st, m->hdr.channel);

        if (c != NULL && c->reconnecting == 1) {
            c->reconnecting = 2; /* counted once */
            st->seen_clients++;
        }
        st->stats.byes++;
        tl_msg_set_opcode(m, TL_OP_BYE_RESPONSE);
        (void)ps_post(st, env, msg, "ByeResponse");
        return 0;
    }
    case TL_OP_REQUEST: on_request(st, env, msg); return 0;
    case TL_OP_RESPONSE: on_client_response(st, env, m); return 0;
    case TL_OP_SIGNAL:
    case TL_OP_BYE_SIGNAL: return 0;
    default:
        tl_svc_report_error(&st->rep, env, "channel %u: unexpected %s", (unsigned)m->hdr.channel,
                            tl_opcode_name(op) ? tl_opcode_name(op) : "op code");
        return 0;
    }
}

static void ps_on_timer(tl_service *s, const tl_svc_env *env, uint64_t token)
{
    ps_state *st = s->state;
    uint64_t now = env->now(env->host);
    size_t i = 0;

    if (token != PS_TIMER_DELAYED) {
        return;
    }
    /* In the order they were held (FIFO among the due ones). */
    while (i < st->nheld) {
        if (st->held[i].due <= now) {
            tl_message *m = st->held[i].m;
            memmove(&st->held[i], &st->held[i + 1], (st->nheld - i - 1) * sizeof *st->held);
            st->nheld--;
            if (ps_post(st, env, &m, "delayed Response") == TL_OK) {
                st->rep.answered++;
            }
        } else {
            i++;
        }
    }
    arm_held_timer(st, env);
}

static void ps_report(const tl_service *s, tl_svc_report *out)
{
    const ps_state *st = s->state;

    *out = st->rep;
}

static void ps_destroy(tl_service *s)
{
    ps_state *st = s != NULL ? s->state : NULL;

    if (st != NULL) {
        for (size_t i = 0; i < st->nheld; i++) {
            tl_msg_free(st->held[i].m);
        }
        free(st->held);
        free(st->chans);
        free(st->streams);
        free(st->listen);
    }
    tl_svc_free(s);
}

static const tl_service_ops ps_ops = {
    "pattern-server", ps_start, ps_on_message, ps_on_timer, ps_report, ps_destroy,
};

int tl_pattern_server_create(const tl_pattern_server_config *cfg, tl_service **out)
{
    tl_service *s;
    ps_state *st;
    int rc = tl_svc_new(out, cfg != NULL && cfg->listen != NULL, &ps_ops, sizeof *st, &s);

    if (rc != TL_OK) {
        return rc;
    }
    st = s->state;
    st->cfg = *cfg;
    st->listen = tl_svc_strdup(cfg->listen);
    if (st->listen == NULL) {
        ps_destroy(s);
        return TL_E_NOMEM;
    }
    st->cfg.listen = st->listen;
    *out = s;
    return TL_OK;
}

void tl_pattern_server_stats_get(const tl_service *s, tl_pattern_server_stats *out)
{
    const ps_state *st = s->state;

    *out = st->stats;
}
