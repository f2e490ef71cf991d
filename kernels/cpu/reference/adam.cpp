// Adam reference kernel (see adam.h for the formula and rounding rules).
#include "kernels/cpu/reference/adam.h"

#include <cmath>
#include <stdexcept>

namespace ctv::kernels::ref {

double ipow(double b, std::int64_t t) {
  double result = 1.0;
  while (t > 0) {
    if (t & 1) result *= b;
    b *= b;
    t >>= 1;
  }
  return result;
}

template <typename T>
void adam_step(std::int64_t n, T* theta, const T* g, T* m, T* v, std::int64_t t,
               const AdamHyper& h) {
  if (t < 1) throw std::invalid_argument("adam_step: step number must be >= 1");
  const double bc1 = 1.0 - ipow(h.beta1, t);
  const double bc2 = 1.0 - ipow(h.beta2, t);
  for (std::int64_t i = 0; i < n; ++i) {
    const double gi = static_cast<double>(g[i]);
    m[i] = static_cast<T>(h.beta1 * static_cast<double>(m[i]) + (1.0 - h.beta1) * gi);
    v[i] = static_cast<T>(h.beta2 * static_cast<double>(v[i]) + (1.0 - h.beta2) * gi * gi);
    const double m_hat = static_cast<double>(m[i]) / bc1;
    const double v_hat = static_cast<double>(v[i]) / bc2;
    theta[i] =
        static_cast<T>(static_cast<double>(theta[i]) - h.lr * m_hat / (std::sqrt(v_hat) + h.eps));
  }
}

template void adam_step<float>(std::int64_t, float*, const float*, float*, float*, std::int64_t,
                               const AdamHyper&);
template void adam_step<double>(std::int64_t, double*, const double*, double*, double*,
                                std::int64_t, const AdamHyper&);

}  // namespace ctv::kernels::ref
