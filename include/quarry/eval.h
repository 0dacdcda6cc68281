/*
 * quarry/eval.h — the evaluation layer: TREC qrels and runs, and trec_eval's
 * ranking measures with trec_eval's exact semantics and output.
 *
 * Usage:
 *   qy_qrels *qrels; qy_run *run; qy_eval_result *res;
 *   if (qy_qrels_read("test.qrels", &qrels) || qy_run_read("bm25.run", &run)) fail();
 *   qy_eval_opts o;
 *   qy_eval_opts_default(&o);                 // trec_eval 9.0.x, "official" measures
 *   const char *m[] = {"map", "ndcg_cut.10", "recall.100"};
 *   o.measures = m; o.num_measures = 3;
 *   int st = qy_eval_compute(qrels, run, &o, &res);
 *   qy_eval_write_trec(res, stdout, 0);       // "map                   \tall\t0.2919\n"...
 *   qy_eval_result_free(res); qy_run_free(run); qy_qrels_free(qrels);
 *
 * Semantics (those of NIST trec_eval; docs/eval.md lists them with the
 * differences between trec_eval 9.0.x and 10.0):
 *   - each query's documents are ordered by score (highest first), ties by
 *     docno in descending strcmp order; the rank and iter columns are ignored;
 *   - -M keeps the first N documents after that sort; a docno listed twice in
 *     the kept documents of an evaluated query is an error;
 *   - a document is relevant when its qrels value is >= the relevance level;
 *     0..level-1 is judged nonrelevant; a negative value is "pooled, unjudged";
 *   - queries of the run missing from the qrels are ignored; queries of the
 *     qrels missing from the run are skipped (9.0.x) or an error (10.0), or,
 *     with `complete` (-c), they count with zero scores.
 */
#ifndef QUARRY_EVAL_H
#define QUARRY_EVAL_H

#include <stddef.h>
#include <stdio.h>

#include "quarry/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ qrels, runs */

/* TREC qrels: lines "qid iter docno rel" separated by blanks or tabs; rel is
 * an integer (negative: pooled but unjudged); columns after the 4th are ignored;
 * blank lines are skipped. */
typedef struct qy_qrels qy_qrels;

/* Parse qrels text (need not be NUL-terminated). `source` names the input in
 * messages ("test.qrels: line 3: expected an integer relevance in column 4,
 * got 'x'"). Errors: QY_ERR_FORMAT (malformed line, the same docno judged
 * twice for one query, no judgements at all), QY_ERR_NOMEM. *out is NULL on error. */
int qy_qrels_parse(const char *text, size_t len, const char *source, qy_qrels **out);
/* Read and parse a qrels file (QY_ERR_NOT_FOUND/QY_ERR_IO if unreadable). */
int qy_qrels_read(const char *path, qy_qrels **out);
void qy_qrels_free(qy_qrels *q);
/* Number of distinct queries, and of judgement lines. */
size_t qy_qrels_num_queries(const qy_qrels *q);
size_t qy_qrels_num_judgements(const qy_qrels *q);

/* A TREC run: six columns "qid iter docno rank score tag" separated by blanks
 * or tabs; words after the 6th are ignored; blank lines are skipped. The run
 * id is the tag of the last line. Scores are read as C strtod reads them. */
typedef struct qy_run qy_run;

/* Errors: QY_ERR_FORMAT ("bm25.run: line 7: expected 6 columns (qid iter docno
 * rank score tag), got 4"; a score that is not a finite number; an empty
 * run), QY_ERR_NOMEM. *out is NULL on error. */
int qy_run_parse(const char *text, size_t len, const char *source, qy_run **out);
int qy_run_read(const char *path, qy_run **out);
void qy_run_free(qy_run *r);
const char *qy_run_id(const qy_run *r);
size_t qy_run_num_lines(const qy_run *r);

/* ------------------------------------------------------------- evaluation */

typedef struct qy_eval_opts {
    int trec_eval_version;       /* 9 (default: 9.0.x) or 10 (10.0) */
    int complete;                /* -c: average over every qrels query */
    long relevance_level;        /* -l: minimum relevant value (default 1) */
    long max_docs;               /* -M: documents kept per query; <= 0: all */
    const char *const *measures; /* -m arguments ("map", "P.5,10", "all_trec");
                                    NULL or none: "official" */
    size_t num_measures;
} qy_eval_opts;

void qy_eval_opts_default(qy_eval_opts *o);

typedef enum qy_eval_kind {
    QY_EVAL_DOUBLE = 0, /* printed %6.4f */
    QY_EVAL_LONG = 1,   /* a count, printed %ld; the summary is the sum */
    QY_EVAL_TEXT = 2    /* runid (summary) or relstring (per query) */
} qy_eval_kind;

/* One printed value (a measure at one cutoff, e.g. "ndcg_cut_10"). */
typedef struct qy_eval_column {
    char name[48];
    qy_eval_kind kind;
    int per_query; /* printed for each query with -q */
    int summary;   /* printed in the "all" summary */
} qy_eval_column;

/* The results: plain data, read the fields directly. */
typedef struct qy_eval_result {
    char *runid;
    size_t ncols;
    qy_eval_column *cols;
    size_t nq;           /* evaluated queries, in trec_eval's order (qids by strcmp) */
    char **qids;         /* nq */
    double *values;      /* nq x ncols, per-query values (gm_* hold the log) */
    char **relstrings;   /* nq, per-query relstring ("" when not requested) */
    double *summary;     /* ncols, the "all" values */
    char **summary_text; /* ncols, text summaries (runid), else NULL */
    long num_q;          /* queries in the average */
    int complete;        /* 1 when every query was evaluated and summary is valid */
} qy_eval_result;

/* Evaluate `run` against `qrels`. On QY_OK *out holds every query and the
 * summary (complete = 1). When a query fails (duplicate docno, a qrels query
 * absent from the run under trec_eval 10.0), the status is QY_ERR_FORMAT with
 * the message naming the query, and *out still holds the queries evaluated
 * before it (complete = 0), so that a caller can print them as trec_eval does.
 * Other errors (QY_ERR_ARG: unknown measure or bad parameter; QY_ERR_NOMEM)
 * leave *out NULL. The caller frees *out whenever it is non-NULL. */
int qy_eval_compute(const qy_qrels *qrels, const qy_run *run, const qy_eval_opts *opts, qy_eval_result **out);
void qy_eval_result_free(qy_eval_result *r);

/* Write the result as trec_eval prints it: with per_query, each query's lines
 * (in order) before the summary; only the queries evaluated and, when the
 * result is complete, the summary. Returns QY_ERR_IO on a write error. */
int qy_eval_write_trec(const qy_eval_result *r, FILE *out, int per_query);

/* Build a JSON object {"runid", "num_q", "all": {name: value}, "queries":
 * {qid: {name: value}} (only with per_query)}. Returns NULL when out of memory.
 * Free with cJSON_Delete. */
struct cJSON *qy_eval_to_json(const qy_eval_result *r, int per_query);

/* Writes the measure names and sets known to qy_eval_compute, one per line
 * with a short description (for --help), NUL-terminated into buf[0..cap).
 * Returns the length of the whole text; when it is >= cap, buf holds "" (call
 * with buf = NULL to size it). */
size_t qy_eval_measure_help(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* QUARRY_EVAL_H */
