/*
 * Conformance suite: is the peer a tofu peer at all? A look at the first
 * bytes a peer sent on a connection that recognises what is plainly not a
 * tofu frame - an HTTP response, a TLS record, a header with its fields in
 * little-endian (byte-swapped) order, text - and says so in one line. The
 * runner ends the suite on it when a case FAILED (docs/conformance.md 1.3).
 * A pure function of the bytes: util.h and the wire codec only.
 */
#ifndef TOFULAB_CONFORM_SNIFF_H
#define TOFULAB_CONFORM_SNIFF_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Bytes of a connection's start worth keeping for tlc_sniff. */
#define TLC_SNIFF_HEAD 64u

typedef enum {
    TLC_SNIFF_TOFU = 0, /* nothing against a tofu frame (or too few bytes to tell) */
    TLC_SNIFF_HTTP,     /* "HTTP/..." */
    TLC_SNIFF_TLS,      /* a TLS record header (handshake, alert, ...) */
    TLC_SNIFF_SWAPPED,  /* a tofu header with little-endian fields (1.2, A1) */
    TLC_SNIFF_TEXT      /* printable text where a binary header belongs */
} tlc_sniff_kind;

/* head[0..len): the first bytes the peer sent on a connection (len may be
 * less than total, the bytes it sent in all). Returns what they are; for
 * anything but TLC_SNIFF_TOFU, why (if not NULL) gets one line saying what
 * came back, e.g. "the reply starts with 'HTTP/1.1 400 Bad Request': an HTTP
 * server, not a tofu peer". */
tlc_sniff_kind tlc_sniff(const uint8_t *head, size_t len, uint64_t total, tlc_sb *why);

/* "HTTP", "TLS", "byte-swapped header", "text", or "tofu". */
const char *tlc_sniff_name(tlc_sniff_kind k);

#endif /* TOFULAB_CONFORM_SNIFF_H */
