/* docstore.h — the document store: raw text and metadata of every document,
 * in SQLite (docs.sqlite next to the segments), keyed by the index-wide
 * document number `gid` that segments record for each document.
 *
 * Rows are written before the manifest that references them is committed, so
 * a committed index always finds its documents; rows of gids at or above the
 * manifest's next_gid are leftovers of an interrupted run and are removed when
 * a writer opens the index. */
#ifndef QUARRY_INDEX_DOCSTORE_H
#define QUARRY_INDEX_DOCSTORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct qy_docstore qy_docstore;

/* Open (writable: create) PATH. Errors: QY_ERR_IO with SQLite's message. */
int qy_docstore_open(const char *path, int writable, qy_docstore **out);
void qy_docstore_close(qy_docstore *ds);
/* Transactions around many puts (durable at commit: synchronous=FULL). */
int qy_docstore_begin(qy_docstore *ds);
int qy_docstore_commit(qy_docstore *ds);
int qy_docstore_rollback(qy_docstore *ds);
/* Insert or replace one document (title, text may be NULL). */
int qy_docstore_put(qy_docstore *ds, uint64_t gid, const char *id, const char *title, const char *text);
/* Fetch one document; outputs are qy_malloc'd (NULL where absent). Missing gid:
 * QY_ERR_NOT_FOUND. Any output pointer may be NULL to skip it. */
int qy_docstore_get(qy_docstore *ds, uint64_t gid, char **id, char **title, char **text);
/* Remove rows with gid >= from (leftovers of an interrupted writer). */
int qy_docstore_delete_from(qy_docstore *ds, uint64_t from);
/* Remove the rows of the given gids. */
int qy_docstore_delete(qy_docstore *ds, const uint64_t *gids, size_t n);
/* Number of rows. */
int qy_docstore_count(qy_docstore *ds, uint64_t *n);

#endif
