// Element-wise reference kernels (see elementwise.h for the contracts).
#include "kernels/cpu/reference/elementwise.h"

#include <cmath>

namespace ctv::kernels::ref {

template <typename T>
void relu_fwd(std::size_t n, const T* x, T* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : (x[i] != x[i] ? x[i] : T(0));
}

template <typename T>
void relu_bwd(std::size_t n, const T* y, const T* dy, T* dx) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

template <typename T>
void sigmoid_fwd(std::size_t n, const T* x, T* y) {
  for (std::size_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(x[i]);
    // exp of a non-positive argument only: no overflow.
    const double e = std::exp(-std::fabs(v));
    y[i] = static_cast<T>(v >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e));
  }
}

template <typename T>
void sigmoid_bwd(std::size_t n, const T* y, const T* dy, T* dx) {
  for (std::size_t i = 0; i < n; ++i) {
    const double s = static_cast<double>(y[i]);
    dx[i] = static_cast<T>(static_cast<double>(dy[i]) * s * (1.0 - s));
  }
}

template <typename T>
void add_inplace(std::size_t n, const T* x, T* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] += x[i];
}

#define CTV_INSTANTIATE(T)                                           \
  template void relu_fwd<T>(std::size_t, const T*, T*);              \
  template void relu_bwd<T>(std::size_t, const T*, const T*, T*);    \
  template void sigmoid_fwd<T>(std::size_t, const T*, T*);           \
  template void sigmoid_bwd<T>(std::size_t, const T*, const T*, T*); \
  template void add_inplace<T>(std::size_t, const T*, T*);
CTV_INSTANTIATE(float)
CTV_INSTANTIATE(double)
#undef CTV_INSTANTIATE

}  // namespace ctv::kernels::ref
