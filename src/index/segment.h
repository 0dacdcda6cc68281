/* segment.h — one immutable inverted-index segment file (seg_NNNNNN.qys).
 *
 * Layout (all integers little-endian; sections 8-byte aligned; see docs/search.md):
 *   header   "QYSEG\0\0\1" magic, u32 version, u32 header size
 *   postings per term: block table (nblocks x qy_seg_block) then the blocks;
 *            a block holds up to 128 postings: varint doc gaps, then varint tfs
 *   docs     u64 gid[ndocs], u32 length[ndocs], u64 id_offset[ndocs+1], id bytes
 *   dict     u64 term_offset[nterms+1], term bytes (sorted, memcmp order),
 *            qy_seg_term[nterms]
 *   footer   qy_seg_footer, ending in "QYSEGEND" and the XXH64 of every byte before it
 *
 * A segment never changes once written; deletions live in separate files. */
#ifndef QUARRY_INDEX_SEGMENT_H
#define QUARRY_INDEX_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/base.h"

#define QY_SEG_VERSION 1
#define QY_SEG_BLOCK 128

/* per block: for skipping and for block-max upper bounds */
typedef struct qy_seg_block {
    uint32_t last_doc; /* largest doc in the block */
    uint32_t end;      /* byte offset of the block's end, from the term's first block */
    uint32_t max_tf;   /* largest tf in the block */
    uint32_t min_len;  /* smallest document length in the block */
} qy_seg_block;

typedef struct qy_seg_term {
    uint64_t postings; /* file offset of the term's block table */
    uint32_t df;
    uint32_t nblocks;
    uint64_t cf; /* total occurrences */
} qy_seg_term;

/* ---------------------------------------------------------------- writer */

typedef struct qy_seg_writer qy_seg_writer;

/* Start writing `path` (atomically: a temporary file renamed at finish). */
int qy_seg_writer_open(const char *path, qy_seg_writer **out);
/* Add the next term (terms must come in strictly increasing memcmp order) with
 * its postings: docs strictly increasing, tfs >= 1; `lens` are the document
 * lengths indexed by doc (for block minimum lengths). */
int qy_seg_writer_add_term(qy_seg_writer *w, const char *term, size_t term_len, const uint32_t *docs,
                           const uint32_t *tfs, size_t n, const uint32_t *lens);
/* Write the document table and the dictionary, checksum, fsync and rename.
 * ids[i] is the external id of doc i. Frees w whatever the result. */
int qy_seg_writer_finish(qy_seg_writer *w, uint32_t ndocs, const uint64_t *gids, const uint32_t *lens,
                         const char *const *ids);
/* Abandon: removes the temporary file. NULL is a no-op. */
void qy_seg_writer_abort(qy_seg_writer *w);

/* ---------------------------------------------------------------- reader */

typedef struct qy_segment {
    qy_mmap map;
    uint32_t ndocs, nterms;
    uint64_t sum_len;    /* total tokens */
    uint32_t field_docs; /* documents with at least one token */
    const uint64_t *gids;
    const uint32_t *lens;
    const uint64_t *id_off;
    const char *id_bytes;
    const uint64_t *term_off;
    const char *term_bytes;
    const qy_seg_term *terms;
    uint8_t *norms; /* Lucene's one-byte length code per doc (computed at open) */
} qy_segment;

/* Map and verify a segment (magic, version, checksum, bounds of every section).
 * Errors: QY_ERR_NOT_FOUND, QY_ERR_IO, QY_ERR_FORMAT ("PATH: checksum mismatch"). */
int qy_segment_open(const char *path, qy_segment **out);
void qy_segment_close(qy_segment *s);
/* Index of `term` in the dictionary, or -1. */
int64_t qy_segment_find(const qy_segment *s, const char *term, size_t len);
/* External id of doc (not NUL-terminated: length in *len). */
const char *qy_segment_doc_id(const qy_segment *s, uint32_t doc, size_t *len);
static inline const char *qy_segment_term(const qy_segment *s, uint32_t t, size_t *len) {
    *len = (size_t)(s->term_off[t + 1] - s->term_off[t]);
    return s->term_bytes + s->term_off[t];
}

/* Lucene's SmallFloat.intToByte4 / byte4ToInt: document lengths on one byte. */
uint8_t qy_len_to_norm(uint32_t len);
uint32_t qy_norm_to_len(uint8_t norm);

/* -------------------------------------------------------- posting cursor */

#define QY_DOC_END UINT32_MAX

typedef struct qy_cursor {
    const qy_segment *seg;
    const qy_seg_block *blocks;
    const uint8_t *data; /* first block's bytes */
    uint32_t nblocks, df;
    uint32_t block; /* current block (decoded when decoded == block) */
    int64_t decoded;
    uint32_t pos, count; /* position inside the decoded block */
    uint32_t doc;        /* current doc, QY_DOC_END when exhausted */
    uint32_t docs[QY_SEG_BLOCK], tfs[QY_SEG_BLOCK];
} qy_cursor;

/* Position on the first posting of term t. */
void qy_cursor_init(qy_cursor *c, const qy_segment *s, uint32_t t);
/* Move to the next posting; returns the new doc (QY_DOC_END at the end). */
uint32_t qy_cursor_next(qy_cursor *c);
/* Move to the first posting with doc >= target. */
uint32_t qy_cursor_advance(qy_cursor *c, uint32_t target);
static inline uint32_t qy_cursor_tf(const qy_cursor *c) { return c->tfs[c->pos]; }
/* Without decoding: index of the block that may hold target (nblocks if past the end). */
uint32_t qy_cursor_shallow(const qy_cursor *c, uint32_t target);

#endif
