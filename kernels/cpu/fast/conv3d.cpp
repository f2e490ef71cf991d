// Fast CPU 3-D convolution (see conv3d.h): buffer preparation, weight packing, the split of
// work into parallel_for chunks and the deterministic reduction of wgrad. The inner loops are
// in conv_microkernels_*.cpp.
//
// Invariants: x, dx NDHWC; w, dw KTRSC; y, dy NZPQK; all dense, any alignment. y, dx, dw and
// dbias are overwritten. Chunk sizes depend on the shape only, never on the thread count.
#include "kernels/cpu/fast/conv3d.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/fast/conv_support.h"
#include "kernels/cpu/fast/conv_winograd.h"
#include "kernels/cpu/fast/parallel.h"
#include "kernels/cpu/reference/conv_bias_grad.h"

namespace ctv::kernels::fast {

namespace {

using detail::require_nonnull;

// wgrad over at most this many output pixels: one float sum per dw element, threads over the
// output channels (a chunk of the row split of larger layers sums about as many).
constexpr std::int64_t kWgradWholeSumPixels = 16384;

// An input as the micro-kernels read it: either the caller's buffer or a prepared copy.
struct Prepared {
  FloatBuffer storage{0};
  const float* data = nullptr;
  int D = 0, H = 0, W = 0;
};

// dst[n][off_d + d*dil_d][off_h + h*dil_h][off_w + w*dil_w][:] = src[n][d][h][w][:] wherever
// that lands inside the Dp x Hp x Wp box, zero everywhere else. Without dilation or offset
// the source is used in place (the micro-kernels read only inside the box).
Prepared place(const float* src, int N, int D, int H, int W, int C, const int (&dil)[3],
               const int (&off)[3], int Dp, int Hp, int Wp) {
  Prepared out;
  if (dil[0] == 1 && dil[1] == 1 && dil[2] == 1 && off[0] == 0 && off[1] == 0 && off[2] == 0 &&
      Dp <= D && Hp <= H && Wp <= W) {
    out.data = src;
    out.D = D, out.H = H, out.W = W;
    return out;
  }
  out.storage = FloatBuffer(static_cast<std::size_t>(N) * Dp * Hp * Wp * C);
  out.data = out.storage.get();
  out.D = Dp, out.H = Hp, out.W = Wp;
  float* dst = out.storage.get();
  // Source coordinate landing on destination coordinate i of an axis, or -1.
  auto source = [](int i, int dilation, int offset, int size) {
    const int num = i - offset;
    if (num < 0 || num % dilation != 0 || num / dilation >= size) return -1;
    return num / dilation;
  };
  const std::size_t pixel = static_cast<std::size_t>(C) * sizeof(float);
  parallel_for(std::int64_t(N) * Dp, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      const std::int64_t n = plane / Dp;
      const int d = source(static_cast<int>(plane % Dp), dil[0], off[0], D);
      float* dplane = dst + plane * Hp * Wp * C;
      if (d < 0) {
        std::memset(dplane, 0, pixel * Hp * Wp);
        continue;
      }
      for (int hp = 0; hp < Hp; ++hp) {
        const int h = source(hp, dil[1], off[1], H);
        float* drow = dplane + std::int64_t(hp) * Wp * C;
        if (h < 0) {
          std::memset(drow, 0, pixel * Wp);
          continue;
        }
        const float* srow = src + ((n * D + d) * H + h) * std::int64_t(W) * C;
        for (int wp = 0; wp < Wp; ++wp) {
          const int w = source(wp, dil[2], off[2], W);
          if (w < 0)
            std::memset(drow + std::int64_t(wp) * C, 0, pixel);
          else
            std::memcpy(drow + std::int64_t(wp) * C, srow + std::int64_t(w) * C, pixel);
        }
      }
    }
  });
  return out;
}

// x zero-padded so that every tap of every output reads inside the buffer.
Prepared pad_input(const Conv3dShape& s, const float* x) {
  const int dil[3] = {1, 1, 1}, off[3] = {s.pad_d, s.pad_h, s.pad_w};
  return place(x, s.N, s.D, s.H, s.W, s.C, dil, off, (s.Z() - 1) * s.stride_d + s.T,
               (s.P() - 1) * s.stride_h + s.R, (s.Q() - 1) * s.stride_w + s.S);
}

DirectConvArgs direct_args(const Prepared& in, int C, int T, int R, int S, int sd, int sh, int sw,
                           int N, int Z, int P, int Q, int K) {
  (void)N;
  DirectConvArgs a{};
  a.in = in.data;
  a.in_row = std::int64_t(in.W) * C;
  a.in_plane = a.in_row * in.H;
  a.in_image = a.in_plane * in.D;
  a.C = C, a.T = T, a.R = R, a.S = S;
  a.sd = sd, a.sh = sh, a.sw = sw;
  a.Z = Z, a.P = P, a.Q = Q, a.K = K;
  a.dy_pixel = K;
  return a;
}

// Runs fprop_rows over all N*Z*P output rows; rows per chunk only set the scheduling (every
// output element is computed the same way whichever chunk holds it).
void run_fprop(const ConvMicrokernels& mk, const DirectConvArgs& a, int N) {
  const std::int64_t rows = std::int64_t(N) * a.Z * a.P;
  const std::int64_t work_per_row = std::int64_t(a.Q) * a.K * a.T * a.R * a.S * a.C;
  const std::int64_t grain =
      std::max<std::int64_t>(1, (1 << 18) / std::max<std::int64_t>(1, work_per_row));
  parallel_for(rows, grain, [&](std::int64_t b, std::int64_t e) { mk.fprop_rows(a, b, e); });
}

}  // namespace

void conv3d_fprop(const Conv3dShape& s, const float* x, const float* w, const float* bias,
                  float* y) {
  s.validate();
  require_nonnull("conv3d_fprop", x, w, y);
  const ConvMicrokernels& wk = conv_microkernels_for_channels(s.C, s.K);
  if (winograd_chosen(s, wk)) return conv3d_winograd(wk, s, x, w, bias, y);
  const ConvMicrokernels& mk = conv_microkernels_for_channels(s.K, s.K);
  const std::int64_t L = std::int64_t(s.T) * s.R * s.S * s.C;
  const FloatBuffer wp = pack_weight_panels(mk, w, s.K, L, L, 1);
  const Prepared in = pad_input(s, x);
  DirectConvArgs a = direct_args(in, s.C, s.T, s.R, s.S, s.stride_d, s.stride_h, s.stride_w, s.N,
                                 s.Z(), s.P(), s.Q(), s.K);
  a.wpack = wp.get();
  a.bias = bias;
  a.out = y;
  run_fprop(mk, a, s.N);
}

void conv3d_dgrad(const Conv3dShape& s, const float* dy, const float* w, float* dx) {
  s.validate();
  require_nonnull("conv3d_dgrad", dy, w, dx);
  // dx[d] = sum_t' G[d + t'] * w[T-1-t'] with G = dy dilated by the stride and shifted by
  // T-1-pad (per axis): an fprop with stride 1, K' = C output and C' = K input channels.
  const int T = s.T, R = s.R, S = s.S, K = s.K, C = s.C;
  const std::int64_t L = std::int64_t(T) * R * S * K;
  FloatBuffer wt(static_cast<std::size_t>(C) * L);  // [C][T][R][S][K], flipped taps
  const int taps = T * R * S;
  parallel_for(C, 8, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c)
      for (int tap = 0; tap < taps; ++tap) {
        // Tap (t, r, u) lands on (T-1-t, R-1-r, S-1-u): the reversed tap index.
        float* dst = wt.get() + c * L + std::int64_t(taps - 1 - tap) * K;
        const float* src = w + std::int64_t(tap) * C + c;
        for (int k = 0; k < K; ++k) dst[k] = src[std::int64_t(k) * taps * C];
      }
  });
  Conv3dShape flipped = s;  // dgrad as an fprop of dy: C' = K, K' = C, same D, H, W
  flipped.C = K, flipped.K = C;
  const ConvMicrokernels& wk = conv_microkernels_for_channels(C, K);
  if (winograd_chosen(s, wk) && winograd_chosen(flipped, wk))
    return conv3d_winograd(wk, flipped, dy, wt.get(), nullptr, dx);
  const ConvMicrokernels& mk = conv_microkernels_for_channels(C, C);
  const FloatBuffer wp = pack_weight_panels(mk, wt.get(), C, L, L, 1);
  const int dil[3] = {s.stride_d, s.stride_h, s.stride_w};
  const int off[3] = {T - 1 - s.pad_d, R - 1 - s.pad_h, S - 1 - s.pad_w};
  const Prepared g =
      place(dy, s.N, s.Z(), s.P(), s.Q(), K, dil, off, s.D + T - 1, s.H + R - 1, s.W + S - 1);
  DirectConvArgs a = direct_args(g, K, T, R, S, 1, 1, 1, s.N, s.D, s.H, s.W, C);
  a.wpack = wp.get();
  a.out = dx;
  run_fprop(mk, a, s.N);
}

void conv3d_wgrad(const Conv3dShape& s, const float* x, const float* dy, float* dw, float* dbias) {
  s.validate();
  require_nonnull("conv3d_wgrad", x, dy, dw);
  const ConvMicrokernels& wk = conv_microkernels_for_channels(s.C, s.K);
  if (winograd_wgrad_chosen(s, wk)) {
    conv3d_winograd_wgrad(wk, s, x, dy, dw);
    if (dbias) detail::conv_bias_grad(s.y_size(), s.K, dy, dbias);
    return;
  }
  const ConvMicrokernels& mk = conv_microkernels(cpu_isa());
  const Prepared in = pad_input(s, x);
  DirectConvArgs a = direct_args(in, s.C, s.T, s.R, s.S, s.stride_d, s.stride_h, s.stride_w, s.N,
                                 s.Z(), s.P(), s.Q(), s.K);
  a.dy = dy;
  const std::int64_t rows = std::int64_t(s.N) * a.Z * a.P;
  const std::int64_t wsize = static_cast<std::int64_t>(s.w_size());
  // Rows per micro-kernel call: about 256 pixels, so a group's input stays in cache while every
  // tile of dw passes over it (grouping does not change the sums, see conv_microkernels.h).
  const std::int64_t group = std::max<std::int64_t>(1, 256 / a.Q);
  if (rows * a.Q <= kWgradWholeSumPixels) {
    // Few pixels (deep layers): each dw element is one float sum over all of them in order, and
    // the threads split the output channels (8 per chunk, the tile height for C >= 16), so
    // no partials are written and added.
    const std::int64_t L = wsize / s.K;
    parallel_for(s.K, 8, [&](std::int64_t k0, std::int64_t k1) {
      DirectConvArgs ak = a;
      ak.K = static_cast<int>(k1 - k0);
      ak.dy = dy + k0;
      ak.dy_pixel = s.K;
      float* out = dw + k0 * L;
      std::fill(out, out + (k1 - k0) * L, 0.0f);
      for (std::int64_t r = 0; r < rows; r += group)
        mk.wgrad_rows(ak, r, std::min(rows, r + group), out);
    });
    if (dbias) detail::conv_bias_grad(s.y_size(), s.K, dy, dbias);
    return;
  }
  // Chunks of output rows, fixed by the shape.
  const std::int64_t chunk_rows = partial_chunk_items(rows, wsize);
  const std::int64_t chunks = chunk_count(rows, chunk_rows);
  FloatBuffer partial(static_cast<std::size_t>(chunks * wsize));
  parallel_for(chunks, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t c = b; c < e; ++c) {
      float* p = partial.get() + c * wsize;
      std::fill(p, p + wsize, 0.0f);
      const std::int64_t r1 = std::min(rows, (c + 1) * chunk_rows);
      for (std::int64_t r = c * chunk_rows; r < r1; r += group)
        mk.wgrad_rows(a, r, std::min(r1, r + group), p);
    }
  });
  add_partials(partial.get(), chunks, wsize, dw);
  if (dbias) detail::conv_bias_grad(s.y_size(), s.K, dy, dbias);
}

void conv3d_fprop(const Conv3dShape& s, const double* x, const double* w, const double* bias,
                  double* y) {
  ref::conv3d_fprop(s, x, w, bias, y);
}
void conv3d_dgrad(const Conv3dShape& s, const double* dy, const double* w, double* dx) {
  ref::conv3d_dgrad(s, dy, w, dx);
}
void conv3d_wgrad(const Conv3dShape& s, const double* x, const double* dy, double* dw,
                  double* dbias) {
  ref::conv3d_wgrad(s, x, dy, dw, dbias);
}

}  // namespace ctv::kernels::fast
