/* bench_index.c — indexing and search speed of quarry's BM25 index on a
 * generated corpus, and the memory it takes against its budget.
 *
 * The corpus: N documents whose lengths are log-normal (median 48 tokens,
 * sigma 0.7, at most 2,000: about the shape of MS MARCO passages) over a
 * Zipfian vocabulary (exponent 1.07, 200,000 words). Queries: 2 to 5 words
 * drawn from the same Zipf law. Reported: indexing docs/s (threaded analysis,
 * document store included), index size, peak resident memory against the
 * budget, single-thread latency (mean, p50, p99) for top-10 and top-1000 with
 * block-max MaxScore and exhaustively, documents scored per query, and QPS on
 * all threads.
 *
 *   bench_index [--docs N] [--memory MB] [--threads T] [--queries Q] [--dir PATH] [--keep]
 *   bench_index --docs N --queries Q --write-beir DIR   # only write the corpus and queries as
 *                                                       # BEIR JSONL, for peers (bench/lexical_compare.sh)
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "quarry/base.h"
#include "quarry/index.h"

#define VOCAB 200000
#define MAXLEN 2000

static double *zipf_cdf;

static void zipf_init(double s) {
    zipf_cdf = malloc(sizeof *zipf_cdf * VOCAB);
    double acc = 0;
    for (int i = 0; i < VOCAB; i++) zipf_cdf[i] = acc += 1.0 / pow(i + 1, s);
    for (int i = 0; i < VOCAB; i++) zipf_cdf[i] /= acc;
}

static int zipf(qy_rng *r) {
    double u = qy_rng_double(r);
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (zipf_cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* a word for rank w: letters only, so the analyzer keeps it whole */
static int word(int w, char *out) {
    static const char *syl[] = {"ka", "lo", "mi", "ne", "su", "ta", "ri", "po",
                                "ve", "du", "ga", "ho", "ji", "be", "zo", "fa"};
    int n = 0;
    out[n++] = 'q';
    do {
        const char *s = syl[w & 15];
        out[n++] = s[0];
        out[n++] = s[1];
        w >>= 4;
    } while (w);
    out[n] = '\0';
    return n;
}

static char *make_doc(qy_rng *r, size_t *cap, char *buf) {
    double z = qy_rng_normal(r);
    int len = (int)(48.0 * exp(0.7 * z));
    if (len < 1) len = 1;
    if (len > MAXLEN) len = MAXLEN;
    size_t need = (size_t)len * 12 + 1;
    if (need > *cap) {
        buf = realloc(buf, need);
        *cap = need;
    }
    size_t o = 0;
    for (int i = 0; i < len; i++) {
        if (i) buf[o++] = ' ';
        o += (size_t)word(zipf(r), buf + o);
    }
    buf[o] = '\0';
    return buf;
}

static long peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct qps_ctx {
    qy_searcher **s;
    char **queries;
    size_t nq;
    qy_search_params p;
} qps_ctx;

static void qps_range(void *vctx, size_t b, size_t e, int tid) {
    qps_ctx *c = vctx;
    qy_hit *hits = malloc(sizeof *hits * (size_t)c->p.k);
    for (size_t i = b; i < e; i++) {
        size_t n;
        qy_searcher_search(c->s[tid], c->queries[i % c->nq], &c->p, hits, &n, NULL);
    }
    free(hits);
}

static void latency(qy_searcher *s, char **queries, size_t nq, int k, int exhaustive, FILE *json,
                    const char *name) {
    qy_search_params p;
    qy_search_params_default(&p);
    p.k = k;
    p.exhaustive = exhaustive;
    qy_hit *hits = malloc(sizeof *hits * (size_t)k);
    double *ms = malloc(sizeof *ms * nq);
    uint64_t scored_total = 0;
    size_t warm = nq < 50 ? nq : 50;
    for (size_t i = 0; i < warm; i++) {
        size_t n;
        qy_searcher_search(s, queries[i], &p, hits, &n, NULL);
    }
    double sum = 0;
    for (size_t i = 0; i < nq; i++) {
        size_t n;
        uint64_t sc;
        uint64_t t0 = qy_now_ns();
        qy_searcher_search(s, queries[i], &p, hits, &n, &sc);
        ms[i] = qy_seconds_since(t0) * 1e3;
        sum += ms[i];
        scored_total += sc;
    }
    qsort(ms, nq, sizeof *ms, cmp_double);
    double mean = sum / (double)nq, p50 = ms[nq / 2], p99 = ms[(size_t)((double)nq * 0.99)];
    printf("| %-28s | %8.3f | %8.3f | %8.3f | %12.0f |\n", name, mean, p50, p99,
           (double)scored_total / (double)nq);
    fprintf(json,
            "  \"%s\": {\"mean_ms\": %.4f, \"p50_ms\": %.4f, \"p99_ms\": %.4f, \"docs_scored\": %.1f},\n",
            name, mean, p50, p99, (double)scored_total / (double)nq);
    free(hits);
    free(ms);
}

/* the same documents and queries as the benchmark, as BEIR JSONL (plain
 * ASCII words: no escaping needed) */
static int write_beir(const char *dir, qy_rng *r, long ndocs, long nqueries) {
    if (qy_mkdir_p(dir)) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/corpus.jsonl", dir);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    char *buf = NULL;
    size_t cap = 0;
    for (long i = 0; i < ndocs; i++) {
        buf = make_doc(r, &cap, buf);
        fprintf(f, "{\"_id\": \"doc%ld\", \"title\": \"\", \"text\": \"%s\"}\n", i, buf);
    }
    free(buf);
    fclose(f);
    snprintf(path, sizeof path, "%s/queries.jsonl", dir);
    f = fopen(path, "w");
    if (!f) return 1;
    qy_rng rq;
    qy_rng_seed(&rq, 77);
    for (long i = 0; i < nqueries; i++) {
        int n = 2 + (int)qy_rng_below(&rq, 4);
        fprintf(f, "{\"_id\": \"q%ld\", \"text\": \"", i);
        for (int j = 0; j < n; j++) {
            char w[24];
            word(zipf(&rq), w);
            fprintf(f, "%s%s", j ? " " : "", w);
        }
        fprintf(f, "\"}\n");
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/qrels.tsv", dir); /* the peers' harness wants one */
    f = fopen(path, "w");
    if (!f) return 1;
    fprintf(f, "query-id\tcorpus-id\tscore\nq0\tdoc0\t1\n");
    fclose(f);
    return 0;
}

int main(int argc, char **argv) {
    long ndocs = 100000, memory_mb = 256, threads = 0, nqueries = 1000;
    const char *dir = "/tmp/quarry-bench-index", *beir = NULL;
    int keep = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--docs") && i + 1 < argc)
            ndocs = atol(argv[++i]);
        else if (!strcmp(argv[i], "--memory") && i + 1 < argc)
            memory_mb = atol(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atol(argv[++i]);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc)
            nqueries = atol(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else if (!strcmp(argv[i], "--write-beir") && i + 1 < argc)
            beir = argv[++i];
        else {
            fprintf(stderr, "usage: bench_index [--docs N] [--memory MB] [--threads T] [--queries Q] [--dir "
                            "PATH] [--keep]\n");
            return 2;
        }
    }
    if (ndocs < 1 || memory_mb < 1 || nqueries < 1) return 2;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    zipf_init(1.07);
    qy_rng r;
    qy_rng_seed(&r, 2024);
    if (beir) return write_beir(beir, &r, ndocs, nqueries);

    /* ---- indexing */
    qy_index_params ip;
    qy_index_params_default(&ip);
    ip.memory_budget = (size_t)memory_mb << 20;
    ip.threads = (int)threads;
    qy_index_writer *w;
    if (qy_index_writer_open(dir, &ip, QY_INDEX_CREATE, &w)) {
        fprintf(stderr, "bench_index: %s\n", qy_errmsg());
        return 1;
    }
    long rss_before = peak_rss_kb();
    qy_alloc_reset_peak();
    char *buf = NULL;
    size_t cap = 0;
    uint64_t bytes = 0;
    uint64_t t0 = qy_now_ns();
    for (long i = 0; i < ndocs; i++) {
        char id[24];
        snprintf(id, sizeof id, "doc%ld", i);
        buf = make_doc(&r, &cap, buf);
        bytes += strlen(buf);
        if (qy_index_writer_add(w, id, "", buf)) {
            fprintf(stderr, "bench_index: %s\n", qy_errmsg());
            return 1;
        }
        if ((i + 1) % 100000 == 0)
            fprintf(stderr, "  %ld docs, %.0f docs/s, peak RSS %.0f MB\n", i + 1,
                    (double)(i + 1) / qy_seconds_since(t0), (double)peak_rss_kb() / 1024);
    }
    if (qy_index_writer_commit(w)) {
        fprintf(stderr, "bench_index: %s\n", qy_errmsg());
        return 1;
    }
    double index_s = qy_seconds_since(t0);
    qy_index_writer_counts counts;
    qy_index_writer_get_counts(w, &counts);
    qy_index_writer_close(w);
    long rss_index = peak_rss_kb();
    qy_alloc_stats heap;
    qy_alloc_get_stats(&heap);
    free(buf);

    qy_index *ix;
    if (qy_index_open(dir, &ix)) {
        fprintf(stderr, "bench_index: %s\n", qy_errmsg());
        return 1;
    }
    qy_index_stats st;
    qy_index_get_stats(ix, &st);
    snprintf(cmd, sizeof cmd, "du -sb '%s' | cut -f1", dir);
    FILE *du = popen(cmd, "r");
    unsigned long long dir_bytes = 0;
    if (du) {
        if (fscanf(du, "%llu", &dir_bytes) != 1) dir_bytes = 0;
        pclose(du);
    }

    /* ---- queries */
    char **queries = malloc(sizeof *queries * (size_t)nqueries);
    qy_rng rq;
    qy_rng_seed(&rq, 77);
    for (long i = 0; i < nqueries; i++) {
        int n = 2 + (int)qy_rng_below(&rq, 4);
        queries[i] = malloc((size_t)n * 12 + 1);
        size_t o = 0;
        for (int j = 0; j < n; j++) {
            if (j) queries[i][o++] = ' ';
            o += (size_t)word(zipf(&rq), queries[i] + o);
        }
        queries[i][o] = '\0';
    }
    qy_pool *pool;
    qy_pool_new((int)threads, &pool);
    int nt = qy_pool_threads(pool);
    qy_searcher **s = calloc((size_t)nt, sizeof *s);
    for (int t = 0; t < nt; t++) qy_searcher_new(ix, &s[t]);

    FILE *json = fopen("bench_index.json", "w");
    if (!json) json = stderr;
    fprintf(json, "{\n  \"docs\": %ld, \"text_mb\": %.1f, \"memory_budget_mb\": %ld, \"threads\": %d,\n",
            ndocs, (double)bytes / 1e6, memory_mb, nt);
    printf("corpus: %ld generated documents, %.1f MB of text, %" PRIu64
           " tokens (avgdl %.1f), Zipf(1.07) over %d words\n",
           ndocs, (double)bytes / 1e6, st.tokens, st.avgdl, VOCAB);
    printf("indexing: %.1f s, %.0f docs/s, %.1f MB/s on %d threads; %" PRIu64 " flushes, %" PRIu64
           " merges, %u segments\n",
           index_s, (double)ndocs / index_s, (double)bytes / 1e6 / index_s, nt, counts.flushes, counts.merges,
           st.segments);
    printf("size: %.1f MB of postings (segments), %.1f MB in all with the document store\n",
           (double)st.bytes / 1e6, (double)dir_bytes / 1e6);
    printf("memory: budget %ld MB; largest indexing buffer %.1f MB; peak heap (quarry's allocator) %.1f MB;\n"
           "        peak RSS %.1f MB (%.1f MB before indexing; RSS also counts mapped segment pages and "
           "SQLite's cache)\n",
           memory_mb, (double)counts.peak_buffer_bytes / 1048576.0, (double)heap.peak_bytes / 1048576.0,
           (double)rss_index / 1024, (double)rss_before / 1024);
    fprintf(json,
            "  \"index_s\": %.2f, \"docs_per_s\": %.0f, \"segments\": %u, \"segment_bytes\": %" PRIu64
            ", \"dir_bytes\": %llu,\n  \"peak_buffer_mb\": %.1f, \"peak_heap_mb\": %.1f, \"peak_rss_mb\": "
            "%.1f,\n",
            index_s, (double)ndocs / index_s, st.segments, st.bytes, dir_bytes,
            (double)counts.peak_buffer_bytes / 1048576.0, (double)heap.peak_bytes / 1048576.0,
            (double)rss_index / 1024);

    printf("\nsingle-thread latency over %ld queries of 2-5 words (ms):\n\n", nqueries);
    printf("| %-28s | %8s | %8s | %8s | %12s |\n", "search", "mean", "p50", "p99", "docs scored");
    printf("|------------------------------|---------:|---------:|---------:|-------------:|\n");
    latency(s[0], queries, (size_t)nqueries, 10, 0, json, "top-10 block-max MaxScore");
    latency(s[0], queries, (size_t)nqueries, 10, 1, json, "top-10 exhaustive");
    latency(s[0], queries, (size_t)nqueries, 1000, 0, json, "top-1000 block-max MaxScore");
    latency(s[0], queries, (size_t)nqueries, 1000, 1, json, "top-1000 exhaustive");

    qps_ctx qc = {s, queries, (size_t)nqueries, {0}};
    qy_search_params_default(&qc.p);
    size_t total = (size_t)nqueries * 4;
    uint64_t tq = qy_now_ns();
    qy_pool_for(pool, total, 8, qps_range, &qc);
    double qs = qy_seconds_since(tq);
    printf("\nthroughput: %.0f queries/s (top 10) on %d threads\n", (double)total / qs, nt);
    fprintf(json, "  \"qps_top10\": %.0f\n}\n", (double)total / qs);
    if (json != stderr) fclose(json);

    for (int t = 0; t < nt; t++) qy_searcher_free(s[t]);
    free(s);
    qy_pool_free(pool);
    qy_index_close(ix);
    for (long i = 0; i < nqueries; i++) free(queries[i]);
    free(queries);
    free(zipf_cdf);
    if (!keep) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) return 1;
    }
    return 0;
}
