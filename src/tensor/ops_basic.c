/* ops_basic.c — matmul, broadcasting arithmetic, shape ops (reshape, transpose,
 * concat, slice), index-select/gather, reductions, dropout. Each op: a forward
 * kernel on the pool and a backward function recorded on the tape. */
#include <math.h>
#include <string.h>

#include "tensor/tensor_internal.h"

#define SHP(t, buf) qy_shape_str((t), (buf), sizeof(buf))

/* ----------------------------------------------------------------- matmul */

typedef struct mm_dims {
    int64_t M, N, K, batch; /* batch = number of (M,K)x(K,N) products */
    int flat;               /* b 2-D and !ta: leading dims of a folded into M */
    int b_shared;           /* b is 2-D */
    int64_t sa, sb, sc;     /* per-batch strides */
} mm_dims;

typedef struct mm_job {
    qy_pool *pool;
    int ta, tb;
    mm_dims d;
    const float *A, *B;
    float *C;
    float beta;
    int64_t lda, ldb;
} mm_job;

static void mm_batch_range(void *vctx, size_t b, size_t e, int tid) {
    const mm_job *j = vctx;
    for (size_t i = b; i < e; i++)
        qy_sgemm(j->pool, j->ta, j->tb, j->d.M, j->d.N, j->d.K, 1.0f, j->A + i * j->d.sa, j->lda,
                 j->B + (j->d.b_shared ? 0 : i * j->d.sb), j->ldb, j->beta, j->C + i * j->d.sc, j->d.N);
}

static void mm_bw(qy_graph *g, qy_node *nd) {
    qy_tensor *a = nd->in[0], *b = nd->in[1];
    int ta = (int)nd->i[0], tb = (int)nd->i[1];
    mm_dims d;
    memcpy(&d, nd->p[0], sizeof d);
    const float *dC = nd->out->grad;
    int64_t lda = a->shape[a->ndim - 1], ldb = b->shape[b->ndim - 1];
    int fresh;
    float *dA = qy_grad_fresh(g, a, &fresh);
    if (g->status) return;
    float beta = fresh ? 0.0f : 1.0f; /* a new buffer is written, not accumulated */
    /* dA: !ta: dC (M,N) op(B)^T; ta: op(B) dC^T (K,M) */
    if (dA) {
        for (int64_t i = 0; i < d.batch; i++) {
            const float *Bi = b->data + (d.b_shared ? 0 : i * d.sb);
            if (!ta)
                qy_sgemm(g->pool, 0, !tb, d.M, d.K, d.N, 1.0f, dC + i * d.sc, d.N, Bi, ldb, beta,
                         dA + i * d.sa, lda);
            else
                qy_sgemm(g->pool, tb, 1, d.K, d.M, d.N, 1.0f, Bi, ldb, dC + i * d.sc, d.N, beta,
                         dA + i * d.sa, lda);
        }
    }
    float *dB = qy_grad_fresh(g, b, &fresh); /* after dA: a and b may be one tensor */
    if (g->status) return;
    /* dB: !tb: op(A)^T dC (K,N); tb: dC^T op(A) (N,K); summed over batches in order
     * when b is shared */
    if (dB) {
        for (int64_t i = 0; i < d.batch; i++) {
            const float *Ai = a->data + i * d.sa;
            float *dBi = dB + (d.b_shared ? 0 : i * d.sb);
            /* shared b: the first batch may store, the others accumulate */
            float bb = (fresh && (i == 0 || !d.b_shared)) ? 0.0f : 1.0f;
            if (!tb)
                qy_sgemm(g->pool, !ta, 0, d.K, d.N, d.M, 1.0f, Ai, lda, dC + i * d.sc, d.N, bb, dBi, ldb);
            else
                qy_sgemm(g->pool, 1, ta, d.N, d.K, d.M, 1.0f, dC + i * d.sc, d.N, Ai, lda, bb, dBi, ldb);
        }
    }
}

qy_tensor *qy_matmul(qy_graph *g, qy_tensor *a, qy_tensor *b, int ta, int tb) {
    if (qy_op_bad(g, a) || qy_op_bad(g, b)) return NULL;
    char sa[64], sb[64];
    if (a->ndim < 2 || b->ndim < 2)
        return qy_op_fail(g, QY_ERR_SHAPE, "matmul: a %s and b %s: both need >= 2 dims", SHP(a, sa),
                          SHP(b, sb));
    int64_t ar = a->shape[a->ndim - 2], ac = a->shape[a->ndim - 1];
    int64_t br = b->shape[b->ndim - 2], bc = b->shape[b->ndim - 1];
    mm_dims d = {0};
    d.M = ta ? ac : ar;
    d.K = ta ? ar : ac;
    int64_t K2 = tb ? bc : br;
    d.N = tb ? br : bc;
    if (d.K != K2)
        return qy_op_fail(g, QY_ERR_SHAPE, "matmul: a %s%s and b %s%s: inner dims %lld and %lld differ",
                          SHP(a, sa), ta ? "^T" : "", SHP(b, sb), tb ? "^T" : "", (long long)d.K,
                          (long long)K2);
    int64_t shape[QY_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[a->ndim - 2] = d.M;
    shape[a->ndim - 1] = d.N;
    d.b_shared = b->ndim == 2;
    if (!d.b_shared) {
        int same = a->ndim == b->ndim;
        for (int i = 0; same && i < a->ndim - 2; i++) same = a->shape[i] == b->shape[i];
        if (!same)
            return qy_op_fail(g, QY_ERR_SHAPE, "matmul: a %s and b %s: batch dims differ", SHP(a, sa),
                              SHP(b, sb));
    }
    d.batch = (int64_t)(a->n / (size_t)(ar * ac));
    d.sa = ar * ac;
    d.sb = br * bc;
    d.sc = d.M * d.N;
    if (d.b_shared && !ta) { /* fold the batch into M: one big product */
        d.M *= d.batch;
        d.batch = 1;
        d.flat = 1;
    }
    qy_tensor *in[2] = {a, b};
    qy_tensor *out = qy_op_out(g, a->ndim, shape, in, 2);
    if (!out) return NULL;
    mm_job j = {g->pool, ta, tb, d, a->data, b->data, out->data, 0.0f, ac, bc};
    if (d.batch == 1)
        mm_batch_range(&j, 0, 1, 0);
    else
        qy_pool_for(g->pool, (size_t)d.batch, 1, mm_batch_range, &j);
    qy_node *nd = qy_op_record(g, "matmul", mm_bw, out, in, 2);
    if (nd) {
        mm_dims *saved = qy_graph_alloc(g, sizeof *saved);
        if (!saved) return NULL;
        *saved = d;
        nd->p[0] = saved;
        nd->i[0] = ta;
        nd->i[1] = tb;
    }
    return g->status ? NULL : out;
}

/* ----------------------------------------------------- broadcasting binary */

enum { BIN_ADD, BIN_SUB, BIN_MUL };

typedef struct bin_job {
    int kind;
    const float *a, *b, *dy;
    float *y, *da, *db;
    size_t n, nb;
} bin_job;

QY_VEC static void bin_fw_range(void *vctx, size_t s, size_t e, int tid) {
    const bin_job *j = vctx;
    /* ranges are whole rows of nb elements */
    for (size_t r = s; r < e; r++) {
        const float *a = j->a + r * j->nb;
        float *y = j->y + r * j->nb;
        const float *b = j->b;
        size_t nb = j->nb;
        switch (j->kind) {
        case BIN_ADD:
            for (size_t i = 0; i < nb; i++) y[i] = a[i] + b[i];
            break;
        case BIN_SUB:
            for (size_t i = 0; i < nb; i++) y[i] = a[i] - b[i];
            break;
        default:
            for (size_t i = 0; i < nb; i++) y[i] = a[i] * b[i];
            break;
        }
    }
}

QY_VEC static void bin_bw_a_range(void *vctx, size_t s, size_t e, int tid) {
    const bin_job *j = vctx;
    for (size_t r = s; r < e; r++) {
        const float *dy = j->dy + r * j->nb;
        float *da = j->da + r * j->nb;
        if (j->kind == BIN_MUL)
            for (size_t i = 0; i < j->nb; i++) da[i] += dy[i] * j->b[i];
        else
            for (size_t i = 0; i < j->nb; i++) da[i] += dy[i];
    }
}

/* db[c] += sum over rows r (in order) of dy[r,c] (* a[r,c]); split over columns */
QY_VEC static void bin_bw_b_range(void *vctx, size_t s, size_t e, int tid) {
    const bin_job *j = vctx;
    size_t rows = j->n / j->nb;
    float acc[256];
    for (size_t c0 = s; c0 < e; c0 += 256) {
        size_t c1 = c0 + 256 < e ? c0 + 256 : e;
        memset(acc, 0, sizeof acc);
        for (size_t r = 0; r < rows; r++) {
            const float *dy = j->dy + r * j->nb;
            if (j->kind == BIN_MUL) {
                const float *a = j->a + r * j->nb;
                for (size_t c = c0; c < c1; c++) acc[c - c0] += dy[c] * a[c];
            } else {
                for (size_t c = c0; c < c1; c++) acc[c - c0] += dy[c];
            }
        }
        float sign = j->kind == BIN_SUB ? -1.0f : 1.0f;
        for (size_t c = c0; c < c1; c++) j->db[c] += sign * acc[c - c0];
    }
}

static void bin_bw(qy_graph *g, qy_node *nd) {
    qy_tensor *a = nd->in[0], *b = nd->in[1];
    bin_job j = {(int)nd->i[0], a->data, b->data, nd->out->grad, NULL, NULL, NULL, a->n, b->n};
    j.db = qy_grad_of(g, b);
    if (g->status) return;
    if (j.db) qy_pool_for(g->pool, b->n, 64, bin_bw_b_range, &j);
    /* add/sub: da = dy; when a has no gradient yet, it takes over dy's buffer
     * (dead after this node) instead of a zeroed copy: residual streams then pass
     * one buffer down the layers */
    if (j.kind != BIN_MUL && qy_grad_take(g, a, nd->out)) return;
    j.da = qy_grad_of(g, a);
    if (g->status || !j.da) return;
    qy_pool_for(g->pool, a->n / b->n, (4096 + b->n - 1) / b->n, bin_bw_a_range, &j);
}

static qy_tensor *binary(qy_graph *g, int kind, const char *op, qy_tensor *a, qy_tensor *b) {
    if (qy_op_bad(g, a) || qy_op_bad(g, b)) return NULL;
    int ok = b->n == 1 || b->ndim <= a->ndim;
    for (int i = 0; ok && b->n != 1 && i < b->ndim; i++)
        ok = b->shape[b->ndim - 1 - i] == a->shape[a->ndim - 1 - i];
    if (!ok) {
        char sa[64], sb[64];
        return qy_op_fail(g, QY_ERR_SHAPE,
                          "%s: a %s and b %s: b must equal the trailing dims of a (or be 1 element)", op,
                          SHP(a, sa), SHP(b, sb));
    }
    qy_tensor *in[2] = {a, b};
    qy_tensor *out = qy_op_out(g, a->ndim, a->shape, in, 2);
    if (!out) return NULL;
    bin_job j = {kind, a->data, b->data, NULL, out->data, NULL, NULL, a->n, b->n};
    qy_pool_for(g->pool, a->n / b->n, (4096 + b->n - 1) / b->n, bin_fw_range, &j);
    qy_node *nd = qy_op_record(g, op, bin_bw, out, in, 2);
    if (nd) nd->i[0] = kind;
    return g->status ? NULL : out;
}

qy_tensor *qy_add(qy_graph *g, qy_tensor *a, qy_tensor *b) { return binary(g, BIN_ADD, "add", a, b); }
qy_tensor *qy_sub(qy_graph *g, qy_tensor *a, qy_tensor *b) { return binary(g, BIN_SUB, "sub", a, b); }
qy_tensor *qy_mul(qy_graph *g, qy_tensor *a, qy_tensor *b) { return binary(g, BIN_MUL, "mul", a, b); }

/* ------------------------------------------------------------- scale rows */

typedef struct srow_job {
    const float *x, *s, *dy;
    float *y, *dx, *ds;
    size_t C;
} srow_job;

QY_VEC static void srow_fw_range(void *vctx, size_t b, size_t e, int tid) {
    const srow_job *j = vctx;
    for (size_t r = b; r < e; r++)
        for (size_t c = 0; c < j->C; c++) j->y[r * j->C + c] = j->x[r * j->C + c] * j->s[r];
}

QY_VEC static void srow_bw_range(void *vctx, size_t b, size_t e, int tid) {
    const srow_job *j = vctx;
    for (size_t r = b; r < e; r++) {
        const float *dy = j->dy + r * j->C, *x = j->x + r * j->C;
        if (j->dx)
            for (size_t c = 0; c < j->C; c++) j->dx[r * j->C + c] += dy[c] * j->s[r];
        if (j->ds) {
            double acc = 0;
            for (size_t c = 0; c < j->C; c++) acc += (double)dy[c] * x[c];
            j->ds[r] += (float)acc;
        }
    }
}

static void srow_bw(qy_graph *g, qy_node *nd) {
    qy_tensor *x = nd->in[0], *s = nd->in[1];
    srow_job j = {x->data,          s->data,          nd->out->grad,     NULL,
                  qy_grad_of(g, x), qy_grad_of(g, s), (size_t)qy_last(x)};
    if (g->status) return;
    qy_pool_for(g->pool, qy_rows(x), (4096 + j.C - 1) / j.C, srow_bw_range, &j);
}

qy_tensor *qy_scale_rows(qy_graph *g, qy_tensor *x, qy_tensor *s) {
    if (qy_op_bad(g, x) || qy_op_bad(g, s)) return NULL;
    if (s->n != qy_rows(x)) {
        char sx[64], ss[64];
        return qy_op_fail(g, QY_ERR_SHAPE, "scale_rows: x %s has %zu rows, s %s has %zu values", SHP(x, sx),
                          qy_rows(x), SHP(s, ss), s->n);
    }
    qy_tensor *in[2] = {x, s};
    qy_tensor *out = qy_op_out(g, x->ndim, x->shape, in, 2);
    if (!out) return NULL;
    srow_job j = {x->data, s->data, NULL, out->data, NULL, NULL, (size_t)qy_last(x)};
    qy_pool_for(g->pool, qy_rows(x), (4096 + j.C - 1) / j.C, srow_fw_range, &j);
    qy_op_record(g, "scale_rows", srow_bw, out, in, 2);
    return g->status ? NULL : out;
}

/* --------------------------------------------------------- unary pointwise */

enum { UN_SCALE, UN_ADDS, UN_GELU_TANH, UN_GELU_ERF, UN_SILU, UN_RELU, UN_TANH, UN_SIGMOID, UN_EXP, UN_COPY };

typedef struct un_job {
    int kind;
    float s;
    const float *x, *y, *dy;
    float *out, *dx;
} un_job;

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

QY_VEC static void un_fw_range(void *vctx, size_t b, size_t e, int tid) {
    const un_job *j = vctx;
    const float *x = j->x;
    float *y = j->out, s = j->s;
    switch (j->kind) {
    case UN_SCALE:
        for (size_t i = b; i < e; i++) y[i] = x[i] * s;
        break;
    case UN_ADDS:
        for (size_t i = b; i < e; i++) y[i] = x[i] + s;
        break;
    case UN_COPY: memcpy(y + b, x + b, (e - b) * sizeof(float)); break;
    case UN_GELU_TANH:
        for (size_t i = b; i < e; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + qy_ftanh_abs(GELU_K * (v + 0.044715f * v * v * v)));
        }
        break;
    case UN_GELU_ERF:
        for (size_t i = b; i < e; i++) y[i] = 0.5f * x[i] * (1.0f + qy_ferf(x[i] * 0.70710678118654752f));
        break;
    case UN_SILU:
        for (size_t i = b; i < e; i++) y[i] = x[i] / (1.0f + qy_fexp(-x[i]));
        break;
    case UN_RELU:
        for (size_t i = b; i < e; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case UN_TANH:
        for (size_t i = b; i < e; i++) y[i] = qy_ftanh(x[i]);
        break;
    case UN_SIGMOID:
        for (size_t i = b; i < e; i++) y[i] = 1.0f / (1.0f + qy_fexp(-x[i]));
        break;
    default:
        for (size_t i = b; i < e; i++) y[i] = qy_fexp(x[i]);
        break;
    }
}

QY_VEC static void un_bw_range(void *vctx, size_t b, size_t e, int tid) {
    const un_job *j = vctx;
    const float *x = j->x, *y = j->y, *dy = j->dy;
    float *dx = j->dx, s = j->s;
    switch (j->kind) {
    case UN_SCALE:
        for (size_t i = b; i < e; i++) dx[i] += dy[i] * s;
        break;
    case UN_ADDS:
    case UN_COPY:
        for (size_t i = b; i < e; i++) dx[i] += dy[i];
        break;
    case UN_GELU_TANH:
        for (size_t i = b; i < e; i++) {
            float v = x[i], u = GELU_K * (v + 0.044715f * v * v * v), t = qy_ftanh_abs(u);
            float du = GELU_K * (1.0f + 3.0f * 0.044715f * v * v);
            dx[i] += dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
        }
        break;
    case UN_GELU_ERF:
        for (size_t i = b; i < e; i++) {
            float v = x[i];
            float cdf = 0.5f * (1.0f + qy_ferf(v * 0.70710678118654752f));
            float pdf = 0.3989422804014327f * qy_fexp(-0.5f * v * v);
            dx[i] += dy[i] * (cdf + v * pdf);
        }
        break;
    case UN_SILU:
        for (size_t i = b; i < e; i++) {
            float sg = 1.0f / (1.0f + qy_fexp(-x[i]));
            dx[i] += dy[i] * sg * (1.0f + x[i] * (1.0f - sg));
        }
        break;
    case UN_RELU:
        for (size_t i = b; i < e; i++) dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case UN_TANH:
        for (size_t i = b; i < e; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
        break;
    case UN_SIGMOID:
        for (size_t i = b; i < e; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
        break;
    default:
        for (size_t i = b; i < e; i++) dx[i] += dy[i] * y[i];
        break;
    }
}

static void un_bw(qy_graph *g, qy_node *nd) {
    un_job j = {(int)nd->i[0], nd->f[0], nd->in[0]->data, nd->out->data, nd->out->grad, NULL, NULL};
    j.dx = qy_grad_of(g, nd->in[0]);
    if (!j.dx) return;
    qy_pool_for(g->pool, nd->in[0]->n, 8192, un_bw_range, &j);
}

static qy_tensor *unary(qy_graph *g, int kind, const char *op, qy_tensor *x, float s) {
    if (qy_op_bad(g, x)) return NULL;
    qy_tensor *out = qy_op_out(g, x->ndim, x->shape, &x, 1);
    if (!out) return NULL;
    un_job j = {kind, s, x->data, NULL, NULL, out->data, NULL};
    qy_pool_for(g->pool, x->n, 8192, un_fw_range, &j);
    qy_node *nd = qy_op_record(g, op, un_bw, out, &x, 1);
    if (nd) {
        nd->i[0] = kind;
        nd->f[0] = s;
    }
    return g->status ? NULL : out;
}

qy_tensor *qy_scale(qy_graph *g, qy_tensor *a, float s) { return unary(g, UN_SCALE, "scale", a, s); }
qy_tensor *qy_add_scalar(qy_graph *g, qy_tensor *a, float s) { return unary(g, UN_ADDS, "add_scalar", a, s); }
qy_tensor *qy_gelu_tanh(qy_graph *g, qy_tensor *x) { return unary(g, UN_GELU_TANH, "gelu_tanh", x, 0); }
qy_tensor *qy_gelu_erf(qy_graph *g, qy_tensor *x) { return unary(g, UN_GELU_ERF, "gelu_erf", x, 0); }
qy_tensor *qy_silu(qy_graph *g, qy_tensor *x) { return unary(g, UN_SILU, "silu", x, 0); }
qy_tensor *qy_relu(qy_graph *g, qy_tensor *x) { return unary(g, UN_RELU, "relu", x, 0); }
qy_tensor *qy_tanh(qy_graph *g, qy_tensor *x) { return unary(g, UN_TANH, "tanh", x, 0); }
qy_tensor *qy_sigmoid(qy_graph *g, qy_tensor *x) { return unary(g, UN_SIGMOID, "sigmoid", x, 0); }
qy_tensor *qy_exp(qy_graph *g, qy_tensor *x) { return unary(g, UN_EXP, "exp", x, 0); }

/* ------------------------------------------------------------------ swiglu */

typedef struct swiglu_job {
    const float *gate, *up, *dy;
    float *y, *dg, *du;
    int store; /* both gradients are new buffers: write, do not accumulate */
} swiglu_job;

QY_VEC static void swiglu_fw_range(void *vctx, size_t b, size_t e, int tid) {
    const swiglu_job *j = vctx;
    for (size_t i = b; i < e; i++) {
        float x = j->gate[i];
        j->y[i] = x / (1.0f + qy_fexp(-x)) * j->up[i];
    }
}

QY_VEC static void swiglu_bw_range(void *vctx, size_t b, size_t e, int tid) {
    const swiglu_job *j = vctx;
    const float *gate = j->gate, *up = j->up, *dy = j->dy;
    float *du = j->du, *dg = j->dg;
    if (j->store) /* separate loops so that each one vectorises */
        for (size_t i = b; i < e; i++) {
            float x = gate[i], sg = 1.0f / (1.0f + qy_fexp(-x));
            du[i] = dy[i] * x * sg;
            dg[i] = dy[i] * up[i] * sg * (1.0f + x * (1.0f - sg));
        }
    else if (du && dg)
        for (size_t i = b; i < e; i++) {
            float x = gate[i], sg = 1.0f / (1.0f + qy_fexp(-x));
            du[i] += dy[i] * x * sg;
            dg[i] += dy[i] * up[i] * sg * (1.0f + x * (1.0f - sg));
        }
    else if (dg)
        for (size_t i = b; i < e; i++) {
            float x = gate[i], sg = 1.0f / (1.0f + qy_fexp(-x));
            dg[i] += dy[i] * up[i] * sg * (1.0f + x * (1.0f - sg));
        }
    else if (du)
        for (size_t i = b; i < e; i++) {
            float x = gate[i], sg = 1.0f / (1.0f + qy_fexp(-x));
            du[i] += dy[i] * x * sg;
        }
}

static void swiglu_bw(qy_graph *g, qy_node *nd) {
    swiglu_job j = {nd->in[0]->data, nd->in[1]->data, nd->out->grad, NULL, NULL, NULL, 0};
    int fg = 0, fu = 0;
    j.dg = qy_grad_fresh(g, nd->in[0], &fg);
    j.du = nd->in[1] == nd->in[0] ? qy_grad_of(g, nd->in[1]) : qy_grad_fresh(g, nd->in[1], &fu);
    if (g->status) return;
    /* store into new buffers only when both are new (the common case), else zero them */
    j.store = fg && fu;
    if (!j.store) {
        if (fg) memset(j.dg, 0, nd->in[0]->n * sizeof(float));
        if (fu) memset(j.du, 0, nd->in[1]->n * sizeof(float));
    }
    qy_pool_for(g->pool, nd->out->n, 8192, swiglu_bw_range, &j);
}

qy_tensor *qy_swiglu(qy_graph *g, qy_tensor *gate, qy_tensor *up) {
    if (qy_op_bad(g, gate) || qy_op_bad(g, up)) return NULL;
    if (gate->n != up->n || gate->ndim != up->ndim ||
        memcmp(gate->shape, up->shape, sizeof gate->shape) != 0) {
        char a[64], b[64];
        return qy_op_fail(g, QY_ERR_SHAPE, "swiglu: gate %s and up %s differ", SHP(gate, a), SHP(up, b));
    }
    qy_tensor *in[2] = {gate, up};
    qy_tensor *out = qy_op_out(g, gate->ndim, gate->shape, in, 2);
    if (!out) return NULL;
    swiglu_job j = {gate->data, up->data, NULL, out->data, NULL, NULL, 0};
    qy_pool_for(g->pool, out->n, 8192, swiglu_fw_range, &j);
    qy_op_record(g, "swiglu", swiglu_bw, out, in, 2);
    return g->status ? NULL : out;
}

/* ---------------------------------------------------------------- reshape */

static void reshape_bw(qy_graph *g, qy_node *nd) {
    if (!qy_grad_take(g, nd->in[0], nd->out)) un_bw(g, nd);
}

qy_tensor *qy_reshape(qy_graph *g, qy_tensor *a, int ndim, const int64_t *shape) {
    if (qy_op_bad(g, a)) return NULL;
    char sa[64];
    if (ndim < 1 || ndim > QY_MAX_DIMS)
        return qy_op_fail(g, QY_ERR_SHAPE, "reshape: %s to %d dims", SHP(a, sa), ndim);
    int64_t s[QY_MAX_DIMS];
    int infer = -1;
    size_t known = 1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (shape[i] == -1 && infer < 0)
            infer = i;
        else if (shape[i] < 1)
            return qy_op_fail(g, QY_ERR_SHAPE, "reshape: %s: dim %d of the new shape is %lld", SHP(a, sa), i,
                              (long long)shape[i]);
        else
            known *= (size_t)shape[i];
    }
    if (infer >= 0) {
        if (a->n % known)
            return qy_op_fail(g, QY_ERR_SHAPE, "reshape: %s has %zu elements, not a multiple of %zu",
                              SHP(a, sa), a->n, known);
        s[infer] = (int64_t)(a->n / known);
        known = a->n;
    }
    if (known != a->n)
        return qy_op_fail(g, QY_ERR_SHAPE, "reshape: %s has %zu elements, the new shape %zu", SHP(a, sa),
                          a->n, known);
    /* a view: shares data with a; the gradient is copied back (un_bw UN_COPY) */
    qy_tensor *out = qy_graph_alloc(g, sizeof *out);
    if (!out) return NULL;
    *out = *a;
    out->grad = NULL;
    out->name = NULL;
    out->flags = (g->grad_enabled && (a->flags & QY_T_REQUIRES_GRAD)) ? QY_T_REQUIRES_GRAD : 0;
    out->ndim = ndim;
    for (int i = 0; i < QY_MAX_DIMS; i++) out->shape[i] = i < ndim ? s[i] : 1;
    qy_node *nd = qy_op_record(g, "reshape", reshape_bw, out, &a, 1);
    if (nd) nd->i[0] = UN_COPY;
    return g->status ? NULL : out;
}

/* -------------------------------------------------------------- transpose */

typedef struct tr_job {
    const float *src;
    float *dst;
    int64_t R, C; /* src is (R,C) per batch, dst (C,R) */
    int accumulate;
} tr_job;

static void tr_range(void *vctx, size_t b, size_t e, int tid) {
    const tr_job *j = vctx;
    size_t per = (size_t)(j->R * j->C);
    for (size_t m = b; m < e; m++) {
        const float *s = j->src + m * per;
        float *d = j->dst + m * per;
        for (int64_t r0 = 0; r0 < j->R; r0 += 32)
            for (int64_t c0 = 0; c0 < j->C; c0 += 32)
                for (int64_t r = r0; r < r0 + 32 && r < j->R; r++)
                    for (int64_t c = c0; c < c0 + 32 && c < j->C; c++) {
                        if (j->accumulate)
                            d[c * j->R + r] += s[r * j->C + c];
                        else
                            d[c * j->R + r] = s[r * j->C + c];
                    }
    }
}

static void tr_bw(qy_graph *g, qy_node *nd) {
    qy_tensor *a = nd->in[0];
    float *da = qy_grad_of(g, a);
    if (!da) return;
    tr_job j = {nd->out->grad, da, a->shape[a->ndim - 1], a->shape[a->ndim - 2], 1};
    qy_pool_for(g->pool, a->n / (size_t)(j.R * j.C), 1, tr_range, &j);
}

qy_tensor *qy_transpose(qy_graph *g, qy_tensor *a) {
    if (qy_op_bad(g, a)) return NULL;
    if (a->ndim < 2) {
        char sa[64];
        return qy_op_fail(g, QY_ERR_SHAPE, "transpose: %s needs >= 2 dims", SHP(a, sa));
    }
    int64_t s[QY_MAX_DIMS];
    memcpy(s, a->shape, sizeof s);
    s[a->ndim - 2] = a->shape[a->ndim - 1];
    s[a->ndim - 1] = a->shape[a->ndim - 2];
    qy_tensor *out = qy_op_out(g, a->ndim, s, &a, 1);
    if (!out) return NULL;
    tr_job j = {a->data, out->data, a->shape[a->ndim - 2], a->shape[a->ndim - 1], 0};
    qy_pool_for(g->pool, a->n / (size_t)(j.R * j.C), 1, tr_range, &j);
    qy_op_record(g, "transpose", tr_bw, out, &a, 1);
    return g->status ? NULL : out;
}

/* ----------------------------------------------------------- index select */

typedef struct sel_job {
    const float *src, *dy;
    float *dst, *dsrc;
    const int32_t *ids;
    size_t n, C;
} sel_job;

static void sel_fw_range(void *vctx, size_t b, size_t e, int tid) {
    const sel_job *j = vctx;
    for (size_t r = b; r < e; r++)
        memcpy(j->dst + r * j->C, j->src + (size_t)j->ids[r] * j->C, j->C * sizeof(float));
}

/* scatter-add split over columns: every row of ids visited in order, so repeated
 * ids sum in the same order at any thread count */
static void sel_bw_range(void *vctx, size_t b, size_t e, int tid) {
    const sel_job *j = vctx;
    for (size_t r = 0; r < j->n; r++) {
        float *d = j->dsrc + (size_t)j->ids[r] * j->C;
        const float *s = j->dy + r * j->C;
        for (size_t c = b; c < e; c++) d[c] += s[c];
    }
}

static void sel_bw(qy_graph *g, qy_node *nd) {
    qy_tensor *src = nd->in[0];
    float *ds = qy_grad_of(g, src);
    if (!ds) return;
    size_t C = src->ndim == 1 ? 1 : (size_t)qy_last(src);
    sel_job j = {NULL, nd->out->grad, NULL, ds, nd->p[0], (size_t)nd->i[0], C};
    if (C == 1)
        sel_bw_range(&j, 0, 1, 0);
    else
        qy_pool_for(g->pool, C, 16, sel_bw_range, &j);
}

qy_tensor *qy_index_select(qy_graph *g, qy_tensor *src, const int32_t *ids, size_t n) {
    if (qy_op_bad(g, src)) return NULL;
    char ss[64];
    if (src->ndim > 2)
        return qy_op_fail(g, QY_ERR_SHAPE, "index_select: src %s must be (V,C) or (V)", SHP(src, ss));
    if (n == 0) return qy_op_fail(g, QY_ERR_SHAPE, "index_select: no ids");
    int64_t V = src->shape[0];
    size_t C = src->ndim == 1 ? 1 : (size_t)src->shape[1];
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return qy_op_fail(g, QY_ERR_RANGE,
                              "index_select: id %d at position %zu is outside [0,%lld) of %s", ids[i], i,
                              (long long)V, SHP(src, ss));
    int64_t shape[2] = {(int64_t)n, (int64_t)C};
    qy_tensor *out = qy_op_out(g, src->ndim == 1 ? 1 : 2, shape, &src, 1);
    if (!out) return NULL;
    sel_job j = {src->data, NULL, out->data, NULL, ids, n, C};
    qy_pool_for(g->pool, n, 64, sel_fw_range, &j);
    qy_node *nd = qy_op_record(g, "index_select", sel_bw, out, &src, 1);
    if (nd) {
        int32_t *copy = qy_graph_alloc(g, n * sizeof *copy);
        if (!copy) return NULL;
        memcpy(copy, ids, n * sizeof *copy);
        nd->p[0] = copy;
        nd->i[0] = (int64_t)n;
    }
    return g->status ? NULL : out;
}

/* rows of (N, C): picked element per row (gather), or row sums; forward and backward */
typedef struct row_job {
    const float *x, *dy;
    float *y, *dx;
    const int32_t *idx;
    size_t C;
} row_job;

static void gather_fw_range(void *vctx, size_t b, size_t e, int tid) {
    const row_job *j = vctx;
    for (size_t r = b; r < e; r++) j->y[r] = j->x[r * j->C + (size_t)j->idx[r]];
}

static void gather_bw_range(void *vctx, size_t b, size_t e, int tid) {
    const row_job *j = vctx; /* one element per row: disjoint writes */
    for (size_t r = b; r < e; r++) j->dx[r * j->C + (size_t)j->idx[r]] += j->dy[r];
}

static void rowsum_fw_range(void *vctx, size_t b, size_t e, int tid) {
    const row_job *j = vctx;
    for (size_t r = b; r < e; r++) {
        double s = 0;
        for (size_t c = 0; c < j->C; c++) s += j->x[r * j->C + c];
        j->y[r] = (float)s;
    }
}

QY_VEC static void rowsum_bw_range(void *vctx, size_t b, size_t e, int tid) {
    const row_job *j = vctx;
    for (size_t r = b; r < e; r++)
        for (size_t c = 0; c < j->C; c++) j->dx[r * j->C + c] += j->dy[r];
}

static void gather_bw(qy_graph *g, qy_node *nd) {
    qy_tensor *t = nd->in[0];
    row_job j = {NULL, nd->out->grad, NULL, qy_grad_of(g, t), nd->p[0], (size_t)qy_last(t)};
    if (!j.dx) return;
    qy_pool_for(g->pool, qy_rows(t), 1024, gather_bw_range, &j);
}

qy_tensor *qy_gather_last(qy_graph *g, qy_tensor *t, const int32_t *idx) {
    if (qy_op_bad(g, t)) return NULL;
    size_t V = (size_t)qy_last(t), N = qy_rows(t);
    char st[64];
    for (size_t r = 0; r < N; r++)
        if (idx[r] < 0 || (size_t)idx[r] >= V)
            return qy_op_fail(g, QY_ERR_RANGE, "gather_last: index %d in row %zu outside [0,%zu) of %s",
                              idx[r], r, V, SHP(t, st));
    int64_t shape[QY_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    int nd_out = t->ndim > 1 ? t->ndim - 1 : 1;
    if (t->ndim == 1) shape[0] = 1;
    qy_tensor *out = qy_op_out(g, nd_out, shape, &t, 1);
    if (!out) return NULL;
    row_job j = {t->data, NULL, out->data, NULL, idx, V};
    qy_pool_for(g->pool, N, 1024, gather_fw_range, &j);
    qy_node *nd = qy_op_record(g, "gather_last", gather_bw, out, &t, 1);
    if (nd) {
        int32_t *copy = qy_graph_alloc(g, N * sizeof *copy);
        if (!copy) return NULL;
        memcpy(copy, idx, N * sizeof *copy);
        nd->p[0] = copy;
    }
    return g->status ? NULL : out;
}

/* ----------------------------------------------------------- concat/slice */

/* outer blocks of len floats: dst[o*ds ..] = (or +=) src[o*ss ..], split over o */
typedef struct blk_job {
    float *dst;
    const float *src;
    size_t ds, ss, len;
    int add;
} blk_job;

QY_VEC static void blk_range(void *vctx, size_t b, size_t e, int tid) {
    const blk_job *j = vctx;
    for (size_t o = b; o < e; o++) {
        float *d = j->dst + o * j->ds;
        const float *s = j->src + o * j->ss;
        if (j->add)
            for (size_t i = 0; i < j->len; i++) d[i] += s[i];
        else
            memcpy(d, s, j->len * sizeof(float));
    }
}

static void copy_blocks(qy_pool *pool, float *dst, size_t ds, const float *src, size_t ss, size_t len,
                        size_t outer, int add) {
    blk_job j = {dst, src, ds, ss, len, add};
    qy_pool_for(pool, outer, len >= 16384 ? 1 : 16384 / len, blk_range, &j);
}

/* a tensor as (outer, D, inner) around dim */
static void split_dims(const qy_tensor *t, int dim, size_t *outer, size_t *inner) {
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < dim; i++) *outer *= (size_t)t->shape[i];
    for (int i = dim + 1; i < t->ndim; i++) *inner *= (size_t)t->shape[i];
}

static void concat_bw(qy_graph *g, qy_node *nd) {
    int dim = (int)nd->i[0];
    size_t outer, inner;
    split_dims(nd->out, dim, &outer, &inner);
    size_t Dout = (size_t)nd->out->shape[dim], off = 0;
    for (int k = 0; k < nd->nin; k++) {
        qy_tensor *t = nd->in[k];
        size_t D = (size_t)t->shape[dim];
        float *dt = qy_grad_of(g, t);
        if (dt)
            copy_blocks(g->pool, dt, D * inner, nd->out->grad + off * inner, Dout * inner, D * inner, outer,
                        1);
        off += D;
    }
}

qy_tensor *qy_concat(qy_graph *g, qy_tensor *const *ts, int count, int dim) {
    if (count < 1 || count > QY_NODE_MAX_IN)
        return qy_op_fail(g, QY_ERR_ARG, "concat: %d tensors (1..%d supported)", count, QY_NODE_MAX_IN);
    for (int k = 0; k < count; k++)
        if (qy_op_bad(g, ts[k])) return NULL;
    char s0[64], sk[64];
    if (dim < 0) dim += ts[0]->ndim;
    if (dim < 0 || dim >= ts[0]->ndim)
        return qy_op_fail(g, QY_ERR_SHAPE, "concat: dim %d out of range for %s", dim, SHP(ts[0], s0));
    int64_t shape[QY_MAX_DIMS];
    memcpy(shape, ts[0]->shape, sizeof shape);
    shape[dim] = 0;
    for (int k = 0; k < count; k++) {
        int ok = ts[k]->ndim == ts[0]->ndim;
        for (int i = 0; ok && i < ts[0]->ndim; i++) ok = i == dim || ts[k]->shape[i] == ts[0]->shape[i];
        if (!ok)
            return qy_op_fail(g, QY_ERR_SHAPE, "concat: %s and %s differ outside dim %d", SHP(ts[0], s0),
                              SHP(ts[k], sk), dim);
        shape[dim] += ts[k]->shape[dim];
    }
    qy_tensor *out = qy_op_out(g, ts[0]->ndim, shape, ts, count);
    if (!out) return NULL;
    size_t outer, inner;
    split_dims(out, dim, &outer, &inner);
    size_t off = 0, Dout = (size_t)shape[dim];
    for (int k = 0; k < count; k++) {
        size_t D = (size_t)ts[k]->shape[dim];
        copy_blocks(g->pool, out->data + off * inner, Dout * inner, ts[k]->data, D * inner, D * inner, outer,
                    0);
        off += D;
    }
    qy_node *nd = qy_op_record(g, "concat", concat_bw, out, ts, count);
    if (nd) nd->i[0] = dim;
    return g->status ? NULL : out;
}

static void slice_bw(qy_graph *g, qy_node *nd) {
    qy_tensor *a = nd->in[0];
    float *da = qy_grad_of(g, a);
    if (!da) return;
    int dim = (int)nd->i[0];
    size_t start = (size_t)nd->i[1], len = (size_t)nd->i[2], outer, inner;
    split_dims(a, dim, &outer, &inner);
    size_t D = (size_t)a->shape[dim];
    copy_blocks(g->pool, da + start * inner, D * inner, nd->out->grad, len * inner, len * inner, outer, 1);
}

qy_tensor *qy_slice(qy_graph *g, qy_tensor *a, int dim, int64_t start, int64_t len) {
    if (qy_op_bad(g, a)) return NULL;
    char sa[64];
    if (dim < 0) dim += a->ndim;
    if (dim < 0 || dim >= a->ndim || start < 0 || len < 1 || start + len > a->shape[dim])
        return qy_op_fail(g, QY_ERR_SHAPE, "slice: [%lld, %lld) of dim %d is outside %s", (long long)start,
                          (long long)(start + len), dim, SHP(a, sa));
    int64_t shape[QY_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[dim] = len;
    size_t outer, inner;
    split_dims(a, dim, &outer, &inner);
    size_t D = (size_t)a->shape[dim];
    qy_tensor *out;
    if (outer == 1) { /* rows of the first (non-unit) dim: a view into a's data */
        out = qy_graph_alloc(g, sizeof *out);
        if (!out) return NULL;
        memset(out, 0, sizeof *out);
        out->ndim = a->ndim;
        memcpy(out->shape, shape, sizeof shape);
        out->n = (size_t)len * inner;
        out->data = a->data + (size_t)start * inner;
        out->flags = (g->grad_enabled && (a->flags & QY_T_REQUIRES_GRAD)) ? QY_T_REQUIRES_GRAD : 0;
    } else {
        out = qy_op_out(g, a->ndim, shape, &a, 1);
        if (!out) return NULL;
        copy_blocks(g->pool, out->data, (size_t)len * inner, a->data + (size_t)start * inner, D * inner,
                    (size_t)len * inner, outer, 0);
    }
    qy_node *nd = qy_op_record(g, "slice", slice_bw, out, &a, 1);
    if (nd) {
        nd->i[0] = dim;
        nd->i[1] = start;
        nd->i[2] = len;
    }
    return g->status ? NULL : out;
}

int qy_split(qy_graph *g, qy_tensor *a, int dim, const int64_t *sizes, int count, qy_tensor **outs) {
    for (int i = 0; i < count; i++) outs[i] = NULL;
    if (qy_op_bad(g, a)) return g->status;
    int d = dim < 0 ? dim + a->ndim : dim;
    int64_t total = 0;
    for (int i = 0; i < count; i++) total += sizes[i];
    if (count < 1 || d < 0 || d >= a->ndim || total != a->shape[d]) {
        char sa[64];
        qy_op_fail(g, QY_ERR_SHAPE, "split: %d pieces totalling %lld do not cover dim %d of %s", count,
                   (long long)total, dim, SHP(a, sa));
        return g->status;
    }
    int64_t start = 0;
    for (int i = 0; i < count; i++) {
        outs[i] = qy_slice(g, a, d, start, sizes[i]);
        start += sizes[i];
    }
    return g->status;
}

/* ------------------------------------------------------------- reductions */

typedef struct sum_job {
    const float *x;
    size_t n;
    qy_chunks ch;
    double *partial;
} sum_job;

static void sum_range(void *vctx, size_t b, size_t e, int tid) {
    const sum_job *j = vctx;
    for (size_t c = b; c < e; c++) {
        size_t s = c * j->ch.per, t = s + j->ch.per < j->n ? s + j->ch.per : j->n;
        /* f32 lanes over pieces of 1024, pieces added in double */
        double acc = 0;
        for (size_t i = s; i < t; i += 1024) acc += qy_vsum(j->x + i, t - i < 1024 ? t - i : 1024);
        j->partial[c] = acc;
    }
}

QY_VEC static void sum_fill_range(void *vctx, size_t b, size_t e, int tid) {
    const row_job *j = vctx;
    float d = j->dy[0];
    for (size_t r = b; r < e; r++)
        for (size_t c = 0; c < j->C; c++) j->dx[r * j->C + c] += d;
}

static void sum_bw(qy_graph *g, qy_node *nd) {
    /* every element gets d: the row-sum backward over one row of n */
    float d = nd->out->grad[0] * nd->f[0];
    row_job j = {NULL, &d, NULL, qy_grad_of(g, nd->in[0]), NULL, nd->in[0]->n};
    if (!j.dx) return;
    size_t n = nd->in[0]->n, per = n < 8192 ? n : 8192;
    /* as rows of `per` elements, plus the tail */
    j.C = per;
    qy_pool_for(g->pool, n / per, 1, sum_fill_range, &j);
    for (size_t i = (n / per) * per; i < n; i++) j.dx[i] += d;
}

static qy_tensor *reduce_all(qy_graph *g, qy_tensor *x, int mean) {
    if (qy_op_bad(g, x)) return NULL;
    int64_t one = 1;
    qy_tensor *out = qy_op_out(g, 1, &one, &x, 1);
    if (!out) return NULL;
    /* double partial sums over fixed chunks, added in chunk order */
    double partial[64];
    sum_job j = {x->data, x->n, qy_chunks_of(x->n, 4096), partial};
    qy_pool_for(g->pool, j.ch.count, 1, sum_range, &j);
    double s = 0;
    for (size_t c = 0; c < j.ch.count; c++) s += partial[c];
    float scale = mean ? 1.0f / (float)x->n : 1.0f;
    out->data[0] = (float)(mean ? s / (double)x->n : s);
    qy_node *nd = qy_op_record(g, mean ? "mean" : "sum", sum_bw, out, &x, 1);
    if (nd) nd->f[0] = scale;
    return g->status ? NULL : out;
}

qy_tensor *qy_sum(qy_graph *g, qy_tensor *x) { return reduce_all(g, x, 0); }
qy_tensor *qy_mean(qy_graph *g, qy_tensor *x) { return reduce_all(g, x, 1); }

static void sum_last_bw(qy_graph *g, qy_node *nd) {
    qy_tensor *x = nd->in[0];
    row_job j = {NULL, nd->out->grad, NULL, qy_grad_of(g, x), NULL, (size_t)qy_last(x)};
    if (!j.dx) return;
    qy_pool_for(g->pool, qy_rows(x), (8192 + j.C - 1) / j.C, rowsum_bw_range, &j);
}

qy_tensor *qy_sum_last(qy_graph *g, qy_tensor *x) {
    if (qy_op_bad(g, x)) return NULL;
    int64_t shape[QY_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    int nd_out = x->ndim > 1 ? x->ndim - 1 : 1;
    if (x->ndim == 1) shape[0] = 1;
    qy_tensor *out = qy_op_out(g, nd_out, shape, &x, 1);
    if (!out) return NULL;
    row_job j = {x->data, NULL, out->data, NULL, NULL, (size_t)qy_last(x)};
    qy_pool_for(g->pool, qy_rows(x), (8192 + j.C - 1) / j.C, rowsum_fw_range, &j);
    qy_op_record(g, "sum_last", sum_last_bw, out, &x, 1);
    return g->status ? NULL : out;
}

/* ---------------------------------------------------------------- dropout */

/* keep element i with probability 1-p: a SplitMix64 hash of (seed, i), so the
 * mask needs no storage and no sequential RNG */
static inline int dropout_keep(uint64_t seed, size_t i, uint32_t threshold) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)(z >> 32) >= threshold;
}

typedef struct drop_job {
    const float *x;
    float *y;
    uint64_t seed;
    uint32_t threshold;
    float scale;
    int accumulate;
} drop_job;

/* branch-free so that the hash vectorises (same bits as the scalar form) */
QY_VEC static void drop_range(void *vctx, size_t b, size_t e, int tid) {
    const drop_job *j = vctx;
    const float *x = j->x;
    float *y = j->y;
    const uint64_t seed = j->seed;
    const uint32_t th = j->threshold;
    const float scale = j->scale;
    if (j->accumulate) {
        for (size_t i = b; i < e; i++) y[i] += dropout_keep(seed, i, th) ? x[i] * scale : 0.0f;
    } else {
        for (size_t i = b; i < e; i++) y[i] = dropout_keep(seed, i, th) ? x[i] * scale : 0.0f;
    }
}

static void drop_bw(qy_graph *g, qy_node *nd) {
    float *dx = qy_grad_of(g, nd->in[0]);
    if (!dx) return;
    drop_job j = {nd->out->grad, dx, (uint64_t)nd->i[0], (uint32_t)nd->i[1], nd->f[0], 1};
    qy_pool_for(g->pool, nd->out->n, 8192, drop_range, &j);
}

qy_tensor *qy_dropout(qy_graph *g, qy_tensor *x, float p, uint64_t seed) {
    if (qy_op_bad(g, x)) return NULL;
    if (!(p >= 0.0f && p < 1.0f)) return qy_op_fail(g, QY_ERR_ARG, "dropout: p = %g is not in [0,1)", p);
    if (p == 0.0f || !g->grad_enabled) return x;
    qy_tensor *out = qy_op_out(g, x->ndim, x->shape, &x, 1);
    if (!out) return NULL;
    double th = (double)p * 4294967296.0;
    drop_job j = {x->data,           out->data, seed, th >= 4294967295.0 ? 4294967295u : (uint32_t)th,
                  1.0f / (1.0f - p), 0};
    qy_pool_for(g->pool, x->n, 8192, drop_range, &j);
    qy_node *nd = qy_op_record(g, "dropout", drop_bw, out, &x, 1);
    if (nd) {
        nd->i[0] = (int64_t)seed;
        nd->i[1] = j.threshold;
        nd->f[0] = j.scale;
    }
    return g->status ? NULL : out;
}
