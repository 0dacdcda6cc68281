/* pool.c — a fixed thread pool with deterministic range splitting.
 *
 * qy_pool_for cuts [0, n) into ranges of max(grain, ceil(n / QY_MAX_RANGES))
 * items. The cut depends only on n and grain, never on the thread count or on
 * timing; threads (the caller included) take ranges from an atomic counter. A
 * kernel whose ranges write disjoint outputs, or per-range partial results that
 * are combined in range order, gives the same bits at any thread count. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quarry/base.h"

#define QY_MAX_RANGES 256

struct qy_pool {
    int nthreads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv_work;
    pthread_cond_t cv_done;
    uint64_t generation;
    int stop;
    int busy_workers;
    /* current job */
    qy_range_fn fn;
    void *ctx;
    size_t n, chunk, nchunks;
    _Atomic size_t next;
};

static _Thread_local int in_pool_job;

int qy_threads_default(void) {
    const char *env = getenv("QUARRY_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1 && v <= 1024) return (int)v;
        qy_warn("QUARRY_THREADS=%s is not a number in 1..1024; using the CPU count", env);
    }
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c >= 1 ? (int)(c > 1024 ? 1024 : c) : 1;
}

static void run_chunks(qy_pool *p, int tid) {
    for (;;) {
        size_t c = atomic_fetch_add(&p->next, 1);
        if (c >= p->nchunks) break;
        size_t b = c * p->chunk;
        size_t e = b + p->chunk < p->n ? b + p->chunk : p->n;
        p->fn(p->ctx, b, e, tid);
    }
}

typedef struct worker_arg {
    qy_pool *pool;
    int tid;
} worker_arg;

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    qy_pool *p = wa->pool;
    int tid = wa->tid;
    free(wa);
    uint64_t seen = 0;
    in_pool_job = 1;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->cv_work, &p->mu);
        if (p->stop) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        run_chunks(p, tid);
        pthread_mutex_lock(&p->mu);
        if (--p->busy_workers == 0) pthread_cond_signal(&p->cv_done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int qy_pool_new(int nthreads, qy_pool **out) {
    *out = NULL;
    if (nthreads <= 0) nthreads = qy_threads_default();
    if (nthreads > 1024) return qy_error(QY_ERR_ARG, "thread pool: %d threads is more than 1024", nthreads);
    qy_pool *p = qy_calloc(1, sizeof *p);
    if (!p) return QY_ERR_NOMEM;
    p->nthreads = nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    if (nthreads > 1) {
        p->threads = qy_calloc((size_t)nthreads - 1, sizeof *p->threads);
        if (!p->threads) {
            p->nthreads = 1;
            qy_pool_free(p);
            return QY_ERR_NOMEM;
        }
        for (int i = 1; i < nthreads; i++) {
            /* plain malloc: the worker frees it, and a count mismatch in tests
             * that inspect qy_alloc stats concurrently would be misleading */
            worker_arg *wa = malloc(sizeof *wa);
            if (!wa) {
                p->nthreads = i;
                qy_pool_free(p);
                return qy_error(QY_ERR_NOMEM, "thread pool: out of memory");
            }
            wa->pool = p;
            wa->tid = i;
            if (pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0) {
                free(wa);
                p->nthreads = i;
                qy_pool_free(p);
                return qy_error(QY_ERR_IO, "thread pool: cannot start thread %d of %d", i + 1, nthreads);
            }
        }
    }
    *out = p;
    return QY_OK;
}

void qy_pool_free(qy_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->nthreads; i++) pthread_join(p->threads[i - 1], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    qy_free(p->threads);
    qy_free(p);
}

int qy_pool_threads(const qy_pool *p) { return p ? p->nthreads : 1; }

void qy_pool_for(qy_pool *p, size_t n, size_t grain, qy_range_fn fn, void *ctx) {
    if (n == 0) return;
    if (grain == 0) grain = 1;
    size_t chunk = (n + QY_MAX_RANGES - 1) / QY_MAX_RANGES;
    if (chunk < grain) chunk = grain;
    size_t nchunks = (n + chunk - 1) / chunk;
    if (!p || p->nthreads == 1 || nchunks == 1 || in_pool_job) {
        /* inline, same ranges as the threaded path */
        for (size_t c = 0; c < nchunks; c++) {
            size_t b = c * chunk;
            size_t e = b + chunk < n ? b + chunk : n;
            fn(ctx, b, e, 0);
        }
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->chunk = chunk;
    p->nchunks = nchunks;
    atomic_store(&p->next, 0);
    p->busy_workers = p->nthreads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    in_pool_job = 1;
    run_chunks(p, 0);
    in_pool_job = 0;
    pthread_mutex_lock(&p->mu);
    while (p->busy_workers > 0) pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
