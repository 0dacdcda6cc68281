/* trec_files.c — readers for TREC qrels ("qid iter docno rel") and six-column
 * runs ("qid iter docno rank score tag"), with messages that name the file, the
 * line and what was expected. Layout in trec_eval.h. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/trec_eval.h"

#define MAX_FILE_BYTES ((size_t)1 << 34) /* 16 GiB: refuse anything larger */
#define MAX_FIELDS 6

/* A parsed line before grouping: strings point into the arena copy of the text. */
typedef struct pending {
    const char *qid;
    const char *docno;
    double value; /* rel (qrels) or score (run) */
    size_t line;
} pending;

typedef struct pending_list {
    pending *items;
    size_t n, cap;
} pending_list;

static int pending_push(pending_list *l, pending p) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        pending *n = qy_reallocn(l->items, cap, sizeof *n);
        if (!n) return QY_ERR_NOMEM;
        l->items = n;
        l->cap = cap;
    }
    l->items[l->n++] = p;
    return QY_OK;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Split the line [s, e) in place into at most `max` fields (NUL-terminating
 * each); returns the number of fields found, counting up to max+1 so that the
 * caller can tell "more than max" (extra words are ignored, as trec_eval does). */
static size_t split_fields(char *s, char *e, char **f, size_t max) {
    size_t n = 0;
    while (s < e) {
        while (s < e && is_blank(*s)) s++;
        if (s >= e) break;
        if (n == max) return n + 1;
        f[n++] = s;
        while (s < e && !is_blank(*s)) s++;
        if (s < e) *s++ = '\0';
    }
    return n;
}

/* Copies text into the arena (NUL-terminated) and calls fn on each non-blank
 * line with its fields. */
typedef int (*line_fn)(void *ctx, char **f, size_t nf, size_t line);

static int for_each_line(qy_arena *a, const char *text, size_t len, const char *source, size_t max_fields,
                         line_fn fn, void *ctx) {
    size_t alloc;
    if (qy_size_add(len, 1, &alloc) != QY_OK) return qy_error(QY_ERR_RANGE, "%s: too large", source);
    char *buf = qy_arena_alloc(a, alloc, 1);
    if (!buf) return QY_ERR_NOMEM;
    if (len) memcpy(buf, text, len);
    buf[len] = '\0';
    char *p = buf, *end = buf + len;
    size_t line = 0;
    while (p < end) {
        line++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        if (memchr(p, '\0', (size_t)(e - p)))
            return qy_error(QY_ERR_FORMAT, "%s: line %zu: unexpected NUL byte (is this a text file?)", source,
                            line);
        char *f[MAX_FIELDS];
        *e = '\0';
        size_t nf = split_fields(p, e, f, max_fields);
        if (nf > 0) {
            int st = fn(ctx, f, nf, line);
            if (st) return st;
        }
        p = e + 1;
    }
    return QY_OK;
}

/* ------------------------------------------------------------------ qrels */

typedef struct qrels_ctx {
    const char *source;
    pending_list l;
} qrels_ctx;

static int qrels_line(void *vctx, char **f, size_t nf, size_t line) {
    qrels_ctx *c = vctx;
    if (nf < 4)
        return qy_error(QY_ERR_FORMAT, "%s: line %zu: expected 4 columns (qid iter docno rel), got %zu",
                        c->source, line, nf);
    char *end;
    errno = 0;
    long rel = strtol(f[3], &end, 10);
    if (end == f[3] || *end || errno)
        return qy_error(QY_ERR_FORMAT, "%s: line %zu: expected an integer relevance in column 4, got '%.40s'",
                        c->source, line, f[3]);
    if (rel > 1000000 || rel < -1000000)
        return qy_error(QY_ERR_FORMAT, "%s: line %zu: relevance %ld is out of range (-1000000..1000000)",
                        c->source, line, rel);
    pending p = {f[0], f[2], (double)rel, line};
    return pending_push(&c->l, p);
}

static int cmp_pending_qid_docno(const void *a, const void *b) {
    const pending *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    if (c) return c;
    c = strcmp(x->docno, y->docno);
    if (c) return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int cmp_pending_qid_line(const void *a, const void *b) {
    const pending *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    if (c) return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Number of distinct qids in a list sorted by qid. */
static size_t count_groups(const pending *p, size_t n) {
    size_t g = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(p[i].qid, p[i - 1].qid)) g++;
    return g;
}

void qy_qrels_free(qy_qrels *q) {
    if (!q) return;
    qy_arena_free(&q->arena);
    qy_free(q);
}

int qy_qrels_parse(const char *text, size_t len, const char *source, qy_qrels **out) {
    *out = NULL;
    qy_qrels *q = qy_calloc(1, sizeof *q);
    if (!q) return QY_ERR_NOMEM;
    qy_arena_init(&q->arena, (size_t)1 << 16);
    qrels_ctx c = {source, {0}};
    int st = for_each_line(&q->arena, text, len, source, 4, qrels_line, &c);
    if (!st && c.l.n == 0)
        st = qy_error(QY_ERR_FORMAT, "%s: no judgements (expected lines 'qid iter docno rel')", source);
    if (!st) {
        qsort(c.l.items, c.l.n, sizeof *c.l.items, cmp_pending_qid_docno);
        size_t ng = count_groups(c.l.items, c.l.n);
        q->queries = qy_arena_calloc(&q->arena, ng, sizeof *q->queries, 8);
        qy_judgement *j = qy_arena_calloc(&q->arena, c.l.n, sizeof *j, 8);
        if (!q->queries || !j) st = QY_ERR_NOMEM;
        for (size_t i = 0; !st && i < c.l.n; i++) {
            const pending *p = &c.l.items[i];
            if (i == 0 || strcmp(p->qid, p[-1].qid)) {
                q->queries[q->nq].qid = p->qid;
                q->queries[q->nq].j = j + i;
                q->nq++;
            } else if (!strcmp(p->docno, p[-1].docno)) {
                st = qy_error(QY_ERR_FORMAT,
                              "%s: line %zu: query %s judges document '%s' again (first on line %zu)", source,
                              p->line, p->qid, p->docno, p[-1].line);
                break;
            }
            j[i].docno = p->docno;
            j[i].rel = (long)p->value;
            q->queries[q->nq - 1].n++;
        }
        q->nlines = c.l.n;
    }
    qy_free(c.l.items);
    if (st) {
        qy_qrels_free(q);
        return st;
    }
    *out = q;
    return QY_OK;
}

static int read_whole(const char *path, char **buf, size_t *len) {
    return qy_read_file(path, MAX_FILE_BYTES, buf, len);
}

int qy_qrels_read(const char *path, qy_qrels **out) {
    char *buf;
    size_t len;
    *out = NULL;
    int st = read_whole(path, &buf, &len);
    if (st) return st;
    st = qy_qrels_parse(buf, len, path, out);
    qy_free(buf);
    return st;
}

size_t qy_qrels_num_queries(const qy_qrels *q) { return q->nq; }
size_t qy_qrels_num_judgements(const qy_qrels *q) { return q->nlines; }

const qy_qrels_query *qy_qrels_find(const qy_qrels *q, const char *qid) {
    size_t lo = 0, hi = q->nq;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(q->queries[mid].qid, qid);
        if (c == 0) return &q->queries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* -------------------------------------------------------------------- run */

typedef struct run_ctx {
    const char *source;
    pending_list l;
    const char *last_tag;
} run_ctx;

static int run_line(void *vctx, char **f, size_t nf, size_t line) {
    run_ctx *c = vctx;
    if (nf < 6)
        return qy_error(QY_ERR_FORMAT,
                        "%s: line %zu: expected 6 columns (qid iter docno rank score tag), got %zu",
                        c->source, line, nf);
    char *end;
    errno = 0;
    double score = strtod(f[4], &end);
    if (end == f[4] || *end || !isfinite(score))
        return qy_error(QY_ERR_FORMAT,
                        "%s: line %zu: expected a finite number as score in column 5, got '%.40s'", c->source,
                        line, f[4]);
    c->last_tag = f[5];
    pending p = {f[0], f[2], score, line};
    return pending_push(&c->l, p);
}

void qy_run_free(qy_run *r) {
    if (!r) return;
    qy_arena_free(&r->arena);
    qy_free(r);
}

int qy_run_parse(const char *text, size_t len, const char *source, qy_run **out) {
    *out = NULL;
    qy_run *r = qy_calloc(1, sizeof *r);
    if (!r) return QY_ERR_NOMEM;
    qy_arena_init(&r->arena, (size_t)1 << 16);
    run_ctx c = {source, {0}, NULL};
    int st = for_each_line(&r->arena, text, len, source, 6, run_line, &c);
    if (!st && c.l.n == 0)
        st =
            qy_error(QY_ERR_FORMAT, "%s: empty run (expected lines 'qid iter docno rank score tag')", source);
    if (!st) {
        qsort(c.l.items, c.l.n, sizeof *c.l.items, cmp_pending_qid_line);
        size_t ng = count_groups(c.l.items, c.l.n);
        r->queries = qy_arena_calloc(&r->arena, ng, sizeof *r->queries, 8);
        qy_run_line *lines = qy_arena_calloc(&r->arena, c.l.n, sizeof *lines, 8);
        if (!r->queries || !lines) st = QY_ERR_NOMEM;
        for (size_t i = 0; !st && i < c.l.n; i++) {
            const pending *p = &c.l.items[i];
            if (i == 0 || strcmp(p->qid, p[-1].qid)) {
                r->queries[r->nq].qid = p->qid;
                r->queries[r->nq].lines = lines + i;
                r->nq++;
            }
            lines[i].docno = p->docno;
            lines[i].score = p->value;
            r->queries[r->nq - 1].n++;
        }
        r->nlines = c.l.n;
        r->runid = c.last_tag;
        r->source = qy_arena_strdup(&r->arena, source);
        if (!r->source) st = QY_ERR_NOMEM;
    }
    qy_free(c.l.items);
    if (st) {
        qy_run_free(r);
        return st;
    }
    *out = r;
    return QY_OK;
}

int qy_run_read(const char *path, qy_run **out) {
    char *buf;
    size_t len;
    *out = NULL;
    int st = read_whole(path, &buf, &len);
    if (st) return st;
    st = qy_run_parse(buf, len, path, out);
    qy_free(buf);
    return st;
}

const char *qy_run_id(const qy_run *r) { return r->runid; }
size_t qy_run_num_lines(const qy_run *r) { return r->nlines; }

const qy_run_query *qy_run_find(const qy_run *r, const char *qid) {
    size_t lo = 0, hi = r->nq;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->queries[mid].qid, qid);
        if (c == 0) return &r->queries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
