/* Address headers ~connect_to / ~listen_on (PROTOCOL.md 4.3), parsed strictly
 * per A12: exactly "tcp|host|port" or "uds|path"; anything else is invalid,
 * and tl_address_parse_detail names the leftmost wrong part and why. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tofulab/wire.h"

static int fail(tl_address_error *err, const char *part, size_t offset, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int fail(tl_address_error *err, const char *part, size_t offset, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->part = part;
        err->offset = offset;
        va_start(ap, fmt);
        vsnprintf(err->reason, sizeof err->reason, fmt, ap);
        va_end(ap);
    }
    return TL_E_BAD_ADDRESS;
}

/* Up to 12 bytes of untrusted text, printable, for a reason. */
static const char *excerpt(const char *p, size_t n, char out[40])
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < 40; i++) {
        unsigned char c = (unsigned char)p[i];
        if (i == 12) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\'') {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, 40 - o, "\\x%02x", c);
        }
    }
    out[o] = '\0';
    return out;
}

static int parse_port(const char *value, size_t at, size_t n, uint16_t *port, tl_address_error *err)
{
    /* Canonical decimal: digits only, no leading zero, no sign, '_', space or
     * hex (tofu's Zig parser accepts several of these; A12 asks for strict),
     * so that every accepted value formats back to itself. */
    const char *p = value + at;
    char ex[40];
    if (n == 0) {
        return fail(err, "port", at, "empty port");
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '|') {
            return fail(err, "port", at + i, "'|' in the port at byte %zu: too many parts", at + i);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return fail(err, "port", at, "port '%s' is not a decimal number", excerpt(p, n, ex));
        }
    }
    if (n > 1 && p[0] == '0') {
        return fail(err, "port", at, "port '%s' has a leading zero", excerpt(p, n, ex));
    }
    uint32_t v = 0;
    for (size_t i = 0; i < n && v <= 65535; i++) {
        v = v * 10 + (uint32_t)(p[i] - '0');
    }
    if (n > 5 || v > 65535) {
        return fail(err, "port", at, "port %s out of range 1-65535", excerpt(p, n, ex));
    }
    *port = (uint16_t)v;
    return TL_OK;
}

static int parse_uds(const char *value, size_t len, tl_address *out, tl_address_error *err)
{
    const char *path = value + 4;
    size_t n = len - 4;
    if (n == 0) {
        return fail(err, "path", 4, "empty path");
    }
    if (n > TL_ADDR_PATH_MAX) {
        return fail(err, "path", 4, "path of %zu bytes is longer than %u", n, TL_ADDR_PATH_MAX);
    }
    /* Every accepted path must survive being written as a header and read
     * back (fuzz finding F1): no control character (A17 refuses CR and LF in
     * values) and no blank at either end (the iterator trims values, 4.2); no
     * '|' (it separates parts). */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c < 0x20 || c == 0x7f) {
            return fail(err, "path", 4 + i, "control character 0x%02x in the path at byte %zu", c, 4 + i);
        }
        if (c == '|') {
            return fail(err, "path", 4 + i, "'|' in the path at byte %zu", 4 + i);
        }
    }
    if (path[0] == ' ' || path[n - 1] == ' ') {
        return fail(err, "path", path[0] == ' ' ? 4 : len - 1, "the path %s with a space",
                    path[0] == ' ' ? "begins" : "ends");
    }
    memset(out, 0, sizeof *out);
    out->kind = TL_ADDR_UDS;
    memcpy(out->path, path, n);
    return TL_OK;
}

static int parse_tcp(const char *value, size_t len, tl_address *out, tl_address_error *err)
{
    const char *host = value + 4;
    const char *bar = memchr(host, '|', len - 4);
    size_t host_len = bar ? (size_t)(bar - host) : len - 4;
    if (host_len == 0) {
        return fail(err, "host", 4, "empty host");
    }
    if (host_len > TL_ADDR_HOST_MAX) {
        return fail(err, "host", 4, "host of %zu bytes is longer than %u", host_len, TL_ADDR_HOST_MAX);
    }
    for (size_t i = 0; i < host_len; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c <= 0x20 || c == 0x7f) {
            return fail(err, "host", 4 + i, "%s 0x%02x in the host at byte %zu",
                        c == ' ' ? "space" : "control character", c, 4 + i);
        }
    }
    if (bar == NULL) {
        return fail(err, "port", len, "no port (expected tcp|HOST|PORT)");
    }
    tl_address a;
    memset(&a, 0, sizeof a);
    size_t port_at = 4 + host_len + 1;
    if (parse_port(value, port_at, len - port_at, &a.port, err) != TL_OK) {
        return TL_E_BAD_ADDRESS; /* 4+ parts included: tofu writes out of bounds there */
    }
    a.kind = TL_ADDR_TCP;
    memcpy(a.host, host, host_len);
    *out = a;
    return TL_OK;
}

int tl_address_parse_detail(const char *value, size_t len, tl_address *out, tl_address_error *err)
{
    tl_address a;
    char ex[40];
    if (err != NULL) {
        memset(err, 0, sizeof *err);
    }
    if (value == NULL || out == NULL) {
        return fail(err, "value", 0, "no address");
    }
    const char *bar = memchr(value, '|', len);
    if (bar == NULL) {
        return fail(err, "value", 0, "no '|' (expected tcp|HOST|PORT or uds|PATH)");
    }
    size_t kind_len = (size_t)(bar - value);
    int rc;
    if (kind_len == 3 && memcmp(value, "uds", 3) == 0) {
        rc = parse_uds(value, len, &a, err);
    } else if (kind_len == 3 && memcmp(value, "tcp", 3) == 0) {
        rc = parse_tcp(value, len, &a, err); /* the first part is checked (tofu does not) */
    } else {
        return fail(err, "kind", 0, "unknown kind '%s' (expected tcp or uds)", excerpt(value, kind_len, ex));
    }
    if (rc == TL_OK) {
        *out = a;
    }
    return rc;
}

int tl_address_parse(const char *value, size_t len, tl_address *out)
{
    return tl_address_parse_detail(value, len, out, NULL);
}

int tl_address_format(const tl_address *addr, char *out, size_t cap)
{
    int n;
    if (addr == NULL || out == NULL) {
        return TL_E_INVAL;
    }
    if (addr->kind == TL_ADDR_TCP) {
        if (addr->host[0] == '\0' || memchr(addr->host, '\0', sizeof addr->host) == NULL) {
            return TL_E_INVAL;
        }
        n = snprintf(out, cap, "tcp|%s|%u", addr->host, (unsigned)addr->port);
    } else if (addr->kind == TL_ADDR_UDS) {
        if (addr->path[0] == '\0' || memchr(addr->path, '\0', sizeof addr->path) == NULL) {
            return TL_E_INVAL;
        }
        n = snprintf(out, cap, "uds|%s", addr->path);
    } else {
        return TL_E_INVAL;
    }
    if (n < 0) {
        return TL_E_INVAL;
    }
    if ((size_t)n >= cap) {
        return TL_E_NOSPACE;
    }
    return n;
}

static int name_is(const tl_text_field *f, const char *name)
{
    size_t n = strlen(name);
    return f->name_len == n && memcmp(f->name, name, n) == 0;
}

tl_status tl_address_from_headers(const uint8_t *text, size_t thl, unsigned opcode, tl_address *out)
{
    if (text == NULL || thl == 0) {
        return TL_STATUS_WRONG_ADDRESS;
    }
    tl_text_iter it;
    tl_text_field f;
    tl_text_iter_init(&it, text, thl);
    while (tl_text_iter_next(&it, &f)) {
        int connect = name_is(&f, TL_HEADER_CONNECT_TO);
        int listen = name_is(&f, TL_HEADER_LISTEN_ON);
        if (!connect && !listen) {
            continue;
        }
        /* The first address header decides; its kind must match the op code. */
        if ((connect && opcode != TL_OP_HELLO_REQUEST) || (listen && opcode != TL_OP_WELCOME_REQUEST)) {
            return TL_STATUS_INVALID_ADDRESS;
        }
        if (tl_address_parse((const char *)f.value, f.value_len, out) != TL_OK) {
            return TL_STATUS_INVALID_ADDRESS;
        }
        return TL_STATUS_SUCCESS;
    }
    return TL_STATUS_INVALID_ADDRESS;
}

int tl_address_append_header(uint8_t *buf, size_t cap, size_t *len, unsigned opcode, const tl_address *addr)
{
    char value[TL_ADDR_TEXT_MAX];
    const char *name;
    if (opcode == TL_OP_HELLO_REQUEST) {
        name = TL_HEADER_CONNECT_TO;
    } else if (opcode == TL_OP_WELCOME_REQUEST) {
        name = TL_HEADER_LISTEN_ON;
    } else {
        return TL_E_INVAL;
    }
    int n = tl_address_format(addr, value, sizeof value);
    if (n < 0) {
        return n;
    }
    return tl_text_append(buf, cap, len, name, strlen(name), value, (size_t)n);
}
