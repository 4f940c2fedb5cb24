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

#include "internal.h"

#define LINE_ROOM (sizeof(((tl_sim *)0)->line) - 2) /* keep room for '\n' */

void sim_tr_strn(tl_sim *sim, const char *s, size_t n)
{
    size_t room = LINE_ROOM - sim->line_len;
    if (n > room) {
        n = room;
    }
    memcpy(sim->line + sim->line_len, s, n);
    sim->line_len += n;
}

void sim_tr_str(tl_sim *sim, const char *s) { sim_tr_strn(sim, s, strlen(s)); }

void sim_tr_ch(tl_sim *sim, char c)
{
    if (sim->line_len < LINE_ROOM) {
        sim->line[sim->line_len++] = c;
    }
}

void sim_tr_u64(tl_sim *sim, uint64_t v)
{
    char tmp[24];
    size_t k = sizeof tmp;
    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    sim_tr_strn(sim, tmp + k, sizeof tmp - k);
}

static void tr_u64_pad(tl_sim *sim, uint64_t v, int width)
{
    char tmp[24];
    int k = (int)sizeof tmp;
    int digits = 0;
    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
        digits++;
    } while (v != 0 || digits < width);
    sim_tr_strn(sim, tmp + k, sizeof tmp - (size_t)k);
}

void sim_tr_dur(tl_sim *sim, uint64_t ns)
{
    if (ns != 0 && ns % TL_SIM_NS_PER_S == 0) {
        sim_tr_u64(sim, ns / TL_SIM_NS_PER_S);
        sim_tr_ch(sim, 's');
    } else if (ns != 0 && ns % TL_SIM_NS_PER_MS == 0) {
        sim_tr_u64(sim, ns / TL_SIM_NS_PER_MS);
        sim_tr_str(sim, "ms");
    } else if (ns != 0 && ns % 1000 == 0) {
        sim_tr_u64(sim, ns / 1000);
        sim_tr_str(sim, "us");
    } else {
        sim_tr_u64(sim, ns);
        sim_tr_str(sim, "ns");
    }
}

void sim_tr_begin(tl_sim *sim, const sim_node *n, unsigned channel)
{
    sim->line_len = 0;
    sim_tr_u64(sim, sim->now / TL_SIM_NS_PER_S);
    sim_tr_ch(sim, '.');
    tr_u64_pad(sim, sim->now % TL_SIM_NS_PER_S, 9);
    sim_tr_ch(sim, ' ');
    sim_tr_str(sim, n ? n->name : "*");
    sim_tr_str(sim, " ch=");
    sim_tr_u64(sim, channel);
    sim_tr_ch(sim, ' ');
}

void sim_tr_header(tl_sim *sim, const tl_header *h, int with_status)
{
    unsigned op = tl_proto_opcode(h->proto);
    const char *name = tl_opcode_name(op);
    if (name) {
        sim_tr_str(sim, name);
    } else {
        sim_tr_str(sim, "op");
        sim_tr_u64(sim, op);
    }
    sim_tr_str(sim, " id=");
    sim_tr_u64(sim, h->message_id);
    sim_tr_str(sim, tl_proto_more(h->proto) ? " more=1 thl=" : " more=0 thl=");
    sim_tr_u64(sim, h->thl);
    sim_tr_str(sim, " bl=");
    sim_tr_u64(sim, h->bl);
    if (with_status) {
        if (tl_proto_origin_engine(h->proto)) {
            sim_tr_str(sim, " origin=engine");
        }
        if (h->status != 0) {
            sim_tr_str(sim, " status=");
            sim_tr_str(sim, tl_status_name(h->status));
        }
    }
}

void sim_tr_end(tl_sim *sim)
{
    sim->line[sim->line_len] = '\n';
    sim->hash = tl_sim_fnv1a(sim->hash, sim->line, sim->line_len + 1);
    sim->stats.trace_lines++;
    if (sim->opt.trace) {
        fwrite(sim->line, 1, sim->line_len + 1, sim->opt.trace);
    }
    if (sim->opt.on_trace) {
        sim->line[sim->line_len] = '\0';
        sim->opt.on_trace(sim->opt.trace_ctx, sim->line, sim->line_len);
    }
    sim->line_len = 0;
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
    int syn = (g->flags & SEG_SYN) != 0;
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

void sim_pcap_segment(tl_sim *sim, const sim_conn *c, const sim_seg *g, const uint8_t *payload)
{
    const sim_sock *src = &c->ep[g->dir];
    const sim_sock *dst = &c->ep[!g->dir];
    const sim_node *sn = c->node[g->dir];
    const sim_node *dn = c->node[!g->dir];
    int syn = (g->flags & SEG_SYN) != 0;
    tl_sim_pcap_packet p;

    memset(&p, 0, sizeof p);
    p.t_ns = sim->now;
    p.src = sn->addr;
    p.dst = dn->addr;
    p.sport = c->port[g->dir];
    p.dport = c->port[!g->dir];
    p.seq = (uint32_t)(src->iss + g->seq);
    p.ack = (g->flags & SEG_ACK) ? (uint32_t)(dst->iss + g->ack) : 0;
    p.flags = g->flags;
    uint64_t w = syn ? g->wnd : g->wnd >> src->ws_shift;
    p.window = (uint16_t)(w > 65535 ? 65535 : w);
    p.ip_id = ((sim_node *)sn)->ip_id++;
    p.mss = (uint16_t)(sn->opt.mss > 65535 ? 65535 : sn->opt.mss);
    p.ws_shift = src->ws_shift;
    p.payload = payload;
    p.len = g->len;
    tl_sim_pcap_write(sim->opt.pcap, &p);
    sim->stats.pcap_records++;
}
