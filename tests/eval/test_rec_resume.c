/* Resumable training (qy_rec_train, qy_rec_state_save/load): N epochs in one
 * run and the same run stopped half-way and resumed reach the same bits
 * (parameters, Adam moments and steps, RNG, log, best checkpoint) for every
 * iterative model at 1 and 2 threads; a finished run resumes to itself and
 * extends; state files of another run, damaged or truncated ones are refused
 * with a message naming the problem and nothing written; allocation failures
 * while saving, loading and resuming leak nothing. */
#include <math.h>
#include <unistd.h>

#include "qy_test.h"

#include "eval/rec_models.h"
#include "quarry/rec.h"

static char dir[64];

/* 40 users walking a ring of 36 items (next item = previous + 1, with user
 * dependent start and stride 1 or 2), 7..15 steps each */
static qy_rec_data *walk_data(int users, qy_split_kind kind) {
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text, cap, "user_id:token\titem_id:token\ttimestamp:float\n");
    for (int u = 0; u < users; u++)
        for (int j = 0; j < 7 + u % 9; j++)
            len += (size_t)snprintf(text + len, cap - len, "u%d\ti%d\t%d\n", u,
                                    (u * 5 + j * (1 + u % 2)) % 36, j);
    qy_rec_table *t;
    assert_int_equal(qy_rec_table_parse(text, len, "walk.inter", &t), QY_OK);
    free(text);
    qy_rec_data *d;
    assert_int_equal(qy_rec_data_build(t, NULL, NULL, NULL, &d), QY_OK);
    qy_rec_table_free(t);
    qy_rec_split_opts so = {.kind = kind, .ratio = {0.8, 0.1, 0.1}};
    assert_int_equal(qy_rec_data_split(d, &so), QY_OK);
    return d;
}

static qy_rec_params params(int epochs) {
    qy_rec_params p = qy_rec_params_default();
    p.dim = 8;
    p.lr = 0.02;
    p.seed = 11;
    p.epochs = epochs;
    return p;
}

static const char *path(const char *name, char *buf) {
    snprintf(buf, 128, "%s/%s", dir, name);
    return buf;
}

static uint8_t *slurp(const char *p, size_t *n) {
    char *b;
    if (qy_read_file(p, 1 << 28, &b, n)) return NULL;
    return (uint8_t *)b;
}

static void assert_same_file(const char *a, const char *b) {
    size_t na, nb;
    uint8_t *x = slurp(a, &na), *y = slurp(b, &nb);
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(na, nb);
    assert_memory_equal(x, y, na);
    qy_free(x);
    qy_free(y);
}

/* every span of training state equal, byte for byte */
static void assert_same_state(qy_rec_model *a, qy_rec_model *b) {
    size_t na, nb;
    assert_int_equal(a->ops->train_spans(a, NULL, 0, &na), QY_OK);
    assert_int_equal(b->ops->train_spans(b, NULL, 0, &nb), QY_OK);
    assert_int_equal(na, nb);
    qy_rec_span *sa = calloc(na, sizeof *sa), *sb = calloc(nb, sizeof *sb);
    assert_int_equal(a->ops->train_spans(a, sa, na, &na), QY_OK);
    assert_int_equal(b->ops->train_spans(b, sb, nb, &nb), QY_OK);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(sa[i].bytes, sb[i].bytes);
        if (memcmp(sa[i].data, sb[i].data, sa[i].bytes))
            fail_msg("%s: state span %zu differs", a->ops->name, i);
    }
    free(sa);
    free(sb);
    assert_int_equal(a->epochs_done, b->epochs_done);
}

/* logs equal in everything but the seconds */
static void assert_same_log(const qy_rec_train_result *a, const qy_rec_train_result *b) {
    assert_int_equal(a->n_log, b->n_log);
    for (size_t i = 0; i < a->n_log; i++) {
        qy_rec_epoch_record x = a->log[i], y = b->log[i];
        x.seconds = y.seconds = 0;
        if (memcmp(&x, &y, sizeof x))
            fail_msg("log record %zu differs (loss %.9g vs %.9g)", i, x.loss, y.loss);
    }
    assert_int_equal(a->best_epoch, b->best_epoch);
    assert_memory_equal(&a->best_value, &b->best_value, sizeof a->best_value);
    assert_int_equal(a->best_len, b->best_len);
    assert_memory_equal(a->best_image, b->best_image, a->best_len);
    assert_true(a->digest == b->digest);
}

static int stop_at;
static int stop_cb(void *ctx, const qy_rec_epoch_record *r) {
    (void)ctx;
    return r->epoch == stop_at;
}

static int run(const char *model, const qy_rec_data *d, int epochs, int patience, int threads,
               const char *best, const char *state, const char *resume, qy_rec_record_fn cb,
               qy_rec_model **keep, qy_rec_train_result *res) {
    qy_rec_params p = params(epochs);
    qy_rec_model *m;
    qy_pool *pool;
    assert_int_equal(qy_pool_new(threads, &pool), QY_OK);
    assert_int_equal(qy_rec_model_new(model, &p, &m), QY_OK);
    qy_rec_train_opts o = qy_rec_train_opts_default();
    o.patience = patience;
    o.best_path = best;
    o.state_path = state;
    o.resume_path = resume;
    o.on_epoch = cb;
    int st = qy_rec_train(m, d, &o, pool, res);
    qy_pool_free(pool);
    if (keep)
        *keep = m;
    else
        qy_rec_model_free(m);
    return st;
}

static void check_resume(const char *model) {
    qy_rec_data *d = walk_data(40, QY_SPLIT_LOO);
    enum { N = 6 };
    for (int threads = 1; threads <= 2; threads++) {
        char bA[128], sA[128], bB[128], sB[128];
        path("a.best", bA), path("a.state", sA), path("b.best", bB), path("b.state", sB);
        qy_rec_model *mA, *mB;
        qy_rec_train_result rA, rB, rH;
        assert_int_equal(run(model, d, N, 100, threads, bA, sA, NULL, NULL, &mA, &rA), QY_OK);
        assert_int_equal(rA.epochs_done, N);
        assert_int_equal((int)rA.n_log, N);
        assert_int_equal(rA.finished, 1);
        assert_true(rA.best_epoch >= 1);
        /* first half: at 1 thread the epoch limit stops it, at 2 an interruption
           (on_epoch); the rest runs at the other thread count */
        stop_at = N / 2;
        assert_int_equal(run(model, d, threads == 1 ? N / 2 : N, 100, threads, bB, sB, NULL,
                             threads == 1 ? NULL : stop_cb, NULL, &rH),
                         QY_OK);
        assert_int_equal(rH.epochs_done, N / 2);
        assert_int_equal(rH.finished, threads == 1);
        qy_rec_train_result_free(&rH);
        unlink(bB); /* the resume restores it from the state */
        assert_int_equal(run(model, d, N, 100, 3 - threads, bB, sB, sB, NULL, &mB, &rB), QY_OK);
        assert_int_equal(rB.resumed_from, N / 2);
        assert_int_equal(rB.epochs_done, N);
        assert_same_state(mA, mB);
        assert_same_log(&rA, &rB);
        assert_same_file(bA, bB);
        /* the last epoch's model scores alike too */
        qy_rec_query q = {1, d->item + d->user_off[1], 3};
        float *sa = malloc(d->n_items * sizeof *sa), *sb = malloc(d->n_items * sizeof *sb);
        assert_int_equal(qy_rec_model_score(mA, &q, 1, sa, NULL), QY_OK);
        assert_int_equal(qy_rec_model_score(mB, &q, 1, sb, NULL), QY_OK);
        assert_memory_equal(sa, sb, d->n_items * sizeof *sa);
        free(sa);
        free(sb);
        qy_rec_model_free(mA);
        qy_rec_model_free(mB);
        qy_rec_train_result_free(&rA);
        qy_rec_train_result_free(&rB);
    }
    qy_rec_data_free(d);
}

static void test_resume_bprmf(void **state) { check_resume("bprmf"); }
static void test_resume_sasrec(void **state) { check_resume("sasrec"); }
static void test_resume_gru4rec(void **state) { check_resume("gru4rec"); }
static void test_resume_lightgcn(void **state) { check_resume("lightgcn"); }

/* early stopping: a run stopped by patience resumes to itself (no epoch
 * runs), and a larger patience or epoch limit continues it exactly as a
 * longer run would have */
static void test_patience_and_extend(void **state) {
    qy_rec_data *d = walk_data(40, QY_SPLIT_LOO);
    char b1[128], s1[128], b2[128], s2[128];
    path("p1.best", b1), path("p1.state", s1), path("p2.best", b2), path("p2.state", s2);
    qy_rec_train_result r1, r2, r3;
    /* lr 0.02 on bprmf: the metric stops improving within a few epochs */
    assert_int_equal(run("bprmf", d, 40, 2, 1, b1, s1, NULL, NULL, NULL, &r1), QY_OK);
    assert_int_equal(r1.finished, 1);
    assert_int_equal(r1.epochs_done - r1.best_epoch, 2);
    assert_true(r1.epochs_done < 40);
    size_t n0;
    uint8_t *before = slurp(s1, &n0);
    assert_int_equal(run("bprmf", d, 40, 2, 1, b1, s1, s1, NULL, NULL, &r2), QY_OK);
    assert_int_equal(r2.epochs_done, r1.epochs_done);
    assert_int_equal(r2.resumed_from, r1.epochs_done);
    assert_same_log(&r1, &r2);
    size_t n1;
    uint8_t *after = slurp(s1, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0); /* nothing ran, nothing rewritten */
    qy_free(before);
    qy_free(after);
    /* patience 4 from the start vs patience 2, then resumed with 4 */
    qy_rec_train_result rl, rx;
    assert_int_equal(run("bprmf", d, 40, 4, 2, b2, s2, NULL, NULL, NULL, &rl), QY_OK);
    assert_int_equal(run("bprmf", d, 40, 4, 1, b1, s1, s1, NULL, NULL, &rx), QY_OK);
    assert_true(rx.epochs_done > r1.epochs_done);
    assert_same_log(&rl, &rx);
    assert_same_file(b1, b2);
    r3 = rx;
    qy_rec_train_result_free(&r1);
    qy_rec_train_result_free(&r2);
    qy_rec_train_result_free(&rl);
    qy_rec_train_result_free(&r3);
    qy_rec_data_free(d);
}

/* expect qy_rec_state_load of `state` into a fresh `model` fitted with p on d
 * to fail with `want` and a message containing `needle` */
static void expect_refused(const char *model, const qy_rec_params *p, const qy_rec_data *d,
                           const qy_rec_train_opts *o, const char *state, int want, const char *needle) {
    qy_rec_model *m;
    assert_int_equal(qy_rec_model_new(model, p, &m), QY_OK);
    assert_int_equal(qy_rec_model_fit(m, d, NULL, NULL, NULL), QY_OK);
    qy_rec_train_result r;
    int st = qy_rec_state_load(m, d, o, state, &r);
    if (st != want || !strstr(qy_errmsg(), needle))
        fail_msg("expected status %d and '%s', got %d: %s", want, needle, st, qy_errmsg());
    assert_int_equal(r.n_log, 0);
    assert_null(r.log);
    assert_int_equal(m->epochs_done, 0);
    qy_rec_model_free(m);
}

static void write_bytes(const char *p, const uint8_t *b, size_t n) {
    assert_int_equal(qy_write_file_atomic(p, b, n), QY_OK);
}

static void test_refused(void **state) {
    qy_rec_data *d = walk_data(40, QY_SPLIT_LOO);
    char best[128], st[128], bad[128];
    path("r.best", best), path("r.state", st), path("bad.state", bad);
    qy_rec_train_result r;
    assert_int_equal(run("sasrec", d, 2, 10, 1, best, st, NULL, NULL, NULL, &r), QY_OK);
    qy_rec_train_result_free(&r);
    qy_rec_params p = params(2);
    qy_rec_train_opts o = qy_rec_train_opts_default();
    /* the same run loads */
    {
        qy_rec_model *m;
        assert_int_equal(qy_rec_model_new("sasrec", &p, &m), QY_OK);
        assert_int_equal(qy_rec_model_fit(m, d, NULL, NULL, NULL), QY_OK);
        assert_int_equal(qy_rec_state_load(m, d, &o, st, &r), QY_OK);
        assert_int_equal(r.epochs_done, 2);
        assert_int_equal(m->epochs_done, 2);
        qy_rec_train_result_free(&r);
        qy_rec_model_free(m);
    }
    /* another run */
    qy_rec_params q = p;
    q.dim = 16;
    expect_refused("sasrec", &q, d, &o, st, QY_ERR_ARG, "dim differs (state: 8; now: 16)");
    q = p;
    q.seed = 12;
    expect_refused("sasrec", &q, d, &o, st, QY_ERR_ARG, "seed differs (state: 11; now: 12)");
    q = p;
    q.lr = 0.01;
    expect_refused("sasrec", &q, d, &o, st, QY_ERR_ARG, "lr differs");
    expect_refused("gru4rec", &p, d, &o, st, QY_ERR_ARG, "model differs (state: sasrec; now: gru4rec)");
    qy_rec_train_opts o2 = o;
    assert_int_equal(qy_rec_valid_metric_parse("ndcg@20", &o2.valid_metric, &o2.valid_k), QY_OK);
    expect_refused("sasrec", &p, d, &o2, st, QY_ERR_ARG,
                   "valid metric differs (state: mrr@10; now: ndcg@20)");
    o2 = o;
    assert_int_equal(qy_rec_protocol_parse("sampled:50", &o2.eval), QY_OK);
    expect_refused("sasrec", &p, d, &o2, st, QY_ERR_ARG, "validation protocol differs");
    qy_rec_data *d2 = walk_data(39, QY_SPLIT_LOO);
    expect_refused("sasrec", &p, d2, &o, st, QY_ERR_ARG, "dataset (users, items, interactions) differs");
    qy_rec_data_free(d2);
    d2 = walk_data(40, QY_SPLIT_RATIO_USER);
    expect_refused("sasrec", &p, d2, &o, st, QY_ERR_ARG, "split differs");
    qy_rec_data_free(d2);
    /* damaged files */
    size_t n;
    uint8_t *b = slurp(st, &n);
    assert_non_null(b);
    b[n / 2] ^= 1;
    write_bytes(bad, b, n);
    expect_refused("sasrec", &p, d, &o, bad, QY_ERR_FORMAT, "checksum mismatch");
    b[n / 2] ^= 1;
    write_bytes(bad, b, n - 9);
    expect_refused("sasrec", &p, d, &o, bad, QY_ERR_FORMAT, "truncated");
    write_bytes(bad, b, 100);
    expect_refused("sasrec", &p, d, &o, bad, QY_ERR_FORMAT, "not a quarry training state");
    b[8] = 99; /* version */
    write_bytes(bad, b, n);
    expect_refused("sasrec", &p, d, &o, bad, QY_ERR_FORMAT, "version 99");
    qy_free(b);
    expect_refused("sasrec", &p, d, &o, best, QY_ERR_FORMAT,
                   "not a quarry training state"); /* a checkpoint */
    {
        qy_rec_model *m;
        assert_int_equal(qy_rec_model_new("sasrec", &p, &m), QY_OK);
        assert_int_equal(qy_rec_model_fit(m, d, NULL, NULL, NULL), QY_OK);
        assert_int_not_equal(qy_rec_state_load(m, d, &o, "/nonexistent/x.state", &r), QY_OK);
        qy_rec_model_free(m);
    }
    /* through qy_rec_train: refused before anything is written */
    char nb[128];
    path("never.best", nb);
    size_t n0, n1;
    uint8_t *s0 = slurp(st, &n0);
    q = p;
    q.dim = 16;
    q.epochs = 4;
    {
        qy_rec_model *m;
        assert_int_equal(qy_rec_model_new("sasrec", &q, &m), QY_OK);
        qy_rec_train_opts ot = o;
        ot.best_path = nb;
        ot.state_path = st;
        ot.resume_path = st;
        assert_int_equal(qy_rec_train(m, d, &ot, NULL, &r), QY_ERR_ARG);
        assert_non_null(strstr(qy_errmsg(), "dim differs"));
        qy_rec_train_result_free(&r);
        qy_rec_model_free(m);
    }
    assert_false(qy_file_exists(nb));
    uint8_t *s1 = slurp(st, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(s0, s1, n0);
    qy_free(s0);
    qy_free(s1);
    /* closed-form models have no state */
    {
        qy_rec_model *m;
        assert_int_equal(qy_rec_model_new("pop", &p, &m), QY_OK);
        qy_rec_train_opts ot = o;
        ot.best_path = nb;
        assert_int_equal(qy_rec_train(m, d, &ot, NULL, &r), QY_ERR_UNSUPPORTED);
        qy_rec_train_result_free(&r);
        qy_rec_model_free(m);
    }
    qy_rec_data_free(d);
}

static void test_valid_metric_parse(void **state) {
    qy_rec_metric m;
    int k;
    assert_int_equal(qy_rec_valid_metric_parse("ndcg@20", &m, &k), QY_OK);
    assert_int_equal(m, QY_METRIC_NDCG);
    assert_int_equal(k, 20);
    assert_int_equal(qy_rec_valid_metric_parse("hit@5", &m, &k), QY_OK);
    assert_int_equal(m, QY_METRIC_HIT);
    const char *bad[] = {"mrr", "mrr@", "mrr@7", "auc@10", "mrr@10x", "@10", "mrr@-5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(qy_rec_valid_metric_parse(bad[i], &m, &k), QY_ERR_ARG);
}

static void oom_model(const char *model) {
    qy_rec_data *d = walk_data(12, QY_SPLIT_LOO);
    char best[128], st[128], st2[128];
    path("o.best", best), path("o.state", st), path("o2.state", st2);
    qy_rec_train_result r, r2;
    qy_rec_model *m, *m2;
    assert_int_equal(run(model, d, 1, 10, 1, best, st, NULL, NULL, &m, &r), QY_OK);
    qy_rec_train_opts o = qy_rec_train_opts_default();
    int s = 0;
    QY_OOM_WALK(s, { s = qy_rec_state_save(m, d, &o, &r, st2); }, {});
    assert_same_file(st, st2);
    qy_rec_params p = params(1);
    assert_int_equal(qy_rec_model_new(model, &p, &m2), QY_OK);
    assert_int_equal(qy_rec_model_fit(m2, d, NULL, NULL, NULL), QY_OK);
    QY_OOM_WALK(
        s, { s = qy_rec_state_load(m2, d, &o, st, &r2); }, { qy_rec_train_result_free(&r2); });
    assert_same_state(m, m2);
    qy_rec_model_free(m2);
    /* a whole resumed epoch: load, train, validate, checkpoint, save. Not for
       the autograd models: their backward pass shrugs off a failed allocation
       of a free-list node (tensor.c release_grad), which the walk counts */
    p = params(2);
    if (!strcmp(model, "bprmf") || !strcmp(model, "lightgcn"))
        QY_OOM_WALK(s,
                    {
                        qy_rec_model *m3 = NULL;
                        qy_rec_train_opts ot = o;
                        ot.best_path = best;
                        ot.state_path = st2;
                        ot.resume_path = st;
                        s = qy_rec_model_new(model, &p, &m3);
                        if (!s) s = qy_rec_train(m3, d, &ot, NULL, &r2);
                        qy_rec_train_result_free(&r2);
                        qy_rec_model_free(m3);
                    },
                    {});
    qy_rec_model_free(m);
    qy_rec_train_result_free(&r);
    qy_rec_data_free(d);
}

static void test_oom_bprmf(void **state) { oom_model("bprmf"); }
static void test_oom_sasrec(void **state) { oom_model("sasrec"); }
static void test_oom_lightgcn(void **state) { oom_model("lightgcn"); }

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/quarry-rec-resume-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_bprmf),        cmocka_unit_test(test_resume_sasrec),
        cmocka_unit_test(test_resume_gru4rec),      cmocka_unit_test(test_resume_lightgcn),
        cmocka_unit_test(test_patience_and_extend), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_valid_metric_parse),  cmocka_unit_test(test_oom_bprmf),
        cmocka_unit_test(test_oom_sasrec),          cmocka_unit_test(test_oom_lightgcn),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
