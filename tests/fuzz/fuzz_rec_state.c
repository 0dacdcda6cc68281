/* fuzz_rec_state.c — the recommender training-state loader
 * (qy_rec_state_load) on arbitrary bytes: no crash, no leak, an error message
 * on every failure, and a refused file leaves the model as it was. When the
 * first byte is odd the last 8 bytes are replaced by the checksum of the rest,
 * so mutations also reach the checks behind the checksum (identity, sizes,
 * progress). The corpus holds states of this file's run: bprmf, dim 2, seed
 * 42, on the data below in a folder fuzz/fuzz.inter, e.g.
 *   quarry rec train fuzz --model bprmf --dim 2 --epochs 2 --state corpus/rec_state/two */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "eval/rec_models.h"
#include "quarry/base.h"
#include "quarry/rec.h"

static const char data_text[] = "user_id:token\titem_id:token\ttimestamp:float\n"
                                "a\t1\t1\na\t2\t2\na\t3\t3\na\t4\t4\n"
                                "b\t2\t1\nb\t3\t2\nb\t5\t3\nb\t1\t4\n"
                                "c\t4\t1\nc\t5\t2\nc\t6\t3\nc\t2\t4\nc\t3\t5\n"
                                "d\t6\t1\nd\t1\t2\nd\t4\t3\nd\t5\t4\n";

static qy_rec_data *d;
static qy_rec_model *m;
static char path[64];

static void setup(void) {
    qy_rec_table *t;
    QY_ASSERT(qy_rec_table_parse(data_text, sizeof data_text - 1, "fuzz.inter", &t) == QY_OK);
    QY_ASSERT(qy_rec_data_build(t, NULL, NULL, NULL, &d) == QY_OK);
    qy_rec_table_free(t);
    qy_rec_split_opts so = {.kind = QY_SPLIT_LOO};
    QY_ASSERT(qy_rec_data_split(d, &so) == QY_OK);
    qy_rec_params p = qy_rec_params_default();
    p.dim = 2;
    p.seed = 42;
    QY_ASSERT(qy_rec_model_new("bprmf", &p, &m) == QY_OK);
    QY_ASSERT(qy_rec_model_fit(m, d, NULL, NULL, NULL) == QY_OK);
    snprintf(path, sizeof path, "/tmp/quarry-fuzz-rec-state-%d", (int)getpid());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!d) setup();
    uint8_t *buf = qy_malloc(size ? size : 1);
    QY_ASSERT(buf);
    memcpy(buf, data, size);
    if (size > 8 && (buf[0] & 1)) {
        uint64_t sum = XXH64(buf, size - 8, 0);
        memcpy(buf + size - 8, &sum, 8);
    }
    QY_ASSERT(qy_write_file_atomic(path, buf, size) == QY_OK);
    qy_free(buf);
    void *before;
    size_t n_before;
    QY_ASSERT(qy_rec_model_image(m, &before, &n_before) == QY_OK);
    int epochs = m->epochs_done;
    qy_rec_train_opts o = qy_rec_train_opts_default();
    o.eval.seed = 42;
    qy_rec_train_result r;
    if (qy_rec_state_load(m, d, &o, path, &r) != QY_OK) {
        QY_ASSERT(qy_errmsg()[0] != '\0');
        QY_ASSERT(r.log == NULL && r.best_image == NULL);
        void *after;
        size_t n_after;
        QY_ASSERT(qy_rec_model_image(m, &after, &n_after) == QY_OK);
        QY_ASSERT(n_after == n_before && memcmp(before, after, n_after) == 0 && m->epochs_done == epochs);
        qy_free(after);
    } else {
        QY_ASSERT(r.n_log == (size_t)r.epochs_done && r.best_epoch <= r.epochs_done);
        qy_rec_train_result_free(&r);
    }
    qy_free(before);
    unlink(path);
    return 0;
}
