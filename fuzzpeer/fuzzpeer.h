/*
 * tofulab fuzz-peer: a stateful, structure-aware network fuzzer for any tofu
 * peer (`tofulab fuzz-peer`, docs/fuzzing.md "Fuzz your own peer").
 *
 * Each test case is what one connection sends: frames built from the seed
 * corpora and mutated at the byte level and at the structure level (header
 * fields, text headers, bodies, sequences), and how the bytes are delivered
 * (split writes, a stall mid-frame, a reset mid-frame). After each case the
 * oracles are checked:
 *   crash     a spawned peer exits, dies of a signal, or prints a sanitizer or
 *             panic report on stderr;
 *   liveness  a fresh connection completes Hello and an echo within a bound
 *             (after every case, or every N cases);
 *   hang      the peer stops answering (or reading) a well-formed frame;
 *   echo      every reply matches what tofu's EchoService sends (PROTOCOL.md
 *             section 7, the conformance suite's model: conform.h).
 * A stop that section 7 predicts (tofu's EchoService ends after a failed post,
 * a response-role frame, status 21, its 1100-echo budget) is reported as an
 * expected stop with its rule; with a spawned peer, fuzzing goes on after a
 * restart. A case whose reply pattern is new is kept in the working corpus.
 * Findings are minimised, deduplicated, saved as the raw bytes of each
 * connection with a replay command, and listed in a summary and in JUnit.
 *
 * Layering: uses the wire codec (tofulab/wire.h) and the conformance suite's
 * echo model (conform.h); nothing below calls up into it.
 */
#ifndef TOFULAB_FUZZPEER_H
#define TOFULAB_FUZZPEER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tofulab/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Oracles (tl_fuzzpeer_options.oracles). */
#define TL_FP_ORACLE_CRASH    0x01u
#define TL_FP_ORACLE_LIVENESS 0x02u
#define TL_FP_ORACLE_HANG     0x04u
#define TL_FP_ORACLE_ECHO     0x08u
#define TL_FP_ORACLE_ALL      0x0Fu

/* Finding kinds (index = bit position above). */
typedef enum { TL_FP_CRASH = 0, TL_FP_LIVENESS = 1, TL_FP_HANG = 2, TL_FP_ECHO = 3 } tl_fp_oracle;
#define TL_FP_ORACLE_COUNT 4

/* "crash", "liveness", "hang", "echo". */
const char *tl_fuzzpeer_oracle_name(tl_fp_oracle o);

/* Defaults. */
#define TL_FP_DEFAULT_HANG_MS     2000u
#define TL_FP_DEFAULT_LIVENESS_MS 2000u
#define TL_FP_DEFAULT_STARTUP_MS  10000u
#define TL_FP_DEFAULT_MINIMIZE_MS 30000u
#define TL_FP_DEFAULT_CONNECTIONS 4u
#define TL_FP_DEFAULT_CORPUS_MAX  (32u * 1024u * 1024u) /* working corpus bytes */
#define TL_FP_MAX_INPUT           (1u << 20)            /* largest corpus or replay file */
#define TL_FP_MAX_CORPUS_DIRS     16
#define TL_FP_MAX_REPLAY          16

typedef struct {
    tl_address peer;   /* where the peer listens */
    const char *spawn; /* shell command that starts the peer (sh -c), or NULL */
    uint64_t time_ms;  /* run this long (0 = no limit; with runs == 0: 60 s) */
    uint64_t runs;     /* run this many cases (0 = no limit) */
    uint64_t seed;
    const char *corpus[TL_FP_MAX_CORPUS_DIRS]; /* seed directories */
    size_t corpus_count;
    const char *dict;        /* AFL / libFuzzer dictionary, or NULL */
    const char *save_corpus; /* write the working corpus here at the end, or NULL */
    const char *out_dir;     /* findings; NULL = "fuzz-peer-out" */
    const char *junit;       /* JUnit XML file, or NULL */
    unsigned oracles;        /* TL_FP_ORACLE_* (0 = all) */
    unsigned liveness_every; /* liveness probe after every N cases (0 = 1) */
    unsigned connections;    /* cases running at once, each on its own connection (0 = 4; at most 8) */
    unsigned hang_ms;        /* 0 = default */
    unsigned liveness_ms;    /* 0 = default */
    unsigned startup_ms;     /* 0 = default */
    unsigned minimize_ms;    /* per finding; 0 = default; set no_minimize to skip */
    int no_minimize;
    unsigned max_findings;            /* stop after this many distinct findings (0 = never) */
    size_t corpus_max_bytes;          /* 0 = default */
    int verbose;                      /* progress lines and each restart on log */
    FILE *log;                        /* progress and notes (NULL = stderr) */
    volatile sig_atomic_t *stop_flag; /* set asynchronously to end the run early */
} tl_fuzzpeer_options;

/* One distinct finding. */
typedef struct {
    tl_fp_oracle oracle;
    char id[16];         /* "F1" */
    char signature[256]; /* oracle-specific key used for deduplication */
    char detail[512];    /* the first failure, one line */
    char stderr_line[256];
    uint64_t first_case; /* 1-based case number */
    uint64_t first_ms;   /* time from the start of the run */
    uint64_t count;      /* how often it was seen */
    size_t conns;        /* connections in the saved reproducer */
    size_t bytes;        /* their total size after minimisation */
    size_t frames;       /* frames in them */
    size_t bytes_before; /* size before minimisation */
    int minimized;       /* 1 minimised, 0 not tried, -1 did not reproduce */
    char dir[768];       /* where it was saved ("" if not) */
    char replay[1024];   /* the replay command */
} tl_fuzzpeer_finding;

/* Expected stops, per rule. */
#define TL_FP_RULE_COUNT 5
typedef struct {
    const char *rule; /* PROTOCOL.md rule text */
    uint64_t count;
    char example[200]; /* with --spawn: what the peer said on stderr the first time */
} tl_fuzzpeer_stop;

#define TL_FP_MAX_FINDINGS 64

typedef struct {
    char peer[TL_ADDR_TEXT_MAX];
    uint64_t seed;
    uint64_t cases;
    uint64_t frames_sent;
    uint64_t bytes_sent;
    uint64_t replies;
    uint64_t probes; /* liveness probes */
    uint64_t restarts;
    uint64_t withheld; /* cases not sent because they would stop a peer we cannot restart */
    uint64_t elapsed_ms;
    double cases_per_s;
    size_t corpus_entries; /* working corpus at the end */
    size_t corpus_bytes;
    size_t corpus_seeds;     /* loaded seeds */
    size_t corpus_new;       /* kept for a new reply pattern */
    size_t corpus_new_bytes; /* their bytes now (bounded by --max-corpus-mb) */
    size_t patterns;         /* distinct reply patterns seen */
    tl_fuzzpeer_stop stops[TL_FP_RULE_COUNT];
    uint64_t stops_total;
    tl_fuzzpeer_finding findings[TL_FP_MAX_FINDINGS];
    size_t finding_count;
    uint64_t findings_dropped; /* distinct findings past TL_FP_MAX_FINDINGS */
    int peer_lost;             /* the peer could not be reached any more and was not spawned */
    char end_reason[160];      /* why the run ended */
    char out_dir[512];
} tl_fuzzpeer_report;

/* Run the fuzzer. Returns TL_OK with the report filled (findings or not),
 * or, with err holding one line that names what and where:
 *   TL_E_INVAL  bad options, a corrupt corpus or dictionary file, an out
 *               directory or JUnit file that cannot be written;
 *   TL_E_IO     the peer cannot be reached, or the spawn command fails
 *               before the peer answers;
 *   TL_E_NOMEM. */
int tl_fuzzpeer_run(const tl_fuzzpeer_options *opt, tl_fuzzpeer_report *rep, char *err, size_t err_cap);

/* Replay saved connections (raw bytes, one file each, with an optional
 * FILE.plan beside it) against the peer, in order, then check every oracle
 * once. *failed is set to 1 and the finding filled when an oracle fails.
 * Returns TL_OK, or TL_E_INVAL / TL_E_IO / TL_E_NOMEM with err as above. */
int tl_fuzzpeer_replay(const tl_fuzzpeer_options *opt, const char *const *files, size_t nfiles, int *failed,
                       tl_fuzzpeer_finding *finding, char *err, size_t err_cap);

/* The summary table (also written to OUT/summary.txt). 0, or -1 on a write error. */
int tl_fuzzpeer_write_summary(FILE *out, const tl_fuzzpeer_report *rep);
/* JUnit XML: one test case per oracle, failed by its findings; expected stops as properties. */
int tl_fuzzpeer_write_junit(FILE *out, const tl_fuzzpeer_report *rep);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_FUZZPEER_H */
