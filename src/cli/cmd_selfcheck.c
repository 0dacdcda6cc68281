/* cmd_selfcheck.c — `quarry selfcheck`: checks that this build works on this
 * machine (threads, allocator, RNG, JSON, atomic files) and reports what it found. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "quarry/base.h"

typedef struct sum_ctx {
    const double *x;
    double partial[256];
    size_t chunk;
} sum_ctx;

static void sum_range(void *vctx, size_t b, size_t e, int tid) {
    sum_ctx *c = vctx;
    double s = 0;
    for (size_t i = b; i < e; i++) s += c->x[i];
    c->partial[b / c->chunk] = s;
}

/* sum of n values through the pool, partials combined in range order */
static double pool_sum(qy_pool *pool, const double *x, size_t n) {
    sum_ctx c = {.x = x, .chunk = (n + 255) / 256};
    if (c.chunk < 1024) c.chunk = 1024;
    memset(c.partial, 0, sizeof c.partial);
    qy_pool_for(pool, n, c.chunk, sum_range, &c);
    double s = 0;
    for (size_t i = 0; i < 256; i++) s += c.partial[i];
    return s;
}

static int check_threads(int threads, char *detail, size_t cap) {
    size_t n = 1 << 20;
    double *x = qy_mallocn(n, sizeof *x);
    if (!x) return QY_ERR_NOMEM;
    qy_rng r;
    qy_rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++) x[i] = qy_rng_normal(&r);
    qy_pool *p1, *pn;
    int st = qy_pool_new(1, &p1);
    if (st) {
        qy_free(x);
        return st;
    }
    st = qy_pool_new(threads, &pn);
    if (st) {
        qy_pool_free(p1);
        qy_free(x);
        return st;
    }
    double a = pool_sum(p1, x, n), b = pool_sum(pn, x, n);
    snprintf(detail, cap, "%d threads; sum of 2^20 normals bitwise equal at 1 and %d threads",
             qy_pool_threads(pn), qy_pool_threads(pn));
    if (memcmp(&a, &b, sizeof a) != 0)
        st = qy_error(QY_ERR_INTERNAL, "thread pool: sums differ (%.17g vs %.17g)", a, b);
    qy_pool_free(p1);
    qy_pool_free(pn);
    qy_free(x);
    return st;
}

static int check_rng(char *detail, size_t cap) {
    /* reference: SplitMix64 from 0 gives 0xe220a8397b1dcdaf first (Vigna's splitmix64.c) */
    qy_rng r, r2;
    qy_rng_seed(&r, 0);
    if (r.s[0] != 0xe220a8397b1dcdafull) return qy_error(QY_ERR_INTERNAL, "rng: SplitMix64 seeding is wrong");
    qy_rng_seed(&r2, 0);
    for (int i = 0; i < 1000; i++)
        if (qy_rng_u64(&r) != qy_rng_u64(&r2)) return qy_error(QY_ERR_INTERNAL, "rng: not deterministic");
    snprintf(detail, cap, "xoshiro256** seeded by SplitMix64, reproducible");
    return QY_OK;
}

static int check_json(char *detail, size_t cap) {
    const char *text = "{\"rope_parameters\": {\"rope_theta\": 10000.0, \"type\": \"default\"}}";
    qy_json *doc;
    int st = qy_json_parse(text, strlen(text), "selfcheck.json", &doc);
    if (st) return st;
    qy_jref root = qy_json_ref(doc);
    double theta = 0;
    st = qy_jref_number(&root, ".rope_parameters.rope_theta", &theta);
    if (!st && theta != 10000.0) st = qy_error(QY_ERR_INTERNAL, "json: wrong value");
    if (!st) {
        double bad;
        if (qy_jref_number(&root, ".rope_parameters.type", &bad) == QY_OK ||
            !strstr(qy_errmsg(), "selfcheck.json: .rope_parameters.type: expected number"))
            st = qy_error(QY_ERR_INTERNAL, "json: type errors are not reported with their path");
    }
    qy_json_free(doc);
    if (!st) snprintf(detail, cap, "cJSON %s, typed getters name the JSON path", cJSON_Version());
    return st;
}

static int check_files(char *detail, size_t cap) {
    char dir[] = "/tmp/quarry-selfcheck-XXXXXX";
    if (!mkdtemp(dir)) return qy_error(QY_ERR_IO, "cannot create a temporary directory in /tmp");
    char path[128];
    snprintf(path, sizeof path, "%s/file.txt", dir);
    int st = qy_write_file_atomic(path, "hello\n", 6);
    qy_mmap m = {0};
    if (!st) st = qy_mmap_open(path, &m);
    if (!st && (m.size != 6 || memcmp(m.data, "hello\n", 6) != 0))
        st = qy_error(QY_ERR_INTERNAL, "files: read back differs");
    qy_mmap_close(&m);
    unlink(path);
    rmdir(dir);
    if (!st) snprintf(detail, cap, "atomic write (fsync + rename + directory fsync) and mmap");
    return st;
}

static int run(int argc, char **argv) {
    qy_cli_spec spec = {.usage = "quarry selfcheck [options]",
                        .description =
                            "Check that this build of quarry works on this machine: thread pool\n"
                            "determinism, allocator accounting, RNG, JSON and atomic file writes;\n"
                            "print which optional parts (BLAS, CUDA, MPI, test oracles) were found.",
                        .min_pos = 0,
                        .max_pos = 0,
                        .examples = "  quarry selfcheck\n  quarry selfcheck --json --threads 2\n"};
    qy_cli_common c;
    int npos;
    char **pos;
    int rc = qy_cli_parse(&spec, argc, argv, &c, &npos, &pos);
    if (rc != QY_CLI_CONTINUE) return rc;
    int threads = c.threads ? c.threads : qy_threads_default();

    struct {
        const char *name;
        int st;
        char detail[256];
        char msg[512];
    } checks[4];
    const char *names[4] = {"threads", "rng", "json", "files"};
    int failed = 0;
    qy_alloc_stats before, after;
    qy_alloc_get_stats(&before);
    for (int i = 0; i < 4; i++) {
        checks[i].name = names[i];
        checks[i].detail[0] = checks[i].msg[0] = '\0';
        switch (i) {
        case 0: checks[i].st = check_threads(threads, checks[i].detail, sizeof checks[i].detail); break;
        case 1: checks[i].st = check_rng(checks[i].detail, sizeof checks[i].detail); break;
        case 2: checks[i].st = check_json(checks[i].detail, sizeof checks[i].detail); break;
        default: checks[i].st = check_files(checks[i].detail, sizeof checks[i].detail); break;
        }
        if (checks[i].st) {
            snprintf(checks[i].msg, sizeof checks[i].msg, "%s", qy_errmsg());
            failed++;
        }
    }
    qy_alloc_get_stats(&after);
    int leak = after.live_blocks != before.live_blocks;
    if (leak) failed++;

    if (c.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "version", QY_VERSION_STRING);
        cJSON_AddStringToObject(o, "build", qy_build_info());
        cJSON *arr = cJSON_AddArrayToObject(o, "checks");
        for (int i = 0; i < 4; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", checks[i].name);
            cJSON_AddBoolToObject(e, "ok", checks[i].st == QY_OK);
            cJSON_AddStringToObject(e, "detail", checks[i].st ? checks[i].msg : checks[i].detail);
            cJSON_AddItemToArray(arr, e);
        }
        cJSON_AddBoolToObject(o, "no_leaks", !leak);
        cJSON_AddBoolToObject(o, "ok", failed == 0);
        char *s = qy_json_print(o, 1);
        if (s) puts(s);
        qy_free(s);
        cJSON_Delete(o);
    } else {
        fputs(qy_build_info(), stdout);
        printf("\n");
        for (int i = 0; i < 4; i++)
            printf("%-8s %s  %s\n", checks[i].name, checks[i].st ? "FAIL" : "ok  ",
                   checks[i].st ? checks[i].msg : checks[i].detail);
        printf("%-8s %s  %s\n", "memory", leak ? "FAIL" : "ok  ",
               leak ? "allocations were not all freed" : "every allocation freed");
        printf("\nselfcheck: %d passed, %d failed\n", 5 - failed, failed);
    }
    return failed ? 1 : 0;
}

const qy_command qy_command_selfcheck = {"selfcheck",
                                         "check this build on this machine and list optional parts", run};
