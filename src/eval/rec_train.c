/* rec_train.c — the early-stopping training loop of the iterative recommenders
 * and its training-state file, which lets a run resume bit for bit
 * (see quarry/rec.h, qy_rec_train).
 *
 * State file ("QYRECS01", native byte order like the QYRECM01 checkpoint):
 *   state_header                          identity of the run, progress, counts
 *   n_log x qy_rec_epoch_record           the per-epoch log
 *   n_spans x uint64                      byte size of each span
 *   the spans' bytes                      parameters, Adam moments, steps, RNG
 *   best_len bytes                        the best epoch's QYRECM01 checkpoint
 *   uint64                                xxh64 of everything before */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "eval/rec_models.h"

#define STATE_MAGIC "QYRECS01"
enum { STATE_VERSION = 1, MAX_LOG = 1 << 24, MAX_SPANS = 1 << 20 };

typedef struct state_header {
    char magic[8];
    uint32_t version, header_bytes;
    char model[24];
    char split[64];
    char valid_metric[16]; /* "mrr@10" */
    uint32_t n_users, n_items;
    uint64_t n_inter, data_hash;
    int32_t dim, knn;
    double lr, reg, shrink;
    uint64_t seed, eval_seed;
    int32_t protocol, n_neg, mask_history, reserved;
    int32_t epoch, best_epoch;
    double best_value;
    uint64_t n_log, n_spans, best_len;
} state_header;

qy_rec_train_opts qy_rec_train_opts_default(void) {
    qy_rec_train_opts o = {.patience = 10, .valid_metric = QY_METRIC_MRR, .valid_k = 10};
    o.eval = qy_rec_eval_opts_default();
    return o;
}

/* index of k in the validation cut-offs, -1 if none */
static int valid_k_index(int k) {
    qy_rec_eval_opts def = qy_rec_eval_opts_default();
    for (int i = 0; i < QY_REC_VALID_NKS && i < def.n_ks; i++)
        if (def.ks[i] == k) return i;
    return -1;
}

int qy_rec_valid_metric_parse(const char *text, qy_rec_metric *metric, int *k) {
    const char *at = strchr(text, '@');
    for (int m = 0; at && m < QY_METRIC_COUNT; m++) {
        const char *name = qy_rec_metric_name((qy_rec_metric)m);
        if (strlen(name) != (size_t)(at - text) || strncmp(text, name, strlen(name))) continue;
        char *end;
        long v = strtol(at + 1, &end, 10);
        if (end != at + 1 && !*end && v > 0 && v < 1000 && valid_k_index((int)v) >= 0) {
            *metric = (qy_rec_metric)m;
            *k = (int)v;
            return QY_OK;
        }
    }
    return qy_error(QY_ERR_ARG,
                    "valid-metric '%s': expected hit, recall, ndcg, mrr or precision, then @5, @10 or @20 "
                    "(e.g. mrr@10)",
                    text);
}

void qy_rec_train_result_free(qy_rec_train_result *r) {
    if (!r) return;
    qy_free(r->log);
    qy_free(r->best_image);
    memset(r, 0, sizeof *r);
}

/* the model's training state as spans (*sp qy_malloc'ed) */
static int get_spans(qy_rec_model *m, qy_rec_span **sp, size_t *n) {
    *sp = NULL;
    *n = 0;
    if (!m->ops->train_spans)
        return qy_error(QY_ERR_UNSUPPORTED, "model %s has no training state (it fits in closed form)",
                        m->ops->name);
    if (!m->state) return qy_error(QY_ERR_ARG, "model %s is not fitted", m->ops->name);
    size_t k;
    int st = m->ops->train_spans(m, NULL, 0, &k);
    if (st) return st;
    qy_rec_span *s = qy_mallocn(k ? k : 1, sizeof *s);
    if (!s) return QY_ERR_NOMEM;
    st = m->ops->train_spans(m, s, k, n);
    if (st) {
        qy_free(s);
        return st;
    }
    *sp = s;
    return QY_OK;
}

static int digest(qy_rec_model *m, uint64_t *out) {
    qy_rec_span *sp;
    size_t n;
    int st = get_spans(m, &sp, &n);
    if (st) return st;
    XXH64_state_t *xs = XXH64_createState();
    if (!xs) {
        qy_free(sp);
        return QY_ERR_NOMEM;
    }
    XXH64_reset(xs, 0);
    for (size_t i = 0; i < n; i++) XXH64_update(xs, sp[i].data, sp[i].bytes);
    *out = XXH64_digest(xs);
    XXH64_freeState(xs);
    qy_free(sp);
    return QY_OK;
}

/* the dataset as the model sees it: sizes, every user's items, split tags, clicks */
static uint64_t data_hash(const qy_rec_data *d) {
    XXH64_state_t *xs = XXH64_createState();
    if (!xs) return 0;
    XXH64_reset(xs, 0);
    uint64_t sizes[3] = {d->n_users, d->n_items, d->n_inter};
    XXH64_update(xs, sizes, sizeof sizes);
    for (uint32_t u = 0; u <= d->n_users; u++) {
        uint64_t off = d->user_off[u];
        XXH64_update(xs, &off, sizeof off);
    }
    XXH64_update(xs, d->item, d->n_inter * sizeof *d->item);
    if (d->split) XXH64_update(xs, d->split, d->n_inter);
    if (d->click) XXH64_update(xs, d->click, d->n_inter);
    uint64_t h = XXH64_digest(xs);
    XXH64_freeState(xs);
    return h;
}

/* the identity part of the header for this run */
static void identity(const qy_rec_model *m, const qy_rec_data *d, const qy_rec_train_opts *o,
                     state_header *h) {
    memset(h, 0, sizeof *h);
    memcpy(h->magic, STATE_MAGIC, 8);
    h->version = STATE_VERSION;
    h->header_bytes = sizeof *h;
    snprintf(h->model, sizeof h->model, "%s", m->ops->name);
    snprintf(h->split, sizeof h->split, "%s", d->split_desc);
    snprintf(h->valid_metric, sizeof h->valid_metric, "%s@%d", qy_rec_metric_name(o->valid_metric),
             o->valid_k);
    h->n_users = d->n_users;
    h->n_items = d->n_items;
    h->n_inter = d->n_inter;
    h->data_hash = data_hash(d);
    h->dim = m->p.dim;
    h->knn = m->p.knn;
    h->lr = m->p.lr;
    h->reg = m->p.reg;
    h->shrink = m->p.shrink;
    h->seed = m->p.seed;
    h->eval_seed = o->eval.seed;
    h->protocol = o->eval.protocol;
    h->n_neg = o->eval.protocol == QY_PROTOCOL_SAMPLED ? o->eval.n_neg : 0;
    h->mask_history = o->eval.mask_history;
}

int qy_rec_state_save(qy_rec_model *m, const qy_rec_data *d, const qy_rec_train_opts *o,
                      const qy_rec_train_result *r, const char *path) {
    qy_rec_span *sp;
    size_t n;
    int st = get_spans(m, &sp, &n);
    if (st) return st;
    state_header h;
    identity(m, d, o, &h);
    h.epoch = m->epochs_done;
    h.best_epoch = r->best_epoch;
    h.best_value = r->best_value;
    h.n_log = r->n_log;
    h.n_spans = n;
    h.best_len = r->best_image ? r->best_len : 0;
    uint64_t *sizes = qy_mallocn(n ? n : 1, sizeof *sizes);
    XXH64_state_t *xs = XXH64_createState();
    qy_afile *f = NULL;
    if (!sizes || !xs) {
        st = QY_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) sizes[i] = sp[i].bytes;
    XXH64_reset(xs, 0);
    st = qy_afile_open(path, &f);
#define PUT(p, len)                             \
    do {                                        \
        if (!st && (len) > 0) {                 \
            XXH64_update(xs, (p), (len));       \
            st = qy_afile_write(f, (p), (len)); \
        }                                       \
    } while (0)
    PUT(&h, sizeof h);
    PUT(r->log, r->n_log * sizeof *r->log);
    PUT(sizes, n * sizeof *sizes);
    for (size_t i = 0; i < n; i++) PUT(sp[i].data, sp[i].bytes);
    PUT(r->best_image, (size_t)h.best_len);
#undef PUT
    if (!st) {
        uint64_t sum = XXH64_digest(xs);
        st = qy_afile_write(f, &sum, sizeof sum);
    }
    if (st) {
        if (f) qy_afile_abort(f);
    } else {
        st = qy_afile_commit(f);
    }
    if (st && st != QY_ERR_NOMEM) qy_error_wrap(st, "writing the training state %s", path);
done:
    if (xs) XXH64_freeState(xs);
    qy_free(sizes);
    qy_free(sp);
    return st;
}

static void fmt_double(char *buf, size_t cap, double v) { snprintf(buf, cap, "%.17g", v); }

/* QY_ERR_ARG naming the first field where the state (s) and this run (c) differ */
static int compare_identity(const char *path, const state_header *s, const state_header *c) {
    char a[96], b[96];
    const char *what = NULL;
    if (strcmp(s->model, c->model)) {
        what = "model";
        snprintf(a, sizeof a, "%s", s->model);
        snprintf(b, sizeof b, "%s", c->model);
    } else if (s->n_users != c->n_users || s->n_items != c->n_items || s->n_inter != c->n_inter) {
        what = "dataset (users, items, interactions)";
        snprintf(a, sizeof a, "%u, %u, %llu", s->n_users - 1, s->n_items - 1, (unsigned long long)s->n_inter);
        snprintf(b, sizeof b, "%u, %u, %llu", c->n_users - 1, c->n_items - 1, (unsigned long long)c->n_inter);
    } else if (strcmp(s->split, c->split)) {
        what = "split";
        snprintf(a, sizeof a, "%s", s->split);
        snprintf(b, sizeof b, "%s", c->split);
    } else if (s->data_hash != c->data_hash) {
        what = "dataset content (same sizes and split, other interactions)";
        snprintf(a, sizeof a, "hash %016llx", (unsigned long long)s->data_hash);
        snprintf(b, sizeof b, "hash %016llx", (unsigned long long)c->data_hash);
    } else if (s->dim != c->dim) {
        what = "dim";
        snprintf(a, sizeof a, "%d", s->dim);
        snprintf(b, sizeof b, "%d", c->dim);
    } else if (memcmp(&s->lr, &c->lr, sizeof s->lr)) {
        what = "lr";
        fmt_double(a, sizeof a, s->lr);
        fmt_double(b, sizeof b, c->lr);
    } else if (memcmp(&s->reg, &c->reg, sizeof s->reg)) {
        what = "reg";
        fmt_double(a, sizeof a, s->reg);
        fmt_double(b, sizeof b, c->reg);
    } else if (s->seed != c->seed) {
        what = "seed";
        snprintf(a, sizeof a, "%llu", (unsigned long long)s->seed);
        snprintf(b, sizeof b, "%llu", (unsigned long long)c->seed);
    } else if (s->knn != c->knn || memcmp(&s->shrink, &c->shrink, sizeof s->shrink)) {
        what = "knn, shrink";
        snprintf(a, sizeof a, "%d, %.17g", s->knn, s->shrink);
        snprintf(b, sizeof b, "%d, %.17g", c->knn, c->shrink);
    } else if (s->protocol != c->protocol || s->n_neg != c->n_neg || s->mask_history != c->mask_history ||
               s->eval_seed != c->eval_seed) {
        what = "validation protocol";
        snprintf(a, sizeof a, "%s%s%d, %s history, seed %llu", s->protocol ? "sampled" : "full",
                 s->protocol ? ":" : " ", s->n_neg, s->mask_history ? "masked" : "unmasked",
                 (unsigned long long)s->eval_seed);
        snprintf(b, sizeof b, "%s%s%d, %s history, seed %llu", c->protocol ? "sampled" : "full",
                 c->protocol ? ":" : " ", c->n_neg, c->mask_history ? "masked" : "unmasked",
                 (unsigned long long)c->eval_seed);
    } else if (strcmp(s->valid_metric, c->valid_metric)) {
        what = "valid metric";
        snprintf(a, sizeof a, "%s", s->valid_metric);
        snprintf(b, sizeof b, "%s", c->valid_metric);
    }
    if (!what) return QY_OK;
    return qy_error(QY_ERR_ARG,
                    "%s: the training state belongs to another run: %s differs (state: %s; now: %s)", path,
                    what, a, b);
}

int qy_rec_state_load(qy_rec_model *m, const qy_rec_data *d, const qy_rec_train_opts *o, const char *path,
                      qy_rec_train_result *out) {
    memset(out, 0, sizeof *out);
    out->best_value = -1;
    qy_rec_span *sp = NULL;
    size_t n = 0;
    int st = get_spans(m, &sp, &n);
    if (st) return st;
    qy_mmap mm;
    st = qy_mmap_open(path, &mm);
    if (st) {
        qy_free(sp);
        return st;
    }
    state_header h, c;
    const uint8_t *p = mm.data;
    size_t at = sizeof h, need = 0;
    uint64_t sum;
    if (mm.size < sizeof h + sizeof sum || memcmp(p, STATE_MAGIC, 8) != 0) {
        st =
            qy_error(QY_ERR_FORMAT, "%s: not a quarry training state (expected magic %s)", path, STATE_MAGIC);
        goto done;
    }
    memcpy(&h, p, sizeof h);
    if (h.version != STATE_VERSION || h.header_bytes != sizeof h) {
        st = qy_error(QY_ERR_FORMAT,
                      "%s: training state version %u (header %u bytes); this quarry reads %d (%zu)", path,
                      h.version, h.header_bytes, STATE_VERSION, sizeof h);
        goto done;
    }
    /* sizes, each checked against the file before it is used */
    if (h.n_log > MAX_LOG || h.n_spans > MAX_SPANS || h.n_spans * sizeof(uint64_t) > mm.size - at ||
        h.n_log * sizeof(qy_rec_epoch_record) > mm.size - at - h.n_spans * sizeof(uint64_t)) {
        st = qy_error(QY_ERR_FORMAT,
                      "%s: truncated or damaged training state (%llu log records, %llu spans in "
                      "a file of %zu bytes)",
                      path, (unsigned long long)h.n_log, (unsigned long long)h.n_spans, mm.size);
        goto done;
    }
    size_t log_at = at, sizes_at = log_at + (size_t)h.n_log * sizeof(qy_rec_epoch_record);
    need = sizes_at + (size_t)h.n_spans * sizeof(uint64_t);
    for (size_t i = 0; i < h.n_spans && !st; i++) {
        uint64_t b;
        memcpy(&b, p + sizes_at + i * sizeof b, sizeof b);
        if (b > mm.size || need + b > mm.size) st = QY_ERR_FORMAT;
        need += (size_t)b;
    }
    if (!st && (h.best_len > mm.size || need + h.best_len + sizeof sum > mm.size)) st = QY_ERR_FORMAT;
    if (!st) need += (size_t)h.best_len + sizeof sum;
    if (st || need != mm.size) {
        st = qy_error(QY_ERR_FORMAT, "%s: truncated training state (%zu bytes, its header describes %s)",
                      path, mm.size, st ? "more" : "another size");
        goto done;
    }
    memcpy(&sum, p + mm.size - sizeof sum, sizeof sum);
    if (XXH64(p, mm.size - sizeof sum, 0) != sum) {
        st = qy_error(QY_ERR_FORMAT, "%s: checksum mismatch (training state damaged)", path);
        goto done;
    }
    h.model[sizeof h.model - 1] = h.split[sizeof h.split - 1] = h.valid_metric[sizeof h.valid_metric - 1] = 0;
    identity(m, d, o, &c);
    st = compare_identity(path, &h, &c);
    if (st) goto done;
    if (h.n_spans != n) {
        st = qy_error(QY_ERR_ARG, "%s: the training state has %llu pieces of model state, %s has %zu", path,
                      (unsigned long long)h.n_spans, m->ops->name, n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, p + sizes_at + i * sizeof b, sizeof b);
        if (b != sp[i].bytes) {
            st = qy_error(QY_ERR_ARG, "%s: piece %zu of the model state has %llu bytes, %zu expected", path,
                          i, (unsigned long long)b, sp[i].bytes);
            goto done;
        }
    }
    if (h.epoch < 1 || h.best_epoch < 0 || h.best_epoch > h.epoch || (uint64_t)h.epoch != h.n_log ||
        (h.best_epoch > 0) != (h.best_len > 0)) {
        st = qy_error(QY_ERR_FORMAT, "%s: inconsistent progress (epoch %d, best epoch %d, %llu log records)",
                      path, h.epoch, h.best_epoch, (unsigned long long)h.n_log);
        goto done;
    }
    /* allocate everything, then change the model */
    out->log = qy_mallocn(h.n_log, sizeof *out->log);
    out->best_image = h.best_len ? qy_malloc((size_t)h.best_len) : NULL;
    if (!out->log || (h.best_len && !out->best_image)) {
        st = QY_ERR_NOMEM;
        goto done;
    }
    memcpy(out->log, p + log_at, (size_t)h.n_log * sizeof *out->log);
    out->n_log = (size_t)h.n_log;
    size_t q = sizes_at + n * sizeof(uint64_t);
    for (size_t i = 0; i < n; i++) {
        memcpy(sp[i].data, p + q, sp[i].bytes);
        q += sp[i].bytes;
    }
    if (h.best_len) memcpy(out->best_image, p + q, (size_t)h.best_len);
    out->best_len = (size_t)h.best_len;
    m->epochs_done = h.epoch;
    out->epochs_done = out->resumed_from = h.epoch;
    out->best_epoch = h.best_epoch;
    out->best_value = h.best_value;
    if (m->ops->train_restored) st = m->ops->train_restored(m, NULL);
done:
    qy_mmap_close(&mm);
    qy_free(sp);
    if (st) {
        qy_rec_train_result_free(out);
        out->best_value = -1;
    }
    return st;
}

/* one epoch: train, validate, keep the best, log, save the state */
static int run_epoch(qy_rec_model *m, const qy_rec_data *d, const qy_rec_train_opts *o,
                     const qy_rec_eval_opts *vo, int kidx, qy_pool *pool, qy_rec_train_result *r) {
    qy_rec_epoch_record rec;
    memset(&rec, 0, sizeof rec);
    uint64_t t0 = qy_now_ns();
    int st = qy_rec_model_train_epoch(m, d, pool, &rec.loss);
    if (st) return st;
    rec.seconds = qy_seconds_since(t0);
    rec.epoch = m->epochs_done;
    qy_rec_eval_result ev;
    st = qy_rec_evaluate(d, QY_PHASE_VALID, vo, m, pool, &ev);
    if (st) return st;
    for (int x = 0; x < QY_METRIC_COUNT; x++)
        for (int k = 0; k < QY_REC_VALID_NKS; k++) rec.mean[x][k] = ev.mean[x][k];
    qy_rec_eval_result_free(&ev);
    rec.valid = rec.mean[o->valid_metric][kidx];
    rec.improved = rec.valid > r->best_value;
    qy_rec_epoch_record *log = qy_reallocn(r->log, r->n_log + 1, sizeof *log);
    if (!log) return QY_ERR_NOMEM;
    r->log = log;
    if (rec.improved) {
        void *img;
        size_t len;
        st = qy_rec_model_image(m, &img, &len);
        if (!st) st = qy_write_file_atomic(o->best_path, img, len);
        if (st) {
            qy_free(img);
            return st;
        }
        qy_free(r->best_image);
        r->best_image = img;
        r->best_len = len;
        r->best_epoch = rec.epoch;
        r->best_value = rec.valid;
    }
    r->log[r->n_log++] = rec;
    r->epochs_done = m->epochs_done;
    if (o->state_path) st = qy_rec_state_save(m, d, o, r, o->state_path);
    return st;
}

int qy_rec_train(qy_rec_model *m, const qy_rec_data *d, const qy_rec_train_opts *o, qy_pool *pool,
                 qy_rec_train_result *out) {
    memset(out, 0, sizeof *out);
    out->best_value = -1;
    if (!m->ops->epoch || !m->ops->train_spans)
        return qy_error(QY_ERR_UNSUPPORTED, "model %s has no training epochs (qy_rec_model_fit fits it)",
                        m->ops->name);
    int kidx = valid_k_index(o->valid_k);
    if (!o->best_path) return qy_error(QY_ERR_ARG, "training: a path for the best checkpoint is required");
    if (o->patience < 1) return qy_error(QY_ERR_ARG, "training: patience must be >= 1 (got %d)", o->patience);
    if (kidx < 0 || (int)o->valid_metric < 0 || o->valid_metric >= QY_METRIC_COUNT)
        return qy_error(QY_ERR_ARG, "training: the valid metric must be one of %d metrics at 5, 10 or 20",
                        QY_METRIC_COUNT);
    qy_rec_eval_opts vo = o->eval; /* early stopping reads its metric at the default cut-offs */
    qy_rec_eval_opts def = qy_rec_eval_opts_default();
    memcpy(vo.ks, def.ks, sizeof vo.ks);
    vo.n_ks = QY_REC_VALID_NKS;
    int st = qy_rec_model_fit(m, d, pool, NULL, NULL);
    if (st) return st;
    if (o->resume_path) {
        st = qy_rec_state_load(m, d, o, o->resume_path, out);
        if (!st && out->best_len) st = qy_write_file_atomic(o->best_path, out->best_image, out->best_len);
        if (st) return st;
        qy_info("resumed from %s after epoch %d (best epoch %d, valid %s@%d %.4f)", o->resume_path,
                out->resumed_from, out->best_epoch, qy_rec_metric_name(o->valid_metric), o->valid_k,
                out->best_value);
    }
    out->finished = 1;
    while (m->epochs_done < m->p.epochs && m->epochs_done - out->best_epoch < o->patience) {
        st = run_epoch(m, d, o, &vo, kidx, pool, out);
        if (st) return st;
        if (o->on_epoch && o->on_epoch(o->ctx, &out->log[out->n_log - 1])) {
            out->finished = m->epochs_done >= m->p.epochs || m->epochs_done - out->best_epoch >= o->patience;
            break;
        }
    }
    out->epochs_done = m->epochs_done;
    return digest(m, &out->digest);
}
