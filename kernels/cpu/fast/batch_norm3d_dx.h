// The batch-norm backward's dx rows (batch_norm3d.cpp), shared by the baseline build and the
// AVX-512 build of the same source (batch_norm3d_dx.inc): the expression is in double, and the
// AVX-512 level computes 8 doubles per instruction where the baseline computes 2. Both give the
// reference's bits (no contraction into FMA: the project compiles in ISO C++ mode, where GCC's
// -ffp-contract is off; the op-case table checks the bits at every level).
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

}  // namespace ctv::kernels::fast
