/* Transformer families against transformers 5.17 goldens (fixtures/models/NAME/golden.json):
 * logits and final hidden states (max abs error <= 1e-4), loss (<= 1e-5 relative),
 * every parameter's gradient (L2 norm <= 1e-4 relative, first 8 values <= 1e-4
 * absolute + 1e-4 relative), parameters after one AdamW step (<= 1e-5), the loss
 * after that step; BERT's last hidden state, CLS and mean-pooled embeddings with
 * padding (<= 1e-4). */
#include <cjson/cJSON.h>
#include <math.h>

#include "qy_test.h"
#include "quarry/lm.h"

static qy_pool *pool;

static int fixture_dir(const char *name, char *buf, size_t cap) {
    char rel[128];
    snprintf(rel, sizeof rel, "fixtures/models/%s/golden.json", name);
    if (!qy_test_shared(rel, buf, cap)) return 0;
    char *slash = strrchr(buf, '/');
    *slash = '\0';
    return 1;
}

/* flatten a nested JSON number array into out (returns count) */
static size_t flatten(const cJSON *n, float *out, size_t cap, size_t at) {
    if (cJSON_IsNumber(n)) {
        if (at < cap) out[at] = (float)n->valuedouble;
        return at + 1;
    }
    for (const cJSON *c = n ? n->child : NULL; c; c = c->next) at = flatten(c, out, cap, at);
    return at;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

static void read_ids(const cJSON *root, int32_t *ids, int *B, int *T) {
    const cJSON *rows = cJSON_GetObjectItem(root, "input_ids");
    *B = cJSON_GetArraySize(rows);
    *T = cJSON_GetArraySize(cJSON_GetArrayItem(rows, 0));
    int k = 0;
    for (const cJSON *r = rows->child; r; r = r->next)
        for (const cJSON *v = r->child; v; v = v->next) ids[k++] = (int32_t)v->valuedouble;
}

static void check_decoder(const char *name) {
    char dir[512], path[600];
    if (!fixture_dir(name, dir, sizeof dir)) skip();
    snprintf(path, sizeof path, "%s/golden.json", dir);
    qy_json *doc;
    assert_int_equal(qy_json_read_file(path, &doc), QY_OK);
    const cJSON *root = qy_json_root(doc);
    qy_lm *lm;
    if (qy_lm_load(dir, &lm) != QY_OK) fail_msg("%s", qy_errmsg());
    const qy_lm_config *cfg = qy_lm_get_config(lm);
    int32_t ids[64];
    int B, T;
    read_ids(root, ids, &B, &T);
    size_t V = (size_t)cfg->vocab_size, C = (size_t)cfg->hidden_size, BT = (size_t)B * (size_t)T;
    float *want = qy_mallocn(BT * V, sizeof(float));

    qy_graph *g;
    assert_int_equal(qy_graph_new(pool, &g), QY_OK);
    qy_lm_batch b = {.B = B, .T = T, .ids = ids};
    qy_tensor *hidden, *logits;
    if (qy_lm_forward(lm, g, &b, &hidden, &logits) != QY_OK) fail_msg("%s", qy_errmsg());
    assert_int_equal(flatten(cJSON_GetObjectItem(root, "logits"), want, BT * V, 0), BT * V);
    double d = max_abs_diff(logits->data, want, BT * V);
    printf("%s: logits max |diff| %.3g\n", name, d);
    assert_true(d <= 1e-4);
    assert_int_equal(flatten(cJSON_GetObjectItem(root, "hidden_states_last"), want, BT * C, 0), BT * C);
    d = max_abs_diff(hidden->data, want, BT * C);
    printf("%s: hidden max |diff| %.3g\n", name, d);
    assert_true(d <= 1e-4);

    /* loss and gradients */
    qy_graph_reset(g);
    qy_params *ps = qy_lm_params(lm);
    qy_params_zero_grad(ps);
    qy_tensor *loss;
    if (qy_lm_loss(lm, g, &b, &loss) != QY_OK) fail_msg("%s", qy_errmsg());
    double want_loss = cJSON_GetObjectItem(root, "loss")->valuedouble;
    printf("%s: loss %.8f (transformers %.8f)\n", name, loss->data[0], want_loss);
    assert_true(fabs(loss->data[0] - want_loss) <= 1e-5 * fabs(want_loss));
    assert_int_equal(qy_graph_backward(g, loss), QY_OK);
    const cJSON *grads = cJSON_GetObjectItem(root, "grads");
    double worst_l2 = 0, worst_head = 0;
    int nparams = 0;
    for (const cJSON *gp = grads->child; gp; gp = gp->next) {
        qy_tensor *t = qy_params_find(ps, gp->string);
        if (!t) fail_msg("%s: no parameter %s", name, gp->string);
        double l2 = 0;
        for (size_t i = 0; i < t->n; i++) l2 += (double)t->grad[i] * t->grad[i];
        l2 = sqrt(l2);
        double wl2 = cJSON_GetObjectItem(gp, "l2")->valuedouble;
        double rel = fabs(l2 - wl2) / fmax(wl2, 1e-12);
        worst_l2 = fmax(worst_l2, rel);
        if (rel > 1e-4) fail_msg("%s: grad of %s: L2 %.8g, transformers %.8g", name, gp->string, l2, wl2);
        float head[8];
        size_t nh = flatten(cJSON_GetObjectItem(gp, "head"), head, 8, 0);
        for (size_t i = 0; i < nh; i++) {
            double e = fabs((double)t->grad[i] - head[i]);
            worst_head = fmax(worst_head, e);
            if (e > 1e-4 + 1e-4 * fabs(head[i]))
                fail_msg("%s: grad of %s[%zu]: %.8g, transformers %.8g", name, gp->string, i, t->grad[i],
                         head[i]);
        }
        nparams++;
    }
    assert_int_equal((size_t)nparams, qy_params_count(ps));
    printf("%s: %d gradients, worst L2 rel %.3g, worst head abs %.3g\n", name, nparams, worst_l2, worst_head);

    /* one AdamW step, decay on every parameter */
    const cJSON *aw = cJSON_GetObjectItem(root, "adamw");
    const cJSON *betas = cJSON_GetObjectItem(aw, "betas");
    qy_adamw_cfg acfg = {.lr = (float)cJSON_GetObjectItem(aw, "lr")->valuedouble,
                         .beta1 = (float)cJSON_GetArrayItem(betas, 0)->valuedouble,
                         .beta2 = (float)cJSON_GetArrayItem(betas, 1)->valuedouble,
                         .eps = (float)cJSON_GetObjectItem(aw, "eps")->valuedouble,
                         .weight_decay = (float)cJSON_GetObjectItem(aw, "weight_decay")->valuedouble};
    qy_optim *opt;
    assert_int_equal(qy_adamw_new(ps, &acfg, &opt), QY_OK);
    assert_int_equal(qy_optim_set_group(opt, QY_GROUP_NO_DECAY, 1.0f, acfg.weight_decay), QY_OK);
    assert_int_equal(qy_optim_step(opt, acfg.lr), QY_OK);
    double worst_p = 0;
    for (const cJSON *pp = cJSON_GetObjectItem(aw, "params_after_head")->child; pp; pp = pp->next) {
        qy_tensor *t = qy_params_find(ps, pp->string);
        float head[8];
        size_t nh = flatten(pp, head, 8, 0);
        for (size_t i = 0; i < nh; i++) worst_p = fmax(worst_p, fabs((double)t->data[i] - head[i]));
    }
    printf("%s: params after AdamW max |diff| %.3g\n", name, worst_p);
    assert_true(worst_p <= 1e-5);
    qy_graph_reset(g);
    assert_int_equal(qy_lm_loss(lm, g, &b, &loss), QY_OK);
    double after = cJSON_GetObjectItem(root, "loss_after_step")->valuedouble;
    printf("%s: loss after step %.8f (transformers %.8f)\n", name, loss->data[0], after);
    assert_true(fabs(loss->data[0] - after) <= 1e-4 * fabs(after));
    qy_optim_free(opt);
    qy_graph_free(g);
    qy_free(want);
    qy_lm_free(lm);
    qy_json_free(doc);
}

static void test_gpt2(void **state) { check_decoder("gpt2-tiny"); }
static void test_llama(void **state) { check_decoder("llama-tiny"); }
static void test_qwen2(void **state) { check_decoder("qwen2-tiny"); }
static void test_qwen3(void **state) { check_decoder("qwen3-tiny"); }

static void test_bert(void **state) {
    char dir[512], path[600];
    if (!fixture_dir("bert-tiny", dir, sizeof dir)) skip();
    snprintf(path, sizeof path, "%s/golden.json", dir);
    qy_json *doc;
    assert_int_equal(qy_json_read_file(path, &doc), QY_OK);
    const cJSON *root = qy_json_root(doc);
    qy_lm *lm;
    if (qy_lm_load(dir, &lm) != QY_OK) fail_msg("%s", qy_errmsg());
    int32_t ids[64];
    int B, T;
    read_ids(root, ids, &B, &T);
    float maskf[64];
    uint8_t mask[64];
    size_t BT = (size_t)B * (size_t)T, C = (size_t)qy_lm_get_config(lm)->hidden_size;
    assert_int_equal(flatten(cJSON_GetObjectItem(root, "attention_mask"), maskf, 64, 0), BT);
    for (size_t i = 0; i < BT; i++) mask[i] = maskf[i] != 0;
    qy_graph *g;
    assert_int_equal(qy_graph_new(pool, &g), QY_OK);
    qy_graph_set_grad_enabled(g, 0);
    qy_lm_batch b = {.B = B, .T = T, .ids = ids, .attn_mask = mask};
    qy_tensor *hidden, *logits;
    if (qy_lm_forward(lm, g, &b, &hidden, &logits) != QY_OK) fail_msg("%s", qy_errmsg());
    assert_null(logits);
    float *want = qy_mallocn(BT * C, sizeof(float));
    assert_int_equal(flatten(cJSON_GetObjectItem(root, "last_hidden_state"), want, BT * C, 0), BT * C);
    double d = max_abs_diff(hidden->data, want, BT * C);
    printf("bert-tiny: last_hidden_state max |diff| %.3g\n", d);
    assert_true(d <= 1e-4);
    /* CLS and mask-weighted mean pooling */
    float cls[2 * 64], mean[2 * 64], got_cls[2 * 64], got_mean[2 * 64];
    assert_int_equal(flatten(cJSON_GetObjectItem(root, "cls"), cls, 128, 0), (size_t)B * C);
    assert_int_equal(flatten(cJSON_GetObjectItem(root, "mean_pooled"), mean, 128, 0), (size_t)B * C);
    for (int i = 0; i < B; i++) {
        double cnt = 0;
        for (size_t c = 0; c < C; c++) got_mean[(size_t)i * C + c] = 0;
        for (int t = 0; t < T; t++) {
            if (!mask[i * T + t]) continue;
            cnt++;
            for (size_t c = 0; c < C; c++)
                got_mean[(size_t)i * C + c] += hidden->data[((size_t)i * T + t) * C + c];
        }
        for (size_t c = 0; c < C; c++) {
            got_mean[(size_t)i * C + c] = (float)(got_mean[(size_t)i * C + c] / cnt);
            got_cls[(size_t)i * C + c] = hidden->data[(size_t)i * T * C + c];
        }
    }
    double dc = max_abs_diff(got_cls, cls, (size_t)B * C), dm = max_abs_diff(got_mean, mean, (size_t)B * C);
    printf("bert-tiny: cls %.3g, mean_pooled %.3g\n", dc, dm);
    assert_true(dc <= 1e-4 && dm <= 1e-4);
    qy_free(want);
    qy_graph_free(g);
    qy_lm_free(lm);
    qy_json_free(doc);
}

static int setup(void **state) { return qy_pool_new(2, &pool); }
static int teardown(void **state) {
    qy_pool_free(pool);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2),  cmocka_unit_test(test_llama), cmocka_unit_test(test_qwen2),
        cmocka_unit_test(test_qwen3), cmocka_unit_test(test_bert),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
