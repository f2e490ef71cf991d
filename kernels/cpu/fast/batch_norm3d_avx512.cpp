// The batch-norm backward's dx rows for AVX-512 F (batch_norm3d_rows.inc): 8 doubles per
// instruction. Compiled with the level's flags (CMakeLists.txt); reached only through
// batch_norm3d.cpp when cpu_isa() is avx512.
#include <cstdint>

#include "kernels/cpu/fast/batch_norm3d_rows.h"

namespace ctv::kernels::fast {
namespace {
#include "kernels/cpu/fast/batch_norm3d_rows.inc"
}  // namespace

void batch_norm_dx_rows_avx512(std::int64_t C, bool relu, bool train, std::int64_t r0,
                               std::int64_t r1, const float* x, const float* y, const float* dy,
                               const BnDxChannel* ch, double inv_m, float* dx) {
  dx_rows_any(C, relu, train, r0, r1, x, y, dy, ch, inv_m, dx);
}

void batch_norm_stat_rows_avx512(std::int64_t C, bool var, std::int64_t r0, std::int64_t r1,
                                 const float* x, const double* mean, double* acc) {
  stat_rows_any(C, var, r0, r1, x, mean, acc);
}

void batch_norm_grad_sum_rows_avx512(std::int64_t C, bool relu, std::int64_t r0, std::int64_t r1,
                                     const float* x, const float* y, const float* dy,
                                     const double* mean, const double* invstd, double* acc) {
  grad_sum_rows_any(C, relu, r0, r1, x, y, dy, mean, invstd, acc);
}

}  // namespace ctv::kernels::fast
