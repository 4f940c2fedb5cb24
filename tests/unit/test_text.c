/*
 * Text headers (PROTOCOL.md 4.1, 4.2, A17): tofu's iterator with its quirks,
 * and the append helper with the reference engine's extra checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tofulab/wire.h"

#include "../helpers/golden.h"
#include "../helpers/guard.h"

/* ---- iterator helpers ---- */

typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} exp_field;

#define F(n, v)                                                                                              \
    {                                                                                                        \
        (n), sizeof(n) - 1, (v), sizeof(v) - 1                                                               \
    }
#define S(lit) (const uint8_t *)(lit), (sizeof(lit) - 1)

static void check_field(const char *what, size_t idx, const uint8_t *data, size_t len,
                        const tl_text_field *got, const exp_field *want)
{
    if (got->name_len != want->name_len ||
        (want->name_len > 0 && memcmp(got->name, want->name, want->name_len) != 0))
        fail_msg("%s: header %zu: name \"%.*s\" (%zu bytes), expected \"%s\"", what, idx, (int)got->name_len,
                 (const char *)got->name, got->name_len, want->name);
    if (got->value_len != want->value_len ||
        (want->value_len > 0 && memcmp(got->value, want->value, want->value_len) != 0))
        fail_msg("%s: header %zu: value \"%.*s\" (%zu bytes), expected \"%s\"", what, idx,
                 (int)got->value_len, (const char *)got->value, got->value_len, want->value);
    /* Zero-copy: both point into the iterated bytes. */
    if (want->name_len > 0 && (got->name < data || got->name + got->name_len > data + len))
        fail_msg("%s: header %zu: name does not point into the data", what, idx);
    if (want->value_len > 0 && (got->value < data || got->value + got->value_len > data + len))
        fail_msg("%s: header %zu: value does not point into the data", what, idx);
}

/* Normal loop: next() until it returns 0; compare with want[0..n). */
static void iter_expect_at(const char *what, const uint8_t *data, size_t len, const exp_field *want, size_t n)
{
    tl_text_iter it;
    tl_text_field f;
    size_t i = 0;

    tl_text_iter_init(&it, data, len);
    for (;;) {
        memset(&f, 0, sizeof f);
        if (!tl_text_iter_next(&it, &f))
            break;
        if (i >= n)
            fail_msg("%s: extra header %zu \"%.*s\"", what, i, (int)f.name_len, (const char *)f.name);
        check_field(what, i, data, len, &f, &want[i]);
        i++;
    }
    if (i != n)
        fail_msg("%s: %zu headers, expected %zu", what, i, n);
}

/* Run the same expectation on an ordinary copy and on a copy that ends at a
 * guard page (any read past len faults). */
static void iter_expect(const char *what, const uint8_t *data, size_t len, const exp_field *want, size_t n)
{
    guard_region g;
    const uint8_t *p;

    iter_expect_at(what, data, len, want, n);
    p = guard_place(data, len, &g);
    iter_expect_at(what, p, len, want, n);
    guard_release(&g);
}

/* ---- 4.2 examples, verbatim ---- */

static void test_text_iter_spec_single_header_no_crlf_gives_pair(void **state)
{
    (void)state;
    static const exp_field want[] = {F("a", "b")};
    iter_expect("a: b", S("a: b"), want, 1);
}

static void test_text_iter_spec_empty_lines_skipped_values_trimmed(void **state)
{
    (void)state;
    static const exp_field want[] = {F("a", "b"), F("c", ""), F("d", "e"), F("f", "g")};
    iter_expect("example 2", S("a: b\r\nc:  \r\nd:e\r\n\r\nf: g\r\n\r\n"), want, 4);
}

static void test_text_iter_spec_empty_name_ends_normal_loop(void **state)
{
    (void)state;
    iter_expect("empty name", S(": ss\r\nx:y\r\n"), NULL, 0);
}

static void test_text_iter_spec_empty_name_further_next_continues(void **state)
{
    (void)state;
    static const uint8_t data[] = ": ss\r\nx:y\r\n";
    guard_region g;
    const uint8_t *p = guard_place(data, sizeof data - 1, &g);
    tl_text_iter it;
    tl_text_field f;

    tl_text_iter_init(&it, p, sizeof data - 1);
    assert_int_equal(tl_text_iter_next(&it, &f), 0);
    /* The position moved past ": ss\r\n": the next call yields (x, y). */
    memset(&f, 0, sizeof f);
    assert_int_equal(tl_text_iter_next(&it, &f), 1);
    assert_int_equal(f.name_len, 1);
    assert_memory_equal(f.name, "x", 1);
    assert_int_equal(f.value_len, 1);
    assert_memory_equal(f.value, "y", 1);
    assert_ptr_equal(f.name, p + 6);
    assert_ptr_equal(f.value, p + 8);
    /* Then the real end, and it stays there. */
    assert_int_equal(tl_text_iter_next(&it, &f), 0);
    assert_int_equal(tl_text_iter_next(&it, &f), 0);
    guard_release(&g);
}

static void test_text_iter_spec_missing_final_crlf_gives_tail(void **state)
{
    (void)state;
    static const exp_field want[] = {F("a", "b"), F("tail", "")};
    iter_expect("a:b\\r\\ntail", S("a:b\r\ntail"), want, 2);
}

static void test_text_iter_spec_lone_lf_is_ordinary_byte(void **state)
{
    (void)state;
    static const exp_field want[] = {F("a", "b\nc:d")};
    iter_expect("a:b\\nc:d\\r\\n", S("a:b\nc:d\r\n"), want, 1);
}

/* ---- 4.2 rules beyond the examples ---- */

static void test_text_iter_name_not_trimmed_value_trimmed(void **state)
{
    (void)state;
    static const exp_field want[] = {F("  x ", "v")};
    iter_expect("  x : v", S("  x : v\r\n"), want, 1);
}

static void test_text_iter_value_splits_at_first_colon_only(void **state)
{
    (void)state;
    static const exp_field want[] = {F("k", "v:w"), F("~connect_to", "tcp|::1|7099")};
    iter_expect("colons", S("k: v:w\r\n~connect_to:tcp|::1|7099\r\n"), want, 2);
}

static void test_text_iter_value_trims_space_and_tab_only(void **state)
{
    (void)state;
    static const exp_field want[] = {F("k", "v"), F("t", ""), F("vt", "\x0bv\x0b"), F("inner", "a \t b")};
    iter_expect("trim", S("k:\t  v \t\r\nt:\t\t\r\nvt:\x0bv\x0b\r\ninner: a \t b \r\n"), want, 4);
}

static void test_text_iter_trailing_lone_cr_stays_in_value(void **state)
{
    (void)state;
    /* No CR LF at all: final line "k: v\r"; CR is not trimmed. */
    static const exp_field want1[] = {F("k", "v\r")};
    iter_expect("k: v\\r", S("k: v\r"), want1, 1);
    /* CR CR LF: the line ends at the second CR. */
    static const exp_field want2[] = {F("x", "y\r"), F("z", "1")};
    iter_expect("x:y\\r\\r\\n", S("x:y\r\r\nz:1\r\n"), want2, 2);
}

static void test_text_iter_lone_cr_in_middle_is_ordinary_byte(void **state)
{
    (void)state;
    static const exp_field want[] = {F("a", "b\rc:d")};
    iter_expect("a:b\\rc:d", S("a:b\rc:d\r\n"), want, 1);
}

static void test_text_iter_lone_lf_at_start_belongs_to_name(void **state)
{
    (void)state;
    static const exp_field want[] = {F("\nx", "y")};
    iter_expect("\\nx:y", S("\nx:y\r\n"), want, 1);
}

static void test_text_iter_line_without_colon_gives_empty_value(void **state)
{
    (void)state;
    static const exp_field want[] = {F("justname", ""), F("   ", ""), F("k", "")};
    iter_expect("no colon", S("justname\r\n   \r\nk:\r\n"), want, 3);
}

static void test_text_iter_several_headers_without_final_crlf(void **state)
{
    (void)state;
    static const exp_field want[] = {F("a", "1"), F("b", "2")};
    iter_expect("a:1\\r\\nb:2", S("a:1\r\nb:2"), want, 2);
}

static void test_text_iter_empty_input_gives_nothing(void **state)
{
    (void)state;
    tl_text_iter it;
    tl_text_field f;
    static const uint8_t some[] = "a:b\r\n";

    tl_text_iter_init(&it, NULL, 0);
    assert_int_equal(tl_text_iter_next(&it, &f), 0);
    assert_int_equal(tl_text_iter_next(&it, &f), 0);
    tl_text_iter_init(&it, some, 0);
    assert_int_equal(tl_text_iter_next(&it, &f), 0);
    iter_expect("only empty lines", S("\r\n\r\n\r\n"), NULL, 0);
}

static void test_text_iter_only_empty_lines_stay_ended(void **state)
{
    (void)state;
    tl_text_iter it;
    tl_text_field f;

    tl_text_iter_init(&it, S("\r\n\r\n"));
    assert_int_equal(tl_text_iter_next(&it, &f), 0);
    assert_int_equal(tl_text_iter_next(&it, &f), 0);
}

static void test_text_iter_empty_name_mid_block_then_rest(void **state)
{
    (void)state;
    static const uint8_t data[] = "a:1\r\n:x\r\nb:2\r\n";
    static const exp_field want[] = {F("a", "1")};
    tl_text_iter it;
    tl_text_field f;

    iter_expect("a:1 :x b:2", data, sizeof data - 1, want, 1);
    tl_text_iter_init(&it, data, sizeof data - 1);
    assert_int_equal(tl_text_iter_next(&it, &f), 1);
    assert_int_equal(tl_text_iter_next(&it, &f), 0);
    assert_int_equal(tl_text_iter_next(&it, &f), 1);
    assert_int_equal(f.name_len, 1);
    assert_int_equal(f.name[0], 'b');
    assert_int_equal(f.value_len, 1);
    assert_int_equal(f.value[0], '2');
    assert_int_equal(tl_text_iter_next(&it, &f), 0);
}

static void test_text_iter_empty_name_in_final_line_ends(void **state)
{
    (void)state;
    static const uint8_t data[] = "a:b\r\n:tail";
    static const exp_field want[] = {F("a", "b")};
    tl_text_iter it;
    tl_text_field f;

    iter_expect("a:b :tail", data, sizeof data - 1, want, 1);
    tl_text_iter_init(&it, data, sizeof data - 1);
    assert_int_equal(tl_text_iter_next(&it, &f), 1);
    assert_int_equal(tl_text_iter_next(&it, &f), 0);
    /* The final line consumed the rest: nothing follows. */
    assert_int_equal(tl_text_iter_next(&it, &f), 0);
    iter_expect("colon only", S(":"), NULL, 0);
    iter_expect("colon crlf", S(":\r\n"), NULL, 0);
}

static void test_text_iter_golden_vectors_give_their_headers(void **state)
{
    (void)state;
    for (size_t i = 0; i < GOLDEN_COUNT; i++) {
        const golden_vector *v = &golden_vectors[i];
        uint8_t frame[512];
        exp_field want[GOLDEN_MAX_HEADERS];
        size_t n = hex_to_bytes(v->frame_hex, frame, sizeof frame);

        assert_true(n != (size_t)-1);
        for (size_t k = 0; k < v->header_count; k++) {
            want[k].name = v->headers[k].name;
            want[k].name_len = strlen(v->headers[k].name);
            want[k].value = v->headers[k].value;
            want[k].value_len = strlen(v->headers[k].value);
        }
        iter_expect(v->id, frame + TL_HEADER_SIZE, v->thl, want, v->header_count);
    }
}

/* ---- append (4.1 + A17) ---- */

static int append_str(uint8_t *buf, size_t cap, size_t *len, const char *name, const char *value)
{
    return tl_text_append(buf, cap, len, name, strlen(name), value, strlen(value));
}

static void test_text_append_writes_name_colon_value_crlf(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = 0;

    assert_int_equal(append_str(buf, sizeof buf, &len, "a", "b"), TL_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "a:b\r\n", 5);
}

static void test_text_append_keeps_order_and_duplicates(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = 0;

    assert_int_equal(append_str(buf, sizeof buf, &len, "a", "1"), TL_OK);
    assert_int_equal(append_str(buf, sizeof buf, &len, "b", "2"), TL_OK);
    assert_int_equal(append_str(buf, sizeof buf, &len, "a", "3"), TL_OK);
    assert_int_equal(len, 15);
    assert_memory_equal(buf, "a:1\r\nb:2\r\na:3\r\n", 15);
}

static void test_text_append_builds_v12_block(void **state)
{
    (void)state;
    const golden_vector *v = &golden_vectors[11];
    uint8_t frame[512];
    uint8_t buf[128];
    size_t len = 0;

    assert_string_equal(v->id, "V12");
    assert_true(hex_to_bytes(v->frame_hex, frame, sizeof frame) != (size_t)-1);
    for (size_t k = 0; k < v->header_count; k++)
        assert_int_equal(append_str(buf, sizeof buf, &len, v->headers[k].name, v->headers[k].value), TL_OK);
    assert_int_equal(len, v->thl);
    assert_memory_equal(buf, frame + TL_HEADER_SIZE, v->thl);
}

static void test_text_append_trims_name_space_tab_cr_lf(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = 0;

    assert_int_equal(append_str(buf, sizeof buf, &len, " \t\r\nContent-Type \t\r\n", "x"), TL_OK);
    assert_int_equal(len, 16);
    assert_memory_equal(buf, "Content-Type:x\r\n", 16);
    /* Inner spaces stay. */
    len = 0;
    assert_int_equal(append_str(buf, sizeof buf, &len, "  Job ID\t", "1"), TL_OK);
    assert_int_equal(len, 10);
    assert_memory_equal(buf, "Job ID:1\r\n", 10);
}

static void test_text_append_value_written_as_given(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = 0;

    assert_int_equal(append_str(buf, sizeof buf, &len, "a", "  v\t"), TL_OK);
    assert_int_equal(len, 8);
    assert_memory_equal(buf, "a:  v\t\r\n", 8);
    len = 0;
    assert_int_equal(append_str(buf, sizeof buf, &len, "a", " "), TL_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "a: \r\n", 5);
    /* Colons and pipes in a value are fine. */
    len = 0;
    assert_int_equal(append_str(buf, sizeof buf, &len, "k", "v:w|x"), TL_OK);
    assert_int_equal(len, 9);
    assert_memory_equal(buf, "k:v:w|x\r\n", 9);
}

static void test_text_append_uses_lengths_not_nul(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = 0;
    guard_region gn;
    guard_region gv;
    const char *name = (const char *)guard_place("Content-Type", 12, &gn);
    const char *value = (const char *)guard_place("abcdef", 6, &gv);

    /* Neither is NUL-terminated: they end at a guard page. */
    assert_int_equal(tl_text_append(buf, sizeof buf, &len, name, 12, value, 6), TL_OK);
    assert_int_equal(len, 21);
    assert_memory_equal(buf, "Content-Type:abcdef\r\n", 21);
    len = 0;
    assert_int_equal(tl_text_append(buf, sizeof buf, &len, "Content-TypeXX", 7, "abcdef", 3), TL_OK);
    assert_int_equal(len, 13);
    assert_memory_equal(buf, "Content:abc\r\n", 13);
    guard_release(&gn);
    guard_release(&gv);
}

typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    int err;
} bad_append;

#define BAD(n, v, e)                                                                                         \
    {                                                                                                        \
        (n), sizeof(n) - 1, (v), sizeof(v) - 1, (e)                                                          \
    }

static void test_text_append_rejects_bad_name_and_value(void **state)
{
    (void)state;
    static const bad_append cases[] = {
        BAD("", "v", TL_E_BAD_NAME),          BAD(" ", "v", TL_E_BAD_NAME),
        BAD(" \t ", "v", TL_E_BAD_NAME),      BAD("\r\n", "v", TL_E_BAD_NAME),
        BAD("\r\n \t\n", "v", TL_E_BAD_NAME), BAD("a\rb", "v", TL_E_BAD_NAME),
        BAD("a\nb", "v", TL_E_BAD_NAME),      BAD(" a\r\nb ", "v", TL_E_BAD_NAME),
        BAD("a:b", "v", TL_E_BAD_NAME),       BAD(":a", "v", TL_E_BAD_NAME),
        BAD("a: ", "v", TL_E_BAD_NAME),       BAD("a", "", TL_E_BAD_VALUE),
        BAD("a", "x\r\ny:z", TL_E_BAD_VALUE), BAD("a", "\r", TL_E_BAD_VALUE),
        BAD("a", "\n", TL_E_BAD_VALUE),       BAD("a", "v\n", TL_E_BAD_VALUE),
        BAD("a", "\rv", TL_E_BAD_VALUE),      BAD("a", "v\r\n", TL_E_BAD_VALUE),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[64];
        uint8_t before[64];
        size_t len = 4;

        memset(buf, 0x5A, sizeof buf);
        memcpy(buf, "x:y\r", 4);
        memcpy(before, buf, sizeof buf);
        int err = tl_text_append(buf, sizeof buf, &len, cases[i].name, cases[i].name_len, cases[i].value,
                                 cases[i].value_len);
        if (err != cases[i].err)
            fail_msg("case %zu (name \"%s\", value \"%s\"): %d, expected %d", i, cases[i].name,
                     cases[i].value, err, cases[i].err);
        if (len != 4)
            fail_msg("case %zu: len changed to %zu on error", i, len);
        /* What was already there is intact. */
        assert_memory_equal(buf, before, 4);
    }
}

static void test_text_append_nospace_leaves_len_unchanged(void **state)
{
    (void)state;
    uint8_t buf[16];
    size_t len = 3;

    memcpy(buf, "abc", 3);
    /* "name:value\r\n" = 12 bytes; from len 3 it needs cap 15. */
    assert_int_equal(append_str(buf, 14, &len, "name", "value"), TL_E_NOSPACE);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(append_str(buf, 15, &len, "name", "value"), TL_OK);
    assert_int_equal(len, 15);
    assert_memory_equal(buf, "abcname:value\r\n", 15);
    /* Full buffer. */
    assert_int_equal(append_str(buf, 15, &len, "a", "b"), TL_E_NOSPACE);
    assert_int_equal(len, 15);
}

static void test_text_append_exact_fit_at_guard_page_no_overflow(void **state)
{
    (void)state;
    guard_region g;
    uint8_t zero[5] = {0};
    uint8_t *buf = guard_place(zero, sizeof zero, &g);
    size_t len = 0;

    assert_int_equal(append_str(buf, 5, &len, "a", "b"), TL_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "a:b\r\n", 5);
    guard_release(&g);

    buf = guard_place(zero, 4, &g);
    len = 0;
    assert_int_equal(append_str(buf, 4, &len, "a", "b"), TL_E_NOSPACE);
    assert_int_equal(len, 0);
    guard_release(&g);
}

static void test_text_append_too_long_past_65535(void **state)
{
    (void)state;
    size_t cap = 70000;
    uint8_t *buf = malloc(cap);
    size_t len;

    assert_non_null(buf);
    memset(buf, 'x', cap);
    /* 65530 + 5 = 65535: allowed. */
    len = 65530;
    assert_int_equal(append_str(buf, cap, &len, "a", "b"), TL_OK);
    assert_int_equal(len, 65535);
    assert_memory_equal(buf + 65530, "a:b\r\n", 5);
    /* One more byte anywhere is too long, even though the buffer has room. */
    assert_int_equal(append_str(buf, cap, &len, "a", "b"), TL_E_TOO_LONG);
    assert_int_equal(len, 65535);
    len = 65531;
    assert_int_equal(append_str(buf, cap, &len, "a", "b"), TL_E_TOO_LONG);
    assert_int_equal(len, 65531);
    /* A single header that alone passes the limit. */
    char *value = malloc(65535);
    assert_non_null(value);
    memset(value, 'v', 65535);
    len = 0;
    assert_int_equal(tl_text_append(buf, cap, &len, "a", 1, value, 65535), TL_E_TOO_LONG);
    assert_int_equal(len, 0);
    /* 65535 - 4 ("a:" + CRLF) = 65531 value bytes fit exactly. */
    assert_int_equal(tl_text_append(buf, cap, &len, "a", 1, value, 65531), TL_OK);
    assert_int_equal(len, 65535);
    free(value);
    free(buf);
}

static void test_text_append_then_iterate_round_trip(void **state)
{
    (void)state;
    static const exp_field want[] = {F("Content-Type", "application/json"), F("a", "b c"), F("Job ID", "x:y"),
                                     F("~connect_to", "uds|/tmp/s")};
    uint8_t buf[256];
    size_t len = 0;

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(tl_text_append(buf, sizeof buf, &len, want[i].name, want[i].name_len, want[i].value,
                                        want[i].value_len),
                         TL_OK);
    iter_expect("round trip", buf, len, want, sizeof want / sizeof want[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_iter_spec_single_header_no_crlf_gives_pair),
        cmocka_unit_test(test_text_iter_spec_empty_lines_skipped_values_trimmed),
        cmocka_unit_test(test_text_iter_spec_empty_name_ends_normal_loop),
        cmocka_unit_test(test_text_iter_spec_empty_name_further_next_continues),
        cmocka_unit_test(test_text_iter_spec_missing_final_crlf_gives_tail),
        cmocka_unit_test(test_text_iter_spec_lone_lf_is_ordinary_byte),
        cmocka_unit_test(test_text_iter_name_not_trimmed_value_trimmed),
        cmocka_unit_test(test_text_iter_value_splits_at_first_colon_only),
        cmocka_unit_test(test_text_iter_value_trims_space_and_tab_only),
        cmocka_unit_test(test_text_iter_trailing_lone_cr_stays_in_value),
        cmocka_unit_test(test_text_iter_lone_cr_in_middle_is_ordinary_byte),
        cmocka_unit_test(test_text_iter_lone_lf_at_start_belongs_to_name),
        cmocka_unit_test(test_text_iter_line_without_colon_gives_empty_value),
        cmocka_unit_test(test_text_iter_several_headers_without_final_crlf),
        cmocka_unit_test(test_text_iter_empty_input_gives_nothing),
        cmocka_unit_test(test_text_iter_only_empty_lines_stay_ended),
        cmocka_unit_test(test_text_iter_empty_name_mid_block_then_rest),
        cmocka_unit_test(test_text_iter_empty_name_in_final_line_ends),
        cmocka_unit_test(test_text_iter_golden_vectors_give_their_headers),
        cmocka_unit_test(test_text_append_writes_name_colon_value_crlf),
        cmocka_unit_test(test_text_append_keeps_order_and_duplicates),
        cmocka_unit_test(test_text_append_builds_v12_block),
        cmocka_unit_test(test_text_append_trims_name_space_tab_cr_lf),
        cmocka_unit_test(test_text_append_value_written_as_given),
        cmocka_unit_test(test_text_append_uses_lengths_not_nul),
        cmocka_unit_test(test_text_append_rejects_bad_name_and_value),
        cmocka_unit_test(test_text_append_nospace_leaves_len_unchanged),
        cmocka_unit_test(test_text_append_exact_fit_at_guard_page_no_overflow),
        cmocka_unit_test(test_text_append_too_long_past_65535),
        cmocka_unit_test(test_text_append_then_iterate_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
