/* world_tasks.c — instruction task families over the world for continual
 * learning, one file per task in the Super-NaturalInstructions layout
 * (Contributors, Source, URL, Categories, Reasoning, Definition,
 * Input_language, Output_language, Instruction_language, Domains, Positive
 * Examples, Negative Examples, Instances {id, input, output[]}, Instance License).
 * Every input carries the text needed to answer it, so the tasks test skills
 * (reading, comparing, arithmetic, format conversion, chaining), not memory. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "eval/world_internal.h"

typedef struct instance {
    w_buf input;
    w_buf outputs[3];
    int nout;
    int ok;
} instance;

typedef void (*make_fn)(const qy_world *w, qy_rng *r, instance *in);

typedef struct task_def {
    int number;
    const char *name, *category, *reasoning, *definition, *explanation;
    make_fn make;
} task_def;

static void out_str(instance *in, const char *s) {
    if (in->nout < 3) wb_puts(&in->outputs[in->nout++], s);
}

static size_t any_entity(const qy_world *w, qy_rng *r) { return (size_t)qy_rng_below(r, w->n); }

static void named_sentence(const qy_world *w, size_t e, const w_fact *f, w_buf *b) {
    w_fact g = *f;
    g.ref = 0;
    char s[256];
    w_fact_sentence(w, e, &g, s, sizeof s);
    wb_puts(b, s);
}

static void answers_of(const qy_world *w, const w_fact *f, instance *in) {
    char s[96];
    w_object_str(w, f, s, sizeof s);
    out_str(in, s);
    if (w_relations[f->rel].kind == WV_ENTITY) {
        /* aliases, parsed back from the JSON body w_json_entity_answers writes */
        w_buf a = {0};
        w_json_entity_answers(w, (size_t)f->obj, &a);
        const char *comma = a.p ? strstr(a.p, "\",\"") : NULL;
        if (comma) {
            char alias[96];
            snprintf(alias, sizeof alias, "%s", comma + 3);
            alias[strlen(alias) ? strlen(alias) - 1 : 0] = '\0';
            out_str(in, alias);
        }
        wb_done(&a, &in->input);
    }
}

static void make_lookup(const qy_world *w, qy_rng *r, instance *in) {
    size_t e = any_entity(w, r);
    const w_fact *f = &w_facts(w, e)[qy_rng_below(r, w->nfacts[e])];
    wb_puts(&in->input, "Document: ");
    w_doc_text(w, e, w_relations[f->rel].section, &in->input);
    wb_printf(&in->input, "\nEntity: %s\nRelation: %s", w_name(w, e), w_relations[f->rel].label);
    answers_of(w, f, in);
    in->ok = 1;
}

static int year_rel(int type) {
    static const int rel[QY_WORLD_NTYPES] = {R_BIRTH_YEAR, R_CITY_FOUNDED, R_INDEPENDENCE_YEAR, R_ORG_FOUNDED,
                                             R_RELEASE_YEAR};
    return rel[type];
}

static void make_compare(const qy_world *w, qy_rng *r, instance *in) {
    size_t a = any_entity(w, r);
    int type = w->type[a], rel = year_rel(type);
    for (int tries = 0; tries < 16; tries++) {
        size_t b = w->type_list[type][qy_rng_below(r, w->type_count[type])];
        const w_fact *fa = &w_facts(w, a)[w_find_fact(w, a, rel)],
                     *fb = &w_facts(w, b)[w_find_fact(w, b, rel)];
        if (b == a || fa->obj == fb->obj) continue;
        int later = qy_rng_below(r, 2) == 1;
        named_sentence(w, a, fa, &in->input);
        wb_puts(&in->input, " ");
        named_sentence(w, b, fb, &in->input);
        wb_puts(&in->input, "\nQuestion: ");
        const char *vars[] = {"A", w_name(w, a), "B", w_name(w, b), NULL};
        wb_subst(&in->input, later ? w_relations[rel].later : w_relations[rel].earlier, vars);
        out_str(in, w_name(w, (later ? fa->obj > fb->obj : fa->obj < fb->obj) ? a : b));
        in->ok = 1;
        return;
    }
}

static void make_years(const qy_world *w, qy_rng *r, instance *in) {
    size_t a = any_entity(w, r);
    int kd = w->type[a] == QY_WORLD_PERSON ? w_find_fact(w, a, R_DEATH_YEAR) : -1;
    char num[32];
    if (kd >= 0 && qy_rng_below(r, 2)) {
        const w_fact *fb = &w_facts(w, a)[w_find_fact(w, a, R_BIRTH_YEAR)], *fd = &w_facts(w, a)[kd];
        named_sentence(w, a, fb, &in->input);
        wb_puts(&in->input, " ");
        named_sentence(w, a, fd, &in->input);
        wb_printf(&in->input, "\nQuestion: How many years passed between the birth and the death of %s?",
                  w_name(w, a));
        snprintf(num, sizeof num, "%d", (int)(fd->obj - fb->obj));
    } else {
        size_t b = any_entity(w, r);
        const w_fact *fa = &w_facts(w, a)[w_find_fact(w, a, year_rel(w->type[a]))];
        const w_fact *fb = &w_facts(w, b)[w_find_fact(w, b, year_rel(w->type[b]))];
        named_sentence(w, a, fa, &in->input);
        wb_puts(&in->input, " ");
        named_sentence(w, b, fb, &in->input);
        wb_puts(&in->input, "\nQuestion: How many years apart are these two events?");
        snprintf(num, sizeof num, "%d", abs((int)(fa->obj - fb->obj)));
    }
    out_str(in, num);
    in->ok = 1;
}

static void triple(const qy_world *w, size_t e, const w_fact *f, w_buf *b) {
    char obj[96];
    w_object_str(w, f, obj, sizeof obj);
    wb_printf(b, "(%s | %s | %s)", w_name(w, e), w_relations[f->rel].label, obj);
}

static void make_extract(const qy_world *w, qy_rng *r, instance *in) {
    size_t e = any_entity(w, r);
    const w_fact *f = &w_facts(w, e)[qy_rng_below(r, w->nfacts[e])];
    named_sentence(w, e, f, &in->input);
    w_buf t = {0};
    triple(w, e, f, &t);
    out_str(in, t.p ? t.p : "");
    wb_done(&t, &in->input);
    in->ok = 1;
}

static void make_to_json(const qy_world *w, qy_rng *r, instance *in) {
    size_t e = any_entity(w, r);
    const w_fact *f = &w_facts(w, e)[qy_rng_below(r, w->nfacts[e])];
    triple(w, e, f, &in->input);
    char obj[96];
    w_object_str(w, f, obj, sizeof obj);
    w_buf j = {0};
    wb_puts(&j, "{\"subject\": ");
    wb_json_str(&j, w_name(w, e));
    wb_puts(&j, ", \"relation\": ");
    wb_json_str(&j, w_relations[f->rel].label);
    wb_puts(&j, ", \"object\": ");
    wb_json_str(&j, obj);
    wb_puts(&j, "}");
    out_str(in, j.p ? j.p : "");
    wb_done(&j, &in->input);
    in->ok = 1;
}

static void make_multihop(const qy_world *w, qy_rng *r, instance *in) {
    size_t e = any_entity(w, r);
    w_hop hops[3];
    int nh = 2 + (int)qy_rng_below(r, 2);
    if (!w_walk(w, r, e, nh, hops)) return;
    int order[3] = {0, 1, 2};
    qy_rng_shuffle(r, order, (size_t)nh, sizeof order[0]);
    wb_puts(&in->input, "Context:");
    for (int i = 0; i < nh; i++) {
        wb_puts(&in->input, " ");
        named_sentence(w, hops[order[i]].subj, &w_facts(w, hops[order[i]].subj)[hops[order[i]].k],
                       &in->input);
    }
    wb_puts(&in->input, "\nQuestion: ");
    w_chain_question(w, r, hops, nh, &in->input);
    answers_of(w, &w_facts(w, hops[nh - 1].subj)[hops[nh - 1].k], in);
    in->ok = 1;
}

static void make_typing(const qy_world *w, qy_rng *r, instance *in) {
    size_t e = any_entity(w, r);
    wb_puts(&in->input, "Text:");
    const w_fact *f = w_facts(w, e);
    for (int k = 0; k < w->nfacts[e]; k++) {
        wb_puts(&in->input, " ");
        named_sentence(w, e, &f[k], &in->input);
    }
    wb_printf(&in->input,
              "\nWhat kind of entity is %s? Options: person, city, country, organisation, creative work",
              w_name(w, e));
    out_str(in, w_type_names[w->type[e]]);
    in->ok = 1;
}

static const task_def tasks[] = {
    {9001, "world_relation_lookup", "Question Answering", "Reading comprehension",
     "You are given a document about an entity, the entity's name and the name of a relation. Answer with "
     "the "
     "value of that relation for the entity, exactly as the document states it.",
     "The document states this value for the entity and relation.", make_lookup},
    {9002, "world_comparison", "Question Answering", "Quantitative Reasoning",
     "You are given two sentences that each give a year about an entity, and a question that asks which "
     "entity "
     "came first or later. Answer with the name of that entity.",
     "The years in the two sentences decide which entity is meant.", make_compare},
    {9003, "world_year_arithmetic", "Mathematics", "Arithmetic",
     "You are given sentences that state years, and a question about the number of years between the events. "
     "Answer with a whole number.",
     "The answer is the difference between the two years.", make_years},
    {9004, "world_triple_extraction", "Information Extraction", "Relational Reasoning",
     "Convert the sentence into a triple in the format (subject | relation | object). Use the full name of "
     "the "
     "subject and one of the relation names: place of birth, place of death, home city, country of "
     "citizenship, "
     "employer, alma mater, spouse, mentor, birth year, year of death, occupation, country, mayor, founding "
     "year, "
     "main industry, capital, head of state, official language, year of independence, headquarters city, "
     "country "
     "of incorporation, founder, chief executive, industry, creator, lead performer, producer, setting, "
     "release "
     "year, genre, language.",
     "The triple names the subject, the relation and the object of the sentence.", make_extract},
    {9005, "world_triple_to_json", "Text to Code", "Reasoning on Objects",
     "Convert the triple (subject | relation | object) into a JSON object with the keys \"subject\", "
     "\"relation\" and \"object\", in that order, on one line.",
     "Each part of the triple goes to its key.", make_to_json},
    {9006, "world_multihop_qa", "Question Answering", "Multihop Reasoning",
     "You are given a context of a few sentences and a question that needs several of them, one after the "
     "other. "
     "Answer with the final entity or value.",
     "Following the sentences from the entity named in the question leads to this answer.", make_multihop},
    {9007, "world_entity_typing", "Text Categorization", "Commonsense Reasoning",
     "You are given sentences about an entity. Say what kind of entity it is: person, city, country, "
     "organisation or creative work.",
     "The relations in the sentences only apply to this kind of entity.", make_typing},
};
enum { N_TASKS = (int)(sizeof tasks / sizeof tasks[0]) };

static void instance_free(instance *in) {
    wb_free(&in->input);
    for (int i = 0; i < 3; i++) wb_free(&in->outputs[i]);
    memset(in, 0, sizeof *in);
}

#define CK(x)              \
    do {                   \
        if (!(x)) bad = 1; \
    } while (0)

/* ["s"], or NULL when out of memory */
static cJSON *str_array1(const char *s) {
    cJSON *a = cJSON_CreateArray(), *item = cJSON_CreateString(s);
    if (a && item && cJSON_AddItemToArray(a, item)) return a;
    cJSON_Delete(a);
    cJSON_Delete(item);
    return NULL;
}

static cJSON *build_task(const qy_world *w, const task_def *t, size_t *ninst) {
    int bad = 0;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    CK(w_put(o, "Contributors", str_array1("quarry world generator")));
    CK(w_put(o, "Source", str_array1("quarry-world")));
    CK(w_put(o, "URL", str_array1("docs/world.md")));
    CK(w_put(o, "Categories", str_array1(t->category)));
    CK(w_put(o, "Reasoning", str_array1(t->reasoning)));
    CK(w_put(o, "Definition", str_array1(t->definition)));
    CK(w_put(o, "Input_language", str_array1("English")));
    CK(w_put(o, "Output_language", str_array1("English")));
    CK(w_put(o, "Instruction_language", str_array1("English")));
    CK(w_put(o, "Domains", str_array1("Synthetic Knowledge World")));
    cJSON *pos = cJSON_AddArrayToObject(o, "Positive Examples");
    cJSON *neg = cJSON_AddArrayToObject(o, "Negative Examples");
    cJSON *insts = cJSON_AddArrayToObject(o, "Instances");
    size_t want = w->p.task_instances + 3, made = 0, attempts = 0;
    char id[64], wrong_out[128] = "";
    for (size_t i = 0; made < want && attempts < want * 8; attempts++) {
        qy_rng r = w_rng(w, PH_TASKS, (uint64_t)t->number << 24 ^ attempts);
        instance in = {0};
        t->make(w, &r, &in);
        int oom = in.input.oom;
        for (int k = 0; k < in.nout; k++) oom |= in.outputs[k].oom;
        if (oom) {
            instance_free(&in);
            cJSON_Delete(o);
            return NULL;
        }
        if (!in.ok || !in.nout) {
            instance_free(&in);
            continue;
        }
        cJSON *x = cJSON_CreateObject();
        if (made < 2) { /* two positive examples with an explanation */
            CK(cJSON_AddStringToObject(x, "input", in.input.p));
            CK(cJSON_AddStringToObject(x, "output", in.outputs[0].p));
            CK(cJSON_AddStringToObject(x, "explanation", t->explanation));
            CK(w_put(pos, NULL, x));
            if (made == 0) snprintf(wrong_out, sizeof wrong_out, "%s", in.outputs[0].p);
        } else if (made == 2) { /* a negative example: this input with the first example's answer */
            if (!strcmp(wrong_out, in.outputs[0].p)) snprintf(wrong_out, sizeof wrong_out, "unknown");
            CK(cJSON_AddStringToObject(x, "input", in.input.p));
            CK(cJSON_AddStringToObject(x, "output", wrong_out));
            CK(cJSON_AddStringToObject(x, "explanation", "This output does not follow from the input."));
            CK(w_put(neg, NULL, x));
        } else {
            snprintf(id, sizeof id, "task%d-%zu", t->number, i++);
            CK(cJSON_AddStringToObject(x, "id", id));
            CK(cJSON_AddStringToObject(x, "input", in.input.p));
            cJSON *outs = cJSON_AddArrayToObject(x, "output");
            for (int k = 0; k < in.nout; k++) CK(w_put(outs, NULL, cJSON_CreateString(in.outputs[k].p)));
            CK(w_put(insts, NULL, x));
        }
        made++;
        instance_free(&in);
    }
    CK(w_put(o, "Instance License", str_array1("CC0 1.0 (generated by quarry)")));
    *ninst = made > 3 ? made - 3 : 0;
    if (!bad) return o;
    cJSON_Delete(o);
    return NULL;
}

int w_write_tasks(const qy_world *w, w_out *o) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tasks", o->dir);
    int st = qy_mkdir_p(path);
    for (int i = 0; i < N_TASKS && !st; i++) {
        size_t ninst = 0;
        cJSON *j = build_task(w, &tasks[i], &ninst);
        if (!j) return qy_error(QY_ERR_NOMEM, "world: out of memory building task %s", tasks[i].name);
        char *s = qy_json_print(j, 1);
        cJSON_Delete(j);
        if (!s) return qy_error(QY_ERR_NOMEM, "world: out of memory printing task %s", tasks[i].name);
        snprintf(path, sizeof path, "%s/tasks/task%d_%s.json", o->dir, tasks[i].number, tasks[i].name);
        size_t len = strlen(s);
        st = qy_write_file_atomic(path, s, len);
        qy_free(s);
        o->st->bytes += len;
        o->st->tasks++;
        o->st->task_instances += ninst;
    }
    return st;
}
