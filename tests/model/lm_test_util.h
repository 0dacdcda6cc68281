/* lm_test_util.h — helpers shared by the model-layer tests (header-only). */
#ifndef QY_TEST_LM_UTIL_H
#define QY_TEST_LM_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "quarry/base.h"
#include "quarry/model.h"

static const char *const fixture_models[] = {"bert-tiny", "gpt2-tiny", "llama-tiny", "qwen2-tiny",
                                             "qwen3-tiny"};
#define N_FIXTURE_MODELS 5

/* ../shared/fixtures/models/NAME into buf, or NULL when ../shared is absent */
static inline const char *fixture_dir(const char *name, char *buf, size_t cap) {
    const char *shared = getenv("QUARRY_SHARED");
    if (!shared || !*shared) return NULL;
    snprintf(buf, cap, "%s/fixtures/models/%s", shared, name);
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", buf);
    return qy_file_exists(cfg) ? buf : NULL;
}

/* expect status `want` and a message containing every NULL-terminated needle */
static inline void expect_error(int got, int want, ...) {
    if (got != want) {
        print_error("expected status %d (%s), got %d: %s\n", want, qy_status_str(want), got, qy_errmsg());
        fail();
    }
    va_list ap;
    va_start(ap, want);
    const char *needle;
    while ((needle = va_arg(ap, const char *))) {
        if (!strstr(qy_errmsg(), needle)) {
            print_error("message '%s' lacks '%s'\n", qy_errmsg(), needle);
            va_end(ap);
            fail();
        }
    }
    va_end(ap);
}

static inline uint64_t live_blocks(void) {
    qy_alloc_stats s;
    qy_alloc_get_stats(&s);
    return s.live_blocks;
}

/* a fresh temporary folder (removed by rm_rf) */
static inline void make_tmpdir(char *buf, size_t cap) {
    snprintf(buf, cap, "/tmp/quarry-model-test-XXXXXX");
    assert_non_null(mkdtemp(buf));
}

static inline void rm_rf(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* the two files hold the same bytes */
static inline void expect_same_file(const char *a_path, const char *b_path) {
    char *a, *b;
    size_t la, lb;
    assert_int_equal(qy_read_file(a_path, 0, &a, &la), QY_OK);
    assert_int_equal(qy_read_file(b_path, 0, &b, &lb), QY_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    qy_free(a);
    qy_free(b);
}

#endif
