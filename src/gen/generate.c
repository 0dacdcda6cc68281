/* generate.c — greedy, sampled and beam-search decoding over qy_gen_model.
 *
 * Beam search reproduces transformers' (5.x) vectorised beam search:
 *   - processors run on log-softmax scores (so a constraint masks without
 *     renormalising), then each row adds its running score (float32);
 *   - the best K = max(2, 1 + n_eos) * num_beams (beam, token) candidates are taken;
 *   - a candidate "finishes" when its token is an EOS, the sequence reaches
 *     max length, or the stop callback accepts its generated tokens (stop
 *     strings: quarry's addition, treated exactly like an EOS); only finished
 *     candidates among the first num_beams may enter the finished set, with
 *     score / (generated length ^ length_penalty), and the others are dropped;
 *   - the next running beams are the best num_beams unfinished candidates;
 *   - the finished set keeps the best num_beams of old + new, and the loop stops
 *     as transformers' early-stopping heuristic says.
 * transformers pads the finished set with hypotheses scored near -1e9 when fewer
 * than num_beams finished; quarry returns only real hypotheses (score > -1e6).
 * Candidates with equal scores keep the lower index first. */
#include <math.h>
#include <string.h>

#include "quarry/gen.h"

#define NEG_BIG (-1.0e9f)

void qy_gen_config_default(qy_gen_config *c) {
    memset(c, 0, sizeof *c);
    c->max_new_tokens = 20;
    c->temperature = 1.0f;
    c->top_p = 1.0f;
    c->repetition_penalty = 1.0f;
    c->num_beams = 1;
    c->num_return_sequences = 1;
    c->length_penalty = 1.0f;
    c->pad_id = -1;
    c->seed = 42;
}

void qy_gen_result_free(qy_gen_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) qy_free(r->seqs[i].tokens);
    qy_free(r->seqs);
    qy_free(r);
}

static int check_config(const qy_gen_model *m, int prompt_len, const qy_gen_config *c) {
    if (m->vocab <= 0) return qy_error(QY_ERR_ARG, "generate: model vocabulary size %d", m->vocab);
    if (prompt_len < 1) return qy_error(QY_ERR_ARG, "generate: empty prompt");
    if (c->max_new_tokens < 1 || c->max_new_tokens > 1 << 20)
        return qy_error(QY_ERR_ARG, "generate: max_new_tokens %d is not in 1..1048576", c->max_new_tokens);
    if (!(c->temperature > 0.0f) || !isfinite(c->temperature))
        return qy_error(QY_ERR_ARG, "generate: temperature must be > 0 (got %g)", (double)c->temperature);
    if (!(c->top_p > 0.0f && c->top_p <= 1.0f))
        return qy_error(QY_ERR_ARG, "generate: top_p must be in (0, 1] (got %g)", (double)c->top_p);
    if (!(c->min_p >= 0.0f && c->min_p <= 1.0f))
        return qy_error(QY_ERR_ARG, "generate: min_p must be in [0, 1] (got %g)", (double)c->min_p);
    if (c->top_k < 0) return qy_error(QY_ERR_ARG, "generate: top_k must be >= 0");
    if (!(c->repetition_penalty > 0.0f))
        return qy_error(QY_ERR_ARG, "generate: repetition_penalty must be > 0");
    if (c->num_beams < 1 || c->num_beams > 1024)
        return qy_error(QY_ERR_ARG, "generate: num_beams %d is not in 1..1024", c->num_beams);
    if (c->num_return_sequences < 1 || c->num_return_sequences > 1024)
        return qy_error(QY_ERR_ARG, "generate: num_return_sequences %d is not in 1..1024",
                        c->num_return_sequences);
    if (c->num_beams > 1 && c->num_return_sequences > c->num_beams)
        return qy_error(QY_ERR_ARG, "generate: num_return_sequences (%d) must be <= num_beams (%d)",
                        c->num_return_sequences, c->num_beams);
    if (c->num_beams > 1 && c->do_sample)
        return qy_error(QY_ERR_UNSUPPORTED,
                        "generate: beam sampling (num_beams > 1 with do_sample) is not implemented");
    for (int i = 0; i < c->n_eos; i++)
        /* an eos id beyond the vocabulary can never be produced; transformers accepts
         * it (GPT-2 configs keep 50256 on resized vocabularies), and so does quarry */
        if (c->eos_ids[i] < 0) return qy_error(QY_ERR_ARG, "generate: eos id %d is negative", c->eos_ids[i]);
    return QY_OK;
}

static int is_eos(const qy_gen_config *c, int32_t t) {
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] == t) return 1;
    return 0;
}

/* Apply the constraint: everything not allowed becomes -inf. */
static int apply_allowed(const qy_gen_config *c, float *scores, int V, const int32_t *gen, int gen_len,
                         int32_t *allowed_buf, unsigned char *mask) {
    int n = c->allowed(c->allowed_ctx, gen, gen_len, allowed_buf, V);
    if (n < 0) return -n;
    memset(mask, 0, (size_t)V);
    for (int i = 0; i < n; i++)
        if (allowed_buf[i] >= 0 && allowed_buf[i] < V) mask[allowed_buf[i]] = 1;
    for (int v = 0; v < V; v++)
        if (!mask[v]) scores[v] = -INFINITY;
    return QY_OK;
}

typedef struct work {
    int V;
    float *scratch;      /* V */
    int32_t *allowed;    /* V */
    unsigned char *mask; /* V */
    int32_t *full;       /* prompt + generated, for processors */
} work;

static void work_free(work *w) {
    qy_free(w->scratch);
    qy_free(w->allowed);
    qy_free(w->mask);
    qy_free(w->full);
}

static int work_init(work *w, int V, int max_len) {
    memset(w, 0, sizeof *w);
    w->V = V;
    w->scratch = qy_mallocn((size_t)V, sizeof(float));
    w->allowed = qy_mallocn((size_t)V, sizeof(int32_t));
    w->mask = qy_malloc((size_t)V);
    w->full = qy_mallocn((size_t)max_len, sizeof(int32_t));
    if (!w->scratch || !w->allowed || !w->mask || !w->full) {
        work_free(w);
        return QY_ERR_NOMEM;
    }
    return QY_OK;
}

/* Processors common to all modes, on one row: `full` is prompt + generated. */
static int process_row(const qy_gen_config *c, work *w, float *s, const int32_t *full, int full_len,
                       int prompt_len) {
    int st = qy_logits_repetition_penalty(s, w->V, full, full_len, c->repetition_penalty);
    if (st) return st;
    qy_logits_no_repeat_ngram(s, w->V, full, full_len, c->no_repeat_ngram_size);
    if (c->allowed)
        return apply_allowed(c, s, w->V, full + prompt_len, full_len - prompt_len, w->allowed, w->mask);
    return QY_OK;
}

static int alloc_result(int n, int maxlen, qy_gen_result **out) {
    qy_gen_result *r = qy_calloc(1, sizeof *r);
    if (!r) return QY_ERR_NOMEM;
    r->seqs = qy_calloc((size_t)n, sizeof *r->seqs);
    if (!r->seqs) {
        qy_free(r);
        return QY_ERR_NOMEM;
    }
    r->n = n;
    for (int i = 0; i < n; i++) {
        r->seqs[i].tokens = qy_mallocn((size_t)maxlen, sizeof(int32_t));
        if (!r->seqs[i].tokens) {
            qy_gen_result_free(r);
            return QY_ERR_NOMEM;
        }
    }
    *out = r;
    return QY_OK;
}

/* ------------------------------------------------------- greedy / sampling */

static int sample_from(float *s, int V, qy_rng *rng) {
    double mx = -INFINITY;
    for (int v = 0; v < V; v++)
        if (s[v] > mx) mx = s[v];
    double z = 0;
    for (int v = 0; v < V; v++) z += exp((double)s[v] - mx);
    double u = qy_rng_double(rng) * z, cum = 0;
    int last = 0;
    for (int v = 0; v < V; v++) {
        if (s[v] == -INFINITY) continue;
        cum += exp((double)s[v] - mx);
        last = v;
        if (u < cum) return v;
    }
    return last;
}

static int argmax(const float *s, int V) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (s[v] > s[best]) best = v;
    return best;
}

static int decode_rows(const qy_gen_model *m, const int32_t *prompt, int prompt_len, const qy_gen_config *c,
                       qy_gen_result *res) {
    int V = m->vocab, R = res->n, T = c->max_new_tokens;
    int max_len = prompt_len + T;
    work w;
    int st = work_init(&w, V, max_len);
    if (st) return st;
    float *logits = qy_mallocn((size_t)R * (size_t)V, sizeof(float));
    float *row = qy_mallocn((size_t)V, sizeof(float));
    int *parent = qy_mallocn((size_t)R, sizeof(int));
    int *alive = qy_mallocn((size_t)R, sizeof(int)); /* alive[j] = result index of model row j */
    int32_t *tok = qy_mallocn((size_t)R, sizeof(int32_t));
    qy_rng *rngs = qy_mallocn((size_t)R, sizeof(qy_rng));
    if (!logits || !row || !parent || !alive || !tok || !rngs) {
        st = QY_ERR_NOMEM;
        goto done;
    }
    qy_rng base;
    qy_rng_seed(&base, c->seed);
    for (int r = 0; r < R; r++) {
        rngs[r] = qy_rng_split(&base, (uint64_t)r);
        alive[r] = r;
        res->seqs[r].len = 0;
        res->seqs[r].score = 0;
    }
    st = m->begin(m->ctx, prompt, prompt_len, R, logits);
    if (st) goto done;
    for (int r = 1; r < R; r++) memcpy(logits + (size_t)r * V, logits, sizeof(float) * (size_t)V);
    int nalive = R;
    memcpy(w.full, prompt, sizeof(int32_t) * (size_t)prompt_len);
    for (int t = 0; t < T && nalive > 0; t++) {
        int nnext = 0;
        for (int j = 0; j < nalive; j++) {
            int r = alive[j];
            qy_gen_seq *sq = &res->seqs[r];
            float *lg = logits + (size_t)j * V;
            memcpy(w.full + prompt_len, sq->tokens, sizeof(int32_t) * (size_t)sq->len);
            memcpy(row, lg, sizeof(float) * (size_t)V);
            st = process_row(c, &w, row, w.full, prompt_len + sq->len, prompt_len);
            if (st) goto done;
            int next;
            if (c->do_sample) {
                qy_logits_temperature(row, V, c->temperature);
                qy_logits_top_k(row, V, c->top_k, w.scratch);
                if ((st = qy_logits_top_p(row, V, c->top_p))) goto done;
                qy_logits_min_p(row, V, c->min_p);
                next = sample_from(row, V, &rngs[r]);
            } else {
                next = argmax(row, V);
            }
            /* score: the model's own log-probability of the chosen token */
            qy_logits_log_softmax(lg, V);
            sq->score += lg[next];
            sq->tokens[sq->len++] = next;
            if (!is_eos(c, next) && t + 1 < T && !(c->stop && c->stop(c->stop_ctx, sq->tokens, sq->len))) {
                parent[nnext] = j;
                tok[nnext] = next;
                alive[nnext] = r;
                nnext++;
            }
        }
        nalive = nnext;
        res->steps = t + 1;
        if (nalive > 0) {
            st = m->step(m->ctx, nalive, parent, tok, logits);
            if (st) goto done;
        }
    }
done:
    work_free(&w);
    qy_free(logits);
    qy_free(row);
    qy_free(parent);
    qy_free(alive);
    qy_free(tok);
    qy_free(rngs);
    return st;
}

/* ------------------------------------------------------------ beam search */

typedef struct cand {
    float score;
    int index; /* position for tie-breaking */
    int beam;
    int32_t token;
} cand;

/* partial selection: the best k of n by (score desc, index asc), sorted */
static void top_k_cands(cand *c, int n, int k) {
    for (int i = 0; i < k && i < n; i++) {
        int best = i;
        for (int j = i + 1; j < n; j++)
            if (c[j].score > c[best].score || (c[j].score == c[best].score && c[j].index < c[best].index))
                best = j;
        cand tmp = c[i];
        c[i] = c[best];
        c[best] = tmp;
    }
}

/* best K candidates of nb rows x V scores (kept in a small sorted buffer) */
static void top_k_flat(const float *acc, int nb, int V, int K, cand *out) {
    int n = 0;
    for (int b = 0; b < nb; b++)
        for (int v = 0; v < V; v++) {
            float s = acc[(size_t)b * V + v];
            int idx = b * V + v;
            if (n == K && !(s > out[K - 1].score)) continue; /* ties: lower index already in */
            int pos = n < K ? n : K - 1;
            while (pos > 0 && s > out[pos - 1].score) {
                out[pos] = out[pos - 1];
                pos--;
            }
            out[pos] = (cand){s, idx, b, v};
            if (n < K) n++;
        }
}

static int beam_search(const qy_gen_model *m, const int32_t *prompt, int prompt_len, const qy_gen_config *c,
                       qy_gen_result **out) {
    int V = m->vocab, nb = c->num_beams, T = c->max_new_tokens;
    int max_length = prompt_len + T;
    int K = (c->n_eos + 1 > 2 ? c->n_eos + 1 : 2) * nb;
    int st = QY_OK;
    work w;
    if ((st = work_init(&w, V, max_length))) return st;
    size_t seqsz = (size_t)T * sizeof(int32_t);
    float *logits = qy_mallocn((size_t)nb * (size_t)V, sizeof(float));
    float *acc = qy_mallocn((size_t)nb * (size_t)V, sizeof(float));
    int32_t *run_seq = qy_mallocn((size_t)nb, seqsz), *new_run_seq = qy_mallocn((size_t)nb, seqsz);
    int32_t *cand_seq = qy_mallocn((size_t)K, seqsz);
    int32_t *fin_seq = qy_mallocn((size_t)nb, seqsz), *new_fin_seq = qy_mallocn((size_t)nb, seqsz);
    float *run_score = qy_mallocn((size_t)nb, sizeof(float));
    float *fin_score = qy_mallocn((size_t)nb, sizeof(float));
    int *fin_len = qy_mallocn((size_t)nb, sizeof(int)), *fin_flag = qy_mallocn((size_t)nb, sizeof(int));
    cand *cands = qy_mallocn((size_t)K, sizeof(cand));
    cand *merged = qy_mallocn((size_t)(nb + K), sizeof(cand));
    int *hits = qy_mallocn((size_t)K, sizeof(int));
    int *parent = qy_mallocn((size_t)nb, sizeof(int));
    int32_t *tok = qy_mallocn((size_t)nb, sizeof(int32_t));
    int *tmp_len = qy_mallocn((size_t)nb, sizeof(int)), *tmp_flag = qy_mallocn((size_t)nb, sizeof(int));
    float *tmp_score = qy_mallocn((size_t)nb, sizeof(float));
    if (!logits || !acc || !run_seq || !new_run_seq || !cand_seq || !fin_seq || !new_fin_seq || !run_score ||
        !fin_score || !fin_len || !fin_flag || !cands || !merged || !hits || !parent || !tok || !tmp_len ||
        !tmp_flag || !tmp_score) {
        st = QY_ERR_NOMEM;
        goto done;
    }
    for (int b = 0; b < nb; b++) {
        run_score[b] = b == 0 ? 0.0f : NEG_BIG;
        fin_score[b] = NEG_BIG;
        fin_len[b] = 0;
        fin_flag[b] = 0;
    }
    st = m->begin(m->ctx, prompt, prompt_len, nb, logits);
    if (st) goto done;
    for (int b = 1; b < nb; b++) memcpy(logits + (size_t)b * V, logits, sizeof(float) * (size_t)V);
    memcpy(w.full, prompt, sizeof(int32_t) * (size_t)prompt_len);
    int heuristic_unsat = 1;
    int steps = 0;
    for (int cur_len = prompt_len; cur_len < max_length;) {
        int t = cur_len - prompt_len; /* tokens generated so far in every running beam */
        for (int b = 0; b < nb; b++) {
            float *row = acc + (size_t)b * V;
            memcpy(row, logits + (size_t)b * V, sizeof(float) * (size_t)V);
            qy_logits_log_softmax(row, V);
            memcpy(w.full + prompt_len, run_seq + (size_t)b * T, sizeof(int32_t) * (size_t)t);
            if ((st = process_row(c, &w, row, w.full, cur_len, prompt_len))) goto done;
            for (int v = 0; v < V; v++) row[v] = row[v] + run_score[b];
        }
        top_k_flat(acc, nb, V, K, cands);
        int all_hit = 1;
        for (int k = 0; k < K; k++) {
            int32_t *cs = cand_seq + (size_t)k * T;
            memcpy(cs, run_seq + (size_t)cands[k].beam * T, sizeof(int32_t) * (size_t)t);
            cs[t] = cands[k].token;
            /* a stop criterion ends a hypothesis exactly as an EOS does */
            hits[k] = is_eos(c, cands[k].token) || cur_len + 1 >= max_length ||
                      (c->stop && c->stop(c->stop_ctx, cs, t + 1));
            all_hit &= hits[k];
        }
        /* next running beams: best nb candidates that did not finish */
        for (int k = 0; k < K; k++) {
            merged[k] = cands[k];
            merged[k].score = cands[k].score + (hits[k] ? NEG_BIG : 0.0f);
            merged[k].index = k;
        }
        top_k_cands(merged, K, nb);
        for (int b = 0; b < nb; b++) {
            int k = merged[b].index;
            memcpy(new_run_seq + (size_t)b * T, cand_seq + (size_t)k * T, sizeof(int32_t) * (size_t)(t + 1));
            run_score[b] = merged[b].score;
            parent[b] = cands[k].beam;
            tok[b] = cands[k].token;
        }
        int32_t *swap = run_seq;
        run_seq = new_run_seq;
        new_run_seq = swap;
        /* finished set: old finished + newly finished among the first nb candidates */
        int all_fin = 1;
        for (int b = 0; b < nb; b++) all_fin &= fin_flag[b];
        float denom = (float)pow((double)(cur_len + 1 - prompt_len), (double)c->length_penalty);
        for (int b = 0; b < nb; b++) merged[b] = (cand){fin_score[b], b, -1, 0};
        for (int k = 0; k < K; k++) {
            float s = cands[k].score / denom;
            if (all_fin && c->early_stopping == 1) s += NEG_BIG;
            if (!heuristic_unsat) s += NEG_BIG;
            if (!(hits[k] && k < nb)) s += NEG_BIG;
            merged[nb + k] = (cand){s, nb + k, k, 0};
        }
        top_k_cands(merged, nb + K, nb);
        for (int b = 0; b < nb; b++) {
            int src = merged[b].index;
            if (src < nb) {
                memcpy(new_fin_seq + (size_t)b * T, fin_seq + (size_t)src * T, seqsz);
                tmp_len[b] = fin_len[src];
                tmp_flag[b] = fin_flag[src];
            } else {
                int k = src - nb;
                memcpy(new_fin_seq + (size_t)b * T, cand_seq + (size_t)k * T,
                       sizeof(int32_t) * (size_t)(t + 1));
                tmp_len[b] = t + 1;
                tmp_flag[b] = hits[k] && k < nb;
            }
            tmp_score[b] = merged[b].score;
        }
        swap = fin_seq;
        fin_seq = new_fin_seq;
        new_fin_seq = swap;
        memcpy(fin_len, tmp_len, sizeof(int) * (size_t)nb);
        memcpy(fin_flag, tmp_flag, sizeof(int) * (size_t)nb);
        memcpy(fin_score, tmp_score, sizeof(float) * (size_t)nb);
        cur_len++;
        steps++;
        /* early-stopping heuristic (transformers' _check_early_stop_heuristic) */
        double best_len = (c->early_stopping == 2 && c->length_penalty > 0.0f)
                              ? (double)(max_length - prompt_len)
                              : (double)(cur_len - prompt_len);
        float best_possible = run_score[0] / (float)pow(best_len, (double)c->length_penalty);
        float min_fin = fin_score[0];
        for (int b = 1; b < nb; b++)
            if (fin_score[b] < min_fin) min_fin = fin_score[b];
        int improvable = 0;
        for (int b = 0; b < nb; b++) improvable |= best_possible > (fin_flag[b] ? min_fin : NEG_BIG);
        heuristic_unsat = heuristic_unsat && improvable;
        all_fin = 1;
        for (int b = 0; b < nb; b++) all_fin &= fin_flag[b];
        int unfinished = heuristic_unsat && !(all_fin && c->early_stopping == 1) && !all_hit;
        if (!unfinished || cur_len >= max_length) break;
        st = m->step(m->ctx, nb, parent, tok, logits);
        if (st) goto done;
    }
    /* results: real hypotheses among the first num_return_sequences */
    int nret = 0;
    for (int b = 0; b < c->num_return_sequences; b++)
        if (fin_score[b] > -1.0e6f) nret++;
    qy_gen_result *res;
    if ((st = alloc_result(nret > 0 ? nret : 1, T, &res))) goto done;
    res->n = nret;
    for (int b = 0, i = 0; b < c->num_return_sequences; b++) {
        if (!(fin_score[b] > -1.0e6f)) continue;
        memcpy(res->seqs[i].tokens, fin_seq + (size_t)b * T, sizeof(int32_t) * (size_t)fin_len[b]);
        res->seqs[i].len = fin_len[b];
        res->seqs[i].score = fin_score[b];
        i++;
    }
    if (nret == 0) { /* keep the allocation consistent with n for free() */
        qy_free(res->seqs[0].tokens);
        res->seqs[0].tokens = NULL;
    }
    res->steps = steps;
    *out = res;
done:
    work_free(&w);
    qy_free(logits);
    qy_free(acc);
    qy_free(run_seq);
    qy_free(new_run_seq);
    qy_free(cand_seq);
    qy_free(fin_seq);
    qy_free(new_fin_seq);
    qy_free(run_score);
    qy_free(fin_score);
    qy_free(fin_len);
    qy_free(fin_flag);
    qy_free(cands);
    qy_free(merged);
    qy_free(hits);
    qy_free(parent);
    qy_free(tok);
    qy_free(tmp_len);
    qy_free(tmp_flag);
    qy_free(tmp_score);
    return st;
}

int qy_generate(const qy_gen_model *m, const int32_t *prompt, int prompt_len, const qy_gen_config *c,
                qy_gen_result **out) {
    *out = NULL;
    int st = check_config(m, prompt_len, c);
    if (st) return st;
    uint64_t t0 = qy_now_ns();
    if (c->num_beams > 1) {
        st = beam_search(m, prompt, prompt_len, c, out);
    } else {
        int R = c->do_sample ? c->num_return_sequences : 1;
        if ((st = alloc_result(R, c->max_new_tokens, out))) return st;
        st = decode_rows(m, prompt, prompt_len, c, *out);
        if (st) {
            qy_gen_result_free(*out);
            *out = NULL;
        }
    }
    if (*out) (*out)->seconds = qy_seconds_since(t0);
    return st;
}
