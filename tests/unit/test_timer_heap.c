/*
 * The core's timer heap (engine/core/timer_heap.c): order by (key, seq),
 * moves both ways, removal anywhere, against a plain array model under a
 * fixed-seed random workload; tl_theap_check after every operation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "tofulab/engine.h"

#include "../../engine/core/timer_heap.h"

#define NODES 200

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* The model: the in-heap node with the smallest (key, seq). */
static tl_theap_node *model_min(tl_theap_node *nodes, const int *in)
{
    tl_theap_node *best = NULL;
    for (int i = 0; i < NODES; i++) {
        if (in[i] && (best == NULL || nodes[i].key < best->key ||
                      (nodes[i].key == best->key && nodes[i].seq < best->seq))) {
            best = &nodes[i];
        }
    }
    return best;
}

static void test_timer_heap_random_operations_match_model(void **state)
{
    (void)state;
    static tl_theap_node nodes[NODES];
    int in[NODES];
    tl_theap h;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    memset(&h, 0, sizeof h);
    memset(nodes, 0, sizeof nodes);
    memset(in, 0, sizeof in);
    for (int i = 0; i < NODES; i++) {
        nodes[i].seq = (uint64_t)i + 1;
    }
    assert_int_equal(tl_theap_reserve(&h, NODES, tl_allocator_default()), TL_OK);
    for (int step = 0; step < 20000; step++) {
        int i = (int)(xorshift(&rng) % NODES);
        uint64_t op = xorshift(&rng) % 4;
        uint64_t key = xorshift(&rng) % 50; /* many ties */
        if (op < 2) {
            tl_theap_set(&h, &nodes[i], key);
            in[i] = 1;
        } else if (op == 2) {
            tl_theap_remove(&h, &nodes[i]);
            in[i] = 0;
        } else {
            tl_theap_node *top = tl_theap_top(&h);
            assert_ptr_equal(top, model_min(nodes, in));
            if (top != NULL) {
                tl_theap_remove(&h, top);
                in[top - nodes] = 0;
            }
        }
        assert_null(tl_theap_check(&h));
        size_t count = 0;
        for (int k = 0; k < NODES; k++) {
            count += (size_t)in[k];
            assert_int_equal(nodes[k].pos != 0, in[k]);
        }
        assert_int_equal(h.n, count);
    }
    /* Draining gives (key, seq) order. */
    uint64_t last_key = 0, last_seq = 0;
    while (tl_theap_top(&h) != NULL) {
        tl_theap_node *top = tl_theap_top(&h);
        assert_true(top->key > last_key || (top->key == last_key && top->seq > last_seq));
        last_key = top->key;
        last_seq = top->seq;
        tl_theap_remove(&h, top);
        assert_null(tl_theap_check(&h));
    }
    tl_theap_free(&h, tl_allocator_default());
}

static void test_timer_heap_equal_keys_pop_in_seq_order(void **state)
{
    (void)state;
    tl_theap_node n[5];
    tl_theap h;
    memset(&h, 0, sizeof h);
    memset(n, 0, sizeof n);
    assert_int_equal(tl_theap_reserve(&h, 5, tl_allocator_default()), TL_OK);
    int order[5] = {3, 0, 4, 1, 2};
    for (int i = 0; i < 5; i++) {
        n[order[i]].seq = (uint64_t)order[i] + 10;
        tl_theap_set(&h, &n[order[i]], 7);
    }
    for (int i = 0; i < 5; i++) {
        tl_theap_node *top = tl_theap_top(&h);
        assert_ptr_equal(top, &n[i]);
        tl_theap_remove(&h, top);
    }
    assert_null(tl_theap_top(&h));
    tl_theap_remove(&h, &n[0]); /* not in the heap: no-op */
    tl_theap_free(&h, tl_allocator_default());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_heap_random_operations_match_model),
        cmocka_unit_test(test_timer_heap_equal_keys_pop_in_seq_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
