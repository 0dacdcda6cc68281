/* tensor_internal.h — what the tensor modules share: the tape node, graph
 * internals, helpers to make op outputs and record nodes. Not public. */
#ifndef QY_TENSOR_INTERNAL_H
#define QY_TENSOR_INTERNAL_H

#include <math.h>
#include <string.h>

#include "quarry/tensor.h"

typedef struct qy_node qy_node;
/* Accumulates into the grads of node->in[] from node->out->grad. */
typedef void (*qy_backward_fn)(qy_graph *g, qy_node *node);

#define QY_NODE_MAX_IN 4

struct qy_node {
    const char *op;
    qy_backward_fn backward;
    qy_tensor *in[QY_NODE_MAX_IN];
    int nin;
    qy_tensor *out;
    float f[4];
    int64_t i[6];
    const void *p[3]; /* op-specific saved data (graph arena or caller arrays) */
};

/* Bump arena that becomes one block after the first step that overflows it. */
typedef struct qy_tarena {
    uint8_t *block;
    size_t cap, used;
    struct tarena_extra *extra; /* overflow allocations of this step */
    size_t extra_bytes;
    size_t peak;         /* high-water mark of used + extra_bytes */
    size_t forward_peak; /* largest used + extra_bytes seen when a backward began */
} qy_tarena;

/* a released gradient buffer of an intermediate tensor, reused for the next
 * gradient of the same size (backward then needs memory for a few live
 * gradients, not one per activation) */
typedef struct qy_free_grad {
    struct qy_free_grad *next;
    size_t n;
    float *p;
} qy_free_grad;

struct qy_graph {
    qy_pool *pool;
    qy_free_grad *free_grads, *spare_nodes;
    qy_tarena arena;
    qy_node *tape;
    size_t ntape, cap_tape;
    int grad_enabled;
    int status;
    qy_hook_fn hook;
    void *hook_ctx;
    float *scratch; /* per-call working memory of kernels (qy_graph_scratch) */
    size_t scratch_n;
};

/* Allocate from the graph arena (64-byte aligned); on failure sets the sticky error. */
void *qy_graph_alloc(qy_graph *g, size_t bytes);
float *qy_graph_floats(qy_graph *g, size_t n, int zero);
/* Working memory of n floats outside the arena, valid until the next call (kernels
 * that need per-thread scratch only while they run); grows, freed with the graph. */
float *qy_graph_scratch(qy_graph *g, size_t n);
/* Record an op failure (message formatted, op name first) and return NULL. */
qy_tensor *qy_op_fail(qy_graph *g, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* New output tensor of the given shape (data uninitialised); requires grad when the
 * graph is recording and any of the inputs requires it. */
qy_tensor *qy_op_out(qy_graph *g, int ndim, const int64_t *shape, qy_tensor *const *in, int nin);
/* Append a node for `out` when out requires grad; returns the node (or NULL when
 * not recorded, which is not an error). */
qy_node *qy_op_record(qy_graph *g, const char *op, qy_backward_fn bw, qy_tensor *out, qy_tensor *const *in,
                      int nin);
/* Gradient buffer of t, allocated zeroed on first use; NULL when t needs no grad. */
float *qy_grad_of(qy_graph *g, qy_tensor *t);
/* Same, but a new buffer is left uninitialised and *fresh = 1: the caller must then
 * store every element (instead of accumulating), saving a zero-fill pass. */
float *qy_grad_fresh(qy_graph *g, qy_tensor *t, int *fresh);
/* When `to` needs a gradient that is not allocated yet and from's gradient is
 * about to die (from is the node's output, not retained), hand the buffer over
 * (same element count) and return 1: the caller then skips its "to += from" pass. */
int qy_grad_take(qy_graph *g, qy_tensor *to, qy_tensor *from);
/* Input check helper: returns 1 (and makes the graph fail) when a is NULL or the
 * graph already failed. */
int qy_op_bad(qy_graph *g, const qy_tensor *a);

/* Hot loops are compiled twice, for x86-64-v3 (AVX2+FMA) and the baseline, and
 * picked at load time. -ffp-contract=off and explicit fmaf keep both clones'
 * results bit-identical, so a result never depends on the CPU it ran on. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define QY_VEC __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define QY_VEC
#endif

/* e^x in f32 without a library call so loops over it vectorise: Cody-Waite
 * reduction x = n ln2 + r, |r| <= ln2/2, Cephes' degree-6 polynomial for e^r
 * (max error about 1 ulp), scale by 2^n built in the exponent bits. Inputs below
 * -87.3 (including -inf) give 0, above 88.7 give +inf (exp overflows f32 at 88.72). */
static inline float qy_fexp(float x) {
    float xc = x > 88.7f ? 88.7f : (x < -87.3f ? -87.3f : x);
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    float nc = n > 127.0f ? 127.0f : n; /* 2^128 is not a float: use 2^127 * 2 */
    int32_t bits = ((int32_t)nc + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    y = n > 127.0f ? y * 2.0f : y;
    y = x < -87.3f ? 0.0f : y;
    return x > 88.7f ? (float)INFINITY : y;
}

/* tanh through qy_fexp: 1 - 2/(e^2u + 1). Absolute error ~1e-7 (relative error
 * grows for |u| < 1e-4), so only where an absolute error is what matters (GELU). */
static inline float qy_ftanh_abs(float u) { return 1.0f - 2.0f / (qy_fexp(2.0f * u) + 1.0f); }

/* tanh in f32 without a library call, so tanh loops (GRU cells) vectorise:
 * |u| < 0.625: u P(u^2), P of degree 6 (a least-squares fit made for quarry);
 * otherwise 1 - 2/(e^2|u| + 1) through qy_fexp. Max error about 2 ulp (tests/
 * tensor: ftanh vs tanh), unlike qy_ftanh_abs, which is accurate only in
 * absolute terms. */
static inline float qy_ftanh(float u) {
    float a = fabsf(u), s = a * a;
    float p = 0.00214223191f;
    p = p * s + -0.00817615911f;
    p = p * s + 0.0216998942f;
    p = p * s + -0.0539465062f;
    p = p * s + 0.133332014f;
    p = p * s + -0.333333313f;
    p = p * s + 1.0f;
    float small = a * p;
    float large = 1.0f - 2.0f / (qy_fexp(2.0f * (a < 44.0f ? a : 44.0f)) + 1.0f);
    float r = copysignf(a < 0.625f ? small : large, u);
    return u != u ? u : r; /* NaN in, NaN out (the clamp above keeps qy_fexp finite) */
}

/* erf in f32 without a library call, so GELU's loops vectorise. |x| < 1:
 * x P(x^2), P of degree 6; 1 <= |x| < 4: 1 - e^(-x^2) Q(1/|x|), Q of degree 9
 * approximating erfc(x) e^(x^2); |x| >= 4: +-1 (erf(4) rounds to 1 in f32).
 * Coefficients are weighted least-squares fits on Chebyshev nodes made for
 * quarry; max error 2.4 ulp, mean 0.25 ulp against the exact erf (checked on
 * 2M points in [-6, 6] and 20k in [1e-8, 1]; tests/tensor: ferf vs erf). */
static inline float qy_ferf(float x) {
    float a = fabsf(x), s = a * a;
    float p = 7.89820187e-05f;
    p = p * s + -0.000802435155f;
    p = p * s + 0.00519005302f;
    p = p * s + -0.0268548075f;
    p = p * s + 0.112836123f;
    p = p * s + -0.376126289f;
    p = p * s + 1.12837923f;
    float small = a * p;
    float ac = a < 1.0f ? 1.0f : (a > 4.0f ? 4.0f : a);
    float t = 1.0f / ac;
    float q = 0.0320658349f;
    q = q * t + -0.187195152f;
    q = q * t + 0.456214011f;
    q = q * t + -0.561503887f;
    q = q * t + 0.259326607f;
    q = q * t + 0.218765482f;
    q = q * t + -0.371693611f;
    q = q * t + 0.0196039155f;
    q = q * t + 0.561885715f;
    q = q * t + 0.000114669296f;
    float large = 1.0f - qy_fexp(-(ac * ac)) * q;
    float r = a < 1.0f ? small : (a >= 4.0f ? 1.0f : large);
    return copysignf(r, x);
}

/* sum of n floats in 8 interleaved lanes combined in a fixed order (vectorises,
 * same bits on every CPU) */
float qy_vsum(const float *x, size_t n);
/* sum of e^(x[i] - shift) (f32 within chunks of 512, double across) and the max
 * of n >= 1 floats, both in a fixed order */
double qy_sum_exp_shift(const float *x, float shift, size_t n);
float qy_max(const float *x, size_t n);

/* Rows/last dim of a tensor: N = n / C. */
static inline int64_t qy_last(const qy_tensor *t) { return t->shape[t->ndim - 1]; }
static inline size_t qy_rows(const qy_tensor *t) { return t->n / (size_t)qy_last(t); }

/* Fixed chunking of `rows` for per-chunk partial sums: the split depends only
 * on rows (at most 64 chunks of at least min_rows). */
typedef struct qy_chunks {
    size_t rows, per, count;
} qy_chunks;
qy_chunks qy_chunks_of(size_t rows, size_t min_rows);

/* Single-threaded gemm on one block (BLAS or fallback). */
void qy_sgemm_serial(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* The blocked C kernel used without BLAS (kept callable so tests hold BLAS to it). */
void qy_sgemm_fallback(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                       int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

#endif
