/* main.c — `quarry`: one command, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "quarry/base.h"

#define QY_COMMAND(n) extern const qy_command qy_command_##n;
#include "commands.inc"
#undef QY_COMMAND
#define QY_COMMAND(n) &qy_command_##n,
static const qy_command *const commands[] = {
#include "commands.inc"
    NULL};
#undef QY_COMMAND

const qy_command *const *qy_cli_commands(int *n) {
    *n = (int)(sizeof commands / sizeof commands[0]) - 1;
    return commands;
}

static void usage(FILE *out) {
    fprintf(out, "usage: quarry COMMAND [options] [arguments]\n"
                 "\n"
                 "quarry indexes and searches documents, answers questions with retrieval,\n"
                 "recommends items, and trains and edits the transformer models behind them.\n"
                 "\n"
                 "commands:\n");
    for (int i = 0; commands[i]; i++) fprintf(out, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\n"
                 "common options (every command): --threads N, --seed N, --json, --quiet, --verbose, --help\n"
                 "'quarry COMMAND --help' describes a command; 'quarry --version' prints the build.\n"
                 "exit status: 0 success, 1 runtime error, 2 usage error\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        if (!strcmp(cmd, "help") && argc >= 3) {
            for (int i = 0; commands[i]; i++)
                if (!strcmp(commands[i]->name, argv[2])) {
                    char *hargv[] = {argv[2], "--help", NULL};
                    return commands[i]->run(2, hargv);
                }
            fprintf(stderr, "quarry: unknown command '%s'\n", argv[2]);
            usage(stderr);
            return 2;
        }
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        fputs(qy_build_info(), stdout);
        return 0;
    }
    for (int i = 0; commands[i]; i++)
        if (!strcmp(commands[i]->name, cmd)) return commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "quarry: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
