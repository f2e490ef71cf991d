// The bias gradient of conv3d and conv_transpose3d, whose wgrad kernels both produce it:
// dbias[k] = sum of dy[o] over every output position o of channel k, dy dense channels last
// (the K channels innermost). One double sum per k, in storage order, rounded once; dbias
// (K elements) is overwritten (=).
#pragma once
#include <cstddef>

namespace ctv::kernels::detail {

template <typename Scalar>
void conv_bias_grad(std::size_t y_size, int K, const Scalar* dy, Scalar* dbias) {
  for (int k = 0; k < K; ++k) {
    double acc = 0.0;
    for (std::size_t o = static_cast<std::size_t>(k); o < y_size; o += K)
      acc += static_cast<double>(dy[o]);
    dbias[k] = static_cast<Scalar>(acc);
  }
}

}  // namespace ctv::kernels::detail
