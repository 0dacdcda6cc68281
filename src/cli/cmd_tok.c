/* cmd_tok.c — `quarry tok encode|decode|train|info`: Hugging Face tokenizer.json
 * tokenizers from the command line. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "quarry/base.h"
#include "quarry/text.h"

/* whole stdin into a buffer */
static int read_stdin(char **out, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *b = qy_malloc(cap);
    if (!b) return QY_ERR_NOMEM;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            char *x = qy_realloc(b, cap * 2);
            if (!x) {
                qy_free(b);
                return QY_ERR_NOMEM;
            }
            b = x;
            cap *= 2;
        }
        size_t r = fread(b + n, 1, cap - n - 1, stdin);
        n += r;
        if (r == 0) break;
    }
    b[n] = '\0';
    *out = b;
    *len = n;
    return QY_OK;
}

static int read_input(const char *path, char **out, size_t *len) {
    if (!path || !strcmp(path, "-")) return read_stdin(out, len);
    return qy_read_file(path, 0, out, len);
}

/* TOKENIZER argument: a tokenizer.json, or a model folder holding one */
static int load_tokenizer(const char *arg, qy_tokenizer **out) {
    struct stat sb;
    char path[4096];
    if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(path, sizeof path, "%s/tokenizer.json", arg);
    else
        snprintf(path, sizeof path, "%s", arg);
    return qy_tokenizer_load(path, out);
}

static void print_encoding_json(cJSON *arr, const qy_tokenizer *tok, const qy_encoding *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON *ids = cJSON_AddArrayToObject(o, "ids");
    cJSON *toks = cJSON_AddArrayToObject(o, "tokens");
    cJSON *offs = cJSON_AddArrayToObject(o, "offsets");
    cJSON *types = cJSON_AddArrayToObject(o, "type_ids");
    cJSON *att = cJSON_AddArrayToObject(o, "attention_mask");
    cJSON *spec = cJSON_AddArrayToObject(o, "special_tokens_mask");
    for (size_t i = 0; i < e->n; i++) {
        cJSON_AddItemToArray(ids, cJSON_CreateNumber(e->ids[i]));
        const char *t = qy_tokenizer_id_to_token(tok, e->ids[i]);
        cJSON_AddItemToArray(toks, cJSON_CreateString(t ? t : ""));
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(e->offsets[2 * i]));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(e->offsets[2 * i + 1]));
        cJSON_AddItemToArray(offs, pair);
        cJSON_AddItemToArray(types, cJSON_CreateNumber(e->type_ids[i]));
        cJSON_AddItemToArray(att, cJSON_CreateNumber(e->attention_mask[i]));
        cJSON_AddItemToArray(spec, cJSON_CreateNumber(e->special_mask[i]));
    }
    cJSON_AddItemToArray(arr, o);
}

static void print_encoding_text(const qy_tokenizer *tok, const qy_encoding *e, int tokens, int offsets) {
    for (size_t i = 0; i < e->n; i++) {
        if (i) putchar(' ');
        if (tokens) {
            const char *t = qy_tokenizer_id_to_token(tok, e->ids[i]);
            fputs(t ? t : "?", stdout);
        } else
            printf("%d", (int)e->ids[i]);
        if (offsets) printf("@%u-%u", e->offsets[2 * i], e->offsets[2 * i + 1]);
    }
    putchar('\n');
}

/* --lines on a file: encode it block by block (64k lines or 16 MiB at a time)
 * on the pool, so memory stays bounded for corpora of any size. */
static int encode_file_lines(const qy_tokenizer *tok, const qy_tok_params *p, const char *file, qy_pool *pool,
                             int tokens, int offsets) {
    qy_mmap m;
    int st = qy_mmap_open(file, &m);
    if (st) return st;
    enum { MAXLINES = 65536 };
    const size_t maxbytes = (size_t)16 << 20;
    const char **texts = qy_calloc(MAXLINES, sizeof *texts);
    size_t *lens = qy_calloc(MAXLINES, sizeof *lens);
    qy_encoding *encs = qy_calloc(MAXLINES, sizeof *encs);
    if (!texts || !lens || !encs) st = QY_ERR_NOMEM;
    const char *s = (const char *)m.data;
    size_t pos = 0, nlines = 0, ntok = 0;
    qy_progress pr;
    qy_progress_begin(&pr, "encoding", m.size, "B");
    while (!st && pos < m.size) {
        size_t n = 0, bytes = 0, start = pos;
        while (pos < m.size && n < MAXLINES && bytes < maxbytes) {
            const char *nl = memchr(s + pos, '\n', m.size - pos);
            size_t end = nl ? (size_t)(nl - s) : m.size;
            texts[n] = s + pos;
            lens[n] = end - pos;
            bytes += lens[n];
            n++;
            pos = nl ? end + 1 : m.size;
        }
        st = qy_tokenizer_encode_batch(tok, texts, lens, n, p, pool, encs);
        if (st) {
            qy_error_wrap(st, "%s: lines from %zu", file, nlines + 1);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            print_encoding_text(tok, &encs[i], tokens, offsets);
            ntok += encs[i].n;
            qy_encoding_free(&encs[i]);
        }
        nlines += n;
        qy_progress_add(&pr, pos - start);
    }
    qy_progress_set_extra(&pr, "%zu lines, %zu tokens", nlines, ntok);
    qy_progress_end(&pr);
    qy_free(texts);
    qy_free(lens);
    qy_free(encs);
    qy_mmap_close(&m);
    return st;
}

static int run_encode(int argc, char **argv) {
    const char *file = NULL;
    int lines = 0, tokens = 0, offsets = 0, no_special = 0, pad_longest = 0, trunc_left = 0;
    long max_length = -1, pad_to = -1, pad_id = -1;
    const char *pair = NULL;
    qy_opt opts[] = {
        {"file", 'f', QY_OPT_STRING, "PATH", "read the text from PATH ('-' = stdin) instead of arguments",
         &file},
        {"lines", 'l', QY_OPT_FLAG, NULL, "one text per input line (encoded in parallel on --threads)",
         &lines},
        {"pair", 0, QY_OPT_STRING, "TEXT", "second text of a pair (question/passage; type ids 1)", &pair},
        {"tokens", 't', QY_OPT_FLAG, NULL, "print token strings instead of ids", &tokens},
        {"offsets", 'o', QY_OPT_FLAG, NULL, "append @start-end byte offsets to each token", &offsets},
        {"no-special", 0, QY_OPT_FLAG, NULL,
         "do not add the post-processor's special tokens ([CLS], <s> ...)", &no_special},
        {"max-length", 0, QY_OPT_INT, "N", "truncate to N tokens (special tokens included)", &max_length},
        {"truncate-left", 0, QY_OPT_FLAG, NULL, "truncate from the start", &trunc_left},
        {"pad-to", 0, QY_OPT_INT, "N", "pad every encoding to N tokens", &pad_to},
        {"pad-longest", 0, QY_OPT_FLAG, NULL, "with --lines: pad all to the longest", &pad_longest},
        {"pad-id", 0, QY_OPT_INT, "ID", "padding id (default: the file's padding settings, else 0)", &pad_id},
        {NULL, 0, 0, NULL, NULL, NULL}};
    qy_cli_spec spec = {
        .usage = "quarry tok encode [options] TOKENIZER [TEXT...]",
        .description = "Encode text with a Hugging Face tokenizer.json (or a model folder holding one).\n"
                       "Prints one line of ids per text (TEXT arguments, --file, or stdin). Input must be\n"
                       "valid UTF-8. Offsets are byte offsets into each text.",
        .opts = opts,
        .min_pos = 1,
        .max_pos = -1,
        .examples =
            "  quarry tok encode gpt2/tokenizer.json 'Hello world'\n"
            "  quarry tok encode --tokens --offsets bert/ 'Who wrote it?'\n"
            "  quarry tok encode --lines --file corpus.txt --no-special gpt2/tokenizer.json > ids.txt\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    qy_tokenizer *tok;
    int st = load_tokenizer(pos[0], &tok);
    if (st) return qy_cli_fail(st);
    qy_tok_params p;
    qy_tok_params_default(tok, &p);
    if (no_special) p.add_special_tokens = 0;
    if (max_length >= 0) p.max_length = (size_t)max_length;
    if (trunc_left) p.truncate_left = 1;
    if (pad_to >= 0) p.pad_to = (size_t)pad_to;
    if (pad_longest) p.pad_to_longest = 1;
    if (pad_id >= 0) p.pad_id = (int32_t)pad_id;

    if (lines && file && strcmp(file, "-") && npos == 1 && !pad_longest && !c.json && !pair) {
        qy_pool *pool;
        st = qy_pool_new(c.threads, &pool);
        if (!st) st = encode_file_lines(tok, &p, file, pool, tokens, offsets);
        qy_pool_free(pool);
        qy_tokenizer_free(tok);
        return st ? qy_cli_fail(st) : 0;
    }
    char *buf = NULL;
    size_t blen = 0;
    const char **texts = NULL;
    size_t *lens = NULL, n = 0;
    if (npos > 1) {
        n = (size_t)npos - 1;
        texts = qy_calloc(n, sizeof *texts);
        lens = qy_calloc(n, sizeof *lens);
        if (!texts || !lens) st = QY_ERR_NOMEM;
        for (size_t i = 0; !st && i < n; i++) {
            texts[i] = pos[i + 1];
            lens[i] = strlen(pos[i + 1]);
        }
    } else {
        st = read_input(file, &buf, &blen);
        if (!st && lines) {
            size_t cnt = 0;
            for (size_t i = 0; i < blen; i++) cnt += buf[i] == '\n';
            cnt += blen && buf[blen - 1] != '\n';
            texts = qy_calloc(cnt ? cnt : 1, sizeof *texts);
            lens = qy_calloc(cnt ? cnt : 1, sizeof *lens);
            if (!texts || !lens) st = QY_ERR_NOMEM;
            size_t s0 = 0;
            for (size_t i = 0; !st && i <= blen; i++)
                if (i == blen ? i > s0 : buf[i] == '\n') {
                    texts[n] = buf + s0;
                    lens[n] = i - s0;
                    n++;
                    s0 = i + 1;
                }
        } else if (!st) {
            texts = qy_calloc(1, sizeof *texts);
            lens = qy_calloc(1, sizeof *lens);
            if (!texts || !lens)
                st = QY_ERR_NOMEM;
            else {
                texts[0] = buf;
                lens[0] = blen;
                n = 1;
            }
        }
    }
    qy_encoding *encs = st ? NULL : qy_calloc(n ? n : 1, sizeof *encs);
    if (!st && !encs) st = QY_ERR_NOMEM;
    qy_pool *pool = NULL;
    uint64_t t0 = qy_now_ns();
    if (!st && pair) {
        if (n != 1)
            st = qy_error(QY_ERR_ARG, "--pair needs exactly one first text");
        else
            st = qy_tokenizer_encode_pair(tok, texts[0], lens[0], pair, strlen(pair), &p, &encs[0]);
    } else if (!st) {
        st = qy_pool_new(c.threads, &pool);
        if (!st) st = qy_tokenizer_encode_batch(tok, texts, lens, n, &p, pool, encs);
    }
    double secs = qy_seconds_since(t0);
    if (!st) {
        size_t bytes = 0, ntok = 0;
        for (size_t i = 0; i < n; i++) {
            bytes += lens[i];
            ntok += encs[i].n;
        }
        if (c.json) {
            cJSON *arr = cJSON_CreateArray();
            for (size_t i = 0; i < n; i++) print_encoding_json(arr, tok, &encs[i]);
            char *s = qy_json_print(arr, 0);
            if (s) puts(s);
            qy_free(s);
            cJSON_Delete(arr);
        } else
            for (size_t i = 0; i < n; i++) print_encoding_text(tok, &encs[i], tokens, offsets);
        if (bytes >= (1 << 20))
            qy_info("encoded %zu bytes (%zu texts) into %zu tokens in %.3f s (%.1f MB/s, %d threads)", bytes,
                    n, ntok, secs, bytes / 1e6 / (secs > 0 ? secs : 1e-9), qy_pool_threads(pool));
    }
    if (encs)
        for (size_t i = 0; i < n; i++) qy_encoding_free(&encs[i]);
    qy_free(encs);
    qy_pool_free(pool);
    qy_free((void *)texts);
    qy_free(lens);
    qy_free(buf);
    qy_tokenizer_free(tok);
    return st ? qy_cli_fail(st) : 0;
}

static int parse_ids(const char *s, int32_t **ids, size_t *n, size_t *cap) {
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == ',' || *p == '[' || *p == ']' || *p == '\r')
            p++;
        if (!*p) break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX)
            return qy_error(QY_ERR_ARG, "expected token ids (integers), got '%.20s'", p);
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 256;
            int32_t *x = qy_reallocn(*ids, nc, sizeof *x);
            if (!x) return QY_ERR_NOMEM;
            *ids = x;
            *cap = nc;
        }
        (*ids)[(*n)++] = (int32_t)v;
        p = end;
    }
    return QY_OK;
}

static int run_decode(int argc, char **argv) {
    const char *file = NULL;
    int skip = 0;
    qy_opt opts[] = {{"file", 'f', QY_OPT_STRING, "PATH", "read ids from PATH ('-' = stdin)", &file},
                     {"skip-special", 's', QY_OPT_FLAG, NULL,
                      "drop special tokens (tokenizers' skip_special_tokens)", &skip},
                     {NULL, 0, 0, NULL, NULL, NULL}};
    qy_cli_spec spec = {.usage = "quarry tok decode [options] TOKENIZER [ID...]",
                        .description = "Decode token ids (arguments, --file or stdin; separated by spaces,\n"
                                       "commas or newlines) into text through the tokenizer's decoder.",
                        .opts = opts,
                        .min_pos = 1,
                        .max_pos = -1,
                        .examples = "  quarry tok decode gpt2/tokenizer.json 15496 995\n"
                                    "  quarry tok encode tok.json 'Hi' | quarry tok decode tok.json\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    qy_tokenizer *tok;
    int st = load_tokenizer(pos[0], &tok);
    if (st) return qy_cli_fail(st);
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    char *buf = NULL;
    if (npos > 1)
        for (int i = 1; i < npos && !st; i++) st = parse_ids(pos[i], &ids, &n, &cap);
    else {
        size_t blen;
        st = read_input(file, &buf, &blen);
        if (!st) st = parse_ids(buf, &ids, &n, &cap);
    }
    char *text = NULL;
    size_t tlen = 0;
    if (!st) st = qy_tokenizer_decode(tok, ids, n, skip, &text, &tlen);
    if (!st) {
        if (c.json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "text", text);
            char *s = qy_json_print(o, 0);
            if (s) puts(s);
            qy_free(s);
            cJSON_Delete(o);
        } else {
            fwrite(text, 1, tlen, stdout);
            putchar('\n');
        }
    }
    qy_free(text);
    qy_free(ids);
    qy_free(buf);
    qy_tokenizer_free(tok);
    return st ? qy_cli_fail(st) : 0;
}

static int run_info(int argc, char **argv) {
    qy_cli_spec spec = {.usage = "quarry tok info [options] TOKENIZER",
                        .description = "Describe a tokenizer.json: model, vocabulary size, added tokens and\n"
                                       "the normalizer / pre-tokenizer / post-processor / decoder chain.\n"
                                       "Fails with the component's name if quarry does not support it.",
                        .min_pos = 1,
                        .max_pos = 1,
                        .examples = "  quarry tok info models/llama/tokenizer.json\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    const char *path = pos[0];
    uint64_t t0 = qy_now_ns();
    qy_tokenizer *tok;
    int st = load_tokenizer(path, &tok);
    if (st) return qy_cli_fail(st);
    double secs = qy_seconds_since(t0);
    if (c.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", path);
        cJSON_AddNumberToObject(o, "vocab_size", (double)qy_tokenizer_vocab_size(tok));
        cJSON_AddStringToObject(o, "description", qy_tokenizer_describe(tok));
        cJSON_AddNumberToObject(o, "load_seconds", secs);
        char *s = qy_json_print(o, 1);
        if (s) puts(s);
        qy_free(s);
        cJSON_Delete(o);
    } else {
        printf("%s\nvocab size: %zu\n%sloaded in %.3f s\n", path, qy_tokenizer_vocab_size(tok),
               qy_tokenizer_describe(tok), secs);
    }
    qy_tokenizer_free(tok);
    return 0;
}

static int run_train(int argc, char **argv) {
    const char *model = "bpe", *out = NULL, *special = NULL;
    long vocab = 8000, min_freq = 2, max_words = 0;
    int no_lower = 0;
    qy_opt opts[] = {{"model", 'm', QY_OPT_STRING, "KIND",
                      "bpe (byte-level BPE, GPT-2 style) or wordpiece (BERT style)", &model},
                     {"vocab-size", 'v', QY_OPT_INT, "N",
                      "vocabulary size, special tokens included (default 8000)", &vocab},
                     {"min-frequency", 0, QY_OPT_INT, "N",
                      "do not merge pairs seen fewer than N times (default 2)", &min_freq},
                     {"special", 's', QY_OPT_STRING, "A,B,..",
                      "special tokens, ids 0.. in this order (default: "
                      "<|endoftext|> for bpe; [PAD],[UNK],[CLS],[SEP],[MASK] for wordpiece)",
                      &special},
                     {"max-words", 0, QY_OPT_INT, "N",
                      "distinct words kept while counting (memory bound; default 1000000)", &max_words},
                     {"cased", 0, QY_OPT_FLAG, NULL, "wordpiece: keep case (no lowercasing)", &no_lower},
                     {"out", 'o', QY_OPT_STRING, "PATH", "where to write tokenizer.json (required)", &out},
                     {NULL, 0, 0, NULL, NULL, NULL}};
    qy_cli_spec spec = {
        .usage = "quarry tok train [options] --out tokenizer.json FILE...",
        .description = "Learn a byte-level BPE or a WordPiece vocabulary from text files of any size\n"
                       "(read in blocks; memory bounded by --max-words) and write a tokenizer.json that\n"
                       "loads here and in Hugging Face tokenizers.",
        .opts = opts,
        .min_pos = 1,
        .max_pos = -1,
        .examples = "  quarry tok train --vocab-size 4096 --out tok.json wiki.txt\n"
                    "  quarry tok train -m wordpiece -v 30522 -o bert/tokenizer.json corpus/*.txt\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    if (!out) {
        fprintf(stderr, "quarry tok train: --out is required\n");
        return 2;
    }
    qy_tok_train_params p = {0};
    if (!strcmp(model, "bpe"))
        p.kind = QY_TOK_TRAIN_BPE;
    else if (!strcmp(model, "wordpiece"))
        p.kind = QY_TOK_TRAIN_WORDPIECE;
    else {
        fprintf(stderr, "quarry tok train: --model must be bpe or wordpiece, not '%s'\n", model);
        return 2;
    }
    if (vocab < 1 || min_freq < 0 || max_words < 0) {
        fprintf(stderr, "quarry tok train: sizes must be positive\n");
        return 2;
    }
    p.vocab_size = (size_t)vocab;
    p.min_frequency = (uint64_t)min_freq;
    p.max_words = (size_t)max_words;
    p.lowercase = !no_lower;
    p.threads = c.threads;
    const char *defaults_bpe[] = {"<|endoftext|>"};
    const char *defaults_wp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    char *copy = NULL;
    const char *list[256];
    if (special) {
        copy = qy_strdup(special);
        if (!copy) return qy_cli_fail(QY_ERR_NOMEM);
        size_t n = 0;
        for (char *tokp = strtok(copy, ","); tokp && n < 256; tokp = strtok(NULL, ",")) list[n++] = tokp;
        p.special_tokens = list;
        p.nspecial = n;
    } else if (p.kind == QY_TOK_TRAIN_BPE) {
        p.special_tokens = defaults_bpe;
        p.nspecial = 1;
    } else {
        p.special_tokens = defaults_wp;
        p.nspecial = 5;
    }
    int st = qy_tokenizer_train((const char *const *)pos, (size_t)npos, &p, out);
    qy_free(copy);
    if (st) return qy_cli_fail(st);
    if (!c.quiet) fprintf(stderr, "wrote %s\n", out);
    return 0;
}

static int run(int argc, char **argv) {
    static const qy_subcommand subs[] = {
        {"encode", "text -> token ids (offsets, pairs, truncation, padding, batches)", run_encode},
        {"decode", "token ids -> text", run_decode},
        {"train", "learn a byte-level BPE or WordPiece tokenizer.json from text files", run_train},
        {"info", "describe a tokenizer.json (components, vocabulary)", run_info},
        {NULL, NULL, NULL}};
    return qy_cli_dispatch("tok",
                           "Hugging Face tokenizer.json tokenizers: token-exact with the tokenizers library.",
                           argc, argv, subs);
}

const qy_command qy_command_tok = {"tok", "encode, decode, train and inspect Hugging Face tokenizers", run};
