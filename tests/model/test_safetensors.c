/* test_safetensors.c — the safetensors reader and writer.
 *
 * Peers: the fixture files were written by transformers' save_pretrained (the
 * reference safetensors implementation); reading then writing each must give
 * the same bytes. Half-precision conversion is held to a brute-force nearest
 * search over every representable value. Hostile headers each get their own
 * error, and every allocation failure is survived without a leak. */
#include <math.h>
#include <unistd.h>

#include "model/lm_test_util.h"

/* ------------------------------------------------------ half precision */

static void test_f16_known_values(void **state) {
    (void)state;
    assert_true(qy_f16_to_f32(0x3c00) == 1.0f);
    assert_true(qy_f16_to_f32(0xc000) == -2.0f);
    assert_true(qy_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(qy_f16_to_f32(0x0400) == ldexpf(1, -14));
    assert_true(qy_f16_to_f32(0x0001) == ldexpf(1, -24));
    assert_true(qy_f16_to_f32(0x03ff) == ldexpf(1023, -24));
    assert_true(isinf(qy_f16_to_f32(0x7c00)) && qy_f16_to_f32(0xfc00) < 0);
    assert_true(isnan(qy_f16_to_f32(0x7e00)));
    assert_true(qy_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(qy_bf16_to_f32(0xc049) == -3.140625f);
    assert_int_equal(qy_f32_to_f16(65519.99f), 0x7bff);      /* below the rounding boundary */
    assert_int_equal(qy_f32_to_f16(65520.0f), 0x7c00);       /* halfway to 2^16 rounds to inf */
    assert_int_equal(qy_f32_to_f16(ldexpf(1, -25)), 0x0000); /* tie with 0: even */
    assert_int_equal(qy_f32_to_f16(ldexpf(3, -26)), 0x0001);
    assert_int_equal(qy_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(qy_f32_to_bf16(1.0f + ldexpf(1, -8)), 0x3f80); /* tie: even */
    assert_int_equal(qy_f32_to_bf16(1.0f + ldexpf(3, -8)), 0x3f82); /* tie: even up */
    assert_int_equal(qy_f32_to_bf16(3.4028235e38f), 0x7f80);        /* overflow to inf */
}

/* every half value survives f16 -> f32 -> f16 (NaN stays NaN) */
static void test_half_roundtrip_all(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qy_f16_to_f32((uint16_t)h);
        uint16_t back = qy_f32_to_f16(f);
        if (isnan(f))
            assert_true(isnan(qy_f16_to_f32(back)));
        else
            assert_int_equal(back, h);
        float g = qy_bf16_to_f32((uint16_t)h);
        uint16_t gb = qy_f32_to_bf16(g);
        if (isnan(g))
            assert_true(isnan(qy_bf16_to_f32(gb)));
        else
            assert_int_equal(gb, h);
    }
}

/* the bulk widening equals the scalar reference on all patterns, at odd offsets */
static void test_bulk_widening(void **state) {
    (void)state;
    uint8_t *raw = malloc(2 * 65536 + 1);
    float *a = malloc(65536 * sizeof(float)), *b = malloc(65536 * sizeof(float));
    assert_true(raw && a && b);
    for (uint32_t h = 0; h < 65536; h++) {
        raw[1 + 2 * h] = (uint8_t)(h & 0xff);
        raw[2 + 2 * h] = (uint8_t)(h >> 8);
    }
    for (size_t len = 65536; len > 0; len = len > 1000 ? len - 777 : len - 1) {
        qy_f16_to_f32_n(raw + 1, a, len);
        for (size_t i = 0; i < len; i++) b[i] = qy_f16_to_f32((uint16_t)i);
        assert_memory_equal(a, b, len * sizeof(float));
        qy_bf16_to_f32_n(raw + 1, a, len);
        for (size_t i = 0; i < len; i++) b[i] = qy_bf16_to_f32((uint16_t)i);
        assert_memory_equal(a, b, len * sizeof(float));
        if (len < 1000) break; /* short tails were covered on the way down */
    }
    free(raw);
    free(a);
    free(b);
}

/* nearest f16 by brute force over the sorted finite positive values, ties to even */
static uint16_t f16_nearest_reference(float x) {
    double ax = fabs((double)x);
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    if (ax >= 65520.0) return sign | 0x7c00;
    uint16_t lo = 0, hi = 0x7bff;
    while (lo < hi) { /* largest value <= ax */
        uint16_t mid = (uint16_t)((lo + hi + 1) / 2);
        if ((double)qy_f16_to_f32(mid) <= ax)
            lo = mid;
        else
            hi = (uint16_t)(mid - 1);
    }
    if (lo == 0x7bff) return sign | lo;
    double a = qy_f16_to_f32(lo), b = qy_f16_to_f32((uint16_t)(lo + 1));
    if (ax - a < b - ax) return sign | lo;
    if (ax - a > b - ax) return sign | (uint16_t)(lo + 1);
    return sign | ((lo & 1) ? (uint16_t)(lo + 1) : lo);
}

static void test_f16_rounding_against_brute_force(void **state) {
    (void)state;
    qy_rng r;
    qy_rng_seed(&r, 5);
    for (int i = 0; i < 200000; i++) {
        /* random exponents across the half range, random mantissas */
        float x = ldexpf((float)(1.0 + qy_rng_double(&r)), (int)qy_rng_below(&r, 46) - 30);
        if (qy_rng_u32(&r) & 1) x = -x;
        assert_int_equal(qy_f32_to_f16(x), f16_nearest_reference(x));
    }
    /* every exact midpoint between neighbours (exact in f32) */
    for (uint16_t h = 0; h < 0x7bff; h++) {
        float mid = (float)(((double)qy_f16_to_f32(h) + qy_f16_to_f32((uint16_t)(h + 1))) / 2);
        assert_int_equal(qy_f32_to_f16(mid), f16_nearest_reference(mid));
        assert_int_equal(qy_f32_to_f16(mid), (h & 1) ? h + 1 : h);
    }
}

static void test_bf16_rounding(void **state) {
    (void)state;
    qy_rng r;
    qy_rng_seed(&r, 9);
    for (int i = 0; i < 100000; i++) {
        uint32_t bits = qy_rng_u32(&r) & 0x7f7fffffu; /* finite */
        float x;
        memcpy(&x, &bits, 4);
        uint16_t got = qy_f32_to_bf16(x);
        uint16_t down = (uint16_t)(bits >> 16), up = (uint16_t)(down + 1);
        /* above the largest finite value, "up" is 2^128 as if the exponent went on (IEEE overflow) */
        double a = qy_bf16_to_f32(down), b = up == 0x7f80 ? ldexp(1, 128) : qy_bf16_to_f32(up), v = x;
        uint16_t want = v - a < b - v ? down : v - a > b - v ? up : ((down & 1) ? up : down);
        assert_int_equal(got, want);
    }
}

/* --------------------------------------------------------------- writer */

static const char expected_header[] =
    "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"a \\\"b\\\"\\n\\u0001\"},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[24,24]},"
    "\"half\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[24,30]},"
    "\"a\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[30,32]},"
    "\"ids\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[32,34]}}";

static void build_small(qy_st_writer *w, const float *wdata, const float *hdata, const uint8_t *ids) {
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s0[1] = {0}, s2[1] = {2};
    assert_int_equal(qy_st_writer_add_f32(w, "w", QY_ST_F32, 2, s23, wdata), QY_OK);
    assert_int_equal(qy_st_writer_add_f32(w, "half", QY_ST_BF16, 1, s3, hdata), QY_OK);
    assert_int_equal(qy_st_writer_add_f32(w, "a", QY_ST_F16, 0, NULL, hdata), QY_OK);
    assert_int_equal(qy_st_writer_add_f32(w, "z", QY_ST_F32, 1, s0, NULL), QY_OK);
    assert_int_equal(qy_st_writer_add(w, "ids", QY_ST_U8, 1, s2, ids, 2), QY_OK);
    assert_int_equal(qy_st_writer_set_metadata(w, "format", "np"), QY_OK);
    assert_int_equal(qy_st_writer_set_metadata(w, "note", "a \"b\"\n\x01"), QY_OK);
    assert_int_equal(qy_st_writer_set_metadata(w, "format", "pt"), QY_OK); /* replaces */
}

static void test_writer_layout_and_readback(void **state) {
    (void)state;
    uint64_t blocks = live_blocks();
    float wdata[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
    float hdata[3] = {1.0f, -2.5f, 3.140625f};
    uint8_t ids[2] = {7, 250};
    qy_st_writer *w;
    assert_int_equal(qy_st_writer_new(&w), QY_OK);
    build_small(w, wdata, hdata, ids);
    int64_t s1[1] = {1};
    expect_error(qy_st_writer_add_f32(w, "w", QY_ST_F32, 1, s1, wdata), QY_ERR_ARG, "'w' added twice", NULL);
    expect_error(qy_st_writer_add(w, "x", QY_ST_F32, 1, s1, wdata, 3), QY_ERR_ARG,
                 "3 bytes given, its shape needs 4", NULL);
    expect_error(qy_st_writer_add_f32(w, "y", QY_ST_I32, 1, s1, wdata), QY_ERR_ARG, "F32, F16 or BF16", NULL);
    uint8_t *buf;
    size_t len;
    assert_int_equal(qy_st_writer_serialize(w, &buf, &len), QY_OK);
    size_t hlen = strlen(expected_header);
    size_t padded = (hlen + 8 + 7) / 8 * 8 - 8;
    assert_int_equal(len, 8 + padded + 34);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | buf[i];
    assert_int_equal(n, padded);
    assert_memory_equal(buf + 8, expected_header, hlen);
    for (size_t i = hlen; i < padded; i++) assert_int_equal(buf[8 + i], ' ');

    qy_st_file *f;
    assert_int_equal(qy_st_parse(buf, len, "mem", &f), QY_OK);
    assert_int_equal(qy_st_count(f), 5);
    assert_string_equal(qy_st_metadata(f, "format"), "pt");
    assert_string_equal(qy_st_metadata(f, "note"), "a \"b\"\n\x01");
    assert_null(qy_st_metadata(f, "absent"));
    const qy_st_tensor *t;
    float out[6];
    assert_int_equal(qy_st_get(f, "w", &t), QY_OK);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(qy_st_read_f32(t, out, 6), QY_OK);
    assert_memory_equal(out, wdata, sizeof wdata);
    assert_int_equal(qy_st_get(f, "half", &t), QY_OK);
    assert_int_equal(qy_st_read_f32(t, out, 3), QY_OK);
    assert_memory_equal(out, hdata, sizeof hdata); /* exactly representable in bf16 */
    assert_int_equal(qy_st_get(f, "a", &t), QY_OK);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    assert_int_equal(qy_st_read_f32(t, out, 1), QY_OK);
    assert_true(out[0] == 1.0f);
    expect_error(qy_st_read_f32(t, out, 2), QY_ERR_ARG, "has 1 elements", NULL);
    assert_int_equal(qy_st_get(f, "ids", &t), QY_OK);
    assert_int_equal(t->data[1], 250);
    expect_error(qy_st_read_f32(t, out, 2), QY_ERR_UNSUPPORTED, "'ids' is U8", NULL);
    expect_error(qy_st_get(f, "nope", &t), QY_ERR_NOT_FOUND, "mem: no tensor 'nope'", NULL);

    /* read back and write again: same bytes */
    qy_st_writer *w2;
    assert_int_equal(qy_st_writer_new(&w2), QY_OK);
    assert_int_equal(qy_st_writer_add_file(w2, f), QY_OK);
    uint8_t *buf2;
    size_t len2;
    assert_int_equal(qy_st_writer_serialize(w2, &buf2, &len2), QY_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(buf2, buf, len);
    qy_free(buf2);
    qy_st_writer_free(w2);
    qy_st_close(f);
    qy_free(buf);
    qy_st_writer_free(w);
    assert_int_equal(live_blocks(), blocks);
}

/* ----------------------------------------------------- hostile headers */

/* image = 8-byte length + header (padded to 8 with spaces unless raw) + data_len bytes */
static uint8_t *image(const char *header, size_t data_len, size_t *len) {
    size_t h = strlen(header);
    size_t padded = (h + 7) / 8 * 8;
    *len = 8 + padded + data_len;
    uint8_t *b = calloc(1, *len);
    assert_non_null(b);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(padded >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, ' ', padded - h);
    return b;
}

static void expect_parse_error(const char *header, size_t data_len, int status, const char *needle) {
    size_t len;
    uint8_t *b = image(header, data_len, &len);
    qy_st_file *f = (qy_st_file *)1;
    uint64_t blocks = live_blocks();
    int st = qy_st_parse(b, len, "bad.safetensors", &f);
    if (st != status || !strstr(qy_errmsg(), needle) || !strstr(qy_errmsg(), "bad.safetensors")) {
        print_error("header %s\n  status %d message '%s'\n  wanted %d with '%s'\n", header, st, qy_errmsg(),
                    status, needle);
        fail();
    }
    assert_null(f);
    assert_int_equal(live_blocks(), blocks);
    free(b);
}

static void test_bad_headers(void **state) {
    (void)state;
    const char *T = "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    char h[512];
    snprintf(h, sizeof h, "{%s}", T);
    size_t blen;
    uint8_t *base = image(h, 8, &blen);
    qy_st_file *f;
    assert_int_equal(qy_st_parse(base, blen, "ok", &f), QY_OK); /* the base case parses */
    qy_st_close(f);
    free(base);
    expect_parse_error("{\"t\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                       QY_ERR_UNSUPPORTED, "tensor 't': dtype 'Q4_K' is not one quarry reads (known: BOOL");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, QY_ERR_FORMAT,
                       "tensor 't': shape[0]: expected a non-negative integer");
    expect_parse_error(
        "{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
        QY_ERR_RANGE, "absurd number of elements");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,2,3,4,5,6,7,8,9],\"data_offsets\":[0,8]}}", 8,
                       QY_ERR_RANGE, "9 dimensions");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, QY_ERR_FORMAT,
                       "data_offsets [0, 16] reach past the data region of 8 bytes");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, QY_ERR_FORMAT,
                       "shape [3] of F32 needs 12 bytes but data_offsets span 8");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, QY_ERR_FORMAT,
                       "end before they begin");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.5,8]}}", 8, QY_ERR_FORMAT,
                       "data_offsets: expected [begin, end]");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, QY_ERR_FORMAT,
                       "data_offsets: expected");
    expect_parse_error("{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, QY_ERR_FORMAT,
                       "dtype: expected a string");
    expect_parse_error("{\"t\":[1]}", 8, QY_ERR_FORMAT, "expected an object {dtype, shape, data_offsets}");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                       8, QY_ERR_FORMAT, "tensors 'a' and 'b' overlap");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, QY_ERR_FORMAT,
                       "bytes 0..4 of the data region belong to no tensor");
    expect_parse_error(h, 12, QY_ERR_FORMAT, "4 bytes after the last tensor belong to no tensor");
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                       8, QY_ERR_FORMAT, "tensor 't' appears twice");
    expect_parse_error("{\"__metadata__\":{\"format\":1}}", 0, QY_ERR_FORMAT,
                       "__metadata__.format: expected a string");
    expect_parse_error("{\"__metadata__\":[]}", 0, QY_ERR_FORMAT, "__metadata__: expected an object");
    expect_parse_error("{\"t\":", 0, QY_ERR_FORMAT, "invalid JSON");
    expect_parse_error("[1,2]", 0, QY_ERR_FORMAT, "starting with '{'");
    expect_parse_error("{\"\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, QY_ERR_FORMAT,
                       "empty name");
    expect_parse_error("{\"t\xff\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0,
                       QY_ERR_FORMAT, "not valid UTF-8");
    expect_parse_error("{\"t\xed\xa0\x80\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0,
                       QY_ERR_FORMAT, "not valid UTF-8"); /* a UTF-16 surrogate */
    expect_parse_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e16]}}", 8,
                       QY_ERR_FORMAT, "data_offsets: expected");
}

static void test_bad_length_field(void **state) {
    (void)state;
    qy_st_file *f;
    uint8_t tiny[4] = {0};
    expect_error(qy_st_parse(tiny, 4, "tiny.safetensors", &f), QY_ERR_FORMAT,
                 "tiny.safetensors: 4 bytes is too short", NULL);
    size_t len;
    uint8_t *b = image("{}", 0, &len);
    uint64_t huge = 1000000000000ull;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(huge >> (8 * i));
    expect_error(qy_st_parse(b, len, "x.safetensors", &f), QY_ERR_RANGE,
                 "header length 1000000000000 is absurd", NULL);
    b[0] = 64;
    for (int i = 1; i < 8; i++) b[i] = 0;
    expect_error(qy_st_parse(b, len, "x.safetensors", &f), QY_ERR_FORMAT,
                 "header claims 64 bytes but the file holds only 8", NULL);
    b[8 + 3] = '\0'; /* NUL inside the header */
    b[0] = 8;
    expect_error(qy_st_parse(b, len, "x.safetensors", &f), QY_ERR_FORMAT, "NUL byte", NULL);
    free(b);
    b = image("{}", 0, &len);
    assert_int_equal(qy_st_parse(b, len, "empty", &f), QY_OK); /* a file with no tensors is valid */
    assert_int_equal(qy_st_count(f), 0);
    assert_null(qy_st_find(f, "x"));
    qy_st_close(f);
    free(b);
}

/* ------------------------------------------------------------ fixtures */

static void test_fixture_roundtrip_identical(void **state) {
    (void)state;
    char dir[4096], path[4200], tmp[256], out[512];
    int seen = 0;
    make_tmpdir(tmp, sizeof tmp);
    for (int m = 0; m < N_FIXTURE_MODELS; m++) {
        if (!fixture_dir(fixture_models[m], dir, sizeof dir)) continue;
        seen++;
        uint64_t blocks = live_blocks();
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        qy_st_file *f;
        assert_int_equal(qy_st_open_dir(dir, &f), QY_OK);
        assert_string_equal(qy_st_metadata(f, "format"), "pt");
        qy_st_writer *w;
        assert_int_equal(qy_st_writer_new(&w), QY_OK);
        assert_int_equal(qy_st_writer_add_file(w, f), QY_OK);
        snprintf(out, sizeof out, "%s/%s.safetensors", tmp, fixture_models[m]);
        assert_int_equal(qy_st_writer_write(w, out), QY_OK);
        expect_same_file(path, out); /* byte-identical to save_pretrained's file */
        /* and every tensor reads back the same through f32 */
        qy_st_file *g;
        assert_int_equal(qy_st_open(out, &g), QY_OK);
        assert_int_equal(qy_st_count(g), qy_st_count(f));
        for (size_t i = 0; i < qy_st_count(f); i++) {
            const qy_st_tensor *t = qy_st_at(f, i), *u = qy_st_find(g, t->name);
            assert_non_null(u);
            assert_int_equal(u->nbytes, t->nbytes);
            assert_memory_equal(u->data, t->data, t->nbytes);
        }
        qy_st_close(g);
        qy_st_writer_free(w);
        qy_st_close(f);
        assert_int_equal(live_blocks(), blocks);
    }
    rm_rf(tmp);
    if (!seen) skip();
}

static void test_fixture_truncated(void **state) {
    (void)state;
    char dir[4096], path[4200];
    if (!fixture_dir("llama-tiny", dir, sizeof dir)) skip();
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    char *a;
    size_t la;
    assert_int_equal(qy_read_file(path, 0, &a, &la), QY_OK);
    qy_st_file *f;
    expect_error(qy_st_parse((const uint8_t *)a, la / 2, "llama.safetensors", &f), QY_ERR_FORMAT,
                 "llama.safetensors: tensor '", "reach past the data region", NULL);
    expect_error(qy_st_parse((const uint8_t *)a, 1000, "llama.safetensors", &f), QY_ERR_FORMAT,
                 "header claims 2144 bytes but the file holds only 992", NULL);
    expect_error(qy_st_parse((const uint8_t *)a, la - 1, "llama.safetensors", &f), QY_ERR_FORMAT,
                 "reach past the data region", NULL);
    qy_free(a);
}

/* -------------------------------------------------------------- sharding */

static void test_sharded_write_and_read(void **state) {
    (void)state;
    uint64_t blocks = live_blocks();
    char tmp[256], p[512];
    make_tmpdir(tmp, sizeof tmp);
    enum { NT = 7 };
    float data[NT][100];
    qy_st_writer *w;
    assert_int_equal(qy_st_writer_new(&w), QY_OK);
    for (int t = 0; t < NT; t++) {
        char name[32];
        int64_t shape[2] = {10, 10};
        for (int i = 0; i < 100; i++) data[t][i] = (float)(t * 1000 + i) / 7.0f;
        snprintf(name, sizeof name, "layer.%d.weight", t);
        assert_int_equal(qy_st_writer_add_f32(w, name, t == 3 ? QY_ST_BF16 : QY_ST_F32, 2, shape, data[t]),
                         QY_OK);
    }
    assert_int_equal(qy_st_writer_set_metadata(w, "format", "pt"), QY_OK);
    /* a single file first, then shards of at most 1000 bytes replace it */
    assert_int_equal(qy_st_writer_write_dir(w, tmp, 0), QY_OK);
    snprintf(p, sizeof p, "%s/model.safetensors", tmp);
    assert_true(qy_file_exists(p));
    assert_int_equal(qy_st_writer_write_dir(w, tmp, 1000), QY_OK);
    assert_false(qy_file_exists(p));
    snprintf(p, sizeof p, "%s/model-00003-of-00003.safetensors", tmp);
    assert_true(
        qy_file_exists(p)); /* six 400-byte F32 tensors pair up; the 200-byte BF16 one fits the last */
    qy_st_file *f;
    assert_int_equal(qy_st_open_dir(tmp, &f), QY_OK);
    assert_int_equal(qy_st_count(f), NT);
    assert_string_equal(qy_st_metadata(f, "format"), "pt");
    float out[100];
    for (int t = 0; t < NT; t++) {
        char name[32];
        snprintf(name, sizeof name, "layer.%d.weight", t);
        const qy_st_tensor *x;
        assert_int_equal(qy_st_get(f, name, &x), QY_OK);
        assert_int_equal(qy_st_read_f32(x, out, 100), QY_OK);
        for (int i = 0; i < 100; i++)
            assert_true(out[i] == (t == 3 ? qy_bf16_to_f32(qy_f32_to_bf16(data[t][i])) : data[t][i]));
    }
    assert_int_equal(qy_st_total_bytes(f), 6 * 400 + 200);
    qy_st_close(f);

    /* a broken index: each inconsistency is named */
    char index[512];
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", tmp);
    char *text;
    size_t len;
    assert_int_equal(qy_read_file(index, 0, &text, &len), QY_OK);
    char *edit = strdup(text);
    char *at = strstr(edit, "\"layer.0.weight\": \"model-");
    assert_non_null(at);
    at[strlen("\"layer.0.weight\": \"model-0000")] = '9'; /* a shard that does not exist */
    assert_int_equal(qy_write_file_atomic(index, edit, len), QY_OK);
    expect_error(qy_st_open_dir(tmp, &f), QY_ERR_NOT_FOUND,
                 "shard model-00009-of-00003.safetensors is listed", NULL);
    strcpy(edit, text);
    at = strstr(edit, "\"layer.0.weight\": \"model-");
    at[strlen("\"layer.0.weight\": \"model-0000")] =
        at[strlen("\"layer.0.weight\": \"model-0000")] == '1' ? '2' : '1';
    assert_int_equal(qy_write_file_atomic(index, edit, len), QY_OK);
    expect_error(qy_st_open_dir(tmp, &f), QY_ERR_FORMAT, "tensor 'layer.0.weight' is listed in model-0000",
                 NULL);
    strcpy(edit, text);
    at = strstr(edit, "\"layer.0.weight\": \"model-");
    memcpy(at + strlen("\"layer.0.weight\": \""), "../x/", 5);
    assert_int_equal(qy_write_file_atomic(index, edit, len), QY_OK);
    expect_error(qy_st_open_dir(tmp, &f), QY_ERR_FORMAT, "is not a file name in the model folder", NULL);
    strcpy(edit, text);
    at = strstr(edit, "\"layer.0.weight\"");
    memcpy(at, "\"layer.X", 8);
    assert_int_equal(qy_write_file_atomic(index, edit, len), QY_OK);
    expect_error(qy_st_open_dir(tmp, &f), QY_ERR_FORMAT, "tensor 'layer.X.weight' is listed in", NULL);
    free(edit);
    qy_free(text);
    unlink(index);
    expect_error(qy_st_open_dir(tmp, &f), QY_ERR_NOT_FOUND,
                 "no model.safetensors or model.safetensors.index.json", NULL);
    qy_st_writer_free(w);
    rm_rf(tmp);
    expect_error(qy_st_open("/nonexistent/model.safetensors", &f), QY_ERR_NOT_FOUND,
                 "/nonexistent/model.safetensors", NULL);
    assert_int_equal(live_blocks(), blocks);
}

static int index_parse(const char *text, qy_st_index **ix) {
    return qy_st_index_parse(text, strlen(text), "index.json", ix);
}

static void test_index_parse(void **state) {
    (void)state;
    uint64_t blocks = live_blocks();
    qy_st_index *ix;
    assert_int_equal(
        index_parse(
            "{\"metadata\":{\"total_size\":12},\"weight_map\":{\"b\":\"s2\",\"a\":\"s1\",\"c\":\"s2\"}}",
            &ix),
        QY_OK);
    assert_int_equal(qy_st_index_count(ix), 3);
    assert_int_equal(qy_st_index_shard_count(ix), 2);
    assert_string_equal(qy_st_index_shard(ix, 0), "s2");
    const char *name;
    size_t shard;
    qy_st_index_at(ix, 1, &name, &shard);
    assert_string_equal(name, "a");
    assert_int_equal(shard, 1);
    qy_st_index_free(ix);
    expect_error(index_parse("{\"weight_map\":{\"a\":\"s1\",\"a\":\"s2\"}}", &ix), QY_ERR_FORMAT,
                 "index.json: .weight_map lists tensor 'a' twice", NULL);
    expect_error(index_parse("{\"weight_map\":{\"a\":\"../s1\"}}", &ix), QY_ERR_FORMAT,
                 ".weight_map.a: '../s1' is not a file name in the model folder", NULL);
    expect_error(index_parse("{\"weight_map\":{\"a\":\"/etc/passwd\"}}", &ix), QY_ERR_FORMAT,
                 "is not a file name", NULL);
    expect_error(index_parse("{\"weight_map\":{\"a\":3}}", &ix), QY_ERR_FORMAT,
                 ".weight_map.a: expected a file name", NULL);
    expect_error(index_parse("{\"weight_map\":{}}", &ix), QY_ERR_FORMAT, ".weight_map: is empty", NULL);
    expect_error(index_parse("{\"metadata\":{}}", &ix), QY_ERR_NOT_FOUND, "index.json: .weight_map: missing",
                 NULL);
    expect_error(index_parse("{\"weight_map\":[]}", &ix), QY_ERR_FORMAT, ".weight_map: expected object",
                 NULL);
    assert_int_equal(live_blocks(), blocks);
}

/* ------------------------------------------------- allocation failures */

static void test_alloc_failures(void **state) {
    (void)state;
    float wdata[6] = {1, 2, 3, 4, 5, 6}, hdata[3] = {1, 2, 3};
    uint8_t ids[2] = {1, 2};
    qy_st_writer *w0;
    assert_int_equal(qy_st_writer_new(&w0), QY_OK);
    build_small(w0, wdata, hdata, ids);
    uint8_t *img;
    size_t len;
    assert_int_equal(qy_st_writer_serialize(w0, &img, &len), QY_OK);
    qy_st_writer_free(w0);
    int ok_parse = 0, ok_write = 0;
    for (long n = 0; n < 400 && !(ok_parse && ok_write); n++) {
        uint64_t blocks = live_blocks();
        qy_st_file *f = NULL;
        qy_alloc_fail_after(n, 0);
        int st = qy_st_parse(img, len, "mem", &f);
        qy_alloc_fail_after(-1, 0);
        if (st == QY_OK) {
            ok_parse = 1;
            qy_st_close(f);
        } else {
            assert_int_equal(st, QY_ERR_NOMEM);
            assert_null(f);
        }
        assert_int_equal(live_blocks(), blocks);

        qy_alloc_fail_after(n, 0);
        qy_st_writer *w = NULL;
        st = qy_st_writer_new(&w);
        uint8_t *buf = NULL;
        size_t blen;
        int64_t s6[1] = {6};
        if (!st) st = qy_st_writer_add_f32(w, "w", QY_ST_BF16, 1, s6, wdata);
        if (!st) st = qy_st_writer_set_metadata(w, "format", "pt");
        if (!st) st = qy_st_writer_serialize(w, &buf, &blen);
        qy_alloc_fail_after(-1, 0);
        if (st == QY_OK)
            ok_write = 1;
        else
            assert_int_equal(st, QY_ERR_NOMEM);
        qy_free(buf);
        qy_st_writer_free(w);
        assert_int_equal(live_blocks(), blocks);
    }
    assert_true(ok_parse && ok_write);
    qy_free(img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_known_values),
        cmocka_unit_test(test_half_roundtrip_all),
        cmocka_unit_test(test_bulk_widening),
        cmocka_unit_test(test_f16_rounding_against_brute_force),
        cmocka_unit_test(test_bf16_rounding),
        cmocka_unit_test(test_writer_layout_and_readback),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_bad_length_field),
        cmocka_unit_test(test_fixture_roundtrip_identical),
        cmocka_unit_test(test_fixture_truncated),
        cmocka_unit_test(test_sharded_write_and_read),
        cmocka_unit_test(test_index_parse),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
