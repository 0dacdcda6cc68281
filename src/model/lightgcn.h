/* lightgcn.h — LightGCN (He et al., SIGIR 2020) as RecBole defines it: user and
 * item embeddings propagated over the symmetrically normalised user-item graph
 * D^-1/2 A D^-1/2 (a sparse product written here, CSR, threaded by rows), the
 * final embedding the mean of layers 0..L, trained with the BPR loss plus
 * reg * (||U||_F + ||P||_F + ||N||_F) / B on the batch's layer-0 embeddings
 * (RecBole's EmbLoss without powers), Adam. Gradients are written by hand: the
 * propagation is linear and A symmetric, so dL/dE0 = 1/(L+1) sum_l A^l dL/dE. */
#ifndef QUARRY_MODEL_LIGHTGCN_H
#define QUARRY_MODEL_LIGHTGCN_H

#include "quarry/tensor.h"

typedef struct qy_lightgcn {
    uint32_t n_users, n_items; /* padding ids included; node u is user u, node n_users + i is item i */
    int dim, n_layers;
    size_t n_nodes;
    size_t *adj_off; /* n_nodes + 1, NULL when loaded from a checkpoint (inference only) */
    uint32_t *adj_col;
    float *adj_val;
    qy_params *ps;
    qy_tensor *emb; /* (n_nodes, dim): layer-0 (ego) embeddings, users then items */
    float *final;   /* n_nodes x dim: propagated embeddings (valid after qy_lightgcn_refresh) */
    float *work;    /* 3 x n_nodes x dim scratch */
    qy_optim *opt;
    float lr;
} qy_lightgcn;

/* A model over n_users + n_items nodes with the distinct (user, item) training
 * pairs users[i], items[i] as edges; embeddings xavier-uniform from seed
 * (RecBole's xavier_uniform_initialization). lr: Adam's learning rate.
 * Errors: QY_ERR_ARG (sizes, ids out of range), QY_ERR_NOMEM. */
int qy_lightgcn_new(uint32_t n_users, uint32_t n_items, int dim, int n_layers, const uint32_t *users,
                    const uint32_t *items, size_t n_edges, uint64_t seed, float lr, qy_lightgcn **out);
void qy_lightgcn_free(qy_lightgcn *n);

/* One optimizer step on a batch of (user, positive, negative) triples: full
 * propagation, BPR loss + reg * EmbLoss, backward, Adam. *loss = the batch loss.
 * Errors: QY_ERR_ARG (an inference-only model), QY_ERR_NOMEM. */
int qy_lightgcn_step(qy_lightgcn *n, const uint32_t *u, const uint32_t *pos, const uint32_t *neg, size_t B,
                     float reg, qy_pool *pool, double *loss);
/* The same loss with its gradient left in n->emb->grad, no update. */
int qy_lightgcn_grad(qy_lightgcn *n, const uint32_t *u, const uint32_t *pos, const uint32_t *neg, size_t B,
                     float reg, qy_pool *pool, double *loss);
/* Recompute n->final from the current embeddings (after training steps). */
int qy_lightgcn_refresh(qy_lightgcn *n, qy_pool *pool);

/* The checkpoint payload: dim, layers, ego and final embeddings. Loaded models
 * score and export but cannot train (the graph is not stored). */
int qy_lightgcn_save(const qy_lightgcn *n, void **blob, size_t *len);
int qy_lightgcn_load(uint32_t n_users, uint32_t n_items, const uint8_t *blob, size_t len, qy_lightgcn **out);

#endif
