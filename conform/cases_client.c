/*
 * Conformance cases, client role: we listen, act as tofu's EchoService
 * (PROTOCOL.md section 7) and check a peer's client that runs tofu's
 * EchoClient sequence: HelloRequest (id, ~connect_to header, body = native
 * header copy taken before post), wait for the HelloResponse, Requests with
 * ids 1..N one at a time (body = native header copy), then a local abort
 * (nothing on the wire, the connection is reset).
 *
 * One session is run (the first client that connects); every case is then
 * judged on it. To observe the client's reactions the session
 *   - waits a quiet window before answering the HelloRequest and the first
 *     Request (nothing must arrive meanwhile),
 *   - sends the reply to the second Request one byte per write.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cases.h"
#include "case.h"
#include "echo.h"
#include "net.h"
#include "util.h"

#define SC                 0x3c4du /* our channel number, as in the golden vectors */
#define MAX_SESSION_FRAMES 100000u

#define END_CLOSED_EOF   1
#define END_CLOSED_RESET 2
#define END_TIMEOUT      3
#define END_FLOOD        4
#define END_LIMIT        5

struct tlc_session {
    tlc_frame *frames; /* frames from the client, in order */
    size_t n;
    size_t cap;
    size_t requests;           /* Request frames processed */
    int hello_first;           /* the first frame was a HelloRequest and we answered it */
    size_t before_hello_reply; /* frames that arrived while we held the HelloResponse */
    int req1_held;             /* we held the reply to the first Request */
    size_t before_req1_reply;  /* frames that arrived meanwhile */
    int split_reply_sent;      /* the reply to the second Request went byte by byte */
    size_t split_index;        /* frame index of that Request */
    int end;                   /* END_* */
    uint8_t partial[64];       /* start of bytes left that are not a whole frame */
    size_t partial_len;        /* bytes left */
};

void tlc_session_free(struct tlc_session *s)
{
    size_t i;

    if (s == NULL) {
        return;
    }
    for (i = 0; i < s->n; i++) {
        tlc_frame_free(&s->frames[i]);
    }
    free(s->frames);
    free(s);
}

static int push(struct tlc_session *s, tlc_frame *f)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        tlc_frame *nf = realloc(s->frames, ncap * sizeof *nf);

        if (nf == NULL) {
            tlc_frame_free(f);
            return -1;
        }
        s->frames = nf;
        s->cap = ncap;
    }
    s->frames[s->n++] = *f;
    return 0;
}

/* Take every frame that arrives until deadline. Returns the rx result that
 * ended the wait. */
static int collect(struct tlc_session *s, tlc_conn *k, uint64_t deadline)
{
    for (;;) {
        tlc_frame f;
        int r = tlc_recv(k, deadline, &f);

        if (r != TLC_RX_FRAME) {
            return r;
        }
        if (push(s, &f) != 0 || s->n >= MAX_SESSION_FRAMES) {
            return TLC_RX_FLOOD;
        }
    }
}

static int reply(tlc_conn *k, const tlc_frame *in, const tlc_split *split)
{
    tlc_out o = {0};
    int rc = 0;

    tlc_make_echo(in, SC, &o);
    if (o.frames > 0) {
        rc = tlc_send_out(k, &o, split, "echo");
    }
    tlc_out_free(&o);
    return rc;
}

static int accept_one(tlc_run *run, int lfd)
{
    unsigned ms = run->opt.accept_timeout_ms ? run->opt.accept_timeout_ms : 10u * run->timeout_ms;
    uint64_t deadline = tlc_now_us() + (uint64_t)ms * 1000u;

    for (;;) {
        struct pollfd pf;
        uint64_t now = tlc_now_us();
        int fd;

        if (now >= deadline) {
            return -1;
        }
        pf.fd = lfd;
        pf.events = POLLIN;
        pf.revents = 0;
        if (poll(&pf, 1, (int)((deadline - now) / 1000u > 1000u ? 1000u : (deadline - now) / 1000u + 1u)) <=
            0) {
            continue;
        }
        fd = accept(lfd, NULL, NULL);
        if (fd >= 0) {
            return fd;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
            return -1;
        }
    }
}

int tlc_client_session(tlc_run *run, int lfd, tl_conform_result *log)
{
    tlc_case sc;
    struct tlc_session *s;
    tlc_conn *k;
    size_t p = 0;
    int fd;
    uint64_t limit;

    memset(&sc, 0, sizeof sc);
    sc.run = run;
    sc.res = log;
    sc.worst = -1;
    sc.t0 = tlc_now_us();
    fd = accept_one(run, lfd);
    if (fd < 0) {
        return TL_E_TIMEOUT;
    }
    s = calloc(1, sizeof *s);
    k = s != NULL ? tlc_conn_wrap(&sc, fd) : NULL;
    if (k == NULL) {
        free(s);
        close(fd);
        return TL_E_NOMEM;
    }
    run->session = s;
    tlc_event_note(&sc, k->num, "a client connected to %s", run->bound);
    /* However the client trickles, the session ends: 60 timeouts, at least 60 s. */
    limit = 60u * (uint64_t)run->timeout_ms * 1000u;
    limit = tlc_now_us() + (limit < 60000000u ? 60000000u : limit);
    for (;;) {
        const tlc_frame *f;
        unsigned op;
        int r = TLC_RX_FRAME;
        uint64_t dl = tlc_deadline(&sc);

        if (tlc_now_us() >= limit) {
            s->end = END_LIMIT;
            break;
        }
        if (s->n <= p) {
            tlc_frame nf;

            r = tlc_recv(k, dl < limit ? dl : limit, &nf);
            if (r != TLC_RX_FRAME) {
                s->end = r == TLC_RX_CLOSED
                             ? (k->closed == TLC_CLOSED_EOF ? END_CLOSED_EOF : END_CLOSED_RESET)
                         : r == TLC_RX_FLOOD ? END_FLOOD
                                             : END_TIMEOUT;
                break;
            }
            if (push(s, &nf) != 0) {
                s->end = END_FLOOD;
                break;
            }
            (void)collect(s, k, tlc_now_us()); /* whole frames already here */
        }
        f = &s->frames[p++];
        op = tl_proto_opcode(f->h.proto);
        if (p == 1 && op == TL_OP_HELLO_REQUEST) {
            (void)collect(s, k, tlc_quiet_deadline(&sc));
            s->before_hello_reply = s->n - p;
            s->hello_first = 1;
            f = &s->frames[p - 1]; /* collect may have moved the array */
            r = reply(k, f, NULL);
        } else if (op == TL_OP_REQUEST) {
            s->requests++;
            if (s->requests == 1) {
                (void)collect(s, k, tlc_quiet_deadline(&sc));
                s->req1_held = 1;
                s->before_req1_reply = s->n - p;
                f = &s->frames[p - 1];
                r = reply(k, f, NULL);
            } else if (s->requests == 2) {
                tlc_split split = {TLC_SPLIT_BYTES, 0, NULL, 0, 200};

                s->split_reply_sent = 1;
                s->split_index = p - 1;
                r = reply(k, f, &split);
            } else {
                r = reply(k, f, NULL);
            }
        } else if (op == TL_OP_BYE_SIGNAL) {
            /* we abort instead of echoing op 7 (A2); wait for the close */
            r = 0;
        } else {
            r = reply(k, f, NULL);
        }
        if (r != 0) {
            s->end = k->closed == TLC_CLOSED_EOF ? END_CLOSED_EOF : END_CLOSED_RESET;
            break;
        }
        if (s->n >= MAX_SESSION_FRAMES) {
            s->end = END_LIMIT;
            break;
        }
    }
    if (s->n < MAX_SESSION_FRAMES) {
        (void)collect(s, k, tlc_now_us()); /* whole frames still buffered */
    }
    if (k->rx_len > 0) {
        s->partial_len = k->rx_len;
        memcpy(s->partial, k->rx, k->rx_len < sizeof s->partial ? k->rx_len : sizeof s->partial);
    }
    tlc_close(k, 1);
    tlc_sb_free(&sc.detail);
    return TL_OK;
}

/* ---- helpers for the cases ---- */

static struct tlc_session *session(tlc_case *c)
{
    tlc_copy_events(c, c->run->session_log);
    return c->run->session;
}

static const char *op_name(unsigned op)
{
    const char *n = tl_opcode_name(op);
    return n != NULL ? n : "undefined";
}

static const tlc_frame *hello(tlc_case *c, struct tlc_session *s)
{
    if (s->n == 0) {
        tlc_fail(c, "the client sent no complete frame");
        return NULL;
    }
    if (tl_proto_opcode(s->frames[0].h.proto) != TL_OP_HELLO_REQUEST) {
        tlc_fail(c, "the first frame is a %s, not a HelloRequest",
                 op_name(tl_proto_opcode(s->frames[0].h.proto)));
        return NULL;
    }
    return &s->frames[0];
}

static const char *end_text(int end)
{
    switch (end) {
    case END_CLOSED_EOF: return "closed the connection (end of stream)";
    case END_CLOSED_RESET: return "reset the connection";
    case END_TIMEOUT: return "went silent without closing";
    case END_FLOOD: return "flooded us";
    case END_LIMIT: return "kept going past the session's limit (100000 frames or 60 timeouts)";
    default: return "?";
    }
}

/* ---- cases ---- */

static void case_no_partial(tlc_case *c)
{
    struct tlc_session *s = session(c);

    if (s->partial_len > 0) {
        tlc_fail(c, "%zu bytes that do not make a whole frame were left when the client %s", s->partial_len,
                 end_text(s->end));
    }
}

static void case_big_endian(tlc_case *c)
{
    struct tlc_session *s = session(c);

    if (s->n == 0 && s->partial_len >= TL_HEADER_SIZE) {
        tl_header be, le;

        tl_header_decode(s->partial, &be);
        tl_header_decode_native(s->partial, &le);
        if (TL_HEADER_SIZE + (size_t)le.thl + le.bl <= s->partial_len) {
            tlc_fail(
                c,
                "the first header read big-endian announces thl %u bl %u but only %zu bytes came; read "
                "little-endian it is a whole %s frame: the client encodes the header little-endian (1.2, A1)",
                be.thl, be.bl, s->partial_len, op_name(tl_proto_opcode(le.proto)));
        } else {
            tlc_fail(c, "the first header announces thl %u bl %u but only %zu bytes came", be.thl, be.bl,
                     s->partial_len);
        }
        return;
    }
    if (s->n == 0) {
        tlc_fail(c, "the client sent no complete frame");
        return;
    }
    tlc_note(c, "%zu frames decoded", s->n);
}

static void case_flags(tlc_case *c)
{
    struct tlc_session *s = session(c);
    size_t i;

    if (s->n == 0) {
        tlc_fail(c, "the client sent no complete frame");
    }
    for (i = 0; i < s->n; i++) {
        uint8_t p = s->frames[i].h.proto;

        if (p & TL_PROTO_ORIGIN) {
            tlc_fail(c, "frame %zu has the origin bit set; post forces origin application (5 step 3)", i + 1);
        }
        if (p & TL_PROTO_MORE) {
            tlc_fail(c, "frame %zu has the more flag; EchoClient never streams", i + 1);
        }
        if (p & (TL_PROTO_BIT_A | TL_PROTO_BIT_B)) {
            tlc_nonstrict(
                c,
                "frame %zu carries internal bits 0x%02x; tofu's post lets them leak (A8), the reference "
                "engine clears them",
                i + 1, p & 0xC0u);
        }
        if (!tlc_clean(c) && i > 8) {
            break;
        }
    }
}

static void case_status_zero(tlc_case *c)
{
    struct tlc_session *s = session(c);
    size_t i;

    if (s->n == 0) {
        tlc_fail(c, "the client sent no complete frame");
    }
    for (i = 0; i < s->n; i++) {
        if (s->frames[i].h.status != 0) {
            tlc_fail(c, "frame %zu has status %u; post forces 0 (3, 5 step 3)", i + 1, s->frames[i].h.status);
            break;
        }
    }
}

static void case_text_lines(tlc_case *c)
{
    struct tlc_session *s = session(c);
    size_t i;

    for (i = 0; i < s->n; i++) {
        const uint8_t *t = s->frames[i].text;
        size_t len = s->frames[i].h.thl, pos = 0;

        while (pos < len) {
            size_t e = pos, colon = (size_t)-1;

            while (e + 1 < len && !(t[e] == '\r' && t[e + 1] == '\n')) {
                if (t[e] == ':' && colon == (size_t)-1) {
                    colon = e;
                }
                e++;
            }
            if (e + 1 >= len) {
                tlc_fail(c, "frame %zu: text headers do not end with CR LF (4.1: name:value\\r\\n)", i + 1);
                break;
            }
            if (colon == (size_t)-1 || colon == pos || colon + 1 == e) {
                tlc_fail(c, "frame %zu: a header line without name, colon or value at byte %zu (4.1)", i + 1,
                         pos);
                break;
            }
            pos = e + 2;
        }
    }
    if (s->n == 0) {
        tlc_fail(c, "the client sent no complete frame");
    }
}

static void case_connect_to_parses(tlc_case *c)
{
    struct tlc_session *s = session(c);
    const tlc_frame *h = hello(c, s);
    tl_address a;
    tl_status st;

    if (h == NULL) {
        return;
    }
    st = tl_address_from_headers(h->text, h->h.thl, TL_OP_HELLO_REQUEST, &a);
    if (st == TL_STATUS_WRONG_ADDRESS) {
        tlc_fail(c, "the HelloRequest has no text headers; post refuses a HelloRequest without an address (5 "
                    "step 8)");
    } else if (st != TL_STATUS_SUCCESS) {
        tlc_fail(c,
                 "the HelloRequest's first address header is not ~connect_to:tcp|host|port or uds|path (4.3, "
                 "A12)");
    }
}

static void case_connect_to_matches(tlc_case *c)
{
    struct tlc_session *s = session(c);
    const tlc_frame *h = hello(c, s);
    tl_address a, ours;
    char text[TL_ADDR_TEXT_MAX];

    if (h == NULL) {
        return;
    }
    if (tl_address_from_headers(h->text, h->h.thl, TL_OP_HELLO_REQUEST, &a) != TL_STATUS_SUCCESS) {
        tlc_fail(c, "no parsable ~connect_to header");
        return;
    }
    if (tl_address_parse(c->run->bound, strlen(c->run->bound), &ours) != TL_OK) {
        return;
    }
    tl_address_format(&a, text, sizeof text);
    if (a.kind != ours.kind || (a.kind == TL_ADDR_UDS && strcmp(a.path, ours.path) != 0) ||
        (a.kind == TL_ADDR_TCP && (a.port != ours.port || strcmp(a.host, ours.host) != 0))) {
        tlc_inform(
            c,
            "~connect_to names %s; we listen at %s (a name, a wildcard or a forwarded port may explain "
            "it)",
            text, c->run->bound);
    } else {
        tlc_note(c, "~connect_to:%s", text);
    }
}

static void case_hello_id(tlc_case *c)
{
    struct tlc_session *s = session(c);
    const tlc_frame *h = hello(c, s);

    if (h != NULL && h->h.message_id == 0) {
        tlc_fail(c, "the HelloRequest has message_id 0; post assigns a non-zero id (5 step 10)");
    }
}

static void case_first_is_hello(tlc_case *c)
{
    struct tlc_session *s = session(c);

    if (hello(c, s) != NULL) {
        tlc_note(c, "the first frame is a HelloRequest, id %llu",
                 (unsigned long long)s->frames[0].h.message_id);
    }
}

static void case_hello_channel(tlc_case *c)
{
    struct tlc_session *s = session(c);
    const tlc_frame *h = hello(c, s);

    if (h == NULL) {
        return;
    }
    if (h->h.channel == TL_CHANNEL_NONE || h->h.channel == TL_CHANNEL_INTERNAL) {
        tlc_fail(
            c,
            "the HelloRequest carries channel %u; it carries the client's own number, 1-65534 (6.4 step 5)",
            h->h.channel);
    }
}

static void case_waits_for_hello_response(tlc_case *c)
{
    struct tlc_session *s = session(c);

    if (hello(c, s) == NULL) {
        return;
    }
    if (s->before_hello_reply > 0) {
        tlc_fail(c,
                 "%zu frame%s arrived while we held the HelloResponse for %u ms; EchoClient waits for it (7)",
                 s->before_hello_reply, s->before_hello_reply == 1 ? "" : "s", c->run->quiet_ms);
    }
}

static void case_abort(tlc_case *c)
{
    struct tlc_session *s = session(c);
    size_t i;

    for (i = 0; i < s->n; i++) {
        unsigned op = tl_proto_opcode(s->frames[i].h.proto);

        if (op == TL_OP_BYE_REQUEST) {
            tlc_fail(
                c,
                "the client sent a ByeRequest (frame %zu); EchoClient aborts locally with ByeSignal + bit A, "
                "which puts nothing on the wire (7, 6.8)",
                i + 1);
        } else if (op == TL_OP_BYE_SIGNAL) {
            tlc_nonstrict(
                c,
                "the client sent a ByeSignal frame (proto 0x%02x); tofu transmits op 7 when bit A is "
                "missing (A2), the reference engine never does",
                s->frames[i].h.proto);
        }
    }
}

static void case_closes(tlc_case *c)
{
    struct tlc_session *s = session(c);

    if (s->end == END_CLOSED_RESET) {
        tlc_note(c, "the client reset the connection (SO_LINGER 0, as tofu closes)");
    } else if (s->end == END_CLOSED_EOF) {
        tlc_note(c, "the client closed the connection with an orderly shutdown (tofu resets)");
    } else {
        tlc_fail(
            c,
            "the client %s within %u ms of its last frame; EchoClient aborts the channel, which closes it "
            "(6.8)",
            end_text(s->end), c->run->timeout_ms);
    }
}

static void case_hello_body(tlc_case *c)
{
    struct tlc_session *s = session(c);
    const tlc_frame *h = hello(c, s);
    tl_header nb;

    if (h == NULL) {
        return;
    }
    if (h->h.bl != TL_HEADER_SIZE) {
        tlc_fail(c, "the HelloRequest body has %u bytes; EchoClient's body is the 16-byte header copy (V19)",
                 h->h.bl);
        return;
    }
    tl_header_decode_native(h->body, &nb);
    if (nb.channel != 0 || nb.proto != TL_OP_HELLO_REQUEST || nb.status != 0 || nb.message_id != 0 ||
        nb.thl != 0 || nb.bl != 0) {
        tlc_fail(
            c,
            "the HelloRequest body decodes to channel %u proto 0x%02x status %u id %llu thl %u bl %u; the "
            "copy taken before post is channel 0 proto 0x03 and zeros (V19)",
            nb.channel, nb.proto, nb.status, (unsigned long long)nb.message_id, nb.thl, nb.bl);
    }
}

/* Index of the i-th Request frame, or s->n. */
static size_t nth_request(const struct tlc_session *s, size_t i)
{
    size_t j, seen = 0;

    for (j = 0; j < s->n; j++) {
        if (tl_proto_opcode(s->frames[j].h.proto) == TL_OP_REQUEST) {
            if (seen == i) {
                return j;
            }
            seen++;
        }
    }
    return s->n;
}

static size_t count_requests(tlc_case *c, const struct tlc_session *s)
{
    size_t n = 0, j;

    for (j = 0; j < s->n; j++) {
        n += tl_proto_opcode(s->frames[j].h.proto) == TL_OP_REQUEST;
    }
    if (n == 0) {
        tlc_fail(c, "the client sent no Request (EchoClient sends N >= 1)");
    }
    return n;
}

static void case_request_ids(tlc_case *c)
{
    struct tlc_session *s = session(c);
    size_t n = count_requests(c, s), i;

    for (i = 0; i < n; i++) {
        const tlc_frame *f = &s->frames[nth_request(s, i)];

        if (f->h.message_id != i + 1) {
            tlc_fail(c, "Request #%zu has message_id %llu; EchoClient numbers its requests 1..N (7)", i + 1,
                     (unsigned long long)f->h.message_id);
            return;
        }
    }
    if (n > 0) {
        tlc_note(c, "Requests 1..%zu", n);
    }
}

static void case_request_channel(tlc_case *c)
{
    struct tlc_session *s = session(c);
    const tlc_frame *h = hello(c, s);
    size_t n = count_requests(c, s), i;

    if (h == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        const tlc_frame *f = &s->frames[nth_request(s, i)];

        if (f->h.channel != h->h.channel) {
            tlc_fail(
                c,
                "Request #%zu carries channel 0x%04x, the HelloRequest 0x%04x; one connection, one channel "
                "(6.6)",
                i + 1, f->h.channel, h->h.channel);
            return;
        }
    }
}

static void case_request_body(tlc_case *c)
{
    struct tlc_session *s = session(c);
    size_t n = count_requests(c, s), i;

    for (i = 0; i < n; i++) {
        const tlc_frame *f = &s->frames[nth_request(s, i)];
        tl_header nb;

        if (f->h.bl != TL_HEADER_SIZE) {
            tlc_fail(c, "Request #%zu has a %u-byte body; EchoClient's body is its 16-byte header copy (V21)",
                     i + 1, f->h.bl);
            return;
        }
        tl_header_decode_native(f->body, &nb);
        if (nb.channel != f->h.channel || nb.proto != TL_OP_REQUEST || nb.status != 0 ||
            nb.message_id != f->h.message_id || nb.thl != 0 || nb.bl != 0) {
            tlc_fail(
                c,
                "Request #%zu body decodes to channel 0x%04x proto 0x%02x status %u id %llu thl %u bl %u; "
                "expected the copy taken before post: channel 0x%04x proto 0x00 status 0 id %llu thl 0 bl 0 "
                "(V21)",
                i + 1, nb.channel, nb.proto, nb.status, (unsigned long long)nb.message_id, nb.thl, nb.bl,
                f->h.channel, (unsigned long long)f->h.message_id);
            return;
        }
    }
}

static void case_request_no_text(tlc_case *c)
{
    struct tlc_session *s = session(c);
    size_t n = count_requests(c, s), i;

    for (i = 0; i < n; i++) {
        const tlc_frame *f = &s->frames[nth_request(s, i)];

        if (f->h.thl != 0) {
            tlc_fail(c, "Request #%zu has %u bytes of text headers; EchoClient's requests have none (V21)",
                     i + 1, f->h.thl);
            return;
        }
    }
}

static void case_one_at_a_time(tlc_case *c)
{
    struct tlc_session *s = session(c);

    if (count_requests(c, s) == 0) {
        return;
    }
    if (s->before_req1_reply > 0) {
        tlc_fail(
            c,
            "%zu frame%s arrived while we held the reply to Request #1 for %u ms; EchoClient waits for each "
            "Response (7)",
            s->before_req1_reply, s->before_req1_reply == 1 ? "" : "s", c->run->quiet_ms);
    }
}

static void case_after_split_reply(tlc_case *c)
{
    struct tlc_session *s = session(c);

    if (!s->split_reply_sent) {
        tlc_unimplemented(c, "the client sent fewer than 2 Requests, so no reply was sent byte by byte");
        return;
    }
    if (s->n > s->split_index + 1) {
        tlc_note(c, "the client went on after the byte-by-byte Response");
    } else if (s->end == END_CLOSED_EOF || s->end == END_CLOSED_RESET) {
        tlc_note(c, "the client closed after the byte-by-byte Response (its last)");
    } else {
        tlc_fail(c,
                 "after the Response to Request #2 arrived byte by byte the client %s (1.1: frames are read "
                 "whatever the segmentation)",
                 end_text(s->end));
    }
}

#define SES TL_CONFORM_CHECKS_SESSION

const tlc_case_def tlc_client_cases[] = {
    {{"tofu/1.1/1", "No partial frame is left when the client goes", "1.1: frames are whole, concatenated",
      SES},
     case_no_partial},
    {{"tofu/1.2/1", "Header fields are big-endian: the client's frames decode",
      "1.2, A1: big-endian per field at fixed offsets", SES},
     case_big_endian},
    {{"tofu/1.4/1", "Every frame: origin application, no more flag, internal bits clear",
      "1.4, 5 step 3, A8; EchoClient never streams", SES},
     case_flags},
    {{"tofu/3/1", "Every frame has status 0", "3, 5 step 3: post forces status 0", SES}, case_status_zero},
    {{"tofu/4.1/1", "Text headers are name:value CRLF lines", "4.1", SES}, case_text_lines},
    {{"tofu/4.3/1", "The HelloRequest carries ~connect_to:tcp|host|port or uds|path", "4.3, 5 step 8, A12",
      SES},
     case_connect_to_parses},
    {{"tofu/4.3/2", "~connect_to names the address the client connected to", "4.3", SES},
     case_connect_to_matches},
    {{"tofu/5/1", "The HelloRequest has a non-zero message_id", "5 step 10: post assigns ids from 1", SES},
     case_hello_id},
    {{"tofu/6.4/1", "The first frame is a HelloRequest", "6.4 step 4: the HelloRequest is the first frame",
      SES},
     case_first_is_hello},
    {{"tofu/6.4/2", "The HelloRequest carries the client's own channel number",
      "6.4 step 5: channel = Cc, non-zero, not 65535", SES},
     case_hello_channel},
    {{"tofu/6.4/3", "Nothing is sent before our HelloResponse", "7: EchoClient waits for the HelloResponse",
      SES},
     case_waits_for_hello_response},
    {{"tofu/6.8/1", "The client aborts: no ByeRequest and no ByeSignal on the wire",
      "7, 6.8: ByeSignal with bit A is a local abort; A2", SES},
     case_abort},
    {{"tofu/6.8/2", "The client closes the connection after its last Request",
      "6.8: the abort closes the socket (RST in tofu)", SES},
     case_closes},
    {{"tofu/7/1", "The HelloRequest body is the header copy taken before post (V19)", "7: EchoClient", SES},
     case_hello_body},
    {{"tofu/7/2", "Requests have message_ids 1..N in order", "7: EchoClient", SES}, case_request_ids},
    {{"tofu/7/3", "Requests travel on the HelloRequest's channel", "6.6, 7", SES}, case_request_channel},
    {{"tofu/7/4", "Each Request body is the client's header copy (V21)", "7: EchoClient", SES},
     case_request_body},
    {{"tofu/7/5", "Requests carry no text headers", "7: EchoClient (V21)", SES}, case_request_no_text},
    {{"tofu/7/6", "One Request at a time: the next only after our Response",
      "7: EchoClient waits for each Response", SES},
     case_one_at_a_time},
    {{"tofu/7/7", "The client goes on after a Response delivered byte by byte",
      "1.1: a receiver reads whole frames whatever the segmentation", SES},
     case_after_split_reply},
};

const size_t tlc_client_case_count = sizeof tlc_client_cases / sizeof tlc_client_cases[0];
