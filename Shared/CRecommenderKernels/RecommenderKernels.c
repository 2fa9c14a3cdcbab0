#include "RecommenderKernels.h"
#include <math.h>
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

// Blocked Gauss–Jordan inversion of a symmetric positive definite matrix (EASE's Gram matrix): the sweep
// operator applied to a block K of pivots at a time. With P = A_KK⁻¹: A_KK ← P, A_Kj ← P A_Kj,
// A_iK ← −A_iK P, A_ij ← A_ij − A_iK (P A_Kj) for i, j outside K. The last is a rank-|K| update of the whole
// matrix, which is where the time goes: done a block at a time it reads the matrix from memory n / |K| times
// instead of n times (one pivot at a time is bound by memory bandwidth, not arithmetic).

SR_MULTIVERSION
void sr_sweep_prepare(float *a, long n, long kb, int bs, float *pinv, float *panel) {
    // P = A_KK⁻¹ by unblocked Gauss–Jordan on a copy (every pivot positive: the matrix is positive definite).
    for (int r = 0; r < bs; r++) memcpy(pinv + (long)r * bs, a + (kb + r) * n + kb, sizeof(float) * (size_t)bs);
    for (int k = 0; k < bs; k++) {
        float *base = pinv + (long)k * bs;
        const float inverse = 1 / base[k];
        for (int j = 0; j < bs; j++) base[j] *= inverse;
        base[k] = inverse;
        for (int i = 0; i < bs; i++) {
            if (i == k) continue;
            float *row = pinv + (long)i * bs;
            const float factor = row[k];
            if (factor == 0) continue;
            for (int j = 0; j < bs; j++) row[j] -= factor * base[j];
            row[k] = -factor * base[k];
        }
    }
    // panel = P · A_K*, with the columns of K zero (the update leaves them alone; they are set from P).
    memset(panel, 0, sizeof(float) * (size_t)bs * (size_t)n);
    for (int r = 0; r < bs; r++) {
        float *out = panel + (long)r * n;
        for (int t = 0; t < bs; t++) sr_axpy(pinv[(long)r * bs + t], a + (kb + t) * n, out, (int)n);
        for (int j = 0; j < bs; j++) out[kb + j] = 0;
    }
}

// Rows i (outside K) of [rowBegin, rowEnd): A_i* −= A_iK · panel, four rows and 16 columns at a time so that
// each panel load serves four rows, in column tiles that keep the panel's tile in cache across the rows.
// The body, inlined into each variant of sr_sweep_update_rows (vector code directly in a multiversioned
// function trips clang's AVX calling-convention check; the other kernels are written the same way).
static inline __attribute__((always_inline)) void sr_sweep_update(
    float *a, long n, long kb, int bs, const float *panel, long rowBegin, long rowEnd) {
    const long tile = 512;
    float c[4][256];
    if (bs > 256) return;
    for (long j0 = 0; j0 < n; j0 += tile) {
        const long j1 = j0 + tile < n ? j0 + tile : n;
        long i = rowBegin;
        while (i < rowEnd) {
            long rows[4];
            int count = 0;
            while (count < 4 && i < rowEnd) {
                if (i < kb || i >= kb + bs) rows[count++] = i;
                i++;
            }
            // The K columns are unchanged by the update (the panel is zero there), so they are read as they were.
            for (int r = 0; r < count; r++) memcpy(c[r], a + rows[r] * n + kb, sizeof(float) * (size_t)bs);
            if (count == 4) {
                float *r0 = a + rows[0] * n, *r1 = a + rows[1] * n, *r2 = a + rows[2] * n, *r3 = a + rows[3] * n;
                long j = j0;
                for (; j + 16 <= j1; j += 16) {
                    sr_v8 a0 = sr_load(r0 + j), b0 = sr_load(r0 + j + 8);
                    sr_v8 a1 = sr_load(r1 + j), b1 = sr_load(r1 + j + 8);
                    sr_v8 a2 = sr_load(r2 + j), b2 = sr_load(r2 + j + 8);
                    sr_v8 a3 = sr_load(r3 + j), b3 = sr_load(r3 + j + 8);
                    for (int t = 0; t < bs; t++) {
                        const sr_v8 p = sr_load(panel + (long)t * n + j), q = sr_load(panel + (long)t * n + j + 8);
                        a0 -= c[0][t] * p; b0 -= c[0][t] * q;
                        a1 -= c[1][t] * p; b1 -= c[1][t] * q;
                        a2 -= c[2][t] * p; b2 -= c[2][t] * q;
                        a3 -= c[3][t] * p; b3 -= c[3][t] * q;
                    }
                    sr_store(r0 + j, a0); sr_store(r0 + j + 8, b0);
                    sr_store(r1 + j, a1); sr_store(r1 + j + 8, b1);
                    sr_store(r2 + j, a2); sr_store(r2 + j + 8, b2);
                    sr_store(r3 + j, a3); sr_store(r3 + j + 8, b3);
                }
                for (; j < j1; j++) {
                    float s0 = r0[j], s1 = r1[j], s2 = r2[j], s3 = r3[j];
                    for (int t = 0; t < bs; t++) {
                        const float p = panel[(long)t * n + j];
                        s0 -= c[0][t] * p; s1 -= c[1][t] * p; s2 -= c[2][t] * p; s3 -= c[3][t] * p;
                    }
                    r0[j] = s0; r1[j] = s1; r2[j] = s2; r3[j] = s3;
                }
            } else {
                for (int r = 0; r < count; r++) {
                    float *row = a + rows[r] * n;
                    long j = j0;
                    for (; j + 8 <= j1; j += 8) {
                        sr_v8 acc = sr_load(row + j);
                        for (int t = 0; t < bs; t++) acc -= c[r][t] * sr_load(panel + (long)t * n + j);
                        sr_store(row + j, acc);
                    }
                    for (; j < j1; j++) {
                        float s = row[j];
                        for (int t = 0; t < bs; t++) s -= c[r][t] * panel[(long)t * n + j];
                        row[j] = s;
                    }
                }
            }
        }
    }
}

SR_MULTIVERSION
void sr_sweep_update_rows(float *a, long n, long kb, int bs, const float *panel, long rowBegin, long rowEnd) {
    sr_sweep_update(a, n, kb, bs, panel, rowBegin, rowEnd);
}

// Rows i (outside K) of [rowBegin, rowEnd): A_iK ← −A_iK · P, after the update (which left A_iK as it was).
SR_MULTIVERSION
void sr_sweep_pivot_columns(float *a, long n, long kb, int bs, const float *pinv, long rowBegin, long rowEnd) {
    float c[256];
    if (bs > 256) return;
    for (long i = rowBegin; i < rowEnd; i++) {
        if (i >= kb && i < kb + bs) continue;
        float *row = a + i * n + kb;
        memcpy(c, row, sizeof(float) * (size_t)bs);
        for (int s = 0; s < bs; s++) row[s] = 0;
        for (int t = 0; t < bs; t++) sr_axpy(-c[t], pinv + (long)t * bs, row, bs);
    }
}

// A_K* ← panel (P A_Kj outside K), A_KK ← P.
void sr_sweep_finish(float *a, long n, long kb, int bs, const float *pinv, const float *panel) {
    for (int r = 0; r < bs; r++) {
        float *row = a + (kb + r) * n;
        memcpy(row, panel + (long)r * n, sizeof(float) * (size_t)n);
        memcpy(row + kb, pinv + (long)r * bs, sizeof(float) * (size_t)bs);
    }
}

SR_MULTIVERSION
void sr_rows_dot(const float *matrix, int columns, const int32_t *rows, long count, const float *vector, float *output) {
    for (long i = 0; i < count; i++) output[i] = sr_dot(matrix + (long)rows[i] * columns, vector, columns);
}

// The first pass of quantised catalog scoring (see the header). The integer sums are exact in both variants;
// the float steps after them are written one operation per statement with contraction off, so the two
// variants round identically and give the same bounds bit for bit (the tests compare them).
#pragma STDC FP_CONTRACT OFF

static float sr_quantized_upper_bounds_portable_body(
    const int8_t *blocks, const float *scales, const float *radius, const float *spread, long blockCount, int pairCount,
    const int16_t *vector, float vectorScale, float l1, float vectorError, float *upper) {
    float lowest = INFINITY;
    for (long b = 0; b < blockCount; b++) {
        const int8_t *block = blocks + b * 16L * pairCount;
        int32_t sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int p = 0; p < pairCount; p++) {
            const int8_t *pair = block + 16L * p;
            const int32_t x0 = vector[2 * p], x1 = vector[2 * p + 1];
            for (int j = 0; j < 8; j++) sums[j] += (int32_t)pair[2 * j] * x0 + (int32_t)pair[2 * j + 1] * x1;
        }
        for (int j = 0; j < 8; j++) {
            const long i = b * 8 + j;
            const float unit = scales[i] * vectorScale;
            const float approximate = (float)sums[j] * unit;
            const float fromItem = l1 * radius[i];
            const float fromVector = vectorError * spread[i];
            const float error = fromItem + fromVector;
            upper[i] = approximate + error;
            lowest = upper[i] < lowest ? upper[i] : lowest;
        }
    }
    return lowest;
}

float sr_quantized_upper_bounds_portable(
    const int8_t *blocks, const float *scales, const float *radius, const float *spread, long blockCount, int pairCount,
    const int16_t *vector, float vectorScale, float l1, float vectorError, float *upper) {
    return sr_quantized_upper_bounds_portable_body(blocks, scales, radius, spread, blockCount, pairCount, vector, vectorScale, l1, vectorError, upper);
}

#if defined(__x86_64__)
#include <immintrin.h>

// AVX2: per pair of factors, 16 int8 (8 items × 2 factors) widened to int16 and multiplied by the pair of the
// vector's int16 values (vpmaddwd), summed in int32: 16 multiply-adds per three instructions, no horizontal
// sums (the 8 lanes are 8 items).
__attribute__((target("avx2")))
static float sr_quantized_upper_bounds_avx2(
    const int8_t *blocks, const float *scales, const float *radius, const float *spread, long blockCount, int pairCount,
    const int16_t *vector, float vectorScale, float l1, float vectorError, float *upper) {
    __m256i pairs[128];
    for (int p = 0; p < pairCount; p++) {
        int32_t both;
        memcpy(&both, vector + 2 * p, sizeof both);
        pairs[p] = _mm256_set1_epi32(both);
    }
    const __m256 vScale = _mm256_set1_ps(vectorScale), vL1 = _mm256_set1_ps(l1), vError = _mm256_set1_ps(vectorError);
    __m256 lowest = _mm256_set1_ps(INFINITY);
    for (long b = 0; b < blockCount; b++) {
        const int8_t *block = blocks + b * 16L * pairCount;
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        int p = 0;
        for (; p + 2 <= pairCount; p += 2) {
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(block + 16L * p))), pairs[p]));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(block + 16L * p + 16))), pairs[p + 1]));
        }
        for (; p < pairCount; p++) {
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(block + 16L * p))), pairs[p]));
        }
        const long i = b * 8;
        const __m256 unit = _mm256_mul_ps(_mm256_loadu_ps(scales + i), vScale);
        const __m256 approximate = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), unit);
        const __m256 error = _mm256_add_ps(_mm256_mul_ps(vL1, _mm256_loadu_ps(radius + i)), _mm256_mul_ps(vError, _mm256_loadu_ps(spread + i)));
        const __m256 bound = _mm256_add_ps(approximate, error);
        _mm256_storeu_ps(upper + i, bound);
        lowest = _mm256_min_ps(lowest, bound);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, lowest);
    float result = INFINITY;
    for (int j = 0; j < 8; j++) result = lanes[j] < result ? lanes[j] : result;
    return result;
}
#endif

int sr_quantized_scoring_accelerated(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}

float sr_quantized_upper_bounds(
    const int8_t *blocks, const float *scales, const float *radius, const float *spread, long blockCount, int pairCount,
    const int16_t *vector, float vectorScale, float l1, float vectorError, float *upper) {
#if defined(__x86_64__)
    if (pairCount <= 128 && __builtin_cpu_supports("avx2")) {
        return sr_quantized_upper_bounds_avx2(blocks, scales, radius, spread, blockCount, pairCount, vector, vectorScale, l1, vectorError, upper);
    }
#endif
    return sr_quantized_upper_bounds_portable_body(blocks, scales, radius, spread, blockCount, pairCount, vector, vectorScale, l1, vectorError, upper);
}
