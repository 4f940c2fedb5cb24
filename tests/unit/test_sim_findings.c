/*
 * The swarm's findings (docs/findings.md), replayed: every scenario file in
 * tests/regress/scenarios/ is the seed and scenario of a finding.
 *
 * - NAME.scn must pass for every seed of its `seeds` line (the seeds that once
 *   failed): the fix holds.
 * - NAME.refused.scn is a file as it was shipped before its finding; its first
 *   line is `# refused: TEXT` and parsing it must fail with TEXT in the
 *   message: the rule that now refuses such a file holds.
 *
 * Runs from the repository root (ci/run-tests.sh).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sim/sim.h"

#define FINDINGS_DIR "tests/regress/scenarios"

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The names of the directory's *.scn files, sorted; count in *n. */
static char **list_files(size_t *n)
{
    DIR *d = opendir(FINDINGS_DIR);
    char **names = NULL;
    size_t cap = 0;
    struct dirent *e;
    *n = 0;
    if (d == NULL) {
        fail_msg("cannot open %s (run from the repository root)", FINDINGS_DIR);
    }
    while ((e = readdir(d)) != NULL) {
        if (!has_suffix(e->d_name, ".scn")) {
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            names = realloc(names, cap * sizeof *names);
            assert_non_null(names);
        }
        names[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 1; i < *n; i++) {
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    }
    return names;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

static void test_sim_findings_fixed_scenarios_pass_their_seeds(void **state)
{
    (void)state;
    size_t n, ran = 0;
    char **names = list_files(&n);
    for (size_t i = 0; i < n; i++) {
        char path[512];
        tl_scenario *scn = NULL;
        tl_scn_error err;
        uint64_t first, last;
        if (has_suffix(names[i], ".refused.scn")) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", FINDINGS_DIR, names[i]);
        if (tl_scn_load(path, &scn, &err) != TL_OK) {
            fail_msg("%s:%u:%u: %s", err.file, err.line, err.column, err.message);
        }
        tl_scn_seeds(scn, &first, &last);
        for (uint64_t s = first;; s++) {
            tl_scn_result r;
            assert_int_equal(tl_scn_run(scn, s, NULL, &r), TL_OK);
            if (!r.passed) {
                fail_msg("%s seed %llu: %s", path, (unsigned long long)s, r.first_failure);
            }
            if (s == last) {
                break;
            }
        }
        tl_scn_free(scn);
        ran++;
    }
    free_list(names, n);
    assert_true(ran > 0);
}

static void test_sim_findings_files_shipped_before_are_refused(void **state)
{
    (void)state;
    size_t n, ran = 0;
    char **names = list_files(&n);
    for (size_t i = 0; i < n; i++) {
        char path[512], first_line[512] = "";
        tl_scenario *scn = NULL;
        tl_scn_error err;
        if (!has_suffix(names[i], ".refused.scn")) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", FINDINGS_DIR, names[i]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        if (fgets(first_line, sizeof first_line, f) == NULL) {
            first_line[0] = '\0';
        }
        fclose(f);
        first_line[strcspn(first_line, "\n")] = '\0';
        if (strncmp(first_line, "# refused: ", 11) != 0) {
            fail_msg("%s: the first line must be `# refused: TEXT`", path);
        }
        int rc = tl_scn_load(path, &scn, &err);
        if (rc != TL_E_INVAL || strstr(err.message, first_line + 11) == NULL) {
            fail_msg("%s: expected a parse error with '%s', got rc %d: %u:%u: %s", path, first_line + 11, rc,
                     err.line, err.column, err.message);
        }
        ran++;
    }
    free_list(names, n);
    assert_true(ran > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_findings_fixed_scenarios_pass_their_seeds),
        cmocka_unit_test(test_sim_findings_files_shipped_before_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
