// Naive 3-D max pooling, the reference every faster pooling kernel is tested against.
//
// Layouts (dense, channels last): x [N][D][H][W][C], y and argmax [N][Z][P][Q][C].
// y[n,z,p,q,c] = max over t<T, r<R, s<S of x[n, z*sd-pd+t, p*sh-ph+r, q*sw-pw+s, c]; padding
// counts as -inf, so it never wins (every window holds at least one real element because
// validate() demands pad <= kernel/2, as PyTorch does). Output size in floor mode (PyTorch's
// ceil_mode=False). argmax holds the flat NDHWC index into x of the winning element.
// Ties: the FIRST maximum in window scan order (t, then r, then s) wins, as PyTorch on CPU.
// NaN propagates: a NaN counts as larger than every number, and the first NaN in scan order
// wins (PyTorch's CPU kernel takes the last NaN; only the argmax of such windows differs).
// Outputs are overwritten (=): y, argmax by fprop; dx by bprop (overlapping windows whose
// maximum is the same element add their dy into it, summed in double in a fixed order).
// Scalar is float or double (the instantiations in max_pool3d.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/common.h"

namespace ctv::kernels::ref {

struct MaxPool3dShape {
  int N, D, H, W, C;  // input batch, depth, height, width, channels
  int T, R, S;        // window depth, height, width
  int stride_d, stride_h, stride_w;
  int pad_d = 0, pad_h = 0, pad_w = 0;  // -inf padding on both sides

  // Output depth, height, width: (D + 2*pad_d - T)/stride_d + 1 etc. (floor).
  CTV_HD int Z() const { return window_out_size(D, T, stride_d, pad_d); }
  CTV_HD int P() const { return window_out_size(H, R, stride_h, pad_h); }
  CTV_HD int Q() const { return window_out_size(W, S, stride_w, pad_w); }
  std::size_t x_size() const;  // N*D*H*W*C
  std::size_t y_size() const;  // N*Z*P*Q*C
  // ensures: returns iff every size and stride is positive, 0 <= pad <= window/2 on each axis
  //          and the output is non-empty; otherwise throws std::invalid_argument saying why.
  void validate() const;
  std::string describe() const;
};

// One output and one input element at a time, host and device (the reference's loops and the
// CUDA kernels, kernels/cuda/ops.h, both call these):
// Whether candidate v displaces the current maximum m: strictly larger, or the first NaN.
template <typename Scalar>
CTV_HD inline bool max_pool_takes(Scalar v, Scalar m) {
  return v > m || (v != v && m == m);  // v != v: v is NaN
}
// The maximum of output element (n, z, p, q, c)'s window, scanned in window order, into best;
// returns its flat index into x. requires: sh valid (every window holds a real element).
template <typename Scalar>
CTV_HD inline std::int64_t max_pool_window(const MaxPool3dShape& sh, const Scalar* x,
                                           std::int64_t n, int z, int p, int q, int c,
                                           Scalar& best) {
  std::int64_t best_index = -1;
  best = Scalar(0);
  for (int t = 0; t < sh.T; ++t) {
    const int d = window_in_coord(z, t, sh.stride_d, sh.pad_d);
    if (!in_range(d, sh.D)) continue;
    for (int r = 0; r < sh.R; ++r) {
      const int h = window_in_coord(p, r, sh.stride_h, sh.pad_h);
      if (!in_range(h, sh.H)) continue;
      for (int s = 0; s < sh.S; ++s) {
        const int wi = window_in_coord(q, s, sh.stride_w, sh.pad_w);
        if (!in_range(wi, sh.W)) continue;
        const std::int64_t i = ndhwc_offset(n, d, h, wi, c, sh.D, sh.H, sh.W, sh.C);
        if (best_index < 0 || max_pool_takes(x[i], best)) {
          best = x[i];
          best_index = i;
        }
      }
    }
  }
  return best_index;
}
// dx of input element (n, d, h, wi, c): the sum in double, in window order, of dy over the
// windows holding it whose argmax is it.
template <typename Scalar>
CTV_HD inline double max_pool_gather(const MaxPool3dShape& sh, const Scalar* dy,
                                     const std::int64_t* argmax, std::int64_t n, int d, int h,
                                     int wi, int c) {
  const int Z = sh.Z(), P = sh.P(), Q = sh.Q();
  const std::int64_t i = ndhwc_offset(n, d, h, wi, c, sh.D, sh.H, sh.W, sh.C);
  double acc = 0.0;
  for (int t = 0; t < sh.T; ++t) {
    const int z = window_out_coord(d, t, sh.stride_d, sh.pad_d, Z);
    if (z < 0) continue;
    for (int r = 0; r < sh.R; ++r) {
      const int p = window_out_coord(h, r, sh.stride_h, sh.pad_h, P);
      if (p < 0) continue;
      for (int s = 0; s < sh.S; ++s) {
        const int q = window_out_coord(wi, s, sh.stride_w, sh.pad_w, Q);
        if (q < 0) continue;
        const std::int64_t o = ndhwc_offset(n, z, p, q, c, Z, P, Q, sh.C);
        if (argmax[o] == i) acc += static_cast<double>(dy[o]);
      }
    }
  }
  return acc;
}

// requires: shape.validate() passes (checked: throws std::invalid_argument); x, y non-null
//           (checked) with x_size(), y_size() elements; argmax null or y_size() elements;
//           outputs overlap no input.
// ensures:  y = window maxima (ties and NaN as above); argmax, when non-null, = flat index in
//           [0, x_size()) of each maximum, inside its window. Only those elements are written.
template <typename Scalar>
void max_pool3d_fprop(const MaxPool3dShape& shape, const Scalar* x, Scalar* y,
                      std::int64_t* argmax);

// requires: shape.validate() passes (checked); dy, argmax, dx non-null (checked); argmax as
//           written by max_pool3d_fprop for this shape (an entry pointing outside its own
//           window is ignored); dx has x_size() elements and overlaps no input.
// ensures:  dx[i] = sum of dy[o] over outputs o with argmax[o] == i, 0 where there is none;
//           only dx's x_size() elements are written.
template <typename Scalar>
void max_pool3d_bprop(const MaxPool3dShape& shape, const Scalar* dy, const std::int64_t* argmax,
                      Scalar* dx);

}  // namespace ctv::kernels::ref
