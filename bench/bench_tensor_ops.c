/* bench_tensor_ops.c — per-op microbenchmarks of the fused kernels (forward +
 * backward), quarry next to PyTorch (bench/torch_ops.py) at the same thread count:
 *   attention   causal SDPA, B=8 T=256 NH=4 HS=64 (quarry: fused, tiles of 64
 *               queries, probabilities recomputed; torch 1.13: eager softmax(QK^T)V)
 *   cross_ent   cross-entropy over N=2048 rows of V=4096 logits
 *   rmsnorm     (2048, 256)      swiglu  (2048, 768) x 2      rope (8, 256, 256)
 *
 *   build/bench_tensor_ops [--threads N] [--reps R] [--no-torch] [--torch-script PATH]
 * Each figure is the median of R repetitions, in milliseconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quarry/tensor.h"

enum { B = 8, T = 256, NH = 4, HS = 64, C = NH * HS, N = B * T, V = 4096, FF = 768 };

/* process CPU seconds (all threads): not inflated by waiting for a core */
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static qy_tensor *rand_input(qy_graph *g, int ndim, const int64_t *shape, qy_rng *r) {
    qy_tensor *t = qy_zeros(g, ndim, shape);
    if (!t) return NULL;
    for (size_t i = 0; i < t->n; i++) t->data[i] = (float)qy_rng_normal(r);
    qy_set_requires_grad(t, 1);
    return t;
}

typedef qy_tensor *(*op_fn)(qy_graph *g, qy_tensor **in, const int32_t *targets);

static qy_tensor *op_attention(qy_graph *g, qy_tensor **in, const int32_t *tg) {
    return qy_attention(g, in[0], in[1], in[2], NH, NH, 0.0f, 1, NULL);
}
static qy_tensor *op_ce(qy_graph *g, qy_tensor **in, const int32_t *tg) {
    return qy_cross_entropy(g, in[0], tg, NULL, -100, QY_REDUCE_MEAN);
}
static qy_tensor *op_rmsnorm(qy_graph *g, qy_tensor **in, const int32_t *tg) {
    return qy_rmsnorm(g, in[0], in[1], 1e-5f);
}
static qy_tensor *op_swiglu(qy_graph *g, qy_tensor **in, const int32_t *tg) {
    return qy_swiglu(g, in[0], in[1]);
}
static qy_tensor *op_rope(qy_graph *g, qy_tensor **in, const int32_t *tg) {
    return qy_rope(g, in[0], HS, 10000.0f, NULL, 0);
}

typedef struct bench_op {
    const char *name;
    op_fn fn;
    int nin;
    int ndim[3];
    int64_t shape[3][3];
} bench_op;

static const bench_op ops[] = {
    {"attention", op_attention, 3, {3, 3, 3}, {{B, T, C}, {B, T, C}, {B, T, C}}},
    {"cross_ent", op_ce, 1, {2}, {{N, V}}},
    {"rmsnorm", op_rmsnorm, 2, {2, 1}, {{N, C}, {C}}},
    {"swiglu", op_swiglu, 2, {2, 2}, {{N, FF}, {N, FF}}},
    {"rope", op_rope, 1, {3}, {{B, T, C}}},
};
#define NOPS (sizeof ops / sizeof ops[0])

int main(int argc, char **argv) {
    int threads = qy_threads_default(), reps = 10, no_torch = 0;
    const char *script = "bench/torch_ops.py";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--torch-script") == 0 && i + 1 < argc)
            script = argv[++i];
        else if (strcmp(argv[i], "--no-torch") == 0)
            no_torch = 1;
        else {
            fprintf(stderr,
                    "usage: bench_tensor_ops [--threads N] [--reps R] [--no-torch] [--torch-script PATH]\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (threads < 1 || reps < 1 || reps > 1000) {
        fprintf(stderr, "bench_tensor_ops: --threads >= 1 and --reps in 1..1000\n");
        return 2;
    }
    qy_pool *pool;
    qy_graph *g;
    if (qy_pool_new(threads, &pool) || qy_graph_new(pool, &g)) return 1;
    int32_t *tg = qy_mallocn(N, sizeof *tg);
    qy_rng r;
    qy_rng_seed(&r, 1);
    for (int i = 0; i < N; i++) tg[i] = (int32_t)qy_rng_below(&r, V);
    double qms[NOPS], tms[NOPS], qcpu[NOPS], tcpu[NOPS];
    size_t qmem[NOPS];
    for (size_t k = 0; k < NOPS; k++) {
        double t[1000], c[1000];
        qy_graph_free(g); /* a fresh graph per op, so its peak is this op's */
        if (qy_graph_new(pool, &g)) return 1;
        for (int rep = 0; rep < reps + 1; rep++) {
            qy_graph_reset(g);
            qy_tensor *in[3];
            for (int j = 0; j < ops[k].nin; j++) in[j] = rand_input(g, ops[k].ndim[j], ops[k].shape[j], &r);
            uint64_t t0 = qy_now_ns();
            double c0 = cpu_seconds();
            qy_tensor *y = ops[k].fn(g, in, tg);
            qy_tensor *loss = y && y->n > 1 ? qy_sum(g, y) : y;
            if (qy_graph_backward(g, loss)) {
                fprintf(stderr, "bench_tensor_ops: %s: %s\n", ops[k].name, qy_errmsg());
                return 1;
            }
            if (rep > 0) { /* the first run warms the arena */
                t[rep - 1] = qy_seconds_since(t0) * 1e3;
                c[rep - 1] = (cpu_seconds() - c0) * 1e3;
            }
        }
        qsort(t, (size_t)reps, sizeof t[0], cmp_double);
        qsort(c, (size_t)reps, sizeof c[0], cmp_double);
        qms[k] = t[reps / 2];
        qcpu[k] = c[reps / 2];
        qmem[k] = qy_graph_peak_bytes(g);
        tms[k] = tcpu[k] = -1;
    }
    if (!no_torch) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s --threads %d --reps %d", script, threads, reps);
        FILE *p = popen(cmd, "r");
        char line[256], name[64];
        double ms, cms;
        while (p && fgets(line, sizeof line, p))
            if (sscanf(line, "OP %63s %lf %lf", name, &ms, &cms) == 3)
                for (size_t k = 0; k < NOPS; k++)
                    if (strcmp(name, ops[k].name) == 0) {
                        tms[k] = ms;
                        tcpu[k] = cms;
                    }
        if (!p || pclose(p) != 0)
            fprintf(stderr, "bench_tensor_ops: %s failed; PyTorch column left empty\n", script);
    }
    printf("forward+backward, median of %d, %d threads: wall ms, and CPU ms (all threads)\n", reps, threads);
    printf("%-10s %10s %10s %8s %10s %10s %8s %12s\n", "op", "quarry", "pytorch", "ratio", "q CPU", "pt CPU",
           "ratio", "q peak MB");
    /* graph peak: inputs, output, saved state and gradients of one forward+backward */
    for (size_t k = 0; k < NOPS; k++) {
        if (tms[k] > 0)
            printf("%-10s %10.2f %10.2f %7.2fx %10.2f %10.2f %7.2fx %12.1f\n", ops[k].name, qms[k], tms[k],
                   tms[k] / qms[k], qcpu[k], tcpu[k], tcpu[k] / qcpu[k], qmem[k] / 1e6);
        else
            printf("%-10s %10.2f %10s %8s %10.2f %10s %8s %12.1f\n", ops[k].name, qms[k], "-", "-", qcpu[k],
                   "-", "-", qmem[k] / 1e6);
    }
    qy_free(tg);
    qy_graph_free(g);
    qy_pool_free(pool);
    return 0;
}
