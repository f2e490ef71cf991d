// Shared by the reference-kernel suites (tests/test_kernels_reference_*.cpp): deterministic
// inputs, guarded buffers (sentinels after every output catch writes past the end), the
// positional shape makers and the shape tables of awkward sizes, and one runner that calls
// conv3d's or conv_transpose3d's three kernels into fresh guarded outputs.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <type_traits>
#include <vector>

#include "kernels/cpu/reference/conv3d.h"
#include "kernels/cpu/reference/conv_transpose3d.h"
#include "kernels/cpu/reference/max_pool3d.h"

namespace kernel_test {

using namespace ctv::kernels;
using namespace ctv::kernels::ref;

// ---- deterministic inputs (splitmix64: the same numbers on every platform) ----------------
struct Rng {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1p-52 - 1.0; }  // [-1, 1)
  int integer(int lo, int hi) { return lo + static_cast<int>(next() % (hi - lo + 1)); }
};

// ---- guarded buffers: kGuard trailing sentinels catch writes past the end -----------------
template <typename E>
constexpr E sentinel() {
  if constexpr (std::is_same_v<E, std::int64_t>)
    return -0x5E47;
  else
    return E(-12345.5);
}
template <typename E>
constexpr E poison() {  // fills outputs before a call: an element left unwritten shows up
  if constexpr (std::is_same_v<E, std::int64_t>)
    return -77;
  else
    return E(7.25e20);
}

template <typename E>
struct Guarded {
  static constexpr std::size_t kGuard = 13;
  std::vector<E> v;
  std::size_t n;
  explicit Guarded(std::size_t size, E fill = poison<E>())
      : v(size + kGuard, sentinel<E>()), n(size) {
    std::fill(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n), fill);
  }
  E* data() { return v.data(); }
  const E* data() const { return v.data(); }
  E& operator[](std::size_t i) { return v[i]; }
  const E& operator[](std::size_t i) const { return v[i]; }
  std::size_t size() const { return n; }
  bool guard_intact() const {
    const E s = sentinel<E>();
    for (std::size_t i = n; i < v.size(); ++i)
      if (std::memcmp(&v[i], &s, sizeof(E)) != 0) return false;
    return true;
  }
  std::vector<E> body() const { return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n)}; }
};

template <typename E>
Guarded<E> random_buffer(std::size_t n, Rng& rng) {
  Guarded<E> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<E>(rng.uniform());
  return b;
}
template <typename E>
Guarded<E> integer_buffer(std::size_t n, Rng& rng, int lo, int hi) {
  Guarded<E> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<E>(rng.integer(lo, hi));
  return b;
}
template <typename E>
Guarded<E> from_list(std::initializer_list<double> values) {
  Guarded<E> b(values.size());
  std::size_t i = 0;
  for (double x : values) b[i++] = static_cast<E>(x);
  return b;
}
template <typename E>
Guarded<float> to_float(const Guarded<E>& b) {
  Guarded<float> f(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) f[i] = static_cast<float>(b[i]);
  return f;
}
template <typename E>
Guarded<double> to_double(const Guarded<E>& b) {
  Guarded<double> d(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) d[i] = static_cast<double>(b[i]);
  return d;
}

inline long double dot(const Guarded<double>& a, const Guarded<double>& b) {
  REQUIRE(a.size() == b.size());
  long double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<long double>(a[i]) * b[i];
  return s;
}
inline bool close_rel(long double a, long double b, long double rel) {
  return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}
#define CHECK_GUARD(buf) CHECK_MESSAGE((buf).guard_intact(), "write past the end of " #buf)

// ---- shape makers: positional, so a table row reads as one line ----------------------------
using Axes = std::array<int, 3>;  // depth, height, width
inline Conv3dShape conv_shape(int N, int D, int H, int W, int C, int K, int T, int R, int S,
                              Axes stride = {1, 1, 1}, Axes pad = {0, 0, 0}) {
  return {N, D, H, W, C, K, T, R, S, stride[0], stride[1], stride[2], pad[0], pad[1], pad[2]};
}
inline ConvTranspose3dShape conv_transpose_shape(int N, int D, int H, int W, int C, int K, int T,
                                                 int R, int S, Axes stride = {1, 1, 1},
                                                 Axes pad = {0, 0, 0}) {
  return {N, D, H, W, C, K, T, R, S, stride[0], stride[1], stride[2], pad[0], pad[1], pad[2]};
}
inline MaxPool3dShape pool_shape(int N, int D, int H, int W, int C, int T, int R, int S,
                                 Axes stride, Axes pad = {0, 0, 0}) {
  return {N, D, H, W, C, T, R, S, stride[0], stride[1], stride[2], pad[0], pad[1], pad[2]};
}

// ---- the shape tables: awkward sizes (odd, C=1, N=2, K=3, T!=R!=S, strides 1-3, pads 0-2) ----
inline std::vector<Conv3dShape> conv_cases() {
  return {
      conv_shape(2, 5, 6, 7, 1, 3, 3, 2, 1),
      conv_shape(1, 7, 5, 6, 2, 3, 2, 3, 4, {2, 3, 1}, {1, 2, 0}),
      conv_shape(2, 6, 7, 5, 3, 1, 3, 3, 3, {3, 2, 2}, {2, 1, 1}),
      conv_shape(1, 4, 3, 5, 4, 2, 1, 1, 1),
      conv_shape(1, 9, 8, 7, 2, 2, 5, 1, 3, {2, 1, 3}, {2, 0, 1}),
      conv_shape(1, 6, 5, 4, 3, 4, 3, 3, 3, {1, 1, 1},
                 {1, 1, 1}),  // the U-Net's "same" convolution
      conv_shape(1, 2, 3, 1, 2, 3, 4, 3, 1, {1, 2, 1}, {1, 1, 0}),
  };
}
inline std::vector<ConvTranspose3dShape> conv_transpose_cases() {
  return {
      conv_transpose_shape(2, 3, 2, 3, 3, 2, 2, 2, 2, {2, 2, 2}),  // the U-Net's up-sampling
      conv_transpose_shape(1, 3, 4, 2, 1, 3, 3, 2, 4, {2, 3, 1}, {1, 0, 2}),
      conv_transpose_shape(2, 2, 3, 4, 2, 1, 1, 3, 2, {3, 1, 2}, {0, 1, 0}),
      conv_transpose_shape(1, 4, 3, 3, 2, 2, 3, 3, 3, {1, 1, 1}, {1, 1, 1}),
      conv_transpose_shape(1, 3, 2, 2, 2, 3, 2, 1, 2, {3, 2, 3}, {0, 0, 1}),
      conv_transpose_shape(1, 2, 3, 2, 4, 12, 2, 2, 2, {2, 2, 2}),  // up-sampling, 96 columns
  };
}
inline std::vector<MaxPool3dShape> pool_cases() {
  return {
      pool_shape(2, 6, 5, 7, 3, 2, 2, 2, {2, 2, 2}),  // the U-Net's down-sampling, odd sizes
      pool_shape(1, 5, 6, 5, 1, 3, 2, 3, {1, 2, 2}, {1, 1, 1}),
      pool_shape(1, 7, 4, 6, 2, 3, 3, 1, {2, 1, 1}, {1, 0, 0}),
      pool_shape(2, 4, 5, 3, 2, 4, 2, 3, {3, 3, 2}, {2, 1, 0}),
  };
}  // ---- conv3d and conv_transpose3d under one set of names (overloads on the shape type) ------
template <typename E>
void conv_fprop(const Conv3dShape& s, const E* x, const E* w, const E* bias, E* y) {
  conv3d_fprop(s, x, w, bias, y);
}
template <typename E>
void conv_fprop(const ConvTranspose3dShape& s, const E* x, const E* w, const E* bias, E* y) {
  conv_transpose3d_fprop(s, x, w, bias, y);
}
template <typename E>
void conv_dgrad(const Conv3dShape& s, const E* dy, const E* w, E* dx) {
  conv3d_dgrad(s, dy, w, dx);
}
template <typename E>
void conv_dgrad(const ConvTranspose3dShape& s, const E* dy, const E* w, E* dx) {
  conv_transpose3d_dgrad(s, dy, w, dx);
}
template <typename E>
void conv_wgrad(const Conv3dShape& s, const E* x, const E* dy, E* dw, E* dbias) {
  conv3d_wgrad(s, x, dy, dw, dbias);
}
template <typename E>
void conv_wgrad(const ConvTranspose3dShape& s, const E* x, const E* dy, E* dw, E* dbias) {
  conv_transpose3d_wgrad(s, x, dy, dw, dbias);
}

// ---- runner: call a conv's three kernels into fresh guarded outputs, checking the guards ---
struct ConvGrads {
  Guarded<double> y, dx, dw, db;
};
template <typename Shape>
ConvGrads run_conv(const Shape& s, const Guarded<double>& x, const Guarded<double>& w,
                   const Guarded<double>* bias, const Guarded<double>& dy) {
  ConvGrads g{Guarded<double>(s.y_size()), Guarded<double>(s.x_size()), Guarded<double>(s.w_size()),
              Guarded<double>(s.K)};
  conv_fprop(s, x.data(), w.data(), bias ? bias->data() : nullptr, g.y.data());
  conv_dgrad(s, dy.data(), w.data(), g.dx.data());
  conv_wgrad(s, x.data(), dy.data(), g.dw.data(), g.db.data());
  CHECK_GUARD(g.y);
  CHECK_GUARD(g.dx);
  CHECK_GUARD(g.dw);
  CHECK_GUARD(g.db);
  return g;
}
inline std::vector<double> bias_grad_by_hand(const Guarded<double>& dy, int K) {
  std::vector<double> db(K, 0.0);
  for (std::size_t o = 0; o < dy.size(); ++o) db[o % K] += dy[o];
  return db;
}

}  // namespace kernel_test
