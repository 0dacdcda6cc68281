/* fuzz_trec_eval.c — the TREC qrels and run readers, and the evaluation of every
 * input that parses as both (a six-column line whose 4th column is an integer is
 * also a qrels line), with all measures and -c, under both trec_eval versions. */
#include <stddef.h>
#include <stdint.h>

#include "quarry/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qy_qrels *q = NULL;
    qy_run *r = NULL;
    int sq = qy_qrels_parse((const char *)data, size, "fuzz.qrels", &q);
    int sr = qy_run_parse((const char *)data, size, "fuzz.run", &r);
    if (sq == QY_OK && sr == QY_OK) {
        for (int v = 9; v <= 10; v++) {
            qy_eval_opts o;
            qy_eval_opts_default(&o);
            const char *m[] = {"all_trec", "relstring.7", "set_F.0.5"};
            o.measures = m;
            o.num_measures = 3;
            o.trec_eval_version = v;
            o.complete = v == 10;
            o.max_docs = size % 7;
            o.relevance_level = (long)(size % 3);
            qy_eval_result *res = NULL;
            qy_eval_compute(q, r, &o, &res);
            qy_eval_result_free(res);
        }
    }
    qy_run_free(r);
    qy_qrels_free(q);
    return 0;
}
