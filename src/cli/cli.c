/* cli.c — argument parsing and usage text shared by every command. */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "quarry/base.h"

#define MAX_POS 256

static const qy_opt common_opts[] = {
    {"threads", 't', QY_OPT_INT, "N", "worker threads (default: $QUARRY_THREADS or all CPUs)", NULL},
    {"seed", 0, QY_OPT_INT, "N", "random seed (default 42); same seed, same bits", NULL},
    {"json", 0, QY_OPT_FLAG, NULL, "machine-readable JSON output on stdout", NULL},
    {"quiet", 'q', QY_OPT_FLAG, NULL, "no progress or info messages on stderr", NULL},
    {"verbose", 'v', QY_OPT_FLAG, NULL, "debug messages on stderr", NULL},
    {"help", 'h', QY_OPT_FLAG, NULL, "show this help and exit", NULL},
    {NULL, 0, QY_OPT_FLAG, NULL, NULL, NULL}};

static void print_opts(FILE *out, const qy_opt *opts) {
    for (const qy_opt *o = opts; o && o->name; o++) {
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        fprintf(out, "  %-28s %s\n", left, o->help);
    }
}

void qy_cli_print_usage(FILE *out, const qy_cli_spec *spec) {
    fprintf(out, "usage: %s\n", spec->usage);
    if (spec->description) fprintf(out, "\n%s\n", spec->description);
    if (spec->opts && spec->opts->name) {
        fprintf(out, "\noptions:\n");
        print_opts(out, spec->opts);
    }
    fprintf(out, "\ncommon options:\n");
    print_opts(out, common_opts);
    if (spec->examples) fprintf(out, "\nexamples:\n%s", spec->examples);
    fprintf(out, "\nexit status: 0 success, 1 runtime error, 2 usage error\n");
}

static int usage_error(const qy_cli_spec *spec, const char *fmt, const char *arg)
    __attribute__((format(printf, 2, 0)));
static int usage_error(const qy_cli_spec *spec, const char *fmt, const char *arg) {
    char msg[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(msg, sizeof msg, fmt, arg);
#pragma GCC diagnostic pop
    fprintf(stderr, "quarry: %s\n", msg);
    qy_cli_print_usage(stderr, spec);
    return 2;
}

static const qy_opt *find_opt(const qy_opt *opts, const char *name, size_t len, char short_name) {
    for (const qy_opt *o = opts; o && o->name; o++) {
        if (short_name) {
            if (o->short_name == short_name) return o;
        } else if (strlen(o->name) == len && !strncmp(o->name, name, len)) {
            return o;
        }
    }
    return NULL;
}

static int set_value(const qy_cli_spec *spec, const qy_opt *o, void *dest, const char *val) {
    char *end;
    switch (o->type) {
    case QY_OPT_INT: {
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno || end == val || *end) return usage_error(spec, "--%s expects an integer", o->name);
        *(long *)dest = (long)v;
        break;
    }
    case QY_OPT_DOUBLE: {
        errno = 0;
        double v = strtod(val, &end);
        if (errno || end == val || *end) return usage_error(spec, "--%s expects a number", o->name);
        *(double *)dest = v;
        break;
    }
    case QY_OPT_STRING: *(const char **)dest = val; break;
    case QY_OPT_FLAG: *(int *)dest = 1; break;
    }
    return 0;
}

int qy_cli_parse(const qy_cli_spec *spec, int argc, char **argv, qy_cli_common *c, int *npos, char ***pos) {
    static _Thread_local char *positional[MAX_POS];
    memset(c, 0, sizeof *c);
    c->seed = 42;
    long threads = 0, seed = 42;
    int n = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (n >= MAX_POS) return usage_error(spec, "too many arguments (more than %s)", "256");
            positional[n++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        const qy_opt *o = NULL;
        const char *inline_val = NULL;
        int is_common = 0;
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (eq) inline_val = eq + 1;
            o = find_opt(spec->opts, name, len, 0);
            if (!o && (o = find_opt(common_opts, name, len, 0))) is_common = 1;
        } else {
            if (a[2] != '\0') return usage_error(spec, "unknown option '%s'", a);
            o = find_opt(spec->opts, NULL, 0, a[1]);
            if (!o && (o = find_opt(common_opts, NULL, 0, a[1]))) is_common = 1;
        }
        if (!o) return usage_error(spec, "unknown option '%s'", a);
        const char *val = NULL;
        if (o->type != QY_OPT_FLAG) {
            if (inline_val)
                val = inline_val;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return usage_error(spec, "option '%s' needs a value", a);
        } else if (inline_val) {
            return usage_error(spec, "option '%s' takes no value", a);
        }
        void *dest = o->dest;
        if (is_common) {
            if (!strcmp(o->name, "threads"))
                dest = &threads;
            else if (!strcmp(o->name, "seed"))
                dest = &seed;
            else if (!strcmp(o->name, "json"))
                dest = &c->json;
            else if (!strcmp(o->name, "quiet"))
                dest = &c->quiet;
            else if (!strcmp(o->name, "verbose"))
                dest = &c->verbose;
            else
                dest = &c->help;
        }
        int rc = set_value(spec, o, dest, val ? val : "");
        if (rc) return rc;
    }
    if (c->help) {
        qy_cli_print_usage(stdout, spec);
        return 0;
    }
    if (threads < 0 || threads > 1024) return usage_error(spec, "--threads must be in 0..1024%s", "");
    if (seed < 0) return usage_error(spec, "--seed must be a non-negative integer%s", "");
    c->threads = (int)threads;
    c->seed = (uint64_t)seed;
    if (c->quiet)
        qy_log_set_level(QY_LOG_QUIET);
    else if (c->verbose)
        qy_log_set_level(QY_LOG_DEBUG);
    if (n < spec->min_pos) return usage_error(spec, "missing arguments%s", "");
    if (spec->max_pos >= 0 && n > spec->max_pos)
        return usage_error(spec, "unexpected argument '%s'", positional[spec->max_pos]);
    *npos = n;
    *pos = positional;
    return QY_CLI_CONTINUE;
}

int qy_cli_fail(int status) {
    const char *m = qy_errmsg();
    fprintf(stderr, "quarry: %s\n", m[0] ? m : qy_status_str(status));
    return 1;
}

int qy_cli_dispatch(const char *group, const char *description, int argc, char **argv,
                    const qy_subcommand *subs) {
    if (argc >= 2 && argv[1][0] != '-') {
        for (const qy_subcommand *s = subs; s->name; s++)
            if (!strcmp(s->name, argv[1])) return s->run(argc - 1, argv + 1);
        fprintf(stderr, "quarry: unknown command '%s %s'\n", group, argv[1]);
    }
    int help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    FILE *out = help ? stdout : stderr;
    fprintf(out, "usage: quarry %s COMMAND [options]\n\n%s\n\ncommands:\n", group, description);
    for (const qy_subcommand *s = subs; s->name; s++) fprintf(out, "  %-12s %s\n", s->name, s->summary);
    fprintf(out, "\n'quarry %s COMMAND --help' describes each command.\n", group);
    return help ? 0 : 2;
}
