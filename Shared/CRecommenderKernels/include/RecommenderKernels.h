#ifndef STREAMREC_RECOMMENDER_KERNELS_H
#define STREAMREC_RECOMMENDER_KERNELS_H

#include <stdint.h>

/// Dense float kernels of the recommender core (pure computation, no I/O). On x86-64 Linux each is
/// compiled twice, for baseline x86-64 and for x86-64-v3 (AVX2 + FMA), and the loader picks the one the
/// CPU runs (GNU ifunc), so a portable build still uses the wide units where they exist.

/// gram[a * k + b] += Σ_rows y[row * k + a] · y[row * k + b] for a in [aBegin, aEnd), every b.
void sr_gram_rows(const float *y, long rowCount, int k, int aBegin, int aEnd, float *gram);

/// output[row] = Σ_c matrix[row * columns + c] · vector[c] for every row.
void sr_matrix_vector(const float *matrix, long rowCount, int columns, const float *vector, float *output);

/// output[i] = Σ_c matrix[rows[i] * columns + c] · vector[c] for i < count: the same float sums as
/// sr_matrix_vector's, bit for bit, for chosen rows only (the exact scores of quantised scoring's candidates).
void sr_rows_dot(const float *matrix, int columns, const int32_t *rows, long count, const float *vector, float *output);

/// Quantised catalog scoring's first pass (Shared/Recommender/QuantizedItemFactors.swift has the layout and
/// the proof): for items in blocks of 8, blocks[b][p][16] holding 8 items' int8 values of factors 2p, 2p + 1,
/// upper[i] = (float)(Σ_f q_if · vector_f) · (scales[i] · vectorScale) + (l1 · radius[i] + vectorError · spread[i])
/// for i < 8 · blockCount, the integer sum exact. Returns the lowest upper[i]. sr_quantized_upper_bounds runs
/// the AVX2 kernel where the CPU has it (sr_quantized_scoring_accelerated), else the portable one; both give the
/// same bounds bit for bit.
float sr_quantized_upper_bounds(
    const int8_t *blocks, const float *scales, const float *radius, const float *spread, long blockCount, int pairCount,
    const int16_t *vector, float vectorScale, float l1, float vectorError, float *upper);
float sr_quantized_upper_bounds_portable(
    const int8_t *blocks, const float *scales, const float *radius, const float *spread, long blockCount, int pairCount,
    const int16_t *vector, float vectorScale, float l1, float vectorError, float *upper);
/// 1 where sr_quantized_upper_bounds runs its AVX2 kernel (x86-64 with AVX2), else 0.
int sr_quantized_scoring_accelerated(void);

/// Implicit-ALS rows [rowBegin, rowEnd) of x solved against the fixed factors y by conjugate gradient:
/// A x = b with A = gram + Σ_obs (c − w0) y yᵀ, b = Σ_obs c y, c = 1 + alpha · value, started from x.
/// Row r's observations are columns/values[offsets[r] ..< offsets[r + 1]]. Stops a row early once its
/// squared residual is below relativeTolerance times its starting value (0: every step). scratch holds
/// 3 · k floats.
void sr_als_solve_rows(
    float *x, const float *y, const float *gram, int k, const long *offsets, const int32_t *columns,
    const float *values, long rowBegin, long rowEnd, float alpha, float unobservedWeight, int steps,
    float relativeTolerance, float *scratch);

/// output[c] += Σ_i weights[i] · matrix[rows[i] * columns + c] for every column c: a weighted sum of
/// rows (an item–item model's scores for a history). Column blocks keep a stretch of output in L1
/// across the rows.
void sr_weighted_rows_sum(const float *matrix, long columns, const int32_t *rows, const float *weights, long count, float *output);
/// Blocked Gauss–Jordan inversion of a symmetric positive definite n × n matrix `a` (row-major, in place),
/// the sweep operator over a block of `bs` ≤ 256 pivots [kb, kb + bs) at a time: sr_sweep_prepare (P = A_KK⁻¹
/// into pinv, bs × bs; panel = P · A_K* with zero K columns, bs × n), then sr_sweep_update_rows and
/// sr_sweep_pivot_columns over every row (disjoint row ranges may run on different threads), then
/// sr_sweep_finish. Sweeping every block in turn leaves A⁻¹.
void sr_sweep_prepare(float *a, long n, long kb, int bs, float *pinv, float *panel);
void sr_sweep_update_rows(float *a, long n, long kb, int bs, const float *panel, long rowBegin, long rowEnd);
void sr_sweep_pivot_columns(float *a, long n, long kb, int bs, const float *pinv, long rowBegin, long rowEnd);
void sr_sweep_finish(float *a, long n, long kb, int bs, const float *pinv, const float *panel);
#endif
