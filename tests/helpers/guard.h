/*
 * Guard pages: place bytes so that they end exactly where an inaccessible page
 * begins. Any read or write past the end then faults (SIGSEGV) at once.
 */
#ifndef TOFULAB_TEST_GUARD_H
#define TOFULAB_TEST_GUARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    void *map; /* whole mapping: data pages followed by one PROT_NONE page */
    size_t map_len;
} guard_region;

/* Map enough read/write pages for len bytes plus one PROT_NONE page after
 * them, copy data (may be NULL when len is 0) so that its last byte is the
 * last byte before the guard page, and return a pointer to the copy. With
 * len 0 the pointer is the first byte of the guard page. Aborts the test
 * program if mapping fails. */
uint8_t *guard_place(const void *data, size_t len, guard_region *g);

/* Unmap a region set up by guard_place; the region is zeroed afterwards. */
void guard_release(guard_region *g);

#endif
