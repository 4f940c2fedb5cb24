/*
 * The canonical trace (ARCHITECTURE.md 4) and the pcap writer.
 *
 * Trace lines are built in one buffer without printf, hashed with FNV-1a
 * (newline included) and optionally written out:
 *
 *   <seconds>.<nanoseconds, 9 digits> <node> ch=<channel> <event> [details]
 *
 * The pcap file has a nanosecond global header (magic a1b23c4d), LINKTYPE_RAW
 * (101): each record is an IPv4 packet with a TCP segment, both checksums
 * correct, synthesised addresses 10.0.0.N.
 */
#include <string.h>

#include "trace.h"

#define LINE_ROOM (sizeof(((sim_world *)0)->line) - 2) /* keep room for '\n' */

void sim_tr_strn(sim_world *w, const char *s, size_t n)
{
    size_t room = LINE_ROOM - w->line_len;
    if (n > room) {
        n = room;
    }
    memcpy(w->line + w->line_len, s, n);
    w->line_len += n;
}

void sim_tr_str(sim_world *w, const char *s) { sim_tr_strn(w, s, strlen(s)); }

void sim_tr_ch(sim_world *w, char c)
{
    if (w->line_len < LINE_ROOM) {
        w->line[w->line_len++] = c;
    }
}

void sim_tr_u64(sim_world *w, uint64_t v)
{
    char tmp[24];
    size_t k = sizeof tmp;
    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    sim_tr_strn(w, tmp + k, sizeof tmp - k);
}

static void tr_u64_pad(sim_world *w, uint64_t v, int width)
{
    char tmp[24];
    int k = (int)sizeof tmp;
    int digits = 0;
    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
        digits++;
    } while (v != 0 || digits < width);
    sim_tr_strn(w, tmp + k, sizeof tmp - (size_t)k);
}

void sim_tr_dur(sim_world *w, uint64_t ns)
{
    if (ns != 0 && ns % TL_SIM_NS_PER_S == 0) {
        sim_tr_u64(w, ns / TL_SIM_NS_PER_S);
        sim_tr_ch(w, 's');
    } else if (ns != 0 && ns % TL_SIM_NS_PER_MS == 0) {
        sim_tr_u64(w, ns / TL_SIM_NS_PER_MS);
        sim_tr_str(w, "ms");
    } else if (ns != 0 && ns % 1000 == 0) {
        sim_tr_u64(w, ns / 1000);
        sim_tr_str(w, "us");
    } else {
        sim_tr_u64(w, ns);
        sim_tr_str(w, "ns");
    }
}

void sim_tr_begin(sim_world *w, const char *who, unsigned channel)
{
    w->line_len = 0;
    sim_tr_u64(w, w->now / TL_SIM_NS_PER_S);
    sim_tr_ch(w, '.');
    tr_u64_pad(w, w->now % TL_SIM_NS_PER_S, 9);
    sim_tr_ch(w, ' ');
    sim_tr_str(w, who ? who : "*");
    sim_tr_str(w, " ch=");
    sim_tr_u64(w, channel);
    sim_tr_ch(w, ' ');
}

void sim_tr_header(sim_world *w, const tl_header *h, int with_status)
{
    unsigned op = tl_proto_opcode(h->proto);
    const char *name = tl_opcode_name(op);
    if (name) {
        sim_tr_str(w, name);
    } else {
        sim_tr_str(w, "op");
        sim_tr_u64(w, op);
    }
    sim_tr_str(w, " id=");
    sim_tr_u64(w, h->message_id);
    sim_tr_str(w, tl_proto_more(h->proto) ? " more=1 thl=" : " more=0 thl=");
    sim_tr_u64(w, h->thl);
    sim_tr_str(w, " bl=");
    sim_tr_u64(w, h->bl);
    if (with_status) {
        if (tl_proto_origin_engine(h->proto)) {
            sim_tr_str(w, " origin=engine");
        }
        if (h->status != 0) {
            sim_tr_str(w, " status=");
            sim_tr_str(w, tl_status_name(h->status));
        }
    }
}

void sim_tr_end(sim_world *w)
{
    w->line[w->line_len] = '\n';
    w->hash = tl_sim_fnv1a(w->hash, w->line, w->line_len + 1);
    w->stats.trace_lines++;
    if (w->opt.trace) {
        fwrite(w->line, 1, w->line_len + 1, w->opt.trace);
    }
    if (w->opt.on_trace) {
        w->line[w->line_len] = '\0';
        w->opt.on_trace(w->opt.trace_ctx, w->line, w->line_len);
    }
    w->line_len = 0;
}

/* ------------------------------------------------------------------ pcap */

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Little-endian, as the pcap header is written in the writer's order and
 * readers detect it from the magic; fixed here so files are identical on
 * every host. */
static void le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void le16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void tl_sim_pcap_header(FILE *f)
{
    uint8_t h[24];
    le32(h, 0xa1b23c4du); /* nanosecond timestamps */
    le16(h + 4, 2);
    le16(h + 6, 4);
    le32(h + 8, 0);  /* thiszone */
    le32(h + 12, 0); /* sigfigs */
    le32(h + 16, 262144);
    le32(h + 20, 101); /* LINKTYPE_RAW: IPv4/IPv6 without a link header */
    fwrite(h, 1, sizeof h, f);
}

void sim_pcap_header(FILE *f) { tl_sim_pcap_header(f); }

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i + 1 < n; i += 2) {
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    }
    if (i < n) {
        sum += (uint32_t)p[i] << 8;
    }
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

void tl_sim_pcap_write(FILE *f, const tl_sim_pcap_packet *g)
{
    uint8_t pkt[16 + 20 + 28];
    int syn = (g->flags & 0x02) != 0; /* SYN (tl_sim_pcap_packet.flags are TCP's) */
    size_t thl = syn ? 28 : 20;
    size_t total = 20 + thl + g->len;
    uint8_t *rec = pkt;
    uint8_t *ip = pkt + 16;
    uint8_t *tcp = ip + 20;

    /* record header */
    le32(rec, (uint32_t)(g->t_ns / TL_SIM_NS_PER_S));
    le32(rec + 4, (uint32_t)(g->t_ns % TL_SIM_NS_PER_S));
    le32(rec + 8, (uint32_t)total);
    le32(rec + 12, (uint32_t)total);
    /* IPv4 */
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, (uint32_t)total);
    put16(ip + 4, g->ip_id);
    put16(ip + 6, 0x4000); /* DF */
    ip[8] = 64;
    ip[9] = 6;
    put16(ip + 10, 0);
    put32(ip + 12, g->src);
    put32(ip + 16, g->dst);
    put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
    /* TCP */
    put16(tcp, g->sport);
    put16(tcp + 2, g->dport);
    put32(tcp + 4, g->seq);
    put32(tcp + 8, g->ack);
    tcp[12] = (uint8_t)((thl / 4) << 4);
    tcp[13] = g->flags;
    put16(tcp + 14, g->window);
    put16(tcp + 16, 0);
    put16(tcp + 18, 0);
    if (syn) {
        tcp[20] = 2; /* MSS */
        tcp[21] = 4;
        put16(tcp + 22, g->mss);
        tcp[24] = 1; /* NOP */
        tcp[25] = 3; /* window scale */
        tcp[26] = 3;
        tcp[27] = g->ws_shift;
    }
    uint8_t pseudo[12];
    put32(pseudo, g->src);
    put32(pseudo + 4, g->dst);
    pseudo[8] = 0;
    pseudo[9] = 6;
    put16(pseudo + 10, (uint32_t)(thl + g->len));
    uint32_t sum = csum_add(0, pseudo, sizeof pseudo);
    sum = csum_add(sum, tcp, thl);
    if (g->len > 0) {
        /* the TCP header is an even number of bytes, so the payload's
         * 16-bit words line up */
        sum = csum_add(sum, g->payload, g->len);
    }
    put16(tcp + 16, csum_fold(sum));
    fwrite(pkt, 1, 16 + 20 + thl, f);
    if (g->len > 0) {
        fwrite(g->payload, 1, g->len, f);
    }
}
