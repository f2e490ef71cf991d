// The naive reference kernels (kernels/cpu/reference/) against independent oracles written
// here, bit-exact on integer inputs (every partial sum far below 2^53): an im2col GEMM for
// conv3d, PyTorch's scatter definition (and conv3d's dgrad) for the transposed conv, and
// std::max_element over each window for max pooling, ties included.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernel_test_util.h"

using namespace kernel_test;

namespace {

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
}  // namespace

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
    const auto g = run_conv(s, x, w, &b, dy);
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
    const auto g = run_conv(s, x, w, &b, dy);
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
