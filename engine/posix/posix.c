/*
 * The POSIX host (ARCHITECTURE.md 1): the sans-I/O engine core driven by real
 * TCP and Unix stream sockets. One mutex per tl_posix serialises every engine
 * call (the core is not thread-safe) and every field of the host; each group
 * has a condition variable on CLOCK_MONOTONIC time for the blocking
 * waitReceive of PROTOCOL.md 6.11.
 *
 * Threads (ARCHITECTURE.md, "Threads of the POSIX host"; issue 14): the
 * sockets are driven by one leader at a time - whoever runs host_poll: settle,
 * epoll_wait without the mutex, tick, handle the events. An application
 * thread waiting in tl_posix_wait_receive leads when nobody does, so the
 * frame it waits for is read and returned on its own thread (no hand-off);
 * the reactor thread stands by (reactor_cv) and leads when no application
 * thread does - after POSIX_STANDBY_NS without one, at once when there is
 * host work and nobody polls (want_poller), or when several wait. A leader
 * inside epoll_wait is woken through the eventfd, once per kick
 * (kick_pending), when another thread gives the host work or delivers to the
 * leader's group (on_deliver).
 *
 * Commands from the core (engine.h) are executed by the leader, or by a
 * posting thread that settles at once: LISTEN (6.3), CONNECT (6.4, A10),
 * CLOSE (RST through SO_LINGER {1,0}, 6.3/6.13) and IO (interest changed). A
 * channel named by an IO command is marked "dirty"; a dirty channel gets its
 * stashed input re-offered, its output flushed (small pieces staged into one
 * segment, conn_flush) and its epoll interest recomputed from
 * tl_engine_io_state. TCP sockets have TCP_NODELAY (A24). Streams stay short
 * and warm (ARCHITECTURE.md): every POSIX_POST_BATCH-th back-to-back post
 * writes on the posting thread (and one that brings a connection's unwritten
 * bytes to POSIX_POST_BYTES_*), a connection whose write was cut short
 * (wblocked) waits for EPOLLOUT, one sendmsg gathers at most POSIX_WRITE_MAX
 * bytes, and an application leader stops reading after the read that
 * delivered to its group. Deep in a long run of posts the leader is not woken
 * for them: the posting thread writes at its next batch, and the tail timer
 * (a timerfd in the epoll set) wakes the leader if the run stops first. An
 * application leader waiting for an answer, or for the next message of a
 * flow, busy-polls before it sleeps
 * (tl_posix_options.spin_ns, adaptive back-off).
 *
 * Limits (docs/serve.md; all off unless tl_posix_options / tl_engine_options
 * set them). Reads take at most tl_io_state.read_max bytes, so what the core
 * cannot take (rx budget, empty pool) waits in the kernel. The accept path
 * refuses connections beyond max_connections and, at the descriptor limit,
 * uses a spare descriptor to refuse rather than spin (on_accept,
 * refuse_without_descriptor). The core's on_violation and the refusals are
 * turned into one log line each, naming the connection (describe_fd). The OS
 * reason of a failed listen or connect is kept per channel (record_error).
 * Every leader ticks the core with a fresh clock before input, so the core
 * dates frames and activity.
 */
#define _GNU_SOURCE

#include "tofulab/posix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define POSIX_CHANNELS          65536u
#define POSIX_READ_BUF          65536u   /* one read() at most this much */
#define POSIX_IOV_MAX           1024     /* gather entries per sendmsg, across queued frames (IOV_MAX) */
#define POSIX_WBUF              65536u   /* staging buffer of a sendmsg's small pieces */
#define POSIX_COALESCE_SEG      1024u    /* pieces shorter than this are staged */
#define POSIX_WRITE_MAX         1048576u /* bytes gathered for one sendmsg (a loopback send buffer or more) */
#define POSIX_EVENTS            128      /* epoll events per wait */
#define POSIX_MAX_WAIT_MS       1000     /* epoll_wait never sleeps longer (deadline cap) */
#define POSIX_READS_PER_EVENT   16       /* fairness: reads per readiness event and channel */
#define POSIX_ACCEPTS_PER_EVENT 64
#define POSIX_LISTEN_BACKLOG    1024       /* 6.3, 6.14 */
#define POSIX_WAKE_TAG          UINT64_MAX /* epoll tag of the eventfd */
#define POSIX_ERRORS            64         /* failed listens/connects whose OS reason is kept */
#define POSIX_ACCEPT_BACKOFF_NS 100000000u /* listeners rest this long when no descriptor is left at all */
#define POSIX_STANDBY_NS        1000000u   /* the reactor stands by this long for an application leader */
#define POSIX_STANDBY_LEAD_NS   10000000u  /* and looks again this often while one leads */
#define POSIX_POST_BATCH        256u       /* back-to-back posts: the posting thread writes every this many */
#define POSIX_POST_BYTES_UDS    65536u     /* ... or that brings a UDS connection's unwritten bytes to this */
#define POSIX_POST_BYTES_TCP    262144u    /* ... or a TCP one's to this (a TCP write costs more) */
#define POSIX_TAIL_MIN_NS       20000u     /* a long run's tail leaves within twice its batch gap, */
#define POSIX_TAIL_MAX_NS       500000u    /* but within these bounds (the tail timer) */
#define POSIX_TAIL_TAG          (UINT64_MAX - 1) /* epoll tag of the tail timer */
#define POSIX_SPIN_MAX_NS       1000000u         /* busy-polling budget cap (tl_posix_options.spin_ns) */
#define POSIX_SPIN_SKIP_MAX     63u              /* waits without busy-polling after failed polls, at most */

/* One socket: a connection (client or server side) or a listener. */
typedef struct posix_conn {
    int fd;
    uint16_t channel;
    uint32_t gen;      /* epoll tag = channel | gen << 16: stale events are ignored */
    tl_addr_kind kind; /* TCP or UDS: decides the end-of-stream reason (A9) */
    int listener;
    int accepted;    /* a server-side connection: counts against max_connections */
    int connecting;  /* non-blocking connect in progress */
    int finished;    /* transport end reported: no more I/O, waiting for CLOSE */
    int hup;         /* error/hang-up seen while the engine was not reading */
    int dirty;       /* in the dirty list */
    int registered;  /* in the epoll set */
    int wblocked;    /* a write was cut short: no room in the kernel until EPOLLOUT */
    size_t posted;   /* bytes posted since this connection was last written (POSIX_POST_BYTES_*) */
    uint32_t events; /* registered interest */
    uint16_t port;   /* TCP listener: bound port */
    char *path;      /* UDS listener: path to remove when closed */
    uint8_t *left;   /* bytes read but not consumed (the engine starves) */
    size_t left_off;
    size_t left_len;
} posix_conn;

/* Wait state of a group. Freed at group destroy, or by the last waiter. */
typedef struct posix_group {
    uint32_t id;
    pthread_cond_t cv;
    unsigned refs; /* threads inside tl_posix_wait_receive on this group */
    int dead;      /* the group was destroyed */
    struct posix_group *next;
} posix_group;

/* Who drives the sockets (epoll_wait and the events after it): the leader.
 * An application thread waiting in tl_posix_wait_receive leads when nobody
 * does, so that its reply is read, delivered and returned on its own thread
 * (no hand-off); the reactor thread leads when no application thread waits,
 * or when several do (docs/ARCHITECTURE.md, "Threads of the POSIX host"). */
typedef enum { LEAD_NONE = 0, LEAD_REACTOR = 1, LEAD_APP = 2 } lead_role;

struct tl_posix {
    pthread_mutex_t mu;     /* the one lock: every engine call and every field below */
    pthread_cond_t idle_cv; /* destroy waits here until no waiter is left */
    tl_engine *eng;
    pthread_t thread;
    int thread_started;
    int epfd;
    int wakefd;
    int shutdown;
    int work_pending;             /* on_host_work ran during the current locked call */
    uint64_t posts_since_receive; /* posts since the application last received */
    int received_last;            /* the application's last wait_receive returned a message (busy-polling) */
    unsigned waiters;             /* threads inside tl_posix_wait_receive */
    /* Leader/follower (see lead_role). */
    lead_role leader;
    int polling;               /* the leader is inside epoll_wait (without the lock) */
    uint64_t poll_wake_at;     /* when that epoll_wait returns by itself */
    uint32_t lead_group;       /* LEAD_APP: the group its thread waits for */
    int lead_delivered;        /* LEAD_APP: a message was delivered to lead_group this turn */
    int flush_held;            /* tl_posix_post left a reply queued (see there) */
    int tail_pending;          /* tl_posix_post left a long run's frames queued; the tail timer is armed */
    int tail_arm_due;          /* the tail timer is to be armed when the lock is released */
    uint64_t run_write_at;     /* when a posting thread last wrote a run's batch */
    uint64_t run_gap_ns;       /* time between a run's batches (moving average): sets the tail timer */
    int timerfd;               /* the tail timer (POSIX_TAIL_TAG in the epoll set) */
    uint64_t spin_ns;          /* busy-polling budget of an application leader (0: none) */
    unsigned spin_skip;        /* waits left without busy-polling (adaptive back-off) */
    unsigned spin_fails;       /* busy-polls in a row that found nothing */
    int kick_pending;          /* the eventfd was written and not yet read */
    int kick_due;              /* the eventfd is to be written when the lock is released */
    pthread_cond_t reactor_cv; /* the reactor thread stands by here while not leading */
    int reactor_parked;
    int reactor_wanted; /* work for the host and nobody polls: the reactor leads at once */
    int lead_wanted;    /* the one waiting application thread asks the reactor for the lead */
    uint32_t lead_wanted_group;
    uint64_t app_left_at; /* when an application thread last stopped leading */
    uint32_t next_gen;
    posix_group *groups;
    posix_conn **conns; /* by channel number */
    uint16_t *dirty;
    size_t ndirty;
    uint8_t *rbuf; /* the leader's read buffer */
    tl_iov *iov;   /* the leader's gather lists (POSIX_IOV_MAX each) */
    struct iovec *iovec;
    uint8_t *wbuf; /* POSIX_WBUF */
    /* Host limits (tl_posix_options, docs/serve.md). */
    tl_posix_options popt;
    tl_posix_host_stats hstats;
    int spare_fd;              /* kept open to refuse connections at the descriptor limit */
    uint64_t accept_resume_at; /* listeners rest until then (no descriptor, no spare); 0 = not */
    /* The OS reasons of the last failed listens and connects (tl_posix_channel_error). */
    struct {
        uint16_t channel;
        char text[96];
    } errs[POSIX_ERRORS];
    unsigned errs_next;
};

/* ------------------------------------------------------------ utilities */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void wake_reactor(tl_posix *p)
{
    uint64_t one = 1;
    ssize_t r;
    do {
        r = write(p->wakefd, &one, sizeof one);
    } while (r < 0 && errno == EINTR);
    /* EAGAIN: the counter is saturated, the poller is woken anyway. */
}

/* Under the lock: the host has work (p->work_pending) that whoever drives
 * the sockets must do. A leader inside epoll_wait is woken through the
 * eventfd (once: kick_pending stays set until it reads it); with nobody
 * leading the reactor thread is asked to lead now. Returns 1 when the
 * caller must write the eventfd (after unlocking). */
static int want_poller(tl_posix *p)
{
    if (p->polling) {
        if (p->kick_pending) {
            return 0;
        }
        p->kick_pending = 1;
        return 1;
    }
    if (p->leader == LEAD_NONE) {
        p->reactor_wanted = 1;
        if (p->reactor_parked) {
            pthread_cond_signal(&p->reactor_cv);
        }
    }
    /* A leader that is not inside epoll_wait holds the lock: it settles the
     * work before it polls again. */
    return 0;
}

/* Leave an application-side call: the core queued work for the host during
 * the call; have it done (want_poller). */
static void unlock_and_kick(tl_posix *p)
{
    int kick = p->kick_due;
    int arm = p->tail_arm_due;
    uint64_t tail = 2 * p->run_gap_ns;
    tail = tail < POSIX_TAIL_MIN_NS ? POSIX_TAIL_MIN_NS : tail > POSIX_TAIL_MAX_NS ? POSIX_TAIL_MAX_NS : tail;
    p->kick_due = 0;
    p->tail_arm_due = 0;
    if (p->work_pending && want_poller(p)) {
        kick = 1;
    }
    p->work_pending = 0;
    pthread_mutex_unlock(&p->mu);
    if (kick) {
        wake_reactor(p);
    }
    if (arm) {
        /* (Re)start the tail timer: it fires in the leader's epoll_wait
         * unless the run goes on (the next batch restarts it) - an early or
         * late expiry only settles a host with nothing left to do. */
        struct itimerspec its;
        memset(&its, 0, sizeof its);
        its.it_value.tv_nsec = (long)tail;
        (void)timerfd_settime(p->timerfd, 0, &its, NULL);
    }
}

static void set_linger(int fd, int on)
{
    struct linger lg;
    lg.l_onoff = on;
    lg.l_linger = 0;
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* TCP_NODELAY on every TCP connection (a divergence from tofu, which never
 * sets it: A24). Frames are written whole, a queue of them in one sendmsg,
 * so Nagle's algorithm only ever delays a reply behind an unacknowledged
 * one - by a delayed ACK, 40 ms on Linux. */
static void set_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static uint64_t random_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (read(fd, &seed, sizeof seed) != (ssize_t)sizeof seed) {
                seed = 0;
            }
            close(fd);
        }
    }
    if (seed == 0) {
        seed = now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
    }
    return seed;
}

/* ---------------------------------------------------------- callbacks */

static posix_group *group_find(tl_posix *p, uint32_t id)
{
    for (posix_group *g = p->groups; g != NULL; g = g->next) {
        if (g->id == id && !g->dead) {
            return g;
        }
    }
    return NULL;
}

static void group_unlink_free(tl_posix *p, posix_group *g)
{
    for (posix_group **pp = &p->groups; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    }
    pthread_cond_destroy(&g->cv);
    free(g);
}

static void on_host_work(void *ctx)
{
    tl_posix *p = ctx;
    p->work_pending = 1;
}

static void on_deliver(void *ctx, uint32_t group)
{
    tl_posix *p = ctx;
    posix_group *g = group_find(p, group);
    if (g != NULL) {
        pthread_cond_broadcast(&g->cv);
    }
    /* Delivered to the group an application leader waits for: it must not
     * sleep in epoll_wait (or go on sleeping there: woken through the
     * eventfd when another thread delivered). */
    if (p->leader == LEAD_APP && p->lead_group == group) {
        p->lead_delivered = 1;
        if (p->polling && !p->kick_pending) {
            p->kick_pending = 1;
            p->kick_due = 1;
        }
    }
}

/* ------------------------------------------------- limits: logging, errors */

/* One log line through tl_posix_options.log (nothing when unset). */
static void host_log(tl_posix *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void host_log(tl_posix *p, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    if (p->popt.log == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->popt.log(p->popt.log_ctx, line);
}

/* "tcp 127.0.0.1:40112" / "tcp [::1]:40112" (the peer) or "uds /path" (the
 * socket's own path: Unix peers are usually unnamed). */
static void describe_fd(int fd, tl_addr_kind kind, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN];
    buf[0] = '\0';
    memset(&ss, 0, sizeof ss);
    if (kind == TL_ADDR_UDS) {
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_UNIX) {
            const struct sockaddr_un *su = (const struct sockaddr_un *)&ss;
            snprintf(buf, cap, "uds %.*s", (int)strnlen(su->sun_path, sizeof su->sun_path), su->sun_path);
        } else {
            snprintf(buf, cap, "uds");
        }
        return;
    }
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(buf, cap, "tcp");
    } else if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *si = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &si->sin_addr, host, sizeof host);
        snprintf(buf, cap, "tcp %s:%u", host, (unsigned)ntohs(si->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *si = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &si->sin6_addr, host, sizeof host);
        snprintf(buf, cap, "tcp [%s]:%u", host, (unsigned)ntohs(si->sin6_port));
    } else {
        snprintf(buf, cap, "tcp");
    }
}

/* The engine closes a channel for a rule (tl_engine_options.on_violation):
 * one line naming the connection and the rule. */
static void on_violation(void *ctx, const tl_violation *v)
{
    tl_posix *p = ctx;
    char who[160], rule[256];
    posix_conn *c = p->conns[v->channel];
    if (p->popt.log == NULL) {
        return;
    }
    tl_violation_format(v, rule, sizeof rule);
    if (c != NULL && !c->listener) {
        describe_fd(c->fd, c->kind, who, sizeof who);
        host_log(p, "connection %u (%s): %s: closed", (unsigned)v->channel, who, rule);
    } else {
        host_log(p, "connection %u: %s: closed", (unsigned)v->channel, rule);
    }
}

/* Keep the OS reason of a failed listen or connect (tl_posix_channel_error). */
static void record_error(tl_posix *p, uint16_t channel, const char *text)
{
    unsigned i = p->errs_next++ % POSIX_ERRORS;
    p->errs[i].channel = channel;
    snprintf(p->errs[i].text, sizeof p->errs[i].text, "%s", text);
}

static void record_errno(tl_posix *p, uint16_t channel, int err)
{
    char buf[96];
    /* strerror_r is not thread-safe-portable in both flavours; strerror is
     * called under the host lock only. */
    snprintf(buf, sizeof buf, "%s", strerror(err));
    record_error(p, channel, buf);
}

/* ------------------------------------------------------- connections */

static posix_conn *conn_new(tl_posix *p, int fd, uint16_t channel, tl_addr_kind kind)
{
    posix_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->fd = fd;
    c->channel = channel;
    c->kind = kind;
    c->gen = ++p->next_gen;
    p->conns[channel] = c;
    return c;
}

static void conn_deregister(tl_posix *p, posix_conn *c)
{
    if (c->registered) {
        (void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        c->registered = 0;
        c->events = 0;
    }
}

static void conn_set_interest(tl_posix *p, posix_conn *c, uint32_t events)
{
    struct epoll_event ev;
    if (c->registered && c->events == events) {
        return;
    }
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = (uint64_t)c->channel | ((uint64_t)c->gen << 16);
    if (epoll_ctl(p->epfd, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) == 0) {
        c->registered = 1;
        c->events = events;
    }
}

static void conn_drop_left(tl_posix *p, posix_conn *c)
{
    p->hstats.stashed_bytes_now -= c->left_len;
    free(c->left);
    c->left = NULL;
    c->left_off = 0;
    c->left_len = 0;
}

/* Close the socket (reset: RST through SO_LINGER {1,0}; else FIN), remove a
 * UDS listener's path (4.3) and forget the channel. */
static void conn_close(tl_posix *p, posix_conn *c, int reset)
{
    conn_deregister(p, c);
    if (c->listener) {
        close(c->fd);
        if (c->path != NULL) {
            unlink(c->path);
        }
    } else if (reset) {
        set_linger(c->fd, 1);
        close(c->fd);
    } else {
        set_linger(c->fd, 0);
        shutdown(c->fd, SHUT_RDWR);
        close(c->fd);
    }
    if (p->conns[c->channel] == c) {
        p->conns[c->channel] = NULL;
    }
    if (c->accepted) {
        p->hstats.connections_now--;
    }
    conn_drop_left(p, c);
    free(c->path);
    free(c);
}

static void mark_dirty(tl_posix *p, posix_conn *c)
{
    if (c->dirty || p->ndirty >= POSIX_CHANNELS) {
        return;
    }
    c->dirty = 1;
    p->dirty[p->ndirty++] = c->channel;
}

/* The transport of a connection ended: tell the core (it tears the channel
 * down and queues CLOSE), stop all I/O on the socket until then. */
static void conn_finish(tl_posix *p, posix_conn *c, tl_status reason)
{
    c->finished = 1;
    conn_deregister(p, c);
    conn_drop_left(p, c);
    (void)tl_engine_transport_closed(p->eng, c->channel, reason);
}

static tl_status eof_reason(const posix_conn *c)
{
    /* A9: orderly end of stream is recv_failed over TCP, communication_failed over UDS. */
    return c->kind == TL_ADDR_UDS ? TL_STATUS_COMMUNICATION_FAILED : TL_STATUS_RECV_FAILED;
}

static tl_status read_error_reason(int err)
{
    /* A9: a reset is communication_failed; another read error recv_failed. */
    return (err == ECONNRESET || err == EPIPE || err == ETIMEDOUT || err == EHOSTUNREACH)
               ? TL_STATUS_COMMUNICATION_FAILED
               : TL_STATUS_RECV_FAILED;
}

/* Offer bytes to the core; keep what it did not consume (pool empty, 6.7).
 * Returns 1 when everything was consumed and the channel still reads. */
static int conn_feed(tl_posix *p, posix_conn *c, const uint8_t *data, size_t len)
{
    size_t consumed = 0;
    tl_io_state st;
    int rc = tl_engine_input(p->eng, c->channel, data, len, &consumed);
    if (rc != TL_OK) {
        /* The core no longer takes input on this channel: drop the bytes. */
        return 0;
    }
    if (consumed > len) {
        consumed = len;
    }
    if (consumed < len) {
        size_t rest = len - consumed;
        uint8_t *keep = malloc(rest);
        if (keep == NULL) {
            conn_finish(p, c, TL_STATUS_ALLOCATION_FAILED);
            return 0;
        }
        memcpy(keep, data + consumed, rest);
        conn_drop_left(p, c);
        c->left = keep;
        c->left_len = rest;
        p->hstats.stashed_bytes_now += rest;
        return 0;
    }
    if (tl_engine_io_state(p->eng, c->channel, &st) != TL_OK || !st.want_read) {
        return 0;
    }
    return 1;
}

/* Re-offer stashed bytes while the core reads. Returns 1 when none are left. */
static int conn_offer_left(tl_posix *p, posix_conn *c)
{
    while (c->left_len > 0 && !c->finished) {
        size_t consumed = 0;
        tl_io_state st;
        if (tl_engine_io_state(p->eng, c->channel, &st) != TL_OK || !st.want_read) {
            return 0;
        }
        if (tl_engine_input(p->eng, c->channel, c->left + c->left_off, c->left_len, &consumed) != TL_OK) {
            conn_drop_left(p, c);
            return 0;
        }
        if (consumed > c->left_len) {
            consumed = c->left_len;
        }
        c->left_off += consumed;
        c->left_len -= consumed;
        p->hstats.stashed_bytes_now -= consumed;
        if (c->left_len == 0) {
            conn_drop_left(p, c);
        } else if (consumed == 0) {
            return 0;
        }
    }
    return c->left_len == 0;
}

/* How much to read now: the read buffer, or less when the core can take
 * less (tl_io_state.read_max, rx_budget): the rest waits in the socket. */
static size_t read_size(const tl_io_state *st)
{
    return st->read_max < POSIX_READ_BUF ? st->read_max : POSIX_READ_BUF;
}

static void conn_flush(tl_posix *p, posix_conn *c);

/* A hung-up connection whose core does not read has replies waiting: they
 * cannot leave (the peer is gone), and while they wait a send queue over
 * max_send_queue keeps the core from ever reading again. Returns 1 when the
 * transport ended here (the write failed, or made no progress). */
static int conn_hangup_output_stuck(tl_posix *p, posix_conn *c, const tl_io_state *st)
{
    tl_io_state now;
    if (st->out_pending == 0) {
        return 0;
    }
    conn_flush(p, c); /* the write fails with the peer's error: send_failed */
    if (c->finished) {
        return 1;
    }
    if (tl_engine_io_state(p->eng, c->channel, &now) == TL_OK && now.out_pending < st->out_pending) {
        return 0; /* something left: the caller looks again */
    }
    conn_finish(p, c, TL_STATUS_COMMUNICATION_FAILED);
    return 1;
}

/* An error or hang-up on a connection (6.7): what is readable is read and
 * delivered first, then the transport ends with communication_failed. While
 * the core does not read (pool empty, rx budget) the socket leaves the epoll
 * set and the drain resumes when the channel reads again. A core that does
 * not read because its replies are not read (max_send_queue) never would:
 * the replies are written at once, which ends the transport (the peer is
 * gone) instead of leaving the socket open and unwatched. */
static void conn_hangup(tl_posix *p, posix_conn *c)
{
    tl_io_state st;
    c->hup = 1;
    for (;;) {
        if (c->finished) {
            return;
        }
        if (!conn_offer_left(p, c) || tl_engine_io_state(p->eng, c->channel, &st) != TL_OK || !st.want_read) {
            if (c->finished) {
                return;
            }
            if (tl_engine_io_state(p->eng, c->channel, &st) == TL_OK && !st.want_read && st.out_pending > 0) {
                if (conn_hangup_output_stuck(p, c, &st)) {
                    return;
                }
                continue; /* output moved: the core may read again */
            }
            conn_deregister(p, c);
            return;
        }
        ssize_t r = read(c->fd, p->rbuf, read_size(&st));
        if (r > 0) {
            (void)conn_feed(p, c, p->rbuf, (size_t)r);
            continue;
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        break; /* end of stream, EAGAIN or the pending error: all read */
    }
    conn_finish(p, c, TL_STATUS_COMMUNICATION_FAILED);
}

static void conn_read(tl_posix *p, posix_conn *c)
{
    tl_io_state st;
    for (int i = 0; i < POSIX_READS_PER_EVENT && !c->finished; i++) {
        if (c->left_len > 0) {
            return; /* the core starves: the stash goes first */
        }
        if (tl_engine_io_state(p->eng, c->channel, &st) != TL_OK || !st.want_read) {
            return;
        }
        size_t want = read_size(&st);
        ssize_t r = read(c->fd, p->rbuf, want);
        p->hstats.read_calls++;
        if (r > 0) {
            if (!conn_feed(p, c, p->rbuf, (size_t)r) || (size_t)r < want) {
                return;
            }
            if (p->lead_delivered) {
                /* An application leader got what it waits for: it returns
                 * and takes the messages while they are in cache; the rest
                 * waits in the socket (level-triggered: reported again). */
                return;
            }
            continue;
        }
        if (r == 0) {
            conn_finish(p, c, eof_reason(c));
            return;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_finish(p, c, read_error_reason(errno));
        }
        return;
    }
}

/* Write queued frames until the kernel pushes back or nothing is pending. */
static void conn_flush(tl_posix *p, posix_conn *c)
{
    tl_iov *iov = p->iov;
    struct iovec *v = p->iovec;
    while (!c->finished) {
        int n = tl_engine_output_bytes(p->eng, c->channel, iov, POSIX_IOV_MAX, POSIX_WRITE_MAX);
        if (n <= 0) {
            return;
        }
        /* Small pieces (headers, short bodies) are copied together into one
         * staging run: the kernel copies a long segment much faster than
         * many short ones. Large bodies go as they are. The byte stream is
         * the same; output_done counts it. */
        size_t staged = 0;
        int k = 0, run = -1;
        for (int i = 0; i < n; i++) {
            size_t len = iov[i].len;
            if (len >= POSIX_COALESCE_SEG) {
                v[k].iov_base = (void *)(uintptr_t)iov[i].base;
                v[k].iov_len = len;
                k++;
                run = -1;
                continue;
            }
            if (staged + len > POSIX_WBUF) {
                break; /* send what is gathered; the rest next time round */
            }
            memcpy(p->wbuf + staged, iov[i].base, len);
            if (run < 0) {
                run = k++;
                v[run].iov_base = p->wbuf + staged;
                v[run].iov_len = 0;
            }
            v[run].iov_len += len;
            staged += len;
        }
        size_t offered = 0;
        for (int i = 0; i < k; i++) {
            offered += v[i].iov_len;
        }
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = v;
        mh.msg_iovlen = (size_t)k;
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        p->hstats.write_calls++;
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                conn_finish(p, c, TL_STATUS_SEND_FAILED);
            } else {
                c->wblocked = 1;
            }
            return;
        }
        c->posted = 0;
        if (w == 0 || tl_engine_output_done(p->eng, c->channel, (size_t)w) != TL_OK) {
            return;
        }
        if ((size_t)w < offered) {
            c->wblocked = 1; /* the kernel took what it had room for: wait for EPOLLOUT */
            return;
        }
    }
}

/* Bring a channel in line with its io_state: stashed input, output, interest. */
static void conn_settle(tl_posix *p, posix_conn *c)
{
    tl_io_state st;
    if (c->finished || tl_engine_io_state(p->eng, c->channel, &st) != TL_OK) {
        return; /* a CLOSE is on its way */
    }
    if (c->listener) {
        conn_set_interest(p, c, p->accept_resume_at != 0 ? 0 : EPOLLIN);
        return;
    }
    if (c->connecting) {
        conn_set_interest(p, c, EPOLLOUT);
        return;
    }
    if (c->hup) {
        /* Hung up and out of epoll: it drains when the channel reads again,
         * and replies posted since (which cannot leave: the peer is gone)
         * end it now rather than wait for a read that may never come. */
        if (st.want_read || st.out_pending > 0) {
            conn_hangup(p, c);
        }
        return;
    }
    (void)conn_offer_left(p, c);
    if (c->finished || tl_engine_io_state(p->eng, c->channel, &st) != TL_OK) {
        return;
    }
    if (st.out_pending > 0 && !c->wblocked) {
        conn_flush(p, c);
        if (c->finished || tl_engine_io_state(p->eng, c->channel, &st) != TL_OK) {
            return;
        }
    }
    uint32_t events = 0;
    if (st.want_read && c->left_len == 0) {
        events |= EPOLLIN;
    }
    if (st.out_pending > 0 || st.connecting) {
        events |= EPOLLOUT;
    }
    conn_set_interest(p, c, events);
}

/* ------------------------------------------------------------ commands */

static void do_listen(tl_posix *p, const tl_command *cmd)
{
    int fd = -1;
    tl_status status = TL_STATUS_LISTEN_FAILED;
    uint16_t port = 0;
    char *path = NULL;
    int one = 1;
    int err = 0;

    if (p->conns[cmd->channel] != NULL) {
        (void)tl_engine_listen_result(p->eng, cmd->channel, TL_STATUS_INVALID_CHANNEL_NUMBER);
        return;
    }
    if (cmd->addr.kind == TL_ADDR_TCP) {
        struct addrinfo hints, *res = NULL;
        char service[8];
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        snprintf(service, sizeof service, "%u", (unsigned)cmd->addr.port);
        int gai = getaddrinfo(cmd->addr.host, service, &hints, &res);
        if (gai != 0 || res == NULL) {
            record_error(p, cmd->channel, gai != 0 ? gai_strerror(gai) : "no address found");
            (void)tl_engine_listen_result(p->eng, cmd->channel, TL_STATUS_INVALID_ADDRESS);
            return;
        }
        fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
        /* SO_REUSEADDR as tofu; not SO_REUSEPORT (tofu sets it): with it a
         * second server on a port in use would silently share the port
         * instead of failing with listen_failed. Documented divergence. */
        if (fd < 0) {
            err = errno;
        } else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
                   bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, POSIX_LISTEN_BACKLOG) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
        freeaddrinfo(res);
        if (fd >= 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
                if (ss.ss_family == AF_INET) {
                    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
                } else if (ss.ss_family == AF_INET6) {
                    port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
                }
            }
        }
    } else if (cmd->addr.kind == TL_ADDR_UDS) {
        struct sockaddr_un sa;
        size_t n = strnlen(cmd->addr.path, sizeof cmd->addr.path);
        if (n == 0 || n >= sizeof sa.sun_path) {
            record_error(p, cmd->channel, "path too long for a Unix socket");
            (void)tl_engine_listen_result(p->eng, cmd->channel, TL_STATUS_INVALID_ADDRESS);
            return;
        }
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        memcpy(sa.sun_path, cmd->addr.path, n);
        path = strdup(cmd->addr.path);
        if (path == NULL) {
            (void)tl_engine_listen_result(p->eng, cmd->channel, TL_STATUS_ALLOCATION_FAILED);
            return;
        }
        (void)unlink(path); /* 4.3: any existing file at the path goes first */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
        } else if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        } else if (listen(fd, POSIX_LISTEN_BACKLOG) != 0) {
            err = errno;
            close(fd);
            fd = -1;
            unlink(path);
        }
        if (fd < 0) {
            free(path);
            path = NULL;
        }
    } else {
        status = TL_STATUS_INVALID_ADDRESS;
    }
    if (fd < 0) {
        if (err != 0) {
            record_errno(p, cmd->channel, err);
        }
        (void)tl_engine_listen_result(p->eng, cmd->channel, status);
        return;
    }
    posix_conn *c = conn_new(p, fd, cmd->channel, cmd->addr.kind);
    if (c == NULL) {
        close(fd);
        if (path != NULL) {
            unlink(path);
            free(path);
        }
        (void)tl_engine_listen_result(p->eng, cmd->channel, TL_STATUS_ALLOCATION_FAILED);
        return;
    }
    c->listener = 1;
    c->port = port;
    c->path = path;
    conn_set_interest(p, c, EPOLLIN);
    if (tl_engine_listen_result(p->eng, cmd->channel, TL_STATUS_SUCCESS) != TL_OK) {
        conn_close(p, c, 1);
    }
}

static void do_connect(tl_posix *p, const tl_command *cmd)
{
    int fd = -1;
    int rc;
    int err;

    if (p->conns[cmd->channel] != NULL) {
        (void)tl_engine_connect_result(p->eng, cmd->channel, TL_STATUS_INVALID_CHANNEL_NUMBER, 1);
        return;
    }
    if (cmd->addr.kind == TL_ADDR_TCP) {
        struct addrinfo hints, *res = NULL;
        char service[8];
        if (cmd->addr.port == 0) {
            (void)tl_engine_connect_result(p->eng, cmd->channel, TL_STATUS_INVALID_ADDRESS, 1);
            return;
        }
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        snprintf(service, sizeof service, "%u", (unsigned)cmd->addr.port);
        int gai = getaddrinfo(cmd->addr.host, service, &hints, &res);
        if (gai != 0 || res == NULL) {
            record_error(p, cmd->channel, gai != 0 ? gai_strerror(gai) : "no address found");
            (void)tl_engine_connect_result(p->eng, cmd->channel, TL_STATUS_INVALID_ADDRESS, 1);
            return;
        }
        /* 4.3: the first result is used. */
        fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
        if (fd < 0) {
            record_errno(p, cmd->channel, errno);
            freeaddrinfo(res);
            (void)tl_engine_connect_result(p->eng, cmd->channel, TL_STATUS_COMMUNICATION_FAILED, 1);
            return;
        }
        set_nodelay(fd);
        set_linger(fd, 1);
        rc = connect(fd, res->ai_addr, res->ai_addrlen);
        err = errno;
        freeaddrinfo(res);
    } else if (cmd->addr.kind == TL_ADDR_UDS) {
        struct sockaddr_un sa;
        size_t n = strnlen(cmd->addr.path, sizeof cmd->addr.path);
        if (n == 0 || n >= sizeof sa.sun_path) {
            (void)tl_engine_connect_result(p->eng, cmd->channel, TL_STATUS_INVALID_ADDRESS, 1);
            return;
        }
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        memcpy(sa.sun_path, cmd->addr.path, n);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            record_errno(p, cmd->channel, errno);
            (void)tl_engine_connect_result(p->eng, cmd->channel, TL_STATUS_COMMUNICATION_FAILED, 1);
            return;
        }
        set_linger(fd, 1);
        rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
        err = errno;
    } else {
        (void)tl_engine_connect_result(p->eng, cmd->channel, TL_STATUS_INVALID_ADDRESS, 1);
        return;
    }

    if (rc != 0 && err != EINPROGRESS && err != EINTR) {
        /* A10: an immediate failure comes back as HelloResponse. */
        tl_status st = TL_STATUS_COMMUNICATION_FAILED;
        if (cmd->addr.kind == TL_ADDR_UDS && (err == ENOENT || err == ENOTDIR)) {
            st = TL_STATUS_UDS_PATH_NOT_FOUND;
        }
        close(fd);
        record_errno(p, cmd->channel, err);
        (void)tl_engine_connect_result(p->eng, cmd->channel, st, 1);
        return;
    }
    posix_conn *c = conn_new(p, fd, cmd->channel, cmd->addr.kind);
    if (c == NULL) {
        close(fd);
        (void)tl_engine_connect_result(p->eng, cmd->channel, TL_STATUS_ALLOCATION_FAILED, 1);
        return;
    }
    if (rc != 0) {
        /* EINPROGRESS (or an interrupted connect, which completes alone):
         * writability tells the outcome (6.4 step 3). */
        c->connecting = 1;
        conn_set_interest(p, c, EPOLLOUT);
        return;
    }
    if (tl_engine_connect_result(p->eng, cmd->channel, TL_STATUS_SUCCESS, 0) != TL_OK) {
        conn_close(p, c, 1);
        return;
    }
    conn_set_interest(p, c, 0);
    mark_dirty(p, c);
}

static void do_command(tl_posix *p, const tl_command *cmd)
{
    posix_conn *c = p->conns[cmd->channel];
    switch (cmd->kind) {
    case TL_CMD_LISTEN: do_listen(p, cmd); break;
    case TL_CMD_CONNECT: do_connect(p, cmd); break;
    case TL_CMD_CLOSE:
        if (c != NULL) {
            conn_close(p, c, cmd->reset);
        }
        break;
    case TL_CMD_IO:
        if (c != NULL) {
            mark_dirty(p, c);
        }
        break;
    default: break;
    }
}

/* Execute every queued command and settle every dirty channel, until the core
 * has nothing more for the host. */
static void reactor_settle(tl_posix *p)
{
    tl_command cmd;
    p->flush_held = 0;
    p->tail_pending = 0;
    for (;;) {
        while (tl_engine_next_command(p->eng, &cmd)) {
            do_command(p, &cmd);
        }
        if (p->ndirty == 0) {
            break;
        }
        for (size_t i = 0; i < p->ndirty; i++) {
            posix_conn *c = p->conns[p->dirty[i]];
            if (c != NULL && c->dirty) {
                c->dirty = 0;
                conn_settle(p, c);
            }
        }
        p->ndirty = 0;
    }
}

/* -------------------------------------------------------------- events */

/* Refuse an accepted connection at once: a plain close (FIN; RST if it had
 * already sent bytes), counted and logged by the caller. */
static void refuse(int fd) { close(fd); }

/* accept4 failed with EMFILE / ENFILE: the listener stays readable, so
 * without a descriptor the reactor would spin and the client would wait in
 * the backlog. Give up the spare descriptor, accept and close the client,
 * take the spare back. Returns 1 when a connection was refused that way. */
static int refuse_without_descriptor(tl_posix *p, posix_conn *l, int err)
{
    int fd = -1;
    if (p->spare_fd >= 0) {
        close(p->spare_fd);
        p->spare_fd = -1;
        fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            char who[160];
            describe_fd(fd, l->kind, who, sizeof who);
            refuse(fd);
            p->hstats.refused_no_descriptor++;
            host_log(p, "connection from %s refused: no file descriptor left (%s)", who, strerror(err));
        }
        p->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0 && p->spare_fd < 0) {
        /* Not even the spare: rest the listeners briefly instead of spinning. */
        p->accept_resume_at = now_ns() + POSIX_ACCEPT_BACKOFF_NS;
        for (uint32_t ch = 0; ch < POSIX_CHANNELS; ch++) {
            posix_conn *c = p->conns[ch];
            if (c != NULL && c->listener && !c->finished) {
                conn_set_interest(p, c, 0);
            }
        }
        p->hstats.refused_no_descriptor++;
        host_log(p, "listeners pause for %u ms: no file descriptor left (%s)",
                 (unsigned)(POSIX_ACCEPT_BACKOFF_NS / 1000000u), strerror(err));
        return 0;
    }
    return fd >= 0;
}

static void on_accept(tl_posix *p, posix_conn *l, uint32_t events)
{
    if (events & EPOLLERR) {
        /* 6.3 step 5: a poller error closes the listener. */
        l->finished = 1;
        conn_deregister(p, l);
        (void)tl_engine_transport_closed(p->eng, l->channel,
                                         (events & EPOLLIN) ? TL_STATUS_ACCEPT_FAILED
                                                            : TL_STATUS_COMMUNICATION_FAILED);
        return;
    }
    for (int i = 0; i < POSIX_ACCEPTS_PER_EVENT; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EINTR || err == ECONNABORTED) {
                continue;
            }
            if ((err == EMFILE || err == ENFILE) && refuse_without_descriptor(p, l, err)) {
                continue;
            }
            if (err != EAGAIN && err != EWOULDBLOCK && err != EMFILE && err != ENFILE) {
                p->hstats.accept_errors++; /* ignored, as tofu does (6.3) */
            }
            return;
        }
        if (p->popt.max_connections != 0 && p->hstats.connections_now >= p->popt.max_connections) {
            char who[160];
            describe_fd(fd, l->kind, who, sizeof who);
            refuse(fd);
            p->hstats.refused_max_connections++;
            host_log(p, "connection from %s refused: %u connections open, the most allowed (max-connections)",
                     who, (unsigned)p->hstats.connections_now);
            continue;
        }
        set_linger(fd, 1); /* 6.3 step 6 */
        if (l->kind == TL_ADDR_TCP) {
            set_nodelay(fd);
        }
        uint16_t ch = 0;
        int rc = tl_engine_accepted(p->eng, l->channel, &ch);
        if (rc != TL_OK) {
            char who[160];
            describe_fd(fd, l->kind, who, sizeof who);
            close(fd);
            p->hstats.refused_max_connections++;
            host_log(p, "connection from %s refused: the engine has no channel for it (%s)", who,
                     tl_strerror(rc));
            continue;
        }
        if (p->conns[ch] != NULL) {
            conn_close(p, p->conns[ch], 1); /* a stale socket under a reused number */
        }
        posix_conn *c = conn_new(p, fd, ch, l->kind);
        if (c == NULL) {
            close(fd);
            (void)tl_engine_transport_closed(p->eng, ch, TL_STATUS_ALLOCATION_FAILED);
            continue;
        }
        c->accepted = 1;
        p->hstats.accepted++;
        if (++p->hstats.connections_now > p->hstats.connections_peak) {
            p->hstats.connections_peak = p->hstats.connections_now;
        }
        conn_set_interest(p, c, 0);
        mark_dirty(p, c);
    }
}

static void on_connected(tl_posix *p, posix_conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    c->connecting = 0;
    if (err == 0) {
        conn_set_interest(p, c, 0);
        mark_dirty(p, c);
        if (tl_engine_connect_result(p->eng, c->channel, TL_STATUS_SUCCESS, 0) != TL_OK) {
            c->finished = 1;
            conn_deregister(p, c);
        }
        return;
    }
    /* A10: a failure seen by the poller returns the HelloRequest (connect_failed). */
    record_errno(p, c->channel, err);
    c->finished = 1;
    conn_deregister(p, c);
    (void)tl_engine_connect_result(p->eng, c->channel, TL_STATUS_CONNECT_FAILED, 0);
}

static void on_event(tl_posix *p, const struct epoll_event *ev)
{
    if (ev->data.u64 == POSIX_TAIL_TAG) {
        uint64_t v;
        while (read(p->timerfd, &v, sizeof v) < 0 && errno == EINTR) {
        }
        return; /* the leader settles after every event: the tail leaves */
    }
    if (ev->data.u64 == POSIX_WAKE_TAG) {
        uint64_t v;
        while (read(p->wakefd, &v, sizeof v) < 0 && errno == EINTR) {
        }
        p->kick_pending = 0; /* read under the lock: the next kick writes again */
        return;
    }
    uint16_t ch = (uint16_t)(ev->data.u64 & 0xFFFFu);
    uint32_t gen = (uint32_t)(ev->data.u64 >> 16);
    posix_conn *c = p->conns[ch];
    if (c == NULL || c->gen != gen || c->finished) {
        return; /* closed since the event was reported */
    }
    if (c->listener) {
        on_accept(p, c, ev->events);
        return;
    }
    if (c->connecting) {
        on_connected(p, c);
        return;
    }
    if (ev->events & (EPOLLERR | EPOLLHUP)) {
        conn_hangup(p, c);
        return;
    }
    if (ev->events & EPOLLOUT) {
        c->wblocked = 0;
    }
    if (ev->events & EPOLLIN) {
        conn_read(p, c);
    }
    if (!c->finished) {
        mark_dirty(p, c); /* flush on EPOLLOUT, recompute the interest */
    }
}

/* The epoll timeout at now: the host's next deadline (timers, listeners at
 * rest) or until, whichever comes first; at most POSIX_MAX_WAIT_MS. */
static int wait_timeout_ms(tl_posix *p, uint64_t now, uint64_t until)
{
    uint64_t deadline = tl_engine_next_deadline(p->eng);
    if (p->accept_resume_at != 0 && p->accept_resume_at < deadline) {
        deadline = p->accept_resume_at;
    }
    if (until < deadline) {
        deadline = until;
    }
    if (deadline == UINT64_MAX) {
        return POSIX_MAX_WAIT_MS;
    }
    if (deadline <= now) {
        return 0;
    }
    uint64_t ms = (deadline - now + 999999u) / 1000000u;
    return ms > POSIX_MAX_WAIT_MS ? POSIX_MAX_WAIT_MS : (int)ms;
}

/* Listeners rested for want of descriptors (refuse_without_descriptor) take
 * connections again. */
static void resume_listeners(tl_posix *p, uint64_t now)
{
    if (p->accept_resume_at == 0 || now < p->accept_resume_at) {
        return;
    }
    p->accept_resume_at = 0;
    if (p->spare_fd < 0) {
        p->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    for (uint32_t ch = 0; ch < POSIX_CHANNELS; ch++) {
        posix_conn *c = p->conns[ch];
        if (c != NULL && c->listener && !c->finished) {
            conn_set_interest(p, c, EPOLLIN);
        }
    }
}

/* The busy-polling budget from tl_posix_options.spin_ns: 0 = the default,
 * TL_POSIX_SPIN_OFF = none, at most POSIX_SPIN_MAX_NS; none for a process
 * that may run on one CPU only (a spinning thread would only keep the peer
 * it waits for off the processor). */
static uint64_t spin_budget(uint64_t opt)
{
    cpu_set_t set;
    if (opt == TL_POSIX_SPIN_OFF) {
        return 0;
    }
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < 2) {
        return 0;
    }
    uint64_t ns = opt == 0 ? TL_POSIX_SPIN_DEFAULT_NS : opt;
    return ns > POSIX_SPIN_MAX_NS ? POSIX_SPIN_MAX_NS : ns;
}

/* Poll without sleeping for up to budget ns (without the lock): the events
 * found, 0 when none came (or on an error: the sleeping wait reports it). A
 * clock that stands still (libfaketime) cannot keep it going: at most one
 * poll per 64 ns of the budget. Between polls the thread yields its CPU to
 * any thread ready to run there (on two CPUs a stream's writer and a
 * reactor need one now and then: a spinning reader that kept its CPU took the
 * 64 KiB UDS stream from 3.7 to 2.6-3.0 GB/s; yielding, 4.1-4.3). */
static int busy_poll(tl_posix *p, struct epoll_event *evs, uint64_t budget)
{
    uint64_t start = now_ns();
    for (uint64_t i = 0;; i++) {
        int n = epoll_wait(p->epfd, evs, POSIX_EVENTS, 0);
        if (n != 0) {
            return n > 0 ? n : 0;
        }
        if (now_ns() - start >= budget || i >= budget / 64) {
            return 0;
        }
        sched_yield();
    }
}

/* One turn of whoever leads (under the lock, which epoll_wait runs without):
 * settle queued work, wait for events (until the host's next deadline or
 * until, at most POSIX_MAX_WAIT_MS; now is the caller's current time), then
 * tick and handle the events. The wake-up eventfd is read in on_event.
 * Returns the time after the wait (now when it did not wait). */
static uint64_t host_poll(tl_posix *p, uint64_t now, uint64_t until)
{
    struct epoll_event evs[POSIX_EVENTS];
    p->lead_delivered = 0;
    reactor_settle(p);
    p->work_pending = 0; /* the leader settles its own work before sleeping */
    if (p->lead_delivered) {
        return now; /* settling delivered what the leading thread waits for */
    }
    int timeout_ms = wait_timeout_ms(p, now, until);
    p->poll_wake_at = now + (uint64_t)timeout_ms * 1000000u;
    p->polling = 1;
    /* An application thread about to sleep busy-polls first (spin_budget)
     * when a message is due: the host posted since the application last
     * received (an answer: request/response), or the application's last
     * wait returned a message (they flow: a stream's reader; asleep, it
     * would be woken per chunk of the stream, and on a VM each wake-up
     * costs the writer tens of microseconds inside its sendmsg) - unless
     * earlier polls found nothing (adaptive back-off). */
    uint64_t spin = 0;
    int due = p->posts_since_receive > 0 || p->received_last;
    if (p->leader == LEAD_APP && p->spin_ns > 0 && timeout_ms > 0 && due) {
        if (p->spin_skip > 0) {
            p->spin_skip--;
        } else {
            spin = p->spin_ns;
            if (until != UINT64_MAX && until - now < spin) {
                spin = until > now ? until - now : 0;
            }
        }
    }
    pthread_mutex_unlock(&p->mu);
    int n = spin > 0 ? busy_poll(p, evs, spin) : 0;
    int hit = n > 0;
    if (n == 0) {
        n = epoll_wait(p->epfd, evs, POSIX_EVENTS, timeout_ms);
    }
    pthread_mutex_lock(&p->mu);
    p->polling = 0;
    if (spin > 0) {
        p->hstats.busy_polls++;
        if (hit) {
            p->hstats.busy_poll_hits++;
            p->spin_fails = 0;
        } else {
            /* A miss or two in a row is the peer busy for once; from the third
             * on the next 1, 3, 7 ... POSIX_SPIN_SKIP_MAX waits sleep at once. */
            p->spin_fails += p->spin_fails < 8;
            p->spin_skip = p->spin_fails < 3 ? 0 : (1u << (p->spin_fails - 2)) - 1;
            if (p->spin_skip > POSIX_SPIN_SKIP_MAX) {
                p->spin_skip = POSIX_SPIN_SKIP_MAX;
            }
        }
    }
    /* Fresh time before any call that may start a timer (output_done
     * starts the A3 grace timer from the core's last known time). */
    now = now_ns();
    tl_engine_tick(p->eng, now); /* timers (protection options) close channels here */
    resume_listeners(p, now);
    for (int i = 0; i < n && !p->shutdown; i++) {
        on_event(p, &evs[i]);
        reactor_settle(p);
    }
    reactor_settle(p);
    return now;
}

/* The reactor thread: it leads whenever no application thread does, except
 * right after one stopped leading: that thread is usually back within
 * microseconds (it posts its request and waits again), so the reactor stands
 * by for POSIX_STANDBY_NS first and takes over only if nobody came back, or
 * at once when there is host work and nobody polls (want_poller), or when
 * several application threads wait (they follow it, as in a plain reactor). */
static void *reactor_main(void *arg)
{
    tl_posix *p = arg;
    pthread_mutex_lock(&p->mu);
    tl_engine_tick(p->eng, now_ns());
    while (!p->shutdown) {
        uint64_t now = now_ns();
        int app_back_soon = p->app_left_at != 0 && now - p->app_left_at < POSIX_STANDBY_NS;
        if (p->leader == LEAD_APP || (p->leader == LEAD_NONE && !p->reactor_wanted && app_back_soon)) {
            /* While an application thread leads there is nothing to do: look
             * again now and then (it may leave and not come back). */
            uint64_t until =
                p->leader == LEAD_APP ? now + POSIX_STANDBY_LEAD_NS : p->app_left_at + POSIX_STANDBY_NS;
            uint64_t deadline = tl_engine_next_deadline(p->eng);
            struct timespec ts;
            if (p->leader == LEAD_NONE && deadline < until) {
                until = deadline; /* a timer is due before the application is expected back */
            }
            ts.tv_sec = (time_t)(until / 1000000000ull);
            ts.tv_nsec = (long)(until % 1000000000ull);
            p->reactor_parked = 1;
            p->hstats.reactor_standbys++;
            (void)pthread_cond_timedwait(&p->reactor_cv, &p->mu, &ts);
            p->reactor_parked = 0;
            if (p->leader == LEAD_NONE &&
                (p->flush_held || p->tail_pending || tl_engine_next_deadline(p->eng) <= now_ns())) {
                p->reactor_wanted = 1; /* a timer is due, or replies held by tl_posix_post wait */
            }
            continue;
        }
        p->reactor_wanted = 0;
        p->leader = LEAD_REACTOR;
        p->hstats.polls_by_reactor++;
        (void)host_poll(p, now, UINT64_MAX);
        p->leader = LEAD_NONE;
        if (p->lead_wanted) {
            /* The one waiting application thread asked for the lead: hand it
             * over and stand by. */
            posix_group *g = group_find(p, p->lead_wanted_group);
            p->lead_wanted = 0;
            p->app_left_at = now_ns();
            if (g != NULL) {
                pthread_cond_broadcast(&g->cv);
            }
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---------------------------------------------------------- public API */

static void posix_free(tl_posix *p)
{
    if (p->eng != NULL) {
        tl_engine_destroy(p->eng);
    }
    while (p->groups != NULL) {
        group_unlink_free(p, p->groups);
    }
    if (p->epfd >= 0) {
        close(p->epfd);
    }
    if (p->wakefd >= 0) {
        close(p->wakefd);
    }
    if (p->timerfd >= 0) {
        close(p->timerfd);
    }
    if (p->spare_fd >= 0) {
        close(p->spare_fd);
    }
    pthread_cond_destroy(&p->idle_cv);
    pthread_cond_destroy(&p->reactor_cv);
    pthread_mutex_destroy(&p->mu);
    free(p->conns);
    free(p->dirty);
    free(p->rbuf);
    free(p->iov);
    free(p->iovec);
    free(p->wbuf);
    free(p);
}

int tl_posix_create(const tl_engine_options *opt, tl_posix **out)
{
    return tl_posix_create_ex(opt, NULL, out);
}

int tl_posix_create_ex(const tl_engine_options *opt, const tl_posix_options *popt, tl_posix **out)
{
    tl_engine_options o;
    struct epoll_event ev;
    sigset_t all, old;
    int rc;

    if (out == NULL) {
        return TL_E_INVAL;
    }
    *out = NULL;
    tl_posix *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return TL_E_NOMEM;
    }
    p->epfd = -1;
    p->wakefd = -1;
    p->timerfd = -1;
    p->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (popt != NULL) {
        p->popt = *popt;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->idle_cv, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* timed waits on now_ns() deadlines */
        pthread_cond_init(&p->reactor_cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    p->conns = calloc(POSIX_CHANNELS, sizeof *p->conns);
    p->dirty = malloc(POSIX_CHANNELS * sizeof *p->dirty);
    p->rbuf = malloc(POSIX_READ_BUF);
    p->iov = malloc(POSIX_IOV_MAX * sizeof *p->iov);
    p->iovec = malloc(POSIX_IOV_MAX * sizeof *p->iovec);
    p->wbuf = malloc(POSIX_WBUF);
    if (p->conns == NULL || p->dirty == NULL || p->rbuf == NULL || p->iov == NULL || p->iovec == NULL ||
        p->wbuf == NULL) {
        posix_free(p);
        return TL_E_NOMEM;
    }
    p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->wakefd < 0 || p->timerfd < 0 || p->epfd < 0) {
        posix_free(p);
        return TL_E_IO;
    }
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = POSIX_WAKE_TAG;
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &ev) != 0) {
        posix_free(p);
        return TL_E_IO;
    }
    ev.data.u64 = POSIX_TAIL_TAG;
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->timerfd, &ev) != 0) {
        posix_free(p);
        return TL_E_IO;
    }
    p->spin_ns = spin_budget(p->popt.spin_ns);

    if (opt != NULL) {
        o = *opt;
    } else {
        memset(&o, 0, sizeof o);
    }
    if (o.seed == 0) {
        o.seed = random_seed();
    }
    o.on_host_work = on_host_work;
    o.on_deliver = on_deliver;
    o.on_violation = on_violation;
    o.cb_ctx = p;
    rc = tl_engine_create(&o, &p->eng);
    if (rc != TL_OK) {
        p->eng = NULL;
        posix_free(p);
        return rc;
    }

    /* The reactor takes no process signals. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&p->thread, NULL, reactor_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        posix_free(p);
        return rc == EAGAIN ? TL_E_NOMEM : TL_E_IO;
    }
    p->thread_started = 1;
    *out = p;
    return TL_OK;
}

void tl_posix_destroy(tl_posix *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->shutdown = 1;
    for (posix_group *g = p->groups; g != NULL; g = g->next) {
        pthread_cond_broadcast(&g->cv);
    }
    pthread_cond_signal(&p->reactor_cv);
    pthread_mutex_unlock(&p->mu);
    wake_reactor(p); /* whoever is inside epoll_wait, the reactor or an application leader */
    if (p->thread_started) {
        pthread_join(p->thread, NULL);
        p->thread_started = 0;
    }

    pthread_mutex_lock(&p->mu);
    /* Waiters woken above return TL_E_CLOSED; the last one signals. An
     * application leader is out of epoll_wait before the sockets close. */
    while (p->waiters > 0) {
        pthread_cond_wait(&p->idle_cv, &p->mu);
    }
    /* 6.13: every socket closed with RST; UDS listener paths removed. */
    for (uint32_t ch = 0; ch < POSIX_CHANNELS; ch++) {
        if (p->conns[ch] != NULL) {
            conn_close(p, p->conns[ch], 1);
        }
    }
    pthread_mutex_unlock(&p->mu);
    posix_free(p);
}

int tl_posix_get(tl_posix *p, tl_get_strategy how, tl_message **out)
{
    if (p == NULL || out == NULL) {
        return TL_E_INVAL;
    }
    pthread_mutex_lock(&p->mu);
    int rc = tl_engine_get(p->eng, how, out);
    unlock_and_kick(p);
    return rc;
}

void tl_posix_put(tl_posix *p, tl_message **msg)
{
    if (p == NULL || msg == NULL || *msg == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    tl_engine_put(p->eng, msg); /* may end a pool starvation: reading resumes (6.10) */
    unlock_and_kick(p);
}

int tl_posix_group_create(tl_posix *p, uint32_t *group)
{
    pthread_condattr_t ca;
    if (p == NULL || group == NULL) {
        return TL_E_INVAL;
    }
    posix_group *g = calloc(1, sizeof *g);
    if (g == NULL) {
        return TL_E_NOMEM;
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        free(g);
        return TL_E_NOMEM;
    }
    pthread_mutex_lock(&p->mu);
    if (p->shutdown) {
        pthread_mutex_unlock(&p->mu);
        pthread_cond_destroy(&g->cv);
        free(g);
        return TL_E_CLOSED;
    }
    rc = tl_engine_group_create(p->eng, group);
    if (rc == TL_OK) {
        g->id = *group;
        g->next = p->groups;
        p->groups = g;
        g = NULL;
    }
    unlock_and_kick(p);
    if (g != NULL) {
        pthread_cond_destroy(&g->cv);
        free(g);
    }
    return rc;
}

int tl_posix_group_destroy(tl_posix *p, uint32_t group)
{
    if (p == NULL) {
        return TL_E_INVAL;
    }
    pthread_mutex_lock(&p->mu);
    /* 6.13: the group's channels are closed with RST (CLOSE commands). */
    int rc = tl_engine_group_destroy(p->eng, group);
    posix_group *g = group_find(p, group);
    if (g != NULL) {
        g->dead = 1;
        if (g->refs == 0) {
            group_unlink_free(p, g);
        } else {
            pthread_cond_broadcast(&g->cv); /* its waiters return TL_E_CLOSED */
        }
    }
    unlock_and_kick(p);
    return rc;
}

int tl_posix_post(tl_posix *p, uint32_t group, tl_message **msg, tl_post_out *out)
{
    if (p == NULL) {
        return TL_E_INVAL;
    }
    pthread_mutex_lock(&p->mu);
    if (p->shutdown) {
        pthread_mutex_unlock(&p->mu);
        if (out != NULL) {
            memset(out, 0, sizeof *out);
            out->status = TL_STATUS_NOTIFICATION_DISABLED;
        }
        return TL_E_CLOSED;
    }
    /* The core dates timers it starts at post (A21 connect timeout) from its
     * last tick: give it the time first (only those posts start one). */
    unsigned op = (msg != NULL && *msg != NULL) ? tl_proto_opcode((*msg)->hdr.proto) : 0;
    uint16_t chn = (msg != NULL && *msg != NULL) ? (*msg)->hdr.channel : 0;
    size_t bytes = (msg != NULL && *msg != NULL) ? TL_HEADER_SIZE + (*msg)->text.len + (*msg)->body.len : 0;
    if (op == TL_OP_HELLO_REQUEST || op == TL_OP_WELCOME_REQUEST) {
        tl_engine_tick(p->eng, now_ns());
    }
    int rc = tl_engine_post(p->eng, group, msg, out);
    uint64_t nth = rc == TL_OK ? p->posts_since_receive++ : 1;
    int data = op == TL_OP_REQUEST || op == TL_OP_RESPONSE || op == TL_OP_SIGNAL;
    posix_conn *c = rc == TL_OK && data ? p->conns[chn] : NULL;
    int over = 0; /* enough bytes for one connection to be written now */
    if (c != NULL && !c->listener) {
        c->posted += bytes;
        over = c->posted >= (c->kind == TL_ADDR_UDS ? POSIX_POST_BYTES_UDS : POSIX_POST_BYTES_TCP);
    }
    /* Work the core queued earlier and nobody has done yet (a post queues
     * the channel's IO command once: later posts find it queued). */
    int queued = p->work_pending || p->flush_held || p->tail_pending;
    if (rc == TL_OK && data && nth == 0 && queued && p->leader == LEAD_NONE &&
        tl_engine_pending(p->eng, group) > 0) {
        /* A reply while its group has more received messages waiting: the
         * application is back at once for the next one and posts again; the
         * frames leave together with the last reply's (one write). Nobody
         * leads, so nobody is woken for it: the next post after the group's
         * last message, any wait_receive before it sleeps, or the reactor
         * after its stand-by (at most POSIX_STANDBY_LEAD_NS) writes them.
         * Only data: commands (connect, listen, close) are never held. */
        p->flush_held = 1;
        p->work_pending = 0;
    } else if (rc == TL_OK &&
               ((nth == 0 && queued) || (queued && over) || nth % POSIX_POST_BATCH == POSIX_POST_BATCH - 1)) {
        uint64_t t = now_ns();
        tl_engine_tick(p->eng, t); /* output_done may start the A3 grace timer */
        if (nth > 0 && p->run_write_at != 0 && t - p->run_write_at < POSIX_TAIL_MAX_NS) {
            p->run_gap_ns = (3 * p->run_gap_ns + (t - p->run_write_at)) / 4;
        }
        p->run_write_at = t;
        /* The first post after a receive (request/response): do the host's
         * work on this thread, so the frame leaves now instead of after a
         * reactor wake-up. Back-to-back posts (streaming) leave it to the
         * reactor, which batches them into one sendmsg - and every
         * POSIX_POST_BATCH-th of them writes here too: the frames leave
         * while they are in this thread's cache, the send queue stays short
         * and its messages are back in the pool for the next get (no
         * malloc/free churn). A connection whose kernel buffer is full
         * (wblocked) waits for the leader's EPOLLOUT instead. */
        reactor_settle(p);
        /* Whoever polls next computes its timeout afresh; a leader inside
         * epoll_wait is woken only when a timer is now due before it wakes. */
        p->work_pending = p->polling && tl_engine_next_deadline(p->eng) < p->poll_wake_at;
    } else if (rc == TL_OK && data && p->work_pending && p->polling && nth >= POSIX_POST_BATCH) {
        /* Deep in a long run of back-to-back posts (a stream) while a leader
         * sleeps in epoll_wait: this thread writes at the next batch
         * boundary, so the leader is not woken for the frames (a wake-up
         * per batch cost a 64-byte stream half its rate: lock hand-offs and
         * context switches). Should the run end first, the tail timer wakes
         * the leader within twice the time between the run's batches
         * (POSIX_TAIL_MIN_NS..POSIX_TAIL_MAX_NS); a wait_receive writes the
         * tail before it sleeps. */
        p->work_pending = 0;
        if (!p->tail_pending) {
            p->tail_pending = 1;
            p->tail_arm_due = 1;
        }
    }
    unlock_and_kick(p); /* the core queued work for the reactor: wake it */
    return rc;
}

/* Blocking receive (6.11) without a hand-off: while nobody drives the
 * sockets the waiting thread does (it leads), so the frame it waits for is
 * read, delivered and returned on this thread; meanwhile frames for other
 * groups are delivered to their waiters as the reactor would. With another
 * leader the thread follows: it sleeps on its group's condition variable
 * until a message is delivered to it, and asks the reactor for the lead when
 * it is the only thread waiting. */
int tl_posix_wait_receive(tl_posix *p, uint32_t group, uint64_t timeout_ns, tl_message **out)
{
    int infinite = timeout_ns == TL_WAIT_INFINITE || timeout_ns / 1000000000ull > (uint64_t)INT32_MAX;
    uint64_t deadline_ns = UINT64_MAX;
    uint64_t now = 0; /* read when first needed: a message already waiting costs no clock read */
    int led = 0;
    int rc;

    if (p == NULL || out == NULL) {
        return TL_E_INVAL;
    }
    *out = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->shutdown) {
        pthread_mutex_unlock(&p->mu);
        return TL_E_CLOSED;
    }
    rc = tl_engine_receive(p->eng, group, out);
    posix_group *g = group_find(p, group);
    if (rc == TL_OK) {
        p->posts_since_receive = 0;
        p->received_last = 1;
    }
    if (rc != TL_E_AGAIN || timeout_ns == 0 || g == NULL) {
        unlock_and_kick(p);
        return rc == TL_E_AGAIN ? TL_E_TIMEOUT : rc;
    }
    g->refs++;
    p->waiters++;
    now = now_ns();
    if (!infinite) {
        deadline_ns = now + timeout_ns;
    }
    for (;;) {
        if (p->leader == LEAD_NONE && p->waiters == 1) {
            /* Lead: drive the sockets on this thread. */
            p->leader = LEAD_APP;
            p->lead_group = group;
            p->hstats.polls_by_application++;
            led = 1;
            now = host_poll(p, now, deadline_ns);
            p->leader = LEAD_NONE;
        } else {
            /* Follow. Alone behind the reactor: ask it for the lead (it hands
             * over after its current turn and broadcasts this group). */
            int unlocked = 0;
            if (p->leader == LEAD_REACTOR && p->waiters == 1 && !p->lead_wanted) {
                p->lead_wanted = 1;
                p->lead_wanted_group = group;
                if (p->polling && !p->kick_pending) {
                    p->kick_pending = 1;
                    pthread_mutex_unlock(&p->mu);
                    wake_reactor(p);
                    pthread_mutex_lock(&p->mu);
                    unlocked = 1;
                }
            } else if (p->leader == LEAD_NONE) {
                /* Several waiters: the reactor leads for them all. */
                p->reactor_wanted = 1;
                if (p->reactor_parked) {
                    pthread_cond_signal(&p->reactor_cv);
                }
            }
            if (!unlocked) {
                if (p->flush_held || p->tail_pending) {
                    reactor_settle(p); /* held replies and a run's tail leave before this thread sleeps */
                    p->work_pending = 0;
                }
                if (deadline_ns == UINT64_MAX) {
                    pthread_cond_wait(&g->cv, &p->mu);
                } else {
                    struct timespec ts;
                    ts.tv_sec = (time_t)(deadline_ns / 1000000000ull);
                    ts.tv_nsec = (long)(deadline_ns % 1000000000ull);
                    (void)pthread_cond_timedwait(&g->cv, &p->mu, &ts);
                }
            }
            now = now_ns();
        }
        if (p->shutdown || g->dead) {
            rc = TL_E_CLOSED; /* tofu's ShutdownStarted (6.11, 6.13) */
            break;
        }
        rc = tl_engine_receive(p->eng, group, out);
        if (rc != TL_E_AGAIN) {
            break;
        }
        if (deadline_ns != UINT64_MAX && now >= deadline_ns) {
            rc = TL_E_TIMEOUT;
            break;
        }
    }
    if (rc == TL_OK) {
        p->posts_since_receive = 0;
    }
    p->received_last = rc == TL_OK;
    if (led) {
        p->app_left_at = now;
    }
    g->refs--;
    p->waiters--;
    if (g->dead && g->refs == 0) {
        group_unlink_free(p, g);
    }
    if (p->shutdown) {
        /* destroy frees p once the last waiter is out: touch nothing after unlocking */
        if (p->waiters == 0) {
            pthread_cond_broadcast(&p->idle_cv);
        }
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    if (p->waiters > 0 && p->leader == LEAD_NONE) {
        /* Others still wait and nobody leads: the reactor does, now. */
        p->reactor_wanted = 1;
        if (p->reactor_parked) {
            pthread_cond_signal(&p->reactor_cv);
        }
    }
    unlock_and_kick(p);
    return rc;
}

int tl_posix_update_receiver(tl_posix *p, uint32_t group, tl_message **msg)
{
    if (p == NULL) {
        return TL_E_INVAL;
    }
    pthread_mutex_lock(&p->mu);
    if (p->shutdown) {
        pthread_mutex_unlock(&p->mu);
        return TL_E_CLOSED;
    }
    int rc = tl_engine_update_receiver(p->eng, group, msg);
    unlock_and_kick(p);
    return rc;
}

void tl_posix_stats(tl_posix *p, tl_engine_stats *out)
{
    if (p == NULL || out == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    tl_engine_get_stats(p->eng, out);
    pthread_mutex_unlock(&p->mu);
}

uint16_t tl_posix_listener_port(tl_posix *p, uint16_t channel)
{
    uint16_t port = 0;
    if (p == NULL) {
        return 0;
    }
    pthread_mutex_lock(&p->mu);
    posix_conn *c = p->conns[channel];
    if (c != NULL && c->listener && c->kind == TL_ADDR_TCP) {
        port = c->port;
    }
    pthread_mutex_unlock(&p->mu);
    return port;
}

void tl_posix_host_stats_get(tl_posix *p, tl_posix_host_stats *out)
{
    if (p == NULL || out == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    *out = p->hstats;
    pthread_mutex_unlock(&p->mu);
}

int tl_posix_channel_error(tl_posix *p, uint16_t channel, char *buf, size_t cap)
{
    int found = 0;
    if (buf != NULL && cap > 0) {
        buf[0] = '\0';
    }
    if (p == NULL || buf == NULL || cap == 0) {
        return 0;
    }
    pthread_mutex_lock(&p->mu);
    /* newest first: a channel number is not reused for 1024 closes (A6) */
    for (unsigned k = 0; k < POSIX_ERRORS && k < p->errs_next; k++) {
        unsigned i = (p->errs_next - 1 - k) % POSIX_ERRORS;
        if (p->errs[i].channel == channel) {
            snprintf(buf, cap, "%s", p->errs[i].text);
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return found;
}

int tl_posix_peer_name(tl_posix *p, uint16_t channel, char *buf, size_t cap)
{
    int found = 0;
    if (buf != NULL && cap > 0) {
        buf[0] = '\0';
    }
    if (p == NULL || buf == NULL || cap == 0) {
        return 0;
    }
    pthread_mutex_lock(&p->mu);
    posix_conn *c = p->conns[channel];
    if (c != NULL && !c->listener && !c->finished) {
        describe_fd(c->fd, c->kind, buf, cap);
        found = 1;
    }
    pthread_mutex_unlock(&p->mu);
    return found;
}

const char *tl_posix_check(tl_posix *p)
{
    const char *broken;
    if (p == NULL) {
        return "no host";
    }
    pthread_mutex_lock(&p->mu);
    broken = tl_engine_check(p->eng);
    pthread_mutex_unlock(&p->mu);
    return broken;
}
