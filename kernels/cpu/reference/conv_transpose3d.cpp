// Naive 3-D transposed convolution: the reference (spec) for every faster kernel of this op.
//
// Layouts: x NDHWC (C input channels), w [C][T][R][S][K], y/dy NZPQK, bias/dbias K; dense.
// Semantics: every output is overwritten (=): y by fprop, dx by dgrad, dw and dbias by wgrad.
// Each output element is one sum taken in double in a fixed order and rounded once.
// Written from the definition (y[n, d*sd-pd+t, ...] += x[n,d,...] * w[c,t,...,k]) as gathers,
// not by calling conv3d's kernels: the tests equate the two, which checks both.
#include "kernels/cpu/reference/conv_transpose3d.h"

#include "kernels/cpu/reference/conv_bias_grad.h"
#include "kernels/cpu/reference/shape_checks.h"

namespace ctv::kernels::ref {

std::size_t ConvTranspose3dShape::x_size() const {
  return static_cast<std::size_t>(N) * D * H * W * C;
}
std::size_t ConvTranspose3dShape::w_size() const {
  return static_cast<std::size_t>(C) * T * R * S * K;
}
std::size_t ConvTranspose3dShape::y_size() const {
  return static_cast<std::size_t>(N) * Z() * P() * Q() * K;
}

std::string ConvTranspose3dShape::describe() const {
  return detail::describe_window_shape(*this, "conv_transpose3d", detail::kConvFieldNames);
}

void ConvTranspose3dShape::validate() const {
  using namespace detail;
  require_window_fields(*this, kConvFieldNames);
  const struct {
    const char *axis, *pad_name;
    int pad, out;
  } axes[] = {{"depth", "pad_d", pad_d, Z()},
              {"height", "pad_h", pad_h, P()},
              {"width", "pad_w", pad_w, Q()}};
  for (const auto& a : axes)
    if (a.out <= 0)
      fail_shape(*this, std::string(a.pad_name) + " " + std::to_string(a.pad) +
                            " crops away the whole output " + a.axis + " (" +
                            std::to_string(a.out + 2 * a.pad) + " before cropping)");
}

Conv3dShape ConvTranspose3dShape::as_forward_conv() const {
  return Conv3dShape{.N = N,
                     .D = Z(),
                     .H = P(),
                     .W = Q(),
                     .C = K,
                     .K = C,
                     .T = T,
                     .R = R,
                     .S = S,
                     .stride_d = stride_d,
                     .stride_h = stride_h,
                     .stride_w = stride_w,
                     .pad_d = pad_d,
                     .pad_h = pad_h,
                     .pad_w = pad_w};
}

using detail::require_nonnull;

template <typename Scalar>
void conv_transpose3d_fprop(const ConvTranspose3dShape& sh, const Scalar* x, const Scalar* w,
                            const Scalar* bias, Scalar* y) {
  sh.validate();
  require_nonnull("conv_transpose3d_fprop", x, w, y);
  const int Z = sh.Z(), P = sh.P(), Q = sh.Q();
  for (int n = 0; n < sh.N; ++n)
    for (int z = 0; z < Z; ++z)
      for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q)
          for (int k = 0; k < sh.K; ++k) {
            double acc = 0.0;
            // The inputs that scatter into (z, p, q), and through which tap.
            for (int t = 0; t < sh.T; ++t) {
              const int d = window_out_coord(z, t, sh.stride_d, sh.pad_d, sh.D);
              if (d < 0) continue;
              for (int r = 0; r < sh.R; ++r) {
                const int h = window_out_coord(p, r, sh.stride_h, sh.pad_h, sh.H);
                if (h < 0) continue;
                for (int s = 0; s < sh.S; ++s) {
                  const int wi = window_out_coord(q, s, sh.stride_w, sh.pad_w, sh.W);
                  if (wi < 0) continue;
                  const Scalar* xp = x + ndhwc_offset(n, d, h, wi, 0, sh.D, sh.H, sh.W, sh.C);
                  for (int c = 0; c < sh.C; ++c)
                    acc +=
                        static_cast<double>(xp[c]) *
                        static_cast<double>(w[ndhwc_offset(c, t, r, s, k, sh.T, sh.R, sh.S, sh.K)]);
                }
              }
            }
            if (bias) acc += static_cast<double>(bias[k]);
            y[ndhwc_offset(n, z, p, q, k, Z, P, Q, sh.K)] = static_cast<Scalar>(acc);
          }
}

template <typename Scalar>
void conv_transpose3d_dgrad(const ConvTranspose3dShape& sh, const Scalar* dy, const Scalar* w,
                            Scalar* dx) {
  sh.validate();
  require_nonnull("conv_transpose3d_dgrad", dy, w, dx);
  const int Z = sh.Z(), P = sh.P(), Q = sh.Q();
  for (int n = 0; n < sh.N; ++n)
    for (int d = 0; d < sh.D; ++d)
      for (int h = 0; h < sh.H; ++h)
        for (int wi = 0; wi < sh.W; ++wi)
          for (int c = 0; c < sh.C; ++c) {
            double acc = 0.0;
            for (int t = 0; t < sh.T; ++t) {
              const int z = window_in_coord(d, t, sh.stride_d, sh.pad_d);
              if (!in_range(z, Z)) continue;
              for (int r = 0; r < sh.R; ++r) {
                const int p = window_in_coord(h, r, sh.stride_h, sh.pad_h);
                if (!in_range(p, P)) continue;
                for (int s = 0; s < sh.S; ++s) {
                  const int q = window_in_coord(wi, s, sh.stride_w, sh.pad_w);
                  if (!in_range(q, Q)) continue;
                  const Scalar* dyp = dy + ndhwc_offset(n, z, p, q, 0, Z, P, Q, sh.K);
                  const Scalar* wp = w + ndhwc_offset(c, t, r, s, 0, sh.T, sh.R, sh.S, sh.K);
                  for (int k = 0; k < sh.K; ++k)
                    acc += static_cast<double>(dyp[k]) * static_cast<double>(wp[k]);
                }
              }
            }
            dx[ndhwc_offset(n, d, h, wi, c, sh.D, sh.H, sh.W, sh.C)] = static_cast<Scalar>(acc);
          }
}

template <typename Scalar>
void conv_transpose3d_wgrad(const ConvTranspose3dShape& sh, const Scalar* x, const Scalar* dy,
                            Scalar* dw, Scalar* dbias) {
  sh.validate();
  require_nonnull("conv_transpose3d_wgrad", x, dy, dw);
  const int Z = sh.Z(), P = sh.P(), Q = sh.Q();
  for (int c = 0; c < sh.C; ++c)
    for (int t = 0; t < sh.T; ++t)
      for (int r = 0; r < sh.R; ++r)
        for (int s = 0; s < sh.S; ++s)
          for (int k = 0; k < sh.K; ++k) {
            double acc = 0.0;
            for (int n = 0; n < sh.N; ++n)
              for (int d = 0; d < sh.D; ++d) {
                const int z = window_in_coord(d, t, sh.stride_d, sh.pad_d);
                if (!in_range(z, Z)) continue;
                for (int h = 0; h < sh.H; ++h) {
                  const int p = window_in_coord(h, r, sh.stride_h, sh.pad_h);
                  if (!in_range(p, P)) continue;
                  for (int wi = 0; wi < sh.W; ++wi) {
                    const int q = window_in_coord(wi, s, sh.stride_w, sh.pad_w);
                    if (!in_range(q, Q)) continue;
                    acc += static_cast<double>(
                               x[ndhwc_offset(n, d, h, wi, c, sh.D, sh.H, sh.W, sh.C)]) *
                           static_cast<double>(dy[ndhwc_offset(n, z, p, q, k, Z, P, Q, sh.K)]);
                  }
                }
              }
            dw[ndhwc_offset(c, t, r, s, k, sh.T, sh.R, sh.S, sh.K)] = static_cast<Scalar>(acc);
          }
  if (dbias) detail::conv_bias_grad(sh.y_size(), sh.K, dy, dbias);
}

#define CTV_INSTANTIATE(Scalar)                                                            \
  template void conv_transpose3d_fprop<Scalar>(const ConvTranspose3dShape&, const Scalar*, \
                                               const Scalar*, const Scalar*, Scalar*);     \
  template void conv_transpose3d_dgrad<Scalar>(const ConvTranspose3dShape&, const Scalar*, \
                                               const Scalar*, Scalar*);                    \
  template void conv_transpose3d_wgrad<Scalar>(const ConvTranspose3dShape&, const Scalar*, \
                                               const Scalar*, Scalar*, Scalar*);
CTV_INSTANTIATE(float)
CTV_INSTANTIATE(double)
#undef CTV_INSTANTIATE

}  // namespace ctv::kernels::ref
