/* test_weights.c — loading a model's parameters into one f32 block, saving them
 * back under Hugging Face names, and writing config.json.
 *
 * Peer: the fixture folders written by transformers' save_pretrained. Loading
 * a fixture and saving it as F32 must give back the identical file; a written
 * config.json must read back to the same configuration. */
#include <unistd.h>

#include "model/lm_test_util.h"

static void expect_same_config(const qy_lm_config *a, const qy_lm_config *b) {
    assert_int_equal(a->family, b->family);
    assert_string_equal(a->architecture, b->architecture);
    assert_int_equal(a->vocab_size, b->vocab_size);
    assert_int_equal(a->hidden_size, b->hidden_size);
    assert_int_equal(a->num_layers, b->num_layers);
    assert_int_equal(a->num_heads, b->num_heads);
    assert_int_equal(a->num_kv_heads, b->num_kv_heads);
    assert_int_equal(a->head_dim, b->head_dim);
    assert_int_equal(a->intermediate_size, b->intermediate_size);
    assert_int_equal(a->max_positions, b->max_positions);
    assert_int_equal(a->type_vocab_size, b->type_vocab_size);
    assert_true(a->norm_eps == b->norm_eps && a->rope_theta == b->rope_theta &&
                a->rope_factor == b->rope_factor);
    assert_true(a->rope_low_freq_factor == b->rope_low_freq_factor &&
                a->rope_high_freq_factor == b->rope_high_freq_factor);
    assert_int_equal(a->rope_original_max_positions, b->rope_original_max_positions);
    assert_int_equal(a->rope_scaling, b->rope_scaling);
    assert_int_equal(a->act, b->act);
    assert_true(a->rms_norm == b->rms_norm && a->tie_word_embeddings == b->tie_word_embeddings);
    assert_true(a->qkv_bias == b->qkv_bias && a->o_bias == b->o_bias && a->mlp_bias == b->mlp_bias);
    assert_true(a->qk_norm == b->qk_norm && a->is_decoder == b->is_decoder && a->use_rope == b->use_rope);
    assert_true(a->initializer_range == b->initializer_range);
    assert_int_equal(a->pad_token_id, b->pad_token_id);
    assert_int_equal(a->bos_token_id, b->bos_token_id);
    assert_int_equal(a->n_eos, b->n_eos);
    for (int i = 0; i < a->n_eos; i++) assert_int_equal(a->eos_token_ids[i], b->eos_token_ids[i]);
    assert_string_equal(a->dtype, b->dtype);
}

static void test_fixture_load_save_identical(void **state) {
    (void)state;
    char dir[4096], path[4200], tmp[256], out[512];
    int seen = 0;
    make_tmpdir(tmp, sizeof tmp);
    for (int m = 0; m < N_FIXTURE_MODELS; m++) {
        if (!fixture_dir(fixture_models[m], dir, sizeof dir)) continue;
        seen++;
        uint64_t blocks = live_blocks();
        qy_lm_config c, c2;
        qy_st_file *st;
        qy_lm_spec *spec;
        qy_lm_weights w;
        assert_int_equal(qy_lm_config_read_dir(dir, &c), QY_OK);
        assert_int_equal(qy_st_open_dir(dir, &st), QY_OK);
        assert_int_equal(qy_lm_spec_new(&c, &spec), QY_OK);
        assert_int_equal(qy_lm_weights_load(spec, st, NULL, &w), QY_OK);
        assert_int_equal(w.numel, qy_lm_spec_numel(spec));
        assert_int_equal(((uintptr_t)w.data) % 64, 0);
        snprintf(out, sizeof out, "%s/%s", tmp, fixture_models[m]);
        assert_int_equal(qy_lm_weights_save(spec, &w, QY_ST_F32, out, 0), QY_OK);
        snprintf(path, sizeof path, "%s/config.json", out);
        assert_int_equal(qy_lm_config_write(&c, path), QY_OK);
        /* the weights file is byte-identical to save_pretrained's */
        char orig[4200];
        snprintf(orig, sizeof orig, "%s/model.safetensors", dir);
        snprintf(path, sizeof path, "%s/model.safetensors", out);
        expect_same_file(orig, path);
        /* the config reads back the same (generation_config.json was folded into c:
         * copy it so that read_dir sees the same ids) */
        snprintf(path, sizeof path, "%s/generation_config.json", dir);
        if (qy_file_exists(path)) {
            char *g;
            size_t lg;
            assert_int_equal(qy_read_file(path, 0, &g, &lg), QY_OK);
            snprintf(path, sizeof path, "%s/generation_config.json", out);
            assert_int_equal(qy_write_file_atomic(path, g, lg), QY_OK);
            qy_free(g);
        }
        assert_int_equal(qy_lm_config_read_dir(out, &c2), QY_OK);
        expect_same_config(&c, &c2);

        /* BF16: every value rounds to nearest even and reads back exactly that */
        assert_int_equal(qy_lm_weights_save(spec, &w, QY_ST_BF16, out, 0), QY_OK);
        qy_st_file *st2;
        qy_lm_weights w2;
        assert_int_equal(qy_st_open_dir(out, &st2), QY_OK);
        assert_int_equal(qy_lm_weights_load(spec, st2, NULL, &w2), QY_OK);
        for (size_t i = 0; i < w.numel; i++)
            assert_true(w2.data[i] == qy_bf16_to_f32(qy_f32_to_bf16(w.data[i])));
        assert_int_equal(qy_st_total_bytes(st2) * 2, qy_st_total_bytes(st));
        qy_lm_weights_free(&w2);
        qy_st_close(st2);

        qy_lm_weights_free(&w);
        qy_lm_spec_free(spec);
        qy_st_close(st);
        assert_int_equal(live_blocks(), blocks);
    }
    rm_rf(tmp);
    if (!seen) skip();
}

static const char *const synthetic_configs[] = {
    "{\"model_type\":\"llama\",\"hidden_size\":16,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
    "\"num_key_value_heads\":2,\"vocab_size\":40,\"intermediate_size\":24,\"attention_bias\":true,\"mlp_"
    "bias\":true,"
    "\"rope_theta\":500000,\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8,\"low_freq_factor\":1,"
    "\"high_freq_factor\":4,\"original_max_position_embeddings\":64},\"eos_token_id\":[3,4],\"bos_token_id\":"
    "1,"
    "\"torch_dtype\":\"bfloat16\",\"initializer_range\":0.01}",
    "{\"model_type\":\"qwen2\",\"hidden_size\":16,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
    "\"num_key_value_heads\":1,\"vocab_size\":40,\"intermediate_size\":24,\"tie_word_embeddings\":true,"
    "\"rope_parameters\":{\"rope_type\":\"linear\",\"factor\":2,\"rope_theta\":1e6}}",
    "{\"model_type\":\"qwen3\",\"hidden_size\":16,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
    "\"num_key_value_heads\":1,\"head_dim\":12,\"vocab_size\":40,\"intermediate_size\":24}",
    "{\"model_type\":\"gpt2\",\"n_embd\":16,\"n_layer\":1,\"n_head\":2,\"vocab_size\":40,\"n_positions\":32,"
    "\"activation_function\":\"gelu\",\"tie_word_embeddings\":false,\"eos_token_id\":null}",
    "{\"model_type\":\"bert\",\"hidden_size\":16,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
    "\"vocab_size\":40,\"intermediate_size\":24,\"type_vocab_size\":3,\"pad_token_id\":0}",
};

/* a model from scratch: random weights saved (sharded) and loaded back; the
 * config written and read back */
static void test_synthetic_roundtrip(void **state) {
    (void)state;
    char tmp[256], path[512];
    make_tmpdir(tmp, sizeof tmp);
    uint64_t blocks = live_blocks();
    for (size_t k = 0; k < sizeof synthetic_configs / sizeof synthetic_configs[0]; k++) {
        qy_lm_config c, c2;
        const char *json = synthetic_configs[k];
        assert_int_equal(qy_lm_config_parse(json, strlen(json), "config.json", &c), QY_OK);
        qy_lm_spec *spec;
        qy_lm_weights w, w2;
        assert_int_equal(qy_lm_spec_new(&c, &spec), QY_OK);
        assert_int_equal(qy_lm_weights_new(spec, &w), QY_OK);
        qy_rng r;
        qy_rng_seed(&r, k);
        for (size_t i = 0; i < w.numel; i++) w.data[i] = (float)(qy_rng_normal(&r) * c.initializer_range);
        assert_int_equal(qy_lm_weights_save(spec, &w, QY_ST_F32, tmp, 2000), QY_OK);
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", tmp);
        assert_true(qy_file_exists(path));
        snprintf(path, sizeof path, "%s/config.json", tmp);
        assert_int_equal(qy_lm_config_write(&c, path), QY_OK);
        assert_int_equal(qy_lm_config_read_dir(tmp, &c2), QY_OK);
        if (!c.architecture[0]) snprintf(c.architecture, sizeof c.architecture, "%s", c2.architecture);
        expect_same_config(&c, &c2);
        qy_st_file *st;
        assert_int_equal(qy_st_open_dir(tmp, &st), QY_OK);
        assert_int_equal(qy_lm_weights_load(spec, st, NULL, &w2), QY_OK);
        assert_memory_equal(w2.data, w.data, w.numel * sizeof(float));
        qy_st_close(st);
        qy_lm_weights_free(&w2);
        qy_lm_weights_free(&w);
        qy_lm_spec_free(spec);
        /* the next save must clear this one's shards (different counts) */
    }
    assert_int_equal(live_blocks(), blocks);
    /* a single-file save removes the index and every shard */
    qy_st_writer *wr;
    assert_int_equal(qy_st_writer_new(&wr), QY_OK);
    assert_int_equal(qy_st_writer_write_dir(wr, tmp, 0), QY_OK);
    qy_st_writer_free(wr);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test \"$(ls %s | tr '\\n' ' ')\" = 'config.json model.safetensors '", tmp);
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "ls -la %s", tmp);
        assert_int_equal(system(cmd), 0);
        fail();
    }
    rm_rf(tmp);
}

/* loading over a thread pool gives the same bits as one thread, across chunk
 * boundaries that cut tensors (a model of ~2.7 M parameters, chunks of 2^20) */
static void test_pool_load_bitwise(void **state) {
    (void)state;
    char tmp[256];
    make_tmpdir(tmp, sizeof tmp);
    const char *json =
        "{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":3,\"num_attention_heads\":4,"
        "\"vocab_size\":40001,\"intermediate_size\":176}";
    qy_lm_config c;
    assert_int_equal(qy_lm_config_parse(json, strlen(json), "config.json", &c), QY_OK);
    qy_lm_spec *spec;
    qy_lm_weights w, a, b;
    assert_int_equal(qy_lm_spec_new(&c, &spec), QY_OK);
    assert_int_equal(qy_lm_weights_new(spec, &w), QY_OK);
    assert_true(w.numel > (2u << 20));
    qy_rng r;
    qy_rng_seed(&r, 3);
    for (size_t i = 0; i < w.numel; i++) w.data[i] = (float)qy_rng_normal(&r);
    qy_pool *pool;
    assert_int_equal(qy_pool_new(3, &pool), QY_OK);
    static const qy_st_dtype dtypes[3] = {QY_ST_F32, QY_ST_F16, QY_ST_BF16};
    for (int d = 0; d < 3; d++) {
        assert_int_equal(qy_lm_weights_save(spec, &w, dtypes[d], tmp, 0), QY_OK);
        qy_st_file *st;
        assert_int_equal(qy_st_open_dir(tmp, &st), QY_OK);
        assert_int_equal(qy_lm_weights_load(spec, st, NULL, &a), QY_OK);
        assert_int_equal(qy_lm_weights_load(spec, st, pool, &b), QY_OK);
        assert_memory_equal(a.data, b.data, a.numel * sizeof(float));
        /* and each parameter equals its own conversion through the reader */
        for (size_t i = 0; i < qy_lm_spec_count(spec); i++) {
            const qy_st_tensor *t = qy_st_find(st, qy_lm_spec_at(spec, i)->name);
            float *one = malloc(t->numel * sizeof(float));
            assert_int_equal(qy_st_read_f32(t, one, t->numel), QY_OK);
            assert_memory_equal(one, b.data + b.offset[i], t->numel * sizeof(float));
            free(one);
        }
        if (dtypes[d] == QY_ST_F32) assert_memory_equal(a.data, w.data, w.numel * sizeof(float));
        qy_lm_weights_free(&a);
        qy_lm_weights_free(&b);
        qy_st_close(st);
    }
    qy_pool_free(pool);
    qy_lm_weights_free(&w);
    qy_lm_spec_free(spec);
    rm_rf(tmp);
}

static void test_weights_errors_and_alloc_failures(void **state) {
    (void)state;
    char tmp[256];
    make_tmpdir(tmp, sizeof tmp);
    const char *json = synthetic_configs[0];
    qy_lm_config c;
    assert_int_equal(qy_lm_config_parse(json, strlen(json), "config.json", &c), QY_OK);
    qy_lm_spec *spec, *other;
    qy_lm_weights w;
    assert_int_equal(qy_lm_spec_new(&c, &spec), QY_OK);
    assert_int_equal(qy_lm_weights_new(spec, &w), QY_OK);
    c.intermediate_size = 25;
    assert_int_equal(qy_lm_spec_new(&c, &other), QY_OK);
    expect_error(qy_lm_weights_save(other, &w, QY_ST_F32, tmp, 0), QY_ERR_ARG,
                 "do not belong to this model spec", NULL);
    assert_int_equal(qy_lm_weights_save(spec, &w, QY_ST_F16, tmp, 0), QY_OK);
    qy_st_file *st;
    qy_lm_weights w2;
    assert_int_equal(qy_st_open_dir(tmp, &st), QY_OK);
    expect_error(qy_lm_weights_load(other, st, NULL, &w2), QY_ERR_SHAPE,
                 "has shape [24, 16], the config implies [25, 16]", NULL);
    assert_null(w2.data);
    int ok = 0;
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", tmp);
    for (long n = 0; n < 500 && !ok; n++) {
        uint64_t blocks = live_blocks();
        qy_alloc_fail_after(n, 0);
        int s = qy_lm_weights_load(spec, st, NULL, &w2);
        if (!s) s = qy_lm_weights_save(spec, &w2, QY_ST_BF16, tmp, 0); /* one file: one fsync per try */
        if (!s) s = qy_lm_config_write(&c, path);
        qy_alloc_fail_after(-1, 0);
        if (!s)
            ok = 1;
        else
            assert_int_equal(s, QY_ERR_NOMEM);
        qy_lm_weights_free(&w2);
        assert_int_equal(live_blocks(), blocks);
    }
    assert_true(ok);
    qy_st_close(st);
    qy_lm_weights_free(&w);
    qy_lm_spec_free(other);
    qy_lm_spec_free(spec);
    rm_rf(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_load_save_identical),
        cmocka_unit_test(test_synthetic_roundtrip),
        cmocka_unit_test(test_pool_load_bitwise),
        cmocka_unit_test(test_weights_errors_and_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
