// Winograd F(2x2x2, 3x3x3) (see conv_winograd.h): the weight transform U = G w G^T per output
// and input channel, packed per position into the panels the GEMM micro-kernels read, the
// blocks of tiles split with parallel_for, and a per-thread scratch buffer.
#include "kernels/cpu/fast/conv_winograd.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "kernels/cpu/fast/conv_support.h"
#include "kernels/cpu/fast/parallel.h"

namespace ctv::kernels::fast {

namespace {

// G (4x3): the weight transform of F(2, 3) with interpolation points 0, 1, -1 (and infinity).
constexpr double kG[4][3] = {{1.0, 0.0, 0.0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0.0, 0.0, 1.0}};

// U[xi][k][c] = sum_{t,r,s} G[i][t] G[j][r] G[l][s] w[k][t][r][s][c], xi = (i*4 + j)*4 + l:
// applied one axis at a time (s, then r, then t) in double and rounded once, the input
// channels innermost (contiguous in w); output channels in parallel (each U element is
// computed the same way whichever thread runs it). Written straight into the GEMM's panels
// (pack_weight_panels_into's layout, position xi's at xi * u_stride): U[xi][k][c] at
// xi * u_stride + (k / KB) * KB * C + c * wb + k % KB, wb the width of k's panel.
void transform_weights_into_panels(const ConvMicrokernels& mk, const float* w, int K, int C,
                                   float* panels, std::int64_t u_stride) {
  const int KB = mk.k_block;
  parallel_for(K, 1, [&](std::int64_t k0, std::int64_t k1) {
    // a[t][r][l][c], b[t][j][l][c]
    std::vector<double> a(static_cast<std::size_t>(36) * C), b(static_cast<std::size_t>(48) * C);
    for (std::int64_t k = k0; k < k1; ++k) {
      for (int t = 0; t < 3; ++t)
        for (int r = 0; r < 3; ++r) {
          const float* taps = w + ((k * 3 + t) * 3 + r) * 3 * std::int64_t(C);
          for (int l = 0; l < 4; ++l) {
            double* out = a.data() + ((t * 3 + r) * 4 + l) * std::int64_t(C);
            for (int c = 0; c < C; ++c)
              out[c] = kG[l][0] * taps[c] + kG[l][1] * taps[C + c] + kG[l][2] * taps[2 * C + c];
          }
        }
      for (int t = 0; t < 3; ++t)
        for (int j = 0; j < 4; ++j)
          for (int l = 0; l < 4; ++l) {
            const double* a0 = a.data() + ((t * 3 + 0) * 4 + l) * std::int64_t(C);
            const double* a1 = a.data() + ((t * 3 + 1) * 4 + l) * std::int64_t(C);
            const double* a2 = a.data() + ((t * 3 + 2) * 4 + l) * std::int64_t(C);
            double* out = b.data() + ((t * 4 + j) * 4 + l) * std::int64_t(C);
            for (int c = 0; c < C; ++c)
              out[c] = kG[j][0] * a0[c] + kG[j][1] * a1[c] + kG[j][2] * a2[c];
          }
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          for (int l = 0; l < 4; ++l) {
            const int xi = (i * 4 + j) * 4 + l;
            const double* b0 = b.data() + ((0 * 4 + j) * 4 + l) * std::int64_t(C);
            const double* b1 = b.data() + ((1 * 4 + j) * 4 + l) * std::int64_t(C);
            const double* b2 = b.data() + ((2 * 4 + j) * 4 + l) * std::int64_t(C);
            const std::int64_t col0 = k / KB * KB;
            const std::int64_t wb = std::min<std::int64_t>(KB, K - col0);
            float* out = panels + xi * u_stride + col0 * C + (k - col0);
            for (int c = 0; c < C; ++c)
              out[c * wb] =
                  static_cast<float>(kG[i][0] * b0[c] + kG[i][1] * b1[c] + kG[i][2] * b2[c]);
          }
    }
  });
}

// Blocks of 2x2x2 tiles for shape s (see WinogradArgs).
WinogradArgs winograd_args(const ref::Conv3dShape& s) {
  WinogradArgs a{};
  a.N = s.N, a.D = s.D, a.H = s.H, a.W = s.W, a.C = s.C, a.K = s.K;
  // Tiles per block: the GEMM's rows; two register tiles' worth for one output-channel vector.
  a.tiles_per_block = 12;
  return a;
}
std::int64_t winograd_block_count(const WinogradArgs& a) {
  const std::int64_t tiles_w = (a.W + 1) / 2;
  return std::int64_t(a.N) * ((a.D + 1) / 2) * ((a.H + 1) / 2) *
         ((tiles_w + a.tiles_per_block - 1) / a.tiles_per_block);
}

}  // namespace

bool winograd_applies(const ref::Conv3dShape& s, const ConvMicrokernels& mk) {
  return s.T == 3 && s.R == 3 && s.S == 3 && s.stride_d == 1 && s.stride_h == 1 &&
         s.stride_w == 1 && s.pad_d == 1 && s.pad_h == 1 && s.pad_w == 1 &&
         s.C % mk.vec_width == 0 && s.K % mk.vec_width == 0 && s.C <= kWinogradMaxChannels &&
         s.K <= kWinogradMaxChannels;
}

namespace {
std::atomic<Conv3dAlgo> g_algo{Conv3dAlgo::automatic};
}  // namespace

void set_conv3d_algo(Conv3dAlgo algo) { g_algo.store(algo); }
Conv3dAlgo conv3d_algo() { return g_algo.load(); }
const char* conv3d_algo_name(Conv3dAlgo algo) {
  switch (algo) {
    case Conv3dAlgo::direct:
      return "direct";
    case Conv3dAlgo::winograd:
      return "winograd";
    case Conv3dAlgo::automatic:
      break;
  }
  return "auto";
}

namespace {
bool chosen_from(const ref::Conv3dShape& s, const ConvMicrokernels& mk, std::int64_t min_voxels) {
  if (!winograd_applies(s, mk)) return false;
  switch (conv3d_algo()) {
    case Conv3dAlgo::direct:
      return false;
    case Conv3dAlgo::winograd:
      return true;
    case Conv3dAlgo::automatic:
      break;
  }
  return std::int64_t(s.N) * s.D * s.H * s.W >= min_voxels;
}
}  // namespace

bool winograd_chosen(const ref::Conv3dShape& s, const ConvMicrokernels& mk) {
  return chosen_from(s, mk, kWinogradMinVoxels);
}
bool winograd_wgrad_chosen(const ref::Conv3dShape& s, const ConvMicrokernels& mk) {
  return chosen_from(s, mk, kWinogradWgradMinVoxels);
}

void conv3d_winograd(const ConvMicrokernels& mk, const ref::Conv3dShape& s, const float* x,
                     const float* w, const float* bias, float* y) {
  // Panels per position, one buffer: position xi's at xi * u_stride (K is a multiple of the
  // vector width: no padding columns).
  const std::int64_t u_stride = weight_panels_size(mk, s.K, s.C);
  FloatBuffer panels(static_cast<std::size_t>(64 * u_stride));
  transform_weights_into_panels(mk, w, s.K, s.C, panels.get(), u_stride);
  WinogradArgs a = winograd_args(s);
  a.x = x;
  a.u = panels.get();
  a.u_stride = u_stride;
  a.bias = bias;
  a.y = y;
  const std::int64_t blocks = winograd_block_count(a);
  // About 2^22 multiply-adds per chunk.
  const std::int64_t per_block = std::int64_t(64) * a.tiles_per_block * s.C * s.K;
  const std::int64_t grain = std::max<std::int64_t>(1, (std::int64_t(1) << 22) / per_block);
  const std::size_t scratch = static_cast<std::size_t>(winograd_scratch_floats(a));
  parallel_for(blocks, grain, [&](std::int64_t b, std::int64_t e) {
    thread_local std::vector<float> buffer;
    if (buffer.size() < scratch) buffer.resize(scratch);
    mk.winograd_blocks(a, b, e, buffer.data());
  });
}

void conv3d_winograd_wgrad(const ConvMicrokernels& mk, const ref::Conv3dShape& s, const float* x,
                           const float* dy, float* dw) {
  WinogradArgs a = winograd_args(s);
  a.x = x;
  a.dy = dy;
  const std::int64_t blocks = winograd_block_count(a);
  const std::int64_t msize = std::int64_t(64) * s.K * s.C;
  const std::int64_t chunk_blocks = partial_chunk_items(blocks, msize);
  const std::int64_t chunks = chunk_count(blocks, chunk_blocks);
  FloatBuffer partial(static_cast<std::size_t>(chunks * msize));
  const std::size_t scratch = static_cast<std::size_t>(winograd_scratch_floats(a));
  parallel_for(chunks, 1, [&](std::int64_t b, std::int64_t e) {
    thread_local std::vector<float> buffer;
    if (buffer.size() < scratch) buffer.resize(scratch);
    for (std::int64_t c = b; c < e; ++c) {
      float* p = partial.get() + c * msize;
      std::fill(p, p + msize, 0.0f);
      mk.winograd_wgrad_blocks(a, c * chunk_blocks, std::min(blocks, (c + 1) * chunk_blocks),
                               buffer.data(), p);
    }
  });
  std::vector<double> m(static_cast<std::size_t>(msize));
  add_partials(partial.get(), chunks, msize, m.data());
  // dw[k][t][r][u][c] = sum_xi G[i][t] G[j][r] G[l][u] m[xi][k][c], one axis at a time, the
  // input channels innermost.
  parallel_for(s.K, 1, [&](std::int64_t k0, std::int64_t k1) {
    // a1[i][j][u][c], a2[i][r][u][c]
    std::vector<double> a1(static_cast<std::size_t>(48) * s.C), a2(static_cast<std::size_t>(36) * s.C);
    for (std::int64_t k = k0; k < k1; ++k) {
      auto at = [&](int xi) { return m.data() + (std::int64_t(xi) * s.K + k) * s.C; };
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          for (int u = 0; u < 3; ++u) {
            const int xi = (i * 4 + j) * 4;
            const double *m0 = at(xi), *m1 = at(xi + 1), *m2 = at(xi + 2), *m3 = at(xi + 3);
            double* out = a1.data() + ((i * 4 + j) * 3 + u) * std::int64_t(s.C);
            for (int c = 0; c < s.C; ++c)
              out[c] = kG[0][u] * m0[c] + kG[1][u] * m1[c] + kG[2][u] * m2[c] + kG[3][u] * m3[c];
          }
      for (int i = 0; i < 4; ++i)
        for (int r = 0; r < 3; ++r)
          for (int u = 0; u < 3; ++u) {
            const double* e[4];
            for (int j = 0; j < 4; ++j) e[j] = a1.data() + ((i * 4 + j) * 3 + u) * std::int64_t(s.C);
            double* out = a2.data() + ((i * 3 + r) * 3 + u) * std::int64_t(s.C);
            for (int c = 0; c < s.C; ++c)
              out[c] = kG[0][r] * e[0][c] + kG[1][r] * e[1][c] + kG[2][r] * e[2][c] +
                       kG[3][r] * e[3][c];
          }
      for (int t = 0; t < 3; ++t)
        for (int r = 0; r < 3; ++r)
          for (int u = 0; u < 3; ++u) {
            const double* e[4];
            for (int i = 0; i < 4; ++i) e[i] = a2.data() + ((i * 3 + r) * 3 + u) * std::int64_t(s.C);
            float* out = dw + (((k * 3 + t) * 3 + r) * 3 + u) * std::int64_t(s.C);
            for (int c = 0; c < s.C; ++c)
              out[c] = static_cast<float>(kG[0][t] * e[0][c] + kG[1][t] * e[1][c] +
                                          kG[2][t] * e[2][c] + kG[3][t] * e[3][c]);
          }
    }
  });
}

}  // namespace ctv::kernels::fast
