/* test_tok_api.c — the tokenizer C API beyond the golden ids: offsets,
 * truncation and padding, pairs, batches on threads, added-token options,
 * split behaviours (the examples of the tokenizers documentation), Metaspace,
 * the GPT-2 scanner against PCRE2, clear errors for invalid UTF-8 and
 * unsupported components, and out-of-memory paths without leaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <string.h>

#include "quarry/text.h"
#include "text/tok_internal.h"
#include "text/tok_test_util.h"

static qy_tokenizer *load_fixture(const char *name) {
    char path[4096];
    tok_fixture(path, sizeof path, name, "tokenizer.json");
    assert_true(path[0]);
    qy_tokenizer *t;
    if (qy_tokenizer_load(path, &t)) fail_msg("%s", qy_errmsg());
    return t;
}

static qy_tok_params plain(const qy_tokenizer *t) {
    qy_tok_params p;
    qy_tok_params_default(t, &p);
    p.add_special_tokens = 0;
    return p;
}

/* Byte-level models have no normaliser: each token's bytes are exactly the text
 * at its offsets. */
static void test_bytelevel_offsets(void **state) {
    qy_tokenizer *t = load_fixture("gpt2");
    const char *texts[] = {"Hello world", "  leading\n\nand trailing  ",
                           "caf\xc3\xa9 \xe6\xa3\x80\xe7\xb4\xa2 \xf0\x9f\x99\x82!",
                           "It's 2026-11-28, isn't it?", ""};
    qy_tok_params p = plain(t);
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        qy_encoding e;
        assert_int_equal(qy_tokenizer_encode(t, texts[k], strlen(texts[k]), &p, &e), QY_OK);
        size_t at = 0;
        for (size_t i = 0; i < e.n; i++) {
            const char *tokstr = qy_tokenizer_id_to_token(t, e.ids[i]);
            /* map the token's byte-level spelling back to bytes */
            char raw[256];
            size_t rn = 0, j = 0, tl = strlen(tokstr);
            while (j < tl) {
                uint32_t cp;
                j += (size_t)qy_utf8_decode(tokstr + j, tl - j, &cp);
                raw[rn++] = (char)qy_bytelevel_byte(cp);
            }
            assert_int_equal(e.offsets[2 * i], at);
            assert_int_equal(e.offsets[2 * i + 1] - e.offsets[2 * i], rn);
            assert_memory_equal(texts[k] + at, raw, rn);
            at += rn;
        }
        assert_int_equal(at, strlen(texts[k]));
        qy_encoding_free(&e);
    }
    /* an added special token inside text is one token with its own offsets */
    const char *s = "a<|endoftext|>b";
    qy_encoding e;
    assert_int_equal(qy_tokenizer_encode(t, s, strlen(s), &p, &e), QY_OK);
    assert_int_equal(e.n, 3);
    assert_int_equal(e.ids[1], 50256);
    assert_int_equal(e.offsets[2], 1);
    assert_int_equal(e.offsets[3], 14);
    char *d;
    size_t dl;
    assert_int_equal(qy_tokenizer_decode(t, e.ids, e.n, 1, &d, &dl), QY_OK);
    assert_string_equal(d, "ab"); /* skip_special drops <|endoftext|> */
    qy_free(d);
    qy_encoding_free(&e);
    qy_tokenizer_free(t);
}

/* BERT: offsets point at the original (cased, accented) text of each word piece;
 * the template adds [CLS]/[SEP] with mask 1 and offsets (0, 0). */
static void test_bert_offsets_and_template(void **state) {
    qy_tokenizer *t = load_fixture("bert-wordpiece");
    const char *s = "Caf\xc3\xa9 WORLD";
    qy_tok_params p;
    qy_tok_params_default(t, &p);
    qy_encoding e;
    assert_int_equal(qy_tokenizer_encode(t, s, strlen(s), &p, &e), QY_OK);
    assert_true(e.n >= 4);
    assert_string_equal(qy_tokenizer_id_to_token(t, e.ids[0]), "[CLS]");
    assert_string_equal(qy_tokenizer_id_to_token(t, e.ids[e.n - 1]), "[SEP]");
    assert_int_equal(e.special_mask[0], 1);
    assert_int_equal(e.special_mask[1], 0);
    /* the pieces cover "Café" = bytes [0, 5) and "WORLD" = [6, 11) */
    assert_int_equal(e.offsets[2 * 1], 0);
    size_t i = 1;
    while (i < e.n - 1 && e.offsets[2 * i + 1] <= 5) i++;
    assert_int_equal(e.offsets[2 * (i - 1) + 1], 5);
    assert_int_equal(e.offsets[2 * i], 6);
    assert_int_equal(e.offsets[2 * (e.n - 2) + 1], 11);
    qy_encoding_free(&e);

    /* pair: type ids 0 then 1, [SEP] after each */
    assert_int_equal(qy_tokenizer_encode_pair(t, "who", 3, "the man", 7, &p, &e), QY_OK);
    int32_t cls, sep;
    assert_int_equal(qy_tokenizer_token_to_id(t, "[CLS]", &cls), QY_OK);
    assert_int_equal(qy_tokenizer_token_to_id(t, "[SEP]", &sep), QY_OK);
    assert_int_equal(e.ids[0], cls);
    assert_int_equal(e.type_ids[0], 0);
    assert_int_equal(e.ids[e.n - 1], sep);
    assert_int_equal(e.type_ids[e.n - 1], 1);
    size_t nsep = 0;
    for (size_t k = 0; k < e.n; k++) nsep += e.ids[k] == sep;
    assert_int_equal(nsep, 2);
    qy_encoding_free(&e);

    /* truncation keeps the specials: max_length 5 -> [CLS] + 3 + [SEP] */
    const char *long_text = "the man who directed the film that won the award";
    p.max_length = 5;
    assert_int_equal(qy_tokenizer_encode(t, long_text, strlen(long_text), &p, &e), QY_OK);
    assert_int_equal(e.n, 5);
    assert_int_equal(e.ids[0], cls);
    assert_int_equal(e.ids[4], sep);
    qy_encoding f;
    p.truncate_left = 1;
    assert_int_equal(qy_tokenizer_encode(t, long_text, strlen(long_text), &p, &f), QY_OK);
    assert_int_equal(f.n, 5);
    assert_int_equal(f.offsets[2 * 3 + 1], strlen(long_text)); /* the last word survives */
    qy_encoding_free(&e);
    qy_encoding_free(&f);

    /* pair truncation: longest first: the short text keeps all, the long one the rest */
    p.truncate_left = 0;
    p.max_length = 9;
    assert_int_equal(qy_tokenizer_encode_pair(t, "who", 3, long_text, strlen(long_text), &p, &e), QY_OK);
    assert_int_equal(e.n, 9);
    assert_int_equal(e.type_ids[1], 0);
    assert_int_equal(e.type_ids[3], 1);
    qy_encoding_free(&e);

    /* padding to a fixed length, right and left, and to a multiple */
    p.max_length = 0;
    p.pad_to = 8;
    p.pad_id = 0;
    assert_int_equal(qy_tokenizer_encode(t, "hello", 5, &p, &e), QY_OK);
    assert_int_equal(e.n, 8);
    assert_int_equal(e.attention_mask[0], 1);
    assert_int_equal(e.attention_mask[7], 0);
    assert_int_equal(e.ids[7], 0);
    qy_encoding_free(&e);
    p.pad_left = 1;
    assert_int_equal(qy_tokenizer_encode(t, "hello", 5, &p, &e), QY_OK);
    assert_int_equal(e.attention_mask[0], 0);
    assert_int_equal(e.ids[e.n - 1], sep);
    qy_encoding_free(&e);
    p.pad_left = 0;
    p.pad_to = 0;
    p.pad_multiple = 8;
    assert_int_equal(qy_tokenizer_encode(t, long_text, strlen(long_text), &p, &e), QY_OK);
    assert_int_equal(e.n % 8, 0);
    qy_encoding_free(&e);
    qy_tokenizer_free(t);
}

/* Batches give the same encodings as one-by-one at any thread count;
 * pad_to_longest pads all to the longest. */
static void test_batch_threads(void **state) {
    qy_tokenizer *t = load_fixture("gpt2");
    enum { N = 300 };
    static char buf[N][64];
    const char *texts[N];
    for (int i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "text number %d, with %*s spaces and \xc3\xa9t\xc3\xa9",
                 i * 7919 % 1000, i % 9, "");
        texts[i] = buf[i];
    }
    qy_tok_params p = plain(t);
    qy_encoding one[N], batch[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(qy_tokenizer_encode(t, texts[i], strlen(texts[i]), &p, &one[i]), QY_OK);
    for (int threads = 1; threads <= 3; threads++) {
        qy_pool *pool;
        assert_int_equal(qy_pool_new(threads, &pool), QY_OK);
        memset(batch, 0, sizeof batch);
        assert_int_equal(qy_tokenizer_encode_batch(t, texts, NULL, N, &p, pool, batch), QY_OK);
        for (int i = 0; i < N; i++) {
            assert_int_equal(batch[i].n, one[i].n);
            assert_memory_equal(batch[i].ids, one[i].ids, one[i].n * sizeof(int32_t));
            assert_memory_equal(batch[i].offsets, one[i].offsets, one[i].n * 2 * sizeof(uint32_t));
            qy_encoding_free(&batch[i]);
        }
        qy_pool_free(pool);
    }
    p.pad_to_longest = 1;
    p.pad_id = 50256;
    memset(batch, 0, sizeof batch);
    assert_int_equal(qy_tokenizer_encode_batch(t, texts, NULL, N, &p, NULL, batch), QY_OK);
    size_t longest = 0;
    for (int i = 0; i < N; i++) longest = one[i].n > longest ? one[i].n : longest;
    for (int i = 0; i < N; i++) {
        assert_int_equal(batch[i].n, longest);
        assert_memory_equal(batch[i].ids, one[i].ids, one[i].n * sizeof(int32_t));
        for (size_t k = one[i].n; k < longest; k++) {
            assert_int_equal(batch[i].ids[k], 50256);
            assert_int_equal(batch[i].attention_mask[k], 0);
        }
        qy_encoding_free(&batch[i]);
        qy_encoding_free(&one[i]);
    }
    /* a bad text fails the batch with its index and frees everything */
    texts[17] = "bad \xff byte";
    memset(batch, 0, sizeof batch);
    assert_int_equal(qy_tokenizer_encode_batch(t, texts, NULL, N, &p, NULL, batch), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "text 17"));
    for (int i = 0; i < N; i++) assert_null(batch[i].ids);
    qy_tokenizer_free(t);
}

/* A WordPiece model whose vocabulary holds every piece, so tokens == pre-tokens. */
static qy_tokenizer *pieces_tokenizer(const char *pretok_json, const char *extra_added) {
    static const char *words[] = {"the",
                                  "final",
                                  "countdown",
                                  "-",
                                  "--",
                                  "the-",
                                  "final-",
                                  "-final",
                                  "-countdown",
                                  "[UNK]",
                                  "a",
                                  "b",
                                  "c",
                                  "1",
                                  "2",
                                  "3",
                                  "12",
                                  "123",
                                  "x",
                                  "y",
                                  "!",
                                  "?",
                                  "!?",
                                  "hello",
                                  "world",
                                  ",",
                                  "it",
                                  "'",
                                  "s",
                                  "\xe2\x96\x81hello",
                                  "\xe2\x96\x81world",
                                  "<tok>",
                                  "<tok> ",
                                  " <tok>",
                                  "ab"};
    cJSON *root = cJSON_CreateObject();
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "WordPiece");
    cJSON_AddStringToObject(model, "unk_token", "[UNK]");
    cJSON *v = cJSON_AddObjectToObject(model, "vocab");
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        cJSON_AddNumberToObject(v, words[i], (double)i);
    char *m = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    char json[8192];
    /* splice the pre-tokenizer and added tokens into the model JSON */
    snprintf(json, sizeof json, "{\"pre_tokenizer\": %s, \"added_tokens\": [%s], %s", pretok_json,
             extra_added ? extra_added : "", m + 1);
    qy_free(m);
    qy_tokenizer *t;
    if (qy_tokenizer_from_json(json, strlen(json), "pieces.json", &t)) fail_msg("%s", qy_errmsg());
    return t;
}

static void expect_tokens(qy_tokenizer *t, const char *text, const char *want) {
    qy_tok_params p = plain(t);
    qy_encoding e;
    assert_int_equal(qy_tokenizer_encode(t, text, strlen(text), &p, &e), QY_OK);
    char got[1024] = "";
    for (size_t i = 0; i < e.n; i++) {
        if (i) strcat(got, "|");
        strcat(got, qy_tokenizer_id_to_token(t, e.ids[i]));
    }
    qy_encoding_free(&e);
    if (strcmp(got, want)) fail_msg("\"%s\": got %s, want %s", text, got, want);
}

/* The Split behaviours, with the example of the tokenizers documentation
 * ("the-final--countdown" split on "-"). */
static void test_split_behaviors(void **state) {
    struct {
        const char *behavior, *want;
    } cases[] = {{"Removed", "the|final|countdown"},
                 {"Isolated", "the|-|final|-|-|countdown"},
                 {"MergedWithPrevious", "the-|final-|-|countdown"},
                 {"MergedWithNext", "the|-final|-|-countdown"},
                 {"Contiguous", "the|-|final|--|countdown"}};
    for (size_t k = 0; k < 5; k++) {
        char pj[256];
        snprintf(pj, sizeof pj,
                 "{\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, \"behavior\": \"%s\", \"invert\": "
                 "false}",
                 cases[k].behavior);
        qy_tokenizer *t = pieces_tokenizer(pj, NULL);
        expect_tokens(t, "the-final--countdown", cases[k].want);
        qy_tokenizer_free(t);
        /* the same with a regex pattern */
        snprintf(pj, sizeof pj,
                 "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"-\"}, \"behavior\": \"%s\"}",
                 cases[k].behavior);
        t = pieces_tokenizer(pj, NULL);
        expect_tokens(t, "the-final--countdown", cases[k].want);
        qy_tokenizer_free(t);
    }
    /* invert, and the other splitting pre-tokenizers */
    static const char *more[][3] = {
        {"{\"type\": \"Split\", \"pattern\": {\"Regex\": \"[a-z]+\"}, \"behavior\": \"Removed\", \"invert\": "
         "true}",
         "the--final", "the|final"},
        {"{\"type\": \"Digits\", \"individual_digits\": true}", "x123y", "x|1|2|3|y"},
        {"{\"type\": \"Digits\", \"individual_digits\": false}", "x123y", "x|123|y"},
        {"{\"type\": \"Punctuation\"}", "a!?b", "a|!|?|b"},
        {"{\"type\": \"Punctuation\", \"behavior\": \"Contiguous\"}", "a!?b", "a|!?|b"},
        {"{\"type\": \"Whitespace\"}", "hello, world!?", "hello|,|world|!?"},
        {"{\"type\": \"WhitespaceSplit\"}", " hello \t world ", "hello|world"},
        {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"WhitespaceSplit\"}, {\"type\": "
         "\"Digits\", \"individual_digits\": true}]}",
         "a12 b3", "a|1|2|b|3"},
        {"{\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\", \"prepend_scheme\": \"always\", "
         "\"split\": true}",
         "hello world", "\xe2\x96\x81hello|\xe2\x96\x81world"},
        {"{\"type\": \"CharDelimiterSplit\", \"delimiter\": \"x\"}", "axbxxc", "a|b|c"}};
    for (size_t k = 0; k < sizeof more / sizeof more[0]; k++) {
        qy_tokenizer *t = pieces_tokenizer(more[k][0], NULL);
        expect_tokens(t, more[k][1], more[k][2]);
        qy_tokenizer_free(t);
    }
}

/* BPE with continuing_subword_prefix: as in the Rust tokenizers BPE model
 * (merge_word), every char after the first is looked up as "##" + char, and a
 * merge (a, ##b) makes a + b. Merges here: (h,##e) (##l,##l) (he,##ll) (w,##o)
 * (##r,##l) (wo,##rl). */
static void test_bpe_prefix(void **state) {
    char path[4096];
    const char *src = getenv("QUARRY_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/data/tokenizers/synthetic/bpe_prefix.json", src ? src : "..");
    qy_tokenizer *t;
    if (qy_tokenizer_load(path, &t)) fail_msg("%s", qy_errmsg());
    expect_tokens(t, "hello world wor", "hell|##o|worl|##d|wo|##r");
    expect_tokens(t, "hex", "he|<unk>"); /* x is not in the vocabulary: unk */
    char *d;
    int32_t ids[2];
    assert_int_equal(qy_tokenizer_token_to_id(t, "hell", &ids[0]), QY_OK);
    assert_int_equal(qy_tokenizer_token_to_id(t, "##o", &ids[1]), QY_OK);
    assert_int_equal(qy_tokenizer_decode(t, ids, 2, 0, &d, NULL), QY_OK);
    assert_string_equal(d, "hello");
    qy_free(d);
    qy_tokenizer_free(t);
}

/* Added tokens: matched before normalisation, never split; lstrip/rstrip take
 * the neighbouring spaces; single_word only matches whole words. */
static void test_added_token_options(void **state) {
    const char *ws = "{\"type\": \"WhitespaceSplit\"}";
    qy_tokenizer *t = pieces_tokenizer(ws, "{\"id\": 31, \"content\": \"<tok>\", \"special\": true}");
    expect_tokens(t, "a<tok>b", "a|<tok>|b");
    expect_tokens(t, "a <tok> b", "a|<tok>|b");
    qy_tokenizer_free(t);
    t = pieces_tokenizer(ws, "{\"id\": 34, \"content\": \"ab\", \"single_word\": true, \"special\": true}");
    expect_tokens(t, "ab", "ab");
    expect_tokens(t, "x ab y", "x|ab|y");
    expect_tokens(t, "cab",
                  "[UNK]"); /* "cab" is no word of the vocabulary, and "ab" inside it is not matched */
    qy_tokenizer_free(t);
    t = pieces_tokenizer(
        "null",
        "{\"id\": 31, \"content\": \"<tok>\", \"lstrip\": true, \"rstrip\": true, \"special\": true}");
    qy_tok_params p = plain(t);
    qy_encoding e;
    assert_int_equal(qy_tokenizer_encode(t, "a  <tok>  b", 11, &p, &e), QY_OK);
    assert_int_equal(e.n, 3);
    assert_int_equal(e.ids[1], 31);
    assert_int_equal(e.offsets[2], 1); /* the spaces belong to the added token */
    assert_int_equal(e.offsets[3], 10);
    qy_encoding_free(&e);
    qy_tokenizer_free(t);
}

/* Metaspace(prepend first, no split) is what the sentencepiece fixture's
 * Prepend + Replace normaliser does: the golden ids must come out again. */
static void test_metaspace_matches_fixture(void **state) {
    char path[4096], gpath[4096];
    tok_fixture(path, sizeof path, "sentencepiece-bpe", "tokenizer.json");
    tok_fixture(gpath, sizeof gpath, "sentencepiece-bpe", "golden.json");
    qy_json *doc, *g;
    assert_int_equal(qy_json_read_file(path, &doc), QY_OK);
    assert_int_equal(qy_json_read_file(gpath, &g), QY_OK);
    cJSON *root = (cJSON *)qy_json_root(doc);
    cJSON_ReplaceItemInObject(root, "normalizer", cJSON_CreateNull());
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", "Metaspace");
    cJSON_AddStringToObject(m, "replacement", "\xe2\x96\x81");
    cJSON_AddStringToObject(m, "prepend_scheme", "first");
    cJSON_AddBoolToObject(m, "split", 0);
    cJSON_ReplaceItemInObject(root, "pre_tokenizer", m);
    char *json = qy_json_print(root, 0);
    qy_tokenizer *t;
    assert_int_equal(qy_tokenizer_from_json(json, strlen(json), "metaspace.json", &t), QY_OK);
    qy_free(json);
    qy_tok_params p = plain(t);
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(qy_json_root(g), "cases")) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        const cJSON *ids = cJSON_GetObjectItem(c, "ids");
        /* Prepend adds "▁" even before a leading space, Metaspace "first" does not */
        if (text[0] == ' ') continue;
        qy_encoding e;
        assert_int_equal(qy_tokenizer_encode(t, text, strlen(text), &p, &e), QY_OK);
        assert_int_equal(e.n, (size_t)cJSON_GetArraySize(ids));
        for (size_t i = 0; i < e.n; i++)
            assert_int_equal(e.ids[i], (int32_t)cJSON_GetArrayItem(ids, (int)i)->valuedouble);
        qy_encoding_free(&e);
        n++;
    }
    assert_int_equal(n, 18);
    qy_tokenizer_free(t);
    qy_json_free(doc);
    qy_json_free(g);
}

typedef struct split_list {
    size_t b[4096], e[4096];
    size_t n;
} split_list;

static int collect(void *ctx, size_t b, size_t e) {
    split_list *l = ctx;
    if (l->n < 4096) {
        l->b[l->n] = b;
        l->e[l->n] = e;
    }
    l->n++;
    return 0;
}

/* The hand-written GPT-2 scanner gives PCRE2's pieces of the GPT-2 pattern. */
static void test_gpt2_scanner_vs_pcre2(void **state) {
    tok_regex re;
    assert_int_equal(tok_regex_compile(
                         &re,
                         "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
                         "test"),
                     QY_OK);
    tok_work w;
    qy_arena_init(&w.arena, 4096);
    w.md = pcre2_match_data_create(1, NULL);
    const char *texts[] = {
        "Hello world",
        "hello  world   with   runs of spaces",
        " leading space and trailing space ",
        "Newlines\nand\ttabs\r\n\n\nmixed",
        "It's a dog's life, isn't it? We'll see; they've gone, I'd say.",
        "Numbers: 3.14159, 1,000,000 and 2026-11-28 12345678901234567890",
        "Unicode: caf\xc3\xa9 na\xc3\xafve \xe2\x80\x94 \xe2\x80\x9cquotes\xe2\x80\x9d \xe2\x80\xa6",
        "\xc2\xa0non-breaking\xe2\x80\x89thin\xe2\x80\x8bzero-width",
        "' 's 'S ''s '' x'",
        "   ",
        "\n \n",
        "a  \n\tb",
        "\xf0\x9f\x99\x82\xf0\x9f\x9a\x80 \xf0\x9f\x87\xb3\xf0\x9f\x87\xb1",
        "x\xe3\x80\x80 y",
        "\xe6\xa3\x80\xe7\xb4\xa2 \xe5\xa2\x9e"};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        const char *s = texts[k];
        size_t len = strlen(s);
        static split_list a, b;
        a.n = b.n = 0;
        assert_int_equal(tok_gpt2_split(s, len, collect, &a), 0);
        size_t from = 0, ms, me;
        while (tok_regex_next(&re, &w, s, len, from, &ms, &me) == 1 && me > ms) {
            collect(&b, ms, me);
            from = me;
        }
        assert_int_equal(a.n, b.n);
        for (size_t i = 0; i < a.n; i++) {
            assert_int_equal(a.b[i], b.b[i]);
            assert_int_equal(a.e[i], b.e[i]);
        }
    }
    pcre2_match_data_free(w.md);
    qy_arena_free(&w.arena);
    tok_regex_free(&re);
}

/* The fast paths agree with the plain ones: the streaming GPT-2 path with the
 * general pipeline (ByteLevel wrapped in a Sequence turns streaming off), and the
 * small-word merge loop with the heap-only reference. */
static void test_fast_paths_match_reference(void **state) {
    char path[4096];
    tok_fixture(path, sizeof path, "gpt2", "tokenizer.json");
    qy_json *doc;
    assert_int_equal(qy_json_read_file(path, &doc), QY_OK);
    cJSON *root = (cJSON *)qy_json_root(doc);
    cJSON *bl = cJSON_DetachItemFromObject(root, "pre_tokenizer");
    cJSON *seq = cJSON_CreateObject();
    cJSON_AddStringToObject(seq, "type", "Sequence");
    cJSON *arr = cJSON_AddArrayToObject(seq, "pretokenizers");
    cJSON_AddItemToArray(arr, bl);
    cJSON_AddItemToObject(root, "pre_tokenizer", seq);
    char *json = qy_json_print(root, 0);
    qy_tokenizer *slow, *fast = load_fixture("gpt2");
    assert_int_equal(qy_tokenizer_from_json(json, strlen(json), "gpt2-seq.json", &slow), QY_OK);
    qy_free(json);
    qy_json_free(doc);
    /* a text with long words (heap path), many short ones, added tokens and odd spaces */
    static char text[1 << 16];
    size_t n = 0;
    qy_rng r;
    qy_rng_seed(&r, 11);
    const char *parts[] = {"the",
                           " cat",
                           "'s",
                           " \u00e9t\u00e9",
                           "<|endoftext|>",
                           "  ",
                           "\n\n",
                           " 1234567",
                           ",",
                           "\xe6\xa3\x80\xe7\xb4\xa2",
                           " antidisestablishmentarianism",
                           "\xf0\x9f\x99\x82",
                           "\t"};
    while (n < sizeof text - 512) {
        const char *p = parts[qy_rng_below(&r, sizeof parts / sizeof parts[0])];
        if (qy_rng_below(&r, 50) == 0) { /* a long run of one letter: beyond the small-word path */
            for (int k = 0; k < 80; k++) text[n++] = 'a';
            continue;
        }
        memcpy(text + n, p, strlen(p));
        n += strlen(p);
    }
    text[n] = '\0';
    qy_tok_params p = plain(fast);
    qy_encoding a, b;
    assert_int_equal(qy_tokenizer_encode(fast, text, n, &p, &a), QY_OK);
    assert_int_equal(qy_tokenizer_encode(slow, text, n, &p, &b), QY_OK);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.ids, b.ids, a.n * sizeof *a.ids);
    assert_memory_equal(a.offsets, b.offsets, 2 * a.n * sizeof *a.offsets);
    /* word by word: the small-word loop and the heap reference */
    tok_out x = {0}, y = {0};
    for (size_t i = 0; i < 400; i++) {
        size_t b0 = qy_rng_below(&r, n - 64), l = 1 + qy_rng_below(&r, 40);
        while (b0 > 0 && ((unsigned char)text[b0] & 0xC0) == 0x80) b0--;
        while (((unsigned char)text[b0 + l] & 0xC0) == 0x80) l++;
        tok_piece piece = {.s = text + b0, .len = l, .off = b0, .added_id = -1};
        x.n = y.n = 0;
        assert_int_equal(tok_model_piece(fast, NULL, &piece, &x), QY_OK);
        assert_int_equal(tok_bpe_reference(fast, &piece, &y), QY_OK);
        assert_int_equal(x.n, y.n);
        assert_memory_equal(x.ids, y.ids, x.n * sizeof *x.ids);
    }
    qy_free(x.ids), qy_free(x.st), qy_free(x.en), qy_free(y.ids), qy_free(y.st), qy_free(y.en);
    qy_encoding_free(&a);
    qy_encoding_free(&b);
    qy_tokenizer_free(fast);
    qy_tokenizer_free(slow);
}

static void test_errors(void **state) {
    qy_tokenizer *t = load_fixture("gpt2");
    qy_tok_params p = plain(t);
    qy_encoding e;
    assert_int_equal(qy_tokenizer_encode(t, "ok \xc3\x28 bad", 9, &p, &e), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "not valid UTF-8 at byte 3"));
    assert_null(e.ids);
    assert_int_equal(qy_tokenizer_encode(t, "\xed\xa0\x80", 3, &p, &e), QY_ERR_FORMAT); /* a surrogate */
    int32_t bad[] = {15496, 60000};
    char *out;
    assert_int_equal(qy_tokenizer_decode(t, bad, 2, 0, &out, NULL), QY_ERR_RANGE);
    assert_non_null(strstr(qy_errmsg(), "60000"));
    /* decoding half of a multi-byte char gives U+FFFD, as from_utf8_lossy */
    int32_t half[1];
    qy_encoding c;
    assert_int_equal(qy_tokenizer_encode(t, "\xf0\x9f\x99\x82", 4, &p, &c),
                     QY_OK); /* an emoji: several tokens */
    assert_true(c.n >= 2);
    half[0] = c.ids[0];
    assert_int_equal(qy_tokenizer_decode(t, half, 1, 0, &out, NULL), QY_OK);
    assert_string_equal(out, "\xef\xbf\xbd");
    qy_free(out);
    qy_encoding_free(&c);
    qy_tokenizer_free(t);

    struct {
        const char *json, *msg;
        int st;
    } cases[] = {
        {"{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "model \"Unigram\" is not supported",
         QY_ERR_UNSUPPORTED},
        {"{\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"\"}, \"model\": "
         "{\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
         ".normalizer.type: normalizer \"Precompiled\" is not supported", QY_ERR_UNSUPPORTED},
        {"{\"pre_tokenizer\": {\"type\": \"UnicodeScripts\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, "
         "\"merges\": []}}",
         "pre_tokenizer \"UnicodeScripts\" is not supported", QY_ERR_UNSUPPORTED},
        {"{\"decoder\": {\"type\": \"CTC\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
         "decoder \"CTC\" is not supported", QY_ERR_UNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"dropout\": 0.1, \"vocab\": {}, \"merges\": []}}", "dropout",
         QY_ERR_UNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}",
         "token \"b\" is not in the vocabulary", QY_ERR_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}", "expected an id",
         QY_ERR_FORMAT},
        {"{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": "
         "\"Isolated\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
         "does not compile", QY_ERR_FORMAT},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}", "invalid JSON", QY_ERR_FORMAT},
        {"{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\"}, "
         "{\"type\": \"Digits\"}]}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
         "ByteLevel must come last", QY_ERR_UNSUPPORTED},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        qy_tokenizer *x = (qy_tokenizer *)1;
        int st = qy_tokenizer_from_json(cases[k].json, strlen(cases[k].json), "bad.json", &x);
        if (st != cases[k].st || !strstr(qy_errmsg(), cases[k].msg))
            fail_msg("case %zu: status %d, message \"%s\"; want %d and \"%s\"", k, st, qy_errmsg(),
                     cases[k].st, cases[k].msg);
        assert_null(x);
    }
}

/* Every allocation of load, encode and decode may fail: the call reports it and leaks nothing. */
static void test_out_of_memory(void **state) {
    char path[4096];
    tok_fixture(path, sizeof path, "bert-wordpiece", "tokenizer.json");
    char *json;
    size_t len;
    assert_int_equal(qy_read_file(path, 0, &json, &len), QY_OK);
    qy_alloc_stats before, after;
    qy_alloc_get_stats(&before);
    int ok = 0;
    for (long n = 0; n < 200000 && !ok; n += 1 + n / 8) {
        qy_tokenizer *t = NULL;
        qy_alloc_fail_after(n, 0);
        int st = qy_tokenizer_from_json(json, len, "bert.json", &t);
        qy_alloc_fail_after(-1, 0);
        if (st == QY_OK) {
            qy_tok_params p;
            qy_tok_params_default(t, &p);
            for (long m = 0; m < 100000; m++) {
                qy_encoding e;
                qy_alloc_fail_after(m, 0);
                int st2 =
                    qy_tokenizer_encode_pair(t, "Caf\xc3\xa9 is fine", 13, "\xe6\xa3\x80 ok!", 8, &p, &e);
                char *d = NULL;
                if (st2 == QY_OK) st2 = qy_tokenizer_decode(t, e.ids, e.n, 0, &d, NULL);
                qy_alloc_fail_after(-1, 0);
                qy_free(d);
                qy_encoding_free(&e);
                if (st2 == QY_OK) break;
                assert_int_equal(st2, QY_ERR_NOMEM);
            }
            qy_tokenizer_free(t);
            ok = 1;
        } else
            assert_int_equal(st, QY_ERR_NOMEM);
    }
    assert_true(ok);
    qy_alloc_get_stats(&after);
    assert_int_equal(after.live_blocks, before.live_blocks);
    qy_free(json);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytelevel_offsets),
        cmocka_unit_test(test_bert_offsets_and_template),
        cmocka_unit_test(test_batch_threads),
        cmocka_unit_test(test_split_behaviors),
        cmocka_unit_test(test_added_token_options),
        cmocka_unit_test(test_metaspace_matches_fixture),
        cmocka_unit_test(test_gpt2_scanner_vs_pcre2),
        cmocka_unit_test(test_fast_paths_match_reference),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bpe_prefix),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
