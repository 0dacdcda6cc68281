/* log.c — verbosity, logging, progress display, monotonic time, CPU features,
 * build information. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buildinfo.h"
#include "quarry/base.h"

static _Atomic int log_level = -1; /* -1: not yet read from the environment */

static qy_log_level level_from_env(void) {
    const char *e = getenv("QUARRY_LOG");
    if (!e) return QY_LOG_INFO;
    if (!strcmp(e, "quiet")) return QY_LOG_QUIET;
    if (!strcmp(e, "error")) return QY_LOG_ERROR;
    if (!strcmp(e, "warn")) return QY_LOG_WARN;
    if (!strcmp(e, "debug")) return QY_LOG_DEBUG;
    return QY_LOG_INFO;
}

void qy_log_set_level(qy_log_level level) { atomic_store(&log_level, (int)level); }

qy_log_level qy_log_get_level(void) {
    int l = atomic_load(&log_level);
    if (l < 0) {
        l = (int)level_from_env();
        atomic_store(&log_level, l);
    }
    return (qy_log_level)l;
}

void qy_log(qy_log_level level, const char *fmt, ...) {
    if (level > qy_log_get_level() || level == QY_LOG_QUIET) return;
    static const char *names[] = {"", "error", "warning", "info", "debug"};
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (level == QY_LOG_INFO)
        fprintf(stderr, "quarry: %s\n", buf);
    else
        fprintf(stderr, "quarry: %s: %s\n", names[level], buf);
}

uint64_t qy_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double qy_seconds_since(uint64_t t0) { return (double)(qy_now_ns() - t0) * 1e-9; }

/* ---------------------------------------------------------------- progress */

static void human_count(double v, char *out, size_t cap) {
    if (v >= 1e9)
        snprintf(out, cap, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(out, cap, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(out, cap, "%.1fk", v / 1e3);
    else if (v == (double)(uint64_t)v)
        snprintf(out, cap, "%.0f", v);
    else
        snprintf(out, cap, "%.2f", v);
}

static void human_duration(double s, char *out, size_t cap) {
    if (s < 60)
        snprintf(out, cap, "%.1fs", s);
    else if (s < 3600)
        snprintf(out, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(out, cap, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}

void qy_progress_begin(qy_progress *p, const char *label, uint64_t total, const char *unit) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "items");
    p->total = total;
    p->t_start_ns = qy_now_ns();
    p->enabled = qy_log_get_level() >= QY_LOG_INFO;
    p->tty = p->enabled && isatty(STDERR_FILENO);
}

static void progress_draw(qy_progress *p, uint64_t now) {
    double el = (double)(now - p->t_start_ns) * 1e-9;
    double rate = el > 0 ? (double)p->done / el : 0;
    char d[32], r[32], line[512];
    human_count((double)p->done, d, sizeof d);
    human_count(rate, r, sizeof r);
    if (p->total) {
        char t[32], eta[32];
        human_count((double)p->total, t, sizeof t);
        double left = rate > 0 ? (double)(p->total - (p->done < p->total ? p->done : p->total)) / rate : 0;
        human_duration(left, eta, sizeof eta);
        snprintf(line, sizeof line, "%s: %5.1f%% %s/%s %s, %s %s/s, ETA %s %s", p->label,
                 100.0 * (double)p->done / (double)p->total, d, t, p->unit, r, p->unit, eta, p->extra);
    } else {
        snprintf(line, sizeof line, "%s: %s %s, %s %s/s %s", p->label, d, p->unit, r, p->unit, p->extra);
    }
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    p->t_last_draw_ns = now;
}

void qy_progress_update(qy_progress *p, uint64_t done) {
    p->done = done;
    if (!p->tty) return;
    uint64_t now = qy_now_ns();
    if (now - p->t_last_draw_ns >= 100000000ull) progress_draw(p, now);
}

void qy_progress_add(qy_progress *p, uint64_t delta) { qy_progress_update(p, p->done + delta); }

void qy_progress_set_extra(qy_progress *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->extra, sizeof p->extra, fmt, ap);
    va_end(ap);
}

double qy_progress_end(qy_progress *p) {
    double el = qy_seconds_since(p->t_start_ns);
    if (p->enabled) {
        char d[32], r[32], dur[32];
        human_count((double)p->done, d, sizeof d);
        human_count(el > 0 ? (double)p->done / el : 0, r, sizeof r);
        human_duration(el, dur, sizeof dur);
        if (p->tty) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "%s: %s %s in %s (%s %s/s)%s%s\n", p->label, d, p->unit, dur, r, p->unit,
                p->extra[0] ? ", " : "", p->extra);
    }
    return el;
}

/* ---------------------------------------------------------------- cpu */

int qy_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int qy_cpu_has_avx512f(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

const char *qy_build_info(void) {
    return "quarry " QY_VERSION_STRING " (" QY_BUILD_TYPE ", " QY_BUILD_COMPILER ")\n" QY_BUILD_PARTS;
}
