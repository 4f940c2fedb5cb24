/*
 * The discrete-event scheduler's queue: a binary min-heap of events ordered by
 * (time, sequence number). The sequence number is taken at push time, so
 * events due at the same instant run in the order they were scheduled
 * (ARCHITECTURE.md 4) and the order never depends on an address.
 */
#include <stdlib.h>

#include "sched.h"
#include "tofulab/wire.h"

static inline int ev_less(const sim_event *a, const sim_event *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

int sim_heap_push(sim_heap *h, uint64_t time, uint32_t kind, void *ptr, uint64_t arg)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        sim_event *v = realloc(h->v, cap * sizeof *v);
        if (v == NULL) {
            return TL_E_NOMEM;
        }
        h->v = v;
        h->cap = cap;
    }
    sim_event e;
    e.time = time;
    e.seq = h->next_seq++;
    e.ptr = ptr;
    e.arg = arg;
    e.kind = kind;
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_less(&e, &h->v[parent])) {
            break;
        }
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = e;
    return TL_OK;
}

int sim_heap_pop(sim_heap *h, sim_event *out)
{
    if (h->n == 0) {
        return 0;
    }
    *out = h->v[0];
    sim_event last = h->v[--h->n];
    size_t n = h->n;
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) {
            break;
        }
        size_t m = l;
        if (l + 1 < n && ev_less(&h->v[l + 1], &h->v[l])) {
            m = l + 1;
        }
        if (!ev_less(&h->v[m], &last)) {
            break;
        }
        h->v[i] = h->v[m];
        i = m;
    }
    if (n > 0) {
        h->v[i] = last;
    }
    return 1;
}

void sim_heap_free(sim_heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
