/*
 * The host oracles on channels (sim/oracle.h): the bookkeeping the
 * simulator's host and the real-socket runner share.
 */
#include <stdlib.h>
#include <string.h>

#include "oracle.h"
#include "sim.h"

tl_chan_oracle *tl_chan_oracles_get(tl_chan_oracles *t, uint16_t ch, int create)
{
    tl_chan_oracle **page = &t->pages[ch >> 8];
    if (*page == NULL) {
        if (!create) {
            return NULL;
        }
        *page = calloc(256, sizeof(tl_chan_oracle));
        if (*page == NULL) {
            return NULL;
        }
    }
    return &(*page)[ch & 255];
}

void tl_chan_oracles_reset(tl_chan_oracles *t)
{
    for (int i = 0; i < 256; i++) {
        for (int j = 0; t->pages[i] && j < 256; j++) {
            tl_chan_oracle *o = &t->pages[i][j];
            o->seen = o->closed = 0;
            o->svc = 0;
        }
    }
}

void tl_chan_oracles_clear(tl_chan_oracles *t)
{
    for (int i = 0; i < 256; i++) {
        if (t->pages[i]) {
            for (int j = 0; j < 256; j++) {
                free(t->pages[i][j].q);
            }
            free(t->pages[i]);
            t->pages[i] = NULL;
        }
    }
}

int tl_oracle_app_message(uint8_t proto)
{
    unsigned op = tl_proto_opcode(proto);
    return !tl_proto_origin_engine(proto) &&
           (op == TL_OP_REQUEST || op == TL_OP_RESPONSE || op == TL_OP_SIGNAL);
}

/* A 64-bit mix over 8-byte words (the digest only has to match itself in
 * this process; byte-wise FNV cost 40 % of a run). */
static uint64_t oracle_fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    return tl_sim_fnv1a(h, b + i, n - i) ^ n;
}

/* The patterns check whole bodies themselves; hashing every byte twice cost
 * a third of a run. */
uint64_t tl_oracle_content(uint8_t proto, uint8_t status, const uint8_t *text, size_t text_len,
                           const uint8_t *body, size_t n)
{
    uint8_t fixed[2] = {(uint8_t)(proto & (TL_PROTO_OPCODE_MASK | TL_PROTO_MORE)), status};
    uint64_t h = oracle_fnv(14695981039346656037ull, fixed, sizeof fixed);
    h = oracle_fnv(h, text, text_len);
    if (n <= 64) {
        return oracle_fnv(h, body, n);
    }
    h = oracle_fnv(h, body, 32);
    return oracle_fnv(h, body + n - 32, 32) ^ ((uint64_t)n << 32);
}

uint64_t tl_oracle_digest(uint64_t content, uint64_t message_id)
{
    uint8_t id[8];
    for (int i = 0; i < 8; i++) {
        id[i] = (uint8_t)(message_id >> (8 * i));
    }
    return oracle_fnv(content, id, sizeof id);
}

int tl_oracle_posted(tl_chan_oracle *o, uint64_t digest)
{
    if (o->head + o->n == o->cap) {
        if (o->head > 0) {
            memmove(o->q, o->q + o->head, o->n * sizeof *o->q);
            o->head = 0;
        }
        if (o->n == o->cap) {
            uint32_t cap = o->cap ? o->cap * 2 : 16;
            uint64_t *q = realloc(o->q, cap * sizeof *q);
            if (q == NULL) {
                return -1;
            }
            o->q = q;
            o->cap = cap;
        }
    }
    o->q[o->head + o->n++] = digest;
    return 0;
}

int tl_oracle_match(tl_chan_oracle *o, uint64_t digest)
{
    while (o != NULL && o->n > 0) {
        uint64_t x = o->q[o->head++];
        o->n--;
        if (x == digest) {
            return 1;
        }
    }
    return 0;
}

unsigned tl_oracle_delivered(tl_chan_oracle *o, uint32_t svc, const tl_message *m)
{
    unsigned op = tl_proto_opcode(m->hdr.proto);
    int engine = tl_proto_origin_engine(m->hdr.proto);
    unsigned out = 0;
    if (engine && op == TL_OP_SIGNAL && m->hdr.status == TL_STATUS_CHANNEL_CLOSED) {
        if (o->closed) {
            out |= TL_ORACLE_CLOSED_TWICE;
        }
        o->closed = 1;
        o->seen = 1;
        o->svc = svc;
        return out;
    }
    if (o->closed && !engine) {
        if (op == TL_OP_HELLO_REQUEST) {
            o->closed = 0; /* the number names a new, accepted channel */
        } else {
            out |= TL_ORACLE_AFTER_CLOSED;
        }
    } else if (o->closed && engine && m->hdr.status == TL_STATUS_SUCCESS &&
               (op == TL_OP_HELLO_REQUEST || op == TL_OP_WELCOME_REQUEST)) {
        o->closed = 0; /* a new channel of ours under the same number */
    }
    o->seen = 1;
    o->svc = svc;
    if (tl_oracle_app_message(m->hdr.proto)) {
        out |= TL_ORACLE_CHECK_FIFO;
    }
    return out;
}
