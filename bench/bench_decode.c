/* bench_decode.c — decoding speed of a ~100M-parameter Llama in f32 against the
 * machine's own limits, measured in the same run:
 *   - batch-1 decoding (KV cache, greedy) against the memory-bandwidth bound:
 *     tokens/s <= copy bandwidth / bytes of weights read per token;
 *   - prompt processing against the sgemm peak (2 x parameters FLOPs per token);
 *   - batched scoring (no-grad forward of B sequences) in tokens/s.
 * Copy bandwidth is STREAM's convention: 2 x bytes copied / time (read + write).
 *
 *   build/bench_decode [--threads N] [--layers 12] [--hidden 768] [--new 64] [--prompt 256] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quarry/gen.h"
#include "quarry/lm.h"

static double copy_bandwidth(void) {
    size_t n = (size_t)256 << 20; /* 256 MB, far beyond the caches */
    char *a = qy_malloc_aligned(n), *b = qy_malloc_aligned(n);
    if (!a || !b) return 0;
    memset(a, 1, n);
    memset(b, 2, n);
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        uint64_t t0 = qy_now_ns();
        memcpy(b, a, n);
        double s = qy_seconds_since(t0);
        double bw = 2.0 * (double)n / s;
        if (bw > best) best = bw;
        a[rep] = b[n - 1 - (size_t)rep]; /* keep the copies alive */
    }
    qy_free(a);
    qy_free(b);
    return best;
}

static double sgemm_peak(qy_pool *pool) {
    int64_t n = 1024;
    float *A = qy_malloc_aligned((size_t)(n * n) * 4), *B = qy_malloc_aligned((size_t)(n * n) * 4),
          *C = qy_malloc_aligned((size_t)(n * n) * 4);
    for (int64_t i = 0; i < n * n; i++) A[i] = B[i] = 0.001f * (float)(i % 97);
    double best = 0;
    for (int rep = 0; rep < 4; rep++) {
        uint64_t t0 = qy_now_ns();
        qy_sgemm(pool, 0, 0, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
        double s = qy_seconds_since(t0);
        double gf = 2.0 * (double)(n * n * n) / s / 1e9;
        if (gf > best) best = gf;
    }
    qy_free(A);
    qy_free(B);
    qy_free(C);
    return best;
}

int main(int argc, char **argv) {
    int threads = 0, layers = 12, hidden = 768, new_tokens = 64, prompt_len = 256;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--layers"))
            layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--hidden"))
            hidden = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--new"))
            new_tokens = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--prompt"))
            prompt_len = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: %s [--threads N] [--layers L] [--hidden C] [--new N] [--prompt N]\n",
                    argv[0]);
            return 2;
        }
    }
    qy_pool *pool;
    if (qy_pool_new(threads, &pool)) return 1;
    qy_lm_config c;
    memset(&c, 0, sizeof c);
    c.family = QY_LM_LLAMA;
    snprintf(c.model_type, sizeof c.model_type, "llama");
    c.vocab_size = 32000;
    c.hidden_size = hidden;
    c.num_layers = layers;
    c.num_heads = hidden / 64;
    c.num_kv_heads = hidden / 64;
    c.head_dim = 64;
    c.intermediate_size = hidden * 8 / 3 / 64 * 64;
    c.max_positions = 2048;
    c.norm_eps = 1e-6;
    c.rms_norm = 1;
    c.act = QY_ACT_SILU;
    c.use_rope = 1;
    c.rope_theta = 10000;
    c.tie_word_embeddings = 1;
    c.is_decoder = 1;
    c.pad_token_id = c.bos_token_id = -1;
    qy_lm *lm;
    if (qy_lm_new(&c, 0.02f, 1, &lm)) {
        fprintf(stderr, "%s\n", qy_errmsg());
        return 1;
    }
    size_t nparams = qy_params_numel(qy_lm_params(lm));
    double weight_bytes = 4.0 * (double)nparams;
    double bw = copy_bandwidth();
    double peak = sgemm_peak(pool);
    printf("model: Llama %d layers, hidden %d, vocab 32000, tied head: %.1fM parameters, %.0f MB f32\n",
           layers, hidden, (double)nparams / 1e6, weight_bytes / 1e6);
    printf("machine: copy bandwidth %.2f GB/s (STREAM convention), sgemm peak %.1f GFLOP/s, %d threads\n",
           bw / 1e9, peak, qy_pool_threads(pool));

    int32_t *prompt = qy_mallocn((size_t)prompt_len, sizeof(int32_t));
    for (int i = 0; i < prompt_len; i++) prompt[i] = (int32_t)((i * 7919) % 32000);
    qy_gen_model gm;
    if (qy_lm_decoder_new(lm, pool, &gm)) return 1;
    qy_gen_config gc;
    qy_gen_config_default(&gc);
    /* prompt only (one new token), then prompt + N new tokens: the difference is decoding */
    qy_gen_result *r;
    gc.max_new_tokens = 1;
    uint64_t t0 = qy_now_ns();
    if (qy_generate(&gm, prompt, prompt_len, &gc, &r)) {
        fprintf(stderr, "%s\n", qy_errmsg());
        return 1;
    }
    double t_prompt = qy_seconds_since(t0);
    qy_gen_result_free(r);
    gc.max_new_tokens = new_tokens + 1;
    t0 = qy_now_ns();
    if (qy_generate(&gm, prompt, prompt_len, &gc, &r)) return 1;
    double t_all = qy_seconds_since(t0);
    qy_gen_result_free(r);
    double decode_tps = new_tokens / (t_all - t_prompt);
    double bound = bw / weight_bytes;
    printf("decode, batch 1, greedy, KV cache: %.2f tokens/s; bandwidth bound %.2f tokens/s -> %.0f%% of the "
           "bound\n",
           decode_tps, bound, 100.0 * decode_tps / bound);
    double prompt_tps = prompt_len / t_prompt;
    double prompt_gflops = 2.0 * (double)nparams * prompt_tps / 1e9;
    printf("prompt processing (%d tokens): %.0f tokens/s, %.1f GFLOP/s (2 x params per token) = %.0f%% of "
           "sgemm peak\n",
           prompt_len, prompt_tps, prompt_gflops, 100.0 * prompt_gflops / peak);
    qy_lm_decoder_free(&gm);

    /* batched scoring: B sequences of T tokens, no-grad forward with logits */
    int B = 8, T = 128;
    int32_t *ids = qy_mallocn((size_t)(B * T), sizeof(int32_t));
    for (int i = 0; i < B * T; i++) ids[i] = (int32_t)((i * 104729) % 32000);
    qy_graph *g;
    qy_graph_new(pool, &g);
    qy_graph_set_grad_enabled(g, 0);
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        qy_graph_reset(g);
        qy_lm_batch b = {.B = B, .T = T, .ids = ids};
        qy_tensor *logits;
        t0 = qy_now_ns();
        if (qy_lm_forward(lm, g, &b, NULL, &logits)) return 1;
        double s = qy_seconds_since(t0);
        if (s < best) best = s;
    }
    printf("batched scoring (%d x %d tokens, logits over 32000): %.0f tokens/s, %.1f GFLOP/s\n", B, T,
           B * T / best, 2.0 * (double)nparams * B * T / best / 1e9);
    qy_graph_free(g);
    qy_free(ids);
    qy_free(prompt);
    qy_lm_free(lm);
    qy_pool_free(pool);
    return 0;
}
