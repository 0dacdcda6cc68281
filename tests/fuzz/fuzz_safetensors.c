/* fuzz_safetensors.c — the safetensors reader on arbitrary bytes.
 *
 * Whatever the input, parsing must either fail cleanly or give tensors that lie
 * inside the input; an accepted file, written back and parsed again, must give
 * the same tensors (names, dtypes, shapes, bytes) — and the same image, since
 * the writer's layout is canonical. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quarry/base.h"
#include "quarry/model.h"

static void check(int cond) {
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qy_st_file *f;
    if (qy_st_parse(data, size, "fuzz.safetensors", &f) != QY_OK) return 0;
    size_t n = qy_st_count(f);
    for (size_t i = 0; i < n; i++) {
        const qy_st_tensor *t = qy_st_at(f, i);
        check(t->data >= data && t->nbytes <= size && t->data + t->nbytes <= data + size);
        check(qy_st_find(f, t->name) == t);
        if (t->numel <= (1u << 16)) {
            float *buf = qy_mallocn(t->numel ? t->numel : 1, sizeof *buf);
            if (buf) {
                int st = qy_st_read_f32(t, buf, t->numel);
                check(st == QY_OK || st == QY_ERR_UNSUPPORTED);
                qy_free(buf);
            }
        }
    }
    qy_st_writer *w;
    if (qy_st_writer_new(&w) == QY_OK) {
        uint8_t *img = NULL;
        size_t len = 0;
        if (qy_st_writer_add_file(w, f) == QY_OK && qy_st_writer_serialize(w, &img, &len) == QY_OK) {
            qy_st_file *g;
            check(qy_st_parse(img, len, "rewritten", &g) == QY_OK);
            check(qy_st_count(g) == n);
            check(qy_st_metadata_count(g) == qy_st_metadata_count(f));
            for (size_t i = 0; i < n; i++) {
                const qy_st_tensor *t = qy_st_at(f, i), *u = qy_st_find(g, t->name);
                check(u && u->dtype == t->dtype && u->ndim == t->ndim && u->nbytes == t->nbytes);
                check(!memcmp(u->shape, t->shape, sizeof t->shape[0] * (size_t)t->ndim));
                check(t->nbytes == 0 || !memcmp(u->data, t->data, t->nbytes));
            }
            /* canonical: a second rewrite gives the same image */
            qy_st_writer *w2;
            if (qy_st_writer_new(&w2) == QY_OK) {
                uint8_t *img2 = NULL;
                size_t len2 = 0;
                if (qy_st_writer_add_file(w2, g) == QY_OK &&
                    qy_st_writer_serialize(w2, &img2, &len2) == QY_OK)
                    check(len2 == len && !memcmp(img, img2, len));
                qy_free(img2);
                qy_st_writer_free(w2);
            }
            qy_st_close(g);
        }
        qy_free(img);
        qy_st_writer_free(w);
    }
    qy_st_close(f);
    return 0;
}
