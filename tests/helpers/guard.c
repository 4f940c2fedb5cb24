#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

uint8_t *guard_place(const void *data, size_t len, guard_region *g)
{
    long ps = sysconf(_SC_PAGESIZE);
    size_t page = ps > 0 ? (size_t)ps : 4096u;
    size_t data_pages = (len + page - 1) / page;
    size_t map_len = (data_pages + 1) * page;
    uint8_t *base;
    uint8_t *guard;

    base = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        perror("guard_place: mmap");
        abort();
    }
    guard = base + data_pages * page;
    if (mprotect(guard, page, PROT_NONE) != 0) {
        perror("guard_place: mprotect");
        abort();
    }
    if (len > 0)
        memcpy(guard - len, data, len);
    g->map = base;
    g->map_len = map_len;
    return guard - len;
}

void guard_release(guard_region *g)
{
    if (g->map != NULL)
        munmap(g->map, g->map_len);
    g->map = NULL;
    g->map_len = 0;
}
