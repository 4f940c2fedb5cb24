/*
 * tofulab: entry point of the command. Dispatches on the first argument.
 *
 * To add a subcommand: write cli/<name>.c with `int cli_<name>_main(int, char **)`,
 * declare it in cli/cli.h and add one row to `commands` below.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tofulab/posix.h"
#include "tofulab/wire.h"
#include "../sim/scenario.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    const char *help;                  /* one line */
} cli_command;

static const cli_command commands[] = {
    {"frame", cli_frame_main, "decode and encode tofu frames (hex or raw bytes)"},
    {"serve", cli_serve_main, "run tofu's echo service or a heartbeat server on TCP / Unix sockets"},
    {"client", cli_client_main, "run a client pattern (echo, request-response, heartbeat) against a server"},
    {"conform", cli_conform_main, "run the conformance suite against a tofu peer (server or client role)"},
    {"fuzz-peer", cli_fuzz_peer_main,
     "fuzz a tofu peer over the network: crash, liveness, hang and echo oracles"},
    {"sim", cli_sim_main, "run a scenario on the deterministic virtual network"},
    {"run", cli_run_main, "run a scenario whose nodes are real processes, on real sockets through the proxy"},
    {"proxy", cli_proxy_main,
     "forward tofu connections and put them under faults (toxiproxy-compatible API)"},
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

static void print_usage(FILE *out)
{
    size_t i;

    fprintf(out, "usage: tofulab <command> [arguments]\n"
                 "       tofulab help [command]\n"
                 "       tofulab --version\n"
                 "\n"
                 "A toolkit around a reference engine for the tofu message-passing protocol.\n"
                 "\n"
                 "commands:\n");
    for (i = 0; i < COMMAND_COUNT; i++) {
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
    }
    fprintf(out, "\n"
                 "Run `tofulab <command> --help` for a command's options and examples.\n"
                 "Exit status: 0 success, 1 the operation or its input failed, 2 usage error.\n");
}

static const cli_command *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < COMMAND_COUNT; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("tofulab: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *cli_quote(const char *text, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    size_t i;

    if (cap < 8) {
        if (cap > 0) {
            out[0] = '\0';
        }
        return out;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : (c == '\\' ? 2 : 4);

        /* keep room for "..." and the terminator */
        if (o + need + 4 > cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (need == 1) {
            out[o++] = (char)c;
        } else if (need == 2) {
            out[o++] = '\\';
            out[o++] = '\\';
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

int cli_parse_u64(const char *text, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = text;

    if (text == NULL || *p == '\0') {
        return -1;
    }
    for (; *p != '\0'; p++) {
        unsigned d;

        if (*p < '0' || *p > '9') {
            return -1;
        }
        d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10u) {
            return -1; /* would overflow u64 */
        }
        v = v * 10u + d;
    }
    if (v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_time(const char *text, uint64_t max_ns, uint64_t *out)
{
    uint64_t v;

    if (text == NULL) {
        return -1;
    }
    if (cli_parse_u64(text, UINT64_MAX / 1000000000ull, &v) == 0) {
        v *= 1000000000ull; /* bare number: seconds */
    } else if (scn_parse_time(text, strlen(text), &v) != 0) {
        return -1;
    }
    if (v == 0 || v > max_ns) {
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_bytes(const char *text, uint64_t max, uint64_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t factor;
    } units[] = {{"", 1},        {"k", 1024},      {"K", 1024},       {"KiB", 1024},     {"m", 1048576},
                 {"M", 1048576}, {"MiB", 1048576}, {"g", 1073741824}, {"G", 1073741824}, {"GiB", 1073741824}};
    char digits[24];
    size_t n = 0;
    uint64_t v;

    if (text == NULL) {
        return -1;
    }
    while (text[n] >= '0' && text[n] <= '9') {
        n++;
    }
    if (n == 0 || n >= sizeof digits) {
        return -1;
    }
    memcpy(digits, text, n);
    digits[n] = '\0';
    if (cli_parse_u64(digits, UINT64_MAX, &v) != 0) {
        return -1;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(text + n, units[i].suffix) == 0) {
            if (v > max / units[i].factor) {
                return -1;
            }
            *out = v * units[i].factor;
            return 0;
        }
    }
    return -1;
}

int cli_parse_address(const char *who, const char *value, tl_address *out)
{
    tl_address_error err;
    char q[TL_ADDR_TEXT_MAX + 64];

    if (tl_address_parse_detail(value, strlen(value), out, &err) == TL_OK) {
        return 0;
    }
    cli_error("%s: bad address: %s in '%s'", who, err.reason, cli_quote(value, strlen(value), q, sizeof q));
    return -1;
}

FILE *cli_open_out(const char *path, const char *mode, const char *fmt, ...)
{
    FILE *f;
    va_list ap;
    int err;

    if (strcmp(path, "-") == 0) {
        return stdout;
    }
    f = fopen(path, mode);
    if (f != NULL) {
        return f;
    }
    err = errno;
    fflush(stdout);
    fputs("tofulab: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", strerror(err));
    return NULL;
}

void cli_close_out(FILE *f)
{
    if (f != NULL && f != stdout) {
        fclose(f);
    }
}

int cli_scn_load(const char *file, tl_scenario **out)
{
    tl_scn_error err;
    int rc = tl_scn_load(file, out, &err);

    if (rc == TL_OK) {
        return 0;
    }
    if (err.line > 0) {
        cli_error("%s:%u:%u: %s", err.file, err.line, err.column, err.message);
    } else if (err.message[0]) {
        cli_error("%s: %s", err.file, err.message);
    } else {
        cli_error("%s: %s", file, tl_strerror(rc));
    }
    return -1;
}

int main(int argc, char **argv)
{
    const cli_command *cmd;
    char q[96];

    if (argc < 2) {
        cli_error("missing command; run 'tofulab --help' for usage");
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc == 2) {
            print_usage(stdout);
            return CLI_EXIT_OK;
        }
        cmd = find_command(argv[2]);
        if (cmd == NULL) {
            cli_error("help: unknown command '%s'; run 'tofulab --help' for the list",
                      cli_quote(argv[2], strlen(argv[2]), q, sizeof q));
            return CLI_EXIT_USAGE;
        }
        {
            char help_flag[] = "--help";
            char *sub_argv[3];

            sub_argv[0] = argv[2];
            sub_argv[1] = help_flag;
            sub_argv[2] = NULL;
            return cmd->run(2, sub_argv);
        }
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("tofulab %s\n", TOFULAB_VERSION);
        return CLI_EXIT_OK;
    }
    cmd = find_command(argv[1]);
    if (cmd == NULL) {
        cli_error("unknown command '%s'; run 'tofulab --help' for usage",
                  cli_quote(argv[1], strlen(argv[1]), q, sizeof q));
        return CLI_EXIT_USAGE;
    }
    return cmd->run(argc - 1, argv + 1);
}

int cli_parse_spin_us(const char *text, uint64_t *spin_ns)
{
    uint64_t us = 0;
    if (cli_parse_u64(text, 1000, &us) != 0) {
        return -1;
    }
    *spin_ns = us == 0 ? TL_POSIX_SPIN_OFF : us * 1000u;
    return 0;
}
