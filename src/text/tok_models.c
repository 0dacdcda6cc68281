/* tok_models.c — the models of tokenizer.json: BPE and WordPiece.
 *
 * BPE follows `tokenizers`' Word::merge_all: the pieces start as one symbol per
 * char (per byte for byte-level models), then the adjacent pair of lowest merge
 * rank is merged, leftmost first, until no pair has a rank. A heap of
 * (rank, position) gives O(n log n) per word. Each caller has a cache of whole
 * pre-tokens -> ids, which is what makes corpus encoding fast (natural text
 * repeats its words). */
#include <string.h>

#include "text/tok_internal.h"

int tok_out_push(tok_out *o, int32_t id, uint32_t st, uint32_t en) {
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 256;
        int32_t *ids = qy_reallocn(o->ids, nc, sizeof *ids);
        if (!ids) return QY_ERR_NOMEM;
        o->ids = ids;
        uint32_t *s = qy_reallocn(o->st, nc, sizeof *s);
        if (!s) return QY_ERR_NOMEM;
        o->st = s;
        uint32_t *e = qy_reallocn(o->en, nc, sizeof *e);
        if (!e) return QY_ERR_NOMEM;
        o->en = e;
        o->cap = nc;
    }
    o->ids[o->n] = id;
    o->st[o->n] = st;
    o->en[o->n] = en;
    o->n++;
    return QY_OK;
}

/* ---------------------------------------------------------- merge table */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

#define MERGE_EMPTY UINT64_MAX

int tok_merges_put(tok_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t merged) {
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        uint64_t *k = qy_mallocn(nc, sizeof *k);
        uint32_t *r = qy_mallocn(nc, sizeof *r);
        int32_t *g = qy_mallocn(nc, sizeof *g);
        if (!k || !r || !g) {
            qy_free(k);
            qy_free(r);
            qy_free(g);
            return QY_ERR_NOMEM;
        }
        for (size_t i = 0; i < nc; i++) k[i] = MERGE_EMPTY;
        for (size_t i = 0; i < m->cap; i++) {
            if (m->keys[i] == MERGE_EMPTY) continue;
            size_t j = mix64(m->keys[i]) & (nc - 1);
            while (k[j] != MERGE_EMPTY) j = (j + 1) & (nc - 1);
            k[j] = m->keys[i];
            r[j] = m->rank[i];
            g[j] = m->merged[i];
        }
        qy_free(m->keys);
        qy_free(m->rank);
        qy_free(m->merged);
        m->keys = k;
        m->rank = r;
        m->merged = g;
        m->cap = nc;
    }
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t j = mix64(key) & (m->cap - 1);
    while (m->keys[j] != MERGE_EMPTY && m->keys[j] != key) j = (j + 1) & (m->cap - 1);
    if (m->keys[j] == key) return QY_OK; /* a repeated merge keeps its first (best) rank */
    m->keys[j] = key;
    m->rank[j] = rank;
    m->merged[j] = merged;
    m->n++;
    return QY_OK;
}

int tok_merges_get(const tok_merges *m, int32_t a, int32_t b, uint32_t *rank, int32_t *merged) {
    if (!m->cap) return 0;
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t j = mix64(key) & (m->cap - 1);
    for (;;) {
        uint64_t k = m->keys[j];
        if (k == key) {
            *rank = m->rank[j];
            *merged = m->merged[j];
            return 1;
        }
        if (k == MERGE_EMPTY) return 0;
        j = (j + 1) & (m->cap - 1);
    }
}

void tok_merges_free(tok_merges *m) {
    qy_free(m->keys);
    qy_free(m->rank);
    qy_free(m->merged);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- cache */

#define CACHE_SLOTS_MIN (1u << 12)
#define CACHE_SLOTS_MAX (1u << 20)
#define CACHE_POOL_MAX (64u << 20)
#define CACHE_MAX_KEY 128

/* Open addressing over (hash, key, tokens); the table doubles up to
 * CACHE_SLOTS_MAX and the byte pool up to CACHE_POOL_MAX, then the cache
 * starts over empty (so memory stays bounded on endless distinct words). */
typedef struct cache_slot {
    uint64_t hash;
    uint32_t key_off, data_off;
    uint16_t key_len, ntok;
} cache_slot;

struct tok_cache {
    cache_slot *slot;
    size_t nslots, used;
    char *pool;
    size_t pool_len, pool_cap;
};

static int cache_new(tok_cache **out) {
    tok_cache *c = qy_calloc(1, sizeof *c);
    if (!c) return QY_ERR_NOMEM;
    c->slot = qy_calloc(CACHE_SLOTS_MIN, sizeof *c->slot);
    c->pool_cap = 1u << 16;
    c->pool = qy_malloc(c->pool_cap);
    c->nslots = CACHE_SLOTS_MIN;
    if (!c->slot || !c->pool) {
        tok_cache_free(c);
        return QY_ERR_NOMEM;
    }
    *out = c;
    return QY_OK;
}

void tok_cache_free(tok_cache *c) {
    if (!c) return;
    qy_free(c->slot);
    qy_free(c->pool);
    qy_free(c);
}

/* entry data: ntok x (int32 id, uint16 byte length) packed as 6 bytes */
static int cache_get(const tok_cache *c, const char *key, size_t len, uint64_t h, const char **data,
                     size_t *ntok) {
    size_t mask = c->nslots - 1, j = h & mask;
    for (;;) {
        const cache_slot *s = &c->slot[j];
        if (!s->key_len) return 0;
        if (s->hash == h && s->key_len == len && memcmp(c->pool + s->key_off, key, len) == 0) {
            *data = c->pool + s->data_off;
            *ntok = s->ntok;
            return 1;
        }
        j = (j + 1) & mask;
    }
}

static void cache_clear(tok_cache *c) {
    memset(c->slot, 0, c->nslots * sizeof *c->slot);
    c->used = 0;
    c->pool_len = 0;
}

/* a failed allocation only means the entry is not cached */
static void cache_put(tok_cache *c, const char *key, size_t len, uint64_t h, const int32_t *ids,
                      const uint16_t *lens, size_t ntok) {
    size_t need = len + ntok * 6;
    if ((c->used + 1) * 2 > c->nslots) {
        if (c->nslots >= CACHE_SLOTS_MAX)
            cache_clear(c);
        else {
            size_t ns = c->nslots * 2;
            cache_slot *v = qy_calloc(ns, sizeof *v);
            if (!v) return;
            for (size_t i = 0; i < c->nslots; i++) {
                if (!c->slot[i].key_len) continue;
                size_t j = c->slot[i].hash & (ns - 1);
                while (v[j].key_len) j = (j + 1) & (ns - 1);
                v[j] = c->slot[i];
            }
            qy_free(c->slot);
            c->slot = v;
            c->nslots = ns;
        }
    }
    if (c->pool_len + need > c->pool_cap) {
        if (c->pool_cap * 2 > CACHE_POOL_MAX)
            cache_clear(c);
        else {
            char *p = qy_realloc(c->pool, c->pool_cap * 2);
            if (!p) return;
            c->pool = p;
            c->pool_cap *= 2;
        }
        if (c->pool_len + need > c->pool_cap) return;
    }
    size_t mask = c->nslots - 1, j = h & mask;
    while (c->slot[j].key_len) j = (j + 1) & mask;
    c->slot[j].hash = h;
    c->slot[j].key_off = (uint32_t)c->pool_len;
    c->slot[j].key_len = (uint16_t)len;
    memcpy(c->pool + c->pool_len, key, len);
    c->pool_len += len;
    c->slot[j].data_off = (uint32_t)c->pool_len;
    c->slot[j].ntok = (uint16_t)ntok;
    for (size_t i = 0; i < ntok; i++) {
        memcpy(c->pool + c->pool_len, &ids[i], 4);
        memcpy(c->pool + c->pool_len + 4, &lens[i], 2);
        c->pool_len += 6;
    }
    c->used++;
}

/* ------------------------------------------------------------------ BPE */

typedef struct sym {
    int32_t id;
    uint32_t b, e; /* byte range in the piece */
    int32_t prev, next;
} sym;

typedef struct word {
    sym *v;
    size_t n, cap;
    sym local[64];
    uint64_t *heap;
    size_t hn, hcap;
    uint64_t hlocal[64];
} word;

static int word_add(word *w, int32_t id, uint32_t b, uint32_t e) {
    if (w->n == w->cap) {
        size_t nc = w->cap * 2;
        sym *v = qy_mallocn(nc, sizeof *v);
        if (!v) return QY_ERR_NOMEM;
        memcpy(v, w->v, w->n * sizeof *v);
        if (w->v != w->local) qy_free(w->v);
        w->v = v;
        w->cap = nc;
    }
    w->v[w->n] = (sym){id, b, e, (int32_t)w->n - 1, (int32_t)w->n + 1};
    w->n++;
    return QY_OK;
}

static int heap_push(word *w, uint64_t x) {
    if (w->hn == w->hcap) {
        size_t nc = w->hcap * 2;
        uint64_t *h = qy_mallocn(nc, sizeof *h);
        if (!h) return QY_ERR_NOMEM;
        memcpy(h, w->heap, w->hn * sizeof *h);
        if (w->heap != w->hlocal) qy_free(w->heap);
        w->heap = h;
        w->hcap = nc;
    }
    size_t i = w->hn++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (w->heap[p] <= x) break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = x;
    return QY_OK;
}

static uint64_t heap_pop(word *w) {
    uint64_t top = w->heap[0], x = w->heap[--w->hn];
    size_t i = 0, n = w->hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && w->heap[c + 1] < w->heap[c]) c++;
        if (w->heap[c] >= x) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = x;
    return top;
}

static void word_release(word *w) {
    if (w->v != w->local) qy_free(w->v);
    if (w->heap != w->hlocal) qy_free(w->heap);
}

/* (rank, pos) packed so that the smaller key is the better merge */
static int push_pair(const qy_tokenizer *t, word *w, int32_t pos) {
    int32_t nx = w->v[pos].next;
    if (nx < 0 || (size_t)nx >= w->n) return QY_OK;
    uint32_t rank;
    int32_t merged;
    if (!tok_merges_get(&t->merges, w->v[pos].id, w->v[nx].id, &rank, &merged)) return QY_OK;
    return heap_push(w, ((uint64_t)rank << 32) | (uint32_t)pos);
}

static int merge_all(const qy_tokenizer *t, word *w) {
    for (size_t i = 0; i + 1 < w->n; i++)
        if (push_pair(t, w, (int32_t)i)) return QY_ERR_NOMEM;
    while (w->hn) {
        uint64_t top = heap_pop(w);
        int32_t pos = (int32_t)(uint32_t)top;
        uint32_t rank = (uint32_t)(top >> 32);
        sym *s = &w->v[pos];
        if (s->e == s->b) continue; /* merged away */
        int32_t nx = s->next;
        if (nx < 0 || (size_t)nx >= w->n) continue;
        uint32_t r2;
        int32_t merged;
        if (!tok_merges_get(&t->merges, s->id, w->v[nx].id, &r2, &merged) || r2 != rank) continue;
        s->id = merged;
        s->e = w->v[nx].e;
        s->next = w->v[nx].next;
        w->v[nx].e = w->v[nx].b; /* mark dead */
        if (s->next >= 0 && (size_t)s->next < w->n) w->v[s->next].prev = pos;
        if (s->prev >= 0 && push_pair(t, w, s->prev)) return QY_ERR_NOMEM;
        if (push_pair(t, w, pos)) return QY_ERR_NOMEM;
    }
    return QY_OK;
}

/* Short words: the same merge order (lowest rank, then leftmost) by scanning a
 * compact array, which beats the heap below ~32 symbols. */
#define SMALL_WORD 32
static void merge_small(const qy_tokenizer *t, word *w) {
    size_t n = w->n;
    sym *v = w->v;
    uint32_t rank[SMALL_WORD];
    int32_t merged[SMALL_WORD];
    for (size_t i = 0; i + 1 < n; i++)
        if (!tok_merges_get(&t->merges, v[i].id, v[i + 1].id, &rank[i], &merged[i])) rank[i] = UINT32_MAX;
    while (n > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == UINT32_MAX) break;
        v[best].id = merged[best];
        v[best].e = v[best + 1].e;
        memmove(v + best + 1, v + best + 2, (n - best - 2) * sizeof *v);
        if (best + 2 < n) {
            memmove(rank + best + 1, rank + best + 2, (n - best - 2) * sizeof *rank);
            memmove(merged + best + 1, merged + best + 2, (n - best - 2) * sizeof *merged);
        }
        n--;
        if (best + 1 < n &&
            !tok_merges_get(&t->merges, v[best].id, v[best + 1].id, &rank[best], &merged[best]))
            rank[best] = UINT32_MAX;
        if (best > 0 &&
            !tok_merges_get(&t->merges, v[best - 1].id, v[best].id, &rank[best - 1], &merged[best - 1]))
            rank[best - 1] = UINT32_MAX;
    }
    for (size_t i = 0; i < n; i++) {
        v[i].prev = (int32_t)i - 1;
        v[i].next = (int32_t)i + 1;
    }
    w->n = n;
}

static int lookup(const qy_tokenizer *t, const char *s, size_t n, int32_t *id) {
    if (t->byte_mode && n == 1 && t->byte_id[(unsigned char)s[0]] >= 0) {
        *id = t->byte_id[(unsigned char)s[0]];
        return 1;
    }
    return tok_strmap_get(&t->vocab, s, n, id);
}

static int unk_missing(const qy_tokenizer *t) {
    return qy_error(QY_ERR_FORMAT, "%s: unk_token \"%s\" is not in the vocabulary", t->source, t->unk_token);
}

/* the initial symbols of a piece (tokenizers' BPE::merge_word) */
static int bpe_symbols(const qy_tokenizer *t, const char *s, size_t n, word *w) {
    int32_t unk_id = -1;
    uint32_t unk_b = 0, unk_e = 0;
    int have_unk = 0;
    char kbuf[256];
    size_t plen = t->cont_prefix ? strlen(t->cont_prefix) : 0,
           slen = t->eow_suffix ? strlen(t->eow_suffix) : 0;
    size_t i = 0;
    while (i < n) {
        size_t l = 1;
        if (!t->byte_mode) {
            uint32_t cp;
            l = (size_t)qy_utf8_decode(s + i, n - i, &cp);
        }
        const char *key = s + i;
        size_t klen = l;
        int first = i == 0, last = i + l == n;
        if ((!first && plen) || (last && slen)) {
            size_t o = 0;
            if (!first && plen) {
                memcpy(kbuf, t->cont_prefix, plen);
                o = plen;
            }
            memcpy(kbuf + o, s + i, l);
            o += l;
            if (last && slen && o + slen <= sizeof kbuf) {
                memcpy(kbuf + o, t->eow_suffix, slen);
                o += slen;
            }
            key = kbuf;
            klen = o;
        }
        int32_t id;
        if (lookup(t, key, klen, &id)) {
            if (have_unk) {
                if (word_add(w, unk_id, unk_b, unk_e)) return QY_ERR_NOMEM;
                have_unk = 0;
            }
            if (word_add(w, id, (uint32_t)i, (uint32_t)(i + l))) return QY_ERR_NOMEM;
            i += l;
            continue;
        }
        if (t->byte_fallback) {
            int ok = 1;
            for (size_t k = 0; k < klen && ok; k++) ok = t->fallback_id[(unsigned char)key[k]] >= 0;
            if (ok) {
                /* each byte of the key is one symbol, spread over the char's bytes */
                for (size_t k = 0; k < klen; k++) {
                    uint32_t b = (uint32_t)(i + (k < l ? k : l - 1)), e = b + 1;
                    if (word_add(w, t->fallback_id[(unsigned char)key[k]], b, e)) return QY_ERR_NOMEM;
                }
                i += l;
                continue;
            }
        }
        if (t->unk_token) {
            if (t->unk_id < 0) return unk_missing(t);
            if (have_unk && t->fuse_unk)
                unk_e = (uint32_t)(i + l);
            else {
                if (have_unk && word_add(w, unk_id, unk_b, unk_e)) return QY_ERR_NOMEM;
                unk_id = t->unk_id;
                unk_b = (uint32_t)i;
                unk_e = (uint32_t)(i + l);
                have_unk = 1;
            }
        }
        i += l;
    }
    if (have_unk && word_add(w, unk_id, unk_b, unk_e)) return QY_ERR_NOMEM;
    /* word_add linked next = index + 1; the last one points past the end */
    return QY_OK;
}

static int emit_token(const tok_piece *p, tok_out *out, int32_t id, size_t b, size_t e) {
    uint32_t st = p->len ? tok_piece_start(p, b) : (uint32_t)p->off;
    uint32_t en = e > b ? tok_piece_end(p, e - 1) : st;
    return tok_out_push(out, id, st, en);
}

/* emit cached tokens (ids + byte lengths) of piece p; 1 when found */
static int cache_emit(tok_cache *cache, const tok_piece *p, uint64_t h, tok_out *out, int *st) {
    const char *data;
    size_t ntok;
    if (!cache_get(cache, p->s, p->len, h, &data, &ntok)) return 0;
    size_t b = 0;
    *st = QY_OK;
    for (size_t k = 0; k < ntok && !*st; k++) {
        int32_t id;
        uint16_t l;
        memcpy(&id, data + 6 * k, 4);
        memcpy(&l, data + 6 * k + 4, 2);
        *st = emit_token(p, out, id, b, b + l);
        b += l;
    }
    return 1;
}

static int bpe_piece(const qy_tokenizer *t, tok_cache *cache, const tok_piece *p, tok_out *out,
                     int heap_only) {
    if (t->ignore_merges) {
        int32_t id;
        if (lookup(t, p->s, p->len, &id)) return emit_token(p, out, id, 0, p->len);
    }
    uint64_t h = 0;
    int cacheable = cache && p->len <= CACHE_MAX_KEY;
    if (cacheable) {
        h = tok_hash(p->s, p->len);
        int st;
        if (cache_emit(cache, p, h, out, &st)) return st;
    }
    word w = {.v = NULL, .cap = 64};
    w.v = w.local;
    w.heap = w.hlocal;
    w.hcap = 64;
    int st = bpe_symbols(t, p->s, p->len, &w);
    if (!st) {
        if (w.n <= SMALL_WORD && !heap_only)
            merge_small(t, &w);
        else
            st = merge_all(t, &w);
    }
    int32_t ids[CACHE_MAX_KEY];
    uint16_t lens[CACHE_MAX_KEY];
    size_t ntok = 0;
    int contiguous = 1; /* cacheable only when tokens tile the piece in order */
    size_t expect = 0;
    for (size_t i = 0; !st && i < w.n; i = (size_t)w.v[i].next) {
        sym *s = &w.v[i];
        st = emit_token(p, out, s->id, s->b, s->e);
        if (ntok < CACHE_MAX_KEY) {
            ids[ntok] = s->id;
            lens[ntok] = (uint16_t)(s->e - s->b);
            ntok++;
        }
        if (s->b != expect) contiguous = 0;
        expect = s->e;
        if (s->next < 0) break;
    }
    if (!st && cacheable && contiguous && expect == p->len)
        cache_put(cache, p->s, p->len, h, ids, lens, ntok);
    word_release(&w);
    return st;
}

/* ------------------------------------------------------------ WordPiece */

static int wordpiece_piece(const qy_tokenizer *t, tok_cache *cache, const tok_piece *p, tok_out *out) {
    uint64_t h = 0;
    int cacheable = cache && p->len <= CACHE_MAX_KEY, st;
    if (cacheable) {
        h = tok_hash(p->s, p->len);
        if (cache_emit(cache, p, h, out, &st)) return st;
    }
    size_t nchars = 0;
    for (size_t i = 0; i < p->len; i++) nchars += ((unsigned char)p->s[i] & 0xC0) != 0x80;
    size_t before = out->n;
    int32_t ids[CACHE_MAX_KEY];
    uint16_t lens[CACHE_MAX_KEY];
    size_t ntok = 0;
    if (nchars <= t->max_input_chars) {
        size_t plen = t->cont_prefix ? strlen(t->cont_prefix) : 0;
        size_t start = 0;
        char *buf = NULL;
        size_t bcap = 0;
        int bad = 0;
        while (start < p->len) {
            size_t end = p->len;
            int32_t id = -1;
            while (start < end) {
                const char *key = p->s + start;
                size_t klen = end - start;
                if (start > 0 && plen) {
                    if (plen + klen > bcap) {
                        qy_free(buf);
                        bcap = plen + klen + 64;
                        buf = qy_malloc(bcap);
                        if (!buf) return QY_ERR_NOMEM;
                    }
                    memcpy(buf, t->cont_prefix, plen);
                    memcpy(buf + plen, key, klen);
                    key = buf;
                    klen += plen;
                }
                if (tok_strmap_get(&t->vocab, key, klen, &id)) break;
                id = -1;
                end--;
                while (end > start && ((unsigned char)p->s[end] & 0xC0) == 0x80) end--;
            }
            if (id < 0) {
                bad = 1;
                break;
            }
            if (emit_token(p, out, id, start, end)) {
                qy_free(buf);
                return QY_ERR_NOMEM;
            }
            if (ntok < CACHE_MAX_KEY) {
                ids[ntok] = id;
                lens[ntok] = (uint16_t)(end - start);
            }
            ntok++;
            start = end;
        }
        qy_free(buf);
        if (!bad) {
            if (cacheable && ntok <= CACHE_MAX_KEY) cache_put(cache, p->s, p->len, h, ids, lens, ntok);
            return QY_OK;
        }
        out->n = before;
    }
    if (t->unk_id < 0) return unk_missing(t);
    if (cacheable) {
        ids[0] = t->unk_id;
        lens[0] = (uint16_t)p->len;
        cache_put(cache, p->s, p->len, h, ids, lens, 1);
    }
    return emit_token(p, out, t->unk_id, 0, p->len);
}

int tok_model_piece(const qy_tokenizer *t, tok_cache *cache, const tok_piece *p, tok_out *out) {
    if (p->len == 0) return QY_OK;
    if (t->model == MODEL_WORDPIECE) return wordpiece_piece(t, cache, p, out);
    return bpe_piece(t, cache, p, out, 0);
}

int tok_bpe_reference(const qy_tokenizer *t, const tok_piece *p, tok_out *out) {
    return bpe_piece(t, NULL, p, out, 1);
}

int tok_cache_new(tok_cache **out) { return cache_new(out); }
