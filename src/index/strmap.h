/* strmap.h — an open-addressing hash map from byte strings to uint32 values.
 * Keys are copied into an arena owned by the map. Used for the in-memory
 * term dictionary while indexing and for document-id sets. */
#ifndef QUARRY_INDEX_STRMAP_H
#define QUARRY_INDEX_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/base.h"

typedef struct qy_strmap {
    uint64_t *hashes; /* 0 = empty slot */
    uint32_t *vals;
    const char **keys;
    uint32_t *lens;
    size_t cap, n;
    qy_arena arena;
} qy_strmap;

/* chunk: arena chunk size for keys (0 = 1 MiB) */
void qy_strmap_init(qy_strmap *m, size_t chunk);
void qy_strmap_free(qy_strmap *m);
void qy_strmap_clear(qy_strmap *m);
/* Value for key, or NULL. */
uint32_t *qy_strmap_get(const qy_strmap *m, const char *key, size_t len);
/* Insert key with `val` unless present; *slot points at the stored value and
 * *added says whether it was new. Errors: QY_ERR_NOMEM. */
int qy_strmap_put(qy_strmap *m, const char *key, size_t len, uint32_t val, uint32_t **slot, int *added);
/* Bytes held (tables + keys), for memory budgets. */
size_t qy_strmap_bytes(const qy_strmap *m);

#endif
