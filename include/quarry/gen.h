/*
 * quarry/gen.h — decoding: logits processors, greedy and sampled generation, beam
 * search with Hugging Face's scoring, constrained decoding (allowed-token callback
 * and a docid prefix trie that accepts insertions), sequence log-probabilities.
 *
 * Decoding talks to a model only through qy_gen_model, a KV-cache-friendly
 * interface: `begin` runs the prompt once and `step` appends one token to each
 * of n rows, where row i continues old row parent[i] (beam search reorders rows;
 * the model permutes its cache the same way). The model layer implements it for
 * every family; tests implement it with small hand-made models.
 *
 * Usage (greedy, 20 new tokens):
 *   qy_gen_config cfg;  qy_gen_config_default(&cfg);
 *   cfg.max_new_tokens = 20;
 *   qy_gen_result *res;
 *   if (qy_generate(&model, prompt, prompt_len, &cfg, &res) != QY_OK) ... qy_errmsg() ...
 *   // res->seqs[0].tokens, res->seqs[0].len (new tokens only), res->seqs[0].score
 *   qy_gen_result_free(res);
 */
#ifndef QUARRY_GEN_H
#define QUARRY_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ model interface */

typedef struct qy_gen_model {
    void *ctx;
    int vocab; /* V: logits per row */
    /* Run the prompt and prepare nrows identical rows; write the logits for the
     * next token (V floats, shared by all rows). */
    int (*begin)(void *ctx, const int32_t *prompt, int prompt_len, int nrows, float *logits);
    /* Reorder rows (new row i = old row parent[i]; nrows may differ from before),
     * append tokens[i] to row i, write nrows x V logits. */
    int (*step)(void *ctx, int nrows, const int *parent, const int32_t *tokens, float *logits);
} qy_gen_model;

/* Allowed-next-token callback for constrained decoding: given the tokens generated
 * so far for one row (prompt excluded), write allowed token ids into `out` (capacity
 * cap) and return how many, or a negative status. */
typedef int (*qy_allowed_fn)(void *ctx, const int32_t *gen, int gen_len, int32_t *out, int cap);

/* ------------------------------------------------------------------- config */

typedef struct qy_gen_config {
    int max_new_tokens;       /* > 0 */
    int do_sample;            /* 0: greedy / beam; 1: sample */
    float temperature;        /* 1.0 = off; > 0 */
    int top_k;                /* 0 = off */
    float top_p;              /* 1.0 = off; in (0,1] */
    float min_p;              /* 0 = off; in [0,1] */
    float repetition_penalty; /* 1.0 = off (HF/CTRL rule, prompt included) */
    int no_repeat_ngram_size; /* 0 = off */
    int num_beams;            /* 1 = no beam search */
    int num_return_sequences; /* <= num_beams for beam search; samples otherwise */
    float length_penalty;     /* beam score = sum logprob / gen_len^length_penalty */
    int early_stopping;       /* beam search: 1 = stop when num_beams hypotheses finished */
    const int32_t *eos_ids;   /* tokens that end a sequence (may be NULL) */
    int n_eos;
    int32_t pad_id;        /* fills finished rows in outputs (default: first eos or 0) */
    qy_allowed_fn allowed; /* constrained decoding (may be NULL) */
    void *allowed_ctx;
    uint64_t seed; /* sampling */
    /* Stop criterion (may be NULL): called with the tokens generated so far after
     * each token of a greedy or sampled row, and on each beam-search candidate; a
     * non-zero return finishes the row, or finishes the candidate exactly as an EOS
     * would (it enters the finished hypotheses with the length-penalised score
     * when among the best num_beams candidates, and never continues). Stop
     * strings: the CLI decodes the tail and looks for them. */
    int (*stop)(void *ctx, const int32_t *gen, int gen_len);
    void *stop_ctx;
} qy_gen_config;

void qy_gen_config_default(qy_gen_config *cfg);

typedef struct qy_gen_seq {
    int32_t *tokens; /* generated tokens only (prompt excluded), eos included if produced */
    int len;
    double score; /* beam: HF sequences_scores; greedy/sample: sum of log-probs */
} qy_gen_seq;

typedef struct qy_gen_result {
    int n;
    qy_gen_seq *seqs;
    int steps; /* decoding steps taken */
    double seconds;
} qy_gen_result;

void qy_gen_result_free(qy_gen_result *r);

/* Generate from one prompt: greedy (num_beams 1, do_sample 0), sampling
 * (do_sample 1; num_return_sequences rows share the prompt's cache), or beam
 * search (num_beams > 1) exactly as transformers' generate() scores it.
 * Errors: QY_ERR_ARG for invalid settings (named), model errors passed through. */
int qy_generate(const qy_gen_model *m, const int32_t *prompt, int prompt_len, const qy_gen_config *cfg,
                qy_gen_result **out);

/* ----------------------------------------------------- logits processors */
/* All operate in place on one row of V scores; `seq`/`len` is the whole sequence
 * so far (prompt included), as transformers passes input_ids. Those returning int
 * fail only with QY_ERR_NOMEM. */

int qy_logits_repetition_penalty(float *scores, int V, const int32_t *seq, int len, float penalty);
void qy_logits_no_repeat_ngram(float *scores, int V, const int32_t *seq, int len, int n);
void qy_logits_temperature(float *scores, int V, float t);
/* keep the top_k highest (ties with the k-th kept), others -inf; scratch: V floats */
void qy_logits_top_k(float *scores, int V, int top_k, float *scratch);
/* nucleus sampling as transformers' TopPLogitsWarper: sort ascending, drop tokens
 * whose cumulative probability is <= 1 - top_p, always keep the most likely one */
int qy_logits_top_p(float *scores, int V, float top_p);
/* keep tokens with prob >= min_p * max prob (MinPLogitsWarper) */
void qy_logits_min_p(float *scores, int V, float min_p);
/* log-softmax in place (double accumulation, float result) */
void qy_logits_log_softmax(float *x, int V);

/* ------------------------------------------------------------ docid trie */

/* A prefix trie of token sequences (generative retrieval's docids). Insertions
 * are allowed at any time, also between decoding calls (dynamic corpora). */
typedef struct qy_trie qy_trie;

int qy_trie_new(qy_trie **out);
void qy_trie_free(qy_trie *t);
/* Insert a sequence (copied). Inserting it twice is a no-op. */
int qy_trie_insert(qy_trie *t, const int32_t *seq, int len);
/* 1 if seq is a full inserted sequence */
int qy_trie_contains(const qy_trie *t, const int32_t *seq, int len);
size_t qy_trie_size(const qy_trie *t);  /* sequences inserted */
size_t qy_trie_nodes(const qy_trie *t); /* nodes, root included */
/* Children of the node reached by prefix, ascending; returns their number (may
 * exceed cap: only cap are written), 0 if prefix is a leaf or not in the trie. */
int qy_trie_next(const qy_trie *t, const int32_t *prefix, int len, int32_t *out, int cap);

/* A qy_allowed_fn over a trie: the children of the generated prefix, or only
 * `end_token` when the prefix has no children (the GENRE convention). */
typedef struct qy_trie_constraint {
    const qy_trie *trie;
    int32_t end_token;
} qy_trie_constraint;
int qy_trie_allowed(void *ctx, const int32_t *gen, int gen_len, int32_t *out, int cap);

#ifdef __cplusplus
}
#endif
#endif
