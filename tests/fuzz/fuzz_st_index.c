/* fuzz_st_index.c — the model.safetensors.index.json reader on arbitrary text.
 * An accepted index must name only plain shard files, list each tensor once,
 * and give every entry a shard that exists. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quarry/base.h"
#include "quarry/model.h"

static void check(int cond) {
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qy_st_index *ix;
    if (qy_st_index_parse((const char *)data, size, "index.json", &ix) != QY_OK) return 0;
    size_t n = qy_st_index_count(ix), ns = qy_st_index_shard_count(ix);
    check(n > 0 && ns > 0 && ns <= n);
    for (size_t k = 0; k < ns; k++) {
        const char *s = qy_st_index_shard(ix, k);
        check(s && s[0] && !strchr(s, '/') && strcmp(s, "..") && strcmp(s, "."));
    }
    for (size_t i = 0; i < n; i++) {
        const char *name;
        size_t shard;
        qy_st_index_at(ix, i, &name, &shard);
        check(name && name[0] && shard < ns);
    }
    qy_st_index_free(ix);
    return 0;
}
