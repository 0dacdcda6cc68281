/* world_internal.h — shared by the world generator's modules (src/eval/world_*.c):
 * the relation schema, the in-memory world, a growable text buffer with JSON
 * escaping, and the renderers each output file uses. Not a public API. */
#ifndef QUARRY_WORLD_INTERNAL_H
#define QUARRY_WORLD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/base.h"
#include "quarry/world.h"

/* ---------------------------------------------------------------- schema */

enum { WV_ENTITY = 0, WV_YEAR = 1, WV_VOCAB = 2 };
/* relation ids: the order of w_relations[] */
enum {
    R_BORN_IN,
    R_DIED_IN,
    R_LIVED_IN,
    R_CITIZEN_OF,
    R_WORKS_FOR,
    R_EDUCATED_AT,
    R_SPOUSE,
    R_MENTOR,
    R_BIRTH_YEAR,
    R_DEATH_YEAR,
    R_OCCUPATION,
    R_LOCATED_IN,
    R_MAYOR,
    R_CITY_FOUNDED,
    R_CITY_INDUSTRY,
    R_CAPITAL,
    R_HEAD_OF_STATE,
    R_OFFICIAL_LANGUAGE,
    R_INDEPENDENCE_YEAR,
    R_HEADQUARTERED_IN,
    R_INCORPORATED_IN,
    R_FOUNDED_BY,
    R_LED_BY,
    R_ORG_FOUNDED,
    R_INDUSTRY,
    R_CREATED_BY,
    R_STARRING,
    R_PRODUCED_BY,
    R_SET_IN,
    R_RELEASE_YEAR,
    R_GENRE,
    R_WORK_LANGUAGE,
    R_COUNT
};
enum { VOC_OCCUPATION = 0, VOC_GENRE, VOC_INDUSTRY, VOC_LANGUAGE, VOC_N };

#define W_NTEMPL 3
#define W_MAXREL 12  /* relations per entity type, at most */
#define W_NAMECAP 48 /* bytes per entity name slot (names are < 40 chars) */
#define W_BLOCK 100  /* entities per type-pattern block */

typedef struct w_relation {
    const char *id, *label;
    uint8_t domain, kind, range; /* range: entity type (WV_ENTITY) or vocabulary (WV_VOCAB) */
    uint8_t section;             /* which document of the subject states it */
    const char *group, *family;
    const char *doc[W_NTEMPL]; /* "{S} was born in {O}." {S} starts every one */
    const char *question[W_NTEMPL];
    const char *cloze[W_NTEMPL]; /* CounterFact-style prompt, object follows */
    const char *np[2];           /* noun phrase for the object: "the birthplace of {S}" */
    const char *earlier, *later; /* comparison questions for year relations */
} w_relation;

extern const w_relation w_relations[];
extern const int w_nrelations;
extern const char *const w_type_names[QY_WORLD_NTYPES];   /* "person" */
extern const char *const w_type_pronoun[QY_WORLD_NTYPES]; /* "The city"; persons use gender */
extern const char *const *const w_vocab[VOC_N];
extern const int w_vocab_size[VOC_N];
extern const char *const w_vocab_names[VOC_N];
extern const char *const w_fillers[];
extern const int w_nfillers;
extern const int w_nsections[QY_WORLD_NTYPES];
extern const char *const w_section_titles[QY_WORLD_NTYPES][2];

/* ----------------------------------------------------------------- world */

typedef struct w_fact {
    uint8_t rel;  /* index into w_relations */
    uint8_t tmpl; /* which doc template states it */
    uint8_t ref;  /* 0: subject by name, 1: by pronoun ("She", "The city") */
    uint8_t pad;
    int32_t obj; /* entity index, year or vocabulary index */
} w_fact;

struct qy_world {
    qy_world_params p;
    size_t n;
    uint8_t *type, *slice, *gender, *nfacts, *split; /* per entity; split 0/1/2 */
    uint32_t *tindex;                                /* index among entities of the same type */
    char *names;                                     /* n * W_NAMECAP */
    w_fact *facts;                                   /* n * W_MAXREL */
    size_t *type_list[QY_WORLD_NTYPES];              /* entity ids of each type, in id order */
    size_t type_count[QY_WORLD_NTYPES];
    size_t *type_upto; /* [slice][type]: entities of the type with slice <= s */
    size_t *slice_end; /* [slice]: first entity id after the slice */
    int nslices;       /* 1 + params.slices */
    /* inverse index over entity-valued facts: subjects pointing at each object */
    size_t *inv_off;    /* n + 1 */
    uint32_t *inv_subj; /* packed (subject << 8 | fact slot) */
    qy_rng root;
};

static inline const char *w_name(const qy_world *w, size_t e) { return w->names + e * W_NAMECAP; }
static inline const w_fact *w_facts(const qy_world *w, size_t e) { return w->facts + e * W_MAXREL; }
/* slot of relation rel in entity e's facts, or -1 */
int w_find_fact(const qy_world *w, size_t e, int rel);
uint64_t w_hash(uint64_t a, uint64_t b);
qy_rng w_rng(const qy_world *w, uint64_t phase, uint64_t id);
enum { PH_LAYOUT = 1, PH_FACTS, PH_DOCS, PH_QUESTIONS, PH_EDITS, PH_TASKS, PH_NAMES, PH_SPLIT };

/* ------------------------------------------------------------- text buffer */

typedef struct w_buf {
    char *p;
    size_t len, cap;
    int oom;
    int fixed; /* p is the caller's array of cap bytes: never grown, output truncated */
} w_buf;
void wb_free(w_buf *b);
/* free a scratch buffer, passing its out-of-memory flag on to `into` */
void wb_done(w_buf *scratch, w_buf *into);
void wb_put(w_buf *b, const char *s, size_t n);
void wb_puts(w_buf *b, const char *s);
void wb_printf(w_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wb_json_str(w_buf *b, const char *s); /* "escaped" */
void wb_json_key(w_buf *b, const char *k); /* "k": */
/* Fill a template: {S} -> subj, {O} -> obj, {aO} -> "a"/"an" + obj. */
void wb_template(w_buf *b, const char *tmpl, const char *subj, const char *obj);
/* General form: vars = {"A", "x", "B", "y", NULL}; unknown {names} stay as they are. */
void wb_subst(w_buf *b, const char *tmpl, const char *const *vars);
/* the same into a fixed buffer */
void w_fill(char *out, size_t cap, const char *tmpl, const char *subj, const char *obj);

/* -------------------------------------------------------------- renderers */

void w_object_str(const qy_world *w, const w_fact *f, char *buf, size_t cap);
/* subject reference for a fact's sentence: the name or the pronoun phrase */
const char *w_subject_ref(const qy_world *w, size_t e, int ref);
void w_fact_sentence(const qy_world *w, size_t e, const w_fact *f, char *buf, size_t cap);
/* document id "d<e>-<section>" */
void w_doc_id(size_t e, int section, char *buf, size_t cap);
void w_entity_id(size_t e, char *buf, size_t cap);
/* append the plain text of entity e's document `section` */
void w_doc_text(const qy_world *w, size_t e, int section, w_buf *b);
void w_doc_title(const qy_world *w, size_t e, int section, char *buf, size_t cap);
/* aliases of an entity as a JSON array body (no brackets), canonical name first */
void w_json_answers(const qy_world *w, const w_fact *f, w_buf *b);
void w_json_entity_answers(const qy_world *w, size_t e, w_buf *b);

/* names (world_names.c) */
int w_names_check_capacity(const size_t count[QY_WORLD_NTYPES]);
void w_make_name(uint64_t seed, int type, size_t tindex, char *out, size_t cap);
uint64_t w_permute(uint64_t x, uint64_t domain, uint64_t key);

/* Attach item to parent (under key, or appended when key is NULL); on failure
 * (either is NULL, or out of memory) item is freed and 0 returned. */
struct cJSON;
int w_put(struct cJSON *parent, const char *key, struct cJSON *item);

/* --------------------------------------------------------- output stream */

/* Run emit(ctx, item, bufs) for item in [0, nitems) on the pool in fixed
 * sub-blocks, then append each sub-block's nout buffers to files[0..nout) in item
 * order: bytes independent of the thread count. */
typedef void (*w_emit_fn)(void *ctx, size_t item, w_buf *bufs);
struct w_out;
int w_stream(struct w_out *o, size_t nitems, w_emit_fn emit, void *ctx, int nout, qy_afile **files);

/* Commits (fsync + rename) of finished files run on a background thread while
 * the next files render; one batch at a time. */
typedef struct w_committer w_committer;
/* Take ownership of files[0..n): committed in the background after the previous
 * batch is done. Returns the previous batch's error, if any (then these files are
 * aborted). */
int w_commit_async(w_committer *c, qy_afile **files, int n);
/* Wait for the batch in flight; its error, with the message, or QY_OK. */
int w_commit_join(w_committer *c);

/* writers (one per module) */
typedef struct w_out {
    const char *dir;
    qy_pool *pool;
    qy_world_stats *st;
    w_committer *committer;
    qy_progress progress; /* items: entities twice (documents, questions), then edits */
} w_out;
/* Abort every file when st is an error, else hand them to the committer. */
int w_finish_files(w_out *o, int st, qy_afile **files, int n);
int w_write_questions(const qy_world *w, w_out *o);
int w_write_edits(const qy_world *w, w_out *o);
int w_write_tasks(const qy_world *w, w_out *o);
int w_open(const w_out *o, const char *rel, qy_afile **f);

/* question helpers shared with edits and tasks */
void w_question_text(const qy_world *w, int rel, int tmpl, const char *subject, w_buf *b);
typedef struct w_hop {
    size_t subj;
    int k; /* fact slot of subj */
} w_hop;
/* Random walk of n hops from e over entity-valued facts (the last may be any
 * fact), never revisiting an entity. Returns 1 on success, 0 if none found. */
int w_walk(const qy_world *w, qy_rng *r, size_t e, int n, w_hop *hops);
/* Question text for a chain: nested noun phrases, then a question template. */
void w_chain_question(const qy_world *w, qy_rng *r, const w_hop *hops, int nh, w_buf *out);

#endif
