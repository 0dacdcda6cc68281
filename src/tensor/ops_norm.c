/* ops_norm.c — row-wise ops over the last dim C: LayerNorm, RMSNorm, L2
 * normalisation, softmax, log-softmax. Weight/bias gradients are reduced per fixed
 * chunk of rows and the chunks added in order (deterministic at any thread count). */
#include <math.h>
#include <string.h>

#include "tensor/tensor_internal.h"

#define SHP(t, buf) qy_shape_str((t), (buf), sizeof(buf))

enum { NORM_LAYER, NORM_RMS, NORM_L2 };

typedef struct norm_job {
    int kind;
    const float *x, *w, *b, *dy;
    float *y, *dx, *mean, *rstd;
    float *pw, *pb; /* per-chunk partial dw, db (count x C) */
    size_t C;
    float eps;
    qy_chunks ch;
} norm_job;

/* lane-wise sums (8 lanes, combined in a fixed order): vectorise, same bits on
 * every CPU */
#define LANES 8
static inline float lanes_total(const float *l) {
    return ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
}

/* sum of (x - m)^2 */
static inline float sum_sq_dev(const float *x, float m, size_t C) {
    float l[LANES] = {0};
    size_t c = 0;
    for (; c + LANES <= C; c += LANES)
        for (int k = 0; k < LANES; k++) l[k] += (x[c + k] - m) * (x[c + k] - m);
    for (; c < C; c++) l[c % LANES] += (x[c] - m) * (x[c] - m);
    return lanes_total(l);
}

QY_VEC static void norm_fw_range(void *vctx, size_t s, size_t e, int tid) {
    const norm_job *j = vctx;
    size_t C = j->C;
    for (size_t r = s; r < e; r++) {
        const float *x = j->x + r * C;
        float *y = j->y + r * C;
        if (j->kind == NORM_LAYER) {
            float mf = qy_vsum(x, C) / (float)C;
            float var = sum_sq_dev(x, mf, C) / (float)C;
            float rs = 1.0f / sqrtf(var + j->eps);
            j->mean[r] = mf;
            j->rstd[r] = rs;
            if (j->b)
                for (size_t c = 0; c < C; c++) y[c] = (x[c] - mf) * rs * j->w[c] + j->b[c];
            else
                for (size_t c = 0; c < C; c++) y[c] = (x[c] - mf) * rs * j->w[c];
        } else if (j->kind == NORM_RMS) {
            float rs = 1.0f / sqrtf(sum_sq_dev(x, 0.0f, C) / (float)C + j->eps);
            j->rstd[r] = rs;
            for (size_t c = 0; c < C; c++) y[c] = j->w[c] * (x[c] * rs);
        } else {
            float nrm = sqrtf(sum_sq_dev(x, 0.0f, C));
            int clamped = !(nrm >= j->eps);
            float inv = 1.0f / (clamped ? j->eps : nrm);
            j->rstd[r] = inv;
            j->mean[r] = clamped ? 0.0f : 1.0f; /* 1: the norm was not clamped */
            for (size_t c = 0; c < C; c++) y[c] = x[c] * inv;
        }
    }
}

/* backward, one fixed chunk of rows per call; pw/pb (this chunk's partial dw, db)
 * always exist */
QY_VEC static void norm_bw_range(void *vctx, size_t s, size_t e, int tid) {
    const norm_job *j = vctx;
    size_t C = j->C;
    for (size_t ci = s; ci < e; ci++) {
        size_t r0 = ci * j->ch.per, r1 = r0 + j->ch.per < j->ch.rows ? r0 + j->ch.per : j->ch.rows;
        float *pw = j->pw + ci * C, *pb = j->pb + ci * C;
        memset(pw, 0, C * sizeof(float));
        memset(pb, 0, C * sizeof(float));
        for (size_t r = r0; r < r1; r++) {
            const float *x = j->x + r * C, *dy = j->dy + r * C;
            float rs = j->rstd[r], mf = j->kind == NORM_LAYER ? j->mean[r] : 0.0f;
            if (j->kind == NORM_L2) {
                if (!j->dx) continue;
                /* y = x/n: dx = (dy - y (y.dy)) / n when not clamped, dy/eps otherwise */
                float l[LANES] = {0};
                size_t c = 0;
                for (; c + LANES <= C; c += LANES)
                    for (int k = 0; k < LANES; k++) l[k] += x[c + k] * rs * dy[c + k];
                for (; c < C; c++) l[c % LANES] += x[c] * rs * dy[c];
                float kk = j->mean[r] != 0.0f ? lanes_total(l) : 0.0f;
                for (c = 0; c < C; c++) j->dx[r * C + c] += (dy[c] - x[c] * rs * kk) * rs;
                continue;
            }
            /* sums of dxhat and dxhat * xhat; weight/bias partials */
            float la[LANES] = {0}, lb[LANES] = {0};
            const float *w = j->w;
            size_t c = 0;
            for (; c + LANES <= C; c += LANES)
                for (int k = 0; k < LANES; k++) {
                    float h = (x[c + k] - mf) * rs, dh = dy[c + k] * w[c + k];
                    la[k] += dh;
                    lb[k] += dh * h;
                    pw[c + k] += dy[c + k] * h;
                    pb[c + k] += dy[c + k];
                }
            for (; c < C; c++) {
                float h = (x[c] - mf) * rs, dh = dy[c] * w[c];
                la[c % LANES] += dh;
                lb[c % LANES] += dh * h;
                pw[c] += dy[c] * h;
                pb[c] += dy[c];
            }
            if (!j->dx) continue;
            float ma = j->kind == NORM_LAYER ? lanes_total(la) / (float)C : 0.0f;
            float mb = lanes_total(lb) / (float)C;
            float *dx = j->dx + r * C;
            for (c = 0; c < C; c++) {
                float h = (x[c] - mf) * rs, dh = dy[c] * w[c];
                dx[c] += rs * (dh - ma - h * mb);
            }
        }
    }
}

static void norm_bw(qy_graph *g, qy_node *nd) {
    qy_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->nin > 2 ? nd->in[2] : NULL;
    norm_job j = {0};
    j.kind = (int)nd->i[0];
    j.x = x->data;
    j.w = w ? w->data : NULL;
    j.dy = nd->out->grad;
    j.mean = (float *)nd->p[0];
    j.rstd = (float *)nd->p[1];
    j.C = (size_t)qy_last(x);
    j.ch = qy_chunks_of(qy_rows(x), 16);
    j.dx = qy_grad_of(g, x);
    float *dw = w ? qy_grad_of(g, w) : NULL, *db = b ? qy_grad_of(g, b) : NULL;
    j.pw = qy_graph_floats(g, j.ch.count * j.C, 0);
    j.pb = qy_graph_floats(g, j.ch.count * j.C, 0);
    if (g->status) return;
    qy_pool_for(g->pool, j.ch.count, 1, norm_bw_range, &j);
    for (size_t ci = 0; ci < j.ch.count; ci++)
        for (size_t c = 0; c < j.C; c++) {
            if (dw) dw[c] += j.pw[ci * j.C + c];
            if (db) db[c] += j.pb[ci * j.C + c];
        }
}

static qy_tensor *norm(qy_graph *g, int kind, const char *op, qy_tensor *x, qy_tensor *w, qy_tensor *b,
                       float eps) {
    if (qy_op_bad(g, x)) return NULL;
    if (kind != NORM_L2 && qy_op_bad(g, w)) return NULL;
    int64_t C = qy_last(x);
    char sx[64], sw[64];
    if (w && (w->n != (size_t)C))
        return qy_op_fail(g, QY_ERR_SHAPE, "%s: x %s and weight %s: weight needs %lld elements", op,
                          SHP(x, sx), SHP(w, sw), (long long)C);
    if (b && (b->n != (size_t)C))
        return qy_op_fail(g, QY_ERR_SHAPE, "%s: x %s and bias %s: bias needs %lld elements", op, SHP(x, sx),
                          SHP(b, sw), (long long)C);
    if (!(eps >= 0.0f)) return qy_op_fail(g, QY_ERR_ARG, "%s: eps %g is negative", op, eps);
    qy_tensor *in[3] = {x, w, b};
    int nin = b ? 3 : (w ? 2 : 1);
    qy_tensor *out = qy_op_out(g, x->ndim, x->shape, in, nin);
    if (!out) return NULL;
    size_t N = qy_rows(x);
    norm_job j = {0};
    j.kind = kind;
    j.x = x->data;
    j.w = w ? w->data : NULL;
    j.b = b ? b->data : NULL;
    j.y = out->data;
    j.C = (size_t)C;
    j.eps = eps;
    j.mean = qy_graph_floats(g, N, 0);
    j.rstd = qy_graph_floats(g, N, 0);
    if (g->status) return NULL;
    qy_pool_for(g->pool, N, 16, norm_fw_range, &j);
    qy_node *nd = qy_op_record(g, op, norm_bw, out, in, nin);
    if (nd) {
        nd->i[0] = kind;
        nd->p[0] = j.mean;
        nd->p[1] = j.rstd;
    }
    return g->status ? NULL : out;
}

qy_tensor *qy_layernorm(qy_graph *g, qy_tensor *x, qy_tensor *w, qy_tensor *b, float eps) {
    return norm(g, NORM_LAYER, "layernorm", x, w, b, eps);
}
qy_tensor *qy_rmsnorm(qy_graph *g, qy_tensor *x, qy_tensor *w, float eps) {
    return norm(g, NORM_RMS, "rmsnorm", x, w, NULL, eps);
}
qy_tensor *qy_l2_normalize(qy_graph *g, qy_tensor *x, float eps) {
    return norm(g, NORM_L2, "l2_normalize", x, NULL, NULL, eps);
}

/* ---------------------------------------------------------------- softmax */

typedef struct sm_job {
    int log;
    const float *x, *y, *dy;
    float *out, *dx;
    size_t C;
} sm_job;

QY_VEC static void sm_fw_range(void *vctx, size_t s, size_t e, int tid) {
    const sm_job *j = vctx;
    size_t C = j->C;
    for (size_t r = s; r < e; r++) {
        const float *x = j->x + r * C;
        float *y = j->out + r * C;
        float mx = qy_max(x, C);
        double sum = qy_sum_exp_shift(x, mx, C);
        if (j->log) {
            float lse = (float)log(sum);
            for (size_t c = 0; c < C; c++) y[c] = (x[c] - mx) - lse;
        } else {
            float inv = (float)(1.0 / sum);
            for (size_t c = 0; c < C; c++) y[c] = qy_fexp(x[c] - mx) * inv;
        }
    }
}

QY_VEC static void sm_bw_range(void *vctx, size_t s, size_t e, int tid) {
    const sm_job *j = vctx;
    size_t C = j->C;
    for (size_t r = s; r < e; r++) {
        const float *y = j->y + r * C, *dy = j->dy + r * C;
        float *dx = j->dx + r * C;
        double acc = 0;
        if (j->log) {
            for (size_t c = 0; c < C; c++) acc += dy[c];
            float a = (float)acc;
            for (size_t c = 0; c < C; c++) dx[c] += dy[c] - qy_fexp(y[c]) * a;
        } else {
            for (size_t c = 0; c < C; c++) acc += (double)dy[c] * y[c];
            float a = (float)acc;
            for (size_t c = 0; c < C; c++) dx[c] += y[c] * (dy[c] - a);
        }
    }
}

static void sm_bw(qy_graph *g, qy_node *nd) {
    sm_job j = {(int)nd->i[0], NULL, nd->out->data, nd->out->grad, NULL, NULL, (size_t)qy_last(nd->out)};
    j.dx = qy_grad_of(g, nd->in[0]);
    if (!j.dx) return;
    qy_pool_for(g->pool, qy_rows(nd->out), 16, sm_bw_range, &j);
}

static qy_tensor *softmax(qy_graph *g, qy_tensor *x, int log) {
    if (qy_op_bad(g, x)) return NULL;
    qy_tensor *out = qy_op_out(g, x->ndim, x->shape, &x, 1);
    if (!out) return NULL;
    sm_job j = {log, x->data, NULL, NULL, out->data, NULL, (size_t)qy_last(x)};
    qy_pool_for(g->pool, qy_rows(x), 16, sm_fw_range, &j);
    qy_node *nd = qy_op_record(g, log ? "log_softmax" : "softmax", sm_bw, out, &x, 1);
    if (nd) nd->i[0] = log;
    return g->status ? NULL : out;
}

qy_tensor *qy_softmax(qy_graph *g, qy_tensor *x) { return softmax(g, x, 0); }
qy_tensor *qy_log_softmax(qy_graph *g, qy_tensor *x) { return softmax(g, x, 1); }
