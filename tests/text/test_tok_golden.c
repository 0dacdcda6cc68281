/* test_tok_golden.c — every golden case of the tokenizer fixtures (made by
 * Hugging Face tokenizers 0.23.2: encode(text, add_special_tokens=False) and
 * decode(ids), which keeps special tokens) gives the same ids, the same token strings and the same decoded
 * text here; and the model folders' tokenizer.json files (../shared) load and
 * agree with the fixture they were copied from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <string.h>

#include "quarry/text.h"
#include "text/tok_test_util.h"

static const char *names[] = {"gpt2", "bytelevel-regex", "sentencepiece-bpe", "bert-wordpiece"};

static int run_golden(const char *tok_path, const char *golden_path, int *ncases) {
    qy_tokenizer *tok;
    int st = qy_tokenizer_load(tok_path, &tok);
    if (st) {
        print_error("%s\n", qy_errmsg());
        return 1;
    }
    qy_json *g;
    if (qy_json_read_file(golden_path, &g)) {
        print_error("%s\n", qy_errmsg());
        qy_tokenizer_free(tok);
        return 1;
    }
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(qy_json_root(g), "cases");
    int failures = 0;
    const cJSON *c;
    qy_tok_params p;
    qy_tok_params_default(tok, &p);
    p.add_special_tokens = 0;
    cJSON_ArrayForEach(c, cases) {
        const char *text = cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring;
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(c, "ids");
        const cJSON *toks = cJSON_GetObjectItemCaseSensitive(c, "tokens");
        const char *decoded = cJSON_GetObjectItemCaseSensitive(c, "decoded")->valuestring;
        qy_encoding e;
        if (qy_tokenizer_encode(tok, text, strlen(text), &p, &e)) {
            print_error("%s: %s: %s\n", tok_path, text, qy_errmsg());
            failures++;
            continue;
        }
        int n = cJSON_GetArraySize(ids), bad = (size_t)n != e.n;
        for (int i = 0; !bad && i < n; i++) {
            if (e.ids[i] != (int32_t)cJSON_GetArrayItem(ids, i)->valuedouble) bad = 1;
            const char *ts = qy_tokenizer_id_to_token(tok, e.ids[i]);
            if (!ts || strcmp(ts, cJSON_GetArrayItem(toks, i)->valuestring)) bad = 2;
            /* offsets are inside the text and ordered */
            if (e.offsets[2 * i] > e.offsets[2 * i + 1] || e.offsets[2 * i + 1] > strlen(text)) bad = 3;
        }
        if (bad) {
            print_error("%s: case \"%s\": %s differ (got %zu tokens, want %d):", tok_path, text,
                        bad == 1   ? "ids"
                        : bad == 2 ? "tokens"
                        : bad == 3 ? "offsets"
                                   : "counts",
                        e.n, n);
            for (size_t i = 0; i < e.n; i++) print_error(" %d", e.ids[i]);
            print_error("\n");
            failures++;
        }
        char *out;
        size_t olen;
        if (qy_tokenizer_decode(tok, e.ids, e.n, 0, &out, &olen)) {
            print_error("%s: decode: %s\n", tok_path, qy_errmsg());
            failures++;
        } else {
            if (strcmp(out, decoded)) {
                print_error("%s: case \"%s\": decoded \"%s\", want \"%s\"\n", tok_path, text, out, decoded);
                failures++;
            }
            qy_free(out);
        }
        qy_encoding_free(&e);
        (*ncases)++;
    }
    qy_json_free(g);
    qy_tokenizer_free(tok);
    return failures;
}

static void test_fixture_goldens(void **state) {
    qy_alloc_stats before, after;
    qy_alloc_get_stats(&before);
    int total = 0, failures = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char tp[4096], gp[4096];
        tok_fixture(tp, sizeof tp, names[k], "tokenizer.json");
        tok_fixture(gp, sizeof gp, names[k], "golden.json");
        if (!tp[0] || !gp[0]) {
            print_error("fixture %s missing\n", names[k]);
            failures++;
            continue;
        }
        int n = 0;
        failures += run_golden(tp, gp, &n);
        assert_int_equal(n, 20);
        total += n;
    }
    assert_int_equal(failures, 0);
    assert_int_equal(total, 80);
    qy_alloc_get_stats(&after);
    assert_int_equal(after.live_blocks, before.live_blocks);
}

/* The model folders use the tokenizers of the fixtures: each must load and
 * give the golden ids of the fixture it names (decoders: bytelevel-regex, BERT: bert-wordpiece). */
static void test_model_tokenizers(void **state) {
    const char *sh = getenv("QUARRY_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/fixtures/models", sh ? sh : "../shared");
    if (!qy_file_exists(path)) skip();
    const char *models[] = {"gpt2-tiny", "llama-tiny", "qwen2-tiny", "qwen3-tiny", "bert-tiny"};
    int failures = 0;
    for (size_t k = 0; k < 5; k++) {
        char tp[4096], gp[4096];
        snprintf(tp, sizeof tp, "%s/fixtures/models/%s/tokenizer.json", sh ? sh : "../shared", models[k]);
        tok_fixture(gp, sizeof gp, k == 4 ? "bert-wordpiece" : "bytelevel-regex", "golden.json");
        int n = 0;
        failures += run_golden(tp, gp, &n);
        assert_int_equal(n, 20);
    }
    assert_int_equal(failures, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_goldens),
        cmocka_unit_test(test_model_tokenizers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
