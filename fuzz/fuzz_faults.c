/*
 * Fuzz target: the fault proxy's words and toxics (hosts/proxy_fault.c,
 * docs/proxy.md), the input `tofulab proxy --fault`, `--at`, the timeline
 * files and the HTTP API take from users. Statics carry the fw_ prefix (see
 * fuzz.h).
 *
 * Input: [mode] [rest...]
 * 1. mode even: rest (up to 600 bytes, cut at a NUL) as fault words.
 *    tl_px_fault_parse returns -1 with a one-line message (non-empty, no
 *    newline, NUL-terminated inside its buffer), or 1 or 2 faults: two only
 *    for a fault without a direction word, upstream then downstream, the same
 *    otherwise; a known kind, bounded fields. The
 *    same words parse the same way twice.
 * 2. mode odd: a toxiproxy toxic: the type picked by mode from toxiproxy's
 *    and ours, the stream by a bit, then (name index, value) pairs from rest.
 *    tl_px_fault_from_toxic returns -1 with a one-line message, or a fault of
 *    that direction whose attributes (tl_px_fault_attrs), given back, make the
 *    same fault.
 */
#include <string.h>

#include "tofulab/wire.h"
#include "../hosts/proxy.h"

#include "fuzz.h"

static void fw_message_ok(const char *err, size_t cap)
{
    FUZZ_CHECK(memchr(err, '\0', cap) != NULL);
    FUZZ_CHECK(err[0] != '\0');
    FUZZ_CHECK(strchr(err, '\n') == NULL);
}

static int fw_known_kind(tl_px_kind k) { return k >= TL_PXF_LINK && k <= TL_PXA_REMOVE; }

static void fw_words(const uint8_t *data, size_t size)
{
    char text[601], err[300];
    tl_px_fault a[2], b[2];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    memset(err, 'x', sizeof err);
    int r = tl_px_fault_parse(text, a, err, sizeof err);
    if (r < 0) {
        FUZZ_CHECK(r == -1);
        fw_message_ok(err, sizeof err);
        return;
    }
    FUZZ_CHECK(r == 1 || r == 2);
    for (int i = 0; i < r; i++) {
        FUZZ_CHECK(fw_known_kind(a[i].kind));
        FUZZ_CHECK(a[i].dir == TL_PX_UP || a[i].dir == TL_PX_DOWN);
        FUZZ_CHECK(a[i].toxicity_ppb <= TL_SIM_PPB);
        FUZZ_CHECK(a[i].inject_len <= sizeof a[i].inject);
        FUZZ_CHECK(a[i].nslice_offsets <= 8);
        FUZZ_CHECK(a[i].slice_min <= a[i].slice_max);
        FUZZ_CHECK(memchr(a[i].name, '\0', sizeof a[i].name) != NULL);
    }
    if (r == 2) {
        FUZZ_CHECK(a[0].dir == TL_PX_UP && a[1].dir == TL_PX_DOWN);
        FUZZ_CHECK(a[0].kind == a[1].kind);
    }
    FUZZ_CHECK(tl_px_fault_parse(text, b, err, sizeof err) == r);
    for (int i = 0; i < r; i++) {
        FUZZ_CHECK(a[i].kind == b[i].kind && a[i].dir == b[i].dir);
        FUZZ_CHECK(memcmp(&a[i].link, &b[i].link, sizeof a[i].link) == 0);
        FUZZ_CHECK(a[i].time_ns == b[i].time_ns && a[i].count == b[i].count && a[i].opmask == b[i].opmask);
        FUZZ_CHECK(a[i].inject_len == b[i].inject_len && memcmp(a[i].inject, b[i].inject, a[i].inject_len) == 0);
    }
}

static const char *const fw_types[] = {"latency", "bandwidth", "slicer", "timeout", "reset_peer",
                                       "slow_close", "limit_data", "tofu", "down", ""};
static const char *const fw_names[] = {"latency", "jitter",  "rate",   "average_size", "size_variation",
                                       "delay",   "timeout", "bytes", "fault",        "toxicity"};
static const char *const fw_faults[] = {"hold ByeResponse", "delay heartbeat 1s", "cut frame 2 byte 8",
                                        "slice at boundaries", "bogus words", "heal"};

static void fw_toxic(uint8_t mode, const uint8_t *data, size_t size)
{
    tl_px_attr attrs[8];
    size_t na = 0;
    const char *type = fw_types[(mode >> 1) % (sizeof fw_types / sizeof fw_types[0])];
    int dir = (mode >> 5) & 1 ? TL_PX_UP : TL_PX_DOWN;
    for (size_t i = 0; i + 5 <= size && na < 8; i += 5) {
        uint32_t v = (uint32_t)data[i + 1] << 24 | (uint32_t)data[i + 2] << 16 | (uint32_t)data[i + 3] << 8 |
                     data[i + 4];
        attrs[na].name = fw_names[data[i] % (sizeof fw_names / sizeof fw_names[0])];
        attrs[na].text = NULL;
        attrs[na].number = (data[i] & 0x80) ? -(double)v : (double)v / ((data[i] & 0x40) ? 7.0 : 1.0);
        if (strcmp(attrs[na].name, "fault") == 0) {
            attrs[na].text = fw_faults[v % (sizeof fw_faults / sizeof fw_faults[0])];
        }
        na++;
    }
    tl_px_fault f, g;
    char err[300];
    memset(err, 'x', sizeof err);
    if (tl_px_fault_from_toxic(type, dir, attrs, na, &f, err, sizeof err) != 0) {
        fw_message_ok(err, sizeof err);
        return;
    }
    FUZZ_CHECK(f.dir == dir);
    FUZZ_CHECK(fw_known_kind(f.kind) && f.kind < TL_PXF_DOWN);
    tl_px_attr back[8];
    size_t nb = tl_px_fault_attrs(&f, back, 8);
    FUZZ_CHECK(nb <= 8);
    FUZZ_CHECK(tl_px_fault_from_toxic(type, dir, back, nb, &g, err, sizeof err) == 0);
    FUZZ_CHECK(g.kind == f.kind && g.dir == f.dir);
    if (strcmp(type, "tofu") != 0) {
        FUZZ_CHECK(memcmp(&g.link, &f.link, sizeof g.link) == 0);
        FUZZ_CHECK(g.time_ns == f.time_ns && g.count == f.count);
        FUZZ_CHECK(g.slice_min == f.slice_min && g.slice_max == f.slice_max &&
                   g.slice_delay_ns == f.slice_delay_ns);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    if ((data[0] & 1) == 0) {
        fw_words(data + 1, size - 1);
    } else {
        fw_toxic(data[0], data + 1, size - 1);
    }
    return 0;
}
