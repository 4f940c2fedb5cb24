/*
 * The core's timers (engine.c): a binary min-heap of deadlines ordered by
 * (key, seq), so that equal deadlines fire in a fixed order (ARCHITECTURE.md
 * 4: no address-dependent ordering). Nodes live inside their owners (the
 * channels); the heap holds pointers to them and keeps each node's position,
 * so a node is moved or removed in O(log n). Internal to engine/core.
 */
#ifndef TOFULAB_CORE_TIMER_HEAP_H
#define TOFULAB_CORE_TIMER_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "tofulab/engine.h"

typedef struct tl_theap_node {
    uint64_t key; /* deadline, monotonic ns */
    uint64_t seq; /* tie-break: unique and fixed for the node's life */
    size_t pos;   /* index + 1 in the heap; 0 = not in the heap */
} tl_theap_node;

typedef struct {
    tl_theap_node **v;
    size_t n;
    size_t cap;
} tl_theap;

/* Room for n nodes, so that tl_theap_set never allocates. TL_OK or TL_E_NOMEM. */
int tl_theap_reserve(tl_theap *h, size_t n, const tl_allocator *a);
void tl_theap_free(tl_theap *h, const tl_allocator *a);
/* Insert x with key, or move it there if it is in the heap already. The
 * caller reserved room. */
void tl_theap_set(tl_theap *h, tl_theap_node *x, uint64_t key);
/* Remove x if it is in the heap. */
void tl_theap_remove(tl_theap *h, tl_theap_node *x);
/* The node with the smallest (key, seq), NULL when empty. */
static inline tl_theap_node *tl_theap_top(const tl_theap *h) { return h->n ? h->v[0] : NULL; }
/* NULL when the heap order and every node's position hold, else what is wrong. */
const char *tl_theap_check(const tl_theap *h);

#endif
