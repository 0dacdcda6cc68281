/* tok_train.c — learning a byte-level BPE or a WordPiece vocabulary, the way
 * `tokenizers`' BpeTrainer / WordPieceTrainer do it:
 *   1. count words: the text is normalised and pre-tokenised exactly as the
 *      written tokenizer.json will do it (a skeleton tokenizer of the final
 *      layout does the splitting); files are memory-mapped and read in 4 MiB
 *      blocks; the word table is bounded by max_words: when it fills up, the
 *      rarest words are dropped (lossy counting: a word dropped early can lose
 *      counts; the message at the end says how many were pruned);
 *   2. BPE: start from the alphabet (all 256 bytes for byte-level; the seen
 *      chars plus their "##" forms for WordPiece), repeatedly merge the most
 *      frequent adjacent pair (ties: the smaller pair of ids), updating pair
 *      counts only in the words that contain the merged pair; a lazy max-heap
 *      holds the candidates;
 *   3. write tokenizer.json in the fixtures' layout (GPT-2 style byte-level BPE,
 *      or BERT style WordPiece). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "text/tok_internal.h"

/* ------------------------------------------------------------ counting */

typedef struct counter {
    tok_strmap map; /* word -> index into counts */
    uint64_t *counts;
    size_t cap;
    size_t max_words;
    uint64_t pruned; /* distinct words dropped */
} counter;

static int counter_prune(counter *c) {
    /* drop the words with count <= k, the smallest k that halves the table */
    uint64_t k = 1;
    for (;;) {
        size_t keep = 0;
        for (size_t i = 0; i < c->map.n; i++) keep += c->counts[i] > k;
        if (keep <= c->max_words / 2) break;
        k++;
    }
    tok_strmap m2;
    int st = tok_strmap_init(&m2, c->max_words);
    if (st) return st;
    uint64_t *c2 = qy_mallocn(c->cap, sizeof *c2);
    if (!c2) {
        tok_strmap_free(&m2);
        return QY_ERR_NOMEM;
    }
    for (size_t i = 0; i < c->map.n; i++) {
        if (c->counts[i] <= k) {
            c->pruned++;
            continue;
        }
        const tok_strent *e = &c->map.entries[i];
        if ((st = tok_strmap_put(&m2, c->map.pool + e->off, e->len, (int32_t)m2.n))) break;
        c2[m2.n - 1] = c->counts[i];
    }
    if (st) {
        tok_strmap_free(&m2);
        qy_free(c2);
        return st;
    }
    tok_strmap_free(&c->map);
    qy_free(c->counts);
    c->map = m2;
    c->counts = c2;
    return QY_OK;
}

static int count_word(void *vctx, const char *w, size_t n) {
    counter *c = vctx;
    int32_t idx;
    if (tok_strmap_get(&c->map, w, n, &idx)) {
        c->counts[idx]++;
        return QY_OK;
    }
    if (c->map.n >= c->max_words) {
        int st = counter_prune(c);
        if (st) return st;
    }
    if (c->map.n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 4096;
        uint64_t *x = qy_reallocn(c->counts, nc, sizeof *x);
        if (!x) return QY_ERR_NOMEM;
        c->counts = x;
        c->cap = nc;
    }
    int st = tok_strmap_put(&c->map, w, n, (int32_t)c->map.n);
    if (st) return st;
    c->counts[c->map.n - 1] = 1;
    return QY_OK;
}

static int count_files(const qy_tokenizer *skel, const char *const *files, size_t nfiles, counter *c) {
    uint64_t total = 0;
    for (size_t f = 0; f < nfiles; f++) {
        qy_mmap m;
        int st = qy_mmap_open(files[f], &m);
        if (st) return st;
        total += m.size;
        qy_mmap_close(&m);
    }
    qy_progress pr;
    qy_progress_begin(&pr, "counting words", total, "B");
    int st = QY_OK;
    for (size_t f = 0; f < nfiles && !st; f++) {
        qy_mmap m;
        if ((st = qy_mmap_open(files[f], &m))) break;
        const char *s = (const char *)m.data;
        size_t pos = 0, block = (size_t)4 << 20;
        while (pos < m.size && !st) {
            size_t end = pos + block < m.size ? pos + block : m.size;
            if (end < m.size) { /* end the block after a newline, else on a char boundary */
                size_t k = end;
                while (k > pos && s[k - 1] != '\n') k--;
                if (k > pos)
                    end = k;
                else
                    while (end > pos && ((unsigned char)s[end] & 0xC0) == 0x80) end--;
            }
            st = tok_for_each_word(skel, s + pos, end - pos, count_word, c);
            if (st) qy_error_wrap(st, "%s: block at byte %zu", files[f], pos);
            qy_progress_add(&pr, end - pos);
            pos = end;
        }
        qy_mmap_close(&m);
    }
    qy_progress_set_extra(&pr, "%zu distinct words", c->map.n);
    qy_progress_end(&pr);
    return st;
}

/* ------------------------------------------------------------- vocab */

typedef struct vocab {
    tok_strmap map;
    char **str;
    size_t n, cap;
} vocab;

static int vocab_add(vocab *v, const char *s, size_t len, int32_t *id) {
    if (tok_strmap_get(&v->map, s, len, id)) return QY_OK;
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 1024;
        char **x = qy_reallocn(v->str, nc, sizeof *x);
        if (!x) return QY_ERR_NOMEM;
        v->str = x;
        v->cap = nc;
    }
    if (!(v->str[v->n] = qy_strndup(s, len))) return QY_ERR_NOMEM;
    *id = (int32_t)v->n;
    v->n++;
    return tok_strmap_put(&v->map, s, len, *id);
}

static void vocab_free(vocab *v) {
    for (size_t i = 0; i < v->n; i++) qy_free(v->str[i]);
    qy_free(v->str);
    tok_strmap_free(&v->map);
}

/* ------------------------------------------------------------ trainer */

typedef struct pairinfo {
    int64_t count;
    uint32_t *where; /* words containing the pair (may hold stale entries) */
    uint32_t nwhere, capwhere;
    uint32_t stamp; /* last merge that pushed it */
} pairinfo;

typedef struct heapent {
    int64_t count;
    int32_t a, b;
} heapent;

typedef struct trainer {
    int32_t *syms; /* all words' symbols */
    size_t *start; /* word w: syms[start[w] .. start[w] + len[w]) */
    uint32_t *len;
    uint64_t *count;
    size_t nwords;
    uint32_t *wstamp;
    tok_merges pairmap; /* (a, b) -> index into pairs (stored as rank) */
    pairinfo *pairs;
    size_t npairs, cappairs;
    heapent *heap;
    size_t hn, hcap;
    int32_t *touched; /* pairs (a, b) that gained counts in this merge */
    size_t ntouched, captouched;
} trainer;

static int heap_better(const heapent *x, const heapent *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

static int hpush(trainer *T, heapent e) {
    if (T->hn == T->hcap) {
        size_t nc = T->hcap ? T->hcap * 2 : 4096;
        heapent *x = qy_reallocn(T->heap, nc, sizeof *x);
        if (!x) return QY_ERR_NOMEM;
        T->heap = x;
        T->hcap = nc;
    }
    size_t i = T->hn++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_better(&e, &T->heap[p])) break;
        T->heap[i] = T->heap[p];
        i = p;
    }
    T->heap[i] = e;
    return QY_OK;
}

static heapent hpop(trainer *T) {
    heapent top = T->heap[0], x = T->heap[--T->hn];
    size_t i = 0, n = T->hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_better(&T->heap[c + 1], &T->heap[c])) c++;
        if (!heap_better(&T->heap[c], &x)) break;
        T->heap[i] = T->heap[c];
        i = c;
    }
    if (n) T->heap[i] = x;
    return top;
}

static int pair_get(trainer *T, int32_t a, int32_t b, pairinfo **out) {
    uint32_t idx;
    int32_t unused;
    if (tok_merges_get(&T->pairmap, a, b, &idx, &unused)) {
        *out = &T->pairs[idx];
        return QY_OK;
    }
    if (T->npairs == T->cappairs) {
        size_t nc = T->cappairs ? T->cappairs * 2 : 4096;
        pairinfo *x = qy_reallocn(T->pairs, nc, sizeof *x);
        if (!x) return QY_ERR_NOMEM;
        T->pairs = x;
        T->cappairs = nc;
    }
    memset(&T->pairs[T->npairs], 0, sizeof T->pairs[0]);
    T->pairs[T->npairs].stamp = UINT32_MAX;
    int st = tok_merges_put(&T->pairmap, a, b, (uint32_t)T->npairs, 0);
    if (st) return st;
    *out = &T->pairs[T->npairs++];
    return QY_OK;
}

static int pair_add_word(pairinfo *p, uint32_t w) {
    if (p->nwhere && p->where[p->nwhere - 1] == w) return QY_OK;
    if (p->nwhere == p->capwhere) {
        uint32_t nc = p->capwhere ? p->capwhere * 2 : 4;
        uint32_t *x = qy_reallocn(p->where, nc, sizeof *x);
        if (!x) return QY_ERR_NOMEM;
        p->where = x;
        p->capwhere = nc;
    }
    p->where[p->nwhere++] = w;
    return QY_OK;
}

static void trainer_free(trainer *T) {
    qy_free(T->syms);
    qy_free(T->start);
    qy_free(T->len);
    qy_free(T->count);
    qy_free(T->wstamp);
    tok_merges_free(&T->pairmap);
    for (size_t i = 0; i < T->npairs; i++) qy_free(T->pairs[i].where);
    qy_free(T->pairs);
    qy_free(T->heap);
    qy_free(T->touched);
}

/* the initial symbols of every counted word */
static int init_words(trainer *T, const counter *c, vocab *v, int byte_level, const char *prefix) {
    size_t total = 0;
    for (size_t i = 0; i < c->map.n; i++) total += c->map.entries[i].len;
    T->nwords = c->map.n;
    T->syms = qy_mallocn(total ? total : 1, sizeof *T->syms);
    T->start = qy_mallocn(T->nwords ? T->nwords : 1, sizeof *T->start);
    T->len = qy_mallocn(T->nwords ? T->nwords : 1, sizeof *T->len);
    T->count = qy_mallocn(T->nwords ? T->nwords : 1, sizeof *T->count);
    T->wstamp = qy_mallocn(T->nwords ? T->nwords : 1, sizeof *T->wstamp);
    if (!T->syms || !T->start || !T->len || !T->count || !T->wstamp) return QY_ERR_NOMEM;
    int32_t byte_sym[256];
    if (byte_level) {
        /* all 256 bytes, in the order of their byte-level code points */
        for (uint32_t cp = 0; cp < 512; cp++) {
            int b = qy_bytelevel_byte(cp);
            if (b < 0) continue;
            char u[4];
            int l = qy_utf8_encode(cp, u);
            int st = vocab_add(v, u, (size_t)l, &byte_sym[b]);
            if (st) return st;
        }
    } else {
        /* the chars seen, sorted by code point, then their prefixed forms */
        uint32_t *cps = NULL;
        size_t ncp = 0, capcp = 0;
        tok_strmap seen;
        int st = tok_strmap_init(&seen, 1024);
        for (size_t i = 0; !st && i < c->map.n; i++) {
            const char *w = c->map.pool + c->map.entries[i].off;
            size_t n = c->map.entries[i].len, k = 0;
            while (k < n && !st) {
                uint32_t cp;
                int l = qy_utf8_decode(w + k, n - k, &cp);
                int32_t dummy;
                if (!tok_strmap_get(&seen, w + k, (size_t)l, &dummy)) {
                    st = tok_strmap_put(&seen, w + k, (size_t)l, 0);
                    if (ncp == capcp) {
                        capcp = capcp ? capcp * 2 : 256;
                        uint32_t *x = qy_reallocn(cps, capcp, sizeof *x);
                        if (!x)
                            st = QY_ERR_NOMEM;
                        else
                            cps = x;
                    }
                    if (!st) cps[ncp++] = cp;
                }
                k += (size_t)l;
            }
        }
        tok_strmap_free(&seen);
        for (size_t i = 1; !st && i < ncp; i++) /* insertion sort is fine for an alphabet */
            for (size_t j = i; j > 0 && cps[j - 1] > cps[j]; j--) {
                uint32_t x = cps[j];
                cps[j] = cps[j - 1];
                cps[j - 1] = x;
            }
        size_t pl = strlen(prefix);
        for (int pass = 0; pass < 2 && !st; pass++)
            for (size_t i = 0; i < ncp && !st; i++) {
                char u[64];
                size_t o = 0;
                if (pass) {
                    memcpy(u, prefix, pl);
                    o = pl;
                }
                o += (size_t)qy_utf8_encode(cps[i], u + o);
                int32_t id;
                st = vocab_add(v, u, o, &id);
            }
        qy_free(cps);
        if (st) return st;
    }
    size_t at = 0;
    char kbuf[64];
    size_t pl = prefix ? strlen(prefix) : 0;
    for (size_t i = 0; i < c->map.n; i++) {
        const char *w = c->map.pool + c->map.entries[i].off;
        size_t n = c->map.entries[i].len, k = 0;
        T->start[i] = at;
        T->count[i] = c->counts[i];
        T->wstamp[i] = UINT32_MAX;
        while (k < n) {
            size_t l = 1;
            int32_t id;
            if (byte_level)
                id = byte_sym[(unsigned char)w[k]];
            else {
                uint32_t cp;
                l = (size_t)qy_utf8_decode(w + k, n - k, &cp);
                size_t o = 0;
                if (k > 0) {
                    memcpy(kbuf, prefix, pl);
                    o = pl;
                }
                memcpy(kbuf + o, w + k, l);
                if (!tok_strmap_get(&v->map, kbuf, o + l, &id))
                    return qy_error(QY_ERR_INTERNAL, "trainer: char missing from the alphabet");
            }
            T->syms[at++] = id;
            k += l;
        }
        T->len[i] = (uint32_t)(at - T->start[i]);
    }
    return QY_OK;
}

static int add_word_pairs(trainer *T, size_t w, int sign, int32_t only_with, uint32_t stamp) {
    const int32_t *s = T->syms + T->start[w];
    int64_t c = (int64_t)T->count[w] * sign;
    for (uint32_t i = 0; i + 1 < T->len[w]; i++) {
        pairinfo *p;
        int st = pair_get(T, s[i], s[i + 1], &p);
        if (st) return st;
        p->count += c;
        if (sign > 0 && (only_with < 0 || s[i] == only_with || s[i + 1] == only_with)) {
            if ((st = pair_add_word(p, (uint32_t)w))) return st;
            if (only_with >= 0 && p->stamp != stamp) { /* a pair gaining counts: (re)enter the heap */
                p->stamp = stamp;
                if (T->ntouched == T->captouched) {
                    size_t nc = T->captouched ? T->captouched * 2 : 1024;
                    int32_t *x = qy_reallocn(T->touched, nc, 2 * sizeof *x);
                    if (!x) return QY_ERR_NOMEM;
                    T->touched = x;
                    T->captouched = nc;
                }
                T->touched[2 * T->ntouched] = s[i];
                T->touched[2 * T->ntouched + 1] = s[i + 1];
                T->ntouched++;
            }
        }
    }
    return QY_OK;
}

static int train_merges(trainer *T, vocab *v, size_t target, uint64_t min_freq, const char *prefix,
                        int32_t **merges_out, size_t *nmerges) {
    int st = QY_OK;
    for (size_t w = 0; w < T->nwords && !st; w++) st = add_word_pairs(T, w, 1, -1, 0);
    /* seed the heap with every pair (scan the words once more for their ids) */
    for (size_t w = 0; w < T->nwords && !st; w++) {
        const int32_t *s = T->syms + T->start[w];
        for (uint32_t i = 0; i + 1 < T->len[w] && !st; i++) {
            pairinfo *p;
            st = pair_get(T, s[i], s[i + 1], &p);
            if (!st && p->stamp != 0) {
                p->stamp = 0;
                st = hpush(T, (heapent){p->count, s[i], s[i + 1]});
            }
        }
    }
    size_t pl = prefix ? strlen(prefix) : 0;
    int32_t *merges = NULL;
    size_t nm = 0, capm = 0;
    uint32_t stamp = 1;
    qy_progress pr;
    qy_progress_begin(&pr, "learning merges", target > v->n ? target - v->n : 0, "merges");
    char *buf = NULL;
    size_t bufcap = 0;
    while (!st && v->n < target && T->hn) {
        heapent top = hpop(T);
        pairinfo *p;
        if ((st = pair_get(T, top.a, top.b, &p))) break;
        if (top.count != p->count) { /* stale entry: re-queue with the current count */
            if (p->count > 0) st = hpush(T, (heapent){p->count, top.a, top.b});
            continue;
        }
        if (top.count <= 0 || (uint64_t)top.count < min_freq) break;
        /* the new token */
        const char *sa = v->str[top.a], *sb = v->str[top.b];
        size_t la = strlen(sa), lb = strlen(sb);
        if (pl && lb >= pl && !memcmp(sb, prefix, pl)) {
            sb += pl;
            lb -= pl;
        }
        if (la + lb + 1 > bufcap) {
            bufcap = (la + lb + 1) * 2;
            qy_free(buf);
            if (!(buf = qy_malloc(bufcap))) {
                st = QY_ERR_NOMEM;
                break;
            }
        }
        memcpy(buf, sa, la);
        memcpy(buf + la, sb, lb);
        int32_t nid;
        if ((st = vocab_add(v, buf, la + lb, &nid))) break;
        if (nm == capm) {
            capm = capm ? capm * 2 : 1024;
            int32_t *x = qy_reallocn(merges, capm, 2 * sizeof *x);
            if (!x) {
                st = QY_ERR_NOMEM;
                break;
            }
            merges = x;
        }
        merges[2 * nm] = top.a;
        merges[2 * nm + 1] = top.b;
        nm++;
        stamp++;
        /* apply to every word holding the pair; p may move when pairs grow, so copy its list */
        uint32_t nwh = p->nwhere;
        uint32_t *wh = qy_mallocn(nwh ? nwh : 1, sizeof *wh);
        if (!wh) {
            st = QY_ERR_NOMEM;
            break;
        }
        memcpy(wh, p->where, nwh * sizeof *wh);
        for (uint32_t k = 0; k < nwh && !st; k++) {
            uint32_t w = wh[k];
            if (T->wstamp[w] == stamp) continue;
            T->wstamp[w] = stamp;
            int32_t *s = T->syms + T->start[w];
            uint32_t n = T->len[w], i = 0;
            int has = 0;
            for (; i + 1 < n; i++)
                if (s[i] == top.a && s[i + 1] == top.b) {
                    has = 1;
                    break;
                }
            if (!has) continue;
            if ((st = add_word_pairs(T, w, -1, -1, stamp))) break;
            uint32_t o = 0;
            for (i = 0; i < n;) {
                if (i + 1 < n && s[i] == top.a && s[i + 1] == top.b) {
                    s[o++] = nid;
                    i += 2;
                } else
                    s[o++] = s[i++];
            }
            T->len[w] = o;
            st = add_word_pairs(T, w, 1, nid, stamp);
        }
        qy_free(wh);
        /* the pairs that gained counts (they hold the new token) enter the heap */
        for (size_t k = 0; k < T->ntouched && !st; k++) {
            pairinfo *q;
            int32_t a = T->touched[2 * k], b = T->touched[2 * k + 1];
            if ((st = pair_get(T, a, b, &q))) break;
            if (q->count > 0) st = hpush(T, (heapent){q->count, a, b});
        }
        T->ntouched = 0;
        qy_progress_add(&pr, 1);
    }
    qy_free(buf);
    qy_progress_end(&pr);
    if (st) {
        qy_free(merges);
        return st;
    }
    *merges_out = merges;
    *nmerges = nm;
    return QY_OK;
}

/* ------------------------------------------------------------- output */

static cJSON *added_tokens_json(const char *const *special, size_t n) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)i);
        cJSON_AddStringToObject(o, "content", special[i]);
        cJSON_AddBoolToObject(o, "single_word", 0);
        cJSON_AddBoolToObject(o, "lstrip", 0);
        cJSON_AddBoolToObject(o, "rstrip", 0);
        cJSON_AddBoolToObject(o, "normalized", 0);
        cJSON_AddBoolToObject(o, "special", 1);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *typed(const char *type) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    return o;
}

/* The tokenizer.json skeleton (no vocabulary yet) in the fixtures' layout. */
static cJSON *layout_json(const qy_tok_train_params *p) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON_AddItemToObject(root, "added_tokens", added_tokens_json(p->special_tokens, p->nspecial));
    cJSON *model;
    if (p->kind == QY_TOK_TRAIN_BPE) {
        cJSON_AddNullToObject(root, "normalizer");
        cJSON *pre = typed("ByteLevel");
        cJSON_AddBoolToObject(pre, "add_prefix_space", 0);
        cJSON_AddBoolToObject(pre, "trim_offsets", 1);
        cJSON_AddBoolToObject(pre, "use_regex", 1);
        cJSON_AddItemToObject(root, "pre_tokenizer", pre);
        cJSON *post = typed("ByteLevel");
        cJSON_AddBoolToObject(post, "add_prefix_space", 1);
        cJSON_AddBoolToObject(post, "trim_offsets", 0);
        cJSON_AddBoolToObject(post, "use_regex", 1);
        cJSON_AddItemToObject(root, "post_processor", post);
        cJSON *dec = typed("ByteLevel");
        cJSON_AddBoolToObject(dec, "add_prefix_space", 1);
        cJSON_AddBoolToObject(dec, "trim_offsets", 1);
        cJSON_AddBoolToObject(dec, "use_regex", 1);
        cJSON_AddItemToObject(root, "decoder", dec);
        model = typed("BPE");
        cJSON_AddNullToObject(model, "dropout");
        cJSON_AddNullToObject(model, "unk_token");
        cJSON_AddNullToObject(model, "continuing_subword_prefix");
        cJSON_AddNullToObject(model, "end_of_word_suffix");
        cJSON_AddBoolToObject(model, "fuse_unk", 0);
        cJSON_AddBoolToObject(model, "byte_fallback", 0);
        cJSON_AddBoolToObject(model, "ignore_merges", 0);
    } else {
        cJSON *norm = typed("BertNormalizer");
        cJSON_AddBoolToObject(norm, "clean_text", 1);
        cJSON_AddBoolToObject(norm, "handle_chinese_chars", 1);
        cJSON_AddNullToObject(norm, "strip_accents");
        cJSON_AddBoolToObject(norm, "lowercase", p->lowercase);
        cJSON_AddItemToObject(root, "normalizer", norm);
        cJSON_AddItemToObject(root, "pre_tokenizer", typed("BertPreTokenizer"));
        /* [CLS] $A [SEP] / [CLS] $A [SEP] $B:1 [SEP]:1 when those tokens exist */
        int have_cls = 0, have_sep = 0;
        size_t cls = 0, sep = 0;
        for (size_t i = 0; i < p->nspecial; i++) {
            if (!strcmp(p->special_tokens[i], "[CLS]")) have_cls = 1, cls = i;
            if (!strcmp(p->special_tokens[i], "[SEP]")) have_sep = 1, sep = i;
        }
        if (have_cls && have_sep) {
            cJSON *post = typed("TemplateProcessing");
            const char *seqs[2][5] = {{"[CLS]", "A", "[SEP]", NULL, NULL},
                                      {"[CLS]", "A", "[SEP]", "B", "[SEP]"}};
            int types[2][5] = {{0, 0, 0, 0, 0}, {0, 0, 0, 1, 1}};
            for (int k = 0; k < 2; k++) {
                cJSON *arr = cJSON_AddArrayToObject(post, k ? "pair" : "single");
                for (int j = 0; j < 5 && seqs[k][j]; j++) {
                    cJSON *it = cJSON_CreateObject(), *in = cJSON_CreateObject();
                    int special = seqs[k][j][0] == '[';
                    cJSON_AddStringToObject(in, "id", seqs[k][j]);
                    cJSON_AddNumberToObject(in, "type_id", types[k][j]);
                    cJSON_AddItemToObject(it, special ? "SpecialToken" : "Sequence", in);
                    cJSON_AddItemToArray(arr, it);
                }
            }
            cJSON *sp = cJSON_AddObjectToObject(post, "special_tokens");
            const char *names[2] = {"[CLS]", "[SEP]"};
            size_t ids[2] = {cls, sep};
            for (int k = 0; k < 2; k++) {
                cJSON *o = cJSON_AddObjectToObject(sp, names[k]);
                cJSON_AddStringToObject(o, "id", names[k]);
                cJSON *ia = cJSON_AddArrayToObject(o, "ids");
                cJSON_AddItemToArray(ia, cJSON_CreateNumber((double)ids[k]));
                cJSON *ta = cJSON_AddArrayToObject(o, "tokens");
                cJSON_AddItemToArray(ta, cJSON_CreateString(names[k]));
            }
            cJSON_AddItemToObject(root, "post_processor", post);
        } else
            cJSON_AddNullToObject(root, "post_processor");
        cJSON *dec = typed("WordPiece");
        cJSON_AddStringToObject(dec, "prefix", "##");
        cJSON_AddBoolToObject(dec, "cleanup", 1);
        cJSON_AddItemToObject(root, "decoder", dec);
        model = typed("WordPiece");
        cJSON_AddStringToObject(model, "unk_token", "[UNK]");
        cJSON_AddStringToObject(model, "continuing_subword_prefix", "##");
        cJSON_AddNumberToObject(model, "max_input_chars_per_word", 100);
    }
    cJSON_AddItemToObject(model, "vocab", cJSON_CreateObject());
    if (p->kind == QY_TOK_TRAIN_BPE) cJSON_AddItemToObject(model, "merges", cJSON_CreateArray());
    cJSON_AddItemToObject(root, "model", model);
    return root;
}

int qy_tokenizer_train(const char *const *files, size_t nfiles, const qy_tok_train_params *params,
                       const char *out_path) {
    qy_tok_train_params p = *params;
    if (!p.max_words) p.max_words = 1000000;
    if (p.max_words < 16) return qy_error(QY_ERR_ARG, "max_words must be at least 16");
    if (!nfiles) return qy_error(QY_ERR_ARG, "no training files");
    int byte_level = p.kind == QY_TOK_TRAIN_BPE;
    if (p.vocab_size < p.nspecial + (byte_level ? 256 : 1))
        return qy_error(QY_ERR_ARG,
                        "vocab_size %zu is smaller than the special tokens and the alphabet (%zu)",
                        p.vocab_size, p.nspecial + (byte_level ? 256 : 1));
    if (p.kind == QY_TOK_TRAIN_WORDPIECE) {
        size_t k = 0;
        while (k < p.nspecial && strcmp(p.special_tokens[k], "[UNK]")) k++;
        if (k == p.nspecial) return qy_error(QY_ERR_ARG, "WordPiece needs [UNK] among the special tokens");
    }
    uint64_t t0 = qy_now_ns();
    cJSON *root = layout_json(&p);
    if (!root) return qy_error(QY_ERR_NOMEM, "out of memory building tokenizer.json");
    char *skel_text = qy_json_print(root, 0);
    qy_tokenizer *skel = NULL;
    int st = skel_text ? qy_tokenizer_from_json(skel_text, strlen(skel_text), "training layout", &skel)
                       : QY_ERR_NOMEM;
    qy_free(skel_text);
    counter c = {.max_words = p.max_words};
    trainer T = {0};
    vocab v = {0};
    int32_t *merges = NULL;
    size_t nm = 0;
    if (!st) st = tok_strmap_init(&c.map, 1 << 16);
    if (!st) st = count_files(skel, files, nfiles, &c);
    if (!st && c.pruned)
        qy_warn(
            "tok train: the word table reached max_words=%zu: %llu rare words were dropped while counting",
            p.max_words, (unsigned long long)c.pruned);
    if (!st) st = tok_strmap_init(&v.map, p.vocab_size);
    for (size_t i = 0; !st && i < p.nspecial; i++) {
        int32_t id;
        st = vocab_add(&v, p.special_tokens[i], strlen(p.special_tokens[i]), &id);
        if (!st && (size_t)id != i)
            st = qy_error(QY_ERR_ARG, "special token \"%s\" given twice", p.special_tokens[i]);
    }
    const char *prefix = byte_level ? NULL : "##";
    if (!st) st = init_words(&T, &c, &v, byte_level, prefix ? prefix : "");
    tok_strmap_free(&c.map);
    qy_free(c.counts);
    c.counts = NULL;
    if (!st) st = train_merges(&T, &v, p.vocab_size, p.min_frequency, prefix, &merges, &nm);
    if (!st) {
        cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
        cJSON *vj = cJSON_GetObjectItemCaseSensitive(model, "vocab");
        for (size_t i = 0; i < v.n; i++) cJSON_AddItemToObject(vj, v.str[i], cJSON_CreateNumber((double)i));
        if (byte_level) {
            cJSON *mj = cJSON_GetObjectItemCaseSensitive(model, "merges");
            for (size_t i = 0; i < nm; i++) {
                cJSON *pair = cJSON_CreateArray();
                cJSON_AddItemToArray(pair, cJSON_CreateString(v.str[merges[2 * i]]));
                cJSON_AddItemToArray(pair, cJSON_CreateString(v.str[merges[2 * i + 1]]));
                cJSON_AddItemToArray(mj, pair);
            }
        }
        st = qy_json_write_file(out_path, root);
    }
    if (!st)
        qy_info("tok train: %s vocabulary of %zu tokens (%zu merges) from %zu words in %.2f s -> %s",
                byte_level ? "byte-level BPE" : "WordPiece", v.n, nm, T.nwords, qy_seconds_since(t0),
                out_path);
    qy_free(merges);
    trainer_free(&T);
    vocab_free(&v);
    tok_strmap_free(&c.map);
    qy_free(c.counts);
    qy_tokenizer_free(skel);
    cJSON_Delete(root);
    return st;
}
