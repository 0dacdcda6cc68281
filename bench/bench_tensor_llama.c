/* bench_tensor_llama.c — trains a Llama-style stack (d=256, 4 layers, 4 heads,
 * T=256, B=8, SwiGLU, RMSNorm, RoPE, vocab 4096) for a fixed number of steps in
 * quarry, then the same model in PyTorch (bench/torch_llama.py, /usr/bin/python3)
 * at the same thread count, and prints both side by side: tokens/s, their ratio,
 * achieved GFLOP/s, the sgemm peak measured in this run, and peak memory.
 *
 *   build/bench_tensor_llama --threads 2 --steps 10
 *   build/bench_tensor_llama --no-torch --profile     # per-op times of one step
 *
 * Each step: forward, backward, clip_grad_norm(1.0), AdamW. Warm-up steps are
 * not timed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "quarry/tensor.h"
#include "tiny_llama.h"

typedef struct opts {
    int threads, steps, warmup, B, T, no_torch;
    const char *torch_script;
} opts;

static void usage(FILE *f) {
    fprintf(f, "usage: bench_tensor_llama [--threads N] [--steps S] [--warmup W] [--batch B] [--seq T]\n"
               "                          [--torch-script PATH] [--no-torch]\n"
               "Trains the same Llama-style model in quarry and in PyTorch and compares tokens/s.\n");
}

static int parse(int argc, char **argv, opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define INTOPT(flag, field)          \
    if (strcmp(a, flag) == 0 && v) { \
        o->field = atoi(v);          \
        i++;                         \
        continue;                    \
    }
        INTOPT("--threads", threads)
        INTOPT("--steps", steps)
        INTOPT("--warmup", warmup)
        INTOPT("--batch", B)
        INTOPT("--seq", T)
#undef INTOPT
        if (strcmp(a, "--torch-script") == 0 && v) {
            o->torch_script = v;
            i++;
            continue;
        }
        if (strcmp(a, "--no-torch") == 0) {
            o->no_torch = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        fprintf(stderr, "bench_tensor_llama: unknown or incomplete option %s\n", a);
        usage(stderr);
        return 2;
    }
    if (o->threads < 1 || o->steps < 1 || o->warmup < 0 || o->B < 1 || o->T < 2) {
        fprintf(stderr, "bench_tensor_llama: --threads, --steps, --batch need >= 1, --seq >= 2\n");
        return 2;
    }
    return 0;
}

static double cpu_seconds(void);

/* best of several 1024^3 products through the same path the model uses; also
 * GFLOP per CPU-second (all threads), which a loaded machine does not distort */
static double sgemm_peak(qy_pool *pool, double *per_cpu_s) {
    enum { N = 1024 };
    float *A = qy_mallocn((size_t)N * N, sizeof(float)), *B = qy_mallocn((size_t)N * N, sizeof(float));
    float *C = qy_mallocn((size_t)N * N, sizeof(float));
    if (!A || !B || !C) return 0;
    for (size_t i = 0; i < (size_t)N * N; i++) {
        A[i] = (float)(i % 13) * 0.01f;
        B[i] = (float)(i % 7) * 0.01f;
    }
    double best = 0, cpu = 0;
    for (int r = 0; r < 5; r++) {
        uint64_t t0 = qy_now_ns();
        double c0 = cpu_seconds();
        qy_sgemm(pool, 0, 1, N, N, N, 1.0f, A, N, B, N, 0.0f, C, N);
        double s = qy_seconds_since(t0), gf = 2.0 * N * N * (double)N / s / 1e9;
        cpu += cpu_seconds() - c0;
        if (gf > best) best = gf;
    }
    *per_cpu_s = 5 * 2.0 * N * N * (double)N / cpu / 1e9;
    qy_free(A);
    qy_free(B);
    qy_free(C);
    return best;
}

/* CPU seconds of the whole process (all threads): on a shared machine the wall
 * clock also counts time spent waiting for a core */
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double run_torch(const opts *o, double *torch_rss_mb, double *torch_best, double *torch_cpu_tps) {
    char cmd[1024];
    /* torch.set_num_threads does not reach Debian's OpenBLAS: pin it to the same
     * thread count, or PyTorch runs its matrix products on every core */
    snprintf(
        cmd, sizeof cmd,
        "OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d /usr/bin/python3 %s --threads %d --steps %d --warmup %d "
        "--batch %d --seq %d",
        o->threads, o->threads, o->torch_script, o->threads, o->steps, o->warmup, o->B, o->T);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[512];
    double tps = -1;
    while (fgets(line, sizeof line, p)) {
        fputs("  torch| ", stdout);
        fputs(line, stdout);
        sscanf(line, "RESULT tokens_per_s=%lf best_tokens_per_s=%lf tokens_per_cpu_s=%lf peak_rss_mb=%lf",
               &tps, torch_best, torch_cpu_tps, torch_rss_mb);
    }
    if (pclose(p) != 0) return -1;
    return tps;
}

int main(int argc, char **argv) {
    opts o = {qy_threads_default(), 10, 2, 8, 256, 0, "bench/torch_llama.py"};
    if (parse(argc, argv, &o)) return 2;
    if (!o.no_torch) {
        FILE *f = fopen(o.torch_script, "r");
        if (!f) {
            fprintf(stderr,
                    "bench_tensor_llama: %s not found (run from the source root or pass "
                    "--torch-script, or --no-torch)\n",
                    o.torch_script);
            return 1;
        }
        fclose(f);
    }
    const tl_config cfg = {
        .V = 4096, .C = 256, .L = 4, .NH = 4, .NKV = 4, .FF = 768, .eps = 1e-5f, .theta = 10000.0f};
    qy_pool *pool;
    qy_params *ps;
    qy_graph *g;
    qy_optim *opt;
    tl_model m;
    if (qy_pool_new(o.threads, &pool) || qy_params_new(&ps) || tl_build(ps, &cfg, 1, &m) ||
        qy_graph_new(pool, &g) ||
        qy_adamw_new(ps, &(qy_adamw_cfg){.lr = 3e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .weight_decay = 0.1f},
                     &opt)) {
        fprintf(stderr, "bench_tensor_llama: %s\n", qy_errmsg());
        return 1;
    }
    qy_optim_set_pool(opt, pool);
    size_t ntok = (size_t)o.B * (size_t)o.T;
    int32_t *ids = qy_mallocn(ntok, sizeof *ids), *tg = qy_mallocn(ntok, sizeof *tg);
    qy_rng rng;
    qy_rng_seed(&rng, 42);
    for (size_t i = 0; i < ntok; i++) ids[i] = (int32_t)qy_rng_below(&rng, (uint64_t)cfg.V);
    for (size_t i = 0; i < ntok; i++) tg[i] = (i + 1) % (size_t)o.T ? ids[i + 1] : -100;

    printf("model: Llama-style d=%lld layers=%lld heads=%lld ff=%lld vocab=%lld, B=%d T=%d, %zu params\n",
           (long long)cfg.C, (long long)cfg.L, (long long)cfg.NH, (long long)cfg.FF, (long long)cfg.V, o.B,
           o.T, qy_params_numel(ps));
    printf("threads: %d   matmul: %s\n", o.threads, qy_gemm_backend());
    double peak_cpu, peak = sgemm_peak(pool, &peak_cpu);
    printf("sgemm peak (1024^3, %d threads): %.1f GFLOP/s, %.1f GFLOP per CPU-second\n", o.threads, peak,
           peak_cpu);

    double flops = tl_step_flops(&cfg, o.B, o.T), first_loss = 0, last_loss = 0;
    double *times = qy_calloc((size_t)o.steps, sizeof *times), cpu_total = 0;
    if (!times) return 1;
    for (int s = 0; s < o.warmup + o.steps; s++) {
        uint64_t t0 = qy_now_ns();
        double c0 = cpu_seconds();
        qy_graph_reset(g);
        qy_params_zero_grad(ps);
        qy_tensor *loss = tl_loss(g, &m, ids, tg, o.B, o.T);
        float norm;
        if (qy_graph_backward(g, loss) || qy_clip_grad_norm(ps, 1.0f, pool, &norm) ||
            qy_optim_step(opt, 3e-4f)) {
            fprintf(stderr, "bench_tensor_llama: step %d: %s\n", s, qy_errmsg());
            return 1;
        }
        double dt = qy_seconds_since(t0);
        if (s == 0) first_loss = loss->data[0];
        last_loss = loss->data[0];
        if (s >= o.warmup) {
            times[s - o.warmup] = dt;
            cpu_total += cpu_seconds() - c0;
        }
        printf("  quarry| step %2d loss %.4f  %.3f s\n", s, loss->data[0], dt);
    }
    /* the machine may be shared: the median step is the headline, the best step is shown too */
    double med = median(times, o.steps), best = times[0];
    double q_tps = (double)ntok / med, q_gflops = flops / med / 1e9, q_best = (double)ntok / best;
    double q_cpu_tps = (double)ntok * o.steps / cpu_total;
    double peak2_cpu, peak2 = sgemm_peak(pool, &peak2_cpu);
    if (peak2 > peak) peak = peak2;
    if (peak2_cpu > peak_cpu) peak_cpu = peak2_cpu;
    printf("sgemm peak re-measured after training: %.1f GFLOP/s (the higher of the two is used)\n", peak2);
    size_t pbytes = qy_params_numel(ps) * sizeof(float);
    size_t act = qy_graph_peak_bytes(g), opt_bytes = qy_optim_state_bytes(opt);
    qy_alloc_stats st;
    qy_alloc_get_stats(&st);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double budget = (double)(2 * pbytes + opt_bytes + act);
    printf("quarry: %.0f tokens per CPU-second, %.1f GFLOP per CPU-second = %.0f%% of sgemm's %.1f\n",
           q_cpu_tps, flops * q_cpu_tps / (double)ntok / 1e9,
           100.0 * flops * q_cpu_tps / (double)ntok / 1e9 / peak_cpu, peak_cpu);
    printf(
        "quarry: %.0f tokens/s (median step %.3f s; best step %.0f tokens/s), %.1f GFLOP/s (%.0f%% of sgemm "
        "peak; best step %.0f%%), loss %.4f -> %.4f\n",
        q_tps, med, q_best, q_gflops, 100.0 * q_gflops / peak, 100.0 * flops / best / 1e9 / peak, first_loss,
        last_loss);
    size_t fwd = qy_graph_forward_bytes(g);
    printf(
        "quarry memory: params %.1f MB + grads %.1f MB + AdamW state %.1f MB + graph arena %.1f MB (forward "
        "activations %.1f MB + backward's live gradients %.1f MB) = %.1f MB; allocator peak %.1f MB (%.2fx), "
        "process max RSS %.1f MB\n",
        pbytes / 1e6, pbytes / 1e6, opt_bytes / 1e6, act / 1e6, fwd / 1e6, (act - fwd) / 1e6, budget / 1e6,
        st.peak_bytes / 1e6, st.peak_bytes / budget, ru.ru_maxrss / 1e3);
    if (!o.no_torch) {
        double t_rss = 0, t_best = 0, t_cpu = 0, t_tps = run_torch(&o, &t_rss, &t_best, &t_cpu);
        if (t_tps <= 0) {
            fprintf(stderr, "bench_tensor_llama: the PyTorch run failed\n");
            return 1;
        }
        printf("\n%-10s %12s %16s %18s %10s %14s\n", "", "tokens/s", "best-step tok/s", "tokens/CPU-second",
               "GFLOP/s", "max RSS MB");
        printf("%-10s %12.0f %16.0f %18.0f %10.1f %14.1f\n", "quarry", q_tps, q_best, q_cpu_tps, q_gflops,
               ru.ru_maxrss / 1e3);
        printf("%-10s %12.0f %16.0f %18.0f %10.1f %14.1f\n", "pytorch", t_tps, t_best, t_cpu,
               flops * t_tps / (double)ntok / 1e9, t_rss);
        printf("ratio quarry/pytorch: %.2fx median step, %.2fx best step, %.2fx per CPU-second   (%d threads "
               "each, "
               "sgemm peak %.1f GFLOP/s)\n",
               q_tps / t_tps, q_best / t_best, q_cpu_tps / t_cpu, o.threads, peak);
    }
    qy_free(times);
    qy_free(ids);
    qy_free(tg);
    qy_optim_free(opt);
    qy_graph_free(g);
    qy_params_free(ps);
    qy_pool_free(pool);
    return 0;
}
