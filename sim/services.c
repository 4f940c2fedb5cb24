/*
 * The service kinds a scenario can name (docs/scenarios.md), each a thin
 * adapter from `key=value` words to a pattern's configuration
 * (patterns/echo.h, patterns/request_response.h, patterns/echo_client.h).
 * A new pattern is one more row in `kinds`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../patterns/echo.h"
#include "../patterns/echo_client.h"
#include "../patterns/heartbeat.h"
#include "../patterns/pattern_client.h"
#include "../patterns/pattern_server.h"
#include "../patterns/request_response.h"
#include "scenario.h"

#define MAX_LISTEN 8

static int key_is(const char *key, const char *name) { return strcmp(key, name) == 0; }

static char *dup_text(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n + 1);
    }
    return d;
}

static int address_ok(const char *value, char *expected, size_t cap)
{
    tl_address a;
    if (tl_address_parse(value, strlen(value), &a) != TL_OK) {
        snprintf(expected, cap, "an address tcp|HOST|PORT or uds|PATH");
        return 0;
    }
    return 1;
}

/* ---- echo ---- */

typedef struct {
    char *listen[MAX_LISTEN];
    size_t nlisten;
    uint64_t budget;
} echo_cfg;

static void *echo_new(void) { return calloc(1, sizeof(echo_cfg)); }

static int echo_set(void *p, const char *key, const char *value, char *expected, size_t cap)
{
    echo_cfg *c = p;
    if (key_is(key, "listen")) {
        const char *v = value;
        while (*v) {
            const char *comma = strchr(v, ',');
            size_t n = comma ? (size_t)(comma - v) : strlen(v);
            char one[TL_ADDR_TEXT_MAX];
            if (n == 0 || n >= sizeof one || c->nlisten == MAX_LISTEN) {
                snprintf(expected, cap, "at most %d addresses separated by commas", MAX_LISTEN);
                return SCN_KEY_BAD;
            }
            memcpy(one, v, n);
            one[n] = '\0';
            if (!address_ok(one, expected, cap)) {
                return SCN_KEY_BAD;
            }
            c->listen[c->nlisten] = dup_text(one);
            if (c->listen[c->nlisten] == NULL) {
                snprintf(expected, cap, "memory");
                return SCN_KEY_BAD;
            }
            c->nlisten++;
            v += n;
            if (*v == ',') {
                v++;
            }
        }
        return SCN_KEY_OK;
    }
    if (key_is(key, "budget")) {
        if (scn_parse_u64(value, strlen(value), &c->budget) != 0) {
            snprintf(expected, cap, "a count (0 = unlimited)");
            return SCN_KEY_BAD;
        }
        return SCN_KEY_OK;
    }
    return SCN_KEY_UNKNOWN;
}

static int echo_check(void *p, char *expected, size_t cap)
{
    echo_cfg *c = p;
    if (c->nlisten == 0) {
        snprintf(expected, cap, "listen=ADDR");
        return -1;
    }
    return 0;
}

static int echo_create(void *p, tl_service **out)
{
    echo_cfg *c = p;
    tl_echo_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.listen = (const char *const *)c->listen;
    cfg.listen_count = c->nlisten;
    cfg.budget = c->budget;
    return tl_echo_service_create(&cfg, out);
}

static void echo_free(void *p)
{
    echo_cfg *c = p;
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->nlisten; i++) {
        free(c->listen[i]);
    }
    free(c);
}

static size_t echo_addresses(const void *p, const char **out, size_t max)
{
    const echo_cfg *c = p;
    size_t n = 0;
    for (size_t i = 0; i < c->nlisten && n < max; i++) {
        out[n++] = c->listen[i];
    }
    return n;
}

/* ---- request-response ---- */

typedef struct {
    tl_rr_config rr;
    char *connect;
} rr_cfg;

static void *rr_new(void)
{
    rr_cfg *c = calloc(1, sizeof(rr_cfg));
    if (c) {
        c->rr.count = 1;
        c->rr.size_min = 64;
        c->rr.size_max = 64;
        c->rr.concurrency = 1;
        c->rr.check_echo_body = 1;
    }
    return c;
}

static int rr_set(void *p, const char *key, const char *value, char *expected, size_t cap)
{
    rr_cfg *c = p;
    size_t len = strlen(value);
    uint64_t lo, hi;
    int b;
    if (key_is(key, "connect")) {
        if (!address_ok(value, expected, cap)) {
            return SCN_KEY_BAD;
        }
        free(c->connect);
        c->connect = dup_text(value);
        c->rr.connect = c->connect;
        return c->connect ? SCN_KEY_OK : SCN_KEY_BAD;
    }
    if (key_is(key, "count")) {
        if (scn_parse_u64(value, len, &lo) != 0 || lo > TL_RR_MAX_COUNT) {
            snprintf(expected, cap, "a count of requests, at most %llu", (unsigned long long)TL_RR_MAX_COUNT);
            return SCN_KEY_BAD;
        }
        c->rr.count = lo;
        return SCN_KEY_OK;
    }
    if (key_is(key, "size")) {
        if (scn_parse_range(value, len, &lo, &hi) != 0 || hi > TL_MAX_BODY_LEN) {
            snprintf(expected, cap, "a body size N or range A..B, at most 65535");
            return SCN_KEY_BAD;
        }
        c->rr.size_min = (size_t)lo;
        c->rr.size_max = (size_t)hi;
        return SCN_KEY_OK;
    }
    if (key_is(key, "concurrency")) {
        if (scn_parse_u64(value, len, &lo) != 0 || lo == 0 || lo > UINT32_MAX) {
            snprintf(expected, cap, "a number of outstanding requests, at least 1");
            return SCN_KEY_BAD;
        }
        c->rr.concurrency = (uint32_t)lo;
        return SCN_KEY_OK;
    }
    if (key_is(key, "check")) {
        if (scn_parse_bool(value, len, &b) != 0) {
            snprintf(expected, cap, "on or off");
            return SCN_KEY_BAD;
        }
        c->rr.check_echo_body = b;
        return SCN_KEY_OK;
    }
    if (key_is(key, "timeout")) {
        if (scn_parse_time(value, len, &lo) != 0) {
            snprintf(expected, cap, "a time such as 30s");
            return SCN_KEY_BAD;
        }
        c->rr.timeout_ns = lo;
        return SCN_KEY_OK;
    }
    return SCN_KEY_UNKNOWN;
}

static int rr_check(void *p, char *expected, size_t cap)
{
    rr_cfg *c = p;
    if (c->connect == NULL) {
        snprintf(expected, cap, "connect=ADDR");
        return -1;
    }
    return 0;
}

static int rr_create(void *p, tl_service **out)
{
    rr_cfg *c = p;
    return tl_rr_client_create(&c->rr, out);
}

static void rr_free(void *p)
{
    rr_cfg *c = p;
    if (c) {
        free(c->connect);
        free(c);
    }
}

static size_t rr_addresses(const void *p, const char **out, size_t max)
{
    const rr_cfg *c = p;
    if (max == 0 || c->connect == NULL) {
        return 0;
    }
    out[0] = c->connect;
    return 1;
}

/* ---- echo-client ---- */

typedef struct {
    tl_echo_client_config ec;
    char *connect;
} ec_cfg;

static void *ec_new(void)
{
    ec_cfg *c = calloc(1, sizeof(ec_cfg));
    if (c) {
        c->ec.count = 1;
        c->ec.abort = 1;
    }
    return c;
}

static int ec_set(void *p, const char *key, const char *value, char *expected, size_t cap)
{
    ec_cfg *c = p;
    size_t len = strlen(value);
    uint64_t v;
    int b;
    if (key_is(key, "connect")) {
        if (!address_ok(value, expected, cap)) {
            return SCN_KEY_BAD;
        }
        free(c->connect);
        c->connect = dup_text(value);
        c->ec.connect = c->connect;
        return c->connect ? SCN_KEY_OK : SCN_KEY_BAD;
    }
    if (key_is(key, "count")) {
        if (scn_parse_u64(value, len, &v) != 0) {
            snprintf(expected, cap, "a count of requests");
            return SCN_KEY_BAD;
        }
        c->ec.count = v;
        return SCN_KEY_OK;
    }
    if (key_is(key, "abort")) {
        if (scn_parse_bool(value, len, &b) != 0) {
            snprintf(expected, cap, "on (ByeSignal, tofu's EchoClient) or off (ByeRequest)");
            return SCN_KEY_BAD;
        }
        c->ec.abort = b;
        return SCN_KEY_OK;
    }
    if (key_is(key, "timeout")) {
        if (scn_parse_time(value, len, &v) != 0) {
            snprintf(expected, cap, "a time such as 30s");
            return SCN_KEY_BAD;
        }
        c->ec.timeout_ns = v;
        return SCN_KEY_OK;
    }
    return SCN_KEY_UNKNOWN;
}

static int ec_check(void *p, char *expected, size_t cap)
{
    ec_cfg *c = p;
    if (c->connect == NULL) {
        snprintf(expected, cap, "connect=ADDR");
        return -1;
    }
    return 0;
}

static int ec_create(void *p, tl_service **out)
{
    ec_cfg *c = p;
    return tl_echo_client_create(&c->ec, out);
}

static void ec_free(void *p)
{
    ec_cfg *c = p;
    if (c) {
        free(c->connect);
        free(c);
    }
}

static size_t ec_addresses(const void *p, const char **out, size_t max)
{
    const ec_cfg *c = p;
    if (max == 0 || c->connect == NULL) {
        return 0;
    }
    out[0] = c->connect;
    return 1;
}

/* ---- pattern-server ---- */

typedef struct {
    tl_pattern_server_config ps;
    char *listen;
} ps_cfg;

static void *ps_new(void) { return calloc(1, sizeof(ps_cfg)); }

static int ps_set(void *p, const char *key, const char *value, char *expected, size_t cap)
{
    ps_cfg *c = p;
    size_t len = strlen(value);
    uint64_t v;
    if (key_is(key, "listen")) {
        if (!address_ok(value, expected, cap)) {
            return SCN_KEY_BAD;
        }
        free(c->listen);
        c->listen = dup_text(value);
        c->ps.listen = c->listen;
        return c->listen ? SCN_KEY_OK : SCN_KEY_BAD;
    }
    if (key_is(key, "odd-delay")) {
        if (scn_parse_time(value, len, &v) != 0) {
            snprintf(expected, cap, "a time such as 50ms");
            return SCN_KEY_BAD;
        }
        c->ps.odd_delay_ns = v;
        return SCN_KEY_OK;
    }
    if (key_is(key, "clients")) {
        if (scn_parse_u64(value, len, &v) != 0) {
            snprintf(expected, cap, "a count of clients (0 = run forever)");
            return SCN_KEY_BAD;
        }
        c->ps.clients = v;
        return SCN_KEY_OK;
    }
    return SCN_KEY_UNKNOWN;
}

static int ps_check(void *p, char *expected, size_t cap)
{
    ps_cfg *c = p;
    if (c->listen == NULL) {
        snprintf(expected, cap, "listen=ADDR");
        return -1;
    }
    return 0;
}

static int ps_create(void *p, tl_service **out)
{
    ps_cfg *c = p;
    return tl_pattern_server_create(&c->ps, out);
}

static void ps_free(void *p)
{
    ps_cfg *c = p;
    if (c) {
        free(c->listen);
        free(c);
    }
}

static size_t ps_addresses(const void *p, const char **out, size_t max)
{
    const ps_cfg *c = p;
    if (max == 0 || c->listen == NULL) {
        return 0;
    }
    out[0] = c->listen;
    return 1;
}

/* ---- pattern clients: correlation, stream-in, stream-out, progress, bidir, reject ---- */

typedef struct {
    tl_pattern_client_config pc;
    char *connect;
} pc_cfg;

static void *pc_new_mode(tl_pc_mode mode)
{
    pc_cfg *c = calloc(1, sizeof(pc_cfg));
    if (c) {
        c->pc.mode = mode;
        c->pc.count = 1;
        c->pc.concurrency = 1;
        c->pc.frames = 4;
        c->pc.size = 64;
    }
    return c;
}

static void *pc_new_correlation(void) { return pc_new_mode(TL_PC_CORRELATION); }
static void *pc_new_stream_in(void) { return pc_new_mode(TL_PC_STREAM_IN); }
static void *pc_new_stream_out(void) { return pc_new_mode(TL_PC_STREAM_OUT); }
static void *pc_new_progress(void) { return pc_new_mode(TL_PC_PROGRESS); }
static void *pc_new_bidir(void) { return pc_new_mode(TL_PC_BIDIR); }
static void *pc_new_reject(void) { return pc_new_mode(TL_PC_REJECT); }

static int pc_set(void *p, const char *key, const char *value, char *expected, size_t cap)
{
    pc_cfg *c = p;
    size_t len = strlen(value);
    uint64_t v;
    int b;
    if (key_is(key, "connect")) {
        if (!address_ok(value, expected, cap)) {
            return SCN_KEY_BAD;
        }
        free(c->connect);
        c->connect = dup_text(value);
        c->pc.connect = c->connect;
        return c->connect ? SCN_KEY_OK : SCN_KEY_BAD;
    }
    if (key_is(key, "count")) {
        if (scn_parse_u64(value, len, &v) != 0 || v == 0 || v > TL_PC_MAX_COUNT) {
            snprintf(expected, cap, "a count of requests, 1 to %llu", (unsigned long long)TL_PC_MAX_COUNT);
            return SCN_KEY_BAD;
        }
        c->pc.count = v;
        return SCN_KEY_OK;
    }
    if (key_is(key, "concurrency")) {
        if (scn_parse_u64(value, len, &v) != 0 || v == 0 || v > UINT32_MAX) {
            snprintf(expected, cap, "a number of outstanding requests, at least 1");
            return SCN_KEY_BAD;
        }
        c->pc.concurrency = (uint32_t)v;
        return SCN_KEY_OK;
    }
    if (key_is(key, "frames")) {
        if (scn_parse_u64(value, len, &v) != 0 || v == 0 || v > 1000000) {
            snprintf(expected, cap, "a number of frames / Signals, 1 to 1000000");
            return SCN_KEY_BAD;
        }
        c->pc.frames = v;
        return SCN_KEY_OK;
    }
    if (key_is(key, "size")) {
        if (scn_parse_u64(value, len, &v) != 0 || v == 0 || v > TL_MAX_BODY_LEN) {
            snprintf(expected, cap, "a body size, 1 to 65535");
            return SCN_KEY_BAD;
        }
        c->pc.size = (size_t)v;
        return SCN_KEY_OK;
    }
    if (key_is(key, "abort")) {
        if (scn_parse_bool(value, len, &b) != 0) {
            snprintf(expected, cap, "on (ByeSignal) or off (ByeRequest)");
            return SCN_KEY_BAD;
        }
        c->pc.abort = b;
        return SCN_KEY_OK;
    }
    if (key_is(key, "timeout")) {
        if (scn_parse_time(value, len, &v) != 0) {
            snprintf(expected, cap, "a time such as 30s");
            return SCN_KEY_BAD;
        }
        c->pc.timeout_ns = v;
        return SCN_KEY_OK;
    }
    return SCN_KEY_UNKNOWN;
}

static int pc_check(void *p, char *expected, size_t cap)
{
    pc_cfg *c = p;
    if (c->connect == NULL) {
        snprintf(expected, cap, "connect=ADDR");
        return -1;
    }
    return 0;
}

static int pc_create(void *p, tl_service **out)
{
    pc_cfg *c = p;
    return tl_pattern_client_create(&c->pc, out);
}

static void pc_free(void *p)
{
    pc_cfg *c = p;
    if (c) {
        free(c->connect);
        free(c);
    }
}

static size_t pc_addresses(const void *p, const char **out, size_t max)
{
    const pc_cfg *c = p;
    if (max == 0 || c->connect == NULL) {
        return 0;
    }
    out[0] = c->connect;
    return 1;
}

#define PC_KEYS "connect=ADDR count=N concurrency=N frames=N size=N abort=on|off timeout=TIME"

/* ---- heartbeat (connect=) and heartbeat-server (listen=) ---- */

typedef struct {
    tl_heartbeat_config hb;
    char *address;
} hb_cfg;

static void *hb_new_client(void) { return calloc(1, sizeof(hb_cfg)); }

static void *hb_new_server(void)
{
    hb_cfg *c = calloc(1, sizeof(hb_cfg));
    if (c) {
        c->hb.listen = 1;
    }
    return c;
}

static int hb_set(void *p, const char *key, const char *value, char *expected, size_t cap)
{
    hb_cfg *c = p;
    size_t len = strlen(value);
    uint64_t v;
    if (key_is(key, c->hb.listen ? "listen" : "connect")) {
        if (!address_ok(value, expected, cap)) {
            return SCN_KEY_BAD;
        }
        free(c->address);
        c->address = dup_text(value);
        c->hb.address = c->address;
        return c->address ? SCN_KEY_OK : SCN_KEY_BAD;
    }
    if (key_is(key, "interval") || key_is(key, "timeout") || key_is(key, "expect-death-at") ||
        (!c->hb.listen && key_is(key, "stop"))) {
        if (scn_parse_time(value, len, &v) != 0 || (v == 0 && !key_is(key, "expect-death-at"))) {
            snprintf(expected, cap, "a time such as 1s");
            return SCN_KEY_BAD;
        }
        if (key_is(key, "interval")) {
            c->hb.interval_ns = v;
        } else if (key_is(key, "timeout")) {
            c->hb.timeout_ns = v;
        } else if (key_is(key, "stop")) {
            c->hb.stop_ns = v;
        } else {
            c->hb.expect_death_ns = v;
        }
        return SCN_KEY_OK;
    }
    return SCN_KEY_UNKNOWN;
}

static int hb_check(void *p, char *expected, size_t cap)
{
    hb_cfg *c = p;
    if (c->address == NULL) {
        snprintf(expected, cap, c->hb.listen ? "listen=ADDR" : "connect=ADDR");
        return -1;
    }
    return 0;
}

static int hb_create(void *p, tl_service **out)
{
    hb_cfg *c = p;
    return tl_heartbeat_create(&c->hb, out);
}

static void hb_free(void *p)
{
    hb_cfg *c = p;
    if (c) {
        free(c->address);
        free(c);
    }
}

static size_t hb_addresses(const void *p, const char **out, size_t max)
{
    const hb_cfg *c = p;
    if (max == 0 || c->address == NULL) {
        return 0;
    }
    out[0] = c->address;
    return 1;
}

/* ---- the table ---- */

static const scn_service_kind kinds[] = {
    {"echo", NULL, "listen=ADDR[,ADDR...] budget=N", 1, echo_new, echo_set, echo_check, echo_create,
     echo_free, echo_addresses},
    {"request-response", "rr", "connect=ADDR count=N size=N|A..B concurrency=N check=on|off timeout=TIME", 0,
     rr_new, rr_set, rr_check, rr_create, rr_free, rr_addresses},
    {"echo-client", NULL, "connect=ADDR count=N abort=on|off timeout=TIME", 0, ec_new, ec_set, ec_check,
     ec_create, ec_free, ec_addresses},
    {"pattern-server", NULL, "listen=ADDR odd-delay=TIME clients=N", 1, ps_new, ps_set, ps_check, ps_create,
     ps_free, ps_addresses},
    {"correlation", NULL, PC_KEYS, 0, pc_new_correlation, pc_set, pc_check, pc_create, pc_free, pc_addresses},
    {"stream-in", NULL, PC_KEYS, 0, pc_new_stream_in, pc_set, pc_check, pc_create, pc_free, pc_addresses},
    {"stream-out", NULL, PC_KEYS, 0, pc_new_stream_out, pc_set, pc_check, pc_create, pc_free, pc_addresses},
    {"progress", NULL, PC_KEYS, 0, pc_new_progress, pc_set, pc_check, pc_create, pc_free, pc_addresses},
    {"bidir", "bidirectional", PC_KEYS, 0, pc_new_bidir, pc_set, pc_check, pc_create, pc_free, pc_addresses},
    {"reject", NULL, PC_KEYS, 0, pc_new_reject, pc_set, pc_check, pc_create, pc_free, pc_addresses},
    {"heartbeat", NULL, "connect=ADDR interval=TIME timeout=TIME expect-death-at=TIME stop=TIME", 0,
     hb_new_client, hb_set, hb_check, hb_create, hb_free, hb_addresses},
    {"heartbeat-server", NULL, "listen=ADDR interval=TIME timeout=TIME expect-death-at=TIME", 1,
     hb_new_server, hb_set, hb_check, hb_create, hb_free, hb_addresses},
};

const scn_service_kind *scn_service_kind_find(const char *name)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(kinds[i].name, name) == 0 || (kinds[i].alias && strcmp(kinds[i].alias, name) == 0)) {
            return &kinds[i];
        }
    }
    return NULL;
}

const char *scn_service_kind_list(void)
{
    return "echo, request-response (rr), echo-client, pattern-server, correlation, stream-in, stream-out, "
           "progress, bidir (bidirectional), reject, heartbeat, heartbeat-server";
}
