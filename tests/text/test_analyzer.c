/* test_analyzer.c — the default analyzer against Lucene 8.7's EnglishAnalyzer.
 * Expected token lists were printed by Lucene 8.7 (Debian liblucene8-java)
 * EnglishAnalyzer on the same lines (tests/index/AnalyzeDump.java). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "quarry/base.h"
#include "text/analyzer.h"
#include "text/porter.h"

static void joined(qy_analyzer *a, const char *text, char *out, size_t cap) {
    const qy_token *t;
    size_t n;
    assert_int_equal(qy_analyzer_run(a, text, strlen(text), &t, &n), QY_OK);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(strlen(t[i].text), t[i].len);
        assert_true(t[i].start < t[i].end && t[i].end <= strlen(text));
        if (i) strncat(out, " ", cap - strlen(out) - 1);
        strncat(out, t[i].text, cap - strlen(out) - 1);
    }
}

static void test_lucene_english(void **state) {
    static const char *cases[][2] = {
        {"Hello World's U.S.A. 3.14 1,000 b747 x-15 foo_bar a:b don't",
         "hello world u.s.a 3.14 1,000 b747 x 15 foo_bar a:b don't"},
        {"possibly technology archaeology us gas this ds as", "possibl technolog archaeolog us ga ds"},
        {"The QUICK brown fox's jumped; na\xc3\xafve caf\xc3\xa9 Stra\xc3\x9f"
         "e \xce\xa3\xce\x8a\xce\xa3\xce\xa5\xce\xa6\xce\x9f\xce\xa3 "
         "\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97 \xe3\x82\xab\xe3\x82\xbf\xe3\x82\xab\xe3\x83\x8a "
         "\xe3\x81\xb2\xe3\x82\x89\xe3\x81\x8c\xe3\x81\xaa",
         "quick brown fox jump na\xc3\xafv caf\xc3\xa9 stra\xc3\x9f"
         "e \xcf\x83\xce\xaf\xcf\x83\xcf\x85\xcf\x86\xce\xbf\xcf\x83 "
         "\xe4\xb8\xad \xe6\x96\x87 \xe5\xad\x97 \xe3\x82\xab\xe3\x82\xbf\xe3\x82\xab\xe3\x83\x8a "
         "\xe3\x81\xb2 \xe3\x82\x89 \xe3\x81\x8c \xe3\x81\xaa"},
        {"O'Neil\xe2\x80\x99s rockets' relational conditional generalizations hopping feed agreed",
         "o'neil rocket relat condit gener hop feed agre"},
        {"__init__ _ ... 3.14.15 1,2,3 a.b.c. e-mail x_1 wi-fi 2nd, 1990s caresses ponies ties cats",
         "__init__ 3.14.15 1,2,3 a.b.c e mail x_1 wi fi 2nd 1990 caress poni ti cat"},
        {"sky flies dying lying hoping filing controlling rolling", "sky fli dy ly hope file control roll"},
        /* emoji (Extended_Pictographic; ZWJ sequences, skin tones, flags, keycaps) and Hebrew quotes */
        {"a \xe2\x99\xa5\xe2\x99\xa5 b \xe2\x9c\x93 c \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd d "
         "\xf0\x9f\x87\xba\xf0\x9f\x87\xb8 "
         "e \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9 f #\xef\xb8\x8f\xe2\x83\xa3 *",
         "\xe2\x99\xa5 \xe2\x99\xa5 b c \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd d \xf0\x9f\x87\xba\xf0\x9f\x87\xb8 "
         "e "
         "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9 f #\xef\xb8\x8f\xe2\x83\xa3"},
        {"\xd7\xa8\xd7\x90\xd7\x91\"\xd7\x99 ab\"cd", "\xd7\xa8\xd7\x90\xd7\x91\"\xd7\x99 ab cd"},
    };
    qy_analyzer_config cfg;
    qy_analyzer_config_default(&cfg);
    qy_analyzer *a;
    assert_int_equal(qy_analyzer_new(&cfg, &a), QY_OK);
    char out[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        joined(a, cases[i][0], out, sizeof out);
        assert_string_equal(out, cases[i][1]);
    }
    qy_analyzer_free(a);
}

static void test_options_and_offsets(void **state) {
    qy_analyzer_config cfg;
    qy_analyzer_config_default(&cfg);
    assert_int_equal(qy_analyzer_config_parse("stem=none,stop=none,case=fold,maxlen=4", &cfg), QY_OK);
    qy_analyzer *a;
    assert_int_equal(qy_analyzer_new(&cfg, &a), QY_OK);
    char out[256];
    joined(a,
           "The Stra\xc3\x9f"
           "e abcdefghij",
           out, sizeof out);
    assert_string_equal(out, "the stra sse abcd efgh ij");
    const qy_token *t;
    size_t n;
    const char *s = "  x  Yes!";
    assert_int_equal(qy_analyzer_run(a, s, strlen(s), &t, &n), QY_OK);
    assert_int_equal(n, 2);
    assert_int_equal(t[1].start, 5);
    assert_int_equal(t[1].end, 8);
    qy_analyzer_free(a);
    /* invalid UTF-8 is a separator, never a crash */
    qy_analyzer_config_default(&cfg);
    assert_int_equal(qy_analyzer_new(&cfg, &a), QY_OK);
    joined(a,
           "ab\xff\xfe"
           "cd \xe2\x82",
           out, sizeof out);
    assert_string_equal(out, "ab cd");
    qy_analyzer_free(a);
    /* config round trip and errors */
    qy_analyzer_config_default(&cfg);
    snprintf(cfg.stemmer, sizeof cfg.stemmer, "english");
    cJSON *j = qy_analyzer_config_to_json(&cfg);
    assert_non_null(j);
    qy_analyzer_config back;
    assert_int_equal(qy_analyzer_config_from_json(j, "m", &back), QY_OK);
    assert_string_equal(back.stemmer, "english");
    cJSON_Delete(j);
    snprintf(cfg.stemmer, sizeof cfg.stemmer, "klingon");
    assert_int_equal(qy_analyzer_new(&cfg, &a), QY_ERR_ARG);
    assert_non_null(strstr(qy_errmsg(), "klingon"));
    assert_int_equal(qy_analyzer_config_parse("colour=blue", &cfg), QY_ERR_ARG);
}

static void test_porter_vocabulary(void **state) {
    /* Porter's published examples plus the reference implementation's departures */
    static const char *pairs[][2] = {{"caresses", "caress"},
                                     {"ponies", "poni"},
                                     {"ties", "ti"},
                                     {"caress", "caress"},
                                     {"cats", "cat"},
                                     {"feed", "feed"},
                                     {"agreed", "agre"},
                                     {"plastered", "plaster"},
                                     {"bled", "bled"},
                                     {"motoring", "motor"},
                                     {"sing", "sing"},
                                     {"conflated", "conflat"},
                                     {"troubled", "troubl"},
                                     {"sized", "size"},
                                     {"hopping", "hop"},
                                     {"tanned", "tan"},
                                     {"falling", "fall"},
                                     {"hissing", "hiss"},
                                     {"fizzed", "fizz"},
                                     {"failing", "fail"},
                                     {"filing", "file"},
                                     {"happy", "happi"},
                                     {"sky", "sky"},
                                     {"relational", "relat"},
                                     {"conditional", "condit"},
                                     {"rational", "ration"},
                                     {"valenci", "valenc"},
                                     {"digitizer", "digit"},
                                     {"conformabli", "conform"},
                                     {"radicalli", "radic"},
                                     {"differentli", "differ"},
                                     {"vileli", "vile"},
                                     {"analogousli", "analog"},
                                     {"vietnamization", "vietnam"},
                                     {"predication", "predic"},
                                     {"operator", "oper"},
                                     {"feudalism", "feudal"},
                                     {"decisiveness", "decis"},
                                     {"hopefulness", "hope"},
                                     {"callousness", "callous"},
                                     {"formaliti", "formal"},
                                     {"sensitiviti", "sensit"},
                                     {"sensibiliti", "sensibl"},
                                     {"triplicate", "triplic"},
                                     {"formative", "form"},
                                     {"formalize", "formal"},
                                     {"electriciti", "electr"},
                                     {"electrical", "electr"},
                                     {"hopeful", "hope"},
                                     {"goodness", "good"},
                                     {"revival", "reviv"},
                                     {"allowance", "allow"},
                                     {"inference", "infer"},
                                     {"airliner", "airlin"},
                                     {"adjustable", "adjust"},
                                     {"defensible", "defens"},
                                     {"irritant", "irrit"},
                                     {"replacement", "replac"},
                                     {"adjustment", "adjust"},
                                     {"dependent", "depend"},
                                     {"adoption", "adopt"},
                                     {"homologou", "homolog"},
                                     {"communism", "commun"},
                                     {"activate", "activ"},
                                     {"angulariti", "angular"},
                                     {"homologous", "homolog"},
                                     {"effective", "effect"},
                                     {"bowdlerize", "bowdler"},
                                     {"probate", "probat"},
                                     {"rate", "rate"},
                                     {"cease", "ceas"},
                                     {"controll", "control"},
                                     {"roll", "roll"},
                                     {"archaeology", "archaeolog"},
                                     {"possibly", "possibl"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        int32_t w[64];
        size_t n = strlen(pairs[i][0]);
        for (size_t k = 0; k < n; k++) w[k] = (unsigned char)pairs[i][0][k];
        n = qy_porter_stem(w, n);
        char got[64];
        for (size_t k = 0; k < n; k++) got[k] = (char)w[k];
        got[n] = '\0';
        if (strcmp(got, pairs[i][1])) fail_msg("%s -> %s, expected %s", pairs[i][0], got, pairs[i][1]);
    }
}

static void test_alloc_failures(void **state) {
    qy_alloc_stats s0, s1;
    qy_alloc_get_stats(&s0);
    qy_analyzer_config cfg;
    qy_analyzer_config_default(&cfg);
    const char *text = "Aerodynamic heating of the boundary layer's surface, 3.14 m/s";
    for (long k = 0; k < 40; k++) {
        qy_analyzer *a = NULL;
        qy_alloc_fail_after(k, 0);
        int st = qy_analyzer_new(&cfg, &a);
        if (st == QY_OK) {
            const qy_token *t;
            size_t n;
            st = qy_analyzer_run(a, text, strlen(text), &t, &n);
            assert_true(st == QY_OK || st == QY_ERR_NOMEM);
        }
        qy_alloc_fail_after(-1, 0);
        qy_analyzer_free(a);
    }
    qy_alloc_get_stats(&s1);
    assert_int_equal(s0.live_blocks, s1.live_blocks);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lucene_english),
        cmocka_unit_test(test_options_and_offsets),
        cmocka_unit_test(test_porter_vocabulary),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
