// The CUDA conv3d kernels' summation order on the host (kernels/cuda/conv_gemm.h): per output,
// the reduction index ascending with one fused multiply-add per term; wgrad in chunks of
// kConvWgradChunkRows rows, each chunk's float partial sum, the partials added in chunk order.
// Used by tests/test_cuda_conv_gemm.cpp (every machine: the index arithmetic against the
// reference) and tests/gpu/test_gpu_conv3d.cpp (the kernels' bits against these).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/cuda/conv_gemm.h"

namespace cuda_emulation {

using namespace kernel_test;
namespace kc = ctv::kernels::cuda;

struct Passes {
  std::vector<float> y, dx, dw;
};

// What conv3d.cu computes, element by element, in its order.
inline Passes emulate(const Conv3dShape& s, const std::vector<float>& x, const std::vector<float>& w,
               const std::vector<float>& bias, const std::vector<float>& dy) {
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

inline std::vector<Conv3dShape> gemm_cases() {
  std::vector<Conv3dShape> v = conv_cases();
  // The U-Net's layers, scaled down, and one with more output pixels than a wgrad chunk.
  v.push_back(conv_shape(2, 4, 5, 6, 16, 8, 3, 3, 3, {1, 1, 1}, {1, 1, 1}));
  v.push_back(conv_shape(1, 3, 4, 5, 2, 16, 3, 3, 3, {1, 1, 1}, {1, 1, 1}));
  v.push_back(conv_shape(1, 2, 3, 4, 16, 1, 1, 1, 1));
  v.push_back(conv_shape(1, 8, 16, 40, 2, 3, 3, 3, 3, {1, 1, 1}, {1, 1, 1}));
  return v;
}

}  // namespace cuda_emulation
