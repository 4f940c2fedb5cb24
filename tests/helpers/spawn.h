/*
 * Running other programs from a test (tshark, make, pkg-config, cc, sh) and
 * the temporary files that go with it. Plain C, no cmocka: every function
 * reports failure by its return value and the caller asserts.
 */
#ifndef TOFULAB_TEST_SPAWN_H
#define TOFULAB_TEST_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

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

/* The tofulab the tests run: $TOFULAB, default build/tofulab (tests run from
 * the repository root). */
const char *spawn_tofulab(void);
/* spawn_run of spawn_tofulab() with args (NULL-terminated, after the program
 * name) in the current environment. */
int spawn_tofulab_run(spawn_result *r, const char *const *args, const char *input, size_t input_len,
                      int timeout_ms);

/*
 * A program running beside the test: started, its output read while the test
 * goes on (spawn_pump), then waited for (spawn_finish) or killed
 * (spawn_proc_free).
 */
typedef struct {
    pid_t pid;  /* 0: not started */
    int out_fd; /* its standard output, -1 once at the end */
    int err_fd; /* its standard error, -1 once at the end */
    char *out;  /* what it wrote so far, NUL-terminated (never NULL once started) */
    size_t out_len;
    char *err;
    size_t err_len;
    int exit_code;        /* once reaped: exit status, -1 when killed by a signal */
    int signal;           /* the signal that ended it, if any */
    int reaped;           /* waited for (set it when the test waits itself) */
    long long started_ms; /* CLOCK_MONOTONIC, milliseconds: spawned */
    long long ended_ms;   /* reaped (by spawn_finish) */
} spawn_proc;

/* Not started, no pipes: what spawn_proc_free leaves too. */
void spawn_proc_init(spawn_proc *p);
/* Starts prog (looked up in PATH when it has no '/') with args (NULL-terminated,
 * after the program name) and environment env (NULL: the current one),
 * standard input from /dev/null. Returns 0, or the errno value that kept it
 * from starting (p is then not started). Aborts when out of memory. */
int spawn_start(spawn_proc *p, const char *prog, const char *const *args, char *const *env);
/* Reads what its output pipes hold, waiting at most wait_ms. Returns 0 when
 * both are at their end, 1 otherwise. */
int spawn_pump(spawn_proc *p, int wait_ms);
/* Reads its output to the end and reaps it (exit_code, signal, ended_ms).
 * Returns 0, or -1 when it was still running after timeout_ms: it is then
 * killed (SIGKILL) and reaped. */
int spawn_finish(spawn_proc *p, int timeout_ms);
/* Kills it if it was not reaped (SIGKILL, then SIGCONT: a stopped child must
 * run to die), reaps it, closes the pipes, frees the output; p is then as
 * spawn_proc_init leaves it. */
void spawn_proc_free(spawn_proc *p);

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
