// Loss reference kernels (see losses.h for the contracts).
#include "kernels/cpu/reference/losses.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/reference/reduce.h"

namespace ctv::kernels::ref {

template <typename T>
AmgmSums amgm_sums(std::int64_t n, const T* p, const T* g) {
  double both[2];
  chunked_row_reduce(
      n, 2,
      [&](std::int64_t i0, std::int64_t i1, double* a) {
        for (std::int64_t i = i0; i < i1; ++i) {
          const double pi = static_cast<double>(p[i]), gi = static_cast<double>(g[i]);
          a[0] += pi * gi;
          a[1] += pi * pi + gi * gi;
        }
      },
      both);
  return {both[0], both[1]};
}

double amgm_value(const AmgmSums& s, double eps) {
  return 1.0 - (2.0 * s.intersection + eps) / (s.squares + eps);
}

template <typename T>
void amgm_bwd(std::int64_t n, const T* p, const T* g, const AmgmSums& s, double eps, double dL,
              T* dp, T* dg) {
  const double I = 2.0 * s.intersection + eps;
  const double S = s.squares + eps;
  const double scale = -dL / (S * S);
  for (std::int64_t i = 0; i < n; ++i) {
    const double pi = static_cast<double>(p[i]), gi = static_cast<double>(g[i]);
    if (dp) dp[i] = static_cast<T>(scale * (2.0 * gi * S - 2.0 * pi * I));
    if (dg) dg[i] = static_cast<T>(scale * (2.0 * pi * S - 2.0 * gi * I));
  }
}

double clamped_log(double v) { return std::max(std::log(v), -100.0); }

template <typename T>
double bce_value(std::int64_t n, const T* p, const T* g, double w_bg) {
  const double total = chunked_sum(n, [&](std::int64_t i0, std::int64_t i1, double* a) {
    for (std::int64_t i = i0; i < i1; ++i) {
      const double pi = static_cast<double>(p[i]), gi = static_cast<double>(g[i]);
      *a += gi * clamped_log(pi) + w_bg * (1.0 - gi) * clamped_log(1.0 - pi);
    }
  });
  return -total / static_cast<double>(n);
}

template <typename T>
void bce_bwd(std::int64_t n, const T* p, const T* g, double w_bg, double dL, T* dp, T* dg) {
  constexpr double kGuard = 1e-12;  // PyTorch's EPSILON in binary_cross_entropy_backward
  const double scale = dL / static_cast<double>(n);
  for (std::int64_t i = 0; i < n; ++i) {
    const double pi = static_cast<double>(p[i]), gi = static_cast<double>(g[i]);
    if (dp)
      dp[i] = static_cast<T>(scale * (w_bg * (1.0 - gi) * pi - gi * (1.0 - pi)) /
                             std::max(pi * (1.0 - pi), kGuard));
    if (dg) dg[i] = static_cast<T>(-scale * (clamped_log(pi) - w_bg * clamped_log(1.0 - pi)));
  }
}

#define CTV_INSTANTIATE(T)                                                                         \
  template AmgmSums amgm_sums<T>(std::int64_t, const T*, const T*);                                \
  template void amgm_bwd<T>(std::int64_t, const T*, const T*, const AmgmSums&, double, double, T*, \
                            T*);                                                                   \
  template double bce_value<T>(std::int64_t, const T*, const T*, double);                          \
  template void bce_bwd<T>(std::int64_t, const T*, const T*, double, double, T*, T*);
CTV_INSTANTIATE(float)
CTV_INSTANTIATE(double)
#undef CTV_INSTANTIATE

}  // namespace ctv::kernels::ref
