/*
 * The discrete-event queue (sched.c): a min-heap of events ordered by (time,
 * sequence number). The heap only orders; what an event means is up to the
 * layer that scheduled it and to the event loop (node.c) that dispatches it.
 */
#ifndef TOFULAB_SIM_SCHED_H
#define TOFULAB_SIM_SCHED_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    EV_SEGMENT = 1,  /* net.c: ptr: sim_seg arriving at its destination */
    EV_TCP_TIMER,    /* net.c: ptr: sim_conn, arg: dir | gen << 1 */
    EV_SVC_TIMER,    /* node.c: ptr: sim_node, arg: timer slot | incarnation << 32 */
    EV_ENGINE_TIMER, /* node.c: ptr: sim_node, arg: incarnation */
    EV_NODE_START,   /* node.c: ptr: sim_node, arg: incarnation */
    EV_SVC_START,    /* node.c: ptr: sim_svc, arg: incarnation of its node */
    EV_ACTION,       /* node.c: ptr: sim_action */
    EV_RESUME_WORK   /* node.c: ptr: sim_node, arg: incarnation: fire what waited during a pause */
} sim_event_kind;

typedef struct {
    uint64_t time;
    uint64_t seq;
    void *ptr;
    uint64_t arg;
    uint32_t kind;
} sim_event;

typedef struct {
    sim_event *v;
    size_t n;
    size_t cap;
    uint64_t next_seq;
} sim_heap;

int sim_heap_push(sim_heap *h, uint64_t time, uint32_t kind, void *ptr, uint64_t arg);
int sim_heap_pop(sim_heap *h, sim_event *out);
void sim_heap_free(sim_heap *h);

#endif /* TOFULAB_SIM_SCHED_H */
