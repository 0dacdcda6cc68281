/* chat.c — chat templates written out in C (ChatML, Llama 3, Llama 2), matching
 * the Jinja templates those models ship: Llama 3 trims each message's content,
 * ChatML and Llama 2 keep it as is (Llama 2 strips around [INST]). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "quarry/base.h"
#include "quarry/chat.h"

static const char *const kind_names[] = {"chatml", "llama3", "llama2"};

int qy_chat_parse_kind(const char *name, qy_chat_format_kind *out) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, kind_names[i])) {
            *out = (qy_chat_format_kind)i;
            return QY_OK;
        }
    return qy_error(QY_ERR_ARG, "chat template '%s' is not one quarry knows (chatml, llama3, llama2)", name);
}

const char *qy_chat_kind_name(qy_chat_format_kind kind) {
    return (unsigned)kind < 3 ? kind_names[kind] : "unknown";
}

int qy_chat_detect(const char *jinja, qy_chat_format_kind *out) {
    if (strstr(jinja, "<|im_start|>"))
        *out = QY_CHAT_CHATML;
    else if (strstr(jinja, "<|start_header_id|>"))
        *out = QY_CHAT_LLAMA3;
    else if (strstr(jinja, "[INST]"))
        *out = QY_CHAT_LLAMA2;
    else
        return qy_error(QY_ERR_UNSUPPORTED,
                        "chat_template: not a ChatML, Llama 3 or Llama 2 template; pass the "
                        "format by name instead (quarry does not run Jinja)");
    return QY_OK;
}

const char *qy_chat_stop(qy_chat_format_kind kind) {
    switch (kind) {
    case QY_CHAT_CHATML: return "<|im_end|>";
    case QY_CHAT_LLAMA3: return "<|eot_id|>";
    default: return "</s>";
    }
}

/* growable string */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_append(sbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = qy_realloc(b->s, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_append(b, s, strlen(s)); }

/* content with leading and trailing whitespace removed (Jinja's trim) */
static void sb_trimmed(sbuf *b, const char *s) {
    const char *e = s + strlen(s);
    while (s < e && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r')) e--;
    sb_append(b, s, (size_t)(e - s));
}

static int format_llama2(sbuf *b, const qy_chat_msg *m, size_t n, int add_gen) {
    size_t i = 0;
    const char *sys = NULL;
    if (n && !strcmp(m[0].role, "system")) {
        sys = m[0].content;
        i = 1;
    }
    int expect_user = 1;
    for (; i < n; i++) {
        int user = !strcmp(m[i].role, "user");
        if (!user && strcmp(m[i].role, "assistant"))
            return qy_error(QY_ERR_ARG,
                            "chat (llama2): message %zu has role '%s'; only a first system message, "
                            "then user and assistant, are possible",
                            i, m[i].role);
        if (user != expect_user)
            return qy_error(QY_ERR_ARG, "chat (llama2): message %zu: roles must alternate user/assistant", i);
        if (user) {
            sb_puts(b, "<s>[INST] ");
            if (sys) {
                sb_puts(b, "<<SYS>>\n");
                sb_trimmed(b, sys);
                sb_puts(b, "\n<</SYS>>\n\n");
                sys = NULL;
            }
            sb_trimmed(b, m[i].content);
            sb_puts(b, " [/INST]");
        } else {
            sb_puts(b, " ");
            sb_trimmed(b, m[i].content);
            sb_puts(b, " </s>");
        }
        expect_user = !expect_user;
    }
    (void)add_gen; /* the [/INST] already asks for the answer */
    return QY_OK;
}

int qy_chat_format(qy_chat_format_kind kind, const qy_chat_msg *msgs, size_t n, int add_generation_prompt,
                   char **out) {
    *out = NULL;
    sbuf b = {0};
    int st = QY_OK;
    switch (kind) {
    case QY_CHAT_CHATML:
        for (size_t i = 0; i < n; i++) {
            sb_puts(&b, "<|im_start|>");
            sb_puts(&b, msgs[i].role);
            sb_puts(&b, "\n");
            sb_puts(&b, msgs[i].content);
            sb_puts(&b, "<|im_end|>\n");
        }
        if (add_generation_prompt) sb_puts(&b, "<|im_start|>assistant\n");
        break;
    case QY_CHAT_LLAMA3:
        sb_puts(&b, "<|begin_of_text|>");
        for (size_t i = 0; i < n; i++) {
            sb_puts(&b, "<|start_header_id|>");
            sb_puts(&b, msgs[i].role);
            sb_puts(&b, "<|end_header_id|>\n\n");
            sb_trimmed(&b, msgs[i].content);
            sb_puts(&b, "<|eot_id|>");
        }
        if (add_generation_prompt) sb_puts(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case QY_CHAT_LLAMA2: st = format_llama2(&b, msgs, n, add_generation_prompt); break;
    default: st = qy_error(QY_ERR_ARG, "chat: unknown template kind %d", (int)kind);
    }
    if (!st && !b.s) sb_append(&b, "", 0); /* no messages: an empty string */
    if (!st && b.failed) st = QY_ERR_NOMEM;
    if (st) {
        qy_free(b.s);
        return st;
    }
    *out = b.s;
    return QY_OK;
}
