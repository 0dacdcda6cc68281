/* rng.c — xoshiro256** seeded by SplitMix64, with stream splitting.
 *
 * Algorithm (documented in docs/ARCHITECTURE.md, "Random numbers"):
 *   seed(s):  x = s; state[i] = splitmix64(&x) for i = 0..3
 *   next():   xoshiro256** (Blackman & Vigna, 2018)
 *   split(r, id): x = r.s0 ^ rotl(r.s1,17) ^ rotl(r.s2,31) ^ rotl(r.s3,47) ^ (id * golden);
 *             child = seed(splitmix64(&x)); the parent is not advanced.
 *   float:    top 24 bits * 2^-24;   double: top 53 bits * 2^-53
 *   below(n): Lemire's multiply-shift with rejection (unbiased)
 *   normal:   Box-Muller from two doubles, u1 in (0,1], one value per call. */
#include <math.h>
#include <string.h>

#include "quarry/base.h"

__extension__ typedef unsigned __int128 u128;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void qy_rng_seed(qy_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

qy_rng qy_rng_split(const qy_rng *r, uint64_t stream_id) {
    uint64_t x = r->s[0] ^ rotl(r->s[1], 17) ^ rotl(r->s[2], 31) ^ rotl(r->s[3], 47) ^
                 (stream_id * 0x9e3779b97f4a7c15ull);
    qy_rng child;
    qy_rng_seed(&child, splitmix64(&x));
    return child;
}

uint64_t qy_rng_u64(qy_rng *r) {
    uint64_t *s = r->s;
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

uint32_t qy_rng_u32(qy_rng *r) { return (uint32_t)(qy_rng_u64(r) >> 32); }

uint64_t qy_rng_below(qy_rng *r, uint64_t n) {
    QY_ASSERT(n > 0);
    u128 m = (u128)qy_rng_u64(r) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = (0 - n) % n;
        while (low < threshold) {
            m = (u128)qy_rng_u64(r) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

float qy_rng_float(qy_rng *r) { return (float)(qy_rng_u64(r) >> 40) * 0x1.0p-24f; }

double qy_rng_double(qy_rng *r) { return (double)(qy_rng_u64(r) >> 11) * 0x1.0p-53; }

double qy_rng_normal(qy_rng *r) {
    double u1 = 1.0 - qy_rng_double(r); /* (0, 1] */
    double u2 = qy_rng_double(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

void qy_rng_shuffle(qy_rng *r, void *items, size_t n, size_t size) {
    if (n < 2) return;
    unsigned char *a = items;
    unsigned char tmp[256];
    QY_ASSERT(size <= sizeof tmp);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)qy_rng_below(r, i + 1);
        if (j != i) {
            memcpy(tmp, a + i * size, size);
            memcpy(a + i * size, a + j * size, size);
            memcpy(a + j * size, tmp, size);
        }
    }
}
