/* lm_tok.c — the tokenizer of a model folder, for the `quarry lm` verbs. */
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/lm_cli.h"
#include "quarry/base.h"
#include "quarry/text.h"

enum { TOK_BYTES = 0, TOK_HF = 1 };
enum { BYTES_EOS = 256, BYTES_VOCAB = 257 };

struct lm_tok {
    int kind;
    qy_tokenizer *hf;
    char *path; /* the tokenizer.json (TOK_HF) */
    int64_t eos;
};

static int open_bytes(lm_tok **out) {
    lm_tok *t = qy_calloc(1, sizeof *t);
    if (!t) return QY_ERR_NOMEM;
    t->kind = TOK_BYTES;
    t->eos = BYTES_EOS;
    *out = t;
    return QY_OK;
}

/* a Hugging Face tokenizer.json; EOS: the first of the usual end tokens it has */
static int open_hf(const char *path, lm_tok **out) {
    lm_tok *t = qy_calloc(1, sizeof *t);
    if (!t) return QY_ERR_NOMEM;
    t->kind = TOK_HF;
    t->eos = -1;
    int st = qy_tokenizer_load(path, &t->hf);
    if (!st && !(t->path = qy_strdup(path))) st = QY_ERR_NOMEM;
    if (st) {
        lm_tok_free(t);
        return st;
    }
    static const char *const ends[] = {"<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "[SEP]"};
    for (size_t i = 0; i < sizeof ends / sizeof *ends && t->eos < 0; i++) {
        int32_t id;
        if (qy_tokenizer_token_to_id(t->hf, ends[i], &id) == QY_OK) t->eos = id;
    }
    qy_error_clear();
    *out = t;
    return QY_OK;
}

static int open_marker(const char *path, lm_tok **out) {
    qy_json *doc;
    int st = qy_json_read_file(path, &doc);
    if (st) return st;
    qy_jref r = qy_json_ref(doc);
    const char *type;
    st = qy_jref_string(&r, ".type", &type);
    if (!st && strcmp(type, "bytes"))
        st = qy_error(QY_ERR_UNSUPPORTED, "%s: .type: tokenizer type '%s' unknown (expected \"bytes\")", path,
                      type);
    qy_json_free(doc);
    return st ? st : open_bytes(out);
}

int lm_tok_open(const char *spec, lm_tok **out) {
    *out = NULL;
    if (!strcmp(spec, "bytes")) return open_bytes(out);
    char path[4096];
    snprintf(path, sizeof path, "%s/quarry_tokenizer.json", spec);
    if (qy_file_exists(path)) return open_marker(path, out);
    snprintf(path, sizeof path, "%s/tokenizer.json", spec);
    if (qy_file_exists(path)) return open_hf(path, out);
    size_t l = strlen(spec);
    if (l >= 5 && !strcmp(spec + l - 5, ".json") && qy_file_exists(spec)) return open_hf(spec, out);
    return qy_error(QY_ERR_NOT_FOUND,
                    "%s: no tokenizer (expected \"bytes\", a tokenizer.json, or a model folder "
                    "holding tokenizer.json or quarry_tokenizer.json)",
                    spec);
}

void lm_tok_free(lm_tok *t) {
    if (!t) return;
    qy_tokenizer_free(t->hf);
    qy_free(t->path);
    qy_free(t);
}

size_t lm_tok_vocab(const lm_tok *t) {
    return t->kind == TOK_BYTES ? BYTES_VOCAB : qy_tokenizer_vocab_size(t->hf);
}
int64_t lm_tok_eos(const lm_tok *t) { return t->eos; }
void lm_tok_set_eos(lm_tok *t, int64_t eos) { t->eos = eos; }
const char *lm_tok_name(const lm_tok *t) { return t->kind == TOK_BYTES ? "bytes" : t->path; }

int lm_ids_reserve(int32_t **ids, size_t *cap, size_t need) {
    if (need <= *cap) return QY_OK;
    size_t c = *cap ? *cap : 32;
    while (c < need) c *= 2;
    int32_t *p = qy_reallocn(*ids, c, sizeof *p);
    if (!p) return QY_ERR_NOMEM;
    *ids = p;
    *cap = c;
    return QY_OK;
}

int lm_tok_encode(void *vt, const char *text, size_t len, int32_t **ids, size_t *n, size_t *cap) {
    const lm_tok *t = vt;
    if (t->kind == TOK_HF) return qy_tokenizer_encode_ids(t->hf, text, len, ids, n, cap);
    int st = lm_ids_reserve(ids, cap, *n + len);
    if (st) return st;
    for (size_t i = 0; i < len; i++) (*ids)[(*n)++] = (unsigned char)text[i];
    return QY_OK;
}

int lm_tok_encode_prompt(const lm_tok *t, const char *text, size_t len, int32_t **ids, size_t *n,
                         size_t *cap) {
    if (t->kind != TOK_HF) return lm_tok_encode((void *)t, text, len, ids, n, cap);
    qy_tok_params p;
    qy_tok_params_default(t->hf, &p);
    p.max_length = 0;
    p.pad_to = 0;
    p.pad_to_longest = 0;
    qy_encoding enc = {0};
    int st = qy_tokenizer_encode(t->hf, text, len, &p, &enc);
    if (st) return st;
    if (*n + enc.n > *cap) {
        size_t c = *n + enc.n + 16;
        int32_t *q = qy_reallocn(*ids, c, sizeof *q);
        if (!q) {
            qy_encoding_free(&enc);
            return QY_ERR_NOMEM;
        }
        *ids = q;
        *cap = c;
    }
    memcpy(*ids + *n, enc.ids, enc.n * sizeof *enc.ids);
    *n += enc.n;
    qy_encoding_free(&enc);
    return QY_OK;
}

int lm_tok_decode(const lm_tok *t, const int32_t *ids, size_t n, char **out, size_t *len) {
    if (t->kind == TOK_HF) return qy_tokenizer_decode(t->hf, ids, n, 1, out, len);
    char *s = qy_malloc(n + 1);
    if (!s) return QY_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= BYTES_VOCAB) {
            qy_free(s);
            return qy_error(QY_ERR_RANGE, "decode: id %d outside the byte vocabulary (257)", ids[i]);
        }
        if (ids[i] < 256) s[k++] = (char)ids[i];
    }
    s[k] = '\0';
    *out = s;
    if (len) *len = k;
    return QY_OK;
}

int lm_tok_save(const lm_tok *t, const char *dir) {
    char path[4096];
    if (t->kind == TOK_HF) {
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        if (!strcmp(path, t->path)) return QY_OK;
        char *text;
        size_t len;
        int st = qy_read_file(t->path, 0, &text, &len);
        if (st) return st;
        st = qy_write_file_atomic(path, text, len);
        qy_free(text);
        return st;
    }
    snprintf(path, sizeof path, "%s/quarry_tokenizer.json", dir);
    static const char body[] = "{\n  \"type\": \"bytes\",\n  \"vocab_size\": 257,\n  \"eos\": 256\n}\n";
    return qy_write_file_atomic(path, body, sizeof body - 1);
}

int lm_cli_take_repeated(int *argc, char **argv, const char *name, const char **vals, int cap) {
    int n = 0, o = 1;
    size_t nl = strlen(name);
    for (int i = 1; i < *argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "--")) {
            while (i < *argc) argv[o++] = argv[i++];
            break;
        }
        if (a[0] == '-' && a[1] == '-' && !strncmp(a + 2, name, nl) &&
            (a[2 + nl] == '\0' || a[2 + nl] == '=')) {
            if (n >= cap) return -1;
            if (a[2 + nl] == '=') {
                vals[n++] = a + 3 + nl;
            } else {
                if (i + 1 >= *argc) return -1;
                vals[n++] = argv[++i];
            }
            continue;
        }
        argv[o++] = a;
    }
    *argc = o;
    argv[o] = NULL;
    return n;
}
