/* recbole.c — RecBole atomic files (RecBole: Zhao et al., "RecBole: Towards a
 * Unified, Comprehensive and Efficient Framework for Recommendation Algorithms",
 * CIKM 2021) and the recommendation dataset built from them.
 *
 * What mirrors RecBole (checked against its source, recbole/data/dataset):
 *   - header fields `name:type`, types token, token_seq, float, float_seq;
 *     tab between fields, space inside sequences; blank lines skipped;
 *   - rows with an empty user or item are dropped (_filter_nan_user_or_item);
 *   - k-core (_filter_by_inter_num): users and items outside their intervals
 *     are banned together, their rows removed, repeated until stable;
 *   - remapping (_remap_ID_all): dense ids by first appearance, the .inter file
 *     first, then .user/.item; id 0 is "[PAD]";
 *   - order: a stable sort by time then by user (Interaction.sort uses numpy's
 *     stable argsort), so equal timestamps keep file order;
 *   - leave-one-out as RecBole's sequential setting (augmentation, then the
 *     last two examples of each user go to valid and test);
 *   - ratio splits with RecBole's _calcu_split_ids count rule. */
#include "eval/recbole.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <xxhash.h>

/* ------------------------------------------------------ string map */

/* Open addressing map from a string (not owned) to a uint32 value. */
typedef struct strmap {
    const char **keys;
    uint32_t *vals;
    size_t cap, n;
} strmap;

static uint64_t str_hash(const char *s) { return XXH3_64bits(s, strlen(s)); }

static int strmap_grow(strmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    const char **keys = qy_calloc(cap, sizeof *keys);
    uint32_t *vals = qy_mallocn(cap, sizeof *vals);
    if (!keys || !vals) {
        qy_free(keys);
        qy_free(vals);
        return QY_ERR_NOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t h = (size_t)str_hash(m->keys[i]) & (cap - 1);
        while (keys[h]) h = (h + 1) & (cap - 1);
        keys[h] = m->keys[i];
        vals[h] = m->vals[i];
    }
    qy_free(m->keys);
    qy_free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return QY_OK;
}

/* Slot of key: found (*found=1) or the empty slot where it goes. */
static size_t strmap_slot(const strmap *m, const char *key, int *found) {
    size_t h = (size_t)str_hash(key) & (m->cap - 1);
    while (m->keys[h]) {
        if (strcmp(m->keys[h], key) == 0) {
            *found = 1;
            return h;
        }
        h = (h + 1) & (m->cap - 1);
    }
    *found = 0;
    return h;
}

static int strmap_get(const strmap *m, const char *key, uint32_t *val) {
    if (!m->cap) return 0;
    int found;
    size_t h = strmap_slot(m, key, &found);
    if (found) *val = m->vals[h];
    return found;
}

static int strmap_put(strmap *m, const char *key, uint32_t val) {
    if ((m->n + 1) * 2 > m->cap && strmap_grow(m)) return QY_ERR_NOMEM;
    int found;
    size_t h = strmap_slot(m, key, &found);
    if (!found) {
        m->keys[h] = key;
        m->n++;
    }
    m->vals[h] = val;
    return QY_OK;
}

static void strmap_free(strmap *m) {
    qy_free(m->keys);
    qy_free(m->vals);
    memset(m, 0, sizeof *m);
}

/* --------------------------------------------------- growable arrays */

typedef struct vec {
    void *data;
    size_t n, cap, elem;
} vec;

static int vec_push(vec *v, const void *x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256, bytes;
        if (qy_size_mul(cap, v->elem, &bytes)) return qy_error(QY_ERR_NOMEM, "array too large");
        void *p = qy_realloc(v->data, bytes);
        if (!p) return QY_ERR_NOMEM;
        v->data = p;
        v->cap = cap;
    }
    memcpy((char *)v->data + v->n * v->elem, x, v->elem);
    v->n++;
    return QY_OK;
}

/* ------------------------------------------------------ atomic files */

typedef struct table_impl {
    qy_arena arena;
    strmap *maps; /* one per column (token types) */
    vec *seq;     /* one per column (sequence types) */
} table_impl;

static const char *const type_names[] = {"token", "token_seq", "float", "float_seq"};

void qy_rec_table_free(qy_rec_table *t) {
    if (!t) return;
    table_impl *im = t->impl;
    for (size_t c = 0; c < t->n_cols; c++) {
        qy_rec_column *col = &t->cols[c];
        qy_free(col->name);
        qy_free(col->tok);
        qy_free(col->num);
        qy_free(col->off);
        qy_free(col->dict);
        if (im) {
            strmap_free(&im->maps[c]);
            qy_free(im->seq[c].data);
        }
    }
    if (im) {
        qy_free(im->maps);
        qy_free(im->seq);
        qy_arena_free(&im->arena);
        qy_free(im);
    }
    qy_free(t->cols);
    qy_free(t->source);
    qy_free(t);
}

/* intern s (len bytes) into column c's dictionary, return its index */
static int intern(qy_rec_table *t, size_t c, const char *s, size_t len, uint32_t *idx) {
    table_impl *im = t->impl;
    qy_rec_column *col = &t->cols[c];
    char tmp[256];
    char *key = len < sizeof tmp ? tmp : qy_malloc(len + 1);
    if (!key) return QY_ERR_NOMEM;
    memcpy(key, s, len);
    key[len] = '\0';
    uint32_t v;
    int st = QY_OK;
    if (strmap_get(&im->maps[c], key, &v)) {
        *idx = v;
    } else {
        char *copy = qy_arena_alloc(&im->arena, len + 1, 1);
        if (!copy) st = QY_ERR_NOMEM;
        if (!st) {
            memcpy(copy, key, len + 1);
            if (col->n_dict % 256 == 0) {
                char **d = qy_realloc(col->dict, (col->n_dict + 256) * sizeof *d);
                if (!d)
                    st = QY_ERR_NOMEM;
                else
                    col->dict = d;
            }
        }
        if (!st && col->n_dict >= UINT32_MAX)
            st = qy_error(QY_ERR_RANGE, "%s: more than 2^32 tokens in a column", t->source);
        if (!st) {
            col->dict[col->n_dict] = copy;
            *idx = (uint32_t)col->n_dict;
            st = strmap_put(&im->maps[c], copy, *idx);
            if (!st) col->n_dict++;
        }
    }
    if (key != tmp) qy_free(key);
    return st;
}

/* a number spanning exactly [s, s+len); empty -> NaN (RecBole reads it as missing) */
static int parse_number(const char *s, size_t len, double *out) {
    if (len == 0) {
        *out = NAN;
        return 1;
    }
    char buf[64];
    if (len >= sizeof buf) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (isspace((unsigned char)buf[0])) return 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + len || errno == ERANGE) return 0;
    *out = v;
    return 1;
}

static int field_error(const qy_rec_table *t, size_t line, size_t c, const char *what, const char *s,
                       size_t len) {
    int show = len > 40 ? 40 : (int)len;
    return qy_error(QY_ERR_FORMAT, "%s: line %zu, column %zu (%s): expected %s, found '%.*s'%s", t->source,
                    line, c + 1, t->cols[c].name, what, show, s, len > 40 ? "..." : "");
}

static int parse_header(qy_rec_table *t, const char *s, size_t len) {
    size_t n = 1;
    for (size_t i = 0; i < len; i++) n += s[i] == '\t';
    t->cols = qy_calloc(n, sizeof *t->cols);
    table_impl *im = t->impl;
    im->maps = qy_calloc(n, sizeof *im->maps);
    im->seq = qy_calloc(n, sizeof *im->seq);
    if (!t->cols || !im->maps || !im->seq) return QY_ERR_NOMEM;
    t->n_cols = n;
    size_t start = 0;
    for (size_t c = 0; c < n; c++) {
        size_t end = start;
        while (end < len && s[end] != '\t') end++;
        const char *f = s + start;
        size_t flen = end - start;
        const char *colon = memchr(f, ':', flen);
        if (!colon || colon == f)
            return qy_error(QY_ERR_FORMAT,
                            "%s: line 1, column %zu: expected a header field 'name:type', found '%.*s'",
                            t->source, c + 1, (int)(flen > 40 ? 40 : flen), f);
        size_t nlen = (size_t)(colon - f), tlen = flen - nlen - 1;
        int type = -1;
        for (int k = 0; k < 4; k++)
            if (strlen(type_names[k]) == tlen && memcmp(colon + 1, type_names[k], tlen) == 0) type = k;
        if (type < 0)
            return qy_error(QY_ERR_FORMAT,
                            "%s: line 1, column %zu: unknown field type '%.*s' (expected token, token_seq, "
                            "float or float_seq)",
                            t->source, c + 1, (int)(tlen > 40 ? 40 : tlen), colon + 1);
        char *name = qy_malloc(nlen + 1);
        if (!name) return QY_ERR_NOMEM;
        memcpy(name, f, nlen);
        name[nlen] = '\0';
        t->cols[c].name = name;
        t->cols[c].type = (qy_field_type)type;
        for (size_t p = 0; p < c; p++)
            if (strcmp(t->cols[p].name, name) == 0)
                return qy_error(QY_ERR_FORMAT, "%s: line 1, column %zu: field '%s' appears twice", t->source,
                                c + 1, name);
        im->seq[c].elem = type == QY_FIELD_TOKEN_SEQ ? sizeof(uint32_t) : sizeof(double);
        start = end + 1;
    }
    return QY_OK;
}

static int alloc_columns(qy_rec_table *t, size_t max_rows) {
    for (size_t c = 0; c < t->n_cols; c++) {
        qy_rec_column *col = &t->cols[c];
        switch (col->type) {
        case QY_FIELD_TOKEN:
            col->tok = qy_mallocn(max_rows + 1, sizeof *col->tok);
            if (!col->tok) return QY_ERR_NOMEM;
            break;
        case QY_FIELD_FLOAT:
            col->num = qy_mallocn(max_rows + 1, sizeof *col->num);
            if (!col->num) return QY_ERR_NOMEM;
            break;
        default:
            col->off = qy_mallocn(max_rows + 2, sizeof *col->off);
            if (!col->off) return QY_ERR_NOMEM;
            col->off[0] = 0;
            break;
        }
    }
    return QY_OK;
}

static int parse_field(qy_rec_table *t, size_t c, size_t row, size_t line, const char *f, size_t len) {
    qy_rec_column *col = &t->cols[c];
    table_impl *im = t->impl;
    int st = QY_OK;
    switch (col->type) {
    case QY_FIELD_TOKEN: return intern(t, c, f, len, &col->tok[row]);
    case QY_FIELD_FLOAT:
        if (!parse_number(f, len, &col->num[row])) return field_error(t, line, c, "a number", f, len);
        return QY_OK;
    default: {
        size_t i = 0;
        while (i < len && !st) {
            while (i < len && f[i] == ' ') i++;
            size_t j = i;
            while (j < len && f[j] != ' ') j++;
            if (j > i) {
                if (col->type == QY_FIELD_TOKEN_SEQ) {
                    uint32_t idx;
                    st = intern(t, c, f + i, j - i, &idx);
                    if (!st) st = vec_push(&im->seq[c], &idx);
                } else {
                    double v;
                    if (!parse_number(f + i, j - i, &v) || isnan(v))
                        return field_error(t, line, c, "space-separated numbers", f, len);
                    st = vec_push(&im->seq[c], &v);
                }
            }
            i = j;
        }
        col->off[row + 1] = im->seq[c].n;
        return st;
    }
    }
}

int qy_rec_table_parse(const char *text, size_t len, const char *source, qy_rec_table **out) {
    *out = NULL;
    qy_rec_table *t = qy_calloc(1, sizeof *t);
    table_impl *im = qy_calloc(1, sizeof *im);
    size_t slen = strlen(source);
    char *src = qy_malloc(slen + 1);
    if (!t || !im || !src) {
        qy_free(t);
        qy_free(im);
        qy_free(src);
        return QY_ERR_NOMEM;
    }
    memcpy(src, source, slen + 1);
    t->source = src;
    t->impl = im;
    qy_arena_init(&im->arena, 1 << 16);
    int st = QY_OK;
    size_t max_rows = 1;
    for (size_t i = 0; i < len; i++) max_rows += text[i] == '\n';
    size_t pos = 0, line = 0;
    int have_header = 0;
    while (pos < len && !st) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        size_t l = end - pos;
        const char *s = text + pos;
        line++;
        pos = end + 1;
        if (l && s[l - 1] == '\r') l--;
        if (!have_header) {
            if (l == 0) {
                st = qy_error(QY_ERR_FORMAT,
                              "%s: line 1: expected a header of 'name:type' fields, found an empty line",
                              source);
                break;
            }
            if (l >= 3 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
                (unsigned char)s[2] == 0xBF)
                s += 3, l -= 3;
            st = parse_header(t, s, l);
            if (!st) st = alloc_columns(t, max_rows);
            have_header = 1;
            continue;
        }
        if (l == 0) continue; /* blank line */
        size_t nf = 1;
        for (size_t i = 0; i < l; i++) nf += s[i] == '\t';
        if (nf != t->n_cols) {
            st = qy_error(QY_ERR_FORMAT,
                          "%s: line %zu: expected %zu tab-separated fields (as the header), found %zu",
                          source, line, t->n_cols, nf);
            break;
        }
        size_t start = 0;
        for (size_t c = 0; c < t->n_cols && !st; c++) {
            size_t e = start;
            while (e < l && s[e] != '\t') e++;
            st = parse_field(t, c, t->n_rows, line, s + start, e - start);
            start = e + 1;
        }
        if (!st) t->n_rows++;
    }
    if (!st && !have_header)
        st = qy_error(QY_ERR_FORMAT, "%s: empty file: expected a header of 'name:type' fields", source);
    /* move the sequence values into the columns */
    for (size_t c = 0; c < t->n_cols && !st; c++) {
        if (t->cols[c].type == QY_FIELD_TOKEN_SEQ)
            t->cols[c].tok = im->seq[c].data;
        else if (t->cols[c].type == QY_FIELD_FLOAT_SEQ)
            t->cols[c].num = im->seq[c].data;
        else
            continue;
        im->seq[c].data = NULL;
    }
    if (st) {
        qy_rec_table_free(t);
        return st;
    }
    *out = t;
    return QY_OK;
}

int qy_rec_table_read(const char *path, qy_rec_table **out) {
    *out = NULL;
    char *text;
    size_t len;
    int st = qy_read_file(path, 0, &text, &len);
    if (st) return st;
    st = qy_rec_table_parse(text, len, path, out);
    qy_free(text);
    return st;
}

int qy_rec_table_find(const qy_rec_table *t, const char *name) {
    size_t n = strcspn(name, ":");
    for (size_t c = 0; c < t->n_cols; c++)
        if (strlen(t->cols[c].name) == n && memcmp(t->cols[c].name, name, n) == 0) return (int)c;
    return -1;
}

const char *qy_rec_table_token(const qy_rec_table *t, size_t col, size_t row) {
    QY_ASSERT(col < t->n_cols && t->cols[col].type == QY_FIELD_TOKEN && row < t->n_rows);
    return t->cols[col].dict[t->cols[col].tok[row]];
}

/* ------------------------------------------------------------ dataset */

typedef struct data_impl {
    qy_arena arena;
    strmap users, items;
    /* positives (all rows without a click field, clicked rows with one) */
    uint32_t *pos_item;
    size_t *pos_off; /* n_users + 1 */
    uint8_t *pos_tag;
    uint32_t *n_tag; /* n_users x 4 */
} data_impl;

qy_rec_data_opts qy_rec_data_opts_default(void) {
    qy_rec_data_opts o = {.user_field = "user_id", .item_field = "item_id", .time_field = "timestamp"};
    return o;
}

void qy_rec_data_free(qy_rec_data *d) {
    if (!d) return;
    data_impl *im = d->impl;
    if (im) {
        strmap_free(&im->users);
        strmap_free(&im->items);
        qy_free(im->pos_item);
        qy_free(im->pos_off);
        qy_free(im->pos_tag);
        qy_free(im->n_tag);
        qy_arena_free(&im->arena);
        qy_free(im);
    }
    qy_free(d->user_token);
    qy_free(d->item_token);
    qy_free(d->user_off);
    qy_free(d->item);
    qy_free(d->time);
    qy_free(d->row);
    qy_free(d->click);
    qy_free(d->split);
    qy_free(d);
}

static int find_field(const qy_rec_table *t, const char *name, const char *what, int *col) {
    *col = qy_rec_table_find(t, name);
    if (*col < 0) {
        char have[256] = "";
        for (size_t c = 0; c < t->n_cols; c++) {
            size_t u = strlen(have);
            snprintf(have + u, sizeof have - u, "%s%s", c ? ", " : "", t->cols[c].name);
        }
        return qy_error(QY_ERR_NOT_FOUND, "%s: no %s field '%s' (fields: %s)", t->source, what, name, have);
    }
    return QY_OK;
}

static int need_type(const qy_rec_table *t, int col, qy_field_type type, const char *what) {
    if (t->cols[col].type != type)
        return qy_error(QY_ERR_FORMAT, "%s: field '%s' (%s) must be of type %s, not %s", t->source,
                        t->cols[col].name, what, type_names[type], type_names[t->cols[col].type]);
    return QY_OK;
}

typedef struct sort_key {
    double time;
    size_t row;
} sort_key;

static int cmp_key(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    if (x->time < y->time) return -1;
    if (x->time > y->time) return 1;
    return (x->row > y->row) - (x->row < y->row);
}

static int out_of(long cnt, long lo, long hi) { return (lo > 0 && cnt < lo) || (hi > 0 && cnt > hi); }

/* k-core over rows with keep[r]; counts positives; bans both sides per round. */
static int kcore(const qy_rec_table *inter, int ucol, int icol, const uint8_t *pos, uint8_t *keep,
                 const qy_rec_data_opts *o) {
    if (o->min_user_inter <= 0 && o->max_user_inter <= 0 && o->min_item_inter <= 0 && o->max_item_inter <= 0)
        return QY_OK;
    size_t nu = inter->cols[ucol].n_dict, ni = inter->cols[icol].n_dict;
    long *ucnt = qy_calloc(nu + 1, sizeof *ucnt), *icnt = qy_calloc(ni + 1, sizeof *icnt);
    if (!ucnt || !icnt) {
        qy_free(ucnt);
        qy_free(icnt);
        return QY_ERR_NOMEM;
    }
    for (;;) {
        memset(ucnt, 0, (nu + 1) * sizeof *ucnt);
        memset(icnt, 0, (ni + 1) * sizeof *icnt);
        for (size_t r = 0; r < inter->n_rows; r++)
            if (keep[r] && pos[r]) {
                ucnt[inter->cols[ucol].tok[r]]++;
                icnt[inter->cols[icol].tok[r]]++;
            }
        size_t removed = 0;
        for (size_t r = 0; r < inter->n_rows; r++) {
            if (!keep[r]) continue;
            if (out_of(ucnt[inter->cols[ucol].tok[r]], o->min_user_inter, o->max_user_inter) ||
                out_of(icnt[inter->cols[icol].tok[r]], o->min_item_inter, o->max_item_inter)) {
                keep[r] = 0;
                removed++;
            }
        }
        if (!removed) break;
    }
    qy_free(ucnt);
    qy_free(icnt);
    return QY_OK;
}

/* add tokens of an extra table (.user/.item) that the interactions lack */
static int add_side_tokens(qy_rec_data *d, const qy_rec_table *side, const char *field, int is_item,
                           const strmap *banned, vec *tokens, strmap *map) {
    if (!side) return QY_OK;
    int col;
    int st = find_field(side, field, is_item ? "item id" : "user id", &col);
    if (!st) st = need_type(side, col, QY_FIELD_TOKEN, is_item ? "item id" : "user id");
    if (st) return st;
    data_impl *im = d->impl;
    for (size_t r = 0; r < side->n_rows && !st; r++) {
        const char *tok = qy_rec_table_token(side, (size_t)col, r);
        uint32_t v;
        if (!tok[0] || strmap_get(map, tok, &v) || strmap_get(banned, tok, &v)) continue;
        char *copy = qy_arena_strdup(&im->arena, tok);
        if (!copy) return QY_ERR_NOMEM;
        v = (uint32_t)tokens->n;
        st = vec_push(tokens, &copy);
        if (!st) st = strmap_put(map, copy, v);
    }
    return st;
}

int qy_rec_data_build(const qy_rec_table *inter, const qy_rec_table *item, const qy_rec_table *user,
                      const qy_rec_data_opts *opts, qy_rec_data **out) {
    *out = NULL;
    qy_rec_data_opts o = opts ? *opts : qy_rec_data_opts_default();
    if (!o.user_field) o.user_field = "user_id";
    if (!o.item_field) o.item_field = "item_id";
    int ucol, icol, tcol = -1, ccol = -1;
    int st = find_field(inter, o.user_field, "user id", &ucol);
    if (!st) st = need_type(inter, ucol, QY_FIELD_TOKEN, "user id");
    if (!st) st = find_field(inter, o.item_field, "item id", &icol);
    if (!st) st = need_type(inter, icol, QY_FIELD_TOKEN, "item id");
    if (!st && o.time_field) {
        tcol = qy_rec_table_find(inter, o.time_field);
        if (tcol >= 0) st = need_type(inter, tcol, QY_FIELD_FLOAT, "time");
    }
    if (!st && o.click_field) {
        st = find_field(inter, o.click_field, "click", &ccol);
        if (!st && inter->cols[ccol].type != QY_FIELD_FLOAT && inter->cols[ccol].type != QY_FIELD_TOKEN)
            st = qy_error(QY_ERR_FORMAT, "%s: click field '%s' must be float or token", inter->source,
                          o.click_field);
    }
    if (st) return st;

    size_t n = inter->n_rows;
    uint8_t *keep = qy_malloc(n + 1), *pos = qy_malloc(n + 1);
    qy_rec_data *d = qy_calloc(1, sizeof *d);
    data_impl *im = qy_calloc(1, sizeof *im);
    strmap banned_items = {0}, banned_users = {0};
    vec utok = {.elem = sizeof(char *)}, itok = {.elem = sizeof(char *)};
    sort_key *keys = NULL;
    if (d)
        d->impl = im;
    else
        qy_free(im);
    if (!keep || !pos || !d || !im) {
        st = QY_ERR_NOMEM;
        goto done;
    }
    qy_arena_init(&im->arena, 1 << 16);
    for (size_t r = 0; r < n; r++) {
        keep[r] =
            qy_rec_table_token(inter, (size_t)ucol, r)[0] && qy_rec_table_token(inter, (size_t)icol, r)[0];
        pos[r] = 1;
        if (ccol >= 0) {
            double v;
            if (inter->cols[ccol].type == QY_FIELD_FLOAT)
                v = inter->cols[ccol].num[r];
            else if (!parse_number(qy_rec_table_token(inter, (size_t)ccol, r),
                                   strlen(qy_rec_table_token(inter, (size_t)ccol, r)), &v))
                v = NAN;
            if (v != 0 && v != 1) {
                st = qy_error(QY_ERR_FORMAT, "%s: data row %zu, field '%s': expected a click flag 0 or 1",
                              inter->source, r + 1, o.click_field);
                goto done;
            }
            pos[r] = v == 1;
        }
        if (tcol >= 0 && keep[r] && isnan(inter->cols[tcol].num[r])) {
            st =
                qy_error(QY_ERR_FORMAT, "%s: data row %zu, field '%s': expected a time, found an empty value",
                         inter->source, r + 1, inter->cols[tcol].name);
            goto done;
        }
    }
    st = kcore(inter, ucol, icol, pos, keep, &o);
    if (st) goto done;
    /* tokens banned by k-core (present in the interactions, all rows gone) must not come back from side files
     */
    {
        uint8_t *useen = qy_calloc(inter->cols[ucol].n_dict + 1, 1),
                *iseen = qy_calloc(inter->cols[icol].n_dict + 1, 1);
        if (!useen || !iseen) {
            qy_free(useen);
            qy_free(iseen);
            st = QY_ERR_NOMEM;
            goto done;
        }
        for (size_t r = 0; r < n; r++)
            if (keep[r]) useen[inter->cols[ucol].tok[r]] = iseen[inter->cols[icol].tok[r]] = 1;
        for (size_t k = 0; k < inter->cols[ucol].n_dict && !st; k++)
            if (!useen[k]) st = strmap_put(&banned_users, inter->cols[ucol].dict[k], 0);
        for (size_t k = 0; k < inter->cols[icol].n_dict && !st; k++)
            if (!iseen[k]) st = strmap_put(&banned_items, inter->cols[icol].dict[k], 0);
        qy_free(useen);
        qy_free(iseen);
        if (st) goto done;
    }
    /* remap: padding, then first appearance in the interaction file */
    {
        char *pad = qy_arena_strdup(&im->arena, "[PAD]");
        if (!pad || vec_push(&utok, &pad) || vec_push(&itok, &pad)) {
            st = QY_ERR_NOMEM;
            goto done;
        }
    }
    size_t kept = 0;
    for (size_t r = 0; r < n && !st; r++) {
        if (!keep[r]) continue;
        kept++;
        for (int side = 0; side < 2 && !st; side++) {
            const char *tok = qy_rec_table_token(inter, (size_t)(side ? icol : ucol), r);
            strmap *map = side ? &im->items : &im->users;
            vec *tv = side ? &itok : &utok;
            uint32_t v;
            if (strmap_get(map, tok, &v)) continue;
            char *copy = qy_arena_strdup(&im->arena, tok);
            if (!copy) st = QY_ERR_NOMEM;
            if (!st) st = vec_push(tv, &copy);
            if (!st) st = strmap_put(map, copy, (uint32_t)(tv->n - 1));
        }
    }
    if (st) goto done;
    if (!kept) {
        st = qy_error(QY_ERR_ARG, "%s: no interaction is left after filtering (k-core %ld/%ld too strict?)",
                      inter->source, o.min_user_inter, o.min_item_inter);
        goto done;
    }
    /* side files: items/users without interactions survive only without a lower bound (RecBole) */
    if (o.min_user_inter <= 0)
        st = add_side_tokens(d, user, o.user_field, 0, &banned_users, &utok, &im->users);
    if (!st && o.min_item_inter <= 0)
        st = add_side_tokens(d, item, o.item_field, 1, &banned_items, &itok, &im->items);
    if (st) goto done;
    if (utok.n > UINT32_MAX || itok.n > UINT32_MAX) {
        st = qy_error(QY_ERR_RANGE, "%s: more than 2^32 users or items", inter->source);
        goto done;
    }
    d->n_users = (uint32_t)utok.n;
    d->n_items = (uint32_t)itok.n;
    d->user_token = utok.data;
    d->item_token = itok.data;
    utok.data = itok.data = NULL;
    d->n_dropped = n - kept;

    /* group by user (counting sort keeps file order), then stable sort by time */
    d->n_inter = kept;
    d->user_off = qy_calloc((size_t)d->n_users + 1, sizeof *d->user_off);
    d->item = qy_mallocn(kept, sizeof *d->item);
    d->time = qy_mallocn(kept, sizeof *d->time);
    d->row = qy_mallocn(kept, sizeof *d->row);
    if (ccol >= 0) d->click = qy_malloc(kept);
    keys = qy_mallocn(kept, sizeof *keys);
    uint32_t *uid_of = qy_mallocn(kept, sizeof *uid_of);
    if (!d->user_off || !d->item || !d->time || !d->row || (ccol >= 0 && !d->click) || !keys || !uid_of) {
        qy_free(uid_of);
        st = QY_ERR_NOMEM;
        goto done;
    }
    {
        size_t k = 0;
        for (size_t r = 0; r < n; r++) {
            if (!keep[r]) continue;
            uint32_t u = 0;
            strmap_get(&im->users, qy_rec_table_token(inter, (size_t)ucol, r), &u);
            uid_of[k++] = u;
            d->user_off[u + 1]++;
        }
        for (uint32_t u = 0; u < d->n_users; u++) d->user_off[u + 1] += d->user_off[u];
        size_t *fill = qy_mallocn((size_t)d->n_users + 1, sizeof *fill);
        if (!fill) {
            qy_free(uid_of);
            st = QY_ERR_NOMEM;
            goto done;
        }
        memcpy(fill, d->user_off, ((size_t)d->n_users + 1) * sizeof *fill);
        k = 0;
        for (size_t r = 0; r < n; r++) {
            if (!keep[r]) continue;
            size_t at = fill[uid_of[k++]]++;
            keys[at].row = r;
            keys[at].time = tcol >= 0 ? inter->cols[tcol].num[r] : (double)r;
        }
        qy_free(fill);
        qy_free(uid_of);
        for (uint32_t u = 1; u < d->n_users; u++)
            qsort(keys + d->user_off[u], d->user_off[u + 1] - d->user_off[u], sizeof *keys, cmp_key);
        for (size_t j = 0; j < kept; j++) {
            size_t r = keys[j].row;
            uint32_t it = 0;
            strmap_get(&im->items, qy_rec_table_token(inter, (size_t)icol, r), &it);
            d->item[j] = it;
            d->time[j] = keys[j].time;
            d->row[j] = r;
            if (d->click) d->click[j] = pos[r];
        }
    }
    /* positives view */
    im->pos_off = qy_calloc((size_t)d->n_users + 1, sizeof *im->pos_off);
    im->pos_item = qy_mallocn(kept, sizeof *im->pos_item);
    im->pos_tag = qy_calloc(kept, 1);
    im->n_tag = qy_calloc((size_t)d->n_users * 4, sizeof *im->n_tag);
    if (!im->pos_off || !im->pos_item || !im->pos_tag || !im->n_tag) {
        st = QY_ERR_NOMEM;
        goto done;
    }
    {
        size_t np = 0;
        for (uint32_t u = 0; u < d->n_users; u++) {
            for (size_t j = d->user_off[u]; j < d->user_off[u + 1]; j++)
                if (!d->click || d->click[j]) im->pos_item[np++] = d->item[j];
            im->pos_off[u + 1] = np;
        }
    }
    snprintf(d->split_desc, sizeof d->split_desc, "none");

done:
    qy_free(keep);
    qy_free(pos);
    qy_free(keys);
    qy_free(utok.data);
    qy_free(itok.data);
    strmap_free(&banned_items);
    strmap_free(&banned_users);
    if (st) {
        qy_rec_data_free(d);
        return st;
    }
    *out = d;
    return QY_OK;
}

uint32_t qy_rec_user_id(const qy_rec_data *d, const char *token) {
    uint32_t v = 0;
    data_impl *im = d->impl;
    return strmap_get(&im->users, token, &v) ? v : 0;
}

uint32_t qy_rec_item_id(const qy_rec_data *d, const char *token) {
    uint32_t v = 0;
    data_impl *im = d->impl;
    return strmap_get(&im->items, token, &v) ? v : 0;
}

/* ------------------------------------------------------------- loaders */

static int is_dir(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISDIR(s.st_mode);
}

int qy_rec_load_dir(const char *dir, const qy_rec_data_opts *opts, qy_rec_data **out) {
    *out = NULL;
    if (!is_dir(dir))
        return qy_error(QY_ERR_NOT_FOUND,
                        "%s: not a folder (expected a RecBole dataset folder with NAME.inter)", dir);
    char base[512], path[1200];
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    const char *b = dir + dl;
    while (b > dir && b[-1] != '/') b--;
    snprintf(base, sizeof base, "%.*s", (int)(dir + dl - b), b);
    snprintf(path, sizeof path, "%.*s/%s.inter", (int)dl, dir, base);
    if (!qy_file_exists(path))
        return qy_error(QY_ERR_NOT_FOUND, "%.*s: no %s.inter (RecBole layout: DIR/NAME/NAME.inter)", (int)dl,
                        dir, base);
    qy_rec_table *inter = NULL, *item = NULL, *user = NULL;
    int st = qy_rec_table_read(path, &inter);
    snprintf(path, sizeof path, "%.*s/%s.item", (int)dl, dir, base);
    if (!st && qy_file_exists(path)) st = qy_rec_table_read(path, &item);
    snprintf(path, sizeof path, "%.*s/%s.user", (int)dl, dir, base);
    if (!st && qy_file_exists(path)) st = qy_rec_table_read(path, &user);
    if (!st) st = qy_rec_data_build(inter, item, user, opts, out);
    qy_rec_table_free(inter);
    qy_rec_table_free(item);
    qy_rec_table_free(user);
    return st;
}

/* "2019-11-24 00:03:13.442536+00:00" -> Unix seconds */
static int parse_iso_time(const char *s, size_t len, double *out) {
    char buf[64];
    if (len >= sizeof buf || len < 19) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int Y, M, D, h, m;
    double sec;
    int used = 0;
    if (sscanf(buf, "%4d-%2d-%2d %2d:%2d:%lf%n", &Y, &M, &D, &h, &m, &sec, &used) != 6) return 0;
    double off = 0;
    if (buf[used] == '+' || buf[used] == '-') {
        int oh, om;
        if (sscanf(buf + used + 1, "%2d:%2d", &oh, &om) != 2) return 0;
        off = (buf[used] == '-' ? -1 : 1) * (oh * 3600.0 + om * 60.0);
    } else if (buf[used] != '\0') {
        return 0;
    }
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    *out = (double)timegm(&tm) + sec - off;
    return 1;
}

/* split a CSV line (no quoting in OBD files) into at most cap fields */
static size_t csv_fields(const char *s, size_t len, const char **f, size_t *fl, size_t cap) {
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len && n < cap; i++) {
        if (i == len || s[i] == ',') {
            f[n] = s + start;
            fl[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    return n;
}

int qy_rec_load_obd(const char *path, const qy_rec_data_opts *opts, qy_rec_data **out) {
    *out = NULL;
    char file[1200];
    if (is_dir(path))
        snprintf(file, sizeof file, "%s/random/men/men.csv", path);
    else
        snprintf(file, sizeof file, "%s", path);
    char *text;
    size_t len;
    int st = qy_read_file(file, 0, &text, &len);
    if (st) return st;
    /* header */
    enum { MAXF = 128 };
    const char *f[MAXF];
    size_t fl[MAXF];
    size_t eol = strcspn(text, "\n");
    size_t hl = eol;
    if (hl && text[hl - 1] == '\r') hl--;
    size_t nf = csv_fields(text, hl, f, fl, MAXF);
    const char *want[] = {"timestamp",      "item_id",          "position",
                          "click",          "propensity_score", "user_feature_0",
                          "user_feature_1", "user_feature_2",   "user_feature_3"};
    int at[9];
    for (int w = 0; w < 9; w++) {
        at[w] = -1;
        for (size_t k = 0; k < nf; k++)
            if (fl[k] == strlen(want[w]) && memcmp(f[k], want[w], fl[k]) == 0) at[w] = (int)k;
        if (at[w] < 0) {
            qy_free(text);
            return qy_error(QY_ERR_FORMAT,
                            "%s: line 1: expected an Open Bandit Dataset header with column '%s'", file,
                            want[w]);
        }
    }
    /* rewrite as an atomic file and reuse the RecBole path */
    vec buf = {.elem = 1};
    const char *hdr =
        "user_id:token\titem_id:token\ttimestamp:float\tclick:float\tposition:token\tpropensity:float\n";
    for (const char *p = hdr; *p && !st; p++) st = vec_push(&buf, p);
    size_t pos = eol + 1, line = 1;
    while (pos < len && !st) {
        size_t e = pos;
        while (e < len && text[e] != '\n') e++;
        size_t l = e - pos;
        const char *s = text + pos;
        pos = e + 1;
        line++;
        if (l && s[l - 1] == '\r') l--;
        if (!l) continue;
        size_t n2 = csv_fields(s, l, f, fl, MAXF);
        if (n2 < nf) {
            st = qy_error(QY_ERR_FORMAT, "%s: line %zu: expected %zu comma-separated fields, found %zu", file,
                          line, nf, n2);
            break;
        }
        double t;
        if (!parse_iso_time(f[at[0]], fl[at[0]], &t)) {
            st = qy_error(QY_ERR_FORMAT,
                          "%s: line %zu, column %d (timestamp): expected 'YYYY-MM-DD hh:mm:ss[.us][+hh:mm]', "
                          "found '%.*s'",
                          file, line, at[0] + 1, (int)(fl[at[0]] > 40 ? 40 : fl[at[0]]), f[at[0]]);
            break;
        }
        /* user = the user-feature tuple, hashed to 16 hex digits */
        XXH64_state_t *hs = XXH64_createState();
        if (!hs) {
            st = QY_ERR_NOMEM;
            break;
        }
        XXH64_reset(hs, 0);
        for (int w = 5; w < 9; w++) {
            XXH64_update(hs, f[at[w]], fl[at[w]]);
            XXH64_update(hs, ",", 1);
        }
        unsigned long long uh = XXH64_digest(hs);
        XXH64_freeState(hs);
        char rowtxt[512];
        int rl = snprintf(rowtxt, sizeof rowtxt, "%016llx\t%.*s\t%.6f\t%.*s\t%.*s\t%.*s\n", uh,
                          (int)fl[at[1]], f[at[1]], t, (int)fl[at[3]], f[at[3]], (int)fl[at[2]], f[at[2]],
                          (int)fl[at[4]], f[at[4]]);
        if (rl < 0 || (size_t)rl >= sizeof rowtxt) {
            st = qy_error(QY_ERR_FORMAT, "%s: line %zu: fields too long", file, line);
            break;
        }
        for (int k = 0; k < rl && !st; k++) st = vec_push(&buf, &rowtxt[k]);
    }
    qy_free(text);
    qy_rec_table *t = NULL;
    if (!st) st = qy_rec_table_parse(buf.data, buf.n, file, &t);
    qy_free(buf.data);
    if (!st) {
        qy_rec_data_opts o = opts ? *opts : qy_rec_data_opts_default();
        o.user_field = "user_id";
        o.item_field = "item_id";
        o.time_field = "timestamp";
        o.click_field = "click";
        st = qy_rec_data_build(t, NULL, NULL, &o, out);
    }
    qy_rec_table_free(t);
    return st;
}

/* -------------------------------------------------------------- splits */

/* RecBole's _calcu_split_ids: counts of each part for tot rows */
static void split_counts(size_t tot, const double ratio[3], size_t cnt[3]) {
    double s = ratio[0] + ratio[1] + ratio[2], r[3];
    for (int i = 0; i < 3; i++) r[i] = ratio[i] / s;
    size_t other = 0;
    for (int i = 1; i < 3; i++) {
        cnt[i] = (size_t)(r[i] * (double)tot);
        other += cnt[i];
    }
    cnt[0] = tot - other;
    for (int i = 1; i < 3; i++) {
        if (cnt[0] <= 1) break;
        double x = r[3 - i] * (double)tot;
        if (x > 0 && x < 1) {
            cnt[3 - i]++;
            cnt[0]--;
        }
    }
}

typedef struct time_ref {
    double time;
    size_t row;
    size_t at; /* index into pos arrays */
} time_ref;

static int cmp_time_ref(const void *a, const void *b) {
    const time_ref *x = a, *y = b;
    if (x->time < y->time) return -1;
    if (x->time > y->time) return 1;
    return (x->row > y->row) - (x->row < y->row);
}

int qy_rec_data_split(qy_rec_data *d, const qy_rec_split_opts *opts) {
    data_impl *im = d->impl;
    qy_rec_split_opts o = *opts;
    if (o.kind != QY_SPLIT_LOO) {
        if (o.ratio[0] == 0 && o.ratio[1] == 0 && o.ratio[2] == 0)
            o.ratio[0] = 0.8, o.ratio[1] = 0.1, o.ratio[2] = 0.1;
        for (int i = 0; i < 3; i++)
            if (!(o.ratio[i] >= 0) || !isfinite(o.ratio[i]))
                return qy_error(QY_ERR_ARG, "split ratios must be finite and >= 0 (got %g,%g,%g)", o.ratio[0],
                                o.ratio[1], o.ratio[2]);
        if (o.ratio[0] <= 0) return qy_error(QY_ERR_ARG, "split: the train ratio must be > 0");
    }
    if (!d->split) {
        d->split = qy_malloc(d->n_inter ? d->n_inter : 1);
        if (!d->split) return QY_ERR_NOMEM;
    }
    size_t np = im->pos_off[d->n_users];
    if (o.kind == QY_SPLIT_RATIO_TIME) {
        time_ref *refs = qy_mallocn(np ? np : 1, sizeof *refs);
        if (!refs) return QY_ERR_NOMEM;
        for (uint32_t u = 0; u < d->n_users; u++) {
            size_t k = im->pos_off[u];
            for (size_t j = d->user_off[u]; j < d->user_off[u + 1]; j++)
                if (!d->click || d->click[j]) refs[k] = (time_ref){d->time[j], d->row[j], k}, k++;
        }
        qsort(refs, np, sizeof *refs, cmp_time_ref);
        size_t cnt[3];
        split_counts(np, o.ratio, cnt);
        for (size_t k = 0; k < np; k++)
            im->pos_tag[refs[k].at] = k < cnt[0]            ? QY_SPLIT_TRAIN
                                      : k < cnt[0] + cnt[1] ? QY_SPLIT_VALID
                                                            : QY_SPLIT_TEST;
        qy_free(refs);
    } else {
        for (uint32_t u = 0; u < d->n_users; u++) {
            size_t b = im->pos_off[u], n = im->pos_off[u + 1] - b, cnt[3] = {n, 0, 0};
            if (o.kind == QY_SPLIT_LOO) {
                if (n >= 4)
                    cnt[0] = n - 2, cnt[1] = 1, cnt[2] = 1;
                else if (n == 3)
                    cnt[0] = 2, cnt[2] = 1;
            } else {
                split_counts(n, o.ratio, cnt);
            }
            for (size_t k = 0; k < n; k++)
                im->pos_tag[b + k] = k < cnt[0]            ? QY_SPLIT_TRAIN
                                     : k < cnt[0] + cnt[1] ? QY_SPLIT_VALID
                                                           : QY_SPLIT_TEST;
        }
    }
    /* per-interaction tags; non-clicked exposures take the next positive's tag */
    for (uint32_t u = 0; u < d->n_users; u++) {
        uint32_t *nt = im->n_tag + (size_t)u * 4;
        memset(nt, 0, 4 * sizeof *nt);
        size_t k = im->pos_off[u + 1];
        uint8_t next = QY_SPLIT_NONE;
        for (size_t j = d->user_off[u + 1]; j-- > d->user_off[u];) {
            if (!d->click || d->click[j]) {
                next = im->pos_tag[--k];
                nt[next]++;
            }
            d->split[j] = next;
        }
    }
    if (o.kind == QY_SPLIT_LOO)
        snprintf(d->split_desc, sizeof d->split_desc, "loo");
    else
        snprintf(d->split_desc, sizeof d->split_desc, "%s:%g,%g,%g",
                 o.kind == QY_SPLIT_RATIO_USER ? "ratio" : "time", o.ratio[0], o.ratio[1], o.ratio[2]);
    return QY_OK;
}

int qy_rec_split_parse(const char *text, qy_rec_split_opts *out) {
    memset(out, 0, sizeof *out);
    size_t n = strcspn(text, ":");
    if (n == 3 && !strncmp(text, "loo", 3))
        out->kind = QY_SPLIT_LOO;
    else if (n == 5 && !strncmp(text, "ratio", 5))
        out->kind = QY_SPLIT_RATIO_USER;
    else if (n == 4 && !strncmp(text, "time", 4))
        out->kind = QY_SPLIT_RATIO_TIME;
    else
        return qy_error(
            QY_ERR_ARG,
            "unknown split '%s' (expected loo, ratio[:TRAIN,VALID,TEST] or time[:TRAIN,VALID,TEST])", text);
    out->ratio[0] = 0.8;
    out->ratio[1] = out->ratio[2] = 0.1;
    if (text[n] == ':') {
        if (out->kind == QY_SPLIT_LOO) return qy_error(QY_ERR_ARG, "split 'loo' takes no ratios");
        char *end;
        const char *p = text + n + 1;
        for (int i = 0; i < 3; i++) {
            errno = 0;
            out->ratio[i] = strtod(p, &end);
            if (end == p || errno || (i < 2 && *end != ',') || (i == 2 && *end))
                return qy_error(QY_ERR_ARG,
                                "split '%s': expected three comma-separated ratios like 0.8,0.1,0.1", text);
            p = end + 1;
        }
    }
    return QY_OK;
}

void qy_rec_user_positives(const qy_rec_data *d, uint32_t user, const uint32_t **items, size_t *n,
                           const uint8_t **tags) {
    const data_impl *im = d->impl;
    *items = im->pos_item + im->pos_off[user];
    *n = im->pos_off[user + 1] - im->pos_off[user];
    if (tags) *tags = im->pos_tag + im->pos_off[user];
}

void qy_rec_user_history(const qy_rec_data *d, uint32_t user, qy_rec_phase phase, const uint32_t **items,
                         size_t *n) {
    const data_impl *im = d->impl;
    const uint32_t *nt = im->n_tag + (size_t)user * 4;
    *items = im->pos_item + im->pos_off[user];
    *n = nt[QY_SPLIT_TRAIN] + (phase == QY_PHASE_TEST ? nt[QY_SPLIT_VALID] : 0);
}

void qy_rec_user_targets(const qy_rec_data *d, uint32_t user, qy_rec_phase phase, const uint32_t **items,
                         size_t *n) {
    const data_impl *im = d->impl;
    const uint32_t *nt = im->n_tag + (size_t)user * 4;
    size_t skip = phase == QY_PHASE_TEST ? nt[QY_SPLIT_TRAIN] + nt[QY_SPLIT_VALID] : nt[QY_SPLIT_TRAIN];
    *items = im->pos_item + im->pos_off[user] + skip;
    *n = nt[phase];
}

/* ------------------------------------------------------ split writer */

static int write_inter_part(const qy_rec_data *d, const char *path, uint8_t tag) {
    qy_afile *f;
    int st = qy_afile_open(path, &f);
    if (st) return st;
    st = qy_afile_printf(f, "user_id:token\titem_id:token\ttimestamp:float\n");
    for (uint32_t u = 1; u < d->n_users && !st; u++)
        for (size_t j = d->user_off[u]; j < d->user_off[u + 1] && !st; j++)
            if ((!d->click || d->click[j]) && d->split[j] == tag)
                st = qy_afile_printf(f, "%s\t%s\t%.17g\n", d->user_token[u], d->item_token[d->item[j]],
                                     d->time[j]);
    if (st) {
        qy_afile_abort(f);
        return st;
    }
    return qy_afile_commit(f);
}

/* DIR/exposures.tsv: every exposure in time order with its click flag and tag */
static int write_exposures(const qy_rec_data *d, const char *dir) {
    char path[1200];
    snprintf(path, sizeof path, "%s/exposures.tsv", dir);
    qy_afile *f;
    int st = qy_afile_open(path, &f);
    if (st) return st;
    st = qy_afile_printf(f,
                         "# quarry exposure log, split %s: items shown in time order, 1 = clicked, tags "
                         "T/V/X (- = after the last click)\n",
                         d->split_desc);
    if (!st) st = qy_afile_printf(f, "user\titems\tclicks\ttags\n");
    for (uint32_t u = 1; u < d->n_users && !st; u++) {
        size_t b = d->user_off[u], e = d->user_off[u + 1];
        st = qy_afile_printf(f, "%u\t", u);
        for (size_t j = b; j < e && !st; j++) st = qy_afile_printf(f, j > b ? " %u" : "%u", d->item[j]);
        if (!st) st = qy_afile_printf(f, "\t");
        for (size_t j = b; j < e && !st; j++) st = qy_afile_printf(f, "%c", d->click[j] ? '1' : '0');
        if (!st) st = qy_afile_printf(f, "\t");
        for (size_t j = b; j < e && !st; j++) st = qy_afile_printf(f, "%c", "TVX-"[d->split[j]]);
        if (!st) st = qy_afile_printf(f, "\n");
    }
    if (st) {
        qy_afile_abort(f);
        return st;
    }
    return qy_afile_commit(f);
}

int qy_rec_write_split(const qy_rec_data *d, const char *dir, const char *name) {
    if (!d->split) return qy_error(QY_ERR_ARG, "the dataset has no split: call qy_rec_data_split first");
    int st = qy_mkdir_p(dir);
    if (st) return st;
    char path[1200];
    qy_afile *f;
    snprintf(path, sizeof path, "%s/sequences.tsv", dir);
    st = qy_afile_open(path, &f);
    if (st) return st;
    st = qy_afile_printf(
        f,
        "# quarry split %s: n_users %u n_items %u (dense ids, 0 = padding); tags T train, V valid, X test\n",
        d->split_desc, d->n_users, d->n_items);
    if (!st) st = qy_afile_printf(f, "user\titems\ttags\n");
    for (uint32_t u = 1; u < d->n_users && !st; u++) {
        const uint32_t *items;
        const uint8_t *tags;
        size_t n;
        qy_rec_user_positives(d, u, &items, &n, &tags);
        st = qy_afile_printf(f, "%u\t", u);
        for (size_t k = 0; k < n && !st; k++) st = qy_afile_printf(f, k ? " %u" : "%u", items[k]);
        if (!st) st = qy_afile_printf(f, "\t");
        for (size_t k = 0; k < n && !st; k++) st = qy_afile_printf(f, "%c", "TVX?"[tags[k]]);
        if (!st) st = qy_afile_printf(f, "\n");
    }
    if (st) {
        qy_afile_abort(f);
        return st;
    }
    st = qy_afile_commit(f);
    for (int side = 0; side < 2 && !st; side++) {
        snprintf(path, sizeof path, "%s/%s.tsv", dir, side ? "items" : "users");
        st = qy_afile_open(path, &f);
        if (st) return st;
        uint32_t n = side ? d->n_items : d->n_users;
        char **tok = side ? d->item_token : d->user_token;
        st = qy_afile_printf(f, "id\ttoken\n");
        for (uint32_t i = 0; i < n && !st; i++) st = qy_afile_printf(f, "%u\t%s\n", i, tok[i]);
        if (st)
            qy_afile_abort(f);
        else
            st = qy_afile_commit(f);
    }
    if (!st && d->click) st = write_exposures(d, dir);
    const char *parts[3] = {"train", "valid", "test"};
    for (int p = 0; p < 3 && !st; p++) {
        snprintf(path, sizeof path, "%s/%s.%s.inter", dir, name, parts[p]);
        st = write_inter_part(d, path, (uint8_t)p);
    }
    return st;
}
