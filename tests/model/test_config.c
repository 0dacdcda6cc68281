/* test_config.c — config.json / generation_config.json parsing and the family
 * tensor specs.
 *
 * Peers: the fixture folders written by transformers 5.17 (config values, the
 * tensors save_pretrained stored, and golden.json's gradient list, which is
 * the model's named_parameters() in order). Inline configs cover the older
 * config style (top-level rope_theta + rope_scaling) and every rejection. */
#include <math.h>

#include "model/lm_test_util.h"

static int parse(const char *json, qy_lm_config *c) {
    return qy_lm_config_parse(json, strlen(json), "config.json", c);
}

/* ------------------------------------------------------------- fixtures */

static void test_fixture_configs(void **state) {
    (void)state;
    char dir[4096];
    if (!fixture_dir("llama-tiny", dir, sizeof dir)) skip();
    qy_lm_config c;
    assert_int_equal(qy_lm_config_read_dir(dir, &c), QY_OK);
    assert_int_equal(c.family, QY_LM_LLAMA);
    assert_string_equal(c.architecture, "LlamaForCausalLM");
    assert_string_equal(c.dtype, "float32");
    assert_int_equal(c.hidden_size, 64);
    assert_int_equal(c.num_heads, 4);
    assert_int_equal(c.num_kv_heads, 2);
    assert_int_equal(c.head_dim, 16);
    assert_int_equal(c.intermediate_size, 176);
    assert_int_equal(c.vocab_size, 1024);
    assert_int_equal(c.max_positions, 128);
    assert_true(c.norm_eps == 1e-6 && c.rms_norm && c.act == QY_ACT_SILU);
    assert_true(c.rope_theta == 10000.0 && c.rope_scaling == QY_ROPE_DEFAULT && c.use_rope);
    assert_false(c.tie_word_embeddings || c.qkv_bias || c.o_bias || c.mlp_bias || c.qk_norm);
    assert_int_equal(c.bos_token_id, 1);
    assert_int_equal(c.n_eos, 1);
    assert_int_equal(c.eos_token_ids[0], 2);
    assert_int_equal(c.pad_token_id, -1);

    assert_non_null(fixture_dir("gpt2-tiny", dir, sizeof dir));
    assert_int_equal(qy_lm_config_read_dir(dir, &c), QY_OK);
    assert_int_equal(c.family, QY_LM_GPT2);
    assert_int_equal(c.intermediate_size, 256); /* n_inner null: 4 * n_embd */
    assert_int_equal(c.head_dim, 16);
    assert_true(c.norm_eps == 1e-5 && !c.rms_norm && c.act == QY_ACT_GELU_TANH && !c.use_rope);
    assert_true(c.tie_word_embeddings && c.qkv_bias && c.o_bias && c.mlp_bias && c.is_decoder);
    assert_int_equal(c.bos_token_id, 50256);

    assert_non_null(fixture_dir("qwen2-tiny", dir, sizeof dir));
    assert_int_equal(qy_lm_config_read_dir(dir, &c), QY_OK);
    assert_true(c.family == QY_LM_QWEN2 && c.qkv_bias && !c.o_bias && c.num_kv_heads == 1 &&
                c.tie_word_embeddings);

    assert_non_null(fixture_dir("qwen3-tiny", dir, sizeof dir));
    assert_int_equal(qy_lm_config_read_dir(dir, &c), QY_OK);
    assert_true(c.family == QY_LM_QWEN3 && c.qk_norm && c.head_dim == 32 && !c.qkv_bias);

    assert_non_null(fixture_dir("bert-tiny", dir, sizeof dir));
    assert_int_equal(qy_lm_config_read_dir(dir, &c), QY_OK);
    assert_true(c.family == QY_LM_BERT && !c.is_decoder && c.norm_eps == 1e-12 && c.act == QY_ACT_GELU);
    assert_int_equal(c.type_vocab_size, 2);
    assert_int_equal(c.pad_token_id, 0);
}

/* the spec holds exactly the tensors save_pretrained wrote, with their shapes,
 * and lists them in named_parameters() order (golden.json's grads) */
static void test_fixture_specs(void **state) {
    (void)state;
    char dir[4096], path[4200];
    int seen = 0;
    for (int m = 0; m < N_FIXTURE_MODELS; m++) {
        if (!fixture_dir(fixture_models[m], dir, sizeof dir)) continue;
        seen++;
        uint64_t blocks = live_blocks();
        qy_lm_config c;
        qy_st_file *st;
        qy_lm_spec *spec;
        assert_int_equal(qy_lm_config_read_dir(dir, &c), QY_OK);
        assert_int_equal(qy_st_open_dir(dir, &st), QY_OK);
        assert_int_equal(qy_lm_spec_new(&c, &spec), QY_OK);
        const qy_st_tensor **found = calloc(qy_lm_spec_count(spec), sizeof *found);
        size_t unused = 99;
        assert_int_equal(qy_lm_spec_check(spec, st, found, &unused), QY_OK);
        assert_int_equal(unused, 0);
        assert_int_equal(qy_lm_spec_count(spec), qy_st_count(st));
        size_t file_numel = 0;
        for (size_t i = 0; i < qy_st_count(st); i++) file_numel += qy_st_at(st, i)->numel;
        assert_int_equal(qy_lm_spec_numel(spec), file_numel);
        for (size_t i = 0; i < qy_lm_spec_count(spec); i++) {
            assert_non_null(found[i]);
            assert_string_equal(found[i]->name, qy_lm_spec_at(spec, i)->name);
        }
        qy_lm_memory mem;
        assert_int_equal(qy_lm_spec_memory(spec, &mem), QY_OK);
        assert_int_equal(mem.weights, 4 * file_numel);
        assert_int_equal(mem.total, 16 * file_numel);
        if (c.is_decoder) {
            snprintf(path, sizeof path, "%s/golden.json", dir);
            qy_json *g;
            assert_int_equal(qy_json_read_file(path, &g), QY_OK);
            qy_jref root = qy_json_ref(g), grads, e;
            size_t n;
            assert_int_equal(qy_jref_object(&root, ".grads", &grads, &n), QY_OK);
            assert_int_equal(n, qy_lm_spec_count(spec));
            for (size_t i = 0; i < n; i++) {
                const char *key;
                assert_int_equal(qy_jref_at(&grads, i, &e, &key), QY_OK);
                assert_string_equal(key, qy_lm_spec_at(spec, i)->name);
            }
            qy_json_free(g);
        }
        free(found);
        qy_lm_spec_free(spec);
        qy_st_close(st);
        assert_int_equal(live_blocks(), blocks);
    }
    if (!seen) skip();
}

/* ------------------------------------------------------------ inline */

#define LLAMA_BASE                                                                                   \
    "\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4," \
    "\"vocab_size\":100,\"intermediate_size\":96"

static void test_rope_styles(void **state) {
    (void)state;
    qy_lm_config c;
    /* older style: top-level theta, rope_scaling with "type" or "rope_type" */
    assert_int_equal(parse("{" LLAMA_BASE
                           ",\"rope_theta\":500000.0,\"rope_scaling\":{\"rope_type\":\"llama3\","
                           "\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                           "\"original_max_position_embeddings\":8192}}",
                           &c),
                     QY_OK);
    assert_true(c.rope_theta == 500000.0 && c.rope_scaling == QY_ROPE_LLAMA3 && c.rope_factor == 8.0);
    assert_true(c.rope_low_freq_factor == 1.0 && c.rope_high_freq_factor == 4.0);
    assert_int_equal(c.rope_original_max_positions, 8192);
    /* transformers 5 style */
    assert_int_equal(parse("{" LLAMA_BASE ",\"rope_parameters\":{\"rope_type\":\"linear\",\"factor\":2.0,"
                           "\"rope_theta\":1000.0}}",
                           &c),
                     QY_OK);
    assert_true(c.rope_theta == 1000.0 && c.rope_scaling == QY_ROPE_LINEAR && c.rope_factor == 2.0);
    assert_int_equal(parse("{" LLAMA_BASE ",\"rope_scaling\":{\"type\":\"linear\",\"factor\":4}}", &c),
                     QY_OK);
    assert_true(c.rope_theta == 10000.0 && c.rope_scaling == QY_ROPE_LINEAR && c.rope_factor == 4.0);
    assert_int_equal(parse("{" LLAMA_BASE ",\"rope_scaling\":null,\"rope_theta\":20000}", &c), QY_OK);
    assert_true(c.rope_theta == 20000.0 && c.rope_scaling == QY_ROPE_DEFAULT);
    /* rejections name the field and what is known */
    expect_error(parse("{" LLAMA_BASE ",\"rope_parameters\":{\"rope_type\":\"yarn\",\"factor\":4}}", &c),
                 QY_ERR_UNSUPPORTED,
                 "config.json: .rope_parameters.rope_type: RoPE scaling 'yarn' is not supported",
                 "default, linear and llama3", NULL);
    expect_error(parse("{" LLAMA_BASE ",\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":4}}", &c),
                 QY_ERR_UNSUPPORTED, ".rope_scaling.type: RoPE scaling 'dynamic'", NULL);
    expect_error(parse("{" LLAMA_BASE ",\"rope_parameters\":{\"rope_theta\":\"10000\"}}", &c), QY_ERR_FORMAT,
                 "config.json: .rope_parameters.rope_theta: expected number", NULL);
    expect_error(parse("{" LLAMA_BASE ",\"rope_parameters\":{\"rope_theta\":1e999}}", &c), QY_ERR_FORMAT,
                 "config.json: .rope_parameters.rope_theta: expected a finite number", NULL);
    expect_error(parse("{" LLAMA_BASE ",\"rope_theta\":-1}", &c), QY_ERR_RANGE,
                 ".rope_theta: expected a positive number", NULL);
    expect_error(parse("{" LLAMA_BASE ",\"rope_parameters\":{\"rope_type\":\"linear\"}}", &c),
                 QY_ERR_NOT_FOUND, ".rope_parameters.factor: missing", NULL);
    expect_error(
        parse("{" LLAMA_BASE ",\"rope_parameters\":{\"rope_type\":\"llama3\",\"factor\":8,"
              "\"low_freq_factor\":4,\"high_freq_factor\":1,\"original_max_position_embeddings\":8192}}",
              &c),
        QY_ERR_RANGE, "high_freq_factor (1) must exceed low_freq_factor (4)", NULL);
    expect_error(parse("{" LLAMA_BASE ",\"rope_parameters\":{\"full_attention\":{\"rope_theta\":1}}}", &c),
                 QY_ERR_UNSUPPORTED, "per layer type", NULL);
    expect_error(parse("{" LLAMA_BASE
                       ",\"rope_parameters\":{\"rope_type\":\"default\",\"partial_rotary_factor\":0.5}}",
                       &c),
                 QY_ERR_UNSUPPORTED, "partial_rotary_factor", NULL);
}

static void test_families_and_defaults(void **state) {
    (void)state;
    qy_lm_config c;
    /* qwen3 without head_dim: transformers' default 128, independent of hidden/heads */
    assert_int_equal(parse("{\"model_type\":\"qwen3\",\"hidden_size\":64,\"num_hidden_layers\":1,"
                           "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"vocab_size\":10,"
                           "\"intermediate_size\":8,\"eos_token_id\":[5,7],\"attention_bias\":true}",
                           &c),
                     QY_OK);
    assert_int_equal(c.head_dim, 128);
    assert_int_equal(c.n_eos, 2);
    assert_int_equal(c.eos_token_ids[1], 7);
    assert_true(c.qkv_bias && c.o_bias && c.qk_norm && !c.tie_word_embeddings && c.max_positions == 32768);
    /* llama: GQA default (kv = heads), derived head_dim, torch_dtype, mlp_bias */
    assert_int_equal(
        parse("{" LLAMA_BASE ",\"torch_dtype\":\"bfloat16\",\"mlp_bias\":true,\"attention_bias\":true}", &c),
        QY_OK);
    assert_true(c.num_kv_heads == 4 && c.head_dim == 16 && c.mlp_bias && c.o_bias && c.max_positions == 2048);
    assert_string_equal(c.dtype, "bfloat16");
    /* gpt2 under HF generic names, relu */
    assert_int_equal(parse("{\"model_type\":\"gpt2\",\"hidden_size\":32,\"num_hidden_layers\":1,"
                           "\"num_attention_heads\":2,\"activation_function\":\"relu\",\"n_inner\":50}",
                           &c),
                     QY_OK);
    assert_true(c.vocab_size == 50257 && c.max_positions == 1024 && c.intermediate_size == 50 &&
                c.act == QY_ACT_RELU);
    /* generation_config over a config */
    qy_lm_gen_config g;
    qy_lm_gen_config_defaults(&c, &g);
    const char *gen = "{\"eos_token_id\":[1,2,3],\"do_sample\":true,\"temperature\":0.7,\"top_p\":0.9,"
                      "\"top_k\":20,\"max_new_tokens\":64,\"repetition_penalty\":1.1}";
    assert_int_equal(qy_lm_gen_config_parse(gen, strlen(gen), "generation_config.json", &g), QY_OK);
    assert_true(g.do_sample && g.temperature == 0.7 && g.top_p == 0.9 && g.top_k == 20 && g.n_eos == 3);
    assert_true(g.max_new_tokens == 64 && g.repetition_penalty == 1.1 && g.num_beams == 1);
    const char *badgen = "{\"top_p\":1.5}";
    expect_error(qy_lm_gen_config_parse(badgen, strlen(badgen), "generation_config.json", &g), QY_ERR_RANGE,
                 "generation_config.json: .top_p: 1.5 is outside (0, 1]", NULL);
}

static void test_config_errors(void **state) {
    (void)state;
    qy_lm_config c;
    expect_error(parse("{\"model_type\":\"mistral\"}", &c), QY_ERR_UNSUPPORTED,
                 "config.json: .model_type: 'mistral' is not a family quarry knows (known: gpt2, llama, "
                 "qwen2, qwen3, bert)",
                 NULL);
    expect_error(parse("{\"hidden_size\":4}", &c), QY_ERR_NOT_FOUND, "config.json: .model_type: missing",
                 NULL);
    expect_error(parse("{\"model_type\":\"llama\",\"num_hidden_layers\":2}", &c), QY_ERR_NOT_FOUND,
                 "config.json: .vocab_size: missing", NULL);
    expect_error(parse("{\"model_type\":\"llama\",\"vocab_size\":10,\"num_hidden_layers\":2}", &c),
                 QY_ERR_NOT_FOUND, "config.json: .hidden_size: missing (a required size)", NULL);
    expect_error(parse("{" LLAMA_BASE ",\"rms_norm_eps\":NaN}", &c), QY_ERR_FORMAT,
                 "config.json: line 1: NaN or Infinity where a finite number is expected", NULL);
    expect_error(parse("{" LLAMA_BASE ",\n\"rms_norm_eps\":-Infinity}", &c), QY_ERR_FORMAT,
                 "line 2: NaN or Infinity", NULL);
    expect_error(parse("{" LLAMA_BASE ",\"rms_norm_eps\":1e400}", &c), QY_ERR_FORMAT,
                 ".rms_norm_eps: expected a finite number", NULL);
    expect_error(parse("{" LLAMA_BASE ",\"rms_norm_eps\":0}", &c), QY_ERR_RANGE,
                 "epsilon 0: expected a number in (0, 1)", NULL);
    expect_error(parse("{\"model_type\":\"llama\",\"hidden_size\":1e12,\"num_hidden_layers\":2,\"num_"
                       "attention_heads\":4,"
                       "\"vocab_size\":100,\"intermediate_size\":96}",
                       &c),
                 QY_ERR_RANGE, ".hidden_size: 1000000000000 is outside 1..65536", NULL);
    expect_error(parse("{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2.5,\"num_"
                       "attention_heads\":4,"
                       "\"vocab_size\":100,\"intermediate_size\":96}",
                       &c),
                 QY_ERR_FORMAT, ".num_hidden_layers: expected an integer", NULL);
    expect_error(parse("{" LLAMA_BASE ",\"num_key_value_heads\":3}", &c), QY_ERR_RANGE,
                 ".num_attention_heads 4 is not a multiple of .num_key_value_heads 3", NULL);
    expect_error(
        parse(
            "{\"model_type\":\"llama\",\"hidden_size\":66,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
            "\"vocab_size\":100,\"intermediate_size\":96}",
            &c),
        QY_ERR_RANGE, ".hidden_size 66 is not a multiple of .num_attention_heads 4", NULL);
    expect_error(parse("{" LLAMA_BASE ",\"hidden_act\":\"quick_gelu\"}", &c), QY_ERR_UNSUPPORTED,
                 ".hidden_act: activation 'quick_gelu' is not supported", NULL);
    expect_error(
        parse(
            "{\"model_type\":\"qwen2\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
            "\"vocab_size\":100,\"intermediate_size\":96,\"use_sliding_window\":true}",
            &c),
        QY_ERR_UNSUPPORTED, ".use_sliding_window: true is not supported (sliding-window attention)", NULL);
    expect_error(
        parse(
            "{\"model_type\":\"qwen2\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
            "\"vocab_size\":100,\"intermediate_size\":96,\"layer_types\":[\"full_attention\",\"sliding_"
            "attention\"]}",
            &c),
        QY_ERR_UNSUPPORTED, ".layer_types[1]: 'sliding_attention'", NULL);
    expect_error(parse("{\"model_type\":\"gpt2\",\"n_embd\":64,\"n_layer\":2,\"n_head\":4,"
                       "\"scale_attn_by_inverse_layer_idx\":true}",
                       &c),
                 QY_ERR_UNSUPPORTED, ".scale_attn_by_inverse_layer_idx: true is not supported", NULL);
    expect_error(
        parse("{\"model_type\":\"bert\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
              "\"vocab_size\":100,\"intermediate_size\":96,\"position_embedding_type\":\"relative_key\"}",
              &c),
        QY_ERR_UNSUPPORTED, ".position_embedding_type: 'relative_key' is not supported", NULL);
    expect_error(parse("{" LLAMA_BASE ",\"eos_token_id\":[1,\"2\"]}", &c), QY_ERR_FORMAT,
                 ".eos_token_id[1]: expected integer", NULL);
    expect_error(parse("[1]", &c), QY_ERR_FORMAT, "config.json: expected a JSON object", NULL);
    expect_error(parse("{\"model_type\":", &c), QY_ERR_FORMAT, "config.json: invalid JSON", NULL);
    expect_error(qy_lm_config_read_dir("/nonexistent-dir", &c), QY_ERR_NOT_FOUND,
                 "/nonexistent-dir/config.json", NULL);
}

/* ------------------------------------------------ spec against a file */

/* write a folder for cfg_json whose tensors follow the spec (zeros), minus
 * `drop`, with `reshape` given one more row and `rename_from` stored as `rename_to` */
static void write_model(const char *dir, const char *cfg_json, const char *drop, const char *reshape,
                        const char *rename_from, const char *rename_to) {
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(qy_write_file_atomic(path, cfg_json, strlen(cfg_json)), QY_OK);
    qy_lm_config c;
    assert_int_equal(parse(cfg_json, &c), QY_OK);
    qy_lm_spec *spec;
    assert_int_equal(qy_lm_spec_new(&c, &spec), QY_OK);
    size_t max = 0;
    for (size_t i = 0; i < qy_lm_spec_count(spec); i++)
        if (qy_lm_spec_at(spec, i)->numel > max) max = qy_lm_spec_at(spec, i)->numel;
    float *zeros = calloc(max + 1024, sizeof(float));
    qy_st_writer *w;
    assert_int_equal(qy_st_writer_new(&w), QY_OK);
    for (size_t i = 0; i < qy_lm_spec_count(spec); i++) {
        const qy_lm_param *p = qy_lm_spec_at(spec, i);
        if (drop && !strcmp(p->name, drop)) continue;
        int64_t shape[2] = {p->shape[0], p->shape[1]};
        if (reshape && !strcmp(p->name, reshape)) shape[0]++;
        const char *name = rename_from && !strcmp(p->name, rename_from) ? rename_to : p->name;
        assert_int_equal(qy_st_writer_add_f32(w, name, QY_ST_BF16, p->ndim, shape, zeros), QY_OK);
    }
    assert_int_equal(qy_st_writer_write_dir(w, dir, 0), QY_OK);
    qy_st_writer_free(w);
    qy_lm_spec_free(spec);
    free(zeros);
}

static int check_dir(const char *dir, size_t *unused) {
    qy_lm_config c;
    qy_st_file *st = NULL;
    qy_lm_spec *spec = NULL;
    int s = qy_lm_config_read_dir(dir, &c);
    if (!s) s = qy_st_open_dir(dir, &st);
    if (!s) s = qy_lm_spec_new(&c, &spec);
    if (!s) s = qy_lm_spec_check(spec, st, NULL, unused);
    qy_lm_spec_free(spec);
    qy_st_close(st);
    return s;
}

static void test_spec_mismatches(void **state) {
    (void)state;
    uint64_t blocks = live_blocks();
    char tmp[256];
    make_tmpdir(tmp, sizeof tmp);
    const char *qwen2 =
        "{\"model_type\":\"qwen2\",\"hidden_size\":16,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        "\"num_key_value_heads\":2,\"vocab_size\":50,\"intermediate_size\":24,\"tie_word_embeddings\":false}";
    size_t unused = 9;
    write_model(tmp, qwen2, NULL, NULL, NULL, NULL);
    assert_int_equal(check_dir(tmp, &unused), QY_OK);
    assert_int_equal(unused, 0);
    write_model(tmp, qwen2, "model.layers.1.self_attn.k_proj.bias", NULL, NULL, NULL);
    expect_error(check_dir(tmp, &unused), QY_ERR_NOT_FOUND,
                 "model.safetensors: tensor 'model.layers.1.self_attn.k_proj.bias' is missing", NULL);
    write_model(tmp, qwen2, "lm_head.weight", NULL, NULL, NULL);
    expect_error(check_dir(tmp, &unused), QY_ERR_NOT_FOUND,
                 "'lm_head.weight' is missing (a qwen2 untied-head checkpoint", NULL);
    write_model(tmp, qwen2, NULL, "model.layers.0.self_attn.v_proj.weight", NULL, NULL);
    expect_error(
        check_dir(tmp, &unused), QY_ERR_SHAPE,
        "tensor 'model.layers.0.self_attn.v_proj.weight' has shape [9, 16], the config implies [8, 16]",
        NULL);

    /* GPT-2 checkpoints of GPT2Model keep names without "transformer." and attention buffers */
    const char *gpt2 = "{\"model_type\":\"gpt2\",\"n_embd\":8,\"n_layer\":1,\"n_head\":2,\"vocab_size\":20,"
                       "\"n_positions\":16}";
    write_model(tmp, gpt2, NULL, NULL, "transformer.h.0.attn.c_attn.weight", "h.0.attn.c_attn.weight");
    assert_int_equal(check_dir(tmp, &unused), QY_OK);
    write_model(tmp, gpt2, NULL, "transformer.h.0.mlp.c_fc.weight", NULL, NULL);
    expect_error(check_dir(tmp, &unused), QY_ERR_SHAPE,
                 "'transformer.h.0.mlp.c_fc.weight' has shape [9, 32], the config implies [8, 32]", NULL);
    /* BERT from BertForMaskedLM with the old gamma/beta names */
    const char *bert =
        "{\"model_type\":\"bert\",\"hidden_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
        "\"vocab_size\":20,\"intermediate_size\":12,\"max_position_embeddings\":16}";
    write_model(tmp, bert, NULL, NULL, "embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.gamma");
    assert_int_equal(check_dir(tmp, &unused), QY_OK);
    assert_int_equal(unused, 0);
    /* the pooler may be absent, but not half of it */
    write_model(tmp, bert, "pooler.dense.weight", NULL, NULL, NULL);
    expect_error(check_dir(tmp, &unused), QY_ERR_NOT_FOUND,
                 "tensor 'pooler.dense.weight' is missing (the file has the rest of the pooler)", NULL);
    rm_rf(tmp);
    assert_int_equal(live_blocks(), blocks);
}

static void test_config_alloc_failures(void **state) {
    (void)state;
    const char *json =
        "{" LLAMA_BASE ",\"rope_parameters\":{\"rope_type\":\"llama3\",\"rope_theta\":5e5,\"factor\":8,"
        "\"low_freq_factor\":1,\"high_freq_factor\":4,\"original_max_position_embeddings\":8192}}";
    int ok = 0;
    for (long n = 0; n < 200 && !ok; n++) {
        uint64_t blocks = live_blocks();
        qy_lm_config c;
        qy_lm_spec *spec = NULL;
        qy_alloc_fail_after(n, 0);
        int st = parse(json, &c);
        if (!st) st = qy_lm_spec_new(&c, &spec);
        qy_alloc_fail_after(-1, 0);
        if (!st)
            ok = 1;
        else
            assert_int_equal(st, QY_ERR_NOMEM);
        qy_lm_spec_free(spec);
        assert_int_equal(live_blocks(), blocks);
    }
    assert_true(ok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_configs),       cmocka_unit_test(test_fixture_specs),
        cmocka_unit_test(test_rope_styles),           cmocka_unit_test(test_families_and_defaults),
        cmocka_unit_test(test_config_errors),         cmocka_unit_test(test_spec_mismatches),
        cmocka_unit_test(test_config_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
