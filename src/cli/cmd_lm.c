/* cmd_lm.c — `quarry lm VERB`: language models from Hugging Face folders.
 * Verbs: info (architecture, parameter count, memory, tensors), convert; forward, embed and
 * train, generate, score, chat live in their own files (declared in lm_cli.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/lm_cli.h"
#include "quarry/base.h"
#include "quarry/model.h"

/* "1.71 MiB" */
static const char *human_bytes(size_t b, char *buf, size_t cap) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%zu B", b);
    else
        snprintf(buf, cap, "%.2f %s", v, units[u]);
    return buf;
}

/* "224,320" */
static const char *grouped(size_t n, char *buf, size_t cap) {
    char raw[32];
    snprintf(raw, sizeof raw, "%zu", n);
    size_t len = strlen(raw), o = 0;
    for (size_t i = 0; i < len && o + 2 < cap; i++) {
        if (i && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
    return buf;
}

static const char *token_text(int64_t id, char *buf, size_t cap) {
    if (id < 0) return "none";
    snprintf(buf, cap, "%lld", (long long)id);
    return buf;
}

static const char *rope_text(const qy_lm_config *c, char *buf, size_t cap) {
    if (!c->use_rope) return "learned absolute positions";
    if (c->rope_scaling == QY_ROPE_LINEAR)
        snprintf(buf, cap, "RoPE theta %g, linear scaling x%g", c->rope_theta, c->rope_factor);
    else if (c->rope_scaling == QY_ROPE_LLAMA3)
        snprintf(buf, cap, "RoPE theta %g, llama3 scaling x%g (low %g, high %g, original %lld positions)",
                 c->rope_theta, c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor,
                 (long long)c->rope_original_max_positions);
    else
        snprintf(buf, cap, "RoPE theta %g, no scaling", c->rope_theta);
    return buf;
}

/* the dtypes present in the file, "F32" or "BF16+F32" */
static void dtypes_text(const qy_st_file *st, char *buf, size_t cap) {
    int seen[QY_ST_DTYPE_COUNT] = {0};
    for (size_t i = 0; i < qy_st_count(st); i++) seen[qy_st_at(st, i)->dtype] = 1;
    buf[0] = '\0';
    size_t l = 0;
    for (int d = 0; d < QY_ST_DTYPE_COUNT; d++)
        if (seen[d] && l < cap)
            l += (size_t)snprintf(buf + l, cap - l, "%s%s", l ? "+" : "", qy_st_dtype_name((qy_st_dtype)d));
}

static cJSON *ids_json(const int64_t *ids, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)ids[i]));
    return a;
}

static void print_json(const char *dir, const qy_lm_config *c, const qy_lm_spec *spec, const qy_st_file *st,
                       const qy_st_tensor **found, size_t unused, const qy_lm_memory *m, int verbose) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dir", dir);
    cJSON_AddStringToObject(o, "model_type", c->model_type);
    cJSON_AddStringToObject(o, "architecture", c->architecture);
    cJSON_AddNumberToObject(o, "vocab_size", (double)c->vocab_size);
    cJSON_AddNumberToObject(o, "hidden_size", (double)c->hidden_size);
    cJSON_AddNumberToObject(o, "num_layers", (double)c->num_layers);
    cJSON_AddNumberToObject(o, "num_heads", (double)c->num_heads);
    cJSON_AddNumberToObject(o, "num_kv_heads", (double)c->num_kv_heads);
    cJSON_AddNumberToObject(o, "head_dim", (double)c->head_dim);
    cJSON_AddNumberToObject(o, "intermediate_size", (double)c->intermediate_size);
    cJSON_AddNumberToObject(o, "max_positions", (double)c->max_positions);
    if (c->family == QY_LM_BERT) cJSON_AddNumberToObject(o, "type_vocab_size", (double)c->type_vocab_size);
    cJSON_AddStringToObject(o, "norm", c->rms_norm ? "rmsnorm" : "layernorm");
    cJSON_AddNumberToObject(o, "norm_eps", c->norm_eps);
    cJSON_AddStringToObject(o, "activation", qy_lm_act_name(c->act));
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_word_embeddings);
    cJSON_AddBoolToObject(o, "qkv_bias", c->qkv_bias);
    cJSON_AddBoolToObject(o, "qk_norm", c->qk_norm);
    if (c->use_rope) {
        cJSON *r = cJSON_AddObjectToObject(o, "rope");
        cJSON_AddNumberToObject(r, "theta", c->rope_theta);
        cJSON_AddStringToObject(r, "scaling",
                                c->rope_scaling == QY_ROPE_LINEAR   ? "linear"
                                : c->rope_scaling == QY_ROPE_LLAMA3 ? "llama3"
                                                                    : "default");
        if (c->rope_scaling != QY_ROPE_DEFAULT) cJSON_AddNumberToObject(r, "factor", c->rope_factor);
    }
    cJSON_AddNumberToObject(o, "bos_token_id", (double)c->bos_token_id);
    cJSON_AddItemToObject(o, "eos_token_ids", ids_json(c->eos_token_ids, c->n_eos));
    cJSON_AddNumberToObject(o, "pad_token_id", (double)c->pad_token_id);
    cJSON_AddNumberToObject(o, "parameters", (double)qy_lm_spec_numel(spec));
    cJSON_AddNumberToObject(o, "file_bytes", (double)qy_st_total_bytes(st));
    cJSON_AddNumberToObject(o, "file_tensors", (double)qy_st_count(st));
    cJSON_AddNumberToObject(o, "unused_tensors", (double)unused);
    cJSON *mem = cJSON_AddObjectToObject(o, "memory_f32");
    cJSON_AddNumberToObject(mem, "weights", (double)m->weights);
    cJSON_AddNumberToObject(mem, "grads", (double)m->grads);
    cJSON_AddNumberToObject(mem, "adamw", (double)m->adamw);
    cJSON_AddNumberToObject(mem, "total", (double)m->total);
    if (verbose) {
        cJSON *arr = cJSON_AddArrayToObject(o, "tensors");
        for (size_t i = 0; i < qy_lm_spec_count(spec); i++) {
            const qy_lm_param *p = qy_lm_spec_at(spec, i);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", p->name);
            cJSON *sh = cJSON_AddArrayToObject(e, "shape");
            for (int d = 0; d < p->ndim; d++)
                cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)p->shape[d]));
            cJSON_AddStringToObject(e, "dtype", found[i] ? qy_st_dtype_name(found[i]->dtype) : "absent");
            if (found[i] && strcmp(found[i]->name, p->name))
                cJSON_AddStringToObject(e, "stored_as", found[i]->name);
            cJSON_AddNumberToObject(e, "numel", (double)p->numel);
            cJSON_AddItemToArray(arr, e);
        }
    }
    char *s = qy_json_print(o, 1);
    if (s) puts(s);
    qy_free(s);
    cJSON_Delete(o);
}

static void print_text(const char *dir, const qy_lm_config *c, const qy_lm_spec *spec, const qy_st_file *st,
                       const qy_st_tensor **found, size_t unused, const qy_lm_memory *m, int verbose) {
    char b1[64], b2[64], b3[64], b4[64], line[256];
    printf("%-13s %s\n", "model", dir);
    printf("%-13s %s (model_type %s)\n", "architecture", c->architecture[0] ? c->architecture : "-",
           c->model_type);
    if (c->num_kv_heads != c->num_heads)
        snprintf(line, sizeof line, ", %lld key/value heads (grouped-query)", (long long)c->num_kv_heads);
    else
        line[0] = '\0';
    printf("%-13s %lld layers, hidden %lld, %lld heads of %lld%s\n", "shape", (long long)c->num_layers,
           (long long)c->hidden_size, (long long)c->num_heads, (long long)c->head_dim, line);
    printf("%-13s %lld wide, %s%s\n", "mlp", (long long)c->intermediate_size, qy_lm_act_name(c->act),
           c->is_decoder && c->rms_norm ? " gated (SwiGLU)" : "");
    printf("%-13s %lld tokens, %lld positions%s", "vocabulary", (long long)c->vocab_size,
           (long long)c->max_positions, c->family == QY_LM_BERT ? "" : "\n");
    if (c->family == QY_LM_BERT) printf(", %lld token types\n", (long long)c->type_vocab_size);
    printf("%-13s %s, eps %g%s\n", "norm", c->rms_norm ? "RMSNorm" : "LayerNorm", c->norm_eps,
           c->qk_norm ? " (+ per-head q/k RMSNorm)" : "");
    printf("%-13s %s\n", "positions", rope_text(c, line, sizeof line));
    printf("%-13s q/k/v %s, output %s\n", "biases", c->qkv_bias ? "yes" : "no", c->o_bias ? "yes" : "no");
    if (c->is_decoder)
        printf("%-13s %s\n", "lm head",
               c->tie_word_embeddings ? "tied to the token embedding" : "untied (lm_head.weight)");
    dtypes_text(st, b1, sizeof b1);
    printf("%-13s %s: %zu tensors, %s, %s", "weights", qy_st_source(st), qy_st_count(st), b1,
           human_bytes(qy_st_total_bytes(st), b2, sizeof b2));
    if (unused) printf(" (%zu not used by the model)", unused);
    printf("\n%-13s %s\n", "parameters", grouped(qy_lm_spec_numel(spec), b1, sizeof b1));
    printf("%-13s weights %s, grads %s, AdamW %s, training total %s (f32)\n", "memory",
           human_bytes(m->weights, b1, sizeof b1), human_bytes(m->grads, b2, sizeof b2),
           human_bytes(m->adamw, b3, sizeof b3), human_bytes(m->total, b4, sizeof b4));
    if (c->is_decoder) {
        char ids[128] = "";
        size_t l = 0;
        for (int i = 0; i < c->n_eos && l < sizeof ids; i++)
            l += (size_t)snprintf(ids + l, sizeof ids - l, "%s%lld", i ? "," : "",
                                  (long long)c->eos_token_ids[i]);
        printf("%-13s bos %s, eos %s, pad %s\n", "tokens", token_text(c->bos_token_id, b1, sizeof b1),
               c->n_eos ? ids : "none", token_text(c->pad_token_id, b2, sizeof b2));
    }
    if (!verbose) return;
    printf("\n%-56s %-14s %-6s %s\n", "tensor", "shape", "dtype", "elements");
    for (size_t i = 0; i < qy_lm_spec_count(spec); i++) {
        const qy_lm_param *p = qy_lm_spec_at(spec, i);
        qy_shape_text(p->shape, p->ndim, line, sizeof line);
        printf("%-56s %-14s %-6s %s%s%s\n", p->name, line,
               found[i] ? qy_st_dtype_name(found[i]->dtype) : "absent", grouped(p->numel, b1, sizeof b1),
               found[i] && strcmp(found[i]->name, p->name) ? "  stored as " : "",
               found[i] && strcmp(found[i]->name, p->name) ? found[i]->name : "");
    }
    for (size_t i = 0; i < qy_st_count(st); i++) {
        const qy_st_tensor *t = qy_st_at(st, i);
        int taken = 0;
        for (size_t k = 0; k < qy_lm_spec_count(spec) && !taken; k++) taken = found[k] == t;
        if (!taken) {
            qy_shape_text(t->shape, t->ndim, line, sizeof line);
            printf("%-56s %-14s %-6s (not used)\n", t->name, line, qy_st_dtype_name(t->dtype));
        }
    }
}

/* `lm info FILE.safetensors`: the file alone, without a config */
static int info_file(const char *path, const qy_cli_common *c) {
    qy_st_file *st;
    int s = qy_st_open(path, &st);
    if (s) return qy_cli_fail(s);
    char b1[64], b2[64], line[256];
    size_t numel = 0;
    for (size_t i = 0; i < qy_st_count(st); i++) numel += qy_st_at(st, i)->numel;
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", path);
        cJSON_AddNumberToObject(o, "tensors", (double)qy_st_count(st));
        cJSON_AddNumberToObject(o, "elements", (double)numel);
        cJSON_AddNumberToObject(o, "bytes", (double)qy_st_total_bytes(st));
        cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
        for (size_t i = 0; i < qy_st_metadata_count(st); i++) {
            const char *k, *v;
            qy_st_metadata_at(st, i, &k, &v);
            cJSON_AddStringToObject(meta, k, v);
        }
        if (c->verbose) {
            cJSON *arr = cJSON_AddArrayToObject(o, "list");
            for (size_t i = 0; i < qy_st_count(st); i++) {
                const qy_st_tensor *t = qy_st_at(st, i);
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "name", t->name);
                cJSON_AddStringToObject(e, "dtype", qy_st_dtype_name(t->dtype));
                cJSON *sh = cJSON_AddArrayToObject(e, "shape");
                for (int d = 0; d < t->ndim; d++)
                    cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
                cJSON_AddItemToArray(arr, e);
            }
        }
        char *js = qy_json_print(o, 1);
        if (js) puts(js);
        qy_free(js);
        cJSON_Delete(o);
    } else {
        dtypes_text(st, b1, sizeof b1);
        printf("%-13s %s\n%-13s %zu tensors, %s, %s elements, %s\n", "file", path, "contents",
               qy_st_count(st), b1, grouped(numel, line, sizeof line),
               human_bytes(qy_st_total_bytes(st), b2, sizeof b2));
        for (size_t i = 0; i < qy_st_metadata_count(st); i++) {
            const char *k, *v;
            qy_st_metadata_at(st, i, &k, &v);
            printf("%-13s %s = %s\n", i ? "" : "metadata", k, v);
        }
        for (size_t i = 0; c->verbose && i < qy_st_count(st); i++) {
            const qy_st_tensor *t = qy_st_at(st, i);
            qy_shape_text(t->shape, t->ndim, line, sizeof line);
            printf("%-56s %-14s %s\n", t->name, line, qy_st_dtype_name(t->dtype));
        }
    }
    qy_st_close(st);
    return 0;
}

static int run_info(int argc, char **argv) {
    qy_cli_spec spec = {
        .usage = "quarry lm info [options] DIR|FILE.safetensors",
        .description = "Describe the Hugging Face model folder DIR (config.json, generation_config.json,\n"
                       "model.safetensors or a sharded model.safetensors.index.json): architecture,\n"
                       "parameter count, and the memory to train it in f32 (weights, gradients and\n"
                       "AdamW moments). Checks every tensor's name and shape against the config;\n"
                       "--verbose lists them. Given a .safetensors file instead, validates it and\n"
                       "lists its contents (tensors, dtypes, metadata).",
        .min_pos = 1,
        .max_pos = 1,
        .examples =
            "  quarry lm info models/llama-tiny\n  quarry lm info --verbose --json models/bert-tiny\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    const char *dir = pos[0];
    struct stat sb;
    if (stat(dir, &sb) == 0 && S_ISREG(sb.st_mode)) {
        return info_file(dir, &c);
    }
    qy_lm_config cfg;
    qy_st_file *st = NULL;
    qy_lm_spec *ms = NULL;
    const qy_st_tensor **found = NULL;
    size_t unused = 0;
    qy_lm_memory mem;
    int s = qy_lm_config_read_dir(dir, &cfg);
    if (!s) s = qy_st_open_dir(dir, &st);
    if (!s) s = qy_lm_spec_new(&cfg, &ms);
    if (!s && !(found = qy_calloc(qy_lm_spec_count(ms), sizeof *found))) s = QY_ERR_NOMEM;
    if (!s) s = qy_lm_spec_check(ms, st, found, &unused);
    if (!s) s = qy_lm_spec_memory(ms, &mem);
    if (!s) {
        if (c.json)
            print_json(dir, &cfg, ms, st, found, unused, &mem, c.verbose);
        else
            print_text(dir, &cfg, ms, st, found, unused, &mem, c.verbose);
    }
    qy_free(found);
    qy_lm_spec_free(ms);
    qy_st_close(st);
    return s ? qy_cli_fail(s) : 0;
}

/* "5GB", "500MB", "2KiB", "123" -> bytes (decimal units as transformers' max_shard_size) */
static int parse_size(const char *text, size_t *out) {
    char *end;
    double v = strtod(text, &end);
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"", 1},      {"B", 1},        {"KB", 1e3},        {"MB", 1e6},          {"GB", 1e9},
                 {"TB", 1e12}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}};
    if (end == text || !(v >= 0)) return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].unit)) {
            double b = v * units[i].mult;
            if (b > 9e18) return -1;
            *out = (size_t)b;
            return 0;
        }
    return -1;
}

/* copy DIR/NAME to OUT/NAME if it exists */
static int copy_if_present(const char *dir, const char *out, const char *name) {
    char src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/%s", dir, name);
    snprintf(dst, sizeof dst, "%s/%s", out, name);
    if (!qy_file_exists(src)) return QY_OK;
    char *buf;
    size_t len;
    int st = qy_read_file(src, 0, &buf, &len);
    if (!st) st = qy_write_file_atomic(dst, buf, len);
    qy_free(buf);
    return st;
}

static int run_convert(int argc, char **argv) {
    const char *dtype_name = "f32", *shard = NULL;
    qy_opt opts[] = {
        {"dtype", 0, QY_OPT_STRING, "TYPE", "weights stored as f32 (default), f16 or bf16", &dtype_name},
        {"max-shard-size", 0, QY_OPT_STRING, "SIZE",
         "split the weights into shards of at most SIZE (5GB, 500MB, bytes) with an index", &shard},
        {NULL, 0, QY_OPT_FLAG, NULL, NULL, NULL}};
    qy_cli_spec spec = {
        .usage = "quarry lm convert [options] DIR OUT",
        .description = "Load the model folder DIR (checked as `lm info` does) and write it to OUT as\n"
                       "transformers saves one: config.json, model.safetensors (or shards and\n"
                       "model.safetensors.index.json), and copies of generation_config.json and the\n"
                       "tokenizer files. Tensor names and order are transformers' own, so converting\n"
                       "a save_pretrained folder to f32 gives back the identical weights file.",
        .opts = opts,
        .min_pos = 2,
        .max_pos = 2,
        .examples = "  quarry lm convert --dtype bf16 models/llama models/llama-bf16\n"
                    "  quarry lm convert --max-shard-size 2GB models/big models/big-sharded\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    qy_st_dtype dtype;
    const char *torch_name;
    if (!strcmp(dtype_name, "f32")) {
        dtype = QY_ST_F32;
        torch_name = "float32";
    } else if (!strcmp(dtype_name, "f16")) {
        dtype = QY_ST_F16;
        torch_name = "float16";
    } else if (!strcmp(dtype_name, "bf16")) {
        dtype = QY_ST_BF16;
        torch_name = "bfloat16";
    } else {
        fprintf(stderr, "quarry lm convert: --dtype must be f32, f16 or bf16, not '%s'\n", dtype_name);
        return 2;
    }
    size_t max_shard = 0;
    if (shard && parse_size(shard, &max_shard)) {
        fprintf(stderr, "quarry lm convert: --max-shard-size: '%s' is not a size (5GB, 500MB, 1048576)\n",
                shard);
        return 2;
    }
    const char *dir = pos[0], *out = pos[1];
    qy_lm_config cfg;
    qy_st_file *st = NULL;
    qy_lm_spec *ms = NULL;
    qy_lm_weights w = {0};
    qy_pool *pool = NULL;
    char path[4096];
    uint64_t t0 = qy_now_ns();
    int s = qy_pool_new(c.threads, &pool);
    if (!s) s = qy_lm_config_read_dir(dir, &cfg);
    if (!s) s = qy_st_open_dir(dir, &st);
    if (!s) s = qy_lm_spec_new(&cfg, &ms);
    if (!s) s = qy_lm_weights_load(ms, st, pool, &w);
    if (!s) s = qy_mkdir_p(out);
    if (!s) s = qy_lm_weights_save(ms, &w, dtype, out, max_shard);
    if (!s) {
        snprintf(cfg.dtype, sizeof cfg.dtype, "%s", torch_name);
        snprintf(path, sizeof path, "%s/config.json", out);
        s = qy_lm_config_write(&cfg, path);
    }
    static const char *const extra[] = {"generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                        "special_tokens_map.json", "vocab.txt"};
    for (size_t i = 0; !s && i < sizeof extra / sizeof extra[0]; i++) s = copy_if_present(dir, out, extra[i]);
    if (!s && !c.quiet) {
        char b1[64];
        double sec = qy_seconds_since(t0);
        printf("converted %s -> %s: %zu parameters as %s (%s) in %.2f s (%.1f M parameters/s)\n", dir, out,
               w.numel, qy_st_dtype_name(dtype),
               human_bytes(w.numel * qy_st_dtype_size(dtype), b1, sizeof b1), sec,
               sec > 0 ? (double)w.numel / sec / 1e6 : 0.0);
    }
    qy_lm_weights_free(&w);
    qy_lm_spec_free(ms);
    qy_st_close(st);
    qy_pool_free(pool);
    return s ? qy_cli_fail(s) : 0;
}

static int run(int argc, char **argv) {
    static const qy_subcommand subs[] = {
        {"info", "architecture, parameter count, memory and tensors of a model folder", run_info},
        {"train", "train or fine-tune a causal LM on text/JSONL (checkpoints, --resume, loss plot)",
         qy_lm_cmd_train},
        {"generate", "continue a prompt: greedy, sampling, beam search, stop strings", qy_lm_cmd_generate},
        {"score", "per-token log-probabilities of continuations, batched, as JSON", qy_lm_cmd_score},
        {"chat", "interactive chat loop with the model's chat template", qy_lm_cmd_chat},
        {"convert", "write a model folder again (f32/f16/bf16, sharded or not) as transformers saves it",
         run_convert},
        {"forward", "next-token probabilities, loss and hidden states for a text", qy_lm_cmd_forward},
        {"embed", "embeddings of texts (CLS, mean or last-token pooling)", qy_lm_cmd_embed},
        {NULL, NULL, NULL}};
    return qy_cli_dispatch("lm", "Language models from Hugging Face folders (config.json + safetensors).",
                           argc, argv, subs);
}

const qy_command qy_command_lm = {
    "lm", "language models: info, convert, forward, embed, train, generate, score, chat", run};
