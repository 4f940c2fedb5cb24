/*
 * Shared by every fuzz target (fuzz/fuzz_<target>.c): the entry point's
 * prototype, the oracle check and a byte consumer.
 *
 * An oracle failure prints what broke and abort()s, which libFuzzer, AFL++ and
 * the replay driver all report as a crash. tests/unit/test_regress.c includes
 * the targets into one translation unit and defines FUZZ_FAIL first, so that a
 * broken check becomes a cmocka failure instead; for that reason every static
 * name in a target file carries the target's prefix (rd_, tx_, ad_, rt_, ep_).
 */
#ifndef TOFULAB_FUZZ_H
#define TOFULAB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef FUZZ_FAIL
static inline void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "fuzz: %s:%d: check failed: %s\n", file, line, what);
    abort();
}
#define FUZZ_FAIL(what) fuzz_fail(__FILE__, __LINE__, (what))
#endif

/* Always on, whatever NDEBUG says: these checks are the point of the target. */
#define FUZZ_CHECK(cond)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            FUZZ_FAIL(#cond);                                                                                \
        }                                                                                                    \
    } while (0)

/* A check that an open, reported engine/core finding breaks (fuzz/README.md,
 * "Findings"; its input is in tests/regress/ and listed in
 * tests/regress/KNOWN-OPEN). Tolerated by default so that fuzzing goes on
 * past it; fatal when built with -DFUZZ_STRICT (tests/unit/test_regress.c
 * does, to see whether it is fixed). Once fixed, make it a FUZZ_CHECK. */
#ifdef FUZZ_STRICT
#define FUZZ_CHECK_OPEN(cond) FUZZ_CHECK(cond)
#else
#define FUZZ_CHECK_OPEN(cond) ((void)(cond))
#endif

/* Reads bytes from the front of the input; past the end it yields zeros, so
 * a target never has to check lengths before deciding something. */
typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
} fuzz_bytes;

static inline void fuzz_bytes_init(fuzz_bytes *b, const uint8_t *data, size_t size)
{
    static const uint8_t none[1] = {0};
    b->data = data != NULL ? data : none;
    b->size = data != NULL ? size : 0;
    b->pos = 0;
}

static inline uint8_t fuzz_u8(fuzz_bytes *b) { return b->pos < b->size ? b->data[b->pos++] : 0; }

static inline uint16_t fuzz_u16(fuzz_bytes *b)
{
    uint16_t hi = fuzz_u8(b);
    return (uint16_t)((hi << 8) | fuzz_u8(b));
}

static inline uint64_t fuzz_u64(fuzz_bytes *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | fuzz_u8(b);
    }
    return v;
}

static inline size_t fuzz_left(const fuzz_bytes *b) { return b->size - b->pos; }

/* Up to n bytes (fewer at the end) from the front; *got tells how many. */
static inline const uint8_t *fuzz_take(fuzz_bytes *b, size_t n, size_t *got)
{
    const uint8_t *p = b->data + b->pos;
    if (n > b->size - b->pos) {
        n = b->size - b->pos;
    }
    b->pos += n;
    *got = n;
    return p;
}

#endif
