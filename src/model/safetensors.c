/* safetensors.c — validated reading (mmap, one file or a sharded index) and
 * writing of the safetensors format, with F16/BF16 <-> F32 conversion.
 *
 * A file is trusted only after the whole header has been checked: the length
 * field against the file size, UTF-8 and JSON, every entry's dtype, shape (each
 * product checked for overflow) and data_offsets, and that the tensors tile the
 * data region exactly (no overlap, no gap, nothing after the last one) — the
 * rules the reference implementation enforces, so that what quarry accepts and
 * writes is what `transformers` accepts. */
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

/* ------------------------------------------------------------------ dtypes */

static const struct {
    const char *name;
    size_t size;
} dtype_info[QY_ST_DTYPE_COUNT] = {
    [QY_ST_BOOL] = {"BOOL", 1},       [QY_ST_U8] = {"U8", 1},           [QY_ST_I8] = {"I8", 1},
    [QY_ST_F8_E5M2] = {"F8_E5M2", 1}, [QY_ST_F8_E4M3] = {"F8_E4M3", 1}, [QY_ST_I16] = {"I16", 2},
    [QY_ST_U16] = {"U16", 2},         [QY_ST_F16] = {"F16", 2},         [QY_ST_BF16] = {"BF16", 2},
    [QY_ST_I32] = {"I32", 4},         [QY_ST_U32] = {"U32", 4},         [QY_ST_F32] = {"F32", 4},
    [QY_ST_F64] = {"F64", 8},         [QY_ST_I64] = {"I64", 8},         [QY_ST_U64] = {"U64", 8},
};

const char *qy_st_dtype_name(qy_st_dtype d) {
    return (unsigned)d < QY_ST_DTYPE_COUNT ? dtype_info[d].name : "?";
}

size_t qy_st_dtype_size(qy_st_dtype d) { return (unsigned)d < QY_ST_DTYPE_COUNT ? dtype_info[d].size : 0; }

int qy_st_dtype_parse(const char *name, qy_st_dtype *out) {
    for (int i = 0; i < QY_ST_DTYPE_COUNT; i++)
        if (!strcmp(name, dtype_info[i].name)) {
            *out = (qy_st_dtype)i;
            return QY_OK;
        }
    return qy_error(QY_ERR_UNSUPPORTED,
                    "dtype '%.32s' is not one quarry reads (known: BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 "
                    "F16 BF16 I32 U32 F32 F64 I64 U64)",
                    name);
}

/* ------------------------------------------------------ half precision */

float qy_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf or NaN (payload kept) */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        /* subnormal: value = man * 2^-24; normalise */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float qy_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t qy_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    uint32_t lsb = (x >> 16) & 1u;
    x += 0x7fffu + lsb; /* round to nearest, ties to even; overflow carries into inf */
    return (uint16_t)(x >> 16);
}

uint16_t qy_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu)); /* NaN */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to inf */
    if (ax < 0x38800000u) {
        /* below the smallest normal half (2^-14): subnormal or zero */
        if (ax < 0x33000000u) return sign; /* < 2^-25: rounds to zero (2^-25 ties to 0) */
        uint32_t e = ax >> 23;
        uint32_t man = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14..24: value = man * 2^(e-150), half unit 2^-24 */
        uint32_t q = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1u);
        uint32_t halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    /* normal: rebias exponent, round mantissa 23 -> 10 bits */
    uint32_t v = ax - 0x38000000u; /* exponent 127 -> 15 */
    uint32_t q = v >> 13;
    uint32_t rem = v & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q++;
    return (uint16_t)(sign | q);
}

/* Bulk widening in blocks: copy the halves into an aligned local array, widen
 * with plain integer/float ops the compiler vectorises, copy the result out
 * (memcpy keeps unaligned sources and aliasing legal). Held to the scalar
 * functions above for every one of the 65536 patterns by the tests. */
enum { WIDEN_BLOCK = 256 };

void qy_bf16_to_f32_n(const void *src, float *dst, size_t n) {
    const uint8_t *p = src;
    uint16_t h[WIDEN_BLOCK];
    uint32_t u[WIDEN_BLOCK];
    for (size_t i = 0; i < n; i += WIDEN_BLOCK) {
        size_t m = n - i < WIDEN_BLOCK ? n - i : WIDEN_BLOCK;
        memcpy(h, p + 2 * i, 2 * m);
        for (size_t j = 0; j < m; j++) u[j] = (uint32_t)h[j] << 16;
        memcpy(dst + i, u, 4 * m);
    }
}

void qy_f16_to_f32_n(const void *src, float *dst, size_t n) {
    const uint8_t *p = src;
    uint16_t h[WIDEN_BLOCK];
    float f[WIDEN_BLOCK];
    for (size_t i = 0; i < n; i += WIDEN_BLOCK) {
        size_t m = n - i < WIDEN_BLOCK ? n - i : WIDEN_BLOCK;
        memcpy(h, p + 2 * i, 2 * m);
        for (size_t j = 0; j < m; j++) {
            /* exponent and mantissa moved into f32 position, then scaled by 2^112
             * (rebias 15 -> 127; exact, subnormal halves become normal floats);
             * inf/NaN (exponent 31) get the f32 all-ones exponent */
            uint32_t em = (uint32_t)(h[j] & 0x7fffu) << 13;
            uint32_t sign = (uint32_t)(h[j] & 0x8000u) << 16;
            float v;
            memcpy(&v, &em, 4);
            v *= 0x1p112f;
            uint32_t bits;
            memcpy(&bits, &v, 4);
            bits |= em >= (0x7c00u << 13) ? 0x7f800000u : 0u;
            bits |= sign;
            memcpy(&f[j], &bits, 4);
        }
        memcpy(dst + i, f, 4 * m);
    }
}

/* ------------------------------------------------------------ the reader */

typedef struct st_entry {
    qy_st_tensor t;    /* first, so &entry->t is what callers see */
    size_t begin, end; /* relative to the shard's data region */
} st_entry;

typedef struct st_shard {
    char *path; /* NULL when the image was given by the caller */
    qy_mmap map;
    int mapped;
} st_shard;

struct qy_st_file {
    char *source;
    st_shard *shards;
    size_t nshards;
    st_entry *entries;
    size_t count, cap;
    size_t *by_name; /* entry indexes sorted by name */
    char **meta_keys, **meta_values;
    size_t nmeta;
    qy_arena strings;
};

static int file_new(const char *source, qy_st_file **out) {
    qy_st_file *f = qy_calloc(1, sizeof *f);
    if (!f) return QY_ERR_NOMEM;
    qy_arena_init(&f->strings, 16384);
    f->source = qy_strdup(source);
    if (!f->source) {
        qy_free(f);
        return QY_ERR_NOMEM;
    }
    *out = f;
    return QY_OK;
}

void qy_st_close(qy_st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->nshards; i++) {
        if (f->shards[i].mapped) qy_mmap_close(&f->shards[i].map);
        qy_free(f->shards[i].path);
    }
    qy_free(f->shards);
    qy_free(f->entries);
    qy_free(f->by_name);
    qy_free(f->meta_keys);
    qy_free(f->meta_values);
    qy_arena_free(&f->strings);
    qy_free(f->source);
    qy_free(f);
}

/* strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF); returns the
 * offset of the first bad byte or len */
static size_t utf8_check(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07u;
        } else {
            return i;
        }
        if (len - i <= n) return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return i;
        i += n + 1;
    }
    return len;
}

#define MAX_JSON_INT 9007199254740992.0 /* 2^53: larger integers are not exact in JSON doubles */

/* a non-negative integer that a double holds exactly */
static int json_size(const cJSON *n, uint64_t *out) {
    if (!cJSON_IsNumber(n)) return 0;
    double v = n->valuedouble;
    if (!isfinite(v) || v < 0 || v != floor(v) || v > MAX_JSON_INT) return 0;
    *out = (uint64_t)v;
    return 1;
}

const char *qy_shape_text(const int64_t *shape, int ndim, char *buf, size_t cap) {
    if (!cap) return buf;
    size_t l = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && l < cap; i++)
        l += (size_t)snprintf(buf + l, cap - l, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (l < cap) snprintf(buf + l, cap - l, "]");
    return buf;
}

static int add_entry(qy_st_file *f, st_entry **out) {
    if (f->count == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        st_entry *e = qy_reallocn(f->entries, cap, sizeof *e);
        if (!e) return QY_ERR_NOMEM;
        f->entries = e;
        f->cap = cap;
    }
    *out = &f->entries[f->count++];
    memset(*out, 0, sizeof **out);
    return QY_OK;
}

static int parse_metadata(qy_st_file *f, const cJSON *m, const char *src) {
    if (!cJSON_IsObject(m))
        return qy_error(QY_ERR_FORMAT, "%s: __metadata__: expected an object of strings", src);
    size_t n = (size_t)cJSON_GetArraySize(m);
    size_t total;
    if (qy_size_add(f->nmeta, n, &total)) return qy_error(QY_ERR_RANGE, "%s: too much metadata", src);
    char **k = qy_reallocn(f->meta_keys, total ? total : 1, sizeof *k);
    if (!k) return QY_ERR_NOMEM;
    f->meta_keys = k;
    char **v = qy_reallocn(f->meta_values, total ? total : 1, sizeof *v);
    if (!v) return QY_ERR_NOMEM;
    f->meta_values = v;
    for (const cJSON *c = m->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return qy_error(QY_ERR_FORMAT, "%s: __metadata__.%.64s: expected a string", src,
                            c->string ? c->string : "");
        if (qy_st_metadata(f, c->string)) continue; /* first shard's value wins */
        char *ks = qy_arena_strdup(&f->strings, c->string);
        char *vs = qy_arena_strdup(&f->strings, c->valuestring);
        if (!ks || !vs) return QY_ERR_NOMEM;
        f->meta_keys[f->nmeta] = ks;
        f->meta_values[f->nmeta] = vs;
        f->nmeta++;
    }
    return QY_OK;
}

static int parse_tensor(qy_st_file *f, const cJSON *c, const char *src, size_t data_size, const uint8_t *data,
                        int shard) {
    const char *name = c->string;
    if (!name[0]) return qy_error(QY_ERR_FORMAT, "%s: a tensor has an empty name", src);
    if (!cJSON_IsObject(c))
        return qy_error(QY_ERR_FORMAT, "%s: tensor '%.200s': expected an object {dtype, shape, data_offsets}",
                        src, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(c, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(c, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(c, "data_offsets");
    if (!cJSON_IsString(jd))
        return qy_error(QY_ERR_FORMAT, "%s: tensor '%.200s': dtype: expected a string like \"F32\"", src,
                        name);
    qy_st_dtype dtype;
    if (qy_st_dtype_parse(jd->valuestring, &dtype))
        return qy_error_wrap(QY_ERR_UNSUPPORTED, "%s: tensor '%.200s'", src, name);
    if (!cJSON_IsArray(js))
        return qy_error(QY_ERR_FORMAT, "%s: tensor '%.200s': shape: expected an array of sizes", src, name);
    int ndim = cJSON_GetArraySize(js);
    if (ndim > QY_ST_MAX_DIMS)
        return qy_error(QY_ERR_RANGE, "%s: tensor '%.200s': %d dimensions, quarry reads at most %d", src,
                        name, ndim, QY_ST_MAX_DIMS);
    st_entry *e;
    if (add_entry(f, &e)) return QY_ERR_NOMEM;
    qy_st_tensor *t = &e->t;
    t->dtype = dtype;
    t->ndim = ndim;
    t->shard = shard;
    size_t numel = 1;
    int d = 0;
    for (const cJSON *x = js->child; x; x = x->next, d++) {
        uint64_t v;
        if (!json_size(x, &v))
            return qy_error(QY_ERR_FORMAT, "%s: tensor '%.200s': shape[%d]: expected a non-negative integer",
                            src, name, d);
        if (v > (uint64_t)INT64_MAX || (uint64_t)(size_t)v != v || qy_size_mul(numel, (size_t)v, &numel))
            return qy_error(QY_ERR_RANGE, "%s: tensor '%.200s': shape has an absurd number of elements", src,
                            name);
        t->shape[d] = (int64_t)v;
    }
    size_t nbytes;
    if (qy_size_mul(numel, dtype_info[dtype].size, &nbytes))
        return qy_error(QY_ERR_RANGE, "%s: tensor '%.200s': size in bytes overflows", src, name);
    t->numel = numel;
    t->nbytes = nbytes;
    uint64_t begin, end;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !json_size(jo->child, &begin) ||
        !json_size(jo->child->next, &end))
        return qy_error(QY_ERR_FORMAT,
                        "%s: tensor '%.200s': data_offsets: expected [begin, end] as non-negative integers",
                        src, name);
    if (end < begin)
        return qy_error(QY_ERR_FORMAT,
                        "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin",
                        src, name, begin, end);
    if (end > data_size)
        return qy_error(QY_ERR_FORMAT,
                        "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                        "] reach past the data region of %zu bytes (truncated file or wrong header)",
                        src, name, begin, end, data_size);
    if (end - begin != nbytes) {
        char sh[160];
        qy_shape_text(t->shape, ndim, sh, sizeof sh);
        return qy_error(QY_ERR_FORMAT,
                        "%s: tensor '%.200s': shape %s of %s needs %zu bytes but data_offsets span %" PRIu64,
                        src, name, sh, dtype_info[dtype].name, nbytes, end - begin);
    }
    e->begin = (size_t)begin;
    e->end = (size_t)end;
    t->data = data + begin;
    t->name = qy_arena_strdup(&f->strings, name);
    if (!t->name) return QY_ERR_NOMEM;
    return QY_OK;
}

/* Heap sort of an index array with a context pointer (qsort has none);
 * comparators break ties by index, so the order is total and deterministic. */
typedef int (*idx_cmp)(const void *ctx, size_t a, size_t b);

static void sift_down(size_t *idx, size_t root, size_t n, idx_cmp cmp, const void *ctx) {
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && cmp(ctx, idx[child], idx[child + 1]) < 0) child++;
        if (cmp(ctx, idx[root], idx[child]) >= 0) return;
        size_t t = idx[root];
        idx[root] = idx[child];
        idx[child] = t;
        root = child;
    }
}

static void sort_idx(size_t *idx, size_t n, idx_cmp cmp, const void *ctx) {
    for (size_t i = n / 2; i-- > 0;) sift_down(idx, i, n, cmp, ctx);
    for (size_t end = n; end > 1; end--) {
        size_t t = idx[0];
        idx[0] = idx[end - 1];
        idx[end - 1] = t;
        sift_down(idx, 0, end - 1, cmp, ctx);
    }
}

static int tie(size_t a, size_t b) { return a < b ? -1 : a > b; }

static int cmp_by_begin(const void *ctx, size_t a, size_t b) {
    const st_entry *x = &((const qy_st_file *)ctx)->entries[a], *y = &((const qy_st_file *)ctx)->entries[b];
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return tie(a, b);
}

static int cmp_by_name(const void *ctx, size_t a, size_t b) {
    const st_entry *x = &((const qy_st_file *)ctx)->entries[a], *y = &((const qy_st_file *)ctx)->entries[b];
    int c = strcmp(x->t.name, y->t.name);
    return c ? c : tie(a, b);
}

/* the tensors of entries [first, count) must tile [0, data_size) exactly */
static int check_tiling(qy_st_file *f, size_t first, size_t data_size, const char *src) {
    size_t n = f->count - first;
    size_t *idx = qy_mallocn(n ? n : 1, sizeof *idx);
    if (!idx) return QY_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) idx[i] = first + i;
    sort_idx(idx, n, cmp_by_begin, f);
    size_t pos = 0;
    const char *prev = NULL;
    int st = QY_OK;
    for (size_t i = 0; i < n && !st; i++) {
        const st_entry *e = &f->entries[idx[i]];
        if (e->begin < pos)
            st = qy_error(QY_ERR_FORMAT, "%s: tensors '%.200s' and '%.200s' overlap (bytes %zu..%zu)", src,
                          prev, e->t.name, e->begin, pos);
        else if (e->begin > pos)
            st = qy_error(QY_ERR_FORMAT,
                          "%s: bytes %zu..%zu of the data region belong to no tensor (before '%.200s')", src,
                          pos, e->begin, e->t.name);
        pos = e->end;
        prev = e->t.name;
    }
    if (!st && pos != data_size)
        st = qy_error(QY_ERR_FORMAT,
                      "%s: %zu bytes after the last tensor belong to no tensor (the header describes %zu of "
                      "%zu data bytes)",
                      src, data_size - pos, pos, data_size);
    qy_free(idx);
    return st;
}

/* parse one safetensors image into f as shard `shard` */
static int parse_image(qy_st_file *f, const uint8_t *data, size_t size, const char *src, int shard) {
    if (size < 8)
        return qy_error(QY_ERR_FORMAT,
                        "%s: %zu bytes is too short for a safetensors file (8-byte header length first)", src,
                        size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | data[i];
    if (hlen > QY_ST_MAX_HEADER)
        return qy_error(QY_ERR_RANGE,
                        "%s: header length %" PRIu64 " is absurd (limit %u bytes; not a safetensors file?)",
                        src, hlen, QY_ST_MAX_HEADER);
    if (hlen > size - 8)
        return qy_error(QY_ERR_FORMAT,
                        "%s: header claims %" PRIu64
                        " bytes but the file holds only %zu after the length field (truncated?)",
                        src, hlen, size - 8);
    if (hlen < 2 || data[8] != '{')
        return qy_error(QY_ERR_FORMAT, "%s: header must be a JSON object starting with '{'", src);
    const uint8_t *h = data + 8;
    if (memchr(h, 0, (size_t)hlen)) return qy_error(QY_ERR_FORMAT, "%s: header contains a NUL byte", src);
    size_t bad = utf8_check(h, (size_t)hlen);
    if (bad != hlen) return qy_error(QY_ERR_FORMAT, "%s: header is not valid UTF-8 (byte %zu)", src, bad + 8);
    char jsrc[512];
    snprintf(jsrc, sizeof jsrc, "%s: header", src);
    qy_json *doc;
    int st = qy_json_parse((const char *)h, (size_t)hlen, jsrc, &doc);
    if (st) return st;
    const cJSON *root = qy_json_root(doc);
    if (!cJSON_IsObject(root)) {
        qy_json_free(doc);
        return qy_error(QY_ERR_FORMAT, "%s: header must be a JSON object", src);
    }
    const uint8_t *region = data + 8 + hlen;
    size_t data_size = size - 8 - (size_t)hlen;
    size_t first = f->count;
    for (const cJSON *c = root->child; c && !st; c = c->next) {
        if (!strcmp(c->string, "__metadata__"))
            st = parse_metadata(f, c, src);
        else
            st = parse_tensor(f, c, src, data_size, region, shard);
    }
    qy_json_free(doc);
    if (!st) st = check_tiling(f, first, data_size, src);
    return st;
}

/* sort names, reject duplicates */
static int finish(qy_st_file *f) {
    qy_free(f->by_name);
    f->by_name = qy_mallocn(f->count ? f->count : 1, sizeof *f->by_name);
    if (!f->by_name) return QY_ERR_NOMEM;
    for (size_t i = 0; i < f->count; i++) f->by_name[i] = i;
    sort_idx(f->by_name, f->count, cmp_by_name, f);
    for (size_t i = 1; i < f->count; i++) {
        const st_entry *a = &f->entries[f->by_name[i - 1]], *b = &f->entries[f->by_name[i]];
        if (!strcmp(a->t.name, b->t.name)) {
            const char *sa = f->shards[a->t.shard].path, *sb = f->shards[b->t.shard].path;
            if (a->t.shard != b->t.shard && sa && sb)
                return qy_error(QY_ERR_FORMAT, "%s: tensor '%.200s' appears in both %s and %s", f->source,
                                a->t.name, sa, sb);
            return qy_error(QY_ERR_FORMAT, "%s: tensor '%.200s' appears twice", f->source, a->t.name);
        }
    }
    return QY_OK;
}

static int add_shard(qy_st_file *f, const char *path, st_shard **out) {
    st_shard *s = qy_reallocn(f->shards, f->nshards + 1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    f->shards = s;
    st_shard *sh = &f->shards[f->nshards];
    memset(sh, 0, sizeof *sh);
    if (path && !(sh->path = qy_strdup(path))) return QY_ERR_NOMEM;
    f->nshards++;
    *out = sh;
    return QY_OK;
}

int qy_st_parse(const uint8_t *data, size_t size, const char *source, qy_st_file **out) {
    *out = NULL;
    if (!source) source = "<safetensors>";
    qy_st_file *f = NULL;
    int st = file_new(source, &f);
    st_shard *sh;
    if (!st) st = add_shard(f, NULL, &sh);
    if (!st) st = parse_image(f, data, size, source, 0);
    if (!st) st = finish(f);
    if (st) {
        qy_st_close(f);
        return st;
    }
    *out = f;
    return QY_OK;
}

/* map `path` as shard number f->nshards and parse it */
static int open_shard(qy_st_file *f, const char *path) {
    st_shard *sh;
    int st = add_shard(f, path, &sh);
    if (st) return st;
    st = qy_mmap_open(path, &sh->map);
    if (st) return st;
    sh->mapped = 1;
    return parse_image(f, sh->map.data, sh->map.size, path, (int)(f->nshards - 1));
}

int qy_st_open(const char *path, qy_st_file **out) {
    *out = NULL;
    qy_st_file *f = NULL;
    int st = file_new(path, &f);
    if (st) return st;
    st = open_shard(f, path);
    if (!st) st = finish(f);
    if (st) {
        qy_st_close(f);
        return st;
    }
    *out = f;
    return QY_OK;
}

static int join_path(char *buf, size_t cap, const char *dir, const char *name) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) return qy_error(QY_ERR_ARG, "%s/%s: path too long", dir, name);
    return QY_OK;
}

/* a shard name must stay inside the model folder */
static int shard_name_ok(const char *s) {
    return s[0] && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..");
}

struct qy_st_index {
    qy_json *doc;
    const char **tensors; /* weight_map keys, in file order (point into doc) */
    size_t *shard_of;     /* shard index of each */
    size_t count;
    size_t *by_name;     /* entry indexes sorted by tensor name */
    const char **shards; /* distinct shard names in order of first appearance */
    size_t nshards;
};

void qy_st_index_free(qy_st_index *ix) {
    if (!ix) return;
    qy_json_free(ix->doc);
    qy_free(ix->tensors);
    qy_free(ix->shard_of);
    qy_free(ix->by_name);
    qy_free(ix->shards);
    qy_free(ix);
}

size_t qy_st_index_count(const qy_st_index *ix) { return ix->count; }
size_t qy_st_index_shard_count(const qy_st_index *ix) { return ix->nshards; }
const char *qy_st_index_shard(const qy_st_index *ix, size_t i) {
    return i < ix->nshards ? ix->shards[i] : NULL;
}

void qy_st_index_at(const qy_st_index *ix, size_t i, const char **tensor, size_t *shard) {
    *tensor = i < ix->count ? ix->tensors[i] : NULL;
    *shard = i < ix->count ? ix->shard_of[i] : 0;
}

static int cmp_index_name(const void *ctx, size_t a, size_t b) {
    const qy_st_index *ix = ctx;
    int c = strcmp(ix->tensors[a], ix->tensors[b]);
    return c ? c : tie(a, b);
}

/* entry of `name` in the index, or -1 */
static long index_find(const qy_st_index *ix, const char *name) {
    size_t lo = 0, hi = ix->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->tensors[ix->by_name[mid]], name);
        if (c == 0) return (long)ix->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int qy_st_index_parse(const char *text, size_t len, const char *source, qy_st_index **out) {
    *out = NULL;
    if (!source) source = "model.safetensors.index.json";
    qy_st_index *ix = qy_calloc(1, sizeof *ix);
    if (!ix) return QY_ERR_NOMEM;
    int st = qy_json_parse(text, len, source, &ix->doc);
    qy_jref root, wm;
    size_t n = 0;
    if (!st) {
        root = qy_json_ref(ix->doc);
        st = qy_jref_object(&root, ".weight_map", &wm, &n);
    }
    if (!st && n == 0) st = qy_error(QY_ERR_FORMAT, "%s: .weight_map: is empty", source);
    if (!st && (!(ix->tensors = qy_mallocn(n, sizeof *ix->tensors)) ||
                !(ix->shard_of = qy_mallocn(n, sizeof *ix->shard_of)) ||
                !(ix->by_name = qy_mallocn(n, sizeof *ix->by_name)) ||
                !(ix->shards = qy_mallocn(n, sizeof *ix->shards))))
        st = QY_ERR_NOMEM;
    for (const cJSON *c = st ? NULL : wm.node->child; c && !st; c = c->next) {
        if (!c->string[0])
            st = qy_error(QY_ERR_FORMAT, "%s: .weight_map: a tensor has an empty name", source);
        else if (!cJSON_IsString(c))
            st = qy_error(QY_ERR_FORMAT, "%s: .weight_map.%.200s: expected a file name", source, c->string);
        else if (!shard_name_ok(c->valuestring))
            st = qy_error(QY_ERR_FORMAT,
                          "%s: .weight_map.%.200s: '%.200s' is not a file name in the model folder", source,
                          c->string, c->valuestring);
        if (st) break;
        size_t k = 0;
        while (k < ix->nshards && strcmp(ix->shards[k], c->valuestring)) k++;
        if (k == ix->nshards) ix->shards[ix->nshards++] = c->valuestring;
        ix->tensors[ix->count] = c->string;
        ix->shard_of[ix->count] = k;
        ix->by_name[ix->count] = ix->count;
        ix->count++;
    }
    if (!st) {
        sort_idx(ix->by_name, ix->count, cmp_index_name, ix);
        for (size_t i = 1; i < ix->count && !st; i++)
            if (!strcmp(ix->tensors[ix->by_name[i - 1]], ix->tensors[ix->by_name[i]]))
                st = qy_error(QY_ERR_FORMAT, "%s: .weight_map lists tensor '%.200s' twice", source,
                              ix->tensors[ix->by_name[i]]);
    }
    if (st) {
        qy_st_index_free(ix);
        return st;
    }
    *out = ix;
    return QY_OK;
}

static int open_index(const char *dir, const char *index_path, qy_st_file **out) {
    char *text;
    size_t len;
    int st = qy_read_file(index_path, 64u << 20, &text, &len);
    if (st) return st;
    qy_st_index *ix = NULL;
    st = qy_st_index_parse(text, len, index_path, &ix);
    qy_free(text);
    qy_st_file *f = NULL;
    if (!st) st = file_new(index_path, &f);
    char path[4096];
    for (size_t k = 0; !st && k < ix->nshards; k++) {
        st = join_path(path, sizeof path, dir, ix->shards[k]);
        if (!st) st = open_shard(f, path); /* shard k of f is shard k of the index */
        if (st == QY_ERR_NOT_FOUND)
            st = qy_error(QY_ERR_NOT_FOUND, "%s: shard %s is listed in the weight_map but missing",
                          index_path, ix->shards[k]);
    }
    if (!st) st = finish(f);
    /* the weight_map and the shards must agree exactly */
    for (size_t i = 0; !st && i < ix->count; i++) {
        const qy_st_tensor *t = qy_st_find(f, ix->tensors[i]);
        if (!t)
            st = qy_error(QY_ERR_FORMAT, "%s: tensor '%.200s' is listed in %s but that file does not hold it",
                          index_path, ix->tensors[i], ix->shards[ix->shard_of[i]]);
        else if ((size_t)t->shard != ix->shard_of[i])
            st = qy_error(QY_ERR_FORMAT, "%s: tensor '%.200s' is listed in %s but found in %s", index_path,
                          ix->tensors[i], ix->shards[ix->shard_of[i]], ix->shards[t->shard]);
    }
    for (size_t i = 0; !st && i < f->count; i++)
        if (index_find(ix, f->entries[i].t.name) < 0)
            st = qy_error(QY_ERR_FORMAT, "%s: tensor '%.200s' of %s is missing from the weight_map",
                          index_path, f->entries[i].t.name, ix->shards[f->entries[i].t.shard]);
    qy_st_index_free(ix);
    if (st) {
        qy_st_close(f);
        return st;
    }
    *out = f;
    return QY_OK;
}

int qy_st_open_dir(const char *dir, qy_st_file **out) {
    *out = NULL;
    char path[4096], index[4096];
    int st = join_path(path, sizeof path, dir, "model.safetensors");
    if (!st) st = join_path(index, sizeof index, dir, "model.safetensors.index.json");
    if (st) return st;
    if (qy_file_exists(path)) return qy_st_open(path, out);
    if (qy_file_exists(index)) return open_index(dir, index, out);
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/pytorch_model.bin", dir);
    if (qy_file_exists(bin))
        return qy_error(QY_ERR_UNSUPPORTED,
                        "%s: holds pytorch_model.bin but no model.safetensors; quarry reads safetensors only "
                        "(convert it: save_pretrained(..., safe_serialization=True))",
                        dir);
    return qy_error(QY_ERR_NOT_FOUND, "%s: no model.safetensors or model.safetensors.index.json", dir);
}

size_t qy_st_count(const qy_st_file *f) { return f->count; }

const qy_st_tensor *qy_st_at(const qy_st_file *f, size_t i) { return i < f->count ? &f->entries[i].t : NULL; }

const qy_st_tensor *qy_st_find(const qy_st_file *f, const char *name) {
    size_t lo = 0, hi = f->by_name ? f->count : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const st_entry *e = &f->entries[f->by_name[mid]];
        int c = strcmp(e->t.name, name);
        if (c == 0) return &e->t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int qy_st_get(const qy_st_file *f, const char *name, const qy_st_tensor **out) {
    *out = qy_st_find(f, name);
    if (!*out) return qy_error(QY_ERR_NOT_FOUND, "%s: no tensor '%.200s'", f->source, name);
    return QY_OK;
}

const char *qy_st_source(const qy_st_file *f) { return f->source; }

size_t qy_st_total_bytes(const qy_st_file *f) {
    size_t s = 0;
    for (size_t i = 0; i < f->count; i++) s += f->entries[i].t.nbytes; /* tiles mapped files: no overflow */
    return s;
}

size_t qy_st_metadata_count(const qy_st_file *f) { return f->nmeta; }

void qy_st_metadata_at(const qy_st_file *f, size_t i, const char **key, const char **value) {
    *key = i < f->nmeta ? f->meta_keys[i] : NULL;
    *value = i < f->nmeta ? f->meta_values[i] : NULL;
}

const char *qy_st_metadata(const qy_st_file *f, const char *key) {
    for (size_t i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}

int qy_st_read_f32(const qy_st_tensor *t, float *out, size_t n) {
    if (n != t->numel)
        return qy_error(QY_ERR_ARG, "tensor '%.200s' has %zu elements, the buffer %zu", t->name, t->numel, n);
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case QY_ST_F32:
        if (n) memcpy(out, p, n * 4);
        return QY_OK;
    case QY_ST_F16: qy_f16_to_f32_n(p, out, n); return QY_OK;
    case QY_ST_BF16: qy_bf16_to_f32_n(p, out, n); return QY_OK;
    case QY_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            out[i] = (float)d;
        }
        return QY_OK;
    default:
        return qy_error(QY_ERR_UNSUPPORTED,
                        "tensor '%.200s' is %s; only F32, F16, BF16 and F64 convert to f32", t->name,
                        qy_st_dtype_name(t->dtype));
    }
}

/* ------------------------------------------------------------ the writer */

typedef struct wr_entry {
    char *name;
    qy_st_dtype dtype;
    int ndim;
    int64_t shape[QY_ST_MAX_DIMS];
    size_t numel, nbytes;
    const void *data; /* bytes as stored, or NULL when from_f32 */
    const float *f32; /* converted to dtype while writing */
} wr_entry;

struct qy_st_writer {
    wr_entry *entries;
    size_t count, cap;
    char **meta_keys, **meta_values;
    size_t nmeta;
};

int qy_st_writer_new(qy_st_writer **out) {
    *out = qy_calloc(1, sizeof **out);
    return *out ? QY_OK : QY_ERR_NOMEM;
}

void qy_st_writer_free(qy_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->count; i++) qy_free(w->entries[i].name);
    for (size_t i = 0; i < w->nmeta; i++) {
        qy_free(w->meta_keys[i]);
        qy_free(w->meta_values[i]);
    }
    qy_free(w->meta_keys);
    qy_free(w->meta_values);
    qy_free(w->entries);
    qy_free(w);
}

static int writer_entry(qy_st_writer *w, const char *name, qy_st_dtype dtype, int ndim, const int64_t *shape,
                        wr_entry **out) {
    if (!name || !name[0]) return qy_error(QY_ERR_ARG, "safetensors writer: empty tensor name");
    if (!strcmp(name, "__metadata__"))
        return qy_error(QY_ERR_ARG, "safetensors writer: '__metadata__' cannot name a tensor");
    if ((unsigned)dtype >= QY_ST_DTYPE_COUNT)
        return qy_error(QY_ERR_ARG, "safetensors writer: tensor '%.200s': bad dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > QY_ST_MAX_DIMS)
        return qy_error(QY_ERR_ARG, "safetensors writer: tensor '%.200s': %d dimensions (0..%d)", name, ndim,
                        QY_ST_MAX_DIMS);
    for (size_t i = 0; i < w->count; i++)
        if (!strcmp(w->entries[i].name, name))
            return qy_error(QY_ERR_ARG, "safetensors writer: tensor '%.200s' added twice", name);
    size_t numel = 1;
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0 || (double)shape[d] > MAX_JSON_INT || qy_size_mul(numel, (size_t)shape[d], &numel))
            return qy_error(QY_ERR_RANGE, "safetensors writer: tensor '%.200s': bad shape", name);
    size_t nbytes;
    if (qy_size_mul(numel, dtype_info[dtype].size, &nbytes))
        return qy_error(QY_ERR_RANGE, "safetensors writer: tensor '%.200s': too large", name);
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        wr_entry *e = qy_reallocn(w->entries, cap, sizeof *e);
        if (!e) return QY_ERR_NOMEM;
        w->entries = e;
        w->cap = cap;
    }
    wr_entry *e = &w->entries[w->count];
    memset(e, 0, sizeof *e);
    if (!(e->name = qy_strdup(name))) return QY_ERR_NOMEM;
    e->dtype = dtype;
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++) e->shape[d] = shape[d];
    e->numel = numel;
    e->nbytes = nbytes;
    w->count++;
    *out = e;
    return QY_OK;
}

int qy_st_writer_add(qy_st_writer *w, const char *name, qy_st_dtype dtype, int ndim, const int64_t *shape,
                     const void *data, size_t nbytes) {
    wr_entry *e;
    int st = writer_entry(w, name, dtype, ndim, shape, &e);
    if (st) return st;
    if (nbytes != e->nbytes) {
        w->count--;
        qy_free(e->name);
        return qy_error(QY_ERR_ARG,
                        "safetensors writer: tensor '%.200s': %zu bytes given, its shape needs %zu", name,
                        nbytes, e->nbytes);
    }
    e->data = data;
    return QY_OK;
}

int qy_st_writer_add_f32(qy_st_writer *w, const char *name, qy_st_dtype dtype, int ndim, const int64_t *shape,
                         const float *data) {
    if (dtype != QY_ST_F32 && dtype != QY_ST_F16 && dtype != QY_ST_BF16)
        return qy_error(QY_ERR_ARG,
                        "safetensors writer: tensor '%.200s': f32 data is stored as F32, F16 or BF16, not %s",
                        name ? name : "", qy_st_dtype_name(dtype));
    wr_entry *e;
    int st = writer_entry(w, name, dtype, ndim, shape, &e);
    if (st) return st;
    e->f32 = data;
    return QY_OK;
}

int qy_st_writer_set_metadata(qy_st_writer *w, const char *key, const char *value) {
    for (size_t i = 0; i < w->nmeta; i++)
        if (!strcmp(w->meta_keys[i], key)) {
            char *v = qy_strdup(value);
            if (!v) return QY_ERR_NOMEM;
            qy_free(w->meta_values[i]);
            w->meta_values[i] = v;
            return QY_OK;
        }
    char **k = qy_reallocn(w->meta_keys, w->nmeta + 1, sizeof *k);
    if (!k) return QY_ERR_NOMEM;
    w->meta_keys = k;
    char **v = qy_reallocn(w->meta_values, w->nmeta + 1, sizeof *v);
    if (!v) return QY_ERR_NOMEM;
    w->meta_values = v;
    char *ks = qy_strdup(key), *vs = qy_strdup(value);
    if (!ks || !vs) {
        qy_free(ks);
        qy_free(vs);
        return QY_ERR_NOMEM;
    }
    w->meta_keys[w->nmeta] = ks;
    w->meta_values[w->nmeta] = vs;
    w->nmeta++;
    return QY_OK;
}

int qy_st_writer_add_file(qy_st_writer *w, const qy_st_file *f) {
    for (size_t i = 0; i < f->count; i++) {
        const qy_st_tensor *t = &f->entries[i].t;
        int st = qy_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data, t->nbytes);
        if (st) return st;
    }
    for (size_t i = 0; i < f->nmeta; i++) {
        int st = qy_st_writer_set_metadata(w, f->meta_keys[i], f->meta_values[i]);
        if (st) return st;
    }
    return QY_OK;
}

/* growable byte buffer */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_put(sbuf *b, const void *s, size_t n) {
    if (b->failed) return;
    size_t need;
    if (qy_size_add(b->len, n, &need)) {
        b->failed = 1;
        return;
    }
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need) cap *= 2;
        char *p = qy_realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len = need;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* a JSON string as serde_json writes it */
static void sb_json_string(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': sb_str(b, "\\\""); break;
        case '\\': sb_str(b, "\\\\"); break;
        case '\n': sb_str(b, "\\n"); break;
        case '\r': sb_str(b, "\\r"); break;
        case '\t': sb_str(b, "\\t"); break;
        case '\b': sb_str(b, "\\b"); break;
        case '\f': sb_str(b, "\\f"); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                sb_str(b, esc);
            } else {
                sb_put(b, p, 1);
            }
        }
    }
    sb_put(b, "\"", 1);
}

static int cmp_writer_name(const void *ctx, size_t a, size_t b) {
    const wr_entry *e = ctx;
    int c = strcmp(e[a].name, e[b].name);
    return c ? c : tie(a, b);
}

/* the reference writer's order: dtype descending, then name */
static int cmp_writer(const void *ctx, size_t a, size_t b) {
    const wr_entry *e = ctx;
    if (e[a].dtype != e[b].dtype) return e[a].dtype > e[b].dtype ? -1 : 1;
    return cmp_writer_name(ctx, a, b);
}

/* entry indexes in file order */
static int writer_order(const qy_st_writer *w, size_t **out) {
    size_t *idx = qy_mallocn(w->count ? w->count : 1, sizeof *idx);
    if (!idx) return QY_ERR_NOMEM;
    for (size_t i = 0; i < w->count; i++) idx[i] = i;
    sort_idx(idx, w->count, cmp_writer, w->entries);
    *out = idx;
    return QY_OK;
}

/* header (length field + padded JSON) for entries idx[0..n) */
static int build_header(const qy_st_writer *w, const size_t *idx, size_t n, sbuf *b) {
    char num[64];
    sb_put(b, "\0\0\0\0\0\0\0\0", 8);
    sb_str(b, "{");
    int first = 1;
    if (w->nmeta) {
        sb_str(b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->nmeta; i++) {
            if (i) sb_str(b, ",");
            sb_json_string(b, w->meta_keys[i]);
            sb_str(b, ":");
            sb_json_string(b, w->meta_values[i]);
        }
        sb_str(b, "}");
        first = 0;
    }
    size_t off = 0;
    for (size_t k = 0; k < n; k++) {
        const wr_entry *e = &w->entries[idx[k]];
        if (!first) sb_str(b, ",");
        first = 0;
        sb_json_string(b, e->name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, dtype_info[e->dtype].name);
        sb_str(b, "\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", e->shape[d]);
            sb_str(b, num);
        }
        if (qy_size_add(off, e->nbytes, &off) || (double)off > MAX_JSON_INT)
            return qy_error(QY_ERR_RANGE, "safetensors writer: the tensors exceed 2^53 bytes");
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off - e->nbytes, off);
        sb_str(b, num);
    }
    sb_str(b, "}");
    while (!b->failed && b->len % 8) sb_str(b, " ");
    if (b->failed) return qy_error(QY_ERR_NOMEM, "safetensors writer: out of memory building the header");
    uint64_t hlen = b->len - 8;
    if (hlen > QY_ST_MAX_HEADER)
        return qy_error(QY_ERR_RANGE, "safetensors writer: header over %u bytes", QY_ST_MAX_HEADER);
    for (int i = 0; i < 8; i++) b->p[i] = (char)((hlen >> (8 * i)) & 0xff);
    return QY_OK;
}

typedef int (*emit_fn)(void *ctx, const void *p, size_t n);

/* write the data of entries idx[0..n) */
static int emit_data(const qy_st_writer *w, const size_t *idx, size_t n, emit_fn emit, void *ctx) {
    enum { CHUNK = 16384 };
    for (size_t k = 0; k < n; k++) {
        const wr_entry *e = &w->entries[idx[k]];
        if (!e->f32) {
            if (e->nbytes) {
                int st = emit(ctx, e->data, e->nbytes);
                if (st) return st;
            }
            continue;
        }
        uint8_t buf[CHUNK * 4];
        for (size_t i = 0; i < e->numel; i += CHUNK) {
            size_t m = e->numel - i < CHUNK ? e->numel - i : CHUNK;
            size_t nb = m * dtype_info[e->dtype].size;
            if (e->dtype == QY_ST_F32) {
                memcpy(buf, e->f32 + i, nb);
            } else {
                for (size_t j = 0; j < m; j++) {
                    uint16_t h =
                        e->dtype == QY_ST_F16 ? qy_f32_to_f16(e->f32[i + j]) : qy_f32_to_bf16(e->f32[i + j]);
                    buf[2 * j] = (uint8_t)(h & 0xff);
                    buf[2 * j + 1] = (uint8_t)(h >> 8);
                }
            }
            int st = emit(ctx, buf, nb);
            if (st) return st;
        }
    }
    return QY_OK;
}

static int emit_sbuf(void *ctx, const void *p, size_t n) {
    sbuf *b = ctx;
    sb_put(b, p, n);
    return b->failed ? qy_error(QY_ERR_NOMEM, "safetensors writer: out of memory") : QY_OK;
}

static int emit_afile(void *ctx, const void *p, size_t n) { return qy_afile_write(ctx, p, n); }

static int write_subset(const qy_st_writer *w, const size_t *idx, size_t n, const char *path) {
    sbuf h = {0};
    int st = build_header(w, idx, n, &h);
    qy_afile *af = NULL;
    if (!st) st = qy_afile_open(path, &af);
    if (!st) st = qy_afile_write(af, h.p, h.len);
    qy_free(h.p);
    if (!st) st = emit_data(w, idx, n, emit_afile, af);
    if (af) {
        if (st)
            qy_afile_abort(af);
        else
            st = qy_afile_commit(af);
    }
    return st;
}

int qy_st_writer_write(qy_st_writer *w, const char *path) {
    size_t *idx;
    int st = writer_order(w, &idx);
    if (st) return st;
    st = write_subset(w, idx, w->count, path);
    qy_free(idx);
    return st;
}

int qy_st_writer_serialize(qy_st_writer *w, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    size_t *idx;
    int st = writer_order(w, &idx);
    if (st) return st;
    sbuf b = {0};
    st = build_header(w, idx, w->count, &b);
    if (!st) st = emit_data(w, idx, w->count, emit_sbuf, &b);
    qy_free(idx);
    if (st) {
        qy_free(b.p);
        return st;
    }
    if (!b.p) { /* cannot happen: the header is at least 8 + 8 bytes */
        qy_free(b.p);
        return qy_error(QY_ERR_INTERNAL, "safetensors writer: empty output");
    }
    *out = (uint8_t *)b.p;
    *len = b.len;
    return QY_OK;
}

/* remove DIR/WHAT if it is there (the layout that was not written) */
static void remove_stale(const char *dir, const char *what) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s/%s", dir, what) < (int)sizeof p && qy_file_exists(p)) unlink(p);
}

/* remove shards "model-K-of-N.safetensors" of an earlier save whose N differs
 * from the `keep_of` just written (0: remove all), as save_pretrained does */
static void remove_stale_shards(const char *dir, size_t keep_of) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned k, of;
        char tail[32];
        if (sscanf(e->d_name, "model-%5u-of-%5u%31s", &k, &of, tail) == 3 && !strcmp(tail, ".safetensors") &&
            strlen(e->d_name) == 32 && of != keep_of)
            remove_stale(dir, e->d_name);
    }
    closedir(d);
}

int qy_st_writer_write_dir(qy_st_writer *w, const char *dir, size_t max_shard_bytes) {
    int st = qy_mkdir_p(dir);
    if (st) return st;
    size_t *idx;
    st = writer_order(w, &idx);
    if (st) return st;
    size_t total = 0;
    for (size_t i = 0; i < w->count; i++) total += w->entries[i].nbytes; /* checked at add: fits */
    char path[4096];
    if (max_shard_bytes == 0 || total <= max_shard_bytes) {
        st = join_path(path, sizeof path, dir, "model.safetensors");
        if (!st) st = write_subset(w, idx, w->count, path);
        if (!st) remove_stale(dir, "model.safetensors.index.json");
        if (!st) remove_stale_shards(dir, 0);
        qy_free(idx);
        return st;
    }
    /* shards: greedy in file order, a new shard when the next tensor would overflow */
    size_t *shard_of = qy_mallocn(w->count ? w->count : 1, sizeof *shard_of);
    if (!shard_of) {
        qy_free(idx);
        return QY_ERR_NOMEM;
    }
    size_t nshards = 0, cur = 0;
    for (size_t k = 0; k < w->count; k++) {
        size_t nb = w->entries[idx[k]].nbytes;
        if (nshards == 0 || (cur > 0 && cur + nb > max_shard_bytes)) {
            nshards++;
            cur = 0;
        }
        cur += nb;
        shard_of[k] = nshards - 1;
    }
    /* index: {"metadata": {"total_size": N}, "weight_map": {name: shard}} with names sorted */
    size_t *by_name = qy_mallocn(w->count ? w->count : 1, sizeof *by_name);
    if (!by_name) st = QY_ERR_NOMEM;
    char name[64];
    for (size_t s = 0, k0 = 0; s < nshards && !st; s++) {
        size_t k1 = k0;
        while (k1 < w->count && shard_of[k1] == s) k1++;
        snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, nshards);
        st = join_path(path, sizeof path, dir, name);
        if (!st) st = write_subset(w, idx + k0, k1 - k0, path);
        k0 = k1;
    }
    sbuf b = {0};
    if (!st) {
        size_t *shard_of_entry = by_name; /* reuse: first shard index per entry, then the order */
        for (size_t k = 0; k < w->count; k++) shard_of_entry[idx[k]] = shard_of[k];
        for (size_t i = 0; i < w->count; i++) shard_of[i] = shard_of_entry[i];
        for (size_t i = 0; i < w->count; i++) by_name[i] = i;
        sort_idx(by_name, w->count, cmp_writer_name, w->entries);
        char num[96];
        snprintf(num, sizeof num, "{\n  \"metadata\": {\n    \"total_size\": %zu\n  },\n  \"weight_map\": {",
                 total);
        sb_str(&b, num);
        for (size_t i = 0; i < w->count; i++) {
            const wr_entry *e = &w->entries[by_name[i]];
            sb_str(&b, i ? ",\n    " : "\n    ");
            sb_json_string(&b, e->name);
            snprintf(name, sizeof name, ": \"model-%05zu-of-%05zu.safetensors\"", shard_of[by_name[i]] + 1,
                     nshards);
            sb_str(&b, name);
        }
        sb_str(&b, "\n  }\n}\n");
        if (b.failed) st = qy_error(QY_ERR_NOMEM, "safetensors writer: out of memory");
    }
    if (!st) st = join_path(path, sizeof path, dir, "model.safetensors.index.json");
    if (!st) st = qy_write_file_atomic(path, b.p, b.len);
    if (!st) remove_stale(dir, "model.safetensors");
    if (!st) remove_stale_shards(dir, nshards);
    qy_free(b.p);
    qy_free(by_name);
    qy_free(shard_of);
    qy_free(idx);
    return st;
}
