/*
 * quarry/lm.h — runnable transformers from Hugging Face folders on the tensor engine:
 * GPT-2, Llama, Qwen2, Qwen3 (decoders) and BERT (encoder), for inference and
 * training, with the checkpoint's own tensor names.
 *
 * Usage (loss and gradients of a batch, then one AdamW step):
 *   qy_lm *lm;
 *   if (qy_lm_load("models/llama-tiny", &lm) != QY_OK) ... qy_errmsg() ...
 *   qy_graph *g;  qy_graph_new(pool, &g);
 *   qy_lm_batch b = {.B = 2, .T = 16, .ids = ids};
 *   qy_tensor *loss;
 *   qy_lm_loss(lm, g, &b, &loss);           // mean next-token cross-entropy, HF's shift
 *   qy_graph_backward(g, loss);             // gradients in qy_lm_params(lm)
 *   qy_lm_save(lm, "out/");                 // loads in transformers
 *
 * Parameters are named exactly as in the checkpoint ("model.layers.0.mlp.up_proj.weight")
 * and laid out in the order of PyTorch's named_parameters(); GPT-2's Conv1D
 * weights keep their (in, out) layout. Activations are tapped by name through
 * qy_graph_set_hook (see docs/models.md for the list), e.g. "layers.3.mlp.in".
 */
#ifndef QUARRY_LM_H
#define QUARRY_LM_H

#include "quarry/base.h"
#include "quarry/model.h"
#include "quarry/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qy_lm qy_lm;

/* Load DIR (config.json, model.safetensors or the sharded index, optional
 * generation_config.json); weights in F32/F16/BF16 become f32 parameters.
 * Errors name the file, field or tensor (see quarry/model.h), and
 * QY_ERR_UNSUPPORTED for features the forward pass does not implement. */
int qy_lm_load(const char *dir, qy_lm **out);
/* A freshly initialised model of this config (normal(0, init_std) weights, unit
 * norms, zero biases), seeded. */
int qy_lm_new(const qy_lm_config *cfg, float init_std, uint64_t seed, qy_lm **out);
void qy_lm_free(qy_lm *lm);

const qy_lm_config *qy_lm_get_config(const qy_lm *lm);
qy_params *qy_lm_params(qy_lm *lm);
/* RoPE inverse frequencies (head_dim/2 floats) with the config's scaling applied
 * (default, linear, Llama 3), as transformers computes them; NULL for GPT-2/BERT. */
const float *qy_lm_rope_inv_freq(const qy_lm *lm);

typedef struct qy_lm_batch {
    int B, T;
    const int32_t *ids;       /* B*T token ids */
    const uint8_t *attn_mask; /* B*T, 1 = real token, 0 = padding (NULL: all real) */
    const int32_t *type_ids;  /* BERT token types (NULL: zeros) */
    const int32_t *positions; /* B*T positions (NULL: 0..T-1) */
} qy_lm_batch;

/* Forward pass on g. hidden: (B,T,C), the final norm's output for decoders and
 * the last layer's output for BERT. logits: (B,T,V) for decoders (pass NULL to
 * skip the head); encoders set *logits = NULL. */
int qy_lm_forward(qy_lm *lm, qy_graph *g, const qy_lm_batch *b, qy_tensor **hidden, qy_tensor **logits);

/* Mean next-token cross-entropy with labels = ids shifted inside (as transformers
 * does with labels=input_ids); positions whose next token is padding are ignored. */
int qy_lm_loss(qy_lm *lm, qy_graph *g, const qy_lm_batch *b, qy_tensor **loss);

/* Write config.json and model.safetensors (F32) into dir, atomically. */
int qy_lm_save(const qy_lm *lm, const char *dir);

/* A qy_gen_model over this LM (no KV cache yet: every step recomputes the rows).
 * The returned context is freed with qy_lm_decoder_free. */
struct qy_gen_model;
int qy_lm_decoder_new(qy_lm *lm, qy_pool *pool, struct qy_gen_model *out);
void qy_lm_decoder_free(struct qy_gen_model *m);

/* Per-token log-probabilities of ids[1..n) given ids[0..i) (n-1 values). */
int qy_lm_score(qy_lm *lm, qy_pool *pool, const int32_t *ids, int n, float *logprobs);

#ifdef __cplusplus
}
#endif
#endif
