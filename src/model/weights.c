/* weights.c — load every parameter of a spec into one aligned f32 block (the
 * arena layout: one allocation, offsets in spec order), and save it back. */
#include "model/weights.h"

#include <stdio.h>
#include <string.h>

void qy_lm_weights_free(qy_lm_weights *w) {
    if (!w) return;
    qy_free(w->data);
    qy_free(w->offset);
    qy_free(w->present);
    memset(w, 0, sizeof *w);
}

/* the block and its index; zero-filled when `zero` (loading writes every float itself) */
static int weights_alloc(const qy_lm_spec *spec, int zero, qy_lm_weights *out) {
    memset(out, 0, sizeof *out);
    size_t n = qy_lm_spec_count(spec);
    qy_lm_weights w = {0};
    w.count = n;
    w.numel = qy_lm_spec_numel(spec);
    size_t bytes;
    if (qy_size_mul(w.numel ? w.numel : 1, sizeof(float), &bytes))
        return qy_error(QY_ERR_RANGE, "%zu parameters do not fit in memory", w.numel);
    if (!(w.offset = qy_calloc(n ? n : 1, sizeof *w.offset)) || !(w.present = qy_calloc(n ? n : 1, 1)) ||
        !(w.data = qy_malloc_aligned(bytes))) {
        qy_lm_weights_free(&w);
        return QY_ERR_NOMEM;
    }
    if (zero) memset(w.data, 0, bytes);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        w.offset[i] = off;
        w.present[i] = 1;
        off += qy_lm_spec_at(spec, i)->numel;
    }
    *out = w;
    return QY_OK;
}

/* conversion of ranges of the flattened parameter block, so that threads
 * share big tensors as well as many small ones (and fault pages in parallel) */
typedef struct load_ctx {
    const qy_lm_spec *spec;
    const qy_st_tensor **found;
    qy_lm_weights *w;
    size_t chunk;
} load_ctx;

enum { LOAD_CHUNK = 1 << 20 }; /* floats per work item */

static void load_range(void *vctx, size_t begin, size_t end, int thread_index) {
    load_ctx *c = vctx;
    qy_lm_weights *w = c->w;
    size_t lo = begin * c->chunk, hi = end * c->chunk < w->numel ? end * c->chunk : w->numel;
    /* first parameter overlapping [lo, hi): binary search over the offsets */
    size_t a = 0, b = w->count;
    while (b - a > 1) {
        size_t mid = a + (b - a) / 2;
        if (w->offset[mid] <= lo)
            a = mid;
        else
            b = mid;
    }
    for (size_t i = a; i < w->count && w->offset[i] < hi; i++) {
        size_t n = qy_lm_spec_at(c->spec, i)->numel, s = w->offset[i], e = s + n;
        size_t from = lo > s ? lo - s : 0, to = (hi < e ? hi : e) - s;
        if (from >= to) continue;
        float *dst = w->data + s + from;
        const qy_st_tensor *t = c->found[i];
        if (!t) {
            memset(dst, 0, (to - from) * sizeof(float));
            continue;
        }
        const uint8_t *src = t->data + from * qy_st_dtype_size(t->dtype);
        switch (t->dtype) {
        case QY_ST_F32: memcpy(dst, src, (to - from) * sizeof(float)); break;
        case QY_ST_F16: qy_f16_to_f32_n(src, dst, to - from); break;
        case QY_ST_BF16: qy_bf16_to_f32_n(src, dst, to - from); break;
        default:
            for (size_t k = 0; k < to - from; k++) {
                double v;
                memcpy(&v, src + 8 * k, 8); /* F64: the spec check admits only float dtypes */
                dst[k] = (float)v;
            }
        }
    }
    (void)thread_index;
}

int qy_lm_weights_new(const qy_lm_spec *spec, qy_lm_weights *out) { return weights_alloc(spec, 1, out); }

int qy_lm_weights_load(const qy_lm_spec *spec, const qy_st_file *st, qy_pool *pool, qy_lm_weights *out) {
    memset(out, 0, sizeof *out);
    size_t n = qy_lm_spec_count(spec);
    const qy_st_tensor **found = qy_calloc(n ? n : 1, sizeof *found);
    if (!found) return QY_ERR_NOMEM;
    qy_lm_weights w = {0};
    int s = qy_lm_spec_check(spec, st, found, NULL);
    if (!s) s = weights_alloc(spec, 0, &w);
    if (!s) {
        for (size_t i = 0; i < n; i++) w.present[i] = found[i] != NULL;
        load_ctx c = {.spec = spec, .found = found, .w = &w, .chunk = LOAD_CHUNK};
        qy_pool_for(pool, (w.numel + LOAD_CHUNK - 1) / LOAD_CHUNK, 1, load_range, &c);
    }
    qy_free(found);
    if (s) {
        qy_lm_weights_free(&w);
        return s;
    }
    *out = w;
    return QY_OK;
}

int qy_lm_weights_save(const qy_lm_spec *spec, const qy_lm_weights *w, qy_st_dtype dtype, const char *dir,
                       size_t max_shard_bytes) {
    if (w->count != qy_lm_spec_count(spec) || w->numel != qy_lm_spec_numel(spec))
        return qy_error(QY_ERR_ARG, "%s: the weights do not belong to this model spec", dir);
    qy_st_writer *wr;
    int s = qy_st_writer_new(&wr);
    if (s) return s;
    s = qy_st_writer_set_metadata(wr, "format", "pt");
    for (size_t i = 0; !s && i < w->count; i++) {
        if (!w->present[i]) continue;
        const qy_lm_param *p = qy_lm_spec_at(spec, i);
        s = qy_st_writer_add_f32(wr, p->name, dtype, p->ndim, p->shape, w->data + w->offset[i]);
    }
    if (!s) s = qy_st_writer_write_dir(wr, dir, max_shard_bytes);
    qy_st_writer_free(wr);
    return s;
}
