/*
 * Address headers (PROTOCOL.md 4.3 and the reference decisions of A12):
 * strict value parsing, formatting, header lookup, header building.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tofulab/wire.h"

#include "../helpers/golden.h"
#include "../helpers/guard.h"

static int parse_str(const char *s, tl_address *out) { return tl_address_parse(s, strlen(s), out); }

static const golden_vector *vector(const char *id)
{
    for (size_t i = 0; i < GOLDEN_COUNT; i++)
        if (strcmp(golden_vectors[i].id, id) == 0)
            return &golden_vectors[i];
    fail_msg("no vector %s", id);
    return NULL;
}

/* Text-header block of a golden vector, copied to out. */
static size_t vector_text(const char *id, uint8_t *out, size_t cap)
{
    const golden_vector *v = vector(id);
    uint8_t frame[512];
    size_t n = hex_to_bytes(v->frame_hex, frame, sizeof frame);
    assert_true(n != (size_t)-1);
    assert_true(v->thl <= cap);
    memcpy(out, frame + TL_HEADER_SIZE, v->thl);
    return v->thl;
}

/* ---- parse: accepted forms ---- */

static void test_address_parse_tcp_ipv4_gives_host_port(void **state)
{
    (void)state;
    tl_address a;

    memset(&a, 0x7F, sizeof a);
    assert_int_equal(parse_str("tcp|127.0.0.1|7099", &a), TL_OK);
    assert_int_equal(a.kind, TL_ADDR_TCP);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 7099);
}

static void test_address_parse_tcp_ipv6_literal_splits_on_pipe_only(void **state)
{
    (void)state;
    tl_address a;

    assert_int_equal(parse_str("tcp|::1|7099", &a), TL_OK);
    assert_int_equal(a.kind, TL_ADDR_TCP);
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 7099);
    assert_int_equal(parse_str("tcp|fe80::1:2:3|1", &a), TL_OK);
    assert_string_equal(a.host, "fe80::1:2:3");
    assert_int_equal(a.port, 1);
}

/* Fuzz finding F1 (tests/regress/address/f1-*): every accepted UDS path must
 * survive being written as a header and read back, so control characters
 * and leading or trailing blanks (trimmed by the iterator, 4.2) are refused. */
static void test_address_parse_uds_path_unwritable_rejected(void **state)
{
    (void)state;
    tl_address a;
    static const char *const bad[] = {"uds|\r",      "uds|/tmp/a\nb", "uds|/tmp/x\t",  "uds|/tmp/x ",
                                      "uds| /tmp/x", "uds|\t",        "uds|/tmp/\x7f", "uds|/tmp/\x01x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse_str(bad[i], &a), TL_E_BAD_ADDRESS);
    }
    assert_int_equal(parse_str("uds|/tmp/a b", &a), TL_OK); /* an inner space survives */
    assert_string_equal(a.path, "/tmp/a b");
}

static void test_address_parse_uds_gives_path(void **state)
{
    (void)state;
    tl_address a;

    memset(&a, 0x7F, sizeof a);
    assert_int_equal(parse_str("uds|/path", &a), TL_OK);
    assert_int_equal(a.kind, TL_ADDR_UDS);
    assert_string_equal(a.path, "/path");
    assert_int_equal(parse_str("uds|/srv/tofu/echo.sock", &a), TL_OK);
    assert_string_equal(a.path, "/srv/tofu/echo.sock");
    /* Relative paths and spaces are not refused. */
    assert_int_equal(parse_str("uds|my sock", &a), TL_OK);
    assert_string_equal(a.path, "my sock");
}

static void test_address_parse_port_range_edges(void **state)
{
    (void)state;
    tl_address a;

    assert_int_equal(parse_str("tcp|0.0.0.0|0", &a), TL_OK);
    assert_int_equal(a.port, 0);
    assert_string_equal(a.host, "0.0.0.0");
    assert_int_equal(parse_str("tcp|h|65535", &a), TL_OK);
    assert_int_equal(a.port, 65535);
    assert_int_equal(parse_str("tcp|localhost|1", &a), TL_OK);
    assert_int_equal(a.port, 1);
    assert_string_equal(a.host, "localhost");
}

static void test_address_parse_port_leading_zero_rejected(void **state)
{
    (void)state;
    tl_address a;

    /* wire.h: "port a canonical decimal 0-65535: digits only, no leading
     * zero" (tofu itself accepts leading zeros). */
    static const char *const bad[] = {
        "tcp|h|07099", "tcp|h|00", "tcp|h|01", "tcp|h|007099", "tcp|h|0000000000065535", "tcp|h|065536"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int err = parse_str(bad[i], &a);
        if (err != TL_E_BAD_ADDRESS)
            fail_msg("\"%s\": %d, expected TL_E_BAD_ADDRESS", bad[i], err);
    }
    /* A lone zero is canonical. */
    assert_int_equal(parse_str("tcp|h|0", &a), TL_OK);
    assert_int_equal(a.port, 0);
}

static void test_address_parse_every_accepted_port_formats_back(void **state)
{
    (void)state;
    char text[32];
    char out[TL_ADDR_TEXT_MAX];
    tl_address a;

    /* Canonical form: every port string that parses formats back to itself. */
    for (unsigned p = 0; p <= 65535; p++) {
        int n = snprintf(text, sizeof text, "tcp|h|%u", p);
        if (parse_str(text, &a) != TL_OK || a.port != p)
            fail_msg("\"%s\" not accepted as %u", text, p);
        if (tl_address_format(&a, out, sizeof out) != n || strcmp(out, text) != 0)
            fail_msg("\"%s\" formats as \"%s\"", text, out);
    }
}

static void test_address_parse_host_255_ok_256_rejected(void **state)
{
    (void)state;
    char value[300];
    tl_address a;

    memcpy(value, "tcp|", 4);
    memset(value + 4, 'h', 255);
    memcpy(value + 4 + 255, "|80", 4);
    assert_int_equal(parse_str(value, &a), TL_OK);
    assert_int_equal(strlen(a.host), 255);
    assert_int_equal(a.port, 80);

    memset(value + 4, 'h', 256);
    memcpy(value + 4 + 256, "|80", 4);
    assert_int_equal(parse_str(value, &a), TL_E_BAD_ADDRESS);
}

static void test_address_parse_path_107_ok_108_rejected(void **state)
{
    (void)state;
    char value[200];
    tl_address a;

    memcpy(value, "uds|/", 5);
    memset(value + 5, 'p', 106);
    value[5 + 106] = '\0'; /* path = 107 bytes */
    assert_int_equal(strlen(value) - 4, 107);
    assert_int_equal(parse_str(value, &a), TL_OK);
    assert_int_equal(a.kind, TL_ADDR_UDS);
    assert_int_equal(strlen(a.path), 107);
    assert_memory_equal(a.path, value + 4, 108); /* NUL included */

    memset(value + 5, 'p', 107);
    value[5 + 107] = '\0'; /* path = 108 bytes */
    assert_int_equal(parse_str(value, &a), TL_E_BAD_ADDRESS);
}

static void test_address_parse_uses_len_not_nul(void **state)
{
    (void)state;
    static const char text[] = "tcp|127.0.0.1|7099";
    guard_region g;
    const char *p = (const char *)guard_place(text, sizeof text - 1, &g);
    tl_address a;

    /* Not NUL-terminated: the value ends at a guard page. */
    assert_int_equal(tl_address_parse(p, sizeof text - 1, &a), TL_OK);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 7099);
    guard_release(&g);

    /* Bytes past len are ignored. */
    assert_int_equal(tl_address_parse("tcp|h|7099999", 10, &a), TL_OK);
    assert_int_equal(a.port, 7099);
    assert_int_equal(tl_address_parse("uds|/abcXYZ", 8, &a), TL_OK);
    assert_string_equal(a.path, "/abc");

    p = (const char *)guard_place("uds|/x", 6, &g);
    assert_int_equal(tl_address_parse(p, 6, &a), TL_OK);
    assert_string_equal(a.path, "/x");
    guard_release(&g);
}

/* ---- parse: rejected forms ---- */

typedef struct {
    const char *text;
    size_t len;
    const char *why;
} bad_case;

#define BADV(s, why)                                                                                         \
    {                                                                                                        \
        (s), sizeof(s) - 1, (why)                                                                            \
    }

static void test_address_parse_rejects_malformed(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        BADV("", "empty"),
        BADV("tcp", "1 part"),
        BADV("uds", "1 part"),
        BADV("127.0.0.1", "1 part"),
        BADV("foo|h|1", "first part not tcp (tofu accepts it)"),
        BADV("TCP|h|1", "tcp is exact"),
        BADV("udp|h|1", "first part not tcp"),
        BADV("uds|/a|b", "3 parts beginning with uds"),
        BADV("tcp|h|1|x", "4 parts"),
        BADV("tcp|h|1|", "4 parts, last empty"),
        BADV("tcp|h|1|2|3", "5 parts"),
        BADV("uds|/a||", "4 parts"),
        BADV("|||", "4 empty parts"),
        BADV("tcp||7099", "empty host (tofu: 0.0.0.0)"),
        BADV("tcp|h|", "empty port"),
        BADV("tcp|h|+1", "plus sign"),
        BADV("tcp|h|0x10", "hex port"),
        BADV("tcp|h|65536", "port > 65535"),
        BADV("tcp|h|99999", "port > 65535"),
        BADV("tcp|h|4294967297", "port wraps at 32 bits"),
        BADV("tcp|h|18446744073709551617", "port wraps at 64 bits"),
        BADV("tcp|h|1_0", "underscore"),
        BADV("tcp|h|-0", "minus zero"),
        BADV("tcp|h|-1", "negative"),
        BADV("tcp|h| 1", "space before port"),
        BADV("tcp|h|1 ", "space after port"),
        BADV("tcp|h|7099\n", "LF after port"),
        BADV("tcp|h h|1", "space in host"),
        BADV("tcp| h|1", "leading space in host"),
        BADV("tcp|h\t|1", "tab in host"),
        BADV("tcp|h\r\n|1", "CR LF in host"),
        BADV("tcp|h\x01|1", "control character in host"),
        BADV("uds|", "empty path"),
        BADV("uds|/a\0b", "NUL in path"),
        BADV("UDS|/a", "uds is exact"),
        BADV("tcp|/a", "2 parts not beginning with uds"),
        BADV("foo|/a", "2 parts not beginning with uds"),
        BADV("|/a", "2 parts, empty first"),
        BADV("\"tcp|127.0.0.1|7099\"", "docs' quoted form"),
        BADV(" tcp|127.0.0.1|7099", "leading space"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tl_address a;
        int err = tl_address_parse(cases[i].text, cases[i].len, &a);
        if (err != TL_E_BAD_ADDRESS)
            fail_msg("\"%s\" (%s): %d, expected TL_E_BAD_ADDRESS", cases[i].text, cases[i].why, err);
    }
}

static void test_address_parse_rejects_at_guard_page_without_overread(void **state)
{
    (void)state;
    static const char *const texts[] = {"tcp", "tcp|", "tcp|h", "tcp|h|", "uds|", "tcp|h|655", "|"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        guard_region g;
        size_t n = strlen(texts[i]);
        const char *p = (const char *)guard_place(texts[i], n, &g);
        tl_address a;
        int err = tl_address_parse(p, n, &a);
        if (strcmp(texts[i], "tcp|h|655") == 0)
            assert_int_equal(err, TL_OK);
        else if (err != TL_E_BAD_ADDRESS)
            fail_msg("\"%s\": %d, expected TL_E_BAD_ADDRESS", texts[i], err);
        guard_release(&g);
    }
}

/* ---- format ---- */

static tl_address tcp_addr(const char *host, uint16_t port)
{
    tl_address a;
    memset(&a, 0, sizeof a);
    a.kind = TL_ADDR_TCP;
    strcpy(a.host, host);
    a.port = port;
    return a;
}

static tl_address uds_addr(const char *path)
{
    tl_address a;
    memset(&a, 0, sizeof a);
    a.kind = TL_ADDR_UDS;
    strcpy(a.path, path);
    return a;
}

static void test_address_format_tcp_and_uds(void **state)
{
    (void)state;
    char out[TL_ADDR_TEXT_MAX];
    tl_address a = tcp_addr("127.0.0.1", 7099);
    tl_address u = uds_addr("/srv/tofu/echo.sock");
    tl_address z = tcp_addr("::1", 0);

    assert_int_equal(tl_address_format(&a, out, sizeof out), 18);
    assert_string_equal(out, "tcp|127.0.0.1|7099");
    assert_int_equal(tl_address_format(&u, out, sizeof out), 23);
    assert_string_equal(out, "uds|/srv/tofu/echo.sock");
    assert_int_equal(tl_address_format(&z, out, sizeof out), 9);
    assert_string_equal(out, "tcp|::1|0");
}

static void test_address_format_needs_room_for_nul(void **state)
{
    (void)state;
    tl_address a = tcp_addr("127.0.0.1", 7099);
    guard_region g;
    char zero[19] = {0};
    char *out = (char *)guard_place(zero, 19, &g);

    /* 18 characters + NUL fit exactly in 19 bytes at a guard page. */
    assert_int_equal(tl_address_format(&a, out, 19), 18);
    assert_string_equal(out, "tcp|127.0.0.1|7099");
    guard_release(&g);

    out = (char *)guard_place(zero, 18, &g);
    assert_int_equal(tl_address_format(&a, out, 18), TL_E_NOSPACE);
    guard_release(&g);
}

static void test_address_format_unknown_kind_is_inval(void **state)
{
    (void)state;
    char out[TL_ADDR_TEXT_MAX];
    tl_address a = tcp_addr("h", 1);

    a.kind = (tl_addr_kind)0;
    assert_int_equal(tl_address_format(&a, out, sizeof out), TL_E_INVAL);
    a.kind = (tl_addr_kind)3;
    assert_int_equal(tl_address_format(&a, out, sizeof out), TL_E_INVAL);
}

static void test_address_format_longest_fits_text_max(void **state)
{
    (void)state;
    char host[TL_ADDR_HOST_MAX + 1];
    char out[TL_ADDR_TEXT_MAX];
    tl_address a;

    memset(host, 'h', TL_ADDR_HOST_MAX);
    host[TL_ADDR_HOST_MAX] = '\0';
    a = tcp_addr(host, 65535);
    assert_int_equal(tl_address_format(&a, out, sizeof out), 4 + 255 + 1 + 5);
    assert_int_equal(strlen(out), 265);
    assert_memory_equal(out + 260, "65535", 6);
}

static void test_address_format_parse_round_trip(void **state)
{
    (void)state;
    static const char *const texts[] = {"tcp|127.0.0.1|7099",    "tcp|::1|7099", "tcp|0.0.0.0|0",
                                        "tcp|example.org|65535", "uds|/path",    "uds|/srv/tofu/echo.sock"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        tl_address a;
        tl_address b;
        char out[TL_ADDR_TEXT_MAX];
        assert_int_equal(parse_str(texts[i], &a), TL_OK);
        int n = tl_address_format(&a, out, sizeof out);
        assert_int_equal(n, (int)strlen(texts[i]));
        assert_string_equal(out, texts[i]);
        assert_int_equal(parse_str(out, &b), TL_OK);
        assert_int_equal(b.kind, a.kind);
        if (a.kind == TL_ADDR_TCP) {
            assert_string_equal(b.host, a.host);
            assert_int_equal(b.port, a.port);
        } else {
            assert_string_equal(b.path, a.path);
        }
    }
}

/* ---- from headers ---- */

static tl_status from_text(const char *text, unsigned opcode, tl_address *out)
{
    return tl_address_from_headers((const uint8_t *)text, strlen(text), opcode, out);
}

static void test_address_from_headers_v01_hello_gives_tcp(void **state)
{
    (void)state;
    uint8_t text[128];
    size_t n = vector_text("V01", text, sizeof text);
    tl_address a;

    assert_int_equal(tl_address_from_headers(text, n, TL_OP_HELLO_REQUEST, &a), TL_STATUS_SUCCESS);
    assert_int_equal(a.kind, TL_ADDR_TCP);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 7099);
}

static void test_address_from_headers_v18_welcome_gives_listen(void **state)
{
    (void)state;
    uint8_t text[128];
    size_t n = vector_text("V18", text, sizeof text);
    tl_address a;

    assert_int_equal(tl_address_from_headers(text, n, TL_OP_WELCOME_REQUEST, &a), TL_STATUS_SUCCESS);
    assert_int_equal(a.kind, TL_ADDR_TCP);
    assert_string_equal(a.host, "0.0.0.0");
    assert_int_equal(a.port, 7099);
}

static void test_address_from_headers_v13_hello_gives_uds(void **state)
{
    (void)state;
    uint8_t text[128];
    size_t n = vector_text("V13", text, sizeof text);
    guard_region g;
    const uint8_t *p = guard_place(text, n, &g);
    tl_address a;

    assert_int_equal(tl_address_from_headers(p, n, TL_OP_HELLO_REQUEST, &a), TL_STATUS_SUCCESS);
    assert_int_equal(a.kind, TL_ADDR_UDS);
    assert_string_equal(a.path, "/srv/tofu/echo.sock");
    guard_release(&g);
}

static void test_address_from_headers_kind_must_match_opcode(void **state)
{
    (void)state;
    uint8_t text[128];
    size_t n;
    tl_address a;

    n = vector_text("V01", text, sizeof text);
    assert_int_equal(tl_address_from_headers(text, n, TL_OP_WELCOME_REQUEST, &a), TL_STATUS_INVALID_ADDRESS);
    n = vector_text("V18", text, sizeof text);
    assert_int_equal(tl_address_from_headers(text, n, TL_OP_HELLO_REQUEST, &a), TL_STATUS_INVALID_ADDRESS);
}

static void test_address_from_headers_no_text_is_wrong_address(void **state)
{
    (void)state;
    static const uint8_t some[] = "~connect_to:tcp|h|1\r\n";
    tl_address a;

    assert_int_equal(tl_address_from_headers(NULL, 0, TL_OP_HELLO_REQUEST, &a), TL_STATUS_WRONG_ADDRESS);
    assert_int_equal(tl_address_from_headers(some, 0, TL_OP_HELLO_REQUEST, &a), TL_STATUS_WRONG_ADDRESS);
    assert_int_equal(tl_address_from_headers(NULL, 0, TL_OP_WELCOME_REQUEST, &a), TL_STATUS_WRONG_ADDRESS);
}

static void test_address_from_headers_without_address_header_is_invalid(void **state)
{
    (void)state;
    tl_address a;

    assert_int_equal(from_text("a:b\r\n", TL_OP_HELLO_REQUEST, &a), TL_STATUS_INVALID_ADDRESS);
    assert_int_equal(from_text("Content-Type:x\r\nJob-ID:1\r\n", TL_OP_WELCOME_REQUEST, &a),
                     TL_STATUS_INVALID_ADDRESS);
    /* Names are matched exactly: no trimming, case-sensitive, no prefix match. */
    assert_int_equal(from_text(" ~connect_to:tcp|h|1\r\n", TL_OP_HELLO_REQUEST, &a),
                     TL_STATUS_INVALID_ADDRESS);
    assert_int_equal(from_text("~connect_to :tcp|h|1\r\n", TL_OP_HELLO_REQUEST, &a),
                     TL_STATUS_INVALID_ADDRESS);
    assert_int_equal(from_text("~Connect_To:tcp|h|1\r\n", TL_OP_HELLO_REQUEST, &a),
                     TL_STATUS_INVALID_ADDRESS);
    assert_int_equal(from_text("~connect_tox:tcp|h|1\r\n", TL_OP_HELLO_REQUEST, &a),
                     TL_STATUS_INVALID_ADDRESS);
    assert_int_equal(from_text("connect_to:tcp|h|1\r\n", TL_OP_HELLO_REQUEST, &a), TL_STATUS_INVALID_ADDRESS);
    /* Text present but no header in it (only an empty line). */
    assert_int_equal(from_text("\r\n", TL_OP_HELLO_REQUEST, &a), TL_STATUS_INVALID_ADDRESS);
}

static void test_address_from_headers_first_address_header_decides(void **state)
{
    (void)state;
    tl_address a;

    /* Other headers before it are skipped. */
    assert_int_equal(from_text("x:y\r\n~connect_to:tcp|h|5\r\n", TL_OP_HELLO_REQUEST, &a), TL_STATUS_SUCCESS);
    assert_string_equal(a.host, "h");
    assert_int_equal(a.port, 5);
    /* The first one wins even when a later one would be better. */
    assert_int_equal(
        from_text("~listen_on:tcp|0.0.0.0|1\r\n~connect_to:tcp|h|2\r\n", TL_OP_HELLO_REQUEST, &a),
        TL_STATUS_INVALID_ADDRESS);
    assert_int_equal(
        from_text("~listen_on:tcp|0.0.0.0|1\r\n~connect_to:tcp|h|2\r\n", TL_OP_WELCOME_REQUEST, &a),
        TL_STATUS_SUCCESS);
    assert_int_equal(a.port, 1);
    assert_int_equal(from_text("~connect_to:tcp|h|x\r\n~connect_to:tcp|h|2\r\n", TL_OP_HELLO_REQUEST, &a),
                     TL_STATUS_INVALID_ADDRESS);
    assert_int_equal(from_text("~connect_to:tcp|a|3\r\n~connect_to:tcp|b|4\r\n", TL_OP_HELLO_REQUEST, &a),
                     TL_STATUS_SUCCESS);
    assert_string_equal(a.host, "a");
    assert_int_equal(a.port, 3);
}

static void test_address_from_headers_value_trimmed_by_iterator(void **state)
{
    (void)state;
    tl_address a;

    /* The docs' space after the colon is tolerated (values are trimmed)... */
    assert_int_equal(from_text("~connect_to: tcp|127.0.0.1|7099\t\r\n", TL_OP_HELLO_REQUEST, &a),
                     TL_STATUS_SUCCESS);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 7099);
    /* ...its quotes are not. */
    assert_int_equal(from_text("~connect_to: \"tcp|127.0.0.1|7099\"\r\n", TL_OP_HELLO_REQUEST, &a),
                     TL_STATUS_INVALID_ADDRESS);
    /* Missing final CR LF is accepted by the iterator. */
    assert_int_equal(from_text("~listen_on:uds|/tmp/x", TL_OP_WELCOME_REQUEST, &a), TL_STATUS_SUCCESS);
    assert_string_equal(a.path, "/tmp/x");
}

static void test_address_from_headers_bad_values_invalid_address(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "~connect_to:tcp\r\n",
        "~connect_to:foo|h|1\r\n",
        "~connect_to:tcp|h|1|x\r\n",
        "~connect_to:tcp||7099\r\n",
        "~connect_to:tcp|h|65536\r\n",
        "~connect_to:uds|\r\n",
        "~connect_to:\r\n",
        "~connect_to\r\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        tl_address a;
        tl_status st = from_text(texts[i], TL_OP_HELLO_REQUEST, &a);
        if (st != TL_STATUS_INVALID_ADDRESS)
            fail_msg("\"%s\": status %d, expected 13", texts[i], (int)st);
    }
}

static void test_address_from_headers_empty_name_line_ends_search(void **state)
{
    (void)state;
    tl_address a;

    /* A normal iterator loop stops at ":x" and never sees the address. */
    assert_int_equal(from_text(":x\r\n~connect_to:tcp|h|1\r\n", TL_OP_HELLO_REQUEST, &a),
                     TL_STATUS_INVALID_ADDRESS);
}

/* ---- append_header ---- */

static void test_address_append_header_hello_tcp_is_v01_block(void **state)
{
    (void)state;
    uint8_t want[128];
    size_t wn = vector_text("V01", want, sizeof want);
    uint8_t buf[128];
    size_t len = 0;
    tl_address a = tcp_addr("127.0.0.1", 7099);

    assert_int_equal(tl_address_append_header(buf, sizeof buf, &len, TL_OP_HELLO_REQUEST, &a), TL_OK);
    assert_int_equal(len, 32);
    assert_int_equal(wn, 32);
    assert_memory_equal(buf, "~connect_to:tcp|127.0.0.1|7099\r\n", 32);
    assert_memory_equal(buf, want, 32);
}

static void test_address_append_header_welcome_and_uds_match_vectors(void **state)
{
    (void)state;
    uint8_t want[128];
    uint8_t buf[128];
    size_t wn;
    size_t len = 0;
    tl_address l = tcp_addr("0.0.0.0", 7099);
    tl_address u = uds_addr("/srv/tofu/echo.sock");

    wn = vector_text("V18", want, sizeof want);
    assert_int_equal(tl_address_append_header(buf, sizeof buf, &len, TL_OP_WELCOME_REQUEST, &l), TL_OK);
    assert_int_equal(len, 29);
    assert_int_equal(wn, 29);
    assert_memory_equal(buf, want, 29);

    len = 0;
    wn = vector_text("V13", want, sizeof want);
    assert_int_equal(tl_address_append_header(buf, sizeof buf, &len, TL_OP_HELLO_REQUEST, &u), TL_OK);
    assert_int_equal(len, 37);
    assert_int_equal(wn, 37);
    assert_memory_equal(buf, want, 37);
}

static void test_address_append_header_appends_after_existing(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t len = 0;
    tl_address a = tcp_addr("127.0.0.1", 7099);
    tl_address got;

    assert_int_equal(tl_text_append(buf, sizeof buf, &len, "x", 1, "y", 1), TL_OK);
    assert_int_equal(tl_address_append_header(buf, sizeof buf, &len, TL_OP_HELLO_REQUEST, &a), TL_OK);
    assert_int_equal(len, 5 + 32);
    assert_memory_equal(buf, "x:y\r\n~connect_to:tcp|127.0.0.1|7099\r\n", 37);
    assert_int_equal(tl_address_from_headers(buf, len, TL_OP_HELLO_REQUEST, &got), TL_STATUS_SUCCESS);
    assert_string_equal(got.host, "127.0.0.1");
}

static void test_address_append_header_nospace_leaves_len(void **state)
{
    (void)state;
    uint8_t zero[32] = {0};
    guard_region g;
    uint8_t *buf = guard_place(zero, 31, &g);
    size_t len = 0;
    tl_address a = tcp_addr("127.0.0.1", 7099);

    assert_int_equal(tl_address_append_header(buf, 31, &len, TL_OP_HELLO_REQUEST, &a), TL_E_NOSPACE);
    assert_int_equal(len, 0);
    guard_release(&g);

    buf = guard_place(zero, 32, &g);
    assert_int_equal(tl_address_append_header(buf, 32, &len, TL_OP_HELLO_REQUEST, &a), TL_OK);
    assert_int_equal(len, 32);
    guard_release(&g);
}

static void test_address_append_header_other_opcode_refused(void **state)
{
    (void)state;
    uint8_t buf[128];
    tl_address a = tcp_addr("127.0.0.1", 7099);
    static const unsigned ops[] = {TL_OP_REQUEST, TL_OP_HELLO_RESPONSE, TL_OP_WELCOME_RESPONSE,
                                   TL_OP_BYE_SIGNAL, 12};

    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t len = 0;
        int err = tl_address_append_header(buf, sizeof buf, &len, ops[i], &a);
        if (err >= 0)
            fail_msg("op %u: %d, expected an error", ops[i], err);
        assert_int_equal(len, 0);
    }
}

/* Every refusal names the leftmost wrong part, where it starts, and why. */
static void test_address_parse_detail_names_part_offset_reason(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        const char *part;
        size_t offset;
        const char *reason;
    } cases[] = {
        {"tcp|1.2.3.4|99999", "port", 12, "port 99999 out of range 1-65535"},
        {"tcp|1.2.3.4|1000000", "port", 12, "port 1000000 out of range 1-65535"},
        {"tcp|host", "port", 8, "no port (expected tcp|HOST|PORT)"},
        {"tcp|host|", "port", 9, "empty port"},
        {"tcp|host|07", "port", 9, "port '07' has a leading zero"},
        {"tcp|host|x1", "port", 9, "port 'x1' is not a decimal number"},
        {"tcp|host|1|2", "port", 10, "'|' in the port at byte 10: too many parts"},
        {"tcp||7099", "host", 4, "empty host"},
        {"tcp|a b|7099", "host", 5, "space 0x20 in the host at byte 5"},
        {"tcp|bad host|99999", "host", 7, "space 0x20 in the host at byte 7"}, /* leftmost part */
        {"udp|127.0.0.1|7099", "kind", 0, "unknown kind 'udp' (expected tcp or uds)"},
        {"|x", "kind", 0, "unknown kind '' (expected tcp or uds)"},
        {"tcp", "value", 0, "no '|' (expected tcp|HOST|PORT or uds|PATH)"},
        {"", "value", 0, "no '|' (expected tcp|HOST|PORT or uds|PATH)"},
        {"uds|", "path", 4, "empty path"},
        {"uds|a|b", "path", 5, "'|' in the path at byte 5"},
        {"uds|a\nb", "path", 5, "control character 0x0a in the path at byte 5"},
        {"uds| a", "path", 4, "the path begins with a space"},
        {"uds|a ", "path", 5, "the path ends with a space"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tl_address a;
        tl_address_error err;
        memset(&err, 0x5a, sizeof err);
        int rc = tl_address_parse_detail(cases[i].value, strlen(cases[i].value), &a, &err);
        if (rc != TL_E_BAD_ADDRESS || strcmp(err.part, cases[i].part) != 0 || err.offset != cases[i].offset ||
            strcmp(err.reason, cases[i].reason) != 0) {
            fail_msg("'%s': rc %d part %s offset %zu reason [%s]", cases[i].value, rc,
                     rc == TL_E_BAD_ADDRESS ? err.part : "-", err.offset, err.reason);
        }
        /* tl_address_parse agrees */
        assert_int_equal(tl_address_parse(cases[i].value, strlen(cases[i].value), &a), TL_E_BAD_ADDRESS);
    }
    /* A long path: the length is named. */
    char path[160] = "uds|";
    memset(path + 4, 'p', 108);
    tl_address a;
    tl_address_error err;
    assert_int_equal(tl_address_parse_detail(path, 112, &a, &err), TL_E_BAD_ADDRESS);
    assert_string_equal(err.reason, "path of 108 bytes is longer than 107");
    /* Untrusted bytes in a reason are printable and cut. */
    assert_int_equal(tl_address_parse_detail("\x01\x7f'abcdefghijklmnop|x", 20, &a, &err), TL_E_BAD_ADDRESS);
    assert_string_equal(err.reason, "unknown kind '\\x01\\x7f\\x27abcdefghi...' (expected tcp or uds)");
    /* Success leaves no error and the NULL err is allowed. */
    assert_int_equal(tl_address_parse_detail("tcp|h|0", 7, &a, NULL), TL_OK);
    assert_int_equal(a.port, 0);
    assert_int_equal(tl_address_parse_detail(NULL, 3, &a, &err), TL_E_BAD_ADDRESS);
    assert_string_equal(err.part, "value");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_parse_detail_names_part_offset_reason),
        cmocka_unit_test(test_address_parse_tcp_ipv4_gives_host_port),
        cmocka_unit_test(test_address_parse_tcp_ipv6_literal_splits_on_pipe_only),
        cmocka_unit_test(test_address_parse_uds_gives_path),
        cmocka_unit_test(test_address_parse_uds_path_unwritable_rejected),
        cmocka_unit_test(test_address_parse_port_range_edges),
        cmocka_unit_test(test_address_parse_port_leading_zero_rejected),
        cmocka_unit_test(test_address_parse_every_accepted_port_formats_back),
        cmocka_unit_test(test_address_parse_host_255_ok_256_rejected),
        cmocka_unit_test(test_address_parse_path_107_ok_108_rejected),
        cmocka_unit_test(test_address_parse_uses_len_not_nul),
        cmocka_unit_test(test_address_parse_rejects_malformed),
        cmocka_unit_test(test_address_parse_rejects_at_guard_page_without_overread),
        cmocka_unit_test(test_address_format_tcp_and_uds),
        cmocka_unit_test(test_address_format_needs_room_for_nul),
        cmocka_unit_test(test_address_format_unknown_kind_is_inval),
        cmocka_unit_test(test_address_format_longest_fits_text_max),
        cmocka_unit_test(test_address_format_parse_round_trip),
        cmocka_unit_test(test_address_from_headers_v01_hello_gives_tcp),
        cmocka_unit_test(test_address_from_headers_v18_welcome_gives_listen),
        cmocka_unit_test(test_address_from_headers_v13_hello_gives_uds),
        cmocka_unit_test(test_address_from_headers_kind_must_match_opcode),
        cmocka_unit_test(test_address_from_headers_no_text_is_wrong_address),
        cmocka_unit_test(test_address_from_headers_without_address_header_is_invalid),
        cmocka_unit_test(test_address_from_headers_first_address_header_decides),
        cmocka_unit_test(test_address_from_headers_value_trimmed_by_iterator),
        cmocka_unit_test(test_address_from_headers_bad_values_invalid_address),
        cmocka_unit_test(test_address_from_headers_empty_name_line_ends_search),
        cmocka_unit_test(test_address_append_header_hello_tcp_is_v01_block),
        cmocka_unit_test(test_address_append_header_welcome_and_uds_match_vectors),
        cmocka_unit_test(test_address_append_header_appends_after_existing),
        cmocka_unit_test(test_address_append_header_nospace_leaves_len),
        cmocka_unit_test(test_address_append_header_other_opcode_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
