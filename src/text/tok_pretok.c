/* tok_pretok.c — pre-tokenisers of tokenizer.json: ByteLevel, Split (regex or
 * string, every `behavior`, `invert`), Metaspace, Whitespace, WhitespaceSplit,
 * BertPreTokenizer, Digits, Punctuation, CharDelimiterSplit, Sequence.
 *
 * Splitting follows `tokenizers`' rules: the pattern's matches (a regex's
 * non-overlapping matches, or each char a predicate accepts) and the gaps
 * between them form a list of (range, is_match); the behaviour then removes,
 * isolates or merges the matches; empty pieces are dropped.
 *
 * ByteLevel's GPT-2 pattern is run by a hand-written scanner (tok_gpt2_split)
 * that gives the same pieces as PCRE2 on the pattern (tests hold it to that). */
#include <pthread.h>
#include <string.h>
#include <utf8proc.h>

#include "text/tok_internal.h"

int tok_pieces_push(tok_pieces *ps, tok_piece p) {
    if (ps->n == ps->cap) {
        size_t nc = ps->cap ? ps->cap * 2 : 64;
        tok_piece *v = qy_reallocn(ps->v, nc, sizeof *v);
        if (!v) return QY_ERR_NOMEM;
        ps->v = v;
        ps->cap = nc;
    }
    ps->v[ps->n++] = p;
    return QY_OK;
}

void tok_pieces_free(tok_pieces *ps) {
    qy_free(ps->v);
    memset(ps, 0, sizeof *ps);
}

tok_piece tok_piece_sub(const tok_piece *p, size_t b, size_t e) {
    tok_piece q = *p;
    q.s = p->s + b;
    q.len = e - b;
    if (p->ast) {
        q.ast = p->ast + b;
        q.aen = p->aen + b;
    } else
        q.off = p->off + b;
    return q;
}

int tok_piece_materialize(qy_arena *a, tok_piece *p) {
    if (p->ast) return QY_OK;
    size_t n = p->len ? p->len : 1;
    uint32_t *as = qy_arena_alloc(a, n * sizeof *as, 4), *ae = qy_arena_alloc(a, n * sizeof *ae, 4);
    if (!as || !ae) return QY_ERR_NOMEM;
    for (size_t i = 0; i < p->len; i++) {
        as[i] = (uint32_t)(p->off + i);
        ae[i] = (uint32_t)(p->off + i + 1);
    }
    p->ast = as;
    p->aen = ae;
    return QY_OK;
}

/* ------------------------------------------------------------ matches */

typedef struct span {
    size_t b, e;
    int match;
} span;

typedef struct spans {
    span *v;
    size_t n, cap;
} spans;

static int spans_push(spans *s, size_t b, size_t e, int match) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 32;
        span *v = qy_reallocn(s->v, nc, sizeof *v);
        if (!v) return QY_ERR_NOMEM;
        s->v = v;
        s->cap = nc;
    }
    s->v[s->n++] = (span){b, e, match};
    return QY_OK;
}

static int find_regex(const tok_regex *re, tok_work *w, const tok_piece *p, spans *out) {
    size_t prev = 0, from = 0, ms, me;
    while (from <= p->len) {
        int r = tok_regex_next(re, w, p->s, p->len, from, &ms, &me);
        if (r < 0) return -r;
        if (r == 0) break;
        if (ms != prev && spans_push(out, prev, ms, 0)) return QY_ERR_NOMEM;
        if (spans_push(out, ms, me, 1)) return QY_ERR_NOMEM;
        prev = me;
        if (me == ms) { /* empty match: move on by one char */
            if (me >= p->len) break;
            uint32_t cp;
            from = me + (size_t)qy_utf8_decode(p->s + me, p->len - me, &cp);
        } else
            from = me;
    }
    if (prev != p->len && spans_push(out, prev, p->len, 0)) return QY_ERR_NOMEM;
    return QY_OK;
}

typedef int (*char_pred)(const tok_pretok *pt, uint32_t c);

static int find_chars(char_pred pred, const tok_pretok *pt, const tok_piece *p, spans *out) {
    size_t last = 0, i = 0;
    while (i < p->len) {
        uint32_t c;
        size_t l = (size_t)qy_utf8_decode(p->s + i, p->len - i, &c);
        if (pred(pt, c)) {
            if (last < i && spans_push(out, last, i, 0)) return QY_ERR_NOMEM;
            if (spans_push(out, i, i + l, 1)) return QY_ERR_NOMEM;
            last = i + l;
        }
        i += l;
    }
    if (last < p->len && spans_push(out, last, p->len, 0)) return QY_ERR_NOMEM;
    return QY_OK;
}

/* Apply behaviour + invert to the spans and push the resulting sub-pieces. */
static int emit_spans(const tok_piece *p, spans *sp, split_behavior beh, int invert, tok_pieces *out) {
    if (invert)
        for (size_t i = 0; i < sp->n; i++) sp->v[i].match = !sp->v[i].match;
    size_t k = 0; /* merged spans written in place */
    switch (beh) {
    case SPLIT_REMOVED:
        for (size_t i = 0; i < sp->n; i++)
            if (!sp->v[i].match) sp->v[k++] = sp->v[i];
        break;
    case SPLIT_ISOLATED: k = sp->n; break;
    case SPLIT_MERGED_PREV: {
        int prev_match = 0;
        for (size_t i = 0; i < sp->n; i++) {
            span s = sp->v[i];
            if (s.match && !prev_match && k > 0)
                sp->v[k - 1].e = s.e;
            else
                sp->v[k++] = s;
            prev_match = s.match;
        }
        break;
    }
    case SPLIT_MERGED_NEXT: {
        /* walk backwards: a match joins the piece after it */
        int prev_match = 0;
        size_t w = sp->n; /* write position from the end */
        for (size_t i = sp->n; i-- > 0;) {
            span s = sp->v[i];
            if (s.match && !prev_match && w < sp->n)
                sp->v[w].b = s.b;
            else
                sp->v[--w] = s;
            prev_match = s.match;
        }
        memmove(sp->v, sp->v + w, (sp->n - w) * sizeof *sp->v);
        k = sp->n - w;
        break;
    }
    case SPLIT_CONTIGUOUS: {
        int prev_match = 0;
        for (size_t i = 0; i < sp->n; i++) {
            span s = sp->v[i];
            if (s.match == prev_match && k > 0)
                sp->v[k - 1].e = s.e;
            else
                sp->v[k++] = s;
            prev_match = s.match;
        }
        break;
    }
    }
    for (size_t i = 0; i < k; i++)
        if (sp->v[i].e > sp->v[i].b && tok_pieces_push(out, tok_piece_sub(p, sp->v[i].b, sp->v[i].e)))
            return QY_ERR_NOMEM;
    return QY_OK;
}

static int pred_whitespace(const tok_pretok *pt, uint32_t c) { return qy_uni_is_whitespace(c); }
static int pred_punct(const tok_pretok *pt, uint32_t c) { return qy_uni_is_punct(c); }
static int pred_digit(const tok_pretok *pt, uint32_t c) { return qy_uni_is_digit(c); }
static int pred_delim(const tok_pretok *pt, uint32_t c) { return c == pt->delimiter; }
static int pred_metaspace(const tok_pretok *pt, uint32_t c) { return c == pt->replacement; }

/* ---------------------------------------------------- GPT-2 scanner */

/* the classes of the GPT-2 pattern, as PCRE2 with UCP sees them */
enum { C_SPACE = 1, C_LETTER = 2, C_NUMBER = 4 };
static uint8_t ascii_class[128];
static pthread_once_t ascii_class_once = PTHREAD_ONCE_INIT;

static void fill_ascii_class(void) {
    for (int c = 0; c < 128; c++) {
        uint8_t k = 0;
        if (c == ' ' || (c >= 9 && c <= 13))
            k = C_SPACE;
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            k = C_LETTER;
        else if (c >= '0' && c <= '9')
            k = C_NUMBER;
        ascii_class[c] = k;
    }
}

/* PCRE2's \s under UCP: Z categories and the ASCII controls 9-13; also NEL
 * (U+0085) which PCRE2 counts as vertical space. */
static int cls_of(const char *s, size_t len, size_t i, size_t *l) {
    unsigned char b = (unsigned char)s[i];
    if (b < 0x80) {
        *l = 1;
        return ascii_class[b];
    }
    uint32_t cp;
    *l = (size_t)qy_utf8_decode(s + i, len - i, &cp);
    int k = utf8proc_category((utf8proc_int32_t)cp);
    if (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) return C_LETTER;
    if (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO) return C_NUMBER;
    if ((k >= UTF8PROC_CATEGORY_ZS && k <= UTF8PROC_CATEGORY_ZP) || cp == 0x85) return C_SPACE;
    return 0;
}

/* 's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
int tok_gpt2_split(const char *s, size_t len, int (*emit)(void *ctx, size_t b, size_t e), void *ctx) {
    pthread_once(&ascii_class_once, fill_ascii_class);
    size_t i = 0;
    while (i < len) {
        size_t l, start = i;
        int c = cls_of(s, len, i, &l);
        if (s[i] == '\'' && i + 1 < len) {
            char a = s[i + 1], b = i + 2 < len ? s[i + 2] : 0;
            size_t m = 0;
            if (a == 's' || a == 't' || a == 'm' || a == 'd')
                m = 2;
            else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
                m = 3;
            if (m) {
                int r = emit(ctx, i, i + m);
                if (r) return r;
                i += m;
                continue;
            }
        }
        size_t j = i;
        if (s[i] == ' ' && i + 1 < len) {
            size_t l2;
            int c2 = cls_of(s, len, i + 1, &l2);
            if (c2 != C_SPACE) { /* " " + letters / numbers / other */
                j = i + 1;
                c = c2;
                l = l2;
            }
        }
        if (c != C_SPACE) {
            j += l;
            while (j < len) {
                int cj = cls_of(s, len, j, &l);
                if (cj != c) break;
                j += l;
            }
        } else {
            /* whitespace run [i, k); keep the last char for the next token when
             * a non-space follows and the run has more than one char */
            size_t k = i + l, last = i;
            while (k < len) {
                size_t lk;
                if (cls_of(s, len, k, &lk) != C_SPACE) break;
                last = k;
                k += lk;
            }
            j = (k < len && last > i) ? last : k;
        }
        int r = emit(ctx, start, j);
        if (r) return r;
        i = j;
    }
    return QY_OK;
}

typedef struct gpt2_emit_ctx {
    const tok_piece *p;
    tok_pieces *out;
} gpt2_emit_ctx;

static int gpt2_emit(void *vctx, size_t b, size_t e) {
    gpt2_emit_ctx *c = vctx;
    return tok_pieces_push(c->out, tok_piece_sub(c->p, b, e));
}

/* ------------------------------------------------------------- stages */

static int prefix_space(tok_work *w, tok_piece *p, const char *pre, size_t plen) {
    char *s = qy_arena_alloc(&w->arena, p->len + plen, 1);
    uint32_t *as = qy_arena_alloc(&w->arena, (p->len + plen) * sizeof *as, 4);
    uint32_t *ae = qy_arena_alloc(&w->arena, (p->len + plen) * sizeof *ae, 4);
    if (!s || !as || !ae) return QY_ERR_NOMEM;
    memcpy(s, pre, plen);
    memcpy(s + plen, p->s, p->len);
    uint32_t cp;
    size_t l = p->len ? (size_t)qy_utf8_decode(p->s, p->len, &cp) : 0;
    uint32_t st = p->len ? tok_piece_start(p, 0) : (uint32_t)p->off;
    uint32_t en = p->len ? tok_piece_end(p, l - 1) : (uint32_t)p->off;
    for (size_t i = 0; i < plen; i++) {
        as[i] = st;
        ae[i] = en;
    }
    for (size_t i = 0; i < p->len; i++) {
        as[plen + i] = tok_piece_start(p, i);
        ae[plen + i] = tok_piece_end(p, i);
    }
    p->s = s;
    p->len += plen;
    p->ast = as;
    p->aen = ae;
    return QY_OK;
}

/* Metaspace: ' ' -> replacement, maybe prefixed */
static int metaspace_rewrite(const tok_pretok *pt, tok_work *w, tok_piece *p) {
    char rep[4];
    size_t rl = (size_t)qy_utf8_encode(pt->replacement, rep);
    size_t spaces = 0;
    for (size_t i = 0; i < p->len; i++) spaces += p->s[i] == ' ';
    if (spaces) {
        size_t n = p->len + spaces * (rl - 1);
        char *s = qy_arena_alloc(&w->arena, n, 1);
        uint32_t *as = qy_arena_alloc(&w->arena, n * sizeof *as, 4),
                 *ae = qy_arena_alloc(&w->arena, n * sizeof *ae, 4);
        if (!s || !as || !ae) return QY_ERR_NOMEM;
        size_t o = 0;
        for (size_t i = 0; i < p->len; i++) {
            uint32_t st = tok_piece_start(p, i), en = tok_piece_end(p, i);
            if (p->s[i] == ' ') {
                for (size_t k = 0; k < rl; k++, o++) {
                    s[o] = rep[k];
                    as[o] = st;
                    ae[o] = en;
                }
            } else {
                s[o] = p->s[i];
                as[o] = st;
                ae[o] = en;
                o++;
            }
        }
        p->s = s;
        p->len = n;
        p->ast = as;
        p->aen = ae;
    }
    int starts = p->len >= rl && memcmp(p->s, rep, rl) == 0;
    int want = 0;
    if (pt->prepend == PREPEND_ALWAYS)
        want = !starts;
    else if (pt->prepend == PREPEND_FIRST)
        want = !starts && p->len && tok_piece_start(p, 0) == 0;
    if (want && p->len) return prefix_space(w, p, rep, rl);
    return QY_OK;
}

static int pretok_one(const tok_pretok *pt, tok_work *w, tok_piece p, tok_pieces *out) {
    spans sp = {0};
    int st = QY_OK;
    switch (pt->kind) {
    case PRE_BYTELEVEL:
        if (pt->add_prefix_space && p.len && p.s[0] != ' ') st = prefix_space(w, &p, " ", 1);
        if (st) break;
        if (!pt->use_regex) {
            st = tok_pieces_push(out, p);
            break;
        }
        if (pt->gpt2_fast) {
            gpt2_emit_ctx c = {&p, out};
            st = tok_gpt2_split(p.s, p.len, gpt2_emit, &c);
            break;
        }
        st = find_regex(&pt->pattern, w, &p, &sp);
        if (!st) st = emit_spans(&p, &sp, SPLIT_ISOLATED, 0, out);
        break;
    case PRE_SPLIT:
        st = find_regex(&pt->pattern, w, &p, &sp);
        if (!st) st = emit_spans(&p, &sp, pt->behavior, pt->invert, out);
        break;
    case PRE_WHITESPACE:
        st = find_regex(&pt->pattern, w, &p, &sp);
        if (!st) st = emit_spans(&p, &sp, SPLIT_REMOVED, 1, out);
        break;
    case PRE_WHITESPACE_SPLIT:
        st = find_chars(pred_whitespace, pt, &p, &sp);
        if (!st) st = emit_spans(&p, &sp, SPLIT_REMOVED, 0, out);
        break;
    case PRE_BERT: {
        tok_pieces mid = {0};
        st = find_chars(pred_whitespace, pt, &p, &sp);
        if (!st) st = emit_spans(&p, &sp, SPLIT_REMOVED, 0, &mid);
        for (size_t i = 0; !st && i < mid.n; i++) {
            sp.n = 0;
            st = find_chars(pred_punct, pt, &mid.v[i], &sp);
            if (!st) st = emit_spans(&mid.v[i], &sp, SPLIT_ISOLATED, 0, out);
        }
        tok_pieces_free(&mid);
        break;
    }
    case PRE_DIGITS:
        st = find_chars(pred_digit, pt, &p, &sp);
        if (!st) st = emit_spans(&p, &sp, pt->individual_digits ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS, 0, out);
        break;
    case PRE_PUNCTUATION:
        st = find_chars(pred_punct, pt, &p, &sp);
        if (!st) st = emit_spans(&p, &sp, pt->behavior, 0, out);
        break;
    case PRE_CHAR_DELIMITER:
        st = find_chars(pred_delim, pt, &p, &sp);
        if (!st) st = emit_spans(&p, &sp, SPLIT_REMOVED, 0, out);
        break;
    case PRE_METASPACE:
        st = metaspace_rewrite(pt, w, &p);
        if (st) break;
        if (!pt->split) {
            st = tok_pieces_push(out, p);
            break;
        }
        st = find_chars(pred_metaspace, pt, &p, &sp);
        if (!st) st = emit_spans(&p, &sp, SPLIT_MERGED_NEXT, 0, out);
        break;
    case PRE_SEQUENCE: st = qy_error(QY_ERR_INTERNAL, "nested sequence reached pretok_one"); break;
    }
    qy_free(sp.v);
    return st;
}

int tok_pretokenize(const tok_pretok *pt, tok_work *w, tok_pieces *ps) {
    if (pt->kind == PRE_SEQUENCE) {
        for (size_t i = 0; i < pt->nitems; i++) {
            int st = tok_pretokenize(&pt->items[i], w, ps);
            if (st) return st;
        }
        return QY_OK;
    }
    tok_pieces out = {0};
    for (size_t i = 0; i < ps->n; i++) {
        int st = ps->v[i].added_id >= 0 ? tok_pieces_push(&out, ps->v[i]) : pretok_one(pt, w, ps->v[i], &out);
        if (st) {
            tok_pieces_free(&out);
            return st;
        }
    }
    tok_pieces_free(ps);
    *ps = out;
    return QY_OK;
}

void tok_pretok_free(tok_pretok *p) {
    if (!p) return;
    tok_regex_free(&p->pattern);
    for (size_t i = 0; i < p->nitems; i++) tok_pretok_free(&p->items[i]);
    qy_free(p->items);
}
