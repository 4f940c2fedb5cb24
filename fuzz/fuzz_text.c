/*
 * Fuzz target: text headers (PROTOCOL.md 4.1, 4.2, A17). Statics carry the
 * tx_ prefix (see fuzz.h).
 *
 * 1. The whole input is a text headers block. tl_text_iter_next is compared,
 *    call by call and position by position, with tx_naive_next below: an
 *    independent transcription of the seven rules of 4.2 (plain index loops,
 *    no shared code). Iteration goes on after an end-of-iteration caused by an
 *    empty name, as 4.2 says a further call does, until the end of the block.
 * 2. The same input read as [cfg] [room] then records [nl] [vl] [name] [value]:
 *    each record goes through tl_text_append into a buffer of limited room
 *    (optionally prefilled with one header to near 65535 bytes). The result code
 *    must be what wire.h documents (name trimmed of SP HT CR LF and non-empty,
 *    no CR LF ':' in it; value non-empty without CR LF; block <= 65535; room);
 *    a refused append leaves the length and the bytes alone; and iterating
 *    the block gives back exactly the accepted headers, in order: the name as
 *    trimmed by append, the value trimmed of spaces and tabs by the iterator.
 */
#include <string.h>

#include "tofulab/wire.h"

#include "fuzz.h"

/* ---- 1. the iterator against 4.2 ---- */

typedef struct {
    const uint8_t *d;
    size_t n, pos;
} tx_naive;

static int tx_is_sp_ht(uint8_t c) { return c == ' ' || c == '\t'; }

/* 4.2, rule by rule. Returns 1 with the name and value as offsets/lengths,
 * 0 at the end of iteration. */
static int tx_naive_next(tx_naive *it, size_t *name, size_t *name_len, size_t *value, size_t *value_len)
{
    for (;;) {
        /* Rules 1-2: no bytes, or the position at or past the end. */
        if (it->n == 0 || it->pos >= it->n) {
            return 0;
        }
        /* Rule 3: the first CR LF at or after the position. */
        size_t crlf = it->n;
        for (size_t i = it->pos; i + 1 < it->n; i++) {
            if (it->d[i] == '\r' && it->d[i + 1] == '\n') {
                crlf = i;
                break;
            }
        }
        /* Rule 4: an empty line is skipped. */
        if (crlf == it->pos) {
            it->pos += 2;
            continue;
        }
        /* Rules 5 and 6: a line up to the CR LF, or the rest of the block. */
        size_t start = it->pos, end = crlf;
        it->pos = crlf < it->n ? crlf + 2 : it->n;
        size_t colon = end;
        for (size_t i = start; i < end; i++) {
            if (it->d[i] == ':') {
                colon = i;
                break;
            }
        }
        if (colon == start) {
            return 0; /* empty name: end of iteration, although the position moved */
        }
        size_t vs = colon < end ? colon + 1 : end, ve = end;
        while (vs < ve && tx_is_sp_ht(it->d[vs])) {
            vs++;
        }
        while (ve > vs && tx_is_sp_ht(it->d[ve - 1])) {
            ve--;
        }
        *name = start;
        *name_len = colon - start;
        *value = vs;
        *value_len = ve - vs;
        return 1;
    }
}

static void tx_compare_iterators(const uint8_t *d, size_t n)
{
    tl_text_iter it;
    tl_text_field f;
    tx_naive nv = {d, n, 0};
    tl_text_iter_init(&it, d, n);
    /* Each call that is not at the end moves the position by at least one byte. */
    for (size_t calls = 0; calls <= n + 1; calls++) {
        size_t name = 0, name_len = 0, value = 0, value_len = 0;
        int want = tx_naive_next(&nv, &name, &name_len, &value, &value_len);
        int got = tl_text_iter_next(&it, &f);
        FUZZ_CHECK(got == want);
        FUZZ_CHECK(it.pos == nv.pos);
        if (got) {
            FUZZ_CHECK(f.name == d + name && f.name_len == name_len);
            FUZZ_CHECK(f.value_len == value_len);
            FUZZ_CHECK(value_len == 0 || f.value == d + value);
        }
        if (!got && nv.pos >= n) {
            return;
        }
    }
    FUZZ_FAIL("the iterator did not reach the end of the block");
}

/* ---- 2. append, then iterate ---- */

#define TX_MAX_RECORDS 512
#define TX_BUF_CAP     (TL_MAX_TEXT_LEN + 512)
#define TX_CANARY      0xA5

typedef struct {
    const uint8_t *name;
    size_t name_len;
    const uint8_t *value;
    size_t value_len;
} tx_expected;

static int tx_is_name_trim(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int tx_expected_result(const uint8_t *name, size_t name_len, const uint8_t *value, size_t value_len,
                              size_t len, size_t cap, tx_expected *ok)
{
    while (name_len > 0 && tx_is_name_trim(name[0])) {
        name++;
        name_len--;
    }
    while (name_len > 0 && tx_is_name_trim(name[name_len - 1])) {
        name_len--;
    }
    if (name_len == 0) {
        return TL_E_BAD_NAME;
    }
    for (size_t i = 0; i < name_len; i++) {
        if (name[i] == '\r' || name[i] == '\n' || name[i] == ':') {
            return TL_E_BAD_NAME;
        }
    }
    if (value_len == 0) {
        return TL_E_BAD_VALUE;
    }
    for (size_t i = 0; i < value_len; i++) {
        if (value[i] == '\r' || value[i] == '\n') {
            return TL_E_BAD_VALUE;
        }
    }
    size_t need = name_len + 1 + value_len + 2;
    if (len + need > TL_MAX_TEXT_LEN) {
        return TL_E_TOO_LONG;
    }
    if (len + need > cap) {
        return TL_E_NOSPACE;
    }
    /* What the iterator will give back: the value trimmed of SP and HT. */
    while (value_len > 0 && tx_is_sp_ht(value[0])) {
        value++;
        value_len--;
    }
    while (value_len > 0 && tx_is_sp_ht(value[value_len - 1])) {
        value_len--;
    }
    ok->name = name;
    ok->name_len = name_len;
    ok->value = value;
    ok->value_len = value_len;
    return TL_OK;
}

static uint8_t tx_buf[TX_BUF_CAP];
static tx_expected tx_accepted[TX_MAX_RECORDS];

static void tx_append_round_trip(const uint8_t *data, size_t size)
{
    fuzz_bytes in;
    fuzz_bytes_init(&in, data, size);
    uint8_t cfg = fuzz_u8(&in);
    uint8_t room = fuzz_u8(&in);

    /* Optionally prefill with one long header, to reach the 65535 limit. */
    size_t len = 0, accepted = 0;
    if ((cfg & 0x0F) == 0x0F) {
        len = TL_MAX_TEXT_LEN - (size_t)room * 4u;
        tx_buf[0] = 'p';
        tx_buf[1] = ':';
        memset(tx_buf + 2, 'x', len - 4);
        tx_buf[len - 2] = '\r';
        tx_buf[len - 1] = '\n';
        tx_expected p = {tx_buf, 1, tx_buf + 2, len - 4};
        tx_accepted[accepted++] = p;
    }
    size_t cap = (cfg & 0x10) ? TX_BUF_CAP : len + (size_t)room * 2u;
    /* Canary over every byte this input could append: records add at most
     * one byte more than they take from the input. */
    size_t reach = len + 2 * size + 32;
    memset(tx_buf + len, TX_CANARY, (reach < TX_BUF_CAP ? reach : TX_BUF_CAP) - len);

    while (fuzz_left(&in) > 0 && accepted < TX_MAX_RECORDS) {
        size_t nl, vl;
        uint8_t want_nl = fuzz_u8(&in), want_vl = fuzz_u8(&in);
        const uint8_t *name = fuzz_take(&in, want_nl, &nl);
        const uint8_t *value = fuzz_take(&in, want_vl, &vl);
        tx_expected x;
        int want = tx_expected_result(name, nl, value, vl, len, cap, &x);
        size_t before = len;
        int got = tl_text_append(tx_buf, cap, &len, (const char *)name, nl, (const char *)value, vl);
        FUZZ_CHECK(got == want);
        if (got != TL_OK) {
            FUZZ_CHECK(len == before);
            /* A partial write would begin at the old end. */
            size_t end = before + 16 < TX_BUF_CAP ? before + 16 : TX_BUF_CAP;
            for (size_t i = before; i < end; i++) {
                FUZZ_CHECK(tx_buf[i] == TX_CANARY);
            }
            continue;
        }
        FUZZ_CHECK(len > before && len <= cap && len <= TL_MAX_TEXT_LEN);
        FUZZ_CHECK(len == before + x.name_len + 1 + vl + 2);
        FUZZ_CHECK(memcmp(tx_buf + before, x.name, x.name_len) == 0);
        FUZZ_CHECK(tx_buf[before + x.name_len] == ':');
        FUZZ_CHECK(memcmp(tx_buf + before + x.name_len + 1, value, vl) == 0);
        FUZZ_CHECK(tx_buf[len - 2] == '\r' && tx_buf[len - 1] == '\n');
        FUZZ_CHECK(len == cap || tx_buf[len] == TX_CANARY);
        tx_accepted[accepted++] = x;
    }

    tl_text_iter it;
    tl_text_field f;
    tl_text_iter_init(&it, tx_buf, len);
    for (size_t i = 0; i < accepted; i++) {
        FUZZ_CHECK(tl_text_iter_next(&it, &f) == 1);
        FUZZ_CHECK(f.name_len == tx_accepted[i].name_len);
        FUZZ_CHECK(memcmp(f.name, tx_accepted[i].name, f.name_len) == 0);
        FUZZ_CHECK(f.value_len == tx_accepted[i].value_len);
        FUZZ_CHECK(f.value_len == 0 || memcmp(f.value, tx_accepted[i].value, f.value_len) == 0);
    }
    FUZZ_CHECK(tl_text_iter_next(&it, &f) == 0);
    FUZZ_CHECK(it.pos == len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t none[1] = {0};
    if (data == NULL) {
        data = none;
        size = 0;
    }
    tx_compare_iterators(data, size);
    /* No bytes at all (NULL) is "no headers" too (4.2 rule 1). */
    tl_text_iter it;
    tl_text_field f;
    tl_text_iter_init(&it, NULL, size);
    FUZZ_CHECK(tl_text_iter_next(&it, &f) == 0);
    tx_append_round_trip(data, size);
    return 0;
}
