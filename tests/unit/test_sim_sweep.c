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
        if (hash_of(scn, a, 0, NULL) != hash_of(back, a, 0, NULL)) {
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
    const char *names[] = {"stdout",     "stderr",   "mixed.scn", "junit.xml",
                           "sweep.json", "run.html", "fail.scn",  "min.scn"};
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
        cmocka_unit_test(test_sim_swarm_draw_is_deterministic_per_seed),
        cmocka_unit_test(test_sim_swarm_off_means_lower_bounds),
        cmocka_unit_test(test_sim_scenario_bad_range_is_rejected),
        cmocka_unit_test(test_sim_scenario_write_every_file_same_trace_hash),
        cmocka_unit_test(test_sim_sweep_cli_bad_usage_exits_2_one_line),
        cmocka_unit_test(test_sim_sweep_cli_failing_seed_prints_replay_and_exits_1),
        cmocka_unit_test(test_sim_sweep_cli_all_passing_exits_0),
        cmocka_unit_test(test_sim_run_cli_html_writes_page_exits_0),
        cmocka_unit_test(test_sim_shrink_cli_output_fails_same_expectation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
