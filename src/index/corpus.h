/* corpus.h — streaming readers for corpora and query files.
 *
 * Formats: BEIR JSONL ({"_id","title","text"}; queries {"_id","text"}),
 * Pyserini JSONL ({"id","contents"}) and TSV (id<TAB>text, or
 * id<TAB>title<TAB>text). "auto" picks JSONL or TSV from the first non-blank
 * character and the JSON flavour from each line's keys. Numeric ids are
 * accepted and written as integers. Reading never holds more than one line. */
#ifndef QUARRY_INDEX_CORPUS_H
#define QUARRY_INDEX_CORPUS_H

#include <stdint.h>

typedef struct qy_corpus qy_corpus;

typedef struct qy_corpus_doc {
    const char *id;
    const char *title; /* "" when absent */
    const char *text;
} qy_corpus_doc;

/* format: "auto", "beir", "pyserini", "jsonl" (either flavour) or "tsv".
 * Errors: QY_ERR_ARG (unknown format), QY_ERR_NOT_FOUND / QY_ERR_IO. */
int qy_corpus_open(const char *path, const char *format, qy_corpus **out);
void qy_corpus_close(qy_corpus *c);
/* Next document; *eof = 1 (and QY_OK) at the end. The strings stay valid until
 * the next call. Errors: QY_ERR_FORMAT "PATH: line N: ...". */
int qy_corpus_next(qy_corpus *c, qy_corpus_doc *doc, int *eof);
/* Line number of the last document read (1-based), and bytes read so far. */
uint64_t qy_corpus_line(const qy_corpus *c);
uint64_t qy_corpus_bytes(const qy_corpus *c);

#endif
