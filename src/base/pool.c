/* pool.c — a fixed thread pool with deterministic range splitting.
 *
 * qy_pool_for cuts [0, n) into ranges of max(grain, ceil(n / QY_MAX_RANGES))
 * items. The cut depends only on n and grain, never on the thread count or on
 * timing; threads (the caller included) take ranges from an atomic counter. A
 * kernel whose ranges write disjoint outputs, or per-range partial results that
 * are combined in range order, gives the same bits at any thread count.
 *
 * Hand-off: a job is published in one atomic word, the ticket: the job's
 * generation in the high 32 bits, the next unclaimed range in the low 32. A
 * thread claims a range by compare-and-swap on the ticket, so a claim succeeds
 * only while its job is current, and the job's fields are read only after a
 * successful claim. Before the fields of a new job are written, the old ticket
 * is closed (range index 0xffffffff), so a claim cannot race with them. The caller waits until every range is
 * done, never for a worker that claimed nothing (a descheduled worker costs nothing). Idle workers spin on
 * the ticket for a short while (QY_SPIN_NS) before sleeping on a condition variable, so a stream of small
 * jobs (a decoding step is a few hundred) costs no futex wake-up per job; the seq_cst pair ticket/sleepers
 * makes sure that a worker that decided to sleep is woken. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quarry/base.h"

#define QY_MAX_RANGES 256
/* how long an idle worker (or a waiting caller) spins before it sleeps */
#define QY_SPIN_NS 100000

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

struct qy_pool {
    int nthreads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv_work;
    _Atomic uint64_t ticket; /* generation << 32 | next unclaimed range */
    _Atomic int stop;
    _Atomic int sleepers;   /* workers waiting (or about to wait) on cv_work */
    _Atomic size_t done;    /* ranges of the current job finished */
    _Atomic size_t nchunks; /* read before a claim, so atomic (relaxed) */
    /* current job: written before the ticket is published, read after a claim */
    qy_range_fn fn;
    void *ctx;
    size_t n, chunk;
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

/* claim and run ranges of job generation gen until none is left */
static void run_chunks(qy_pool *p, uint32_t gen, int tid) {
    uint64_t t = atomic_load(&p->ticket);
    for (;;) {
        if ((uint32_t)(t >> 32) != gen) return;
        size_t c = (size_t)(t & 0xffffffffu);
        if (c >= atomic_load_explicit(&p->nchunks, memory_order_relaxed)) return;
        if (!atomic_compare_exchange_weak(&p->ticket, &t, t + 1)) continue; /* t reloaded */
        size_t b = c * p->chunk;
        size_t e = b + p->chunk < p->n ? b + p->chunk : p->n;
        p->fn(p->ctx, b, e, tid);
        atomic_fetch_add(&p->done, 1);
        t = atomic_load(&p->ticket);
    }
}

typedef struct worker_arg {
    qy_pool *pool;
    int tid;
} worker_arg;

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t generation(qy_pool *p) { return (uint32_t)(atomic_load(&p->ticket) >> 32); }

/* one iteration of a bounded spin: pause, and every 64 iterations look at the
 * clock; 1 once QY_SPIN_NS have passed since the first look */
static int spin_step(unsigned i, uint64_t *t0) {
    cpu_relax();
    if ((i & 63) == 0) {
        uint64_t t = mono_ns();
        if (!*t0)
            *t0 = t;
        else if (t - *t0 > QY_SPIN_NS)
            return 1;
    }
    return 0;
}

/* spin until the generation differs from seen or stop is set, for up to
 * QY_SPIN_NS; 1 if it changed */
static int spin_for_job(qy_pool *p, uint32_t seen) {
    uint64_t t0 = 0;
    for (unsigned i = 1;; i++) {
        if (generation(p) != seen || atomic_load(&p->stop)) return 1;
        if (spin_step(i, &t0)) return 0;
    }
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    qy_pool *p = wa->pool;
    int tid = wa->tid;
    free(wa);
    uint32_t seen = 0;
    in_pool_job = 1;
    for (;;) {
        if (!spin_for_job(p, seen)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (!atomic_load(&p->stop) && generation(p) == seen) pthread_cond_wait(&p->cv_work, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) break;
        seen = generation(p);
        run_chunks(p, seen, tid);
    }
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
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->nthreads; i++) pthread_join(p->threads[i - 1], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
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
    /* every range of the previous job is done. Close its ticket before the fields
     * change: a worker that read the old ticket and the new nchunks must not be
     * able to claim a range (its compare-and-swap now fails) */
    uint32_t gen = generation(p) + 1;
    atomic_store(&p->ticket, ((uint64_t)(gen - 1) << 32) | 0xffffffffu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->chunk = chunk;
    atomic_store_explicit(&p->nchunks, nchunks, memory_order_relaxed);
    atomic_store(&p->done, 0);
    atomic_store(&p->ticket, (uint64_t)gen << 32); /* publishes the job (seq_cst) */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv_work);
        pthread_mutex_unlock(&p->mu);
    }
    in_pool_job = 1;
    run_chunks(p, gen, 0);
    in_pool_job = 0;
    /* what is left runs on workers that claimed it: spin, then yield */
    uint64_t t0 = 0;
    int spun = 0;
    for (unsigned i = 1; atomic_load(&p->done) < nchunks; i++) {
        if (spun)
            sched_yield();
        else
            spun = spin_step(i, &t0);
    }
}
