/*
 * fuzz-peer: seeds and mutators. A case is mutated at four levels:
 *   structure  header fields (every op code 0-15, origin / more / A / B, every
 *              status, message_id 0 and 2^64-1, channel, lengths that lie in
 *              both directions), text headers (missing colons, empty names, CR
 *              without LF, up to 65535 bytes, binary), bodies;
 *   sequence   no Hello, two Hellos, data after Bye, interleaved streams with
 *              more, pipelining hundreds of frames, splicing other entries;
 *   bytes      bit flips, interesting bytes, dictionary tokens, cuts;
 *   delivery   writes split anywhere (every offset of a header, one byte per
 *              write), a stall mid-frame, a reset mid-frame, FIN or RST.
 */
#include <stdlib.h>
#include <string.h>

#include "../conform/conform.h"
#include "internal.h"

int fp_list_add(fp_list *l, const void *data, size_t len)
{
    fp_buf *ni = fp_grow(l->items, &l->cap, l->n, sizeof *ni, 16);

    if (ni == NULL) {
        return -1;
    }
    l->items = ni;
    memset(&l->items[l->n], 0, sizeof l->items[l->n]);
    if (fp_buf_set(&l->items[l->n], data, len) != 0) {
        return -1;
    }
    l->n++;
    return 0;
}

void fp_list_free(fp_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        fp_buf_free(&l->items[i]);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

#define CH              0x1a2bu
#define FP_PIPELINE_MAX (64u * 1024u) /* a pipelined case stays under this */
#define R(n)            fp_below(m->rng, (uint64_t)(n))
#define CHANCE(k)       (R(k) == 0)

/* ---- seeds ---- */

static int seed_add(fp_corpus *c, fp_seq *s)
{
    fp_buf b = {0};
    int rc = fp_seq_write(s, &b);

    if (rc == 0) {
        rc = fp_corpus_add(c, b.p, b.len, 1);
    }
    fp_buf_free(&b);
    fp_seq_free(s);
    return rc;
}

static int push(fp_seq *s, unsigned proto, uint64_t id, const void *text, size_t tl, const void *body,
                size_t bl)
{
    fp_sframe f;
    int rc;

    if (fp_sframe_make(&f, proto, id, text, tl, body, bl) != 0) {
        return -1;
    }
    rc = fp_seq_insert(s, s->n, &f);
    fp_sframe_free(&f);
    return rc;
}

int fp_builtin_seeds(fp_corpus *c, const uint8_t *ht, size_t htl)
{
    static const char v12_text[] = "Content-Type:application/json\r\nJob-ID:12345\r\n";
    static const char listen_on[] = "~listen_on:tcp|0.0.0.0|7099\r\n";
    uint8_t nb[TL_HEADER_SIZE];
    uint8_t big[4096];
    fp_seq s;
    int rc = 0;
    unsigned i;

    memset(big, 'b', sizeof big);
    tl_conform_echo_body(nb, CH, TL_OP_HELLO_REQUEST, 0);
#define SEQ_BEGIN() memset(&s, 0, sizeof s)
#define HELLO(id)   push(&s, TL_OP_HELLO_REQUEST, (id), ht, htl, nb, sizeof nb)
    /* EchoClient: Hello, then Requests whose body is their own header (V19, V21). */
    SEQ_BEGIN();
    HELLO(5);
    for (i = 1; i <= 3; i++) {
        uint8_t rb[TL_HEADER_SIZE];

        tl_conform_echo_body(rb, CH, TL_OP_REQUEST, i);
        push(&s, TL_OP_REQUEST, i, NULL, 0, rb, sizeof rb);
    }
    rc |= seed_add(c, &s);
    /* Signal; heartbeat Signal with id 0 (10). */
    SEQ_BEGIN();
    HELLO(1);
    push(&s, TL_OP_SIGNAL, 42, NULL, 0, "2", 1);
    push(&s, TL_OP_SIGNAL, 0, NULL, 0, NULL, 0);
    rc |= seed_add(c, &s);
    /* Streaming client -> server (10): Request 0x20 x3, then 0x00. */
    SEQ_BEGIN();
    HELLO(1);
    for (i = 0; i < 3; i++) {
        push(&s, TL_OP_REQUEST | TL_PROTO_MORE, 7, NULL, 0, "part", 4);
    }
    push(&s, TL_OP_REQUEST, 7, NULL, 0, "last", 4);
    rc |= seed_add(c, &s);
    /* Interleaved streams. */
    SEQ_BEGIN();
    HELLO(1);
    push(&s, TL_OP_REQUEST | TL_PROTO_MORE, 10, NULL, 0, "a1", 2);
    push(&s, TL_OP_REQUEST | TL_PROTO_MORE, 11, NULL, 0, "b1", 2);
    push(&s, TL_OP_SIGNAL | TL_PROTO_MORE, 12, NULL, 0, "c1", 2);
    push(&s, TL_OP_REQUEST, 10, NULL, 0, "a2", 2);
    push(&s, TL_OP_SIGNAL, 12, NULL, 0, "c2", 2);
    push(&s, TL_OP_REQUEST, 11, NULL, 0, "b2", 2);
    rc |= seed_add(c, &s);
    /* V12: text headers and body. */
    SEQ_BEGIN();
    HELLO(1);
    push(&s, TL_OP_REQUEST, 0x0102030405060708ull, v12_text, sizeof v12_text - 1, "{\"a\":1}", 7);
    rc |= seed_add(c, &s);
    /* Graceful close; data after Bye; ByeSignal without A (A2). */
    SEQ_BEGIN();
    HELLO(1);
    push(&s, TL_OP_REQUEST, 2, NULL, 0, "x", 1);
    push(&s, TL_OP_BYE_REQUEST, 3, NULL, 0, NULL, 0);
    rc |= seed_add(c, &s);
    SEQ_BEGIN();
    HELLO(1);
    push(&s, TL_OP_BYE_REQUEST, 3, NULL, 0, NULL, 0);
    push(&s, TL_OP_REQUEST, 4, NULL, 0, "after bye", 9);
    push(&s, TL_OP_SIGNAL, 5, NULL, 0, NULL, 0);
    rc |= seed_add(c, &s);
    SEQ_BEGIN();
    HELLO(1);
    push(&s, TL_OP_BYE_SIGNAL, 9, NULL, 0, NULL, 0);
    rc |= seed_add(c, &s);
    /* No Hello; two Hellos. */
    SEQ_BEGIN();
    push(&s, TL_OP_REQUEST, 42, NULL, 0, "hello", 5);
    rc |= seed_add(c, &s);
    SEQ_BEGIN();
    HELLO(1);
    HELLO(2);
    push(&s, TL_OP_REQUEST, 3, NULL, 0, NULL, 0);
    rc |= seed_add(c, &s);
    /* WelcomeRequest from a client: dropped inside the server (7). */
    SEQ_BEGIN();
    HELLO(1);
    push(&s, TL_OP_WELCOME_REQUEST, 8, listen_on, sizeof listen_on - 1, NULL, 0);
    push(&s, TL_OP_REQUEST, 9, NULL, 0, NULL, 0);
    rc |= seed_add(c, &s);
    /* Pipelining. */
    SEQ_BEGIN();
    HELLO(1);
    for (i = 0; i < 64; i++) {
        push(&s, TL_OP_REQUEST, 100 + i, NULL, 0, big, 16);
    }
    rc |= seed_add(c, &s);
    /* A larger body and a larger text block. */
    SEQ_BEGIN();
    HELLO(1);
    push(&s, TL_OP_REQUEST, 2, NULL, 0, big, sizeof big);
    push(&s, TL_OP_SIGNAL, 3, big, 1000, NULL, 0);
    rc |= seed_add(c, &s);
#undef SEQ_BEGIN
#undef HELLO
    return rc != 0 ? -1 : 0;
}

/* ---- pieces ---- */

static const char *const builtin_addrs[] = {
    "tcp|127.0.0.1|7099",
    "uds|/tmp/tofu.sock",
    "tcp||7099",
    "tcp|::1|7099",
    "a|b|c|d",
    "tcp|127.0.0.1|",
    "uds|",
    "tcp|h|99999",
    "\"tcp|h|1\"",
    "tcp|127.0.0.1|+7099",
};

static const uint8_t interesting8[] = {0x00, 0x01, 0x0a, 0x0d, 0x10, 0x1f, 0x20, 0x3a,
                                       0x7f, 0x80, 0xfe, 0xff, 0x0f, 0x15, 0x47, 0x57};

static const uint64_t interesting_ids[] = {0,
                                           1,
                                           2,
                                           0x7fffffffffffffffull,
                                           0x8000000000000000ull,
                                           0xffffffffffffffffull,
                                           0xfffffffffffffffeull,
                                           0x100000000ull,
                                           0xffffffffull,
                                           1000};

static const uint8_t interesting_status[] = {0,  1,  2,  5,  6,  12, 17,   18,   19,
                                             21, 22, 28, 30, 31, 32, 0x7f, 0x80, 0xff};

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
    size_t i;

    for (i = 0; i < n; i++) {
        p[i] = (uint8_t)('a' + (seed + i) % 26u);
    }
}

static size_t big_len(fp_mutator *m)
{
    static const size_t lens[] = {65535, 65534, 60001, 60000, 32768, 16384, 4097};

    if (CHANCE(4)) {
        return 1 + (size_t)R(65535);
    }
    return lens[R(sizeof lens / sizeof lens[0])];
}

static void add_dict(fp_mutator *m, fp_buf *b, size_t at)
{
    const fp_list *d = &m->corpus->dict;

    if (d->n > 0) {
        const fp_buf *t = &d->items[R(d->n)];
        fp_buf_insert(b, at, t->p, t->len);
    } else {
        uint8_t ch = interesting8[R(sizeof interesting8)];
        fp_buf_insert(b, at, &ch, 1);
    }
}

/* A text headers block of one of the shapes section 4 names. */
static void make_text(fp_mutator *m, fp_buf *t)
{
    static const char *const shapes[] = {
        "no-colon-here\r\n",
        ":empty-name\r\nx:y\r\n",
        "a:b\rc:d\r\n",
        "a:b\nc:d\n",
        "  name : value \t\r\n",
        "\r\n\r\na:b\r\n\r\n",
        "a:b",
        "k: v:w\r\n",
        "Content-Type:application/json\r\nJob-ID:12345\r\n",
        "~listen_on:tcp|0.0.0.0|7099\r\n",
    };
    const fp_list *texts = &m->corpus->texts;
    const fp_list *addrs = &m->corpus->addrs;
    unsigned k = (unsigned)R(12);

    t->len = 0;
    switch (k) {
    case 0: fp_buf_set(t, m->hello_text, m->hello_tl); break;
    case 1: {
        fp_buf_set(t, "~connect_to:", 12);
        if (addrs->n > 0 && CHANCE(2)) {
            const fp_buf *a = &addrs->items[R(addrs->n)];
            fp_buf_append(t, a->p, a->len > 400 ? 400 : a->len);
        } else {
            const char *a = builtin_addrs[R(sizeof builtin_addrs / sizeof builtin_addrs[0])];
            fp_buf_append(t, a, strlen(a));
        }
        fp_buf_append(t, "\r\n", 2);
        break;
    }
    case 2: {
        const char *s = shapes[R(sizeof shapes / sizeof shapes[0])];
        fp_buf_set(t, s, strlen(s));
        break;
    }
    case 3: {
        /* Big: "X-Big:aaaa...\r\n" of exactly the chosen length. */
        size_t n = big_len(m);

        if (n < 8) {
            n = 8;
        }
        if (fp_buf_reserve(t, n) == 0) {
            memcpy(t->p, "X-Big:", 6);
            fill_pattern(t->p + 6, n - 8, 0);
            memcpy(t->p + n - 2, "\r\n", 2);
            t->len = n;
        }
        break;
    }
    case 4: {
        size_t n = 1 + (size_t)R(300), i;

        if (fp_buf_reserve(t, n) == 0) {
            for (i = 0; i < n; i++) {
                t->p[i] = (uint8_t)fp_rand(m->rng);
            }
            t->len = n;
        }
        break;
    }
    case 5:
        if (texts->n > 0) {
            const fp_buf *b = &texts->items[R(texts->n)];
            fp_buf_set(t, b->p, b->len > TL_MAX_TEXT_LEN ? TL_MAX_TEXT_LEN : b->len);
        } else {
            fp_buf_set(t, "a:b\r\n", 5);
        }
        break;
    case 6: break; /* empty */
    case 7: {
        unsigned n = 2 + (unsigned)R(200), i;

        for (i = 0; i < n; i++) {
            fp_buf_append(t, "k:v\r\n", 5);
        }
        break;
    }
    case 8: {
        size_t n = 1000 + (size_t)R(4000);

        fp_buf_set(t, "long:", 5);
        if (fp_buf_reserve(t, n + 2) == 0) {
            fill_pattern(t->p + t->len, n, 3);
            t->len += n;
            fp_buf_append(t, "\r\n", 2);
        }
        break;
    }
    case 9: {
        unsigned n = 1 + (unsigned)R(6), i;

        for (i = 0; i < n; i++) {
            add_dict(m, t, t->len);
        }
        break;
    }
    default: {
        /* The Hello header plus more headers after it. */
        const char *s = shapes[R(sizeof shapes / sizeof shapes[0])];

        fp_buf_set(t, m->hello_text, m->hello_tl);
        fp_buf_append(t, s, strlen(s));
        break;
    }
    }
    if (t->len > TL_MAX_TEXT_LEN) {
        t->len = TL_MAX_TEXT_LEN;
    }
}

static void make_body(fp_mutator *m, fp_buf *b, const tl_header *h)
{
    unsigned k = (unsigned)R(7);

    b->len = 0;
    switch (k) {
    case 0: break;
    case 1: {
        size_t n = 1 + (size_t)R(256), i;

        if (fp_buf_reserve(b, n) == 0) {
            for (i = 0; i < n; i++) {
                b->p[i] = (uint8_t)fp_rand(m->rng);
            }
            b->len = n;
        }
        break;
    }
    case 2: {
        size_t n = big_len(m);

        if (fp_buf_reserve(b, n) == 0) {
            fill_pattern(b->p, n, 7);
            b->len = n;
        }
        break;
    }
    case 3: {
        uint8_t nb[TL_HEADER_SIZE];

        tl_conform_echo_body(nb, CH, h->proto, h->message_id);
        fp_buf_set(b, nb, sizeof nb);
        break;
    }
    case 4: add_dict(m, b, 0); break;
    case 5:
        if (m->corpus->texts.n > 0) {
            const fp_buf *t = &m->corpus->texts.items[R(m->corpus->texts.n)];
            fp_buf_set(b, t->p, t->len > TL_MAX_BODY_LEN ? TL_MAX_BODY_LEN : t->len);
        }
        break;
    default: fp_buf_set(b, "hello", 5); break;
    }
}

/* ---- structure mutations (on one frame) ---- */

static void mutate_frame(fp_mutator *m, fp_sframe *f)
{
    unsigned k = (unsigned)R(14);
    tl_header *h = &f->h;

    switch (k) {
    case 0:
    case 1: /* every op code 0-15 */ h->proto = (uint8_t)((h->proto & 0xF0u) | (unsigned)R(16)); break;
    case 2: { /* origin, more, A, B */
        static const uint8_t bits[] = {TL_PROTO_ORIGIN, TL_PROTO_MORE, TL_PROTO_BIT_A, TL_PROTO_BIT_B};
        h->proto ^= bits[R(4)];
        break;
    }
    case 3: h->proto = (uint8_t)R(256); break;
    case 4: /* every status */
        h->status = CHANCE(3) ? (uint8_t)R(256) : interesting_status[R(sizeof interesting_status)];
        break;
    case 5: /* message_id 0 and 2^64-1 among others */
        h->message_id = CHANCE(4) ? fp_rand(m->rng) : interesting_ids[R(sizeof interesting_ids / 8)];
        break;
    case 6: {
        static const uint16_t chans[] = {0, 1, 0xffff, 0x1a2b, 0x3c4d, 0x8000};
        h->channel = CHANCE(3) ? (uint16_t)R(65536) : chans[R(6)];
        break;
    }
    case 7: { /* lengths that lie, in both directions */
        size_t tl = f->text.len, bl = f->body.len;
        long delta;
        static const long deltas[] = {-1, 1, -16, 16, 2, -2, 100, -100};

        f->lie = 1;
        h->thl = (uint16_t)(tl > TL_MAX_TEXT_LEN ? TL_MAX_TEXT_LEN : tl);
        h->bl = (uint16_t)(bl > TL_MAX_BODY_LEN ? TL_MAX_BODY_LEN : bl);
        delta = deltas[R(8)];
        if (CHANCE(2)) {
            long v = CHANCE(4) ? (CHANCE(2) ? 0 : 65535) : (long)h->thl + delta;
            h->thl = (uint16_t)(v < 0 ? 0 : v > 65535 ? 65535 : v);
        } else {
            long v = CHANCE(4) ? (CHANCE(2) ? 0 : 65535) : (long)h->bl + delta;
            h->bl = (uint16_t)(v < 0 ? 0 : v > 65535 ? 65535 : v);
        }
        break;
    }
    case 8:
    case 9: make_text(m, &f->text); break;
    case 10: /* edit the text block */
        if (f->text.len > 0 && CHANCE(2)) {
            f->text.len = (size_t)R(f->text.len);
        } else {
            add_dict(m, &f->text, (size_t)R(f->text.len + 1));
        }
        if (f->text.len > TL_MAX_TEXT_LEN) {
            f->text.len = TL_MAX_TEXT_LEN;
        }
        break;
    case 11:
    case 12: make_body(m, &f->body, h); break;
    default: /* a well-formed frame of another kind */
        h->proto = (uint8_t)R(10);
        h->status = 0;
        f->lie = 0;
        break;
    }
}

/* ---- sequence mutations ---- */

static int hello_frame(fp_mutator *m, fp_sframe *f, uint64_t id)
{
    uint8_t nb[TL_HEADER_SIZE];

    tl_conform_echo_body(nb, CH, TL_OP_HELLO_REQUEST, 0);
    return fp_sframe_make(f, TL_OP_HELLO_REQUEST, id, m->hello_text, m->hello_tl, nb,
                          CHANCE(2) ? sizeof nb : 0);
}

static uint64_t some_id(fp_mutator *m) { return 1 + R(1000); }

static void mutate_seq(fp_mutator *m, fp_seq *s)
{
    unsigned k = (unsigned)R(11);
    fp_sframe f;
    size_t at = s->n > 0 ? (size_t)R(s->n) : 0;

    switch (k) {
    case 0: /* no Hello / a Hello first */
        if (s->n > 0 && tl_proto_opcode(s->f[0].h.proto) == TL_OP_HELLO_REQUEST) {
            fp_seq_remove(s, 0);
        } else if (hello_frame(m, &f, some_id(m)) == 0) {
            fp_seq_insert(s, 0, &f);
            fp_sframe_free(&f);
        }
        break;
    case 1: /* two Hellos */
        if (hello_frame(m, &f, some_id(m)) == 0) {
            fp_seq_insert(s, (size_t)R(s->n + 1), &f);
            fp_sframe_free(&f);
        }
        break;
    case 2: { /* data after Bye */
        unsigned n = 1 + (unsigned)R(3), i;

        if (fp_sframe_make(&f, TL_OP_BYE_REQUEST, some_id(m), NULL, 0, NULL, 0) == 0) {
            fp_seq_insert(s, s->n, &f);
            fp_sframe_free(&f);
        }
        for (i = 0; i < n; i++) {
            static const unsigned ops[] = {TL_OP_REQUEST, TL_OP_SIGNAL, TL_OP_BYE_REQUEST,
                                           TL_OP_HELLO_REQUEST};
            if (fp_sframe_make(&f, ops[R(4)], some_id(m), NULL, 0, "late", 4) == 0) {
                fp_seq_insert(s, s->n, &f);
                fp_sframe_free(&f);
            }
        }
        break;
    }
    case 3: { /* interleaved streams with more */
        unsigned streams = 2 + (unsigned)R(3), parts = 2 + (unsigned)R(4), p, i;
        uint64_t base = some_id(m) * 16u;

        for (p = 0; p < parts; p++) {
            for (i = 0; i < streams; i++) {
                unsigned op = (i % 2u == 0u || CHANCE(2)) ? TL_OP_REQUEST : TL_OP_SIGNAL;
                unsigned proto = op | (p + 1 < parts ? TL_PROTO_MORE : 0u);
                uint8_t body[2] = {(uint8_t)('a' + i), (uint8_t)('0' + p)};

                if (fp_sframe_make(&f, proto, base + i, NULL, 0, body, sizeof body) == 0) {
                    fp_seq_insert(s, at + p * streams + i <= s->n ? at + p * streams + i : s->n, &f);
                    fp_sframe_free(&f);
                }
            }
        }
        break;
    }
    case 4: { /* pipelining hundreds of frames */
        size_t copies = 20 + (size_t)R(300), i, fsz;
        int bump = CHANCE(2);

        if (s->n == 0) {
            break;
        }
        f = s->f[at];
        fsz = TL_HEADER_SIZE + f.text.len + f.body.len;
        if (fp_seq_bytes(s) + fsz * copies > FP_PIPELINE_MAX) {
            copies =
                fp_seq_bytes(s) + fsz * 20u > FP_PIPELINE_MAX ? 0 : (FP_PIPELINE_MAX - fp_seq_bytes(s)) / fsz;
        }
        for (i = 0; i < copies; i++) {
            fp_sframe c = s->f[at];

            if (bump) {
                c.h.message_id = s->f[at].h.message_id + i + 1;
            }
            if (fp_seq_insert(s, at + 1 + i, &c) != 0) {
                break;
            }
        }
        break;
    }
    case 5: fp_seq_remove(s, at); break;
    case 6:
        if (s->n > 0) {
            fp_sframe c = s->f[at];
            fp_seq_insert(s, (size_t)R(s->n + 1), &c);
        }
        break;
    case 7:
        if (s->n > 1) {
            size_t b = (size_t)R(s->n);
            fp_sframe t = s->f[at];

            s->f[at] = s->f[b];
            s->f[b] = t;
        }
        break;
    case 8: { /* splice frames from another entry */
        const fp_corpus *c = m->corpus;
        fp_seq o;

        if (c->n == 0) {
            break;
        }
        {
            const fp_buf *e = &c->e[R(c->n)].bytes;
            size_t i, from, cnt;

            if (fp_seq_parse(&o, e->p, e->len) != 0) {
                break;
            }
            from = o.n > 0 ? (size_t)R(o.n) : 0;
            cnt = o.n > from ? 1 + (size_t)R(o.n - from) : 0;
            for (i = 0; i < cnt && fp_seq_bytes(s) < FP_MAX_CASE_BYTES / 2; i++) {
                fp_seq_insert(s, at + i <= s->n ? at + i : s->n, &o.f[from + i]);
            }
            fp_seq_free(&o);
        }
        break;
    }
    default: { /* a fresh frame of any kind */
        unsigned op = (unsigned)R(CHANCE(4) ? 16 : 10);
        uint8_t nb[TL_HEADER_SIZE];

        tl_conform_echo_body(nb, CH, op, 0);
        if (fp_sframe_make(&f, op | (CHANCE(4) ? TL_PROTO_MORE : 0u), CHANCE(8) ? 0 : some_id(m),
                           op == TL_OP_HELLO_REQUEST ? m->hello_text : NULL,
                           op == TL_OP_HELLO_REQUEST ? m->hello_tl : 0, nb, sizeof nb) == 0) {
            fp_seq_insert(s, (size_t)R(s->n + 1), &f);
            fp_sframe_free(&f);
        }
        break;
    }
    }
}

/* ---- byte mutations ---- */

static void mutate_bytes(fp_mutator *m, fp_buf *b)
{
    unsigned k = (unsigned)R(9);
    size_t at = b->len > 0 ? (size_t)R(b->len) : 0;

    switch (k) {
    case 0:
        if (b->len > 0) {
            b->p[at] ^= (uint8_t)(1u << R(8));
        }
        break;
    case 1:
        if (b->len > 0) {
            b->p[at] = interesting8[R(sizeof interesting8)];
        }
        break;
    case 2: add_dict(m, b, (size_t)R(b->len + 1)); break;
    case 3:
        if (m->corpus->dict.n > 0 && b->len > 0) {
            const fp_buf *t = &m->corpus->dict.items[R(m->corpus->dict.n)];
            size_t n = t->len < b->len - at ? t->len : b->len - at;

            memcpy(b->p + at, t->p, n);
        }
        break;
    case 4: fp_buf_erase(b, at, 1 + (size_t)R(64)); break;
    case 5:
        if (b->len > 0) {
            size_t n = 1 + (size_t)R(b->len - at < 256 ? b->len - at : 256);
            fp_buf dup = {0};

            if (fp_buf_set(&dup, b->p + at, n) == 0) {
                fp_buf_insert(b, (size_t)R(b->len + 1), dup.p, dup.len);
            }
            fp_buf_free(&dup);
        }
        break;
    case 6: {
        uint8_t r[32];
        size_t n = 1 + (size_t)R(sizeof r), i;

        for (i = 0; i < n; i++) {
            r[i] = (uint8_t)fp_rand(m->rng);
        }
        fp_buf_insert(b, (size_t)R(b->len + 1), r, n);
        break;
    }
    case 7: b->len = at; break; /* cut: an incomplete frame at the end */
    default: {
        /* A length field of a frame boundary: thl@12 or bl@14 (1.2). */
        size_t off = 0, pos[64], np = 0;

        while (b->len - off >= TL_HEADER_SIZE && np < 64) {
            tl_header h;

            tl_header_decode(b->p + off, &h);
            pos[np++] = off;
            off += TL_HEADER_SIZE + (size_t)h.thl + h.bl;
            if (off > b->len) {
                break;
            }
        }
        if (np > 0) {
            static const uint16_t lens[] = {0, 1, 15, 16, 17, 255, 256, 0x7fff, 0x8000, 0xfffe, 0xffff};
            size_t p = pos[R(np)] + (CHANCE(2) ? 12u : 14u);
            uint16_t v = CHANCE(3) ? (uint16_t)R(65536) : lens[R(sizeof lens / sizeof lens[0])];

            b->p[p] = (uint8_t)(v >> 8);
            b->p[p + 1] = (uint8_t)v;
        }
        break;
    }
    }
}

/* ---- delivery ---- */

/* A frame start inside the bytes (for "mid-frame"). */
static size_t inside_frame(fp_mutator *m, const fp_buf *b, size_t *frame_start)
{
    size_t off = 0, starts[64], np = 0;

    while (b->len - off >= TL_HEADER_SIZE && np < 64) {
        tl_header h;

        tl_header_decode(b->p + off, &h);
        starts[np++] = off;
        off += TL_HEADER_SIZE + (size_t)h.thl + h.bl;
        if (off >= b->len) {
            break;
        }
    }
    *frame_start = np > 0 ? starts[R(np)] : 0;
    return np;
}

static void mutate_plan(fp_mutator *m, const fp_buf *b, fp_plan *p)
{
    unsigned k = (unsigned)R(400);
    size_t fs = 0;

    if (b->len < 2) {
        return;
    }
    if (k < 40) { /* split at random offsets */
        size_t n = 1 + (size_t)R(8), i;
        size_t cuts[8];

        for (i = 0; i < n; i++) {
            cuts[i] = 1 + (size_t)R(b->len - 1);
        }
        /* insertion sort */
        for (i = 1; i < n; i++) {
            size_t v = cuts[i], j = i;

            while (j > 0 && cuts[j - 1] > v) {
                cuts[j] = cuts[j - 1];
                j--;
            }
            cuts[j] = v;
        }
        p->ncuts = 0;
        for (i = 0; i < n; i++) {
            if (p->ncuts == 0 || cuts[i] > p->cuts[p->ncuts - 1]) {
                p->cuts[p->ncuts++] = cuts[i];
            }
        }
    } else if (k < 56) { /* every offset of one frame's header */
        size_t i;

        (void)inside_frame(m, b, &fs);
        p->ncuts = 0;
        for (i = 1; i < TL_HEADER_SIZE && fs + i < b->len && p->ncuts < FP_MAX_CUTS; i++) {
            p->cuts[p->ncuts++] = fs + i;
        }
    } else if (k < 64) {
        if (b->len <= 600) {
            p->bytewise = 1;
        }
    } else if (k < 65) { /* a stall mid-frame */
        if (inside_frame(m, b, &fs) > 0) {
            p->stall_at = fs + 1 + (size_t)R(TL_HEADER_SIZE + 4);
            p->stall_ms = 10u + (unsigned)R(30);
        }
    } else if (k < 69) { /* a reset mid-frame */
        if (inside_frame(m, b, &fs) > 0) {
            p->reset = 1;
            p->reset_at = fs + 1 + (size_t)R(TL_HEADER_SIZE + 8);
        }
    }
    if (CHANCE(3)) {
        p->end = FP_END_RST;
    }
}

int fp_mutate(fp_mutator *m, const uint8_t *data, size_t len, fp_case *out)
{
    fp_seq s;
    unsigned n = 1 + (unsigned)R(4), i;

    memset(out, 0, sizeof *out);
    if (fp_seq_parse(&s, data, len) != 0) {
        return -1;
    }
    if (CHANCE(8)) {
        n += 4; /* now and then a heavier hand */
    }
    for (i = 0; i < n; i++) {
        unsigned lvl = (unsigned)R(100);

        if (lvl < 55 && s.n > 0) {
            mutate_frame(m, &s.f[R(s.n)]);
        } else if (lvl < 80 || s.n == 0) {
            mutate_seq(m, &s);
        } else {
            break; /* byte level: below, on the bytes */
        }
        if (fp_seq_bytes(&s) > FP_MAX_CASE_BYTES) {
            while (s.n > 1 && fp_seq_bytes(&s) > FP_MAX_CASE_BYTES) {
                fp_seq_remove(&s, s.n - 1);
            }
        }
    }
    if (fp_seq_write(&s, &out->bytes) != 0) {
        fp_seq_free(&s);
        fp_case_free(out);
        return -1;
    }
    fp_seq_free(&s);
    if (i < n) {
        unsigned nb = 1 + (unsigned)R(3), j;

        for (j = 0; j < nb; j++) {
            mutate_bytes(m, &out->bytes);
        }
        if (out->bytes.len > FP_MAX_CASE_BYTES) {
            out->bytes.len = FP_MAX_CASE_BYTES;
        }
    }
    mutate_plan(m, &out->bytes, &out->plan);
    fp_plan_clamp(&out->plan, out->bytes.len);
    return 0;
}
