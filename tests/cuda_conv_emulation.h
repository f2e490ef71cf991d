// The CUDA conv3d kernels' summation order on the host (kernels/cuda/conv_gemm.h): per output,
// the reduction index ascending with one fused multiply-add per term; wgrad in chunks of
// kConvWgradChunkRows rows, each chunk's float partial sum, the partials added in chunk order.
// Used by tests/test_cuda_conv_gemm.cpp (every machine: the index arithmetic against the
// reference) and tests/gpu/test_gpu_conv3d.cpp (the kernels' bits against these).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/cuda/conv_gemm.h"
#include "kernels/cuda/mma_layout.h"

namespace cuda_emulation {

using namespace kernel_test;
namespace kc = ctv::kernels::cuda;

struct Passes {
  std::vector<float> y, dx, dw;
};

// The largest |got[i] - want[i]|; infinite where got holds a NaN.
template <class Want>
double max_abs_error(const std::vector<float>& got, const Want& want) {
  double err = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    err = std::max(err, std::isnan(got[i]) ? HUGE_VAL : std::fabs(double(got[i]) - want[i]));
  return err;
}

// got is a float sum of `terms` products of values in [-1, 1): within terms * 2^-24 of the
// exact sum per unit of magnitude (a loose bound; the point is the indices).
template <class Want>
void check_float_sum(const char* what, const std::vector<float>& got, const Want& want,
                     double terms) {
  CAPTURE(what);
  CHECK(max_abs_error(got, want) <= (terms + 2) * 0x1p-24 * terms);
}

// What conv3d.cu computes, element by element, in its order.
inline Passes emulate(const Conv3dShape& s, const std::vector<float>& x,
                      const std::vector<float>& w, const std::vector<float>& bias,
                      const std::vector<float>& dy) {
  Passes o;
  const std::int64_t M = kc::fprop_rows(s), L = kc::fprop_reduction(s);
  o.y.assign(static_cast<std::size_t>(M * s.K), 0.0f);
  for (std::int64_t m = 0; m < M; ++m)
    for (int k = 0; k < s.K; ++k) {
      float acc = 0.0f;
      for (std::int64_t l = 0; l < L; ++l) {
        const std::int64_t a = kc::fprop_a_offset(s, m, l);
        const float av = a < 0 ? 0.0f : x[static_cast<std::size_t>(a)];
        acc = std::fma(av, w[static_cast<std::size_t>(kc::fprop_b_offset(s, l, k))], acc);
      }
      o.y[static_cast<std::size_t>(m * s.K + k)] = acc + bias[static_cast<std::size_t>(k)];
    }
  const std::int64_t Md = kc::dgrad_rows(s), Ld = kc::dgrad_reduction(s);
  o.dx.assign(static_cast<std::size_t>(Md * s.C), 0.0f);
  for (std::int64_t m = 0; m < Md; ++m)
    for (int c = 0; c < s.C; ++c) {
      float acc = 0.0f;
      for (std::int64_t l = 0; l < Ld; ++l) {
        const std::int64_t g = kc::dgrad_a_offset(s, m, l);
        const float gv = g < 0 ? 0.0f : dy[static_cast<std::size_t>(g)];
        acc = std::fma(gv, w[static_cast<std::size_t>(kc::dgrad_b_offset(s, l, c))], acc);
      }
      o.dx[static_cast<std::size_t>(m * s.C + c)] = acc;
    }
  o.dw.assign(static_cast<std::size_t>(s.K * L), 0.0f);
  const std::int64_t chunks = kc::wgrad_chunks(s);
  for (int k = 0; k < s.K; ++k)
    for (std::int64_t l = 0; l < L; ++l) {
      float total = 0.0f;
      for (std::int64_t ch = 0; ch < chunks; ++ch) {
        float part = 0.0f;
        const std::int64_t m1 = std::min(M, (ch + 1) * kc::kConvWgradChunkRows);
        for (std::int64_t m = ch * kc::kConvWgradChunkRows; m < m1; ++m) {
          const std::int64_t a = kc::fprop_a_offset(s, m, l);
          const float av = a < 0 ? 0.0f : x[static_cast<std::size_t>(a)];
          part = std::fma(dy[static_cast<std::size_t>(m * s.K + k)], av, part);
        }
        total += part;
      }
      o.dw[static_cast<std::size_t>(k * L + l)] = total;
    }
  return o;
}

// The tensor-core GEMM of conv3d.cu (tc_gemm_kernel, TF32 or BF16) block by block, warp by
// warp and lane by lane, through mma_layout.h's functions: the shared-memory tiles filled
// element by element (rounded to TF32 or BF16), each lane's fragment registers gathered from
// them, each mma done on the matrices its lanes' registers make (the PTX layout) with the
// products summed in double and added to the float accumulator once, and the accumulators
// stored where the kernel stores them. The hardware's order inside one mma is not specified,
// so this gives the kernel's bits only where every sum is exact (small integers); elsewhere it
// is the kernel's tiling with an exact inner product.
// a(m, l), b(l, n): the operands as floats; store(z, m, n, value).
template <class A, class B, class Store>
void emulate_tc_gemm(bool bf16, std::int64_t M, int N, std::int64_t L, std::int64_t chunk,
                     std::int64_t parts, A a, B b, Store store) {
  using kc::MmaCoord;
  const int bn = kc::tc_tile_n(N), nt = bn / 8;
  constexpr int TM = kc::kTcTileM, TL = kc::kTcTileL;
  const int kk = bf16 ? kc::kTcMmaKBf16 : kc::kTcMmaK, steps = TL / kk;
  float (*round)(float) = bf16 ? kc::bf16_round : kc::tf32_round;
  std::vector<float> As(std::size_t(TM) * TL), Bs(std::size_t(bn) * TL);  // [row][l]
  std::vector<float> acc;                                                 // [warp][i][j][lane][r]
  auto at = [&](int warp, int i, int j, int lane, int r) -> float& {
    return acc[(((std::size_t(warp) * 2 + i) * nt + j) * 32 + lane) * 4 + r];
  };
  for (std::int64_t z = 0; z < parts; ++z)
    for (std::int64_t m0 = 0; m0 < M; m0 += TM)
      for (int n0 = 0; n0 < N; n0 += bn) {
        const std::int64_t l_begin = z * chunk, l_end = std::min(L, l_begin + chunk);
        acc.assign(std::size_t(kc::kTcWarps) * 2 * nt * 32 * 4, 0.0f);
        for (std::int64_t l0 = l_begin; l0 < l_end; l0 += TL) {
          for (int e = 0; e < TM * TL; ++e) {
            const MmaCoord f = kc::tc_fill(e);
            const std::int64_t m = m0 + f.row, l = l0 + f.col;
            As[std::size_t(f.row) * TL + f.col] = (m < M && l < l_end) ? round(a(m, l)) : 0.0f;
          }
          for (int e = 0; e < bn * TL; ++e) {
            const MmaCoord f = kc::tc_fill(e);
            const int n = n0 + f.row;
            const std::int64_t l = l0 + f.col;
            Bs[std::size_t(f.row) * TL + f.col] = (n < N && l < l_end) ? round(b(l, n)) : 0.0f;
          }
          for (int ks = 0; ks < steps; ++ks)
            for (int warp = 0; warp < kc::kTcWarps; ++warp)
              for (int j = 0; j < nt; ++j)
                for (int i = 0; i < 2; ++i) {
                  double Am[16][16], Bm[16][8];  // [row][k], [k][n]: kk columns / rows used
                  auto a_at = [&](MmaCoord c) { return As[std::size_t(c.row) * TL + c.col]; };
                  auto b_at = [&](MmaCoord c) { return Bs[std::size_t(c.row) * TL + c.col]; };
                  for (int lane = 0; lane < 32; ++lane) {
                    if (bf16) {
                      for (int r = 0; r < 4; ++r)
                        for (int h = 0; h < 2; ++h) {
                          MmaCoord c = kc::tc_a_smem_bf16(warp, i, lane, r);
                          c.col += h;
                          const MmaCoord f = kc::mma_bf16_a(lane, r, h);
                          Am[f.row][f.col] = a_at(c);
                        }
                      for (int r = 0; r < 2; ++r)
                        for (int h = 0; h < 2; ++h) {
                          MmaCoord c = kc::tc_b_smem_bf16(j, lane, r);
                          c.col += h;
                          const MmaCoord f = kc::mma_bf16_b(lane, r, h);
                          Bm[f.row][f.col] = b_at(c);
                        }
                    } else {
                      for (int r = 0; r < 4; ++r) {
                        const MmaCoord f = kc::mma_tf32_a(lane, r);
                        Am[f.row][f.col] = a_at(kc::tc_a_smem(warp, i, ks, lane, r));
                      }
                      for (int r = 0; r < 2; ++r) {
                        const MmaCoord f = kc::mma_tf32_b(lane, r);
                        Bm[f.row][f.col] = b_at(kc::tc_b_smem(j, ks, lane, r));
                      }
                    }
                  }
                  for (int lane = 0; lane < 32; ++lane)
                    for (int r = 0; r < 4; ++r) {
                      const MmaCoord c = kc::mma_c(lane, r);
                      double sum = at(warp, i, j, lane, r);
                      for (int k = 0; k < kk; ++k) sum += Am[c.row][k] * Bm[k][c.col];
                      at(warp, i, j, lane, r) = static_cast<float>(sum);
                    }
                }
        }
        for (int warp = 0; warp < kc::kTcWarps; ++warp)
          for (int i = 0; i < 2; ++i)
            for (int j = 0; j < nt; ++j)
              for (int lane = 0; lane < 32; ++lane)
                for (int r = 0; r < 4; ++r) {
                  const MmaCoord c = kc::tc_acc(warp, i, j, lane, r);
                  const std::int64_t m = m0 + c.row;
                  const int n = n0 + c.col;
                  if (m < M && n < N) store(z, m, n, at(warp, i, j, lane, r));
                }
      }
}

// conv3d.cu's three passes with ConvMath::tf32 (bf16 = false) or bf16, through
// emulate_tc_gemm (dw without dbias).
inline Passes emulate_tc(bool bf16, const Conv3dShape& s, const std::vector<float>& x,
                         const std::vector<float>& w, const std::vector<float>& bias,
                         const std::vector<float>& dy) {
  Passes o;
  auto xa = [&](std::int64_t m, std::int64_t l) {
    const std::int64_t a = kc::fprop_a_offset(s, m, l);
    return a < 0 ? 0.0f : x[static_cast<std::size_t>(a)];
  };
  const std::int64_t M = kc::fprop_rows(s), L = kc::fprop_reduction(s);
  o.y.assign(static_cast<std::size_t>(M * s.K), 0.0f);
  emulate_tc_gemm(
      bf16, M, s.K, L, L, 1, xa,
      [&](std::int64_t l, int k) {
        return w[static_cast<std::size_t>(kc::fprop_b_offset(s, l, k))];
      },
      [&](std::int64_t, std::int64_t m, int k, float v) {
        o.y[static_cast<std::size_t>(m * s.K + k)] = v + bias[static_cast<std::size_t>(k)];
      });
  const std::int64_t Md = kc::dgrad_rows(s), Ld = kc::dgrad_reduction(s);
  o.dx.assign(static_cast<std::size_t>(Md * s.C), 0.0f);
  emulate_tc_gemm(
      bf16, Md, s.C, Ld, Ld, 1,
      [&](std::int64_t m, std::int64_t l) {
        const std::int64_t g = kc::dgrad_a_offset(s, m, l);
        return g < 0 ? 0.0f : dy[static_cast<std::size_t>(g)];
      },
      [&](std::int64_t l, int c) {
        return w[static_cast<std::size_t>(kc::dgrad_b_offset(s, l, c))];
      },
      [&](std::int64_t, std::int64_t m, int c, float v) {
        o.dx[static_cast<std::size_t>(m * s.C + c)] = v;
      });
  // wgrad: rows l, columns k, reduced over m in chunks; the partials added in chunk order.
  const std::int64_t parts = kc::wgrad_chunks(s), count = std::int64_t(s.K) * L;
  std::vector<float> partial(static_cast<std::size_t>(parts * count), 0.0f);
  emulate_tc_gemm(
      bf16, L, s.K, M, kc::kConvWgradChunkRows, parts,
      [&](std::int64_t l, std::int64_t m) { return xa(m, l); },
      [&](std::int64_t m, int k) { return dy[static_cast<std::size_t>(m * s.K + k)]; },
      [&](std::int64_t z, std::int64_t l, int k, float v) {
        partial[static_cast<std::size_t>(z * count + k * L + l)] = v;
      });
  o.dw.assign(static_cast<std::size_t>(count), 0.0f);
  for (std::int64_t i = 0; i < count; ++i) {
    float total = 0.0f;
    for (std::int64_t z = 0; z < parts; ++z)
      total += partial[static_cast<std::size_t>(z * count + i)];
    o.dw[static_cast<std::size_t>(i)] = total;
  }
  return o;
}

inline std::vector<Conv3dShape> gemm_cases() {
  std::vector<Conv3dShape> v = conv_cases();
  // The U-Net's layers, scaled down, and one with more output pixels than a wgrad chunk.
  v.push_back(conv_shape(2, 4, 5, 6, 16, 8, 3, 3, 3, {1, 1, 1}, {1, 1, 1}));
  v.push_back(conv_shape(1, 3, 4, 5, 2, 16, 3, 3, 3, {1, 1, 1}, {1, 1, 1}));
  v.push_back(conv_shape(1, 2, 3, 4, 16, 1, 1, 1, 1));
  v.push_back(conv_shape(1, 8, 16, 40, 2, 3, 3, 3, 3, {1, 1, 1}, {1, 1, 1}));
  // Wider GEMMs: fprop's 70 columns take the 64-column tiles in two blocks (SIMT and tensor
  // cores); 40 input and 24 output channels take the 64- and 32-column tensor-core tiles.
  v.push_back(conv_shape(1, 3, 4, 5, 8, 70, 3, 3, 3, {1, 1, 1}, {1, 1, 1}));
  v.push_back(conv_shape(1, 3, 4, 5, 40, 24, 3, 3, 3, {1, 1, 1}, {1, 1, 1}));
  return v;
}

}  // namespace cuda_emulation
