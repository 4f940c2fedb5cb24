/*
 * Op codes (PROTOCOL.md section 2): names, type, role, echo mapping,
 * on-the-wire flag, undefined values 10-15, and parsing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tofulab/wire.h"

typedef struct {
    unsigned value;
    const char *name;
    tl_optype type;
    tl_role role;
    int echo;
    int on_wire;
} op_row;

/* Section 2 table. ByeSignal: "no when bit A=1, yes when bit A=0" — wire.h
 * documents on_wire as "1 if tofu transmits it (ByeSignal: only without bit
 * A)", i.e. it is transmitted in one form, so 1. Welcome op codes are local. */
static const op_row table[] = {
    {0, "Request", TL_TYPE_REGULAR, TL_ROLE_REQUEST, 1, 1},
    {1, "Response", TL_TYPE_REGULAR, TL_ROLE_RESPONSE, -1, 1},
    {2, "Signal", TL_TYPE_REGULAR, TL_ROLE_SIGNAL, 2, 1},
    {3, "HelloRequest", TL_TYPE_HELLO, TL_ROLE_REQUEST, 4, 1},
    {4, "HelloResponse", TL_TYPE_HELLO, TL_ROLE_RESPONSE, -1, 1},
    {5, "ByeRequest", TL_TYPE_BYE, TL_ROLE_REQUEST, 6, 1},
    {6, "ByeResponse", TL_TYPE_BYE, TL_ROLE_RESPONSE, -1, 1},
    {7, "ByeSignal", TL_TYPE_BYE, TL_ROLE_SIGNAL, -1, 1},
    {8, "WelcomeRequest", TL_TYPE_WELCOME, TL_ROLE_REQUEST, 9, 0},
    {9, "WelcomeResponse", TL_TYPE_WELCOME, TL_ROLE_RESPONSE, -1, 0},
};

#define ROWS (sizeof table / sizeof table[0])

static void test_opcode_enum_values_match_section2(void **state)
{
    (void)state;
    assert_int_equal(TL_OP_REQUEST, 0);
    assert_int_equal(TL_OP_RESPONSE, 1);
    assert_int_equal(TL_OP_SIGNAL, 2);
    assert_int_equal(TL_OP_HELLO_REQUEST, 3);
    assert_int_equal(TL_OP_HELLO_RESPONSE, 4);
    assert_int_equal(TL_OP_BYE_REQUEST, 5);
    assert_int_equal(TL_OP_BYE_RESPONSE, 6);
    assert_int_equal(TL_OP_BYE_SIGNAL, 7);
    assert_int_equal(TL_OP_WELCOME_REQUEST, 8);
    assert_int_equal(TL_OP_WELCOME_RESPONSE, 9);
    assert_int_equal(TL_OPCODE_COUNT, 10);
    /* Type and role numbering of section 2. */
    assert_int_equal(TL_TYPE_REGULAR, 0);
    assert_int_equal(TL_TYPE_WELCOME, 1);
    assert_int_equal(TL_TYPE_HELLO, 2);
    assert_int_equal(TL_TYPE_BYE, 3);
    assert_int_equal(TL_ROLE_REQUEST, 0);
    assert_int_equal(TL_ROLE_RESPONSE, 1);
    assert_int_equal(TL_ROLE_SIGNAL, 2);
}

static void test_opcode_names_match_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS; i++) {
        const char *name = tl_opcode_name(table[i].value);
        if (name == NULL || strcmp(name, table[i].name) != 0)
            fail_msg("op %u: name %s, expected %s", table[i].value, name ? name : "(null)", table[i].name);
    }
}

static void test_opcode_info_matches_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS; i++) {
        const op_row *row = &table[i];
        const tl_opcode_info *info = tl_opcode_info_get(row->value);

        if (info == NULL)
            fail_msg("op %u: no info", row->value);
        if (info->name == NULL || strcmp(info->name, row->name) != 0)
            fail_msg("op %u: info name %s, expected %s", row->value, info->name ? info->name : "(null)",
                     row->name);
        if ((int)info->type != (int)row->type)
            fail_msg("op %u (%s): type %d, expected %d", row->value, row->name, (int)info->type,
                     (int)row->type);
        if ((int)info->role != (int)row->role)
            fail_msg("op %u (%s): role %d, expected %d", row->value, row->name, (int)info->role,
                     (int)row->role);
        if (info->echo != row->echo)
            fail_msg("op %u (%s): echo %d, expected %d", row->value, row->name, info->echo, row->echo);
        if ((info->on_wire != 0) != (row->on_wire != 0))
            fail_msg("op %u (%s): on_wire %d, expected %d", row->value, row->name, info->on_wire,
                     row->on_wire);
        /* name() and info()->name agree. */
        assert_ptr_equal(tl_opcode_name(row->value), info->name);
    }
}

static void test_opcode_echo_maps_request_to_response_of_same_type(void **state)
{
    (void)state;
    for (unsigned op = 0; op < TL_OPCODE_COUNT; op++) {
        const tl_opcode_info *info = tl_opcode_info_get(op);
        assert_non_null(info);
        if (info->echo < 0)
            continue;
        const tl_opcode_info *target = tl_opcode_info_get((unsigned)info->echo);
        assert_non_null(target);
        assert_int_equal(target->type, info->type);
        if (info->role == TL_ROLE_REQUEST) {
            assert_int_equal(target->role, TL_ROLE_RESPONSE);
            assert_int_equal(info->echo, (int)op + 1);
        } else {
            /* Only Signal echoes to itself. */
            assert_int_equal(op, TL_OP_SIGNAL);
            assert_int_equal(info->echo, TL_OP_SIGNAL);
        }
    }
}

static void test_opcode_echo_is_invalid_for_responses_and_byesignal(void **state)
{
    (void)state;
    static const unsigned none[] = {TL_OP_RESPONSE, TL_OP_HELLO_RESPONSE, TL_OP_BYE_RESPONSE,
                                    TL_OP_BYE_SIGNAL, TL_OP_WELCOME_RESPONSE};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        const tl_opcode_info *info = tl_opcode_info_get(none[i]);
        assert_non_null(info);
        assert_int_equal(info->echo, -1);
    }
}

static void test_opcode_undefined_values_give_null(void **state)
{
    (void)state;
    for (unsigned op = 10; op <= 15; op++) {
        assert_null(tl_opcode_info_get(op));
        assert_null(tl_opcode_name(op));
    }
    /* Values outside the 4-bit field are not op codes either (no masking). */
    static const unsigned beyond[] = {16, 17, 0x10 | TL_OP_REQUEST, 255, 256, 0x1000, UINT_MAX};
    for (size_t i = 0; i < sizeof beyond / sizeof beyond[0]; i++) {
        assert_null(tl_opcode_info_get(beyond[i]));
        assert_null(tl_opcode_name(beyond[i]));
    }
}

static void test_opcode_parse_names_gives_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS; i++)
        assert_int_equal(tl_opcode_parse(table[i].name), (int)table[i].value);
}

static void test_opcode_parse_decimal_0_to_15_gives_value(void **state)
{
    (void)state;
    char buf[8];
    for (int v = 0; v <= 15; v++) {
        snprintf(buf, sizeof buf, "%d", v);
        assert_int_equal(tl_opcode_parse(buf), v);
    }
}

static void test_opcode_parse_junk_gives_minus_one(void **state)
{
    (void)state;
    static const char *const junk[] = {
        "",
        " ",
        "16",
        "99",
        "255",
        "-1",
        "4294967296",
        "18446744073709551616",
        "0x3",
        "3x",
        "1 ",
        " 1",
        "request", /* case-sensitive */
        "REQUEST",
        "helloRequest",
        "Hello",
        "HelloRequestX",
        "Request ",
        " Request",
        "Hello Request",
        "hello_request",
        "Invalid",
        "ByeSignal\n",
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        int got = tl_opcode_parse(junk[i]);
        if (got != -1)
            fail_msg("tl_opcode_parse(\"%s\") = %d, expected -1", junk[i], got);
    }
}

static void test_opcode_parse_round_trips_name(void **state)
{
    (void)state;
    for (unsigned op = 0; op < TL_OPCODE_COUNT; op++)
        assert_int_equal(tl_opcode_parse(tl_opcode_name(op)), (int)op);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opcode_enum_values_match_section2),
        cmocka_unit_test(test_opcode_names_match_table),
        cmocka_unit_test(test_opcode_info_matches_table),
        cmocka_unit_test(test_opcode_echo_maps_request_to_response_of_same_type),
        cmocka_unit_test(test_opcode_echo_is_invalid_for_responses_and_byesignal),
        cmocka_unit_test(test_opcode_undefined_values_give_null),
        cmocka_unit_test(test_opcode_parse_names_gives_values),
        cmocka_unit_test(test_opcode_parse_decimal_0_to_15_gives_value),
        cmocka_unit_test(test_opcode_parse_junk_gives_minus_one),
        cmocka_unit_test(test_opcode_parse_round_trips_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
