/* Thread pool (coverage, determinism, thread count) and the RNG. */
#include <math.h>
#include <stdatomic.h>
#include <unistd.h>

#include "qy_test.h"

typedef struct cover_ctx {
    unsigned char *hit;
    double *x;
    double partial[256];
    size_t first_chunk;
} cover_ctx;

static void mark(void *v, size_t b, size_t e, int tid) {
    cover_ctx *c = v;
    for (size_t i = b; i < e; i++) c->hit[i]++;
}

static void test_ranges_cover_exactly_once(void **state) {
    size_t sizes[] = {1, 2, 3, 255, 256, 257, 1000, 100003};
    for (int threads = 1; threads <= 4; threads++) {
        qy_pool *p;
        assert_int_equal(qy_pool_new(threads, &p), QY_OK);
        assert_int_equal(qy_pool_threads(p), threads);
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            cover_ctx c = {.hit = qy_calloc(sizes[k], 1)};
            qy_pool_for(p, sizes[k], 1, mark, &c);
            for (size_t i = 0; i < sizes[k]; i++) assert_int_equal(c.hit[i], 1);
            qy_free(c.hit);
        }
        qy_pool_free(p);
    }
    qy_pool_for(NULL, 10, 3, mark, &(cover_ctx){.hit = (unsigned char[10]){0}});
    qy_pool_free(NULL);
}

/* a stream of many small jobs (the decoding pattern: workers spin between
 * them), with sleeps in between so that workers also go to sleep and wake:
 * every range runs exactly once, and a job issued from inside a job runs inline */
typedef struct stream_ctx {
    _Atomic unsigned long hits;
    qy_pool *pool;
    int nested;
} stream_ctx;

static void count_range(void *v, size_t b, size_t e, int tid) {
    stream_ctx *c = v;
    assert_true(tid >= 0 && tid < qy_pool_threads(c->pool));
    atomic_fetch_add(&c->hits, (unsigned long)(e - b));
    if (c->nested && b == 0) {
        stream_ctx inner = {.pool = c->pool};
        qy_pool_for(c->pool, 37, 1, count_range, &inner); /* inline: same ranges */
        assert_int_equal(atomic_load(&inner.hits), 37);
    }
}

static void test_many_small_jobs(void **state) {
    for (int threads = 2; threads <= 4; threads += 2) {
        qy_pool *p;
        assert_int_equal(qy_pool_new(threads, &p), QY_OK);
        unsigned long want = 0;
        stream_ctx c = {.pool = p};
        for (int j = 0; j < 20000; j++) {
            size_t n = 1 + (size_t)(j * 7919) % 300;
            c.nested = j % 97 == 0;
            qy_pool_for(p, n, 1, count_range, &c);
            want += n;
            assert_int_equal(atomic_load(&c.hits), want);
            if (j % 5000 == 4999) usleep(300000); /* past the spin: workers sleep */
        }
        qy_pool_free(p);
    }
}

static void partial_sums(void *v, size_t b, size_t e, int tid) {
    cover_ctx *c = v;
    double s = 0;
    for (size_t i = b; i < e; i++) s += c->x[i] * c->x[i];
    c->partial[b / c->first_chunk] = s;
}

static double sum_with(int threads, double *x, size_t n) {
    qy_pool *p;
    assert_int_equal(qy_pool_new(threads, &p), QY_OK);
    cover_ctx c = {.x = x, .first_chunk = 1000};
    memset(c.partial, 0, sizeof c.partial);
    qy_pool_for(p, n, 1000, partial_sums, &c);
    qy_pool_free(p);
    double s = 0;
    for (int i = 0; i < 256; i++) s += c.partial[i];
    return s;
}

static void test_same_bits_at_any_thread_count(void **state) {
    size_t n = 200000;
    double *x = qy_mallocn(n, sizeof *x);
    qy_rng r;
    qy_rng_seed(&r, 1);
    for (size_t i = 0; i < n; i++) x[i] = qy_rng_normal(&r) * 1e3;
    double s1 = sum_with(1, x, n);
    for (int t = 2; t <= 5; t++) {
        double st = sum_with(t, x, n);
        assert_memory_equal(&s1, &st, sizeof s1);
    }
    qy_free(x);
}

static void test_threads_default_from_env(void **state) {
    setenv("QUARRY_THREADS", "3", 1);
    assert_int_equal(qy_threads_default(), 3);
    setenv("QUARRY_THREADS", "zero", 1);
    qy_log_set_level(QY_LOG_QUIET);
    assert_true(qy_threads_default() >= 1);
    qy_log_set_level(QY_LOG_INFO);
    unsetenv("QUARRY_THREADS");
    assert_true(qy_threads_default() >= 1);
    qy_pool *p;
    assert_int_equal(qy_pool_new(5000, &p), QY_ERR_ARG);
    assert_null(p);
}

static void test_pool_oom(void **state) {
    qy_pool *p = NULL;
    int st;
    QY_OOM_WALK(
        st, { st = qy_pool_new(3, &p); },
        {
            qy_pool_free(p);
            p = NULL;
        });
}

/* Reference values: xoshiro256** from state {1,2,3,4} (the published first
 * outputs 11520, 0, 1509978240, 1215971899390074240) and from seed 42 through
 * SplitMix64, computed by an independent Python implementation. */
static void test_rng_reference_values(void **state) {
    qy_rng r = {{1, 2, 3, 4}};
    assert_true(qy_rng_u64(&r) == 11520ull);
    assert_true(qy_rng_u64(&r) == 0ull);
    assert_true(qy_rng_u64(&r) == 1509978240ull);
    assert_true(qy_rng_u64(&r) == 1215971899390074240ull);
    qy_rng_seed(&r, 42);
    assert_true(qy_rng_u64(&r) == 0x15780b2e0c2ec716ull);
    assert_true(qy_rng_u64(&r) == 0x6104d9866d113a7eull);
    assert_true(qy_rng_u64(&r) == 0xae17533239e499a1ull);
    assert_true(qy_rng_u64(&r) == 0xecb8ad4703b360a1ull);
}

static void test_rng_split_is_deterministic_and_independent(void **state) {
    qy_rng r;
    qy_rng_seed(&r, 9);
    qy_rng before = r;
    qy_rng a = qy_rng_split(&r, 1), a2 = qy_rng_split(&r, 1), b = qy_rng_split(&r, 2);
    assert_memory_equal(&r, &before, sizeof r); /* parent not advanced */
    assert_memory_equal(&a, &a2, sizeof a);
    int same = 0;
    for (int i = 0; i < 64; i++) same += qy_rng_u64(&a) == qy_rng_u64(&b);
    assert_int_equal(same, 0);
}

static void test_rng_distributions(void **state) {
    qy_rng r;
    qy_rng_seed(&r, 123);
    int n = 200000;
    double sum = 0, sum2 = 0, fsum = 0;
    long counts[7] = {0};
    for (int i = 0; i < n; i++) {
        double z = qy_rng_normal(&r);
        sum += z;
        sum2 += z * z;
        float f = qy_rng_float(&r);
        assert_true(f >= 0.0f && f < 1.0f);
        fsum += f;
        uint64_t k = qy_rng_below(&r, 7);
        assert_true(k < 7);
        counts[k]++;
    }
    assert_true(fabs(sum / n) < 0.01);
    assert_true(fabs(sum2 / n - 1.0) < 0.02);
    assert_true(fabs(fsum / n - 0.5) < 0.005);
    for (int k = 0; k < 7; k++) assert_true(fabs((double)counts[k] / n - 1.0 / 7) < 0.005);
    assert_int_equal(qy_rng_below(&r, 1), 0);
    int perm[50];
    for (int i = 0; i < 50; i++) perm[i] = i;
    qy_rng_shuffle(&r, perm, 50, sizeof(int));
    int seen[50] = {0}, moved = 0;
    for (int i = 0; i < 50; i++) {
        seen[perm[i]]++;
        moved += perm[i] != i;
    }
    for (int i = 0; i < 50; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > 25);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges_cover_exactly_once),
        cmocka_unit_test(test_same_bits_at_any_thread_count),
        cmocka_unit_test(test_many_small_jobs),
        cmocka_unit_test(test_threads_default_from_env),
        cmocka_unit_test(test_pool_oom),
        cmocka_unit_test(test_rng_reference_values),
        cmocka_unit_test(test_rng_split_is_deterministic_and_independent),
        cmocka_unit_test(test_rng_distributions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
