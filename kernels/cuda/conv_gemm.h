// The implicit-GEMM view of conv3d that the CUDA kernels (conv3d.cu) compute, as host/device
// index functions: every address a kernel reads comes from here, so the arithmetic is tested
// on the CPU (tests/test_cuda_conv_gemm.cpp runs the kernels' loop order on the host against
// the reference) on machines without a GPU. Plain C++: no CUDA headers needed.
//
// Layouts as kernels/cpu/reference/conv3d.h: x NDHWC, w KTRSC, y NZPQK. With the CUTLASS
// names (M x N output, reduction length L):
//   fprop  y[m][k]  = bias[k] + sum_l A[m][l] * w[k][l]    m = (n,z,p,q), l = (t,r,s,c),
//                     A[m][l] = x at (n, z*sd-pd+t, p*sh-ph+r, q*sw-pw+s, c), 0 in the padding;
//   dgrad  dx[m][c] = sum_l G[m][l] * w[k][t][r][s][c]     m = (n,d,h,w), l = (t,r,s,k),
//                     G[m][l] = dy at (n, z, p, q, k) with z*sd-pd+t = d (etc.), 0 where no
//                     such output exists (outside, or between strides);
//   wgrad  dw[k][l] = sum_m dy[m][k] * A[m][l]             m = (n,z,p,q), l = (t,r,s,c),
//                     summed over m in chunks of kConvWgradChunkRows rows, each chunk's
//                     partial sum in float, then the partials added in chunk order (split-K,
//                     deterministic).
// Every sum runs over its reduction index in ascending order, one output per thread, so two
// runs give the same bits.
#pragma once
#include <cstdint>

#include "kernels/common.h"
#include "kernels/cpu/reference/conv3d.h"
#include "kernels/cpu/reference/conv_transpose3d.h"

namespace ctv::kernels::cuda {

using ref::Conv3dShape;
using ref::ConvTranspose3dShape;

// Tiles of the GEMM kernel: a block computes kConvTileM x kConvTileN outputs, walking the
// reduction kConvTileL at a time; each of its kConvThreads threads owns a 4 x 4 sub-tile.
inline constexpr int kConvTileM = 64;
inline constexpr int kConvTileN = 64;
inline constexpr int kConvTileL = 16;
inline constexpr int kConvThreads = 256;
// wgrad: rows of m per split-K chunk.
inline constexpr std::int64_t kConvWgradChunkRows = 4096;

// GEMM sizes of each pass.
CTV_HD inline std::int64_t fprop_rows(const Conv3dShape& s) {
  return std::int64_t(s.N) * s.Z() * s.P() * s.Q();
}
CTV_HD inline std::int64_t fprop_reduction(const Conv3dShape& s) {
  return std::int64_t(s.T) * s.R * s.S * s.C;
}
CTV_HD inline std::int64_t dgrad_rows(const Conv3dShape& s) {
  return std::int64_t(s.N) * s.D * s.H * s.W;
}
CTV_HD inline std::int64_t dgrad_reduction(const Conv3dShape& s) {
  return std::int64_t(s.T) * s.R * s.S * s.K;
}
CTV_HD inline std::int64_t wgrad_chunks(const Conv3dShape& s) {
  return (fprop_rows(s) + kConvWgradChunkRows - 1) / kConvWgradChunkRows;
}

// fprop's A[m][l]: the offset into x, or -1 where the tap reads padding.
// requires: 0 <= m < fprop_rows(s), 0 <= l < fprop_reduction(s).
CTV_HD inline std::int64_t fprop_a_offset(const Conv3dShape& s, std::int64_t m, std::int64_t l) {
  const int Q = s.Q(), P = s.P(), Z = s.Z();
  const int q = static_cast<int>(m % Q);
  std::int64_t rest = m / Q;
  const int p = static_cast<int>(rest % P);
  rest /= P;
  const int z = static_cast<int>(rest % Z);
  const std::int64_t n = rest / Z;
  const int c = static_cast<int>(l % s.C);
  std::int64_t tap = l / s.C;
  const int u = static_cast<int>(tap % s.S);
  tap /= s.S;
  const int r = static_cast<int>(tap % s.R);
  const int t = static_cast<int>(tap / s.R);
  const int d = window_in_coord(z, t, s.stride_d, s.pad_d);
  const int h = window_in_coord(p, r, s.stride_h, s.pad_h);
  const int w = window_in_coord(q, u, s.stride_w, s.pad_w);
  if (d < 0 || d >= s.D || h < 0 || h >= s.H || w < 0 || w >= s.W) return -1;
  return ndhwc_offset(n, d, h, w, c, s.D, s.H, s.W, s.C);
}

// fprop's B: w[k][l], KTRSC being K x L row-major.
CTV_HD inline std::int64_t fprop_b_offset(const Conv3dShape& s, std::int64_t l, int k) {
  return std::int64_t(k) * fprop_reduction(s) + l;
}

// dgrad's G[m][l]: the offset into dy, or -1 where no output reads x[m] through tap l.
// requires: 0 <= m < dgrad_rows(s), 0 <= l < dgrad_reduction(s).
CTV_HD inline std::int64_t dgrad_a_offset(const Conv3dShape& s, std::int64_t m, std::int64_t l) {
  const int w = static_cast<int>(m % s.W);
  std::int64_t rest = m / s.W;
  const int h = static_cast<int>(rest % s.H);
  rest /= s.H;
  const int d = static_cast<int>(rest % s.D);
  const std::int64_t n = rest / s.D;
  const int k = static_cast<int>(l % s.K);
  std::int64_t tap = l / s.K;
  const int u = static_cast<int>(tap % s.S);
  tap /= s.S;
  const int r = static_cast<int>(tap % s.R);
  const int t = static_cast<int>(tap / s.R);
  const int Z = s.Z(), P = s.P(), Q = s.Q();
  const int z = window_out_coord(d, t, s.stride_d, s.pad_d, Z);
  const int p = window_out_coord(h, r, s.stride_h, s.pad_h, P);
  const int q = window_out_coord(w, u, s.stride_w, s.pad_w, Q);
  if (z < 0 || p < 0 || q < 0) return -1;
  return ndhwc_offset(n, z, p, q, k, Z, P, Q, s.K);
}

// dgrad's B[l][c]: w[k][t][r][s][c] for l = (t,r,s,k).
CTV_HD inline std::int64_t dgrad_b_offset(const Conv3dShape& s, std::int64_t l, int c) {
  const int k = static_cast<int>(l % s.K);
  const std::int64_t tap = l / s.K;
  return (std::int64_t(k) * s.T * s.R * s.S + tap) * s.C + c;
}

// The same gathers in two halves, so a kernel decomposes each index once and not per element:
// a pixel (a row m of fprop or dgrad, a reduction index of wgrad) into its batch element's
// offset and its window's corner, a tap (l) into (t, r, s) and the channel; then each element
// is a few additions and bounds checks. fprop_gather(s, fprop_pixel(s, m), fprop_tap(s, l)) ==
// fprop_a_offset(s, m, l) and likewise for dgrad (tests/test_cuda_conv_gemm.cpp checks every
// pair of the test shapes).
struct ConvPixel {
  std::int64_t base;  // offset of the batch element's first value in the gathered tensor
  int d0, h0, w0;     // fprop: the window's first input coordinate; dgrad: the coordinate + pad
};
struct ConvTap {
  int t, r, s, ch;  // the kernel tap and the gathered tensor's channel (fprop: c, dgrad: k)
};

// requires: 0 <= m < fprop_rows(s).
CTV_HD inline ConvPixel fprop_pixel(const Conv3dShape& s, std::int64_t m) {
  const int Q = s.Q(), P = s.P(), Z = s.Z();
  const int q = static_cast<int>(m % Q);
  std::int64_t rest = m / Q;
  const int p = static_cast<int>(rest % P);
  rest /= P;
  const int z = static_cast<int>(rest % Z);
  const std::int64_t n = rest / Z;
  return {n * s.D * s.H * s.W * s.C, window_in_coord(z, 0, s.stride_d, s.pad_d),
          window_in_coord(p, 0, s.stride_h, s.pad_h), window_in_coord(q, 0, s.stride_w, s.pad_w)};
}
// requires: 0 <= l < fprop_reduction(s).
CTV_HD inline ConvTap fprop_tap(const Conv3dShape& s, std::int64_t l) {
  const int c = static_cast<int>(l % s.C);
  const int tap = static_cast<int>(l / s.C);
  return {tap / (s.R * s.S), (tap / s.S) % s.R, tap % s.S, c};
}
CTV_HD inline std::int64_t fprop_gather(const Conv3dShape& s, const ConvPixel& p,
                                        const ConvTap& t) {
  const int d = p.d0 + t.t, h = p.h0 + t.r, w = p.w0 + t.s;
  if (d < 0 || d >= s.D || h < 0 || h >= s.H || w < 0 || w >= s.W) return -1;
  return p.base + ((std::int64_t(d) * s.H + h) * s.W + w) * s.C + t.ch;
}

// requires: 0 <= m < dgrad_rows(s).
CTV_HD inline ConvPixel dgrad_pixel(const Conv3dShape& s, std::int64_t m) {
  const int w = static_cast<int>(m % s.W);
  std::int64_t rest = m / s.W;
  const int h = static_cast<int>(rest % s.H);
  rest /= s.H;
  const int d = static_cast<int>(rest % s.D);
  const std::int64_t n = rest / s.D;
  return {n * s.Z() * s.P() * s.Q() * s.K, d + s.pad_d, h + s.pad_h, w + s.pad_w};
}
// requires: 0 <= l < dgrad_reduction(s).
CTV_HD inline ConvTap dgrad_tap(const Conv3dShape& s, std::int64_t l) {
  const int k = static_cast<int>(l % s.K);
  const int tap = static_cast<int>(l / s.K);
  return {tap / (s.R * s.S), (tap / s.S) % s.R, tap % s.S, k};
}
// The output coordinate whose tap reads input coordinate i (given as i + pad: num), or -1.
CTV_HD inline int dgrad_out_coord(int num, int stride, int out_size) {
  if (num < 0) return -1;
  int o = num;
  if (stride != 1) {
    if (num % stride != 0) return -1;
    o = num / stride;
  }
  return o < out_size ? o : -1;
}
CTV_HD inline std::int64_t dgrad_gather(const Conv3dShape& s, const ConvPixel& p,
                                        const ConvTap& t) {
  const int Z = s.Z(), P = s.P(), Q = s.Q();
  const int z = dgrad_out_coord(p.d0 - t.t, s.stride_d, Z);
  const int y = dgrad_out_coord(p.h0 - t.r, s.stride_h, P);
  const int x = dgrad_out_coord(p.w0 - t.s, s.stride_w, Q);
  if (z < 0 || y < 0 || x < 0) return -1;
  return p.base + ((std::int64_t(z) * P + y) * Q + x) * s.K + t.ch;
}

// A transposed convolution whose kernel equals its stride and whose padding is 0 (the U-Net's
// 2x2x2 up-sampling) sends each input pixel to its own T x R x S block of outputs: fprop is
// then a GEMM of the input pixels (rows m, x read as an m x C matrix) by the weights (C x
// (T R S K), row-major as stored), reduced over the input channels c in ascending order, each
// result written to its one output (no output receives two terms, none is missed).
CTV_HD inline bool transposed_is_scatter(const ConvTranspose3dShape& s) {
  return s.T == s.stride_d && s.R == s.stride_h && s.S == s.stride_w && s.pad_d == 0 &&
         s.pad_h == 0 && s.pad_w == 0;
}
CTV_HD inline std::int64_t transposed_rows(const ConvTranspose3dShape& s) {
  return std::int64_t(s.N) * s.D * s.H * s.W;
}
CTV_HD inline int transposed_columns(const ConvTranspose3dShape& s) {
  return s.T * s.R * s.S * s.K;
}
// The offset in y of GEMM output (m, n), n = ((t * R + r) * S + s) * K + k.
// requires: transposed_is_scatter(s), 0 <= m < transposed_rows(s), 0 <= n < transposed_columns(s).
CTV_HD inline std::int64_t transposed_scatter_offset(const ConvTranspose3dShape& s, std::int64_t m,
                                                     int n) {
  const int k = n % s.K;
  int tap = n / s.K;
  const int ts = tap % s.S;
  tap /= s.S;
  const int tr = tap % s.R, tt = tap / s.R;
  const int w = static_cast<int>(m % s.W);
  std::int64_t rest = m / s.W;
  const int h = static_cast<int>(rest % s.H);
  rest /= s.H;
  const int d = static_cast<int>(rest % s.D);
  const std::int64_t nb = rest / s.D;
  return ndhwc_offset(nb, d * s.T + tt, h * s.R + tr, w * s.S + ts, k, s.Z(), s.P(), s.Q(), s.K);
}

}  // namespace ctv::kernels::cuda
