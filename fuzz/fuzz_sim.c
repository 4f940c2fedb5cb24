/*
 * Fuzz target: a small simulated run whose network, fault schedule and
 * workload come from the input, with every oracle on. Statics carry the sm_
 * prefix (see fuzz.h).
 *
 * Two nodes on the virtual network (sim/): a server running tofu's echo
 * service and a client running the request-response pattern. The input
 * picks the seed, the link (delay, jitter and its distribution, random
 * loss, Gilbert-Elliott or time-lasting burst loss, corruption,
 * duplication, rate), segmentation down to 1-byte segments, random
 * write/read sizes, the workload (count, sizes,
 * concurrency) and up to four timed actions (crash, silent death, pause,
 * resume, restart, listener stop, partition one- or two-way, heal).
 *
 * Oracles:
 *   - tl_engine_check() holds on every live engine every 100 ms of virtual time;
 *   - the simulator's host oracles hold (per-channel FIFO, channel_closed
 *     once, last and never missing: tl_sim_oracle_error);
 *   - the same input run twice gives the same trace hash (determinism);
 *   - the client never has more answers than requests sent;
 *   - the client accounts for every request once: sent == answered + failed
 *     + open (+ abandoned), and none open once it finished (tl_svc_report_check);
 *   - the echo server never sees an op code 10-15 (A7) nor, without
 *     corruption, a frame whose lengths disagree with its content;
 *   - with a clean network (no loss, no reordering jitter, no corruption),
 *     no action and a workload the window and delay can carry within half
 *     the horizon, every request is answered and every check passes;
 *   - ASan/UBSan/LeakSanitizer in the libFuzzer build, Valgrind on replay.
 */
#include <string.h>

#include "fuzz.h"
#include "../patterns/echo.h"
#include "../patterns/request_response.h"
#include "../sim/sim.h"

#define SM_MS 1000000ull
#define SM_DURATION (20000ull * SM_MS)
#define SM_STEP (100ull * SM_MS)

typedef struct {
    uint64_t seed;
    tl_sim_link link;
    tl_sim_node_options node;
    tl_rr_config rr;
    unsigned nactions;
    struct {
        uint64_t at;
        tl_sim_action action;
        uint32_t node;
        uint64_t arg;
        unsigned flags;
    } actions[4];
    int faults; /* anything that may legitimately cost answers */
    int corrupt;
} sm_plan;

static const char *const sm_listen[] = {"tcp|server|7099"};

static int sm_echo_create(void *arg, tl_service **out)
{
    (void)arg;
    tl_echo_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.listen = sm_listen;
    cfg.listen_count = 1;
    return tl_echo_service_create(&cfg, out);
}

static int sm_rr_create(void *arg, tl_service **out)
{
    const sm_plan *p = arg;
    return tl_rr_client_create(&p->rr, out);
}

static void sm_plan_read(sm_plan *p, const uint8_t *data, size_t size)
{
    fuzz_bytes b;
    fuzz_bytes_init(&b, data, size);
    memset(p, 0, sizeof *p);
    p->seed = fuzz_u64(&b);

    tl_sim_link_defaults(&p->link);
    uint8_t l0 = fuzz_u8(&b), l1 = fuzz_u8(&b), l2 = fuzz_u8(&b), l3 = fuzz_u8(&b);
    p->link.delay_ns = (uint64_t)(l0 & 63) * SM_MS;
    p->link.jitter_ns = (uint64_t)(l1 & 15) * SM_MS;
    p->link.distribution = (tl_sim_dist)((l1 >> 4) & 3);
    if (l2 & 1) {
        p->link.loss = TL_SIM_LOSS_RANDOM;
        p->link.loss_ppb = (uint32_t)((l2 >> 1) % 31) * 10000000u; /* 0..30 % */
    } else if (l2 & 2) {
        p->link.loss = TL_SIM_LOSS_GEMODEL;
        p->link.ge_p_ppb = (uint32_t)((l2 >> 2) % 11) * 10000000u;
        p->link.ge_r_ppb = 500000000u;
        p->link.ge_bad_loss_ppb = 1000000000u;
    } else if (l2 & 4) {
        /* bursts that last a time (`loss burst GOOD BAD`): good 0.5-4 s,
         * bad 50-200 ms, everything sent in a bad period lost */
        p->link.loss = TL_SIM_LOSS_BURST;
        p->link.burst_good_ns = (uint64_t)(1 + ((l2 >> 3) & 7)) * 500 * SM_MS;
        p->link.burst_bad_ns = (uint64_t)(1 + ((l2 >> 6) & 3)) * 50 * SM_MS;
        p->link.burst_loss_ppb = 1000000000u;
    }
    if (l3 & 1) {
        p->link.corrupt_ppb = 20000000u; /* 2 % */
        p->corrupt = 1;
    }
    if (l3 & 2) {
        p->link.duplicate_ppb = 50000000u;
    }
    if (l3 & 4) {
        p->link.rate_bps = 1000000ull * (1 + ((l3 >> 3) & 15)); /* 1-16 Mbit/s */
    }

    tl_sim_node_defaults(&p->node);
    uint8_t n0 = fuzz_u8(&b);
    static const uint32_t mss[4] = {1460, 536, 7, 1};
    p->node.mss = mss[n0 & 3];
    p->node.segments = (n0 & 4) ? TL_SIM_CHOP_RANDOM : TL_SIM_CHOP_FULL;
    p->node.writes = (n0 & 8) ? TL_SIM_CHOP_RANDOM : TL_SIM_CHOP_FULL;
    p->node.reads = (n0 & 16) ? TL_SIM_CHOP_RANDOM : TL_SIM_CHOP_FULL;
    p->node.pool_initial = (n0 & 32) ? 2 : 0; /* a tiny pool: starvation (A20) */
    p->node.pool_max = (n0 & 32) ? 4 : 0;
    if (n0 & 64) {
        p->node.rcvbuf = 512; /* small windows, zero-window probes */
    }

    uint8_t w0 = fuzz_u8(&b), w1 = fuzz_u8(&b), w2 = fuzz_u8(&b);
    p->rr.connect = "tcp|server|7099";
    p->rr.count = 1 + (w0 & 31);
    p->rr.size_min = (size_t)(w1 & 7) * 64;
    p->rr.size_max = p->rr.size_min + (size_t)(w1 >> 3) * 256;
    p->rr.concurrency = 1 + (w2 & 7);
    p->rr.check_echo_body = 1;
    if (p->node.mss < 536) {
        /* Tiny segments cost one event each: keep an input under a second
         * even under ASan (a 4 KiB workload at 1-byte segments and 8 % loss
         * took 3.9 M events, tests/regress/sim/tiny-segments-slow). */
        p->rr.count = 1 + (p->rr.count & 3);
        p->rr.size_max = p->rr.size_min = p->rr.size_min & 0x7f;
        p->rr.concurrency = 1 + (p->rr.concurrency & 1);
    }

    p->nactions = fuzz_u8(&b) % 5;
    for (unsigned i = 0; i < p->nactions; i++) {
        uint8_t a0 = fuzz_u8(&b), a1 = fuzz_u8(&b), a2 = fuzz_u8(&b);
        p->actions[i].at = (uint64_t)a0 * 50 * SM_MS;
        p->actions[i].action = (tl_sim_action)(1 + (a1 % 8));
        p->actions[i].node = (a1 >> 3) & 1;
        p->actions[i].arg = (uint64_t)(a2 & 63) * 100 * SM_MS;
        p->actions[i].flags = (a1 & 16) ? TL_SIM_ONEWAY : 0;
        if (p->actions[i].action == TL_SIM_STOP_LISTENER) {
            p->actions[i].arg = 0;
        }
    }
    /* Jitter reorders segments; with tiny segments and windows the TCP model
     * (go-back-N, no SACK, like Reno) then crawls through spurious fast
     * retransmits, so completion within the horizon is only required on a
     * link that neither loses nor reorders (tests/regress/sim/reorder-crawl). */
    p->faults = p->nactions > 0 || p->link.loss != TL_SIM_LOSS_NONE || p->corrupt || p->link.jitter_ns > 0;
    /* A clean network must still carry the workload within the horizon: at
     * a 512-byte window and up to 127 ms of round trip, 32 requests of 8 KiB
     * need a minute (found by fuzz_sim). Completion is required when a
     * generous estimate (a window per round trip, a round trip per request,
     * handshakes) fits in half the horizon. */
    uint64_t rtt = 2 * p->link.delay_ns + SM_MS;
    uint64_t window = p->node.rcvbuf ? p->node.rcvbuf : 65536;
    uint64_t bytes = (uint64_t)p->rr.count * (p->rr.size_max + 64);
    uint64_t rounds = bytes / window + p->rr.count + 4;
    if (rounds * rtt * 2 > SM_DURATION) {
        p->faults = 1;
    }
    /* On a rate-limited link every segment costs 40 bytes of headers: random
     * segment or write sizes in a small window make segments of a few bytes,
     * a workload can need ten times the link (found by fuzz_sim: 1 Mbit/s,
     * a 512-byte window, 30 requests of 8 KiB took 110,000 segments,
     * tests/regress/sim/rate-tiny-segments). Completion is required when
     * even full segments fit the link's time in half the horizon, and the
     * sizes are not random. */
    if (p->link.rate_bps) {
        uint64_t seg = p->node.mss < window ? p->node.mss : window;
        uint64_t wire = 2 * (bytes + (bytes / seg + 1) * 40); /* both ways */
        if (p->node.segments == TL_SIM_CHOP_RANDOM || p->node.writes == TL_SIM_CHOP_RANDOM ||
            wire * 8 * 1000000000ull / p->link.rate_bps * 2 > SM_DURATION) {
            p->faults = 1;
        }
    }
}

static void sm_check_engines(tl_sim *sim, void *arg)
{
    (void)arg;
    for (uint32_t n = 0; n < tl_sim_node_count(sim); n++) {
        tl_engine *e = tl_sim_node_engine(sim, n);
        if (e != NULL) {
            const char *broken = tl_engine_check(e);
            if (broken != NULL) {
                fprintf(stderr, "fuzz_sim: node %u: %s\n", n, broken);
            }
            FUZZ_CHECK(broken == NULL);
        }
    }
}

/* One run; returns its trace hash (0 if the simulator could not be built). */
static uint64_t sm_run(sm_plan *p, tl_svc_report *client, tl_echo_stats *echo)
{
    tl_sim *sim = NULL;
    tl_sim_options so;
    memset(&so, 0, sizeof so);
    so.seed = p->seed;
    if (tl_sim_create(&so, &sim) != TL_OK) {
        return 0;
    }
    uint32_t server, cli, ssvc, csvc;
    uint64_t hash = 0;
    if (tl_sim_node_add(sim, "server", &p->node, &server) != TL_OK ||
        tl_sim_node_add(sim, "client", &p->node, &cli) != TL_OK ||
        tl_sim_link_set(sim, cli, server, &p->link) != TL_OK || tl_sim_link_set(sim, server, cli, &p->link) != TL_OK ||
        tl_sim_service_add(sim, server, "echo", sm_echo_create, NULL, 0, &ssvc) != TL_OK ||
        tl_sim_service_add(sim, cli, "rr", sm_rr_create, p, SM_MS, &csvc) != TL_OK) {
        tl_sim_destroy(sim);
        return 0;
    }
    for (unsigned i = 0; i < p->nactions; i++) {
        uint32_t target = p->actions[i].node ? cli : server;
        uint32_t other = p->actions[i].node ? server : cli;
        /* Refused schedules (e.g. resume of a node that is not paused) are
         * part of what the input may ask for: they must be refused cleanly. */
        (void)tl_sim_at(sim, p->actions[i].at, p->actions[i].action, target, other, p->actions[i].arg,
                        p->actions[i].flags);
    }
    for (uint64_t t = SM_STEP; t <= SM_DURATION; t += SM_STEP) {
        tl_sim_call_at(sim, t, sm_check_engines, NULL);
    }
    if (tl_sim_run(sim, SM_DURATION) == TL_OK) {
        sm_check_engines(sim, NULL);
        tl_sim_finish(sim);
        if (tl_sim_oracle_error(sim) != NULL) {
            fprintf(stderr, "fuzz_sim: %s\n", tl_sim_oracle_error(sim));
        }
        FUZZ_CHECK(tl_sim_oracle_error(sim) == NULL);
        hash = tl_sim_trace_hash(sim);
        memset(client, 0, sizeof *client);
        tl_sim_service_report(sim, csvc, client);
        {
            char why[200];
            const char *bad = tl_svc_report_check(client, tl_sim_service_done(sim, csvc), why, sizeof why);
            if (bad != NULL) {
                fprintf(stderr, "fuzz_sim: client: %s\n", bad);
            }
            FUZZ_CHECK(bad == NULL); /* each request answered, failed or open, once */
        }
        tl_service *es = tl_sim_service_get(sim, ssvc);
        memset(echo, 0, sizeof *echo);
        if (es != NULL) {
            tl_echo_stats_get(es, echo);
        }
    }
    tl_sim_destroy(sim);
    return hash;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sm_plan plan;
    tl_svc_report c1, c2;
    tl_echo_stats e1, e2;
    sm_plan_read(&plan, data, size);
    memset(&c1, 0, sizeof c1);
    memset(&e1, 0, sizeof e1);
    uint64_t h1 = sm_run(&plan, &c1, &e1);
    if (h1 == 0) {
        return 0;
    }
    memset(&c2, 0, sizeof c2);
    memset(&e2, 0, sizeof e2);
    uint64_t h2 = sm_run(&plan, &c2, &e2);
    FUZZ_CHECK(h1 == h2); /* determinism: same input, same trace */
    FUZZ_CHECK(c1.answered == c2.answered && c1.errors == c2.errors);
    FUZZ_CHECK(c1.answered <= c1.sent);
    FUZZ_CHECK(e1.invalid_opcodes == 0);
    if (!plan.corrupt) {
        FUZZ_CHECK(e1.length_mismatch == 0);
    }
    if (!plan.faults) {
        FUZZ_CHECK(c1.answered == plan.rr.count);
        FUZZ_CHECK(c1.errors == 0);
    }
    return 0;
}
