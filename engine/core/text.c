/* Text headers: append (PROTOCOL.md 4.1 + A17) and tofu's iterator (4.2). */
#include <string.h>

#include "tofulab/wire.h"

static int is_name_trim(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static int is_value_trim(uint8_t c) { return c == ' ' || c == '\t'; }

int tl_text_append(uint8_t *buf, size_t cap, size_t *len, const char *name, size_t name_len,
                   const char *value, size_t value_len)
{
    if (len == NULL || (buf == NULL && cap != 0) || *len > cap) {
        return TL_E_INVAL;
    }
    if (name == NULL) {
        return TL_E_BAD_NAME;
    }
    /* tofu trims the name of space, tab, CR and LF and refuses it empty. */
    const uint8_t *n = (const uint8_t *)name;
    while (name_len > 0 && is_name_trim(n[0])) {
        n++;
        name_len--;
    }
    while (name_len > 0 && is_name_trim(n[name_len - 1])) {
        name_len--;
    }
    if (name_len == 0) {
        return TL_E_BAD_NAME;
    }
    /* A17: CR or LF inside a name or a value would inject lines. A colon in a
     * name would be split elsewhere by the iterator, so it cannot round-trip. */
    for (size_t i = 0; i < name_len; i++) {
        if (n[i] == '\r' || n[i] == '\n' || n[i] == ':') {
            return TL_E_BAD_NAME;
        }
    }
    if (value == NULL || value_len == 0) {
        return TL_E_BAD_VALUE;
    }
    if (memchr(value, '\r', value_len) != NULL || memchr(value, '\n', value_len) != NULL) {
        return TL_E_BAD_VALUE;
    }
    size_t need = name_len + 1 + value_len + 2;
    if (need > TL_MAX_TEXT_LEN || *len > TL_MAX_TEXT_LEN - need) {
        return TL_E_TOO_LONG;
    }
    if (need > cap - *len) {
        return TL_E_NOSPACE;
    }
    uint8_t *p = buf + *len;
    memcpy(p, n, name_len);
    p += name_len;
    *p++ = ':';
    memcpy(p, value, value_len);
    p += value_len;
    *p++ = '\r';
    *p = '\n';
    *len += need;
    return TL_OK;
}

void tl_text_iter_init(tl_text_iter *it, const uint8_t *data, size_t len)
{
    it->data = data;
    it->len = data != NULL ? len : 0;
    it->pos = 0;
}

/* Index of the first CR LF at or after from, or len if none. */
static size_t find_crlf(const uint8_t *d, size_t len, size_t from)
{
    while (from + 1 < len) {
        const uint8_t *cr = memchr(d + from, '\r', len - from - 1);
        if (cr == NULL) {
            return len;
        }
        size_t i = (size_t)(cr - d);
        if (d[i + 1] == '\n') {
            return i;
        }
        from = i + 1;
    }
    return len;
}

int tl_text_iter_next(tl_text_iter *it, tl_text_field *out)
{
    for (;;) {
        if (it->data == NULL || it->pos >= it->len) {
            return 0;
        }
        size_t start = it->pos;
        size_t end = find_crlf(it->data, it->len, start);
        if (end == start) {
            /* An empty line anywhere is skipped. */
            it->pos += 2;
            continue;
        }
        /* A missing final CR LF is accepted: the rest is the last line. */
        it->pos = end < it->len ? end + 2 : it->len;

        const uint8_t *line = it->data + start;
        size_t line_len = end - start;
        const uint8_t *colon = memchr(line, ':', line_len);
        size_t name_len = colon ? (size_t)(colon - line) : line_len;
        if (name_len == 0) {
            /* tofu reports the end here although the position moved on (4.2). */
            return 0;
        }
        const uint8_t *v = colon ? colon + 1 : line + line_len;
        size_t v_len = colon ? line_len - name_len - 1 : 0;
        while (v_len > 0 && is_value_trim(v[0])) {
            v++;
            v_len--;
        }
        while (v_len > 0 && is_value_trim(v[v_len - 1])) {
            v_len--;
        }
        out->name = line; /* names are not trimmed */
        out->name_len = name_len;
        out->value = v;
        out->value_len = v_len;
        return 1;
    }
}
