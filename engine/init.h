// Parameter initialisers: Keras's defaults, as the paper's model used them.
// - Conv kernels: Glorot (Xavier) uniform, U[-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
//     conv3d, weight KTRSC:            fan_in = C*T*R*S, fan_out = K*T*R*S.
//     conv_transpose3d, weight CTRSK:  fan_in = C_in*T*R*S, fan_out = C_out*T*R*S (the same
//       product rule with its own in/out channels; Keras's Conv3DTranspose swaps the two, which
//       leaves the limit unchanged since it depends on fan_in + fan_out only).
// - Biases zero; batch norm gamma 1, beta 0 (Tensor::zeros / Tensor::full).
// Values come from engine/rng.h (portable): the same seed and stream give the same weights on
// every platform. Elements are drawn in the tensor's flat (row-major) order.
#pragma once
#include <cstdint>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace ctv {

struct Fans {
  std::int64_t fan_in = 0, fan_out = 0;
};

// requires: rank-5 weight shapes (checked: std::invalid_argument).
Fans conv3d_fans(const Shape& w_ktrsc);
Fans conv_transpose3d_fans(const Shape& w_ctrsk);
// sqrt(6 / (fan_in + fan_out)). requires: fan_in + fan_out > 0 (checked).
double glorot_limit(const Fans& fans);

// Fills w in place (any view) with U[-limit, limit) in flat order from rng.
void glorot_uniform_(Tensor& w, const Fans& fans, Rng& rng);

// Convenience: fresh Glorot-uniform conv weights.
Tensor conv3d_weight(std::int64_t K, std::int64_t T, std::int64_t R, std::int64_t S, std::int64_t C,
                     Rng& rng, DType dtype = DType::f32);
Tensor conv_transpose3d_weight(std::int64_t C_in, std::int64_t T, std::int64_t R, std::int64_t S,
                               std::int64_t C_out, Rng& rng, DType dtype = DType::f32);

}  // namespace ctv
