/* tok_load.c — reading a Hugging Face tokenizer.json into a qy_tokenizer.
 *
 * Every component is checked against the list quarry implements; anything else
 * (a Unigram model, a Precompiled normaliser, BPE dropout ...) is an error that
 * names the component and its JSON path, never a silent approximation. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "text/tok_internal.h"

#define GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

typedef struct loader {
    const char *src;
    char desc[1024];
} loader;

static void desc_add(loader *L, const char *s) {
    size_t n = strlen(L->desc);
    snprintf(L->desc + n, sizeof L->desc - n, "%s", s);
}

static int unsupported(const loader *L, const qy_jref *r, const char *what, const char *name) {
    return qy_error(QY_ERR_UNSUPPORTED, "%s: %s.type: %s \"%s\" is not supported by quarry", L->src,
                    r->path[0] ? r->path : "", what, name);
}

static int get_type(const qy_jref *r, const char **type) { return qy_jref_string(r, ".type", type); }

/* a pattern: {"String": "..."} or {"Regex": "..."} */
static int load_pattern(const loader *L, const qy_jref *r, tok_regex *re) {
    qy_jref pat;
    int st = qy_jref_get(r, ".pattern", &pat);
    if (st) return st;
    const char *s;
    if (qy_jref_has(&pat, ".String")) {
        if ((st = qy_jref_string(&pat, ".String", &s))) return st;
        return tok_regex_literal(re, s, strlen(s));
    }
    if (qy_jref_has(&pat, ".Regex")) {
        if ((st = qy_jref_string(&pat, ".Regex", &s))) return st;
        char where[256];
        snprintf(where, sizeof where, "%s: %s.pattern.Regex", L->src, r->path);
        return tok_regex_compile(re, s, where);
    }
    return qy_error(QY_ERR_FORMAT, "%s: %s.pattern: expected {\"String\": ...} or {\"Regex\": ...}", L->src,
                    r->path);
}

static int single_char(const loader *L, const qy_jref *r, const char *key, const char *def, uint32_t *out) {
    const char *s;
    int st = def ? qy_jref_string_or(r, key, def, &s) : qy_jref_string(r, key, &s);
    if (st) return st;
    size_t n = strlen(s);
    if (n == 0 || qy_utf8_invalid_at(s, n) != n)
        return qy_error(QY_ERR_FORMAT, "%s: %s%s: expected one character", L->src, r->path, key);
    int l = qy_utf8_decode(s, n, out);
    if ((size_t)l != n)
        return qy_error(QY_ERR_FORMAT, "%s: %s%s: expected one character", L->src, r->path, key);
    return QY_OK;
}

static int load_prepend_scheme(const qy_jref *r, prepend_scheme *out) {
    int aps = 1;
    if (qy_jref_has(r, ".prepend_scheme")) {
        const char *s;
        int st = qy_jref_string(r, ".prepend_scheme", &s);
        if (st) return st;
        if (!strcmp(s, "always"))
            *out = PREPEND_ALWAYS;
        else if (!strcmp(s, "first"))
            *out = PREPEND_FIRST;
        else if (!strcmp(s, "never"))
            *out = PREPEND_NEVER;
        else
            return qy_error(QY_ERR_FORMAT, "%s.prepend_scheme: expected always, first or never, got \"%s\"",
                            r->path, s);
        return QY_OK;
    }
    int st = qy_jref_bool_or(r, ".add_prefix_space", 1, &aps);
    *out = aps ? PREPEND_ALWAYS : PREPEND_NEVER;
    return st;
}

static int load_behavior(const qy_jref *r, const char *def, split_behavior *out) {
    const char *s;
    int st = qy_jref_string_or(r, ".behavior", def, &s);
    if (st) return st;
    if (!strcmp(s, "Removed"))
        *out = SPLIT_REMOVED;
    else if (!strcmp(s, "Isolated"))
        *out = SPLIT_ISOLATED;
    else if (!strcmp(s, "MergedWithPrevious"))
        *out = SPLIT_MERGED_PREV;
    else if (!strcmp(s, "MergedWithNext"))
        *out = SPLIT_MERGED_NEXT;
    else if (!strcmp(s, "Contiguous"))
        *out = SPLIT_CONTIGUOUS;
    else
        return qy_error(QY_ERR_UNSUPPORTED, "%s.behavior: unknown split behavior \"%s\"", r->path, s);
    return QY_OK;
}

/* a Sequence's items: r.key is an array, each loaded by fn into items[i]
 * (calloc'ed array of elem-byte items; *nitems counts the ones to free) */
typedef int (*item_loader)(loader *L, void *ctx, const qy_jref *r, void *item);

static int load_sequence(loader *L, void *ctx, const qy_jref *r, const char *key, size_t elem, void **items,
                         size_t *nitems, item_loader fn) {
    qy_jref arr;
    size_t cnt;
    int st = qy_jref_array(r, key, &arr, &cnt);
    if (st) return st;
    char *v = qy_calloc(cnt ? cnt : 1, elem);
    if (!v) return QY_ERR_NOMEM;
    *items = v;
    desc_add(L, "[");
    for (size_t i = 0; i < cnt; i++) {
        qy_jref it;
        if ((st = qy_jref_at(&arr, i, &it, NULL))) return st;
        if (i) desc_add(L, ", ");
        *nitems = i + 1;
        if ((st = fn(L, ctx, &it, v + i * elem))) return st;
    }
    desc_add(L, "]");
    return QY_OK;
}

/* ---------------------------------------------------------- normaliser */

static int load_normalizer(loader *L, const qy_jref *r, tok_normalizer *n);
static int load_normalizer_item(loader *L, void *ctx, const qy_jref *r, void *item) {
    return load_normalizer(L, r, item);
}

static int load_normalizer(loader *L, const qy_jref *r, tok_normalizer *n) {
    memset(n, 0, sizeof *n);
    const char *type;
    int st = get_type(r, &type);
    if (st) return st;
    desc_add(L, type);
    if (!strcmp(type, "NFC"))
        n->kind = NORM_NFC;
    else if (!strcmp(type, "NFD"))
        n->kind = NORM_NFD;
    else if (!strcmp(type, "NFKC"))
        n->kind = NORM_NFKC;
    else if (!strcmp(type, "NFKD"))
        n->kind = NORM_NFKD;
    else if (!strcmp(type, "Lowercase"))
        n->kind = NORM_LOWERCASE;
    else if (!strcmp(type, "StripAccents"))
        n->kind = NORM_STRIP_ACCENTS;
    else if (!strcmp(type, "Prepend") || !strcmp(type, "Append")) {
        n->kind = type[0] == 'P' ? NORM_PREPEND : NORM_APPEND;
        const char *s;
        if ((st = qy_jref_string(r, type[0] == 'P' ? ".prepend" : ".append", &s))) return st;
        if (!(n->str = qy_strdup(s))) return QY_ERR_NOMEM;
    } else if (!strcmp(type, "Replace")) {
        n->kind = NORM_REPLACE;
        const char *s;
        if ((st = qy_jref_string(r, ".content", &s))) return st;
        if (!(n->str = qy_strdup(s))) return QY_ERR_NOMEM;
        if ((st = load_pattern(L, r, &n->pattern))) return st;
    } else if (!strcmp(type, "Strip")) {
        n->kind = NORM_STRIP;
        if ((st = qy_jref_bool_or(r, ".strip_left", 1, &n->strip_left))) return st;
        if ((st = qy_jref_bool_or(r, ".strip_right", 1, &n->strip_right))) return st;
    } else if (!strcmp(type, "BertNormalizer")) {
        n->kind = NORM_BERT;
        if ((st = qy_jref_bool_or(r, ".clean_text", 1, &n->clean_text))) return st;
        if ((st = qy_jref_bool_or(r, ".handle_chinese_chars", 1, &n->chinese))) return st;
        if ((st = qy_jref_bool_or(r, ".lowercase", 1, &n->lowercase))) return st;
        if ((st = qy_jref_bool_or(r, ".strip_accents", n->lowercase, &n->strip_accents))) return st;
    } else if (!strcmp(type, "Sequence")) {
        n->kind = NORM_SEQUENCE;
        void *items = NULL;
        st = load_sequence(L, NULL, r, ".normalizers", sizeof *n->items, &items, &n->nitems,
                           load_normalizer_item);
        n->items = items;
        if (st) return st;
    } else
        return unsupported(L, r, "normalizer", type);
    return QY_OK;
}

/* ------------------------------------------------------- pre-tokeniser */

static int load_pretok(loader *L, const qy_jref *r, tok_pretok *p);
static int load_pretok_item(loader *L, void *ctx, const qy_jref *r, void *item) {
    return load_pretok(L, r, item);
}

static int load_pretok(loader *L, const qy_jref *r, tok_pretok *p) {
    memset(p, 0, sizeof *p);
    const char *type;
    int st = get_type(r, &type);
    if (st) return st;
    desc_add(L, type);
    if (!strcmp(type, "ByteLevel")) {
        p->kind = PRE_BYTELEVEL;
        if ((st = qy_jref_bool_or(r, ".add_prefix_space", 1, &p->add_prefix_space))) return st;
        if ((st = qy_jref_bool_or(r, ".use_regex", 1, &p->use_regex))) return st;
        if (p->use_regex) {
            if ((st = tok_regex_compile(&p->pattern, GPT2_PATTERN, "ByteLevel"))) return st;
            p->gpt2_fast = 1;
        }
    } else if (!strcmp(type, "Split")) {
        p->kind = PRE_SPLIT;
        if ((st = load_pattern(L, r, &p->pattern))) return st;
        if ((st = load_behavior(r, "Isolated", &p->behavior))) return st;
        if ((st = qy_jref_bool_or(r, ".invert", 0, &p->invert))) return st;
    } else if (!strcmp(type, "Metaspace")) {
        p->kind = PRE_METASPACE;
        if ((st = single_char(L, r, ".replacement", "\xe2\x96\x81", &p->replacement))) return st;
        if ((st = load_prepend_scheme(r, &p->prepend))) return st;
        if ((st = qy_jref_bool_or(r, ".split", 1, &p->split))) return st;
    } else if (!strcmp(type, "Whitespace")) {
        p->kind = PRE_WHITESPACE;
        /* tokenizers: \w+|[^\w\s]+ with Oniguruma's \w (letters, marks, digits, connectors) */
        if ((st = tok_regex_compile(&p->pattern,
                                    "[\\p{L}\\p{M}\\p{Nd}\\p{Pc}]+|[^\\p{L}\\p{M}\\p{Nd}\\p{Pc}\\s]+",
                                    "Whitespace")))
            return st;
    } else if (!strcmp(type, "WhitespaceSplit"))
        p->kind = PRE_WHITESPACE_SPLIT;
    else if (!strcmp(type, "BertPreTokenizer"))
        p->kind = PRE_BERT;
    else if (!strcmp(type, "Digits")) {
        p->kind = PRE_DIGITS;
        if ((st = qy_jref_bool_or(r, ".individual_digits", 0, &p->individual_digits))) return st;
    } else if (!strcmp(type, "Punctuation")) {
        p->kind = PRE_PUNCTUATION;
        if ((st = load_behavior(r, "Isolated", &p->behavior))) return st;
    } else if (!strcmp(type, "CharDelimiterSplit")) {
        p->kind = PRE_CHAR_DELIMITER;
        if ((st = single_char(L, r, ".delimiter", NULL, &p->delimiter))) return st;
    } else if (!strcmp(type, "Sequence")) {
        p->kind = PRE_SEQUENCE;
        void *items = NULL;
        st = load_sequence(L, NULL, r, ".pretokenizers", sizeof *p->items, &items, &p->nitems,
                           load_pretok_item);
        p->items = items;
        if (st) return st;
        for (size_t i = 0; i + 1 < p->nitems; i++)
            if (p->items[i].kind == PRE_BYTELEVEL)
                return qy_error(
                    QY_ERR_UNSUPPORTED,
                    "%s: %s.pretokenizers[%zu]: a ByteLevel pre-tokenizer followed by others is not "
                    "supported (quarry runs byte-level models on raw bytes; ByteLevel must come last)",
                    L->src, r->path, i);
    } else
        return unsupported(L, r, "pre_tokenizer", type);
    return QY_OK;
}

static const tok_pretok *last_pretok(const tok_pretok *p) {
    while (p && p->kind == PRE_SEQUENCE) p = p->nitems ? &p->items[p->nitems - 1] : NULL;
    return p;
}

/* ------------------------------------------------------------- decoder */

static int load_decoder(loader *L, const qy_jref *r, tok_decoder *d);
static int load_decoder_item(loader *L, void *ctx, const qy_jref *r, void *item) {
    return load_decoder(L, r, item);
}

static int load_decoder(loader *L, const qy_jref *r, tok_decoder *d) {
    memset(d, 0, sizeof *d);
    const char *type, *s;
    int st = get_type(r, &type);
    if (st) return st;
    desc_add(L, type);
    if (!strcmp(type, "ByteLevel"))
        d->kind = DEC_BYTELEVEL;
    else if (!strcmp(type, "Metaspace")) {
        d->kind = DEC_METASPACE;
        if ((st = single_char(L, r, ".replacement", "\xe2\x96\x81", &d->replacement))) return st;
        if ((st = load_prepend_scheme(r, &d->prepend))) return st;
    } else if (!strcmp(type, "WordPiece")) {
        d->kind = DEC_WORDPIECE;
        if ((st = qy_jref_string_or(r, ".prefix", "##", &s))) return st;
        if (!(d->prefix = qy_strdup(s))) return QY_ERR_NOMEM;
        if ((st = qy_jref_bool_or(r, ".cleanup", 1, &d->cleanup))) return st;
    } else if (!strcmp(type, "ByteFallback"))
        d->kind = DEC_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse"))
        d->kind = DEC_FUSE;
    else if (!strcmp(type, "Strip")) {
        d->kind = DEC_STRIP;
        uint32_t c;
        if ((st = single_char(L, r, ".content", NULL, &c))) return st;
        char u[5] = {0};
        qy_utf8_encode(c, u);
        if (!(d->content = qy_strdup(u))) return QY_ERR_NOMEM;
        int64_t a, b;
        if ((st = qy_jref_int_or(r, ".start", 0, 1 << 20, 0, &a))) return st;
        if ((st = qy_jref_int_or(r, ".stop", 0, 1 << 20, 0, &b))) return st;
        d->strip_start = (size_t)a;
        d->strip_stop = (size_t)b;
    } else if (!strcmp(type, "Replace")) {
        d->kind = DEC_REPLACE;
        if ((st = qy_jref_string(r, ".content", &s))) return st;
        if (!(d->content = qy_strdup(s))) return QY_ERR_NOMEM;
        if ((st = load_pattern(L, r, &d->pattern))) return st;
    } else if (!strcmp(type, "BPEDecoder")) {
        d->kind = DEC_BPE;
        if ((st = qy_jref_string_or(r, ".suffix", "</w>", &s))) return st;
        if (!(d->content = qy_strdup(s))) return QY_ERR_NOMEM;
    } else if (!strcmp(type, "Sequence")) {
        d->kind = DEC_SEQUENCE;
        void *items = NULL;
        st = load_sequence(L, NULL, r, ".decoders", sizeof *d->items, &items, &d->nitems, load_decoder_item);
        d->items = items;
        if (st) return st;
    } else
        return unsupported(L, r, "decoder", type);
    return QY_OK;
}

/* ------------------------------------------------------ post-processor */

static int load_pair_token(loader *L, qy_tokenizer *t, const qy_jref *r, const char *key, int32_t *id) {
    qy_jref arr;
    size_t cnt;
    int st = qy_jref_array(r, key, &arr, &cnt);
    if (st) return st;
    if (cnt != 2) return qy_error(QY_ERR_FORMAT, "%s: %s%s: expected [token, id]", L->src, r->path, key);
    int64_t v;
    if ((st = qy_jref_int(&arr, "[1]", 0, INT32_MAX, &v))) return st;
    *id = (int32_t)v;
    return QY_OK;
}

static int load_template(loader *L, const qy_jref *r, const char *key, tok_tpl_item **items, size_t *n) {
    qy_jref arr;
    size_t cnt;
    int st = qy_jref_array(r, key, &arr, &cnt);
    if (st) return st;
    *items = qy_calloc(cnt ? cnt : 1, sizeof **items);
    if (!*items) return QY_ERR_NOMEM;
    for (size_t i = 0; i < cnt; i++) {
        qy_jref it;
        if ((st = qy_jref_at(&arr, i, &it, NULL))) return st;
        tok_tpl_item *x = &(*items)[i];
        *n = i + 1;
        int64_t type_id;
        const char *id;
        if (qy_jref_has(&it, ".SpecialToken")) {
            x->is_special = 1;
            if ((st = qy_jref_string(&it, ".SpecialToken.id", &id))) return st;
            if ((st = qy_jref_int_or(&it, ".SpecialToken.type_id", 0, INT32_MAX, 0, &type_id))) return st;
            if (!(x->name = qy_strdup(id))) return QY_ERR_NOMEM;
        } else {
            if ((st = qy_jref_string(&it, ".Sequence.id", &id))) return st;
            if ((st = qy_jref_int_or(&it, ".Sequence.type_id", 0, INT32_MAX, 0, &type_id))) return st;
            if (strcmp(id, "A") && strcmp(id, "B"))
                return qy_error(QY_ERR_FORMAT, "%s: %s.Sequence.id: expected \"A\" or \"B\"", L->src,
                                it.path);
            x->seq = id[0] == 'B';
        }
        x->type_id = (int32_t)type_id;
    }
    return QY_OK;
}

static int load_post(loader *L, qy_tokenizer *t, const qy_jref *r, tok_post *p);
static int load_post_item(loader *L, void *ctx, const qy_jref *r, void *item) {
    return load_post(L, ctx, r, item);
}

static int load_post(loader *L, qy_tokenizer *t, const qy_jref *r, tok_post *p) {
    memset(p, 0, sizeof *p);
    const char *type;
    int st = get_type(r, &type);
    if (st) return st;
    desc_add(L, type);
    if (!strcmp(type, "TemplateProcessing")) {
        p->kind = POST_TEMPLATE;
        if ((st = load_template(L, r, ".single", &p->single, &p->nsingle))) return st;
        if ((st = load_template(L, r, ".pair", &p->pair, &p->npair))) return st;
        qy_jref obj;
        size_t cnt;
        if ((st = qy_jref_object(r, ".special_tokens", &obj, &cnt))) return st;
        p->specials = qy_calloc(cnt ? cnt : 1, sizeof *p->specials);
        if (!p->specials) return QY_ERR_NOMEM;
        for (size_t i = 0; i < cnt; i++) {
            qy_jref it, ids;
            const char *name;
            size_t nids;
            if ((st = qy_jref_at(&obj, i, &it, &name))) return st;
            tok_special *sp = &p->specials[i];
            p->nspecials = i + 1;
            if (!(sp->name = qy_strdup(name))) return QY_ERR_NOMEM;
            if ((st = qy_jref_array(&it, ".ids", &ids, &nids))) return st;
            sp->ids = qy_calloc(nids ? nids : 1, sizeof *sp->ids);
            if (!sp->ids) return QY_ERR_NOMEM;
            for (size_t k = 0; k < nids; k++) {
                int64_t v;
                char idx[32];
                snprintf(idx, sizeof idx, "[%zu]", k);
                if ((st = qy_jref_int(&ids, idx, 0, INT32_MAX, &v))) return st;
                sp->ids[k] = (int32_t)v;
            }
            sp->nids = nids;
        }
        /* every special named in a template must exist */
        for (int pass = 0; pass < 2; pass++) {
            tok_tpl_item *items = pass ? p->pair : p->single;
            size_t n = pass ? p->npair : p->nsingle;
            for (size_t i = 0; i < n; i++) {
                if (!items[i].is_special) continue;
                size_t k = 0;
                while (k < p->nspecials && strcmp(p->specials[k].name, items[i].name)) k++;
                if (k == p->nspecials)
                    return qy_error(QY_ERR_FORMAT,
                                    "%s: %s: template names special token \"%s\" missing from special_tokens",
                                    L->src, r->path, items[i].name);
            }
        }
    } else if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        p->kind = type[0] == 'B' ? POST_BERT : POST_ROBERTA;
        if ((st = load_pair_token(L, t, r, ".sep", &p->sep_id))) return st;
        if ((st = load_pair_token(L, t, r, ".cls", &p->cls_id))) return st;
        if (p->kind == POST_ROBERTA && (st = qy_jref_bool_or(r, ".trim_offsets", 1, &p->trim_offsets)))
            return st;
    } else if (!strcmp(type, "ByteLevel")) {
        p->kind = POST_BYTELEVEL;
        if ((st = qy_jref_bool_or(r, ".trim_offsets", 1, &p->trim_offsets))) return st;
    } else if (!strcmp(type, "Sequence")) {
        p->kind = POST_SEQUENCE;
        void *items = NULL;
        st = load_sequence(L, t, r, ".processors", sizeof *p->items, &items, &p->nitems, load_post_item);
        p->items = items;
        if (st) return st;
    } else
        return unsupported(L, r, "post_processor", type);
    return QY_OK;
}

void tok_post_free(tok_post *p) {
    if (!p) return;
    for (size_t i = 0; i < p->nsingle; i++) qy_free(p->single[i].name);
    for (size_t i = 0; i < p->npair; i++) qy_free(p->pair[i].name);
    qy_free(p->single);
    qy_free(p->pair);
    for (size_t i = 0; i < p->nspecials; i++) {
        qy_free(p->specials[i].name);
        qy_free(p->specials[i].ids);
    }
    qy_free(p->specials);
    for (size_t i = 0; i < p->nitems; i++) tok_post_free(&p->items[i]);
    qy_free(p->items);
}

void tok_decoder_free(tok_decoder *d) {
    if (!d) return;
    qy_free(d->prefix);
    qy_free(d->content);
    tok_regex_free(&d->pattern);
    for (size_t i = 0; i < d->nitems; i++) tok_decoder_free(&d->items[i]);
    qy_free(d->items);
}

/* -------------------------------------------------------------- model */

/* byte-level spelling -> raw bytes (into out, cap >= len); -1 if a char is not a mapped byte */
static long unmap_bytes(const char *s, size_t len, char *out) {
    size_t i = 0, o = 0;
    while (i < len) {
        uint32_t cp;
        i += (size_t)qy_utf8_decode(s + i, len - i, &cp);
        int b = qy_bytelevel_byte(cp);
        if (b < 0) return -1;
        out[o++] = (char)b;
    }
    return (long)o;
}

static int set_id_str(qy_tokenizer *t, int32_t id, const char *s, size_t len) {
    if (t->id_str[id]) return QY_OK; /* first spelling wins (model vocab first) */
    t->id_str[id] = qy_strndup(s, len);
    return t->id_str[id] ? QY_OK : QY_ERR_NOMEM;
}

/* the model's key for a token spelling: raw bytes in byte mode */
static int model_key(const qy_tokenizer *t, const char *s, size_t len, char *buf, size_t cap,
                     const char **key, size_t *klen) {
    if (!t->byte_mode) {
        *key = s;
        *klen = len;
        return 1;
    }
    if (len > cap) return 0;
    long n = unmap_bytes(s, len, buf);
    if (n < 0) return 0;
    *key = buf;
    *klen = (size_t)n;
    return 1;
}

static int load_vocab(loader *L, qy_tokenizer *t, const qy_jref *model) {
    qy_jref v;
    size_t cnt;
    int st = qy_jref_object(model, ".vocab", &v, &cnt);
    if (st) return st;
    if ((st = tok_strmap_init(&t->vocab, cnt))) return st;
    const cJSON *it;
    int64_t maxid = -1;
    cJSON_ArrayForEach(it, v.node) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > INT32_MAX - 1 ||
            it->valuedouble != (double)(int64_t)it->valuedouble)
            return qy_error(QY_ERR_FORMAT, "%s: .model.vocab.%s: expected an id in 0..2^31-2", L->src,
                            it->string ? it->string : "");
        if ((int64_t)it->valuedouble > maxid) maxid = (int64_t)it->valuedouble;
        const char *s = it->string ? it->string : "";
        size_t len = strlen(s);
        if (qy_utf8_invalid_at(s, len) != len)
            return qy_error(QY_ERR_FORMAT, "%s: .model.vocab: a token is not valid UTF-8", L->src);
    }
    t->vocab_n = (size_t)(maxid + 1);
    return QY_OK;
}

static int fill_vocab(loader *L, qy_tokenizer *t, const qy_jref *model) {
    qy_jref v;
    size_t cnt;
    int st = qy_jref_object(model, ".vocab", &v, &cnt);
    if (st) return st;
    const cJSON *it;
    char buf[1024];
    cJSON_ArrayForEach(it, v.node) {
        int32_t id = (int32_t)it->valuedouble;
        const char *s = it->string ? it->string : "";
        size_t len = strlen(s);
        if ((st = set_id_str(t, id, s, len))) return st;
        const char *key;
        size_t klen;
        if (!model_key(t, s, len, buf, sizeof buf, &key, &klen)) continue; /* unreachable in byte mode */
        if ((st = tok_strmap_put(&t->vocab, key, klen, id))) return st;
        if (t->byte_mode) {
            if (!t->id_bytes[id]) {
                t->id_bytes[id] = qy_malloc(klen ? klen : 1);
                if (!t->id_bytes[id]) return QY_ERR_NOMEM;
                memcpy(t->id_bytes[id], key, klen);
                t->id_bytes_len[id] = (uint32_t)klen;
            }
            if (klen == 1) t->byte_id[(unsigned char)key[0]] = id;
        }
    }
    return QY_OK;
}

static int opt_string(const qy_jref *r, const char *key, char **out) {
    *out = NULL;
    if (!qy_jref_has(r, key)) return QY_OK;
    const char *s;
    int st = qy_jref_string(r, key, &s);
    if (st) return st;
    *out = qy_strdup(s);
    return *out ? QY_OK : QY_ERR_NOMEM;
}

/* convert a prefix/suffix to the model's key space */
static int affix_to_key(loader *L, qy_tokenizer *t, char **affix, const char *what) {
    if (!*affix || !t->byte_mode) return QY_OK;
    size_t len = strlen(*affix);
    char *raw = qy_malloc(len + 1);
    if (!raw) return QY_ERR_NOMEM;
    long n = unmap_bytes(*affix, len, raw);
    if (n < 0) {
        qy_free(raw);
        return qy_error(QY_ERR_FORMAT, "%s: .model.%s: not in the byte-level alphabet", L->src, what);
    }
    raw[n] = '\0';
    qy_free(*affix);
    *affix = raw;
    return QY_OK;
}

static int merge_side(loader *L, qy_tokenizer *t, const char *s, size_t len, size_t rank, int32_t *id) {
    char buf[1024];
    const char *key;
    size_t klen;
    if (model_key(t, s, len, buf, sizeof buf, &key, &klen) && tok_strmap_get(&t->vocab, key, klen, id))
        return QY_OK;
    return qy_error(QY_ERR_FORMAT, "%s: .model.merges[%zu]: token \"%.*s\" is not in the vocabulary", L->src,
                    rank, (int)(len > 60 ? 60 : len), s);
}

static int load_merges(loader *L, qy_tokenizer *t, const qy_jref *model) {
    if (!qy_jref_has(model, ".merges")) return QY_OK;
    qy_jref m;
    size_t cnt;
    int st = qy_jref_array(model, ".merges", &m, &cnt);
    if (st) return st;
    size_t plen = t->cont_prefix ? strlen(t->cont_prefix) : 0;
    size_t rank = 0;
    const cJSON *it;
    char *cat = NULL;
    size_t catcap = 0;
    cJSON_ArrayForEach(it, m.node) {
        const char *a, *b;
        size_t alen, blen;
        if (cJSON_IsString(it)) {
            const char *s = it->valuestring, *sp = strchr(s, ' ');
            if (!sp) {
                st = qy_error(QY_ERR_FORMAT, "%s: .model.merges[%zu]: expected \"left right\"", L->src, rank);
                break;
            }
            a = s;
            alen = (size_t)(sp - s);
            b = sp + 1;
            blen = strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(it->child) &&
                   cJSON_IsString(it->child->next)) {
            a = it->child->valuestring;
            alen = strlen(a);
            b = it->child->next->valuestring;
            blen = strlen(b);
        } else {
            st = qy_error(QY_ERR_FORMAT, "%s: .model.merges[%zu]: expected \"left right\" or [left, right]",
                          L->src, rank);
            break;
        }
        int32_t ia, ib, im;
        if ((st = merge_side(L, t, a, alen, rank, &ia))) break;
        if ((st = merge_side(L, t, b, blen, rank, &ib))) break;
        if (blen < plen) {
            st = qy_error(QY_ERR_FORMAT, "%s: .model.merges[%zu]: right side shorter than the subword prefix",
                          L->src, rank);
            break;
        }
        if (alen + blen + 1 > catcap) {
            catcap = alen + blen + 64;
            qy_free(cat);
            cat = qy_malloc(catcap);
            if (!cat) {
                st = QY_ERR_NOMEM;
                break;
            }
        }
        memcpy(cat, a, alen);
        memcpy(cat + alen, b + plen, blen - plen);
        if ((st = merge_side(L, t, cat, alen + blen - plen, rank, &im))) break;
        if ((st = tok_merges_put(&t->merges, ia, ib, (uint32_t)rank, im))) break;
        rank++;
    }
    qy_free(cat);
    return st;
}

static int load_model(loader *L, qy_tokenizer *t, const qy_jref *root) {
    qy_jref model;
    int st = qy_jref_get(root, ".model", &model);
    if (st) return st;
    const char *type = NULL;
    if (qy_jref_has(&model, ".type")) {
        if ((st = qy_jref_string(&model, ".type", &type))) return st;
    } else
        type = qy_jref_has(&model, ".merges") ? "BPE" : "WordPiece";
    if (!strcmp(type, "BPE"))
        t->model = MODEL_BPE;
    else if (!strcmp(type, "WordPiece"))
        t->model = MODEL_WORDPIECE;
    else
        return unsupported(L, &model, "model", type);
    if (t->byte_mode && t->model != MODEL_BPE)
        return qy_error(QY_ERR_UNSUPPORTED, "%s: a ByteLevel pre-tokenizer with a %s model is not supported",
                        L->src, type);
    if ((st = load_vocab(L, t, &model))) return st;
    if ((st = opt_string(&model, ".unk_token", &t->unk_token))) return st;
    if (t->model == MODEL_BPE) {
        double dropout = 0;
        if ((st = qy_jref_number_or(&model, ".dropout", 0, &dropout))) return st;
        if (dropout != 0)
            return qy_error(
                QY_ERR_UNSUPPORTED,
                "%s: .model.dropout: BPE dropout (%g) is not supported (it makes encoding random)", L->src,
                dropout);
        if ((st = opt_string(&model, ".continuing_subword_prefix", &t->cont_prefix))) return st;
        if ((st = opt_string(&model, ".end_of_word_suffix", &t->eow_suffix))) return st;
        if ((st = qy_jref_bool_or(&model, ".fuse_unk", 0, &t->fuse_unk))) return st;
        if ((st = qy_jref_bool_or(&model, ".byte_fallback", 0, &t->byte_fallback))) return st;
        if ((st = qy_jref_bool_or(&model, ".ignore_merges", 0, &t->ignore_merges))) return st;
        if ((st = affix_to_key(L, t, &t->cont_prefix, "continuing_subword_prefix"))) return st;
        if ((st = affix_to_key(L, t, &t->eow_suffix, "end_of_word_suffix"))) return st;
    } else {
        const char *pre;
        int64_t mx;
        if ((st = qy_jref_string_or(&model, ".continuing_subword_prefix", "##", &pre))) return st;
        if (!(t->cont_prefix = qy_strdup(pre))) return QY_ERR_NOMEM;
        if ((st = qy_jref_int_or(&model, ".max_input_chars_per_word", 0, INT32_MAX, 100, &mx))) return st;
        t->max_input_chars = (size_t)mx;
        if (!t->unk_token && !(t->unk_token = qy_strdup("[UNK]"))) return QY_ERR_NOMEM;
    }
    return QY_OK;
}

/* ------------------------------------------------------- added tokens */

static int load_added(loader *L, qy_tokenizer *t, const qy_jref *root, int64_t *maxid) {
    if (!qy_jref_has(root, ".added_tokens")) return QY_OK;
    qy_jref arr;
    size_t cnt;
    int st = qy_jref_array(root, ".added_tokens", &arr, &cnt);
    if (st) return st;
    t->added = qy_calloc(cnt ? cnt : 1, sizeof *t->added);
    if (!t->added) return QY_ERR_NOMEM;
    size_t i = 0;
    const cJSON *node;
    cJSON_ArrayForEach(node, arr.node) {
        qy_jref it = arr;
        it.node = node;
        snprintf(it.path, sizeof it.path, ".added_tokens[%zu]", i);
        tok_added *a = &t->added[i];
        const char *content;
        int64_t id;
        if ((st = qy_jref_int(&it, ".id", 0, INT32_MAX - 1, &id))) return st;
        if ((st = qy_jref_string(&it, ".content", &content))) return st;
        if (!*content) return qy_error(QY_ERR_FORMAT, "%s: %s.content: empty added token", L->src, it.path);
        if (!(a->content = qy_strdup(content))) return QY_ERR_NOMEM;
        t->nadded = i + 1;
        a->len = strlen(content);
        a->id = (int32_t)id;
        if ((st = qy_jref_bool_or(&it, ".single_word", 0, &a->single_word))) return st;
        if ((st = qy_jref_bool_or(&it, ".lstrip", 0, &a->lstrip))) return st;
        if ((st = qy_jref_bool_or(&it, ".rstrip", 0, &a->rstrip))) return st;
        if ((st = qy_jref_bool_or(&it, ".special", 0, &a->special))) return st;
        if ((st = qy_jref_bool_or(&it, ".normalized", !a->special, &a->normalized))) return st;
        if (id > *maxid) *maxid = id;
        i++;
    }
    return QY_OK;
}

static int load_defaults(loader *L, qy_tokenizer *t, const qy_jref *root) {
    qy_tok_params *p = &t->defaults;
    memset(p, 0, sizeof *p);
    p->add_special_tokens = 1;
    int st;
    if (qy_jref_has(root, ".truncation")) {
        qy_jref tr;
        int64_t v;
        const char *dir;
        if ((st = qy_jref_get(root, ".truncation", &tr))) return st;
        if ((st = qy_jref_int(&tr, ".max_length", 0, INT32_MAX, &v))) return st;
        p->max_length = (size_t)v;
        if ((st = qy_jref_string_or(&tr, ".direction", "Right", &dir))) return st;
        p->truncate_left = !strcmp(dir, "Left");
    }
    if (qy_jref_has(root, ".padding")) {
        qy_jref pd;
        int64_t v;
        const char *dir;
        if ((st = qy_jref_get(root, ".padding", &pd))) return st;
        if (qy_jref_has(&pd, ".strategy.Fixed")) {
            if ((st = qy_jref_int(&pd, ".strategy.Fixed", 0, INT32_MAX, &v))) return st;
            p->pad_to = (size_t)v;
        } else
            p->pad_to_longest = 1;
        if ((st = qy_jref_string_or(&pd, ".direction", "Right", &dir))) return st;
        p->pad_left = !strcmp(dir, "Left");
        if ((st = qy_jref_int_or(&pd, ".pad_to_multiple_of", 0, INT32_MAX, 0, &v))) return st;
        p->pad_multiple = (size_t)v;
        if ((st = qy_jref_int_or(&pd, ".pad_id", 0, INT32_MAX, 0, &v))) return st;
        p->pad_id = (int32_t)v;
        if ((st = qy_jref_int_or(&pd, ".pad_type_id", 0, INT32_MAX, 0, &v))) return st;
        p->pad_type_id = (int32_t)v;
    }
    (void)L;
    return QY_OK;
}

static int check_post_ids(loader *L, qy_tokenizer *t, const tok_post *p) {
    if (!p) return QY_OK;
    size_t cap = t->id_cap;
    if ((p->kind == POST_BERT || p->kind == POST_ROBERTA) &&
        ((size_t)p->cls_id >= cap || (size_t)p->sep_id >= cap))
        return qy_error(QY_ERR_FORMAT, "%s: .post_processor: cls/sep id outside the vocabulary", L->src);
    for (size_t i = 0; i < p->nspecials; i++)
        for (size_t k = 0; k < p->specials[i].nids; k++)
            if ((size_t)p->specials[i].ids[k] >= cap)
                return qy_error(QY_ERR_FORMAT,
                                "%s: .post_processor.special_tokens.%s: id %d outside the vocabulary", L->src,
                                p->specials[i].name, (int)p->specials[i].ids[k]);
    for (size_t i = 0; i < p->nitems; i++) {
        int st = check_post_ids(L, t, &p->items[i]);
        if (st) return st;
    }
    return QY_OK;
}

/* the model's vocab node (for its size), NULL when absent */
static const cJSON *model_node(const qy_json *doc) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(qy_json_root(doc), "model");
    return m ? cJSON_GetObjectItemCaseSensitive(m, "vocab") : NULL;
}

static int load_all(loader *L, qy_tokenizer *t, const qy_json *doc) {
    qy_jref root = qy_json_ref(doc);
    int st;
    qy_jref r;
    for (int i = 0; i < 256; i++) t->byte_id[i] = t->fallback_id[i] = -1;
    t->unk_id = -1;
    desc_add(L, "normalizer: ");
    if (qy_jref_has(&root, ".normalizer")) {
        if ((st = qy_jref_get(&root, ".normalizer", &r))) return st;
        if (!(t->normalizer = qy_calloc(1, sizeof *t->normalizer))) return QY_ERR_NOMEM;
        if ((st = load_normalizer(L, &r, t->normalizer))) return st;
    } else
        desc_add(L, "none");
    desc_add(L, "\npre_tokenizer: ");
    if (qy_jref_has(&root, ".pre_tokenizer")) {
        if ((st = qy_jref_get(&root, ".pre_tokenizer", &r))) return st;
        if (!(t->pretok = qy_calloc(1, sizeof *t->pretok))) return QY_ERR_NOMEM;
        if ((st = load_pretok(L, &r, t->pretok))) return st;
        const tok_pretok *last = last_pretok(t->pretok);
        t->byte_mode = last && last->kind == PRE_BYTELEVEL;
    } else
        desc_add(L, "none");
    if ((st = load_model(L, t, &root))) return st;
    int64_t maxid = (int64_t)t->vocab_n - 1;
    if ((st = load_added(L, t, &root, &maxid))) return st;
    /* ids index arrays: a hostile file with a huge id must not make us allocate it */
    if (maxid >= 0 && (size_t)maxid > 4 * ((size_t)cJSON_GetArraySize(model_node(doc)) + t->nadded) + 100000)
        return qy_error(QY_ERR_RANGE,
                        "%s: ids go up to %lld for %d tokens: ids must be dense (0..n-1 with few gaps)",
                        L->src, (long long)maxid, cJSON_GetArraySize(model_node(doc)) + (int)t->nadded);
    t->id_cap = (size_t)(maxid + 1);
    t->id_str = qy_calloc(t->id_cap ? t->id_cap : 1, sizeof *t->id_str);
    t->is_special_id = qy_calloc(t->id_cap ? t->id_cap : 1, 1);
    if (!t->id_str || !t->is_special_id) return QY_ERR_NOMEM;
    if (t->byte_mode) {
        t->id_bytes = qy_calloc(t->id_cap ? t->id_cap : 1, sizeof *t->id_bytes);
        t->id_bytes_len = qy_calloc(t->id_cap ? t->id_cap : 1, sizeof *t->id_bytes_len);
        if (!t->id_bytes || !t->id_bytes_len) return QY_ERR_NOMEM;
    }
    qy_jref model;
    if ((st = qy_jref_get(&root, ".model", &model))) return st;
    if ((st = fill_vocab(L, t, &model))) return st;
    if (t->model == MODEL_BPE && (st = load_merges(L, t, &model))) return st;
    if (t->unk_token) {
        char buf[1024];
        const char *key;
        size_t klen;
        if (model_key(t, t->unk_token, strlen(t->unk_token), buf, sizeof buf, &key, &klen))
            tok_strmap_get(&t->vocab, key, klen, &t->unk_id);
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        tok_strmap_get(&t->vocab, name, 6, &t->fallback_id[b]);
    }
    for (size_t i = 0; i < t->nadded; i++) {
        tok_added *a = &t->added[i];
        /* tokenizers looks ids up in the added vocabulary first */
        qy_free(t->id_str[a->id]);
        t->id_str[a->id] = NULL;
        if ((st = set_id_str(t, a->id, a->content, a->len))) return st;
        if (a->special) t->is_special_id[a->id] = 1;
        if (a->normalized && t->normalizer) {
            t->added_norm_first[(unsigned char)a->content[0]] = 1;
            t->has_norm_added = 1;
        } else
            t->added_first[(unsigned char)a->content[0]] = 1;
    }
    desc_add(L, "\npost_processor: ");
    if (qy_jref_has(&root, ".post_processor")) {
        if ((st = qy_jref_get(&root, ".post_processor", &r))) return st;
        if (!(t->post = qy_calloc(1, sizeof *t->post))) return QY_ERR_NOMEM;
        if ((st = load_post(L, t, &r, t->post))) return st;
        if ((st = check_post_ids(L, t, t->post))) return st;
    } else
        desc_add(L, "none");
    desc_add(L, "\ndecoder: ");
    if (qy_jref_has(&root, ".decoder")) {
        if ((st = qy_jref_get(&root, ".decoder", &r))) return st;
        if (!(t->decoder = qy_calloc(1, sizeof *t->decoder))) return QY_ERR_NOMEM;
        if ((st = load_decoder(L, &r, t->decoder))) return st;
    } else
        desc_add(L, "none");
    if ((st = load_defaults(L, t, &root))) return st;
    size_t nspecial = 0;
    for (size_t i = 0; i < t->nadded; i++) nspecial += t->added[i].special;
    snprintf(t->describe, sizeof t->describe,
             "model: %s, %zu ids (%zu in the model vocabulary), %zu merges%s%s%s\n"
             "added tokens: %zu (%zu special)\n%s\n",
             t->model == MODEL_BPE ? "BPE" : "WordPiece", t->id_cap, t->vocab_n, t->merges.n,
             t->byte_mode ? ", byte-level" : "", t->byte_fallback ? ", byte fallback" : "",
             t->unk_token ? ", unk token" : "", t->nadded, nspecial, L->desc);
    return QY_OK;
}

void qy_tokenizer_free(qy_tokenizer *t) {
    if (!t) return;
    qy_free(t->source);
    if (t->id_str)
        for (size_t i = 0; i < t->id_cap; i++) qy_free(t->id_str[i]);
    qy_free(t->id_str);
    if (t->id_bytes)
        for (size_t i = 0; i < t->id_cap; i++) qy_free(t->id_bytes[i]);
    qy_free(t->id_bytes);
    qy_free(t->id_bytes_len);
    tok_strmap_free(&t->vocab);
    tok_merges_free(&t->merges);
    qy_free(t->unk_token);
    qy_free(t->cont_prefix);
    qy_free(t->eow_suffix);
    tok_normalizer_free(t->normalizer);
    qy_free(t->normalizer);
    tok_pretok_free(t->pretok);
    qy_free(t->pretok);
    tok_post_free(t->post);
    qy_free(t->post);
    tok_decoder_free(t->decoder);
    qy_free(t->decoder);
    for (size_t i = 0; i < t->nadded; i++) qy_free(t->added[i].content);
    qy_free(t->added);
    qy_free(t->is_special_id);
    for (int i = 0; i < TOK_CACHE_SLOTS; i++) tok_cache_free(t->caches[i]);
    qy_free(t);
}

/* Every key and string must be UTF-8: texts built from them go to PCRE2 unchecked. */
static int check_strings(const cJSON *n, const char *src, int depth) {
    if (depth > 64) return qy_error(QY_ERR_FORMAT, "%s: JSON nested deeper than 64 levels", src);
    for (; n; n = n->next) {
        const char *k = n->string;
        if (k && qy_utf8_invalid_at(k, strlen(k)) != strlen(k))
            return qy_error(QY_ERR_FORMAT, "%s: a key is not valid UTF-8", src);
        if (cJSON_IsString(n) && n->valuestring &&
            qy_utf8_invalid_at(n->valuestring, strlen(n->valuestring)) != strlen(n->valuestring))
            return qy_error(QY_ERR_FORMAT, "%s: the string value of \"%.40s\" is not valid UTF-8", src,
                            k ? k : "");
        if (n->child) {
            int st = check_strings(n->child, src, depth + 1);
            if (st) return st;
        }
    }
    return QY_OK;
}

int qy_tokenizer_from_json(const char *json, size_t len, const char *source, qy_tokenizer **out) {
    *out = NULL;
    if (!source) source = "tokenizer.json";
    qy_json *doc;
    int st = qy_json_parse(json, len, source, &doc);
    if (st) return st;
    if ((st = check_strings(qy_json_root(doc), source, 0))) {
        qy_json_free(doc);
        return st;
    }
    qy_tokenizer *t = qy_calloc(1, sizeof *t);
    loader L = {.src = source};
    if (!t)
        st = QY_ERR_NOMEM;
    else if (!(t->source = qy_strdup(source)))
        st = QY_ERR_NOMEM;
    else
        st = load_all(&L, t, doc);
    qy_json_free(doc);
    if (st) {
        if (st == QY_ERR_NOMEM && !strstr(qy_errmsg(), "memory"))
            qy_error(QY_ERR_NOMEM, "%s: out of memory", source);
        qy_tokenizer_free(t);
        return st;
    }
    *out = t;
    return QY_OK;
}

int qy_tokenizer_load(const char *path, qy_tokenizer **out) {
    *out = NULL;
    char *text;
    size_t len;
    int st = qy_read_file(path, (size_t)1 << 30, &text, &len);
    if (st) return st;
    st = qy_tokenizer_from_json(text, len, path, out);
    qy_free(text);
    return st;
}

size_t qy_tokenizer_vocab_size(const qy_tokenizer *t) { return t->id_cap; }

const char *qy_tokenizer_id_to_token(const qy_tokenizer *t, int32_t id) {
    if (id < 0 || (size_t)id >= t->id_cap) return NULL;
    return t->id_str[id];
}

int qy_tokenizer_token_to_id(const qy_tokenizer *t, const char *token, int32_t *id) {
    size_t len = strlen(token);
    for (size_t i = 0; i < t->nadded; i++)
        if (t->added[i].len == len && !memcmp(t->added[i].content, token, len)) {
            *id = t->added[i].id;
            return QY_OK;
        }
    char buf[1024];
    const char *key;
    size_t klen;
    if (model_key(t, token, len, buf, sizeof buf, &key, &klen) && tok_strmap_get(&t->vocab, key, klen, id) &&
        t->id_str[*id] && !strcmp(t->id_str[*id], token))
        return QY_OK;
    return qy_error(QY_ERR_NOT_FOUND, "%s: no token \"%s\"", t->source, token);
}

int qy_tokenizer_is_special(const qy_tokenizer *t, int32_t id) {
    return id >= 0 && (size_t)id < t->id_cap && t->is_special_id[id];
}

const char *qy_tokenizer_describe(const qy_tokenizer *t) { return t->describe; }
