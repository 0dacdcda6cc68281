/* rec_metrics.h — top-k ranking metrics for recommendation (HR, Recall, NDCG,
 * MRR, Precision at k; item coverage) under the full and the sampled protocol,
 * with RecBole's definitions (recbole/evaluator/metrics.py). Public API in
 * quarry/rec.h: qy_rec_evaluate, qy_rec_metrics_from_ranks, qy_rec_rank_of,
 * qy_rec_topk. */
#ifndef QUARRY_EVAL_REC_METRICS_H
#define QUARRY_EVAL_REC_METRICS_H

#include "quarry/rec.h"

/* Insert (id, score) into a best-first list of at most k entries (count *n),
 * order: higher score first, then smaller id. */
void qy_rec_topk_insert(uint32_t *items, float *scores, int *n, int k, uint32_t id, float score);

#endif
