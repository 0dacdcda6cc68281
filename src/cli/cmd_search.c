/* cmd_search.c — `quarry search`: BM25 search of one query or a query file. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "index/corpus.h"
#include "quarry/index.h"

typedef struct query {
    char *id, *text;
} query;

typedef struct batch_ctx {
    qy_index *ix;
    const qy_search_params *p;
    query *q;
    qy_hit *hits;    /* nq * k */
    size_t *nhits;   /* nq */
    qy_searcher **s; /* per thread */
    uint64_t scored;
    _Atomic int status;
    char errmsg[512];
    _Atomic uint64_t done;
} batch_ctx;

static void search_range(void *vctx, size_t b, size_t e, int tid) {
    batch_ctx *c = vctx;
    uint64_t sc = 0;
    for (size_t i = b; i < e; i++) {
        if (atomic_load(&c->status)) return;
        uint64_t n;
        int st = qy_searcher_search(c->s[tid], c->q[i].text, c->p, c->hits + i * (size_t)c->p->k,
                                    &c->nhits[i], &n);
        if (st) {
            int zero = 0;
            if (atomic_compare_exchange_strong(&c->status, &zero, st))
                snprintf(c->errmsg, sizeof c->errmsg, "query %s: %s", c->q[i].id, qy_errmsg());
            return;
        }
        sc += n;
        atomic_fetch_add(&c->done, 1);
    }
    (void)sc;
}

static void free_queries(query *q, size_t n) {
    for (size_t i = 0; i < n; i++) {
        qy_free(q[i].id);
        qy_free(q[i].text);
    }
    qy_free(q);
}

static int read_queries(const char *path, const char *format, query **out, size_t *n) {
    *out = NULL;
    *n = 0;
    qy_corpus *c;
    int st = qy_corpus_open(path, format, &c);
    if (st) return st;
    query *q = NULL;
    size_t cap = 0, k = 0;
    for (;;) {
        qy_corpus_doc d;
        int eof;
        if ((st = qy_corpus_next(c, &d, &eof)) || eof) break;
        if (k == cap) {
            cap = cap ? cap * 2 : 256;
            query *nq = qy_reallocn(q, cap, sizeof *nq);
            if (!nq) {
                st = QY_ERR_NOMEM;
                break;
            }
            q = nq;
        }
        q[k].id = qy_strdup(d.id);
        /* a title (TSV id<TAB>title<TAB>text) is part of the query */
        size_t tl = strlen(d.title), xl = strlen(d.text);
        q[k].text = qy_malloc(tl + xl + 2);
        if (!q[k].id || !q[k].text) {
            qy_free(q[k].id);
            qy_free(q[k].text);
            st = QY_ERR_NOMEM;
            break;
        }
        memcpy(q[k].text, d.title, tl);
        q[k].text[tl] = ' ';
        memcpy(q[k].text + tl + 1, d.text, xl + 1);
        k++;
    }
    qy_corpus_close(c);
    if (st) {
        free_queries(q, k);
        return st;
    }
    *out = q;
    *n = k;
    return QY_OK;
}

static void json_escape_id(FILE *out, const char *s, size_t len) {
    char *tmp = qy_strndup(s, len);
    cJSON *j = tmp ? cJSON_CreateString(tmp) : NULL;
    char *t = j ? qy_json_print(j, 0) : NULL;
    fputs(t ? t : "\"\"", out);
    qy_free(t);
    cJSON_Delete(j);
    qy_free(tmp);
}

static int write_json(FILE *out, qy_index *ix, qy_searcher *s, const query *q, size_t nq, const qy_hit *hits,
                      const size_t *nhits, int k, int snippets) {
    fputs("[\n", out);
    for (size_t i = 0; i < nq; i++) {
        fprintf(out, "  {\"query_id\": ");
        json_escape_id(out, q[i].id, strlen(q[i].id));
        fprintf(out, ", \"query\": ");
        json_escape_id(out, q[i].text, strlen(q[i].text));
        fprintf(out, ", \"hits\": [");
        for (size_t r = 0; r < nhits[i]; r++) {
            const qy_hit *h = &hits[i * (size_t)k + r];
            size_t len;
            const char *id = qy_index_doc_id(ix, h, &len);
            cJSON *o = cJSON_CreateObject();
            char *idz = qy_strndup(id, len);
            cJSON_AddNumberToObject(o, "rank", (double)(r + 1));
            cJSON_AddStringToObject(o, "docid", idz ? idz : "");
            cJSON_AddNumberToObject(o, "score", h->score);
            qy_free(idz);
            char *title = NULL, *text = NULL;
            if (qy_index_doc_text(ix, h, &title, snippets ? &text : NULL) == QY_OK) {
                cJSON_AddStringToObject(o, "title", title ? title : "");
                char *snip = NULL;
                if (text && qy_searcher_snippet(s, q[i].text, text, 240, &snip) == QY_OK)
                    cJSON_AddStringToObject(o, "snippet", snip);
                qy_free(snip);
            }
            qy_free(title);
            qy_free(text);
            char *t = qy_json_print(o, 0);
            fprintf(out, "%s\n    %s", r ? "," : "", t ? t : "{}");
            qy_free(t);
            cJSON_Delete(o);
        }
        fprintf(out, "]}%s\n", i + 1 < nq ? "," : "");
    }
    fputs("]\n", out);
    return ferror(out) ? qy_error(QY_ERR_IO, "write failed") : QY_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* single-thread latency of every query, `rounds` times, at depth k */
static int bench_latency(qy_searcher *s, const query *q, size_t nq, qy_search_params p, int k, long rounds,
                         cJSON *out, const char *key) {
    p.k = k;
    size_t n = nq * (size_t)rounds;
    double *ms = qy_mallocn(n ? n : 1, sizeof *ms);
    qy_hit *hits = qy_mallocn((size_t)k, sizeof *hits);
    int st = (!ms || !hits) ? QY_ERR_NOMEM : QY_OK;
    double sum = 0;
    for (size_t i = 0; i < n && !st; i++) {
        size_t nh;
        uint64_t t0 = qy_now_ns();
        st = qy_searcher_search(s, q[i % nq].text, &p, hits, &nh, NULL);
        ms[i] = qy_seconds_since(t0) * 1e3;
        sum += ms[i];
    }
    if (!st && n) {
        qsort(ms, n, sizeof *ms, cmp_double);
        cJSON *o = cJSON_AddObjectToObject(out, key);
        cJSON_AddNumberToObject(o, "mean", sum / (double)n);
        cJSON_AddNumberToObject(o, "p50", ms[n / 2]);
        cJSON_AddNumberToObject(o, "p99", ms[(size_t)((double)n * 0.99)]);
        cJSON_AddNumberToObject(o, "n", (double)n);
    }
    qy_free(ms);
    qy_free(hits);
    return st;
}

/* --bench-json: warm-up, latency at top 10 and top 1000 on one thread, QPS
 * (top 10) on all threads, in the keys bench/lexical_compare.sh reads */
static int run_bench(const char *path, batch_ctx *bc, qy_pool *pool, int nthreads, const query *q, size_t nq,
                     qy_search_params p, long rounds, double seconds) {
    if (nq == 0) return qy_error(QY_ERR_ARG, "--bench-json needs queries");
    p.k = 10;
    qy_hit hits[10];
    int st = QY_OK;
    uint64_t t0 = qy_now_ns();
    for (size_t i = 0; !st && qy_seconds_since(t0) < seconds; i++) {
        size_t nh;
        st = qy_searcher_search(bc->s[0], q[i % nq].text, &p, hits, &nh, NULL);
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) return QY_ERR_NOMEM;
    if (!st) st = bench_latency(bc->s[0], q, nq, p, 10, rounds, o, "latency_top10_ms");
    if (!st) st = bench_latency(bc->s[0], q, nq, p, 1000, rounds, o, "latency_top1000_ms");
    /* QPS: whole passes over the queries on every thread until the time is up */
    qy_search_params pq = p;
    bc->p = &pq;
    atomic_store(&bc->done, 0);
    uint64_t t1 = qy_now_ns();
    while (!st && qy_seconds_since(t1) < seconds) {
        qy_pool_for(pool, nq, 1, search_range, bc);
        st = atomic_load(&bc->status);
    }
    double el = qy_seconds_since(t1);
    if (!st) {
        cJSON_AddNumberToObject(o, "qps_top10", (double)atomic_load(&bc->done) / el);
        cJSON_AddNumberToObject(o, "qps_threads", nthreads);
        st = qy_json_write_file(path, o);
    }
    cJSON_Delete(o);
    return st;
}

static int run(int argc, char **argv) {
    const char *run_file = NULL, *bench_json = NULL;
    long bench_rounds = 5;
    double bench_seconds = 5;
    const char *dir = NULL, *queries = NULL, *format = NULL, *output = NULL, *tag = "quarry",
               *qformat = "auto";
    long k = -1;
    double k1 = NAN, b = NAN; /* default: the index's */
    int conj = 0, exhaustive = 0, exact = 0, snippets = 0;
    qy_opt opts[] = {
        {"index", 'i', QY_OPT_STRING, "DIR", "index directory (required)", &dir},
        {"queries", 'Q', QY_OPT_STRING, "FILE",
         "query file: BEIR queries.jsonl ({_id,text}) or TSV (id<TAB>text)", &queries},
        {"query-format", 0, QY_OPT_STRING, "FMT", "auto (default), beir, jsonl or tsv", &qformat},
        {"k", 'k', QY_OPT_INT, "N", "hits per query (default 10; 1000 for query files)", &k},
        {"k1", 0, QY_OPT_DOUBLE, "X", "BM25 k1 (default: the index's, normally 0.9)", &k1},
        {"b", 0, QY_OPT_DOUBLE, "X", "BM25 b (default: the index's, normally 0.4)", &b},
        {"and", 0, QY_OPT_FLAG, NULL, "conjunctive: every query term must match", &conj},
        {"exhaustive", 0, QY_OPT_FLAG, NULL, "score every match (no dynamic pruning; same results, slower)",
         &exhaustive},
        {"exact-lengths", 0, QY_OPT_FLAG, NULL,
         "exact document lengths instead of Lucene's one-byte encoding", &exact},
        {"format", 'f', QY_OPT_STRING, "FMT",
         "trec (default for query files), text (default for one query) or json", &format},
        {"snippets", 0, QY_OPT_FLAG, NULL, "with json: add a text snippet around the first query term",
         &snippets},
        {"run-tag", 0, QY_OPT_STRING, "TAG", "run tag in TREC output (default quarry)", &tag},
        {"output", 'o', QY_OPT_STRING, "FILE", "write results to FILE instead of stdout", &output},
        {"run", 0, QY_OPT_STRING, "FILE", "the same as --output", &run_file},
        {"bench-json", 0, QY_OPT_STRING, "FILE",
         "then time the queries: warm-up, single-thread latency at top 10 and top 1000 (mean/p50/p99), QPS "
         "on all threads; write JSON",
         &bench_json},
        {"bench-rounds", 0, QY_OPT_INT, "N", "latency rounds over the query set (default 5)", &bench_rounds},
        {"bench-seconds", 0, QY_OPT_DOUBLE, "S", "warm-up and QPS duration each (default 5)", &bench_seconds},
        {NULL, 0, 0, NULL, NULL, NULL}};
    qy_cli_spec spec = {
        .usage =
            "quarry search -i DIR [options] QUERY...   |   quarry search -i DIR --queries FILE [options]",
        .description = "BM25 search (Lucene 8 BM25Similarity, k1=0.9 b=0.4 by default) with dynamic\n"
                       "pruning (block-max MaxScore, identical to exhaustive scoring). A query file is\n"
                       "searched on all threads and written as a TREC run (qid Q0 docid rank score tag).",
        .opts = opts,
        .min_pos = 0,
        .max_pos = -1,
        .examples = "  quarry search -i cran.idx \"what similarity laws must be obeyed\"\n"
                    "  quarry search -i cran.idx -Q data/cranfield/queries.jsonl -k 1000 -o run.txt\n"
                    "  quarry search -i cran.idx --json --snippets \"boundary layer transition\"\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    if (run_file && !output) output = run_file;
    if (!dir || (!queries && npos == 0) || (queries && npos > 0)) {
        fprintf(stderr, "quarry search: give --index DIR and either QUERY text or --queries FILE\n");
        return 2;
    }
    if (!format) format = c.json ? "json" : queries ? "trec" : "text";
    if (strcmp(format, "trec") && strcmp(format, "json") && strcmp(format, "text")) {
        fprintf(stderr, "quarry search: --format %s: expected trec, json or text\n", format);
        return 2;
    }
    if (k == -1) k = queries ? 1000 : 10;
    if (k < 1 || k > 1000000) {
        fprintf(stderr, "quarry search: -k must be in 1..1000000\n");
        return 2;
    }
    qy_search_params sp;
    qy_search_params_default(&sp);
    sp.k = (int)k;
    sp.conjunctive = conj;
    sp.exhaustive = exhaustive;
    sp.exact_lengths = exact;

    query *q = NULL;
    size_t nq = 0;
    int st = QY_OK;
    if (queries) {
        st = read_queries(queries, qformat, &q, &nq);
    } else {
        /* the positional words form one query */
        size_t len = 0;
        for (int i = 0; i < npos; i++) len += strlen(pos[i]) + 1;
        q = qy_calloc(1, sizeof *q);
        if (q) {
            q->id = qy_strdup("1");
            q->text = qy_malloc(len + 1);
        }
        if (!q || !q->id || !q->text)
            st = QY_ERR_NOMEM;
        else {
            q->text[0] = '\0';
            for (int i = 0; i < npos; i++) {
                if (i) strcat(q->text, " ");
                strcat(q->text, pos[i]);
            }
            nq = 1;
        }
    }
    if (st) {
        if (q) free_queries(q, nq ? nq : (q->id || q->text ? 1 : 0));
        return qy_cli_fail(st);
    }
    qy_index *ix = NULL;
    qy_pool *pool = NULL;
    batch_ctx bc;
    memset(&bc, 0, sizeof bc);
    st = qy_index_open(dir, &ix);
    if (!st) {
        qy_search_params_for_index(ix, &sp);
        sp.k = (int)k;
        sp.conjunctive = conj;
        sp.exhaustive = exhaustive;
        sp.exact_lengths = exact;
        if (!isnan(k1)) sp.k1 = (float)k1;
        if (!isnan(b)) sp.b = (float)b;
    }
    int nthreads = 0;
    if (!st) st = qy_pool_new(nq > 1 ? c.threads : 1, &pool);
    if (!st) {
        nthreads = qy_pool_threads(pool);
        bc.s = qy_calloc((size_t)nthreads, sizeof *bc.s);
        bc.hits = qy_mallocn(nq * (size_t)k, sizeof *bc.hits);
        bc.nhits = qy_calloc(nq ? nq : 1, sizeof *bc.nhits);
        if (!bc.s || !bc.hits || !bc.nhits) st = QY_ERR_NOMEM;
    }
    for (int t = 0; t < nthreads && !st; t++) st = qy_searcher_new(ix, &bc.s[t]);
    double secs = 0;
    if (!st) {
        bc.ix = ix;
        bc.p = &sp;
        bc.q = q;
        uint64_t t0 = qy_now_ns();
        qy_pool_for(pool, nq, 1, search_range, &bc);
        secs = qy_seconds_since(t0);
        st = atomic_load(&bc.status);
        if (st) qy_error(st, "%s", bc.errmsg);
    }
    FILE *out = stdout;
    if (!st && output && !(out = fopen(output, "w"))) {
        out = stdout;
        st = qy_error(QY_ERR_IO, "%s: cannot create", output);
    }
    if (!st) {
        if (!strcmp(format, "json")) {
            st = write_json(out, ix, bc.s[0], q, nq, bc.hits, bc.nhits, (int)k, snippets);
        } else {
            for (size_t i = 0; i < nq; i++) {
                for (size_t r = 0; r < bc.nhits[i]; r++) {
                    const qy_hit *h = &bc.hits[i * (size_t)k + r];
                    size_t len;
                    const char *id = qy_index_doc_id(ix, h, &len);
                    if (!strcmp(format, "trec")) {
                        fprintf(out, "%s Q0 %.*s %zu %.6f %s\n", q[i].id, (int)len, id, r + 1, h->score, tag);
                    } else {
                        char *title = NULL;
                        qy_index_doc_text(ix, h, &title, NULL);
                        for (char *t = title; t && *t; t++)
                            if (*t == '\n' || *t == '\r' || *t == '\t') *t = ' ';
                        fprintf(out, "%3zu  %-12.*s %9.4f  %.90s\n", r + 1, (int)len, id, h->score,
                                title ? title : "");
                        qy_free(title);
                    }
                }
            }
        }
        if (ferror(out)) st = qy_error(QY_ERR_IO, "%s: write failed", output ? output : "stdout");
    }
    if (out != stdout) fclose(out);
    if (!st && bench_json) {
        if (bench_rounds < 1 || !(bench_seconds > 0))
            st = qy_error(QY_ERR_ARG, "--bench-rounds and --bench-seconds must be positive");
        else {
            /* hits buffers sized for top 1000 */
            if (k < 1000) {
                qy_free(bc.hits);
                bc.hits = qy_mallocn(nq * 1000, sizeof *bc.hits);
                if (!bc.hits) st = QY_ERR_NOMEM;
            }
            if (!st) st = run_bench(bench_json, &bc, pool, nthreads, q, nq, sp, bench_rounds, bench_seconds);
            if (!st && !c.quiet) fprintf(stderr, "timings written to %s\n", bench_json);
        }
    }
    if (!st && !c.quiet && (queries || c.verbose))
        fprintf(stderr, "searched %zu queries in %.3f s (%.0f queries/s, %d threads, top %ld, %s)\n", nq,
                secs, secs > 0 ? (double)nq / secs : 0, nthreads, k,
                exhaustive ? "exhaustive"
                : conj     ? "conjunctive"
                           : "block-max MaxScore");
    for (int t = 0; t < nthreads && bc.s; t++) qy_searcher_free(bc.s[t]);
    qy_free(bc.s);
    qy_free(bc.hits);
    qy_free(bc.nhits);
    qy_pool_free(pool);
    qy_index_close(ix);
    free_queries(q, nq);
    return st ? qy_cli_fail(st) : 0;
}

const qy_command qy_command_search = {"search", "BM25 search of one query or a query file (TREC run, JSON)",
                                      run};
