// The differentiable ops of the U-Net, on Vars (engine/autograd.h).
//
// Conventions for every op here:
// - Activations NDHWC ([N][D][H][W][C], channels last), conv weights KTRSC, transposed-conv
//   weights CTRSK ([C_in][T][R][S][C_out]), per-channel vectors [C]. Losses return a scalar
//   (rank 0). All tensors of one call share one dtype (f32 or f64) and one device (checked:
//   std::invalid_argument naming the op, the argument and the shapes).
// - Inputs may be channel-slice views; ops copy them to dense buffers only when a kernel needs
//   it. Outputs are dense, freshly allocated (concat_channels may return a view, see there).
// - Each op dispatches on the device tag to a backend kernel (engine/ops_dispatch.h); today
//   the fast CPU kernels of kernels/cpu/fast for float32, the reference kernels of
//   kernels/cpu/reference for float64 or under CTV_CPU_KERNELS=reference (fixed-order chunked
//   reductions on both: results do not depend on the thread count).
// - Gradients: each op's backward produces fresh contributions that the engine ACCUMULATES
//   into its inputs' grads (+=; see engine/autograd.h). Nothing an op does overwrites a grad.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/autograd.h"

namespace ctv {

// Strides and zero padding of conv3d and conv_transpose3d (kernel size comes from the weight).
// PyTorch's semantics: dilation 1, groups 1, output_padding 0.
struct Conv3dParams {
  int stride_d = 1, stride_h = 1, stride_w = 1;
  int pad_d = 0, pad_h = 0, pad_w = 0;
  static Conv3dParams uniform(int stride, int pad) {
    return {stride, stride, stride, pad, pad, pad};
  }
};

// y[n,z,p,q,k] = b[k] + sum_{t,r,s,c} x[n, z*sd-pd+t, p*sh-ph+r, q*sw-pw+s, c] * w[k,t,r,s,c]
// requires: x [N,D,H,W,C]; w [K,T,R,S,C]; b undefined (no bias) or [K]; the output non-empty.
// ensures:  y [N,Z,P,Q,K], Z = (D + 2*pd - T)/sd + 1 etc.
// backward: dx (conv dgrad), dw (conv wgrad), db = sum of dy over N,Z,P,Q (chunked).
Var conv3d(const Var& x, const Var& w, const Var& b, const Conv3dParams& p = {});

// PyTorch's ConvTranspose3d. requires: x [N,D,H,W,C]; w [C,T,R,S,K]; b undefined or [K].
// ensures: y [N,Z,P,Q,K], Z = (D-1)*sd - 2*pd + T etc.
// backward: dx (a forward conv of dy), dw, db = sum of dy over N,Z,P,Q (chunked).
Var conv_transpose3d(const Var& x, const Var& w, const Var& b, const Conv3dParams& p = {});

struct Pool3dParams {
  int kernel_d = 2, kernel_h = 2, kernel_w = 2;
  int stride_d = 2, stride_h = 2, stride_w = 2;
  int pad_d = 0, pad_h = 0, pad_w = 0;  // -inf padding; pad <= kernel/2
  static Pool3dParams cube(int kernel, int stride, int pad = 0) {
    return {kernel, kernel, kernel, stride, stride, stride, pad, pad, pad};
  }
};

// Max pooling, floor mode. Ties: the FIRST maximum in window scan order (t, r, s) wins and
// alone receives the gradient (PyTorch CPU). requires: x [N,D,H,W,C].
// backward: dx[i] = sum of dy over the windows whose winner is i.
Var max_pool3d(const Var& x, const Pool3dParams& p = Pool3dParams{});

// Running estimates and settings of one batch-norm layer (PyTorch's BatchNorm3d).
struct BatchNormState {
  Tensor running_mean;  // [C], starts at 0
  Tensor running_var;   // [C], starts at 1
  double momentum = 0.1;
  double eps = 1e-5;
  std::int64_t num_batches_tracked = 0;
  // ensures: running_mean zeros, running_var ones, [C] of dtype.
  static BatchNormState create(std::int64_t channels, DType dtype = DType::f32);
};

// Batch norm over N,D,H,W per channel, y = gamma * (x - mu) / sqrt(var + eps) + beta.
// training: mu, var = batch mean and BIASED batch variance (M = N*D*H*W values per channel);
//   then running_mean = (1-momentum)*running_mean + momentum*mu and
//   running_var = (1-momentum)*running_var + momentum*var*M/(M-1) (UNBIASED), and
//   num_batches_tracked += 1; the state is updated in training whether grad mode is on or not.
//   requires M > 1 (checked, as PyTorch).
// !training: mu, var = the running estimates; state untouched.
// requires: x [N,D,H,W,C] (any rank >= 1 works: the last dim is the channel); gamma, beta [C];
//           state's running tensors [C].
// backward: dx, dgamma = sum dy * xhat, dbeta = sum dy (all chunked); in training dx includes
//           the terms through mu and var.
Var batch_norm3d(const Var& x, const Var& gamma, const Var& beta, BatchNormState& state,
                 bool training);

// relu(batch_norm3d(x, ...)) as one op: the same values, gradients and state updates as the
// pair (bit for bit on the reference kernels; the fast ones normalise and rectify in one pass
// and never store the ReLU's gradient). Saved for backward: x and the output.
// overwrite_input: when no graph is recorded (inference mode, grad mode off, or nothing
//   requires grad) and x is dense, the result is written over x's storage and shares it, so
//   x, and every Var or Tensor sharing that storage, then holds the result: one activation
//   buffer instead of two. Otherwise (a graph is recorded, or x is a view) a fresh output.
Var batch_norm_relu3d(const Var& x, const Var& gamma, const Var& beta, BatchNormState& state,
                      bool training, bool overwrite_input = false);

// y = max(x, 0). The gradient at exactly x = 0 is 0 (dy passes where y > 0 only).
Var relu(const Var& x);
// y = 1 / (1 + exp(-x)); backward dx = dy * y * (1 - y).
Var sigmoid(const Var& x);

// Channel concatenation, input order preserved: [.., C_a] ++ [.., C_b] -> [.., C_a + C_b].
// requires: at least one input; all shapes equal except the last dimension.
// ensures: when the inputs are adjacent channel slices (in order) of one storage, the result
//          is a view over them (no copy); otherwise a dense copy.
// backward: input i gets the matching channel range of dy.
Var concat_channels(const std::vector<Var>& inputs);

// View of channels [c0, c1) (no copy). backward: dx = dy in those channels, 0 elsewhere.
Var slice_channels(const Var& x, std::int64_t c0, std::int64_t c1);

// AM-GM (soft Dice) loss over all elements of the batch:
//   L = 1 - (2 * sum p*g + eps) / (sum (p^2 + g^2) + eps).
// requires: p, g same shape; eps > 0 keeps L defined for empty masks.
// backward: dp = -(2 g * S - 2 p * I') / S^2 * dL with I' = 2 sum p g + eps and S the
//           denominator; dg symmetric (g may be a constant target: then no dg).
Var amgm_loss(const Var& p, const Var& g, double eps = 1e-5);

// Binary cross entropy, mean over all n elements, as PyTorch's BCELoss:
//   L = -(1/n) sum [ g log p + (1 - g) log(1 - p) ], each log clamped at >= -100.
// backward (PyTorch's): dp = dL * (p - g) / max(p (1 - p), 1e-12) / n;
//           dg = -dL * (log p - log(1 - p)) / n with the clamped logs.
Var bce_loss(const Var& p, const Var& g);

// Weighted BCE, the weight on background:
//   L = -(1/n) sum [ g log p + w_bg (1 - g) log(1 - p) ],   logs clamped at >= -100,
// i.e. for binary g each background voxel's BCE term is multiplied by w_bg; normalised by the
// voxel count n (not by the sum of weights). w_bg = 1 is bce_loss exactly.
// backward: dp = dL * (w_bg (1 - g) p - g (1 - p)) / max(p (1 - p), 1e-12) / n (= PyTorch's BCE
//           gradient for w_bg = 1); dg = -dL * (log p - w_bg log(1 - p)) / n, clamped logs.
Var weighted_bce_loss(const Var& p, const Var& g, double background_weight);

}  // namespace ctv
