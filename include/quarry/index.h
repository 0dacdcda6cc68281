/*
 * quarry/index.h — the lexical index: build, update and search a BM25 index.
 *
 * An index is a directory: immutable segment files (compressed postings in
 * blocks of 128 with per-block maxima for dynamic pruning), deletion bitmaps,
 * a SQLite document store (docs.sqlite) and a MANIFEST naming what is
 * committed. Commits swap the manifest atomically, so a crash at any moment
 * leaves the last committed state readable and complete. Details: docs/search.md.
 *
 * Usage:
 *   qy_index_params p; qy_index_params_default(&p);
 *   qy_index_writer *w;
 *   qy_index_writer_open("idx", &p, QY_INDEX_CREATE, &w);
 *   qy_index_writer_add_corpus(w, "corpus.jsonl", "auto", NULL);   // commits as it goes
 *   qy_index_writer_commit(w);
 *   qy_index_writer_close(w);
 *
 *   qy_index *ix; qy_index_open("idx", &ix);
 *   qy_searcher *s; qy_searcher_new(ix, &s);           // one per thread
 *   qy_search_params sp; qy_search_params_default(&sp);  // BM25 k1=0.9 b=0.4, top 10
 *   qy_hit hits[10]; size_t n;
 *   qy_searcher_search(s, "boundary layer heat transfer", &sp, hits, &n);
 *   qy_index_doc_id(ix, &hits[0], &len);
 */
#ifndef QUARRY_INDEX_H
#define QUARRY_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- writing */

typedef struct qy_index_params {
    const char *analyzer; /* analyzer spec over the Lucene EnglishAnalyzer defaults, e.g.
                           * "stem=english,stop=none"; used when the index is created, later
                           * opens use the stored one. NULL = defaults */
    size_t memory_budget; /* bytes of in-memory postings and buffers before a segment is
                           * flushed (default 256 MiB, minimum 1 MiB) */
    int threads;          /* analysis threads, 0 = default */
    int merge_factor;     /* tiered merges: this many segments of one size tier are merged
                           * (default 10; 0 = merge only when asked) */
    int store_text;       /* keep title and text in the document store (default 1) */
    float k1, b;          /* default BM25 parameters stored in the index (0.9, 0.4) */
} qy_index_params;

void qy_index_params_default(qy_index_params *p);

enum { QY_INDEX_OPEN = 0, QY_INDEX_CREATE = 1 };

typedef struct qy_index_writer qy_index_writer;

/* Open the index in `dir` for writing. mode QY_INDEX_CREATE makes a new index
 * (the directory may exist but must not hold one: QY_ERR_ARG); QY_INDEX_OPEN
 * needs an existing one (QY_ERR_NOT_FOUND). Takes an exclusive lock
 * (dir/LOCK): a second writer gets QY_ERR_IO "locked". Leftovers of an
 * interrupted writer (temporary files, unreferenced segments, document rows
 * never committed) are removed. */
int qy_index_writer_open(const char *dir, const qy_index_params *p, int mode, qy_index_writer **out);

/* Add one document (copied). A document whose id is already in the index, or
 * already added and not yet committed, replaces it. Buffered: when the memory
 * budget is reached the buffer becomes a segment and is committed. */
int qy_index_writer_add(qy_index_writer *w, const char *id, const char *title, const char *text);

/* Stream a corpus file into the index (format as for the corpus readers:
 * "auto", "beir", "pyserini", "jsonl", "tsv"), reporting docs/s on stderr.
 * *ndocs (may be NULL) receives the number of documents read. Does not commit
 * the last partial buffer: call qy_index_writer_commit. */
int qy_index_writer_add_corpus(qy_index_writer *w, const char *path, const char *format, uint64_t *ndocs);

/* Delete a document by id (takes effect at commit; an id not in the index is
 * not an error: qy_index_writer_counts tells how many documents went). */
int qy_index_writer_delete(qy_index_writer *w, const char *id);

/* What this writer did so far: documents added, documents tombstoned (deleted
 * or replaced), segments written by flushes and by merges. */
typedef struct qy_index_writer_counts {
    uint64_t added, tombstoned, flushes, merges;
    uint64_t peak_buffer_bytes; /* largest in-memory buffer reached (vs the budget) */
} qy_index_writer_counts;
void qy_index_writer_get_counts(const qy_index_writer *w, qy_index_writer_counts *out);

/* Make everything added or deleted so far durable and visible: flush the
 * buffer to a segment, write deletion files, swap the manifest; then apply
 * the merge policy (which commits again when it merges). */
int qy_index_writer_commit(qy_index_writer *w);

/* Commit, then merge until at most max_segments remain (>= 1), purging
 * deleted documents. */
int qy_index_writer_merge(qy_index_writer *w, int max_segments);

/* Close without committing (uncommitted changes are dropped). NULL is a no-op. */
void qy_index_writer_close(qy_index_writer *w);

/* ---------------------------------------------------------------- reading */

typedef struct qy_index qy_index;

/* Open the last committed state of the index in `dir` (read-only; writers may
 * commit meanwhile: this snapshot stays valid). Verifies every file's magic,
 * version and checksum. Errors: QY_ERR_NOT_FOUND (no index), QY_ERR_FORMAT. */
int qy_index_open(const char *dir, qy_index **out);
void qy_index_close(qy_index *ix);

typedef struct qy_index_stats {
    uint64_t docs;       /* live documents */
    uint64_t deleted;    /* tombstoned, still in segments until merged */
    uint64_t field_docs; /* documents with at least one token (BM25's N, Lucene's docCount) */
    uint64_t tokens;     /* total tokens (sum of document lengths) */
    double avgdl;        /* tokens / field_docs */
    uint64_t terms;      /* distinct terms summed over segments */
    uint32_t segments;
    uint64_t generation; /* manifest generation */
    uint64_t bytes;      /* size of segment and deletion files */
    char analyzer[160];  /* the stored analyzer, described */
    float k1, b;         /* the index's default BM25 parameters */
} qy_index_stats;

void qy_index_get_stats(const qy_index *ix, qy_index_stats *out);

/* ------------------------------------------------------------------ search */

typedef struct qy_search_params {
    int k;             /* hits wanted (default 10) */
    float k1, b;       /* BM25 (defaults 0.9, 0.4 as in Anserini) */
    int conjunctive;   /* 1: every query term must match (AND); default 0 (OR) */
    int exhaustive;    /* 1: score every matching document (no pruning; for checks) */
    int exact_lengths; /* 1: exact document lengths; default 0 = Lucene's one-byte lengths */
} qy_search_params;

void qy_search_params_default(qy_search_params *p);
/* The same, with the BM25 parameters the index was built with. */
void qy_search_params_for_index(const qy_index *ix, qy_search_params *p);

typedef struct qy_hit {
    uint32_t seg; /* segment index in this snapshot */
    uint32_t doc; /* document inside the segment */
    float score;
} qy_hit;

typedef struct qy_searcher qy_searcher;

/* A searcher holds one thread's analyzer and scratch space; many searchers
 * may share one qy_index across threads. */
int qy_searcher_new(const qy_index *ix, qy_searcher **out);
void qy_searcher_free(qy_searcher *s);

/* Search: analyze `query` with the index's analyzer, score with BM25 as Lucene
 * 8's BM25Similarity and return the best min(k, matches) hits in hits[]
 * (capacity >= p->k), sorted by score descending, then by index order.
 * Pruned and exhaustive search return identical hits and scores.
 * *scored (may be NULL) receives how many documents were fully scored. */
int qy_searcher_search(qy_searcher *s, const char *query, const qy_search_params *p, qy_hit *hits,
                       size_t *nhits, uint64_t *scored);

/* External id of a hit's document (not NUL-terminated; length in *len). */
const char *qy_index_doc_id(const qy_index *ix, const qy_hit *h, size_t *len);

/* Title and text of a hit's document from the document store (qy_free both;
 * either pointer may be NULL to skip). Not thread-safe: one thread at a time. */
int qy_index_doc_text(qy_index *ix, const qy_hit *h, char **title, char **text);

/* A snippet of `text` around the first query term (analyzed as the index
 * does), at most `max_bytes` bytes on UTF-8 boundaries, "..." where cut.
 * Returns a qy_malloc'd string. */
int qy_searcher_snippet(qy_searcher *s, const char *query, const char *text, size_t max_bytes, char **out);

#ifdef __cplusplus
}
#endif
#endif /* QUARRY_INDEX_H */
