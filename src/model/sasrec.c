/* sasrec.c — SASRec and GRU4Rec networks for sequential recommendation
 * (see sasrec.h). The definitions follow RecBole (recbole/model/sequential_
 * recommender/sasrec.py, gru4rec.py and layers.py): post-LayerNorm transformer
 * layers with learned positions, additive attention mask -10000 on future
 * positions, dropout on the attention probabilities, erf GELU; a bias-free GRU
 * over dropped-out item embeddings followed by a dense layer. */
#include "model/sasrec.h"

#include <math.h>
#include <string.h>

qy_seqnet_cfg qy_seqnet_defaults(qy_seqnet_kind kind, int32_t n_items) {
    qy_seqnet_cfg c = {
        .kind = kind, .n_items = n_items, .hidden = 64, .max_len = 50, .init_range = 0.02f, .ln_eps = 1e-12f};
    if (kind == QY_SEQNET_SASREC) {
        c.n_layers = 2;
        c.n_heads = 2;
        c.inner = 256;
        c.hidden_drop = 0.5f;
        c.attn_drop = 0.5f;
    } else {
        c.n_layers = 1;
        c.n_heads = 1;
        c.inner = 128;
        c.hidden_drop = 0.3f;
    }
    return c;
}

static int check_cfg(const qy_seqnet_cfg *c) {
    if (c->kind != QY_SEQNET_SASREC && c->kind != QY_SEQNET_GRU4REC)
        return qy_error(QY_ERR_ARG, "seqnet: unknown kind %d", c->kind);
    if (c->n_items < 2)
        return qy_error(QY_ERR_ARG, "seqnet: need at least one item besides the padding (n_items %d)",
                        c->n_items);
    if (c->hidden < 1 || c->hidden > 4096)
        return qy_error(QY_ERR_ARG, "seqnet: hidden size %d not in [1, 4096]", c->hidden);
    if (c->inner < 1 || c->inner > 16384)
        return qy_error(QY_ERR_ARG, "seqnet: inner size %d not in [1, 16384]", c->inner);
    if (c->max_len < 1 || c->max_len > 4096)
        return qy_error(QY_ERR_ARG, "seqnet: max_len %d not in [1, 4096]", c->max_len);
    if (!(c->hidden_drop >= 0 && c->hidden_drop < 1) || !(c->attn_drop >= 0 && c->attn_drop < 1))
        return qy_error(QY_ERR_ARG, "seqnet: dropout %g / %g not in [0, 1)", c->hidden_drop, c->attn_drop);
    if (c->kind == QY_SEQNET_SASREC) {
        if (c->n_layers < 1 || c->n_layers > 64)
            return qy_error(QY_ERR_ARG, "sasrec: n_layers %d not in [1, 64]", c->n_layers);
        if (c->n_heads < 1 || c->n_heads > 64 || c->hidden % c->n_heads)
            return qy_error(QY_ERR_ARG, "sasrec: hidden size %d is not a multiple of n_heads %d (1..64)",
                            c->hidden, c->n_heads);
    } else if (c->n_layers != 1) {
        return qy_error(QY_ERR_ARG, "gru4rec: only 1 GRU layer is supported (got %d)", c->n_layers);
    }
    return QY_OK;
}

static void init_uniform(qy_tensor *t, qy_rng *rng, double bound) {
    for (size_t i = 0; i < t->n; i++) t->data[i] = (float)((2 * qy_rng_double(rng) - 1) * bound);
}

/* fan_in = columns, fan_out = rows of a 2-D weight, as torch.nn.init */
static double xavier_std(const qy_tensor *t) { return sqrt(2.0 / (double)(t->shape[0] + t->shape[1])); }

static int add_param(qy_params *ps, const char *name, int64_t r, int64_t c, qy_tensor **out) {
    int64_t shape[2] = {r, c};
    return c > 0 ? qy_params_add(ps, name, 2, shape, QY_GROUP_DECAY, out)
                 : qy_params_add(ps, name, 1, shape, QY_GROUP_DECAY, out);
}

static int declare(qy_seqnet *n) {
    const qy_seqnet_cfg *c = &n->cfg;
    int64_t C = c->hidden, V = c->n_items, F = c->inner;
    int st = add_param(n->ps, "item_emb", V, C, &n->item_emb);
    if (st) return st;
    if (c->kind == QY_SEQNET_GRU4REC) {
        if (!st) st = add_param(n->ps, "gru.w_ih", 3 * F, C, &n->w_ih);
        if (!st) st = add_param(n->ps, "gru.w_hh", 3 * F, F, &n->w_hh);
        if (!st) st = add_param(n->ps, "dense.w", C, F, &n->dense_w);
        if (!st) st = add_param(n->ps, "dense.b", C, 0, &n->dense_b);
        return st;
    }
    if (!st) st = add_param(n->ps, "pos_emb", c->max_len, C, &n->pos_emb);
    if (!st) st = add_param(n->ps, "ln.w", C, 0, &n->ln_w);
    if (!st) st = add_param(n->ps, "ln.b", C, 0, &n->ln_b);
    n->layers = qy_calloc((size_t)c->n_layers, sizeof *n->layers);
    if (!n->layers) return QY_ERR_NOMEM;
    for (int l = 0; l < c->n_layers && !st; l++) {
        qy_seqnet_layer *L = &n->layers[l];
        struct {
            const char *name;
            int64_t r, c;
            qy_tensor **t;
        } defs[] = {{"wq", C, C, &L->wq},       {"bq", C, 0, &L->bq},       {"wk", C, C, &L->wk},
                    {"bk", C, 0, &L->bk},       {"wv", C, C, &L->wv},       {"bv", C, 0, &L->bv},
                    {"wo", C, C, &L->wo},       {"bo", C, 0, &L->bo},       {"ln1.w", C, 0, &L->ln1_w},
                    {"ln1.b", C, 0, &L->ln1_b}, {"ff1.w", F, C, &L->ff1_w}, {"ff1.b", F, 0, &L->ff1_b},
                    {"ff2.w", C, F, &L->ff2_w}, {"ff2.b", C, 0, &L->ff2_b}, {"ln2.w", C, 0, &L->ln2_w},
                    {"ln2.b", C, 0, &L->ln2_b}};
        for (size_t i = 0; i < sizeof defs / sizeof defs[0] && !st; i++) {
            char name[48];
            snprintf(name, sizeof name, "layer%d.%s", l, defs[i].name);
            st = add_param(n->ps, name, defs[i].r, defs[i].c, defs[i].t);
        }
    }
    return st;
}

static void init_params(qy_seqnet *n, uint64_t seed) {
    const qy_seqnet_cfg *c = &n->cfg;
    qy_rng rng;
    qy_rng_seed(&rng, seed);
    if (c->kind == QY_SEQNET_GRU4REC) {
        qy_param_init_normal(n->item_emb, &rng, (float)xavier_std(n->item_emb), 0);
        init_uniform(n->w_ih, &rng, sqrt(3.0) * xavier_std(n->w_ih));
        init_uniform(n->w_hh, &rng, sqrt(3.0) * xavier_std(n->w_hh));
        double b = 1.0 / sqrt((double)n->dense_w->shape[1]); /* nn.Linear's default */
        init_uniform(n->dense_w, &rng, b);
        init_uniform(n->dense_b, &rng, b);
        return;
    }
    /* every 2-D parameter (linear weights, embeddings) ~ N(0, init_range); the
       rest (biases 0, LayerNorm weight 1, bias 0) by name */
    for (size_t i = 0; i < qy_params_count(n->ps); i++) {
        qy_tensor *t = qy_params_at(n->ps, i);
        const char *dot = strrchr(t->name, '.');
        if (t->ndim == 2)
            qy_param_init_normal(t, &rng, c->init_range, 0);
        else
            qy_param_init_normal(t, &rng, 0, dot && !strcmp(dot, ".w") ? 1.0f : 0.0f);
    }
}

int qy_seqnet_new(const qy_seqnet_cfg *cfg, uint64_t seed, qy_seqnet **out) {
    *out = NULL;
    int st = check_cfg(cfg);
    if (st) return st;
    qy_seqnet *n = qy_calloc(1, sizeof *n);
    if (!n) return QY_ERR_NOMEM;
    n->cfg = *cfg;
    st = qy_params_new(&n->ps);
    if (!st) st = declare(n);
    if (!st) st = qy_params_alloc(n->ps);
    if (st) {
        qy_seqnet_free(n);
        return st;
    }
    init_params(n, seed);
    *out = n;
    return QY_OK;
}

void qy_seqnet_free(qy_seqnet *n) {
    if (!n) return;
    qy_params_free(n->ps);
    qy_free(n->layers);
    qy_free(n);
}

static qy_tensor *linear(qy_graph *g, qy_tensor *x, qy_tensor *w, qy_tensor *b) {
    return qy_add(g, qy_matmul(g, x, w, 0, 1), b);
}

/* row indexes b*T + len[b] - 1 (or, time-major, (len[b]-1)*B + b) */
static int32_t *last_rows(qy_graph *g, const int32_t *len, int64_t B, int64_t T, int time_major) {
    qy_tensor *t = qy_zeros(g, 1, (int64_t[]){B});
    if (!t) return NULL;
    int32_t *r = (int32_t *)t->data; /* int32 in a float-sized arena slot */
    for (int64_t b = 0; b < B; b++) {
        int64_t l = len[b] < 1 ? 1 : len[b] > T ? T : len[b];
        r[b] = (int32_t)(time_major ? (l - 1) * B + b : b * T + l - 1);
    }
    return r;
}

static qy_tensor *sasrec_forward(qy_seqnet *n, qy_graph *g, const int32_t *seq, const int32_t *len, int64_t B,
                                 int64_t T, uint64_t seed) {
    const qy_seqnet_cfg *c = &n->cfg;
    int64_t C = c->hidden, NH = c->n_heads, HS = C / NH, BT = B * T;
    qy_tensor *pos_t = qy_zeros(g, 1, (int64_t[]){BT});
    qy_tensor *mask = qy_zeros(g, 2, (int64_t[]){T, T});
    if (!pos_t || !mask) return NULL;
    int32_t *pos = (int32_t *)pos_t->data;
    for (int64_t i = 0; i < BT; i++) pos[i] = (int32_t)(i % T);
    for (int64_t i = 0; i < T; i++)
        for (int64_t j = 0; j < T; j++) mask->data[i * T + j] = j <= i ? 0.0f : -10000.0f;
    uint64_t s = seed;
    qy_tensor *x = qy_add(g, qy_index_select(g, n->item_emb, seq, (size_t)BT),
                          qy_index_select(g, n->pos_emb, pos, (size_t)BT));
    x = qy_dropout(g, qy_layernorm(g, x, n->ln_w, n->ln_b, c->ln_eps), c->hidden_drop, s++);
    x = qy_reshape(g, x, 3, (int64_t[]){B, T, C});
    float scale = 1.0f / sqrtf((float)HS);
    int32_t *rows = last_rows(g, len, B, T, 0);
    qy_tensor *kmask = qy_zeros(g, 3, (int64_t[]){B, 1, T});
    if (!rows || !kmask) return NULL;
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < T; j++) kmask->data[b * T + j] = j <= rows[b] - b * T ? 0.0f : -10000.0f;
    qy_tensor *heads[64];
    int64_t nh = NH < 64 ? NH : 64;
    for (int l = 0; l < c->n_layers; l++) {
        qy_seqnet_layer *L = &n->layers[l];
        /* Only the last real position of each row reaches the output, so the
           last layer computes its query, attention row, residual and
           feed-forward at that position alone (keys and values still cover
           every position): the same function as RecBole's full layer followed
           by gather_indexes, at a fraction of the cost. */
        int last = l == c->n_layers - 1;
        qy_tensor *xq =
            last ? qy_reshape(g, qy_index_select(g, qy_reshape(g, x, 2, (int64_t[]){BT, C}), rows, (size_t)B),
                              3, (int64_t[]){B, 1, C})
                 : x;
        qy_tensor *q = linear(g, xq, L->wq, L->bq), *k = linear(g, x, L->wk, L->bk),
                  *v = linear(g, x, L->wv, L->bv);
        for (int64_t h = 0; h < nh; h++) {
            qy_tensor *qh = NH == 1 ? q : qy_slice(g, q, 2, h * HS, HS);
            qy_tensor *kh = NH == 1 ? k : qy_slice(g, k, 2, h * HS, HS);
            qy_tensor *vh = NH == 1 ? v : qy_slice(g, v, 2, h * HS, HS);
            qy_tensor *att = qy_add(g, qy_scale(g, qy_matmul(g, qh, kh, 0, 1), scale), last ? kmask : mask);
            att = qy_dropout(g, qy_softmax(g, att), c->attn_drop, s++);
            heads[h] = qy_matmul(g, att, vh, 0, 0);
        }
        qy_tensor *ctx = NH == 1 ? heads[0] : qy_concat(g, heads, (int)nh, 2);
        qy_tensor *o = qy_dropout(g, linear(g, ctx, L->wo, L->bo), c->hidden_drop, s++);
        x = qy_layernorm(g, qy_add(g, o, xq), L->ln1_w, L->ln1_b, c->ln_eps);
        qy_tensor *f = linear(g, qy_gelu_erf(g, linear(g, x, L->ff1_w, L->ff1_b)), L->ff2_w, L->ff2_b);
        f = qy_dropout(g, f, c->hidden_drop, s++);
        x = qy_layernorm(g, qy_add(g, f, x), L->ln2_w, L->ln2_b, c->ln_eps);
    }
    return qy_reshape(g, x, 2, (int64_t[]){B, C});
}

static qy_tensor *gru4rec_forward(qy_seqnet *n, qy_graph *g, const int32_t *seq, const int32_t *len,
                                  int64_t B, int64_t T, uint64_t seed) {
    const qy_seqnet_cfg *c = &n->cfg;
    int64_t H = c->inner;
    /* time-major ids so that each step's inputs are a contiguous slice */
    qy_tensor *ids_t = qy_zeros(g, 1, (int64_t[]){B * T});
    if (!ids_t) return NULL;
    int32_t *ids = (int32_t *)ids_t->data;
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++) ids[t * B + b] = seq[b * T + t];
    qy_tensor *e = qy_dropout(g, qy_index_select(g, n->item_emb, ids, (size_t)(B * T)), c->hidden_drop, seed);
    qy_tensor *h = qy_zeros(g, 2, (int64_t[]){B, H});
    qy_tensor *hs[4096];
    for (int64_t t = 0; t < T; t++) {
        h = qy_gru_cell(g, qy_slice(g, e, 0, t * B, B), h, n->w_ih, n->w_hh, NULL, NULL);
        hs[t] = h;
    }
    /* (T*B, H): qy_concat joins up to 4 tensors, so join in rounds of 4 */
    for (int64_t k = T; k > 1; k = (k + 3) / 4)
        for (int64_t i = 0; i < k; i += 4)
            hs[i / 4] = k - i == 1 ? hs[i] : qy_concat(g, hs + i, (int)(k - i < 4 ? k - i : 4), 0);
    qy_tensor *all = hs[0];
    int32_t *rows = last_rows(g, len, B, T, 1);
    if (!rows) return NULL;
    return linear(g, qy_index_select(g, all, rows, (size_t)B), n->dense_w, n->dense_b);
}

qy_tensor *qy_seqnet_forward(qy_seqnet *n, qy_graph *g, const int32_t *seq, const int32_t *len, int64_t B,
                             int64_t T, uint64_t drop_seed) {
    if (B < 1 || T < 1 || T > n->cfg.max_len) {
        qy_error(QY_ERR_ARG, "seqnet: batch %lld x %lld: need B >= 1 and 1 <= T <= max_len %d", (long long)B,
                 (long long)T, n->cfg.max_len);
        return NULL;
    }
    return n->cfg.kind == QY_SEQNET_SASREC ? sasrec_forward(n, g, seq, len, B, T, drop_seed)
                                           : gru4rec_forward(n, g, seq, len, B, T, drop_seed);
}

int qy_seqnet_save(const qy_seqnet *n, void **blob, size_t *len) {
    size_t np = qy_params_numel(n->ps);
    *len = sizeof n->cfg + np * sizeof(float);
    uint8_t *b = qy_malloc(*len);
    if (!b) return QY_ERR_NOMEM;
    memcpy(b, &n->cfg, sizeof n->cfg);
    size_t at = sizeof n->cfg;
    for (size_t i = 0; i < qy_params_count(n->ps); i++) {
        const qy_tensor *t = qy_params_at(n->ps, i);
        memcpy(b + at, t->data, t->n * sizeof(float));
        at += t->n * sizeof(float);
    }
    *blob = b;
    return QY_OK;
}

int qy_seqnet_load(const uint8_t *blob, size_t len, qy_seqnet **out) {
    *out = NULL;
    qy_seqnet_cfg cfg;
    if (len < sizeof cfg)
        return qy_error(QY_ERR_FORMAT, "seqnet checkpoint: payload of %zu bytes is too short", len);
    memcpy(&cfg, blob, sizeof cfg);
    qy_seqnet *n;
    int st = qy_seqnet_new(&cfg, 0, &n);
    if (st) return st == QY_ERR_NOMEM ? st : qy_error_wrap(QY_ERR_FORMAT, "seqnet checkpoint");
    if (len != sizeof cfg + qy_params_numel(n->ps) * sizeof(float)) {
        qy_seqnet_free(n);
        return qy_error(QY_ERR_FORMAT, "seqnet checkpoint: payload of %zu bytes does not fit its sizes", len);
    }
    size_t at = sizeof cfg;
    for (size_t i = 0; i < qy_params_count(n->ps); i++) {
        qy_tensor *t = qy_params_at(n->ps, i);
        memcpy(t->data, blob + at, t->n * sizeof(float));
        at += t->n * sizeof(float);
    }
    *out = n;
    return QY_OK;
}
