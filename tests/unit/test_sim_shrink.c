/*
 * The shrinker (sim/shrink.h): a scenario that cannot pass (a crash under a
 * workload that must be answered in full) shrinks to valid scenario text
 * that fails the same expectation, with the same seed, and is smaller; a
 * seed that passes is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sim/shrink.h"
#include "../../sim/sim.h"

static const char *failing =
    "# a crash makes `answered == 1000` impossible\n"
    "seeds 1..4\n"
    "duration 120s\n"
    "node server\n"
    "node client\n"
    "node extra\n"
    "link client server delay 20ms jitter 5ms loss 1%..10%\n"
    "link extra server delay 3ms duplicate 1%\n"
    "service server echo listen=tcp|server|7099\n"
    "service client rr connect=tcp|server|7099 count=1000 size=64..1024 concurrency=4\n"
    "service extra rr connect=tcp|server|7099 count=50\n"
    "at 1s partition extra server for 2s\n"
    "at 5s crash server\n"
    "at 9s restart server\n"
    "heal 60s\n"
    "expect extra errors <= 5\n"
    "expect client answered == 1000\n"
    "expect client errors <= 1\n";

static tl_scenario *parse(const char *text)
{
    tl_scenario *scn = NULL;
    tl_scn_error err;
    if (tl_scn_parse(text, strlen(text), "t.scn", &scn, &err) != TL_OK) {
        fail_msg("%u:%u: %s\n%s", err.line, err.column, err.message, text);
    }
    return scn;
}

static size_t count_directives(const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        n += len > 0 && p[0] != '#';
        p += len + (nl != NULL);
    }
    return n;
}

static void check_shrinks(int swarm)
{
    tl_scenario *scn = parse(failing);
    tl_shrink_options o;
    tl_shrink_result res;
    char *out = NULL;
    memset(&o, 0, sizeof o);
    o.swarm = swarm;
    assert_int_equal(tl_shrink(scn, "failing.scn", 2, &o, &out, &res), TL_OK);
    assert_non_null(out);
    /* the header names the file, the seed and the failing expectation */
    assert_non_null(strstr(out, "from failing.scn, seed 2"));
    assert_non_null(strstr(out, "# fails: expect client answered == "));
    assert_non_null(strstr(out, "seeds 2\n"));
    /* smaller */
    assert_true(res.shrunk_bytes < res.original_bytes);
    assert_true(count_directives(out) < count_directives(failing));
    assert_true(res.steps > 0);
    assert_null(strstr(out, "restart")); /* not needed to fail */
    assert_null(strstr(out, "partition"));
    assert_null(strstr(out, "duplicate"));
    /* it parses, and the same seed fails the same expectation first */
    tl_scenario *small = parse(out);
    tl_scn_result r;
    assert_int_equal(tl_scn_run(small, 2, NULL, &r), TL_OK);
    assert_false(r.passed);
    char want[240];
    snprintf(want, sizeof want, ": expect %s (actual", res.expectation);
    assert_non_null(strstr(r.first_failure, want));
    assert_non_null(strstr(res.expectation, "client answered == "));
    /* and again: the same output (the shrinker is deterministic) */
    char *out2 = NULL;
    tl_shrink_result res2;
    assert_int_equal(tl_shrink(scn, "failing.scn", 2, &o, &out2, &res2), TL_OK);
    assert_string_equal(out, out2);
    free(out2);
    tl_scn_free(small);
    tl_scn_free(scn);
    free(out);
}

static void test_sim_shrink_crash_scenario_smaller_same_failure(void **state)
{
    (void)state;
    check_shrinks(0);
}

static void test_sim_shrink_swarm_run_fixes_draws_same_failure(void **state)
{
    (void)state;
    check_shrinks(1);
}

static void test_sim_shrink_passing_seed_is_einval(void **state)
{
    (void)state;
    tl_scenario *scn = parse("node server\nnode client\nlink client server delay 1ms\n"
                             "service server echo listen=tcp|server|7099\n"
                             "service client rr connect=tcp|server|7099 count=3\n"
                             "expect client answered == 3\n");
    tl_shrink_result res;
    char *out = NULL;
    assert_int_equal(tl_shrink(scn, "ok.scn", 1, NULL, &out, &res), TL_E_INVAL);
    assert_null(out);
    tl_scn_free(scn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_shrink_crash_scenario_smaller_same_failure),
        cmocka_unit_test(test_sim_shrink_swarm_run_fixes_draws_same_failure),
        cmocka_unit_test(test_sim_shrink_passing_seed_is_einval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
