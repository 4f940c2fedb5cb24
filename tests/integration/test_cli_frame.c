/*
 * Integration tests of `tofulab frame decode|encode`: the binary named by
 * $TOFULAB (default build/tofulab) is run with spawn_run, its stdout, stderr
 * and exit status captured. Runs with the repository root as working
 * directory: the golden vectors come from docs/golden-vectors.txt and the
 * expected decodes from tests/vectors/golden.jsonl (line N = vector VNN).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../helpers/spawn.h"

#define VECTOR_COUNT 22
#define MAX_ARGS     32

/* ---- running the command ---- */

static void buf_append(char **buf, size_t *len, const char *data, size_t n)
{
    char *nb = realloc(*buf, *len + n + 1);
    assert_non_null(nb);
    memcpy(nb + *len, data, n);
    *len += n;
    nb[*len] = '\0';
    *buf = nb;
}

/* Run tofulab with args (NULL-terminated, after the program name), feeding
 * input (may be NULL) on its standard input. */
static void run_tofulab(spawn_result *r, const char *input, size_t input_len, const char *const *args)
{
    if (spawn_tofulab_run(r, args, input, input_len, 20000) != 0) {
        fail_msg("cannot run %s: %s (set TOFULAB)", spawn_tofulab(), strerror(r->spawn_errno));
    }
    if (r->timed_out) {
        fail_msg("tofulab did not finish within 20 s");
    }
}

static size_t count_lines(const char *s, size_t len)
{
    size_t n = 0, i;
    for (i = 0; i < len; i++) {
        n += s[i] == '\n';
    }
    return n;
}

/* stderr is exactly one line, prefixed "tofulab: ". */
static void assert_one_error_line(const spawn_result *r)
{
    if (r->err_len == 0 || count_lines(r->err, r->err_len) != 1 || r->err[r->err_len - 1] != '\n' ||
        strncmp(r->err, "tofulab: ", 9) != 0) {
        fail_msg("expected one 'tofulab: ' line on stderr, got: [%s]", r->err);
    }
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL) {
        fail_msg("expected [%s] in [%s]", needle, haystack);
    }
}

/* ---- golden vectors ---- */

typedef struct {
    char id[8];
    char hex[512];
    char json[1024];
} vector;

static vector vectors[VECTOR_COUNT];

static int load_vectors(void **state)
{
    char *text, *json, *line, *save = NULL;
    int n = 0, j = 0;

    (void)state;
    text = spawn_read_file("docs/golden-vectors.txt", NULL);
    json = spawn_read_file("tests/vectors/golden.jsonl", NULL);
    if (text == NULL || json == NULL) {
        fprintf(stderr, "test_cli_frame: run from the repository root (cannot read the vector files)\n");
        free(text);
        free(json);
        return -1;
    }
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] != 'V') {
            continue;
        }
        if (n >= VECTOR_COUNT || sscanf(line, "%7s %511s", vectors[n].id, vectors[n].hex) != 2) {
            n = -1;
            break;
        }
        n++;
    }
    save = NULL;
    for (line = strtok_r(json, "\n", &save); line != NULL && j < VECTOR_COUNT;
         line = strtok_r(NULL, "\n", &save)) {
        if (strlen(line) >= sizeof vectors[j].json) {
            break;
        }
        strcpy(vectors[j].json, line);
        j++;
    }
    free(text);
    free(json);
    if (n != VECTOR_COUNT || j != VECTOR_COUNT) {
        fprintf(stderr, "test_cli_frame: expected %d vectors and %d JSON lines, got %d and %d\n",
                VECTOR_COUNT, VECTOR_COUNT, n, j);
        return -1;
    }
    return 0;
}

static const vector *vector_get(const char *id)
{
    int i;
    for (i = 0; i < VECTOR_COUNT; i++) {
        if (strcmp(vectors[i].id, id) == 0) {
            return &vectors[i];
        }
    }
    fail_msg("no vector %s", id);
    return NULL;
}

static int hex_val(char c)
{
    return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : c - 'A' + 10;
}

/* Hex to bytes into out; returns the byte count. */
static size_t vector_hex_decode(const char *hex, unsigned char *out)
{
    size_t n = 0;
    while (hex[0] != '\0' && hex[1] != '\0') {
        out[n++] = (unsigned char)(hex_val(hex[0]) << 4 | hex_val(hex[1]));
        hex += 2;
    }
    return n;
}

/* Write bytes to a fresh temporary file; returns its path (static buffer). */
static const char *write_temp(const void *data, size_t len)
{
    static char path[256];
    const char *dir = getenv("TMPDIR");
    int fd;

    snprintf(path, sizeof path, "%s/tofulab-test-XXXXXX", (dir != NULL && dir[0] != '\0') ? dir : "/tmp");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

/* ---- decode ---- */

static void test_cli_frame_each_golden_vector_decodes_to_expected_json(void **state)
{
    int i;
    (void)state;
    for (i = 0; i < VECTOR_COUNT; i++) {
        const char *args[] = {"frame", "decode", "--hex", vectors[i].hex, NULL};
        spawn_result r;

        run_tofulab(&r, NULL, 0, args);
        if (r.exit_code != 0 || r.err_len != 0) {
            fail_msg("%s: exit %d, stderr [%s]", vectors[i].id, r.exit_code, r.err);
        }
        assert_int_equal(r.out_len, strlen(vectors[i].json) + 1);
        if (strncmp(r.out, vectors[i].json, strlen(vectors[i].json)) != 0) {
            fail_msg("%s:\n got  %s expected %s", vectors[i].id, r.out, vectors[i].json);
        }
        assert_int_equal(r.out[r.out_len - 1], '\n');
        spawn_free(&r);
    }
}

/* All 22 on standard input, separated by assorted whitespace, some upper case:
 * 22 lines, in order, each equal to its expected line. */
static void test_cli_frame_all_vectors_concatenated_decode_to_22_lines(void **state)
{
    static const char *const seps[] = {"", "\n", " ", "\t", "\r\n", "  \n\n"};
    const char *args[] = {"frame", "decode", NULL};
    char *input = NULL, *expected = NULL;
    size_t in_len = 0, exp_len = 0;
    spawn_result r;
    int i;

    (void)state;
    for (i = 0; i < VECTOR_COUNT; i++) {
        char hex[512];
        size_t k;

        strcpy(hex, vectors[i].hex);
        if (i % 3 == 1) {
            for (k = 0; hex[k] != '\0'; k++) {
                if (hex[k] >= 'a' && hex[k] <= 'f') {
                    hex[k] = (char)(hex[k] - 'a' + 'A');
                }
            }
        }
        buf_append(&input, &in_len, hex, strlen(hex));
        buf_append(&input, &in_len, seps[i % 6], strlen(seps[i % 6]));
        buf_append(&expected, &exp_len, vectors[i].json, strlen(vectors[i].json));
        buf_append(&expected, &exp_len, "\n", 1);
    }
    run_tofulab(&r, input, in_len, args);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.err_len, 0);
    assert_int_equal(count_lines(r.out, r.out_len), VECTOR_COUNT);
    assert_string_equal(r.out, expected);
    spawn_free(&r);
    free(input);
    free(expected);
}

static void test_cli_frame_raw_file_decodes_like_hex(void **state)
{
    unsigned char *bytes = malloc(16384);
    char *expected = NULL;
    size_t n = 0, exp_len = 0;
    const char *path;
    spawn_result r;
    int i;

    (void)state;
    assert_non_null(bytes);
    for (i = 0; i < VECTOR_COUNT; i++) {
        n += vector_hex_decode(vectors[i].hex, bytes + n);
        buf_append(&expected, &exp_len, vectors[i].json, strlen(vectors[i].json));
        buf_append(&expected, &exp_len, "\n", 1);
    }
    path = write_temp(bytes, n);
    {
        const char *args[] = {"frame", "decode", "--raw", path, NULL};
        run_tofulab(&r, NULL, 0, args);
        unlink(path);
    }
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.err_len, 0);
    assert_string_equal(r.out, expected);
    spawn_free(&r);

    /* '-' reads raw bytes from standard input */
    {
        const char *args[] = {"frame", "decode", "--raw", "-", NULL};
        run_tofulab(&r, (const char *)bytes, n, args);
    }
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out, expected);
    spawn_free(&r);

    /* a raw file cut 3 bytes short: 21 frames, then the error */
    path = write_temp(bytes, n - 3);
    {
        const char *args[] = {"frame", "decode", "--raw", path, NULL};
        run_tofulab(&r, NULL, 0, args);
        unlink(path);
    }
    assert_int_equal(r.exit_code, 1);
    assert_int_equal(count_lines(r.out, r.out_len), VECTOR_COUNT - 1);
    assert_one_error_line(&r);
    assert_contains(r.err, "3 bytes missing");
    spawn_free(&r);

    {
        const char *args[] = {"frame", "decode", "--raw", "/nonexistent/tofulab-no-such-file", NULL};
        run_tofulab(&r, NULL, 0, args);
    }
    assert_int_equal(r.exit_code, 1);
    assert_int_equal(r.out_len, 0);
    assert_one_error_line(&r);
    spawn_free(&r);
    free(bytes);
    free(expected);
}

static void test_cli_frame_truncated_input_exits_1_with_offset_and_missing(void **state)
{
    const vector *v04 = vector_get("V04"), *v12 = vector_get("V12");
    char input[2048];
    spawn_result r;

    (void)state;
    /* V04 (21 bytes) then V12 (68 bytes) without its last 5 bytes */
    snprintf(input, sizeof input, "%s%.*s", v04->hex, (int)(strlen(v12->hex) - 10), v12->hex);
    {
        const char *args[] = {"frame", "decode", "--hex", input, NULL};
        run_tofulab(&r, NULL, 0, args);
    }
    assert_int_equal(r.exit_code, 1);
    assert_int_equal(count_lines(r.out, r.out_len), 1);
    assert_int_equal(strncmp(r.out, v04->json, strlen(v04->json)), 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "offset 21");
    assert_contains(r.err, "5 bytes missing");
    spawn_free(&r);

    /* the input ends inside the second frame's 16-byte header: 3 of 16 bytes */
    snprintf(input, sizeof input, "%s1a2b00", v04->hex);
    run_tofulab(&r, input, strlen(input), (const char *const[]){"frame", "decode", NULL});
    assert_int_equal(r.exit_code, 1);
    assert_int_equal(count_lines(r.out, r.out_len), 1);
    assert_one_error_line(&r);
    assert_contains(r.err, "offset 21");
    assert_contains(r.err, "13 bytes missing");
    spawn_free(&r);
}

static void test_cli_frame_invalid_hex_exits_2_naming_offset(void **state)
{
    const vector *v04 = vector_get("V04");
    char input[2048];
    spawn_result r;

    (void)state;
    /* a complete valid frame first: nothing at all may be printed */
    snprintf(input, sizeof input, "%s 1a2g", v04->hex);
    run_tofulab(&r, input, strlen(input), (const char *const[]){"frame", "decode", NULL});
    assert_int_equal(r.exit_code, 2);
    assert_int_equal(r.out_len, 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "offset 46");
    spawn_free(&r);

    /* odd digit count */
    snprintf(input, sizeof input, "%s0", v04->hex);
    run_tofulab(&r, NULL, 0, (const char *const[]){"frame", "decode", "--hex", input, NULL});
    assert_int_equal(r.exit_code, 2);
    assert_int_equal(r.out_len, 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "offset 42");
    spawn_free(&r);

    /* a control byte and a high byte in the text are named safely on one line */
    run_tofulab(&r, "1a\n\x01\xff", 5, (const char *const[]){"frame", "decode", NULL});
    assert_int_equal(r.exit_code, 2);
    assert_int_equal(r.out_len, 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "offset 3");
    spawn_free(&r);

    run_tofulab(&r, NULL, 0, (const char *const[]){"frame", "encode", "--body-hex", "12 3x", NULL});
    assert_int_equal(r.exit_code, 2);
    assert_int_equal(r.out_len, 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "--body-hex");
    assert_contains(r.err, "offset 4");
    spawn_free(&r);
}

static void test_cli_frame_reader_limits_exit_1_naming_offsets(void **state)
{
    const vector *v04 = vector_get("V04"), *v12 = vector_get("V12");
    char input[2048];
    spawn_result r;

    (void)state;
    /* V04 passes --max-body 5; V12 (thl 45) breaks --max-text 44 at offset 21+12 */
    snprintf(input, sizeof input, "%s%s", v04->hex, v12->hex);
    run_tofulab(&r, NULL, 0,
                (const char *const[]){"frame", "decode", "--max-text", "44", "--max-body", "7", "--hex",
                                      input, NULL});
    assert_int_equal(r.exit_code, 1);
    assert_int_equal(count_lines(r.out, r.out_len), 1);
    assert_one_error_line(&r);
    assert_contains(r.err, "offset 21");
    assert_contains(r.err, "offset 33");
    spawn_free(&r);

    run_tofulab(&r, NULL, 0,
                (const char *const[]){"frame", "decode", "--max-body", "4", "--hex", v04->hex, NULL});
    assert_int_equal(r.exit_code, 1);
    assert_int_equal(r.out_len, 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "offset 14");
    spawn_free(&r);

    /* op code 12: null without --strict-opcode, a reader error with it */
    run_tofulab(&r, NULL, 0,
                (const char *const[]){"frame", "decode", "--hex", "00010c00000000000000000500000000", NULL});
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, "\"proto\":12,\"opcode\":null,");
    spawn_free(&r);
    run_tofulab(&r, NULL, 0,
                (const char *const[]){"frame", "decode", "--strict-opcode", "--hex",
                                      "00010c00000000000000000500000000", NULL});
    assert_int_equal(r.exit_code, 1);
    assert_int_equal(r.out_len, 0);
    assert_one_error_line(&r);
    assert_contains(r.err, "offset 2");
    spawn_free(&r);
}

/* Arbitrary header bytes come out as valid JSON; the header loop stops at the
 * first empty-name line as tofu's normal loop does (PROTOCOL.md 4.2). */
static void test_cli_frame_header_bytes_escaped_as_json(void **state)
{
    /* text (34 bytes): k"\:v<01><ff><7f>\r\n  "  x   :  y\t \r\n"  ": s\r\nz:w\r\n"; body 00 */
    static const char frame[] = "0001"                     /* channel 1 */
                                "0000"                     /* proto 0, status 0 */
                                "0000000000000000"         /* message_id 0 */
                                "00220001"                 /* thl 34, bl 1 */
                                "6b225c3a7601ff7f0d0a"     /* k"\:v 01 ff 7f CRLF */
                                "2020782020203a2020790920" /* "  x   :  y\t " */
                                "0d0a"                     /* CRLF */
                                "3a20730d0a7a3a770d0a"     /* ": s\r\nz:w\r\n" */
                                "00";                      /* body */
    spawn_result r;

    (void)state;
    run_tofulab(&r, NULL, 0, (const char *const[]){"frame", "decode", "--hex", frame, NULL});
    if (r.exit_code != 0) {
        fail_msg("exit %d: %s", r.exit_code, r.err);
    }
    assert_contains(r.out, "\"thl\":34,\"bl\":1,\"headers\":[[\"k\\\"\\\\\",\"v\\u0001\\u00ff\\u007f\"],"
                           "[\"  x   \",\"y\"]],\"body_hex\":\"00\"}\n");
    spawn_free(&r);
}

/* The internal bits A (0x40) and B (0x80) of the proto byte are their own
 * fields, each independent of the other flags (PROTOCOL.md 1.4). */
static void test_cli_frame_decode_shows_bits_a_and_b_as_fields(void **state)
{
    static const struct {
        const char *proto_byte;
        const char *expect;
    } cases[] = {
        {"00", "\"proto\":0,\"opcode\":\"Request\",\"origin\":\"application\",\"more\":false,"
               "\"bit_a\":false,\"bit_b\":false,"},
        {"41", "\"proto\":65,\"opcode\":\"Response\",\"origin\":\"application\",\"more\":false,"
               "\"bit_a\":true,\"bit_b\":false,"},
        {"82", "\"proto\":130,\"opcode\":\"Signal\",\"origin\":\"application\",\"more\":false,"
               "\"bit_a\":false,\"bit_b\":true,"},
        {"f1", "\"proto\":241,\"opcode\":\"Response\",\"origin\":\"engine\",\"more\":true,"
               "\"bit_a\":true,\"bit_b\":true,"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hex[40];
        spawn_result r;

        snprintf(hex, sizeof hex, "0007%s00 0000000000000001 0000 0000", cases[i].proto_byte);
        run_tofulab(&r, NULL, 0, (const char *const[]){"frame", "decode", "--hex", hex, NULL});
        if (r.exit_code != 0) {
            fail_msg("proto %s: exit %d: %s", cases[i].proto_byte, r.exit_code, r.err);
        }
        assert_contains(r.out, cases[i].expect);
        spawn_free(&r);
    }
}

/* ---- encode ---- */

typedef struct {
    const char *id;
    const char *args[MAX_ARGS];
} encode_case;

static const encode_case encode_cases[] = {
    {"V01",
     {"frame", "encode", "--op", "HelloRequest", "--channel", "6699", "--id", "1", "--header",
      "~connect_to:tcp|127.0.0.1|7099", NULL}},
    {"V04",
     {"frame", "encode", "--op", "Request", "--channel", "6699", "--id", "42", "--body", "hello", NULL}},
    {"V06", {"frame", "encode", "--channel", "6699", "--id", "77", "--more", "--body", "chunk-1", NULL}},
    {"V12",
     {"frame", "encode", "--op", "0", "--channel=6699", "--id", "72623859790382856", "--header",
      "Content-Type:application/json", "--header", "Job-ID:12345", "--body", "{\"a\":1}", NULL}},
    {"V14",
     {"frame", "encode", "--op", "Signal", "--channel", "6699", "--id", "1", "--origin", "engine", "--status",
      "22", NULL}},
    {"V15",
     {"frame", "encode", "--op", "Signal", "--channel", "6699", "--origin", "engine", "--status",
      "pool_empty", NULL}},
    {"V16", {"frame", "encode", "--op", "ByeSignal", "--channel", "6699", "--id", "9", "--bit-a", NULL}},
    {"V17", {"frame", "encode", "--op", "7", "--channel", "6699", "--id", "9", NULL}},
    {"V18",
     {"frame", "encode", "--op", "WelcomeRequest", "--id", "3", "--header", "~listen_on:tcp|0.0.0.0|7099",
      NULL}},
    {"V20",
     {"frame", "encode", "--op", "HelloResponse", "--channel", "15437", "--id", "5", "--header",
      "~connect_to:tcp|127.0.0.1|7099", "--body-hex", "4d3c0400 05000000 00000000 20001000", NULL}},
};

/* encode of a vector's fields gives back its frame hex; decode of that gives
 * back its expected JSON line. */
static void test_cli_frame_encode_vector_fields_round_trips(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof encode_cases / sizeof encode_cases[0]; i++) {
        const vector *v = vector_get(encode_cases[i].id);
        spawn_result r, d;

        run_tofulab(&r, NULL, 0, encode_cases[i].args);
        if (r.exit_code != 0 || r.err_len != 0) {
            fail_msg("%s: exit %d, stderr [%s]", v->id, r.exit_code, r.err);
        }
        if (r.out_len != strlen(v->hex) + 1 || strncmp(r.out, v->hex, strlen(v->hex)) != 0) {
            fail_msg("%s:\n got      %s expected %s", v->id, r.out, v->hex);
        }
        run_tofulab(&d, r.out, r.out_len, (const char *const[]){"frame", "decode", NULL});
        assert_int_equal(d.exit_code, 0);
        if (strncmp(d.out, v->json, strlen(v->json)) != 0) {
            fail_msg("%s decode:\n got  %s expected %s", v->id, d.out, v->json);
        }
        spawn_free(&r);
        spawn_free(&d);
    }
}

static void test_cli_frame_encode_raw_writes_binary(void **state)
{
    const vector *v = vector_get("V12");
    unsigned char want[512];
    size_t n = vector_hex_decode(v->hex, want);
    spawn_result r;

    (void)state;
    run_tofulab(&r, NULL, 0,
                (const char *const[]){"frame", "encode", "--raw", "--channel", "6699", "--id",
                                      "72623859790382856", "--header", "Content-Type:application/json",
                                      "--header", "Job-ID:12345", "--body", "{\"a\":1}", NULL});
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.out_len, n);
    assert_memory_equal(r.out, want, n);
    spawn_free(&r);
}

/* Every bad flag or value: exit 2, nothing on stdout, one line on stderr that
 * names the value. */
static void test_cli_frame_bad_flags_exit_2_one_line(void **state)
{
    static const struct {
        const char *needle;
        const char *args[8];
    } cases[] = {
        {"65536", {"frame", "encode", "--channel", "65536", NULL}},
        {"-1", {"frame", "encode", "--channel", "-1", NULL}},
        {"12x", {"frame", "encode", "--channel", "12x", NULL}},
        {"--channel", {"frame", "encode", "--channel", "", NULL}},
        {"18446744073709551616", {"frame", "encode", "--id", "18446744073709551616", NULL}},
        {"0x10", {"frame", "encode", "--id", "0x10", NULL}},
        {"256", {"frame", "encode", "--status", "256", NULL}},
        {"no_such_status", {"frame", "encode", "--status", "no_such_status", NULL}},
        {"Reqest", {"frame", "encode", "--op", "Reqest", NULL}},
        {"16", {"frame", "encode", "--op", "16", NULL}},
        {"both", {"frame", "encode", "--origin", "both", NULL}},
        {"novalue", {"frame", "encode", "--header", "novalue", NULL}},
        {":v", {"frame", "encode", "--header", ":v", NULL}},
        {"n:", {"frame", "encode", "--header", "n:", NULL}},
        {"a:b\\x0d\\x0ac:d", {"frame", "encode", "--header", "a:b\r\nc:d", NULL}},
        {"--body", {"frame", "encode", "--body", "x", "--body-hex", "00", NULL}},
        {"--id", {"frame", "encode", "--id", NULL}},
        {"--more", {"frame", "encode", "--more=1", NULL}},
        {"--bogus", {"frame", "encode", "--bogus", NULL}},
        {"stray", {"frame", "encode", "stray", NULL}},
        {"0", {"frame", "decode", "--max-text", "0", NULL}},
        {"abc", {"frame", "decode", "--max-body", "abc", NULL}},
        {"--hex", {"frame", "decode", "--hex", NULL}},
        {"--raw", {"frame", "decode", "--hex", "00", "--raw", "f", NULL}},
        {"--nope", {"frame", "decode", "--nope", NULL}},
        {"mangle", {"frame", "mangle", NULL}},
        {"frame", {"frame", NULL}},
        {"bogus", {"bogus", NULL}},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spawn_result r;

        run_tofulab(&r, NULL, 0, cases[i].args);
        if (r.exit_code != 2 || r.out_len != 0) {
            fail_msg("case %zu (%s): exit %d, stdout [%s]", i, cases[i].needle, r.exit_code, r.out);
        }
        assert_one_error_line(&r);
        assert_contains(r.err, cases[i].needle);
        spawn_free(&r);
    }
}

static void test_cli_frame_help_and_version_exit_0(void **state)
{
    static const char *const cases[][4] = {
        {"--help", NULL},
        {"help", NULL},
        {"help", "frame", NULL},
        {"frame", "--help", NULL},
        {"frame", "decode", "--help", NULL},
        {"frame", "encode", "--help", NULL},
    };
    size_t i;
    spawn_result r;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_tofulab(&r, NULL, 0, cases[i]);
        assert_int_equal(r.exit_code, 0);
        assert_int_equal(r.err_len, 0);
        assert_contains(r.out, "usage:");
        spawn_free(&r);
    }
    run_tofulab(&r, NULL, 0, (const char *const[]){"frame", "encode", "--help", NULL});
    assert_contains(r.out, "examples:");
    spawn_free(&r);
    run_tofulab(&r, NULL, 0, (const char *const[]){"--version", NULL});
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out, "tofulab 0.1.0\n");
    spawn_free(&r);
}

/* Random bytes as raw input, and random hex: never a crash, only 0, 1 or 2. */
static void test_cli_frame_random_input_never_crashes(void **state)
{
    unsigned char buf[4096];
    uint32_t seed = 12345u;
    int round;

    (void)state;
    for (round = 0; round < 40; round++) {
        size_t len, k;
        spawn_result r;

        seed = seed * 1664525u + 1013904223u;
        len = (seed >> 8) % sizeof buf;
        for (k = 0; k < len; k++) {
            seed = seed * 1664525u + 1013904223u;
            buf[k] = (unsigned char)(seed >> 24);
            /* keep some headers short so that frames complete */
            if (k % 16 == 12 && round % 2 == 0) {
                buf[k] = 0;
            }
        }
        if (round % 4 == 3) {
            run_tofulab(&r, (const char *)buf, len, (const char *const[]){"frame", "decode", NULL});
        } else {
            run_tofulab(&r, (const char *)buf, len,
                        (const char *const[]){"frame", "decode", "--raw", "-",
                                              round % 3 ? "--strict-opcode" : NULL, NULL});
        }
        if (r.exit_code < 0 || r.exit_code > 2) {
            fail_msg("round %d: exit %d signal %d", round, r.exit_code, r.signal);
        }
        if (r.exit_code != 0) {
            assert_one_error_line(&r);
        }
        spawn_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_frame_each_golden_vector_decodes_to_expected_json),
        cmocka_unit_test(test_cli_frame_all_vectors_concatenated_decode_to_22_lines),
        cmocka_unit_test(test_cli_frame_raw_file_decodes_like_hex),
        cmocka_unit_test(test_cli_frame_truncated_input_exits_1_with_offset_and_missing),
        cmocka_unit_test(test_cli_frame_invalid_hex_exits_2_naming_offset),
        cmocka_unit_test(test_cli_frame_reader_limits_exit_1_naming_offsets),
        cmocka_unit_test(test_cli_frame_header_bytes_escaped_as_json),
        cmocka_unit_test(test_cli_frame_decode_shows_bits_a_and_b_as_fields),
        cmocka_unit_test(test_cli_frame_encode_vector_fields_round_trips),
        cmocka_unit_test(test_cli_frame_encode_raw_writes_binary),
        cmocka_unit_test(test_cli_frame_bad_flags_exit_2_one_line),
        cmocka_unit_test(test_cli_frame_help_and_version_exit_0),
        cmocka_unit_test(test_cli_frame_random_input_never_crashes),
    };

    /* a child that exits early must not kill us with SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, load_vectors, NULL);
}
