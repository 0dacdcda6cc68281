/* ops_loss.c — losses: cross-entropy fused with log-softmax (one kernel), and
 * KL divergence, MSE, InfoNCE and the GRU cell built from the other ops (which
 * is also how a user writes a custom loss); top-k selection. */
#include <math.h>
#include <string.h>

#include "tensor/tensor_internal.h"

#define SHP(t, buf) qy_shape_str((t), (buf), sizeof(buf))

/* ----------------------------------------------------------- cross-entropy */

typedef struct ce_job {
    const float *x, *w, *dy;
    const int32_t *tg;
    float *lse, *loss, *dx;
    size_t V;
    int32_t ignore;
    int reduction;
    float coef; /* MEAN/SUM: dy * (1/denominator) */
    int store;  /* dx is a new buffer: write every element */
} ce_job;

QY_VEC static void ce_fw_range(void *vctx, size_t s, size_t e, int tid) {
    const ce_job *j = vctx;
    for (size_t r = s; r < e; r++) {
        const float *x = j->x + r * j->V;
        float mx = qy_max(x, j->V);
        double sum = qy_sum_exp_shift(x, mx, j->V);
        float lse = mx + (float)log(sum);
        j->lse[r] = lse;
        if (j->tg[r] == j->ignore)
            j->loss[r] = 0.0f;
        else
            j->loss[r] = (lse - x[j->tg[r]]) * (j->w ? j->w[r] : 1.0f);
    }
}

QY_VEC static void ce_bw_range(void *vctx, size_t s, size_t e, int tid) {
    const ce_job *j = vctx;
    for (size_t r = s; r < e; r++) {
        float *dx = j->dx + r * j->V;
        if (j->tg[r] == j->ignore) {
            if (j->store) memset(dx, 0, j->V * sizeof(float));
            continue;
        }
        float c = (j->reduction == QY_REDUCE_NONE ? j->dy[r] : j->coef) * (j->w ? j->w[r] : 1.0f);
        const float *x = j->x + r * j->V;
        float l = j->lse[r];
        if (j->store)
            for (size_t k = 0; k < j->V; k++) dx[k] = c * qy_fexp(x[k] - l);
        else
            for (size_t k = 0; k < j->V; k++) dx[k] += c * qy_fexp(x[k] - l);
        dx[j->tg[r]] -= c;
    }
}

static void ce_bw(qy_graph *g, qy_node *nd) {
    qy_tensor *x = nd->in[0];
    ce_job j = {x->data,           nd->p[1],      nd->out->grad, nd->p[0],
                (float *)nd->p[2], NULL,          NULL,          (size_t)qy_last(x),
                (int32_t)nd->i[0], (int)nd->i[1], 0.0f,          0};
    j.dx = qy_grad_fresh(g, x, &j.store);
    if (!j.dx) return;
    if (j.reduction != QY_REDUCE_NONE) j.coef = nd->out->grad[0] * nd->f[0];
    qy_pool_for(g->pool, qy_rows(x), 4, ce_bw_range, &j);
}

qy_tensor *qy_cross_entropy(qy_graph *g, qy_tensor *logits, const int32_t *targets, const float *weights,
                            int32_t ignore_index, int reduction) {
    if (qy_op_bad(g, logits)) return NULL;
    char sl[64];
    if (reduction < QY_REDUCE_MEAN || reduction > QY_REDUCE_NONE)
        return qy_op_fail(g, QY_ERR_ARG, "cross_entropy: unknown reduction %d", reduction);
    size_t N = qy_rows(logits), V = (size_t)qy_last(logits);
    for (size_t r = 0; r < N; r++)
        if (targets[r] != ignore_index && (targets[r] < 0 || (size_t)targets[r] >= V))
            return qy_op_fail(g, QY_ERR_RANGE,
                              "cross_entropy: target %d of row %zu is outside [0,%zu) for logits %s",
                              targets[r], r, V, SHP(logits, sl));
    int32_t *tg = qy_graph_alloc(g, N * sizeof *tg);
    float *w = weights ? qy_graph_floats(g, N, 0) : NULL;
    float *lse = qy_graph_floats(g, N, 0), *loss = qy_graph_floats(g, N, 0);
    if (g->status) return NULL;
    memcpy(tg, targets, N * sizeof *tg);
    if (w) memcpy(w, weights, N * sizeof *w);
    int64_t shape[QY_MAX_DIMS] = {1, 1, 1, 1};
    int ndim = 1;
    if (reduction == QY_REDUCE_NONE) {
        ndim = logits->ndim > 1 ? logits->ndim - 1 : 1;
        for (int i = 0; i < logits->ndim - 1; i++) shape[i] = logits->shape[i];
    }
    qy_tensor *out = qy_op_out(g, ndim, shape, &logits, 1);
    if (!out) return NULL;
    ce_job j = {logits->data, w, NULL, tg, lse, loss, NULL, V, ignore_index, reduction, 0.0f, 0};
    qy_pool_for(g->pool, N, 4, ce_fw_range, &j);
    double total = 0, denom = 0;
    for (size_t r = 0; r < N; r++) {
        total += loss[r];
        if (tg[r] != ignore_index) denom += w ? w[r] : 1.0f;
    }
    float coef = 1.0f;
    if (reduction == QY_REDUCE_NONE)
        memcpy(out->data, loss, N * sizeof(float));
    else if (reduction == QY_REDUCE_SUM)
        out->data[0] = (float)total;
    else {
        /* every row ignored: loss 0 and no gradient (PyTorch would give NaN) */
        out->data[0] = denom != 0 ? (float)(total / denom) : 0.0f;
        coef = denom != 0 ? (float)(1.0 / denom) : 0.0f;
    }
    qy_node *nd = qy_op_record(g, "cross_entropy", ce_bw, out, &logits, 1);
    if (nd) {
        nd->p[0] = tg;
        nd->p[1] = w;
        nd->p[2] = lse;
        nd->i[0] = ignore_index;
        nd->i[1] = reduction;
        nd->f[0] = coef;
    }
    return g->status ? NULL : out;
}

/* ------------------------------------------------------- composite losses */

qy_tensor *qy_kl_div(qy_graph *g, qy_tensor *p_logits, qy_tensor *q_logits, float temperature) {
    if (qy_op_bad(g, p_logits) || qy_op_bad(g, q_logits)) return NULL;
    char sp[64], sq[64];
    if (p_logits->n != q_logits->n || qy_last(p_logits) != qy_last(q_logits))
        return qy_op_fail(g, QY_ERR_SHAPE, "kl_div: p %s and q %s differ", SHP(p_logits, sp),
                          SHP(q_logits, sq));
    if (!(temperature > 0.0f))
        return qy_op_fail(g, QY_ERR_ARG, "kl_div: temperature %g must be > 0", temperature);
    float inv_t = 1.0f / temperature;
    qy_tensor *lp = qy_log_softmax(g, temperature == 1.0f ? p_logits : qy_scale(g, p_logits, inv_t));
    qy_tensor *lq = qy_log_softmax(g, temperature == 1.0f ? q_logits : qy_scale(g, q_logits, inv_t));
    qy_tensor *terms = qy_mul(g, qy_exp(g, lp), qy_sub(g, lp, lq));
    float rows = (float)qy_rows(p_logits);
    return qy_scale(g, qy_sum(g, terms), temperature * temperature / rows);
}

qy_tensor *qy_mse(qy_graph *g, qy_tensor *a, qy_tensor *b) {
    if (qy_op_bad(g, a) || qy_op_bad(g, b)) return NULL;
    if (a->n != b->n) {
        char sa[64], sb[64];
        return qy_op_fail(g, QY_ERR_SHAPE, "mse: a %s and b %s differ", SHP(a, sa), SHP(b, sb));
    }
    qy_tensor *d = qy_sub(g, a, b->ndim == a->ndim ? b : qy_reshape(g, b, a->ndim, a->shape));
    return qy_mean(g, qy_mul(g, d, d));
}

qy_tensor *qy_infonce(qy_graph *g, qy_tensor *q, qy_tensor *k, float tau) {
    if (qy_op_bad(g, q) || qy_op_bad(g, k)) return NULL;
    char sq[64], sk[64];
    if (q->ndim != 2 || k->ndim != 2 || q->shape[0] != k->shape[0] || q->shape[1] != k->shape[1])
        return qy_op_fail(g, QY_ERR_SHAPE, "infonce: q %s and k %s must both be (N,D)", SHP(q, sq),
                          SHP(k, sk));
    if (!(tau > 0.0f)) return qy_op_fail(g, QY_ERR_ARG, "infonce: temperature %g must be > 0", tau);
    size_t N = (size_t)q->shape[0];
    int32_t *diag = qy_graph_alloc(g, N * sizeof *diag);
    if (!diag) return NULL;
    for (size_t i = 0; i < N; i++) diag[i] = (int32_t)i;
    qy_tensor *logits = qy_scale(g, qy_matmul(g, q, k, 0, 1), 1.0f / tau);
    return qy_cross_entropy(g, logits, diag, NULL, -100, QY_REDUCE_MEAN);
}

qy_tensor *qy_gru_cell(qy_graph *g, qy_tensor *x, qy_tensor *h, qy_tensor *w_ih, qy_tensor *w_hh,
                       qy_tensor *b_ih, qy_tensor *b_hh) {
    if (qy_op_bad(g, x) || qy_op_bad(g, h) || qy_op_bad(g, w_ih) || qy_op_bad(g, w_hh)) return NULL;
    char s1[64], s2[64], s3[64], s4[64];
    int64_t H = h->ndim == 2 ? h->shape[1] : 0;
    if (x->ndim != 2 || h->ndim != 2 || x->shape[0] != h->shape[0] || w_ih->ndim != 2 ||
        w_ih->shape[0] != 3 * H || w_ih->shape[1] != x->shape[1] || w_hh->ndim != 2 ||
        w_hh->shape[0] != 3 * H || w_hh->shape[1] != H || (b_ih && b_ih->n != (size_t)(3 * H)) ||
        (b_hh && b_hh->n != (size_t)(3 * H)))
        return qy_op_fail(g, QY_ERR_SHAPE,
                          "gru_cell: x %s h %s w_ih %s w_hh %s: expected x (B,I), h (B,H), w_ih "
                          "(3H,I), w_hh (3H,H), biases (3H)",
                          SHP(x, s1), SHP(h, s2), SHP(w_ih, s3), SHP(w_hh, s4));
    qy_tensor *gi = qy_matmul(g, x, w_ih, 0, 1), *gh = qy_matmul(g, h, w_hh, 0, 1);
    if (b_ih) gi = qy_add(g, gi, b_ih);
    if (b_hh) gh = qy_add(g, gh, b_hh);
    qy_tensor *r = qy_sigmoid(g, qy_add(g, qy_slice(g, gi, 1, 0, H), qy_slice(g, gh, 1, 0, H)));
    qy_tensor *z = qy_sigmoid(g, qy_add(g, qy_slice(g, gi, 1, H, H), qy_slice(g, gh, 1, H, H)));
    qy_tensor *n =
        qy_tanh(g, qy_add(g, qy_slice(g, gi, 1, 2 * H, H), qy_mul(g, r, qy_slice(g, gh, 1, 2 * H, H))));
    /* h' = (1 - z) n + z h = n + z (h - n) */
    return qy_add(g, n, qy_mul(g, z, qy_sub(g, h, n)));
}

/* ------------------------------------------------------------------- top-k */

int qy_topk(const qy_tensor *t, int64_t k, float *vals, int32_t *idx) {
    if (!t) return qy_error(QY_ERR_ARG, "topk: NULL tensor");
    int64_t V = qy_last(t);
    if (k < 1 || k > V) {
        char st[64];
        return qy_error(QY_ERR_SHAPE, "topk: k = %lld for rows of %lld in %s", (long long)k, (long long)V,
                        SHP(t, st));
    }
    size_t N = qy_rows(t);
    for (size_t r = 0; r < N; r++) {
        const float *x = t->data + r * (size_t)V;
        float *vr = vals + r * (size_t)k;
        int32_t *ir = idx + r * (size_t)k;
        int64_t have = 0;
        for (int64_t c = 0; c < V; c++) {
            float v = x[c];
            if (have == k && !(v > vr[k - 1])) continue; /* ties keep the lower index */
            int64_t p = have < k ? have++ : k - 1;
            while (p > 0 && v > vr[p - 1]) {
                vr[p] = vr[p - 1];
                ir[p] = ir[p - 1];
                p--;
            }
            vr[p] = v;
            ir[p] = (int32_t)c;
        }
    }
    return QY_OK;
}
