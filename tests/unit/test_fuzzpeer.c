/*
 * The network fuzzer's parts that need no peer (fuzzpeer/): the model of
 * what an echo peer answers (PROTOCOL.md section 7), the mutators (every
 * op code, flag, status, lying length, big text, sequence and delivery the
 * issue names), plan files, the dictionary and corpus loaders with their
 * errors, stderr report detection, signatures, bounded memory, the reports.
 * The fuzzer against real peers: tests/integration/test_fuzz_peer.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tofulab/wire.h"

#include "../../fuzzpeer/internal.h"

/* ---- helpers ---- */

static size_t put(uint8_t *out, unsigned proto, uint8_t status, uint64_t id, const char *text, size_t bl)
{
    tl_header h;
    size_t tl = text != NULL ? strlen(text) : 0;

    memset(&h, 0, sizeof h);
    h.channel = 0x1a2b;
    h.proto = (uint8_t)proto;
    h.status = status;
    h.message_id = id;
    h.thl = (uint16_t)tl;
    h.bl = (uint16_t)bl;
    tl_header_encode(&h, out);
    if (tl > 0) {
        memcpy(out + TL_HEADER_SIZE, text, tl);
    }
    memset(out + TL_HEADER_SIZE + tl, 'b', bl);
    return TL_HEADER_SIZE + tl + bl;
}

static void build(fp_model *m, const uint8_t *data, size_t len)
{
    assert_int_equal(fp_model_build(m, data, len, 0, 1), 0);
}

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/test_fuzzpeer.XXXXXX";
    char *d = mkdtemp(tmpl);

    assert_non_null(d);
    return strdup(d);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void rm_rf(const char *dir)
{
    char cmd[600];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- the model ---- */

static void test_fuzzpeer_model_hello_and_request_expect_two_echoes(void **state)
{
    uint8_t b[256];
    size_t n = 0;
    fp_model m;

    (void)state;
    n += put(b + n, TL_OP_HELLO_REQUEST, 0, 1, "~connect_to:uds|/x\r\n", 16);
    n += put(b + n, TL_OP_REQUEST | TL_PROTO_MORE, 0, 7, NULL, 3);
    n += put(b + n, TL_OP_SIGNAL, 0, 0, NULL, 0);
    build(&m, b, n);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.missing, 0);
    assert_int_equal(m.complete, n);
    assert_int_equal(m.mandatory, 3);
    assert_int_equal(m.p[0].eop, TL_OP_HELLO_RESPONSE);
    assert_int_equal(m.p[1].eop, TL_OP_RESPONSE);
    assert_int_equal(m.p[2].eop, TL_OP_SIGNAL);
    assert_int_equal(m.stop_rule, FP_RULE_NONE);
    assert_false(m.may_close);
    assert_int_equal(m.budget, 2); /* Request and Signal, not Hello (7 step 5) */
    fp_model_free(&m);
}

static void test_fuzzpeer_model_opcode_10_to_15_allows_close_and_judges_nothing_after(void **state)
{
    uint8_t b[256];
    size_t n = 0;
    fp_model m;
    unsigned op;

    (void)state;
    for (op = 10; op <= 15; op++) {
        n = 0;
        n += put(b + n, TL_OP_REQUEST, 0, 1, NULL, 0);
        n += put(b + n, op, 0, 2, NULL, 0);
        n += put(b + n, TL_OP_REQUEST, 0, 3, NULL, 0);
        build(&m, b, n);
        assert_true(m.p[0].flags & FP_P_REPLY);
        assert_int_equal(m.p[1].close_rule, FP_CLOSE_OPCODE);
        assert_false(m.p[1].flags & FP_P_REPLY);
        assert_true(m.p[1].flags & FP_P_UNCHECKED);
        assert_true(m.p[2].flags & FP_P_UNCHECKED);
        assert_false(m.p[2].flags & FP_P_REPLY);
        assert_true(m.may_close);
        assert_int_equal(m.stop_rule, FP_RULE_NONE); /* a crash of tofu, not a stop */
        fp_model_free(&m);
    }
}

static void test_fuzzpeer_model_stop_rules_of_section_7(void **state)
{
    uint8_t b[128];
    fp_model m;
    static const struct {
        unsigned proto;
        uint8_t status;
        uint64_t id;
        int rule;
        int unchecked_after;
    } cases[] = {
        {TL_OP_RESPONSE, 0, 5, FP_RULE_RESPONSE, 0},
        {TL_OP_HELLO_RESPONSE, 0, 5, FP_RULE_RESPONSE, 0},
        {TL_OP_BYE_RESPONSE, 0, 5, FP_RULE_RESPONSE, 1}, /* 6.7: the receiver stops reading */
        {TL_OP_WELCOME_RESPONSE, 0, 5, FP_RULE_RESPONSE, 0},
        {TL_OP_REQUEST, TL_STATUS_RECEIVER_UPDATE, 5, FP_RULE_STATUS21, 0},
        {TL_OP_REQUEST, 0, 0, FP_RULE_ID0, 1},
        {TL_OP_HELLO_REQUEST, 0, 0, FP_RULE_ID0, 1},
        {TL_OP_BYE_REQUEST, 0, 0, FP_RULE_ID0, 1},
        {TL_OP_WELCOME_REQUEST, 0, 0, FP_RULE_ID0, 1},
        {TL_OP_HELLO_REQUEST | TL_PROTO_MORE, 0, 5, FP_RULE_MORE, 1},
        {TL_OP_BYE_REQUEST | TL_PROTO_MORE, 0, 5, FP_RULE_MORE, 1},
        {TL_OP_BYE_SIGNAL | TL_PROTO_MORE, 0, 5, FP_RULE_MORE, 1},
        {TL_OP_REQUEST | TL_PROTO_ORIGIN, 0, 5, FP_RULE_NONE, 0}, /* an engine notification to tofu */
        {TL_OP_RESPONSE | TL_PROTO_ORIGIN, 0, 5, FP_RULE_RESPONSE,
         0},                                   /* the reference engine clears origin (A7) */
        {TL_OP_SIGNAL, 0, 0, FP_RULE_NONE, 0}, /* a fresh id is assigned (5 step 10) */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = put(b, cases[i].proto, cases[i].status, cases[i].id, NULL, 0);

        n += put(b + n, TL_OP_REQUEST, 0, 9, NULL, 0);
        build(&m, b, n);
        assert_int_equal(m.p[0].stop_rule, cases[i].rule);
        assert_int_equal(m.stop_rule, cases[i].rule);
        if (cases[i].rule != FP_RULE_NONE) {
            assert_true(m.may_close);
            assert_true(m.stop_rules & (1u << cases[i].rule));
            assert_true(m.p[1].flags & FP_P_MAY_CLOSE);
        }
        assert_int_equal((m.p[1].flags & FP_P_UNCHECKED) != 0, cases[i].unchecked_after);
        fp_model_free(&m);
    }
    assert_non_null(strstr(fp_rule_text(FP_RULE_ID0), "InvalidMessageId"));
    assert_non_null(strstr(fp_rule_text(FP_RULE_BUDGET), "1100"));
}

static void test_fuzzpeer_model_nothing_predicted_after_bye(void **state)
{
    uint8_t b[128];
    size_t n = 0;
    fp_model m;

    (void)state;
    n += put(b + n, TL_OP_BYE_REQUEST, 0, 3, NULL, 0);
    n += put(b + n, TL_OP_REQUEST, 0, 4, NULL, 5);
    n += put(b + n, TL_OP_HELLO_REQUEST, 0, 5, NULL, 0);
    build(&m, b, n);
    assert_int_equal(m.p[0].eop, TL_OP_BYE_RESPONSE);
    assert_true(m.p[0].flags & FP_P_REPLY);
    assert_false(m.p[1].flags & FP_P_REPLY);
    assert_false(m.p[2].flags & FP_P_REPLY);
    assert_int_equal(m.mandatory, 1);
    assert_true(m.quiet_after);
    assert_int_equal(m.budget, 1); /* the late Request still counts against tofu's budget */
    fp_model_free(&m);
}

static void test_fuzzpeer_model_tofu_and_reference_differences_are_optional(void **state)
{
    uint8_t b[128];
    size_t n = 0;
    fp_model m;

    (void)state;
    /* origin set: tofu ignores it, the reference engine clears it and echoes. */
    n += put(b + n, TL_OP_REQUEST | TL_PROTO_ORIGIN, 0, 1, NULL, 0);
    /* ByeSignal: tofu echoes 0x07 then sends nothing; the reference closes (A2). */
    n += put(b + n, TL_OP_BYE_SIGNAL, 0, 2, NULL, 0);
    n += put(b + n, TL_OP_REQUEST, 0, 3, NULL, 0);
    build(&m, b, n);
    assert_true(m.p[0].flags & FP_P_OPTIONAL);
    assert_int_equal(m.p[0].budget, 0);
    assert_true(m.p[1].flags & FP_P_OPTIONAL);
    assert_int_equal(m.p[1].close_rule, FP_CLOSE_BYE_SIGNAL);
    /* maybe quiet after an optional bye reply: optional, not forbidden */
    assert_true(m.p[2].flags & FP_P_REPLY);
    assert_true(m.p[2].flags & FP_P_OPTIONAL);
    assert_true(m.p[2].flags & FP_P_MAY_CLOSE);
    assert_int_equal(m.mandatory, 0);
    fp_model_free(&m);
}

static void test_fuzzpeer_model_lying_lengths_move_frame_boundaries(void **state)
{
    uint8_t b[128];
    size_t n;
    fp_model m;

    (void)state;
    /* thl claims 100 bytes, 10 follow, then a whole Request: one incomplete
     * frame of 16 + 100 that swallows the Request. */
    n = put(b, TL_OP_REQUEST, 0, 1, NULL, 0);
    b[13] = 100;
    memset(b + n, 'x', 10);
    n += 10;
    n += put(b + n, TL_OP_REQUEST, 0, 2, NULL, 0);
    build(&m, b, n);
    assert_int_equal(m.n, 0);
    assert_int_equal(m.missing, 100 - 10 - 16);
    assert_int_equal(m.complete, 0);
    fp_model_free(&m);
    /* bl claims fewer bytes than sent: the rest starts a new frame. */
    n = put(b, TL_OP_REQUEST, 0, 1, NULL, 20);
    b[15] = 4;
    build(&m, b, n);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.complete, 20);
    /* the 16 body bytes left form a header: thl = bl = 0x6262 */
    assert_int_equal(m.missing, 2u * 0x6262u);
    fp_model_free(&m);
}

static void test_fuzzpeer_model_header_with_bad_opcode_may_close_before_its_body(void **state)
{
    uint8_t b[64];
    size_t n;
    fp_model m;

    (void)state;
    n = put(b, TL_OP_HELLO_REQUEST, 0, 1, NULL, 0);
    n += put(b + n, 14, 0, 2, NULL, 0);
    b[n - 1] = 200; /* bl 200: the body never comes */
    build(&m, b, n);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.missing, 200);
    assert_true(m.may_close); /* A7: closed as soon as the header is in */
    fp_model_free(&m);
}

static void test_fuzzpeer_model_no_echo_only_hello_answers(void **state)
{
    uint8_t b[128];
    size_t n = 0;
    fp_model m;

    (void)state;
    n += put(b + n, TL_OP_HELLO_REQUEST, 0, 1, NULL, 0);
    n += put(b + n, TL_OP_REQUEST, 0, 2, NULL, 0);
    assert_int_equal(fp_model_build(&m, b, n, 0, 0), 0);
    assert_true(m.p[0].flags & FP_P_REPLY);
    assert_false(m.p[1].flags & FP_P_REPLY);
    assert_int_equal(m.mandatory, 1);
    fp_model_free(&m);
    /* after a ByeRequest, a HelloResponse may never come (6.6) */
    n += put(b + n, TL_OP_BYE_REQUEST, 0, 3, NULL, 0);
    n += put(b + n, TL_OP_HELLO_REQUEST, 0, 4, NULL, 0);
    assert_int_equal(fp_model_build(&m, b, n, 0, 0), 0);
    assert_true(m.p[3].flags & FP_P_OPTIONAL);
    assert_int_equal(m.mandatory, 1);
    fp_model_free(&m);
}

/* ---- the mutators ---- */

typedef struct {
    int op[16];
    int origin, more, bit_a, bit_b;
    int status21, status_past_table;
    int id0, idmax;
    int lie_longer, lie_shorter;
    int text_big, text_no_colon, text_empty_name, text_lone_cr, text_binary;
    int no_hello, two_hellos, after_bye, interleaved, pipeline;
    int bytewise, header_cuts, stall, reset, rst;
} seen;

static void look(const fp_case *c, seen *s)
{
    fp_model m;
    fp_seq q;
    size_t i, hellos = 0, bye_at = (size_t)-1, more_ids = 0;
    uint64_t first_more = 0;

    assert_int_equal(fp_model_build(&m, c->bytes.p, c->bytes.len, 0, 1), 0);
    if (m.missing > 0 && m.n < 4) {
        s->lie_longer++;
    }
    fp_model_free(&m);
    assert_int_equal(fp_seq_parse(&q, c->bytes.p, c->bytes.len), 0);
    for (i = 0; i < q.n; i++) {
        const tl_header *h = &q.f[i].h;
        const fp_buf *t = &q.f[i].text;
        unsigned op = tl_proto_opcode(h->proto);

        s->op[op]++;
        s->origin += (h->proto & TL_PROTO_ORIGIN) != 0;
        s->more += (h->proto & TL_PROTO_MORE) != 0;
        s->bit_a += (h->proto & TL_PROTO_BIT_A) != 0;
        s->bit_b += (h->proto & TL_PROTO_BIT_B) != 0;
        s->status21 += h->status == 21;
        s->status_past_table += h->status > 31;
        s->id0 += h->message_id == 0;
        s->idmax += h->message_id == UINT64_MAX;
        s->text_big += t->len >= 60000;
        if (t->len > 0 && memchr(t->p, ':', t->len) == NULL && memchr(t->p, '\r', t->len) != NULL) {
            s->text_no_colon++;
        }
        if (t->len > 0 && t->p[0] == ':') {
            s->text_empty_name++;
        }
        if (t->len > 3 && memchr(t->p, '\r', t->len) != NULL) {
            const uint8_t *cr = memchr(t->p, '\r', t->len);

            if (cr + 1 < t->p + t->len && cr[1] != '\n') {
                s->text_lone_cr++;
            }
        }
        if (t->len > 0 && memchr(t->p, 0, t->len) != NULL) {
            s->text_binary++;
        }
        if (op == TL_OP_HELLO_REQUEST && !(h->proto & 0xF0)) {
            hellos++;
        }
        if (op == TL_OP_BYE_REQUEST && bye_at == (size_t)-1) {
            bye_at = i;
        }
        if (op == TL_OP_REQUEST && (h->proto & TL_PROTO_MORE)) {
            if (more_ids == 0) {
                first_more = h->message_id;
                more_ids = 1;
            } else if (h->message_id != first_more) {
                more_ids = 2;
            }
        }
    }
    /* A length shorter than the content: bytes left that are not a frame. */
    if (q.tail.len > 0 && q.tail.len < TL_HEADER_SIZE) {
        s->lie_shorter++;
    }
    s->no_hello += q.n > 0 && tl_proto_opcode(q.f[0].h.proto) != TL_OP_HELLO_REQUEST;
    s->two_hellos += hellos >= 2;
    s->after_bye += bye_at != (size_t)-1 && bye_at + 1 < q.n;
    s->interleaved += more_ids >= 2;
    s->pipeline += q.n >= 100;
    s->bytewise += c->plan.bytewise;
    s->header_cuts += c->plan.ncuts >= 10;
    s->stall += c->plan.stall_ms > 0;
    s->reset += c->plan.reset;
    s->rst += c->plan.end == FP_END_RST;
    fp_seq_free(&q);
}

static void test_fuzzpeer_mutate_covers_what_the_issue_names(void **state)
{
    fp_corpus c;
    fp_mutator mu;
    uint64_t rng = 42;
    static const uint8_t hello[] = "~connect_to:uds|/tmp/x.sock\r\n";
    seen s;
    int i;

    (void)state;
    memset(&s, 0, sizeof s);
    assert_int_equal(fp_corpus_init(&c, 0), 0);
    assert_int_equal(fp_builtin_seeds(&c, hello, sizeof hello - 1), 0);
    assert_true(c.seeds >= 10);
    mu.rng = &rng;
    mu.corpus = &c;
    mu.hello_text = hello;
    mu.hello_tl = sizeof hello - 1;
    for (i = 0; i < 20000; i++) {
        fp_case k;
        const fp_entry *e = &c.e[fp_below(&rng, c.n)];

        assert_int_equal(fp_mutate(&mu, e->bytes.p, e->bytes.len, &k), 0);
        assert_true(k.bytes.len <= FP_MAX_CASE_BYTES);
        look(&k, &s);
        /* Keep a few so that mutations build on mutations. */
        if (i % 50 == 0 && k.bytes.len < FP_KEEP_MAX) {
            assert_int_equal(fp_corpus_add(&c, k.bytes.p, k.bytes.len, 0), 0);
        }
        fp_case_free(&k);
    }
    for (i = 0; i < 16; i++) {
        assert_true(s.op[i] > 0);
    }
    assert_true(s.origin > 0 && s.more > 0 && s.bit_a > 0 && s.bit_b > 0);
    assert_true(s.status21 > 0 && s.status_past_table > 0);
    assert_true(s.id0 > 0 && s.idmax > 0);
    assert_true(s.lie_longer > 0 && s.lie_shorter > 0);
    assert_true(s.text_big > 0 && s.text_no_colon > 0 && s.text_empty_name > 0 && s.text_lone_cr > 0 &&
                s.text_binary > 0);
    assert_true(s.no_hello > 0 && s.two_hellos > 0 && s.after_bye > 0 && s.interleaved > 0 && s.pipeline > 0);
    assert_true(s.bytewise > 0 && s.header_cuts > 0 && s.stall > 0 && s.reset > 0 && s.rst > 0);
    fp_corpus_free(&c);
}

static void test_fuzzpeer_mutate_same_seed_same_cases(void **state)
{
    fp_corpus c;
    fp_mutator mu;
    uint64_t r1 = 7, r2 = 7;
    static const uint8_t hello[] = "~connect_to:tcp|127.0.0.1|7099\r\n";
    int i;

    (void)state;
    assert_int_equal(fp_corpus_init(&c, 0), 0);
    assert_int_equal(fp_builtin_seeds(&c, hello, sizeof hello - 1), 0);
    mu.corpus = &c;
    mu.hello_text = hello;
    mu.hello_tl = sizeof hello - 1;
    for (i = 0; i < 500; i++) {
        fp_case a, b;
        const fp_entry *e = &c.e[(size_t)i % c.n];

        mu.rng = &r1;
        assert_int_equal(fp_mutate(&mu, e->bytes.p, e->bytes.len, &a), 0);
        mu.rng = &r2;
        assert_int_equal(fp_mutate(&mu, e->bytes.p, e->bytes.len, &b), 0);
        assert_int_equal(a.bytes.len, b.bytes.len);
        assert_memory_equal(a.bytes.p, b.bytes.p, a.bytes.len);
        assert_memory_equal(&a.plan, &b.plan, sizeof a.plan);
        fp_case_free(&a);
        fp_case_free(&b);
    }
    fp_corpus_free(&c);
}

static void test_fuzzpeer_seq_parse_write_round_trip(void **state)
{
    uint8_t b[256];
    size_t n = 0;
    fp_seq s;
    fp_buf out = {0};

    (void)state;
    n += put(b + n, TL_OP_HELLO_REQUEST, 0, 1, "a:b\r\n", 16);
    n += put(b + n, TL_OP_REQUEST, 3, 2, NULL, 5);
    memcpy(b + n, "\x1a\x2b\x00", 3); /* a tail: 3 bytes of a header */
    n += 3;
    assert_int_equal(fp_seq_parse(&s, b, n), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.tail.len, 3);
    assert_int_equal(fp_seq_bytes(&s), n);
    assert_int_equal(fp_seq_write(&s, &out), 0);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.p, b, n);
    /* a lie survives writing */
    s.f[1].lie = 1;
    s.f[1].h.bl = 500;
    assert_int_equal(fp_seq_write(&s, &out), 0);
    assert_int_equal(out.p[TL_HEADER_SIZE + 5 + 16 + 14], 500 >> 8);
    assert_int_equal(out.p[TL_HEADER_SIZE + 5 + 16 + 15], 500 & 255);
    fp_buf_free(&out);
    fp_seq_free(&s);
}

/* ---- plans ---- */

static void test_fuzzpeer_plan_format_parse_round_trip(void **state)
{
    fp_plan p, q;
    char text[512], err[256];
    size_t n;

    (void)state;
    memset(&p, 0, sizeof p);
    p.cuts[0] = 3;
    p.cuts[1] = 16;
    p.ncuts = 2;
    p.bytewise = 1;
    p.stall_at = 21;
    p.stall_ms = 40;
    p.reset = 1;
    p.reset_at = 30;
    p.end = FP_END_RST;
    assert_false(fp_plan_is_plain(&p));
    n = fp_plan_format(&p, text, sizeof text);
    assert_true(n > 0 && n < sizeof text);
    assert_int_equal(fp_plan_parse(text, n, "x.plan", &q, err, sizeof err), 0);
    assert_memory_equal(&p, &q, sizeof p);
    memset(&p, 0, sizeof p);
    assert_true(fp_plan_is_plain(&p));
}

static void test_fuzzpeer_plan_parse_errors_name_file_line_column(void **state)
{
    static const struct {
        const char *text;
        const char *want;
    } bad[] = {
        {"cut 5\ncut 3\n", "x.plan:2:1: cut offsets must increase"},
        {"# c\nstall 4\n", "x.plan:2:8: stall needs milliseconds"},
        {"end maybe\n", "x.plan:1:5: end is 'fin' or 'rst'"},
        {"cut 1\n  split 2\n", "x.plan:2:3: unknown word"},
        {"reset 9 9\n", "x.plan:1:9: unexpected text"},
        {"cut -1\n", "x.plan:1:5: cut needs a byte offset"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fp_plan p;
        char err[256] = "";

        assert_int_equal(fp_plan_parse(bad[i].text, strlen(bad[i].text), "x.plan", &p, err, sizeof err), -1);
        assert_non_null(strstr(err, bad[i].want));
    }
}

/* ---- dictionary and corpus ---- */

static void test_fuzzpeer_dict_loads_tofu_dict(void **state)
{
    fp_corpus c;
    char err[512] = "";
    size_t i;
    int found_crlf = 0;

    (void)state;
    assert_int_equal(fp_corpus_init(&c, 0), 0);
    assert_int_equal(fp_dict_load(&c, "fuzz/dict/tofu.dict", err, sizeof err), 0);
    assert_true(c.dict.n > 50);
    for (i = 0; i < c.dict.n; i++) {
        found_crlf |= c.dict.items[i].len == 2 && memcmp(c.dict.items[i].p, "\r\n", 2) == 0;
    }
    assert_true(found_crlf);
    fp_corpus_free(&c);
}

static void test_fuzzpeer_dict_errors_name_file_line_column(void **state)
{
    static const struct {
        const char *text;
        const char *want;
    } bad[] = {
        {"# ok\nname=\"a\\x4\"\n", ":2:8: \\x needs two hex digits"},
        {"a=\"b\"\nc=\"unterminated\n", ":2:16: the value has no closing"},
        {"bad name=\"x\"\n", ":1:4: expected a name"},
        {"k=v\n", ":1:3: expected '\"'"},
        {"k=\"v\" junk\n", ":1:7: unexpected text"},
        {"k=\"\\q\"\n", ":1:4: unknown escape"},
    };
    char *d = tmpdir();
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fp_corpus c;
        char path[300], err[512] = "", want[300];

        snprintf(path, sizeof path, "%s/d%zu.dict", d, i);
        write_file(path, bad[i].text, strlen(bad[i].text));
        assert_int_equal(fp_corpus_init(&c, 0), 0);
        assert_int_equal(fp_dict_load(&c, path, err, sizeof err), -1);
        snprintf(want, sizeof want, "%s%s", path, bad[i].want);
        if (strstr(err, want) == NULL) {
            fail_msg("got '%s', want '%s'", err, want);
        }
        fp_corpus_free(&c);
    }
    {
        fp_corpus c;
        char err[512] = "";

        assert_int_equal(fp_corpus_init(&c, 0), 0);
        assert_int_equal(fp_dict_load(&c, "/nonexistent/tofu.dict", err, sizeof err), -1);
        assert_non_null(strstr(err, "/nonexistent/tofu.dict"));
        fp_corpus_free(&c);
    }
    rm_rf(d);
    free(d);
}

static void test_fuzzpeer_corpus_loads_fuzz_corpus_layout_without_prefixes(void **state)
{
    fp_corpus c;
    char err[512] = "";
    size_t i;
    int hello_first = 0;

    (void)state;
    assert_int_equal(fp_corpus_init(&c, 0), 0);
    assert_int_equal(fp_corpus_load_dir(&c, "fuzz/corpus", err, sizeof err), 0);
    assert_true(c.seeds > 300);
    assert_true(c.texts.n > 100);
    assert_true(c.addrs.n > 50);
    /* With the prefixes stripped, many streams begin with a HelloRequest
     * header (proto byte 0x03 at offset 2). */
    for (i = 0; i < c.n; i++) {
        hello_first += c.e[i].bytes.len >= TL_HEADER_SIZE && c.e[i].bytes.p[2] == TL_OP_HELLO_REQUEST;
    }
    assert_true(hello_first > 50);
    fp_corpus_free(&c);
}

static void test_fuzzpeer_corpus_errors_name_the_file(void **state)
{
    char *d = tmpdir();
    char path[400], err[600];
    fp_corpus c;
    uint8_t *big;

    (void)state;
    /* a missing directory */
    assert_int_equal(fp_corpus_init(&c, 0), 0);
    snprintf(path, sizeof path, "%s/missing", d);
    assert_int_equal(fp_corpus_load_dir(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    fp_corpus_free(&c);
    /* a saved entry whose content no longer matches its name */
    snprintf(path, sizeof path, "%s/fp-0123456789abcdef", d);
    write_file(path, "abc", 3);
    assert_int_equal(fp_corpus_init(&c, 0), 0);
    assert_int_equal(fp_corpus_load_dir(&c, d, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "corrupt"));
    fp_corpus_free(&c);
    unlink(path);
    /* too large */
    big = calloc(1, TL_FP_MAX_INPUT + 1);
    assert_non_null(big);
    snprintf(path, sizeof path, "%s/huge", d);
    write_file(path, big, TL_FP_MAX_INPUT + 1);
    free(big);
    assert_int_equal(fp_corpus_init(&c, 0), 0);
    assert_int_equal(fp_corpus_load_dir(&c, d, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "bytes"));
    fp_corpus_free(&c);
    unlink(path);
    /* a dangling symbolic link is not a regular file */
    snprintf(path, sizeof path, "%s/dangling", d);
    assert_int_equal(symlink("/nonexistent/target", path), 0);
    assert_int_equal(fp_corpus_init(&c, 0), 0);
    assert_int_equal(fp_corpus_load_dir(&c, d, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    fp_corpus_free(&c);
    rm_rf(d);
    free(d);
}

static void test_fuzzpeer_corpus_save_and_load_round_trip(void **state)
{
    char *d = tmpdir();
    char out[400], err[600];
    fp_corpus c, back;
    size_t i;

    (void)state;
    assert_int_equal(fp_corpus_init(&c, 0), 0);
    assert_int_equal(fp_corpus_add(&c, (const uint8_t *)"seed", 4, 1), 0);
    assert_int_equal(fp_corpus_add(&c, (const uint8_t *)"found one", 9, 0), 0);
    assert_int_equal(fp_corpus_add(&c, (const uint8_t *)"found two", 9, 0), 0);
    snprintf(out, sizeof out, "%s/saved", d);
    assert_int_equal(fp_corpus_save(&c, out, err, sizeof err), 0);
    assert_int_equal(fp_corpus_init(&back, 0), 0);
    assert_int_equal(fp_corpus_load_dir(&back, out, err, sizeof err), 0);
    assert_int_equal(back.n, 2); /* the seed is not saved */
    for (i = 0; i < back.n; i++) {
        assert_int_equal(back.e[i].bytes.len, 9);
        assert_memory_equal(back.e[i].bytes.p, "found ", 6);
    }
    fp_corpus_free(&back);
    fp_corpus_free(&c);
    rm_rf(d);
    free(d);
}

static void test_fuzzpeer_corpus_and_patterns_stay_bounded(void **state)
{
    fp_corpus c;
    uint8_t data[1000];
    uint64_t i;
    size_t fresh = 0;

    (void)state;
    memset(data, 'x', sizeof data);
    assert_int_equal(fp_corpus_init(&c, 64 * 1024), 0);
    assert_int_equal(fp_corpus_add(&c, data, 100, 1), 0);
    for (i = 0; i < 10000; i++) {
        data[0] = (uint8_t)i;
        assert_int_equal(fp_corpus_add(&c, data, sizeof data, 0), 0);
        assert_true(c.found_bytes <= 64 * 1024);
        assert_int_equal(c.bytes, c.found_bytes + 100);
    }
    assert_true(c.n >= 2);
    assert_true(c.e[0].seed); /* seeds are never evicted */
    for (i = 1; i < 200000; i++) {
        fresh += (size_t)fp_corpus_new_pattern(&c, i * 0x9E3779B97F4A7C15ull);
    }
    assert_true(c.pattern_count <= FP_PATTERN_SLOTS);
    assert_int_equal(fresh, c.pattern_count);
    assert_int_equal(fp_corpus_new_pattern(&c, 0x9E3779B97F4A7C15ull), 0); /* seen */
    fp_corpus_free(&c);
}

/* ---- peer reports, signatures ---- */

static void test_fuzzpeer_report_lines_of_sanitizers_and_panics(void **state)
{
    static const char *const yes[] = {
        "==123==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602000000011",
        "src/x.c:10:5: runtime error: signed integer overflow",
        "thread 4242 panic: index out of bounds: index 60001, len 60000",
        "thread 'main' panicked at 'attempt to add with overflow', src/main.rs:3:5",
        "panic: runtime error: slice bounds out of range",
        "peer: x.c:12: main: Assertion `n > 0' failed.",
        "==9== Invalid read of size 4",
        "*** stack smashing detected ***: terminated",
    };
    static const char *const no[] = {
        "listening on uds|/tmp/x.sock",
        "connection 4711 (uds): no HelloRequest within 10 s of the accept (handshake timeout): closed",
        "tofulab: serve: echoed 10",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        assert_true(fp_is_report_line(yes[i]));
    }
    for (i = 0; i < sizeof no / sizeof no[0]; i++) {
        assert_false(fp_is_report_line(no[i]));
    }
}

static void test_fuzzpeer_normalize_drops_pids_numbers_and_addresses(void **state)
{
    char a[200], b[200];

    (void)state;
    fp_normalize(a, sizeof a,
                 "==123==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602000000011 at pc 0x4f");
    fp_normalize(b, sizeof b,
                 "==77==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x7ffe1 at pc 0x1234");
    assert_string_equal(a, b);
    assert_string_equal(a, "ERROR: AddressSanitizer: heap-buffer-overflow on address 0x# at pc 0x#");
    fp_normalize(a, sizeof a, "thread 4242 panic: index 60001, len 60000");
    assert_string_equal(a, "thread # panic: index #, len #");
    fp_normalize(a, 8, "abcdefghijkl");
    assert_true(strlen(a) < 8);
}

static void test_fuzzpeer_spawned_peer_exit_and_report_are_seen(void **state)
{
    fp_peer p;
    char err[300], ex[64];

    (void)state;
    memset(&p, 0, sizeof p);
    p.err_fd = -1;
    assert_int_equal(fp_peer_start(&p, "echo 'thread 7 panic: reached unreachable code' >&2; kill -ABRT $$",
                                   err, sizeof err),
                     0);
    assert_int_equal(fp_peer_wait_exit(&p, 5000), 1);
    assert_true(fp_peer_exit_is_signal(&p));
    fp_peer_describe_exit(&p, ex, sizeof ex);
    assert_string_equal(ex, "signal 6 (SIGABRT)");
    assert_string_equal(p.report, "thread 7 panic: reached unreachable code");
    fp_peer_free(&p);

    memset(&p, 0, sizeof p);
    p.err_fd = -1;
    assert_int_equal(fp_peer_start(&p, "echo first line >&2; exit 3", err, sizeof err), 0);
    assert_int_equal(fp_peer_wait_exit(&p, 5000), 1);
    assert_false(fp_peer_exit_is_signal(&p));
    fp_peer_describe_exit(&p, ex, sizeof ex);
    assert_string_equal(ex, "exit status 3");
    assert_string_equal(p.first_line, "first line");
    assert_string_equal(p.report, "");
    fp_peer_free(&p);

    /* stop ends the whole process group */
    memset(&p, 0, sizeof p);
    p.err_fd = -1;
    assert_int_equal(fp_peer_start(&p, "sleep 30 & sleep 30; wait", err, sizeof err), 0);
    fp_peer_stop(&p);
    assert_true(p.exited);
    fp_peer_free(&p);
}

/* ---- reports ---- */

static void test_fuzzpeer_summary_and_junit_list_findings_and_stops(void **state)
{
    tl_fuzzpeer_report *rep = calloc(1, sizeof *rep);
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    (void)state;
    assert_non_null(rep);
    snprintf(rep->peer, sizeof rep->peer, "uds|/tmp/x");
    rep->seed = 9;
    rep->cases = 1000;
    rep->elapsed_ms = 500;
    rep->cases_per_s = 2000.0;
    rep->stops[FP_RULE_ID0].rule = fp_rule_text(FP_RULE_ID0);
    rep->stops[FP_RULE_ID0].count = 3;
    rep->stops_total = 3;
    rep->finding_count = 1;
    rep->findings[0].oracle = TL_FP_ECHO;
    snprintf(rep->findings[0].id, sizeof rep->findings[0].id, "F1");
    snprintf(rep->findings[0].signature, sizeof rep->findings[0].signature, "echo: <Request> & \"id\"");
    snprintf(rep->findings[0].detail, sizeof rep->findings[0].detail, "message_id 8, expected 7");
    snprintf(rep->findings[0].replay, sizeof rep->findings[0].replay, "tofulab fuzz-peer --replay x");
    rep->findings[0].count = 4;

    f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(tl_fuzzpeer_write_summary(f, rep), 0);
    fclose(f);
    assert_non_null(strstr(buf, "1000 cases (2000/s)"));
    assert_non_null(strstr(buf, "InvalidMessageId"));
    assert_non_null(strstr(buf, "F1   echo"));
    assert_non_null(strstr(buf, "replay: tofulab fuzz-peer --replay x"));
    assert_non_null(strstr(buf, "result: FINDINGS"));
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(tl_fuzzpeer_write_junit(f, rep), 0);
    fclose(f);
    assert_non_null(strstr(buf, "tests=\"4\" failures=\"1\""));
    assert_non_null(strstr(buf, "&lt;Request&gt; &amp; &quot;id&quot;"));
    assert_non_null(strstr(buf, "<failure type=\"echo\""));
    assert_non_null(strstr(buf, "crash: nothing found in 1000 cases"));
    assert_null(strstr(buf, "echo: nothing found"));
    assert_non_null(strstr(buf, "value=\"3\""));
    free(buf);
    free(rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzzpeer_model_hello_and_request_expect_two_echoes),
        cmocka_unit_test(test_fuzzpeer_model_opcode_10_to_15_allows_close_and_judges_nothing_after),
        cmocka_unit_test(test_fuzzpeer_model_stop_rules_of_section_7),
        cmocka_unit_test(test_fuzzpeer_model_nothing_predicted_after_bye),
        cmocka_unit_test(test_fuzzpeer_model_tofu_and_reference_differences_are_optional),
        cmocka_unit_test(test_fuzzpeer_model_lying_lengths_move_frame_boundaries),
        cmocka_unit_test(test_fuzzpeer_model_header_with_bad_opcode_may_close_before_its_body),
        cmocka_unit_test(test_fuzzpeer_model_no_echo_only_hello_answers),
        cmocka_unit_test(test_fuzzpeer_mutate_covers_what_the_issue_names),
        cmocka_unit_test(test_fuzzpeer_mutate_same_seed_same_cases),
        cmocka_unit_test(test_fuzzpeer_seq_parse_write_round_trip),
        cmocka_unit_test(test_fuzzpeer_plan_format_parse_round_trip),
        cmocka_unit_test(test_fuzzpeer_plan_parse_errors_name_file_line_column),
        cmocka_unit_test(test_fuzzpeer_dict_loads_tofu_dict),
        cmocka_unit_test(test_fuzzpeer_dict_errors_name_file_line_column),
        cmocka_unit_test(test_fuzzpeer_corpus_loads_fuzz_corpus_layout_without_prefixes),
        cmocka_unit_test(test_fuzzpeer_corpus_errors_name_the_file),
        cmocka_unit_test(test_fuzzpeer_corpus_save_and_load_round_trip),
        cmocka_unit_test(test_fuzzpeer_corpus_and_patterns_stay_bounded),
        cmocka_unit_test(test_fuzzpeer_report_lines_of_sanitizers_and_panics),
        cmocka_unit_test(test_fuzzpeer_normalize_drops_pids_numbers_and_addresses),
        cmocka_unit_test(test_fuzzpeer_spawned_peer_exit_and_report_are_seen),
        cmocka_unit_test(test_fuzzpeer_summary_and_junit_list_findings_and_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
