/* Binary min-heap of deadlines (timer_heap.h). */
#include <string.h>

#include "timer_heap.h"

static int before(const tl_theap_node *a, const tl_theap_node *b)
{
    return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void place(tl_theap *h, size_t i, tl_theap_node *x)
{
    h->v[i] = x;
    x->pos = i + 1;
}

static void sift_up(tl_theap *h, size_t i)
{
    tl_theap_node *x = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(x, h->v[parent])) {
            break;
        }
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, x);
}

static void sift_down(tl_theap *h, size_t i)
{
    tl_theap_node *x = h->v[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n) {
            break;
        }
        if (child + 1 < h->n && before(h->v[child + 1], h->v[child])) {
            child++;
        }
        if (!before(h->v[child], x)) {
            break;
        }
        place(h, i, h->v[child]);
        i = child;
    }
    place(h, i, x);
}

int tl_theap_reserve(tl_theap *h, size_t n, const tl_allocator *a)
{
    if (n <= h->cap) {
        return TL_OK;
    }
    size_t cap = h->cap ? h->cap * 2 : 16;
    while (cap < n) {
        cap *= 2;
    }
    tl_theap_node **v = a->realloc(a->ctx, h->v, cap * sizeof *v);
    if (v == NULL) {
        return TL_E_NOMEM;
    }
    h->v = v;
    h->cap = cap;
    return TL_OK;
}

void tl_theap_free(tl_theap *h, const tl_allocator *a)
{
    a->free(a->ctx, h->v);
    memset(h, 0, sizeof *h);
}

void tl_theap_set(tl_theap *h, tl_theap_node *x, uint64_t key)
{
    if (x->pos == 0) {
        if (h->n >= h->cap) {
            return; /* the caller reserved room; never reached */
        }
        x->key = key;
        place(h, h->n++, x);
        sift_up(h, h->n - 1);
        return;
    }
    uint64_t old = x->key;
    x->key = key;
    if (key < old) {
        sift_up(h, x->pos - 1);
    } else if (key > old) {
        sift_down(h, x->pos - 1);
    }
}

void tl_theap_remove(tl_theap *h, tl_theap_node *x)
{
    if (x->pos == 0) {
        return;
    }
    size_t i = x->pos - 1;
    x->pos = 0;
    h->n--;
    if (i == h->n) {
        return;
    }
    tl_theap_node *last = h->v[h->n];
    place(h, i, last);
    if (i > 0 && before(last, h->v[(i - 1) / 2])) {
        sift_up(h, i);
    } else {
        sift_down(h, i);
    }
}

const char *tl_theap_check(const tl_theap *h)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->v[i]->pos != i + 1) {
            return "a timer node does not know its heap position";
        }
        if (i > 0 && before(h->v[i], h->v[(i - 1) / 2])) {
            return "timer heap order is broken";
        }
    }
    return NULL;
}
