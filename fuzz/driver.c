/*
 * The main() of every fuzz target outside libFuzzer (which brings its own).
 *
 * - Built with afl-clang-fast (AFL++ defines __AFL_HAVE_MANUAL_CONTROL and
 *   __AFL_COMPILER) and run without arguments: AFL++ persistent mode with a
 *   shared-memory test case, 10000 inputs per fork. Without afl-fuzz around
 *   it, the same binary reads one input from standard input (afl-tmin,
 *   afl-showmap, a quick manual run).
 * - Otherwise, and in any build given arguments: replay. Every argument is a
 *   file or a directory (walked recursively, entries in name order, names
 *   starting with '.' and README* skipped); each file is one input, copied
 *   into a buffer of exactly its size so that ASan or Valgrind see any read
 *   past its end. Prints the number of inputs and exits 0 when every input
 *   ran (a failed check aborts, see fuzz.h); 2 on a usage or I/O error.
 *
 * This lets the same targets run under gcc, under Valgrind and in `make test`
 * (make fuzz-replay), with no fuzzing engine at all.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#if defined(__AFL_HAVE_MANUAL_CONTROL) || defined(__AFL_COMPILER)
#define DRIVER_AFL 1
#include <unistd.h> /* read(), used by __AFL_FUZZ_TESTCASE_LEN outside afl-fuzz */
__AFL_FUZZ_INIT();
#endif

static size_t driver_inputs;
static int driver_verbose;

static int driver_run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (buf == NULL) {
            fclose(f);
            fprintf(stderr, "driver: %s: out of memory\n", path);
            return -1;
        }
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap) {
            break;
        }
        cap *= 2;
        uint8_t *n = realloc(buf, cap);
        if (n == NULL) {
            free(buf);
        }
        buf = n;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        fprintf(stderr, "driver: %s: read error\n", path);
        return -1;
    }
    /* Exactly len bytes, so any over-read is caught (malloc(0) may be NULL). */
    uint8_t *exact = malloc(len ? len : 1);
    if (exact == NULL) {
        free(buf);
        fprintf(stderr, "driver: %s: out of memory\n", path);
        return -1;
    }
    if (len > 0) {
        memcpy(exact, buf, len);
    }
    free(buf);
    if (driver_verbose) {
        fprintf(stderr, "driver: %s (%zu bytes)\n", path, len);
    }
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    driver_inputs++;
    return 0;
}

static int driver_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int driver_run_path(const char *path);

static int driver_run_dir(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strncmp(de->d_name, "README", 6) == 0) {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (nn == NULL) {
                rc = -1;
                break;
            }
            names = nn;
        }
        size_t len = strlen(path) + 1 + strlen(de->d_name) + 1;
        names[n] = malloc(len);
        if (names[n] == NULL) {
            rc = -1;
            break;
        }
        snprintf(names[n], len, "%s/%s", path, de->d_name);
        n++;
    }
    closedir(d);
    if (n > 1) {
        qsort(names, n, sizeof *names, driver_name_cmp);
    }
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && driver_run_path(names[i]) != 0) {
            rc = -1;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static int driver_run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        return driver_run_dir(path);
    }
    return driver_run_file(path);
}

int main(int argc, char **argv)
{
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        driver_verbose = 1;
        first = 2;
    }
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("usage: %s [-v] FILE|DIR...   replay inputs through the target\n", argv[0]);
#ifdef DRIVER_AFL
        printf("       %s                    AFL++ persistent mode (shared memory or stdin)\n", argv[0]);
#endif
        return 0;
    }
#ifdef DRIVER_AFL
    if (argc <= first) {
        __AFL_INIT();
        const unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
        while (__AFL_LOOP(10000)) {
            size_t len = (size_t)__AFL_FUZZ_TESTCASE_LEN;
            LLVMFuzzerTestOneInput(buf, len);
        }
        return 0;
    }
#endif
    if (argc <= first) {
        fprintf(stderr, "usage: %s [-v] FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (int i = first; i < argc; i++) {
        if (driver_run_path(argv[i]) != 0) {
            return 2;
        }
    }
    printf("%s: %zu inputs ran\n", argv[0], driver_inputs);
    return 0;
}
