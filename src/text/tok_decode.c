/* tok_decode.c — decoders of tokenizer.json (ByteLevel, Metaspace, WordPiece,
 * ByteFallback, Fuse, Strip, Replace, BPEDecoder, Sequence). As in
 * `tokenizers`, each decoder maps a list of token strings to a new list and the
 * final list is concatenated; bytes that do not form UTF-8 become U+FFFD. */
#include <string.h>

#include "text/tok_internal.h"

typedef struct strv {
    char **s;
    size_t *len;
    size_t n, cap;
} strv;

static void strv_free(strv *v) {
    for (size_t i = 0; i < v->n; i++) qy_free(v->s[i]);
    qy_free(v->s);
    qy_free(v->len);
    memset(v, 0, sizeof *v);
}

/* takes ownership of s */
static int strv_push_own(strv *v, char *s, size_t len) {
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 64;
        char **a = qy_reallocn(v->s, nc, sizeof *a);
        if (!a) {
            qy_free(s);
            return QY_ERR_NOMEM;
        }
        v->s = a;
        size_t *l = qy_reallocn(v->len, nc, sizeof *l);
        if (!l) {
            qy_free(s);
            return QY_ERR_NOMEM;
        }
        v->len = l;
        v->cap = nc;
    }
    v->s[v->n] = s;
    v->len[v->n] = len;
    v->n++;
    return QY_OK;
}

static int strv_push(strv *v, const char *s, size_t len) {
    char *c = qy_malloc(len + 1);
    if (!c) return QY_ERR_NOMEM;
    memcpy(c, s, len);
    c[len] = '\0';
    return strv_push_own(v, c, len);
}

/* growable byte buffer */
typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static int sb_add(sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->len + n + 1) nc *= 2;
        char *x = qy_realloc(b->s, nc);
        if (!x) return QY_ERR_NOMEM;
        b->s = x;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return QY_OK;
}

/* Rust's String::from_utf8_lossy: each maximal invalid prefix becomes one U+FFFD */
static int sb_add_lossy(sbuf *b, const char *s, size_t n) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        size_t good = qy_utf8_invalid_at(s + i, n - i);
        if (good && sb_add(b, s + i, good)) return QY_ERR_NOMEM;
        i += good;
        if (i >= n) break;
        uint8_t c = u[i];
        size_t k = 1;
        uint8_t lo, hi;
        size_t need = (size_t)qy_utf8_lead(c, &lo, &hi);
        if (need > 1) {
            if (i + 1 < n && u[i + 1] >= lo && u[i + 1] <= hi) {
                k = 2;
                while (k < need && i + k < n && (u[i + k] & 0xC0) == 0x80) k++;
            }
        }
        if (sb_add(b, "\xef\xbf\xbd", 3)) return QY_ERR_NOMEM;
        i += k;
    }
    return QY_OK;
}

static int replace_all(const char *s, size_t n, const char *pat, size_t plen, const char *rep, size_t rlen,
                       sbuf *out) {
    size_t i = 0;
    while (i < n) {
        const char *p = plen ? memmem(s + i, n - i, pat, plen) : NULL;
        if (!p) break;
        if (sb_add(out, s + i, (size_t)(p - s) - i) || sb_add(out, rep, rlen)) return QY_ERR_NOMEM;
        i = (size_t)(p - s) + plen;
    }
    return sb_add(out, s + i, n - i);
}

static int wordpiece_cleanup(sbuf *b) {
    static const char *pairs[][2] = {{" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
                                     {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
                                     {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        sbuf o = {0};
        if (replace_all(b->s ? b->s : "", b->len, pairs[k][0], strlen(pairs[k][0]), pairs[k][1],
                        strlen(pairs[k][1]), &o)) {
            qy_free(o.s);
            return QY_ERR_NOMEM;
        }
        qy_free(b->s);
        *b = o;
    }
    return QY_OK;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int flush_bytes(strv *out, sbuf *bytes) {
    if (!bytes->len) return QY_OK;
    int st = QY_OK;
    if (qy_utf8_invalid_at(bytes->s, bytes->len) == bytes->len)
        st = strv_push(out, bytes->s, bytes->len);
    else
        for (size_t i = 0; i < bytes->len && !st; i++) st = strv_push(out, "\xef\xbf\xbd", 3);
    bytes->len = 0;
    return st;
}

static int decode_step(const tok_decoder *d, tok_work *w, strv *in, strv *out) {
    int st = QY_OK;
    switch (d->kind) {
    case DEC_BYTELEVEL: {
        sbuf raw = {0}, text = {0};
        for (size_t i = 0; i < in->n && !st; i++) {
            const char *s = in->s[i];
            size_t n = in->len[i], j = 0, at = raw.len;
            while (j < n && !st) {
                uint32_t cp;
                j += (size_t)qy_utf8_decode(s + j, n - j, &cp);
                int b = qy_bytelevel_byte(cp);
                if (b < 0) { /* not a byte-level token: its own bytes */
                    raw.len = at;
                    st = sb_add(&raw, s, n);
                    break;
                }
                char c = (char)b;
                st = sb_add(&raw, &c, 1);
            }
        }
        if (!st) st = sb_add(&text, "", 0);
        if (!st) st = sb_add_lossy(&text, raw.s ? raw.s : "", raw.len);
        qy_free(raw.s);
        if (!st) return strv_push_own(out, text.s, text.len);
        qy_free(text.s);
        return st;
    }
    case DEC_METASPACE: {
        char rep[4];
        size_t rl = (size_t)qy_utf8_encode(d->replacement, rep);
        for (size_t i = 0; i < in->n && !st; i++) {
            sbuf o = {0};
            st =
                replace_all(in->s[i], in->len[i], rep, rl, (i == 0 && d->prepend != PREPEND_NEVER) ? "" : " ",
                            (i == 0 && d->prepend != PREPEND_NEVER) ? 0 : 1, &o);
            if (!st)
                st = strv_push_own(out, o.s, o.len);
            else
                qy_free(o.s);
        }
        return st;
    }
    case DEC_WORDPIECE: {
        size_t pl = strlen(d->prefix);
        for (size_t i = 0; i < in->n && !st; i++) {
            sbuf o = {0};
            const char *s = in->s[i];
            size_t n = in->len[i];
            if (i != 0) {
                if (n >= pl && !memcmp(s, d->prefix, pl))
                    st = sb_add(&o, s + pl, n - pl);
                else
                    st = sb_add(&o, " ", 1) || sb_add(&o, s, n) ? QY_ERR_NOMEM : QY_OK;
            } else
                st = sb_add(&o, s, n);
            if (!st && d->cleanup) st = wordpiece_cleanup(&o);
            if (!st) st = sb_add(&o, "", 0);
            if (!st)
                st = strv_push_own(out, o.s, o.len);
            else
                qy_free(o.s);
        }
        return st;
    }
    case DEC_BYTEFALLBACK: {
        sbuf bytes = {0};
        for (size_t i = 0; i < in->n && !st; i++) {
            const char *s = in->s[i];
            int hi, lo;
            if (in->len[i] == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && (hi = hexval(s[3])) >= 0 &&
                (lo = hexval(s[4])) >= 0) {
                char c = (char)(hi * 16 + lo);
                st = sb_add(&bytes, &c, 1);
                continue;
            }
            st = flush_bytes(out, &bytes);
            if (!st) st = strv_push(out, s, in->len[i]);
        }
        if (!st) st = flush_bytes(out, &bytes);
        qy_free(bytes.s);
        return st;
    }
    case DEC_FUSE: {
        sbuf o = {0};
        st = sb_add(&o, "", 0);
        for (size_t i = 0; i < in->n && !st; i++) st = sb_add(&o, in->s[i], in->len[i]);
        if (!st) return strv_push_own(out, o.s, o.len);
        qy_free(o.s);
        return st;
    }
    case DEC_STRIP: {
        size_t cl = strlen(d->content);
        for (size_t i = 0; i < in->n && !st; i++) {
            const char *s = in->s[i];
            size_t b = 0, e = in->len[i];
            for (size_t k = 0; k < d->strip_start && e - b >= cl && !memcmp(s + b, d->content, cl); k++)
                b += cl;
            for (size_t k = 0; k < d->strip_stop && e - b >= cl && !memcmp(s + e - cl, d->content, cl); k++)
                e -= cl;
            st = strv_push(out, s + b, e - b);
        }
        return st;
    }
    case DEC_REPLACE: {
        size_t cl = strlen(d->content);
        for (size_t i = 0; i < in->n && !st; i++) {
            sbuf o = {0};
            const char *s = in->s[i];
            size_t n = in->len[i], from = 0, ms, me;
            st = sb_add(&o, "", 0);
            while (!st) {
                int r = tok_regex_next(&d->pattern, w, s, n, from, &ms, &me);
                if (r < 0) st = -r;
                if (r <= 0 || me == ms) break;
                st = sb_add(&o, s + from, ms - from) || sb_add(&o, d->content, cl) ? QY_ERR_NOMEM : QY_OK;
                from = me;
            }
            if (!st) st = sb_add(&o, s + from, n - from);
            if (!st)
                st = strv_push_own(out, o.s, o.len);
            else
                qy_free(o.s);
        }
        return st;
    }
    case DEC_BPE: {
        size_t sl = strlen(d->content);
        for (size_t i = 0; i < in->n && !st; i++) {
            sbuf o = {0};
            int last = i + 1 == in->n;
            st = replace_all(in->s[i], in->len[i], d->content, sl, last ? "" : " ", last ? 0 : 1, &o);
            if (!st) st = sb_add(&o, "", 0);
            if (!st)
                st = strv_push_own(out, o.s, o.len);
            else
                qy_free(o.s);
        }
        return st;
    }
    case DEC_SEQUENCE: {
        strv cur = *in;
        *in = (strv){0};
        for (size_t k = 0; k < d->nitems && !st; k++) {
            strv next = {0};
            st = decode_step(&d->items[k], w, &cur, &next);
            strv_free(&cur);
            cur = next;
        }
        if (st) {
            strv_free(&cur);
            return st;
        }
        *out = cur;
        return QY_OK;
    }
    }
    return qy_error(QY_ERR_INTERNAL, "unknown decoder kind %d", (int)d->kind);
}

int tok_decode_tokens(const qy_tokenizer *t, char **toks, size_t *lens, size_t n, char **out,
                      size_t *out_len) {
    *out = NULL;
    strv v = {0}, r = {0};
    int st = QY_OK;
    for (size_t i = 0; i < n && !st; i++) st = strv_push(&v, toks[i], lens[i]);
    tok_work w;
    qy_arena_init(&w.arena, 4096);
    w.md = pcre2_match_data_create(1, NULL);
    if (!w.md && !st) st = qy_error(QY_ERR_NOMEM, "out of memory (regex match data)");
    sbuf o = {0};
    if (!st) st = sb_add(&o, "", 0);
    if (!st && t->decoder) {
        st = decode_step(t->decoder, &w, &v, &r);
        for (size_t i = 0; i < r.n && !st; i++) st = sb_add(&o, r.s[i], r.len[i]);
    } else if (!st) {
        for (size_t i = 0; i < v.n && !st; i++)
            st = (i && sb_add(&o, " ", 1)) || sb_add(&o, v.s[i], v.len[i]) ? QY_ERR_NOMEM : QY_OK;
    }
    strv_free(&v);
    strv_free(&r);
    qy_arena_free(&w.arena);
    if (w.md) pcre2_match_data_free(w.md);
    if (st) {
        qy_free(o.s);
        return st;
    }
    *out = o.s;
    *out_len = o.len;
    return QY_OK;
}

int qy_tokenizer_decode(const qy_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **out,
                        size_t *out_len) {
    *out = NULL;
    size_t dummy;
    if (!out_len) out_len = &dummy;
    char **toks = qy_calloc(n ? n : 1, sizeof *toks);
    size_t *lens = qy_calloc(n ? n : 1, sizeof *lens);
    if (!toks || !lens) {
        qy_free(toks);
        qy_free(lens);
        return QY_ERR_NOMEM;
    }
    size_t m = 0;
    int st = QY_OK;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= t->id_cap || !t->id_str[id]) {
            st = qy_error(QY_ERR_RANGE, "decode: id %d at position %zu is not in the vocabulary (0..%zu)",
                          (int)id, i, t->id_cap ? t->id_cap - 1 : 0);
            break;
        }
        if (skip_special && t->is_special_id[id]) continue;
        toks[m] = t->id_str[id];
        lens[m] = strlen(t->id_str[id]);
        m++;
    }
    if (!st) st = tok_decode_tokens(t, toks, lens, m, out, out_len);
    qy_free(toks);
    qy_free(lens);
    return st;
}
