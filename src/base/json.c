/* json.c — cJSON documents with path-aware typed getters.
 *
 * cJSON allocates through qy_malloc/qy_free (hooks installed once), so JSON
 * memory is counted and its out-of-memory paths can be tested. */
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "quarry/base.h"

struct qy_json {
    cJSON *root;
    char *source;
};

static void *hook_malloc(size_t n) { return qy_malloc(n); }
static void hook_free(void *p) { qy_free(p); }
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;
static void install_hooks(void) {
    cJSON_Hooks h = {hook_malloc, hook_free};
    cJSON_InitHooks(&h);
}
static void ensure_hooks(void) { pthread_once(&hooks_once, install_hooks); }

/* Install the hooks when the library is loaded, before any caller can build a
 * cJSON tree: a tree made with one allocator and freed with another corrupts the
 * heap (quarry eval --json met this when a tree preceded the first qy_json call). */
__attribute__((constructor)) static void install_hooks_at_load(void) { ensure_hooks(); }

/* line and column of byte offset `off` in text, for parse errors */
static void line_col(const char *text, size_t off, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

int qy_json_parse(const char *text, size_t len, const char *source, qy_json **out) {
    *out = NULL;
    ensure_hooks();
    if (!source) source = "<json>";
    qy_json *d = qy_calloc(1, sizeof *d);
    if (!d) return QY_ERR_NOMEM;
    d->source = qy_strdup(source);
    if (!d->source) {
        qy_free(d);
        return QY_ERR_NOMEM;
    }
    const char *end = NULL;
    qy_alloc_stats before;
    qy_alloc_get_stats(&before);
    long inj_before = qy_alloc_injected_failures();
    d->root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!d->root) {
        int st = QY_ERR_FORMAT;
        if (qy_alloc_injected_failures() != inj_before) {
            st = qy_error(QY_ERR_NOMEM, "%s: out of memory while parsing JSON", source);
        } else {
            size_t off = end && end >= text ? (size_t)(end - text) : 0;
            if (off > len) off = len;
            int line, col;
            line_col(text, off, &line, &col);
            if (len == 0 || off >= len)
                st = qy_error(QY_ERR_FORMAT, "%s: invalid JSON: unexpected end of input (line %d)", source,
                              line);
            else {
                /* the input need not be NUL-terminated: copy at most 20 bytes */
                char near[24];
                size_t k = 0;
                for (; k < 20 && off + k < len; k++) {
                    unsigned char ch = (unsigned char)text[off + k];
                    near[k] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
                }
                near[k] = '\0';
                st = qy_error(QY_ERR_FORMAT, "%s: invalid JSON at line %d, column %d near '%s'", source, line,
                              col, near);
            }
        }
        qy_json_free(d);
        return st;
    }
    /* trailing garbage after the value */
    if (end) {
        size_t off = (size_t)(end - text);
        while (off < len && (text[off] == ' ' || text[off] == '\n' || text[off] == '\r' || text[off] == '\t'))
            off++;
        if (off < len && text[off] != '\0') {
            int line, col;
            line_col(text, off, &line, &col);
            qy_json_free(d);
            return qy_error(QY_ERR_FORMAT, "%s: invalid JSON: extra data at line %d, column %d", source, line,
                            col);
        }
    }
    *out = d;
    return QY_OK;
}

int qy_json_read_file(const char *path, qy_json **out) {
    char *text;
    size_t len;
    *out = NULL;
    int st = qy_read_file(path, 0, &text, &len);
    if (st) return st;
    st = qy_json_parse(text, len, path, out);
    qy_free(text);
    return st;
}

void qy_json_free(qy_json *d) {
    if (!d) return;
    if (d->root) cJSON_Delete(d->root);
    qy_free(d->source);
    qy_free(d);
}

const cJSON *qy_json_root(const qy_json *d) { return d->root; }
const char *qy_json_source(const qy_json *d) { return d->source; }

qy_jref qy_json_ref(const qy_json *d) {
    qy_jref r;
    r.doc = d;
    r.node = d->root;
    r.path[0] = '\0';
    return r;
}

static const char *jtype(const cJSON *n) {
    if (!n) return "missing";
    if (cJSON_IsNull(n)) return "null";
    if (cJSON_IsBool(n)) return "boolean";
    if (cJSON_IsNumber(n)) return "number";
    if (cJSON_IsString(n)) return "string";
    if (cJSON_IsArray(n)) return "array";
    if (cJSON_IsObject(n)) return "object";
    return "invalid";
}

static const char *shown_path(const char *p) { return p[0] ? p : "."; }

static void path_append(char *dst, size_t cap, const char *fmt_piece) {
    size_t l = strlen(dst);
    if (l + 1 >= cap) return;
    snprintf(dst + l, cap - l, "%s", fmt_piece);
}

int qy_jref_get(const qy_jref *r, const char *rel, qy_jref *out) {
    qy_jref cur = *r;
    const char *p = rel ? rel : "";
    while (*p) {
        if (*p == '.') {
            p++;
            const char *s = p;
            while (*p && *p != '.' && *p != '[') p++;
            size_t klen = (size_t)(p - s);
            char key[128];
            if (klen == 0 || klen >= sizeof key)
                return qy_error(QY_ERR_ARG, "%s: bad JSON path '%s'", qy_json_source(r->doc), rel);
            memcpy(key, s, klen);
            key[klen] = '\0';
            char piece[140];
            snprintf(piece, sizeof piece, ".%s", key);
            path_append(cur.path, sizeof cur.path, piece);
            if (!cJSON_IsObject(cur.node)) {
                return qy_error(QY_ERR_NOT_FOUND, "%s: %s: missing (parent is %s, not object)",
                                qy_json_source(r->doc), cur.path, jtype(cur.node));
            }
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(cur.node, key);
            if (!c) return qy_error(QY_ERR_NOT_FOUND, "%s: %s: missing", qy_json_source(r->doc), cur.path);
            cur.node = c;
        } else if (*p == '[') {
            p++;
            char *end;
            long idx = strtol(p, &end, 10);
            if (end == p || *end != ']' || idx < 0)
                return qy_error(QY_ERR_ARG, "%s: bad JSON path '%s'", qy_json_source(r->doc), rel);
            p = end + 1;
            char piece[32];
            snprintf(piece, sizeof piece, "[%ld]", idx);
            path_append(cur.path, sizeof cur.path, piece);
            if (!cJSON_IsArray(cur.node))
                return qy_error(QY_ERR_NOT_FOUND, "%s: %s: missing (parent is %s, not array)",
                                qy_json_source(r->doc), cur.path, jtype(cur.node));
            const cJSON *c = cJSON_GetArrayItem(cur.node, (int)idx);
            if (!c || idx > 0x7fffffffL)
                return qy_error(QY_ERR_NOT_FOUND, "%s: %s: missing (array has %d items)",
                                qy_json_source(r->doc), cur.path, cJSON_GetArraySize(cur.node));
            cur.node = c;
        } else {
            return qy_error(QY_ERR_ARG, "%s: bad JSON path '%s' (must start with '.' or '[')",
                            qy_json_source(r->doc), rel);
        }
    }
    *out = cur;
    return QY_OK;
}

int qy_jref_has(const qy_jref *r, const char *rel) {
    qy_jref x;
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", qy_errmsg());
    int st = qy_jref_get(r, rel, &x);
    qy_error(QY_OK, "%s", saved); /* probing must not clobber the message */
    return st == QY_OK && !cJSON_IsNull(x.node);
}

static int type_error(const qy_jref *x, const char *expected) {
    return qy_error(QY_ERR_FORMAT, "%s: %s: expected %s, found %s", qy_json_source(x->doc),
                    shown_path(x->path), expected, jtype(x->node));
}

int qy_jref_number(const qy_jref *r, const char *rel, double *out) {
    qy_jref x;
    int st = qy_jref_get(r, rel, &x);
    if (st) return st;
    if (!cJSON_IsNumber(x.node)) return type_error(&x, "number");
    double v = x.node->valuedouble;
    if (!isfinite(v))
        return qy_error(QY_ERR_FORMAT, "%s: %s: expected a finite number", qy_json_source(x.doc),
                        shown_path(x.path));
    *out = v;
    return QY_OK;
}

int qy_jref_number_or(const qy_jref *r, const char *rel, double def, double *out) {
    if (!qy_jref_has(r, rel)) {
        *out = def;
        return QY_OK;
    }
    return qy_jref_number(r, rel, out);
}

int qy_jref_int(const qy_jref *r, const char *rel, int64_t lo, int64_t hi, int64_t *out) {
    qy_jref x;
    int st = qy_jref_get(r, rel, &x);
    if (st) return st;
    if (!cJSON_IsNumber(x.node)) return type_error(&x, "integer");
    double v = x.node->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < -9.2e18 || v > 9.2e18)
        return qy_error(QY_ERR_FORMAT, "%s: %s: expected an integer, found %g", qy_json_source(x.doc),
                        shown_path(x.path), v);
    int64_t iv = (int64_t)v;
    if (iv < lo || iv > hi)
        return qy_error(QY_ERR_RANGE, "%s: %s: %lld is outside %lld..%lld", qy_json_source(x.doc),
                        shown_path(x.path), (long long)iv, (long long)lo, (long long)hi);
    *out = iv;
    return QY_OK;
}

int qy_jref_int_or(const qy_jref *r, const char *rel, int64_t lo, int64_t hi, int64_t def, int64_t *out) {
    if (!qy_jref_has(r, rel)) {
        *out = def;
        return QY_OK;
    }
    return qy_jref_int(r, rel, lo, hi, out);
}

int qy_jref_bool(const qy_jref *r, const char *rel, int *out) {
    qy_jref x;
    int st = qy_jref_get(r, rel, &x);
    if (st) return st;
    if (!cJSON_IsBool(x.node)) return type_error(&x, "boolean");
    *out = cJSON_IsTrue(x.node) ? 1 : 0;
    return QY_OK;
}

int qy_jref_bool_or(const qy_jref *r, const char *rel, int def, int *out) {
    if (!qy_jref_has(r, rel)) {
        *out = def;
        return QY_OK;
    }
    return qy_jref_bool(r, rel, out);
}

int qy_jref_string(const qy_jref *r, const char *rel, const char **out) {
    qy_jref x;
    int st = qy_jref_get(r, rel, &x);
    if (st) return st;
    if (!cJSON_IsString(x.node)) return type_error(&x, "string");
    *out = x.node->valuestring;
    return QY_OK;
}

int qy_jref_string_or(const qy_jref *r, const char *rel, const char *def, const char **out) {
    if (!qy_jref_has(r, rel)) {
        *out = def;
        return QY_OK;
    }
    return qy_jref_string(r, rel, out);
}

int qy_jref_array(const qy_jref *r, const char *rel, qy_jref *out, size_t *count) {
    qy_jref x;
    int st = qy_jref_get(r, rel, &x);
    if (st) return st;
    if (!cJSON_IsArray(x.node)) return type_error(&x, "array");
    *out = x;
    if (count) *count = (size_t)cJSON_GetArraySize(x.node);
    return QY_OK;
}

int qy_jref_object(const qy_jref *r, const char *rel, qy_jref *out, size_t *count) {
    qy_jref x;
    int st = qy_jref_get(r, rel, &x);
    if (st) return st;
    if (!cJSON_IsObject(x.node)) return type_error(&x, "object");
    *out = x;
    if (count) *count = (size_t)cJSON_GetArraySize(x.node);
    return QY_OK;
}

int qy_jref_at(const qy_jref *r, size_t i, qy_jref *out, const char **key) {
    if (!cJSON_IsArray(r->node) && !cJSON_IsObject(r->node)) return type_error(r, "array or object");
    size_t k = 0;
    const cJSON *c;
    for (c = r->node->child; c && k < i; c = c->next) k++;
    if (!c)
        return qy_error(QY_ERR_NOT_FOUND, "%s: %s[%zu]: missing", qy_json_source(r->doc), shown_path(r->path),
                        i);
    qy_jref x = *r;
    char piece[160];
    if (cJSON_IsObject(r->node))
        snprintf(piece, sizeof piece, ".%s", c->string ? c->string : "");
    else
        snprintf(piece, sizeof piece, "[%zu]", i);
    path_append(x.path, sizeof x.path, piece);
    x.node = c;
    if (key) *key = c->string;
    *out = x;
    return QY_OK;
}

char *qy_json_print(const cJSON *node, int pretty) {
    ensure_hooks();
    char *s = pretty ? cJSON_Print(node) : cJSON_PrintUnformatted(node);
    if (!s) qy_error(QY_ERR_NOMEM, "out of memory printing JSON");
    return s;
}

int qy_json_write_file(const char *path, const cJSON *node) {
    char *s = qy_json_print(node, 1);
    if (!s) return QY_ERR_NOMEM;
    qy_afile *f;
    int st = qy_afile_open(path, &f);
    if (st) {
        qy_free(s);
        return st;
    }
    st = qy_afile_write(f, s, strlen(s));
    if (!st) st = qy_afile_write(f, "\n", 1);
    qy_free(s);
    if (st) {
        qy_afile_abort(f);
        return st;
    }
    return qy_afile_commit(f);
}
