/* Loopback load and abuse against a `tofulab serve` child (hostile.h). */
#include "hostile.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <stdatomic.h>
#include <unistd.h>

#include "tofulab/wire.h"

extern char **environ;

static int64_t hs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t hs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void hs_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ the server */

static void err_append(hs_server *s, const char *data, size_t n)
{
    char *nb = realloc(s->err, s->err_len + n + 1);
    if (nb == NULL) {
        return;
    }
    memcpy(nb + s->err_len, data, n);
    s->err_len += n;
    nb[s->err_len] = '\0';
    s->err = nb;
}

void hs_server_read_err(hs_server *s, int wait_ms)
{
    char chunk[8192];
    int64_t deadline = hs_now_ms() + wait_ms;
    while (s->err_fd >= 0) {
        struct pollfd pf = {s->err_fd, POLLIN, 0};
        int left = (int)(deadline - hs_now_ms());
        if (poll(&pf, 1, left > 0 ? left : 0) <= 0) {
            return;
        }
        ssize_t got = read(s->err_fd, chunk, sizeof chunk);
        if (got > 0) {
            err_append(s, chunk, (size_t)got);
            continue;
        }
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        close(s->err_fd);
        s->err_fd = -1;
    }
}

int hs_server_start(hs_server *s, const char *bin, const char *const *extra, int timeout_ms)
{
    int out_pipe[2], err_pipe[2];
    char *argv[48];
    int n = 0;
    posix_spawn_file_actions_t fa;
    char out[512];
    size_t out_len = 0;

    memset(s, 0, sizeof *s);
    s->err_fd = -1;
    argv[n++] = (char *)bin;
    argv[n++] = "serve";
    argv[n++] = "--listen";
    argv[n++] = "tcp|127.0.0.1|0";
    while (extra != NULL && *extra != NULL && n < 46) {
        argv[n++] = (char *)*extra++;
    }
    argv[n] = NULL;
    if (pipe(out_pipe) != 0) {
        return -1;
    }
    if (pipe(err_pipe) != 0) {
        close(out_pipe[0]);
        close(out_pipe[1]);
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    posix_spawn_file_actions_addclose(&fa, out_pipe[0]);
    posix_spawn_file_actions_addclose(&fa, out_pipe[1]);
    posix_spawn_file_actions_addclose(&fa, err_pipe[0]);
    posix_spawn_file_actions_addclose(&fa, err_pipe[1]);
    int rc = posix_spawn(&s->pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0) {
        close(out_pipe[0]);
        close(err_pipe[0]);
        return -1;
    }
    s->err_fd = err_pipe[0];
    fcntl(s->err_fd, F_SETFL, fcntl(s->err_fd, F_GETFL) | O_NONBLOCK);
    /* The "listening on tcp|127.0.0.1|PORT" line. */
    int64_t deadline = hs_now_ms() + timeout_ms;
    while (out_len < sizeof out - 1) {
        struct pollfd pf = {out_pipe[0], POLLIN, 0};
        int left = (int)(deadline - hs_now_ms());
        if (left <= 0 || poll(&pf, 1, left) <= 0) {
            break;
        }
        ssize_t got = read(out_pipe[0], out + out_len, sizeof out - 1 - out_len);
        if (got <= 0) {
            break;
        }
        out_len += (size_t)got;
        out[out_len] = '\0';
        const char *line = strstr(out, "listening on tcp|127.0.0.1|");
        if (line != NULL && strchr(line, '\n') != NULL) {
            s->port = (uint16_t)strtoul(line + strlen("listening on tcp|127.0.0.1|"), NULL, 10);
            break;
        }
    }
    close(out_pipe[0]); /* serve writes nothing more on stdout in echo mode */
    if (s->port == 0) {
        hs_server_stop(s, 1000);
        return -1;
    }
    return 0;
}

int hs_server_alive(hs_server *s)
{
    int status;
    if (s->pid <= 0) {
        return 0;
    }
    pid_t w = waitpid(s->pid, &status, WNOHANG);
    if (w == s->pid) {
        s->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        s->pid = -s->pid; /* reaped */
        return 0;
    }
    return 1;
}

int hs_server_stop(hs_server *s, int timeout_ms)
{
    int status = 0;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int64_t deadline = hs_now_ms() + timeout_ms;
        for (;;) {
            hs_server_read_err(s, 10);
            pid_t w = waitpid(s->pid, &status, WNOHANG);
            if (w == s->pid) {
                s->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                break;
            }
            if (hs_now_ms() >= deadline) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, &status, 0);
                s->exit_code = -1;
                break;
            }
        }
        s->pid = 0;
    }
    hs_server_read_err(s, 200);
    if (s->err_fd >= 0) {
        close(s->err_fd);
        s->err_fd = -1;
    }
    return s->exit_code;
}

size_t hs_count(const char *text, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    const char *q = text;
    if (text == NULL || nl == 0) {
        return 0;
    }
    while ((q = strstr(q, needle)) != NULL) {
        n++;
        q += nl;
    }
    return n;
}

long hs_rss_kib(pid_t pid, int peak)
{
    char path[64], line[256];
    const char *key = peak ? "VmHWM:" : "VmRSS:";
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, strlen(key)) == 0) {
            kib = strtol(line + strlen(key), NULL, 10);
        }
    }
    fclose(f);
    return kib;
}

int hs_fd_count(pid_t pid)
{
    char path[64];
    int n = 0;
    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *d = opendir(path);
    if (d == NULL) {
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* ---------------------------------------------------- connections, frames */

int hs_connect(uint16_t port, int timeout_ms)
{
    struct sockaddr_in sa;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void hs_close_rst(int fd)
{
    struct linger lg = {1, 0};
    if (fd < 0) {
        return;
    }
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

int hs_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int hs_closed_by_peer(int fd, int wait_ms)
{
    int64_t deadline = hs_now_ms() + wait_ms;
    char buf[4096];
    for (;;) {
        struct pollfd pf = {fd, POLLIN, 0};
        int left = (int)(deadline - hs_now_ms());
        int r = poll(&pf, 1, left > 0 ? left : 0);
        if (r <= 0) {
            return 0;
        }
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            return 1;
        }
    }
}

size_t hs_frame(uint8_t *out, size_t cap, uint8_t proto, uint64_t id, const char *text, size_t body_len)
{
    static uint8_t body[65535];
    tl_header h = {0x1A2B, proto, 0, id, 0, 0};
    size_t tl = text != NULL ? strlen(text) : 0;
    if (body[0] != 'b') {
        memset(body, 'b', sizeof body);
    }
    if (body_len > sizeof body) {
        return 0;
    }
    int n = tl_frame_encode(&h, (const uint8_t *)text, tl, body, body_len, out, cap);
    return n > 0 ? (size_t)n : 0;
}

size_t hs_hello(uint8_t *out, size_t cap, uint64_t id)
{
    /* EchoClient's HelloRequest (V19): ~connect_to and the native copy of
     * its header taken before post (channel 0, proto 3, everything else 0). */
    static const char text[] = "~connect_to:tcp|127.0.0.1|7099\r\n";
    uint8_t native[TL_HEADER_SIZE] = {0, 0, 3};
    tl_header h = {0x1A2B, TL_OP_HELLO_REQUEST, 0, id, 0, 0};
    int n = tl_frame_encode(&h, (const uint8_t *)text, sizeof text - 1, native, sizeof native, out, cap);
    return n > 0 ? (size_t)n : 0;
}

/* Read one frame (blocking with the socket's timeout) into buf. Returns its
 * length, 0 on close/timeout/too big. */
static size_t read_frame(int fd, uint8_t *buf, size_t cap)
{
    size_t have = 0, need = TL_HEADER_SIZE;
    while (have < need) {
        ssize_t n = recv(fd, buf + have, need - have, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return 0;
        }
        have += (size_t)n;
        if (have == TL_HEADER_SIZE && need == TL_HEADER_SIZE) {
            tl_header h;
            tl_header_decode(buf, &h);
            need = TL_HEADER_SIZE + (size_t)h.thl + h.bl;
            if (need > cap) {
                return 0;
            }
        }
    }
    return have;
}

/* A reply to a Request id with a 16-byte echo body naming that id. */
static int check_reply(const uint8_t *f, size_t n, uint8_t want_op, uint64_t id, char *why, size_t cap)
{
    tl_header h, e;
    if (n < TL_HEADER_SIZE) {
        snprintf(why, cap, "no reply to id %llu", (unsigned long long)id);
        return -1;
    }
    tl_header_decode(f, &h);
    if (tl_proto_opcode(h.proto) != want_op || h.message_id != id || h.bl != TL_HEADER_SIZE ||
        n != TL_HEADER_SIZE + (size_t)h.thl + h.bl) {
        snprintf(why, cap, "wrong reply to id %llu: proto 0x%02x id %llu bl %u", (unsigned long long)id,
                 (unsigned)h.proto, (unsigned long long)h.message_id, (unsigned)h.bl);
        return -1;
    }
    tl_header_decode_native(f + TL_HEADER_SIZE + h.thl, &e);
    if (e.message_id != id || tl_proto_opcode(e.proto) != want_op) {
        snprintf(why, cap, "echo body of id %llu names id %llu", (unsigned long long)id,
                 (unsigned long long)e.message_id);
        return -1;
    }
    return 0;
}

int hs_echo_session(uint16_t port, int n, uint64_t *lat_ns, int timeout_ms, char *why, size_t why_cap)
{
    uint8_t out[256], in[512];
    int fd = hs_connect(port, timeout_ms);
    if (fd < 0) {
        snprintf(why, why_cap, "cannot connect: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    size_t len = hs_hello(out, sizeof out, 1);
    if (hs_write_all(fd, out, len) != 0 ||
        check_reply(in, read_frame(fd, in, sizeof in), TL_OP_HELLO_RESPONSE, 1, why, why_cap) != 0) {
        if (why[0] == '\0' || strncmp(why, "no reply", 8) == 0) {
            snprintf(why, why_cap, "no HelloResponse");
        }
        close(fd);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        uint64_t id = (uint64_t)i + 2;
        uint64_t t0 = hs_now_ns();
        len = hs_frame(out, sizeof out, TL_OP_REQUEST, id, NULL, TL_HEADER_SIZE);
        if (hs_write_all(fd, out, len) != 0 ||
            check_reply(in, read_frame(fd, in, sizeof in), TL_OP_RESPONSE, id, why, why_cap) != 0) {
            close(fd);
            return -1;
        }
        if (lat_ns != NULL) {
            lat_ns[i] = hs_now_ns() - t0;
        }
    }
    close(fd);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

uint64_t hs_percentile(uint64_t *v, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    qsort(v, n, sizeof v[0], cmp_u64);
    size_t k = (size_t)(p / 100.0 * (double)n + 0.5);
    if (k > 0) {
        k--;
    }
    return v[k < n ? k : n - 1];
}

/* ------------------------------------------------------- pipelined load */

#define HS_WINDOW_MAX 64 /* hs_load.window at most (latency bookkeeping) */

typedef struct {
    int fd;
    int hello_done;
    long sent;     /* Requests written (ids 1..sent) */
    long answered; /* replies checked */
    uint8_t *in;
    size_t in_len;
    uint8_t out[4096];
    size_t out_len, out_off;
    int dead;
    uint64_t sent_at[HS_WINDOW_MAX]; /* when request id was queued, by id % HS_WINDOW_MAX */
} hs_client;

#define HS_IN_CAP 65536

static void load_fail(hs_load *l, hs_client *c, const char *why)
{
    if (l->first_error[0] == '\0') {
        snprintf(l->first_error, sizeof l->first_error, "%s", why);
    }
    l->errors++;
    if (c != NULL && !c->dead) {
        c->dead = 1;
        close(c->fd);
        c->fd = -1;
    }
}

/* Parse the frames in c->in. */
static void load_parse(hs_load *l, hs_client *c)
{
    size_t off = 0;
    char why[160];
    while (!c->dead && c->in_len - off >= TL_HEADER_SIZE) {
        tl_header h;
        tl_header_decode(c->in + off, &h);
        size_t n = TL_HEADER_SIZE + (size_t)h.thl + h.bl;
        if (n > HS_IN_CAP) {
            load_fail(l, c, "a reply larger than any echo");
            return;
        }
        if (c->in_len - off < n) {
            break;
        }
        if (!c->hello_done) {
            if (check_reply(c->in + off, n, TL_OP_HELLO_RESPONSE, 1, why, sizeof why) != 0) {
                load_fail(l, c, why);
                return;
            }
            c->hello_done = 1;
        } else {
            uint64_t id = (uint64_t)c->answered + 1;
            if (check_reply(c->in + off, n, TL_OP_RESPONSE, id, why, sizeof why) != 0) {
                load_fail(l, c, why);
                return;
            }
            c->answered++;
            l->answered++;
            if (l->lat_ns != NULL && l->lat_count < l->lat_cap) {
                l->lat_ns[l->lat_count++] = hs_now_ns() - c->sent_at[id % HS_WINDOW_MAX];
            }
        }
        off += n;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

/* Queue what the window allows. */
static void load_fill(hs_load *l, hs_client *c)
{
    while (c->hello_done && c->sent < l->messages && c->sent - c->answered < l->window &&
           sizeof c->out - c->out_len >= 64) {
        if (c->out_off > 0 && c->out_off == c->out_len) {
            c->out_off = c->out_len = 0;
        }
        c->sent++;
        /* The body is the native header copy, as EchoClient's (V21). */
        uint8_t native[TL_HEADER_SIZE];
        tl_header nh = {0x1A2B, TL_OP_REQUEST, 0, (uint64_t)c->sent, 0, 0};
        tl_header_encode_native(&nh, native);
        tl_header h = {0x1A2B, TL_OP_REQUEST, 0, (uint64_t)c->sent, 0, 0};
        int n = tl_frame_encode(&h, NULL, 0, native, sizeof native, c->out + c->out_len,
                                sizeof c->out - c->out_len);
        if (n <= 0) {
            c->sent--;
            break;
        }
        c->sent_at[(uint64_t)c->sent % HS_WINDOW_MAX] = hs_now_ns();
        c->out_len += (size_t)n;
    }
}

int hs_load_run(uint16_t port, hs_load *l)
{
    hs_client *cs = calloc((size_t)l->clients, sizeof *cs);
    struct pollfd *pf = calloc((size_t)l->clients, sizeof *pf);
    int64_t start = hs_now_ms(), deadline = start + l->timeout_ms;
    int rc = 0;

    l->answered = 0;
    l->errors = 0;
    l->first_error[0] = '\0';
    l->lat_count = 0;
    if (l->window > HS_WINDOW_MAX) {
        l->window = HS_WINDOW_MAX;
    }
    if (cs == NULL || pf == NULL) {
        free(cs);
        free(pf);
        snprintf(l->first_error, sizeof l->first_error, "out of memory");
        return -1;
    }
    for (int i = 0; i < l->clients; i++) {
        hs_client *c = &cs[i];
        c->in = malloc(HS_IN_CAP);
        c->fd = hs_connect(port, 5000);
        if (c->fd < 0 || c->in == NULL) {
            char why[96];
            snprintf(why, sizeof why, "client %d cannot connect: %s", i, strerror(errno));
            c->fd = -1;
            c->dead = 1;
            load_fail(l, NULL, why);
            continue;
        }
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        c->out_len = hs_hello(c->out, sizeof c->out, 1);
    }
    for (;;) {
        int active = 0;
        for (int i = 0; i < l->clients; i++) {
            hs_client *c = &cs[i];
            pf[i].fd = -1;
            pf[i].events = 0;
            pf[i].revents = 0;
            if (c->dead || (c->hello_done && c->answered == l->messages)) {
                continue;
            }
            active++;
            load_fill(l, c);
            pf[i].fd = c->fd;
            pf[i].events = POLLIN | (c->out_off < c->out_len ? POLLOUT : 0);
        }
        if (active == 0) {
            break;
        }
        int left = (int)(deadline - hs_now_ms());
        if (left <= 0) {
            load_fail(l, NULL, "the load did not finish in time");
            rc = -1;
            break;
        }
        if (poll(pf, (nfds_t)l->clients, left < 1000 ? left : 1000) < 0 && errno != EINTR) {
            load_fail(l, NULL, "poll failed");
            rc = -1;
            break;
        }
        for (int i = 0; i < l->clients; i++) {
            hs_client *c = &cs[i];
            if (pf[i].fd < 0 || c->dead) {
                continue;
            }
            if (pf[i].revents & POLLOUT) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
                if (n > 0) {
                    c->out_off += (size_t)n;
                    if (c->out_off == c->out_len) {
                        c->out_off = c->out_len = 0;
                    }
                } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                    load_fail(l, c, "send failed: the server closed the connection");
                    continue;
                }
            }
            if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = recv(c->fd, c->in + c->in_len, HS_IN_CAP - c->in_len, 0);
                if (n > 0) {
                    c->in_len += (size_t)n;
                    load_parse(l, c);
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                    load_fail(l, c, "the server closed a client's connection");
                }
            }
        }
    }
    for (int i = 0; i < l->clients; i++) {
        if (cs[i].fd >= 0) {
            close(cs[i].fd);
        }
        free(cs[i].in);
    }
    l->seconds = (double)(hs_now_ms() - start) / 1000.0;
    free(cs);
    free(pf);
    return rc == 0 && l->errors == 0 && l->answered == (long)l->clients * l->messages ? 0 : -1;
}

/* ------------------------------------------------------- hostile peers */

int hs_hostile_open(uint16_t port, hs_kind kind, int n, int *fds)
{
    static uint8_t buf[TL_HEADER_SIZE + 65535 + 128];
    static const char http[] =
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n";
    size_t len = 0;
    int open = 0;

    switch (kind) {
    case HS_IDLE: break;
    case HS_HELLO_IDLE: len = hs_hello(buf, sizeof buf, 1); break;
    case HS_HEADER_PART:
        len = hs_frame(buf, sizeof buf, TL_OP_REQUEST, 7, NULL, 0);
        len = 10;
        break;
    case HS_HEADER_ONLY: {
        tl_header h = {0x1A2B, TL_OP_REQUEST, 0, 7, 0, 65535};
        tl_header_encode(&h, buf);
        len = TL_HEADER_SIZE;
        break;
    }
    case HS_BODY_60K: {
        size_t hl = hs_hello(buf, sizeof buf, 1);
        size_t fl = hs_frame(buf + hl, sizeof buf - hl, TL_OP_REQUEST, 7, NULL, 65535);
        len = hl + (fl > 0 ? TL_HEADER_SIZE + 60 * 1024 : 0);
        break;
    }
    case HS_GARBAGE:
        memcpy(buf, http, sizeof http - 1);
        len = sizeof http - 1;
        break;
    }
    for (int i = 0; i < n; i++) {
        fds[i] = hs_connect(port, 5000);
        if (fds[i] < 0) {
            continue;
        }
        if (len > 0 && hs_write_all(fds[i], buf, len) != 0) {
            hs_close_rst(fds[i]);
            fds[i] = -1;
            continue;
        }
        open++;
    }
    return open;
}

void hs_hostile_close(int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        if (fds[i] >= 0) {
            hs_close_rst(fds[i]);
            fds[i] = -1;
        }
    }
}

struct hs_slowloris {
    pthread_t th;
    int n;
    int interval_ms;
    int *fds;
    size_t *pos;
    int closed;
    atomic_int stop;
    uint8_t frame[128];
    size_t frame_len;
};

static void *slowloris_main(void *arg)
{
    hs_slowloris *s = arg;
    while (!atomic_load(&s->stop)) {
        for (int i = 0; i < s->n; i++) {
            if (s->fds[i] < 0) {
                continue;
            }
            /* One byte of the HelloRequest, round and round; a close by the
             * server shows as a failed send or end of stream. */
            uint8_t b = s->frame[s->pos[i] % s->frame_len];
            char sink[64];
            ssize_t r = recv(s->fds[i], sink, sizeof sink, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
                send(s->fds[i], &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
                close(s->fds[i]);
                s->fds[i] = -1;
                s->closed++;
                continue;
            }
            s->pos[i]++;
        }
        hs_sleep_ms(s->interval_ms);
    }
    return NULL;
}

hs_slowloris *hs_slowloris_start(uint16_t port, int n, int interval_ms)
{
    hs_slowloris *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->n = n;
    s->interval_ms = interval_ms;
    s->fds = calloc((size_t)n, sizeof *s->fds);
    s->pos = calloc((size_t)n, sizeof *s->pos);
    s->frame_len = hs_hello(s->frame, sizeof s->frame, 1);
    atomic_init(&s->stop, 0);
    if (s->fds == NULL || s->pos == NULL) {
        free(s->fds);
        free(s->pos);
        free(s);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        s->fds[i] = hs_connect(port, 5000);
    }
    if (pthread_create(&s->th, NULL, slowloris_main, s) != 0) {
        hs_hostile_close(s->fds, n);
        free(s->fds);
        free(s->pos);
        free(s);
        return NULL;
    }
    return s;
}

void hs_slowloris_stop(hs_slowloris *s, int *closed)
{
    if (s == NULL) {
        if (closed != NULL) {
            *closed = 0;
        }
        return;
    }
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    if (closed != NULL) {
        *closed = s->closed;
    }
    hs_hostile_close(s->fds, s->n);
    free(s->fds);
    free(s->pos);
    free(s);
}
