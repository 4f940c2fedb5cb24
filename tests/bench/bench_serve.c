/*
 * `tofulab serve` under attack (issue 13), against a fresh serve with its
 * default limits, on loopback (tests/helpers/hostile.h):
 *   serve/idle-1000          RSS with 1,000 idle connections (each said Hello);
 *                            baseline: the idle server; KiB per connection
 *   serve/rss-hostile-1000   peak RSS with 1,000 hostile connections (250 each:
 *                            10 bytes of a header, a header announcing 64 KiB,
 *                            60 KiB of a 64 KiB body, garbage) plus 200 slowloris;
 *                            baseline: the idle server (target: under 64 MiB)
 *   serve/p99-<attack>       a fresh client's HelloRequest and 100 echoes while
 *                            the attack is held: p99 round trip, against the same
 *                            client with no attack (baseline), and the server's
 *                            peak RSS; attacks: slowloris-200, partial-1000
 *                            (500 header-only + 500 60 KiB bodies), hostile-1000,
 *                            load-300 (300 pipelined clients running)
 * Figures on a shared machine are indicative; each case reports the median of
 * its runs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "../helpers/hostile.h"

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

#define ECHOES 100

/* p99 (ns) of a fresh client's 100 echoes; 0 on failure. */
static uint64_t new_client_p99(uint16_t port, uint64_t *p50)
{
    uint64_t lat[ECHOES];
    char why[200];
    if (hs_echo_session(port, ECHOES, lat, 10000, why, sizeof why) != 0) {
        fprintf(stderr, "tofulab-bench: serve: a fresh client was not served: %s\n", why);
        return 0;
    }
    *p50 = hs_percentile(lat, ECHOES, 50);
    return hs_percentile(lat, ECHOES, 99);
}

typedef struct {
    uint16_t port;
    hs_load load;
    int rc;
} load_arg;

static void *load_main(void *arg)
{
    load_arg *a = arg;
    a->rc = hs_load_run(a->port, &a->load);
    return NULL;
}

typedef enum { ATTACK_NONE, ATTACK_SLOWLORIS, ATTACK_PARTIAL, ATTACK_HOSTILE, ATTACK_LOAD } attack;

typedef struct {
    uint64_t p50, p99;
    long peak_kib, idle_kib, held_kib;
    int ok;
} attack_result;

/* One run: a fresh serve, the attack held, the new client timed. */
static void run_attack(const char *bin, attack kind, attack_result *r)
{
    const char *extra[] = {"--quiet", "--handshake-timeout", "300s", "--frame-timeout", "300s", NULL};
    hs_server s;
    int fds[1000];
    int nfds = 0;
    hs_slowloris *sl = NULL;
    pthread_t th;
    load_arg la;
    int load_started = 0;

    memset(r, 0, sizeof *r);
    if (hs_server_start(&s, bin, extra, 10000) != 0) {
        fprintf(stderr, "tofulab-bench: serve: cannot start %s serve\n", bin);
        return;
    }
    r->idle_kib = hs_rss_kib(s.pid, 0);
    switch (kind) {
    case ATTACK_NONE: break;
    case ATTACK_SLOWLORIS: sl = hs_slowloris_start(s.port, 200, 100); break;
    case ATTACK_PARTIAL:
        hs_hostile_open(s.port, HS_HEADER_ONLY, 500, fds);
        hs_hostile_open(s.port, HS_BODY_60K, 500, fds + 500);
        nfds = 1000;
        break;
    case ATTACK_HOSTILE:
        hs_hostile_open(s.port, HS_HEADER_PART, 250, fds);
        hs_hostile_open(s.port, HS_HEADER_ONLY, 250, fds + 250);
        hs_hostile_open(s.port, HS_BODY_60K, 250, fds + 500);
        hs_hostile_open(s.port, HS_GARBAGE, 250, fds + 750);
        nfds = 1000;
        sl = hs_slowloris_start(s.port, 200, 100);
        break;
    case ATTACK_LOAD:
        memset(&la, 0, sizeof la);
        la.port = s.port;
        la.load.clients = 300;
        la.load.messages = 2000;
        la.load.window = 16;
        la.load.timeout_ms = 120000;
        load_started = pthread_create(&th, NULL, load_main, &la) == 0;
        break;
    }
    sleep_us(kind == ATTACK_NONE ? 50000 : 500000);
    r->p99 = new_client_p99(s.port, &r->p50);
    r->ok = r->p99 != 0;
    r->held_kib = hs_rss_kib(s.pid, 0);
    r->peak_kib = hs_rss_kib(s.pid, 1);
    if (sl != NULL) {
        hs_slowloris_stop(sl, NULL);
    }
    if (load_started) {
        pthread_join(th, NULL);
    }
    hs_hostile_close(fds, nfds);
    hs_server_stop(&s, 5000);
    free(s.err);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t median_u64(uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_u64);
    return v[n / 2];
}

/* RSS of serve with 1,000 idle connections that said Hello. */
static void idle_connections(const char *bin, int runs)
{
    double per[5], idle[5], held[5];
    int n = 0;
    for (int i = 0; i < runs; i++) {
        const char *extra[] = {"--quiet", "--handshake-timeout", "300s", NULL};
        hs_server s;
        static int fds[1000];
        if (hs_server_start(&s, bin, extra, 10000) != 0) {
            continue;
        }
        idle[n] = (double)hs_rss_kib(s.pid, 0);
        int open = hs_hostile_open(s.port, HS_HELLO_IDLE, 1000, fds);
        sleep_us(300000);
        held[n] = (double)hs_rss_kib(s.pid, 0);
        per[n] = open > 0 ? (held[n] - idle[n]) * 1024.0 / open : 0;
        hs_hostile_close(fds, 1000);
        hs_server_stop(&s, 5000);
        free(s.err);
        n++;
    }
    if (n == 0) {
        printf("%-22s failed to run %s serve\n", "serve/idle-1000", bin);
        return;
    }
    double p = bench_median(per, n), h = bench_median(held, n), i0 = bench_median(idle, n);
    printf("%-22s %14.0f %9s %12.0f %8.2fx  (RSS KiB with 1,000 idle connections; baseline: idle serve; "
           "%.0f bytes per connection)\n",
           "serve/idle-1000", h, "-", i0, i0 > 0 ? h / i0 : 0.0, p);
    fflush(stdout);
}

int bench_serve_run(const bench_options *opt)
{
    static const struct {
        const char *name;
        attack kind;
        const char *what;
    } cases[] = {
        {"serve/p99-slowloris-200", ATTACK_SLOWLORIS, "200 slowloris, a byte per 100 ms"},
        {"serve/p99-partial-1000", ATTACK_PARTIAL, "500 header-only + 500 x 60 KiB of a 64 KiB body, held"},
        {"serve/p99-hostile-1000", ATTACK_HOSTILE, "1,000 hostile connections of four kinds + 200 slowloris"},
        {"serve/p99-load-300", ATTACK_LOAD, "300 pipelined clients running"},
    };
    const char *bin = bench_tofulab_bin();
    int runs = opt->quick ? 1 : 3;

    if (bin == NULL) {
        fprintf(stderr, "tofulab-bench: serve: cannot find the tofulab binary\n");
        return -1;
    }
    if (bench_selected(opt, "serve/idle-1000")) {
        idle_connections(bin, runs);
    }
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint64_t base[5], p99[5], p50[5];
        double peak[5], idle[5];
        int n = 0;
        if (!bench_selected(opt, cases[c].name)) {
            continue;
        }
        for (int i = 0; i < runs; i++) {
            attack_result none, r;
            run_attack(bin, ATTACK_NONE, &none);
            run_attack(bin, cases[c].kind, &r);
            if (!none.ok || !r.ok) {
                continue;
            }
            base[n] = none.p99;
            p99[n] = r.p99;
            p50[n] = r.p50;
            peak[n] = (double)r.peak_kib;
            idle[n] = (double)r.idle_kib;
            n++;
        }
        if (n == 0) {
            printf("%-22s failed\n", cases[c].name);
            continue;
        }
        double b = (double)median_u64(base, n) / 1e6, v = (double)median_u64(p99, n) / 1e6;
        double m50 = (double)median_u64(p50, n) / 1e6;
        printf("%-22s %14.3f %9s %12.3f %8.2fx  (p99 ms of a new client's 100 echoes under %s; p50 %.3f ms; "
               "baseline: no attack; server peak RSS %.1f MiB)\n",
               cases[c].name, v, "-", b, b > 0 ? v / b : 0.0, cases[c].what, m50,
               bench_median(peak, n) / 1024.0);
        fflush(stdout);
        if (cases[c].kind == ATTACK_HOSTILE) {
            double pk = bench_median(peak, n), id = bench_median(idle, n);
            printf("%-22s %14.0f %9s %12.0f %8.2fx  (peak RSS KiB with 1,000 hostile connections + 200 "
                   "slowloris; baseline: idle serve; target under 65536)\n",
                   "serve/rss-hostile-1000", pk, "-", id, id > 0 ? pk / id : 0.0);
            fflush(stdout);
        }
    }
    return 0;
}
