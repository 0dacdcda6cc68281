/* search.c — BM25 top-k search as Lucene 8's BM25Similarity scores it.
 *
 * Per query term t with document frequency df over N documents that have the
 * field (Lucene's docCount; deleted documents count until merged away, as in
 * Lucene):
 *   idf_t    = (float) ln(1 + (N - df + 0.5) / (df + 0.5))           (double, then float)
 *   weight_t = qtf * idf_t                                           (float)
 *   ninv(d)  = 1f / (k1 * ((1 - b) + b * L(d) / avgdl))              (float)
 *   s_t(d)   = weight_t - weight_t / (1f + tf * ninv(d))             (float)
 *   score(d) = (float) sum_t s_t(d), summed in double in query-term order
 * L(d) is the document length after Lucene's one-byte encoding
 * (SmallFloat.intToByte4) unless exact lengths are asked for.
 *
 * Disjunctive queries run document-at-a-time MaxScore with block-max bounds;
 * exhaustive mode scores term-at-a-time into accumulators. Both sum a
 * document's term scores in the same order and admit hits by the same rule
 * (higher score, then earlier document), so their results are identical. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/reader.h"
#include "text/analyzer.h"

typedef struct qterm {
    const char *text;
    uint32_t len, qtf;
    uint64_t df;  /* over all segments */
    float weight; /* qtf * idf */
} qterm;

typedef struct seg_term {
    uint32_t canon; /* index into the query's terms */
    uint32_t tindex;
    double ub; /* upper bound of s_t over the term's postings in this segment (inflated) */
    qy_cursor *cur;
} seg_term;

typedef struct heap {
    qy_hit *h;
    size_t n, k;
} heap;

struct qy_searcher {
    const qy_index *ix;
    qy_analyzer *an;
    qterm *q;
    size_t nq, cap_q;
    seg_term *st;
    qy_cursor *cursors;
    size_t cap_st;
    double *acc;
    uint32_t *matched;
    size_t cap_acc;
    double *parts;
    double *prefix; /* MaxScore: sums of upper bounds */
    uint8_t *present;
    float ninv[256]; /* per norm byte */
    float k1, b;
    int exact;
};

void qy_search_params_default(qy_search_params *p) {
    memset(p, 0, sizeof *p);
    p->k = 10;
    p->k1 = 0.9f;
    p->b = 0.4f;
}

int qy_searcher_new(const qy_index *ix, qy_searcher **out) {
    *out = NULL;
    qy_searcher *s = qy_calloc(1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    s->ix = ix;
    int st = qy_analyzer_new(&ix->m.analyzer, &s->an);
    if (st) {
        qy_free(s);
        return st;
    }
    *out = s;
    return QY_OK;
}

void qy_searcher_free(qy_searcher *s) {
    if (!s) return;
    qy_analyzer_free(s->an);
    qy_free(s->q);
    qy_free(s->st);
    qy_free(s->cursors);
    qy_free(s->acc);
    qy_free(s->matched);
    qy_free(s->parts);
    qy_free(s->prefix);
    qy_free(s->present);
    qy_free(s);
}

/* ------------------------------------------------------------ scoring */

static inline float term_score(float w, uint32_t tf, float ninv) { return w - w / (1.0f + (float)tf * ninv); }

static inline float ninv_of_len(const qy_searcher *s, uint32_t len) {
    if (!s->exact) return s->ninv[qy_len_to_norm(len)];
    return 1.0f / (s->k1 * ((1.0f - s->b) + s->b * (float)len / s->ix->avgdl));
}

static inline float doc_ninv(const qy_searcher *s, const qy_segment *seg, uint32_t d) {
    return s->exact ? ninv_of_len(s, seg->lens[d]) : s->ninv[seg->norms[d]];
}

/* bounds are inflated so that float rounding can never push a true score above them */
static inline double inflate(float x) { return (double)x * (1.0 + 1e-6) + 1e-12; }

static double block_ub(const qy_searcher *s, const qy_cursor *c, uint32_t b, float w) {
    const qy_seg_block *bl = &c->blocks[b];
    return inflate(term_score(w, bl->max_tf, ninv_of_len(s, bl->min_len)));
}

/* ------------------------------------------------------------ heap */

/* a worse than b: lower score, or equal score and later in index order */
static inline int worse(const qy_hit *a, const qy_hit *b) {
    if (a->score != b->score) return a->score < b->score;
    if (a->seg != b->seg) return a->seg > b->seg;
    return a->doc > b->doc;
}

static void heap_sift_down(heap *h, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && worse(&h->h[l], &h->h[m])) m = l;
        if (r < h->n && worse(&h->h[r], &h->h[m])) m = r;
        if (m == i) return;
        qy_hit t = h->h[i];
        h->h[i] = h->h[m];
        h->h[m] = t;
        i = m;
    }
}

/* documents arrive in index order, so a tie with the worst hit loses */
static inline void heap_offer(heap *h, uint32_t seg, uint32_t doc, float score) {
    qy_hit x = {seg, doc, score};
    if (h->n < h->k) {
        size_t i = h->n++;
        h->h[i] = x;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!worse(&h->h[i], &h->h[p])) break;
            qy_hit t = h->h[i];
            h->h[i] = h->h[p];
            h->h[p] = t;
            i = p;
        }
        return;
    }
    if (score <= h->h[0].score) return;
    h->h[0] = x;
    heap_sift_down(h, 0);
}

static inline double heap_threshold(const heap *h) { return h->n < h->k ? -INFINITY : (double)h->h[0].score; }

static int cmp_hits(const void *a, const void *b) {
    const qy_hit *x = a, *y = b;
    if (worse(x, y)) return 1;
    if (worse(y, x)) return -1;
    return 0;
}

/* ------------------------------------------------------------ query */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return QY_OK;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) nc *= 2;
    void *np = qy_reallocn(*p, nc, elem);
    if (!np) return QY_ERR_NOMEM;
    *p = np;
    *cap = nc;
    return QY_OK;
}

/* analyze the query into distinct terms (first-appearance order) with counts */
static int prepare_query(qy_searcher *s, const char *query) {
    const qy_token *t;
    size_t n;
    s->nq = 0;
    int st = qy_analyzer_run(s->an, query, strlen(query), &t, &n);
    if (st) return st;
    if ((st = grow((void **)&s->q, &s->cap_q, n ? n : 1, sizeof *s->q))) return st;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < s->nq && !(s->q[j].len == t[i].len && memcmp(s->q[j].text, t[i].text, t[i].len) == 0)) j++;
        if (j < s->nq) {
            s->q[j].qtf++;
            continue;
        }
        s->q[s->nq++] = (qterm){t[i].text, t[i].len, 1, 0, 0};
    }
    const qy_index *ix = s->ix;
    double N = (double)ix->field_docs;
    for (size_t j = 0; j < s->nq; j++) {
        uint64_t df = 0;
        for (size_t g = 0; g < ix->m.nsegs; g++) {
            int64_t ti = qy_segment_find(ix->m.segs[g].seg, s->q[j].text, s->q[j].len);
            if (ti >= 0) df += ix->m.segs[g].seg->terms[ti].df;
        }
        s->q[j].df = df;
        float idf = (float)log(1.0 + (N - (double)df + 0.5) / ((double)df + 0.5));
        s->q[j].weight = (float)s->q[j].qtf * idf;
    }
    size_t need = s->nq ? s->nq : 1;
    if (need > s->cap_st) { /* per-term scratch, grown together */
        size_t cap = need * 2;
        seg_term *nst = qy_reallocn(s->st, cap, sizeof *nst);
        if (nst) s->st = nst;
        qy_cursor *nc = qy_reallocn(s->cursors, cap, sizeof *nc);
        if (nc) s->cursors = nc;
        double *np = qy_reallocn(s->parts, cap, sizeof *np);
        if (np) s->parts = np;
        double *pf = qy_reallocn(s->prefix, cap, sizeof *pf);
        if (pf) s->prefix = pf;
        uint8_t *pr = qy_realloc(s->present, cap);
        if (pr) s->present = pr;
        if (!nst || !nc || !np || !pf || !pr) return QY_ERR_NOMEM;
        s->cap_st = cap;
    }
    return QY_OK;
}

/* terms of the query present in segment g, with cursors; returns how many */
static size_t open_segment_terms(qy_searcher *s, uint32_t g) {
    const qy_segment *seg = s->ix->m.segs[g].seg;
    size_t m = 0;
    for (size_t j = 0; j < s->nq; j++) {
        if (s->q[j].df == 0) continue;
        int64_t ti = qy_segment_find(seg, s->q[j].text, s->q[j].len);
        if (ti < 0) continue;
        seg_term *e = &s->st[m];
        e->canon = (uint32_t)j;
        e->tindex = (uint32_t)ti;
        e->cur = &s->cursors[m];
        qy_cursor_init(e->cur, seg, (uint32_t)ti);
        double ub = 0;
        for (uint32_t b = 0; b < e->cur->nblocks; b++) {
            double x = block_ub(s, e->cur, b, s->q[j].weight);
            if (x > ub) ub = x;
        }
        e->ub = ub;
        m++;
    }
    return m;
}

/* the document's score from its parts, in query-term order */
static inline float final_score(const qy_searcher *s) {
    double sum = 0;
    for (size_t j = 0; j < s->nq; j++)
        if (s->present[j]) sum += s->parts[j];
    return (float)sum;
}

static int cmp_ub(const void *a, const void *b) {
    const seg_term *x = a, *y = b;
    if (x->ub != y->ub) return x->ub < y->ub ? -1 : 1;
    return x->canon < y->canon ? -1 : x->canon > y->canon;
}

/* MaxScore over one segment: terms sorted by upper bound; those whose
 * bounds sum to at most the threshold are "non-essential" and only probed
 * for documents that an essential term brings up, with block-max bounds. */
static void maxscore_segment(qy_searcher *s, uint32_t g, heap *h, uint64_t *scored) {
    const qy_seg_entry *e = &s->ix->m.segs[g];
    const qy_segment *seg = e->seg;
    size_t m = open_segment_terms(s, g);
    if (m == 0) return;
    qsort(s->st, m, sizeof *s->st, cmp_ub);
    double *prefix = s->prefix;
    double acc = 0;
    for (size_t i = 0; i < m; i++) {
        acc += s->st[i].ub;
        prefix[i] = acc * (1.0 + 1e-12);
    }
    size_t fe = 0; /* first essential term */
    double theta = heap_threshold(h);
    while (fe < m && prefix[fe] <= theta) fe++;
    memset(s->present, 0, s->nq);
    while (fe < m) {
        uint32_t d = QY_DOC_END;
        for (size_t i = fe; i < m; i++)
            if (s->st[i].cur->doc < d) d = s->st[i].cur->doc;
        if (d == QY_DOC_END) break;
        int skip = qy_seg_is_deleted(e, d);
        double bound = 0;
        if (!skip) {
            float ninv = doc_ninv(s, seg, d);
            for (size_t i = fe; i < m; i++) {
                seg_term *t = &s->st[i];
                if (t->cur->doc != d) continue;
                double x = term_score(s->q[t->canon].weight, qy_cursor_tf(t->cur), ninv);
                s->parts[t->canon] = x;
                s->present[t->canon] = 1;
                bound += x;
            }
            bound += fe ? prefix[fe - 1] : 0;
            for (size_t i = fe; i-- > 0 && !skip;) {
                if (bound * (1.0 + 1e-12) <= theta) {
                    skip = 1;
                    break;
                }
                seg_term *t = &s->st[i];
                uint32_t b = qy_cursor_shallow(t->cur, d);
                double bub = b < t->cur->nblocks ? block_ub(s, t->cur, b, s->q[t->canon].weight) : 0;
                if (bub < t->ub)
                    bound += bub - t->ub; /* block bound is tighter */
                else
                    bub = t->ub;
                if (bound * (1.0 + 1e-12) <= theta) {
                    skip = 1;
                    break;
                }
                if (b < t->cur->nblocks && qy_cursor_advance(t->cur, d) == d) {
                    double x = term_score(s->q[t->canon].weight, qy_cursor_tf(t->cur), ninv);
                    s->parts[t->canon] = x;
                    s->present[t->canon] = 1;
                    bound += x - bub;
                } else {
                    bound -= bub;
                }
            }
            if (!skip && bound * (1.0 + 1e-12) <= theta) skip = 1;
            if (!skip) {
                float sc = final_score(s);
                (*scored)++;
                heap_offer(h, g, d, sc);
                double nt = heap_threshold(h);
                if (nt > theta) {
                    theta = nt;
                    while (fe < m && prefix[fe] <= theta) fe++;
                }
            }
        }
        for (size_t i = 0; i < m; i++) s->present[s->st[i].canon] = 0;
        for (size_t i = fe; i < m; i++)
            if (s->st[i].cur->doc == d) qy_cursor_next(s->st[i].cur);
        /* terms that became non-essential keep their position: fine, they
         * are only advanced forward */
    }
}

static int cmp_df(const void *a, const void *b) {
    const seg_term *x = a, *y = b;
    uint32_t dx = x->cur->df, dy = y->cur->df;
    if (dx != dy) return dx < dy ? -1 : 1;
    return x->canon < y->canon ? -1 : x->canon > y->canon;
}

/* every query term must match: leapfrog from the rarest term */
static void conjunctive_segment(qy_searcher *s, uint32_t g, heap *h, uint64_t *scored) {
    const qy_seg_entry *e = &s->ix->m.segs[g];
    size_t nreal = 0;
    for (size_t j = 0; j < s->nq; j++) nreal += s->q[j].df > 0;
    if (nreal < s->nq || s->nq == 0) return; /* a term nowhere in the index: no match */
    size_t m = open_segment_terms(s, g);
    if (m < s->nq) return;
    qsort(s->st, m, sizeof *s->st, cmp_df);
    memset(s->present, 0, s->nq);
    uint32_t d = s->st[0].cur->doc;
    while (d != QY_DOC_END) {
        size_t i = 1;
        for (; i < m; i++) {
            uint32_t x = qy_cursor_advance(s->st[i].cur, d);
            if (x != d) break;
        }
        if (i < m) {
            uint32_t x = s->st[i].cur->doc;
            d = x == QY_DOC_END ? QY_DOC_END : qy_cursor_advance(s->st[0].cur, x);
            continue;
        }
        if (!qy_seg_is_deleted(e, d)) {
            float ninv = doc_ninv(s, e->seg, d);
            for (size_t k = 0; k < m; k++) {
                seg_term *t = &s->st[k];
                s->parts[t->canon] = term_score(s->q[t->canon].weight, qy_cursor_tf(t->cur), ninv);
                s->present[t->canon] = 1;
            }
            (*scored)++;
            heap_offer(h, g, d, final_score(s));
        }
        d = qy_cursor_next(s->st[0].cur);
    }
}

/* the reference: every posting of every term, accumulated term by term */
static int exhaustive_segment(qy_searcher *s, uint32_t g, heap *h, int conjunctive, uint64_t *scored) {
    const qy_seg_entry *e = &s->ix->m.segs[g];
    const qy_segment *seg = e->seg;
    size_t m = open_segment_terms(s, g);
    size_t need = seg->ndocs ? seg->ndocs : 1;
    if (need > s->cap_acc) {
        double *a = qy_reallocn(s->acc, need, sizeof *a);
        if (!a) return QY_ERR_NOMEM;
        s->acc = a;
        uint32_t *mt = qy_reallocn(s->matched, need, sizeof *mt);
        if (!mt) return QY_ERR_NOMEM;
        s->matched = mt;
        s->cap_acc = need;
    }
    memset(s->acc, 0, seg->ndocs * sizeof *s->acc);
    memset(s->matched, 0, seg->ndocs * sizeof *s->matched);
    /* in query-term order: open_segment_terms keeps it */
    for (size_t i = 0; i < m; i++) {
        seg_term *t = &s->st[i];
        float w = s->q[t->canon].weight;
        for (uint32_t d = t->cur->doc; d != QY_DOC_END; d = qy_cursor_next(t->cur)) {
            s->acc[d] += term_score(w, qy_cursor_tf(t->cur), doc_ninv(s, seg, d));
            s->matched[d]++;
        }
    }
    uint32_t want = conjunctive ? (uint32_t)s->nq : 1;
    if (conjunctive && m < s->nq) return QY_OK;
    for (uint32_t d = 0; d < seg->ndocs; d++) {
        if (s->matched[d] < want || qy_seg_is_deleted(e, d)) continue;
        (*scored)++;
        heap_offer(h, g, d, (float)s->acc[d]);
    }
    return QY_OK;
}

int qy_searcher_search(qy_searcher *s, const char *query, const qy_search_params *p, qy_hit *hits,
                       size_t *nhits, uint64_t *scored) {
    *nhits = 0;
    if (scored) *scored = 0;
    if (p->k < 1) return qy_error(QY_ERR_ARG, "search: k must be >= 1 (got %d)", p->k);
    if (!(p->k1 >= 0) || !(p->b >= 0 && p->b <= 1))
        return qy_error(QY_ERR_ARG, "search: BM25 needs k1 >= 0 and 0 <= b <= 1 (got k1=%g b=%g)", p->k1,
                        p->b);
    int st = prepare_query(s, query);
    if (st) return st;
    s->k1 = p->k1;
    s->b = p->b;
    s->exact = p->exact_lengths;
    for (int i = 0; i < 256; i++) {
        float len = (float)qy_norm_to_len((uint8_t)i);
        s->ninv[i] = 1.0f / (p->k1 * ((1.0f - p->b) + p->b * len / s->ix->avgdl));
    }
    heap h = {hits, 0, (size_t)p->k};
    uint64_t cnt = 0;
    for (uint32_t g = 0; g < s->ix->m.nsegs && !st; g++) {
        if (p->exhaustive)
            st = exhaustive_segment(s, g, &h, p->conjunctive, &cnt);
        else if (p->conjunctive)
            conjunctive_segment(s, g, &h, &cnt);
        else
            maxscore_segment(s, g, &h, &cnt);
    }
    if (st) return st;
    qsort(hits, h.n, sizeof *hits, cmp_hits);
    *nhits = h.n;
    if (scored) *scored = cnt;
    return QY_OK;
}

/* ------------------------------------------------------------ snippets */

int qy_searcher_snippet(qy_searcher *s, const char *query, const char *text, size_t max_bytes, char **out) {
    *out = NULL;
    int st = prepare_query(s, query);
    if (st) return st;
    /* copy the query terms: the analyzer's buffers are reused for the text */
    size_t total = 0;
    for (size_t j = 0; j < s->nq; j++) total += s->q[j].len + 1;
    char *qbuf = qy_malloc(total + 1);
    if (!qbuf) return QY_ERR_NOMEM;
    size_t o = 0;
    for (size_t j = 0; j < s->nq; j++) {
        memcpy(qbuf + o, s->q[j].text, s->q[j].len);
        s->q[j].text = qbuf + o;
        o += s->q[j].len + 1;
    }
    const qy_token *t;
    size_t n;
    size_t len = strlen(text);
    st = qy_analyzer_run(s->an, text, len, &t, &n);
    size_t start = 0;
    for (size_t i = 0; !st && i < n; i++) {
        int hit = 0;
        for (size_t j = 0; j < s->nq && !hit; j++)
            hit = s->q[j].len == t[i].len && memcmp(s->q[j].text, t[i].text, t[i].len) == 0;
        if (hit) {
            start = t[i].start > max_bytes / 4 ? t[i].start - max_bytes / 4 : 0;
            break;
        }
    }
    qy_free(qbuf);
    if (st) return st;
    while (start > 0 && ((unsigned char)text[start] & 0xC0) == 0x80) start--;
    size_t end = start + max_bytes < len ? start + max_bytes : len;
    while (end < len && end > start && ((unsigned char)text[end] & 0xC0) == 0x80) end--;
    char *r = qy_malloc(end - start + 7);
    if (!r) return QY_ERR_NOMEM;
    size_t w = 0;
    if (start > 0) w += (size_t)sprintf(r, "...");
    for (size_t i = start; i < end; i++) r[w++] = (text[i] == '\n' || text[i] == '\t') ? ' ' : text[i];
    if (end < len) memcpy(r + w, "...", 3), w += 3;
    r[w] = '\0';
    *out = r;
    return QY_OK;
}
