/*
 * `tofulab fuzz-peer`: fuzz any tofu peer over the network (fuzzpeer/fuzzpeer.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "../fuzzpeer/fuzzpeer.h"

#define FP_MAX_TIME_NS (7ull * 86400ull * 1000000000ull) /* a week */

static const char fuzz_peer_usage[] =
    "usage: tofulab fuzz-peer --peer ADDR [--spawn \"COMMAND\"] [--time TIME | --runs N] [--seed N]\n"
    "             [--corpus DIR ...] [--dict FILE] [--save-corpus DIR] [--out DIR] [--junit FILE]\n"
    "             [more options below]\n"
    "       tofulab fuzz-peer --replay FILE [--replay FILE ...] --peer ADDR [--spawn \"COMMAND\"]\n"
    "\n"
    "Fuzzes a tofu peer over real connections. Each test case is what one connection\n"
    "sends: frames from the seed corpora, mutated at the byte level and at the\n"
    "structure level (every op code 0-15, origin/more/A/B bits, every status,\n"
    "message_id 0 and 2^64-1, lengths that lie, text headers without colons, with\n"
    "empty names, CR without LF, 65535 bytes or binary, bodies), in sequences (no\n"
    "Hello, two Hellos, data after Bye, interleaved streams with more, hundreds of\n"
    "pipelined frames) and delivered in split writes, with a stall or a reset\n"
    "mid-frame. A HelloRequest with a fresh id closes each case: its reply marks\n"
    "the end of the replies. After each case four oracles are checked:\n"
    "  crash     (--spawn) the peer exits, dies of a signal, or prints a sanitizer or\n"
    "            panic report on stderr\n"
    "  liveness  a fresh connection completes Hello and an echo within\n"
    "            --liveness-timeout (after every --liveness-every cases, and after any\n"
    "            case that closed, reset or failed)\n"
    "  hang      the peer stops answering, or reading, a well-formed frame for\n"
    "            --hang-timeout while the connection stays open\n"
    "  echo      every reply is what tofu's EchoService sends (PROTOCOL.md section 7,\n"
    "            checked as `tofulab conform` does); a close where no rule allows one\n"
    "A stop that PROTOCOL.md predicts of tofu's echo server (a response-role frame,\n"
    "status 21, a request with message_id 0, more on a hello/bye frame, the\n"
    "1100-echo budget) is counted as an expected stop with its rule, not a finding;\n"
    "with --spawn the peer is restarted and fuzzing goes on (such cases are sent\n"
    "now and then, one at a time, so that a stop is put down to the right one; a\n"
    "clean exit at any other time is a crash). Without --spawn, they are not sent\n"
    "(withheld), since the peer could not be brought back. A case whose reply\n"
    "pattern (op codes, statuses, sizes, closes, time to reply) is new joins the\n"
    "working corpus.\n"
    "\n"
    "Each new finding (deduplicated by oracle and signal / first stderr line /\n"
    "mismatch) is minimised (connections, delivery, frames, text and body, bytes)\n"
    "while the same oracle still fails the same way, and saved in\n"
    "OUT/findings/F<n>-<oracle>/: conn-N.bin (the raw bytes of connection N),\n"
    "conn-N.plan (how they were written, when that matters), finding.txt (what,\n"
    "when, the frames, the replay command) and stderr.txt (the spawned peer's).\n"
    "The summary table goes to stdout and OUT/summary.txt; findings are announced on\n"
    "stderr as they are made.\n"
    "\n"
    "options:\n"
    "  --peer ADDR            the peer: tcp|HOST|PORT or uds|PATH (quote it in a shell)\n"
    "  --spawn \"COMMAND\"      start the peer with sh -c COMMAND in a process group of\n"
    "                         its own; stdout is discarded, stderr captured; restarted\n"
    "                         after every crash or stop (and killed at the end); it\n"
    "                         must stay in the foreground; a stale socket file at a\n"
    "                         uds| address is removed before each start\n"
    "  --time TIME            fuzz this long (default 60s unless --runs is given)\n"
    "  --runs N               fuzz this many cases (with --time: whichever comes first)\n"
    "  --seed N               seed of the case generator (default: from the clock;\n"
    "                         printed in the summary); runs drift apart as the\n"
    "                         corpus follows the replies: replay findings from files\n"
    "  --corpus DIR           seeds (repeatable): tofulab's fuzz/corpus (its harness\n"
    "                         prefixes are stripped; text/ and address/ feed text\n"
    "                         headers), or a directory of raw streams, such as one\n"
    "                         --save-corpus wrote; built-in seeds are always used\n"
    "  --dict FILE            a libFuzzer / AFL++ dictionary (fuzz/dict/tofu.dict)\n"
    "  --save-corpus DIR      write the cases kept for a new reply pattern to DIR at\n"
    "                         the end (reuse it with --corpus DIR in the next run)\n"
    "  --out DIR              findings and summary (default fuzz-peer-out)\n"
    "  --junit FILE           JUnit XML: one failed test per finding, one passed test\n"
    "                         per oracle with none; expected stops as properties\n"
    "  --max-findings N       stop after N distinct findings (default: never)\n"
    "  --connections N        cases run at once, each on its own connection (1-8,\n"
    "                         default 4)\n"
    "  --liveness-every N     liveness probe after every N cases (default 1: after\n"
    "                         every batch of --connections cases run at once)\n"
    "  --liveness-timeout TIME  bound for the probe, and for a connect (default 2s)\n"
    "  --hang-timeout TIME    silence that makes a hang (default 2s)\n"
    "  --startup-timeout TIME how long a spawned peer may take to answer (default 10s)\n"
    "  --minimize-time TIME   time to minimise each new finding (default 30s)\n"
    "  --no-minimize          save findings as sent\n"
    "  --no-echo              the peer does not run tofu's EchoService: no echo oracle;\n"
    "                         only HelloRequests must be answered (with HelloResponse)\n"
    "  --max-corpus-mb N      bound of the working corpus in MiB (default 32)\n"
    "  --replay FILE          send saved connections (repeatable, in order; FILE.plan\n"
    "                         beside a conn-N.bin is honoured), then judge the peer\n"
    "                         once with every oracle; exit 1 if one fails\n"
    "  --verbose              progress every 5 s and each minimisation attempt on stderr\n"
    "TIME is a number with a unit (ms, s, m, h: 30s, 250ms, 10m) or bare seconds.\n"
    "\n"
    "exit status: 0 nothing found (replay: no oracle failed); 1 findings (replay: an\n"
    "oracle failed); 2 usage error or bad input: a bad address, an unreachable peer, a\n"
    "spawn command that fails before the peer answers, a corrupt corpus, dictionary or\n"
    "replay file, an out directory or JUnit file that cannot be written.\n"
    "\n"
    "examples:\n"
    "  tofulab fuzz-peer --peer 'uds|/tmp/echo.sock' --spawn \"./my-peer --listen /tmp/echo.sock\" \\\n"
    "      --time 10m --corpus fuzz/corpus --dict fuzz/dict/tofu.dict --junit fuzz.xml\n"
    "  tofulab fuzz-peer --peer 'tcp|127.0.0.1|7099' --runs 100000 --seed 7\n"
    "  tofulab fuzz-peer --replay fuzz-peer-out/findings/F1-crash/conn-1.bin \\\n"
    "      --peer 'uds|/tmp/echo.sock' --spawn \"./my-peer --listen /tmp/echo.sock\"\n";

static int takes_value(const char *opt)
{
    static const char *const with_value[] = {
        "--peer",
        "--spawn",
        "--time",
        "--runs",
        "--seed",
        "--corpus",
        "--dict",
        "--save-corpus",
        "--out",
        "--junit",
        "--max-findings",
        "--connections",
        "--liveness-every",
        "--liveness-timeout",
        "--hang-timeout",
        "--startup-timeout",
        "--minimize-time",
        "--max-corpus-mb",
        "--replay",
    };
    size_t i;

    for (i = 0; i < sizeof with_value / sizeof with_value[0]; i++) {
        if (strcmp(opt, with_value[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static volatile sig_atomic_t fp_stop_flag;

static void fp_on_signal(int sig)
{
    (void)sig;
    fp_stop_flag = 1;
}

static int time_ms(const char *opt, const char *val, uint64_t *out)
{
    uint64_t ns;
    char q[96];

    if (cli_parse_time(val, FP_MAX_TIME_NS, &ns) != 0) {
        cli_error("fuzz-peer: %s '%s' is not a time like 30s, 250ms or 10m", opt,
                  cli_quote(val, strlen(val), q, sizeof q));
        return -1;
    }
    *out = (ns + 999999u) / 1000000u;
    return 0;
}

static int u32_ms(const char *opt, const char *val, unsigned *out)
{
    uint64_t ms;

    if (time_ms(opt, val, &ms) != 0) {
        return -1;
    }
    if (ms > 3600000u) {
        cli_error("fuzz-peer: %s: at most 1h", opt);
        return -1;
    }
    *out = (unsigned)ms;
    return 0;
}

int cli_fuzz_peer_main(int argc, char **argv)
{
    tl_fuzzpeer_options opt;
    tl_fuzzpeer_report *rep;
    const char *replay[TL_FP_MAX_REPLAY];
    size_t nreplay = 0;
    const char *peer = NULL;
    int seed_given = 0, rc, i;
    char q[160], err[1024];
    struct sigaction sa;

    memset(&opt, 0, sizeof opt);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(fuzz_peer_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(a, "--no-minimize") == 0) {
            opt.no_minimize = 1;
            continue;
        }
        if (strcmp(a, "--no-echo") == 0) {
            opt.oracles = TL_FP_ORACLE_ALL & ~TL_FP_ORACLE_ECHO;
            continue;
        }
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            opt.verbose = 1;
            continue;
        }
        if (strncmp(a, "--", 2) == 0 && !takes_value(a)) {
            cli_error("fuzz-peer: unknown option '%s'; run 'tofulab fuzz-peer --help'",
                      cli_quote(a, strlen(a), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
        if (strncmp(a, "--", 2) != 0 || val == NULL) {
            if (strncmp(a, "--", 2) == 0) {
                cli_error("fuzz-peer: %s needs a value; run 'tofulab fuzz-peer --help'",
                          cli_quote(a, strlen(a), q, sizeof q));
            } else {
                cli_error("fuzz-peer: unexpected argument '%s'; run 'tofulab fuzz-peer --help'",
                          cli_quote(a, strlen(a), q, sizeof q));
            }
            return CLI_EXIT_USAGE;
        }
        i++;
        if (strcmp(a, "--peer") == 0) {
            peer = val;
        } else if (strcmp(a, "--spawn") == 0) {
            if (val[0] == '\0') {
                cli_error("fuzz-peer: --spawn needs a command");
                return CLI_EXIT_USAGE;
            }
            opt.spawn = val;
        } else if (strcmp(a, "--time") == 0) {
            if (time_ms(a, val, &opt.time_ms) != 0) {
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--runs") == 0 || strcmp(a, "--seed") == 0 || strcmp(a, "--max-findings") == 0 ||
                   strcmp(a, "--liveness-every") == 0 || strcmp(a, "--max-corpus-mb") == 0 ||
                   strcmp(a, "--connections") == 0) {
            uint64_t max = strcmp(a, "--connections") == 0                                          ? 8u
                           : strcmp(a, "--max-findings") == 0 || strcmp(a, "--liveness-every") == 0 ? 1000000u
                           : strcmp(a, "--max-corpus-mb") == 0                                      ? 4096u
                                                               : UINT64_MAX;

            if (cli_parse_u64(val, max, &n) != 0) {
                cli_error("fuzz-peer: %s '%s' is not a number (0-%llu)", a,
                          cli_quote(val, strlen(val), q, sizeof q), (unsigned long long)max);
                return CLI_EXIT_USAGE;
            }
            if (strcmp(a, "--runs") == 0) {
                opt.runs = n;
            } else if (strcmp(a, "--seed") == 0) {
                opt.seed = n;
                seed_given = 1;
            } else if (strcmp(a, "--max-findings") == 0) {
                opt.max_findings = (unsigned)n;
            } else if (strcmp(a, "--connections") == 0) {
                if (n == 0) {
                    cli_error("fuzz-peer: --connections must be 1 to 8");
                    return CLI_EXIT_USAGE;
                }
                opt.connections = (unsigned)n;
            } else if (strcmp(a, "--liveness-every") == 0) {
                if (n == 0) {
                    cli_error("fuzz-peer: --liveness-every must be at least 1");
                    return CLI_EXIT_USAGE;
                }
                opt.liveness_every = (unsigned)n;
            } else {
                if (n == 0) {
                    cli_error("fuzz-peer: --max-corpus-mb must be at least 1");
                    return CLI_EXIT_USAGE;
                }
                opt.corpus_max_bytes = (size_t)n * 1024u * 1024u;
            }
        } else if (strcmp(a, "--corpus") == 0) {
            if (opt.corpus_count == TL_FP_MAX_CORPUS_DIRS) {
                cli_error("fuzz-peer: at most %d --corpus directories", TL_FP_MAX_CORPUS_DIRS);
                return CLI_EXIT_USAGE;
            }
            opt.corpus[opt.corpus_count++] = val;
        } else if (strcmp(a, "--dict") == 0) {
            opt.dict = val;
        } else if (strcmp(a, "--save-corpus") == 0) {
            opt.save_corpus = val;
        } else if (strcmp(a, "--out") == 0) {
            opt.out_dir = val;
        } else if (strcmp(a, "--junit") == 0) {
            opt.junit = val;
        } else if (strcmp(a, "--liveness-timeout") == 0) {
            if (u32_ms(a, val, &opt.liveness_ms) != 0) {
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--hang-timeout") == 0) {
            if (u32_ms(a, val, &opt.hang_ms) != 0) {
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--startup-timeout") == 0) {
            if (u32_ms(a, val, &opt.startup_ms) != 0) {
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--minimize-time") == 0) {
            if (u32_ms(a, val, &opt.minimize_ms) != 0) {
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--replay") == 0) {
            if (nreplay == TL_FP_MAX_REPLAY) {
                cli_error("fuzz-peer: at most %d --replay files", TL_FP_MAX_REPLAY);
                return CLI_EXIT_USAGE;
            }
            replay[nreplay++] = val;
        } else {
            cli_error("fuzz-peer: unknown option '%s'; run 'tofulab fuzz-peer --help'",
                      cli_quote(a, strlen(a), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
    }
    if (peer == NULL) {
        cli_error("fuzz-peer: no --peer address; run 'tofulab fuzz-peer --help'");
        return CLI_EXIT_USAGE;
    }
    if (tl_address_parse(peer, strlen(peer), &opt.peer) != TL_OK) {
        cli_error("fuzz-peer: bad --peer address '%s' (expected tcp|HOST|PORT or uds|PATH)",
                  cli_quote(peer, strlen(peer), q, sizeof q));
        return CLI_EXIT_USAGE;
    }
    if (!seed_given) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        opt.seed = ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = fp_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    opt.stop_flag = &fp_stop_flag;
    opt.log = stderr;

    if (nreplay > 0) {
        tl_fuzzpeer_finding f;
        int failed = 0;

        rc = tl_fuzzpeer_replay(&opt, replay, nreplay, &failed, &f, err, sizeof err);
        if (rc != TL_OK) {
            cli_error("fuzz-peer: %s", err);
            return CLI_EXIT_USAGE;
        }
        if (failed) {
            printf("replay: %s: %s\n", tl_fuzzpeer_oracle_name(f.oracle), f.detail);
            printf("signature: %s\n", f.signature);
            if (f.stderr_line[0] != '\0') {
                printf("peer stderr: %s\n", f.stderr_line);
            }
            return CLI_EXIT_FAIL;
        }
        printf("replay: no oracle failed%s%s\n", f.detail[0] ? "; " : "", f.detail);
        return CLI_EXIT_OK;
    }

    rep = calloc(1, sizeof *rep);
    if (rep == NULL) {
        cli_error("fuzz-peer: out of memory");
        return CLI_EXIT_FAIL;
    }
    rc = tl_fuzzpeer_run(&opt, rep, err, sizeof err);
    if (rc != TL_OK) {
        cli_error("fuzz-peer: %s", err);
        free(rep);
        return CLI_EXIT_USAGE;
    }
    tl_fuzzpeer_write_summary(stdout, rep);
    fflush(stdout);
    rc = rep->finding_count > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    free(rep);
    return rc;
}
