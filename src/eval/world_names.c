/* world_names.c — unique, pronounceable, multi-token names for world entities.
 *
 * Words are syllable strings: (onset vowel)^k coda, with onsets drawn from
 * consonant clusters, vowels from vowel clusters and the coda only at the end.
 * Since a word alternates maximal consonant runs and vowel runs and every run is
 * exactly one unit, a word decodes to one unit sequence: the map from a
 * mixed-radix index to a word is injective. Each entity type has its own name
 * shape, and the shapes cannot coincide:
 *   person   "Given Family"          2-syllable + 3-syllable word
 *   city     "Family-like"            one 3-syllable word (indices disjoint from surnames)
 *   country  "<2-syllable word>ia"    one word, the word ending in a coda; "ia" is never a vowel unit
 *   org      "<word> Institute"       a vowel-initial English suffix (words start with a consonant)
 *   work     "The <word> <Noun>"      three tokens, the only shape starting with "The"
 * Within a type the k-th entity takes a keyed pseudo-random permutation
 * (4-round Feistel with cycle walking) of k in its name space, so names look
 * random yet never repeat, and any entity's name is computed independently of
 * the others (threads need no coordination). */
#include <string.h>

#include "eval/world_internal.h"

static const char *const onsets[] = {"b", "d", "f", "g", "h", "j",  "k",  "l",  "m",  "n",  "p",
                                     "r", "s", "t", "v", "z", "br", "dr", "kr", "tr", "st", "gr"};
static const char *const vowels[] = {"a", "e", "i", "o", "u", "ai", "ei"};
static const char *const codas[] = {"", "n", "r", "l", "s", "m"};
enum { N_ONSET = 22, N_VOWEL = 7, N_CODA = 6 };
#define W2 ((uint64_t)(N_ONSET * N_VOWEL) * (N_ONSET * N_VOWEL) * N_CODA)
#define W3 (W2 * (N_ONSET * N_VOWEL))
#define W2C ((uint64_t)(N_ONSET * N_VOWEL) * (N_ONSET * N_VOWEL) * (N_CODA - 1))
#define GIVEN_POOL 2000u
#define FAMILY_POOL 30000u

static const char *const org_suffixes[] = {"Institute", "Industries",  "Associates", "Enterprises",
                                           "Alliance",  "Observatory", "Orchestra",  "Academy",
                                           "Union",     "Agency",      "Ensemble",   "Assembly"};
static const char *const work_nouns[] = {
    "Echo",    "Garden",  "Letter",   "River",    "Lantern",   "Harvest",  "Mirror",    "Voyage",
    "Winter",  "Crown",   "Orchard",  "Station",  "Promise",   "Shadow",   "Bridge",    "Archive",
    "Tide",    "Compass", "Meadow",   "Signal",   "Tower",     "Ember",    "Horizon",   "Ballad",
    "Island",  "Canvas",  "Legacy",   "Journey",  "Whisper",   "Frontier", "Covenant",  "Labyrinth",
    "Harbour", "Sonnet",  "Fortress", "Meridian", "Chronicle", "Requiem",  "Cathedral", "Almanac"};
enum { N_SUFFIX = 12, N_NOUN = 40 };

uint64_t w_hash(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Keyed bijection of [0, domain): Feistel network on the smallest even bit
 * width covering domain, cycle-walked back into range. */
uint64_t w_permute(uint64_t x, uint64_t domain, uint64_t key) {
    QY_ASSERT(x < domain);
    int bits = 2;
    while (bits < 64 && (1ull << bits) < domain) bits += 2;
    int half = bits / 2;
    uint64_t mask = (1ull << half) - 1;
    do {
        uint64_t l = x >> half, r = x & mask;
        for (int round = 0; round < 4; round++) {
            uint64_t nl = r, nr = (l ^ w_hash(key + (uint64_t)round, r)) & mask;
            l = nl;
            r = nr;
        }
        x = (l << half) | r;
    } while (x >= domain);
    return x;
}

/* nsyll syllables and a coda; with `coda_required` the coda is never empty
 * (then idx < W2C for two syllables) */
static size_t put_word(char *out, size_t cap, uint64_t idx, int nsyll, int coda_required) {
    size_t len = 0;
    for (int s = 0; s < nsyll; s++) {
        const char *on = onsets[idx % N_ONSET];
        idx /= N_ONSET;
        const char *vo = vowels[idx % N_VOWEL];
        idx /= N_VOWEL;
        size_t a = strlen(on), b = strlen(vo);
        if (len + a + b + 1 < cap) {
            memcpy(out + len, on, a);
            memcpy(out + len + a, vo, b);
            len += a + b;
        }
    }
    const char *co = coda_required ? codas[1 + idx % (N_CODA - 1)] : codas[idx % N_CODA];
    size_t c = strlen(co);
    if (len + c + 1 < cap) {
        memcpy(out + len, co, c);
        len += c;
    }
    out[len] = '\0';
    if (len) out[0] = (char)(out[0] - 'a' + 'A');
    return len;
}

int w_names_check_capacity(const size_t count[QY_WORLD_NTYPES]) {
    if ((uint64_t)count[QY_WORLD_PERSON] > (uint64_t)GIVEN_POOL * FAMILY_POOL ||
        (uint64_t)count[QY_WORLD_CITY] > W3 - FAMILY_POOL || (uint64_t)count[QY_WORLD_COUNTRY] > W2C ||
        (uint64_t)count[QY_WORLD_ORG] > W2 * N_SUFFIX || (uint64_t)count[QY_WORLD_WORK] > W2 * N_NOUN)
        return qy_error(QY_ERR_RANGE, "world: too many entities for the name spaces");
    return QY_OK;
}

void w_make_name(uint64_t seed, int type, size_t k, char *out, size_t cap) {
    uint64_t kg = w_hash(seed, 0x61), kf = w_hash(seed, 0x62), kt = w_hash(seed, 0x63 + (uint64_t)type);
    char a[24], b[24];
    switch (type) {
    case QY_WORLD_PERSON: {
        uint64_t p = w_permute(k, (uint64_t)GIVEN_POOL * FAMILY_POOL, kt);
        put_word(a, sizeof a, w_permute(p % GIVEN_POOL, W2, kg), 2, 0);
        put_word(b, sizeof b, w_permute(p / GIVEN_POOL, W3, kf), 3, 0);
        snprintf(out, cap, "%s %s", a, b);
        break;
    }
    case QY_WORLD_CITY:
        put_word(a, sizeof a, w_permute(FAMILY_POOL + w_permute(k, W3 - FAMILY_POOL, kt), W3, kf), 3, 0);
        snprintf(out, cap, "%s", a);
        break;
    case QY_WORLD_COUNTRY:
        put_word(a, sizeof a, w_permute(k, W2C, kt), 2, 1); /* "Hatin" + "ia": ends in a consonant */
        snprintf(out, cap, "%sia", a);
        break;
    case QY_WORLD_ORG: {
        uint64_t p = w_permute(k, W2 * N_SUFFIX, kt);
        put_word(a, sizeof a, p % W2, 2, 0);
        snprintf(out, cap, "%s %s", a, org_suffixes[p / W2]);
        break;
    }
    default: {
        uint64_t p = w_permute(k, W2 * N_NOUN, kt);
        put_word(a, sizeof a, p % W2, 2, 0);
        snprintf(out, cap, "The %s %s", a, work_nouns[p / W2]);
        break;
    }
    }
}
