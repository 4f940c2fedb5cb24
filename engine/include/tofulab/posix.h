/*
 * tofulab POSIX host: the engine core on real TCP (IPv4/IPv6) and Unix
 * sockets with epoll, tofu's thread-safe API (6.11). The thread waiting in
 * tl_posix_wait_receive drives the sockets itself while no other does
 * (leader/follower); a reactor thread does when no application thread waits
 * (docs/ARCHITECTURE.md, "Threads of the POSIX host"). TCP_NODELAY is set.
 * Every function may be called from any thread.
 */
#ifndef TOFULAB_POSIX_H
#define TOFULAB_POSIX_H

#include <stddef.h>
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

/* Host limits and logging (docs/serve.md; zero = off) and busy-polling (zero = the default). */
typedef struct {
    /* Accepted connections open at once. A connection beyond it is accepted
     * and closed at once (FIN: the client reads end of stream), counted in
     * refused_max_connections and logged. */
    uint32_t max_connections;
    /* One line (no newline) per connection the host refuses or the engine
     * closes for a rule (tl_violation), naming the connection and the rule:
     *   connection 4711 (tcp 127.0.0.1:40112): no HelloRequest within 10 s of
     *   the accept (handshake timeout): closed
     * Called on whichever thread drives the sockets (the reactor, a waiting
     * or a posting application thread) under the host's
     * lock: it must not call into the host. NULL: no lines. */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
    /* Busy-polling (docs/ARCHITECTURE.md, "Threads of the POSIX host"): an
     * application thread about to sleep in tl_posix_wait_receive first polls
     * its sockets without sleeping for up to this long, because a reply due
     * within microseconds is found at once this way, while a sleeping thread
     * is woken tens of microseconds later. Only while a message is due: the
     * host posted since the application last received (an answer), or the
     * application's last wait returned a message (they flow: a stream's
     * reader, whom the writer would otherwise wake per chunk). It yields the
     * CPU between polls. Adaptive: from the
     * third poll in a row that found nothing, the next 1, 3, 7 ... 63 waits
     * sleep at once, so a peer that answers slowly costs about spin_ns / 64
     * of CPU per wait. Never for a process that may run on one CPU only. 0 = TL_POSIX_SPIN_DEFAULT_NS;
     * TL_POSIX_SPIN_OFF = never; at most 1 ms. */
    uint64_t spin_ns;
} tl_posix_options;

#define TL_POSIX_SPIN_DEFAULT_NS 50000ull
#define TL_POSIX_SPIN_OFF        UINT64_MAX

/* tl_posix_create with host options (popt may be NULL). An accept that fails
 * for want of file descriptors (EMFILE, ENFILE) is answered by closing the
 * connection with a spare descriptor kept for the purpose, so a listener at
 * the descriptor limit neither spins nor leaves clients waiting. */
int tl_posix_create_ex(const tl_engine_options *opt, const tl_posix_options *popt, tl_posix **out);

typedef struct {
    uint64_t accepted;                /* connections accepted and handed to the engine */
    uint64_t refused_max_connections; /* closed at once: max_connections were open */
    uint64_t refused_no_descriptor;   /* closed at once: EMFILE / ENFILE */
    uint64_t accept_errors;           /* other accept failures (ignored, 6.3) */
    uint32_t connections_now;         /* accepted connections open */
    uint32_t connections_peak;
    uint64_t stashed_bytes_now; /* bytes read but not yet taken by the engine (pool empty) */
    /* Who drove the sockets (docs/ARCHITECTURE.md, "Threads of the POSIX host"):
     * epoll_wait turns taken by application threads waiting in
     * tl_posix_wait_receive and by the reactor thread; how often the reactor
     * stood by while an application thread led; system calls; busy polls. */
    uint64_t polls_by_application;
    uint64_t polls_by_reactor;
    uint64_t reactor_standbys;
    uint64_t read_calls;     /* read() calls on connections */
    uint64_t write_calls;    /* sendmsg() calls */
    uint64_t busy_polls;     /* waits that busy-polled before sleeping (tl_posix_options.spin_ns) */
    uint64_t busy_poll_hits; /* of which found an event without sleeping */
} tl_posix_host_stats;

void tl_posix_host_stats_get(tl_posix *p, tl_posix_host_stats *out);

/* The engine's invariants (tl_engine_check) under the host's lock: NULL when
 * they hold, else what is broken (a static string). */
const char *tl_posix_check(tl_posix *p);

/* The operating system's reason a channel's listen or connect failed (e.g.
 * "No such file or directory", "Connection refused", or a resolver's "Name
 * or service not known"), kept for the last 64 failures. Returns 1 and the
 * text in buf, or 0 and "" when none is known. */
int tl_posix_channel_error(tl_posix *p, uint16_t channel, char *buf, size_t cap);

/* "tcp 127.0.0.1:40112", "tcp [::1]:40112" or "uds /path" for an open
 * connection (the peer of a TCP connection, the socket path of a Unix one).
 * Returns 1, or 0 and "" when the channel has no open connection. */
int tl_posix_peer_name(tl_posix *p, uint16_t channel, char *buf, size_t cap);
/* Stop the reactor (joined), close every socket with RST, remove UDS listener
 * paths, free everything. Messages the application still holds must be put
 * before. Threads blocked in tl_posix_wait_receive return TL_E_CLOSED. */
void tl_posix_destroy(tl_posix *p);

int tl_posix_get(tl_posix *p, tl_get_strategy how, tl_message **out);
void tl_posix_put(tl_posix *p, tl_message **msg);
int tl_posix_group_create(tl_posix *p, uint32_t *group);
int tl_posix_group_destroy(tl_posix *p, uint32_t group);
/* tl_engine_post. A post that follows a receive on this host sends on the
 * calling thread (request/response latency); other posts are left to
 * whoever drives the sockets, which batches them into one sendmsg. */
int tl_posix_post(tl_posix *p, uint32_t group, tl_message **msg, tl_post_out *out);
/* Block until the group has a message or timeout_ns passes (0 = poll).
 * While nobody else drives the sockets, the calling thread does (it reads,
 * parses and delivers what arrives for every group) until its own message
 * is there: no other thread wakes to hand it over.
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
