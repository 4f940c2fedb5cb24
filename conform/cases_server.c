/*
 * Conformance cases, server role: the peer runs tofu's EchoService
 * (PROTOCOL.md section 7). Each case opens its own connection(s).
 *
 * Case ids are tofu/<PROTOCOL.md section>/<n>. The table at the end gives each
 * case its title, the rule it checks and its flags; the runner runs safe cases
 * first, then the budget-heavy one, then the destructive probes.
 *
 * Budget: tofu's EchoService stops after 1100 regular/welcome echoes (A19).
 * The non-destructive cases together send fewer than 100 such frames, so that
 * with the 1000-frame pipelining case the suite stays within it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"
#include "case.h"
#include "echo.h"
#include "net.h"
#include "util.h"

#define CC          0x1a2bu /* our client channel number, as in the golden vectors */
#define TOFU_BUDGET 1100u

/* ---- building messages ---- */

static tlc_msg msg(unsigned proto, uint8_t status, uint64_t id, const void *text, size_t text_len,
                   const void *body, size_t body_len)
{
    tlc_msg m;

    memset(&m, 0, sizeof m);
    m.h.channel = CC;
    m.h.proto = (uint8_t)proto;
    m.h.status = status;
    m.h.message_id = id;
    m.text = text;
    m.text_len = text_len;
    m.body = body;
    m.body_len = body_len;
    return m;
}

#define STR(s) (const uint8_t *)(s), (sizeof(s) - 1)

/* "~connect_to:<peer address>\r\n" */
static size_t connect_to(const tlc_case *c, uint8_t *buf, size_t cap)
{
    size_t len = 0;

    if (tl_address_append_header(buf, cap, &len, TL_OP_HELLO_REQUEST, &c->run->opt.peer) != TL_OK) {
        len = 0;
    }
    return len;
}

typedef struct {
    uint8_t text[TL_ADDR_TEXT_MAX + 16];
    uint8_t body[TL_HEADER_SIZE];
    tlc_msg m;
} hello_buf;

/* EchoClient's HelloRequest (V19): ~connect_to header, body = header copy
 * taken before post (channel 0, proto 0x03, everything else 0). */
static tlc_msg *echoclient_hello(const tlc_case *c, hello_buf *hb, uint64_t id)
{
    size_t tl = connect_to(c, hb->text, sizeof hb->text);

    tl_conform_echo_body(hb->body, 0, TL_OP_HELLO_REQUEST, 0);
    hb->m = msg(TL_OP_HELLO_REQUEST, 0, id, hb->text, tl, hb->body, sizeof hb->body);
    return &hb->m;
}

/* ---- connections with the usual HelloRequest first ---- */

/* Connect and send EchoClient's HelloRequest. With check, the HelloResponse
 * is checked as an echo; otherwise it is only awaited: a case that inspects
 * replies needs it to be a whole frame (else FAILED, and there is no point in
 * going on), any other case takes whatever comes (bytes that are not a whole
 * frame are discarded, so a probe is not judged on them). NULL if the
 * connection could not be set up (a FAILED finding). */
static tlc_conn *open_hello(tlc_case *c, int check)
{
    tlc_conn *k = tlc_open(c, 1);
    hello_buf hb;
    tlc_msg *m;
    tlc_frame f;
    int r;

    if (k == NULL) {
        return NULL;
    }
    m = echoclient_hello(c, &hb, 1);
    if (tlc_send_msg(k, m, "HelloRequest") != 0) {
        tlc_fail(c, "could not send the HelloRequest (the peer closed the connection)");
        tlc_close(k, 1);
        return NULL;
    }
    if (check) {
        (void)tlc_expect_echo(c, k, m, "HelloResponse");
        return k;
    }
    r = tlc_recv(k, tlc_deadline(c), &f);
    if (r == TLC_RX_TIMEOUT && k->rx_len == 0) {
        tlc_note(c, "setup: no HelloResponse within %u ms", c->run->timeout_ms);
        return k;
    }
    if (r == TLC_RX_FRAME) {
        if (tl_proto_opcode(f.h.proto) != TL_OP_HELLO_RESPONSE) {
            tlc_note(c, "setup: the HelloRequest was answered with op code %u", tl_proto_opcode(f.h.proto));
        }
        tlc_frame_free(&f);
    } else if (r == TLC_RX_CLOSED) {
        tlc_fail(c, "the peer closed the connection after our HelloRequest");
        tlc_close(k, 1);
        return NULL;
    } else if (c->flags & TL_CONFORM_CHECKS_REPLY) {
        tlc_sb why = {0};

        tlc_describe_pending(k, &why);
        tlc_fail(c, "setup: no whole frame answered the HelloRequest within %u ms: %s", c->run->timeout_ms,
                 why.s != NULL ? why.s : "");
        tlc_sb_free(&why);
        tlc_close(k, 1);
        return NULL;
    } else {
        tlc_note(c, "setup: the answer to the HelloRequest is not a whole frame; discarded");
        tlc_discard(k);
    }
    return k;
}

/* Send msgs in one run of bytes (split as given), then expect their echoes
 * in order (frames EchoService does not answer are skipped). Stops at the
 * first bad or missing echo. Returns the number of good echoes. */
static size_t send_expect(tlc_case *c, tlc_conn *k, tlc_msg *msgs, size_t n, const tlc_split *split,
                          const char *what)
{
    tlc_out o = {0};
    size_t i, good = 0;

    for (i = 0; i < n; i++) {
        tlc_out_add(&o, &msgs[i]);
    }
    if (tlc_send_out(k, &o, split, what) != 0) {
        tlc_fail(c, "could not send %s: the peer closed the connection or stopped reading", what);
        tlc_out_free(&o);
        return 0;
    }
    tlc_out_free(&o);
    for (i = 0; i < n; i++) {
        char label[96];
        unsigned op = tl_proto_opcode(msgs[i].h.proto);

        if (tlc_echo_opcode(op) < 0) {
            continue;
        }
        snprintf(label, sizeof label, "reply to %s #%zu (id %llu)",
                 tl_opcode_name(op) ? tl_opcode_name(op) : "?", i + 1,
                 (unsigned long long)msgs[i].h.message_id);
        if (!tlc_expect_echo(c, k, &msgs[i], label)) {
            if (n > 1) {
                tlc_note(c, "later replies not checked");
            }
            break;
        }
        good++;
    }
    return good;
}

/* The common shape: HelloRequest, then one message and its echo. */
static void one_echo(tlc_case *c, tlc_msg *m, const char *what)
{
    tlc_conn *k = open_hello(c, 0);

    if (k == NULL) {
        return;
    }
    (void)send_expect(c, k, m, 1, NULL, what);
    tlc_close(k, 1);
}

/* Nothing more arrives on k within the quiet window. */
static void expect_silence(tlc_case *c, tlc_conn *k, const char *after, const char *rule)
{
    tlc_frame f;
    int r;

    if (!tlc_wait_quiet(k, tlc_quiet_deadline(c))) {
        return;
    }
    if (k->closed) {
        return;
    }
    r = tlc_recv(k, tlc_quiet_deadline(c), &f);
    if (r == TLC_RX_FRAME) {
        tlc_fail(c, "a %s frame (id %llu) arrived after %s; %s",
                 tl_opcode_name(tl_proto_opcode(f.h.proto)) ? tl_opcode_name(tl_proto_opcode(f.h.proto))
                                                            : "undefined",
                 (unsigned long long)f.h.message_id, after, rule);
        tlc_frame_free(&f);
    } else if (k->rx_len > 0) {
        tlc_fail(c, "%zu unexpected bytes arrived after %s; %s", k->rx_len, after, rule);
    }
}

/* ---- probes ---- */

typedef struct {
    size_t frames;
    int have_first;
    tlc_frame first;
    int closed;
} probe_obs;

/* Collect what comes back within the quiet window (or until the peer closes). */
static void observe(tlc_case *c, tlc_conn *k, probe_obs *o, uint64_t deadline)
{
    memset(o, 0, sizeof *o);
    for (;;) {
        tlc_frame f;
        int r = tlc_recv(k, deadline, &f);

        if (r == TLC_RX_FRAME) {
            if (!o->have_first) {
                o->first = f;
                o->have_first = 1;
            } else {
                tlc_frame_free(&f);
            }
            o->frames++;
            continue;
        }
        o->closed = (r == TLC_RX_CLOSED);
        break;
    }
    if (o->frames == 0 && !o->closed) {
        tlc_note(c, "nothing came back within %u ms", c->run->quiet_ms);
    } else {
        tlc_note(c, "%zu frame%s came back%s%s", o->frames, o->frames == 1 ? "" : "s",
                 o->closed ? "; the peer closed the connection" : "",
                 o->closed && k->closed == TLC_CLOSED_RESET ? " (reset)" : "");
    }
}

static void observe_free(probe_obs *o)
{
    if (o->have_first) {
        tlc_frame_free(&o->first);
    }
    memset(o, 0, sizeof *o);
}

/* Who is known to stop on a probe. */
#define MUST_SURVIVE 0 /* tofu survives it: a dead peer FAILED */
#define TOFU_STOPS   1 /* tofu stops or crashes, the reference server survives: NON-STRICT */
#define BOTH_STOP    2 /* tofu and the reference server both stop (a post failure, 7 step 7): INFORMATIONAL */

/* The follow-up connection decides. */
static void survival(tlc_case *c, int stops, const char *why)
{
    if (tlc_check_alive(c)) {
        tlc_note(c, "the peer survived (a follow-up connection is answered)");
        return;
    }
    if (stops == TOFU_STOPS) {
        tlc_nonstrict(c,
                      "the peer stopped answering; tofu's echo server stops too (%s); the reference server "
                      "survives",
                      why);
    } else if (stops == BOTH_STOP) {
        tlc_inform(
            c,
            "the peer stopped answering, as tofu's echo server does (%s) and the reference server, which "
            "follows it here",
            why);
    } else {
        tlc_fail(c, "the peer did not survive: a follow-up connection is not answered");
    }
}

/* Send raw bytes on a fresh connection (after a HelloRequest when hello),
 * observe, close with rst, and check survival. obs receives what came back
 * (may be NULL). */
static void probe_bytes(tlc_case *c, int hello, const uint8_t *bytes, size_t len, const char *what, int rst,
                        int tofu_stops, const char *why, probe_obs *obs)
{
    tlc_conn *k = hello ? open_hello(c, 0) : tlc_open(c, 1);
    probe_obs local;

    if (obs == NULL) {
        obs = &local;
    }
    memset(obs, 0, sizeof *obs);
    if (k == NULL) {
        return;
    }
    if (tlc_send(k, bytes, len, NULL, what) != 0) {
        tlc_note(c, "the peer closed the connection while we sent");
    }
    observe(c, k, obs, tlc_quiet_deadline(c));
    tlc_close(k, rst);
    survival(c, tofu_stops, why);
    if (obs == &local) {
        observe_free(&local);
    }
}

static void probe_msg(tlc_case *c, tlc_msg *m, int tofu_stops, const char *why, probe_obs *obs)
{
    tlc_out o = {0};

    tlc_out_add(&o, m);
    c->run->regular_sent += o.regular;
    probe_bytes(c, 1, o.bytes.p, o.bytes.len, "probe", 1, tofu_stops, why, obs);
    tlc_out_free(&o);
}

/* ================= section 1: the frame on the wire ================= */

static void case_one_frame_one_write(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, 0, 42, NULL, 0, STR("hello")); /* V04 */

    one_echo(c, &m, "Request (V04)");
}

static void case_ten_frames_one_write(tlc_case *c)
{
    tlc_msg m[10];
    char bodies[10][16];
    tlc_conn *k = open_hello(c, 0);
    size_t i;

    if (k == NULL) {
        return;
    }
    for (i = 0; i < 10; i++) {
        int n = snprintf(bodies[i], sizeof bodies[i], "frame-%zu", i + 1);
        m[i] = msg(TL_OP_REQUEST, 0, 101 + i, NULL, 0, bodies[i], (size_t)n);
    }
    if (send_expect(c, k, m, 10, NULL, "10 Requests") == 10) {
        tlc_note(c, "10 of 10 echoes in order");
    }
    tlc_close(k, 1);
}

static void case_byte_by_byte(tlc_case *c)
{
    tlc_conn *k = tlc_open(c, 1);
    hello_buf hb;
    tlc_msg m[3];
    tlc_split split = {TLC_SPLIT_BYTES, 0, NULL, 0, 0};

    if (k == NULL) {
        return;
    }
    m[0] = *echoclient_hello(c, &hb, 5);
    m[1] = msg(TL_OP_REQUEST, 0, 0x0102030405060708ull,
               STR("Content-Type:application/json\r\nJob-ID:12345\r\n"), STR("{\"a\":1}")); /* V12 */
    m[2] = msg(TL_OP_SIGNAL, 0, 9, NULL, 0, STR("2"));
    if (send_expect(c, k, m, 3, &split, "HelloRequest, Request, Signal") == 3) {
        tlc_note(c, "3 of 3 echoes after a byte-by-byte send");
    }
    tlc_close(k, 1);
}

static void case_random_split(tlc_case *c)
{
    enum { N = 6 };
    tlc_conn *k = open_hello(c, 0);
    tlc_msg m[N];
    uint8_t text[N][320];
    uint8_t body[N][300];
    uint64_t rng = 0x5eed;
    tlc_split split = {TLC_SPLIT_RANDOM, 7, NULL, 0, 0};
    size_t i;

    if (k == NULL) {
        return;
    }
    for (i = 0; i < N; i++) {
        size_t tl = 0, bl = (size_t)(tlc_rand(&rng) % 300u), j;
        size_t lines = (size_t)(tlc_rand(&rng) % 5u);

        for (j = 0; j < lines; j++) {
            char v[64];
            int n = snprintf(v, sizeof v, "v%llu", (unsigned long long)(tlc_rand(&rng) % 100000u));
            char name[16];
            int nn = snprintf(name, sizeof name, "h%zu", j);

            tl_text_append(text[i], sizeof text[i], &tl, name, (size_t)nn, v, (size_t)n);
        }
        for (j = 0; j < bl; j++) {
            body[i][j] = (uint8_t)tlc_rand(&rng);
        }
        m[i] = msg((i % 3 == 2) ? TL_OP_SIGNAL : TL_OP_REQUEST, 0, 201 + i, text[i], tl, body[i], bl);
    }
    if (send_expect(c, k, m, N, &split, "6 frames") == N) {
        tlc_note(c, "6 of 6 echoes after a random split");
    }
    tlc_close(k, 1);
}

static void case_split_header_boundary(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    tlc_msg m = msg(TL_OP_REQUEST, 0, 77, STR("Job-ID:12345\r\n"), STR("payload"));
    size_t cuts[3];
    tlc_split split = {TLC_SPLIT_AT, 0, cuts, 3, 0};

    if (k == NULL) {
        return;
    }
    split.pause_us = c->run->quiet_ms * 1000u / 2u;
    cuts[0] = 5;                    /* inside the header */
    cuts[1] = TL_HEADER_SIZE;       /* header complete */
    cuts[2] = TL_HEADER_SIZE + 14u; /* text headers complete */
    (void)send_expect(c, k, &m, 1, &split, "Request in 4 writes (5, 11, 14, 7 bytes) with pauses");
    tlc_close(k, 1);
}

static void case_no_extra_bytes(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    tlc_msg m = msg(TL_OP_REQUEST, 0, 43, NULL, 0, STR("hello"));

    if (k == NULL) {
        return;
    }
    if (send_expect(c, k, &m, 1, NULL, "Request") == 1) {
        expect_silence(
            c, k, "the one reply",
            "frames are concatenated with nothing between them, and tofu never sends a frame by itself "
            "(1.1, 6.6)");
    }
    tlc_close(k, 1);
}

static void case_thousand_frames(tlc_case *c)
{
    enum { N = 1000 };
    tlc_conn *k = open_hello(c, 0);
    tlc_out o = {0};
    uint8_t(*bodies)[TL_HEADER_SIZE];
    tlc_msg *m;
    size_t i, got = 0;
    int checking = 1;
    uint64_t before = c->budget_before;

    if (k == NULL) {
        return;
    }
    bodies = calloc(N, sizeof *bodies);
    m = calloc(N, sizeof *m);
    if (bodies == NULL || m == NULL) {
        free(bodies);
        free(m);
        tlc_fail(c, "out of memory");
        tlc_close(k, 1);
        return;
    }
    for (i = 0; i < N; i++) {
        tl_conform_echo_body(bodies[i], CC, TL_OP_REQUEST, i + 1);
        m[i] = msg(TL_OP_REQUEST, 0, i + 1, NULL, 0, bodies[i], TL_HEADER_SIZE);
        tlc_out_add(&o, &m[i]);
    }
    if (tlc_send_out(k, &o, NULL, "1000 Requests (EchoClient shape, ids 1-1000)") != 0) {
        tlc_fail(c, "could not send the 1000 frames");
    } else {
        uint64_t cap = tlc_now_us() + 10u * (uint64_t)c->run->timeout_ms * 1000u; /* a trickling peer */

        for (i = 0; i < N; i++) {
            tlc_frame f;
            char label[48];
            uint64_t dl = tlc_deadline(c);

            if (tlc_recv(k, dl < cap ? dl : cap, &f) != TLC_RX_FRAME) {
                break;
            }
            got++;
            if (checking) {
                snprintf(label, sizeof label, "reply #%zu (id %zu)", i + 1, i + 1);
                if (!tlc_check_echo(c, k, &m[i].h, NULL, &f, label)) {
                    checking = 0;
                    tlc_note(c, "later replies counted, not checked");
                }
            }
            tlc_frame_free(&f);
        }
        if (got == N) {
            tlc_note(c, "1000 of 1000 replies");
        } else if (before + N > TOFU_BUDGET && got == (before < TOFU_BUDGET ? TOFU_BUDGET - before : 0) &&
                   k->closed) {
            tlc_nonstrict(
                c,
                "the peer answered %zu of 1000 and closed: exactly where tofu's EchoService budget of "
                "1100 echoes ran out (this run had sent %llu before); the reference server has no budget "
                "(A19)",
                got, (unsigned long long)before);
        } else {
            tlc_sb why = {0};

            tlc_describe_pending(k, &why);
            tlc_fail(c, "only %zu of 1000 replies arrived (%s%s)", got,
                     k->closed ? "the peer closed the connection; " : "", why.s != NULL ? why.s : "");
            tlc_sb_free(&why);
        }
    }
    tlc_out_free(&o);
    free(bodies);
    free(m);
    tlc_close(k, 1);
}

static void case_header_big_endian(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, 0, 0x0102030405060708ull, STR("k:v\r\n"), STR("xy"));

    one_echo(c, &m, "Request id 0x0102030405060708");
}

static void case_message_id_64bit(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, 0, 0xFEDCBA9876543210ull, NULL, 0, STR("id"));

    one_echo(c, &m, "Request id 0xfedcba9876543210");
}

static void case_channel_consistent(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 1);
    size_t i;

    if (k == NULL) {
        return;
    }
    for (i = 0; i < 3; i++) {
        tlc_msg m = msg(TL_OP_REQUEST, 0, 301 + i, NULL, 0, STR("ch"));

        if (send_expect(c, k, &m, 1, NULL, "Request") != 1) {
            break;
        }
    }
    if (tlc_clean(c) && k->have_channel) {
        tlc_note(c, "the peer's channel is 0x%04x on every reply", k->channel);
    }
    tlc_close(k, 1);
}

static void case_native_body(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, 0, 0x1122334455667788ull, STR("a:b\r\n"), STR("xyz"));

    one_echo(c, &m, "Request id 0x1122334455667788 thl 5 bl 3");
}

static void case_plain_proto(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, 0, 44, NULL, 0, STR("p"));

    one_echo(c, &m, "Request proto 0x00");
}

/* A forged engine notification, then an ordinary Request on the same
 * connection. */
static void forged_then_request(tlc_case *c, uint8_t status, uint64_t id)
{
    tlc_conn *k = open_hello(c, 0);
    tlc_msg forged = msg(TL_OP_REQUEST | TL_PROTO_ORIGIN, status, id, NULL, 0, STR("forged"));
    tlc_msg plain = msg(TL_OP_REQUEST, 0, id + 1, NULL, 0, STR("plain"));
    probe_obs obs;

    if (k == NULL) {
        return;
    }
    if (tlc_send_msg(k, &forged, "Request with the origin bit (engine)") != 0) {
        tlc_fail(c, "the peer closed the connection");
        tlc_close(k, 1);
        return;
    }
    observe(c, k, &obs, tlc_quiet_deadline(c));
    if (obs.have_first) {
        /* The reference engine clears origin on receipt (A7) and echoes. */
        if (tlc_check_echo(c, k, &forged.h, NULL, &obs.first, "reply to the forged frame")) {
            tlc_inform(c,
                       "the peer cleared the origin bit and echoed the frame (the reference engine's A7 "
                       "decision); tofu's EchoService treats it as an engine notification and sends nothing");
        }
    } else if (!obs.closed) {
        tlc_inform(c, "nothing came back: the peer treated the frame as an engine notification, as tofu's "
                      "EchoService does (section 7 step 2)");
    }
    if (obs.closed) {
        tlc_fail(c,
                 "the peer closed the connection because of the frame's content; 6.7: content never closes a "
                 "connection (A7 tears down only on op codes 10-15)");
    } else {
        (void)send_expect(c, k, &plain, 1, NULL, "Request after the forged frame");
    }
    observe_free(&obs);
    tlc_close(k, 1);
}

static void case_origin_pool_empty(tlc_case *c)
{
    forged_then_request(c, TL_STATUS_POOL_EMPTY, 402);
    survival(c, MUST_SURVIVE, NULL);
}

static void make_text(uint8_t *buf, size_t n)
{
    static const char head[] = "X-Fill:";
    size_t i;

    if (n == 1) {
        buf[0] = 'x';
        return;
    }
    for (i = 0; i < n; i++) {
        buf[i] = (uint8_t)('a' + (i % 26));
    }
    if (n >= sizeof head + 1) {
        memcpy(buf, head, sizeof head - 1);
        buf[n - 2] = '\r';
        buf[n - 1] = '\n';
    }
}

static void sized_case(tlc_case *c, size_t text_len, size_t body_len)
{
    uint8_t *text = text_len ? malloc(text_len) : NULL;
    uint8_t *body = body_len ? malloc(body_len) : NULL;
    char what[64];
    size_t i;
    tlc_msg m;

    if ((text_len && text == NULL) || (body_len && body == NULL)) {
        free(text);
        free(body);
        tlc_fail(c, "out of memory");
        return;
    }
    if (text_len) {
        make_text(text, text_len);
    }
    for (i = 0; i < body_len; i++) {
        body[i] = (uint8_t)(i * 7u + 1u);
    }
    m = msg(TL_OP_REQUEST, 0, 500 + text_len + body_len, text, text_len, body, body_len);
    snprintf(what, sizeof what, "Request thl %zu bl %zu", text_len, body_len);
    one_echo(c, &m, what);
    free(text);
    free(body);
}

static void case_empty(tlc_case *c) { sized_case(c, 0, 0); }
static void case_text_1(tlc_case *c) { sized_case(c, 1, 0); }
static void case_text_255(tlc_case *c) { sized_case(c, 255, 0); }
static void case_text_256(tlc_case *c) { sized_case(c, 256, 0); }
static void case_text_65535(tlc_case *c) { sized_case(c, 65535, 0); }
static void case_body_1(tlc_case *c) { sized_case(c, 0, 1); }
static void case_body_255(tlc_case *c) { sized_case(c, 0, 255); }
static void case_body_256(tlc_case *c) { sized_case(c, 0, 256); }
static void case_body_65535(tlc_case *c) { sized_case(c, 0, 65535); }
static void case_largest_frame(tlc_case *c) { sized_case(c, 65535, 65535); }

static void case_raw_text_bytes(tlc_case *c)
{
    uint8_t text[256];
    size_t i;
    tlc_msg m;

    for (i = 0; i < sizeof text; i++) {
        text[i] = (uint8_t)i;
    }
    m = msg(TL_OP_REQUEST, 0, 510, text, sizeof text, STR("raw"));
    one_echo(c, &m, "Request with text bytes 0x00-0xff");
}

/* ================= section 2: op codes ================= */

static void case_request_response(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, 0, 42, NULL, 0, STR("hello"));

    one_echo(c, &m, "Request");
}

static void case_signal_signal(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_SIGNAL, 0, 42, NULL, 0, STR("2")); /* V08 */

    one_echo(c, &m, "Signal");
}

static void case_hello_hello(tlc_case *c)
{
    tlc_conn *k = tlc_open(c, 1);
    uint8_t text[TL_ADDR_TEXT_MAX + 16];
    size_t tl = connect_to(c, text, sizeof text);
    tlc_msg m = msg(TL_OP_HELLO_REQUEST, 0, 1, text, tl, NULL, 0); /* V01 shape */

    if (k == NULL) {
        return;
    }
    (void)send_expect(c, k, &m, 1, NULL, "HelloRequest (V01 shape)");
    tlc_close(k, 1);
}

static void case_bye_bye(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_BYE_REQUEST, 0, 7, NULL, 0, NULL, 0); /* V10 */

    one_echo(c, &m, "ByeRequest");
}

static void case_welcome_from_wire(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    uint8_t text[64];
    size_t tl = 0;
    tl_address a;
    tlc_msg w, r;
    probe_obs obs;

    if (k == NULL) {
        return;
    }
    memset(&a, 0, sizeof a);
    a.kind = TL_ADDR_TCP;
    snprintf(a.host, sizeof a.host, "0.0.0.0");
    a.port = 7099;
    tl_address_append_header(text, sizeof text, &tl, TL_OP_WELCOME_REQUEST, &a);
    w = msg(TL_OP_WELCOME_REQUEST, 0, 3, text, tl, NULL, 0);
    r = msg(TL_OP_REQUEST, 0, 4, NULL, 0, STR("after"));
    if (tlc_send_msg(k, &w, "WelcomeRequest") != 0) {
        tlc_fail(c, "the peer closed the connection");
        tlc_close(k, 1);
        return;
    }
    observe(c, k, &obs, tlc_quiet_deadline(c));
    if (obs.have_first) {
        tlc_fail(c,
                 "a %s frame came back; the WelcomeResponse EchoService posts never reaches the wire "
                 "(section 7 table, 6.9)",
                 tl_opcode_name(tl_proto_opcode(obs.first.h.proto))
                     ? tl_opcode_name(tl_proto_opcode(obs.first.h.proto))
                     : "undefined");
    }
    if (obs.closed) {
        tlc_fail(c, "the peer closed the connection after a WelcomeRequest (tofu keeps it open)");
    } else {
        (void)send_expect(c, k, &r, 1, NULL, "Request after the WelcomeRequest");
    }
    observe_free(&obs);
    tlc_close(k, 1);
}

static void case_byesignal_abort(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    tlc_msg m = msg(TL_OP_BYE_SIGNAL | TL_PROTO_BIT_A, 0, 9, NULL, 0, NULL, 0); /* V16 */
    size_t frames = 0;

    if (k == NULL) {
        return;
    }
    if (tlc_send_msg(k, &m, "ByeSignal with bit A (0x47)") != 0) {
        tlc_note(c, "the peer closed the connection while we sent");
    }
    if (tlc_wait_close(k, tlc_deadline(c), &frames)) {
        if (frames == 0) {
            tlc_note(c, "nothing came back and the peer closed the connection (local abort)");
        }
    } else if (frames == 0) {
        tlc_inform(c,
                   "nothing came back but the connection stayed open for %u ms; EchoService re-posts the "
                   "ByeSignal, which aborts the channel (6.8)",
                   c->run->timeout_ms);
    }
    if (frames > 0) {
        tlc_fail(c, "%zu frame%s came back; a ByeSignal with bit A never reaches the wire (2, 6.8)", frames,
                 frames == 1 ? "" : "s");
    }
    tlc_close(k, 1);
}

/* ================= section 3: status ================= */

static void case_status_nonzero(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, TL_STATUS_INVALID_MORE_USAGE, 31, NULL, 0, STR("st"));

    one_echo(c, &m, "Request with status 9");
    survival(c, MUST_SURVIVE, NULL);
}

static void case_status_255(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, 0xFF, 32, NULL, 0, STR("st"));

    one_echo(c, &m, "Request with status 255");
    survival(c, MUST_SURVIVE, NULL);
}

static void case_status_pool_empty_app(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, TL_STATUS_POOL_EMPTY, 33, NULL, 0, STR("st"));

    one_echo(c, &m, "Request with status 19, origin application");
    survival(c, MUST_SURVIVE, NULL);
}

/* ================= section 4: text headers ================= */

static void case_text_canonical(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, 0, 0x0102030405060708ull,
                    STR("Content-Type:application/json\r\nJob-ID:12345\r\n"), STR("{\"a\":1}")); /* V12 */

    one_echo(c, &m, "Request (V12)");
}

static void case_text_duplicates(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, 0, 411, STR("a:1\r\nb:2\r\na:3\r\na:1\r\n"), STR("dup"));

    one_echo(c, &m, "Request with duplicate headers");
}

static void case_text_quirks(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, 0, 421,
                    STR("  x : v \r\n\r\n\r\nk: v:w\r\na:b\nc:d\r\n: ss\r\nnocolon\r\ntail"), STR("q"));

    one_echo(c, &m, "Request with odd header lines");
}

static void hello_with_text(tlc_case *c, const uint8_t *text, size_t tl, const char *what)
{
    tlc_conn *k = tlc_open(c, 1);
    uint8_t body[TL_HEADER_SIZE];
    tlc_msg m;

    if (k == NULL) {
        return;
    }
    tl_conform_echo_body(body, 0, TL_OP_HELLO_REQUEST, 0);
    m = msg(TL_OP_HELLO_REQUEST, 0, 2, text, tl, body, sizeof body);
    (void)send_expect(c, k, &m, 1, NULL, what);
    tlc_close(k, 1);
}

static void case_hello_uds(tlc_case *c)
{
    hello_with_text(c, STR("~connect_to:uds|/srv/tofu/echo.sock\r\n"),
                    "HelloRequest with a uds address (V13)");
}

static void case_hello_listen_on(tlc_case *c)
{
    hello_with_text(c, STR("~listen_on:tcp|0.0.0.0|7099\r\n"), "HelloRequest with ~listen_on");
}

static void case_hello_bad_address(tlc_case *c)
{
    hello_with_text(c, STR("~connect_to:tcp|a|b|c\r\n"), "HelloRequest with a 4-part address");
}

static void case_hello_no_text(tlc_case *c)
{
    hello_with_text(c, NULL, 0, "HelloRequest without text headers");
}

/* ================= section 5: what post does to the echo ================= */

static void case_signal_id0(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_SIGNAL, 0, 0, NULL, 0, STR("x"));

    one_echo(c, &m, "Signal with message_id 0");
}

/* A probe whose echo post must refuse. */
static void refused_echo_probe(tlc_case *c, tlc_msg *m, const char *why, const char *rule)
{
    probe_obs obs;

    probe_msg(c, m, BOTH_STOP, why, &obs);
    if (obs.have_first) {
        const tl_header *h = &obs.first.h;
        unsigned op = tl_proto_opcode(h->proto);
        const tl_opcode_info *info = tl_opcode_info_get(op);

        if (info != NULL && info->role == TL_ROLE_RESPONSE && h->message_id == 0) {
            tlc_fail(c,
                     "a %s with message_id 0 came back; post refuses a response without an id (section 5 "
                     "step 4, A5)",
                     info->name);
        } else if (info != NULL && info->type != TL_TYPE_REGULAR && tl_proto_more(h->proto)) {
            tlc_fail(c,
                     "a %s with the more flag came back; post refuses more on hello/bye/welcome (section 5 "
                     "step 5)",
                     info->name);
        } else {
            tlc_inform(c, "a %s frame (id %llu) came back; %s", info != NULL ? info->name : "undefined",
                       (unsigned long long)h->message_id, rule);
        }
    }
    observe_free(&obs);
}

static void case_request_id0(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, 0, 0, NULL, 0, STR("zero"));

    refused_echo_probe(c, &m, "the echoed Response has message_id 0: post fails with InvalidMessageId",
                       "tofu's server stops instead");
}

static void case_hello_more(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_HELLO_REQUEST | TL_PROTO_MORE, 0, 511, NULL, 0, NULL, 0);

    refused_echo_probe(c, &m, "the echo is refused with InvalidMoreUsage", "tofu's server stops instead");
}

static void case_bye_more(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_BYE_REQUEST | TL_PROTO_MORE, 0, 512, NULL, 0, NULL, 0);

    refused_echo_probe(c, &m, "the echo is refused with InvalidMoreUsage", "tofu's server stops instead");
}

static void case_byesignal_more(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_BYE_SIGNAL | TL_PROTO_MORE, 0, 513, NULL, 0, NULL, 0);

    refused_echo_probe(c, &m, "the echo is refused with InvalidMoreUsage", "tofu's server stops instead");
}

static void case_welcome_id0(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_WELCOME_REQUEST, 0, 0, NULL, 0, NULL, 0);

    refused_echo_probe(c, &m, "the echoed WelcomeResponse has message_id 0: post fails with InvalidMessageId",
                       "tofu's server stops instead");
}

/* ================= section 6: engine behaviour ================= */

#define CONCURRENT    16
#define CHANNEL_CONNS 8
#define POOL_CONNS    40

static void case_concurrent(tlc_case *c)
{
    tlc_conn *k[CONCURRENT];
    hello_buf hb[CONCURRENT];
    tlc_msg req[CONCURRENT];
    char body[CONCURRENT][16];
    size_t i, n = 0, ok = 0;

    for (i = 0; i < CONCURRENT; i++) {
        k[i] = tlc_open(c, 1);
        if (k[i] == NULL) {
            break;
        }
        n++;
    }
    /* every HelloRequest first, then every Request, before reading anything */
    for (i = 0; i < n; i++) {
        tlc_msg *h = echoclient_hello(c, &hb[i], 600 + i);
        (void)tlc_send_msg(k[i], h, "HelloRequest");
    }
    for (i = 0; i < n; i++) {
        int bl = snprintf(body[i], sizeof body[i], "conn-%zu", i + 1);

        req[i] = msg(TL_OP_REQUEST, 0, 700 + i, NULL, 0, body[i], (size_t)bl);
        (void)tlc_send_msg(k[i], &req[i], "Request");
    }
    for (i = 0; i < n; i++) {
        char what[64];

        snprintf(what, sizeof what, "HelloResponse on connection #%zu", i + 1);
        if (!tlc_expect_echo(c, k[i], &hb[i].m, what)) {
            break;
        }
        snprintf(what, sizeof what, "reply on connection #%zu", i + 1);
        if (!tlc_expect_echo(c, k[i], &req[i], what)) {
            break;
        }
        ok++;
    }
    if (i < n) {
        tlc_note(c, "connections after #%zu not checked", i + 1);
    }
    for (i = 0; i < n; i++) {
        tlc_close(k[i], 1);
    }
    tlc_note(c, "%zu of %d connections answered correctly", ok, CONCURRENT);
}

static void case_distinct_channels(tlc_case *c)
{
    tlc_conn *k[CHANNEL_CONNS];
    hello_buf hb[CHANNEL_CONNS];
    size_t i, j, n = 0;

    for (i = 0; i < CHANNEL_CONNS; i++) {
        k[i] = tlc_open(c, 1);
        if (k[i] == NULL) {
            break;
        }
        n++;
        (void)tlc_send_msg(k[i], echoclient_hello(c, &hb[i], 800 + i), "HelloRequest");
    }
    for (i = 0; i < n; i++) {
        if (!tlc_expect_echo(c, k[i], &hb[i].m, "HelloResponse")) {
            break;
        }
    }
    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            if (k[i]->have_channel && k[j]->have_channel && k[i]->channel == k[j]->channel) {
                tlc_fail(c,
                         "connections #%zu and #%zu both got channel 0x%04x; numbers are per engine, one per "
                         "connection (6.2)",
                         i + 1, j + 1, k[i]->channel);
            }
        }
    }
    for (i = 0; i < n; i++) {
        tlc_close(k[i], 1);
    }
}

static void case_hello_and_request_one_write(tlc_case *c)
{
    tlc_conn *k = tlc_open(c, 1);
    hello_buf hb;
    uint8_t body[TL_HEADER_SIZE];
    tlc_msg m[2];

    if (k == NULL) {
        return;
    }
    m[0] = *echoclient_hello(c, &hb, 5);
    tl_conform_echo_body(body, CC, TL_OP_REQUEST, 1);
    m[1] = msg(TL_OP_REQUEST, 0, 1, NULL, 0, body, sizeof body); /* V21 */
    (void)send_expect(c, k, m, 2, NULL, "HelloRequest and Request");
    tlc_close(k, 1);
}

static void case_second_hello(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    hello_buf hb;

    if (k == NULL) {
        return;
    }
    (void)send_expect(c, k, echoclient_hello(c, &hb, 6), 1, NULL, "second HelloRequest");
    tlc_close(k, 1);
}

static void case_fifo(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    tlc_msg m[4];

    if (k == NULL) {
        return;
    }
    m[0] = msg(TL_OP_REQUEST, 0, 11, NULL, 0, STR("r1"));
    m[1] = msg(TL_OP_SIGNAL, 0, 12, NULL, 0, STR("s1"));
    m[2] = msg(TL_OP_REQUEST, 0, 13, NULL, 0, STR("r2"));
    m[3] = msg(TL_OP_SIGNAL, 0, 14, NULL, 0, STR("s2"));
    (void)send_expect(c, k, m, 4, NULL, "Request, Signal, Request, Signal");
    tlc_close(k, 1);
}

static void case_nothing_after_bye_response(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    tlc_msg m[2];
    tlc_out o = {0};

    if (k == NULL) {
        return;
    }
    m[0] = msg(TL_OP_BYE_REQUEST, 0, 21, NULL, 0, NULL, 0);
    m[1] = msg(TL_OP_REQUEST, 0, 22, NULL, 0, STR("late"));
    tlc_out_add(&o, &m[0]);
    tlc_out_add(&o, &m[1]);
    if (tlc_send_out(k, &o, NULL, "ByeRequest and a Request") != 0) {
        tlc_fail(c, "the peer closed the connection while we sent");
    } else if (tlc_expect_echo(c, k, &m[0], "ByeResponse")) {
        expect_silence(c, k, "the ByeResponse", "after a bye frame the channel never sends again (6.6)");
    }
    tlc_out_free(&o);
    tlc_close(k, 1);
}

/* ---- latency: no reply waits for our delayed ACK (6.6, A24) ---- */

#define LAT_ROUNDS       15u /* round trips with our ACKs delayed as usual */
#define LAT_QUICK_ROUNDS 9u  /* and again acknowledging every segment at once */
/* A piece of a reply that waits this long waits for an ACK: Linux delays an
 * ACK by 40 ms at least, other systems up to 200 ms, while a loopback round
 * trip takes tens of microseconds and a loaded machine adds a few ms. */
#define LAT_SLOW_US 20000u

typedef struct {
    uint64_t first[LAT_ROUNDS]; /* request sent -> first byte of the reply */
    uint64_t gap[LAT_ROUNDS];   /* first byte -> the reply whole */
    uint64_t total[LAT_ROUNDS]; /* request sent -> the reply whole */
    size_t n;
} lat_samples;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static uint64_t median_us(const uint64_t *v, size_t n)
{
    uint64_t s[LAT_ROUNDS];

    if (n == 0) {
        return 0;
    }
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_u64);
    return s[n / 2];
}

/* n HelloRequests, one at a time (they do not count towards tofu's echo
 * budget); each reply is timed and checked as an echo. 0 if every reply
 * came and was right. */
static int lat_rounds(tlc_case *c, tlc_conn *k, size_t n, uint64_t id0, lat_samples *s)
{
    size_t i;

    memset(s, 0, sizeof *s);
    for (i = 0; i < n && i < LAT_ROUNDS; i++) {
        hello_buf hb;
        tlc_msg *m = echoclient_hello(c, &hb, id0 + i);
        char label[64];
        uint64_t t0, t1;
        tlc_frame f;
        int ok;

        snprintf(label, sizeof label, "HelloResponse (round trip %llu)", (unsigned long long)(id0 + i));
        t0 = tlc_now_us();
        if (tlc_send_msg(k, m, "HelloRequest, one at a time") != 0) {
            tlc_fail(c, "could not send HelloRequest %llu: the peer closed the connection",
                     (unsigned long long)(id0 + i));
            return -1;
        }
        if (!tlc_expect_frame(c, k, &f, label)) {
            return -1;
        }
        t1 = tlc_now_us();
        ok = tlc_check_echo(c, k, &m->h, m->text, &f, label);
        tlc_frame_free(&f);
        if (!ok) {
            return -1;
        }
        s->first[i] = k->frame_first_us > t0 ? k->frame_first_us - t0 : 0;
        s->gap[i] = t1 > k->frame_first_us ? t1 - k->frame_first_us : 0;
        s->total[i] = t1 - t0;
        s->n++;
    }
    return 0;
}

static double ms_of(uint64_t us) { return (double)us / 1000.0; }

static void case_no_delayed_ack_wait(tlc_case *c)
{
    tlc_conn *k;
    lat_samples a, b;
    uint64_t a_first, a_gap, a_total, b_gap = 0;
    int quick;

    if (c->run->opt.peer.kind != TL_ADDR_TCP) {
        tlc_unimplemented(c,
                          "measured over TCP only: a Unix socket has no Nagle algorithm and no delayed ACK");
        return;
    }
    k = open_hello(c, 1);
    if (k == NULL || !tlc_clean(c)) {
        tlc_close(k, 1);
        return;
    }
    if (lat_rounds(c, k, LAT_ROUNDS, 101, &a) != 0) {
        tlc_close(k, 1);
        return;
    }
    quick = tlc_set_quickack(k, 1) == 0;
    if (quick && lat_rounds(c, k, LAT_QUICK_ROUNDS, 201, &b) != 0) {
        tlc_close(k, 1);
        return;
    }
    tlc_close(k, 1);
    a_first = median_us(a.first, a.n);
    a_gap = median_us(a.gap, a.n);
    a_total = median_us(a.total, a.n);
    if (quick) {
        b_gap = median_us(b.gap, b.n);
    }
    tlc_note(c,
             "%zu round trips, one request outstanding: median %.3f ms (%.0f/s); the first bytes of a reply "
             "after %.3f ms, the whole reply %.3f ms later",
             a.n, ms_of(a_total), a_total > 0 ? 1e6 / (double)a_total : 0.0, ms_of(a_first), ms_of(a_gap));
    if (quick) {
        tlc_note(c,
                 "%zu more acknowledging every segment at once (TCP_QUICKACK): the whole reply %.3f ms after "
                 "its first bytes",
                 b.n, ms_of(b_gap));
    }
    if (a_gap < LAT_SLOW_US) {
        return;
    }
    if (quick && b_gap < LAT_SLOW_US / 2u && b_gap * 4u <= a_gap) {
        tlc_nonstrict(
            c,
            "every reply waits for our delayed ACK (%.1f ms per round trip, about %.0f/s): its first "
            "bytes come at once, the rest %.1f ms later, and only %.3f ms later when we acknowledge "
            "at once",
            ms_of(a_total), 1e6 / (double)a_total, ms_of(a_gap), ms_of(b_gap));
        tlc_nonstrict(c,
                      "cause: the peer writes a frame in several send() calls (header, text headers, body) "
                      "with Nagle's algorithm on (no TCP_NODELAY), so the rest of each frame waits until "
                      "its first piece is acknowledged; tofu does so (6.6, A24). Write each frame in one "
                      "call (writev), and set TCP_NODELAY so that frames queued behind an "
                      "unacknowledged one do not wait either");
    } else if (quick) {
        tlc_inform(
            c,
            "replies arrive in pieces %.1f ms apart, and still %.1f ms apart when we acknowledge every "
            "segment at once: the peer pauses inside its frames (not only Nagle and delayed ACKs)",
            ms_of(a_gap), ms_of(b_gap));
    } else {
        tlc_inform(c,
                   "replies arrive in pieces %.1f ms apart, as when a frame written in several send() calls "
                   "with Nagle on waits for a delayed ACK; not confirmed (no TCP_QUICKACK here)",
                   ms_of(a_gap));
    }
}

static void case_more_requests(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    tlc_msg m[4];

    if (k == NULL) {
        return;
    }
    m[0] = msg(TL_OP_REQUEST | TL_PROTO_MORE, 0, 51, NULL, 0, STR("chunk-1"));
    m[1] = msg(TL_OP_REQUEST | TL_PROTO_MORE, 0, 51, NULL, 0, STR("chunk-2"));
    m[2] = msg(TL_OP_REQUEST | TL_PROTO_MORE, 0, 51, NULL, 0, STR("chunk-3"));
    m[3] = msg(TL_OP_REQUEST, 0, 51, NULL, 0, STR("chunk-4"));
    if (send_expect(c, k, m, 4, NULL, "3 Requests with more, then the last") == 4) {
        if (tlc_wait_quiet(k, tlc_quiet_deadline(c)) && k->closed) {
            tlc_fail(c,
                     "the peer closed the connection after the streamed request (6.7: content never closes)");
        }
    }
    tlc_close(k, 1);
}

static void case_more_signals(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    tlc_msg m[2];

    if (k == NULL) {
        return;
    }
    m[0] = msg(TL_OP_SIGNAL | TL_PROTO_MORE, 0, 61, NULL, 0, STR("50"));
    m[1] = msg(TL_OP_SIGNAL, 0, 61, NULL, 0, STR("100"));
    (void)send_expect(c, k, m, 2, NULL, "Signal with more, then the last");
    tlc_close(k, 1);
}

static void case_truncated_header(tlc_case *c)
{
    uint8_t frame[64];
    tlc_msg m = msg(TL_OP_REQUEST, 0, 91, NULL, 0, STR("cut"));
    tlc_out o = {0};

    tlc_out_add(&o, &m);
    memcpy(frame, o.bytes.p, o.bytes.len < sizeof frame ? o.bytes.len : sizeof frame);
    tlc_out_free(&o);
    probe_bytes(c, 1, frame, 10, "10 bytes of a 16-byte header, then close", 0, MUST_SURVIVE, NULL, NULL);
}

static void case_truncated_body(tlc_case *c)
{
    uint8_t frame[16 + 100];
    tl_header h;

    memset(&h, 0, sizeof h);
    h.channel = CC;
    h.proto = TL_OP_REQUEST;
    h.message_id = 92;
    h.bl = 100;
    tl_header_encode(&h, frame);
    memset(frame + 16, 'b', 100);
    probe_bytes(c, 1, frame, 16 + 40, "header announcing bl 100 and 40 body bytes, then RST", 1, MUST_SURVIVE,
                NULL, NULL);
}

static void case_stall(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    uint8_t frame[16 + 100];
    tl_header h;
    probe_obs obs;

    if (k == NULL) {
        return;
    }
    memset(&h, 0, sizeof h);
    h.channel = CC;
    h.proto = TL_OP_REQUEST;
    h.message_id = 93;
    h.thl = 1000;
    h.bl = 60000;
    tl_header_encode(&h, frame);
    memset(frame + 16, 'z', 100);
    if (tlc_send(k, frame, sizeof frame, NULL,
                 "header announcing thl 1000 bl 60000, then 100 bytes and a stall") != 0) {
        tlc_note(c, "the peer closed the connection while we sent");
    }
    observe(c, k, &obs, tlc_now_us() + 2u * (uint64_t)c->run->quiet_ms * 1000u);
    if (obs.frames > 0) {
        tlc_fail(
            c, "a frame came back for an incomplete frame (6.7: the receiver waits for the announced bytes)");
    } else if (obs.closed) {
        tlc_inform(
            c, "the peer closed the stalled connection; tofu waits for the missing bytes without a timeout "
               "(6.7, A21)");
    } else {
        tlc_note(c, "the peer waited for the missing bytes, as tofu does");
    }
    observe_free(&obs);
    tlc_close(k, 1);
    survival(c, MUST_SURVIVE, NULL);
}

static void case_http_garbage(tlc_case *c)
{
    static const char http[] = "GET / HTTP/1.1\r\nHost: tofu\r\nConnection: close\r\n\r\n";

    /* Read as a header: proto 'T' = 0x54 (origin bit set, so tofu's echo
     * ignores it), thl 0x2e31 and bl 0x0d0a: the peer waits; we close. */
    probe_bytes(c, 0, (const uint8_t *)http, sizeof http - 1, "an HTTP request", 0, MUST_SURVIVE, NULL, NULL);
}

static void opcode_probe(tlc_case *c, unsigned op)
{
    tlc_msg m = msg(op, 0, 1000 + op, NULL, 0, STR("x"));
    probe_obs obs;

    probe_msg(c, &m, TOFU_STOPS,
              "a Debug build aborts on op codes 10-15, a ReleaseSafe one panics in the echo code", &obs);
    if (obs.have_first) {
        unsigned rop = tl_proto_opcode(obs.first.h.proto);

        if (rop >= TL_OPCODE_COUNT) {
            tlc_fail(c, "a frame with op code %u came back; post refuses op codes 10-15 (section 5 step 2)",
                     rop);
        } else {
            tlc_inform(c, "a %s frame came back", tl_opcode_name(rop));
        }
    } else if (obs.closed) {
        tlc_note(c, "the peer closed the connection (the reference engine tears the channel down, A7)");
    }
    observe_free(&obs);
}

static void case_op10(tlc_case *c) { opcode_probe(c, 10); }
static void case_op11(tlc_case *c) { opcode_probe(c, 11); }
static void case_op12(tlc_case *c) { opcode_probe(c, 12); }
static void case_op13(tlc_case *c) { opcode_probe(c, 13); }
static void case_op14(tlc_case *c) { opcode_probe(c, 14); }
static void case_op15(tlc_case *c) { opcode_probe(c, 15); }

static void case_random_garbage(tlc_case *c)
{
    uint8_t junk[4096];
    uint64_t rng = 0xC0FFEE;
    size_t i;

    for (i = 0; i < sizeof junk; i++) {
        junk[i] = (uint8_t)tlc_rand(&rng);
    }
    probe_bytes(c, 1, junk, sizeof junk, "4096 random bytes (seed 0xc0ffee)", 1, BOTH_STOP,
                "random headers may hit undefined op codes, response roles, status 21 or ids 0", NULL);
}

static void case_bye_with_content(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_BYE_REQUEST, 0, 71, STR("reason:done\r\n"), STR("bye"));

    one_echo(c, &m, "ByeRequest with headers and body");
}

static void case_bye_then_rst(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    tlc_msg m = msg(TL_OP_BYE_REQUEST, 0, 72, NULL, 0, NULL, 0);

    if (k == NULL) {
        return;
    }
    (void)send_expect(c, k, &m, 1, NULL, "ByeRequest");
    tlc_close(k, 1);
    survival(c, MUST_SURVIVE, NULL);
}

static void case_pool_reservation(tlc_case *c)
{
    tlc_conn **k = calloc(POOL_CONNS, sizeof *k);
    hello_buf *hb = calloc(POOL_CONNS, sizeof *hb);
    size_t i, n = 0, ok = 0;

    if (k == NULL || hb == NULL) {
        free(k);
        free(hb);
        tlc_fail(c, "out of memory");
        return;
    }
    for (i = 0; i < POOL_CONNS; i++) {
        k[i] = tlc_open(c, 1);
        if (k[i] == NULL) {
            break;
        }
        n++;
        (void)tlc_send_msg(k[i], echoclient_hello(c, &hb[i], 900 + i), "HelloRequest");
    }
    for (i = 0; i < n; i++) {
        tlc_frame f;

        if (!tlc_expect_frame(c, k[i], &f, "HelloResponse")) {
            n = i; /* stop here: the rest would only repeat the finding */
            break;
        }
        tlc_frame_free(&f);
    }
    /* All connections idle and open; now each asks again. */
    for (i = 0; i < n; i++) {
        (void)tlc_send_msg(k[i], echoclient_hello(c, &hb[i], 1900 + i), "second HelloRequest");
    }
    for (i = 0; i < n; i++) {
        char what[64];

        snprintf(what, sizeof what, "second HelloResponse on connection #%zu", i + 1);
        if (!tlc_expect_echo(c, k[i], &hb[i].m, what)) {
            break;
        }
        ok++;
    }
    for (i = 0; i < POOL_CONNS; i++) {
        tlc_close(k[i], 1);
    }
    tlc_note(c, "%zu of %d idle connections answered", ok, POOL_CONNS);
    free(k);
    free(hb);
}

static void case_status_receiver_update(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, TL_STATUS_RECEIVER_UPDATE, 81, NULL, 0, STR("ru"));
    probe_obs obs;

    probe_msg(c, &m, TOFU_STOPS,
              "MultiHomed stops on status receiver_update before it looks at origin (6.15)", &obs);
    if (obs.have_first) {
        (void)tlc_check_echo(c, NULL, &m.h, NULL, &obs.first, "reply to the Request with status 21");
    }
    observe_free(&obs);
}

/* ================= section 7: EchoService ================= */

static void case_echoclient_hello(tlc_case *c)
{
    tlc_conn *k = tlc_open(c, 1);
    hello_buf hb;

    if (k == NULL) {
        return;
    }
    (void)send_expect(c, k, echoclient_hello(c, &hb, 5), 1, NULL, "EchoClient HelloRequest (V19)");
    tlc_close(k, 1);
}

static void case_echoclient_request(tlc_case *c)
{
    uint8_t body[TL_HEADER_SIZE];
    tlc_msg m;

    tl_conform_echo_body(body, CC, TL_OP_REQUEST, 1);
    m = msg(TL_OP_REQUEST, 0, 1, NULL, 0, body, sizeof body); /* V21 */
    one_echo(c, &m, "EchoClient Request #1 (V21)");
}

static void case_body_fields(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_SIGNAL | TL_PROTO_MORE, 0x2A, 0x8877665544332211ull, STR("f:1\r\ng:22\r\n"),
                    STR("abcdefg"));

    one_echo(c, &m, "Signal (more, status 42, thl 11, bl 7)");
}

static void case_body_discarded(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_REQUEST, 0, 0x3132333435363738ull, NULL, 0, STR("0123456789abcdef"));

    one_echo(c, &m, "Request with a 16-byte body that is not a header copy");
}

static void case_echoclient_sequence(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 1);
    size_t n;

    if (k == NULL) {
        return;
    }
    for (n = 1; n <= 3; n++) {
        uint8_t body[TL_HEADER_SIZE];
        tlc_msg m;
        char what[48];

        tl_conform_echo_body(body, CC, TL_OP_REQUEST, n);
        m = msg(TL_OP_REQUEST, 0, n, NULL, 0, body, sizeof body);
        snprintf(what, sizeof what, "Request #%zu", n);
        if (send_expect(c, k, &m, 1, NULL, what) != 1) {
            break;
        }
    }
    tlc_close(k, 1); /* EchoClient aborts: RST, no frame */
}

static void response_probe(tlc_case *c, unsigned op)
{
    tlc_msg m = msg(op, 0, 90 + op, NULL, 0, NULL, 0);
    probe_obs obs;

    probe_msg(c, &m, TOFU_STOPS, "EchoService returns false for response roles and MultiHomed stops", &obs);
    if (obs.have_first) {
        tlc_fail(c, "a %s frame came back; response roles have no echo (section 2)",
                 tl_opcode_name(tl_proto_opcode(obs.first.h.proto))
                     ? tl_opcode_name(tl_proto_opcode(obs.first.h.proto))
                     : "undefined");
    }
    observe_free(&obs);
}

static void case_response_from_client(tlc_case *c) { response_probe(c, TL_OP_RESPONSE); }
static void case_hello_response_from_client(tlc_case *c) { response_probe(c, TL_OP_HELLO_RESPONSE); }
static void case_bye_response_from_client(tlc_case *c) { response_probe(c, TL_OP_BYE_RESPONSE); }
static void case_welcome_response_from_client(tlc_case *c) { response_probe(c, TL_OP_WELCOME_RESPONSE); }

static void case_budget(tlc_case *c)
{
    enum { N = 1101 };
    tlc_conn *k = open_hello(c, 0);
    tlc_out o = {0};
    size_t i, got = 0;

    if (k == NULL) {
        return;
    }
    for (i = 0; i < N; i++) {
        tlc_msg m = msg(TL_OP_REQUEST, 0, 5000 + i, NULL, 0, STR("budget"));
        tlc_out_add(&o, &m);
    }
    if (tlc_send_out(k, &o, NULL, "1101 Requests") == 0) {
        uint64_t cap = tlc_now_us() + 10u * (uint64_t)c->run->timeout_ms * 1000u;

        for (i = 0; i < N; i++) {
            tlc_frame f;
            uint64_t dl = tlc_deadline(c);

            if (tlc_recv(k, dl < cap ? dl : cap, &f) != TLC_RX_FRAME) {
                break;
            }
            got++;
            tlc_frame_free(&f);
        }
    }
    tlc_out_free(&o);
    tlc_close(k, 1);
    if (tlc_check_alive(c)) {
        tlc_inform(c,
                   "%zu of 1101 Requests answered and the peer is still alive: no 1100-echo budget (the "
                   "reference server's default)",
                   got);
    } else {
        tlc_inform(c,
                   "%zu of 1101 Requests answered, then the peer stopped (%llu budget-counted frames in this "
                   "run before this case): tofu's EchoService stops after 1100 echoes (A19)",
                   got, (unsigned long long)c->budget_before);
    }
}

/* ================= section 9: ambiguities ================= */

static void case_a2_byesignal_on_wire(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    tlc_msg m = msg(TL_OP_BYE_SIGNAL, 0, 101, NULL, 0, NULL, 0); /* V17 */
    probe_obs obs;

    if (k == NULL) {
        return;
    }
    if (tlc_send_msg(k, &m, "ByeSignal without bit A (0x07)") != 0) {
        tlc_note(c, "the peer closed the connection while we sent");
    }
    observe(c, k, &obs, tlc_deadline(c));
    if (obs.have_first) {
        if (tlc_check_echo(c, k, &m.h, NULL, &obs.first, "echoed ByeSignal")) {
            tlc_nonstrict(
                c, "the peer sent the ByeSignal back on the wire, as tofu does (it treats op 7 without "
                   "bit A like a ByeRequest); A2: the reference engine never transmits op 7 and aborts");
            if (obs.frames > 1) {
                tlc_fail(c, "%zu more frames followed the ByeSignal; sending stops after a bye frame (6.6)",
                         obs.frames - 1);
            }
        }
    } else if (obs.closed) {
        tlc_note(c, "nothing came back and the channel was aborted (the reference engine's A2 decision)");
    } else {
        tlc_inform(c, "nothing came back and the connection stayed open");
    }
    observe_free(&obs);
    tlc_close(k, 1);
}

static void case_a3_who_closes(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    tlc_msg m = msg(TL_OP_BYE_REQUEST, 0, 102, NULL, 0, NULL, 0);

    if (k == NULL) {
        return;
    }
    if (send_expect(c, k, &m, 1, NULL, "ByeRequest") == 1) {
        if (tlc_wait_close(k, tlc_quiet_deadline(c) + (uint64_t)c->run->quiet_ms * 1000u, NULL)) {
            tlc_inform(c,
                       "the responder closed the connection after its ByeResponse, as tofu's docs describe; "
                       "tofu's code leaves closing to the initiator (A3)");
        } else {
            tlc_note(c, "after its ByeResponse the peer waited for us to close, as tofu's code does (A3)");
        }
    }
    tlc_close(k, 1);
}

static void case_a7_origin(tlc_case *c)
{
    forged_then_request(c, 0, 111);
    survival(c, MUST_SURVIVE, NULL);
}

static void case_a8_bit(tlc_case *c, unsigned bit, uint64_t id, const char *what)
{
    tlc_msg m = msg(TL_OP_REQUEST | bit, 0, id, NULL, 0, STR("bits"));

    one_echo(c, &m, what);
    survival(c, MUST_SURVIVE, NULL);
}

static void case_a8_bit_a(tlc_case *c) { case_a8_bit(c, TL_PROTO_BIT_A, 112, "Request with bit A (0x40)"); }
static void case_a8_bit_b(tlc_case *c) { case_a8_bit(c, TL_PROTO_BIT_B, 113, "Request with bit B (0x80)"); }

static void case_a14_no_hello(tlc_case *c)
{
    tlc_conn *k = tlc_open(c, 1);
    tlc_msg m = msg(TL_OP_REQUEST, 0, 121, NULL, 0, STR("no hello"));
    tlc_frame f;
    int r;

    if (k == NULL) {
        return;
    }
    if (tlc_send_msg(k, &m, "Request as the first frame") != 0) {
        tlc_fail(c, "the peer closed the connection");
        tlc_close(k, 1);
        return;
    }
    r = tlc_recv(k, tlc_deadline(c), &f);
    if (r == TLC_RX_FRAME) {
        (void)tlc_check_echo(c, k, &m.h, NULL, &f, "reply to a Request without HelloRequest");
        tlc_frame_free(&f);
    } else if (r == TLC_RX_TIMEOUT && k->rx_len > 0) {
        tlc_sb why = {0};

        tlc_describe_pending(k, &why);
        tlc_fail(c, "the reply is not a whole frame: %s", why.s != NULL ? why.s : "");
        tlc_sb_free(&why);
    } else {
        tlc_inform(
            c,
            "the peer did not answer a Request sent before any HelloRequest (%s); tofu does not enforce "
            "the handshake (A14)",
            r == TLC_RX_CLOSED ? "it closed the connection" : "no reply");
    }
    tlc_close(k, 1);
}

static void case_a18_interleaved_more(tlc_case *c)
{
    tlc_conn *k = open_hello(c, 0);
    tlc_msg m[4];

    if (k == NULL) {
        return;
    }
    m[0] = msg(TL_OP_REQUEST | TL_PROTO_MORE, 0, 131, NULL, 0, STR("a1"));
    m[1] = msg(TL_OP_REQUEST | TL_PROTO_MORE, 0, 132, NULL, 0, STR("b1"));
    m[2] = msg(TL_OP_REQUEST, 0, 131, NULL, 0, STR("a2"));
    m[3] = msg(TL_OP_REQUEST, 0, 132, NULL, 0, STR("b2"));
    (void)send_expect(c, k, m, 4, NULL, "two interleaved streamed requests");
    tlc_close(k, 1);
}

static void case_a7_status_more_passthrough(tlc_case *c)
{
    tlc_msg m = msg(TL_OP_SIGNAL | TL_PROTO_MORE, 0x42, 141, NULL, 0, STR("pt"));

    one_echo(c, &m, "Signal with more and status 0x42");
    survival(c, MUST_SURVIVE, NULL);
}

/* ================= the table ================= */

#define D TL_CONFORM_DESTRUCTIVE
#define F (TL_CONFORM_DESTRUCTIVE | TL_CONFORM_FATAL)
#define H TL_CONFORM_HEAVY
#define R TL_CONFORM_CHECKS_REPLY
#define T TL_CONFORM_CHECKS_TEXT
#define B TL_CONFORM_CHECKS_BYE
#define M TL_CONFORM_CHECKS_MORE
#define S TL_CONFORM_CHECKS_SURVIVAL

const tlc_case_def tlc_server_cases[] = {
    /* 1.1 stream framing */
    {{"tofu/1.1/1", "One frame in one write is echoed",
      "1.1, 7: a Request (V04) written at once gets its echo", R},
     case_one_frame_one_write},
    {{"tofu/1.1/2", "Ten frames in one write are all echoed, in order",
      "1.1: frames are concatenated on the stream; 6.6: per-channel FIFO", R},
     case_ten_frames_one_write},
    {{"tofu/1.1/3", "Byte-by-byte fragmentation",
      "1.1: a receiver reads exactly 16 + thl + bl bytes however they arrive", R | T},
     case_byte_by_byte},
    {{"tofu/1.1/4", "Random fragmentation of six frames",
      "1.1: frame boundaries do not depend on write boundaries", R | T},
     case_random_split},
    {{"tofu/1.1/5", "Writes split inside the header and at the part boundaries, with pauses",
      "1.1: header, then thl bytes, then bl bytes; partial reads resume", R | T},
     case_split_header_boundary},
    {{"tofu/1.1/6", "Nothing but the reply comes back",
      "1.1: no padding or delimiters; 6.6: tofu never sends a frame by itself", R},
     case_no_extra_bytes},
    {{"tofu/1.1/7", "1000 frames in one write are all echoed, in order",
      "1.1, 6.6: pipelining; 7: every Request gets its Response (uses 1000 of tofu's 1100-echo budget)",
      R | H},
     case_thousand_frames},
    /* 1.2 binary header */
    {{"tofu/1.2/1", "Header fields are big-endian at fixed offsets",
      "1.2, A1: channel@0 proto@2 status@3 message_id@4 thl@12 bl@14, each big-endian", R | T},
     case_header_big_endian},
    {{"tofu/1.2/2", "message_id keeps all 64 bits",
      "1.2: message_id is an unsigned 64-bit field; 7: same id back", R},
     case_message_id_64bit},
    {{"tofu/1.2/3", "The reply channel is the peer's own number, the same on every reply",
      "6.6: the channel on the wire is the sender's local number (1-65534), one per connection", R | T},
     case_channel_consistent},
    /* 1.3 */
    {{"tofu/1.3/1", "The echo body is the native little-endian header",
      "1.3, 7 step 6: body = channel(LE) proto status message_id(LE) thl(LE) bl(LE)", R | T},
     case_native_body},
    /* 1.4 proto byte */
    {{"tofu/1.4/1", "Reply proto byte: op code only, flags clear",
      "1.4: op code in bits 0-3; 5 step 3: origin forced to application; more as received", R},
     case_plain_proto},
    {{"tofu/1.4/2", "Origin bit with status pool_empty (a forged engine notification)",
      "1.4, 7 step 2: origin=engine frames are notifications to tofu's echo; 6.7: the connection stays "
      "usable",
      R | S},
     case_origin_pool_empty},
    /* 1.5 text headers and body, 1.6 limits */
    {{"tofu/1.5/1", "Empty text headers and empty body (16-byte frame)", "1.5: either block may be empty", R},
     case_empty},
    {{"tofu/1.5/2", "Text headers of 1 byte", "1.5, 7: text headers are raw bytes, echoed byte for byte",
      R | T},
     case_text_1},
    {{"tofu/1.5/3", "Text headers of 255 bytes", "1.5, 7: text headers echoed byte for byte", R | T},
     case_text_255},
    {{"tofu/1.5/4", "Text headers of 256 bytes", "1.5, 7: text headers echoed byte for byte", R | T},
     case_text_256},
    {{"tofu/1.5/5", "Text headers of 65535 bytes", "1.6: thl up to 65535; 7: echoed byte for byte", R | T},
     case_text_65535},
    {{"tofu/1.5/6", "Body of 1 byte",
      "1.5, 7 step 6: the body is replaced by the 16-byte header copy (bl 1 in it)", R},
     case_body_1},
    {{"tofu/1.5/7", "Body of 255 bytes", "1.5, 7 step 6: body replaced, bl 255 recorded in the copy", R},
     case_body_255},
    {{"tofu/1.5/8", "Body of 256 bytes", "1.5, 7 step 6: body replaced, bl 256 recorded in the copy", R},
     case_body_256},
    {{"tofu/1.5/9", "Body of 65535 bytes", "1.6: bl up to 65535; 7 step 6: bl 65535 recorded in the copy", R},
     case_body_65535},
    {{"tofu/1.5/10", "Text header bytes 0x00-0xff are echoed unchanged",
      "1.5: the engine never parses text headers; 7: kept byte for byte, never re-serialized", R | T},
     case_raw_text_bytes},
    {{"tofu/1.6/1", "Largest frame: 65535 bytes of text headers and 65535 of body",
      "1.6: 16 + 65535 + 65535 = 131086 bytes", R | T},
     case_largest_frame},
    /* 2 op codes */
    {{"tofu/2/1", "Request is answered with Response", "2, 7: echo(Request) = Response, same id", R},
     case_request_response},
    {{"tofu/2/2", "Signal is answered with Signal", "2, 7: a signal keeps its op code", R},
     case_signal_signal},
    {{"tofu/2/3", "HelloRequest is answered with HelloResponse (V01 -> V02)",
      "2, 7: echo(HelloRequest) = HelloResponse; the ~connect_to header comes back", R | T},
     case_hello_hello},
    {{"tofu/2/4", "ByeRequest is answered with ByeResponse (V10 -> V11)",
      "2, 7: echo(ByeRequest) = ByeResponse", R | B},
     case_bye_bye},
    {{"tofu/2/5", "A WelcomeRequest from the wire gets nothing back; the connection stays usable",
      "2, 7: the echoed WelcomeResponse is dropped inside the server engine", R},
     case_welcome_from_wire},
    {{"tofu/2/6", "ByeSignal with bit A (0x47): nothing comes back, the channel is aborted",
      "2, 6.8: op 7 with bit A is a local abort, never transmitted", 0},
     case_byesignal_abort},
    /* 3 status */
    {{"tofu/3/1", "A non-zero status is kept in the body and cleared on the wire",
      "3: frames sent carry status 0; 7 step 6: the body keeps the received status", R | S},
     case_status_nonzero},
    {{"tofu/3/2", "Status 255 travels as a raw byte",
      "3: bytes >= 31 mean unknown_error but the byte is kept", R | S},
     case_status_255},
    {{"tofu/3/3", "Status pool_empty with origin application is an ordinary request",
      "7 step 2: only origin=engine frames are notifications", R | S},
     case_status_pool_empty_app},
    /* 4 text headers */
    {{"tofu/4.1/1", "Canonical name:value CRLF headers come back byte-identical (V12)", "4.1, 7", R | T},
     case_text_canonical},
    {{"tofu/4.1/2", "Duplicate header names and their order are kept", "4.1: duplicates allowed, order kept",
      R | T},
     case_text_duplicates},
    {{"tofu/4.2/1", "Header lines tofu's iterator reads oddly come back unchanged",
      "4.2: untrimmed names, empty lines, lone LF, empty name, no final CRLF; 7: never re-serialized", R | T},
     case_text_quirks},
    {{"tofu/4.3/1", "HelloRequest with a uds address is echoed (V13)",
      "4.3: the server engine ignores the client's address header; the app sees it", R | T},
     case_hello_uds},
    {{"tofu/4.3/2", "HelloRequest carrying ~listen_on is echoed",
      "4.3: the receiving engine never parses address headers", R | T},
     case_hello_listen_on},
    {{"tofu/4.3/3", "HelloRequest with a 4-part address is echoed",
      "4.3, A12: only the posting side parses addresses; a receiver must not crash on them", R | T},
     case_hello_bad_address},
    {{"tofu/4.3/4", "HelloRequest without text headers is echoed",
      "5 step 8 applies to posting HelloRequest, not to the echoed HelloResponse", R},
     case_hello_no_text},
    /* 5 post */
    {{"tofu/5/1", "Signal with message_id 0 comes back with a fresh id, the body keeps 0",
      "5 step 10: post assigns an id to message_id 0; 7 table", R},
     case_signal_id0},
    {{"tofu/5/2", "Request with message_id 0",
      "5 step 4, A5: a Response needs a non-zero id (tofu's server stops)", F | S},
     case_request_id0},
    {{"tofu/5/3", "HelloRequest with the more flag",
      "5 step 5: more on hello is refused (tofu's server stops)", F | S},
     case_hello_more},
    {{"tofu/5/4", "ByeRequest with the more flag", "5 step 5: more on bye is refused (tofu's server stops)",
      F | S},
     case_bye_more},
    {{"tofu/5/5", "ByeSignal with the more flag", "5 step 5: more on bye is refused (tofu's server stops)",
      F | S},
     case_byesignal_more},
    {{"tofu/5/6", "WelcomeRequest with message_id 0",
      "5 step 4: the echoed WelcomeResponse needs an id (tofu's server stops)", F | S},
     case_welcome_id0},
    /* 6 engine */
    {{"tofu/6.1/1", "16 concurrent connections, writes interleaved",
      "6.1: one reactor serves every channel; 7: each gets its own echoes", R | T},
     case_concurrent},
    {{"tofu/6.2/1", "Concurrent connections get distinct channel numbers",
      "6.2: channel numbers are per engine, one per connection, 1-65534", R | T},
     case_distinct_channels},
    {{"tofu/6.4/1", "HelloRequest and a Request in one write: both answered, in order",
      "6.4, A14: no gating on HelloResponse", R | T},
     case_hello_and_request_one_write},
    {{"tofu/6.5/1", "A second HelloRequest on a connection is answered again",
      "6.5: after the HelloRequest both ends are symmetric; 7: every HelloRequest is echoed", R | T},
     case_second_hello},
    {{"tofu/6.6/1", "Replies keep request order across Requests and Signals", "6.6: per-channel FIFO", R},
     case_fifo},
    {{"tofu/6.6/2", "Nothing is sent after the ByeResponse",
      "6.6: after a bye frame the channel never sends again", R | B},
     case_nothing_after_bye_response},
    {{"tofu/6.6/3", "One request at a time over TCP: no reply waits for a delayed ACK",
      "6.6, A24: a frame written in several send() calls with Nagle on waits for the receiver's delayed ACK",
      R | T},
     case_no_delayed_ack_wait},
    {{"tofu/6.7/1", "The more flag on Requests: 0x20 x3 then 0x00, answered 0x21 x3 then 0x01",
      "6.7, A18: more is passed through; the connection is not closed", R | M},
     case_more_requests},
    {{"tofu/6.7/2", "The more flag on Signals: 0x22 then 0x02", "6.7, A18: more is passed through", R | M},
     case_more_signals},
    {{"tofu/6.7/3", "Truncated header, then close: the peer survives",
      "6.7, 6.9: end of stream mid-frame tears down one channel only", S},
     case_truncated_header},
    {{"tofu/6.7/4", "Truncated body, then reset: the peer survives",
      "6.7, 6.9: a reset mid-frame tears down one channel only", S},
     case_truncated_body},
    {{"tofu/6.7/5", "Lengths larger than the bytes sent, then a stall: no reply; the peer survives",
      "6.7: the receiver waits for the announced bytes (A21: no timeout)", S},
     case_stall},
    {{"tofu/6.7/6", "Garbage (an HTTP request), then close: the peer survives",
      "6.7: any 16 bytes are a header; the connection is never closed for content", S},
     case_http_garbage},
    {{"tofu/6.7/7", "Op code 10", "2, 6.7, A7: undefined op code (a tofu Debug build aborts)", D | S},
     case_op10},
    {{"tofu/6.7/8", "Op code 11", "2, 6.7, A7: undefined op code", D | S}, case_op11},
    {{"tofu/6.7/9", "Op code 12", "2, 6.7, A7: undefined op code", D | S}, case_op12},
    {{"tofu/6.7/10", "Op code 13", "2, 6.7, A7: undefined op code", D | S}, case_op13},
    {{"tofu/6.7/11", "Op code 14", "2, 6.7, A7: undefined op code", D | S}, case_op14},
    {{"tofu/6.7/12", "Op code 15", "2, 6.7, A7: undefined op code", D | S}, case_op15},
    {{"tofu/6.7/13", "4 KiB of random bytes", "6.7: no receive-side validation (tofu may stop or crash)",
      D | S},
     case_random_garbage},
    {{"tofu/6.8/1", "ByeRequest with headers and body: ByeResponse echoes them",
      "6.8, 7: the ByeResponse reuses the ByeRequest", R | T | B},
     case_bye_with_content},
    {{"tofu/6.8/2", "The initiator resets after the ByeResponse: the peer survives",
      "6.8: the initiator closes with RST; the responder tears its channel down", R | B | S},
     case_bye_then_rst},
    {{"tofu/6.15/1", "40 idle connections, then each is served",
      "6.15: a receive message is reserved per connection; 6.10, 7: pool_empty is answered by growing the "
      "pool",
      R | T},
     case_pool_reservation},
    {{"tofu/6.15/2", "Request with status receiver_update (21)",
      "6.15: MultiHomed stops on status 21 before it looks at origin", D | S | R},
     case_status_receiver_update},
    /* 7 EchoService */
    {{"tofu/7/1", "EchoClient's HelloRequest (V19) gets V20's HelloResponse",
      "7: HelloResponse, same id and headers, body = native header copy", R | T},
     case_echoclient_hello},
    {{"tofu/7/2", "EchoClient's Request #1 (V21) gets V22's Response", "7 steps 4-7", R},
     case_echoclient_request},
    {{"tofu/7/3", "Every field of the body copy: channel, proto, status, message_id, thl, bl",
      "7 step 6: as received, with the echo op code and the peer's channel", R | T | M},
     case_body_fields},
    {{"tofu/7/4", "The original body is discarded even when it is 16 bytes",
      "7 step 6: the body is replaced by the header copy", R},
     case_body_discarded},
    {{"tofu/7/5", "EchoClient sequence: HelloRequest, Requests 1..3 one at a time, abort",
      "7: EchoClient and EchoService together", R | T},
     case_echoclient_sequence},
    {{"tofu/7/6", "A Response from the client", "7 step 4: response roles stop tofu's echo server", D | S},
     case_response_from_client},
    {{"tofu/7/7", "A HelloResponse from the client", "7 step 4: response roles stop tofu's echo server",
      D | S},
     case_hello_response_from_client},
    {{"tofu/7/8", "A ByeResponse from the client", "7 step 4: response roles stop tofu's echo server", D | S},
     case_bye_response_from_client},
    {{"tofu/7/9", "A WelcomeResponse from the client", "7 step 4: response roles stop tofu's echo server",
      D | S},
     case_welcome_response_from_client},
    {{"tofu/7/10", "1101 Requests: is there a 1100-echo budget?",
      "7 step 1, A19: tofu's EchoService stops after 1100 regular echoes", D | H | S},
     case_budget},
    /* 9 ambiguities */
    {{"tofu/9/1", "ByeSignal without bit A (0x07) from the client",
      "A2: tofu echoes op 7 on the wire; the reference engine never transmits op 7 and aborts", R},
     case_a2_byesignal_on_wire},
    {{"tofu/9/2", "Who closes after the ByeResponse",
      "A3: tofu's code waits for the initiator; its docs say the "
      "responder closes",
      R | B},
     case_a3_who_closes},
    {{"tofu/9/3", "Origin bit on a Request (a forged engine frame)",
      "A7: tofu treats it as a notification; the reference engine clears it; the connection stays usable",
      R | S},
     case_a7_origin},
    {{"tofu/9/4", "Internal bit A on a Request",
      "A8: tofu keeps bit A on the reply; the reference engine clears it", R | S},
     case_a8_bit_a},
    {{"tofu/9/5", "Internal bit B on a Request",
      "A8: tofu keeps bit B on the reply; the reference engine clears it", R | S},
     case_a8_bit_b},
    {{"tofu/9/6", "A Request before any HelloRequest", "A14: no handshake enforcement", R},
     case_a14_no_hello},
    {{"tofu/9/7", "Two interleaved streamed requests are not reassembled",
      "A18: more is pure pass-through, per frame", R | M},
     case_a18_interleaved_more},
    {{"tofu/9/8", "Status and more are delivered unchanged", "A7: status and more reach the app as received",
      R | M | S},
     case_a7_status_more_passthrough},
};

const size_t tlc_server_case_count = sizeof tlc_server_cases / sizeof tlc_server_cases[0];
