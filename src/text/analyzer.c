/* analyzer.c — Lucene EnglishAnalyzer-style text analysis on utf8proc and libstemmer.
 *
 * Word segmentation follows the UAX#29 word-boundary rules that Lucene's
 * StandardTokenizer implements (WB4-WB13b) for letters, digits, Katakana and
 * connectors; Han and Hiragana characters become one token each, like Lucene's
 * <IDEOGRAPHIC>/<HIRAGANA> tokens. A word is emitted only if it holds a letter
 * or a digit. */
#include "text/analyzer.h"

#include <cjson/cJSON.h>
#include <libstemmer.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "quarry/base.h"
#include "text/porter.h"

/* EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (Lucene 8), sorted for bsearch. */
static const char *const lucene_stopwords[] = {
    "a",   "an",    "and",  "are",   "as",    "at",   "be",   "but", "by",  "for",  "if",
    "in",  "into",  "is",   "it",    "no",    "not",  "of",   "on",  "or",  "such", "that",
    "the", "their", "then", "there", "these", "they", "this", "to",  "was", "will", "with"};
enum { N_LUCENE_STOPWORDS = sizeof lucene_stopwords / sizeof lucene_stopwords[0] };

/* word-break classes (a subset of UAX#29's Word_Break property) */
enum {
    WB_OTHER = 0,
    WB_ALETTER,
    WB_NUMERIC,
    WB_KATAKANA,
    WB_IDEO, /* Han, Hiragana: one token per character */
    WB_EXTENDNUMLET,
    WB_MIDLETTER,
    WB_MIDNUM,
    WB_MIDNUMLET,
    WB_EXTEND,  /* Extend and Format: invisible inside a word (WB4) */
    WB_EMOJI,   /* Extended_Pictographic: one token per emoji (ZWJ sequences joined) */
    WB_REGIONAL /* regional indicators: flags, two per token */
};

struct qy_analyzer {
    qy_analyzer_config cfg;
    struct sb_stemmer *stemmer; /* libstemmer algorithms */
    int porter;                 /* classic Porter as Lucene (text/porter.c) */
    int use_stop;
    /* output */
    qy_token *toks;
    size_t ntoks, cap_toks;
    char *buf; /* token texts, NUL-separated */
    size_t nbuf, cap_buf;
    /* scratch for one word */
    utf8proc_int32_t *cps;
    size_t cap_cps;
    size_t *starts; /* offset of each token's text in buf */
    size_t cap_starts;
    int32_t *stem_cps; /* the token being stemmed */
    size_t cap_stem_cps;
};

void qy_analyzer_config_default(qy_analyzer_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->norm = QY_NORM_NONE;
    cfg->case_mode = QY_CASE_LOWER;
    cfg->possessive = 1;
    snprintf(cfg->stopwords, sizeof cfg->stopwords, "lucene");
    snprintf(cfg->stemmer, sizeof cfg->stemmer, "porter");
    cfg->max_token_len = 255;
}

int qy_analyzer_new(const qy_analyzer_config *cfg, qy_analyzer **out) {
    *out = NULL;
    if (cfg->max_token_len < 1 || cfg->max_token_len > 65535)
        return qy_error(QY_ERR_ARG, "analyzer: max token length %d is outside 1..65535", cfg->max_token_len);
    if (cfg->norm < QY_NORM_NONE || cfg->norm > QY_NORM_NFKC || cfg->case_mode < QY_CASE_KEEP ||
        cfg->case_mode > QY_CASE_FOLD)
        return qy_error(QY_ERR_ARG, "analyzer: bad normalisation or case mode");
    int use_stop;
    if (strcmp(cfg->stopwords, "lucene") == 0)
        use_stop = 1;
    else if (strcmp(cfg->stopwords, "none") == 0)
        use_stop = 0;
    else
        return qy_error(QY_ERR_ARG, "analyzer: unknown stopword list '%s' (expected lucene or none)",
                        cfg->stopwords);
    qy_analyzer *a = qy_calloc(1, sizeof *a);
    if (!a) return QY_ERR_NOMEM;
    a->cfg = *cfg;
    a->use_stop = use_stop;
    if (strcmp(cfg->stemmer, "porter") == 0) {
        a->porter = 1;
    } else if (strcmp(cfg->stemmer, "none") != 0) {
        /* "snowball-porter" is libstemmer's Porter (the paper's rules) */
        const char *alg = strcmp(cfg->stemmer, "snowball-porter") == 0 ? "porter" : cfg->stemmer;
        a->stemmer = sb_stemmer_new(alg, "UTF_8");
        if (!a->stemmer) {
            qy_free(a);
            return qy_error(QY_ERR_ARG,
                            "analyzer: unknown stemmer '%s' (expected none, porter, english or another "
                            "libstemmer algorithm)",
                            cfg->stemmer);
        }
    }
    *out = a;
    return QY_OK;
}

void qy_analyzer_free(qy_analyzer *a) {
    if (!a) return;
    if (a->stemmer) sb_stemmer_delete(a->stemmer);
    qy_free(a->toks);
    qy_free(a->buf);
    qy_free(a->cps);
    qy_free(a->stem_cps);
    qy_free(a->starts);
    qy_free(a);
}

const qy_analyzer_config *qy_analyzer_get_config(const qy_analyzer *a) { return &a->cfg; }

static int in_ranges(utf8proc_int32_t c, const utf8proc_int32_t (*r)[2], size_t n) {
    for (size_t i = 0; i < n; i++)
        if (c >= r[i][0] && c <= r[i][1]) return 1;
    return 0;
}

static int wb_class(utf8proc_int32_t c) {
    if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return WB_ALETTER;
        if (c >= '0' && c <= '9') return WB_NUMERIC;
        switch (c) {
        case '_': return WB_EXTENDNUMLET;
        case ':': return WB_MIDLETTER;
        case ',':
        case ';': return WB_MIDNUM;
        case '.':
        case '\'': return WB_MIDNUMLET;
        default: return WB_OTHER;
        }
    }
    static const utf8proc_int32_t katakana[][2] = {{0x30A1, 0x30FA}, {0x30FC, 0x30FF}, {0x31F0, 0x31FF},
                                                   {0x32D0, 0x32FE}, {0x3300, 0x3357}, {0xFF66, 0xFF9D}};
    static const utf8proc_int32_t ideo[][2] = {{0x3040, 0x309F}, {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},
                                               {0xF900, 0xFAFF}, {0x20000, 0x3134F}, {0x3005, 0x3007}};
    static const utf8proc_int32_t midletter[][2] = {{0xB7, 0xB7},     {0x387, 0x387},   {0x5F4, 0x5F4},
                                                    {0x2027, 0x2027}, {0xFE13, 0xFE13}, {0xFE55, 0xFE55},
                                                    {0xFF1A, 0xFF1A}};
    static const utf8proc_int32_t midnum[][2] = {{0x37E, 0x37E},   {0x589, 0x589},   {0x60C, 0x60D},
                                                 {0x66C, 0x66C},   {0x7F8, 0x7F8},   {0x2044, 0x2044},
                                                 {0xFE10, 0xFE10}, {0xFE14, 0xFE14}, {0xFE50, 0xFE50},
                                                 {0xFE54, 0xFE54}, {0xFF0C, 0xFF0C}, {0xFF1B, 0xFF1B}};
    static const utf8proc_int32_t midnumlet[][2] = {
        {0x2018, 0x2019}, {0x2024, 0x2024}, {0xFE52, 0xFE52}, {0xFF07, 0xFF07}, {0xFF0E, 0xFF0E}};
    static const utf8proc_int32_t extnumlet[][2] = {{0x203F, 0x2040}, {0x2054, 0x2054}, {0xFE33, 0xFE34},
                                                    {0xFE4D, 0xFE4F}, {0xFF3F, 0xFF3F}, {0x202F, 0x202F}};
#define N(x) (sizeof x / sizeof x[0])
    if (c >= 0x1F3FB && c <= 0x1F3FF) return WB_EXTEND; /* emoji skin-tone modifiers */
    int bc = utf8proc_get_property(c)->boundclass;
    if (bc == UTF8PROC_BOUNDCLASS_EXTENDED_PICTOGRAPHIC || bc == UTF8PROC_BOUNDCLASS_E_ZWG) return WB_EMOJI;
    if (bc == UTF8PROC_BOUNDCLASS_REGIONAL_INDICATOR) return WB_REGIONAL;
    if (in_ranges(c, katakana, N(katakana))) return WB_KATAKANA;
    if (in_ranges(c, ideo, N(ideo))) return WB_IDEO;
    if (in_ranges(c, midletter, N(midletter))) return WB_MIDLETTER;
    if (in_ranges(c, midnum, N(midnum))) return WB_MIDNUM;
    if (in_ranges(c, midnumlet, N(midnumlet))) return WB_MIDNUMLET;
    if (in_ranges(c, extnumlet, N(extnumlet))) return WB_EXTENDNUMLET;
#undef N
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL: return WB_ALETTER;
    case UTF8PROC_CATEGORY_ND: return WB_NUMERIC;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF: return WB_EXTEND;
    case UTF8PROC_CATEGORY_PC: return WB_EXTENDNUMLET;
    default: return WB_OTHER;
    }
}

/* decode one code point at s[i]; invalid bytes decode as -1 (one byte) */
static size_t decode(const char *s, size_t len, size_t i, utf8proc_int32_t *cp) {
    if ((unsigned char)s[i] < 0x80) { /* ASCII: most text */
        *cp = (unsigned char)s[i];
        return 1;
    }
    utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), cp);
    if (n <= 0) {
        *cp = -1;
        return 1;
    }
    return (size_t)n;
}

static int class_at(const char *s, size_t len, size_t i, size_t *next) {
    utf8proc_int32_t cp;
    *next = i + decode(s, len, i, &cp);
    return cp < 0 ? WB_OTHER : wb_class(cp);
}

/* skip Extend/Format code points from i; returns the next position */
static size_t skip_extend(const char *s, size_t len, size_t i) {
    while (i < len) {
        size_t nx;
        if (class_at(s, len, i, &nx) != WB_EXTEND) break;
        i = nx;
    }
    return i;
}

static int is_word_class(int c) { return c == WB_ALETTER || c == WB_NUMERIC || c == WB_EXTENDNUMLET; }

static int joins(int prev, int c) {
    if (prev == WB_KATAKANA) return c == WB_KATAKANA || c == WB_EXTENDNUMLET;
    if (c == WB_KATAKANA) return prev == WB_EXTENDNUMLET;
    return is_word_class(prev) && is_word_class(c);
}

static int is_hebrew(utf8proc_int32_t c) {
    return (c >= 0x05D0 && c <= 0x05EA) || (c >= 0x05EF && c <= 0x05F2) || c == 0xFB1D ||
           (c >= 0xFB1F && c <= 0xFB28) || (c >= 0xFB2A && c <= 0xFB4F);
}

static utf8proc_int32_t cp_at(const char *s, size_t len, size_t i) {
    utf8proc_int32_t cp;
    decode(s, len, i, &cp);
    return cp;
}

/* Find the word starting at i (first code point class c0); sets *end.
 * *has_content is 1 when the word holds a letter, digit or Katakana. */
static size_t scan_word(const char *s, size_t len, size_t i, int c0, int *has_content) {
    size_t nx;
    class_at(s, len, i, &nx);
    int prev = c0;
    *has_content = c0 != WB_EXTENDNUMLET;
    size_t end = skip_extend(s, len, nx);
    int prev_hebrew = is_hebrew(cp_at(s, len, i));
    while (end < len) {
        size_t n1;
        int c = class_at(s, len, end, &n1);
        utf8proc_int32_t cp = cp_at(s, len, end);
        if (prev_hebrew && cp == '\'') { /* WB7a: Hebrew_Letter x Single_Quote */
            prev = WB_ALETTER;
            prev_hebrew = 0;
            end = skip_extend(s, len, n1);
            continue;
        }
        if (prev_hebrew && cp == '"') { /* WB7b/c: Hebrew_Letter x Double_Quote Hebrew_Letter */
            size_t after = skip_extend(s, len, n1);
            if (after < len && is_hebrew(cp_at(s, len, after))) {
                size_t n2;
                class_at(s, len, after, &n2);
                end = skip_extend(s, len, n2);
                continue;
            }
            break;
        }
        prev_hebrew = is_hebrew(cp);
        if (joins(prev, c)) {
            prev = c;
            if (c != WB_EXTENDNUMLET) *has_content = 1;
            end = skip_extend(s, len, n1);
            continue;
        }
        if (c == WB_MIDLETTER || c == WB_MIDNUM || c == WB_MIDNUMLET) {
            size_t after = skip_extend(s, len, n1);
            if (after >= len) break;
            size_t n2;
            int c2 = class_at(s, len, after, &n2);
            int ok = (prev == WB_ALETTER && c2 == WB_ALETTER && (c == WB_MIDLETTER || c == WB_MIDNUMLET)) ||
                     (prev == WB_NUMERIC && c2 == WB_NUMERIC && (c == WB_MIDNUM || c == WB_MIDNUMLET));
            if (!ok) break;
            prev = c2;
            prev_hebrew = is_hebrew(cp_at(s, len, after));
            end = skip_extend(s, len, n2);
            continue;
        }
        break;
    }
    return end;
}

/* '#' or '*' at i-1 (next = i): followed by an optional U+FE0F and U+20E3 */
static int is_keycap(const char *s, size_t len, size_t i) {
    if (i < len && cp_at(s, len, i) == 0xFE0F) i += 3;
    return i < len && cp_at(s, len, i) == 0x20E3;
}

/* end of the emoji sequence starting at i (next code point at nx): modifiers
 * and variation selectors (Extend), ZWJ-joined pictographs, flag pairs */
static size_t emoji_end(const char *s, size_t len, size_t i, size_t nx, int c) {
    size_t end = nx;
    if (c == WB_REGIONAL && end < len) {
        size_t n2;
        if (class_at(s, len, end, &n2) == WB_REGIONAL) end = n2;
    }
    for (;;) {
        utf8proc_int32_t last = 0;
        while (end < len) {
            size_t n1;
            if (class_at(s, len, end, &n1) != WB_EXTEND) break;
            last = cp_at(s, len, end);
            end = n1;
        }
        if (last == 0x200D && end < len) {
            size_t n1;
            if (class_at(s, len, end, &n1) == WB_EMOJI) {
                end = n1;
                continue;
            }
        }
        return end;
    }
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return QY_OK;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *np = qy_reallocn(*p, nc, elem);
    if (!np) return QY_ERR_NOMEM;
    *p = np;
    *cap = nc;
    return QY_OK;
}

static int is_stopword(const char *w, size_t len) {
    if (len > 5) return 0;
    size_t lo = 0, hi = N_LUCENE_STOPWORDS;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *sw = lucene_stopwords[mid];
        int c = strncmp(w, sw, len);
        if (c == 0) c = sw[len] ? -1 : 0;
        if (c == 0) return 1;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

/* Append one token (its text in utf8proc code points cps[0..n)) after the
 * filters: possessive, case, normalisation, stopwords, stemming. */
static int emit(qy_analyzer *a, utf8proc_int32_t *cps, size_t n, uint32_t start, uint32_t end) {
    if (a->cfg.possessive && n >= 2 && (cps[n - 1] == 's' || cps[n - 1] == 'S') &&
        (cps[n - 2] == '\'' || cps[n - 2] == 0x2019 || cps[n - 2] == 0xFF07))
        n -= 2;
    if (n == 0) return QY_OK;
    if (a->cfg.case_mode == QY_CASE_LOWER)
        for (size_t i = 0; i < n; i++)
            cps[i] = cps[i] < 0x80 ? (cps[i] >= 'A' && cps[i] <= 'Z' ? cps[i] + 32 : cps[i])
                                   : utf8proc_tolower(cps[i]);
    /* encode to UTF-8 into the output buffer (4 bytes per code point at most) */
    size_t need = a->nbuf + 4 * n + 1;
    if (grow((void **)&a->buf, &a->cap_buf, need, 1)) return QY_ERR_NOMEM;
    size_t off = a->nbuf, w = off;
    for (size_t i = 0; i < n; i++) {
        if (cps[i] < 0x80)
            a->buf[w++] = (char)cps[i];
        else
            w += (size_t)utf8proc_encode_char(cps[i], (utf8proc_uint8_t *)a->buf + w);
    }
    a->buf[w] = '\0';
    size_t tlen = w - off;
    if (a->cfg.norm != QY_NORM_NONE || a->cfg.case_mode == QY_CASE_FOLD) {
        int opts = UTF8PROC_STABLE;
        if (a->cfg.norm == QY_NORM_NFC) opts |= UTF8PROC_COMPOSE;
        if (a->cfg.norm == QY_NORM_NFKC) opts |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
        if (a->cfg.case_mode == QY_CASE_FOLD) opts |= UTF8PROC_CASEFOLD | UTF8PROC_COMPOSE;
        utf8proc_uint8_t *mapped = NULL;
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)a->buf + off, (utf8proc_ssize_t)tlen,
                                          &mapped, (utf8proc_option_t)opts);
        if (r < 0) return qy_error(QY_ERR_NOMEM, "analyzer: utf8proc: %s", utf8proc_errmsg(r));
        if (grow((void **)&a->buf, &a->cap_buf, off + (size_t)r + 1, 1)) {
            free(mapped);
            return QY_ERR_NOMEM;
        }
        memcpy(a->buf + off, mapped, (size_t)r + 1);
        free(mapped); /* utf8proc allocates with malloc */
        tlen = (size_t)r;
    }
    if (tlen == 0) return QY_OK;
    if (a->use_stop && is_stopword(a->buf + off, tlen)) return QY_OK;
    /* Porter's reference implementation (and Lucene's PorterStemmer) leave
     * words of one or two characters alone. */
    if (a->porter) {
        /* back to code points (normalisation may have changed them) */
        if (grow((void **)&a->stem_cps, &a->cap_stem_cps, tlen, sizeof *a->stem_cps)) return QY_ERR_NOMEM;
        size_t m = 0;
        for (size_t j = off; j < off + tlen;) {
            utf8proc_int32_t cp;
            j += decode(a->buf, off + tlen, j, &cp);
            a->stem_cps[m++] = cp < 0 ? 0xFFFD : cp;
        }
        size_t m2 = qy_porter_stem(a->stem_cps, m);
        size_t w2 = off; /* the stem is never longer than the word */
        for (size_t j = 0; j < m2; j++)
            w2 += (size_t)utf8proc_encode_char(a->stem_cps[j], (utf8proc_uint8_t *)a->buf + w2);
        a->buf[w2] = '\0';
        tlen = w2 - off;
    } else if (a->stemmer && n > 2) {
        const sb_symbol *st = sb_stemmer_stem(a->stemmer, (const sb_symbol *)a->buf + off, (int)tlen);
        if (!st) return qy_error(QY_ERR_NOMEM, "analyzer: stemmer out of memory");
        size_t sl = (size_t)sb_stemmer_length(a->stemmer);
        if (sl <= tlen) {
            memcpy(a->buf + off, st, sl);
            a->buf[off + sl] = '\0';
            tlen = sl;
        }
    }
    if (grow((void **)&a->toks, &a->cap_toks, a->ntoks + 1, sizeof *a->toks) ||
        grow((void **)&a->starts, &a->cap_starts, a->ntoks + 1, sizeof *a->starts))
        return QY_ERR_NOMEM;
    a->starts[a->ntoks] = off;
    qy_token *t = &a->toks[a->ntoks++];
    t->text = NULL; /* fixed up at the end of the run (buf may move) */
    t->len = (uint32_t)tlen;
    t->start = start;
    t->end = end;
    a->nbuf = off + tlen + 1;
    return QY_OK;
}

/* Emit the span s[i..end) as one token, or as pieces of max_token_len code
 * points (Extend/Format code points included, as Lucene keeps them). */
static int emit_span(qy_analyzer *a, const char *s, size_t len, size_t i, size_t end) {
    int st = grow((void **)&a->cps, &a->cap_cps, end - i, sizeof *a->cps);
    if (st) return st;
    size_t n = 0;
    for (size_t j = i; j < end;) {
        size_t d = decode(s, len, j, &a->cps[n]);
        if (a->cps[n] < 0) a->cps[n] = 0xFFFD;
        n++;
        j += d;
    }
    size_t maxl = (size_t)a->cfg.max_token_len;
    size_t piece_start = i;
    for (size_t p = 0; p < n && !st; p += maxl) {
        size_t m = n - p < maxl ? n - p : maxl;
        size_t piece_end = piece_start;
        for (size_t q = 0; q < m; q++) {
            utf8proc_uint8_t tmp[4];
            piece_end += (size_t)utf8proc_encode_char(a->cps[p + q], tmp);
        }
        if (piece_end > end) piece_end = end;
        st = emit(a, a->cps + p, m, (uint32_t)piece_start, (uint32_t)piece_end);
        piece_start = piece_end;
    }
    return st;
}

int qy_analyzer_run(qy_analyzer *a, const char *s, size_t len, const qy_token **toks, size_t *ntoks) {
    a->ntoks = 0;
    a->nbuf = 0;
    *toks = NULL;
    *ntoks = 0;
    size_t i = 0;
    int st = QY_OK;
    while (i < len && !st) {
        size_t nx;
        int c = class_at(s, len, i, &nx);
        size_t end;
        if (c == WB_EMOJI || c == WB_REGIONAL || ((s[i] == '#' || s[i] == '*') && is_keycap(s, len, nx))) {
            end = emoji_end(s, len, i, nx, c);
            st = emit_span(a, s, len, i, end);
        } else if (c == WB_IDEO) {
            end = skip_extend(s, len, nx);
            st = emit_span(a, s, len, i, end);
        } else if (is_word_class(c) || c == WB_KATAKANA) {
            int has_content;
            end = scan_word(s, len, i, c, &has_content);
            if (has_content) st = emit_span(a, s, len, i, end);
        } else {
            end = nx;
        }
        i = end;
    }
    if (st) {
        a->ntoks = 0;
        return st;
    }
    for (size_t k = 0; k < a->ntoks; k++) a->toks[k].text = a->buf + a->starts[k];
    *toks = a->toks;
    *ntoks = a->ntoks;
    return QY_OK;
}

/* ------------------------------------------------------------ config I/O */

static const char *norm_name(int n) { return n == QY_NORM_NFC ? "nfc" : n == QY_NORM_NFKC ? "nfkc" : "none"; }
static const char *case_name(int c) {
    return c == QY_CASE_LOWER ? "lower" : c == QY_CASE_FOLD ? "fold" : "keep";
}

static int parse_norm(const char *v, int *out) {
    if (!strcmp(v, "none"))
        *out = QY_NORM_NONE;
    else if (!strcmp(v, "nfc"))
        *out = QY_NORM_NFC;
    else if (!strcmp(v, "nfkc"))
        *out = QY_NORM_NFKC;
    else
        return QY_ERR_ARG;
    return QY_OK;
}

static int parse_case(const char *v, int *out) {
    if (!strcmp(v, "keep"))
        *out = QY_CASE_KEEP;
    else if (!strcmp(v, "lower"))
        *out = QY_CASE_LOWER;
    else if (!strcmp(v, "fold"))
        *out = QY_CASE_FOLD;
    else
        return QY_ERR_ARG;
    return QY_OK;
}

struct cJSON *qy_analyzer_config_to_json(const qy_analyzer_config *cfg) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = cJSON_AddStringToObject(o, "tokenizer", "uax29") &&
             cJSON_AddStringToObject(o, "norm", norm_name(cfg->norm)) &&
             cJSON_AddStringToObject(o, "case", case_name(cfg->case_mode)) &&
             cJSON_AddBoolToObject(o, "possessive", cfg->possessive) &&
             cJSON_AddStringToObject(o, "stopwords", cfg->stopwords) &&
             cJSON_AddStringToObject(o, "stemmer", cfg->stemmer) &&
             cJSON_AddNumberToObject(o, "max_token_len", cfg->max_token_len);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int qy_analyzer_config_from_json(const struct cJSON *obj, const char *source, qy_analyzer_config *cfg) {
    qy_analyzer_config_default(cfg);
    const cJSON *o = obj;
    if (!cJSON_IsObject(o)) return qy_error(QY_ERR_FORMAT, "%s: analyzer: expected an object", source);
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "tokenizer")) &&
        (!cJSON_IsString(v) || strcmp(v->valuestring, "uax29")))
        return qy_error(QY_ERR_FORMAT, "%s: analyzer.tokenizer: expected \"uax29\"", source);
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "norm")) &&
        (!cJSON_IsString(v) || parse_norm(v->valuestring, &cfg->norm)))
        return qy_error(QY_ERR_FORMAT, "%s: analyzer.norm: expected none, nfc or nfkc", source);
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "case")) &&
        (!cJSON_IsString(v) || parse_case(v->valuestring, &cfg->case_mode)))
        return qy_error(QY_ERR_FORMAT, "%s: analyzer.case: expected keep, lower or fold", source);
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "possessive"))) {
        if (!cJSON_IsBool(v))
            return qy_error(QY_ERR_FORMAT, "%s: analyzer.possessive: expected a boolean", source);
        cfg->possessive = cJSON_IsTrue(v);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "stopwords"))) {
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof cfg->stopwords)
            return qy_error(QY_ERR_FORMAT, "%s: analyzer.stopwords: expected a list name", source);
        snprintf(cfg->stopwords, sizeof cfg->stopwords, "%s", v->valuestring);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "stemmer"))) {
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof cfg->stemmer)
            return qy_error(QY_ERR_FORMAT, "%s: analyzer.stemmer: expected a stemmer name", source);
        snprintf(cfg->stemmer, sizeof cfg->stemmer, "%s", v->valuestring);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "max_token_len"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 65535)
            return qy_error(QY_ERR_FORMAT, "%s: analyzer.max_token_len: expected 1..65535", source);
        cfg->max_token_len = (int)v->valuedouble;
    }
    return QY_OK;
}

int qy_analyzer_config_parse(const char *spec, qy_analyzer_config *cfg) {
    char item[96];
    const char *p = spec;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n >= sizeof item) return qy_error(QY_ERR_ARG, "analyzer spec: item too long near '%.20s'", p);
        memcpy(item, p, n);
        item[n] = '\0';
        p += n;
        if (*p == ',') p++;
        if (n == 0) continue;
        char *eq = strchr(item, '=');
        if (!eq) return qy_error(QY_ERR_ARG, "analyzer spec: '%s': expected key=value", item);
        *eq = '\0';
        const char *k = item, *v = eq + 1;
        if (!strcmp(k, "stem") || !strcmp(k, "stemmer")) {
            if (strlen(v) >= sizeof cfg->stemmer)
                return qy_error(QY_ERR_ARG, "analyzer spec: stemmer name too long");
            snprintf(cfg->stemmer, sizeof cfg->stemmer, "%s", v);
        } else if (!strcmp(k, "stop") || !strcmp(k, "stopwords")) {
            if (strcmp(v, "lucene") && strcmp(v, "none"))
                return qy_error(QY_ERR_ARG, "analyzer spec: stop=%s: expected lucene or none", v);
            snprintf(cfg->stopwords, sizeof cfg->stopwords, "%s", v);
        } else if (!strcmp(k, "case")) {
            if (parse_case(v, &cfg->case_mode))
                return qy_error(QY_ERR_ARG, "analyzer spec: case=%s: expected keep, lower or fold", v);
        } else if (!strcmp(k, "norm")) {
            if (parse_norm(v, &cfg->norm))
                return qy_error(QY_ERR_ARG, "analyzer spec: norm=%s: expected none, nfc or nfkc", v);
        } else if (!strcmp(k, "possessive")) {
            if (strcmp(v, "0") && strcmp(v, "1"))
                return qy_error(QY_ERR_ARG, "analyzer spec: possessive=%s: expected 0 or 1", v);
            cfg->possessive = v[0] == '1';
        } else if (!strcmp(k, "maxlen")) {
            char *e;
            long x = strtol(v, &e, 10);
            if (*e || x < 1 || x > 65535)
                return qy_error(QY_ERR_ARG, "analyzer spec: maxlen=%s: expected 1..65535", v);
            cfg->max_token_len = (int)x;
        } else {
            return qy_error(
                QY_ERR_ARG,
                "analyzer spec: unknown key '%s' (expected stem, stop, case, norm, possessive, maxlen)", k);
        }
    }
    return QY_OK;
}

void qy_analyzer_config_describe(const qy_analyzer_config *cfg, char *buf, size_t cap) {
    snprintf(buf, cap, "uax29 norm=%s case=%s possessive=%d stop=%s stem=%s maxlen=%d", norm_name(cfg->norm),
             case_name(cfg->case_mode), cfg->possessive, cfg->stopwords, cfg->stemmer, cfg->max_token_len);
}
