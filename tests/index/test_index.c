/* test_index.c — the index and BM25 search against an independent oracle.
 *
 * Documents are random Zipfian word sequences indexed without stemming or
 * stopwords, so the test knows every term frequency and length. The oracle
 * scores every document straight from those lists with Lucene 8's BM25
 * formula (one-byte lengths or exact) and the same tie rule; the index must
 * return the same documents with bitwise-equal scores, pruned (block-max
 * MaxScore) or exhaustive, disjunctive or conjunctive, across several
 * segments, after deletions and updates (whose statistics, as in Lucene,
 * count tombstoned documents until a merge) and after merging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index/manifest.h"
#include "quarry/base.h"
#include "quarry/index.h"

#define NDOCS 3000
#define VOCAB 400
#define MAXLEN 60

typedef struct odoc {
    char id[16];
    uint16_t words[MAXLEN];
    int len;
    int live;    /* not deleted / replaced */
    int counted; /* still in the index statistics */
} odoc;

static odoc docs[NDOCS * 2];
static int ndocs;
static char tmpdir[64];

static void word(int w, char *out) { snprintf(out, 16, "w%dx", w); }

/* Zipf-like: the square of a uniform index skews towards frequent words */
static int zipf_word(qy_rng *r) {
    double u = qy_rng_double(r);
    return (int)(u * u * u * VOCAB) % VOCAB;
}

static void make_doc(qy_rng *r, odoc *d, const char *id) {
    snprintf(d->id, sizeof d->id, "%s", id);
    d->len = (int)qy_rng_below(r, MAXLEN + 1); /* some empty documents too */
    if (qy_rng_below(r, 50) == 0) d->len = 0;
    for (int i = 0; i < d->len; i++) d->words[i] = (uint16_t)zipf_word(r);
    d->live = d->counted = 1;
}

static char *doc_text(const odoc *d) {
    char *t = malloc((size_t)d->len * 8 + 1);
    t[0] = '\0';
    for (int i = 0; i < d->len; i++) {
        char w[16];
        word(d->words[i], w);
        if (i) strcat(t, " ");
        strcat(t, w);
    }
    return t;
}

typedef struct ohit {
    int doc; /* index into docs[] (index order = insertion order of live docs) */
    float score;
} ohit;

/* oracle: BM25 over docs[] as Lucene computes it */
static int oracle(const int *q, int nq, int k, int conj, int exact, ohit *out) {
    uint64_t N = 0, tokens = 0;
    for (int i = 0; i < ndocs; i++)
        if (docs[i].counted && docs[i].len > 0) N++, tokens += (uint64_t)docs[i].len;
    float avgdl = (float)((double)tokens / (double)N);
    float k1 = 0.9f, b = 0.4f;
    /* distinct terms in first-appearance order, with counts */
    int uq[32], qtf[32], nu = 0;
    for (int i = 0; i < nq; i++) {
        int j = 0;
        while (j < nu && uq[j] != q[i]) j++;
        if (j < nu)
            qtf[j]++;
        else
            uq[nu] = q[i], qtf[nu++] = 1;
    }
    float wt[32];
    int present_anywhere = 1;
    for (int j = 0; j < nu; j++) {
        uint64_t df = 0;
        for (int i = 0; i < ndocs; i++) {
            if (!docs[i].counted) continue;
            for (int p = 0; p < docs[i].len; p++)
                if (docs[i].words[p] == uq[j]) {
                    df++;
                    break;
                }
        }
        if (df == 0) present_anywhere = 0;
        float idf = (float)log(1.0 + ((double)N - (double)df + 0.5) / ((double)df + 0.5));
        wt[j] = (float)qtf[j] * idf;
    }
    if (conj && !present_anywhere) return 0;
    int n = 0;
    for (int i = 0; i < ndocs; i++) {
        if (!docs[i].live) continue;
        double sum = 0;
        int matched = 0;
        uint32_t L = exact ? (uint32_t)docs[i].len : qy_norm_to_len(qy_len_to_norm((uint32_t)docs[i].len));
        float ninv = 1.0f / (k1 * ((1.0f - b) + b * (float)L / avgdl));
        for (int j = 0; j < nu; j++) {
            uint32_t tf = 0;
            for (int p = 0; p < docs[i].len; p++) tf += docs[i].words[p] == uq[j];
            if (!tf) continue;
            matched++;
            sum += wt[j] - wt[j] / (1.0f + (float)tf * ninv);
        }
        if (matched == 0 || (conj && matched < nu)) continue;
        float sc = (float)sum;
        /* insert into a sorted top-k (ties: earlier document first) */
        int pos = n < k ? n : k;
        while (pos > 0 && out[pos - 1].score < sc) pos--;
        if (pos >= k) continue;
        int last = n < k ? n : k - 1;
        memmove(&out[pos + 1], &out[pos], (size_t)(last - pos) * sizeof *out);
        out[pos] = (ohit){i, sc};
        if (n < k) n++;
    }
    return n;
}

static void build_index(qy_index_params *p) {
    qy_index_writer *w;
    assert_int_equal(qy_index_writer_open(tmpdir, p, QY_INDEX_CREATE, &w), QY_OK);
    for (int i = 0; i < ndocs; i++) {
        char *t = doc_text(&docs[i]);
        assert_int_equal(qy_index_writer_add(w, docs[i].id, i % 3 ? "" : "", t), QY_OK);
        free(t);
    }
    assert_int_equal(qy_index_writer_commit(w), QY_OK);
    qy_index_writer_close(w);
}

/* compare the index with the oracle on random queries in every mode */
static void check_queries(uint64_t seed, int nqueries) {
    qy_index *ix;
    assert_int_equal(qy_index_open(tmpdir, &ix), QY_OK);
    qy_searcher *s;
    assert_int_equal(qy_searcher_new(ix, &s), QY_OK);
    qy_rng r;
    qy_rng_seed(&r, seed);
    static const int ks[] = {1, 3, 10, 100, 5000};
    qy_hit hits[5000], hits2[5000];
    ohit want[5000];
    for (int qi = 0; qi < nqueries; qi++) {
        int q[8], nq = 1 + (int)qy_rng_below(&r, 6);
        char text[256] = "";
        for (int i = 0; i < nq; i++) {
            q[i] = qy_rng_below(&r, 4) == 0 ? (int)qy_rng_below(&r, VOCAB) : zipf_word(&r);
            if (qy_rng_below(&r, 10) == 0) q[i] = VOCAB + 7; /* a word in no document */
            char w[16];
            word(q[i], w);
            strcat(text, w);
            strcat(text, " ");
        }
        int k = ks[qy_rng_below(&r, 5)];
        int conj = qy_rng_below(&r, 4) == 0, exact = qy_rng_below(&r, 3) == 0;
        qy_search_params p;
        qy_search_params_default(&p);
        p.k = k;
        p.conjunctive = conj;
        p.exact_lengths = exact;
        size_t n, n2;
        uint64_t scored, scored2;
        assert_int_equal(qy_searcher_search(s, text, &p, hits, &n, &scored), QY_OK);
        p.exhaustive = 1;
        assert_int_equal(qy_searcher_search(s, text, &p, hits2, &n2, &scored2), QY_OK);
        int nw = oracle(q, nq, k, conj, exact, want);
        if ((int)n != nw || n2 != n)
            fail_msg("query '%s' k=%d conj=%d: %zu pruned, %zu exhaustive, %d expected", text, k, conj, n, n2,
                     nw);
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *id = qy_index_doc_id(ix, &hits[i], &len);
            if (len != strlen(docs[want[i].doc].id) || memcmp(id, docs[want[i].doc].id, len) ||
                hits[i].score != want[i].score || hits2[i].score != hits[i].score ||
                hits2[i].doc != hits[i].doc || hits2[i].seg != hits[i].seg)
                fail_msg("query '%s' k=%d conj=%d exact=%d rank %zu: got %.*s %.9g (exhaustive %.9g), "
                         "expected %s %.9g",
                         text, k, conj, exact, i + 1, (int)len, id, hits[i].score, hits2[i].score,
                         docs[want[i].doc].id, want[i].score);
        }
        assert_true(scored <= scored2);
    }
    qy_searcher_free(s);
    qy_index_close(ix);
}

static void rm_index(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fail_msg("cannot remove %s", tmpdir);
}

/* n random documents "<prefix><i>", indexed (no stemming, no stopwords)
 * under `budget` bytes with the given merge factor; returns the stats */
static qy_index_stats make_corpus_index(qy_rng *r, int n, const char *prefix, size_t budget, int merge_factor,
                                        qy_index_params *p) {
    ndocs = n;
    for (int i = 0; i < ndocs; i++) {
        char id[16];
        snprintf(id, sizeof id, "%s%d", prefix, i);
        make_doc(r, &docs[i], id);
    }
    qy_index_params_default(p);
    p->analyzer = "stem=none,stop=none";
    p->memory_budget = budget;
    p->merge_factor = merge_factor;
    p->threads = 2;
    build_index(p);
    qy_index *ix;
    assert_int_equal(qy_index_open(tmpdir, &ix), QY_OK);
    qy_index_stats st;
    qy_index_get_stats(ix, &st);
    qy_index_close(ix);
    return st;
}

static void test_search_matches_oracle(void **state) {
    qy_rng r;
    qy_rng_seed(&r, 11);
    qy_index_params p;
    qy_index_stats st = make_corpus_index(&r, NDOCS, "d", 256 << 10, 0, &p); /* several segments */
    qy_index *ix;
    assert_int_equal(st.docs, NDOCS);
    assert_true(st.segments >= 3);
    check_queries(1, 150);

    /* deletions and updates: statistics still count the old versions */
    qy_index_writer *w;
    assert_int_equal(qy_index_writer_open(tmpdir, &p, QY_INDEX_OPEN, &w), QY_OK);
    for (int i = 0; i < NDOCS; i += 7) {
        assert_int_equal(qy_index_writer_delete(w, docs[i].id), QY_OK);
        docs[i].live = 0;
    }
    for (int i = 3; i < NDOCS; i += 11) {
        if (!docs[i].live) continue;
        docs[i].live = 0; /* the old version stays counted */
        make_doc(&r, &docs[ndocs], docs[i].id);
        char *t = doc_text(&docs[ndocs]);
        assert_int_equal(qy_index_writer_add(w, docs[ndocs].id, "", t), QY_OK);
        free(t);
        ndocs++;
    }
    assert_int_equal(qy_index_writer_delete(w, "no-such-id"), QY_OK);
    assert_int_equal(qy_index_writer_commit(w), QY_OK);
    qy_index_writer_counts c;
    qy_index_writer_get_counts(w, &c);
    qy_index_writer_close(w);
    check_queries(2, 100);

    /* merging purges them from the statistics too */
    assert_int_equal(qy_index_writer_open(tmpdir, &p, QY_INDEX_OPEN, &w), QY_OK);
    assert_int_equal(qy_index_writer_merge(w, 1), QY_OK);
    qy_index_writer_close(w);
    for (int i = 0; i < ndocs; i++) docs[i].counted = docs[i].live;
    assert_int_equal(qy_index_open(tmpdir, &ix), QY_OK);
    qy_index_get_stats(ix, &st);
    qy_index_close(ix);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.deleted, 0);
    check_queries(3, 100);
    rm_index();
}

static void test_tiered_merges_and_corruption(void **state) {
    qy_rng r;
    qy_rng_seed(&r, 5);
    qy_index_params p;
    /* a flush every few dozen documents, tiers of 3 */
    qy_index_stats st = make_corpus_index(&r, 1500, "t", 64 << 10, 3, &p);
    qy_index *ix;
    assert_int_equal(st.docs, 1500);
    if (st.segments >= 12) fail_msg("%u segments: tiers of 3 should keep fewer", st.segments);
    check_queries(4, 60);

    /* a damaged segment is refused with a clear message */
    char path[256];
    qy_seg_path(tmpdir, 1, path, sizeof path);
    for (uint64_t n = 1; n < 400 && access(path, F_OK) != 0; n++) qy_seg_path(tmpdir, n, path, sizeof path);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 40, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 40, SEEK_SET);
    fputc(ch ^ 0x55, f);
    fclose(f);
    assert_int_equal(qy_index_open(tmpdir, &ix), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "checksum mismatch"));
    rm_index();
}

static void test_errors_and_alloc_failures(void **state) {
    qy_index *ix;
    assert_int_equal(qy_index_open("/nonexistent/quarry-index", &ix), QY_ERR_NOT_FOUND);
    assert_non_null(strstr(qy_errmsg(), "no index"));
    qy_index_params p;
    qy_index_params_default(&p);
    p.analyzer = "stem=klingon";
    qy_index_writer *w;
    assert_int_equal(qy_index_writer_open(tmpdir, &p, QY_INDEX_CREATE, &w), QY_ERR_ARG);
    rm_index();

    /* a small index, then searches with every allocation failing in turn */
    qy_index_params_default(&p);
    p.threads = 1;
    assert_int_equal(qy_index_writer_open(tmpdir, &p, QY_INDEX_CREATE, &w), QY_OK);
    assert_int_equal(qy_index_writer_add(w, "a", "Heat transfer", "boundary layer heating at high speed"),
                     QY_OK);
    assert_int_equal(qy_index_writer_add(w, "b", "", "laminar boundary layers and transition"), QY_OK);
    assert_int_equal(qy_index_writer_commit(w), QY_OK);
    qy_index_writer_close(w);
    /* a second writer is refused while one holds the lock */
    qy_index_writer *w1, *w2;
    assert_int_equal(qy_index_writer_open(tmpdir, &p, QY_INDEX_OPEN, &w1), QY_OK);
    assert_int_equal(qy_index_writer_open(tmpdir, &p, QY_INDEX_OPEN, &w2), QY_ERR_IO);
    assert_non_null(strstr(qy_errmsg(), "locked"));
    qy_index_writer_close(w1);

    qy_alloc_stats s0, s1;
    qy_alloc_get_stats(&s0);
    int ok = 0;
    for (long k = 0; k < 200 && !ok; k++) {
        qy_alloc_fail_after(k, 0);
        qy_index *x = NULL;
        qy_searcher *s = NULL;
        int st = qy_index_open(tmpdir, &x);
        if (!st) st = qy_searcher_new(x, &s);
        qy_hit hits[10];
        size_t n = 0;
        qy_search_params sp;
        qy_search_params_default(&sp);
        if (!st) st = qy_searcher_search(s, "boundary layers", &sp, hits, &n, NULL);
        qy_alloc_fail_after(-1, 0);
        if (!st) {
            assert_int_equal(n, 2);
            ok = 1;
        } else {
            assert_true(st == QY_ERR_NOMEM || st == QY_ERR_IO || st == QY_ERR_FORMAT);
        }
        qy_searcher_free(s);
        qy_index_close(x);
    }
    assert_true(ok);
    qy_alloc_get_stats(&s1);
    assert_int_equal(s0.live_blocks, s1.live_blocks);
    rm_index();

    /* building with every allocation failing in turn: a clean error, no leak,
     * and whatever was committed opens */
    qy_alloc_get_stats(&s0);
    ok = 0;
    for (long k = 0; k < 100000 && !ok; k += 1 + k / 6) {
        rm_index();
        qy_index_params_default(&p);
        p.threads = 1;
        qy_alloc_fail_after(k, 0);
        qy_index_writer *wf = NULL;
        int st = qy_index_writer_open(tmpdir, &p, QY_INDEX_CREATE, &wf);
        if (!st) st = qy_index_writer_add(wf, "a", "Heat", "boundary layer heating");
        if (!st) st = qy_index_writer_add(wf, "b", "", "laminar boundary layers");
        if (!st) st = qy_index_writer_commit(wf);
        if (!st) st = qy_index_writer_delete(wf, "a");
        if (!st) st = qy_index_writer_commit(wf);
        if (!st) st = qy_index_writer_merge(wf, 1);
        long injected = qy_alloc_injected_failures();
        qy_alloc_fail_after(-1, 0);
        qy_index_writer_close(wf);
        if (st) assert_true(st == QY_ERR_NOMEM || st == QY_ERR_IO || st == QY_ERR_FORMAT);
        if (injected == 0) { /* past the last allocation: the whole job ran */
            assert_int_equal(st, QY_OK);
            ok = 1;
        }
        qy_index *x;
        if (qy_index_open(tmpdir, &x) == QY_OK) qy_index_close(x);
    }
    assert_true(ok);
    qy_alloc_get_stats(&s1);
    assert_int_equal(s0.live_blocks, s1.live_blocks);
    rm_index();
}

static int setup(void **state) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/quarry-test-index-%d", (int)getpid());
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_search_matches_oracle, setup),
        cmocka_unit_test_setup(test_tiered_merges_and_corruption, setup),
        cmocka_unit_test_setup(test_errors_and_alloc_failures, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
