/*
 * quarry/model.h — Hugging Face model folders: safetensors files (read and write),
 * config.json / generation_config.json, and the tensor "spec" of each transformer
 * family (the HF tensor names and shapes a checkpoint must hold).
 *
 * Usage:
 *   qy_lm_config cfg;
 *   qy_st_file *st;
 *   qy_lm_spec *spec;
 *   if (qy_lm_config_read_dir("models/llama", &cfg) ||       // config.json (+ generation_config.json)
 *       qy_st_open_dir("models/llama", &st) ||               // model.safetensors or sharded index
 *       qy_lm_spec_new(&cfg, &spec) ||
 *       qy_lm_spec_check(spec, st, NULL))                    // names + shapes, errors name both shapes
 *       fprintf(stderr, "quarry: %s\n", qy_errmsg());
 *   const qy_st_tensor *t = qy_st_find(st, "model.embed_tokens.weight");
 *   float *w = ...; qy_st_read_f32(t, w, t->numel);          // F32/F16/BF16/F64 -> f32
 *
 * Readers validate everything before handing out a pointer: the 8-byte header
 * length against the file size, every data_offsets pair inside the data region,
 * tensors neither overlapping nor leaving gaps, shape products (checked for
 * overflow) equal to the byte sizes. A hostile file gets QY_ERR_FORMAT or
 * QY_ERR_RANGE with a message naming the file, the tensor and what was expected.
 */
#ifndef QUARRY_MODEL_H
#define QUARRY_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ safetensors */

/* Element types of the safetensors format, ordered as the reference writer
 * orders them (it stores tensors by dtype descending, then by name). */
typedef enum qy_st_dtype {
    QY_ST_BOOL = 0,
    QY_ST_U8,
    QY_ST_I8,
    QY_ST_F8_E5M2,
    QY_ST_F8_E4M3,
    QY_ST_I16,
    QY_ST_U16,
    QY_ST_F16,
    QY_ST_BF16,
    QY_ST_I32,
    QY_ST_U32,
    QY_ST_F32,
    QY_ST_F64,
    QY_ST_I64,
    QY_ST_U64,
    QY_ST_DTYPE_COUNT
} qy_st_dtype;

/* "F32", "BF16"... */
const char *qy_st_dtype_name(qy_st_dtype dtype);
/* bytes per element */
size_t qy_st_dtype_size(qy_st_dtype dtype);
/* Parse a dtype name; QY_ERR_UNSUPPORTED (message lists the known names) if unknown. */
int qy_st_dtype_parse(const char *name, qy_st_dtype *out);

#define QY_ST_MAX_DIMS 8
/* Largest header quarry reads (the reference implementation's limit). */
#define QY_ST_MAX_HEADER (100u * 1000u * 1000u)

/* One tensor of an opened file. `data` points into the read-only mapping
 * (little-endian, possibly unaligned: read it with qy_st_read_f32 or memcpy). */
typedef struct qy_st_tensor {
    const char *name;
    qy_st_dtype dtype;
    int ndim;
    int64_t shape[QY_ST_MAX_DIMS];
    size_t numel;
    size_t nbytes;
    const uint8_t *data;
    int shard; /* which file of a sharded checkpoint holds it (0 for one file) */
} qy_st_tensor;

typedef struct qy_st_file qy_st_file;

/* Map and validate one .safetensors file. *out is freed with qy_st_close.
 * Errors: QY_ERR_NOT_FOUND/IO (file), QY_ERR_FORMAT (malformed header or
 * offsets), QY_ERR_RANGE (absurd sizes), QY_ERR_UNSUPPORTED (unknown dtype),
 * QY_ERR_NOMEM. */
int qy_st_open(const char *path, qy_st_file **out);

/* Open the weights of a model folder: DIR/model.safetensors, else the sharded
 * DIR/model.safetensors.index.json (every shard mapped and validated; the
 * weight_map must agree with the shards exactly). */
int qy_st_open_dir(const char *dir, qy_st_file **out);

/* model.safetensors.index.json: {"metadata": {...}, "weight_map": {tensor: shard}}.
 * Parsing checks that every shard is a plain file name (no path: shards stay in
 * the model folder) and that no tensor is listed twice. */
typedef struct qy_st_index qy_st_index;
int qy_st_index_parse(const char *text, size_t len, const char *source, qy_st_index **out);
void qy_st_index_free(qy_st_index *ix);
size_t qy_st_index_count(const qy_st_index *ix);       /* weight_map entries */
size_t qy_st_index_shard_count(const qy_st_index *ix); /* distinct shard files */
const char *qy_st_index_shard(const qy_st_index *ix, size_t i);
/* i-th weight_map entry: tensor name and the index of its shard */
void qy_st_index_at(const qy_st_index *ix, size_t i, const char **tensor, size_t *shard);

/* Validate a safetensors image held in memory. Nothing is copied: `data` must
 * outlive *out. `source` names the image in messages. */
int qy_st_parse(const uint8_t *data, size_t size, const char *source, qy_st_file **out);

void qy_st_close(qy_st_file *f);

/* Tensors in header order (for one file) or shard by shard. */
size_t qy_st_count(const qy_st_file *f);
const qy_st_tensor *qy_st_at(const qy_st_file *f, size_t i);
/* NULL if absent (no message set). */
const qy_st_tensor *qy_st_find(const qy_st_file *f, const char *name);
/* Like find, but a missing tensor is QY_ERR_NOT_FOUND "SOURCE: no tensor 'NAME'". */
int qy_st_get(const qy_st_file *f, const char *name, const qy_st_tensor **out);
/* Name of the file (first shard, or the index) used in messages. */
const char *qy_st_source(const qy_st_file *f);
/* Sum of nbytes over all tensors. */
size_t qy_st_total_bytes(const qy_st_file *f);

/* `__metadata__` (string to string). value is NULL when the key is absent. */
size_t qy_st_metadata_count(const qy_st_file *f);
void qy_st_metadata_at(const qy_st_file *f, size_t i, const char **key, const char **value);
const char *qy_st_metadata(const qy_st_file *f, const char *key);

/* Convert a tensor to f32 into out[0..n). n must equal t->numel (else
 * QY_ERR_ARG). F32 is copied, F16 and BF16 are widened exactly, F64 is rounded
 * to nearest; other dtypes give QY_ERR_UNSUPPORTED naming the tensor. */
int qy_st_read_f32(const qy_st_tensor *t, float *out, size_t n);

/* "[1024, 64]" into buf (cut to cap); returns buf. */
const char *qy_shape_text(const int64_t *shape, int ndim, char *buf, size_t cap);

/* Exact half-precision conversions (round to nearest even when narrowing;
 * NaN stays NaN, overflow goes to infinity). */
float qy_f16_to_f32(uint16_t h);
float qy_bf16_to_f32(uint16_t h);
uint16_t qy_f32_to_f16(float f);
uint16_t qy_f32_to_bf16(float f);
/* n little-endian halves at src (any alignment) widened into dst; the same
 * results as the scalar functions, faster. */
void qy_f16_to_f32_n(const void *src, float *dst, size_t n);
void qy_bf16_to_f32_n(const void *src, float *dst, size_t n);

/* Writer. Tensors are laid out as the reference implementation does (dtype
 * descending, then name), the header is compact JSON padded with spaces to a
 * multiple of 8 bytes, so `transformers` loads the result and a file that
 * was read and written back is byte-identical. */
typedef struct qy_st_writer qy_st_writer;

int qy_st_writer_new(qy_st_writer **out);
void qy_st_writer_free(qy_st_writer *w);
/* Add a tensor whose bytes (little-endian, `nbytes` = numel * dtype size) are
 * borrowed: they must stay valid until the write. Errors: QY_ERR_ARG
 * (duplicate or empty name, bad shape, byte count mismatch), QY_ERR_NOMEM. */
int qy_st_writer_add(qy_st_writer *w, const char *name, qy_st_dtype dtype, int ndim, const int64_t *shape,
                     const void *data, size_t nbytes);
/* Add an f32 array to be stored as `dtype` (F32, F16 or BF16, converted with
 * round-to-nearest-even during the write). The floats are borrowed. */
int qy_st_writer_add_f32(qy_st_writer *w, const char *name, qy_st_dtype dtype, int ndim, const int64_t *shape,
                         const float *data);
/* Copy every tensor and the metadata of an opened file (borrowed from it). */
int qy_st_writer_add_file(qy_st_writer *w, const qy_st_file *f);
/* Set a `__metadata__` entry (copied); replaces an earlier value for key. */
int qy_st_writer_set_metadata(qy_st_writer *w, const char *key, const char *value);
/* Write one file atomically (temporary + fsync + rename). */
int qy_st_writer_write(qy_st_writer *w, const char *path);
/* Serialise into a new buffer (qy_free it). */
int qy_st_writer_serialize(qy_st_writer *w, uint8_t **out, size_t *len);
/* Write the weights of a model folder: DIR/model.safetensors when the tensors
 * total at most max_shard_bytes (0 = no limit), else shards
 * DIR/model-0000K-of-0000N.safetensors plus model.safetensors.index.json, as
 * save_pretrained does. The layout that was not written (single file or index)
 * is removed afterwards so that loaders cannot pick up a stale one. */
int qy_st_writer_write_dir(qy_st_writer *w, const char *dir, size_t max_shard_bytes);

/* ------------------------------------------------------------ config.json */

typedef enum qy_lm_family {
    QY_LM_GPT2 = 0,
    QY_LM_LLAMA,
    QY_LM_QWEN2,
    QY_LM_QWEN3,
    QY_LM_BERT,
    QY_LM_FAMILY_COUNT
} qy_lm_family;

/* the config's model_type for a family ("gpt2", "llama", "qwen2", "qwen3", "bert") */
const char *qy_lm_family_name(qy_lm_family family);

typedef enum qy_lm_act {
    QY_ACT_GELU = 0,  /* exact, erf-based: "gelu" */
    QY_ACT_GELU_TANH, /* tanh approximation: "gelu_new", "gelu_pytorch_tanh", "gelu_fast" */
    QY_ACT_SILU,      /* "silu", "swish" (gated in SwiGLU for llama/qwen) */
    QY_ACT_RELU       /* "relu" */
} qy_lm_act;
const char *qy_lm_act_name(qy_lm_act act);

typedef enum qy_rope_scaling {
    QY_ROPE_DEFAULT = 0, /* no scaling */
    QY_ROPE_LINEAR,      /* positions divided by factor */
    QY_ROPE_LLAMA3       /* Llama 3.1 frequency-dependent scaling */
} qy_rope_scaling;

#define QY_LM_MAX_EOS 8

/* Everything the families need from config.json (+ generation_config.json).
 * Token ids are -1 when absent or null. */
typedef struct qy_lm_config {
    qy_lm_family family;
    char model_type[16];
    char architecture[64]; /* architectures[0], "" if absent */
    char dtype[16];        /* "dtype" or "torch_dtype", "" if absent */

    int64_t vocab_size;
    int64_t hidden_size;       /* C */
    int64_t num_layers;        /* L */
    int64_t num_heads;         /* NH */
    int64_t num_kv_heads;      /* grouped-query attention (== NH for GPT-2 and BERT) */
    int64_t head_dim;          /* HS (Qwen3: independent of C) */
    int64_t intermediate_size; /* MLP width */
    int64_t max_positions;     /* max_position_embeddings / n_positions */
    int64_t type_vocab_size;   /* BERT token types (0 for decoders) */

    double norm_eps; /* layer_norm_epsilon / rms_norm_eps / layer_norm_eps */
    int rms_norm;    /* 1: RMSNorm (llama, qwen), 0: LayerNorm (gpt2, bert) */
    qy_lm_act act;
    int tie_word_embeddings; /* LM head shares the token embedding */
    int qkv_bias;            /* q/k/v projections have biases */
    int o_bias;              /* attention output projection has a bias */
    int mlp_bias;            /* MLP projections have biases */
    int qk_norm;             /* Qwen3 per-head RMSNorm on q and k */
    int is_decoder;          /* causal LM (1) or encoder (0, BERT) */

    int use_rope;
    double rope_theta;
    qy_rope_scaling rope_scaling;
    double rope_factor;                  /* linear / llama3 */
    double rope_low_freq_factor;         /* llama3 */
    double rope_high_freq_factor;        /* llama3 */
    int64_t rope_original_max_positions; /* llama3 */

    double initializer_range; /* std of the normal init for training from scratch */

    int64_t pad_token_id;
    int64_t bos_token_id;
    int64_t eos_token_ids[QY_LM_MAX_EOS];
    int n_eos;
} qy_lm_config;

/* Parse a config.json image. `source` names it in messages, e.g.
 * "config.json: .rope_parameters.rope_theta: expected number". Errors:
 * QY_ERR_FORMAT (bad JSON, wrong types, non-finite values), QY_ERR_NOT_FOUND
 * (a required field), QY_ERR_RANGE (absurd or inconsistent sizes),
 * QY_ERR_UNSUPPORTED (unknown model_type, naming the known ones; a RoPE scaling
 * or option quarry does not implement, naming it). */
int qy_lm_config_parse(const char *text, size_t len, const char *source, qy_lm_config *out);
/* Read DIR/config.json, then DIR/generation_config.json if present (its
 * bos/eos/pad ids override the config's). */
int qy_lm_config_read_dir(const char *dir, qy_lm_config *out);

/* Write cfg as a config.json that transformers loads (HF field names of the
 * family, RoPE as `rope_parameters` plus a top-level `rope_theta`), atomically.
 * Reading it back gives the same qy_lm_config. */
int qy_lm_config_write(const qy_lm_config *cfg, const char *path);

/* generation_config.json: decoding defaults. Absent fields keep the values
 * set by qy_lm_gen_config_defaults. */
typedef struct qy_lm_gen_config {
    int64_t bos_token_id, pad_token_id;
    int64_t eos_token_ids[QY_LM_MAX_EOS];
    int n_eos;
    int do_sample;
    double temperature, top_p, repetition_penalty, length_penalty;
    int64_t top_k, num_beams, max_new_tokens, max_length;
} qy_lm_gen_config;

/* transformers' defaults, token ids taken from cfg (may be NULL: ids -1). */
void qy_lm_gen_config_defaults(const qy_lm_config *cfg, qy_lm_gen_config *out);
/* Parse a generation_config.json image over the values already in *out. */
int qy_lm_gen_config_parse(const char *text, size_t len, const char *source, qy_lm_gen_config *out);

/* ------------------------------------------------------------------ spec */

/* What a tensor is for (lets engines and methods find matrices by role). */
typedef enum qy_lm_role {
    QY_ROLE_EMBED = 0,
    QY_ROLE_POS_EMBED,
    QY_ROLE_TYPE_EMBED,
    QY_ROLE_NORM_WEIGHT,
    QY_ROLE_NORM_BIAS,
    QY_ROLE_WEIGHT,
    QY_ROLE_BIAS,
    QY_ROLE_LM_HEAD
} qy_lm_role;

typedef struct qy_lm_param {
    char name[96]; /* the Hugging Face name as save_pretrained writes it */
    int ndim;
    int64_t shape[2]; /* as stored in the file (GPT-2 Conv1D: (in, out)) */
    size_t numel;
    int layer; /* -1 outside the blocks */
    qy_lm_role role;
    int optional; /* BERT's pooler may be absent */
} qy_lm_param;

typedef struct qy_lm_spec qy_lm_spec;

/* The parameter list of a family for this config. Errors: QY_ERR_RANGE when
 * sizes overflow, QY_ERR_NOMEM. */
int qy_lm_spec_new(const qy_lm_config *cfg, qy_lm_spec **out);
void qy_lm_spec_free(qy_lm_spec *spec);
size_t qy_lm_spec_count(const qy_lm_spec *spec);
const qy_lm_param *qy_lm_spec_at(const qy_lm_spec *spec, size_t i);
/* index of a parameter by name, or -1 */
long qy_lm_spec_find(const qy_lm_spec *spec, const char *name);
/* total parameter count (unique parameters: a tied head counts once) */
size_t qy_lm_spec_numel(const qy_lm_spec *spec);

/* Match a file against the spec: every parameter must be present (under its
 * name, or the name without the family's prefix — "transformer." for GPT-2,
 * "bert." for BERT — or with LayerNorm.gamma/beta for BERT) with exactly the
 * expected shape and a float dtype. Errors name the tensor, the file and both
 * shapes. If `found` is not NULL it receives one pointer per spec parameter
 * (NULL for an absent optional one); `unused` (may be NULL) counts the file's
 * tensors that no parameter took (buffers, other heads). */
int qy_lm_spec_check(const qy_lm_spec *spec, const qy_st_file *st, const qy_st_tensor **found,
                     size_t *unused);

/* Memory to hold the model for training in f32: weights, gradients and the two
 * AdamW moments, in bytes. */
typedef struct qy_lm_memory {
    size_t weights, grads, adamw, total;
} qy_lm_memory;
int qy_lm_spec_memory(const qy_lm_spec *spec, qy_lm_memory *out);

/* --------------------------------------------------------------- weights */

/* Every parameter of a spec in one 64-byte-aligned f32 block, in spec order
 * (the layout gradients and optimizer moments can share). */
typedef struct qy_lm_weights {
    float *data; /* numel floats */
    size_t numel;
    size_t count;           /* == qy_lm_spec_count */
    size_t *offset;         /* offset[i]: first float of parameter i */
    unsigned char *present; /* 0 for an optional parameter the file lacks (zeros) */
} qy_lm_weights;

/* A zero-filled block for spec, every parameter present (to initialise a model
 * from scratch). Free with qy_lm_weights_free. */
int qy_lm_weights_new(const qy_lm_spec *spec, qy_lm_weights *out);
/* Check st against the spec (qy_lm_spec_check) and convert every parameter to
 * f32 into a new block, split over the threads of `pool` (NULL: this thread;
 * the result is the same bits either way). Free with qy_lm_weights_free. */
int qy_lm_weights_load(const qy_lm_spec *spec, const qy_st_file *st, qy_pool *pool, qy_lm_weights *out);
void qy_lm_weights_free(qy_lm_weights *w);

/* Save the weights under their Hugging Face names into DIR (model.safetensors,
 * or shards above max_shard_bytes, 0 = one file) as F32, F16 or BF16, with
 * __metadata__ {"format": "pt"} as save_pretrained writes. Absent optional
 * parameters are left out. Loading a fixture and saving it as F32 gives back
 * the identical file. */
int qy_lm_weights_save(const qy_lm_spec *spec, const qy_lm_weights *w, qy_st_dtype dtype, const char *dir,
                       size_t max_shard_bytes);

#ifdef __cplusplus
}
#endif
#endif /* QUARRY_MODEL_H */
