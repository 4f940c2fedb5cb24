/*
 * Golden vectors of PROTOCOL.md section 8 (V01-V22) as a C table, plus a hex
 * decoder. The table in golden.c is generated from tests/vectors/golden.json.
 */
#ifndef TOFULAB_TEST_GOLDEN_H
#define TOFULAB_TEST_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

#define GOLDEN_COUNT       22u
#define GOLDEN_MAX_HEADERS 4u

typedef struct {
    const char *name;
    const char *value;
} golden_header;

typedef struct {
    const char *id; /* "V01" .. "V22" */
    const char *title;
    const char *frame_hex; /* hdr || thdr || body, lowercase hex, no spaces */
    uint16_t channel;
    uint8_t proto;
    const char *opcode; /* "Request", ...; NULL for op codes 10-15 */
    const char *origin; /* "application" or "engine" */
    int more;
    uint8_t status;
    uint64_t message_id;
    uint16_t thl;
    uint16_t bl;
    size_t header_count;
    golden_header headers[GOLDEN_MAX_HEADERS];
    const char *body_hex;
} golden_vector;

extern const golden_vector golden_vectors[GOLDEN_COUNT];

/* Decode a hex string (upper or lower case, even length, nothing else) into
 * out. Returns the number of bytes, or (size_t)-1 if the text is not valid
 * hex or needs more than cap bytes. */
size_t hex_to_bytes(const char *hex, uint8_t *out, size_t cap);

/* Failure helpers for loops over vectors, so a failure names the vector and
 * the field. They expand to cmocka's fail_msg(): include <cmocka.h> first. */
#define GOLDEN_EXPECT_EQ(id, got, want)                                                                      \
    do {                                                                                                     \
        unsigned long long golden_g_ = (unsigned long long)(got);                                            \
        unsigned long long golden_w_ = (unsigned long long)(want);                                           \
        if (golden_g_ != golden_w_)                                                                          \
            fail_msg("%s: %s is %llu (0x%llx), expected %llu (0x%llx)", (id), #got, golden_g_, golden_g_,    \
                     golden_w_, golden_w_);                                                                  \
    } while (0)

#define GOLDEN_EXPECT_MEM(id, got, want, n)                                                                  \
    do {                                                                                                     \
        size_t golden_at_ = golden_mismatch((got), (want), (n));                                             \
        if (golden_at_ != (size_t)-1)                                                                        \
            fail_msg("%s: %s differs from %s at byte %zu of %zu", (id), #got, #want, golden_at_,             \
                     (size_t)(n));                                                                           \
    } while (0)

/* Index of the first differing byte, or (size_t)-1 if the n bytes are equal. */
size_t golden_mismatch(const void *a, const void *b, size_t n);

#endif
