/* fuzz_prepare.c — the training-data reader (qy_shard_prepare) on arbitrary
 * JSONL: text records, prompt/response pairs and {"messages": [...]}
 * conversations, chat-formatted with the template the first byte picks (or
 * none), with or without a held-out split. Errors must be statuses with
 * messages, never crashes or leaks, and leave no shard behind; an accepted input
 * must give shards that open and whose mask, when there is one, has a target. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quarry/base.h"
#include "quarry/chat.h"
#include "quarry/train.h"
#include "../train/train_test_util.h"

static void check(int cond) {
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char in[96], tr[96], va[96];
    int pid = (int)getpid();
    snprintf(in, sizeof in, "/tmp/qy-fuzz-prepare-%d.jsonl", pid);
    snprintf(tr, sizeof tr, "/tmp/qy-fuzz-prepare-%d-tr.qyt", pid);
    snprintf(va, sizeof va, "/tmp/qy-fuzz-prepare-%d-va.qyt", pid);
    if (qy_write_file_atomic(in, data + 1, size - 1) != QY_OK) return 0;
    /* first byte: bits 0-1 template (3 = none), bit 2 held-out split, bit 3 system message */
    qy_prepare_cfg pc = {.vocab_size = 257, .eos_id = 256};
    pc.chat = (data[0] & 3) != 3;
    pc.chat_kind = pc.chat ? (int)(data[0] & 3) : 0;
    pc.val_fraction = data[0] & 4 ? 0.5 : 0;
    pc.system = data[0] & 8 ? "sys" : NULL;
    const char *files[] = {in};
    qy_prepare_stats ps;
    uint64_t before = 0;
    qy_alloc_stats a;
    qy_alloc_get_stats(&a);
    before = a.live_blocks;
    int st = qy_shard_prepare(&pc, files, 1, enc_bytes, NULL, tr, pc.val_fraction > 0 ? va : NULL, &ps);
    qy_alloc_get_stats(&a);
    check(a.live_blocks == before);
    if (st == QY_OK) {
        qy_shard *s;
        check(qy_shard_open(tr, &s) == QY_OK);
        check(qy_shard_ntokens(s) == ps.train_tokens && qy_shard_ndocs(s) == ps.train_docs);
        if (qy_shard_mask(s)) {
            uint64_t targets = 0;
            for (uint64_t i = 0; i < qy_shard_ntokens(s); i++) targets += qy_shard_mask(s)[i];
            check(targets >= ps.train_docs); /* at least the EOS of every document */
        }
        qy_shard_close(s);
    } else {
        check(qy_errmsg()[0] != '\0');
        check(!qy_file_exists(tr));
    }
    remove(tr);
    remove(va);
    remove(in);
    return 0;
}
