// Naive 3-D convolution, the reference every faster conv3d kernel is tested against.
//
// Layouts (dense, channels last, no alignment requirement):
//   x  [N][D][H][W][C]   (NDHWC)     w  [K][T][R][S][C]   (KTRSC)
//   y  [N][Z][P][Q][K]   (NZPQK)     bias, dbias [K]
// y[n,z,p,q,k] = bias[k] + sum_{t,r,s,c} x[n, z*sd-pd+t, p*sh-ph+r, q*sw-pw+s, c] * w[k,t,r,s,c]
// with zero padding (cross-correlation, as PyTorch's Conv3d). Implicit-GEMM view (CUTLASS):
//   fprop M=N*Z*P*Q, N=K, K=T*R*S*C; dgrad M=N*D*H*W, N=C, K=T*R*S*K; wgrad M=K, N=T*R*S*C,
//   K=N*Z*P*Q.
// Every output is overwritten (=), never accumulated into. Sums are taken in double whatever
// the element type, in a fixed order, and rounded once: the result is deterministic.
// Scalar is float or double (the instantiations in conv3d.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/common.h"

namespace ctv::kernels::ref {

struct Conv3dShape {
  int N, D, H, W, C;  // input batch, depth, height, width, channels
  int K;              // output channels
  int T, R, S;        // kernel depth, height, width
  int stride_d = 1, stride_h = 1, stride_w = 1;
  int pad_d = 0, pad_h = 0, pad_w = 0;  // zero padding on both sides

  // Output depth, height, width: (D + 2*pad_d - T)/stride_d + 1 etc.; 0 when the kernel does
  // not fit the padded input.
  CTV_HD int Z() const { return window_out_size(D, T, stride_d, pad_d); }
  CTV_HD int P() const { return window_out_size(H, R, stride_h, pad_h); }
  CTV_HD int Q() const { return window_out_size(W, S, stride_w, pad_w); }
  std::size_t x_size() const;  // N*D*H*W*C
  std::size_t w_size() const;  // K*T*R*S*C
  std::size_t y_size() const;  // N*Z*P*Q*K
  // ensures: returns iff every size and stride is positive, every pad non-negative and the
  //          output non-empty; otherwise throws std::invalid_argument saying which and why.
  void validate() const;
  // "conv3d N=1 DHW=5x5x5 C=1 K=1 TRS=3x3x3 stride=1,1,1 pad=0,0,0": for messages and names.
  std::string describe() const;
};

// requires: shape.validate() passes (checked: throws std::invalid_argument); x, w, y non-null
//           (checked) with x_size(), w_size(), y_size() elements; bias null or K elements;
//           y overlaps no input.
// ensures:  y = conv(x, w) + bias (bias taken as 0 when null); only y's y_size() are written.
template <typename Scalar>
void conv3d_fprop(const Conv3dShape& shape, const Scalar* x, const Scalar* w, const Scalar* bias,
                  Scalar* y);

// requires: as fprop; dy has y_size() elements, dx has x_size(); dx overlaps no input.
// ensures:  dx = d<y, dy>/dx = the transposed convolution of dy with w (padding contributes
//           nothing); only dx's x_size() elements are written.
template <typename Scalar>
void conv3d_dgrad(const Conv3dShape& shape, const Scalar* dy, const Scalar* w, Scalar* dx);

// requires: as fprop; x has x_size() elements, dy y_size(), dw w_size(), dbias null or K.
// ensures:  dw[k,t,r,s,c] = sum_{n,z,p,q} dy[n,z,p,q,k] * x[n, z*sd-pd+t, ..., c] (padding
//           reads 0); dbias[k] = sum_{n,z,p,q} dy[n,z,p,q,k] when dbias is non-null; only
//           those elements are written.
template <typename Scalar>
void conv3d_wgrad(const Conv3dShape& shape, const Scalar* x, const Scalar* dy, Scalar* dw,
                  Scalar* dbias);

}  // namespace ctv::kernels::ref
