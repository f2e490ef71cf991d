// Fast CPU 3-D transposed convolution (see conv_transpose3d.h). The no-overlap fprop is the
// scatter GEMM of conv_microkernels.h; everything else reuses conv3d.h through
// as_forward_conv(), whose KTRSC weight is our CTRSK weight.
//
// Invariants: x, dx NDHWC (C channels); w, dw [C][T][R][S][K]; y, dy NZPQK; dense, any
// alignment; outputs overwritten.
#include "kernels/cpu/fast/conv_transpose3d.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/fast/conv3d.h"
#include "kernels/cpu/fast/conv_support.h"
#include "kernels/cpu/fast/parallel.h"
#include "kernels/cpu/reference/conv_bias_grad.h"

namespace ctv::kernels::fast {

using detail::require_nonnull;

void conv_transpose3d_fprop(const ConvTranspose3dShape& s, const float* x, const float* w,
                            const float* bias, float* y) {
  s.validate();
  require_nonnull("conv_transpose3d_fprop", x, w, y);
  const ConvMicrokernels& mk = conv_microkernels_for_channels(s.K, s.K);
  const bool no_overlap = s.stride_d == s.T && s.stride_h == s.R && s.stride_w == s.S &&
                          s.pad_d == 0 && s.pad_h == 0 && s.pad_w == 0;
  if (!no_overlap || s.K % mk.vec_width != 0) {
    conv3d_dgrad(s.as_forward_conv(), x, w, y);
    if (bias) {
      const std::int64_t pixels = static_cast<std::int64_t>(s.y_size()) / s.K;
      parallel_for(pixels, 4096, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i)
          for (int k = 0; k < s.K; ++k) y[i * s.K + k] += bias[k];
      });
    }
    return;
  }
  const int cols = s.T * s.R * s.S * s.K;
  const FloatBuffer wp = pack_weight_panels(mk, w, cols, s.C, 1, cols);
  std::vector<float> bias_cols;
  if (bias) {
    bias_cols.resize(static_cast<std::size_t>(cols));
    for (int c = 0; c < cols; ++c) bias_cols[static_cast<std::size_t>(c)] = bias[c % s.K];
  }
  ScatterGemmArgs a{};
  a.x = x;
  a.D = s.D, a.H = s.H, a.W = s.W, a.C = s.C;
  a.T = s.T, a.R = s.R, a.S = s.S, a.K = s.K;
  a.wpack = wp.get();
  a.bias_cols = bias ? bias_cols.data() : nullptr;
  a.y = y;
  const std::int64_t rows = std::int64_t(s.N) * s.D * s.H;
  const std::int64_t work_per_row = std::int64_t(s.W) * cols * s.C;
  const std::int64_t grain = std::max<std::int64_t>(1, (1 << 18) / work_per_row);
  parallel_for(rows, grain, [&](std::int64_t b, std::int64_t e) { mk.scatter_gemm_rows(a, b, e); });
}

void conv_transpose3d_dgrad(const ConvTranspose3dShape& s, const float* dy, const float* w,
                            float* dx) {
  s.validate();
  require_nonnull("conv_transpose3d_dgrad", dy, w, dx);
  conv3d_fprop(s.as_forward_conv(), dy, w, nullptr, dx);
}

void conv_transpose3d_wgrad(const ConvTranspose3dShape& s, const float* x, const float* dy,
                            float* dw, float* dbias) {
  s.validate();
  require_nonnull("conv_transpose3d_wgrad", x, dy, dw);
  // The forward convolution's wgrad: its input is our dy, its output gradient our x, and its
  // KTRSC dw is our CTRSK dw.
  conv3d_wgrad(s.as_forward_conv(), dy, x, dw, nullptr);
  if (dbias) detail::conv_bias_grad(s.y_size(), s.K, dy, dbias);
}

void conv_transpose3d_fprop(const ConvTranspose3dShape& s, const double* x, const double* w,
                            const double* bias, double* y) {
  ref::conv_transpose3d_fprop(s, x, w, bias, y);
}
void conv_transpose3d_dgrad(const ConvTranspose3dShape& s, const double* dy, const double* w,
                            double* dx) {
  ref::conv_transpose3d_dgrad(s, dy, w, dx);
}
void conv_transpose3d_wgrad(const ConvTranspose3dShape& s, const double* x, const double* dy,
                            double* dw, double* dbias) {
  ref::conv_transpose3d_wgrad(s, x, dy, dw, dbias);
}

}  // namespace ctv::kernels::fast
