// The tensor-core conv3d's arithmetic (kernels/cuda/mma_layout.h), on the CPU: the fragment
// layouts pinned to the PTX ISA's figures for mma.m16n8k8 .tf32 and mma.m16n8k16 .bf16, TF32
// and BF16 rounding as cvt.rna and cvt.rn do it, and the kernel's tiling run block by block on
// the host (tests/cuda_conv_emulation.h, emulate_tc) against the reference kernels. Small integers
// are exact in TF32 and make every sum exact, so an index off anywhere shows up as a mismatch.
// The kernel itself runs on a GPU in ctv_gpu_tests (bench/gpu_check.sh).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

#include "cuda_conv_emulation.h"

namespace {
using namespace cuda_emulation;

// v rounded to TF32 or BF16, in double.
std::vector<double> rounded(bool bf16, const std::vector<float>& v) {
  std::vector<double> r(v.size());
  std::transform(v.begin(), v.end(), r.begin(),
                 [bf16](float f) { return double(bf16 ? kc::bf16_round(f) : kc::tf32_round(f)); });
  return r;
}
}  // namespace

TEST_CASE("mma.m16n8k8 tf32 layout: entries of the PTX ISA's figures, each element once") {
  auto eq = [](kc::MmaCoord c, int row, int col) { return c.row == row && c.col == col; };
  // A: lane 0 holds (0,0) (8,0) (0,4) (8,4); lane 5 (group 1, thread 1) (1,1) (9,1) (1,5) (9,5).
  CHECK(eq(kc::mma_tf32_a(0, 0), 0, 0));
  CHECK(eq(kc::mma_tf32_a(0, 1), 8, 0));
  CHECK(eq(kc::mma_tf32_a(0, 2), 0, 4));
  CHECK(eq(kc::mma_tf32_a(0, 3), 8, 4));
  CHECK(eq(kc::mma_tf32_a(5, 0), 1, 1));
  CHECK(eq(kc::mma_tf32_a(5, 3), 9, 5));
  CHECK(eq(kc::mma_tf32_a(31, 3), 15, 7));
  // B (k x n): lane 0 (0,0) (4,0); lane 31 (3,7) (7,7).
  CHECK(eq(kc::mma_tf32_b(0, 0), 0, 0));
  CHECK(eq(kc::mma_tf32_b(0, 1), 4, 0));
  CHECK(eq(kc::mma_tf32_b(31, 0), 3, 7));
  CHECK(eq(kc::mma_tf32_b(31, 1), 7, 7));
  // C/D: lane 0 (0,0) (0,1) (8,0) (8,1); lane 6 (group 1, thread 2) (1,4); lane 31 (15,7).
  CHECK(eq(kc::mma_c(0, 1), 0, 1));
  CHECK(eq(kc::mma_c(0, 2), 8, 0));
  CHECK(eq(kc::mma_c(6, 0), 1, 4));
  CHECK(eq(kc::mma_c(31, 3), 15, 7));
  // Each element of each matrix belongs to exactly one (lane, register).
  auto covers = [](auto coord, int regs, int rows, int cols) {
    std::set<int> seen;
    for (int lane = 0; lane < 32; ++lane)
      for (int r = 0; r < regs; ++r) {
        const kc::MmaCoord c = coord(lane, r);
        if (c.row < 0 || c.row >= rows || c.col < 0 || c.col >= cols) return false;
        seen.insert(c.row * cols + c.col);
      }
    return int(seen.size()) == rows * cols;
  };
  CHECK(covers(kc::mma_tf32_a, 4, 16, 8));
  CHECK(covers(kc::mma_tf32_b, 2, 8, 8));
  CHECK(covers(kc::mma_c, 4, 16, 8));
  // The block's accumulators cover its kTcTileM x 64 output tile once.
  std::set<long> tile;
  for (int warp = 0; warp < kc::kTcWarps; ++warp)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 8; ++j)
        for (int lane = 0; lane < 32; ++lane)
          for (int r = 0; r < 4; ++r) {
            const kc::MmaCoord c = kc::tc_acc(warp, i, j, lane, r);
            tile.insert(long(c.row) * 64 + c.col);
          }
  CHECK(tile.size() == std::size_t(kc::kTcTileM) * 64);
  CHECK(*tile.rbegin() == long(kc::kTcTileM) * 64 - 1);
  // Fragment reads of one warp land in 32 different shared-memory banks (row stride 20 words).
  for (int r = 0; r < 4; ++r) {
    std::set<int> banks;
    for (int lane = 0; lane < 32; ++lane) {
      const kc::MmaCoord c = kc::tc_a_smem(1, 1, 1, lane, r);
      banks.insert((c.row * (kc::kTcTileL + kc::kTcSmemPad) + c.col) % 32);
    }
    CHECK(banks.size() == 32);
  }
  CHECK(kc::tc_tile_n(1) == 16);
  CHECK(kc::tc_tile_n(17) == 32);
  CHECK(kc::tc_tile_n(33) == 64);
  CHECK(kc::tc_tile_n(256) == 64);
}

TEST_CASE("mma.m16n8k16 bf16 layout: entries of the PTX ISA's figures, each element once") {
  auto eq = [](kc::MmaCoord c, int row, int col) { return c.row == row && c.col == col; };
  // A (16 x 16): lane 0 holds (0,0) (0,1) | (8,0) (8,1) | (0,8) (0,9) | (8,8) (8,9);
  // lane 31 (group 7, thread 3): register 3 = (15,14) (15,15).
  CHECK(eq(kc::mma_bf16_a(0, 0, 1), 0, 1));
  CHECK(eq(kc::mma_bf16_a(0, 1, 0), 8, 0));
  CHECK(eq(kc::mma_bf16_a(0, 2, 0), 0, 8));
  CHECK(eq(kc::mma_bf16_a(0, 3, 1), 8, 9));
  CHECK(eq(kc::mma_bf16_a(31, 3, 1), 15, 15));
  CHECK(eq(kc::mma_bf16_a(6, 0, 0), 1, 4));
  // B (16 x 8, k x n): lane 0 (0,0) (1,0) | (8,0) (9,0); lane 31 (6,7) (7,7) | (14,7) (15,7).
  CHECK(eq(kc::mma_bf16_b(0, 0, 1), 1, 0));
  CHECK(eq(kc::mma_bf16_b(0, 1, 0), 8, 0));
  CHECK(eq(kc::mma_bf16_b(31, 0, 0), 6, 7));
  CHECK(eq(kc::mma_bf16_b(31, 1, 1), 15, 7));
  auto covers = [](auto coord, int regs, int rows, int cols) {
    std::set<int> seen;
    for (int lane = 0; lane < 32; ++lane)
      for (int r = 0; r < regs; ++r)
        for (int h = 0; h < 2; ++h) {
          const kc::MmaCoord c = coord(lane, r, h);
          if (c.row < 0 || c.row >= rows || c.col < 0 || c.col >= cols) return false;
          seen.insert(c.row * cols + c.col);
        }
    return int(seen.size()) == rows * cols;
  };
  CHECK(covers(kc::mma_bf16_a, 4, 16, 16));
  CHECK(covers(kc::mma_bf16_b, 2, 16, 8));
  // A register's pair starts on an even column (one aligned 32-bit read), and one warp's
  // reads land in 32 different banks (row stride 24 halves = 12 words).
  for (int r = 0; r < 4; ++r) {
    std::set<int> banks;
    for (int lane = 0; lane < 32; ++lane) {
      const kc::MmaCoord c = kc::tc_a_smem_bf16(2, 1, lane, r);
      CHECK(c.col % 2 == 0);
      banks.insert((c.row * (kc::kTcTileL + kc::kTcSmemPadBf16) + c.col) / 2 % 32);
    }
    CHECK(banks.size() == 32);
  }
}

TEST_CASE("BF16 rounding: to nearest, ties to even, 7 mantissa bits") {
  CHECK(kc::bf16_round(1.0f) == 1.0f);
  CHECK(kc::bf16_round(1.0f + 0x1p-7f) == 1.0f + 0x1p-7f);            // representable
  CHECK(kc::bf16_round(1.0f + 0x1p-8f) == 1.0f);                      // a tie: to even (down)
  CHECK(kc::bf16_round(1.0f + 0x1p-7f + 0x1p-8f) == 1.0f + 0x1p-6f);  // a tie: to even (up)
  CHECK(kc::bf16_round(-(1.0f + 0x1p-8f + 0x1p-20f)) == -(1.0f + 0x1p-7f));  // above the tie
  CHECK(kc::bf16_round(255.0f) == 255.0f);  // integers below 2^8 are exact
  CHECK(kc::bf16_round(257.0f) == 256.0f);  // a tie: to even
  CHECK(std::isinf(kc::bf16_round(std::numeric_limits<float>::infinity())));
  CHECK(std::isnan(kc::bf16_round(std::numeric_limits<float>::quiet_NaN())));
  std::uint32_t low_nan = 0x7f800001u;  // a NaN whose payload is all in the dropped bits
  float f;
  std::memcpy(&f, &low_nan, sizeof f);
  CHECK(std::isnan(kc::bf16_round(f)));
}

TEST_CASE("TF32 rounding: to nearest, ties away from zero, 10 mantissa bits") {
  CHECK(kc::tf32_round(1.0f) == 1.0f);
  CHECK(kc::tf32_round(1.0f + 0x1p-10f) == 1.0f + 0x1p-10f);  // representable
  CHECK(kc::tf32_round(1.0f + 0x1p-12f) == 1.0f);             // below half: down
  CHECK(kc::tf32_round(1.0f + 0x1p-11f) == 1.0f + 0x1p-10f);  // a tie: away (even would be 1)
  CHECK(kc::tf32_round(-(1.0f + 0x1p-11f)) == -(1.0f + 0x1p-10f));
  CHECK(kc::tf32_round(1.0f + 0x1p-11f - 0x1p-23f) == 1.0f);  // just below the tie
  CHECK(kc::tf32_round(2047.0f) == 2047.0f);                  // integers below 2^11 are exact
  CHECK(kc::tf32_round(2049.0f) == 2050.0f);                  // 11 significant bits only
  CHECK(std::isinf(kc::tf32_round(std::numeric_limits<float>::infinity())));
  CHECK(std::isnan(kc::tf32_round(std::numeric_limits<float>::quiet_NaN())));
  CHECK(kc::tf32_round(0x1p-130f) == 0x1p-130f);  // subnormals keep their top bits
}

TEST_CASE("CUDA conv3d tensor-core tiling: small integers give exactly the reference") {
  Rng rng{902};
  for (bool bf16 : {false, true})
    for (const Conv3dShape& s : gemm_cases()) {
      CAPTURE(bf16);
      CAPTURE(s.describe());
      const auto x = integer_buffer<float>(s.x_size(), rng, -3, 3);
      const auto w = integer_buffer<float>(s.w_size(), rng, -3, 3);
      const auto b = integer_buffer<float>(std::size_t(s.K), rng, -3, 3);
      const auto dy = integer_buffer<float>(s.y_size(), rng, -3, 3);
      Guarded<float> y(s.y_size()), dx(s.x_size()), dw(s.w_size());
      conv3d_fprop(s, x.data(), w.data(), b.data(), y.data());
      conv3d_dgrad(s, dy.data(), w.data(), dx.data());
      conv3d_wgrad(s, x.data(), dy.data(), dw.data(), static_cast<float*>(nullptr));
      const Passes e = emulate_tc(bf16, s, x.body(), w.body(), b.body(), dy.body());
      CHECK(e.y == y.body());
      CHECK(e.dx == dx.body());
      CHECK(e.dw == dw.body());
      if (s.Q() > 1) {
        // The check can fail: a tap read one column off changes the result.
        Conv3dShape wrong = s;
        wrong.pad_w += 1;
        wrong.W -= 2;
        if (wrong.W > 0 && wrong.Q() > 0 && wrong.Z() > 0 && wrong.P() > 0) {
          CHECK(emulate_tc(bf16, wrong, x.body(), w.body(), b.body(), dy.body()).y != y.body());
        }
      }
    }
}

TEST_CASE("CUDA conv3d tensor-core tiling: random floats are the reference on rounded operands") {
  Rng rng{903};
  for (bool bf16 : {false, true})
    for (const Conv3dShape& s : gemm_cases()) {
      CAPTURE(bf16);
      CAPTURE(s.describe());
      const auto x = random_buffer<float>(s.x_size(), rng).body();
      const auto w = random_buffer<float>(s.w_size(), rng).body();
      const auto b = random_buffer<float>(std::size_t(s.K), rng).body();
      const auto dy = random_buffer<float>(s.y_size(), rng).body();
      // The reference in double on the operands rounded to TF32 or BF16: the products are
      // exact, so only the float accumulation (at most L terms in [-1, 1)) separates it from
      // the tiling.
      const std::vector<double> xt = rounded(bf16, x), wt = rounded(bf16, w),
                                dyt = rounded(bf16, dy), bd(b.begin(), b.end());
      Guarded<double> y(s.y_size()), dx(s.x_size()), dw(s.w_size());
      conv3d_fprop(s, xt.data(), wt.data(), bd.data(), y.data());
      conv3d_dgrad(s, dyt.data(), wt.data(), dx.data());
      conv3d_wgrad(s, xt.data(), dyt.data(), dw.data(), static_cast<double*>(nullptr));
      const Passes e = emulate_tc(bf16, s, x, w, b, dy);
      check_float_sum("fprop", e.y, y, double(kc::fprop_reduction(s)) + 1);
      check_float_sum("dgrad", e.dx, dx, double(kc::dgrad_reduction(s)));
      check_float_sum("wgrad", e.dw, dw, double(kc::fprop_rows(s)));
    }
}
