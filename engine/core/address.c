/* Address headers ~connect_to / ~listen_on (PROTOCOL.md 4.3), parsed strictly
 * per A12: exactly "tcp|host|port" or "uds|path"; anything else is invalid. */
#include <stdio.h>
#include <string.h>

#include "tofulab/wire.h"

static int parse_port(const char *p, size_t n, uint16_t *port)
{
    /* Canonical decimal: digits only, no leading zero, no sign, '_', space or
     * hex (tofu's Zig parser accepts several of these; A12 asks for strict),
     * so that every accepted value formats back to itself. */
    if (n == 0 || n > 5 || (n > 1 && p[0] == '0')) {
        return TL_E_BAD_ADDRESS;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return TL_E_BAD_ADDRESS;
        }
        v = v * 10 + (uint32_t)(p[i] - '0');
    }
    if (v > 65535) {
        return TL_E_BAD_ADDRESS;
    }
    *port = (uint16_t)v;
    return TL_OK;
}

int tl_address_parse(const char *value, size_t len, tl_address *out)
{
    if (value == NULL || out == NULL) {
        return TL_E_BAD_ADDRESS;
    }
    const char *bar1 = memchr(value, '|', len);
    if (bar1 == NULL) {
        return TL_E_BAD_ADDRESS;
    }
    size_t kind_len = (size_t)(bar1 - value);
    const char *rest = bar1 + 1;
    size_t rest_len = len - kind_len - 1;
    const char *bar2 = memchr(rest, '|', rest_len);
    tl_address a;
    memset(&a, 0, sizeof a);

    if (bar2 == NULL) {
        /* Two parts: only "uds|path". */
        if (kind_len != 3 || memcmp(value, "uds", 3) != 0) {
            return TL_E_BAD_ADDRESS;
        }
        if (rest_len == 0 || rest_len > TL_ADDR_PATH_MAX) {
            return TL_E_BAD_ADDRESS;
        }
        /* Every accepted path must survive being written as a header and
         * read back (fuzz finding F1): no control character (A17 refuses CR
         * and LF in values) and no blank at either end (the iterator trims
         * values, 4.2). */
        for (size_t i = 0; i < rest_len; i++) {
            unsigned char c = (unsigned char)rest[i];
            if (c < 0x20 || c == 0x7f) {
                return TL_E_BAD_ADDRESS;
            }
        }
        if (rest[0] == ' ' || rest[rest_len - 1] == ' ') {
            return TL_E_BAD_ADDRESS;
        }
        a.kind = TL_ADDR_UDS;
        memcpy(a.path, rest, rest_len);
        *out = a;
        return TL_OK;
    }

    /* Three parts, and the first must really be "tcp" (tofu does not check). */
    size_t host_len = (size_t)(bar2 - rest);
    const char *port = bar2 + 1;
    size_t port_len = rest_len - host_len - 1;
    if (kind_len != 3 || memcmp(value, "tcp", 3) != 0) {
        return TL_E_BAD_ADDRESS;
    }
    if (memchr(port, '|', port_len) != NULL) {
        return TL_E_BAD_ADDRESS; /* 4+ parts: tofu writes out of bounds here */
    }
    if (host_len == 0 || host_len > TL_ADDR_HOST_MAX) {
        return TL_E_BAD_ADDRESS;
    }
    for (size_t i = 0; i < host_len; i++) {
        unsigned char c = (unsigned char)rest[i];
        if (c <= 0x20 || c == 0x7f) {
            return TL_E_BAD_ADDRESS;
        }
    }
    if (parse_port(port, port_len, &a.port) != TL_OK) {
        return TL_E_BAD_ADDRESS;
    }
    a.kind = TL_ADDR_TCP;
    memcpy(a.host, rest, host_len);
    *out = a;
    return TL_OK;
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
