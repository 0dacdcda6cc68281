/* rec_neural.c — SASRec, GRU4Rec and LightGCN behind the recommender interface
 * (see rec_neural.h). Training follows RecBole's trainer: examples shuffled each
 * epoch, batches of 2048, Adam (lr from the params, RecBole 1e-3, no weight
 * decay); sequential models see RecBole's augmented examples (every training
 * item but a user's first, with up to max_len earlier items as input) and the
 * cross-entropy over all items; LightGCN sees every training pair with one
 * uniform negative the user never trained on. */
#include "eval/rec_neural.h"

#include <stdlib.h>
#include <string.h>

#include "eval/recbole.h"
#include "model/lightgcn.h"
#include "model/sasrec.h"

enum { TRAIN_BATCH = 2048, SCORE_BATCH = 512 };

static void train_items(const qy_rec_data *d, uint32_t u, const uint32_t **items, size_t *n) {
    qy_rec_user_history(d, u, QY_PHASE_VALID, items, n);
}

/* ------------------------------------------------------ sequential models */

typedef struct seq_state {
    qy_seqnet *net;
    qy_optim *opt; /* NULL after loading a checkpoint */
    qy_rng rng;
    qy_rec_seq_example *ex;
    size_t n_ex;
    int32_t *seq, *len, *tgt; /* batch buffers */
    uint32_t *order;
    int64_t steps; /* the optimizer's step count, copied for training-state files */
} seq_state;

void qy_rec_seq_free(qy_rec_model *m) {
    seq_state *s = m->state;
    if (s) {
        qy_seqnet_free(s->net);
        qy_optim_free(s->opt);
        qy_free(s->ex);
        qy_free(s->seq);
        qy_free(s->len);
        qy_free(s->tgt);
        qy_free(s->order);
    }
    qy_free(s);
    m->state = NULL;
}

static int seq_fit(qy_rec_model *m, const qy_rec_data *d, qy_seqnet_kind kind) {
    seq_state *s = qy_calloc(1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    m->state = s;
    qy_seqnet_cfg cfg = qy_seqnet_defaults(kind, (int32_t)d->n_items);
    if (m->p.dim > 0) cfg.hidden = m->p.dim;
    int st = qy_seqnet_new(&cfg, m->p.seed, &s->net);
    if (!st) st = qy_adamw_new(s->net->ps, &(qy_adamw_cfg){.lr = (float)m->p.lr}, &s->opt);
    if (!st) st = qy_rec_seq_examples(d, &s->ex, &s->n_ex);
    if (st) return st;
    if (s->n_ex == 0)
        return qy_error(QY_ERR_ARG, "%s: no training examples (every user has fewer than 2 training items)",
                        m->ops->name);
    s->seq = qy_mallocn(TRAIN_BATCH, (size_t)cfg.max_len * sizeof *s->seq);
    s->len = qy_mallocn(TRAIN_BATCH, sizeof *s->len);
    s->tgt = qy_mallocn(TRAIN_BATCH, sizeof *s->tgt);
    s->order = qy_mallocn(s->n_ex, sizeof *s->order);
    if (!s->seq || !s->len || !s->tgt || !s->order) return QY_ERR_NOMEM;
    qy_rng_seed(&s->rng, m->p.seed ^ 0x5e9dbeefULL);
    return QY_OK;
}

int qy_rec_sasrec_fit(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool) {
    (void)pool;
    return seq_fit(m, d, QY_SEQNET_SASREC);
}

int qy_rec_gru4rec_fit(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool) {
    (void)pool;
    return seq_fit(m, d, QY_SEQNET_GRU4REC);
}

/* rows of left-aligned sequences: the last (up to) L items of each history;
 * returns T, the longest row (at least 1) */
static int64_t fill_rows(const uint32_t *const *hist, const size_t *n_hist, size_t B, int L, int32_t *seq,
                         int32_t *len) {
    int64_t T = 1;
    for (size_t b = 0; b < B; b++) {
        size_t k = n_hist[b] < (size_t)L ? n_hist[b] : (size_t)L;
        len[b] = (int32_t)k;
        if ((int64_t)k > T) T = (int64_t)k;
    }
    for (size_t b = 0; b < B; b++) {
        const uint32_t *h = hist[b] + (n_hist[b] - (size_t)len[b]);
        for (int64_t t = 0; t < T; t++) seq[b * (size_t)T + (size_t)t] = t < len[b] ? (int32_t)h[t] : 0;
    }
    return T;
}

int qy_rec_seq_epoch(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool, double *loss_out) {
    seq_state *s = m->state;
    if (!s->opt)
        return qy_error(QY_ERR_ARG, "%s: a model loaded from a checkpoint cannot train further",
                        m->ops->name);
    const int L = s->net->cfg.max_len;
    for (size_t i = 0; i < s->n_ex; i++) s->order[i] = (uint32_t)i;
    qy_rng_shuffle(&s->rng, s->order, s->n_ex, sizeof *s->order);
    qy_graph *g;
    int st = qy_graph_new(pool, &g);
    if (st) return st;
    qy_optim_set_pool(s->opt, pool);
    const uint32_t *hist[TRAIN_BATCH];
    size_t nh[TRAIN_BATCH];
    double total = 0;
    for (size_t b0 = 0; b0 < s->n_ex && !st; b0 += TRAIN_BATCH) {
        size_t B = s->n_ex - b0 < TRAIN_BATCH ? s->n_ex - b0 : TRAIN_BATCH;
        for (size_t b = 0; b < B; b++) {
            const qy_rec_seq_example *e = &s->ex[s->order[b0 + b]];
            const uint32_t *it;
            size_t k;
            train_items(d, e->user, &it, &k);
            hist[b] = it;
            nh[b] = e->pos;
            s->tgt[b] = (int32_t)it[e->pos];
        }
        int64_t T = fill_rows(hist, nh, B, L, s->seq, s->len);
        qy_graph_reset(g);
        qy_params_zero_grad(s->net->ps);
        qy_tensor *h = qy_seqnet_forward(s->net, g, s->seq, s->len, (int64_t)B, T, qy_rng_u64(&s->rng));
        qy_tensor *loss =
            qy_cross_entropy(g, qy_matmul(g, h, s->net->item_emb, 0, 1), s->tgt, NULL, -1, QY_REDUCE_MEAN);
        /* a NULL h is an out-of-memory graph (its status) or a bad batch */
        st = h ? qy_graph_backward(g, loss) : qy_graph_status(g) ? qy_graph_status(g) : QY_ERR_ARG;
        if (!st) st = qy_optim_step(s->opt, (float)m->p.lr);
        if (!st) total += (double)loss->data[0] * (double)B;
    }
    qy_graph_free(g);
    *loss_out = s->n_ex ? total / (double)s->n_ex : 0;
    return st;
}

int qy_rec_seq_score(const qy_rec_model *m, const qy_rec_query *q, size_t n, float *scores, qy_pool *pool) {
    const seq_state *s = m->state;
    const int L = s->net->cfg.max_len;
    int32_t *seq = qy_mallocn(SCORE_BATCH, (size_t)L * sizeof *seq);
    int32_t *len = qy_mallocn(SCORE_BATCH, sizeof *len);
    const uint32_t **hist = qy_mallocn(SCORE_BATCH, sizeof *hist);
    size_t *nh = qy_mallocn(SCORE_BATCH, sizeof *nh);
    qy_graph *g = NULL;
    int st = !seq || !len || !hist || !nh ? QY_ERR_NOMEM : qy_graph_new(pool, &g);
    if (!st) qy_graph_set_grad_enabled(g, 0);
    for (size_t b0 = 0; b0 < n && !st; b0 += SCORE_BATCH) {
        size_t B = n - b0 < SCORE_BATCH ? n - b0 : SCORE_BATCH;
        for (size_t b = 0; b < B; b++) {
            hist[b] = q[b0 + b].history;
            nh[b] = q[b0 + b].n_history;
        }
        int64_t T = fill_rows(hist, nh, B, L, seq, len);
        qy_graph_reset(g);
        qy_tensor *h = qy_seqnet_forward(s->net, g, seq, len, (int64_t)B, T, 0);
        qy_tensor *logits = qy_matmul(g, h, s->net->item_emb, 0, 1);
        st = logits ? QY_OK : qy_graph_status(g) ? qy_graph_status(g) : QY_ERR_ARG;
        if (!st) memcpy(scores + b0 * m->n_items, logits->data, B * m->n_items * sizeof(float));
    }
    qy_graph_free(g);
    qy_free(seq);
    qy_free(len);
    qy_free(hist);
    qy_free(nh);
    return st;
}

int qy_rec_seq_save(const qy_rec_model *m, void **blob, size_t *len) {
    const seq_state *s = m->state;
    return qy_seqnet_save(s->net, blob, len);
}

int qy_rec_seq_load(qy_rec_model *m, const uint8_t *blob, size_t len) {
    seq_state *s = qy_calloc(1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    m->state = s;
    int st = qy_seqnet_load(blob, len, &s->net);
    if (!st && (uint32_t)s->net->cfg.n_items != m->n_items)
        st = qy_error(QY_ERR_FORMAT, "%s checkpoint: %d items in the network, %u in the header", m->ops->name,
                      s->net->cfg.n_items, m->n_items);
    if (st) qy_rec_seq_free(m);
    return st;
}

int qy_rec_seq_item_emb(const qy_rec_model *m, const float **emb, int *dim) {
    const seq_state *s = m->state;
    *emb = s->net->item_emb->data;
    *dim = s->net->cfg.hidden;
    return QY_OK;
}

/* every parameter's values, then its Adam moments, for each parameter in order */
static void param_spans(qy_params *ps, qy_optim *opt, qy_rec_span *sp, size_t cap, size_t *k) {
    for (size_t i = 0; i < qy_params_count(ps); i++) {
        qy_tensor *t = qy_params_at(ps, i);
        float *m1 = NULL, *m2 = NULL;
        qy_optim_param_state(opt, i, &m1, &m2);
        qy_rec_span_put(sp, cap, k, t->data, t->n * sizeof(float));
        qy_rec_span_put(sp, cap, k, m1, t->n * sizeof(float));
        qy_rec_span_put(sp, cap, k, m2, t->n * sizeof(float));
    }
}

int qy_rec_seq_spans(qy_rec_model *m, qy_rec_span *sp, size_t cap, size_t *n) {
    seq_state *s = m->state;
    if (!s->opt)
        return qy_error(QY_ERR_ARG, "%s: a model loaded from a checkpoint cannot train further",
                        m->ops->name);
    size_t k = 0;
    s->steps = qy_optim_steps(s->opt);
    param_spans(s->net->ps, s->opt, sp, cap, &k);
    qy_rec_span_put(sp, cap, &k, &s->steps, sizeof s->steps);
    qy_rec_span_put(sp, cap, &k, &s->rng, sizeof s->rng);
    *n = k;
    return QY_OK;
}

int qy_rec_seq_restored(qy_rec_model *m, qy_pool *pool) {
    (void)pool;
    seq_state *s = m->state;
    qy_optim_set_steps(s->opt, s->steps);
    return QY_OK;
}

/* ----------------------------------------------------------------- lightgcn */

typedef struct gcn_state {
    qy_lightgcn *net;
    uint32_t *ex_user, *ex_item; /* training pairs */
    size_t n_ex;
    size_t *seen_off; /* n_users + 1 */
    uint32_t *seen;   /* sorted training items per user */
    uint32_t *order, *bu, *bp, *bn;
    qy_rng rng;
    int64_t steps; /* the optimizer's step count, copied for training-state files */
} gcn_state;

void qy_rec_lightgcn_free(qy_rec_model *m) {
    gcn_state *s = m->state;
    if (s) {
        qy_lightgcn_free(s->net);
        qy_free(s->ex_user);
        qy_free(s->ex_item);
        qy_free(s->seen_off);
        qy_free(s->seen);
        qy_free(s->order);
        qy_free(s->bu);
        qy_free(s->bp);
        qy_free(s->bn);
    }
    qy_free(s);
    m->state = NULL;
}

static int cmp_item(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int qy_rec_lightgcn_fit(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool) {
    gcn_state *s = qy_calloc(1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    m->state = s;
    size_t total = 0;
    for (uint32_t u = 1; u < d->n_users; u++) {
        const uint32_t *it;
        size_t k;
        train_items(d, u, &it, &k);
        total += k;
    }
    if (total == 0) return qy_error(QY_ERR_ARG, "lightgcn: no training interactions");
    s->ex_user = qy_mallocn(total, sizeof *s->ex_user);
    s->ex_item = qy_mallocn(total, sizeof *s->ex_item);
    s->seen = qy_mallocn(total, sizeof *s->seen);
    s->order = qy_mallocn(total, sizeof *s->order);
    s->seen_off = qy_calloc((size_t)d->n_users + 1, sizeof *s->seen_off);
    s->bu = qy_mallocn(TRAIN_BATCH, sizeof *s->bu);
    s->bp = qy_mallocn(TRAIN_BATCH, sizeof *s->bp);
    s->bn = qy_mallocn(TRAIN_BATCH, sizeof *s->bn);
    if (!s->ex_user || !s->ex_item || !s->seen || !s->order || !s->seen_off || !s->bu || !s->bp || !s->bn)
        return QY_ERR_NOMEM;
    for (uint32_t u = 1; u < d->n_users; u++) {
        const uint32_t *it;
        size_t k;
        train_items(d, u, &it, &k);
        for (size_t i = 0; i < k; i++) {
            s->ex_user[s->n_ex + i] = u;
            s->ex_item[s->n_ex + i] = it[i];
        }
        memcpy(s->seen + s->n_ex, it, k * sizeof *it);
        qsort(s->seen + s->n_ex, k, sizeof *s->seen, cmp_item);
        s->n_ex += k;
        s->seen_off[u + 1] = s->n_ex;
    }
    qy_rng_seed(&s->rng, m->p.seed ^ 0x9c3aULL);
    int dim = m->p.dim > 0 ? m->p.dim : 64;
    int st = qy_lightgcn_new(d->n_users, d->n_items, dim, 2, s->ex_user, s->ex_item, s->n_ex, m->p.seed,
                             (float)m->p.lr, &s->net);
    if (!st) st = qy_lightgcn_refresh(s->net, pool);
    return st;
}

int qy_rec_lightgcn_epoch(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool, double *loss_out) {
    (void)d;
    gcn_state *s = m->state;
    if (!s->ex_user)
        return qy_error(QY_ERR_ARG, "lightgcn: a model loaded from a checkpoint cannot train further");
    float reg = m->p.reg > 0 ? (float)m->p.reg : 1e-5f; /* RecBole's reg_weight */
    for (size_t i = 0; i < s->n_ex; i++) s->order[i] = (uint32_t)i;
    qy_rng_shuffle(&s->rng, s->order, s->n_ex, sizeof *s->order);
    double total = 0;
    int st = QY_OK;
    for (size_t b0 = 0; b0 < s->n_ex && !st; b0 += TRAIN_BATCH) {
        size_t B = s->n_ex - b0 < TRAIN_BATCH ? s->n_ex - b0 : TRAIN_BATCH, nb = 0;
        for (size_t b = 0; b < B; b++) {
            uint32_t u = s->ex_user[s->order[b0 + b]];
            const uint32_t *seen = s->seen + s->seen_off[u];
            size_t ns = s->seen_off[u + 1] - s->seen_off[u];
            if (ns + 1 >= m->n_items) continue; /* the user trained on every item */
            uint32_t q;
            do q = (uint32_t)(1 + qy_rng_below(&s->rng, m->n_items - 1));
            while (bsearch(&q, seen, ns, sizeof *seen, cmp_item));
            s->bu[nb] = u;
            s->bp[nb] = s->ex_item[s->order[b0 + b]];
            s->bn[nb++] = q;
        }
        if (!nb) continue;
        double loss = 0;
        st = qy_lightgcn_step(s->net, s->bu, s->bp, s->bn, nb, reg, pool, &loss);
        total += loss * (double)nb;
    }
    if (!st) st = qy_lightgcn_refresh(s->net, pool);
    *loss_out = total / (double)s->n_ex;
    return st;
}

typedef struct gcn_score_ctx {
    const qy_rec_model *m;
    const qy_rec_query *q;
    float *scores;
} gcn_score_ctx;

static void gcn_score_rows(void *vc, size_t b, size_t e, int tid) {
    (void)tid;
    const gcn_score_ctx *c = vc;
    const qy_lightgcn *n = ((const gcn_state *)c->m->state)->net;
    const float *I = n->final + (size_t)n->n_users * n->dim;
    for (size_t r = b; r < e; r++)
        qy_sgemm(NULL, 0, 1, 1, (int64_t)n->n_items, n->dim, 1.0f, n->final + (size_t)c->q[r].user * n->dim,
                 n->dim, I, n->dim, 0.0f, c->scores + r * n->n_items, (int64_t)n->n_items);
}

int qy_rec_lightgcn_score(const qy_rec_model *m, const qy_rec_query *q, size_t n, float *scores,
                          qy_pool *pool) {
    gcn_score_ctx c = {m, q, scores};
    qy_pool_for(pool, n, 16, gcn_score_rows, &c);
    return QY_OK;
}

int qy_rec_lightgcn_save(const qy_rec_model *m, void **blob, size_t *len) {
    const gcn_state *s = m->state;
    return qy_lightgcn_save(s->net, blob, len);
}

int qy_rec_lightgcn_load(qy_rec_model *m, const uint8_t *blob, size_t len) {
    gcn_state *s = qy_calloc(1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    m->state = s;
    int st = qy_lightgcn_load(m->n_users, m->n_items, blob, len, &s->net);
    if (st) qy_rec_lightgcn_free(m);
    return st;
}

int qy_rec_lightgcn_item_emb(const qy_rec_model *m, const float **emb, int *dim) {
    const gcn_state *s = m->state;
    *emb = s->net->final + (size_t)s->net->n_users * s->net->dim;
    *dim = s->net->dim;
    return QY_OK;
}

int qy_rec_lightgcn_spans(qy_rec_model *m, qy_rec_span *sp, size_t cap, size_t *n) {
    gcn_state *s = m->state;
    if (!s->ex_user || !s->net->opt)
        return qy_error(QY_ERR_ARG, "lightgcn: a model loaded from a checkpoint cannot train further");
    size_t k = 0;
    s->steps = qy_optim_steps(s->net->opt);
    param_spans(s->net->ps, s->net->opt, sp, cap, &k);
    qy_rec_span_put(sp, cap, &k, &s->steps, sizeof s->steps);
    qy_rec_span_put(sp, cap, &k, &s->rng, sizeof s->rng);
    *n = k;
    return QY_OK;
}

/* the final embeddings follow from the restored layer-0 ones */
int qy_rec_lightgcn_restored(qy_rec_model *m, qy_pool *pool) {
    gcn_state *s = m->state;
    qy_optim_set_steps(s->net->opt, s->steps);
    return qy_lightgcn_refresh(s->net, pool);
}
