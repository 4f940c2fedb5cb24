/*
 * Frame reader throughput (tl_reader_next) against memcpy of the same bytes.
 *
 * Each case builds ~64 MiB of concatenated frames of one shape and feeds it
 * to a fresh reader in 64 KiB chunks, so frames straddle chunk boundaries as
 * they do behind a socket read loop. The baseline copies the same bytes in
 * the same chunks into a 64 KiB buffer (as a read() into a receive buffer
 * would). Both are timed in the same run, interleaved; each run repeats whole
 * passes for at least opt->min_seconds and the median of opt->runs runs is
 * reported. The consumer of each frame reads its header and the last body
 * byte, so frames are really produced.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "tofulab/wire.h"

#define CHUNK_SIZE    65536u
#define BUFFER_TARGET (64u * 1024u * 1024u)
#define MAX_RUNS      16

typedef struct {
    const char *name;
    size_t thl;
    size_t bl;
} reader_case;

static const reader_case cases[] = {
    {"reader/header-only", 0, 0},
    {"reader/1k-body", 0, 1024},
    {"reader/64k-body", 0, 65535},
};

/* Results are accumulated here so no work can be optimised away. */
static volatile uint64_t sink;
/* The copy destination is reached through a volatile pointer, so the
 * compiler cannot prove the copies dead. */
static uint8_t copy_dst[CHUNK_SIZE];
static uint8_t *volatile copy_dst_escape = copy_dst;

/* ~64 MiB of frames with a body of bl bytes; returns the buffer and sets *len
 * and *frames. */
static uint8_t *build_stream(const reader_case *c, size_t *len, uint64_t *frames)
{
    size_t frame_len = TL_HEADER_SIZE + c->thl + c->bl;
    size_t n = BUFFER_TARGET / frame_len;
    uint8_t *buf = malloc(n * frame_len);
    uint8_t *body = malloc(c->bl + 1);
    size_t i;

    if (buf == NULL || body == NULL) {
        free(buf);
        free(body);
        return NULL;
    }
    for (i = 0; i < c->bl; i++) {
        body[i] = (uint8_t)(i * 31u + 7u);
    }
    for (i = 0; i < n; i++) {
        tl_header h;
        int rc;

        memset(&h, 0, sizeof h);
        h.channel = 0x1a2b;
        h.proto = tl_proto_make(TL_OP_REQUEST, 0, 0, 0, 0);
        h.message_id = (uint64_t)i + 1u;
        rc = tl_frame_encode(&h, NULL, 0, body, c->bl, buf + i * frame_len, frame_len);
        if (rc != (int)frame_len) {
            fprintf(stderr, "bench_reader: tl_frame_encode returned %d\n", rc);
            free(buf);
            free(body);
            return NULL;
        }
    }
    free(body);
    *len = n * frame_len;
    *frames = n;
    return buf;
}

/* One pass of the reader over the stream. Returns the frames seen, or
 * UINT64_MAX on a reader error. */
static uint64_t reader_pass(const uint8_t *buf, size_t len)
{
    tl_reader r;
    uint64_t frames = 0;
    uint64_t acc = 0;
    size_t off;

    tl_reader_init(&r, NULL);
    for (off = 0; off < len; off += CHUNK_SIZE) {
        size_t clen = len - off < CHUNK_SIZE ? len - off : CHUNK_SIZE;
        const uint8_t *p = buf + off;
        size_t pos = 0;

        while (pos < clen) {
            size_t used = 0;
            tl_frame f;
            tl_read_result rr = tl_reader_next(&r, p + pos, clen - pos, &used, &f);

            pos += used;
            if (rr == TL_READ_FRAME) {
                frames++;
                acc += f.hdr.message_id + f.hdr.bl + (f.hdr.bl ? f.body[f.hdr.bl - 1] : 0u);
            } else if (rr == TL_READ_ERROR || used == 0) {
                tl_reader_free(&r);
                return UINT64_MAX;
            }
        }
    }
    if (tl_reader_pending(&r) != 0) {
        frames = UINT64_MAX;
    }
    tl_reader_free(&r);
    sink += acc;
    return frames;
}

/* One pass of memcpy over the stream, same chunking. */
static void memcpy_pass(const uint8_t *buf, size_t len)
{
    uint8_t *dst = copy_dst_escape;
    uint64_t acc = 0;
    size_t off;

    for (off = 0; off < len; off += CHUNK_SIZE) {
        size_t clen = len - off < CHUNK_SIZE ? len - off : CHUNK_SIZE;

        memcpy(dst, buf + off, clen);
        acc += dst[clen - 1] + dst[clen / 2];
    }
    sink += acc;
}

/* Seconds per pass, repeating passes for at least min_seconds. */
static double time_reader(const uint8_t *buf, size_t len, uint64_t frames, double min_seconds, int *bad)
{
    double start = bench_now(), now;
    long passes = 0;

    do {
        if (reader_pass(buf, len) != frames) {
            *bad = 1;
        }
        passes++;
        now = bench_now();
    } while (now - start < min_seconds);
    return (now - start) / (double)passes;
}

static double time_memcpy(const uint8_t *buf, size_t len, double min_seconds)
{
    double start = bench_now(), now;
    long passes = 0;

    do {
        memcpy_pass(buf, len);
        passes++;
        now = bench_now();
    } while (now - start < min_seconds);
    return (now - start) / (double)passes;
}

int bench_reader_run(const bench_options *opt)
{
    size_t i;
    int runs = opt->runs < 1 ? 1 : (opt->runs > MAX_RUNS ? MAX_RUNS : opt->runs);
    double ratio_1k = -1.0;
    int measured = 0;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const reader_case *c = &cases[i];
        double reader_rate[MAX_RUNS], copy_rate[MAX_RUNS];
        double reader_gbs, copy_gbs, frames_per_s;
        uint8_t *buf;
        size_t len = 0;
        uint64_t frames = 0;
        int bad = 0;
        int run;

        if (!bench_selected(opt, c->name)) {
            continue;
        }
        buf = build_stream(c, &len, &frames);
        if (buf == NULL) {
            fprintf(stderr, "bench_reader: %s: cannot build the input\n", c->name);
            return 1;
        }
        /* warm up both (page faults, caches, branch predictors) */
        memcpy_pass(buf, len);
        if (reader_pass(buf, len) != frames) {
            bad = 1;
        }
        for (run = 0; run < runs && !bad; run++) {
            copy_rate[run] = (double)len / time_memcpy(buf, len, opt->min_seconds);
            reader_rate[run] = (double)len / time_reader(buf, len, frames, opt->min_seconds, &bad);
        }
        free(buf);
        if (bad) {
            fprintf(stderr, "bench_reader: %s: the reader did not return every frame\n", c->name);
            return 1;
        }
        reader_gbs = bench_median(reader_rate, runs) / 1e9;
        copy_gbs = bench_median(copy_rate, runs) / 1e9;
        frames_per_s = reader_gbs * 1e9 / (double)(len / frames);
        bench_print_row(c->name, frames_per_s, reader_gbs, copy_gbs);
        measured++;
        if (c->bl == 1024) {
            ratio_1k = reader_gbs / copy_gbs;
        }
    }
    if (measured == 0) {
        return 0;
    }
    printf("  reader/*: items = frames; base = memcpy of the same bytes in the same 64 KiB chunks\n");
    if (ratio_1k >= 0.0) {
        printf("  target reader/1k-body >= 0.50x memcpy: %.2fx, %s\n", ratio_1k,
               ratio_1k >= 0.5 ? "met" : "NOT met");
    }
    return 0;
}
