/* alloc.c — the counting allocator with fault injection.
 *
 * Every block carries a 64-byte header in front of the user pointer holding its
 * size and the offset back to the malloc'd start, so qy_free can count bytes and
 * aligned blocks free the same way. Counters are atomics; fault injection uses a
 * countdown armed by qy_alloc_fail_after() (tests are single-threaded when they
 * use it, but the countdown is atomic anyway). */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quarry/base.h"

#define HDR 64u
#define MAGIC 0x51594d454dull /* "QYMEM" */

typedef struct block_header {
    uint64_t magic;
    uint64_t size;   /* user bytes */
    uint64_t offset; /* bytes from malloc'd start to the user pointer */
} block_header;

static _Atomic uint64_t live_bytes, peak_bytes, live_blocks, total_allocs;
static _Atomic long fail_countdown = -1; /* <0: off */
static _Atomic int fail_sticky;
static _Atomic long injected;

int qy_size_mul(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return QY_ERR_RANGE;
    *out = a * b;
    return QY_OK;
}

int qy_size_add(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return QY_ERR_RANGE;
    *out = a + b;
    return QY_OK;
}

void qy_alloc_fail_after(long n, int sticky) {
    atomic_store(&injected, 0);
    atomic_store(&fail_sticky, sticky);
    atomic_store(&fail_countdown, n < 0 ? -1 : n);
}

long qy_alloc_injected_failures(void) { return atomic_load(&injected); }

/* 1 if this allocation must fail by injection. */
static int inject_now(void) {
    long c = atomic_load(&fail_countdown);
    if (c < 0) return 0;
    for (;;) {
        if (c == 0) {
            if (!atomic_load(&fail_sticky)) atomic_store(&fail_countdown, -1);
            atomic_fetch_add(&injected, 1);
            return 1;
        }
        if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1)) return 0;
        if (c < 0) return 0;
    }
}

static void count_alloc(size_t size) {
    uint64_t now = atomic_fetch_add(&live_bytes, size) + size;
    uint64_t peak = atomic_load(&peak_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now)) {}
    atomic_fetch_add(&live_blocks, 1);
    atomic_fetch_add(&total_allocs, 1);
}

static void *alloc_aligned_internal(size_t size, size_t align) {
    if (inject_now()) {
        qy_error(QY_ERR_NOMEM, "out of memory (injected failure allocating %zu bytes)", size);
        return NULL;
    }
    size_t total;
    if (qy_size_add(size, HDR + align, &total) != QY_OK) {
        qy_error(QY_ERR_NOMEM, "out of memory: allocation of %zu bytes overflows", size);
        return NULL;
    }
    uint8_t *raw = malloc(total);
    if (!raw) {
        qy_error(QY_ERR_NOMEM, "out of memory allocating %zu bytes", size);
        return NULL;
    }
    uintptr_t user = (uintptr_t)raw + HDR;
    if (align > 1) user = (user + align - 1) & ~(uintptr_t)(align - 1);
    block_header *h = (block_header *)(user - sizeof(block_header));
    h->magic = MAGIC;
    h->size = size;
    h->offset = (uint64_t)(user - (uintptr_t)raw);
    count_alloc(size);
    return (void *)user;
}

void *qy_malloc(size_t size) { return alloc_aligned_internal(size, 16); }

void *qy_malloc_aligned(size_t size) { return alloc_aligned_internal(size, 64); }

void *qy_mallocn(size_t n, size_t size) {
    size_t total;
    if (qy_size_mul(n, size, &total) != QY_OK) {
        qy_error(QY_ERR_NOMEM, "out of memory: %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    return qy_malloc(total);
}

void *qy_calloc(size_t n, size_t size) {
    void *p = qy_mallocn(n, size);
    if (p) memset(p, 0, n * size);
    return p;
}

static block_header *header_of(void *p) {
    block_header *h = (block_header *)((uint8_t *)p - sizeof(block_header));
    QY_ASSERT(h->magic == MAGIC);
    return h;
}

void qy_free(void *p) {
    if (!p) return;
    block_header *h = header_of(p);
    atomic_fetch_sub(&live_bytes, h->size);
    atomic_fetch_sub(&live_blocks, 1);
    h->magic = 0;
    free((uint8_t *)p - h->offset);
}

void *qy_realloc(void *p, size_t size) {
    if (!p) return qy_malloc(size);
    block_header *h = header_of(p);
    size_t old = h->size;
    void *q = qy_malloc(size);
    if (!q) return NULL; /* p stays valid, as with realloc */
    memcpy(q, p, old < size ? old : size);
    qy_free(p);
    return q;
}

void *qy_reallocn(void *p, size_t n, size_t size) {
    size_t total;
    if (qy_size_mul(n, size, &total) != QY_OK) {
        qy_error(QY_ERR_NOMEM, "out of memory: %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    return qy_realloc(p, total);
}

char *qy_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = qy_malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *qy_strdup(const char *s) { return qy_strndup(s, SIZE_MAX); }

void qy_alloc_get_stats(qy_alloc_stats *out) {
    out->live_bytes = atomic_load(&live_bytes);
    out->peak_bytes = atomic_load(&peak_bytes);
    out->live_blocks = atomic_load(&live_blocks);
    out->total_allocs = atomic_load(&total_allocs);
}

void qy_alloc_reset_peak(void) { atomic_store(&peak_bytes, atomic_load(&live_bytes)); }
