/* file.c — read-only mmap, whole-file reads, atomic writes, directories. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quarry/base.h"

int qy_mmap_open(const char *path, qy_mmap *out) {
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return qy_error(errno == ENOENT ? QY_ERR_NOT_FOUND : QY_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return qy_error(QY_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return qy_error(QY_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return QY_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return qy_error(QY_ERR_IO, "%s: mmap: %s", path, strerror(e));
    out->data = p;
    out->size = (size_t)st.st_size;
    return QY_OK;
}

void qy_mmap_close(qy_mmap *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

int qy_read_file(const char *path, size_t max_size, char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return qy_error(errno == ENOENT ? QY_ERR_NOT_FOUND : QY_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return qy_error(QY_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (max_size && size > max_size) {
        fclose(f);
        return qy_error(QY_ERR_RANGE, "%s: file is %zu bytes, more than the %zu allowed", path, size,
                        max_size);
    }
    char *buf = qy_malloc(size + 1);
    if (!buf) {
        fclose(f);
        return qy_error_wrap(QY_ERR_NOMEM, "%s", path);
    }
    size_t got = fread(buf, 1, size, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != size) {
        qy_free(buf);
        return qy_error(QY_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, size);
    }
    buf[size] = '\0';
    *out = buf;
    if (len) *len = size;
    return QY_OK;
}

int qy_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int qy_mkdir_p(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return qy_error(QY_ERR_ARG, "mkdir: bad path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return qy_error(QY_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return qy_error(QY_ERR_IO, "%s: exists and is not a directory", path);
    return QY_OK;
}

int qy_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return qy_error(QY_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) return qy_error(QY_ERR_IO, "%s: fsync: %s", dir, strerror(e));
    return QY_OK;
}

struct qy_afile {
    FILE *fp;
    char *path;
    char *tmp;
    int failed;
};

static _Atomic unsigned tmp_counter;

int qy_afile_open(const char *path, qy_afile **out) {
    *out = NULL;
    qy_afile *f = qy_calloc(1, sizeof *f);
    if (!f) return QY_ERR_NOMEM;
    size_t n = strlen(path) + 64;
    f->path = qy_strdup(path);
    f->tmp = qy_malloc(n);
    if (!f->path || !f->tmp) {
        qy_free(f->path);
        qy_free(f->tmp);
        qy_free(f);
        return QY_ERR_NOMEM;
    }
    snprintf(f->tmp, n, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
    int fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        qy_free(f->path);
        qy_free(f->tmp);
        qy_free(f);
        return qy_error(QY_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        int e = errno;
        close(fd);
        unlink(f->tmp);
        qy_free(f->path);
        qy_free(f->tmp);
        qy_free(f);
        return qy_error(QY_ERR_IO, "%s: %s", path, strerror(e));
    }
    *out = f;
    return QY_OK;
}

int qy_afile_write(qy_afile *f, const void *data, size_t len) {
    if (f->failed) return QY_ERR_IO;
    if (len && fwrite(data, 1, len, f->fp) != len) {
        f->failed = 1;
        return qy_error(QY_ERR_IO, "%s: write failed: %s", f->path, strerror(errno));
    }
    return QY_OK;
}

int qy_afile_printf(qy_afile *f, const char *fmt, ...) {
    if (f->failed) return QY_ERR_IO;
    va_list ap;
    va_start(ap, fmt);
    int r = vfprintf(f->fp, fmt, ap);
    va_end(ap);
    if (r < 0) {
        f->failed = 1;
        return qy_error(QY_ERR_IO, "%s: write failed: %s", f->path, strerror(errno));
    }
    return QY_OK;
}

FILE *qy_afile_stream(qy_afile *f) { return f->fp; }

static void afile_release(qy_afile *f) {
    qy_free(f->path);
    qy_free(f->tmp);
    qy_free(f);
}

void qy_afile_abort(qy_afile *f) {
    if (!f) return;
    if (f->fp) fclose(f->fp);
    unlink(f->tmp);
    afile_release(f);
}

int qy_afile_commit(qy_afile *f) {
    int st = QY_OK;
    if (f->failed || ferror(f->fp)) st = qy_error(QY_ERR_IO, "%s: write failed", f->path);
    if (!st && fflush(f->fp) != 0) st = qy_error(QY_ERR_IO, "%s: flush: %s", f->path, strerror(errno));
    if (!st && fsync(fileno(f->fp)) != 0) st = qy_error(QY_ERR_IO, "%s: fsync: %s", f->path, strerror(errno));
    if (fclose(f->fp) != 0 && !st) st = qy_error(QY_ERR_IO, "%s: close: %s", f->path, strerror(errno));
    f->fp = NULL;
    if (!st && rename(f->tmp, f->path) != 0)
        st = qy_error(QY_ERR_IO, "%s: rename into place: %s", f->path, strerror(errno));
    if (st) {
        unlink(f->tmp);
        afile_release(f);
        return st;
    }
    char dirbuf[4096];
    snprintf(dirbuf, sizeof dirbuf, "%s", f->path);
    st = qy_fsync_dir(dirname(dirbuf));
    afile_release(f);
    return st;
}

int qy_write_file_atomic(const char *path, const void *data, size_t len) {
    qy_afile *f;
    int st = qy_afile_open(path, &f);
    if (st) return st;
    st = qy_afile_write(f, data, len);
    if (st) {
        qy_afile_abort(f);
        return st;
    }
    return qy_afile_commit(f);
}
