/* world_text.c — the world's text: growable buffers with JSON escaping,
 * template filling, fact sentences, documents (introduction, paraphrased facts
 * in shuffled order, fillers, distractors) and answer lists with aliases. */
#include <stdarg.h>
#include <string.h>

#include "eval/world_internal.h"

/* ---------------------------------------------------------------- buffers */

static void wb_reserve(w_buf *b, size_t extra) {
    if (b->oom) return;
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = qy_realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

void wb_free(w_buf *b) {
    qy_free(b->p);
    memset(b, 0, sizeof *b);
}

void wb_done(w_buf *scratch, w_buf *into) {
    if (scratch->oom) into->oom = 1;
    wb_free(scratch);
}

void wb_put(w_buf *b, const char *s, size_t n) {
    if (b->fixed) {
        size_t room = b->cap - b->len - 1;
        if (n > room) n = room;
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
        return;
    }
    wb_reserve(b, n);
    if (b->oom) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void wb_puts(w_buf *b, const char *s) { wb_put(b, s, strlen(s)); }

void wb_printf(w_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    wb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void wb_json_str(w_buf *b, const char *s) {
    wb_put(b, "\"", 1);
    const char *run = s;
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        wb_put(b, run, (size_t)(p - run)); /* the run of characters that need no escape */
        if (!c) break;
        char e[8];
        if (c == '"' || c == '\\')
            snprintf(e, sizeof e, "\\%c", c);
        else
            snprintf(e, sizeof e, "\\u%04x", c);
        wb_put(b, e, strlen(e));
        run = p + 1;
    }
    wb_put(b, "\"", 1);
}

void wb_json_key(w_buf *b, const char *k) {
    wb_json_str(b, k);
    wb_put(b, ":", 1);
}

void wb_subst(w_buf *b, const char *tmpl, const char *const *vars) {
    const char *p = tmpl;
    while (*p) {
        const char *open = strchr(p, '{');
        if (!open) {
            wb_puts(b, p);
            return;
        }
        wb_put(b, p, (size_t)(open - p));
        const char *close = strchr(open, '}');
        if (!close) {
            wb_puts(b, open);
            return;
        }
        size_t klen = (size_t)(close - open - 1);
        int done = 0;
        for (const char *const *v = vars; *v; v += 2) {
            if (strlen(v[0]) == klen && !memcmp(v[0], open + 1, klen)) {
                wb_puts(b, v[1]);
                done = 1;
                break;
            }
        }
        if (!done) wb_put(b, open, klen + 2);
        p = close + 1;
    }
}

void wb_template(w_buf *b, const char *tmpl, const char *subj, const char *obj) {
    char aobj[96];
    const char *o = obj ? obj : "";
    snprintf(aobj, sizeof aobj, "%s %s", strchr("aeiouAEIOU", o[0]) && o[0] ? "an" : "a", o);
    const char *vars[] = {"S", subj ? subj : "", "O", o, "aO", aobj, NULL};
    wb_subst(b, tmpl, vars);
}

void w_fill(char *out, size_t cap, const char *tmpl, const char *subj, const char *obj) {
    QY_ASSERT(cap > 0);
    w_buf b = {out, 0, cap, 0, 1};
    out[0] = '\0';
    wb_template(&b, tmpl, subj, obj);
}

/* ------------------------------------------------------------- renderers */

void w_object_str(const qy_world *w, const w_fact *f, char *buf, size_t cap) {
    const w_relation *r = &w_relations[f->rel];
    if (r->kind == WV_ENTITY)
        snprintf(buf, cap, "%s", w_name(w, (size_t)f->obj));
    else if (r->kind == WV_YEAR)
        snprintf(buf, cap, "%d", (int)f->obj);
    else
        snprintf(buf, cap, "%s", w_vocab[r->range][f->obj]);
}

const char *w_subject_ref(const qy_world *w, size_t e, int ref) {
    if (!ref) return w_name(w, e);
    if (w->type[e] == QY_WORLD_PERSON) return w->gender[e] ? "She" : "He";
    return w_type_pronoun[w->type[e]];
}

void w_fact_sentence(const qy_world *w, size_t e, const w_fact *f, char *buf, size_t cap) {
    char obj[96];
    w_object_str(w, f, obj, sizeof obj);
    w_fill(buf, cap, w_relations[f->rel].doc[f->tmpl], w_subject_ref(w, e, f->ref), obj);
}

void w_doc_id(size_t e, int section, char *buf, size_t cap) { snprintf(buf, cap, "d%zu-%d", e, section); }
void w_entity_id(size_t e, char *buf, size_t cap) { snprintf(buf, cap, "e%zu", e); }

void w_doc_title(const qy_world *w, size_t e, int section, char *buf, size_t cap) {
    snprintf(buf, cap, "%s%s", w_name(w, e), w_section_titles[w->type[e]][section]);
}

void w_doc_text(const qy_world *w, size_t e, int section, w_buf *b) {
    qy_rng r = w_rng(w, PH_DOCS, (uint64_t)e * 4 + (uint64_t)section);
    const char *name = w_name(w, e);
    int type = w->type[e];
    /* sentences: intro, then facts of this section and fillers in random order */
    const char *tname = w_type_names[type];
    if (section == 0) {
        static const char *const intro[] = {"{S} is {aO}.", "{S} is the name of {aO}."};
        wb_template(b, intro[qy_rng_below(&r, 2)], name, tname);
    } else {
        wb_template(b, "This section describes the career of {S}.", name, NULL);
    }
    int order[W_MAXREL + 4], n = 0;
    const w_fact *f = w_facts(w, e);
    for (int k = 0; k < w->nfacts[e]; k++)
        if (w_relations[f[k].rel].section == section) order[n++] = k;
    int nfill = (int)qy_rng_below(&r, 3);
    for (int i = 0; i < nfill; i++) order[n++] = -1 - (int)qy_rng_below(&r, (uint64_t)w_nfillers);
    qy_rng_shuffle(&r, order, (size_t)n, sizeof order[0]);
    char sent[256];
    for (int i = 0; i < n; i++) {
        wb_put(b, " ", 1);
        if (order[i] >= 0) {
            w_fact_sentence(w, e, &f[order[i]], sent, sizeof sent);
            wb_puts(b, sent);
        } else {
            wb_template(b, w_fillers[-1 - order[i]], name, NULL);
        }
    }
    /* distractors, at the end, by name: true facts of other entities that point at
     * one of this section's objects ("Xa was also born in Gufidro"), or of a random
     * entity of the same type; never of an entity from a later slice */
    int ndis = (int)qy_rng_below(&r, 3);
    size_t pool_n = w->type_upto[(size_t)w->slice[e] * QY_WORLD_NTYPES + (size_t)type];
    static const char *const lead[] = {"", "By contrast, ", "For comparison, "};
    for (int i = 0; i < ndis && pool_n > 1; i++) {
        size_t d = w->type_list[type][qy_rng_below(&r, pool_n)];
        int which = (int)qy_rng_below(&r, 3);
        w_fact df;
        int shared = 0;
        if (n > 0 && qy_rng_below(&r, 2)) {
            int k = order[qy_rng_below(&r, (uint64_t)n)];
            if (k >= 0 && w_relations[f[k].rel].kind == WV_ENTITY) {
                size_t o = (size_t)f[k].obj, lo = w->inv_off[o], cnt = w->inv_off[o + 1] - lo;
                uint32_t packed = w->inv_subj[lo + qy_rng_below(&r, cnt)];
                if ((packed >> 8) != e && w->slice[packed >> 8] <= w->slice[e]) {
                    d = packed >> 8;
                    df = w_facts(w, d)[packed & 0xff];
                    shared = 1;
                    which = 0;
                }
            }
        }
        if (!shared) {
            if (d == e || !w->nfacts[d]) continue;
            df = w_facts(w, d)[qy_rng_below(&r, w->nfacts[d])];
        }
        df.ref = 0;
        w_fact_sentence(w, d, &df, sent, sizeof sent);
        wb_put(b, " ", 1);
        wb_puts(b, lead[which]);
        wb_puts(b, sent);
    }
}

void w_json_entity_answers(const qy_world *w, size_t e, w_buf *b) {
    const char *name = w_name(w, e);
    char alias[96];
    wb_json_str(b, name);
    alias[0] = '\0';
    switch (w->type[e]) {
    case QY_WORLD_PERSON: {
        const char *sp = strchr(name, ' ');
        snprintf(alias, sizeof alias, "%c. %s", name[0], sp ? sp + 1 : name);
        break;
    }
    case QY_WORLD_COUNTRY: snprintf(alias, sizeof alias, "Republic of %s", name); break;
    case QY_WORLD_ORG: {
        const char *sp = strchr(name, ' ');
        snprintf(alias, sizeof alias, "%.*s", sp ? (int)(sp - name) : (int)strlen(name), name);
        break;
    }
    case QY_WORLD_WORK: snprintf(alias, sizeof alias, "%s", name + 4); break;
    default: break;
    }
    if (alias[0]) {
        wb_put(b, ",", 1);
        wb_json_str(b, alias);
    }
}

void w_json_answers(const qy_world *w, const w_fact *f, w_buf *b) {
    if (w_relations[f->rel].kind == WV_ENTITY) {
        w_json_entity_answers(w, (size_t)f->obj, b);
        return;
    }
    char obj[96];
    w_object_str(w, f, obj, sizeof obj);
    wb_json_str(b, obj);
}

void w_question_text(const qy_world *w, int rel, int tmpl, const char *subject, w_buf *b) {
    (void)w;
    wb_template(b, w_relations[rel].question[tmpl], subject, NULL);
}
