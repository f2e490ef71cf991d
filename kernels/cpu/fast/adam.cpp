// Fast Adam step (see adam.h).
#include "kernels/cpu/fast/adam.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kernels/cpu/fast/elementwise.h"
#include "kernels/cpu/fast/parallel.h"

namespace ctv::kernels::fast {

void adam_step(std::int64_t n, float* theta, const float* g, float* m, float* v, std::int64_t t,
               const AdamHyper& h) {
  if (t < 1) throw std::invalid_argument("adam_step: step number must be >= 1");
  const double bc1 = 1.0 - ref::ipow(h.beta1, t);
  const double bc2 = 1.0 - ref::ipow(h.beta2, t);
  // Through local tiles, so that the compiler vectorises the double arithmetic (the four
  // arrays may not overlap, but it cannot know).
  parallel_for(n, static_cast<std::int64_t>(kElementBlock), [&](std::int64_t b, std::int64_t e) {
    constexpr std::int64_t kTile = 256;
    float th[kTile], gr[kTile], mo[kTile], ve[kTile];
    for (std::int64_t i0 = b; i0 < e; i0 += kTile) {
      const std::int64_t len = std::min(kTile, e - i0);
      const auto bytes = static_cast<std::size_t>(len) * sizeof(float);
      std::memcpy(th, theta + i0, bytes);
      std::memcpy(gr, g + i0, bytes);
      std::memcpy(mo, m + i0, bytes);
      std::memcpy(ve, v + i0, bytes);
      for (std::int64_t k = 0; k < len; ++k) {
        const double gi = static_cast<double>(gr[k]);
        mo[k] = static_cast<float>(h.beta1 * static_cast<double>(mo[k]) + (1.0 - h.beta1) * gi);
        ve[k] = static_cast<float>(h.beta2 * static_cast<double>(ve[k]) + (1.0 - h.beta2) * gi * gi);
        const double m_hat = static_cast<double>(mo[k]) / bc1;
        const double v_hat = static_cast<double>(ve[k]) / bc2;
        th[k] = static_cast<float>(static_cast<double>(th[k]) -
                                   h.lr * m_hat / (std::sqrt(v_hat) + h.eps));
      }
      std::memcpy(theta + i0, th, bytes);
      std::memcpy(m + i0, mo, bytes);
      std::memcpy(v + i0, ve, bytes);
    }
  });
}

}  // namespace ctv::kernels::fast
