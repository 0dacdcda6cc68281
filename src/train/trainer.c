/* trainer.c — the training loop on qy_lm: micro-batches from the loader, mean
 * next-token cross-entropy (targets -100 ignored), gradient accumulation, global
 * norm clipping, AdamW at qy_lr_at's rate, held-out evaluation, metrics and
 * checkpoints that resume bit for bit (the model, AdamW's moments, the loader's
 * position and the RNG are all restored; every kernel is deterministic). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include <cjson/cJSON.h>

#include "quarry/train.h"

struct qy_trainer {
    qy_lm *lm;
    qy_params *ps;
    const qy_shard *train, *val;
    qy_train_cfg cfg;
    qy_pool *pool;
    qy_graph *g;
    qy_optim *opt;
    qy_loader *ld, *vld;
    int32_t *ids, *targets;
    uint64_t *samples; /* accum*B sample numbers of the last step */
    qy_rng rng;
    qy_lr_schedule sched;
    int64_t step;
    size_t nparams;
    qy_train_memory mem;
};

void qy_train_cfg_default(qy_train_cfg *c) {
    memset(c, 0, sizeof *c);
    c->batch = 8;
    c->seq_len = 128;
    c->accum = 1;
    c->steps = 100;
    c->lr = 1e-3f;
    c->min_lr_ratio = 0.1f;
    c->schedule = QY_SCHED_COSINE;
    c->weight_decay = 0.1f;
    c->beta1 = 0.9f;
    c->beta2 = 0.95f;
    c->eps = 1e-8f;
    c->clip = 1.0f;
    c->eval_batches = 20;
    c->log_every = 10;
    c->seed = 42;
    c->shuffle = 1;
}

static int check_cfg(const qy_train_cfg *c) {
    if (c->batch < 1 || c->seq_len < 2 || c->accum < 1 || c->steps < 1)
        return qy_error(QY_ERR_ARG,
                        "train: batch (%d), sequence length (%d), accumulation (%d) and steps (%lld) "
                        "must be >= 1 (sequence length >= 2)",
                        c->batch, c->seq_len, c->accum, (long long)c->steps);
    if (!(c->lr > 0) || !(c->clip >= 0) || !(c->min_lr_ratio >= 0 && c->min_lr_ratio <= 1) || c->warmup < 0 ||
        c->eval_every < 0 || c->ckpt_every < 0 || c->eval_batches < 0)
        return qy_error(QY_ERR_ARG, "train: lr must be > 0, clip >= 0, min lr ratio in [0,1], warm-up and "
                                    "intervals >= 0");
    if (!c->out_dir) return qy_error(QY_ERR_ARG, "train: an output folder is required");
    return QY_OK;
}

/* one micro-batch: forward, loss (scaled by `scale`), backward when train */
static int micro_loss(qy_trainer *t, int B, float scale, int reduction, int train, float *loss,
                      uint64_t *ntargets) {
    int T = t->cfg.seq_len;
    int64_t V = qy_lm_get_config(t->lm)->vocab_size;
    uint64_t nt = 0;
    for (size_t i = 0; i < (size_t)B * (size_t)T; i++) nt += t->targets[i] != -100;
    *ntargets = nt;
    *loss = 0;
    if (nt == 0) return QY_OK; /* nothing to learn from (all masked) */
    qy_graph_reset(t->g);
    qy_graph_set_grad_enabled(t->g, train);
    qy_lm_batch b = {.B = B, .T = T, .ids = t->ids};
    qy_tensor *logits;
    int st = qy_lm_forward(t->lm, t->g, &b, NULL, &logits);
    if (st) return st;
    qy_tensor *l = qy_cross_entropy(t->g, qy_reshape(t->g, logits, 2, (int64_t[]){(int64_t)B * T, V}),
                                    t->targets, NULL, -100, reduction);
    if (scale != 1.0f) l = qy_scale(t->g, l, scale);
    if ((st = qy_graph_status(t->g))) return st;
    *loss = l->data[0] / scale;
    if (train) st = qy_graph_backward(t->g, l);
    return st;
}

/* prompt/response shards: documents whose response starts beyond T+1 tokens teach
 * nothing; refuse when none has a target, warn when some have none */
static int check_masked_targets(const qy_shard *s, int T, const char *what) {
    const uint8_t *mask = qy_shard_mask(s);
    if (!mask) return QY_OK;
    const uint64_t *docs = qy_shard_docs(s);
    uint64_t n = qy_shard_ndocs(s), empty = 0;
    for (uint64_t d = 0; d < n; d++) {
        uint64_t len = docs[d + 1] - docs[d], has = 0;
        if (len > (uint64_t)T + 1) len = (uint64_t)T + 1;
        for (uint64_t k = 1; k < len && !has; k++) has = mask[docs[d] + k];
        empty += !has;
    }
    if (n && empty == n)
        return qy_error(QY_ERR_ARG,
                        "train: no %s document has a response token within the first %d tokens: raise the "
                        "sequence length",
                        what, T + 1);
    if (empty)
        qy_warn(
            "train: %llu of %llu %s documents have no response token within the first %d tokens (they are "
            "skipped): raise the sequence length",
            (unsigned long long)empty, (unsigned long long)n, what, T + 1);
    return QY_OK;
}

static int dry_run_activations(qy_trainer *t, size_t *bytes) {
    qy_graph *g;
    int st = qy_graph_new(t->pool, &g);
    if (st) return st;
    qy_graph *keep = t->g;
    t->g = g;
    int T = t->cfg.seq_len;
    for (int i = 0; i < T; i++) {
        t->ids[i] = 0;
        t->targets[i] = 0;
    }
    float loss;
    uint64_t nt;
    st = micro_loss(t, 1, 1.0f, QY_REDUCE_MEAN, 1, &loss, &nt);
    *bytes = qy_graph_peak_bytes(g);
    qy_params_zero_grad(t->ps);
    qy_graph_free(g);
    t->g = keep;
    return st;
}

static const char *mib(size_t b, char *buf, size_t cap) {
    snprintf(buf, cap, "%.1f MiB", (double)b / (1024.0 * 1024.0));
    return buf;
}

int qy_trainer_new(qy_lm *lm, const qy_shard *train, const qy_shard *val, const qy_train_cfg *cfg,
                   qy_pool *pool, qy_trainer **out) {
    *out = NULL;
    int st = check_cfg(cfg);
    if (st) return st;
    const qy_lm_config *mc = qy_lm_get_config(lm);
    if (!mc->is_decoder)
        return qy_error(QY_ERR_ARG, "train: %s is not a causal language model", mc->model_type);
    if ((int64_t)qy_shard_vocab(train) > mc->vocab_size ||
        (val && (int64_t)qy_shard_vocab(val) > mc->vocab_size))
        return qy_error(QY_ERR_ARG,
                        "train: the shards' vocabulary (%u) is larger than the model's vocab_size (%lld)",
                        qy_shard_vocab(train), (long long)mc->vocab_size);
    if (cfg->seq_len > mc->max_positions)
        return qy_error(QY_ERR_ARG, "train: sequence length %d exceeds the model's %lld positions",
                        cfg->seq_len, (long long)mc->max_positions);
    if ((st = check_masked_targets(train, cfg->seq_len, "training")) ||
        (val && (st = check_masked_targets(val, cfg->seq_len, "held-out"))))
        return st;
    qy_trainer *t = qy_calloc(1, sizeof *t);
    if (!t) return QY_ERR_NOMEM;
    t->lm = lm;
    t->ps = qy_lm_params(lm);
    t->train = train;
    t->val = val;
    t->cfg = *cfg;
    if (t->cfg.log_every < 1) t->cfg.log_every = 1;
    t->pool = pool;
    t->nparams = qy_params_numel(t->ps);
    qy_rng_seed(&t->rng, cfg->seed);
    t->sched = (qy_lr_schedule){cfg->schedule, cfg->lr, cfg->warmup, cfg->steps, cfg->min_lr_ratio};
    size_t BT = (size_t)cfg->batch * (size_t)cfg->seq_len;
    t->ids = qy_mallocn(BT, sizeof *t->ids);
    t->targets = qy_mallocn(BT, sizeof *t->targets);
    t->samples = qy_mallocn((size_t)cfg->batch * (size_t)cfg->accum, sizeof *t->samples);
    if (!t->ids || !t->targets || !t->samples) {
        st = QY_ERR_NOMEM;
        goto fail;
    }
    /* memory, before anything large is allocated */
    t->mem.weights = t->nparams * sizeof(float);
    t->mem.grads = t->mem.weights;
    t->mem.adamw = 2 * t->mem.weights;
    t->mem.buffers = BT * 8 + (size_t)cfg->batch * (size_t)cfg->accum * 8 +
                     (size_t)((qy_shard_mask(train) ? qy_shard_ndocs(train)
                                                    : qy_shard_ntokens(train) / (uint64_t)cfg->seq_len) *
                              8);
    if ((st = dry_run_activations(t, &t->mem.activations))) goto fail;
    t->mem.activations *= (size_t)cfg->batch;
    t->mem.total = t->mem.weights + t->mem.grads + t->mem.adamw + t->mem.activations + t->mem.buffers;
    if (cfg->max_memory && t->mem.total > cfg->max_memory) {
        char a[32], b[32], c[32], d[32], e[32], m[32];
        st = qy_error(QY_ERR_RANGE,
                      "train: needs %s (weights %s, grads %s, AdamW %s, activations %s at batch %d) "
                      "but --max-memory is %s: lower the batch or sequence length or the model size",
                      mib(t->mem.total, a, sizeof a), mib(t->mem.weights, b, sizeof b),
                      mib(t->mem.grads, c, sizeof c), mib(t->mem.adamw, d, sizeof d),
                      mib(t->mem.activations, e, sizeof e), cfg->batch, mib(cfg->max_memory, m, sizeof m));
        goto fail;
    }
    qy_adamw_cfg ac = {.lr = cfg->lr,
                       .beta1 = cfg->beta1,
                       .beta2 = cfg->beta2,
                       .eps = cfg->eps,
                       .weight_decay = cfg->weight_decay};
    if ((st = qy_adamw_new(t->ps, &ac, &t->opt))) goto fail;
    if ((st = qy_graph_new(pool, &t->g))) goto fail;
    if ((st = qy_loader_new(train, cfg->seq_len, cfg->seed, cfg->shuffle, &t->ld))) goto fail;
    if (val && (st = qy_loader_new(val, cfg->seq_len, cfg->seed, 0, &t->vld))) goto fail;
    *out = t;
    return QY_OK;
fail:
    qy_trainer_free(t);
    return st;
}

void qy_trainer_free(qy_trainer *t) {
    if (!t) return;
    qy_graph_free(t->g);
    qy_optim_free(t->opt);
    qy_loader_free(t->ld);
    qy_loader_free(t->vld);
    qy_free(t->ids);
    qy_free(t->targets);
    qy_free(t->samples);
    qy_free(t);
}

const qy_train_memory *qy_trainer_memory(const qy_trainer *t) { return &t->mem; }
int64_t qy_trainer_step_index(const qy_trainer *t) { return t->step; }

int qy_trainer_step(qy_trainer *t, qy_step_stats *out) {
    uint64_t t0 = qy_now_ns();
    int B = t->cfg.batch;
    qy_params_zero_grad(t->ps);
    double loss_sum = 0;
    uint64_t ntok = 0;
    int counted = 0;
    for (int a = 0; a < t->cfg.accum; a++) {
        int st = qy_loader_next(t->ld, B, t->ids, t->targets, t->samples + (size_t)a * (size_t)B);
        float l;
        uint64_t nt;
        if (!st) st = micro_loss(t, B, 1.0f / (float)t->cfg.accum, QY_REDUCE_MEAN, 1, &l, &nt);
        if (st) return st;
        if (nt) {
            loss_sum += l;
            counted++;
        }
        ntok += nt;
    }
    float norm = 0;
    if (t->cfg.clip > 0) {
        int st = qy_clip_grad_norm(t->ps, t->cfg.clip, t->pool, &norm);
        if (st) return st;
    }
    float lr = qy_lr_at(&t->sched, t->step);
    int st = qy_optim_step(t->opt, lr);
    if (st) return st;
    t->step++;
    if (out) {
        out->step = t->step;
        out->loss = counted ? (float)(loss_sum / counted) : NAN;
        out->grad_norm = norm;
        out->lr = lr;
        out->tokens = ntok;
        out->seconds = qy_seconds_since(t0);
    }
    return QY_OK;
}

int qy_trainer_eval(qy_trainer *t, double *loss) {
    *loss = NAN;
    if (!t->vld) return qy_error(QY_ERR_ARG, "train: no held-out shard to evaluate on");
    int B = t->cfg.batch, T = t->cfg.seq_len;
    uint64_t n = qy_loader_nsamples(t->vld);
    if (t->cfg.eval_batches > 0 && (uint64_t)t->cfg.eval_batches * (uint64_t)B < n)
        n = (uint64_t)t->cfg.eval_batches * (uint64_t)B;
    double sum = 0;
    uint64_t count = 0;
    int st = QY_OK;
    for (uint64_t i = 0; i < n && !st; i += (uint64_t)B) {
        int b = (int)(n - i < (uint64_t)B ? n - i : (uint64_t)B);
        for (int k = 0; k < b; k++)
            qy_loader_sample(t->vld, i + (uint64_t)k, t->ids + (size_t)k * (size_t)T,
                             t->targets + (size_t)k * (size_t)T);
        float l;
        uint64_t nt;
        st = micro_loss(t, b, 1.0f, QY_REDUCE_SUM, 0, &l, &nt);
        sum += l;
        count += nt;
    }
    qy_graph_set_grad_enabled(t->g, 1);
    if (!st) *loss = count ? sum / (double)count : NAN;
    return st;
}

/* ------------------------------------------------------------ checkpoints */

static const char STATE_MAGIC[8] = {'Q', 'Y', 'T', 'R', 'A', 'I', 'N', 'S'};
enum { STATE_VERSION = 1, STATE_HEADER = 128 };

static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t params_hash(const qy_params *ps) {
    XXH64_state_t *h = XXH64_createState();
    uint64_t r = 0;
    if (!h) return 0;
    XXH64_reset(h, 0);
    for (size_t i = 0; i < qy_params_count(ps); i++) {
        const qy_tensor *p = qy_params_at(ps, i);
        XXH64_update(h, p->data, p->n * sizeof(float));
    }
    r = XXH64_digest(h);
    XXH64_freeState(h);
    return r;
}

/* header fields, in order, each u64 */
enum {
    H_STEP,
    H_EPOCH,
    H_POS,
    H_RNG0,
    H_RNG3 = H_RNG0 + 3,
    H_NSTATE,
    H_NPARAMS,
    H_B,
    H_T,
    H_ACCUM,
    H_SEED,
    H_PHASH,
    H_COUNT
};

static int state_path(const char *dir, char *buf, size_t cap) {
    if ((size_t)snprintf(buf, cap, "%s/trainer_state.qyc", dir) >= cap)
        return qy_error(QY_ERR_ARG, "checkpoint path too long: %s", dir);
    return QY_OK;
}

/* AdamW's moments, parameter by parameter: m (n floats) then v (n floats) */
static int write_moments(qy_trainer *t, qy_afile *af, XXH64_state_t *h) {
    for (size_t i = 0; i < qy_params_count(t->ps); i++) {
        float *m, *v;
        int st = qy_optim_param_state(t->opt, i, &m, &v);
        size_t bytes = qy_params_at(t->ps, i)->n * sizeof(float);
        if (st) return st;
        if (h) {
            XXH64_update(h, m, bytes);
            XXH64_update(h, v, bytes);
        } else if ((st = qy_afile_write(af, m, bytes)) || (st = qy_afile_write(af, v, bytes))) {
            return st;
        }
    }
    return QY_OK;
}

int qy_trainer_save(qy_trainer *t, const char *dir) {
    int st = qy_lm_save(t->lm, dir);
    if (st) return st;
    size_t nstate = 2 * t->nparams;
    char path[4096];
    if ((st = state_path(dir, path, sizeof path))) return st;
    uint8_t hdr[STATE_HEADER] = {0};
    memcpy(hdr, STATE_MAGIC, 8);
    put64(hdr + 8, STATE_VERSION);
    uint64_t f[H_COUNT];
    qy_loader_state ls = qy_loader_get_state(t->ld);
    f[H_STEP] = (uint64_t)t->step;
    f[H_EPOCH] = ls.epoch;
    f[H_POS] = ls.pos;
    for (int i = 0; i < 4; i++) f[H_RNG0 + i] = t->rng.s[i];
    f[H_NSTATE] = nstate;
    f[H_NPARAMS] = t->nparams;
    f[H_B] = (uint64_t)t->cfg.batch;
    f[H_T] = (uint64_t)t->cfg.seq_len;
    f[H_ACCUM] = (uint64_t)t->cfg.accum;
    f[H_SEED] = t->cfg.seed;
    f[H_PHASH] = params_hash(t->ps);
    for (int i = 0; i < H_COUNT; i++) put64(hdr + 16 + 8 * i, f[i]);
    XXH64_state_t *h = XXH64_createState();
    if (!h) return qy_error(QY_ERR_NOMEM, "checkpoint: out of memory");
    XXH64_reset(h, 0);
    XXH64_update(h, hdr, sizeof hdr);
    st = write_moments(t, NULL, h);
    uint8_t sum[8];
    put64(sum, XXH64_digest(h));
    XXH64_freeState(h);
    if (st) return st;
    qy_afile *af;
    if ((st = qy_afile_open(path, &af))) return st;
    st = qy_afile_write(af, hdr, sizeof hdr);
    if (!st) st = write_moments(t, af, NULL);
    if (!st) st = qy_afile_write(af, sum, sizeof sum);
    if (st) {
        qy_afile_abort(af);
        return st;
    }
    if ((st = qy_afile_commit(af))) return st;
    if (t->cfg.on_save) st = t->cfg.on_save(t->cfg.on_save_ctx, dir);
    return st;
}

static int check_field(const char *path, const char *what, uint64_t have, uint64_t want) {
    if (have == want) return QY_OK;
    return qy_error(QY_ERR_ARG, "%s: the checkpoint was made with %s %llu, this run has %llu", path, what,
                    (unsigned long long)have, (unsigned long long)want);
}

int qy_trainer_load(qy_trainer *t, const char *dir) {
    char path[4096];
    int st = state_path(dir, path, sizeof path);
    if (st) return st;
    size_t nstate = 2 * t->nparams;
    char *buf;
    size_t len;
    if ((st = qy_read_file(path, (size_t)STATE_HEADER + nstate * sizeof(float) + 1024, &buf, &len)))
        return st;
    const uint8_t *p = (const uint8_t *)buf;
    uint64_t f[H_COUNT];
    if (len < STATE_HEADER + 8 || memcmp(p, STATE_MAGIC, 8)) {
        st = qy_error(QY_ERR_FORMAT, "%s: not a quarry trainer state (%s)", path,
                      len < STATE_HEADER + 8 ? "too short" : "magic is not \"QYTRAINS\"");
        goto done;
    }
    if (get64(p + 8) != STATE_VERSION) {
        st = qy_error(QY_ERR_UNSUPPORTED, "%s: trainer state version %llu, this quarry reads %d", path,
                      (unsigned long long)get64(p + 8), STATE_VERSION);
        goto done;
    }
    for (int i = 0; i < H_COUNT; i++) f[i] = get64(p + 16 + 8 * i);
    if ((st = check_field(path, "parameter count", f[H_NPARAMS], t->nparams)) ||
        (st = check_field(path, "optimizer state size", f[H_NSTATE], nstate)) ||
        (st = check_field(path, "batch", f[H_B], (uint64_t)t->cfg.batch)) ||
        (st = check_field(path, "sequence length", f[H_T], (uint64_t)t->cfg.seq_len)) ||
        (st = check_field(path, "accumulation", f[H_ACCUM], (uint64_t)t->cfg.accum)) ||
        (st = check_field(path, "seed", f[H_SEED], t->cfg.seed)))
        goto done;
    if (len != STATE_HEADER + nstate * sizeof(float) + 8) {
        st = qy_error(QY_ERR_FORMAT, "%s: %zu bytes, expected %zu (truncated?)", path, len,
                      STATE_HEADER + nstate * sizeof(float) + 8);
        goto done;
    }
    if (XXH64(p, len - 8, 0) != get64(p + len - 8)) {
        st = qy_error(QY_ERR_FORMAT, "%s: checksum mismatch (the file is corrupt)", path);
        goto done;
    }
    if (f[H_STEP] > (uint64_t)t->cfg.steps) {
        st = qy_error(QY_ERR_ARG, "%s: checkpoint at step %llu is past the run's %lld steps", path,
                      (unsigned long long)f[H_STEP], (long long)t->cfg.steps);
        goto done;
    }
    /* parameters from the Hugging Face folder */
    qy_lm *saved;
    if ((st = qy_lm_load(dir, &saved))) goto done;
    qy_params *sp = qy_lm_params(saved);
    if (qy_params_count(sp) != qy_params_count(t->ps) || qy_params_numel(sp) != t->nparams) {
        st = qy_error(QY_ERR_ARG, "%s: the checkpoint's model has a different shape", dir);
    } else {
        for (size_t i = 0; i < qy_params_count(sp); i++) {
            qy_tensor *a = qy_params_at(t->ps, i), *b = qy_params_at(sp, i);
            memcpy(a->data, b->data, a->n * sizeof(float));
        }
        if (params_hash(t->ps) != f[H_PHASH])
            st = qy_error(QY_ERR_FORMAT,
                          "%s: model.safetensors does not hold the parameters this trainer state was "
                          "saved with",
                          dir);
    }
    qy_lm_free(saved);
    if (st) goto done;
    const uint8_t *q = p + STATE_HEADER;
    for (size_t i = 0; i < qy_params_count(t->ps) && !st; i++) {
        float *m, *v;
        size_t bytes = qy_params_at(t->ps, i)->n * sizeof(float);
        if ((st = qy_optim_param_state(t->opt, i, &m, &v))) break;
        memcpy(m, q, bytes);
        memcpy(v, q + bytes, bytes);
        q += 2 * bytes;
    }
    if (st) goto done;
    qy_optim_set_steps(t->opt, (int64_t)f[H_STEP]);
    t->step = (int64_t)f[H_STEP];
    for (int i = 0; i < 4; i++) t->rng.s[i] = f[H_RNG0 + i];
    st = qy_loader_set_state(t->ld, (qy_loader_state){f[H_EPOCH], f[H_POS]});
done:
    qy_free(buf);
    return st;
}

int qy_train_latest_checkpoint(const char *out_dir, char *buf, size_t cap) {
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoints/latest", out_dir);
    if (!qy_file_exists(path)) return qy_error(QY_ERR_NOT_FOUND, "%s: no checkpoint to resume from", out_dir);
    char *name;
    size_t len;
    int st = qy_read_file(path, 256, &name, &len);
    if (st) return st;
    while (len && (name[len - 1] == '\n' || name[len - 1] == '\r')) name[--len] = '\0';
    if (!len || strchr(name, '/'))
        st = qy_error(QY_ERR_FORMAT, "%s: expected a checkpoint folder name", path);
    else if ((size_t)snprintf(buf, cap, "%s/checkpoints/%s", out_dir, name) >= cap)
        st = qy_error(QY_ERR_ARG, "%s: path too long", path);
    qy_free(name);
    return st;
}

static int save_checkpoint(qy_trainer *t) {
    char dir[4096], name[64];
    snprintf(name, sizeof name, "step-%07lld", (long long)t->step);
    if ((size_t)snprintf(dir, sizeof dir, "%s/checkpoints/%s", t->cfg.out_dir, name) >= sizeof dir)
        return qy_error(QY_ERR_ARG, "%s: path too long", t->cfg.out_dir);
    int st = qy_trainer_save(t, dir);
    if (st) return st;
    char latest[4096], line[80];
    snprintf(latest, sizeof latest, "%s/checkpoints/latest", t->cfg.out_dir);
    int n = snprintf(line, sizeof line, "%s\n", name);
    return qy_write_file_atomic(latest, line, (size_t)n);
}

/* ----------------------------------------------------------------- run loop */

/* keep the metrics records up to the current step (a resumed run rewrites the rest) */
static int trim_metrics(const char *path, int64_t step) {
    if (!qy_file_exists(path)) return QY_OK;
    char *text;
    size_t len;
    int st = qy_read_file(path, 0, &text, &len);
    if (st) return st;
    size_t keep = 0;
    for (size_t off = 0; off < len;) {
        char *nl = memchr(text + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - text) + 1 : len;
        cJSON *o = cJSON_ParseWithLength(text + off, end - off);
        const cJSON *s = o ? cJSON_GetObjectItemCaseSensitive(o, "step") : NULL;
        int ok = cJSON_IsNumber(s) && s->valuedouble <= (double)step;
        cJSON_Delete(o);
        if (!ok) break;
        keep = end;
        off = end;
    }
    st = qy_write_file_atomic(path, text, keep);
    qy_free(text);
    return st;
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int write_record(FILE *f, cJSON *o, const char *path) {
    char *s = qy_json_print(o, 0);
    cJSON_Delete(o);
    if (!s) return qy_error(QY_ERR_NOMEM, "%s: out of memory", path);
    int bad = fprintf(f, "%s\n", s) < 0 || fflush(f) != 0;
    qy_free(s);
    return bad ? qy_error(QY_ERR_IO, "%s: write failed", path) : QY_OK;
}

int qy_trainer_run(qy_trainer *t, qy_train_cb cb, void *cb_ctx) {
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", t->cfg.out_dir);
    int st = qy_mkdir_p(t->cfg.out_dir);
    if (!st) st = trim_metrics(path, t->step);
    if (st) return st;
    FILE *f = fopen(path, "a");
    if (!f) return qy_error(QY_ERR_IO, "%s: cannot open for appending", path);
    int64_t tokens_per_step = (int64_t)t->cfg.batch * t->cfg.seq_len * t->cfg.accum;
    double flops_per_token = 6.0 * (double)t->nparams;
    uint64_t t_run = qy_now_ns();
    double cpu0 = cpu_seconds(), window_s = 0, loss_window = 0;
    int64_t window_steps = 0;
    int64_t total = t->cfg.steps;
    int64_t last = t->cfg.stop_after > 0 && t->cfg.stop_after < total ? t->cfg.stop_after : total;
    while (!st && t->step < last) {
        qy_step_stats ss;
        if ((st = qy_trainer_step(t, &ss))) break;
        window_s += ss.seconds;
        window_steps++;
        loss_window += ss.loss;
        double tps = (double)tokens_per_step / ss.seconds;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "step", (double)ss.step);
        cJSON_AddNumberToObject(o, "loss", ss.loss);
        cJSON_AddNumberToObject(o, "lr", ss.lr);
        cJSON_AddNumberToObject(o, "grad_norm", ss.grad_norm);
        cJSON_AddNumberToObject(o, "tokens", (double)tokens_per_step);
        cJSON_AddNumberToObject(o, "target_tokens", (double)ss.tokens);
        cJSON_AddNumberToObject(o, "step_s", ss.seconds);
        cJSON_AddNumberToObject(o, "tokens_per_s", tps);
        cJSON_AddNumberToObject(o, "flops_per_s", tps * flops_per_token);
        cJSON_AddNumberToObject(o, "elapsed_s", qy_seconds_since(t_run));
        cJSON_AddNumberToObject(o, "cpu_s", cpu_seconds() - cpu0);
        if (t->cfg.log_samples) {
            cJSON *a = cJSON_AddArrayToObject(o, "samples");
            for (int i = 0; i < t->cfg.batch * t->cfg.accum; i++)
                cJSON_AddItemToArray(a, cJSON_CreateNumber((double)t->samples[i]));
        }
        if ((st = write_record(f, o, path))) break;
        if (ss.step % t->cfg.log_every == 0 || ss.step == total) {
            double wtps = (double)(tokens_per_step * window_steps) / window_s;
            if (!t->cfg.quiet)
                qy_info("step %lld/%lld | loss %.4f | lr %.3e | norm %.3f | %.0f tok/s | %.2f GFLOP/s (6ND)",
                        (long long)ss.step, (long long)total, loss_window / (double)window_steps, ss.lr,
                        ss.grad_norm, wtps, wtps * flops_per_token * 1e-9);
            if (cb) {
                qy_train_event ev = {&ss, NAN, wtps, wtps * flops_per_token, ss.step};
                if (cb(cb_ctx, &ev))
                    st = qy_error(QY_ERR_CANCELLED, "train: stopped at step %lld", (long long)ss.step);
            }
            window_s = 0;
            window_steps = 0;
            loss_window = 0;
        }
        if (!st && t->vld && ((t->cfg.eval_every && ss.step % t->cfg.eval_every == 0) || ss.step == total)) {
            double el;
            uint64_t te = qy_now_ns();
            if ((st = qy_trainer_eval(t, &el))) break;
            o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "step", (double)ss.step);
            cJSON_AddNumberToObject(o, "eval_loss", el);
            cJSON_AddNumberToObject(o, "eval_s", qy_seconds_since(te));
            if ((st = write_record(f, o, path))) break;
            if (!t->cfg.quiet)
                qy_info("step %lld/%lld | eval loss %.4f", (long long)ss.step, (long long)total, el);
            if (cb) {
                qy_train_event ev = {NULL, el, 0, 0, ss.step};
                if (cb(cb_ctx, &ev))
                    st = qy_error(QY_ERR_CANCELLED, "train: stopped at step %lld", (long long)ss.step);
            }
        }
        if (!st && ((t->cfg.ckpt_every && ss.step % t->cfg.ckpt_every == 0) || ss.step == last))
            st = save_checkpoint(t);
    }
    if (fclose(f) != 0 && !st) st = qy_error(QY_ERR_IO, "%s: close failed", path);
    return st;
}
