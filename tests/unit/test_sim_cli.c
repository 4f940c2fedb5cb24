/*
 * `tofulab sim run`: exit status (0 pass, 1 an expectation failed, 2 bad
 * scenario or usage, nothing run), the summary's last lines (trace-hash,
 * result), --trace / --json / --pcap outputs. The binary named by $TOFULAB
 * (default build/tofulab) runs from the repository root. With tshark
 * installed, the pcap is also read back by tshark (skipped otherwise).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../sim/sim.h"
#include "../helpers/spawn.h"

/* generous: a run takes well under a second */
#define RUN_LIMIT_MS 300000

static char tmpdir[256];

static char *slurp(const char *path, size_t *len)
{
    char *b = spawn_read_file(path, len);
    assert_non_null(b);
    return b;
}

static void path_in_tmp(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *name, const char *text)
{
    char p[512];
    path_in_tmp(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Run a program (argv[0] a path) with stdout/stderr captured. */
static void run_prog(spawn_result *r, const char *const argv[])
{
    if (spawn_run(r, argv, NULL, NULL, NULL, 0, RUN_LIMIT_MS) != 0) {
        fail_msg("cannot run %s (set TOFULAB)", argv[0]);
    }
    assert_false(r->timed_out);
}

static void run_tofulab(spawn_result *r, const char *a1, const char *a2, const char *a3, const char *a4,
                        const char *a5, const char *a6, const char *a7)
{
    const char *argv[10];
    int n = 0;
    argv[n++] = spawn_tofulab();
    const char *a[] = {a1, a2, a3, a4, a5, a6, a7};
    for (int i = 0; i < 7 && a[i]; i++) {
        argv[n++] = a[i];
    }
    argv[n] = NULL;
    run_prog(r, argv);
}

/* The value of the "trace-hash: " line, which must be followed only by the result line. */
static uint64_t printed_hash(const spawn_result *r, const char *verdict)
{
    const char *p = strstr(r->out, "\ntrace-hash: ");
    assert_non_null(p);
    char want[64];
    snprintf(want, sizeof want, "\nresult: %s\n", verdict);
    assert_non_null(strstr(p, want));
    assert_true(strlen(strstr(p, want)) == strlen(want)); /* the last line */
    assert_true(strlen(p) == 13 + 16 + strlen(want));     /* 16 hex digits */
    return strtoull(p + 13, NULL, 16);
}

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/tofulab-sim-cli.XXXXXX", (t && t[0]) ? t : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"ok.scn",  "fail.scn", "bad.scn", "report.scn",
                           "t.trace", "t.json",   "t.pcap",  "tshark.out"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[512];
        path_in_tmp(p, sizeof p, names[i]);
        unlink(p);
    }
    rmdir(tmpdir);
    return 0;
}

static const char ok_scn[] = "seeds 1..3\n"
                             "node server\n"
                             "node client\n"
                             "link client server delay 5ms loss 2%\n"
                             "heal 30s\n"
                             "service server echo listen=tcp|server|7099\n"
                             "service client rr connect=tcp|server|7099 count=20\n"
                             "expect client answered == 20\n";

static void test_sim_cli_run_passes_and_prints_hash_last(void **state)
{
    spawn_result a, b;
    char scn[512], tr[512];
    (void)state;
    write_file("ok.scn", ok_scn);
    path_in_tmp(scn, sizeof scn, "ok.scn");
    path_in_tmp(tr, sizeof tr, "t.trace");
    run_tofulab(&a, "sim", "run", scn, "--seed", "2", "--trace", tr);
    assert_int_equal(a.exit_code, 0);
    assert_string_equal(a.err, "");
    uint64_t h = printed_hash(&a, "PASS");
    /* the trace file is what was hashed */
    size_t len;
    char *trace = slurp(tr, &len);
    assert_true(tl_sim_fnv1a(TL_SIM_FNV_OFFSET, trace, len) == h);
    assert_non_null(strstr(trace, "0.000000000 server ch=0 start incarnation=1\n"));
    free(trace);
    /* same seed, same hash; every seed of the file: another hash */
    run_tofulab(&b, "sim", "run", scn, "--seed", "2", NULL, NULL);
    assert_int_equal(b.exit_code, 0);
    assert_true(printed_hash(&b, "PASS") == h);
    spawn_free(&b);
    run_tofulab(&b, "sim", "run", scn, NULL, NULL, NULL, NULL);
    assert_int_equal(b.exit_code, 0);
    assert_non_null(strstr(b.out, "runs: 3, passed 3, failed 0\n"));
    assert_true(printed_hash(&b, "PASS") != h);
    spawn_free(&a);
    spawn_free(&b);
}

static void test_sim_cli_failed_expectation_exits_1(void **state)
{
    spawn_result r;
    char scn[512], js[512];
    (void)state;
    write_file("fail.scn", "node server\nnode client\n"
                           "service server echo listen=tcp|server|7099\n"
                           "service client rr connect=tcp|server|7099 count=3\n"
                           "expect client answered == 4\n");
    path_in_tmp(scn, sizeof scn, "fail.scn");
    path_in_tmp(js, sizeof js, "t.json");
    run_tofulab(&r, "sim", "run", scn, "--json", js, NULL, NULL);
    assert_int_equal(r.exit_code, 1);
    printed_hash(&r, "FAIL");
    assert_non_null(strstr(r.out, "  FAIL expect client answered == 4 (actual 3)  [line 5]\n"));
    char *json = slurp(js, NULL);
    assert_non_null(strstr(json, "\"result\":\"FAIL\""));
    assert_non_null(strstr(json, "\"pass\":false"));
    free(json);
    spawn_free(&r);
}

static void test_sim_cli_bad_scenario_exits_2_naming_line_and_column(void **state)
{
    spawn_result r;
    char scn[512], tr[512], want[1200];
    (void)state;
    write_file("bad.scn", "node server\nnode client\nlink client server delay 20\n");
    path_in_tmp(scn, sizeof scn, "bad.scn");
    path_in_tmp(tr, sizeof tr, "t.trace");
    unlink(tr);
    run_tofulab(&r, "sim", "run", scn, "--trace", tr, NULL, NULL);
    assert_int_equal(r.exit_code, 2);
    snprintf(
        want, sizeof want,
        "tofulab: %s:3:26: expected a time with a unit (ns, us, ms, s, m, h), e.g. 20ms or 1.5s, got '20'\n",
        scn);
    assert_string_equal(r.err, want);
    assert_string_equal(r.out, ""); /* nothing half-run */
    assert_int_equal(access(tr, F_OK), -1);
    spawn_free(&r);
}

static void test_sim_cli_usage_errors_exit_2(void **state)
{
    spawn_result r;
    char scn[512], pc[512];
    (void)state;
    write_file("ok.scn", ok_scn);
    path_in_tmp(scn, sizeof scn, "ok.scn");
    path_in_tmp(pc, sizeof pc, "t.pcap");
    run_tofulab(&r, "sim", "run", NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(r.exit_code, 2);
    assert_non_null(strstr(r.err, "missing scenario file"));
    spawn_free(&r);
    run_tofulab(&r, "sim", "run", scn, "--speed", "9", NULL, NULL);
    assert_int_equal(r.exit_code, 2);
    spawn_free(&r);
    run_tofulab(&r, "sim", "run", scn, "--seed", "x", NULL, NULL);
    assert_int_equal(r.exit_code, 2);
    spawn_free(&r);
    run_tofulab(&r, "sim", "run", scn, "--pcap", pc, NULL, NULL); /* three seeds */
    assert_int_equal(r.exit_code, 2);
    assert_non_null(strstr(r.err, "--pcap needs a single seed"));
    spawn_free(&r);
    run_tofulab(&r, "sim", "run", "scenarios/none.scn", NULL, NULL, NULL, NULL);
    assert_int_equal(r.exit_code, 2);
    spawn_free(&r);
    run_tofulab(&r, "sim", "--help", NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "usage: tofulab sim run FILE.scn"));
    spawn_free(&r);
}

/* `report` over several seeds: one min/median/max line each, printed before
 * the totals (and after the scenario is done with: ASan sees any reuse). */
static void test_sim_cli_report_spread_over_seeds(void **state)
{
    spawn_result r;
    char scn[512];
    (void)state;
    write_file("report.scn", "seeds 1..5\n"
                             "node server\n"
                             "node client\n"
                             "link client server delay 5ms\n"
                             "service server echo listen=tcp|server|7099\n"
                             "service client rr connect=tcp|server|7099 count=7\n"
                             "report client answered\n"
                             "report client latency-max\n");
    path_in_tmp(scn, sizeof scn, "report.scn");
    run_tofulab(&r, "sim", "run", scn, NULL, NULL, NULL, NULL);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.err, "");
    const char *a = strstr(r.out, "report client answered over 5 seeds: min 7, median 7, max 7\n");
    const char *l = strstr(r.out, "report client latency-max over 5 seeds: min ");
    const char *t = strstr(r.out, "runs: 5, passed 5, failed 0\n");
    assert_non_null(a);
    assert_non_null(l);
    assert_non_null(t);
    assert_true(a < l && l < t);
    spawn_free(&r);
}

static void test_sim_cli_pcap_reads_back_in_tshark(void **state)
{
    spawn_result r;
    char scn[512], pc[512];
    (void)state;
    write_file("ok.scn", ok_scn);
    path_in_tmp(scn, sizeof scn, "ok.scn");
    path_in_tmp(pc, sizeof pc, "t.pcap");
    run_tofulab(&r, "sim", "run", scn, "--seed", "1", "--pcap", pc);
    assert_int_equal(r.exit_code, 0);
    spawn_free(&r);
    size_t len;
    char *p = slurp(pc, &len);
    assert_true(len > 24 && (uint8_t)p[0] == 0x4d && (uint8_t)p[3] == 0xa1);
    free(p);
    const char *tshark = NULL;
    static const char *where[] = {"/usr/bin/tshark", "/usr/local/bin/tshark"};
    for (size_t i = 0; i < 2; i++) {
        if (access(where[i], X_OK) == 0) {
            tshark = where[i];
        }
    }
    if (tshark == NULL) {
        skip(); /* tshark is not installed */
        return;
    }
    /* every frame is TCP between the two nodes, checksums verified */
    const char *argv[] = {tshark,
                          "-r",
                          pc,
                          "-o",
                          "tcp.check_checksum:TRUE",
                          "-o",
                          "ip.check_checksum:TRUE",
                          "-T",
                          "fields",
                          "-e",
                          "ip.src",
                          "-e",
                          "tcp.dstport",
                          "-e",
                          "tcp.checksum.status",
                          "-e",
                          "ip.checksum.status",
                          NULL};
    run_prog(&r, argv);
    assert_int_equal(r.exit_code, 0);
    /* Wireshark's checksum status: 0 bad, 1 good, 2 unverified */
    assert_non_null(strstr(r.out, "10.0.0.2\t7099\t1\t1\n"));
    assert_non_null(strstr(r.out, "10.0.0.1\t49152\t1\t1\n"));
    for (const char *line = r.out; *line; line = strchr(line, '\n') + 1) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        assert_true(end - line >= 4 && memcmp(end - 4, "\t1\t1", 4) == 0);
    }
    spawn_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_cli_run_passes_and_prints_hash_last),
        cmocka_unit_test(test_sim_cli_failed_expectation_exits_1),
        cmocka_unit_test(test_sim_cli_bad_scenario_exits_2_naming_line_and_column),
        cmocka_unit_test(test_sim_cli_usage_errors_exit_2),
        cmocka_unit_test(test_sim_cli_report_spread_over_seeds),
        cmocka_unit_test(test_sim_cli_pcap_reads_back_in_tshark),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
