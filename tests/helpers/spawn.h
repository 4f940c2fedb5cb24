/*
 * Running other programs from a test (tshark, make, pkg-config, cc, sh) and
 * the temporary files that go with it. Plain C, no cmocka: every function
 * reports failure by its return value and the caller asserts.
 */
#ifndef TOFULAB_TEST_SPAWN_H
#define TOFULAB_TEST_SPAWN_H

#include <stddef.h>

typedef struct {
    char *out; /* standard output, NUL-terminated (never NULL after spawn_run) */
    size_t out_len;
    char *err; /* standard error, NUL-terminated */
    size_t err_len;
    int exit_code;   /* exit status; -1 when killed by a signal or timed out */
    int signal;      /* the signal that ended it, if any */
    int timed_out;   /* 1: killed after timeout_ms */
    int spawn_errno; /* non-zero: it could not be started (errno) */
} spawn_result;

/*
 * Runs argv[0] (looked up in PATH when it has no '/') with argv, standard input
 * from `input` (input_len bytes; NULL = empty), in the current environment
 * minus the variables named in `unset` plus the "NAME=VALUE" entries of `set`
 * (both NULL-terminated lists, either may be NULL). Captures stdout and
 * stderr; kills the program after timeout_ms. Returns 0 when it ran (see
 * exit_code), -1 when it could not be started (spawn_errno).
 */
int spawn_run(spawn_result *r, const char *const *argv, const char *const *set, const char *const *unset,
              const char *input, size_t input_len, int timeout_ms);
void spawn_free(spawn_result *r);

/* Copies the full path of `name` found in PATH into out; 0 when found. */
int spawn_which(const char *name, char *out, size_t cap);

/* A fresh private directory under $TMPDIR (default /tmp): malloc'd path, or NULL. */
char *spawn_tmpdir(const char *tag);
/* Removes path and everything below it (symbolic links are not followed). 0 on success. */
int spawn_rmtree(const char *path);

/* The whole file, NUL-terminated (malloc'd; *len without the NUL), or NULL. */
char *spawn_read_file(const char *path, size_t *len);
/* Creates or truncates path with the bytes; 0 on success. */
int spawn_write_file(const char *path, const void *data, size_t len);
/* printf into a fresh malloc'd string (never NULL: aborts when out of memory). */
char *spawn_fmt(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif /* TOFULAB_TEST_SPAWN_H */
