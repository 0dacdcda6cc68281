/*
 * quarry/rec.h — recommendation: RecBole atomic files, per-user chronological
 * sequences, k-core filtering, splits, ranking evaluation (full and sampled),
 * and the recommender model interface.
 *
 * Usage:
 *   qy_rec_data_opts o = qy_rec_data_opts_default();
 *   o.min_user_inter = o.min_item_inter = 5;              // 5-core
 *   qy_rec_data *d;
 *   if (qy_rec_load_dir("../shared/data/ml-100k", &o, &d)) { ... qy_errmsg() ... }
 *   qy_rec_split_opts so = {.kind = QY_SPLIT_LOO};
 *   qy_rec_data_split(d, &so);                            // tags every interaction
 *   qy_rec_model *m;
 *   qy_rec_model_new("pop", NULL, &m);
 *   qy_rec_model_fit(m, d, pool, NULL, NULL);
 *   qy_rec_eval_opts eo = qy_rec_eval_opts_default();     // full ranking, k = 5, 10, 20
 *   qy_rec_eval_result r;
 *   qy_rec_evaluate(d, QY_PHASE_TEST, &eo, m, pool, &r);  // r.mean[QY_METRIC_NDCG][1] = NDCG@10
 *   qy_rec_eval_result_free(&r); qy_rec_model_free(m); qy_rec_data_free(d);
 *
 * Ids follow RecBole: tokens are remapped to dense ids 1..n-1 in order of first
 * appearance (interaction file first, then the .user/.item file); id 0 is the
 * padding token "[PAD]", never a real user or item, never recommended.
 */
#ifndef QUARRY_REC_H
#define QUARRY_REC_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------- atomic files */

typedef enum qy_field_type {
    QY_FIELD_TOKEN = 0,     /* a string id */
    QY_FIELD_TOKEN_SEQ = 1, /* space-separated string ids */
    QY_FIELD_FLOAT = 2,     /* a number */
    QY_FIELD_FLOAT_SEQ = 3  /* space-separated numbers */
} qy_field_type;

/* One column of an atomic file. Token columns intern their strings: `tok`
 * holds indexes into `dict`. Sequence columns keep a row's values at
 * [off[row], off[row+1]) of `tok` (token_seq) or `num` (float_seq). */
typedef struct qy_rec_column {
    char *name;
    qy_field_type type;
    uint32_t *tok; /* token: n_rows; token_seq: off[n_rows] values */
    double *num;   /* float: n_rows; float_seq: off[n_rows] values */
    size_t *off;   /* sequence types only: n_rows + 1 */
    char **dict;   /* distinct strings of a token column, in order of appearance */
    size_t n_dict;
} qy_rec_column;

/* A parsed atomic file (.inter, .item, .user): tab-separated, a header line of
 * `name:type` fields, one row per line. Plain data; free with qy_rec_table_free. */
typedef struct qy_rec_table {
    char *source; /* the path or name given, used in messages */
    size_t n_rows;
    size_t n_cols;
    qy_rec_column *cols;
    void *impl; /* string storage */
} qy_rec_table;

/* Parse an atomic file from memory. `source` names it in errors, which read
 * "SOURCE: line L, column C (NAME): expected a number, found 'x'".
 * Errors: QY_ERR_FORMAT (malformed header or row), QY_ERR_NOMEM. */
int qy_rec_table_parse(const char *text, size_t len, const char *source, qy_rec_table **out);
/* Read and parse a file. Errors: QY_ERR_IO plus those of qy_rec_table_parse. */
int qy_rec_table_read(const char *path, qy_rec_table **out);
void qy_rec_table_free(qy_rec_table *t);
/* Index of the column named `name` (with or without ":type"), or -1. */
int qy_rec_table_find(const qy_rec_table *t, const char *name);
/* The token string of a token column's row. */
const char *qy_rec_table_token(const qy_rec_table *t, size_t col, size_t row);

/* ------------------------------------------------------------ dataset */

typedef struct qy_rec_data_opts {
    const char *user_field;  /* default "user_id" */
    const char *item_field;  /* default "item_id" */
    const char *time_field;  /* default "timestamp"; when absent, file order is time */
    const char *click_field; /* NULL: every row is a positive interaction. Set: an
                                exposure log, the column (0/1 float or token) says
                                whether the shown item was clicked */
    /* k-core filtering as RecBole's user_inter_num_interval/item_inter_num_interval:
       users (items) with fewer than min or more than max interactions are dropped,
       both sides at once, repeated until nothing changes. 0 = no bound. Counted on
       clicked rows only for exposure logs (non-clicked rows of dropped users or
       items go too). */
    long min_user_inter, max_user_inter;
    long min_item_inter, max_item_inter;
} qy_rec_data_opts;

qy_rec_data_opts qy_rec_data_opts_default(void);

typedef enum qy_split_tag {
    QY_SPLIT_TRAIN = 0,
    QY_SPLIT_VALID = 1,
    QY_SPLIT_TEST = 2,
    QY_SPLIT_NONE = 3 /* unused: exposures after a user's last positive */
} qy_split_tag;

/* Interactions grouped by user, each user's in chronological order (stable sort
 * by time: ties keep file order, as RecBole's numpy stable argsort). User u's
 * interactions are [user_off[u], user_off[u+1]); user 0 (padding) has none. */
typedef struct qy_rec_data {
    uint32_t n_users;  /* including the padding id 0 */
    uint32_t n_items;  /* including the padding id 0 */
    char **user_token; /* [n_users], [0] = "[PAD]" */
    char **item_token; /* [n_items], [0] = "[PAD]" */
    size_t n_inter;
    size_t *user_off; /* [n_users + 1] */
    uint32_t *item;   /* [n_inter] */
    double *time;     /* [n_inter] */
    size_t *row;      /* [n_inter] row in the source file (after filtering: of the original) */
    uint8_t *click;   /* [n_inter], NULL unless an exposure log: 1 clicked, 0 only shown */
    uint8_t *split;   /* [n_inter] qy_split_tag, NULL until qy_rec_data_split */
    char split_desc[64];
    size_t n_dropped; /* rows removed by k-core filtering */
    void *impl;
} qy_rec_data;

/* Build a dataset from an interaction table and optional item/user tables
 * (which add items/users that have no interaction, after the others, as
 * RecBole does when no lower k-core bound removes them). The tables stay owned
 * by the caller. Errors: QY_ERR_NOT_FOUND (missing field), QY_ERR_FORMAT (a
 * field of the wrong type), QY_ERR_ARG (everything filtered away), QY_ERR_NOMEM. */
int qy_rec_data_build(const qy_rec_table *inter, const qy_rec_table *item, const qy_rec_table *user,
                      const qy_rec_data_opts *opts, qy_rec_data **out);

/* Load a RecBole dataset folder DIR holding NAME.inter (NAME = the folder's
 * base name, or the only *.inter file there) and optionally NAME.item, NAME.user. */
int qy_rec_load_dir(const char *dir, const qy_rec_data_opts *opts, qy_rec_data **out);

/* Load an Open Bandit Dataset log (CSV: ,timestamp,item_id,position,click,
 * propensity_score,user_feature_0..3,...) as an exposure log. The data set has no
 * user ids: the user is the tuple (user_feature_0..3), a context key. `path` is a
 * CSV file or a folder containing random/men/men.csv. min_user_inter etc. apply
 * to clicks. Errors as qy_rec_data_build plus QY_ERR_IO. */
int qy_rec_load_obd(const char *path, const qy_rec_data_opts *opts, qy_rec_data **out);

void qy_rec_data_free(qy_rec_data *d);

/* Dense id of a token, 0 when unknown. */
uint32_t qy_rec_user_id(const qy_rec_data *d, const char *token);
uint32_t qy_rec_item_id(const qy_rec_data *d, const char *token);

/* ------------------------------------------------------------- splits */

typedef enum qy_split_kind {
    QY_SPLIT_LOO = 0, /* leave-one-out: last positive test, second-to-last valid */
    QY_SPLIT_RATIO_USER =
        1,                  /* each user's positives cut by ratio in time order (RecBole RS, group_by user) */
    QY_SPLIT_RATIO_TIME = 2 /* all positives sorted by time and cut by ratio (a global time split) */
} qy_split_kind;

typedef struct qy_rec_split_opts {
    qy_split_kind kind;
    double ratio[3]; /* train, valid, test; used by the ratio kinds (default 0.8 0.1 0.1) */
} qy_rec_split_opts;

/* Tag every interaction of d (d->split). Leave-one-out follows RecBole's
 * sequential setting (augment, then leave two out per user): a user with n >= 4
 * positives gets n-2 train, 1 valid, 1 test; n == 3: 2 train, 1 test; n <= 2: all
 * train. Ratio splits use RecBole's count rule (each non-empty part gets at least
 * one row when ratio * n is in (0, 1) and the train part keeps two or more).
 * Non-clicked exposures take the tag of the next positive of their user (or
 * QY_SPLIT_NONE after the last one). Errors: QY_ERR_ARG (bad ratios), QY_ERR_NOMEM. */
int qy_rec_data_split(qy_rec_data *d, const qy_rec_split_opts *opts);

/* Parse "loo", "ratio" (per user) or "time" (global), optionally followed by
 * ":0.8,0.1,0.1". Errors: QY_ERR_ARG. */
int qy_rec_split_parse(const char *text, qy_rec_split_opts *out);

/* Write the split for other tools: DIR/sequences.tsv (dense ids: user, the
 * user's positive items in time order, one tag letter T/V/X per item),
 * DIR/items.tsv and DIR/users.tsv (dense id -> token), and RecBole benchmark
 * files DIR/NAME.train.inter, NAME.valid.inter, NAME.test.inter (original
 * tokens; RecBole reads them with benchmark_filename: [train, valid, test]).
 * Exposure logs add DIR/exposures.tsv: every exposure in time order with a
 * click flag (1/0) and a tag (T/V/X, '-' after the user's last click).
 * Errors: QY_ERR_ARG (no split), QY_ERR_IO. */
int qy_rec_write_split(const qy_rec_data *d, const char *dir, const char *name);

/* ------------------------------------------------------------- models */

/* What a model scores: one user at one moment. history = the user's positive
 * items before the target, in time order (for sequential models, the input
 * sequence); it points into the dataset. */
typedef struct qy_rec_query {
    uint32_t user;
    const uint32_t *history;
    size_t n_history;
} qy_rec_query;

typedef struct qy_rec_model qy_rec_model;

/* Model hyper-parameters (unused fields are ignored by each model). */
typedef struct qy_rec_params {
    int dim;       /* embedding size (bprmf: 64) */
    double lr;     /* learning rate (bprmf: 0.01... see docs) */
    double reg;    /* L2 weight (bprmf: 1e-4) */
    int epochs;    /* max epochs for trained models */
    int knn;       /* itemknn: neighbours kept per item (RecBole default 100) */
    double shrink; /* itemknn: similarity shrinkage (RecBole default 0) */
    uint64_t seed;
} qy_rec_params;

qy_rec_params qy_rec_params_default(void);

/* The names of the models quarry knows ("pop", "itemknn", "bprmf", "sasrec",
 * "gru4rec", "lightgcn"), NULL-terminated. */
const char *const *qy_rec_model_names(void);

/* Create an untrained model by name. params may be NULL (defaults).
 * Errors: QY_ERR_ARG (unknown name: the message lists the known ones), QY_ERR_NOMEM. */
int qy_rec_model_new(const char *name, const qy_rec_params *params, qy_rec_model **out);
void qy_rec_model_free(qy_rec_model *m);
const char *qy_rec_model_name(const qy_rec_model *m);

/* Called after each epoch of an iterative model with the epoch (1-based), the
 * mean training loss and the epoch's seconds; return non-zero to stop. */
typedef int (*qy_rec_epoch_fn)(void *ctx, int epoch, double loss, double seconds);

/* Prepare the model on d's training part (d must be split) and run its
 * epochs (models without epochs fit in closed form and call nothing).
 * Errors: QY_ERR_ARG (no split), QY_ERR_NOMEM. */
int qy_rec_model_fit(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool, qy_rec_epoch_fn on_epoch,
                     void *ctx);
/* One more training epoch (models without epochs: QY_ERR_UNSUPPORTED). */
int qy_rec_model_train_epoch(qy_rec_model *m, const qy_rec_data *d, qy_pool *pool, double *loss);
int qy_rec_model_has_epochs(const qy_rec_model *m);

/* The item embedding table of a fitted model: *emb points at n_items x *dim
 * floats owned by the model (row 0 = padding), valid until the model changes.
 * sasrec, gru4rec: the item embedding (also the output layer); lightgcn: the
 * propagated (final, layer-mean) item embeddings, the ones it scores with.
 * Errors: QY_ERR_UNSUPPORTED (pop, itemknn, bprmf), QY_ERR_ARG (not fitted). */
int qy_rec_model_item_embeddings(const qy_rec_model *m, const float **emb, int *dim);

/* Scores of every item (n_items per query, id 0 included: its value is
 * ignored) for n queries: scores is n x d->n_items. Threaded over queries. */
int qy_rec_model_score(const qy_rec_model *m, const qy_rec_query *q, size_t n, float *scores, qy_pool *pool);

/* Checkpoint: a versioned binary file ("QYRECM01", model name, sizes, state,
 * xxh64 checksum) written atomically. load needs the dataset the model was
 * fitted on (the item and user counts are checked).
 * Errors: QY_ERR_IO, QY_ERR_FORMAT (bad magic, checksum, sizes), QY_ERR_NOMEM. */
int qy_rec_model_save(const qy_rec_model *m, const char *path);
int qy_rec_model_load(const char *path, const qy_rec_data *d, qy_rec_model **out);

/* ---------------------------------------------------------- evaluation */

typedef enum qy_rec_metric {
    QY_METRIC_HIT = 0,    /* HR@k: 1 if any positive is in the top k */
    QY_METRIC_RECALL = 1, /* positives in the top k / positives */
    QY_METRIC_NDCG = 2,   /* DCG@k / IDCG@k, binary gains, log2(rank + 1) */
    QY_METRIC_MRR = 3,    /* 1 / rank of the first positive, 0 past k */
    QY_METRIC_PRECISION = 4,
    QY_METRIC_COUNT = 5
} qy_rec_metric;

const char *qy_rec_metric_name(qy_rec_metric m); /* "hit", "recall", "ndcg", "mrr", "precision" */

enum { QY_REC_MAX_K = 8 };

typedef enum qy_rec_protocol {
    QY_PROTOCOL_FULL = 0,   /* rank all items */
    QY_PROTOCOL_SAMPLED = 1 /* rank each positive against n_neg sampled negatives */
} qy_rec_protocol;

typedef enum qy_rec_phase { QY_PHASE_VALID = 1, QY_PHASE_TEST = 2 } qy_rec_phase;

typedef struct qy_rec_eval_opts {
    qy_rec_protocol protocol;
    int n_neg;        /* sampled: negatives per user (default 100) */
    uint64_t seed;    /* sampled: seed of the negatives */
    int mask_history; /* full: drop the user's earlier items from the ranking (default 1) */
    int ks[QY_REC_MAX_K];
    int n_ks;           /* default 3: 5, 10, 20 */
    size_t batch_users; /* users scored at once (default 256) */
} qy_rec_eval_opts;

qy_rec_eval_opts qy_rec_eval_opts_default(void);

/* Parse "full", "sampled" or "sampled:N" (or "uni100"-style "uniN"). */
int qy_rec_protocol_parse(const char *text, qy_rec_eval_opts *o);

typedef struct qy_rec_eval_result {
    size_t n_users;  /* users evaluated (those with a positive in the phase) */
    uint32_t *users; /* [n_users] */
    float *per_user; /* [n_users][QY_METRIC_COUNT][n_ks] */
    double mean[QY_METRIC_COUNT][QY_REC_MAX_K];
    double coverage[QY_REC_MAX_K]; /* distinct items in all top-k lists / n_items (RecBole: pad counted) */
    int ks[QY_REC_MAX_K];
    int n_ks;
    double seconds;
} qy_rec_eval_result;

/* Metrics of one ranked list: pos_ranks holds the 1-based ranks of a user's
 * positives among the candidates (ascending, any count), pos_len the number of
 * positives (RecBole's pos_len), k the cut-off. Writes QY_METRIC_COUNT values. */
void qy_rec_metrics_from_ranks(const uint32_t *pos_ranks, size_t n_ranked, size_t pos_len, int k,
                               double out[QY_METRIC_COUNT]);

/* Rank of candidate `target` in scores over cand (n_cand ids): 1 + number of
 * candidates that score higher, or equal with a smaller id (deterministic ties). */
uint32_t qy_rec_rank_of(const float *scores, const uint32_t *cand, size_t n_cand, uint32_t target);

/* Evaluate m on the phase's positives of every user of d (which must be split).
 * Queries: history = the user's earlier positives (train, plus valid for test).
 * Full protocol: candidates = all items but the padding, and, when mask_history,
 * but the history (RecBole masks history for general models and not for
 * sequential ones: set mask_history = 0 to mirror the latter). Sampled: the
 * positives + n_neg items drawn uniformly with replacement among items the user
 * never interacted with, seeded per user (bitwise the same at any thread count).
 * Errors: QY_ERR_ARG, QY_ERR_NOMEM, and the model's. Free with qy_rec_eval_result_free. */
int qy_rec_evaluate(const qy_rec_data *d, qy_rec_phase phase, const qy_rec_eval_opts *o,
                    const qy_rec_model *m, qy_pool *pool, qy_rec_eval_result *out);
void qy_rec_eval_result_free(qy_rec_eval_result *r);

/* Top k items of each of n score rows (n x n_items), best first, ties by
 * smaller id; items with exclude[row] set (a sorted id list per row, may be
 * NULL) and id 0 are skipped. out_items/out_scores: n x k (k <= n_items - 1,
 * unused slots get id 0 and -inf). Threaded over rows. */
int qy_rec_topk(const float *scores, size_t n, uint32_t n_items, int k, const uint32_t *const *exclude,
                const size_t *n_exclude, uint32_t *out_items, float *out_scores, qy_pool *pool);

/* --------------------------------- training with early stopping, resumable */

/* Validation during training always uses the cut-offs 5, 10, 20. */
enum { QY_REC_VALID_NKS = 3 };

/* One epoch of qy_rec_train: a record of the per-epoch log. */
typedef struct qy_rec_epoch_record {
    int32_t epoch;    /* 1-based */
    int32_t improved; /* 1: this epoch became the best (its checkpoint was written) */
    double loss;      /* mean training loss */
    double seconds;   /* the epoch's training time (validation not included) */
    double valid;     /* the early-stopping metric */
    double mean[QY_METRIC_COUNT][QY_REC_VALID_NKS]; /* validation metrics at 5, 10, 20 */
} qy_rec_epoch_record;

typedef int (*qy_rec_record_fn)(void *ctx, const qy_rec_epoch_record *r);

typedef struct qy_rec_train_opts {
    int patience;               /* stop after this many epochs without improvement (default 10) */
    qy_rec_metric valid_metric; /* early-stopping metric (default QY_METRIC_MRR)... */
    int valid_k;                /* ...at this cut-off: 5, 10 or 20 (default 10) */
    qy_rec_eval_opts eval;      /* validation protocol; its ks are ignored (5, 10, 20) */
    const char *best_path;      /* required: the best epoch's checkpoint (qy_rec_model_save's format) */
    const char *state_path;     /* the training state, rewritten atomically after every epoch; NULL: none */
    const char *resume_path;    /* continue the run saved in this state file; NULL: start afresh */
    qy_rec_record_fn on_epoch;  /* after each epoch (may be NULL); non-zero stops the run there, as an
                                   interruption would: the state written for that epoch resumes it */
    void *ctx;
} qy_rec_train_opts;

qy_rec_train_opts qy_rec_train_opts_default(void);

/* Parse an early-stopping metric "NAME@K" (NAME hit, recall, ndcg, mrr or
 * precision; K 5, 10 or 20), e.g. "mrr@10". Errors: QY_ERR_ARG. */
int qy_rec_valid_metric_parse(const char *text, qy_rec_metric *metric, int *k);

typedef struct qy_rec_train_result {
    int epochs_done;          /* epochs trained in all, resumed ones included */
    int resumed_from;         /* the epoch a resumed run continued after (0: fresh start) */
    int best_epoch;           /* 0: none yet */
    double best_value;        /* the best epoch's early-stopping metric (-1: none yet) */
    int finished;             /* 1: stopped by patience or the epoch limit; 0: by on_epoch */
    size_t n_log;             /* log: every epoch from the first, restored ones included */
    qy_rec_epoch_record *log; /* (restored records keep their original seconds) */
    uint64_t digest;          /* xxh64 of the model's training state after the last epoch (parameters,
                                 optimizer moments and steps, RNG): equal digests continue equally */
    void *best_image;         /* the bytes of the best epoch's checkpoint (what best_path holds) */
    size_t best_len;
} qy_rec_train_result;

/* Free what a result holds (it may be partly filled after an error). */
void qy_rec_train_result_free(qy_rec_train_result *r);

/* Train an iterative model (bprmf, sasrec, gru4rec, lightgcn) on d's training
 * part with early stopping: fit (initialise), or restore the state file
 * o->resume_path into the freshly initialised model, then run epochs until
 * m's params.epochs are done or o->patience epochs in a row did not improve
 * the validation metric. After each epoch: evaluate on the validation part,
 * write the checkpoint to o->best_path when the metric improved, append the
 * log record, write the state to o->state_path, call o->on_epoch.
 *
 * Resuming is exact: N epochs in one run and the same run stopped after any
 * epoch and resumed give the same bits (weights, optimizer state, RNG, log
 * except seconds), at any thread count. The state must come from the same
 * dataset and split, model, hyper-parameters (dim, lr, reg, seed),
 * validation protocol and metric, else QY_ERR_ARG names what differs; epochs
 * and patience may change (to extend a run). A resume rewrites best_path from
 * the state's copy of the best checkpoint; nothing is written when the state
 * is refused (a resume logs a line with qy_info). On return m holds the last
 * epoch's model (load best_path for the best one). Free *out with qy_rec_train_result_free whatever the
 * status. Errors: QY_ERR_UNSUPPORTED (a closed-form model), QY_ERR_ARG, QY_ERR_FORMAT and QY_ERR_IO (state
 * files), QY_ERR_NOMEM, and those of fitting/evaluation. */
int qy_rec_train(qy_rec_model *m, const qy_rec_data *d, const qy_rec_train_opts *o, qy_pool *pool,
                 qy_rec_train_result *out);

/* The training-state file by itself (qy_rec_train uses these). The state of a
 * model being trained (fitted on d, not loaded from a checkpoint) and the
 * run's progress (epochs_done, best_epoch, best_value, log, best_image of r)
 * go to `path` atomically: "QYRECS01" magic, version, the run's identity
 * (dataset sizes, a hash of its interactions and split, split description,
 * model, hyper-parameters, validation protocol and metric), progress, log,
 * every span of training state (parameters, Adam moments and step count, RNG),
 * the best checkpoint's bytes, xxh64 checksum.
 * Errors: QY_ERR_ARG (a model that cannot train), QY_ERR_IO, QY_ERR_NOMEM. */
int qy_rec_state_save(qy_rec_model *m, const qy_rec_data *d, const qy_rec_train_opts *o,
                      const qy_rec_train_result *r, const char *path);

/* Restore a state file into m, which must be freshly fitted on d with the
 * same parameters (qy_rec_model_fit without epochs), and fill *out with the
 * progress (log and best_image allocated: qy_rec_train_result_free). Nothing
 * of m changes unless the whole file checks out.
 * Errors: QY_ERR_IO (unreadable), QY_ERR_FORMAT (not a state file, another
 * version, truncated, checksum), QY_ERR_ARG (another run: the message names
 * the field and both values), QY_ERR_NOMEM. */
int qy_rec_state_load(qy_rec_model *m, const qy_rec_data *d, const qy_rec_train_opts *o, const char *path,
                      qy_rec_train_result *out);

#ifdef __cplusplus
}
#endif
#endif /* QUARRY_REC_H */
