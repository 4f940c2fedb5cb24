/*
 * The network fuzzer's speed (issue 16: at least 2,000 cases/s against
 * `tofulab serve` over UDS, without --spawn restarts):
 *   fuzzpeer/cases-uds   cases/s of tl_fuzzpeer_run (default options: 4
 *                        connections at once, a liveness probe after each
 *                        batch, built-in seeds) against `tofulab serve`
 *                        running on a Unix socket,
 * against a baseline measured in the same run: the simplest possible case
 * (connect, HelloRequest and Request, their two replies, close) on as many
 * connections at once, as fast as they go.
 */
#include <fcntl.h>
#include <time.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "../../fuzzpeer/fuzzpeer.h"

#define LANES 4

/* build/bench/tofulab-bench -> build/tofulab */
static int tofulab_bin(char *bin, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", bin, cap - 32);
    char *slash;

    if (n <= 0) {
        return -1;
    }
    bin[n] = '\0';
    slash = strrchr(bin, '/');
    if (slash == NULL) {
        return -1;
    }
    *slash = '\0';
    slash = strrchr(bin, '/');
    if (slash == NULL) {
        return -1;
    }
    strcpy(slash + 1, "tofulab");
    return access(bin, X_OK);
}

static pid_t serve_uds(const char *bin, const char *path)
{
    char addr[220];
    pid_t pid;
    int i;

    snprintf(addr, sizeof addr, "uds|%s", path);
    unlink(path);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);

        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execl(bin, bin, "serve", "--listen", addr, (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 500 && access(path, F_OK) != 0; i++) {
        struct timespec ts = {0, 10000000L};

        nanosleep(&ts, NULL);
    }
    return pid;
}

/* ---- baseline: the simplest case, LANES connections at once ---- */

typedef struct {
    const char *path;
    double until;
    long done;
} lane;

static int one_case(const char *path)
{
    static const char text[] = "~connect_to:uds|/tmp/bench.sock\r\n";
    struct sockaddr_un sa;
    uint8_t out[256], in[512];
    tl_header h;
    size_t n = 0, got = 0, want;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    if (fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    memset(&h, 0, sizeof h);
    h.channel = 1;
    h.proto = TL_OP_HELLO_REQUEST;
    h.message_id = 1;
    n += (size_t)tl_frame_encode(&h, (const uint8_t *)text, sizeof text - 1, NULL, 0, out, sizeof out);
    h.proto = TL_OP_REQUEST;
    h.message_id = 2;
    n += (size_t)tl_frame_encode(&h, NULL, 0, out, 16, out + n, sizeof out - n);
    want = 2 * (TL_HEADER_SIZE + 16) + sizeof text - 1;
    if (write(fd, out, n) != (ssize_t)n) {
        close(fd);
        return -1;
    }
    while (got < want) {
        ssize_t r = read(fd, in + got, sizeof in - got);

        if (r <= 0) {
            close(fd);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    return 0;
}

static void *lane_main(void *arg)
{
    lane *l = arg;

    while (bench_now() < l->until) {
        if (one_case(l->path) == 0) {
            l->done++;
        }
    }
    return NULL;
}

static double baseline(const char *path, double secs)
{
    lane lanes[LANES];
    pthread_t th[LANES];
    double t0 = bench_now();
    long total = 0;
    int i;

    for (i = 0; i < LANES; i++) {
        lanes[i].path = path;
        lanes[i].until = t0 + secs;
        lanes[i].done = 0;
        pthread_create(&th[i], NULL, lane_main, &lanes[i]);
    }
    for (i = 0; i < LANES; i++) {
        pthread_join(th[i], NULL);
        total += lanes[i].done;
    }
    return (double)total / (bench_now() - t0);
}

static double fuzz(const char *path, const char *dir, double secs)
{
    tl_fuzzpeer_options o;
    tl_fuzzpeer_report *rep = calloc(1, sizeof *rep);
    char addr[220], err[600];
    FILE *log = fopen("/dev/null", "w");
    double rate = 0.0;

    if (rep == NULL || log == NULL) {
        free(rep);
        if (log != NULL) {
            fclose(log);
        }
        return 0.0;
    }
    memset(&o, 0, sizeof o);
    snprintf(addr, sizeof addr, "uds|%s", path);
    tl_address_parse(addr, strlen(addr), &o.peer);
    o.time_ms = (uint64_t)(secs * 1000.0);
    o.seed = 1;
    o.out_dir = dir;
    o.log = log;
    if (tl_fuzzpeer_run(&o, rep, err, sizeof err) == TL_OK && rep->finding_count == 0) {
        rate = rep->cases_per_s;
    } else {
        fprintf(stderr, "bench fuzzpeer: %s (%zu findings)\n", err, rep->finding_count);
    }
    fclose(log);
    free(rep);
    return rate;
}

int bench_fuzzpeer_run(const bench_options *opt)
{
    char bin[4096], dir[] = "/tmp/tofulab-bench-fp.XXXXXX", path[200], cmd[300];
    double f[5], b[5], secs = opt->quick ? 1.0 : 3.0;
    int runs = opt->quick ? 1 : 3, i;
    pid_t pid;

    if (!bench_selected(opt, "fuzzpeer/cases-uds")) {
        return 0;
    }
    if (tofulab_bin(bin, sizeof bin) != 0 || mkdtemp(dir) == NULL) {
        printf("%-22s cannot find build/tofulab\n", "fuzzpeer/cases-uds");
        return 0;
    }
    snprintf(path, sizeof path, "%s/serve.sock", dir);
    pid = serve_uds(bin, path);
    if (pid <= 0) {
        return 0;
    }
    for (i = 0; i < runs; i++) {
        b[i] = baseline(path, secs);
        f[i] = fuzz(path, dir, secs);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    {
        double fv = bench_median(f, runs), bv = bench_median(b, runs);

        printf("%-22s %14.0f %9s %12.0f %8.2fx  (cases/s against serve over UDS, %d connections; baseline: "
               "connect, Hello + Request, close)\n",
               "fuzzpeer/cases-uds", fv, "-", bv, bv > 0 ? fv / bv : 0.0, LANES);
        fflush(stdout);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench fuzzpeer: could not remove %s\n", dir);
    }
    return 0;
}
