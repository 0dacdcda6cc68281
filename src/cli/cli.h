/* cli.h — the `quarry` command's shared argument parser and command table.
 *
 * Every command file src/cli/cmd_NAME.c defines
 *     const qy_command qy_command_NAME = {"NAME", "one-line summary", run_fn};
 * and the build adds it to the table (no list to edit). A command parses its
 * arguments with qy_cli_parse() against a qy_cli_spec, which gives every
 * command the same common flags (--threads, --seed, --quiet, --verbose,
 * --json, --help), the same usage text layout and the same exit codes:
 *   0 success, 1 runtime error (message from the library), 2 usage error. */
#ifndef QUARRY_CLI_H
#define QUARRY_CLI_H

#include <stdint.h>
#include <stdio.h>

typedef struct qy_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name; returns the exit code */
} qy_command;

typedef enum qy_opt_type {
    QY_OPT_FLAG,   /* dest: int*, set to 1 */
    QY_OPT_INT,    /* dest: long* */
    QY_OPT_DOUBLE, /* dest: double* */
    QY_OPT_STRING  /* dest: const char** (points into argv) */
} qy_opt_type;

typedef struct qy_opt {
    const char *name; /* long name without "--"; NULL ends the table */
    char short_name;  /* 0 for none */
    qy_opt_type type;
    const char *metavar; /* "N", "PATH"... */
    const char *help;
    void *dest;
} qy_opt;

typedef struct qy_cli_spec {
    const char *usage;       /* "quarry tok encode [options] TOKENIZER TEXT..." */
    const char *description; /* what it does, a few lines */
    const qy_opt *opts;      /* command options (may be NULL) */
    int min_pos;             /* positional arguments required */
    int max_pos;             /* -1: no limit */
    const char *examples;    /* may be NULL */
} qy_cli_spec;

typedef struct qy_cli_common {
    int threads;   /* 0: default (QUARRY_THREADS or CPU count) */
    uint64_t seed; /* default 42 */
    int quiet;
    int verbose;
    int json;
    int help;
} qy_cli_common;

enum { QY_CLI_CONTINUE = -1 };

/* Parse argv[1..argc) (argv[0] is the command's name, used in messages).
 * Returns QY_CLI_CONTINUE to go on, 0 when --help was printed, 2 on a usage
 * error (message and usage printed). Positionals are returned in *pos (points
 * into argv, a static-size list up to 256). Applies --quiet/--verbose to the log level. */
int qy_cli_parse(const qy_cli_spec *spec, int argc, char **argv, qy_cli_common *common, int *npos,
                 char ***pos);

void qy_cli_print_usage(FILE *out, const qy_cli_spec *spec);

/* Print "quarry: <library message>" and return 1. */
int qy_cli_fail(int status);

/* Subcommand dispatch for commands with verbs ("quarry lm train ..."). */
typedef struct qy_subcommand {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} qy_subcommand;
int qy_cli_dispatch(const char *group, const char *description, int argc, char **argv,
                    const qy_subcommand *subs);

/* The command table, for `quarry --help`. */
const qy_command *const *qy_cli_commands(int *n);

#endif
