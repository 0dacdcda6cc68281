/* test_recbole.c — RecBole atomic files, remapping, chronological order,
 * k-core, splits, the split writer, the Open Bandit loader, and out-of-memory
 * paths. Hand-checked cases use tests/data/rec_tiny (see its SOURCE.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "eval/rec_models.h"
#include "eval/recbole.h"
#include "quarry/base.h"
#include "quarry/rec.h"

static char tiny_dir[1024];

static int setup(void **state) {
    const char *src = getenv("QUARRY_SOURCE_DIR");
    snprintf(tiny_dir, sizeof tiny_dir, "%s/tests/data/rec_tiny", src ? src : "..");
    return 0;
}

static qy_rec_data *load_tiny(long min_user, long min_item) {
    qy_rec_data_opts o = qy_rec_data_opts_default();
    o.min_user_inter = min_user;
    o.min_item_inter = min_item;
    qy_rec_data *d = NULL;
    int st = qy_rec_load_dir(tiny_dir, &o, &d);
    if (st) fprintf(stderr, "%s\n", qy_errmsg());
    assert_int_equal(st, QY_OK);
    return d;
}

/* the items of user `tok` in order, as tokens joined by spaces */
static void user_items(const qy_rec_data *d, const char *tok, char *out, size_t cap) {
    uint32_t u = qy_rec_user_id(d, tok);
    out[0] = '\0';
    for (size_t j = d->user_off[u]; j < d->user_off[u + 1]; j++) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", l ? " " : "", d->item_token[d->item[j]]);
    }
}

static void test_types(void **state) {
    const char *text = "id:token\ttags:token_seq\tx:float\tv:float_seq\r\n"
                       "a\tred  green\t1.5\t1 2 3\r\n"
                       "\n"
                       "b\t\t-2e3\t\n"
                       "a\tgreen\t\t4\n";
    qy_rec_table *t;
    assert_int_equal(qy_rec_table_parse(text, strlen(text), "mem.item", &t), QY_OK);
    assert_int_equal(t->n_rows, 3);
    assert_int_equal(t->n_cols, 4);
    assert_int_equal(qy_rec_table_find(t, "tags"), 1);
    assert_int_equal(qy_rec_table_find(t, "tags:token_seq"), 1);
    assert_int_equal(qy_rec_table_find(t, "nope"), -1);
    assert_string_equal(qy_rec_table_token(t, 0, 2), "a");
    assert_int_equal(t->cols[0].n_dict, 2);
    const qy_rec_column *tags = &t->cols[1], *x = &t->cols[2], *v = &t->cols[3];
    assert_int_equal(tags->type, QY_FIELD_TOKEN_SEQ);
    assert_int_equal(tags->off[1] - tags->off[0], 2); /* double space: no empty token */
    assert_string_equal(tags->dict[tags->tok[1]], "green");
    assert_int_equal(tags->off[2] - tags->off[1], 0);
    assert_int_equal(tags->dict[tags->tok[tags->off[2]]], tags->dict[tags->tok[1]]); /* interned */
    assert_true(x->num[0] == 1.5 && x->num[1] == -2000);
    assert_true(x->num[2] != x->num[2]); /* empty float = NaN, as pandas reads it */
    assert_int_equal(v->off[1], 3);
    assert_int_equal(v->off[2], 3);
    assert_int_equal(v->off[3], 4);
    assert_true(v->num[2] == 3 && v->num[3] == 4);
    qy_rec_table_free(t);
}

static void expect_error(const char *text, const char *msg) {
    qy_rec_table *t = NULL;
    int st = qy_rec_table_parse(text, strlen(text), "bad.inter", &t);
    assert_int_equal(st, QY_ERR_FORMAT);
    assert_null(t);
    if (!strstr(qy_errmsg(), msg)) fail_msg("message '%s' lacks '%s'", qy_errmsg(), msg);
}

static void test_errors(void **state) {
    expect_error("", "empty file");
    expect_error("user_id\titem_id:token\n",
                 "line 1, column 1: expected a header field 'name:type', found 'user_id'");
    expect_error("user_id:token\titem_id:int\n", "line 1, column 2: unknown field type 'int'");
    expect_error("a:token\ta:float\n", "field 'a' appears twice");
    expect_error("u:token\ti:token\n1\t2\n3\n",
                 "bad.inter: line 3: expected 2 tab-separated fields (as the header), found 1");
    expect_error("u:token\tr:float\n1\t2\n1\tfive\n",
                 "bad.inter: line 3, column 2 (r): expected a number, found 'five'");
    expect_error("u:token\tv:float_seq\n1\t1 x 2\n",
                 "line 2, column 2 (v): expected space-separated numbers");
    expect_error("u:token\tr:float\n1\t 2\n", "line 2, column 2 (r): expected a number");
}

static void test_build_tiny(void **state) {
    qy_rec_data *d = load_tiny(0, 0);
    /* users u1..u5 from the interactions, then u9 from the .user file; items a..h, then z */
    assert_int_equal(d->n_users, 7);
    assert_int_equal(d->n_items, 10);
    assert_string_equal(d->user_token[0], "[PAD]");
    assert_string_equal(d->item_token[0], "[PAD]");
    assert_string_equal(d->user_token[1], "u1");
    assert_string_equal(d->user_token[6], "u9");
    assert_string_equal(d->item_token[4], "d");
    assert_string_equal(d->item_token[9], "z");
    assert_int_equal(qy_rec_item_id(d, "z"), 9);
    assert_int_equal(qy_rec_item_id(d, "nope"), 0);
    assert_int_equal(d->n_inter, 18);
    char buf[128];
    user_items(d, "u1", buf, sizeof buf);
    assert_string_equal(buf, "a b c d"); /* c and d tie at t=30: file order */
    user_items(d, "u4", buf, sizeof buf);
    assert_string_equal(buf, "b g f a"); /* file order reversed by time */
    user_items(d, "u9", buf, sizeof buf);
    assert_string_equal(buf, "");
    qy_rec_data_free(d);
}

static void test_kcore(void **state) {
    /* 3-core: round 1 bans u5 and items d e f g h; u4 keeps a, b (2) and goes in round 2 */
    qy_rec_data *d = load_tiny(3, 3);
    assert_int_equal(d->n_users, 4); /* pad u1 u2 u3; u9 has no interaction and a lower bound is set */
    assert_int_equal(d->n_items, 4); /* pad a b c; z is not added either */
    assert_int_equal(d->n_inter, 9);
    assert_int_equal(d->n_dropped, 9);
    assert_int_equal(qy_rec_user_id(d, "u4"), 0);
    char buf[128];
    user_items(d, "u3", buf, sizeof buf);
    assert_string_equal(buf, "a b c");
    qy_rec_data_free(d);
    /* an interval's upper bound: users with more than 4 interactions go (u3) */
    qy_rec_data_opts o = qy_rec_data_opts_default();
    o.max_user_inter = 4;
    assert_int_equal(qy_rec_load_dir(tiny_dir, &o, &d), QY_OK);
    assert_int_equal(qy_rec_user_id(d, "u3"), 0);
    assert_int_equal(d->n_inter, 13);
    qy_rec_data_free(d);
    o = qy_rec_data_opts_default();
    o.min_user_inter = 50;
    assert_int_equal(qy_rec_load_dir(tiny_dir, &o, &d), QY_ERR_ARG);
    assert_non_null(strstr(qy_errmsg(), "no interaction is left"));
}

static void tags_of(const qy_rec_data *d, const char *tok, char *out) {
    uint32_t u = qy_rec_user_id(d, tok);
    size_t n = 0;
    for (size_t j = d->user_off[u]; j < d->user_off[u + 1]; j++) out[n++] = "TVX-"[d->split[j]];
    out[n] = '\0';
}

static void test_splits(void **state) {
    qy_rec_data *d = load_tiny(0, 0);
    qy_rec_split_opts so;
    assert_int_equal(qy_rec_split_parse("loo", &so), QY_OK);
    assert_int_equal(qy_rec_data_split(d, &so), QY_OK);
    char t[32];
    tags_of(d, "u1", t);
    assert_string_equal(t, "TTVX");
    tags_of(d, "u3", t);
    assert_string_equal(t, "TTTVX");
    tags_of(d, "u5", t);
    assert_string_equal(t, "T");
    const uint32_t *it;
    size_t n;
    qy_rec_user_history(d, qy_rec_user_id(d, "u4"), QY_PHASE_TEST, &it, &n);
    assert_int_equal(n, 3); /* b g f */
    assert_int_equal(it[2], qy_rec_item_id(d, "f"));
    qy_rec_user_targets(d, qy_rec_user_id(d, "u4"), QY_PHASE_TEST, &it, &n);
    assert_int_equal(n, 1);
    assert_int_equal(it[0], qy_rec_item_id(d, "a"));
    /* sequential training examples: every train item but each user's first
       (u1: b; u2: b; u3: a, b; u4: g; u5: none) */
    qy_rec_seq_example *ex;
    assert_int_equal(qy_rec_seq_examples(d, &ex, &n), QY_OK);
    assert_int_equal(n, 5);
    assert_int_equal(ex[2].user, qy_rec_user_id(d, "u3"));
    assert_int_equal(ex[2].pos, 1);
    assert_int_equal(ex[3].pos, 2);
    assert_int_equal(ex[4].user, qy_rec_user_id(d, "u4"));
    qy_free(ex);

    /* RecBole's count rule for 5 rows at 0.8/0.1/0.1: int() gives 0, 0; each
       part with 0 < r*n < 1 then takes one row from train: 3, 1, 1 */
    assert_int_equal(qy_rec_split_parse("ratio:0.8,0.1,0.1", &so), QY_OK);
    assert_int_equal(qy_rec_data_split(d, &so), QY_OK);
    tags_of(d, "u3", t);
    assert_string_equal(t, "TTTVX");
    tags_of(d, "u1", t); /* 4 rows: 2, 1, 1 */
    assert_string_equal(t, "TTVX");
    tags_of(d, "u5", t); /* 1 row: train keeps it (cnt[0] <= 1 stops the loop) */
    assert_string_equal(t, "T");
    /* 0.5/0.25/0.25 of 4: int gives 1 and 1 */
    assert_int_equal(qy_rec_split_parse("ratio:2,1,1", &so), QY_OK);
    assert_int_equal(qy_rec_data_split(d, &so), QY_OK);
    tags_of(d, "u2", t);
    assert_string_equal(t, "TTVX");

    /* global time split of all 18 rows at 0.5/0.25/0.25: 9/4/5 by the rule
       (int(4.5)=4 twice, train 10; no part below one row) -> 10, 4, 4 */
    assert_int_equal(qy_rec_split_parse("time:0.5,0.25,0.25", &so), QY_OK);
    assert_int_equal(qy_rec_data_split(d, &so), QY_OK);
    size_t cnt[4] = {0};
    for (size_t j = 0; j < d->n_inter; j++) cnt[d->split[j]]++;
    assert_int_equal(cnt[0], 10);
    assert_int_equal(cnt[1], 4);
    assert_int_equal(cnt[2], 4);
    tags_of(d, "u4", t); /* times 97..100 are the latest of all */
    assert_string_equal(t, "XXXX");
    tags_of(d, "u3", t); /* times 1..5 the earliest */
    assert_string_equal(t, "TTTTT");

    assert_int_equal(qy_rec_split_parse("loo:0.5", &so), QY_ERR_ARG);
    assert_int_equal(qy_rec_split_parse("ratio:0.8,0.1", &so), QY_ERR_ARG);
    assert_int_equal(qy_rec_split_parse("random", &so), QY_ERR_ARG);
    so.kind = QY_SPLIT_RATIO_USER;
    so.ratio[0] = 0;
    so.ratio[1] = 1;
    so.ratio[2] = 1;
    assert_int_equal(qy_rec_data_split(d, &so), QY_ERR_ARG);
    qy_rec_data_free(d);
}

static void test_write_split(void **state) {
    qy_rec_data *d = load_tiny(0, 0);
    assert_int_equal(qy_rec_write_split(d, "/tmp/never", "x"), QY_ERR_ARG);
    qy_rec_split_opts so = {.kind = QY_SPLIT_LOO};
    assert_int_equal(qy_rec_data_split(d, &so), QY_OK);
    char dir[] = "/tmp/quarry-test-split-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(qy_rec_write_split(d, dir, "rec_tiny"), QY_OK);
    char path[256], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/sequences.tsv", dir);
    assert_int_equal(qy_read_file(path, 0, &text, &len), QY_OK);
    assert_non_null(strstr(text, "\n1\t1 2 3 4\tTTVX\n"));
    assert_non_null(strstr(text, "\n4\t2 7 6 1\tTTVX\n"));
    assert_non_null(strstr(text, "\n6\t\t\n")); /* u9: no interactions */
    qy_free(text);
    snprintf(path, sizeof path, "%s/rec_tiny.test.inter", dir);
    qy_rec_table *t;
    assert_int_equal(qy_rec_table_read(path, &t), QY_OK);
    assert_int_equal(t->n_rows, 4); /* u1..u4 */
    assert_string_equal(qy_rec_table_token(t, 1, 0), "d");
    qy_rec_table_free(t);
    const char *names[] = {"sequences.tsv",        "items.tsv",          "users.tsv", "rec_tiny.train.inter",
                           "rec_tiny.valid.inter", "rec_tiny.test.inter"};
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        assert_int_equal(unlink(path), 0);
    }
    rmdir(dir);
    qy_rec_data_free(d);
}

static void test_exposure(void **state) {
    /* an exposure log: u1 saw x (no click), clicked y, saw z, clicked x, saw y */
    const char *text = "user_id:token\titem_id:token\ttimestamp:float\tclick:float\n"
                       "u1\tx\t1\t0\nu1\ty\t2\t1\nu1\tz\t3\t0\nu1\tx\t4\t1\nu1\ty\t5\t0\n"
                       "u2\ty\t1\t1\nu2\tz\t2\t1\nu2\tx\t3\t1\nu2\tw\t4\t1\n";
    qy_rec_table *t;
    assert_int_equal(qy_rec_table_parse(text, strlen(text), "log.inter", &t), QY_OK);
    qy_rec_data_opts o = qy_rec_data_opts_default();
    o.click_field = "click";
    qy_rec_data *d;
    assert_int_equal(qy_rec_data_build(t, NULL, NULL, &o, &d), QY_OK);
    assert_non_null(d->click);
    assert_int_equal(d->n_inter, 9);
    const uint32_t *it;
    size_t n;
    qy_rec_user_positives(d, 1, &it, &n, NULL);
    assert_int_equal(n, 2);
    qy_rec_split_opts so = {.kind = QY_SPLIT_LOO};
    assert_int_equal(qy_rec_data_split(d, &so), QY_OK);
    char tags[16];
    tags_of(d, "u1", tags);
    assert_string_equal(tags, "TTTT-"); /* 2 clicks: both train; exposures follow their next click */
    tags_of(d, "u2", tags);
    assert_string_equal(tags, "TTVX");
    char dir[] = "/tmp/quarry-test-exposures-XXXXXX", path[256], *out;
    size_t len;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(qy_rec_write_split(d, dir, "log"), QY_OK);
    snprintf(path, sizeof path, "%s/exposures.tsv", dir);
    assert_int_equal(qy_read_file(path, 0, &out, &len), QY_OK);
    assert_non_null(strstr(out, "\n1\t1 2 3 1 2\t01010\tTTTT-\n")); /* x=1 y=2 z=3 */
    qy_free(out);
    const char *files[] = {"exposures.tsv",   "sequences.tsv",   "items.tsv",     "users.tsv",
                           "log.train.inter", "log.valid.inter", "log.test.inter"};
    for (int i = 0; i < 7; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        assert_int_equal(unlink(path), 0);
    }
    rmdir(dir);
    qy_rec_data_free(d);
    /* 2-core on clicks: u1 keeps its 2 clicks, items with one click (w, z clicked once) go */
    o.min_item_inter = 2;
    assert_int_equal(qy_rec_data_build(t, NULL, NULL, &o, &d), QY_OK);
    assert_int_equal(qy_rec_item_id(d, "w"), 0);
    assert_int_equal(qy_rec_item_id(d, "z"), 0);
    qy_rec_data_free(d);
    o.click_field = "timestamp"; /* not 0/1 */
    o.min_item_inter = 0;
    assert_int_equal(qy_rec_data_build(t, NULL, NULL, &o, &d), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "expected a click flag 0 or 1"));
    o.click_field = NULL;
    o.item_field = "product";
    assert_int_equal(qy_rec_data_build(t, NULL, NULL, &o, &d), QY_ERR_NOT_FOUND);
    assert_non_null(
        strstr(qy_errmsg(), "no item id field 'product' (fields: user_id, item_id, timestamp, click)"));
    qy_rec_table_free(t);
}

static void test_oom(void **state) {
    qy_alloc_stats before, after;
    qy_alloc_get_stats(&before);
    int failures = 0;
    for (long n = 0;; n++) {
        qy_alloc_fail_after(n, 0);
        qy_rec_data_opts o = qy_rec_data_opts_default();
        o.min_user_inter = 2;
        qy_rec_data *d = NULL;
        int st = qy_rec_load_dir(tiny_dir, &o, &d);
        if (!st) {
            qy_rec_split_opts so = {.kind = QY_SPLIT_RATIO_TIME};
            st = qy_rec_data_split(d, &so);
        }
        long injected = qy_alloc_injected_failures();
        qy_alloc_fail_after(-1, 0);
        qy_rec_data_free(d);
        if (!injected) {
            assert_int_equal(st, QY_OK);
            break;
        }
        assert_int_not_equal(st, QY_OK);
        failures++;
    }
    qy_alloc_get_stats(&after);
    assert_int_equal(after.live_blocks, before.live_blocks);
    assert_true(failures > 20);
}

static const char *shared(const char *rel, char *buf, size_t cap) {
    const char *s = getenv("QUARRY_SHARED");
    if (!s) return NULL;
    snprintf(buf, cap, "%s/%s", s, rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static void test_ml100k(void **state) {
    char path[1024];
    if (!shared("data/ml-100k/ml-100k.inter", path, sizeof path)) skip();
    snprintf(path, sizeof path, "%s/data/ml-100k", getenv("QUARRY_SHARED"));
    qy_rec_data *d;
    assert_int_equal(qy_rec_load_dir(path, NULL, &d), QY_OK);
    /* SOURCE.md: 99,057 rows, 943 users, 1,682 items in ml-100k.item */
    assert_int_equal(d->n_inter, 99057);
    assert_int_equal(d->n_users, 944);
    assert_int_equal(d->n_items, 1683);
    assert_string_equal(d->user_token[1], "196"); /* first row of the file */
    assert_string_equal(d->item_token[1], "242");
    for (uint32_t u = 1; u < d->n_users; u++)
        for (size_t j = d->user_off[u] + 1; j < d->user_off[u + 1]; j++) {
            assert_true(d->time[j - 1] <= d->time[j]);
            if (d->time[j - 1] == d->time[j]) assert_true(d->row[j - 1] < d->row[j]);
        }
    qy_rec_data_free(d);
}

static void test_obd(void **state) {
    char path[1024];
    if (!shared("data/open-bandit-dataset/random/men/men.csv", path, sizeof path)) skip();
    qy_rec_data *d;
    assert_int_equal(qy_rec_load_obd(path, NULL, &d), QY_OK);
    assert_int_equal(d->n_inter, 10000);
    assert_non_null(d->click);
    size_t clicks = 0;
    for (size_t j = 0; j < d->n_inter; j++) clicks += d->click[j];
    assert_int_equal(clicks, 46); /* SOURCE.md: click rate 0.46 % */
    assert_true(d->n_items <= 35);
    assert_true(d->time[0] > 1574553600.0 && d->time[0] < 1575158400.0); /* 24-30 Nov 2019 */
    qy_rec_data_free(d);
    /* a CSV that is not OBD */
    char tmp[] = "/tmp/quarry-obd-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "a,b\n1,2\n", 8), 8);
    close(fd);
    assert_int_equal(qy_rec_load_obd(tmp, NULL, &d), QY_ERR_FORMAT);
    assert_non_null(
        strstr(qy_errmsg(), "line 1: expected an Open Bandit Dataset header with column 'timestamp'"));
    unlink(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),    cmocka_unit_test(test_errors), cmocka_unit_test(test_build_tiny),
        cmocka_unit_test(test_kcore),    cmocka_unit_test(test_splits), cmocka_unit_test(test_write_split),
        cmocka_unit_test(test_exposure), cmocka_unit_test(test_oom),    cmocka_unit_test(test_ml100k),
        cmocka_unit_test(test_obd),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
