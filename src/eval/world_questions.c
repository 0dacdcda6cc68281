/* world_questions.c — single- and multi-hop questions over the world, with gold
 * decompositions, written as QA JSONL per split and as BEIR queries + qrels.
 *
 * Kinds (docs/world.md has examples):
 *   single             one fact (s, r) -> o
 *   bridge             two hops: s -r1-> b -r2-> answer (HotpotQA "bridge")
 *   composition        three or four hops chained the same way
 *   comparison         the same year relation (earlier/later) or any relation
 *                      (same/different: yes/no) of two entities of one type
 *   bridge_comparison  four hops: compare a year of the r1-objects of two entities
 * Every hop records its sub-query, its answer, the document that states it and
 * the exact evidence sentence in that document.
 *
 * Splits: all questions about a topic entity (the chain's first entity, both
 * entities of a comparison) go to that entity's split (train/dev/test by a hash
 * of the entity), so no chain is asked in two splits. */
#include <stdatomic.h>
#include <string.h>

#include "eval/world_internal.h"

enum { OUT_QA = 0, OUT_QUERIES = 3, OUT_QRELS = 4, OUT_N = 7 };
static const char *const split_names[3] = {"train", "dev", "test"};

typedef w_hop hop;

typedef struct q_ctx {
    const qy_world *w;
    _Atomic size_t by_split[3], by_hops[5], total;
} q_ctx;

static int year_relation_of(int type) {
    switch (type) {
    case QY_WORLD_PERSON: return R_BIRTH_YEAR;
    case QY_WORLD_CITY: return R_CITY_FOUNDED;
    case QY_WORLD_COUNTRY: return R_INDEPENDENCE_YEAR;
    case QY_WORLD_ORG: return R_ORG_FOUNDED;
    default: return R_RELEASE_YEAR;
    }
}

static const w_fact *hop_fact(const qy_world *w, const hop *h) { return &w_facts(w, h->subj)[h->k]; }

int w_walk(const qy_world *w, qy_rng *r, size_t e, int n, w_hop *hops) {
    for (int attempt = 0; attempt < 6; attempt++) {
        size_t cur = e, seen[5] = {e};
        int ok = 1;
        for (int i = 0; i < n && ok; i++) {
            int cand[W_MAXREL], nc = 0;
            const w_fact *f = w_facts(w, cur);
            for (int k = 0; k < w->nfacts[cur]; k++) {
                int ent = w_relations[f[k].rel].kind == WV_ENTITY;
                if (!ent && i < n - 1) continue;
                int dup = 0;
                for (int j = 0; ent && j <= i; j++) dup |= seen[j] == (size_t)f[k].obj;
                if (!dup) cand[nc++] = k;
            }
            if (!nc) {
                ok = 0;
                break;
            }
            int k = cand[qy_rng_below(r, (uint64_t)nc)];
            hops[i].subj = cur;
            hops[i].k = k;
            if (i < n - 1) cur = seen[i + 1] = (size_t)f[k].obj;
        }
        if (ok) return 1;
    }
    return 0;
}

static void json_hop(const qy_world *w, qy_rng *r, const hop *h, int index, w_buf *b) {
    const w_fact *f = hop_fact(w, h);
    char id[32], doc[32], obj[96], sent[256];
    w_buf q = {0};
    w_question_text(w, f->rel, (int)qy_rng_below(r, W_NTEMPL), w_name(w, h->subj), &q);
    wb_printf(b, "{\"hop\":%d,\"sub_query\":", index);
    wb_json_str(b, q.p ? q.p : "");
    wb_done(&q, b);
    w_entity_id(h->subj, id, sizeof id);
    wb_puts(b, ",\"subject\":");
    wb_json_str(b, id);
    wb_puts(b, ",\"subject_name\":");
    wb_json_str(b, w_name(w, h->subj));
    wb_puts(b, ",\"relation\":");
    wb_json_str(b, w_relations[f->rel].id);
    w_object_str(w, f, obj, sizeof obj);
    wb_puts(b, ",\"answer\":");
    wb_json_str(b, obj);
    if (w_relations[f->rel].kind == WV_ENTITY) {
        w_entity_id((size_t)f->obj, id, sizeof id);
        wb_puts(b, ",\"answer_id\":");
        wb_json_str(b, id);
    }
    w_doc_id(h->subj, w_relations[f->rel].section, doc, sizeof doc);
    wb_puts(b, ",\"doc\":");
    wb_json_str(b, doc);
    w_fact_sentence(w, h->subj, f, sent, sizeof sent);
    wb_puts(b, ",\"evidence\":");
    wb_json_str(b, sent);
    wb_puts(b, "}");
}

/* One finished question: QA line, query line, qrels lines. answers_json is the
 * body of the golden_answers array. */
static void emit_question(q_ctx *c, size_t topic, const char *suffix, const char *kind, const char *question,
                          const char *answers_json, const hop *hops, int nh, qy_rng *r, w_buf *out,
                          const char *extra_json) {
    const qy_world *w = c->w;
    int split = w->split[topic];
    char qid[48], doc[32], id[32];
    snprintf(qid, sizeof qid, "q%zu-%s", topic, suffix);
    /* supporting docs: distinct, in hop order; slice: the latest entity involved */
    char docs[8][32];
    int nd = 0, slice = 0;
    for (int i = 0; i < nh; i++) {
        const w_fact *f = hop_fact(w, &hops[i]);
        w_doc_id(hops[i].subj, w_relations[f->rel].section, doc, sizeof doc);
        int dup = 0;
        for (int j = 0; j < nd; j++) dup |= !strcmp(docs[j], doc);
        if (!dup) snprintf(docs[nd++], sizeof docs[0], "%s", doc);
        if (w->slice[hops[i].subj] > slice) slice = w->slice[hops[i].subj];
    }
    w_buf *b = &out[OUT_QA + split];
    wb_puts(b, "{\"id\":");
    wb_json_str(b, qid);
    wb_puts(b, ",\"question\":");
    wb_json_str(b, question);
    wb_puts(b, ",\"golden_answers\":[");
    wb_puts(b, answers_json);
    wb_puts(b, "],\"supporting_docs\":[");
    for (int j = 0; j < nd; j++) {
        if (j) wb_puts(b, ",");
        wb_json_str(b, docs[j]);
    }
    wb_puts(b, "],\"decomposition\":[");
    for (int i = 0; i < nh; i++) {
        if (i) wb_puts(b, ",");
        json_hop(w, r, &hops[i], i + 1, b);
    }
    wb_puts(b, "],\"type\":");
    wb_json_str(b, kind);
    wb_printf(b, ",\"hops\":%d,\"split\":\"%s\",\"slice\":%d", nh, split_names[split], slice);
    w_entity_id(topic, id, sizeof id);
    wb_puts(b, ",\"topic_entity\":");
    wb_json_str(b, id);
    if (extra_json) wb_puts(b, extra_json);
    wb_puts(b, "}\n");

    w_buf *qb = &out[OUT_QUERIES];
    wb_puts(qb, "{\"_id\":");
    wb_json_str(qb, qid);
    wb_puts(qb, ",\"text\":");
    wb_json_str(qb, question);
    wb_printf(qb, ",\"metadata\":{\"split\":\"%s\",\"type\":\"%s\",\"hops\":%d,\"slice\":%d}}\n",
              split_names[split], kind, nh, slice);
    for (int j = 0; j < nd; j++) wb_printf(&out[OUT_QRELS + split], "%s\t%s\t1\n", qid, docs[j]);
    atomic_fetch_add(&c->by_split[split], 1);
    atomic_fetch_add(&c->by_hops[nh], 1);
    atomic_fetch_add(&c->total, 1);
}

void w_chain_question(const qy_world *w, qy_rng *r, const w_hop *hops, int nh, w_buf *out) {
    w_buf np = {0}, tmp = {0};
    wb_puts(&np, w_name(w, hops[0].subj));
    for (int i = 0; i < nh - 1; i++) {
        tmp.len = 0;
        /* "the city where X was born" reads well once; nested, "the capital of the birthplace of X" */
        int form = i == 0 ? (int)qy_rng_below(r, 2) : 0;
        wb_template(&tmp, w_relations[hop_fact(w, &hops[i])->rel].np[form], np.p ? np.p : "", NULL);
        np.len = 0;
        wb_puts(&np, tmp.p ? tmp.p : "");
    }
    w_question_text(w, hop_fact(w, &hops[nh - 1])->rel, (int)qy_rng_below(r, W_NTEMPL), np.p ? np.p : "",
                    out);
    wb_done(&np, out);
    wb_done(&tmp, out);
}

/* emit unless a buffer ran out of memory, then free q and ans */
static void finish(q_ctx *c, size_t topic, const char *suffix, const char *kind, w_buf *q, w_buf *ans,
                   const hop *hops, int nh, qy_rng *r, w_buf *out, const char *extra) {
    if (!q->oom && !ans->oom && q->p && ans->p)
        emit_question(c, topic, suffix, kind, q->p, ans->p, hops, nh, r, out, extra);
    else
        out[0].oom = 1;
    wb_free(q);
    wb_free(ans);
}

static void chain_answers(const qy_world *w, const hop *last, w_buf *b) {
    w_json_answers(w, hop_fact(w, last), b);
}

/* a same-type partner of e in e's split with relation rel (and, when
 * need_diff_year, a different value); SIZE_MAX if none found */
static size_t find_partner(const qy_world *w, qy_rng *r, size_t e, int rel, int need_diff) {
    int type = w->type[e];
    size_t n = w->type_count[type];
    int ke = w_find_fact(w, e, rel);
    for (int tries = 0; tries < 24 && ke >= 0; tries++) {
        size_t b = w->type_list[type][qy_rng_below(r, n)];
        if (b == e || w->split[b] != w->split[e]) continue;
        int kb = w_find_fact(w, b, rel);
        if (kb < 0) continue;
        if (need_diff && w_facts(w, b)[kb].obj == w_facts(w, e)[ke].obj) continue;
        return b;
    }
    return SIZE_MAX;
}

static void comparison(q_ctx *c, qy_rng *r, size_t e, w_buf *out) {
    const qy_world *w = c->w;
    w_buf q = {0}, ans = {0};
    hop hops[2];
    int year = qy_rng_below(r, 2) == 0;
    int rel;
    if (year) {
        rel = year_relation_of(w->type[e]);
        if (w->type[e] == QY_WORLD_PERSON && w_find_fact(w, e, R_DEATH_YEAR) >= 0 && qy_rng_below(r, 3) == 0)
            rel = R_DEATH_YEAR;
    } else {
        int cand[W_MAXREL], nc = 0;
        const w_fact *f = w_facts(w, e);
        for (int k = 0; k < w->nfacts[e]; k++)
            if (w_relations[f[k].rel].kind != WV_YEAR && f[k].rel != R_SPOUSE) cand[nc++] = f[k].rel;
        if (!nc) return;
        rel = cand[qy_rng_below(r, (uint64_t)nc)];
    }
    size_t b = find_partner(w, r, e, rel, year);
    if (b == SIZE_MAX) return;
    size_t first = e, second = b;
    if (qy_rng_below(r, 2)) first = b, second = e;
    hops[0] = (hop){first, w_find_fact(w, first, rel)};
    hops[1] = (hop){second, w_find_fact(w, second, rel)};
    int32_t v1 = hop_fact(w, &hops[0])->obj, v2 = hop_fact(w, &hops[1])->obj;
    char extra[160];
    if (year) {
        int later = qy_rng_below(r, 2) == 1;
        const char *vars[] = {"A", w_name(w, first), "B", w_name(w, second), NULL};
        wb_subst(&q, later ? w_relations[rel].later : w_relations[rel].earlier, vars);
        size_t winner = (later ? v1 > v2 : v1 < v2) ? first : second;
        w_json_entity_answers(w, winner, &ans);
        snprintf(extra, sizeof extra,
                 ",\"chain\":[\"e%zu\",\"e%zu\"],\"comparison\":{\"relation\":\"%s\",\"operator\":\"%s\"}",
                 first, second, w_relations[rel].id, later ? "later" : "earlier");
    } else {
        char tmpl[160];
        snprintf(tmpl, sizeof tmpl, "Do {A} and {B} have the same %s?", w_relations[rel].label);
        const char *vars[] = {"A", w_name(w, first), "B", w_name(w, second), NULL};
        wb_subst(&q, tmpl, vars);
        wb_puts(&ans, v1 == v2 ? "\"yes\"" : "\"no\"");
        snprintf(extra, sizeof extra,
                 ",\"chain\":[\"e%zu\",\"e%zu\"],\"comparison\":{\"relation\":\"%s\",\"operator\":\"same\"}",
                 first, second, w_relations[rel].id);
    }
    finish(c, e, "c", "comparison", &q, &ans, hops, 2, r, out, extra);
}

static void bridge_comparison(q_ctx *c, qy_rng *r, size_t e, w_buf *out) {
    const qy_world *w = c->w;
    int cand[W_MAXREL], nc = 0;
    const w_fact *f = w_facts(w, e);
    for (int k = 0; k < w->nfacts[e]; k++)
        if (w_relations[f[k].rel].kind == WV_ENTITY) cand[nc++] = k;
    if (!nc) return;
    int k1 = cand[qy_rng_below(r, (uint64_t)nc)], r1 = f[k1].rel;
    int r2 = year_relation_of(w_relations[r1].range);
    size_t obj_e = (size_t)f[k1].obj;
    int ke2 = w_find_fact(w, obj_e, r2);
    if (ke2 < 0) return;
    size_t b = SIZE_MAX;
    for (int tries = 0; tries < 8 && b == SIZE_MAX; tries++) {
        size_t cand_b = find_partner(w, r, e, r1, 1);
        if (cand_b == SIZE_MAX) break;
        size_t ob = (size_t)w_facts(w, cand_b)[w_find_fact(w, cand_b, r1)].obj;
        int kb2 = w_find_fact(w, ob, r2);
        if (kb2 >= 0 && w_facts(w, ob)[kb2].obj != w_facts(w, obj_e)[ke2].obj) b = cand_b;
    }
    if (b == SIZE_MAX) return;
    size_t first = e, second = b;
    if (qy_rng_below(r, 2)) first = b, second = e;
    hop hops[4];
    hops[0] = (hop){first, w_find_fact(w, first, r1)};
    size_t o1 = (size_t)hop_fact(w, &hops[0])->obj;
    hops[1] = (hop){o1, w_find_fact(w, o1, r2)};
    hops[2] = (hop){second, w_find_fact(w, second, r1)};
    size_t o2 = (size_t)hop_fact(w, &hops[2])->obj;
    hops[3] = (hop){o2, w_find_fact(w, o2, r2)};
    int later = qy_rng_below(r, 2) == 1;
    char tmpl[200];
    snprintf(tmpl, sizeof tmpl, "Of {A} and {B}, which one's %s has the %s %s?", w_relations[r1].label,
             later ? "later" : "earlier", w_relations[r2].label);
    w_buf q = {0}, ans = {0};
    const char *vars[] = {"A", w_name(w, first), "B", w_name(w, second), NULL};
    wb_subst(&q, tmpl, vars);
    int32_t v1 = hop_fact(w, &hops[1])->obj, v2 = hop_fact(w, &hops[3])->obj;
    w_json_entity_answers(w, (later ? v1 > v2 : v1 < v2) ? first : second, &ans);
    char extra[256];
    snprintf(extra, sizeof extra,
             ",\"chain\":[\"e%zu\",\"e%zu\",\"e%zu\",\"e%zu\"],\"comparison\":{\"bridge_relation\":\"%s\","
             "\"relation\":\"%s\",\"operator\":\"%s\"}",
             first, o1, second, o2, w_relations[r1].id, w_relations[r2].id, later ? "later" : "earlier");
    finish(c, e, "x", "bridge_comparison", &q, &ans, hops, 4, r, out, extra);
}

static void chain_kind(q_ctx *c, qy_rng *r, size_t e, int nh, const char *suffix, const char *kind,
                       w_buf *out) {
    const qy_world *w = c->w;
    hop hops[4];
    if (!w_walk(w, r, e, nh, hops)) return;
    w_buf q = {0}, ans = {0};
    w_chain_question(w, r, hops, nh, &q);
    chain_answers(w, &hops[nh - 1], &ans);
    char extra[256];
    int n = snprintf(extra, sizeof extra, ",\"chain\":[");
    for (int i = 0; i <= nh && n < (int)sizeof extra - 24; i++) {
        size_t ent = i < nh ? hops[i].subj : (size_t)hop_fact(w, &hops[nh - 1])->obj;
        if (i == nh && w_relations[hop_fact(w, &hops[nh - 1])->rel].kind != WV_ENTITY) break;
        n += snprintf(extra + n, sizeof extra - (size_t)n, "%s\"e%zu\"", i ? "," : "", ent);
    }
    snprintf(extra + n, sizeof extra - (size_t)n, "]");
    finish(c, e, suffix, kind, &q, &ans, hops, nh, r, out, extra);
}

static void emit_entity_questions(void *vctx, size_t e, w_buf *out) {
    q_ctx *c = vctx;
    qy_rng r = w_rng(c->w, PH_QUESTIONS, e);
    chain_kind(c, &r, e, 1, "s", "single", out);
    if (qy_rng_below(&r, 100) < 50) chain_kind(c, &r, e, 2, "b", "bridge", out);
    if (qy_rng_below(&r, 100) < 35)
        chain_kind(c, &r, e, 3 + (int)qy_rng_below(&r, 2), "m", "composition", out);
    if (qy_rng_below(&r, 100) < 30) comparison(c, &r, e, out);
    if (qy_rng_below(&r, 100) < 15) bridge_comparison(c, &r, e, out);
}

int w_write_questions(const qy_world *w, w_out *o) {
    static const char *const names[OUT_N] = {"qa/train.jsonl", "qa/dev.jsonl",    "qa/test.jsonl",
                                             "queries.jsonl",  "qrels/train.tsv", "qrels/dev.tsv",
                                             "qrels/test.tsv"};
    qy_afile *f[OUT_N] = {NULL};
    int st = QY_OK;
    for (int i = 0; i < OUT_N && !st; i++) {
        st = w_open(o, names[i], &f[i]);
        if (!st && i >= OUT_QRELS) {
            static const char header[] = "query-id\tcorpus-id\tscore\n";
            st = qy_afile_write(f[i], header, sizeof header - 1);
        }
    }
    q_ctx *c = qy_calloc(1, sizeof *c);
    if (!c && !st) st = QY_ERR_NOMEM;
    if (!st) {
        c->w = w;
        st = w_stream(o, w->n, emit_entity_questions, c, OUT_N, f);
    }
    st = w_finish_files(o, st, f, OUT_N);
    if (c && !st) {
        for (int s = 0; s < 3; s++) o->st->questions_by_split[s] = c->by_split[s];
        for (int h = 0; h < 5; h++) o->st->questions_by_hops[h] = c->by_hops[h];
        o->st->questions = c->total;
    }
    qy_free(c);
    return st;
}
