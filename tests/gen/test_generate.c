/* Decoding: processors, trie, greedy, sampling and beam search on small
 * hand-made models whose answers can be computed independently here. */
#include <math.h>

#include "qy_test.h"
#include "quarry/gen.h"

/* ---- a small model: logits depend on the last two tokens through a fixed hash */
#define MAXROWS 64
#define MAXLEN 64
typedef struct toy {
    int V;
    int history_free; /* 1: logits depend only on the position */
    int nrows;
    int32_t seq[MAXROWS][MAXLEN];
    int len[MAXROWS];
    int calls;
} toy;

static float toy_logit(const toy *m, const int32_t *seq, int len, int v) {
    uint64_t h = 1469598103934665603ull;
    int a = m->history_free ? 0 : (len >= 1 ? seq[len - 1] : -1);
    int b = m->history_free ? 0 : (len >= 2 ? seq[len - 2] : -1);
    uint64_t parts[4] = {(uint64_t)(a + 7), (uint64_t)(b + 11), (uint64_t)v,
                         (uint64_t)(m->history_free ? len : 0)};
    for (int i = 0; i < 4; i++) {
        h ^= parts[i];
        h *= 1099511628211ull;
        h ^= h >> 29;
    }
    return (float)((double)(h % 100000) / 100000.0 * 6.0 - 3.0);
}

static void toy_logits(const toy *m, int row, float *out) {
    for (int v = 0; v < m->V; v++) out[v] = toy_logit(m, m->seq[row], m->len[row], v);
}

static int toy_begin(void *ctx, const int32_t *prompt, int n, int nrows, float *logits) {
    toy *m = ctx;
    m->nrows = nrows;
    for (int r = 0; r < nrows; r++) {
        memcpy(m->seq[r], prompt, sizeof(int32_t) * (size_t)n);
        m->len[r] = n;
    }
    toy_logits(m, 0, logits);
    return QY_OK;
}

static int toy_step(void *ctx, int nrows, const int *parent, const int32_t *tokens, float *logits) {
    toy *m = ctx;
    static int32_t seq[MAXROWS][MAXLEN];
    static int len[MAXROWS];
    for (int i = 0; i < nrows; i++) {
        memcpy(seq[i], m->seq[parent[i]], sizeof seq[i]);
        len[i] = m->len[parent[i]];
        seq[i][len[i]++] = tokens[i];
    }
    memcpy(m->seq, seq, sizeof seq);
    memcpy(m->len, len, sizeof len);
    m->nrows = nrows;
    for (int i = 0; i < nrows; i++) toy_logits(m, i, logits + (size_t)i * m->V);
    m->calls++;
    return QY_OK;
}

static qy_gen_model toy_model(toy *m, int V) {
    memset(m, 0, sizeof *m);
    m->V = V;
    return (qy_gen_model){m, V, toy_begin, toy_step};
}

static double logprob_of(const toy *m, const int32_t *seq, int len, int v) {
    double mx = -INFINITY, z = 0;
    for (int u = 0; u < m->V; u++) mx = fmax(mx, toy_logit(m, seq, len, u));
    for (int u = 0; u < m->V; u++) z += exp(toy_logit(m, seq, len, u) - mx);
    return toy_logit(m, seq, len, v) - mx - log(z);
}

/* ------------------------------------------------------------ processors */

static void test_repetition_penalty_hf_rule(void **state) {
    float s[5] = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f};
    int32_t seq[] = {0, 1, 1, 4};
    assert_int_equal(qy_logits_repetition_penalty(s, 5, seq, 4, 2.0f), QY_OK);
    /* positive divided, negative multiplied, each token once */
    assert_true(s[0] == 1.0f && s[1] == -2.0f && s[2] == 0.5f && s[3] == 3.0f && s[4] == -4.0f);
}

static void test_no_repeat_ngram(void **state) {
    float s[6] = {0};
    int32_t seq[] = {1, 2, 3, 1, 2, 5, 1};
    qy_logits_no_repeat_ngram(s, 6, seq, 7, 2); /* prefix (1): followed by 2 and 2 -> ban 2 */
    for (int v = 0; v < 6; v++) assert_true(v == 2 ? isinf(s[v]) : s[v] == 0);
    float t[6] = {0};
    int32_t seq3[] = {1, 2, 3, 4, 1, 2};
    qy_logits_no_repeat_ngram(t, 6, seq3, 6, 3); /* prefix (1,2) was followed by 3 */
    for (int v = 0; v < 6; v++) assert_true(v == 3 ? isinf(t[v]) : t[v] == 0);
}

static void test_top_k_top_p_min_p(void **state) {
    float s[6] = {1, 5, 3, 5, 2, 0}, scratch[6];
    qy_logits_top_k(s, 6, 2, scratch); /* the two 5s */
    for (int v = 0; v < 6; v++) assert_true((v == 1 || v == 3) ? s[v] == 5 : isinf(s[v]));
    float p[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    assert_int_equal(qy_logits_top_p(p, 4, 0.75f), QY_OK); /* 0.05 and 0.05+0.15 <= 0.25: dropped */
    assert_true(!isinf(p[0]) && !isinf(p[1]) && isinf(p[2]) && isinf(p[3]));
    float q[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    qy_logits_min_p(q, 4, 0.4f); /* keep p >= 0.2 */
    assert_true(!isinf(q[0]) && !isinf(q[1]) && isinf(q[2]) && isinf(q[3]));
    float r[3] = {1, 2, 3};
    qy_logits_temperature(r, 3, 2.0f);
    assert_true(r[2] == 1.5f);
    float l[3] = {1, 2, 3};
    qy_logits_log_softmax(l, 3);
    assert_true(fabs(exp(l[0]) + exp(l[1]) + exp(l[2]) - 1.0) < 1e-6);
}

/* ------------------------------------------------------------------ trie */

static void test_trie_insert_and_walk(void **state) {
    qy_trie *t;
    assert_int_equal(qy_trie_new(&t), QY_OK);
    int32_t a[] = {5, 1, 9}, b[] = {5, 2}, c[] = {5, 1, 3, 7};
    assert_int_equal(qy_trie_insert(t, a, 3), QY_OK);
    assert_int_equal(qy_trie_insert(t, b, 2), QY_OK);
    assert_int_equal(qy_trie_insert(t, a, 3), QY_OK);
    assert_int_equal(qy_trie_size(t), 2);
    int32_t out[8];
    assert_int_equal(qy_trie_next(t, NULL, 0, out, 8), 1);
    assert_int_equal(out[0], 5);
    assert_int_equal(qy_trie_next(t, (int32_t[]){5}, 1, out, 8), 2);
    assert_true(out[0] == 1 && out[1] == 2);
    assert_int_equal(qy_trie_next(t, a, 3, out, 8), 0);
    assert_int_equal(qy_trie_next(t, (int32_t[]){4}, 1, out, 8), 0);
    /* insertion while in use (dynamic corpora) */
    assert_int_equal(qy_trie_insert(t, c, 4), QY_OK);
    assert_int_equal(qy_trie_next(t, (int32_t[]){5, 1}, 2, out, 8), 2);
    assert_true(out[0] == 3 && out[1] == 9);
    assert_true(qy_trie_contains(t, c, 4));
    assert_false(qy_trie_contains(t, c, 3));
    qy_trie_constraint con = {t, 99};
    assert_int_equal(qy_trie_allowed(&con, a, 3, out, 8), 1);
    assert_int_equal(out[0], 99);
    assert_int_equal(qy_trie_nodes(t), 7);
    qy_trie_free(t);
}

static int build_trie(qy_trie **out) {
    int st = qy_trie_new(out);
    for (int i = 0; i < 40 && !st; i++) {
        int32_t s[4];
        s[0] = i % 3;
        s[1] = i % 5;
        s[2] = i;
        s[3] = 1;
        st = qy_trie_insert(*out, s, 4);
    }
    if (st) {
        qy_trie_free(*out);
        *out = NULL;
    }
    return st;
}

static void test_trie_oom(void **state) {
    qy_trie *t = NULL;
    int st;
    QY_OOM_WALK(
        st, { st = build_trie(&t); },
        {
            qy_trie_free(t);
            t = NULL;
        });
}

/* ------------------------------------------------------------- decoding */

static void test_greedy_is_argmax_chain(void **state) {
    toy m;
    qy_gen_model gm = toy_model(&m, 13);
    int32_t prompt[] = {3, 4};
    qy_gen_config c;
    qy_gen_config_default(&c);
    c.max_new_tokens = 10;
    qy_gen_result *r;
    assert_int_equal(qy_generate(&gm, prompt, 2, &c, &r), QY_OK);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->seqs[0].len, 10);
    int32_t seq[32] = {3, 4};
    double score = 0;
    for (int t = 0; t < 10; t++) {
        int best = 0;
        for (int v = 1; v < 13; v++)
            if (toy_logit(&m, seq, 2 + t, v) > toy_logit(&m, seq, 2 + t, best)) best = v;
        score += logprob_of(&m, seq, 2 + t, best);
        seq[2 + t] = best;
        assert_int_equal(r->seqs[0].tokens[t], best);
    }
    assert_true(fabs(r->seqs[0].score - score) < 1e-4);
    qy_gen_result_free(r);
    /* eos stops early */
    int32_t eos = seq[5];
    c.eos_ids = &eos;
    c.n_eos = 1;
    int first = 0;
    while (seq[2 + first] != eos) first++;
    assert_int_equal(qy_generate(&gm, prompt, 2, &c, &r), QY_OK);
    assert_int_equal(r->seqs[0].len, first + 1);
    assert_int_equal(r->seqs[0].tokens[first], eos);
    qy_gen_result_free(r);
}

static void test_sampling_is_seeded_and_follows_the_distribution(void **state) {
    toy m;
    qy_gen_model gm = toy_model(&m, 6);
    m.history_free = 1;
    int32_t prompt[] = {1};
    qy_gen_config c;
    qy_gen_config_default(&c);
    c.do_sample = 1;
    c.max_new_tokens = 1;
    c.num_return_sequences = 50;
    qy_gen_result *a, *b;
    assert_int_equal(qy_generate(&gm, prompt, 1, &c, &a), QY_OK);
    assert_int_equal(qy_generate(&gm, prompt, 1, &c, &b), QY_OK);
    for (int i = 0; i < 50; i++) assert_int_equal(a->seqs[i].tokens[0], b->seqs[i].tokens[0]);
    qy_gen_result_free(a);
    qy_gen_result_free(b);
    /* frequencies of 20000 one-token samples against softmax probabilities */
    int counts[6] = {0};
    for (int rep = 0; rep < 400; rep++) {
        c.seed = (uint64_t)rep;
        assert_int_equal(qy_generate(&gm, prompt, 1, &c, &a), QY_OK);
        for (int i = 0; i < 50; i++) counts[a->seqs[i].tokens[0]]++;
        qy_gen_result_free(a);
    }
    int32_t seq[1] = {1};
    for (int v = 0; v < 6; v++) {
        double p = exp(logprob_of(&m, seq, 1, v));
        assert_true(fabs(counts[v] / 20000.0 - p) < 0.015);
    }
    /* top_k = 1 makes sampling greedy */
    c.top_k = 1;
    c.seed = 5;
    assert_int_equal(qy_generate(&gm, prompt, 1, &c, &a), QY_OK);
    int best = 0;
    for (int v = 1; v < 6; v++)
        if (toy_logit(&m, seq, 1, v) > toy_logit(&m, seq, 1, best)) best = v;
    for (int i = 0; i < 50; i++) assert_int_equal(a->seqs[i].tokens[0], best);
    qy_gen_result_free(a);
}

typedef struct scored {
    int32_t s[4];
    double score;
} scored;

static int cmp_scored(const void *a, const void *b) {
    double x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x < y) - (x > y);
}

/* With enough beams, beam search is exhaustive: its hypotheses must be the best
 * sequences by total log-probability, scored sum / length^length_penalty. */
static void test_wide_beam_equals_exhaustive_search(void **state) {
    enum { V = 4, T = 3 };
    toy m;
    qy_gen_model gm = toy_model(&m, V);
    int32_t prompt[] = {2, 1};
    scored all[V * V * V];
    int n = 0;
    for (int a = 0; a < V; a++)
        for (int b = 0; b < V; b++)
            for (int d = 0; d < V; d++) {
                int32_t seq[5] = {2, 1, a, b, d};
                double s = logprob_of(&m, seq, 2, a) + logprob_of(&m, seq, 3, b) + logprob_of(&m, seq, 4, d);
                all[n] = (scored){{a, b, d}, s / 3.0};
                n++;
            }
    qsort(all, (size_t)n, sizeof *all, cmp_scored);
    qy_gen_config c;
    qy_gen_config_default(&c);
    c.max_new_tokens = T;
    c.num_beams = 16;
    c.num_return_sequences = 5;
    qy_gen_result *r;
    assert_int_equal(qy_generate(&gm, prompt, 2, &c, &r), QY_OK);
    assert_int_equal(r->n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(r->seqs[i].len, T);
        assert_memory_equal(r->seqs[i].tokens, all[i].s, sizeof(int32_t) * T);
        assert_true(fabs(r->seqs[i].score - all[i].score) < 1e-5);
    }
    qy_gen_result_free(r);
}

/* ---- stop criteria inside beam search, on a model given as a table of
 * next-token probabilities per generated prefix (tokens A B C S; the stop
 * criterion is "S was generated", as a stop string would be) */
enum { TA, TB, TC, TS };
typedef struct table_model {
    int32_t gen[MAXROWS][MAXLEN];
    int len[MAXROWS];
} table_model;

static void table_probs(const int32_t *g, int len, double p[4]) {
    static const struct {
        const char *prefix;
        double p[4];
    } rows[] = {
        {"", {0.6, 0.3, 0.05, 0.05}},        {"A", {0.25, 0.2, 0.05, 0.5}},  {"B", {0.9, 0.04, 0.03, 0.03}},
        {"AS", {0.99, 0.004, 0.003, 0.003}}, {"BA", {0.8, 0.1, 0.05, 0.05}}, {"AA", {0.4, 0.3, 0.2, 0.1}},
    };
    char key[MAXLEN + 1];
    for (int i = 0; i < len; i++) key[i] = "ABCS"[g[i]];
    key[len] = '\0';
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        if (!strcmp(rows[r].prefix, key)) {
            memcpy(p, rows[r].p, sizeof rows[r].p);
            return;
        }
    for (int v = 0; v < 4; v++) p[v] = 0.25;
}

static void table_logits(const table_model *m, int row, float *out) {
    double p[4];
    table_probs(m->gen[row], m->len[row], p);
    for (int v = 0; v < 4; v++) out[v] = (float)log(p[v]);
}

static int table_begin(void *ctx, const int32_t *prompt, int n, int nrows, float *logits) {
    table_model *m = ctx;
    (void)prompt, (void)n;
    (void)nrows;
    memset(m, 0, sizeof *m);
    table_logits(m, 0, logits);
    return QY_OK;
}

static int table_step(void *ctx, int nrows, const int *parent, const int32_t *tokens, float *logits) {
    table_model *m = ctx;
    static table_model next;
    for (int i = 0; i < nrows; i++) {
        memcpy(next.gen[i], m->gen[parent[i]], sizeof next.gen[i]);
        next.len[i] = m->len[parent[i]];
        next.gen[i][next.len[i]++] = tokens[i];
    }
    *m = next;
    for (int i = 0; i < nrows; i++) table_logits(m, i, logits + (size_t)i * 4);
    return QY_OK;
}

static int stop_at_s(void *ctx, const int32_t *gen, int len) {
    int *calls = ctx;
    (*calls)++;
    for (int i = 0; i < len; i++)
        if (gen[i] == TS) return 1;
    return 0;
}

static int stop_never(void *ctx, const int32_t *gen, int len) {
    (void)ctx, (void)gen, (void)len;
    return 0;
}

/* num_beams 2, 3 new tokens, length_penalty 1, no EOS; 4 candidates per step.
 * Worked by hand from the table:
 *   step 1: A .6, B .3 run (C, S .05 beyond the first two candidates)
 *   step 2: candidates AS .30, BA .27, AA .15, AB .12
 *     no stop:   AS and BA run on
 *     with stop: AS finishes, score ln(.30)/2 = -0.601986; BA and AA run on
 *   step 3 (the last: every candidate finishes; the first two enter)
 *     no stop:   ASA .297, BAA .216 -> ASA wins with ln(.297)/3 = -0.404772
 *                (its text cut at the stop would be just "A")
 *     with stop: BAA .216, AAA .06 -> best two of {AS, BAA, AAA}:
 *                BAA ln(.216)/3 = -0.510826, then AS -0.601986 */
static void test_beam_stop_finishes_hypothesis_like_eos(void **state) {
    table_model tm;
    qy_gen_model gm = {&tm, 4, table_begin, table_step};
    int32_t prompt[] = {TC};
    qy_gen_config c;
    qy_gen_config_default(&c);
    c.max_new_tokens = 3;
    c.num_beams = 2;
    c.num_return_sequences = 2;
    qy_gen_result *r;
    /* search first: ASA wins */
    assert_int_equal(qy_generate(&gm, prompt, 1, &c, &r), QY_OK);
    assert_int_equal(r->n, 2);
    int32_t asa[] = {TA, TS, TA}, baa[] = {TB, TA, TA}, as[] = {TA, TS};
    assert_int_equal(r->seqs[0].len, 3);
    assert_memory_equal(r->seqs[0].tokens, asa, sizeof asa);
    assert_true(fabs(r->seqs[0].score - log(0.297) / 3) < 1e-5);
    assert_memory_equal(r->seqs[1].tokens, baa, sizeof baa);
    qy_gen_result_free(r);
    /* stop inside the search: AS finishes at step 2 and BAA overtakes it */
    int calls = 0;
    c.stop = stop_at_s;
    c.stop_ctx = &calls;
    assert_int_equal(qy_generate(&gm, prompt, 1, &c, &r), QY_OK);
    assert_int_equal(r->n, 2);
    assert_int_equal(r->seqs[0].len, 3);
    assert_memory_equal(r->seqs[0].tokens, baa, sizeof baa);
    assert_true(fabs(r->seqs[0].score - log(0.216) / 3) < 1e-5);
    assert_int_equal(r->seqs[1].len, 2);
    assert_memory_equal(r->seqs[1].tokens, as, sizeof as);
    assert_true(fabs(r->seqs[1].score - log(0.30) / 2) < 1e-5);
    assert_int_equal(calls, 2 * 4); /* every candidate of steps 1-2 (at step 3 all finish anyway) */
    qy_gen_result_free(r);
    /* a stop criterion that never fires leaves the search bit for bit unchanged */
    toy m;
    qy_gen_model tg = toy_model(&m, 9);
    int32_t tprompt[] = {4, 1};
    c.max_new_tokens = 6;
    c.num_beams = 4;
    c.num_return_sequences = 4;
    c.stop = NULL;
    qy_gen_result *plain;
    assert_int_equal(qy_generate(&tg, tprompt, 2, &c, &plain), QY_OK);
    c.stop = stop_never;
    assert_int_equal(qy_generate(&tg, tprompt, 2, &c, &r), QY_OK);
    assert_int_equal(r->n, plain->n);
    for (int i = 0; i < r->n; i++) {
        assert_int_equal(r->seqs[i].len, plain->seqs[i].len);
        assert_memory_equal(r->seqs[i].tokens, plain->seqs[i].tokens,
                            sizeof(int32_t) * (size_t)r->seqs[i].len);
        assert_true(r->seqs[i].score == plain->seqs[i].score);
    }
    qy_gen_result_free(r);
    qy_gen_result_free(plain);
}

static void test_constrained_beam_stays_in_trie(void **state) {
    enum { V = 12 };
    toy m;
    qy_gen_model gm = toy_model(&m, V);
    qy_trie *t;
    assert_int_equal(qy_trie_new(&t), QY_OK);
    int32_t docs[][4] = {{1, 2, 3, 11}, {1, 2, 4, 11}, {1, 5, 11}, {6, 7, 8, 11}, {6, 9, 11}};
    int lens[] = {4, 4, 3, 4, 3};
    for (int i = 0; i < 5; i++) qy_trie_insert(t, docs[i], lens[i]);
    qy_trie_constraint con = {t, 11};
    qy_gen_config c;
    qy_gen_config_default(&c);
    int32_t eos = 11;
    c.eos_ids = &eos;
    c.n_eos = 1;
    c.max_new_tokens = 5;
    c.num_beams = 5;
    c.num_return_sequences = 5;
    c.early_stopping = 1;
    c.allowed = qy_trie_allowed;
    c.allowed_ctx = &con;
    int32_t prompt[] = {3};
    qy_gen_result *r;
    assert_int_equal(qy_generate(&gm, prompt, 1, &c, &r), QY_OK);
    assert_true(r->n >= 1 && r->n <= 5);
    for (int i = 0; i < r->n; i++) {
        assert_true(qy_trie_contains(t, r->seqs[i].tokens, r->seqs[i].len));
        if (i) assert_true(r->seqs[i].score <= r->seqs[i - 1].score);
    }
    qy_gen_result_free(r);
    qy_trie_free(t);
}

static void test_bad_settings_are_named(void **state) {
    toy m;
    qy_gen_model gm = toy_model(&m, 5);
    int32_t p[] = {1};
    qy_gen_config c;
    qy_gen_config_default(&c);
    qy_gen_result *r;
    c.top_p = 0;
    assert_int_equal(qy_generate(&gm, p, 1, &c, &r), QY_ERR_ARG);
    assert_non_null(strstr(qy_errmsg(), "top_p"));
    qy_gen_config_default(&c);
    c.num_beams = 2;
    c.num_return_sequences = 3;
    assert_int_equal(qy_generate(&gm, p, 1, &c, &r), QY_ERR_ARG);
    assert_non_null(strstr(qy_errmsg(), "num_return_sequences"));
    qy_gen_config_default(&c);
    assert_int_equal(qy_generate(&gm, p, 0, &c, &r), QY_ERR_ARG);
    int32_t eos = -9;
    c.eos_ids = &eos;
    c.n_eos = 1;
    assert_int_equal(qy_generate(&gm, p, 1, &c, &r), QY_ERR_ARG);
    assert_null(r);
}

static void test_generate_oom(void **state) {
    toy m;
    qy_gen_model gm = toy_model(&m, 7);
    int32_t p[] = {1, 2};
    qy_gen_config c;
    qy_gen_config_default(&c);
    c.max_new_tokens = 4;
    c.num_beams = 3;
    c.num_return_sequences = 2;
    qy_gen_result *r = NULL;
    int st;
    QY_OOM_WALK(
        st, { st = qy_generate(&gm, p, 2, &c, &r); },
        {
            qy_gen_result_free(r);
            r = NULL;
        });
    c.num_beams = 1;
    c.repetition_penalty = 1.2f;
    QY_OOM_WALK(
        st, { st = qy_generate(&gm, p, 2, &c, &r); },
        {
            qy_gen_result_free(r);
            r = NULL;
        });
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repetition_penalty_hf_rule),
        cmocka_unit_test(test_no_repeat_ngram),
        cmocka_unit_test(test_top_k_top_p_min_p),
        cmocka_unit_test(test_trie_insert_and_walk),
        cmocka_unit_test(test_trie_oom),
        cmocka_unit_test(test_greedy_is_argmax_chain),
        cmocka_unit_test(test_sampling_is_seeded_and_follows_the_distribution),
        cmocka_unit_test(test_wide_beam_equals_exhaustive_search),
        cmocka_unit_test(test_beam_stop_finishes_hypothesis_like_eos),
        cmocka_unit_test(test_constrained_beam_stays_in_trie),
        cmocka_unit_test(test_bad_settings_are_named),
        cmocka_unit_test(test_generate_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
