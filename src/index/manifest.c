/* manifest.c — reading and writing MANIFEST and deletion files. */
#include "index/manifest.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "quarry/base.h"

static const char DEL_MAGIC[8] = {'Q', 'Y', 'D', 'E', 'L', 0, 0, 1};
#define DEL_VERSION 1

void qy_seg_path(const char *dir, uint64_t number, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/seg_%06" PRIu64 ".qys", dir, number);
}

int qy_manifest_push(qy_manifest *m, const qy_seg_entry *e) {
    if (m->nsegs == m->cap_segs) {
        size_t nc = m->cap_segs ? m->cap_segs * 2 : 8;
        qy_seg_entry *ns = qy_reallocn(m->segs, nc, sizeof *ns);
        if (!ns) return QY_ERR_NOMEM;
        m->segs = ns;
        m->cap_segs = nc;
    }
    m->segs[m->nsegs++] = *e;
    return QY_OK;
}

void qy_manifest_free(qy_manifest *m) {
    for (size_t i = 0; i < m->nsegs; i++) {
        qy_segment_close(m->segs[i].seg);
        qy_free(m->segs[i].del_bits);
    }
    qy_free(m->segs);
    memset(m, 0, sizeof *m);
}

int qy_manifest_write(const char *dir, const qy_manifest *m) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return QY_ERR_NOMEM;
    char num[32];
    /* 64-bit counters as strings: JSON numbers lose integers above 2^53 */
    snprintf(num, sizeof num, "%" PRIu64, m->generation);
    cJSON_AddStringToObject(o, "generation", num);
    snprintf(num, sizeof num, "%" PRIu64, m->next_gid);
    cJSON_AddStringToObject(o, "next_gid", num);
    snprintf(num, sizeof num, "%" PRIu64, m->next_segment);
    cJSON_AddStringToObject(o, "next_segment", num);
    cJSON_AddStringToObject(o, "created_by", "quarry " QY_VERSION_STRING);
    cJSON *bm = cJSON_AddObjectToObject(o, "bm25");
    if (bm) {
        cJSON_AddNumberToObject(bm, "k1", m->k1);
        cJSON_AddNumberToObject(bm, "b", m->b);
    }
    cJSON *an = qy_analyzer_config_to_json(&m->analyzer);
    if (an && !cJSON_AddItemToObject(o, "analyzer", an)) { /* the key copy failed */
        cJSON_Delete(an);
        an = NULL;
    }
    cJSON *arr = cJSON_AddArrayToObject(o, "segments");
    for (size_t i = 0; arr && i < m->nsegs; i++) {
        const qy_seg_entry *e = &m->segs[i];
        cJSON *s = cJSON_CreateObject();
        if (!s) break;
        snprintf(num, sizeof num, "%" PRIu64, e->number);
        cJSON_AddStringToObject(s, "number", num);
        cJSON_AddNumberToObject(s, "docs", e->ndocs);
        cJSON_AddNumberToObject(s, "deleted", e->ndeleted);
        cJSON_AddStringToObject(s, "del", e->del);
        cJSON_AddItemToArray(arr, s);
    }
    char *body = (an && arr) ? qy_json_print(o, 1) : NULL;
    cJSON_Delete(o);
    if (!body) return qy_error(QY_ERR_NOMEM, "%s/MANIFEST: out of memory", dir);
    size_t blen = strlen(body);
    char path[4096];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    qy_afile *f;
    int st = qy_afile_open(path, &f);
    if (!st) {
        st = qy_afile_printf(f, "QUARRY-MANIFEST %d %016llx\n", QY_MANIFEST_VERSION,
                             (unsigned long long)XXH64(body, blen, 0));
        if (!st) st = qy_afile_write(f, body, blen);
        if (st)
            qy_afile_abort(f);
        else
            st = qy_afile_commit(f);
    }
    qy_free(body);
    return st;
}

static int get_u64(const cJSON *o, const char *key, const char *path, uint64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char *end;
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return qy_error(QY_ERR_FORMAT, "%s: \"%s\": expected a number in a string", path, key);
    *out = strtoull(v->valuestring, &end, 10);
    if (*end) return qy_error(QY_ERR_FORMAT, "%s: \"%s\": expected digits", path, key);
    return QY_OK;
}

int qy_manifest_read(const char *dir, qy_manifest *m) {
    memset(m, 0, sizeof *m);
    char path[4096];
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    char *buf;
    size_t len;
    int st = qy_read_file(path, 64u << 20, &buf, &len);
    if (st == QY_ERR_NOT_FOUND) return qy_error(QY_ERR_NOT_FOUND, "%s: no index here (no MANIFEST)", dir);
    if (st) return st;
    int ver;
    unsigned long long h;
    char *nl = memchr(buf, '\n', len);
    if (!nl || sscanf(buf, "QUARRY-MANIFEST %d %16llx", &ver, &h) != 2) {
        qy_free(buf);
        return qy_error(QY_ERR_FORMAT, "%s: not a quarry manifest (bad header line)", path);
    }
    if (ver != QY_MANIFEST_VERSION) {
        qy_free(buf);
        return qy_error(QY_ERR_FORMAT, "%s: manifest version %d, this quarry reads version %d", path, ver,
                        QY_MANIFEST_VERSION);
    }
    const char *body = nl + 1;
    size_t blen = len - (size_t)(body - buf);
    if (XXH64(body, blen, 0) != h) {
        qy_free(buf);
        return qy_error(QY_ERR_FORMAT, "%s: checksum mismatch (the file is damaged)", path);
    }
    qy_json *doc;
    st = qy_json_parse(body, blen, path, &doc);
    qy_free(buf);
    if (st) return st;
    const cJSON *o = qy_json_root(doc);
    st = get_u64(o, "generation", path, &m->generation);
    if (!st) st = get_u64(o, "next_gid", path, &m->next_gid);
    if (!st) st = get_u64(o, "next_segment", path, &m->next_segment);
    if (!st)
        st =
            qy_analyzer_config_from_json(cJSON_GetObjectItemCaseSensitive(o, "analyzer"), path, &m->analyzer);
    m->k1 = 0.9f;
    m->b = 0.4f;
    const cJSON *bm = cJSON_GetObjectItemCaseSensitive(o, "bm25");
    if (!st && bm) {
        const cJSON *k1 = cJSON_GetObjectItemCaseSensitive(bm, "k1"),
                    *b = cJSON_GetObjectItemCaseSensitive(bm, "b");
        if (!cJSON_IsNumber(k1) || !cJSON_IsNumber(b) || k1->valuedouble < 0 || b->valuedouble < 0 ||
            b->valuedouble > 1)
            st = qy_error(QY_ERR_FORMAT, "%s: \"bm25\": expected k1 >= 0 and 0 <= b <= 1", path);
        else {
            m->k1 = (float)k1->valuedouble;
            m->b = (float)b->valuedouble;
        }
    }
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "segments");
    if (!st && !cJSON_IsArray(arr)) st = qy_error(QY_ERR_FORMAT, "%s: \"segments\": expected an array", path);
    const cJSON *s;
    if (!st) cJSON_ArrayForEach(s, arr) {
            qy_seg_entry e;
            memset(&e, 0, sizeof e);
            const cJSON *docs = cJSON_GetObjectItemCaseSensitive(s, "docs");
            const cJSON *del = cJSON_GetObjectItemCaseSensitive(s, "deleted");
            const cJSON *dn = cJSON_GetObjectItemCaseSensitive(s, "del");
            st = get_u64(s, "number", path, &e.number);
            if (st) break;
            if (!cJSON_IsNumber(docs) || !cJSON_IsNumber(del) || !cJSON_IsString(dn) ||
                docs->valuedouble < 0 || docs->valuedouble > UINT32_MAX || del->valuedouble < 0 ||
                del->valuedouble > docs->valuedouble || strlen(dn->valuestring) >= sizeof e.del ||
                strchr(dn->valuestring, '/')) {
                st = qy_error(QY_ERR_FORMAT, "%s: segment %" PRIu64 ": bad docs/deleted/del", path, e.number);
                break;
            }
            e.ndocs = (uint32_t)docs->valuedouble;
            e.ndeleted = (uint32_t)del->valuedouble;
            snprintf(e.del, sizeof e.del, "%s", dn->valuestring);
            if ((e.ndeleted > 0) != (e.del[0] != 0)) {
                st = qy_error(QY_ERR_FORMAT, "%s: segment %" PRIu64 ": deletions without a deletion file",
                              path, e.number);
                break;
            }
            if ((st = qy_manifest_push(m, &e))) break;
        }
    qy_json_free(doc);
    if (st) qy_manifest_free(m);
    return st;
}

static int del_read(const char *dir, qy_seg_entry *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->del);
    char *buf;
    size_t len;
    int st = qy_read_file(path, 0, &buf, &len);
    if (st) return st;
    size_t nbytes = ((size_t)e->ndocs + 7) / 8;
    uint32_t ver, nd;
    if (len != 16 + nbytes + 8 || memcmp(buf, DEL_MAGIC, 8) != 0) {
        qy_free(buf);
        return qy_error(QY_ERR_FORMAT, "%s: not a deletion file for %u documents", path, e->ndocs);
    }
    memcpy(&ver, buf + 8, 4);
    memcpy(&nd, buf + 12, 4);
    uint64_t h;
    memcpy(&h, buf + 16 + nbytes, 8);
    if (ver != DEL_VERSION || nd != e->ndocs || XXH64(buf, 16 + nbytes, 0) != h) {
        qy_free(buf);
        return qy_error(QY_ERR_FORMAT, "%s: bad version, size or checksum", path);
    }
    e->del_bits = qy_malloc(nbytes ? nbytes : 1);
    if (!e->del_bits) {
        qy_free(buf);
        return QY_ERR_NOMEM;
    }
    memcpy(e->del_bits, buf + 16, nbytes);
    qy_free(buf);
    uint32_t cnt = 0;
    for (uint32_t d = 0; d < e->ndocs; d++) cnt += qy_seg_is_deleted(e, d);
    if (cnt != e->ndeleted)
        return qy_error(QY_ERR_FORMAT, "%s: %u deletions, the manifest says %u", path, cnt, e->ndeleted);
    return QY_OK;
}

int qy_manifest_open_segments(const char *dir, qy_manifest *m) {
    char path[4096];
    for (size_t i = 0; i < m->nsegs; i++) {
        qy_seg_entry *e = &m->segs[i];
        if (e->seg) continue;
        qy_seg_path(dir, e->number, path, sizeof path);
        int st = qy_segment_open(path, &e->seg);
        if (st) return st;
        if (e->seg->ndocs != e->ndocs)
            return qy_error(QY_ERR_FORMAT, "%s: %u documents, the manifest says %u", path, e->seg->ndocs,
                            e->ndocs);
        if (e->del[0] && (st = del_read(dir, e))) return st;
    }
    return QY_OK;
}

int qy_del_write(const char *dir, const char *name, const uint8_t *bits, uint32_t ndocs) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t nbytes = ((size_t)ndocs + 7) / 8;
    uint8_t *buf = qy_malloc(16 + nbytes + 8);
    if (!buf) return QY_ERR_NOMEM;
    uint32_t ver = DEL_VERSION;
    memcpy(buf, DEL_MAGIC, 8);
    memcpy(buf + 8, &ver, 4);
    memcpy(buf + 12, &ndocs, 4);
    memcpy(buf + 16, bits, nbytes);
    uint64_t h = XXH64(buf, 16 + nbytes, 0);
    memcpy(buf + 16 + nbytes, &h, 8);
    int st = qy_write_file_atomic(path, buf, 16 + nbytes + 8);
    qy_free(buf);
    return st;
}
