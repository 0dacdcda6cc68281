/* corpus.c — BEIR / Pyserini JSONL and TSV readers (see corpus.h). */
#include "index/corpus.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quarry/base.h"

enum { FMT_AUTO, FMT_JSONL, FMT_BEIR, FMT_PYSERINI, FMT_TSV };

struct qy_corpus {
    FILE *fp;
    char *path;
    int format;
    char *line; /* getline buffer (malloc'd by libc) */
    size_t cap;
    uint64_t lineno, bytes;
    qy_json *doc;      /* the current line */
    const cJSON *json; /* its root object */
    char numbuf[3][32];
};

int qy_corpus_open(const char *path, const char *format, qy_corpus **out) {
    *out = NULL;
    int f;
    if (!strcmp(format, "auto"))
        f = FMT_AUTO;
    else if (!strcmp(format, "jsonl"))
        f = FMT_JSONL;
    else if (!strcmp(format, "beir"))
        f = FMT_BEIR;
    else if (!strcmp(format, "pyserini"))
        f = FMT_PYSERINI;
    else if (!strcmp(format, "tsv"))
        f = FMT_TSV;
    else
        return qy_error(QY_ERR_ARG,
                        "unknown corpus format '%s' (expected auto, beir, pyserini, jsonl or tsv)", format);
    qy_corpus *c = qy_calloc(1, sizeof *c);
    if (!c) return QY_ERR_NOMEM;
    c->path = qy_strdup(path);
    c->format = f;
    if (!c->path) {
        qy_free(c);
        return QY_ERR_NOMEM;
    }
    c->fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!c->fp) {
        int e = errno;
        qy_free(c->path);
        qy_free(c);
        return qy_error(e == ENOENT ? QY_ERR_NOT_FOUND : QY_ERR_IO, "%s: %s", path, strerror(e));
    }
    *out = c;
    return QY_OK;
}

void qy_corpus_close(qy_corpus *c) {
    if (!c) return;
    if (c->fp && c->fp != stdin) fclose(c->fp);
    free(c->line);
    qy_json_free(c->doc);
    qy_free(c->path);
    qy_free(c);
}

uint64_t qy_corpus_line(const qy_corpus *c) { return c->lineno; }
uint64_t qy_corpus_bytes(const qy_corpus *c) { return c->bytes; }

/* a string or integer member; NULL when absent */
static int json_field(qy_corpus *c, const char *key, int slot, int required, const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->json, key);
    if (!v || cJSON_IsNull(v)) {
        *out = NULL;
        if (required)
            return qy_error(QY_ERR_FORMAT, "%s: line %llu: missing \"%s\"", c->path,
                            (unsigned long long)c->lineno, key);
        return QY_OK;
    }
    if (cJSON_IsString(v)) {
        *out = v->valuestring;
        return QY_OK;
    }
    if (cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble) {
        snprintf(c->numbuf[slot], sizeof c->numbuf[slot], "%lld", (long long)v->valuedouble);
        *out = c->numbuf[slot];
        return QY_OK;
    }
    return qy_error(QY_ERR_FORMAT, "%s: line %llu: \"%s\": expected a string", c->path,
                    (unsigned long long)c->lineno, key);
}

static int parse_json(qy_corpus *c, size_t len, qy_corpus_doc *doc) {
    qy_json_free(c->doc);
    c->doc = NULL;
    c->json = NULL;
    char src[64];
    snprintf(src, sizeof src, "line %llu", (unsigned long long)c->lineno);
    int pst = qy_json_parse(c->line, len, src, &c->doc);
    if (pst) return qy_error_wrap(pst, "%s", c->path);
    c->json = qy_json_root(c->doc);
    if (!cJSON_IsObject(c->json))
        return qy_error(QY_ERR_FORMAT, "%s: line %llu: not a JSON object", c->path,
                        (unsigned long long)c->lineno);
    int fmt = c->format;
    if (fmt == FMT_JSONL || fmt == FMT_AUTO)
        fmt = cJSON_HasObjectItem(c->json, "_id")        ? FMT_BEIR
              : cJSON_HasObjectItem(c->json, "contents") ? FMT_PYSERINI
                                                         : FMT_BEIR;
    int st;
    const char *title = NULL;
    if (fmt == FMT_BEIR) {
        st = json_field(c, "_id", 0, 0, &doc->id);
        if (!st && !doc->id) st = json_field(c, "id", 0, 1, &doc->id);
        if (!st) st = json_field(c, "title", 1, 0, &title);
        if (!st) st = json_field(c, "text", 2, 1, &doc->text);
    } else {
        st = json_field(c, "id", 0, 1, &doc->id);
        if (!st) st = json_field(c, "contents", 2, 1, &doc->text);
    }
    doc->title = title ? title : "";
    return st;
}

static int parse_tsv(qy_corpus *c, size_t len, qy_corpus_doc *doc) {
    char *t1 = memchr(c->line, '\t', len);
    if (!t1)
        return qy_error(QY_ERR_FORMAT, "%s: line %llu: expected id<TAB>text", c->path,
                        (unsigned long long)c->lineno);
    *t1 = '\0';
    char *rest = t1 + 1;
    char *t2 = strchr(rest, '\t');
    doc->id = c->line;
    if (t2) {
        *t2 = '\0';
        doc->title = rest;
        doc->text = t2 + 1;
    } else {
        doc->title = "";
        doc->text = rest;
    }
    return QY_OK;
}

int qy_corpus_next(qy_corpus *c, qy_corpus_doc *doc, int *eof) {
    *eof = 0;
    for (;;) {
        errno = 0;
        ssize_t n = getline(&c->line, &c->cap, c->fp);
        if (n < 0) {
            if (ferror(c->fp)) return qy_error(QY_ERR_IO, "%s: read error: %s", c->path, strerror(errno));
            *eof = 1;
            return QY_OK;
        }
        c->lineno++;
        c->bytes += (uint64_t)n;
        size_t len = (size_t)n;
        while (len && (c->line[len - 1] == '\n' || c->line[len - 1] == '\r')) c->line[--len] = '\0';
        size_t sp = 0;
        while (sp < len && (c->line[sp] == ' ' || c->line[sp] == '\t')) sp++;
        if (sp == len) continue; /* blank line */
        if (c->format == FMT_AUTO) c->format = c->line[sp] == '{' ? FMT_JSONL : FMT_TSV;
        int st = c->format == FMT_TSV ? parse_tsv(c, len, doc) : parse_json(c, len, doc);
        if (!st && !doc->id[0])
            st = qy_error(QY_ERR_FORMAT, "%s: line %llu: empty document id", c->path,
                          (unsigned long long)c->lineno);
        return st;
    }
}
