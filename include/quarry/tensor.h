/*
 * quarry/tensor.h — f32 tensors, ops with forward and backward, an autograd tape,
 * optimizers (AdamW, SGD), gradient clipping and learning-rate schedules.
 *
 * Usage (one training step of y = x W^T, loss = mean((y - t)^2)):
 *
 *   qy_params *ps;  qy_params_new(&ps);
 *   qy_tensor *W;   qy_params_add(ps, "w", 2, (int64_t[]){4, 8}, QY_GROUP_DECAY, &W);
 *   qy_params_alloc(ps);                        // params + grads: one block each
 *   qy_optim *opt;  qy_adamw_new(ps, &(qy_adamw_cfg){.lr = 1e-3f, ...}, &opt);
 *   qy_graph *g;    qy_graph_new(pool, &g);     // tape + activation arena
 *   for (;;) {
 *       qy_graph_reset(g);  qy_params_zero_grad(ps);
 *       qy_tensor *x = qy_input(g, 2, (int64_t[]){B, 8}, xdata);
 *       qy_tensor *loss = qy_mse(g, qy_matmul(g, x, W, 0, 1), qy_input(g, 2, ..., tdata));
 *       if (qy_graph_backward(g, loss) != QY_OK) ... qy_errmsg() ...
 *       qy_optim_step(opt, lr);
 *   }
 *
 * Errors in op construction are sticky: an op that fails (shape mismatch, out of
 * memory) returns NULL, sets the message ("matmul: a (2,3) b (4,5): inner dims 3 != 4")
 * and records the status in the graph; every later op given NULL returns NULL, and
 * qy_graph_status()/qy_graph_backward() return the first error. Model code therefore
 * chains ops and checks once.
 *
 * Shapes: up to 4 dims, row-major, contiguous. Letters used in comments: B batch,
 * T time, C channels, V vocab, NH heads, HS head size, N rows (all leading dims flattened).
 *
 * Threads and determinism: every kernel splits work with qy_pool_for (ranges fixed
 * by the sizes, never by the thread count) and reduces partial results in range
 * order, and BLAS is called single-threaded on those fixed ranges, so the same
 * inputs give the same bits at any thread count.
 */
#ifndef QUARRY_TENSOR_H
#define QUARRY_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QY_MAX_DIMS 4

enum {
    QY_T_REQUIRES_GRAD = 1u << 0, /* backward computes a gradient for it */
    QY_T_PARAM = 1u << 1,         /* lives in a qy_params block */
    QY_T_FROZEN = 1u << 2,        /* a parameter excluded from gradients and updates */
    QY_T_RETAIN_GRAD = 1u << 3    /* keep .grad of an intermediate tensor after backward */
};

/* A tensor: plain data. shape[i] for i >= ndim is 1. data/grad point into an
 * arena (never free them). grad is NULL until backward needs it (parameters: always
 * allocated by qy_params_alloc). The gradient of an intermediate tensor (an op's
 * output) is recycled once backward has passed it and its grad set to NULL, unless
 * flags has QY_T_RETAIN_GRAD (qy_retain_grad); inputs made with qy_input/qy_zeros
 * keep theirs. */
typedef struct qy_tensor {
    int ndim;
    int64_t shape[QY_MAX_DIMS];
    size_t n; /* number of elements */
    float *data;
    float *grad;
    uint32_t flags;
    int group;        /* parameter group (optimizer settings), parameters only */
    const char *name; /* parameter name or tapped activation name, may be NULL */
} qy_tensor;

/* ------------------------------------------------------------ parameters */

/* Parameter groups: the optimizer applies per-group weight decay and lr scale. */
enum { QY_GROUP_DECAY = 0, QY_GROUP_NO_DECAY = 1, QY_MAX_GROUPS = 8 };

typedef struct qy_params qy_params;

int qy_params_new(qy_params **out);
void qy_params_free(qy_params *ps);
/* Declare a parameter (before qy_params_alloc). The tensor is owned by ps and
 * stays valid until qy_params_free; its data is NULL until qy_params_alloc.
 * Errors: QY_ERR_ARG (bad shape, duplicate name, already allocated), QY_ERR_NOMEM. */
int qy_params_add(qy_params *ps, const char *name, int ndim, const int64_t *shape, int group,
                  qy_tensor **out);
/* Lay out all declared parameters in one zeroed data block and one grad block. */
int qy_params_alloc(qy_params *ps);
size_t qy_params_count(const qy_params *ps);
qy_tensor *qy_params_at(const qy_params *ps, size_t i);
qy_tensor *qy_params_find(const qy_params *ps, const char *name); /* NULL if absent */
size_t qy_params_numel(const qy_params *ps);                      /* total elements */
/* Zero all gradients (call once per optimizer step; backward accumulates, so
 * several micro-batches before one step give the summed gradient). */
void qy_params_zero_grad(qy_params *ps);
/* Frozen parameters get no gradient and are skipped by optimizers. */
void qy_param_set_frozen(qy_tensor *t, int frozen);
/* Fill with N(0, std^2) (std > 0) from a seeded stream, or with a constant when std == 0. */
void qy_param_init_normal(qy_tensor *t, qy_rng *rng, float std, float constant);

/* ------------------------------------------------------------------ graph */

typedef struct qy_graph qy_graph;

/* A tape plus an arena for activations. pool is borrowed (may be NULL). */
int qy_graph_new(qy_pool *pool, qy_graph **out);
void qy_graph_free(qy_graph *g);
/* Forget the tape and all graph tensors; keeps the memory. After a step that
 * overflowed the arena, the arena is re-made as one block of the high-water size. */
void qy_graph_reset(qy_graph *g);
/* No-grad mode (enabled = 0): ops record nothing and build no gradients (inference). */
void qy_graph_set_grad_enabled(qy_graph *g, int enabled);
int qy_graph_grad_enabled(const qy_graph *g);
int qy_graph_status(const qy_graph *g); /* first error of the ops since reset */
qy_pool *qy_graph_pool(const qy_graph *g);
size_t qy_graph_peak_bytes(const qy_graph *g); /* arena high-water mark */
/* what the forward passes had allocated when backward began (activations and saved
 * state), the largest over the graph's life; peak - this = backward's working set */
size_t qy_graph_forward_bytes(const qy_graph *g);
size_t qy_graph_tape_len(const qy_graph *g);
/* Seed d(loss)/d(loss) = 1 for a 1-element loss and run the tape backwards,
 * accumulating into .grad of every tensor that requires it (parameters included).
 * Errors: the graph's sticky error, QY_ERR_SHAPE if loss is not 1 element. */
int qy_graph_backward(qy_graph *g, qy_tensor *loss);
/* Same, seeding the output gradient with `seed` (t->n values). */
int qy_graph_backward_from(qy_graph *g, qy_tensor *t, const float *seed);

/* Activation hooks. qy_tap(g, name, t) names t and calls the hook, which may read
 * t->data, overwrite it in place (the gradient then flows as if it were unchanged),
 * or set *t to another tensor built with ops on g (e.g. t + delta, where delta is a
 * parameter being learned). Returns the (possibly replaced) tensor; a hook error
 * becomes the graph's sticky error. Without a hook qy_tap only names t. */
typedef int (*qy_hook_fn)(void *ctx, qy_graph *g, const char *name, qy_tensor **t);
void qy_graph_set_hook(qy_graph *g, qy_hook_fn fn, void *ctx);
qy_tensor *qy_tap(qy_graph *g, const char *name, qy_tensor *t);

/* ----------------------------------------------------- graph tensors */

/* New zeroed / copied / constant tensor in the graph arena (no gradient unless
 * qy_set_requires_grad). shape has ndim entries, each >= 1. */
qy_tensor *qy_zeros(qy_graph *g, int ndim, const int64_t *shape);
qy_tensor *qy_input(qy_graph *g, int ndim, const int64_t *shape, const float *data);
qy_tensor *qy_full(qy_graph *g, int ndim, const int64_t *shape, float value);
void qy_set_requires_grad(qy_tensor *t, int on);
/* Keep t's gradient readable after backward (t->grad), e.g. to inspect the
 * gradient at a hidden state. Call before backward. */
void qy_retain_grad(qy_tensor *t);
/* "(2,3,4)" into buf */
const char *qy_shape_str(const qy_tensor *t, char *buf, size_t cap);

/* ------------------------------------------------------------------- ops */
/* Every op returns a new graph tensor or NULL (see the sticky errors above). */

/* Matrix product of the last two dims: op(a) (..,M,K) x op(b) (..,K,N) -> (..,M,N),
 * op(x) = x^T when trans_x. b 2-D: shared across a's leading dims (a linear layer
 * y = x W^T is qy_matmul(g, x, W, 0, 1) with W (out,in) as in PyTorch). Otherwise a
 * and b need equal leading dims (batched). */
qy_tensor *qy_matmul(qy_graph *g, qy_tensor *a, qy_tensor *b, int trans_a, int trans_b);
/* Elementwise with broadcasting over leading dims: b's shape must equal the
 * trailing dims of a (e.g. a (B,T,C) + bias (C)). */
qy_tensor *qy_add(qy_graph *g, qy_tensor *a, qy_tensor *b);
qy_tensor *qy_sub(qy_graph *g, qy_tensor *a, qy_tensor *b);
qy_tensor *qy_mul(qy_graph *g, qy_tensor *a, qy_tensor *b);
qy_tensor *qy_scale(qy_graph *g, qy_tensor *a, float s); /* a * s */
/* Each row of x (..,C) times one value of s (rows(x) elements, e.g. (B,T) for x
 * (B,T,C)): masking or weighting tokens, masked mean pooling. */
qy_tensor *qy_scale_rows(qy_graph *g, qy_tensor *x, qy_tensor *s);
qy_tensor *qy_add_scalar(qy_graph *g, qy_tensor *a, float s); /* a + s */
/* Same data, new shape (element counts must agree; one dim may be -1). */
qy_tensor *qy_reshape(qy_graph *g, qy_tensor *a, int ndim, const int64_t *shape);
qy_tensor *qy_transpose(qy_graph *g, qy_tensor *a); /* swap the last two dims */
/* Rows of src (V,C) (or (V) for scalars per row) picked by ids[0..n) -> (n,C);
 * the embedding lookup. ids out of range -> QY_ERR_RANGE. */
qy_tensor *qy_index_select(qy_graph *g, qy_tensor *src, const int32_t *ids, size_t n);
/* One value per row along the last dim: t (N,V), idx[N] -> (N). */
qy_tensor *qy_gather_last(qy_graph *g, qy_tensor *t, const int32_t *idx);
/* Concatenate along dim (all other dims equal) / the slice [start, start+len) of dim
 * (a view sharing a's data when dim is the first dim, or all dims before it are 1). */
qy_tensor *qy_concat(qy_graph *g, qy_tensor *const *ts, int count, int dim);
qy_tensor *qy_slice(qy_graph *g, qy_tensor *a, int dim, int64_t start, int64_t len);
/* Split dim into count consecutive pieces of sizes[i] (summing to the dim's size);
 * outs[i] receive the pieces (NULL on error, like the ops). Returns the graph status. */
int qy_split(qy_graph *g, qy_tensor *a, int dim, const int64_t *sizes, int count, qy_tensor **outs);
/* Normalisations over the last dim C. weight/bias (C); bias may be NULL. */
qy_tensor *qy_layernorm(qy_graph *g, qy_tensor *x, qy_tensor *weight, qy_tensor *bias, float eps);
qy_tensor *qy_rmsnorm(qy_graph *g, qy_tensor *x, qy_tensor *weight, float eps);
qy_tensor *qy_l2_normalize(qy_graph *g, qy_tensor *x, float eps); /* x / max(||x||, eps) */
/* Activations. */
qy_tensor *qy_gelu_tanh(qy_graph *g, qy_tensor *x); /* "gelu_new"/approximate='tanh' */
qy_tensor *qy_gelu_erf(qy_graph *g, qy_tensor *x);  /* exact GELU */
qy_tensor *qy_silu(qy_graph *g, qy_tensor *x);
qy_tensor *qy_swiglu(qy_graph *g, qy_tensor *gate, qy_tensor *up); /* silu(gate) * up */
qy_tensor *qy_relu(qy_graph *g, qy_tensor *x);
qy_tensor *qy_tanh(qy_graph *g, qy_tensor *x);
qy_tensor *qy_sigmoid(qy_graph *g, qy_tensor *x);
qy_tensor *qy_exp(qy_graph *g, qy_tensor *x);
qy_tensor *qy_softmax(qy_graph *g, qy_tensor *x);     /* over the last dim */
qy_tensor *qy_log_softmax(qy_graph *g, qy_tensor *x); /* over the last dim */
/* Reductions. */
qy_tensor *qy_sum(qy_graph *g, qy_tensor *x);      /* all elements -> (1) */
qy_tensor *qy_mean(qy_graph *g, qy_tensor *x);     /* all elements -> (1) */
qy_tensor *qy_sum_last(qy_graph *g, qy_tensor *x); /* (..,C) -> (..) */
/* Dropout with probability p (kept values scaled by 1/(1-p)); the mask depends
 * only on seed and element index. p == 0 or no-grad mode: identity. */
qy_tensor *qy_dropout(qy_graph *g, qy_tensor *x, float p, uint64_t seed);

/* Rotary position embeddings on x (B,T,NH*HS) with heads of size hs.
 * pos: B*T positions (NULL: 0..T-1 for every row). interleaved = 0: Hugging Face
 * rotate-half layout (pairs i, i+HS/2); 1: GPT-J/Meta pairs (2i, 2i+1). */
qy_tensor *qy_rope(qy_graph *g, qy_tensor *x, int64_t hs, float theta, const int32_t *pos, int interleaved);
/* The same with explicit inverse frequencies (hs/2 floats), for scaled RoPE
 * (linear, Llama 3): angle = pos * inv_freq[i]. The array is read during the call. */
qy_tensor *qy_rope_freqs(qy_graph *g, qy_tensor *x, int64_t hs, const float *inv_freq, const int32_t *pos,
                         int interleaved);
/* transformers' default inverse frequencies 1 / theta^(2i/hs) (f32) into inv[hs/2]. */
void qy_rope_inv_freq(int64_t hs, float theta, float *inv);

/* Fused scaled-dot-product attention. q (B,T,NH*HS), k and v (B,Tk,NKV*HS) with NH a
 * multiple of NKV (grouped-query heads), scale = 1/sqrt(HS) when scale <= 0,
 * causal mask when causal (aligned to the end when Tk != T: query i sees keys
 * j <= i + Tk - T, i.e. new queries after a cached prefix), key_mask (B*Tk bytes,
 * 1 = attend, 0 = padding) optional.
 * Out (B,T,NH*HS). Keeps only B*NH*T log-sum-exp values; the backward pass
 * recomputes the probabilities tile by tile. A query row with no visible key gets 0. */
qy_tensor *qy_attention(qy_graph *g, qy_tensor *q, qy_tensor *k, qy_tensor *v, int64_t nh, int64_t nkv,
                        float scale, int causal, const uint8_t *key_mask);

/* ---------------------------------------------------------------- losses */

enum { QY_REDUCE_MEAN = 0, QY_REDUCE_SUM = 1, QY_REDUCE_NONE = 2 };

/* Cross-entropy fused with log-softmax: logits (N,V), targets[N]; rows whose
 * target == ignore_index contribute nothing. weights[N] optional per-row weights.
 * MEAN: sum(w_i l_i) / sum(w_i) over kept rows (PyTorch's mean when w = 1);
 * SUM: sum(w_i l_i); NONE: per-row losses (N) (0 for ignored rows).
 * A target outside [0,V) that is not ignore_index -> QY_ERR_RANGE. */
qy_tensor *qy_cross_entropy(qy_graph *g, qy_tensor *logits, const int32_t *targets, const float *weights,
                            int32_t ignore_index, int reduction);
/* KL divergence between softmax(p_logits/T) and softmax(q_logits/T) over the last dim,
 * KL(P || Q) = sum P (log P - log Q), summed over the last dim, averaged over rows
 * ("batchmean"), times T^2 (Hinton distillation). Both inputs may need gradients;
 * reverse KL is qy_kl_div(g, q, p, T). Built from other ops. */
qy_tensor *qy_kl_div(qy_graph *g, qy_tensor *p_logits, qy_tensor *q_logits, float temperature);
qy_tensor *qy_mse(qy_graph *g, qy_tensor *a, qy_tensor *b); /* mean((a-b)^2) */
/* InfoNCE with in-batch negatives: q (N,D), k (N,D); logits = q k^T / tau, the
 * positive of row i is column i; mean cross-entropy. Built from other ops. */
qy_tensor *qy_infonce(qy_graph *g, qy_tensor *q, qy_tensor *k, float tau);
/* GRU cell as PyTorch's nn.GRUCell: x (B,I), h (B,H), w_ih (3H,I), w_hh (3H,H),
 * b_ih, b_hh (3H) (gate order r, z, n). Returns h' (B,H). Built from other ops. */
qy_tensor *qy_gru_cell(qy_graph *g, qy_tensor *x, qy_tensor *h, qy_tensor *w_ih, qy_tensor *w_hh,
                       qy_tensor *b_ih, qy_tensor *b_hh);

/* Top-k along the last dim of t (N,V) (no gradient; use qy_gather_last on the
 * indices for a differentiable value): vals/idx have N*k entries, each row sorted
 * by value descending, ties by lower index first. */
int qy_topk(const qy_tensor *t, int64_t k, float *vals, int32_t *idx);

/* ------------------------------------------------------------- optimizers */

typedef struct qy_optim qy_optim;

typedef struct qy_adamw_cfg {
    float lr;           /* base learning rate (qy_optim_step may override) */
    float beta1, beta2; /* 0.9, 0.999 when both are 0 */
    float eps;          /* 1e-8 when 0 */
    float weight_decay; /* for QY_GROUP_DECAY; QY_GROUP_NO_DECAY gets 0 */
} qy_adamw_cfg;

typedef struct qy_sgd_cfg {
    float lr;
    float momentum; /* 0 = plain SGD */
    float dampening;
    float weight_decay; /* coupled (added to the gradient), as torch.optim.SGD */
    int nesterov;
} qy_sgd_cfg;

/* AdamW exactly as torch.optim.AdamW (single-tensor path): p *= 1 - lr*wd;
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 * State (m, v) lives in one block. ps is borrowed and must be allocated. */
int qy_adamw_new(qy_params *ps, const qy_adamw_cfg *cfg, qy_optim **out);
int qy_sgd_new(qy_params *ps, const qy_sgd_cfg *cfg, qy_optim **out);
void qy_optim_free(qy_optim *o);
/* Per-group settings: lr multiplier and weight decay (defaults: group 0 cfg's
 * weight decay, every other group 0; lr scale 1). */
int qy_optim_set_group(qy_optim *o, int group, float lr_scale, float weight_decay);
/* Run updates on pool (borrowed, may be NULL); results do not depend on it. */
void qy_optim_set_pool(qy_optim *o, qy_pool *pool);
/* One update with learning rate lr (pass the schedule's value). Frozen params skipped. */
int qy_optim_step(qy_optim *o, float lr);
int64_t qy_optim_steps(const qy_optim *o);
/* Checkpoints: the state of parameter i (order of qy_params_at): AdamW's exp_avg in
 * *m and exp_avg_sq in *v, SGD's momentum buffer in *m (*v = NULL); p->n floats each,
 * readable and writable (to restore). With qy_optim_set_steps this is everything a
 * resumed run needs to continue bit for bit. Errors: QY_ERR_RANGE for a bad i. */
int qy_optim_param_state(qy_optim *o, size_t i, float **m, float **v);
void qy_optim_set_steps(qy_optim *o, int64_t steps);
size_t qy_optim_state_bytes(const qy_optim *o);

/* Scale all (non-frozen) gradients so that their global L2 norm is at most
 * max_norm, as torch.nn.utils.clip_grad_norm_ (coef = max_norm/(norm+1e-6), capped
 * at 1). Returns the norm before clipping in *norm_out (may be NULL). */
int qy_clip_grad_norm(qy_params *ps, float max_norm, qy_pool *pool, float *norm_out);

enum { QY_SCHED_CONSTANT = 0, QY_SCHED_COSINE = 1, QY_SCHED_LINEAR = 2 };
typedef struct qy_lr_schedule {
    int kind;
    float base_lr;
    int64_t warmup_steps; /* linear warm-up from 0 (Hugging Face get_*_schedule_with_warmup) */
    int64_t total_steps;
    float min_lr_ratio; /* floor as a fraction of base_lr (cosine/linear), usually 0 */
} qy_lr_schedule;
/* Learning rate at 0-based step, identical to transformers' schedules. */
float qy_lr_at(const qy_lr_schedule *s, int64_t step);

/* ---------------------------------------------------------------- kernels */

/* C = alpha op(A) op(B) + beta C, row-major (as cblas_sgemm), using OpenBLAS when
 * built with it; split over rows/cols on pool with ranges fixed by M and N. */
void qy_sgemm(qy_pool *pool, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* Name of the matmul backend ("OpenBLAS 0.3.21 ..." or "quarry blocked"). */
const char *qy_gemm_backend(void);

#ifdef __cplusplus
}
#endif
#endif /* QUARRY_TENSOR_H */
