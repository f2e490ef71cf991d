// Glorot-uniform initialisation with the portable generator (see engine/init.h).
#include "engine/init.h"

#include <cmath>
#include <stdexcept>

namespace ctv {

namespace {
void require_rank5(const char* fn, const Shape& s) {
  if (s.rank != 5)
    throw std::invalid_argument(std::string(fn) + ": weight shape " + s.str() + " is not rank 5");
}
}  // namespace

Fans conv3d_fans(const Shape& w) {
  require_rank5("conv3d_fans", w);
  const std::int64_t rf = w[1] * w[2] * w[3];
  return {w[4] * rf, w[0] * rf};
}

Fans conv_transpose3d_fans(const Shape& w) {
  require_rank5("conv_transpose3d_fans", w);
  const std::int64_t rf = w[1] * w[2] * w[3];
  return {w[0] * rf, w[4] * rf};
}

double glorot_limit(const Fans& f) {
  if (f.fan_in + f.fan_out <= 0)
    throw std::invalid_argument("glorot_limit: fan_in + fan_out must be positive");
  return std::sqrt(6.0 / static_cast<double>(f.fan_in + f.fan_out));
}

void glorot_uniform_(Tensor& w, const Fans& fans, Rng& rng) {
  const double limit = glorot_limit(fans);
  for (std::int64_t i = 0; i < w.numel(); ++i) w.set(i, rng.uniform(-limit, limit));
}

Tensor conv3d_weight(std::int64_t K, std::int64_t T, std::int64_t R, std::int64_t S, std::int64_t C,
                     Rng& rng, DType dtype) {
  Tensor w = Tensor::empty(Shape{K, T, R, S, C}, dtype);
  glorot_uniform_(w, conv3d_fans(w.shape()), rng);
  return w;
}

Tensor conv_transpose3d_weight(std::int64_t C_in, std::int64_t T, std::int64_t R, std::int64_t S,
                               std::int64_t C_out, Rng& rng, DType dtype) {
  Tensor w = Tensor::empty(Shape{C_in, T, R, S, C_out}, dtype);
  glorot_uniform_(w, conv_transpose3d_fans(w.shape()), rng);
  return w;
}

}  // namespace ctv
