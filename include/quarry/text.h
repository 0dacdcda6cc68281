/*
 * quarry/text.h — the text layer: Hugging Face `tokenizer.json` tokenizers
 * (byte-level BPE, SentencePiece-style BPE with byte fallback, WordPiece) that
 * give the same ids as the `tokenizers` library, and BPE/WordPiece training.
 *
 * Usage:
 *   qy_tokenizer *tok;
 *   if (qy_tokenizer_load("gpt2/tokenizer.json", &tok)) die(qy_errmsg());
 *   qy_tok_params p;
 *   qy_tok_params_default(tok, &p);           // the file's truncation/padding
 *   qy_encoding enc;
 *   if (qy_tokenizer_encode(tok, "Hello world", 11, &p, &enc)) die(qy_errmsg());
 *   // enc.ids[i], enc.offsets[2*i], enc.offsets[2*i+1] (byte offsets into the text)
 *   char *text; size_t len;
 *   qy_tokenizer_decode(tok, enc.ids, enc.n, 1, &text, &len);
 *   qy_encoding_free(&enc); qy_free(text); qy_tokenizer_free(tok);
 *
 * Input text must be valid UTF-8: `tokenizers` only accepts Rust strings, so
 * invalid UTF-8 is rejected with QY_ERR_FORMAT naming the byte offset (never
 * silently replaced). Decoding produces valid UTF-8: byte sequences that are
 * not UTF-8 (a byte-level model cut mid-character) become U+FFFD, as in
 * `tokenizers`' from_utf8_lossy.
 *
 * A tokenizer is immutable after loading and may be used from many threads at
 * once (its merge caches are taken by try-lock, one per concurrent caller).
 */
#ifndef QUARRY_TEXT_H
#define QUARRY_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qy_tokenizer qy_tokenizer;

/* Encoding options. Start from qy_tok_params_default() (the tokenizer.json's own
 * "truncation" and "padding" settings, add_special_tokens on). */
typedef struct qy_tok_params {
    int add_special_tokens; /* run the post-processor ([CLS] ... [SEP], <s> ...) */
    size_t max_length;      /* truncate to this many tokens in all (specials included); 0 = off */
    int truncate_left;      /* drop tokens from the start instead of the end */
    size_t pad_to;          /* pad each encoding to this length; 0 = off */
    int pad_to_longest;     /* batch: pad to the longest encoding of the batch */
    size_t pad_multiple;    /* round the padded length up to a multiple of this (0/1 = off) */
    int pad_left;           /* put the padding first */
    int32_t pad_id;
    int32_t pad_type_id;
} qy_tok_params;

/* The tokens of one text (or pair of texts), all arrays of n entries
 * (offsets: 2n). Owned by the caller: free with qy_encoding_free. */
typedef struct qy_encoding {
    size_t n;
    int32_t *ids;
    int32_t *type_ids;
    uint32_t *offsets;       /* byte range [offsets[2i], offsets[2i+1]) in its input text */
    uint8_t *special_mask;   /* 1 for tokens added by the post-processor and padding */
    uint8_t *attention_mask; /* 0 for padding */
    uint8_t *seq;            /* 0: first text, 1: second text (pairs) */
} qy_encoding;

/* Load a tokenizer.json. Errors: QY_ERR_IO, QY_ERR_FORMAT (malformed, with the
 * JSON path), QY_ERR_UNSUPPORTED (a component quarry does not implement, named
 * in the message: "tokenizer.json: .normalizer.type: Precompiled is not supported"). */
int qy_tokenizer_load(const char *path, qy_tokenizer **out);
/* Same from a JSON text in memory; `source` names it in messages. */
int qy_tokenizer_from_json(const char *json, size_t len, const char *source, qy_tokenizer **out);
void qy_tokenizer_free(qy_tokenizer *tok);

/* Number of ids (1 + the largest id of the model and the added tokens). */
size_t qy_tokenizer_vocab_size(const qy_tokenizer *tok);
/* The token string of an id (the file's spelling, e.g. "Ġworld"), NULL when out of range. */
const char *qy_tokenizer_id_to_token(const qy_tokenizer *tok, int32_t id);
/* The id of a token string (model vocabulary or added token); QY_ERR_NOT_FOUND if none. */
int qy_tokenizer_token_to_id(const qy_tokenizer *tok, const char *token, int32_t *id);
/* 1 when id is an added token marked special (skipped by decode with skip_special). */
int qy_tokenizer_is_special(const qy_tokenizer *tok, int32_t id);
/* A few lines naming the components (for `quarry tok info`); owned by tok. */
const char *qy_tokenizer_describe(const qy_tokenizer *tok);

void qy_tok_params_default(const qy_tokenizer *tok, qy_tok_params *p);

/* Encode one text of len bytes (valid UTF-8). p may be NULL (the file's
 * defaults). *out is filled (free with qy_encoding_free); on error it is left
 * empty. Errors: QY_ERR_FORMAT for invalid UTF-8 (message names the byte
 * offset), QY_ERR_NOMEM, QY_ERR_RANGE for a text over 4 GiB. */
int qy_tokenizer_encode(const qy_tokenizer *tok, const char *text, size_t len, const qy_tok_params *p,
                        qy_encoding *out);
/* Encode a pair (question/passage ...): type ids 0/1 by the post-processor's pair
 * template; truncation removes from the longer text first. */
int qy_tokenizer_encode_pair(const qy_tokenizer *tok, const char *a, size_t alen, const char *b, size_t blen,
                             const qy_tok_params *p, qy_encoding *out);
/* Encode n texts on the pool's threads (pool NULL: this thread). lens may be
 * NULL (NUL-terminated texts). outs[n] must be zeroed by the caller; every entry
 * is filled on success; on error all are freed and the message names the failing
 * text's index. Results do not depend on the thread count. With
 * p->pad_to_longest all are padded to the longest. */
int qy_tokenizer_encode_batch(const qy_tokenizer *tok, const char *const *texts, const size_t *lens, size_t n,
                              const qy_tok_params *p, qy_pool *pool, qy_encoding *outs);
void qy_encoding_free(qy_encoding *e);

/* Ids only, appended to a growing array (*ids, *n, *cap; *ids may be NULL at
 * first): the fast path for corpus tokenisation (no offsets, no post-processor). */
int qy_tokenizer_encode_ids(const qy_tokenizer *tok, const char *text, size_t len, int32_t **ids, size_t *n,
                            size_t *cap);

/* Decode ids into text (new NUL-terminated string, qy_free it) through the
 * tokenizer's decoder. skip_special drops added tokens marked special.
 * Errors: QY_ERR_RANGE for an id outside the vocabulary. */
int qy_tokenizer_decode(const qy_tokenizer *tok, const int32_t *ids, size_t n, int skip_special, char **out,
                        size_t *out_len);

/* ----------------------------------------------------------- training */

typedef enum { QY_TOK_TRAIN_BPE = 0, QY_TOK_TRAIN_WORDPIECE = 1 } qy_tok_train_kind;

typedef struct qy_tok_train_params {
    qy_tok_train_kind kind;
    size_t vocab_size;                 /* target size, special tokens included */
    uint64_t min_frequency;            /* merges of pairs seen fewer times are not learnt (default 2) */
    const char *const *special_tokens; /* added first, ids 0.. (may be NULL) */
    size_t nspecial;
    size_t max_words; /* distinct words kept while counting (bounded memory); 0 = 1,000,000 */
    int lowercase;    /* WordPiece: BertNormalizer lowercase (default 1) */
    int threads;      /* counting threads (0 = default) */
} qy_tok_train_params;

/* Learn a vocabulary from text files (streamed in blocks, memory bounded by
 * max_words) and write a tokenizer.json loadable here and by `tokenizers`:
 * BPE -> byte-level BPE (GPT-2 pre-tokeniser and decoder);
 * WordPiece -> BERT normaliser/pre-tokeniser, "##" continuation, [UNK].
 * Progress and throughput go to stderr. */
int qy_tokenizer_train(const char *const *files, size_t nfiles, const qy_tok_train_params *p,
                       const char *out_path);

#ifdef __cplusplus
}
#endif
#endif /* QUARRY_TEXT_H */
