/* trie.c — a prefix trie of token sequences with insertion at any time.
 *
 * Nodes live in one growable array; each node keeps its children as a sorted
 * array of (token, node) pairs, so lookups are binary searches and the allowed
 * next tokens come out ascending. A node is terminal when a whole inserted
 * sequence ends there. */
#include <string.h>

#include "quarry/gen.h"

typedef struct trie_edge {
    int32_t token;
    uint32_t node;
} trie_edge;

typedef struct trie_node {
    trie_edge *edges;
    uint32_t n, cap;
    int terminal;
} trie_node;

struct qy_trie {
    trie_node *nodes;
    size_t n, cap;
    size_t sequences;
};

int qy_trie_new(qy_trie **out) {
    *out = NULL;
    qy_trie *t = qy_calloc(1, sizeof *t);
    if (!t) return QY_ERR_NOMEM;
    t->cap = 64;
    t->nodes = qy_calloc(t->cap, sizeof *t->nodes);
    if (!t->nodes) {
        qy_free(t);
        return QY_ERR_NOMEM;
    }
    t->n = 1; /* root */
    *out = t;
    return QY_OK;
}

void qy_trie_free(qy_trie *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) qy_free(t->nodes[i].edges);
    qy_free(t->nodes);
    qy_free(t);
}

/* index of the first edge with token >= tok */
static uint32_t lower_bound(const trie_node *nd, int32_t tok) {
    uint32_t lo = 0, hi = nd->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (nd->edges[mid].token < tok)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static long find_child(const qy_trie *t, uint32_t node, int32_t tok) {
    const trie_node *nd = &t->nodes[node];
    uint32_t i = lower_bound(nd, tok);
    return (i < nd->n && nd->edges[i].token == tok) ? (long)nd->edges[i].node : -1;
}

static long walk(const qy_trie *t, const int32_t *seq, int len) {
    long node = 0;
    for (int i = 0; i < len && node >= 0; i++) node = find_child(t, (uint32_t)node, seq[i]);
    return node;
}

int qy_trie_insert(qy_trie *t, const int32_t *seq, int len) {
    if (len < 0) return qy_error(QY_ERR_ARG, "trie: negative sequence length");
    /* reserve the worst case first so that a failure leaves the trie unchanged */
    if (t->n + (size_t)len > UINT32_MAX) return qy_error(QY_ERR_RANGE, "trie: more than 2^32 nodes");
    if (t->n + (size_t)len > t->cap) {
        size_t cap = t->cap;
        while (cap < t->n + (size_t)len) cap *= 2;
        trie_node *nn = qy_reallocn(t->nodes, cap, sizeof *nn);
        if (!nn) return QY_ERR_NOMEM;
        memset(nn + t->cap, 0, (cap - t->cap) * sizeof *nn);
        t->nodes = nn;
        t->cap = cap;
    }
    uint32_t node = 0;
    for (int i = 0; i < len; i++) {
        long c = find_child(t, node, seq[i]);
        if (c >= 0) {
            node = (uint32_t)c;
            continue;
        }
        trie_node *nd = &t->nodes[node];
        if (nd->n == nd->cap) {
            uint32_t ncap = nd->cap ? nd->cap * 2 : 2;
            trie_edge *e = qy_reallocn(nd->edges, ncap, sizeof *e);
            if (!e) return QY_ERR_NOMEM; /* nodes made so far stay valid, just unfinished */
            nd->edges = e;
            nd->cap = ncap;
        }
        uint32_t pos = lower_bound(nd, seq[i]);
        memmove(nd->edges + pos + 1, nd->edges + pos, sizeof(trie_edge) * (nd->n - pos));
        uint32_t child = (uint32_t)t->n++;
        nd->edges[pos] = (trie_edge){seq[i], child};
        nd->n++;
        node = child;
    }
    if (!t->nodes[node].terminal) {
        t->nodes[node].terminal = 1;
        t->sequences++;
    }
    return QY_OK;
}

int qy_trie_contains(const qy_trie *t, const int32_t *seq, int len) {
    long node = walk(t, seq, len);
    return node >= 0 && t->nodes[node].terminal;
}

size_t qy_trie_size(const qy_trie *t) { return t->sequences; }
size_t qy_trie_nodes(const qy_trie *t) { return t->n; }

int qy_trie_next(const qy_trie *t, const int32_t *prefix, int len, int32_t *out, int cap) {
    long node = walk(t, prefix, len);
    if (node < 0) return 0;
    const trie_node *nd = &t->nodes[node];
    for (uint32_t i = 0; i < nd->n && (int)i < cap; i++) out[i] = nd->edges[i].token;
    return (int)nd->n;
}

int qy_trie_allowed(void *ctx, const int32_t *gen, int gen_len, int32_t *out, int cap) {
    const qy_trie_constraint *c = ctx;
    int n = qy_trie_next(c->trie, gen, gen_len, out, cap);
    if (n > cap) return qy_error(QY_ERR_RANGE, "trie: %d allowed tokens exceed the buffer of %d", n, cap);
    if (n == 0) {
        if (cap < 1) return qy_error(QY_ERR_RANGE, "trie: no room for the end token");
        out[0] = c->end_token;
        n = 1;
    }
    return n;
}
