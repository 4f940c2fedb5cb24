/*
 * The service kinds of scenario files (services.c): the `service` keys each
 * pattern of patterns/ takes, how their values are read into the pattern's
 * configuration, and the counters each kind reports. The parser
 * (scenario.c) looks kinds up here; docs/scenarios.md lists them.
 */
#ifndef TOFULAB_SIM_SERVICES_H
#define TOFULAB_SIM_SERVICES_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"

enum { SCN_KEY_OK = 0, SCN_KEY_UNKNOWN = -1, SCN_KEY_BAD = -2 };

/* How a key's value is read. */
typedef enum {
    SCN_K_ADDR,  /* one address; the field is the pattern's `const char *` */
    SCN_K_ADDRS, /* addresses separated by commas, repeatable, MAX 8 in all (no field) */
    SCN_K_TIME,  /* a time with a unit, in [min, max] ns; the field is uint64_t */
    SCN_K_UINT,  /* a decimal count in [min, max]; the field is any unsigned integer */
    SCN_K_RANGE, /* N or A..B, B at most max; two fields of the same type (off, off2) */
    SCN_K_BOOL   /* on/off yes/no true/false 1/0; the field is int */
} scn_key_type;

/* One key of a service kind: its value goes to the field at `off` (`size`
 * bytes) of the pattern's configuration (patterns/STAR.h) inside the kind's
 * cfg. A bad value: "expected EXPECTED for KEY", EXPECTED being `expected`,
 * followed by max when expected_max. */
typedef struct {
    const char *name;
    scn_key_type type;
    size_t off, size;
    size_t off2; /* SCN_K_RANGE: the upper end's field */
    uint64_t min, max;
    const char *expected;
    int expected_max;
} scn_key;

typedef struct {
    const char *name;
    const char *alias;  /* or NULL */
    const char *keys;   /* for messages: "listen=ADDR[,ADDR...] budget=N" (the table's keys in order) */
    int listens;        /* its addresses are listen addresses (on its own node) */
    size_t cfg_size;    /* the cfg scn_service_new allocates */
    size_t pattern_off; /* where the pattern's configuration is in the cfg */
    const scn_key *table;
    size_t ntable;
    void (*init)(void *cfg);      /* the defaults, or NULL */
    tl_sim_service_create create; /* arg = the cfg */
} scn_service_kind;

const scn_service_kind *scn_service_kind_find(const char *name);
/* The i-th kind, NULL past the last. */
const scn_service_kind *scn_service_kind_at(size_t i);
/* "echo, request-response (rr), echo-client" */
const char *scn_service_kind_list(void);

/* A kind's configuration, with its defaults; NULL without memory. */
void *scn_service_new(const scn_service_kind *k);
/* One key=value. SCN_KEY_OK, SCN_KEY_UNKNOWN, or SCN_KEY_BAD with what was
 * expected in `expected`. */
int scn_service_set(const scn_service_kind *k, void *cfg, const char *key, const char *value, char *expected,
                    size_t cap);
/* After all keys: 0, or -1 with what is missing in `expected`. */
int scn_service_check(const scn_service_kind *k, const void *cfg, char *expected, size_t cap);
/* Every address the service uses, for the parser's host check. */
size_t scn_service_addresses(const scn_service_kind *k, const void *cfg, const char **out, size_t max);
void scn_service_free(const scn_service_kind *k, void *cfg);

/* Metrics by kind of service (scn_service_metric_group): which counters a
 * service reports, so that an expectation on a node that runs no service
 * reporting that metric is an error at parse time. */
enum { SCN_MG_CLIENT = 1u, SCN_MG_SERVER = 2u, SCN_MG_HEARTBEAT = 4u };
unsigned scn_service_metric_group(const scn_service_kind *k);

#endif /* TOFULAB_SIM_SERVICES_H */
