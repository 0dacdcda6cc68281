/* Multi-turn chat data for training: {"messages": [...]} records formatted with
 * the ChatML and Llama 3 templates through a real byte-level BPE tokenizer (the
 * vendored bytelevel-regex fixture; for Llama 3 with the template's special
 * tokens added). The loss mask must cover exactly the assistant turns: decoding
 * each run of target tokens gives back each assistant content and its
 * end-of-turn token (trimmed for Llama 3, as its template trims), the last one
 * followed by the EOS, and decoding the context runs gives the rest of the
 * template's text. Malformed rows are refused naming file, line and field. */
#include <cjson/cJSON.h>
#include <unistd.h>

#include "qy_test.h"
#include "quarry/chat.h"
#include "quarry/text.h"
#include "quarry/train.h"
#include "train_test_util.h"

static int encode(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n, size_t *cap) {
    return qy_tokenizer_encode_ids(ctx, text, len, ids, n, cap);
}

static const char *const llama3_specials[] = {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                                              "<|eot_id|>"};

/* The fixture tokenizer; for Llama 3 with its four special tokens added after the vocabulary. */
static qy_tokenizer *load_tokenizer(int llama3) {
    char path[1024];
    qy_test_source("tests/data/tokenizers/bytelevel-regex/tokenizer.json", path, sizeof path);
    char *text;
    size_t len;
    assert_int_equal(qy_read_file(path, 0, &text, &len), QY_OK);
    cJSON *j = cJSON_ParseWithLength(text, len);
    qy_free(text);
    assert_non_null(j);
    if (llama3) {
        cJSON *added = cJSON_GetObjectItem(j, "added_tokens");
        int id = cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "model"), "vocab"));
        for (int i = 0; i < 4; i++) {
            cJSON *t = cJSON_CreateObject();
            cJSON_AddNumberToObject(t, "id", id + i);
            cJSON_AddStringToObject(t, "content", llama3_specials[i]);
            cJSON_AddBoolToObject(t, "single_word", 0);
            cJSON_AddBoolToObject(t, "lstrip", 0);
            cJSON_AddBoolToObject(t, "rstrip", 0);
            cJSON_AddBoolToObject(t, "normalized", 0);
            cJSON_AddBoolToObject(t, "special", 1);
            cJSON_AddItemToArray(added, t);
        }
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    qy_tokenizer *tok;
    if (qy_tokenizer_from_json(s, strlen(s), "bytelevel-regex", &tok)) fail_msg("%s", qy_errmsg());
    cJSON_free(s); /* cJSON allocates through quarry's counted allocator */
    return tok;
}

static void write_text(const char *path, const char *text) {
    assert_int_equal(qy_write_file_atomic(path, text, strlen(text)), QY_OK);
}

/* decode tokens [a, b) with special tokens kept */
static char *decode(const qy_tokenizer *tok, const uint32_t *ids, uint64_t a, uint64_t b) {
    int32_t *x = qy_mallocn((size_t)(b - a), sizeof *x);
    for (uint64_t i = a; i < b; i++) x[i - a] = (int32_t)ids[i];
    char *out;
    size_t len;
    assert_int_equal(qy_tokenizer_decode(tok, x, (size_t)(b - a), 0, &out, &len), QY_OK);
    qy_free(x);
    return out;
}

/* The runs of document d with mask value v, decoded, in order. */
static int runs(const qy_tokenizer *tok, const qy_shard *s, uint64_t d, int v, char **out, int cap) {
    const uint64_t *docs = qy_shard_docs(s);
    const uint8_t *m = qy_shard_mask(s);
    int k = 0;
    for (uint64_t i = docs[d]; i < docs[d + 1];) {
        if (m[i] != v) {
            i++;
            continue;
        }
        uint64_t j = i;
        while (j < docs[d + 1] && m[j] == v) j++;
        assert_true(k < cap);
        out[k++] = decode(tok, qy_shard_tokens(s), i, j);
        i = j;
    }
    return k;
}

typedef struct expect {
    const char *targets[3]; /* each assistant turn's target text, in order */
    const char *context;    /* the context runs, concatenated */
} expect;

static void check_template(int llama3) {
    qy_tokenizer *tok = load_tokenizer(llama3);
    int32_t eos;
    assert_int_equal(qy_tokenizer_token_to_id(tok, "<|endoftext|>", &eos), QY_OK);
    const char *jl = tmp("chat.jsonl");
    /* a three-assistant-turn conversation ending with a user turn (left out),
     * a prompt/response pair (same file: both are masked records), and a
     * conversation without a system message that gets --system */
    write_text(jl, "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
                   " {\"role\": \"user\", \"content\": \"Hi there\"},"
                   " {\"role\": \"assistant\", \"content\": \"Hello!\"},"
                   " {\"role\": \"user\", \"content\": \"Count to 3\"},"
                   " {\"role\": \"assistant\", \"content\": \"  1, 2, 3\\n\"},"
                   " {\"role\": \"user\", \"content\": \"and?\"},"
                   " {\"role\": \"assistant\", \"content\": \"Done.\"},"
                   " {\"role\": \"user\", \"content\": \"bye\"}]}\n"
                   "{\"prompt\": \"Q?\", \"response\": \"A.\"}\n"
                   "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", "
                   "\"content\": \"y\"}]}\n");
    qy_prepare_cfg pc = {.vocab_size = (uint32_t)qy_tokenizer_vocab_size(tok),
                         .eos_id = eos,
                         .chat = 1,
                         .chat_kind = llama3 ? QY_CHAT_LLAMA3 : QY_CHAT_CHATML,
                         .system = "Sys."};
    qy_prepare_stats ps;
    const char *files[] = {jl};
    if (qy_shard_prepare(&pc, files, 1, encode, tok, tmp("chat.qyt"), NULL, &ps)) fail_msg("%s", qy_errmsg());
    assert_true(ps.masked);
    assert_int_equal(ps.train_docs, 3);
    qy_shard *s;
    assert_int_equal(qy_shard_open(tmp("chat.qyt"), &s), QY_OK);
    /* expectations written from the templates' definitions (see quarry/chat.h) */
    expect chatml[] = {{{"Hello!<|im_end|>", "  1, 2, 3\n<|im_end|>", "Done.<|im_end|><|endoftext|>"},
                        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi "
                        "there<|im_end|>\n<|im_start|>assistant\n"
                        "\n<|im_start|>user\nCount to 3<|im_end|>\n<|im_start|>assistant\n"
                        "\n<|im_start|>user\nand?<|im_end|>\n<|im_start|>assistant\n"},
                       {{"A.<|im_end|><|endoftext|>"},
                        "<|im_start|>system\nSys.<|im_end|>\n<|im_start|>user\nQ?<|im_end|>\n"
                        "<|im_start|>assistant\n"},
                       {{"y<|im_end|><|endoftext|>"},
                        "<|im_start|>system\nSys.<|im_end|>\n<|im_start|>user\nx<|im_end|>\n"
                        "<|im_start|>assistant\n"}};
    expect llama[] = {{{"Hello!<|eot_id|>", "1, 2, 3<|eot_id|>", "Done.<|eot_id|><|endoftext|>"},
                       "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                       "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                       "<|start_header_id|>assistant<|end_header_id|>\n\n"
                       "<|start_header_id|>user<|end_header_id|>\n\nCount to 3<|eot_id|>"
                       "<|start_header_id|>assistant<|end_header_id|>\n\n"
                       "<|start_header_id|>user<|end_header_id|>\n\nand?<|eot_id|>"
                       "<|start_header_id|>assistant<|end_header_id|>\n\n"},
                      /* pairs keep their response untrimmed, as before */
                      {{"A.<|eot_id|><|endoftext|>"},
                       "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSys.<|eot_id|>"
                       "<|start_header_id|>user<|end_header_id|>\n\nQ?<|eot_id|>"
                       "<|start_header_id|>assistant<|end_header_id|>\n\n"},
                      {{"y<|eot_id|><|endoftext|>"},
                       "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSys.<|eot_id|>"
                       "<|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|>"
                       "<|start_header_id|>assistant<|end_header_id|>\n\n"}};
    const expect *want = llama3 ? llama : chatml;
    const char *eot = qy_chat_stop(llama3 ? QY_CHAT_LLAMA3 : QY_CHAT_CHATML);
    int32_t eot_id;
    assert_int_equal(qy_tokenizer_token_to_id(tok, eot, &eot_id), QY_OK);
    for (uint64_t d = 0; d < 3; d++) {
        char *got[8];
        int n = runs(tok, s, d, 1, got, 8);
        int nwant = 0;
        while (nwant < 3 && want[d].targets[nwant]) nwant++;
        assert_int_equal(n, nwant);
        for (int i = 0; i < n; i++) {
            if (strcmp(got[i], want[d].targets[i]))
                fail_msg("%s doc %d target run %d: got \"%s\", want \"%s\"", llama3 ? "llama3" : "chatml",
                         (int)d, i, got[i], want[d].targets[i]);
            qy_free(got[i]);
        }
        n = runs(tok, s, d, 0, got, 8);
        char ctx[1024] = "";
        for (int i = 0; i < n; i++) {
            strcat(ctx, got[i]);
            qy_free(got[i]);
        }
        if (strcmp(ctx, want[d].context))
            fail_msg("%s doc %d context: got \"%s\", want \"%s\"", llama3 ? "llama3" : "chatml", (int)d, ctx,
                     want[d].context);
        /* the end-of-turn string is one special token, and it is a target each time */
        uint64_t eots = 0;
        for (uint64_t i = qy_shard_docs(s)[d]; i < qy_shard_docs(s)[d + 1]; i++)
            if ((int32_t)qy_shard_tokens(s)[i] == eot_id && qy_shard_mask(s)[i]) eots++;
        assert_int_equal(eots, (uint64_t)nwant);
    }
    qy_shard_close(s);
    qy_tokenizer_free(tok);
}

static void test_chatml_mask_covers_assistant_turns(void **state) {
    (void)state;
    check_template(0);
}

static void test_llama3_mask_covers_assistant_turns(void **state) {
    (void)state;
    check_template(1);
}

static void expect_error(const char *line, int chat, int want, const char *needle1, const char *needle2) {
    const char *where = chat ? "bad.jsonl: line 3" : "bad.jsonl: line 1"; /* without --chat line 1 fails */
    const char *jl = tmp("bad.jsonl");
    char text[512];
    snprintf(text, sizeof text,
             "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": "
             "\"assistant\", \"content\": \"b\"}]}\n\n%s\n",
             line);
    write_text(jl, text);
    qy_prepare_cfg pc = {.vocab_size = 257, .eos_id = 256, .chat = chat, .chat_kind = QY_CHAT_CHATML};
    qy_prepare_stats ps;
    const char *files[] = {jl};
    int st = qy_shard_prepare(&pc, files, 1, enc_bytes, NULL, tmp("bad.qyt"), NULL, &ps);
    const char *msg = qy_errmsg();
    if (st != want || !strstr(msg, where) || !strstr(msg, needle1) || (needle2 && !strstr(msg, needle2)))
        fail_msg("%s: expected %d naming '%s', '%s' and '%s'; got %d: %s", line, want, where, needle1,
                 needle2 ? needle2 : "", st, msg);
    assert_false(qy_file_exists(tmp("bad.qyt")));
}

static void test_malformed_messages_are_named(void **state) {
    (void)state;
    expect_error("{\"messages\": {\"role\": \"user\"}}", 1, QY_ERR_FORMAT, ".messages", "array");
    expect_error("{\"messages\": [{\"content\": \"a\"}]}", 1, QY_ERR_NOT_FOUND, ".messages[0].role",
                 "missing");
    expect_error("{\"messages\": [{\"role\": \"user\"}]}", 1, QY_ERR_NOT_FOUND, ".messages[0].content",
                 "missing");
    expect_error("{\"messages\": [{\"role\": \"user\", \"content\": 3}]}", 1, QY_ERR_FORMAT,
                 ".messages[0].content", "string");
    expect_error(
        "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"tool\", \"content\": "
        "\"b\"}]}",
        1, QY_ERR_FORMAT, ".messages[1].role", "unknown role \"tool\"");
    expect_error("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}", 1, QY_ERR_FORMAT, ".messages",
                 "no assistant turn");
    expect_error("{\"messages\": []}", 1, QY_ERR_FORMAT, ".messages", "no assistant turn");
    expect_error("{\"messages\": [{\"role\": \"assistant\", \"content\": \"b\"}]}", 0, QY_ERR_ARG, "messages",
                 "--chat");
    expect_error("{\"text\": \"plain\"}", 1, QY_ERR_FORMAT, "plain text", "cannot be mixed");
}

/* out of memory anywhere in a conversation's preparation: NOMEM, no leak, no file */
static void test_messages_oom(void **state) {
    (void)state;
    char jl[256]; /* tmp() reuses its buffers */
    snprintf(jl, sizeof jl, "%s", tmp("oom.jsonl"));
    write_text(
        jl, "{\"messages\": [{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\": "
            "\"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}, {\"role\": \"user\", \"content\": "
            "\"c\"}, {\"role\": \"assistant\", \"content\": \"d\"}]}\n");
    qy_prepare_cfg pc = {.vocab_size = 257, .eos_id = 256, .chat = 1, .chat_kind = QY_CHAT_LLAMA3};
    qy_prepare_stats ps;
    const char *files[] = {jl};
    char out[256];
    snprintf(out, sizeof out, "%s", tmp("oom.qyt"));
    int st;
    QY_OOM_WALK(st, { st = qy_shard_prepare(&pc, files, 1, enc_bytes, NULL, out, NULL, &ps); }, {});
    /* byte tokens: the targets are exactly the two assistant contents with <|eot_id|> */
    qy_shard *s;
    assert_int_equal(qy_shard_open(out, &s), QY_OK);
    char got[64];
    size_t k = 0;
    for (uint64_t i = 0; i < qy_shard_ntokens(s); i++)
        if (qy_shard_mask(s)[i] && qy_shard_tokens(s)[i] < 256) got[k++] = (char)qy_shard_tokens(s)[i];
    got[k] = '\0';
    assert_string_equal(got, "b<|eot_id|>d<|eot_id|>");
    qy_shard_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chatml_mask_covers_assistant_turns),
        cmocka_unit_test(test_llama3_mask_covers_assistant_turns),
        cmocka_unit_test(test_malformed_messages_are_named),
        cmocka_unit_test(test_messages_oom),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
