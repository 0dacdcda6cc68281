/* tok_test_util.h — finding tokenizer fixtures for the text tests: the vendored
 * copies under tests/data/tokenizers/ (see SOURCE.md there), or ../shared. */
#ifndef QUARRY_TESTS_TOK_TEST_UTIL_H
#define QUARRY_TESTS_TOK_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "quarry/base.h"

/* path of tests/data/tokenizers/NAME/FILE (vendored), or "" when absent */
static inline const char *tok_fixture(char *buf, size_t cap, const char *name, const char *file) {
    const char *src = getenv("QUARRY_SOURCE_DIR");
    snprintf(buf, cap, "%s/tests/data/tokenizers/%s/%s", src ? src : "..", name, file);
    if (qy_file_exists(buf)) return buf;
    const char *sh = getenv("QUARRY_SHARED");
    snprintf(buf, cap, "%s/fixtures/tokenizers/%s/%s", sh ? sh : "../shared", name, file);
    if (qy_file_exists(buf)) return buf;
    buf[0] = '\0';
    return buf;
}

#endif
