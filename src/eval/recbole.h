/* recbole.h — RecBole atomic files and recommendation datasets (public API in
 * quarry/rec.h): the reader of `.inter/.item/.user` files, k-core filtering,
 * per-user chronological sequences, splits, the Open Bandit Dataset loader and
 * the writer of a split for other tools. */
#ifndef QUARRY_EVAL_RECBOLE_H
#define QUARRY_EVAL_RECBOLE_H

#include "quarry/rec.h"

/* The user's positive (clicked) interactions of the given tags, in time order,
 * as item ids: a view that lives as long as d (built at split time).
 * phase QY_PHASE_VALID: train items; QY_PHASE_TEST: train + valid items.
 * Used by the evaluator and the models to build queries. */
void qy_rec_user_history(const qy_rec_data *d, uint32_t user, qy_rec_phase phase, const uint32_t **items,
                         size_t *n);
/* The user's positives tagged `phase` (valid or test), and training positives (tag train). */
void qy_rec_user_targets(const qy_rec_data *d, uint32_t user, qy_rec_phase phase, const uint32_t **items,
                         size_t *n);
/* All positives of the user in time order (every tag). */
void qy_rec_user_positives(const qy_rec_data *d, uint32_t user, const uint32_t **items, size_t *n,
                           const uint8_t **tags);

#endif
