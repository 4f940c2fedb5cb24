/*
 * Raw-socket echo peers with switchable defects (see defective_peer.h).
 */
#include "defective_peer.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tofulab/wire.h"
#include "../../conform/conform.h"

#define DP_MAX_CONNS   96
#define DP_POLL_MS     100 /* how often idle threads look at the stop flags */
#define DP_TOFU_BUDGET 1100
#define DP_FLOOD_MAX   (16u * 1024u * 1024u)

#define ACT_CONTINUE 0
#define ACT_CLOSE    1
#define ACT_DIE      2

typedef struct {
    struct dp_server *srv;
    int fd;
    pthread_t th;
    int used;
    int done;
    uint16_t channel;
    int bye_sent;
    int responded;   /* DP_HTTP, DP_TLS: the canned answer went out */
    int orderly;     /* close with FIN, not RST */
    unsigned hellos; /* HelloRequests received (DP_HANG_HELLO2) */
    int hung;        /* DP_HANG_HELLO2: answers nothing more */
    int saw_more;    /* a Request with more came before this frame (DP_WRONG_ID_AFTER_MORE) */
    int more_before; /* the previous frame was one */
} dp_conn;

struct dp_server {
    dp_defect defect;
    int lfd;
    char path[108];
    pthread_t accept_th;
    pthread_attr_t attr; /* small stacks: threads are cheap, also under Valgrind */
    pthread_mutex_t mu;
    int stop_req;
    int stopped;
    dp_conn conns[DP_MAX_CONNS];
    unsigned next_channel;
    uint64_t next_id;
    long budget;
    atomic_int lose_next; /* DP_LOSE_REQUEST; set from a signal handler too */
};

const char *dp_defect_name(dp_defect d)
{
    static const char *const names[DP_DEFECT_COUNT] = {"correct",
                                                       "little-endian header",
                                                       "text headers dropped",
                                                       "body echoed",
                                                       "wrong message_id",
                                                       "no ByeResponse",
                                                       "closes on more",
                                                       "wrong op code",
                                                       "tofu",
                                                       "hang",
                                                       "flood",
                                                       "Nagle",
                                                       "HTTP",
                                                       "TLS",
                                                       "loses a request",

                                                       "abort on op code > 9",
                                                       "crash on text headers > 60,000 bytes",
                                                       "hang after a second HelloRequest",
                                                       "wrong message_id after a streamed request",
                                                       "closes after its ByeResponse"};

    return (unsigned)d < DP_DEFECT_COUNT ? names[d] : "?";
}

static const char *const dp_keys[DP_DEFECT_COUNT] = {"correct",
                                                     "le-header",
                                                     "drop-text",
                                                     "echo-body",
                                                     "wrong-id",
                                                     "no-bye-response",
                                                     "close-on-more",
                                                     "wrong-opcode",
                                                     "tofu",
                                                     "hang",
                                                     "flood",
                                                     "nagle",
                                                     "http",
                                                     "tls",
                                                     "lose-request",
                                                     "abort-opcode",
                                                     "crash-big-text",
                                                     "hang-hello2",
                                                     "wrong-id-after-more",
                                                     "bye-closes"};

const char *dp_defect_key(dp_defect d) { return (unsigned)d < DP_DEFECT_COUNT ? dp_keys[d] : "?"; }

int dp_defect_parse(const char *key)
{
    int i;

    for (i = 0; i < (int)DP_DEFECT_COUNT; i++) {
        if (strcmp(dp_keys[i], key) == 0) {
            return i;
        }
    }
    return -1;
}

static int srv_flag(dp_server *s, int *flag)
{
    int v;

    pthread_mutex_lock(&s->mu);
    v = *flag;
    pthread_mutex_unlock(&s->mu);
    return v;
}

static int conn_should_stop(dp_conn *c)
{
    return srv_flag(c->srv, &c->srv->stop_req) || srv_flag(c->srv, &c->srv->stopped);
}

/* tofu's MultiHomed "stop": the group is destroyed, every connection and the
 * listener are closed with RST. */
static void server_die(dp_server *s)
{
    int i;

    pthread_mutex_lock(&s->mu);
    if (!s->stopped) {
        s->stopped = 1;
        if (s->lfd >= 0) {
            shutdown(s->lfd, SHUT_RDWR);
        }
        for (i = 0; i < DP_MAX_CONNS; i++) {
            if (s->conns[i].used && !s->conns[i].done) {
                shutdown(s->conns[i].fd, SHUT_RDWR);
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
}

static int write_all(dp_conn *c, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            struct pollfd pf;

            if (conn_should_stop(c)) {
                return -1;
            }
            pf.fd = c->fd;
            pf.events = POLLOUT;
            pf.revents = 0;
            (void)poll(&pf, 1, DP_POLL_MS);
            continue;
        }
        return -1;
    }
    return 0;
}

static int reply(dp_conn *c, const tl_header *h, const uint8_t *text, const uint8_t *body)
{
    dp_server *s = c->srv;
    dp_defect d = s->defect;
    unsigned op = tl_proto_opcode(h->proto);
    const tl_opcode_info *info = tl_opcode_info_get(op);
    int tofu = d == DP_TOFU;
    unsigned eop = info->role == TL_ROLE_REQUEST ? (unsigned)info->echo : op;
    uint8_t keep = tofu ? (uint8_t)(h->proto & 0xF0u) : (uint8_t)(h->proto & TL_PROTO_MORE);
    tl_header copy, r;
    uint8_t native[TL_HEADER_SIZE], hdr[TL_HEADER_SIZE];

    if (d == DP_WRONG_OPCODE) {
        eop = op;
    }
    copy = *h;
    copy.channel = c->channel;
    copy.proto = (uint8_t)(eop | keep);
    tl_header_encode_native(&copy, native);
    memset(&r, 0, sizeof r);
    r.channel = c->channel;
    r.proto = (uint8_t)(eop | (keep & (uint8_t)~TL_PROTO_ORIGIN));
    r.message_id = h->message_id;
    if (r.message_id == 0) {
        pthread_mutex_lock(&s->mu);
        r.message_id = ++s->next_id;
        pthread_mutex_unlock(&s->mu);
    }
    if (d == DP_WRONG_ID || (d == DP_WRONG_ID_AFTER_MORE && c->saw_more)) {
        r.message_id++;
    }
    r.thl = d == DP_DROP_TEXT ? 0 : h->thl;
    r.bl = d == DP_ECHO_BODY ? h->bl : (uint16_t)TL_HEADER_SIZE;
    if (d == DP_LE_HEADER) {
        tl_header_encode_native(&r, hdr);
    } else {
        tl_header_encode(&r, hdr);
    }
    if (d == DP_TOFU || d == DP_NAGLE) {
        /* tofu's three writes (6.6) */
        if (write_all(c, hdr, sizeof hdr) != 0 || (r.thl > 0 && write_all(c, text, r.thl) != 0) ||
            (r.bl > 0 && write_all(c, d == DP_ECHO_BODY ? body : native, r.bl) != 0)) {
            return ACT_CLOSE;
        }
    } else {
        size_t n = TL_HEADER_SIZE + (size_t)r.thl + r.bl;
        uint8_t *frame = malloc(n);
        int rc;

        if (frame == NULL) {
            return ACT_CLOSE;
        }
        memcpy(frame, hdr, sizeof hdr);
        if (r.thl > 0) {
            memcpy(frame + TL_HEADER_SIZE, text, r.thl);
        }
        if (r.bl > 0) {
            memcpy(frame + TL_HEADER_SIZE + r.thl, d == DP_ECHO_BODY ? body : native, r.bl);
        }
        rc = write_all(c, frame, n);
        free(frame);
        if (rc != 0) {
            return ACT_CLOSE;
        }
    }
    if (info->type == TL_TYPE_BYE) {
        c->bye_sent = 1; /* the channel never sends again (6.6) */
    }
    return ACT_CONTINUE;
}

static int process(dp_conn *c, const tl_header *h, const uint8_t *text, const uint8_t *body)
{
    dp_server *s = c->srv;
    dp_defect d = s->defect;
    unsigned op = tl_proto_opcode(h->proto);
    int tofu = d == DP_TOFU;
    const tl_opcode_info *info;

    if (d == DP_CLOSE_ON_MORE && tl_proto_more(h->proto)) {
        return ACT_CLOSE;
    }
    if (d == DP_ABORT_OPCODE && tl_opcode_info_get(op) == NULL) {
        /* tofu's Debug build: a debug trace switches over the op code (6.7). */
        fprintf(stderr, "thread %ld panic: switch on corrupt value (op code %u)\n", (long)getpid(), op);
        fflush(stderr);
        abort();
    }
    if (d == DP_CRASH_BIG_TEXT && h->thl > 60000u) {
        raise(SIGSEGV); /* a fixed 60,000-byte buffer overrun, without a word */
    }
    if (c->hung) {
        return ACT_CONTINUE;
    }
    if (d == DP_HANG_HELLO2 && op == TL_OP_HELLO_REQUEST && !tl_proto_origin_engine(h->proto) &&
        ++c->hellos >= 2) {
        c->hung = 1; /* reads on, never answers, never closes */
        return ACT_CONTINUE;
    }
    if (d == DP_WRONG_ID_AFTER_MORE) {
        /* Replies to frames after a streamed Request get the wrong id. */
        c->saw_more |= c->more_before;
        c->more_before = op == TL_OP_REQUEST && tl_proto_more(h->proto);
    }
    if (tofu) {
        int spent;

        if (h->status == TL_STATUS_RECEIVER_UPDATE) {
            return ACT_DIE;
        }
        pthread_mutex_lock(&s->mu);
        spent = s->budget <= 0;
        pthread_mutex_unlock(&s->mu);
        if (spent) {
            return ACT_DIE;
        }
    }
    if (tl_proto_origin_engine(h->proto)) {
        return ACT_CONTINUE; /* an engine notification to the echo: not echoed */
    }
    info = tl_opcode_info_get(op);
    if (info == NULL) {
        return tofu ? ACT_DIE : ACT_CLOSE;
    }
    if (info->role == TL_ROLE_RESPONSE) {
        return tofu ? ACT_DIE : ACT_CONTINUE;
    }
    if (tofu && (info->type == TL_TYPE_REGULAR || info->type == TL_TYPE_WELCOME)) {
        pthread_mutex_lock(&s->mu);
        s->budget--;
        pthread_mutex_unlock(&s->mu);
    }
    if (c->bye_sent) {
        return ACT_CONTINUE; /* queued forever */
    }
    if (op == TL_OP_WELCOME_REQUEST) {
        return (h->message_id == 0 && tofu) ? ACT_DIE : ACT_CONTINUE;
    }
    if (info->type != TL_TYPE_REGULAR && tl_proto_more(h->proto)) {
        return tofu ? ACT_DIE : ACT_CONTINUE;
    }
    if (op == TL_OP_BYE_SIGNAL && (!tofu || (h->proto & TL_PROTO_BIT_A))) {
        return ACT_CLOSE; /* local abort (A2 for the correct peer) */
    }
    if (info->role == TL_ROLE_REQUEST && h->message_id == 0) {
        return tofu ? ACT_DIE : ACT_CONTINUE;
    }
    if (d == DP_NO_BYE_RESPONSE && op == TL_OP_BYE_REQUEST) {
        return ACT_CONTINUE;
    }
    if (d == DP_BYE_CLOSES && op == TL_OP_BYE_REQUEST) {
        int act = reply(c, h, text, body);
        return act == ACT_CONTINUE ? ACT_CLOSE : act;
    }
    if (d == DP_LOSE_REQUEST && op == TL_OP_REQUEST && atomic_exchange(&s->lose_next, 0)) {
        return ACT_CONTINUE; /* lost */
    }
    return reply(c, h, text, body);
}

static void flood(dp_conn *c)
{
    uint8_t chunk[16384];
    size_t sent = 0;
    size_t i;

    for (i = 0; i < sizeof chunk; i++) {
        chunk[i] = (uint8_t)(0xA5u ^ (i * 31u));
    }
    while (!conn_should_stop(c)) {
        struct pollfd pf;
        uint8_t sink[4096];

        pf.fd = c->fd;
        pf.events = (short)(POLLIN | (sent < DP_FLOOD_MAX ? POLLOUT : 0));
        pf.revents = 0;
        if (poll(&pf, 1, DP_POLL_MS) <= 0) {
            continue;
        }
        if (pf.revents & (POLLERR | POLLHUP)) {
            return;
        }
        if (pf.revents & POLLIN) {
            ssize_t n = recv(c->fd, sink, sizeof sink, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                return;
            }
        }
        if (pf.revents & POLLOUT) {
            ssize_t n = send(c->fd, chunk, sizeof chunk, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                return;
            }
            if (n > 0) {
                sent += (size_t)n;
            }
        }
    }
}

/* What a web server or a TLS server says to a tofu HelloRequest: a 400 and
 * an orderly close; a ServerHello record (TLS 1.2 framing), then waiting
 * for the client's next flight. */
static int not_tofu_answer(dp_conn *c)
{
    static const char http[] =
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
        "Connection: close\r\n\r\nBad Request\n";
    uint8_t hello[5 + 74];
    size_t i;

    if (c->srv->defect == DP_HTTP) {
        c->orderly = 1;
        (void)write_all(c, (const uint8_t *)http, sizeof http - 1);
        return ACT_CLOSE;
    }
    /* record: handshake, TLS 1.2, 74 bytes; ServerHello, 70 bytes: version,
     * random, a 32-byte session id, TLS_AES_128_GCM_SHA256, no compression */
    memset(hello, 0, sizeof hello);
    memcpy(hello, "\x16\x03\x03\x00\x4a\x02\x00\x00\x46\x03\x03", 11);
    for (i = 11; i < 11 + 32; i++) {
        hello[i] = (uint8_t)(i * 37u + 11u);
    }
    hello[43] = 0x20;
    for (i = 44; i < 44 + 32; i++) {
        hello[i] = (uint8_t)(i * 53u + 7u);
    }
    hello[76] = 0x13;
    hello[77] = 0x01;
    hello[78] = 0x00;
    return write_all(c, hello, sizeof hello) == 0 ? ACT_CONTINUE : ACT_CLOSE;
}

static void *conn_main(void *arg)
{
    dp_conn *c = arg;
    dp_server *s = c->srv;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    int act = ACT_CONTINUE;
    struct linger lg;

    if (s->defect == DP_LOSE_REQUEST) {
        /* a SIGCONT is handled here, before this thread reads on: the
         * request waiting since the pause is the one lost */
        sigset_t cont;
        sigemptyset(&cont);
        sigaddset(&cont, SIGCONT);
        pthread_sigmask(SIG_UNBLOCK, &cont, NULL);
    }
    if (s->defect == DP_FLOOD) {
        flood(c);
    } else {
        while (act == ACT_CONTINUE && !conn_should_stop(c)) {
            struct pollfd pf;
            ssize_t n;

            pf.fd = c->fd;
            pf.events = POLLIN;
            pf.revents = 0;
            if (poll(&pf, 1, DP_POLL_MS) <= 0) {
                continue;
            }
            if (len + 65536 > cap) {
                size_t ncap = cap ? cap * 2 : 262144;
                uint8_t *nb;

                while (ncap < len + 65536) {
                    ncap *= 2;
                }
                nb = realloc(buf, ncap);
                if (nb == NULL) {
                    break;
                }
                buf = nb;
                cap = ncap;
            }
            n = recv(c->fd, buf + len, cap - len, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                break;
            }
            if (n < 0) {
                continue;
            }
            len += (size_t)n;
            if (s->defect == DP_HANG) {
                len = 0;
                continue;
            }
            if (s->defect == DP_HTTP || s->defect == DP_TLS) {
                len = 0;
                if (!c->responded) {
                    c->responded = 1;
                    act = not_tofu_answer(c);
                }
                continue;
            }
            for (;;) {
                tl_header h;
                size_t need;

                if (len < TL_HEADER_SIZE) {
                    break;
                }
                tl_header_decode(buf, &h);
                need = TL_HEADER_SIZE + (size_t)h.thl + h.bl;
                if (len < need) {
                    break;
                }
                act = process(c, &h, buf + TL_HEADER_SIZE, buf + TL_HEADER_SIZE + h.thl);
                memmove(buf, buf + need, len - need);
                len -= need;
                if (act != ACT_CONTINUE) {
                    break;
                }
            }
        }
    }
    free(buf);
    if (act == ACT_DIE) {
        server_die(s);
    }
    if (c->orderly) {
        shutdown(c->fd, SHUT_WR);
    } else {
        lg.l_onoff = 1;
        lg.l_linger = 0;
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg); /* tofu closes with RST */
    }
    pthread_mutex_lock(&s->mu);
    close(c->fd);
    c->done = 1;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void reap(dp_server *s, int all)
{
    int i;

    for (i = 0; i < DP_MAX_CONNS; i++) {
        int used, done;

        pthread_mutex_lock(&s->mu);
        used = s->conns[i].used;
        done = s->conns[i].done;
        pthread_mutex_unlock(&s->mu);
        if (used && (done || all)) {
            pthread_join(s->conns[i].th, NULL);
            pthread_mutex_lock(&s->mu);
            s->conns[i].used = 0;
            pthread_mutex_unlock(&s->mu);
        }
    }
}

static void *accept_main(void *arg)
{
    dp_server *s = arg;

    while (!srv_flag(s, &s->stop_req)) {
        struct pollfd pf;
        int fd, i, slot = -1;

        reap(s, 0);
        if (srv_flag(s, &s->stopped)) {
            pthread_mutex_lock(&s->mu);
            if (s->lfd >= 0) {
                close(s->lfd);
                s->lfd = -1;
            }
            pthread_mutex_unlock(&s->mu);
            struct timespec ts = {0, DP_POLL_MS * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        pf.fd = s->lfd;
        pf.events = POLLIN;
        pf.revents = 0;
        if (poll(&pf, 1, DP_POLL_MS) <= 0) {
            continue;
        }
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        pthread_mutex_lock(&s->mu);
        for (i = 0; i < DP_MAX_CONNS; i++) {
            if (!s->conns[i].used) {
                slot = i;
                break;
            }
        }
        if (slot >= 0) {
            dp_conn *c = &s->conns[slot];

            memset(c, 0, sizeof *c);
            c->srv = s;
            c->fd = fd;
            c->used = 1;
            c->channel = (uint16_t)(0x3c4d + s->next_channel++ % 1000u);
            if (pthread_create(&c->th, &s->attr, conn_main, c) != 0) {
                c->used = 0;
                slot = -1;
            }
        }
        pthread_mutex_unlock(&s->mu);
        if (slot < 0) {
            close(fd);
        }
    }
    reap(s, 1);
    pthread_mutex_lock(&s->mu);
    if (s->lfd >= 0) {
        close(s->lfd);
        s->lfd = -1;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static dp_server *start_on(dp_defect defect, const char *uds_path, unsigned port, char *addr,
                           size_t addr_cap);

dp_server *dp_server_start(dp_defect defect, const char *uds_path, char *addr, size_t addr_cap)
{
    return start_on(defect, uds_path, 0, addr, addr_cap);
}

dp_server *dp_server_listen(dp_defect defect, const char *listen_addr)
{
    tl_address a;
    char addr[160];
    if (tl_address_parse(listen_addr, strlen(listen_addr), &a) != TL_OK) {
        return NULL;
    }
    return a.kind == TL_ADDR_UDS ? start_on(defect, a.path, 0, addr, sizeof addr)
                                 : start_on(defect, NULL, a.port, addr, sizeof addr);
}

void dp_server_lose_next(dp_server *s) { atomic_store(&s->lose_next, 1); }

static dp_server *start_on(dp_defect defect, const char *uds_path, unsigned port, char *addr, size_t addr_cap)
{
    dp_server *s = calloc(1, sizeof *s);
    int one = 1;

    if (s == NULL) {
        return NULL;
    }
    s->defect = defect;
    s->budget = DP_TOFU_BUDGET;
    pthread_mutex_init(&s->mu, NULL);
    pthread_attr_init(&s->attr);
    pthread_attr_setstacksize(&s->attr, 256u * 1024u);
    if (uds_path != NULL) {
        struct sockaddr_un un;

        memset(&un, 0, sizeof un);
        un.sun_family = AF_UNIX;
        snprintf(un.sun_path, sizeof un.sun_path, "%s", uds_path);
        snprintf(s->path, sizeof s->path, "%s", uds_path);
        unlink(uds_path);
        s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&un, sizeof un) != 0 || listen(s->lfd, 128) != 0) {
            goto fail;
        }
        snprintf(addr, addr_cap, "uds|%s", uds_path);
    } else {
        struct sockaddr_in in;
        socklen_t sl = sizeof in;

        memset(&in, 0, sizeof in);
        in.sin_family = AF_INET;
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in.sin_port = htons((uint16_t)port);
        s->lfd = socket(AF_INET, SOCK_STREAM, 0);
        if (s->lfd < 0) {
            goto fail;
        }
        setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(s->lfd, (struct sockaddr *)&in, sizeof in) != 0 || listen(s->lfd, 128) != 0 ||
            getsockname(s->lfd, (struct sockaddr *)&in, &sl) != 0) {
            goto fail;
        }
        snprintf(addr, addr_cap, "tcp|127.0.0.1|%u", ntohs(in.sin_port));
    }
    if (pthread_create(&s->accept_th, NULL, accept_main, s) != 0) {
        goto fail;
    }
    return s;
fail:
    if (s->lfd >= 0) {
        close(s->lfd);
    }
    pthread_attr_destroy(&s->attr);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return NULL;
}

int dp_server_stopped(dp_server *s) { return srv_flag(s, &s->stopped); }

void dp_server_stop(dp_server *s)
{
    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->stop_req = 1;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->accept_th, NULL);
    if (s->path[0] != '\0') {
        unlink(s->path);
    }
    pthread_attr_destroy(&s->attr);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ================= the client ================= */

#define DC_CHANNEL 0x1a2bu
#define DC_WAIT_MS 5000

struct dc_client {
    pthread_t th;
    char addr[TL_ADDR_TEXT_MAX];
    dc_defect defect;
    unsigned n;
    int result;
    int fd;
    uint8_t buf[65536 * 3];
    size_t len;
};

static uint64_t dc_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int dc_connect(dc_client *c)
{
    tl_address a;
    uint64_t deadline = dc_now_ms() + DC_WAIT_MS;

    if (tl_address_parse(c->addr, strlen(c->addr), &a) != TL_OK) {
        return -1;
    }
    while (dc_now_ms() < deadline) {
        int fd;
        int rc;

        if (a.kind == TL_ADDR_UDS) {
            struct sockaddr_un un;

            memset(&un, 0, sizeof un);
            un.sun_family = AF_UNIX;
            snprintf(un.sun_path, sizeof un.sun_path, "%s", a.path);
            fd = socket(AF_UNIX, SOCK_STREAM, 0);
            rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&un, sizeof un);
        } else {
            struct sockaddr_in in;

            memset(&in, 0, sizeof in);
            in.sin_family = AF_INET;
            in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            in.sin_port = htons(a.port);
            fd = socket(AF_INET, SOCK_STREAM, 0);
            rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&in, sizeof in);
        }
        if (rc == 0) {
            return fd;
        }
        if (fd >= 0) {
            close(fd);
        }
        {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return -1;
}

static int dc_send(dc_client *c, unsigned proto, uint64_t id, const uint8_t *text, size_t tl,
                   const uint8_t *body, size_t bl)
{
    tl_header h;
    uint8_t frame[512];
    size_t off = 0;

    memset(&h, 0, sizeof h);
    h.channel = DC_CHANNEL;
    h.proto = (uint8_t)proto;
    h.message_id = id;
    h.thl = (uint16_t)tl;
    h.bl = (uint16_t)bl;
    if (c->defect == DC_LE_HEADER) {
        tl_header_encode_native(&h, frame);
    } else {
        tl_header_encode(&h, frame);
    }
    if (tl > 0) {
        memcpy(frame + TL_HEADER_SIZE, text, tl);
    }
    if (bl > 0) {
        memcpy(frame + TL_HEADER_SIZE + tl, body, bl);
    }
    while (off < TL_HEADER_SIZE + tl + bl) {
        ssize_t n = send(c->fd, frame + off, TL_HEADER_SIZE + tl + bl - off, MSG_NOSIGNAL);

        if (n <= 0) {
            return -1;
        }
        off += (size_t)n;
    }
    return 0;
}

/* Wait for one whole frame; fills *h. -1 on close or timeout. */
static int dc_recv(dc_client *c, tl_header *h, unsigned wait_ms)
{
    uint64_t deadline = dc_now_ms() + wait_ms;

    for (;;) {
        struct pollfd pf;
        ssize_t n;

        if (c->len >= TL_HEADER_SIZE) {
            size_t need;

            tl_header_decode(c->buf, h);
            need = TL_HEADER_SIZE + (size_t)h->thl + h->bl;
            if (need > sizeof c->buf) {
                return -1;
            }
            if (c->len >= need) {
                memmove(c->buf, c->buf + need, c->len - need);
                c->len -= need;
                return 0;
            }
        }
        if (dc_now_ms() >= deadline) {
            return -1;
        }
        pf.fd = c->fd;
        pf.events = POLLIN;
        pf.revents = 0;
        if (poll(&pf, 1, DP_POLL_MS) <= 0) {
            continue;
        }
        n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (n <= 0) {
            return -1;
        }
        c->len += (size_t)n;
    }
}

static void *dc_main(void *arg)
{
    dc_client *c = arg;
    uint8_t text[TL_ADDR_TEXT_MAX + 16], body[TL_HEADER_SIZE];
    size_t tl = 0;
    tl_address a;
    tl_header h;
    unsigned i;
    int nowait = c->defect == DC_NO_WAIT;
    struct linger lg;

    c->result = -1;
    c->fd = dc_connect(c);
    if (c->fd < 0) {
        return NULL;
    }
    tl_address_parse(c->addr, strlen(c->addr), &a);
    tl_address_append_header(text, sizeof text, &tl, TL_OP_HELLO_REQUEST, &a);
    tl_conform_echo_body(body, 0, TL_OP_HELLO_REQUEST, 0);
    if (dc_send(c, TL_OP_HELLO_REQUEST, 5, text, tl, body, c->defect == DC_NO_HELLO_BODY ? 0 : sizeof body) !=
        0) {
        goto out;
    }
    if (!nowait && dc_recv(c, &h, DC_WAIT_MS) != 0) {
        goto out;
    }
    for (i = 1; i <= c->n; i++) {
        uint64_t id = c->defect == DC_WRONG_IDS ? 99u + i : i;

        tl_conform_echo_body(body, DC_CHANNEL, TL_OP_REQUEST, id);
        if (dc_send(c, TL_OP_REQUEST, id, NULL, 0, body, sizeof body) != 0) {
            goto out;
        }
        if (!nowait && dc_recv(c, &h, DC_WAIT_MS) != 0) {
            goto out;
        }
    }
    if (nowait) {
        for (i = 0; i <= c->n; i++) {
            if (dc_recv(c, &h, DC_WAIT_MS) != 0) {
                goto out;
            }
        }
    }
    if (c->defect == DC_BYE_REQUEST) {
        if (dc_send(c, TL_OP_BYE_REQUEST, c->n + 1, NULL, 0, NULL, 0) != 0 ||
            dc_recv(c, &h, DC_WAIT_MS) != 0) {
            goto out;
        }
    } else if (c->defect == DC_BYESIGNAL_07) {
        (void)dc_send(c, TL_OP_BYE_SIGNAL, c->n + 1, NULL, 0, NULL, 0);
    } else if (c->defect == DC_NO_CLOSE) {
        (void)dc_recv(c, &h, 10000); /* until the other side gives up */
    }
    c->result = 0;
out:
    lg.l_onoff = 1;
    lg.l_linger = 0;
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c->fd);
    return NULL;
}

dc_client *dc_client_start(const char *addr, dc_defect defect, unsigned n)
{
    dc_client *c = calloc(1, sizeof *c);

    if (c == NULL) {
        return NULL;
    }
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    c->defect = defect;
    c->n = n;
    if (pthread_create(&c->th, NULL, dc_main, c) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

int dc_client_join(dc_client *c)
{
    int r;

    if (c == NULL) {
        return -1;
    }
    pthread_join(c->th, NULL);
    r = c->result;
    free(c);
    return r;
}
