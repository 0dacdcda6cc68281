/* The counting allocator, fault injection, arenas. */
#include "qy_test.h"

static void test_counts_bytes_and_blocks(void **state) {
    qy_alloc_stats a, b, c;
    qy_alloc_get_stats(&a);
    char *p = qy_malloc(1000);
    assert_non_null(p);
    qy_alloc_get_stats(&b);
    assert_int_equal(b.live_bytes - a.live_bytes, 1000);
    assert_int_equal(b.live_blocks - a.live_blocks, 1);
    assert_true(b.peak_bytes >= b.live_bytes);
    p = qy_realloc(p, 3000);
    assert_non_null(p);
    qy_alloc_get_stats(&c);
    assert_int_equal(c.live_bytes - a.live_bytes, 3000);
    qy_free(p);
    qy_alloc_get_stats(&c);
    assert_int_equal(c.live_bytes, a.live_bytes);
    assert_int_equal(c.live_blocks, a.live_blocks);
    qy_free(NULL);
}

static void test_realloc_keeps_contents(void **state) {
    unsigned char *p = qy_malloc(16);
    for (int i = 0; i < 16; i++) p[i] = (unsigned char)i;
    p = qy_realloc(p, 1 << 16);
    for (int i = 0; i < 16; i++) assert_int_equal(p[i], i);
    p = qy_realloc(p, 4);
    for (int i = 0; i < 4; i++) assert_int_equal(p[i], i);
    qy_free(p);
}

static void test_overflow_is_refused(void **state) {
    assert_null(qy_mallocn(SIZE_MAX / 2, 3));
    assert_non_null(strstr(qy_errmsg(), "overflows"));
    assert_null(qy_calloc(SIZE_MAX, SIZE_MAX));
    assert_null(qy_malloc(SIZE_MAX - 8));
    size_t out;
    assert_int_equal(qy_size_mul(SIZE_MAX, 2, &out), QY_ERR_RANGE);
    assert_int_equal(qy_size_mul(1 << 20, 1 << 20, &out), QY_OK);
    assert_int_equal(out, (size_t)1 << 40);
    assert_int_equal(qy_size_add(SIZE_MAX, 1, &out), QY_ERR_RANGE);
}

static void test_aligned(void **state) {
    for (int i = 1; i < 100; i += 7) {
        void *p = qy_malloc_aligned((size_t)i * 13);
        assert_int_equal((uintptr_t)p % 64, 0);
        qy_free(p);
    }
    void *q = qy_malloc(24);
    assert_int_equal((uintptr_t)q % 16, 0);
    qy_free(q);
}

static void test_fault_injection_fails_nth(void **state) {
    qy_alloc_fail_after(2, 0);
    void *a = qy_malloc(8), *b = qy_malloc(8), *c = qy_malloc(8), *d = qy_malloc(8);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_non_null(d); /* not sticky: only the third failed */
    assert_int_equal(qy_alloc_injected_failures(), 1);
    assert_non_null(strstr(qy_errmsg(), "injected"));
    qy_alloc_fail_after(0, 1);
    assert_null(qy_malloc(1));
    assert_null(qy_strdup("x"));
    assert_null(qy_calloc(1, 1));
    qy_alloc_fail_after(-1, 0);
    assert_int_equal(qy_alloc_injected_failures(), 0);
    void *e = qy_malloc(1);
    assert_non_null(e);
    qy_free(a);
    qy_free(b);
    qy_free(d);
    qy_free(e);
}

static void test_strdup(void **state) {
    char *s = qy_strdup("hello");
    assert_string_equal(s, "hello");
    char *t = qy_strndup("hello", 3);
    assert_string_equal(t, "hel");
    qy_free(s);
    qy_free(t);
}

static void test_arena_alignment_and_growth(void **state) {
    uint64_t before = qy_test_live_blocks();
    qy_arena a;
    qy_arena_init(&a, 1024);
    for (int i = 0; i < 200; i++) {
        size_t align = (size_t)1 << (i % 8);
        char *p = qy_arena_alloc(&a, (size_t)(i % 50) + 1, align);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % align, 0);
        memset(p, 0xab, (size_t)(i % 50) + 1);
    }
    char *big = qy_arena_alloc(&a, 10000, 64); /* larger than a chunk */
    assert_non_null(big);
    memset(big, 1, 10000);
    int *z = qy_arena_calloc(&a, 100, sizeof(int), 4);
    for (int i = 0; i < 100; i++) assert_int_equal(z[i], 0);
    char *s = qy_arena_strdup(&a, "arena");
    assert_string_equal(s, "arena");
    assert_true(a.used >= 10000);
    qy_arena_reset(&a);
    assert_int_equal(a.used, 0);
    assert_non_null(qy_arena_alloc(&a, 100, 8));
    qy_arena_free(&a);
    assert_int_equal(qy_test_live_blocks(), before);
    assert_null(qy_arena_calloc(&a, SIZE_MAX, 2, 8));
    qy_arena_free(&a);
}

static void test_arena_oom(void **state) {
    qy_arena a;
    qy_arena_init(&a, 256);
    int st = QY_OK;
    QY_OOM_WALK(
        st,
        {
            qy_arena_init(&a, 256);
            st = QY_OK;
            for (int i = 0; i < 20 && !st; i++)
                if (!qy_arena_alloc(&a, 100, 16)) st = QY_ERR_NOMEM;
            if (st) qy_arena_free(&a);
        },
        { qy_arena_free(&a); });
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_bytes_and_blocks),    cmocka_unit_test(test_realloc_keeps_contents),
        cmocka_unit_test(test_overflow_is_refused),        cmocka_unit_test(test_aligned),
        cmocka_unit_test(test_fault_injection_fails_nth),  cmocka_unit_test(test_strdup),
        cmocka_unit_test(test_arena_alignment_and_growth), cmocka_unit_test(test_arena_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
