/* gemm.c — single-precision matrix products: OpenBLAS cblas_sgemm when the build
 * found it, a blocked C kernel otherwise.
 *
 * Threads: OpenBLAS runs single-threaded (openblas_set_num_threads(1)) and quarry
 * splits C into blocks of rows (or columns) on its own pool. The block edges depend
 * only on M and N, so each element is computed by the same call at any thread
 * count (same bits at 1 and 16 threads), and OpenBLAS's own threads never spin
 * against the pool's workers between kernels. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "tensor/tensor_internal.h"

#ifdef QY_HAVE_OPENBLAS
#include <cblas.h>
#endif

/* fallback: C = alpha op(A) op(B) + beta C, i-k-j loop over 64x256 panels so the
 * inner loop runs over contiguous rows of B (vectorised by the compiler). */
void qy_sgemm_fallback(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                       int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            memset(c, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f)
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
    }
    enum { KB = 256 };
    float bt[KB * 64];
    for (int64_t k0 = 0; k0 < K; k0 += KB) {
        int64_t k1 = k0 + KB < K ? k0 + KB : K;
        for (int64_t j0 = 0; j0 < N; j0 += 64) {
            int64_t j1 = j0 + 64 < N ? j0 + 64 : N, nj = j1 - j0;
            /* pack op(B)[k0:k1, j0:j1] row-major */
            for (int64_t k = k0; k < k1; k++)
                for (int64_t j = j0; j < j1; j++)
                    bt[(k - k0) * 64 + (j - j0)] = tb ? B[j * ldb + k] : B[k * ldb + j];
            for (int64_t i = 0; i < M; i++) {
                float acc[64];
                memset(acc, 0, sizeof acc);
                for (int64_t k = k0; k < k1; k++) {
                    float a = ta ? A[k * lda + i] : A[i * lda + k];
                    const float *b = bt + (k - k0) * 64;
                    for (int64_t j = 0; j < nj; j++) acc[j] += a * b[j];
                }
                float *c = C + i * ldc + j0;
                for (int64_t j = 0; j < nj; j++) c[j] += alpha * acc[j];
            }
        }
    }
}

#ifdef QY_HAVE_OPENBLAS
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread_once(void) { openblas_set_num_threads(1); }
#endif

/* OpenBLAS runs in the calling thread only (see the top of this file) */
static void blas_single_thread(void) {
#ifdef QY_HAVE_OPENBLAS
    pthread_once(&blas_once, blas_single_thread_once);
#endif
}

void qy_sgemm_serial(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    blas_single_thread();
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
#ifdef QY_HAVE_OPENBLAS
    if (M == 1) {
        /* one row (batch-1 decoding): a matrix-vector product reads B once, where
         * sgemm would first pack it, doubling the memory traffic that bounds decoding */
        blasint incx = ta ? (blasint)lda : 1;
        if (tb)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)N, (blasint)K, alpha, B, (blasint)ldb, A, incx,
                        beta, C, 1);
        else
            cblas_sgemv(CblasRowMajor, CblasTrans, (blasint)K, (blasint)N, alpha, B, (blasint)ldb, A, incx,
                        beta, C, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (blasint)M,
                (blasint)N, (blasint)K, alpha, A, (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
#else
    qy_sgemm_fallback(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

typedef struct gemm_job {
    int ta, tb, split_rows;
    int64_t M, N, K, block;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int64_t lda, ldb, ldc;
} gemm_job;

static void gemm_range(void *vctx, size_t b, size_t e, int tid) {
    const gemm_job *j = vctx;
    for (size_t blk = b; blk < e; blk++) {
        int64_t s = (int64_t)blk * j->block;
        if (j->split_rows) {
            int64_t m = j->M - s < j->block ? j->M - s : j->block;
            const float *a = j->ta ? j->A + s : j->A + s * j->lda;
            qy_sgemm_serial(j->ta, j->tb, m, j->N, j->K, j->alpha, a, j->lda, j->B, j->ldb, j->beta,
                            j->C + s * j->ldc, j->ldc);
        } else {
            int64_t n = j->N - s < j->block ? j->N - s : j->block;
            const float *bp = j->tb ? j->B + s * j->ldb : j->B + s;
            qy_sgemm_serial(j->ta, j->tb, j->M, n, j->K, j->alpha, j->A, j->lda, bp, j->ldb, j->beta,
                            j->C + s, j->ldc);
        }
    }
}

void qy_sgemm(qy_pool *pool, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    blas_single_thread();
    if (M <= 0 || N <= 0) return;
    /* 4 equal blocks of rows (or columns), fewer for small matrices (>= 128 each):
     * every block re-packs the shared operand, so fewer, larger blocks cost less
     * (measured 2404 -> 2560 tokens per CPU-second from 8 blocks of 256), and 4 keep
     * 2 and 4 threads balanced. The count depends on the sizes only. */
    gemm_job j = {ta, tb, M >= N, M, N, K, 0, alpha, beta, A, B, C, lda, ldb, ldc};
    int64_t dim = j.split_rows ? M : N;
    int64_t nb = dim / 128 < 4 ? dim / 128 : 4;
    if (nb < 1) nb = 1;
    int64_t block = (dim + nb - 1) / nb;
    block = (block + 15) & ~(int64_t)15;
    j.block = block;
    size_t nblocks = (size_t)((dim + block - 1) / block);
    double flops = 2.0 * (double)M * (double)N * (double)K;
    /* a product of a few rows is bound by reading B, not by FLOPs: split it as
     * soon as B outgrows the caches of one core (a 768 x 768 projection in
     * batch-1 decoding reads 2.4 MB for 1.2 MFLOP) */
    double bbytes = 4.0 * (double)N * (double)K;
    int small = M <= 4 ? bbytes < 256.0 * 1024 : flops < 2e6;
    if (nblocks == 1 || small) {
        /* the same single block whatever the thread count */
        j.block = dim;
        gemm_range(&j, 0, 1, 0);
        return;
    }
    qy_pool_for(pool, nblocks, 1, gemm_range, &j);
}

const char *qy_gemm_backend(void) {
#ifdef QY_HAVE_OPENBLAS
    static char buf[160];
    if (!buf[0]) {
        const char *cfg = openblas_get_config();
        snprintf(buf, sizeof buf, "OpenBLAS (%s, core %s)", cfg ? cfg : "?", openblas_get_corename());
    }
    return buf;
#else
    return "quarry blocked C kernel";
#endif
}
