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

int qy_lm_weights_new(const qy_lm_spec *spec, qy_lm_weights *out) {
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
    memset(w.data, 0, bytes);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        w.offset[i] = off;
        w.present[i] = 1;
        off += qy_lm_spec_at(spec, i)->numel;
    }
    *out = w;
    return QY_OK;
}

int qy_lm_weights_load(const qy_lm_spec *spec, const qy_st_file *st, qy_lm_weights *out) {
    memset(out, 0, sizeof *out);
    size_t n = qy_lm_spec_count(spec);
    const qy_st_tensor **found = qy_calloc(n ? n : 1, sizeof *found);
    if (!found) return QY_ERR_NOMEM;
    qy_lm_weights w = {0};
    int s = qy_lm_spec_check(spec, st, found, NULL);
    if (!s) s = qy_lm_weights_new(spec, &w);
    for (size_t i = 0; !s && i < n; i++) {
        w.present[i] = found[i] != NULL;
        if (found[i]) s = qy_st_read_f32(found[i], w.data + w.offset[i], qy_lm_spec_at(spec, i)->numel);
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
