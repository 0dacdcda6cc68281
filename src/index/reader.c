/* reader.c — opening a committed index snapshot, statistics, stored documents. */
#include "index/reader.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void file_size(const char *dir, const char *name, uint64_t *acc) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (stat(path, &st) == 0) *acc += (uint64_t)st.st_size;
}

int qy_index_open(const char *dir, qy_index **out) {
    *out = NULL;
    qy_index *ix = qy_calloc(1, sizeof *ix);
    if (!ix) return QY_ERR_NOMEM;
    ix->dir = qy_strdup(dir);
    if (!ix->dir) {
        qy_free(ix);
        return QY_ERR_NOMEM;
    }
    int st = QY_OK;
    /* a writer may commit and remove old files between our reading the
     * manifest and opening its files: read the new manifest and retry */
    for (int attempt = 0; attempt < 20; attempt++) {
        qy_manifest_free(&ix->m);
        st = qy_manifest_read(dir, &ix->m);
        if (st) break;
        st = qy_manifest_open_segments(dir, &ix->m);
        if (st != QY_ERR_NOT_FOUND) break;
        usleep(20000);
    }
    if (st) {
        qy_index_close(ix);
        return st;
    }
    for (size_t i = 0; i < ix->m.nsegs; i++) {
        const qy_seg_entry *e = &ix->m.segs[i];
        ix->field_docs += e->seg->field_docs;
        ix->tokens += e->seg->sum_len;
        ix->live += e->ndocs - e->ndeleted;
        ix->deleted += e->ndeleted;
        ix->terms += e->seg->nterms;
        ix->bytes += e->seg->map.size;
        if (e->del[0]) file_size(dir, e->del, &ix->bytes);
    }
    ix->avgdl = ix->field_docs ? (float)((double)ix->tokens / (double)ix->field_docs) : 1.0f;
    *out = ix;
    return QY_OK;
}

void qy_index_close(qy_index *ix) {
    if (!ix) return;
    qy_manifest_free(&ix->m);
    qy_docstore_close(ix->ds);
    qy_free(ix->dir);
    qy_free(ix);
}

void qy_index_get_stats(const qy_index *ix, qy_index_stats *o) {
    memset(o, 0, sizeof *o);
    o->docs = ix->live;
    o->deleted = ix->deleted;
    o->field_docs = ix->field_docs;
    o->tokens = ix->tokens;
    o->avgdl = ix->field_docs ? (double)ix->tokens / (double)ix->field_docs : 0;
    o->terms = ix->terms;
    o->segments = (uint32_t)ix->m.nsegs;
    o->generation = ix->m.generation;
    o->bytes = ix->bytes;
    qy_analyzer_config_describe(&ix->m.analyzer, o->analyzer, sizeof o->analyzer);
    o->k1 = ix->m.k1;
    o->b = ix->m.b;
}

const char *qy_index_doc_id(const qy_index *ix, const qy_hit *h, size_t *len) {
    return qy_segment_doc_id(ix->m.segs[h->seg].seg, h->doc, len);
}

int qy_index_doc_text(qy_index *ix, const qy_hit *h, char **title, char **text) {
    if (!ix->ds) {
        char path[4096];
        snprintf(path, sizeof path, "%s/docs.sqlite", ix->dir);
        int st = qy_docstore_open(path, 0, &ix->ds);
        if (st) return st;
    }
    return qy_docstore_get(ix->ds, ix->m.segs[h->seg].seg->gids[h->doc], NULL, title, text);
}

void qy_search_params_for_index(const qy_index *ix, qy_search_params *p) {
    qy_search_params_default(p);
    p->k1 = ix->m.k1;
    p->b = ix->m.b;
}
