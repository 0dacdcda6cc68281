/* rec_metrics.c — ranking evaluation for recommendation, RecBole's metric
 * definitions (recbole/evaluator/metrics.py):
 *   Hit@k    = 1 if a positive is in the top k
 *   Recall@k = positives in the top k / pos_len
 *   NDCG@k   = sum over positives at rank r <= k of 1/log2(r + 1), divided by
 *              sum_{i=1..min(pos_len, k)} 1/log2(i + 1)
 *   MRR@k    = 1 / rank of the first positive if <= k, else 0
 *   Precision@k = positives in the top k / k
 *   ItemCoverage@k = distinct items in all users' top k / item_num (RecBole's
 *              item_num counts the padding id)
 * Ranks break ties by the smaller item id (RecBole leaves them to torch.topk). */
#include "eval/rec_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/recbole.h"

static const char *const metric_names[QY_METRIC_COUNT] = {"hit", "recall", "ndcg", "mrr", "precision"};

const char *qy_rec_metric_name(qy_rec_metric m) {
    return (unsigned)m < QY_METRIC_COUNT ? metric_names[m] : "?";
}

qy_rec_eval_opts qy_rec_eval_opts_default(void) {
    qy_rec_eval_opts o = {.protocol = QY_PROTOCOL_FULL,
                          .n_neg = 100,
                          .seed = 2020,
                          .mask_history = 1,
                          .ks = {5, 10, 20},
                          .n_ks = 3,
                          .batch_users = 256};
    return o;
}

int qy_rec_protocol_parse(const char *text, qy_rec_eval_opts *o) {
    if (!strcmp(text, "full")) {
        o->protocol = QY_PROTOCOL_FULL;
        return QY_OK;
    }
    const char *num = NULL;
    if (!strncmp(text, "sampled", 7)) {
        if (!text[7])
            num = "100";
        else if (text[7] == ':')
            num = text + 8;
    } else if (!strncmp(text, "uni", 3)) {
        num = text + 3;
    }
    if (num) {
        char *end;
        long n = strtol(num, &end, 10);
        if (*num && !*end && n > 0 && n <= 1000000) {
            o->protocol = QY_PROTOCOL_SAMPLED;
            o->n_neg = (int)n;
            return QY_OK;
        }
    }
    return qy_error(QY_ERR_ARG, "unknown protocol '%s' (expected full, sampled, sampled:N or uniN)", text);
}

void qy_rec_metrics_from_ranks(const uint32_t *pos_ranks, size_t n_ranked, size_t pos_len, int k,
                               double out[QY_METRIC_COUNT]) {
    size_t hits = 0;
    double dcg = 0, first = 0;
    for (size_t i = 0; i < n_ranked; i++) {
        uint32_t r = pos_ranks[i];
        if (r == 0 || r > (uint32_t)k) continue;
        hits++;
        dcg += 1.0 / log2((double)r + 1.0);
        if (first == 0 || 1.0 / r > first) first = 1.0 / r;
    }
    size_t ideal = pos_len < (size_t)k ? pos_len : (size_t)k;
    double idcg = 0;
    for (size_t i = 1; i <= ideal; i++) idcg += 1.0 / log2((double)i + 1.0);
    out[QY_METRIC_HIT] = hits > 0;
    out[QY_METRIC_RECALL] = pos_len ? (double)hits / (double)pos_len : 0;
    out[QY_METRIC_NDCG] = idcg > 0 ? dcg / idcg : 0;
    out[QY_METRIC_MRR] = first;
    out[QY_METRIC_PRECISION] = (double)hits / k;
}

static int better(float sa, uint32_t a, float sb, uint32_t b) { return sa > sb || (sa == sb && a < b); }

uint32_t qy_rec_rank_of(const float *scores, const uint32_t *cand, size_t n_cand, uint32_t target) {
    uint32_t r = 1;
    float st = scores[target];
    for (size_t i = 0; i < n_cand; i++)
        if (cand[i] != target && better(scores[cand[i]], cand[i], st, target)) r++;
    return r;
}

void qy_rec_topk_insert(uint32_t *items, float *scores, int *n, int k, uint32_t id, float score) {
    int m = *n;
    if (m == k && !better(score, id, scores[m - 1], items[m - 1])) return;
    int at = m < k ? m : k - 1;
    while (at > 0 && better(score, id, scores[at - 1], items[at - 1])) {
        items[at] = items[at - 1];
        scores[at] = scores[at - 1];
        at--;
    }
    items[at] = id;
    scores[at] = score;
    if (m < k) *n = m + 1;
}

/* ------------------------------------------------------------- top-k */

typedef struct topk_ctx {
    const float *scores;
    uint32_t n_items;
    int k;
    const uint32_t *const *exclude;
    const size_t *n_exclude;
    uint32_t *out_items;
    float *out_scores;
} topk_ctx;

static void topk_rows(void *vc, size_t b, size_t e, int tid) {
    topk_ctx *c = vc;
    for (size_t r = b; r < e; r++) {
        const float *s = c->scores + r * c->n_items;
        uint32_t *it = c->out_items + r * (size_t)c->k;
        float *sc = c->out_scores + r * (size_t)c->k;
        const uint32_t *ex = c->exclude ? c->exclude[r] : NULL;
        size_t nex = c->exclude ? c->n_exclude[r] : 0, xi = 0;
        int n = 0;
        for (uint32_t i = 1; i < c->n_items; i++) {
            while (xi < nex && ex[xi] < i) xi++;
            if (xi < nex && ex[xi] == i) continue;
            qy_rec_topk_insert(it, sc, &n, c->k, i, s[i]);
        }
        for (int j = n; j < c->k; j++) {
            it[j] = 0;
            sc[j] = -INFINITY;
        }
    }
}

int qy_rec_topk(const float *scores, size_t n, uint32_t n_items, int k, const uint32_t *const *exclude,
                const size_t *n_exclude, uint32_t *out_items, float *out_scores, qy_pool *pool) {
    if (k <= 0 || n_items < 2 || (uint32_t)k > n_items - 1)
        return qy_error(QY_ERR_ARG, "top-k: k = %d must be in [1, %u] (items without the padding)", k,
                        n_items ? n_items - 1 : 0);
    topk_ctx c = {scores, n_items, k, exclude, n_exclude, out_items, out_scores};
    qy_pool_for(pool, n, 4, topk_rows, &c);
    return QY_OK;
}

/* ---------------------------------------------------------- evaluator */

typedef struct eval_ctx {
    const qy_rec_data *d;
    const qy_rec_eval_opts *o;
    qy_rec_phase phase;
    const uint32_t *users; /* this batch */
    const float *scores;   /* batch x n_items */
    float *per_user;       /* this batch's rows of the result */
    uint32_t *top;         /* batch x maxk */
    int maxk;
    uint8_t *mask;  /* threads x n_items scratch */
    uint32_t *cand; /* threads x (n_items + n_neg + ...) scratch */
    size_t cand_cap;
    uint32_t *ranks; /* threads x n_items scratch */
} eval_ctx;

static void eval_users(void *vc, size_t b, size_t e, int tid) {
    eval_ctx *c = vc;
    const qy_rec_data *d = c->d;
    uint32_t n_items = d->n_items;
    uint8_t *mask = c->mask + (size_t)tid * n_items;
    uint32_t *cand = c->cand + (size_t)tid * c->cand_cap;
    uint32_t *ranks = c->ranks + (size_t)tid * n_items;
    for (size_t r = b; r < e; r++) {
        uint32_t u = c->users[r];
        const float *s = c->scores + r * n_items;
        const uint32_t *hist, *tgt;
        size_t nh, nt;
        qy_rec_user_history(d, u, c->phase, &hist, &nh);
        qy_rec_user_targets(d, u, c->phase, &tgt, &nt);
        size_t nc = 0;
        memset(mask, 0, n_items);
        mask[0] = 1;
        if (c->o->protocol == QY_PROTOCOL_FULL) {
            if (c->o->mask_history)
                for (size_t i = 0; i < nh; i++) mask[hist[i]] = 1;
            for (uint32_t i = 1; i < n_items; i++)
                if (!mask[i]) cand[nc++] = i;
        } else {
            /* targets, then negatives drawn among the items the user has not
               interacted with up to this phase (RecBole's used_ids: train +
               valid items when validating, + test items when testing); a
               candidate drawn twice counts once (RecBole scatters them into one
               score row) */
            for (size_t i = 0; i < nh; i++) mask[hist[i]] = 2;
            for (size_t i = 0; i < nt; i++)
                if (mask[tgt[i]] != 3) mask[tgt[i]] = 3, cand[nc++] = tgt[i];
            size_t n_free = 0;
            for (uint32_t i = 1; i < n_items; i++) n_free += mask[i] == 0;
            qy_rng root;
            qy_rng_seed(&root, c->o->seed);
            qy_rng g = qy_rng_split(&root, ((uint64_t)c->phase << 32) | u);
            for (int j = 0; j < c->o->n_neg && n_free; j++) {
                uint32_t it;
                do it = (uint32_t)(1 + qy_rng_below(&g, n_items - 1));
                while (mask[it] >= 2);
                if (mask[it] == 0) {
                    mask[it] = 1;
                    cand[nc++] = it;
                }
            }
        }
        /* ranks of the targets among the candidates (a masked target is a miss) */
        size_t nr = 0;
        for (size_t i = 0; i < nt; i++) {
            int in = c->o->protocol == QY_PROTOCOL_SAMPLED || !mask[tgt[i]];
            ranks[nr++] = in ? qy_rec_rank_of(s, cand, nc, tgt[i]) : 0;
        }
        float *pu = c->per_user + r * QY_METRIC_COUNT * (size_t)c->o->n_ks;
        for (int kk = 0; kk < c->o->n_ks; kk++) {
            double v[QY_METRIC_COUNT];
            qy_rec_metrics_from_ranks(ranks, nr, nt, c->o->ks[kk], v);
            for (int m = 0; m < QY_METRIC_COUNT; m++) pu[(size_t)m * c->o->n_ks + kk] = (float)v[m];
        }
        /* top list for coverage */
        uint32_t *top = c->top + r * (size_t)c->maxk;
        float tops[64];
        int n = 0;
        for (size_t i = 0; i < nc; i++) qy_rec_topk_insert(top, tops, &n, c->maxk, cand[i], s[cand[i]]);
        for (int j = n; j < c->maxk; j++) top[j] = 0;
    }
}

void qy_rec_eval_result_free(qy_rec_eval_result *r) {
    if (!r) return;
    qy_free(r->users);
    qy_free(r->per_user);
    memset(r, 0, sizeof *r);
}

int qy_rec_evaluate(const qy_rec_data *d, qy_rec_phase phase, const qy_rec_eval_opts *opts,
                    const qy_rec_model *m, qy_pool *pool, qy_rec_eval_result *out) {
    memset(out, 0, sizeof *out);
    qy_rec_eval_opts o = opts ? *opts : qy_rec_eval_opts_default();
    if (!d->split) return qy_error(QY_ERR_ARG, "evaluation needs a split dataset (qy_rec_data_split)");
    if (phase != QY_PHASE_VALID && phase != QY_PHASE_TEST)
        return qy_error(QY_ERR_ARG, "evaluation phase must be valid or test");
    if (o.n_ks < 1 || o.n_ks > QY_REC_MAX_K)
        return qy_error(QY_ERR_ARG, "between 1 and %d cut-offs k", QY_REC_MAX_K);
    int maxk = 0;
    for (int i = 0; i < o.n_ks; i++) {
        if (o.ks[i] < 1 || o.ks[i] > 64)
            return qy_error(QY_ERR_ARG, "cut-off k = %d must be in [1, 64]", o.ks[i]);
        if (o.ks[i] > maxk) maxk = o.ks[i];
    }
    if (o.protocol == QY_PROTOCOL_SAMPLED && o.n_neg < 1)
        return qy_error(QY_ERR_ARG, "sampled protocol needs n_neg >= 1");
    if (!o.batch_users) o.batch_users = 256;
    uint64_t t0 = qy_now_ns();
    size_t nu = 0;
    for (uint32_t u = 1; u < d->n_users; u++) {
        const uint32_t *t;
        size_t n;
        qy_rec_user_targets(d, u, phase, &t, &n);
        nu += n > 0;
    }
    if (!nu)
        return qy_error(QY_ERR_ARG, "no user has a %s item in split '%s'",
                        phase == QY_PHASE_TEST ? "test" : "validation", d->split_desc);
    int threads = pool ? qy_pool_threads(pool) : 1;
    size_t n_items = d->n_items, cand_cap = n_items + (size_t)o.n_neg + 1;
    size_t B = o.batch_users < nu ? o.batch_users : nu;
    out->users = qy_mallocn(nu, sizeof *out->users);
    out->per_user = qy_mallocn(nu * QY_METRIC_COUNT, (size_t)o.n_ks * sizeof(float));
    uint32_t *top = qy_mallocn(nu, (size_t)maxk * sizeof(uint32_t));
    float *scores = qy_mallocn(B, n_items * sizeof(float));
    qy_rec_query *q = qy_mallocn(B, sizeof *q);
    uint8_t *mask = qy_mallocn((size_t)threads, n_items);
    uint32_t *cand = qy_mallocn((size_t)threads, cand_cap * sizeof(uint32_t));
    uint32_t *ranks = qy_mallocn((size_t)threads, n_items * sizeof(uint32_t));
    uint8_t *seen = qy_calloc(n_items, 1);
    int st = QY_OK;
    if (!out->users || !out->per_user || !top || !scores || !q || !mask || !cand || !ranks || !seen) {
        st = QY_ERR_NOMEM;
        goto done;
    }
    {
        size_t k = 0;
        for (uint32_t u = 1; u < d->n_users; u++) {
            const uint32_t *t;
            size_t n;
            qy_rec_user_targets(d, u, phase, &t, &n);
            if (n) out->users[k++] = u;
        }
    }
    out->n_users = nu;
    for (size_t b = 0; b < nu && !st; b += B) {
        size_t nb = nu - b < B ? nu - b : B;
        for (size_t i = 0; i < nb; i++) {
            q[i].user = out->users[b + i];
            qy_rec_user_history(d, q[i].user, phase, &q[i].history, &q[i].n_history);
        }
        st = qy_rec_model_score(m, q, nb, scores, pool);
        if (st) break;
        eval_ctx c = {d,
                      &o,
                      phase,
                      out->users + b,
                      scores,
                      out->per_user + b * QY_METRIC_COUNT * (size_t)o.n_ks,
                      top + b * (size_t)maxk,
                      maxk,
                      mask,
                      cand,
                      cand_cap,
                      ranks};
        qy_pool_for(pool, nb, 8, eval_users, &c);
    }
    if (st) goto done;
    out->n_ks = o.n_ks;
    for (int kk = 0; kk < o.n_ks; kk++) {
        out->ks[kk] = o.ks[kk];
        for (int mm = 0; mm < QY_METRIC_COUNT; mm++) {
            double s = 0;
            for (size_t i = 0; i < nu; i++)
                s += out->per_user[(i * QY_METRIC_COUNT + (size_t)mm) * (size_t)o.n_ks + kk];
            out->mean[mm][kk] = s / (double)nu;
        }
        memset(seen, 0, n_items);
        size_t distinct = 0;
        for (size_t i = 0; i < nu; i++)
            for (int j = 0; j < o.ks[kk]; j++) {
                uint32_t it = top[i * (size_t)maxk + j];
                if (it && !seen[it]) seen[it] = 1, distinct++;
            }
        out->coverage[kk] = (double)distinct / (double)n_items;
    }
    out->seconds = qy_seconds_since(t0);
done:
    qy_free(top);
    qy_free(scores);
    qy_free(q);
    qy_free(mask);
    qy_free(cand);
    qy_free(ranks);
    qy_free(seen);
    if (st) qy_rec_eval_result_free(out);
    return st;
}
