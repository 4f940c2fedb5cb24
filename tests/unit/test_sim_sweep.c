/*
 * Seed sweeps (sim/sweep.h), swarm ranges and the scenario writer
 * (tl_scn_write), and `tofulab sim sweep` / `sim shrink` usage: results over
 * worker processes equal sequential tl_scn_run results; shards partition the
 * list exactly; a swarm draw is a function of the seed; every scenario file
 * written back runs to the same trace hash; bad usage exits 2 with one line.
 * The binary named by $TOFULAB (default build/tofulab) runs from the
 * repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <glob.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../sim/sim.h"
#include "../../sim/sweep.h"

extern char **environ;

static const char *small_scn =
    "seeds 1..6\n"
    "duration 30s\n"
    "node server\n"
    "node client\n"
    "link client server delay 5ms jitter 2ms loss 5%\n"
    "heal 20s\n"
    "service server echo listen=tcp|server|7099\n"
    "service client rr connect=tcp|server|7099 count=20 size=10..500 concurrency=2\n"
    "expect client answered == 20\n"
    "expect * retransmits < 3\n"; /* fails for some seeds */

static const char *swarm_scn = "duration 30s\n"
                               "node server\n"
                               "node client\n"
                               "link client server delay 5ms..50ms jitter 0ms..4ms loss 1%..10%\n"
                               "service server echo listen=tcp|server|7099\n"
                               "service client rr connect=tcp|server|7099 count=30\n"
                               "at 1s link client server delay 1ms..9ms corrupt 0%..1%\n"
                               "heal 20s\n"
                               "expect client answered == 30\n";

static tl_scenario *parse(const char *text)
{
    tl_scenario *scn = NULL;
    tl_scn_error err;
    int rc = tl_scn_parse(text, strlen(text), "t.scn", &scn, &err);
    if (rc != TL_OK) {
        fail_msg("%u:%u: %s", err.line, err.column, err.message);
    }
    return scn;
}

static uint64_t hash_of(const tl_scenario *scn, uint64_t seed, int swarm, int *passed)
{
    tl_scn_run_options o;
    tl_scn_result r;
    memset(&o, 0, sizeof o);
    o.swarm = swarm;
    assert_int_equal(tl_scn_run(scn, seed, &o, &r), TL_OK);
    if (passed) {
        *passed = r.passed;
    }
    return r.trace_hash;
}

static void test_sim_sweep_parallel_results_equal_sequential(void **state)
{
    (void)state;
    tl_scenario *scn[2] = {parse(small_scn), parse(swarm_scn)};
    uint64_t first[2] = {1, 3}, last[2] = {6, 7};
    tl_sweep_item *items;
    size_t n;
    assert_int_equal(tl_sweep_plan(first, last, 2, 1, 1, &items, &n), TL_OK);
    assert_int_equal(n, 11);
    tl_sweep_result *par = calloc(n, sizeof *par), *seq = calloc(n, sizeof *seq);
    tl_sweep_options o;
    memset(&o, 0, sizeof o);
    /* Under Valgrind (make check) the workers' inherited heap would be
     * reported as still reachable when they _exit: run in-process there;
     * ASan and the plain run cover the worker processes. */
    const char *check = getenv("TOFULAB_CHECK");
    o.jobs = check && strcmp(check, "valgrind") == 0 ? 1 : 3;
    o.swarm = 1;
    assert_int_equal(tl_sweep_run(scn, items, n, &o, par), TL_OK);
    o.jobs = 1;
    assert_int_equal(tl_sweep_run(scn, items, n, &o, seq), TL_OK);
    int failures = 0;
    for (size_t k = 0; k < n; k++) {
        int passed;
        uint64_t h = hash_of(scn[items[k].file], items[k].seed, 1, &passed);
        assert_int_equal(par[k].rc, TL_OK);
        assert_true(par[k].trace_hash == h);
        assert_true(seq[k].trace_hash == h);
        assert_int_equal(par[k].passed, passed);
        assert_string_equal(par[k].first_failure, seq[k].first_failure);
        failures += !passed;
    }
    assert_true(failures > 0); /* the list mixes passing and failing runs */
    free(par);
    free(seq);
    free(items);
    tl_scn_free(scn[0]);
    tl_scn_free(scn[1]);
}

static void test_sim_sweep_shards_partition_the_list_exactly(void **state)
{
    (void)state;
    uint64_t first[3] = {1, 10, 5}, last[3] = {7, 10, 17};
    tl_sweep_item *all;
    size_t total;
    assert_int_equal(tl_sweep_plan(first, last, 3, 1, 1, &all, &total), TL_OK);
    assert_int_equal(total, 7 + 1 + 13);
    for (unsigned shards = 1; shards <= 25; shards++) {
        unsigned char *seen = calloc(total, 1);
        size_t sum = 0;
        for (unsigned i = 1; i <= shards; i++) {
            tl_sweep_item *part;
            size_t n;
            assert_int_equal(tl_sweep_plan(first, last, 3, i, shards, &part, &n), TL_OK);
            /* the same call gives the same slice */
            tl_sweep_item *again;
            size_t n2;
            assert_int_equal(tl_sweep_plan(first, last, 3, i, shards, &again, &n2), TL_OK);
            assert_int_equal(n, n2);
            for (size_t k = 0; k < n; k++) {
                assert_int_equal(part[k].file, again[k].file);
                assert_true(part[k].seed == again[k].seed);
            }
            free(again);
            for (size_t k = 0; k < n; k++) {
                size_t pos;
                for (pos = 0; pos < total; pos++) {
                    if (all[pos].file == part[k].file && all[pos].seed == part[k].seed) {
                        break;
                    }
                }
                assert_true(pos < total);
                assert_int_equal(seen[pos], 0);
                seen[pos] = 1;
            }
            /* balanced: sizes differ by at most one */
            assert_true(n == total / shards || n == total / shards + 1);
            sum += n;
            free(part);
        }
        assert_int_equal(sum, total);
        free(seen);
    }
    free(all);
}

static void test_sim_sweep_bad_shard_is_einval(void **state)
{
    (void)state;
    uint64_t first = 1, last = 5;
    tl_sweep_item *items;
    size_t n;
    assert_int_equal(tl_sweep_plan(&first, &last, 1, 0, 3, &items, &n), TL_E_INVAL);
    assert_int_equal(tl_sweep_plan(&first, &last, 1, 4, 3, &items, &n), TL_E_INVAL);
    first = 6;
    assert_int_equal(tl_sweep_plan(&first, &last, 1, 1, 1, &items, &n), TL_E_INVAL);
}

/* A list of 2^63-seed ranges is counted and indexed, never materialised;
 * every shard's k-th pair is the pair at position k * N + I - 1. */
static void test_sim_sweep_list_huge_ranges_indexed_without_memory(void **state)
{
    (void)state;
    const uint64_t max = TL_SWEEP_SEED_MAX;
    uint64_t first[3] = {1, 5, max - 9}, last[3] = {max, 5, max};
    tl_sweep_list l;
    assert_int_equal(tl_sweep_list_init(&l, first, last, 3, 1, 1), TL_OK);
    assert_true(l.total == max + 1 + 10);
    assert_true(l.count == l.total);
    tl_sweep_item it;
    tl_sweep_list_at(&l, 0, &it);
    assert_true(it.file == 0 && it.seed == 1);
    tl_sweep_list_at(&l, max - 1, &it);
    assert_true(it.file == 0 && it.seed == max);
    tl_sweep_list_at(&l, max, &it);
    assert_true(it.file == 1 && it.seed == 5);
    tl_sweep_list_at(&l, l.count - 1, &it);
    assert_true(it.file == 2 && it.seed == max);
    tl_sweep_list_free(&l);
    /* shard 3 of 7: position g = k * 7 + 2 */
    assert_int_equal(tl_sweep_list_init(&l, first, last, 3, 3, 7), TL_OK);
    assert_true(l.count == l.total / 7 + (l.total % 7 > 2));
    tl_sweep_list_at(&l, 1, &it);
    assert_true(it.file == 0 && it.seed == 1 + 9);
    tl_sweep_list_at(&l, l.count - 1, &it);
    assert_true((l.count - 1) * 7 + 2 < l.total);
    assert_int_equal(it.file, 2);
    tl_sweep_list_free(&l);
    /* more pairs than a 64-bit count holds */
    uint64_t f2[3] = {1, 1, 1}, l2[3] = {max, max, max};
    assert_int_equal(tl_sweep_list_init(&l, f2, l2, 3, 1, 1), TL_E_LIMIT);
    uint64_t f3 = 0, l3 = UINT64_MAX;
    assert_int_equal(tl_sweep_list_init(&l, &f3, &l3, 1, 1, 1), TL_E_LIMIT);
    assert_int_equal(tl_sweep_list_init(&l, first, last, 3, 0, 7), TL_E_INVAL);
    assert_int_equal(tl_sweep_list_init(&l, first, last, 3, 8, 7), TL_E_INVAL);
    tl_sweep_list_free(&l); /* harmless after a failed init */
}

typedef struct {
    uint64_t calls;
    int in_order;
    const tl_sweep_list *list;
    tl_scenario **scn;
    int mismatches;
} stream_check;

static void check_each(void *ctx, uint64_t k, const tl_sweep_item *it, const tl_sweep_result *r)
{
    stream_check *c = ctx;
    c->in_order &= k == c->calls;
    c->calls++;
    tl_sweep_item want;
    tl_sweep_list_at(c->list, k, &want);
    int passed;
    if (want.file != it->file || want.seed != it->seed || r->rc != TL_OK ||
        hash_of(c->scn[it->file], it->seed, 0, &passed) != r->trace_hash || passed != r->passed ||
        r->events == 0) {
        c->mismatches++;
    }
}

/* tl_sweep_stream over worker processes hands every pair of a shard to the
 * callback once, in list order, with the result of a run in this process. */
static void test_sim_sweep_stream_in_order_equals_sequential(void **state)
{
    (void)state;
    tl_scenario *scn[2] = {parse(small_scn), parse(swarm_scn)};
    uint64_t first[2] = {1, 40}, last[2] = {9, 52};
    const char *check = getenv("TOFULAB_CHECK");
    for (uint64_t shard = 1; shard <= 2; shard++) {
        tl_sweep_list l;
        assert_int_equal(tl_sweep_list_init(&l, first, last, 2, shard, 2), TL_OK);
        stream_check c = {0, 1, &l, scn, 0};
        tl_sweep_options o;
        memset(&o, 0, sizeof o);
        o.jobs = check && strcmp(check, "valgrind") == 0 ? 1 : 3; /* see the first test */
        assert_int_equal(tl_sweep_stream(scn, &l, &o, check_each, &c), TL_OK);
        assert_true(c.calls == l.count);
        assert_true(c.calls == 11);
        assert_true(c.in_order);
        assert_int_equal(c.mismatches, 0);
        tl_sweep_list_free(&l);
    }
    tl_scn_free(scn[0]);
    tl_scn_free(scn[1]);
}

typedef struct {
    uint64_t calls, broken, passed_or_failed;
    uint64_t broken_k[4];
    char note[256];
} crash_check;

static void count_each(void *ctx, uint64_t k, const tl_sweep_item *it, const tl_sweep_result *r)
{
    (void)it;
    crash_check *c = ctx;
    c->calls++;
    if (r->rc != TL_OK) {
        if (c->broken < 4) {
            c->broken_k[c->broken] = k;
        }
        c->broken++;
        snprintf(c->note, sizeof c->note, "%s", r->first_failure);
    } else {
        c->passed_or_failed++;
    }
}

/* A run that kills its worker process is reported as that run's failure,
 * saying how it ended, and a new worker runs the rest of the share: one
 * crash costs one result, not the worker's whole share. */
static void test_sim_sweep_stream_worker_crash_costs_one_run(void **state)
{
    (void)state;
    const char *check = getenv("TOFULAB_CHECK");
    if (check && strcmp(check, "valgrind") == 0) {
        skip(); /* workers run in-process under Valgrind (see the first test): nothing to crash */
    }
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* the crashing worker leaves no core file */
    tl_scenario *scn[2] = {parse(small_scn), (tl_scenario *)(uintptr_t)64}; /* file 1: a bad pointer */
    uint64_t first[3] = {1, 7, 1}, last[3] = {6, 7, 6};
    /* files 0, 1, 0 (scn[2] = scn[0]): the pair at position 6 crashes */
    tl_scenario *three[3] = {scn[0], scn[1], scn[0]};
    tl_sweep_list l;
    assert_int_equal(tl_sweep_list_init(&l, first, last, 3, 1, 1), TL_OK);
    crash_check c;
    memset(&c, 0, sizeof c);
    tl_sweep_options o;
    memset(&o, 0, sizeof o);
    o.jobs = 2;
    assert_int_equal(tl_sweep_stream(three, &l, &o, count_each, &c), TL_OK);
    assert_true(c.calls == 13);
    assert_true(c.broken == 1);
    assert_true(c.broken_k[0] == 6);
    assert_true(c.passed_or_failed == 12);
    assert_non_null(strstr(c.note, "the run killed its worker process (signal"));
    tl_sweep_list_free(&l);
    tl_scn_free(scn[0]);
}

static void test_sim_swarm_draw_is_deterministic_per_seed(void **state)
{
    (void)state;
    tl_scenario *scn = parse(swarm_scn);
    assert_true(tl_scn_has_ranges(scn));
    uint64_t h3 = hash_of(scn, 3, 1, NULL);
    assert_true(hash_of(scn, 3, 1, NULL) == h3);
    /* different seeds draw differently: among 5 seeds, more than one hash */
    int distinct = 0;
    for (uint64_t s = 4; s < 9; s++) {
        distinct += hash_of(scn, s, 1, NULL) != h3;
    }
    assert_true(distinct > 0);
    /* the drawn values written out run the same without --swarm */
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    assert_int_equal(tl_scn_write(scn, m, TL_SCN_WRITE_SEED | TL_SCN_WRITE_DRAW, 3), TL_OK);
    fclose(m);
    assert_null(strstr(text, ".."));
    tl_scenario *fixed = parse(text);
    assert_false(tl_scn_has_ranges(fixed));
    assert_true(hash_of(fixed, 3, 0, NULL) == h3);
    tl_scn_free(fixed);
    free(text);
    tl_scn_free(scn);
}

static void test_sim_swarm_off_means_lower_bounds(void **state)
{
    (void)state;
    tl_scenario *ranged = parse(swarm_scn);
    tl_scenario *low = parse("duration 30s\n"
                             "node server\n"
                             "node client\n"
                             "link client server delay 5ms jitter 0ms loss 1%\n"
                             "service server echo listen=tcp|server|7099\n"
                             "service client rr connect=tcp|server|7099 count=30\n"
                             "at 1s link client server delay 1ms corrupt 0%\n"
                             "heal 20s\n"
                             "expect client answered == 30\n");
    assert_true(hash_of(ranged, 2, 0, NULL) == hash_of(low, 2, 0, NULL));
    tl_scn_free(ranged);
    tl_scn_free(low);
}

static void test_sim_scenario_bad_range_is_rejected(void **state)
{
    (void)state;
    static const char *bad[] = {
        "node a\nnode b\nlink a b loss 10%..1%\n",
        "node a\nnode b\nlink a b delay 5ms..x\n",
        "node a\nnode b\nlink a b delay 50ms..5ms\n",
        "node a\nnode b\nlink a b corrupt 1%..200%\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tl_scenario *scn = NULL;
        tl_scn_error err;
        assert_int_equal(tl_scn_parse(bad[i], strlen(bad[i]), "bad.scn", &scn, &err), TL_E_INVAL);
        assert_int_equal(err.line, 3);
        assert_non_null(strstr(err.message, "expected"));
    }
}

/* Every scenario file, written back by tl_scn_write, runs to the same hash. */
static void test_sim_scenario_write_every_file_same_trace_hash(void **state)
{
    (void)state;
    glob_t g;
    memset(&g, 0, sizeof g);
    glob("scenarios/*/*.scn", 0, NULL, &g);
    assert_true(g.gl_pathc > 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        tl_scenario *scn = NULL;
        tl_scn_error err;
        if (tl_scn_load(g.gl_pathv[i], &scn, &err) != TL_OK) {
            fail_msg("%s:%u:%u: %s", g.gl_pathv[i], err.line, err.column, err.message);
        }
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);
        assert_int_equal(tl_scn_write(scn, m, 0, 0), TL_OK);
        fclose(m);
        tl_scenario *back = NULL;
        if (tl_scn_parse(text, len, g.gl_pathv[i], &back, &err) != TL_OK) {
            fail_msg("%s written back: %u:%u: %s\n%s", g.gl_pathv[i], err.line, err.column, err.message,
                     text);
        }
        uint64_t a, b, c, d;
        tl_scn_seeds(scn, &a, &b);
        tl_scn_seeds(back, &c, &d);
        assert_true(a == c && b == d);
        assert_true(tl_scn_duration(scn) == tl_scn_duration(back));
        /* scenarios-real/: real processes, written back the same, not simulated */
        assert_true((tl_scn_real_node(scn, NULL) == NULL) == (tl_scn_real_node(back, NULL) == NULL));
        if (tl_scn_real_node(scn, NULL) == NULL && hash_of(scn, a, 0, NULL) != hash_of(back, a, 0, NULL)) {
            fail_msg("%s written back runs differently:\n%s", g.gl_pathv[i], text);
        }
        tl_scn_free(back);
        tl_scn_free(scn);
        free(text);
    }
    globfree(&g);
}

/* ---- the command line ---- */

typedef struct {
    char *out;
    char *err;
    int code;
} result;

static char tmpdir[256];

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    return b;
}

static void tmp_path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", tmpdir, name); }

static void run_tofulab(result *r, const char *const *args)
{
    const char *bin = getenv("TOFULAB");
    char *argv[24];
    int n = 0;
    char out[512], err[512];
    argv[n++] = (char *)((bin && bin[0]) ? bin : "build/tofulab");
    for (; args[n - 1] && n < 23; n++) {
        argv[n] = (char *)args[n - 1];
    }
    argv[n] = NULL;
    tmp_path(out, sizeof out, "stdout");
    tmp_path(err, sizeof err, "stderr");
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status;
    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fail_msg("cannot run %s (set TOFULAB)", argv[0]);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->out = slurp(out);
    r->err = slurp(err);
}

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

static void write_tmp(const char *name, const char *text)
{
    char p[512];
    tmp_path(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/tofulab-sweep.XXXXXX", (t && t[0]) ? t : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"stdout",   "stderr",   "mixed.scn", "junit.xml", "sweep.json",
                           "run.html", "fail.scn", "min.scn",   "plan.txt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[512];
        tmp_path(p, sizeof p, names[i]);
        unlink(p);
    }
    rmdir(tmpdir);
    return 0;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

static void test_sim_sweep_cli_bad_usage_exits_2_one_line(void **state)
{
    (void)state;
    static const char *const cases[][6] = {
        {"sim", "sweep", NULL},
        {"sim", "sweep", "scenarios/request-response/basic.scn", "--shard", "0/2", NULL},
        {"sim", "sweep", "scenarios/request-response/basic.scn", "--shard", "3/2", NULL},
        {"sim", "sweep", "scenarios/request-response/basic.scn", "--seeds", "9..1", NULL},
        {"sim", "sweep", "scenarios/request-response/basic.scn", "--jobs", "0", NULL},
        {"sim", "sweep", "scenarios/request-response/basic.scn", "--bogus", NULL},
        {"sim", "sweep", "no/such/file.scn", NULL},
        {"sim", "shrink", "scenarios/request-response/basic.scn", NULL},
        {"sim", "shrink", "scenarios/request-response/basic.scn", "--seed", "x", NULL},
        {"sim", "run", "scenarios/request-response/basic.scn", "--html", "-", NULL},
        {"sim", "sweep", "scenarios/request-response/basic.scn", "--plan",
         "scenarios/request-response/basic.scn", NULL},
        {"sim", "sweep", "--plan", "no/such/plan", NULL},
        {"sim", "sweep", "scenarios/request-response/basic.scn", "--failures", "", NULL},
        {"sim", "sweep", "scenarios/request-response/basic.scn", "--failures", "/dev/null/x", NULL},
        {"sim", "sweep", "scenarios/request-response/basic.scn", "--shrink-time", "1m", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        result r;
        run_tofulab(&r, cases[i]);
        if (r.code != 2 || count_lines(r.err) != 1 || strncmp(r.err, "tofulab: ", 9) != 0) {
            fail_msg("case %zu: exit %d, stderr '%s'", i, r.code, r.err);
        }
        assert_string_equal(r.out, "");
        result_free(&r);
    }
}

static void test_sim_sweep_cli_failing_seed_prints_replay_and_exits_1(void **state)
{
    (void)state;
    char scn[512], junit[512], json[512];
    write_tmp("mixed.scn", small_scn);
    tmp_path(scn, sizeof scn, "mixed.scn");
    tmp_path(junit, sizeof junit, "junit.xml");
    tmp_path(json, sizeof json, "sweep.json");
    const char *args[] = {"sim",    "sweep", scn,       "scenarios/request-response/basic.scn",
                          "--jobs", "2",     "--junit", junit,
                          "--json", json,    NULL};
    result r;
    run_tofulab(&r, args);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.out, "scenario"));
    assert_non_null(strstr(r.out, "first-fail"));
    assert_non_null(strstr(r.out, " --trace -\n"));
    char want[600];
    snprintf(want, sizeof want, "replay: tofulab sim run %s --seed ", scn);
    assert_non_null(strstr(r.out, want));
    /* the last line counts every run: 6 + 3 */
    const char *last = strrchr(r.out, '\n');
    while (last > r.out && last[-1] != '\n') {
        last--;
    }
    unsigned p, f;
    assert_int_equal(sscanf(last, "%u passed, %u failed", &p, &f), 2);
    assert_int_equal(p + f, 9);
    assert_true(f > 0);
    char *x = slurp(junit);
    assert_non_null(strstr(x, "<testsuites"));
    assert_non_null(strstr(x, "<failure message="));
    free(x);
    x = slurp(json);
    assert_non_null(strstr(x, "\"result\":\"FAIL\""));
    free(x);
    result_free(&r);

    /* a shard runs its slice only: 9 runs over 2 shards = 5 + 4 */
    const char *shard[] = {"sim",     "sweep", scn, "scenarios/request-response/basic.scn",
                           "--shard", "2/2",   NULL};
    run_tofulab(&r, shard);
    assert_non_null(strstr(r.out, "shard 2/2: 4 runs\n"));
    result_free(&r);
}

/* Files given together may mix in real-process files (scenarios-real/): `sim sweep` skips the
 * real-process files among the files it is given and names them on stderr
 * (the simulator's files run); alone they are refused (exit 2, one line). */
static void test_sim_sweep_cli_real_process_files_skipped_and_named(void **state)
{
    (void)state;
    const char *mixed[] = {"sim",
                           "sweep",
                           "scenarios-real/crash-restart.scn",
                           "scenarios/request-response/basic.scn",
                           "scenarios-real/pause-resume.scn",
                           "--seeds",
                           "1..3",
                           "--quiet",
                           NULL};
    result r;
    run_tofulab(&r, mixed);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "1 scenario x 3 seeds = 3 runs: 3 passed, 0 failed\n"));
    assert_non_null(strstr(r.err,
                           "tofulab: sim sweep: skipped 2 files of real processes (`tofulab run FILE` runs "
                           "them): scenarios-real/crash-restart.scn scenarios-real/pause-resume.scn\n"));
    result_free(&r);

    const char *only_real[] = {"sim", "sweep", "scenarios-real/crash-restart.scn",
                               "scenarios-real/pause-resume.scn", NULL};
    run_tofulab(&r, only_real);
    assert_int_equal(r.code, 2);
    assert_int_equal(count_lines(r.err), 1);
    assert_non_null(strstr(r.err, "scenarios-real/crash-restart.scn:"));
    assert_non_null(strstr(r.err, "is a real process"));
    assert_string_equal(r.out, "");
    result_free(&r);
}

/* --seeds takes 1 <= A <= B <= 2^63; a sweep of more runs than one sweep
 * can take (2^32) or than a 64-bit count holds is a usage error naming the
 * limit, at once: nothing runs, nothing is allocated for it. */
static void test_sim_sweep_cli_seeds_beyond_limits_exit_2_naming_limit(void **state)
{
    (void)state;
    static const char *const bad_seeds[] = {
        "0", "0..5",  "1..9223372036854775809", "9223372036854775809", "5..4", "1..", "..5", "1..2..3",
        "x", "-1..3", "1..18446744073709551616"};
    for (size_t i = 0; i < sizeof bad_seeds / sizeof bad_seeds[0]; i++) {
        const char *args[] = {"sim",     "sweep",      "scenarios/request-response/basic.scn",
                              "--seeds", bad_seeds[i], NULL};
        result r;
        run_tofulab(&r, args);
        if (r.code != 2 || count_lines(r.err) != 1 || strstr(r.err, "2^63") == NULL || r.out[0] != '\0') {
            fail_msg("--seeds %s: exit %d, stderr '%s'", bad_seeds[i], r.code, r.err);
        }
        result_free(&r);
    }
    static const char *const too_many[][9] = {
        {"sim", "sweep", "scenarios/request-response/basic.scn", "--seeds", "1..9223372036854775808", NULL},
        {"sim", "sweep", "scenarios/request-response/basic.scn", "--seeds", "1..4294967297", NULL},
        {"sim", "sweep", "scenarios/request-response/basic.scn", "scenarios/request-response/crash.scn",
         "scenarios/request-response/pause.scn", "--seeds", "1..9223372036854775808", NULL},
        {"sim", "sweep", "scenarios/request-response/basic.scn", "--seeds", "1..9223372036854775808",
         "--shard", "5/1000000", NULL},
    };
    for (size_t i = 0; i < sizeof too_many / sizeof too_many[0]; i++) {
        result r;
        run_tofulab(&r, too_many[i]);
        if (r.code != 2 || count_lines(r.err) != 1 || strstr(r.err, "at most 2^32 = 4,294,967,296") == NULL ||
            r.out[0] != '\0') {
            fail_msg("case %zu: exit %d, stderr '%s'", i, r.code, r.err);
        }
        result_free(&r);
    }
    /* one past the limit names the shards that fit it */
    const char *split[] = {"sim",     "sweep",         "scenarios/request-response/basic.scn",
                           "--seeds", "1..4294967297", NULL};
    result r;
    run_tofulab(&r, split);
    assert_non_null(strstr(r.err, "is 4,294,967,297 runs"));
    assert_non_null(strstr(r.err, "--shard I/N with N >= 2"));
    result_free(&r);
    /* the largest seeds run */
    const char *top[] = {"sim",
                         "sweep",
                         "scenarios/request-response/basic.scn",
                         "--seeds",
                         "9223372036854775806..9223372036854775808",
                         NULL};
    run_tofulab(&r, top);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "\n1 scenario x 3 seeds = 3 runs: 3 passed, 0 failed\n"));
    result_free(&r);
}

/* --plan gives each file its own seeds; the summary says how many of each. */
static void test_sim_sweep_cli_plan_runs_each_file_its_seeds(void **state)
{
    (void)state;
    char plan[512], json[512];
    write_tmp("plan.txt", "# two files\n"
                          "scenarios/request-response/basic.scn 3..7\n"
                          "\n"
                          "  scenarios/request-response/crash.scn   10..11   # the crash\n");
    tmp_path(plan, sizeof plan, "plan.txt");
    tmp_path(json, sizeof json, "sweep.json");
    const char *args[] = {"sim", "sweep", "--plan", plan, "--json", json, "--quiet", NULL};
    result r;
    run_tofulab(&r, args);
    assert_int_equal(r.code, 0);
    assert_null(strstr(r.out, "first-fail")); /* --quiet: no table */
    assert_non_null(strstr(r.out, "2 scenarios x 2..5 seeds = 7 runs: 7 passed, 0 failed\n"));
    assert_non_null(strstr(r.out, "seeds per scenario: 5 (1 scenario), 2 (1 scenario)\n"));
    result_free(&r);
    char *x = slurp(json);
    static const char *const want[] = {"basic.scn\",\"seed\":3,", "basic.scn\",\"seed\":7,",
                                       "crash.scn\",\"seed\":10,", "crash.scn\",\"seed\":11,"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_non_null(strstr(x, want[i]));
    }
    assert_null(strstr(x, "basic.scn\",\"seed\":8,"));
    assert_null(strstr(x, "crash.scn\",\"seed\":9,"));
    free(x);
    /* a bad line is named by file, line and column */
    write_tmp("plan.txt",
              "scenarios/request-response/basic.scn 1..3\nscenarios/request-response/crash.scn 0..3\n");
    run_tofulab(&r, args);
    assert_int_equal(r.code, 2);
    assert_int_equal(count_lines(r.err), 1);
    char where[600];
    snprintf(where, sizeof where, "%s:2:38: expected a seed range", plan);
    assert_non_null(strstr(r.err, where));
    result_free(&r);
}

static int count_of(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) {
        n++;
    }
    return n;
}

/* --failures DIR: a file per failing (file, seed) with the check, the replay
 * and shrink commands; the first seed of each failed check shrunk into a
 * scenario that still fails that check. */
static void test_sim_sweep_cli_failures_dir_has_check_replay_and_shrunk_scenario(void **state)
{
    (void)state;
    char scn[512], dir[512], junit[512], index_path[600];
    write_tmp("mixed.scn", small_scn);
    tmp_path(scn, sizeof scn, "mixed.scn");
    tmp_path(dir, sizeof dir, "failures");
    tmp_path(junit, sizeof junit, "junit.xml");
    const char *args[] = {"sim",     "sweep", scn,          "scenarios/request-response/basic.scn",
                          "--jobs",  "2",     "--failures", dir,
                          "--junit", junit,   NULL};
    result r;
    run_tofulab(&r, args);
    assert_int_equal(r.code, 1);
    unsigned p, f;
    const char *last = strrchr(r.out, '\n');
    while (last > r.out && last[-1] != '\n') {
        last--;
    }
    assert_int_equal(sscanf(last, "%u passed, %u failed", &p, &f), 2);
    assert_true(f > 0);
    char shrink_cmd[700];
    snprintf(shrink_cmd, sizeof shrink_cmd, "  shrink: tofulab sim shrink %s --seed ", scn);
    assert_non_null(strstr(r.out, shrink_cmd));
    result_free(&r);

    /* the JUnit file: a testcase per run, a failure per failing run */
    char *x = slurp(junit);
    assert_int_equal(count_of(x, "<testcase "), (int)(p + f));
    assert_int_equal(count_of(x, "<failure "), (int)f);
    char tests_attr[64];
    snprintf(tests_attr, sizeof tests_attr, "<testsuites tests=\"%u\" failures=\"%u\"", p + f, f);
    assert_non_null(strstr(x, tests_attr));
    assert_int_equal(count_of(x, "<testsuite "), 2);
    free(x);

    /* failures.txt: one line per failing run, "FILE SEED: CHECK" */
    snprintf(index_path, sizeof index_path, "%s/failures.txt", dir);
    char *idx = slurp(index_path);
    assert_int_equal(count_lines(idx), (int)f);
    unsigned shrunk = 0;
    for (char *line = idx; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        unsigned long long seed;
        char *sp = strchr(line, ' '); /* the file name has no blank */
        assert_non_null(sp);
        assert_int_equal(strncmp(line, scn, strlen(scn)), 0);
        assert_int_equal(sscanf(sp + 1, "%llu:", &seed), 1);
        /* DIR/<the scenario path without its leading '/' and .scn>/seed-N.txt */
        char txt[1200], min[1200];
        snprintf(txt, sizeof txt, "%s/%.*s/seed-%llu.txt", dir, (int)(strlen(scn) - 5), scn + 1, seed);
        snprintf(min, sizeof min, "%s/%.*s/seed-%llu.min.scn", dir, (int)(strlen(scn) - 5), scn + 1, seed);
        char *t = slurp(txt);
        char want[800];
        snprintf(want, sizeof want, "replay: tofulab sim run %s --seed %llu --trace -\n", scn, seed);
        assert_non_null(strstr(t, want));
        snprintf(want, sizeof want, "shrink: tofulab sim shrink %s --seed %llu -o minimal.scn\n", scn, seed);
        assert_non_null(strstr(t, want));
        assert_non_null(strstr(t, "first failed check: "));
        assert_non_null(strstr(t, strchr(sp, ':') + 2)); /* the check of failures.txt */
        if (strstr(t, "shrunk: seed-") != NULL) {
            /* this seed stands for its check: its shrunk scenario fails it too */
            shrunk++;
            const char *again[] = {"sim", "run", min, NULL};
            run_tofulab(&r, again);
            assert_int_equal(r.code, 1);
            const char *e = strstr(t, "still fails: expect ");
            assert_non_null(e);
            char exp[200];
            assert_int_equal(sscanf(e + 20, "%199[^)\n]", exp), 1);
            assert_non_null(strstr(r.out, exp));
            result_free(&r);
            unlink(min);
        } else {
            assert_non_null(strstr(t, "shrunk: see seed-"));
        }
        free(t);
        unlink(txt);
        line = nl + 1;
    }
    assert_true(shrunk >= 1);
    free(idx);
    unlink(index_path);

    /* --shrink-time 0: every failure written, none shrunk */
    const char *noshrink[] = {"sim", "sweep", scn, "--failures", dir, "--shrink-time", "0", "--quiet", NULL};
    run_tofulab(&r, noshrink);
    assert_int_equal(r.code, 1);
    result_free(&r);
    idx = slurp(index_path);
    for (char *line = idx; *line;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        unsigned long long seed;
        assert_int_equal(sscanf(strchr(line, ' ') + 1, "%llu:", &seed), 1);
        char txt[1200], min[1200];
        snprintf(txt, sizeof txt, "%s/%.*s/seed-%llu.txt", dir, (int)(strlen(scn) - 5), scn + 1, seed);
        snprintf(min, sizeof min, "%s/%.*s/seed-%llu.min.scn", dir, (int)(strlen(scn) - 5), scn + 1, seed);
        assert_int_equal(access(min, F_OK), -1);
        char *t = slurp(txt);
        assert_true(strstr(t, "shrunk: not tried (--shrink-time 0)") != NULL ||
                    strstr(t, "shrunk: see seed-") != NULL);
        free(t);
        unlink(txt);
        line = nl + 1;
    }
    free(idx);
    unlink(index_path);
    /* remove DIR/<path>/ up to DIR */
    char d[1200];
    snprintf(d, sizeof d, "%s/%.*s", dir, (int)(strlen(scn) - 5), scn + 1);
    for (char *cut; strlen(d) > strlen(dir); *cut = '\0') {
        assert_int_equal(rmdir(d), 0);
        cut = strrchr(d, '/');
    }
    assert_int_equal(rmdir(dir), 0);
}

static void test_sim_sweep_cli_all_passing_exits_0(void **state)
{
    (void)state;
    const char *args[] = {"sim",
                          "sweep",
                          "scenarios/request-response/basic.scn",
                          "scenarios/request-response/crash.scn",
                          "--seeds",
                          "1..3",
                          NULL};
    result r;
    run_tofulab(&r, args);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "\n2 scenarios x 3 seeds = 6 runs: 6 passed, 0 failed\n"));
    assert_non_null(strstr(r.out, "\n6 passed, 0 failed\n"));
    result_free(&r);
}

static void test_sim_run_cli_html_writes_page_exits_0(void **state)
{
    (void)state;
    char html[512];
    tmp_path(html, sizeof html, "run.html");
    const char *args[] = {"sim", "run", "scenarios/request-response/crash.scn", "--html", html, NULL};
    result r;
    run_tofulab(&r, args);
    assert_int_equal(r.code, 0);
    char *page = slurp(html);
    assert_int_equal(strncmp(page, "<!DOCTYPE html>", 15), 0);
    assert_non_null(strstr(page, ">crash</text>"));
    assert_non_null(strstr(page, "</html>\n"));
    free(page);
    result_free(&r);
}

static void test_sim_shrink_cli_output_fails_same_expectation(void **state)
{
    (void)state;
    char in[512], out[512];
    write_tmp("fail.scn", "seeds 1..3\n"
                          "duration 60s\n"
                          "node server\n"
                          "node client\n"
                          "link client server delay 10ms loss 2%\n"
                          "service server echo listen=tcp|server|7099\n"
                          "service client rr connect=tcp|server|7099 count=1000 concurrency=2\n"
                          "at 3s crash server\n"
                          "at 4s restart server\n"
                          "heal 30s\n"
                          "expect client errors <= 1\n"
                          "expect client answered == 1000\n");
    tmp_path(in, sizeof in, "fail.scn");
    tmp_path(out, sizeof out, "min.scn");
    const char *args[] = {"sim", "shrink", in, "--seed", "2", "-o", out, NULL};
    result r;
    run_tofulab(&r, args);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.err, "removed: at 4s restart server\n"));
    assert_non_null(strstr(r.err, "still fails: expect client answered == "));
    result_free(&r);
    const char *again[] = {"sim", "run", out, NULL};
    run_tofulab(&r, again);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.out, "expect client answered == "));
    assert_non_null(strstr(r.out, "seeds 2..2"));
    result_free(&r);
    /* a passing seed: nothing to shrink, exit 1 with one line */
    const char *ok[] = {"sim", "shrink", "scenarios/request-response/basic.scn", "--seed", "1", NULL};
    run_tofulab(&r, ok);
    assert_int_equal(r.code, 1);
    assert_int_equal(count_lines(r.err), 1);
    assert_non_null(strstr(r.err, "nothing to shrink"));
    result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_sweep_parallel_results_equal_sequential),
        cmocka_unit_test(test_sim_sweep_shards_partition_the_list_exactly),
        cmocka_unit_test(test_sim_sweep_bad_shard_is_einval),
        cmocka_unit_test(test_sim_sweep_list_huge_ranges_indexed_without_memory),
        cmocka_unit_test(test_sim_sweep_stream_in_order_equals_sequential),
        cmocka_unit_test(test_sim_sweep_stream_worker_crash_costs_one_run),
        cmocka_unit_test(test_sim_swarm_draw_is_deterministic_per_seed),
        cmocka_unit_test(test_sim_swarm_off_means_lower_bounds),
        cmocka_unit_test(test_sim_scenario_bad_range_is_rejected),
        cmocka_unit_test(test_sim_scenario_write_every_file_same_trace_hash),
        cmocka_unit_test(test_sim_sweep_cli_bad_usage_exits_2_one_line),
        cmocka_unit_test(test_sim_sweep_cli_failing_seed_prints_replay_and_exits_1),
        cmocka_unit_test(test_sim_sweep_cli_seeds_beyond_limits_exit_2_naming_limit),
        cmocka_unit_test(test_sim_sweep_cli_real_process_files_skipped_and_named),
        cmocka_unit_test(test_sim_sweep_cli_plan_runs_each_file_its_seeds),
        cmocka_unit_test(test_sim_sweep_cli_failures_dir_has_check_replay_and_shrunk_scenario),
        cmocka_unit_test(test_sim_sweep_cli_all_passing_exits_0),
        cmocka_unit_test(test_sim_run_cli_html_writes_page_exits_0),
        cmocka_unit_test(test_sim_shrink_cli_output_fails_same_expectation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
