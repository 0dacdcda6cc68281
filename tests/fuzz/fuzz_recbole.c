/* fuzz_recbole.c — the RecBole atomic-file parser and the dataset builder on
 * arbitrary bytes: no crash, no leak, an error message on every failure. */
#include <stdint.h>
#include <string.h>

#include "quarry/base.h"
#include "quarry/rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qy_rec_table *t = NULL;
    if (qy_rec_table_parse((const char *)data, size, "fuzz.inter", &t) != QY_OK) {
        QY_ASSERT(qy_errmsg()[0] != '\0');
        return 0;
    }
    qy_rec_data_opts o = qy_rec_data_opts_default();
    o.min_user_inter = 2;
    qy_rec_data *d = NULL;
    if (qy_rec_data_build(t, NULL, NULL, &o, &d) == QY_OK) {
        qy_rec_split_opts so = {.kind = (qy_split_kind)(size % 3), .ratio = {0.8, 0.1, 0.1}};
        QY_ASSERT(qy_rec_data_split(d, &so) == QY_OK);
        for (size_t j = 0; j < d->n_inter; j++) QY_ASSERT(d->item[j] > 0 && d->item[j] < d->n_items);
    }
    qy_rec_data_free(d);
    qy_rec_table_free(t);
    return 0;
}
