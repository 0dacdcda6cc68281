/* RoPE scaling in the forward pass.
 * - linear (factor 2): the model at positions 0, 2, 4, ... equals the unscaled model
 *   at positions 0, 1, 2, ... (angle = 2p * inv/2 = p * inv, exact in f32);
 * - llama3: the inverse frequencies equal transformers' _compute_llama3_parameters,
 *   evaluated here in PyTorch f32 (skipped without python3-torch), and the model
 *   runs with them. */
#include <math.h>

#include "qy_test.h"
#include "quarry/lm.h"

static qy_lm_config small_llama(void) {
    qy_lm_config c;
    memset(&c, 0, sizeof c);
    c.family = QY_LM_LLAMA;
    snprintf(c.model_type, sizeof c.model_type, "llama");
    c.vocab_size = 40;
    c.hidden_size = 32;
    c.num_layers = 2;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim = 8;
    c.intermediate_size = 48;
    c.max_positions = 64;
    c.norm_eps = 1e-6;
    c.rms_norm = 1;
    c.act = QY_ACT_SILU;
    c.use_rope = 1;
    c.rope_theta = 10000;
    c.rope_factor = 1;
    c.is_decoder = 1;
    c.pad_token_id = c.bos_token_id = -1;
    return c;
}

static void logits_at(qy_lm *lm, const int32_t *ids, int T, const int32_t *pos, float *out) {
    qy_graph *g;
    assert_int_equal(qy_graph_new(NULL, &g), QY_OK);
    qy_graph_set_grad_enabled(g, 0);
    qy_lm_batch b = {.B = 1, .T = T, .ids = ids, .positions = pos};
    qy_tensor *logits;
    assert_int_equal(qy_lm_forward(lm, g, &b, NULL, &logits), QY_OK);
    memcpy(out, logits->data, sizeof(float) * logits->n);
    qy_graph_free(g);
}

static void test_linear_scaling_halves_positions(void **state) {
    qy_lm_config c = small_llama();
    qy_lm *plain, *scaled;
    assert_int_equal(qy_lm_new(&c, 0.1f, 3, &plain), QY_OK);
    c.rope_scaling = QY_ROPE_LINEAR;
    c.rope_factor = 2;
    assert_int_equal(qy_lm_new(&c, 0.1f, 3, &scaled), QY_OK); /* same seed: same weights */
    int32_t ids[10] = {1, 5, 9, 3, 3, 7, 20, 11, 2, 39}, p1[10], p2[10];
    for (int i = 0; i < 10; i++) {
        p1[i] = i;
        p2[i] = 2 * i;
    }
    float a[400], b[400], d[400];
    logits_at(plain, ids, 10, p1, a);
    logits_at(scaled, ids, 10, p2, b);
    for (int i = 0; i < 400; i++) assert_true(a[i] == b[i]);
    logits_at(scaled, ids, 10, p1, d); /* and scaling does change the model */
    double diff = 0;
    for (int i = 0; i < 400; i++) diff = fmax(diff, fabs(a[i] - d[i]));
    assert_true(diff > 1e-4);
    qy_lm_free(plain);
    qy_lm_free(scaled);
}

static void test_llama3_frequencies_match_transformers_formula(void **state) {
    const char *have = getenv("QUARRY_HAVE_TORCH");
    if (!have || strcmp(have, "1")) {
        fprintf(stderr, "skip: python3-torch not installed\n");
        skip();
    }
    /* head_dim 128, theta 500000, factor 8, low 1, high 4, original 8192 (Llama 3.1) */
    const char *py = "/usr/bin/python3 -c \""
                     "import torch, math\n"
                     "dim, base = 128, 500000.0\n"
                     "inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))\n"
                     "factor, lo, hi, old = 8.0, 1.0, 4.0, 8192\n"
                     "low_w, high_w = old / lo, old / hi\n"
                     "wl = 2 * math.pi / inv\n"
                     "il = torch.where(wl > low_w, inv / factor, inv)\n"
                     "sm = (old / wl - lo) / (hi - lo)\n"
                     "smoothed = (1 - sm) * il / factor + sm * il\n"
                     "med = ~(wl < high_w) * ~(wl > low_w)\n"
                     "il = torch.where(med, smoothed, il)\n"
                     "print(' '.join('%.9e' % v for v in il.tolist()))\"";
    FILE *p = popen(py, "r");
    assert_non_null(p);
    double want[64];
    int n = 0;
    while (n < 64 && fscanf(p, "%lf", &want[n]) == 1) n++;
    assert_int_equal(pclose(p), 0);
    assert_int_equal(n, 64);
    qy_lm_config c = small_llama();
    c.hidden_size = 256;
    c.num_heads = 2;
    c.num_kv_heads = 1;
    c.head_dim = 128;
    c.rope_theta = 500000;
    c.rope_scaling = QY_ROPE_LLAMA3;
    c.rope_factor = 8;
    c.rope_low_freq_factor = 1;
    c.rope_high_freq_factor = 4;
    c.rope_original_max_positions = 8192;
    qy_lm *lm;
    assert_int_equal(qy_lm_new(&c, 0.05f, 1, &lm), QY_OK);
    const float *got = qy_lm_rope_inv_freq(lm);
    assert_non_null(got);
    for (int i = 0; i < 64; i++)
        if (fabs(got[i] - want[i]) > 2e-7 * fabs(want[i]))
            fail_msg("inv_freq[%d]: %.9e, transformers' formula %.9e", i, got[i], want[i]);
    int32_t ids[4] = {1, 2, 3, 4};
    float out[160];
    logits_at(lm, ids, 4, NULL, out);
    for (int i = 0; i < 160; i++) assert_true(isfinite(out[i]));
    qy_lm_free(lm);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_linear_scaling_halves_positions),
                                       cmocka_unit_test(test_llama3_frequencies_match_transformers_formula)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
