/* cmd_index.c — `quarry index build|add|delete|merge|stats|analyze`. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "index/corpus.h"
#include "index/docstore.h"
#include "index/reader.h"
#include "quarry/index.h"
#include "text/analyzer.h"

/* "256M", "1G", "512k", "1048576" -> bytes */
static int parse_size(const char *s, size_t *out) {
    char *end;
    double v = strtod(s, &end);
    double mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1024.0, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1024.0 * 1024, end++;
    else if (*end == 'g' || *end == 'G')
        mul = 1024.0 * 1024 * 1024, end++;
    if (*end == 'B' || *end == 'b') end++;
    if (end == s || *end || !(v > 0) || v * mul > 1e15)
        return qy_error(QY_ERR_ARG, "--memory %s: expected a size such as 512M or 2G", s);
    *out = (size_t)(v * mul);
    return QY_OK;
}

static void print_index_summary(const char *dir, int json, double seconds, uint64_t docs_in,
                                const qy_index_writer_counts *c) {
    qy_index *ix;
    if (qy_index_open(dir, &ix) != QY_OK) return;
    qy_index_stats s;
    qy_index_get_stats(ix, &s);
    qy_index_close(ix);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "docs_read", (double)docs_in);
        cJSON_AddNumberToObject(o, "seconds", seconds);
        cJSON_AddNumberToObject(o, "docs_per_second", seconds > 0 ? (double)docs_in / seconds : 0);
        cJSON_AddNumberToObject(o, "docs", (double)s.docs);
        cJSON_AddNumberToObject(o, "deleted", (double)s.deleted);
        cJSON_AddNumberToObject(o, "segments", s.segments);
        cJSON_AddNumberToObject(o, "bytes", (double)s.bytes);
        cJSON_AddNumberToObject(o, "flushes", (double)c->flushes);
        cJSON_AddNumberToObject(o, "merges", (double)c->merges);
        cJSON_AddNumberToObject(o, "peak_buffer_bytes", (double)c->peak_buffer_bytes);
        char *t = qy_json_print(o, 0);
        if (t) puts(t);
        qy_free(t);
        cJSON_Delete(o);
        return;
    }
    printf("%s: %" PRIu64 " documents (%" PRIu64 " deleted), %u segments, %.1f MB; this run: %" PRIu64
           " docs in %.2f s (%.0f docs/s), %" PRIu64 " flushes, %" PRIu64 " merges, peak buffer %.1f MB\n",
           dir, s.docs, s.deleted, s.segments, (double)s.bytes / 1e6, docs_in, seconds,
           seconds > 0 ? (double)docs_in / seconds : 0, c->flushes, c->merges,
           (double)c->peak_buffer_bytes / 1e6);
}

/* build and add share everything but the open mode */
static int run_ingest(int argc, char **argv, int create) {
    const char *dir = NULL, *format = "auto", *memory = NULL, *analyzer = NULL;
    long merge_factor = 10;
    double k1 = 0.9, b = 0.4;
    int no_text = 0, overwrite = 0;
    qy_opt opts_build[] = {
        {"index", 'i', QY_OPT_STRING, "DIR", "index directory (required)", &dir},
        {"format", 'f', QY_OPT_STRING, "FMT", "auto (default), beir, pyserini, jsonl or tsv", &format},
        {"memory", 'm', QY_OPT_STRING, "SIZE", "memory budget before a segment is flushed (default 256M)",
         &memory},
        {"analyzer", 'a', QY_OPT_STRING, "SPEC",
         "analyzer over the Lucene EnglishAnalyzer defaults, e.g. stem=english,stop=none,case=fold,norm=nfkc",
         &analyzer},
        {"merge-factor", 0, QY_OPT_INT, "N", "segments per size tier before they merge (default 10, 0 = off)",
         &merge_factor},
        {"no-text", 0, QY_OPT_FLAG, NULL, "store only ids in the document store (no titles, texts, snippets)",
         &no_text},
        {"overwrite", 0, QY_OPT_FLAG, NULL, "replace an existing index in DIR", &overwrite},
        {"k1", 0, QY_OPT_DOUBLE, "X", "default BM25 k1 stored in the index (0.9)", &k1},
        {"b", 0, QY_OPT_DOUBLE, "X", "default BM25 b stored in the index (0.4)", &b},
        {NULL, 0, 0, NULL, NULL, NULL}};
    qy_cli_spec spec = {
        .usage =
            create ? "quarry index build -i DIR [options] CORPUS...   (or: quarry index build CORPUS... DIR)"
                   : "quarry index add -i DIR [options] CORPUS...",
        .description =
            create ? "Build a BM25 index from corpus files (BEIR or Pyserini JSONL, or TSV), streaming,\n"
                     "with threaded analysis and segments flushed under the memory budget. Each\n"
                     "flush is a commit: an interrupted build keeps what it committed."
                   : "Add documents to an existing index; a document whose id is already there\n"
                     "replaces it (update). Commits at the end (and at each flush).",
        .opts = create ? opts_build : opts_build,
        .min_pos = 1,
        .max_pos = -1,
        .examples = create ? "  quarry index build -i cran.idx data/cranfield/corpus.jsonl\n"
                             "  quarry index build -i big.idx --memory 1G --threads 8 corpus.jsonl\n"
                           : "  quarry index add -i cran.idx new-docs.jsonl\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    if (!dir && create && npos >= 2) dir = pos[--npos]; /* build CORPUS... DIR */
    if (!dir) {
        fprintf(stderr, "quarry index: --index DIR is required\n");
        return 2;
    }
    if (!create && (analyzer || overwrite)) {
        fprintf(stderr, "quarry index add: --analyzer and --overwrite only apply to 'index build'\n");
        return 2;
    }
    qy_index_params p;
    qy_index_params_default(&p);
    p.threads = c.threads;
    p.analyzer = analyzer;
    p.merge_factor = (int)merge_factor;
    p.store_text = !no_text;
    p.k1 = (float)k1;
    p.b = (float)b;
    if (memory && parse_size(memory, &p.memory_budget)) return qy_cli_fail(QY_ERR_ARG);
    if (create && overwrite) {
        static const char *names[] = {"MANIFEST", "docs.sqlite", "docs.sqlite-wal", "docs.sqlite-shm"};
        char path[4096];
        for (size_t i = 0; i < 4; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            unlink(path);
        }
    }
    qy_index_writer *w;
    int st = qy_index_writer_open(dir, &p, create ? QY_INDEX_CREATE : QY_INDEX_OPEN, &w);
    if (st) return qy_cli_fail(st);
    uint64_t t0 = qy_now_ns(), total = 0;
    for (int i = 0; i < npos && !st; i++) {
        uint64_t n;
        st = qy_index_writer_add_corpus(w, pos[i], format, &n);
        total += n;
    }
    if (!st) st = qy_index_writer_commit(w);
    qy_index_writer_counts counts;
    qy_index_writer_get_counts(w, &counts);
    qy_index_writer_close(w);
    if (st) return qy_cli_fail(st);
    if (!c.quiet) print_index_summary(dir, c.json, qy_seconds_since(t0), total, &counts);
    return 0;
}

static int run_build(int argc, char **argv) { return run_ingest(argc, argv, 1); }
static int run_add(int argc, char **argv) { return run_ingest(argc, argv, 0); }

static int run_delete(int argc, char **argv) {
    const char *dir = NULL, *ids_file = NULL;
    qy_opt opts[] = {
        {"index", 'i', QY_OPT_STRING, "DIR", "index directory (required)", &dir},
        {"ids", 0, QY_OPT_STRING, "FILE", "also delete the ids listed in FILE, one per line", &ids_file},
        {NULL, 0, 0, NULL, NULL, NULL}};
    qy_cli_spec spec = {.usage = "quarry index delete -i DIR [--ids FILE] [ID...]",
                        .description = "Delete documents by id (tombstones; merges drop them for good).",
                        .opts = opts,
                        .min_pos = 0,
                        .max_pos = -1,
                        .examples = "  quarry index delete -i cran.idx 12 471\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    if (!dir || (npos == 0 && !ids_file)) {
        fprintf(stderr,
                "quarry index delete: --index DIR and at least one id (or --ids FILE) are required\n");
        return 2;
    }
    qy_index_params p;
    qy_index_params_default(&p);
    p.threads = 1;
    qy_index_writer *w;
    int st = qy_index_writer_open(dir, &p, QY_INDEX_OPEN, &w);
    if (st) return qy_cli_fail(st);
    uint64_t asked = 0;
    for (int i = 0; i < npos && !st; i++, asked++) st = qy_index_writer_delete(w, pos[i]);
    if (!st && ids_file) {
        FILE *f = fopen(ids_file, "r");
        if (!f) st = qy_error(QY_ERR_NOT_FOUND, "%s: cannot open", ids_file);
        char line[4096];
        while (!st && f && fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = '\0';
            if (!line[0]) continue;
            st = qy_index_writer_delete(w, line);
            asked++;
        }
        if (f) fclose(f);
    }
    if (!st) st = qy_index_writer_commit(w);
    qy_index_writer_counts counts;
    qy_index_writer_get_counts(w, &counts);
    qy_index_writer_close(w);
    if (st) return qy_cli_fail(st);
    if (!c.quiet)
        printf("%s: deleted %" PRIu64 " of %" PRIu64 " ids asked (the others are not in the index)\n", dir,
               counts.tombstoned, asked);
    return 0;
}

static int run_merge(int argc, char **argv) {
    const char *dir = NULL;
    long max_segments = 1;
    qy_opt opts[] = {
        {"index", 'i', QY_OPT_STRING, "DIR", "index directory (required)", &dir},
        {"max-segments", 'n', QY_OPT_INT, "N", "merge down to at most N segments (default 1)", &max_segments},
        {NULL, 0, 0, NULL, NULL, NULL}};
    qy_cli_spec spec = {.usage = "quarry index merge -i DIR [--max-segments N]",
                        .description =
                            "Merge segments and purge deleted documents (searches stay valid meanwhile).",
                        .opts = opts,
                        .min_pos = 0,
                        .max_pos = 0,
                        .examples = "  quarry index merge -i cran.idx\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    if (!dir) {
        fprintf(stderr, "quarry index merge: --index DIR is required\n");
        return 2;
    }
    if (max_segments < 1 || max_segments > 1000000) {
        fprintf(stderr, "quarry index merge: --max-segments must be >= 1\n");
        return 2;
    }
    qy_index_params p;
    qy_index_params_default(&p);
    p.threads = 1;
    qy_index_writer *w;
    int st = qy_index_writer_open(dir, &p, QY_INDEX_OPEN, &w);
    if (st) return qy_cli_fail(st);
    uint64_t t0 = qy_now_ns();
    st = qy_index_writer_merge(w, (int)max_segments);
    qy_index_writer_counts counts;
    qy_index_writer_get_counts(w, &counts);
    qy_index_writer_close(w);
    if (st) return qy_cli_fail(st);
    if (!c.quiet) print_index_summary(dir, c.json, qy_seconds_since(t0), 0, &counts);
    return 0;
}

/* every live document must have its row in the document store */
static int verify_docstore(qy_index *ix, uint64_t *checked) {
    *checked = 0;
    for (size_t g = 0; g < ix->m.nsegs; g++) {
        const qy_seg_entry *e = &ix->m.segs[g];
        for (uint32_t d = 0; d < e->ndocs; d++) {
            if (qy_seg_is_deleted(e, d)) continue;
            qy_hit h = {(uint32_t)g, d, 0};
            char *title = NULL;
            int st = qy_index_doc_text(ix, &h, &title, NULL);
            qy_free(title);
            if (st) {
                size_t len;
                const char *id = qy_index_doc_id(ix, &h, &len);
                return qy_error_wrap(st, "document '%.*s' (segment %zu) has no stored row", (int)len, id, g);
            }
            (*checked)++;
        }
    }
    return QY_OK;
}

static int run_stats(int argc, char **argv) {
    const char *dir = NULL;
    int verify = 0;
    qy_opt opts[] = {
        {"index", 'i', QY_OPT_STRING, "DIR", "index directory (required)", &dir},
        {"verify", 0, QY_OPT_FLAG, NULL, "also check that every live document has its stored row", &verify},
        {NULL, 0, 0, NULL, NULL, NULL}};
    qy_cli_spec spec = {.usage = "quarry index stats -i DIR [--verify] [--json]",
                        .description =
                            "Open the last committed state (verifying magic, version and checksum of\n"
                            "every file) and print its statistics.",
                        .opts = opts,
                        .min_pos = 0,
                        .max_pos = 0,
                        .examples = "  quarry index stats -i cran.idx --json\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    if (!dir) {
        fprintf(stderr, "quarry index stats: --index DIR is required\n");
        return 2;
    }
    qy_index *ix;
    int st = qy_index_open(dir, &ix);
    if (st) return qy_cli_fail(st);
    uint64_t checked = 0;
    if (verify) st = verify_docstore(ix, &checked);
    if (st) {
        qy_index_close(ix);
        return qy_cli_fail(st);
    }
    qy_index_stats s;
    qy_index_get_stats(ix, &s);
    if (c.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "docs", (double)s.docs);
        cJSON_AddNumberToObject(o, "deleted", (double)s.deleted);
        cJSON_AddNumberToObject(o, "field_docs", (double)s.field_docs);
        cJSON_AddNumberToObject(o, "tokens", (double)s.tokens);
        cJSON_AddNumberToObject(o, "avgdl", s.avgdl);
        cJSON_AddNumberToObject(o, "terms", (double)s.terms);
        cJSON_AddNumberToObject(o, "segments", s.segments);
        cJSON_AddNumberToObject(o, "generation", (double)s.generation);
        cJSON_AddNumberToObject(o, "bytes", (double)s.bytes);
        cJSON_AddStringToObject(o, "analyzer", s.analyzer);
        cJSON_AddNumberToObject(o, "k1", s.k1);
        cJSON_AddNumberToObject(o, "b", s.b);
        if (verify) cJSON_AddNumberToObject(o, "verified_docs", (double)checked);
        cJSON *segs = cJSON_AddArrayToObject(o, "segment_list");
        for (size_t g = 0; g < ix->m.nsegs; g++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "number", (double)ix->m.segs[g].number);
            cJSON_AddNumberToObject(e, "docs", ix->m.segs[g].ndocs);
            cJSON_AddNumberToObject(e, "deleted", ix->m.segs[g].ndeleted);
            cJSON_AddNumberToObject(e, "terms", ix->m.segs[g].seg->nterms);
            cJSON_AddItemToArray(segs, e);
        }
        char *t = qy_json_print(o, 1);
        if (t) puts(t);
        qy_free(t);
        cJSON_Delete(o);
    } else {
        printf("index       %s (generation %" PRIu64 ")\n", dir, s.generation);
        printf("documents   %" PRIu64 " live, %" PRIu64 " deleted (not yet merged away)\n", s.docs,
               s.deleted);
        printf("tokens      %" PRIu64 " (avgdl %.3f over %" PRIu64 " documents with text)\n", s.tokens,
               s.avgdl, s.field_docs);
        printf("terms       %" PRIu64 " (summed over segments)\n", s.terms);
        printf("segments    %u:", s.segments);
        for (size_t g = 0; g < ix->m.nsegs; g++)
            printf(" %u%s", ix->m.segs[g].ndocs, g + 1 < ix->m.nsegs ? "," : "");
        printf(" docs\n");
        printf("size        %.2f MB of segments and deletion files\n", (double)s.bytes / 1e6);
        printf("analyzer    %s\n", s.analyzer);
        printf("bm25        k1=%g b=%g (defaults for searches)\n", s.k1, s.b);
        if (verify) printf("verified    %" PRIu64 " stored documents, all files checksummed\n", checked);
    }
    qy_index_close(ix);
    return 0;
}

static int run_analyze(int argc, char **argv) {
    const char *dir = NULL, *analyzer = NULL;
    qy_opt opts[] = {{"index", 'i', QY_OPT_STRING, "DIR", "use this index's analyzer", &dir},
                     {"analyzer", 'a', QY_OPT_STRING, "SPEC", "analyzer spec over the defaults", &analyzer},
                     {NULL, 0, 0, NULL, NULL, NULL}};
    qy_cli_spec spec = {.usage = "quarry index analyze [-i DIR | -a SPEC] [TEXT...]",
                        .description =
                            "Print the tokens the analyzer makes of each TEXT (or of each line of stdin),\n"
                            "space-separated, one line per input.",
                        .opts = opts,
                        .min_pos = 0,
                        .max_pos = -1,
                        .examples = "  quarry index analyze \"The boundary layer's heating\"\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    qy_analyzer_config cfg;
    qy_analyzer_config_default(&cfg);
    int st = QY_OK;
    if (dir) {
        qy_index *ix;
        if ((st = qy_index_open(dir, &ix))) return qy_cli_fail(st);
        cfg = ix->m.analyzer;
        qy_index_close(ix);
    }
    if (analyzer && (st = qy_analyzer_config_parse(analyzer, &cfg))) return qy_cli_fail(st);
    qy_analyzer *a;
    if ((st = qy_analyzer_new(&cfg, &a))) return qy_cli_fail(st);
    char *line = NULL;
    size_t cap = 0;
    for (int i = 0; !st; i++) {
        const char *text;
        size_t len;
        if (npos) {
            if (i >= npos) break;
            text = pos[i];
            len = strlen(text);
        } else {
            ssize_t n = getline(&line, &cap, stdin);
            if (n < 0) break;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
            text = line;
            len = (size_t)n;
        }
        const qy_token *t;
        size_t nt;
        if ((st = qy_analyzer_run(a, text, len, &t, &nt))) break;
        for (size_t k = 0; k < nt; k++) printf(k ? " %s" : "%s", t[k].text);
        printf("\n");
    }
    free(line);
    qy_analyzer_free(a);
    return st ? qy_cli_fail(st) : 0;
}

static int run(int argc, char **argv) {
    static const qy_subcommand subs[] = {
        {"build", "build an index from corpus files (BEIR/Pyserini JSONL, TSV)", run_build},
        {"add", "add or update documents in an index", run_add},
        {"delete", "delete documents by id", run_delete},
        {"merge", "merge segments, purging deleted documents", run_merge},
        {"stats", "verify an index and print its statistics", run_stats},
        {"analyze", "show the tokens the analyzer makes of a text", run_analyze},
        {NULL, NULL, NULL}};
    return qy_cli_dispatch("index", "Build and maintain BM25 indexes (see docs/search.md).", argc, argv,
                           subs);
}

const qy_command qy_command_index = {"index", "build, update, merge and inspect BM25 indexes", run};
