// Fast batch normalisation, alone and fused with ReLU (see batch_norm3d.h).
//
// Every row loop is instantiated for the channel counts the U-Net uses (kC > 0: the
// per-channel constants and accumulators stay in registers, and a row is copied into local
// arrays before the arithmetic, so the compiler vectorises it even when the output aliases an
// input) and once for any C (kC == 0); both compute the same terms in the same order.
#include "kernels/cpu/fast/batch_norm3d.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/fast/batch_norm3d_rows.h"
#include "kernels/cpu/fast/elementwise.h"
#include "kernels/cpu/fast/isa.h"
#include "kernels/cpu/fast/parallel.h"
#include "kernels/cpu/fast/reduce.h"

namespace ctv::kernels::fast {

namespace {

#include "kernels/cpu/fast/batch_norm3d_rows.inc"

// Rows per element-wise chunk: about kElementBlock elements.
std::int64_t row_grain(std::int64_t C) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(kElementBlock) / C);
}

// y = x * a + b, then the ReLU when asked.
template <bool kRelu>
inline float scale_shift(float x, float a, float b) {
  const float v = x * a + b;
  if constexpr (kRelu)
    return v <= 0.0f ? 0.0f : v;  // as relu_fwd: NaN stays, -0 gives +0
  else
    return v;
}

// y[m][c] = scale_shift(x[m][c], a[c], b[c]) for rows [r0, r1).
template <int kC, bool kRelu>
void scale_shift_rows(std::int64_t r0, std::int64_t r1, std::int64_t C_rt, const float* x,
                      const float* a, const float* b, float* y) {
  if constexpr (kC > 0) {
    float la[kC], lb[kC], row[kC];
    std::memcpy(la, a, sizeof la);
    std::memcpy(lb, b, sizeof lb);
    for (std::int64_t m = r0; m < r1; ++m) {
      std::memcpy(row, x + m * kC, sizeof row);
      for (int c = 0; c < kC; ++c) row[c] = scale_shift<kRelu>(row[c], la[c], lb[c]);
      std::memcpy(y + m * kC, row, sizeof row);
    }
  } else {
    for (std::int64_t i = r0 * C_rt; i < r1 * C_rt; ++i) {
      const std::int64_t c = i % C_rt;
      y[i] = scale_shift<kRelu>(x[i], a[c], b[c]);
    }
  }
}

template <bool kRelu>
void fwd(std::int64_t M, std::int64_t C, const float* x, const double* mean, const double* invstd,
         const float* gamma, const float* beta, float* y) {
  std::vector<float> a(static_cast<std::size_t>(C)), b(static_cast<std::size_t>(C));
  for (std::int64_t c = 0; c < C; ++c) {
    const double s = static_cast<double>(gamma[c]) * invstd[c];
    a[std::size_t(c)] = static_cast<float>(s);
    b[std::size_t(c)] = static_cast<float>(static_cast<double>(beta[c]) - mean[c] * s);
  }
  with_channels(C, [&]<int kC>() {
    parallel_for(M, row_grain(C), [&](std::int64_t r0, std::int64_t r1) {
      scale_shift_rows<kC, kRelu>(r0, r1, C, x, a.data(), b.data(), y);
    });
  });
}

// sum_dz[c] and sum_dz_xhat[c] (double terms g and g * (x - mean) * invstd, the reference's),
// chunked; dz = (y > 0 ? dy : 0) with the ReLU, else dy.
template <bool kRelu>
void grad_sums(std::int64_t M, std::int64_t C, const float* x, const float* y, const float* dy,
               const double* mean, const double* invstd, std::vector<double>& sum_dz,
               std::vector<double>& sum_dz_xhat) {
  std::vector<double> both(static_cast<std::size_t>(2 * C));
  const bool avx512 = cpu_isa() == CpuIsa::avx512;
  chunked_row_reduce(
      M, 2 * C,
      [&](std::int64_t r0, std::int64_t r1, double* acc) {
        if (avx512)
          batch_norm_grad_sum_rows_avx512(C, kRelu, r0, r1, x, y, dy, mean, invstd, acc);
        else
          grad_sum_rows_any(C, kRelu, r0, r1, x, y, dy, mean, invstd, acc);
      },
      both.data());
  sum_dz.assign(both.begin(), both.begin() + C);
  sum_dz_xhat.assign(both.begin() + C, both.end());
}



template <bool kRelu>
void bwd(bool training, std::int64_t M, std::int64_t C, const float* x, const float* y,
         const float* dy, const double* mean, const double* invstd, const float* gamma, float* dx,
         float* dgamma, float* dbeta) {
  std::vector<double> sum_dz, sum_dz_xhat;
  if (training || dgamma || dbeta) {
    grad_sums<kRelu>(M, C, x, y, dy, mean, invstd, sum_dz, sum_dz_xhat);
    for (std::int64_t c = 0; c < C; ++c) {
      if (dgamma) dgamma[c] = static_cast<float>(sum_dz_xhat[std::size_t(c)]);
      if (dbeta) dbeta[c] = static_cast<float>(sum_dz[std::size_t(c)]);
    }
  }
  if (!dx) return;
  const auto n = static_cast<std::size_t>(C);
  std::vector<BnDxChannel> ch(n);
  const double inv_m = 1.0 / static_cast<double>(M);
  for (std::size_t c = 0; c < n; ++c) {
    const double g = static_cast<double>(gamma[c]);
    ch[c] = {mean[c], invstd[c], g, g * invstd[c], training ? sum_dz[c] * inv_m : 0.0,
             training ? sum_dz_xhat[c] : 0.0};
  }
  const bool avx512 = cpu_isa() == CpuIsa::avx512;
  parallel_for(M, row_grain(C), [&](std::int64_t r0, std::int64_t r1) {
    if (avx512)
      batch_norm_dx_rows_avx512(C, kRelu, training, r0, r1, x, y, dy, ch.data(), inv_m, dx);
    else
      dx_rows_any(C, kRelu, training, r0, r1, x, y, dy, ch.data(), inv_m, dx);
  });
}

}  // namespace

void batch_norm_stats(std::int64_t M, std::int64_t C, const float* x, double* mean, double* var) {
  const bool avx512 = cpu_isa() == CpuIsa::avx512;
  auto pass = [&](bool of_var, double* out) {
    chunked_row_reduce(
        M, C,
        [&](std::int64_t r0, std::int64_t r1, double* a) {
          if (avx512)
            batch_norm_stat_rows_avx512(C, of_var, r0, r1, x, mean, a);
          else
            stat_rows_any(C, of_var, r0, r1, x, mean, a);
        },
        out);
  };
  pass(false, mean);
  for (std::int64_t c = 0; c < C; ++c) mean[c] /= static_cast<double>(M);
  pass(true, var);
  for (std::int64_t c = 0; c < C; ++c) var[c] /= static_cast<double>(M);
}

void batch_norm_fwd(std::int64_t M, std::int64_t C, const float* x, const double* mean,
                    const double* invstd, const float* gamma, const float* beta, float* y) {
  fwd<false>(M, C, x, mean, invstd, gamma, beta, y);
}

void batch_norm_relu_fwd(std::int64_t M, std::int64_t C, const float* x, const double* mean,
                         const double* invstd, const float* gamma, const float* beta, float* y) {
  fwd<true>(M, C, x, mean, invstd, gamma, beta, y);
}

void batch_norm_bwd_train(std::int64_t M, std::int64_t C, const float* x, const float* dy,
                          const double* mean, const double* invstd, const float* gamma, float* dx,
                          float* dgamma, float* dbeta) {
  bwd<false>(true, M, C, x, nullptr, dy, mean, invstd, gamma, dx, dgamma, dbeta);
}

void batch_norm_bwd_eval(std::int64_t M, std::int64_t C, const float* x, const float* dy,
                         const double* mean, const double* invstd, const float* gamma, float* dx,
                         float* dgamma, float* dbeta) {
  bwd<false>(false, M, C, x, nullptr, dy, mean, invstd, gamma, dx, dgamma, dbeta);
}

void batch_norm_relu_bwd_train(std::int64_t M, std::int64_t C, const float* x, const float* y,
                               const float* dy, const double* mean, const double* invstd,
                               const float* gamma, float* dx, float* dgamma, float* dbeta) {
  bwd<true>(true, M, C, x, y, dy, mean, invstd, gamma, dx, dgamma, dbeta);
}

void batch_norm_relu_bwd_eval(std::int64_t M, std::int64_t C, const float* x, const float* y,
                              const float* dy, const double* mean, const double* invstd,
                              const float* gamma, float* dx, float* dgamma, float* dbeta) {
  bwd<true>(false, M, C, x, y, dy, mean, invstd, gamma, dx, dgamma, dbeta);
}

}  // namespace ctv::kernels::fast
