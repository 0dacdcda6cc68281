/* test_torch_compare.c — quarry's ops, a Llama block and the optimizers against
 * PyTorch (Debian python3-torch, run with /usr/bin/python3).
 *
 * This program runs every case on random inputs, writes inputs, outputs, the
 * output weights w and the input gradients of L = sum(w * y) as raw f32 files,
 * then runs tests/tensor/torch_compare.py, which recomputes each case with torch
 * (and torch.optim.AdamW / SGD / clip_grad_norm_) and checks outputs and gradients
 * at the tolerances it prints. Skipped (exit 77) unless QUARRY_HAVE_TORCH=1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../bench/tiny_llama.h"
#include "quarry/tensor.h"

static char dir[256];
static FILE *manifest;
static qy_rng rng;
static qy_pool *pool;

static void write_f32(const char *case_name, const char *what, const float *x, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.%s.f32", dir, case_name, what);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(x, sizeof(float), n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static void shape_to(FILE *f, int ndim, const int64_t *shape) {
    for (int d = 0; d < ndim; d++) fprintf(f, "%s%lld", d ? "x" : "", (long long)shape[d]);
}

typedef qy_tensor *(*build_fn)(qy_graph *g, qy_tensor **in);

static const int32_t ce_targets[8] = {3, -100, 0, 6, 6, 1, 2, 5};
static const float ce_weights[8] = {1.0f, 2.0f, 0.5f, 1.5f, 1.0f, 0.25f, 3.0f, 1.0f};
static uint8_t pad_mask[2 * 70];
static const int32_t emb_ids[6] = {4, 0, 9, 4, 4, 1};
static const int32_t rope_pos[2 * 5] = {0, 1, 2, 3, 4, 7, 3, 100, 2, 9};

static qy_tensor *c_matmul_nt(qy_graph *g, qy_tensor **in) { return qy_matmul(g, in[0], in[1], 0, 1); }
static qy_tensor *c_matmul_tn(qy_graph *g, qy_tensor **in) { return qy_matmul(g, in[0], in[1], 1, 0); }
static qy_tensor *c_bmm(qy_graph *g, qy_tensor **in) { return qy_matmul(g, in[0], in[1], 0, 0); }
static qy_tensor *c_add(qy_graph *g, qy_tensor **in) { return qy_add(g, in[0], in[1]); }
static qy_tensor *c_sub(qy_graph *g, qy_tensor **in) { return qy_sub(g, in[0], in[1]); }
static qy_tensor *c_mul(qy_graph *g, qy_tensor **in) { return qy_mul(g, in[0], in[1]); }
static qy_tensor *c_gelu_tanh(qy_graph *g, qy_tensor **in) { return qy_gelu_tanh(g, in[0]); }
static qy_tensor *c_gelu_erf(qy_graph *g, qy_tensor **in) { return qy_gelu_erf(g, in[0]); }
static qy_tensor *c_silu(qy_graph *g, qy_tensor **in) { return qy_silu(g, in[0]); }
static qy_tensor *c_relu(qy_graph *g, qy_tensor **in) { return qy_relu(g, in[0]); }
static qy_tensor *c_tanh(qy_graph *g, qy_tensor **in) { return qy_tanh(g, in[0]); }
static qy_tensor *c_sigmoid(qy_graph *g, qy_tensor **in) { return qy_sigmoid(g, in[0]); }
static qy_tensor *c_softmax(qy_graph *g, qy_tensor **in) { return qy_softmax(g, in[0]); }
static qy_tensor *c_log_softmax(qy_graph *g, qy_tensor **in) { return qy_log_softmax(g, in[0]); }
static qy_tensor *c_scale_rows(qy_graph *g, qy_tensor **in) { return qy_scale_rows(g, in[0], in[1]); }
static qy_tensor *c_swiglu(qy_graph *g, qy_tensor **in) { return qy_swiglu(g, in[0], in[1]); }
static qy_tensor *c_layernorm(qy_graph *g, qy_tensor **in) {
    return qy_layernorm(g, in[0], in[1], in[2], 1e-5f);
}
static qy_tensor *c_rmsnorm(qy_graph *g, qy_tensor **in) { return qy_rmsnorm(g, in[0], in[1], 1e-6f); }
static qy_tensor *c_l2(qy_graph *g, qy_tensor **in) { return qy_l2_normalize(g, in[0], 1e-12f); }
static qy_tensor *c_embedding(qy_graph *g, qy_tensor **in) { return qy_index_select(g, in[0], emb_ids, 6); }
static qy_tensor *c_concat(qy_graph *g, qy_tensor **in) { return qy_concat(g, in, 2, 1); }
static qy_tensor *c_rope_half(qy_graph *g, qy_tensor **in) {
    return qy_rope(g, in[0], 8, 10000.0f, rope_pos, 0);
}
static qy_tensor *c_rope_inter(qy_graph *g, qy_tensor **in) {
    return qy_rope(g, in[0], 8, 500000.0f, rope_pos, 1);
}
static qy_tensor *c_attn_causal(qy_graph *g, qy_tensor **in) {
    return qy_attention(g, in[0], in[1], in[2], 4, 2, 0.0f, 1, NULL);
}
static qy_tensor *c_attn_padded(qy_graph *g, qy_tensor **in) {
    return qy_attention(g, in[0], in[1], in[2], 4, 2, 0.0f, 0, pad_mask);
}
static qy_tensor *c_attn_cached(qy_graph *g, qy_tensor **in) {
    return qy_attention(g, in[0], in[1], in[2], 4, 1, 0.0f, 1, NULL);
}
static qy_tensor *c_ce_mean(qy_graph *g, qy_tensor **in) {
    return qy_cross_entropy(g, in[0], ce_targets, NULL, -100, QY_REDUCE_MEAN);
}
static qy_tensor *c_ce_none(qy_graph *g, qy_tensor **in) {
    return qy_cross_entropy(g, in[0], ce_targets, NULL, -100, QY_REDUCE_NONE);
}
static qy_tensor *c_ce_wsum(qy_graph *g, qy_tensor **in) {
    return qy_cross_entropy(g, in[0], ce_targets, ce_weights, -100, QY_REDUCE_SUM);
}
static qy_tensor *c_kl(qy_graph *g, qy_tensor **in) { return qy_kl_div(g, in[0], in[1], 2.0f); }
static qy_tensor *c_mse(qy_graph *g, qy_tensor **in) { return qy_mse(g, in[0], in[1]); }
static qy_tensor *c_infonce(qy_graph *g, qy_tensor **in) { return qy_infonce(g, in[0], in[1], 0.05f); }
static qy_tensor *c_gru(qy_graph *g, qy_tensor **in) {
    return qy_gru_cell(g, in[0], in[1], in[2], in[3], qy_slice(g, in[4], 0, 0, 18),
                       qy_slice(g, in[4], 0, 18, 18));
}
static qy_tensor *c_sum_mean(qy_graph *g, qy_tensor **in) {
    return qy_concat(g, (qy_tensor *[]){qy_sum(g, in[0]), qy_mean(g, in[0]), qy_sum_last(g, in[0])}, 3, 0);
}

typedef struct tcase {
    const char *name;
    build_fn fn;
    int nin;
    int ndim[5];
    int64_t shape[5][4];
} tcase;

static const tcase cases[] = {
    {"matmul_nt", c_matmul_nt, 2, {3, 2}, {{2, 5, 16}, {12, 16}}},
    {"matmul_tn", c_matmul_tn, 2, {2, 2}, {{16, 5}, {16, 12}}},
    {"bmm", c_bmm, 2, {3, 3}, {{3, 5, 7}, {3, 7, 4}}},
    {"add_bcast", c_add, 2, {3, 1}, {{2, 3, 8}, {8}}},
    {"sub_bcast", c_sub, 2, {3, 2}, {{2, 3, 8}, {3, 8}}},
    {"mul_bcast", c_mul, 2, {3, 1}, {{2, 3, 8}, {8}}},
    {"gelu_tanh", c_gelu_tanh, 1, {2}, {{6, 40}}},
    {"gelu_erf", c_gelu_erf, 1, {2}, {{6, 40}}},
    {"silu", c_silu, 1, {2}, {{6, 40}}},
    {"relu", c_relu, 1, {2}, {{6, 40}}},
    {"tanh", c_tanh, 1, {2}, {{6, 40}}},
    {"sigmoid", c_sigmoid, 1, {2}, {{6, 40}}},
    {"softmax", c_softmax, 1, {3}, {{2, 3, 50}}},
    {"log_softmax", c_log_softmax, 1, {3}, {{2, 3, 50}}},
    {"scale_rows", c_scale_rows, 2, {3, 2}, {{2, 5, 16}, {2, 5}}},
    {"swiglu", c_swiglu, 2, {2, 2}, {{6, 40}, {6, 40}}},
    {"layernorm", c_layernorm, 3, {3, 1, 1}, {{2, 5, 64}, {64}, {64}}},
    {"rmsnorm", c_rmsnorm, 2, {3, 1}, {{2, 5, 64}, {64}}},
    {"l2_normalize", c_l2, 1, {2}, {{6, 16}}},
    {"embedding", c_embedding, 1, {2}, {{10, 8}}},
    {"concat", c_concat, 2, {3, 3}, {{2, 3, 4}, {2, 5, 4}}},
    {"rope_half", c_rope_half, 1, {3}, {{2, 5, 24}}},
    {"rope_interleaved", c_rope_inter, 1, {3}, {{2, 5, 24}}},
    {"attention_causal_gqa", c_attn_causal, 3, {3, 3, 3}, {{2, 70, 64}, {2, 70, 32}, {2, 70, 32}}},
    {"attention_padded", c_attn_padded, 3, {3, 3, 3}, {{2, 70, 64}, {2, 70, 32}, {2, 70, 32}}},
    {"attention_cached_mqa", c_attn_cached, 3, {3, 3, 3}, {{2, 7, 64}, {2, 75, 16}, {2, 75, 16}}},
    {"cross_entropy_mean", c_ce_mean, 1, {2}, {{8, 7}}},
    {"cross_entropy_none", c_ce_none, 1, {2}, {{8, 7}}},
    {"cross_entropy_weighted_sum", c_ce_wsum, 1, {2}, {{8, 7}}},
    {"kl_div", c_kl, 2, {2, 2}, {{5, 9}, {5, 9}}},
    {"mse", c_mse, 2, {2, 2}, {{5, 9}, {5, 9}}},
    {"infonce", c_infonce, 2, {2, 2}, {{6, 8}, {6, 8}}},
    {"gru_cell", c_gru, 5, {2, 2, 2, 2, 1}, {{3, 4}, {3, 6}, {18, 4}, {18, 6}, {36}}},
    {"sum_mean", c_sum_mean, 1, {2}, {{1, 33}}},
};

static void run_case(const tcase *c) {
    qy_graph *g;
    if (qy_graph_new(pool, &g)) exit(1);
    qy_tensor *in[5];
    fprintf(manifest, "op %s %d", c->name, c->nin);
    for (int k = 0; k < c->nin; k++) {
        size_t n = 1;
        for (int d = 0; d < c->ndim[k]; d++) n *= (size_t)c->shape[k][d];
        float *x = qy_mallocn(n, sizeof(float));
        for (size_t i = 0; i < n; i++) x[i] = (float)(qy_rng_normal(&rng));
        in[k] = qy_input(g, c->ndim[k], c->shape[k], x);
        qy_set_requires_grad(in[k], 1);
        char what[8];
        snprintf(what, sizeof what, "x%d", k);
        write_f32(c->name, what, x, n);
        fputc(' ', manifest);
        shape_to(manifest, c->ndim[k], c->shape[k]);
        qy_free(x);
    }
    qy_tensor *y = c->fn(g, in);
    if (!y) {
        fprintf(stderr, "%s: %s\n", c->name, qy_errmsg());
        exit(1);
    }
    float *w = qy_mallocn(y->n, sizeof(float));
    for (size_t i = 0; i < y->n; i++) w[i] = (float)(qy_rng_double(&rng) * 2 - 1);
    write_f32(c->name, "y", y->data, y->n);
    write_f32(c->name, "w", w, y->n);
    if (qy_graph_backward_from(g, y, w)) {
        fprintf(stderr, "%s: backward: %s\n", c->name, qy_errmsg());
        exit(1);
    }
    for (int k = 0; k < c->nin; k++) {
        char what[8];
        snprintf(what, sizeof what, "g%d", k);
        write_f32(c->name, what, in[k]->grad, in[k]->n);
    }
    fprintf(manifest, " ");
    shape_to(manifest, y->ndim, y->shape);
    fprintf(manifest, "\n");
    qy_free(w);
    qy_graph_free(g);
}

/* the Llama stack: loss and parameter gradients, then AdamW and SGD steps */
static void run_block(void) {
    const tl_config cfg = {
        .V = 64, .C = 64, .L = 2, .NH = 4, .NKV = 2, .FF = 96, .eps = 1e-5f, .theta = 10000.0f};
    enum { B = 2, T = 70 };
    qy_params *ps;
    tl_model m;
    if (qy_params_new(&ps) || tl_build(ps, &cfg, 11, &m)) exit(1);
    /* larger weights than the 0.02 init so that every part matters numerically */
    for (size_t i = 0; i < qy_params_count(ps); i++) {
        qy_tensor *p = qy_params_at(ps, i);
        for (size_t k = 0; k < p->n; k++)
            p->data[k] = p->ndim == 2 ? (float)(qy_rng_normal(&rng) * 0.15)
                                      : 1.0f + (float)(qy_rng_normal(&rng) * 0.1);
    }
    int32_t ids[B * T], tg[B * T];
    float idf[B * T], tgf[B * T];
    for (int i = 0; i < B * T; i++) {
        ids[i] = (int32_t)qy_rng_below(&rng, (uint64_t)cfg.V);
        tg[i] = i % 9 == 4 ? -100 : (int32_t)qy_rng_below(&rng, (uint64_t)cfg.V);
        idf[i] = (float)ids[i];
        tgf[i] = (float)tg[i];
    }
    write_f32("block", "ids", idf, B * T);
    write_f32("block", "targets", tgf, B * T);
    fprintf(manifest, "block %lld %lld %lld %lld %lld %lld %d %d %zu\n", (long long)cfg.V, (long long)cfg.C,
            (long long)cfg.L, (long long)cfg.NH, (long long)cfg.NKV, (long long)cfg.FF, B, T,
            qy_params_count(ps));
    for (size_t i = 0; i < qy_params_count(ps); i++) {
        qy_tensor *p = qy_params_at(ps, i);
        fprintf(manifest, "param %s ", p->name);
        shape_to(manifest, p->ndim, p->shape);
        fprintf(manifest, "\n");
        write_f32(p->name, "init", p->data, p->n);
    }
    qy_graph *g;
    if (qy_graph_new(pool, &g)) exit(1);
    qy_tensor *loss = tl_loss(g, &m, ids, tg, B, T);
    if (!loss || qy_graph_backward(g, loss)) {
        fprintf(stderr, "block: %s\n", qy_errmsg());
        exit(1);
    }
    write_f32("block", "loss", loss->data, 1);
    size_t np = qy_params_count(ps);
    float **g0 = qy_calloc(np, sizeof *g0), **p0 = qy_calloc(np, sizeof *p0);
    for (size_t i = 0; i < np; i++) {
        qy_tensor *p = qy_params_at(ps, i);
        write_f32(p->name, "grad", p->grad, p->n);
        g0[i] = qy_mallocn(p->n, sizeof(float));
        p0[i] = qy_mallocn(p->n, sizeof(float));
        memcpy(g0[i], p->grad, p->n * sizeof(float));
        memcpy(p0[i], p->data, p->n * sizeof(float));
    }
    static const float factor[3] = {1.0f, -0.5f, 2.0f};
    /* AdamW: lr 1e-2, betas (0.9, 0.95), wd 0.1 on matrices, 0 on norms */
    qy_optim *opt;
    if (qy_adamw_new(
            ps,
            &(qy_adamw_cfg){.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f},
            &opt))
        exit(1);
    for (int s = 0; s < 3; s++) {
        for (size_t i = 0; i < np; i++) {
            qy_tensor *p = qy_params_at(ps, i);
            for (size_t k = 0; k < p->n; k++) p->grad[k] = g0[i][k] * factor[s];
        }
        qy_optim_step(opt, 1e-2f);
    }
    qy_optim_free(opt);
    for (size_t i = 0; i < np; i++) {
        qy_tensor *p = qy_params_at(ps, i);
        write_f32(p->name, "adamw", p->data, p->n);
        memcpy(p->data, p0[i], p->n * sizeof(float));
    }
    /* SGD: momentum 0.9, Nesterov, wd 0.01, gradients clipped to norm 0.5 each step */
    if (qy_sgd_new(ps, &(qy_sgd_cfg){.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f, .nesterov = 1},
                   &opt))
        exit(1);
    float norms[3];
    for (int s = 0; s < 3; s++) {
        for (size_t i = 0; i < np; i++) {
            qy_tensor *p = qy_params_at(ps, i);
            for (size_t k = 0; k < p->n; k++) p->grad[k] = g0[i][k] * factor[s];
        }
        qy_clip_grad_norm(ps, 0.5f, pool, &norms[s]);
        qy_optim_step(opt, 0.1f);
    }
    write_f32("block", "norms", norms, 3);
    qy_optim_free(opt);
    for (size_t i = 0; i < np; i++) {
        qy_tensor *p = qy_params_at(ps, i);
        write_f32(p->name, "sgd", p->data, p->n);
        memcpy(p->data, p0[i], p->n * sizeof(float));
    }
    /* six real training steps on the same graph (arena and gradient buffers reused
     * across resets): forward, backward, clip to 1.0, AdamW */
    enum { STEPS = 6 };
    float losses[STEPS];
    if (qy_adamw_new(ps, &(qy_adamw_cfg){.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .weight_decay = 0.1f},
                     &opt))
        exit(1);
    for (int s = 0; s < STEPS; s++) {
        qy_graph_reset(g);
        qy_params_zero_grad(ps);
        qy_tensor *l = tl_loss(g, &m, ids, tg, B, T);
        if (!l || qy_graph_backward(g, l) || qy_clip_grad_norm(ps, 1.0f, pool, NULL) ||
            qy_optim_step(opt, 3e-3f)) {
            fprintf(stderr, "block training: %s\n", qy_errmsg());
            exit(1);
        }
        losses[s] = l->data[0];
    }
    qy_optim_free(opt);
    write_f32("block", "train_losses", losses, STEPS);
    for (size_t i = 0; i < np; i++) {
        qy_tensor *p = qy_params_at(ps, i);
        write_f32(p->name, "trained", p->data, p->n);
        qy_free(g0[i]);
        qy_free(p0[i]);
    }
    qy_free(g0);
    qy_free(p0);
    qy_graph_free(g);
    qy_params_free(ps);
}

int main(void) {
    const char *have = getenv("QUARRY_HAVE_TORCH"), *src = getenv("QUARRY_SOURCE_DIR");
    if (!have || strcmp(have, "1") != 0) {
        printf("SKIP: PyTorch comparison needs python3-torch (QUARRY_HAVE_TORCH=1 from cmake)\n");
        return 77;
    }
    if (!src) {
        printf("SKIP: QUARRY_SOURCE_DIR is not set (run through ctest)\n");
        return 77;
    }
    snprintf(dir, sizeof dir, "/tmp/qy_torch_cmp_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    char path[512];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    manifest = fopen(path, "w");
    if (!manifest || qy_pool_new(2, &pool)) return 1;
    qy_rng_seed(&rng, 2024);
    for (int i = 0; i < 140; i++) pad_mask[i] = !((i >= 50 && i < 70) || i == 75 || i == 80);
    {
        float mf[140];
        for (int i = 0; i < 140; i++) mf[i] = pad_mask[i];
        write_f32("attention_padded", "mask", mf, 140);
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    run_block();
    fclose(manifest);
    qy_pool_free(pool);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/tensor/torch_compare.py %s", src, dir);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return rc == 0 ? 0 : 1;
}
