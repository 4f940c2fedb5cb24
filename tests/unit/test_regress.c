/*
 * Regression inputs found by fuzzing: every file tests/regress/<target>/<name>
 * goes through its fuzz target (fuzz/fuzz_<target>.c, included below under
 * another name), built here in strict mode (FUZZ_STRICT: the checks of open
 * findings are fatal too, see fuzz/fuzz.h).
 *
 * - An input not listed in tests/regress/KNOWN-OPEN must pass: a failed
 *   check is a cmocka failure naming the input and the check.
 * - An input listed there is an open finding, expected to pass once it is
 *   fixed. It runs in a child process: while it still fails, the test says
 *   so and passes; once it passes, the test fails and asks for its line in
 *   KNOWN-OPEN to be removed (and its FUZZ_CHECK_OPEN to become a FUZZ_CHECK).
 *
 * Tests run from the repository root (ci/run-tests.sh).
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
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define REGRESS_DIR        "tests/regress"
#define REGRESS_KNOWN_OPEN REGRESS_DIR "/KNOWN-OPEN"

/* ---- the fuzz targets, each under its own name ---- */

static int regress_in_child;
static const char *regress_input = "?";

static void regress_fail(const char *file, int line, const char *what)
{
    if (regress_in_child) {
        fprintf(stderr, "regress: %s: %s:%d: check failed: %s\n", regress_input, file, line, what);
        abort();
    }
    fail_msg("%s: %s:%d: check failed: %s", regress_input, file, line, what);
}

#define FUZZ_FAIL(what) regress_fail(__FILE__, __LINE__, (what))
#define FUZZ_STRICT     1

typedef int (*regress_entry)(const uint8_t *data, size_t size);
int regress_reader(const uint8_t *data, size_t size);
int regress_text(const uint8_t *data, size_t size);
int regress_address(const uint8_t *data, size_t size);
int regress_roundtrip(const uint8_t *data, size_t size);
int regress_engine_server(const uint8_t *data, size_t size);
int regress_engine_client(const uint8_t *data, size_t size);
int regress_sim(const uint8_t *data, size_t size);

#define LLVMFuzzerTestOneInput regress_reader
#include "../../fuzz/fuzz_reader.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput regress_text
#include "../../fuzz/fuzz_text.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput regress_address
#include "../../fuzz/fuzz_address.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput regress_roundtrip
#include "../../fuzz/fuzz_roundtrip.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput regress_engine_server
#include "../../fuzz/fuzz_engine_server.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput regress_engine_client
#include "../../fuzz/fuzz_engine_client.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput regress_sim
#include "../../fuzz/fuzz_sim.c"
#undef LLVMFuzzerTestOneInput

static const struct {
    const char *name;
    regress_entry run;
} regress_targets[] = {
    {"reader", regress_reader},
    {"text", regress_text},
    {"address", regress_address},
    {"roundtrip", regress_roundtrip},
    {"engine_server", regress_engine_server},
    {"engine_client", regress_engine_client},
    {"sim", regress_sim},
};
#define REGRESS_TARGET_COUNT (sizeof regress_targets / sizeof regress_targets[0])

/* ---- files ---- */

/* The whole file in a buffer of exactly its size (1 byte for an empty one). */
static uint8_t *regress_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) {
            break;
        }
        cap *= 2;
        uint8_t *bigger = realloc(buf, cap);
        if (bigger == NULL) {
            free(buf);
        }
        buf = bigger;
    }
    fclose(f);
    if (buf == NULL) {
        return NULL;
    }
    uint8_t *exact = malloc(n ? n : 1);
    if (exact != NULL && n > 0) {
        memcpy(exact, buf, n);
    }
    free(buf);
    *len = n;
    return exact;
}

/* Is "<target>/<name>" listed in KNOWN-OPEN (first word of a line)? */
static int regress_is_open(const char *target, const char *name)
{
    char want[512], line[1024];
    snprintf(want, sizeof want, "%s/%s", target, name);
    FILE *f = fopen(REGRESS_KNOWN_OPEN, "r");
    if (f == NULL) {
        return 0;
    }
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        char *first = strtok(line, " \t\r\n");
        found = first != NULL && first[0] != '#' && strcmp(first, want) == 0;
    }
    fclose(f);
    return found;
}

static regress_entry regress_target(const char *name)
{
    for (size_t i = 0; i < REGRESS_TARGET_COUNT; i++) {
        if (strcmp(regress_targets[i].name, name) == 0) {
            return regress_targets[i].run;
        }
    }
    return NULL;
}

/* Names of the regular inputs in tests/regress/<target>/, sorted; NULL-ended. */
static int regress_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char **regress_list(const char *target, size_t *count)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", REGRESS_DIR, target);
    *count = 0;
    char **names = calloc(1, sizeof *names);
    DIR *d = opendir(dir);
    if (d == NULL || names == NULL) {
        if (d != NULL) {
            closedir(d);
        }
        return names;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strncmp(de->d_name, "README", 6) == 0) {
            continue;
        }
        char **more = realloc(names, (*count + 2) * sizeof *names);
        assert_non_null(more);
        names = more;
        names[*count] = strdup(de->d_name);
        assert_non_null(names[*count]);
        (*count)++;
        names[*count] = NULL;
    }
    closedir(d);
    qsort(names, *count, sizeof *names, regress_cmp);
    return names;
}

static void regress_free_list(char **names)
{
    for (size_t i = 0; names[i] != NULL; i++) {
        free(names[i]);
    }
    free(names);
}

/* ---- tests ---- */

/* Every input of one target that is not an open finding passes. */
static void regress_target_inputs_pass(const char *target)
{
    regress_entry run = regress_target(target);
    assert_non_null(run);
    size_t count, ran = 0;
    char **names = regress_list(target, &count);
    assert_non_null(names);
    for (size_t i = 0; i < count; i++) {
        if (regress_is_open(target, names[i])) {
            continue;
        }
        char path[512];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s/%s", REGRESS_DIR, target, names[i]);
        uint8_t *data = regress_read(path, &len);
        if (data == NULL) {
            fail_msg("cannot read %s", path);
        }
        regress_input = path;
        run(data, len);
        regress_input = "?";
        free(data);
        ran++;
    }
    print_message("regress: %s: %zu input(s) pass\n", target, ran);
    regress_free_list(names);
}

static void test_regress_reader_inputs_pass(void **state)
{
    (void)state;
    regress_target_inputs_pass("reader");
}

static void test_regress_text_inputs_pass(void **state)
{
    (void)state;
    regress_target_inputs_pass("text");
}

static void test_regress_address_inputs_pass(void **state)
{
    (void)state;
    regress_target_inputs_pass("address");
}

static void test_regress_roundtrip_inputs_pass(void **state)
{
    (void)state;
    regress_target_inputs_pass("roundtrip");
}

static void test_regress_engine_server_inputs_pass(void **state)
{
    (void)state;
    regress_target_inputs_pass("engine_server");
}

static void test_regress_engine_client_inputs_pass(void **state)
{
    (void)state;
    regress_target_inputs_pass("engine_client");
}

static void test_regress_sim_inputs_pass(void **state)
{
    (void)state;
    regress_target_inputs_pass("sim");
}

/* Run one input in a child; 1 if it passed (exit 0). Under Valgrind with
 * --errors-for-leak-kinds=all a passing child still exits non-zero (cmocka's
 * state is reachable in it), so a fixed finding shows up in plain make test,
 * not in make check. */
static int regress_passes_in_child(regress_entry run, const char *path)
{
    size_t len = 0;
    uint8_t *data = regress_read(path, &len);
    if (data == NULL) {
        fail_msg("cannot read %s", path);
    }
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        regress_in_child = 1;
        regress_input = path;
        run(data, len);
        free(data);
        _exit(0);
    }
    free(data);
    int status = 0;
    assert_true(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Every open finding still fails; one that passes must leave the list. */
static void test_regress_known_open_inputs_still_fail(void **state)
{
    (void)state;
    char line[1024];
    size_t open = 0;
    FILE *f = fopen(REGRESS_KNOWN_OPEN, "r");
    if (f == NULL) {
        print_message("regress: no %s\n", REGRESS_KNOWN_OPEN);
        return;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char *entry = strtok(line, " \t\r\n");
        if (entry == NULL || entry[0] == '#') {
            continue;
        }
        char *finding = strtok(NULL, " \t\r\n");
        char target[128];
        const char *slash = strchr(entry, '/');
        if (slash == NULL || (size_t)(slash - entry) >= sizeof target) {
            fclose(f);
            fail_msg("%s: bad entry '%s' (want <target>/<file> <finding> <text>)", REGRESS_KNOWN_OPEN, entry);
        }
        memcpy(target, entry, (size_t)(slash - entry));
        target[slash - entry] = '\0';
        regress_entry run = regress_target(target);
        if (run == NULL) {
            fclose(f);
            fail_msg("%s: no fuzz target '%s'", REGRESS_KNOWN_OPEN, target);
        }
        char path[512];
        snprintf(path, sizeof path, "%s/%s", REGRESS_DIR, entry);
        if (regress_passes_in_child(run, path)) {
            fclose(f);
            fail_msg("%s (%s) passes now: the finding looks fixed. Remove its line from %s and turn its "
                     "FUZZ_CHECK_OPEN into a FUZZ_CHECK.",
                     path, finding ? finding : "?", REGRESS_KNOWN_OPEN);
        }
        print_message("regress: %s (%s) still fails, as expected while it is open\n", path,
                      finding ? finding : "?");
        open++;
    }
    fclose(f);
    print_message("regress: %zu open finding input(s)\n", open);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regress_reader_inputs_pass),
        cmocka_unit_test(test_regress_text_inputs_pass),
        cmocka_unit_test(test_regress_address_inputs_pass),
        cmocka_unit_test(test_regress_roundtrip_inputs_pass),
        cmocka_unit_test(test_regress_engine_server_inputs_pass),
        cmocka_unit_test(test_regress_engine_client_inputs_pass),
        cmocka_unit_test(test_regress_sim_inputs_pass),
        cmocka_unit_test(test_regress_known_open_inputs_still_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
