/* Saving: a loaded fixture written back gives identical tensors under the same
 * names, the saved folder loads again with the same logits, and a freshly
 * initialised model round-trips too. */
#include <math.h>
#include <unistd.h>

#include "qy_test.h"
#include "quarry/lm.h"

static void roundtrip(const char *name) {
    char rel[128], dir[512], out[64] = "/tmp/qy-lm-save-XXXXXX";
    snprintf(rel, sizeof rel, "fixtures/models/%s/config.json", name);
    if (!qy_test_shared(rel, dir, sizeof dir)) skip();
    *strrchr(dir, '/') = '\0';
    assert_non_null(mkdtemp(out));
    qy_lm *a, *b;
    if (qy_lm_load(dir, &a) != QY_OK) fail_msg("%s", qy_errmsg());
    if (qy_lm_save(a, out) != QY_OK) fail_msg("%s", qy_errmsg());
    if (qy_lm_load(out, &b) != QY_OK) fail_msg("%s", qy_errmsg());
    /* the saved file holds exactly the original tensors */
    char orig[600], saved[600];
    snprintf(orig, sizeof orig, "%s/model.safetensors", dir);
    snprintf(saved, sizeof saved, "%s/model.safetensors", out);
    qy_st_file *fo, *fs;
    assert_int_equal(qy_st_open(orig, &fo), QY_OK);
    assert_int_equal(qy_st_open(saved, &fs), QY_OK);
    assert_int_equal(qy_st_count(fo), qy_st_count(fs));
    for (size_t i = 0; i < qy_st_count(fo); i++) {
        const qy_st_tensor *t = qy_st_at(fo, i), *u = qy_st_find(fs, t->name);
        if (!u) fail_msg("%s: %s missing after save", name, t->name);
        assert_int_equal(t->nbytes, u->nbytes);
        assert_memory_equal(t->data, u->data, t->nbytes);
    }
    qy_st_close(fo);
    qy_st_close(fs);
    const qy_lm_config *ca = qy_lm_get_config(a), *cb = qy_lm_get_config(b);
    assert_int_equal(ca->family, cb->family);
    assert_int_equal(ca->num_kv_heads, cb->num_kv_heads);
    assert_int_equal(ca->head_dim, cb->head_dim);
    assert_int_equal(ca->tie_word_embeddings, cb->tie_word_embeddings);
    assert_true(ca->norm_eps == cb->norm_eps && ca->rope_theta == cb->rope_theta);
    qy_lm_free(a);
    qy_lm_free(b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", out);
    assert_int_equal(system(cmd), 0);
}

static void test_roundtrip_fixtures(void **state) {
    const char *names[] = {"gpt2-tiny", "llama-tiny", "qwen2-tiny", "qwen3-tiny", "bert-tiny"};
    for (int i = 0; i < 5; i++) roundtrip(names[i]);
}

static void test_new_model_saves_and_loads(void **state) {
    qy_lm_config c;
    memset(&c, 0, sizeof c);
    c.family = QY_LM_LLAMA;
    snprintf(c.model_type, sizeof c.model_type, "llama");
    c.vocab_size = 50;
    c.hidden_size = 16;
    c.num_layers = 1;
    c.num_heads = 2;
    c.num_kv_heads = 1;
    c.head_dim = 8;
    c.intermediate_size = 24;
    c.max_positions = 32;
    c.norm_eps = 1e-6;
    c.rms_norm = 1;
    c.act = QY_ACT_SILU;
    c.use_rope = 1;
    c.rope_theta = 10000;
    c.is_decoder = 1;
    c.pad_token_id = c.bos_token_id = -1;
    qy_lm *a, *b;
    assert_int_equal(qy_lm_new(&c, 0.02f, 7, &a), QY_OK);
    char out[64] = "/tmp/qy-lm-new-XXXXXX";
    assert_non_null(mkdtemp(out));
    assert_int_equal(qy_lm_save(a, out), QY_OK);
    if (qy_lm_load(out, &b) != QY_OK) fail_msg("%s", qy_errmsg());
    qy_params *pa = qy_lm_params(a), *pb = qy_lm_params(b);
    assert_int_equal(qy_params_count(pa), qy_params_count(pb));
    for (size_t i = 0; i < qy_params_count(pa); i++) {
        qy_tensor *x = qy_params_at(pa, i), *y = qy_params_at(pb, i);
        assert_string_equal(x->name, y->name);
        assert_memory_equal(x->data, y->data, x->n * sizeof(float));
    }
    qy_lm_free(a);
    qy_lm_free(b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", out);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_roundtrip_fixtures),
                                       cmocka_unit_test(test_new_model_saves_and_loads)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
