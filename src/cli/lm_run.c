/* lm_run.c — `quarry lm forward` and `quarry lm embed`: run a Hugging Face model
 * folder on text (tokenised with its tokenizer.json) or on ids. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/lm_cli.h"
#include "quarry/lm.h"
#include "quarry/text.h"

static int load_tokenizer(const char *dir, qy_tokenizer **tok) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    return qy_tokenizer_load(path, tok);
}

/* ---------------------------------------------------------------- forward */

int qy_lm_cmd_forward(int argc, char **argv) {
    const char *text = NULL, *ids_arg = NULL;
    long top = 5;
    int all = 0, hidden = 0;
    qy_opt opts[] = {
        {"text", 0, QY_OPT_STRING, "TEXT", "input text (tokenised with DIR/tokenizer.json)", &text},
        {"ids", 0, QY_OPT_STRING, "I,J,...", "input token ids instead of text", &ids_arg},
        {"top", 'k', QY_OPT_INT, "N", "most likely next tokens to show per position (default 5)", &top},
        {"all", 0, QY_OPT_FLAG, NULL, "show every position, not only the last", &all},
        {"hidden", 0, QY_OPT_FLAG, NULL, "include the final hidden states (with --json)", &hidden},
        {NULL, 0, QY_OPT_FLAG, NULL, NULL, NULL}};
    qy_cli_spec spec = {
        .usage = "quarry lm forward [options] DIR (--text TEXT | --ids I,J,...)",
        .description = "Run the model in DIR on one sequence and show, for the last position (or every\n"
                       "position with --all), the most likely next tokens with their probabilities.\n"
                       "With --json: ids, tokens, top-k per position, the loss of the sequence, and\n"
                       "the final hidden states with --hidden. Encoders (BERT) report hidden states only.",
        .opts = opts,
        .min_pos = 1,
        .max_pos = 1,
        .examples = "  quarry lm forward models/llama-tiny --text 'To be, or not'\n"
                    "  quarry lm forward models/gpt2-tiny --ids 569,802,533 --all --json\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    if (!text == !ids_arg) {
        fprintf(stderr, "quarry: give exactly one of --text and --ids\n");
        qy_cli_print_usage(stderr, &spec);
        return 2;
    }
    if (top < 1) top = 1;
    const char *dir = pos[0];
    qy_lm *lm = NULL;
    qy_tokenizer *tok = NULL;
    qy_pool *pool = NULL;
    qy_graph *g = NULL;
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    int st = qy_lm_load(dir, &lm);
    if (!st && text) {
        st = load_tokenizer(dir, &tok);
        if (!st) st = qy_tokenizer_encode_ids(tok, text, strlen(text), &ids, &n, &cap);
        if (!st && n == 0) st = qy_error(QY_ERR_ARG, "--text: the text encodes to no tokens");
    } else if (!st) {
        /* the vocabulary is checked by the forward pass, which names the position */
        st = lm_parse_ids(ids_arg, (int64_t)INT32_MAX + 1, &ids, &n, &cap);
        if (!st && n == 0) st = qy_error(QY_ERR_ARG, "--ids: no ids given");
        if (!st) {
            char tpath[4096];
            snprintf(tpath, sizeof tpath, "%s/tokenizer.json", dir);
            if (qy_file_exists(tpath)) st = qy_tokenizer_load(tpath, &tok);
        }
    }
    if (!st) st = qy_pool_new(c.threads, &pool);
    if (!st) st = qy_graph_new(pool, &g);
    qy_tensor *h = NULL, *logits = NULL;
    if (!st) {
        qy_graph_set_grad_enabled(g, 0);
        qy_lm_batch b = {.B = 1, .T = (int)n, .ids = ids};
        st = qy_lm_forward(lm, g, &b, &h, &logits);
    }
    if (st) {
        rc = qy_cli_fail(st);
        goto done;
    }
    const qy_lm_config *cfg = qy_lm_get_config(lm);
    size_t V = (size_t)cfg->vocab_size, C = (size_t)cfg->hidden_size;
    cJSON *out = c.json ? cJSON_CreateObject() : NULL;
    cJSON *jpos = out ? cJSON_AddArrayToObject(out, "positions") : NULL;
    double nll = 0;
    if (out) {
        cJSON *ji = cJSON_AddArrayToObject(out, "ids");
        for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(ji, cJSON_CreateNumber(ids[i]));
    }
    for (size_t t = logits ? (all ? 0 : n - 1) : n; t < n; t++) {
        const float *row = logits->data + t * V;
        double mx = -INFINITY, z = 0;
        for (size_t v = 0; v < V; v++) mx = fmax(mx, row[v]);
        for (size_t v = 0; v < V; v++) z += exp((double)row[v] - mx);
        int32_t best[64];
        long k = top < 64 ? top : 64;
        for (long j = 0; j < k; j++) {
            int32_t b = -1;
            for (size_t v = 0; v < V; v++) {
                int used = 0;
                for (long q = 0; q < j; q++) used |= best[q] == (int32_t)v;
                if (!used && (b < 0 || row[v] > row[b])) b = (int32_t)v;
            }
            best[j] = b;
        }
        const char *cur = tok ? qy_tokenizer_id_to_token(tok, ids[t]) : NULL;
        if (out) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "position", (double)t);
            cJSON_AddNumberToObject(e, "id", ids[t]);
            if (cur) cJSON_AddStringToObject(e, "token", cur);
            cJSON *arr = cJSON_AddArrayToObject(e, "top");
            for (long j = 0; j < k; j++) {
                cJSON *o = cJSON_CreateObject();
                const char *s = tok ? qy_tokenizer_id_to_token(tok, best[j]) : NULL;
                cJSON_AddNumberToObject(o, "id", best[j]);
                if (s) cJSON_AddStringToObject(o, "token", s);
                cJSON_AddNumberToObject(o, "logprob", (double)row[best[j]] - mx - log(z));
                cJSON_AddItemToArray(arr, o);
            }
            cJSON_AddItemToArray(jpos, e);
        } else {
            printf("position %zu (%s):", t, cur ? cur : "");
            for (long j = 0; j < k; j++) {
                const char *s = tok ? qy_tokenizer_id_to_token(tok, best[j]) : NULL;
                printf("  %d%s%s%s %.4f", best[j], s ? " '" : "", s ? s : "", s ? "'" : "",
                       exp((double)row[best[j]] - mx - log(z)));
            }
            printf("\n");
        }
    }
    if (logits)
        for (size_t t = 0; t + 1 < n; t++) {
            const float *row = logits->data + t * V;
            double mx = -INFINITY, z = 0;
            for (size_t v = 0; v < V; v++) mx = fmax(mx, row[v]);
            for (size_t v = 0; v < V; v++) z += exp((double)row[v] - mx);
            nll -= (double)row[ids[t + 1]] - mx - log(z);
        }
    if (out) {
        if (logits && n > 1) cJSON_AddNumberToObject(out, "loss", nll / (double)(n - 1));
        if (hidden || !logits) {
            cJSON *hs = cJSON_AddArrayToObject(out, "hidden_states");
            for (size_t t = 0; t < n; t++) {
                cJSON *r = cJSON_CreateFloatArray(h->data + t * C, (int)C);
                cJSON_AddItemToArray(hs, r);
            }
        }
        char *s = qy_json_print(out, 0);
        if (s) puts(s);
        qy_free(s);
        cJSON_Delete(out);
    } else if (logits && n > 1) {
        printf("loss %.6f (mean next-token cross-entropy over %zu predictions)\n", nll / (double)(n - 1),
               n - 1);
    } else if (!logits) {
        printf("%s is an encoder: use --json --hidden for its hidden states, or 'quarry lm embed'\n",
               cfg->model_type);
    }
    rc = 0;
done:
    qy_graph_free(g);
    qy_pool_free(pool);
    qy_free(ids);
    qy_tokenizer_free(tok);
    qy_lm_free(lm);
    return rc;
}

/* ------------------------------------------------------------------ embed */

/* append a copy of text to the growing list */
static int push_text(char ***texts, size_t *n, size_t *cap, const char *text) {
    if (*n == *cap) {
        size_t c2 = *cap ? 2 * *cap : 16;
        char **t2 = qy_reallocn(*texts, c2, sizeof **texts);
        if (!t2) return QY_ERR_NOMEM;
        *texts = t2;
        *cap = c2;
    }
    char *d = qy_strdup(text);
    if (!d) return QY_ERR_NOMEM;
    (*texts)[(*n)++] = d;
    return QY_OK;
}

int qy_lm_cmd_embed(int argc, char **argv) {
    const char *pooling = NULL, *file = NULL;
    int normalize = 0;
    long batch = 32, max_len = 512;
    qy_opt opts[] = {
        {"pooling", 0, QY_OPT_STRING, "KIND",
         "cls, mean (mask-weighted) or last (default: cls for encoders, mean "
         "for decoders)",
         &pooling},
        {"normalize", 0, QY_OPT_FLAG, NULL, "scale each embedding to unit L2 norm", &normalize},
        {"file", 'f', QY_OPT_STRING, "PATH", "texts to embed, one per line ('-' = stdin)", &file},
        {"batch", 'b', QY_OPT_INT, "N", "texts per forward pass (default 32)", &batch},
        {"max-length", 0, QY_OPT_INT, "N", "truncate texts to N tokens (default 512)", &max_len},
        {NULL, 0, QY_OPT_FLAG, NULL, NULL, NULL}};
    qy_cli_spec spec = {
        .usage = "quarry lm embed [options] DIR [TEXT...]",
        .description = "Embed texts with the model in DIR (BERT or a decoder): one JSON array per line\n"
                       "on stdout, in input order. Texts come from the arguments or --file; batches are\n"
                       "padded and masked, so an embedding does not depend on its batch.",
        .opts = opts,
        .min_pos = 1,
        .max_pos = -1,
        .examples = "  quarry lm embed models/bert-tiny 'what is bm25' 'a ranking function'\n"
                    "  quarry lm embed models/bert-tiny --pooling mean --normalize -f queries.txt\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    if (batch < 1 || max_len < 1) {
        fprintf(stderr, "quarry: --batch and --max-length must be >= 1\n");
        return 2;
    }
    const char *dir = pos[0];
    qy_lm *lm = NULL;
    qy_tokenizer *tok = NULL;
    qy_pool *pool = NULL;
    qy_graph *g = NULL;
    char **texts = NULL;
    size_t ntexts = 0, tcap = 0;
    qy_encoding *enc = NULL;
    int st = qy_lm_load(dir, &lm);
    if (!st) st = load_tokenizer(dir, &tok);
    const qy_lm_config *cfg = lm ? qy_lm_get_config(lm) : NULL;
    int kind = 0; /* 0 cls, 1 mean, 2 last */
    if (!st) {
        kind = cfg->is_decoder ? 1 : 0;
        if (pooling && !strcmp(pooling, "cls"))
            kind = 0;
        else if (pooling && !strcmp(pooling, "mean"))
            kind = 1;
        else if (pooling && !strcmp(pooling, "last"))
            kind = 2;
        else if (pooling)
            st = qy_error(QY_ERR_ARG, "--pooling: '%s' is not cls, mean or last", pooling);
    }
    /* gather texts */
    for (int i = 1; !st && i < npos; i++) st = push_text(&texts, &ntexts, &tcap, pos[i]);
    if (!st && file) {
        FILE *fp = strcmp(file, "-") ? fopen(file, "r") : stdin;
        if (!fp) st = qy_error(QY_ERR_IO, "%s: cannot open", file);
        char *line = NULL;
        size_t lcap = 0;
        ssize_t len;
        while (!st && fp && (len = getline(&line, &lcap, fp)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
            st = push_text(&texts, &ntexts, &tcap, line);
        }
        free(line);
        if (fp && fp != stdin) fclose(fp);
    }
    if (!st && ntexts == 0) st = qy_error(QY_ERR_ARG, "no texts to embed (give TEXT arguments or --file)");
    if (!st) st = qy_pool_new(c.threads, &pool);
    if (!st) st = qy_graph_new(pool, &g);
    if (!st) qy_graph_set_grad_enabled(g, 0);
    size_t C = cfg ? (size_t)cfg->hidden_size : 0;
    float *vec = C ? qy_mallocn(C, sizeof(float)) : NULL;
    if (!st && !vec) st = QY_ERR_NOMEM;
    qy_progress prog;
    qy_progress_begin(&prog, "embed", ntexts, "texts");
    for (size_t b0 = 0; !st && b0 < ntexts; b0 += (size_t)batch) {
        size_t nb = ntexts - b0 < (size_t)batch ? ntexts - b0 : (size_t)batch;
        enc = qy_calloc(nb, sizeof *enc);
        size_t *lens = qy_mallocn(nb, sizeof *lens);
        if (!enc || !lens) {
            qy_free(lens);
            st = QY_ERR_NOMEM;
            break;
        }
        for (size_t i = 0; i < nb; i++) lens[i] = strlen(texts[b0 + i]);
        qy_tok_params tp;
        qy_tok_params_default(tok, &tp);
        tp.max_length = (size_t)max_len;
        tp.pad_to_longest = 1;
        st = qy_tokenizer_encode_batch(tok, (const char *const *)texts + b0, lens, nb, &tp, pool, enc);
        qy_free(lens);
        if (st) break;
        int T = (int)enc[0].n;
        int32_t *ids = qy_mallocn(nb * (size_t)T, sizeof(int32_t));
        uint8_t *mask = qy_mallocn(nb * (size_t)T, 1);
        int32_t *types = qy_mallocn(nb * (size_t)T, sizeof(int32_t));
        if (!ids || !mask || !types) st = QY_ERR_NOMEM;
        for (size_t i = 0; !st && i < nb; i++) {
            memcpy(ids + i * (size_t)T, enc[i].ids, sizeof(int32_t) * (size_t)T);
            memcpy(mask + i * (size_t)T, enc[i].attention_mask, (size_t)T);
            memcpy(types + i * (size_t)T, enc[i].type_ids, sizeof(int32_t) * (size_t)T);
        }
        qy_tensor *h = NULL;
        if (!st) {
            qy_graph_reset(g);
            qy_lm_batch b = {.B = (int)nb, .T = T, .ids = ids, .attn_mask = mask, .type_ids = types};
            st = qy_lm_forward(lm, g, &b, &h, NULL);
        }
        for (size_t i = 0; !st && i < nb; i++) {
            const float *H = h->data + i * (size_t)T * C;
            const uint8_t *m = mask + i * (size_t)T;
            memset(vec, 0, C * sizeof(float));
            if (kind == 0) {
                memcpy(vec, H, C * sizeof(float));
            } else if (kind == 2) {
                int last = 0;
                for (int t = 0; t < T; t++)
                    if (m[t]) last = t;
                memcpy(vec, H + (size_t)last * C, C * sizeof(float));
            } else {
                double cnt = 0;
                for (int t = 0; t < T; t++) {
                    if (!m[t]) continue;
                    cnt++;
                    for (size_t k = 0; k < C; k++) vec[k] += H[(size_t)t * C + k];
                }
                for (size_t k = 0; k < C; k++) vec[k] = (float)(vec[k] / (cnt > 0 ? cnt : 1));
            }
            if (normalize) {
                double s = 0;
                for (size_t k = 0; k < C; k++) s += (double)vec[k] * vec[k];
                double inv = s > 0 ? 1.0 / sqrt(s) : 0;
                for (size_t k = 0; k < C; k++) vec[k] = (float)(vec[k] * inv);
            }
            putchar('[');
            for (size_t k = 0; k < C; k++) printf(k ? ",%.9g" : "%.9g", (double)vec[k]);
            puts("]");
        }
        qy_free(ids);
        qy_free(mask);
        qy_free(types);
        for (size_t i = 0; i < nb; i++) qy_encoding_free(&enc[i]);
        qy_free(enc);
        enc = NULL;
        qy_progress_update(&prog, b0 + nb);
    }
    if (!st) qy_progress_end(&prog);
    rc = st ? qy_cli_fail(st) : 0;
    qy_free(vec);
    for (size_t i = 0; i < ntexts; i++) qy_free(texts[i]);
    qy_free(texts);
    qy_graph_free(g);
    qy_pool_free(pool);
    qy_tokenizer_free(tok);
    qy_lm_free(lm);
    return rc;
}
