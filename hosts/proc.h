/*
 * Real processes for real-socket scenarios (hosts/realrun.c) and the proxy's
 * tests: a command run by /bin/sh -c in a process group of its own, its
 * standard output and error appended to a log file; signals go to the whole
 * group (so `faketime ... tofulab serve` or a pipeline is paused, resumed
 * and killed as one).
 */
#ifndef TOFULAB_HOSTS_PROC_H
#define TOFULAB_HOSTS_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_proc tl_proc;

/* Start `/bin/sh -c command` with stdin from /dev/null and stdout + stderr
 * appended to log_path (NULL: /dev/null). The environment is this process's,
 * without Valgrind's preload libraries. TL_OK or TL_E_IO (err says why). */
int tl_proc_spawn(const char *command, const char *log_path, tl_proc **out, char *err, size_t cap);

/* Wait until addr (a tofu address) accepts a connection (a probe connects
 * and closes at once), the process exits (TL_E_CLOSED: err names its exit
 * status and the last line of its log), or timeout_ns passes (TL_E_TIMEOUT). */
int tl_proc_wait_ready(tl_proc *p, const char *addr, uint64_t timeout_ns, char *err, size_t cap);

/* Signal the process group. TL_OK or TL_E_STATE (it has exited). */
int tl_proc_signal(tl_proc *p, int sig);

/* 1 while it runs; 0 once it has exited (reaped; *status gets the
 * waitpid status when not NULL). */
int tl_proc_running(tl_proc *p, int *status);

/* SIGKILL the group (resumed first if stopped) and reap; the /dev/shm
 * objects of its libfaketime wrappers go too (tl_proc_forget_faketime). */
void tl_proc_kill(tl_proc *p);

/* Remove the semaphore and shared memory libfaketime names by a process's
 * PID in /dev/shm (its faketime wrapper's, or its own under LD_PRELOAD).
 * They go when that process exits normally; a killed one leaves them, and a
 * later one that gets the same PID cannot start. Call it for a process
 * killed on purpose, once it is killed. */
void tl_proc_forget_faketime(pid_t pid);

pid_t tl_proc_pid(const tl_proc *p);

/* "exit status N" / "killed by signal N" for a waitpid status. */
void tl_proc_describe(int status, char *out, size_t cap);

/* The last non-empty line of a log file ("" if none). */
void tl_proc_last_line(const char *path, char *out, size_t cap);

/* Kill (if running) and free. NULL is a no-op. */
void tl_proc_free(tl_proc *p);

/* A free TCP port on 127.0.0.1 (bound and released; another process may
 * take it meanwhile, rarely). 0 on failure. */
uint16_t tl_proc_free_port(void);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_HOSTS_PROC_H */
