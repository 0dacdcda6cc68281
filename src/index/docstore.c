/* docstore.c — SQLite document store (see docstore.h). */
#include "index/docstore.h"

#include <sqlite3.h>
#include <string.h>

#include "quarry/base.h"

struct qy_docstore {
    sqlite3 *db;
    sqlite3_stmt *put, *get;
    char *path;
};

static int db_error(qy_docstore *ds, const char *what) {
    return qy_error(QY_ERR_IO, "%s: %s: %s", ds->path, what, sqlite3_errmsg(ds->db));
}

static int exec(qy_docstore *ds, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(ds->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        int st = qy_error(QY_ERR_IO, "%s: %s: %s", ds->path, sql, err ? err : "error");
        sqlite3_free(err);
        return st;
    }
    return QY_OK;
}

int qy_docstore_open(const char *path, int writable, qy_docstore **out) {
    *out = NULL;
    qy_docstore *ds = qy_calloc(1, sizeof *ds);
    if (!ds) return QY_ERR_NOMEM;
    ds->path = qy_strdup(path);
    if (!ds->path) {
        qy_free(ds);
        return QY_ERR_NOMEM;
    }
    int flags = writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    flags |= SQLITE_OPEN_NOMUTEX;
    int st = QY_OK;
    if (sqlite3_open_v2(path, &ds->db, flags, NULL) != SQLITE_OK) {
        st = ds->db ? db_error(ds, "open") : qy_error(QY_ERR_IO, "%s: cannot open", path);
        goto fail;
    }
    sqlite3_busy_timeout(ds->db, 10000);
    if (writable) {
        if ((st = exec(ds, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"))) goto fail;
        if ((st = exec(ds, "CREATE TABLE IF NOT EXISTS docs(gid INTEGER PRIMARY KEY, id TEXT NOT NULL, "
                           "title TEXT, text TEXT)")))
            goto fail;
        if (sqlite3_prepare_v2(ds->db, "INSERT OR REPLACE INTO docs(gid,id,title,text) VALUES(?,?,?,?)", -1,
                               &ds->put, NULL) != SQLITE_OK) {
            st = db_error(ds, "prepare");
            goto fail;
        }
    }
    if (sqlite3_prepare_v2(ds->db, "SELECT id,title,text FROM docs WHERE gid=?", -1, &ds->get, NULL) !=
        SQLITE_OK) {
        st = db_error(ds, "prepare (is this a quarry document store?)");
        goto fail;
    }
    *out = ds;
    return QY_OK;
fail:
    qy_docstore_close(ds);
    return st;
}

void qy_docstore_close(qy_docstore *ds) {
    if (!ds) return;
    sqlite3_finalize(ds->put);
    sqlite3_finalize(ds->get);
    sqlite3_close(ds->db);
    qy_free(ds->path);
    qy_free(ds);
}

int qy_docstore_begin(qy_docstore *ds) { return exec(ds, "BEGIN IMMEDIATE"); }
int qy_docstore_commit(qy_docstore *ds) { return exec(ds, "COMMIT"); }
int qy_docstore_rollback(qy_docstore *ds) { return exec(ds, "ROLLBACK"); }

int qy_docstore_put(qy_docstore *ds, uint64_t gid, const char *id, const char *title, const char *text) {
    sqlite3_reset(ds->put);
    sqlite3_bind_int64(ds->put, 1, (sqlite3_int64)gid);
    sqlite3_bind_text(ds->put, 2, id, -1, SQLITE_STATIC);
    if (title)
        sqlite3_bind_text(ds->put, 3, title, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(ds->put, 3);
    if (text)
        sqlite3_bind_text(ds->put, 4, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(ds->put, 4);
    int rc = sqlite3_step(ds->put);
    sqlite3_clear_bindings(ds->put);
    if (rc != SQLITE_DONE) return db_error(ds, "insert");
    return QY_OK;
}

static int dup_col(sqlite3_stmt *s, int col, char **out) {
    if (!out) return QY_OK;
    *out = NULL;
    const unsigned char *t = sqlite3_column_text(s, col);
    if (!t) return QY_OK;
    *out = qy_strdup((const char *)t);
    return *out ? QY_OK : QY_ERR_NOMEM;
}

int qy_docstore_get(qy_docstore *ds, uint64_t gid, char **id, char **title, char **text) {
    if (id) *id = NULL;
    if (title) *title = NULL;
    if (text) *text = NULL;
    sqlite3_reset(ds->get);
    sqlite3_bind_int64(ds->get, 1, (sqlite3_int64)gid);
    int rc = sqlite3_step(ds->get);
    if (rc == SQLITE_DONE)
        return qy_error(QY_ERR_NOT_FOUND, "%s: no document %llu", ds->path, (unsigned long long)gid);
    if (rc != SQLITE_ROW) return db_error(ds, "select");
    int st = dup_col(ds->get, 0, id);
    if (!st) st = dup_col(ds->get, 1, title);
    if (!st) st = dup_col(ds->get, 2, text);
    sqlite3_reset(ds->get);
    if (st) {
        if (id) qy_free(*id);
        if (title) qy_free(*title);
        if (text) qy_free(*text);
        return st;
    }
    return QY_OK;
}

int qy_docstore_delete_from(qy_docstore *ds, uint64_t from) {
    char sql[96];
    snprintf(sql, sizeof sql, "DELETE FROM docs WHERE gid >= %llu", (unsigned long long)from);
    return exec(ds, sql);
}

int qy_docstore_delete(qy_docstore *ds, const uint64_t *gids, size_t n) {
    if (n == 0) return QY_OK;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(ds->db, "DELETE FROM docs WHERE gid=?", -1, &s, NULL) != SQLITE_OK)
        return db_error(ds, "prepare");
    int st = qy_docstore_begin(ds);
    for (size_t i = 0; i < n && !st; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, (sqlite3_int64)gids[i]);
        if (sqlite3_step(s) != SQLITE_DONE) st = db_error(ds, "delete");
    }
    sqlite3_finalize(s);
    if (!st)
        st = qy_docstore_commit(ds);
    else
        qy_docstore_rollback(ds);
    return st;
}

int qy_docstore_count(qy_docstore *ds, uint64_t *n) {
    sqlite3_stmt *s;
    *n = 0;
    if (sqlite3_prepare_v2(ds->db, "SELECT count(*) FROM docs", -1, &s, NULL) != SQLITE_OK)
        return db_error(ds, "prepare");
    int st = QY_OK;
    if (sqlite3_step(s) == SQLITE_ROW)
        *n = (uint64_t)sqlite3_column_int64(s, 0);
    else
        st = db_error(ds, "count");
    sqlite3_finalize(s);
    return st;
}
