/* fuzz_corpus.c — corpus/query files (BEIR or Pyserini JSONL, TSV) from
 * arbitrary bytes, each document then analyzed with the default analyzer:
 * errors must be statuses with messages, never crashes or leaks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/corpus.h"
#include "quarry/base.h"
#include "text/analyzer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/quarry-fuzz-corpus-%d.jsonl", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    qy_analyzer_config cfg;
    qy_analyzer_config_default(&cfg);
    qy_analyzer *a = NULL;
    if (qy_analyzer_new(&cfg, &a) != QY_OK) return 0;
    qy_corpus *c;
    if (qy_corpus_open(path, "auto", &c) == QY_OK) {
        for (int i = 0; i < 10000; i++) {
            qy_corpus_doc d;
            int eof;
            if (qy_corpus_next(c, &d, &eof) != QY_OK || eof) break;
            const qy_token *t;
            size_t n;
            qy_analyzer_run(a, d.text, strlen(d.text), &t, &n);
            qy_analyzer_run(a, d.title, strlen(d.title), &t, &n);
        }
        qy_corpus_close(c);
    }
    /* the raw bytes as text too: the tokenizer sees invalid UTF-8 this way */
    const qy_token *t;
    size_t n;
    qy_analyzer_run(a, (const char *)data, size, &t, &n);
    qy_analyzer_free(a);
    unlink(path);
    return 0;
}
