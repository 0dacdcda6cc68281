/* rec_models.c — recommender models without autograd, and the model
 * interface they share with the neural ones (see rec_models.h).
 *   pop     — items by training popularity (RecBole Pop)
 *   itemknn — item-based kNN with cosine similarity, k neighbours kept per
 *             item, shrinkage (Sarwar et al., WWW 2001; RecBole ItemKNN)
 *   bprmf   — matrix factorisation trained with the BPR loss (Rendle et al.,
 *             UAI 2009), one uniform negative per positive, Adam, RecBole's
 *             defaults (dim 64, xavier-normal init, lr 1e-3, batch 2048). */
#include "eval/rec_models.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "eval/rec_metrics.h"
#include "eval/rec_neural.h"
#include "eval/recbole.h"

qy_rec_params qy_rec_params_default(void) {
    qy_rec_params p = {.dim = 64, .lr = 1e-3, .reg = 0, .epochs = 300, .knn = 100, .shrink = 0, .seed = 2020};
    return p;
}

/* the training positives of user u (a prefix of the user's positives) */
static void train_items(const qy_rec_data *d, uint32_t u, const uint32_t **items, size_t *n) {
    qy_rec_user_history(d, u, QY_PHASE_VALID, items, n);
}

int qy_rec_seq_examples(const qy_rec_data *d, qy_rec_seq_example **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!d->split) return qy_error(QY_ERR_ARG, "training examples need a split dataset");
    size_t total = 0;
    for (uint32_t u = 1; u < d->n_users; u++) {
        const uint32_t *it;
        size_t k;
        train_items(d, u, &it, &k);
        total += k > 1 ? k - 1 : 0;
    }
    qy_rec_seq_example *ex = qy_mallocn(total ? total : 1, sizeof *ex);
    if (!ex) return QY_ERR_NOMEM;
    size_t j = 0;
    for (uint32_t u = 1; u < d->n_users; u++) {
        const uint32_t *it;
        size_t k;
        train_items(d, u, &it, &k);
        for (size_t p = 1; p < k; p++) ex[j++] = (qy_rec_seq_example){u, (uint32_t)p};
    }
    *out = ex;
    *n = total;
    return QY_OK;
}

/* ----------------------------------------------------------------- pop */

typedef struct pop_state {
    float *count; /* n_items */
} pop_state;

static int pop_fit(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool) {
    pop_state *s = qy_calloc(1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    s->count = qy_calloc(d->n_items, sizeof *s->count);
    if (!s->count) {
        qy_free(s);
        return QY_ERR_NOMEM;
    }
    for (uint32_t u = 1; u < d->n_users; u++) {
        const uint32_t *it;
        size_t k;
        train_items(d, u, &it, &k);
        for (size_t i = 0; i < k; i++) s->count[it[i]] += 1;
    }
    m->state = s;
    return QY_OK;
}

static int pop_score(const qy_rec_model *m, const qy_rec_query *q, size_t n, float *scores, qy_pool *pool) {
    const pop_state *s = m->state;
    for (size_t r = 0; r < n; r++) memcpy(scores + r * m->n_items, s->count, m->n_items * sizeof(float));
    return QY_OK;
}

static int pop_save(const qy_rec_model *m, void **blob, size_t *len) {
    const pop_state *s = m->state;
    *len = m->n_items * sizeof(float);
    *blob = qy_malloc(*len);
    if (!*blob) return QY_ERR_NOMEM;
    memcpy(*blob, s->count, *len);
    return QY_OK;
}

static int pop_load(qy_rec_model *m, const uint8_t *blob, size_t len) {
    if (len != m->n_items * sizeof(float))
        return qy_error(QY_ERR_FORMAT, "pop checkpoint: payload of %zu bytes, expected %zu", len,
                        m->n_items * sizeof(float));
    pop_state *s = qy_calloc(1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    s->count = qy_malloc(len);
    if (!s->count) {
        qy_free(s);
        return QY_ERR_NOMEM;
    }
    memcpy(s->count, blob, len);
    m->state = s;
    return QY_OK;
}

static void pop_free(qy_rec_model *m) {
    pop_state *s = m->state;
    if (s) qy_free(s->count);
    qy_free(s);
    m->state = NULL;
}

/* ------------------------------------------------------------- itemknn */

typedef struct knn_state {
    int k;
    uint32_t *nbr; /* n_items x k, 0 = unused */
    float *sim;    /* n_items x k */
} knn_state;

typedef struct knn_fit_ctx {
    const qy_rec_data *d;
    const size_t *item_off; /* n_items + 1: users of each item */
    const uint32_t *item_user;
    const size_t *user_off; /* n_users + 1: distinct training items of each user */
    const uint32_t *user_item;
    const float *norm;
    float *acc; /* threads x n_items */
    knn_state *s;
    double shrink;
} knn_fit_ctx;

static void knn_rows(void *vc, size_t b, size_t e, int tid) {
    knn_fit_ctx *c = vc;
    uint32_t ni = c->d->n_items;
    float *acc = c->acc + (size_t)tid * ni;
    int k = c->s->k;
    for (size_t i = b; i < e; i++) {
        uint32_t *nb = c->s->nbr + i * (size_t)k;
        float *sm = c->s->sim + i * (size_t)k;
        memset(nb, 0, (size_t)k * sizeof *nb);
        for (int j = 0; j < k; j++) sm[j] = 0;
        if (i == 0) continue;
        memset(acc, 0, ni * sizeof *acc);
        for (size_t a = c->item_off[i]; a < c->item_off[i + 1]; a++) {
            uint32_t u = c->item_user[a];
            for (size_t x = c->user_off[u]; x < c->user_off[u + 1]; x++) acc[c->user_item[x]] += 1;
        }
        int n = 0;
        for (uint32_t j = 1; j < ni; j++) {
            if (j == i || acc[j] == 0) continue;
            float s = (float)(acc[j] / ((double)c->norm[i] * c->norm[j] + c->shrink + 1e-6));
            qy_rec_topk_insert(nb, sm, &n, k, j, s);
        }
    }
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int knn_fit(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool) {
    uint32_t nu = d->n_users, ni = d->n_items;
    int k = m->p.knn;
    if (k < 1) return qy_error(QY_ERR_ARG, "itemknn: k must be >= 1 (got %d)", k);
    if ((uint32_t)k > ni - 1) k = (int)(ni - 1);
    int threads = pool ? qy_pool_threads(pool) : 1;
    knn_state *s = qy_calloc(1, sizeof *s);
    size_t *user_off = qy_calloc((size_t)nu + 1, sizeof *user_off);
    size_t *item_off = qy_calloc((size_t)ni + 1, sizeof *item_off);
    size_t total = 0;
    for (uint32_t u = 1; u < nu; u++) {
        const uint32_t *it;
        size_t n;
        train_items(d, u, &it, &n);
        total += n;
    }
    uint32_t *user_item = qy_mallocn(total ? total : 1, sizeof *user_item);
    uint32_t *item_user = qy_mallocn(total ? total : 1, sizeof *item_user);
    float *norm = qy_calloc(ni, sizeof *norm);
    float *acc = qy_mallocn((size_t)threads, ni * sizeof *acc);
    int st = QY_OK;
    if (!s || !user_off || !item_off || !user_item || !item_user || !norm || !acc) {
        st = QY_ERR_NOMEM;
        goto done;
    }
    s->k = k;
    s->nbr = qy_mallocn(ni, (size_t)k * sizeof *s->nbr);
    s->sim = qy_mallocn(ni, (size_t)k * sizeof *s->sim);
    if (!s->nbr || !s->sim) {
        st = QY_ERR_NOMEM;
        goto done;
    }
    /* distinct training items per user (a binary user-item matrix) */
    size_t w = 0;
    for (uint32_t u = 1; u < nu; u++) {
        const uint32_t *it;
        size_t n;
        train_items(d, u, &it, &n);
        size_t b = w;
        memcpy(user_item + b, it, n * sizeof *it);
        qsort(user_item + b, n, sizeof *user_item, cmp_u32);
        for (size_t x = 0; x < n; x++)
            if (w == b || user_item[w - 1] != user_item[b + x]) user_item[w++] = user_item[b + x];
        user_off[u + 1] = w;
    }
    for (uint32_t u = 1; u < nu; u++)
        if (user_off[u + 1] < user_off[u]) user_off[u + 1] = user_off[u];
    for (size_t x = 0; x < w; x++) item_off[user_item[x] + 1]++;
    for (uint32_t i = 0; i < ni; i++) item_off[i + 1] += item_off[i];
    {
        size_t *fill = qy_mallocn((size_t)ni + 1, sizeof *fill);
        if (!fill) {
            st = QY_ERR_NOMEM;
            goto done;
        }
        memcpy(fill, item_off, ((size_t)ni + 1) * sizeof *fill);
        for (uint32_t u = 1; u < nu; u++)
            for (size_t x = user_off[u]; x < user_off[u + 1]; x++) item_user[fill[user_item[x]]++] = u;
        qy_free(fill);
    }
    for (uint32_t i = 0; i < ni; i++) norm[i] = sqrtf((float)(item_off[i + 1] - item_off[i]));
    knn_fit_ctx c = {d, item_off, item_user, user_off, user_item, norm, acc, s, m->p.shrink};
    qy_pool_for(pool, ni, 16, knn_rows, &c);
    m->state = s;
    s = NULL;
done:
    if (s) {
        qy_free(s->nbr);
        qy_free(s->sim);
        qy_free(s);
    }
    qy_free(user_off);
    qy_free(item_off);
    qy_free(user_item);
    qy_free(item_user);
    qy_free(norm);
    qy_free(acc);
    return st;
}

typedef struct knn_score_ctx {
    const qy_rec_model *m;
    const qy_rec_query *q;
    float *scores;
    uint8_t *seen; /* threads x n_items */
} knn_score_ctx;

static void knn_score_rows(void *vc, size_t b, size_t e, int tid) {
    knn_score_ctx *c = vc;
    const knn_state *s = c->m->state;
    uint32_t ni = c->m->n_items;
    uint8_t *seen = c->seen + (size_t)tid * ni;
    for (size_t r = b; r < e; r++) {
        memset(seen, 0, ni);
        for (size_t h = 0; h < c->q[r].n_history; h++)
            if (c->q[r].history[h] < ni) seen[c->q[r].history[h]] = 1;
        float *out = c->scores + r * ni;
        out[0] = 0;
        for (uint32_t i = 1; i < ni; i++) {
            const uint32_t *nb = s->nbr + (size_t)i * s->k;
            const float *sm = s->sim + (size_t)i * s->k;
            float acc = 0;
            for (int j = 0; j < s->k && nb[j]; j++)
                if (seen[nb[j]]) acc += sm[j];
            out[i] = acc;
        }
    }
}

static int knn_score(const qy_rec_model *m, const qy_rec_query *q, size_t n, float *scores, qy_pool *pool) {
    int threads = pool ? qy_pool_threads(pool) : 1;
    uint8_t *seen = qy_mallocn((size_t)threads, m->n_items);
    if (!seen) return QY_ERR_NOMEM;
    knn_score_ctx c = {m, q, scores, seen};
    qy_pool_for(pool, n, 8, knn_score_rows, &c);
    qy_free(seen);
    return QY_OK;
}

static int knn_save(const qy_rec_model *m, void **blob, size_t *len) {
    const knn_state *s = m->state;
    size_t per = (size_t)m->n_items * (size_t)s->k;
    *len = sizeof(int32_t) + per * (sizeof(uint32_t) + sizeof(float));
    uint8_t *b = qy_malloc(*len);
    if (!b) return QY_ERR_NOMEM;
    int32_t k = s->k;
    memcpy(b, &k, sizeof k);
    memcpy(b + sizeof k, s->nbr, per * sizeof(uint32_t));
    memcpy(b + sizeof k + per * sizeof(uint32_t), s->sim, per * sizeof(float));
    *blob = b;
    return QY_OK;
}

static int knn_load(qy_rec_model *m, const uint8_t *blob, size_t len) {
    int32_t k;
    if (len < sizeof k) return qy_error(QY_ERR_FORMAT, "itemknn checkpoint: payload too short");
    memcpy(&k, blob, sizeof k);
    size_t per = (size_t)m->n_items * (size_t)(k > 0 ? k : 0);
    if (k < 1 || len != sizeof k + per * (sizeof(uint32_t) + sizeof(float)))
        return qy_error(QY_ERR_FORMAT, "itemknn checkpoint: payload of %zu bytes does not fit k = %d", len,
                        k);
    knn_state *s = qy_calloc(1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    s->k = k;
    s->nbr = qy_mallocn(per, sizeof *s->nbr);
    s->sim = qy_mallocn(per, sizeof *s->sim);
    if (!s->nbr || !s->sim) {
        qy_free(s->nbr);
        qy_free(s->sim);
        qy_free(s);
        return QY_ERR_NOMEM;
    }
    memcpy(s->nbr, blob + sizeof k, per * sizeof(uint32_t));
    memcpy(s->sim, blob + sizeof k + per * sizeof(uint32_t), per * sizeof(float));
    for (size_t x = 0; x < per; x++)
        if (s->nbr[x] >= m->n_items) {
            qy_free(s->nbr);
            qy_free(s->sim);
            qy_free(s);
            return qy_error(QY_ERR_FORMAT, "itemknn checkpoint: neighbour id out of range");
        }
    m->state = s;
    return QY_OK;
}

static void knn_free(qy_rec_model *m) {
    knn_state *s = m->state;
    if (s) {
        qy_free(s->nbr);
        qy_free(s->sim);
    }
    qy_free(s);
    m->state = NULL;
}

/* --------------------------------------------------------------- bprmf */

typedef struct bpr_state {
    int dim;
    float *w;           /* parameters: users (n_users x dim) then items (n_items x dim) */
    float *g, *m1, *m2; /* gradient, Adam moments (same layout); NULL when loaded */
    int64_t step;
    size_t n_params;
    /* training data */
    uint32_t *ex_user, *ex_item; /* training positives */
    size_t n_ex;
    size_t *seen_off; /* n_users + 1 */
    uint32_t *seen;   /* sorted training items per user */
    qy_rng rng;
} bpr_state;

static void bpr_free(qy_rec_model *m) {
    bpr_state *s = m->state;
    if (s) {
        qy_free(s->w);
        qy_free(s->g);
        qy_free(s->m1);
        qy_free(s->m2);
        qy_free(s->ex_user);
        qy_free(s->ex_item);
        qy_free(s->seen_off);
        qy_free(s->seen);
    }
    qy_free(s);
    m->state = NULL;
}

static int bpr_alloc(qy_rec_model *m) {
    bpr_state *s = qy_calloc(1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    m->state = s;
    s->dim = m->p.dim;
    if (s->dim < 1 || s->dim > 4096)
        return qy_error(QY_ERR_ARG, "bprmf: dim must be in [1, 4096] (got %d)", s->dim);
    size_t rows = (size_t)m->n_users + m->n_items;
    if (qy_size_mul(rows, (size_t)s->dim, &s->n_params))
        return qy_error(QY_ERR_RANGE, "bprmf: too many parameters");
    s->w = qy_mallocn(s->n_params, sizeof(float));
    if (!s->w) return QY_ERR_NOMEM;
    return QY_OK;
}

static int bpr_fit(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool) {
    int st = bpr_alloc(m);
    if (st) return st;
    bpr_state *s = m->state;
    s->g = qy_calloc(s->n_params, sizeof(float));
    s->m1 = qy_calloc(s->n_params, sizeof(float));
    s->m2 = qy_calloc(s->n_params, sizeof(float));
    s->seen_off = qy_calloc((size_t)d->n_users + 1, sizeof *s->seen_off);
    if (!s->g || !s->m1 || !s->m2 || !s->seen_off) return QY_ERR_NOMEM;
    qy_rng_seed(&s->rng, m->p.seed);
    /* xavier-normal: std = sqrt(2 / (fan_in + fan_out)) per embedding table */
    size_t nuw = (size_t)m->n_users * s->dim;
    double su = sqrt(2.0 / ((double)m->n_users + s->dim)), si = sqrt(2.0 / ((double)m->n_items + s->dim));
    for (size_t x = 0; x < s->n_params; x++) s->w[x] = (float)(qy_rng_normal(&s->rng) * (x < nuw ? su : si));
    size_t total = 0;
    for (uint32_t u = 1; u < d->n_users; u++) {
        const uint32_t *it;
        size_t n;
        train_items(d, u, &it, &n);
        total += n;
    }
    s->ex_user = qy_mallocn(total ? total : 1, sizeof *s->ex_user);
    s->ex_item = qy_mallocn(total ? total : 1, sizeof *s->ex_item);
    s->seen = qy_mallocn(total ? total : 1, sizeof *s->seen);
    if (!s->ex_user || !s->ex_item || !s->seen) return QY_ERR_NOMEM;
    for (uint32_t u = 1; u < d->n_users; u++) {
        const uint32_t *it;
        size_t n;
        train_items(d, u, &it, &n);
        size_t b = s->n_ex;
        for (size_t i = 0; i < n; i++) {
            s->ex_user[s->n_ex] = u;
            s->ex_item[s->n_ex] = it[i];
            s->seen[s->n_ex++] = it[i];
        }
        qsort(s->seen + b, n, sizeof *s->seen, cmp_u32);
        s->seen_off[u + 1] = s->n_ex;
    }
    return QY_OK;
}

static int in_sorted(const uint32_t *a, size_t n, uint32_t x) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == x;
}

static int bpr_epoch(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool, double *loss_out) {
    bpr_state *s = m->state;
    if (!s->m1) return qy_error(QY_ERR_ARG, "bprmf: a model loaded from a checkpoint cannot train further");
    const size_t B = 2048;
    const int D = s->dim;
    size_t n = s->n_ex;
    uint32_t *order = qy_mallocn(n ? n : 1, sizeof *order);
    if (!order) return QY_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    qy_rng_shuffle(&s->rng, order, n, sizeof *order);
    float *U = s->w, *I = s->w + (size_t)m->n_users * D;
    float *gU = s->g, *gI = s->g + (size_t)m->n_users * D;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8, lr = m->p.lr;
    double loss_sum = 0;
    for (size_t b = 0; b < n; b += B) {
        size_t nb = n - b < B ? n - b : B;
        memset(s->g, 0, s->n_params * sizeof(float));
        for (size_t x = b; x < b + nb; x++) {
            uint32_t u = s->ex_user[order[x]], p = s->ex_item[order[x]], q;
            const uint32_t *seen = s->seen + s->seen_off[u];
            size_t ns = s->seen_off[u + 1] - s->seen_off[u];
            if (ns + 1 >= m->n_items) continue; /* the user saw every item */
            do q = (uint32_t)(1 + qy_rng_below(&s->rng, m->n_items - 1));
            while (in_sorted(seen, ns, q));
            float *eu = U + (size_t)u * D, *ep = I + (size_t)p * D, *eq = I + (size_t)q * D;
            double diff = 0;
            for (int k = 0; k < D; k++) diff += (double)eu[k] * (ep[k] - eq[k]);
            double sig = 1.0 / (1.0 + exp(-diff));
            loss_sum += -log(1e-10 + sig);
            /* d(-log(1e-10 + sig))/d diff, averaged over the batch */
            float gdiff = (float)(-sig * (1 - sig) / (1e-10 + sig) / (double)nb);
            float *gu = gU + (size_t)u * D, *gp = gI + (size_t)p * D, *gq = gI + (size_t)q * D;
            for (int k = 0; k < D; k++) {
                float uk = eu[k];
                gu[k] += gdiff * (ep[k] - eq[k]);
                gp[k] += gdiff * uk;
                gq[k] -= gdiff * uk;
            }
        }
        /* Adam (PyTorch's update: bias-corrected, eps outside the square root),
           L2 weight decay added to the gradient when reg > 0 */
        s->step++;
        double bc1 = 1 - pow(b1, (double)s->step), bc2 = 1 - pow(b2, (double)s->step);
        double step_size = lr / bc1;
        for (size_t x = 0; x < s->n_params; x++) {
            double g = s->g[x] + m->p.reg * s->w[x];
            s->m1[x] = (float)(b1 * s->m1[x] + (1 - b1) * g);
            s->m2[x] = (float)(b2 * s->m2[x] + (1 - b2) * g * g);
            double den = sqrt(s->m2[x]) / sqrt(bc2) + eps;
            s->w[x] = (float)(s->w[x] - step_size * s->m1[x] / den);
        }
    }
    qy_free(order);
    *loss_out = n ? loss_sum / (double)n : 0;
    return QY_OK;
}

typedef struct bpr_score_ctx {
    const qy_rec_model *m;
    const qy_rec_query *q;
    float *scores;
} bpr_score_ctx;

static void bpr_score_rows(void *vc, size_t b, size_t e, int tid) {
    bpr_score_ctx *c = vc;
    const bpr_state *s = c->m->state;
    const int D = s->dim;
    const float *I = s->w + (size_t)c->m->n_users * D;
    for (size_t r = b; r < e; r++) {
        uint32_t u = c->q[r].user < c->m->n_users ? c->q[r].user : 0;
        const float *eu = s->w + (size_t)u * D;
        float *out = c->scores + r * c->m->n_items;
        for (uint32_t i = 0; i < c->m->n_items; i++) {
            const float *ei = I + (size_t)i * D;
            float acc = 0;
            for (int k = 0; k < D; k++) acc += eu[k] * ei[k];
            out[i] = acc;
        }
    }
}

static int bpr_score(const qy_rec_model *m, const qy_rec_query *q, size_t n, float *scores, qy_pool *pool) {
    bpr_score_ctx c = {m, q, scores};
    qy_pool_for(pool, n, 8, bpr_score_rows, &c);
    return QY_OK;
}

static int bpr_save(const qy_rec_model *m, void **blob, size_t *len) {
    const bpr_state *s = m->state;
    *len = sizeof(int32_t) + s->n_params * sizeof(float);
    uint8_t *b = qy_malloc(*len);
    if (!b) return QY_ERR_NOMEM;
    int32_t dim = s->dim;
    memcpy(b, &dim, sizeof dim);
    memcpy(b + sizeof dim, s->w, s->n_params * sizeof(float));
    *blob = b;
    return QY_OK;
}

static int bpr_load(qy_rec_model *m, const uint8_t *blob, size_t len) {
    int32_t dim;
    if (len < sizeof dim) return qy_error(QY_ERR_FORMAT, "bprmf checkpoint: payload too short");
    memcpy(&dim, blob, sizeof dim);
    m->p.dim = dim;
    int st = bpr_alloc(m);
    if (st) return st;
    bpr_state *s = m->state;
    if (len != sizeof dim + s->n_params * sizeof(float))
        return qy_error(QY_ERR_FORMAT, "bprmf checkpoint: payload of %zu bytes does not fit dim %d", len,
                        dim);
    memcpy(s->w, blob + sizeof dim, s->n_params * sizeof(float));
    return QY_OK;
}

void qy_rec_span_put(qy_rec_span *sp, size_t cap, size_t *k, void *data, size_t bytes) {
    if (*k < cap) sp[*k] = (qy_rec_span){data, bytes};
    (*k)++;
}

static int bpr_spans(qy_rec_model *m, qy_rec_span *sp, size_t cap, size_t *n) {
    bpr_state *s = m->state;
    if (!s->m1) return qy_error(QY_ERR_ARG, "bprmf: a model loaded from a checkpoint cannot train further");
    size_t k = 0, bytes = s->n_params * sizeof(float);
    qy_rec_span_put(sp, cap, &k, s->w, bytes);
    qy_rec_span_put(sp, cap, &k, s->m1, bytes);
    qy_rec_span_put(sp, cap, &k, s->m2, bytes);
    qy_rec_span_put(sp, cap, &k, &s->step, sizeof s->step);
    qy_rec_span_put(sp, cap, &k, &s->rng, sizeof s->rng);
    *n = k;
    return QY_OK;
}

/* ------------------------------------------------------------ registry */

static const qy_rec_model_ops model_ops[] = {
    {"pop", 0, pop_fit, NULL, pop_score, pop_save, pop_load, pop_free, NULL, NULL, NULL},
    {"itemknn", 0, knn_fit, NULL, knn_score, knn_save, knn_load, knn_free, NULL, NULL, NULL},
    {"bprmf", 1, bpr_fit, bpr_epoch, bpr_score, bpr_save, bpr_load, bpr_free, NULL, bpr_spans, NULL},
    {"sasrec", 1, qy_rec_sasrec_fit, qy_rec_seq_epoch, qy_rec_seq_score, qy_rec_seq_save, qy_rec_seq_load,
     qy_rec_seq_free, qy_rec_seq_item_emb, qy_rec_seq_spans, qy_rec_seq_restored},
    {"gru4rec", 1, qy_rec_gru4rec_fit, qy_rec_seq_epoch, qy_rec_seq_score, qy_rec_seq_save, qy_rec_seq_load,
     qy_rec_seq_free, qy_rec_seq_item_emb, qy_rec_seq_spans, qy_rec_seq_restored},
    {"lightgcn", 1, qy_rec_lightgcn_fit, qy_rec_lightgcn_epoch, qy_rec_lightgcn_score, qy_rec_lightgcn_save,
     qy_rec_lightgcn_load, qy_rec_lightgcn_free, qy_rec_lightgcn_item_emb, qy_rec_lightgcn_spans,
     qy_rec_lightgcn_restored},
};
enum { N_MODELS = sizeof model_ops / sizeof model_ops[0] };

const char *const *qy_rec_model_names(void) {
    static const char *const names[] = {"pop", "itemknn", "bprmf", "sasrec", "gru4rec", "lightgcn", NULL};
    return names;
}

int qy_rec_model_new(const char *name, const qy_rec_params *params, qy_rec_model **out) {
    *out = NULL;
    for (int i = 0; i < N_MODELS; i++) {
        if (strcmp(model_ops[i].name, name) != 0) continue;
        qy_rec_model *m = qy_calloc(1, sizeof *m);
        if (!m) return QY_ERR_NOMEM;
        m->ops = &model_ops[i];
        m->p = params ? *params : qy_rec_params_default();
        *out = m;
        return QY_OK;
    }
    return qy_error(QY_ERR_ARG, "unknown model '%s' (known: pop, itemknn, bprmf, sasrec, gru4rec, lightgcn)",
                    name);
}

void qy_rec_model_free(qy_rec_model *m) {
    if (!m) return;
    if (m->ops->free_state) m->ops->free_state(m);
    qy_free(m);
}

const char *qy_rec_model_name(const qy_rec_model *m) { return m->ops->name; }

int qy_rec_model_item_embeddings(const qy_rec_model *m, const float **emb, int *dim) {
    *emb = NULL;
    *dim = 0;
    if (!m->ops->item_emb)
        return qy_error(QY_ERR_UNSUPPORTED, "model %s has no item embeddings to export", m->ops->name);
    if (!m->state) return qy_error(QY_ERR_ARG, "model %s is not fitted", m->ops->name);
    return m->ops->item_emb(m, emb, dim);
}
int qy_rec_model_has_epochs(const qy_rec_model *m) { return m->ops->has_epochs; }

int qy_rec_model_train_epoch(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool, double *loss) {
    if (!m->ops->epoch) return qy_error(QY_ERR_UNSUPPORTED, "model %s has no training epochs", m->ops->name);
    if (!m->state)
        return qy_error(QY_ERR_ARG, "model %s: fit it (qy_rec_model_fit) before training epochs",
                        m->ops->name);
    if (d->n_items != m->n_items || d->n_users != m->n_users)
        return qy_error(QY_ERR_ARG, "model %s: dataset differs from the one it was fitted on", m->ops->name);
    int st = m->ops->epoch(m, d, pool, loss);
    if (!st) m->epochs_done++;
    return st;
}

int qy_rec_model_fit(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool, qy_rec_epoch_fn on_epoch,
                     void *ctx) {
    if (!d->split)
        return qy_error(QY_ERR_ARG, "model %s: fitting needs a split dataset (qy_rec_data_split)",
                        m->ops->name);
    if (m->ops->free_state) m->ops->free_state(m);
    m->n_users = d->n_users;
    m->n_items = d->n_items;
    m->epochs_done = 0;
    int st = m->ops->fit_begin(m, d, pool);
    if (st) {
        if (m->ops->free_state) m->ops->free_state(m);
        return st;
    }
    if (!m->ops->epoch || !on_epoch) return QY_OK;
    for (int e = 1; e <= m->p.epochs; e++) {
        uint64_t t0 = qy_now_ns();
        double loss = 0;
        st = qy_rec_model_train_epoch(m, d, pool, &loss);
        if (st) return st;
        if (on_epoch(ctx, e, loss, qy_seconds_since(t0))) break;
    }
    return QY_OK;
}

int qy_rec_model_score(const qy_rec_model *m, const qy_rec_query *q, size_t n, float *scores, qy_pool *pool) {
    if (!m->state) return qy_error(QY_ERR_ARG, "model %s is not fitted", m->ops->name);
    for (size_t i = 0; i < n; i++)
        if (q[i].user >= m->n_users)
            return qy_error(QY_ERR_ARG, "user id %u out of range (%u users)", q[i].user, m->n_users);
    return m->ops->score(m, q, n, scores, pool);
}

/* ---------------------------------------------------------- checkpoints */

#define CKPT_MAGIC "QYRECM01"

typedef struct ckpt_header {
    char magic[8];
    char model[24];
    uint32_t n_users, n_items;
    int32_t epochs_done, dim, knn;
    int32_t reserved;
    double lr, reg, shrink;
    uint64_t seed;
    uint64_t payload;
} ckpt_header;

int qy_rec_model_image(const qy_rec_model *m, void **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    if (!m->state) return qy_error(QY_ERR_ARG, "model %s is not fitted: nothing to save", m->ops->name);
    void *blob;
    size_t n;
    int st = m->ops->save(m, &blob, &n);
    if (st) return st;
    ckpt_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CKPT_MAGIC, 8);
    snprintf(h.model, sizeof h.model, "%s", m->ops->name);
    h.n_users = m->n_users;
    h.n_items = m->n_items;
    h.epochs_done = m->epochs_done;
    h.dim = m->p.dim;
    h.knn = m->p.knn;
    h.lr = m->p.lr;
    h.reg = m->p.reg;
    h.shrink = m->p.shrink;
    h.seed = m->p.seed;
    h.payload = n;
    size_t total = sizeof h + n + sizeof(uint64_t);
    uint8_t *b = qy_malloc(total);
    if (!b) {
        qy_free(blob);
        return QY_ERR_NOMEM;
    }
    memcpy(b, &h, sizeof h);
    memcpy(b + sizeof h, blob, n);
    qy_free(blob);
    uint64_t sum = XXH64(b, sizeof h + n, 0);
    memcpy(b + sizeof h + n, &sum, sizeof sum);
    *buf = b;
    *len = total;
    return QY_OK;
}

int qy_rec_model_save(const qy_rec_model *m, const char *path) {
    void *buf;
    size_t len;
    int st = qy_rec_model_image(m, &buf, &len);
    if (st) return st;
    st = qy_write_file_atomic(path, buf, len);
    qy_free(buf);
    return st;
}

int qy_rec_model_load(const char *path, const qy_rec_data *d, qy_rec_model **out) {
    *out = NULL;
    qy_mmap mm;
    int st = qy_mmap_open(path, &mm);
    if (st) return st;
    ckpt_header h;
    uint64_t sum;
    if (mm.size < sizeof h + sizeof sum) {
        qy_mmap_close(&mm);
        return qy_error(QY_ERR_FORMAT, "%s: not a quarry recommender checkpoint (too short)", path);
    }
    memcpy(&h, mm.data, sizeof h);
    if (memcmp(h.magic, CKPT_MAGIC, 8) != 0)
        st = qy_error(QY_ERR_FORMAT, "%s: bad magic (expected %s)", path, CKPT_MAGIC);
    else if (h.payload != mm.size - sizeof h - sizeof sum)
        st = qy_error(QY_ERR_FORMAT, "%s: truncated (payload %llu bytes, file %zu)", path,
                      (unsigned long long)h.payload, mm.size);
    if (!st) {
        memcpy(&sum, mm.data + sizeof h + h.payload, sizeof sum);
        if (XXH64(mm.data, sizeof h + h.payload, 0) != sum)
            st = qy_error(QY_ERR_FORMAT, "%s: checksum mismatch (file damaged)", path);
    }
    if (!st && (h.n_users != d->n_users || h.n_items != d->n_items))
        st = qy_error(QY_ERR_ARG, "%s: fitted on %u users and %u items, this dataset has %u and %u", path,
                      h.n_users, h.n_items, d->n_users, d->n_items);
    h.model[sizeof h.model - 1] = '\0';
    qy_rec_params p = qy_rec_params_default();
    p.dim = h.dim;
    p.knn = h.knn;
    p.lr = h.lr;
    p.reg = h.reg;
    p.shrink = h.shrink;
    p.seed = h.seed;
    qy_rec_model *m = NULL;
    if (!st) st = qy_rec_model_new(h.model, &p, &m);
    if (!st) {
        m->n_users = h.n_users;
        m->n_items = h.n_items;
        m->epochs_done = h.epochs_done;
        st = m->ops->load(m, mm.data + sizeof h, (size_t)h.payload);
        if (st) qy_error_wrap(st, "%s", path);
    }
    qy_mmap_close(&mm);
    if (st) {
        qy_rec_model_free(m);
        return st;
    }
    *out = m;
    return QY_OK;
}
