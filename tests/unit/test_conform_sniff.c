/*
 * Unit tests of conform/sniff.c: recognising a peer's first bytes that are
 * plainly not a tofu frame (HTTP, TLS, a byte-swapped header, text), and
 * leaving every tofu frame alone. Every sample is also fed at every length
 * ending on a guard page, so no test reads past what it is given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../conform/sniff.h"
#include "../helpers/guard.h"

/* V20: EchoService's HelloResponse to EchoClient's HelloRequest (PROTOCOL.md 8). */
static size_t hello_response(uint8_t *out, int little_endian)
{
    static const char text[] = "~connect_to:tcp|127.0.0.1|7099\r\n";
    tl_header h, copy;

    memset(&h, 0, sizeof h);
    h.channel = 0x3c4d;
    h.proto = TL_OP_HELLO_RESPONSE;
    h.message_id = 1;
    h.thl = (uint16_t)(sizeof text - 1);
    h.bl = TL_HEADER_SIZE;
    if (little_endian) {
        tl_header_encode_native(&h, out);
    } else {
        tl_header_encode(&h, out);
    }
    memcpy(out + TL_HEADER_SIZE, text, sizeof text - 1);
    copy = h;
    tl_header_encode_native(&copy, out + TL_HEADER_SIZE + h.thl);
    return TL_HEADER_SIZE + h.thl + h.bl;
}

/* What tlc_sniff says about data[0..len) (whole: total = len), with the text. */
static tlc_sniff_kind sniff(const void *data, size_t len, char *why, size_t cap)
{
    guard_region g;
    uint8_t *p = guard_place(data, len, &g);
    tlc_sb b = {0};
    tlc_sniff_kind k = tlc_sniff(p, len, len, &b);

    snprintf(why, cap, "%s", b.s != NULL ? b.s : "");
    tlc_sb_free(&b);
    guard_release(&g);
    return k;
}

/* Every prefix: never out of bounds, and what is found with fewer bytes is
 * what is found with all of them or nothing. */
static void every_prefix(const void *data, size_t len, tlc_sniff_kind whole)
{
    size_t n;
    char why[512];

    for (n = 0; n <= len; n++) {
        tlc_sniff_kind k = sniff(data, n, why, sizeof why);

        if (k != TLC_SNIFF_TOFU && k != whole) {
            fail_msg("%zu of %zu bytes: %s, whole: %s (%s)", n, len, tlc_sniff_name(k), tlc_sniff_name(whole),
                     why);
        }
    }
}

static void test_conform_sniff_tofu_frames_are_tofu(void **state)
{
    uint8_t f[128];
    size_t n = hello_response(f, 0);
    char why[512];
    tl_header h;
    uint8_t r[32];

    (void)state;
    assert_int_equal(sniff(f, n, why, sizeof why), TLC_SNIFF_TOFU);
    assert_string_equal(why, "");
    every_prefix(f, n, TLC_SNIFF_TOFU);
    /* a Response with ids that look like other things read the other way */
    memset(&h, 0, sizeof h);
    h.channel = 0x1603; /* a TLS handshake's first bytes, status 0 */
    h.proto = TL_OP_RESPONSE;
    h.message_id = 0x0102030405060708ull;
    h.bl = TL_HEADER_SIZE;
    tl_header_encode(&h, r);
    tl_header_encode_native(&h, r + TL_HEADER_SIZE);
    assert_int_equal(sniff(r, sizeof r, why, sizeof why), TLC_SNIFF_TOFU);
    h.proto = TL_OP_HELLO_REQUEST; /* 16 03 03 00 00 ...: a record length of 0 */
    h.message_id = 1;
    tl_header_encode(&h, r);
    assert_int_equal(sniff(r, sizeof r, why, sizeof why), TLC_SNIFF_TOFU);
}

static void test_conform_sniff_byte_swapped_header_is_named(void **state)
{
    uint8_t f[128];
    size_t n = hello_response(f, 1);
    char why[512];
    tlc_sb b = {0};

    (void)state;
    assert_int_equal(sniff(f, n, why, sizeof why), TLC_SNIFF_SWAPPED);
    assert_non_null(strstr(why, "byte-swapped header"));
    assert_non_null(strstr(why, "HelloResponse, id 1, thl 32, bl 16"));
    every_prefix(f, n, TLC_SNIFF_SWAPPED);
    /* the little-endian frame must fit in what the peer sent */
    assert_int_equal(tlc_sniff(f, n, n - 1, &b), TLC_SNIFF_TOFU);
    tlc_sb_free(&b);
}

static void test_conform_sniff_http_is_named(void **state)
{
    static const char a[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
    static const char b[] = "<!DOCTYPE HTML>\n<html lang=\"en\">";
    char why[512];

    (void)state;
    assert_int_equal(sniff(a, sizeof a - 1, why, sizeof why), TLC_SNIFF_HTTP);
    assert_string_equal(why,
                        "the reply starts with 'HTTP/1.1 400 Bad Request': an HTTP server, not a tofu peer");
    every_prefix(a, sizeof a - 1, TLC_SNIFF_HTTP);
    assert_int_equal(sniff(b, sizeof b - 1, why, sizeof why), TLC_SNIFF_HTTP);
    assert_non_null(strstr(why, "an HTML page"));
}

static void test_conform_sniff_tls_records_are_named(void **state)
{
    static const uint8_t hello[] = {0x16, 0x03, 0x03, 0x00, 0x4a, 0x02, 0x00, 0x00, 0x46, 0x03, 0x03};
    static const uint8_t alert[] = {0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46};
    static const uint8_t long_alert[] = {0x15, 0x03, 0x01, 0x00, 0x03, 0x02, 0x46, 0x00};
    char why[512];

    (void)state;
    assert_int_equal(sniff(hello, sizeof hello, why, sizeof why), TLC_SNIFF_TLS);
    assert_string_equal(
        why, "the reply starts with 16 03 03 00 4a 02, a TLS handshake record (ServerHello): a TLS "
             "server, not a tofu peer (tofu has no TLS)");
    every_prefix(hello, sizeof hello, TLC_SNIFF_TLS);
    assert_int_equal(sniff(alert, sizeof alert, why, sizeof why), TLC_SNIFF_TLS);
    assert_non_null(strstr(why, "alert record"));
    assert_int_equal(sniff(long_alert, sizeof long_alert, why, sizeof why), TLC_SNIFF_TOFU);
}

static void test_conform_sniff_text_is_named(void **state)
{
    static const char ssh[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
    static const char short_text[] = "-ERR x";
    char why[512];

    (void)state;
    assert_int_equal(sniff(ssh, sizeof ssh - 1, why, sizeof why), TLC_SNIFF_TEXT);
    assert_string_equal(why,
                        "the reply starts with 'SSH-2.0-OpenSSH_9.2p1 Debian-2': text, not a tofu header (a "
                        "tofu peer's frames carry status 0 in byte 3)");
    every_prefix(ssh, sizeof ssh - 1, TLC_SNIFF_TEXT);
    /* too few bytes to tell */
    assert_int_equal(sniff(short_text, sizeof short_text - 1, why, sizeof why), TLC_SNIFF_TOFU);
    assert_int_equal(sniff(NULL, 0, why, sizeof why), TLC_SNIFF_TOFU);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conform_sniff_tofu_frames_are_tofu),
        cmocka_unit_test(test_conform_sniff_byte_swapped_header_is_named),
        cmocka_unit_test(test_conform_sniff_http_is_named),
        cmocka_unit_test(test_conform_sniff_tls_records_are_named),
        cmocka_unit_test(test_conform_sniff_text_is_named),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
