// Naive 3-D transposed convolution ("deconvolution", the U-Net's up-sampling), the reference
// every faster transposed-conv kernel is tested against.
//
// Layouts (dense, channels last):
//   x  [N][D][H][W][C]   (NDHWC, C input channels)
//   w  [C][T][R][S][K]   (K output channels)
//   y  [N][Z][P][Q][K]   (NZPQK)     bias, dbias [K]
// y[n, d*sd-pd+t, h*sh-ph+r, w*sw-pw+s, k] += x[n,d,h,w,c] * wt[c,t,r,s,k] over all in-range
// targets, plus bias[k]: exactly PyTorch's ConvTranspose3d with output_padding 0, dilation 1,
// groups 1. It is the dgrad of the forward convolution Conv3dShape{N, Z,P,Q, C=K, K=C, T,R,S,
// same stride and pad} (see as_forward_conv), whose KTRSC weight is our [C][T][R][S][K].
// Weight mapping to PyTorch's ConvTranspose3d.weight of shape (C_in, C_out, T, R, S):
//   ours[c][t][r][s][k] = torch[c][k][t][r][s].
// Every output is overwritten (=). Sums are taken in double, in a fixed order, rounded once.
// Scalar is float or double (the instantiations in conv_transpose3d.cpp).
#pragma once
#include <cstddef>
#include <string>

#include "kernels/common.h"
#include "kernels/cpu/reference/conv3d.h"

namespace ctv::kernels::ref {

struct ConvTranspose3dShape {
  int N, D, H, W, C;  // input batch, depth, height, width, channels
  int K;              // output channels
  int T, R, S;        // kernel depth, height, width
  int stride_d = 1, stride_h = 1, stride_w = 1;
  int pad_d = 0, pad_h = 0, pad_w = 0;  // cropped from each side of the full output

  // Output depth, height, width: (D-1)*stride_d - 2*pad_d + T etc.
  CTV_HD int Z() const { return transposed_out_size(D, T, stride_d, pad_d); }
  CTV_HD int P() const { return transposed_out_size(H, R, stride_h, pad_h); }
  CTV_HD int Q() const { return transposed_out_size(W, S, stride_w, pad_w); }
  std::size_t x_size() const;  // N*D*H*W*C
  std::size_t w_size() const;  // C*T*R*S*K
  std::size_t y_size() const;  // N*Z*P*Q*K
  // ensures: returns iff every size and stride is positive, every pad non-negative and the
  //          output non-empty; otherwise throws std::invalid_argument saying which and why.
  void validate() const;
  std::string describe() const;
  // The forward convolution whose dgrad this op is (its input is our output, its K our C).
  // Its output size equals our D, H, W whenever validate() passes.
  Conv3dShape as_forward_conv() const;
};

// requires: shape.validate() passes (checked: throws std::invalid_argument); x, w, y non-null
//           (checked) with x_size(), w_size(), y_size() elements; bias null or K elements;
//           y overlaps no input.
// ensures:  y = conv_transpose(x, w) + bias; only y's y_size() elements are written.
template <typename Scalar>
void conv_transpose3d_fprop(const ConvTranspose3dShape& shape, const Scalar* x, const Scalar* w,
                            const Scalar* bias, Scalar* y);

// requires: as fprop; dy has y_size() elements, dx x_size(); dx overlaps no input.
// ensures:  dx = d<y, dy>/dx, i.e. the forward convolution of dy with w (as_forward_conv);
//           only dx's x_size() elements are written.
template <typename Scalar>
void conv_transpose3d_dgrad(const ConvTranspose3dShape& shape, const Scalar* dy, const Scalar* w,
                            Scalar* dx);

// requires: as fprop; x has x_size() elements, dy y_size(), dw w_size(), dbias null or K.
// ensures:  dw[c,t,r,s,k] = sum_{n,d,h,w} x[n,d,h,w,c] * dy[n, d*sd-pd+t, ..., k] over in-range
//           targets; dbias[k] = sum_{n,z,p,q} dy[n,z,p,q,k] when non-null; only those written.
template <typename Scalar>
void conv_transpose3d_wgrad(const ConvTranspose3dShape& shape, const Scalar* x, const Scalar* dy,
                            Scalar* dw, Scalar* dbias);

}  // namespace ctv::kernels::ref
