/*
 * Conformance suite: recognising replies that are not tofu frames at all
 * (see sniff.h). Every test here needs more than chance to pass on a tofu
 * frame, and the runner acts on it only when a case has also FAILED.
 */
#include <string.h>
#include <strings.h>

#include "sniff.h"
#include "util.h"

const char *tlc_sniff_name(tlc_sniff_kind k)
{
    switch (k) {
    case TLC_SNIFF_HTTP: return "HTTP";
    case TLC_SNIFF_TLS: return "TLS";
    case TLC_SNIFF_SWAPPED: return "byte-swapped header";
    case TLC_SNIFF_TEXT: return "text";
    case TLC_SNIFF_TOFU: break;
    }
    return "tofu";
}

static int printable(uint8_t ch)
{
    return (ch >= 0x20 && ch < 0x7f) || ch == '\r' || ch == '\n' || ch == '\t';
}

/* The first line of head, at most 40 bytes, quoted. */
static void first_line(tlc_sb *why, const uint8_t *head, size_t len)
{
    size_t n = 0;

    while (n < len && n < 40 && head[n] != '\r' && head[n] != '\n') {
        n++;
    }
    tlc_sb_append(why, "'", 1);
    tlc_sb_quoted(why, head, n);
    tlc_sb_printf(why, "%s'", n < len && head[n] != '\r' && head[n] != '\n' ? "..." : "");
}

/* A TLS record header: content type 20-23, version 3.0-3.4, a length a
 * record may have; an alert is 2 bytes long. A tofu frame posted by an app
 * has status 0 and, for a small message_id, 0 in the next byte too: bytes 3
 * and 4 read as a length of 0, which no TLS record has; and a handshake
 * record's first message must fit in it. */
static int is_tls(const uint8_t *head, size_t len, const char **what)
{
    unsigned rec;

    if (len < 5 || head[0] < 0x14 || head[0] > 0x17 || head[1] != 0x03 || head[2] > 0x04) {
        return 0;
    }
    rec = (unsigned)head[3] << 8 | head[4];
    if (rec == 0 || rec > 16384u + 2048u) {
        return 0;
    }
    switch (head[0]) {
    case 0x14: *what = "ChangeCipherSpec record"; return rec == 1;
    case 0x15: *what = "alert record"; return rec == 2;
    case 0x16:
        /* a handshake message inside: type, 3-byte length that fits the record */
        if (len >= 9 && ((unsigned long)head[6] << 16 | (unsigned long)head[7] << 8 | head[8]) + 4u > rec) {
            return 0;
        }
        if (len >= 6 && head[5] == 0x02) {
            *what = "handshake record (ServerHello)";
        } else if (len >= 6 && head[5] > 24) {
            return 0;
        } else {
            *what = "handshake record";
        }
        return 1;
    default: *what = "application-data record"; return 1;
    }
}

/* A tofu header written with its fields in little-endian order: read
 * big-endian its message_id is huge and its lengths are not what arrived;
 * read little-endian it is a small id and a frame that fits in what the
 * peer sent. (An id that is a multiple of 2^32 echoed by a correct peer
 * would look the same; the runner also wants a FAILED case.) */
static int is_swapped(const uint8_t *head, size_t len, uint64_t total, tl_header *le, tl_header *be)
{
    if (len < TL_HEADER_SIZE) {
        return 0;
    }
    tl_header_decode(head, be);
    tl_header_decode_native(head, le);
    if (tl_opcode_info_get(tl_proto_opcode(le->proto)) == NULL) {
        return 0;
    }
    if (le->message_id == 0 || le->message_id > 0xffffffffu || be->message_id <= 0xffffffffu) {
        return 0;
    }
    return TL_HEADER_SIZE + (uint64_t)le->thl + le->bl <= total;
}

tlc_sniff_kind tlc_sniff(const uint8_t *head, size_t len, uint64_t total, tlc_sb *why)
{
    tlc_sb dummy = {0};
    const char *tls = NULL;
    tl_header le, be;
    size_t i, n;

    if (why == NULL) {
        why = &dummy;
    }
    if (len >= 5 && memcmp(head, "HTTP/", 5) == 0) {
        tlc_sb_printf(why, "the reply starts with ");
        first_line(why, head, len);
        tlc_sb_printf(why, ": an HTTP server, not a tofu peer");
        tlc_sb_free(&dummy);
        return TLC_SNIFF_HTTP;
    }
    if (is_tls(head, len, &tls)) {
        tlc_sb_printf(why, "the reply starts with ");
        for (i = 0; i < len && i < 6; i++) {
            tlc_sb_printf(why, "%s%02x", i ? " " : "", head[i]);
        }
        tlc_sb_printf(why, ", a TLS %s: a TLS server, not a tofu peer (tofu has no TLS)", tls);
        tlc_sb_free(&dummy);
        return TLC_SNIFF_TLS;
    }
    if (is_swapped(head, len, total, &le, &be)) {
        tlc_sb_printf(
            why,
            "a byte-swapped header: the reply reads as a frame only little-endian (%s, id %llu, thl %u, "
            "bl %u; big-endian: id %llu, thl %u, bl %u); header fields are big-endian (1.2, A1)",
            tl_opcode_name(tl_proto_opcode(le.proto)), (unsigned long long)le.message_id, le.thl, le.bl,
            (unsigned long long)be.message_id, be.thl, be.bl);
        tlc_sb_free(&dummy);
        return TLC_SNIFF_SWAPPED;
    }
    n = len < TL_HEADER_SIZE ? len : TL_HEADER_SIZE;
    for (i = 0; i < n && printable(head[i]); i++) {
    }
    if (n >= 8 && i == n) {
        if (len >= 5 && (strncasecmp((const char *)head, "<!doctype html", len < 14 ? len : 14) == 0 ||
                         strncasecmp((const char *)head, "<html", 5) == 0)) {
            /* an HTTP/0.9-style error page: what some servers send to a request line they cannot parse */
            tlc_sb_printf(why, "the reply starts with ");
            first_line(why, head, len);
            tlc_sb_printf(why, ": an HTML page, so an HTTP server, not a tofu peer");
            tlc_sb_free(&dummy);
            return TLC_SNIFF_HTTP;
        }
        tlc_sb_printf(why, "the reply starts with ");
        first_line(why, head, len);
        tlc_sb_printf(why, ": text, not a tofu header (a tofu peer's frames carry status 0 in byte 3)");
        tlc_sb_free(&dummy);
        return TLC_SNIFF_TEXT;
    }
    tlc_sb_free(&dummy);
    return TLC_SNIFF_TOFU;
}
