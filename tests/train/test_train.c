/* The train layer: token shards (round trip, every corruption detected, hostile
 * headers), text/JSONL preparation with loss masks, the loader's determinism and
 * restorable state, the trainer's loss against a hand computation, and resume:
 * N steps straight equal N/2 + checkpoint + resume + N/2 byte for byte. OOM walks
 * over the shard writer/reader, the loader and a checkpoint round trip. */
#include <math.h>
#include <unistd.h>
#include <xxhash.h>

#include "qy_test.h"
#include "quarry/train.h"
#include "train_test_util.h"

static void write_text(const char *path, const char *text) {
    assert_int_equal(qy_write_file_atomic(path, text, strlen(text)), QY_OK);
}

static int write_two_docs(const char *path) {
    qy_shard_writer *w;
    int st = qy_shard_writer_open(path, 10, 1, &w);
    if (st) return st;
    int32_t a[] = {1, 2, 3, 4, 5}, b[] = {9, 8, 7};
    uint8_t ma[] = {0, 0, 1, 1, 1};
    st = qy_shard_writer_add(w, a, ma, 5);
    if (!st) st = qy_shard_writer_add(w, b, NULL, 3);
    if (st) {
        qy_shard_writer_free(w);
        return st;
    }
    return qy_shard_writer_commit(w);
}

static void test_shard_roundtrip(void **state) {
    (void)state;
    const char *p = tmp("two.qyt");
    assert_int_equal(write_two_docs(p), QY_OK);
    qy_shard *s;
    if (qy_shard_open(p, &s)) fail_msg("%s", qy_errmsg());
    assert_int_equal(qy_shard_ntokens(s), 8);
    assert_int_equal(qy_shard_ndocs(s), 2);
    assert_int_equal(qy_shard_vocab(s), 10);
    const uint32_t want[] = {1, 2, 3, 4, 5, 9, 8, 7};
    for (int i = 0; i < 8; i++) assert_int_equal(qy_shard_tokens(s)[i], want[i]);
    const uint8_t wm[] = {0, 0, 1, 1, 1, 1, 1, 1};
    assert_memory_equal(qy_shard_mask(s), wm, 8);
    assert_int_equal(qy_shard_docs(s)[0], 0);
    assert_int_equal(qy_shard_docs(s)[1], 5);
    assert_int_equal(qy_shard_docs(s)[2], 8);
    /* the arrays are 64-byte aligned in the file (mmap-friendly) */
    assert_int_equal(((uintptr_t)qy_shard_mask(s)) % 64, 0);
    assert_int_equal(((uintptr_t)qy_shard_docs(s)) % 64, 0);
    qy_shard_close(s);
}

static void expect_open_error(const char *path, int want, const char *needle) {
    qy_shard *s = NULL;
    int st = qy_shard_open(path, &s);
    if (st != want || !strstr(qy_errmsg(), needle))
        fail_msg("%s: expected %d with '%s', got %d: %s", path, want, needle, st, qy_errmsg());
    assert_null(s);
}

static void test_shard_corruption(void **state) {
    (void)state;
    const char *p = tmp("good.qyt");
    assert_int_equal(write_two_docs(p), QY_OK);
    char *buf;
    size_t len;
    assert_int_equal(qy_read_file(p, 0, &buf, &len), QY_OK);
    const char *q = tmp("bad.qyt");
    /* wrong magic */
    buf[0] = 'X';
    assert_int_equal(qy_write_file_atomic(q, buf, len), QY_OK);
    expect_open_error(q, QY_ERR_FORMAT, "magic");
    buf[0] = 'Q';
    /* one flipped data byte */
    buf[130] ^= 1;
    assert_int_equal(qy_write_file_atomic(q, buf, len), QY_OK);
    expect_open_error(q, QY_ERR_FORMAT, "data checksum mismatch");
    buf[130] ^= 1;
    /* a header field changed */
    buf[24] ^= 4;
    assert_int_equal(qy_write_file_atomic(q, buf, len), QY_OK);
    expect_open_error(q, QY_ERR_FORMAT, "header checksum");
    buf[24] ^= 4;
    /* truncated */
    assert_int_equal(qy_write_file_atomic(q, buf, len - 8), QY_OK);
    expect_open_error(q, QY_ERR_FORMAT, "truncated");
    assert_int_equal(qy_write_file_atomic(q, buf, 40), QY_OK);
    expect_open_error(q, QY_ERR_FORMAT, "not a quarry token shard");
    /* empty and missing */
    assert_int_equal(qy_write_file_atomic(q, "", 0), QY_OK);
    expect_open_error(q, QY_ERR_FORMAT, "not a quarry token shard");
    expect_open_error(tmp("missing.qyt"), QY_ERR_NOT_FOUND, "missing.qyt");
    qy_free(buf);
    /* out-of-vocabulary ids are refused when writing */
    qy_shard_writer *w;
    assert_int_equal(qy_shard_writer_open(tmp("oov.qyt"), 4, 0, &w), QY_OK);
    int32_t ids[] = {1, 4};
    assert_int_equal(qy_shard_writer_add(w, ids, NULL, 2), QY_ERR_RANGE);
    assert_non_null(strstr(qy_errmsg(), "outside the vocabulary"));
    qy_shard_writer_free(w);
    /* an abandoned writer leaves nothing behind, under the name or beside it */
    assert_false(qy_file_exists(tmp("oov.qyt")));
}

static void test_shard_oom(void **state) {
    (void)state;
    const char *p = tmp("oom.qyt");
    int st;
    QY_OOM_WALK(st, { st = write_two_docs(p); }, {});
    qy_shard *s = NULL;
    QY_OOM_WALK(
        st, { st = qy_shard_open(p, &s); },
        {
            qy_shard_close(s);
            s = NULL;
        });
}

static void test_prepare_text_and_pairs(void **state) {
    (void)state;
    /* plain text: the last ~25% (cut at a line break) is held out, EOS appended */
    char txt[256], jl[256];
    snprintf(txt, sizeof txt, "%s", tmp("a.txt"));
    write_text(txt, "line one\nline two\nline three\nend\n");
    qy_prepare_cfg pc = {.vocab_size = 257, .eos_id = 256, .val_fraction = 0.25};
    qy_prepare_stats ps;
    const char *files[] = {txt};
    if (qy_shard_prepare(&pc, files, 1, enc_bytes, NULL, tmp("tr.qyt"), tmp("va.qyt"), &ps))
        fail_msg("%s", qy_errmsg());
    assert_int_equal(ps.train_tokens + ps.val_tokens, strlen("line one\nline two\nline three\nend\n") + 2);
    qy_shard *va;
    assert_int_equal(qy_shard_open(tmp("va.qyt"), &va), QY_OK);
    assert_int_equal(qy_shard_tokens(va)[0], 'e'); /* "end\n" starts a line */
    assert_int_equal(qy_shard_tokens(va)[qy_shard_ntokens(va) - 1], 256);
    qy_shard_close(va);
    /* pairs: the mask covers the response and EOS only */
    snprintf(jl, sizeof jl, "%s", tmp("p.jsonl"));
    write_text(jl,
               "{\"prompt\": \"Q:\", \"response\": \"ab\"}\n\n{\"prompt\": \"x\", \"response\": \"y\"}\n");
    const char *files2[] = {jl};
    pc.val_fraction = 0;
    if (qy_shard_prepare(&pc, files2, 1, enc_bytes, NULL, tmp("pairs.qyt"), NULL, &ps))
        fail_msg("%s", qy_errmsg());
    assert_true(ps.masked);
    assert_int_equal(ps.train_docs, 2);
    qy_shard *s;
    assert_int_equal(qy_shard_open(tmp("pairs.qyt"), &s), QY_OK);
    const uint8_t wm[] = {0, 0, 1, 1, 1};
    assert_memory_equal(qy_shard_mask(s), wm, 5);
    /* the loader gives one sample per document with targets only on the response */
    qy_loader *l;
    assert_int_equal(qy_loader_new(s, 6, 1, 0, &l), QY_OK);
    assert_int_equal(qy_loader_nsamples(l), 2);
    int32_t ids[6], tg[6];
    qy_loader_sample(l, 0, ids, tg);
    const int32_t want_ids[] = {'Q', ':', 'a', 'b', 256, 0}, want_tg[] = {-100, 'a', 'b', 256, -100, -100};
    assert_memory_equal(ids, want_ids, sizeof want_ids);
    assert_memory_equal(tg, want_tg, sizeof want_tg);
    qy_loader_free(l);
    qy_shard_close(s);
    /* out of memory anywhere in the preparation: NOMEM, no leak */
    int st;
    QY_OOM_WALK(st, { st = qy_shard_prepare(&pc, files2, 1, enc_bytes, NULL, tmp("oom.qyt"), NULL, &ps); },
                {});
    /* mixing and malformed records are named */
    write_text(jl, "{\"text\": \"abc\"}\n{\"prompt\": \"x\", \"response\": \"y\"}\n");
    assert_int_equal(qy_shard_prepare(&pc, files2, 1, enc_bytes, NULL, tmp("m.qyt"), NULL, &ps),
                     QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "line 2"));
    write_text(jl, "{\"text\": \"abc\"}\n{\"txt\": 1}\n");
    assert_int_equal(qy_shard_prepare(&pc, files2, 1, enc_bytes, NULL, tmp("m.qyt"), NULL, &ps),
                     QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "line 2"));
    write_text(jl, "{\"text\": \"abc\"\n");
    assert_int_equal(qy_shard_prepare(&pc, files2, 1, enc_bytes, NULL, tmp("m.qyt"), NULL, &ps),
                     QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "line 1"));
}

/* ---- streaming preparation: a reference shard built here from the format in
 * train.h, byte by byte, to compare the streamed files with */
typedef struct refshard {
    uint8_t *tok, *mask, *docs; /* little-endian sections, grown as records come */
    size_t n, ndocs, cap, dcap;
} refshard;

static void le(uint8_t *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void ref_add(refshard *r, const char *text, size_t len, const char *masked_from, uint32_t eos) {
    size_t n = len + 1;
    if (r->n + n > r->cap) {
        r->cap = (r->n + n) * 2;
        r->tok = realloc(r->tok, r->cap * 4);
        r->mask = realloc(r->mask, r->cap);
    }
    if (r->ndocs + 2 > r->dcap) {
        r->dcap = (r->ndocs + 2) * 2;
        r->docs = realloc(r->docs, r->dcap * 8);
    }
    le(r->docs + 8 * r->ndocs++, r->n, 8);
    for (size_t i = 0; i < n; i++) {
        le(r->tok + 4 * (r->n + i), i < len ? (unsigned char)text[i] : eos, 4);
        r->mask[r->n + i] = !masked_from || i >= (size_t)(masked_from - text);
    }
    r->n += n;
}

/* the whole file: header, tokens, [mask], document starts, 64-byte aligned sections */
static uint8_t *ref_file(refshard *r, int has_mask, uint32_t vocab, size_t *size) {
    size_t tok_off = 128, mask_off = has_mask ? (tok_off + 4 * r->n + 63) / 64 * 64 : 0;
    size_t doc_off = ((has_mask ? mask_off + r->n : tok_off + 4 * r->n) + 63) / 64 * 64;
    *size = doc_off + 8 * (r->ndocs + 1);
    uint8_t *f = calloc(1, *size);
    memcpy(f + tok_off, r->tok, 4 * r->n);
    if (has_mask) memcpy(f + mask_off, r->mask, r->n);
    memcpy(f + doc_off, r->docs, 8 * r->ndocs);
    le(f + doc_off + 8 * r->ndocs, r->n, 8);
    memcpy(f, "QYTOKENS", 8);
    uint64_t fields[] = {1 | (uint64_t)128 << 32,
                         (uint64_t)has_mask | (uint64_t)vocab << 32,
                         r->n,
                         r->ndocs,
                         tok_off,
                         mask_off,
                         doc_off,
                         *size};
    for (int i = 0; i < 8; i++) le(f + 8 + 8 * i, fields[i], 8);
    le(f + 72, XXH64(f + 128, *size - 128, 0), 8);
    le(f + 80, XXH64(f, 80, 0), 8);
    return f;
}

static void expect_same_file(const char *path, refshard *r, int has_mask) {
    size_t want_len, len;
    uint8_t *want = ref_file(r, has_mask, 257, &want_len);
    char *got;
    assert_int_equal(qy_read_file(path, 0, &got, &len), QY_OK);
    assert_int_equal(len, want_len);
    assert_memory_equal(got, want, len);
    qy_free(got);
    free(want);
    free(r->tok);
    free(r->mask);
    free(r->docs);
    memset(r, 0, sizeof *r);
}

static int leftovers(void) { /* temporaries or spill files in tmpdir */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q -e '\\.tmp\\.' -e '\\.spill'", tmpdir);
    return system(cmd) == 0;
}

/* A corpus whose tokens take 12 times the writer's buffer streams into shards
 * byte-identical to the reference, the held-out split included, while the
 * allocator's peak stays under the bound docs/training.md states: the two
 * writers' buffers plus a few KiB for the record at hand. */
static void test_prepare_streams_in_bounded_memory(void **state) {
    (void)state;
    enum { RECORDS = 24000 };
    const size_t bound = 2 * QY_SHARD_WRITER_BUFFER + (64 << 10);
    char jl[256];
    snprintf(jl, sizeof jl, "%s", tmp("big.jsonl"));
    for (int pairs = 0; pairs < 2; pairs++) {
        FILE *f = fopen(jl, "w");
        assert_non_null(f);
        refshard ref[2] = {{0}};
        uint64_t rng = 12345;
        char text[160];
        for (int i = 0; i < RECORDS; i++) {
            size_t len = 0, cut = 0;
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t words = 10 + (size_t)(rng >> 59); /* 10..41 */
            for (size_t w = 0; w < words; w++) {
                if (pairs && w == words / 2) cut = len;
                len += (size_t)snprintf(text + len, sizeof text - len, "%s%c", w ? " " : "",
                                        'a' + (char)((rng >> (w % 50)) % 26));
            }
            if (pairs)
                fprintf(f, "{\"prompt\": \"%.*s\", \"response\": \"%s\"}\n", (int)cut, text, text + cut);
            else
                fprintf(f, "{\"text\": \"%s\"}\n", text);
            ref_add(&ref[i % 10 == 9], text, len, pairs ? text + cut : NULL, 256);
        }
        fclose(f);
        assert_true(ref[0].n * 4 > 12 * QY_SHARD_WRITER_BUFFER);
        qy_prepare_cfg pc = {.vocab_size = 257, .eos_id = 256, .val_fraction = 0.1};
        qy_prepare_stats ps;
        const char *files[] = {jl};
        qy_alloc_stats a0, a1;
        qy_alloc_get_stats(&a0);
        qy_alloc_reset_peak();
        if (qy_shard_prepare(&pc, files, 1, enc_bytes, NULL, tmp("big-tr.qyt"), tmp("big-va.qyt"), &ps))
            fail_msg("%s", qy_errmsg());
        qy_alloc_get_stats(&a1);
        printf("prepare (%s): %llu tokens, peak %.0f KiB above the start (bound %.0f KiB)\n",
               pairs ? "pairs" : "text", (unsigned long long)(ps.train_tokens + ps.val_tokens),
               (double)(a1.peak_bytes - a0.live_bytes) / 1024, (double)bound / 1024);
        assert_true(a1.peak_bytes - a0.live_bytes < bound);
        assert_int_equal(a1.live_blocks, a0.live_blocks);
        assert_int_equal(ps.train_tokens, ref[0].n);
        expect_same_file(tmp("big-tr.qyt"), &ref[0], pairs);
        expect_same_file(tmp("big-va.qyt"), &ref[1], pairs);
        assert_false(leftovers());
    }
    /* a bad line at the end: no shard under either name, nothing beside them */
    remove(tmp("big-tr.qyt"));
    remove(tmp("big-va.qyt"));
    FILE *f = fopen(jl, "a");
    fputs("{\"prompt\": 3}\n", f);
    fclose(f);
    qy_prepare_cfg pc = {.vocab_size = 257, .eos_id = 256, .val_fraction = 0.1};
    qy_prepare_stats ps;
    const char *files[] = {jl};
    assert_int_equal(
        qy_shard_prepare(&pc, files, 1, enc_bytes, NULL, tmp("big-tr.qyt"), tmp("big-va.qyt"), &ps),
        QY_ERR_FORMAT);
    assert_false(qy_file_exists(tmp("big-tr.qyt")));
    assert_false(qy_file_exists(tmp("big-va.qyt")));
    assert_false(leftovers());
}

/* a stream shard of n tokens t_i = i % 7 */
static void make_stream(const char *path, size_t n) {
    qy_shard_writer *w;
    assert_int_equal(qy_shard_writer_open(path, 16, 0, &w), QY_OK);
    int32_t *ids = qy_mallocn(n, sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)(i % 7);
    assert_int_equal(qy_shard_writer_add(w, ids, NULL, n), QY_OK);
    assert_int_equal(qy_shard_writer_commit(w), QY_OK);
    qy_free(ids);
}

static void test_loader_determinism(void **state) {
    (void)state;
    make_stream(tmp("s.qyt"), 101);
    qy_shard *s;
    assert_int_equal(qy_shard_open(tmp("s.qyt"), &s), QY_OK);
    qy_loader *a, *b;
    assert_int_equal(qy_loader_new(s, 10, 5, 1, &a), QY_OK);
    assert_int_equal(qy_loader_nsamples(a), 10);
    /* windows start at multiples of T and targets are the next tokens */
    int32_t ids[30], tg[30], ids2[30], tg2[30];
    uint64_t idx[3], idx2[3];
    qy_loader_sample(a, 3, ids, tg);
    for (int t = 0; t < 10; t++) {
        assert_int_equal(ids[t], (30 + t) % 7);
        assert_int_equal(tg[t], (31 + t) % 7);
    }
    /* an epoch visits every sample once; a restored loader repeats the continuation */
    int seen[10] = {0};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(qy_loader_next(a, 3, ids, tg, idx), QY_OK);
        for (int i = 0; i < 3; i++) seen[idx[i]]++;
    }
    qy_loader_state st = qy_loader_get_state(a);
    assert_int_equal(st.epoch, 0);
    assert_int_equal(st.pos, 9);
    assert_int_equal(qy_loader_new(s, 10, 5, 1, &b), QY_OK);
    assert_int_equal(qy_loader_set_state(b, st), QY_OK);
    for (int k = 0; k < 5; k++) { /* crosses into epoch 1 */
        assert_int_equal(qy_loader_next(a, 3, ids, tg, idx), QY_OK);
        assert_int_equal(qy_loader_next(b, 3, ids2, tg2, idx2), QY_OK);
        assert_memory_equal(idx, idx2, sizeof idx);
        assert_memory_equal(ids, ids2, sizeof ids);
        assert_memory_equal(tg, tg2, sizeof tg);
        if (k == 0) seen[idx[0]]++;
    }
    for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1);
    assert_int_equal(qy_loader_get_state(a).epoch, 2); /* 1 + 10 + 4 samples after position 9 */
    /* the order is a real permutation: not the identity, differs across seeds */
    qy_loader *c;
    assert_int_equal(qy_loader_new(s, 10, 6, 1, &c), QY_OK);
    uint64_t o5[10], o6[10];
    qy_loader_free(a);
    assert_int_equal(qy_loader_new(s, 10, 5, 1, &a), QY_OK);
    int32_t big[100], bigt[100];
    assert_int_equal(qy_loader_next(a, 10, big, bigt, o5), QY_OK);
    assert_int_equal(qy_loader_next(c, 10, big, bigt, o6), QY_OK);
    assert_true(memcmp(o5, o6, sizeof o5) != 0);
    int identity = 1;
    for (int i = 0; i < 10; i++) identity &= o5[i] == (uint64_t)i;
    assert_false(identity);
    assert_int_equal(qy_loader_set_state(b, (qy_loader_state){0, 11}), QY_ERR_ARG);
    /* a shard too short for one window */
    qy_loader *d = NULL;
    assert_int_equal(qy_loader_new(s, 100, 5, 1, &d), QY_OK); /* 101 tokens: exactly one window */
    qy_loader_free(d);
    assert_int_equal(qy_loader_new(s, 101, 5, 1, &d), QY_ERR_ARG);
    assert_non_null(strstr(qy_errmsg(), "no sample"));
    int st2;
    QY_OOM_WALK(
        st2, { st2 = qy_loader_new(s, 10, 5, 1, &d); },
        {
            qy_loader_free(d);
            d = NULL;
        });
    qy_loader_free(a);
    qy_loader_free(b);
    qy_loader_free(c);
    qy_shard_close(s);
}

/* ------------------------------------------------------------- trainer */

static void tiny_config(qy_lm_config *c) {
    static const char json[] =
        "{\"model_type\": \"llama\", \"vocab_size\": 16, \"hidden_size\": 16, \"num_hidden_layers\": 2,"
        " \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"intermediate_size\": 24,"
        " \"max_position_embeddings\": 32, \"rms_norm_eps\": 1e-5, \"hidden_act\": \"silu\","
        " \"tie_word_embeddings\": false}";
    if (qy_lm_config_parse(json, sizeof json - 1, "tiny", c)) fail_msg("%s", qy_errmsg());
}

static void train_cfg(qy_train_cfg *tc, const char *out, int64_t steps) {
    qy_train_cfg_default(tc);
    tc->batch = 3;
    tc->seq_len = 8;
    tc->accum = 2;
    tc->steps = steps;
    tc->warmup = 2;
    tc->lr = 3e-3f;
    tc->eval_every = 3;
    tc->eval_batches = 2;
    tc->ckpt_every = 0;
    tc->seed = 11;
    tc->out_dir = out;
    tc->quiet = 1;
}

/* train `steps` (stopping after stop_after when > 0), optionally resuming; the
 * final parameters are copied into *params (caller frees) */
static void run_training(const char *out, int64_t steps, int64_t stop_after, int resume, float **params,
                         size_t *n) {
    qy_shard *tr, *va;
    assert_int_equal(qy_shard_open(tmp("s.qyt"), &tr), QY_OK);
    assert_int_equal(qy_shard_open(tmp("v.qyt"), &va), QY_OK);
    qy_lm_config c;
    tiny_config(&c);
    qy_lm *lm;
    assert_int_equal(qy_lm_new(&c, 0.05f, 3, &lm), QY_OK);
    qy_pool *pool;
    assert_int_equal(qy_pool_new(2, &pool), QY_OK);
    qy_train_cfg tc;
    train_cfg(&tc, out, steps);
    tc.stop_after = stop_after;
    qy_trainer *t;
    if (qy_trainer_new(lm, tr, va, &tc, pool, &t)) fail_msg("%s", qy_errmsg());
    if (resume) {
        char dir[512];
        assert_int_equal(qy_train_latest_checkpoint(out, dir, sizeof dir), QY_OK);
        if (qy_trainer_load(t, dir)) fail_msg("%s", qy_errmsg());
        assert_int_equal(qy_trainer_step_index(t), stop_after ? stop_after : steps / 2);
    }
    if (qy_trainer_run(t, NULL, NULL)) fail_msg("%s", qy_errmsg());
    qy_params *ps = qy_lm_params(lm);
    *n = qy_params_numel(ps);
    *params = qy_mallocn(*n, sizeof(float));
    size_t off = 0;
    for (size_t i = 0; i < qy_params_count(ps); i++) {
        memcpy(*params + off, qy_params_at(ps, i)->data, qy_params_at(ps, i)->n * sizeof(float));
        off += qy_params_at(ps, i)->n;
    }
    qy_trainer_free(t);
    qy_lm_free(lm);
    qy_pool_free(pool);
    qy_shard_close(tr);
    qy_shard_close(va);
}

static void test_resume_bit_exact(void **state) {
    (void)state;
    make_stream(tmp("s.qyt"), 400);
    make_stream(tmp("v.qyt"), 60);
    float *straight, *resumed;
    size_t n1, n2;
    run_training(tmp("straight"), 8, 0, 0, &straight, &n1);
    run_training(tmp("halves"), 8, 4, 0, &resumed, &n2); /* stops after step 4 with a checkpoint */
    qy_free(resumed);
    run_training(tmp("halves"), 8, 0, 1, &resumed, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(straight, resumed, n1 * sizeof(float));
    /* the training moved the parameters (a test that cannot fail is a defect) */
    qy_lm_config c;
    tiny_config(&c);
    qy_lm *fresh;
    assert_int_equal(qy_lm_new(&c, 0.05f, 3, &fresh), QY_OK);
    assert_true(memcmp(qy_params_at(qy_lm_params(fresh), 0)->data, straight, 16 * sizeof(float)) != 0);
    qy_lm_free(fresh);
    /* the files agree too, and the metrics logs have the same steps */
    char a[600], b[600], cmd[1400];
    snprintf(a, sizeof a, "%s/checkpoints/step-0000008/model.safetensors", tmp("straight"));
    snprintf(b, sizeof b, "%s/checkpoints/step-0000008/model.safetensors", tmp("halves"));
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "test $(grep -c '\"loss\"' %s/metrics.jsonl) -eq 8 && test $(grep -c eval_loss "
             "%s/metrics.jsonl) -eq 3",
             tmp("halves"), tmp("halves"));
    assert_int_equal(system(cmd), 0);
    qy_free(straight);
    qy_free(resumed);
}

static void test_checkpoint_errors(void **state) {
    (void)state;
    make_stream(tmp("s.qyt"), 400);
    make_stream(tmp("v.qyt"), 60);
    float *p;
    size_t n;
    run_training(tmp("ck"), 2, 0, 0, &p, &n);
    qy_free(p);
    char dir[512], path[700];
    assert_int_equal(qy_train_latest_checkpoint(tmp("ck"), dir, sizeof dir), QY_OK);
    snprintf(path, sizeof path, "%s/trainer_state.qyc", dir);
    char *buf;
    size_t len;
    assert_int_equal(qy_read_file(path, 0, &buf, &len), QY_OK);
    qy_shard *tr;
    assert_int_equal(qy_shard_open(tmp("s.qyt"), &tr), QY_OK);
    qy_lm_config c;
    tiny_config(&c);
    qy_lm *lm;
    assert_int_equal(qy_lm_new(&c, 0.05f, 3, &lm), QY_OK);
    qy_train_cfg tc;
    train_cfg(&tc, tmp("ck2"), 4);
    qy_trainer *t;
    assert_int_equal(qy_trainer_new(lm, tr, NULL, &tc, NULL, &t), QY_OK);
    /* truncated */
    assert_int_equal(qy_write_file_atomic(path, buf, len - 100), QY_OK);
    assert_int_equal(qy_trainer_load(t, dir), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "truncated"));
    /* corrupt */
    buf[len / 2] ^= 0x10;
    assert_int_equal(qy_write_file_atomic(path, buf, len), QY_OK);
    assert_int_equal(qy_trainer_load(t, dir), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "checksum"));
    buf[len / 2] ^= 0x10;
    /* wrong magic */
    buf[0] = 'X';
    assert_int_equal(qy_write_file_atomic(path, buf, len), QY_OK);
    assert_int_equal(qy_trainer_load(t, dir), QY_ERR_FORMAT);
    assert_non_null(strstr(qy_errmsg(), "magic"));
    buf[0] = 'Q';
    assert_int_equal(qy_write_file_atomic(path, buf, len), QY_OK);
    qy_trainer_free(t);
    /* a different batch is refused, naming the setting */
    tc.batch = 4;
    assert_int_equal(qy_trainer_new(lm, tr, NULL, &tc, NULL, &t), QY_OK);
    assert_int_equal(qy_trainer_load(t, dir), QY_ERR_ARG);
    assert_non_null(strstr(qy_errmsg(), "batch 3, this run has 4"));
    qy_trainer_free(t);
    /* the right settings load; OOM walk over the load */
    tc.batch = 3;
    assert_int_equal(qy_trainer_new(lm, tr, NULL, &tc, NULL, &t), QY_OK);
    int st;
    QY_OOM_WALK(st, { st = qy_trainer_load(t, dir); }, {});
    assert_int_equal(qy_trainer_step_index(t), 2);
    qy_trainer_free(t);
    /* out of memory while building a trainer (dry run included): NOMEM and no leak.
     * Not QY_OOM_WALK: the tensor engine's backward tolerates a failed allocation of
     * a gradient-recycling node (it just does not recycle), so some injected
     * failures rightly end in success. */
    uint64_t before = qy_test_live_blocks();
    for (long k = 0;; k++) {
        qy_alloc_fail_after(k, 0);
        st = qy_trainer_new(lm, tr, NULL, &tc, NULL, &t);
        long inj = qy_alloc_injected_failures();
        qy_alloc_fail_after(-1, 0);
        if (st != QY_OK && st != QY_ERR_NOMEM)
            fail_msg("allocation %ld failed: status %d (%s)", k, st, qy_errmsg());
        qy_trainer_free(t);
        t = NULL;
        assert_int_equal(qy_test_live_blocks(), before);
        if (!inj) {
            assert_int_equal(st, QY_OK);
            break;
        }
    }
    /* memory budget refused up front, with the numbers */
    tc.max_memory = 1000;
    assert_int_equal(qy_trainer_new(lm, tr, NULL, &tc, NULL, &t), QY_ERR_RANGE);
    assert_non_null(strstr(qy_errmsg(), "--max-memory"));
    assert_null(t);
    /* no checkpoint at all */
    assert_int_equal(qy_train_latest_checkpoint(tmp("nothing"), dir, sizeof dir), QY_ERR_NOT_FOUND);
    qy_free(buf);
    qy_lm_free(lm);
    qy_shard_close(tr);
}

/* the reported loss is the mean cross-entropy of the batch, recomputed here from
 * the forward logits by hand (double precision) */
static void test_step_loss_matches_hand_computation(void **state) {
    (void)state;
    make_stream(tmp("s.qyt"), 400);
    qy_shard *tr;
    assert_int_equal(qy_shard_open(tmp("s.qyt"), &tr), QY_OK);
    qy_lm_config c;
    tiny_config(&c);
    qy_lm *lm;
    assert_int_equal(qy_lm_new(&c, 0.05f, 3, &lm), QY_OK);
    qy_train_cfg tc;
    train_cfg(&tc, tmp("hand"), 1);
    tc.accum = 1;
    qy_trainer *t;
    assert_int_equal(qy_trainer_new(lm, tr, NULL, &tc, NULL, &t), QY_OK);
    /* the samples the first step will see */
    qy_loader *l;
    assert_int_equal(qy_loader_new(tr, 8, 11, 1, &l), QY_OK);
    int32_t ids[24], tg[24];
    assert_int_equal(qy_loader_next(l, 3, ids, tg, NULL), QY_OK);
    qy_graph *g;
    assert_int_equal(qy_graph_new(NULL, &g), QY_OK);
    qy_graph_set_grad_enabled(g, 0);
    qy_lm_batch b = {.B = 3, .T = 8, .ids = ids};
    qy_tensor *logits;
    assert_int_equal(qy_lm_forward(lm, g, &b, NULL, &logits), QY_OK);
    double sum = 0;
    for (int r = 0; r < 24; r++) {
        const float *row = logits->data + r * 16;
        double mx = -INFINITY, z = 0;
        for (int v = 0; v < 16; v++) mx = fmax(mx, row[v]);
        for (int v = 0; v < 16; v++) z += exp(row[v] - mx);
        sum += -(row[tg[r]] - mx - log(z));
    }
    qy_step_stats ss;
    assert_int_equal(qy_trainer_step(t, &ss), QY_OK);
    assert_float_equal(ss.loss, sum / 24, 1e-5);
    assert_int_equal(ss.tokens, 24);
    assert_float_equal(ss.lr, 0.0f, 0); /* warm-up starts at 0 */
    qy_graph_free(g);
    qy_loader_free(l);
    qy_trainer_free(t);
    qy_lm_free(lm);
    qy_shard_close(tr);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_roundtrip),
        cmocka_unit_test(test_shard_corruption),
        cmocka_unit_test(test_shard_oom),
        cmocka_unit_test(test_prepare_text_and_pairs),
        cmocka_unit_test(test_prepare_streams_in_bounded_memory),
        cmocka_unit_test(test_loader_determinism),
        cmocka_unit_test(test_resume_bit_exact),
        cmocka_unit_test(test_checkpoint_errors),
        cmocka_unit_test(test_step_loss_matches_hand_computation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
