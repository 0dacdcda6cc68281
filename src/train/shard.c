/* shard.c — binary token shards (format in quarry/train.h): a writer that
 * streams documents into a temporary file in bounded memory and renames it into
 * place, and a reader that maps it and validates every field before handing out
 * pointers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t by value: no uncounted allocation */
#include <xxhash.h>

#include "quarry/train.h"

static const char SHARD_MAGIC[8] = {'Q', 'Y', 'T', 'O', 'K', 'E', 'N', 'S'};
enum { FLAG_MASK = 1u };

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

/* ------------------------------------------------------------------ writer */

/* The writer streams: tokens go through `buf` straight into the temporary output
 * file (behind a placeholder header), while the mask bytes and document starts,
 * whose offsets depend on the final token count, go to two unlinked spill files
 * next to it. commit appends the spills, hashing the data section in file order
 * as it goes, then writes the header and renames the file into place. */
struct qy_shard_writer {
    uint32_t vocab;
    int has_mask;
    qy_afile *af;
    FILE *out;                    /* af's stream */
    FILE *mask_spill, *doc_spill; /* unlinked temporaries */
    uint8_t *buf;                 /* QY_SHARD_WRITER_BUFFER bytes */
    size_t nbuf;
    XXH64_state_t hash; /* bytes [128, end) written so far */
    uint64_t n, ndocs;
    int failed;
    char *path;
};

static int spill_open(const char *path, FILE **out) {
    size_t len = strlen(path) + 16;
    char *name = qy_malloc(len);
    if (!name) return QY_ERR_NOMEM;
    snprintf(name, len, "%s.spillXXXXXX", path);
    int fd = mkstemp(name);
    int e = errno;
    if (fd >= 0) unlink(name); /* nothing left behind, whatever happens next */
    qy_free(name);
    if (fd < 0)
        return qy_error(QY_ERR_IO, "%s: cannot create a spill file next to it: %s", path, strerror(e));
    *out = fdopen(fd, "w+b");
    if (!*out) {
        e = errno;
        close(fd);
        return qy_error(QY_ERR_IO, "%s: spill file: %s", path, strerror(e));
    }
    return QY_OK;
}

static int put_out(qy_shard_writer *w, const void *data, size_t len) {
    XXH64_update(&w->hash, data, len);
    int st = qy_afile_write(w->af, data, len);
    if (st) w->failed = 1;
    return st;
}

static int flush_tokens(qy_shard_writer *w) {
    int st = put_out(w, w->buf, w->nbuf);
    w->nbuf = 0;
    return st;
}

static int spill_write(qy_shard_writer *w, FILE *f, const void *data, size_t len) {
    if (len && fwrite(data, 1, len, f) != len) {
        w->failed = 1;
        return qy_error(QY_ERR_IO, "%s: spill file: write failed: %s", w->path, strerror(errno));
    }
    return QY_OK;
}

int qy_shard_writer_open(const char *path, uint32_t vocab_size, int has_mask, qy_shard_writer **out) {
    *out = NULL;
    if (vocab_size == 0) return qy_error(QY_ERR_ARG, "shard writer: vocabulary size must be > 0");
    qy_shard_writer *w = qy_calloc(1, sizeof *w);
    if (!w) return QY_ERR_NOMEM;
    w->vocab = vocab_size;
    w->has_mask = has_mask != 0;
    XXH64_reset(&w->hash, 0);
    int st = QY_OK;
    if (!(w->path = qy_strdup(path)) || !(w->buf = qy_malloc(QY_SHARD_WRITER_BUFFER))) st = QY_ERR_NOMEM;
    if (!st) st = qy_afile_open(path, &w->af);
    if (!st) {
        w->out = qy_afile_stream(w->af);
        uint8_t header[QY_SHARD_HEADER_BYTES] = {0}; /* rewritten by commit */
        st = qy_afile_write(w->af, header, sizeof header);
    }
    if (!st) st = spill_open(path, &w->doc_spill);
    if (!st && w->has_mask) st = spill_open(path, &w->mask_spill);
    if (st) {
        qy_shard_writer_free(w);
        return st;
    }
    *out = w;
    return QY_OK;
}

void qy_shard_writer_free(qy_shard_writer *w) {
    if (!w) return;
    if (w->af) qy_afile_abort(w->af);
    if (w->mask_spill) fclose(w->mask_spill);
    if (w->doc_spill) fclose(w->doc_spill);
    qy_free(w->buf);
    qy_free(w->path);
    qy_free(w);
}

uint64_t qy_shard_writer_tokens(const qy_shard_writer *w) { return w->n; }

int qy_shard_writer_add(qy_shard_writer *w, const int32_t *ids, const uint8_t *mask, size_t n) {
    if (w->failed) return qy_error(QY_ERR_IO, "%s: an earlier write failed", w->path);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= w->vocab)
            return qy_error(QY_ERR_RANGE,
                            "shard writer: token %d at position %zu of document %llu is outside the "
                            "vocabulary (size %u)",
                            ids[i], i, (unsigned long long)w->ndocs, w->vocab);
    uint8_t start[8];
    put64(start, w->n);
    int st = spill_write(w, w->doc_spill, start, 8);
    for (size_t i = 0; i < n && !st; i++) {
        if (w->nbuf + 4 > QY_SHARD_WRITER_BUFFER && (st = flush_tokens(w))) break;
        put32(w->buf + w->nbuf, (uint32_t)ids[i]);
        w->nbuf += 4;
    }
    if (!st && w->has_mask) {
        uint8_t ones[256];
        memset(ones, 1, sizeof ones);
        for (size_t i = 0; i < n && !st; i += sizeof ones) {
            size_t k = n - i < sizeof ones ? n - i : sizeof ones;
            if (mask) {
                uint8_t norm[256];
                for (size_t j = 0; j < k; j++) norm[j] = mask[i + j] ? 1 : 0;
                st = spill_write(w, w->mask_spill, norm, k);
            } else {
                st = spill_write(w, w->mask_spill, ones, k);
            }
        }
    }
    if (st) return st;
    w->n += n;
    w->ndocs++;
    return QY_OK;
}

static int put_zeros(qy_shard_writer *w, uint64_t count) {
    static const uint8_t zeros[64];
    return count ? put_out(w, zeros, (size_t)count) : QY_OK;
}

/* copy a spill file to the output through buf */
static int copy_spill(qy_shard_writer *w, FILE *f, uint64_t bytes) {
    if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
        return qy_error(QY_ERR_IO, "%s: spill file: %s", w->path, strerror(errno));
    while (bytes > 0) {
        size_t k = bytes < QY_SHARD_WRITER_BUFFER ? (size_t)bytes : QY_SHARD_WRITER_BUFFER;
        if (fread(w->buf, 1, k, f) != k) return qy_error(QY_ERR_IO, "%s: spill file: short read", w->path);
        int st = put_out(w, w->buf, k);
        if (st) return st;
        bytes -= k;
    }
    return QY_OK;
}

int qy_shard_writer_commit(qy_shard_writer *w) {
    int st = w->failed ? qy_error(QY_ERR_IO, "%s: an earlier write failed", w->path) : QY_OK;
    uint64_t tok_off = 0, mask_off = 0, doc_off = 0, size = 0;
    if (!st && layout(w->n, w->ndocs, w->has_mask, &tok_off, &mask_off, &doc_off, &size))
        st = qy_error(QY_ERR_RANGE, "%s: shard too large", w->path);
    if (!st) st = flush_tokens(w);
    uint64_t at = tok_off + 4 * w->n;
    if (!st && w->has_mask) {
        st = put_zeros(w, mask_off - at);
        if (!st) st = copy_spill(w, w->mask_spill, w->n);
        at = mask_off + w->n;
    }
    if (!st) st = put_zeros(w, doc_off - at);
    if (!st) st = copy_spill(w, w->doc_spill, 8 * w->ndocs);
    if (!st) {
        uint8_t last[8];
        put64(last, w->n);
        st = put_out(w, last, 8);
    }
    if (!st) {
        uint8_t h[QY_SHARD_HEADER_BYTES] = {0};
        memcpy(h, SHARD_MAGIC, 8);
        put32(h + 8, QY_SHARD_VERSION);
        put32(h + 12, QY_SHARD_HEADER_BYTES);
        put32(h + 16, w->has_mask ? FLAG_MASK : 0);
        put32(h + 20, w->vocab);
        put64(h + 24, w->n);
        put64(h + 32, w->ndocs);
        put64(h + 40, tok_off);
        put64(h + 48, mask_off);
        put64(h + 56, doc_off);
        put64(h + 64, size);
        put64(h + 72, XXH64_digest(&w->hash));
        put64(h + 80, XXH64(h, 80, 0));
        if (fflush(w->out) != 0 || fseek(w->out, 0, SEEK_SET) != 0)
            st = qy_error(QY_ERR_IO, "%s: %s", w->path, strerror(errno));
        if (!st) st = qy_afile_write(w->af, h, sizeof h);
    }
    if (!st) {
        st = qy_afile_commit(w->af); /* frees af whatever the result */
        w->af = NULL;
    }
    qy_shard_writer_free(w);
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
