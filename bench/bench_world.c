/* bench_world.c — how fast `quarry world generate` is, against the floor of
 * merely writing the same bytes.
 *
 *   bench_world [ENTITIES=100000] [DIR=/tmp/quarry-bench-world]
 *
 * Generates a world at 1 and at 2 threads (wall and CPU seconds of the build
 * in memory and of the write), then copies every output file with the same
 * atomic writer (read, write to a temporary, fsync, rename): a generator can
 * not beat that copy, so "x copy" says how much generation costs on top of
 * the I/O. There is no other generator of this world to compare against. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "quarry/base.h"
#include "quarry/world.h"

static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec +
           (double)u.ru_stime.tv_usec * 1e-6;
}

/* copy every regular file under src to dst with atomic writes; returns bytes */
static int copy_tree(const char *src, const char *dst, uint64_t *bytes) {
    DIR *d = opendir(src);
    if (!d) return qy_error(QY_ERR_IO, "%s: cannot open", src);
    int st = qy_mkdir_p(dst);
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char s[4096], t[4096];
        snprintf(s, sizeof s, "%s/%s", src, e->d_name);
        snprintf(t, sizeof t, "%s/%s", dst, e->d_name);
        struct stat sb;
        if (stat(s, &sb)) continue;
        if (S_ISDIR(sb.st_mode)) {
            st = copy_tree(s, t, bytes);
            continue;
        }
        char *buf;
        size_t len;
        st = qy_read_file(s, 0, &buf, &len);
        if (!st) st = qy_write_file_atomic(t, buf, len);
        if (!st) *bytes += len;
        qy_free(buf);
    }
    closedir(d);
    return st;
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 100000;
    const char *dir = argc > 2 ? argv[2] : "/tmp/quarry-bench-world";
    char out[4096], copy[4096];
    snprintf(out, sizeof out, "%s/world", dir);
    snprintf(copy, sizeof copy, "%s/copy", dir);
    qy_log_set_level(QY_LOG_WARN);
    double gen_wall[2] = {0, 0};
    printf("bench_world: %zu entities, seed 7\n", n);
    for (int ti = 0; ti < 2; ti++) {
        int threads = ti + 1;
        qy_pool *pool;
        if (qy_pool_new(threads, &pool)) return 1;
        qy_world_params p;
        qy_world_params_default(&p);
        p.seed = 7;
        p.entities = n;
        double c0 = cpu_seconds();
        uint64_t t0 = qy_now_ns();
        qy_world *w;
        int st = qy_world_new(&p, pool, &w);
        double build = qy_seconds_since(t0);
        qy_world_stats s;
        if (!st) st = qy_world_write(w, out, pool, &s);
        double total = qy_seconds_since(t0), cpu = cpu_seconds() - c0;
        qy_world_free(w);
        qy_pool_free(pool);
        if (st) {
            fprintf(stderr, "bench_world: %s\n", qy_errmsg());
            return 1;
        }
        gen_wall[ti] = total;
        printf("  generate, %d thread%s: %.2f s wall (build %.2f s, write %.2f s), %.2f CPU s, %.1f MB, "
               "%.0f entities/s, %zu docs, %zu questions, %zu edits\n",
               threads, threads > 1 ? "s" : "", total, build, total - build, cpu, (double)s.bytes / 1e6,
               (double)n / total, s.documents, s.questions, s.edits);
    }
    double c0 = cpu_seconds();
    uint64_t t0 = qy_now_ns(), bytes = 0;
    if (copy_tree(out, copy, &bytes)) {
        fprintf(stderr, "bench_world: %s\n", qy_errmsg());
        return 1;
    }
    double cp = qy_seconds_since(t0);
    printf("  floor: atomic copy of the same %.1f MB: %.2f s wall, %.2f CPU s\n", (double)bytes / 1e6, cp,
           cpu_seconds() - c0);
    printf("  generation costs %.2fx (1 thread) and %.2fx (2 threads) the copy of its output\n",
           gen_wall[0] / cp, gen_wall[1] / cp);
    return 0;
}
