// The batch-norm row loops that compute in double (batch_norm3d.cpp): the statistics, the
// backward's sums and dx, shared by the baseline build and the AVX-512 build of the same source
// (batch_norm3d_rows.inc), which computes 8 doubles per instruction where the baseline computes
// 2. Both give the reference's bits (vectorised across channels, each channel's terms in row
// order; no contraction into FMA: the level files are compiled with -ffp-contract=off; the
// op-case table checks the bits at every level).
#pragma once
#include <cstdint>

namespace ctv::kernels::fast {

// Per channel: mean, invstd, gamma, k = gamma * invstd, a = sum_dz / M, s = sum_dz_xhat.
struct BnDxChannel {
  double mean, invstd, gamma, k, a, s;
};

// dx for rows [r0, r1) of [M][C] (see batch_norm3d.cpp). Only on CPUs with AVX-512 F.
void batch_norm_dx_rows_avx512(std::int64_t C, bool relu, bool train, std::int64_t r0,
                               std::int64_t r1, const float* x, const float* y, const float* dy,
                               const BnDxChannel* ch, double inv_m, float* dx);

// acc[c] += x[m][c] (var: (x[m][c] - mean[c])^2) over rows [r0, r1), in row order.
void batch_norm_stat_rows_avx512(std::int64_t C, bool var, std::int64_t r0, std::int64_t r1,
                                 const float* x, const double* mean, double* acc);
// acc[c] += dz, acc[C + c] += dz * (x - mean) * invstd over rows [r0, r1), in row order;
// dz = (y > 0 ? dy : 0) with relu, else dy.
void batch_norm_grad_sum_rows_avx512(std::int64_t C, bool relu, std::int64_t r0, std::int64_t r1,
                                     const float* x, const float* y, const float* dy,
                                     const double* mean, const double* invstd, double* acc);

}  // namespace ctv::kernels::fast
