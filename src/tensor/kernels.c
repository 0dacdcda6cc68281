/* kernels.c — small vector helpers shared by the op kernels. */
#include "tensor/tensor_internal.h"

QY_VEC float qy_vsum(const float *x, size_t n) {
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) lane[k] += x[i + k];
    for (; i < n; i++) lane[i % 8] += x[i];
    return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

QY_VEC double qy_sum_exp_shift(const float *x, float shift, size_t n) {
    float buf[512];
    double sum = 0;
    for (size_t c0 = 0; c0 < n; c0 += 512) {
        size_t len = n - c0 < 512 ? n - c0 : 512;
        for (size_t c = 0; c < len; c++) buf[c] = qy_fexp(x[c0 + c] - shift);
        sum += qy_vsum(buf, len);
    }
    return sum;
}

QY_VEC float qy_max(const float *x, size_t n) {
    float lane[8];
    size_t i = 0;
    for (int k = 0; k < 8; k++) lane[k] = x[0];
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) lane[k] = x[i + k] > lane[k] ? x[i + k] : lane[k];
    for (; i < n; i++) lane[0] = x[i] > lane[0] ? x[i] : lane[0];
    float m = lane[0];
    for (int k = 1; k < 8; k++) m = lane[k] > m ? lane[k] : m;
    return m;
}
