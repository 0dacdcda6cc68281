/* trec_eval.c — trec_eval's ranking measures with trec_eval's semantics.
 *
 * The measures and their definitions are those of NIST's trec_eval (C. Buckley;
 * https://github.com/usnistgov/trec_eval), versions 9.0.x and 10.0. This is an
 * independent implementation, held to the program's own outputs by
 * tests/eval/test_trec_eval_fixtures.sh (every output of the fixture set, byte
 * for byte). docs/eval.md states each measure and the version differences.
 *
 * Per query: the run's documents are sorted by score (descending; 9.0.x compares
 * the scores as C floats, 10.0 as doubles), ties broken by docno in descending
 * strcmp order; the first max_docs are kept; each gets its qrels value
 * (NONPOOL when absent, UNJUDGED when negative). Every measure then reads that
 * list plus the counts of judged documents per relevance value. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/trec_eval.h"

#define RELVALUE_NONPOOL (-1)
#define RELVALUE_UNJUDGED (-2)
#define MIN_GEO_MEAN 0.00001  /* floor of a value before the log in gm_* */
#define INFAP_EPSILON 0.00001 /* smoothing in infAP */
#define RBP_P 0.9             /* rbp/rbp_resid persistence */

/* ------------------------------------------------------------ measure table */

typedef enum meas_id {
    M_RUNID,
    M_NUM_Q,
    M_NUM_RET,
    M_NUM_REL,
    M_NUM_REL_RET,
    M_MAP,
    M_GM_MAP,
    M_RPREC,
    M_BPREF,
    M_RECIP_RANK,
    M_IPREC_AT_RECALL,
    M_P,
    M_RELSTRING,
    M_RECALL,
    M_INFAP,
    M_GM_BPREF,
    M_RPREC_MULT,
    M_UTILITY,
    M_11PT_AVG,
    M_BING,
    M_G,
    M_NDCG,
    M_NDCG_REL,
    M_RNDCG,
    M_NDCG_CUT,
    M_MAP_CUT,
    M_RELATIVE_P,
    M_SUCCESS,
    M_SET_P,
    M_SET_RELATIVE_P,
    M_SET_RECALL,
    M_SET_MAP,
    M_SET_F,
    M_NUM_NONREL_JUDGED_RET,
    M_RBP,
    M_RBP_RESID,
    M_UNJ,
    M_COUNT
} meas_id;

typedef enum param_type {
    PT_NONE, /* no parameters */
    PT_LCUT, /* sorted positive integer cutoffs, one value each: NAME_k */
    PT_DCUT, /* sorted fractional cutoffs, one value each: NAME_%3.2f */
    PT_VALUE /* one value; parameters change the name to NAME_PARAMS */
} param_type;

enum {
    F_PERQ = 1,     /* printed per query */
    F_SUMM = 2,     /* printed in the summary */
    F_GM = 4,       /* summary is the geometric mean (per-query value is the log) */
    F_OFFICIAL = 8, /* in the default ("official") set */
    F_ALL9 = 16,    /* in all_trec of 9.0.x */
    F_ALL10 = 32,   /* in all_trec of 10.0 */
    F_SET = 64,     /* in "set" */
    F_ONLY10 = 128  /* exists in 10.0 only */
};
#define F_BOTH (F_PERQ | F_SUMM)
#define F_ALL (F_ALL9 | F_ALL10)

static const long cut_docs[] = {5, 10, 15, 20, 30, 100, 200, 500, 1000};
static const double cut_recall[] = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
static const double cut_rmult[] = {0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0};
static const long cut_success[] = {1, 5, 10};
static const long cut_unj[] = {5, 10, 20};
static const double def_relstring[] = {10};
static const double def_utility[] = {1.0, -1.0, 0.0, 0.0};
static const double def_set_f[] = {1.0};
static const double def_rbp[] = {RBP_P};

typedef struct meas_def {
    const char *name;
    meas_id id;
    qy_eval_kind kind;
    param_type pt;
    const long *lcut;
    const double *dparams; /* PT_DCUT cutoffs or PT_VALUE defaults */
    size_t nparams;
    unsigned flags;
    const char *help;
} meas_def;

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const meas_def g_meas[M_COUNT] = {
    {"runid", M_RUNID, QY_EVAL_TEXT, PT_NONE, NULL, NULL, 0, F_SUMM | F_OFFICIAL | F_ALL | F_SET,
     "the run's tag (column 6 of its last line)"},
    {"num_q", M_NUM_Q, QY_EVAL_LONG, PT_NONE, NULL, NULL, 0, F_SUMM | F_OFFICIAL | F_ALL | F_SET,
     "number of queries evaluated"},
    {"num_ret", M_NUM_RET, QY_EVAL_LONG, PT_NONE, NULL, NULL, 0, F_BOTH | F_OFFICIAL | F_ALL | F_SET,
     "documents retrieved"},
    {"num_rel", M_NUM_REL, QY_EVAL_LONG, PT_NONE, NULL, NULL, 0, F_BOTH | F_OFFICIAL | F_ALL | F_SET,
     "relevant documents in the qrels"},
    {"num_rel_ret", M_NUM_REL_RET, QY_EVAL_LONG, PT_NONE, NULL, NULL, 0, F_BOTH | F_OFFICIAL | F_ALL | F_SET,
     "relevant documents retrieved"},
    {"map", M_MAP, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_OFFICIAL | F_ALL,
     "mean average precision"},
    {"gm_map", M_GM_MAP, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_SUMM | F_GM | F_OFFICIAL | F_ALL,
     "geometric mean of AP (each AP floored at 0.00001)"},
    {"Rprec", M_RPREC, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_OFFICIAL | F_ALL,
     "precision after R documents (R = num_rel)"},
    {"bpref", M_BPREF, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_OFFICIAL | F_ALL,
     "binary preference (Buckley and Voorhees 2004)"},
    {"recip_rank", M_RECIP_RANK, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_OFFICIAL | F_ALL,
     "reciprocal rank of the first relevant document"},
    {"iprec_at_recall", M_IPREC_AT_RECALL, QY_EVAL_DOUBLE, PT_DCUT, NULL, cut_recall, N(cut_recall),
     F_BOTH | F_OFFICIAL | F_ALL, "interpolated precision at recall levels (.0,.1,...,1)"},
    {"P", M_P, QY_EVAL_DOUBLE, PT_LCUT, cut_docs, NULL, N(cut_docs), F_BOTH | F_OFFICIAL | F_ALL,
     "precision at cutoffs (5,10,15,20,30,100,200,500,1000)"},
    {"relstring", M_RELSTRING, QY_EVAL_TEXT, PT_VALUE, NULL, def_relstring, 1, F_PERQ | F_ALL,
     "relevance values of the first N (10) documents, per query only"},
    {"recall", M_RECALL, QY_EVAL_DOUBLE, PT_LCUT, cut_docs, NULL, N(cut_docs), F_BOTH | F_ALL,
     "recall at cutoffs"},
    {"infAP", M_INFAP, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_ALL,
     "inferred AP (Yilmaz and Aslam 2006)"},
    {"gm_bpref", M_GM_BPREF, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_SUMM | F_GM | F_ALL,
     "geometric mean of bpref"},
    {"Rprec_mult", M_RPREC_MULT, QY_EVAL_DOUBLE, PT_DCUT, NULL, cut_rmult, N(cut_rmult), F_BOTH | F_ALL,
     "precision at multiples of R (0.2,...,2.0)"},
    {"utility", M_UTILITY, QY_EVAL_DOUBLE, PT_VALUE, NULL, def_utility, 4, F_BOTH | F_ALL | F_SET,
     "set utility p1*relret + p2*nonrelret + p3*relnotret + p4*rest (1,-1,0,0)"},
    {"11pt_avg", M_11PT_AVG, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_ALL,
     "mean interpolated precision at the 11 recall levels"},
    {"binG", M_BING, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_ALL, "binary G"},
    {"G", M_G, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_ALL, "normalized G (gain = relevance)"},
    {"ndcg", M_NDCG, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_ALL,
     "nDCG over the whole ranking (gain = relevance value, discount log2(rank+1))"},
    {"ndcg_rel", M_NDCG_REL, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_ALL,
     "nDCG averaged over the relevant documents"},
    {"Rndcg", M_RNDCG, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_ALL,
     "nDCG averaged at the ideal ranking's gain boundaries"},
    {"ndcg_cut", M_NDCG_CUT, QY_EVAL_DOUBLE, PT_LCUT, cut_docs, NULL, N(cut_docs), F_BOTH | F_ALL,
     "nDCG at cutoffs"},
    {"map_cut", M_MAP_CUT, QY_EVAL_DOUBLE, PT_LCUT, cut_docs, NULL, N(cut_docs), F_BOTH | F_ALL,
     "AP at cutoffs"},
    {"relative_P", M_RELATIVE_P, QY_EVAL_DOUBLE, PT_LCUT, cut_docs, NULL, N(cut_docs), F_BOTH | F_ALL,
     "relevant in the top k / min(k, R)"},
    {"success", M_SUCCESS, QY_EVAL_DOUBLE, PT_LCUT, cut_success, NULL, N(cut_success), F_BOTH | F_ALL,
     "1 if a relevant document is in the top k (1,5,10)"},
    {"set_P", M_SET_P, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_ALL | F_SET,
     "num_rel_ret / num_ret"},
    {"set_relative_P", M_SET_RELATIVE_P, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_ALL | F_SET,
     "num_rel_ret / min(num_ret, R)"},
    {"set_recall", M_SET_RECALL, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_ALL | F_SET,
     "num_rel_ret / R"},
    {"set_map", M_SET_MAP, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_ALL | F_SET,
     "set_P * set_recall"},
    {"set_F", M_SET_F, QY_EVAL_DOUBLE, PT_VALUE, NULL, def_set_f, 1, F_BOTH | F_ALL | F_SET,
     "F measure of set_P and set_recall (beta 1)"},
    {"num_nonrel_judged_ret", M_NUM_NONREL_JUDGED_RET, QY_EVAL_LONG, PT_NONE, NULL, NULL, 0, F_BOTH | F_ALL,
     "judged nonrelevant documents retrieved"},
    {"rbp", M_RBP, QY_EVAL_DOUBLE, PT_VALUE, NULL, def_rbp, 1, F_BOTH | F_ALL10 | F_ONLY10,
     "rank-biased precision, p = 0.9, gains scaled to [0,1] (10.0)"},
    {"rbp_resid", M_RBP_RESID, QY_EVAL_DOUBLE, PT_NONE, NULL, NULL, 0, F_BOTH | F_ALL10 | F_ONLY10,
     "rbp residual from unjudged documents (10.0)"},
    {"unj", M_UNJ, QY_EVAL_DOUBLE, PT_LCUT, cut_unj, NULL, N(cut_unj), F_BOTH | F_ALL10 | F_ONLY10,
     "fraction of unjudged documents at cutoffs 5,10,20 (10.0)"},
};

/* A requested measure with its parameters and its columns in the result. */
typedef struct meas_inst {
    const meas_def *def;
    int on;
    char *ptext;     /* parameters as given, NULL for defaults */
    long *lcut;      /* PT_LCUT */
    double *dparams; /* PT_DCUT cutoffs or PT_VALUE parameters */
    size_t nparams;
    size_t col; /* first column */
    size_t ncols;
} meas_inst;

/* --------------------------------------------------------- parameter parsing */

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Splits "5,10,20" into numbers; lcut gets integers (> 0), else doubles. */
static int parse_params(meas_inst *mi, const char *text) {
    const meas_def *d = mi->def;
    size_t n = 1;
    for (const char *p = text; *p; p++)
        if (*p == ',') n++;
    if (d->pt == PT_NONE)
        return qy_error(QY_ERR_ARG, "measure '%s' takes no parameters (got '%s')", d->name, text);
    if (d->id == M_RBP) {
        /* rbp takes "p=VALUE" */
        char *end;
        if (strncmp(text, "p=", 2))
            return qy_error(QY_ERR_ARG, "measure 'rbp': expected 'rbp.p=VALUE', got '%s'", text);
        double p = strtod(text + 2, &end);
        if (*end || !(p > 0 && p < 1))
            return qy_error(QY_ERR_ARG, "measure 'rbp': p must be in (0, 1), got '%s'", text + 2);
        mi->dparams = qy_mallocn(1, sizeof(double));
        if (!mi->dparams) return QY_ERR_NOMEM;
        mi->dparams[0] = p;
        mi->nparams = 1;
        mi->ptext = qy_strdup(text);
        return mi->ptext ? QY_OK : QY_ERR_NOMEM;
    }
    if (n > 64) return qy_error(QY_ERR_ARG, "measure '%s': at most 64 parameters", d->name);
    if (d->pt == PT_VALUE && n != d->nparams)
        return qy_error(QY_ERR_ARG, "measure '%s' takes %zu parameter%s, got '%s'", d->name, d->nparams,
                        d->nparams == 1 ? "" : "s", text);
    long *lc = NULL;
    double *dc = NULL;
    if (d->pt == PT_LCUT)
        lc = qy_mallocn(n, sizeof *lc);
    else
        dc = qy_mallocn(n, sizeof *dc);
    if (!lc && !dc) return QY_ERR_NOMEM;
    const char *p = text;
    for (size_t i = 0; i < n; i++) {
        char *end;
        if (lc) {
            long v = strtol(p, &end, 10);
            if (end == p || (*end && *end != ',') || v <= 0 || v > 1000000000L) {
                qy_free(lc);
                return qy_error(QY_ERR_ARG,
                                "measure '%s': expected positive integer cutoffs like '%s.5,10', got '%s'",
                                d->name, d->name, text);
            }
            lc[i] = v;
        } else {
            double v = strtod(p, &end);
            if (end == p || (*end && *end != ',') || !isfinite(v) || (d->pt == PT_DCUT && v < 0)) {
                qy_free(dc);
                return qy_error(QY_ERR_ARG, "measure '%s': expected numbers separated by commas, got '%s'",
                                d->name, text);
            }
            dc[i] = v;
        }
        p = *end ? end + 1 : end;
    }
    if (lc) {
        qsort(lc, n, sizeof *lc, cmp_long);
        for (size_t i = 1; i < n; i++)
            if (lc[i] == lc[i - 1]) {
                qy_free(lc);
                return qy_error(QY_ERR_ARG, "measure '%s': cutoff %ld given twice", d->name, lc[i - 1]);
            }
    } else if (d->pt == PT_DCUT) {
        qsort(dc, n, sizeof *dc, cmp_double);
    }
    if (d->id == M_RELSTRING && dc[0] < 0) {
        qy_free(dc);
        return qy_error(QY_ERR_ARG, "measure 'relstring': expected a length >= 0, got '%s'", text);
    }
    qy_free(mi->lcut);
    qy_free(mi->dparams);
    qy_free(mi->ptext);
    mi->lcut = lc;
    mi->dparams = dc;
    mi->nparams = n;
    mi->ptext = qy_strdup(text);
    return mi->ptext ? QY_OK : QY_ERR_NOMEM;
}

/* Marks the measures named by one -m argument ("all_trec", "P.5,10", "map"). */
static int mark_measure(meas_inst *mi, const char *arg, int version) {
    char name[64];
    const char *dot = strchr(arg, '.');
    size_t nlen = dot ? (size_t)(dot - arg) : strlen(arg);
    if (nlen >= sizeof name) return qy_error(QY_ERR_ARG, "unknown measure '%.60s'", arg);
    memcpy(name, arg, nlen);
    name[nlen] = '\0';
    unsigned nick = 0;
    if (!strcmp(name, "official"))
        nick = F_OFFICIAL;
    else if (!strcmp(name, "all_trec"))
        nick = version >= 10 ? F_ALL10 : F_ALL9;
    else if (!strcmp(name, "set"))
        nick = F_SET;
    if (nick) {
        if (dot) return qy_error(QY_ERR_ARG, "measure set '%s' takes no parameters", name);
        for (int m = 0; m < M_COUNT; m++)
            if ((g_meas[m].flags & nick) && !((g_meas[m].flags & F_ONLY10) && version < 10)) mi[m].on = 1;
        return QY_OK;
    }
    for (int m = 0; m < M_COUNT; m++) {
        if (strcmp(g_meas[m].name, name)) continue;
        if ((g_meas[m].flags & F_ONLY10) && version < 10)
            return qy_error(QY_ERR_ARG,
                            "measure '%s' exists in trec_eval 10.0 only (use --trec-eval-version 10)", name);
        mi[m].on = 1;
        if (dot) return parse_params(&mi[m], dot + 1);
        return QY_OK;
    }
    return qy_error(QY_ERR_ARG, "unknown measure '%s' (quarry eval --help lists them)", name);
}

static void insts_free(meas_inst *mi) {
    for (int m = 0; m < M_COUNT; m++) {
        qy_free(mi[m].lcut);
        qy_free(mi[m].dparams);
        qy_free(mi[m].ptext);
    }
}

static size_t inst_nparams(const meas_inst *mi) { return mi->ptext ? mi->nparams : mi->def->nparams; }
static long inst_lcut(const meas_inst *mi, size_t i) { return mi->lcut ? mi->lcut[i] : mi->def->lcut[i]; }
static double inst_dparam(const meas_inst *mi, size_t i) {
    return mi->dparams ? mi->dparams[i] : mi->def->dparams[i];
}

/* ----------------------------------------------------------- one query's list */

typedef struct ranked {
    long *rel; /* relevance per rank: value, RELVALUE_NONPOOL or RELVALUE_UNJUDGED */
    long num_ret;
    long num_rel; /* judged >= level */
    long num_rel_ret;
    long *levels;    /* judged documents per relevance value 0..num_levels-1 */
    long num_levels; /* highest value with a judged document, + 1 */
    long level;      /* relevance level (-l) */
} ranked;

typedef struct doc_ref {
    const char *docno;
    double score;
    float fscore;
} doc_ref;

static int cmp_doc_v10(const void *a, const void *b) {
    const doc_ref *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    return strcmp(y->docno, x->docno);
}

static int cmp_doc_v9(const void *a, const void *b) {
    const doc_ref *x = a, *y = b;
    if (x->fscore > y->fscore) return -1;
    if (x->fscore < y->fscore) return 1;
    return strcmp(y->docno, x->docno);
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static long judged_rel(const qy_qrels_query *qq, const char *docno) {
    size_t lo = 0, hi = qq->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(qq->j[mid].docno, docno);
        if (c == 0) return qq->j[mid].rel < 0 ? RELVALUE_UNJUDGED : qq->j[mid].rel;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return RELVALUE_NONPOOL;
}

/* Judged-document counts per relevance value. */
static int count_levels(const qy_qrels_query *qq, ranked *rr) {
    long max_rel = -1;
    for (size_t i = 0; i < qq->n; i++)
        if (qq->j[i].rel > max_rel) max_rel = qq->j[i].rel;
    rr->levels = qy_calloc((size_t)(max_rel + 2), sizeof(long));
    if (!rr->levels) return QY_ERR_NOMEM;
    for (size_t i = 0; i < qq->n; i++)
        if (qq->j[i].rel >= 0) rr->levels[qq->j[i].rel]++;
    rr->num_levels = 0;
    rr->num_rel = 0;
    for (long v = 0; v <= max_rel; v++) {
        if (rr->levels[v]) rr->num_levels = v + 1;
        if (v >= rr->level) rr->num_rel += rr->levels[v];
    }
    return QY_OK;
}

/* Builds the ranked relevance list of one query (rq NULL: the one-document
 * placeholder that -c uses for a qrels query absent from the run). */
static int form_ranked(const qy_qrels_query *qq, const qy_run_query *rq, const qy_eval_opts *o,
                       const char *run_source, ranked *rr) {
    memset(rr, 0, sizeof *rr);
    rr->level = o->relevance_level;
    int st = count_levels(qq, rr);
    if (st) return st;
    size_t n = rq ? rq->n : 1;
    rr->rel = qy_mallocn(n, sizeof(long));
    if (!rr->rel) return QY_ERR_NOMEM;
    if (!rq) {
        rr->rel[0] = RELVALUE_NONPOOL;
        rr->num_ret = 1;
        return QY_OK;
    }
    doc_ref *d = qy_mallocn(n, sizeof *d);
    const char **names = qy_mallocn(n, sizeof *names);
    if (!d || !names) {
        qy_free(d);
        qy_free(names);
        return QY_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        d[i].docno = rq->lines[i].docno;
        d[i].score = rq->lines[i].score;
        d[i].fscore = (float)rq->lines[i].score;
    }
    qsort(d, n, sizeof *d, o->trec_eval_version >= 10 ? cmp_doc_v10 : cmp_doc_v9);
    if (o->max_docs > 0 && (size_t)o->max_docs < n) n = (size_t)o->max_docs;
    for (size_t i = 0; i < n; i++) names[i] = d[i].docno;
    qsort(names, n, sizeof *names, cmp_str_ptr);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(names[i], names[i - 1])) {
            st = qy_error(QY_ERR_FORMAT,
                          "%s: query %s: document '%s' is retrieved twice (trec_eval stops here too)",
                          run_source, rq->qid, names[i]);
            break;
        }
    if (!st) {
        for (size_t i = 0; i < n; i++) {
            long r = judged_rel(qq, d[i].docno);
            rr->rel[i] = r;
            if (r >= rr->level) rr->num_rel_ret++;
        }
        rr->num_ret = (long)n;
    }
    qy_free(d);
    qy_free(names);
    return st;
}

static int is_rel(const ranked *rr, long i) { return rr->rel[i] >= rr->level; }

/* Relevance gain of a judged value (trec_eval's default gains: the value). */
static double gain_of(const ranked *rr, long rel) {
    return rel >= 0 && rel < rr->num_levels ? (double)rel : 0.0;
}

/* The ideal ranking walked one position at a time from the highest gain:
 * trec_eval's ordering of the gain levels, counts from the qrels. */
typedef struct ideal_walk {
    const ranked *rr;
    long cur, num_at;
    double gain;
} ideal_walk;

static void ideal_init(ideal_walk *w, const ranked *rr) {
    w->rr = rr;
    w->cur = rr->num_levels - 1;
    w->gain = w->cur >= 0 ? (double)w->cur : 0.0;
    w->num_at = 0;
}

static void ideal_step(ideal_walk *w) {
    w->num_at++;
    while (w->cur >= 0 && w->num_at > w->rr->levels[w->cur]) {
        w->num_at = 1;
        w->cur--;
        w->gain = w->cur >= 0 ? (double)w->cur : 0.0;
    }
}

/* -------------------------------------------------------------- the measures */

static double average_precision(const ranked *rr, long depth) {
    double sum = 0;
    long rel_so_far = 0;
    for (long i = 0; i < rr->num_ret && i < depth; i++)
        if (is_rel(rr, i)) {
            rel_so_far++;
            sum += (double)rel_so_far / (double)(i + 1);
        }
    return rel_so_far ? sum / (double)rr->num_rel : 0.0;
}

static double bpref(const ranked *rr) {
    long num_nonrel = 0, nonrel_so_far = 0;
    for (long j = 0; j < rr->level && j < rr->num_levels; j++) num_nonrel += rr->levels[j];
    double b = 0;
    for (long i = 0; i < rr->num_ret; i++) {
        long r = rr->rel[i];
        if (r < 0) continue;
        if (r < rr->level) {
            nonrel_so_far++;
        } else if (nonrel_so_far > 0) {
            long a = nonrel_so_far < rr->num_rel ? nonrel_so_far : rr->num_rel;
            long m = num_nonrel < rr->num_rel ? num_nonrel : rr->num_rel;
            b += 1.0 - (double)a / (double)m;
        } else {
            b += 1.0;
        }
    }
    return rr->num_rel ? b / (double)rr->num_rel : b;
}

static double infap(const ranked *rr) {
    long nonrel_so_far = 0, rel_so_far = 0, unjudged_so_far = 0;
    double s = 0;
    for (long j = 0; j < rr->num_ret; j++) {
        long r = rr->rel[j];
        if (r == RELVALUE_NONPOOL) continue;
        if (r == RELVALUE_UNJUDGED) {
            unjudged_so_far++;
            continue;
        }
        if (r < rr->level) {
            nonrel_so_far++;
            continue;
        }
        rel_so_far++;
        if (j == 0) {
            s += 1.0;
        } else {
            double fj = (double)j;
            s +=
                1.0 / (fj + 1.0) +
                (fj / (fj + 1.0)) * ((rel_so_far - 1 + nonrel_so_far + unjudged_so_far) / fj) *
                    ((rel_so_far - 1 + INFAP_EPSILON) / (rel_so_far - 1 + nonrel_so_far + 2 * INFAP_EPSILON));
        }
    }
    return rr->num_rel ? s / (double)rr->num_rel : s;
}

/* Number of relevant documents needed for recall p: (long)(p R + 0.9) in 9.0.x,
 * lround(p R) in 10.0. */
static long recall_cutoff(double p, long num_rel, int version) {
    return version >= 10 ? lround(p * (double)num_rel) : (long)(p * (double)num_rel + 0.9);
}

/* Interpolated precision at each recall cutoff (sorted ascending) into out. */
static void iprec_at_recall(const ranked *rr, const double *cuts, size_t n, int version, double *out) {
    long cutoffs[64];
    double local[64];
    if (n > 64) n = 64;
    for (size_t i = 0; i < n; i++) {
        cutoffs[i] = recall_cutoff(cuts[i], rr->num_rel, version);
        local[i] = 0;
    }
    long cur = (long)n - 1;
    while (cur >= 0 && cutoffs[cur] > rr->num_rel_ret) cur--;
    double precis = (double)rr->num_rel_ret / (double)rr->num_ret;
    double int_precis = precis;
    long rel_so_far = rr->num_rel_ret;
    for (long i = rr->num_ret; i > 0 && rel_so_far > 0; i--) {
        precis = (double)rel_so_far / (double)i;
        if (int_precis < precis) int_precis = precis;
        if (is_rel(rr, i - 1)) {
            while (cur >= 0 && rel_so_far == cutoffs[cur]) local[cur--] = int_precis;
            rel_so_far--;
        }
    }
    while (cur >= 0) local[cur--] = int_precis;
    memcpy(out, local, n * sizeof *out);
}

static void rprec_mult(const ranked *rr, const double *mults, size_t n, double *out) {
    long cutoffs[64];
    if (n > 64) n = 64;
    for (size_t i = 0; i < n; i++) {
        cutoffs[i] = (long)(mults[i] * (double)rr->num_rel + 0.9);
        out[i] = 0;
    }
    long cur = (long)n - 1;
    while (cur >= 0 && cutoffs[cur] > rr->num_ret) {
        out[cur] = (double)rr->num_rel_ret / (double)cutoffs[cur];
        cur--;
    }
    long rel_so_far = rr->num_rel_ret;
    for (long i = rr->num_ret; i > 0 && rel_so_far > 0; i--) {
        double precis = (double)rel_so_far / (double)i;
        while (cur >= 0 && i == cutoffs[cur]) out[cur--] = precis;
        if (is_rel(rr, i - 1)) rel_so_far--;
    }
}

/* Adds the gain of rank i (0-based) to *dcg with trec_eval's discount
 * log2(i + 2); returns the gain. */
static double dcg_add(const ranked *rr, long i, double *dcg) {
    double g = gain_of(rr, rr->rel[i]);
    if (g != 0) *dcg += g / log2((double)(i + 2));
    return g;
}

/* Adds the ideal ranking's gain at rank i (after ideal_step) to *idcg;
 * returns 1 when that gain is positive. */
static int idcg_add(const ideal_walk *w, long i, double *idcg) {
    if (w->gain <= 0.0) return 0;
    *idcg += w->gain / log2((double)(i + 2));
    return 1;
}

static double ndcg_full(const ranked *rr) {
    double dcg = 0, idcg = 0;
    for (long i = 0; i < rr->num_ret; i++) dcg_add(rr, i, &dcg);
    ideal_walk w;
    ideal_init(&w, rr);
    for (long i = 0; w.gain > 0.0; i++) {
        ideal_step(&w);
        idcg_add(&w, i, &idcg);
    }
    return idcg > 0.0 ? dcg / idcg : 0.0;
}

static void ndcg_cut(const ranked *rr, const long *cuts, size_t n, double *out) {
    for (size_t c = 0; c < n; c++) {
        double dcg = 0, idcg = 0;
        for (long i = 0; i < rr->num_ret && i < cuts[c]; i++) dcg_add(rr, i, &dcg);
        ideal_walk w;
        ideal_init(&w, rr);
        for (long i = 0; w.gain > 0.0 && i < cuts[c]; i++) {
            ideal_step(&w);
            idcg_add(&w, i, &idcg);
        }
        out[c] = idcg > 0.0 ? dcg / idcg : 0.0;
    }
}

/* ndcg_rel: the nDCG at each relevant retrieved document, averaged over the
 * relevant documents (those not retrieved count with the final nDCG). */
static double ndcg_rel(const ranked *rr) {
    double dcg = 0, idcg = 0, sum = 0;
    long num_rel_ret = 0, num_rel = 0, i = 0;
    ideal_walk w;
    ideal_init(&w, rr);
    for (; i < rr->num_ret; i++) {
        double g = dcg_add(rr, i, &dcg);
        if (w.gain > 0.0) {
            ideal_step(&w);
            num_rel += idcg_add(&w, i, &idcg);
        }
        if (g > 0) {
            sum += dcg / idcg;
            num_rel_ret++;
        }
    }
    for (; w.gain > 0.0; i++) {
        ideal_step(&w);
        num_rel += idcg_add(&w, i, &idcg);
    }
    if (idcg > 0.0) sum += (double)(num_rel - num_rel_ret) * dcg / idcg;
    return sum > 0.0 ? sum / (double)num_rel : 0.0;
}

/* Rndcg: at each change of the ideal ranking's gain, the nDCG so far enters an average. */
static void rndcg_boundary(double gain, double *old_gain, double dcg, double idcg, double *sum,
                           long *changes) {
    if (*old_gain == gain) return;
    if (idcg > 0.0) {
        *sum += dcg / idcg;
        (*changes)++;
    }
    *old_gain = gain;
}

static double rndcg(const ranked *rr) {
    if (rr->num_rel == 0) return 0.0;
    double dcg = 0, idcg = 0, sum = 0;
    long changes = 0, i = 0;
    ideal_walk w;
    ideal_init(&w, rr);
    double old_gain = w.gain;
    for (; i < rr->num_ret && w.gain > 0.0; i++) {
        ideal_step(&w);
        rndcg_boundary(w.gain, &old_gain, dcg, idcg, &sum, &changes);
        dcg_add(rr, i, &dcg);
        idcg_add(&w, i, &idcg);
    }
    if (i < rr->num_ret) {
        for (; i < rr->num_ret; i++) dcg_add(rr, i, &dcg);
        if (idcg > 0.0) {
            sum += dcg / idcg;
            changes++;
        }
    }
    for (; w.gain > 0.0; i++) {
        ideal_step(&w);
        rndcg_boundary(w.gain, &old_gain, dcg, idcg, &sum, &changes);
        idcg_add(&w, i, &idcg);
    }
    return changes ? sum / (double)changes : 0.0;
}

static double g_measure(const ranked *rr) {
    double results_g = 0, sum_results = 0, sum_ideal = 0, sum_cost = 0;
    const double min_cost = 1.0;
    long i = 0;
    ideal_walk w;
    ideal_init(&w, rr);
    for (; i < rr->num_ret && w.gain > 0.0; i++) {
        double g = gain_of(rr, rr->rel[i]);
        sum_results += g;
        ideal_step(&w);
        if (w.gain > 0.0) sum_ideal += w.gain;
        sum_cost += w.gain >= min_cost ? w.gain : min_cost;
        if (g != 0) results_g += g / log2(2 + sum_cost - sum_results);
    }
    for (; i < rr->num_ret; i++) {
        double g = gain_of(rr, rr->rel[i]);
        sum_results += g;
        sum_cost += min_cost;
        if (g != 0) results_g += g / log2(2 + sum_cost - sum_results);
    }
    while (w.gain > 0.0) {
        ideal_step(&w);
        if (w.gain > 0.0) sum_ideal += w.gain;
    }
    return sum_ideal > 0.0 ? results_g / sum_ideal : 0.0;
}

static double bin_g(const ranked *rr) {
    double sum = 0;
    long rel_so_far = 0;
    for (long i = 0; i < rr->num_ret; i++)
        if (is_rel(rr, i)) {
            rel_so_far++;
            sum += 1.0 / log2((double)(3 + i - rel_so_far));
        }
    return rel_so_far ? sum / (double)rr->num_rel : 0.0;
}

static double rbp(const ranked *rr, double p) {
    /* gains scaled to [0, 1] when they fall outside it */
    double gmin = 0, gmax = 0;
    for (long v = 0; v < rr->num_levels; v++) {
        if ((double)v < gmin) gmin = (double)v;
        if ((double)v > gmax) gmax = (double)v;
    }
    int scale = gmin < 0 || gmax > 1;
    double sum = 0, cur_p = 1.0;
    for (long i = 0; i < rr->num_ret; i++) {
        double g = gain_of(rr, rr->rel[i]);
        if (scale && rr->rel[i] >= 0 && rr->rel[i] < rr->num_levels) g = (g - gmin) / (gmax - gmin);
        if (g != 0) sum += g * cur_p;
        cur_p *= p;
    }
    return (1.0 - p) * sum;
}

static double rbp_resid(const ranked *rr) {
    double sum = 0, cur_p = 1.0;
    long unj = 0;
    for (long i = 0; i < rr->num_ret; i++) {
        if (rr->rel[i] < 0) {
            unj++;
            sum += cur_p;
        }
        cur_p *= RBP_P;
    }
    return unj ? cur_p + (1 - RBP_P) * sum : 0.0;
}

/* Relevant documents among the first k. */
static long rel_in_top(const ranked *rr, long k) {
    long n = 0;
    for (long i = 0; i < rr->num_ret && i < k; i++) n += is_rel(rr, i);
    return n;
}

static long min_l(long a, long b) { return a < b ? a : b; }

/* Fills the columns of one measure for one query; relstring goes to *text. */
static int calc_measure(const meas_inst *mi, const ranked *rr, int version, double *v, char **text) {
    size_t np = inst_nparams(mi);
    switch (mi->def->id) {
    case M_RUNID:
    case M_NUM_Q: v[0] = 0; break;
    case M_NUM_RET: v[0] = (double)rr->num_ret; break;
    case M_NUM_REL: v[0] = (double)rr->num_rel; break;
    case M_NUM_REL_RET: v[0] = (double)rr->num_rel_ret; break;
    case M_MAP: v[0] = average_precision(rr, rr->num_ret); break;
    case M_GM_MAP: {
        double ap = average_precision(rr, rr->num_ret);
        v[0] = log(ap > MIN_GEO_MEAN ? ap : MIN_GEO_MEAN);
        break;
    }
    case M_RPREC: {
        long r = rel_in_top(rr, rr->num_rel);
        v[0] = rr->num_rel ? (double)r / (double)rr->num_rel : 0.0;
        break;
    }
    case M_BPREF: v[0] = bpref(rr); break;
    case M_GM_BPREF: {
        double b = bpref(rr);
        v[0] = log(b > MIN_GEO_MEAN ? b : MIN_GEO_MEAN);
        break;
    }
    case M_RECIP_RANK:
        v[0] = 0;
        for (long i = 0; i < rr->num_ret; i++)
            if (is_rel(rr, i)) {
                v[0] = 1.0 / (double)(i + 1);
                break;
            }
        break;
    case M_IPREC_AT_RECALL: {
        double cuts[64];
        if (np > 64) np = 64;
        for (size_t c = 0; c < np; c++) cuts[c] = inst_dparam(mi, c);
        iprec_at_recall(rr, cuts, np, version, v);
        break;
    }
    case M_11PT_AVG: {
        double pts[11];
        iprec_at_recall(rr, cut_recall, 11, version, pts);
        double sum = 0;
        for (int c = 10; c >= 0; c--) sum += pts[c]; /* trec_eval adds from the top cutoff down */
        v[0] = sum / 11.0;
        break;
    }
    case M_P:
        for (size_t c = 0; c < np; c++)
            v[c] = (double)rel_in_top(rr, inst_lcut(mi, c)) / (double)inst_lcut(mi, c);
        break;
    case M_RECALL:
        for (size_t c = 0; c < np; c++)
            v[c] = rr->num_rel ? (double)rel_in_top(rr, inst_lcut(mi, c)) / (double)rr->num_rel : 0.0;
        break;
    case M_RELSTRING: {
        double want = inst_dparam(mi, 0);
        long len = want < (double)rr->num_ret ? (long)want : rr->num_ret;
        if (len < 0) len = 0;
        char *s = qy_malloc((size_t)len + 1);
        if (!s) return QY_ERR_NOMEM;
        for (long i = 0; i < len; i++) {
            long r = rr->rel[i];
            s[i] = r > 9                    ? '>'
                   : r >= 0                 ? (char)('0' + r)
                   : r == RELVALUE_NONPOOL  ? '-'
                   : r == RELVALUE_UNJUDGED ? '.'
                                            : '<';
        }
        s[len] = '\0';
        qy_free(*text);
        *text = s;
        v[0] = 0;
        break;
    }
    case M_INFAP: v[0] = infap(rr); break;
    case M_RPREC_MULT: {
        double cuts[64];
        if (np > 64) np = 64;
        for (size_t c = 0; c < np; c++) cuts[c] = inst_dparam(mi, c);
        rprec_mult(rr, cuts, np, v);
        break;
    }
    case M_UTILITY:
        v[0] = inst_dparam(mi, 0) * (double)rr->num_rel_ret +
               inst_dparam(mi, 1) * (double)(rr->num_ret - rr->num_rel_ret) +
               inst_dparam(mi, 2) * (double)(rr->num_rel - rr->num_rel_ret) +
               inst_dparam(mi, 3) * (double)(rr->num_rel_ret - rr->num_ret - rr->num_rel);
        break;
    case M_BING: v[0] = bin_g(rr); break;
    case M_G: v[0] = g_measure(rr); break;
    case M_NDCG: v[0] = ndcg_full(rr); break;
    case M_NDCG_REL: v[0] = ndcg_rel(rr); break;
    case M_RNDCG: v[0] = rndcg(rr); break;
    case M_NDCG_CUT: {
        long cuts[64];
        if (np > 64) np = 64;
        for (size_t c = 0; c < np; c++) cuts[c] = inst_lcut(mi, c);
        ndcg_cut(rr, cuts, np, v);
        break;
    }
    case M_MAP_CUT:
        for (size_t c = 0; c < np; c++) v[c] = average_precision(rr, inst_lcut(mi, c));
        break;
    case M_RELATIVE_P:
        for (size_t c = 0; c < np; c++) {
            long k = inst_lcut(mi, c), den = min_l(k, rr->num_rel);
            v[c] = den ? (double)rel_in_top(rr, k) / (double)den : 0.0;
        }
        break;
    case M_SUCCESS:
        for (size_t c = 0; c < np; c++) v[c] = rel_in_top(rr, inst_lcut(mi, c)) > 0 ? 1.0 : 0.0;
        break;
    case M_SET_P: v[0] = rr->num_ret ? (double)rr->num_rel_ret / (double)rr->num_ret : 0.0; break;
    case M_SET_RELATIVE_P: {
        long den = min_l(rr->num_ret, rr->num_rel);
        v[0] = den ? (double)rr->num_rel_ret / (double)den : 0.0;
        break;
    }
    case M_SET_RECALL: v[0] = rr->num_rel ? (double)rr->num_rel_ret / (double)rr->num_rel : 0.0; break;
    case M_SET_MAP:
        v[0] = rr->num_ret && rr->num_rel ? ((double)rr->num_rel_ret / (double)rr->num_ret) *
                                                ((double)rr->num_rel_ret / (double)rr->num_rel)
                                          : 0.0;
        break;
    case M_SET_F: {
        double beta = inst_dparam(mi, 0);
        double p = rr->num_ret ? (double)rr->num_rel_ret / (double)rr->num_ret : 0.0;
        double r = rr->num_rel ? (double)rr->num_rel_ret / (double)rr->num_rel : 0.0;
        double den = beta * beta * p + r;
        v[0] = den > 0 ? (beta * beta + 1) * p * r / den : 0.0;
        break;
    }
    case M_NUM_NONREL_JUDGED_RET: {
        long n = 0;
        for (long i = 0; i < rr->num_ret; i++) n += rr->rel[i] >= 0 && rr->rel[i] < rr->level;
        v[0] = (double)n;
        break;
    }
    case M_RBP: v[0] = rbp(rr, inst_dparam(mi, 0)); break;
    case M_RBP_RESID: v[0] = rbp_resid(rr); break;
    case M_UNJ:
        for (size_t c = 0; c < np; c++) {
            long k = inst_lcut(mi, c), unj = 0;
            for (long i = 0; i < rr->num_ret && i < k; i++) unj += rr->rel[i] < 0;
            v[c] = (double)unj / (double)k;
        }
        break;
    case M_COUNT: break;
    }
    return QY_OK;
}

/* ------------------------------------------------------------------ driver */

void qy_eval_opts_default(qy_eval_opts *o) {
    memset(o, 0, sizeof *o);
    o->trec_eval_version = 9;
    o->relevance_level = 1;
}

void qy_eval_result_free(qy_eval_result *r) {
    if (!r) return;
    for (size_t q = 0; q < r->nq; q++) {
        qy_free(r->qids[q]);
        qy_free(r->relstrings[q]);
    }
    for (size_t c = 0; r->summary_text && c < r->ncols; c++) qy_free(r->summary_text[c]);
    qy_free(r->summary_text);
    qy_free(r->qids);
    qy_free(r->relstrings);
    qy_free(r->values);
    qy_free(r->summary);
    qy_free(r->cols);
    qy_free(r->runid);
    qy_free(r);
}

/* Column names and flags of the requested measures, in trec_eval's order. */
static int layout_columns(meas_inst *mi, qy_eval_result *res) {
    size_t n = 0;
    for (int m = 0; m < M_COUNT; m++) {
        if (!mi[m].on) continue;
        mi[m].col = n;
        mi[m].ncols = mi[m].def->pt == PT_LCUT || mi[m].def->pt == PT_DCUT ? inst_nparams(&mi[m]) : 1;
        n += mi[m].ncols;
    }
    res->cols = qy_calloc(n ? n : 1, sizeof *res->cols);
    if (!res->cols) return QY_ERR_NOMEM;
    res->ncols = n;
    for (int m = 0; m < M_COUNT; m++) {
        if (!mi[m].on) continue;
        const meas_def *d = mi[m].def;
        for (size_t c = 0; c < mi[m].ncols; c++) {
            qy_eval_column *col = &res->cols[mi[m].col + c];
            if (d->pt == PT_LCUT)
                snprintf(col->name, sizeof col->name, "%s_%ld", d->name, inst_lcut(&mi[m], c));
            else if (d->pt == PT_DCUT)
                snprintf(col->name, sizeof col->name, "%s_%3.2f", d->name, inst_dparam(&mi[m], c));
            else if (mi[m].ptext)
                snprintf(col->name, sizeof col->name, "%s_%s", d->name, mi[m].ptext);
            else
                snprintf(col->name, sizeof col->name, "%s", d->name);
            col->kind = d->kind;
            col->per_query = (d->flags & F_PERQ) != 0;
            col->summary = (d->flags & F_SUMM) != 0;
        }
    }
    return QY_OK;
}

/* Appends one query's row (qid copied). */
static int add_row(qy_eval_result *res, size_t cap, const char *qid, const double *row, char *relstring) {
    QY_ASSERT(res->nq < cap);
    res->qids[res->nq] = qy_strdup(qid);
    if (!res->qids[res->nq]) return QY_ERR_NOMEM;
    res->relstrings[res->nq] = relstring;
    if (res->ncols) memcpy(res->values + res->nq * res->ncols, row, res->ncols * sizeof *row);
    res->nq++;
    return QY_OK;
}

/* Evaluates one query into row (ncols values) and *relstring. */
static int eval_query(const meas_inst *mi, const qy_qrels_query *qq, const qy_run_query *rq,
                      const qy_eval_opts *o, const char *run_source, double *row, size_t ncols,
                      char **relstring) {
    ranked rr;
    int st = form_ranked(qq, rq, o, run_source, &rr);
    for (size_t c = 0; c < ncols; c++) row[c] = 0;
    for (int m = 0; !st && m < M_COUNT; m++)
        if (mi[m].on) st = calc_measure(&mi[m], &rr, o->trec_eval_version, row + mi[m].col, relstring);
    if (!st && !rq) {
        /* the -c placeholder ranking: trec_eval then clears what it retrieved */
        for (int m = 0; m < M_COUNT; m++) {
            if (!mi[m].on) continue;
            meas_id id = mi[m].def->id;
            if (id == M_NUM_RET || id == M_UTILITY || id == M_UNJ || id == M_RBP_RESID)
                for (size_t c = 0; c < mi[m].ncols; c++) row[mi[m].col + c] = 0;
            if (id == M_RELSTRING && *relstring) (*relstring)[0] = '\0';
        }
    }
    qy_free(rr.rel);
    qy_free(rr.levels);
    return st;
}

static int summarize(const meas_inst *mi, qy_eval_result *res, const double *sum, long nq_avg, long n_in_sum,
                     const qy_run *run) {
    res->summary = qy_calloc(res->ncols ? res->ncols : 1, sizeof *res->summary);
    res->summary_text = qy_calloc(res->ncols ? res->ncols : 1, sizeof *res->summary_text);
    if (!res->summary || !res->summary_text) return QY_ERR_NOMEM;
    res->num_q = nq_avg;
    for (int m = 0; m < M_COUNT; m++) {
        if (!mi[m].on) continue;
        const meas_def *d = mi[m].def;
        for (size_t c = 0; c < mi[m].ncols; c++) {
            size_t k = mi[m].col + c;
            double s = sum[k];
            if (d->id == M_RUNID) {
                res->summary_text[k] = qy_strdup(run->runid);
                if (!res->summary_text[k]) return QY_ERR_NOMEM;
            } else if (d->id == M_NUM_Q) {
                res->summary[k] = (double)nq_avg;
            } else if (d->flags & F_GM) {
                /* queries averaged but not summed (9.0.x -c) count as the floor */
                s += (double)(nq_avg - n_in_sum) * log(MIN_GEO_MEAN);
                res->summary[k] = nq_avg ? exp(s / (double)nq_avg) : 0.0;
            } else if (d->kind == QY_EVAL_LONG) {
                res->summary[k] = s;
            } else {
                res->summary[k] = nq_avg ? s / (double)nq_avg : 0.0;
            }
        }
    }
    return QY_OK;
}

int qy_eval_compute(const qy_qrels *qrels, const qy_run *run, const qy_eval_opts *opts,
                    qy_eval_result **out) {
    *out = NULL;
    if (opts->trec_eval_version != 9 && opts->trec_eval_version != 10)
        return qy_error(QY_ERR_ARG, "trec_eval version must be 9 (9.0.x) or 10 (10.0), got %d",
                        opts->trec_eval_version);
    if (opts->relevance_level < 0)
        return qy_error(QY_ERR_ARG, "relevance level must be 0 or more, got %ld", opts->relevance_level);
    meas_inst mi[M_COUNT];
    memset(mi, 0, sizeof mi);
    for (int m = 0; m < M_COUNT; m++) mi[m].def = &g_meas[m];
    int st = QY_OK;
    if (!opts->measures || opts->num_measures == 0)
        st = mark_measure(mi, "official", opts->trec_eval_version);
    for (size_t i = 0; !st && opts->measures && i < opts->num_measures; i++)
        st = mark_measure(mi, opts->measures[i], opts->trec_eval_version);
    qy_eval_result *res = NULL;
    double *row = NULL, *sum = NULL;
    if (!st) {
        res = qy_calloc(1, sizeof *res);
        if (!res) st = QY_ERR_NOMEM;
    }
    if (!st) st = layout_columns(mi, res);
    size_t cap = qrels->nq;
    if (!st) {
        res->runid = qy_strdup(run->runid);
        res->qids = qy_calloc(cap ? cap : 1, sizeof *res->qids);
        res->relstrings = qy_calloc(cap ? cap : 1, sizeof *res->relstrings);
        res->values = qy_calloc(cap && res->ncols ? cap * res->ncols : 1, sizeof *res->values);
        row = qy_calloc(res->ncols ? res->ncols : 1, sizeof *row);
        sum = qy_calloc(res->ncols ? res->ncols : 1, sizeof *sum);
        if (!res->runid || !res->qids || !res->relstrings || !res->values || !row || !sum) st = QY_ERR_NOMEM;
    }
    if (st) {
        qy_free(row);
        qy_free(sum);
        qy_eval_result_free(res);
        insts_free(mi);
        return st;
    }
    long n_avg = 0, n_sum = 0;
    int query_failed = 0;
    for (size_t q = 0; q < qrels->nq; q++) {
        const qy_qrels_query *qq = &qrels->queries[q];
        const qy_run_query *rq = qy_run_find(run, qq->qid);
        if (!rq && !opts->complete) {
            if (opts->trec_eval_version >= 10) {
                st = qy_error(QY_ERR_FORMAT,
                              "query %s of the qrels has no documents in the run (trec_eval 10.0 stops here; "
                              "9.0.x skips it; -c counts it with zero scores)",
                              qq->qid);
                query_failed = 1;
                break;
            }
            continue; /* 9.0.x: skipped */
        }
        if (!rq && opts->trec_eval_version < 10) {
            /* 9.0.x -c: not evaluated, counts in the averages as zero */
            n_avg++;
            int stn = QY_OK;
            ranked rr;
            memset(&rr, 0, sizeof rr);
            rr.level = opts->relevance_level;
            stn = count_levels(qq, &rr);
            qy_free(rr.levels);
            if (stn) {
                st = stn;
                break;
            }
            for (int m = 0; m < M_COUNT; m++)
                if (mi[m].on && mi[m].def->id == M_NUM_REL) sum[mi[m].col] += (double)rr.num_rel;
            continue;
        }
        char *relstring = NULL;
        st = eval_query(mi, qq, rq, opts, run->source, row, res->ncols, &relstring);
        if (st) {
            qy_free(relstring);
            query_failed = st == QY_ERR_FORMAT;
            break;
        }
        if (!relstring) relstring = qy_strdup("");
        if (!relstring) {
            st = QY_ERR_NOMEM;
            break;
        }
        st = add_row(res, cap, qq->qid, row, relstring);
        if (st) {
            qy_free(relstring);
            break;
        }
        for (size_t c = 0; c < res->ncols; c++) sum[c] += row[c];
        n_avg++;
        n_sum++;
    }
    if (!st && n_sum == 0 && !opts->complete) {
        st = qy_error(QY_ERR_FORMAT, "no query has both documents in the run and judgements in the qrels "
                                     "(do the query ids match?)");
        query_failed = 1;
    }
    if (!st) st = summarize(mi, res, sum, n_avg, n_sum, run);
    if (!st) res->complete = 1;
    qy_free(row);
    qy_free(sum);
    insts_free(mi);
    if (st && !query_failed) {
        qy_eval_result_free(res);
        return st;
    }
    *out = res;
    return st;
}

/* ------------------------------------------------------------------ output */

int qy_eval_write_trec(const qy_eval_result *r, FILE *out, int per_query) {
    if (per_query) {
        for (size_t q = 0; q < r->nq; q++) {
            const double *v = r->values + q * r->ncols;
            for (size_t c = 0; c < r->ncols; c++) {
                const qy_eval_column *col = &r->cols[c];
                if (!col->per_query) continue;
                if (col->kind == QY_EVAL_TEXT)
                    fprintf(out, "%-22s\t%s\t'%s'\n", col->name, r->qids[q], r->relstrings[q]);
                else if (col->kind == QY_EVAL_LONG)
                    fprintf(out, "%-22s\t%s\t%ld\n", col->name, r->qids[q], (long)v[c]);
                else
                    fprintf(out, "%-22s\t%s\t%6.4f\n", col->name, r->qids[q], v[c]);
            }
        }
    }
    if (r->complete) {
        for (size_t c = 0; c < r->ncols; c++) {
            const qy_eval_column *col = &r->cols[c];
            if (!col->summary) continue;
            if (col->kind == QY_EVAL_TEXT)
                fprintf(out, "%-22s\tall\t%s\n", col->name, r->summary_text[c] ? r->summary_text[c] : "");
            else if (col->kind == QY_EVAL_LONG)
                fprintf(out, "%-22s\tall\t%ld\n", col->name, (long)r->summary[c]);
            else
                fprintf(out, "%-22s\tall\t%6.4f\n", col->name, r->summary[c]);
        }
    }
    if (fflush(out) != 0 || ferror(out)) return qy_error(QY_ERR_IO, "cannot write the evaluation output");
    return QY_OK;
}

static int add_values(cJSON *obj, const qy_eval_result *r, const double *v, const char *relstring,
                      int summary) {
    for (size_t c = 0; c < r->ncols; c++) {
        const qy_eval_column *col = &r->cols[c];
        if (summary ? !col->summary : !col->per_query) continue;
        cJSON *item;
        if (col->kind == QY_EVAL_TEXT)
            item = cJSON_CreateString(summary ? (r->summary_text[c] ? r->summary_text[c] : "") : relstring);
        else
            item = cJSON_CreateNumber(v[c]);
        if (!item || !cJSON_AddItemToObject(obj, col->name, item)) {
            cJSON_Delete(item);
            return QY_ERR_NOMEM;
        }
    }
    return QY_OK;
}

cJSON *qy_eval_to_json(const qy_eval_result *r, int per_query) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = cJSON_AddStringToObject(o, "runid", r->runid ? r->runid : "") != NULL &&
             cJSON_AddNumberToObject(o, "num_q", (double)r->num_q) != NULL;
    if (ok && r->complete) {
        cJSON *all = cJSON_AddObjectToObject(o, "all");
        ok = all && add_values(all, r, r->summary, "", 1) == QY_OK;
    }
    if (ok && per_query) {
        cJSON *qs = cJSON_AddObjectToObject(o, "queries");
        ok = qs != NULL;
        for (size_t q = 0; ok && q < r->nq; q++) {
            cJSON *one = cJSON_AddObjectToObject(qs, r->qids[q]);
            ok = one && add_values(one, r, r->values + q * r->ncols, r->relstrings[q], 0) == QY_OK;
        }
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

size_t qy_eval_measure_help(char *buf, size_t cap) {
    size_t n = 0;
    char line[200];
    const char *head = "  official        runid num_q num_ret num_rel num_rel_ret map gm_map Rprec bpref\n"
                       "                  recip_rank iprec_at_recall P (the default)\n"
                       "  all_trec        every measure below (rbp, rbp_resid, unj only with 10.0)\n"
                       "  set             the set measures\n";
    for (int m = -1; m < M_COUNT; m++) {
        const char *piece = head;
        if (m >= 0) {
            snprintf(line, sizeof line, "  %-22s %s\n", g_meas[m].name, g_meas[m].help);
            piece = line;
        }
        size_t len = strlen(piece);
        if (buf && n + len < cap) memcpy(buf + n, piece, len + 1);
        n += len;
    }
    if (buf && cap && n >= cap) buf[0] = '\0';
    return n;
}
