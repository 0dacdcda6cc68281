/* JSON documents and path-aware typed getters. */
#include <cjson/cJSON.h>
#include <unistd.h>

#include "qy_test.h"

static const char *CONFIG =
    "{\n"
    "  \"hidden_size\": 64,\n"
    "  \"rms_norm_eps\": 1e-06,\n"
    "  \"tie_word_embeddings\": false,\n"
    "  \"model_type\": \"llama\",\n"
    "  \"rope_parameters\": {\"rope_theta\": \"ten thousand\", \"rope_type\": \"default\"},\n"
    "  \"layers\": [{\"name\": \"a\"}, {\"name\": \"b\", \"size\": 3.5}],\n"
    "  \"big\": 1e999,\n"
    "  \"nothing\": null\n"
    "}\n";

static qy_json *parse(const char *text) {
    qy_json *d = NULL;
    assert_int_equal(qy_json_parse(text, strlen(text), "config.json", &d), QY_OK);
    return d;
}

static void test_typed_getters(void **state) {
    qy_json *d = parse(CONFIG);
    qy_jref r = qy_json_ref(d);
    int64_t h;
    assert_int_equal(qy_jref_int(&r, ".hidden_size", 1, 1 << 20, &h), QY_OK);
    assert_int_equal(h, 64);
    double eps;
    assert_int_equal(qy_jref_number(&r, ".rms_norm_eps", &eps), QY_OK);
    assert_true(eps == 1e-6);
    int tie = 1;
    assert_int_equal(qy_jref_bool(&r, ".tie_word_embeddings", &tie), QY_OK);
    assert_int_equal(tie, 0);
    const char *mt;
    assert_int_equal(qy_jref_string(&r, ".model_type", &mt), QY_OK);
    assert_string_equal(mt, "llama");
    const char *name;
    assert_int_equal(qy_jref_string(&r, ".layers[1].name", &name), QY_OK);
    assert_string_equal(name, "b");
    qy_jref arr, el;
    size_t n;
    assert_int_equal(qy_jref_array(&r, ".layers", &arr, &n), QY_OK);
    assert_int_equal(n, 2);
    assert_int_equal(qy_jref_at(&arr, 0, &el, NULL), QY_OK);
    assert_int_equal(qy_jref_string(&el, ".name", &name), QY_OK);
    assert_string_equal(name, "a");
    const char *key;
    qy_jref obj, mem;
    assert_int_equal(qy_jref_object(&r, ".rope_parameters", &obj, &n), QY_OK);
    assert_int_equal(n, 2);
    assert_int_equal(qy_jref_at(&obj, 1, &mem, &key), QY_OK);
    assert_string_equal(key, "rope_type");
    assert_string_equal(mem.path, ".rope_parameters.rope_type");
    /* defaults */
    double v;
    assert_int_equal(qy_jref_number_or(&r, ".missing", 2.5, &v), QY_OK);
    assert_true(v == 2.5);
    assert_int_equal(qy_jref_number_or(&r, ".nothing", 7, &v), QY_OK); /* null = absent */
    assert_true(v == 7);
    assert_int_equal(qy_jref_int_or(&r, ".hidden_size", 0, 100, 5, &h), QY_OK);
    assert_int_equal(h, 64);
    const char *s;
    assert_int_equal(qy_jref_string_or(&r, ".nope", "dflt", &s), QY_OK);
    assert_string_equal(s, "dflt");
    assert_int_equal(qy_jref_bool_or(&r, ".nope", 1, &tie), QY_OK);
    assert_int_equal(tie, 1);
    assert_true(qy_jref_has(&r, ".layers[0]"));
    assert_false(qy_jref_has(&r, ".layers[5]"));
    qy_json_free(d);
}

static void test_errors_name_file_and_path(void **state) {
    qy_json *d = parse(CONFIG);
    qy_jref r = qy_json_ref(d);
    double v;
    int64_t i;
    assert_int_equal(qy_jref_number(&r, ".rope_parameters.rope_theta", &v), QY_ERR_FORMAT);
    assert_string_equal(qy_errmsg(),
                        "config.json: .rope_parameters.rope_theta: expected number, found string");
    assert_int_equal(qy_jref_number(&r, ".vocab_size", &v), QY_ERR_NOT_FOUND);
    assert_string_equal(qy_errmsg(), "config.json: .vocab_size: missing");
    assert_int_equal(qy_jref_number(&r, ".big", &v), QY_ERR_FORMAT);
    assert_string_equal(qy_errmsg(), "config.json: .big: expected a finite number");
    assert_int_equal(qy_jref_int(&r, ".layers[1].size", 0, 10, &i), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), ".layers[1].size: expected an integer"));
    assert_int_equal(qy_jref_int(&r, ".hidden_size", 100, 200, &i), QY_ERR_RANGE);
    assert_string_equal(qy_errmsg(), "config.json: .hidden_size: 64 is outside 100..200");
    assert_int_equal(qy_jref_number(&r, ".layers[7].x", &v), QY_ERR_NOT_FOUND);
    assert_string_equal(qy_errmsg(), "config.json: .layers[7]: missing (array has 2 items)");
    assert_int_equal(qy_jref_number(&r, ".model_type.x", &v), QY_ERR_NOT_FOUND);
    assert_string_equal(qy_errmsg(), "config.json: .model_type.x: missing (parent is string, not object)");
    assert_int_equal(qy_jref_number(&r, "bad", &v), QY_ERR_ARG);
    assert_int_equal(qy_jref_number(&r, ".layers[x]", &v), QY_ERR_ARG);
    qy_jref arr;
    assert_int_equal(qy_jref_array(&r, ".hidden_size", &arr, NULL), QY_ERR_FORMAT);
    assert_string_equal(qy_errmsg(), "config.json: .hidden_size: expected array, found number");
    /* a wrong type in a default getter is still an error */
    assert_int_equal(qy_jref_number_or(&r, ".model_type", 1, &v), QY_ERR_FORMAT);
    qy_json_free(d);
}

static void test_parse_errors_have_line_and_column(void **state) {
    qy_json *d = (qy_json *)1;
    const char *bad = "{\n  \"a\": 1,\n  \"b\": [1, 2,, 3]\n}";
    assert_int_equal(qy_json_parse(bad, strlen(bad), "x.json", &d), QY_ERR_FORMAT);
    assert_null(d);
    assert_non_null(strstr(qy_errmsg(), "x.json: invalid JSON at line 3"));
    assert_int_equal(qy_json_parse("{\"a\": 1", 7, "t.json", &d), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "t.json: invalid JSON"));
    assert_int_equal(qy_json_parse("{} {}", 5, "two.json", &d), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "extra data at line 1, column 4"));
    assert_int_equal(qy_json_parse("", 0, "empty.json", &d), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "unexpected end of input"));
    assert_int_equal(qy_json_read_file("/nonexistent/config.json", &d), QY_ERR_NOT_FOUND);
    assert_non_null(strstr(qy_errmsg(), "/nonexistent/config.json: No such file"));
    /* deep nesting is refused, not a stack overflow */
    size_t depth = 100000;
    char *deep = qy_malloc(depth * 2 + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[depth * 2] = 0;
    assert_int_equal(qy_json_parse(deep, depth * 2, "deep.json", &d), QY_ERR_FORMAT);
    qy_free(deep);
}

static void test_write_and_read_back(void **state) {
    char dir[] = "/tmp/qy-json-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/out.json", dir);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rope_theta", 500000.0);
    cJSON_AddStringToObject(o, "name", "caf\xc3\xa9 \"quoted\"");
    assert_int_equal(qy_json_write_file(path, o), QY_OK);
    cJSON_Delete(o);
    qy_json *d;
    assert_int_equal(qy_json_read_file(path, &d), QY_OK);
    qy_jref r = qy_json_ref(d);
    double v;
    const char *s;
    assert_int_equal(qy_jref_number(&r, ".rope_theta", &v), QY_OK);
    assert_true(v == 500000.0);
    assert_int_equal(qy_jref_string(&r, ".name", &s), QY_OK);
    assert_string_equal(s, "caf\xc3\xa9 \"quoted\"");
    assert_string_equal(qy_json_source(d), path);
    char *txt = qy_json_print(qy_json_root(d), 0);
    assert_non_null(strstr(txt, "\"rope_theta\":500000"));
    qy_free(txt);
    qy_json_free(d);
    unlink(path);
    rmdir(dir);
}

static void test_parse_out_of_memory(void **state) {
    qy_json *d = NULL;
    int st;
    QY_OOM_WALK(
        st, { st = qy_json_parse(CONFIG, strlen(CONFIG), "config.json", &d); },
        {
            qy_json_free(d);
            d = NULL;
        });
}

static void test_write_out_of_memory(void **state) {
    char dir[] = "/tmp/qy-jsonw-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/w.json", dir);
    qy_json *d = parse(CONFIG);
    int st;
    QY_OOM_WALK(st, { st = qy_json_write_file(path, qy_json_root(d)); }, {});
    qy_json_free(d);
    unlink(path);
    assert_int_equal(rmdir(dir), 0); /* no temporaries left */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_getters),
        cmocka_unit_test(test_errors_name_file_and_path),
        cmocka_unit_test(test_parse_errors_have_line_and_column),
        cmocka_unit_test(test_write_and_read_back),
        cmocka_unit_test(test_parse_out_of_memory),
        cmocka_unit_test(test_write_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
