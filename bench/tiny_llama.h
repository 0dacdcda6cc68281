/* tiny_llama.h — a Llama-style decoder (RMSNorm, RoPE, grouped-query causal
 * attention, SwiGLU MLP, untied LM head) written with the public tensor ops,
 * shared by the tensor benchmark and the tensor tests (PyTorch comparison,
 * determinism). Parameter names follow Hugging Face's LlamaForCausalLM. The real
 * model family lives in src/model/; this is the engine's own test workload. */
#ifndef QY_TINY_LLAMA_H
#define QY_TINY_LLAMA_H

#include <math.h>
#include <stdio.h>

#include "quarry/tensor.h"

#define TL_MAX_LAYERS 16

typedef struct tl_config {
    int64_t V, C, L, NH, NKV, FF;
    float eps, theta;
} tl_config;

typedef struct tl_layer {
    qy_tensor *ln1, *wq, *wk, *wv, *wo, *ln2, *wg, *wu, *wd;
} tl_layer;

typedef struct tl_model {
    tl_config cfg;
    qy_tensor *emb, *lnf, *head;
    tl_layer layer[TL_MAX_LAYERS];
} tl_model;

static inline int tl_add(qy_params *ps, const char *name, int64_t r, int64_t c, qy_tensor **out) {
    int64_t shape[2] = {r, c};
    return qy_params_add(ps, name, c ? 2 : 1, shape, c ? QY_GROUP_DECAY : QY_GROUP_NO_DECAY, out);
}

/* Declare and allocate the parameters, then initialise: N(0, 0.02) matrices, unit norms. */
static inline int tl_build(qy_params *ps, const tl_config *c, uint64_t seed, tl_model *m) {
    int st = QY_OK;
    char nm[96];
    int64_t HS = c->C / c->NH;
    m->cfg = *c;
    if (c->L > TL_MAX_LAYERS) return qy_error(QY_ERR_ARG, "tiny llama: %lld layers", (long long)c->L);
    st = st ? st : tl_add(ps, "model.embed_tokens.weight", c->V, c->C, &m->emb);
    for (int64_t l = 0; l < c->L && !st; l++) {
        tl_layer *y = &m->layer[l];
#define TL_P(field, fmt, r, cc)                                      \
    snprintf(nm, sizeof nm, "model.layers.%lld." fmt, (long long)l); \
    if (!st) st = tl_add(ps, nm, r, cc, &y->field);
        TL_P(ln1, "input_layernorm.weight", c->C, 0)
        TL_P(wq, "self_attn.q_proj.weight", c->C, c->C)
        TL_P(wk, "self_attn.k_proj.weight", c->NKV * HS, c->C)
        TL_P(wv, "self_attn.v_proj.weight", c->NKV * HS, c->C)
        TL_P(wo, "self_attn.o_proj.weight", c->C, c->C)
        TL_P(ln2, "post_attention_layernorm.weight", c->C, 0)
        TL_P(wg, "mlp.gate_proj.weight", c->FF, c->C)
        TL_P(wu, "mlp.up_proj.weight", c->FF, c->C)
        TL_P(wd, "mlp.down_proj.weight", c->C, c->FF)
#undef TL_P
    }
    st = st ? st : tl_add(ps, "model.norm.weight", c->C, 0, &m->lnf);
    st = st ? st : tl_add(ps, "lm_head.weight", c->V, c->C, &m->head);
    st = st ? st : qy_params_alloc(ps);
    if (st) return st;
    qy_rng rng;
    qy_rng_seed(&rng, seed);
    for (size_t i = 0; i < qy_params_count(ps); i++) {
        qy_tensor *t = qy_params_at(ps, i);
        qy_param_init_normal(t, &rng, t->ndim == 2 ? 0.02f : 0.0f, 1.0f);
    }
    return QY_OK;
}

/* Logits (B*T, V) for ids (B*T); each layer's output is tapped as "model.layers.L". */
static inline qy_tensor *tl_logits(qy_graph *g, const tl_model *m, const int32_t *ids, int64_t B, int64_t T) {
    const tl_config *c = &m->cfg;
    int64_t HS = c->C / c->NH;
    qy_tensor *x =
        qy_reshape(g, qy_index_select(g, m->emb, ids, (size_t)(B * T)), 3, (int64_t[]){B, T, c->C});
    for (int64_t l = 0; l < c->L; l++) {
        const tl_layer *y = &m->layer[l];
        qy_tensor *h = qy_rmsnorm(g, x, y->ln1, c->eps);
        qy_tensor *q = qy_rope(g, qy_matmul(g, h, y->wq, 0, 1), HS, c->theta, NULL, 0);
        qy_tensor *k = qy_rope(g, qy_matmul(g, h, y->wk, 0, 1), HS, c->theta, NULL, 0);
        qy_tensor *v = qy_matmul(g, h, y->wv, 0, 1);
        qy_tensor *a = qy_attention(g, q, k, v, c->NH, c->NKV, 0.0f, 1, NULL);
        x = qy_add(g, x, qy_matmul(g, a, y->wo, 0, 1));
        qy_tensor *h2 = qy_rmsnorm(g, x, y->ln2, c->eps);
        qy_tensor *mlp = qy_swiglu(g, qy_matmul(g, h2, y->wg, 0, 1), qy_matmul(g, h2, y->wu, 0, 1));
        x = qy_add(g, x, qy_matmul(g, mlp, y->wd, 0, 1));
        char nm[48];
        snprintf(nm, sizeof nm, "model.layers.%lld", (long long)l);
        x = qy_tap(g, nm, x);
    }
    x = qy_rmsnorm(g, x, m->lnf, c->eps);
    return qy_reshape(g, qy_matmul(g, x, m->head, 0, 1), 2, (int64_t[]){B * T, c->V});
}

/* Mean next-token cross-entropy (targets already shifted; -100 = ignore). */
static inline qy_tensor *tl_loss(qy_graph *g, const tl_model *m, const int32_t *ids, const int32_t *targets,
                                 int64_t B, int64_t T) {
    return qy_cross_entropy(g, tl_logits(g, m, ids, B, T), targets, NULL, -100, QY_REDUCE_MEAN);
}

/* Matmul FLOPs of one training step (forward + backward = 3x forward), attention
 * counted for the causal half. */
static inline double tl_step_flops(const tl_config *c, int64_t B, int64_t T) {
    double HS = (double)c->C / (double)c->NH, C = (double)c->C, kv = (double)c->NKV * HS;
    double per_tok =
        2.0 * (C * C * 2 + C * kv * 2 + 3 * C * (double)c->FF) * (double)c->L + 2.0 * C * (double)c->V;
    double attn =
        2.0 * 2.0 * (double)c->NH * HS * ((double)T + 1) / 2.0 * (double)c->L; /* QK^T and PV per token */
    return 3.0 * (per_tok + attn) * (double)(B * T);
}

#endif
