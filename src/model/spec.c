/* spec.c — expected tensor names and shapes per family, and matching a
 * safetensors file against them. */
#include "model/spec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct qy_lm_spec {
    qy_lm_family family;
    qy_lm_param *params;
    size_t count, cap;
    size_t numel;
    int failed; /* an add ran out of memory or overflowed */
};

void qy_lm_spec_free(qy_lm_spec *s) {
    if (!s) return;
    qy_free(s->params);
    qy_free(s);
}

size_t qy_lm_spec_count(const qy_lm_spec *s) { return s->count; }
const qy_lm_param *qy_lm_spec_at(const qy_lm_spec *s, size_t i) {
    return i < s->count ? &s->params[i] : NULL;
}
size_t qy_lm_spec_numel(const qy_lm_spec *s) { return s->numel; }

long qy_lm_spec_find(const qy_lm_spec *s, const char *name) {
    for (size_t i = 0; i < s->count; i++)
        if (!strcmp(s->params[i].name, name)) return (long)i;
    return -1;
}

/* add a parameter: name from a printf format, shape (d0) or (d0, d1) */
static void add(qy_lm_spec *s, qy_lm_role role, int layer, int64_t d0, int64_t d1, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void add(qy_lm_spec *s, qy_lm_role role, int layer, int64_t d0, int64_t d1, const char *fmt, ...) {
    if (s->failed) return;
    if (s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        qy_lm_param *p = qy_reallocn(s->params, cap, sizeof *p);
        if (!p) {
            s->failed = QY_ERR_NOMEM;
            return;
        }
        s->params = p;
        s->cap = cap;
    }
    qy_lm_param *p = &s->params[s->count];
    memset(p, 0, sizeof *p);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    p->role = role;
    p->layer = layer;
    p->ndim = d1 > 0 ? 2 : 1;
    p->shape[0] = d0;
    p->shape[1] = d1 > 0 ? d1 : 0;
    size_t n = (size_t)d0;
    if (d1 > 0 && qy_size_mul(n, (size_t)d1, &n)) {
        s->failed = qy_error(QY_ERR_RANGE, "%s: %lld x %lld elements overflow", p->name, (long long)d0,
                             (long long)d1);
        return;
    }
    p->numel = n;
    if (qy_size_add(s->numel, n, &s->numel)) {
        s->failed = qy_error(QY_ERR_RANGE, "parameter count overflows");
        return;
    }
    s->count++;
}

static void spec_gpt2(qy_lm_spec *s, const qy_lm_config *c) {
    int64_t C = c->hidden_size, I = c->intermediate_size;
    add(s, QY_ROLE_EMBED, -1, c->vocab_size, C, "transformer.wte.weight");
    add(s, QY_ROLE_POS_EMBED, -1, c->max_positions, C, "transformer.wpe.weight");
    for (int l = 0; l < (int)c->num_layers; l++) {
        add(s, QY_ROLE_NORM_WEIGHT, l, C, 0, "transformer.h.%d.ln_1.weight", l);
        add(s, QY_ROLE_NORM_BIAS, l, C, 0, "transformer.h.%d.ln_1.bias", l);
        add(s, QY_ROLE_WEIGHT, l, C, 3 * C, "transformer.h.%d.attn.c_attn.weight", l);
        add(s, QY_ROLE_BIAS, l, 3 * C, 0, "transformer.h.%d.attn.c_attn.bias", l);
        add(s, QY_ROLE_WEIGHT, l, C, C, "transformer.h.%d.attn.c_proj.weight", l);
        add(s, QY_ROLE_BIAS, l, C, 0, "transformer.h.%d.attn.c_proj.bias", l);
        add(s, QY_ROLE_NORM_WEIGHT, l, C, 0, "transformer.h.%d.ln_2.weight", l);
        add(s, QY_ROLE_NORM_BIAS, l, C, 0, "transformer.h.%d.ln_2.bias", l);
        add(s, QY_ROLE_WEIGHT, l, C, I, "transformer.h.%d.mlp.c_fc.weight", l);
        add(s, QY_ROLE_BIAS, l, I, 0, "transformer.h.%d.mlp.c_fc.bias", l);
        add(s, QY_ROLE_WEIGHT, l, I, C, "transformer.h.%d.mlp.c_proj.weight", l);
        add(s, QY_ROLE_BIAS, l, C, 0, "transformer.h.%d.mlp.c_proj.bias", l);
    }
    add(s, QY_ROLE_NORM_WEIGHT, -1, C, 0, "transformer.ln_f.weight");
    add(s, QY_ROLE_NORM_BIAS, -1, C, 0, "transformer.ln_f.bias");
    if (!c->tie_word_embeddings) add(s, QY_ROLE_LM_HEAD, -1, c->vocab_size, C, "lm_head.weight");
}

static void spec_llama(qy_lm_spec *s, const qy_lm_config *c) {
    int64_t C = c->hidden_size, I = c->intermediate_size, HS = c->head_dim;
    int64_t Q = c->num_heads * HS, KV = c->num_kv_heads * HS;
    add(s, QY_ROLE_EMBED, -1, c->vocab_size, C, "model.embed_tokens.weight");
    for (int l = 0; l < (int)c->num_layers; l++) {
        static const char *const proj[3] = {"q", "k", "v"};
        for (int k = 0; k < 3; k++) {
            int64_t out = k == 0 ? Q : KV;
            add(s, QY_ROLE_WEIGHT, l, out, C, "model.layers.%d.self_attn.%s_proj.weight", l, proj[k]);
            if (c->qkv_bias)
                add(s, QY_ROLE_BIAS, l, out, 0, "model.layers.%d.self_attn.%s_proj.bias", l, proj[k]);
        }
        add(s, QY_ROLE_WEIGHT, l, C, Q, "model.layers.%d.self_attn.o_proj.weight", l);
        if (c->o_bias) add(s, QY_ROLE_BIAS, l, C, 0, "model.layers.%d.self_attn.o_proj.bias", l);
        if (c->qk_norm) {
            add(s, QY_ROLE_NORM_WEIGHT, l, HS, 0, "model.layers.%d.self_attn.q_norm.weight", l);
            add(s, QY_ROLE_NORM_WEIGHT, l, HS, 0, "model.layers.%d.self_attn.k_norm.weight", l);
        }
        static const char *const mlp[3] = {"gate", "up", "down"};
        for (int k = 0; k < 3; k++) {
            int down = k == 2;
            add(s, QY_ROLE_WEIGHT, l, down ? C : I, down ? I : C, "model.layers.%d.mlp.%s_proj.weight", l,
                mlp[k]);
            if (c->mlp_bias)
                add(s, QY_ROLE_BIAS, l, down ? C : I, 0, "model.layers.%d.mlp.%s_proj.bias", l, mlp[k]);
        }
        add(s, QY_ROLE_NORM_WEIGHT, l, C, 0, "model.layers.%d.input_layernorm.weight", l);
        add(s, QY_ROLE_NORM_WEIGHT, l, C, 0, "model.layers.%d.post_attention_layernorm.weight", l);
    }
    add(s, QY_ROLE_NORM_WEIGHT, -1, C, 0, "model.norm.weight");
    if (!c->tie_word_embeddings) add(s, QY_ROLE_LM_HEAD, -1, c->vocab_size, C, "lm_head.weight");
}

static void spec_bert(qy_lm_spec *s, const qy_lm_config *c) {
    int64_t C = c->hidden_size, I = c->intermediate_size;
    add(s, QY_ROLE_EMBED, -1, c->vocab_size, C, "embeddings.word_embeddings.weight");
    add(s, QY_ROLE_POS_EMBED, -1, c->max_positions, C, "embeddings.position_embeddings.weight");
    add(s, QY_ROLE_TYPE_EMBED, -1, c->type_vocab_size, C, "embeddings.token_type_embeddings.weight");
    add(s, QY_ROLE_NORM_WEIGHT, -1, C, 0, "embeddings.LayerNorm.weight");
    add(s, QY_ROLE_NORM_BIAS, -1, C, 0, "embeddings.LayerNorm.bias");
    for (int l = 0; l < (int)c->num_layers; l++) {
        static const char *const qkv[3] = {"query", "key", "value"};
        for (int k = 0; k < 3; k++) {
            add(s, QY_ROLE_WEIGHT, l, C, C, "encoder.layer.%d.attention.self.%s.weight", l, qkv[k]);
            add(s, QY_ROLE_BIAS, l, C, 0, "encoder.layer.%d.attention.self.%s.bias", l, qkv[k]);
        }
        add(s, QY_ROLE_WEIGHT, l, C, C, "encoder.layer.%d.attention.output.dense.weight", l);
        add(s, QY_ROLE_BIAS, l, C, 0, "encoder.layer.%d.attention.output.dense.bias", l);
        add(s, QY_ROLE_NORM_WEIGHT, l, C, 0, "encoder.layer.%d.attention.output.LayerNorm.weight", l);
        add(s, QY_ROLE_NORM_BIAS, l, C, 0, "encoder.layer.%d.attention.output.LayerNorm.bias", l);
        add(s, QY_ROLE_WEIGHT, l, I, C, "encoder.layer.%d.intermediate.dense.weight", l);
        add(s, QY_ROLE_BIAS, l, I, 0, "encoder.layer.%d.intermediate.dense.bias", l);
        add(s, QY_ROLE_WEIGHT, l, C, I, "encoder.layer.%d.output.dense.weight", l);
        add(s, QY_ROLE_BIAS, l, C, 0, "encoder.layer.%d.output.dense.bias", l);
        add(s, QY_ROLE_NORM_WEIGHT, l, C, 0, "encoder.layer.%d.output.LayerNorm.weight", l);
        add(s, QY_ROLE_NORM_BIAS, l, C, 0, "encoder.layer.%d.output.LayerNorm.bias", l);
    }
    add(s, QY_ROLE_WEIGHT, -1, C, C, "pooler.dense.weight");
    add(s, QY_ROLE_BIAS, -1, C, 0, "pooler.dense.bias");
    if (!s->failed) s->params[s->count - 1].optional = s->params[s->count - 2].optional = 1;
}

int qy_lm_spec_new(const qy_lm_config *c, qy_lm_spec **out) {
    *out = NULL;
    if (c->vocab_size < 1 || c->hidden_size < 1 || c->num_layers < 1 || c->num_layers > 1 << 20 ||
        c->intermediate_size < 1 || c->max_positions < 1 || c->head_dim < 1 || c->num_heads < 1 ||
        c->num_kv_heads < 1 || (c->family == QY_LM_BERT && c->type_vocab_size < 1))
        return qy_error(QY_ERR_ARG, "model spec: the config has a size below 1");
    qy_lm_spec *s = qy_calloc(1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    s->family = c->family;
    switch (c->family) {
    case QY_LM_GPT2: spec_gpt2(s, c); break;
    case QY_LM_BERT: spec_bert(s, c); break;
    case QY_LM_LLAMA:
    case QY_LM_QWEN2:
    case QY_LM_QWEN3: spec_llama(s, c); break;
    default: s->failed = qy_error(QY_ERR_ARG, "model spec: unknown family %d", (int)c->family);
    }
    if (s->failed) {
        int st = s->failed;
        qy_lm_spec_free(s);
        return st;
    }
    *out = s;
    return QY_OK;
}

int qy_lm_spec_memory(const qy_lm_spec *s, qy_lm_memory *m) {
    size_t w;
    if (qy_size_mul(s->numel, sizeof(float), &w) || qy_size_mul(w, 4, &m->total))
        return qy_error(QY_ERR_RANGE, "model memory overflows");
    m->weights = w;
    m->grads = w;
    m->adamw = 2 * w;
    return QY_OK;
}

/* the name under which a checkpoint stores parameter p: as is, without the
 * family prefix, with a model-class prefix, or with BERT's old gamma/beta */
static const qy_st_tensor *lookup(const qy_lm_spec *s, const qy_st_file *st, const char *name) {
    const qy_st_tensor *t = qy_st_find(st, name);
    if (t) return t;
    char alt[160];
    if (s->family == QY_LM_GPT2 && !strncmp(name, "transformer.", 12)) {
        if ((t = qy_st_find(st, name + 12))) return t; /* GPT2Model checkpoints: "h.0.attn..." */
    }
    if (s->family == QY_LM_BERT) {
        snprintf(alt, sizeof alt, "bert.%s", name); /* BertFor* checkpoints */
        if ((t = qy_st_find(st, alt))) return t;
        size_t n = strlen(name);
        const char *suffix = n > 16 && !strcmp(name + n - 16, "LayerNorm.weight") ? "gamma"
                             : n > 14 && !strcmp(name + n - 14, "LayerNorm.bias") ? "beta"
                                                                                  : NULL;
        if (suffix) {
            size_t stem = n - (suffix[0] == 'g' ? 6 : 4); /* drop "weight" / "bias" */
            for (int prefixed = 0; prefixed < 2; prefixed++) {
                snprintf(alt, sizeof alt, "%s%.*s%s", prefixed ? "bert." : "", (int)stem, name, suffix);
                if ((t = qy_st_find(st, alt))) return t;
            }
        }
    }
    return NULL;
}

int qy_lm_spec_check(const qy_lm_spec *s, const qy_st_file *st, const qy_st_tensor **found, size_t *unused) {
    size_t used = 0, opt_found = 0, opt_missing = 0;
    const char *missing = NULL;
    for (size_t i = 0; i < s->count; i++) {
        const qy_lm_param *p = &s->params[i];
        const qy_st_tensor *t = lookup(s, st, p->name);
        if (found) found[i] = t;
        if (p->optional) {
            opt_found += t != NULL;
            if (!t && !missing) missing = p->name;
            opt_missing += t == NULL;
        }
        if (!t) {
            if (p->optional) continue;
            return qy_error(QY_ERR_NOT_FOUND, "%s: tensor '%s' is missing (a %s %s checkpoint needs it)",
                            qy_st_source(st), p->name, qy_lm_family_name(s->family),
                            p->role == QY_ROLE_LM_HEAD ? "untied-head" : "");
        }
        used++;
        int same = t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
        if (!same) {
            char want[96], got[160];
            qy_shape_text(p->shape, p->ndim, want, sizeof want);
            qy_shape_text(t->shape, t->ndim, got, sizeof got);
            return qy_error(QY_ERR_SHAPE, "%s: tensor '%s' has shape %s, the config implies %s",
                            qy_st_source(st), t->name, got, want);
        }
        if (t->dtype != QY_ST_F32 && t->dtype != QY_ST_F16 && t->dtype != QY_ST_BF16 && t->dtype != QY_ST_F64)
            return qy_error(QY_ERR_UNSUPPORTED,
                            "%s: tensor '%s' is %s; weights must be F32, F16, BF16 or F64", qy_st_source(st),
                            t->name, qy_st_dtype_name(t->dtype));
    }
    if (opt_found && opt_missing)
        return qy_error(QY_ERR_NOT_FOUND, "%s: tensor '%s' is missing (the file has the rest of the pooler)",
                        qy_st_source(st), missing);
    if (unused) *unused = qy_st_count(st) - used;
    return QY_OK;
}
