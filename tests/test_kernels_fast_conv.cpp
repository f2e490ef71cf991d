// The fast CPU convolutions (kernels/cpu/fast/conv3d.h, conv_transpose3d.h) against the
// reference kernels (the spec), at every instruction-set level this machine runs:
//   - random floats on awkward shapes (C = 1, 2, 3, 17, K = 1, 3, 33, N = 2, sizes of 1, widths
//     that are not a multiple of any tile or vector width, strides 2 and 3, pads 0 to 2), with a
//     bound relative to the magnitude: |fast - ref| <= (L + 2) * 2^-24 * ref(|inputs|), L the
//     reduction length (fast sums in float, the reference in double);
//   - small integers, where every partial sum is an integer below 2^24: exactly equal;
//   - the same bits for 1, 2, 3 and 5 threads;
//   - sentinels after every output (no write past the end) and poisoned outputs (none left
//     unwritten).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <string>
#include <vector>

#include "engine/ops_dispatch.h"
#include "kernel_test_util.h"
#include "kernels/cpu/fast/conv3d.h"
#include "kernels/cpu/fast/conv_support.h"
#include "kernels/cpu/fast/conv_transpose3d.h"
#include "kernels/cpu/fast/conv_winograd.h"
#include "kernels/cpu/fast/isa.h"
#include "kernels/cpu/fast/parallel.h"

using namespace kernel_test;
namespace fast = ctv::kernels::fast;

namespace {

// ---- the fast kernels under the names kernel_test_util.h gives the reference ones ---------
void fast_fprop(const Conv3dShape& s, const float* x, const float* w, const float* b, float* y) {
  fast::conv3d_fprop(s, x, w, b, y);
}
void fast_fprop(const ConvTranspose3dShape& s, const float* x, const float* w, const float* b,
                float* y) {
  fast::conv_transpose3d_fprop(s, x, w, b, y);
}
void fast_dgrad(const Conv3dShape& s, const float* dy, const float* w, float* dx) {
  fast::conv3d_dgrad(s, dy, w, dx);
}
void fast_dgrad(const ConvTranspose3dShape& s, const float* dy, const float* w, float* dx) {
  fast::conv_transpose3d_dgrad(s, dy, w, dx);
}
void fast_wgrad(const Conv3dShape& s, const float* x, const float* dy, float* dw, float* db) {
  fast::conv3d_wgrad(s, x, dy, dw, db);
}
void fast_wgrad(const ConvTranspose3dShape& s, const float* x, const float* dy, float* dw,
                float* db) {
  fast::conv_transpose3d_wgrad(s, x, dy, dw, db);
}

// Reduction lengths: fprop sums T*R*S*C (conv) or C*(taps landing) terms, dgrad T*R*S*K,
// wgrad every output pixel. Upper bounds are enough for the tolerance.
std::int64_t reduction_fprop(const Conv3dShape& s) { return std::int64_t(s.T) * s.R * s.S * s.C; }
std::int64_t reduction_fprop(const ConvTranspose3dShape& s) {
  return std::int64_t(s.T) * s.R * s.S * s.C;
}
std::int64_t reduction_dgrad(const Conv3dShape& s) { return std::int64_t(s.T) * s.R * s.S * s.K; }
std::int64_t reduction_dgrad(const ConvTranspose3dShape& s) {
  return std::int64_t(s.T) * s.R * s.S * s.K;
}
template <typename Shape>
std::int64_t reduction_wgrad(const Shape& s) {
  return static_cast<std::int64_t>(s.y_size() / s.K + s.x_size() / s.C);
}

template <typename Shape>
struct FastGrads {
  Guarded<float> y, dx, dw, db;
  explicit FastGrads(const Shape& s)
      : y(s.y_size()), dx(s.x_size()), dw(s.w_size()), db(static_cast<std::size_t>(s.K)) {}
};

template <typename Shape>
FastGrads<Shape> run_fast(const Shape& s, const Guarded<float>& x, const Guarded<float>& w,
                          const Guarded<float>& b, const Guarded<float>& dy) {
  FastGrads<Shape> g(s);
  fast_fprop(s, x.data(), w.data(), b.data(), g.y.data());
  fast_dgrad(s, dy.data(), w.data(), g.dx.data());
  fast_wgrad(s, x.data(), dy.data(), g.dw.data(), g.db.data());
  CHECK_GUARD(g.y);
  CHECK_GUARD(g.dx);
  CHECK_GUARD(g.dw);
  CHECK_GUARD(g.db);
  return g;
}

Guarded<float> abs_of(const Guarded<float>& a) {
  Guarded<float> out(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) out[i] = std::fabs(a[i]);
  return out;
}

// |got - want| <= (L + 2) * 2^-24 * magnitude, element by element; returns the worst ratio.
double check_close(const char* what, const Guarded<float>& got, const Guarded<double>& want,
                   const Guarded<double>& magnitude, std::int64_t L) {
  REQUIRE(got.size() == want.size());
  const double unit = static_cast<double>(L + 2) * 0x1p-24;
  double worst = 0.0;
  std::size_t bad = 0, first_bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double bound = unit * magnitude[i] + 1e-30;
    if (!(err <= bound)) {
      if (bad++ == 0) first_bad = i;
    }
    worst = std::max(worst, err / bound);
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << got.size()
                               << " elements outside the bound, first at " << first_bad << " (got "
                               << (bad ? got[first_bad] : 0.f) << ", reference "
                               << (bad ? want[first_bad] : 0.0) << ")");
  return worst;
}

// The Winograd wgrad (conv_winograd.h) multiplies every dy of a 2x2x2 output tile with every x of
// its 4x4x4 input box (transforms with coefficients of magnitude <= 1) and transforms the sums
// back with G^T (absolute row sums <= 2 per axis), so its rounding is bounded by
//   8 * sum over tiles of (sum of |dy[k]| over the tile) * (sum of |x[c]| over the box)
// for every tap of (k, c), not by the direct sum's magnitude: where the taps' own products are
// small and their neighbours' large, the transformed sums cancel. Tap-independent.
Guarded<double> winograd_wgrad_magnitude(const Conv3dShape& s, const Guarded<float>& x,
                                         const Guarded<float>& dy) {
  std::vector<double> kc(static_cast<std::size_t>(s.K) * s.C, 0.0), sdy(s.K), sx(s.C);
  for (int n = 0; n < s.N; ++n)
    for (int z0 = 0; z0 < s.D; z0 += 2)
      for (int y0 = 0; y0 < s.H; y0 += 2)
        for (int x0 = 0; x0 < s.W; x0 += 2) {
          std::fill(sdy.begin(), sdy.end(), 0.0);
          std::fill(sx.begin(), sx.end(), 0.0);
          for (int z = z0; z < std::min(s.D, z0 + 2); ++z)
            for (int y = y0; y < std::min(s.H, y0 + 2); ++y)
              for (int w = x0; w < std::min(s.W, x0 + 2); ++w)
                for (int k = 0; k < s.K; ++k)
                  sdy[k] += std::fabs(dy[(((std::size_t(n) * s.D + z) * s.H + y) * s.W + w) * s.K + k]);
          for (int z = std::max(0, z0 - 1); z < std::min(s.D, z0 + 3); ++z)
            for (int y = std::max(0, y0 - 1); y < std::min(s.H, y0 + 3); ++y)
              for (int w = std::max(0, x0 - 1); w < std::min(s.W, x0 + 3); ++w)
                for (int c = 0; c < s.C; ++c)
                  sx[c] += std::fabs(x[(((std::size_t(n) * s.D + z) * s.H + y) * s.W + w) * s.C + c]);
          for (int k = 0; k < s.K; ++k)
            for (int c = 0; c < s.C; ++c) kc[std::size_t(k) * s.C + c] += sdy[k] * sx[c];
        }
  Guarded<double> mag(s.w_size());
  const std::size_t taps = std::size_t(s.T) * s.R * s.S;
  for (int k = 0; k < s.K; ++k)
    for (std::size_t tap = 0; tap < taps; ++tap)
      for (int c = 0; c < s.C; ++c)
        mag[(std::size_t(k) * taps + tap) * s.C + c] = 8.0 * kc[std::size_t(k) * s.C + c];
  return mag;
}

template <typename Shape>
void check_random(const Shape& s, std::uint64_t seed) {
  Rng rng{seed};
  const auto x = random_buffer<float>(s.x_size(), rng), w = random_buffer<float>(s.w_size(), rng),
             b = random_buffer<float>(s.K, rng), dy = random_buffer<float>(s.y_size(), rng);
  const auto want = run_conv(s, to_double(x), to_double(w), nullptr, to_double(dy));
  const auto mag =
      run_conv(s, to_double(abs_of(x)), to_double(abs_of(w)), nullptr, to_double(abs_of(dy)));
  // The bias enters fprop once: compare y - b against the bias-free reference.
  const auto g = run_fast(s, x, w, b, dy);
  Guarded<float> y_nobias(s.y_size());
  for (std::size_t o = 0; o < g.y.size(); ++o) y_nobias[o] = g.y[o] - b[o % s.K];
  Guarded<double> mag_y = mag.y;
  for (std::size_t o = 0; o < mag_y.size(); ++o) mag_y[o] += 2.0 * std::fabs(b[o % s.K]);
  check_close("fprop", y_nobias, want.y, mag_y, reduction_fprop(s));
  check_close("dgrad", g.dx, want.dx, mag.dx, reduction_dgrad(s));
  if constexpr (std::is_same_v<Shape, Conv3dShape>) {
    if (fast::winograd_wgrad_chosen(s, fast::conv_microkernels(fast::cpu_isa()))) {
      // Transforms add up to 8 more rounding steps to each sum.
      const Guarded<double> wmag = winograd_wgrad_magnitude(s, x, dy);
      check_close("wgrad (Winograd)", g.dw, want.dw, wmag, reduction_wgrad(s) + 8);
    } else {
      check_close("wgrad", g.dw, want.dw, mag.dw, reduction_wgrad(s));
    }
  } else {
    check_close("wgrad", g.dw, want.dw, mag.dw, reduction_wgrad(s));
  }
  check_close("dbias", g.db, want.db, mag.db, reduction_wgrad(s));
}

template <typename Shape>
void check_integers(const Shape& s, std::uint64_t seed) {
  Rng rng{seed};
  const auto x = integer_buffer<float>(s.x_size(), rng, -3, 3),
             w = integer_buffer<float>(s.w_size(), rng, -3, 3),
             b = integer_buffer<float>(s.K, rng, -3, 3),
             dy = integer_buffer<float>(s.y_size(), rng, -3, 3);
  Guarded<float> y(s.y_size()), dx(s.x_size()), dw(s.w_size()), db(s.K);
  conv_fprop(s, x.data(), w.data(), b.data(), y.data());
  conv_dgrad(s, dy.data(), w.data(), dx.data());
  conv_wgrad(s, x.data(), dy.data(), dw.data(), db.data());
  const auto g = run_fast(s, x, w, b, dy);
  CHECK(g.y.body() == y.body());
  CHECK(g.dx.body() == dx.body());
  CHECK(g.dw.body() == dw.body());
  CHECK(g.db.body() == db.body());
}

template <typename Shape>
bool same_bits(const Guarded<float>& a, const Guarded<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

template <typename Shape>
void check_thread_counts(const Shape& s, std::uint64_t seed) {
  Rng rng{seed};
  const auto x = random_buffer<float>(s.x_size(), rng), w = random_buffer<float>(s.w_size(), rng),
             b = random_buffer<float>(s.K, rng), dy = random_buffer<float>(s.y_size(), rng);
  const int before = fast::num_threads();
  fast::set_num_threads(1);
  const auto one = run_fast(s, x, w, b, dy);
  for (int threads : {2, 3, 5}) {
    CAPTURE(threads);
    fast::set_num_threads(threads);
    const auto many = run_fast(s, x, w, b, dy);
    CHECK(same_bits<Shape>(one.y, many.y));
    CHECK(same_bits<Shape>(one.dx, many.dx));
    CHECK(same_bits<Shape>(one.dw, many.dw));
    CHECK(same_bits<Shape>(one.db, many.db));
  }
  fast::set_num_threads(before);
}

// Runs f at every level this CPU supports and with each conv3d algorithm forced (Winograd where
// it applies, whatever the size; direct everywhere), restoring both afterwards.
template <typename F>
void at_every_level(F&& f) {
  const fast::CpuIsa before = fast::cpu_isa();
  const fast::Conv3dAlgo algo_before = fast::conv3d_algo();
  for (fast::CpuIsa isa : fast::cpu_isas_available())
    for (fast::Conv3dAlgo algo : {fast::Conv3dAlgo::winograd, fast::Conv3dAlgo::direct}) {
      CAPTURE(fast::cpu_isa_name(isa));
      CAPTURE(fast::conv3d_algo_name(algo));
      fast::set_cpu_isa(isa);
      fast::set_conv3d_algo(algo);
      f();
    }
  fast::set_cpu_isa(before);
  fast::set_conv3d_algo(algo_before);
}

// ---- shapes: the U-Net's (scaled down) and awkward ones for the fast and the general paths --
std::vector<Conv3dShape> fast_conv_cases() {
  const Axes one{1, 1, 1};
  return {
      // 3x3x3 pad 1: the first layer's C=2, C=16 -> K=16, concat C=32, widths past a tile.
      conv_shape(1, 3, 4, 29, 2, 16, 3, 3, 3, one, one),
      conv_shape(2, 3, 3, 27, 16, 16, 3, 3, 3, one, one),
      conv_shape(1, 2, 3, 13, 32, 16, 3, 3, 3, one, one),
      conv_shape(1, 2, 2, 7, 16, 32, 3, 3, 3, one, one),
      // The Winograd path (conv_winograd.h): odd sizes (partial 2x2x2 tiles), sizes of 1, more
      // tiles along w than one block holds (W = 53: 27 tiles), K = 48 (panels of 2 vectors and
      // of 1 at AVX-512), C = 48 and 64, N = 2.
      conv_shape(2, 5, 3, 53, 16, 48, 3, 3, 3, one, one),
      conv_shape(1, 1, 1, 1, 16, 16, 3, 3, 3, one, one),
      conv_shape(1, 3, 5, 2, 48, 16, 3, 3, 3, one, one),
      conv_shape(1, 4, 1, 9, 64, 64, 3, 3, 3, one, one),
      conv_shape(1, 2, 3, 5, 256, 48, 3, 3, 3, one, one),
      conv_shape(1, 3, 2, 3, 80, 144, 3, 3, 3, one, one),
      // Channel counts of 8 and 24 (a network with 8 base filters): 8-float vectors at AVX2 and,
      // taking the AVX2 kernels (conv_microkernels_for_channels), at AVX-512.
      conv_shape(2, 4, 5, 7, 8, 8, 3, 3, 3, one, one),
      conv_shape(1, 3, 4, 9, 24, 8, 3, 3, 3, one, one),
      conv_shape(1, 2, 3, 11, 8, 32, 3, 3, 3, one, one),
      // More than 16384 output pixels: wgrad splits the pixels into chunks (fewer split the
      // output channels).
      conv_shape(1, 8, 16, 130, 3, 5, 3, 3, 3, one, one),
      // Channel counts that fill no vector: C = 1, 3, 17; K = 1, 3, 33; sizes of 1.
      conv_shape(2, 3, 4, 5, 1, 3, 3, 3, 3, one, one),
      conv_shape(1, 1, 1, 1, 3, 1, 3, 3, 3, one, one),
      conv_shape(1, 2, 1, 30, 17, 33, 3, 3, 3, one, one),
      conv_shape(1, 1, 5, 1, 3, 24, 3, 3, 3, one, one),
      // 1x1x1 (the head, K=1) and a wider one.
      conv_shape(2, 2, 3, 25, 16, 1, 1, 1, 1),
      conv_shape(1, 3, 2, 11, 5, 40, 1, 1, 1),
      // The general path: strides 2 and 3, pad 0 and 2, non-cubic kernels.
      conv_shape(2, 5, 6, 9, 3, 5, 2, 2, 2, {2, 2, 2}),
      conv_shape(1, 7, 5, 19, 4, 18, 3, 2, 3, {2, 1, 3}, {0, 1, 2}),
      conv_shape(1, 3, 4, 5, 2, 2, 1, 1, 1, {1, 1, 1}, {2, 0, 1}),
  };
}
std::vector<ConvTranspose3dShape> fast_conv_transpose_cases() {
  const Axes two{2, 2, 2};
  return {
      // The U-Net's up-sampling: K a multiple of every vector width (the scatter GEMM).
      conv_transpose_shape(2, 2, 3, 13, 32, 16, 2, 2, 2, two),
      conv_transpose_shape(1, 1, 2, 3, 3, 32, 2, 2, 2, two),
      conv_transpose_shape(1, 3, 1, 1, 17, 48, 2, 2, 2, two),
      conv_transpose_shape(2, 2, 3, 5, 16, 8, 2, 2, 2, two),
      // K not a multiple of the vector width, and overlapping windows: the general path.
      conv_transpose_shape(1, 2, 3, 5, 4, 3, 2, 2, 2, two),
      conv_transpose_shape(1, 3, 2, 4, 5, 7, 3, 3, 3, two, {1, 1, 1}),
  };
}

}  // namespace

TEST_CASE("fast conv3d: random floats against the reference, every level") {
  at_every_level([] {
    std::uint64_t seed = 100;
    for (const auto& s : fast_conv_cases()) {
      CAPTURE(s.describe());
      check_random(s, ++seed);
    }
    for (const auto& s : conv_cases()) {  // the reference suites' awkward shapes
      CAPTURE(s.describe());
      check_random(s, ++seed);
    }
  });
}

TEST_CASE("fast conv_transpose3d: random floats against the reference, every level") {
  at_every_level([] {
    std::uint64_t seed = 200;
    for (const auto& s : fast_conv_transpose_cases()) {
      CAPTURE(s.describe());
      check_random(s, ++seed);
    }
    for (const auto& s : conv_transpose_cases()) {
      CAPTURE(s.describe());
      check_random(s, ++seed);
    }
  });
}

TEST_CASE("fast conv3d and conv_transpose3d: small integers give exactly the reference") {
  at_every_level([] {
    std::uint64_t seed = 300;
    for (const auto& s : fast_conv_cases()) {
      CAPTURE(s.describe());
      check_integers(s, ++seed);
    }
    for (const auto& s : fast_conv_transpose_cases()) {
      CAPTURE(s.describe());
      check_integers(s, ++seed);
    }
  });
}

TEST_CASE("fast conv3d and conv_transpose3d: the same bits for 1, 2, 3 and 5 threads") {
  // wgrad's output channels split into chunks of 8 (K = 16: 2 chunks).
  const Axes one{1, 1, 1};
  const auto conv = conv_shape(2, 6, 7, 20, 16, 16, 3, 3, 3, one, one);
  const auto convt = conv_transpose_shape(2, 3, 4, 9, 32, 16, 2, 2, 2, {2, 2, 2});
  // Winograd: 36 blocks of tiles in 8 chunks.
  const auto wino = conv_shape(2, 5, 6, 53, 32, 16, 3, 3, 3, one, one);
  // wgrad over 17280 pixels (chunks of pixels); the others split the output channels.
  const auto many_pixels = conv_shape(2, 8, 9, 120, 4, 8, 3, 3, 3, one, one);
  at_every_level([&] {
    check_thread_counts(many_pixels, 403);
    check_thread_counts(wino, 402);
    check_thread_counts(conv, 400);
    check_thread_counts(convt, 401);
  });
}

TEST_CASE("fast conv3d: the Winograd path takes the U-Net's 3x3x3 layers, and only those") {
  const Axes one{1, 1, 1};
  {
    // Automatic: Winograd fprop and dgrad from kWinogradMinVoxels (1024) output voxels on,
    // wgrad from kWinogradWgradMinVoxels (4096).
    const fast::Conv3dAlgo before = fast::conv3d_algo();
    fast::set_conv3d_algo(fast::Conv3dAlgo::automatic);
    const auto& mk = fast::conv_microkernels(fast::cpu_isa());
    const auto big = conv_shape(1, 16, 16, 16, 16, 16, 3, 3, 3, one, one);
    const auto big2 = conv_shape(2, 8, 16, 16, 32, 16, 3, 3, 3, one, one);
    const auto mid = conv_shape(1, 8, 8, 16, 32, 16, 3, 3, 3, one, one);
    const auto small = conv_shape(1, 7, 8, 18, 16, 16, 3, 3, 3, one, one);
    for (const auto& s : {big, big2}) {
      CHECK(fast::winograd_chosen(s, mk));
      CHECK(fast::winograd_wgrad_chosen(s, mk));
    }
    CHECK(fast::winograd_chosen(mid, mk));
    CHECK_FALSE(fast::winograd_wgrad_chosen(mid, mk));
    CHECK_FALSE(fast::winograd_chosen(small, mk));
    CHECK_FALSE(fast::winograd_wgrad_chosen(small, mk));
    CHECK_FALSE(fast::winograd_chosen(conv_shape(1, 16, 16, 16, 2, 16, 3, 3, 3, one, one), mk));
    fast::set_conv3d_algo(fast::Conv3dAlgo::direct);
    CHECK_FALSE(fast::winograd_chosen(big, mk));
    CHECK_FALSE(fast::winograd_wgrad_chosen(big, mk));
    fast::set_conv3d_algo(fast::Conv3dAlgo::winograd);
    CHECK(fast::winograd_chosen(small, mk));
    CHECK(fast::winograd_wgrad_chosen(small, mk));
    fast::set_conv3d_algo(before);
  }
  at_every_level([&] {
    const auto& mk = fast::conv_microkernels(fast::cpu_isa());
    for (int c : {16, 32, 48, 64, 128, 256})
      for (int k : {16, 32, 64, 128, 256}) {
        CAPTURE(c);
        CAPTURE(k);
        CHECK(fast::winograd_applies(conv_shape(1, 5, 6, 7, c, k, 3, 3, 3, one, one), mk));
      }
    // The first layer (C = 2), wider layers, other kernels, strides and pads: direct.
    CHECK_FALSE(fast::winograd_applies(conv_shape(1, 5, 6, 7, 2, 16, 3, 3, 3, one, one), mk));
    CHECK_FALSE(fast::winograd_applies(conv_shape(1, 5, 6, 7, 272, 64, 3, 3, 3, one, one), mk));
    CHECK_FALSE(fast::winograd_applies(conv_shape(1, 5, 6, 7, 64, 272, 3, 3, 3, one, one), mk));
    CHECK_FALSE(fast::winograd_applies(conv_shape(1, 5, 6, 7, 16, 17, 3, 3, 3, one, one), mk));
    CHECK_FALSE(fast::winograd_applies(conv_shape(1, 5, 6, 7, 16, 16, 1, 1, 1), mk));
    CHECK_FALSE(fast::winograd_applies(conv_shape(1, 5, 6, 7, 16, 16, 3, 3, 3, {2, 2, 2}, one), mk));
    CHECK_FALSE(fast::winograd_applies(conv_shape(1, 5, 6, 7, 16, 16, 3, 3, 3, one, {0, 0, 0}), mk));
  });
}

TEST_CASE("fast conv3d: a wrong result is caught (the checks can fail)") {
  const auto s = conv_shape(1, 2, 3, 5, 3, 4, 3, 3, 3, {1, 1, 1}, {1, 1, 1});
  Rng rng{500};
  const auto x = random_buffer<float>(s.x_size(), rng), w = random_buffer<float>(s.w_size(), rng);
  Guarded<float> y(s.y_size());
  fast::conv3d_fprop(s, x.data(), w.data(), nullptr, y.data());
  Guarded<double> want(s.y_size()), mag(s.y_size());
  const auto xd = to_double(x), wd = to_double(w), xa = to_double(abs_of(x)),
             wa = to_double(abs_of(w));
  conv3d_fprop(s, xd.data(), wd.data(), static_cast<const double*>(nullptr), want.data());
  conv3d_fprop(s, xa.data(), wa.data(), static_cast<const double*>(nullptr), mag.data());
  // One term of one output dropped: far outside the rounding bound.
  y[7] -= x[0] * w[0] + 0.01f;
  const double unit = static_cast<double>(reduction_fprop(s) + 2) * 0x1p-24;
  CHECK(std::fabs(y[7] - want[7]) > unit * mag[7]);
}

TEST_CASE("fast kernels: levels, their names and refusals") {
  const auto levels = fast::cpu_isas_available();
  REQUIRE(!levels.empty());
  CHECK(levels.front() == fast::CpuIsa::portable);
  CHECK(levels.back() == fast::cpu_isa_detected());
  MESSAGE("levels on this machine: up to "
          << std::string(fast::cpu_isa_name(fast::cpu_isa_detected())));
  CHECK(fast::parse_cpu_isa("portable", "test") == fast::CpuIsa::portable);
  CHECK_THROWS_AS(fast::parse_cpu_isa("sse9", "test"), std::invalid_argument);
  if (fast::cpu_isa_detected() != fast::CpuIsa::avx512) {
    CHECK_THROWS_AS(fast::set_cpu_isa(fast::CpuIsa::avx512), std::invalid_argument);
  }
  // Per-shape tables: at AVX-512, channel counts of 8 (not 16) take the AVX2 kernels.
  const fast::CpuIsa isa_before = fast::cpu_isa();
  for (fast::CpuIsa isa : levels) {
    CAPTURE(fast::cpu_isa_name(isa));
    fast::set_cpu_isa(isa);
    const int active = fast::conv_microkernels(isa).vec_width;
    const bool avx512 = isa == fast::CpuIsa::avx512;
    CHECK(fast::conv_microkernels_for_channels(16, 16).vec_width == active);
    CHECK(fast::conv_microkernels_for_channels(3, 17).vec_width == active);
    CHECK(fast::conv_microkernels_for_channels(8, 8).vec_width == (avx512 ? 8 : active));
    CHECK(fast::conv_microkernels_for_channels(32, 24).vec_width == (avx512 ? 8 : active));
  }
  fast::set_cpu_isa(isa_before);
  // Bad shapes and null buffers are refused as the reference refuses them.
  const auto bad = conv_shape(1, 2, 2, 2, 1, 1, 3, 3, 3);
  std::vector<float> buf(64);
  CHECK_THROWS_AS(fast::conv3d_fprop(bad, buf.data(), buf.data(), nullptr, buf.data()),
                  std::invalid_argument);
  const auto ok = conv_shape(1, 3, 3, 3, 1, 1, 3, 3, 3);
  CHECK_THROWS_AS(
      fast::conv3d_wgrad(ok, buf.data(), static_cast<const float*>(nullptr), buf.data(), nullptr),
      std::invalid_argument);
}

TEST_CASE("dispatch: float32 convolutions run on the fast kernels unless told otherwise") {
  using namespace ctv;
  CHECK(dispatch::cpu_kernels() == dispatch::CpuKernels::fast);
  // Values whose float rounding differs between float and double accumulation.
  const auto s = conv_shape(1, 3, 3, 17, 16, 16, 3, 3, 3, {1, 1, 1}, {1, 1, 1});
  Rng rng{600};
  std::vector<double> xv(s.x_size()), wv(s.w_size());
  for (auto& v : xv) v = static_cast<float>(rng.uniform());
  for (auto& v : wv) v = static_cast<float>(rng.uniform());
  const Tensor x = Tensor::from_vector(Shape{1, 3, 3, 17, 16}, xv, DType::f32);
  const Tensor w = Tensor::from_vector(Shape{16, 3, 3, 3, 16}, wv, DType::f32);
  Tensor y_fast = Tensor::empty(Shape{1, 3, 3, 17, 16}, DType::f32);
  Tensor y_ref = Tensor::empty(Shape{1, 3, 3, 17, 16}, DType::f32);
  dispatch::conv3d_fprop(s, x, w, nullptr, y_fast);
  dispatch::set_cpu_kernels(dispatch::CpuKernels::reference);
  dispatch::conv3d_fprop(s, x, w, nullptr, y_ref);
  dispatch::set_cpu_kernels(dispatch::CpuKernels::fast);
  // The reference path is the reference kernel, bit for bit; the fast one is not.
  std::vector<float> direct(s.y_size());
  std::vector<float> xf(xv.begin(), xv.end()), wf(wv.begin(), wv.end());
  ref::conv3d_fprop(s, xf.data(), wf.data(), static_cast<const float*>(nullptr), direct.data());
  const auto yr = y_ref.to_vector(), yf = y_fast.to_vector();
  std::size_t differ = 0;
  for (std::size_t i = 0; i < direct.size(); ++i) {
    CHECK(yr[i] == static_cast<double>(direct[i]));
    differ += yf[i] != yr[i];
    CHECK(std::fabs(yf[i] - yr[i]) <= 1e-5);
  }
  CHECK(differ > 0);
}
