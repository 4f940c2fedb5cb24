/*
 * tofulab command line: subcommand entry points and the small helpers they share.
 *
 * A subcommand is one file cli/<name>.c with one entry point declared here and
 * one row in the table in cli/main.c. Conventions every subcommand follows:
 *   - argv[0] is the subcommand's own name, argv[1..argc) its arguments;
 *   - `<name> --help` prints usage with examples on stdout and returns 0;
 *   - errors are one line on stderr, prefixed "tofulab: " (use cli_error);
 *   - exit status: 0 success, 1 the input/operation failed, 2 usage error.
 */
#ifndef TOFULAB_CLI_H
#define TOFULAB_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tofulab/version.h"
#include "tofulab/wire.h"

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

#if defined(__GNUC__) || defined(__clang__)
#define CLI_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CLI_PRINTF(fmt, args)
#endif

/* ---- subcommands (one row each in cli/main.c) ---- */

/* `tofulab frame decode|encode ...` (cli/frame.c). */
int cli_frame_main(int argc, char **argv);

/* `tofulab serve --listen ADDR ...`: tofu's echo service (cli/serve.c). */
int cli_serve_main(int argc, char **argv);

/* `tofulab client --connect ADDR --pattern NAME ...` (cli/client.c). */
int cli_client_main(int argc, char **argv);

/* `tofulab conform --peer ADDR ...`: the conformance suite (cli/conform.c). */
int cli_conform_main(int argc, char **argv);

/* `tofulab fuzz-peer --peer ADDR ...`: network fuzzer for tofu peers (cli/fuzz_peer.c). */
int cli_fuzz_peer_main(int argc, char **argv);

/* `tofulab sim run FILE.scn ...`: a scenario on the virtual network (cli/sim.c). */
int cli_sim_main(int argc, char **argv);

/* `tofulab proxy --listen ADDR --upstream ADDR ...`: the fault proxy (cli/proxy.c). */
int cli_proxy_main(int argc, char **argv);

/* `tofulab run FILE.scn ...`: a scenario with real processes on real sockets (cli/run.c). */
int cli_run_main(int argc, char **argv);

/* ---- shared helpers (cli/main.c) ---- */

/* Print "tofulab: <message>\n" on stderr. The message must be one line; use
 * cli_quote for anything that came from the user or from input data. */
void cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);

/* Render len bytes of untrusted text printable and single-line into out
 * (cap >= 8): printable ASCII as is, everything else as \xNN, cut with "..."
 * when too long. Returns out. */
const char *cli_quote(const char *text, size_t len, char *out, size_t cap);

/* Strict unsigned decimal: one or more ASCII digits and nothing else (no sign,
 * no space, no "0x"), value <= max. Returns 0 and *out on success, -1 otherwise. */
int cli_parse_u64(const char *text, uint64_t max, uint64_t *out);

/* A duration: a number with a unit (ns us ms s m h, e.g. 30s, 1.5s, 250ms, 2m)
 * or a bare decimal number of seconds. Returns 0 and *out in nanoseconds, -1
 * when malformed, zero, or above max_ns. */
int cli_parse_time(const char *text, uint64_t max_ns, uint64_t *out);

/* A byte count: digits with an optional unit k/K/KiB, m/M/MiB, g/G/GiB
 * (powers of 1024): 65536, 64KiB, 16M. Returns 0 and *out, or -1 when
 * malformed or above max. */
int cli_parse_bytes(const char *text, uint64_t max, uint64_t *out);

/* --spin-us N (serve, client): microseconds 0-1000 of busy-polling before a
 * waiting thread sleeps; 0 = never. Returns 0 and *spin_ns as
 * tl_posix_options.spin_ns wants it (TL_POSIX_SPIN_OFF for 0), -1 when
 * malformed or above 1000. */
int cli_parse_spin_us(const char *text, uint64_t *spin_ns);

/* Parse a command-line address (tl_address_parse_detail); on failure print
 * "tofulab: <who>: bad address: <reason> in '<value>'" and return -1. */
int cli_parse_address(const char *who, const char *value, tl_address *out);

/* An output file a command writes: "-" is standard output, anything else is
 * fopen(path, mode). When it cannot be opened, prints "tofulab: " with what
 * fmt says, then ": " and the reason (strerror), and returns NULL. */
FILE *cli_open_out(const char *path, const char *mode, const char *fmt, ...) CLI_PRINTF(3, 4);

/* Closes what cli_open_out opened: f unless it is NULL or standard output. */
void cli_close_out(FILE *f);

struct tl_scenario;

/* Loads a scenario file (tl_scn_load; real-process files too). On failure
 * prints its one-line error, "FILE:LINE:COLUMN: what was expected" or
 * "FILE: why", and returns -1. */
int cli_scn_load(const char *file, struct tl_scenario **out);

#endif /* TOFULAB_CLI_H */
