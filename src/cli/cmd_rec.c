/* cmd_rec.c — `quarry rec split|train|eval|recommend`: recommendation on
 * RecBole atomic files (and Open Bandit Dataset exposure logs) with the
 * leave-one-out or ratio splits and the full or sampled ranking protocols. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "eval/rec_models.h"
#include "eval/recbole.h"
#include "quarry/base.h"
#include "quarry/rec.h"

/* options shared by every verb */
typedef struct rec_args {
    long min_user, min_item;
    const char *split;
    const char *protocol;
    const char *ks;
    int no_mask;
    const char *format;
    const char *model;
    const char *checkpoint;
    long epochs, patience, dim, knn;
    const char *valid_metric;
    const char *state, *resume;
    double lr, reg, shrink;
    const char *out;
    const char *export_items;
    const char *phase;
    const char *per_user;
    const char *users;
    long k;
    int include_seen;
} rec_args;

#define DATA_OPTS(a)                                                                                         \
    {"min-user",   0, QY_OPT_INT, "N", "k-core: drop users with fewer than N interactions (default 0)",      \
     &(a).min_user},                                                                                         \
        {"min-item",   0, QY_OPT_INT, "N", "k-core: drop items with fewer than N interactions (default 0)",  \
         &(a).min_item},                                                                                     \
        {"split",   0, QY_OPT_STRING, "S", "loo (default), ratio[:0.8,0.1,0.1] per user, time[:...] global", \
         &(a).split},                                                                                        \
    {                                                                                                        \
        "format", 0, QY_OPT_STRING, "F",                                                                     \
            "recbole (a folder with NAME.inter) or obd (Open Bandit CSV); default: guess", &(a).format       \
    }

#define EVAL_OPTS(a)                                                                          \
    {"protocol",                                                                              \
     0,                                                                                       \
     QY_OPT_STRING,                                                                           \
     "P",                                                                                     \
     "full (default: rank all items) or sampled[:N] (1 positive + N negatives, 100)",         \
     &(a).protocol},                                                                          \
        {"no-mask-history",                                                                   \
         0,                                                                                   \
         QY_OPT_FLAG,                                                                         \
         NULL,                                                                                \
         "full ranking keeps the user's earlier items (RecBole's sequential mode)",           \
         &(a).no_mask},                                                                       \
    {                                                                                         \
        "ks", 0, QY_OPT_STRING, "LIST",                                                       \
            "cut-offs, comma-separated, up to 8 values in [1, 64] (default 5,10,20)", &(a).ks \
    }

#define MODEL_OPTS(a)                                                                                  \
    {                                                                                                  \
        "model",                                                                                       \
        'm',                                                                                           \
        QY_OPT_STRING,                                                                                 \
        "NAME",                                                                                        \
        "pop, itemknn, bprmf, sasrec, gru4rec or lightgcn (default pop)",                              \
        &(a).model},                                                                                   \
        {"epochs", 0, QY_OPT_INT, "N", "trained models: at most N epochs (default 300)", &(a).epochs}, \
        {"patience",                                                                                   \
         0,                                                                                            \
         QY_OPT_INT,                                                                                   \
         "N",                                                                                          \
         "stop after N epochs without a better validation metric (default 10)",                        \
         &(a).patience},                                                                               \
        {"dim",   0, QY_OPT_INT, "N", "bprmf, sasrec, gru4rec, lightgcn: embedding size (default 64)", \
         &(a).dim},                                                                                    \
        {"lr", 0, QY_OPT_DOUBLE, "X", "trained models: Adam learning rate (default 0.001)", &(a).lr},  \
        {"reg",                                                                                        \
         0,                                                                                            \
         QY_OPT_DOUBLE,                                                                                \
         "X",                                                                                          \
         "bprmf: L2 weight decay (default 0); lightgcn: EmbLoss weight (0: RecBole's 1e-5)",           \
         &(a).reg},                                                                                    \
        {"knn", 0, QY_OPT_INT, "N", "itemknn: neighbours per item (default 100)", &(a).knn}, {         \
        "shrink", 0, QY_OPT_DOUBLE, "X", "itemknn: similarity shrinkage (default 0)", &(a).shrink      \
    }

static void args_init(rec_args *a) {
    memset(a, 0, sizeof *a);
    qy_rec_params p = qy_rec_params_default();
    a->split = "loo";
    a->protocol = "full";
    a->model = "pop";
    a->epochs = p.epochs;
    a->patience = 10;
    a->valid_metric = "mrr@10";
    a->dim = p.dim;
    a->knn = p.knn;
    a->lr = p.lr;
    a->reg = p.reg;
    a->shrink = p.shrink;
    a->phase = "test";
    a->k = 10;
}

static int is_dir(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISDIR(s.st_mode);
}

/* load + split the data named by path */
static int load_data(const char *path, const rec_args *a, qy_rec_data **out) {
    qy_rec_data_opts o = qy_rec_data_opts_default();
    o.min_user_inter = a->min_user;
    o.min_item_inter = a->min_item;
    qy_rec_split_opts so;
    int st = qy_rec_split_parse(a->split, &so);
    if (st) return st;
    int obd;
    if (a->format) {
        if (strcmp(a->format, "obd") && strcmp(a->format, "recbole"))
            return qy_error(QY_ERR_ARG, "unknown --format '%s' (expected recbole or obd)", a->format);
        obd = !strcmp(a->format, "obd");
    } else {
        size_t n = strlen(path);
        char probe[1200];
        snprintf(probe, sizeof probe, "%s/random/men/men.csv", path);
        obd = (n > 4 && !strcmp(path + n - 4, ".csv")) || (is_dir(path) && qy_file_exists(probe));
    }
    st = obd ? qy_rec_load_obd(path, &o, out) : qy_rec_load_dir(path, &o, out);
    if (st) return st;
    st = qy_rec_data_split(*out, &so);
    if (st) {
        qy_rec_data_free(*out);
        *out = NULL;
    }
    return st;
}

static int eval_opts(const rec_args *a, const qy_cli_common *c, qy_rec_eval_opts *o) {
    *o = qy_rec_eval_opts_default();
    o->seed = c->seed;
    o->mask_history = !a->no_mask;
    if (a->ks) {
        const char *p = a->ks;
        o->n_ks = 0;
        for (;;) {
            char *end;
            long k = strtol(p, &end, 10);
            if (end == p || k < 1 || k > 64 || o->n_ks == QY_REC_MAX_K || (*end && *end != ','))
                return qy_error(QY_ERR_ARG,
                                "--ks '%s': expected up to %d comma-separated cut-offs in [1, 64]", a->ks,
                                QY_REC_MAX_K);
            o->ks[o->n_ks++] = (int)k;
            if (!*end) break;
            p = end + 1;
        }
    }
    return qy_rec_protocol_parse(a->protocol, o);
}

static void params_from(const rec_args *a, const qy_cli_common *c, qy_rec_params *p) {
    *p = qy_rec_params_default();
    p->epochs = (int)a->epochs;
    p->dim = (int)a->dim;
    p->lr = a->lr;
    p->reg = a->reg;
    p->knn = (int)a->knn;
    p->shrink = a->shrink;
    p->seed = c->seed;
}

static void data_summary(const qy_rec_data *d) {
    qy_info(
        "data: %u users, %u items (padding 0 included), %zu interactions%s, %zu dropped by k-core; split %s",
        d->n_users, d->n_items, d->n_inter, d->click ? " (exposure log)" : "", d->n_dropped, d->split_desc);
}

/* print a JSON document on stdout and free it */
static void print_json(cJSON *o) {
    char *s = qy_json_print(o, 1);
    if (s) puts(s);
    qy_free(s);
    cJSON_Delete(o);
}

static cJSON *result_json(const qy_rec_eval_result *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "users", (double)r->n_users);
    for (int kk = 0; kk < r->n_ks; kk++) {
        char key[48];
        for (int m = 0; m < QY_METRIC_COUNT; m++) {
            snprintf(key, sizeof key, "%s@%d", qy_rec_metric_name((qy_rec_metric)m), r->ks[kk]);
            cJSON_AddNumberToObject(o, key, r->mean[m][kk]);
        }
        snprintf(key, sizeof key, "itemcoverage@%d", r->ks[kk]);
        cJSON_AddNumberToObject(o, key, r->coverage[kk]);
    }
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    return o;
}

static void print_result(const char *title, const qy_rec_eval_result *r) {
    printf("%s (%zu users, %.2f s)\n  %-10s", title, r->n_users, r->seconds, "k");
    for (int kk = 0; kk < r->n_ks; kk++) printf(" %9d", r->ks[kk]);
    printf("\n");
    for (int m = 0; m < QY_METRIC_COUNT; m++) {
        printf("  %-10s", qy_rec_metric_name((qy_rec_metric)m));
        for (int kk = 0; kk < r->n_ks; kk++) printf(" %9.4f", r->mean[m][kk]);
        printf("\n");
    }
    printf("  %-10s", "coverage");
    for (int kk = 0; kk < r->n_ks; kk++) printf(" %9.4f", r->coverage[kk]);
    printf("\n");
}

static int write_per_user(const char *path, const qy_rec_data *d, const qy_rec_eval_result *r) {
    qy_afile *f;
    int st = qy_afile_open(path, &f);
    if (st) return st;
    st = qy_afile_printf(f, "user");
    for (int m = 0; m < QY_METRIC_COUNT && !st; m++)
        for (int kk = 0; kk < r->n_ks && !st; kk++)
            st = qy_afile_printf(f, "\t%s@%d", qy_rec_metric_name((qy_rec_metric)m), r->ks[kk]);
    if (!st) st = qy_afile_printf(f, "\n");
    for (size_t i = 0; i < r->n_users && !st; i++) {
        st = qy_afile_printf(f, "%s", d->user_token[r->users[i]]);
        const float *v = r->per_user + i * QY_METRIC_COUNT * (size_t)r->n_ks;
        for (int x = 0; x < QY_METRIC_COUNT * r->n_ks && !st; x++) st = qy_afile_printf(f, "\t%.6g", v[x]);
        if (!st) st = qy_afile_printf(f, "\n");
    }
    if (st) {
        qy_afile_abort(f);
        return st;
    }
    return qy_afile_commit(f);
}

/* ---------------------------------------------------------------- split */

static int run_split(int argc, char **argv) {
    rec_args a;
    args_init(&a);
    qy_opt opts[] = {
        DATA_OPTS(a), {"out", 'o', QY_OPT_STRING, "DIR", "folder to write (required)", &a.out}, {0}};
    qy_cli_spec spec = {.usage = "quarry rec split [options] DATA --out DIR",
                        .description =
                            "Load a RecBole dataset folder (or an Open Bandit CSV), filter and split it,\n"
                            "and write the split so other tools see identical data: DIR/sequences.tsv\n"
                            "(dense ids, items in time order, one tag T/V/X per item), DIR/items.tsv,\n"
                            "DIR/users.tsv, and RecBole benchmark files DIR/NAME.{train,valid,test}.inter.",
                        .opts = opts,
                        .min_pos = 1,
                        .max_pos = 1,
                        .examples = "  quarry rec split ../shared/data/ml-100k --out /tmp/ml100k-loo\n"
                                    "  quarry rec split ../shared/data/ml-100k --split ratio:0.8,0.1,0.1 "
                                    "--min-user 5 --out split/\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    if (!a.out) {
        fprintf(stderr, "quarry rec split: --out DIR is required\n");
        return 2;
    }
    qy_rec_data *d;
    int st = load_data(pos[0], &a, &d);
    if (st) return qy_cli_fail(st);
    data_summary(d);
    char name[256];
    const char *b = strrchr(pos[0], '/');
    snprintf(name, sizeof name, "%s", b && b[1] ? b + 1 : pos[0]);
    char *dot = strrchr(name, '.');
    if (dot && !strcmp(dot, ".csv")) *dot = '\0';
    st = qy_rec_write_split(d, a.out, name);
    if (!st) {
        size_t nt[4] = {0};
        for (size_t j = 0; j < d->n_inter; j++) nt[d->split[j]]++;
        if (c.json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "out", a.out);
            cJSON_AddStringToObject(o, "split", d->split_desc);
            cJSON_AddNumberToObject(o, "users", d->n_users - 1);
            cJSON_AddNumberToObject(o, "items", d->n_items - 1);
            cJSON_AddNumberToObject(o, "train", (double)nt[0]);
            cJSON_AddNumberToObject(o, "valid", (double)nt[1]);
            cJSON_AddNumberToObject(o, "test", (double)nt[2]);
            print_json(o);
        } else {
            printf("wrote %s: %u users, %u items; train %zu, valid %zu, test %zu interactions (split %s)\n",
                   a.out, d->n_users - 1, d->n_items - 1, nt[0], nt[1], nt[2], d->split_desc);
        }
    }
    qy_rec_data_free(d);
    return st ? qy_cli_fail(st) : 0;
}

/* ---------------------------------------------------------------- train */

/* one line per item (padding skipped): token, a tab, dim space-separated values */
static int export_items(const qy_rec_model *m, const qy_rec_data *d, const char *path) {
    const float *emb;
    int dim;
    int st = qy_rec_model_item_embeddings(m, &emb, &dim);
    qy_afile *f = NULL;
    if (!st) st = qy_afile_open(path, &f);
    for (uint32_t i = 1; i < d->n_items && !st; i++) {
        st = qy_afile_printf(f, "%s\t", d->item_token[i]);
        for (int c = 0; c < dim && !st; c++)
            st = qy_afile_printf(f, c ? " %.9g" : "%.9g", emb[(size_t)i * dim + c]);
        if (!st) st = qy_afile_printf(f, "\n");
    }
    if (st) {
        if (f) qy_afile_abort(f);
        return st;
    }
    return qy_afile_commit(f);
}

/* @10 index in the validation cut-offs (5, 10, 20) */
enum { K10 = 1 };

typedef struct train_ctx {
    const qy_rec_data *d;
    const char *vm_name; /* e.g. "mrr@10" */
} train_ctx;

static int print_epoch(void *vctx, const qy_rec_epoch_record *r) {
    const train_ctx *t = vctx;
    qy_info("epoch %3d  loss %.5f  %.2f s (%.0f interactions/s)  valid %s %.4f  ndcg@10 %.4f hit@10 %.4f%s",
            r->epoch, r->loss, r->seconds, r->seconds > 0 ? (double)t->d->n_inter / r->seconds : 0,
            t->vm_name, r->valid, r->mean[QY_METRIC_NDCG][K10], r->mean[QY_METRIC_HIT][K10],
            r->improved ? "  *" : "");
    return 0;
}

static cJSON *log_json(const qy_rec_train_result *r) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < r->n_log; i++) {
        const qy_rec_epoch_record *x = &r->log[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "epoch", x->epoch);
        cJSON_AddNumberToObject(e, "loss", x->loss);
        cJSON_AddNumberToObject(e, "seconds", x->seconds);
        cJSON_AddNumberToObject(e, "valid_ndcg@10", x->mean[QY_METRIC_NDCG][K10]);
        cJSON_AddNumberToObject(e, "valid_hit@10", x->mean[QY_METRIC_HIT][K10]);
        cJSON_AddNumberToObject(e, "valid_mrr@10", x->mean[QY_METRIC_MRR][K10]);
        cJSON_AddNumberToObject(e, "valid", x->valid);
        cJSON_AddItemToArray(arr, e);
    }
    return arr;
}

/* the iterative models: early stopping, state file, resume; *m becomes the best epoch's model */
static int train_iterative(const rec_args *a, const qy_rec_eval_opts *eo, qy_rec_metric vm, int vk,
                           qy_rec_data *d, qy_pool *pool, const char *ckpt, qy_rec_model **m,
                           qy_rec_train_result *res) {
    qy_rec_train_opts to = qy_rec_train_opts_default();
    to.valid_metric = vm;
    to.valid_k = vk;
    to.patience = a->patience > 0 ? (int)a->patience : 10;
    to.eval = *eo;
    to.best_path = ckpt;
    to.resume_path = a->resume;
    to.state_path = a->state;
    train_ctx t = {d, a->valid_metric};
    to.on_epoch = print_epoch;
    to.ctx = &t;
    int st = qy_rec_train(*m, d, &to, pool, res);
    if (!st && res->resumed_from && res->epochs_done == res->resumed_from)
        qy_info("the run had finished (%d epochs, best %d): raise --epochs or --patience to train further",
                res->epochs_done, res->best_epoch);
    if (!st && a->state) qy_info("training state: %s (continue with --resume %s)", a->state, a->state);
    qy_rec_model *best = NULL;
    if (!st) st = qy_rec_model_load(ckpt, d, &best);
    if (!st) {
        qy_rec_model_free(*m);
        *m = best;
        qy_info("best epoch %d (valid %s %.4f)", res->best_epoch, a->valid_metric, res->best_value);
    }
    return st;
}

static int run_train(int argc, char **argv) {
    rec_args a;
    args_init(&a);
    qy_opt opts[] = {
        DATA_OPTS(a),
        EVAL_OPTS(a),
        MODEL_OPTS(a),
        {"out", 'o', QY_OPT_STRING, "FILE", "checkpoint to write (default: not kept for pop/itemknn)",
         &a.out},
        {"valid-metric", 0, QY_OPT_STRING, "M@K",
         "early stopping keeps the epoch with the best validation M@K: hit, recall, ndcg, mrr or "
         "precision at 5, 10 or 20 (default mrr@10, RecBole's valid_metric)",
         &a.valid_metric},
        {"state", 0, QY_OPT_STRING, "FILE",
         "iterative models: rewrite the training state (weights, optimizer, RNG, early stopping, log) "
         "after every epoch (default: OUT.state with --out, the --resume file when resuming)",
         &a.state},
        {"resume", 0, QY_OPT_STRING, "FILE",
         "continue the run saved in a state file, bit for bit; the data, split, model, --dim, --lr, "
         "--reg, --seed, --protocol and --valid-metric must match it (--epochs and --patience may grow)",
         &a.resume},
        {"export-items", 0, QY_OPT_STRING, "FILE",
         "write the best model's item embeddings: a line per item, token TAB values (sasrec, "
         "gru4rec, lightgcn)",
         &a.export_items},
        {0}};
    qy_cli_spec spec = {
        .usage = "quarry rec train [options] DATA",
        .description =
            "Train a recommender on the training part of DATA, with early stopping on the\n"
            "validation MRR@10 (--valid-metric) for iterative models (the best epoch's checkpoint is kept),\n"
            "then report validation and test metrics (HR, Recall, NDCG, MRR, Precision, item\n"
            "coverage at 5, 10, 20). Each epoch prints its loss, time and validation metrics.\n"
            "Iterative models (bprmf, sasrec, gru4rec, lightgcn) write a training state after every\n"
            "epoch (--state, default OUT.state); --resume FILE continues an interrupted run, or extends\n"
            "a finished one with a larger --epochs or --patience, with the same bits as one long run.",
        .opts = opts,
        .min_pos = 1,
        .max_pos = 1,
        .examples =
            "  quarry rec train ../shared/data/ml-100k --model pop\n"
            "  quarry rec train ../shared/data/ml-100k --model bprmf --epochs 50 --out bpr.qyrec --json\n"
            "  quarry rec train ../shared/data/ml-100k --model sasrec --epochs 100 --out sas.qyrec  # "
            "stopped\n"
            "  quarry rec train ../shared/data/ml-100k --model sasrec --epochs 100 --out sas.qyrec "
            "--resume sas.qyrec.state\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    qy_rec_params p;
    params_from(&a, &c, &p);
    qy_rec_eval_opts eo;
    int st = eval_opts(&a, &c, &eo);
    if (st) return qy_cli_fail(st);
    qy_rec_metric vm;
    int vk;
    if (qy_rec_valid_metric_parse(a.valid_metric, &vm, &vk)) {
        fprintf(stderr, "quarry rec train: --%s\n", qy_errmsg());
        return 2;
    }
    qy_rec_data *d = NULL;
    qy_rec_model *m = NULL;
    qy_pool *pool = NULL;
    qy_rec_train_result res = {0};
    char tmp[64] = "", *state_buf = NULL;
    st = load_data(pos[0], &a, &d);
    if (!st) st = qy_rec_model_new(a.model, &p, &m);
    if (!st) st = qy_pool_new(c.threads, &pool);
    if (st) goto done;
    int iterative = qy_rec_model_has_epochs(m);
    if (!iterative && (a.state || a.resume)) {
        st = qy_error(QY_ERR_ARG,
                      "--state and --resume are for iterative models (bprmf, sasrec, gru4rec, "
                      "lightgcn), not %s",
                      a.model);
        goto done;
    }
    data_summary(d);
    const char *ckpt = a.out;
    if (!ckpt && iterative) {
        snprintf(tmp, sizeof tmp, "/tmp/quarry-rec-%d.qyrec", (int)getpid());
        ckpt = tmp;
    }
    if (iterative && !a.state && a.resume) a.state = a.resume;
    if (iterative && !a.state && a.out) {
        size_t n = strlen(a.out) + sizeof ".state";
        state_buf = qy_malloc(n);
        if (!state_buf) {
            st = QY_ERR_NOMEM;
            goto done;
        }
        snprintf(state_buf, n, "%s.state", a.out);
        a.state = state_buf;
    }
    uint64_t t0 = qy_now_ns();
    if (iterative)
        st = train_iterative(&a, &eo, vm, vk, d, pool, ckpt, &m, &res);
    else
        st = qy_rec_model_fit(m, d, pool, NULL, NULL);
    double fit_s = qy_seconds_since(t0);
    if (!st && !iterative && a.out) st = qy_rec_model_save(m, a.out);
    if (!st && a.export_items) st = export_items(m, d, a.export_items);
    qy_rec_eval_result rv = {0}, rt = {0};
    if (!st) st = qy_rec_evaluate(d, QY_PHASE_VALID, &eo, m, pool, &rv);
    if (!st) st = qy_rec_evaluate(d, QY_PHASE_TEST, &eo, m, pool, &rt);
    if (!st) {
        if (c.json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", a.model);
            cJSON_AddStringToObject(o, "split", d->split_desc);
            cJSON_AddStringToObject(o, "protocol", a.protocol);
            cJSON_AddNumberToObject(o, "fit_seconds", fit_s);
            if (iterative) {
                char hex[24];
                snprintf(hex, sizeof hex, "%016llx", (unsigned long long)res.digest);
                cJSON_AddNumberToObject(o, "best_epoch", res.best_epoch);
                cJSON_AddStringToObject(o, "valid_metric", a.valid_metric);
                cJSON_AddNumberToObject(o, "epochs_done", res.epochs_done);
                cJSON_AddNumberToObject(o, "resumed_from", res.resumed_from);
                cJSON_AddStringToObject(o, "train_digest", hex);
                if (a.state) cJSON_AddStringToObject(o, "state", a.state);
                cJSON_AddItemToObject(o, "epochs", log_json(&res));
            } else {
                cJSON_AddItemToObject(o, "epochs", cJSON_CreateArray());
            }
            cJSON_AddItemToObject(o, "valid", result_json(&rv));
            cJSON_AddItemToObject(o, "test", result_json(&rt));
            if (a.out) cJSON_AddStringToObject(o, "checkpoint", a.out);
            print_json(o);
        } else {
            printf("model %s, split %s, protocol %s, fit %.2f s\n", a.model, d->split_desc, a.protocol,
                   fit_s);
            print_result("valid", &rv);
            print_result("test", &rt);
        }
    }
    qy_rec_eval_result_free(&rv);
    qy_rec_eval_result_free(&rt);
done:
    if (tmp[0]) unlink(tmp);
    qy_rec_train_result_free(&res);
    qy_free(state_buf);
    qy_rec_model_free(m);
    qy_pool_free(pool);
    qy_rec_data_free(d);
    return st ? qy_cli_fail(st) : 0;
}

/* a fitted model: from --checkpoint, or --model fitted now (closed-form models) */
static int get_model(const rec_args *a, const qy_cli_common *c, const qy_rec_data *d, qy_pool *pool,
                     qy_rec_model **m) {
    if (a->checkpoint) return qy_rec_model_load(a->checkpoint, d, m);
    qy_rec_params p;
    params_from(a, c, &p);
    int st = qy_rec_model_new(a->model, &p, m);
    if (st) return st;
    if (qy_rec_model_has_epochs(*m)) {
        qy_rec_model_free(*m);
        *m = NULL;
        return qy_error(
            QY_ERR_ARG,
            "model %s must be trained first: quarry rec train ... --out FILE, then --checkpoint FILE",
            a->model);
    }
    return qy_rec_model_fit(*m, d, pool, NULL, NULL);
}

/* ----------------------------------------------------------------- eval */

static int run_eval(int argc, char **argv) {
    rec_args a;
    args_init(&a);
    qy_opt opts[] = {DATA_OPTS(a),
                     EVAL_OPTS(a),
                     MODEL_OPTS(a),
                     {"checkpoint", 'c', QY_OPT_STRING, "FILE",
                      "a checkpoint written by 'quarry rec train --out'", &a.checkpoint},
                     {"phase", 0, QY_OPT_STRING, "P", "test (default) or valid", &a.phase},
                     {"per-user", 0, QY_OPT_STRING, "FILE", "write every user's metrics as TSV", &a.per_user},
                     {0}};
    qy_cli_spec spec = {
        .usage = "quarry rec eval [options] DATA (--checkpoint FILE | --model pop|itemknn)",
        .description = "Evaluate a trained checkpoint (or fit a closed-form baseline now) on the\n"
                       "validation or test part of DATA: HR, Recall, NDCG, MRR, Precision at 5/10/20 and\n"
                       "item coverage, full ranking or sampled (docs/recommendation.md).",
        .opts = opts,
        .min_pos = 1,
        .max_pos = 1,
        .examples =
            "  quarry rec eval ../shared/data/ml-100k --model pop --protocol sampled:100\n"
            "  quarry rec eval ../shared/data/ml-100k --checkpoint bpr.qyrec --per-user users.tsv --json\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    qy_rec_phase phase;
    if (!strcmp(a.phase, "test"))
        phase = QY_PHASE_TEST;
    else if (!strcmp(a.phase, "valid"))
        phase = QY_PHASE_VALID;
    else {
        fprintf(stderr, "quarry rec eval: --phase must be test or valid, not '%s'\n", a.phase);
        return 2;
    }
    qy_rec_eval_opts eo;
    int st = eval_opts(&a, &c, &eo);
    if (st) return qy_cli_fail(st);
    qy_rec_data *d = NULL;
    qy_rec_model *m = NULL;
    qy_pool *pool = NULL;
    qy_rec_eval_result r = {0};
    st = load_data(pos[0], &a, &d);
    if (!st) st = qy_pool_new(c.threads, &pool);
    if (!st) st = get_model(&a, &c, d, pool, &m);
    if (!st) st = qy_rec_evaluate(d, phase, &eo, m, pool, &r);
    if (!st && a.per_user) st = write_per_user(a.per_user, d, &r);
    if (!st) {
        if (c.json) {
            cJSON *o = result_json(&r);
            cJSON_AddStringToObject(o, "model", qy_rec_model_name(m));
            cJSON_AddStringToObject(o, "phase", a.phase);
            cJSON_AddStringToObject(o, "split", d->split_desc);
            cJSON_AddStringToObject(o, "protocol", a.protocol);
            print_json(o);
        } else {
            char title[128];
            snprintf(title, sizeof title, "%s %s, split %s, protocol %s", qy_rec_model_name(m), a.phase,
                     d->split_desc, a.protocol);
            print_result(title, &r);
        }
    }
    qy_rec_eval_result_free(&r);
    qy_rec_model_free(m);
    qy_pool_free(pool);
    qy_rec_data_free(d);
    return st ? qy_cli_fail(st) : 0;
}

/* ------------------------------------------------------------ recommend */

static int cmp_u32(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

static int run_recommend(int argc, char **argv) {
    rec_args a;
    args_init(&a);
    qy_opt opts[] = {
        DATA_OPTS(a),
        MODEL_OPTS(a),
        {"checkpoint", 'c', QY_OPT_STRING, "FILE", "a checkpoint written by 'quarry rec train --out'",
         &a.checkpoint},
        {"users", 'u', QY_OPT_STRING, "LIST", "comma-separated user tokens (default: every user)", &a.users},
        {"k", 'k', QY_OPT_INT, "N", "items per user (default 10)", &a.k},
        {"include-seen", 0, QY_OPT_FLAG, NULL, "allow items the user already interacted with",
         &a.include_seen},
        {0}};
    qy_cli_spec spec = {
        .usage = "quarry rec recommend [options] DATA (--checkpoint FILE | --model pop|itemknn)",
        .description = "Top-k items for many users at once, given everything each user did in DATA\n"
                       "(all splits). Prints 'user<TAB>item:score ...' per user, or JSON.",
        .opts = opts,
        .min_pos = 1,
        .max_pos = 1,
        .examples = "  quarry rec recommend ../shared/data/ml-100k --model itemknn --users 1,2,3 -k 5\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    qy_rec_data *d = NULL;
    qy_rec_model *m = NULL;
    qy_pool *pool = NULL;
    uint32_t *uids = NULL, *top = NULL, **ex = NULL;
    size_t *nex = NULL, nu = 0;
    float *scores = NULL, *tops = NULL;
    qy_rec_query *q = NULL;
    const size_t B = 256;
    size_t K = 0;
    int st = load_data(pos[0], &a, &d);
    if (!st) st = qy_pool_new(c.threads, &pool);
    if (!st) st = get_model(&a, &c, d, pool, &m);
    if (st) goto done;
    if (a.k < 1 || (uint32_t)a.k > d->n_items - 1) {
        st = qy_error(QY_ERR_ARG, "-k must be in [1, %u]", d->n_items - 1);
        goto done;
    }
    uids = qy_mallocn(d->n_users, sizeof *uids);
    if (!uids) {
        st = QY_ERR_NOMEM;
        goto done;
    }
    if (a.users) {
        const char *s = a.users;
        while (*s && !st) {
            size_t l = strcspn(s, ",");
            char tok[256];
            snprintf(tok, sizeof tok, "%.*s", (int)l, s);
            uint32_t u = qy_rec_user_id(d, tok);
            if (!u)
                st = qy_error(QY_ERR_NOT_FOUND, "unknown user '%s' in %s", tok, pos[0]);
            else if (nu < d->n_users)
                uids[nu++] = u;
            s += l + (s[l] == ',');
        }
    } else {
        for (uint32_t u = 1; u < d->n_users; u++) uids[nu++] = u;
    }
    if (st) goto done;
    K = (size_t)a.k;
    scores = qy_mallocn(B, (size_t)d->n_items * sizeof *scores);
    q = qy_mallocn(B, sizeof *q);
    top = qy_mallocn(B, K * sizeof *top);
    tops = qy_mallocn(B, K * sizeof *tops);
    ex = qy_calloc(B, sizeof *ex);
    nex = qy_calloc(B, sizeof *nex);
    if (!scores || !q || !top || !tops || !ex || !nex) {
        st = QY_ERR_NOMEM;
        goto done;
    }
    cJSON *arr = c.json ? cJSON_CreateArray() : NULL;
    for (size_t b = 0; b < nu && !st; b += B) {
        size_t nb = nu - b < B ? nu - b : B;
        for (size_t i = 0; i < nb; i++) {
            q[i].user = uids[b + i];
            qy_rec_user_positives(d, q[i].user, &q[i].history, &q[i].n_history, NULL);
            if (!a.include_seen) {
                ex[i] = qy_mallocn(q[i].n_history ? q[i].n_history : 1, sizeof **ex);
                if (!ex[i]) {
                    st = QY_ERR_NOMEM;
                    break;
                }
                memcpy(ex[i], q[i].history, q[i].n_history * sizeof **ex);
                qsort(ex[i], q[i].n_history, sizeof **ex, cmp_u32);
                nex[i] = q[i].n_history;
            }
        }
        if (!st) st = qy_rec_model_score(m, q, nb, scores, pool);
        if (!st)
            st = qy_rec_topk(scores, nb, d->n_items, (int)K,
                             a.include_seen ? NULL : (const uint32_t *const *)ex, nex, top, tops, pool);
        for (size_t i = 0; i < nb && !st; i++) {
            const char *ut = d->user_token[q[i].user];
            if (arr) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "user", ut);
                cJSON *items = cJSON_AddArrayToObject(o, "items");
                for (size_t j = 0; j < K && top[i * K + j]; j++) {
                    cJSON *it = cJSON_CreateObject();
                    cJSON_AddStringToObject(it, "item", d->item_token[top[i * K + j]]);
                    cJSON_AddNumberToObject(it, "score", tops[i * K + j]);
                    cJSON_AddItemToArray(items, it);
                }
                cJSON_AddItemToArray(arr, o);
            } else {
                printf("%s\t", ut);
                for (size_t j = 0; j < K && top[i * K + j]; j++)
                    printf("%s%s:%.6g", j ? " " : "", d->item_token[top[i * K + j]], tops[i * K + j]);
                printf("\n");
            }
        }
        for (size_t i = 0; i < nb; i++) {
            qy_free(ex[i]);
            ex[i] = NULL;
        }
    }
    if (arr && !st)
        print_json(arr);
    else
        cJSON_Delete(arr);
done:
    if (ex)
        for (size_t i = 0; i < B; i++) qy_free(ex[i]);
    qy_free(ex);
    qy_free(nex);
    qy_free(uids);
    qy_free(top);
    qy_free(tops);
    qy_free(scores);
    qy_free(q);
    qy_rec_model_free(m);
    qy_pool_free(pool);
    qy_rec_data_free(d);
    return st ? qy_cli_fail(st) : 0;
}

static int run(int argc, char **argv) {
    static const qy_subcommand subs[] = {
        {"split", "filter and split a dataset, write it for other tools (PyTorch, RecBole)", run_split},
        {"train", "train a recommender with early stopping, report valid/test metrics", run_train},
        {"eval", "evaluate a checkpoint or baseline: full or sampled ranking", run_eval},
        {"recommend", "top-k items for many users at once", run_recommend},
        {NULL, NULL, NULL}};
    return qy_cli_dispatch(
        "rec", "Sequential and general recommendation on RecBole atomic files (docs/recommendation.md).",
        argc, argv, subs);
}

const qy_command qy_command_rec = {"rec", "recommendation: split, train, eval, recommend (RecBole data)",
                                   run};
