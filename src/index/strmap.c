/* strmap.c — linear-probing string map (see strmap.h). */
#include "index/strmap.h"

#include <string.h>
#include <xxhash.h>

static uint64_t hash_key(const char *k, size_t len) {
    uint64_t h = XXH3_64bits(k, len);
    return h ? h : 1;
}

void qy_strmap_init(qy_strmap *m, size_t chunk) {
    memset(m, 0, sizeof *m);
    qy_arena_init(&m->arena, chunk ? chunk : (size_t)1 << 20);
}

void qy_strmap_free(qy_strmap *m) {
    qy_free(m->hashes);
    qy_free(m->vals);
    qy_free(m->keys);
    qy_free(m->lens);
    qy_arena_free(&m->arena);
    memset(m, 0, sizeof *m);
}

void qy_strmap_clear(qy_strmap *m) {
    if (m->cap) memset(m->hashes, 0, m->cap * sizeof *m->hashes);
    m->n = 0;
    qy_arena_reset(&m->arena);
}

static size_t find_slot(const qy_strmap *m, uint64_t h, const char *key, size_t len, int *found) {
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    for (;;) {
        if (m->hashes[i] == 0) {
            *found = 0;
            return i;
        }
        if (m->hashes[i] == h && m->lens[i] == len && memcmp(m->keys[i], key, len) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

uint32_t *qy_strmap_get(const qy_strmap *m, const char *key, size_t len) {
    if (!m->cap) return NULL;
    int found;
    size_t i = find_slot(m, hash_key(key, len), key, len, &found);
    return found ? &m->vals[i] : NULL;
}

static int rehash(qy_strmap *m, size_t ncap) {
    uint64_t *h = qy_calloc(ncap, sizeof *h);
    uint32_t *v = qy_mallocn(ncap, sizeof *v);
    const char **k = qy_mallocn(ncap, sizeof *k);
    uint32_t *l = qy_mallocn(ncap, sizeof *l);
    if (!h || !v || !k || !l) {
        qy_free(h);
        qy_free(v);
        qy_free(k);
        qy_free(l);
        return QY_ERR_NOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->hashes[i]) continue;
        size_t j = (size_t)m->hashes[i] & (ncap - 1);
        while (h[j]) j = (j + 1) & (ncap - 1);
        h[j] = m->hashes[i];
        v[j] = m->vals[i];
        k[j] = m->keys[i];
        l[j] = m->lens[i];
    }
    qy_free(m->hashes);
    qy_free(m->vals);
    qy_free(m->keys);
    qy_free(m->lens);
    m->hashes = h;
    m->vals = v;
    m->keys = k;
    m->lens = l;
    m->cap = ncap;
    return QY_OK;
}

int qy_strmap_put(qy_strmap *m, const char *key, size_t len, uint32_t val, uint32_t **slot, int *added) {
    if ((m->n + 1) * 2 > m->cap && rehash(m, m->cap ? m->cap * 2 : 1024)) return QY_ERR_NOMEM;
    uint64_t h = hash_key(key, len);
    int found;
    size_t i = find_slot(m, h, key, len, &found);
    if (!found) {
        char *k = qy_arena_alloc(&m->arena, len + 1, 1);
        if (!k) return QY_ERR_NOMEM;
        memcpy(k, key, len);
        k[len] = '\0';
        m->hashes[i] = h;
        m->keys[i] = k;
        m->lens[i] = (uint32_t)len;
        m->vals[i] = val;
        m->n++;
    }
    if (slot) *slot = &m->vals[i];
    if (added) *added = !found;
    return QY_OK;
}

size_t qy_strmap_bytes(const qy_strmap *m) { return m->cap * 24 + m->arena.reserved; }
