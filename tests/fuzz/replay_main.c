/* replay_main.c — runs a fuzz target over every file of its corpus folder, so
 * the corpus is a regression test under any compiler (ctest: fuzz_replay_NAME).
 * With -DQUARRY_FUZZ=ON and clang the same target also builds as a libFuzzer
 * binary (fuzz_NAME) for real fuzzing: see CONTRIBUTING.md. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quarry/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "%s: cannot open corpus folder\n", argv[1]);
        return 1;
    }
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        char *buf;
        size_t len;
        if (qy_read_file(path, 0, &buf, &len) != QY_OK) continue;
        /* copy into an exact-size block so ASan sees reads past the end */
        uint8_t *exact = malloc(len ? len : 1);
        if (len) memcpy(exact, buf, len);
        qy_free(buf);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
        n++;
    }
    closedir(d);
    printf("replayed %d inputs from %s\n", n, argv[1]);
    return n > 0 ? 0 : 1;
}
