/*
 * Deterministic randomness for the simulator (ARCHITECTURE.md 4): one seed,
 * split into independent xoshiro256** streams per (kind, name, n) through
 * splitmix64 of seed ^ FNV-1a(kind ":" name "#" n). Only integer arithmetic
 * is used, so a seed gives the same numbers on every platform and compiler
 * (no libm, no floating point, no platform generator).
 */
#include <string.h>

#include "prng.h"

uint64_t tl_sim_fnv1a(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t sim_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void tl_sim_prng_init(tl_sim_prng *p, uint64_t seed, const char *kind, const char *name, uint64_t n)
{
    uint64_t h = TL_SIM_FNV_OFFSET;
    char num[24];
    size_t k = sizeof num;

    h = tl_sim_fnv1a(h, kind, strlen(kind));
    h = tl_sim_fnv1a(h, ":", 1);
    h = tl_sim_fnv1a(h, name, strlen(name));
    h = tl_sim_fnv1a(h, "#", 1);
    do {
        num[--k] = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0);
    h = tl_sim_fnv1a(h, num + k, sizeof num - k);
    uint64_t x = seed ^ h;
    for (int i = 0; i < 4; i++) {
        p->s[i] = sim_splitmix64(&x);
    }
    if ((p->s[0] | p->s[1] | p->s[2] | p->s[3]) == 0) {
        p->s[0] = 1; /* xoshiro's one forbidden state */
    }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sim_prng_next(sim_prng *p)
{
    uint64_t *s = p->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t tl_sim_prng_next(tl_sim_prng *p) { return sim_prng_next(p); }

/* Lemire's multiply-shift with rejection: unbiased. */
uint64_t sim_prng_below(sim_prng *p, uint64_t n)
{
    if (n <= 1) {
        return 0;
    }
    if (n <= UINT32_MAX) {
        uint64_t x = sim_prng_next(p) >> 32;
        uint64_t m = x * n;
        uint32_t low = (uint32_t)m;
        if (low < n) {
            uint32_t threshold = (uint32_t)(-(uint32_t)n) % (uint32_t)n;
            while (low < threshold) {
                x = sim_prng_next(p) >> 32;
                m = x * n;
                low = (uint32_t)m;
            }
        }
        return m >> 32;
    }
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = sim_prng_next(p);
    } while (x >= limit);
    return x % n;
}

int sim_prng_chance(sim_prng *p, uint32_t ppb)
{
    if (ppb == 0) {
        return 0;
    }
    if (ppb >= TL_SIM_PPB) {
        return 1;
    }
    return sim_prng_below(p, TL_SIM_PPB) < ppb;
}

/* Jitter shapes in fixed point, z in units of 2^-20 standard deviations.
 * Integer arithmetic only: the same seed gives the same delays on every
 * platform and compiler (no libm, no floating-point contraction). */
#define Z_ONE (1 << 20)

/* Standard normal by Irwin-Hall: the sum of 12 uniforms minus 6 (bounded at
 * +-6 sd). */
static int64_t z_normal(sim_prng *p)
{
    int64_t sum = 0;
    for (int i = 0; i < 12; i++) {
        sum += (int64_t)(sim_prng_next(p) >> 44); /* 20 bits */
    }
    return sum - 6 * (int64_t)Z_ONE;
}

/* Largest y with y^3 <= n, for n < 2^63. */
static uint64_t icbrt(uint64_t n)
{
    uint64_t lo = 0, hi = 1u << 21;
    while (lo + 1 < hi) {
        uint64_t mid = (lo + hi) / 2;
        if (mid * mid * mid <= n) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Pareto with alpha 3 and x_m 1 by inversion, x = u^(-1/3) for u uniform in
 * (0, 1] at 2^-20 resolution (x up to 101.6), standardised with its mean 1.5
 * and standard deviation sqrt(3)/2. */
static int64_t z_pareto(sim_prng *p)
{
    uint64_t u = 1 + (sim_prng_next(p) >> 44);               /* 1 .. 2^20 */
    int64_t x14 = (int64_t)icbrt((1ull << 62) / u);          /* x in units of 2^-14 */
    int64_t z14 = (x14 - 3 * (1 << 13)) * (1 << 14) / 14189; /* (x - 1.5) / 0.8660254 */
    return z14 * (1 << 6);
}

/* jitter * z / 2^20 without overflow for jitter < 2^42 ns and |z| < 2^28. */
static int64_t scale(uint64_t jitter, int64_t z)
{
    uint64_t m = (uint64_t)(z < 0 ? -z : z);
    uint64_t v = (jitter >> 20) * m + (((jitter & (Z_ONE - 1)) * m) >> 20);
    return z < 0 ? -(int64_t)v : (int64_t)v;
}

int64_t sim_prng_jitter(sim_prng *p, tl_sim_dist dist, uint64_t jitter_ns)
{
    int64_t z;
    if (jitter_ns == 0) {
        return 0;
    }
    if (jitter_ns > TL_SIM_JITTER_MAX) {
        jitter_ns = TL_SIM_JITTER_MAX;
    }
    switch (dist) {
    case TL_SIM_DIST_NORMAL: z = z_normal(p); break;
    case TL_SIM_DIST_PARETO: z = z_pareto(p); break;
    case TL_SIM_DIST_PARETONORMAL:
        /* a quarter normal, three quarters Pareto, rescaled to sd 1:
         * (n + 3 p) / sqrt(10) */
        z = (z_normal(p) + 3 * z_pareto(p)) * 20724 / 65536;
        break;
    case TL_SIM_DIST_UNIFORM:
    default: return (int64_t)sim_prng_below(p, 2 * jitter_ns + 1) - (int64_t)jitter_ns;
    }
    return scale(jitter_ns, z);
}

uint64_t tl_sim_prng_below(tl_sim_prng *p, uint64_t n) { return sim_prng_below(p, n); }

int tl_sim_prng_chance(tl_sim_prng *p, uint32_t ppb) { return sim_prng_chance(p, ppb); }

int64_t tl_sim_prng_jitter(tl_sim_prng *p, tl_sim_dist dist, uint64_t jitter_ns)
{
    return sim_prng_jitter(p, dist, jitter_ns);
}
