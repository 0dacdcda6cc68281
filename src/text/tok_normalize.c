/* tok_normalize.c — normalisers of tokenizer.json (NFC/NFD/NFKC/NFKD,
 * Lowercase, Prepend, Append, Replace, Strip, StripAccents, BertNormalizer,
 * Sequence). Each rewrites a piece and keeps, for every output byte, the range
 * of original bytes it came from: a char's replacement inherits the char's
 * range, inserted text the range of the char it was attached to. */
#include <string.h>
#include <utf8proc.h>

#include "text/tok_internal.h"

/* output under construction, storage in the arena (doubling, old blocks are
 * simply left in the arena until the call ends) */
typedef struct nbuf {
    qy_arena *a;
    char *s;
    uint32_t *ast, *aen;
    size_t len, cap;
} nbuf;

static int nb_init(nbuf *b, qy_arena *a, size_t cap) {
    b->a = a;
    b->len = 0;
    b->cap = cap < 16 ? 16 : cap;
    b->s = qy_arena_alloc(a, b->cap, 1);
    b->ast = qy_arena_alloc(a, b->cap * sizeof(uint32_t), 4);
    b->aen = qy_arena_alloc(a, b->cap * sizeof(uint32_t), 4);
    return b->s && b->ast && b->aen ? QY_OK : QY_ERR_NOMEM;
}

static int nb_put(nbuf *b, const char *bytes, size_t n, uint32_t st, uint32_t en) {
    if (b->len + n > b->cap) {
        size_t nc = b->cap * 2;
        while (nc < b->len + n) nc *= 2;
        char *s = qy_arena_alloc(b->a, nc, 1);
        uint32_t *as = qy_arena_alloc(b->a, nc * sizeof(uint32_t), 4);
        uint32_t *ae = qy_arena_alloc(b->a, nc * sizeof(uint32_t), 4);
        if (!s || !as || !ae) return QY_ERR_NOMEM;
        memcpy(s, b->s, b->len);
        memcpy(as, b->ast, b->len * sizeof(uint32_t));
        memcpy(ae, b->aen, b->len * sizeof(uint32_t));
        b->s = s;
        b->ast = as;
        b->aen = ae;
        b->cap = nc;
    }
    memcpy(b->s + b->len, bytes, n);
    for (size_t i = 0; i < n; i++) {
        b->ast[b->len + i] = st;
        b->aen[b->len + i] = en;
    }
    b->len += n;
    return QY_OK;
}

/* copy bytes [i, i+n) of p keeping their alignment */
static int nb_copy(nbuf *b, const tok_piece *p, size_t i, size_t n) {
    size_t at = b->len;
    int st = nb_put(b, p->s + i, n, 0, 0);
    if (st) return st;
    for (size_t k = 0; k < n; k++) {
        b->ast[at + k] = tok_piece_start(p, i + k);
        b->aen[at + k] = tok_piece_end(p, i + k);
    }
    return QY_OK;
}

static int nb_cp(nbuf *b, uint32_t cp, uint32_t st, uint32_t en) {
    char u[4];
    return nb_put(b, u, (size_t)qy_utf8_encode(cp, u), st, en);
}

static void nb_finish(nbuf *b, tok_piece *p) {
    p->s = b->s;
    p->len = b->len;
    p->ast = b->ast;
    p->aen = b->aen;
}

static int is_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

/* ------------------------------------------------------ Unicode forms */

static utf8proc_option_t form_options(norm_kind k) {
    switch (k) {
    case NORM_NFC: return UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    case NORM_NFD: return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
    case NORM_NFKC: return UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    default: return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
    }
}

/* normalise s[0..n) into UTF-32 (arena), returns count or -status */
static long form_utf32(qy_arena *a, const char *s, size_t n, utf8proc_option_t opt, utf8proc_int32_t **out) {
    size_t cap = n * 4 + 16;
    for (int attempt = 0; attempt < 4; attempt++) {
        utf8proc_int32_t *buf = qy_arena_alloc(a, cap * sizeof *buf, 4);
        if (!buf) return -QY_ERR_NOMEM;
        utf8proc_ssize_t r =
            utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, buf, (utf8proc_ssize_t)cap,
                               opt & ~(utf8proc_option_t)UTF8PROC_COMPOSE);
        if (r < 0) return -qy_error(QY_ERR_FORMAT, "Unicode normalisation failed: %s", utf8proc_errmsg(r));
        if ((size_t)r > cap) {
            cap = (size_t)r;
            continue;
        }
        if (opt & UTF8PROC_COMPOSE) {
            r = utf8proc_normalize_utf32(buf, r, opt);
            if (r < 0)
                return -qy_error(QY_ERR_FORMAT, "Unicode normalisation failed: %s", utf8proc_errmsg(r));
        }
        *out = buf;
        return (long)r;
    }
    return -qy_error(QY_ERR_INTERNAL, "Unicode normalisation: buffer size did not settle");
}

static int starts_segment(uint32_t cp) {
    if (cp >= 0x1161 && cp <= 0x11C2) return 0; /* Hangul V/T jamo join the syllable before */
    const utf8proc_property_t *pr = utf8proc_get_property((utf8proc_int32_t)cp);
    return pr->combining_class == 0;
}

static int normalize_form(norm_kind k, qy_arena *a, tok_piece *p) {
    if (is_ascii(p->s, p->len)) return QY_OK; /* every form leaves ASCII alone */
    utf8proc_option_t opt = form_options(k);
    utf8proc_int32_t *whole;
    long nw = form_utf32(a, p->s, p->len, opt, &whole);
    if (nw < 0) return (int)-nw;
    nbuf b;
    if (nb_init(&b, a, p->len + 16)) return QY_ERR_NOMEM;
    /* segment by segment (a starter and the marks after it), so each output
     * char is aligned to the segment it came from */
    size_t i = 0;
    long at = 0;
    int consistent = 1;
    while (i < p->len && consistent) {
        size_t j = i;
        uint32_t cp;
        j += (size_t)qy_utf8_decode(p->s + j, p->len - j, &cp);
        while (j < p->len) {
            int l = qy_utf8_decode(p->s + j, p->len - j, &cp);
            if (starts_segment(cp)) break;
            j += (size_t)l;
        }
        utf8proc_int32_t *seg;
        long ns = form_utf32(a, p->s + i, j - i, opt, &seg);
        if (ns < 0) return (int)-ns;
        if (at + ns > nw || memcmp(seg, whole + at, (size_t)ns * sizeof *seg) != 0) {
            consistent = 0;
            break;
        }
        /* unchanged segment: keep byte alignment; else the segment's range */
        char tmp[4];
        size_t enc_len = 0;
        for (long q = 0; q < ns; q++) enc_len += (size_t)qy_utf8_encode((uint32_t)seg[q], tmp);
        int same = enc_len == j - i;
        if (same) {
            size_t o = i;
            for (long q = 0; q < ns && same; q++) {
                int l = qy_utf8_encode((uint32_t)seg[q], tmp);
                if (memcmp(tmp, p->s + o, (size_t)l) != 0) same = 0;
                o += (size_t)l;
            }
        }
        if (same) {
            if (nb_copy(&b, p, i, j - i)) return QY_ERR_NOMEM;
        } else {
            uint32_t st = tok_piece_start(p, i), en = tok_piece_end(p, j - 1);
            for (long q = 0; q < ns; q++)
                if (nb_cp(&b, (uint32_t)seg[q], st, en)) return QY_ERR_NOMEM;
        }
        at += ns;
        i = j;
    }
    if (!consistent || at != nw) {
        /* composition across segments (rare): align everything to the whole piece */
        b.len = 0;
        uint32_t st = tok_piece_start(p, 0), en = tok_piece_end(p, p->len - 1);
        for (long q = 0; q < nw; q++)
            if (nb_cp(&b, (uint32_t)whole[q], st, en)) return QY_ERR_NOMEM;
    }
    nb_finish(&b, p);
    return QY_OK;
}

/* --------------------------------------------------- per-char rewrites */

/* Rust char::to_lowercase: the simple mapping, plus U+0130's unconditional
 * two-char lowercase from SpecialCasing. */
static int put_lower(nbuf *b, uint32_t c, uint32_t st, uint32_t en) {
    if (c == 0x130) {
        int r = nb_cp(b, 'i', st, en);
        return r ? r : nb_cp(b, 0x307, st, en);
    }
    if (c < 0x80) return nb_cp(b, (c >= 'A' && c <= 'Z') ? c + 32 : c, st, en);
    return nb_cp(b, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c), st, en);
}

static int put_strip_accents(nbuf *b, uint32_t c, uint32_t st, uint32_t en, int lower) {
    if (c < 0x80) return lower ? put_lower(b, c, st, en) : nb_cp(b, c, st, en);
    utf8proc_int32_t d[32];
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)c, d, 32, UTF8PROC_DECOMPOSE, NULL);
    if (n < 0 || n > 32) {
        d[0] = (utf8proc_int32_t)c;
        n = 1;
    }
    for (utf8proc_ssize_t k = 0; k < n; k++) {
        uint32_t x = (uint32_t)d[k];
        if (qy_uni_is_mn(x)) continue;
        int r = lower ? put_lower(b, x, st, en) : nb_cp(b, x, st, en);
        if (r) return r;
    }
    return QY_OK;
}

static int normalize_chars(const tok_normalizer *n, qy_arena *a, tok_piece *p) {
    if (n->kind == NORM_LOWERCASE && is_ascii(p->s, p->len)) {
        /* in place is not allowed (pieces may share storage): copy */
        char *s = qy_arena_alloc(a, p->len + 1, 1);
        if (!s) return QY_ERR_NOMEM;
        for (size_t i = 0; i < p->len; i++) {
            char c = p->s[i];
            s[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        p->s = s;
        return QY_OK;
    }
    if (n->kind == NORM_BERT && is_ascii(p->s, p->len)) {
        /* ASCII: byte for byte (whitespace -> ' ', maybe lowercase), so the
         * alignment stays as it is; only other control bytes force the slow path */
        int simple = 1;
        for (size_t i = 0; i < p->len && simple; i++) {
            unsigned char c = (unsigned char)p->s[i];
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && (n->clean_text || c == 0)) || c == 0x7F)
                simple = 0;
        }
        if (simple) {
            char *s = qy_arena_alloc(a, p->len + 1, 1);
            if (!s) return QY_ERR_NOMEM;
            for (size_t i = 0; i < p->len; i++) {
                char c = p->s[i];
                if (n->clean_text && (c == '\t' || c == '\n' || c == '\r')) c = ' ';
                if (n->lowercase && c >= 'A' && c <= 'Z') c = (char)(c + 32);
                s[i] = c;
            }
            p->s = s;
            return QY_OK;
        }
    }
    nbuf b;
    if (nb_init(&b, a, p->len + p->len / 2 + 16)) return QY_ERR_NOMEM;
    size_t i = 0;
    while (i < p->len) {
        uint32_t c;
        int l = qy_utf8_decode(p->s + i, p->len - i, &c);
        uint32_t st = tok_piece_start(p, i), en = tok_piece_end(p, i + (size_t)l - 1);
        int r = QY_OK;
        if (n->kind == NORM_LOWERCASE)
            r = put_lower(&b, c, st, en);
        else if (n->kind == NORM_STRIP_ACCENTS)
            r = put_strip_accents(&b, c, st, en, 0);
        else { /* BertNormalizer: clean text, pad CJK, strip accents, lowercase */
            int keep = 1;
            if (n->clean_text) {
                if (c == 0 || c == 0xFFFD || (c != '\t' && c != '\n' && c != '\r' && qy_uni_is_other(c)))
                    keep = 0;
                else if (qy_uni_is_whitespace(c))
                    c = ' ';
            }
            if (keep) {
                int cjk = n->chinese && qy_uni_is_cjk(c);
                if (cjk) r = nb_cp(&b, ' ', st, en);
                if (!r && n->strip_accents)
                    r = put_strip_accents(&b, c, st, en, n->lowercase);
                else if (!r && n->lowercase)
                    r = put_lower(&b, c, st, en);
                else if (!r)
                    r = nb_cp(&b, c, st, en);
                if (!r && cjk) r = nb_cp(&b, ' ', st, en);
            }
        }
        if (r) return r;
        i += (size_t)l;
    }
    nb_finish(&b, p);
    return QY_OK;
}

static int normalize_replace(const tok_normalizer *n, tok_work *w, tok_piece *p) {
    nbuf b;
    if (nb_init(&b, &w->arena, p->len + 16)) return QY_ERR_NOMEM;
    size_t clen = strlen(n->str), from = 0, ms, me;
    int any = 0;
    for (;;) {
        int r = tok_regex_next(&n->pattern, w, p->s, p->len, from, &ms, &me);
        if (r < 0) return -r;
        if (r == 0) break;
        if (me == ms) { /* empty match: replace nothing, step one char */
            if (ms >= p->len) break;
            uint32_t cp;
            size_t step = (size_t)qy_utf8_decode(p->s + ms, p->len - ms, &cp);
            if (nb_copy(&b, p, from, ms + step - from)) return QY_ERR_NOMEM;
            from = ms + step;
            continue;
        }
        any = 1;
        if (nb_copy(&b, p, from, ms - from)) return QY_ERR_NOMEM;
        if (nb_put(&b, n->str, clen, tok_piece_start(p, ms), tok_piece_end(p, me - 1))) return QY_ERR_NOMEM;
        from = me;
    }
    if (!any) return QY_OK;
    if (nb_copy(&b, p, from, p->len - from)) return QY_ERR_NOMEM;
    nb_finish(&b, p);
    return QY_OK;
}

static int normalize_affix(const tok_normalizer *n, qy_arena *a, tok_piece *p) {
    if (p->len == 0) return QY_OK;
    nbuf b;
    size_t sl = strlen(n->str);
    if (nb_init(&b, a, p->len + sl)) return QY_ERR_NOMEM;
    if (n->kind == NORM_PREPEND) {
        uint32_t cp;
        int l = qy_utf8_decode(p->s, p->len, &cp);
        if (nb_put(&b, n->str, sl, tok_piece_start(p, 0), tok_piece_end(p, (size_t)l - 1)))
            return QY_ERR_NOMEM;
        if (nb_copy(&b, p, 0, p->len)) return QY_ERR_NOMEM;
    } else {
        size_t last = p->len - 1;
        while (last > 0 && ((unsigned char)p->s[last] & 0xC0) == 0x80) last--;
        if (nb_copy(&b, p, 0, p->len)) return QY_ERR_NOMEM;
        if (nb_put(&b, n->str, sl, tok_piece_start(p, last), tok_piece_end(p, p->len - 1)))
            return QY_ERR_NOMEM;
    }
    nb_finish(&b, p);
    return QY_OK;
}

static void normalize_strip(const tok_normalizer *n, tok_piece *p) {
    size_t b = 0, e = p->len;
    uint32_t cp;
    if (n->strip_left)
        while (b < e) {
            int l = qy_utf8_decode(p->s + b, e - b, &cp);
            if (!qy_uni_is_whitespace(cp)) break;
            b += (size_t)l;
        }
    if (n->strip_right)
        while (e > b) {
            size_t k = e - 1;
            while (k > b && ((unsigned char)p->s[k] & 0xC0) == 0x80) k--;
            qy_utf8_decode(p->s + k, e - k, &cp);
            if (!qy_uni_is_whitespace(cp)) break;
            e = k;
        }
    *p = tok_piece_sub(p, b, e);
}

int tok_normalize(const tok_normalizer *n, tok_work *w, tok_piece *p) {
    switch (n->kind) {
    case NORM_NFC:
    case NORM_NFD:
    case NORM_NFKC:
    case NORM_NFKD: return normalize_form(n->kind, &w->arena, p);
    case NORM_LOWERCASE:
    case NORM_STRIP_ACCENTS:
    case NORM_BERT: return normalize_chars(n, &w->arena, p);
    case NORM_PREPEND:
    case NORM_APPEND: return normalize_affix(n, &w->arena, p);
    case NORM_REPLACE: return normalize_replace(n, w, p);
    case NORM_STRIP: normalize_strip(n, p); return QY_OK;
    case NORM_SEQUENCE:
        for (size_t i = 0; i < n->nitems; i++) {
            int st = tok_normalize(&n->items[i], w, p);
            if (st) return st;
        }
        return QY_OK;
    }
    return qy_error(QY_ERR_INTERNAL, "unknown normaliser kind %d", (int)n->kind);
}

void tok_normalizer_free(tok_normalizer *n) {
    if (!n) return;
    qy_free(n->str);
    tok_regex_free(&n->pattern);
    for (size_t i = 0; i < n->nitems; i++) tok_normalizer_free(&n->items[i]);
    qy_free(n->items);
}
