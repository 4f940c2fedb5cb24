/*
 * The service kinds a scenario can name (docs/scenarios.md), each a thin
 * adapter from `key=value` words to a pattern's configuration
 * (patterns/echo.h, patterns/request_response.h, patterns/echo_client.h, ...).
 *
 * A kind is data: a table of its keys (name, how the value is read, which
 * field of the pattern's configuration it fills, what the error message says
 * was expected), its defaults and the pattern's create function. One generic
 * parser reads every kind's keys (scn_service_set). A new pattern is one key
 * table, an init and a create function, and one more row in `kinds`.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../patterns/echo.h"
#include "../patterns/echo_client.h"
#include "../patterns/heartbeat.h"
#include "../patterns/pattern_client.h"
#include "../patterns/pattern_server.h"
#include "../patterns/request_response.h"
#include "services.h"
#include "values.h"

#define MAX_LISTEN 8

/* Every kind's cfg starts with the owned copies of its address values; the
 * pattern's configuration follows (at scn_service_kind.pattern_off). */
typedef struct {
    char *addr[MAX_LISTEN];
    size_t naddr;
} svc_head;

#define FIELD(T, m)   offsetof(T, m), sizeof(((T *)0)->m)
#define ADDR_EXPECTED "an address tcp|HOST|PORT or uds|PATH"

/* The rows of a key table, one {K_...(...)} each. */
#define K_ADDR(name, T, m)                 name, SCN_K_ADDR, FIELD(T, m), 0, 0, 0, ADDR_EXPECTED, 0
#define K_ADDRS(name)                      name, SCN_K_ADDRS, 0, 0, 0, 0, 0, ADDR_EXPECTED, 0
#define K_TIME(name, T, m, min, text)      name, SCN_K_TIME, FIELD(T, m), 0, min, UINT64_MAX, text, 0
#define K_UINT(name, T, m, min, max, text) name, SCN_K_UINT, FIELD(T, m), 0, min, max, text, 0
/* the message ends with the maximum */
#define K_UINT_MAX(name, T, m, min, max, text) name, SCN_K_UINT, FIELD(T, m), 0, min, max, text, 1
#define K_RANGE(name, T, lo, hi, max, text)    name, SCN_K_RANGE, FIELD(T, lo), offsetof(T, hi), 0, max, text, 1
#define K_BOOL(name, T, m, text)               name, SCN_K_BOOL, FIELD(T, m), 0, 0, 1, text, 0
#define TABLE(t)                               t, sizeof t / sizeof t[0]

/* Every client kind's handshake timeout and reconnect keys
 * (tl_client_connection, patterns/echo_client.h), at the end of its table;
 * the request clients also the reply timeout (the heartbeat has its own). */
/* clang-format off */
#define CONN_KEYS(T)                                                                                         \
    {K_TIME("hello-timeout", T, conn.hello_timeout_ns, 1, "a time such as 30s")},                            \
    {K_BOOL("reconnect", T, conn.reconnect, "on or off")},                                                   \
    {K_TIME("reconnect-delay", T, conn.reconnect_delay_ns, 1, "a time such as 1s")},                         \
    {K_TIME("reconnect-max", T, conn.reconnect_max_ns, 1, "a time such as 30s")},                            \
    {K_UINT("reconnects", T, conn.reconnects, 0, UINT64_MAX, "a count of reconnects (0 = no limit)")}
#define REPLY_KEY(T)                                                                                         \
    {K_TIME("reply-timeout", T, conn.reply_timeout_ns, 0, "a time such as 60s (0 = off)")}
/* clang-format on */
#define CONN_HELP  " hello-timeout=TIME reconnect=on|off reconnect-delay=TIME reconnect-max=TIME reconnects=N"
#define REPLY_HELP CONN_HELP " reply-timeout=TIME"

/* ---- echo ---- */

typedef struct {
    svc_head h;
    tl_echo_config ec; /* listen and listen_count are set at create */
} echo_cfg;

static const scn_key echo_keys[] = {
    {K_ADDRS("listen")},
    {K_UINT("budget", tl_echo_config, budget, 0, UINT64_MAX, "a count (0 = unlimited)")},
};

static int echo_create(void *p, tl_service **out)
{
    echo_cfg *c = p;
    tl_echo_config cfg = c->ec;
    cfg.listen = (const char *const *)c->h.addr;
    cfg.listen_count = c->h.naddr;
    return tl_echo_service_create(&cfg, out);
}

/* ---- request-response ---- */

typedef struct {
    svc_head h;
    tl_rr_config rr;
} rr_cfg;

static const scn_key rr_keys[] = {
    {K_ADDR("connect", tl_rr_config, connect)},
    {K_UINT_MAX("count", tl_rr_config, count, 0, TL_RR_MAX_COUNT, "a count of requests, at most ")},
    {K_RANGE("size", tl_rr_config, size_min, size_max, TL_MAX_BODY_LEN,
             "a body size N or range A..B, at most ")},
    {K_UINT("concurrency", tl_rr_config, concurrency, 1, UINT32_MAX,
            "a number of outstanding requests, at least 1")},
    {K_BOOL("check", tl_rr_config, check_echo_body, "on or off")},
    {K_TIME("timeout", tl_rr_config, timeout_ns, 0, "a time such as 30s")},
    CONN_KEYS(tl_rr_config),
    REPLY_KEY(tl_rr_config),
};

static void rr_init(void *p)
{
    rr_cfg *c = p;
    c->rr.count = 1;
    c->rr.size_min = 64;
    c->rr.size_max = 64;
    c->rr.concurrency = 1;
    c->rr.check_echo_body = 1;
}

static int rr_create(void *p, tl_service **out)
{
    rr_cfg *c = p;
    return tl_rr_client_create(&c->rr, out);
}

/* ---- echo-client ---- */

typedef struct {
    svc_head h;
    tl_echo_client_config ec;
} ec_cfg;

static const scn_key ec_keys[] = {
    {K_ADDR("connect", tl_echo_client_config, connect)},
    {K_UINT("count", tl_echo_client_config, count, 0, UINT64_MAX, "a count of requests")},
    {K_BOOL("abort", tl_echo_client_config, abort, "on (ByeSignal, tofu's EchoClient) or off (ByeRequest)")},
    {K_TIME("timeout", tl_echo_client_config, timeout_ns, 0, "a time such as 30s")},
    CONN_KEYS(tl_echo_client_config),
    REPLY_KEY(tl_echo_client_config),
};

static void ec_init(void *p)
{
    ec_cfg *c = p;
    c->ec.count = 1;
    c->ec.abort = 1;
}

static int ec_create(void *p, tl_service **out)
{
    ec_cfg *c = p;
    return tl_echo_client_create(&c->ec, out);
}

/* ---- pattern-server ---- */

typedef struct {
    svc_head h;
    tl_pattern_server_config ps;
} ps_cfg;

static const scn_key ps_keys[] = {
    {K_ADDR("listen", tl_pattern_server_config, listen)},
    {K_TIME("odd-delay", tl_pattern_server_config, odd_delay_ns, 0, "a time such as 50ms")},
    {K_UINT("clients", tl_pattern_server_config, clients, 0, UINT64_MAX,
            "a count of clients (0 = run forever)")},
};

static int ps_create(void *p, tl_service **out)
{
    ps_cfg *c = p;
    return tl_pattern_server_create(&c->ps, out);
}

/* ---- pattern clients: correlation, stream-in, stream-out, progress, bidir, reject ---- */

typedef struct {
    svc_head h;
    tl_pattern_client_config pc;
} pc_cfg;

static const scn_key pc_keys[] = {
    {K_ADDR("connect", tl_pattern_client_config, connect)},
    {K_UINT_MAX("count", tl_pattern_client_config, count, 1, TL_PC_MAX_COUNT, "a count of requests, 1 to ")},
    {K_UINT("concurrency", tl_pattern_client_config, concurrency, 1, UINT32_MAX,
            "a number of outstanding requests, at least 1")},
    {K_UINT_MAX("frames", tl_pattern_client_config, frames, 1, 1000000,
                "a number of frames / Signals, 1 to ")},
    {K_UINT_MAX("size", tl_pattern_client_config, size, 1, TL_MAX_BODY_LEN, "a body size, 1 to ")},
    {K_BOOL("abort", tl_pattern_client_config, abort, "on (ByeSignal) or off (ByeRequest)")},
    {K_TIME("timeout", tl_pattern_client_config, timeout_ns, 0, "a time such as 30s")},
    CONN_KEYS(tl_pattern_client_config),
    REPLY_KEY(tl_pattern_client_config),
};

#define PC_KEYS "connect=ADDR count=N concurrency=N frames=N size=N abort=on|off timeout=TIME" REPLY_HELP

static void pc_init_mode(void *p, tl_pc_mode mode)
{
    pc_cfg *c = p;
    c->pc.mode = mode;
    c->pc.count = 1;
    c->pc.concurrency = 1;
    c->pc.frames = 4;
    c->pc.size = 64;
}

static void pc_init_correlation(void *p) { pc_init_mode(p, TL_PC_CORRELATION); }
static void pc_init_stream_in(void *p) { pc_init_mode(p, TL_PC_STREAM_IN); }
static void pc_init_stream_out(void *p) { pc_init_mode(p, TL_PC_STREAM_OUT); }
static void pc_init_progress(void *p) { pc_init_mode(p, TL_PC_PROGRESS); }
static void pc_init_bidir(void *p) { pc_init_mode(p, TL_PC_BIDIR); }
static void pc_init_reject(void *p) { pc_init_mode(p, TL_PC_REJECT); }

static int pc_create(void *p, tl_service **out)
{
    pc_cfg *c = p;
    return tl_pattern_client_create(&c->pc, out);
}

/* ---- heartbeat (connect=, stop=) and heartbeat-server (listen=) ---- */

typedef struct {
    svc_head h;
    tl_heartbeat_config hb;
} hb_cfg;

#define HB_TIME(name, m, min) K_TIME(name, tl_heartbeat_config, m, min, "a time such as 1s")

static const scn_key hb_client_keys[] = {
    {K_ADDR("connect", tl_heartbeat_config, address)},
    {HB_TIME("interval", interval_ns, 1)},
    {HB_TIME("timeout", timeout_ns, 1)},
    {HB_TIME("expect-death-at", expect_death_ns, 0)},
    {HB_TIME("stop", stop_ns, 1)},
    CONN_KEYS(tl_heartbeat_config),
};

static const scn_key hb_server_keys[] = {
    {K_ADDR("listen", tl_heartbeat_config, address)},
    {HB_TIME("interval", interval_ns, 1)},
    {HB_TIME("timeout", timeout_ns, 1)},
    {HB_TIME("expect-death-at", expect_death_ns, 0)},
};

static void hb_init_server(void *p)
{
    hb_cfg *c = p;
    c->hb.listen = 1;
}

static int hb_create(void *p, tl_service **out)
{
    hb_cfg *c = p;
    return tl_heartbeat_create(&c->hb, out);
}

/* ---- the table ---- */

/* A row of `kinds`: {KIND(...)}. */
#define KIND(name, alias, keys, listens, T, member, table, init, create)                                     \
    name, alias, keys, listens, sizeof(T), offsetof(T, member), TABLE(table), init, create

static const scn_service_kind kinds[] = {
    {KIND("echo", NULL, "listen=ADDR[,ADDR...] budget=N", 1, echo_cfg, ec, echo_keys, NULL, echo_create)},
    {KIND("request-response", "rr",
          "connect=ADDR count=N size=N|A..B concurrency=N check=on|off timeout=TIME" REPLY_HELP, 0, rr_cfg,
          rr, rr_keys, rr_init, rr_create)},
    {KIND("echo-client", NULL, "connect=ADDR count=N abort=on|off timeout=TIME" REPLY_HELP, 0, ec_cfg, ec,
          ec_keys, ec_init, ec_create)},
    {KIND("pattern-server", NULL, "listen=ADDR odd-delay=TIME clients=N", 1, ps_cfg, ps, ps_keys, NULL,
          ps_create)},
    {KIND("correlation", NULL, PC_KEYS, 0, pc_cfg, pc, pc_keys, pc_init_correlation, pc_create)},
    {KIND("stream-in", NULL, PC_KEYS, 0, pc_cfg, pc, pc_keys, pc_init_stream_in, pc_create)},
    {KIND("stream-out", NULL, PC_KEYS, 0, pc_cfg, pc, pc_keys, pc_init_stream_out, pc_create)},
    {KIND("progress", NULL, PC_KEYS, 0, pc_cfg, pc, pc_keys, pc_init_progress, pc_create)},
    {KIND("bidir", "bidirectional", PC_KEYS, 0, pc_cfg, pc, pc_keys, pc_init_bidir, pc_create)},
    {KIND("reject", NULL, PC_KEYS, 0, pc_cfg, pc, pc_keys, pc_init_reject, pc_create)},
    {KIND("heartbeat", NULL,
          "connect=ADDR interval=TIME timeout=TIME expect-death-at=TIME stop=TIME" CONN_HELP, 0, hb_cfg, hb,
          hb_client_keys, NULL, hb_create)},
    {KIND("heartbeat-server", NULL, "listen=ADDR interval=TIME timeout=TIME expect-death-at=TIME", 1, hb_cfg,
          hb, hb_server_keys, hb_init_server, hb_create)},
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

const scn_service_kind *scn_service_kind_at(size_t i)
{
    return i < sizeof kinds / sizeof kinds[0] ? &kinds[i] : NULL;
}

const char *scn_service_kind_list(void)
{
    return "echo, request-response (rr), echo-client, pattern-server, correlation, stream-in, stream-out, "
           "progress, bidir (bidirectional), reject, heartbeat, heartbeat-server";
}

/* ---- the generic parts ---- */

static char *dup_text(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n + 1);
    }
    return d;
}

static int address_ok(const char *value)
{
    tl_address a;
    return tl_address_parse(value, strlen(value), &a) == TL_OK;
}

/* An unsigned integer field of `size` bytes. */
static void store_uint(void *field, size_t size, uint64_t v)
{
    if (size == sizeof(uint64_t)) {
        uint64_t x = v;
        memcpy(field, &x, sizeof x);
    } else if (size == sizeof(uint32_t)) {
        uint32_t x = (uint32_t)v;
        memcpy(field, &x, sizeof x);
    } else if (size == sizeof(uint16_t)) {
        uint16_t x = (uint16_t)v;
        memcpy(field, &x, sizeof x);
    } else {
        uint8_t x = (uint8_t)v;
        memcpy(field, &x, sizeof x);
    }
}

/* listen=A,B,...: each address appended (MAX_LISTEN in all, over repeats). */
static int add_addresses(svc_head *h, const char *value, char *expected, size_t cap)
{
    const char *v = value;
    while (*v) {
        const char *comma = strchr(v, ',');
        size_t n = comma ? (size_t)(comma - v) : strlen(v);
        char one[TL_ADDR_TEXT_MAX];
        if (n == 0 || n >= sizeof one || h->naddr == MAX_LISTEN) {
            snprintf(expected, cap, "at most %d addresses separated by commas", MAX_LISTEN);
            return SCN_KEY_BAD;
        }
        memcpy(one, v, n);
        one[n] = '\0';
        if (!address_ok(one)) {
            snprintf(expected, cap, "%s", ADDR_EXPECTED);
            return SCN_KEY_BAD;
        }
        h->addr[h->naddr] = dup_text(one);
        if (h->addr[h->naddr] == NULL) {
            snprintf(expected, cap, "memory");
            return SCN_KEY_BAD;
        }
        h->naddr++;
        v += n;
        if (*v == ',') {
            v++;
        }
    }
    return SCN_KEY_OK;
}

/* connect=A / listen=A: the one address, replacing an earlier one. */
static int set_address(svc_head *h, char *field, const char *value, char *expected, size_t cap)
{
    if (!address_ok(value)) {
        snprintf(expected, cap, "%s", ADDR_EXPECTED);
        return SCN_KEY_BAD;
    }
    for (size_t i = 0; i < h->naddr; i++) {
        free(h->addr[i]);
    }
    h->addr[0] = dup_text(value);
    h->naddr = h->addr[0] ? 1 : 0;
    memcpy(field, &h->addr[0], sizeof h->addr[0]);
    if (h->addr[0] == NULL) {
        snprintf(expected, cap, "memory");
        return SCN_KEY_BAD;
    }
    return SCN_KEY_OK;
}

static int set_key(const scn_key *k, svc_head *h, char *pattern, const char *value, char *expected,
                   size_t cap)
{
    size_t len = strlen(value);
    uint64_t v, hi;
    int b, ok;
    switch (k->type) {
    case SCN_K_ADDRS: return add_addresses(h, value, expected, cap);
    case SCN_K_ADDR: return set_address(h, pattern + k->off, value, expected, cap);
    case SCN_K_TIME:
        ok = scn_parse_time(value, len, &v) == 0 && v >= k->min && v <= k->max;
        if (ok) {
            store_uint(pattern + k->off, k->size, v);
        }
        break;
    case SCN_K_UINT:
        ok = scn_parse_u64(value, len, &v) == 0 && v >= k->min && v <= k->max;
        if (ok) {
            store_uint(pattern + k->off, k->size, v);
        }
        break;
    case SCN_K_RANGE:
        ok = scn_parse_range(value, len, &v, &hi) == 0 && hi <= k->max;
        if (ok) {
            store_uint(pattern + k->off, k->size, v);
            store_uint(pattern + k->off2, k->size, hi);
        }
        break;
    case SCN_K_BOOL:
        ok = scn_parse_bool(value, len, &b) == 0;
        if (ok) {
            memcpy(pattern + k->off, &b, sizeof b);
        }
        break;
    default: ok = 0; break;
    }
    if (ok) {
        return SCN_KEY_OK;
    }
    if (k->expected_max) {
        snprintf(expected, cap, "%s%llu", k->expected, (unsigned long long)k->max);
    } else {
        snprintf(expected, cap, "%s", k->expected);
    }
    return SCN_KEY_BAD;
}

void *scn_service_new(const scn_service_kind *k)
{
    void *cfg = calloc(1, k->cfg_size);
    if (cfg && k->init) {
        k->init(cfg);
    }
    return cfg;
}

int scn_service_set(const scn_service_kind *k, void *cfg, const char *key, const char *value, char *expected,
                    size_t cap)
{
    for (size_t i = 0; i < k->ntable; i++) {
        if (strcmp(k->table[i].name, key) == 0) {
            return set_key(&k->table[i], cfg, (char *)cfg + k->pattern_off, value, expected, cap);
        }
    }
    return SCN_KEY_UNKNOWN;
}

int scn_service_check(const scn_service_kind *k, const void *cfg, char *expected, size_t cap)
{
    const svc_head *h = cfg;
    if (h->naddr > 0) {
        return 0;
    }
    for (size_t i = 0; i < k->ntable; i++) {
        if (k->table[i].type == SCN_K_ADDR || k->table[i].type == SCN_K_ADDRS) {
            snprintf(expected, cap, "%s=ADDR", k->table[i].name);
            return -1;
        }
    }
    return 0;
}

size_t scn_service_addresses(const scn_service_kind *k, const void *cfg, const char **out, size_t max)
{
    const svc_head *h = cfg;
    size_t n = 0;
    (void)k;
    for (size_t i = 0; i < h->naddr && n < max; i++) {
        out[n++] = h->addr[i];
    }
    return n;
}

void scn_service_free(const scn_service_kind *k, void *cfg)
{
    svc_head *h = cfg;
    (void)k;
    if (h == NULL) {
        return;
    }
    for (size_t i = 0; i < h->naddr; i++) {
        free(h->addr[i]);
    }
    free(h);
}

unsigned scn_service_metric_group(const scn_service_kind *k)
{
    static const struct {
        const char *kind;
        unsigned group;
    } groups[] = {{"echo", SCN_MG_SERVER},
                  {"pattern-server", SCN_MG_SERVER},
                  {"heartbeat", SCN_MG_HEARTBEAT},
                  {"heartbeat-server", SCN_MG_HEARTBEAT}};
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        if (strcmp(k->name, groups[i].kind) == 0) {
            return groups[i].group;
        }
    }
    return SCN_MG_CLIENT; /* the client patterns: request-response, echo-client, correlation, ... */
}
