/*
 * quarry/chat.h — chat templates: format a conversation into the prompt text a chat
 * model was trained on (ChatML as Qwen uses it, Llama 3, Llama 2).
 *
 *   qy_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "Hi!"}};
 *   char *text;
 *   qy_chat_format(QY_CHAT_CHATML, msgs, 2, 1, &text);   // add the assistant header
 *   ... tokenize text with special tokens matched ... qy_free(text);
 *
 * Hugging Face keeps templates as Jinja in tokenizer_config.json; quarry does not
 * run Jinja. qy_chat_detect recognises the common templates by their markers and
 * says clearly when a template is not one it knows.
 */
#ifndef QUARRY_CHAT_H
#define QUARRY_CHAT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qy_chat_format_kind {
    QY_CHAT_CHATML = 0, /* <|im_start|>role\ncontent<|im_end|>\n */
    QY_CHAT_LLAMA3,     /* <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> */
    QY_CHAT_LLAMA2      /* <s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nuser [/INST] answer </s> */
} qy_chat_format_kind;

typedef struct qy_chat_msg {
    const char *role; /* "system", "user", "assistant" (ChatML/Llama 3 accept any role) */
    const char *content;
} qy_chat_msg;

/* Name <-> kind: "chatml", "llama3", "llama2". QY_ERR_ARG names the known ones. */
int qy_chat_parse_kind(const char *name, qy_chat_format_kind *out);
const char *qy_chat_kind_name(qy_chat_format_kind kind);

/* Recognise a Jinja chat_template string (from tokenizer_config.json) by its
 * markers. QY_ERR_UNSUPPORTED when it matches none. */
int qy_chat_detect(const char *jinja, qy_chat_format_kind *out);

/* Format messages; add_generation_prompt appends the assistant header so the
 * model writes the reply. *out is a new string (qy_free). Errors: QY_ERR_ARG for
 * a role the format cannot express (Llama 2: roles must alternate user/assistant
 * after an optional system message), QY_ERR_NOMEM. */
int qy_chat_format(qy_chat_format_kind kind, const qy_chat_msg *msgs, size_t n, int add_generation_prompt,
                   char **out);

/* The text that ends an assistant turn ("<|im_end|>", "<|eot_id|>", "</s>"):
 * a stop string for generation. */
const char *qy_chat_stop(qy_chat_format_kind kind);

#ifdef __cplusplus
}
#endif
#endif
