/* sasrec.h — small sequence networks for sequential recommendation on the
 * tensor engine: SASRec (Kang & McAuley, ICDM 2018) and GRU4Rec (Hidasi et al.,
 * ICLR 2016), both as RecBole defines them. Plain arrays in, tensors out: the
 * recommender adapter (eval/rec_neural.c) builds the batches, the loss and the
 * optimizer around them.
 *
 * Input: B sequences, left-aligned (item ids at positions 0..len-1, then 0 =
 * padding), T positions each; the output is the hidden state at each row's last
 * real position, (B, C) with C = hidden (SASRec) or embedding (GRU4Rec) size.
 * Scores of all items are that state times the item embedding table (V, C),
 * padding row included (RecBole's CE loss over all items). */
#ifndef QUARRY_MODEL_SASREC_H
#define QUARRY_MODEL_SASREC_H

#include "quarry/tensor.h"

typedef enum qy_seqnet_kind { QY_SEQNET_SASREC = 0, QY_SEQNET_GRU4REC = 1 } qy_seqnet_kind;

typedef struct qy_seqnet_cfg {
    int32_t kind;      /* qy_seqnet_kind */
    int32_t n_items;   /* vocabulary V, padding 0 included */
    int32_t hidden;    /* SASRec hidden_size / GRU4Rec embedding_size: 64 */
    int32_t n_layers;  /* SASRec: 2; GRU4Rec: 1 (only 1 supported) */
    int32_t n_heads;   /* SASRec: 2 */
    int32_t inner;     /* SASRec feed-forward size 256; GRU4Rec GRU hidden size 128 */
    int32_t max_len;   /* MAX_ITEM_LIST_LENGTH: 50 */
    float hidden_drop; /* SASRec 0.5; GRU4Rec embedding dropout 0.3 */
    float attn_drop;   /* SASRec 0.5 (on the attention probabilities) */
    float ln_eps;      /* SASRec 1e-12 */
    float init_range;  /* SASRec normal std 0.02 */
} qy_seqnet_cfg;

/* RecBole's defaults for the kind, for a vocabulary of n_items. */
qy_seqnet_cfg qy_seqnet_defaults(qy_seqnet_kind kind, int32_t n_items);

typedef struct qy_seqnet_layer {
    qy_tensor *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo; /* (C,C), (C) */
    qy_tensor *ln1_w, *ln1_b, *ff1_w, *ff1_b, *ff2_w, *ff2_b, *ln2_w, *ln2_b;
} qy_seqnet_layer;

typedef struct qy_seqnet {
    qy_seqnet_cfg cfg;
    qy_params *ps;
    qy_tensor *item_emb; /* (V, C) */
    /* SASRec */
    qy_tensor *pos_emb, *ln_w, *ln_b; /* (max_len, C), (C), (C) */
    qy_seqnet_layer *layers;
    /* GRU4Rec: GRU without biases, then a dense layer back to C */
    qy_tensor *w_ih, *w_hh, *dense_w, *dense_b; /* (3H,C), (3H,H), (C,H), (C) */
} qy_seqnet;

/* Check cfg, declare and allocate the parameters and initialise them as RecBole
 * does, from a stream seeded with seed: SASRec normal(0, init_range) for linear
 * weights and embeddings, biases 0, LayerNorm (1, 0); GRU4Rec xavier-normal item
 * embedding, xavier-uniform GRU weights, PyTorch's default Linear init for the
 * dense layer. Errors: QY_ERR_ARG (a size out of range), QY_ERR_NOMEM. */
int qy_seqnet_new(const qy_seqnet_cfg *cfg, uint64_t seed, qy_seqnet **out);
void qy_seqnet_free(qy_seqnet *n);

/* Hidden state (B, C) at the last real position of each sequence. seq: B x T
 * left-aligned ids (T <= max_len), len[b] in [1, T]. Dropout is active when g
 * records gradients (training), with masks derived from drop_seed. Returns NULL
 * on error (the graph's sticky status says why). */
qy_tensor *qy_seqnet_forward(qy_seqnet *n, qy_graph *g, const int32_t *seq, const int32_t *len, int64_t B,
                             int64_t T, uint64_t drop_seed);

/* All parameters as one blob (qy_free it): a qy_seqnet_cfg then every
 * parameter's data in declaration order. */
int qy_seqnet_save(const qy_seqnet *n, void **blob, size_t *len);
/* A network back from such a blob. Errors: QY_ERR_FORMAT (sizes do not fit), QY_ERR_NOMEM. */
int qy_seqnet_load(const uint8_t *blob, size_t len, qy_seqnet **out);

#endif
