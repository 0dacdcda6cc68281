/* config.c — reading config.json / generation_config.json into qy_lm_config.
 *
 * Every field is read with the JSON-path getters, so an error names the file
 * and the field ("config.json: .rope_parameters.rope_theta: expected number").
 * Sizes are bounded (hostile configs must not make the spec allocate 2^64
 * bytes), and options that change the maths in ways quarry does not implement
 * (sliding-window attention, YaRN scaling...) are refused by name instead of
 * silently giving different numbers. */
#include "model/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* bounds on sizes: far above any real checkpoint, far below overflow */
#define MAX_VOCAB (1 << 24)
#define MAX_HIDDEN (1 << 16)
#define MAX_LAYERS 1024
#define MAX_HEADS 1024
#define MAX_HEAD_DIM 4096
#define MAX_INTER (1 << 20)
#define MAX_POSITIONS (1 << 28)
#define MAX_TOKEN_ID ((int64_t)1 << 31)

static const char *family_names[QY_LM_FAMILY_COUNT] = {"gpt2", "llama", "qwen2", "qwen3", "bert"};

const char *qy_lm_family_name(qy_lm_family f) {
    return (unsigned)f < QY_LM_FAMILY_COUNT ? family_names[f] : "?";
}

const char *qy_lm_act_name(qy_lm_act a) {
    switch (a) {
    case QY_ACT_GELU: return "gelu";
    case QY_ACT_GELU_TANH: return "gelu_tanh";
    case QY_ACT_SILU: return "silu";
    case QY_ACT_RELU: return "relu";
    }
    return "?";
}

/* first of `names` (NULL-terminated) present and non-null, or NULL */
static const char *pick(const qy_jref *r, const char *const *names) {
    for (; *names; names++)
        if (qy_jref_has(r, *names)) return *names;
    return NULL;
}

/* an integer field that may go by several names; missing: default, or an
 * error when required (def < lo) */
static int get_size(const qy_jref *r, const char *const *names, int64_t lo, int64_t hi, int64_t def,
                    int64_t *out) {
    const char *n = pick(r, names);
    if (!n) {
        if (def >= lo) {
            *out = def;
            return QY_OK;
        }
        return qy_error(QY_ERR_NOT_FOUND, "%s: %s: missing (a required size)", qy_json_source(r->doc),
                        names[0]);
    }
    return qy_jref_int(r, n, lo, hi, out);
}

/* a token id: integer, or null/absent -> -1 */
static int get_token(const qy_jref *r, const char *field, int64_t *out) {
    return qy_jref_int_or(r, field, 0, MAX_TOKEN_ID, -1, out);
}

/* eos_token_id: integer, list of integers, or null */
static int get_eos(const qy_jref *r, const char *field, int64_t *ids, int *n) {
    if (!qy_jref_has(r, field)) return QY_OK; /* keep what is there */
    qy_jref x;
    int st = qy_jref_get(r, field, &x);
    if (st) return st;
    if (cJSON_IsArray(x.node)) {
        size_t cnt = (size_t)cJSON_GetArraySize(x.node);
        if (cnt > QY_LM_MAX_EOS)
            return qy_error(QY_ERR_RANGE, "%s: %s: %zu end-of-sequence ids, quarry keeps at most %d",
                            qy_json_source(r->doc), x.path, cnt, QY_LM_MAX_EOS);
        for (size_t i = 0; i < cnt; i++) {
            char p[32];
            snprintf(p, sizeof p, "[%zu]", i);
            st = qy_jref_int(&x, p, 0, MAX_TOKEN_ID, &ids[i]);
            if (st) return st;
        }
        *n = (int)cnt;
        return QY_OK;
    }
    st = qy_jref_int(r, field, 0, MAX_TOKEN_ID, &ids[0]);
    if (st) return st;
    *n = 1;
    return QY_OK;
}

static int parse_act(const qy_jref *r, const char *field, const char *def, qy_lm_act *out) {
    const char *s;
    int st = qy_jref_string_or(r, field, def, &s);
    if (st) return st;
    static const struct {
        const char *name;
        qy_lm_act act;
    } acts[] = {{"gelu", QY_ACT_GELU},
                {"gelu_new", QY_ACT_GELU_TANH},
                {"gelu_pytorch_tanh", QY_ACT_GELU_TANH},
                {"gelu_fast", QY_ACT_GELU_TANH},
                {"silu", QY_ACT_SILU},
                {"swish", QY_ACT_SILU},
                {"relu", QY_ACT_RELU}};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (!strcmp(s, acts[i].name)) {
            *out = acts[i].act;
            return QY_OK;
        }
    return qy_error(QY_ERR_UNSUPPORTED,
                    "%s: %s: activation '%.40s' is not supported (known: gelu, gelu_new, gelu_pytorch_tanh, "
                    "gelu_fast, silu, swish, relu)",
                    qy_json_source(r->doc), field, s);
}

/* refuse an option unless it has its harmless value */
static int require_bool(const qy_jref *r, const char *field, int harmless, const char *why) {
    int v;
    int st = qy_jref_bool_or(r, field, harmless, &v);
    if (st) return st;
    if (v != harmless)
        return qy_error(QY_ERR_UNSUPPORTED, "%s: %s: %s is not supported (%s)", qy_json_source(r->doc), field,
                        v ? "true" : "false", why);
    return QY_OK;
}

static int positive_number(const qy_jref *r, const char *field, double def, double *out) {
    int st = def > 0 ? qy_jref_number_or(r, field, def, out) : qy_jref_number(r, field, out);
    if (st) return st;
    if (!(*out > 0))
        return qy_error(QY_ERR_RANGE, "%s: %s: expected a positive number, found %g", qy_json_source(r->doc),
                        field, *out);
    return QY_OK;
}

/* RoPE: `rope_parameters` (transformers 5) or `rope_theta` + `rope_scaling` */
static int parse_rope(const qy_jref *root, qy_lm_config *c) {
    const char *src = qy_json_source(root->doc);
    c->use_rope = 1;
    c->rope_scaling = QY_ROPE_DEFAULT;
    c->rope_factor = 1.0;
    const char *pname = qy_jref_has(root, ".rope_parameters") ? ".rope_parameters"
                        : qy_jref_has(root, ".rope_scaling")  ? ".rope_scaling"
                                                              : NULL;
    qy_jref p;
    int st;
    if (pname) {
        st = qy_jref_object(root, pname, &p, NULL);
        if (st) return st;
    }
    /* theta: inside rope_parameters first, then the top level */
    if (pname && !strcmp(pname, ".rope_parameters") && qy_jref_has(&p, ".rope_theta"))
        st = positive_number(&p, ".rope_theta", 0, &c->rope_theta);
    else
        st = positive_number(root, ".rope_theta", 10000.0, &c->rope_theta);
    if (st) return st;
    if (!pname) return QY_OK;
    const char *tfield = qy_jref_has(&p, ".rope_type") ? ".rope_type"
                         : qy_jref_has(&p, ".type")    ? ".type"
                                                       : NULL;
    if (!tfield) {
        /* transformers 5 keys rope_parameters by layer type for some models */
        if (cJSON_GetArraySize(p.node) > 0 && cJSON_IsObject(p.node->child))
            return qy_error(QY_ERR_UNSUPPORTED, "%s: %s: RoPE parameters per layer type are not supported",
                            src, pname);
        if (!strcmp(pname, ".rope_parameters")) return QY_OK; /* only a theta: default RoPE */
        return qy_error(QY_ERR_NOT_FOUND, "%s: %s.rope_type: missing (expected \"linear\" or \"llama3\")",
                        src, pname);
    }
    const char *type;
    st = qy_jref_string(&p, tfield, &type);
    if (st) return st;
    double prf;
    st = qy_jref_number_or(&p, ".partial_rotary_factor", 1.0, &prf);
    if (st) return st;
    if (prf != 1.0)
        return qy_error(QY_ERR_UNSUPPORTED, "%s: %s.partial_rotary_factor: %g is not supported (only 1)", src,
                        pname, prf);
    if (!strcmp(type, "default")) return QY_OK;
    if (!strcmp(type, "linear")) {
        c->rope_scaling = QY_ROPE_LINEAR;
        return positive_number(&p, ".factor", 0, &c->rope_factor);
    }
    if (!strcmp(type, "llama3")) {
        c->rope_scaling = QY_ROPE_LLAMA3;
        st = positive_number(&p, ".factor", 0, &c->rope_factor);
        if (!st) st = positive_number(&p, ".low_freq_factor", 0, &c->rope_low_freq_factor);
        if (!st) st = positive_number(&p, ".high_freq_factor", 0, &c->rope_high_freq_factor);
        if (!st)
            st = qy_jref_int(&p, ".original_max_position_embeddings", 1, MAX_POSITIONS,
                             &c->rope_original_max_positions);
        if (!st && c->rope_high_freq_factor <= c->rope_low_freq_factor)
            st = qy_error(QY_ERR_RANGE, "%s: %s: high_freq_factor (%g) must exceed low_freq_factor (%g)", src,
                          pname, c->rope_high_freq_factor, c->rope_low_freq_factor);
        return st;
    }
    return qy_error(
        QY_ERR_UNSUPPORTED,
        "%s: %s%s: RoPE scaling '%.40s' is not supported (quarry implements default, linear and llama3)", src,
        pname, tfield, type);
}

static int parse_family(const char *src, const char *type, qy_lm_family *out) {
    for (int i = 0; i < QY_LM_FAMILY_COUNT; i++)
        if (!strcmp(type, family_names[i])) {
            *out = (qy_lm_family)i;
            return QY_OK;
        }
    return qy_error(
        QY_ERR_UNSUPPORTED,
        "%s: .model_type: '%.60s' is not a family quarry knows (known: gpt2, llama, qwen2, qwen3, bert)", src,
        type);
}

static int parse_gpt2(const qy_jref *r, qy_lm_config *c) {
    static const char *const vocab[] = {".vocab_size", NULL},
                             *const hid[] = {".n_embd", ".hidden_size", NULL},
                             *const lay[] = {".n_layer", ".num_hidden_layers", NULL},
                             *const hd[] = {".n_head", ".num_attention_heads", NULL},
                             *const pos[] = {".n_positions", ".max_position_embeddings", NULL},
                             *const inner[] = {".n_inner", NULL};
    int st = get_size(r, vocab, 1, MAX_VOCAB, 50257, &c->vocab_size);
    if (!st) st = get_size(r, hid, 1, MAX_HIDDEN, -1, &c->hidden_size);
    if (!st) st = get_size(r, lay, 1, MAX_LAYERS, -1, &c->num_layers);
    if (!st) st = get_size(r, hd, 1, MAX_HEADS, -1, &c->num_heads);
    if (!st) st = get_size(r, pos, 1, MAX_POSITIONS, 1024, &c->max_positions);
    if (!st) st = get_size(r, inner, 1, MAX_INTER, 4 * c->hidden_size, &c->intermediate_size);
    if (!st) st = qy_jref_number_or(r, ".layer_norm_epsilon", 1e-5, &c->norm_eps);
    if (!st) st = parse_act(r, ".activation_function", "gelu_new", &c->act);
    if (!st) st = qy_jref_bool_or(r, ".tie_word_embeddings", 1, &c->tie_word_embeddings);
    if (!st)
        st =
            require_bool(r, ".scale_attn_weights", 1, "attention scores must be scaled by 1/sqrt(head size)");
    if (!st) st = require_bool(r, ".scale_attn_by_inverse_layer_idx", 0, "extra per-layer attention scaling");
    if (!st) st = require_bool(r, ".add_cross_attention", 0, "cross-attention layers");
    c->num_kv_heads = c->num_heads;
    c->qkv_bias = c->o_bias = c->mlp_bias = 1;
    c->is_decoder = 1;
    return st;
}

/* the sizes BERT, Llama and Qwen name alike; positions default per family */
static int read_sizes(const qy_jref *r, qy_lm_config *c, int64_t positions_default) {
    static const char *const vocab[] = {".vocab_size", NULL}, *const hid[] = {".hidden_size", NULL},
                             *const lay[] = {".num_hidden_layers", NULL},
                             *const hd[] = {".num_attention_heads", NULL},
                             *const pos[] = {".max_position_embeddings", NULL},
                             *const inner[] = {".intermediate_size", NULL};
    int st = get_size(r, vocab, 1, MAX_VOCAB, -1, &c->vocab_size);
    if (!st) st = get_size(r, hid, 1, MAX_HIDDEN, -1, &c->hidden_size);
    if (!st) st = get_size(r, lay, 1, MAX_LAYERS, -1, &c->num_layers);
    if (!st) st = get_size(r, hd, 1, MAX_HEADS, -1, &c->num_heads);
    if (!st) st = get_size(r, pos, 1, MAX_POSITIONS, positions_default, &c->max_positions);
    if (!st) st = get_size(r, inner, 1, MAX_INTER, -1, &c->intermediate_size);
    return st;
}

static int parse_bert(const qy_jref *r, qy_lm_config *c) {
    static const char *const tv[] = {".type_vocab_size", NULL};
    int st = read_sizes(r, c, 512);
    if (!st) st = get_size(r, tv, 1, 1 << 16, 2, &c->type_vocab_size);
    if (!st) st = qy_jref_number_or(r, ".layer_norm_eps", 1e-12, &c->norm_eps);
    if (!st) st = parse_act(r, ".hidden_act", "gelu", &c->act);
    if (!st) st = qy_jref_bool_or(r, ".tie_word_embeddings", 1, &c->tie_word_embeddings);
    if (!st) st = require_bool(r, ".add_cross_attention", 0, "cross-attention layers");
    if (!st) st = require_bool(r, ".is_decoder", 0, "BERT is read as an encoder");
    if (!st) {
        const char *pet;
        st = qy_jref_string_or(r, ".position_embedding_type", "absolute", &pet);
        if (!st && strcmp(pet, "absolute"))
            st = qy_error(QY_ERR_UNSUPPORTED,
                          "%s: .position_embedding_type: '%.40s' is not supported (only absolute)",
                          qy_json_source(r->doc), pet);
    }
    c->num_kv_heads = c->num_heads;
    c->qkv_bias = c->o_bias = c->mlp_bias = 1;
    c->is_decoder = 0;
    return st;
}

/* llama, qwen2, qwen3 */
static int parse_llama_like(const qy_jref *r, qy_lm_config *c) {
    static const char *const kv[] = {".num_key_value_heads", NULL}, *const hdim[] = {".head_dim", NULL};
    const char *src = qy_json_source(r->doc);
    int st = read_sizes(r, c, c->family == QY_LM_LLAMA ? 2048 : 32768);
    if (!st) st = get_size(r, kv, 1, MAX_HEADS, c->num_heads, &c->num_kv_heads);
    if (st) return st;
    /* transformers: Qwen3Config defaults head_dim to 128; the others derive it */
    int64_t derived = c->hidden_size / c->num_heads;
    if (c->family != QY_LM_QWEN3 && !qy_jref_has(r, ".head_dim") && c->hidden_size % c->num_heads)
        return qy_error(QY_ERR_RANGE, "%s: .hidden_size %lld is not a multiple of .num_attention_heads %lld",
                        src, (long long)c->hidden_size, (long long)c->num_heads);
    st = get_size(r, hdim, 1, MAX_HEAD_DIM, c->family == QY_LM_QWEN3 ? 128 : derived, &c->head_dim);
    if (!st) st = qy_jref_number_or(r, ".rms_norm_eps", 1e-6, &c->norm_eps);
    if (!st) st = parse_act(r, ".hidden_act", "silu", &c->act);
    if (!st) st = qy_jref_bool_or(r, ".tie_word_embeddings", 0, &c->tie_word_embeddings);
    if (!st) st = parse_rope(r, c);
    if (st) return st;
    int attn_bias = 0, mlp_bias = 0;
    if (c->family == QY_LM_QWEN2) {
        c->qkv_bias = 1;
        c->o_bias = 0;
    } else {
        st = qy_jref_bool_or(r, ".attention_bias", 0, &attn_bias);
        c->qkv_bias = c->o_bias = attn_bias;
    }
    if (!st && c->family == QY_LM_LLAMA) st = qy_jref_bool_or(r, ".mlp_bias", 0, &mlp_bias);
    c->mlp_bias = mlp_bias;
    c->qk_norm = c->family == QY_LM_QWEN3;
    c->rms_norm = 1;
    c->is_decoder = 1;
    if (!st && c->family != QY_LM_LLAMA) {
        st = require_bool(r, ".use_sliding_window", 0, "sliding-window attention");
        qy_jref lt;
        size_t n = 0;
        if (!st && qy_jref_has(r, ".layer_types")) {
            st = qy_jref_array(r, ".layer_types", &lt, &n);
            for (size_t i = 0; i < n && !st; i++) {
                char p[32];
                const char *s;
                snprintf(p, sizeof p, "[%zu]", i);
                st = qy_jref_string(&lt, p, &s);
                if (!st && strcmp(s, "full_attention"))
                    st = qy_error(
                        QY_ERR_UNSUPPORTED,
                        "%s: .layer_types[%zu]: '%.40s' layers are not supported (only full_attention)", src,
                        i, s);
            }
        }
    }
    return st;
}

static void init_config(qy_lm_config *c) {
    memset(c, 0, sizeof *c);
    c->pad_token_id = c->bos_token_id = -1;
}

static int config_checks(const qy_jref *r, qy_lm_config *c) {
    const char *src = qy_json_source(r->doc);
    if (!(c->norm_eps > 0 && c->norm_eps < 1))
        return qy_error(QY_ERR_RANGE, "%s: normalisation epsilon %g: expected a number in (0, 1)", src,
                        c->norm_eps);
    if (c->family == QY_LM_GPT2 || c->family == QY_LM_BERT) {
        if (c->hidden_size % c->num_heads)
            return qy_error(QY_ERR_RANGE, "%s: hidden size %lld is not a multiple of the %lld heads", src,
                            (long long)c->hidden_size, (long long)c->num_heads);
        c->head_dim = c->hidden_size / c->num_heads;
    }
    if (c->num_heads % c->num_kv_heads)
        return qy_error(QY_ERR_RANGE,
                        "%s: .num_attention_heads %lld is not a multiple of .num_key_value_heads %lld", src,
                        (long long)c->num_heads, (long long)c->num_kv_heads);
    if (c->num_heads * c->head_dim > (int64_t)MAX_HIDDEN * 4)
        return qy_error(QY_ERR_RANGE, "%s: %lld heads of size %lld is absurd", src, (long long)c->num_heads,
                        (long long)c->head_dim);
    if (c->rms_norm == 0 && c->family != QY_LM_BERT && c->family != QY_LM_GPT2)
        return qy_error(QY_ERR_INTERNAL, "%s: normalisation kind not set", src);
    return QY_OK;
}

/* the line of the first bare NaN/Infinity outside strings, or 0 */
static int bare_nonfinite_line(const char *text, size_t len) {
    int line = 1, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (ch == '\n') line++;
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = 0;
            continue;
        }
        if (ch == '"')
            in_str = 1;
        else if ((ch == 'N' && len - i >= 3 && !memcmp(text + i, "NaN", 3)) ||
                 (ch == 'I' && len - i >= 8 && !memcmp(text + i, "Infinity", 8)))
            return line;
    }
    return 0;
}

static int parse_json(const char *text, size_t len, const char *source, qy_json **doc) {
    int st = qy_json_parse(text, len, source, doc);
    if (st == QY_ERR_FORMAT) {
        int line = bare_nonfinite_line(text, len);
        if (line)
            return qy_error(QY_ERR_FORMAT, "%s: line %d: NaN or Infinity where a finite number is expected",
                            source, line);
    }
    if (!st && !cJSON_IsObject(qy_json_root(*doc))) {
        qy_json_free(*doc);
        *doc = NULL;
        return qy_error(QY_ERR_FORMAT, "%s: expected a JSON object", source);
    }
    return st;
}

int qy_lm_config_parse(const char *text, size_t len, const char *source, qy_lm_config *out) {
    init_config(out);
    if (!source) source = "config.json";
    qy_json *doc;
    int st = parse_json(text, len, source, &doc);
    if (st) return st;
    qy_jref r = qy_json_ref(doc);
    qy_lm_config c;
    init_config(&c);
    const char *type = NULL, *s;
    st = qy_jref_string(&r, ".model_type", &type);
    if (!st) st = parse_family(source, type, &c.family);
    if (!st) snprintf(c.model_type, sizeof c.model_type, "%s", family_names[c.family]);
    if (!st && qy_jref_has(&r, ".architectures")) {
        qy_jref a;
        size_t n;
        st = qy_jref_array(&r, ".architectures", &a, &n);
        if (!st && n > 0 && !(st = qy_jref_string(&a, "[0]", &s)))
            snprintf(c.architecture, sizeof c.architecture, "%s", s);
    }
    if (!st) {
        const char *df = qy_jref_has(&r, ".dtype") ? ".dtype" : ".torch_dtype";
        st = qy_jref_string_or(&r, df, "", &s);
        if (!st) snprintf(c.dtype, sizeof c.dtype, "%s", s);
    }
    if (!st) {
        switch (c.family) {
        case QY_LM_GPT2: st = parse_gpt2(&r, &c); break;
        case QY_LM_BERT: st = parse_bert(&r, &c); break;
        default: st = parse_llama_like(&r, &c); break;
        }
    }
    if (!st) st = qy_jref_number_or(&r, ".initializer_range", 0.02, &c.initializer_range);
    if (!st && !(c.initializer_range >= 0 && c.initializer_range <= 1e3))
        st = qy_error(QY_ERR_RANGE, "%s: .initializer_range: %g is not a standard deviation", source,
                      c.initializer_range);
    if (!st) st = get_token(&r, ".pad_token_id", &c.pad_token_id);
    if (!st) st = get_token(&r, ".bos_token_id", &c.bos_token_id);
    if (!st) st = get_eos(&r, ".eos_token_id", c.eos_token_ids, &c.n_eos);
    if (!st) st = config_checks(&r, &c);
    qy_json_free(doc);
    if (!st) *out = c;
    return st;
}

static int read_json_file(const char *path, char **text, size_t *len) {
    return qy_read_file(path, 64u << 20, text, len);
}

int qy_lm_config_read_dir(const char *dir, qy_lm_config *out) {
    init_config(out);
    char path[4096];
    if (snprintf(path, sizeof path, "%s/config.json", dir) >= (int)sizeof path)
        return qy_error(QY_ERR_ARG, "%s: path too long", dir);
    char *text;
    size_t len;
    int st = read_json_file(path, &text, &len);
    if (st) return st;
    st = qy_lm_config_parse(text, len, path, out);
    qy_free(text);
    if (st) return st;
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if (!qy_file_exists(path)) return QY_OK;
    qy_lm_gen_config g;
    qy_lm_gen_config_defaults(out, &g);
    st = read_json_file(path, &text, &len);
    if (st) return st;
    st = qy_lm_gen_config_parse(text, len, path, &g);
    qy_free(text);
    if (st) return st;
    out->bos_token_id = g.bos_token_id;
    out->pad_token_id = g.pad_token_id;
    out->n_eos = g.n_eos;
    memcpy(out->eos_token_ids, g.eos_token_ids, sizeof g.eos_token_ids);
    return QY_OK;
}

void qy_lm_gen_config_defaults(const qy_lm_config *cfg, qy_lm_gen_config *g) {
    memset(g, 0, sizeof *g);
    g->bos_token_id = cfg ? cfg->bos_token_id : -1;
    g->pad_token_id = cfg ? cfg->pad_token_id : -1;
    if (cfg) {
        g->n_eos = cfg->n_eos;
        memcpy(g->eos_token_ids, cfg->eos_token_ids, sizeof g->eos_token_ids);
    }
    /* transformers GenerationConfig defaults */
    g->do_sample = 0;
    g->temperature = 1.0;
    g->top_p = 1.0;
    g->top_k = 50;
    g->repetition_penalty = 1.0;
    g->length_penalty = 1.0;
    g->num_beams = 1;
    g->max_new_tokens = -1; /* unset */
    g->max_length = 20;
}

int qy_lm_gen_config_parse(const char *text, size_t len, const char *source, qy_lm_gen_config *g) {
    if (!source) source = "generation_config.json";
    qy_json *doc;
    int st = parse_json(text, len, source, &doc);
    if (st) return st;
    qy_jref r = qy_json_ref(doc);
    qy_lm_gen_config n = *g;
    if (qy_jref_has(&r, ".bos_token_id")) st = get_token(&r, ".bos_token_id", &n.bos_token_id);
    if (!st && qy_jref_has(&r, ".pad_token_id")) st = get_token(&r, ".pad_token_id", &n.pad_token_id);
    if (!st) st = get_eos(&r, ".eos_token_id", n.eos_token_ids, &n.n_eos);
    if (!st) st = qy_jref_bool_or(&r, ".do_sample", n.do_sample, &n.do_sample);
    if (!st) st = qy_jref_number_or(&r, ".temperature", n.temperature, &n.temperature);
    if (!st) st = qy_jref_number_or(&r, ".top_p", n.top_p, &n.top_p);
    if (!st) st = qy_jref_int_or(&r, ".top_k", 0, MAX_VOCAB, n.top_k, &n.top_k);
    if (!st) st = qy_jref_number_or(&r, ".repetition_penalty", n.repetition_penalty, &n.repetition_penalty);
    if (!st) st = qy_jref_number_or(&r, ".length_penalty", n.length_penalty, &n.length_penalty);
    if (!st) st = qy_jref_int_or(&r, ".num_beams", 1, 4096, n.num_beams, &n.num_beams);
    if (!st)
        st = qy_jref_int_or(&r, ".max_new_tokens", 0, MAX_POSITIONS, n.max_new_tokens, &n.max_new_tokens);
    if (!st) st = qy_jref_int_or(&r, ".max_length", 0, MAX_POSITIONS, n.max_length, &n.max_length);
    if (!st && !(n.temperature >= 0))
        st = qy_error(QY_ERR_RANGE, "%s: .temperature: %g is negative", source, n.temperature);
    if (!st && !(n.top_p > 0 && n.top_p <= 1))
        st = qy_error(QY_ERR_RANGE, "%s: .top_p: %g is outside (0, 1]", source, n.top_p);
    if (!st && !(n.repetition_penalty > 0))
        st = qy_error(QY_ERR_RANGE, "%s: .repetition_penalty: %g must be positive", source,
                      n.repetition_penalty);
    qy_json_free(doc);
    if (!st) *g = n;
    return st;
}

/* ----------------------------------------------------------- writing */

static const char *act_hf_name(const qy_lm_config *c) {
    switch (c->act) {
    case QY_ACT_GELU: return "gelu";
    case QY_ACT_GELU_TANH: return c->family == QY_LM_GPT2 ? "gelu_new" : "gelu_pytorch_tanh";
    case QY_ACT_SILU: return "silu";
    case QY_ACT_RELU: return "relu";
    }
    return "gelu";
}

static void add_token(cJSON *o, const char *key, int64_t id) {
    if (id < 0)
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, (double)id);
}

static cJSON *config_json(const qy_lm_config *c) {
    static const char *const default_arch[QY_LM_FAMILY_COUNT] = {
        "GPT2LMHeadModel", "LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "BertModel"};
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    if (arch)
        cJSON_AddItemToArray(
            arch, cJSON_CreateString(c->architecture[0] ? c->architecture : default_arch[c->family]));
    cJSON_AddStringToObject(o, "model_type", qy_lm_family_name(c->family));
    cJSON_AddNumberToObject(o, "vocab_size", (double)c->vocab_size);
    if (c->family == QY_LM_GPT2) {
        cJSON_AddNumberToObject(o, "n_embd", (double)c->hidden_size);
        cJSON_AddNumberToObject(o, "n_layer", (double)c->num_layers);
        cJSON_AddNumberToObject(o, "n_head", (double)c->num_heads);
        cJSON_AddNumberToObject(o, "n_positions", (double)c->max_positions);
        cJSON_AddNumberToObject(o, "n_inner", (double)c->intermediate_size);
        cJSON_AddStringToObject(o, "activation_function", act_hf_name(c));
        cJSON_AddNumberToObject(o, "layer_norm_epsilon", c->norm_eps);
    } else {
        cJSON_AddNumberToObject(o, "hidden_size", (double)c->hidden_size);
        cJSON_AddNumberToObject(o, "num_hidden_layers", (double)c->num_layers);
        cJSON_AddNumberToObject(o, "num_attention_heads", (double)c->num_heads);
        cJSON_AddNumberToObject(o, "intermediate_size", (double)c->intermediate_size);
        cJSON_AddNumberToObject(o, "max_position_embeddings", (double)c->max_positions);
        cJSON_AddStringToObject(o, "hidden_act", act_hf_name(c));
    }
    if (c->family == QY_LM_BERT) {
        cJSON_AddNumberToObject(o, "type_vocab_size", (double)c->type_vocab_size);
        cJSON_AddNumberToObject(o, "layer_norm_eps", c->norm_eps);
        cJSON_AddStringToObject(o, "position_embedding_type", "absolute");
    } else if (c->family != QY_LM_GPT2) {
        cJSON_AddNumberToObject(o, "num_key_value_heads", (double)c->num_kv_heads);
        cJSON_AddNumberToObject(o, "head_dim", (double)c->head_dim);
        cJSON_AddNumberToObject(o, "rms_norm_eps", c->norm_eps);
        if (c->family != QY_LM_QWEN2) cJSON_AddBoolToObject(o, "attention_bias", c->qkv_bias);
        if (c->family == QY_LM_LLAMA) cJSON_AddBoolToObject(o, "mlp_bias", c->mlp_bias);
        if (c->family != QY_LM_LLAMA) cJSON_AddBoolToObject(o, "use_sliding_window", 0);
        cJSON_AddNumberToObject(o, "rope_theta", c->rope_theta); /* what transformers 4 reads */
        cJSON *rp = cJSON_AddObjectToObject(o, "rope_parameters");
        if (rp) {
            cJSON_AddStringToObject(rp, "rope_type",
                                    c->rope_scaling == QY_ROPE_LINEAR   ? "linear"
                                    : c->rope_scaling == QY_ROPE_LLAMA3 ? "llama3"
                                                                        : "default");
            cJSON_AddNumberToObject(rp, "rope_theta", c->rope_theta);
            if (c->rope_scaling != QY_ROPE_DEFAULT) cJSON_AddNumberToObject(rp, "factor", c->rope_factor);
            if (c->rope_scaling == QY_ROPE_LLAMA3) {
                cJSON_AddNumberToObject(rp, "low_freq_factor", c->rope_low_freq_factor);
                cJSON_AddNumberToObject(rp, "high_freq_factor", c->rope_high_freq_factor);
                cJSON_AddNumberToObject(rp, "original_max_position_embeddings",
                                        (double)c->rope_original_max_positions);
            }
        }
    }
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_word_embeddings);
    cJSON_AddNumberToObject(o, "initializer_range", c->initializer_range);
    if (c->dtype[0]) cJSON_AddStringToObject(o, "torch_dtype", c->dtype);
    add_token(o, "bos_token_id", c->bos_token_id);
    add_token(o, "pad_token_id", c->pad_token_id);
    if (c->n_eos == 1) {
        cJSON_AddNumberToObject(o, "eos_token_id", (double)c->eos_token_ids[0]);
    } else if (c->n_eos == 0) {
        cJSON_AddNullToObject(o, "eos_token_id");
    } else {
        cJSON *e = cJSON_AddArrayToObject(o, "eos_token_id");
        for (int i = 0; e && i < c->n_eos; i++)
            cJSON_AddItemToArray(e, cJSON_CreateNumber((double)c->eos_token_ids[i]));
    }
    return o;
}

/* every field that config_json writes reads back equal */
static int config_same(const qy_lm_config *a, const qy_lm_config *b) {
    int same = a->family == b->family && a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size &&
               a->num_layers == b->num_layers && a->num_heads == b->num_heads &&
               a->num_kv_heads == b->num_kv_heads && a->head_dim == b->head_dim &&
               a->intermediate_size == b->intermediate_size && a->max_positions == b->max_positions &&
               a->type_vocab_size == b->type_vocab_size && a->norm_eps == b->norm_eps &&
               a->rms_norm == b->rms_norm && a->act == b->act &&
               a->tie_word_embeddings == b->tie_word_embeddings && a->qkv_bias == b->qkv_bias &&
               a->o_bias == b->o_bias && a->mlp_bias == b->mlp_bias && a->qk_norm == b->qk_norm &&
               a->is_decoder == b->is_decoder && a->use_rope == b->use_rope &&
               a->initializer_range == b->initializer_range && a->pad_token_id == b->pad_token_id &&
               a->bos_token_id == b->bos_token_id && a->n_eos == b->n_eos && !strcmp(a->dtype, b->dtype);
    if (same && a->use_rope)
        same = a->rope_theta == b->rope_theta && a->rope_scaling == b->rope_scaling &&
               (a->rope_scaling == QY_ROPE_DEFAULT || a->rope_factor == b->rope_factor) &&
               (a->rope_scaling != QY_ROPE_LLAMA3 ||
                (a->rope_low_freq_factor == b->rope_low_freq_factor &&
                 a->rope_high_freq_factor == b->rope_high_freq_factor &&
                 a->rope_original_max_positions == b->rope_original_max_positions));
    for (int i = 0; same && i < a->n_eos; i++) same = a->eos_token_ids[i] == b->eos_token_ids[i];
    return same;
}

int qy_lm_config_write(const qy_lm_config *c, const char *path) {
    if ((unsigned)c->family >= QY_LM_FAMILY_COUNT)
        return qy_error(QY_ERR_ARG, "%s: unknown model family", path);
    cJSON *o = config_json(c);
    if (!o) return qy_error(QY_ERR_NOMEM, "%s: out of memory", path);
    /* verify the tree is whole (a failed add leaves items out) by reading it back */
    char *text = qy_json_print(o, 1);
    cJSON_Delete(o);
    if (!text) return QY_ERR_NOMEM;
    qy_lm_config back;
    int st = qy_lm_config_parse(text, strlen(text), path, &back);
    if (!st && !config_same(&back, c))
        st = qy_error(QY_ERR_NOMEM, "%s: out of memory while building the config", path);
    if (!st) {
        size_t len = strlen(text);
        qy_afile *f = NULL;
        st = qy_afile_open(path, &f);
        if (!st) st = qy_afile_write(f, text, len);
        if (!st) st = qy_afile_write(f, "\n", 1);
        if (f) {
            if (st)
                qy_afile_abort(f);
            else
                st = qy_afile_commit(f);
        }
    }
    qy_free(text);
    return st;
}
