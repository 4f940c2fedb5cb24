/*
 * The fault proxy (hosts/proxy.h) without faults, against a direct
 * connection measured in the same run:
 *   proxy/rr-tcp        round trips/s of one 80-byte frame (16 + 64) echoed by
 *                       a raw-socket peer, one outstanding; the row also gives
 *                       the microseconds the proxy adds to a round trip
 *   proxy/stream64k-tcp GB/s of 64 KiB frames (16 + 65520) one way
 * Loopback TCP with TCP_NODELAY; the proxy runs its own I/O thread in this
 * process, as `tofulab proxy` does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "../../hosts/proxy.h"

#define RR_FRAME   80u
#define BIG_FRAME  65536u
#define STREAM_BUF (256u * 1024u)

static int listen_any(uint16_t *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static int dial(uint16_t port)
{
    struct sockaddr_in sa;
    int one = 1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The peer: echoes RR_FRAME-byte frames, or swallows everything. */
typedef struct {
    int lfd;
    int echo;
    uint64_t got;
} peer;

static void *peer_main(void *arg)
{
    peer *pr = arg;
    int one = 1;
    int fd = accept(pr->lfd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (pr->echo) {
        uint8_t f[RR_FRAME];
        while (read_full(fd, f, sizeof f) == 0 && write_full(fd, f, sizeof f) == 0) {
        }
    } else {
        uint8_t *buf = malloc(STREAM_BUF);
        ssize_t r;
        while (buf != NULL && (r = read(fd, buf, STREAM_BUF)) > 0) {
            pr->got += (uint64_t)r;
        }
        free(buf);
    }
    close(fd);
    return NULL;
}

static void frame_bytes(uint8_t *out, size_t total)
{
    tl_header h;
    memset(&h, 0, sizeof h);
    h.channel = 7;
    h.proto = TL_OP_SIGNAL;
    h.message_id = 1;
    h.bl = (uint16_t)(total - TL_HEADER_SIZE);
    tl_header_encode(&h, out);
    memset(out + TL_HEADER_SIZE, 0x5a, total - TL_HEADER_SIZE);
}

/* One run: round trips/s, or bytes/s streamed; through_proxy picks the path. */
static double run_once(int rr, int through_proxy, double min_seconds)
{
    uint16_t port;
    peer pr;
    pthread_t th;
    tl_proxy *px = NULL;
    double result = 0;
    memset(&pr, 0, sizeof pr);
    pr.echo = rr;
    pr.lfd = listen_any(&port);
    if (pr.lfd < 0 || pthread_create(&th, NULL, peer_main, &pr) != 0) {
        return 0;
    }
    uint16_t dial_port = port;
    if (through_proxy) {
        char up[64], err[200], bound[320];
        tl_address a;
        snprintf(up, sizeof up, "tcp|127.0.0.1|%u", (unsigned)port);
        if (tl_proxy_create(NULL, &px) != TL_OK ||
            tl_proxy_route_add(px, "bench", "tcp|127.0.0.1|0", up, 1, err, sizeof err) != TL_OK ||
            tl_proxy_start(px) != TL_OK || tl_proxy_route_listen(px, "bench", bound, sizeof bound) != TL_OK ||
            tl_address_parse(bound, strlen(bound), &a) != TL_OK) {
            fprintf(stderr, "bench proxy: cannot start the proxy\n");
            close(pr.lfd);
            tl_proxy_destroy(px);
            return 0;
        }
        dial_port = a.port;
    }
    int fd = dial(dial_port);
    if (fd >= 0) {
        if (rr) {
            uint8_t f[RR_FRAME];
            uint64_t n = 0;
            frame_bytes(f, sizeof f);
            double t0 = bench_now(), t1 = t0;
            while (t1 - t0 < min_seconds) {
                for (int k = 0; k < 200; k++) {
                    if (write_full(fd, f, sizeof f) != 0 || read_full(fd, f, sizeof f) != 0) {
                        t1 = t0 + 1e9;
                        break;
                    }
                    n++;
                }
                t1 = bench_now();
            }
            result = n / (t1 - t0);
        } else {
            uint8_t *buf = malloc(STREAM_BUF);
            uint64_t sent = 0;
            for (size_t o = 0; buf != NULL && o + BIG_FRAME <= STREAM_BUF; o += BIG_FRAME) {
                frame_bytes(buf + o, BIG_FRAME);
            }
            double t0 = bench_now(), t1 = t0;
            while (buf != NULL && t1 - t0 < min_seconds) {
                for (int k = 0; k < 64; k++) {
                    if (write_full(fd, buf, STREAM_BUF) != 0) {
                        break;
                    }
                    sent += STREAM_BUF;
                }
                t1 = bench_now();
            }
            free(buf);
            shutdown(fd, SHUT_WR);
            /* count what arrived: the peer sees EOF once everything is through */
            result = (double)sent;
            close(fd);
            fd = -1;
            pthread_join(th, NULL);
            t1 = bench_now();
            result = pr.got == sent ? (double)sent / (t1 - t0) : 0;
            if (pr.got != sent) {
                fprintf(stderr, "bench proxy: %llu bytes sent, %llu arrived\n", (unsigned long long)sent,
                        (unsigned long long)pr.got);
            }
        }
        if (fd >= 0) {
            close(fd);
            pthread_join(th, NULL);
        }
    } else {
        shutdown(pr.lfd, SHUT_RDWR); /* wakes the peer's accept */
        pthread_join(th, NULL);
    }
    close(pr.lfd);
    tl_proxy_destroy(px);
    return result;
}

int bench_proxy_run(const bench_options *opt)
{
    double direct[5], proxied[5];
    if (bench_selected(opt, "proxy/rr-tcp")) {
        for (int i = 0; i < opt->runs; i++) {
            direct[i] = run_once(1, 0, opt->min_seconds);
            proxied[i] = run_once(1, 1, opt->min_seconds);
        }
        double d = bench_median(direct, opt->runs), p = bench_median(proxied, opt->runs);
        if (d <= 0 || p <= 0) {
            return 1;
        }
        printf("%-22s %14.0f %9s %12.0f %8.2fx  (round trips/s; baseline: direct; the proxy adds %.1f us)\n",
               "proxy/rr-tcp", p, "-", d, p / d, (1e6 / p) - (1e6 / d));
        fflush(stdout);
    }
    if (bench_selected(opt, "proxy/stream64k-tcp")) {
        for (int i = 0; i < opt->runs; i++) {
            direct[i] = run_once(0, 0, opt->min_seconds);
            proxied[i] = run_once(0, 1, opt->min_seconds);
        }
        double d = bench_median(direct, opt->runs), p = bench_median(proxied, opt->runs);
        if (d <= 0 || p <= 0) {
            return 1;
        }
        bench_print_row("proxy/stream64k-tcp", p / BIG_FRAME, p / 1e9, d / 1e9);
    }
    return 0;
}
