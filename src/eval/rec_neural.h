/* rec_neural.h — the neural recommenders (SASRec, GRU4Rec, LightGCN) as
 * qy_rec_model_ops callbacks; their networks live in model/ (sasrec.h,
 * lightgcn.h). Registered in rec_models.c's model table. */
#ifndef QUARRY_EVAL_REC_NEURAL_H
#define QUARRY_EVAL_REC_NEURAL_H

#include "eval/rec_models.h"

int qy_rec_sasrec_fit(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool);
int qy_rec_gru4rec_fit(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool);
int qy_rec_seq_epoch(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool, double *loss);
int qy_rec_seq_score(const qy_rec_model *m, const qy_rec_query *q, size_t n, float *scores, qy_pool *pool);
int qy_rec_seq_save(const qy_rec_model *m, void **blob, size_t *len);
int qy_rec_seq_load(qy_rec_model *m, const uint8_t *blob, size_t len);
void qy_rec_seq_free(qy_rec_model *m);
int qy_rec_seq_item_emb(const qy_rec_model *m, const float **emb, int *dim);
int qy_rec_seq_spans(qy_rec_model *m, qy_rec_span *sp, size_t cap, size_t *n);
int qy_rec_seq_restored(qy_rec_model *m, qy_pool *pool);

int qy_rec_lightgcn_fit(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool);
int qy_rec_lightgcn_epoch(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool, double *loss);
int qy_rec_lightgcn_score(const qy_rec_model *m, const qy_rec_query *q, size_t n, float *scores,
                          qy_pool *pool);
int qy_rec_lightgcn_save(const qy_rec_model *m, void **blob, size_t *len);
int qy_rec_lightgcn_load(qy_rec_model *m, const uint8_t *blob, size_t len);
void qy_rec_lightgcn_free(qy_rec_model *m);
int qy_rec_lightgcn_item_emb(const qy_rec_model *m, const float **emb, int *dim);
int qy_rec_lightgcn_spans(qy_rec_model *m, qy_rec_span *sp, size_t cap, size_t *n);
int qy_rec_lightgcn_restored(qy_rec_model *m, qy_pool *pool);

#endif
