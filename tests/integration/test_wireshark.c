/*
 * The Wireshark dissector (wireshark/tofu.lua) under tshark.
 *
 * The main test runs a scenario on the virtual network with --pcap and
 * --trace, opens the capture with tshark and the dissector, and checks every
 * decoded frame, packet by packet, against two independent truths: the frames
 * the engine's own codec finds in each TCP direction of the same capture
 * (reassembled here from the pcap: every field, text headers and body
 * included, and the packet in which each frame completes), and the trace's
 * `send` lines (op code, message_id, more, thl, bl per node and channel).
 * The others: the op code and status names equal the engine's tables; the
 * heuristic claims tofu on any port and leaves other TCP alone; each
 * suspicious case of PROTOCOL.md gets its expert info; text headers split as
 * tofu's iterator splits them; and every fuzz corpus input, as TCP payload,
 * dissects without a Lua error (tshark exit 0, nothing on stderr).
 *
 * Needs tshark (ci/install-deps.sh installs it). Runs from the repository
 * root; the simulator is the binary named by $TOFULAB (default build/tofulab).
 * TOFULAB_KEEP_TMP=1 keeps the captures it writes (the path is printed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tofulab/wire.h"
#include "../helpers/spawn.h"

#define DISSECTOR      "wireshark/tofu.lua"
#define TSHARK_TIMEOUT 120000
#define AGG            "\x1f" /* tshark's aggregator between the values of one field */
#define MAX_DIRS       64
#define MAX_NODES      16

static char tshark_path[512];
static char *tmp_dir;

/* ---- running tshark ---- */

/* tshark prints this on every run as root; anything else on stderr is a failure. */
static int stderr_clean(const char *err)
{
    const char *line = err;

    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);

        if (len > 0 && strncmp(line, "Running as user ", 16) != 0) {
            return 0;
        }
        line += len + (end != NULL);
    }
    return 1;
}

/* tshark -r PCAP -X lua_script:DISSECTOR ARGS...; asserts exit 0 and a clean stderr. */
static void tshark(spawn_result *r, const char *pcap, const char *const *args)
{
    const char *argv[64];
    size_t n = 0;

    argv[n++] = tshark_path;
    argv[n++] = "-n";
    argv[n++] = "-r";
    argv[n++] = pcap;
    argv[n++] = "-X";
    argv[n++] = "lua_script:" DISSECTOR;
    while (*args != NULL) {
        assert_true(n < 63);
        argv[n++] = *args++;
    }
    argv[n] = NULL;
    if (spawn_run(r, argv, NULL, NULL, NULL, 0, TSHARK_TIMEOUT) != 0) {
        fail_msg("cannot run %s: %s", tshark_path, strerror(r->spawn_errno));
    }
    if (r->exit_code != 0 || !stderr_clean(r->err)) {
        fail_msg("tshark on %s: exit %d, stderr: %s", pcap, r->exit_code, r->err);
    }
}

/* Splits s at sep into at most max parts (s is modified); returns the count. */
static size_t split(char *s, const char *sep, char **parts, size_t max)
{
    size_t n = 0;
    size_t sep_len = strlen(sep);

    if (*s == '\0') {
        return 0;
    }
    while (n < max) {
        char *hit = strstr(s, sep);
        parts[n++] = s;
        if (hit == NULL) {
            break;
        }
        *hit = '\0';
        s = hit + sep_len;
    }
    return n;
}

/* ---- writing a capture (LINKTYPE_RAW: IPv4 without a link header) ---- */

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

static void le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static FILE *pcap_create(const char *path)
{
    uint8_t h[24] = {0};
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    le32(h, 0xa1b2c3d4u); /* microsecond timestamps */
    h[4] = 2;             /* version 2.4 */
    h[6] = 4;
    le32(h + 16, 262144); /* snaplen */
    le32(h + 20, 101);    /* LINKTYPE_RAW */
    assert_int_equal(fwrite(h, 1, sizeof h, f), sizeof h);
    return f;
}

#define TCP_SYN 0x02
#define TCP_PSH 0x08
#define TCP_ACK 0x10

typedef struct {
    FILE *f;
    uint32_t usec; /* one packet per millisecond */
} pcap_writer;

/* One TCP segment from a:ap to b:bp. */
static void pcap_tcp(pcap_writer *w, uint32_t a, uint16_t ap, uint32_t b, uint16_t bp, uint32_t seq,
                     uint8_t flags, const uint8_t *data, size_t len)
{
    uint8_t hdr[16 + 40];
    uint8_t *ip = hdr + 16;
    uint8_t *tcp = ip + 20;
    uint32_t sum = 0;
    size_t i;

    assert_true(len <= 65495);
    memset(hdr, 0, sizeof hdr);
    w->usec += 1000;
    le32(hdr, w->usec / 1000000u);
    le32(hdr + 4, w->usec % 1000000u);
    le32(hdr + 8, (uint32_t)(40 + len));
    le32(hdr + 12, (uint32_t)(40 + len));
    ip[0] = 0x45;
    put16(ip + 2, (uint32_t)(40 + len));
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 6;
    put32(ip + 12, a);
    put32(ip + 16, b);
    for (i = 0; i < 20; i += 2) {
        sum += (uint32_t)ip[i] << 8 | ip[i + 1];
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    put16(ip + 10, ~sum & 0xffff);
    put16(tcp, ap);
    put16(tcp + 2, bp);
    put32(tcp + 4, seq);
    put32(tcp + 8, (flags & TCP_ACK) ? 1 : 0);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    put16(tcp + 14, 65535);
    assert_int_equal(fwrite(hdr, 1, sizeof hdr, w->f), sizeof hdr);
    if (len > 0) {
        assert_int_equal(fwrite(data, 1, len, w->f), len);
    }
}

/* A one-way TCP stream: SYN, then the bytes cut at the given segment sizes
 * (the last size repeats). */
static void pcap_stream(pcap_writer *w, uint32_t a, uint16_t ap, uint32_t b, uint16_t bp, const uint8_t *data,
                        size_t len, const size_t *cuts, size_t ncuts)
{
    uint32_t seq = 1000;
    size_t off = 0, k = 0;

    pcap_tcp(w, a, ap, b, bp, seq++, TCP_SYN, NULL, 0);
    while (off < len) {
        size_t n = cuts[k < ncuts ? k : ncuts - 1];
        if (n > len - off) {
            n = len - off;
        }
        pcap_tcp(w, a, ap, b, bp, seq, TCP_PSH | TCP_ACK, data + off, n);
        seq += (uint32_t)n;
        off += n;
        k++;
    }
}

/* One frame: header fields, text block, body. */
static size_t frame_build(uint8_t *out, uint16_t channel, uint8_t proto, uint8_t status, uint64_t id,
                          const char *text, size_t text_len, const uint8_t *body, size_t body_len)
{
    tl_header h;

    memset(&h, 0, sizeof h);
    h.channel = channel;
    h.proto = proto;
    h.status = status;
    h.message_id = id;
    h.thl = (uint16_t)text_len;
    h.bl = (uint16_t)body_len;
    tl_header_encode(&h, out);
    memcpy(out + TL_HEADER_SIZE, text, text_len);
    if (body_len > 0) {
        memcpy(out + TL_HEADER_SIZE + text_len, body, body_len);
    }
    return TL_HEADER_SIZE + text_len + body_len;
}

#define HELLO_TEXT "~connect_to:tcp|10.0.0.1|7099\r\n"

/* ---- reading the simulator's capture ---- */

typedef struct {
    uint32_t src, dst;
    uint16_t sport, dport;
    uint8_t *data; /* the stream's bytes, each once, in order */
    size_t len, cap;
    uint32_t next_seq;
    int have_seq;
    size_t *pkt_end; /* pkt_end[i]: stream offset after the new bytes of packet pkt_no[i] */
    unsigned *pkt_no;
    size_t npkt;
} direction;

typedef struct {
    direction dirs[MAX_DIRS];
    size_t ndirs;
    unsigned char *new_bytes; /* per packet (frame.number - 1): 1 when it carried bytes not seen before */
    size_t npackets;
    size_t retransmitted; /* packets whose bytes were all seen before */
} capture;

static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t get32(const uint8_t *p) { return get16(p) << 16 | get16(p + 2); }
static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static direction *direction_of(capture *c, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    size_t i;
    direction *d;

    for (i = 0; i < c->ndirs; i++) {
        d = &c->dirs[i];
        if (d->src == src && d->sport == sport && d->dst == dst && d->dport == dport) {
            return d;
        }
    }
    assert_true(c->ndirs < MAX_DIRS);
    d = &c->dirs[c->ndirs++];
    memset(d, 0, sizeof *d);
    d->src = src;
    d->sport = sport;
    d->dst = dst;
    d->dport = dport;
    return d;
}

/* Reassembles every TCP direction of a LINKTYPE_RAW IPv4 capture. The
 * simulator records a segment when it is sent, so a lost segment is in the
 * file and its retransmission comes later: bytes arrive in order, at most
 * again. A gap fails the test. */
static void capture_read(capture *c, const char *path)
{
    size_t len, off = 24;
    uint8_t *f = (uint8_t *)spawn_read_file(path, &len);
    unsigned pkt = 0;

    memset(c, 0, sizeof *c);
    assert_non_null(f);
    assert_true(len >= 24);
    assert_true(get_le32(f) == 0xa1b23c4du || get_le32(f) == 0xa1b2c3d4u);
    assert_int_equal(get_le32(f + 20), 101);
    c->new_bytes = calloc(len / 16 + 1, 1);
    assert_non_null(c->new_bytes);
    while (off + 16 <= len) {
        uint32_t incl = get_le32(f + off + 8);
        const uint8_t *ip = f + off + 16;
        const uint8_t *tcp, *payload;
        size_t ihl, thl, plen;
        direction *d;
        int32_t diff;

        assert_true(off + 16 + incl <= len);
        pkt++;
        off += 16 + incl;
        assert_int_equal(ip[0] >> 4, 4);
        assert_int_equal(ip[9], 6);
        ihl = (size_t)(ip[0] & 15) * 4;
        tcp = ip + ihl;
        thl = (size_t)(tcp[12] >> 4) * 4;
        payload = tcp + thl;
        plen = get16(ip + 2) - ihl - thl;
        d = direction_of(c, get32(ip + 12), (uint16_t)get16(tcp), get32(ip + 16), (uint16_t)get16(tcp + 2));
        if (tcp[13] & TCP_SYN) {
            d->next_seq = get32(tcp + 4) + 1;
            d->have_seq = 1;
        }
        if (plen == 0) {
            continue;
        }
        if (!d->have_seq) {
            d->next_seq = get32(tcp + 4);
            d->have_seq = 1;
        }
        diff = (int32_t)(get32(tcp + 4) - d->next_seq);
        if (diff > 0) {
            fail_msg("%s: packet %u leaves a gap of %d bytes in its stream", path, pkt, (int)diff);
        }
        if ((int64_t)diff + (int64_t)plen <= 0) {
            c->retransmitted++;
            continue;
        }
        payload += -diff;
        plen -= (size_t)-diff;
        if (d->len + plen > d->cap) {
            d->cap = (d->len + plen) * 2;
            d->data = realloc(d->data, d->cap);
            assert_non_null(d->data);
        }
        memcpy(d->data + d->len, payload, plen);
        d->len += plen;
        d->next_seq += (uint32_t)plen;
        d->pkt_end = realloc(d->pkt_end, (d->npkt + 1) * sizeof *d->pkt_end);
        d->pkt_no = realloc(d->pkt_no, (d->npkt + 1) * sizeof *d->pkt_no);
        assert_non_null(d->pkt_end);
        assert_non_null(d->pkt_no);
        d->pkt_end[d->npkt] = d->len;
        d->pkt_no[d->npkt] = pkt;
        d->npkt++;
        c->new_bytes[pkt - 1] = 1;
    }
    c->npackets = pkt;
    free(f);
}

static void capture_free(capture *c)
{
    size_t i;

    for (i = 0; i < c->ndirs; i++) {
        free(c->dirs[i].data);
        free(c->dirs[i].pkt_end);
        free(c->dirs[i].pkt_no);
    }
    free(c->new_bytes);
}

/* The packet that carried stream byte `at` of d. */
static unsigned packet_of(const direction *d, size_t at)
{
    size_t i;

    for (i = 0; i < d->npkt; i++) {
        if (at < d->pkt_end[i]) {
            return d->pkt_no[i];
        }
    }
    return 0;
}

/* ---- one decoded frame, as text fields in tshark's -T fields forms ---- */

#define NFIELDS 13
enum {
    F_CHANNEL,
    F_PROTO,
    F_OPCODE,
    F_ORIGIN,
    F_MORE,
    F_BIT_A,
    F_BIT_B,
    F_STATUS,
    F_ID,
    F_THL,
    F_BL,
    F_HEADERS,
    F_BODY
};

static const char *const field_names[NFIELDS] = {
    "tofu.channel", "tofu.proto",   "tofu.opcode", "tofu.origin",     "tofu.more",
    "tofu.bit_a",   "tofu.bit_b",   "tofu.status", "tofu.message_id", "tofu.thl",
    "tofu.bl",      "tofu.headers", "tofu.body"};

typedef struct {
    unsigned packet; /* frame.number of the packet it completes in */
    uint32_t src_ip; /* the direction */
    uint16_t src_port;
    char *f[NFIELDS]; /* F_BODY: lowercase hex, "" for an empty body */
    char *names;      /* header names, joined by AGG */
    char *values;     /* header values, joined by AGG */
} pdu;

typedef struct {
    pdu *v;
    size_t n;
} pdu_list;

static pdu *pdu_add(pdu_list *l)
{
    pdu *p;

    l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
    assert_non_null(l->v);
    p = &l->v[l->n++];
    memset(p, 0, sizeof *p);
    return p;
}

static void pdu_list_free(pdu_list *l)
{
    size_t i, k;

    for (i = 0; i < l->n; i++) {
        for (k = 0; k < NFIELDS; k++) {
            free(l->v[i].f[k]);
        }
        free(l->v[i].names);
        free(l->v[i].values);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Appends s to a list joined by AGG, with CR, LF and tab written as tshark's
 * -T fields writes them in a string (\r \n \t); the tests use no other
 * control bytes in text headers. */
static char *join_append(char *joined, const char *s, size_t len)
{
    size_t old = joined != NULL ? strlen(joined) : 0;
    char *out = realloc(joined, old + 2 * len + 2);
    size_t i;

    assert_non_null(out);
    if (joined == NULL) {
        out[0] = '\0';
    } else {
        out[old++] = AGG[0];
    }
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\r' || c == '\n' || c == '\t') {
            out[old++] = '\\';
            out[old++] = c == '\r' ? 'r' : (c == '\n' ? 'n' : 't');
        } else {
            out[old++] = c;
        }
    }
    out[old] = '\0';
    return out;
}

/* Appends an already escaped value (from tshark) to a list joined by AGG. */
static char *join_raw(char *joined, const char *s)
{
    size_t old = joined != NULL ? strlen(joined) : 0;
    size_t len = strlen(s);
    char *out = realloc(joined, old + len + 2);

    assert_non_null(out);
    if (joined == NULL) {
        out[0] = '\0';
    } else {
        out[old++] = AGG[0];
    }
    memcpy(out + old, s, len + 1);
    return out;
}

/* What the dissector should show for the frame at d->data[off]: the fields
 * the engine's codec decodes, the headers its iterator yields. */
static void pdu_from_engine(pdu *p, const direction *d, size_t off)
{
    static const char hex[] = "0123456789abcdef";
    tl_header h;
    tl_text_iter it;
    tl_text_field fl;
    unsigned count = 0;
    const uint8_t *body;
    char *b;
    size_t i;

    tl_header_decode(d->data + off, &h);
    p->src_ip = d->src;
    p->src_port = d->sport;
    p->packet = packet_of(d, off + TL_HEADER_SIZE + h.thl + h.bl - 1);
    p->f[F_CHANNEL] = spawn_fmt("%u", (unsigned)h.channel);
    p->f[F_PROTO] = spawn_fmt("0x%02x", (unsigned)h.proto);
    p->f[F_OPCODE] = spawn_fmt("%u", h.proto & TL_PROTO_OPCODE_MASK);
    p->f[F_ORIGIN] = spawn_fmt("%u", (h.proto & TL_PROTO_ORIGIN) ? 1u : 0u);
    p->f[F_MORE] = spawn_fmt("%u", (h.proto & TL_PROTO_MORE) ? 1u : 0u);
    p->f[F_BIT_A] = spawn_fmt("%u", (h.proto & TL_PROTO_BIT_A) ? 1u : 0u);
    p->f[F_BIT_B] = spawn_fmt("%u", (h.proto & TL_PROTO_BIT_B) ? 1u : 0u);
    p->f[F_STATUS] = spawn_fmt("%u", (unsigned)h.status);
    p->f[F_ID] = spawn_fmt("%" PRIu64, h.message_id);
    p->f[F_THL] = spawn_fmt("%u", (unsigned)h.thl);
    p->f[F_BL] = spawn_fmt("%u", (unsigned)h.bl);
    tl_text_iter_init(&it, d->data + off + TL_HEADER_SIZE, h.thl);
    while (tl_text_iter_next(&it, &fl)) {
        p->names = join_append(p->names, (const char *)fl.name, fl.name_len);
        p->values = join_append(p->values, (const char *)fl.value, fl.value_len);
        count++;
    }
    p->f[F_HEADERS] = spawn_fmt("%u", count);
    body = d->data + off + TL_HEADER_SIZE + h.thl;
    b = malloc((size_t)h.bl * 2 + 1);
    assert_non_null(b);
    for (i = 0; i < h.bl; i++) {
        b[2 * i] = hex[body[i] >> 4];
        b[2 * i + 1] = hex[body[i] & 15];
    }
    b[2 * (size_t)h.bl] = '\0';
    p->f[F_BODY] = b;
}

/* The dissector's frames, in packet order, from tshark -T fields. The values
 * of one field are joined by AGG, one per frame of the packet; header names
 * and values are distributed by each frame's tofu.headers count, bodies by
 * bl > 0. `skip` (may be NULL) marks packets whose frames are not wanted. */
static void pdus_from_tshark(pdu_list *out, const char *pcap, const unsigned char *keep, size_t keep_len,
                             const char *const *extra)
{
    const char *args[64];
    size_t n = 0, k;
    spawn_result r;
    char *line, *save = NULL;

    args[n++] = "-Y";
    args[n++] = "tofu";
    args[n++] = "-T";
    args[n++] = "fields";
    args[n++] = "-E";
    args[n++] = "occurrence=a";
    args[n++] = "-E";
    args[n++] = "aggregator=" AGG;
    args[n++] = "-e";
    args[n++] = "frame.number";
    args[n++] = "-e";
    args[n++] = "ip.src";
    args[n++] = "-e";
    args[n++] = "tcp.srcport";
    for (k = 0; k < NFIELDS; k++) {
        args[n++] = "-e";
        args[n++] = field_names[k];
    }
    args[n++] = "-e";
    args[n++] = "tofu.header.name";
    args[n++] = "-e";
    args[n++] = "tofu.header.value";
    while (extra != NULL && *extra != NULL) {
        args[n++] = *extra++;
    }
    args[n] = NULL;
    tshark(&r, pcap, args);
    for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        static char *vals[NFIELDS][4096];
        static char *names[8192], *values[8192];
        char *col[3 + NFIELDS + 2];
        size_t nv[NFIELDS], frames, i, names_at = 0, body_at = 0;
        size_t nnames, nvalues;
        unsigned packet;
        unsigned a, b, c2, d2;

        memset(col, 0, sizeof col);
        assert_int_equal(split(line, "\t", col, 3 + NFIELDS + 2), 3 + NFIELDS + 2);
        packet = (unsigned)strtoul(col[0], NULL, 10);
        if (keep != NULL && (packet == 0 || packet > keep_len || !keep[packet - 1])) {
            continue;
        }
        for (k = 0; k < NFIELDS; k++) {
            nv[k] = split(col[3 + k], AGG, vals[k], 4096);
        }
        frames = nv[F_CHANNEL];
        for (k = 0; k < F_BODY; k++) {
            if (nv[k] != frames) {
                fail_msg("packet %u: %zu values of %s for %zu frames", packet, nv[k], field_names[k], frames);
            }
        }
        nnames = split(col[3 + NFIELDS], AGG, names, 8192);
        nvalues = split(col[3 + NFIELDS + 1], AGG, values, 8192);
        assert_int_equal(nnames, nvalues);
        assert_int_equal(sscanf(col[1], "%u.%u.%u.%u", &a, &b, &c2, &d2), 4);
        for (i = 0; i < frames; i++) {
            pdu *p = pdu_add(out);
            unsigned headers = (unsigned)strtoul(vals[F_HEADERS][i], NULL, 10);
            unsigned h;

            p->packet = packet;
            p->src_ip = a << 24 | b << 16 | c2 << 8 | d2;
            p->src_port = (uint16_t)strtoul(col[2], NULL, 10);
            for (k = 0; k < F_BODY; k++) {
                p->f[k] = spawn_fmt("%s", vals[k][i]);
            }
            if (strcmp(vals[F_BL][i], "0") != 0) {
                assert_true(body_at < nv[F_BODY]);
                p->f[F_BODY] = spawn_fmt("%s", vals[F_BODY][body_at++]);
            } else {
                p->f[F_BODY] = spawn_fmt("%s", "");
            }
            for (h = 0; h < headers; h++) {
                assert_true(names_at < nnames);
                p->names = join_raw(p->names, names[names_at]);
                p->values = join_raw(p->values, values[names_at]);
                names_at++;
            }
        }
        assert_int_equal(names_at, nnames);
        assert_int_equal(body_at, nv[F_BODY]);
    }
    spawn_free(&r);
}

static int str_eq(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static void pdu_assert_equal(const pdu *want, const pdu *got, size_t index)
{
    size_t k;

    if (want->packet != got->packet) {
        fail_msg("frame %zu (%s id=%s): expected in packet %u, the dissector shows it in packet %u", index,
                 want->f[F_OPCODE], want->f[F_ID], want->packet, got->packet);
    }
    for (k = 0; k < NFIELDS; k++) {
        if (!str_eq(want->f[k], got->f[k])) {
            fail_msg("packet %u, frame %zu: %s is '%.80s', the engine decodes '%.80s'", got->packet, index,
                     field_names[k], got->f[k], want->f[k]);
        }
    }
    if (!str_eq(want->names, got->names) || !str_eq(want->values, got->values)) {
        fail_msg("packet %u, frame %zu: headers [%s]=[%s], the engine's iterator yields [%s]=[%s]",
                 got->packet, index, got->names, got->values, want->names, want->values);
    }
}

/* ---- group setup ---- */

static int group_setup(void **state)
{
    (void)state;
    if (spawn_which("tshark", tshark_path, sizeof tshark_path) != 0) {
        fprintf(stderr, "test_wireshark: tshark is not in PATH; install it (the Debian package tshark, "
                        "which sh ci/install-deps.sh installs)\n");
        return -1;
    }
    if (access(DISSECTOR, R_OK) != 0) {
        fprintf(stderr, "test_wireshark: cannot read %s: run from the repository root\n", DISSECTOR);
        return -1;
    }
    tmp_dir = spawn_tmpdir("wireshark");
    if (tmp_dir == NULL) {
        fprintf(stderr, "test_wireshark: cannot create a temporary directory\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (tmp_dir != NULL) {
        if (getenv("TOFULAB_KEEP_TMP") != NULL) {
            fprintf(stderr, "test_wireshark: kept %s\n", tmp_dir);
        } else {
            spawn_rmtree(tmp_dir);
        }
        free(tmp_dir);
    }
    return 0;
}

/* ---- tests ---- */

/* `tshark -G values` lists the dissector's value strings: op codes 0-9 and
 * every status byte 0-255 carry the engine's names (engine/core/opcode.c,
 * status.c), and 10-15 have none. */
static void test_wireshark_value_names_match_engine_tables(void **state)
{
    const char *argv[] = {tshark_path, "-G", "values", "-X", "lua_script:" DISSECTOR, NULL};
    char *seen_op[16] = {0};
    char *seen_status[256] = {0};
    spawn_result r;
    char *line, *save = NULL;
    unsigned v;

    (void)state;
    assert_int_equal(spawn_run(&r, argv, NULL, NULL, NULL, 0, TSHARK_TIMEOUT), 0);
    assert_int_equal(r.exit_code, 0);
    for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *col[4] = {NULL, NULL, NULL, NULL};

        if (split(line, "\t", col, 4) != 4 || strcmp(col[0], "V") != 0) {
            continue;
        }
        v = (unsigned)strtoul(col[2], NULL, 10);
        if (strcmp(col[1], "tofu.opcode") == 0 && v < 16) {
            seen_op[v] = col[3];
        } else if (strcmp(col[1], "tofu.status") == 0 && v < 256) {
            seen_status[v] = col[3];
        }
    }
    for (v = 0; v < 16; v++) {
        const char *want = tl_opcode_name(v);
        if (want == NULL ? seen_op[v] != NULL : (seen_op[v] == NULL || strcmp(want, seen_op[v]) != 0)) {
            fail_msg("op code %u: dissector says '%s', the engine '%s'", v,
                     seen_op[v] ? seen_op[v] : "(none)", want ? want : "(none)");
        }
    }
    for (v = 0; v < 256; v++) {
        const char *want = tl_status_name((uint8_t)v);
        if (seen_status[v] == NULL || strcmp(want, seen_status[v]) != 0) {
            fail_msg("status %u: dissector says '%s', the engine '%s'", v,
                     seen_status[v] ? seen_status[v] : "(none)", want);
        }
    }
    spawn_free(&r);
}

/* The scenario: seven clients of every kind against one server over lossy,
 * jittery links, so the capture has retransmissions, several frames per
 * segment and frames split over segments. Nodes are 10.0.0.1 (server),
 * 10.0.0.2 (c1) ... in declaration order. */
static const char sim_scenario[] =
    "duration 10m\n"
    "node server\n"
    "node c1\nnode c2\nnode c3\nnode c4\nnode c5\nnode c6\nnode c7\n"
    "link * * delay 20ms jitter 10ms loss 5%\n"
    "heal 5m\n"
    "service server pattern-server listen=tcp|server|7100 odd-delay=30ms clients=7\n"
    "service c1 correlation connect=tcp|server|7100 count=20 concurrency=8\n"
    "service c2 stream-in connect=tcp|server|7100 count=3 frames=6 size=3000\n"
    "service c3 stream-out connect=tcp|server|7100 count=3 frames=10\n"
    "service c4 progress connect=tcp|server|7100 count=3 frames=5\n"
    "service c5 bidir connect=tcp|server|7100 count=5\n"
    "service c6 reject connect=tcp|server|7100\n"
    "service c7 rr connect=tcp|server|7100 count=20 size=1000..4000 concurrency=4\n"
    "expect server done\n"
    "expect c7 answered == 20\n";
static const char *const sim_nodes[] = {"server", "c1", "c2", "c3", "c4", "c5", "c6", "c7"};

typedef struct {
    char node[32];
    unsigned channel;
    char op[32];
    char id[24];
    unsigned more, thl, bl;
} trace_send;

/* The trace's `send` lines of frames that go on the wire (WelcomeRequest,
 * WelcomeResponse and ByeSignal never do, PROTOCOL.md 2). */
static size_t trace_sends(const char *path, trace_send **out)
{
    char *text = spawn_read_file(path, NULL);
    char *line, *save = NULL;
    size_t n = 0;

    assert_non_null(text);
    *out = NULL;
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        trace_send s;
        char time[32];

        memset(&s, 0, sizeof s);
        if (sscanf(line, "%31s %31s ch=%u send %31s id=%23s more=%u thl=%u bl=%u", time, s.node, &s.channel,
                   s.op, s.id, &s.more, &s.thl, &s.bl) != 8) {
            continue;
        }
        if (strcmp(s.op, "WelcomeRequest") == 0 || strcmp(s.op, "WelcomeResponse") == 0 ||
            strcmp(s.op, "ByeSignal") == 0) {
            continue;
        }
        *out = realloc(*out, (n + 1) * sizeof **out);
        assert_non_null(*out);
        (*out)[n++] = s;
    }
    free(text);
    return n;
}

static void test_wireshark_sim_pcap_frames_match_stream_and_trace(void **state)
{
    char *scn = spawn_fmt("%s/ws.scn", tmp_dir);
    char *pcap = spawn_fmt("%s/ws.pcap", tmp_dir);
    char *trace = spawn_fmt("%s/ws.trace", tmp_dir);
    const char *sim_argv[] = {spawn_tofulab(), "sim", "run",     scn,   "--seed", "1",
                              "--pcap",        pcap,  "--trace", trace, NULL};
    capture cap;
    pdu_list want = {0}, got = {0};
    trace_send *sends = NULL;
    size_t nsends, i, d, several = 0, split_frames = 0;
    unsigned last_packet = 0, in_packet = 0;
    spawn_result r;

    (void)state;
    assert_int_equal(spawn_write_file(scn, sim_scenario, strlen(sim_scenario)), 0);
    assert_int_equal(spawn_run(&r, sim_argv, NULL, NULL, NULL, 0, 60000), 0);
    if (r.exit_code != 0) {
        fail_msg("tofulab sim run: exit %d: %s%s", r.exit_code, r.out, r.err);
    }
    spawn_free(&r);

    /* 1. the engine's view: every complete frame of every direction */
    capture_read(&cap, pcap);
    for (d = 0; d < cap.ndirs; d++) {
        const direction *dir = &cap.dirs[d];
        size_t off = 0;

        while (off + TL_HEADER_SIZE <= dir->len) {
            tl_header h;
            size_t flen;

            tl_header_decode(dir->data + off, &h);
            flen = TL_HEADER_SIZE + (size_t)h.thl + h.bl;
            if (off + flen > dir->len) {
                break;
            }
            pdu_from_engine(pdu_add(&want), dir, off);
            if (packet_of(dir, off) != packet_of(dir, off + flen - 1)) {
                split_frames++;
            }
            off += flen;
        }
        if (off != dir->len) {
            fail_msg("direction %zu ends inside a frame (%zu of %zu bytes)", d, off, dir->len);
        }
    }
    /* in packet order, the order tshark prints them */
    for (i = 1; i < want.n; i++) {
        pdu t = want.v[i];
        size_t j = i;
        while (j > 0 && want.v[j - 1].packet > t.packet) {
            want.v[j] = want.v[j - 1];
            j--;
        }
        want.v[j] = t;
    }
    for (i = 0; i < want.n; i++) {
        in_packet = want.v[i].packet == last_packet ? in_packet + 1 : 1;
        last_packet = want.v[i].packet;
        several += in_packet == 2;
    }
    /* the capture exercises what the dissector has to cope with */
    assert_true(want.n >= 150);
    assert_true(split_frames > 0);
    assert_true(several > 0);
    assert_true(cap.retransmitted > 0);

    /* 2. the dissector's view; a retransmitted segment's frames were already
     * shown where they first went by (Wireshark dissects a fast
     * retransmission's bytes again) */
    pdus_from_tshark(&got, pcap, cap.new_bytes, cap.npackets, NULL);
    for (i = 0; i < want.n && i < got.n; i++) {
        pdu_assert_equal(&want.v[i], &got.v[i], i);
    }
    if (want.n != got.n) {
        fail_msg("the engine finds %zu frames, the dissector shows %zu", want.n, got.n);
    }

    /* 3. the trace: per node and channel, the frames sent in this order */
    nsends = trace_sends(trace, &sends);
    assert_int_equal(nsends, got.n);
    for (i = 0; i < got.n; i++) {
        const pdu *p = &got.v[i];
        unsigned node = (p->src_ip & 0xff) - 1;
        unsigned op = (unsigned)strtoul(p->f[F_OPCODE], NULL, 10);
        size_t k, seen = 0;

        assert_true(node < sizeof sim_nodes / sizeof sim_nodes[0]);
        /* the n-th frame of (node, channel) on the wire is its n-th send */
        for (k = 0; k < i; k++) {
            if (got.v[k].src_ip == p->src_ip && strcmp(got.v[k].f[F_CHANNEL], p->f[F_CHANNEL]) == 0) {
                seen++;
            }
        }
        for (k = 0; k < nsends; k++) {
            const trace_send *s = &sends[k];
            if (strcmp(s->node, sim_nodes[node]) != 0 || s->channel != strtoul(p->f[F_CHANNEL], NULL, 10)) {
                continue;
            }
            if (seen-- == 0) {
                break;
            }
        }
        if (k == nsends) {
            fail_msg("packet %u: no trace send of %s ch=%s for its frame", p->packet, sim_nodes[node],
                     p->f[F_CHANNEL]);
        }
        if (tl_opcode_name(op) == NULL || strcmp(sends[k].op, tl_opcode_name(op)) != 0 ||
            strcmp(sends[k].id, p->f[F_ID]) != 0 || sends[k].more != strtoul(p->f[F_MORE], NULL, 10) ||
            sends[k].thl != strtoul(p->f[F_THL], NULL, 10) || sends[k].bl != strtoul(p->f[F_BL], NULL, 10)) {
            fail_msg("packet %u: %s ch=%s: the trace sent %s id=%s more=%u thl=%u bl=%u, the dissector shows "
                     "op %u "
                     "id=%s more=%s thl=%s bl=%s",
                     p->packet, sim_nodes[node], p->f[F_CHANNEL], sends[k].op, sends[k].id, sends[k].more,
                     sends[k].thl, sends[k].bl, op, p->f[F_ID], p->f[F_MORE], p->f[F_THL], p->f[F_BL]);
        }
    }
    free(sends);
    pdu_list_free(&want);
    pdu_list_free(&got);
    capture_free(&cap);
    free(scn);
    free(pcap);
    free(trace);
}

/* The heuristic claims a stream that starts with a HelloRequest on a port
 * nobody registered, and leaves an HTTP-like text stream and a binary stream
 * whose header is implausible alone. */
static void test_wireshark_heuristic_claims_tofu_not_other_tcp(void **state)
{
    static const char http[] = "GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n";
    uint8_t tofu[256], binary[64];
    size_t n;
    const size_t whole[] = {1460};
    char *pcap = spawn_fmt("%s/heur.pcap", tmp_dir);
    const char *args[] = {"-Y", "tofu", "-T", "fields", "-e", "tcp.dstport", "-e", "tofu.opcode", NULL};
    pcap_writer w = {pcap_create(pcap), 0};
    spawn_result r;

    (void)state;
    n = frame_build(tofu, 4321, TL_OP_HELLO_REQUEST, 0, 1, HELLO_TEXT, strlen(HELLO_TEXT), NULL, 0);
    n += frame_build(tofu + n, 4321, TL_OP_REQUEST, 0, 2, "", 0, (const uint8_t *)"hi", 2);
    pcap_stream(&w, 0x0a000002, 40001, 0x0a000001, 23456, tofu, n, whole, 1);
    pcap_stream(&w, 0x0a000002, 40002, 0x0a000001, 23457, (const uint8_t *)http, strlen(http), whole, 1);
    /* a Request header (op 0) first: plausible bytes, but not a connection's start */
    n = frame_build(binary, 7, TL_OP_REQUEST, 0, 1, "", 0, (const uint8_t *)"0123456789", 10);
    pcap_stream(&w, 0x0a000002, 40003, 0x0a000001, 23458, binary, n, whole, 1);
    fclose(w.f);
    tshark(&r, pcap, args);
    assert_string_equal(r.out, "23456\t3,0\n");
    spawn_free(&r);
    free(pcap);
}

/* Each suspicious case of PROTOCOL.md gets its expert info, on its own frame
 * (one per segment), and a clean frame gets none. */
static void test_wireshark_suspicious_frames_get_expert_info(void **state)
{
    static const struct {
        uint8_t proto;
        uint8_t status;
        uint64_t id;
        const char *text;
        const char *expert; /* a word of the expected message; NULL: none */
    } cases[] = {
        {TL_OP_HELLO_REQUEST, 0, 1, HELLO_TEXT, NULL},
        {TL_OP_REQUEST, 0, 2, "", NULL},
        {12, 0, 3, "", "Undefined op code"},
        {TL_OP_SIGNAL | TL_PROTO_BIT_A, 0, 4, "", "Internal bit A or B"},
        {TL_OP_SIGNAL | TL_PROTO_BIT_B, 0, 5, "", "Internal bit A or B"},
        {TL_OP_SIGNAL | TL_PROTO_ORIGIN, 22, 6, "", "Origin bit set"},
        {TL_OP_RESPONSE, 0, 0, "", "message_id 0 on a response"},
        {TL_OP_WELCOME_REQUEST, 0, 7, "", "never leave the process"},
        {TL_OP_BYE_REQUEST | TL_PROTO_MORE, 0, 8, "", "more bit on a hello"},
        {TL_OP_REQUEST, 0, 9, ": x\r\ny:z\r\n", "empty name"},
        {TL_OP_RESPONSE, 0, 10, "", NULL},
    };
    const size_t ncases = sizeof cases / sizeof cases[0];
    char *pcap = spawn_fmt("%s/expert.pcap", tmp_dir);
    const char *args[] = {"-Y", "tofu",
                          "-T", "fields",
                          "-E", "occurrence=a",
                          "-E", "aggregator=" AGG,
                          "-e", "tofu.message_id",
                          "-e", "_ws.expert.message",
                          NULL};
    pcap_writer w = {pcap_create(pcap), 0};
    uint8_t stream[1024];
    size_t cuts[16], n = 0, i;
    spawn_result r;
    char *line, *save = NULL;

    (void)state;
    for (i = 0; i < ncases; i++) {
        cuts[i] = frame_build(stream + n, 99, cases[i].proto, cases[i].status, cases[i].id, cases[i].text,
                              strlen(cases[i].text), NULL, 0);
        n += cuts[i];
    }
    pcap_stream(&w, 0x0a000002, 40010, 0x0a000001, 23999, stream, n, cuts, ncases);
    fclose(w.f);
    tshark(&r, pcap, args);
    for (i = 0, line = strtok_r(r.out, "\n", &save); i < ncases; i++, line = strtok_r(NULL, "\n", &save)) {
        char *col[2] = {NULL, NULL};
        char id[24];

        if (line == NULL) {
            fail_msg("only %zu of %zu frames decoded", i, ncases);
        }
        assert_int_equal(split(line, "\t", col, 2), 2);
        snprintf(id, sizeof id, "%" PRIu64, cases[i].id);
        assert_string_equal(col[0], id);
        if (cases[i].expert == NULL && col[1][0] != '\0') {
            fail_msg("frame %zu (id %s): unexpected expert info: %s", i, id, col[1]);
        }
        if (cases[i].expert != NULL && strstr(col[1], cases[i].expert) == NULL) {
            fail_msg("frame %zu (id %s): expected expert info '%s', got '%s'", i, id, cases[i].expert,
                     col[1]);
        }
    }
    assert_null(line);
    spawn_free(&r);
    free(pcap);
}

/* Text headers split exactly as tofu's iterator (the engine's tl_text_iter)
 * splits them, quirks of PROTOCOL.md 4.2 included. */
static void test_wireshark_text_headers_split_like_tofu_iterator(void **state)
{
    static const char *const blocks[] = {
        "a: b\r\nc:  \r\nd:e\r\n\r\nf: g\r\n\r\n", /* (a,b) (c,"") (d,e) (f,g) */
        "  x : v \t\r\nk: v:w\r\n", /* name kept as is; value trimmed, split at the first colon */
        ": ss\r\nx:y\r\n",          /* empty name: the iteration ends */
        "a:b\r\ntail",              /* a last line without CR LF; no colon: empty value */
        "a:b\nc:d\r\n",             /* a lone LF is an ordinary byte */
        "\r\n\r\nonly:one",
    };
    const size_t nblocks = sizeof blocks / sizeof blocks[0];
    char *pcap = spawn_fmt("%s/text.pcap", tmp_dir);
    const char *args[] = {
        "-Y", "tofu",         "-T", "fields",           "-E", "occurrence=a",      "-E", "aggregator=" AGG,
        "-e", "tofu.headers", "-e", "tofu.header.name", "-e", "tofu.header.value", NULL};
    pcap_writer w = {pcap_create(pcap), 0};
    uint8_t stream[2048];
    size_t cuts[16], n = 0, i;
    spawn_result r;
    char *line, *save = NULL;

    (void)state;
    cuts[0] = frame_build(stream, 5, TL_OP_HELLO_REQUEST, 0, 1, HELLO_TEXT, strlen(HELLO_TEXT), NULL, 0);
    n = cuts[0];
    for (i = 0; i < nblocks; i++) {
        cuts[i + 1] = frame_build(stream + n, 5, TL_OP_REQUEST, 0, i + 2, blocks[i], strlen(blocks[i]),
                                  (const uint8_t *)"b", 1);
        n += cuts[i + 1];
    }
    pcap_stream(&w, 0x0a000002, 40020, 0x0a000001, 24000, stream, n, cuts, nblocks + 1);
    fclose(w.f);
    tshark(&r, pcap, args);
    line = strtok_r(r.out, "\n", &save); /* the HelloRequest */
    assert_non_null(line);
    for (i = 0; i < nblocks; i++) {
        char *want_names = NULL, *want_values = NULL;
        char *col[3];
        tl_text_iter it;
        tl_text_field fl;
        unsigned count = 0;
        char count_text[16];

        line = strtok_r(NULL, "\n", &save);
        assert_non_null(line);
        tl_text_iter_init(&it, (const uint8_t *)blocks[i], strlen(blocks[i]));
        while (tl_text_iter_next(&it, &fl)) {
            want_names = join_append(want_names, (const char *)fl.name, fl.name_len);
            want_values = join_append(want_values, (const char *)fl.value, fl.value_len);
            count++;
        }
        memset(col, 0, sizeof col);
        split(line, "\t", col, 3);
        snprintf(count_text, sizeof count_text, "%u", count);
        if (!str_eq(col[0], count_text) || !str_eq(col[1], want_names) || !str_eq(col[2], want_values)) {
            fail_msg("block %zu: dissector %s [%s]=[%s], engine %u [%s]=[%s]", i, col[0], col[1], col[2],
                     count, want_names ? want_names : "", want_values ? want_values : "");
        }
        free(want_names);
        free(want_values);
    }
    spawn_free(&r);
    free(pcap);
}

/* Every fuzz corpus input (fuzz/corpus/<target>/<file>) as the payload of a
 * TCP stream of its own, cut at varying segment sizes: tshark exits 0 with
 * nothing on stderr and no packet carries a Lua error or a malformed-packet
 * mark, with the heuristic, with the dissector forced on every stream, and
 * forced without reassembly (every segment read alone, frames cut short). */
static void test_wireshark_fuzz_corpora_raise_no_lua_error(void **state)
{
    static const char *const modes[][4] = {
        {NULL},
        {"-d", "tcp.port==7099,tofu", NULL},
        {"-d", "tcp.port==7099,tofu", "-o", "tofu.desegment:FALSE"},
    };
    /* an exception inside the dissector marks the packet malformed; other
     * heuristic dissectors (RPCAP, ...) may do so on their own */
    const char *check_args[] = {"-Y",
                                "_ws.expert.message contains \"Lua Error\" or "
                                "(_ws.malformed and frame.protocols contains \"tofu\")",
                                "-T",
                                "fields",
                                "-e",
                                "frame.number",
                                "-e",
                                "_ws.expert.message",
                                NULL};
    char *pcap = spawn_fmt("%s/corpus.pcap", tmp_dir);
    pcap_writer w = {pcap_create(pcap), 0};
    DIR *top = opendir("fuzz/corpus");
    struct dirent *t;
    size_t files = 0, m;
    uint32_t lcg = 12345;

    (void)state;
    assert_non_null(top);
    while ((t = readdir(top)) != NULL) {
        char *dir_path;
        DIR *sub;
        struct dirent *e;

        if (t->d_name[0] == '.') {
            continue;
        }
        dir_path = spawn_fmt("fuzz/corpus/%s", t->d_name);
        sub = opendir(dir_path);
        if (sub == NULL) {
            free(dir_path);
            continue;
        }
        while ((e = readdir(sub)) != NULL) {
            char *path;
            uint8_t *data;
            size_t len, cuts[8], k;

            if (e->d_name[0] == '.') {
                continue;
            }
            path = spawn_fmt("%s/%s", dir_path, e->d_name);
            data = (uint8_t *)spawn_read_file(path, &len);
            free(path);
            if (data == NULL || len == 0) {
                free(data);
                continue;
            }
            for (k = 0; k < 8; k++) {
                lcg = lcg * 1103515245u + 12345u;
                cuts[k] = 1 + (lcg >> 16) % 1460;
            }
            /* one port pair per input: 10.0.x.y:40000+ -> 10.0.0.1:7099 */
            pcap_stream(&w, 0x0a010000u + (uint32_t)(files / 20000), (uint16_t)(10000 + files % 20000),
                        0x0a000001u, 7099, data, len, cuts, 8);
            free(data);
            files++;
        }
        closedir(sub);
        free(dir_path);
    }
    closedir(top);
    fclose(w.f);
    assert_true(files > 100);

    for (m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        const char *args[16];
        size_t n = 0, k;
        spawn_result r;

        for (k = 0; k < 4 && modes[m][k] != NULL; k++) {
            args[n++] = modes[m][k];
        }
        for (k = 0; check_args[k] != NULL; k++) {
            args[n++] = check_args[k];
        }
        args[n] = NULL;
        tshark(&r, pcap, args);
        if (r.out_len != 0) {
            fail_msg("mode %zu (%s %s): %.2000s", m, modes[m][0] ? modes[m][0] : "heuristic",
                     modes[m][1] ? modes[m][1] : "", r.out);
        }
        spawn_free(&r);
    }
    /* forced and without reassembly, the dissector read every segment of every
     * input (the checks above are not vacuous) */
    {
        const char *args[] = {
            "-d", "tcp.port==7099,tofu", "-o", "tofu.desegment:FALSE", "-Y", "tofu", "-T", "fields",
            "-e", "frame.number",        NULL};
        spawn_result r;
        size_t lines = 0, i;

        tshark(&r, pcap, args);
        for (i = 0; i < r.out_len; i++) {
            lines += r.out[i] == '\n';
        }
        if (lines < files) {
            fail_msg("%zu packets dissected for %zu inputs", lines, files);
        }
        spawn_free(&r);
    }
    free(pcap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wireshark_value_names_match_engine_tables),
        cmocka_unit_test(test_wireshark_sim_pcap_frames_match_stream_and_trace),
        cmocka_unit_test(test_wireshark_heuristic_claims_tofu_not_other_tcp),
        cmocka_unit_test(test_wireshark_suspicious_frames_get_expert_info),
        cmocka_unit_test(test_wireshark_text_headers_split_like_tofu_iterator),
        cmocka_unit_test(test_wireshark_fuzz_corpora_raise_no_lua_error),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
