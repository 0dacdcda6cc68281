/* qy_test.h — helpers shared by quarry's cmocka tests.
 *
 *   #include "qy_test.h"
 *   QY_OOM_WALK(st, { st = qy_json_parse(text, len, "x.json", &doc); },
 *                   { qy_json_free(doc); doc = NULL; });
 *
 * QY_OOM_WALK runs BODY with the 0th, 1st, 2nd... allocation failing until BODY
 * succeeds with no failure injected. Every run that hit an injected failure must
 * return QY_ERR_NOMEM (or the status in `oom_ok`) and leave exactly as many live
 * blocks as before; after a success CLEANUP runs and must free everything.
 * (A BODY with commas outside parentheses, e.g. `int a[2] = {1, 2};`, must move
 * into a helper function: the preprocessor splits macro arguments there.) */
#ifndef QY_TEST_H
#define QY_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after the standard headers it needs */

#include "quarry/base.h"

static inline uint64_t qy_test_live_blocks(void) {
    qy_alloc_stats s;
    qy_alloc_get_stats(&s);
    return s.live_blocks;
}

#define QY_OOM_WALK(st, BODY, CLEANUP)                                                                   \
    do {                                                                                                 \
        uint64_t qy__before = qy_test_live_blocks();                                                     \
        for (long qy__n = 0;; qy__n++) {                                                                 \
            qy_alloc_fail_after(qy__n, 0);                                                               \
            BODY;                                                                                        \
            long qy__inj = qy_alloc_injected_failures();                                                 \
            qy_alloc_fail_after(-1, 0);                                                                  \
            if (qy__inj == 0) {                                                                          \
                assert_int_equal(st, QY_OK);                                                             \
                CLEANUP;                                                                                 \
                assert_int_equal(qy_test_live_blocks(), qy__before);                                     \
                break;                                                                                   \
            }                                                                                            \
            if (st != QY_ERR_NOMEM)                                                                      \
                fail_msg("allocation %ld failed but the call returned %d (%s)", qy__n, st, qy_errmsg()); \
            if (qy_test_live_blocks() != qy__before)                                                     \
                fail_msg("allocation %ld failed and %llu blocks leaked", qy__n,                          \
                         (unsigned long long)(qy_test_live_blocks() - qy__before));                      \
            assert_true(qy__n < 1000000);                                                                \
        }                                                                                                \
    } while (0)

/* Path of a file under ../shared (rel like "fixtures/models/llama-tiny/golden.json"), falling
 * back to the vendored copy in tests/data/ (fixtures the core tests need); NULL, with a
 * message saying what is missing, when neither exists. */
static inline const char *qy_test_shared(const char *rel, char *buf, size_t cap) {
    const char *root = getenv("QUARRY_SHARED");
    if (!root) root = "../shared";
    snprintf(buf, cap, "%s/%s", root, rel);
    if (qy_file_exists(buf)) return buf;
    const char *src = getenv("QUARRY_SOURCE_DIR");
    snprintf(buf, cap, "%s/tests/data/%s", src ? src : ".", rel);
    if (qy_file_exists(buf)) return buf;
    fprintf(stderr, "skip: %s/%s not found (../shared is only in CI and developer checkouts)\n", root, rel);
    return NULL;
}

/* Path of a file in the source tree (tests/data/...). */
static inline const char *qy_test_source(const char *rel, char *buf, size_t cap) {
    const char *root = getenv("QUARRY_SOURCE_DIR");
    snprintf(buf, cap, "%s/%s", root ? root : ".", rel);
    return buf;
}

#endif
