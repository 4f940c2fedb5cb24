/*
 * Status codes (PROTOCOL.md section 3): the 32 names as tofu spells them,
 * byte mapping (>= 31 -> unknown_error), error names, parsing; and
 * tl_strerror for the API error codes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tofulab/wire.h"

typedef struct {
    const char *name;
    const char *error; /* NULL for success */
} status_row;

/* Section 3, values 0-31 in order. */
static const status_row table[] = {
    {"success", NULL},
    {"not_implemented_yet", "NotImplementedYet"},
    {"wrong_address", "WrongAddress"},
    {"not_allowed", "NotAllowed"},
    {"null_message", "NullMessage"},
    {"invalid_message", "InvalidMessage"},
    {"invalid_op_code", "InvalidOpCode"},
    {"invalid_headers_len", "InvalidHeadersLen"},
    {"invalid_body_len", "InvalidBodyLen"},
    {"invalid_more_usage", "InvalidMoreUsage"},
    {"invalid_channel_number", "InvalidChannelNumber"},
    {"invelid_mchn_group", "InvalidMessageChannelGroup"},
    {"invalid_message_id", "InvalidMessageId"},
    {"invalid_address", "InvalidAddress"},
    {"uds_path_not_found", "UDSPathNotFound"},
    {"notification_disabled", "NotificationDisabled"},
    {"notification_failed", "NotificationFailed"},
    {"peer_disconnected", "PeerDisconnected"},
    {"communication_failed", "CommunicationFailed"},
    {"pool_empty", "PoolEmpty"},
    {"allocation_failed", "AllocationFailed"},
    {"receiver_update", "ReceiverUpdate"},
    {"channel_closed", "ChannelClosed"},
    {"shutdown_started", "ShutdownStarted"},
    {"connect_failed", "ConnectFailed"},
    {"listen_failed", "ListenFailed"},
    {"accept_failed", "AcceptFailed"},
    {"send_failed", "SendFailed"},
    {"recv_failed", "RecvFailed"},
    {"setsockopt_failed", "SetsockoptFailed"},
    {"processing_failed", "ProcessingFailed"},
    {"unknown_error", "UnknownError"},
};

#define ROWS (sizeof table / sizeof table[0])

static void test_status_table_has_32_entries(void **state)
{
    (void)state;
    assert_int_equal(ROWS, 32);
    assert_int_equal(TL_STATUS_COUNT, 32);
}

static void test_status_enum_values_match_section3(void **state)
{
    (void)state;
    /* A few anchors across the table; a shifted enum breaks one of them. */
    assert_int_equal(TL_STATUS_SUCCESS, 0);
    assert_int_equal(TL_STATUS_WRONG_ADDRESS, 2);
    assert_int_equal(TL_STATUS_INVALID_OP_CODE, 6);
    assert_int_equal(TL_STATUS_INVALID_HEADERS_LEN, 7);
    assert_int_equal(TL_STATUS_INVALID_BODY_LEN, 8);
    assert_int_equal(TL_STATUS_INVALID_MORE_USAGE, 9);
    assert_int_equal(TL_STATUS_INVALID_CHANNEL_NUMBER, 10);
    assert_int_equal(TL_STATUS_INVALID_MCHN_GROUP, 11);
    assert_int_equal(TL_STATUS_INVALID_MESSAGE_ID, 12);
    assert_int_equal(TL_STATUS_INVALID_ADDRESS, 13);
    assert_int_equal(TL_STATUS_PEER_DISCONNECTED, 17);
    assert_int_equal(TL_STATUS_POOL_EMPTY, 19);
    assert_int_equal(TL_STATUS_RECEIVER_UPDATE, 21);
    assert_int_equal(TL_STATUS_CHANNEL_CLOSED, 22);
    assert_int_equal(TL_STATUS_CONNECT_FAILED, 24);
    assert_int_equal(TL_STATUS_RECV_FAILED, 28);
    assert_int_equal(TL_STATUS_PROCESSING_FAILED, 30);
    assert_int_equal(TL_STATUS_UNKNOWN_ERROR, 31);
}

static void test_status_names_match_tofu_spelling(void **state)
{
    (void)state;
    for (unsigned v = 0; v < ROWS; v++) {
        const char *name = tl_status_name((uint8_t)v);
        if (name == NULL || strcmp(name, table[v].name) != 0)
            fail_msg("status %u: name %s, expected %s", v, name ? name : "(null)", table[v].name);
    }
    /* tofu's misspelling is kept. */
    assert_string_equal(tl_status_name(11), "invelid_mchn_group");
}

static void test_status_error_names_match_table(void **state)
{
    (void)state;
    assert_null(tl_status_error_name(0));
    for (unsigned v = 1; v < ROWS; v++) {
        const char *name = tl_status_error_name((uint8_t)v);
        if (name == NULL || strcmp(name, table[v].error) != 0)
            fail_msg("status %u: error name %s, expected %s", v, name ? name : "(null)", table[v].error);
    }
}

static void test_status_from_byte_identity_below_31(void **state)
{
    (void)state;
    for (unsigned v = 0; v <= 30; v++)
        assert_int_equal(tl_status_from_byte((uint8_t)v), v);
}

static void test_status_from_byte_31_and_above_unknown_error(void **state)
{
    (void)state;
    for (unsigned v = 31; v <= 255; v++) {
        if (tl_status_from_byte((uint8_t)v) != TL_STATUS_UNKNOWN_ERROR)
            fail_msg("byte %u: status %d, expected 31", v, (int)tl_status_from_byte((uint8_t)v));
        const char *name = tl_status_name((uint8_t)v);
        if (name == NULL || strcmp(name, "unknown_error") != 0)
            fail_msg("byte %u: name %s, expected unknown_error", v, name ? name : "(null)");
        const char *err = tl_status_error_name((uint8_t)v);
        if (err == NULL || strcmp(err, "UnknownError") != 0)
            fail_msg("byte %u: error name %s, expected UnknownError", v, err ? err : "(null)");
    }
    assert_int_equal(tl_status_from_byte(255), TL_STATUS_UNKNOWN_ERROR);
    assert_string_equal(tl_status_name(255), "unknown_error");
}

static void test_status_parse_names_gives_values(void **state)
{
    (void)state;
    for (unsigned v = 0; v < ROWS; v++) {
        int got = tl_status_parse(table[v].name);
        if (got != (int)v)
            fail_msg("tl_status_parse(\"%s\") = %d, expected %u", table[v].name, got, v);
    }
}

static void test_status_parse_decimal_0_to_31_gives_value(void **state)
{
    (void)state;
    char buf[8];
    for (int v = 0; v <= 31; v++) {
        snprintf(buf, sizeof buf, "%d", v);
        assert_int_equal(tl_status_parse(buf), v);
    }
}

static void test_status_parse_decimal_up_to_255_accepted(void **state)
{
    (void)state;
    /* "a decimal 0-255" is accepted; whatever it parses to names the same
     * status as the byte would (from_byte maps >= 31 to unknown_error). */
    char buf[8];
    for (int v = 32; v <= 255; v++) {
        snprintf(buf, sizeof buf, "%d", v);
        int got = tl_status_parse(buf);
        if (got != v && got != (int)TL_STATUS_UNKNOWN_ERROR)
            fail_msg("tl_status_parse(\"%s\") = %d, expected %d or 31", buf, got, v);
    }
}

static void test_status_parse_junk_gives_minus_one(void **state)
{
    (void)state;
    static const char *const junk[] = {
        "",
        " ",
        "256",
        "1000",
        "-1",
        "4294967296",
        "18446744073709551616",
        "0x1f",
        "12a",
        "1 ",
        " 1",
        "Success", /* case-sensitive snake_case */
        "SUCCESS",
        "success ",
        " success",
        "NotAllowed",          /* error names are not status names */
        "wrong_configuration", /* the docs' name for 2, not tofu's */
        "invalid",
        "channel_closed_",
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        int got = tl_status_parse(junk[i]);
        if (got != -1)
            fail_msg("tl_status_parse(\"%s\") = %d, expected -1", junk[i], got);
    }
}

static void test_status_parse_round_trips_every_name(void **state)
{
    (void)state;
    for (unsigned v = 0; v < 256; v++) {
        int got = tl_status_parse(tl_status_name((uint8_t)v));
        assert_int_equal(got, (int)tl_status_from_byte((uint8_t)v));
    }
}

/* ---- tl_strerror ---- */

static void test_status_strerror_known_codes_distinct_and_not_unknown(void **state)
{
    (void)state;
    const char *seen[17];
    int codes[17];
    int n = 0;
    for (int e = TL_OK; e >= TL_E_REJECTED; e--)
        codes[n++] = e;
    assert_int_equal(n, 17);
    for (int i = 0; i < n; i++) {
        const char *s = tl_strerror(codes[i]);
        if (s == NULL || s[0] == '\0' || strcmp(s, "unknown error") == 0)
            fail_msg("tl_strerror(%d) = %s", codes[i], s ? s : "(null)");
        for (int j = 0; j < i; j++)
            if (strcmp(seen[j], s) == 0)
                fail_msg("tl_strerror(%d) and tl_strerror(%d) are both \"%s\"", codes[j], codes[i], s);
        seen[i] = s;
    }
}

static void test_status_strerror_unknown_codes_say_unknown_error(void **state)
{
    (void)state;
    assert_string_equal(tl_strerror(1), "unknown error");
    assert_string_equal(tl_strerror(-17), "unknown error");
    assert_string_equal(tl_strerror(-1000), "unknown error");
    assert_string_equal(tl_strerror(12345), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_table_has_32_entries),
        cmocka_unit_test(test_status_enum_values_match_section3),
        cmocka_unit_test(test_status_names_match_tofu_spelling),
        cmocka_unit_test(test_status_error_names_match_table),
        cmocka_unit_test(test_status_from_byte_identity_below_31),
        cmocka_unit_test(test_status_from_byte_31_and_above_unknown_error),
        cmocka_unit_test(test_status_parse_names_gives_values),
        cmocka_unit_test(test_status_parse_decimal_0_to_31_gives_value),
        cmocka_unit_test(test_status_parse_decimal_up_to_255_accepted),
        cmocka_unit_test(test_status_parse_junk_gives_minus_one),
        cmocka_unit_test(test_status_parse_round_trips_every_name),
        cmocka_unit_test(test_status_strerror_known_codes_distinct_and_not_unknown),
        cmocka_unit_test(test_status_strerror_unknown_codes_say_unknown_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
