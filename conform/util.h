/*
 * Conformance suite, lowest layer: text and byte buffers, the clock, a
 * seeded PRNG, received frames and their one-line descriptions. Depends on
 * the wire codec and libc only; every other conform/ module may use it.
 */
#ifndef TOFULAB_CONFORM_UTIL_H
#define TOFULAB_CONFORM_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "tofulab/wire.h"

#if defined(__GNUC__) || defined(__clang__)
#define TLC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define TLC_PRINTF(fmt, args)
#endif

/* ---- growable text ---- */

typedef struct {
    char *s;
    size_t len;
    size_t cap;
    int oom;
} tlc_sb;

void tlc_sb_printf(tlc_sb *b, const char *fmt, ...) TLC_PRINTF(2, 3);
void tlc_sb_vprintf(tlc_sb *b, const char *fmt, va_list ap) TLC_PRINTF(2, 0);
void tlc_sb_append(tlc_sb *b, const char *data, size_t len);
void tlc_sb_hex(tlc_sb *b, const uint8_t *data, size_t len);
/* Printable ASCII as is, backslash escapes for CR, LF, TAB, \\ and \xNN. */
void tlc_sb_quoted(tlc_sb *b, const uint8_t *data, size_t len);
/* Take the string (never NULL; "" when empty); b is reset. */
char *tlc_sb_take(tlc_sb *b);
void tlc_sb_free(tlc_sb *b);

/* ---- growable bytes ---- */

typedef struct {
    uint8_t *p;
    size_t len;
    size_t cap;
    int oom;
} tlc_bytes;

void tlc_bytes_append(tlc_bytes *b, const void *data, size_t len);
void tlc_bytes_free(tlc_bytes *b);

/* ---- time and randomness ---- */

uint64_t tlc_now_us(void);
void tlc_sleep_us(uint64_t us);
/* xorshift64*, deterministic per seed. */
uint64_t tlc_rand(uint64_t *state);

/* One line per frame in data[0..len): op, fields, headers, body, the native
 * decode of a 16-byte body; a trailing incomplete frame is described as such. */
void tlc_describe_frames(tlc_sb *out, const uint8_t *data, size_t len, size_t total);

/* ---- a received frame (owned copy) ---- */

typedef struct {
    tl_header h;
    uint8_t *text; /* h.thl bytes (NULL when 0) */
    uint8_t *body; /* h.bl bytes (NULL when 0) */
} tlc_frame;

void tlc_frame_free(tlc_frame *f);

#endif /* TOFULAB_CONFORM_UTIL_H */
