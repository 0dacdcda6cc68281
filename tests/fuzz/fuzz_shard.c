/* fuzz_shard.c — the token-shard reader on arbitrary bytes. Checksums would stop
 * almost every input at the door, so the harness recomputes both XXH64 fields
 * (when the input is long enough to hold a header) before writing the file: the
 * structural checks (offsets, sizes, document starts, token range) get fuzzed.
 * An accepted shard must be internally consistent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "quarry/base.h"
#include "quarry/train.h"

static void check(int cond) {
    if (!cond) abort();
}

static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    if (size >= QY_SHARD_HEADER_BYTES) {
        put64(buf + 72, XXH64(buf + QY_SHARD_HEADER_BYTES, size - QY_SHARD_HEADER_BYTES, 0));
        put64(buf + 80, XXH64(buf, 80, 0));
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/qy-fuzz-shard-%d.qyt", (int)getpid());
    if (qy_write_file_atomic(path, buf, size) == QY_OK) {
        qy_shard *s;
        if (qy_shard_open(path, &s) == QY_OK) {
            uint64_t n = qy_shard_ntokens(s), d = qy_shard_ndocs(s);
            check(qy_shard_docs(s)[d] == n);
            for (uint64_t i = 0; i < n; i++) check(qy_shard_tokens(s)[i] < qy_shard_vocab(s));
            qy_loader *l;
            if (n > 1 && qy_loader_new(s, 1, 1, 1, &l) == QY_OK) {
                int32_t ids[4], tg[4];
                check(qy_loader_next(l, 4, ids, tg, NULL) == QY_OK);
                for (int i = 0; i < 4; i++) check(ids[i] >= 0 && (uint32_t)ids[i] < qy_shard_vocab(s));
                qy_loader_free(l);
            }
            qy_shard_close(s);
        }
        remove(path);
    }
    free(buf);
    return 0;
}
