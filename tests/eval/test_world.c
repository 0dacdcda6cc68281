/* The synthetic world: names, schema and locality grades, layout invariants,
 * determinism across thread counts, and the ground truth of every written file
 * (each supporting document states its fact; every answer follows from the
 * documents; splits do not share chains; edits agree with the facts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "quarry/base.h"
#include "quarry/world.h"

#define N_ENT 1037 /* not a multiple of the 100-entity block: the last block is partial */
static char dir_a[64], dir_b[64];

static uint64_t live_blocks(void) {
    qy_alloc_stats s;
    qy_alloc_get_stats(&s);
    return s.live_blocks;
}

static int generate(const char *dir, int threads, uint64_t seed, size_t n) {
    qy_world_params p;
    qy_world_params_default(&p);
    p.seed = seed;
    p.entities = n;
    p.task_instances = 40;
    qy_pool *pool;
    int st = qy_pool_new(threads, &pool);
    if (st) return st;
    qy_world *w;
    st = qy_world_new(&p, pool, &w);
    if (!st) st = qy_world_write(w, dir, pool, NULL);
    qy_world_free(w);
    qy_pool_free(pool);
    return st;
}

static int setup(void **state) {
    qy_log_set_level(QY_LOG_WARN); /* no progress lines in the test log */
    snprintf(dir_a, sizeof dir_a, "/tmp/qy-world-a-XXXXXX");
    snprintf(dir_b, sizeof dir_b, "/tmp/qy-world-b-XXXXXX");
    if (!mkdtemp(dir_a) || !mkdtemp(dir_b)) return -1;
    if (generate(dir_a, 1, 11, N_ENT) || generate(dir_b, 2, 11, N_ENT)) {
        fprintf(stderr, "generate: %s\n", qy_errmsg());
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir_a, dir_b);
    return system(cmd);
}

static char *slurp(const char *dir, const char *rel, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *buf = NULL;
    size_t n = 0;
    if (qy_read_file(path, 0, &buf, &n) != QY_OK) fail_msg("%s", qy_errmsg());
    if (len) *len = n;
    return buf;
}

static const char *const all_files[] = {"entities.jsonl",
                                        "facts.jsonl",
                                        "corpus.jsonl",
                                        "queries.jsonl",
                                        "qa/train.jsonl",
                                        "qa/dev.jsonl",
                                        "qa/test.jsonl",
                                        "qrels/train.tsv",
                                        "qrels/dev.tsv",
                                        "qrels/test.tsv",
                                        "edits/counterfact.json",
                                        "edits/zsre.jsonl",
                                        "world.json",
                                        "stats.json",
                                        "tasks/task9001_world_relation_lookup.json",
                                        "tasks/task9006_world_multihop_qa.json"};

/* ------------------------------------------------------------ determinism */

static void test_same_bytes_at_1_and_2_threads(void **state) {
    for (size_t i = 0; i < sizeof all_files / sizeof all_files[0]; i++) {
        size_t la, lb;
        char *a = slurp(dir_a, all_files[i], &la), *b = slurp(dir_b, all_files[i], &lb);
        if (la != lb || memcmp(a, b, la)) fail_msg("%s differs between 1 and 2 threads", all_files[i]);
        assert_true(la > 0);
        qy_free(a);
        qy_free(b);
    }
}

static void test_other_seed_other_world(void **state) {
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/qy-world-c-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(generate(dir, 2, 12, N_ENT), QY_OK);
    size_t la, lb;
    char *a = slurp(dir_a, "entities.jsonl", &la), *b = slurp(dir, "entities.jsonl", &lb);
    assert_true(la != lb || memcmp(a, b, la) != 0);
    qy_free(a);
    qy_free(b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ------------------------------------------------------- in-memory world */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int is_vowel(char c) { return strchr("aeiou", c) != NULL; }

static void test_names_unique_pronounceable_multitoken(void **state) {
    qy_world_params p;
    qy_world_params_default(&p);
    p.entities = 50000;
    qy_pool *pool;
    assert_int_equal(qy_pool_new(2, &pool), QY_OK);
    qy_world *w;
    assert_int_equal(qy_world_new(&p, pool, &w), QY_OK);
    size_t n = qy_world_entity_count(w);
    const char **names = malloc(n * sizeof *names);
    for (size_t e = 0; e < n; e++) {
        qy_world_entity_info in;
        qy_world_entity(w, e, &in);
        names[e] = in.name;
        size_t len = strlen(in.name);
        assert_true(len >= 6 && len < 40);
        /* several tokens: two or three words, or one word of at least three syllables */
        int words = 1, vowel_runs = 0;
        for (size_t i = 0; i < len; i++) {
            if (in.name[i] == ' ') words++;
            if (is_vowel((char)(in.name[i] | 0x20)) && (i == 0 || !is_vowel((char)(in.name[i - 1] | 0x20))))
                vowel_runs++;
        }
        assert_true(words >= 2 || vowel_runs >= 2);
        /* pronounceable: the made-up words never have more than two consonants or
         * two vowels in a row (organisation suffixes and work nouns are English) */
        int cons = 0, vow = 0;
        size_t from = in.type == QY_WORLD_WORK ? 4 : 0, to = len;
        if (in.type == QY_WORLD_ORG || in.type == QY_WORLD_WORK)
            to = (size_t)(strrchr(in.name, ' ') - in.name);
        for (size_t i = from; i < to; i++) {
            char c = (char)(in.name[i] | 0x20);
            if (in.name[i] == ' ')
                cons = vow = 0;
            else if (is_vowel(c))
                vow++, cons = 0;
            else
                cons++, vow = 0;
            if (cons > 2 || vow > 2) fail_msg("hard to pronounce: %s", in.name);
        }
        int want_words[QY_WORLD_NTYPES] = {2, 1, 1, 2, 3};
        assert_int_equal(words, want_words[in.type]);
    }
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(names[i - 1], names[i])) fail_msg("duplicate name %s", names[i]);
    free(names);
    qy_world_free(w);
    qy_pool_free(pool);
}

static int rel_by_id(const char *id) {
    for (int r = 0; r < qy_world_relation_count(); r++) {
        qy_world_relation_info ri;
        qy_world_relation(r, &ri);
        if (!strcmp(ri.id, id)) return r;
    }
    fail_msg("no relation %s", id);
    return -1;
}

static void test_locality_grades(void **state) {
    int born = rel_by_id("born_in"), died = rel_by_id("died_in"), works = rel_by_id("works_for");
    int year = rel_by_id("birth_year"), occ = rel_by_id("occupation"), genre = rel_by_id("genre");
    int lang = rel_by_id("work_language"), creator = rel_by_id("created_by");
    assert_int_equal(qy_world_locality(born, died), QY_WORLD_HARD);
    assert_int_equal(qy_world_locality(born, works), QY_WORLD_MIDDLE);
    assert_int_equal(qy_world_locality(born, year), QY_WORLD_EASY);
    assert_int_equal(qy_world_locality(year, occ), QY_WORLD_MIDDLE);
    assert_int_equal(qy_world_locality(genre, lang), QY_WORLD_HARD);
    assert_int_equal(qy_world_locality(genre, creator), QY_WORLD_EASY);
}

static void test_types_slices_and_consistency(void **state) {
    qy_world_params p;
    qy_world_params_default(&p);
    p.entities = 5000;
    p.seed = 3;
    qy_world *w;
    assert_int_equal(qy_world_new(&p, NULL, &w), QY_OK);
    size_t n = qy_world_entity_count(w);
    int capital = rel_by_id("capital"), located = rel_by_id("located_in"), spouse = rel_by_id("spouse");
    int last_slice = 0;
    size_t countries_with_capital = 0;
    for (size_t e = 0; e < n; e++) {
        qy_world_entity_info in;
        qy_world_entity(w, e, &in);
        assert_true(in.slice >= last_slice); /* slices are contiguous runs */
        last_slice = in.slice;
        for (size_t k = 0; k < in.nfacts; k++) {
            qy_world_fact f;
            qy_world_get_fact(w, e, k, &f);
            qy_world_relation_info ri;
            qy_world_relation(f.relation, &ri);
            assert_int_equal(ri.domain, in.type);
            if (!f.object_is_entity) continue;
            qy_world_entity_info oi;
            qy_world_entity(w, (size_t)f.object, &oi);
            assert_int_equal(oi.type, ri.range); /* objects respect types */
            assert_true(oi.slice <= in.slice);   /* no entity from the future */
            assert_true((size_t)f.object != e);
            if (f.relation == capital) { /* the capital lies in its country */
                int found = 0;
                for (size_t j = 0; j < oi.nfacts; j++) {
                    qy_world_fact g;
                    qy_world_get_fact(w, (size_t)f.object, j, &g);
                    if (g.relation == located) found = g.object == (int64_t)e;
                }
                assert_true(found);
                countries_with_capital++;
            }
            if (f.relation == spouse) { /* marriage is symmetric */
                int found = 0;
                for (size_t j = 0; j < oi.nfacts; j++) {
                    qy_world_fact g;
                    qy_world_get_fact(w, (size_t)f.object, j, &g);
                    if (g.relation == spouse) found = g.object == (int64_t)e;
                }
                assert_true(found);
            }
        }
    }
    assert_int_equal(last_slice, 5);
    assert_int_equal(countries_with_capital, 50);
    qy_world_free(w);
}

static void test_bad_parameters(void **state) {
    qy_world_params p;
    qy_world_params_default(&p);
    qy_world *w = (qy_world *)&p;
    p.entities = 50;
    assert_int_equal(qy_world_new(&p, NULL, &w), QY_ERR_ARG);
    assert_null(w);
    assert_non_null(strstr(qy_errmsg(), "entities must be between 100"));
    p.entities = 300;
    p.slices = 5;
    assert_int_equal(qy_world_new(&p, NULL, &w), QY_ERR_ARG);
    assert_non_null(strstr(qy_errmsg(), "too few for D0"));
    p.slices = 2;
    p.dev_fraction = 0.6;
    p.test_fraction = 0.5;
    assert_int_equal(qy_world_new(&p, NULL, &w), QY_ERR_ARG);
}

static void test_out_of_memory_build_and_write(void **state) {
    qy_world_params p;
    qy_world_params_default(&p);
    p.entities = 200;
    p.slices = 1;
    p.task_instances = 3;
    uint64_t before = live_blocks();
    /* every allocation of the build fails in turn: NOMEM, nothing leaked */
    for (long n = 0;; n++) {
        qy_world *w = NULL;
        qy_alloc_fail_after(n, 0);
        int st = qy_world_new(&p, NULL, &w);
        long inj = qy_alloc_injected_failures();
        qy_alloc_fail_after(-1, 0);
        if (!inj) {
            assert_int_equal(st, QY_OK);
            qy_world_free(w);
            break;
        }
        assert_int_equal(st, QY_ERR_NOMEM);
        assert_null(w);
        assert_int_equal(live_blocks(), before);
    }
    /* failures spread over the write: an error, no leak, no temporary left behind */
    qy_world *w;
    assert_int_equal(qy_world_new(&p, NULL, &w), QY_OK);
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/qy-world-oom-XXXXXX");
    assert_non_null(mkdtemp(dir));
    uint64_t mid = live_blocks();
    for (long n = 0; n < 4000; n += 97) {
        qy_alloc_fail_after(n, 0);
        int st = qy_world_write(w, dir, NULL, NULL);
        long inj = qy_alloc_injected_failures();
        qy_alloc_fail_after(-1, 0);
        if (!inj) {
            assert_int_equal(st, QY_OK);
            break;
        }
        assert_int_not_equal(st, QY_OK);
        assert_int_equal(live_blocks(), mid);
    }
    char cmd[160];
    snprintf(cmd, sizeof cmd, "test -z \"$(find %s -name '*.tmp.*')\"", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    qy_world_free(w);
    assert_int_equal(live_blocks(), before);
}

/* ------------------------------------------------- ground truth on disk */

typedef struct lines {
    char *buf;
    char **line;
    size_t n;
} lines;

static void read_lines(const char *dir, const char *rel, lines *out) {
    size_t len;
    out->buf = slurp(dir, rel, &len);
    out->n = 0;
    for (size_t i = 0; i < len; i++) out->n += out->buf[i] == '\n';
    out->line = malloc((out->n + 1) * sizeof *out->line);
    size_t k = 0;
    char *p = out->buf;
    while (k < out->n) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        out->line[k++] = p;
        p = nl + 1;
    }
}

static void free_lines(lines *l) {
    qy_free(l->buf);
    free(l->line);
}

static cJSON *parse(const char *s) {
    cJSON *j = cJSON_Parse(s);
    if (!j) fail_msg("invalid JSON: %.200s", s);
    return j;
}

static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v)) fail_msg("missing string %s", key);
    return v->valuestring;
}

/* corpus: doc "d<e>-<s>" at index 2e+s */
typedef struct corpus {
    char **title, **text;
    int *slice;
    size_t n;
} corpus;

static size_t doc_index(const char *id) {
    char *end;
    size_t e = strtoul(id + 1, &end, 10);
    return 2 * e + (size_t)strtoul(end + 1, NULL, 10);
}

static void load_corpus(corpus *c) {
    lines l;
    read_lines(dir_a, "corpus.jsonl", &l);
    c->n = 2 * N_ENT;
    c->title = calloc(c->n, sizeof *c->title);
    c->text = calloc(c->n, sizeof *c->text);
    c->slice = calloc(c->n, sizeof *c->slice);
    int last_slice = 0;
    for (size_t i = 0; i < l.n; i++) {
        cJSON *j = parse(l.line[i]);
        size_t d = doc_index(str_of(j, "_id"));
        assert_true(d < c->n && !c->text[d]);
        c->title[d] = strdup(str_of(j, "title"));
        c->text[d] = strdup(str_of(j, "text"));
        cJSON *md = cJSON_GetObjectItemCaseSensitive(j, "metadata");
        c->slice[d] = cJSON_GetObjectItemCaseSensitive(md, "slice")->valueint;
        assert_true(c->slice[d] >= last_slice); /* D0 first, then D1.. in order */
        last_slice = c->slice[d];
        cJSON_Delete(j);
    }
    free_lines(&l);
}

static void free_corpus(corpus *c) {
    for (size_t i = 0; i < c->n; i++) {
        free(c->title[i]);
        free(c->text[i]);
    }
    free(c->title);
    free(c->text);
    free(c->slice);
}

static int entity_of(const char *id) { return atoi(id + 1); }

/* a hop or a fact: doc exists, is about the subject, contains the sentence, which names the answer */
static void check_evidence(const corpus *c, const char *doc, const char *subject_name, const char *sentence,
                           const char *answer) {
    size_t d = doc_index(doc);
    assert_true(d < c->n);
    if (!c->text[d]) fail_msg("supporting document %s is not in the corpus", doc);
    if (strncmp(c->title[d], subject_name, strlen(subject_name)))
        fail_msg("document %s (%s) is not about %s", doc, c->title[d], subject_name);
    if (!strstr(c->text[d], sentence)) fail_msg("document %s does not state \"%s\"", doc, sentence);
    if (!strstr(sentence, answer)) fail_msg("\"%s\" does not name the answer %s", sentence, answer);
}

/* facts: (subject, relation) -> object name */
typedef struct fact_table {
    char *obj[N_ENT][40];
} fact_table;

static void test_each_document_states_its_facts(void **state) {
    corpus c;
    load_corpus(&c);
    lines l;
    read_lines(dir_a, "facts.jsonl", &l);
    lines ents;
    read_lines(dir_a, "entities.jsonl", &ents);
    assert_int_equal(ents.n, N_ENT);
    for (size_t i = 0; i < l.n; i++) {
        cJSON *j = parse(l.line[i]);
        int s = entity_of(str_of(j, "subject"));
        cJSON *ej = parse(ents.line[s]);
        check_evidence(&c, str_of(j, "doc"), str_of(ej, "name"), str_of(j, "sentence"),
                       str_of(j, "object_name"));
        cJSON_Delete(ej);
        cJSON_Delete(j);
    }
    free_lines(&ents);
    free_lines(&l);
    free_corpus(&c);
}

static fact_table *load_facts(void) {
    fact_table *t = calloc(1, sizeof *t);
    lines l;
    read_lines(dir_a, "facts.jsonl", &l);
    for (size_t i = 0; i < l.n; i++) {
        cJSON *j = parse(l.line[i]);
        int s = entity_of(str_of(j, "subject")), r = rel_by_id(str_of(j, "relation"));
        assert_null(t->obj[s][r]); /* relations are functional */
        t->obj[s][r] = strdup(str_of(j, "object_name"));
        cJSON_Delete(j);
    }
    free_lines(&l);
    return t;
}

static void free_facts(fact_table *t) {
    for (int e = 0; e < N_ENT; e++)
        for (int r = 0; r < 40; r++) free(t->obj[e][r]);
    free(t);
}

static const char *const splits[3] = {"train", "dev", "test"};

static void test_every_answer_follows_from_the_documents(void **state) {
    corpus c;
    load_corpus(&c);
    fact_table *facts = load_facts();
    lines ents;
    read_lines(dir_a, "entities.jsonl", &ents);
    size_t total = 0, by_type[5] = {0};
    for (int s = 0; s < 3; s++) {
        char rel[64];
        snprintf(rel, sizeof rel, "qa/%s.jsonl", splits[s]);
        lines l;
        read_lines(dir_a, rel, &l);
        for (size_t i = 0; i < l.n; i++) {
            cJSON *q = parse(l.line[i]);
            const char *type = str_of(q, "type");
            assert_string_equal(str_of(q, "split"), splits[s]);
            cJSON *dec = cJSON_GetObjectItemCaseSensitive(q, "decomposition");
            cJSON *gold = cJSON_GetObjectItemCaseSensitive(q, "golden_answers");
            cJSON *sup = cJSON_GetObjectItemCaseSensitive(q, "supporting_docs");
            int nh = cJSON_GetArraySize(dec);
            assert_int_equal(nh, cJSON_GetObjectItemCaseSensitive(q, "hops")->valueint);
            const char *prev_answer_id = NULL;
            const char *values[4];
            for (int h = 0; h < nh; h++) {
                cJSON *hop = cJSON_GetArrayItem(dec, h);
                const char *subj = str_of(hop, "subject"), *answer = str_of(hop, "answer");
                int e = entity_of(subj), r = rel_by_id(str_of(hop, "relation"));
                cJSON *ej = parse(ents.line[e]);
                assert_string_equal(str_of(ej, "name"), str_of(hop, "subject_name"));
                check_evidence(&c, str_of(hop, "doc"), str_of(hop, "subject_name"), str_of(hop, "evidence"),
                               answer);
                cJSON_Delete(ej);
                /* the hop is a true fact of the world */
                assert_non_null(facts->obj[e][r]);
                assert_string_equal(facts->obj[e][r], answer);
                /* supporting docs list every hop's doc */
                int listed = 0;
                cJSON *d;
                cJSON_ArrayForEach(d, sup) listed |= !strcmp(d->valuestring, str_of(hop, "doc"));
                assert_true(listed);
                /* chains: each hop starts where the previous one ended */
                int chain =
                    !strcmp(type, "single") || !strcmp(type, "bridge") || !strcmp(type, "composition");
                if (chain && prev_answer_id) assert_string_equal(subj, prev_answer_id);
                cJSON *aid = cJSON_GetObjectItemCaseSensitive(hop, "answer_id");
                prev_answer_id = cJSON_IsString(aid) ? aid->valuestring : NULL;
                values[h] = answer;
            }
            const char *g0 = cJSON_GetArrayItem(gold, 0)->valuestring;
            cJSON *cmp = cJSON_GetObjectItemCaseSensitive(q, "comparison");
            if (!cmp) {
                assert_string_equal(g0, values[nh - 1]);
                by_type[nh == 1 ? 0 : nh == 2 ? 1 : 2]++;
            } else {
                const char *op = str_of(cmp, "operator");
                const char *a = values[nh == 2 ? 0 : 1], *b = values[nh == 2 ? 1 : 3];
                const char *na = str_of(cJSON_GetArrayItem(dec, 0), "subject_name");
                const char *nb = str_of(cJSON_GetArrayItem(dec, nh == 2 ? 1 : 2), "subject_name");
                if (!strcmp(op, "same")) {
                    assert_string_equal(g0, strcmp(a, b) ? "no" : "yes");
                } else {
                    int ya = atoi(a), yb = atoi(b);
                    assert_int_not_equal(ya, yb);
                    int first_wins = !strcmp(op, "earlier") ? ya < yb : ya > yb;
                    assert_string_equal(g0, first_wins ? na : nb);
                }
                by_type[nh == 2 ? 3 : 4]++;
            }
            total++;
            cJSON_Delete(q);
        }
        free_lines(&l);
    }
    for (int k = 0; k < 5; k++) assert_true(by_type[k] > 20); /* every kind is there */
    assert_true(total > 2 * N_ENT);
    free_lines(&ents);
    free_facts(facts);
    free_corpus(&c);
}

static void test_splits_do_not_share_chains(void **state) {
    lines ents;
    read_lines(dir_a, "entities.jsonl", &ents);
    int topic_split[N_ENT];
    for (int e = 0; e < N_ENT; e++) topic_split[e] = -1;
    /* chains as strings, with their split */
    size_t cap = 8 * N_ENT, nchains = 0;
    char **chain = calloc(cap, sizeof *chain);
    int *chain_split = calloc(cap, sizeof *chain_split);
    size_t per_split[3] = {0};
    for (int s = 0; s < 3; s++) {
        char rel[64];
        snprintf(rel, sizeof rel, "qa/%s.jsonl", splits[s]);
        lines l;
        read_lines(dir_a, rel, &l);
        per_split[s] = l.n;
        for (size_t i = 0; i < l.n; i++) {
            cJSON *q = parse(l.line[i]);
            int topic = entity_of(str_of(q, "topic_entity"));
            if (topic_split[topic] >= 0) assert_int_equal(topic_split[topic], s);
            topic_split[topic] = s;
            cJSON *ej = parse(ents.line[topic]);
            assert_string_equal(str_of(ej, "split"), splits[s]);
            cJSON_Delete(ej);
            cJSON *ch = cJSON_GetObjectItemCaseSensitive(q, "chain"), *x;
            char buf[256] = "";
            cJSON_ArrayForEach(x, ch) {
                strcat(buf, x->valuestring);
                strcat(buf, ">");
            }
            /* both entities of a comparison belong to the question's split */
            if (cJSON_GetObjectItemCaseSensitive(q, "comparison")) {
                cJSON *dec = cJSON_GetObjectItemCaseSensitive(q, "decomposition"), *hop;
                cJSON_ArrayForEach(hop, dec) {
                    int e = entity_of(str_of(hop, "subject"));
                    cJSON *hj = parse(ents.line[e]);
                    if (hop == cJSON_GetArrayItem(dec, 0) ||
                        hop == cJSON_GetArrayItem(dec, cJSON_GetArraySize(dec) / 2))
                        assert_string_equal(str_of(hj, "split"), splits[s]);
                    cJSON_Delete(hj);
                }
            }
            assert_true(nchains < cap);
            chain[nchains] = strdup(buf);
            chain_split[nchains++] = s;
            cJSON_Delete(q);
        }
        free_lines(&l);
    }
    assert_true(per_split[1] > 50 && per_split[2] > 50 && per_split[0] > 5 * per_split[2]);
    /* no chain appears in two splits */
    for (size_t i = 0; i < nchains; i++)
        for (size_t j = i + 1; j < nchains; j++)
            if (chain_split[i] != chain_split[j] && !strcmp(chain[i], chain[j]))
                fail_msg("chain %s is in %s and %s", chain[i], splits[chain_split[i]],
                         splits[chain_split[j]]);
    for (size_t i = 0; i < nchains; i++) free(chain[i]);
    free(chain);
    free(chain_split);
    free_lines(&ents);
}

static void test_qrels_and_queries_match_qa(void **state) {
    for (int s = 0; s < 3; s++) {
        char rel[64];
        snprintf(rel, sizeof rel, "qa/%s.jsonl", splits[s]);
        lines qa, qr;
        read_lines(dir_a, rel, &qa);
        snprintf(rel, sizeof rel, "qrels/%s.tsv", splits[s]);
        read_lines(dir_a, rel, &qr);
        assert_string_equal(qr.line[0], "query-id\tcorpus-id\tscore");
        size_t k = 1;
        for (size_t i = 0; i < qa.n; i++) {
            cJSON *q = parse(qa.line[i]), *d;
            cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(q, "supporting_docs")) {
                char want[128];
                snprintf(want, sizeof want, "%s\t%s\t1", str_of(q, "id"), d->valuestring);
                assert_true(k < qr.n);
                assert_string_equal(qr.line[k++], want);
            }
            cJSON_Delete(q);
        }
        assert_int_equal(k, qr.n);
        free_lines(&qa);
        free_lines(&qr);
    }
}

static void test_edits_agree_with_facts(void **state) {
    fact_table *facts = load_facts();
    size_t len;
    char *text = slurp(dir_a, "edits/counterfact.json", &len);
    cJSON *arr = parse(text);
    qy_free(text);
    assert_int_equal(cJSON_GetArraySize(arr), N_ENT / 10);
    lines z;
    read_lines(dir_a, "edits/zsre.jsonl", &z);
    assert_int_equal(z.n, N_ENT / 10);
    size_t levels[3] = {0}, multi = 0, i = 0;
    int seen[N_ENT] = {0};
    cJSON *ed;
    cJSON_ArrayForEach(ed, arr) {
        int e = entity_of(str_of(ed, "subject_id")), r = rel_by_id(str_of(ed, "relation"));
        assert_int_equal(seen[e]++, 0); /* distinct subjects */
        assert_string_equal(str_of(ed, "ground_truth"), facts->obj[e][r]);
        assert_string_not_equal(str_of(ed, "target_new"), str_of(ed, "ground_truth"));
        assert_non_null(strstr(str_of(ed, "prompt"), str_of(ed, "subject")));
        cJSON *x;
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(ed, "neighborhood_prompts")) {
            int ne = entity_of(str_of(x, "subject_id"));
            assert_int_not_equal(ne, e);
            assert_string_equal(str_of(x, "ground_truth"), facts->obj[ne][r]);
        }
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(ed, "relation_locality")) {
            int r2 = rel_by_id(str_of(x, "relation"));
            assert_int_not_equal(r2, r);
            assert_string_equal(str_of(x, "ground_truth"), facts->obj[e][r2]);
            static const char *const lv[3] = {"easy", "middle", "hard"};
            int l = (int)qy_world_locality(r, r2);
            assert_string_equal(str_of(x, "level"), lv[l]);
            levels[l]++;
        }
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(ed, "multi_hop")) {
            assert_string_not_equal(str_of(x, "old_answer"), str_of(x, "new_answer"));
            multi++;
        }
        /* the zsRE record of the same case */
        cJSON *zj = parse(z.line[i++]);
        assert_string_equal(str_of(zj, "subject"), str_of(ed, "subject"));
        assert_string_equal(str_of(zj, "pred"), str_of(ed, "ground_truth"));
        assert_string_equal(str_of(zj, "alt"), str_of(ed, "target_new"));
        assert_non_null(strstr(str_of(zj, "loc"), "nq question: "));
        cJSON_Delete(zj);
    }
    for (int l = 0; l < 3; l++) assert_true(levels[l] > 10);
    assert_true(multi > 20);
    cJSON_Delete(arr);
    free_lines(&z);
    free_facts(facts);
}

/* whole-word occurrence of name in text */
static int mentions(const char *text, const char *name) {
    size_t n = strlen(name);
    for (const char *p = strstr(text, name); p; p = strstr(p + 1, name)) {
        int before = p == text || !((p[-1] | 0x20) >= 'a' && (p[-1] | 0x20) <= 'z');
        int after = !((p[n] | 0x20) >= 'a' && (p[n] | 0x20) <= 'z');
        if (before && after) return 1;
    }
    return 0;
}

static void test_no_document_or_question_from_the_future(void **state) {
    corpus c;
    load_corpus(&c);
    lines ents;
    read_lines(dir_a, "entities.jsonl", &ents);
    char **name = calloc(N_ENT, sizeof *name);
    int *slice = calloc(N_ENT, sizeof *slice);
    for (int e = 0; e < N_ENT; e++) {
        cJSON *j = parse(ents.line[e]);
        name[e] = strdup(str_of(j, "name"));
        slice[e] = cJSON_GetObjectItemCaseSensitive(j, "slice")->valueint;
        cJSON_Delete(j);
    }
    assert_int_equal(slice[0], 0);
    assert_int_equal(slice[N_ENT - 1], 5);
    /* a document of slice s names no entity that first appears after s */
    for (size_t d = 0; d < c.n; d++) {
        if (!c.text[d]) continue;
        assert_int_equal(c.slice[d], slice[d / 2]);
        for (int e = 0; e < N_ENT; e++)
            if (slice[e] > c.slice[d] && mentions(c.text[d], name[e]))
                fail_msg("document d%zu-%zu (D%d) names %s of D%d", d / 2, d % 2, c.slice[d], name[e],
                         slice[e]);
    }
    /* a question's slice is the latest slice of the documents it needs */
    for (int s = 0; s < 3; s++) {
        char rel[64];
        snprintf(rel, sizeof rel, "qa/%s.jsonl", splits[s]);
        lines l;
        read_lines(dir_a, rel, &l);
        for (size_t i = 0; i < l.n; i++) {
            cJSON *q = parse(l.line[i]), *d;
            int latest = 0;
            cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(q, "supporting_docs")) {
                int ds = c.slice[doc_index(d->valuestring)];
                if (ds > latest) latest = ds;
            }
            assert_int_equal(cJSON_GetObjectItemCaseSensitive(q, "slice")->valueint, latest);
            cJSON_Delete(q);
        }
        free_lines(&l);
    }
    for (int e = 0; e < N_ENT; e++) free(name[e]);
    free(name);
    free(slice);
    free_lines(&ents);
    free_corpus(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_bytes_at_1_and_2_threads),
        cmocka_unit_test(test_other_seed_other_world),
        cmocka_unit_test(test_names_unique_pronounceable_multitoken),
        cmocka_unit_test(test_locality_grades),
        cmocka_unit_test(test_types_slices_and_consistency),
        cmocka_unit_test(test_bad_parameters),
        cmocka_unit_test(test_out_of_memory_build_and_write),
        cmocka_unit_test(test_each_document_states_its_facts),
        cmocka_unit_test(test_every_answer_follows_from_the_documents),
        cmocka_unit_test(test_splits_do_not_share_chains),
        cmocka_unit_test(test_qrels_and_queries_match_qa),
        cmocka_unit_test(test_edits_agree_with_facts),
        cmocka_unit_test(test_no_document_or_question_from_the_future),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
