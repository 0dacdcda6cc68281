/* world_edits.c — knowledge-edit requests (s, r, o -> o*) over the world, in the
 * layouts of the shared CounterFact (EasyEdit flattened JSON array:
 * case_id, prompt, target_new, subject, ground_truth, rephrase_prompt,
 * locality_prompt, locality_ground_truth) and zsRE (MEND JSON lines: subject,
 * src, pred, rephrase, alt, answers, loc, loc_ans, cond) files, so the readers
 * of the real data take these too. Both carry the same extra keys:
 *   paraphrase_prompts     the other cloze forms of the edited fact
 *   neighborhood_prompts   other subjects with the same relation (and, for
 *                          entity objects, the same old object, as in CounterFact)
 *   relation_locality      every other fact of the subject, graded easy / middle /
 *                          hard by relation similarity (FINE-KED)
 *   multi_hop              two-hop questions through the edited fact whose answer
 *                          changes with the edit (forward: a fact of the new object;
 *                          backward: a subject whose fact points at the edited subject)
 * Subjects are distinct: edit j edits entity permute(j). */
#include <stdatomic.h>
#include <string.h>

#include "eval/world_internal.h"

typedef struct e_ctx {
    const qy_world *w;
    _Atomic size_t level[3];
} e_ctx;

static const char *const level_names[3] = {"easy", "middle", "hard"};

static void cloze(const qy_world *w, int rel, int t, size_t subj, w_buf *b) {
    wb_template(b, w_relations[rel].cloze[t], w_name(w, subj), NULL);
}

static void json_filled(w_buf *b, const char *tmpl, const char *subj) {
    w_buf t = {0};
    wb_template(&t, tmpl, subj, NULL);
    wb_json_str(b, t.p ? t.p : "");
    wb_done(&t, b);
}

/* the new object for fact f of subject e: same range, different value */
static int32_t new_object(const qy_world *w, qy_rng *r, size_t e, const w_fact *f) {
    const w_relation *rel = &w_relations[f->rel];
    if (rel->kind == WV_YEAR) {
        int32_t d = 1 + (int32_t)qy_rng_below(r, 40);
        return qy_rng_below(r, 2) ? f->obj + d : f->obj - d;
    }
    if (rel->kind == WV_VOCAB) {
        int32_t v = (int32_t)qy_rng_below(r, (uint64_t)w_vocab_size[rel->range] - 1);
        return v >= f->obj ? v + 1 : v;
    }
    size_t n = w->type_upto[(size_t)w->slice[e] * QY_WORLD_NTYPES + rel->range];
    for (int tries = 0; tries < 32; tries++) {
        size_t o = w->type_list[rel->range][qy_rng_below(r, n)];
        if ((int32_t)o != f->obj && o != e) return (int32_t)o;
    }
    return -1;
}

static void value_str(const qy_world *w, int rel, int32_t v, char *buf, size_t cap) {
    w_fact f = {(uint8_t)rel, 0, 0, 0, v};
    w_object_str(w, &f, buf, cap);
}

/* one multi_hop entry: the question asks qrel of the noun phrase np_tmpl(np_subj) */
static void json_multi_hop(const qy_world *w, qy_rng *r, w_buf *b, int nm, int np_rel, size_t np_subj,
                           int qrel, const char *old_answer, const char *new_answer, const char *direction,
                           int rel_a, int rel_b) {
    w_buf np = {0}, q = {0};
    wb_template(&np, w_relations[np_rel].np[0], w_name(w, np_subj), NULL);
    w_question_text(w, qrel, (int)qy_rng_below(r, W_NTEMPL), np.p ? np.p : "", &q);
    wb_puts(b, nm ? ",{\"question\":" : "{\"question\":");
    wb_json_str(b, q.p ? q.p : "");
    wb_puts(b, ",\"old_answer\":");
    wb_json_str(b, old_answer);
    wb_puts(b, ",\"new_answer\":");
    wb_json_str(b, new_answer);
    wb_printf(b, ",\"direction\":\"%s\",\"relations\":[\"%s\",\"%s\"]}", direction, w_relations[rel_a].id,
              w_relations[rel_b].id);
    wb_done(&np, b);
    wb_done(&q, b);
}

static void extras(e_ctx *c, qy_rng *r, size_t e, int k, int t, int32_t newv, w_buf *b, size_t *loc_subj) {
    const qy_world *w = c->w;
    const w_fact *f = &w_facts(w, e)[k];
    int rel = f->rel;
    char id[32], doc[32], s1[96], s2[96];
    w_entity_id(e, id, sizeof id);
    w_doc_id(e, w_relations[rel].section, doc, sizeof doc);
    wb_puts(b, ",\"relation\":");
    wb_json_str(b, w_relations[rel].id);
    wb_puts(b, ",\"subject_id\":");
    wb_json_str(b, id);
    wb_puts(b, ",\"fact_doc\":");
    wb_json_str(b, doc);
    wb_puts(b, ",\"paraphrase_prompts\":[");
    for (int i = 1; i < W_NTEMPL; i++) {
        if (i > 1) wb_puts(b, ",");
        w_buf p = {0};
        cloze(w, rel, (t + i) % W_NTEMPL, e, &p);
        wb_json_str(b, p.p ? p.p : "");
        wb_done(&p, b);
    }
    /* neighbourhood: same relation and same old object first, then same relation */
    size_t nb[5];
    int nn = 0;
    if (w_relations[rel].kind == WV_ENTITY) {
        size_t o = (size_t)f->obj, lo = w->inv_off[o], hi = w->inv_off[o + 1];
        size_t cnt = hi - lo, start = cnt ? qy_rng_below(r, cnt) : 0;
        for (size_t i = 0; i < cnt && nn < 5; i++) {
            uint32_t packed = w->inv_subj[lo + (start + i) % cnt];
            size_t s = packed >> 8;
            if (s != e && w_facts(w, s)[packed & 0xff].rel == rel) nb[nn++] = s;
        }
    }
    int type = w->type[e];
    for (int tries = 0; tries < 40 && nn < 5; tries++) {
        size_t s = w->type_list[type][qy_rng_below(r, w->type_count[type])];
        int dup = s == e || w_find_fact(w, s, rel) < 0;
        for (int j = 0; j < nn; j++) dup |= nb[j] == s;
        if (!dup) nb[nn++] = s;
    }
    *loc_subj = nn ? nb[0] : SIZE_MAX;
    wb_puts(b, "],\"neighborhood_prompts\":[");
    for (int i = 0; i < nn; i++) {
        w_buf p = {0};
        cloze(w, rel, t, nb[i], &p);
        w_entity_id(nb[i], id, sizeof id);
        wb_puts(b, i ? ",{\"prompt\":" : "{\"prompt\":");
        wb_json_str(b, p.p ? p.p : "");
        wb_puts(b, ",\"subject\":");
        wb_json_str(b, w_name(w, nb[i]));
        wb_puts(b, ",\"subject_id\":");
        wb_json_str(b, id);
        w_object_str(w, &w_facts(w, nb[i])[w_find_fact(w, nb[i], rel)], s1, sizeof s1);
        wb_puts(b, ",\"ground_truth\":");
        wb_json_str(b, s1);
        wb_puts(b, "}");
        wb_done(&p, b);
    }
    /* same-subject facts, graded by relation similarity */
    wb_puts(b, "],\"relation_locality\":[");
    int first = 1;
    const w_fact *all = w_facts(w, e);
    for (int j = 0; j < w->nfacts[e]; j++) {
        if (j == k) continue;
        int lv = (int)qy_world_locality(rel, all[j].rel);
        atomic_fetch_add(&c->level[lv], 1);
        int tj = (int)qy_rng_below(r, W_NTEMPL);
        w_buf p = {0}, q = {0};
        cloze(w, all[j].rel, tj, e, &p);
        w_question_text(w, all[j].rel, tj, w_name(w, e), &q);
        wb_puts(b, first ? "{\"prompt\":" : ",{\"prompt\":");
        first = 0;
        wb_json_str(b, p.p ? p.p : "");
        wb_puts(b, ",\"question\":");
        wb_json_str(b, q.p ? q.p : "");
        wb_puts(b, ",\"relation\":");
        wb_json_str(b, w_relations[all[j].rel].id);
        w_object_str(w, &all[j], s1, sizeof s1);
        wb_puts(b, ",\"ground_truth\":");
        wb_json_str(b, s1);
        wb_printf(b, ",\"level\":\"%s\"}", level_names[lv]);
        wb_done(&p, b);
        wb_done(&q, b);
    }
    /* multi-hop questions whose answer changes */
    wb_puts(b, "],\"multi_hop\":[");
    int nm = 0;
    if (w_relations[rel].kind == WV_ENTITY) {
        size_t o = (size_t)f->obj, on = (size_t)newv;
        const w_fact *of = w_facts(w, o);
        for (int j = 0; j < w->nfacts[o] && nm < 3; j++) {
            int kn = w_find_fact(w, on, of[j].rel);
            if (kn < 0 || (w_relations[of[j].rel].kind == WV_ENTITY && (size_t)of[j].obj == e)) continue;
            const w_fact *nf = &w_facts(w, on)[kn];
            if (nf->obj == of[j].obj) continue;
            w_object_str(w, &of[j], s1, sizeof s1);
            w_object_str(w, nf, s2, sizeof s2);
            json_multi_hop(w, r, b, nm++, rel, e, of[j].rel, s1, s2, "forward", rel, of[j].rel);
        }
    }
    {
        size_t lo = w->inv_off[e], hi = w->inv_off[e + 1];
        value_str(w, rel, f->obj, s1, sizeof s1);
        value_str(w, rel, newv, s2, sizeof s2);
        for (size_t i = lo; i < hi && nm < 6; i++) {
            size_t p = w->inv_subj[i] >> 8;
            int r0 = w_facts(w, p)[w->inv_subj[i] & 0xff].rel;
            if (p == e || ((w_relations[rel].kind == WV_ENTITY) && (size_t)f->obj == p)) continue;
            json_multi_hop(w, r, b, nm++, r0, p, rel, s1, s2, "backward", r0, rel);
        }
    }
    wb_puts(b, "]");
}

static void emit_edit(void *vctx, size_t j, w_buf *out) {
    e_ctx *c = vctx;
    const qy_world *w = c->w;
    qy_rng r = w_rng(w, PH_EDITS, j);
    size_t e = (size_t)w_permute(j, w->n, w_hash(w->p.seed, 0xed17));
    QY_ASSERT(w->nfacts[e] > 0);
    /* prefer facts whose subject has other facts at all three locality levels (so
     * FINE-KED's easy, middle and hard checks all exist), then entity-valued facts
     * (as CounterFact) 70% of the time and attributes (as zsRE's years) 30% */
    int cand[W_MAXREL], nc = 0, want_entity = qy_rng_below(&r, 10) < 7;
    const w_fact *f = w_facts(w, e);
    int full[W_MAXREL], nfull = 0;
    for (int k = 0; k < w->nfacts[e]; k++) {
        int seen[3] = {0, 0, 0};
        for (int i = 0; i < w->nfacts[e]; i++)
            if (i != k) seen[qy_world_locality(f[k].rel, f[i].rel)] = 1;
        full[k] = seen[0] && seen[1] && seen[2];
        nfull += full[k];
    }
    for (int pass = 0; pass < 3 && !nc; pass++)
        for (int k = 0; k < w->nfacts[e]; k++) {
            int kind_ok = (w_relations[f[k].rel].kind == WV_ENTITY) == want_entity;
            if ((pass == 0 && full[k] && kind_ok) || (pass == 1 && (nfull ? full[k] : kind_ok)) || pass == 2)
                cand[nc++] = k;
        }
    int k = cand[qy_rng_below(&r, (uint64_t)nc)], rel = f[k].rel;
    int32_t newv = new_object(w, &r, e, &f[k]);
    for (int i = 0; newv < 0 && i < w->nfacts[e]; i++) /* no other object in reach: edit an attribute */
        if (w_relations[f[i].rel].kind != WV_ENTITY) {
            k = i;
            rel = f[i].rel;
            newv = new_object(w, &r, e, &f[k]);
        }
    QY_ASSERT(newv >= 0);
    int t = (int)qy_rng_below(&r, W_NTEMPL);
    char olds[96], news[96], ls[96];
    value_str(w, rel, f[k].obj, olds, sizeof olds);
    value_str(w, rel, newv, news, sizeof news);
    w_buf ex = {0};
    size_t loc = SIZE_MAX;
    extras(c, &r, e, k, t, newv, &ex, &loc);
    const char *name = w_name(w, e);
    int lrel = rel;
    if (loc == SIZE_MAX) { /* no other subject has this relation: use any fact of any other entity */
        loc = (e + 1) % w->n;
        while (!w->nfacts[loc]) loc = (loc + 1) % w->n;
        lrel = w_facts(w, loc)[0].rel;
    }
    w_object_str(w, &w_facts(w, loc)[w_find_fact(w, loc, lrel)], ls, sizeof ls);

    w_buf *b = &out[0];
    wb_printf(b, "%s  {\"case_id\":%zu,\"prompt\":", j ? ",\n" : "", j);
    json_filled(b, w_relations[rel].cloze[t], name);
    wb_puts(b, ",\"target_new\":");
    wb_json_str(b, news);
    wb_puts(b, ",\"subject\":");
    wb_json_str(b, name);
    wb_puts(b, ",\"ground_truth\":");
    wb_json_str(b, olds);
    wb_puts(b, ",\"rephrase_prompt\":");
    json_filled(b, w_relations[rel].cloze[(t + 1) % W_NTEMPL], name);
    wb_puts(b, ",\"locality_prompt\":");
    json_filled(b, w_relations[lrel].cloze[t], w_name(w, loc));
    wb_puts(b, ",\"locality_ground_truth\":");
    wb_json_str(b, ls);
    wb_put(b, ex.p ? ex.p : "", ex.len);
    wb_puts(b, "}");

    /* zsRE: questions instead of cloze prompts; loc is an unrelated question */
    w_buf *z = &out[1], src = {0}, cond = {0};
    w_question_text(w, rel, t, name, &src);
    size_t u = (size_t)w_permute((j + 1) % w->n, w->n, w_hash(w->p.seed, 0x10c));
    while (u == e || !w->nfacts[u]) u = (u + 1) % w->n;
    const w_fact *uf = &w_facts(w, u)[qy_rng_below(&r, w->nfacts[u])];
    w_buf lq = {0};
    wb_puts(&lq, "nq question: ");
    w_question_text(w, uf->rel, (int)qy_rng_below(&r, W_NTEMPL), w_name(w, u), &lq);
    w_object_str(w, uf, ls, sizeof ls);
    wb_puts(z, "{\"subject\":");
    wb_json_str(z, name);
    wb_puts(z, ",\"src\":");
    wb_json_str(z, src.p ? src.p : "");
    wb_puts(z, ",\"pred\":");
    wb_json_str(z, olds);
    wb_puts(z, ",\"rephrase\":");
    json_filled(z, w_relations[rel].question[(t + 1) % W_NTEMPL], name);
    wb_puts(z, ",\"alt\":");
    wb_json_str(z, news);
    wb_puts(z, ",\"answers\":[");
    wb_json_str(z, olds);
    wb_puts(z, "],\"loc\":");
    wb_json_str(z, lq.p ? lq.p : "");
    wb_puts(z, ",\"loc_ans\":");
    wb_json_str(z, ls);
    wb_printf(&cond, "%s >> %s || %s", olds, news, src.p ? src.p : "");
    wb_puts(z, ",\"cond\":");
    wb_json_str(z, cond.p ? cond.p : "");
    wb_printf(z, ",\"case_id\":%zu", j);
    wb_put(z, ex.p ? ex.p : "", ex.len);
    wb_puts(z, "}\n");
    if (ex.oom || src.oom || cond.oom || lq.oom) b->oom = 1;
    wb_free(&ex);
    wb_free(&src);
    wb_free(&cond);
    wb_free(&lq);
}

int w_write_edits(const qy_world *w, w_out *o) {
    qy_afile *f[2] = {NULL, NULL};
    int st = w_open(o, "edits/counterfact.json", &f[0]);
    if (!st) st = w_open(o, "edits/zsre.jsonl", &f[1]);
    if (!st) st = qy_afile_write(f[0], "[\n", 2);
    e_ctx *c = qy_calloc(1, sizeof *c);
    if (!c && !st) st = QY_ERR_NOMEM;
    if (!st) {
        c->w = w;
        st = w_stream(o, w->p.edits, emit_edit, c, 2, f);
    }
    if (!st) st = qy_afile_write(f[0], "\n]\n", 3);
    st = w_finish_files(o, st, f, 2);
    if (c && !st) {
        o->st->edits = w->p.edits;
        for (int l = 0; l < 3; l++) o->st->locality_by_level[l] = c->level[l];
    }
    qy_free(c);
    return st;
}
