/* world.c — the synthetic knowledge world: entity layout and facts, and the
 * writer that puts every file on disk. Documents and other text are rendered in
 * world_text.c, questions in world_questions.c, edits in world_edits.c, tasks in
 * world_tasks.c, names in world_names.c, the relation schema in world_schema.c.
 * docs/world.md describes the files.
 *
 * Determinism: every random choice about entity e is drawn from its own stream
 * qy_rng_split(root, phase << 40 ^ e), so entities can be generated on any
 * number of threads and every output byte depends only on the parameters.
 *
 * Layout: entities come in blocks of 100 with a fixed type mix (1 country, 14
 * cities, 16 organisations, 21 works, 48 people) shuffled within the block. The
 * first city of block c is the capital of the country of block c (and is
 * located in it), so capital and located_in agree. Time slices D0, D1..Dn are
 * runs of whole blocks; a fact's object is drawn only from entities of the
 * subject's slice or earlier, so a document never names an entity from its
 * future. People 2j and 2j+1 (by person index, same block) may be married to
 * each other, which keeps "spouse" symmetric. */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "eval/world_internal.h"

static const uint8_t block_pattern_counts[QY_WORLD_NTYPES] = {48, 14, 1, 16, 21};

void qy_world_params_default(qy_world_params *p) {
    memset(p, 0, sizeof *p);
    p->seed = 42;
    p->entities = 1000;
    p->slices = 5;
    p->d0_fraction = 0.5;
    p->edits = SIZE_MAX;
    p->task_instances = 500;
    p->dev_fraction = 0.1;
    p->test_fraction = 0.1;
}

/* ------------------------------------------------------------- randomness */

qy_rng w_rng(const qy_world *w, uint64_t phase, uint64_t id) {
    return qy_rng_split(&w->root, phase << 40 ^ id);
}

int w_find_fact(const qy_world *w, size_t e, int rel) {
    const w_fact *f = w_facts(w, e);
    for (int k = 0; k < w->nfacts[e]; k++)
        if (f[k].rel == rel) return k;
    return -1;
}

/* ----------------------------------------------------------------- build */

typedef struct build_ctx {
    qy_world *w;
} build_ctx;

static size_t pick_of_type(qy_world *w, qy_rng *r, int type, int slice) {
    size_t n = w->type_upto[(size_t)slice * QY_WORLD_NTYPES + (size_t)type];
    QY_ASSERT(n > 0);
    return w->type_list[type][qy_rng_below(r, n)];
}

static void add_fact(qy_world *w, qy_rng *r, size_t e, int rel, int64_t obj) {
    w_fact *f = w->facts + e * W_MAXREL + w->nfacts[e];
    QY_ASSERT(w->nfacts[e] < W_MAXREL && w_relations[rel].domain == w->type[e]);
    f->rel = (uint8_t)rel;
    f->tmpl = (uint8_t)qy_rng_below(r, W_NTEMPL);
    f->ref = qy_rng_below(r, 10) < 4;
    f->obj = (int32_t)obj;
    w->nfacts[e]++;
}

static void add_entity_fact(qy_world *w, qy_rng *r, size_t e, int rel) {
    size_t o = pick_of_type(w, r, w_relations[rel].range, w->slice[e]);
    for (int tries = 0; o == e && tries < 8; tries++)
        o = pick_of_type(w, r, w_relations[rel].range, w->slice[e]);
    if (o != e) add_fact(w, r, e, rel, (int64_t)o);
}

static void add_vocab_fact(qy_world *w, qy_rng *r, size_t e, int rel) {
    add_fact(w, r, e, rel, (int64_t)qy_rng_below(r, (uint64_t)w_vocab_size[w_relations[rel].range]));
}

static int year_in(qy_rng *r, int lo, int hi) { return lo + (int)qy_rng_below(r, (uint64_t)(hi - lo + 1)); }

static void make_facts(qy_world *w, size_t e) {
    qy_rng r = w_rng(w, PH_FACTS, e);
    size_t k = w->tindex[e];
    switch (w->type[e]) {
    case QY_WORLD_PERSON: {
        int born = year_in(&r, 1800, 1990), age = year_in(&r, 30, 95);
        int died = qy_rng_below(&r, 100) < 55 && born + age <= 2024;
        w->gender[e] = (uint8_t)qy_rng_below(&r, 2);
        add_entity_fact(w, &r, e, R_BORN_IN);
        if (died) add_entity_fact(w, &r, e, R_DIED_IN);
        add_entity_fact(w, &r, e, R_LIVED_IN);
        add_entity_fact(w, &r, e, R_CITIZEN_OF);
        add_entity_fact(w, &r, e, R_WORKS_FOR);
        add_entity_fact(w, &r, e, R_EDUCATED_AT);
        size_t partner = k ^ 1;
        if (partner < w->type_count[QY_WORLD_PERSON] && w_hash(w->p.seed ^ 0x5a5a, k / 2) % 100 < 40)
            add_fact(w, &r, e, R_SPOUSE, (int64_t)w->type_list[QY_WORLD_PERSON][partner]);
        add_entity_fact(w, &r, e, R_MENTOR);
        add_fact(w, &r, e, R_BIRTH_YEAR, born);
        if (died) add_fact(w, &r, e, R_DEATH_YEAR, born + age);
        add_vocab_fact(w, &r, e, R_OCCUPATION);
        break;
    }
    case QY_WORLD_CITY:
        if (k % 14 == 0 && k / 14 < w->type_count[QY_WORLD_COUNTRY])
            add_fact(w, &r, e, R_LOCATED_IN, (int64_t)w->type_list[QY_WORLD_COUNTRY][k / 14]);
        else
            add_entity_fact(w, &r, e, R_LOCATED_IN);
        add_entity_fact(w, &r, e, R_MAYOR);
        add_fact(w, &r, e, R_CITY_FOUNDED, year_in(&r, 600, 1950));
        add_vocab_fact(w, &r, e, R_CITY_INDUSTRY);
        break;
    case QY_WORLD_COUNTRY:
        if (k * 14 < w->type_count[QY_WORLD_CITY])
            add_fact(w, &r, e, R_CAPITAL, (int64_t)w->type_list[QY_WORLD_CITY][k * 14]);
        add_entity_fact(w, &r, e, R_HEAD_OF_STATE);
        add_vocab_fact(w, &r, e, R_OFFICIAL_LANGUAGE);
        add_fact(w, &r, e, R_INDEPENDENCE_YEAR, year_in(&r, 1500, 1990));
        break;
    case QY_WORLD_ORG:
        add_entity_fact(w, &r, e, R_HEADQUARTERED_IN);
        add_entity_fact(w, &r, e, R_INCORPORATED_IN);
        add_entity_fact(w, &r, e, R_FOUNDED_BY);
        add_entity_fact(w, &r, e, R_LED_BY);
        add_fact(w, &r, e, R_ORG_FOUNDED, year_in(&r, 1800, 2020));
        add_vocab_fact(w, &r, e, R_INDUSTRY);
        break;
    default:
        add_entity_fact(w, &r, e, R_CREATED_BY);
        add_entity_fact(w, &r, e, R_STARRING);
        add_entity_fact(w, &r, e, R_PRODUCED_BY);
        add_entity_fact(w, &r, e, R_SET_IN);
        add_fact(w, &r, e, R_RELEASE_YEAR, year_in(&r, 1900, 2024));
        add_vocab_fact(w, &r, e, R_GENRE);
        add_vocab_fact(w, &r, e, R_WORK_LANGUAGE);
        break;
    }
}

static void names_range(void *vctx, size_t b, size_t e, int tid) {
    qy_world *w = ((build_ctx *)vctx)->w;
    for (size_t i = b; i < e; i++)
        w_make_name(w->p.seed, w->type[i], w->tindex[i], w->names + i * W_NAMECAP, W_NAMECAP);
}

static void facts_range(void *vctx, size_t b, size_t e, int tid) {
    qy_world *w = ((build_ctx *)vctx)->w;
    for (size_t i = b; i < e; i++) make_facts(w, i);
}

static int check_params(const qy_world_params *p) {
    if (p->entities < 100 || p->entities > 2000000)
        return qy_error(QY_ERR_ARG, "world: entities must be between 100 and 2000000 (got %zu)", p->entities);
    if (p->slices < 0 || p->slices > 16)
        return qy_error(QY_ERR_ARG, "world: slices must be between 0 and 16 (got %d)", p->slices);
    if (!(p->d0_fraction > 0 && p->d0_fraction <= 1))
        return qy_error(QY_ERR_ARG, "world: d0_fraction must be in (0, 1] (got %g)", p->d0_fraction);
    if (!(p->dev_fraction >= 0 && p->test_fraction >= 0 && p->dev_fraction + p->test_fraction < 1))
        return qy_error(QY_ERR_ARG, "world: dev_fraction + test_fraction must be in [0, 1)");
    if (p->task_instances > 1000000)
        return qy_error(QY_ERR_ARG, "world: task_instances must be at most 1000000");
    size_t blocks = (p->entities + W_BLOCK - 1) / W_BLOCK;
    size_t d0 = (size_t)(p->d0_fraction * (double)blocks + 0.5);
    if (d0 < 1) d0 = 1;
    if (p->slices > 0 && blocks - (d0 < blocks ? d0 : blocks) < (size_t)p->slices)
        return qy_error(QY_ERR_ARG,
                        "world: %zu entities make %zu blocks of %d, too few for D0 and %d added slices; "
                        "use more entities, fewer slices or a smaller d0_fraction",
                        p->entities, blocks, W_BLOCK, p->slices);
    return QY_OK;
}

void qy_world_free(qy_world *w) {
    if (!w) return;
    qy_free(w->type);
    qy_free(w->slice);
    qy_free(w->gender);
    qy_free(w->nfacts);
    qy_free(w->split);
    qy_free(w->tindex);
    qy_free(w->names);
    qy_free(w->facts);
    for (int t = 0; t < QY_WORLD_NTYPES; t++) qy_free(w->type_list[t]);
    qy_free(w->type_upto);
    qy_free(w->slice_end);
    qy_free(w->inv_off);
    qy_free(w->inv_subj);
    qy_free(w);
}

static int build_inverse(qy_world *w) {
    w->inv_off = qy_calloc(w->n + 1, sizeof *w->inv_off);
    if (!w->inv_off) return QY_ERR_NOMEM;
    size_t total = 0;
    for (size_t e = 0; e < w->n; e++) {
        const w_fact *f = w_facts(w, e);
        for (int k = 0; k < w->nfacts[e]; k++)
            if (w_relations[f[k].rel].kind == WV_ENTITY) {
                w->inv_off[f[k].obj + 1]++;
                total++;
            }
    }
    for (size_t e = 0; e < w->n; e++) w->inv_off[e + 1] += w->inv_off[e];
    w->inv_subj = qy_mallocn(total ? total : 1, sizeof *w->inv_subj);
    size_t *fill = qy_mallocn(w->n, sizeof *fill);
    if (!w->inv_subj || !fill) {
        qy_free(fill);
        return QY_ERR_NOMEM;
    }
    memcpy(fill, w->inv_off, w->n * sizeof *fill);
    for (size_t e = 0; e < w->n; e++) {
        const w_fact *f = w_facts(w, e);
        for (int k = 0; k < w->nfacts[e]; k++)
            if (w_relations[f[k].rel].kind == WV_ENTITY)
                w->inv_subj[fill[f[k].obj]++] = (uint32_t)(e << 8 | (size_t)k);
    }
    qy_free(fill);
    return QY_OK;
}

int qy_world_new(const qy_world_params *params, qy_pool *pool, qy_world **out) {
    *out = NULL;
    QY_ASSERT(w_nrelations == R_COUNT);
    int st = check_params(params);
    if (st) return st;
    qy_world *w = qy_calloc(1, sizeof *w);
    if (!w) return QY_ERR_NOMEM;
    w->p = *params;
    if (w->p.edits == SIZE_MAX) w->p.edits = params->entities / 10 < 20000 ? params->entities / 10 : 20000;
    if (w->p.edits > params->entities) w->p.edits = params->entities;
    size_t n = w->n = params->entities;
    qy_rng_seed(&w->root, params->seed);
    w->nslices = 1 + params->slices;
    w->type = qy_calloc(n, 1);
    w->slice = qy_calloc(n, 1);
    w->gender = qy_calloc(n, 1);
    w->nfacts = qy_calloc(n, 1);
    w->split = qy_calloc(n, 1);
    w->tindex = qy_calloc(n, sizeof *w->tindex);
    w->names = qy_calloc(n, W_NAMECAP);
    w->facts = qy_calloc(n * W_MAXREL, sizeof *w->facts);
    w->type_upto = qy_calloc((size_t)w->nslices * QY_WORLD_NTYPES, sizeof *w->type_upto);
    w->slice_end = qy_calloc((size_t)w->nslices, sizeof *w->slice_end);
    if (!w->type || !w->slice || !w->gender || !w->nfacts || !w->split || !w->tindex || !w->names ||
        !w->facts || !w->type_upto || !w->slice_end) {
        qy_world_free(w);
        return QY_ERR_NOMEM;
    }
    /* types: shuffled pattern per full block, the plain pattern for a partial last block */
    uint8_t pattern[W_BLOCK];
    size_t blocks = (n + W_BLOCK - 1) / W_BLOCK;
    for (size_t b = 0; b < blocks; b++) {
        int m = 0;
        static const uint8_t order[QY_WORLD_NTYPES] = {QY_WORLD_COUNTRY, QY_WORLD_CITY, QY_WORLD_ORG,
                                                       QY_WORLD_WORK, QY_WORLD_PERSON};
        for (int t = 0; t < QY_WORLD_NTYPES; t++)
            for (int i = 0; i < block_pattern_counts[order[t]]; i++) pattern[m++] = order[t];
        size_t len = n - b * W_BLOCK < W_BLOCK ? n - b * W_BLOCK : W_BLOCK;
        if (len == W_BLOCK) {
            qy_rng r = w_rng(w, PH_LAYOUT, b);
            qy_rng_shuffle(&r, pattern, W_BLOCK, 1);
        }
        memcpy(w->type + b * W_BLOCK, pattern, len);
    }
    for (size_t e = 0; e < n; e++) w->tindex[e] = (uint32_t)w->type_count[w->type[e]]++;
    st = w_names_check_capacity(w->type_count);
    for (int t = 0; t < QY_WORLD_NTYPES && !st; t++) {
        w->type_list[t] = qy_mallocn(w->type_count[t] ? w->type_count[t] : 1, sizeof(size_t));
        if (!w->type_list[t]) st = QY_ERR_NOMEM;
    }
    if (st) {
        qy_world_free(w);
        return st;
    }
    for (size_t e = 0; e < n; e++) w->type_list[w->type[e]][w->tindex[e]] = e;
    /* slices: D0 takes round(d0_fraction * blocks) blocks, the rest is shared evenly */
    size_t d0 = (size_t)(params->d0_fraction * (double)blocks + 0.5);
    if (d0 < 1) d0 = 1;
    if (d0 > blocks || params->slices == 0) d0 = blocks;
    size_t rest = blocks - d0;
    for (int s = 0; s < w->nslices; s++) {
        size_t end_block = s == 0 ? d0 : d0 + rest * (size_t)s / (size_t)params->slices;
        size_t end = end_block * W_BLOCK;
        w->slice_end[s] = end < n ? end : n;
    }
    w->slice_end[w->nslices - 1] = n;
    int s = 0;
    size_t upto[QY_WORLD_NTYPES] = {0};
    for (size_t e = 0; e < n; e++) {
        while (e >= w->slice_end[s]) {
            memcpy(w->type_upto + (size_t)s * QY_WORLD_NTYPES, upto, sizeof upto);
            s++;
        }
        w->slice[e] = (uint8_t)s;
        upto[w->type[e]]++;
        double u = (double)(w_hash(params->seed ^ 0x5717, e) >> 11) * 0x1.0p-53;
        w->split[e] = u < params->dev_fraction ? 1 : u < params->dev_fraction + params->test_fraction ? 2 : 0;
    }
    for (; s < w->nslices; s++) memcpy(w->type_upto + (size_t)s * QY_WORLD_NTYPES, upto, sizeof upto);
    build_ctx ctx = {w};
    qy_pool_for(pool, n, 4096, names_range, &ctx);
    qy_pool_for(pool, n, 4096, facts_range, &ctx);
    st = build_inverse(w);
    if (st) {
        qy_world_free(w);
        return st;
    }
    *out = w;
    return QY_OK;
}

/* -------------------------------------------------------------- accessors */

size_t qy_world_entity_count(const qy_world *w) { return w->n; }

void qy_world_entity(const qy_world *w, size_t e, qy_world_entity_info *out) {
    QY_ASSERT(e < w->n);
    out->type = (qy_world_type)w->type[e];
    out->slice = w->slice[e];
    out->name = w_name(w, e);
    out->nfacts = w->nfacts[e];
}

int qy_world_relation_count(void) { return w_nrelations; }

void qy_world_relation(int rel, qy_world_relation_info *out) {
    QY_ASSERT(rel >= 0 && rel < w_nrelations);
    const w_relation *r = &w_relations[rel];
    out->id = r->id;
    out->label = r->label;
    out->group = r->group;
    out->family = r->family;
    out->domain = (qy_world_type)r->domain;
    out->object_is_entity = r->kind == WV_ENTITY;
    out->range = r->kind == WV_ENTITY ? (qy_world_type)r->range : QY_WORLD_NTYPES;
}

qy_world_level qy_world_locality(int r1, int r2) {
    const w_relation *a = &w_relations[r1], *b = &w_relations[r2];
    if (!strcmp(a->group, b->group)) return QY_WORLD_HARD;
    if (!strcmp(a->family, b->family)) return QY_WORLD_MIDDLE;
    return QY_WORLD_EASY;
}

void qy_world_get_fact(const qy_world *w, size_t e, size_t k, qy_world_fact *out) {
    QY_ASSERT(e < w->n && k < w->nfacts[e]);
    const w_fact *f = &w_facts(w, e)[k];
    out->relation = f->rel;
    out->object = f->obj;
    out->object_is_entity = w_relations[f->rel].kind == WV_ENTITY;
}

void qy_world_object_string(const qy_world *w, size_t e, size_t k, char *buf, size_t cap) {
    QY_ASSERT(e < w->n && k < w->nfacts[e]);
    w_object_str(w, &w_facts(w, e)[k], buf, cap);
}

void qy_world_fact_sentence(const qy_world *w, size_t e, size_t k, char *buf, size_t cap) {
    QY_ASSERT(e < w->n && k < w->nfacts[e]);
    w_fact_sentence(w, e, &w_facts(w, e)[k], buf, cap);
}

/* ---------------------------------------------------------------- streams */

#define SUB_ITEMS 64
#define SUBS_PER_ROUND 256

typedef struct stream_ctx {
    w_emit_fn emit;
    void *ctx;
    int nout;
    size_t base, nitems;
    w_buf *bufs;
} stream_ctx;

static void stream_range(void *vctx, size_t b, size_t e, int tid) {
    stream_ctx *c = vctx;
    for (size_t sub = b; sub < e; sub++) {
        size_t lo = c->base + sub * SUB_ITEMS, hi = lo + SUB_ITEMS;
        if (hi > c->nitems) hi = c->nitems;
        for (size_t i = lo; i < hi; i++) c->emit(c->ctx, i, c->bufs + sub * (size_t)c->nout);
    }
}

int w_stream(w_out *o, size_t nitems, w_emit_fn emit, void *ctx, int nout, qy_afile **files) {
    qy_pool *pool = o->pool;
    uint64_t *bytes = &o->st->bytes;
    stream_ctx c = {emit, ctx, nout, 0, nitems, NULL};
    c.bufs = qy_calloc((size_t)SUBS_PER_ROUND * (size_t)nout, sizeof *c.bufs);
    if (!c.bufs) return QY_ERR_NOMEM;
    int st = QY_OK;
    for (size_t base = 0; base < nitems && !st; base += (size_t)SUB_ITEMS * SUBS_PER_ROUND) {
        c.base = base;
        size_t left = nitems - base, nsub = (left + SUB_ITEMS - 1) / SUB_ITEMS;
        if (nsub > SUBS_PER_ROUND) nsub = SUBS_PER_ROUND;
        qy_pool_for(pool, nsub, 1, stream_range, &c);
        for (size_t i = 0; i < nsub * (size_t)nout && !st; i++) {
            w_buf *b = &c.bufs[i];
            if (b->oom)
                st = qy_error(QY_ERR_NOMEM, "world: out of memory while rendering");
            else if (b->len)
                st = qy_afile_write(files[i % (size_t)nout], b->p, b->len);
            *bytes += b->len;
            b->len = 0;
        }
        qy_progress_add(&o->progress, nsub * SUB_ITEMS < left ? nsub * SUB_ITEMS : left);
    }
    for (size_t i = 0; i < (size_t)SUBS_PER_ROUND * (size_t)nout; i++) wb_free(&c.bufs[i]);
    qy_free(c.bufs);
    return st;
}

int w_open(const w_out *o, const char *rel, qy_afile **f) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->dir, rel);
    char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        *slash = '\0';
        int st = qy_mkdir_p(path);
        *slash = '/';
        if (st) return st;
    }
    return qy_afile_open(path, f);
}

/* ------------------------------------------------------------ committer */

#define W_MAX_BATCH 8

struct w_committer {
    pthread_t thread;
    int active;
    qy_afile *files[W_MAX_BATCH];
    int n;
    int st;
    char msg[512];
};

static void *commit_main(void *arg) {
    w_committer *c = arg;
    for (int i = 0; i < c->n; i++) {
        int st = qy_afile_commit(c->files[i]);
        if (st && !c->st) {
            c->st = st;
            snprintf(c->msg, sizeof c->msg, "%s", qy_errmsg()); /* messages are per thread */
        }
    }
    return NULL;
}

int w_commit_join(w_committer *c) {
    if (c->active) pthread_join(c->thread, NULL);
    c->active = 0;
    c->n = 0;
    int st = c->st;
    c->st = 0;
    return st ? qy_error(st, "%s", c->msg) : QY_OK;
}

int w_commit_async(w_committer *c, qy_afile **files, int n) {
    QY_ASSERT(n <= W_MAX_BATCH);
    int st = w_commit_join(c);
    if (st) {
        for (int i = 0; i < n; i++) qy_afile_abort(files[i]);
        return st;
    }
    memcpy(c->files, files, (size_t)n * sizeof *files);
    c->n = n;
    if (pthread_create(&c->thread, NULL, commit_main, c) == 0) {
        c->active = 1;
        return QY_OK;
    }
    commit_main(c); /* no thread: commit here */
    return w_commit_join(c);
}

int w_finish_files(w_out *o, int st, qy_afile **files, int n) {
    if (!st) return w_commit_async(o->committer, files, n);
    for (int i = 0; i < n; i++)
        if (files[i]) qy_afile_abort(files[i]);
    return st;
}

/* -------------------------------------------------------------- writers */

typedef struct ent_ctx {
    const qy_world *w;
} ent_ctx;

static const char *const split_names[3] = {"train", "dev", "test"};

static void emit_entity(void *vctx, size_t e, w_buf *out) {
    const qy_world *w = ((ent_ctx *)vctx)->w;
    char id[32], did[32], sent[256], obj[96];
    w_buf *b = &out[0];
    w_entity_id(e, id, sizeof id);
    wb_puts(b, "{\"id\":");
    wb_json_str(b, id);
    wb_puts(b, ",\"type\":");
    wb_json_str(b, w_type_names[w->type[e]]);
    wb_puts(b, ",\"name\":");
    wb_json_str(b, w_name(w, e));
    wb_puts(b, ",\"aliases\":[");
    w_json_entity_answers(w, e, b);
    wb_printf(b, "],\"slice\":%d,\"split\":\"%s\"", w->slice[e], split_names[w->split[e]]);
    if (w->type[e] == QY_WORLD_PERSON) wb_printf(b, ",\"gender\":\"%s\"", w->gender[e] ? "female" : "male");
    wb_puts(b, "}\n");
    /* facts */
    const w_fact *f = w_facts(w, e);
    for (int k = 0; k < w->nfacts[e]; k++) {
        const w_relation *r = &w_relations[f[k].rel];
        w_buf *fb = &out[1];
        wb_puts(fb, "{\"subject\":");
        wb_json_str(fb, id);
        wb_puts(fb, ",\"relation\":");
        wb_json_str(fb, r->id);
        wb_puts(fb, ",\"object\":");
        w_object_str(w, &f[k], obj, sizeof obj);
        if (r->kind == WV_ENTITY) {
            char oid[32];
            w_entity_id((size_t)f[k].obj, oid, sizeof oid);
            wb_json_str(fb, oid);
        } else if (r->kind == WV_YEAR) {
            wb_printf(fb, "%d", (int)f[k].obj);
        } else {
            wb_json_str(fb, obj);
        }
        wb_puts(fb, ",\"object_name\":");
        wb_json_str(fb, obj);
        w_doc_id(e, r->section, did, sizeof did);
        wb_puts(fb, ",\"doc\":");
        wb_json_str(fb, did);
        w_fact_sentence(w, e, &f[k], sent, sizeof sent);
        wb_puts(fb, ",\"sentence\":");
        wb_json_str(fb, sent);
        wb_printf(fb, ",\"slice\":%d}\n", w->slice[e]);
    }
    /* documents */
    for (int s = 0; s < w_nsections[w->type[e]]; s++) {
        w_buf *db = &out[2], text = {0};
        w_doc_id(e, s, did, sizeof did);
        w_doc_title(w, e, s, sent, sizeof sent);
        wb_puts(db, "{\"_id\":");
        wb_json_str(db, did);
        wb_puts(db, ",\"title\":");
        wb_json_str(db, sent);
        wb_puts(db, ",\"text\":");
        w_doc_text(w, e, s, &text);
        if (text.oom) db->oom = 1;
        wb_json_str(db, text.p ? text.p : "");
        wb_free(&text);
        wb_puts(db, ",\"metadata\":{\"entity\":");
        wb_json_str(db, id);
        wb_printf(db, ",\"slice\":%d}}\n", w->slice[e]);
    }
}

static const char *type_str(int t) { return w_type_names[t]; }

/* CK(call): remember a failed cJSON allocation (a NULL or false result) */
#define CK(x)              \
    do {                   \
        if (!(x)) bad = 1; \
    } while (0)

int w_put(cJSON *parent, const char *key, cJSON *item) {
    if (item && parent &&
        (key ? cJSON_AddItemToObject(parent, key, item) : cJSON_AddItemToArray(parent, item)))
        return 1;
    cJSON_Delete(item);
    return 0;
}

static cJSON *checked(cJSON *o, int bad) {
    if (!bad) return o;
    cJSON_Delete(o);
    return NULL;
}

static cJSON *schema_json(const qy_world *w, const size_t *docs_by_slice) {
    int bad = 0;
    cJSON *o = cJSON_CreateObject();
    CK(cJSON_AddStringToObject(o, "generator", "quarry world"));
    CK(cJSON_AddNumberToObject(o, "format_version", 1));
    cJSON *p = cJSON_AddObjectToObject(o, "params");
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)w->p.seed);
    CK(cJSON_AddStringToObject(p, "seed", seed));
    CK(cJSON_AddNumberToObject(p, "entities", (double)w->n));
    CK(cJSON_AddNumberToObject(p, "slices", w->p.slices));
    CK(cJSON_AddNumberToObject(p, "d0_fraction", w->p.d0_fraction));
    CK(cJSON_AddNumberToObject(p, "edits", (double)w->p.edits));
    CK(cJSON_AddNumberToObject(p, "task_instances", (double)w->p.task_instances));
    CK(cJSON_AddNumberToObject(p, "dev_fraction", w->p.dev_fraction));
    CK(cJSON_AddNumberToObject(p, "test_fraction", w->p.test_fraction));
    cJSON *types = cJSON_AddArrayToObject(o, "types");
    for (int t = 0; t < QY_WORLD_NTYPES; t++) {
        cJSON *to = cJSON_CreateObject();
        CK(cJSON_AddStringToObject(to, "name", type_str(t)));
        CK(cJSON_AddNumberToObject(to, "entities", (double)w->type_count[t]));
        CK(cJSON_AddNumberToObject(to, "documents_per_entity", w_nsections[t]));
        CK(w_put(types, NULL, to));
    }
    cJSON *rels = cJSON_AddArrayToObject(o, "relations");
    for (int i = 0; i < w_nrelations; i++) {
        const w_relation *r = &w_relations[i];
        cJSON *ro = cJSON_CreateObject();
        CK(cJSON_AddStringToObject(ro, "id", r->id));
        CK(cJSON_AddStringToObject(ro, "label", r->label));
        CK(cJSON_AddStringToObject(ro, "domain", type_str(r->domain)));
        CK(cJSON_AddStringToObject(ro, "range",
                                   r->kind == WV_ENTITY ? type_str(r->range)
                                   : r->kind == WV_YEAR ? "year"
                                                        : w_vocab_names[r->range]));
        CK(cJSON_AddStringToObject(ro, "group", r->group));
        CK(cJSON_AddStringToObject(ro, "family", r->family));
        cJSON *tp = cJSON_AddObjectToObject(ro, "templates");
        CK(w_put(tp, "document", cJSON_CreateStringArray(r->doc, W_NTEMPL)));
        CK(w_put(tp, "question", cJSON_CreateStringArray(r->question, W_NTEMPL)));
        CK(w_put(tp, "cloze", cJSON_CreateStringArray(r->cloze, W_NTEMPL)));
        CK(w_put(tp, "noun_phrase", cJSON_CreateStringArray(r->np, 2)));
        CK(w_put(rels, NULL, ro));
    }
    cJSON *voc = cJSON_AddObjectToObject(o, "vocabularies");
    for (int v = 0; v < VOC_N; v++)
        CK(w_put(voc, w_vocab_names[v], cJSON_CreateStringArray(w_vocab[v], w_vocab_size[v])));
    cJSON *lv = cJSON_AddObjectToObject(o, "locality_levels");
    CK(cJSON_AddStringToObject(lv, "hard", "same relation group as the edited relation"));
    CK(cJSON_AddStringToObject(lv, "middle", "same family, different group"));
    CK(cJSON_AddStringToObject(lv, "easy", "different family"));
    cJSON *sl = cJSON_AddArrayToObject(o, "slices");
    for (int s = 0; s < w->nslices; s++) {
        cJSON *so = cJSON_CreateObject();
        char nm[8];
        snprintf(nm, sizeof nm, "D%d", s);
        CK(cJSON_AddStringToObject(so, "name", nm));
        CK(cJSON_AddNumberToObject(so, "first_entity", s ? (double)w->slice_end[s - 1] : 0));
        CK(cJSON_AddNumberToObject(so, "end_entity", (double)w->slice_end[s]));
        CK(cJSON_AddNumberToObject(so, "documents", (double)docs_by_slice[s]));
        CK(w_put(sl, NULL, so));
    }
    return checked(o, bad);
}

static cJSON *stats_json(const qy_world *w, const qy_world_stats *st) {
    int bad = 0;
    cJSON *o = cJSON_CreateObject();
    CK(cJSON_AddNumberToObject(o, "entities", (double)st->entities));
    cJSON *bt = cJSON_AddObjectToObject(o, "entities_by_type");
    for (int t = 0; t < QY_WORLD_NTYPES; t++)
        CK(cJSON_AddNumberToObject(bt, type_str(t), (double)st->entities_by_type[t]));
    CK(cJSON_AddNumberToObject(o, "facts", (double)st->facts));
    size_t by_rel[R_COUNT] = {0};
    for (size_t e = 0; e < w->n; e++)
        for (int k = 0; k < w->nfacts[e]; k++) by_rel[w_facts(w, e)[k].rel]++;
    cJSON *br = cJSON_AddObjectToObject(o, "facts_by_relation");
    for (int r = 0; r < R_COUNT; r++) CK(cJSON_AddNumberToObject(br, w_relations[r].id, (double)by_rel[r]));
    CK(cJSON_AddNumberToObject(o, "documents", (double)st->documents));
    CK(cJSON_AddNumberToObject(o, "questions", (double)st->questions));
    cJSON *qs = cJSON_AddObjectToObject(o, "questions_by_split");
    for (int s = 0; s < 3; s++)
        CK(cJSON_AddNumberToObject(qs, split_names[s], (double)st->questions_by_split[s]));
    cJSON *qh = cJSON_AddObjectToObject(o, "questions_by_hops");
    for (int h = 1; h <= 4; h++) {
        char k[8];
        snprintf(k, sizeof k, "%d", h);
        CK(cJSON_AddNumberToObject(qh, k, (double)st->questions_by_hops[h]));
    }
    CK(cJSON_AddNumberToObject(o, "edits", (double)st->edits));
    cJSON *ll = cJSON_AddObjectToObject(o, "edit_locality_facts");
    CK(cJSON_AddNumberToObject(ll, "easy", (double)st->locality_by_level[0]));
    CK(cJSON_AddNumberToObject(ll, "middle", (double)st->locality_by_level[1]));
    CK(cJSON_AddNumberToObject(ll, "hard", (double)st->locality_by_level[2]));
    CK(cJSON_AddNumberToObject(o, "tasks", (double)st->tasks));
    CK(cJSON_AddNumberToObject(o, "task_instances", (double)st->task_instances));
    CK(cJSON_AddNumberToObject(o, "bytes_before_stats", (double)st->bytes));
    return checked(o, bad);
}

static int write_json(w_out *o, const char *rel, cJSON *j) {
    if (!j) return qy_error(QY_ERR_NOMEM, "world: out of memory building %s", rel);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->dir, rel);
    char *s = qy_json_print(j, 1);
    int st = s ? qy_write_file_atomic(path, s, strlen(s)) : QY_ERR_NOMEM;
    if (s) o->st->bytes += strlen(s);
    qy_free(s);
    cJSON_Delete(j);
    return st;
}

int qy_world_write(const qy_world *w, const char *dir, qy_pool *pool, qy_world_stats *stats) {
    uint64_t t0 = qy_now_ns();
    qy_world_stats local;
    qy_world_stats *st_out = stats ? stats : &local;
    memset(st_out, 0, sizeof *st_out);
    int st = qy_mkdir_p(dir);
    if (st) return st;
    w_committer committer;
    memset(&committer, 0, sizeof committer);
    w_out o;
    memset(&o, 0, sizeof o);
    o.dir = dir;
    o.pool = pool;
    o.st = st_out;
    o.committer = &committer;
    qy_progress_begin(&o.progress, "world", 2 * (uint64_t)w->n + w->p.edits, "items");
    st_out->entities = w->n;
    for (int t = 0; t < QY_WORLD_NTYPES; t++) st_out->entities_by_type[t] = w->type_count[t];
    size_t docs_by_slice[17] = {0};
    for (size_t e = 0; e < w->n; e++) {
        st_out->facts += w->nfacts[e];
        docs_by_slice[w->slice[e]] += (size_t)w_nsections[w->type[e]];
    }
    for (int s = 0; s < w->nslices; s++) st_out->documents += docs_by_slice[s];

    static const char *const files[3] = {"entities.jsonl", "facts.jsonl", "corpus.jsonl"};
    qy_afile *f[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3 && !st; i++) st = w_open(&o, files[i], &f[i]);
    ent_ctx ec = {w};
    if (!st) st = w_stream(&o, w->n, emit_entity, &ec, 3, f);
    st = w_finish_files(&o, st, f, 3);
    qy_debug("world: entities, facts, corpus: %.2f s", qy_seconds_since(t0));
    if (!st) st = w_write_questions(w, &o);
    qy_debug("world: + questions: %.2f s", qy_seconds_since(t0));
    if (!st) st = w_write_edits(w, &o);
    qy_debug("world: + edits: %.2f s", qy_seconds_since(t0));
    if (!st) st = w_write_tasks(w, &o);
    qy_debug("world: + tasks: %.2f s", qy_seconds_since(t0));
    if (!st) st = write_json(&o, "world.json", schema_json(w, docs_by_slice));
    if (!st) st = write_json(&o, "stats.json", stats_json(w, st_out));
    int cst = w_commit_join(&committer); /* always: no thread outlives the call */
    if (!st) st = cst;
    if (!st) qy_progress_end(&o.progress);
    st_out->seconds = qy_seconds_since(t0);
    return st;
}
