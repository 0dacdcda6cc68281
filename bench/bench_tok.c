/* bench_tok.c — tokenizer encode throughput (MB/s of UTF-8 input).
 *
 *   bench_tok [--tokenizer PATH] [--file PATH] [--repeat N] [--threads N]
 *
 * Defaults: the GPT-2 tokenizer of tests/data and ../shared/data/wikitext-2/valid.txt.
 * Reports, on one thread: the whole file as one text (first pass with empty
 * merge caches, then the best of N passes), and the file as a batch of lines
 * (documents) with offsets and masks, on 1 and on --threads threads.
 * bench/tok_bench.sh runs this and the npm peers side by side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "quarry/base.h"
#include "quarry/text.h"

/* CPU seconds (user + system) of the whole process so far */
static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
}

static double mbs(size_t bytes, double s) { return bytes / 1e6 / (s > 0 ? s : 1e-12); }

int main(int argc, char **argv) {
    const char *tok_path = "tests/data/tokenizers/gpt2/tokenizer.json";
    const char *file = "../shared/data/wikitext-2/valid.txt";
    int repeat = 5, threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc)
            tok_path = argv[++i];
        else if (!strcmp(argv[i], "--file") && i + 1 < argc)
            file = argv[++i];
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--tokenizer PATH] [--file PATH] [--repeat N] [--threads N]\n",
                    argv[0]);
            return 2;
        }
    }
    if (repeat < 1) repeat = 1;
    char *text;
    size_t len;
    qy_tokenizer *tok;
    if (qy_read_file(file, 0, &text, &len) || qy_tokenizer_load(tok_path, &tok)) {
        fprintf(stderr, "bench_tok: %s\n", qy_errmsg());
        return 1;
    }
    printf("tokenizer %s\nfile %s (%zu bytes)\n", tok_path, file, len);

    /* whole text, one thread */
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    double best = 1e30, first = 0;
    for (int r = 0; r <= repeat; r++) {
        n = 0;
        uint64_t t0 = qy_now_ns();
        if (qy_tokenizer_encode_ids(tok, text, len, &ids, &n, &cap)) {
            fprintf(stderr, "bench_tok: %s\n", qy_errmsg());
            return 1;
        }
        double s = qy_seconds_since(t0);
        if (r == 0)
            first = s;
        else if (s < best)
            best = s;
    }
    printf("quarry whole-text 1 thread: first pass %.1f MB/s, best of %d %.1f MB/s (%zu tokens)\n",
           mbs(len, first), repeat, mbs(len, best), n);

    /* lines as a batch of documents, 1 and `threads` threads */
    size_t nl = 0;
    for (size_t i = 0; i < len; i++) nl += text[i] == '\n';
    const char **lines = qy_calloc(nl + 1, sizeof *lines);
    size_t *lens = qy_calloc(nl + 1, sizeof *lens);
    size_t m = 0, s0 = 0, lbytes = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n') {
            if (i > s0) {
                lines[m] = text + s0;
                lens[m] = i - s0;
                lbytes += lens[m];
                m++;
            }
            s0 = i + 1;
        }
    qy_encoding *encs = qy_calloc(m ? m : 1, sizeof *encs);
    for (int th = 1; th <= threads; th += (threads > 1 ? threads - 1 : 1)) {
        qy_pool *pool;
        qy_pool_new(th, &pool);
        double b = 1e30, bcpu = 1e30;
        size_t ntok = 0;
        for (int r = 0; r < repeat; r++) {
            memset(encs, 0, m * sizeof *encs);
            double c0 = cpu_seconds();
            uint64_t t0 = qy_now_ns();
            if (qy_tokenizer_encode_batch(tok, lines, lens, m, NULL, pool, encs)) {
                fprintf(stderr, "bench_tok: %s\n", qy_errmsg());
                return 1;
            }
            double s = qy_seconds_since(t0), cs = cpu_seconds() - c0;
            if (s < b) b = s;
            if (cs < bcpu) bcpu = cs;
            ntok = 0;
            for (size_t i = 0; i < m; i++) {
                ntok += encs[i].n;
                qy_encoding_free(&encs[i]);
            }
        }
        printf("quarry batch of %zu lines, %d thread%s: best of %d %.1f MB/s wall, %.1f MB per CPU-second "
               "(%zu tokens, with offsets)\n",
               m, th, th > 1 ? "s" : "", repeat, mbs(lbytes, b), mbs(lbytes, bcpu), ntok);
        qy_pool_free(pool);
        if (threads == 1) break;
    }
    qy_free(encs);
    qy_free(lines);
    qy_free(lens);
    qy_free(ids);
    qy_free(text);
    qy_tokenizer_free(tok);
    return 0;
}
