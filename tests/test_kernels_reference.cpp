// The naive reference kernels (kernels/cpu/reference/): conv3d, conv_transpose3d, max_pool3d,
// forward and backward. They are the spec the faster kernels are tested against, so they are
// checked here against hand-worked answers, independent oracles written in this file (im2col
// GEMM for conv3d, PyTorch's scatter definition for the transposed conv), adjoint identities,
// float64 finite differences, float-vs-double agreement, and sentinel guards after every call.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cpu/reference/conv3d.h"
#include "kernels/cpu/reference/conv_transpose3d.h"
#include "kernels/cpu/reference/max_pool3d.h"

using namespace ctv::kernels;
using namespace ctv::kernels::ref;

namespace {

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

long double dot(const Guarded<double>& a, const Guarded<double>& b) {
  REQUIRE(a.size() == b.size());
  long double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<long double>(a[i]) * b[i];
  return s;
}
bool close_rel(long double a, long double b, long double rel) {
  return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}
#define CHECK_GUARD(buf) CHECK_MESSAGE((buf).guard_intact(), "write past the end of " #buf)

std::string thrown_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

// ---- shape makers: positional, so a table row reads as one line ----------------------------
using Axes = std::array<int, 3>;  // depth, height, width
Conv3dShape conv_shape(int N, int D, int H, int W, int C, int K, int T, int R, int S,
                       Axes stride = {1, 1, 1}, Axes pad = {0, 0, 0}) {
  return {N, D, H, W, C, K, T, R, S, stride[0], stride[1], stride[2], pad[0], pad[1], pad[2]};
}
ConvTranspose3dShape conv_transpose_shape(int N, int D, int H, int W, int C, int K, int T, int R,
                                          int S, Axes stride = {1, 1, 1}, Axes pad = {0, 0, 0}) {
  return {N, D, H, W, C, K, T, R, S, stride[0], stride[1], stride[2], pad[0], pad[1], pad[2]};
}
MaxPool3dShape pool_shape(int N, int D, int H, int W, int C, int T, int R, int S, Axes stride,
                          Axes pad = {0, 0, 0}) {
  return {N, D, H, W, C, T, R, S, stride[0], stride[1], stride[2], pad[0], pad[1], pad[2]};
}

// ---- the shape tables: awkward sizes (odd, C=1, N=2, K=3, T!=R!=S, strides 1-3, pads 0-2) ----
std::vector<Conv3dShape> conv_cases() {
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
std::vector<ConvTranspose3dShape> conv_transpose_cases() {
  return {
      conv_transpose_shape(2, 3, 2, 3, 3, 2, 2, 2, 2, {2, 2, 2}),  // the U-Net's up-sampling
      conv_transpose_shape(1, 3, 4, 2, 1, 3, 3, 2, 4, {2, 3, 1}, {1, 0, 2}),
      conv_transpose_shape(2, 2, 3, 4, 2, 1, 1, 3, 2, {3, 1, 2}, {0, 1, 0}),
      conv_transpose_shape(1, 4, 3, 3, 2, 2, 3, 3, 3, {1, 1, 1}, {1, 1, 1}),
      conv_transpose_shape(1, 3, 2, 2, 2, 3, 2, 1, 2, {3, 2, 3}, {0, 0, 1}),
  };
}
std::vector<MaxPool3dShape> pool_cases() {
  return {
      pool_shape(2, 6, 5, 7, 3, 2, 2, 2, {2, 2, 2}),  // the U-Net's down-sampling, odd sizes
      pool_shape(1, 5, 6, 5, 1, 3, 2, 3, {1, 2, 2}, {1, 1, 1}),
      pool_shape(1, 7, 4, 6, 2, 3, 3, 1, {2, 1, 1}, {1, 0, 0}),
      pool_shape(2, 4, 5, 3, 2, 4, 2, 3, {3, 3, 2}, {2, 1, 0}),
  };
}

// ---- independent oracles -----------------------------------------------------------------
// conv3d as CUTLASS's GEMMs over an explicit im2col matrix A[M = N*Z*P*Q][Kg = T*R*S*C]:
// fprop y = A * w^T, dgrad dx = col2im(dy * w), wgrad dw = dy^T * A.
struct Im2col {
  std::vector<double> a;             // A, zeros where the window reads padding
  std::vector<std::int64_t> source;  // index into x of each entry of A, -1 for padding
  std::size_t m = 0, kg = 0;
  explicit Im2col(const Conv3dShape& s, const double* x) {
    m = static_cast<std::size_t>(s.N) * s.Z() * s.P() * s.Q();
    kg = static_cast<std::size_t>(s.T) * s.R * s.S * s.C;
    a.assign(m * kg, 0.0);
    source.assign(m * kg, -1);
    std::size_t row = 0;
    for (int n = 0; n < s.N; ++n)
      for (int z = 0; z < s.Z(); ++z)
        for (int p = 0; p < s.P(); ++p)
          for (int q = 0; q < s.Q(); ++q, ++row) {
            std::size_t col = 0;
            for (int t = 0; t < s.T; ++t)
              for (int r = 0; r < s.R; ++r)
                for (int u = 0; u < s.S; ++u)
                  for (int c = 0; c < s.C; ++c, ++col) {
                    const int d = z * s.stride_d - s.pad_d + t, h = p * s.stride_h - s.pad_h + r,
                              w = q * s.stride_w - s.pad_w + u;
                    if (d < 0 || d >= s.D || h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
                    const std::int64_t i =
                        (((std::int64_t(n) * s.D + d) * s.H + h) * s.W + w) * s.C + c;
                    source[row * kg + col] = i;
                    a[row * kg + col] = x ? x[i] : 0.0;
                  }
          }
  }
};
std::vector<double> oracle_conv3d_fprop(const Conv3dShape& s, const double* x, const double* w,
                                        const double* bias) {
  const Im2col A(s, x);
  std::vector<double> y(A.m * s.K);
  for (std::size_t i = 0; i < A.m; ++i)
    for (int k = 0; k < s.K; ++k) {
      double acc = bias ? bias[k] : 0.0;
      for (std::size_t j = 0; j < A.kg; ++j) acc += A.a[i * A.kg + j] * w[k * A.kg + j];
      y[i * s.K + k] = acc;
    }
  return y;
}
std::vector<double> oracle_conv3d_dgrad(const Conv3dShape& s, const double* dy, const double* w) {
  const Im2col A(s, nullptr);
  std::vector<double> dx(s.x_size(), 0.0);
  for (std::size_t i = 0; i < A.m; ++i)
    for (std::size_t j = 0; j < A.kg; ++j) {
      const std::int64_t src = A.source[i * A.kg + j];
      if (src < 0) continue;
      for (int k = 0; k < s.K; ++k) dx[src] += dy[i * s.K + k] * w[k * A.kg + j];
    }
  return dx;
}
std::vector<double> oracle_conv3d_wgrad(const Conv3dShape& s, const double* x, const double* dy) {
  const Im2col A(s, x);
  std::vector<double> dw(s.w_size(), 0.0);
  for (int k = 0; k < s.K; ++k)
    for (std::size_t j = 0; j < A.kg; ++j)
      for (std::size_t i = 0; i < A.m; ++i) dw[k * A.kg + j] += dy[i * s.K + k] * A.a[i * A.kg + j];
  return dw;
}
// PyTorch's definition of ConvTranspose3d: every input element scatters x * w into the output.
std::vector<double> oracle_conv_transpose3d_fprop(const ConvTranspose3dShape& s, const double* x,
                                                  const double* w, const double* bias) {
  const int Z = s.Z(), P = s.P(), Q = s.Q();
  std::vector<double> y(s.y_size(), 0.0);
  for (int n = 0; n < s.N; ++n)
    for (int d = 0; d < s.D; ++d)
      for (int h = 0; h < s.H; ++h)
        for (int wi = 0; wi < s.W; ++wi)
          for (int c = 0; c < s.C; ++c)
            for (int t = 0; t < s.T; ++t)
              for (int r = 0; r < s.R; ++r)
                for (int u = 0; u < s.S; ++u) {
                  const int z = d * s.stride_d - s.pad_d + t, p = h * s.stride_h - s.pad_h + r,
                            q = wi * s.stride_w - s.pad_w + u;
                  if (z < 0 || z >= Z || p < 0 || p >= P || q < 0 || q >= Q) continue;
                  for (int k = 0; k < s.K; ++k)
                    y[(((std::size_t(n) * Z + z) * P + p) * Q + q) * s.K + k] +=
                        x[(((std::size_t(n) * s.D + d) * s.H + h) * s.W + wi) * s.C + c] *
                        w[(((std::size_t(c) * s.T + t) * s.R + r) * s.S + u) * s.K + k];
                }
  if (bias)
    for (std::size_t o = 0; o < y.size(); ++o) y[o] += bias[o % s.K];
  return y;
}
// Max pooling by listing each window's real elements in scan order and taking
// std::max_element (which returns the first of equal maxima). No NaN here.
void oracle_max_pool3d(const MaxPool3dShape& s, const double* x, std::vector<double>& y,
                       std::vector<std::int64_t>& argmax) {
  y.clear();
  argmax.clear();
  for (int n = 0; n < s.N; ++n)
    for (int z = 0; z < s.Z(); ++z)
      for (int p = 0; p < s.P(); ++p)
        for (int q = 0; q < s.Q(); ++q)
          for (int c = 0; c < s.C; ++c) {
            std::vector<std::int64_t> window;
            for (int t = 0; t < s.T; ++t)
              for (int r = 0; r < s.R; ++r)
                for (int u = 0; u < s.S; ++u) {
                  const int d = z * s.stride_d - s.pad_d + t, h = p * s.stride_h - s.pad_h + r,
                            w = q * s.stride_w - s.pad_w + u;
                  if (d < 0 || d >= s.D || h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
                  window.push_back((((std::int64_t(n) * s.D + d) * s.H + h) * s.W + w) * s.C + c);
                }
            const auto best = std::max_element(window.begin(), window.end(),
                                               [&](auto a, auto b) { return x[a] < x[b]; });
            argmax.push_back(*best);
            y.push_back(x[*best]);
          }
}

// ---- runners: call a kernel into fresh guarded outputs, checking the guards ---------------
struct ConvGrads {
  Guarded<double> y, dx, dw, db;
};
ConvGrads run_conv3d(const Conv3dShape& s, const Guarded<double>& x, const Guarded<double>& w,
                     const Guarded<double>* bias, const Guarded<double>& dy) {
  ConvGrads g{Guarded<double>(s.y_size()), Guarded<double>(s.x_size()), Guarded<double>(s.w_size()),
              Guarded<double>(s.K)};
  conv3d_fprop(s, x.data(), w.data(), bias ? bias->data() : nullptr, g.y.data());
  conv3d_dgrad(s, dy.data(), w.data(), g.dx.data());
  conv3d_wgrad(s, x.data(), dy.data(), g.dw.data(), g.db.data());
  CHECK_GUARD(g.y);
  CHECK_GUARD(g.dx);
  CHECK_GUARD(g.dw);
  CHECK_GUARD(g.db);
  return g;
}
ConvGrads run_conv_transpose3d(const ConvTranspose3dShape& s, const Guarded<double>& x,
                               const Guarded<double>& w, const Guarded<double>* bias,
                               const Guarded<double>& dy) {
  ConvGrads g{Guarded<double>(s.y_size()), Guarded<double>(s.x_size()), Guarded<double>(s.w_size()),
              Guarded<double>(s.K)};
  conv_transpose3d_fprop(s, x.data(), w.data(), bias ? bias->data() : nullptr, g.y.data());
  conv_transpose3d_dgrad(s, dy.data(), w.data(), g.dx.data());
  conv_transpose3d_wgrad(s, x.data(), dy.data(), g.dw.data(), g.db.data());
  CHECK_GUARD(g.y);
  CHECK_GUARD(g.dx);
  CHECK_GUARD(g.dw);
  CHECK_GUARD(g.db);
  return g;
}
std::vector<double> bias_grad_by_hand(const Guarded<double>& dy, int K) {
  std::vector<double> db(K, 0.0);
  for (std::size_t o = 0; o < dy.size(); ++o) db[o % K] += dy[o];
  return db;
}

}  // namespace

// =========================================================================================
// Hand-worked cases: integer inputs, exact answers.
// =========================================================================================

TEST_CASE("conv3d fprop, 1 channel 3x3x3 box filter over a 4x4x4 ramp: 27 times the centre") {
  // x[d,h,w] = 16d + 4h + w is linear, so the mean over a 3x3x3 window is its centre value:
  // y[z,p,q] = 27 * x[z+1, p+1, q+1] = 27 * (16z + 4p + q + 21).
  const Conv3dShape s = conv_shape(1, 4, 4, 4, 1, 1, 3, 3, 3);
  Guarded<double> x(64), w(27, 1.0), y(s.y_size());
  for (int i = 0; i < 64; ++i) x[i] = i;
  REQUIRE(s.Z() == 2);
  REQUIRE(s.y_size() == 8);
  conv3d_fprop(s, x.data(), w.data(), static_cast<const double*>(nullptr), y.data());
  CHECK(y[0] == 567);   // (0,0,0): 27 * 21
  CHECK(y[1] == 594);   // (0,0,1): 27 * 22
  CHECK(y[2] == 675);   // (0,1,0): 27 * 25
  CHECK(y[4] == 999);   // (1,0,0): 27 * 37
  CHECK(y[7] == 1134);  // (1,1,1): 27 * 42
  CHECK_GUARD(y);
  // A bias of 5 adds 5 everywhere.
  const auto bias = from_list<double>({5});
  conv3d_fprop(s, x.data(), w.data(), bias.data(), y.data());
  CHECK(y[0] == 572);
  CHECK(y[7] == 1139);
  CHECK_GUARD(y);
}

TEST_CASE("conv3d stride 2, padding 1: fprop, dgrad and wgrad counted by hand") {
  // 4x4x4 ones, 3x3x3 ones, stride 2, pad 1: Z = (4 + 2 - 3)/2 + 1 = 2 on each axis.
  // Window z=0 covers d = -1..1 (2 real), z=1 covers d = 1..3 (3 real): y = c_z c_p c_q with
  // c = {2, 3}.
  const Conv3dShape s = conv_shape(1, 4, 4, 4, 1, 1, 3, 3, 3, {2, 2, 2}, {1, 1, 1});
  Guarded<double> x(64, 1.0), w(27, 1.0), y(8), dy(8, 1.0), dx(64), dw(27), db(1);
  conv3d_fprop(s, x.data(), w.data(), static_cast<const double*>(nullptr), y.data());
  CHECK(y.body() == std::vector<double>{8, 12, 12, 18, 12, 18, 18, 27});
  // dgrad with dy = 1: dx[d] counts the (z, t) with 2z - 1 + t = d: {1, 2, 1, 1} per axis.
  conv3d_dgrad(s, dy.data(), w.data(), dx.data());
  const int cnt[4] = {1, 2, 1, 1};
  for (int d = 0; d < 4; ++d)
    for (int h = 0; h < 4; ++h)
      for (int v = 0; v < 4; ++v) CHECK(dx[(d * 4 + h) * 4 + v] == cnt[d] * cnt[h] * cnt[v]);
  // wgrad with x = dy = 1: dw[t] counts the z with 2z - 1 + t in [0, 4): {1, 2, 2} per axis.
  conv3d_wgrad(s, x.data(), dy.data(), dw.data(), db.data());
  const int taps[3] = {1, 2, 2};
  for (int t = 0; t < 3; ++t)
    for (int r = 0; r < 3; ++r)
      for (int u = 0; u < 3; ++u) CHECK(dw[(t * 3 + r) * 3 + u] == taps[t] * taps[r] * taps[u]);
  CHECK(db[0] == 8);
  CHECK_GUARD(y);
  CHECK_GUARD(dx);
  CHECK_GUARD(dw);
  CHECK_GUARD(db);
}

TEST_CASE("conv3d channel order: 1x1x1 kernel is a per-voxel matrix product over KTRSC w") {
  // Two voxels (W=2), C=2, K=2; w[k][c] = {{1, 10}, {100, 1000}}; bias {3, 4}.
  const Conv3dShape s = conv_shape(1, 1, 1, 2, 2, 2, 1, 1, 1);
  const auto x = from_list<double>({1, 2, 3, 4}), w = from_list<double>({1, 10, 100, 1000}),
             bias = from_list<double>({3, 4}), dy = from_list<double>({1, 2, 3, 4});
  Guarded<double> y(4), dx(4), dw(4), db(2);
  conv3d_fprop(s, x.data(), w.data(), bias.data(), y.data());
  CHECK(y.body() == std::vector<double>{24, 2104, 46, 4304});
  conv3d_dgrad(s, dy.data(), w.data(), dx.data());  // dx[c] = sum_k dy[k] w[k][c]
  CHECK(dx.body() == std::vector<double>{201, 2010, 403, 4030});
  conv3d_wgrad(s, x.data(), dy.data(), dw.data(), db.data());  // dw[k][c] = sum dy[k] x[c]
  CHECK(dw.body() == std::vector<double>{10, 14, 14, 20});
  CHECK(db.body() == std::vector<double>{4, 6});
  CHECK_GUARD(y);
  CHECK_GUARD(dx);
  CHECK_GUARD(dw);
  CHECK_GUARD(db);
}

TEST_CASE("conv_transpose3d 2x2x2 stride 2 is a scatter without overlap") {
  // x 2x2x2 = 1..8, w 2x2x2 = 1..8 (C = K = 1): y[2d+t, 2h+r, 2v+u] = x[d,h,v] * w[t,r,u].
  const ConvTranspose3dShape s = conv_transpose_shape(1, 2, 2, 2, 1, 1, 2, 2, 2, {2, 2, 2});
  Guarded<double> x(8), w(8), y(s.y_size());
  for (int i = 0; i < 8; ++i) x[i] = w[i] = i + 1;
  REQUIRE(s.Z() == 4);
  REQUIRE(s.y_size() == 64);
  conv_transpose3d_fprop(s, x.data(), w.data(), static_cast<const double*>(nullptr), y.data());
  CHECK(y[0] == 1);                     // x[0,0,0] * w[0,0,0]
  CHECK(y[(1 * 4 + 0) * 4 + 0] == 5);   // x[0,0,0] * w[1,0,0] = 1 * 5
  CHECK(y[(2 * 4 + 1) * 4 + 3] == 24);  // x[1,0,1] * w[0,1,1] = 6 * 4
  CHECK(y[63] == 64);                   // x[1,1,1] * w[1,1,1]
  for (int d = 0; d < 2; ++d)
    for (int h = 0; h < 2; ++h)
      for (int v = 0; v < 2; ++v)
        for (int t = 0; t < 2; ++t)
          for (int r = 0; r < 2; ++r)
            for (int u = 0; u < 2; ++u)
              CHECK(y[((2 * d + t) * 4 + 2 * h + r) * 4 + 2 * v + u] ==
                    x[(d * 2 + h) * 2 + v] * w[(t * 2 + r) * 2 + u]);
  CHECK_GUARD(y);
}

TEST_CASE("conv_transpose3d channel order, bias and padding by hand") {
  SUBCASE("1x1x1: y[k] = bias[k] + sum_c x[c] w[c][k], w laid out [C][T][R][S][K]") {
    const ConvTranspose3dShape s = conv_transpose_shape(1, 1, 1, 1, 2, 3, 1, 1, 1);
    const auto x = from_list<double>({1, 2}), w = from_list<double>({1, 2, 3, 10, 20, 30}),
               bias = from_list<double>({100, 200, 300}), dy = from_list<double>({1, 2, 3});
    Guarded<double> y(3), dx(2), dw(6), db(3);
    conv_transpose3d_fprop(s, x.data(), w.data(), bias.data(), y.data());
    CHECK(y.body() == std::vector<double>{121, 242, 363});
    conv_transpose3d_dgrad(s, dy.data(), w.data(), dx.data());  // dx[c] = sum_k dy[k] w[c][k]
    CHECK(dx.body() == std::vector<double>{14, 140});
    conv_transpose3d_wgrad(s, x.data(), dy.data(), dw.data(), db.data());  // x[c] dy[k]
    CHECK(dw.body() == std::vector<double>{1, 2, 3, 2, 4, 6});
    CHECK(db.body() == std::vector<double>{1, 2, 3});
    CHECK_GUARD(y);
    CHECK_GUARD(dx);
    CHECK_GUARD(dw);
    CHECK_GUARD(db);
  }
  SUBCASE("1-D stride 2, kernel 3, pad 1: full output [1, 2, 3+10, 20, 30] cropped by 1") {
    const ConvTranspose3dShape s =
        conv_transpose_shape(1, 1, 1, 2, 1, 1, 1, 1, 3, {1, 1, 2}, {0, 0, 1});
    REQUIRE(s.Q() == 3);
    const auto x = from_list<double>({1, 10}), w = from_list<double>({1, 2, 3});
    Guarded<double> y(3);
    conv_transpose3d_fprop(s, x.data(), w.data(), static_cast<const double*>(nullptr), y.data());
    CHECK(y.body() == std::vector<double>{2, 13, 20});
    CHECK_GUARD(y);
  }
}

TEST_CASE("max_pool3d by hand: ties go to the first maximum, padding is -inf, overlaps add") {
  SUBCASE("2x2x2 window, stride 2: a tie between scan positions 3 and 6 goes to 3") {
    const MaxPool3dShape s = pool_shape(1, 2, 2, 2, 1, 2, 2, 2, {2, 2, 2});
    const auto x = from_list<double>({1, 4, 2, 9, 0, 3, 9, 5});
    Guarded<double> y(1), dx(8);
    Guarded<std::int64_t> am(1);
    max_pool3d_fprop(s, x.data(), y.data(), am.data());
    CHECK(y[0] == 9);
    CHECK(am[0] == 3);
    const auto dy = from_list<double>({7});
    max_pool3d_bprop(s, dy.data(), am.data(), dx.data());
    CHECK(dx.body() == std::vector<double>{0, 0, 0, 7, 0, 0, 0, 0});
    // All equal: the first element of the window wins.
    const Guarded<double> flat(8, 2.0);
    max_pool3d_fprop(s, flat.data(), y.data(), am.data());
    CHECK(am[0] == 0);
    CHECK_GUARD(y);
    CHECK_GUARD(am);
    CHECK_GUARD(dx);
  }
  SUBCASE("padding never wins, even over negative values") {
    // W = 4, window 3, stride 2, pad 1: windows cover w = -1..1 and 1..3.
    const MaxPool3dShape s = pool_shape(1, 1, 1, 4, 1, 1, 1, 3, {1, 1, 2}, {0, 0, 1});
    REQUIRE(s.Q() == 2);
    const auto x = from_list<double>({-5, -3, -4, -1});
    Guarded<double> y(2);
    Guarded<std::int64_t> am(2);
    max_pool3d_fprop(s, x.data(), y.data(), am.data());
    CHECK(y.body() == std::vector<double>{-3, -1});
    CHECK(am.body() == std::vector<std::int64_t>{1, 3});
    // Windows of -inf still name a real element (the first), never the padding.
    const Guarded<double> ninf(4, -std::numeric_limits<double>::infinity());
    max_pool3d_fprop(s, ninf.data(), y.data(), am.data());
    CHECK(am.body() == std::vector<std::int64_t>{0, 1});
    CHECK(std::isinf(y[0]));
    CHECK_GUARD(y);
    CHECK_GUARD(am);
  }
  SUBCASE("overlapping windows with the same maximum add their gradients") {
    // W = 5, window 3, stride 1: all three windows hold the 9 at index 2.
    const MaxPool3dShape s = pool_shape(1, 1, 1, 5, 1, 1, 1, 3, {1, 1, 1});
    const auto x = from_list<double>({0, 1, 9, 2, 3}), dy = from_list<double>({1, 10, 100});
    Guarded<double> y(3), dx(5);
    Guarded<std::int64_t> am(3);
    max_pool3d_fprop(s, x.data(), y.data(), am.data());
    max_pool3d_bprop(s, dy.data(), am.data(), dx.data());
    CHECK(dx.body() == std::vector<double>{0, 0, 111, 0, 0});
    CHECK_GUARD(y);
    CHECK_GUARD(am);
    CHECK_GUARD(dx);
  }
  SUBCASE("NaN propagates and the first NaN takes the gradient") {
    const MaxPool3dShape s = pool_shape(1, 1, 1, 4, 1, 1, 1, 4, {1, 1, 1});
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const auto x = from_list<double>({1, nan, 5, nan});
    Guarded<double> y(1);
    Guarded<std::int64_t> am(1);
    max_pool3d_fprop(s, x.data(), y.data(), am.data());
    CHECK(std::isnan(y[0]));
    CHECK(am[0] == 1);
    max_pool3d_fprop(s, x.data(), y.data(), static_cast<std::int64_t*>(nullptr));  // optional
    CHECK(std::isnan(y[0]));
    CHECK_GUARD(y);
  }
}

TEST_CASE("shape sizes and validation messages") {
  const Conv3dShape c = conv_shape(2, 5, 6, 7, 3, 4, 3, 2, 1, {2, 1, 3}, {1, 0, 2});
  CHECK(c.Z() == 3);  // (5 + 2 - 3)/2 + 1
  CHECK(c.P() == 5);  // (6 - 2)/1 + 1
  CHECK(c.Q() == 4);  // (7 + 4 - 1)/3 + 1
  CHECK(c.x_size() == 2u * 5 * 6 * 7 * 3);
  CHECK(c.w_size() == 4u * 3 * 2 * 1 * 3);
  CHECK(c.y_size() == 2u * 3 * 5 * 4 * 4);
  CHECK_NOTHROW(c.validate());

  auto bad = c;
  bad.N = 0;
  CHECK(thrown_message([&] { bad.validate(); }).find("batch N is 0") != std::string::npos);
  bad = c;
  bad.stride_h = 0;
  CHECK(thrown_message([&] { bad.validate(); }).find("stride_h") != std::string::npos);
  bad = c;
  bad.pad_w = -1;
  CHECK(thrown_message([&] { bad.validate(); }).find("pad_w is -1") != std::string::npos);
  bad = c;
  bad.T = 8;  // 5 + 2 < 8: (5 + 2 - 8)/2 + 1 would truncate to 1 without the check
  CHECK(bad.Z() == 0);
  const std::string empty = thrown_message([&] { bad.validate(); });
  CHECK(empty.find("empty") != std::string::npos);
  CHECK(empty.find("conv3d N=2 DHW=5x6x7") == 0);
  // Kernels validate, and refuse null buffers.
  std::vector<double> buf(1000);
  CHECK_THROWS_AS(conv3d_fprop(bad, buf.data(), buf.data(), buf.data(), buf.data()),
                  std::invalid_argument);
  CHECK_THROWS_AS(conv3d_dgrad(c, buf.data(), static_cast<const double*>(nullptr), buf.data()),
                  std::invalid_argument);

  const ConvTranspose3dShape t =
      conv_transpose_shape(1, 3, 4, 2, 2, 5, 2, 3, 1, {2, 3, 1}, {1, 2, 0});
  CHECK(t.Z() == 4);  // (3-1)*2 - 2 + 2
  CHECK(t.P() == 8);  // (4-1)*3 - 4 + 3
  CHECK(t.Q() == 2);
  CHECK(t.w_size() == 2u * 2 * 3 * 1 * 5);
  CHECK(t.y_size() == 1u * 4 * 8 * 2 * 5);
  const Conv3dShape f = t.as_forward_conv();
  CHECK((f.D == 4 && f.H == 8 && f.W == 2 && f.C == 5 && f.K == 2));
  CHECK((f.Z() == t.D && f.P() == t.H && f.Q() == t.W));
  auto tbad = t;
  tbad.pad_w = 1;  // (2-1)*1 - 2 + 1 = 0
  CHECK(thrown_message([&] { tbad.validate(); }).find("crops away the whole output width") !=
        std::string::npos);
  CHECK_THROWS_AS(
      conv_transpose3d_wgrad(t, buf.data(), buf.data(), static_cast<double*>(nullptr), buf.data()),
      std::invalid_argument);

  const MaxPool3dShape p = pool_shape(1, 5, 4, 3, 2, 2, 3, 3, {2, 2, 1}, {1, 1, 0});
  CHECK(p.Z() == 3);  // (5 + 2 - 2)/2 + 1, floor
  CHECK(p.P() == 2);  // (4 + 2 - 3)/2 + 1, floor
  CHECK(p.Q() == 1);
  CHECK(p.y_size() == 1u * 3 * 2 * 1 * 2);
  auto pbad = p;
  pbad.pad_w = 2;
  CHECK(thrown_message([&] { pbad.validate(); }).find("more than half the window") !=
        std::string::npos);
  std::vector<std::int64_t> am(100);
  CHECK_THROWS_AS(
      max_pool3d_bprop(p, buf.data(), static_cast<const std::int64_t*>(nullptr), buf.data()),
      std::invalid_argument);
  CHECK_NOTHROW(max_pool3d_fprop(p, buf.data(), buf.data() + 500, am.data()));
}

// =========================================================================================
// Independent oracles, bit-exact on integer inputs (every partial sum far below 2^53).
// =========================================================================================

TEST_CASE("conv3d fprop, dgrad, wgrad equal the im2col GEMM oracle exactly (integer inputs)") {
  Rng rng{11};
  for (const auto& s : conv_cases()) {
    CAPTURE(s.describe());
    const auto x = integer_buffer<double>(s.x_size(), rng, -4, 4);
    const auto w = integer_buffer<double>(s.w_size(), rng, -4, 4);
    const auto b = integer_buffer<double>(s.K, rng, -9, 9);
    const auto dy = integer_buffer<double>(s.y_size(), rng, -4, 4);
    const auto g = run_conv3d(s, x, w, &b, dy);
    CHECK(g.y.body() == oracle_conv3d_fprop(s, x.data(), w.data(), b.data()));
    CHECK(g.dx.body() == oracle_conv3d_dgrad(s, dy.data(), w.data()));
    CHECK(g.dw.body() == oracle_conv3d_wgrad(s, x.data(), dy.data()));
    CHECK(g.db.body() == bias_grad_by_hand(dy, s.K));
  }
}

TEST_CASE("conv_transpose3d equals PyTorch's scatter definition and conv3d's dgrad exactly") {
  Rng rng{12};
  for (const auto& s : conv_transpose_cases()) {
    CAPTURE(s.describe());
    const auto x = integer_buffer<double>(s.x_size(), rng, -4, 4);
    const auto w = integer_buffer<double>(s.w_size(), rng, -4, 4);
    const auto b = integer_buffer<double>(s.K, rng, -9, 9);
    const auto dy = integer_buffer<double>(s.y_size(), rng, -4, 4);
    const auto g = run_conv_transpose3d(s, x, w, &b, dy);
    CHECK(g.y.body() == oracle_conv_transpose3d_fprop(s, x.data(), w.data(), b.data()));
    CHECK(g.db.body() == bias_grad_by_hand(dy, s.K));
    // The matching forward conv: our fprop is its dgrad, our dgrad its fprop, our wgrad its
    // wgrad with the roles of input and output gradient swapped; the weight buffer is shared.
    const Conv3dShape f = s.as_forward_conv();
    REQUIRE(f.x_size() == s.y_size());
    REQUIRE(f.y_size() == s.x_size());
    REQUIRE(f.w_size() == s.w_size());
    Guarded<double> y_fwd(s.y_size()), dx_fwd(s.x_size()), dw_fwd(s.w_size());
    conv3d_dgrad(f, x.data(), w.data(), y_fwd.data());
    auto y_nobias = Guarded<double>(s.y_size());
    conv_transpose3d_fprop(s, x.data(), w.data(), static_cast<const double*>(nullptr),
                           y_nobias.data());
    CHECK(y_nobias.body() == y_fwd.body());
    conv3d_fprop(f, dy.data(), w.data(), static_cast<const double*>(nullptr), dx_fwd.data());
    CHECK(g.dx.body() == dx_fwd.body());
    conv3d_wgrad(f, dy.data(), x.data(), dw_fwd.data(), static_cast<double*>(nullptr));
    CHECK(g.dw.body() == dw_fwd.body());
    CHECK_GUARD(y_fwd);
    CHECK_GUARD(dx_fwd);
    CHECK_GUARD(dw_fwd);
    CHECK_GUARD(y_nobias);
  }
}

TEST_CASE("max_pool3d equals the max_element oracle on inputs full of ties") {
  Rng rng{13};
  for (const auto& s : pool_cases()) {
    CAPTURE(s.describe());
    const auto x = integer_buffer<double>(s.x_size(), rng, 0, 2);  // ties everywhere
    Guarded<double> y(s.y_size());
    Guarded<std::int64_t> am(s.y_size());
    max_pool3d_fprop(s, x.data(), y.data(), am.data());
    std::vector<double> y_ref;
    std::vector<std::int64_t> am_ref;
    oracle_max_pool3d(s, x.data(), y_ref, am_ref);
    CHECK(y.body() == y_ref);
    CHECK(am.body() == am_ref);
    // The gradient goes to the first maximum: scatter dy through the oracle's argmax.
    const auto dy = integer_buffer<double>(s.y_size(), rng, -5, 5);
    std::vector<double> dx_ref(s.x_size(), 0.0);
    for (std::size_t o = 0; o < am_ref.size(); ++o) dx_ref[am_ref[o]] += dy[o];
    Guarded<double> dx(s.x_size());
    max_pool3d_bprop(s, dy.data(), am.data(), dx.data());
    CHECK(dx.body() == dx_ref);
    CHECK_GUARD(y);
    CHECK_GUARD(am);
    CHECK_GUARD(dx);
  }
}

TEST_CASE("max_pool3d on a constant input sends every window's gradient to its first element") {
  for (const auto& s : pool_cases()) {
    CAPTURE(s.describe());
    const Guarded<double> x(s.x_size(), 3.0);
    Guarded<double> y(s.y_size()), dx(s.x_size());
    Guarded<std::int64_t> am(s.y_size());
    max_pool3d_fprop(s, x.data(), y.data(), am.data());
    std::vector<double> dx_ref(s.x_size(), 0.0);
    for (int n = 0; n < s.N; ++n)
      for (int z = 0; z < s.Z(); ++z)
        for (int p = 0; p < s.P(); ++p)
          for (int q = 0; q < s.Q(); ++q)
            for (int c = 0; c < s.C; ++c) {
              // First real element in scan order: each window start clamped into the input.
              const int d = std::max(z * s.stride_d - s.pad_d, 0),
                        h = std::max(p * s.stride_h - s.pad_h, 0),
                        v = std::max(q * s.stride_w - s.pad_w, 0);
              const auto o = ndhwc_offset(n, z, p, q, c, s.Z(), s.P(), s.Q(), s.C);
              const auto first = ndhwc_offset(n, d, h, v, c, s.D, s.H, s.W, s.C);
              CHECK(am[o] == first);
              dx_ref[first] += 1.0;
            }
    const Guarded<double> dy(s.y_size(), 1.0);
    max_pool3d_bprop(s, dy.data(), am.data(), dx.data());
    CHECK(dx.body() == dx_ref);
    CHECK_GUARD(y);
    CHECK_GUARD(am);
    CHECK_GUARD(dx);
  }
}

// =========================================================================================
// Adjoint identities on random double inputs: <fprop(x,w), dy> = <x, dgrad(dy,w)> =
// <w, wgrad(x,dy)>, and the bias gradient is the sum of dy over N, Z, P, Q.
// =========================================================================================

TEST_CASE("conv3d adjoint identities and bias gradient, random doubles") {
  Rng rng{21};
  for (const auto& s : conv_cases()) {
    CAPTURE(s.describe());
    const auto x = random_buffer<double>(s.x_size(), rng),
               w = random_buffer<double>(s.w_size(), rng),
               dy = random_buffer<double>(s.y_size(), rng), b = random_buffer<double>(s.K, rng);
    const auto g = run_conv3d(s, x, w, nullptr, dy);
    const long double lhs = dot(g.y, dy), via_x = dot(x, g.dx), via_w = dot(w, g.dw);
    CAPTURE(static_cast<double>(lhs));
    CHECK(close_rel(lhs, via_x, 1e-12L));
    CHECK(close_rel(lhs, via_w, 1e-12L));
    const auto db = bias_grad_by_hand(dy, s.K);
    for (int k = 0; k < s.K; ++k) CHECK(close_rel(g.db[k], db[k], 1e-12L));
    // fprop with a bias adds bias[k] to channel k.
    Guarded<double> yb(s.y_size());
    conv3d_fprop(s, x.data(), w.data(), b.data(), yb.data());
    for (std::size_t o = 0; o < yb.size(); ++o)
      CHECK(std::fabs(yb[o] - g.y[o] - b[o % s.K]) <= 1e-14);
    CHECK_GUARD(yb);
  }
}

TEST_CASE("conv_transpose3d adjoint identities and bias gradient, random doubles") {
  Rng rng{22};
  for (const auto& s : conv_transpose_cases()) {
    CAPTURE(s.describe());
    const auto x = random_buffer<double>(s.x_size(), rng),
               w = random_buffer<double>(s.w_size(), rng),
               dy = random_buffer<double>(s.y_size(), rng);
    const auto g = run_conv_transpose3d(s, x, w, nullptr, dy);
    const long double lhs = dot(g.y, dy);
    CHECK(close_rel(lhs, dot(x, g.dx), 1e-12L));
    CHECK(close_rel(lhs, dot(w, g.dw), 1e-12L));
    const auto db = bias_grad_by_hand(dy, s.K);
    for (int k = 0; k < s.K; ++k) CHECK(close_rel(g.db[k], db[k], 1e-12L));
  }
}

// =========================================================================================
// float64 central finite differences of L = <fprop(x, w, b), g> against dgrad and wgrad.
// =========================================================================================

namespace {
// Checks analytic[i] against (L(v + h e_i) - L(v - h e_i)) / 2h for up to `probes` indices
// of v spread over the buffer (always including the first and the last).
void check_fd(const char* what, Guarded<double>& v, const Guarded<double>& analytic,
              const std::function<long double()>& loss, double h, double tol) {
  const std::size_t n = v.size(), probes = std::min<std::size_t>(n, 24);
  for (std::size_t j = 0; j < probes; ++j) {
    const std::size_t i = probes == 1 ? 0 : j * (n - 1) / (probes - 1);
    const double keep = v[i];
    v[i] = keep + h;
    const long double up = loss();
    v[i] = keep - h;
    const long double down = loss();
    v[i] = keep;
    const double fd = static_cast<double>((up - down) / (2 * h));
    CAPTURE(what);
    CAPTURE(i);
    CHECK(std::fabs(fd - analytic[i]) <= tol * std::max(1.0, std::fabs(analytic[i])));
  }
}
}  // namespace

TEST_CASE("conv3d dgrad and wgrad match finite differences of fprop (float64)") {
  Rng rng{31};
  const auto cases = conv_cases();
  for (const auto& s : {cases[1], cases[2], cases[4], cases[6]}) {
    CAPTURE(s.describe());
    auto x = random_buffer<double>(s.x_size(), rng), w = random_buffer<double>(s.w_size(), rng),
         b = random_buffer<double>(s.K, rng);
    const auto gy = random_buffer<double>(s.y_size(), rng);
    Guarded<double> y(s.y_size());
    auto loss = [&] {
      conv3d_fprop(s, x.data(), w.data(), b.data(), y.data());
      return dot(y, gy);
    };
    const auto g = run_conv3d(s, x, w, &b, gy);
    check_fd("dx", x, g.dx, loss, 1e-3, 1e-8);
    check_fd("dw", w, g.dw, loss, 1e-3, 1e-8);
    check_fd("dbias", b, g.db, loss, 1e-3, 1e-8);
    CHECK_GUARD(y);
  }
}

TEST_CASE("conv_transpose3d dgrad and wgrad match finite differences of fprop (float64)") {
  Rng rng{32};
  for (const auto& s : conv_transpose_cases()) {
    CAPTURE(s.describe());
    auto x = random_buffer<double>(s.x_size(), rng), w = random_buffer<double>(s.w_size(), rng),
         b = random_buffer<double>(s.K, rng);
    const auto gy = random_buffer<double>(s.y_size(), rng);
    Guarded<double> y(s.y_size());
    auto loss = [&] {
      conv_transpose3d_fprop(s, x.data(), w.data(), b.data(), y.data());
      return dot(y, gy);
    };
    const auto g = run_conv_transpose3d(s, x, w, &b, gy);
    check_fd("dx", x, g.dx, loss, 1e-3, 1e-8);
    check_fd("dw", w, g.dw, loss, 1e-3, 1e-8);
    check_fd("dbias", b, g.db, loss, 1e-3, 1e-8);
    CHECK_GUARD(y);
  }
}

TEST_CASE("max_pool3d bprop matches finite differences on inputs without ties (float64)") {
  Rng rng{33};
  for (const auto& s : pool_cases()) {
    CAPTURE(s.describe());
    // Distinct values 0.01 apart in shuffled order; a step of 1e-3 < 0.01/2 moves no maximum.
    std::vector<std::size_t> order(s.x_size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.next() % i]);
    Guarded<double> x(s.x_size());
    for (std::size_t i = 0; i < order.size(); ++i)
      x[i] = 0.01 * static_cast<double>(order[i]) - 1.0;
    const auto gy = random_buffer<double>(s.y_size(), rng);
    Guarded<double> y(s.y_size()), dx(s.x_size());
    Guarded<std::int64_t> am(s.y_size());
    auto loss = [&] {
      max_pool3d_fprop(s, x.data(), y.data(), static_cast<std::int64_t*>(nullptr));
      return dot(y, gy);
    };
    max_pool3d_fprop(s, x.data(), y.data(), am.data());
    max_pool3d_bprop(s, gy.data(), am.data(), dx.data());
    // Each argmax names the element that holds the output value (before the probes move y).
    for (std::size_t o = 0; o < y.size(); ++o) CHECK(x[static_cast<std::size_t>(am[o])] == y[o]);
    check_fd("dx", x, dx, loss, 1e-3, 1e-9);
    CHECK_GUARD(y);
    CHECK_GUARD(am);
    CHECK_GUARD(dx);
  }
}

// =========================================================================================
// float agrees with double: both accumulate in double, so float is double rounded once.
// =========================================================================================

namespace {
// |f - d| within 1e-5 relative to the buffer's scale, and within one float rounding of d.
void check_float_vs_double(const char* what, const Guarded<float>& f, const Guarded<double>& d) {
  CAPTURE(what);
  REQUIRE(f.size() == d.size());
  double scale = 0;
  for (std::size_t i = 0; i < d.size(); ++i) scale = std::max(scale, std::fabs(d[i]));
  std::size_t bad_rel = 0, bad_round = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(f[i]) - d[i]);
    if (diff > 1e-5 * std::max(std::fabs(d[i]), 1e-3 * scale)) ++bad_rel;
    if (diff > 0x1p-24 * std::fabs(d[i]) * (1 + 1e-9)) ++bad_round;
  }
  CHECK(bad_rel == 0);
  CHECK(bad_round == 0);
  CHECK(f.guard_intact());
}
}  // namespace

TEST_CASE("float instantiations agree with double within 1e-5 relative") {
  Rng rng{41};
  // Inputs drawn as floats, so both precisions see the same numbers.
  auto draw = [&](std::size_t n) { return to_double(to_float(random_buffer<double>(n, rng))); };
  for (const auto& s : conv_cases()) {
    CAPTURE(s.describe());
    const auto x = draw(s.x_size()), w = draw(s.w_size()), b = draw(s.K), dy = draw(s.y_size());
    const auto g = run_conv3d(s, x, w, &b, dy);
    const auto xf = to_float(x), wf = to_float(w), bf = to_float(b), dyf = to_float(dy);
    Guarded<float> y(s.y_size()), dx(s.x_size()), dw(s.w_size()), db(s.K);
    conv3d_fprop(s, xf.data(), wf.data(), bf.data(), y.data());
    conv3d_dgrad(s, dyf.data(), wf.data(), dx.data());
    conv3d_wgrad(s, xf.data(), dyf.data(), dw.data(), db.data());
    Guarded<double> yd(s.y_size());  // g.y has no bias
    conv3d_fprop(s, x.data(), w.data(), b.data(), yd.data());
    check_float_vs_double("conv3d y", y, yd);
    check_float_vs_double("conv3d dx", dx, g.dx);
    check_float_vs_double("conv3d dw", dw, g.dw);
    check_float_vs_double("conv3d dbias", db, g.db);
  }
  for (const auto& s : conv_transpose_cases()) {
    CAPTURE(s.describe());
    const auto x = draw(s.x_size()), w = draw(s.w_size()), b = draw(s.K), dy = draw(s.y_size());
    const auto g = run_conv_transpose3d(s, x, w, &b, dy);
    const auto xf = to_float(x), wf = to_float(w), bf = to_float(b), dyf = to_float(dy);
    Guarded<float> y(s.y_size()), dx(s.x_size()), dw(s.w_size()), db(s.K);
    conv_transpose3d_fprop(s, xf.data(), wf.data(), bf.data(), y.data());
    conv_transpose3d_dgrad(s, dyf.data(), wf.data(), dx.data());
    conv_transpose3d_wgrad(s, xf.data(), dyf.data(), dw.data(), db.data());
    check_float_vs_double("conv_transpose3d y", y, g.y);
    check_float_vs_double("conv_transpose3d dx", dx, g.dx);
    check_float_vs_double("conv_transpose3d dw", dw, g.dw);
    check_float_vs_double("conv_transpose3d dbias", db, g.db);
  }
  for (const auto& s : pool_cases()) {
    CAPTURE(s.describe());
    const auto x = draw(s.x_size()), dy = draw(s.y_size());
    const auto xf = to_float(x), dyf = to_float(dy);
    Guarded<double> yd(s.y_size()), dxd(s.x_size());
    Guarded<float> yf(s.y_size()), dxf(s.x_size());
    Guarded<std::int64_t> amd(s.y_size()), amf(s.y_size());
    max_pool3d_fprop(s, x.data(), yd.data(), amd.data());
    max_pool3d_fprop(s, xf.data(), yf.data(), amf.data());
    max_pool3d_bprop(s, dy.data(), amd.data(), dxd.data());
    max_pool3d_bprop(s, dyf.data(), amf.data(), dxf.data());
    CHECK(amf.body() == amd.body());
    check_float_vs_double("max_pool3d y", yf, yd);
    check_float_vs_double("max_pool3d dx", dxf, dxd);
    CHECK_GUARD(amf);
  }
}
