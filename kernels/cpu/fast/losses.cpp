// Fast loss kernels (see losses.h): the reference's arithmetic, chunks on the thread pool.
#include "kernels/cpu/fast/losses.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/fast/elementwise.h"
#include "kernels/cpu/fast/parallel.h"
#include "kernels/cpu/fast/reduce.h"

namespace ctv::kernels::fast {

namespace {

template <typename Body>
void for_blocks(std::int64_t n, Body&& body) {
  parallel_for(n, static_cast<std::int64_t>(kElementBlock), body);
}

}  // namespace

AmgmSums amgm_sums(std::int64_t n, const float* p, const float* g) {
  double both[2];
  chunked_row_reduce(
      n, 2,
      [&](std::int64_t i0, std::int64_t i1, double* a) {
        double pg = a[0], sq = a[1];
        for (std::int64_t i = i0; i < i1; ++i) {
          const double pi = static_cast<double>(p[i]), gi = static_cast<double>(g[i]);
          pg += pi * gi;
          sq += pi * pi + gi * gi;
        }
        a[0] = pg;
        a[1] = sq;
      },
      both);
  return {both[0], both[1]};
}

void amgm_bwd(std::int64_t n, const float* p, const float* g, const AmgmSums& s, double eps,
              double dL, float* dp, float* dg) {
  const double I = 2.0 * s.intersection + eps;
  const double S = s.squares + eps;
  const double scale = -dL / (S * S);
  for_blocks(n, [&](std::int64_t b, std::int64_t e) {
    if (dp)
      for (std::int64_t i = b; i < e; ++i)
        dp[i] = static_cast<float>(scale * (2.0 * static_cast<double>(g[i]) * S -
                                            2.0 * static_cast<double>(p[i]) * I));
    if (dg)
      for (std::int64_t i = b; i < e; ++i)
        dg[i] = static_cast<float>(scale * (2.0 * static_cast<double>(p[i]) * S -
                                            2.0 * static_cast<double>(g[i]) * I));
  });
}

double bce_value(std::int64_t n, const float* p, const float* g, double w_bg) {
  double total = 0.0;
  chunked_row_reduce(
      n, 1,
      [&](std::int64_t i0, std::int64_t i1, double* a) {
        double acc = *a;
        for (std::int64_t i = i0; i < i1; ++i) {
          const double pi = static_cast<double>(p[i]), gi = static_cast<double>(g[i]);
          acc += gi * ref::clamped_log(pi) + w_bg * (1.0 - gi) * ref::clamped_log(1.0 - pi);
        }
        *a = acc;
      },
      &total);
  return -total / static_cast<double>(n);
}

void bce_bwd(std::int64_t n, const float* p, const float* g, double w_bg, double dL, float* dp,
             float* dg) {
  constexpr double kGuard = 1e-12;  // as the reference (PyTorch's EPSILON)
  const double scale = dL / static_cast<double>(n);
  for_blocks(n, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const double pi = static_cast<double>(p[i]), gi = static_cast<double>(g[i]);
      if (dp)
        dp[i] = static_cast<float>(scale * (w_bg * (1.0 - gi) * pi - gi * (1.0 - pi)) /
                                   std::max(pi * (1.0 - pi), kGuard));
      if (dg)
        dg[i] = static_cast<float>(-scale * (ref::clamped_log(pi) - w_bg * ref::clamped_log(1.0 - pi)));
    }
  });
}

}  // namespace ctv::kernels::fast
