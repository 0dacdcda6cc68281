/* Decoding with the KV cache against transformers' generate() on the fixture
 * models: greedy (tokens exact), beam search (tokens exact, scores within 1e-4),
 * GENRE-style constrained beam search over a docid trie for 1, 4 and 10 beams
 * (transformers' filler hypotheses scored near -1e9 are not returned),
 * repetition penalty and no-repeat-ngram greedy, and teacher-forced per-token
 * log-probabilities (within 1e-4). */
#include <cjson/cJSON.h>
#include <math.h>

#include "qy_test.h"
#include "quarry/gen.h"
#include "quarry/lm.h"

static qy_pool *pool;
static const char *models[] = {"gpt2-tiny", "llama-tiny", "qwen2-tiny", "qwen3-tiny"};

static int ints(const cJSON *arr, int32_t *out, int cap) {
    int n = 0;
    for (const cJSON *c = arr ? arr->child : NULL; c && n < cap; c = c->next)
        out[n++] = (int32_t)c->valuedouble;
    return n;
}

typedef struct fixture {
    char dir[512];
    qy_json *golden, *decode;
    qy_lm *lm;
    qy_gen_model gm;
} fixture;

static int open_fixture(const char *name, fixture *f) {
    char rel[128], path[600];
    snprintf(rel, sizeof rel, "fixtures/models/%s/decode.json", name);
    if (!qy_test_shared(rel, f->dir, sizeof f->dir)) return 0;
    *strrchr(f->dir, '/') = '\0';
    snprintf(path, sizeof path, "%s/golden.json", f->dir);
    assert_int_equal(qy_json_read_file(path, &f->golden), QY_OK);
    snprintf(path, sizeof path, "%s/decode.json", f->dir);
    assert_int_equal(qy_json_read_file(path, &f->decode), QY_OK);
    if (qy_lm_load(f->dir, &f->lm) != QY_OK) fail_msg("%s", qy_errmsg());
    assert_int_equal(qy_lm_decoder_new(f->lm, pool, &f->gm), QY_OK);
    return 1;
}

static void close_fixture(fixture *f) {
    qy_lm_decoder_free(&f->gm);
    qy_lm_free(f->lm);
    qy_json_free(f->golden);
    qy_json_free(f->decode);
}

static void check_greedy_and_beam(const char *name) {
    fixture f;
    if (!open_fixture(name, &f)) skip();
    const cJSON *g = qy_json_root(f.golden);
    const qy_lm_config *cfg = qy_lm_get_config(f.lm);
    int32_t prompt[64], want[64], eos[8];
    for (int i = 0; i < cfg->n_eos; i++) eos[i] = (int32_t)cfg->eos_token_ids[i];
    /* greedy: 20 new tokens, no EOS stop */
    const cJSON *gr = cJSON_GetObjectItem(g, "greedy");
    int np = ints(cJSON_GetArrayItem(cJSON_GetObjectItem(gr, "prompt"), 0), prompt, 64);
    int nw = ints(cJSON_GetArrayItem(cJSON_GetObjectItem(gr, "output"), 0), want, 64);
    qy_gen_config c;
    qy_gen_config_default(&c);
    c.max_new_tokens = nw - np;
    qy_gen_result *r;
    if (qy_generate(&f.gm, prompt, np, &c, &r) != QY_OK) fail_msg("%s", qy_errmsg());
    assert_int_equal(r->seqs[0].len, nw - np);
    assert_memory_equal(r->seqs[0].tokens, want + np, sizeof(int32_t) * (size_t)(nw - np));
    qy_gen_result_free(r);
    /* beam search: 4 beams, 4 returned, lp 1.0, no early stopping */
    const cJSON *bm = cJSON_GetObjectItem(g, "beam");
    np = ints(cJSON_GetArrayItem(cJSON_GetObjectItem(bm, "prompt"), 0), prompt, 64);
    const cJSON *seqs = cJSON_GetObjectItem(bm, "sequences"),
                *scores = cJSON_GetObjectItem(bm, "sequences_scores");
    qy_gen_config_default(&c);
    c.num_beams = (int)cJSON_GetObjectItem(bm, "num_beams")->valuedouble;
    c.num_return_sequences = cJSON_GetArraySize(seqs);
    c.length_penalty = (float)cJSON_GetObjectItem(bm, "length_penalty")->valuedouble;
    c.eos_ids = eos;
    c.n_eos = cfg->n_eos;
    nw = ints(cJSON_GetArrayItem(seqs, 0), want, 64);
    c.max_new_tokens = nw - np;
    if (qy_generate(&f.gm, prompt, np, &c, &r) != QY_OK) fail_msg("%s", qy_errmsg());
    assert_int_equal(r->n, c.num_return_sequences);
    for (int i = 0; i < r->n; i++) {
        nw = ints(cJSON_GetArrayItem(seqs, i), want, 64);
        double ws = cJSON_GetArrayItem(scores, i)->valuedouble;
        printf("%s beam %d: score %.6f (transformers %.6f)\n", name, i, r->seqs[i].score, ws);
        assert_int_equal(r->seqs[i].len, nw - np);
        assert_memory_equal(r->seqs[i].tokens, want + np, sizeof(int32_t) * (size_t)(nw - np));
        assert_true(fabs(r->seqs[i].score - ws) <= 1e-4);
    }
    qy_gen_result_free(r);
    /* teacher-forced log-probabilities: seq_logprob {ids: [[...]], per_token: [...]} */
    const cJSON *sl = cJSON_GetObjectItem(g, "seq_logprob");
    int32_t ids[64];
    int n = ints(cJSON_GetArrayItem(cJSON_GetObjectItem(sl, "ids"), 0), ids, 64);
    float lp[64];
    assert_int_equal(qy_lm_score(f.lm, pool, ids, n, lp), QY_OK);
    int k = 0;
    double worst = 0;
    for (const cJSON *v = cJSON_GetObjectItem(sl, "per_token")->child; v && k < 64; v = v->next, k++)
        worst = fmax(worst, fabs(lp[k] - v->valuedouble));
    printf("%s seq_logprob: %d values, max |diff| %.3g\n", name, k, worst);
    assert_true(k == n - 1);
    assert_true(worst <= 1e-4);
    close_fixture(&f);
}

static void check_decode_json(const char *name) {
    fixture f;
    if (!open_fixture(name, &f)) skip();
    const cJSON *d = qy_json_root(f.decode);
    int32_t prompt[64], want[64];
    int np = ints(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "prompt"), 0), prompt, 64);
    int32_t end = (int32_t)cJSON_GetObjectItem(d, "end_token")->valuedouble;
    qy_trie *trie;
    assert_int_equal(qy_trie_new(&trie), QY_OK);
    for (const cJSON *doc = cJSON_GetObjectItem(d, "docids")->child; doc; doc = doc->next) {
        int32_t ids[32];
        int n = ints(doc, ids, 32);
        assert_int_equal(qy_trie_insert(trie, ids, n), QY_OK);
    }
    qy_trie_constraint con = {trie, end};
    int beams[] = {1, 4, 10};
    for (int bi = 0; bi < 3; bi++) {
        char key[32];
        snprintf(key, sizeof key, "constrained_beam_%d", beams[bi]);
        const cJSON *e = cJSON_GetObjectItem(d, key);
        const cJSON *seqs = cJSON_GetObjectItem(e, "sequences"),
                    *scores = cJSON_GetObjectItem(e, "sequences_scores");
        qy_gen_config c;
        qy_gen_config_default(&c);
        c.num_beams = c.num_return_sequences = beams[bi];
        c.early_stopping = 1;
        c.max_new_tokens = 7;
        c.eos_ids = &end;
        c.n_eos = 1;
        c.allowed = qy_trie_allowed;
        c.allowed_ctx = &con;
        qy_gen_result *r;
        if (qy_generate(&f.gm, prompt, np, &c, &r) != QY_OK) fail_msg("%s", qy_errmsg());
        int real = 0;
        for (int i = 0; i < cJSON_GetArraySize(seqs); i++) {
            if (scores && cJSON_GetArrayItem(scores, i)->valuedouble < -1e6) continue; /* filler */
            int nw = ints(cJSON_GetArrayItem(seqs, i), want, 64);
            while (nw > 1 && want[nw - 1] == end && want[nw - 2] == end) nw--; /* padding */
            assert_true(real < r->n);
            assert_int_equal(r->seqs[real].len, nw);
            assert_memory_equal(r->seqs[real].tokens, want, sizeof(int32_t) * (size_t)nw);
            if (scores)
                assert_true(fabs(r->seqs[real].score - cJSON_GetArrayItem(scores, i)->valuedouble) <= 1e-4);
            real++;
        }
        printf("%s %s: %d hypotheses match\n", name, key, real);
        assert_int_equal(r->n, real);
        qy_gen_result_free(r);
    }
    qy_trie_free(trie);
    /* greedy with repetition penalty / no-repeat-ngram, 24 new tokens from the decode prompt */
    const char *keys[] = {"greedy_repetition_penalty_1.3", "greedy_no_repeat_ngram_2"};
    for (int k = 0; k < 2; k++) {
        int nw = ints(cJSON_GetObjectItem(d, keys[k]), want, 64);
        qy_gen_config c;
        qy_gen_config_default(&c);
        c.max_new_tokens = nw;
        if (k == 0)
            c.repetition_penalty = 1.3f;
        else
            c.no_repeat_ngram_size = 2;
        qy_gen_result *r;
        assert_int_equal(qy_generate(&f.gm, prompt, np, &c, &r), QY_OK);
        assert_int_equal(r->seqs[0].len, nw);
        assert_memory_equal(r->seqs[0].tokens, want, sizeof(int32_t) * (size_t)nw);
        printf("%s %s: %d tokens match\n", name, keys[k], nw);
        qy_gen_result_free(r);
    }
    close_fixture(&f);
}

static void test_greedy_beam_score(void **state) {
    for (int i = 0; i < 4; i++) check_greedy_and_beam(models[i]);
}
static void test_constrained_and_penalties(void **state) {
    for (int i = 0; i < 4; i++) check_decode_json(models[i]);
}

static int setup(void **state) { return qy_pool_new(2, &pool); }
static int teardown(void **state) {
    qy_pool_free(pool);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_greedy_beam_score),
                                       cmocka_unit_test(test_constrained_and_penalties)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
