/* rec_models.h — the recommender interface (public part in quarry/rec.h) and
 * the baselines that need no autograd: Pop, ItemKNN and BPR-MF.
 *
 * Layering: recommenders live in eval/ because they consume qy_rec_data (also
 * eval/). A neural sequence model (SASRec, GRU4Rec, LightGCN) keeps its network
 * in model/ (plain arrays in, tensors out) and plugs in here as one more
 * qy_rec_model_ops: fit_begin builds its parameters and optimizer, epoch runs one
 * pass over the training examples (qy_rec_seq_examples), score fills a batch of
 * query rows (the history is the input sequence), save/load write its tensors
 * into the checkpoint payload. */
#ifndef QUARRY_EVAL_REC_MODELS_H
#define QUARRY_EVAL_REC_MODELS_H

#include "quarry/rec.h"

/* A piece of a model's training state: live memory a state file copies out
 * and back (parameters, optimizer moments and step count, RNG). */
typedef struct qy_rec_span {
    void *data;
    size_t bytes;
} qy_rec_span;

/* Append a span to sp (when *k < cap) and count it in *k. */
void qy_rec_span_put(qy_rec_span *sp, size_t cap, size_t *k, void *data, size_t bytes);

typedef struct qy_rec_model_ops {
    const char *name;
    int has_epochs;
    int (*fit_begin)(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool);
    int (*epoch)(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool, double *loss); /* NULL: closed form */
    /* scores (n x n_items) for n queries */
    int (*score)(const qy_rec_model *m, const qy_rec_query *q, size_t n, float *scores, qy_pool *pool);
    /* the model's state as one blob (qy_free it) / back from one */
    int (*save)(const qy_rec_model *m, void **blob, size_t *len);
    int (*load)(qy_rec_model *m, const uint8_t *blob, size_t len);
    void (*free_state)(qy_rec_model *m);
    /* the item embedding table (n_items x dim), NULL: the model has none */
    int (*item_emb)(const qy_rec_model *m, const float **emb, int *dim);
    /* iterative models: everything the next epochs depend on, as spans of live
       memory (up to cap of them, *n = how many there are), in a fixed order;
       NULL: closed form. Errors: QY_ERR_ARG (a model that cannot train). */
    int (*train_spans)(qy_rec_model *m, qy_rec_span *sp, size_t cap, size_t *n);
    /* after the spans were written back: push copies (step counts) into the
       optimizer, recompute derived buffers; NULL: nothing to do */
    int (*train_restored)(qy_rec_model *m, qy_pool *pool);
} qy_rec_model_ops;

struct qy_rec_model {
    const qy_rec_model_ops *ops;
    qy_rec_params p;
    uint32_t n_users, n_items; /* of the data it was fitted on, padding included */
    int epochs_done;
    void *state;
};

/* Training examples of sequential recommendation (RecBole's augmentation):
 * every training positive but each user's first, with its prefix as input.
 * ex[i] = (user, index of the target in the user's positives). */
typedef struct qy_rec_seq_example {
    uint32_t user;
    uint32_t pos;
} qy_rec_seq_example;
int qy_rec_seq_examples(const qy_rec_data *d, qy_rec_seq_example **out, size_t *n);

/* The bytes of m's checkpoint file (what qy_rec_model_save writes): *buf is
 * qy_malloc'ed. Errors: QY_ERR_ARG (not fitted), QY_ERR_NOMEM. */
int qy_rec_model_image(const qy_rec_model *m, void **buf, size_t *len);

#endif
