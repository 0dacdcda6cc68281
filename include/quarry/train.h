/*
 * quarry/train.h — language-model training: binary token shards, a deterministic
 * data loader, and a trainer (AdamW, warm-up + cosine schedule, gradient
 * accumulation, clipping, held-out evaluation, checkpoints that resume bit for bit).
 *
 * Usage (tokenise once, then train):
 *   qy_prepare_cfg pc = {.val_fraction = 0.1, .eos_id = 256};
 *   qy_shard_prepare(&pc, files, nfiles, encode_fn, tok, "d/train.qyt", "d/val.qyt", &stats);
 *   qy_shard *tr, *va;  qy_shard_open("d/train.qyt", &tr);  qy_shard_open("d/val.qyt", &va);
 *   qy_lm *lm;          qy_lm_new(&cfg, 0.02f, seed, &lm);
 *   qy_train_cfg tc;    qy_train_cfg_default(&tc);  tc.steps = 1000; tc.out_dir = "run";
 *   qy_trainer *t;      qy_trainer_new(lm, tr, va, &tc, pool, &t);
 *   qy_trainer_run(t, NULL, NULL);     // checkpoints in run/checkpoints/, metrics in run/metrics.jsonl
 *
 * Shard file (".qyt", little-endian, version 1), written atomically:
 *   0   "QYTOKENS"           8-byte magic
 *   8   u32 version (1)      12  u32 header bytes (128)
 *   16  u32 flags (bit 0: a loss mask follows the tokens)    20  u32 vocab size
 *   24  u64 tokens           32  u64 documents
 *   40  u64 token offset     48  u64 mask offset (0: none)   56  u64 document-offset offset
 *   64  u64 file size        72  u64 XXH64 (seed 0) of bytes [128, file size)
 *   80  u64 XXH64 of bytes [0, 80)                            88..128 zero
 * then u32 tokens, u8 mask (1 = the token is a loss target), u64 document starts
 * (documents + 1 entries, the last = tokens); each section 64-byte aligned, so a
 * reader can mmap the file and use the arrays in place.
 */
#ifndef QUARRY_TRAIN_H
#define QUARRY_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/base.h"
#include "quarry/lm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ shards */

#define QY_SHARD_VERSION 1
#define QY_SHARD_HEADER_BYTES 128

typedef struct qy_shard_writer qy_shard_writer;

/* Bytes of the writer's one staging buffer (tokens on their way to the file, and
 * spill data on their way back). A writer's whole footprint is this plus about
 * 1 KiB, whatever the number of tokens and documents. */
#define QY_SHARD_WRITER_BUFFER ((size_t)256 << 10)

/* A writer that streams documents to a temporary file next to path (renamed to
 * path by commit; until then nothing exists under path, so a crash leaves no half
 * shard). Tokens go to the file as they are added; mask bytes and document starts
 * wait in two unlinked spill files beside it. has_mask: every document carries a
 * loss mask (prompt/response data). Errors: QY_ERR_IO naming path, QY_ERR_NOMEM. */
int qy_shard_writer_open(const char *path, uint32_t vocab_size, int has_mask, qy_shard_writer **out);
/* Discard the writer: an uncommitted shard is removed (NULL is fine). */
void qy_shard_writer_free(qy_shard_writer *w);
/* Append one document (ids copied). mask: n bytes when the writer has a mask
 * (NULL = all targets), ignored otherwise. Errors: QY_ERR_RANGE for an id >= vocab
 * (nothing written), QY_ERR_IO. */
int qy_shard_writer_add(qy_shard_writer *w, const int32_t *ids, const uint8_t *mask, size_t n);
uint64_t qy_shard_writer_tokens(const qy_shard_writer *w);
/* Finish the file (mask and document sections, checksums, header), fsync it and
 * rename it to path. Frees w whatever the result; on failure nothing is left
 * under path or beside it. */
int qy_shard_writer_commit(qy_shard_writer *w);

typedef struct qy_shard qy_shard;

/* Map and validate a shard: magic, version, header checksum, section bounds,
 * data checksum, document offsets ascending, every token < vocab size. Errors
 * (QY_ERR_FORMAT, QY_ERR_IO) name the file and the field. */
int qy_shard_open(const char *path, qy_shard **out);
void qy_shard_close(qy_shard *s);
uint64_t qy_shard_ntokens(const qy_shard *s);
uint64_t qy_shard_ndocs(const qy_shard *s);
uint32_t qy_shard_vocab(const qy_shard *s);
const uint32_t *qy_shard_tokens(const qy_shard *s);
const uint8_t *qy_shard_mask(const qy_shard *s);  /* NULL when the shard has none */
const uint64_t *qy_shard_docs(const qy_shard *s); /* ndocs + 1 starts */
const char *qy_shard_path(const qy_shard *s);

/* Tokenising text into shards. The encode callback appends the ids of text
 * (len bytes) to a growing array (*ids, *n, *cap), as qy_tokenizer_encode_ids does. */
typedef int (*qy_encode_fn)(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n, size_t *cap);

typedef struct qy_prepare_cfg {
    uint32_t vocab_size;
    int64_t eos_id;      /* appended after every document (and response); < 0: none */
    double val_fraction; /* held-out share: text files give their last share (cut at a
                            line break), JSONL every round(1/f)-th record; 0 = no split */
    int chat;            /* JSONL prompt/response: format with a chat template */
    int chat_kind;       /* qy_chat_format_kind when chat */
    const char *system;  /* system message for chat formatting (may be NULL) */
} qy_prepare_cfg;

typedef struct qy_prepare_stats {
    uint64_t train_tokens, val_tokens, train_docs, val_docs, bytes;
    int masked; /* 1 when the data was prompt/response pairs */
    double seconds;
} qy_prepare_stats;

/* Tokenise files once into train_path (and val_path when val_fraction > 0).
 * A file ending in ".jsonl" holds one object per line: {"text": ...} (pre-training)
 * or {"prompt": ..., "response": ...} (the loss masked to the response and its EOS);
 * any other file is plain UTF-8 text, one document per file. Pairs and plain
 * texts cannot be mixed. Errors name the file and line. */
int qy_shard_prepare(const qy_prepare_cfg *cfg, const char *const *files, size_t nfiles, qy_encode_fn encode,
                     void *encode_ctx, const char *train_path, const char *val_path, qy_prepare_stats *stats);

/* ------------------------------------------------------------------ loader */

/* Samples of T+1 tokens (inputs are the first T, targets the last T). A shard
 * without a mask is one stream cut into windows starting at multiples of T; a
 * shard with a mask gives one sample per document (truncated to T+1, padded
 * with non-targets). The order is a seeded permutation per epoch; the loader's
 * whole state is (epoch, position), so it can be checkpointed and restored. */
typedef struct qy_loader qy_loader;

typedef struct qy_loader_state {
    uint64_t epoch, pos;
} qy_loader_state;

/* shuffle = 0 keeps the file order. Errors: QY_ERR_ARG when the shard has no sample. */
int qy_loader_new(const qy_shard *s, int T, uint64_t seed, int shuffle, qy_loader **out);
void qy_loader_free(qy_loader *l);
uint64_t qy_loader_nsamples(const qy_loader *l);
/* Next B samples: ids (B*T), targets (B*T, -100 = no loss). sample_idx (B, may
 * be NULL) receives the sample numbers (window or document index). */
int qy_loader_next(qy_loader *l, int B, int32_t *ids, int32_t *targets, uint64_t *sample_idx);
/* Sample i alone (evaluation walks samples in order). */
void qy_loader_sample(const qy_loader *l, uint64_t i, int32_t *ids, int32_t *targets);
qy_loader_state qy_loader_get_state(const qy_loader *l);
int qy_loader_set_state(qy_loader *l, qy_loader_state st);

/* ----------------------------------------------------------------- trainer */

typedef struct qy_train_cfg {
    int batch;     /* B: sequences per micro-batch */
    int seq_len;   /* T */
    int accum;     /* micro-batches per optimizer step */
    int64_t steps; /* optimizer steps in total */
    float lr, min_lr_ratio;
    int64_t warmup;
    int schedule; /* QY_SCHED_COSINE (default), QY_SCHED_LINEAR, QY_SCHED_CONSTANT */
    float weight_decay, beta1, beta2, eps;
    float clip;           /* max global grad norm; 0 = off */
    int64_t eval_every;   /* 0 = only at the end (when a val shard is given) */
    int64_t eval_batches; /* batches of the val shard per evaluation; 0 = all */
    int64_t ckpt_every;   /* 0 = only at the end */
    int64_t log_every;    /* progress line and metrics record every N steps (>= 1) */
    int64_t stop_after;   /* end this invocation after this step (checkpointed), 0 = run to steps;
                             the schedule still spans `steps`, so --resume continues it exactly */
    uint64_t seed;
    int shuffle;         /* 1 = seeded permutation per epoch */
    int log_samples;     /* write the step's sample numbers into metrics.jsonl */
    size_t max_memory;   /* refuse to start above this many bytes (0 = no limit) */
    const char *out_dir; /* checkpoints/, metrics.jsonl */
    int quiet;           /* no progress lines on stderr */
    /* called after each checkpoint is written into dir (e.g. to add the tokenizer); may be NULL */
    int (*on_save)(void *ctx, const char *dir);
    void *on_save_ctx;
} qy_train_cfg;

void qy_train_cfg_default(qy_train_cfg *c);

/* Memory for training, computed before it starts: weights, gradients, AdamW m and
 * v, activations (peak of a dry-run forward+backward at batch 1, times B), the
 * loader's buffers. */
typedef struct qy_train_memory {
    size_t weights, grads, adamw, activations, buffers, total;
} qy_train_memory;

typedef struct qy_trainer qy_trainer;

/* A trainer over lm (borrowed, trained in place), train (and val, may be NULL)
 * shards (borrowed). Computes the memory (qy_trainer_memory) and fails with
 * QY_ERR_RANGE, saying what does not fit, when it exceeds cfg->max_memory. */
int qy_trainer_new(qy_lm *lm, const qy_shard *train, const qy_shard *val, const qy_train_cfg *cfg,
                   qy_pool *pool, qy_trainer **out);
void qy_trainer_free(qy_trainer *t);
const qy_train_memory *qy_trainer_memory(const qy_trainer *t);
int64_t qy_trainer_step_index(const qy_trainer *t); /* optimizer steps done */

typedef struct qy_step_stats {
    int64_t step;    /* 1-based index of the step just taken */
    float loss;      /* mean over the step's micro-batches */
    float grad_norm; /* before clipping */
    float lr;
    uint64_t tokens; /* target tokens in the step */
    double seconds;  /* wall time of the step */
} qy_step_stats;

/* One optimizer step (accum micro-batches, clip, AdamW at the schedule's lr). */
int qy_trainer_step(qy_trainer *t, qy_step_stats *out);
/* Mean loss per target token over the val shard's first eval_batches batches. */
int qy_trainer_eval(qy_trainer *t, double *loss);

/* Checkpoint into dir: the model as a Hugging Face folder (config.json,
 * model.safetensors) plus trainer_state.qyc (step, AdamW moments, loader state,
 * RNG; magic, version and XXH64 checksum), all written atomically. */
int qy_trainer_save(qy_trainer *t, const char *dir);
/* Restore parameters and trainer state from a checkpoint dir written by
 * qy_trainer_save with the same model shape, batch, sequence length, accumulation
 * and seed. Errors: QY_ERR_FORMAT (truncated/corrupt state, named), QY_ERR_ARG (a
 * setting differs from the checkpoint's, named). */
int qy_trainer_load(qy_trainer *t, const char *dir);

/* Called after every logged step and evaluation (may be NULL); a non-zero return stops the run. */
typedef struct qy_train_event {
    const qy_step_stats *step;        /* NULL for an evaluation record */
    double eval_loss;                 /* NaN when none */
    double tokens_per_s, flops_per_s; /* achieved, over the steps since the last record */
    int64_t step_index;
} qy_train_event;
typedef int (*qy_train_cb)(void *ctx, const qy_train_event *ev);

/* Run from the current step to cfg->steps: log to out_dir/metrics.jsonl (one JSON
 * object per record; lines after the current step are dropped on resume),
 * evaluate every eval_every steps, checkpoint every ckpt_every steps and at the end
 * into out_dir/checkpoints/step-NNNNNNN, with out_dir/checkpoints/latest naming
 * the newest. Achieved FLOP/s follow the 6 * parameters * tokens rule. */
int qy_trainer_run(qy_trainer *t, qy_train_cb cb, void *cb_ctx);

/* The newest checkpoint under out_dir (reads out_dir/checkpoints/latest) into buf.
 * QY_ERR_NOT_FOUND when there is none. */
int qy_train_latest_checkpoint(const char *out_dir, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* QUARRY_TRAIN_H */
