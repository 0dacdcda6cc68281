/* segment.c — writing, verifying and reading segment files; posting cursors. */
#include "index/segment.h"

#include <string.h>
#include <xxhash.h>

static const char SEG_MAGIC[8] = {'Q', 'Y', 'S', 'E', 'G', 0, 0, 1};
static const char SEG_END[8] = {'Q', 'Y', 'S', 'E', 'G', 'E', 'N', 'D'};

typedef struct seg_footer {
    uint64_t postings_off, docs_off, dict_off, sum_len;
    uint32_t ndocs, nterms, field_docs, version;
    uint64_t id_bytes_len, term_bytes_len;
    char magic[8];
    uint64_t checksum; /* XXH64 (seed 0) of every byte before this field */
} seg_footer;

/* -------------------------------------------------------------- lengths */

/* SmallFloat.longToInt4: 3 mantissa bits and a shift, exact below 8 */
static uint32_t long_to_int4(uint64_t i) {
    int bits = 64 - __builtin_clzll(i | 1);
    if (i == 0) bits = 0;
    if (bits < 4) return (uint32_t)i;
    int shift = bits - 4;
    uint32_t enc = (uint32_t)(i >> shift) & 0x07;
    return enc | ((uint32_t)(shift + 1) << 3);
}

static uint64_t int4_to_long(uint32_t i) {
    uint64_t bits = i & 0x07;
    int shift = (int)(i >> 3) - 1;
    return shift == -1 ? bits : (bits | 0x08) << shift;
}

/* 255 - longToInt4(Integer.MAX_VALUE) = 24 values are stored exactly */
#define NUM_FREE_VALUES 24u

uint8_t qy_len_to_norm(uint32_t len) {
    if (len < NUM_FREE_VALUES) return (uint8_t)len;
    return (uint8_t)(NUM_FREE_VALUES + long_to_int4(len - NUM_FREE_VALUES));
}

uint32_t qy_norm_to_len(uint8_t norm) {
    if (norm < NUM_FREE_VALUES) return norm;
    return (uint32_t)(NUM_FREE_VALUES + int4_to_long(norm - NUM_FREE_VALUES));
}

/* ---------------------------------------------------------------- writer */

struct qy_seg_writer {
    qy_afile *file;
    FILE *fp;
    XXH64_state_t *hash;
    uint64_t off;
    int failed;
    char *path;
    /* dictionary kept in memory until finish */
    char *term_bytes;
    size_t nterm_bytes, cap_term_bytes;
    uint64_t *term_off;
    qy_seg_term *terms;
    size_t nterms, cap_terms;
    /* scratch for one term */
    uint8_t *data;
    size_t cap_data;
    qy_seg_block *blocks;
    size_t cap_blocks;
    uint64_t sum_len;
};

static int sw_write(qy_seg_writer *w, const void *p, size_t n) {
    if (w->failed) return QY_ERR_IO;
    if (n && fwrite(p, 1, n, w->fp) != n) {
        w->failed = 1;
        return qy_error(QY_ERR_IO, "%s: write failed", w->path);
    }
    XXH64_update(w->hash, p, n);
    w->off += n;
    return QY_OK;
}

static int sw_pad(qy_seg_writer *w, unsigned align) {
    static const uint8_t zero[8] = {0};
    size_t pad = (size_t)((align - (w->off & (align - 1))) & (align - 1));
    return sw_write(w, zero, pad);
}

static int grow_bytes(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return QY_OK;
    size_t nc = *cap ? *cap : 256;
    while (nc < need) nc *= 2;
    void *np = qy_reallocn(*p, nc, elem);
    if (!np) return QY_ERR_NOMEM;
    *p = np;
    *cap = nc;
    return QY_OK;
}

int qy_seg_writer_open(const char *path, qy_seg_writer **out) {
    *out = NULL;
    qy_seg_writer *w = qy_calloc(1, sizeof *w);
    if (!w) return QY_ERR_NOMEM;
    w->path = qy_strdup(path);
    w->hash = XXH64_createState();
    if (!w->path || !w->hash) {
        qy_seg_writer_abort(w);
        return qy_error(QY_ERR_NOMEM, "%s: out of memory", path);
    }
    XXH64_reset(w->hash, 0);
    int st = qy_afile_open(path, &w->file);
    if (st) {
        qy_seg_writer_abort(w);
        return st;
    }
    w->fp = qy_afile_stream(w->file);
    uint32_t hdr[2] = {QY_SEG_VERSION, 16};
    st = sw_write(w, SEG_MAGIC, 8);
    if (!st) st = sw_write(w, hdr, sizeof hdr);
    if (st) {
        qy_seg_writer_abort(w);
        return st;
    }
    *out = w;
    return QY_OK;
}

void qy_seg_writer_abort(qy_seg_writer *w) {
    if (!w) return;
    if (w->file) qy_afile_abort(w->file);
    if (w->hash) XXH64_freeState(w->hash);
    qy_free(w->path);
    qy_free(w->term_bytes);
    qy_free(w->term_off);
    qy_free(w->terms);
    qy_free(w->data);
    qy_free(w->blocks);
    qy_free(w);
}

static size_t put_varint(uint8_t *p, uint32_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

int qy_seg_writer_add_term(qy_seg_writer *w, const char *term, size_t term_len, const uint32_t *docs,
                           const uint32_t *tfs, size_t n, const uint32_t *lens) {
    QY_ASSERT(n > 0 && n <= UINT32_MAX);
    if (w->nterms > 0) {
        const char *prev = w->term_bytes + w->term_off[w->nterms - 1];
        size_t plen = w->nterm_bytes - (size_t)w->term_off[w->nterms - 1];
        int c = memcmp(prev, term, plen < term_len ? plen : term_len);
        QY_ASSERT(c < 0 || (c == 0 && plen < term_len));
    }
    size_t nblocks = (n + QY_SEG_BLOCK - 1) / QY_SEG_BLOCK;
    size_t old_cap = w->cap_terms;
    if (grow_bytes((void **)&w->blocks, &w->cap_blocks, nblocks, sizeof *w->blocks) ||
        grow_bytes((void **)&w->data, &w->cap_data, n * 10, 1) ||
        grow_bytes((void **)&w->terms, &w->cap_terms, w->nterms + 1, sizeof *w->terms) ||
        grow_bytes((void **)&w->term_bytes, &w->cap_term_bytes, w->nterm_bytes + term_len + 1, 1))
        return qy_error(QY_ERR_NOMEM, "%s: out of memory", w->path);
    if (w->cap_terms != old_cap || !w->term_off) { /* term_off follows terms' capacity (+1) */
        void *to = qy_reallocn(w->term_off, w->cap_terms + 1, sizeof *w->term_off);
        if (!to) {
            w->cap_terms = old_cap;
            return QY_ERR_NOMEM;
        }
        w->term_off = to;
    }
    size_t dn = 0;
    uint64_t cf = 0;
    uint32_t prev = 0;
    for (size_t b = 0; b < nblocks; b++) {
        size_t lo = b * QY_SEG_BLOCK, hi = lo + QY_SEG_BLOCK < n ? lo + QY_SEG_BLOCK : n;
        uint32_t max_tf = 0, min_len = UINT32_MAX;
        for (size_t i = lo; i < hi; i++) {
            QY_ASSERT(i == 0 || docs[i] > docs[i - 1]);
            dn += put_varint(w->data + dn, docs[i] - prev);
            prev = docs[i];
            if (tfs[i] > max_tf) max_tf = tfs[i];
            if (lens[docs[i]] < min_len) min_len = lens[docs[i]];
        }
        for (size_t i = lo; i < hi; i++) {
            dn += put_varint(w->data + dn, tfs[i]);
            cf += tfs[i];
        }
        if (dn > UINT32_MAX) return qy_error(QY_ERR_RANGE, "%s: postings of one term exceed 4 GiB", w->path);
        w->blocks[b] = (qy_seg_block){docs[hi - 1], (uint32_t)dn, max_tf, min_len};
    }
    int st = sw_pad(w, 4);
    if (st) return st;
    qy_seg_term *t = &w->terms[w->nterms];
    t->postings = w->off;
    t->df = (uint32_t)n;
    t->nblocks = (uint32_t)nblocks;
    t->cf = cf;
    st = sw_write(w, w->blocks, nblocks * sizeof *w->blocks);
    if (!st) st = sw_write(w, w->data, dn);
    if (st) return st;
    w->term_off[w->nterms] = w->nterm_bytes;
    memcpy(w->term_bytes + w->nterm_bytes, term, term_len);
    w->nterm_bytes += term_len;
    w->nterms++;
    return QY_OK;
}

int qy_seg_writer_finish(qy_seg_writer *w, uint32_t ndocs, const uint64_t *gids, const uint32_t *lens,
                         const char *const *ids) {
    seg_footer f;
    memset(&f, 0, sizeof f);
    f.postings_off = 16;
    int st = sw_pad(w, 8);
    f.docs_off = w->off;
    uint64_t sum = 0;
    uint32_t field_docs = 0;
    for (uint32_t i = 0; i < ndocs; i++) {
        sum += lens[i];
        field_docs += lens[i] > 0;
    }
    if (!st) st = sw_write(w, gids, (size_t)ndocs * 8);
    if (!st) st = sw_write(w, lens, (size_t)ndocs * 4);
    if (!st) st = sw_pad(w, 8);
    uint64_t o = 0;
    for (uint32_t i = 0; i <= ndocs && !st; i++) {
        st = sw_write(w, &o, 8);
        if (i < ndocs) o += strlen(ids[i]);
    }
    for (uint32_t i = 0; i < ndocs && !st; i++) st = sw_write(w, ids[i], strlen(ids[i]));
    f.id_bytes_len = o;
    if (!st) st = sw_pad(w, 8);
    f.dict_off = w->off;
    if (!st && w->term_off) w->term_off[w->nterms] = w->nterm_bytes;
    uint64_t zero = 0;
    if (!st) st = w->nterms ? sw_write(w, w->term_off, (w->nterms + 1) * 8) : sw_write(w, &zero, 8);
    if (!st) st = sw_write(w, w->term_bytes, w->nterm_bytes);
    f.term_bytes_len = w->nterm_bytes;
    if (!st) st = sw_pad(w, 8);
    if (!st) st = sw_write(w, w->terms, w->nterms * sizeof *w->terms);
    f.sum_len = sum;
    f.ndocs = ndocs;
    f.nterms = (uint32_t)w->nterms;
    f.field_docs = field_docs;
    f.version = QY_SEG_VERSION;
    memcpy(f.magic, SEG_END, 8);
    if (!st) st = sw_write(w, &f, offsetof(seg_footer, checksum));
    uint64_t h = XXH64_digest(w->hash);
    if (!st && fwrite(&h, 8, 1, w->fp) != 1) st = qy_error(QY_ERR_IO, "%s: write failed", w->path);
    if (st) {
        qy_seg_writer_abort(w);
        return st;
    }
    st = qy_afile_commit(w->file);
    w->file = NULL;
    qy_seg_writer_abort(w);
    return st;
}

/* ---------------------------------------------------------------- reader */

void qy_segment_close(qy_segment *s) {
    if (!s) return;
    qy_mmap_close(&s->map);
    qy_free(s->norms);
    qy_free(s);
}

int qy_segment_open(const char *path, qy_segment **out) {
    *out = NULL;
    qy_segment *s = qy_calloc(1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    int st = qy_mmap_open(path, &s->map);
    if (st) {
        qy_free(s);
        return st;
    }
    const uint8_t *d = s->map.data;
    size_t size = s->map.size;
#define BAD(...)                                   \
    do {                                           \
        st = qy_error(QY_ERR_FORMAT, __VA_ARGS__); \
        goto fail;                                 \
    } while (0)
    if (size < 16 + sizeof(seg_footer) || memcmp(d, SEG_MAGIC, 8) != 0)
        BAD("%s: not a quarry segment (bad magic or truncated)", path);
    uint32_t version;
    memcpy(&version, d + 8, 4);
    if (version != QY_SEG_VERSION)
        BAD("%s: segment version %u, this quarry reads version %d", path, version, QY_SEG_VERSION);
    seg_footer f;
    memcpy(&f, d + size - sizeof f, sizeof f);
    if (memcmp(f.magic, SEG_END, 8) != 0) BAD("%s: truncated segment (no end marker)", path);
    if (XXH64(d, size - 8, 0) != f.checksum) BAD("%s: checksum mismatch (the file is damaged)", path);
    size_t body = size - sizeof f;
    uint64_t nd = f.ndocs, nt = f.nterms;
    /* every count and offset is bounded by the file size before any sum, so
     * no sum below can overflow (a hostile footer must not fool the checks) */
    if (nd > size / 12 || nt > size / 24 || f.id_bytes_len > size || f.term_bytes_len > size ||
        f.docs_off > size || f.dict_off > size)
        BAD("%s: counts or offsets larger than the file", path);
    uint64_t docs_end = f.docs_off + nd * 12 + ((nd * 4) & 4) + (nd + 1) * 8 + f.id_bytes_len;
    if (f.docs_off % 8 || f.dict_off % 8 || f.docs_off < 16 || docs_end > f.dict_off || f.dict_off > body)
        BAD("%s: section offsets out of range", path);
    uint64_t tb = f.dict_off + (nt + 1) * 8 + f.term_bytes_len;
    tb = (tb + 7) & ~(uint64_t)7;
    if (tb + nt * sizeof(qy_seg_term) > body) BAD("%s: dictionary out of range", path);
    s->ndocs = f.ndocs;
    s->nterms = f.nterms;
    s->sum_len = f.sum_len;
    s->field_docs = f.field_docs;
    s->gids = (const uint64_t *)(d + f.docs_off);
    s->lens = (const uint32_t *)(d + f.docs_off + nd * 8);
    size_t ido = (size_t)(f.docs_off + nd * 12);
    ido = (ido + 7) & ~(size_t)7;
    s->id_off = (const uint64_t *)(d + ido);
    s->id_bytes = (const char *)(d + ido + (nd + 1) * 8);
    s->term_off = (const uint64_t *)(d + f.dict_off);
    s->term_bytes = (const char *)(d + f.dict_off + (nt + 1) * 8);
    s->terms = (const qy_seg_term *)(d + tb);
    for (uint64_t i = 0; i < nd; i++)
        if (s->id_off[i] > s->id_off[i + 1]) BAD("%s: document id table is not monotone", path);
    if (s->id_off[nd] != f.id_bytes_len) BAD("%s: document id table is inconsistent", path);
    for (uint64_t t = 0; t < nt; t++) {
        if (s->term_off[t] > s->term_off[t + 1]) BAD("%s: term table is not monotone", path);
        const qy_seg_term *e = &s->terms[t];
        if (e->postings > size || e->df > nd)
            BAD("%s: term %llu: postings out of range", path, (unsigned long long)t);
        uint64_t tab = e->postings + (uint64_t)e->nblocks * sizeof(qy_seg_block);
        if (e->postings < 16 || e->postings % 4 || e->df == 0 ||
            e->nblocks != (e->df + QY_SEG_BLOCK - 1) / QY_SEG_BLOCK || tab > f.docs_off)
            BAD("%s: term %llu: postings out of range", path, (unsigned long long)t);
        const qy_seg_block *bl = (const qy_seg_block *)(d + e->postings);
        uint32_t prev_doc = 0, prev_end = 0;
        for (uint32_t b = 0; b < e->nblocks; b++) {
            if (bl[b].last_doc >= nd || (b && bl[b].last_doc <= prev_doc) || bl[b].end <= prev_end ||
                tab + bl[b].end > f.docs_off)
                BAD("%s: term %llu: block table is damaged", path, (unsigned long long)t);
            prev_doc = bl[b].last_doc;
            prev_end = bl[b].end;
        }
    }
    if (s->term_off[nt] != f.term_bytes_len) BAD("%s: term table is inconsistent", path);
#undef BAD
    s->norms = qy_malloc(nd ? nd : 1);
    if (!s->norms) {
        st = QY_ERR_NOMEM;
        goto fail;
    }
    for (uint64_t i = 0; i < nd; i++) s->norms[i] = qy_len_to_norm(s->lens[i]);
    *out = s;
    return QY_OK;
fail:
    qy_segment_close(s);
    return st;
}

static int term_cmp(const qy_segment *s, uint32_t t, const char *key, size_t len) {
    size_t tl;
    const char *p = qy_segment_term(s, t, &tl);
    int c = memcmp(p, key, tl < len ? tl : len);
    if (c) return c;
    return tl < len ? -1 : tl > len ? 1 : 0;
}

int64_t qy_segment_find(const qy_segment *s, const char *term, size_t len) {
    uint32_t lo = 0, hi = s->nterms;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = term_cmp(s, mid, term, len);
        if (c == 0) return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const char *qy_segment_doc_id(const qy_segment *s, uint32_t doc, size_t *len) {
    *len = (size_t)(s->id_off[doc + 1] - s->id_off[doc]);
    return s->id_bytes + s->id_off[doc];
}

/* ---------------------------------------------------------------- cursor */

static uint32_t get_varint(const uint8_t **p, const uint8_t *end) {
    uint32_t v = 0;
    int shift = 0;
    while (*p < end && shift < 35) {
        uint8_t b = *(*p)++;
        v |= (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
        shift += 7;
    }
    return 0; /* damaged: a zero gap is caught by the caller */
}

/* decode block b into docs/tfs; a damaged block ends the cursor */
static int decode_block(qy_cursor *c, uint32_t b) {
    const qy_seg_block *bl = &c->blocks[b];
    uint32_t start = b ? c->blocks[b - 1].end : 0;
    const uint8_t *p = c->data + start, *end = c->data + bl->end;
    uint32_t prev = b ? c->blocks[b - 1].last_doc : 0;
    uint32_t n = c->count; /* set by the caller */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t gap = get_varint(&p, end);
        if (gap == 0 && !(b == 0 && i == 0)) return 0;
        prev += gap;
        c->docs[i] = prev;
    }
    for (uint32_t i = 0; i < n; i++) c->tfs[i] = get_varint(&p, end);
    if (n == 0 || c->docs[n - 1] != bl->last_doc || p != end) return 0;
    c->decoded = b;
    return 1;
}

static uint32_t load_block(qy_cursor *c, uint32_t b) {
    c->block = b;
    if (b >= c->nblocks) {
        c->doc = QY_DOC_END;
        return QY_DOC_END;
    }
    c->count = b + 1 < c->nblocks ? QY_SEG_BLOCK : c->df - (c->nblocks - 1) * QY_SEG_BLOCK;
    if (!decode_block(c, b)) {
        c->block = c->nblocks;
        c->doc = QY_DOC_END;
        return QY_DOC_END;
    }
    c->pos = 0;
    c->doc = c->docs[0];
    return c->doc;
}

void qy_cursor_init(qy_cursor *c, const qy_segment *s, uint32_t t) {
    const qy_seg_term *e = &s->terms[t];
    c->seg = s;
    c->blocks = (const qy_seg_block *)(s->map.data + e->postings);
    c->data = (const uint8_t *)(c->blocks + e->nblocks);
    c->nblocks = e->nblocks;
    c->df = e->df;
    c->decoded = -1;
    load_block(c, 0);
}

uint32_t qy_cursor_next(qy_cursor *c) {
    if (c->doc == QY_DOC_END) return QY_DOC_END;
    if (++c->pos < c->count) return c->doc = c->docs[c->pos];
    return load_block(c, c->block + 1);
}

uint32_t qy_cursor_shallow(const qy_cursor *c, uint32_t target) {
    uint32_t b = c->block < c->nblocks ? c->block : c->nblocks;
    while (b < c->nblocks && c->blocks[b].last_doc < target) b++;
    return b;
}

uint32_t qy_cursor_advance(qy_cursor *c, uint32_t target) {
    if (c->doc >= target) return c->doc;
    if (c->blocks[c->block].last_doc < target) {
        uint32_t b = qy_cursor_shallow(c, target);
        if (load_block(c, b) == QY_DOC_END) return QY_DOC_END;
    }
    while (c->docs[c->pos] < target) c->pos++;
    return c->doc = c->docs[c->pos];
}
