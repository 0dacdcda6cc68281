/* Chat templates against the texts the models' own Jinja templates produce
 * (written out from the published templates of Qwen2.5 (ChatML), Llama 3 and Llama 2). */
#include "qy_test.h"
#include "quarry/chat.h"

static void check(qy_chat_format_kind k, const qy_chat_msg *m, size_t n, int gen, const char *want) {
    char *s;
    assert_int_equal(qy_chat_format(k, m, n, gen, &s), QY_OK);
    assert_string_equal(s, want);
    qy_free(s);
}

static void test_chatml(void **state) {
    qy_chat_msg m[] = {
        {"system", "You are helpful."}, {"user", "Hi there"}, {"assistant", "Hello!"}, {"user", " 2+2? "}};
    check(QY_CHAT_CHATML, m, 4, 1,
          "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
          "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n 2+2? "
          "<|im_end|>\n<|im_start|>assistant\n");
    check(QY_CHAT_CHATML, m, 2, 0,
          "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n");
}

static void test_llama3(void **state) {
    qy_chat_msg m[] = {{"system", "Be brief. "}, {"user", "\nWhat is BM25?"}};
    check(QY_CHAT_LLAMA3, m, 2, 1,
          "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
          "<|start_header_id|>user<|end_header_id|>\n\nWhat is BM25?<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void test_llama2(void **state) {
    qy_chat_msg m[] = {{"system", "Sys"}, {"user", "Q1"}, {"assistant", "A1"}, {"user", "Q2"}};
    check(QY_CHAT_LLAMA2, m, 4, 1,
          "<s>[INST] <<SYS>>\nSys\n<</SYS>>\n\nQ1 [/INST] A1 </s><s>[INST] Q2 [/INST]");
    qy_chat_msg bad[] = {{"user", "Q1"}, {"user", "Q2"}};
    char *s;
    assert_int_equal(qy_chat_format(QY_CHAT_LLAMA2, bad, 2, 1, &s), QY_ERR_ARG);
    assert_non_null(strstr(qy_errmsg(), "alternate"));
    qy_chat_msg tool[] = {{"tool", "x"}};
    assert_int_equal(qy_chat_format(QY_CHAT_LLAMA2, tool, 1, 1, &s), QY_ERR_ARG);
    assert_non_null(strstr(qy_errmsg(), "role 'tool'"));
}

static void test_names_and_detection(void **state) {
    qy_chat_format_kind k;
    assert_int_equal(qy_chat_parse_kind("llama3", &k), QY_OK);
    assert_int_equal(k, QY_CHAT_LLAMA3);
    assert_int_equal(qy_chat_parse_kind("vicuna", &k), QY_ERR_ARG);
    assert_non_null(strstr(qy_errmsg(), "chatml, llama3, llama2"));
    assert_int_equal(qy_chat_detect("{% for m in messages %}<|im_start|>{{ m.role }}", &k), QY_OK);
    assert_int_equal(k, QY_CHAT_CHATML);
    assert_int_equal(qy_chat_detect("{{ '<|start_header_id|>' }}", &k), QY_OK);
    assert_int_equal(k, QY_CHAT_LLAMA3);
    assert_int_equal(qy_chat_detect("{{ bos }}USER: {{ m }}", &k), QY_ERR_UNSUPPORTED);
    assert_string_equal(qy_chat_stop(QY_CHAT_CHATML), "<|im_end|>");
    assert_string_equal(qy_chat_kind_name(QY_CHAT_LLAMA2), "llama2");
}

static void test_chat_oom(void **state) {
    qy_chat_msg m[] = {{"system", "You are helpful."}, {"user", "Hi there"}};
    char *s = NULL;
    int st;
    QY_OOM_WALK(
        st, { st = qy_chat_format(QY_CHAT_LLAMA3, m, 2, 1, &s); },
        {
            qy_free(s);
            s = NULL;
        });
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chatml), cmocka_unit_test(test_llama3), cmocka_unit_test(test_llama2),
        cmocka_unit_test(test_names_and_detection), cmocka_unit_test(test_chat_oom)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
