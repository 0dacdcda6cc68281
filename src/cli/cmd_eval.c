/* cmd_eval.c — `quarry eval QRELS RUN`: trec_eval's measures and output. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "quarry/eval.h"

#define MAX_MEASURES 64
#define MAX_ARGS 512

/* trec_eval's options are getopt-style: "-m map" and "-mmap", "-l2", "-M10",
 * and -m repeats. Collect every -m/--measure here, split attached values of
 * -l/-M, and leave the rest to qy_cli_parse. */
static int pre_parse(int argc, char **argv, int *nargc, char **nargv, const char **measures,
                     size_t *nmeasures, char split_buf[][24], int *nsplit) {
    int n = 0;
    *nmeasures = 0;
    *nsplit = 0;
    if (argc > MAX_ARGS - 8) {
        fprintf(stderr, "quarry eval: too many arguments\n");
        return 2;
    }
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (i == 0 || only_pos || a[0] != '-') {
            nargv[n++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = 1;
            nargv[n++] = a;
            continue;
        }
        const char *m = NULL;
        if (!strcmp(a, "-m") || !strcmp(a, "--measure")) {
            if (i + 1 >= argc) {
                fprintf(stderr,
                        "quarry eval: option '%s' needs a measure name (quarry eval --help lists them)\n", a);
                return 2;
            }
            m = argv[++i];
        } else if (!strncmp(a, "--measure=", 10)) {
            m = a + 10;
        } else if (a[1] == 'm' && a[2]) {
            m = a + 2;
        } else if ((a[1] == 'l' || a[1] == 'M') && a[2] && *nsplit < 8) {
            snprintf(split_buf[*nsplit], 24, "-%c", a[1]);
            nargv[n++] = split_buf[(*nsplit)++];
            nargv[n++] = a + 2;
            continue;
        }
        if (m) {
            if (*nmeasures >= MAX_MEASURES) {
                fprintf(stderr, "quarry eval: at most %d -m options\n", MAX_MEASURES);
                return 2;
            }
            measures[(*nmeasures)++] = m;
            continue;
        }
        nargv[n++] = a;
    }
    *nargc = n;
    return -1;
}

static int run(int argc, char **argv) {
    int per_query = 0, complete = 0;
    long level = 1, depth = -1, version = 9; /* depth -1: -M not given */
    const char *dummy_measure = NULL;
    const qy_opt opts[] = {
        {"per-query", 'q', QY_OPT_FLAG, NULL, "also print each query's values (trec_eval -q)", &per_query},
        {"complete", 'c', QY_OPT_FLAG, NULL,
         "average over every qrels query; missing ones score 0 (trec_eval -c)", &complete},
        {"level", 'l', QY_OPT_INT, "N",
         "relevance level: a document is relevant if its value >= N (default 1)", &level},
        {"depth", 'M', QY_OPT_INT, "N",
         "keep only the first N documents of each query after sorting (trec_eval -M)", &depth},
        {"measure", 'm', QY_OPT_STRING, "NAME[.PARAMS]",
         "a measure or set to compute; repeatable (default: official)", &dummy_measure},
        {"trec-eval-version", 0, QY_OPT_INT, "V",
         "9 (default): trec_eval 9.0.x behaviour; 10: trec_eval 10.0 (see docs/eval.md)", &version},
        {NULL, 0, QY_OPT_FLAG, NULL, NULL, NULL}};
    size_t mh_len = qy_eval_measure_help(NULL, 0) + 1;
    char *mh = qy_malloc(mh_len);
    size_t desc_len = mh_len + 1024;
    char *measures_help = qy_malloc(desc_len);
    if (!mh || !measures_help) {
        qy_free(mh);
        qy_free(measures_help);
        return qy_cli_fail(QY_ERR_NOMEM);
    }
    qy_eval_measure_help(mh, mh_len);
    snprintf(measures_help, desc_len,
             "Evaluate a TREC run (qid iter docno rank score tag) against TREC qrels\n"
             "(qid iter docno rel) with trec_eval's measures, semantics and output format:\n"
             "documents sorted by score, ties by docno (descending); -c, -q, -l, -M and -m\n"
             "as in trec_eval (here -q means --per-query, as in trec_eval; --quiet has no\n"
             "short form). Measures (-m NAME, -m NAME.5,10 for cutoffs):\n%s",
             mh);
    qy_free(mh);
    qy_cli_spec spec = {.usage = "quarry eval [options] QRELS RUN",
                        .description = measures_help,
                        .opts = opts,
                        .min_pos = 2,
                        .max_pos = 2,
                        .examples = "  quarry eval test.qrels bm25.run\n"
                                    "  quarry eval -m map -m ndcg_cut.10 -m recall.100 test.qrels bm25.run\n"
                                    "  quarry eval -q -c -m all_trec test.qrels bm25.run\n"
                                    "  quarry eval --json -m ndcg_cut.10 test.qrels bm25.run\n"};
    char *nargv[MAX_ARGS];
    const char *measures[MAX_MEASURES];
    char split_buf[8][24];
    size_t nmeasures;
    int nargc, nsplit;
    int rc = pre_parse(argc, argv, &nargc, nargv, measures, &nmeasures, split_buf, &nsplit);
    if (rc != -1) {
        qy_free(measures_help);
        return rc;
    }
    qy_cli_common c;
    int npos;
    char **pos;
    rc = qy_cli_parse(&spec, nargc, nargv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) {
        qy_free(measures_help);
        return rc;
    }
    qy_free(measures_help);
    if (version != 9 && version != 10) {
        fprintf(stderr, "quarry eval: --trec-eval-version must be 9 or 10\n");
        return 2;
    }
    if (depth != -1 && depth < 1) {
        fprintf(stderr, "quarry eval: -M must be a positive number of documents\n");
        return 2;
    }
    if (level < 0) {
        fprintf(stderr, "quarry eval: -l must be 0 or more (negative qrels values mean 'unjudged')\n");
        return 2;
    }

    qy_qrels *qrels = NULL;
    qy_run *runf = NULL;
    qy_eval_result *res = NULL;
    int st = qy_qrels_read(pos[0], &qrels);
    if (!st) st = qy_run_read(pos[1], &runf);
    if (st) {
        qy_qrels_free(qrels);
        return qy_cli_fail(st);
    }
    qy_eval_opts o;
    qy_eval_opts_default(&o);
    o.trec_eval_version = (int)version;
    o.complete = complete;
    o.relevance_level = level;
    o.max_docs = depth > 0 ? depth : 0;
    o.measures = measures;
    o.num_measures = nmeasures;
    st = qy_eval_compute(qrels, runf, &o, &res);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", qy_errmsg());
    int wst = QY_OK;
    if (res) {
        if (c.json) {
            cJSON *j = qy_eval_to_json(res, per_query);
            char *s = j ? qy_json_print(j, 1) : NULL;
            if (s)
                puts(s);
            else
                wst = QY_ERR_NOMEM;
            qy_free(s);
            cJSON_Delete(j);
        } else {
            wst = qy_eval_write_trec(res, stdout, per_query);
        }
    }
    qy_eval_result_free(res);
    qy_run_free(runf);
    qy_qrels_free(qrels);
    if (st) {
        fprintf(stderr, "quarry: %s\n", msg[0] ? msg : qy_status_str(st));
        return st == QY_ERR_ARG ? 2 : 1;
    }
    return wst ? qy_cli_fail(wst) : 0;
}

const qy_command qy_command_eval = {"eval", "evaluate a TREC run against qrels with trec_eval's measures",
                                    run};
