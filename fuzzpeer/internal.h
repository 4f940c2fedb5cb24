/*
 * Internals of tofulab fuzz-peer (the fuzzpeer/ sources). Not installed.
 *
 *   util.c      growable bytes, PRNG, text helpers, signature normalising
 *   case.c      a test case (bytes + delivery plan), the frame view that the
 *               structure-level mutators edit, plan files
 *   model.c     what a tofu EchoService answers to each frame of a case
 *               (PROTOCOL.md section 7), which frames may close the connection
 *               or stop the server and by which rule
 *   mutate.c    seeds and mutators (byte, structure, sequence, delivery)
 *   corpus.c    seed directories, dictionary, working corpus, reply patterns
 *   peer.c      the spawned peer: process group, stderr capture, exit status
 *   exec.c      one case over a real connection; the liveness probe
 *   findings.c  classification, deduplication, minimisation, saving, reports
 *   run.c       the fuzzing loop and replay
 */
#ifndef TOFULAB_FUZZPEER_INTERNAL_H
#define TOFULAB_FUZZPEER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "fuzzpeer.h"
/* the clock (tlc_now_us, tlc_sleep_us): conform/ is below fuzzpeer/ */
#include "../conform/util.h"

#if defined(__GNUC__) || defined(__clang__)
#define FP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define FP_PRINTF(fmt, args)
#endif

/* ---- util.c ---- */

typedef struct {
    uint8_t *p;
    size_t len;
    size_t cap;
} fp_buf;

/* Each returns 0, or -1 when memory runs out (the buffer is unchanged). */
int fp_buf_reserve(fp_buf *b, size_t extra);
int fp_buf_append(fp_buf *b, const void *data, size_t len);
int fp_buf_insert(fp_buf *b, size_t at, const void *data, size_t len);
int fp_buf_set(fp_buf *b, const void *data, size_t len);
void fp_buf_erase(fp_buf *b, size_t at, size_t len);
void fp_buf_free(fp_buf *b);

/* An array of n elements of elem bytes with room for *cap: items when there
 * is room for one more, else items grown to twice *cap (first when *cap is
 * 0; *cap updated), or NULL when memory runs out (items unchanged and still
 * the caller's). */
void *fp_grow(void *items, size_t *cap, size_t n, size_t elem, size_t first);

uint64_t fp_rand(uint64_t *state);                          /* splitmix64 */
uint64_t fp_below(uint64_t *state, uint64_t n);             /* 0..n-1 (0 when n == 0) */
uint64_t fp_hash(uint64_t h, const void *data, size_t len); /* FNV-1a 64 */
#define FP_HASH_INIT 0xcbf29ce484222325ull

/* Copy a string, cut to cap - 1 bytes. */
void fp_copy(char *dst, size_t cap, const char *src);
/* snprintf that never overflows and returns out. */
char *fp_fmt(char *out, size_t cap, const char *fmt, ...) FP_PRINTF(3, 4);
/* A signature from a line: digit runs become '#', 0x-hex runs '0x#', the
 * "==PID==" prefix of sanitizer lines dropped, cut to cap. */
void fp_normalize(char *out, size_t cap, const char *line);
/* Printable, single-line copy of untrusted bytes (\xNN escapes), cut. */
void fp_printable(char *out, size_t cap, const uint8_t *data, size_t len);

/* ---- case.c ---- */

#define FP_MAX_CUTS       16
#define FP_MAX_CASE_BYTES (512u * 1024u)
#define FP_KEEP_MAX       (32u * 1024u) /* larger cases are not kept in the working corpus */

typedef enum { FP_END_FIN = 0, FP_END_RST = 1 } fp_end;

/* How a connection's bytes are delivered. */
typedef struct {
    size_t cuts[FP_MAX_CUTS]; /* a write ends at each of these offsets (increasing, inside the bytes) */
    size_t ncuts;
    int bytewise;      /* every byte its own write */
    size_t stall_at;   /* with stall_ms: pause after this many bytes */
    unsigned stall_ms; /* 0 = no stall */
    int reset;         /* close with RST after reset_at bytes; nothing more is sent or awaited */
    size_t reset_at;
    fp_end end; /* how the connection is closed when the case is over */
} fp_plan;

typedef struct {
    fp_buf bytes;
    fp_plan plan;
} fp_case;

int fp_plan_is_plain(const fp_plan *p);
/* Keep the plan's offsets inside len bytes. */
void fp_plan_clamp(fp_plan *p, size_t len);
/* The plan as text ("cut 16\nstall 21 50\n..."); returns its length. */
size_t fp_plan_format(const fp_plan *p, char *out, size_t cap);
/* Parse plan text; errors name file:line:column. Returns 0 or -1. */
int fp_plan_parse(const char *text, size_t len, const char *file, fp_plan *p, char *err, size_t err_cap);

int fp_case_copy(fp_case *dst, const fp_case *src);
void fp_case_free(fp_case *c);

/* A stream seen as frames: complete frames as the peer would split them,
 * then whatever is left (an incomplete frame or junk). */
typedef struct {
    tl_header h; /* thl/bl are written from the content unless lie is set */
    fp_buf text;
    fp_buf body;
    int lie; /* write h.thl / h.bl as they are, whatever the content */
} fp_sframe;

typedef struct {
    fp_sframe *f;
    size_t n;
    size_t cap;
    fp_buf tail;
} fp_seq;

int fp_seq_parse(fp_seq *s, const uint8_t *data, size_t len);
int fp_seq_write(const fp_seq *s, fp_buf *out);
/* Insert a copy of f at position at (<= n). */
int fp_seq_insert(fp_seq *s, size_t at, const fp_sframe *f);
void fp_seq_remove(fp_seq *s, size_t at);
void fp_seq_free(fp_seq *s);
size_t fp_seq_bytes(const fp_seq *s);
/* A frame built from fields (text and body copied). */
int fp_sframe_make(fp_sframe *f, unsigned proto, uint64_t id, const void *text, size_t tl, const void *body,
                   size_t bl);
void fp_sframe_free(fp_sframe *f);

/* ---- model.c ---- */

/* Rules that stop tofu's echo server (PROTOCOL.md section 7, 6.15, A19). */
#define FP_RULE_NONE     (-1)
#define FP_RULE_RESPONSE 0
#define FP_RULE_STATUS21 1
#define FP_RULE_ID0      2
#define FP_RULE_MORE     3
#define FP_RULE_BUDGET   4
#define FP_RULE_COUNT    5
/* Rules that close one connection (the peer goes on). */
#define FP_CLOSE_OPCODE       0
#define FP_CLOSE_BYE_SIGNAL   1
#define FP_CLOSE_BYE_RESPONSE 2
#define FP_CLOSE_STOP         3 /* a stop rule: everything closes */
#define FP_CLOSE_COUNT        4

#define FP_ECHO_BUDGET    1100u /* tofu's EchoService (A19) */
#define FP_RULE_SETTLE_MS 2000u /* a stop shows within this after the frame that causes it */

const char *fp_rule_text(int rule);
const char *fp_close_text(int rule);

/* Per frame. */
#define FP_P_REPLY     0x01u /* an echo reply is predicted */
#define FP_P_OPTIONAL  0x02u /* ... that may not come */
#define FP_P_BIT_A     0x04u /* internal bit A: tofu queues its echo first (1.4); not used to match (rare) */
#define FP_P_MAY_CLOSE 0x08u /* the peer may close the connection from here on */
#define FP_P_UNCHECKED 0x10u /* nothing is judged from this frame on */

typedef struct {
    size_t index;  /* frame number in the stream, 0-based */
    size_t offset; /* stream offset of its first byte */
    size_t end;    /* stream offset just past it */
    tl_header h;
    const uint8_t *text; /* h.thl bytes inside the case */
    unsigned flags;
    int eop;        /* reply op code when FP_P_REPLY */
    int stop_rule;  /* FP_RULE_*, or FP_RULE_NONE */
    int close_rule; /* FP_CLOSE_*, or -1 */
    int budget;     /* counts against tofu's budget and the reference engine's */
    int budget_max; /* counts against the reference engine's (origin frames too: it clears the bit, A7) */
} fp_pred;

typedef struct {
    fp_pred *p; /* complete frames */
    size_t n;
    size_t cap;
    size_t complete;     /* bytes in complete frames */
    size_t missing;      /* bytes the trailing incomplete frame still lacks (0: none) */
    int stop_rule;       /* the first stop rule any frame hits, or FP_RULE_NONE */
    unsigned stop_rules; /* every stop rule some frame hits (bits) */
    int may_close;       /* some frame allows a close */
    size_t mandatory;
    uint64_t budget; /* frames tofu's budget counts */
    int quiet_after; /* a bye frame was answered: the peer sends nothing more */
} fp_model;

/* Predict the replies to data[0..len) on a fresh connection of an echo peer
 * that has used budget_before echoes. echo = 0 (--no-echo): only the
 * HelloResponse to a HelloRequest is predicted. Returns 0, -1 on OOM. */
int fp_model_build(fp_model *m, const uint8_t *data, size_t len, uint64_t budget_before, int echo);
void fp_model_free(fp_model *m);

/* ---- mutate.c / corpus.c ---- */

typedef struct {
    fp_buf *items;
    size_t n;
    size_t cap;
} fp_list;

int fp_list_add(fp_list *l, const void *data, size_t len);
void fp_list_free(fp_list *l);

typedef struct {
    fp_buf bytes;
    int seed; /* loaded or built in (never evicted, never saved) */
} fp_entry;

#define FP_PATTERN_SLOTS (1u << 16)

typedef struct {
    fp_entry *e;
    size_t n;
    size_t cap;
    size_t bytes;
    size_t found_bytes; /* of entries found during the run (bounded by max_bytes) */
    size_t max_bytes;
    size_t seeds;
    size_t added;       /* kept for a new reply pattern */
    uint64_t *patterns; /* open addressing, FP_PATTERN_SLOTS */
    size_t pattern_count;
    fp_list dict;  /* dictionary tokens */
    fp_list texts; /* text header blocks */
    fp_list addrs; /* address values */
} fp_corpus;

int fp_corpus_init(fp_corpus *c, size_t max_bytes);
void fp_corpus_free(fp_corpus *c);
/* Load a seed directory: tofulab's fuzz/corpus layout (reader/,
 * engine_server/, engine_client/, text/, address/: harness prefixes are
 * stripped as fuzz/export-raw.sh does) or a flat directory of raw streams.
 * Errors (missing directory, unreadable, oversized or truncated file) name
 * the file. */
int fp_corpus_load_dir(fp_corpus *c, const char *dir, char *err, size_t err_cap);
/* libFuzzer / AFL++ dictionary; errors as FILE:LINE:COLUMN. */
int fp_dict_load(fp_corpus *c, const char *file, char *err, size_t err_cap);
int fp_corpus_add(fp_corpus *c, const uint8_t *data, size_t len, int seed);
/* 1 if the pattern was not seen before (and remember it). */
int fp_corpus_new_pattern(fp_corpus *c, uint64_t pattern);
/* Write the entries kept during the run (not the seeds), one file each,
 * named by content hash. */
int fp_corpus_save(const fp_corpus *c, const char *dir, char *err, size_t err_cap);

typedef struct {
    uint64_t *rng;
    const fp_corpus *corpus;
    const uint8_t *hello_text; /* "~connect_to:ADDR\r\n" */
    size_t hello_tl;
} fp_mutator;

/* The built-in seeds (tofu's sequences: Hello, echo, streaming, Bye, ...). */
int fp_builtin_seeds(fp_corpus *c, const uint8_t *hello_text, size_t hello_tl);
/* A new case from a corpus entry: structure, sequence, byte and delivery
 * mutations. */
int fp_mutate(fp_mutator *m, const uint8_t *data, size_t len, fp_case *out);

/* ---- peer.c ---- */

#define FP_STDERR_KEEP 65536u

typedef struct {
    char *cmd;
    pid_t pid; /* 0 when not running */
    int err_fd;
    char tail[FP_STDERR_KEEP]; /* the last bytes of stderr since the start */
    size_t tail_len;
    char line[1024]; /* current incomplete line */
    size_t line_len;
    char report[256];     /* the first sanitizer / panic line since the mark */
    char first_line[256]; /* the first stderr line since the mark */
    char last_line[256];  /* the last one (a peer that stops says why last) */
    int exited;           /* waitpid reported it */
    int status;           /* its wait status */
    uint64_t started_us;
} fp_peer;

int fp_peer_start(fp_peer *p, const char *cmd, char *err, size_t err_cap);
/* Drain stderr and check the process. Returns 1 once it has exited. */
int fp_peer_poll(fp_peer *p);
/* Poll until it exits or ms pass. Returns 1 if it exited. */
int fp_peer_wait_exit(fp_peer *p, unsigned ms);
/* Forget report / first line (start of a case). */
void fp_peer_mark(fp_peer *p);
/* Kill the process group (TERM, then KILL) and reap. */
void fp_peer_stop(fp_peer *p);
void fp_peer_free(fp_peer *p);
/* "signal 6 (SIGABRT)", "exit status 3", ... of the last exit. */
void fp_peer_describe_exit(const fp_peer *p, char *out, size_t cap);
/* Whether the exit is a crash (signal, or the shell's 128+signal). */
int fp_peer_exit_is_signal(const fp_peer *p);
/* 1 if line looks like a sanitizer or panic report. */
int fp_is_report_line(const char *line);

/* ---- exec.c ---- */

/* What every connection needs to know (read-only while cases run). */
typedef struct {
    tl_fuzzpeer_options opt;
    struct sockaddr_storage sa;
    socklen_t sa_len;
    char peer_text[TL_ADDR_TEXT_MAX];
    uint8_t hello_text[TL_ADDR_TEXT_MAX + 16];
    size_t hello_tl;
    int echo; /* the echo oracle is on */
} fp_ctx;

/* One lane: cases run on several connections at once, one per lane. */
typedef struct {
    uint8_t *rx; /* receive buffer */
    size_t rx_cap;
    tl_reader reader;
    uint64_t next_id; /* probe ids */
    uint64_t frames_sent;
    uint64_t bytes_sent;
    uint64_t replies;
    uint64_t probes;
    uint64_t budget; /* budget-counted frames the probes sent */
} fp_lane;

int fp_lane_init(fp_lane *l, unsigned index);
void fp_lane_free(fp_lane *l);

#define FP_CLOSED_NO    0
#define FP_CLOSED_EOF   1
#define FP_CLOSED_RESET 2

typedef struct {
    int connect_err; /* errno of a failed connect (0: connected) */
    size_t sent;
    int closed; /* FP_CLOSED_* by the peer */
    int reset_by_us;
    size_t replies;
    uint64_t first_reply_us;
    uint64_t pattern; /* the reply pattern's hash */
    size_t answered;  /* predictions the replies account for (frames before them were processed) */
    int failed;       /* hang or echo */
    tl_fp_oracle oracle;
    char detail[512];
    char sig[256];
    int probe_failed; /* the liveness probe during a stall failed */
    char probe_detail[256];
} fp_outcome;

/* The barrier: a HelloRequest with a fresh id appended to a case so that its
 * reply marks the end of the replies (replies come in order, section 6.6). */
#define FP_BARRIER_ID0 0x7f00000000000001ull /* barrier ids count up from here */
int fp_append_barrier(uint64_t id, fp_buf *bytes);

/* Run one case; the model must be built over the same bytes. Returns 0, or -1
 * on OOM. */
int fp_exec_case(const fp_ctx *x, fp_lane *l, const fp_case *c, const fp_model *m, fp_outcome *o);
/* Liveness: connect, HelloRequest (and a Request when the echo oracle is on),
 * replies within the bound. 0 alive, else -1 with why. */
int fp_probe(const fp_ctx *x, fp_lane *l, unsigned timeout_ms, char *why, size_t why_cap);

/* ---- run.c / findings.c ---- */

#define FP_RECENT      16 /* cases kept to reproduce a finding that needs earlier ones */
#define FP_STOP_ONE_IN 16 /* with --spawn, cases that would stop the peer are sent one time in this many */
#define FP_MAX_LANES   8  /* connections running cases at once */

/* What one step (a case, or replayed connections) came to. */
typedef struct {
    int failed; /* a finding */
    tl_fp_oracle oracle;
    char sig[256];
    char detail[512];
    char stderr_line[256];
    int stopped;       /* the peer stopped (crash or expected): restart it */
    int expected_stop; /* ... as a rule predicts */
    int rule;
} fp_verdict;

struct fp_pool;

typedef struct {
    fp_ctx x;
    fp_lane lanes[FP_MAX_LANES];
    unsigned nlanes;
    struct fp_pool *pool; /* worker threads for lanes 1.. (NULL with one lane) */
    fp_corpus corpus;
    fp_mutator mut;
    uint64_t rng;
    fp_peer peer;
    int spawned;
    tl_fuzzpeer_report *rep;
    fp_case recent[FP_RECENT]; /* ring, as sent */
    size_t nrecent;
    size_t recent_head;
    unsigned pending_rules; /* stop rules (bits) of cases not yet proven survived: cleared by a
                             * probe answered FP_RULE_SETTLE_MS after the last of them was sent */
    uint64_t rules_sent_us; /* when the last of them was sent */
    uint64_t since_probe;   /* cases since the last probe */
    uint64_t budget_used;   /* frames tofu's budget counts, sent since the peer started (upper bound) */
    uint64_t budget_low;    /* ... of them certainly processed: answered, or before an answer */
    int no_budget;          /* a probe was answered past 1100 certain echoes: the peer has none */
    uint64_t next_barrier;  /* barrier ids */
    uint64_t t0;
    uint64_t case_no;
    char out_dir[512];
    FILE *log;
} fp_run;

/* Start (or restart) the spawned peer and wait until it answers a probe. */
int fp_run_start_peer(fp_run *r, char *err, size_t err_cap);
/* Judge the peer after cases ran (outcomes o[0..n)): crash, then liveness
 * (a probe when due, forced, or after trouble), then stops a rule predicts.
 * v->failed or v->stopped tell; otherwise the peer is fine. */
void fp_judge_peer(fp_run *r, const fp_outcome *o, size_t n, int force_probe, fp_verdict *v);
/* A case's own result (hang, echo) as a verdict. */
void fp_case_verdict(const fp_run *r, const fp_outcome *o, fp_verdict *v);
/* Run cases in order on a live peer (restarting a spawned one first if it is
 * down) and judge them. Returns 0, or -1 when the peer cannot be brought up. */
int fp_reproduce(fp_run *r, const fp_case *cases, size_t n, fp_verdict *v);
/* A finding: counted if known, else minimised (starting from cases[focus]
 * alone when focus >= 0, else from each case alone, newest first, then all
 * together), saved and listed. */
void fp_finding(fp_run *r, const fp_verdict *v, const fp_case *cases, size_t n, int focus);
/* Shell-quoted replay command for files. */
void fp_replay_command(const fp_run *r, char *out, size_t cap, const char *dir, size_t nfiles);

#endif /* TOFULAB_FUZZPEER_INTERNAL_H */
