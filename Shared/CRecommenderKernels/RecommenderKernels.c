#include "RecommenderKernels.h"
#include <string.h>

// Both variants on x86-64 Linux (ifunc dispatch at load time); elsewhere the compiler's own target.
#if defined(__x86_64__) && defined(__linux__)
#define SR_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SR_MULTIVERSION
#endif

// Row offsets come from Swift `[Int]` buffers: 64-bit, which `long` is on the LP64 targets this builds for.
_Static_assert(sizeof(long) == 8, "offsets are Swift Ints");

typedef float sr_v8 __attribute__((ext_vector_type(8)));

// The helpers below take and return 8-float vectors; clang warns that their calling convention differs
// with and without AVX. They are always inlined into one variant, never called across that boundary.
#pragma clang diagnostic ignored "-Wpsabi"

static inline __attribute__((always_inline)) sr_v8 sr_load(const float *p) {
    sr_v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) void sr_store(float *p, sr_v8 v) { memcpy(p, &v, sizeof v); }

static inline __attribute__((always_inline)) float sr_sum(sr_v8 v) {
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

// Four independent accumulators: one would chain every multiply-add on the previous one's latency.
static inline __attribute__((always_inline)) float sr_dot(const float *a, const float *b, int n) {
    sr_v8 s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 += sr_load(a + i) * sr_load(b + i);
        s1 += sr_load(a + i + 8) * sr_load(b + i + 8);
        s2 += sr_load(a + i + 16) * sr_load(b + i + 16);
        s3 += sr_load(a + i + 24) * sr_load(b + i + 24);
    }
    for (; i + 8 <= n; i += 8) s0 += sr_load(a + i) * sr_load(b + i);
    float total = sr_sum((s0 + s1) + (s2 + s3));
    for (; i < n; i++) total += a[i] * b[i];
    return total;
}

// y += a · x
static inline __attribute__((always_inline)) void sr_axpy(float a, const float *x, float *y, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) sr_store(y + i, sr_load(y + i) + a * sr_load(x + i));
    for (; i < n; i++) y[i] += a * x[i];
}

static inline __attribute__((always_inline)) void sr_square_times(const float *m, int n, const float *v, float *out) {
    for (int row = 0; row < n; row++) out[row] = sr_dot(m + (long)row * n, v, n);
}

SR_MULTIVERSION
void sr_gram_rows(const float *y, long rowCount, int k, int aBegin, int aEnd, float *gram) {
    for (long row = 0; row < rowCount; row++) {
        const float *yRow = y + row * k;
        for (int a = aBegin; a < aEnd; a++) {
            if (yRow[a] != 0) sr_axpy(yRow[a], yRow, gram + (long)a * k, k);
        }
    }
}

SR_MULTIVERSION
void sr_matrix_vector(const float *matrix, long rowCount, int columns, const float *vector, float *output) {
    for (long row = 0; row < rowCount; row++) output[row] = sr_dot(matrix + row * columns, vector, columns);
}

SR_MULTIVERSION
void sr_als_solve_rows(
    float *xAll, const float *y, const float *gram, int k, const long *offsets, const int32_t *columns,
    const float *values, long rowBegin, long rowEnd, float alpha, float w0, int steps, float relativeTolerance,
    float *scratch) {
    float *r = scratch, *p = scratch + k, *ap = scratch + 2 * k;
    for (long row = rowBegin; row < rowEnd; row++) {
        float *x = xAll + row * k;
        const long start = offsets[row], end = offsets[row + 1];
        // r = b − A x
        sr_square_times(gram, k, x, r);
        for (int f = 0; f < k; f++) r[f] = -r[f];
        for (long index = start; index < end; index++) {
            const float *yi = y + (long)columns[index] * k;
            const float confidence = 1 + alpha * values[index];
            sr_axpy(confidence - (confidence - w0) * sr_dot(yi, x, k), yi, r, k);
        }
        memcpy(p, r, sizeof(float) * (size_t)k);
        float rsOld = sr_dot(r, r, k);
        if (rsOld < 1e-20f) continue;
        float threshold = relativeTolerance * rsOld;
        if (threshold < 1e-20f) threshold = 1e-20f;
        for (int step = 0; step < steps; step++) {
            sr_square_times(gram, k, p, ap);
            for (long index = start; index < end; index++) {
                const float *yi = y + (long)columns[index] * k;
                const float confidence = 1 + alpha * values[index];
                sr_axpy((confidence - w0) * sr_dot(yi, p, k), yi, ap, k);
            }
            const float pAp = sr_dot(p, ap, k);
            if (!(pAp > 0)) break;
            const float stepSize = rsOld / pAp;
            sr_axpy(stepSize, p, x, k);
            sr_axpy(-stepSize, ap, r, k);
            const float rsNew = sr_dot(r, r, k);
            if (rsNew < threshold) break;
            const float ratio = rsNew / rsOld;
            for (int f = 0; f < k; f++) p[f] = r[f] + ratio * p[f];
            rsOld = rsNew;
        }
    }
}

SR_MULTIVERSION
void sr_weighted_rows_sum(const float *matrix, long columns, const int32_t *rows, const float *weights, long count, float *output) {
    const long block = 1024;
    for (long start = 0; start < columns; start += block) {
        int width = (int)(columns - start < block ? columns - start : block);
        for (long i = 0; i < count; i++) {
            if (weights[i] != 0) sr_axpy(weights[i], matrix + (long)rows[i] * columns + start, output + start, width);
        }
    }
}
