// Naive 3-D convolution: the reference (spec) for every faster conv3d kernel.
//
// Layouts: x NDHWC, w KTRSC, y/dy NZPQK, bias/dbias K; dense, channels last, any alignment.
// Semantics: every output is overwritten (=): y by fprop, dx by dgrad, dw and dbias by wgrad.
// Each output element is one sum taken in double in a fixed loop order and rounded to the
// element type once, so float results are the double results rounded, and runs are
// bit-identical. All three are gathers (one writer per output element), the form a GPU
// kernel takes; they are deliberately direct, not fast.
#include "kernels/cpu/reference/conv3d.h"

#include "kernels/cpu/reference/conv_bias_grad.h"
#include "kernels/cpu/reference/shape_checks.h"

namespace ctv::kernels::ref {

std::size_t Conv3dShape::x_size() const { return static_cast<std::size_t>(N) * D * H * W * C; }
std::size_t Conv3dShape::w_size() const { return static_cast<std::size_t>(K) * T * R * S * C; }
std::size_t Conv3dShape::y_size() const {
  return static_cast<std::size_t>(N) * Z() * P() * Q() * K;
}

std::string Conv3dShape::describe() const {
  return detail::describe_window_shape(*this, "conv3d", detail::kConvFieldNames);
}

void Conv3dShape::validate() const {
  using namespace detail;
  require_window_fields(*this, kConvFieldNames);
  require_window_fits(*this, kConvFieldNames, "depth", D, pad_d, T);
  require_window_fits(*this, kConvFieldNames, "height", H, pad_h, R);
  require_window_fits(*this, kConvFieldNames, "width", W, pad_w, S);
}

using detail::require_nonnull;

template <typename Scalar>
void conv3d_fprop(const Conv3dShape& sh, const Scalar* x, const Scalar* w, const Scalar* bias,
                  Scalar* y) {
  sh.validate();
  require_nonnull("conv3d_fprop", x, w, y);
  const int Z = sh.Z(), P = sh.P(), Q = sh.Q();
  for (int n = 0; n < sh.N; ++n)
    for (int z = 0; z < Z; ++z)
      for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q)
          for (int k = 0; k < sh.K; ++k) {
            double acc = 0.0;
            for (int t = 0; t < sh.T; ++t) {
              const int d = window_in_coord(z, t, sh.stride_d, sh.pad_d);
              if (!in_range(d, sh.D)) continue;
              for (int r = 0; r < sh.R; ++r) {
                const int h = window_in_coord(p, r, sh.stride_h, sh.pad_h);
                if (!in_range(h, sh.H)) continue;
                for (int s = 0; s < sh.S; ++s) {
                  const int wi = window_in_coord(q, s, sh.stride_w, sh.pad_w);
                  if (!in_range(wi, sh.W)) continue;
                  const Scalar* xp = x + ndhwc_offset(n, d, h, wi, 0, sh.D, sh.H, sh.W, sh.C);
                  const Scalar* wp = w + ndhwc_offset(k, t, r, s, 0, sh.T, sh.R, sh.S, sh.C);
                  for (int c = 0; c < sh.C; ++c)
                    acc += static_cast<double>(xp[c]) * static_cast<double>(wp[c]);
                }
              }
            }
            if (bias) acc += static_cast<double>(bias[k]);
            y[ndhwc_offset(n, z, p, q, k, Z, P, Q, sh.K)] = static_cast<Scalar>(acc);
          }
}

template <typename Scalar>
void conv3d_dgrad(const Conv3dShape& sh, const Scalar* dy, const Scalar* w, Scalar* dx) {
  sh.validate();
  require_nonnull("conv3d_dgrad", dy, w, dx);
  const int Z = sh.Z(), P = sh.P(), Q = sh.Q();
  for (int n = 0; n < sh.N; ++n)
    for (int d = 0; d < sh.D; ++d)
      for (int h = 0; h < sh.H; ++h)
        for (int wi = 0; wi < sh.W; ++wi)
          for (int c = 0; c < sh.C; ++c) {
            double acc = 0.0;
            // The outputs whose window reads (d, h, wi), and through which tap.
            for (int t = 0; t < sh.T; ++t) {
              const int z = window_out_coord(d, t, sh.stride_d, sh.pad_d, Z);
              if (z < 0) continue;
              for (int r = 0; r < sh.R; ++r) {
                const int p = window_out_coord(h, r, sh.stride_h, sh.pad_h, P);
                if (p < 0) continue;
                for (int s = 0; s < sh.S; ++s) {
                  const int q = window_out_coord(wi, s, sh.stride_w, sh.pad_w, Q);
                  if (q < 0) continue;
                  const Scalar* dyp = dy + ndhwc_offset(n, z, p, q, 0, Z, P, Q, sh.K);
                  for (int k = 0; k < sh.K; ++k)
                    acc +=
                        static_cast<double>(dyp[k]) *
                        static_cast<double>(w[ndhwc_offset(k, t, r, s, c, sh.T, sh.R, sh.S, sh.C)]);
                }
              }
            }
            dx[ndhwc_offset(n, d, h, wi, c, sh.D, sh.H, sh.W, sh.C)] = static_cast<Scalar>(acc);
          }
}

template <typename Scalar>
void conv3d_wgrad(const Conv3dShape& sh, const Scalar* x, const Scalar* dy, Scalar* dw,
                  Scalar* dbias) {
  sh.validate();
  require_nonnull("conv3d_wgrad", x, dy, dw);
  const int Z = sh.Z(), P = sh.P(), Q = sh.Q();
  for (int k = 0; k < sh.K; ++k)
    for (int t = 0; t < sh.T; ++t)
      for (int r = 0; r < sh.R; ++r)
        for (int s = 0; s < sh.S; ++s)
          for (int c = 0; c < sh.C; ++c) {
            double acc = 0.0;
            for (int n = 0; n < sh.N; ++n)
              for (int z = 0; z < Z; ++z) {
                const int d = window_in_coord(z, t, sh.stride_d, sh.pad_d);
                if (!in_range(d, sh.D)) continue;
                for (int p = 0; p < P; ++p) {
                  const int h = window_in_coord(p, r, sh.stride_h, sh.pad_h);
                  if (!in_range(h, sh.H)) continue;
                  for (int q = 0; q < Q; ++q) {
                    const int wi = window_in_coord(q, s, sh.stride_w, sh.pad_w);
                    if (!in_range(wi, sh.W)) continue;
                    acc += static_cast<double>(dy[ndhwc_offset(n, z, p, q, k, Z, P, Q, sh.K)]) *
                           static_cast<double>(
                               x[ndhwc_offset(n, d, h, wi, c, sh.D, sh.H, sh.W, sh.C)]);
                  }
                }
              }
            dw[ndhwc_offset(k, t, r, s, c, sh.T, sh.R, sh.S, sh.C)] = static_cast<Scalar>(acc);
          }
  if (dbias) detail::conv_bias_grad(sh.y_size(), sh.K, dy, dbias);
}

#define CTV_INSTANTIATE(Scalar)                                                                  \
  template void conv3d_fprop<Scalar>(const Conv3dShape&, const Scalar*, const Scalar*,           \
                                     const Scalar*, Scalar*);                                    \
  template void conv3d_dgrad<Scalar>(const Conv3dShape&, const Scalar*, const Scalar*, Scalar*); \
  template void conv3d_wgrad<Scalar>(const Conv3dShape&, const Scalar*, const Scalar*, Scalar*,  \
                                     Scalar*);
CTV_INSTANTIATE(float)
CTV_INSTANTIATE(double)
#undef CTV_INSTANTIATE

}  // namespace ctv::kernels::ref
