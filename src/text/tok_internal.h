/* tok_internal.h — the parts of the tokenizer shared by src/text/tok_*.c.
 *
 * The pipeline follows Hugging Face `tokenizers`:
 *   text -> added tokens split out (before normalisation) -> normaliser
 *        -> pre-tokenisers (pieces) -> model (BPE / WordPiece) per piece
 *        -> truncation -> post-processor (special tokens) -> padding.
 * Every piece of text carries, for each of its bytes, the byte range of the
 * original input it came from ("alignment"), so each token gets offsets into
 * the caller's text.
 *
 * Byte-level tokenizers (a ByteLevel pre-tokeniser last in the chain) are run
 * on raw bytes: the vocabulary is converted once at load from GPT-2's
 * byte-to-unicode spelling to the bytes it stands for, so the model never
 * builds the mapped string. Token strings keep the file's spelling. */
#ifndef QUARRY_TEXT_TOK_INTERNAL_H
#define QUARRY_TEXT_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdatomic.h>
#include <stdint.h>

#include "quarry/base.h"
#include "quarry/text.h"

/* ------------------------------------------------------------ unicode */

/* Decode one UTF-8 char at s[0..len) (input already validated); returns its byte length. */
int qy_utf8_decode(const char *s, size_t len, uint32_t *cp);
/* Encode cp into out (4 bytes room); returns byte length. */
int qy_utf8_encode(uint32_t cp, char *out);
/* Length of the UTF-8 sequence led by c (0: invalid lead) and the allowed
 * range [lo, hi] of its second byte. */
int qy_utf8_lead(uint8_t c, uint8_t *lo, uint8_t *hi);
/* Byte index of the first invalid UTF-8 sequence, or len when valid. */
size_t qy_utf8_invalid_at(const char *s, size_t len);
int qy_uni_is_whitespace(uint32_t c); /* Rust char::is_whitespace (White_Space) */
int qy_uni_is_punct(uint32_t c);      /* ASCII punctuation or Unicode P* */
int qy_uni_is_alnum(uint32_t c);      /* Rust char::is_alphanumeric */
int qy_uni_is_digit(uint32_t c);      /* Rust char::is_numeric (N*) */
int qy_uni_is_other(uint32_t c);      /* Unicode C* (Cc Cf Cs Co Cn) */
int qy_uni_is_mn(uint32_t c);         /* Unicode Mn */
int qy_uni_is_cjk(uint32_t c);        /* BERT's "Chinese character" blocks */

/* GPT-2's byte <-> printable code point map. */
uint32_t qy_bytelevel_char(uint8_t b);
int qy_bytelevel_byte(uint32_t cp); /* -1 when cp is no mapped byte */

/* ---------------------------------------------------------- hash maps */

/* Open-addressing map from byte strings to int32 ids. Keys are stored in a pool. */
typedef struct tok_strent {
    uint64_t hash;
    uint32_t off, len;
    int32_t value;
} tok_strent;
typedef struct tok_strmap {
    uint32_t *slots; /* index+1 into entries, 0 = empty */
    size_t cap;      /* power of two */
    size_t n;
    tok_strent *entries;
    size_t ecap;
    char *pool;
    size_t pool_len, pool_cap;
} tok_strmap;
int tok_strmap_init(tok_strmap *m, size_t expect);
void tok_strmap_free(tok_strmap *m);
/* put: replaces the value when the key exists */
int tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t value);
int tok_strmap_get(const tok_strmap *m, const char *key, size_t len, int32_t *value);
uint64_t tok_hash(const void *p, size_t len);

/* ---------------------------------------------------- text with alignment */

/* A piece of (normalised) text. ast/aen give, for byte i, the original byte
 * range [ast[i], aen[i]); when ast is NULL the alignment is the identity from
 * `off` (byte i came from [off+i, off+i+1)). */
typedef struct tok_piece {
    char *s;
    size_t len;
    uint32_t *ast, *aen;
    size_t off;
    int32_t added_id; /* >= 0: an added token, not to be touched further */
} tok_piece;

typedef struct tok_pieces {
    tok_piece *v;
    size_t n, cap;
} tok_pieces;

/* Per-call scratch memory (reset between texts). */
typedef struct tok_work {
    qy_arena arena;
    pcre2_match_data *md; /* for regex matches, sized for 1 pair (ovector 2) */
} tok_work;

int tok_pieces_push(tok_pieces *ps, tok_piece p);
void tok_pieces_free(tok_pieces *ps);
/* Give p explicit alignment arrays (allocated in the arena). */
int tok_piece_materialize(qy_arena *a, tok_piece *p);
/* Sub-piece [b, e) of p (shares storage). */
tok_piece tok_piece_sub(const tok_piece *p, size_t b, size_t e);
static inline uint32_t tok_piece_start(const tok_piece *p, size_t i) {
    return p->ast ? p->ast[i] : (uint32_t)(p->off + i);
}
static inline uint32_t tok_piece_end(const tok_piece *p, size_t i) {
    return p->aen ? p->aen[i] : (uint32_t)(p->off + i + 1);
}

/* --------------------------------------------------------- components */

typedef enum {
    SPLIT_REMOVED,
    SPLIT_ISOLATED,
    SPLIT_MERGED_PREV,
    SPLIT_MERGED_NEXT,
    SPLIT_CONTIGUOUS
} split_behavior;

typedef struct tok_regex {
    pcre2_code *code;
    int jit;
    char *literal; /* string pattern instead of a regex (NULL for a regex) */
    size_t literal_len;
} tok_regex;

typedef enum {
    NORM_NFC,
    NORM_NFD,
    NORM_NFKC,
    NORM_NFKD,
    NORM_LOWERCASE,
    NORM_PREPEND,
    NORM_APPEND,
    NORM_REPLACE,
    NORM_STRIP,
    NORM_STRIP_ACCENTS,
    NORM_BERT,
    NORM_SEQUENCE
} norm_kind;

typedef struct tok_normalizer {
    norm_kind kind;
    char *str;         /* Prepend/Append/Replace content */
    tok_regex pattern; /* Replace */
    int strip_left, strip_right;
    int clean_text, chinese, strip_accents, lowercase; /* BertNormalizer */
    struct tok_normalizer *items;
    size_t nitems;
} tok_normalizer;

typedef enum {
    PRE_BYTELEVEL,
    PRE_SPLIT,
    PRE_METASPACE,
    PRE_WHITESPACE,
    PRE_WHITESPACE_SPLIT,
    PRE_BERT,
    PRE_DIGITS,
    PRE_PUNCTUATION,
    PRE_CHAR_DELIMITER,
    PRE_SEQUENCE
} pre_kind;

typedef enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } prepend_scheme;

typedef struct tok_pretok {
    pre_kind kind;
    tok_regex pattern; /* Split, Whitespace, ByteLevel (use_regex) */
    split_behavior behavior;
    int invert;
    int add_prefix_space, use_regex, gpt2_fast; /* ByteLevel */
    uint32_t replacement;                       /* Metaspace */
    prepend_scheme prepend;
    int split;
    int individual_digits;
    uint32_t delimiter;
    struct tok_pretok *items;
    size_t nitems;
} tok_pretok;

typedef enum {
    DEC_BYTELEVEL,
    DEC_METASPACE,
    DEC_WORDPIECE,
    DEC_BYTEFALLBACK,
    DEC_FUSE,
    DEC_STRIP,
    DEC_REPLACE,
    DEC_BPE,
    DEC_SEQUENCE
} dec_kind;

typedef struct tok_decoder {
    dec_kind kind;
    uint32_t replacement; /* Metaspace */
    prepend_scheme prepend;
    char *prefix; /* WordPiece */
    int cleanup;
    char *content; /* Strip char (as string), Replace content, BPE suffix */
    size_t strip_start, strip_stop;
    tok_regex pattern;
    struct tok_decoder *items;
    size_t nitems;
} tok_decoder;

typedef struct tok_special {
    char *name;
    int32_t *ids;
    size_t nids;
} tok_special;

typedef enum { POST_NONE, POST_TEMPLATE, POST_BERT, POST_ROBERTA, POST_BYTELEVEL, POST_SEQUENCE } post_kind;

typedef struct tok_tpl_item {
    int is_special; /* 1: special token name, 0: sequence A/B */
    int seq;        /* 0 = A, 1 = B */
    char *name;
    int32_t type_id;
} tok_tpl_item;

typedef struct tok_post {
    post_kind kind;
    tok_tpl_item *single, *pair;
    size_t nsingle, npair;
    tok_special *specials;
    size_t nspecials;
    int32_t cls_id, sep_id; /* Bert/Roberta */
    int trim_offsets;
    struct tok_post *items;
    size_t nitems;
} tok_post;

typedef struct tok_added {
    char *content;
    size_t len;
    int32_t id;
    int single_word, lstrip, rstrip, normalized, special;
} tok_added;

typedef enum { MODEL_BPE, MODEL_WORDPIECE } model_kind;

/* the BPE merge table: key (left id << 32 | right id) -> rank, merged id */
typedef struct tok_merges {
    uint64_t *keys;
    uint32_t *rank;
    int32_t *merged;
    size_t cap, n;
} tok_merges;

/* A cache of whole pre-token -> ids, one per concurrent user (taken by try-lock). */
typedef struct tok_cache tok_cache;
#define TOK_CACHE_SLOTS 32

struct qy_tokenizer {
    char *source;
    /* vocabulary: id -> token string (file spelling) and, for byte-level models,
     * id -> raw bytes; token -> id map over the model's keys (raw bytes in byte mode) */
    size_t vocab_n;  /* model ids are in [0, vocab_n) ... */
    size_t id_cap;   /* ... and all ids (added included) in [0, id_cap) */
    char **id_str;   /* id_cap entries, NULL where no token */
    char **id_bytes; /* byte mode: raw bytes of each id (NULL: same as id_str) */
    uint32_t *id_bytes_len;
    tok_strmap vocab;
    model_kind model;
    int byte_mode; /* model sees raw bytes */
    /* BPE */
    tok_merges merges;
    int32_t unk_id; /* -1 none */
    char *unk_token;
    char *cont_prefix, *eow_suffix; /* NULL if none; raw bytes in byte mode */
    int fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_id[256];     /* byte mode: id of each single byte, -1 if absent */
    int32_t fallback_id[256]; /* id of "<0xXX>", -1 if absent */
    /* WordPiece */
    size_t max_input_chars;
    /* components (NULL when absent) */
    tok_normalizer *normalizer;
    tok_pretok *pretok;
    tok_post *post;
    tok_decoder *decoder;
    tok_added *added;
    size_t nadded;
    uint8_t added_first[256]; /* first bytes of non-normalised added tokens */
    uint8_t added_norm_first[256];
    int has_norm_added;
    uint8_t *is_special_id; /* id_cap entries */
    /* defaults from the file's "truncation"/"padding" */
    qy_tok_params defaults;
    /* caches */
    tok_cache *caches[TOK_CACHE_SLOTS];
    atomic_int cache_busy[TOK_CACHE_SLOTS];
    char describe[1024];
};

/* ------------------------------------------------------------- stages */

int tok_regex_compile(tok_regex *re, const char *pattern, const char *where);
int tok_regex_literal(tok_regex *re, const char *s, size_t len);
void tok_regex_free(tok_regex *re);
/* Find the next match of re in s[from..len): 1 found (*ms,*me), 0 none, <0 error status negated. */
int tok_regex_next(const tok_regex *re, tok_work *w, const char *s, size_t len, size_t from, size_t *ms,
                   size_t *me);

void tok_normalizer_free(tok_normalizer *n);
/* Normalise piece in place (new storage from the arena). */
int tok_normalize(const tok_normalizer *n, tok_work *w, tok_piece *p);

void tok_pretok_free(tok_pretok *p);
/* Pre-tokenise: replaces the pieces of *ps (added-token pieces pass through). */
int tok_pretokenize(const tok_pretok *pt, tok_work *w, tok_pieces *ps);
/* Split the text at the GPT-2 pattern's pre-token boundaries without PCRE2
 * (same result; tested against the regex). Calls emit for each [b, e). */
int tok_gpt2_split(const char *s, size_t len, int (*emit)(void *ctx, size_t b, size_t e), void *ctx);

void tok_decoder_free(tok_decoder *d);
void tok_post_free(tok_post *p);

/* Model: tokens of one piece appended to out (ids + piece-relative byte ranges). */
typedef struct tok_out {
    int32_t *ids;
    uint32_t *st, *en; /* original offsets */
    size_t n, cap;
} tok_out;
int tok_out_push(tok_out *o, int32_t id, uint32_t st, uint32_t en);
int tok_model_piece(const qy_tokenizer *t, tok_cache *cache, const tok_piece *p, tok_out *out);
int tok_cache_new(tok_cache **out);
void tok_cache_free(tok_cache *c);
/* BPE of one piece with the heap merge loop only and no cache: the reference
 * the fast small-word path is tested against. */
int tok_bpe_reference(const qy_tokenizer *t, const tok_piece *p, tok_out *out);
int tok_merges_get(const tok_merges *m, int32_t a, int32_t b, uint32_t *rank, int32_t *merged);
int tok_merges_put(tok_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t merged);
void tok_merges_free(tok_merges *m);

/* Normalise and pre-tokenise text as encoding does and call fn on each word
 * (raw bytes for byte-level tokenizers); added tokens are skipped. */
int tok_for_each_word(const qy_tokenizer *t, const char *text, size_t len,
                      int (*fn)(void *ctx, const char *word, size_t n), void *ctx);

/* Decode: tokens (strings) through the decoder chain into one string. */
int tok_decode_tokens(const qy_tokenizer *t, char **toks, size_t *lens, size_t n, char **out,
                      size_t *out_len);

#endif
