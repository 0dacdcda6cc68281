/*
 * quarry/world.h — a synthetic knowledge world with full ground truth.
 *
 * A deterministic generator (same seed, same bytes at any thread count) of typed
 * entities with unique pronounceable names, typed functional relations whose
 * objects respect types, documents that state every fact (a BEIR corpus split by
 * time into D0 and added sets D1..Dn), single- and multi-hop questions with
 * gold decompositions, knowledge-edit requests in the CounterFact and zsRE
 * layouts with graded relation locality, and instruction tasks in the
 * Super-NaturalInstructions layout. docs/world.md documents every file.
 *
 * Usage:
 *   qy_world_params p;
 *   qy_world_params_default(&p);
 *   p.seed = 7; p.entities = 100000;
 *   qy_world *w;
 *   if (qy_world_new(&p, pool, &w) != QY_OK) { ... qy_errmsg() ... }
 *   qy_world_stats st;
 *   int rc = qy_world_write(w, "out/world", pool, &st);
 *   qy_world_free(w);
 */
#ifndef QUARRY_WORLD_H
#define QUARRY_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qy_world_type {
    QY_WORLD_PERSON = 0,
    QY_WORLD_CITY = 1,
    QY_WORLD_COUNTRY = 2,
    QY_WORLD_ORG = 3,
    QY_WORLD_WORK = 4,
    QY_WORLD_NTYPES = 5
} qy_world_type;

/* Locality grade of a same-subject fact (s, r', o') for an edit of (s, r), by how
 * similar r' is to r (FINE-KED): HARD = same relation group ("born in" vs "died
 * in"), MIDDLE = same family, other group ("born in" vs "works for"), EASY =
 * other family ("born in" vs "birth year"). */
typedef enum qy_world_level { QY_WORLD_EASY = 0, QY_WORLD_MIDDLE = 1, QY_WORLD_HARD = 2 } qy_world_level;

typedef struct qy_world_params {
    uint64_t seed;         /* default 42 */
    size_t entities;       /* 100 .. 2,000,000 (default 1000) */
    int slices;            /* added sets D1..Dn, 0..16 (default 5) */
    double d0_fraction;    /* share of entities in D0, (0, 1] (default 0.5) */
    size_t edits;          /* edit requests; default (SIZE_MAX) = min(entities/10, 20000) */
    size_t task_instances; /* instances per instruction task (default 500) */
    double dev_fraction;   /* topic entities whose questions go to dev (default 0.1) */
    double test_fraction;  /* ... and to test (default 0.1); the rest is train */
} qy_world_params;

/* Defaults as documented above. */
void qy_world_params_default(qy_world_params *p);

typedef struct qy_world qy_world;

/* Build the world in memory: entity layout, names and facts (documents,
 * questions, edits and tasks are rendered when written). pool may be NULL (one
 * thread); the result does not depend on the pool's thread count.
 * Errors: QY_ERR_ARG for parameters out of range (message names the field),
 * QY_ERR_NOMEM. *out owned by the caller (qy_world_free). */
int qy_world_new(const qy_world_params *params, qy_pool *pool, qy_world **out);
void qy_world_free(qy_world *w);

/* Read-only views of the world, for tests and other modules. */
size_t qy_world_entity_count(const qy_world *w);
typedef struct qy_world_entity_info {
    qy_world_type type;
    int slice;        /* 0 = D0, k = Dk */
    const char *name; /* owned by the world */
    size_t nfacts;
} qy_world_entity_info;
void qy_world_entity(const qy_world *w, size_t e, qy_world_entity_info *out);

int qy_world_relation_count(void);
typedef struct qy_world_relation_info {
    const char *id;     /* "born_in" */
    const char *label;  /* "place of birth" */
    const char *group;  /* fine similarity group */
    const char *family; /* coarse similarity family */
    qy_world_type domain;
    int object_is_entity;
    qy_world_type range; /* when object_is_entity */
} qy_world_relation_info;
void qy_world_relation(int rel, qy_world_relation_info *out);
/* Locality grade of r2 relative to an edit of r1 (r1 != r2). */
qy_world_level qy_world_locality(int r1, int r2);

typedef struct qy_world_fact {
    int relation;
    int64_t object; /* entity index, year, or vocabulary index */
    int object_is_entity;
} qy_world_fact;
void qy_world_get_fact(const qy_world *w, size_t e, size_t k, qy_world_fact *out);
/* The object's surface string ("Kalomar", "1874", "painter") into buf. */
void qy_world_object_string(const qy_world *w, size_t e, size_t k, char *buf, size_t cap);
/* The sentence that states fact k of entity e in its document, exactly as it
 * appears there, into buf (truncated to cap). */
void qy_world_fact_sentence(const qy_world *w, size_t e, size_t k, char *buf, size_t cap);

/* What qy_world_write produced. */
typedef struct qy_world_stats {
    size_t entities, facts, documents, questions, edits, tasks, task_instances;
    size_t entities_by_type[QY_WORLD_NTYPES];
    size_t questions_by_split[3]; /* train, dev, test */
    size_t questions_by_hops[5];  /* [1] single hop .. [4] four hops */
    size_t locality_by_level[3];  /* same-subject facts in edits: easy, middle, hard */
    uint64_t bytes;               /* bytes written */
    double seconds;               /* wall time of qy_world_write */
} qy_world_stats;

/* Write every file of the world under dir (created if missing; files are
 * replaced atomically, one by one). The bytes depend only on the parameters,
 * never on the pool's thread count. Writes stats.json and fills *stats (may be
 * NULL). Errors: QY_ERR_IO (path in the message), QY_ERR_NOMEM. */
int qy_world_write(const qy_world *w, const char *dir, qy_pool *pool, qy_world_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* QUARRY_WORLD_H */
