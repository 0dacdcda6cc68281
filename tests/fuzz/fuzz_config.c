/* fuzz_config.c — config.json and generation_config.json readers on arbitrary
 * text. An accepted config must give a spec whose sizes are bounded (no
 * overflow, memory computable) and every parameter shape positive. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quarry/base.h"
#include "quarry/model.h"

static void check(int cond) {
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    qy_lm_config c;
    if (qy_lm_config_parse(text, size, "config.json", &c) == QY_OK) {
        check(c.hidden_size > 0 && c.num_layers > 0 && c.num_heads > 0 && c.head_dim > 0);
        check(c.num_kv_heads > 0 && c.num_heads % c.num_kv_heads == 0);
        check(c.norm_eps > 0 && c.norm_eps < 1);
        check(!c.use_rope || c.rope_theta > 0);
        /* specs of huge-but-valid configs are built only when small enough to be quick */
        if ((double)c.num_layers * (double)c.hidden_size * (double)c.intermediate_size < 1e9 &&
            (double)c.vocab_size * (double)c.hidden_size < 1e9 && c.num_layers <= 64) {
            qy_lm_spec *spec;
            int st = qy_lm_spec_new(&c, &spec);
            check(st == QY_OK || st == QY_ERR_NOMEM);
            if (st == QY_OK) {
                qy_lm_memory m;
                check(qy_lm_spec_memory(spec, &m) == QY_OK && m.total == 4 * m.weights);
                for (size_t i = 0; i < qy_lm_spec_count(spec); i++) {
                    const qy_lm_param *p = qy_lm_spec_at(spec, i);
                    check(p->shape[0] > 0 && (p->ndim == 1 || p->shape[1] > 0) && p->numel > 0);
                }
                qy_lm_spec_free(spec);
            }
        }
    }
    qy_lm_gen_config g;
    qy_lm_gen_config_defaults(NULL, &g);
    if (qy_lm_gen_config_parse(text, size, "generation_config.json", &g) == QY_OK)
        check(g.n_eos >= 0 && g.n_eos <= QY_LM_MAX_EOS && g.num_beams >= 1 && g.top_p > 0);
    return 0;
}
