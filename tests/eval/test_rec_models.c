/* test_rec_models.c — the baselines and their checkpoints: ItemKNN's cosine by
 * hand on the tiny sample, BPR-MF reproducibility and learning, save/load
 * round trips, damaged and mismatched checkpoints, out-of-memory paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <math.h>

#include "eval/rec_models.h"
#include "eval/recbole.h"
#include "quarry/base.h"
#include "quarry/rec.h"

static qy_rec_data *tiny(long min_user) {
    char dir[1100];
    const char *s = getenv("QUARRY_SOURCE_DIR");
    snprintf(dir, sizeof dir, "%s/tests/data/rec_tiny", s ? s : "..");
    qy_rec_data_opts o = qy_rec_data_opts_default();
    o.min_user_inter = min_user;
    qy_rec_data *d;
    assert_int_equal(qy_rec_load_dir(dir, &o, &d), QY_OK);
    qy_rec_split_opts so = {.kind = QY_SPLIT_LOO};
    assert_int_equal(qy_rec_data_split(d, &so), QY_OK);
    return d;
}

static float *score_all(const qy_rec_model *m, const qy_rec_data *d, qy_pool *pool) {
    size_t n = d->n_users - 1;
    qy_rec_query *q = calloc(n, sizeof *q);
    for (size_t i = 0; i < n; i++) {
        q[i].user = (uint32_t)i + 1;
        qy_rec_user_history(d, q[i].user, QY_PHASE_TEST, &q[i].history, &q[i].n_history);
    }
    float *s = malloc(n * d->n_items * sizeof *s);
    assert_int_equal(qy_rec_model_score(m, q, n, s, pool), QY_OK);
    free(q);
    return s;
}

static void test_itemknn_by_hand(void **state) {
    qy_rec_data *d = tiny(0);
    qy_rec_model *m;
    assert_int_equal(qy_rec_model_new("itemknn", NULL, &m), QY_OK);
    assert_int_equal(qy_rec_model_fit(m, d, NULL, NULL, NULL), QY_OK);
    /* train: u1 {a,b} u2 {a,b} u3 {e,a,b} u4 {b,g} u5 {h}; cos(a,b) = 3/(sqrt(3)*2 + 1e-6) */
    uint32_t u4 = qy_rec_user_id(d, "u4"), a = qy_rec_item_id(d, "a"), e = qy_rec_item_id(d, "e");
    const uint32_t hist[] = {qy_rec_item_id(d, "b"), qy_rec_item_id(d, "g")};
    qy_rec_query q = {u4, hist, 2};
    float *s = malloc(d->n_items * sizeof *s);
    assert_int_equal(qy_rec_model_score(m, &q, 1, s, NULL), QY_OK);
    assert_true(fabs(s[a] - 3 / (sqrt(3.0) * 2 + 1e-6)) < 1e-6);
    /* e: co-occurs with b once (u3): 1/(1*2 + 1e-6) */
    assert_true(fabs(s[e] - 1 / (2 + 1e-6)) < 1e-6);
    assert_true(s[qy_rec_item_id(d, "h")] == 0);
    free(s);
    qy_rec_model_free(m);
    /* k = 1 keeps a's single best neighbour b only */
    qy_rec_params p = qy_rec_params_default();
    p.knn = 1;
    assert_int_equal(qy_rec_model_new("itemknn", &p, &m), QY_OK);
    assert_int_equal(qy_rec_model_fit(m, d, NULL, NULL, NULL), QY_OK);
    const uint32_t only_e[] = {e};
    q.history = only_e;
    q.n_history = 1;
    s = malloc(d->n_items * sizeof *s);
    assert_int_equal(qy_rec_model_score(m, &q, 1, s, NULL), QY_OK);
    assert_true(s[a] == 0); /* a's kept neighbour is b, not e */
    free(s);
    qy_rec_model_free(m);
    qy_rec_data_free(d);
}

static int count_epochs(void *ctx, int epoch, double loss, double seconds) {
    double *losses = ctx;
    losses[epoch - 1] = loss;
    return 0;
}

static void test_bpr_learns_and_reproduces(void **state) {
    qy_rec_data *d = tiny(0);
    qy_rec_params p = qy_rec_params_default();
    p.epochs = 30;
    p.lr = 0.05;
    p.dim = 8;
    qy_rec_model *m1, *m2;
    double l1[30], l2[30];
    qy_pool *pool;
    assert_int_equal(qy_pool_new(3, &pool), QY_OK);
    assert_int_equal(qy_rec_model_new("bprmf", &p, &m1), QY_OK);
    assert_int_equal(qy_rec_model_new("bprmf", &p, &m2), QY_OK);
    assert_int_equal(qy_rec_model_fit(m1, d, NULL, count_epochs, l1), QY_OK);
    assert_int_equal(qy_rec_model_fit(m2, d, pool, count_epochs, l2), QY_OK);
    assert_true(l1[0] > 0.5 && l1[0] < 0.9); /* near -log(sigmoid(0)) = 0.693 at the start */
    assert_true(l1[29] < 0.05);              /* it learns (the tiny data is fitted) */
    assert_memory_equal(l1, l2, sizeof l1);  /* same seed: same bits, any thread count */
    float *s1 = score_all(m1, d, NULL), *s2 = score_all(m2, d, pool);
    assert_memory_equal(s1, s2, (d->n_users - 1) * d->n_items * sizeof *s1);
    free(s2);
    /* one more epoch changes it; another seed differs */
    double loss;
    assert_int_equal(qy_rec_model_train_epoch(m2, d, NULL, &loss), QY_OK);
    qy_rec_model_free(m2);
    p.seed = 99;
    assert_int_equal(qy_rec_model_new("bprmf", &p, &m2), QY_OK);
    assert_int_equal(qy_rec_model_fit(m2, d, NULL, count_epochs, l2), QY_OK);
    assert_memory_not_equal(l1, l2, sizeof l1);
    free(s1);
    qy_rec_model_free(m1);
    qy_rec_model_free(m2);
    qy_pool_free(pool);
    qy_rec_data_free(d);
}

static void test_checkpoints(void **state) {
    qy_rec_data *d = tiny(0);
    char path[] = "/tmp/quarry-ckpt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const char *names[] = {"pop", "itemknn", "bprmf"};
    for (int i = 0; i < 3; i++) {
        qy_rec_params p = qy_rec_params_default();
        p.epochs = 3;
        qy_rec_model *m, *back;
        assert_int_equal(qy_rec_model_new(names[i], &p, &m), QY_OK);
        assert_int_equal(qy_rec_model_save(m, path), QY_ERR_ARG); /* not fitted */
        double losses[3];
        assert_int_equal(qy_rec_model_fit(m, d, NULL, count_epochs, losses), QY_OK);
        assert_int_equal(qy_rec_model_save(m, path), QY_OK);
        assert_int_equal(qy_rec_model_load(path, d, &back), QY_OK);
        assert_string_equal(qy_rec_model_name(back), names[i]);
        float *a = score_all(m, d, NULL), *b = score_all(back, d, NULL);
        assert_memory_equal(a, b, (d->n_users - 1) * d->n_items * sizeof *a);
        free(a);
        free(b);
        qy_rec_model_free(back);
        qy_rec_model_free(m);
    }
    /* a flipped byte fails the checksum */
    char *text;
    size_t len;
    assert_int_equal(qy_read_file(path, 0, &text, &len), QY_OK);
    text[len / 2] ^= 1;
    assert_int_equal(qy_write_file_atomic(path, text, len), QY_OK);
    qy_rec_model *m = NULL;
    assert_int_equal(qy_rec_model_load(path, d, &m), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "checksum mismatch"));
    text[len / 2] ^= 1;
    memcpy(text, "NOTQUARRY", 8);
    assert_int_equal(qy_write_file_atomic(path, text, len), QY_OK);
    assert_int_equal(qy_rec_model_load(path, d, &m), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "bad magic"));
    qy_free(text);
    /* a checkpoint of another dataset is refused */
    qy_rec_data *d2 = tiny(2);
    assert_int_equal(qy_rec_model_new("pop", NULL, &m), QY_OK);
    assert_int_equal(qy_rec_model_fit(m, d2, NULL, NULL, NULL), QY_OK);
    assert_int_equal(qy_rec_model_save(m, path), QY_OK);
    qy_rec_model_free(m);
    assert_int_equal(qy_rec_model_load(path, d, &m), QY_ERR_ARG);
    assert_non_null(strstr(qy_errmsg(), "this dataset has"));
    qy_rec_data_free(d2);
    unlink(path);
    assert_int_equal(qy_rec_model_new("transformer", NULL, &m), QY_ERR_ARG);
    assert_non_null(strstr(qy_errmsg(), "known: pop, itemknn, bprmf"));
    qy_rec_data_free(d);
}

static void test_oom(void **state) {
    qy_rec_data *d = tiny(0);
    const char *names[] = {"pop", "itemknn", "bprmf"};
    qy_alloc_stats before, after;
    qy_alloc_get_stats(&before);
    for (int i = 0; i < 3; i++) {
        for (long n = 0;; n++) {
            qy_alloc_fail_after(n, 0);
            qy_rec_params p = qy_rec_params_default();
            p.epochs = 1;
            qy_rec_model *m = NULL;
            double loss[1];
            int st = qy_rec_model_new(names[i], &p, &m);
            if (!st) st = qy_rec_model_fit(m, d, NULL, count_epochs, loss);
            qy_rec_eval_result r;
            if (!st) st = qy_rec_evaluate(d, QY_PHASE_TEST, NULL, m, NULL, &r);
            long injected = qy_alloc_injected_failures();
            qy_alloc_fail_after(-1, 0);
            if (!st) qy_rec_eval_result_free(&r);
            qy_rec_model_free(m);
            if (!injected) {
                assert_int_equal(st, QY_OK);
                break;
            }
            assert_int_not_equal(st, QY_OK);
        }
    }
    qy_alloc_get_stats(&after);
    assert_int_equal(after.live_blocks, before.live_blocks);
    qy_rec_data_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_itemknn_by_hand),
        cmocka_unit_test(test_bpr_learns_and_reproduces),
        cmocka_unit_test(test_checkpoints),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
