/*
 * Loopback load and abuse against a `tofulab serve` child process: start and
 * stop it, read its memory and descriptors from /proc, open hostile
 * connections of several kinds, drive well-behaved pipelined echo clients
 * and time a fresh client's echoes. Plain C, no cmocka: linked into the test
 * programs (tests/integration/test_abuse.c) and into tofulab-bench
 * (tests/bench/bench_serve.c). Loopback TCP only; every wait is bounded.
 */
#ifndef TOFULAB_TEST_HOSTILE_H
#define TOFULAB_TEST_HOSTILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the server ---- */

typedef struct {
    pid_t pid;
    int err_fd; /* read end of its stderr */
    char *err;  /* everything it wrote on stderr so far (NUL-terminated) */
    size_t err_len;
    uint16_t port; /* its TCP port on 127.0.0.1 */
    int exit_code; /* after hs_server_stop: exit status, -1 if killed by a signal */
} hs_server;

/* `bin serve --listen tcp|127.0.0.1|0 extra...` (extra NULL-terminated, may
 * be NULL); waits up to timeout_ms for its "listening on" line. 0 on
 * success, -1 otherwise (the child is killed). */
int hs_server_start(hs_server *s, const char *bin, const char *const *extra, int timeout_ms);
/* SIGTERM, wait up to timeout_ms (then SIGKILL), collect stderr; frees. */
int hs_server_stop(hs_server *s, int timeout_ms);
/* Read what it wrote on stderr since (non-blocking, waits up to wait_ms). */
void hs_server_read_err(hs_server *s, int wait_ms);
/* Non-zero while the child has not exited. */
int hs_server_alive(hs_server *s);
/* Occurrences of needle in text. */
size_t hs_count(const char *text, const char *needle);

/* From /proc/PID/status: resident set (VmRSS) or its peak (VmHWM), KiB; -1. */
long hs_rss_kib(pid_t pid, int peak);
/* Open descriptors of a process (/proc/PID/fd), -1 if unknown. */
int hs_fd_count(pid_t pid);

/* ---- connections and frames ---- */

/* Blocking TCP connect to 127.0.0.1:port (SO_RCVTIMEO/SNDTIMEO set to
 * timeout_ms); -1 on failure. */
int hs_connect(uint16_t port, int timeout_ms);
/* Close with RST (SO_LINGER {1, 0}). */
void hs_close_rst(int fd);
int hs_write_all(int fd, const void *data, size_t len);
/* 1 when the peer closed the connection (EOF or reset) within wait_ms, 0 if
 * it is still open (nothing or data arrived). */
int hs_closed_by_peer(int fd, int wait_ms);

/* Encode a frame: proto, message_id, text headers, body of body_len bytes
 * (filled with 'b'). Returns its length, 0 if it does not fit. */
size_t hs_frame(uint8_t *out, size_t cap, uint8_t proto, uint64_t id, const char *text, size_t body_len);
/* EchoClient's HelloRequest (V19 shape) with id. */
size_t hs_hello(uint8_t *out, size_t cap, uint64_t id);

/* ---- a well-behaved client ---- */

/* Connect, HelloRequest, then n Requests one at a time, each reply checked
 * (Response, same id, 16-byte echo body); lat_ns[i] receives each round
 * trip (n entries, may be NULL). 0 when everything came back right, else -1
 * with why[] filled. */
int hs_echo_session(uint16_t port, int n, uint64_t *lat_ns, int timeout_ms, char *why, size_t why_cap);
/* The p-th percentile (0-100) of n values (sorts v). */
uint64_t hs_percentile(uint64_t *v, size_t n, double p);

/* Many pipelined echo clients from one thread: each connects, says Hello,
 * then sends `messages` Requests (ids 1..messages) keeping at most `window`
 * unanswered, and checks every reply: Response, ids in order, the echo body
 * naming that id. */
typedef struct {
    int clients;
    long messages;
    int window;
    int timeout_ms; /* for the whole run */
    /* optional: each reply's round trip, ns (from the request queued to its
     * reply parsed), up to lat_cap of them; lat_count gets how many */
    uint64_t *lat_ns;
    size_t lat_cap;
    size_t lat_count;
    /* results */
    long answered; /* replies checked, over all clients */
    long errors;   /* wrong replies, clients lost */
    double seconds;
    char first_error[200];
} hs_load;

int hs_load_run(uint16_t port, hs_load *l);

/* ---- hostile connections held open ---- */

typedef enum {
    HS_IDLE = 0,        /* connect, send nothing */
    HS_HELLO_IDLE = 1,  /* a complete HelloRequest, then nothing */
    HS_HEADER_PART = 2, /* 10 bytes of a header */
    HS_HEADER_ONLY = 3, /* a header announcing a 65535-byte body, nothing of it */
    HS_BODY_60K = 4,    /* HelloRequest, then 60 KiB of a 64 KiB body */
    HS_GARBAGE = 5      /* an HTTP request (op code 7 ... length nonsense) */
} hs_kind;

/* Open n connections of kind, send their bytes; fds[] gets them (-1 where
 * it failed). Returns how many are open. */
int hs_hostile_open(uint16_t port, hs_kind kind, int n, int *fds);
/* Close them all (RST). */
void hs_hostile_close(int *fds, int n);

/* Slowloris: n connections, each sending a HelloRequest one byte every
 * interval_ms from a thread, until hs_slowloris_stop. */
typedef struct hs_slowloris hs_slowloris;
hs_slowloris *hs_slowloris_start(uint16_t port, int n, int interval_ms);
/* Stop; *closed gets how many the server closed meanwhile. */
void hs_slowloris_stop(hs_slowloris *s, int *closed);

#endif
