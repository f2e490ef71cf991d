// Adam reference kernel, exactly SPEC section 0 (PyTorch's formula, Keras's defaults):
//   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
//   m_hat = m / (1 - b1^t);  v_hat = v / (1 - b2^t);
//   theta -= lr * m_hat / (sqrt(v_hat) + eps).
// Arithmetic in double; m and v are rounded to T when stored and the update uses the stored
// values, so a step depends only on (theta, g, m, v, t): resuming from saved state is exact.
// b^t is computed by binary exponentiation (IEEE multiplications only, no libm pow), so it is
// the same on every platform. theta, m, v are updated in place (=); g is read only.
#pragma once
#include <cstdint>

namespace ctv::kernels::ref {

struct AdamHyper {
  double lr = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-7;
};

// b^t for t >= 0 by squaring (deterministic everywhere).
double ipow(double b, std::int64_t t);

// requires: t >= 1 (the step number after this update, 1 for the first); n elements each;
//           no overlap between the four arrays.
template <typename T>
void adam_step(std::int64_t n, T* theta, const T* g, T* m, T* v, std::int64_t t,
               const AdamHyper& h);

}  // namespace ctv::kernels::ref
