// The CUDA conv3d kernels' index arithmetic (kernels/cuda/conv_gemm.h), on the CPU: each pass
// is run here in the kernels' own summation order (per output, the reduction index ascending,
// one fused multiply-add per term; wgrad in chunks of rows added in chunk order) through the
// same host/device functions, and compared with the reference kernels. Small integers make
// every sum exact, so an index off by one anywhere shows up as a mismatch; random floats check
// the rounding stays a float32 sum's. Runs on every machine; the kernels themselves run on a
// GPU in ctv_gpu_tests (bench/gpu_check.sh).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cuda_conv_emulation.h"

namespace {
using namespace cuda_emulation;
}  // namespace

TEST_CASE("CUDA conv3d index arithmetic: small integers give exactly the reference") {
  Rng rng{900};
  for (const Conv3dShape& s : gemm_cases()) {
    CAPTURE(s.describe());
    const auto x = integer_buffer<float>(s.x_size(), rng, -3, 3);
    const auto w = integer_buffer<float>(s.w_size(), rng, -3, 3);
    const auto b = integer_buffer<float>(std::size_t(s.K), rng, -3, 3);
    const auto dy = integer_buffer<float>(s.y_size(), rng, -3, 3);
    Guarded<float> y(s.y_size()), dx(s.x_size()), dw(s.w_size());
    conv3d_fprop(s, x.data(), w.data(), b.data(), y.data());
    conv3d_dgrad(s, dy.data(), w.data(), dx.data());
    conv3d_wgrad(s, x.data(), dy.data(), dw.data(), static_cast<float*>(nullptr));
    const Passes e = emulate(s, x.body(), w.body(), b.body(), dy.body());
    CHECK(e.y == y.body());
    CHECK(e.dx == dx.body());
    CHECK(e.dw == dw.body());
    if (s.Q() > 1 && s.K > 0) {
      // The check can fail: a tap read one column off changes the result.
      Conv3dShape wrong = s;
      wrong.pad_w += 1;
      wrong.W -= 2;
      if (wrong.W > 0 && wrong.Q() > 0 && wrong.Z() > 0 && wrong.P() > 0) {
        CHECK(emulate(wrong, x.body(), w.body(), b.body(), dy.body()).y != y.body());
      }
    }
  }
}

TEST_CASE("CUDA conv3d index arithmetic: random floats within float32 rounding") {
  Rng rng{901};
  for (const Conv3dShape& s : gemm_cases()) {
    CAPTURE(s.describe());
    const auto x = random_buffer<float>(s.x_size(), rng);
    const auto w = random_buffer<float>(s.w_size(), rng);
    const auto b = random_buffer<float>(std::size_t(s.K), rng);
    const auto dy = random_buffer<float>(s.y_size(), rng);
    Guarded<double> y(s.y_size()), dx(s.x_size()), dw(s.w_size());
    conv3d_fprop(s, to_double(x).data(), to_double(w).data(), to_double(b).data(), y.data());
    conv3d_dgrad(s, to_double(dy).data(), to_double(w).data(), dx.data());
    conv3d_wgrad(s, to_double(x).data(), to_double(dy).data(), dw.data(),
                 static_cast<double*>(nullptr));
    const Passes e = emulate(s, x.body(), w.body(), b.body(), dy.body());
    check_float_sum("fprop", e.y, y, double(kc::fprop_reduction(s)));
    check_float_sum("dgrad", e.dx, dx, double(kc::dgrad_reduction(s)));
    check_float_sum("wgrad", e.dw, dw, double(kc::fprop_rows(s)));
  }
}

TEST_CASE("CUDA conv3d gathers in halves: the same offsets as the per-element functions") {
  for (const Conv3dShape& s : gemm_cases()) {
    CAPTURE(s.describe());
    std::int64_t mismatches = 0, padding = 0;
    const std::int64_t M = kc::fprop_rows(s), L = kc::fprop_reduction(s);
    for (std::int64_t m = 0; m < M; ++m) {
      const kc::ConvPixel p = kc::fprop_pixel(s, m);
      for (std::int64_t l = 0; l < L; ++l) {
        const std::int64_t want = kc::fprop_a_offset(s, m, l);
        mismatches += kc::fprop_gather(s, p, kc::fprop_tap(s, l)) != want;
        padding += want < 0;
      }
    }
    const std::int64_t Md = kc::dgrad_rows(s), Ld = kc::dgrad_reduction(s);
    for (std::int64_t m = 0; m < Md; ++m) {
      const kc::ConvPixel p = kc::dgrad_pixel(s, m);
      for (std::int64_t l = 0; l < Ld; ++l) {
        const std::int64_t want = kc::dgrad_a_offset(s, m, l);
        mismatches += kc::dgrad_gather(s, p, kc::dgrad_tap(s, l)) != want;
        padding += want < 0;
      }
    }
    CHECK(mismatches == 0);
    if (s.pad_d + s.pad_h + s.pad_w > 0) CHECK(padding > 0);  // the -1 branch was exercised
  }
}

TEST_CASE("CUDA conv_transpose3d as a GEMM and a scatter: exactly the reference on integers") {
  Rng rng{904};
  std::vector<ConvTranspose3dShape> cases;
  for (const ConvTranspose3dShape& s : conv_transpose_cases())
    if (kc::transposed_is_scatter(s)) cases.push_back(s);
  CHECK(cases.size() >= 1);  // the U-Net's up-sampling is among them
  cases.push_back(conv_transpose_shape(2, 3, 1, 5, 3, 4, 2, 2, 2, {2, 2, 2}));  // odd sizes
  cases.push_back(conv_transpose_shape(1, 2, 3, 2, 5, 2, 3, 1, 2, {3, 1, 2}));  // unequal taps
  ConvTranspose3dShape not_scatter = cases.front();
  not_scatter.pad_d = 1;
  CHECK_FALSE(kc::transposed_is_scatter(not_scatter));
  for (const ConvTranspose3dShape& s : cases) {
    CAPTURE(s.describe());
    REQUIRE(kc::transposed_is_scatter(s));
    const auto x = integer_buffer<float>(s.x_size(), rng, -3, 3);
    const auto w = integer_buffer<float>(s.w_size(), rng, -3, 3);
    const auto b = integer_buffer<float>(std::size_t(s.K), rng, -3, 3);
    Guarded<float> y(s.y_size());
    conv_transpose3d_fprop(s, x.data(), w.data(), b.data(), y.data());
    // The kernels' order: per output, c ascending, one fused multiply-add each, then the bias.
    std::vector<float> got(s.y_size(), std::nanf(""));
    std::vector<int> hits(s.y_size(), 0);
    const std::int64_t M = kc::transposed_rows(s);
    const int N = kc::transposed_columns(s);
    for (std::int64_t m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        float acc = 0.0f;
        for (int c = 0; c < s.C; ++c)
          acc = std::fma(x[std::size_t(m * s.C + c)], w[std::size_t(std::int64_t(c) * N + n)], acc);
        const std::int64_t o = kc::transposed_scatter_offset(s, m, n);
        REQUIRE(o >= 0);
        REQUIRE(o < std::int64_t(s.y_size()));
        got[std::size_t(o)] = acc + b[std::size_t(n % s.K)];
        ++hits[std::size_t(o)];
      }
    CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
    CHECK(got == y.body());
  }
}
