/* tok_encode.c — the encoding pipeline: added tokens, normaliser,
 * pre-tokenisers, model, truncation, post-processor, padding; batches on the
 * thread pool. */
#include <string.h>

#include "text/tok_internal.h"

/* --------------------------------------------------------------- caches */

static int cache_acquire(const qy_tokenizer *tc, tok_cache **out) {
    qy_tokenizer *t = (qy_tokenizer *)tc; /* caches are the only mutable state; slots are try-locked */
    *out = NULL;
    for (int i = 0; i < TOK_CACHE_SLOTS; i++) {
        if (atomic_exchange(&t->cache_busy[i], 1)) continue;
        if (!t->caches[i] && tok_cache_new(&t->caches[i])) {
            atomic_store(&t->cache_busy[i], 0);
            return -1; /* no memory for a cache: encode without one */
        }
        *out = t->caches[i];
        return i;
    }
    return -1;
}

static void cache_release(const qy_tokenizer *tc, int slot) {
    qy_tokenizer *t = (qy_tokenizer *)tc;
    if (slot >= 0) atomic_store(&t->cache_busy[slot], 0);
}

static int work_init(tok_work *w) {
    qy_arena_init(&w->arena, 1 << 12);
    w->md = pcre2_match_data_create(1, NULL);
    return w->md ? QY_OK : qy_error(QY_ERR_NOMEM, "out of memory (regex match data)");
}

static void work_free(tok_work *w) {
    qy_arena_free(&w->arena);
    if (w->md) pcre2_match_data_free(w->md);
}

/* --------------------------------------------------------- added tokens */

static int is_word_char(uint32_t c) { return qy_uni_is_alnum(c) || c == '_'; }

static uint32_t char_before(const char *s, size_t i) {
    if (i == 0) return 0;
    size_t k = i - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    uint32_t c;
    qy_utf8_decode(s + k, i - k, &c);
    return c;
}

/* Split p at the added tokens of one kind (normalized = 0: matched on the raw
 * text; 1: on normalised text), leftmost-longest, with single_word, lstrip and
 * rstrip as in tokenizers' AddedVocabulary. */
static int split_added(const qy_tokenizer *t, const tok_piece *p, int normalized, tok_pieces *out) {
    const uint8_t *first = normalized ? t->added_norm_first : t->added_first;
    size_t prev = 0, i = 0;
    while (i < p->len) {
        if (!first[(unsigned char)p->s[i]]) {
            i++;
            continue;
        }
        const tok_added *best = NULL;
        for (size_t k = 0; k < t->nadded; k++) {
            const tok_added *a = &t->added[k];
            if ((a->normalized && t->normalizer) != normalized) continue;
            if (a->len <= p->len - i && (!best || a->len > best->len) &&
                !memcmp(p->s + i, a->content, a->len))
                best = a;
        }
        if (!best) {
            i++;
            continue;
        }
        size_t start = i, stop = i + best->len;
        if (best->single_word) {
            uint32_t c;
            int left_ok = start == 0 || !is_word_char(char_before(p->s, start));
            int right_ok =
                stop == p->len || (qy_utf8_decode(p->s + stop, p->len - stop, &c), !is_word_char(c));
            if (!left_ok || !right_ok) {
                i = stop;
                continue;
            }
        }
        if (best->lstrip)
            while (start > prev) {
                uint32_t c = char_before(p->s, start);
                if (!qy_uni_is_whitespace(c)) break;
                char u[4];
                start -= (size_t)qy_utf8_encode(c, u);
            }
        if (best->rstrip)
            while (stop < p->len) {
                uint32_t c;
                int l = qy_utf8_decode(p->s + stop, p->len - stop, &c);
                if (!qy_uni_is_whitespace(c)) break;
                stop += (size_t)l;
            }
        if (start > prev && tok_pieces_push(out, tok_piece_sub(p, prev, start))) return QY_ERR_NOMEM;
        tok_piece a = tok_piece_sub(p, start, stop);
        a.added_id = best->id;
        if (tok_pieces_push(out, a)) return QY_ERR_NOMEM;
        prev = i = stop;
    }
    if (prev < p->len && tok_pieces_push(out, tok_piece_sub(p, prev, p->len))) return QY_ERR_NOMEM;
    return QY_OK;
}

/* ------------------------------------------------------------ one text */

static int check_utf8(const char *text, size_t len) {
    size_t bad = qy_utf8_invalid_at(text, len);
    if (bad != len)
        return qy_error(QY_ERR_FORMAT,
                        "input is not valid UTF-8 at byte %zu (0x%02x); quarry, like Hugging Face "
                        "tokenizers, only encodes valid UTF-8 text",
                        bad, (unsigned char)text[bad]);
    if (len > UINT32_MAX - 1)
        return qy_error(QY_ERR_RANGE, "text of %zu bytes is over the 4 GiB limit of one encode", len);
    return QY_OK;
}

/* GPT-2 style (no normaliser, ByteLevel pre-tokeniser with the GPT-2 pattern,
 * byte-level BPE): pre-tokens go straight from the scanner to the model. */
typedef struct stream_ctx {
    const qy_tokenizer *t;
    tok_cache *cache;
    const tok_piece *seg;
    tok_out *out;
} stream_ctx;

static int stream_emit(void *vctx, size_t b, size_t e) {
    stream_ctx *c = vctx;
    tok_piece p = {.s = c->seg->s + b, .len = e - b, .off = c->seg->off + b, .added_id = -1};
    return tok_model_piece(c->t, c->cache, &p, c->out);
}

static int is_streamable(const qy_tokenizer *t) {
    const tok_pretok *pt = t->pretok;
    return !t->normalizer && pt && pt->kind == PRE_BYTELEVEL && pt->use_regex && pt->gpt2_fast &&
           !pt->add_prefix_space && t->byte_mode && t->model == MODEL_BPE;
}

static int encode_stream(const qy_tokenizer *t, tok_cache *cache, const char *text, size_t len,
                         tok_out *out) {
    tok_piece whole = {.s = (char *)text, .len = len, .off = 0, .added_id = -1};
    stream_ctx c = {t, cache, &whole, out};
    int found = 0;
    for (size_t i = 0; i < len && !found && t->nadded; i++) found = t->added_first[(unsigned char)text[i]];
    if (!found) return tok_gpt2_split(text, len, stream_emit, &c);
    tok_pieces ps = {0};
    int st = split_added(t, &whole, 0, &ps);
    for (size_t i = 0; !st && i < ps.n; i++) {
        const tok_piece *p = &ps.v[i];
        if (p->added_id >= 0)
            st = tok_out_push(out, p->added_id, (uint32_t)p->off, (uint32_t)(p->off + p->len));
        else {
            c.seg = p;
            st = tok_gpt2_split(p->s, p->len, stream_emit, &c);
        }
    }
    tok_pieces_free(&ps);
    return st;
}

/* text -> model tokens (ids + original offsets), no post-processing */
static int encode_tokens(const qy_tokenizer *t, tok_work *w, tok_cache *cache, const char *text, size_t len,
                         tok_out *out) {
    int st = check_utf8(text, len);
    if (st) return st;
    if (is_streamable(t)) return encode_stream(t, cache, text, len, out);
    tok_pieces ps = {0}, tmp = {0};
    tok_piece whole = {.s = (char *)text, .len = len, .off = 0, .added_id = -1};
    if (t->nadded)
        st = split_added(t, &whole, 0, &ps);
    else
        st = tok_pieces_push(&ps, whole);
    if (!st && t->normalizer) {
        for (size_t i = 0; !st && i < ps.n; i++) {
            tok_piece p = ps.v[i];
            if (p.added_id >= 0) {
                st = tok_pieces_push(&tmp, p);
                continue;
            }
            st = tok_normalize(t->normalizer, w, &p);
            if (st || p.len == 0) continue;
            st = t->has_norm_added ? split_added(t, &p, 1, &tmp) : tok_pieces_push(&tmp, p);
        }
        tok_pieces_free(&ps);
        ps = tmp;
        tmp = (tok_pieces){0};
    }
    if (!st && t->pretok) st = tok_pretokenize(t->pretok, w, &ps);
    for (size_t i = 0; !st && i < ps.n; i++) {
        const tok_piece *p = &ps.v[i];
        if (p->added_id >= 0) {
            uint32_t s0 = p->len ? tok_piece_start(p, 0) : (uint32_t)p->off;
            uint32_t e0 = p->len ? tok_piece_end(p, p->len - 1) : s0;
            st = tok_out_push(out, p->added_id, s0, e0);
        } else
            st = tok_model_piece(t, cache, p, out);
    }
    tok_pieces_free(&ps);
    tok_pieces_free(&tmp);
    return st;
}

static void out_free(tok_out *o) {
    qy_free(o->ids);
    qy_free(o->st);
    qy_free(o->en);
    memset(o, 0, sizeof *o);
}

/* -------------------------------------------------------- post-process */

static size_t added_count(const tok_post *p, int pair) {
    if (!p) return 0;
    switch (p->kind) {
    case POST_TEMPLATE: {
        size_t n = 0, cnt = pair ? p->npair : p->nsingle;
        const tok_tpl_item *items = pair ? p->pair : p->single;
        for (size_t i = 0; i < cnt; i++)
            if (items[i].is_special)
                for (size_t k = 0; k < p->nspecials; k++)
                    if (!strcmp(p->specials[k].name, items[i].name)) n += p->specials[k].nids;
        return n;
    }
    case POST_BERT: return pair ? 3 : 2;
    case POST_ROBERTA: return pair ? 4 : 2;
    case POST_SEQUENCE: {
        size_t n = 0;
        for (size_t i = 0; i < p->nitems; i++) n += added_count(&p->items[i], pair);
        return n;
    }
    default: return 0;
    }
}

static const tok_post *find_post(const tok_post *p, post_kind k) {
    if (!p) return NULL;
    if (p->kind == k) return p;
    for (size_t i = 0; i < p->nitems; i++) {
        const tok_post *q = find_post(&p->items[i], k);
        if (q) return q;
    }
    return NULL;
}

static void truncate_out(tok_out *o, size_t keep, int left) {
    if (o->n <= keep) return;
    if (left) {
        size_t d = o->n - keep;
        memmove(o->ids, o->ids + d, keep * sizeof *o->ids);
        memmove(o->st, o->st + d, keep * sizeof *o->st);
        memmove(o->en, o->en + d, keep * sizeof *o->en);
    }
    o->n = keep;
}

static int enc_alloc(qy_encoding *e, size_t n) {
    memset(e, 0, sizeof *e);
    size_t m = n ? n : 1;
    e->ids = qy_mallocn(m, sizeof *e->ids);
    e->type_ids = qy_mallocn(m, sizeof *e->type_ids);
    e->offsets = qy_mallocn(m, 2 * sizeof *e->offsets);
    e->special_mask = qy_malloc(m);
    e->attention_mask = qy_malloc(m);
    e->seq = qy_malloc(m);
    if (!e->ids || !e->type_ids || !e->offsets || !e->special_mask || !e->attention_mask || !e->seq) {
        qy_encoding_free(e);
        return QY_ERR_NOMEM;
    }
    return QY_OK;
}

void qy_encoding_free(qy_encoding *e) {
    if (!e) return;
    qy_free(e->ids);
    qy_free(e->type_ids);
    qy_free(e->offsets);
    qy_free(e->special_mask);
    qy_free(e->attention_mask);
    qy_free(e->seq);
    memset(e, 0, sizeof *e);
}

typedef struct assembler {
    qy_encoding *e;
    size_t n;
} assembler;

/* with a->e NULL only counts (the sizing pass) */
static void put_tok(assembler *a, int32_t id, int32_t type, uint32_t st, uint32_t en, int special, int seq) {
    qy_encoding *e = a->e;
    size_t i = a->n++;
    if (!e) return;
    e->ids[i] = id;
    e->type_ids[i] = type;
    e->offsets[2 * i] = st;
    e->offsets[2 * i + 1] = en;
    e->special_mask[i] = (uint8_t)special;
    e->attention_mask[i] = 1;
    e->seq[i] = (uint8_t)seq;
}

static void put_seq(assembler *a, const tok_out *o, int32_t type, int seq) {
    for (size_t i = 0; i < o->n; i++) put_tok(a, o->ids[i], type, o->st[i], o->en[i], 0, seq);
}

static void put_special(assembler *a, const tok_post *p, const char *name, int32_t type) {
    for (size_t k = 0; k < p->nspecials; k++)
        if (!strcmp(p->specials[k].name, name))
            for (size_t j = 0; j < p->specials[k].nids; j++)
                put_tok(a, p->specials[k].ids[j], type, 0, 0, 1, 0);
}

/* trim whitespace off each token's offsets (ByteLevel / Roberta trim_offsets) */
static void trim_offsets(qy_encoding *e, const char *const *texts) {
    for (size_t i = 0; i < e->n; i++) {
        if (e->special_mask[i]) continue;
        const char *s = texts[e->seq[i]];
        uint32_t st = e->offsets[2 * i], en = e->offsets[2 * i + 1];
        while (st < en && (s[st] == ' ' || s[st] == '\t' || s[st] == '\n' || s[st] == '\r')) st++;
        while (en > st && (s[en - 1] == ' ' || s[en - 1] == '\t' || s[en - 1] == '\n' || s[en - 1] == '\r'))
            en--;
        e->offsets[2 * i] = st;
        e->offsets[2 * i + 1] = en;
    }
}

/* the post-processed sequence: specials and the texts' tokens in template order */
static void emit_all(assembler *as, const tok_post *post, int pair, const tok_out *a, const tok_out *b) {
    if (!post || post->kind == POST_BYTELEVEL) {
        put_seq(as, a, 0, 0);
        if (pair) put_seq(as, b, 1, 1);
    } else {
        const tok_post *pp = find_post(post, POST_TEMPLATE);
        if (!pp) pp = find_post(post, POST_BERT);
        if (!pp) pp = find_post(post, POST_ROBERTA);
        if (!pp) {
            put_seq(as, a, 0, 0);
            if (pair) put_seq(as, b, 1, 1);
        } else if (pp->kind == POST_TEMPLATE) {
            const tok_tpl_item *items = pair ? pp->pair : pp->single;
            size_t cnt = pair ? pp->npair : pp->nsingle;
            for (size_t i = 0; i < cnt; i++) {
                if (items[i].is_special)
                    put_special(as, pp, items[i].name, items[i].type_id);
                else if (items[i].seq == 0)
                    put_seq(as, a, items[i].type_id, 0);
                else if (pair)
                    put_seq(as, b, items[i].type_id, 1);
            }
        } else {
            put_tok(as, pp->cls_id, 0, 0, 0, 1, 0);
            put_seq(as, a, 0, 0);
            put_tok(as, pp->sep_id, 0, 0, 0, 1, 0);
            if (pair) {
                if (pp->kind == POST_ROBERTA) put_tok(as, pp->sep_id, 1, 0, 0, 1, 0);
                put_seq(as, b, 1, 1);
                put_tok(as, pp->sep_id, 1, 0, 0, 1, 0);
            }
        }
    }
}

static int assemble(const qy_tokenizer *t, const qy_tok_params *p, tok_out *a, tok_out *b,
                    const char *const *texts, qy_encoding *out) {
    int pair = b != NULL;
    const tok_post *post = p->add_special_tokens ? t->post : NULL;
    size_t nadd = added_count(post, pair);
    if (p->max_length) {
        size_t budget = p->max_length > nadd ? p->max_length - nadd : 0;
        if (!pair)
            truncate_out(a, budget, p->truncate_left);
        else if (a->n + b->n > budget) {
            /* longest first: the shorter keeps up to half, the longer the rest */
            tok_out *sh = a->n <= b->n ? a : b, *lo = sh == a ? b : a;
            size_t keep_short = sh->n < budget / 2 ? sh->n : budget / 2;
            truncate_out(sh, keep_short, p->truncate_left);
            truncate_out(lo, budget - keep_short, p->truncate_left);
        }
    }
    assembler count = {NULL, 0};
    emit_all(&count, post, pair, a, b);
    size_t total = count.n;
    if (p->pad_to && total < p->pad_to) total = p->pad_to;
    if (p->pad_multiple > 1 && total % p->pad_multiple) total += p->pad_multiple - total % p->pad_multiple;
    int st = enc_alloc(out, total);
    if (st) return st;
    assembler as = {out, 0};
    emit_all(&as, post, pair, a, b);
    QY_ASSERT(as.n <= total);
    out->n = as.n;
    const tok_post *trim = find_post(t->post, POST_BYTELEVEL);
    const tok_post *rob = find_post(t->post, POST_ROBERTA);
    if ((trim && trim->trim_offsets) || (rob && rob->trim_offsets)) trim_offsets(out, texts);
    /* padding */
    if (total > as.n) {
        size_t padn = total - as.n;
        if (p->pad_left) {
            size_t m = as.n;
            memmove(out->ids + padn, out->ids, m * sizeof *out->ids);
            memmove(out->type_ids + padn, out->type_ids, m * sizeof *out->type_ids);
            memmove(out->offsets + 2 * padn, out->offsets, 2 * m * sizeof *out->offsets);
            memmove(out->special_mask + padn, out->special_mask, m);
            memmove(out->attention_mask + padn, out->attention_mask, m);
            memmove(out->seq + padn, out->seq, m);
        }
        size_t b0 = p->pad_left ? 0 : as.n;
        for (size_t i = b0; i < b0 + padn; i++) {
            out->ids[i] = p->pad_id;
            out->type_ids[i] = p->pad_type_id;
            out->offsets[2 * i] = out->offsets[2 * i + 1] = 0;
            out->special_mask[i] = 1;
            out->attention_mask[i] = 0;
            out->seq[i] = 0;
        }
        out->n = total;
    }
    return QY_OK;
}

void qy_tok_params_default(const qy_tokenizer *t, qy_tok_params *p) { *p = t->defaults; }

static int encode_any(const qy_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                      const qy_tok_params *params, qy_encoding *out) {
    memset(out, 0, sizeof *out);
    qy_tok_params p = params ? *params : t->defaults;
    tok_work w;
    int st = work_init(&w);
    tok_out oa = {0}, ob = {0};
    tok_cache *cache;
    int slot = cache_acquire(t, &cache);
    if (!st) st = encode_tokens(t, &w, cache, a, alen, &oa);
    if (!st && b) {
        qy_arena_reset(&w.arena);
        st = encode_tokens(t, &w, cache, b, blen, &ob);
        if (st) qy_error_wrap(st, "second text");
    }
    cache_release(t, slot);
    const char *texts[2] = {a, b ? b : a};
    if (!st) st = assemble(t, &p, &oa, b ? &ob : NULL, texts, out);
    out_free(&oa);
    out_free(&ob);
    work_free(&w);
    return st;
}

int qy_tokenizer_encode(const qy_tokenizer *t, const char *text, size_t len, const qy_tok_params *p,
                        qy_encoding *out) {
    return encode_any(t, text, len, NULL, 0, p, out);
}

int qy_tokenizer_encode_pair(const qy_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                             const qy_tok_params *p, qy_encoding *out) {
    return encode_any(t, a, alen, b, blen, p, out);
}

int qy_tokenizer_encode_ids(const qy_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
                            size_t *cap) {
    tok_work w;
    int st = work_init(&w);
    tok_out o = {0};
    tok_cache *cache;
    int slot = cache_acquire(t, &cache);
    if (!st) st = encode_tokens(t, &w, cache, text, len, &o);
    cache_release(t, slot);
    if (!st && *n + o.n > *cap) {
        size_t nc = *cap ? *cap : 1024;
        while (nc < *n + o.n) nc *= 2;
        int32_t *v = qy_reallocn(*ids, nc, sizeof *v);
        if (!v)
            st = QY_ERR_NOMEM;
        else {
            *ids = v;
            *cap = nc;
        }
    }
    if (!st) {
        memcpy(*ids + *n, o.ids, o.n * sizeof *o.ids);
        *n += o.n;
    }
    out_free(&o);
    work_free(&w);
    return st;
}

/* --------------------------------------------------------------- batch */

typedef struct batch_ctx {
    const qy_tokenizer *t;
    const char *const *texts;
    const size_t *lens;
    qy_tok_params p;
    qy_encoding *outs;
    int *status;
    char (*msg)[256];
} batch_ctx;

static void batch_range(void *vctx, size_t b, size_t e, int tid) {
    batch_ctx *c = vctx;
    for (size_t i = b; i < e; i++) {
        c->status[i] = qy_tokenizer_encode(c->t, c->texts[i], c->lens ? c->lens[i] : strlen(c->texts[i]),
                                           &c->p, &c->outs[i]);
        if (c->status[i]) snprintf(c->msg[i], sizeof c->msg[i], "%s", qy_errmsg());
    }
}

int qy_tokenizer_encode_batch(const qy_tokenizer *t, const char *const *texts, const size_t *lens, size_t n,
                              const qy_tok_params *params, qy_pool *pool, qy_encoding *outs) {
    if (n == 0) return QY_OK;
    batch_ctx c = {.t = t, .texts = texts, .lens = lens, .p = params ? *params : t->defaults, .outs = outs};
    int pad_longest = c.p.pad_to_longest;
    c.p.pad_to_longest = 0;
    c.status = qy_calloc(n, sizeof *c.status);
    c.msg = qy_calloc(n, sizeof *c.msg);
    if (!c.status || !c.msg) {
        qy_free(c.status);
        qy_free(c.msg);
        return QY_ERR_NOMEM;
    }
    qy_pool_for(pool, n, 16, batch_range, &c);
    int st = QY_OK;
    for (size_t i = 0; i < n && !st; i++)
        if (c.status[i]) st = qy_error(c.status[i], "text %zu: %s", i, c.msg[i]);
    if (!st && pad_longest) {
        size_t longest = 0;
        for (size_t i = 0; i < n; i++)
            if (outs[i].n > longest) longest = outs[i].n;
        if (c.p.pad_multiple > 1 && longest % c.p.pad_multiple)
            longest += c.p.pad_multiple - longest % c.p.pad_multiple;
        /* re-pad each to `longest`: re-encode cheaply by padding the arrays */
        for (size_t i = 0; i < n && !st; i++) {
            qy_encoding *e = &outs[i];
            if (e->n >= longest) continue;
            qy_encoding g;
            if ((st = enc_alloc(&g, longest))) break;
            size_t padn = longest - e->n, at = c.p.pad_left ? padn : 0, pb = c.p.pad_left ? 0 : e->n;
            memcpy(g.ids + at, e->ids, e->n * sizeof *e->ids);
            memcpy(g.type_ids + at, e->type_ids, e->n * sizeof *e->type_ids);
            memcpy(g.offsets + 2 * at, e->offsets, 2 * e->n * sizeof *e->offsets);
            memcpy(g.special_mask + at, e->special_mask, e->n);
            memcpy(g.attention_mask + at, e->attention_mask, e->n);
            memcpy(g.seq + at, e->seq, e->n);
            for (size_t k = pb; k < pb + padn; k++) {
                g.ids[k] = c.p.pad_id;
                g.type_ids[k] = c.p.pad_type_id;
                g.offsets[2 * k] = g.offsets[2 * k + 1] = 0;
                g.special_mask[k] = 1;
                g.attention_mask[k] = 0;
                g.seq[k] = 0;
            }
            g.n = longest;
            qy_encoding_free(e);
            *e = g;
        }
    }
    if (st)
        for (size_t i = 0; i < n; i++) qy_encoding_free(&outs[i]);
    qy_free(c.status);
    qy_free(c.msg);
    return st;
}

/* ------------------------------------------------------------ training */

int tok_for_each_word(const qy_tokenizer *t, const char *text, size_t len,
                      int (*fn)(void *ctx, const char *word, size_t n), void *ctx) {
    int st = check_utf8(text, len);
    if (st) return st;
    tok_work w;
    if ((st = work_init(&w))) {
        work_free(&w);
        return st;
    }
    tok_pieces ps = {0};
    tok_piece whole = {.s = (char *)text, .len = len, .off = 0, .added_id = -1};
    st = t->nadded ? split_added(t, &whole, 0, &ps) : tok_pieces_push(&ps, whole);
    for (size_t i = 0; !st && i < ps.n && t->normalizer; i++)
        if (ps.v[i].added_id < 0) st = tok_normalize(t->normalizer, &w, &ps.v[i]);
    if (!st && t->pretok) st = tok_pretokenize(t->pretok, &w, &ps);
    for (size_t i = 0; !st && i < ps.n; i++)
        if (ps.v[i].added_id < 0 && ps.v[i].len) st = fn(ctx, ps.v[i].s, ps.v[i].len);
    tok_pieces_free(&ps);
    work_free(&w);
    return st;
}
