/* optim.c — AdamW and SGD as torch.optim computes them, gradient clipping by
 * global norm, learning-rate schedules as transformers defines them.
 *
 * Rounding follows PyTorch's single-tensor kernels: Python scalars (lr, betas,
 * 1 - lr*wd, step size, sqrt(1 - beta2^t)) are formed in double and rounded to
 * float once; "a.add_(b, alpha=s)" is a fused multiply-add as in ATen's
 * vectorised path. */
#include <math.h>
#include <string.h>

#include "tensor/tensor_internal.h"

enum { OPT_ADAMW, OPT_SGD };

struct qy_optim {
    int kind;
    qy_params *ps;
    qy_adamw_cfg adam;
    qy_sgd_cfg sgd;
    float lr_scale[QY_MAX_GROUPS], wd[QY_MAX_GROUPS];
    float *state; /* AdamW: m then v for every param (same layout as the params);
                     SGD: the momentum buffer */
    size_t state_floats;
    size_t *offset; /* per param offset into state */
    int64_t steps;
    qy_pool *pool;
};

static int optim_new(qy_params *ps, int kind, int nstate, qy_optim **out) {
    *out = NULL;
    size_t np = qy_params_count(ps);
    if (np == 0 || !qy_params_at(ps, 0)->data)
        return qy_error(QY_ERR_ARG, "optimizer: parameters must be declared and allocated first");
    qy_optim *o = qy_calloc(1, sizeof *o);
    if (!o) return QY_ERR_NOMEM;
    o->kind = kind;
    o->ps = ps;
    o->offset = qy_calloc(np, sizeof *o->offset);
    size_t total = 0;
    for (size_t i = 0; i < np; i++) {
        if (o->offset) o->offset[i] = total;
        total += (qy_params_at(ps, i)->n + 15) & ~(size_t)15;
    }
    o->state_floats = total * (size_t)nstate;
    size_t bytes;
    if (!o->offset || qy_size_mul(o->state_floats ? o->state_floats : 1, sizeof(float), &bytes) ||
        !(o->state = qy_malloc_aligned(bytes))) {
        qy_optim_free(o);
        return QY_ERR_NOMEM;
    }
    memset(o->state, 0, bytes);
    for (int gi = 0; gi < QY_MAX_GROUPS; gi++) o->lr_scale[gi] = 1.0f;
    *out = o;
    return QY_OK;
}

int qy_adamw_new(qy_params *ps, const qy_adamw_cfg *cfg, qy_optim **out) {
    qy_adamw_cfg c = *cfg;
    if (c.beta1 == 0.0f && c.beta2 == 0.0f) {
        c.beta1 = 0.9f;
        c.beta2 = 0.999f;
    }
    if (c.eps == 0.0f) c.eps = 1e-8f;
    if (!(c.beta1 >= 0 && c.beta1 < 1 && c.beta2 >= 0 && c.beta2 < 1 && c.eps > 0 && c.weight_decay >= 0))
        return qy_error(QY_ERR_ARG,
                        "adamw: betas must be in [0,1), eps > 0, weight decay >= 0 "
                        "(got %g, %g, %g, %g)",
                        c.beta1, c.beta2, c.eps, c.weight_decay);
    int st = optim_new(ps, OPT_ADAMW, 2, out);
    if (st) return st;
    (*out)->adam = c;
    (*out)->wd[QY_GROUP_DECAY] = c.weight_decay;
    return QY_OK;
}

int qy_sgd_new(qy_params *ps, const qy_sgd_cfg *cfg, qy_optim **out) {
    if (!(cfg->momentum >= 0 && cfg->weight_decay >= 0 && cfg->dampening >= 0))
        return qy_error(QY_ERR_ARG, "sgd: momentum, dampening and weight decay must be >= 0");
    if (cfg->nesterov && (cfg->momentum <= 0 || cfg->dampening != 0))
        return qy_error(QY_ERR_ARG, "sgd: Nesterov momentum requires a momentum and zero dampening");
    int st = optim_new(ps, OPT_SGD, 1, out);
    if (st) return st;
    (*out)->sgd = *cfg;
    (*out)->wd[QY_GROUP_DECAY] = cfg->weight_decay;
    return QY_OK;
}

void qy_optim_free(qy_optim *o) {
    if (!o) return;
    qy_free(o->state);
    qy_free(o->offset);
    qy_free(o);
}

int qy_optim_set_group(qy_optim *o, int group, float lr_scale, float weight_decay) {
    if (group < 0 || group >= QY_MAX_GROUPS)
        return qy_error(QY_ERR_ARG, "optimizer: group %d not in 0..%d", group, QY_MAX_GROUPS - 1);
    if (!(lr_scale >= 0 && weight_decay >= 0))
        return qy_error(QY_ERR_ARG, "optimizer: group %d: lr scale and weight decay must be >= 0", group);
    o->lr_scale[group] = lr_scale;
    o->wd[group] = weight_decay;
    return QY_OK;
}

int64_t qy_optim_steps(const qy_optim *o) { return o->steps; }
void qy_optim_set_pool(qy_optim *o, qy_pool *pool) { o->pool = pool; }
void qy_optim_set_steps(qy_optim *o, int64_t steps) { o->steps = steps < 0 ? 0 : steps; }

int qy_optim_param_state(qy_optim *o, size_t i, float **m, float **v) {
    size_t np = qy_params_count(o->ps);
    if (i >= np) return qy_error(QY_ERR_RANGE, "optimizer: parameter %zu of %zu", i, np);
    *m = o->state + o->offset[i];
    *v = o->kind == OPT_ADAMW ? o->state + o->state_floats / 2 + o->offset[i] : NULL;
    return QY_OK;
}
size_t qy_optim_state_bytes(const qy_optim *o) { return o->state_floats * sizeof(float); }

typedef struct upd_job {
    float *p;
    const float *g;
    float *m, *v;
    float decay, b1, one_m_b1, b2, one_m_b2, bc2_sqrt, eps, neg_step;
    /* SGD */
    float wd, mom, one_m_damp, neg_lr;
    int first, nesterov;
} upd_job;

QY_VEC static void adamw_range(void *vctx, size_t b, size_t e, int tid) {
    const upd_job *j = vctx;
    for (size_t i = b; i < e; i++) {
        float p = j->p[i] * j->decay, g = j->g[i];
        float m = fmaf(g, j->one_m_b1, j->m[i] * j->b1);
        float v = fmaf(j->one_m_b2 * g, g, j->v[i] * j->b2);
        float denom = sqrtf(v) / j->bc2_sqrt + j->eps;
        j->m[i] = m;
        j->v[i] = v;
        j->p[i] = fmaf(j->neg_step, m / denom, p);
    }
}

QY_VEC static void sgd_range(void *vctx, size_t b, size_t e, int tid) {
    const upd_job *j = vctx;
    for (size_t i = b; i < e; i++) {
        float d = j->g[i];
        if (j->wd != 0.0f) d = fmaf(j->p[i], j->wd, d);
        if (j->mom != 0.0f) {
            float buf = j->first ? d : fmaf(d, j->one_m_damp, j->m[i] * j->mom);
            j->m[i] = buf;
            d = j->nesterov ? fmaf(buf, j->mom, d) : buf;
        }
        j->p[i] = fmaf(d, j->neg_lr, j->p[i]);
    }
}

int qy_optim_step(qy_optim *o, float lr) {
    if (!(lr >= 0.0f)) return qy_error(QY_ERR_ARG, "optimizer: learning rate %g is not >= 0", lr);
    o->steps++;
    size_t np = qy_params_count(o->ps);
    double t = (double)o->steps;
    for (size_t i = 0; i < np; i++) {
        qy_tensor *p = qy_params_at(o->ps, i);
        if (p->flags & QY_T_FROZEN) continue;
        double plr = (double)lr * (double)o->lr_scale[p->group];
        double wd = o->wd[p->group];
        upd_job j = {0};
        j.p = p->data;
        j.g = p->grad;
        if (o->kind == OPT_ADAMW) {
            double b1 = o->adam.beta1, b2 = o->adam.beta2;
            j.m = o->state + o->offset[i];
            j.v = o->state + o->state_floats / 2 + o->offset[i];
            j.decay = (float)(1.0 - plr * wd);
            j.b1 = (float)b1;
            j.one_m_b1 = (float)(1.0 - b1);
            j.b2 = (float)b2;
            j.one_m_b2 = (float)(1.0 - b2);
            j.bc2_sqrt = (float)sqrt(1.0 - pow(b2, t));
            j.eps = o->adam.eps;
            j.neg_step = (float)(-(plr / (1.0 - pow(b1, t))));
            qy_pool_for(o->pool, p->n, 16384, adamw_range, &j);
        } else {
            j.m = o->state + o->offset[i];
            j.wd = (float)wd;
            j.mom = o->sgd.momentum;
            j.one_m_damp = (float)(1.0 - (double)o->sgd.dampening);
            j.neg_lr = (float)-plr;
            j.first = o->steps == 1;
            j.nesterov = o->sgd.nesterov;
            qy_pool_for(o->pool, p->n, 16384, sgd_range, &j);
        }
    }
    return QY_OK;
}

typedef struct sq_job {
    float *g;
    size_t n;
    qy_chunks ch;
    double partial[64];
    float coef;
} sq_job;

static void sumsq_range(void *vctx, size_t b, size_t e, int tid) {
    sq_job *j = vctx;
    for (size_t c = b; c < e; c++) {
        size_t s = c * j->ch.per, t = s + j->ch.per < j->n ? s + j->ch.per : j->n;
        double acc = 0;
        for (size_t k = s; k < t; k++) acc += (double)j->g[k] * j->g[k];
        j->partial[c] = acc;
    }
}

QY_VEC static void scale_range(void *vctx, size_t b, size_t e, int tid) {
    sq_job *j = vctx;
    for (size_t k = b; k < e; k++) j->g[k] *= j->coef;
}

int qy_clip_grad_norm(qy_params *ps, float max_norm, qy_pool *pool, float *norm_out) {
    if (!(max_norm > 0.0f)) return qy_error(QY_ERR_ARG, "clip_grad_norm: max norm %g must be > 0", max_norm);
    double total = 0;
    size_t np = qy_params_count(ps);
    sq_job j;
    for (size_t i = 0; i < np; i++) {
        qy_tensor *p = qy_params_at(ps, i);
        if (p->flags & QY_T_FROZEN) continue;
        /* double partial sums over chunks fixed by the size, added in order */
        j.g = p->grad;
        j.n = p->n;
        j.ch = qy_chunks_of(p->n, 16384);
        qy_pool_for(pool, j.ch.count, 1, sumsq_range, &j);
        double s = 0;
        for (size_t c = 0; c < j.ch.count; c++) s += j.partial[c];
        float pn = (float)sqrt(s); /* per-tensor norm in f32, as torch.norm */
        total += (double)pn * pn;
    }
    float norm = (float)sqrt(total);
    if (norm_out) *norm_out = norm;
    j.coef = max_norm / (norm + 1e-6f);
    if (j.coef > 1.0f) j.coef = 1.0f;
    for (size_t i = 0; i < np; i++) {
        qy_tensor *p = qy_params_at(ps, i);
        if (p->flags & QY_T_FROZEN) continue;
        j.g = p->grad;
        qy_pool_for(pool, p->n, 16384, scale_range, &j);
    }
    return QY_OK;
}

float qy_lr_at(const qy_lr_schedule *s, int64_t step) {
    double f = 1.0;
    if (s->kind != QY_SCHED_CONSTANT || s->warmup_steps > 0) {
        if (step < s->warmup_steps) {
            f = (double)step / (double)(s->warmup_steps > 1 ? s->warmup_steps : 1);
        } else if (s->kind != QY_SCHED_CONSTANT) {
            int64_t span = s->total_steps - s->warmup_steps;
            if (span < 1) span = 1;
            double progress = (double)(step - s->warmup_steps) / (double)span;
            if (s->kind == QY_SCHED_COSINE)
                f = 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress));
            else
                f = (double)(s->total_steps - step) / (double)span;
            if (f < 0) f = 0;
            f = f * (1.0 - s->min_lr_ratio) + s->min_lr_ratio;
        }
    }
    return (float)(s->base_lr * f);
}
