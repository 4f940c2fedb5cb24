/*
 * The service kinds' key tables (sim/services.c): every key of every kind is
 * accepted with a good value that lands in the right field of the pattern's
 * configuration (and nowhere else), is refused with a bad value with the
 * documented expected text, keys of other kinds are unknown, a missing address
 * is reported, and each kind's `keys` help text lists its table.
 *
 * The expectations are written out here by hand, per kind and key, and the
 * fields are read through the pattern's own types: a table row that pointed
 * at the wrong field, had the wrong width or the wrong limits fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../patterns/echo.h"
#include "../../patterns/echo_client.h"
#include "../../patterns/heartbeat.h"
#include "../../patterns/pattern_client.h"
#include "../../patterns/pattern_server.h"
#include "../../patterns/request_response.h"
#include "../../sim/scenario.h"

enum { G_ECHO, G_RR, G_EC, G_PS, G_PC, G_HB, G_HBS };

static int group_of(const char *kind)
{
    static const struct {
        const char *kind;
        int group;
    } g[] = {
        {"echo", G_ECHO},      {"request-response", G_RR}, {"echo-client", G_EC}, {"pattern-server", G_PS},
        {"correlation", G_PC}, {"stream-in", G_PC},        {"stream-out", G_PC},  {"progress", G_PC},
        {"bidir", G_PC},       {"reject", G_PC},           {"heartbeat", G_HB},   {"heartbeat-server", G_HBS},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        if (strcmp(g[i].kind, kind) == 0) {
            return g[i].group;
        }
    }
    fail_msg("kind %s has no group in this test: add it", kind);
    return -1;
}

static const void *pattern_of(const scn_service_kind *k, const void *cfg)
{
    return (const char *)cfg + k->pattern_off;
}

static void u(char *out, size_t cap, uint64_t v) { snprintf(out, cap, "%llu", (unsigned long long)v); }

static void s_(char *out, size_t cap, const char *s) { snprintf(out, cap, "%s", s ? s : "(null)"); }

/* The connection keys every client kind has (tl_client_connection): 1 when
 * key is one (its field written to out). */
static int conn_field(const tl_client_connection *c, const char *key, char *out, size_t cap)
{
    if (strcmp(key, "hello-timeout") == 0) {
        u(out, cap, c->hello_timeout_ns);
    } else if (strcmp(key, "reconnect") == 0) {
        u(out, cap, (uint64_t)c->reconnect);
    } else if (strcmp(key, "reconnect-delay") == 0) {
        u(out, cap, c->reconnect_delay_ns);
    } else if (strcmp(key, "reconnect-max") == 0) {
        u(out, cap, c->reconnect_max_ns);
    } else if (strcmp(key, "reconnects") == 0) {
        u(out, cap, c->reconnects);
    } else if (strcmp(key, "reply-timeout") == 0) {
        u(out, cap, c->reply_timeout_ns);
    } else {
        return 0;
    }
    return 1;
}

/* The field of `key` as text, read through the pattern configuration's type;
 * "?" for a key this group does not have. Addresses: the pattern's pointer
 * (echo: the addresses the kind reports, comma-separated). */
static void field_text(const scn_service_kind *k, const void *cfg, const char *key, char *out, size_t cap)
{
    const void *p = pattern_of(k, cfg);
    snprintf(out, cap, "?");
    switch (group_of(k->name)) {
    case G_ECHO: {
        const tl_echo_config *c = p;
        if (strcmp(key, "listen") == 0) {
            const char *a[8];
            size_t n = scn_service_addresses(k, cfg, a, 8), at = 0;
            out[0] = '\0';
            for (size_t i = 0; i < n; i++) {
                at += (size_t)snprintf(out + at, cap - at, "%s%s", i ? "," : "", a[i]);
            }
        } else if (strcmp(key, "budget") == 0) {
            u(out, cap, c->budget);
        }
        break;
    }
    case G_RR: {
        const tl_rr_config *c = p;
        if (conn_field(&c->conn, key, out, cap)) {
            /* a connection key: written */
        } else if (strcmp(key, "connect") == 0) {
            s_(out, cap, c->connect);
        } else if (strcmp(key, "count") == 0) {
            u(out, cap, c->count);
        } else if (strcmp(key, "size") == 0) {
            snprintf(out, cap, "%zu..%zu", c->size_min, c->size_max);
        } else if (strcmp(key, "concurrency") == 0) {
            u(out, cap, c->concurrency);
        } else if (strcmp(key, "check") == 0) {
            u(out, cap, (uint64_t)c->check_echo_body);
        } else if (strcmp(key, "timeout") == 0) {
            u(out, cap, c->timeout_ns);
        }
        break;
    }
    case G_EC: {
        const tl_echo_client_config *c = p;
        if (conn_field(&c->conn, key, out, cap)) {
            /* a connection key: written */
        } else if (strcmp(key, "connect") == 0) {
            s_(out, cap, c->connect);
        } else if (strcmp(key, "count") == 0) {
            u(out, cap, c->count);
        } else if (strcmp(key, "abort") == 0) {
            u(out, cap, (uint64_t)c->abort);
        } else if (strcmp(key, "timeout") == 0) {
            u(out, cap, c->timeout_ns);
        }
        break;
    }
    case G_PS: {
        const tl_pattern_server_config *c = p;
        if (strcmp(key, "listen") == 0) {
            s_(out, cap, c->listen);
        } else if (strcmp(key, "odd-delay") == 0) {
            u(out, cap, c->odd_delay_ns);
        } else if (strcmp(key, "clients") == 0) {
            u(out, cap, c->clients);
        }
        break;
    }
    case G_PC: {
        const tl_pattern_client_config *c = p;
        if (conn_field(&c->conn, key, out, cap)) {
            /* a connection key: written */
        } else if (strcmp(key, "connect") == 0) {
            s_(out, cap, c->connect);
        } else if (strcmp(key, "count") == 0) {
            u(out, cap, c->count);
        } else if (strcmp(key, "concurrency") == 0) {
            u(out, cap, c->concurrency);
        } else if (strcmp(key, "frames") == 0) {
            u(out, cap, c->frames);
        } else if (strcmp(key, "size") == 0) {
            u(out, cap, c->size);
        } else if (strcmp(key, "abort") == 0) {
            u(out, cap, (uint64_t)c->abort);
        } else if (strcmp(key, "timeout") == 0) {
            u(out, cap, c->timeout_ns);
        } else if (strcmp(key, "(mode)") == 0) {
            u(out, cap, (uint64_t)c->mode);
        }
        break;
    }
    case G_HB:
    case G_HBS: {
        const tl_heartbeat_config *c = p;
        if (group_of(k->name) == G_HB && conn_field(&c->conn, key, out, cap)) {
            /* a connection key: written */
        } else if (strcmp(key, group_of(k->name) == G_HB ? "connect" : "listen") == 0) {
            s_(out, cap, c->address);
        } else if (strcmp(key, "interval") == 0) {
            u(out, cap, c->interval_ns);
        } else if (strcmp(key, "timeout") == 0) {
            u(out, cap, c->timeout_ns);
        } else if (strcmp(key, "expect-death-at") == 0) {
            u(out, cap, c->expect_death_ns);
        } else if (strcmp(key, "stop") == 0 && group_of(k->name) == G_HB) {
            u(out, cap, c->stop_ns);
        } else if (strcmp(key, "(listen)") == 0) {
            u(out, cap, (uint64_t)c->listen);
        }
        break;
    }
    default: break;
    }
}

#define ADDR_BAD "an address tcp|HOST|PORT or uds|PATH"

/* One key of a group: a good value and the field it gives, a bad value and
 * the expected text. A key may have several rows (boundaries). */
typedef struct {
    int group;
    const char *key;
    const char *good, *field; /* NULL: no good value in this row */
    const char *bad, *expected;
} key_case;

static const key_case cases[] = {
    /* echo */
    {G_ECHO, "listen", "tcp|a|1", "tcp|a|1", "tcp|a", ADDR_BAD},
    {G_ECHO, "listen", "tcp|a|1,uds|/x", "tcp|a|1,uds|/x", "tcp|a|1,,tcp|a|2",
     "at most 8 addresses separated by commas"},
    {G_ECHO, "listen", "uds|1,uds|2,uds|3,uds|4,uds|5,uds|6,uds|7,uds|8",
     "uds|1,uds|2,uds|3,uds|4,uds|5,uds|6,uds|7,uds|8",
     "uds|1,uds|2,uds|3,uds|4,uds|5,uds|6,uds|7,uds|8,uds|9", "at most 8 addresses separated by commas"},
    {G_ECHO, "budget", "12", "12", "-1", "a count (0 = unlimited)"},
    {G_ECHO, "budget", "18446744073709551615", "18446744073709551615", "18446744073709551616",
     "a count (0 = unlimited)"},
    /* request-response */
    {G_RR, "connect", "tcp|server|7", "tcp|server|7", "bad", ADDR_BAD},
    {G_RR, "count", "10000000", "10000000", "10000001", "a count of requests, at most 10000000"},
    {G_RR, "count", "0", "0", "x", "a count of requests, at most 10000000"},
    {G_RR, "size", "10..65535", "10..65535", "0..65536", "a body size N or range A..B, at most 65535"},
    {G_RR, "size", "17", "17..17", "9..2", "a body size N or range A..B, at most 65535"},
    {G_RR, "concurrency", "4294967295", "4294967295", "4294967296",
     "a number of outstanding requests, at least 1"},
    {G_RR, "concurrency", "3", "3", "0", "a number of outstanding requests, at least 1"},
    {G_RR, "check", "off", "0", "maybe", "on or off"},
    {G_RR, "timeout", "2s", "2000000000", "2", "a time such as 30s"},
    {G_RR, "hello-timeout", "5s", "5000000000", "0s", "a time such as 30s"},
    {G_RR, "reconnect", "on", "1", "sometimes", "on or off"},
    {G_RR, "reconnect-delay", "100ms", "100000000", "0", "a time such as 1s"},
    {G_RR, "reconnect-max", "2m", "120000000000", "x", "a time such as 30s"},
    {G_RR, "reconnects", "0", "0", "-1", "a count of reconnects (0 = no limit)"},
    {G_RR, "reconnects", "18446744073709551615", "18446744073709551615", "18446744073709551616",
     "a count of reconnects (0 = no limit)"},
    {G_RR, "reply-timeout", "0s", "0", "-1s", "a time such as 60s (0 = off)"},
    /* echo-client */
    {G_EC, "connect", "uds|/tmp/s", "uds|/tmp/s", "tcp|a", ADDR_BAD},
    {G_EC, "count", "123456", "123456", "-3", "a count of requests"},
    {G_EC, "abort", "no", "0", "2", "on (ByeSignal, tofu's EchoClient) or off (ByeRequest)"},
    {G_EC, "timeout", "250ms", "250000000", "-1s", "a time such as 30s"},
    {G_EC, "hello-timeout", "1h", "3600000000000", "1", "a time such as 30s"},
    {G_EC, "reconnect", "off", "0", "1x", "on or off"},
    {G_EC, "reconnect-delay", "1s", "1000000000", "0ms", "a time such as 1s"},
    {G_EC, "reconnect-max", "30s", "30000000000", "30", "a time such as 30s"},
    {G_EC, "reconnects", "3", "3", "three", "a count of reconnects (0 = no limit)"},
    {G_EC, "reply-timeout", "90s", "90000000000", "90", "a time such as 60s (0 = off)"},
    /* pattern-server */
    {G_PS, "listen", "tcp|0.0.0.0|9", "tcp|0.0.0.0|9", "tcp||9", ADDR_BAD},
    {G_PS, "odd-delay", "50ms", "50000000", "50", "a time such as 50ms"},
    {G_PS, "clients", "6", "6", "six", "a count of clients (0 = run forever)"},
    /* the pattern clients */
    {G_PC, "connect", "tcp|server|7", "tcp|server|7", "", ADDR_BAD},
    {G_PC, "count", "1000000", "1000000", "1000001", "a count of requests, 1 to 1000000"},
    {G_PC, "count", "9", "9", "0", "a count of requests, 1 to 1000000"},
    {G_PC, "concurrency", "4294967295", "4294967295", "4294967296",
     "a number of outstanding requests, at least 1"},
    {G_PC, "concurrency", "5", "5", "0", "a number of outstanding requests, at least 1"},
    {G_PC, "frames", "1000000", "1000000", "1000001", "a number of frames / Signals, 1 to 1000000"},
    {G_PC, "frames", "11", "11", "0", "a number of frames / Signals, 1 to 1000000"},
    {G_PC, "size", "65535", "65535", "65536", "a body size, 1 to 65535"},
    {G_PC, "size", "13", "13", "0", "a body size, 1 to 65535"},
    {G_PC, "abort", "yes", "1", "maybe", "on (ByeSignal) or off (ByeRequest)"},
    {G_PC, "timeout", "1m", "60000000000", "1x", "a time such as 30s"},
    {G_PC, "hello-timeout", "10s", "10000000000", "", "a time such as 30s"},
    {G_PC, "reconnect", "yes", "1", "maybe", "on or off"},
    {G_PC, "reconnect-delay", "2s", "2000000000", "-2s", "a time such as 1s"},
    {G_PC, "reconnect-max", "1m", "60000000000", "0s", "a time such as 30s"},
    {G_PC, "reconnects", "12", "12", "1.5", "a count of reconnects (0 = no limit)"},
    {G_PC, "reply-timeout", "2m", "120000000000", "x", "a time such as 60s (0 = off)"},
    /* heartbeat */
    {G_HB, "connect", "tcp|server|7200", "tcp|server|7200", "tcp|server", ADDR_BAD},
    {G_HB, "interval", "1500ms", "1500000000", "0s", "a time such as 1s"},
    {G_HB, "timeout", "5s", "5000000000", "0", "a time such as 1s"},
    {G_HB, "expect-death-at", "0s", "0", "soon", "a time such as 1s"},
    {G_HB, "expect-death-at", "30s", "30000000000", "-1s", "a time such as 1s"},
    {G_HB, "stop", "20s", "20000000000", "0s", "a time such as 1s"},
    {G_HB, "hello-timeout", "3s", "3000000000", "0s", "a time such as 30s"},
    {G_HB, "reconnect", "on", "1", "2", "on or off"},
    {G_HB, "reconnect-delay", "500ms", "500000000", "soon", "a time such as 1s"},
    {G_HB, "reconnect-max", "10s", "10000000000", "0", "a time such as 30s"},
    {G_HB, "reconnects", "4", "4", "-4", "a count of reconnects (0 = no limit)"},
    /* heartbeat-server */
    {G_HBS, "listen", "tcp|server|7200", "tcp|server|7200", "udp|x|1", ADDR_BAD},
    {G_HBS, "interval", "2s", "2000000000", "0s", "a time such as 1s"},
    {G_HBS, "timeout", "7s", "7000000000", "0s", "a time such as 1s"},
    {G_HBS, "expect-death-at", "3s", "3000000000", "x", "a time such as 1s"},
};

/* Keys that are some kind's but not these groups'. */
static const char *const foreign[] = {"listen",
                                      "connect",
                                      "budget",
                                      "count",
                                      "size",
                                      "concurrency",
                                      "check",
                                      "timeout",
                                      "abort",
                                      "odd-delay",
                                      "clients",
                                      "frames",
                                      "interval",
                                      "expect-death-at",
                                      "stop",
                                      "name",
                                      "start",
                                      "bogus",
                                      "hello-timeout",
                                      "reconnect",
                                      "reconnect-delay",
                                      "reconnect-max",
                                      "reconnects",
                                      "reply-timeout",
                                      ""};

static int group_has(const scn_service_kind *k, const char *key)
{
    for (size_t i = 0; i < k->ntable; i++) {
        if (strcmp(k->table[i].name, key) == 0) {
            return 1;
        }
    }
    return 0;
}

static void test_sim_services_every_key_sets_its_field_only(void **state)
{
    (void)state;
    const scn_service_kind *k;
    size_t nkinds = 0;
    for (size_t ki = 0; (k = scn_service_kind_at(ki)) != NULL; ki++, nkinds++) {
        int g = group_of(k->name);
        assert_true(k->ntable > 0);
        /* every table key has a case */
        for (size_t t = 0; t < k->ntable; t++) {
            int covered = 0;
            for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                covered |= cases[c].group == g && strcmp(cases[c].key, k->table[t].name) == 0;
            }
            if (!covered) {
                fail_msg("key %s of %s has no case in this test", k->table[t].name, k->name);
            }
        }
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            const key_case *kc = &cases[c];
            char what[160], before[64][80], now[80];
            if (kc->group != g) {
                continue;
            }
            /* good: its field has the value, every other key's field is as before */
            if (kc->good) {
                void *cfg = scn_service_new(k);
                assert_non_null(cfg);
                for (size_t t = 0; t < k->ntable; t++) {
                    field_text(k, cfg, k->table[t].name, before[t], sizeof before[t]);
                }
                what[0] = '\0';
                if (scn_service_set(k, cfg, kc->key, kc->good, what, sizeof what) != SCN_KEY_OK) {
                    fail_msg("%s %s=%s refused: %s", k->name, kc->key, kc->good, what);
                }
                for (size_t t = 0; t < k->ntable; t++) {
                    const char *name = k->table[t].name;
                    field_text(k, cfg, name, now, sizeof now);
                    const char *want = strcmp(name, kc->key) == 0 ? kc->field : before[t];
                    if (strcmp(now, want) != 0) {
                        fail_msg("%s %s=%s: field of %s is %s, expected %s", k->name, kc->key, kc->good, name,
                                 now, want);
                    }
                }
                scn_service_free(k, cfg);
            }
            /* bad: refused with the expected text */
            {
                void *cfg = scn_service_new(k);
                assert_non_null(cfg);
                what[0] = '\0';
                int rc = scn_service_set(k, cfg, kc->key, kc->bad, what, sizeof what);
                if (rc != SCN_KEY_BAD || strcmp(what, kc->expected) != 0) {
                    fail_msg("%s %s=%s: rc %d, expected '%s', got '%s'", k->name, kc->key, kc->bad, rc,
                             kc->expected, what);
                }
                scn_service_free(k, cfg);
            }
        }
        /* keys that are not the kind's are unknown */
        for (size_t f = 0; f < sizeof foreign / sizeof foreign[0]; f++) {
            if (group_has(k, foreign[f])) {
                continue;
            }
            void *cfg = scn_service_new(k);
            char what[160] = "";
            assert_non_null(cfg);
            if (scn_service_set(k, cfg, foreign[f], "1", what, sizeof what) != SCN_KEY_UNKNOWN) {
                fail_msg("%s accepts the key '%s'", k->name, foreign[f]);
            }
            scn_service_free(k, cfg);
        }
    }
    assert_int_equal(nkinds, 12);
}

/* The documented key sets (docs/scenarios.md), exactly: a key dropped from
 * or added to a table shows here. */
#define CONN " hello-timeout reconnect reconnect-delay reconnect-max reconnects"
static void test_sim_services_tables_hold_the_documented_keys(void **state)
{
    (void)state;
    static const struct {
        int group;
        const char *keys;
    } want[] = {
        {G_ECHO, "listen budget"},
        {G_RR, "connect count size concurrency check timeout" CONN " reply-timeout"},
        {G_EC, "connect count abort timeout" CONN " reply-timeout"},
        {G_PS, "listen odd-delay clients"},
        {G_PC, "connect count concurrency frames size abort timeout" CONN " reply-timeout"},
        {G_HB, "connect interval timeout expect-death-at stop" CONN},
        {G_HBS, "listen interval timeout expect-death-at"},
    };
    const scn_service_kind *k;
    for (size_t ki = 0; (k = scn_service_kind_at(ki)) != NULL; ki++) {
        char names[200] = "", help[300] = "";
        size_t an = 0, hn = 0;
        for (size_t t = 0; t < k->ntable; t++) {
            static const char *const shape[] = {
                [SCN_K_ADDR] = "ADDR", [SCN_K_ADDRS] = "ADDR[,ADDR...]", [SCN_K_TIME] = "TIME",
                [SCN_K_UINT] = "N",    [SCN_K_RANGE] = "N|A..B",         [SCN_K_BOOL] = "on|off",
            };
            an += (size_t)snprintf(names + an, sizeof names - an, "%s%s", t ? " " : "", k->table[t].name);
            hn += (size_t)snprintf(help + hn, sizeof help - hn, "%s%s=%s", t ? " " : "", k->table[t].name,
                                   shape[k->table[t].type]);
        }
        int g = group_of(k->name), found = 0;
        for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
            if (want[w].group == g) {
                assert_string_equal(names, want[w].keys);
                found = 1;
            }
        }
        assert_true(found);
        /* the help text of messages is the table's */
        assert_string_equal(k->keys, help);
        /* the kind is found by its name (and alias) */
        assert_ptr_equal(scn_service_kind_find(k->name), k);
        if (k->alias) {
            assert_ptr_equal(scn_service_kind_find(k->alias), k);
        }
    }
    assert_null(scn_service_kind_find("nosuch"));
}

static void test_sim_services_defaults_and_missing_address(void **state)
{
    (void)state;
    static const struct {
        const char *kind;
        const char *key, *field;
    } defaults[] = {
        {"echo", "budget", "0"},
        {"rr", "count", "1"},
        {"rr", "size", "64..64"},
        {"rr", "concurrency", "1"},
        {"rr", "check", "1"},
        {"rr", "timeout", "0"},
        {"rr", "hello-timeout", "0"}, /* 0: the pattern's default (30 s) */
        {"rr", "reconnect", "0"},
        {"rr", "reconnects", "0"},
        {"rr", "reply-timeout", "0"},
        {"echo-client", "hello-timeout", "0"},
        {"correlation", "reconnect", "0"},
        {"heartbeat", "hello-timeout", "0"},
        {"heartbeat", "reconnect", "0"},
        {"echo-client", "count", "1"},
        {"echo-client", "abort", "1"},
        {"echo-client", "timeout", "0"},
        {"pattern-server", "odd-delay", "0"},
        {"pattern-server", "clients", "0"},
        {"correlation", "(mode)", "0"},
        {"stream-in", "(mode)", "1"},
        {"stream-out", "(mode)", "2"},
        {"progress", "(mode)", "3"},
        {"bidir", "(mode)", "4"},
        {"reject", "(mode)", "5"},
        {"reject", "count", "1"},
        {"reject", "concurrency", "1"},
        {"reject", "frames", "4"},
        {"reject", "size", "64"},
        {"reject", "abort", "0"},
        {"heartbeat", "(listen)", "0"},
        {"heartbeat", "interval", "0"},
        {"heartbeat", "stop", "0"},
        {"heartbeat-server", "(listen)", "1"},
    };
    char text[80];
    assert_int_equal(TL_PC_CORRELATION, 0);
    assert_int_equal(TL_PC_STREAM_IN, 1);
    assert_int_equal(TL_PC_STREAM_OUT, 2);
    assert_int_equal(TL_PC_PROGRESS, 3);
    assert_int_equal(TL_PC_BIDIR, 4);
    assert_int_equal(TL_PC_REJECT, 5);
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        const scn_service_kind *k = scn_service_kind_find(defaults[i].kind);
        assert_non_null(k);
        void *cfg = scn_service_new(k);
        assert_non_null(cfg);
        field_text(k, cfg, defaults[i].key, text, sizeof text);
        if (strcmp(text, defaults[i].field) != 0) {
            fail_msg("%s default %s is %s, expected %s", defaults[i].kind, defaults[i].key, text,
                     defaults[i].field);
        }
        scn_service_free(k, cfg);
    }

    /* no address: the check names the kind's address key; with one, it passes */
    const scn_service_kind *k;
    for (size_t ki = 0; (k = scn_service_kind_at(ki)) != NULL; ki++) {
        const char *key = k->listens ? "listen" : "connect";
        char what[160] = "", want[40];
        const char *addrs[8];
        void *cfg = scn_service_new(k);
        assert_non_null(cfg);
        assert_int_equal(scn_service_check(k, cfg, what, sizeof what), -1);
        snprintf(want, sizeof want, "%s=ADDR", key);
        assert_string_equal(what, want);
        assert_int_equal(scn_service_addresses(k, cfg, addrs, 8), 0);
        assert_int_equal(scn_service_set(k, cfg, key, "tcp|n|1", what, sizeof what), SCN_KEY_OK);
        /* a second connect=/listen= replaces the first, except echo's, which adds */
        assert_int_equal(scn_service_set(k, cfg, key, "tcp|n|2", what, sizeof what), SCN_KEY_OK);
        assert_int_equal(scn_service_check(k, cfg, what, sizeof what), 0);
        size_t n = scn_service_addresses(k, cfg, addrs, 8);
        if (strcmp(k->name, "echo") == 0) {
            assert_int_equal(n, 2);
            assert_string_equal(addrs[0], "tcp|n|1");
            assert_string_equal(addrs[1], "tcp|n|2");
            assert_int_equal(scn_service_addresses(k, cfg, addrs, 1), 1);
        } else {
            assert_int_equal(n, 1);
            assert_string_equal(addrs[0], "tcp|n|2");
            field_text(k, cfg, key, what, sizeof what);
            assert_string_equal(what, "tcp|n|2");
        }
        assert_int_equal(scn_service_addresses(k, cfg, addrs, 0), 0);
        scn_service_free(k, cfg);
    }
    scn_service_free(scn_service_kind_find("echo"), NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_services_every_key_sets_its_field_only),
        cmocka_unit_test(test_sim_services_tables_hold_the_documented_keys),
        cmocka_unit_test(test_sim_services_defaults_and_missing_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
