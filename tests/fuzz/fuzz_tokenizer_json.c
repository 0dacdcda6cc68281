/* fuzz_tokenizer_json.c — the tokenizer.json loader and everything it sets up:
 * any input either loads (and then encodes, decodes and round-trips a few
 * texts without crashing or leaking) or fails with a message. The corpus in
 * tests/fuzz/corpus/tokenizer_json/ holds small tokenizers of every layout. */
#include <stdint.h>
#include <string.h>

#include "quarry/base.h"
#include "quarry/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qy_alloc_stats before, after;
    qy_alloc_get_stats(&before);
    qy_tokenizer *t;
    if (qy_tokenizer_from_json((const char *)data, size, "fuzz.json", &t) == QY_OK) {
        const char *texts[] = {
            "Hello world, it's 2026!", "  caf\xc3\xa9 \xe6\xa3\x80\xe7\xb4\xa2 \xf0\x9f\x99\x82\n\n", "",
            "<|endoftext|>[CLS]<s> a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
        qy_tok_params p;
        qy_tok_params_default(t, &p);
        for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
            qy_encoding e;
            p.max_length = k == 4 ? 7 : 0;
            p.pad_to = k == 2 ? 4 : 0;
            if (qy_tokenizer_encode(t, texts[k], strlen(texts[k]), &p, &e) == QY_OK) {
                char *out = NULL;
                size_t len;
                if (qy_tokenizer_decode(t, e.ids, e.n, k & 1, &out, &len) == QY_OK) qy_free(out);
                qy_encoding_free(&e);
            }
            qy_encoding pe;
            if (qy_tokenizer_encode_pair(t, texts[k], strlen(texts[k]), "b", 1, &p, &pe) == QY_OK)
                qy_encoding_free(&pe);
        }
        qy_tokenizer_free(t);
    }
    qy_alloc_get_stats(&after);
    if (after.live_blocks != before.live_blocks) __builtin_trap(); /* a leak is a finding */
    return 0;
}
