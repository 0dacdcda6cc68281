/* loader.c — a deterministic data loader over one shard. Samples are windows of
 * T+1 tokens (a stream shard) or documents (a masked shard); epoch e visits them
 * in the permutation drawn from qy_rng_split(seed, e), so the state is just
 * (epoch, position) and a restored loader continues with the same samples. */
#include <string.h>

#include "quarry/train.h"

struct qy_loader {
    const qy_shard *s;
    int T;
    uint64_t seed;
    int shuffle;
    int per_doc;
    uint64_t nsamples;
    uint64_t *order; /* permutation of the current epoch */
    qy_loader_state st;
};

static void draw_order(qy_loader *l) {
    for (uint64_t i = 0; i < l->nsamples; i++) l->order[i] = i;
    if (!l->shuffle) return;
    qy_rng base;
    qy_rng_seed(&base, l->seed);
    qy_rng r = qy_rng_split(&base, l->st.epoch);
    qy_rng_shuffle(&r, l->order, (size_t)l->nsamples, sizeof *l->order);
}

int qy_loader_new(const qy_shard *s, int T, uint64_t seed, int shuffle, qy_loader **out) {
    *out = NULL;
    if (T < 1) return qy_error(QY_ERR_ARG, "loader: sequence length %d must be >= 1", T);
    int per_doc = qy_shard_mask(s) != NULL;
    uint64_t n = qy_shard_ntokens(s);
    uint64_t ns = per_doc ? qy_shard_ndocs(s) : (n > 0 ? (n - 1) / (uint64_t)T : 0);
    if (ns == 0)
        return qy_error(QY_ERR_ARG, "%s: %llu tokens make no sample of %d+1 tokens", qy_shard_path(s),
                        (unsigned long long)n, T);
    if (ns > SIZE_MAX / sizeof(uint64_t))
        return qy_error(QY_ERR_RANGE, "%s: too many samples", qy_shard_path(s));
    qy_loader *l = qy_calloc(1, sizeof *l);
    if (!l) return QY_ERR_NOMEM;
    l->order = qy_mallocn((size_t)ns, sizeof *l->order);
    if (!l->order) {
        qy_free(l);
        return QY_ERR_NOMEM;
    }
    l->s = s;
    l->T = T;
    l->seed = seed;
    l->shuffle = shuffle;
    l->per_doc = per_doc;
    l->nsamples = ns;
    draw_order(l);
    *out = l;
    return QY_OK;
}

void qy_loader_free(qy_loader *l) {
    if (!l) return;
    qy_free(l->order);
    qy_free(l);
}

uint64_t qy_loader_nsamples(const qy_loader *l) { return l->nsamples; }

/* inputs ids[0..T), targets[0..T): target t is token t+1 when it counts */
void qy_loader_sample(const qy_loader *l, uint64_t i, int32_t *ids, int32_t *targets) {
    const uint32_t *tok = qy_shard_tokens(l->s);
    const uint8_t *mask = qy_shard_mask(l->s);
    uint64_t start, len;
    if (l->per_doc) {
        start = qy_shard_docs(l->s)[i];
        len = qy_shard_docs(l->s)[i + 1] - start;
        if (len > (uint64_t)l->T + 1) len = (uint64_t)l->T + 1;
    } else {
        start = i * (uint64_t)l->T;
        len = (uint64_t)l->T + 1;
    }
    for (int t = 0; t < l->T; t++) {
        uint64_t k = (uint64_t)t;
        ids[t] = k < len ? (int32_t)tok[start + k] : 0;
        int has_next = k + 1 < len;
        targets[t] = has_next && (!mask || mask[start + k + 1]) ? (int32_t)tok[start + k + 1] : -100;
    }
}

int qy_loader_next(qy_loader *l, int B, int32_t *ids, int32_t *targets, uint64_t *sample_idx) {
    for (int b = 0; b < B; b++) {
        if (l->st.pos == l->nsamples) {
            l->st.epoch++;
            l->st.pos = 0;
            draw_order(l);
        }
        uint64_t i = l->order[l->st.pos++];
        if (sample_idx) sample_idx[b] = i;
        qy_loader_sample(l, i, ids + (size_t)b * (size_t)l->T, targets + (size_t)b * (size_t)l->T);
    }
    return QY_OK;
}

qy_loader_state qy_loader_get_state(const qy_loader *l) { return l->st; }

int qy_loader_set_state(qy_loader *l, qy_loader_state st) {
    if (st.pos > l->nsamples)
        return qy_error(QY_ERR_ARG, "loader: position %llu beyond the %llu samples of %s",
                        (unsigned long long)st.pos, (unsigned long long)l->nsamples, qy_shard_path(l->s));
    l->st = st;
    draw_order(l);
    return QY_OK;
}
