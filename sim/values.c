/*
 * The value words of scenario files (docs/scenarios.md): counts, numbers
 * with a unit, booleans, ranges, and a duration for people. The parser
 * (scenario.c), the service kinds (services.c), the shrinker and the
 * commands read values with these; nothing here knows a directive.
 */
#include <stdio.h>
#include <string.h>

#include "values.h"

int scn_parse_u64(const char *text, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return -1;
        }
        unsigned d = (unsigned)(text[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* DIGITS[.DIGITS]UNIT exactly, value = number * mult (fraction truncated
 * below 1). unit_required: a bare number is refused. */
int scn_parse_unit(const char *text, size_t len, const scn_unit *units, int unit_required, uint64_t bare_mult,
                   uint64_t *out)
{
    size_t i = 0;
    uint64_t ip = 0, fp = 0, fscale = 1;
    while (i < len && text[i] >= '0' && text[i] <= '9') {
        unsigned d = (unsigned)(text[i] - '0');
        if (ip > (UINT64_MAX - d) / 10) {
            return -1;
        }
        ip = ip * 10 + d;
        i++;
    }
    if (i == 0) {
        return -1;
    }
    if (i < len && text[i] == '.') {
        size_t start = ++i;
        while (i < len && text[i] >= '0' && text[i] <= '9') {
            if (fscale < 1000000000000000000ull) {
                fp = fp * 10 + (uint64_t)(text[i] - '0');
                fscale *= 10;
            }
            i++;
        }
        if (i == start) {
            return -1;
        }
    }
    uint64_t mult = 0;
    if (i == len) {
        if (unit_required) {
            return -1;
        }
        mult = bare_mult;
    } else {
        for (const scn_unit *u = units; u->suffix; u++) {
            if (strlen(u->suffix) == len - i && memcmp(u->suffix, text + i, len - i) == 0) {
                mult = u->mult;
                break;
            }
        }
        if (mult == 0) {
            return -1;
        }
    }
    if (ip != 0 && mult > UINT64_MAX / ip) {
        return -1;
    }
    uint64_t v = ip * mult;
    /* fraction: fp / fscale * mult, exact when it divides */
    uint64_t frac = 0;
    if (fp != 0) {
        if (mult <= UINT64_MAX / fp) {
            frac = fp * mult / fscale;
        } else {
            frac = fp / fscale * mult + (fp % fscale) * (mult / fscale);
        }
    }
    if (v > UINT64_MAX - frac) {
        return -1;
    }
    *out = v + frac;
    return 0;
}

const scn_unit scn_time_units[] = {{"ns", 1},
                                   {"us", 1000},
                                   {"ms", 1000000},
                                   {"s", 1000000000ull},
                                   {"m", 60000000000ull},
                                   {"h", 3600000000000ull},
                                   {NULL, 0}};

int scn_parse_time(const char *text, size_t len, uint64_t *out)
{
    return scn_parse_unit(text, len, scn_time_units, 1, 0, out);
}

int scn_parse_bool(const char *text, size_t len, int *out)
{
    static const char *yes[] = {"on", "yes", "true", "1"};
    static const char *no[] = {"off", "no", "false", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strlen(yes[i]) == len && memcmp(yes[i], text, len) == 0) {
            *out = 1;
            return 0;
        }
        if (strlen(no[i]) == len && memcmp(no[i], text, len) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

int scn_parse_range(const char *text, size_t len, uint64_t *lo, uint64_t *hi)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] == '.' && text[i + 1] == '.') {
            if (scn_parse_u64(text, i, lo) != 0 || scn_parse_u64(text + i + 2, len - i - 2, hi) != 0 ||
                *lo > *hi) {
                return -1;
            }
            return 0;
        }
    }
    if (scn_parse_u64(text, len, lo) != 0) {
        return -1;
    }
    *hi = *lo;
    return 0;
}

/* Human-readable, rounded to 3 decimals: 61.979ms, 1.438s, 250us, 0s. */
void scn_format_time(char *out, size_t cap, uint64_t ns)
{
    static const struct {
        uint64_t div;
        const char *unit;
    } u[] = {{TL_SIM_NS_PER_S, "s"}, {TL_SIM_NS_PER_MS, "ms"}, {1000, "us"}};
    for (size_t i = 0; i < 3; i++) {
        if (ns >= u[i].div) {
            uint64_t whole = ns / u[i].div;
            uint64_t milli = (ns % u[i].div) * 1000 / u[i].div;
            if (milli == 0) {
                snprintf(out, cap, "%llu%s", (unsigned long long)whole, u[i].unit);
            } else {
                snprintf(out, cap, "%llu.%03llu%s", (unsigned long long)whole, (unsigned long long)milli,
                         u[i].unit);
            }
            return;
        }
    }
    snprintf(out, cap, ns ? "%lluns" : "%llus", (unsigned long long)ns);
}
