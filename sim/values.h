/*
 * The value words of scenario files (values.c): what the parser, the service
 * kinds, the shrinker and the commands read. Each parser returns 0, or -1
 * when the text is not exactly such a value; nothing is read past len.
 */
#ifndef TOFULAB_SIM_VALUES_H
#define TOFULAB_SIM_VALUES_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"

/* A unit suffix and what one of it is worth; tables end with {NULL, 0}. */
typedef struct {
    const char *suffix;
    uint64_t mult;
} scn_unit;

/* ns us ms s m h, in that order, in nanoseconds. */
extern const scn_unit scn_time_units[];

/* DIGITS[.DIGITS]UNIT exactly: the number times the unit's mult (a fraction
 * below 1 truncated). unit_required: a bare number is refused; else it
 * counts bare_mult. */
int scn_parse_unit(const char *text, size_t len, const scn_unit *units, int unit_required, uint64_t bare_mult,
                   uint64_t *out);

int scn_parse_u64(const char *text, size_t len, uint64_t *out);  /* decimal, no sign */
int scn_parse_time(const char *text, size_t len, uint64_t *out); /* 1.5s 20ms 30us 100ns 2m 1h */
int scn_parse_bool(const char *text, size_t len, int *out);      /* on off yes no true false 1 0 */
int scn_parse_range(const char *text, size_t len, uint64_t *lo, uint64_t *hi); /* N or A..B */

/* A duration for people, rounded to 3 decimals: 61.979ms, 1.438s, 250us, 0s. */
void scn_format_time(char *out, size_t cap, uint64_t ns);

#endif /* TOFULAB_SIM_VALUES_H */
