/* tensor.c — parameter blocks, the graph (activation arena + tape), backward,
 * activation hooks and graph tensor creation. Ops live in ops_*.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tensor/tensor_internal.h"

/* ------------------------------------------------------------ parameters */

struct qy_params {
    qy_arena meta; /* tensors and names */
    qy_tensor **list;
    size_t count, cap;
    size_t numel;
    float *data_block, *grad_block;
};

int qy_params_new(qy_params **out) {
    *out = NULL;
    qy_params *ps = qy_calloc(1, sizeof *ps);
    if (!ps) return QY_ERR_NOMEM;
    qy_arena_init(&ps->meta, 64 * 1024);
    *out = ps;
    return QY_OK;
}

void qy_params_free(qy_params *ps) {
    if (!ps) return;
    qy_arena_free(&ps->meta);
    qy_free(ps->list);
    qy_free(ps->data_block);
    qy_free(ps->grad_block);
    qy_free(ps);
}

static int check_shape(const char *what, int ndim, const int64_t *shape, size_t *n_out) {
    if (ndim < 1 || ndim > QY_MAX_DIMS)
        return qy_error(QY_ERR_SHAPE, "%s: %d dims (1..%d supported)", what, ndim, QY_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1 || shape[i] > ((int64_t)1 << 40))
            return qy_error(QY_ERR_SHAPE, "%s: dim %d has size %lld", what, i, (long long)shape[i]);
        if (qy_size_mul(n, (size_t)shape[i], &n) != QY_OK || n > ((size_t)1 << 40))
            return qy_error(QY_ERR_RANGE, "%s: %lld-element shape is too large", what, (long long)n);
    }
    *n_out = n;
    return QY_OK;
}

static void set_shape(qy_tensor *t, int ndim, const int64_t *shape, size_t n) {
    t->ndim = ndim;
    for (int i = 0; i < QY_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    t->n = n;
}

int qy_params_add(qy_params *ps, const char *name, int ndim, const int64_t *shape, int group,
                  qy_tensor **out) {
    *out = NULL;
    if (ps->data_block) return qy_error(QY_ERR_ARG, "params: %s added after qy_params_alloc", name);
    if (!name || !*name) return qy_error(QY_ERR_ARG, "params: a parameter needs a name");
    if (group < 0 || group >= QY_MAX_GROUPS)
        return qy_error(QY_ERR_ARG, "params: %s: group %d not in 0..%d", name, group, QY_MAX_GROUPS - 1);
    if (qy_params_find(ps, name)) return qy_error(QY_ERR_ARG, "params: duplicate name %s", name);
    size_t n;
    int st = check_shape(name, ndim, shape, &n);
    if (st) return st;
    if (ps->count == ps->cap) {
        size_t nc = ps->cap ? ps->cap * 2 : 64;
        qy_tensor **l = qy_reallocn(ps->list, nc, sizeof *l);
        if (!l) return QY_ERR_NOMEM;
        ps->list = l;
        ps->cap = nc;
    }
    qy_tensor *t = qy_arena_calloc(&ps->meta, 1, sizeof *t, 8);
    char *nm = t ? qy_arena_strdup(&ps->meta, name) : NULL;
    if (!nm) return QY_ERR_NOMEM;
    set_shape(t, ndim, shape, n);
    t->flags = QY_T_PARAM | QY_T_REQUIRES_GRAD;
    t->group = group;
    t->name = nm;
    ps->list[ps->count++] = t;
    ps->numel += n;
    *out = t;
    return QY_OK;
}

/* each tensor starts on a 16-float (64-byte) boundary */
static size_t padded(size_t n) { return (n + 15) & ~(size_t)15; }

int qy_params_alloc(qy_params *ps) {
    if (ps->data_block) return qy_error(QY_ERR_ARG, "params: already allocated");
    size_t total = 0;
    for (size_t i = 0; i < ps->count; i++) total += padded(ps->list[i]->n);
    if (total == 0) total = 16;
    size_t bytes;
    if (qy_size_mul(total, sizeof(float), &bytes)) return qy_error(QY_ERR_RANGE, "params: too large");
    ps->data_block = qy_malloc_aligned(bytes);
    ps->grad_block = ps->data_block ? qy_malloc_aligned(bytes) : NULL;
    if (!ps->grad_block) {
        qy_free(ps->data_block);
        ps->data_block = NULL;
        return QY_ERR_NOMEM;
    }
    memset(ps->data_block, 0, bytes);
    memset(ps->grad_block, 0, bytes);
    size_t off = 0;
    for (size_t i = 0; i < ps->count; i++) {
        ps->list[i]->data = ps->data_block + off;
        ps->list[i]->grad = ps->grad_block + off;
        off += padded(ps->list[i]->n);
    }
    return QY_OK;
}

size_t qy_params_count(const qy_params *ps) { return ps->count; }
qy_tensor *qy_params_at(const qy_params *ps, size_t i) { return i < ps->count ? ps->list[i] : NULL; }
size_t qy_params_numel(const qy_params *ps) { return ps->numel; }

qy_tensor *qy_params_find(const qy_params *ps, const char *name) {
    for (size_t i = 0; i < ps->count; i++)
        if (strcmp(ps->list[i]->name, name) == 0) return ps->list[i];
    return NULL;
}

void qy_params_zero_grad(qy_params *ps) {
    for (size_t i = 0; i < ps->count; i++)
        if (ps->list[i]->grad) memset(ps->list[i]->grad, 0, ps->list[i]->n * sizeof(float));
}

void qy_param_set_frozen(qy_tensor *t, int frozen) {
    if (frozen)
        t->flags = (t->flags | QY_T_FROZEN) & ~(uint32_t)QY_T_REQUIRES_GRAD;
    else
        t->flags = (t->flags & ~(uint32_t)QY_T_FROZEN) | QY_T_REQUIRES_GRAD;
}

void qy_param_init_normal(qy_tensor *t, qy_rng *rng, float std, float constant) {
    for (size_t i = 0; i < t->n; i++) t->data[i] = std > 0 ? (float)(qy_rng_normal(rng) * std) : constant;
}

/* ------------------------------------------------------------------ arena */

struct tarena_extra {
    struct tarena_extra *next;
    size_t bytes;
    uint8_t pad[48];
    /* data follows at a 64-byte offset */
};

static void *tarena_alloc(qy_tarena *a, size_t bytes) {
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need < bytes) return NULL;
    if (a->block && a->cap - a->used >= need) {
        void *p = a->block + a->used;
        a->used += need;
        if (a->used + a->extra_bytes > a->peak) a->peak = a->used + a->extra_bytes;
        return p;
    }
    struct tarena_extra *e = qy_malloc_aligned(need + sizeof *e);
    if (!e) return NULL;
    e->next = a->extra;
    e->bytes = need;
    a->extra = e;
    a->extra_bytes += need;
    if (a->used + a->extra_bytes > a->peak) a->peak = a->used + a->extra_bytes;
    return (uint8_t *)e + sizeof *e;
}

static void tarena_reset(qy_tarena *a) {
    int grow = a->extra != NULL;
    while (a->extra) {
        struct tarena_extra *e = a->extra;
        a->extra = e->next;
        qy_free(e);
    }
    a->extra_bytes = 0;
    a->used = 0;
    if (grow) {
        /* one block of the high-water size (plus a little) for the next steps */
        size_t want = a->peak + a->peak / 16 + 4096;
        uint8_t *nb = qy_malloc_aligned(want);
        if (nb) {
            qy_free(a->block);
            a->block = nb;
            a->cap = want;
        }
    }
}

static void tarena_free(qy_tarena *a) {
    tarena_reset(a);
    qy_free(a->block);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------ graph */

int qy_graph_new(qy_pool *pool, qy_graph **out) {
    *out = NULL;
    qy_graph *g = qy_calloc(1, sizeof *g);
    if (!g) return QY_ERR_NOMEM;
    g->pool = pool;
    g->grad_enabled = 1;
    *out = g;
    return QY_OK;
}

void qy_graph_free(qy_graph *g) {
    if (!g) return;
    qy_free(g->scratch);
    tarena_free(&g->arena);
    qy_free(g->tape);
    qy_free(g);
}

void qy_graph_reset(qy_graph *g) {
    tarena_reset(&g->arena);
    g->free_grads = g->spare_nodes = NULL;
    g->ntape = 0;
    g->status = QY_OK;
}

void qy_graph_set_grad_enabled(qy_graph *g, int enabled) { g->grad_enabled = enabled != 0; }
int qy_graph_grad_enabled(const qy_graph *g) { return g->grad_enabled; }
int qy_graph_status(const qy_graph *g) { return g->status; }
qy_pool *qy_graph_pool(const qy_graph *g) { return g->pool; }
size_t qy_graph_peak_bytes(const qy_graph *g) { return g->arena.peak; }
size_t qy_graph_forward_bytes(const qy_graph *g) { return g->arena.forward_peak; }
size_t qy_graph_tape_len(const qy_graph *g) { return g->ntape; }

void *qy_graph_alloc(qy_graph *g, size_t bytes) {
    void *p = tarena_alloc(&g->arena, bytes ? bytes : 1);
    if (!p && g->status == QY_OK) {
        g->status = QY_ERR_NOMEM;
        qy_error(QY_ERR_NOMEM, "tensor graph: out of memory allocating %zu bytes", bytes);
    }
    return p;
}

float *qy_graph_floats(qy_graph *g, size_t n, int zero) {
    size_t bytes;
    if (qy_size_mul(n, sizeof(float), &bytes)) {
        if (g->status == QY_OK) g->status = qy_error(QY_ERR_RANGE, "tensor graph: %zu floats", n);
        return NULL;
    }
    float *p = qy_graph_alloc(g, bytes);
    if (p && zero) memset(p, 0, bytes);
    return p;
}

float *qy_graph_scratch(qy_graph *g, size_t n) {
    if (n <= g->scratch_n) return g->scratch;
    size_t bytes;
    float *p = qy_size_mul(n, sizeof(float), &bytes) ? NULL : qy_malloc_aligned(bytes);
    if (!p) {
        if (g->status == QY_OK)
            g->status = qy_error(QY_ERR_NOMEM, "tensor graph: out of memory for %zu floats of scratch", n);
        return NULL;
    }
    qy_free(g->scratch);
    g->scratch = p;
    g->scratch_n = n;
    return p;
}

qy_tensor *qy_op_fail(qy_graph *g, int status, const char *fmt, ...) {
    if (g->status == QY_OK) {
        va_list ap;
        va_start(ap, fmt);
        g->status = qy_verror(status, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

int qy_op_bad(qy_graph *g, const qy_tensor *a) {
    if (g->status != QY_OK) return 1;
    if (!a) {
        qy_op_fail(g, QY_ERR_ARG, "tensor op: NULL input");
        return 1;
    }
    return 0;
}

qy_tensor *qy_op_out(qy_graph *g, int ndim, const int64_t *shape, qy_tensor *const *in, int nin) {
    size_t n;
    if (g->status) return NULL;
    int st = check_shape("tensor", ndim, shape, &n);
    if (st) {
        g->status = st;
        return NULL;
    }
    qy_tensor *t = qy_graph_alloc(g, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    set_shape(t, ndim, shape, n);
    t->data = qy_graph_floats(g, n, 0);
    if (!t->data) return NULL;
    if (g->grad_enabled)
        for (int i = 0; i < nin; i++)
            if (in[i] && (in[i]->flags & QY_T_REQUIRES_GRAD)) t->flags |= QY_T_REQUIRES_GRAD;
    return t;
}

qy_node *qy_op_record(qy_graph *g, const char *op, qy_backward_fn bw, qy_tensor *out, qy_tensor *const *in,
                      int nin) {
    if (!(out->flags & QY_T_REQUIRES_GRAD)) return NULL;
    QY_ASSERT(nin <= QY_NODE_MAX_IN);
    if (g->ntape == g->cap_tape) {
        size_t nc = g->cap_tape ? g->cap_tape * 2 : 256;
        qy_node *nt = qy_reallocn(g->tape, nc, sizeof *nt);
        if (!nt) {
            qy_op_fail(g, QY_ERR_NOMEM, "%s: out of memory growing the tape", op);
            return NULL;
        }
        g->tape = nt;
        g->cap_tape = nc;
    }
    qy_node *nd = &g->tape[g->ntape++];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->backward = bw;
    nd->out = out;
    nd->nin = nin;
    for (int i = 0; i < nin; i++) nd->in[i] = in[i];
    return nd;
}

float *qy_grad_fresh(qy_graph *g, qy_tensor *t, int *fresh) {
    *fresh = 0;
    if (!t || !(t->flags & QY_T_REQUIRES_GRAD)) return NULL;
    if (t->grad) return t->grad;
    *fresh = 1;
    for (qy_free_grad **pp = &g->free_grads; *pp; pp = &(*pp)->next) {
        qy_free_grad *f = *pp;
        if (f->n != t->n) continue;
        *pp = f->next;
        f->next = g->spare_nodes;
        g->spare_nodes = f;
        return t->grad = f->p;
    }
    return t->grad = qy_graph_floats(g, t->n, 0);
}

float *qy_grad_of(qy_graph *g, qy_tensor *t) {
    int fresh;
    float *p = qy_grad_fresh(g, t, &fresh);
    if (p && fresh) memset(p, 0, t->n * sizeof(float));
    return p;
}

int qy_grad_take(qy_graph *g, qy_tensor *to, qy_tensor *from) {
    (void)g;
    if (!(to->flags & QY_T_REQUIRES_GRAD) || to->grad || !from->grad || to->n != from->n ||
        (from->flags & (QY_T_RETAIN_GRAD | QY_T_PARAM)))
        return 0;
    to->grad = from->grad;
    from->grad = NULL;
    return 1;
}

/* after its producer's backward, an intermediate gradient is dead: recycle it */
static void release_grad(qy_graph *g, qy_tensor *t) {
    if (!t->grad || (t->flags & (QY_T_RETAIN_GRAD | QY_T_PARAM))) return;
    qy_free_grad *f = g->spare_nodes;
    if (f)
        g->spare_nodes = f->next;
    else if (!(f = tarena_alloc(&g->arena, sizeof *f)))
        return; /* keep it; no harm */
    f->n = t->n;
    f->p = t->grad;
    f->next = g->free_grads;
    g->free_grads = f;
    t->grad = NULL;
}

static int run_backward(qy_graph *g) {
    for (size_t k = g->ntape; k-- > 0;) {
        qy_node *nd = &g->tape[k];
        if (!nd->out->grad) continue; /* nothing flowed into this op */
        nd->backward(g, nd);
        if (g->status) return qy_error_wrap(g->status, "backward of %s", nd->op);
        release_grad(g, nd->out);
    }
    return QY_OK;
}

int qy_graph_backward(qy_graph *g, qy_tensor *loss) {
    if (g->status) return g->status;
    if (!loss) return qy_error(QY_ERR_ARG, "backward: NULL loss");
    if (loss->n != 1) {
        char b[64];
        return qy_error(QY_ERR_SHAPE, "backward: loss has shape %s, expected one element",
                        qy_shape_str(loss, b, sizeof b));
    }
    float one = 1.0f;
    return qy_graph_backward_from(g, loss, &one);
}

int qy_graph_backward_from(qy_graph *g, qy_tensor *t, const float *seed) {
    if (g->status) return g->status;
    if (!t) return qy_error(QY_ERR_ARG, "backward: NULL tensor");
    if (!(t->flags & QY_T_REQUIRES_GRAD))
        return qy_error(QY_ERR_ARG, "backward: the tensor does not depend on anything that "
                                    "requires a gradient (no-grad mode, or all inputs frozen)");
    size_t fwd = g->arena.used + g->arena.extra_bytes;
    if (fwd > g->arena.forward_peak) g->arena.forward_peak = fwd;
    float *gr = qy_grad_of(g, t);
    if (!gr) return g->status;
    for (size_t i = 0; i < t->n; i++) gr[i] += seed[i];
    return run_backward(g);
}

void qy_graph_set_hook(qy_graph *g, qy_hook_fn fn, void *ctx) {
    g->hook = fn;
    g->hook_ctx = ctx;
}

qy_tensor *qy_tap(qy_graph *g, const char *name, qy_tensor *t) {
    if (qy_op_bad(g, t)) return NULL;
    size_t len = strlen(name);
    char *nm = qy_graph_alloc(g, len + 1);
    if (!nm) return NULL;
    memcpy(nm, name, len + 1);
    if (!(t->flags & QY_T_PARAM)) t->name = nm;
    if (!g->hook) return t;
    qy_tensor *r = t;
    int st = g->hook(g->hook_ctx, g, nm, &r);
    if (st) return qy_op_fail(g, st, "hook at %s: %s", nm, qy_errmsg());
    if (!r) return qy_op_fail(g, QY_ERR_ARG, "hook at %s returned no tensor", nm);
    if (r->n != t->n) {
        char a[64], b[64];
        return qy_op_fail(g, QY_ERR_SHAPE, "hook at %s: replaced %s by %s", nm, qy_shape_str(t, a, sizeof a),
                          qy_shape_str(r, b, sizeof b));
    }
    return r;
}

/* ----------------------------------------------------- graph tensors */

qy_tensor *qy_zeros(qy_graph *g, int ndim, const int64_t *shape) {
    qy_tensor *t = qy_op_out(g, ndim, shape, NULL, 0);
    if (t) memset(t->data, 0, t->n * sizeof(float));
    return t;
}

qy_tensor *qy_input(qy_graph *g, int ndim, const int64_t *shape, const float *data) {
    qy_tensor *t = qy_op_out(g, ndim, shape, NULL, 0);
    if (t) memcpy(t->data, data, t->n * sizeof(float));
    return t;
}

qy_tensor *qy_full(qy_graph *g, int ndim, const int64_t *shape, float value) {
    qy_tensor *t = qy_op_out(g, ndim, shape, NULL, 0);
    if (t)
        for (size_t i = 0; i < t->n; i++) t->data[i] = value;
    return t;
}

void qy_set_requires_grad(qy_tensor *t, int on) {
    if (!t) return;
    if (on)
        t->flags |= QY_T_REQUIRES_GRAD;
    else
        t->flags &= ~(uint32_t)QY_T_REQUIRES_GRAD;
}

void qy_retain_grad(qy_tensor *t) {
    if (t) t->flags |= QY_T_RETAIN_GRAD;
}

const char *qy_shape_str(const qy_tensor *t, char *buf, size_t cap) {
    if (!t) {
        snprintf(buf, cap, "(null)");
        return buf;
    }
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "(");
    for (int i = 0; i < t->ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, ")");
    return buf;
}

qy_chunks qy_chunks_of(size_t rows, size_t min_rows) {
    qy_chunks c;
    c.rows = rows;
    c.per = (rows + 63) / 64;
    if (c.per < min_rows) c.per = min_rows;
    if (c.per < 1) c.per = 1;
    c.count = rows ? (rows + c.per - 1) / c.per : 0;
    return c;
}
