/* trec_eval.h — internal layout of qrels and runs, shared by the readers
 * (trec_files.c) and the measures (trec_eval.c). Public API: quarry/eval.h. */
#ifndef QUARRY_EVAL_TREC_EVAL_H
#define QUARRY_EVAL_TREC_EVAL_H

#include <stddef.h>

#include "quarry/eval.h"

typedef struct qy_judgement {
    const char *docno;
    long rel;
} qy_judgement;

/* One query's judgements, sorted by docno (strcmp), no duplicates. */
typedef struct qy_qrels_query {
    const char *qid;
    qy_judgement *j;
    size_t n;
} qy_qrels_query;

struct qy_qrels {
    qy_arena arena;          /* strings and arrays */
    qy_qrels_query *queries; /* sorted by qid (strcmp) */
    size_t nq;
    size_t nlines;
};

typedef struct qy_run_line {
    const char *docno;
    double score;
} qy_run_line;

/* One query's retrieved documents, in file order. */
typedef struct qy_run_query {
    const char *qid;
    qy_run_line *lines;
    size_t n;
} qy_run_query;

struct qy_run {
    qy_arena arena;
    qy_run_query *queries; /* sorted by qid (strcmp) */
    size_t nq;
    size_t nlines;
    const char *runid;
    const char *source; /* file name for messages */
};

/* Binary searches by qid; NULL when absent. */
const qy_qrels_query *qy_qrels_find(const qy_qrels *q, const char *qid);
const qy_run_query *qy_run_find(const qy_run *r, const char *qid);

#endif
