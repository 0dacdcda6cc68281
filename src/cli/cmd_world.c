/* cmd_world.c — `quarry world generate|stats`: the synthetic knowledge world
 * (entities, documents, questions, edit requests, instruction tasks). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "quarry/base.h"
#include "quarry/world.h"

static void print_stats(const qy_world_stats *s, const char *dir, int threads) {
    printf("world: %zu entities (%zu people, %zu cities, %zu countries, %zu organisations, %zu works)\n",
           s->entities, s->entities_by_type[QY_WORLD_PERSON], s->entities_by_type[QY_WORLD_CITY],
           s->entities_by_type[QY_WORLD_COUNTRY], s->entities_by_type[QY_WORLD_ORG],
           s->entities_by_type[QY_WORLD_WORK]);
    printf("  %zu facts, %zu documents\n", s->facts, s->documents);
    printf("  %zu questions: train %zu, dev %zu, test %zu; 1 hop %zu, 2 hops %zu, 3 hops %zu, 4 hops %zu\n",
           s->questions, s->questions_by_split[0], s->questions_by_split[1], s->questions_by_split[2],
           s->questions_by_hops[1], s->questions_by_hops[2], s->questions_by_hops[3],
           s->questions_by_hops[4]);
    printf("  %zu edit requests with %zu easy / %zu middle / %zu hard same-subject facts\n", s->edits,
           s->locality_by_level[0], s->locality_by_level[1], s->locality_by_level[2]);
    printf("  %zu instruction tasks, %zu instances\n", s->tasks, s->task_instances);
    if (dir)
        printf("  %.1f MB written to %s in %.2f s (%.0f entities/s, %d threads)\n", (double)s->bytes / 1e6,
               dir, s->seconds, s->seconds > 0 ? (double)s->entities / s->seconds : 0.0, threads);
}

static int run_generate(int argc, char **argv) {
    long entities = 1000, slices = 5, edits = -1, task_instances = 500;
    double d0 = 0.5, dev = 0.1, test = 0.1;
    const char *out = NULL;
    qy_opt opts[] = {
        {"entities", 'n', QY_OPT_INT, "N", "number of entities, 100..2000000 (default 1000)", &entities},
        {"out", 'o', QY_OPT_STRING, "DIR", "output directory (required; created if missing)", &out},
        {"slices", 0, QY_OPT_INT, "N", "added corpus slices D1..DN after D0 (default 5)", &slices},
        {"d0-fraction", 0, QY_OPT_DOUBLE, "F", "share of entities in D0 (default 0.5)", &d0},
        {"edits", 0, QY_OPT_INT, "N", "edit requests (default min(entities/10, 20000))", &edits},
        {"task-instances", 0, QY_OPT_INT, "N", "instances per instruction task (default 500)",
         &task_instances},
        {"dev-fraction", 0, QY_OPT_DOUBLE, "F", "topic entities whose questions go to dev (default 0.1)",
         &dev},
        {"test-fraction", 0, QY_OPT_DOUBLE, "F", "... and to test (default 0.1)", &test},
        {NULL, 0, QY_OPT_FLAG, NULL, NULL, NULL}};
    qy_cli_spec spec = {
        .usage = "quarry world generate --out DIR [--entities N] [--seed S] [options]",
        .description =
            "Generate a synthetic knowledge world with full ground truth: entities and facts,\n"
            "a BEIR corpus split by time (D0, D1..Dn), single- and multi-hop questions with gold\n"
            "decompositions (QA JSONL + BEIR queries/qrels, train/dev/test), edit requests in the\n"
            "CounterFact and zsRE layouts, and instruction tasks in the SuperNI layout.\n"
            "The same seed gives the same bytes at any thread count. See docs/world.md.",
        .opts = opts,
        .min_pos = 0,
        .max_pos = 0,
        .examples = "  quarry world generate --seed 7 --entities 100000 --out world7\n"
                    "  quarry world generate -n 1000 -o small --slices 2 --edits 50 --json\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    if (!out) {
        fprintf(stderr, "quarry: world generate: --out DIR is required\n");
        qy_cli_print_usage(stderr, &spec);
        return 2;
    }
    if (entities < 0 || slices < 0 || task_instances < 0 || edits < -1) {
        fprintf(stderr, "quarry: world generate: counts must not be negative\n");
        return 2;
    }
    qy_world_params p;
    qy_world_params_default(&p);
    p.seed = c.seed;
    p.entities = (size_t)entities;
    p.slices = slices > 1000 ? 1000 : (int)slices;
    p.d0_fraction = d0;
    p.dev_fraction = dev;
    p.test_fraction = test;
    p.task_instances = (size_t)task_instances;
    if (edits >= 0) p.edits = (size_t)edits;
    qy_pool *pool = NULL;
    int st = qy_pool_new(c.threads, &pool);
    if (st) return qy_cli_fail(st);
    qy_world *w = NULL;
    uint64_t t0 = qy_now_ns();
    st = qy_world_new(&p, pool, &w);
    if (st == QY_ERR_ARG || st == QY_ERR_RANGE) {
        fprintf(stderr, "quarry: %s\n", qy_errmsg());
        qy_pool_free(pool);
        return 2;
    }
    qy_debug("world: built in memory in %.2f s", qy_seconds_since(t0));
    qy_world_stats s;
    if (!st) st = qy_world_write(w, out, pool, &s);
    double secs = qy_seconds_since(t0);
    int threads = qy_pool_threads(pool);
    qy_world_free(w);
    qy_pool_free(pool);
    if (st) return qy_cli_fail(st);
    s.seconds = secs;
    if (c.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "out", out);
        cJSON_AddNumberToObject(o, "entities", (double)s.entities);
        cJSON_AddNumberToObject(o, "facts", (double)s.facts);
        cJSON_AddNumberToObject(o, "documents", (double)s.documents);
        cJSON_AddNumberToObject(o, "questions", (double)s.questions);
        cJSON_AddNumberToObject(o, "edits", (double)s.edits);
        cJSON_AddNumberToObject(o, "tasks", (double)s.tasks);
        cJSON_AddNumberToObject(o, "task_instances", (double)s.task_instances);
        cJSON_AddNumberToObject(o, "bytes", (double)s.bytes);
        cJSON_AddNumberToObject(o, "seconds", secs);
        cJSON_AddNumberToObject(o, "threads", threads);
        char *txt = qy_json_print(o, 1);
        if (txt) puts(txt);
        qy_free(txt);
        cJSON_Delete(o);
    } else if (!c.quiet) {
        print_stats(&s, out, threads);
    }
    return 0;
}

static int run_stats(int argc, char **argv) {
    qy_cli_spec spec = {.usage = "quarry world stats [options] DIR",
                        .description = "Print the statistics report (DIR/stats.json) of a generated world.",
                        .min_pos = 1,
                        .max_pos = 1,
                        .examples = "  quarry world stats world7\n  quarry world stats --json world7\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    char path[4096];
    snprintf(path, sizeof path, "%s/stats.json", pos[0]);
    qy_json *doc;
    int st = qy_json_read_file(path, &doc);
    if (st) return qy_cli_fail(st);
    if (c.json) {
        char *txt = qy_json_print(qy_json_root(doc), 1);
        if (txt) puts(txt);
        qy_free(txt);
        qy_json_free(doc);
        return 0;
    }
    qy_jref root = qy_json_ref(doc);
    qy_world_stats s;
    memset(&s, 0, sizeof s);
    int64_t v;
    struct {
        const char *path;
        size_t *dst;
    } fields[] = {{".entities", &s.entities},
                  {".facts", &s.facts},
                  {".documents", &s.documents},
                  {".questions", &s.questions},
                  {".questions_by_split.train", &s.questions_by_split[0]},
                  {".questions_by_split.dev", &s.questions_by_split[1]},
                  {".questions_by_split.test", &s.questions_by_split[2]},
                  {".edits", &s.edits},
                  {".edit_locality_facts.easy", &s.locality_by_level[0]},
                  {".edit_locality_facts.middle", &s.locality_by_level[1]},
                  {".edit_locality_facts.hard", &s.locality_by_level[2]},
                  {".tasks", &s.tasks},
                  {".task_instances", &s.task_instances}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0] && !st; i++) {
        st = qy_jref_int(&root, fields[i].path, 0, INT64_MAX, &v);
        if (!st) *fields[i].dst = (size_t)v;
    }
    qy_jref bt;
    if (!st) st = qy_jref_object(&root, ".entities_by_type", &bt, NULL);
    for (int t = 0; t < QY_WORLD_NTYPES && !st; t++) {
        qy_jref item;
        st = qy_jref_at(&bt, (size_t)t, &item, NULL);
        if (!st) st = qy_jref_int(&item, "", 0, INT64_MAX, &v);
        if (!st) s.entities_by_type[t] = (size_t)v;
    }
    qy_jref hops;
    if (!st) st = qy_jref_object(&root, ".questions_by_hops", &hops, NULL);
    for (int h = 1; h <= 4 && !st; h++) {
        qy_jref item;
        st = qy_jref_at(&hops, (size_t)(h - 1), &item, NULL);
        if (!st) st = qy_jref_int(&item, "", 0, INT64_MAX, &v);
        if (!st) s.questions_by_hops[h] = (size_t)v;
    }
    qy_json_free(doc);
    if (st) return qy_cli_fail(st);
    print_stats(&s, NULL, 0);
    return 0;
}

static int run(int argc, char **argv) {
    static const qy_subcommand subs[] = {
        {"generate", "write a synthetic world (corpus, questions, edits, tasks) to a directory",
         run_generate},
        {"stats", "print the statistics report of a generated world", run_stats},
        {NULL, NULL, NULL}};
    return qy_cli_dispatch("world", "The synthetic knowledge world with full ground truth (docs/world.md).",
                           argc, argv, subs);
}

const qy_command qy_command_world = {"world",
                                     "generate a synthetic knowledge world (corpus, QA, edits, tasks)", run};
