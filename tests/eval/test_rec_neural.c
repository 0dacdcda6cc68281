/* Tests of the neural recommenders (SASRec, GRU4Rec, LightGCN): gradients
 * against finite differences, loss going down on a small synthetic data set,
 * the same bits at 1 and 2 threads, batch top-k equal to a brute-force ranking,
 * checkpoints, item-embedding export, and allocation failures while fitting. */
#include <math.h>
#include <unistd.h>

#include "qy_test.h"

#include "eval/rec_models.h"
#include "model/lightgcn.h"
#include "model/sasrec.h"
#include "quarry/rec.h"
#include "quarry/tensor.h"

/* 30 users over 50 items with a sequential pattern (item i tends to follow
 * item i - 1) so that the models have something to learn */
static qy_rec_data *synth_data(uint64_t seed, int users) {
    qy_rng g;
    qy_rng_seed(&g, seed);
    size_t cap = 1 << 18, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text, cap, "user_id:token\titem_id:token\ttimestamp:float\n");
    for (int u = 0; u < users; u++) {
        int n = 6 + (int)qy_rng_below(&g, 14), it = (int)qy_rng_below(&g, 50);
        for (int j = 0; j < n; j++) {
            len += (size_t)snprintf(text + len, cap - len, "u%d\ti%d\t%d\n", u, it, j);
            it = qy_rng_below(&g, 4) ? (it + 1) % 50 : (int)qy_rng_below(&g, 50);
        }
    }
    qy_rec_table *t;
    assert_int_equal(qy_rec_table_parse(text, len, "synth.inter", &t), QY_OK);
    free(text);
    qy_rec_data *d;
    assert_int_equal(qy_rec_data_build(t, NULL, NULL, NULL, &d), QY_OK);
    qy_rec_table_free(t);
    qy_rec_split_opts so = {.kind = QY_SPLIT_LOO};
    assert_int_equal(qy_rec_data_split(d, &so), QY_OK);
    return d;
}

static qy_rec_params small_params(void) {
    qy_rec_params p = qy_rec_params_default();
    p.dim = 16;
    p.lr = 1e-2;
    p.seed = 7;
    return p;
}

/* queries: every user with their full training history */
static qy_rec_query *all_queries(const qy_rec_data *d, size_t *n) {
    qy_rec_query *q = calloc(d->n_users, sizeof *q);
    size_t k = 0;
    for (uint32_t u = 1; u < d->n_users; u++) {
        size_t lo = d->user_off[u], hi = d->user_off[u + 1], m = 0;
        while (lo + m < hi && d->split[lo + m] == QY_SPLIT_TRAIN) m++;
        q[k++] = (qy_rec_query){u, d->item + lo, m};
    }
    *n = k;
    return q;
}

/* fit, run `epochs` epochs, return all users' scores (malloc) and the losses */
static float *train_and_score(const char *name, const qy_rec_data *d, int threads, int epochs, double *losses,
                              qy_rec_model **keep) {
    qy_rec_params p = small_params();
    qy_rec_model *m;
    qy_pool *pool;
    assert_int_equal(qy_pool_new(threads, &pool), QY_OK);
    assert_int_equal(qy_rec_model_new(name, &p, &m), QY_OK);
    assert_int_equal(qy_rec_model_fit(m, d, pool, NULL, NULL), QY_OK);
    for (int e = 0; e < epochs; e++)
        assert_int_equal(qy_rec_model_train_epoch(m, d, pool, &losses[e]), QY_OK);
    size_t n;
    qy_rec_query *q = all_queries(d, &n);
    float *s = malloc(n * d->n_items * sizeof *s);
    assert_int_equal(qy_rec_model_score(m, q, n, s, pool), QY_OK);
    free(q);
    qy_pool_free(pool);
    if (keep)
        *keep = m;
    else
        qy_rec_model_free(m);
    return s;
}

static void check_model(const char *name) {
    qy_rec_data *d = synth_data(11, 24);
    size_t n;
    qy_rec_query *q = all_queries(d, &n);
    double l1[8], l2[8];
    qy_rec_model *m;
    float *s1 = train_and_score(name, d, 1, 8, l1, &m);
    float *s2 = train_and_score(name, d, 2, 8, l2, NULL);
    /* the loss goes down */
    if (!(l1[7] < 0.95 * l1[0])) fail_msg("%s: loss %g after 1 epoch, %g after 8", name, l1[0], l1[7]);
    /* the same bits at 1 and 2 threads */
    assert_memory_equal(l1, l2, sizeof l1);
    assert_memory_equal(s1, s2, n * d->n_items * sizeof *s1);
    /* batch top-k equals a brute-force ranking (higher score, then smaller id) */
    const int k = 10;
    uint32_t *top = malloc(n * k * sizeof *top);
    float *tops = malloc(n * k * sizeof *tops);
    assert_int_equal(qy_rec_topk(s1, n, d->n_items, k, NULL, NULL, top, tops, NULL), QY_OK);
    for (size_t r = 0; r < n; r++) {
        const float *row = s1 + r * d->n_items;
        for (int j = 0; j < k; j++) {
            uint32_t it = top[r * k + j];
            size_t better = 0;
            for (uint32_t x = 1; x < d->n_items; x++)
                if (row[x] > row[it] || (row[x] == row[it] && x < it)) better++;
            assert_int_equal(better, (size_t)j);
            assert_true(tops[r * k + j] == row[it]);
        }
    }
    /* checkpoint round trip: the same scores */
    char path[] = "/tmp/quarry-recneural-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(qy_rec_model_save(m, path), QY_OK);
    qy_rec_model *m2;
    assert_int_equal(qy_rec_model_load(path, d, &m2), QY_OK);
    float *s3 = malloc(n * d->n_items * sizeof *s3);
    assert_int_equal(qy_rec_model_score(m2, q, n, s3, NULL), QY_OK);
    assert_memory_equal(s1, s3, n * d->n_items * sizeof *s1);
    /* a loaded model scores but does not train */
    double loss;
    assert_int_equal(qy_rec_model_train_epoch(m2, d, NULL, &loss), QY_ERR_ARG);
    /* item embeddings: n_items x dim */
    const float *emb;
    int dim;
    assert_int_equal(qy_rec_model_item_embeddings(m2, &emb, &dim), QY_OK);
    assert_int_equal(dim, 16);
    for (size_t x = 0; x < d->n_items * (size_t)dim; x++) assert_true(isfinite(emb[x]));
    unlink(path);
    qy_rec_model_free(m2);
    qy_rec_model_free(m);
    free(s1);
    free(s2);
    free(s3);
    free(top);
    free(tops);
    free(q);
    qy_rec_data_free(d);
}

static void test_sasrec(void **state) { check_model("sasrec"); }
static void test_gru4rec(void **state) { check_model("gru4rec"); }
static void test_lightgcn(void **state) { check_model("lightgcn"); }

/* ------------------------------------------------ gradients vs differences */

static double seq_loss(qy_seqnet *net, const int32_t *seq, const int32_t *len, const int32_t *tgt, int64_t B,
                       int64_t T, int grad) {
    qy_graph *g;
    assert_int_equal(qy_graph_new(NULL, &g), QY_OK);
    qy_graph_set_grad_enabled(g, grad);
    qy_tensor *h = qy_seqnet_forward(net, g, seq, len, B, T, 1);
    if (!h) fail_msg("forward: %s", qy_errmsg());
    assert_int_equal(h->shape[0], B);
    assert_int_equal(h->shape[1], net->cfg.hidden);
    qy_tensor *loss = qy_cross_entropy(g, qy_matmul(g, h, net->item_emb, 0, 1), tgt, NULL, -1, QY_REDUCE_SUM);
    assert_non_null(loss);
    if (grad) {
        qy_params_zero_grad(net->ps);
        assert_int_equal(qy_graph_backward(g, loss), QY_OK);
    }
    double v = loss->data[0];
    qy_graph_free(g);
    return v;
}

static void check_seqnet_grad(qy_seqnet_kind kind) {
    qy_seqnet_cfg c = qy_seqnet_defaults(kind, 12);
    c.hidden = 8;
    c.inner = 12;
    c.max_len = 6;
    c.hidden_drop = c.attn_drop = 0; /* deterministic function */
    c.init_range = 0.3f;
    qy_seqnet *net;
    assert_int_equal(qy_seqnet_new(&c, 3, &net), QY_OK);
    if (kind == QY_SEQNET_GRU4REC) /* larger weights than xavier to make the check sensitive */
        for (size_t i = 0; i < net->item_emb->n; i++) net->item_emb->data[i] *= 3;
    const int64_t B = 3, T = 5;
    int32_t seq[15] = {1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 8, 9, 10, 11, 0}, len[3] = {5, 2, 4}, tgt[3] = {6, 8, 1};
    seq_loss(net, seq, len, tgt, B, T, 1);
    int checked = 0;
    for (size_t pi = 0; pi < qy_params_count(net->ps); pi++) {
        qy_tensor *t = qy_params_at(net->ps, pi);
        for (size_t x = 0; x < t->n; x += 1 + t->n / 5) {
            float keep = t->data[x], eps = 1e-2f;
            double an = t->grad[x];
            t->data[x] = keep + eps;
            double lp = seq_loss(net, seq, len, tgt, B, T, 0);
            t->data[x] = keep - eps;
            double lm = seq_loss(net, seq, len, tgt, B, T, 0);
            t->data[x] = keep;
            double num = (lp - lm) / (2 * eps);
            if (fabs(num - an) > 2e-3 + 0.03 * fabs(num))
                fail_msg("%s[%zu]: analytic %g, finite difference %g", t->name, x, an, num);
            checked++;
        }
    }
    assert_true(checked > 20);
    qy_seqnet_free(net);
}

static void test_sasrec_grad(void **state) { check_seqnet_grad(QY_SEQNET_SASREC); }
static void test_gru4rec_grad(void **state) { check_seqnet_grad(QY_SEQNET_GRU4REC); }

static void test_lightgcn_grad(void **state) {
    uint32_t eu[] = {1, 1, 2, 2, 3, 3, 3, 1}, ei[] = {1, 2, 2, 3, 1, 3, 4, 1}; /* (1,1) twice: counted once */
    qy_lightgcn *n;
    assert_int_equal(qy_lightgcn_new(4, 5, 6, 2, eu, ei, 8, 5, 1e-3f, &n), QY_OK);
    assert_int_equal(n->adj_off[n->n_nodes], 14); /* 7 distinct edges, both directions */
    for (size_t x = 0; x < n->emb->n; x++) n->emb->data[x] *= 4;
    uint32_t bu[] = {1, 2, 3, 3}, bp[] = {1, 3, 4, 1}, bn[] = {4, 1, 2, 2};
    const float reg = 0.05f;
    double l0, lp, lm;
    assert_int_equal(qy_lightgcn_grad(n, bu, bp, bn, 4, reg, NULL, &l0), QY_OK);
    float *an = malloc(n->emb->n * sizeof *an);
    memcpy(an, n->emb->grad, n->emb->n * sizeof *an);
    for (size_t x = 0; x < n->emb->n; x++) {
        float keep = n->emb->data[x], eps = 1e-2f;
        n->emb->data[x] = keep + eps;
        assert_int_equal(qy_lightgcn_grad(n, bu, bp, bn, 4, reg, NULL, &lp), QY_OK);
        n->emb->data[x] = keep - eps;
        assert_int_equal(qy_lightgcn_grad(n, bu, bp, bn, 4, reg, NULL, &lm), QY_OK);
        n->emb->data[x] = keep;
        double num = (lp - lm) / (2 * eps);
        if (fabs(num - an[x]) > 1e-3 + 0.02 * fabs(num))
            fail_msg("emb[%zu]: analytic %g, finite difference %g", x, an[x], num);
    }
    free(an);
    qy_lightgcn_free(n);
}

/* ------------------------------------------------------ allocation failures */

static int fit_one(const char *name, const qy_rec_data *d, qy_rec_model **m) {
    qy_rec_params p = small_params();
    int st = qy_rec_model_new(name, &p, m);
    if (st) return st;
    st = qy_rec_model_fit(*m, d, NULL, NULL, NULL);
    if (st) {
        qy_rec_model_free(*m);
        *m = NULL;
    }
    return st;
}

static void test_fit_oom(void **state) {
    qy_rec_data *d = synth_data(5, 8);
    const char *names[] = {"sasrec", "gru4rec", "lightgcn"};
    for (int i = 0; i < 3; i++) {
        qy_rec_model *m = NULL;
        int st;
        QY_OOM_WALK(
            st, { st = fit_one(names[i], d, &m); },
            {
                qy_rec_model_free(m);
                m = NULL;
            });
    }
    qy_rec_data_free(d);
}

static void test_bad_config(void **state) {
    qy_seqnet_cfg c = qy_seqnet_defaults(QY_SEQNET_SASREC, 10);
    c.hidden = 63; /* not a multiple of 2 heads */
    qy_seqnet *n;
    assert_int_equal(qy_seqnet_new(&c, 1, &n), QY_ERR_ARG);
    assert_non_null(strstr(qy_errmsg(), "n_heads"));
    c = qy_seqnet_defaults(QY_SEQNET_SASREC, 10);
    qy_graph *g;
    assert_int_equal(qy_seqnet_new(&c, 1, &n), QY_OK);
    assert_int_equal(qy_graph_new(NULL, &g), QY_OK);
    int32_t seq[51] = {1}, len[1] = {1};
    assert_null(qy_seqnet_forward(n, g, seq, len, 1, 51, 0)); /* longer than max_len */
    qy_graph_free(g);
    qy_seqnet_free(n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sasrec_grad),   cmocka_unit_test(test_gru4rec_grad),
        cmocka_unit_test(test_lightgcn_grad), cmocka_unit_test(test_sasrec),
        cmocka_unit_test(test_gru4rec),       cmocka_unit_test(test_lightgcn),
        cmocka_unit_test(test_fit_oom),       cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
