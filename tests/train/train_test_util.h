/* train_test_util.h — helpers shared by the train-layer tests and the
 * training-data fuzz target (header-only, no cmocka): a byte tokenizer for
 * qy_shard_prepare and a per-program scratch directory. */
#ifndef QY_TEST_TRAIN_UTIL_H
#define QY_TEST_TRAIN_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "quarry/base.h"

/* qy_encode_fn where each byte is a token (ids 0..255) */
static inline int enc_bytes(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n, size_t *cap) {
    (void)ctx;
    if (*n + len > *cap) {
        size_t c = (*n + len) * 2 + 16;
        int32_t *p = qy_reallocn(*ids, c, sizeof *p);
        if (!p) return QY_ERR_NOMEM;
        *ids = p;
        *cap = c;
    }
    for (size_t i = 0; i < len; i++) (*ids)[(*n)++] = (unsigned char)text[i];
    return QY_OK;
}

static char tmpdir[64];

/* tmpdir/name; the last four results stay valid */
static inline const char *tmp(const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* cmocka group setup / teardown: make and remove tmpdir */
static inline int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qy-train-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static inline int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

#endif
