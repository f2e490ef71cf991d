// ctv_gpu_tests: the CUDA kernels on a GPU against the CPU (bench/gpu_check.sh runs it; so does
// CTest, where without a GPU every case says so and passes). conv3d fprop, dgrad and wgrad
// (kernels/cuda/conv3d.h) on fresh random inputs with awkward shapes, outputs poisoned (NaN)
// before each run: against the reference kernels within a float32 sum's rounding, bit for bit
// against the host emulation of the kernels' order (tests/cuda_conv_emulation.h), and
// bit-identical across two runs. The caching allocator (kernels/cuda/device_memory.h) hands a
// freed block out again.
#include <doctest/doctest.h>

#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cuda_conv_emulation.h"
#include "gpu/gpu_test_util.h"
#include "kernels/cuda/conv3d.h"

namespace {

using namespace cuda_emulation;
using namespace gpu_test;
namespace kc = ctv::kernels::cuda;

using DeviceFloats = Dev<float>;

struct GpuPasses {
  std::vector<float> y, dx, dw, db;
};

GpuPasses run_gpu(const Conv3dShape& s, const DeviceFloats& x, const DeviceFloats& w,
                  const DeviceFloats& b, const DeviceFloats& dy) {
  DeviceFloats y(s.y_size()), dx(s.x_size()), dw(s.w_size()), db(std::size_t(s.K));
  kc::conv3d_fprop(s, x.p, w.p, b.p, y.p);
  kc::conv3d_dgrad(s, dy.p, w.p, dx.p);
  kc::conv3d_wgrad(s, x.p, dy.p, dw.p, db.p);
  return {y.download(), dx.download(), dw.download(), db.download()};
}

// The reference kernels' three passes, in double.
struct RefPasses {
  std::vector<double> y, dx, dw, db;
};
RefPasses reference_passes(const Conv3dShape& s, const std::vector<double>& x,
                           const std::vector<double>& w, const std::vector<double>& b,
                           const std::vector<double>& dy) {
  RefPasses r{std::vector<double>(s.y_size()), std::vector<double>(s.x_size()),
              std::vector<double>(s.w_size()), std::vector<double>(std::size_t(s.K))};
  ctv::kernels::ref::conv3d_fprop(s, x.data(), w.data(), b.data(), r.y.data());
  ctv::kernels::ref::conv3d_dgrad(s, dy.data(), w.data(), r.dx.data());
  ctv::kernels::ref::conv3d_wgrad(s, x.data(), dy.data(), r.dw.data(), r.db.data());
  return r;
}

// Two runs of the same passes: the same bits.
void check_same_bits(const GpuPasses& a, const GpuPasses& b) {
  CHECK(same_bits(a.y, b.y));
  CHECK(same_bits(a.dx, b.dx));
  CHECK(same_bits(a.dw, b.dw));
  CHECK(same_bits(a.db, b.db));
}

}  // namespace

TEST_CASE("GPU conv3d: fprop, dgrad and wgrad against the reference and the emulated order") {
  if (!gpu_or_skip()) return;
  Rng rng{1200};
  for (const Conv3dShape& s : gemm_cases()) {
    CAPTURE(s.describe());
    const auto x = random_buffer<float>(s.x_size(), rng).body();
    const auto w = random_buffer<float>(s.w_size(), rng).body();
    const auto b = random_buffer<float>(std::size_t(s.K), rng).body();
    const auto dy = random_buffer<float>(s.y_size(), rng).body();
    const DeviceFloats dx_(x), dw_(w), db_(b), ddy_(dy);
    const GpuPasses g = run_gpu(s, dx_, dw_, db_, ddy_);

    // The emulation is the kernels' order term for term: the same bits (zeros compare equal
    // whatever their sign).
    const Passes e = emulate(s, x, w, b, dy);
    CHECK(g.y == e.y);
    CHECK(g.dx == e.dx);
    CHECK(g.dw == e.dw);

    // And the reference, within a float32 sum's rounding (as tests/test_cuda_conv_gemm.cpp).
    std::vector<double> xd(x.begin(), x.end()), wd(w.begin(), w.end()), bd(b.begin(), b.end()),
        dyd(dy.begin(), dy.end());
    const RefPasses r = reference_passes(s, xd, wd, bd, dyd);
    const double Lf = double(kc::fprop_reduction(s)), Ld = double(kc::dgrad_reduction(s)),
                 M = double(kc::fprop_rows(s));
    CHECK(max_abs_error(g.y, r.y) <= (Lf + 3) * 0x1p-24 * (Lf + 1));
    CHECK(max_abs_error(g.dx, r.dx) <= (Ld + 2) * 0x1p-24 * Ld);
    CHECK(max_abs_error(g.dw, r.dw) <= (M + 2) * 0x1p-24 * M);
    CHECK(max_abs_error(g.db, r.db) <= (M + 2) * 0x1p-24 * M);

    // Two runs, the same bits.
    const GpuPasses again = run_gpu(s, dx_, dw_, db_, ddy_);
    check_same_bits(g, again);
  }
}

TEST_CASE("GPU memory: freed blocks are handed out again, rounded sizes counted") {
  if (!gpu_or_skip()) return;
  CHECK(kc::device_block_size(1) == kc::kDeviceSmallRound);
  CHECK(kc::device_block_size(kc::kDeviceLargeFrom) == kc::kDeviceLargeRound);
  CHECK(kc::device_block_size(kc::kDeviceLargeRound + 1) == 2 * kc::kDeviceLargeRound);
  const kc::DeviceMemoryStats s0 = kc::device_memory_stats();
  void* a = kc::device_alloc(3000);
  kc::device_free(a, 3000);
  void* b = kc::device_alloc(3001);  // the same 3072-byte block
  CHECK(b == a);
  const kc::DeviceMemoryStats s1 = kc::device_memory_stats();
  CHECK(s1.hits == s0.hits + 1);
  CHECK(s1.live_bytes == s0.live_bytes + 3072);
  kc::device_free(b, 3001);
  kc::device_memory_release_cache();
  CHECK(kc::device_memory_stats().cached_bytes == 0);
}

TEST_CASE("GPU conv_transpose3d: fprop, dgrad and wgrad against the reference") {
  if (!gpu_or_skip()) return;
  Rng rng{1201};
  for (const ConvTranspose3dShape& s : conv_transpose_cases()) {
    CAPTURE(s.describe());
    const auto x = random_buffer<float>(s.x_size(), rng).body();
    const auto w = random_buffer<float>(s.w_size(), rng).body();
    const auto b = random_buffer<float>(std::size_t(s.K), rng).body();
    const auto dy = random_buffer<float>(s.y_size(), rng).body();
    std::vector<double> xd(x.begin(), x.end()), wd(w.begin(), w.end()), bd(b.begin(), b.end()),
        dyd(dy.begin(), dy.end());
    std::vector<double> y(s.y_size()), dx(s.x_size()), dw(s.w_size()), db(std::size_t(s.K));
    ctv::kernels::ref::conv_transpose3d_fprop(s, xd.data(), wd.data(), bd.data(), y.data());
    ctv::kernels::ref::conv_transpose3d_dgrad(s, dyd.data(), wd.data(), dx.data());
    ctv::kernels::ref::conv_transpose3d_wgrad(s, xd.data(), dyd.data(), dw.data(), db.data());
    const DeviceFloats gx(x), gw(w), gb(b), gdy(dy);
    DeviceFloats gy(s.y_size()), gdx(s.x_size()), gdw(s.w_size()), gdb(std::size_t(s.K));
    kc::conv_transpose3d_fprop(s, gx.p, gw.p, gb.p, gy.p);
    kc::conv_transpose3d_dgrad(s, gdy.p, gw.p, gdx.p);
    kc::conv_transpose3d_wgrad(s, gx.p, gdy.p, gdw.p, gdb.p);
    // Each output sums at most C*T*R*S (fprop), K*T*R*S (dgrad) or N*D*H*W (wgrad) terms in
    // [-1, 1): a float sum's rounding bound per term count.
    const double Lf = double(s.C) * s.T * s.R * s.S + 1, Ld = double(s.K) * s.T * s.R * s.S,
                 M = double(s.N) * s.D * s.H * s.W, My = double(s.y_size()) / s.K;
    CHECK(max_abs_error(gy.download(), y) <= (Lf + 2) * 0x1p-24 * Lf);
    CHECK(max_abs_error(gdx.download(), dx) <= (Ld + 2) * 0x1p-24 * Ld);
    CHECK(max_abs_error(gdw.download(), dw) <= (M + 2) * 0x1p-24 * M);
    CHECK(max_abs_error(gdb.download(), db) <= (My + 2) * 0x1p-24 * My);
  }
}

namespace {
// Runs a case on the tensor-core kernels of `math` (conv3d.h's ConvMath), fp32 again afterwards.
struct MathFor {
  explicit MathFor(kc::ConvMath math) { kc::set_conv_math(math); }
  ~MathFor() { kc::set_conv_math(kc::ConvMath::fp32); }
};
std::vector<double> rounded_doubles(bool bf16, const std::vector<float>& v) {
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    r[i] = bf16 ? kc::bf16_round(v[i]) : kc::tf32_round(v[i]);
  return r;
}
}  // namespace

TEST_CASE("GPU conv3d TF32 and BF16: exact on small integers, the rounded reference on floats") {
  if (!gpu_or_skip()) return;
  Rng rng{1202};
  for (const kc::ConvMath math : {kc::ConvMath::tf32, kc::ConvMath::bf16})
    for (const Conv3dShape& s : gemm_cases()) {
      const MathFor on(math);
      const bool bf16 = math == kc::ConvMath::bf16;
      CAPTURE(bf16);
      CAPTURE(s.describe());
      {
        // Small integers: exact in TF32 and in every partial sum, whatever the order inside an
        // mma, so the kernels, their host emulation and the reference agree exactly.
        const auto x = integer_buffer<float>(s.x_size(), rng, -3, 3).body();
        const auto w = integer_buffer<float>(s.w_size(), rng, -3, 3).body();
        const auto b = integer_buffer<float>(std::size_t(s.K), rng, -3, 3).body();
        const auto dy = integer_buffer<float>(s.y_size(), rng, -3, 3).body();
        const DeviceFloats dx_(x), dw_(w), db_(b), ddy_(dy);
        const GpuPasses g = run_gpu(s, dx_, dw_, db_, ddy_);
        const Passes e = emulate_tc(bf16, s, x, w, b, dy);
        CHECK(g.y == e.y);
        CHECK(g.dx == e.dx);
        CHECK(g.dw == e.dw);
      }
      const auto x = random_buffer<float>(s.x_size(), rng).body();
      const auto w = random_buffer<float>(s.w_size(), rng).body();
      const auto b = random_buffer<float>(std::size_t(s.K), rng).body();
      const auto dy = random_buffer<float>(s.y_size(), rng).body();
      const DeviceFloats dx_(x), dw_(w), db_(b), ddy_(dy);
      const GpuPasses g = run_gpu(s, dx_, dw_, db_, ddy_);
      // The reference in double on the rounded operands (their products are exact): only the
      // tensor cores' float accumulation, whose order and rounding inside an mma PTX leaves open,
      // separates the two; bound it at twice a float sum's (2^-23 per term).
      const std::vector<double> xt = rounded_doubles(bf16, x), wt = rounded_doubles(bf16, w),
                                dyt = rounded_doubles(bf16, dy), bd(b.begin(), b.end());
      const RefPasses r = reference_passes(s, xt, wt, bd, dyt);
      const double Lf = double(kc::fprop_reduction(s)) + 1, Ld = double(kc::dgrad_reduction(s)),
                   M = double(kc::fprop_rows(s));
      CHECK(max_abs_error(g.y, r.y) <= (Lf + 2) * 0x1p-23 * Lf);
      CHECK(max_abs_error(g.dx, r.dx) <= (Ld + 2) * 0x1p-23 * Ld);
      CHECK(max_abs_error(g.dw, r.dw) <= (M + 2) * 0x1p-23 * M);
      // dbias sums dy in float32 (not TF32): against the unrounded dy.
      std::vector<double> db_exact(std::size_t(s.K), 0.0);
      for (std::size_t i = 0; i < dy.size(); ++i) db_exact[i % std::size_t(s.K)] += dy[i];
      CHECK(max_abs_error(g.db, db_exact) <= (M + 2) * 0x1p-24 * M);

      const GpuPasses again = run_gpu(s, dx_, dw_, db_, ddy_);
      check_same_bits(g, again);
    }
}

TEST_CASE("GPU conv_transpose3d TF32 and BF16: exact on small integers") {
  if (!gpu_or_skip()) return;
  Rng rng{1203};
  for (const kc::ConvMath math : {kc::ConvMath::tf32, kc::ConvMath::bf16})
    for (const ConvTranspose3dShape& s : conv_transpose_cases()) {
      const MathFor on(math);
      CAPTURE(math == kc::ConvMath::bf16);
      CAPTURE(s.describe());
      const auto x = integer_buffer<float>(s.x_size(), rng, -3, 3).body();
      const auto w = integer_buffer<float>(s.w_size(), rng, -3, 3).body();
      const auto b = integer_buffer<float>(std::size_t(s.K), rng, -3, 3).body();
      const auto dy = integer_buffer<float>(s.y_size(), rng, -3, 3).body();
      std::vector<float> y(s.y_size()), dx(s.x_size()), dw(s.w_size()), db(std::size_t(s.K));
      ctv::kernels::ref::conv_transpose3d_fprop(s, x.data(), w.data(), b.data(), y.data());
      ctv::kernels::ref::conv_transpose3d_dgrad(s, dy.data(), w.data(), dx.data());
      ctv::kernels::ref::conv_transpose3d_wgrad(s, x.data(), dy.data(), dw.data(), db.data());
      const DeviceFloats gx(x), gw(w), gb(b), gdy(dy);
      DeviceFloats gy(s.y_size()), gdx(s.x_size()), gdw(s.w_size()), gdb(std::size_t(s.K));
      kc::conv_transpose3d_fprop(s, gx.p, gw.p, gb.p, gy.p);
      kc::conv_transpose3d_dgrad(s, gdy.p, gw.p, gdx.p);
      kc::conv_transpose3d_wgrad(s, gx.p, gdy.p, gdw.p, gdb.p);
      CHECK(gy.download() == y);
      CHECK(gdx.download() == dx);
      CHECK(gdw.download() == dw);
      CHECK(gdb.download() == db);
    }
}
