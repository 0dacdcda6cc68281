/* test_tensor_grad.c — every op's backward against central finite differences.
 *
 * For an op y = f(x1..xk) and fixed random weights w, L = sum(w * y) is computed
 * in double from the f32 outputs; the analytic gradient (backward seeded with w)
 * is compared with (L(x + h e_i) - L(x - h e_i)) / 2h on sampled elements of every
 * input. Tolerance: |num - ana| <= 3e-3 + 3e-2 |ana| (f32 forward, h = 1e-2). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "quarry/tensor.h"

typedef qy_tensor *(*build_fn)(qy_graph *g, qy_tensor **in, const void *ctx);

typedef struct spec {
    int ndim;
    int64_t shape[4];
} spec;

static qy_pool *pool;
/* ReLU: skip elements within 2h of its kink at 0, where differences are meaningless */
static int skip_near_zero;

static double weighted(const qy_tensor *y, const float *w) {
    double s = 0;
    for (size_t i = 0; i < y->n; i++) s += (double)w[i] * y->data[i];
    return s;
}

static double eval_loss(qy_graph *g, int nin, const spec *sp, float **vals, build_fn fn, const void *ctx,
                        const float *w) {
    qy_graph_reset(g);
    qy_tensor *in[4];
    for (int k = 0; k < nin; k++) in[k] = qy_input(g, sp[k].ndim, sp[k].shape, vals[k]);
    qy_tensor *y = fn(g, in, ctx);
    assert_non_null(y);
    return weighted(y, w);
}

/* positive inputs for ops that need them are made by the builders (e.g. via exp) */
static void gradcheck(const char *name, int nin, const spec *sp, build_fn fn, const void *ctx) {
    qy_graph *g;
    assert_int_equal(qy_graph_new(pool, &g), QY_OK);
    qy_rng rng;
    qy_rng_seed(&rng, 1234);
    float *vals[4], *ana[4];
    size_t n[4];
    for (int k = 0; k < nin; k++) {
        n[k] = 1;
        for (int d = 0; d < sp[k].ndim; d++) n[k] *= (size_t)sp[k].shape[d];
        vals[k] = qy_mallocn(n[k], sizeof(float));
        ana[k] = qy_mallocn(n[k], sizeof(float));
        for (size_t i = 0; i < n[k]; i++) vals[k][i] = (float)(qy_rng_double(&rng) * 2 - 1);
    }
    /* analytic */
    qy_tensor *in[4];
    for (int k = 0; k < nin; k++) {
        in[k] = qy_input(g, sp[k].ndim, sp[k].shape, vals[k]);
        qy_set_requires_grad(in[k], 1);
    }
    qy_tensor *y = fn(g, in, ctx);
    if (!y) fail_msg("%s: forward failed: %s", name, qy_errmsg());
    float *w = qy_mallocn(y->n, sizeof(float));
    for (size_t i = 0; i < y->n; i++) w[i] = (float)(qy_rng_double(&rng) * 2 - 1);
    if (qy_graph_backward_from(g, y, w) != QY_OK) fail_msg("%s: backward: %s", name, qy_errmsg());
    for (int k = 0; k < nin; k++) {
        if (in[k]->grad)
            memcpy(ana[k], in[k]->grad, n[k] * sizeof(float));
        else
            memset(ana[k], 0, n[k] * sizeof(float));
    }
    /* numeric, on up to 24 elements per input */
    const float h = 1e-2f;
    double worst = 0;
    for (int k = 0; k < nin; k++) {
        size_t step = n[k] > 24 ? n[k] / 24 : 1;
        for (size_t i = (size_t)k % step; i < n[k]; i += step) {
            float keep = vals[k][i];
            if (skip_near_zero && fabsf(keep) < 2 * h) continue;
            vals[k][i] = keep + h;
            double lp = eval_loss(g, nin, sp, vals, fn, ctx, w);
            vals[k][i] = keep - h;
            double lm = eval_loss(g, nin, sp, vals, fn, ctx, w);
            vals[k][i] = keep;
            double num = (lp - lm) / (2.0 * h), a = ana[k][i];
            double err = fabs(num - a);
            if (err > worst) worst = err;
            if (err > 3e-3 + 3e-2 * fabs(a))
                fail_msg("%s: input %d element %zu: analytic %.6g numeric %.6g", name, k, i, a, num);
        }
    }
    print_message("gradcheck %-22s ok (max abs err %.2e)\n", name, worst);
    for (int k = 0; k < nin; k++) {
        qy_free(vals[k]);
        qy_free(ana[k]);
    }
    qy_free(w);
    qy_graph_free(g);
}

/* ---------------------------------------------------------------- builders */

typedef struct mm_ctx {
    int ta, tb;
} mm_ctx;
static qy_tensor *b_matmul(qy_graph *g, qy_tensor **in, const void *c) {
    const mm_ctx *m = c;
    return qy_matmul(g, in[0], in[1], m->ta, m->tb);
}
static qy_tensor *b_add(qy_graph *g, qy_tensor **in, const void *c) { return qy_add(g, in[0], in[1]); }
static qy_tensor *b_sub(qy_graph *g, qy_tensor **in, const void *c) { return qy_sub(g, in[0], in[1]); }
static qy_tensor *b_mul(qy_graph *g, qy_tensor **in, const void *c) { return qy_mul(g, in[0], in[1]); }
static qy_tensor *b_scale(qy_graph *g, qy_tensor **in, const void *c) {
    return qy_add_scalar(g, qy_scale(g, in[0], -1.7f), 0.3f);
}
typedef qy_tensor *(*unary_fn)(qy_graph *, qy_tensor *);
static qy_tensor *b_unary(qy_graph *g, qy_tensor **in, const void *c) {
    return (*(const unary_fn *)c)(g, in[0]);
}
static qy_tensor *b_scale_rows(qy_graph *g, qy_tensor **in, const void *c) {
    return qy_scale_rows(g, in[0], in[1]);
}
static qy_tensor *b_swiglu(qy_graph *g, qy_tensor **in, const void *c) { return qy_swiglu(g, in[0], in[1]); }
static qy_tensor *b_reshape_t(qy_graph *g, qy_tensor **in, const void *c) {
    return qy_transpose(g, qy_reshape(g, in[0], 3, (int64_t[]){2, -1, 3}));
}
static const int32_t sel_ids[7] = {2, 0, 4, 2, 2, 1, 4};
static qy_tensor *b_index_select(qy_graph *g, qy_tensor **in, const void *c) {
    return qy_index_select(g, in[0], sel_ids, 7);
}
static qy_tensor *b_gather(qy_graph *g, qy_tensor **in, const void *c) {
    return qy_gather_last(g, in[0], (const int32_t[]){1, 0, 5, 3});
}
static qy_tensor *b_concat_slice(qy_graph *g, qy_tensor **in, const void *c) {
    qy_tensor *cat = qy_concat(g, in, 2, 1);
    qy_tensor *parts[3];
    qy_split(g, cat, -1, (const int64_t[]){1, 4, 1}, 3, parts);
    return qy_mul(g, qy_mul(g, qy_slice(g, cat, 1, 1, 4), qy_slice(g, cat, 1, 2, 4)),
                  qy_add_scalar(g, parts[1], 1.0f));
}
static qy_tensor *b_layernorm(qy_graph *g, qy_tensor **in, const void *c) {
    return qy_layernorm(g, in[0], in[1], in[2], 1e-5f);
}
static qy_tensor *b_rmsnorm(qy_graph *g, qy_tensor **in, const void *c) {
    return qy_rmsnorm(g, in[0], in[1], 1e-6f);
}
static qy_tensor *b_l2(qy_graph *g, qy_tensor **in, const void *c) {
    return qy_l2_normalize(g, in[0], 1e-12f);
}
static qy_tensor *b_sum(qy_graph *g, qy_tensor **in, const void *c) {
    return qy_concat(g, (qy_tensor *[]){qy_sum(g, in[0]), qy_mean(g, in[0])}, 2, 0);
}
static qy_tensor *b_sum_last(qy_graph *g, qy_tensor **in, const void *c) { return qy_sum_last(g, in[0]); }
static qy_tensor *b_dropout(qy_graph *g, qy_tensor **in, const void *c) {
    return qy_dropout(g, in[0], 0.3f, 77);
}
typedef struct rope_ctx {
    int interleaved;
    const int32_t *pos;
} rope_ctx;
static qy_tensor *b_rope(qy_graph *g, qy_tensor **in, const void *c) {
    const rope_ctx *r = c;
    return qy_rope(g, in[0], 4, 10000.0f, r->pos, r->interleaved);
}
typedef struct attn_ctx {
    int64_t nh, nkv;
    int causal;
    const uint8_t *mask;
} attn_ctx;
static qy_tensor *b_attn(qy_graph *g, qy_tensor **in, const void *c) {
    const attn_ctx *a = c;
    return qy_attention(g, in[0], in[1], in[2], a->nh, a->nkv, 0.0f, a->causal, a->mask);
}
static const int32_t ce_tg[6] = {3, -100, 0, 4, 4, 1};
static const float ce_w[6] = {1.0f, 2.0f, 0.5f, 1.5f, 1.0f, 0.25f};
static qy_tensor *b_ce(qy_graph *g, qy_tensor **in, const void *c) {
    int red = *(const int *)c;
    return qy_cross_entropy(g, in[0], ce_tg, red == QY_REDUCE_SUM ? ce_w : NULL, -100, red);
}
static qy_tensor *b_kl(qy_graph *g, qy_tensor **in, const void *c) {
    return qy_kl_div(g, in[0], in[1], 2.0f);
}
static qy_tensor *b_mse(qy_graph *g, qy_tensor **in, const void *c) { return qy_mse(g, in[0], in[1]); }
static qy_tensor *b_infonce(qy_graph *g, qy_tensor **in, const void *c) {
    return qy_infonce(g, qy_l2_normalize(g, in[0], 1e-12f), qy_l2_normalize(g, in[1], 1e-12f), 0.1f);
}
static qy_tensor *b_gru(qy_graph *g, qy_tensor **in, const void *c) {
    qy_tensor *b_ih = qy_slice(g, in[3], 0, 0, 15), *b_hh = qy_slice(g, in[3], 0, 15, 15);
    return qy_gru_cell(g, in[0], in[1], in[2], qy_slice(g, in[2], 1, 0, 5), b_ih, b_hh);
}

/* ------------------------------------------------------------------- tests */

static void test_matmul(void **st) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            mm_ctx c = {ta, tb};
            spec sp[2] = {{2, {ta ? 5 : 3, ta ? 3 : 5}}, {2, {tb ? 4 : 5, tb ? 5 : 4}}};
            char name[32];
            snprintf(name, sizeof name, "matmul ta=%d tb=%d", ta, tb);
            gradcheck(name, 2, sp, b_matmul, &c);
            /* shared 2-D b over a batch of a */
            spec sp3[2] = {{3, {2, ta ? 5 : 3, ta ? 3 : 5}}, sp[1]};
            snprintf(name, sizeof name, "matmul3 ta=%d tb=%d", ta, tb);
            gradcheck(name, 2, sp3, b_matmul, &c);
            /* batched */
            spec spb[2] = {sp3[0], {3, {2, tb ? 4 : 5, tb ? 5 : 4}}};
            snprintf(name, sizeof name, "bmm ta=%d tb=%d", ta, tb);
            gradcheck(name, 2, spb, b_matmul, &c);
        }
}

static void test_pointwise(void **st) {
    spec bc[2] = {{3, {2, 3, 4}}, {1, {4}}};
    gradcheck("add bcast", 2, bc, b_add, NULL);
    gradcheck("sub bcast", 2, bc, b_sub, NULL);
    gradcheck("mul bcast", 2, bc, b_mul, NULL);
    spec same[2] = {{2, {3, 4}}, {2, {3, 4}}};
    gradcheck("mul", 2, same, b_mul, NULL);
    gradcheck("swiglu", 2, same, b_swiglu, NULL);
    spec rows[2] = {{3, {2, 3, 5}}, {2, {2, 3}}};
    gradcheck("scale_rows", 2, rows, b_scale_rows, NULL);
    spec one = {3, {2, 3, 5}};
    gradcheck("scale+add_scalar", 1, &one, b_scale, NULL);
    static const unary_fn fns[] = {qy_gelu_tanh, qy_gelu_erf, qy_silu,    qy_relu,       qy_tanh,
                                   qy_sigmoid,   qy_exp,      qy_softmax, qy_log_softmax};
    static const char *names[] = {"gelu_tanh", "gelu_erf", "silu",    "relu",       "tanh",
                                  "sigmoid",   "exp",      "softmax", "log_softmax"};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        skip_near_zero = fns[i] == qy_relu;
        gradcheck(names[i], 1, &one, b_unary, &fns[i]);
        skip_near_zero = 0;
    }
    gradcheck("dropout", 1, &one, b_dropout, NULL);
}

static void test_shape_ops(void **st) {
    spec a = {2, {4, 6}};
    gradcheck("reshape+transpose", 1, &a, b_reshape_t, NULL);
    spec e = {2, {5, 3}};
    gradcheck("index_select", 1, &e, b_index_select, NULL);
    spec gt = {2, {4, 6}};
    gradcheck("gather_last", 1, &gt, b_gather, NULL);
    spec cs[2] = {{2, {3, 2}}, {2, {3, 4}}};
    gradcheck("concat+slice", 2, cs, b_concat_slice, NULL);
    spec s = {3, {2, 3, 4}};
    gradcheck("sum+mean", 1, &s, b_sum, NULL);
    gradcheck("sum_last", 1, &s, b_sum_last, NULL);
}

static void test_norms(void **st) {
    spec ln[3] = {{3, {2, 3, 8}}, {1, {8}}, {1, {8}}};
    gradcheck("layernorm", 3, ln, b_layernorm, NULL);
    gradcheck("rmsnorm", 2, ln, b_rmsnorm, NULL);
    gradcheck("l2_normalize", 1, ln, b_l2, NULL);
}

static void test_rope(void **st) {
    spec x = {3, {2, 3, 8}};
    static const int32_t pos[6] = {5, 0, 17, 2, 3, 4};
    rope_ctx a = {0, NULL}, b = {1, NULL}, c = {0, pos};
    gradcheck("rope half", 1, &x, b_rope, &a);
    gradcheck("rope interleaved", 1, &x, b_rope, &b);
    gradcheck("rope positions", 1, &x, b_rope, &c);
}

static void test_attention(void **st) {
    /* T = 70 crosses the 64-row tile; 4 query heads share 2 kv heads */
    spec sp[3] = {{3, {2, 70, 32}}, {3, {2, 70, 16}}, {3, {2, 70, 16}}};
    attn_ctx causal = {4, 2, 1, NULL};
    gradcheck("attention causal gqa", 3, sp, b_attn, &causal);
    static uint8_t mask[140];
    for (int i = 0; i < 140; i++) mask[i] = !(i >= 60 && i < 70) && i != 75;
    attn_ctx padded = {4, 2, 0, mask};
    gradcheck("attention padded", 3, sp, b_attn, &padded);
    spec mh[3] = {{3, {1, 9, 12}}, {3, {1, 9, 12}}, {3, {1, 9, 12}}};
    attn_ctx mha = {3, 3, 1, mask};
    gradcheck("attention mha mask", 3, mh, b_attn, &mha);
    /* queries after a cached prefix (Tk > T), and more queries than keys */
    spec kv[3] = {{3, {2, 5, 16}}, {3, {2, 9, 8}}, {3, {2, 9, 8}}};
    attn_ctx gqa = {2, 1, 1, NULL};
    gradcheck("attention Tq=5 Tk=9", 3, kv, b_attn, &gqa);
    spec qk[3] = {{3, {2, 9, 16}}, {3, {2, 5, 8}}, {3, {2, 5, 8}}};
    gradcheck("attention Tq=9 Tk=5", 3, qk, b_attn, &gqa);
}

static void test_losses(void **st) {
    spec lg = {2, {6, 5}};
    int mean = QY_REDUCE_MEAN, sum = QY_REDUCE_SUM, none = QY_REDUCE_NONE;
    gradcheck("cross_entropy mean", 1, &lg, b_ce, &mean);
    gradcheck("cross_entropy wsum", 1, &lg, b_ce, &sum);
    gradcheck("cross_entropy none", 1, &lg, b_ce, &none);
    spec two[2] = {{2, {4, 6}}, {2, {4, 6}}};
    gradcheck("kl_div T=2", 2, two, b_kl, NULL);
    gradcheck("mse", 2, two, b_mse, NULL);
    gradcheck("infonce", 2, two, b_infonce, NULL);
    spec gru[4] = {{2, {3, 4}}, {2, {3, 5}}, {2, {15, 4}}, {1, {30}}};
    /* w_hh (15,5) is taken as a slice of a (15,4)... too narrow: use x width 5 */
    gru[0].shape[1] = 5;
    gru[2].shape[1] = 5;
    gradcheck("gru_cell", 4, gru, b_gru, NULL);
}

int main(void) {
    if (qy_pool_new(2, &pool) != QY_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul), cmocka_unit_test(test_pointwise), cmocka_unit_test(test_shape_ops),
        cmocka_unit_test(test_norms),  cmocka_unit_test(test_rope),      cmocka_unit_test(test_attention),
        cmocka_unit_test(test_losses),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qy_pool_free(pool);
    return rc;
}
