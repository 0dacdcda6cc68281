/* arena.c — bump allocation over a list of chunks, freed all at once. */
#include <string.h>

#include "quarry/base.h"

struct qy_arena_chunk {
    qy_arena_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    /* data follows, 64-byte aligned */
};

#define CHUNK_HDR 64u

void qy_arena_init(qy_arena *a, size_t chunk_size) {
    memset(a, 0, sizeof *a);
    a->chunk_size = chunk_size ? chunk_size : (size_t)1 << 20;
}

static uint8_t *chunk_data(qy_arena_chunk *c) { return (uint8_t *)c + CHUNK_HDR; }

void *qy_arena_alloc(qy_arena *a, size_t size, size_t align) {
    if (align == 0) align = 1;
    QY_ASSERT((align & (align - 1)) == 0 && align <= 4096);
    qy_arena_chunk *c = a->head;
    if (c) {
        uintptr_t base = (uintptr_t)chunk_data(c);
        uintptr_t p = (base + c->used + align - 1) & ~(uintptr_t)(align - 1);
        size_t off = (size_t)(p - base);
        if (off <= c->size && size <= c->size - off) {
            c->used = off + size;
            a->used += size;
            return (void *)p;
        }
    }
    size_t need;
    if (qy_size_add(size, align, &need) != QY_OK) {
        qy_error(QY_ERR_NOMEM, "arena: allocation of %zu bytes overflows", size);
        return NULL;
    }
    size_t csize = need > a->chunk_size ? need : a->chunk_size;
    size_t total;
    if (qy_size_add(csize, CHUNK_HDR, &total) != QY_OK) {
        qy_error(QY_ERR_NOMEM, "arena: allocation of %zu bytes overflows", size);
        return NULL;
    }
    qy_arena_chunk *n = qy_malloc_aligned(total);
    if (!n) return NULL;
    n->size = csize;
    n->used = 0;
    n->next = a->head;
    a->head = n;
    a->reserved += csize;
    uintptr_t base = (uintptr_t)chunk_data(n);
    uintptr_t p = (base + align - 1) & ~(uintptr_t)(align - 1);
    n->used = (size_t)(p - base) + size;
    a->used += size;
    return (void *)p;
}

void *qy_arena_calloc(qy_arena *a, size_t n, size_t size, size_t align) {
    size_t total;
    if (qy_size_mul(n, size, &total) != QY_OK) {
        qy_error(QY_ERR_NOMEM, "arena: %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    void *p = qy_arena_alloc(a, total, align);
    if (p) memset(p, 0, total);
    return p;
}

char *qy_arena_strdup(qy_arena *a, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = qy_arena_alloc(a, n, 1);
    if (d) memcpy(d, s, n);
    return d;
}

void qy_arena_reset(qy_arena *a) {
    if (!a->head) return;
    /* keep the oldest chunk (usually the standard size), free the rest */
    qy_arena_chunk *c = a->head, *keep = NULL;
    while (c) {
        qy_arena_chunk *next = c->next;
        if (!next) {
            keep = c;
        } else {
            qy_free(c);
        }
        c = next;
    }
    keep->used = 0;
    keep->next = NULL;
    a->head = keep;
    a->used = 0;
    a->reserved = keep->size;
}

void qy_arena_free(qy_arena *a) {
    qy_arena_chunk *c = a->head;
    while (c) {
        qy_arena_chunk *next = c->next;
        qy_free(c);
        c = next;
    }
    a->head = NULL;
    a->used = a->reserved = 0;
}
