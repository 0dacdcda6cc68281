/* lightgcn.c — LightGCN with a hand-written sparse propagation and gradient
 * (see lightgcn.h). Follows RecBole's recbole/model/general_recommender/
 * lightgcn.py: A = [[0, R], [R^T, 0]] over distinct training pairs, degrees + 1e-7,
 * full propagation at every batch, BPR loss on the final embeddings, EmbLoss on
 * the ego embeddings. */
#include "model/lightgcn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void qy_lightgcn_free(qy_lightgcn *n) {
    if (!n) return;
    qy_optim_free(n->opt);
    qy_params_free(n->ps);
    qy_free(n->adj_off);
    qy_free(n->adj_col);
    qy_free(n->adj_val);
    qy_free(n->final);
    qy_free(n->work);
    qy_free(n);
}

/* parameters, final and scratch buffers; the graph is added by the caller */
static int alloc_model(uint32_t n_users, uint32_t n_items, int dim, int n_layers, qy_lightgcn **out) {
    *out = NULL;
    if (dim < 1 || dim > 4096) return qy_error(QY_ERR_ARG, "lightgcn: dim %d not in [1, 4096]", dim);
    if (n_layers < 0 || n_layers > 16)
        return qy_error(QY_ERR_ARG, "lightgcn: layers %d not in [0, 16]", n_layers);
    if (n_users < 2 || n_items < 2)
        return qy_error(QY_ERR_ARG, "lightgcn: need users and items besides the padding");
    qy_lightgcn *n = qy_calloc(1, sizeof *n);
    if (!n) return QY_ERR_NOMEM;
    *out = n;
    n->n_users = n_users;
    n->n_items = n_items;
    n->dim = dim;
    n->n_layers = n_layers;
    n->n_nodes = (size_t)n_users + n_items;
    size_t cells;
    if (qy_size_mul(n->n_nodes, (size_t)dim, &cells))
        return qy_error(QY_ERR_RANGE, "lightgcn: too many parameters");
    int st = qy_params_new(&n->ps);
    if (!st)
        st =
            qy_params_add(n->ps, "emb", 2, (int64_t[]){(int64_t)n->n_nodes, dim}, QY_GROUP_NO_DECAY, &n->emb);
    if (!st) st = qy_params_alloc(n->ps);
    if (st) return st;
    n->final = qy_mallocn(cells, sizeof(float));
    n->work = qy_mallocn(cells, 3 * sizeof(float));
    if (!n->final || !n->work) return QY_ERR_NOMEM;
    return QY_OK;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int build_graph(qy_lightgcn *n, const uint32_t *users, const uint32_t *items, size_t n_edges) {
    uint64_t *pairs = qy_mallocn(n_edges ? n_edges : 1, sizeof *pairs);
    n->adj_off = qy_calloc(n->n_nodes + 1, sizeof *n->adj_off);
    if (!pairs || !n->adj_off) {
        qy_free(pairs);
        return QY_ERR_NOMEM;
    }
    for (size_t e = 0; e < n_edges; e++) {
        if (users[e] == 0 || users[e] >= n->n_users || items[e] == 0 || items[e] >= n->n_items) {
            qy_free(pairs);
            return qy_error(QY_ERR_ARG, "lightgcn: edge %zu (user %u, item %u) out of range", e, users[e],
                            items[e]);
        }
        pairs[e] = (uint64_t)users[e] << 32 | items[e];
    }
    qsort(pairs, n_edges, sizeof *pairs, cmp_u64);
    size_t m = 0;
    for (size_t e = 0; e < n_edges; e++)
        if (m == 0 || pairs[m - 1] != pairs[e]) pairs[m++] = pairs[e];
    size_t *deg = n->adj_off + 1;
    for (size_t e = 0; e < m; e++) {
        deg[pairs[e] >> 32]++;
        deg[n->n_users + (uint32_t)pairs[e]]++;
    }
    double *dinv = qy_mallocn(n->n_nodes, sizeof *dinv);
    size_t *fill = qy_mallocn(n->n_nodes, sizeof *fill);
    n->adj_col = qy_mallocn(2 * m + 1, sizeof *n->adj_col);
    n->adj_val = qy_mallocn(2 * m + 1, sizeof *n->adj_val);
    int st = QY_OK;
    if (!dinv || !fill || !n->adj_col || !n->adj_val) {
        st = QY_ERR_NOMEM;
        goto done;
    }
    for (size_t v = 0; v < n->n_nodes; v++) dinv[v] = 1.0 / sqrt((double)deg[v] + 1e-7);
    for (size_t v = 0; v < n->n_nodes; v++) n->adj_off[v + 1] += n->adj_off[v];
    memcpy(fill, n->adj_off, n->n_nodes * sizeof *fill);
    for (size_t e = 0; e < m; e++) { /* pairs are sorted: each row's columns ascend */
        size_t u = pairs[e] >> 32, i = n->n_users + (uint32_t)pairs[e];
        float w = (float)(dinv[u] * dinv[i]);
        n->adj_col[fill[u]] = (uint32_t)i;
        n->adj_val[fill[u]++] = w;
        n->adj_col[fill[i]] = (uint32_t)u;
        n->adj_val[fill[i]++] = w;
    }
done:
    qy_free(pairs);
    qy_free(dinv);
    qy_free(fill);
    return st;
}

static void init_uniform_rows(float *w, size_t rows, int dim, qy_rng *rng) {
    double bound = sqrt(6.0 / ((double)rows + dim)); /* xavier-uniform of a (rows, dim) table */
    for (size_t x = 0; x < rows * (size_t)dim; x++) w[x] = (float)((2 * qy_rng_double(rng) - 1) * bound);
}

int qy_lightgcn_new(uint32_t n_users, uint32_t n_items, int dim, int n_layers, const uint32_t *users,
                    const uint32_t *items, size_t n_edges, uint64_t seed, float lr, qy_lightgcn **out) {
    qy_lightgcn *n;
    int st = alloc_model(n_users, n_items, dim, n_layers, &n);
    if (!st) st = build_graph(n, users, items, n_edges);
    if (!st) st = qy_adamw_new(n->ps, &(qy_adamw_cfg){.lr = lr}, &n->opt);
    if (!st) n->lr = lr;
    if (st) {
        qy_lightgcn_free(n);
        *out = NULL;
        return st;
    }
    qy_rng rng;
    qy_rng_seed(&rng, seed);
    init_uniform_rows(n->emb->data, n_users, dim, &rng);
    init_uniform_rows(n->emb->data + (size_t)n_users * dim, n_items, dim, &rng);
    *out = n;
    return QY_OK;
}

/* ------------------------------------------------------- sparse product */

typedef struct spmm_job {
    const qy_lightgcn *n;
    const float *in;
    const float *add; /* optional: out = add + A in */
    float *out;
} spmm_job;

static void spmm_rows(void *vj, size_t b, size_t e, int tid) {
    (void)tid;
    const spmm_job *j = vj;
    const int D = j->n->dim;
    for (size_t r = b; r < e; r++) {
        float *o = j->out + r * D;
        if (j->add)
            memcpy(o, j->add + r * D, (size_t)D * sizeof *o);
        else
            memset(o, 0, (size_t)D * sizeof *o);
        for (size_t k = j->n->adj_off[r]; k < j->n->adj_off[r + 1]; k++) {
            const float *x = j->in + (size_t)j->n->adj_col[k] * D;
            float w = j->n->adj_val[k];
            for (int c = 0; c < D; c++) o[c] += w * x[c];
        }
    }
}

static void spmm(const qy_lightgcn *n, const float *in, const float *add, float *out, qy_pool *pool) {
    spmm_job j = {n, in, add, out};
    qy_pool_for(pool, n->n_nodes, 64, spmm_rows, &j);
}

/* final = mean over layers 0..L of A^l E0 */
static void propagate(qy_lightgcn *n, qy_pool *pool) {
    size_t cells = n->n_nodes * (size_t)n->dim;
    float *cur = n->work, *next = n->work + cells;
    const float *e0 = n->emb->data;
    memcpy(n->final, e0, cells * sizeof(float));
    const float *src = e0;
    for (int l = 0; l < n->n_layers; l++) {
        spmm(n, src, NULL, next, pool);
        for (size_t x = 0; x < cells; x++) n->final[x] += next[x];
        float *t = cur;
        cur = next;
        next = t;
        src = cur;
    }
    float inv = 1.0f / (float)(n->n_layers + 1);
    for (size_t x = 0; x < cells; x++) n->final[x] *= inv;
}

int qy_lightgcn_refresh(qy_lightgcn *n, qy_pool *pool) {
    if (!n->adj_off)
        return qy_error(QY_ERR_ARG,
                        "lightgcn: a model loaded from a checkpoint has no graph to propagate on");
    propagate(n, pool);
    return QY_OK;
}

int qy_lightgcn_grad(qy_lightgcn *n, const uint32_t *u, const uint32_t *pos, const uint32_t *neg, size_t B,
                     float reg, qy_pool *pool, double *loss) {
    if (!n->adj_off || !n->opt)
        return qy_error(QY_ERR_ARG, "lightgcn: a model loaded from a checkpoint cannot train");
    if (B == 0) return qy_error(QY_ERR_ARG, "lightgcn: empty batch");
    const int D = n->dim;
    const size_t cells = n->n_nodes * (size_t)D;
    propagate(n, pool);
    float *G = n->work + 2 * cells;
    memset(G, 0, cells * sizeof *G);
    const float *F = n->final, *E = n->emb->data;
    const size_t io = n->n_users;
    double mf = 0, nu = 0, np = 0, nn = 0;
    for (size_t b = 0; b < B; b++) {
        const float *fu = F + (size_t)u[b] * D, *fp = F + (io + pos[b]) * D, *fn = F + (io + neg[b]) * D;
        double diff = 0;
        for (int c = 0; c < D; c++) diff += (double)fu[c] * fp[c] - (double)fu[c] * fn[c];
        double sig = 1.0 / (1.0 + exp(-diff));
        mf += -log(1e-10 + sig);
        float gd = (float)(-sig * (1 - sig) / (1e-10 + sig) / (double)B);
        float *gu = G + (size_t)u[b] * D, *gp = G + (io + pos[b]) * D, *gn = G + (io + neg[b]) * D;
        for (int c = 0; c < D; c++) {
            float fuc = fu[c];
            gu[c] += gd * (fp[c] - fn[c]);
            gp[c] += gd * fuc;
            gn[c] -= gd * fuc;
        }
        for (int c = 0; c < D; c++) {
            nu += (double)E[(size_t)u[b] * D + c] * E[(size_t)u[b] * D + c];
            np += (double)E[(io + pos[b]) * D + c] * E[(io + pos[b]) * D + c];
            nn += (double)E[(io + neg[b]) * D + c] * E[(io + neg[b]) * D + c];
        }
    }
    nu = sqrt(nu);
    np = sqrt(np);
    nn = sqrt(nn);
    *loss = mf / (double)B + reg * (nu + np + nn) / (double)B;
    /* dL/dE0 = 1/(L+1) (G + A G + ... + A^L G), by Horner: acc = G + A acc */
    float *acc = n->work, *tmp = n->work + cells;
    memcpy(acc, G, cells * sizeof *acc);
    for (int l = 0; l < n->n_layers; l++) {
        spmm(n, acc, G, tmp, pool);
        float *t = acc;
        acc = tmp;
        tmp = t;
    }
    float inv = 1.0f / (float)(n->n_layers + 1), *gE = n->emb->grad;
    for (size_t x = 0; x < cells; x++) gE[x] = acc[x] * inv;
    /* EmbLoss: d ||X||_F / dX = X / ||X||_F, for every row occurrence of the batch */
    struct {
        const uint32_t *ids;
        size_t off;
        double norm;
    } parts[3] = {{u, 0, nu}, {pos, io, np}, {neg, io, nn}};
    for (int p = 0; p < 3; p++) {
        if (parts[p].norm <= 0) continue;
        float s = (float)(reg / (double)B / parts[p].norm);
        for (size_t b = 0; b < B; b++) {
            size_t r = (parts[p].off + parts[p].ids[b]) * D;
            for (int c = 0; c < D; c++) gE[r + c] += s * E[r + c];
        }
    }
    return QY_OK;
}

int qy_lightgcn_step(qy_lightgcn *n, const uint32_t *u, const uint32_t *pos, const uint32_t *neg, size_t B,
                     float reg, qy_pool *pool, double *loss) {
    int st = qy_lightgcn_grad(n, u, pos, neg, B, reg, pool, loss);
    return st ? st : qy_optim_step(n->opt, n->lr);
}

/* ---------------------------------------------------------- checkpoints */

int qy_lightgcn_save(const qy_lightgcn *n, void **blob, size_t *len) {
    size_t cells = n->n_nodes * (size_t)n->dim;
    *len = 2 * sizeof(int32_t) + 2 * cells * sizeof(float);
    uint8_t *b = qy_malloc(*len);
    if (!b) return QY_ERR_NOMEM;
    int32_t hdr[2] = {n->dim, n->n_layers};
    memcpy(b, hdr, sizeof hdr);
    memcpy(b + sizeof hdr, n->emb->data, cells * sizeof(float));
    memcpy(b + sizeof hdr + cells * sizeof(float), n->final, cells * sizeof(float));
    *blob = b;
    return QY_OK;
}

int qy_lightgcn_load(uint32_t n_users, uint32_t n_items, const uint8_t *blob, size_t len, qy_lightgcn **out) {
    *out = NULL;
    int32_t hdr[2];
    if (len < sizeof hdr) return qy_error(QY_ERR_FORMAT, "lightgcn checkpoint: payload too short");
    memcpy(hdr, blob, sizeof hdr);
    qy_lightgcn *n;
    int st = alloc_model(n_users, n_items, hdr[0], hdr[1], &n);
    if (st) {
        qy_lightgcn_free(n);
        return st == QY_ERR_NOMEM ? st : qy_error_wrap(QY_ERR_FORMAT, "lightgcn checkpoint");
    }
    size_t cells = n->n_nodes * (size_t)n->dim;
    if (len != sizeof hdr + 2 * cells * sizeof(float)) {
        qy_lightgcn_free(n);
        return qy_error(QY_ERR_FORMAT, "lightgcn checkpoint: payload of %zu bytes does not fit dim %d", len,
                        hdr[0]);
    }
    memcpy(n->emb->data, blob + sizeof hdr, cells * sizeof(float));
    memcpy(n->final, blob + sizeof hdr + cells * sizeof(float), cells * sizeof(float));
    *out = n;
    return QY_OK;
}
