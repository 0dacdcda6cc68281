/* bench_safetensors.c — loading safetensors weights into f32, quarry against
 * PyTorch reading the same file the way the safetensors library's torch
 * backend does (header JSON, torch.frombuffer over the mapped bytes, .float()).
 *
 *   build/bench_safetensors [--params M] [--reps N] [--keep]
 *
 * Writes a synthetic checkpoint of M million parameters (default 64) in BF16
 * and in F32 under /tmp, then times, for each file: open + validate + convert
 * every tensor into one f32 block (quarry), and the same in PyTorch
 * (/usr/bin/python3, one thread, skipped when torch is missing). Best of N runs
 * (default 5) in CPU seconds (wall time on a shared machine measures the
 * neighbours); the page cache is warm for both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "quarry/base.h"
#include "quarry/model.h"

static const char *peer_script =
    "import json, mmap, struct, sys, time\n"
    "import warnings; warnings.simplefilter('ignore')\n"
    "import torch\n"
    "torch.set_num_threads(1)\n"
    "path, reps = sys.argv[1], int(sys.argv[2])\n"
    "dt = {'F32': (torch.float32, 4), 'BF16': (torch.bfloat16, 2), 'F16': (torch.float16, 2)}\n"
    "best = 1e9\n"
    "for _ in range(reps):\n"
    "    t0 = time.process_time()\n"
    "    f = open(path, 'rb'); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)\n"
    "    n = struct.unpack('<Q', m[:8])[0]; h = json.loads(m[8:8 + n]); base = 8 + n\n"
    "    out = {}\n"
    "    for k, v in h.items():\n"
    "        if k == '__metadata__': continue\n"
    "        b, e = v['data_offsets']; d, size = dt[v['dtype']]\n"
    "        t = torch.frombuffer(m, dtype=d, count=(e - b) // size, offset=base + b).reshape(v['shape'])\n"
    "        out[k] = t.to(torch.float32, copy=True)\n"
    "    best = min(best, time.process_time() - t0)\n"
    "    del out, t; m.close(); f.close()\n"
    "print('%.6f' % best)\n";

/* a llama-like tensor list totalling about `params` parameters */
static int make_file(const char *path, size_t params, qy_st_dtype dtype, float *src) {
    qy_st_writer *w;
    int st = qy_st_writer_new(&w);
    if (st) return st;
    const int64_t C = 1024, I = 2816;
    size_t per_layer = (size_t)(4 * C * C + 3 * C * I + 2 * C);
    int layers = (int)(params / per_layer);
    if (layers < 1) layers = 1;
    char name[96];
    for (int l = 0; l < layers && !st; l++) {
        int64_t sq[2] = {C, C}, up[2] = {I, C}, down[2] = {C, I}, norm[1] = {C};
        static const char *const attn[4] = {"q", "k", "v", "o"};
        for (int k = 0; k < 4 && !st; k++) {
            snprintf(name, sizeof name, "model.layers.%d.self_attn.%s_proj.weight", l, attn[k]);
            st = qy_st_writer_add_f32(w, name, dtype, 2, sq, src);
        }
        static const char *const mlp[3] = {"gate", "up", "down"};
        for (int k = 0; k < 3 && !st; k++) {
            snprintf(name, sizeof name, "model.layers.%d.mlp.%s_proj.weight", l, mlp[k]);
            st = qy_st_writer_add_f32(w, name, dtype, 2, k == 2 ? down : up, src);
        }
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
        if (!st) st = qy_st_writer_add_f32(w, name, dtype, 1, norm, src);
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
        if (!st) st = qy_st_writer_add_f32(w, name, dtype, 1, norm, src);
    }
    if (!st) st = qy_st_writer_set_metadata(w, "format", "pt");
    if (!st) st = qy_st_writer_write(w, path);
    qy_st_writer_free(w);
    return st;
}

/* CPU seconds of this process: on a shared machine wall time mostly measures
 * the neighbours; both sides run single-threaded, so CPU time is comparable */
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* open + validate + convert every tensor into one f32 block; best of reps.
 * The block is allocated and touched once, as PyTorch's steady state reuses
 * already-faulted heap memory from one run to the next. */
static int time_quarry(const char *path, int reps, double *best, size_t *numel) {
    *best = 1e30;
    qy_st_file *f;
    int st = qy_st_open(path, &f);
    if (st) return st;
    size_t total = 0;
    for (size_t i = 0; i < qy_st_count(f); i++) total += qy_st_at(f, i)->numel;
    qy_st_close(f);
    float *block = qy_malloc_aligned(total * sizeof(float));
    if (!block) return QY_ERR_NOMEM;
    memset(block, 0, total * sizeof(float));
    for (int r = 0; r < reps && !st; r++) {
        double t0 = cpu_seconds();
        st = qy_st_open(path, &f);
        size_t off = 0;
        for (size_t i = 0; !st && i < qy_st_count(f); i++) {
            const qy_st_tensor *t = qy_st_at(f, i);
            st = qy_st_read_f32(t, block + off, t->numel);
            off += t->numel;
        }
        if (f) qy_st_close(f);
        double s = cpu_seconds() - t0;
        if (s < *best) *best = s;
    }
    qy_free(block);
    *numel = total;
    return st;
}

static double time_peer(const char *path, int reps) {
    char script[] = "/tmp/quarry-bench-st-XXXXXX";
    int fd = mkstemp(script);
    if (fd < 0) return -1;
    if (write(fd, peer_script, strlen(peer_script)) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %d 2>/dev/null", script, path, reps);
    FILE *p = popen(cmd, "r");
    double s = -1;
    if (p) {
        if (fscanf(p, "%lf", &s) != 1) s = -1;
        pclose(p);
    }
    unlink(script);
    return s;
}

int main(int argc, char **argv) {
    long mparams = 64, reps = 5;
    int keep = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--params") && i + 1 < argc)
            mparams = atol(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atol(argv[++i]);
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else {
            fprintf(stderr, "usage: %s [--params MILLIONS] [--reps N] [--keep]\n", argv[0]);
            return 2;
        }
    }
    if (mparams < 1 || reps < 1) return 2;
    const size_t src_n = 1024 * 2816;
    float *src = qy_mallocn(src_n, sizeof *src);
    if (!src) return 1;
    qy_rng r;
    qy_rng_seed(&r, 1);
    for (size_t i = 0; i < src_n; i++) src[i] = (float)qy_rng_normal(&r) * 0.02f;
    static const qy_st_dtype dtypes[2] = {QY_ST_BF16, QY_ST_F32};
    printf("safetensors -> f32 block, %ld M parameters, best of %ld in CPU seconds (warm page cache)\n",
           mparams, reps);
    printf("%-6s %12s %12s %14s %14s\n", "dtype", "quarry cpu s", "torch cpu s", "quarry Mpar/s",
           "torch Mpar/s");
    for (int d = 0; d < 2; d++) {
        char path[256];
        snprintf(path, sizeof path, "/tmp/quarry-bench-%ldM-%s.safetensors", mparams,
                 qy_st_dtype_name(dtypes[d]));
        if (!qy_file_exists(path) && make_file(path, (size_t)mparams * 1000000, dtypes[d], src)) {
            fprintf(stderr, "bench: %s\n", qy_errmsg());
            return 1;
        }
        double q, t;
        size_t numel = 0;
        if (time_quarry(path, (int)reps, &q, &numel)) {
            fprintf(stderr, "bench: %s\n", qy_errmsg());
            return 1;
        }
        t = time_peer(path, (int)reps);
        if (t > 0)
            printf("%-6s %12.4f %12.4f %14.1f %14.1f\n", qy_st_dtype_name(dtypes[d]), q, t, numel / q / 1e6,
                   numel / t / 1e6);
        else
            printf("%-6s %12.4f %12s %14.1f %14s\n", qy_st_dtype_name(dtypes[d]), q, "-", numel / q / 1e6,
                   "-");
        if (!keep) unlink(path);
    }
    qy_free(src);
    return 0;
}
