/* lm_train.c — `quarry lm train`: tokenise text/JSONL once into shards, build or
 * load a model, train with AdamW + schedule, evaluate, checkpoint, resume, and
 * plot the loss curves with gnuplot. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/lm_cli.h"
#include "quarry/chat.h"
#include "quarry/text.h"
#include "quarry/train.h"

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* "512M", "2G", "1.5GiB", "1000000" -> bytes */
static int parse_bytes(const char *s, size_t *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0)) return -1;
    while (*end == ' ') end++;
    double mult = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mult = 1024.0; break;
    case 'M': mult = 1024.0 * 1024; break;
    case 'G': mult = 1024.0 * 1024 * 1024; break;
    case 'T': mult = 1024.0 * 1024 * 1024 * 1024; break;
    case '\0': break;
    default: return -1;
    }
    if (*end) {
        end++;
        if (*end == 'i' || *end == 'I') end++;
        if (*end == 'B' || *end == 'b') end++;
        if (*end) return -1;
    }
    *out = (size_t)(v * mult);
    return 0;
}

static const char *mib(size_t b, char *buf, size_t cap) {
    snprintf(buf, cap, "%.1f MiB", (double)b / (1024.0 * 1024.0));
    return buf;
}

static int save_tokenizer(void *ctx, const char *dir) { return lm_tok_save(ctx, dir); }

/* gnuplot data files from metrics.jsonl, then the plot; returns 1 if drawn */
static int plot_losses(const char *out_dir, char *png, size_t cap) {
    char path[4096], dtrain[4096], deval[4096], gp[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", out_dir);
    snprintf(dtrain, sizeof dtrain, "%s/loss_train.dat", out_dir);
    snprintf(deval, sizeof deval, "%s/loss_eval.dat", out_dir);
    snprintf(gp, sizeof gp, "%s/loss.gp", out_dir);
    snprintf(png, cap, "%s/loss.png", out_dir);
    char *text;
    size_t len;
    if (qy_read_file(path, 0, &text, &len)) return 0;
    FILE *ft = fopen(dtrain, "w"), *fe = fopen(deval, "w");
    int neval = 0;
    for (size_t off = 0; ft && fe && off < len;) {
        char *nl = memchr(text + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - text) + 1 : len;
        cJSON *o = cJSON_ParseWithLength(text + off, end - off);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "step");
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "loss");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "eval_loss");
        if (cJSON_IsNumber(s) && cJSON_IsNumber(l)) fprintf(ft, "%d %.6f\n", s->valueint, l->valuedouble);
        if (cJSON_IsNumber(s) && cJSON_IsNumber(e)) {
            fprintf(fe, "%d %.6f\n", s->valueint, e->valuedouble);
            neval++;
        }
        cJSON_Delete(o);
        off = end;
    }
    qy_free(text);
    if (ft) fclose(ft);
    if (fe) fclose(fe);
    FILE *fg = fopen(gp, "w");
    if (!fg) return 0;
    fprintf(fg,
            "set terminal pngcairo size 900,560 noenhanced\nset output '%s'\n"
            "set title 'quarry lm train: %s'\nset xlabel 'optimizer step'\nset ylabel 'cross-entropy "
            "(nats/token)'\n"
            "set grid\nset key top right\n"
            "plot '%s' using 1:2 with lines lw 1 lc rgb '#9ab' title 'train (per step)'%s%s%s\n",
            png, out_dir, dtrain, neval ? ", '" : "", neval ? deval : "",
            neval ? "' using 1:2 with linespoints lw 2 pt 7 lc rgb '#c33' title 'held-out'" : "");
    fclose(fg);
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        qy_warn("gnuplot not found: skipping the loss plot (data and script are in %s)", out_dir);
        return 0;
    }
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>/dev/null", gp);
    if (system(cmd) != 0) {
        /* no cairo terminal: fall back to the SVG terminal of gnuplot-nox */
        snprintf(png, cap, "%s/loss.svg", out_dir);
        snprintf(
            cmd, sizeof cmd,
            "sed -i \"1,2c set terminal svg size 900,560 noenhanced\\nset output '%s'\" '%s' && gnuplot '%s'",
            png, gp, gp);
        if (system(cmd) != 0) {
            qy_warn("gnuplot failed: no loss plot (data and script are in %s)", out_dir);
            return 0;
        }
    }
    return 1;
}

typedef struct train_opts {
    const char *config, *init, *out, *val, *tokenizer, *chat, *system, *schedule, *max_memory;
    long tokenizer_vocab, stop_after, steps, batch, seq_len, accum, warmup, eval_every, eval_batches,
        ckpt_every, log_every;
    double lr, min_lr_ratio, weight_decay, beta1, beta2, clip, val_fraction, init_std;
    int resume, no_shuffle, log_samples, no_plot;
} train_opts;

/* the training and held-out shards: given, or tokenised into OUT/data once */
static int prepare_data(const train_opts *o, char **files, int nfiles, lm_tok *tok, char *train_path,
                        char *val_path, size_t cap, int *have_val) {
    *have_val = 0;
    if (nfiles == 1 && has_suffix(files[0], ".qyt")) {
        snprintf(train_path, cap, "%s", files[0]);
        if (o->val) {
            snprintf(val_path, cap, "%s", o->val);
            *have_val = 1;
        }
        return QY_OK;
    }
    for (int i = 0; i < nfiles; i++)
        if (has_suffix(files[i], ".qyt"))
            return qy_error(QY_ERR_ARG, "train: give one .qyt shard or text/JSONL files, not both (%s)",
                            files[i]);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/data", o->out);
    snprintf(train_path, cap, "%s/train.qyt", dir);
    snprintf(val_path, cap, "%s/val.qyt", dir);
    *have_val = o->val_fraction > 0;
    if (o->resume && qy_file_exists(train_path)) return QY_OK; /* tokenised by the first run */
    int st = qy_mkdir_p(dir);
    if (st) return st;
    qy_prepare_cfg pc = {.vocab_size = (uint32_t)lm_tok_vocab(tok),
                         .eos_id = lm_tok_eos(tok),
                         .val_fraction = o->val_fraction,
                         .system = o->system};
    if (o->chat) {
        qy_chat_format_kind k;
        if ((st = qy_chat_parse_kind(o->chat, &k))) return st;
        pc.chat = 1;
        pc.chat_kind = (int)k;
    }
    qy_prepare_stats ps;
    st = qy_shard_prepare(&pc, (const char *const *)files, (size_t)nfiles, lm_tok_encode, tok, train_path,
                          *have_val ? val_path : NULL, &ps);
    if (st) return st;
    qy_info(
        "data: %llu bytes -> %llu training tokens (%llu documents), %llu held-out tokens, %s, tokenizer %s, "
        "%.2f s (%.1f MB/s)",
        (unsigned long long)ps.bytes, (unsigned long long)ps.train_tokens, (unsigned long long)ps.train_docs,
        (unsigned long long)ps.val_tokens,
        ps.masked ? "loss on responses / assistant turns only" : "loss on every token", lm_tok_name(tok),
        ps.seconds, ps.seconds > 0 ? (double)ps.bytes / ps.seconds * 1e-6 : 0.0);
    return QY_OK;
}

/* a byte-level BPE learnt on the (text) data files, OUT/tokenizer.json; kept on --resume */
static int train_tokenizer(const train_opts *o, char **files, int nfiles, int threads, char *path,
                           size_t cap) {
    snprintf(path, cap, "%s/tokenizer.json", o->out);
    if (o->resume && qy_file_exists(path)) return QY_OK;
    if (o->tokenizer_vocab < 257 || o->tokenizer_vocab > 1 << 20)
        return qy_error(
            QY_ERR_ARG,
            "train: --tokenizer-vocab %ld must be in 257..1048576 (256 bytes + merges + <|endoftext|>)",
            o->tokenizer_vocab);
    for (int i = 0; i < nfiles; i++)
        if (has_suffix(files[i], ".qyt"))
            return qy_error(QY_ERR_ARG, "train: --tokenizer-vocab needs text data, not the shard %s",
                            files[i]);
    int st = qy_mkdir_p(o->out);
    if (st) return st;
    static const char *const specials[] = {"<|endoftext|>"};
    qy_tok_train_params p = {.kind = QY_TOK_TRAIN_BPE,
                             .vocab_size = (size_t)o->tokenizer_vocab,
                             .min_frequency = 2,
                             .special_tokens = specials,
                             .nspecial = 1,
                             .threads = threads};
    return qy_tokenizer_train((const char *const *)files, (size_t)nfiles, &p, path);
}

static int read_model_config(const char *path, qy_lm_config *cfg) {
    char *text;
    size_t len;
    int st = qy_read_file(path, 1 << 20, &text, &len);
    if (st) return st;
    st = qy_lm_config_parse(text, len, path, cfg);
    qy_free(text);
    return st;
}

int qy_lm_cmd_train(int argc, char **argv) {
    train_opts o = {.steps = 200,
                    .batch = 8,
                    .seq_len = 128,
                    .accum = 1,
                    .warmup = -1,
                    .eval_every = 0,
                    .eval_batches = 20,
                    .log_every = 10,
                    .lr = 1e-3,
                    .min_lr_ratio = 0.1,
                    .weight_decay = 0.1,
                    .beta1 = 0.9,
                    .beta2 = 0.95,
                    .clip = 1.0,
                    .val_fraction = 0.1,
                    .init_std = 0.02,
                    .schedule = "cosine"};
    const qy_opt opts[] = {
        {"config", 0, QY_OPT_STRING, "FILE", "architecture as a Hugging Face config.json (fresh model)",
         &o.config},
        {"init", 0, QY_OPT_STRING, "DIR", "fine-tune the model in this Hugging Face folder instead", &o.init},
        {"out", 'o', QY_OPT_STRING, "DIR",
         "output folder: data/, init/, checkpoints/, model/, metrics.jsonl, loss.png", &o.out},
        {"val", 0, QY_OPT_STRING, "FILE", "held-out .qyt shard (with a .qyt training shard)", &o.val},
        {"val-fraction", 0, QY_OPT_DOUBLE, "F",
         "held-out share when tokenising text/JSONL (default 0.1; 0 = none)", &o.val_fraction},
        {"tokenizer", 0, QY_OPT_STRING, "SPEC",
         "bytes | tokenizer.json | model folder (default: --init's; bytes when vocab_size is 257, else a BPE "
         "learnt on DATA)",
         &o.tokenizer},
        {"tokenizer-vocab", 0, QY_OPT_INT, "N",
         "train a byte-level BPE tokenizer of N ids on DATA first (OUT/tokenizer.json)", &o.tokenizer_vocab},
        {"chat", 0, QY_OPT_STRING, "FORMAT",
         "format JSONL pairs and {\"messages\": [...]} conversations with chatml|llama3|llama2", &o.chat},
        {"system", 0, QY_OPT_STRING, "TEXT", "system message for --chat", &o.system},
        {"steps", 0, QY_OPT_INT, "N", "optimizer steps (default 200)", &o.steps},
        {"batch", 'b', QY_OPT_INT, "B", "sequences per micro-batch (default 8)", &o.batch},
        {"seq-len", 0, QY_OPT_INT, "T", "tokens per sequence (default 128)", &o.seq_len},
        {"accum", 0, QY_OPT_INT, "N", "micro-batches per optimizer step (gradient accumulation, default 1)",
         &o.accum},
        {"lr", 0, QY_OPT_DOUBLE, "X", "peak learning rate (default 1e-3)", &o.lr},
        {"min-lr-ratio", 0, QY_OPT_DOUBLE, "X", "final lr as a fraction of the peak (default 0.1)",
         &o.min_lr_ratio},
        {"schedule", 0, QY_OPT_STRING, "KIND", "cosine | linear | constant (default cosine)", &o.schedule},
        {"warmup", 0, QY_OPT_INT, "N", "linear warm-up steps (default steps/20)", &o.warmup},
        {"weight-decay", 0, QY_OPT_DOUBLE, "X", "AdamW weight decay on matrices (default 0.1)",
         &o.weight_decay},
        {"beta1", 0, QY_OPT_DOUBLE, "X", "AdamW beta1 (default 0.9)", &o.beta1},
        {"beta2", 0, QY_OPT_DOUBLE, "X", "AdamW beta2 (default 0.95)", &o.beta2},
        {"clip", 0, QY_OPT_DOUBLE, "X", "max global gradient norm, 0 = off (default 1.0)", &o.clip},
        {"eval-every", 0, QY_OPT_INT, "N", "held-out evaluation every N steps (default: at the end)",
         &o.eval_every},
        {"eval-batches", 0, QY_OPT_INT, "N", "held-out batches per evaluation, 0 = all (default 20)",
         &o.eval_batches},
        {"checkpoint-every", 0, QY_OPT_INT, "N", "checkpoint every N steps (default: at the end)",
         &o.ckpt_every},
        {"log-every", 0, QY_OPT_INT, "N", "progress line every N steps (default 10)", &o.log_every},
        {"stop-after", 0, QY_OPT_INT, "N",
         "end after step N with a checkpoint (the schedule still spans --steps)", &o.stop_after},
        {"resume", 0, QY_OPT_FLAG, NULL, "continue from OUT/checkpoints/latest, bit for bit", &o.resume},
        {"max-memory", 0, QY_OPT_STRING, "SIZE", "refuse to start when training needs more (e.g. 2G, 512M)",
         &o.max_memory},
        {"init-std", 0, QY_OPT_DOUBLE, "X", "std of the normal init of a fresh model (default 0.02)",
         &o.init_std},
        {"no-shuffle", 0, QY_OPT_FLAG, NULL, "visit samples in file order", &o.no_shuffle},
        {"log-samples", 0, QY_OPT_FLAG, NULL, "record each step's sample numbers in metrics.jsonl",
         &o.log_samples},
        {"no-plot", 0, QY_OPT_FLAG, NULL, "do not draw loss.png", &o.no_plot},
        {NULL, 0, 0, NULL, NULL, NULL}};
    qy_cli_spec spec = {
        .usage = "quarry lm train [options] --out DIR (--config FILE | --init DIR) DATA...",
        .description =
            "Train a causal language model. DATA is plain text, JSONL ({\"text\": ...}, {\"prompt\": ...,\n"
            "\"response\": ...} with the loss on the response, or {\"messages\": [{\"role\", \"content\"}, "
            "...]}\n"
            "with --chat and the loss on the assistant turns) or one .qyt token shard. Text is tokenised "
            "once\n"
            "into DIR/data/{train,val}.qyt. Prints the memory needed before starting (refusing a run over\n"
            "--max-memory), a progress line with loss, tokens/s and achieved FLOP/s (6 x parameters x\n"
            "tokens), writes DIR/metrics.jsonl, checkpoints (a Hugging Face folder + optimizer, data-loader\n"
            "and RNG state) in DIR/checkpoints/, the final model in DIR/model/ and DIR/loss.png (gnuplot).\n"
            "--resume continues from the newest checkpoint exactly as if the run had never stopped.",
        .opts = opts,
        .min_pos = 1,
        .max_pos = -1,
        .examples = "  quarry lm train --config tiny.json --out run --steps 500 --seq-len 128 --batch 16 \\\n"
                    "      --eval-every 100 --checkpoint-every 100 input.txt\n"
                    "  quarry lm train --config tiny.json --out run --steps 500 --resume input.txt\n"
                    "  quarry lm train --init run/model --out sft --chat chatml --lr 1e-4 pairs.jsonl\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    if (!o.out) {
        fprintf(stderr, "quarry lm train: --out DIR is required\n");
        return 2;
    }
    if (!o.config == !o.init) {
        fprintf(stderr,
                "quarry lm train: give exactly one of --config FILE (new model) or --init DIR (fine-tune)\n");
        return 2;
    }
    int sched;
    if (!strcmp(o.schedule, "cosine"))
        sched = QY_SCHED_COSINE;
    else if (!strcmp(o.schedule, "linear"))
        sched = QY_SCHED_LINEAR;
    else if (!strcmp(o.schedule, "constant"))
        sched = QY_SCHED_CONSTANT;
    else {
        fprintf(stderr, "quarry lm train: --schedule '%s': expected cosine, linear or constant\n",
                o.schedule);
        return 2;
    }
    size_t max_memory = 0;
    if (o.max_memory && parse_bytes(o.max_memory, &max_memory)) {
        fprintf(stderr, "quarry lm train: --max-memory '%s': expected a size like 512M or 2G\n",
                o.max_memory);
        return 2;
    }
    if (o.steps < 1 || o.batch < 1 || o.seq_len < 2 || o.accum < 1 || o.steps > INT32_MAX ||
        o.batch > 65536 || o.seq_len > 1 << 20 || o.accum > 65536) {
        fprintf(stderr, "quarry lm train: --steps, --batch, --accum must be >= 1 and --seq-len >= 2\n");
        return 2;
    }
    qy_lm *lm = NULL;
    lm_tok *tok = NULL;
    qy_shard *tr = NULL, *va = NULL;
    qy_trainer *t = NULL;
    qy_pool *pool = NULL;
    char train_path[4096], val_path[4096];
    int have_val = 0;
    qy_lm_config mc;
    int st = o.config ? read_model_config(o.config, &mc) : qy_lm_config_read_dir(o.init, &mc);
    char tok_path[4096];
    /* no tokenizer given for a fresh model: bytes when the config has their 257 ids, else
     * a byte-level BPE of the config's vocabulary size learnt on the data */
    int is_shard = npos == 1 && has_suffix(pos[0], ".qyt");
    if (!st && o.config && !o.tokenizer && !o.tokenizer_vocab && !is_shard && mc.vocab_size != 257) {
        o.tokenizer_vocab = (long)mc.vocab_size;
        qy_info("no --tokenizer: learning a byte-level BPE of %ld ids (the config's vocab_size) on the data",
                o.tokenizer_vocab);
    }
    if (!st && o.tokenizer_vocab) {
        st = train_tokenizer(&o, pos, npos, c.threads, tok_path, sizeof tok_path);
        if (!st && (size_t)mc.vocab_size < (size_t)o.tokenizer_vocab)
            st = qy_error(QY_ERR_ARG, "train: --tokenizer-vocab %ld exceeds the config's vocab_size %lld",
                          o.tokenizer_vocab, (long long)mc.vocab_size);
    }
    if (!st)
        st = lm_tok_open(o.tokenizer_vocab ? tok_path
                         : o.tokenizer     ? o.tokenizer
                                           : (o.init ? o.init : "bytes"),
                         &tok);
    if (!st && o.init && mc.n_eos > 0) lm_tok_set_eos(tok, mc.eos_token_ids[0]);
    if (!st && lm_tok_vocab(tok) > (size_t)mc.vocab_size)
        st = qy_error(QY_ERR_ARG, "train: the tokenizer (%s) has %zu ids but the model's vocab_size is %lld",
                      lm_tok_name(tok), lm_tok_vocab(tok), (long long)mc.vocab_size);
    if (!st) st = prepare_data(&o, pos, npos, tok, train_path, val_path, sizeof train_path, &have_val);
    if (!st) st = qy_shard_open(train_path, &tr);
    if (!st && have_val) st = qy_shard_open(val_path, &va);
    if (!st && max_memory) { /* the model alone, before allocating it */
        qy_lm_spec *ms;
        qy_lm_memory mm;
        if (!(st = qy_lm_spec_new(&mc, &ms))) {
            st = qy_lm_spec_memory(ms, &mm);
            qy_lm_spec_free(ms);
            char a[32], b[32];
            if (!st && mm.total > max_memory)
                st = qy_error(QY_ERR_RANGE,
                              "train: weights, gradients and AdamW state alone need %s, over "
                              "--max-memory %s",
                              mib(mm.total, a, sizeof a), mib(max_memory, b, sizeof b));
        }
    }
    if (!st) st = o.config ? qy_lm_new(&mc, (float)o.init_std, c.seed, &lm) : qy_lm_load(o.init, &lm);
    if (!st) st = qy_pool_new(c.threads, &pool);
    qy_train_cfg tc;
    qy_train_cfg_default(&tc);
    tc.batch = (int)o.batch;
    tc.seq_len = (int)o.seq_len;
    tc.accum = (int)o.accum;
    tc.steps = o.steps;
    tc.lr = (float)o.lr;
    tc.min_lr_ratio = (float)o.min_lr_ratio;
    tc.warmup = o.warmup >= 0 ? o.warmup : o.steps / 20;
    tc.schedule = sched;
    tc.weight_decay = (float)o.weight_decay;
    tc.beta1 = (float)o.beta1;
    tc.beta2 = (float)o.beta2;
    tc.clip = (float)o.clip;
    tc.eval_every = o.eval_every;
    tc.eval_batches = o.eval_batches;
    tc.ckpt_every = o.ckpt_every;
    tc.log_every = o.log_every;
    tc.stop_after = o.stop_after;
    tc.seed = c.seed;
    tc.shuffle = !o.no_shuffle;
    tc.log_samples = o.log_samples;
    tc.max_memory = max_memory;
    tc.out_dir = o.out;
    tc.quiet = c.quiet;
    tc.on_save = save_tokenizer;
    tc.on_save_ctx = tok;
    if (!st) st = qy_trainer_new(lm, tr, va, &tc, pool, &t);
    char a[32], b[32], cc[32], d[32], e[32], f[32];
    if (!st) {
        const qy_train_memory *m = qy_trainer_memory(t);
        qy_info("model: %s, %zu parameters, %lld layers, hidden %lld, vocab %lld; %d threads",
                qy_lm_get_config(lm)->model_type, qy_params_numel(qy_lm_params(lm)),
                (long long)qy_lm_get_config(lm)->num_layers, (long long)qy_lm_get_config(lm)->hidden_size,
                (long long)qy_lm_get_config(lm)->vocab_size, qy_pool_threads(pool));
        qy_info("memory: weights %s, grads %s, AdamW %s, activations %s (dry run x batch %d), buffers %s: "
                "total %s%s%s",
                mib(m->weights, a, sizeof a), mib(m->grads, b, sizeof b), mib(m->adamw, cc, sizeof cc),
                mib(m->activations, d, sizeof d), tc.batch, mib(m->buffers, e, sizeof e),
                mib(m->total, f, sizeof f), max_memory ? " of --max-memory " : "",
                max_memory ? mib(max_memory, a, sizeof a) : "");
    }
    char ckpt[4096];
    if (!st && o.config && !o.resume) { /* the fresh weights, for peers that start from the same init */
        snprintf(ckpt, sizeof ckpt, "%s/init", o.out);
        st = qy_lm_save(lm, ckpt);
        if (!st) st = lm_tok_save(tok, ckpt);
    }
    if (!st && o.resume) {
        st = qy_train_latest_checkpoint(o.out, ckpt, sizeof ckpt);
        if (!st) st = qy_trainer_load(t, ckpt);
        if (!st) qy_info("resumed from %s at step %lld", ckpt, (long long)qy_trainer_step_index(t));
    }
    uint64_t t0 = qy_now_ns();
    int64_t start_step = t ? qy_trainer_step_index(t) : 0;
    if (!st) st = qy_trainer_run(t, NULL, NULL);
    double secs = qy_seconds_since(t0);
    char model_dir[4096];
    snprintf(model_dir, sizeof model_dir, "%s/model", o.out);
    if (!st) st = qy_lm_save(lm, model_dir);
    if (!st) st = lm_tok_save(tok, model_dir);
    double eval_loss = NAN;
    if (!st && va) st = qy_trainer_eval(t, &eval_loss);
    char plot[4200] = "";
    int plotted = !st && !o.no_plot && plot_losses(o.out, plot, sizeof plot);
    if (!st) {
        int64_t steps_run = qy_trainer_step_index(t) - start_step;
        double tokens = (double)steps_run * (double)(o.batch * o.seq_len * o.accum);
        double tps = secs > 0 ? tokens / secs : 0;
        double flops = 6.0 * (double)qy_params_numel(qy_lm_params(lm)) * tps;
        if (c.json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "out", o.out);
            cJSON_AddStringToObject(j, "model", model_dir);
            cJSON_AddNumberToObject(j, "parameters", (double)qy_params_numel(qy_lm_params(lm)));
            cJSON_AddNumberToObject(j, "steps", (double)o.steps);
            cJSON_AddNumberToObject(j, "steps_run", (double)steps_run);
            cJSON_AddNumberToObject(j, "seconds", secs);
            cJSON_AddNumberToObject(j, "tokens_per_s", tps);
            cJSON_AddNumberToObject(j, "flops_per_s", flops);
            if (va) cJSON_AddNumberToObject(j, "eval_loss", eval_loss);
            const qy_train_memory *m = qy_trainer_memory(t);
            cJSON *mj = cJSON_AddObjectToObject(j, "memory");
            cJSON_AddNumberToObject(mj, "weights", (double)m->weights);
            cJSON_AddNumberToObject(mj, "grads", (double)m->grads);
            cJSON_AddNumberToObject(mj, "adamw", (double)m->adamw);
            cJSON_AddNumberToObject(mj, "activations", (double)m->activations);
            cJSON_AddNumberToObject(mj, "buffers", (double)m->buffers);
            cJSON_AddNumberToObject(mj, "total", (double)m->total);
            if (plotted) cJSON_AddStringToObject(j, "plot", plot);
            char *s = qy_json_print(j, 1);
            if (s) puts(s);
            qy_free(s);
            cJSON_Delete(j);
        } else if (!c.quiet) {
            printf("trained %lld steps in %.1f s: %.0f tokens/s, %.3f GFLOP/s (6ND)\n", (long long)steps_run,
                   secs, tps, flops * 1e-9);
            if (va) printf("held-out loss %.4f (%.4f bits/token)\n", eval_loss, eval_loss / log(2.0));
            printf("model: %s\n", model_dir);
            if (plotted) printf("plot: %s\n", plot);
        }
    }
    qy_trainer_free(t);
    qy_shard_close(tr);
    qy_shard_close(va);
    qy_lm_free(lm);
    lm_tok_free(tok);
    qy_pool_free(pool);
    return st ? qy_cli_fail(st) : 0;
}
