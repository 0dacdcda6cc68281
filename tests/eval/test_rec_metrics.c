/* test_rec_metrics.c — recommendation metrics: hand-checked lists, the tiny
 * dataset under Pop (full, unmasked, sampled), thread-count determinism, top-k,
 * and a comparison with RecBole's formulas in numpy (+ torch.topk) on random
 * scores with ties (tests/eval/rec_metrics_ref.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>

#include "eval/rec_metrics.h"
#include "eval/rec_models.h"
#include "eval/recbole.h"
#include "quarry/base.h"
#include "quarry/rec.h"

static char src_dir[1024];

static int setup(void **state) {
    const char *s = getenv("QUARRY_SOURCE_DIR");
    snprintf(src_dir, sizeof src_dir, "%s", s ? s : "..");
    return 0;
}

static void test_from_ranks(void **state) {
    double v[QY_METRIC_COUNT];
    uint32_t r1[] = {1};
    qy_rec_metrics_from_ranks(r1, 1, 1, 5, v);
    assert_true(v[QY_METRIC_HIT] == 1 && v[QY_METRIC_NDCG] == 1 && v[QY_METRIC_MRR] == 1 &&
                v[QY_METRIC_RECALL] == 1);
    assert_true(fabs(v[QY_METRIC_PRECISION] - 0.2) < 1e-15);
    uint32_t r3[] = {3};
    qy_rec_metrics_from_ranks(r3, 1, 1, 5, v);
    assert_true(fabs(v[QY_METRIC_NDCG] - 0.5) < 1e-15); /* 1/log2(4) */
    assert_true(fabs(v[QY_METRIC_MRR] - 1.0 / 3) < 1e-15);
    qy_rec_metrics_from_ranks(r3, 1, 1, 2, v); /* past the cut-off */
    for (int m = 0; m < QY_METRIC_COUNT; m++) assert_true(v[m] == 0);
    /* two of three positives at ranks 2 and 4 */
    uint32_t r24[] = {2, 4};
    qy_rec_metrics_from_ranks(r24, 2, 3, 5, v);
    double dcg = 1 / log2(3.0) + 1 / log2(5.0), idcg = 1 + 1 / log2(3.0) + 0.5;
    assert_true(fabs(v[QY_METRIC_NDCG] - dcg / idcg) < 1e-12);
    assert_true(fabs(v[QY_METRIC_RECALL] - 2.0 / 3) < 1e-15);
    assert_true(v[QY_METRIC_MRR] == 0.5 && v[QY_METRIC_HIT] == 1);
    assert_true(fabs(v[QY_METRIC_PRECISION] - 0.4) < 1e-15);
    /* more positives than k: IDCG stops at k (RecBole's idcg_len) */
    uint32_t r12[] = {1, 2};
    qy_rec_metrics_from_ranks(r12, 2, 5, 2, v);
    assert_true(fabs(v[QY_METRIC_NDCG] - 1) < 1e-15);
    /* rank 0 = a masked positive: a miss */
    uint32_t r0[] = {0};
    qy_rec_metrics_from_ranks(r0, 1, 1, 5, v);
    assert_true(v[QY_METRIC_HIT] == 0 && v[QY_METRIC_NDCG] == 0);
}

static void test_rank_and_topk(void **state) {
    float s[6] = {9, 0.5f, 0.7f, 0.5f, 0.9f, 0.5f};
    uint32_t cand[] = {1, 2, 3, 4, 5};
    assert_int_equal(qy_rec_rank_of(s, cand, 5, 4), 1);
    assert_int_equal(qy_rec_rank_of(s, cand, 5, 1), 3); /* 0.9, 0.7 above; ties 3, 5 have larger ids */
    assert_int_equal(qy_rec_rank_of(s, cand, 5, 5), 5);
    uint32_t it[6];
    float sc[6];
    const uint32_t ex_row[] = {2};
    const uint32_t *ex[] = {ex_row};
    size_t nex[] = {1};
    assert_int_equal(qy_rec_topk(s, 1, 6, 3, ex, nex, it, sc, NULL), QY_OK);
    assert_int_equal(it[0], 4);
    assert_int_equal(it[1], 1);
    assert_int_equal(it[2], 3);
    assert_int_equal(qy_rec_topk(s, 1, 6, 6, NULL, NULL, it, sc, NULL), QY_ERR_ARG);
    assert_int_equal(qy_rec_topk(s, 1, 6, 5, ex, nex, it, sc, NULL), QY_OK);
    assert_int_equal(it[4], 0); /* only 4 items left: padded */
    assert_true(isinf(sc[4]));
}

static qy_rec_data *tiny_split(void) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/tests/data/rec_tiny", src_dir);
    qy_rec_data *d;
    assert_int_equal(qy_rec_load_dir(dir, NULL, &d), QY_OK);
    qy_rec_split_opts so = {.kind = QY_SPLIT_LOO};
    assert_int_equal(qy_rec_data_split(d, &so), QY_OK);
    return d;
}

static void test_tiny_pop(void **state) {
    qy_rec_data *d = tiny_split();
    qy_rec_model *m;
    assert_int_equal(qy_rec_model_new("pop", NULL, &m), QY_OK);
    assert_int_equal(qy_rec_model_fit(m, d, NULL, NULL, NULL), QY_OK);
    qy_rec_eval_opts o = qy_rec_eval_opts_default();
    o.ks[0] = 1, o.ks[1] = 3, o.ks[2] = 5;
    qy_rec_eval_result r;
    assert_int_equal(qy_rec_evaluate(d, QY_PHASE_TEST, &o, m, NULL, &r), QY_OK);
    /* Pop counts on train: a 3, b 4, e 1, g 1, h 1. Test ranks (history masked):
       u1 d: e g h above, f ties with a larger id -> 4; u2 e -> 1; u3 c -> 3; u4 a -> 1 */
    assert_int_equal(r.n_users, 4);
    assert_true(fabs(r.mean[QY_METRIC_HIT][0] - 0.5) < 1e-12);
    assert_true(fabs(r.mean[QY_METRIC_HIT][1] - 0.75) < 1e-12);
    assert_true(fabs(r.mean[QY_METRIC_HIT][2] - 1.0) < 1e-12);
    double ndcg5 = (1 / log2(5.0) + 1 + 0.5 + 1) / 4, mrr5 = (0.25 + 1 + 1.0 / 3 + 1) / 4;
    assert_true(fabs(r.mean[QY_METRIC_NDCG][2] - ndcg5) < 1e-7);
    assert_true(fabs(r.mean[QY_METRIC_MRR][2] - mrr5) < 1e-7);
    /* top-1 lists: e, e, g, a over 10 item ids (padding counted as RecBole does) */
    assert_true(fabs(r.coverage[0] - 0.3) < 1e-12);
    qy_rec_eval_result_free(&r);
    /* without masking, u1's history a b c (counts 3 4 0) ranks above d: b a e g h, then c, d -> 7 */
    o.mask_history = 0;
    assert_int_equal(qy_rec_evaluate(d, QY_PHASE_TEST, &o, m, NULL, &r), QY_OK);
    assert_int_equal(r.users[0], 1);
    assert_true(r.per_user[QY_METRIC_HIT * 3 + 2] == 0); /* u1: hit@5 = 0 */
    qy_rec_eval_result_free(&r);
    /* sampled with more draws than items: every non-interacted item is drawn, so
       it equals the full protocol with the history masked */
    qy_rec_eval_opts full = o;
    full.mask_history = 1;
    o.protocol = QY_PROTOCOL_SAMPLED;
    o.n_neg = 1000;
    qy_rec_eval_result rf;
    assert_int_equal(qy_rec_evaluate(d, QY_PHASE_TEST, &o, m, NULL, &r), QY_OK);
    assert_int_equal(qy_rec_evaluate(d, QY_PHASE_TEST, &full, m, NULL, &rf), QY_OK);
    for (int mm = 0; mm < QY_METRIC_COUNT; mm++)
        for (int k = 0; k < 3; k++) assert_true(r.mean[mm][k] == rf.mean[mm][k]);
    qy_rec_eval_result_free(&r);
    qy_rec_eval_result_free(&rf);
    /* one negative: each user's target against one item; u4's a (3) always wins */
    o.n_neg = 1;
    assert_int_equal(qy_rec_evaluate(d, QY_PHASE_TEST, &o, m, NULL, &r), QY_OK);
    assert_true(r.per_user[3 * QY_METRIC_COUNT * 3 + QY_METRIC_HIT * 3 + 0] == 1);
    assert_true(r.mean[QY_METRIC_HIT][1] == 1); /* 2 candidates: hit@3 always */
    qy_rec_eval_result_free(&r);
    o.ks[0] = 0;
    assert_int_equal(qy_rec_evaluate(d, QY_PHASE_TEST, &o, m, NULL, &r), QY_ERR_ARG);
    qy_rec_model_free(m);
    qy_rec_data_free(d);
}

/* a model that returns a fixed score matrix (n_users x n_items) */
static int fixed_score(const qy_rec_model *m, const qy_rec_query *q, size_t n, float *scores, qy_pool *pool) {
    const float *s = m->state;
    for (size_t r = 0; r < n; r++)
        memcpy(scores + r * m->n_items, s + (size_t)q[r].user * m->n_items, m->n_items * sizeof(float));
    return QY_OK;
}
static const qy_rec_model_ops fixed_ops = {"fixed", 0,    NULL, NULL, fixed_score, NULL,
                                           NULL,    NULL, NULL, NULL, NULL};

/* a random dataset: 80 users, 400 items, 6..40 interactions, timestamps with ties */
static qy_rec_data *random_data(qy_rng *g, qy_split_kind kind) {
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text, cap, "user_id:token\titem_id:token\ttimestamp:float\n");
    for (int u = 0; u < 80; u++) {
        int n = 6 + (int)qy_rng_below(g, 35);
        for (int j = 0; j < n; j++)
            len += (size_t)snprintf(text + len, cap - len, "user%d\titem%d\t%d\n", u,
                                    (int)qy_rng_below(g, 400), (int)qy_rng_below(g, 20));
    }
    qy_rec_table *t;
    assert_int_equal(qy_rec_table_parse(text, len, "random.inter", &t), QY_OK);
    free(text);
    qy_rec_data *d;
    assert_int_equal(qy_rec_data_build(t, NULL, NULL, NULL, &d), QY_OK);
    qy_rec_table_free(t);
    qy_rec_split_opts so = {.kind = kind, .ratio = {0.6, 0.2, 0.2}};
    assert_int_equal(qy_rec_data_split(d, &so), QY_OK);
    return d;
}

static void compare_with_numpy(qy_split_kind kind, int mask, uint64_t seed) {
    qy_rng g;
    qy_rng_seed(&g, seed);
    qy_rec_data *d = random_data(&g, kind);
    size_t nu = d->n_users, ni = d->n_items;
    float *scores = malloc(nu * ni * sizeof *scores);
    for (size_t x = 0; x < nu * ni; x++) scores[x] = (float)qy_rng_below(&g, 64) / 16.0f; /* many ties */
    qy_rec_model m = {.ops = &fixed_ops, .n_users = (uint32_t)nu, .n_items = (uint32_t)ni, .state = scores};
    qy_rec_eval_opts o = qy_rec_eval_opts_default();
    o.mask_history = mask;
    qy_rec_eval_result r;
    qy_pool *pool;
    assert_int_equal(qy_pool_new(3, &pool), QY_OK);
    assert_int_equal(qy_rec_evaluate(d, QY_PHASE_TEST, &o, &m, pool, &r), QY_OK);
    qy_pool_free(pool);

    char dir[] = "/tmp/quarry-recmetrics-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/scores.f32", dir);
    FILE *f = fopen(path, "wb");
    assert_int_equal(fwrite(scores, sizeof *scores, nu * ni, f), nu * ni);
    fclose(f);
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    f = fopen(path, "w");
    fprintf(f, "%zu %zu 5 10 20 %d\n", nu, ni, mask);
    fclose(f);
    snprintf(path, sizeof path, "%s/queries.txt", dir);
    f = fopen(path, "w");
    for (size_t i = 0; i < r.n_users; i++) {
        const uint32_t *h, *t;
        size_t nh, nt;
        qy_rec_user_history(d, r.users[i], QY_PHASE_TEST, &h, &nh);
        qy_rec_user_targets(d, r.users[i], QY_PHASE_TEST, &t, &nt);
        fprintf(f, "%u\t", r.users[i]);
        for (size_t k = 0; k < nh; k++) fprintf(f, k ? " %u" : "%u", h[k]);
        fprintf(f, "\t");
        for (size_t k = 0; k < nt; k++) fprintf(f, k ? " %u" : "%u", t[k]);
        fprintf(f, "\n");
    }
    fclose(f);
    char cmd[2400], out[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/eval/rec_metrics_ref.py %s", src_dir, dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = '\0';
    int rc = pclose(p);
    const char *files[] = {"scores.f32", "meta.txt", "queries.txt"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    if (!strncmp(out, "SKIP", 4)) {
        qy_rec_eval_result_free(&r);
        qy_rec_data_free(d);
        free(scores);
        skip();
    }
    assert_int_equal(rc, 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    int checked = 0;
    for (int k = 0; k < r.n_ks; k++) {
        char key[48];
        for (int mm = 0; mm < QY_METRIC_COUNT; mm++) {
            snprintf(key, sizeof key, "%s@%d", qy_rec_metric_name((qy_rec_metric)mm), r.ks[k]);
            cJSON *v = cJSON_GetObjectItem(j, key);
            assert_non_null(v);
            /* per-user values are stored as float: 1e-6 */
            if (fabs(v->valuedouble - r.mean[mm][k]) > 1e-6)
                fail_msg("%s: quarry %.9f numpy %.9f", key, r.mean[mm][k], v->valuedouble);
            checked++;
        }
        snprintf(key, sizeof key, "itemcoverage@%d", r.ks[k]);
        cJSON *v = cJSON_GetObjectItem(j, key);
        assert_non_null(v);
        if (fabs(v->valuedouble - r.coverage[k]) > 1e-12)
            fail_msg("%s: quarry %.9f numpy %.9f", key, r.coverage[k], v->valuedouble);
    }
    assert_int_equal(checked, 15);
    cJSON_Delete(j);
    qy_rec_eval_result_free(&r);
    qy_rec_data_free(d);
    free(scores);
}

static void test_numpy_loo_masked(void **state) { compare_with_numpy(QY_SPLIT_LOO, 1, 1); }
static void test_numpy_loo_unmasked(void **state) { compare_with_numpy(QY_SPLIT_LOO, 0, 2); }
static void test_numpy_ratio(void **state) {
    compare_with_numpy(QY_SPLIT_RATIO_USER, 1, 3);
} /* several positives per user */

static void test_sampled_threads(void **state) {
    qy_rng g;
    qy_rng_seed(&g, 9);
    qy_rec_data *d = random_data(&g, QY_SPLIT_LOO);
    qy_rec_model *m;
    assert_int_equal(qy_rec_model_new("itemknn", NULL, &m), QY_OK);
    assert_int_equal(qy_rec_model_fit(m, d, NULL, NULL, NULL), QY_OK);
    qy_rec_eval_opts o = qy_rec_eval_opts_default();
    o.protocol = QY_PROTOCOL_SAMPLED;
    o.batch_users = 7;
    qy_rec_eval_result r1, r4;
    qy_pool *p4;
    assert_int_equal(qy_pool_new(4, &p4), QY_OK);
    assert_int_equal(qy_rec_evaluate(d, QY_PHASE_TEST, &o, m, NULL, &r1), QY_OK);
    assert_int_equal(qy_rec_evaluate(d, QY_PHASE_TEST, &o, m, p4, &r4), QY_OK);
    assert_int_equal(r1.n_users, r4.n_users);
    assert_memory_equal(r1.per_user, r4.per_user, r1.n_users * QY_METRIC_COUNT * 3 * sizeof(float));
    qy_rec_eval_result_free(&r4);
    /* another seed draws other negatives */
    o.seed = 7;
    assert_int_equal(qy_rec_evaluate(d, QY_PHASE_TEST, &o, m, p4, &r4), QY_OK);
    assert_memory_not_equal(r1.per_user, r4.per_user, r1.n_users * QY_METRIC_COUNT * 3 * sizeof(float));
    qy_rec_eval_result_free(&r1);
    qy_rec_eval_result_free(&r4);
    qy_pool_free(p4);
    qy_rec_model_free(m);
    qy_rec_data_free(d);
}

static void test_protocol_parse(void **state) {
    qy_rec_eval_opts o = qy_rec_eval_opts_default();
    assert_int_equal(qy_rec_protocol_parse("sampled:50", &o), QY_OK);
    assert_int_equal(o.protocol, QY_PROTOCOL_SAMPLED);
    assert_int_equal(o.n_neg, 50);
    assert_int_equal(qy_rec_protocol_parse("uni100", &o), QY_OK);
    assert_int_equal(o.n_neg, 100);
    assert_int_equal(qy_rec_protocol_parse("full", &o), QY_OK);
    assert_int_equal(o.protocol, QY_PROTOCOL_FULL);
    assert_int_equal(qy_rec_protocol_parse("sampled:", &o), QY_ERR_ARG);
    assert_int_equal(qy_rec_protocol_parse("popular100", &o), QY_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_ranks),         cmocka_unit_test(test_rank_and_topk),
        cmocka_unit_test(test_tiny_pop),           cmocka_unit_test(test_numpy_loo_masked),
        cmocka_unit_test(test_numpy_loo_unmasked), cmocka_unit_test(test_numpy_ratio),
        cmocka_unit_test(test_sampled_threads),    cmocka_unit_test(test_protocol_parse),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
