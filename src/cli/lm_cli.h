/* lm_cli.h — shared pieces of the `quarry lm` verbs: the verbs' entry points and
 * the tokenizer a model folder uses (built-in bytes, or a Hugging Face
 * tokenizer.json once the text layer provides it). */
#ifndef QUARRY_LM_CLI_H
#define QUARRY_LM_CLI_H

#include <stddef.h>
#include <stdint.h>

int qy_lm_cmd_train(int argc, char **argv);
int qy_lm_cmd_generate(int argc, char **argv);
int qy_lm_cmd_score(int argc, char **argv);
int qy_lm_cmd_chat(int argc, char **argv);
int qy_lm_cmd_forward(int argc, char **argv);
int qy_lm_cmd_embed(int argc, char **argv);

/* A tokenizer for the CLI. "bytes": ids 0..255 are the UTF-8 bytes, 256 is
 * <|endoftext|> (vocabulary 257); otherwise a Hugging Face tokenizer.json (the
 * text layer). A model folder names its tokenizer with quarry_tokenizer.json
 * ({"type": "bytes"}) or ships a tokenizer.json. */
typedef struct lm_tok lm_tok;

/* spec: "bytes", a tokenizer.json path, or a model folder. */
int lm_tok_open(const char *spec, lm_tok **out);
void lm_tok_free(lm_tok *t);
size_t lm_tok_vocab(const lm_tok *t);
int64_t lm_tok_eos(const lm_tok *t);         /* -1 when none */
void lm_tok_set_eos(lm_tok *t, int64_t eos); /* e.g. the model config's eos_token_id */
const char *lm_tok_name(const lm_tok *t);
/* qy_encode_fn-compatible: append the ids of text to (*ids, *n, *cap). */
int lm_tok_encode(void *t, const char *text, size_t len, int32_t **ids, size_t *n, size_t *cap);
/* A prompt as a Hugging Face tokenizer(text) call encodes it: with the
 * post-processor's special tokens (Llama's BOS); bytes: as lm_tok_encode. */
int lm_tok_encode_prompt(const lm_tok *t, const char *text, size_t len, int32_t **ids, size_t *n,
                         size_t *cap);
/* Decode ids (special tokens dropped) into a new string (qy_free). */
int lm_tok_decode(const lm_tok *t, const int32_t *ids, size_t n, char **out, size_t *len);
/* Write the tokenizer's description into a model folder. */
int lm_tok_save(const lm_tok *t, const char *dir);

/* Append token ids "I,J,K" (commas or spaces) to (*ids, *n, *cap); each must lie in
 * [0, vocab). QY_ERR_ARG names --ids and the accepted range. */
int lm_parse_ids(const char *s, int64_t vocab, int32_t **ids, size_t *n, size_t *cap);
/* grow (*ids, *cap) to hold at least need ids (doubling); QY_ERR_NOMEM on failure */
int lm_ids_reserve(int32_t **ids, size_t *cap, size_t need);

/* Pull every "--NAME VALUE" / "--NAME=VALUE" out of argv (in place; argc updated),
 * storing up to cap values (pointers into argv). Returns the count or -1 when a
 * value is missing or there are more than cap. */
int lm_cli_take_repeated(int *argc, char **argv, const char *name, const char **vals, int cap);

#endif
