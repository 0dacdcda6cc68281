/* lm.c — transformer families on the tensor engine: GPT-2, Llama, Qwen2, Qwen3, BERT.
 *
 * Each family is one forward function written with qy_* ops, so backward,
 * no-grad inference, frozen parameters and activation hooks come from the engine.
 * Parameters keep the checkpoint's names and layouts; the order is the spec's
 * (PyTorch named_parameters()). Tapped activations, per layer l:
 *   "layers.l.in"        block input (residual stream)
 *   "layers.l.attn.out"  attention output after its projection
 *   "layers.l.mlp.in"    MLP input after the norm ("keys" for editing methods)
 *   "layers.l.mlp.act"   MLP hidden activation (before the down projection)
 *   "layers.l.mlp.out"   MLP output
 *   "layers.l.out"       block output; and "final" after the final norm. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "quarry/gen.h"
#include "quarry/lm.h"

struct qy_lm {
    qy_lm_config cfg;
    qy_lm_spec *spec;
    qy_params *ps;
    qy_tensor **param; /* one per spec entry, spec order */
    qy_tensor *head;   /* LM head: lm_head.weight, or the token embedding when tied */
    float *inv_freq;   /* RoPE inverse frequencies (head_dim/2), scaling applied */
};

const qy_lm_config *qy_lm_get_config(const qy_lm *lm) { return &lm->cfg; }
qy_params *qy_lm_params(qy_lm *lm) { return lm->ps; }
const float *qy_lm_rope_inv_freq(const qy_lm *lm) { return lm->inv_freq; }

void qy_lm_free(qy_lm *lm) {
    if (!lm) return;
    qy_params_free(lm->ps);
    qy_lm_spec_free(lm->spec);
    qy_free(lm->param);
    qy_free(lm->inv_freq);
    qy_free(lm);
}

static int check_supported(const qy_lm_config *c) {
    if (c->num_heads % c->num_kv_heads)
        return qy_error(QY_ERR_ARG,
                        "config.json: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                        (long long)c->num_heads, (long long)c->num_kv_heads);
    if (c->use_rope && c->head_dim % 2)
        return qy_error(QY_ERR_ARG, "config.json: head_dim %lld must be even for rotary embeddings",
                        (long long)c->head_dim);
    return QY_OK;
}

/* RoPE inverse frequencies with the config's scaling, in f32 as transformers
 * computes them (_compute_linear_scaling_rope_parameters, _compute_llama3_parameters). */
static void rope_frequencies(const qy_lm_config *c, float *inv) {
    int64_t half = c->head_dim / 2;
    qy_rope_inv_freq(c->head_dim, (float)c->rope_theta, inv);
    if (c->rope_scaling == QY_ROPE_LINEAR) {
        for (int64_t i = 0; i < half; i++) inv[i] = inv[i] / (float)c->rope_factor;
    } else if (c->rope_scaling == QY_ROPE_LLAMA3) {
        float factor = (float)c->rope_factor, low = (float)c->rope_low_freq_factor,
              high = (float)c->rope_high_freq_factor, old_ctx = (float)c->rope_original_max_positions;
        float low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
        for (int64_t i = 0; i < half; i++) {
            float wavelen = (float)(2.0 * 3.141592653589793) / inv[i];
            float scaled = wavelen > low_wavelen ? inv[i] / factor : inv[i];
            float smooth = (old_ctx / wavelen - low) / (high - low);
            float smoothed = (1.0f - smooth) * scaled / factor + smooth * scaled;
            int medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
            inv[i] = medium ? smoothed : scaled;
        }
    }
}

/* Declare the spec's parameters (norm gains and biases in the no-decay group). */
static int lm_alloc(const qy_lm_config *cfg, qy_lm **out) {
    *out = NULL;
    int st = check_supported(cfg);
    if (st) return st;
    qy_lm *lm = qy_calloc(1, sizeof *lm);
    if (!lm) return QY_ERR_NOMEM;
    lm->cfg = *cfg;
    if ((st = qy_lm_spec_new(cfg, &lm->spec)) || (st = qy_params_new(&lm->ps))) goto fail;
    size_t n = qy_lm_spec_count(lm->spec);
    lm->param = qy_calloc(n, sizeof *lm->param);
    if (!lm->param) {
        st = QY_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const qy_lm_param *p = qy_lm_spec_at(lm->spec, i);
        int group =
            (p->role == QY_ROLE_NORM_WEIGHT || p->role == QY_ROLE_NORM_BIAS || p->role == QY_ROLE_BIAS)
                ? QY_GROUP_NO_DECAY
                : QY_GROUP_DECAY;
        if ((st = qy_params_add(lm->ps, p->name, p->ndim, p->shape, group, &lm->param[i]))) goto fail;
    }
    if ((st = qy_params_alloc(lm->ps))) goto fail;
    if (cfg->use_rope) {
        lm->inv_freq = qy_mallocn((size_t)(cfg->head_dim / 2), sizeof(float));
        if (!lm->inv_freq) {
            st = QY_ERR_NOMEM;
            goto fail;
        }
        rope_frequencies(cfg, lm->inv_freq);
    }
    long h = qy_lm_spec_find(lm->spec, "lm_head.weight");
    lm->head = h >= 0 ? lm->param[h] : lm->param[0]; /* the token embedding comes first */
    *out = lm;
    return QY_OK;
fail:
    qy_lm_free(lm);
    return st;
}

int qy_lm_load(const char *dir, qy_lm **out) {
    *out = NULL;
    qy_lm_config cfg;
    int st = qy_lm_config_read_dir(dir, &cfg);
    if (st) return st;
    qy_lm *lm;
    if ((st = lm_alloc(&cfg, &lm))) return st;
    qy_st_file *f = NULL;
    const qy_st_tensor **found = NULL;
    size_t n = qy_lm_spec_count(lm->spec);
    if ((st = qy_st_open_dir(dir, &f))) goto done;
    found = qy_calloc(n, sizeof *found);
    if (!found) {
        st = QY_ERR_NOMEM;
        goto done;
    }
    if ((st = qy_lm_spec_check(lm->spec, f, found, NULL))) goto done;
    for (size_t i = 0; i < n && !st; i++) {
        if (!found[i]) continue; /* an absent optional parameter (BERT pooler) stays zero */
        st = qy_st_read_f32(found[i], lm->param[i]->data, lm->param[i]->n);
    }
done:
    qy_free(found);
    qy_st_close(f);
    if (st) {
        qy_lm_free(lm);
        return st;
    }
    *out = lm;
    return QY_OK;
}

int qy_lm_new(const qy_lm_config *cfg, float init_std, uint64_t seed, qy_lm **out) {
    int st = lm_alloc(cfg, out);
    if (st) return st;
    qy_lm *lm = *out;
    qy_rng base;
    qy_rng_seed(&base, seed);
    for (size_t i = 0; i < qy_lm_spec_count(lm->spec); i++) {
        const qy_lm_param *p = qy_lm_spec_at(lm->spec, i);
        qy_rng r = qy_rng_split(&base, i);
        if (p->role == QY_ROLE_NORM_WEIGHT)
            qy_param_init_normal(lm->param[i], &r, 0.0f, 1.0f);
        else if (p->role == QY_ROLE_NORM_BIAS || p->role == QY_ROLE_BIAS)
            qy_param_init_normal(lm->param[i], &r, 0.0f, 0.0f);
        else
            qy_param_init_normal(lm->param[i], &r, init_std, 0.0f);
    }
    return QY_OK;
}

/* parameter by printf-formatted name (NULL if absent: optional pieces) */
static qy_tensor *P(const qy_lm *lm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static qy_tensor *P(const qy_lm *lm, const char *fmt, ...) {
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return qy_params_find(lm->ps, name);
}

/* ------------------------------------------------------------- KV cache */

/* Keys and values of every layer for R rows, for decoding without recomputing
 * the prefix: k/v are [row][layer][position][NKV*HS]. */
typedef struct lm_cache {
    int rows, max_len, layers;
    int64_t kvc; /* NKV*HS */
    int *len;    /* positions filled per row */
    float *k, *v;
} lm_cache;

static float *cache_at(const lm_cache *c, float *base, int row, int layer, int pos) {
    return base + (((size_t)row * (size_t)c->layers + (size_t)layer) * (size_t)c->max_len + (size_t)pos) *
                      (size_t)c->kvc;
}

typedef struct cattn_job {
    const lm_cache *c;
    int layer, T;
    int64_t nh, nkv, hs;
    float scale;
    const float *q; /* (R,T,NH*HS) */
    float *out;     /* (R,T,NH*HS) */
    float *scratch; /* per thread: max_len floats */
} cattn_job;

/* dot product with 8 partial sums combined in a fixed order: vectorisable
 * without reassociating, so the result does not depend on the build */
static float dot_lanes(const float *a, const float *b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[i + l] * b[i + l];
    float d = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) d += a[i] * b[i];
    return d;
}

/* one (row, head) per item: every new query t attends to positions [0, len+t] */
static void cattn_range(void *vctx, size_t s, size_t e, int tid) {
    const cattn_job *j = vctx;
    const lm_cache *c = j->c;
    float *p = j->scratch + (size_t)tid * (size_t)c->max_len;
    for (size_t item = s; item < e; item++) {
        int r = (int)(item / (size_t)j->nh);
        int64_t h = (int64_t)(item % (size_t)j->nh), kvh = h / (j->nh / j->nkv);
        for (int t = 0; t < j->T; t++) {
            int nkeys = c->len[r] + t + 1;
            const float *q =
                j->q + ((size_t)r * (size_t)j->T + (size_t)t) * (size_t)(j->nh * j->hs) + (size_t)(h * j->hs);
            float mx = -INFINITY;
            for (int k = 0; k < nkeys; k++) {
                const float *kv = cache_at(c, c->k, r, j->layer, k) + kvh * j->hs;
                p[k] = dot_lanes(q, kv, j->hs) * j->scale;
                if (p[k] > mx) mx = p[k];
            }
            float sum = 0;
            for (int k = 0; k < nkeys; k++) {
                p[k] = expf(p[k] - mx);
                sum += p[k];
            }
            float *o = j->out + ((size_t)r * (size_t)j->T + (size_t)t) * (size_t)(j->nh * j->hs) +
                       (size_t)(h * j->hs);
            for (int64_t i = 0; i < j->hs; i++) o[i] = 0;
            for (int k = 0; k < nkeys; k++) {
                const float *vv = cache_at(c, c->v, r, j->layer, k) + kvh * j->hs;
                float w = p[k] / sum;
                for (int64_t i = 0; i < j->hs; i++) o[i] += w * vv[i];
            }
        }
    }
}

/* Attention of layer `layer`: the training path (whole sequences, qy_attention)
 * or, with a cache, append the new keys/values and attend over the cached prefix
 * (no-grad decoding). q (B,T,NH*HS), k/v (B,T,NKV*HS). */
static qy_tensor *attend(qy_graph *g, qy_tensor *q, qy_tensor *k, qy_tensor *v, const qy_lm_config *cfg,
                         const qy_lm_batch *b, lm_cache *cache, int layer, int causal) {
    if (!cache)
        return qy_attention(g, q, k, v, cfg->num_heads, cfg->num_kv_heads, 0.0f, causal, b->attn_mask);
    if (!q || !k || !v) return NULL;
    int R = b->B, T = b->T;
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) {
            size_t src = ((size_t)r * (size_t)T + (size_t)t) * (size_t)cache->kvc;
            memcpy(cache_at(cache, cache->k, r, layer, cache->len[r] + t), k->data + src,
                   sizeof(float) * (size_t)cache->kvc);
            memcpy(cache_at(cache, cache->v, r, layer, cache->len[r] + t), v->data + src,
                   sizeof(float) * (size_t)cache->kvc);
        }
    qy_tensor *out = qy_zeros(g, 3, q->shape);
    if (!out) return NULL;
    qy_pool *pool = qy_graph_pool(g);
    int nth = qy_pool_threads(pool);
    float *scratch = qy_mallocn((size_t)nth * (size_t)cache->max_len, sizeof(float));
    if (!scratch) return NULL;
    cattn_job j = {cache,
                   layer,
                   T,
                   cfg->num_heads,
                   cfg->num_kv_heads,
                   cfg->head_dim,
                   1.0f / sqrtf((float)cfg->head_dim),
                   q->data,
                   out->data,
                   scratch};
    qy_pool_for(pool, (size_t)R * (size_t)cfg->num_heads, 1, cattn_range, &j);
    qy_free(scratch);
    return out;
}

/* name an activation "layers.L.WHAT" and give hooks a chance at it */
static qy_tensor *tap(qy_graph *g, qy_tensor *t, const char *what, int layer) {
    char name[64];
    snprintf(name, sizeof name, "layers.%d.%s", layer, what);
    return qy_tap(g, name, t);
}

/* y = x W^T + b (nn.Linear: W (out,in)) */
static qy_tensor *linear(qy_graph *g, qy_tensor *x, qy_tensor *w, qy_tensor *b) {
    qy_tensor *y = qy_matmul(g, x, w, 0, 1);
    return b ? qy_add(g, y, b) : y;
}

/* y = x W + b (GPT-2 Conv1D: W (in,out)) */
static qy_tensor *conv1d(qy_graph *g, qy_tensor *x, qy_tensor *w, qy_tensor *b) {
    return qy_add(g, qy_matmul(g, x, w, 0, 0), b);
}

static qy_tensor *embed(qy_graph *g, qy_tensor *table, const int32_t *ids, int B, int T) {
    qy_tensor *e = qy_index_select(g, table, ids, (size_t)B * (size_t)T);
    int64_t shape[3] = {B, T, table->shape[1]};
    return qy_reshape(g, e, 3, shape);
}

/* the batch's positions, or a new array 0..T-1 per row (qy_free it); NULL when out of memory */
static int32_t *positions_or_default(const qy_lm_batch *b) {
    if (b->positions) return (int32_t *)b->positions;
    size_t bt = (size_t)b->B * (size_t)b->T;
    int32_t *pos = qy_mallocn(bt, sizeof(int32_t));
    if (pos)
        for (size_t i = 0; i < bt; i++) pos[i] = (int32_t)(i % (size_t)b->T);
    return pos;
}

static qy_tensor *act(qy_graph *g, qy_tensor *x, qy_lm_act a) {
    switch (a) {
    case QY_ACT_GELU: return qy_gelu_erf(g, x);
    case QY_ACT_GELU_TANH: return qy_gelu_tanh(g, x);
    case QY_ACT_RELU: return qy_relu(g, x);
    default: return qy_silu(g, x);
    }
}

static qy_tensor *forward_gpt2(qy_lm *lm, qy_graph *g, const qy_lm_batch *b, lm_cache *cache) {
    const qy_lm_config *c = &lm->cfg;
    int64_t C = c->hidden_size;
    float eps = (float)c->norm_eps;
    qy_tensor *x = embed(g, P(lm, "transformer.wte.weight"), b->ids, b->B, b->T);
    /* learned positions: rows 0..T-1 of wpe (or the given positions) */
    int32_t *pos = positions_or_default(b);
    if (!pos) return NULL;
    x = qy_add(g, x, embed(g, P(lm, "transformer.wpe.weight"), pos, b->B, b->T));
    if (pos != b->positions) qy_free(pos); /* ops copy their index arrays */
    for (int l = 0; l < (int)c->num_layers; l++) {
        x = tap(g, x, "in", l);
        qy_tensor *h = qy_layernorm(g, x, P(lm, "transformer.h.%d.ln_1.weight", l),
                                    P(lm, "transformer.h.%d.ln_1.bias", l), eps);
        qy_tensor *qkv = conv1d(g, h, P(lm, "transformer.h.%d.attn.c_attn.weight", l),
                                P(lm, "transformer.h.%d.attn.c_attn.bias", l));
        qy_tensor *q = qy_slice(g, qkv, 2, 0, C), *k = qy_slice(g, qkv, 2, C, C),
                  *v = qy_slice(g, qkv, 2, 2 * C, C);
        qy_tensor *a = attend(g, q, k, v, c, b, cache, l, 1);
        a = conv1d(g, a, P(lm, "transformer.h.%d.attn.c_proj.weight", l),
                   P(lm, "transformer.h.%d.attn.c_proj.bias", l));
        x = qy_add(g, x, tap(g, a, "attn.out", l));
        h = qy_layernorm(g, x, P(lm, "transformer.h.%d.ln_2.weight", l),
                         P(lm, "transformer.h.%d.ln_2.bias", l), eps);
        h = tap(g, h, "mlp.in", l);
        h = act(g,
                conv1d(g, h, P(lm, "transformer.h.%d.mlp.c_fc.weight", l),
                       P(lm, "transformer.h.%d.mlp.c_fc.bias", l)),
                c->act);
        h = tap(g, h, "mlp.act", l);
        h = conv1d(g, h, P(lm, "transformer.h.%d.mlp.c_proj.weight", l),
                   P(lm, "transformer.h.%d.mlp.c_proj.bias", l));
        x = qy_add(g, x, tap(g, h, "mlp.out", l));
        x = tap(g, x, "out", l);
    }
    return qy_layernorm(g, x, P(lm, "transformer.ln_f.weight"), P(lm, "transformer.ln_f.bias"), eps);
}

/* Qwen3's per-head RMSNorm on q or k (B,T,NH*HS) */
static qy_tensor *head_norm(qy_graph *g, qy_tensor *x, qy_tensor *w, int64_t hs, float eps) {
    int64_t B = x->shape[0], T = x->shape[1], C = x->shape[2];
    int64_t per_head[3] = {B, T * (C / hs), hs}, back[3] = {B, T, C};
    return qy_reshape(g, qy_rmsnorm(g, qy_reshape(g, x, 3, per_head), w, eps), 3, back);
}

static qy_tensor *forward_llama(qy_lm *lm, qy_graph *g, const qy_lm_batch *b, lm_cache *cache) {
    const qy_lm_config *c = &lm->cfg;
    float eps = (float)c->norm_eps;
    int64_t hs = c->head_dim;
    qy_tensor *x = embed(g, P(lm, "model.embed_tokens.weight"), b->ids, b->B, b->T);
    for (int l = 0; l < (int)c->num_layers; l++) {
        x = tap(g, x, "in", l);
        qy_tensor *h = qy_rmsnorm(g, x, P(lm, "model.layers.%d.input_layernorm.weight", l), eps);
        qy_tensor *q = linear(g, h, P(lm, "model.layers.%d.self_attn.q_proj.weight", l),
                              P(lm, "model.layers.%d.self_attn.q_proj.bias", l));
        qy_tensor *k = linear(g, h, P(lm, "model.layers.%d.self_attn.k_proj.weight", l),
                              P(lm, "model.layers.%d.self_attn.k_proj.bias", l));
        qy_tensor *v = linear(g, h, P(lm, "model.layers.%d.self_attn.v_proj.weight", l),
                              P(lm, "model.layers.%d.self_attn.v_proj.bias", l));
        if (c->qk_norm && q && k) {
            q = head_norm(g, q, P(lm, "model.layers.%d.self_attn.q_norm.weight", l), hs, eps);
            k = head_norm(g, k, P(lm, "model.layers.%d.self_attn.k_norm.weight", l), hs, eps);
        }
        q = qy_rope_freqs(g, q, hs, lm->inv_freq, b->positions, 0);
        k = qy_rope_freqs(g, k, hs, lm->inv_freq, b->positions, 0);
        qy_tensor *a = attend(g, q, k, v, c, b, cache, l, 1);
        a = linear(g, a, P(lm, "model.layers.%d.self_attn.o_proj.weight", l),
                   P(lm, "model.layers.%d.self_attn.o_proj.bias", l));
        x = qy_add(g, x, tap(g, a, "attn.out", l));
        h = qy_rmsnorm(g, x, P(lm, "model.layers.%d.post_attention_layernorm.weight", l), eps);
        h = tap(g, h, "mlp.in", l);
        qy_tensor *gate = linear(g, h, P(lm, "model.layers.%d.mlp.gate_proj.weight", l),
                                 P(lm, "model.layers.%d.mlp.gate_proj.bias", l));
        qy_tensor *up = linear(g, h, P(lm, "model.layers.%d.mlp.up_proj.weight", l),
                               P(lm, "model.layers.%d.mlp.up_proj.bias", l));
        h = tap(g, qy_swiglu(g, gate, up), "mlp.act", l);
        h = linear(g, h, P(lm, "model.layers.%d.mlp.down_proj.weight", l),
                   P(lm, "model.layers.%d.mlp.down_proj.bias", l));
        x = qy_add(g, x, tap(g, h, "mlp.out", l));
        x = tap(g, x, "out", l);
    }
    return qy_rmsnorm(g, x, P(lm, "model.norm.weight"), eps);
}

static qy_tensor *forward_bert(qy_lm *lm, qy_graph *g, const qy_lm_batch *b, lm_cache *cache) {
    const qy_lm_config *c = &lm->cfg;
    float eps = (float)c->norm_eps;
    size_t bt = (size_t)b->B * (size_t)b->T;
    int32_t *pos = positions_or_default(b);
    int32_t *types = b->type_ids ? (int32_t *)b->type_ids : qy_calloc(bt, sizeof(int32_t));
    if (!pos || !types) {
        if (pos != b->positions) qy_free(pos);
        if (types != b->type_ids) qy_free(types);
        return NULL;
    }
    qy_tensor *x = embed(g, P(lm, "embeddings.word_embeddings.weight"), b->ids, b->B, b->T);
    x = qy_add(g, x, embed(g, P(lm, "embeddings.position_embeddings.weight"), pos, b->B, b->T));
    x = qy_add(g, x, embed(g, P(lm, "embeddings.token_type_embeddings.weight"), types, b->B, b->T));
    if (pos != b->positions) qy_free(pos); /* ops copy their index arrays */
    if (types != b->type_ids) qy_free(types);
    x = qy_layernorm(g, x, P(lm, "embeddings.LayerNorm.weight"), P(lm, "embeddings.LayerNorm.bias"), eps);
    for (int l = 0; l < (int)c->num_layers; l++) {
        x = tap(g, x, "in", l);
        qy_tensor *q = linear(g, x, P(lm, "encoder.layer.%d.attention.self.query.weight", l),
                              P(lm, "encoder.layer.%d.attention.self.query.bias", l));
        qy_tensor *k = linear(g, x, P(lm, "encoder.layer.%d.attention.self.key.weight", l),
                              P(lm, "encoder.layer.%d.attention.self.key.bias", l));
        qy_tensor *v = linear(g, x, P(lm, "encoder.layer.%d.attention.self.value.weight", l),
                              P(lm, "encoder.layer.%d.attention.self.value.bias", l));
        qy_tensor *a = attend(g, q, k, v, c, b, cache, l, 0);
        a = linear(g, a, P(lm, "encoder.layer.%d.attention.output.dense.weight", l),
                   P(lm, "encoder.layer.%d.attention.output.dense.bias", l));
        a = tap(g, a, "attn.out", l);
        x = qy_layernorm(g, qy_add(g, a, x), P(lm, "encoder.layer.%d.attention.output.LayerNorm.weight", l),
                         P(lm, "encoder.layer.%d.attention.output.LayerNorm.bias", l), eps);
        qy_tensor *h = tap(g, x, "mlp.in", l);
        h = act(g,
                linear(g, h, P(lm, "encoder.layer.%d.intermediate.dense.weight", l),
                       P(lm, "encoder.layer.%d.intermediate.dense.bias", l)),
                c->act);
        h = tap(g, h, "mlp.act", l);
        h = linear(g, h, P(lm, "encoder.layer.%d.output.dense.weight", l),
                   P(lm, "encoder.layer.%d.output.dense.bias", l));
        h = tap(g, h, "mlp.out", l);
        x = qy_layernorm(g, qy_add(g, h, x), P(lm, "encoder.layer.%d.output.LayerNorm.weight", l),
                         P(lm, "encoder.layer.%d.output.LayerNorm.bias", l), eps);
        x = tap(g, x, "out", l);
    }
    return x;
}

static int lm_forward(qy_lm *lm, qy_graph *g, const qy_lm_batch *b, lm_cache *cache, qy_tensor **hidden,
                      qy_tensor **logits) {
    if (hidden) *hidden = NULL;
    if (logits) *logits = NULL;
    const qy_lm_config *c = &lm->cfg;
    if (b->B < 1 || b->T < 1) return qy_error(QY_ERR_ARG, "lm forward: batch %dx%d is empty", b->B, b->T);
    if (b->T > c->max_positions && c->family != QY_LM_LLAMA && c->family != QY_LM_QWEN2 &&
        c->family != QY_LM_QWEN3)
        return qy_error(QY_ERR_RANGE, "lm forward: sequence length %d exceeds max_position_embeddings %lld",
                        b->T, (long long)c->max_positions);
    size_t bt = (size_t)b->B * (size_t)b->T;
    for (size_t i = 0; i < bt; i++)
        if (b->ids[i] < 0 || b->ids[i] >= c->vocab_size)
            return qy_error(QY_ERR_RANGE,
                            "lm forward: token id %d at position %zu is outside the vocabulary (%lld)",
                            b->ids[i], i, (long long)c->vocab_size);
    qy_tensor *h;
    switch (c->family) {
    case QY_LM_GPT2: h = forward_gpt2(lm, g, b, cache); break;
    case QY_LM_BERT: h = forward_bert(lm, g, b, cache); break;
    default: h = forward_llama(lm, g, b, cache); break;
    }
    h = qy_tap(g, "final", h);
    int st = qy_graph_status(g);
    if (st) return st;
    if (hidden) *hidden = h;
    if (logits && c->is_decoder) {
        *logits = qy_matmul(g, h, lm->head, 0, 1);
        if ((st = qy_graph_status(g))) return st;
    }
    return QY_OK;
}

int qy_lm_forward(qy_lm *lm, qy_graph *g, const qy_lm_batch *b, qy_tensor **hidden, qy_tensor **logits) {
    return lm_forward(lm, g, b, NULL, hidden, logits);
}

int qy_lm_loss(qy_lm *lm, qy_graph *g, const qy_lm_batch *b, qy_tensor **loss) {
    *loss = NULL;
    if (!lm->cfg.is_decoder)
        return qy_error(QY_ERR_ARG, "lm loss: %s is not a causal language model", lm->cfg.model_type);
    qy_tensor *logits;
    int st = qy_lm_forward(lm, g, b, NULL, &logits);
    if (st) return st;
    size_t bt = (size_t)b->B * (size_t)b->T;
    int32_t *targets = qy_mallocn(bt, sizeof(int32_t));
    if (!targets) return QY_ERR_NOMEM;
    for (int i = 0; i < b->B; i++)
        for (int t = 0; t < b->T; t++) {
            size_t r = (size_t)i * (size_t)b->T + (size_t)t;
            int last = t == b->T - 1;
            int pad_next = !last && b->attn_mask && !b->attn_mask[r + 1];
            targets[r] = (last || pad_next) ? -100 : b->ids[r + 1];
        }
    int64_t flat[2] = {(int64_t)bt, lm->cfg.vocab_size};
    *loss = qy_cross_entropy(g, qy_reshape(g, logits, 2, flat), targets, NULL, -100, QY_REDUCE_MEAN);
    qy_free(targets); /* copied by the op */
    return qy_graph_status(g);
}

/* ------------------------------------------------------------- decoding */

typedef struct lm_decoder {
    qy_lm *lm;
    qy_graph *g;
    lm_cache cache, spare; /* spare: target of row reordering */
    int32_t *pos;          /* positions of the rows' new tokens */
} lm_decoder;

static void cache_free(lm_cache *c) {
    qy_free(c->len);
    qy_free(c->k);
    qy_free(c->v);
    memset(c, 0, sizeof *c);
}

static int cache_init(lm_cache *c, const qy_lm_config *cfg, int rows, int max_len) {
    memset(c, 0, sizeof *c);
    c->rows = rows;
    c->max_len = max_len;
    c->layers = (int)cfg->num_layers;
    c->kvc = cfg->num_kv_heads * cfg->head_dim;
    size_t n;
    if (qy_size_mul((size_t)rows * (size_t)c->layers, (size_t)max_len, &n) ||
        qy_size_mul(n, (size_t)c->kvc, &n))
        return qy_error(QY_ERR_RANGE, "kv cache: %d rows x %d positions overflow", rows, max_len);
    c->len = qy_calloc((size_t)rows, sizeof(int));
    c->k = qy_mallocn(n, sizeof(float));
    c->v = qy_mallocn(n, sizeof(float));
    if (!c->len || !c->k || !c->v) {
        cache_free(c);
        return QY_ERR_NOMEM;
    }
    return QY_OK;
}

/* room for rows x max_len, keeping nothing */
static int cache_reserve(lm_cache *c, const qy_lm_config *cfg, int rows, int max_len) {
    if (c->k && c->rows >= rows && c->max_len == max_len) return QY_OK;
    cache_free(c);
    return cache_init(c, cfg, rows, max_len);
}

/* make room for need positions per row, keeping what is cached (doubling) */
static int cache_grow(lm_cache *c, const qy_lm_config *cfg, int need) {
    if (need <= c->max_len) return QY_OK;
    int cap = c->max_len;
    while (cap < need) cap *= 2;
    if (cap > cfg->max_positions) cap = (int)cfg->max_positions;
    if (need > cap)
        return qy_error(QY_ERR_RANGE, "decode: %d positions exceed max_position_embeddings %lld", need,
                        (long long)cfg->max_positions);
    lm_cache n;
    int st = cache_init(&n, cfg, c->rows, cap);
    if (st) return st;
    for (int r = 0; r < c->rows; r++) {
        size_t used = (size_t)c->len[r] * (size_t)c->kvc;
        for (int l = 0; l < c->layers; l++) {
            memcpy(cache_at(&n, n.k, r, l, 0), cache_at(c, c->k, r, l, 0), used * sizeof(float));
            memcpy(cache_at(&n, n.v, r, l, 0), cache_at(c, c->v, r, l, 0), used * sizeof(float));
        }
        n.len[r] = c->len[r];
    }
    cache_free(c);
    *c = n;
    return QY_OK;
}

/* run T new tokens for R rows through the model with the cache; logits of each
 * row's last new token into out (R x V) */
static int decode_forward(lm_decoder *d, int R, int T, const int32_t *ids, float *out) {
    qy_lm *lm = d->lm;
    size_t V = (size_t)lm->cfg.vocab_size;
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) d->pos[r * T + t] = d->cache.len[r] + t;
    int need = 0;
    for (int r = 0; r < R; r++)
        if (d->cache.len[r] + T > need) need = d->cache.len[r] + T;
    int st0 = cache_grow(&d->cache, &lm->cfg, need);
    if (st0) return st0;
    qy_graph_reset(d->g);
    qy_lm_batch b = {.B = R, .T = T, .ids = ids, .positions = d->pos};
    qy_tensor *hidden;
    int st = lm_forward(lm, d->g, &b, &d->cache, &hidden, NULL);
    if (st) return st;
    /* the head only on each row's last position */
    int64_t C = lm->cfg.hidden_size;
    qy_tensor *last = qy_zeros(d->g, 2, (int64_t[]){R, C});
    if (!last) return qy_graph_status(d->g);
    for (int r = 0; r < R; r++)
        memcpy(last->data + (size_t)r * (size_t)C,
               hidden->data + ((size_t)r * (size_t)T + (size_t)(T - 1)) * (size_t)C,
               sizeof(float) * (size_t)C);
    qy_tensor *logits = qy_matmul(d->g, last, lm->head, 0, 1);
    if ((st = qy_graph_status(d->g))) return st;
    memcpy(out, logits->data, sizeof(float) * (size_t)R * V);
    for (int r = 0; r < R; r++) d->cache.len[r] += T;
    return QY_OK;
}

static int decoder_begin(void *ctx, const int32_t *prompt, int n, int nrows, float *logits) {
    lm_decoder *d = ctx;
    const qy_lm_config *cfg = &d->lm->cfg;
    if (n >= cfg->max_positions)
        return qy_error(QY_ERR_RANGE, "decode: prompt of %d tokens leaves no room in %lld positions", n,
                        (long long)cfg->max_positions);
    /* start small and double as decoding goes (cache_grow) */
    int cap = n + 64 > 256 ? n + 64 : 256;
    if (cap > cfg->max_positions) cap = (int)cfg->max_positions;
    int st = cache_reserve(&d->cache, cfg, nrows, cap);
    if (st) return st;
    qy_free(d->pos);
    d->pos = qy_mallocn((size_t)(nrows > n ? nrows : n), sizeof(int32_t));
    if (!d->pos) return QY_ERR_NOMEM;
    memset(d->cache.len, 0, sizeof(int) * (size_t)d->cache.rows);
    if ((st = decode_forward(d, 1, n, prompt, logits))) return st;
    /* every row starts as a copy of row 0's prompt */
    lm_cache *c = &d->cache;
    for (int r = 1; r < nrows; r++) {
        for (int l = 0; l < c->layers; l++) {
            memcpy(cache_at(c, c->k, r, l, 0), cache_at(c, c->k, 0, l, 0),
                   (size_t)n * (size_t)c->kvc * sizeof(float));
            memcpy(cache_at(c, c->v, r, l, 0), cache_at(c, c->v, 0, l, 0),
                   (size_t)n * (size_t)c->kvc * sizeof(float));
        }
        c->len[r] = n;
    }
    return QY_OK;
}

static int decoder_step(void *ctx, int nrows, const int *parent, const int32_t *tokens, float *logits) {
    lm_decoder *d = ctx;
    lm_cache *c = &d->cache;
    int identity = nrows <= c->rows;
    for (int i = 0; i < nrows; i++) {
        if (parent[i] < 0 || parent[i] >= c->rows)
            return qy_error(QY_ERR_ARG, "decode: parent row %d of %d", parent[i], c->rows);
        identity &= parent[i] == i;
    }
    if (!identity) {
        /* new row i continues old row parent[i]: copy the filled prefix of every layer */
        int st = cache_reserve(&d->spare, &d->lm->cfg, nrows > c->rows ? nrows : c->rows, c->max_len);
        if (st) return st;
        for (int i = 0; i < nrows; i++) {
            int p = parent[i];
            size_t used = (size_t)c->len[p] * (size_t)c->kvc;
            for (int l = 0; l < c->layers; l++) {
                memcpy(cache_at(&d->spare, d->spare.k, i, l, 0), cache_at(c, c->k, p, l, 0),
                       used * sizeof(float));
                memcpy(cache_at(&d->spare, d->spare.v, i, l, 0), cache_at(c, c->v, p, l, 0),
                       used * sizeof(float));
            }
            d->spare.len[i] = c->len[p];
        }
        lm_cache tmp = *c;
        *c = d->spare;
        d->spare = tmp;
    }
    return decode_forward(d, nrows, 1, tokens, logits);
}

int qy_lm_decoder_new(qy_lm *lm, qy_pool *pool, qy_gen_model *out) {
    memset(out, 0, sizeof *out);
    if (!lm->cfg.is_decoder)
        return qy_error(QY_ERR_ARG, "decode: %s is not a causal language model", lm->cfg.model_type);
    lm_decoder *d = qy_calloc(1, sizeof *d);
    if (!d) return QY_ERR_NOMEM;
    d->lm = lm;
    int st = qy_graph_new(pool, &d->g);
    if (st) {
        qy_free(d);
        return st;
    }
    qy_graph_set_grad_enabled(d->g, 0);
    *out = (qy_gen_model){d, (int)lm->cfg.vocab_size, decoder_begin, decoder_step};
    return QY_OK;
}

void qy_lm_decoder_free(qy_gen_model *m) {
    if (!m || !m->ctx) return;
    lm_decoder *d = m->ctx;
    cache_free(&d->cache);
    cache_free(&d->spare);
    qy_free(d->pos);
    qy_graph_free(d->g);
    qy_free(d);
    m->ctx = NULL;
}

int qy_lm_score(qy_lm *lm, qy_pool *pool, const int32_t *ids, int n, float *logprobs) {
    if (n < 2) return qy_error(QY_ERR_ARG, "score: need at least 2 tokens, got %d", n);
    qy_graph *g;
    int st = qy_graph_new(pool, &g);
    if (st) return st;
    qy_graph_set_grad_enabled(g, 0);
    qy_lm_batch b = {.B = 1, .T = n, .ids = ids};
    qy_tensor *logits;
    st = qy_lm_forward(lm, g, &b, NULL, &logits);
    if (!st) {
        size_t V = (size_t)lm->cfg.vocab_size;
        for (int t = 0; t + 1 < n; t++) {
            const float *row = logits->data + (size_t)t * V;
            double mx = -INFINITY, z = 0;
            for (size_t v = 0; v < V; v++) mx = fmax(mx, row[v]);
            for (size_t v = 0; v < V; v++) z += exp((double)row[v] - mx);
            logprobs[t] = (float)((double)row[ids[t + 1]] - mx - log(z));
        }
    }
    qy_graph_free(g);
    return st;
}

/* --------------------------------------------------------------- saving */

int qy_lm_save(const qy_lm *lm, const char *dir) {
    int st = qy_mkdir_p(dir);
    if (st) return st;
    qy_st_writer *w;
    if ((st = qy_st_writer_new(&w))) return st;
    for (size_t i = 0; i < qy_lm_spec_count(lm->spec) && !st; i++) {
        const qy_tensor *t = lm->param[i];
        st = qy_st_writer_add_f32(w, t->name, QY_ST_F32, t->ndim, t->shape, t->data);
    }
    if (!st) st = qy_st_writer_set_metadata(w, "format", "pt");
    if (!st) st = qy_st_writer_write_dir(w, dir, 0);
    qy_st_writer_free(w);
    if (st) return st;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return qy_lm_config_write(&lm->cfg, path);
}
