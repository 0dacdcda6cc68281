/* shard.c — binary token shards (format in quarry/train.h): a writer that
 * collects documents and writes the file atomically, and a reader that maps it
 * and validates every field before handing out pointers. */
#include <string.h>
#include <xxhash.h>

#include "quarry/train.h"

static const char SHARD_MAGIC[8] = {'Q', 'Y', 'T', 'O', 'K', 'E', 'N', 'S'};
enum { FLAG_MASK = 1u };

struct qy_shard_writer {
    uint32_t vocab;
    int has_mask;
    uint32_t *tok;
    uint8_t *mask;
    size_t n, cap;
    uint64_t *docs; /* starts; docs[ndocs] is written at the end */
    size_t ndocs, dcap;
};

int qy_shard_writer_new(uint32_t vocab_size, int has_mask, qy_shard_writer **out) {
    *out = NULL;
    if (vocab_size == 0) return qy_error(QY_ERR_ARG, "shard writer: vocabulary size must be > 0");
    qy_shard_writer *w = qy_calloc(1, sizeof *w);
    if (!w) return QY_ERR_NOMEM;
    w->vocab = vocab_size;
    w->has_mask = has_mask != 0;
    *out = w;
    return QY_OK;
}

void qy_shard_writer_free(qy_shard_writer *w) {
    if (!w) return;
    qy_free(w->tok);
    qy_free(w->mask);
    qy_free(w->docs);
    qy_free(w);
}

uint64_t qy_shard_writer_tokens(const qy_shard_writer *w) { return w->n; }

int qy_shard_writer_add(qy_shard_writer *w, const int32_t *ids, const uint8_t *mask, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= w->vocab)
            return qy_error(QY_ERR_RANGE,
                            "shard writer: token %d at position %zu of document %zu is outside the "
                            "vocabulary (size %u)",
                            ids[i], i, w->ndocs, w->vocab);
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->n + n) cap *= 2;
        uint32_t *t = qy_reallocn(w->tok, cap, sizeof *t);
        if (!t) return QY_ERR_NOMEM;
        w->tok = t;
        if (w->has_mask) {
            uint8_t *m = qy_reallocn(w->mask, cap, 1);
            if (!m) return QY_ERR_NOMEM;
            w->mask = m;
        }
        w->cap = cap;
    }
    if (w->ndocs + 1 >= w->dcap) {
        size_t cap = w->dcap ? w->dcap * 2 : 256;
        uint64_t *d = qy_reallocn(w->docs, cap, sizeof *d);
        if (!d) return QY_ERR_NOMEM;
        w->docs = d;
        w->dcap = cap;
    }
    w->docs[w->ndocs++] = w->n;
    for (size_t i = 0; i < n; i++) w->tok[w->n + i] = (uint32_t)ids[i];
    if (w->has_mask) {
        if (mask)
            for (size_t i = 0; i < n; i++) w->mask[w->n + i] = mask[i] ? 1 : 0;
        else
            memset(w->mask + w->n, 1, n);
    }
    w->n += n;
    return QY_OK;
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static uint64_t align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

/* Section layout for n tokens and d documents; 0 on overflow-free success. */
static int layout(uint64_t n, uint64_t d, int has_mask, uint64_t *tok_off, uint64_t *mask_off,
                  uint64_t *doc_off, uint64_t *size) {
    if (n > (UINT64_MAX >> 4) || d > (UINT64_MAX >> 5)) return QY_ERR_RANGE;
    *tok_off = QY_SHARD_HEADER_BYTES;
    uint64_t end = *tok_off + 4 * n;
    *mask_off = has_mask ? align64(end) : 0;
    if (has_mask) end = *mask_off + n;
    *doc_off = align64(end);
    *size = *doc_off + 8 * (d + 1);
    return QY_OK;
}

int qy_shard_writer_write(qy_shard_writer *w, const char *path) {
    uint64_t tok_off, mask_off, doc_off, size;
    if (layout(w->n, w->ndocs, w->has_mask, &tok_off, &mask_off, &doc_off, &size) || size > SIZE_MAX)
        return qy_error(QY_ERR_RANGE, "%s: shard too large", path);
    uint8_t *buf = qy_calloc(1, (size_t)size);
    if (!buf) return QY_ERR_NOMEM;
    for (size_t i = 0; i < w->n; i++) put32(buf + tok_off + 4 * i, w->tok[i]);
    if (w->has_mask) memcpy(buf + mask_off, w->mask, w->n);
    for (size_t i = 0; i < w->ndocs; i++) put64(buf + doc_off + 8 * i, w->docs[i]);
    put64(buf + doc_off + 8 * w->ndocs, w->n);
    memcpy(buf, SHARD_MAGIC, 8);
    put32(buf + 8, QY_SHARD_VERSION);
    put32(buf + 12, QY_SHARD_HEADER_BYTES);
    put32(buf + 16, w->has_mask ? FLAG_MASK : 0);
    put32(buf + 20, w->vocab);
    put64(buf + 24, w->n);
    put64(buf + 32, w->ndocs);
    put64(buf + 40, tok_off);
    put64(buf + 48, mask_off);
    put64(buf + 56, doc_off);
    put64(buf + 64, size);
    put64(buf + 72, XXH64(buf + QY_SHARD_HEADER_BYTES, (size_t)size - QY_SHARD_HEADER_BYTES, 0));
    put64(buf + 80, XXH64(buf, 80, 0));
    int st = qy_write_file_atomic(path, buf, (size_t)size);
    qy_free(buf);
    return st;
}

/* ------------------------------------------------------------------ reader */

struct qy_shard {
    qy_mmap map;
    char *path;
    uint32_t vocab;
    uint64_t n, ndocs;
    const uint32_t *tok;
    const uint8_t *mask;
    const uint64_t *docs;
};

static int shard_validate(qy_shard *s, const char *path) {
    const uint8_t *p = s->map.data;
    size_t fsize = s->map.size;
    if (fsize < QY_SHARD_HEADER_BYTES)
        return qy_error(QY_ERR_FORMAT, "%s: not a quarry token shard (%zu bytes, the header alone is %d)",
                        path, fsize, QY_SHARD_HEADER_BYTES);
    if (memcmp(p, SHARD_MAGIC, 8))
        return qy_error(QY_ERR_FORMAT, "%s: not a quarry token shard (magic is not \"QYTOKENS\")", path);
    uint32_t version = get32(p + 8);
    if (version != QY_SHARD_VERSION)
        return qy_error(QY_ERR_UNSUPPORTED, "%s: shard version %u, this quarry reads version %d", path,
                        version, QY_SHARD_VERSION);
    if (get64(p + 80) != XXH64(p, 80, 0))
        return qy_error(QY_ERR_FORMAT, "%s: header checksum mismatch", path);
    if (get32(p + 12) != QY_SHARD_HEADER_BYTES)
        return qy_error(QY_ERR_FORMAT, "%s: header size %u, expected %d", path, get32(p + 12),
                        QY_SHARD_HEADER_BYTES);
    uint32_t flags = get32(p + 16);
    if (flags & ~(uint32_t)FLAG_MASK) return qy_error(QY_ERR_FORMAT, "%s: unknown flags 0x%x", path, flags);
    s->vocab = get32(p + 20);
    s->n = get64(p + 24);
    s->ndocs = get64(p + 32);
    uint64_t tok_off, mask_off, doc_off, size;
    if (s->vocab == 0) return qy_error(QY_ERR_FORMAT, "%s: vocabulary size 0", path);
    if (layout(s->n, s->ndocs, flags & FLAG_MASK, &tok_off, &mask_off, &doc_off, &size))
        return qy_error(QY_ERR_RANGE, "%s: token count %llu / document count %llu out of range", path,
                        (unsigned long long)s->n, (unsigned long long)s->ndocs);
    if (get64(p + 40) != tok_off || get64(p + 48) != mask_off || get64(p + 56) != doc_off ||
        get64(p + 64) != size)
        return qy_error(QY_ERR_FORMAT, "%s: section offsets do not match %llu tokens and %llu documents",
                        path, (unsigned long long)s->n, (unsigned long long)s->ndocs);
    if (size != fsize)
        return qy_error(QY_ERR_FORMAT, "%s: file is %zu bytes, the header says %llu (truncated or padded)",
                        path, fsize, (unsigned long long)size);
    if (get64(p + 72) != XXH64(p + QY_SHARD_HEADER_BYTES, fsize - QY_SHARD_HEADER_BYTES, 0))
        return qy_error(QY_ERR_FORMAT, "%s: data checksum mismatch (the file is corrupt)", path);
    s->tok = (const uint32_t *)(const void *)(p + tok_off);
    s->mask = mask_off ? p + mask_off : NULL;
    s->docs = (const uint64_t *)(const void *)(p + doc_off);
    for (uint64_t i = 0; i < s->n; i++)
        if (s->tok[i] >= s->vocab)
            return qy_error(QY_ERR_FORMAT, "%s: token %llu is %u, outside the vocabulary (size %u)", path,
                            (unsigned long long)i, s->tok[i], s->vocab);
    if (s->docs[s->ndocs] != s->n || (s->ndocs && s->docs[0] != 0))
        return qy_error(QY_ERR_FORMAT, "%s: document offsets do not span the tokens", path);
    for (uint64_t i = 0; i < s->ndocs; i++)
        if (s->docs[i] > s->docs[i + 1])
            return qy_error(QY_ERR_FORMAT, "%s: document offsets not ascending at %llu", path,
                            (unsigned long long)i);
    return QY_OK;
}

int qy_shard_open(const char *path, qy_shard **out) {
    *out = NULL;
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    return qy_error(QY_ERR_UNSUPPORTED, "%s: shards are mapped in place and need a little-endian machine",
                    path);
#endif
    qy_shard *s = qy_calloc(1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    int st = QY_OK;
    if (!(s->path = qy_strdup(path))) st = QY_ERR_NOMEM;
    if (!st) st = qy_mmap_open(path, &s->map);
    if (!st) st = shard_validate(s, path);
    if (st) {
        qy_shard_close(s);
        return st;
    }
    *out = s;
    return QY_OK;
}

void qy_shard_close(qy_shard *s) {
    if (!s) return;
    qy_mmap_close(&s->map);
    qy_free(s->path);
    qy_free(s);
}

uint64_t qy_shard_ntokens(const qy_shard *s) { return s->n; }
uint64_t qy_shard_ndocs(const qy_shard *s) { return s->ndocs; }
uint32_t qy_shard_vocab(const qy_shard *s) { return s->vocab; }
const uint32_t *qy_shard_tokens(const qy_shard *s) { return s->tok; }
const uint8_t *qy_shard_mask(const qy_shard *s) { return s->mask; }
const uint64_t *qy_shard_docs(const qy_shard *s) { return s->docs; }
const char *qy_shard_path(const qy_shard *s) { return s->path; }
