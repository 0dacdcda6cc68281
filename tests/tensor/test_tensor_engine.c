/* test_tensor_engine.c — the engine around the ops: determinism across thread
 * counts, shape errors, out-of-memory paths, no-grad mode, frozen parameters,
 * activation hooks, gradient accumulation, the arena, top-k, schedules, and the
 * BLAS gemm held to the plain C kernel. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "../../bench/tiny_llama.h"
#include "quarry/tensor.h"
#include "tensor/tensor_internal.h"

static const tl_config small = {
    .V = 37, .C = 32, .L = 2, .NH = 4, .NKV = 2, .FF = 48, .eps = 1e-5f, .theta = 10000.0f};
/* big enough that matmuls are split into several blocks across the pool */
static const tl_config mid = {
    .V = 300, .C = 64, .L = 2, .NH = 4, .NKV = 2, .FF = 256, .eps = 1e-5f, .theta = 10000.0f};

static void make_tokens(int32_t *ids, int32_t *tg, size_t n, int64_t V, uint64_t seed) {
    qy_rng r;
    qy_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)qy_rng_below(&r, (uint64_t)V);
    for (size_t i = 0; i < n; i++) tg[i] = (i % 7 == 6) ? -100 : ids[(i + 1) % n];
}

/* loss and all parameter grads of the tiny model, T = 70 (two attention tiles),
 * clipped; then the parameters after one AdamW step on the pool (2n floats) */
static float run_model(int threads, float *grads_out, size_t *ngrad) {
    qy_pool *pool;
    assert_int_equal(qy_pool_new(threads, &pool), QY_OK);
    qy_params *ps;
    assert_int_equal(qy_params_new(&ps), QY_OK);
    tl_model m;
    assert_int_equal(tl_build(ps, &mid, 7, &m), QY_OK);
    qy_graph *g;
    assert_int_equal(qy_graph_new(pool, &g), QY_OK);
    enum { B = 4, T = 70 };
    int32_t ids[B * T], tg[B * T];
    make_tokens(ids, tg, B * T, mid.V, 99);
    qy_tensor *loss = tl_loss(g, &m, ids, tg, B, T);
    assert_non_null(loss);
    assert_int_equal(qy_graph_backward(g, loss), QY_OK);
    float l = loss->data[0], norm;
    assert_int_equal(qy_clip_grad_norm(ps, 0.5f, pool, &norm), QY_OK);
    assert_true(norm > 0.5f); /* so that clipping did scale */
    qy_optim *opt;
    assert_int_equal(qy_adamw_new(ps, &(qy_adamw_cfg){.lr = 1e-3f, .weight_decay = 0.1f}, &opt), QY_OK);
    qy_optim_set_pool(opt, pool);
    assert_int_equal(qy_optim_step(opt, 1e-3f), QY_OK);
    size_t off = 0, total = qy_params_numel(ps);
    for (size_t i = 0; i < qy_params_count(ps); i++) {
        qy_tensor *p = qy_params_at(ps, i);
        if (grads_out) {
            memcpy(grads_out + off, p->grad, p->n * sizeof(float));
            memcpy(grads_out + total + off, p->data, p->n * sizeof(float));
        }
        off += p->n;
    }
    *ngrad = 2 * off;
    qy_optim_free(opt);
    qy_graph_free(g);
    qy_params_free(ps);
    qy_pool_free(pool);
    return l;
}

static void test_determinism_threads(void **st) {
    size_t n;
    run_model(1, NULL, &n);
    float *g1 = qy_mallocn(n, sizeof(float)), *g2 = qy_mallocn(n, sizeof(float)),
          *g3 = qy_mallocn(n, sizeof(float));
    float l1 = run_model(1, g1, &n), l2 = run_model(2, g2, &n), l3 = run_model(3, g3, &n);
    assert_memory_equal(&l1, &l2, sizeof l1);
    assert_memory_equal(&l1, &l3, sizeof l1);
    assert_memory_equal(g1, g2, n * sizeof(float));
    assert_memory_equal(g1, g3, n * sizeof(float));
    /* the loss of an untrained model is near log(V) */
    assert_true(fabsf(l1 - logf((float)mid.V)) < 0.2f);
    qy_free(g1);
    qy_free(g2);
    qy_free(g3);
}

static void test_shape_errors(void **st) {
    qy_graph *g;
    assert_int_equal(qy_graph_new(NULL, &g), QY_OK);
    qy_tensor *a = qy_zeros(g, 2, (int64_t[]){2, 3}), *b = qy_zeros(g, 2, (int64_t[]){4, 5});
    assert_null(qy_matmul(g, a, b, 0, 0));
    assert_int_equal(qy_graph_status(g), QY_ERR_SHAPE);
    assert_non_null(strstr(qy_errmsg(), "matmul: a (2,3) and b (4,5)"));
    /* sticky: later ops return NULL, backward returns the first error */
    assert_null(qy_add(g, a, a));
    assert_int_equal(qy_graph_backward(g, a), QY_ERR_SHAPE);
    qy_graph_reset(g);
    a = qy_zeros(g, 2, (int64_t[]){2, 3});
    assert_null(qy_add(g, a, qy_zeros(g, 1, (int64_t[]){2})));
    assert_non_null(strstr(qy_errmsg(), "add: a (2,3) and b (2)"));
    qy_graph_reset(g);
    qy_tensor *q = qy_zeros(g, 3, (int64_t[]){1, 4, 12});
    assert_null(qy_attention(g, q, q, q, 5, 1, 0, 1, NULL));
    assert_non_null(strstr(qy_errmsg(), "attention: q (1,4,12)"));
    qy_graph_reset(g);
    qy_tensor *lg = qy_zeros(g, 2, (int64_t[]){2, 3});
    assert_null(qy_cross_entropy(g, lg, (const int32_t[]){1, 3}, NULL, -100, QY_REDUCE_MEAN));
    assert_int_equal(qy_graph_status(g), QY_ERR_RANGE);
    qy_graph_reset(g);
    qy_tensor *e = qy_zeros(g, 2, (int64_t[]){5, 3});
    assert_null(qy_index_select(g, e, (const int32_t[]){0, 5}, 2));
    assert_non_null(strstr(qy_errmsg(), "index_select: id 5"));
    qy_graph_reset(g);
    assert_null(qy_reshape(g, qy_zeros(g, 1, (int64_t[]){6}), 2, (int64_t[]){4, -1}));
    assert_null(qy_zeros(g, 5, (int64_t[]){1, 1, 1, 1, 1}));
    qy_graph_reset(g);
    qy_tensor *parts[2];
    assert_int_equal(qy_split(g, qy_zeros(g, 2, (int64_t[]){2, 6}), 1, (const int64_t[]){2, 3}, 2, parts),
                     QY_ERR_SHAPE);
    assert_non_null(strstr(qy_errmsg(), "split: 2 pieces totalling 5 do not cover dim 1 of (2,6)"));
    assert_null(parts[0]);
    qy_graph_reset(g);
    qy_tensor *x = qy_zeros(g, 2, (int64_t[]){2, 3});
    assert_int_equal(qy_graph_backward(g, x), QY_ERR_SHAPE); /* not a scalar */
    qy_graph_free(g);
}

static void test_alloc_failures(void **st) {
    qy_alloc_stats s0, s1;
    qy_alloc_get_stats(&s0);
    int failed_somewhere = 0, succeeded = 0;
    for (long n = 0; n < 400; n++) {
        qy_params *ps = NULL;
        qy_graph *g = NULL;
        qy_optim *opt = NULL;
        tl_model m;
        int32_t ids[12], tg[12];
        make_tokens(ids, tg, 12, small.V, 5);
        qy_alloc_fail_after(n, 0);
        int st2 = qy_params_new(&ps);
        if (!st2) st2 = tl_build(ps, &small, 1, &m);
        if (!st2) st2 = qy_adamw_new(ps, &(qy_adamw_cfg){.lr = 1e-3f}, &opt);
        if (!st2) st2 = qy_graph_new(NULL, &g);
        if (!st2) st2 = qy_graph_backward(g, tl_loss(g, &m, ids, tg, 2, 6));
        if (!st2) st2 = qy_optim_step(opt, 1e-3f);
        qy_alloc_fail_after(-1, 0);
        if (st2) {
            failed_somewhere = 1;
            assert_int_equal(st2, QY_ERR_NOMEM);
        }
        qy_graph_free(g);
        qy_optim_free(opt);
        qy_params_free(ps);
        if (!st2) {
            succeeded = 1;
            break;
        }
    }
    assert_true(failed_somewhere && succeeded);
    qy_alloc_get_stats(&s1);
    assert_int_equal(s1.live_blocks, s0.live_blocks);
}

static void test_nograd_frozen(void **st) {
    qy_params *ps;
    tl_model m;
    assert_int_equal(qy_params_new(&ps), QY_OK);
    assert_int_equal(tl_build(ps, &small, 3, &m), QY_OK);
    qy_graph *g;
    assert_int_equal(qy_graph_new(NULL, &g), QY_OK);
    int32_t ids[16], tg[16];
    make_tokens(ids, tg, 16, small.V, 4);
    qy_graph_set_grad_enabled(g, 0);
    qy_tensor *l0 = tl_loss(g, &m, ids, tg, 2, 8);
    assert_non_null(l0);
    assert_int_equal(qy_graph_tape_len(g), 0);
    assert_int_equal(qy_graph_backward(g, l0), QY_ERR_ARG);
    float inference_loss = l0->data[0];
    qy_graph_set_grad_enabled(g, 1);
    qy_graph_reset(g);
    qy_param_set_frozen(m.emb, 1);
    qy_param_set_frozen(m.layer[0].wq, 1);
    qy_tensor *l1 = tl_loss(g, &m, ids, tg, 2, 8);
    assert_memory_equal(&l1->data[0], &inference_loss, sizeof(float));
    assert_int_equal(qy_graph_backward(g, l1), QY_OK);
    for (size_t i = 0; i < m.emb->n; i++) assert_true(m.emb->grad[i] == 0.0f);
    for (size_t i = 0; i < m.layer[0].wq->n; i++) assert_true(m.layer[0].wq->grad[i] == 0.0f);
    double s = 0;
    for (size_t i = 0; i < m.layer[0].wk->n; i++) s += fabsf(m.layer[0].wk->grad[i]);
    assert_true(s > 0);
    /* the optimizer leaves frozen parameters alone */
    float before = m.emb->data[0];
    qy_optim *opt;
    assert_int_equal(qy_adamw_new(ps, &(qy_adamw_cfg){.lr = 0.1f, .weight_decay = 0.1f}, &opt), QY_OK);
    assert_int_equal(qy_optim_step(opt, 0.1f), QY_OK);
    assert_true(m.emb->data[0] == before);
    qy_optim_free(opt);
    qy_graph_free(g);
    qy_params_free(ps);
}

/* gradient accumulation: two micro-batches with SUM reduction == one batch */
static void test_accumulation(void **st) {
    qy_params *ps;
    tl_model m;
    assert_int_equal(qy_params_new(&ps), QY_OK);
    assert_int_equal(tl_build(ps, &small, 3, &m), QY_OK);
    qy_graph *g;
    assert_int_equal(qy_graph_new(NULL, &g), QY_OK);
    int32_t ids[32], tg[32];
    make_tokens(ids, tg, 32, small.V, 8);
    assert_int_equal(
        qy_graph_backward(g, qy_cross_entropy(g, tl_logits(g, &m, ids, 4, 8), tg, NULL, -100, QY_REDUCE_SUM)),
        QY_OK);
    size_t n = m.layer[1].wd->n;
    float *full = qy_mallocn(n, sizeof(float));
    memcpy(full, m.layer[1].wd->grad, n * sizeof(float));
    qy_params_zero_grad(ps);
    for (int half = 0; half < 2; half++) {
        qy_graph_reset(g);
        assert_int_equal(qy_graph_backward(g, qy_cross_entropy(g, tl_logits(g, &m, ids + 16 * half, 2, 8),
                                                               tg + 16 * half, NULL, -100, QY_REDUCE_SUM)),
                         QY_OK);
    }
    for (size_t i = 0; i < n; i++)
        assert_true(fabsf(full[i] - m.layer[1].wd->grad[i]) <= 1e-5f + 1e-4f * fabsf(full[i]));
    qy_free(full);
    /* the arena became one block after the first step and stays there */
    size_t peak = qy_graph_peak_bytes(g);
    qy_graph_reset(g);
    tl_loss(g, &m, ids, tg, 4, 8);
    assert_true(qy_graph_peak_bytes(g) <= peak);
    qy_graph_free(g);
    qy_params_free(ps);
}

/* a hook reads one layer's output and overwrites another's */
typedef struct hook_ctx {
    int seen;
    float first;
    qy_tensor *delta;
} hook_ctx;

static int failing_hook(void *vctx, qy_graph *g, const char *name, qy_tensor **t) {
    return qy_error(QY_ERR_NOT_FOUND, "no edit for %s", name);
}

static int hook(void *vctx, qy_graph *g, const char *name, qy_tensor **t) {
    hook_ctx *h = vctx;
    if (strcmp(name, "model.layers.0") == 0) {
        h->seen++;
        h->first = (*t)->data[0];
    }
    if (strcmp(name, "model.layers.1") == 0 && h->delta) *t = qy_add(g, *t, h->delta);
    return QY_OK;
}

static void test_hooks(void **st) {
    qy_params *ps;
    tl_model m;
    assert_int_equal(qy_params_new(&ps), QY_OK);
    assert_int_equal(tl_build(ps, &small, 3, &m), QY_OK);
    qy_graph *g;
    assert_int_equal(qy_graph_new(NULL, &g), QY_OK);
    int32_t ids[8], tg[8];
    make_tokens(ids, tg, 8, small.V, 2);
    hook_ctx h = {0};
    qy_graph_set_hook(g, hook, &h);
    qy_tensor *l0 = tl_loss(g, &m, ids, tg, 1, 8);
    float base = l0->data[0];
    assert_int_equal(h.seen, 1);
    /* now learn an additive edit of layer 1's output: the gradient reaches it */
    qy_graph_reset(g);
    h.delta = qy_zeros(g, 1, (int64_t[]){small.C});
    qy_set_requires_grad(h.delta, 1);
    h.delta->data[3] = 0.5f;
    qy_tensor *l1 = tl_loss(g, &m, ids, tg, 1, 8);
    assert_true(l1->data[0] != base);
    assert_int_equal(qy_graph_backward(g, l1), QY_OK);
    assert_non_null(h.delta->grad);
    double s = 0;
    for (int i = 0; i < small.C; i++) s += fabsf(h.delta->grad[i]);
    assert_true(s > 0);
    /* a hook's error stops the forward pass with its message and the tap's name */
    qy_graph_reset(g);
    qy_graph_set_hook(g, failing_hook, NULL);
    assert_null(tl_loss(g, &m, ids, tg, 1, 8));
    assert_int_equal(qy_graph_status(g), QY_ERR_NOT_FOUND);
    assert_non_null(strstr(qy_errmsg(), "hook at model.layers.0: no edit for model.layers.0"));
    qy_graph_free(g);
    qy_params_free(ps);
}

static void test_topk_schedule(void **st) {
    qy_graph *g;
    assert_int_equal(qy_graph_new(NULL, &g), QY_OK);
    qy_tensor *t = qy_input(g, 2, (int64_t[]){2, 5}, (const float[]){1, 5, 3, 5, 0, -1, -2, 7, 7, 7});
    float v[6];
    int32_t ix[6];
    assert_int_equal(qy_topk(t, 3, v, ix), QY_OK);
    const int32_t want[6] = {1, 3, 2, 2, 3, 4};
    assert_memory_equal(ix, want, sizeof want);
    assert_true(v[0] == 5 && v[2] == 3 && v[3] == 7);
    assert_int_equal(qy_topk(t, 6, v, ix), QY_ERR_SHAPE);
    qy_graph_free(g);
    /* transformers: get_cosine_schedule_with_warmup(warmup=10, total=110) */
    qy_lr_schedule s = {QY_SCHED_COSINE, 1.0f, 10, 110, 0.0f};
    assert_true(qy_lr_at(&s, 0) == 0.0f);
    assert_true(fabsf(qy_lr_at(&s, 5) - 0.5f) < 1e-7f);
    assert_true(qy_lr_at(&s, 10) == 1.0f);
    assert_true(fabsf(qy_lr_at(&s, 60) - 0.5f) < 1e-6f);
    assert_true(fabsf(qy_lr_at(&s, 110)) < 1e-6f);
    qy_lr_schedule lin = {QY_SCHED_LINEAR, 2.0f, 0, 100, 0.0f};
    assert_true(fabsf(qy_lr_at(&lin, 25) - 1.5f) < 1e-6f);
    assert_true(qy_lr_at(&lin, 150) == 0.0f);
}

static void test_gemm_vs_reference(void **st) {
    qy_pool *pool;
    assert_int_equal(qy_pool_new(2, &pool), QY_OK);
    qy_rng r;
    qy_rng_seed(&r, 3);
    enum { M = 300, N = 200, K = 70 };
    float *A = qy_mallocn(M * K, sizeof(float)), *B = qy_mallocn(K * N, sizeof(float));
    float *C1 = qy_calloc(M * N, sizeof(float)), *C2 = qy_calloc(M * N, sizeof(float));
    for (int i = 0; i < M * K; i++) A[i] = qy_rng_float(&r) - 0.5f;
    for (int i = 0; i < K * N; i++) B[i] = qy_rng_float(&r) - 0.5f;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            for (int i = 0; i < M * N; i++) C1[i] = C2[i] = 0.25f;
            qy_sgemm(pool, ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 2.0f, C1, N);
            qy_sgemm_fallback(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 2.0f, C2, N);
            for (int i = 0; i < M * N; i++) assert_true(fabsf(C1[i] - C2[i]) < 1e-5f);
        }
    qy_free(A);
    qy_free(B);
    qy_free(C1);
    qy_free(C2);
    qy_pool_free(pool);
}

/* products of 1-4 rows with a large B (batch-1 decoding) are split across the
 * pool: the same bits at 1 and 2 threads, and equal to the reference kernel */
static void test_gemm_few_rows(void **st) {
    qy_pool *p1, *p2;
    assert_int_equal(qy_pool_new(1, &p1), QY_OK);
    assert_int_equal(qy_pool_new(2, &p2), QY_OK);
    qy_rng r;
    qy_rng_seed(&r, 4);
    enum { N = 700, K = 300 }; /* B is 820 KB: above the split threshold */
    float *A = qy_mallocn(4 * K, sizeof(float)), *B = qy_mallocn(K * N, sizeof(float));
    float *C1 = qy_mallocn(4 * N, sizeof(float)), *C2 = qy_mallocn(4 * N, sizeof(float)),
          *C3 = qy_mallocn(4 * N, sizeof(float));
    for (int i = 0; i < 4 * K; i++) A[i] = qy_rng_float(&r) - 0.5f;
    for (int i = 0; i < K * N; i++) B[i] = qy_rng_float(&r) - 0.5f;
    for (int M = 1; M <= 4; M += 3)
        for (int tb = 0; tb < 2; tb++) {
            for (int i = 0; i < 4 * N; i++) C1[i] = C2[i] = C3[i] = 0.5f;
            qy_sgemm(p1, 0, tb, M, N, K, 1.0f, A, K, B, tb ? K : N, 1.0f, C1, N);
            qy_sgemm(p2, 0, tb, M, N, K, 1.0f, A, K, B, tb ? K : N, 1.0f, C2, N);
            qy_sgemm_fallback(0, tb, M, N, K, 1.0f, A, K, B, tb ? K : N, 1.0f, C3, N);
            assert_memory_equal(C1, C2, sizeof(float) * (size_t)(M * N));
            for (int i = 0; i < M * N; i++) assert_true(fabsf(C1[i] - C3[i]) < 1e-4f);
        }
    qy_free(A);
    qy_free(B);
    qy_free(C1);
    qy_free(C2);
    qy_free(C3);
    qy_pool_free(p1);
    qy_pool_free(p2);
}

/* resume: two AdamW steps in a row == one step, state copied into a new optimizer,
 * one more step (bit for bit); same for SGD with momentum */
static void test_optim_resume(void **st) {
    for (int kind = 0; kind < 2; kind++) {
        qy_params *ps;
        tl_model m;
        assert_int_equal(qy_params_new(&ps), QY_OK);
        assert_int_equal(tl_build(ps, &small, 5, &m), QY_OK);
        size_t n = qy_params_numel(ps), np = qy_params_count(ps);
        qy_rng r;
        qy_rng_seed(&r, 9);
        for (size_t i = 0; i < np; i++) {
            qy_tensor *p = qy_params_at(ps, i);
            for (size_t k = 0; k < p->n; k++) p->grad[k] = (float)qy_rng_normal(&r);
        }
        float *p0 = qy_mallocn(n, sizeof(float)), *p2 = qy_mallocn(n, sizeof(float));
        size_t off = 0;
        for (size_t i = 0; i < np; i++) {
            memcpy(p0 + off, qy_params_at(ps, i)->data, qy_params_at(ps, i)->n * sizeof(float));
            off += qy_params_at(ps, i)->n;
        }
        qy_optim *a, *b;
        if (kind == 0) {
            qy_adamw_cfg cfg = {.lr = 1e-2f, .weight_decay = 0.1f};
            assert_int_equal(qy_adamw_new(ps, &cfg, &a), QY_OK);
        } else {
            qy_sgd_cfg cfg = {.lr = 1e-2f, .momentum = 0.9f};
            assert_int_equal(qy_sgd_new(ps, &cfg, &a), QY_OK);
        }
        assert_int_equal(qy_optim_step(a, 1e-2f), QY_OK);
        /* the checkpoint after one step */
        float *p1 = qy_mallocn(n, sizeof(float)), *sm = qy_mallocn(n, sizeof(float)),
              *sv = qy_mallocn(n, sizeof(float));
        off = 0;
        for (size_t i = 0; i < np; i++) {
            qy_tensor *p = qy_params_at(ps, i);
            float *mm, *vv;
            assert_int_equal(qy_optim_param_state(a, i, &mm, &vv), QY_OK);
            memcpy(p1 + off, p->data, p->n * sizeof(float));
            memcpy(sm + off, mm, p->n * sizeof(float));
            if (vv) memcpy(sv + off, vv, p->n * sizeof(float));
            off += p->n;
        }
        assert_int_equal(qy_optim_step(a, 1e-2f), QY_OK);
        off = 0;
        for (size_t i = 0; i < np; i++) {
            qy_tensor *p = qy_params_at(ps, i);
            memcpy(p2 + off, p->data, p->n * sizeof(float));
            memcpy(p->data, p1 + off, p->n * sizeof(float)); /* restore the checkpoint */
            off += p->n;
        }
        if (kind == 0) {
            qy_adamw_cfg cfg = {.lr = 1e-2f, .weight_decay = 0.1f};
            assert_int_equal(qy_adamw_new(ps, &cfg, &b), QY_OK);
        } else {
            qy_sgd_cfg cfg = {.lr = 1e-2f, .momentum = 0.9f};
            assert_int_equal(qy_sgd_new(ps, &cfg, &b), QY_OK);
        }
        off = 0;
        for (size_t i = 0; i < np; i++) {
            float *mm, *vv;
            assert_int_equal(qy_optim_param_state(b, i, &mm, &vv), QY_OK);
            memcpy(mm, sm + off, qy_params_at(ps, i)->n * sizeof(float));
            if (vv) memcpy(vv, sv + off, qy_params_at(ps, i)->n * sizeof(float));
            off += qy_params_at(ps, i)->n;
        }
        qy_optim_set_steps(b, qy_optim_steps(a) - 1);
        assert_int_equal(qy_optim_step(b, 1e-2f), QY_OK);
        off = 0;
        for (size_t i = 0; i < np; i++) {
            qy_tensor *p = qy_params_at(ps, i);
            assert_memory_equal(p->data, p2 + off, p->n * sizeof(float));
            off += p->n;
        }
        float *mm, *vv;
        assert_int_equal(qy_optim_param_state(b, np, &mm, &vv), QY_ERR_RANGE);
        assert_true(memcmp(p0, p2, n * sizeof(float)) != 0);
        qy_free(p0);
        qy_free(p1);
        qy_free(p2);
        qy_free(sm);
        qy_free(sv);
        qy_optim_free(a);
        qy_optim_free(b);
        qy_params_free(ps);
    }
}

/* the vectorisable exp used by softmax/attention/CE/SiLU: within 2 ulp of exp */
static void test_fast_exp(void **st) {
    double worst = 0;
    for (int i = -870000; i <= 887000; i += 7) {
        float x = (float)i * 1e-4f;
        double ref = exp((double)x), got = qy_fexp(x);
        double rel = fabs(got - ref) / ref;
        if (rel > worst) worst = rel;
    }
    print_message("fast exp: max relative error %.3g on [-87, 88.7]\n", worst);
    assert_true(worst < 2.5e-7);
    assert_true(qy_fexp(-INFINITY) == 0.0f && qy_fexp(-100.0f) == 0.0f && isinf(qy_fexp(100.0f)));
    assert_true(qy_fexp(0.0f) == 1.0f);
    float xs[37];
    for (int i = 0; i < 37; i++) xs[i] = (float)i * 0.1f - 2.0f;
    double s = 0;
    for (int i = 0; i < 37; i++) s += exp((double)xs[i] - 1.0);
    assert_true(fabs(qy_sum_exp_shift(xs, 1.0f, 37) - s) < 1e-5 * s);
    assert_true(qy_max(xs, 37) == xs[36]);
}

/* error of f in ulps of ref's f32 value, worst over [-lim, lim] (steps of 3e-5)
 * and over [1e-8, 1) geometrically (relative accuracy near 0) */
static double max_ulp_error(float (*f)(float), double (*ref)(double), float lim) {
    double worst = 0;
    int n = (int)(lim * 1e5f);
    for (int i = -n; i <= n; i += 3) {
        float x = (float)i * 1e-5f;
        double r = ref((double)x);
        double ulp = nextafterf((float)fabs(r), INFINITY) - (float)fabs(r);
        double e = fabs(f(x) - r) / (ulp > 0 ? ulp : 1e-45);
        if (e > worst) worst = e;
    }
    for (float x = 1e-8f; x < 1.0f; x *= 1.01f) {
        double r = ref((double)x);
        double e = fabs(f(x) - r) / (nextafterf((float)r, 1.0f) - (float)r);
        if (e > worst) worst = e;
    }
    return worst;
}

static float ftanh(float x) { return qy_ftanh(x); }
static float ferf(float x) { return qy_ferf(x); }

/* the vectorisable tanh (GRU cells, qy_tanh): within 3 ulp of tanh on [-10, 10] */
static void test_fast_tanh(void **st) {
    double worst = max_ulp_error(ftanh, tanh, 10.0f);
    print_message("fast tanh: max error %.2f ulp\n", worst);
    assert_true(worst < 3.0);
    assert_true(qy_ftanh(INFINITY) == 1.0f && qy_ftanh(-INFINITY) == -1.0f && qy_ftanh(0.0f) == 0.0f);
    assert_true(qy_ftanh(100.0f) == 1.0f && isnan(qy_ftanh(NAN)));
}

/* the vectorisable erf used by exact GELU: within 3 ulp of erf on [-6, 6] */
static void test_fast_erf(void **st) {
    double worst = max_ulp_error(ferf, erf, 6.0f);
    print_message("fast erf: max error %.2f ulp\n", worst);
    assert_true(worst < 3.0);
    assert_true(qy_ferf(INFINITY) == 1.0f && qy_ferf(-INFINITY) == -1.0f && qy_ferf(0.0f) == 0.0f);
    assert_true(qy_ferf(-0.5f) == -qy_ferf(0.5f) && isnan(qy_ferf(NAN)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism_threads),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_nograd_frozen),
        cmocka_unit_test(test_accumulation),
        cmocka_unit_test(test_hooks),
        cmocka_unit_test(test_topk_schedule),
        cmocka_unit_test(test_gemm_vs_reference),
        cmocka_unit_test(test_gemm_few_rows),
        cmocka_unit_test(test_fast_exp),
        cmocka_unit_test(test_fast_erf),
        cmocka_unit_test(test_fast_tanh),
        cmocka_unit_test(test_optim_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
