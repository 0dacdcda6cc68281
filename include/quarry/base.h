/*
 * quarry/base.h — the base layer: status codes and error messages, the counting
 * allocator, arenas, the thread pool, the RNG, JSON, files, progress, logging, timing.
 *
 * Usage:
 *   if (qy_json_read_file("config.json", &doc) != QY_OK) {
 *       fprintf(stderr, "quarry: %s\n", qy_errmsg());   // "config.json: line 3: ..."
 *       return 1;
 *   }
 *
 * Conventions for the whole library:
 *   - every fallible function returns an int status (QY_OK == 0) and sets a
 *     per-thread message, read with qy_errmsg(); results go through out-parameters;
 *   - `_new/_open` pair with `_free/_close`, and `_free(NULL)` is a no-op;
 *   - all memory goes through qy_malloc & co, so tests can count it and fail the Nth
 *     allocation (qy_alloc_fail_after()).
 */
#ifndef QUARRY_BASE_H
#define QUARRY_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QY_VERSION_MAJOR 0
#define QY_VERSION_MINOR 1
#define QY_VERSION_PATCH 0
#define QY_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------- status */

typedef enum qy_status {
    QY_OK = 0,
    QY_ERR_NOMEM = 1,       /* an allocation failed (or was made to fail) */
    QY_ERR_IO = 2,          /* open/read/write/rename failed; message has path and errno text */
    QY_ERR_FORMAT = 3,      /* input is malformed: bad JSON, bad magic, truncated file... */
    QY_ERR_ARG = 4,         /* an argument or option is invalid */
    QY_ERR_SHAPE = 5,       /* tensor shapes do not fit the op */
    QY_ERR_UNSUPPORTED = 6, /* valid input using a feature quarry does not implement */
    QY_ERR_NOT_FOUND = 7,   /* a named file, key, tensor or id does not exist */
    QY_ERR_RANGE = 8,       /* a number is out of range (hostile sizes, overflow) */
    QY_ERR_INTERNAL = 9,    /* a bug: an invariant broke */
    QY_ERR_CANCELLED = 10   /* the caller asked to stop */
} qy_status;

/* Short stable name of a status ("QY_ERR_IO" -> "io error"). */
const char *qy_status_str(int status);

/* The calling thread's last error message (never NULL; "" after success paths
 * that cleared it). Valid until the next failing call on this thread. */
const char *qy_errmsg(void);

/* Set the calling thread's message (printf format) and return `status`, so that
 * error paths read `return qy_error(QY_ERR_FORMAT, "%s: line %d: ...", path, line);` */
int qy_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int qy_verror(int status, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Prepend context to the current message: "ctx: <old message>". Returns `status`. */
int qy_error_wrap(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clear the calling thread's message. */
void qy_error_clear(void);

/* Assertion for invariants (never for user input): prints file:line and aborts. */
#define QY_ASSERT(cond)                                         \
    do {                                                        \
        if (!(cond)) qy_assert_fail(#cond, __FILE__, __LINE__); \
    } while (0)
void qy_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

/* ------------------------------------------------------------- allocator */

/* All library memory comes from these. Sizes are counted; qy_calloc and
 * qy_mallocn check n*size for overflow and fail with QY_ERR_RANGE-style message
 * (they return NULL and set the message; the caller returns QY_ERR_NOMEM). */
void *qy_malloc(size_t size);
void *qy_calloc(size_t n, size_t size);
void *qy_mallocn(size_t n, size_t size); /* uninitialised n*size, overflow-checked */
void *qy_realloc(void *p, size_t size);
void *qy_reallocn(void *p, size_t n, size_t size);
void qy_free(void *p);
char *qy_strdup(const char *s);
char *qy_strndup(const char *s, size_t n);
/* 64-byte aligned memory (for tensors and SIMD); free with qy_free. */
void *qy_malloc_aligned(size_t size);

typedef struct qy_alloc_stats {
    uint64_t live_bytes;   /* bytes currently allocated */
    uint64_t peak_bytes;   /* high-water mark of live_bytes */
    uint64_t live_blocks;  /* allocations not yet freed */
    uint64_t total_allocs; /* allocations since start (or since reset) */
} qy_alloc_stats;
void qy_alloc_get_stats(qy_alloc_stats *out);
void qy_alloc_reset_peak(void);

/* Fault injection: make the allocation after the next `n` succeed-ones fail,
 * i.e. n = 0 fails the very next allocation. n < 0 turns injection off.
 * Every later allocation also fails while `sticky` is set. */
void qy_alloc_fail_after(long n, int sticky);
/* How many allocations were made to fail since injection was armed. */
long qy_alloc_injected_failures(void);

/* size checked multiply: returns 0 and sets *out on success, QY_ERR_RANGE on overflow */
int qy_size_mul(size_t a, size_t b, size_t *out);
int qy_size_add(size_t a, size_t b, size_t *out);

/* ----------------------------------------------------------------- arena */

/* A bump allocator over chunks. Allocations are freed all at once. */
typedef struct qy_arena_chunk qy_arena_chunk;
typedef struct qy_arena {
    qy_arena_chunk *head;
    size_t chunk_size; /* default size of new chunks */
    size_t used;       /* bytes handed out */
    size_t reserved;   /* bytes held in chunks */
} qy_arena;

void qy_arena_init(qy_arena *a, size_t chunk_size);
/* Returns NULL (message set) when out of memory. align must be a power of two <= 4096. */
void *qy_arena_alloc(qy_arena *a, size_t size, size_t align);
void *qy_arena_calloc(qy_arena *a, size_t n, size_t size, size_t align);
char *qy_arena_strdup(qy_arena *a, const char *s);
/* Forget all allocations, keep the first chunk for reuse. */
void qy_arena_reset(qy_arena *a);
void qy_arena_free(qy_arena *a);

/* ----------------------------------------------------------- thread pool */

typedef struct qy_pool qy_pool;

/* The default thread count: $QUARRY_THREADS if set and valid, else the number
 * of online CPUs. */
int qy_threads_default(void);

/* Create a pool of `nthreads` workers in total (the calling thread counts as one,
 * so nthreads = 1 runs everything inline). nthreads <= 0 means qy_threads_default(). */
int qy_pool_new(int nthreads, qy_pool **out);
void qy_pool_free(qy_pool *pool);
int qy_pool_threads(const qy_pool *pool);

/* fn(ctx, begin, end, thread_index) is called on disjoint ranges that cover
 * [0, n). The split depends only on n and `grain` (never on timing), so kernels
 * that write per-range results are deterministic at any thread count.
 * grain: minimum items per range (>= 1). Blocks until all ranges are done.
 * pool may be NULL (runs inline). Not re-entrant from inside fn. */
typedef void (*qy_range_fn)(void *ctx, size_t begin, size_t end, int thread_index);
void qy_pool_for(qy_pool *pool, size_t n, size_t grain, qy_range_fn fn, void *ctx);

/* ------------------------------------------------------------------- RNG */

/* xoshiro256** (Blackman & Vigna 2018) seeded through SplitMix64.
 * qy_rng_split derives an independent child stream from a parent state and a
 * 64-bit stream id without advancing the parent: child = seed(SplitMix64(parent
 * state hash ^ id)). Documented in docs/ARCHITECTURE.md (RNG). */
typedef struct qy_rng {
    uint64_t s[4];
} qy_rng;

void qy_rng_seed(qy_rng *r, uint64_t seed);
qy_rng qy_rng_split(const qy_rng *r, uint64_t stream_id);
uint64_t qy_rng_u64(qy_rng *r);
uint32_t qy_rng_u32(qy_rng *r);
/* uniform integer in [0, n), unbiased (Lemire's method); n > 0 */
uint64_t qy_rng_below(qy_rng *r, uint64_t n);
/* uniform float in [0, 1) with 24 random bits; double with 53 */
float qy_rng_float(qy_rng *r);
double qy_rng_double(qy_rng *r);
/* standard normal (Box-Muller, both values used in turn is NOT done: one value per call, deterministic) */
double qy_rng_normal(qy_rng *r);
/* Fisher-Yates shuffle of n items of `size` bytes */
void qy_rng_shuffle(qy_rng *r, void *items, size_t n, size_t size);

/* ------------------------------------------------------------------ JSON */

/* JSON on cJSON. A document remembers its source name, and getters take a
 * path (".a.b[2].c") and report errors as "SOURCE: PATH: expected number". */
struct cJSON;
typedef struct qy_json qy_json;

int qy_json_parse(const char *text, size_t len, const char *source, qy_json **out);
int qy_json_read_file(const char *path, qy_json **out);
void qy_json_free(qy_json *doc);
const struct cJSON *qy_json_root(const qy_json *doc);
const char *qy_json_source(const qy_json *doc);

/* A reference to a node inside a document, carrying its path for messages. */
typedef struct qy_jref {
    const qy_json *doc;
    const struct cJSON *node;
    char path[200];
} qy_jref;

qy_jref qy_json_ref(const qy_json *doc);
/* rel is a path relative to r: "" (r itself), ".key", "[3]", ".a[2].b".
 * Missing -> QY_ERR_NOT_FOUND "SOURCE: PATH: missing"; these never abort. */
int qy_jref_get(const qy_jref *r, const char *rel, qy_jref *out);
int qy_jref_has(const qy_jref *r, const char *rel);                 /* 1 if present and not null */
int qy_jref_number(const qy_jref *r, const char *rel, double *out); /* finite only */
int qy_jref_number_or(const qy_jref *r, const char *rel, double def, double *out);
int qy_jref_int(const qy_jref *r, const char *rel, int64_t lo, int64_t hi, int64_t *out);
int qy_jref_int_or(const qy_jref *r, const char *rel, int64_t lo, int64_t hi, int64_t def, int64_t *out);
int qy_jref_bool(const qy_jref *r, const char *rel, int *out);
int qy_jref_bool_or(const qy_jref *r, const char *rel, int def, int *out);
int qy_jref_string(const qy_jref *r, const char *rel, const char **out);
int qy_jref_string_or(const qy_jref *r, const char *rel, const char *def, const char **out);
int qy_jref_array(const qy_jref *r, const char *rel, qy_jref *out, size_t *count);
int qy_jref_object(const qy_jref *r, const char *rel, qy_jref *out, size_t *count);
/* i-th element of an array or i-th member of an object (its key in *key if non-NULL) */
int qy_jref_at(const qy_jref *r, size_t i, qy_jref *out, const char **key);

/* Serialise a cJSON tree (compact or pretty) into a new string (qy_free it). */
char *qy_json_print(const struct cJSON *node, int pretty);
/* Atomically write a cJSON tree to path (pretty, trailing newline). */
int qy_json_write_file(const char *path, const struct cJSON *node);

/* ----------------------------------------------------------------- files */

/* Read-only mapping of a whole file. An empty file maps to data=NULL,size=0. */
typedef struct qy_mmap {
    const uint8_t *data;
    size_t size;
} qy_mmap;
int qy_mmap_open(const char *path, qy_mmap *out);
void qy_mmap_close(qy_mmap *m);

/* Read a whole file into a NUL-terminated buffer (qy_free it). max_size guards
 * against hostile inputs (0 = no limit). */
int qy_read_file(const char *path, size_t max_size, char **out, size_t *len);

/* Atomic writer: data goes to "PATH.tmp.PID.N", then commit fsyncs it, renames
 * it over PATH and fsyncs the directory. abort (or free without commit)
 * removes the temporary. A crash at any moment leaves either the old or the
 * new complete file at PATH. */
typedef struct qy_afile qy_afile;
int qy_afile_open(const char *path, qy_afile **out);
int qy_afile_write(qy_afile *f, const void *data, size_t len);
int qy_afile_printf(qy_afile *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
FILE *qy_afile_stream(qy_afile *f); /* for fwrite-style writers; do not fclose */
int qy_afile_commit(qy_afile *f);   /* frees f whatever the result */
void qy_afile_abort(qy_afile *f);   /* frees f, removes the temporary */

int qy_write_file_atomic(const char *path, const void *data, size_t len);
/* mkdir -p; existing directories are fine */
int qy_mkdir_p(const char *path);
int qy_file_exists(const char *path);
int qy_fsync_dir(const char *dir);

/* ------------------------------------------------------ logging, progress */

typedef enum qy_log_level {
    QY_LOG_QUIET = 0, /* nothing but errors printed by main() */
    QY_LOG_ERROR = 1,
    QY_LOG_WARN = 2,
    QY_LOG_INFO = 3,
    QY_LOG_DEBUG = 4
} qy_log_level;

/* Process-wide verbosity (set once by the CLI from --quiet/--verbose or
 * $QUARRY_LOG=quiet|error|warn|info|debug). Default QY_LOG_INFO. */
void qy_log_set_level(qy_log_level level);
qy_log_level qy_log_get_level(void);
void qy_log(qy_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define qy_info(...) qy_log(QY_LOG_INFO, __VA_ARGS__)
#define qy_warn(...) qy_log(QY_LOG_WARN, __VA_ARGS__)
#define qy_debug(...) qy_log(QY_LOG_DEBUG, __VA_ARGS__)

/* Progress on stderr: on a terminal a line redrawn at most 10 times a second
 * with done/total, rate and ETA; when stderr is not a terminal nothing until the
 * end; at the end one summary line "LABEL: N UNIT in S s (R UNIT/s)" unless
 * the log level is QUIET. Safe to call update() from one thread at a time. */
typedef struct qy_progress {
    char label[64];
    char unit[24];
    uint64_t total; /* 0 = unknown */
    uint64_t done;
    uint64_t t_start_ns;
    uint64_t t_last_draw_ns;
    int tty;
    int enabled;
    char extra[96]; /* free text appended to the line, e.g. "loss 2.31" */
} qy_progress;

void qy_progress_begin(qy_progress *p, const char *label, uint64_t total, const char *unit);
void qy_progress_update(qy_progress *p, uint64_t done);
void qy_progress_add(qy_progress *p, uint64_t delta);
void qy_progress_set_extra(qy_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the summary line and returns the elapsed seconds. */
double qy_progress_end(qy_progress *p);

/* ---------------------------------------------------------------- timing */

uint64_t qy_now_ns(void); /* CLOCK_MONOTONIC */
double qy_seconds_since(uint64_t t0_ns);

/* ------------------------------------------------------------------- CPU */

/* Runtime CPU features (x86-64), for kernels that dispatch at run time. */
int qy_cpu_has_avx2_fma(void);
int qy_cpu_has_avx512f(void);

/* Build information, one line per optional part ("OpenBLAS: yes (...)"). */
const char *qy_build_info(void);

#ifdef __cplusplus
}
#endif
#endif /* QUARRY_BASE_H */
