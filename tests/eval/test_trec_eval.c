/* test_trec_eval.c — the qrels/run readers (messages name file, line and what
 * was expected), the evaluation on a small case checked by hand against
 * trec_eval's definitions, partial results on a failing query, and every
 * allocation failure path (no leak, no crash). The byte-for-byte comparison with
 * the real trec_eval is tests/eval/test_trec_eval_fixtures.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "quarry/eval.h"

static const char *QRELS = "1 0 a 2\n"
                           "1 0 b 0\n"
                           "1 0 c 1\n"
                           "1 0 d -1\n"
                           "1 0 e 1\n"
                           "2 0 x 1\n";

/* query 1 ranking: z (nonpool), c (1), a (2), b (0), d (unjudged): z and c tie
 * at 3.0 and trec_eval breaks ties by docno in descending order */
static const char *RUN = "1 Q0 a 3 2.0 t\n"
                         "1 Q0 z 2 3.0 t\n"
                         "\n"
                         "1\tQ0\tc 1 3.0 t extra words\n"
                         "1 Q0 b 4 1.0 t\n"
                         "1 Q0 d 5 0.5 tagZ\n"
                         "9 Q0 a 1 1.0 ignored\n";

static size_t col_of(const qy_eval_result *r, const char *name) {
    for (size_t c = 0; c < r->ncols; c++)
        if (!strcmp(r->cols[c].name, name)) return c;
    fail_msg("no column %s", name);
    return 0;
}

static void test_readers_errors(void **state) {
    (void)state;
    qy_run *r = NULL;
    qy_qrels *q = NULL;
    const char *bad_cols = "1 Q0 a 1 2.0 t\n1 Q0 b 2\n";
    assert_int_equal(qy_run_parse(bad_cols, strlen(bad_cols), "x.run", &r), QY_ERR_FORMAT);
    assert_null(r);
    assert_non_null(strstr(qy_errmsg(), "x.run: line 2: expected 6 columns"));
    const char *bad_score = "1 Q0 a 1 2.0x t\n";
    assert_int_equal(qy_run_parse(bad_score, strlen(bad_score), "x.run", &r), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "line 1: expected a finite number as score in column 5, got '2.0x'"));
    const char *nan_score = "1 Q0 a 1 nan t\n";
    assert_int_equal(qy_run_parse(nan_score, strlen(nan_score), "x.run", &r), QY_ERR_FORMAT);
    assert_int_equal(qy_run_parse("\n  \n", 4, "e.run", &r), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "e.run: empty run"));
    const char nul[] = "1 Q0 a\0 1 2 t\n";
    assert_int_equal(qy_run_parse(nul, sizeof nul - 1, "n.run", &r), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "line 1: unexpected NUL byte"));

    const char *bad_rel = "1 0 a 1\n1 0 b x\n";
    assert_int_equal(qy_qrels_parse(bad_rel, strlen(bad_rel), "q.qrels", &q), QY_ERR_FORMAT);
    assert_null(q);
    assert_non_null(strstr(qy_errmsg(), "q.qrels: line 2: expected an integer relevance in column 4"));
    const char *short_line = "1 0 a\n";
    assert_int_equal(qy_qrels_parse(short_line, strlen(short_line), "q.qrels", &q), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "line 1: expected 4 columns (qid iter docno rel), got 3"));
    const char *dup = "1 0 a 1\n2 0 a 1\n1 0 a 0\n";
    assert_int_equal(qy_qrels_parse(dup, strlen(dup), "q.qrels", &q), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "line 3: query 1 judges document 'a' again (first on line 1)"));
    assert_int_equal(qy_qrels_read("/nonexistent/q.qrels", &q), QY_ERR_NOT_FOUND);
}

static void test_small_case(void **state) {
    (void)state;
    qy_qrels *q;
    qy_run *r;
    assert_int_equal(qy_qrels_parse(QRELS, strlen(QRELS), "q", &q), QY_OK);
    assert_int_equal(qy_run_parse(RUN, strlen(RUN), "r", &r), QY_OK);
    assert_int_equal(qy_qrels_num_queries(q), 2);
    assert_int_equal(qy_run_num_lines(r), 6);
    assert_string_equal(qy_run_id(r), "ignored"); /* the tag of the last line */
    qy_eval_opts o;
    qy_eval_opts_default(&o);
    const char *m[] = {"map", "P.1,2,5", "ndcg_cut.3", "recip_rank", "relstring", "bpref", "num_ret"};
    o.measures = m;
    o.num_measures = 7;
    qy_eval_result *res;
    assert_int_equal(qy_eval_compute(q, r, &o, &res), QY_OK);
    assert_int_equal(res->nq, 1); /* query 2 is not in the run: skipped (9.0.x) */
    assert_string_equal(res->qids[0], "1");
    assert_string_equal(res->relstrings[0], "-120.");
    const double *v = res->values;
    /* relevant: c (rank 2), a (rank 3); R = 3 (a, c, e) */
    assert_true(fabs(v[col_of(res, "map")] - (0.5 + 2.0 / 3.0) / 3.0) < 1e-12);
    assert_true(fabs(v[col_of(res, "P_1")] - 0.0) < 1e-12);
    assert_true(fabs(v[col_of(res, "P_2")] - 0.5) < 1e-12);
    assert_true(fabs(v[col_of(res, "P_5")] - 0.4) < 1e-12);
    assert_true(fabs(v[col_of(res, "recip_rank")] - 0.5) < 1e-12);
    /* dcg@3 = 1/log2(3) + 2/log2(4); ideal@3 = 2 + 1/log2(3) + 1/log2(4) */
    double dcg = 1.0 / log2(3.0) + 2.0 / 2.0, idcg = 2.0 + 1.0 / log2(3.0) + 1.0 / 2.0;
    assert_true(fabs(v[col_of(res, "ndcg_cut_3")] - dcg / idcg) < 1e-12);
    /* bpref: c before any nonrelevant (1), a before b (1); e not retrieved: 2/3 */
    assert_true(fabs(v[col_of(res, "bpref")] - 2.0 / 3.0) < 1e-12);
    assert_int_equal((long)v[col_of(res, "num_ret")], 5);
    qy_eval_result_free(res);

    /* -M 2 keeps z and c; 10.0 without -c stops at query 2 (absent from the run) */
    o.max_docs = 2;
    o.trec_eval_version = 10;
    assert_int_equal(qy_eval_compute(q, r, &o, &res), QY_ERR_FORMAT);
    assert_non_null(res);
    assert_int_equal(res->nq, 1);
    assert_int_equal(res->complete, 0);
    assert_string_equal(res->relstrings[0], "-1");
    assert_non_null(strstr(qy_errmsg(), "query 2 of the qrels has no documents in the run"));
    qy_eval_result_free(res);
    /* with -c it counts: num_q 2, map halved */
    o.complete = 1;
    o.max_docs = 0;
    assert_int_equal(qy_eval_compute(q, r, &o, &res), QY_OK);
    assert_int_equal(res->num_q, 2);
    assert_true(fabs(res->summary[col_of(res, "map")] - (0.5 + 2.0 / 3.0) / 6.0) < 1e-12);
    qy_eval_result_free(res);

    const char *unknown[] = {"mapp"};
    o.measures = unknown;
    o.num_measures = 1;
    assert_int_equal(qy_eval_compute(q, r, &o, &res), QY_ERR_ARG);
    assert_null(res);
    assert_non_null(strstr(qy_errmsg(), "unknown measure 'mapp'"));
    const char *badcut[] = {"P.5,x"};
    o.measures = badcut;
    assert_int_equal(qy_eval_compute(q, r, &o, &res), QY_ERR_ARG);
    qy_run_free(r);
    qy_qrels_free(q);
}

static void test_duplicate_partial(void **state) {
    (void)state;
    const char *qr = "1 0 a 1\n2 0 a 1\n";
    const char *run = "1 Q0 a 1 1 t\n2 Q0 a 1 1 t\n2 Q0 b 2 0.5 t\n2 Q0 a 3 0.1 t\n";
    qy_qrels *q;
    qy_run *r;
    assert_int_equal(qy_qrels_parse(qr, strlen(qr), "q", &q), QY_OK);
    assert_int_equal(qy_run_parse(run, strlen(run), "dup.run", &r), QY_OK);
    qy_eval_opts o;
    qy_eval_opts_default(&o);
    qy_eval_result *res;
    assert_int_equal(qy_eval_compute(q, r, &o, &res), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "dup.run: query 2: document 'a' is retrieved twice"));
    assert_int_equal(res->nq, 1);
    qy_eval_result_free(res);
    o.max_docs = 2; /* the duplicate falls below the cut: no error */
    assert_int_equal(qy_eval_compute(q, r, &o, &res), QY_OK);
    assert_int_equal(res->nq, 2);
    qy_eval_result_free(res);
    qy_run_free(r);
    qy_qrels_free(q);
}

/* Fail each allocation in turn: every path returns NOMEM cleanly and frees all. */
static void test_alloc_failures(void **state) {
    (void)state;
    qy_alloc_stats before, after;
    int succeeded = 0;
    for (long n = 0; n < 400 && !succeeded; n++) {
        qy_alloc_get_stats(&before);
        qy_alloc_fail_after(n, 0);
        qy_qrels *q = NULL;
        qy_run *r = NULL;
        qy_eval_result *res = NULL;
        int st = qy_qrels_parse(QRELS, strlen(QRELS), "q", &q);
        if (!st) st = qy_run_parse(RUN, strlen(RUN), "r", &r);
        if (!st) {
            qy_eval_opts o;
            qy_eval_opts_default(&o);
            const char *m[] = {"all_trec", "relstring.3"};
            o.measures = m;
            o.num_measures = 2;
            o.complete = 1;
            st = qy_eval_compute(q, r, &o, &res);
            if (!st) {
                cJSON *j = qy_eval_to_json(res, 1);
                if (j) {
                    char *s = qy_json_print(j, 0);
                    qy_free(s);
                    cJSON_Delete(j);
                }
            }
        }
        qy_alloc_fail_after(-1, 0);
        if (st == QY_OK)
            succeeded = 1;
        else
            assert_int_equal(st, QY_ERR_NOMEM);
        qy_eval_result_free(res);
        qy_run_free(r);
        qy_qrels_free(q);
        qy_alloc_get_stats(&after);
        assert_int_equal(after.live_blocks, before.live_blocks);
    }
    assert_true(succeeded);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_errors),
        cmocka_unit_test(test_small_case),
        cmocka_unit_test(test_duplicate_partial),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
