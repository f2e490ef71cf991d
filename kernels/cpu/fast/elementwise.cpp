// Fast element-wise kernels (see elementwise.h). Every loop body is branch-free so the
// compiler vectorises it; parallel_for splits the elements into fixed blocks.
#include "kernels/cpu/fast/elementwise.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/fast/parallel.h"

namespace ctv::kernels::fast {

namespace {

// Runs body(begin, end) over [0, n) in blocks of kElementBlock on the pool.
template <typename Body>
void for_blocks(std::size_t n, Body&& body) {
  parallel_for(static_cast<std::int64_t>(n), static_cast<std::int64_t>(kElementBlock),
               [&](std::int64_t b, std::int64_t e) {
                 body(static_cast<std::size_t>(b), static_cast<std::size_t>(e));
               });
}

// exp(t) for t <= 0 (NaN gives NaN), relative error ~2 ulp, subnormal results included:
// Cephes' expf polynomial on t - n ln2 (n = round(t / ln2), found with the 1.5 * 2^23 trick,
// which the compiler cannot fold without -ffast-math), then 2^n applied in two halves so that
// each factor is a normal float down to n = -150.
inline float exp_nonpositive(float t) {
  t = t < -104.0f ? -104.0f : t;  // below, the sigmoid rounds to 0 anyway; keeps NaN
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
  const float nf = (t * 1.44269504088896341f + kRound) - kRound;
  const float r = (t - nf * 0.693359375f) - nf * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const std::int32_t n = static_cast<std::int32_t>(nf);
  const std::int32_t n1 = n >> 1, n2 = n - n1;
  const std::int32_t b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, sizeof s1);
  std::memcpy(&s2, &b2, sizeof s2);
  return p * s1 * s2;
}

// Runs y[i] = op(x0[i], x1[i]) over [b, e) through local tiles: the inputs are copied to stack
// arrays first, so the arithmetic sees no pointer that may alias the output (in place is fine)
// and no conditional load, and the compiler vectorises it.
template <typename Op>
void map_tiles(std::size_t b, std::size_t e, const float* x0, const float* x1, float* y, Op op) {
  constexpr std::size_t kTile = 256;
  float t0[kTile], t1[kTile], out[kTile];
  for (std::size_t i = b; i < e; i += kTile) {
    const std::size_t len = std::min(kTile, e - i);
    std::memcpy(t0, x0 + i, len * sizeof(float));
    if (x1) std::memcpy(t1, x1 + i, len * sizeof(float));
    for (std::size_t k = 0; k < len; ++k) out[k] = op(t0[k], t1[k]);
    std::memcpy(y + i, out, len * sizeof(float));
  }
}

}  // namespace

void relu_fwd(std::size_t n, const float* x, float* y) {
  for_blocks(n, [=](std::size_t b, std::size_t e) {
    // !(v <= 0) holds for v > 0 and for NaN: the reference's "v > 0 or NaN keeps v".
    map_tiles(b, e, x, nullptr, y, [](float v, float) { return v <= 0.0f ? 0.0f : v; });
  });
}

void relu_bwd(std::size_t n, const float* y, const float* dy, float* dx) {
  for_blocks(n, [=](std::size_t b, std::size_t e) {
    map_tiles(b, e, y, dy, dx, [](float yv, float g) { return keep_or_zero(yv > 0.0f, g); });
  });
}

void sigmoid_fwd(std::size_t n, const float* x, float* y) {
  for_blocks(n, [=](std::size_t b, std::size_t e) {
    map_tiles(b, e, x, nullptr, y, [](float v, float) {
      const float ex = exp_nonpositive(v >= 0.0f ? -v : v);  // exp(-|v|): no overflow
      return (v >= 0.0f ? 1.0f : ex) / (1.0f + ex);
    });
  });
}

void sigmoid_bwd(std::size_t n, const float* y, const float* dy, float* dx) {
  for_blocks(n, [=](std::size_t b, std::size_t e) {
    map_tiles(b, e, y, dy, dx, [](float yv, float g) {
      const double s = static_cast<double>(yv);
      return static_cast<float>(static_cast<double>(g) * s * (1.0 - s));
    });
  });
}

void add_inplace(std::size_t n, const float* x, float* y) {
  for_blocks(n, [=](std::size_t b, std::size_t e) {
    map_tiles(b, e, y, x, y, [](float yv, float xv) { return yv + xv; });
  });
}

}  // namespace ctv::kernels::fast
