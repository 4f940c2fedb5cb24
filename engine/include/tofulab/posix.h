/*
 * tofulab POSIX host: the engine core on real TCP (IPv4/IPv6) and Unix
 * sockets, one reactor thread with epoll, tofu's thread-safe API (6.11).
 * Every function may be called from any thread.
 */
#ifndef TOFULAB_POSIX_H
#define TOFULAB_POSIX_H

#include <stdint.h>

#include "tofulab/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TL_WAIT_INFINITE UINT64_MAX    /* waitReceive_INFINITE_TIMEOUT */
#define TL_WAIT_SECOND   1000000000ull /* waitReceive_SEC_TIMEOUT */

typedef struct tl_posix tl_posix;

/* Start an engine and its reactor thread. opt may be NULL (defaults; the
 * channel seed then comes from the host's entropy). The callbacks in opt are
 * the host's own and are ignored. */
int tl_posix_create(const tl_engine_options *opt, tl_posix **out);
/* Stop the reactor (joined), close every socket with RST, remove UDS listener
 * paths, free everything. Messages the application still holds must be put
 * before. Threads blocked in tl_posix_wait_receive return TL_E_CLOSED. */
void tl_posix_destroy(tl_posix *p);

int tl_posix_get(tl_posix *p, tl_get_strategy how, tl_message **out);
void tl_posix_put(tl_posix *p, tl_message **msg);
int tl_posix_group_create(tl_posix *p, uint32_t *group);
int tl_posix_group_destroy(tl_posix *p, uint32_t group);
/* tl_engine_post. A post that follows a receive on this host sends on the
 * calling thread (request/response latency); other posts are left to the
 * reactor, which batches them. */
int tl_posix_post(tl_posix *p, uint32_t group, tl_message **msg, tl_post_out *out);
/* Block until the group has a message or timeout_ns passes (0 = poll).
 * TL_OK, TL_E_TIMEOUT, TL_E_NOT_FOUND, or TL_E_CLOSED when the host shuts
 * down or the group is destroyed while waiting (tofu's ShutdownStarted). */
int tl_posix_wait_receive(tl_posix *p, uint32_t group, uint64_t timeout_ns, tl_message **out);
int tl_posix_update_receiver(tl_posix *p, uint32_t group, tl_message **msg);
void tl_posix_stats(tl_posix *p, tl_engine_stats *out);

/* Bound TCP port of a listener channel (useful with port 0), or 0. */
uint16_t tl_posix_listener_port(tl_posix *p, uint16_t channel);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_POSIX_H */
