/* Files (mmap, reads, atomic writes), progress, logging, timing. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qy_test.h"

static char dir[64];

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/qy-file-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* number of temporaries ("NAME.tmp.PID.N") left in d */
static int count_temporaries(const char *d) {
    DIR *dd = opendir(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dd)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(dd);
    return n;
}

static void test_atomic_write_replaces_whole_file(void **state) {
    char path[128];
    snprintf(path, sizeof path, "%s/a.bin", dir);
    assert_int_equal(qy_write_file_atomic(path, "old contents", 12), QY_OK);
    qy_afile *f;
    assert_int_equal(qy_afile_open(path, &f), QY_OK);
    assert_int_equal(qy_afile_write(f, "new ", 4), QY_OK);
    assert_int_equal(qy_afile_printf(f, "%d", 42), QY_OK);
    fputs("!", qy_afile_stream(f));
    /* before commit the old file is intact */
    char *buf;
    size_t len;
    assert_int_equal(qy_read_file(path, 0, &buf, &len), QY_OK);
    assert_string_equal(buf, "old contents");
    qy_free(buf);
    assert_int_equal(count_temporaries(dir), 1);
    assert_int_equal(qy_afile_commit(f), QY_OK);
    assert_int_equal(qy_read_file(path, 0, &buf, &len), QY_OK);
    assert_string_equal(buf, "new 42!");
    assert_int_equal(len, 7);
    qy_free(buf);
    assert_int_equal(count_temporaries(dir), 0);
}

static void test_abort_leaves_old_file_and_no_temporary(void **state) {
    char path[128];
    snprintf(path, sizeof path, "%s/b.txt", dir);
    assert_int_equal(qy_write_file_atomic(path, "keep", 4), QY_OK);
    qy_afile *f;
    assert_int_equal(qy_afile_open(path, &f), QY_OK);
    qy_afile_write(f, "partial", 7);
    qy_afile_abort(f);
    char *buf;
    assert_int_equal(qy_read_file(path, 0, &buf, NULL), QY_OK);
    assert_string_equal(buf, "keep");
    qy_free(buf);
    assert_int_equal(count_temporaries(dir), 0);
    qy_afile_abort(NULL);
}

static void test_write_errors(void **state) {
    qy_afile *f;
    assert_int_equal(qy_afile_open("/nonexistent-dir/x", &f), QY_ERR_IO);
    assert_non_null(strstr(qy_errmsg(), "/nonexistent-dir/x: cannot create"));
    assert_int_equal(qy_write_file_atomic("/proc/version", "x", 1), QY_ERR_IO);
}

static void test_mmap_and_read(void **state) {
    char path[128], empty[128];
    snprintf(path, sizeof path, "%s/m.bin", dir);
    snprintf(empty, sizeof empty, "%s/empty", dir);
    assert_int_equal(qy_write_file_atomic(path, "0123456789", 10), QY_OK);
    assert_int_equal(qy_write_file_atomic(empty, "", 0), QY_OK);
    qy_mmap m;
    assert_int_equal(qy_mmap_open(path, &m), QY_OK);
    assert_int_equal(m.size, 10);
    assert_memory_equal(m.data, "0123456789", 10);
    qy_mmap_close(&m);
    assert_int_equal(qy_mmap_open(empty, &m), QY_OK);
    assert_int_equal(m.size, 0);
    assert_null(m.data);
    qy_mmap_close(&m);
    assert_int_equal(qy_mmap_open("/nonexistent/file.safetensors", &m), QY_ERR_NOT_FOUND);
    assert_non_null(strstr(qy_errmsg(), "/nonexistent/file.safetensors"));
    assert_int_equal(qy_mmap_open(dir, &m), QY_ERR_IO);
    assert_non_null(strstr(qy_errmsg(), "not a regular file"));
    char *buf;
    size_t len;
    assert_int_equal(qy_read_file(path, 5, &buf, &len), QY_ERR_RANGE);
    assert_non_null(strstr(qy_errmsg(), "more than the 5 allowed"));
    assert_int_equal(qy_read_file(empty, 0, &buf, &len), QY_OK);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    qy_free(buf);
}

static void test_mkdir_p(void **state) {
    char path[128];
    snprintf(path, sizeof path, "%s/x/y/z", dir);
    assert_int_equal(qy_mkdir_p(path), QY_OK);
    assert_int_equal(qy_mkdir_p(path), QY_OK);
    assert_true(qy_file_exists(path));
    char file[128];
    snprintf(file, sizeof file, "%s/plain", dir);
    qy_write_file_atomic(file, "x", 1);
    assert_int_equal(qy_mkdir_p(file), QY_ERR_IO);
}

static void test_file_oom(void **state) {
    char path[128];
    snprintf(path, sizeof path, "%s/oom.txt", dir);
    int st;
    QY_OOM_WALK(st, { st = qy_write_file_atomic(path, "data", 4); }, {});
    char *buf = NULL;
    QY_OOM_WALK(
        st, { st = qy_read_file(path, 0, &buf, NULL); },
        {
            qy_free(buf);
            buf = NULL;
        });
    assert_int_equal(count_temporaries(dir), 0);
}

/* capture stderr into a file while fn runs */
static char *capture_stderr(void (*fn)(void)) {
    char path[128];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *buf;
    assert_int_equal(qy_read_file(path, 0, &buf, NULL), QY_OK);
    unlink(path);
    return buf;
}

static void run_progress(void) {
    qy_progress p;
    qy_progress_begin(&p, "indexing", 1000, "docs");
    for (int i = 0; i < 10; i++) qy_progress_add(&p, 100);
    qy_progress_set_extra(&p, "segments %d", 3);
    qy_progress_end(&p);
}

static void run_logs(void) {
    qy_info("an info %d", 1);
    qy_warn("a warning");
    qy_debug("a debug line");
}

static void test_progress_summary_line(void **state) {
    qy_log_set_level(QY_LOG_INFO);
    char *out = capture_stderr(run_progress);
    /* not a terminal: no redraws, one summary line */
    assert_non_null(strstr(out, "indexing: 1000 docs in "));
    assert_non_null(strstr(out, "docs/s), segments 3\n"));
    assert_null(strchr(out, '\r'));
    qy_free(out);
    qy_log_set_level(QY_LOG_QUIET);
    out = capture_stderr(run_progress);
    assert_string_equal(out, "");
    qy_free(out);
    qy_log_set_level(QY_LOG_INFO);
}

static void test_log_levels(void **state) {
    qy_log_set_level(QY_LOG_WARN);
    char *out = capture_stderr(run_logs);
    assert_string_equal(out, "quarry: warning: a warning\n");
    qy_free(out);
    qy_log_set_level(QY_LOG_DEBUG);
    out = capture_stderr(run_logs);
    assert_non_null(strstr(out, "quarry: an info 1\n"));
    assert_non_null(strstr(out, "quarry: debug: a debug line\n"));
    qy_free(out);
    qy_log_set_level(QY_LOG_INFO);
}

static void test_timer_is_monotonic(void **state) {
    uint64_t a = qy_now_ns();
    usleep(2000);
    uint64_t b = qy_now_ns();
    assert_true(b - a >= 2000000ull);
    assert_true(qy_seconds_since(a) >= 0.002);
    assert_non_null(strstr(qy_build_info(), "quarry " QY_VERSION_STRING));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atomic_write_replaces_whole_file),
        cmocka_unit_test(test_abort_leaves_old_file_and_no_temporary),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_mmap_and_read),
        cmocka_unit_test(test_mkdir_p),
        cmocka_unit_test(test_file_oom),
        cmocka_unit_test(test_progress_summary_line),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_timer_is_monotonic),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
