/* lm_generate.c — `quarry lm generate`, `quarry lm score` and `quarry lm chat`:
 * text in, text out, on a model folder's KV-cached decoder. Stop strings are
 * checked after every token on the decoded tail of each row, and of each beam
 * candidate (qy_gen_config.stop), and the text is cut at the first one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/lm_cli.h"
#include "quarry/chat.h"
#include "quarry/gen.h"
#include "quarry/lm.h"

enum { MAX_STOPS = 16, STOP_TAIL = 64 };

typedef struct stop_ctx {
    const lm_tok *tok;
    const char *stops[MAX_STOPS];
    int nstops;
} stop_ctx;

/* first occurrence of any stop string in s, or NULL */
static const char *find_stop(const stop_ctx *sc, const char *s) {
    const char *best = NULL;
    for (int i = 0; i < sc->nstops; i++) {
        const char *p = sc->stops[i][0] ? strstr(s, sc->stops[i]) : NULL;
        if (p && (!best || p < best)) best = p;
    }
    return best;
}

static int stop_check(void *vctx, const int32_t *gen, int len) {
    const stop_ctx *sc = vctx;
    if (!sc->nstops) return 0;
    int from = len > STOP_TAIL ? len - STOP_TAIL : 0;
    char *text;
    if (lm_tok_decode(sc->tok, gen + from, (size_t)(len - from), &text, NULL)) return 0;
    int hit = find_stop(sc, text) != NULL;
    qy_free(text);
    return hit;
}

typedef struct gen_opts {
    long max_new, top_k, no_repeat, num_beams, num_return;
    double temperature, top_p, min_p, rep_penalty, length_penalty;
    int sample, early_stopping, no_eos, ids_mode;
    const char *tokenizer, *chat, *system, *prompt_file;
} gen_opts;

#define GEN_OPTS(o)                                                                                            \
    {"max-new-tokens", 'n', QY_OPT_INT, "N", "tokens to generate at most (default 64)", &(o).max_new},         \
        {"sample",   0, QY_OPT_FLAG, NULL, "sample (default: greedy, or beam search with --num-beams)",        \
         &(o).sample},                                                                                         \
        {"temperature", 0, QY_OPT_DOUBLE, "T", "sampling temperature (default 1.0)", &(o).temperature},        \
        {"top-k", 0, QY_OPT_INT, "K", "keep the K most likely tokens (0 = off)", &(o).top_k},                  \
        {"top-p", 0, QY_OPT_DOUBLE, "P", "nucleus sampling mass (1.0 = off)", &(o).top_p},                     \
        {"min-p", 0, QY_OPT_DOUBLE, "P", "drop tokens below P x the top probability (0 = off)", &(o).min_p},   \
        {"repetition-penalty", 0, QY_OPT_DOUBLE, "X", "CTRL repetition penalty (1.0 = off)",                   \
         &(o).rep_penalty},                                                                                    \
        {"no-repeat-ngram", 0, QY_OPT_INT, "N", "forbid repeating any N-gram (0 = off)", &(o).no_repeat},      \
        {"num-beams", 0, QY_OPT_INT, "N", "beam search with N beams (Hugging Face scoring)", &(o).num_beams},  \
        {"num-return-sequences", 0, QY_OPT_INT, "N", "sequences to return (samples share the prompt's cache)", \
         &(o).num_return},                                                                                     \
        {"length-penalty",   0, QY_OPT_DOUBLE, "X", "beam score = logprob / length^X (default 1.0)",           \
         &(o).length_penalty},                                                                                 \
        {"early-stopping",   0, QY_OPT_FLAG, NULL, "beam search stops when N hypotheses are finished",         \
         &(o).early_stopping},                                                                                 \
        {"no-eos", 0, QY_OPT_FLAG, NULL, "do not stop at the model's end-of-sequence tokens", &(o).no_eos},    \
    {                                                                                                          \
        "tokenizer", 0, QY_OPT_STRING, "SPEC", "bytes | tokenizer.json (default: the model folder's)",         \
            &(o).tokenizer                                                                                     \
    }

static void gen_opts_default(gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_new = 64;
    o->num_beams = 1;
    o->num_return = 1;
    o->temperature = 1.0;
    o->top_p = 1.0;
    o->rep_penalty = 1.0;
    o->length_penalty = 1.0;
}

static int fill_gen_config(const gen_opts *o, const qy_lm_config *mc, uint64_t seed, stop_ctx *sc,
                           int32_t *eos_buf, qy_gen_config *g) {
    qy_gen_config_default(g);
    g->max_new_tokens = (int)o->max_new;
    g->do_sample = o->sample;
    g->temperature = (float)o->temperature;
    g->top_k = (int)o->top_k;
    g->top_p = (float)o->top_p;
    g->min_p = (float)o->min_p;
    g->repetition_penalty = (float)o->rep_penalty;
    g->no_repeat_ngram_size = (int)o->no_repeat;
    g->num_beams = (int)o->num_beams;
    g->num_return_sequences = (int)o->num_return;
    g->length_penalty = (float)o->length_penalty;
    g->early_stopping = o->early_stopping;
    g->seed = seed;
    if (!o->no_eos) {
        for (int i = 0; i < mc->n_eos; i++) eos_buf[i] = (int32_t)mc->eos_token_ids[i];
        g->eos_ids = eos_buf;
        g->n_eos = mc->n_eos;
    }
    if (sc->nstops) {
        g->stop = stop_check;
        g->stop_ctx = sc;
    }
    if (o->max_new < 1 || o->max_new > 1 << 20 || o->num_beams < 1 || o->num_return < 1 ||
        o->num_beams > 1024 || o->num_return > 1024)
        return qy_error(QY_ERR_ARG,
                        "generate: --max-new-tokens, --num-beams and --num-return-sequences must be >= 1");
    return QY_OK;
}

/* the model, its tokenizer and a pool */
typedef struct session {
    qy_lm *lm;
    lm_tok *tok;
    qy_pool *pool;
    qy_gen_model dec;
} session;

static int session_open(const char *dir, const char *tokenizer, int threads, int decoder, session *s) {
    memset(s, 0, sizeof *s);
    int st = qy_lm_load(dir, &s->lm);
    if (!st) st = lm_tok_open(tokenizer ? tokenizer : dir, &s->tok);
    if (!st && lm_tok_vocab(s->tok) > (size_t)qy_lm_get_config(s->lm)->vocab_size)
        st = qy_error(QY_ERR_ARG, "%s: the tokenizer has %zu ids but the model only %lld", dir,
                      lm_tok_vocab(s->tok), (long long)qy_lm_get_config(s->lm)->vocab_size);
    if (!st) st = qy_pool_new(threads, &s->pool);
    if (!st && decoder) st = qy_lm_decoder_new(s->lm, s->pool, &s->dec);
    return st;
}

static void session_close(session *s) {
    qy_lm_decoder_free(&s->dec);
    qy_lm_free(s->lm);
    lm_tok_free(s->tok);
    qy_pool_free(s->pool);
}

/* generate from text (templated: 1 = chat-formatted text, -1 = the prompt is token ids); texts[i] new strings
 * (cut at stop strings), caller frees */
static int generate_text(session *s, const char *prompt, int templated, const qy_gen_config *g,
                         const stop_ctx *sc, qy_gen_result **res, char ***texts, size_t *prompt_tokens) {
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    *texts = NULL;
    *res = NULL;
    /* chat-templated text carries its own special tokens (apply_chat_template's rule) */
    int st = templated < 0 ? lm_parse_ids(prompt, qy_lm_get_config(s->lm)->vocab_size, &ids, &n, &cap)
             : templated   ? lm_tok_encode(s->tok, prompt, strlen(prompt), &ids, &n, &cap)
                           : lm_tok_encode_prompt(s->tok, prompt, strlen(prompt), &ids, &n, &cap);
    if (!st && n == 0) st = qy_error(QY_ERR_ARG, "generate: the prompt is empty");
    if (!st && n > INT32_MAX) st = qy_error(QY_ERR_RANGE, "generate: prompt too long");
    qy_gen_config gc = *g;
    int64_t room = qy_lm_get_config(s->lm)->max_positions - (int64_t)n;
    if (!st && room < 1)
        st = qy_error(QY_ERR_RANGE, "generate: the prompt has %zu tokens, the model only %lld positions", n,
                      (long long)qy_lm_get_config(s->lm)->max_positions);
    if (!st && gc.max_new_tokens > room) {
        qy_warn("generate: %d new tokens would pass the model's %lld positions; generating %lld",
                gc.max_new_tokens, (long long)qy_lm_get_config(s->lm)->max_positions, (long long)room);
        gc.max_new_tokens = (int)room;
    }
    if (!st) st = qy_generate(&s->dec, ids, (int)n, &gc, res);
    qy_free(ids);
    *prompt_tokens = n;
    if (st) return st;
    char **t = qy_calloc((size_t)(*res)->n, sizeof *t);
    if (!t) return QY_ERR_NOMEM;
    for (int i = 0; i < (*res)->n && !st; i++) {
        st = lm_tok_decode(s->tok, (*res)->seqs[i].tokens, (size_t)(*res)->seqs[i].len, &t[i], NULL);
        if (!st) {
            char *cut = (char *)find_stop(sc, t[i]);
            if (cut) *cut = '\0';
        }
    }
    *texts = t;
    return st;
}

/* "1,2,3" (commas or spaces) appended to (*ids, *n, *cap) */
int lm_parse_ids(const char *s, int64_t vocab, int32_t **ids, size_t *n, size_t *cap) {
    const char *p = s;
    while (*p) {
        while (*p == ',' || *p == ' ') p++;
        if (!*p) break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || v >= vocab)
            return qy_error(QY_ERR_ARG, "--ids: '%s': expected token ids in [0, %lld) separated by commas", s,
                            (long long)vocab);
        int st = lm_ids_reserve(ids, cap, *n + 1);
        if (st) return st;
        (*ids)[(*n)++] = (int32_t)v;
        p = end;
    }
    return QY_OK;
}

static void free_texts(char **t, int n) {
    for (int i = 0; t && i < n; i++) qy_free(t[i]);
    qy_free(t);
}

static char *join_args(char **pos, int from, int n) {
    size_t len = 1;
    for (int i = from; i < n; i++) len += strlen(pos[i]) + 1;
    char *s = qy_malloc(len);
    if (!s) return NULL;
    s[0] = '\0';
    for (int i = from; i < n; i++) {
        if (i > from) strcat(s, " ");
        strcat(s, pos[i]);
    }
    return s;
}

/* "\n" and "\t" escapes in stop strings given on the command line */
static void unescape(char *s) {
    char *o = s;
    for (; *s; s++) {
        if (s[0] == '\\' && (s[1] == 'n' || s[1] == 't' || s[1] == '\\')) {
            *o++ = s[1] == 'n' ? '\n' : s[1] == 't' ? '\t' : '\\';
            s++;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

static int take_stops(int *argc, char **argv, stop_ctx *sc) {
    int n = lm_cli_take_repeated(argc, argv, "stop", sc->stops, MAX_STOPS - 1);
    if (n < 0) {
        fprintf(stderr, "quarry lm: --stop needs a value (at most %d stop strings)\n", MAX_STOPS - 1);
        return -1;
    }
    for (int i = 0; i < n; i++) unescape((char *)sc->stops[i]);
    sc->nstops = n;
    return 0;
}

static int chat_prompt(const char *chat, const char *system, const char *user, char **out, stop_ctx *sc) {
    qy_chat_format_kind k;
    int st = qy_chat_parse_kind(chat, &k);
    if (st) return st;
    qy_chat_msg msgs[2];
    size_t n = 0;
    if (system) msgs[n++] = (qy_chat_msg){"system", system};
    msgs[n++] = (qy_chat_msg){"user", user};
    if (sc->nstops < MAX_STOPS) sc->stops[sc->nstops++] = qy_chat_stop(k);
    return qy_chat_format(k, msgs, n, 1, out);
}

/* --constrain FILE: every output must be one of FILE's lines (text, or token ids
 * with --ids) followed by the end token; a prefix trie of those sequences drives
 * qy_trie_allowed. Returns the number of entries through *count. */
static int load_constraint(const session *s, const char *path, int ids_mode, int32_t end, qy_trie **out,
                           size_t *count) {
    *out = NULL;
    *count = 0;
    char *text;
    size_t len;
    int st = qy_read_file(path, 0, &text, &len);
    if (st) return st == QY_ERR_NOMEM ? st : qy_error_wrap(st, "--constrain");
    qy_trie *t = NULL;
    int32_t *ids = NULL;
    size_t cap = 0;
    st = qy_trie_new(&t);
    long line = 0;
    for (char *p = text; !st && p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        line++;
        if (l && p[l - 1] == '\r') l--;
        if (l) {
            size_t n = 0;
            char save = p[l];
            p[l] = '\0';
            st = ids_mode ? lm_parse_ids(p, qy_lm_get_config(s->lm)->vocab_size, &ids, &n, &cap)
                          : lm_tok_encode(s->tok, p, l, &ids, &n, &cap);
            p[l] = save;
            if (!st) st = lm_ids_reserve(&ids, &cap, n + 1);
            if (!st && n + 1 > INT32_MAX) st = qy_error(QY_ERR_RANGE, "line too long");
            if (!st) {
                ids[n] = end;
                st = qy_trie_insert(t, ids, (int)(n + 1));
            }
            if (st) st = qy_error_wrap(st, "--constrain %s: line %ld", path, line);
        }
        p = nl ? nl + 1 : text + len;
    }
    qy_free(ids);
    qy_free(text);
    if (!st && qy_trie_size(t) == 0)
        st = qy_error(QY_ERR_FORMAT, "--constrain %s: no allowed output (the file has no non-empty line)",
                      path);
    if (st) {
        qy_trie_free(t);
        return st;
    }
    *count = qy_trie_size(t);
    *out = t;
    return QY_OK;
}

int qy_lm_cmd_generate(int argc, char **argv) {
    gen_opts o;
    gen_opts_default(&o);
    stop_ctx sc = {0};
    const char *constrain = NULL;
    if (take_stops(&argc, argv, &sc)) return 2;
    const qy_opt opts[] = {
        GEN_OPTS(o),
        {"stop", 0, QY_OPT_STRING, "TEXT", "stop when the output contains TEXT (repeatable; \\n allowed)",
         NULL},
        {"chat", 0, QY_OPT_STRING, "FORMAT", "wrap the prompt as a user turn of chatml|llama3|llama2",
         &o.chat},
        {"system", 0, QY_OPT_STRING, "TEXT", "system message with --chat", &o.system},
        {"prompt-file", 0, QY_OPT_STRING, "FILE", "read the prompt from FILE ('-' = stdin)", &o.prompt_file},
        {"ids", 0, QY_OPT_FLAG, NULL, "PROMPT is token ids (\"1,2,3\"): no tokenizer involved", &o.ids_mode},
        {"constrain", 0, QY_OPT_STRING, "FILE",
         "the output must be one of FILE's lines (text; token ids with --ids), then EOS: prefix-trie "
         "constrained decoding, e.g. with --num-beams for generative retrieval",
         &constrain},
        {NULL, 0, 0, NULL, NULL, NULL}};
    qy_cli_spec spec = {
        .usage = "quarry lm generate [options] MODEL [PROMPT...]",
        .description =
            "Continue PROMPT with the model in the Hugging Face folder MODEL (KV-cached decoding):\n"
            "greedy by default, --sample with temperature/top-k/top-p/min-p, or --num-beams beam search.\n"
            "Stops at the model's EOS tokens, at --max-new-tokens, or when the text contains a --stop\n"
            "string (the output is cut there; a beam hypothesis ends there as at EOS). Prints the new\n"
            "text only; tokens/s go to stderr.",
        .opts = opts,
        .min_pos = 1,
        .max_pos = -1,
        .examples = "  quarry lm generate run/model \"ROMEO:\" -n 200 --sample --temperature 0.8 --top-k 40\n"
                    "  quarry lm generate run/model \"To be\" --num-beams 4 --num-return-sequences 2 --json\n"
                    "  quarry lm generate run/model \"KING\" --stop '\\n\\n' --seed 7 --sample\n"
                    "  quarry lm generate run/model \"Q: capital of France? A:\" --constrain titles.txt "
                    "--num-beams 4\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    char *prompt = NULL;
    size_t plen;
    int st = QY_OK;
    if (o.prompt_file)
        st = qy_read_file(!strcmp(o.prompt_file, "-") ? "/dev/stdin" : o.prompt_file, 0, &prompt, &plen);
    else if (npos < 2) {
        fprintf(stderr, "quarry lm generate: give a PROMPT or --prompt-file\n");
        return 2;
    } else if (!(prompt = join_args(pos, 1, npos)))
        st = QY_ERR_NOMEM;
    if (st) return qy_cli_fail(st);
    if (o.chat) {
        char *formatted;
        st = chat_prompt(o.chat, o.system, prompt, &formatted, &sc);
        qy_free(prompt);
        prompt = st ? NULL : formatted;
        if (st) return qy_cli_fail(st);
    }
    session s;
    qy_gen_config g;
    int32_t eos[8];
    qy_gen_result *res = NULL;
    char **texts = NULL;
    size_t ptok = 0;
    st = session_open(pos[0], o.tokenizer, c.threads, 1, &s);
    if (!st) st = fill_gen_config(&o, qy_lm_get_config(s.lm), c.seed, &sc, eos, &g);
    sc.tok = s.tok;
    qy_trie *trie = NULL;
    qy_trie_constraint con = {NULL, -1};
    if (!st && constrain) {
        size_t entries;
        if (g.n_eos < 1)
            st = qy_error(QY_ERR_ARG, "--constrain: the model has no end-of-sequence token to end an output "
                                      "with (eos_token_id in config.json; not with --no-eos)");
        if (!st) st = load_constraint(&s, constrain, o.ids_mode, g.eos_ids[0], &trie, &entries);
        if (!st) {
            con = (qy_trie_constraint){trie, g.eos_ids[0]};
            g.allowed = qy_trie_allowed;
            g.allowed_ctx = &con;
            qy_info("generate: constrained to %zu outputs (%zu trie nodes)", entries, qy_trie_nodes(trie));
        }
    }
    uint64_t t0 = qy_now_ns();
    if (!st) st = generate_text(&s, prompt, o.ids_mode ? -1 : o.chat != NULL, &g, &sc, &res, &texts, &ptok);
    double secs = qy_seconds_since(t0);
    if (!st) {
        long total = 0;
        for (int i = 0; i < res->n; i++) total += res->seqs[i].len;
        double tps = secs > 0 ? (double)total / secs : 0;
        if (c.json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "model", pos[0]);
            cJSON_AddNumberToObject(j, "prompt_tokens", (double)ptok);
            cJSON *arr = cJSON_AddArrayToObject(j, "sequences");
            for (int i = 0; i < res->n; i++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "text", texts[i]);
                cJSON *ids = cJSON_AddArrayToObject(e, "tokens");
                for (int k = 0; k < res->seqs[i].len; k++)
                    cJSON_AddItemToArray(ids, cJSON_CreateNumber(res->seqs[i].tokens[k]));
                cJSON_AddNumberToObject(e, "score", res->seqs[i].score);
                cJSON_AddItemToArray(arr, e);
            }
            cJSON_AddNumberToObject(j, "new_tokens", (double)total);
            cJSON_AddNumberToObject(j, "seconds", secs);
            cJSON_AddNumberToObject(j, "tokens_per_s", tps);
            char *out = qy_json_print(j, 1);
            if (out) puts(out);
            qy_free(out);
            cJSON_Delete(j);
        } else {
            for (int i = 0; i < res->n; i++) {
                if (res->n > 1) printf("--- sequence %d (score %.4f)\n", i + 1, res->seqs[i].score);
                printf("%s\n", texts[i]);
            }
            if (!c.quiet)
                fprintf(stderr, "generate: %ld new tokens (%zu prompt) in %.3f s (%.1f tokens/s)\n", total,
                        ptok, secs, tps);
        }
    }
    free_texts(texts, res ? res->n : 0);
    qy_gen_result_free(res);
    qy_trie_free(trie);
    session_close(&s);
    qy_free(prompt);
    return st ? qy_cli_fail(st) : 0;
}

/* ------------------------------------------------------------------ score */

typedef struct score_item {
    int32_t *ids; /* prompt + continuation */
    size_t n, nprompt;
    float *logprobs; /* n - nprompt values */
} score_item;

/* log-probabilities of every item's continuation, B rows per forward pass
 * (right padding: causal attention keeps the real positions unaffected) */
static int score_batched(session *s, score_item *items, size_t nitems, int B) {
    qy_graph *g;
    int st = qy_graph_new(s->pool, &g);
    if (st) return st;
    qy_graph_set_grad_enabled(g, 0);
    size_t V = (size_t)qy_lm_get_config(s->lm)->vocab_size;
    int32_t *ids = NULL;
    for (size_t i0 = 0; i0 < nitems && !st; i0 += (size_t)B) {
        size_t nb = nitems - i0 < (size_t)B ? nitems - i0 : (size_t)B;
        size_t T = 0;
        for (size_t k = 0; k < nb; k++)
            if (items[i0 + k].n > T) T = items[i0 + k].n;
        qy_free(ids);
        if (!(ids = qy_calloc(nb * T, sizeof *ids))) {
            st = QY_ERR_NOMEM;
            break;
        }
        for (size_t k = 0; k < nb; k++) memcpy(ids + k * T, items[i0 + k].ids, items[i0 + k].n * sizeof *ids);
        qy_graph_reset(g);
        qy_lm_batch b = {.B = (int)nb, .T = (int)T, .ids = ids};
        qy_tensor *logits;
        if ((st = qy_lm_forward(s->lm, g, &b, NULL, &logits))) break;
        for (size_t k = 0; k < nb; k++) {
            score_item *it = &items[i0 + k];
            for (size_t t = it->nprompt; t < it->n; t++) {
                const float *row = logits->data + (k * T + t - 1) * V;
                double mx = -INFINITY, z = 0;
                for (size_t v = 0; v < V; v++) mx = fmax(mx, row[v]);
                for (size_t v = 0; v < V; v++) z += exp((double)row[v] - mx);
                it->logprobs[t - it->nprompt] = (float)((double)row[it->ids[t]] - mx - log(z));
            }
        }
    }
    qy_free(ids);
    qy_graph_free(g);
    return st;
}

static int add_item(session *s, int ids_mode, const char *prompt, const char *cont, score_item **items,
                    size_t *n, size_t *cap) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        score_item *p = qy_reallocn(*items, c, sizeof *p);
        if (!p) return QY_ERR_NOMEM;
        *items = p;
        *cap = c;
    }
    score_item *it = &(*items)[*n];
    memset(it, 0, sizeof *it);
    size_t icap = 0;
    int64_t V = qy_lm_get_config(s->lm)->vocab_size;
    int st = ids_mode ? lm_parse_ids(prompt, V, &it->ids, &it->n, &icap)
                      : lm_tok_encode_prompt(s->tok, prompt, strlen(prompt), &it->ids, &it->n, &icap);
    it->nprompt = it->n;
    if (!st)
        st = ids_mode ? lm_parse_ids(cont, V, &it->ids, &it->n, &icap)
                      : lm_tok_encode(s->tok, cont, strlen(cont), &it->ids, &it->n, &icap);
    if (!st && it->nprompt == 0) st = qy_error(QY_ERR_ARG, "score: item %zu: the prompt is empty", *n);
    if (!st && it->n == it->nprompt)
        st = qy_error(QY_ERR_ARG, "score: item %zu: the continuation is empty", *n);
    if (!st && it->n > (size_t)qy_lm_get_config(s->lm)->max_positions)
        st = qy_error(QY_ERR_RANGE, "score: item %zu: %zu tokens exceed the model's %lld positions", *n,
                      it->n, (long long)qy_lm_get_config(s->lm)->max_positions);
    if (!st && !(it->logprobs = qy_mallocn(it->n - it->nprompt + 1, sizeof(float)))) st = QY_ERR_NOMEM;
    (*n)++; /* freed by the caller even on error */
    return st;
}

/* JSONL: {"prompt": ..., "continuation": ...} or {"prompt": ..., "continuations": [...]} */
static int read_score_jsonl(session *s, const char *path, score_item **items, size_t *n, size_t *cap) {
    char *text;
    size_t len;
    int st = qy_read_file(!strcmp(path, "-") ? "/dev/stdin" : path, 0, &text, &len);
    if (st) return st;
    size_t line = 0;
    for (size_t off = 0; off < len && !st;) {
        char *nl = memchr(text + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - text) : len;
        line++;
        if (end > off) {
            char src[512];
            snprintf(src, sizeof src, "%s: line %zu", path, line);
            qy_json *doc;
            if ((st = qy_json_parse(text + off, end - off, src, &doc))) break;
            qy_jref r = qy_json_ref(doc), arr, e;
            const char *prompt, *cont;
            size_t cnt;
            st = qy_jref_string(&r, ".prompt", &prompt);
            if (!st && qy_jref_has(&r, ".continuations")) {
                st = qy_jref_array(&r, ".continuations", &arr, &cnt);
                for (size_t i = 0; i < cnt && !st; i++) {
                    st = qy_jref_at(&arr, i, &e, NULL);
                    if (!st) st = qy_jref_string(&e, "", &cont);
                    if (!st) st = add_item(s, 0, prompt, cont, items, n, cap);
                }
            } else if (!st) {
                st = qy_jref_string(&r, ".continuation", &cont);
                if (!st) st = add_item(s, 0, prompt, cont, items, n, cap);
            }
            qy_json_free(doc);
        }
        off = end + 1;
    }
    qy_free(text);
    return st;
}

int qy_lm_cmd_score(int argc, char **argv) {
    const char *input = NULL, *tokenizer = NULL;
    long batch = 8;
    int ids_mode = 0;
    const qy_opt opts[] = {
        {"input", 'i', QY_OPT_STRING, "FILE", "JSONL of {prompt, continuation(s)} ('-' = stdin)", &input},
        {"batch", 'b', QY_OPT_INT, "B", "sequences per forward pass (default 8)", &batch},
        {"tokenizer", 0, QY_OPT_STRING, "SPEC", "bytes | tokenizer.json (default: the model folder's)",
         &tokenizer},
        {"ids", 0, QY_OPT_FLAG, NULL, "PROMPT and CONTINUATIONs are token ids (\"1,2,3\")", &ids_mode},
        {NULL, 0, 0, NULL, NULL, NULL}};
    qy_cli_spec spec = {
        .usage = "quarry lm score [options] MODEL [PROMPT CONTINUATION...]",
        .description =
            "Per-token log-probabilities (natural log) of continuations given a prompt, teacher-forced,\n"
            "B sequences per forward pass. Items come from the command line (one prompt, several\n"
            "continuations) or from --input JSONL lines {\"prompt\": P, \"continuation\": C} or\n"
            "{\"prompt\": P, \"continuations\": [C...]}. Output: JSON, one entry per continuation.",
        .opts = opts,
        .min_pos = 1,
        .max_pos = -1,
        .examples = "  quarry lm score run/model \"ROMEO:\" \" O, she doth\" \" banana\"\n"
                    "  quarry lm score run/model --input pairs.jsonl --batch 16\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    if (batch < 1 || batch > 4096) {
        fprintf(stderr, "quarry lm score: --batch must be in 1..4096\n");
        return 2;
    }
    if (!input && npos < 3) {
        fprintf(stderr, "quarry lm score: give PROMPT and CONTINUATION(s), or --input FILE\n");
        return 2;
    }
    session s;
    score_item *items = NULL;
    size_t n = 0, cap = 0;
    int st = session_open(pos[0], tokenizer, c.threads, 0, &s);
    if (!st && input) st = read_score_jsonl(&s, input, &items, &n, &cap);
    for (int i = 2; !st && !input && i < npos; i++)
        st = add_item(&s, ids_mode, pos[1], pos[i], &items, &n, &cap);
    uint64_t t0 = qy_now_ns();
    if (!st) st = score_batched(&s, items, n, (int)batch);
    double secs = qy_seconds_since(t0);
    if (!st) {
        size_t total = 0;
        cJSON *j = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(j, "results");
        for (size_t i = 0; i < n; i++) {
            score_item *it = &items[i];
            cJSON *e = cJSON_CreateObject();
            cJSON *tk = cJSON_AddArrayToObject(e, "tokens");
            cJSON *lp = cJSON_AddArrayToObject(e, "logprobs");
            double sum = 0;
            for (size_t t = it->nprompt; t < it->n; t++) {
                cJSON_AddItemToArray(tk, cJSON_CreateNumber(it->ids[t]));
                cJSON_AddItemToArray(lp, cJSON_CreateNumber(it->logprobs[t - it->nprompt]));
                sum += it->logprobs[t - it->nprompt];
            }
            total += it->n;
            cJSON_AddNumberToObject(e, "prompt_tokens", (double)it->nprompt);
            cJSON_AddNumberToObject(e, "sum_logprob", sum);
            cJSON_AddNumberToObject(e, "mean_logprob", sum / (double)(it->n - it->nprompt));
            cJSON_AddItemToArray(arr, e);
        }
        cJSON_AddNumberToObject(j, "seconds", secs);
        cJSON_AddNumberToObject(j, "tokens_per_s", secs > 0 ? (double)total / secs : 0);
        char *out = qy_json_print(j, 1);
        if (out) puts(out);
        qy_free(out);
        cJSON_Delete(j);
    }
    for (size_t i = 0; i < n; i++) {
        qy_free(items[i].ids);
        qy_free(items[i].logprobs);
    }
    qy_free(items);
    session_close(&s);
    return st ? qy_cli_fail(st) : 0;
}

/* ------------------------------------------------------------------- chat */

typedef struct convo {
    qy_chat_msg *msgs;
    char **owned;
    size_t n, cap;
} convo;

static int convo_add(convo *cv, const char *role, const char *text) {
    if (cv->n == cv->cap) {
        size_t c = cv->cap ? cv->cap * 2 : 8;
        qy_chat_msg *m = qy_reallocn(cv->msgs, c, sizeof *m);
        if (!m) return QY_ERR_NOMEM;
        cv->msgs = m;
        char **o = qy_reallocn(cv->owned, c, sizeof *o);
        if (!o) return QY_ERR_NOMEM;
        cv->owned = o;
        cv->cap = c;
    }
    char *copy = qy_strdup(text);
    if (!copy) return QY_ERR_NOMEM;
    cv->owned[cv->n] = copy;
    cv->msgs[cv->n++] = (qy_chat_msg){role, copy};
    return QY_OK;
}

static void convo_clear(convo *cv, size_t keep) {
    while (cv->n > keep) qy_free(cv->owned[--cv->n]);
}

/* the template named by MODEL/tokenizer_config.json's chat_template, else ChatML */
static int detect_template(const char *dir, qy_chat_format_kind *kind) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    *kind = QY_CHAT_CHATML;
    if (!qy_file_exists(path)) return QY_OK;
    qy_json *doc;
    int st = qy_json_read_file(path, &doc);
    if (st) return st;
    qy_jref r = qy_json_ref(doc);
    const char *jinja;
    if (qy_jref_has(&r, ".chat_template") && !(st = qy_jref_string(&r, ".chat_template", &jinja)))
        st = qy_chat_detect(jinja, kind);
    qy_json_free(doc);
    return st;
}

int qy_lm_cmd_chat(int argc, char **argv) {
    gen_opts o;
    gen_opts_default(&o);
    o.max_new = 256;
    stop_ctx sc = {0};
    if (take_stops(&argc, argv, &sc)) return 2;
    const char *format = NULL;
    const qy_opt opts[] = {
        GEN_OPTS(o),
        {"stop", 0, QY_OPT_STRING, "TEXT", "extra stop string (repeatable)", NULL},
        {"format", 0, QY_OPT_STRING, "NAME",
         "chat template: chatml, llama3, llama2 (default: the model's tokenizer_config.json, else chatml)",
         &format},
        {"system", 0, QY_OPT_STRING, "TEXT", "system message", &o.system},
        {NULL, 0, 0, NULL, NULL, NULL}};
    qy_cli_spec spec = {
        .usage = "quarry lm chat [options] MODEL",
        .description =
            "Talk to the model in MODEL: each line read from the terminal (or stdin) is a user turn;\n"
            "the conversation is formatted with the chat template and the reply generated until the\n"
            "template's end-of-turn string or EOS. Lines /reset (forget the conversation) and /quit.",
        .opts = opts,
        .min_pos = 1,
        .max_pos = 1,
        .examples = "  quarry lm chat sft/model --sample --temperature 0.7\n"
                    "  printf 'Hello\\n/quit\\n' | quarry lm chat sft/model\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    qy_chat_format_kind kind;
    int st = format ? qy_chat_parse_kind(format, &kind) : detect_template(pos[0], &kind);
    if (st) {
        fprintf(stderr, "quarry lm chat: %s\n", qy_errmsg());
        return 2;
    }
    if (sc.nstops < MAX_STOPS) sc.stops[sc.nstops++] = qy_chat_stop(kind);
    session s;
    qy_gen_config g;
    int32_t eos[8];
    convo cv = {0};
    st = session_open(pos[0], o.tokenizer, c.threads, 1, &s);
    if (!st) st = fill_gen_config(&o, qy_lm_get_config(s.lm), c.seed, &sc, eos, &g);
    sc.tok = s.tok;
    if (!st && o.system) st = convo_add(&cv, "system", o.system);
    size_t base = cv.n;
    int tty = isatty(0);
    char line[8192];
    while (!st) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        if (!fgets(line, sizeof line, stdin)) break;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r')) line[--l] = '\0';
        if (!l) continue;
        if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) break;
        if (!strcmp(line, "/reset")) {
            convo_clear(&cv, base);
            printf("(conversation reset)\n");
            continue;
        }
        char *prompt = NULL, **texts = NULL;
        qy_gen_result *res = NULL;
        size_t ptok;
        if ((st = convo_add(&cv, "user", line))) break;
        st = qy_chat_format(kind, cv.msgs, cv.n, 1, &prompt);
        uint64_t t0 = qy_now_ns();
        if (!st) st = generate_text(&s, prompt, 1, &g, &sc, &res, &texts, &ptok);
        if (!st) {
            printf("%s\n", texts[0]);
            fflush(stdout);
            if (c.verbose)
                fprintf(stderr, "(%d tokens, %.1f tokens/s)\n", res->seqs[0].len,
                        res->seqs[0].len / qy_seconds_since(t0));
            st = convo_add(&cv, "assistant", texts[0]);
        }
        free_texts(texts, res ? res->n : 0);
        qy_gen_result_free(res);
        qy_free(prompt);
    }
    convo_clear(&cv, 0);
    qy_free(cv.msgs);
    qy_free(cv.owned);
    session_close(&s);
    return st ? qy_cli_fail(st) : 0;
}
