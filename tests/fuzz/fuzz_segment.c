/* fuzz_segment.c — segment files from arbitrary bytes: opening must either
 * refuse them with a status or give a segment whose every term, posting and
 * document id can be read without going out of bounds. The checksum is
 * recomputed over the input first, so the fuzzer gets past it and exercises
 * the section and block-table checks behind it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "index/segment.h"
#include "quarry/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/quarry-fuzz-seg-%d.qys", (int)getpid());
    uint8_t *buf = malloc(size ? size : 1);
    if (size) memcpy(buf, data, size);
    if (size >= 16) { /* a valid checksum, so the structural checks run */
        uint64_t h = XXH64(buf, size - 8, 0);
        memcpy(buf + size - 8, &h, 8);
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(buf);
        return 0;
    }
    fwrite(buf, 1, size, f);
    fclose(f);
    free(buf);
    qy_segment *s;
    if (qy_segment_open(path, &s) == QY_OK) {
        uint64_t sum = 0;
        for (uint32_t t = 0; t < s->nterms; t++) {
            size_t len;
            const char *term = qy_segment_term(s, t, &len);
            if (len) sum += (uint8_t)term[0];
            qy_cursor c;
            qy_cursor_init(&c, s, t);
            for (uint32_t d = c.doc; d != QY_DOC_END; d = qy_cursor_next(&c)) {
                if (d >= s->ndocs) abort(); /* a posting past the documents */
                sum += qy_cursor_tf(&c) + s->norms[d];
            }
            qy_cursor_init(&c, s, t);
            qy_cursor_advance(&c, s->ndocs / 2);
        }
        for (uint32_t d = 0; d < s->ndocs; d++) {
            size_t len;
            const char *id = qy_segment_doc_id(s, d, &len);
            if (len) sum += (uint8_t)id[len - 1];
        }
        (void)sum;
        qy_segment_close(s);
    }
    unlink(path);
    return 0;
}
