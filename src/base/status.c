/* status.c — per-thread error messages and status names. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quarry/base.h"

#define QY_ERRMSG_MAX 1024

static _Thread_local char errmsg_buf[QY_ERRMSG_MAX];

const char *qy_status_str(int status) {
    switch (status) {
    case QY_OK: return "ok";
    case QY_ERR_NOMEM: return "out of memory";
    case QY_ERR_IO: return "i/o error";
    case QY_ERR_FORMAT: return "malformed input";
    case QY_ERR_ARG: return "invalid argument";
    case QY_ERR_SHAPE: return "shape mismatch";
    case QY_ERR_UNSUPPORTED: return "unsupported";
    case QY_ERR_NOT_FOUND: return "not found";
    case QY_ERR_RANGE: return "out of range";
    case QY_ERR_INTERNAL: return "internal error";
    case QY_ERR_CANCELLED: return "cancelled";
    default: return "unknown status";
    }
}

const char *qy_errmsg(void) { return errmsg_buf; }

void qy_error_clear(void) { errmsg_buf[0] = '\0'; }

int qy_verror(int status, const char *fmt, va_list ap) {
    /* fmt may refer to the old message (through qy_errmsg()), so format into a copy. */
    char tmp[QY_ERRMSG_MAX];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    memcpy(errmsg_buf, tmp, sizeof tmp);
    return status;
}

int qy_error(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    qy_verror(status, fmt, ap);
    va_end(ap);
    return status;
}

int qy_error_wrap(int status, const char *fmt, ...) {
    char ctx[QY_ERRMSG_MAX];
    char old[QY_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    memcpy(old, errmsg_buf, sizeof old);
    if (old[0])
        snprintf(errmsg_buf, sizeof errmsg_buf, "%s: %s", ctx, old);
    else
        snprintf(errmsg_buf, sizeof errmsg_buf, "%s: %s", ctx, qy_status_str(status));
    return status;
}

void qy_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "quarry: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}
