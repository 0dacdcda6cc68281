/* fts5_bench.c — the SQLite FTS5 peer of quarry's lexical search benchmark
 * (bench/lexical_compare.sh). Same inputs, outputs and timings as
 * bench/lucene/LuceneBench.java: indexes a JSONL corpus (BEIR {_id,title,text}
 * or Pyserini {id,contents}; text = title + " " + text) into an FTS5 table with
 * the 'porter unicode61' tokenizer, one transaction; searches with
 * ORDER BY bm25() (FTS5's BM25: k1 = 1.2 and b = 0.75 are fixed by SQLite), the
 * query being an OR of its words (lowercased [a-z0-9] runs minus Lucene's 33
 * English stopwords, each repeat kept so that it counts again, like a boost);
 * writes a TREC run (score = -bm25()), and times indexing, single-thread
 * latency for top-10 and top-DEPTH after a warm-up, and QPS on N threads (one
 * connection per thread). Prints one JSON object on stdout.
 *
 * Build: cc -O2 -std=c11 fts5_bench.c -o fts5_bench -lsqlite3 -lcjson -lpthread
 * Run:   fts5_bench --corpus corpus.jsonl --queries queries.jsonl --index FILE.db --run fts5.run
 *          [--depth 1000 --warmup-s 10 --rounds 5 --qps-threads 2 --qps-s 10]
 */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <ctype.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *STOPWORDS[] = {"a",    "an",   "and",  "are",  "as",   "at",    "be",   "but",   "by",
                                  "for",  "if",   "in",   "into", "is",   "it",    "no",   "not",   "of",
                                  "on",   "or",   "such", "that", "the",  "their", "then", "there", "these",
                                  "they", "this", "to",   "was",  "will", "with",  NULL};

typedef struct record {
    char *id, *text;
} record;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, const char *detail) {
    fprintf(stderr, "fts5_bench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) die("out of memory", NULL);
    memcpy(d, s, n);
    return d;
}

static record *read_records(const char *path, int query, size_t *count) {
    FILE *f = fopen(path, "r");
    if (!f) die("cannot open", path);
    record *r = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) > 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        cJSON *o = cJSON_Parse(line);
        if (!cJSON_IsObject(o)) {
            fprintf(stderr, "%s:%zu: expected a JSON object\n", path, lineno);
            exit(1);
        }
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "_id");
        if (!cJSON_IsString(id)) id = cJSON_GetObjectItemCaseSensitive(o, "id");
        if (!cJSON_IsString(id)) {
            fprintf(stderr, "%s:%zu: expected an \"_id\" or \"id\" field\n", path, lineno);
            exit(1);
        }
        const cJSON *contents = cJSON_GetObjectItemCaseSensitive(o, "contents");
        const cJSON *title = cJSON_GetObjectItemCaseSensitive(o, "title");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
        const char *t = cJSON_IsString(text) ? text->valuestring : "";
        char *full;
        if (cJSON_IsString(contents))
            full = dup_str(contents->valuestring);
        else if (!query && cJSON_IsString(title) && title->valuestring[0]) {
            size_t len = strlen(title->valuestring) + 1 + strlen(t) + 1;
            full = malloc(len);
            if (!full) die("out of memory", NULL);
            snprintf(full, len, "%s %s", title->valuestring, t);
        } else
            full = dup_str(t);
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            r = realloc(r, cap * sizeof *r);
            if (!r) die("out of memory", NULL);
        }
        r[n].id = dup_str(id->valuestring);
        r[n].text = full;
        n++;
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    *count = n;
    return r;
}

static int is_stopword(const char *w) {
    for (int i = 0; STOPWORDS[i]; i++)
        if (!strcmp(STOPWORDS[i], w)) return 1;
    return 0;
}

/* '"w1" OR "w2" ...' from the query's lowercased [a-z0-9] runs minus stopwords */
static char *fts_query(const char *text) {
    size_t cap = strlen(text) * 6 + 16, n = 0;
    char *q = malloc(cap), word[256];
    if (!q) die("out of memory", NULL);
    q[0] = '\0';
    const char *p = text;
    while (*p) {
        while (*p && !isalnum((unsigned char)*p)) p++;
        size_t w = 0;
        while (*p && isalnum((unsigned char)*p)) {
            if (w < sizeof word - 1) word[w++] = (char)tolower((unsigned char)*p);
            p++;
        }
        word[w] = '\0';
        if (w == 0 || is_stopword(word)) continue;
        n += (size_t)snprintf(q + n, cap - n, "%s\"%s\"", n ? " OR " : "", word);
    }
    return q;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die("prepare", sqlite3_errmsg(db));
    return st;
}

#define SEARCH_SQL "SELECT id, bm25(docs) FROM docs WHERE docs MATCH ?1 ORDER BY bm25(docs) LIMIT ?2"

/* Runs one query; returns the number of rows; writes them if out != NULL. */
static int search(sqlite3_stmt *st, const char *q, int k, FILE *out, const char *qid, const char *tag) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, k);
    int rows = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        if (out)
            fprintf(out, "%s Q0 %s %d %.6f %s\n", qid, (const char *)sqlite3_column_text(st, 0), rows,
                    -sqlite3_column_double(st, 1), tag);
    }
    if (rc != SQLITE_DONE) die("search", sqlite3_errmsg(sqlite3_db_handle(st)));
    return rows;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_latency(const char *name, double *ms, size_t n) {
    qsort(ms, n, sizeof *ms, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += ms[i];
    size_t p50 = (size_t)(0.5 * (double)n), p99 = (size_t)(0.99 * (double)n);
    if (p99 >= n) p99 = n - 1;
    printf("  \"%s\": {\"mean\": %.4f, \"p50\": %.4f, \"p99\": %.4f, \"n\": %zu},\n", name, sum / (double)n,
           ms[p50], ms[p99], n);
}

typedef struct qps_ctx {
    const char *dbpath;
    char **queries;
    size_t nq, offset;
    double t0, seconds;
    long done;
} qps_ctx;

static void *qps_thread(void *arg) {
    qps_ctx *c = arg;
    sqlite3 *db;
    if (sqlite3_open_v2(c->dbpath, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        die("open", c->dbpath);
    sqlite3_stmt *st = prepare(db, SEARCH_SQL);
    size_t i = c->offset;
    while (now_s() - c->t0 < c->seconds) {
        search(st, c->queries[i], 10, NULL, NULL, NULL);
        c->done++;
        i = (i + 1) % c->nq;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

static const char *arg(int argc, char **argv, const char *name, const char *def) {
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strncmp(argv[i], "--", 2) && !strcmp(argv[i] + 2, name)) return argv[i + 1];
    if (!def) {
        fprintf(
            stderr,
            "usage: fts5_bench --corpus F --queries F --index FILE.db --run F [--depth 1000] [--warmup-s 10]"
            " [--rounds 5] [--qps-threads 2] [--qps-s 10]\n");
        exit(2);
    }
    return def;
}

int main(int argc, char **argv) {
    const char *corpus = arg(argc, argv, "corpus", NULL), *qpath = arg(argc, argv, "queries", NULL);
    const char *dbpath = arg(argc, argv, "index", NULL), *runpath = arg(argc, argv, "run", NULL);
    int depth = atoi(arg(argc, argv, "depth", "1000")), rounds = atoi(arg(argc, argv, "rounds", "5"));
    int nt = atoi(arg(argc, argv, "qps-threads", "2"));
    double warmup_s = atof(arg(argc, argv, "warmup-s", "10")), qps_s = atof(arg(argc, argv, "qps-s", "10"));
    const char *tag = arg(argc, argv, "tag", "fts5-bm25");

    size_t nd, nq;
    record *docs = read_records(corpus, 0, &nd);
    record *qs = read_records(qpath, 1, &nq);
    remove(dbpath);

    /* ---- index, one transaction */
    double t0 = now_s();
    sqlite3 *db;
    if (sqlite3_open(dbpath, &db) != SQLITE_OK) die("open", dbpath);
    sqlite3_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;", NULL, NULL, NULL);
    if (sqlite3_exec(
            db,
            "CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, contents, tokenize='porter unicode61');"
            "BEGIN;",
            NULL, NULL, NULL) != SQLITE_OK)
        die("create", sqlite3_errmsg(db));
    sqlite3_stmt *ins = prepare(db, "INSERT INTO docs(id, contents) VALUES (?1, ?2)");
    for (size_t i = 0; i < nd; i++) {
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, docs[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, docs[i].text, -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) die("insert", sqlite3_errmsg(db));
    }
    sqlite3_finalize(ins);
    if (sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) die("commit", sqlite3_errmsg(db));
    sqlite3_close(db);
    double index_s = now_s() - t0;
    struct stat sb;
    long long index_bytes = stat(dbpath, &sb) == 0 ? (long long)sb.st_size : -1;

    /* ---- run file */
    if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) die("open", dbpath);
    sqlite3_stmt *st = prepare(db, SEARCH_SQL);
    char **queries = malloc(nq * sizeof *queries);
    if (!queries) die("out of memory", NULL);
    for (size_t i = 0; i < nq; i++) queries[i] = fts_query(qs[i].text);
    FILE *out = fopen(runpath, "w");
    if (!out) die("cannot write", runpath);
    for (size_t i = 0; i < nq; i++)
        if (queries[i][0]) search(st, queries[i], depth, out, qs[i].id, tag);
    fclose(out);

    /* ---- warm-up, single-thread latency */
    long warm = 0;
    double warm_end = now_s() + warmup_s;
    while (now_s() < warm_end)
        for (size_t i = 0; i < nq; i++)
            if (queries[i][0]) search(st, queries[i], (warm++ & 1) ? depth : 10, NULL, NULL, NULL);
    double *lat10 = malloc(nq * (size_t)rounds * sizeof(double)),
           *latd = malloc(nq * (size_t)rounds * sizeof(double));
    if (!lat10 || !latd) die("out of memory", NULL);
    size_t n10 = 0, nd2 = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int r = 0; r < rounds; r++)
            for (size_t i = 0; i < nq; i++) {
                if (!queries[i][0]) continue;
                double s = now_s();
                search(st, queries[i], pass ? depth : 10, NULL, NULL, NULL);
                double ms = (now_s() - s) * 1e3;
                if (pass)
                    latd[nd2++] = ms;
                else
                    lat10[n10++] = ms;
            }
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* ---- QPS on nt threads */
    qps_ctx *ctx = calloc((size_t)nt, sizeof *ctx);
    pthread_t *th = calloc((size_t)nt, sizeof *th);
    if (!ctx || !th) die("out of memory", NULL);
    double q0 = now_s();
    for (int t = 0; t < nt; t++) {
        ctx[t] = (qps_ctx){dbpath, queries, nq, (size_t)t * nq / (size_t)nt, q0, qps_s, 0};
        pthread_create(&th[t], NULL, qps_thread, &ctx[t]);
    }
    long done = 0;
    for (int t = 0; t < nt; t++) {
        pthread_join(th[t], NULL);
        done += ctx[t].done;
    }
    double qps_elapsed = now_s() - q0;

    printf("{\"system\": \"SQLite %s FTS5 (porter unicode61, bm25() k1=1.2 b=0.75 fixed)\",\n",
           sqlite3_libversion());
    printf("  \"docs\": %zu, \"index_s\": %.4f, \"docs_per_s\": %.1f, \"index_bytes\": %lld,\n", nd, index_s,
           (double)nd / index_s, index_bytes);
    printf("  \"queries\": %zu, \"warmup_queries\": %ld, \"rounds\": %d,\n", nq, warm, rounds);
    print_latency("latency_top10_ms", lat10, n10);
    char name[64];
    snprintf(name, sizeof name, "latency_top%d_ms", depth);
    print_latency(name, latd, nd2);
    printf("  \"qps_top10\": %.1f, \"qps_threads\": %d}\n", (double)done / qps_elapsed, nt);
    return 0;
}
