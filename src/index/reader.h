/* reader.h — an opened index snapshot (internal to src/index). */
#ifndef QUARRY_INDEX_READER_H
#define QUARRY_INDEX_READER_H

#include "index/docstore.h"
#include "index/manifest.h"
#include "quarry/index.h"

struct qy_index {
    char *dir;
    qy_manifest m;
    qy_docstore *ds; /* opened on first use */
    uint64_t field_docs, tokens, live, deleted, terms, bytes;
    float avgdl; /* as Lucene: (float)(sumTotalTermFreq / (double)docCount) */
};

#endif
