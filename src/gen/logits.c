/* logits.c — logits processors and warpers with transformers' semantics
 * (RepetitionPenalty, NoRepeatNGram, Temperature, TopK, TopP, MinP), and log-softmax. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quarry/gen.h"

int qy_logits_repetition_penalty(float *scores, int V, const int32_t *seq, int len, float penalty) {
    if (penalty == 1.0f) return QY_OK;
    /* transformers gathers the scores of every token in the sequence first, then
     * scatters the penalised values, so a repeated token is penalised once. */
    unsigned char *seen = qy_calloc((size_t)V, 1);
    if (!seen) return QY_ERR_NOMEM;
    for (int i = 0; i < len; i++) {
        int32_t t = seq[i];
        if (t < 0 || t >= V || seen[t]) continue;
        seen[t] = 1;
        float s = scores[t];
        scores[t] = s < 0 ? s * penalty : s / penalty;
    }
    qy_free(seen);
    return QY_OK;
}

void qy_logits_no_repeat_ngram(float *scores, int V, const int32_t *seq, int len, int n) {
    if (n <= 0 || len + 1 < n) return;
    /* the last n-1 tokens form the prefix; every earlier n-gram with the same
     * prefix bans its last token */
    const int32_t *prefix = seq + len - (n - 1);
    for (int i = 0; i + n <= len; i++) {
        if (n == 1 || memcmp(seq + i, prefix, sizeof(int32_t) * (size_t)(n - 1)) == 0) {
            int32_t t = seq[i + n - 1];
            if (t >= 0 && t < V) scores[t] = -INFINITY;
        }
    }
}

void qy_logits_temperature(float *scores, int V, float t) {
    if (t == 1.0f) return;
    for (int i = 0; i < V; i++) scores[i] /= t;
}

static int cmp_float_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

void qy_logits_top_k(float *scores, int V, int top_k, float *scratch) {
    if (top_k <= 0 || top_k >= V) return;
    memcpy(scratch, scores, sizeof(float) * (size_t)V);
    qsort(scratch, (size_t)V, sizeof(float), cmp_float_desc);
    float kth = scratch[top_k - 1];
    for (int i = 0; i < V; i++)
        if (scores[i] < kth) scores[i] = -INFINITY;
}

typedef struct idx_score {
    float s;
    int i;
} idx_score;

static int cmp_idx_asc(const void *a, const void *b) {
    const idx_score *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int qy_logits_top_p(float *scores, int V, float top_p) {
    if (top_p >= 1.0f) return QY_OK;
    idx_score *v = qy_mallocn((size_t)V, sizeof *v);
    if (!v) return QY_ERR_NOMEM;
    for (int i = 0; i < V; i++) v[i] = (idx_score){scores[i], i};
    /* ascending, as TopPLogitsWarper sorts */
    qsort(v, (size_t)V, sizeof *v, cmp_idx_asc);
    double mx = v[V - 1].s, z = 0;
    for (int i = 0; i < V; i++) z += exp((double)v[i].s - mx);
    double cum = 0;
    for (int i = 0; i < V - 1; i++) { /* the last (largest) is always kept */
        cum += exp((double)v[i].s - mx) / z;
        if (cum <= 1.0 - (double)top_p) scores[v[i].i] = -INFINITY;
    }
    qy_free(v);
    return QY_OK;
}

void qy_logits_min_p(float *scores, int V, float min_p) {
    if (min_p <= 0.0f) return;
    double mx = -INFINITY;
    int arg = 0;
    for (int i = 0; i < V; i++)
        if (scores[i] > mx) {
            mx = scores[i];
            arg = i;
        }
    /* prob_i < min_p * prob_max  <=>  s_i - s_max < log(min_p) */
    double thresh = log((double)min_p);
    for (int i = 0; i < V; i++)
        if (i != arg && (double)scores[i] - mx < thresh) scores[i] = -INFINITY;
}

void qy_logits_log_softmax(float *x, int V) {
    double mx = -INFINITY;
    for (int i = 0; i < V; i++)
        if (x[i] > mx) mx = x[i];
    double z = 0;
    for (int i = 0; i < V; i++) z += exp((double)x[i] - mx);
    double lz = mx + log(z);
    for (int i = 0; i < V; i++) x[i] = (float)((double)x[i] - lz);
}
