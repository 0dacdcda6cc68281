/* tok_unicode.c — UTF-8, the character classes `tokenizers` uses (Rust's char
 * predicates, via utf8proc's Unicode tables), GPT-2's byte map, the string
 * hash map of the vocabulary and the PCRE2 wrapper. */
#include <string.h>
#include <utf8proc.h>
#include <xxhash.h>

#include "text/tok_internal.h"

int qy_utf8_decode(const char *s, size_t len, uint32_t *cp) {
    const uint8_t *u = (const uint8_t *)s;
    if (u[0] < 0x80 || len < 2) {
        *cp = u[0];
        return 1;
    }
    if (u[0] < 0xE0) {
        *cp = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
        return 2;
    }
    if (u[0] < 0xF0 || len < 4) {
        *cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
        return 3;
    }
    *cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) | ((uint32_t)(u[2] & 0x3F) << 6) |
          (u[3] & 0x3F);
    return 4;
}

int qy_utf8_encode(uint32_t cp, char *out) {
    uint8_t *o = (uint8_t *)out;
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

int qy_utf8_lead(uint8_t c, uint8_t *lo, uint8_t *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0) *lo = 0xA0;
        if (c == 0xED) *hi = 0x9F;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0) *lo = 0x90;
        if (c == 0xF4) *hi = 0x8F;
        return 4;
    }
    return 0;
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF. */
size_t qy_utf8_invalid_at(const char *s, size_t len) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        /* ASCII run, 8 bytes at a time */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, u + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= len) break;
        uint8_t c = u[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        uint8_t lo, hi;
        size_t n = (size_t)qy_utf8_lead(c, &lo, &hi);
        if (!n) return i;
        if (i + n > len) return i;
        if (u[i + 1] < lo || u[i + 1] > hi) return i;
        for (size_t k = 2; k < n; k++)
            if ((u[i + k] & 0xC0) != 0x80) return i;
        i += n;
    }
    return len;
}

int qy_uni_is_whitespace(uint32_t c) {
    if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
    if (c < 0x85) return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int category(uint32_t c) { return utf8proc_category((utf8proc_int32_t)c); }

int qy_uni_is_punct(uint32_t c) {
    if (c < 0x80)
        return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
               (c >= 0x7B && c <= 0x7E);
    int k = category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

int qy_uni_is_digit(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    int k = category(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

int qy_uni_is_alnum(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    int k = category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) || qy_uni_is_digit(c);
}

int qy_uni_is_other(uint32_t c) {
    int k = category(c);
    return k == UTF8PROC_CATEGORY_CN || (k >= UTF8PROC_CATEGORY_CC && k <= UTF8PROC_CATEGORY_CO);
}

int qy_uni_is_mn(uint32_t c) { return c >= 0x300 && category(c) == UTF8PROC_CATEGORY_MN; }

int qy_uni_is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) ||
           (c >= 0x2B920 && c <= 0x2CEAF) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* GPT-2 bytes_to_unicode: printable Latin-1 bytes stand for themselves, the
 * other 68 bytes take U+0100.. in byte order. */
static int byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t qy_bytelevel_char(uint8_t b) {
    if (byte_is_printable(b)) return b;
    uint32_t n = 0;
    for (unsigned k = 0; k < b; k++)
        if (!byte_is_printable(k)) n++;
    return 256 + n;
}

int qy_bytelevel_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t n = cp - 256;
    for (unsigned k = 0; k < 256; k++)
        if (!byte_is_printable(k) && n-- == 0) return (int)k;
    return -1;
}

/* ----------------------------------------------------------- string map */

uint64_t tok_hash(const void *p, size_t len) { return XXH3_64bits(p, len); }

int tok_strmap_init(tok_strmap *m, size_t expect) {
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < expect * 2) cap <<= 1;
    m->slots = qy_calloc(cap, sizeof *m->slots);
    if (!m->slots) return QY_ERR_NOMEM;
    m->cap = cap;
    return QY_OK;
}

void tok_strmap_free(tok_strmap *m) {
    if (!m) return;
    qy_free(m->slots);
    qy_free(m->entries);
    qy_free(m->pool);
    memset(m, 0, sizeof *m);
}

static size_t strmap_find(const tok_strmap *m, const char *key, size_t len, uint64_t h) {
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    for (;;) {
        uint32_t s = m->slots[i];
        if (!s) return i;
        const tok_strent *e = &m->entries[s - 1];
        if (e->hash == h && e->len == len && memcmp(m->pool + e->off, key, len) == 0) return i;
        i = (i + 1) & mask;
    }
}

static int strmap_grow(tok_strmap *m) {
    size_t cap = m->cap * 2;
    uint32_t *slots = qy_calloc(cap, sizeof *slots);
    if (!slots) return QY_ERR_NOMEM;
    for (size_t k = 0; k < m->n; k++) {
        size_t i = (size_t)m->entries[k].hash & (cap - 1);
        while (slots[i]) i = (i + 1) & (cap - 1);
        slots[i] = (uint32_t)(k + 1);
    }
    qy_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return QY_OK;
}

int tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t value) {
    if (len > UINT32_MAX / 2) return qy_error(QY_ERR_RANGE, "token of %zu bytes is too long", len);
    uint64_t h = tok_hash(key, len);
    size_t i = strmap_find(m, key, len, h);
    if (m->slots[i]) {
        m->entries[m->slots[i] - 1].value = value;
        return QY_OK;
    }
    if ((m->n + 1) * 2 > m->cap) {
        if (strmap_grow(m)) return QY_ERR_NOMEM;
        i = strmap_find(m, key, len, h);
    }
    if (m->n == m->ecap) {
        size_t nc = m->ecap ? m->ecap * 2 : 64;
        void *e = qy_reallocn(m->entries, nc, sizeof *m->entries);
        if (!e) return QY_ERR_NOMEM;
        m->entries = e;
        m->ecap = nc;
    }
    if (m->pool_len + len + 1 > m->pool_cap) {
        size_t nc = m->pool_cap ? m->pool_cap : 1024;
        while (nc < m->pool_len + len + 1) nc *= 2;
        char *p = qy_realloc(m->pool, nc);
        if (!p) return QY_ERR_NOMEM;
        m->pool = p;
        m->pool_cap = nc;
    }
    if (m->pool_len > UINT32_MAX - len - 1) return qy_error(QY_ERR_RANGE, "vocabulary text over 4 GiB");
    memcpy(m->pool + m->pool_len, key, len);
    m->pool[m->pool_len + len] = '\0';
    m->entries[m->n].hash = h;
    m->entries[m->n].off = (uint32_t)m->pool_len;
    m->entries[m->n].len = (uint32_t)len;
    m->entries[m->n].value = value;
    m->pool_len += len + 1;
    m->slots[i] = (uint32_t)(++m->n);
    return QY_OK;
}

int tok_strmap_get(const tok_strmap *m, const char *key, size_t len, int32_t *value) {
    if (!m->cap) return 0;
    size_t i = strmap_find(m, key, len, tok_hash(key, len));
    if (!m->slots[i]) return 0;
    *value = m->entries[m->slots[i] - 1].value;
    return 1;
}

/* ---------------------------------------------------------------- regex */

int tok_regex_compile(tok_regex *re, const char *pattern, const char *where) {
    memset(re, 0, sizeof *re);
    int err;
    PCRE2_SIZE erroff;
    re->code =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &erroff, NULL);
    if (!re->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return qy_error(QY_ERR_FORMAT, "%s: regex /%s/ does not compile at offset %zu: %s", where, pattern,
                        (size_t)erroff, (const char *)msg);
    }
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
    return QY_OK;
}

int tok_regex_literal(tok_regex *re, const char *s, size_t len) {
    memset(re, 0, sizeof *re);
    re->literal = qy_strndup(s, len);
    if (!re->literal) return QY_ERR_NOMEM;
    re->literal_len = len;
    return QY_OK;
}

void tok_regex_free(tok_regex *re) {
    if (!re) return;
    if (re->code) pcre2_code_free(re->code);
    qy_free(re->literal);
    memset(re, 0, sizeof *re);
}

int tok_regex_next(const tok_regex *re, tok_work *w, const char *s, size_t len, size_t from, size_t *ms,
                   size_t *me) {
    if (re->literal) {
        if (re->literal_len == 0 || from >= len) return 0;
        const char *p = memmem(s + from, len - from, re->literal, re->literal_len);
        if (!p) return 0;
        *ms = (size_t)(p - s);
        *me = *ms + re->literal_len;
        return 1;
    }
    if (from > len) return 0;
    int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, len, from, PCRE2_NO_UTF_CHECK, w->md, NULL)
                     : pcre2_match(re->code, (PCRE2_SPTR)s, len, from, PCRE2_NO_UTF_CHECK, w->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0 && rc != 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return -qy_error(QY_ERR_INTERNAL, "regex match failed: %s", (const char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}
