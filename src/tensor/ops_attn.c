/* ops_attn.c — rotary position embeddings and fused scaled-dot-product attention.
 *
 * Attention works on tiles of TQ query rows of one head: S = scale Q K^T for the
 * visible keys (one sgemm), masked row softmax, O = P V (one sgemm). Only the
 * log-sum-exp of each row (B*NH*T floats) is kept; backward recomputes P per tile
 * and forms dQ, dK, dV with four more sgemms. Backward work items are (batch,
 * kv-head) pairs, so the dK/dV of a kv head shared by several query heads (GQA)
 * is summed by one thread in a fixed order: same bits at any thread count. */
#include <math.h>
#include <string.h>

#include "tensor/tensor_internal.h"

#define SHP(t, buf) qy_shape_str((t), (buf), sizeof(buf))

/* ------------------------------------------------------------------- RoPE */

typedef struct rope_job {
    const float *x, *cs, *sn; /* cos/sin tables: row (b*T+t or t) x half */
    float *y;
    int64_t T, C, hs, half;
    int per_row; /* tables indexed by b*T+t (explicit positions) */
    int interleaved;
    int inverse; /* backward: rotate by -angle and accumulate */
} rope_job;

QY_VEC static void rope_range(void *vctx, size_t s, size_t e, int tid) {
    const rope_job *j = vctx;
    int64_t nh = j->C / j->hs;
    for (size_t r = s; r < e; r++) {
        size_t tr = j->per_row ? r : r % (size_t)j->T;
        const float *cs = j->cs + tr * (size_t)j->half, *sn = j->sn + tr * (size_t)j->half;
        for (int64_t h = 0; h < nh; h++) {
            const float *x = j->x + r * (size_t)j->C + (size_t)(h * j->hs);
            float *y = j->y + r * (size_t)j->C + (size_t)(h * j->hs);
            for (int64_t i = 0; i < j->half; i++) {
                int64_t i1 = j->interleaved ? 2 * i : i, i2 = j->interleaved ? 2 * i + 1 : i + j->half;
                float c = cs[i], sv = sn[i], x1 = x[i1], x2 = x[i2];
                if (!j->inverse) {
                    y[i1] = x1 * c - x2 * sv;
                    y[i2] = x2 * c + x1 * sv;
                } else {
                    y[i1] += x1 * c + x2 * sv;
                    y[i2] += x2 * c - x1 * sv;
                }
            }
        }
    }
}

static void rope_bw(qy_graph *g, qy_node *nd) {
    float *dx = qy_grad_of(g, nd->in[0]);
    if (!dx) return;
    rope_job j;
    memcpy(&j, nd->p[0], sizeof j);
    j.x = nd->out->grad;
    j.y = dx;
    j.inverse = 1;
    qy_pool_for(g->pool, qy_rows(nd->out), 16, rope_range, &j);
}

void qy_rope_inv_freq(int64_t hs, float theta, float *inv) {
    /* as transformers: inv_freq = 1 / theta^(2i/hs) in f32 */
    for (int64_t i = 0; i < hs / 2; i++) inv[i] = 1.0f / powf(theta, (float)(2 * i) / (float)hs);
}

qy_tensor *qy_rope_freqs(qy_graph *g, qy_tensor *x, int64_t hs, const float *inv_freq, const int32_t *pos,
                         int interleaved) {
    if (qy_op_bad(g, x)) return NULL;
    char sx[64];
    if (x->ndim != 3 || hs < 2 || hs % 2 || x->shape[2] % hs)
        return qy_op_fail(g, QY_ERR_SHAPE, "rope: x %s must be (B,T,NH*HS) with an even head size %lld",
                          SHP(x, sx), (long long)hs);
    int64_t B = x->shape[0], T = x->shape[1], half = hs / 2;
    for (int64_t i = 0; i < half; i++)
        if (!isfinite(inv_freq[i]))
            return qy_op_fail(g, QY_ERR_ARG, "rope: inverse frequency %lld is not finite", (long long)i);
    size_t rows = pos ? (size_t)(B * T) : (size_t)T;
    float *cs = qy_graph_floats(g, rows * (size_t)half, 0);
    float *sn = qy_graph_floats(g, rows * (size_t)half, 0);
    if (g->status) return NULL;
    /* angle = pos * inv_freq in f32, as transformers */
    for (size_t r = 0; r < rows; r++) {
        float p = pos ? (float)pos[r] : (float)r;
        for (int64_t i = 0; i < half; i++) {
            float a = p * inv_freq[i];
            cs[r * (size_t)half + (size_t)i] = cosf(a);
            sn[r * (size_t)half + (size_t)i] = sinf(a);
        }
    }
    qy_tensor *out = qy_op_out(g, 3, x->shape, &x, 1);
    if (!out) return NULL;
    rope_job j = {x->data, cs, sn, out->data, T, x->shape[2], hs, half, pos != NULL, interleaved != 0, 0};
    qy_pool_for(g->pool, qy_rows(x), 16, rope_range, &j);
    qy_node *nd = qy_op_record(g, "rope", rope_bw, out, &x, 1);
    if (nd) {
        rope_job *saved = qy_graph_alloc(g, sizeof *saved);
        if (!saved) return NULL;
        *saved = j;
        nd->p[0] = saved;
    }
    return g->status ? NULL : out;
}

qy_tensor *qy_rope(qy_graph *g, qy_tensor *x, int64_t hs, float theta, const int32_t *pos, int interleaved) {
    if (qy_op_bad(g, x)) return NULL;
    if (!(theta > 0.0f)) return qy_op_fail(g, QY_ERR_ARG, "rope: theta %g must be > 0", theta);
    if (hs < 2 || hs % 2) {
        char sx[64];
        return qy_op_fail(g, QY_ERR_SHAPE, "rope: x %s must be (B,T,NH*HS) with an even head size %lld",
                          SHP(x, sx), (long long)hs);
    }
    float *inv = qy_graph_floats(g, (size_t)(hs / 2), 0);
    if (g->status) return NULL;
    qy_rope_inv_freq(hs, theta, inv);
    return qy_rope_freqs(g, x, hs, inv, pos, interleaved);
}

/* -------------------------------------------------------------- attention */

#define TQ 64 /* query rows per tile */

typedef struct attn_job {
    const float *q, *k, *v, *o, *dO;
    float *out, *dq, *dk, *dv, *lse;
    const uint8_t *key_mask;
    int64_t B, T, Tk, NH, NKV, HS, Cq, Ck, ntiles; /* T: query length, Tk: key length */
    float scale;
    int causal;
    float *scratch; /* per thread: 2 * TQ * Tk + TQ floats */
} attn_job;

/* Keys visible to query row i: causal masks are aligned to the end (query i sits
 * at key position i + Tk - T, as for a query block appended to a key cache). */
static inline int64_t visible_keys(const attn_job *j, int64_t i, int64_t kmax) {
    if (!j->causal) return kmax;
    int64_t lim = i + (j->Tk - j->T) + 1;
    return lim < 0 ? 0 : (lim > kmax ? kmax : lim);
}

/* keys a tile of queries [i0, i0+m) can see at most */
static inline int64_t tile_keys(const attn_job *j, int64_t i0, int64_t m) {
    return j->causal ? visible_keys(j, i0 + m - 1, j->Tk) : j->Tk;
}

/* S (m x kmax) -> row softmax in place; returns via lse. Masked entries -> P = 0. */
QY_VEC static void masked_softmax(const attn_job *j, float *S, int64_t m, int64_t kmax, int64_t b, int64_t i0,
                                  float *lse) {
    const uint8_t *km = j->key_mask ? j->key_mask + b * j->Tk : NULL;
    for (int64_t r = 0; r < m; r++) {
        float *s = S + r * kmax;
        int64_t lim = visible_keys(j, i0 + r, kmax); /* keys [0, lim) visible */
        if (km)
            for (int64_t c = 0; c < lim; c++) s[c] = km[c] ? s[c] : -INFINITY;
        for (int64_t c = lim; c < kmax; c++) s[c] = 0.0f;
        float mx = lim > 0 ? qy_max(s, (size_t)lim) : -INFINITY;
        if (mx == -INFINITY) { /* no visible key: output 0 */
            memset(s, 0, (size_t)kmax * sizeof(float));
            lse[r] = -INFINITY;
            continue;
        }
        for (int64_t c = 0; c < lim; c++) s[c] = qy_fexp(s[c] - mx); /* exp(-inf) = 0 */
        float sum = qy_vsum(s, (size_t)lim), inv = 1.0f / sum;
        for (int64_t c = 0; c < lim; c++) s[c] *= inv;
        lse[r] = mx + logf(sum);
    }
}

static void attn_fw_range(void *vctx, size_t s, size_t e, int tid) {
    const attn_job *j = vctx;
    float *S = j->scratch + (size_t)tid * (size_t)(2 * TQ * j->Tk + TQ);
    for (size_t item = s; item < e; item++) {
        int64_t tile = (int64_t)item % j->ntiles, bh = (int64_t)item / j->ntiles;
        int64_t b = bh / j->NH, h = bh % j->NH, kvh = h / (j->NH / j->NKV);
        int64_t i0 = tile * TQ, m = j->T - i0 < TQ ? j->T - i0 : TQ;
        int64_t kmax = tile_keys(j, i0, m);
        const float *qp = j->q + (b * j->T + i0) * j->Cq + h * j->HS;
        const float *kp = j->k + b * j->Tk * j->Ck + kvh * j->HS;
        const float *vp = j->v + b * j->Tk * j->Ck + kvh * j->HS;
        float *op = j->out + (b * j->T + i0) * j->Cq + h * j->HS;
        if (kmax == 0) { /* no query of this tile sees a key */
            for (int64_t r = 0; r < m; r++) {
                memset(op + r * j->Cq, 0, (size_t)j->HS * sizeof(float));
                j->lse[bh * j->T + i0 + r] = -INFINITY;
            }
            continue;
        }
        qy_sgemm_serial(0, 1, m, kmax, j->HS, j->scale, qp, j->Cq, kp, j->Ck, 0.0f, S, kmax);
        masked_softmax(j, S, m, kmax, b, i0, j->lse + bh * j->T + i0);
        qy_sgemm_serial(0, 0, m, j->HS, kmax, 1.0f, S, kmax, vp, j->Ck, 0.0f, op, j->Cq);
    }
}

QY_VEC static void attn_bw_range(void *vctx, size_t s, size_t e, int tid) {
    const attn_job *j = vctx;
    float *P = j->scratch + (size_t)tid * (size_t)(2 * TQ * j->Tk + TQ);
    float *dP = P + TQ * j->Tk, *D = dP + TQ * j->Tk;
    int64_t group = j->NH / j->NKV;
    for (size_t item = s; item < e; item++) {
        int64_t b = (int64_t)item / j->NKV, kvh = (int64_t)item % j->NKV;
        const float *kp = j->k + b * j->Tk * j->Ck + kvh * j->HS;
        const float *vp = j->v + b * j->Tk * j->Ck + kvh * j->HS;
        float *dkp = j->dk ? j->dk + b * j->Tk * j->Ck + kvh * j->HS : NULL;
        float *dvp = j->dv ? j->dv + b * j->Tk * j->Ck + kvh * j->HS : NULL;
        const uint8_t *km = j->key_mask ? j->key_mask + b * j->Tk : NULL;
        for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
            for (int64_t tile = 0; tile < j->ntiles; tile++) {
                int64_t i0 = tile * TQ, m = j->T - i0 < TQ ? j->T - i0 : TQ;
                int64_t kmax = tile_keys(j, i0, m);
                if (kmax == 0) continue; /* no key seen: no gradient */
                size_t qoff = (size_t)((b * j->T + i0) * j->Cq + h * j->HS);
                const float *lse = j->lse + (b * j->NH + h) * j->T + i0;
                /* P = exp(scale Q K^T - lse) on visible keys */
                qy_sgemm_serial(0, 1, m, kmax, j->HS, j->scale, j->q + qoff, j->Cq, kp, j->Ck, 0.0f, P, kmax);
                for (int64_t r = 0; r < m; r++) {
                    float *pr = P + r * kmax;
                    int64_t lim = visible_keys(j, i0 + r, kmax);
                    if (lse[r] == -INFINITY) lim = 0;
                    float l = lse[r];
                    for (int64_t c = 0; c < lim; c++) pr[c] = qy_fexp(pr[c] - l);
                    if (km)
                        for (int64_t c = 0; c < lim; c++) pr[c] = km[c] ? pr[c] : 0.0f;
                    for (int64_t c = lim; c < kmax; c++) pr[c] = 0.0f;
                    const float *dor = j->dO + qoff + (size_t)(r * j->Cq),
                                *orow = j->o + qoff + (size_t)(r * j->Cq);
                    float d = 0.0f;
                    for (int64_t c = 0; c < j->HS; c++) d += dor[c] * orow[c];
                    D[r] = d;
                }
                /* dV += P^T dO */
                if (dvp)
                    qy_sgemm_serial(1, 0, kmax, j->HS, m, 1.0f, P, kmax, j->dO + qoff, j->Cq, 1.0f, dvp,
                                    j->Ck);
                if (!j->dq && !dkp) continue;
                /* dP = dO V^T; dS = P (dP - D) */
                qy_sgemm_serial(0, 1, m, kmax, j->HS, 1.0f, j->dO + qoff, j->Cq, vp, j->Ck, 0.0f, dP, kmax);
                for (int64_t r = 0; r < m; r++) {
                    float *pr = P + r * kmax, *dpr = dP + r * kmax;
                    for (int64_t c = 0; c < kmax; c++) dpr[c] = pr[c] * (dpr[c] - D[r]);
                }
                if (j->dq)
                    qy_sgemm_serial(0, 0, m, j->HS, kmax, j->scale, dP, kmax, kp, j->Ck, 1.0f, j->dq + qoff,
                                    j->Cq);
                if (dkp)
                    qy_sgemm_serial(1, 0, kmax, j->HS, m, j->scale, dP, kmax, j->q + qoff, j->Cq, 1.0f, dkp,
                                    j->Ck);
            }
        }
    }
}

static int attn_scratch(qy_graph *g, attn_job *j) {
    size_t per = (size_t)(2 * TQ * j->Tk + TQ);
    j->scratch = qy_graph_scratch(g, per * (size_t)qy_pool_threads(g->pool));
    return j->scratch ? QY_OK : g->status;
}

static void attn_bw(qy_graph *g, qy_node *nd) {
    attn_job j;
    memcpy(&j, nd->p[0], sizeof j);
    j.o = nd->out->data;
    j.dO = nd->out->grad;
    j.dq = qy_grad_of(g, nd->in[0]);
    j.dk = qy_grad_of(g, nd->in[1]);
    j.dv = qy_grad_of(g, nd->in[2]);
    if (g->status || attn_scratch(g, &j)) return;
    qy_pool_for(g->pool, (size_t)(j.B * j.NKV), 1, attn_bw_range, &j);
}

qy_tensor *qy_attention(qy_graph *g, qy_tensor *q, qy_tensor *k, qy_tensor *v, int64_t nh, int64_t nkv,
                        float scale, int causal, const uint8_t *key_mask) {
    if (qy_op_bad(g, q) || qy_op_bad(g, k) || qy_op_bad(g, v)) return NULL;
    char sq[64], sk[64], sv[64];
    int ok = q->ndim == 3 && k->ndim == 3 && v->ndim == 3 && nh >= 1 && nkv >= 1 && nh % nkv == 0 &&
             q->shape[2] % nh == 0;
    int64_t HS = ok ? q->shape[2] / nh : 0;
    ok = ok && k->shape[0] == q->shape[0] && k->shape[2] == nkv * HS && v->shape[0] == k->shape[0] &&
         v->shape[1] == k->shape[1] && v->shape[2] == k->shape[2];
    if (!ok)
        return qy_op_fail(g, QY_ERR_SHAPE,
                          "attention: q %s k %s v %s with %lld heads and %lld kv heads: expected q "
                          "(B,T,NH*HS), k and v (B,Tk,NKV*HS), NH a multiple of NKV",
                          SHP(q, sq), SHP(k, sk), SHP(v, sv), (long long)nh, (long long)nkv);
    qy_tensor *in[3] = {q, k, v};
    qy_tensor *out = qy_op_out(g, 3, q->shape, in, 3);
    if (!out) return NULL;
    attn_job j = {0};
    j.q = q->data;
    j.k = k->data;
    j.v = v->data;
    j.out = out->data;
    j.key_mask = key_mask;
    j.B = q->shape[0];
    j.T = q->shape[1];
    j.Tk = k->shape[1];
    j.NH = nh;
    j.NKV = nkv;
    j.HS = HS;
    j.Cq = q->shape[2];
    j.Ck = k->shape[2];
    j.ntiles = (j.T + TQ - 1) / TQ;
    j.scale = scale > 0.0f ? scale : 1.0f / sqrtf((float)HS);
    j.causal = causal != 0;
    j.lse = qy_graph_floats(g, (size_t)(j.B * nh * j.T), 0);
    if (!j.lse || attn_scratch(g, &j)) return NULL;
    qy_pool_for(g->pool, (size_t)(j.B * nh * j.ntiles), 1, attn_fw_range, &j);
    qy_node *nd = qy_op_record(g, "attention", attn_bw, out, in, 3);
    if (nd) {
        attn_job *saved = qy_graph_alloc(g, sizeof *saved);
        if (!saved) return NULL;
        *saved = j;
        if (key_mask) { /* the caller's mask may be gone by backward time */
            uint8_t *km = qy_graph_alloc(g, (size_t)(j.B * j.Tk));
            if (!km) return NULL;
            memcpy(km, key_mask, (size_t)(j.B * j.Tk));
            saved->key_mask = km;
        }
        nd->p[0] = saved;
    }
    return g->status ? NULL : out;
}
