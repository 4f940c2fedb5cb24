/*
 * `tofulab frame decode` and `tofulab frame encode`: tofu frames (PROTOCOL.md
 * sections 1-4) to one-line JSON and back.
 *
 * decode prints, per frame, one JSON object with the keys
 *   channel proto opcode origin more bit_a bit_b status status_name message_id thl bl
 *   headers body_hex
 * in that order (the format tests/vectors/golden.jsonl stores). Errors are one
 * line on stderr; exit 0 ok, 1 bad or incomplete frames / I/O, 2 usage or bad hex.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tofulab/wire.h"

#define READ_CHUNK 65536u

/* ---- usage ---- */

static const char frame_usage[] =
    "usage: tofulab frame decode [options]    frame bytes -> one JSON object per frame\n"
    "       tofulab frame encode [options]    flags -> one frame as hex (or raw bytes)\n"
    "\n"
    "Run `tofulab frame decode --help` or `tofulab frame encode --help` for options.\n"
    "\n"
    "examples:\n"
    "  echo 1a2b0000000000000000002a0000000568656c6c6f | tofulab frame decode\n"
    "  tofulab frame encode --op Request --channel 6699 --id 42 --body hello\n"
    "  tofulab frame encode --op Signal --channel 7 --body-hex 32 | tofulab frame decode\n";

static const char decode_usage[] =
    "usage: tofulab frame decode [--hex HEX | --raw FILE] [--max-text N] [--max-body N]\n"
    "                            [--strict-opcode]\n"
    "\n"
    "Reads a stream of concatenated tofu frames and prints one JSON object per frame,\n"
    "one per line, with the keys channel, proto, opcode, origin, more, bit_a, bit_b\n"
    "(the internal bits A 0x40 and B 0x80 of the proto byte), status, status_name,\n"
    "message_id, thl, bl, headers ([name, value] pairs as tofu's text header\n"
    "iterator yields them) and body_hex.\n"
    "\n"
    "input (default: hex text on standard input; whitespace ignored, any case):\n"
    "  --hex HEX         the frames as hex text in the argument\n"
    "  --raw FILE        the frames as binary bytes in FILE ('-' = standard input)\n"
    "reader options:\n"
    "  --max-text N      refuse frames whose thl exceeds N (1-65535; default 65535)\n"
    "  --max-body N      refuse frames whose bl exceeds N (1-65535; default 65535)\n"
    "  --strict-opcode   refuse frames with the undefined op codes 10-15\n"
    "\n"
    "exit status: 0 all frames decoded; 1 a frame was refused, the input ended inside\n"
    "a frame, or I/O failed (complete frames before it are printed); 2 usage error or\n"
    "invalid hex (nothing printed).\n"
    "\n"
    "examples:\n"
    "  tofulab frame decode --hex 1a2b0000000000000000002a0000000568656c6c6f\n"
    "  printf '1a2b 0200 0000 0000 0000 03e8 0000 0000' | tofulab frame decode\n"
    "  tofulab frame decode --raw capture.bin --max-body 1024 --strict-opcode\n";

static const char encode_usage[] =
    "usage: tofulab frame encode [options]\n"
    "\n"
    "Builds one tofu frame and prints it as lowercase hex and a newline (or, with\n"
    "--raw, as binary bytes). thl and bl are computed from the content.\n"
    "\n"
    "options:\n"
    "  --op NAME|N          op code name as in PROTOCOL.md section 2 (Request,\n"
    "                       HelloRequest, ...) or 0-15 (default Request)\n"
    "  --channel N          channel number 0-65535 (default 0)\n"
    "  --id N               message id, unsigned 64-bit decimal (default 0)\n"
    "  --status N|NAME      status byte 0-255 or a snake_case name (default 0)\n"
    "  --origin WHO         application (default) or engine\n"
    "  --more               set the more bit\n"
    "  --bit-a, --bit-b     set the internal bits A (0x40) and B (0x80)\n"
    "  --header NAME:VALUE  append a text header (repeatable; split at the first\n"
    "                       colon; empty names or values and CR/LF are refused)\n"
    "  --body TEXT          the body bytes, as given\n"
    "  --body-hex HEX       the body bytes, as hex\n"
    "  --raw                write the frame as binary instead of hex\n"
    "\n"
    "examples:\n"
    "  tofulab frame encode --op Request --channel 6699 --id 42 --body hello\n"
    "  tofulab frame encode --op HelloRequest --channel 6699 --id 1 \\\n"
    "      --header '~connect_to:tcp|127.0.0.1|7099'\n"
    "  tofulab frame encode --op ByeSignal --channel 6699 --id 9 --bit-a --raw > f.bin\n";

/* ---- small helpers ---- */

static const char *quote(const char *s, char *buf, size_t cap) { return cli_quote(s, strlen(s), buf, cap); }

static int is_help(const char *arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int is_hex_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Parse hex text, whitespace ignored. On success *out is malloc'd (may be NULL
 * when *out_len is 0). On error returns -1 with *err_off the offending offset
 * in the text and *err_msg what is wrong; returns -2 when out of memory. */
static int hex_parse(const char *text, size_t len, uint8_t **out, size_t *out_len, size_t *err_off,
                     const char **err_msg)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    size_t i;
    size_t lone_off = 0;
    int hi = -1;

    *out = NULL;
    *out_len = 0;
    if (len / 2 > 0) {
        buf = malloc(len / 2);
        if (buf == NULL) {
            return -2;
        }
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        int d;

        if (is_hex_space(c)) {
            continue;
        }
        d = hex_digit(c);
        if (d < 0) {
            free(buf);
            *err_off = i;
            *err_msg = "not a hex digit";
            return -1;
        }
        if (hi < 0) {
            hi = d;
            lone_off = i;
        } else {
            buf[n++] = (uint8_t)((hi << 4) | d);
            hi = -1;
        }
    }
    if (hi >= 0) {
        free(buf);
        *err_off = lone_off;
        *err_msg = "odd number of hex digits (this digit has no pair)";
        return -1;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

/* Report a hex error: the offending byte, rendered safely. */
static void hex_error(const char *cmd, const char *where, const char *text, size_t len, size_t off,
                      const char *msg)
{
    char q[16];

    cli_error("frame %s: invalid hex in %s at byte offset %zu ('%s'): %s", cmd, where, off,
              cli_quote(text + off, off < len ? 1 : 0, q, sizeof q), msg);
}

/* Read all of a stream into a malloc'd buffer. Returns 0, or -1 with errno. */
static int read_all(FILE *in, char **out, size_t *out_len)
{
    char *buf = NULL;
    size_t len = 0;
    size_t cap = 0;

    for (;;) {
        size_t got;

        if (cap - len < READ_CHUNK) {
            size_t ncap = cap ? cap * 2 : READ_CHUNK;
            char *nb;

            if (ncap < cap) {
                free(buf);
                errno = ENOMEM;
                return -1;
            }
            nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(buf);
                errno = ENOMEM;
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + len, 1, cap - len, in);
        len += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(in)) {
        int e = errno ? errno : EIO;

        free(buf);
        errno = e;
        return -1;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

/* ---- option parsing: "--name value" or "--name=value" ---- */

typedef struct {
    int argc;
    char **argv;
    int i;            /* index of the current argument */
    const char *name; /* current option name (points into a small copy) */
    char name_buf[64];
    const char *inline_value; /* after '=', or NULL */
} opt_iter;

/* Move to the next argument. Returns 0 at the end, 1 with it->name set. */
static int opt_next(opt_iter *it)
{
    const char *arg;
    const char *eq;
    size_t n;

    it->i++;
    if (it->i >= it->argc) {
        return 0;
    }
    arg = it->argv[it->i];
    it->inline_value = NULL;
    eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    n = eq ? (size_t)(eq - arg) : strlen(arg);
    if (eq != NULL && n < sizeof it->name_buf) {
        memcpy(it->name_buf, arg, n);
        it->name_buf[n] = '\0';
        it->name = it->name_buf;
        it->inline_value = eq + 1;
    } else {
        it->name = arg;
    }
    return 1;
}

/* The value of the current option. NULL (after a one-line error) if missing. */
static const char *opt_value(opt_iter *it, const char *cmd)
{
    if (it->inline_value != NULL) {
        return it->inline_value;
    }
    if (it->i + 1 >= it->argc) {
        cli_error("frame %s: option %s needs a value", cmd, it->name);
        return NULL;
    }
    it->i++;
    return it->argv[it->i];
}

/* A flag must not be given "=value". */
static int opt_flag_ok(const opt_iter *it, const char *cmd)
{
    if (it->inline_value != NULL) {
        cli_error("frame %s: option %s takes no value", cmd, it->name);
        return 0;
    }
    return 1;
}

static void unknown_option(const char *cmd, const char *arg)
{
    char q[96];

    if (arg[0] == '-') {
        cli_error("frame %s: unknown option '%s'; see 'tofulab frame %s --help'", cmd,
                  quote(arg, q, sizeof q), cmd);
    } else {
        cli_error("frame %s: unexpected argument '%s'; see 'tofulab frame %s --help'", cmd,
                  quote(arg, q, sizeof q), cmd);
    }
}

/* Strict decimal option value within [min, max]; one-line error otherwise. */
static int parse_number_opt(const char *cmd, const char *opt, const char *value, uint64_t min, uint64_t max,
                            uint64_t *out)
{
    char q[96];

    if (cli_parse_u64(value, max, out) != 0 || *out < min) {
        cli_error("frame %s: invalid value '%s' for %s: expected a decimal number %" PRIu64 "-%" PRIu64, cmd,
                  quote(value, q, sizeof q), opt, min, max);
        return -1;
    }
    return 0;
}

/* ---- decode ---- */

static void json_string(FILE *out, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    putc('"', out);
    for (i = 0; i < n; i++) {
        uint8_t c = s[i];

        if (c == '"' || c == '\\') {
            putc('\\', out);
            putc(c, out);
        } else if (c < 0x20 || c >= 0x7f) {
            /* control bytes, DEL and every byte >= 0x80 stand for U+00XX */
            fputs("\\u00", out);
            putc(hex[c >> 4], out);
            putc(hex[c & 15], out);
        } else {
            putc(c, out);
        }
    }
    putc('"', out);
}

static void print_frame_json(FILE *out, const tl_frame *f)
{
    static const char hex[] = "0123456789abcdef";
    const tl_header *h = &f->hdr;
    const char *op = tl_opcode_name(tl_proto_opcode(h->proto));
    tl_text_iter it;
    tl_text_field field;
    int first = 1;
    size_t i;

    fprintf(out, "{\"channel\":%u,\"proto\":%u,\"opcode\":", (unsigned)h->channel, (unsigned)h->proto);
    if (op != NULL) {
        json_string(out, (const uint8_t *)op, strlen(op));
    } else {
        fputs("null", out);
    }
    fprintf(out, ",\"origin\":\"%s\",\"more\":%s,\"bit_a\":%s,\"bit_b\":%s,\"status\":%u,\"status_name\":",
            tl_proto_origin_engine(h->proto) ? "engine" : "application",
            tl_proto_more(h->proto) ? "true" : "false", (h->proto & TL_PROTO_BIT_A) != 0 ? "true" : "false",
            (h->proto & TL_PROTO_BIT_B) != 0 ? "true" : "false", (unsigned)h->status);
    {
        const char *sn = tl_status_name(h->status);

        if (sn != NULL) {
            json_string(out, (const uint8_t *)sn, strlen(sn));
        } else {
            fputs("null", out);
        }
    }
    fprintf(out, ",\"message_id\":%" PRIu64 ",\"thl\":%u,\"bl\":%u,\"headers\":[", h->message_id,
            (unsigned)h->thl, (unsigned)h->bl);
    tl_text_iter_init(&it, f->text, h->thl);
    while (tl_text_iter_next(&it, &field)) {
        if (!first) {
            putc(',', out);
        }
        first = 0;
        putc('[', out);
        json_string(out, field.name, field.name_len);
        putc(',', out);
        json_string(out, field.value, field.value_len);
        putc(']', out);
    }
    fputs("],\"body_hex\":\"", out);
    for (i = 0; i < h->bl; i++) {
        putc(hex[f->body[i] >> 4], out);
        putc(hex[f->body[i] & 15], out);
    }
    fputs("\"}\n", out);
}

typedef struct {
    tl_reader reader;
    uint64_t fed;         /* bytes given to the reader so far */
    uint64_t frame_start; /* stream offset where the next (or current partial) frame starts */
    uint64_t frames;
} decoder;

static void reader_error(const decoder *d)
{
    const tl_reader_error_info *e = tl_reader_error(&d->reader);

    if (e == NULL) {
        cli_error("frame decode: reader failed at byte offset %" PRIu64 " without error details",
                  d->frame_start);
        return;
    }
    if (e->code == TL_E_NOMEM) {
        cli_error("frame decode: frame at byte offset %" PRIu64 ": out of memory at byte offset %" PRIu64,
                  d->frame_start, e->offset);
        return;
    }
    cli_error("frame decode: invalid frame at byte offset %" PRIu64 ": field at byte offset %" PRIu64
              ": %s (value %zu, limit %zu)",
              d->frame_start, e->offset, e->rule != NULL ? e->rule : tl_strerror(e->code), e->value,
              e->limit);
}

/* Feed bytes through the reader, printing every complete frame. Returns 0, or
 * CLI_EXIT_FAIL after a one-line error. */
static int decoder_feed(decoder *d, const uint8_t *data, size_t len)
{
    size_t pos = 0;

    while (pos < len) {
        size_t used = 0;
        tl_frame f;
        tl_read_result rr = tl_reader_next(&d->reader, data + pos, len - pos, &used, &f);

        if (used > len - pos) {
            cli_error(
                "frame decode: internal error: reader consumed %zu of %zu bytes at byte offset %" PRIu64,
                used, len - pos, d->fed);
            return CLI_EXIT_FAIL;
        }
        pos += used;
        d->fed += used;
        if (rr == TL_READ_ERROR) {
            reader_error(d);
            return CLI_EXIT_FAIL;
        }
        if (rr == TL_READ_FRAME) {
            print_frame_json(stdout, &f);
            d->frames++;
            d->frame_start = d->fed;
            continue;
        }
        if (used == 0) {
            cli_error("frame decode: internal error: reader made no progress at byte offset %" PRIu64,
                      d->fed);
            return CLI_EXIT_FAIL;
        }
    }
    return 0;
}

/* After the last byte: an incomplete trailing frame is an error. */
static int decoder_finish(decoder *d)
{
    size_t pending = tl_reader_pending(&d->reader);
    size_t missing = tl_reader_missing(&d->reader);

    if (pending == 0 && missing == 0) {
        return 0;
    }
    if (pending < TL_HEADER_SIZE) {
        cli_error("frame decode: incomplete frame at byte offset %" PRIu64
                  ": %zu bytes missing to complete its 16-byte header (input ends after %zu bytes of it)",
                  d->frame_start, missing, pending);
    } else {
        cli_error("frame decode: incomplete frame at byte offset %" PRIu64
                  ": %zu bytes missing (input ends after %zu of its %zu bytes)",
                  d->frame_start, missing, pending, pending + missing);
    }
    return CLI_EXIT_FAIL;
}

static int finish_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("frame: writing standard output failed: %s", strerror(errno));
        return CLI_EXIT_FAIL;
    }
    return 0;
}

static int decode_raw_file(decoder *d, const char *path)
{
    FILE *in;
    uint8_t *chunk;
    int rc = 0;
    char q[256];

    if (strcmp(path, "-") == 0) {
        in = stdin;
    } else {
        in = fopen(path, "rb");
        if (in == NULL) {
            cli_error("frame decode: cannot open '%s': %s", quote(path, q, sizeof q), strerror(errno));
            return CLI_EXIT_FAIL;
        }
    }
    chunk = malloc(READ_CHUNK);
    if (chunk == NULL) {
        cli_error("frame decode: out of memory");
        rc = CLI_EXIT_FAIL;
    }
    while (rc == 0) {
        size_t got = fread(chunk, 1, READ_CHUNK, in);

        if (got > 0) {
            rc = decoder_feed(d, chunk, got);
        }
        if (got < READ_CHUNK) {
            if (ferror(in)) {
                cli_error("frame decode: reading '%s' failed: %s", quote(path, q, sizeof q), strerror(errno));
                rc = CLI_EXIT_FAIL;
            }
            break;
        }
    }
    free(chunk);
    if (in != stdin) {
        fclose(in);
    }
    if (rc == 0) {
        rc = decoder_finish(d);
    }
    return rc;
}

static int frame_decode(int argc, char **argv)
{
    opt_iter it;
    const char *hex_arg = NULL;
    const char *raw_path = NULL;
    tl_reader_options ro;
    decoder d;
    uint8_t *bytes = NULL;
    size_t nbytes = 0;
    int rc;

    memset(&it, 0, sizeof it);
    memset(&ro, 0, sizeof ro);
    it.argc = argc;
    it.argv = argv;
    it.i = 0;
    while (opt_next(&it)) {
        const char *v;
        uint64_t n;

        if (is_help(it.name) && it.inline_value == NULL) {
            fputs(decode_usage, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(it.name, "--hex") == 0) {
            if ((v = opt_value(&it, "decode")) == NULL) {
                return CLI_EXIT_USAGE;
            }
            hex_arg = v;
        } else if (strcmp(it.name, "--raw") == 0) {
            if ((v = opt_value(&it, "decode")) == NULL) {
                return CLI_EXIT_USAGE;
            }
            raw_path = v;
        } else if (strcmp(it.name, "--max-text") == 0 || strcmp(it.name, "--max-body") == 0) {
            int is_text = strcmp(it.name, "--max-text") == 0;

            if ((v = opt_value(&it, "decode")) == NULL) {
                return CLI_EXIT_USAGE;
            }
            /* 0 cannot be expressed: tl_reader_options treats 0 as "default 65535". */
            if (parse_number_opt("decode", is_text ? "--max-text" : "--max-body", v, 1, 65535, &n) != 0) {
                return CLI_EXIT_USAGE;
            }
            if (is_text) {
                ro.max_text = (size_t)n;
            } else {
                ro.max_body = (size_t)n;
            }
        } else if (strcmp(it.name, "--strict-opcode") == 0) {
            if (!opt_flag_ok(&it, "decode")) {
                return CLI_EXIT_USAGE;
            }
            ro.reject_bad_opcode = 1;
        } else {
            unknown_option("decode", it.argv[it.i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (hex_arg != NULL && raw_path != NULL) {
        cli_error("frame decode: --hex and --raw cannot be used together");
        return CLI_EXIT_USAGE;
    }

    /* Hex input is validated completely before anything is printed. */
    if (raw_path == NULL) {
        char *text = NULL;
        size_t text_len = 0;
        const char *where = "--hex";
        size_t err_off = 0;
        const char *err_msg = "";
        int hr;

        if (hex_arg != NULL) {
            text = (char *)hex_arg;
            text_len = strlen(hex_arg);
        } else {
            where = "standard input";
            if (read_all(stdin, &text, &text_len) != 0) {
                cli_error("frame decode: reading standard input failed: %s", strerror(errno));
                return CLI_EXIT_FAIL;
            }
        }
        hr = hex_parse(text, text_len, &bytes, &nbytes, &err_off, &err_msg);
        if (hr == -1) {
            hex_error("decode", where, text, text_len, err_off, err_msg);
        } else if (hr == -2) {
            cli_error("frame decode: out of memory");
        }
        if (hex_arg == NULL) {
            free(text);
        }
        if (hr != 0) {
            return hr == -1 ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
        }
    }

    memset(&d, 0, sizeof d);
    tl_reader_init(&d.reader, &ro);
    if (raw_path != NULL) {
        rc = decode_raw_file(&d, raw_path);
    } else {
        rc = decoder_feed(&d, bytes, nbytes);
        if (rc == 0) {
            rc = decoder_finish(&d);
        }
    }
    tl_reader_free(&d.reader);
    free(bytes);
    if (finish_stdout() != 0 && rc == 0) {
        rc = CLI_EXIT_FAIL;
    }
    return rc;
}

/* ---- encode ---- */

static uint8_t text_buf[2u * (TL_MAX_TEXT_LEN + 1u)];
static uint8_t frame_buf[TL_MAX_FRAME_LEN];

static int parse_opcode_opt(const char *value, unsigned *out)
{
    char q[96];
    int op;

    if (value[0] >= '0' && value[0] <= '9') {
        uint64_t n;

        op = cli_parse_u64(value, 15, &n) == 0 ? (int)n : -1;
    } else {
        op = tl_opcode_parse(value);
        /* accept names only, spelled exactly */
        if (op >= 0 &&
            (tl_opcode_name((unsigned)op) == NULL || strcmp(tl_opcode_name((unsigned)op), value) != 0)) {
            op = -1;
        }
    }
    if (op < 0) {
        cli_error("frame encode: invalid value '%s' for --op: expected an op code name (Request, Response, "
                  "Signal, HelloRequest, ...) or a number 0-15",
                  quote(value, q, sizeof q));
        return -1;
    }
    *out = (unsigned)op;
    return 0;
}

static int parse_status_opt(const char *value, uint8_t *out)
{
    char q[96];
    int st;

    if (value[0] >= '0' && value[0] <= '9') {
        uint64_t n;

        st = cli_parse_u64(value, 255, &n) == 0 ? (int)n : -1;
    } else {
        st = tl_status_parse(value);
        if (st >= 0 && (st > 255 || tl_status_name((uint8_t)st) == NULL ||
                        strcmp(tl_status_name((uint8_t)st), value) != 0)) {
            st = -1;
        }
    }
    if (st < 0) {
        cli_error(
            "frame encode: invalid value '%s' for --status: expected a decimal number 0-255 or a status "
            "name (success, channel_closed, ...)",
            quote(value, q, sizeof q));
        return -1;
    }
    *out = (uint8_t)st;
    return 0;
}

static int frame_encode(int argc, char **argv)
{
    opt_iter it;
    tl_header h;
    unsigned op = TL_OP_REQUEST;
    int origin_engine = 0, more = 0, bit_a = 0, bit_b = 0, raw = 0;
    size_t text_len = 0;
    const char *body_text = NULL;
    const char *body_hex = NULL;
    uint8_t *body = NULL;
    size_t body_len = 0;
    char q[96];
    int n;
    int rc = CLI_EXIT_OK;

    memset(&it, 0, sizeof it);
    memset(&h, 0, sizeof h);
    it.argc = argc;
    it.argv = argv;
    it.i = 0;
    while (opt_next(&it)) {
        const char *v = NULL;
        uint64_t num;

        if (is_help(it.name) && it.inline_value == NULL) {
            fputs(encode_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(it.name, "--more") == 0 || strcmp(it.name, "--bit-a") == 0 ||
            strcmp(it.name, "--bit-b") == 0 || strcmp(it.name, "--raw") == 0) {
            if (!opt_flag_ok(&it, "encode")) {
                return CLI_EXIT_USAGE;
            }
            if (strcmp(it.name, "--more") == 0) {
                more = 1;
            } else if (strcmp(it.name, "--bit-a") == 0) {
                bit_a = 1;
            } else if (strcmp(it.name, "--bit-b") == 0) {
                bit_b = 1;
            } else {
                raw = 1;
            }
            continue;
        }
        if (strcmp(it.name, "--op") != 0 && strcmp(it.name, "--channel") != 0 &&
            strcmp(it.name, "--id") != 0 && strcmp(it.name, "--status") != 0 &&
            strcmp(it.name, "--origin") != 0 && strcmp(it.name, "--header") != 0 &&
            strcmp(it.name, "--body") != 0 && strcmp(it.name, "--body-hex") != 0) {
            unknown_option("encode", it.argv[it.i]);
            return CLI_EXIT_USAGE;
        }
        if ((v = opt_value(&it, "encode")) == NULL) {
            return CLI_EXIT_USAGE;
        }
        if (strcmp(it.name, "--op") == 0) {
            if (parse_opcode_opt(v, &op) != 0) {
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(it.name, "--channel") == 0) {
            if (parse_number_opt("encode", "--channel", v, 0, 65535, &num) != 0) {
                return CLI_EXIT_USAGE;
            }
            h.channel = (uint16_t)num;
        } else if (strcmp(it.name, "--id") == 0) {
            if (parse_number_opt("encode", "--id", v, 0, UINT64_MAX, &num) != 0) {
                return CLI_EXIT_USAGE;
            }
            h.message_id = num;
        } else if (strcmp(it.name, "--status") == 0) {
            if (parse_status_opt(v, &h.status) != 0) {
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(it.name, "--origin") == 0) {
            if (strcmp(v, "engine") == 0) {
                origin_engine = 1;
            } else if (strcmp(v, "application") == 0) {
                origin_engine = 0;
            } else {
                cli_error("frame encode: invalid value '%s' for --origin: expected application or engine",
                          quote(v, q, sizeof q));
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(it.name, "--header") == 0) {
            const char *colon = strchr(v, ':');
            int ar;

            if (colon == NULL) {
                cli_error("frame encode: invalid value '%s' for --header: expected NAME:VALUE",
                          quote(v, q, sizeof q));
                return CLI_EXIT_USAGE;
            }
            ar = tl_text_append(text_buf, sizeof text_buf, &text_len, v, (size_t)(colon - v), colon + 1,
                                strlen(colon + 1));
            if (ar != TL_OK) {
                const char *why = ar == TL_E_BAD_NAME    ? "the name is empty or contains CR, LF or ':'"
                                  : ar == TL_E_BAD_VALUE ? "the value is empty or contains CR or LF"
                                  : (ar == TL_E_TOO_LONG || ar == TL_E_NOSPACE)
                                      ? "the text headers would exceed 65535 bytes"
                                      : tl_strerror(ar);
                cli_error("frame encode: invalid value '%s' for --header: %s", quote(v, q, sizeof q), why);
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(it.name, "--body") == 0) {
            body_text = v;
        } else {
            body_hex = v;
        }
    }
    if (body_text != NULL && body_hex != NULL) {
        cli_error("frame encode: --body and --body-hex cannot be used together");
        return CLI_EXIT_USAGE;
    }
    if (body_text != NULL) {
        body = (uint8_t *)body_text;
        body_len = strlen(body_text);
    } else if (body_hex != NULL) {
        size_t err_off = 0;
        const char *err_msg = "";
        int hr = hex_parse(body_hex, strlen(body_hex), &body, &body_len, &err_off, &err_msg);

        if (hr == -1) {
            hex_error("encode", "--body-hex", body_hex, strlen(body_hex), err_off, err_msg);
            return CLI_EXIT_USAGE;
        }
        if (hr == -2) {
            cli_error("frame encode: out of memory");
            return CLI_EXIT_FAIL;
        }
    }
    if (body_len > TL_MAX_BODY_LEN) {
        cli_error("frame encode: invalid value for %s: the body is %zu bytes, more than 65535",
                  body_hex != NULL ? "--body-hex" : "--body", body_len);
        rc = CLI_EXIT_USAGE;
        goto out;
    }

    h.proto = tl_proto_make(op, origin_engine, more, bit_a, bit_b);
    h.thl = (uint16_t)text_len;
    h.bl = (uint16_t)body_len;
    n = tl_frame_encode(&h, text_buf, text_len, body, body_len, frame_buf, sizeof frame_buf);
    if (n < 0) {
        cli_error("frame encode: cannot encode the frame: %s", tl_strerror(n));
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    if (raw) {
        fwrite(frame_buf, 1, (size_t)n, stdout);
    } else {
        static const char hex[] = "0123456789abcdef";
        int i;

        for (i = 0; i < n; i++) {
            putchar(hex[frame_buf[i] >> 4]);
            putchar(hex[frame_buf[i] & 15]);
        }
        putchar('\n');
    }
    rc = finish_stdout();
out:
    if (body_hex != NULL) {
        free(body);
    }
    return rc;
}

/* ---- entry ---- */

int cli_frame_main(int argc, char **argv)
{
    char q[96];

    if (argc < 2) {
        cli_error("frame: missing subcommand: decode or encode (see 'tofulab frame --help')");
        return CLI_EXIT_USAGE;
    }
    if (is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        fputs(frame_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "decode") == 0) {
        return frame_decode(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "encode") == 0) {
        return frame_encode(argc - 1, argv + 1);
    }
    cli_error("frame: unknown subcommand '%s'; expected decode or encode (see 'tofulab frame --help')",
              quote(argv[1], q, sizeof q));
    return CLI_EXIT_USAGE;
}
