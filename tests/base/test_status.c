/* Status codes and per-thread error messages. */
#include <pthread.h>

#include "qy_test.h"

static void test_error_sets_message_and_returns_status(void **state) {
    int st = qy_error(QY_ERR_FORMAT, "%s: line %d: expected '%c'", "a.json", 3, '}');
    assert_int_equal(st, QY_ERR_FORMAT);
    assert_string_equal(qy_errmsg(), "a.json: line 3: expected '}'");
}

static void test_wrap_prepends_context(void **state) {
    qy_error(QY_ERR_IO, "disk full");
    int st = qy_error_wrap(QY_ERR_IO, "saving %s", "model.safetensors");
    assert_int_equal(st, QY_ERR_IO);
    assert_string_equal(qy_errmsg(), "saving model.safetensors: disk full");
    qy_error_clear();
    qy_error_wrap(QY_ERR_NOMEM, "loading");
    assert_string_equal(qy_errmsg(), "loading: out of memory");
}

static void test_message_can_reuse_itself(void **state) {
    qy_error(QY_ERR_IO, "inner");
    qy_error(QY_ERR_IO, "outer (%s)", qy_errmsg());
    assert_string_equal(qy_errmsg(), "outer (inner)");
}

static void test_long_message_is_truncated_not_overflowed(void **state) {
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    qy_error(QY_ERR_ARG, "%s", big);
    assert_true(strlen(qy_errmsg()) < 1024);
}

static void *other_thread(void *arg) {
    qy_error(QY_ERR_RANGE, "from the other thread");
    return NULL;
}

static void test_messages_are_per_thread(void **state) {
    qy_error(QY_ERR_ARG, "main thread");
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    assert_string_equal(qy_errmsg(), "main thread");
}

static void test_status_strings(void **state) {
    for (int s = QY_OK; s <= QY_ERR_CANCELLED; s++)
        assert_string_not_equal(qy_status_str(s), "unknown status");
    assert_string_equal(qy_status_str(999), "unknown status");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_sets_message_and_returns_status),
        cmocka_unit_test(test_wrap_prepends_context),
        cmocka_unit_test(test_message_can_reuse_itself),
        cmocka_unit_test(test_long_message_is_truncated_not_overflowed),
        cmocka_unit_test(test_messages_are_per_thread),
        cmocka_unit_test(test_status_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
