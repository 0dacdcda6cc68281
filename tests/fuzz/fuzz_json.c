/* Fuzz target: JSON parsing and every typed getter on arbitrary input. */
#include <stdint.h>
#include <string.h>

#include "quarry/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qy_json *doc;
    if (qy_json_parse((const char *)data, size, "fuzz.json", &doc) != QY_OK) return 0;
    qy_jref root = qy_json_ref(doc), x;
    static const char *paths[] = {"", ".a", ".a.b", "[0]", "[0].a", ".a[1]", ".rope_parameters.rope_theta"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        double d;
        int64_t n;
        int b;
        const char *s;
        size_t cnt;
        qy_jref_number(&root, paths[i], &d);
        qy_jref_int(&root, paths[i], -5, 5, &n);
        qy_jref_bool(&root, paths[i], &b);
        qy_jref_string(&root, paths[i], &s);
        if (qy_jref_array(&root, paths[i], &x, &cnt) == QY_OK ||
            qy_jref_object(&root, paths[i], &x, &cnt) == QY_OK)
            for (size_t k = 0; k < cnt && k < 8; k++) {
                qy_jref e;
                const char *key;
                qy_jref_at(&x, k, &e, &key);
            }
    }
    char *p = qy_json_print(qy_json_root(doc), 0);
    qy_free(p);
    qy_json_free(doc);
    return 0;
}
