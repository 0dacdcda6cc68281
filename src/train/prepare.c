/* prepare.c — tokenise plain text and JSONL once into token shards: pre-training
 * text (every token a target), prompt/response pairs (the loss masked to the
 * response, optionally chat-formatted) or chat conversations (the loss masked to
 * the assistant turns), with a deterministic held-out split. Inputs are mapped,
 * not read, and each document goes to its shard writer as soon as it is
 * tokenised, so memory does not grow with the corpus. */
#include <string.h>

#include "quarry/chat.h"
#include "quarry/train.h"

typedef struct prep {
    const qy_prepare_cfg *cfg;
    qy_encode_fn encode;
    void *ectx;
    const char *paths[2];  /* train, val (NULL: no held-out shard) */
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
            int st =
                p->paths[i] ? qy_shard_writer_open(p->paths[i], p->cfg->vocab_size, kind, &p->w[i]) : QY_OK;
            if (st) return st;
        }
        return QY_OK;
    }
    if (p->kind != kind)
        return qy_error(QY_ERR_FORMAT, "%s: line %zu: %s, but earlier records were %s (they cannot be mixed)",
                        path, line, kind ? "a prompt/response pair or conversation" : "plain text",
                        p->kind ? "prompt/response pairs or conversations" : "plain text");
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

/* mask[from, to) = v, growing the mask (it runs parallel to p->ids) */
static int mask_fill(prep *p, size_t from, size_t to, uint8_t v) {
    if (to > p->mcap) {
        size_t cap = p->mcap ? p->mcap : 256;
        while (cap < to) cap *= 2;
        uint8_t *m = qy_realloc(p->mask, cap);
        if (!m) return QY_ERR_NOMEM;
        p->mask = m;
        p->mcap = cap;
    }
    memset(p->mask + from, v, to - from);
    return QY_OK;
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
    st = mask_fill(p, 0, np, 0);
    if (!st) st = mask_fill(p, np, p->n, 1);
    return st ? st : add_doc(p, val, p->mask);
}

/* encode text[a, b) and mark its tokens as targets (v = 1) or context (v = 0) */
static int encode_span(prep *p, const char *text, size_t a, size_t b, uint8_t v) {
    size_t n0 = p->n;
    int st = a < b ? encode_append(p, text + a, b - a) : QY_OK;
    return st ? st : mask_fill(p, n0, p->n, v);
}

/* the error message so far, prefixed with "SRC: " (the template's messages do not know the file) */
static int with_source(int st, const char *src) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", qy_errmsg());
    return qy_error(st, "%s: %s", src, msg);
}

/* Where assistant turn i sits in `full` (the conversation up to the last
 * assistant turn, formatted): it starts where the formatted history with the
 * generation prompt ends, and its target text runs to the end of the last
 * end-of-turn string inside the turn (ChatML's trailing newline stays context). */
static int assistant_span(const prep *p, const qy_chat_msg *msgs, size_t i, const char *full, const char *src,
                          size_t *start, size_t *stop_end) {
    qy_chat_format_kind kind = (qy_chat_format_kind)p->cfg->chat_kind;
    char *head = NULL, *turn = NULL;
    int st = qy_chat_format(kind, msgs, i, 1, &head);
    if (!st) st = qy_chat_format(kind, msgs, i + 1, 0, &turn);
    if (st) {
        st = st == QY_ERR_NOMEM ? st : with_source(st, src);
    } else {
        size_t a = strlen(head), b = strlen(turn);
        if (strncmp(head, full, a) || strncmp(turn, full, b) || b < a)
            st = qy_error(QY_ERR_UNSUPPORTED,
                          "%s: the %s template does not format this conversation turn by turn", src,
                          qy_chat_kind_name(kind));
        const char *eot = qy_chat_stop(kind);
        size_t e = strlen(eot), end = b;
        for (size_t k = b; !st && k >= a + e; k--)
            if (!memcmp(full + k - e, eot, e)) {
                end = k;
                break;
            }
        *start = a;
        *stop_end = end;
    }
    qy_free(head);
    qy_free(turn);
    return st;
}

/* {"messages": [{"role": ..., "content": ...}, ...]}: the conversation formatted
 * with the chat template; targets are every assistant turn's content and the
 * end-of-turn string the template writes after it, plus the EOS; the system and
 * user turns and the template's headers are context. Turns after the last
 * assistant turn teach nothing and are left out. Spans are encoded one by one,
 * as pairs encode prompt and response apart. */
static int add_messages(prep *p, const qy_jref *r, const char *src, int val) {
    if (!p->cfg->chat)
        return qy_error(QY_ERR_ARG,
                        "%s: a \"messages\" record needs a chat template to be formatted with "
                        "(--chat chatml|llama3|llama2)",
                        src);
    qy_jref arr;
    size_t count;
    int st = qy_jref_array(r, ".messages", &arr, &count);
    if (st) return st;
    int sys = p->cfg->system != NULL;
    qy_chat_msg *msgs = qy_mallocn(count + 1, sizeof *msgs);
    if (!msgs) return QY_ERR_NOMEM;
    size_t nm = 0, last = 0, nasst = 0;
    for (size_t i = 0; i < count && !st; i++) {
        qy_jref m;
        const char *role, *content;
        st = qy_jref_at(&arr, i, &m, NULL);
        if (!st) st = qy_jref_string(&m, ".role", &role);
        if (!st) st = qy_jref_string(&m, ".content", &content);
        if (st) break;
        int is_asst = !strcmp(role, "assistant");
        if (!is_asst && strcmp(role, "user") && strcmp(role, "system")) {
            st = qy_error(QY_ERR_FORMAT,
                          "%s: .messages[%zu].role: unknown role \"%s\" (expected system, user or assistant)",
                          src, i, role);
            break;
        }
        if (!strcmp(role, "system") && i == 0) sys = 0; /* the record's own system message wins */
        msgs[nm++] = (qy_chat_msg){role, content};
        if (is_asst) {
            last = nm;
            nasst++;
        }
    }
    if (!st && nasst == 0)
        st = qy_error(QY_ERR_FORMAT, "%s: .messages: no assistant turn (nothing to learn from)", src);
    if (!st && sys) { /* --system for conversations without one */
        memmove(msgs + 1, msgs, nm * sizeof *msgs);
        msgs[0] = (qy_chat_msg){"system", p->cfg->system};
        nm++;
        last++;
    }
    char *full = NULL;
    if (!st) {
        st = qy_chat_format((qy_chat_format_kind)p->cfg->chat_kind, msgs, last, 0, &full);
        if (st && st != QY_ERR_NOMEM) st = with_source(st, src);
    }
    p->n = 0;
    size_t done = 0;
    for (size_t i = 0; i < last && !st; i++) {
        if (strcmp(msgs[i].role, "assistant")) continue;
        size_t a = 0, b = 0;
        st = assistant_span(p, msgs, i, full, src, &a, &b);
        if (!st) st = encode_span(p, full, done, a, 0);
        if (!st) st = encode_span(p, full, a, b, 1);
        done = b;
    }
    size_t n0 = p->n;
    if (!st) st = append_eos(p);
    if (!st) st = mask_fill(p, n0, p->n, 1);
    qy_free(full);
    qy_free(msgs);
    return st ? st : add_doc(p, val, p->mask);
}

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int prepare_jsonl(prep *p, const char *path, const char *text, size_t len, uint64_t *record) {
    double f = p->cfg->val_fraction;
    uint64_t every = f > 0 ? (uint64_t)(1.0 / f + 0.5) : 0;
    size_t line = 0;
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(text + off, '\n', len - off);
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
            } else if (qy_jref_has(&r, ".messages")) {
                st = set_kind(p, 1, path, line);
                if (!st) st = add_messages(p, &r, src, val);
            } else {
                st = qy_error(QY_ERR_FORMAT,
                              "%s: expected an object with \"text\", \"prompt\" and \"response\", or "
                              "\"messages\"",
                              src);
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
    p.paths[0] = train_path;
    p.paths[1] = cfg->val_fraction > 0 ? val_path : NULL;
    int st = QY_OK;
    uint64_t record = 0;
    for (size_t i = 0; i < nfiles && !st; i++) {
        qy_mmap m;
        if ((st = qy_mmap_open(files[i], &m))) break;
        const char *text = m.size ? (const char *)m.data : "";
        stats->bytes += m.size;
        st = has_suffix(files[i], ".jsonl") ? prepare_jsonl(&p, files[i], text, m.size, &record)
                                            : prepare_text(&p, files[i], text, m.size);
        qy_mmap_close(&m);
    }
    if (!st && stats->train_tokens == 0)
        st = qy_error(QY_ERR_ARG, "prepare: %s gave no training tokens",
                      nfiles == 1 ? files[0] : "the input files");
    if (!st && cfg->val_fraction > 0 && stats->val_tokens == 0)
        st = qy_error(QY_ERR_ARG, "prepare: the held-out fraction %g selected no data", cfg->val_fraction);
    /* commit frees the writer whatever happens; free removes an uncommitted one */
    for (int i = 0; i < 2; i++) {
        qy_shard_writer *w = p.w[i];
        p.w[i] = NULL;
        if (!st && w)
            st = qy_shard_writer_commit(w);
        else
            qy_shard_writer_free(w);
    }
    stats->masked = p.kind == 1;
    stats->seconds = qy_seconds_since(t0);
    qy_free(p.ids);
    qy_free(p.mask);
    return st;
}
