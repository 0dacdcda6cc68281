/* writer.c — building and updating an index: threaded analysis, in-memory
 * inversion under a memory budget, segment flushes, deletions, commits and
 * tiered merges (see quarry/index.h and docs/search.md).
 *
 * Commit protocol: (1) new segment files and deletion files are written
 * atomically under fresh names, (2) the document store commits its rows,
 * (3) MANIFEST is swapped atomically (the commit point), (4) files and
 * document rows that the new manifest no longer needs are removed. A crash
 * before (3) leaves the previous manifest, whose files are all still there;
 * the next writer removes the leftovers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "index/corpus.h"
#include "index/docstore.h"
#include "index/manifest.h"
#include "index/strmap.h"
#include "quarry/index.h"

/* postings of one term in the buffer */
typedef struct plist {
    uint32_t *docs, *tfs;
    uint32_t n, cap;
} plist;

/* one analyzed term of one document */
typedef struct term_tf {
    const char *s;
    uint32_t len, tf;
} term_tf;

typedef struct doc_terms {
    term_tf *items;
    uint32_t n;
    uint32_t len; /* tokens */
} doc_terms;

typedef struct batch_doc {
    char *id, *title, *text;
} batch_doc;

struct qy_index_writer {
    char *dir;
    int lock_fd;
    qy_index_params p;
    qy_manifest m;
    size_t committed_nsegs; /* segments that existed at the last commit */
    qy_docstore *ds;
    int ds_txn;
    qy_pool *pool;
    int nthreads;
    qy_analyzer **an; /* one per thread */
    qy_arena *thread_arena;
    /* documents waiting for analysis */
    batch_doc *batch;
    doc_terms *batch_out;
    size_t nbatch, cap_batch, cap_out, batch_bytes, batch_max_docs, batch_max_bytes;
    qy_arena batch_arena;
    _Atomic int batch_status;
    /* in-memory segment */
    qy_strmap terms;
    plist *pl;
    size_t npl, cap_pl;
    size_t postings_bytes;
    uint64_t *gids;
    uint32_t *lens;
    char **ids;
    uint8_t *buf_del;
    size_t nbuf, cap_buf;
    qy_arena id_arena;
    qy_strmap buf_ids;
    /* ids to tombstone in the committed segments */
    qy_strmap pending;
    qy_index_writer_counts counts;
};

void qy_index_params_default(qy_index_params *p) {
    memset(p, 0, sizeof *p);
    p->memory_budget = (size_t)256 << 20;
    p->merge_factor = 10;
    p->store_text = 1;
    p->k1 = 0.9f;
    p->b = 0.4f;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return QY_OK;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *np = qy_reallocn(*p, nc, elem);
    if (!np) return QY_ERR_NOMEM;
    *p = np;
    *cap = nc;
    return QY_OK;
}

static size_t buffer_bytes(const qy_index_writer *w) {
    return w->postings_bytes + qy_strmap_bytes(&w->terms) + qy_strmap_bytes(&w->buf_ids) +
           w->cap_pl * sizeof(plist) + w->cap_buf * (8 + 4 + 8 + 1) + w->id_arena.reserved +
           w->batch_arena.reserved + qy_strmap_bytes(&w->pending);
}

/* ------------------------------------------------------------ open/close */

static void path_in(const qy_index_writer *w, const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", w->dir, name);
}

/* remove files the manifest does not reference: temporaries, old segments
 * and deletion files */
static void collect_garbage(qy_index_writer *w) {
    DIR *d = opendir(w->dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        int remove = 0;
        if (strstr(n, ".tmp."))
            remove = 1;
        else if (!strncmp(n, "seg_", 4)) {
            uint64_t num = strtoull(n + 4, NULL, 10);
            int is_seg = strstr(n, ".qys") != NULL, is_del = strstr(n, ".del.") != NULL;
            remove = is_seg || is_del;
            for (size_t i = 0; i < w->m.nsegs && remove; i++) {
                if (is_seg && w->m.segs[i].number == num) remove = 0;
                if (is_del && !strcmp(w->m.segs[i].del, n)) remove = 0;
            }
        }
        if (remove) {
            path_in(w, n, path, sizeof path);
            unlink(path);
        }
    }
    closedir(d);
}

static void free_buffer(qy_index_writer *w) {
    for (size_t i = 0; i < w->npl; i++) {
        qy_free(w->pl[i].docs);
        qy_free(w->pl[i].tfs);
    }
    /* give the memory back: the next buffer starts small again */
    qy_free(w->pl);
    w->pl = NULL;
    w->npl = w->cap_pl = 0;
    w->postings_bytes = 0;
    qy_free(w->gids);
    qy_free(w->lens);
    qy_free(w->ids);
    qy_free(w->buf_del);
    w->gids = NULL;
    w->lens = NULL;
    w->ids = NULL;
    w->buf_del = NULL;
    w->nbuf = w->cap_buf = 0;
    size_t chunk = w->terms.arena.chunk_size;
    qy_strmap_free(&w->terms);
    qy_strmap_free(&w->buf_ids);
    qy_strmap_init(&w->terms, chunk);
    qy_strmap_init(&w->buf_ids, chunk);
    qy_arena_free(&w->id_arena);
    qy_arena_init(&w->id_arena, chunk);
}

void qy_index_writer_close(qy_index_writer *w) {
    if (!w) return;
    if (w->ds && w->ds_txn) qy_docstore_rollback(w->ds); /* rows of uncommitted documents */
    free_buffer(w);
    qy_strmap_free(&w->terms);
    qy_strmap_free(&w->buf_ids);
    qy_strmap_free(&w->pending);
    qy_arena_free(&w->id_arena);
    qy_arena_free(&w->batch_arena);
    qy_free(w->batch);
    qy_free(w->batch_out);
    for (int t = 0; t < w->nthreads; t++) {
        if (w->an) qy_analyzer_free(w->an[t]);
        if (w->thread_arena) qy_arena_free(&w->thread_arena[t]);
    }
    qy_free(w->an);
    qy_free(w->thread_arena);
    qy_pool_free(w->pool);
    qy_docstore_close(w->ds);
    qy_manifest_free(&w->m);
    if (w->lock_fd >= 0) close(w->lock_fd);
    qy_free(w->dir);
    qy_free(w);
}

int qy_index_writer_open(const char *dir, const qy_index_params *params, int mode, qy_index_writer **out) {
    *out = NULL;
    qy_index_params p;
    if (params)
        p = *params;
    else
        qy_index_params_default(&p);
    if (p.memory_budget < ((size_t)64 << 10))
        return qy_error(QY_ERR_ARG, "memory budget of %zu bytes is below the 64 KiB minimum",
                        p.memory_budget);
    if (p.merge_factor == 1 || p.merge_factor < 0)
        return qy_error(QY_ERR_ARG, "merge factor must be 0 (off) or >= 2");
    if (mode == QY_INDEX_CREATE) {
        int st = qy_mkdir_p(dir);
        if (st) return st;
    }
    qy_index_writer *w = qy_calloc(1, sizeof *w);
    if (!w) return QY_ERR_NOMEM;
    w->lock_fd = -1;
    w->p = p;
    /* fixed overheads scale with the budget so that small budgets hold too */
    size_t chunk = p.memory_budget / 64;
    if (chunk > ((size_t)1 << 20)) chunk = (size_t)1 << 20;
    if (chunk < ((size_t)16 << 10)) chunk = (size_t)16 << 10;
    qy_strmap_init(&w->terms, chunk);
    qy_strmap_init(&w->buf_ids, chunk);
    qy_strmap_init(&w->pending, chunk);
    qy_arena_init(&w->id_arena, chunk);
    qy_arena_init(&w->batch_arena, chunk);
    int st = QY_OK;
    w->dir = qy_strdup(dir);
    if (!w->dir) {
        st = QY_ERR_NOMEM;
        goto fail;
    }
    char path[4096];
    path_in(w, "LOCK", path, sizeof path);
    w->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->lock_fd < 0) {
        st = qy_error(errno == ENOENT ? QY_ERR_NOT_FOUND : QY_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        st = qy_error(QY_ERR_IO, "%s: index is locked by another writer", dir);
        goto fail;
    }
    st = qy_manifest_read(dir, &w->m);
    if (mode == QY_INDEX_CREATE && st == QY_OK && w->m.nsegs == 0) {
        qy_manifest_free(&w->m); /* an empty index (a build stopped before its first commit) */
        st = QY_ERR_NOT_FOUND;
    }
    if (mode == QY_INDEX_CREATE) {
        if (st == QY_OK) {
            st = qy_error(QY_ERR_ARG,
                          "%s: an index already exists here (use 'quarry index add', or remove it)", dir);
            goto fail;
        }
        if (st != QY_ERR_NOT_FOUND) goto fail;
        qy_analyzer_config_default(&w->m.analyzer);
        if (p.analyzer && (st = qy_analyzer_config_parse(p.analyzer, &w->m.analyzer))) goto fail;
        w->m.next_segment = 1;
        if (!(p.k1 >= 0) || !(p.b >= 0 && p.b <= 1)) {
            st = qy_error(QY_ERR_ARG, "BM25 needs k1 >= 0 and 0 <= b <= 1 (got k1=%g b=%g)", p.k1, p.b);
            goto fail;
        }
        w->m.k1 = p.k1;
        w->m.b = p.b;
        /* a fresh index: drop what an interrupted first build left behind */
        path_in(w, "docs.sqlite", path, sizeof path);
        unlink(path);
        path_in(w, "docs.sqlite-wal", path, sizeof path);
        unlink(path);
        path_in(w, "docs.sqlite-shm", path, sizeof path);
        unlink(path);
    } else if (st) {
        goto fail;
    }
    if ((st = qy_manifest_open_segments(dir, &w->m))) goto fail;
    w->committed_nsegs = w->m.nsegs;
    path_in(w, "docs.sqlite", path, sizeof path);
    if ((st = qy_docstore_open(path, 1, &w->ds))) goto fail;
    if ((st = qy_docstore_delete_from(w->ds, w->m.next_gid))) goto fail;
    collect_garbage(w);
    if (mode == QY_INDEX_CREATE && (st = qy_manifest_write(dir, &w->m))) goto fail;
    if ((st = qy_pool_new(p.threads, &w->pool))) goto fail;
    w->nthreads = qy_pool_threads(w->pool);
    w->an = qy_calloc((size_t)w->nthreads, sizeof *w->an);
    w->thread_arena = qy_calloc((size_t)w->nthreads, sizeof *w->thread_arena);
    if (!w->an || !w->thread_arena) {
        st = QY_ERR_NOMEM;
        goto fail;
    }
    for (int t = 0; t < w->nthreads; t++) {
        qy_arena_init(&w->thread_arena[t], chunk);
        if ((st = qy_analyzer_new(&w->m.analyzer, &w->an[t]))) goto fail;
    }
    w->batch_max_docs = 2048;
    w->batch_max_bytes = p.memory_budget / 32 < ((size_t)8 << 20) ? p.memory_budget / 32 : ((size_t)8 << 20);
    *out = w;
    return QY_OK;
fail:
    qy_index_writer_close(w);
    return st;
}

void qy_index_writer_get_counts(const qy_index_writer *w, qy_index_writer_counts *out) { *out = w->counts; }

/* ------------------------------------------------------------ analysis */

static uint32_t term_hash(const char *s, uint32_t len) {
    uint32_t h = 2166136261u; /* FNV-1a: tokens are short */
    for (uint32_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* find-or-add a token in the open-addressing table (slots hold item index + 1) */
static int count_token(qy_arena *arena, uint32_t *table, uint32_t mask, term_tf *items, size_t *u,
                       const char *text, uint32_t len) {
    uint32_t i = term_hash(text, len) & mask;
    for (;;) {
        uint32_t slot = table[i];
        if (slot == 0) break;
        term_tf *it = &items[slot - 1];
        if (it->len == len && memcmp(it->s, text, len) == 0) {
            it->tf++;
            return QY_OK;
        }
        i = (i + 1) & mask;
    }
    char *c = qy_arena_alloc(arena, len ? len : 1, 1);
    if (!c) return QY_ERR_NOMEM;
    memcpy(c, text, len);
    items[*u] = (term_tf){c, len, 1};
    table[i] = (uint32_t)++ * u;
    return QY_OK;
}

/* analyze title and text as one field: the distinct terms of the document
 * with their frequencies (first-appearance order), in the thread's arena */
static int analyze_doc(qy_analyzer *an, qy_arena *arena, const batch_doc *d, doc_terms *out) {
    const char *parts[2] = {d->title, d->text};
    term_tf *items = NULL;
    size_t u = 0, total = 0;
    for (int k = 0; k < 2; k++) {
        const qy_token *t;
        size_t nt;
        int st = qy_analyzer_run(an, parts[k], strlen(parts[k]), &t, &nt);
        if (st) return st;
        if (nt == 0) continue;
        total += nt;
        /* room for every token being new; a table at most half full */
        size_t cap = u + nt;
        term_tf *ni = qy_arena_alloc(arena, cap * sizeof *ni, 8);
        uint32_t size = 16;
        while (size < 2 * cap) size *= 2;
        uint32_t *table = qy_arena_calloc(arena, size, sizeof *table, 4);
        if (!ni || !table) return QY_ERR_NOMEM;
        if (u) memcpy(ni, items, u * sizeof *ni);
        items = ni;
        for (size_t i = 0; i < u; i++) { /* the title's terms, re-hashed */
            uint32_t h = term_hash(items[i].s, items[i].len) & (size - 1);
            while (table[h]) h = (h + 1) & (size - 1);
            table[h] = (uint32_t)(i + 1);
        }
        for (size_t i = 0; i < nt; i++)
            if ((st = count_token(arena, table, size - 1, items, &u, t[i].text, t[i].len))) return st;
    }
    out->len = (uint32_t)total;
    out->items = items;
    out->n = (uint32_t)u;
    return QY_OK;
}

static void analyze_range(void *ctx, size_t b, size_t e, int tid) {
    qy_index_writer *w = ctx;
    for (size_t i = b; i < e; i++) {
        if (atomic_load(&w->batch_status)) return;
        int st = analyze_doc(w->an[tid], &w->thread_arena[tid], &w->batch[i], &w->batch_out[i]);
        if (st) {
            int zero = 0;
            atomic_compare_exchange_strong(&w->batch_status, &zero, st);
            return;
        }
    }
}

static int commit_internal(qy_index_writer *w, int run_policy);

/* invert one analyzed document into the buffer */
static int invert_doc(qy_index_writer *w, const batch_doc *d, const doc_terms *dt) {
    int st;
    if (w->nbuf == w->cap_buf) { /* gids, lens, ids and buf_del share one capacity */
        size_t nc = w->cap_buf ? w->cap_buf * 2 : 1024;
        uint64_t *ng = qy_reallocn(w->gids, nc, sizeof *ng);
        if (!ng) return QY_ERR_NOMEM;
        w->gids = ng;
        uint32_t *nl = qy_reallocn(w->lens, nc, sizeof *nl);
        if (!nl) return QY_ERR_NOMEM;
        w->lens = nl;
        char **ni = qy_reallocn(w->ids, nc, sizeof *ni);
        if (!ni) return QY_ERR_NOMEM;
        w->ids = ni;
        uint8_t *nd = qy_realloc(w->buf_del, (nc + 7) / 8);
        if (!nd) return QY_ERR_NOMEM;
        w->buf_del = nd;
        w->cap_buf = nc;
    }
    uint32_t doc = (uint32_t)w->nbuf;
    if (doc % 8 == 0) w->buf_del[doc / 8] = 0;
    size_t idlen = strlen(d->id);
    char *id = qy_arena_alloc(&w->id_arena, idlen + 1, 1);
    if (!id) return QY_ERR_NOMEM;
    memcpy(id, d->id, idlen + 1);
    uint32_t *slot;
    int added;
    if ((st = qy_strmap_put(&w->buf_ids, id, idlen, doc, &slot, &added))) return st;
    if (!added) { /* the same id earlier in this buffer: replaced */
        uint32_t old = *slot;
        w->buf_del[old / 8] |= (uint8_t)(1u << (old % 8));
        w->counts.tombstoned++;
        *slot = doc;
    }
    if (w->committed_nsegs > 0 && (st = qy_strmap_put(&w->pending, id, idlen, 0, NULL, NULL))) return st;
    for (uint32_t k = 0; k < dt->n; k++) {
        const term_tf *t = &dt->items[k];
        uint32_t *ti;
        if ((st = qy_strmap_put(&w->terms, t->s, t->len, (uint32_t)w->npl, &ti, &added))) return st;
        if (added) {
            if ((st = grow((void **)&w->pl, &w->cap_pl, w->npl + 1, sizeof *w->pl))) return st;
            memset(&w->pl[w->npl++], 0, sizeof(plist));
        }
        plist *pl = &w->pl[*ti];
        if (pl->n == pl->cap) {
            uint32_t nc = pl->cap ? pl->cap * 2 : 4;
            uint32_t *a = qy_reallocn(pl->docs, nc, 4);
            if (!a) return QY_ERR_NOMEM;
            pl->docs = a;
            uint32_t *b = qy_reallocn(pl->tfs, nc, 4);
            if (!b) return QY_ERR_NOMEM;
            pl->tfs = b;
            w->postings_bytes += (size_t)(nc - pl->cap) * 8;
            pl->cap = nc;
        }
        pl->docs[pl->n] = doc;
        pl->tfs[pl->n] = t->tf;
        pl->n++;
    }
    uint64_t gid = w->m.next_gid++;
    w->gids[doc] = gid;
    w->lens[doc] = dt->len;
    w->ids[doc] = id;
    w->nbuf++;
    if (!w->ds_txn) {
        if ((st = qy_docstore_begin(w->ds))) return st;
        w->ds_txn = 1;
    }
    st = qy_docstore_put(w->ds, gid, d->id, w->p.store_text ? d->title : NULL,
                         w->p.store_text ? d->text : NULL);
    if (st) return st;
    w->counts.added++;
    return QY_OK;
}

static int process_batch(qy_index_writer *w) {
    if (w->nbatch == 0) return QY_OK;
    atomic_store(&w->batch_status, 0);
    qy_pool_for(w->pool, w->nbatch, 16, analyze_range, w);
    int st = atomic_load(&w->batch_status);
    for (size_t i = 0; i < w->nbatch && !st; i++) st = invert_doc(w, &w->batch[i], &w->batch_out[i]);
    size_t bytes = buffer_bytes(w);
    for (int t = 0; t < w->nthreads; t++) {
        bytes += w->thread_arena[t].reserved;
        qy_arena_reset(&w->thread_arena[t]);
    }
    if (bytes > w->counts.peak_buffer_bytes) w->counts.peak_buffer_bytes = bytes;
    w->nbatch = 0;
    w->batch_bytes = 0;
    qy_arena_reset(&w->batch_arena);
    if (st) return st;
    /* Flush at half the budget: the other half is for the next batch (its
     * text, analysis and postings), tables doubling as they grow, the flush
     * itself (sorted term order, block encoding) and allocator slack, so that
     * the whole process stays within the budget. */
    if (buffer_bytes(w) + w->batch_max_bytes * 4 >= w->p.memory_budget / 2) st = commit_internal(w, 1);
    return st;
}

int qy_index_writer_add(qy_index_writer *w, const char *id, const char *title, const char *text) {
    if (!id || !id[0]) return qy_error(QY_ERR_ARG, "document without an id");
    if (!title) title = "";
    if (!text) text = "";
    int st = grow((void **)&w->batch, &w->cap_batch, w->nbatch + 1, sizeof *w->batch);
    if (!st && w->cap_out < w->cap_batch) {
        doc_terms *no = qy_reallocn(w->batch_out, w->cap_batch, sizeof *no);
        if (!no) return QY_ERR_NOMEM;
        w->batch_out = no;
        w->cap_out = w->cap_batch;
    }
    if (st) return st;
    batch_doc *d = &w->batch[w->nbatch];
    d->id = qy_arena_strdup(&w->batch_arena, id);
    d->title = qy_arena_strdup(&w->batch_arena, title);
    d->text = qy_arena_strdup(&w->batch_arena, text);
    if (!d->id || !d->title || !d->text) return QY_ERR_NOMEM;
    w->nbatch++;
    w->batch_bytes += strlen(title) + strlen(text) + strlen(id);
    if (w->nbatch >= w->batch_max_docs || w->batch_bytes >= w->batch_max_bytes) return process_batch(w);
    return QY_OK;
}

int qy_index_writer_delete(qy_index_writer *w, const char *id) {
    int st = process_batch(w);
    if (st) return st;
    size_t len = strlen(id);
    uint32_t *slot = qy_strmap_get(&w->buf_ids, id, len);
    if (slot && !(w->buf_del[*slot / 8] >> (*slot % 8) & 1)) {
        w->buf_del[*slot / 8] |= (uint8_t)(1u << (*slot % 8));
        w->counts.tombstoned++;
    }
    if (w->committed_nsegs > 0) return qy_strmap_put(&w->pending, id, len, 0, NULL, NULL);
    return QY_OK;
}

/* ------------------------------------------------------------ flush */

static int cmp_term_index(const void *a, const void *b, void *ctx) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    const qy_strmap *m = ctx;
    size_t lx = m->lens[x], ly = m->lens[y];
    int c = memcmp(m->keys[x], m->keys[y], lx < ly ? lx : ly);
    if (c) return c;
    return lx < ly ? -1 : lx > ly;
}

/* write the buffer as a new segment (not yet committed) */
static int flush_buffer(qy_index_writer *w) {
    int st = process_batch(w);
    if (st || w->nbuf == 0) return st;
    /* slots of the term map, sorted by term */
    uint32_t *order = qy_mallocn(w->terms.n ? w->terms.n : 1, sizeof *order);
    if (!order) return QY_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < w->terms.cap; i++)
        if (w->terms.hashes[i]) order[k++] = (uint32_t)i;
    qsort_r(order, k, sizeof *order, cmp_term_index, &w->terms);
    uint64_t number = w->m.next_segment++;
    char path[4096];
    qy_seg_path(w->dir, number, path, sizeof path);
    qy_seg_writer *sw;
    st = qy_seg_writer_open(path, &sw);
    for (size_t i = 0; i < k && !st; i++) {
        uint32_t slot = order[i];
        const plist *pl = &w->pl[w->terms.vals[slot]];
        st = qy_seg_writer_add_term(sw, w->terms.keys[slot], w->terms.lens[slot], pl->docs, pl->tfs, pl->n,
                                    w->lens);
    }
    qy_free(order);
    if (st) {
        qy_seg_writer_abort(sw);
        return st;
    }
    if ((st = qy_seg_writer_finish(sw, (uint32_t)w->nbuf, w->gids, w->lens, (const char *const *)w->ids)))
        return st;
    qy_seg_entry e;
    memset(&e, 0, sizeof e);
    e.number = number;
    e.ndocs = (uint32_t)w->nbuf;
    for (uint32_t d = 0; d < e.ndocs; d++) e.ndeleted += w->buf_del[d / 8] >> (d % 8) & 1;
    if (e.ndeleted) {
        e.del_bits = qy_malloc((e.ndocs + 7) / 8);
        if (!e.del_bits) return QY_ERR_NOMEM;
        memcpy(e.del_bits, w->buf_del, (e.ndocs + 7) / 8);
        e.del_dirty = 1;
    }
    if (!st) st = qy_segment_open(path, &e.seg);
    if (!st) st = qy_manifest_push(&w->m, &e);
    if (st) {
        qy_segment_close(e.seg);
        qy_free(e.del_bits);
        return st;
    }
    w->counts.flushes++;
    free_buffer(w);
    return QY_OK;
}

/* tombstone, in the segments committed before, every id in `pending` */
static int apply_pending(qy_index_writer *w) {
    if (w->pending.n == 0) return QY_OK;
    for (size_t i = 0; i < w->committed_nsegs; i++) {
        qy_seg_entry *e = &w->m.segs[i];
        for (uint32_t d = 0; d < e->ndocs; d++) {
            if (qy_seg_is_deleted(e, d)) continue;
            size_t len;
            const char *id = qy_segment_doc_id(e->seg, d, &len);
            if (!qy_strmap_get(&w->pending, id, len)) continue;
            if (!e->del_bits) {
                e->del_bits = qy_calloc(1, (e->ndocs + 7) / 8);
                if (!e->del_bits) return QY_ERR_NOMEM; /* pending stays: a later commit retries */
            }
            e->del_bits[d / 8] |= (uint8_t)(1u << (d % 8));
            e->ndeleted++;
            e->del_dirty = 1;
            w->counts.tombstoned++;
        }
    }
    qy_strmap_clear(&w->pending);
    return QY_OK;
}

/* write dirty deletion files and swap the manifest; then remove what is no
 * longer referenced */
static int write_commit(qy_index_writer *w, char (*old_dels)[64], size_t nold) {
    uint64_t gen = w->m.generation + 1;
    int st = QY_OK;
    char(*prev)[64] = qy_calloc(w->m.nsegs ? w->m.nsegs : 1, 64);
    if (!prev) return QY_ERR_NOMEM;
    for (size_t i = 0; i < w->m.nsegs && !st; i++) {
        qy_seg_entry *e = &w->m.segs[i];
        if (!e->del_dirty) continue;
        snprintf(prev[i], 64, "%s", e->del);
        snprintf(e->del, sizeof e->del, "seg_%06" PRIu64 ".del.%" PRIu64, e->number, gen);
        st = qy_del_write(w->dir, e->del, e->del_bits, e->ndocs);
    }
    if (!st && w->ds_txn) {
        st = qy_docstore_commit(w->ds);
        w->ds_txn = 0;
    }
    if (!st) {
        w->m.generation = gen;
        st = qy_manifest_write(w->dir, &w->m);
        if (st) w->m.generation = gen - 1;
    }
    if (st) {
        qy_free(prev);
        return st;
    }
    char path[4096];
    for (size_t i = 0; i < w->m.nsegs; i++) {
        if (!w->m.segs[i].del_dirty) continue;
        w->m.segs[i].del_dirty = 0;
        if (prev[i][0]) {
            path_in(w, prev[i], path, sizeof path);
            unlink(path);
        }
    }
    for (size_t i = 0; i < nold; i++) {
        path_in(w, old_dels[i], path, sizeof path);
        unlink(path);
    }
    qy_free(prev);
    w->committed_nsegs = w->m.nsegs;
    return QY_OK;
}

/* ------------------------------------------------------------ merging */

static int cmp_bytes(const char *a, size_t la, const char *b, size_t lb) {
    int c = memcmp(a, b, la < lb ? la : lb);
    if (c) return c;
    return la < lb ? -1 : la > lb;
}

/* Merge segments sel[0..n) (indexes into m.segs, ascending) into one new
 * segment that takes the place of the first; deleted documents are dropped. */
static int merge_segments(qy_index_writer *w, const size_t *sel, size_t n) {
    uint32_t total = 0;
    for (size_t i = 0; i < n; i++) total += w->m.segs[sel[i]].ndocs - w->m.segs[sel[i]].ndeleted;
    uint32_t **remap = qy_calloc(n, sizeof *remap);
    uint64_t *gids = qy_mallocn(total ? total : 1, sizeof *gids);
    uint32_t *lens = qy_mallocn(total ? total : 1, sizeof *lens);
    char **ids = qy_calloc(total ? total : 1, sizeof *ids);
    uint32_t *t_at = qy_calloc(n, sizeof *t_at);
    uint32_t *pdocs = NULL, *ptfs = NULL;
    size_t cap_p = 0;
    uint64_t *dropped = NULL;
    size_t ndropped = 0, cap_dropped = 0;
    qy_seg_writer *sw = NULL;
    qy_cursor *c = qy_malloc(sizeof *c);
    int st = (!remap || !gids || !lens || !ids || !t_at || !c) ? QY_ERR_NOMEM : QY_OK;
    uint32_t nd = 0;
    for (size_t i = 0; i < n && !st; i++) {
        qy_seg_entry *e = &w->m.segs[sel[i]];
        remap[i] = qy_mallocn(e->ndocs ? e->ndocs : 1, sizeof **remap);
        if (!remap[i]) {
            st = QY_ERR_NOMEM;
            break;
        }
        for (uint32_t d = 0; d < e->ndocs && !st; d++) {
            if (qy_seg_is_deleted(e, d)) {
                remap[i][d] = UINT32_MAX;
                if ((st = grow((void **)&dropped, &cap_dropped, ndropped + 1, sizeof *dropped))) break;
                dropped[ndropped++] = e->seg->gids[d];
                continue;
            }
            size_t len;
            const char *id = qy_segment_doc_id(e->seg, d, &len);
            ids[nd] = qy_strndup(id, len);
            if (!ids[nd]) {
                st = QY_ERR_NOMEM;
                break;
            }
            gids[nd] = e->seg->gids[d];
            lens[nd] = e->seg->lens[d];
            remap[i][d] = nd++;
        }
    }
    uint64_t number = w->m.next_segment++;
    char path[4096];
    qy_seg_path(w->dir, number, path, sizeof path);
    if (!st) st = qy_seg_writer_open(path, &sw);
    /* k-way merge of the sorted dictionaries */
    while (!st) {
        const char *min = NULL;
        size_t minlen = 0;
        for (size_t i = 0; i < n; i++) {
            const qy_segment *s = w->m.segs[sel[i]].seg;
            if (t_at[i] >= s->nterms) continue;
            size_t l;
            const char *t = qy_segment_term(s, t_at[i], &l);
            if (!min || cmp_bytes(t, l, min, minlen) < 0) {
                min = t;
                minlen = l;
            }
        }
        if (!min) break;
        size_t np = 0; /* min points into a mapping that stays open */
        for (size_t i = 0; i < n && !st; i++) {
            const qy_segment *s = w->m.segs[sel[i]].seg;
            if (t_at[i] >= s->nterms) continue;
            size_t l;
            const char *t = qy_segment_term(s, t_at[i], &l);
            if (cmp_bytes(t, l, min, minlen) != 0) continue;
            size_t old_cap = cap_p;
            if ((st = grow((void **)&pdocs, &cap_p, np + s->terms[t_at[i]].df, 4))) break;
            if (cap_p != old_cap || !ptfs) { /* ptfs follows pdocs' capacity */
                uint32_t *nt = qy_reallocn(ptfs, cap_p, 4);
                if (!nt) {
                    st = QY_ERR_NOMEM;
                    break;
                }
                ptfs = nt;
            }
            qy_cursor_init(c, s, t_at[i]);
            for (uint32_t d = c->doc; d != QY_DOC_END; d = qy_cursor_next(c)) {
                uint32_t nd2 = remap[i][d];
                if (nd2 == UINT32_MAX) continue;
                pdocs[np] = nd2;
                ptfs[np] = qy_cursor_tf(c);
                np++;
            }
            t_at[i]++;
        }
        if (!st && np) st = qy_seg_writer_add_term(sw, min, minlen, pdocs, ptfs, np, lens);
    }
    if (!st) {
        st = qy_seg_writer_finish(sw, nd, gids, lens, (const char *const *)ids);
        sw = NULL;
    }
    qy_seg_writer_abort(sw);
    for (size_t i = 0; i < n && remap; i++) qy_free(remap[i]);
    qy_free(remap);
    for (uint32_t i = 0; i < total && ids; i++) qy_free(ids[i]);
    qy_free(ids);
    qy_free(gids);
    qy_free(lens);
    qy_free(t_at);
    qy_free(pdocs);
    qy_free(ptfs);
    qy_free(c);
    if (st) {
        qy_free(dropped);
        return st;
    }
    /* the new manifest: merged segment in place of the first input */
    qy_seg_entry e;
    memset(&e, 0, sizeof e);
    e.number = number;
    e.ndocs = nd;
    st = nd ? qy_segment_open(path, &e.seg) : QY_OK;
    if (!nd) unlink(path); /* everything was deleted: no segment replaces them */
    char(*old)[64] = qy_calloc(2 * n, 64);
    if (!st && !old) st = QY_ERR_NOMEM;
    if (st) {
        qy_segment_close(e.seg);
        qy_free(old);
        qy_free(dropped);
        unlink(path);
        return st;
    }
    size_t nold = 0;
    qy_seg_entry *removed = qy_calloc(n, sizeof *removed);
    if (!removed) {
        qy_segment_close(e.seg);
        qy_free(old);
        qy_free(dropped);
        unlink(path);
        return QY_ERR_NOMEM;
    }
    size_t out = 0, s_i = 0;
    for (size_t i = 0; i < w->m.nsegs; i++) {
        if (s_i < n && sel[s_i] == i) {
            removed[s_i] = w->m.segs[i];
            snprintf(old[nold++], 64, "seg_%06" PRIu64 ".qys", w->m.segs[i].number);
            if (w->m.segs[i].del[0]) snprintf(old[nold++], 64, "%s", w->m.segs[i].del);
            if (s_i == 0 && nd) w->m.segs[out++] = e;
            s_i++;
            continue;
        }
        w->m.segs[out++] = w->m.segs[i];
    }
    w->m.nsegs = out;
    st = write_commit(w, old, nold);
    /* the inputs are out of the in-memory manifest either way; on failure the
     * files still hold the previous commit, which the next open reads */
    for (size_t i = 0; i < n; i++) {
        qy_segment_close(removed[i].seg);
        qy_free(removed[i].del_bits);
    }
    qy_free(removed);
    qy_free(old);
    if (st) {
        qy_free(dropped);
        return st;
    }
    /* rows of documents that no segment holds any more */
    st = qy_docstore_delete(w->ds, dropped, ndropped);
    qy_free(dropped);
    w->counts.merges++;
    return st;
}

static uint32_t live_docs(const qy_seg_entry *e) { return e->ndocs - e->ndeleted; }

static int tier_of(uint32_t live, int factor) {
    int t = 0;
    double x = live < 1 ? 1 : live;
    while (x >= factor) {
        x /= factor;
        t++;
    }
    return t;
}

/* Tiered policy over adjacent segments (so that index order stays insertion
 * order, which decides ties): when `merge_factor` neighbours lie within one
 * size tier of each other (tiers: powers of the factor in live documents)
 * they are merged; a segment
 * more than half deleted is rewritten. Repeats until nothing qualifies. */
static int apply_merge_policy(qy_index_writer *w) {
    int f = w->p.merge_factor;
    if (f < 2) return QY_OK;
    for (int guard = 0; guard < 256; guard++) {
        size_t n = w->m.nsegs;
        size_t *sel = qy_mallocn(n ? n : 1, sizeof *sel);
        if (!sel) return QY_ERR_NOMEM;
        size_t k = 0;
        for (size_t i = 0; i + (size_t)f <= n && k == 0; i++) {
            int lo = 99, hi = -1;
            for (size_t j = i; j < i + (size_t)f; j++) {
                int t = tier_of(live_docs(&w->m.segs[j]), f);
                lo = t < lo ? t : lo;
                hi = t > hi ? t : hi;
            }
            if (hi - lo <= 1) /* neighbours of about the same size */
                for (size_t x = i; x < i + (size_t)f; x++) sel[k++] = x;
        }
        for (size_t i = 0; i < n && k == 0; i++)
            if (w->m.segs[i].ndeleted * 2 > w->m.segs[i].ndocs) sel[k++] = i;
        int st = k ? merge_segments(w, sel, k) : QY_OK;
        qy_free(sel);
        if (st || k == 0) return st;
    }
    return QY_OK;
}

static int commit_internal(qy_index_writer *w, int run_policy) {
    int st = flush_buffer(w);
    if (st) return st;
    if ((st = apply_pending(w))) return st;
    int dirty = w->committed_nsegs != w->m.nsegs;
    for (size_t i = 0; i < w->m.nsegs; i++) dirty |= w->m.segs[i].del_dirty;
    if (dirty && (st = write_commit(w, NULL, 0))) return st;
    if (run_policy) st = apply_merge_policy(w);
    return st;
}

int qy_index_writer_commit(qy_index_writer *w) { return commit_internal(w, 1); }

int qy_index_writer_merge(qy_index_writer *w, int max_segments) {
    if (max_segments < 1) return qy_error(QY_ERR_ARG, "merge: max segments must be >= 1");
    int st = commit_internal(w, 0);
    if (st) return st;
    size_t n = w->m.nsegs;
    size_t *sel = qy_mallocn(n ? n : 1, sizeof *sel);
    if (!sel) return QY_ERR_NOMEM;
    if (n > (size_t)max_segments) {
        /* merge the run of n - max + 1 neighbours with the fewest documents */
        size_t want = n - (size_t)max_segments + 1, best = 0;
        uint64_t best_docs = UINT64_MAX;
        for (size_t i = 0; i + want <= n; i++) {
            uint64_t d = 0;
            for (size_t j = i; j < i + want; j++) d += live_docs(&w->m.segs[j]);
            if (d < best_docs) best_docs = d, best = i;
        }
        for (size_t j = 0; j < want; j++) sel[j] = best + j;
        st = merge_segments(w, sel, want);
    }
    /* purge deletions left in the remaining segments */
    for (size_t i = 0; !st && i < w->m.nsegs; i++) {
        if (w->m.segs[i].ndeleted == 0) continue;
        sel[0] = i;
        st = merge_segments(w, sel, 1);
    }
    qy_free(sel);
    return st;
}

/* ------------------------------------------------------------ corpus */

int qy_index_writer_add_corpus(qy_index_writer *w, const char *path, const char *format, uint64_t *ndocs) {
    if (ndocs) *ndocs = 0;
    qy_corpus *c;
    int st = qy_corpus_open(path, format, &c);
    if (st) return st;
    qy_progress pr;
    qy_progress_begin(&pr, "indexing", 0, "docs");
    uint64_t n = 0;
    for (;;) {
        qy_corpus_doc d;
        int eof;
        if ((st = qy_corpus_next(c, &d, &eof)) || eof) break;
        if ((st = qy_index_writer_add(w, d.id, d.title, d.text))) break;
        n++;
        if ((n & 1023) == 0) {
            qy_progress_set_extra(&pr, "%.1f MB read, %" PRIu64 " segments", (double)qy_corpus_bytes(c) / 1e6,
                                  w->counts.flushes);
            qy_progress_update(&pr, n);
        }
    }
    if (!st) st = process_batch(w);
    qy_progress_update(&pr, n);
    qy_progress_set_extra(&pr, "%.1f MB", (double)qy_corpus_bytes(c) / 1e6);
    qy_progress_end(&pr);
    qy_corpus_close(c);
    if (ndocs) *ndocs = n;
    return st;
}
