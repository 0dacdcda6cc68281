/* prepare.c — tokenise plain text and JSONL once into token shards: pre-training
 * text (every token a target) or prompt/response pairs (the loss masked to the
 * response), optionally chat-formatted, with a deterministic held-out split. */
#include <string.h>

#include "quarry/chat.h"
#include "quarry/train.h"

typedef struct prep {
    const qy_prepare_cfg *cfg;
    qy_encode_fn encode;
    void *ectx;
    qy_shard_writer *w[2]; /* train, val */
    int kind;              /* -1 unknown, 0 text, 1 pairs */
    int32_t *ids;
    uint8_t *mask;
    size_t n, cap, mcap;
    qy_prepare_stats *stats;
} prep;

static int set_kind(prep *p, int kind, const char *path, size_t line) {
    if (p->kind < 0) {
        p->kind = kind;
        for (int i = 0; i < 2; i++) {
            int st = qy_shard_writer_new(p->cfg->vocab_size, kind, &p->w[i]);
            if (st) return st;
        }
        return QY_OK;
    }
    if (p->kind != kind)
        return qy_error(QY_ERR_FORMAT, "%s: line %zu: %s, but earlier records were %s (they cannot be mixed)",
                        path, line, kind ? "a prompt/response pair" : "plain text",
                        p->kind ? "prompt/response pairs" : "plain text");
    return QY_OK;
}

static int encode_append(prep *p, const char *text, size_t len) {
    return p->encode(p->ectx, text, len, &p->ids, &p->n, &p->cap);
}

static int append_eos(prep *p) {
    if (p->cfg->eos_id < 0) return QY_OK;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        int32_t *ids = qy_reallocn(p->ids, cap, sizeof *ids);
        if (!ids) return QY_ERR_NOMEM;
        p->ids = ids;
        p->cap = cap;
    }
    p->ids[p->n++] = (int32_t)p->cfg->eos_id;
    return QY_OK;
}

static int add_doc(prep *p, int val, const uint8_t *mask) {
    int st = qy_shard_writer_add(p->w[val], p->ids, mask, p->n);
    if (st) return st;
    if (val) {
        p->stats->val_tokens += p->n;
        p->stats->val_docs++;
    } else {
        p->stats->train_tokens += p->n;
        p->stats->train_docs++;
    }
    return QY_OK;
}

static int add_text(prep *p, const char *text, size_t len, int val) {
    p->n = 0;
    int st = encode_append(p, text, len);
    if (!st) st = append_eos(p);
    return st ? st : add_doc(p, val, NULL);
}

static int add_pair(prep *p, const char *prompt, const char *response, int val) {
    char *formatted = NULL;
    const char *ptext = prompt;
    int st = QY_OK;
    if (p->cfg->chat) {
        qy_chat_msg msgs[2];
        size_t nm = 0;
        if (p->cfg->system) msgs[nm++] = (qy_chat_msg){"system", p->cfg->system};
        msgs[nm++] = (qy_chat_msg){"user", prompt};
        if ((st = qy_chat_format((qy_chat_format_kind)p->cfg->chat_kind, msgs, nm, 1, &formatted))) return st;
        ptext = formatted;
    }
    p->n = 0;
    st = encode_append(p, ptext, strlen(ptext));
    qy_free(formatted);
    size_t np = p->n;
    if (!st) st = encode_append(p, response, strlen(response));
    if (!st && p->cfg->chat) {
        const char *stop = qy_chat_stop((qy_chat_format_kind)p->cfg->chat_kind);
        st = encode_append(p, stop, strlen(stop));
    }
    if (!st) st = append_eos(p);
    if (st) return st;
    if (p->n > p->mcap) {
        uint8_t *m = qy_realloc(p->mask, p->n);
        if (!m) return QY_ERR_NOMEM;
        p->mask = m;
        p->mcap = p->n;
    }
    memset(p->mask, 0, np);
    memset(p->mask + np, 1, p->n - np);
    return add_doc(p, val, p->mask);
}

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int prepare_jsonl(prep *p, const char *path, char *text, size_t len, uint64_t *record) {
    double f = p->cfg->val_fraction;
    uint64_t every = f > 0 ? (uint64_t)(1.0 / f + 0.5) : 0;
    size_t line = 0;
    for (size_t off = 0; off < len;) {
        char *nl = memchr(text + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - text) : len;
        line++;
        size_t a = off;
        while (a < end && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r')) a++;
        if (a < end) {
            char src[512];
            snprintf(src, sizeof src, "%s: line %zu", path, line);
            qy_json *doc;
            int st = qy_json_parse(text + off, end - off, src, &doc);
            if (st) return st;
            qy_jref r = qy_json_ref(doc);
            const char *t, *pr, *re;
            int val = every > 1 && (*record % every) == every - 1;
            if (qy_jref_has(&r, ".text")) {
                st = qy_jref_string(&r, ".text", &t);
                if (!st) st = set_kind(p, 0, path, line);
                if (!st) st = add_text(p, t, strlen(t), val);
            } else if (qy_jref_has(&r, ".prompt") || qy_jref_has(&r, ".response")) {
                st = qy_jref_string(&r, ".prompt", &pr);
                if (!st) st = qy_jref_string(&r, ".response", &re);
                if (!st) st = set_kind(p, 1, path, line);
                if (!st) st = add_pair(p, pr, re, val);
            } else {
                st = qy_error(QY_ERR_FORMAT,
                              "%s: expected an object with \"text\" or \"prompt\" and \"response\"", src);
            }
            qy_json_free(doc);
            if (st) return st;
            (*record)++;
        }
        off = end + 1;
    }
    return QY_OK;
}

static int prepare_text(prep *p, const char *path, const char *text, size_t len) {
    int st = set_kind(p, 0, path, 1);
    if (st) return st;
    size_t cut = len;
    if (p->cfg->val_fraction > 0) {
        cut = (size_t)((double)len * (1.0 - p->cfg->val_fraction));
        while (cut < len && text[cut - (cut > 0)] != '\n') cut++;
    }
    if (cut > 0 && (st = add_text(p, text, cut, 0))) return st;
    if (cut < len && (st = add_text(p, text + cut, len - cut, 1))) return st;
    return QY_OK;
}

int qy_shard_prepare(const qy_prepare_cfg *cfg, const char *const *files, size_t nfiles, qy_encode_fn encode,
                     void *encode_ctx, const char *train_path, const char *val_path,
                     qy_prepare_stats *stats) {
    memset(stats, 0, sizeof *stats);
    if (nfiles == 0) return qy_error(QY_ERR_ARG, "prepare: no input files");
    if (!(cfg->val_fraction >= 0 && cfg->val_fraction < 1))
        return qy_error(QY_ERR_ARG, "prepare: held-out fraction %g not in [0, 1)", cfg->val_fraction);
    if (cfg->val_fraction > 0 && !val_path)
        return qy_error(QY_ERR_ARG, "prepare: a held-out fraction needs a path for the held-out shard");
    uint64_t t0 = qy_now_ns();
    prep p = {.cfg = cfg, .encode = encode, .ectx = encode_ctx, .kind = -1, .stats = stats};
    int st = QY_OK;
    uint64_t record = 0;
    for (size_t i = 0; i < nfiles && !st; i++) {
        char *text;
        size_t len;
        if ((st = qy_read_file(files[i], 0, &text, &len))) break;
        stats->bytes += len;
        st = has_suffix(files[i], ".jsonl") ? prepare_jsonl(&p, files[i], text, len, &record)
                                            : prepare_text(&p, files[i], text, len);
        qy_free(text);
    }
    if (!st && stats->train_tokens == 0)
        st = qy_error(QY_ERR_ARG, "prepare: %s gave no training tokens",
                      nfiles == 1 ? files[0] : "the input files");
    if (!st) st = qy_shard_writer_write(p.w[0], train_path);
    if (!st && cfg->val_fraction > 0) {
        if (stats->val_tokens == 0)
            st =
                qy_error(QY_ERR_ARG, "prepare: the held-out fraction %g selected no data", cfg->val_fraction);
        else
            st = qy_shard_writer_write(p.w[1], val_path);
    }
    stats->masked = p.kind == 1;
    stats->seconds = qy_seconds_since(t0);
    qy_shard_writer_free(p.w[0]);
    qy_shard_writer_free(p.w[1]);
    qy_free(p.ids);
    qy_free(p.mask);
    return st;
}
