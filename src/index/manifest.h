/* manifest.h — the MANIFEST file: what an index commit consists of.
 *
 * Format: one header line "QUARRY-MANIFEST <version> <xxh64 of the rest, 16 hex>"
 * followed by a JSON object: generation, next_gid, next_segment, the analyzer
 * configuration and the segment list (name, docs, deleted, deletion file).
 * Written with qy_afile (temporary, fsync, rename, directory fsync): the
 * rename is the commit point. Deletion files ("seg_N.del.G") hold a bitmap
 * with magic, version and checksum; a new generation writes new ones. */
#ifndef QUARRY_INDEX_MANIFEST_H
#define QUARRY_INDEX_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "index/segment.h"
#include "text/analyzer.h"

#define QY_MANIFEST_VERSION 1

typedef struct qy_seg_entry {
    uint64_t number; /* file seg_<number>.qys */
    char del[64];    /* deletion file name, "" when none */
    uint32_t ndocs, ndeleted;
    qy_segment *seg;   /* opened segment (NULL until qy_manifest_open_segments) */
    uint8_t *del_bits; /* (ndocs+7)/8 bytes, NULL when nothing is deleted */
    int del_dirty;     /* deletions changed since the last commit */
} qy_seg_entry;

typedef struct qy_manifest {
    uint64_t generation, next_gid, next_segment;
    qy_analyzer_config analyzer;
    float k1, b; /* the index's default BM25 parameters (searches may override) */
    qy_seg_entry *segs;
    size_t nsegs, cap_segs;
} qy_manifest;

static inline int qy_seg_is_deleted(const qy_seg_entry *e, uint32_t doc) {
    return e->del_bits && (e->del_bits[doc >> 3] >> (doc & 7) & 1);
}

/* Read and verify DIR/MANIFEST (segments are not opened).
 * Errors: QY_ERR_NOT_FOUND (no index), QY_ERR_FORMAT. */
int qy_manifest_read(const char *dir, qy_manifest *m);
/* Atomically write DIR/MANIFEST for m (its generation as given). */
int qy_manifest_write(const char *dir, const qy_manifest *m);
/* Open every segment and deletion file the manifest names. */
int qy_manifest_open_segments(const char *dir, qy_manifest *m);
/* Close segments, free bitmaps and the list. */
void qy_manifest_free(qy_manifest *m);
/* Append an entry (zeroed but for what is given). */
int qy_manifest_push(qy_manifest *m, const qy_seg_entry *e);

/* Write a deletion bitmap file DIR/NAME atomically. */
int qy_del_write(const char *dir, const char *name, const uint8_t *bits, uint32_t ndocs);

/* "DIR/seg_000012.qys" */
void qy_seg_path(const char *dir, uint64_t number, char *buf, size_t cap);

#endif
