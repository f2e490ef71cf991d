// Fast CPU 3-D convolution: implicit GEMM over NDHWC activations and KTRSC weights, checked
// against kernels/cpu/reference/conv3d.h (the spec: same shapes, same contracts, same layouts).
//
// float32: register-blocked micro-kernels of the active instruction-set level (isa.h), threads
// from parallel.h. Every shape is handled. 3x3x3 stride-1 pad-1 convolutions whose C and K are
// vector multiples up to 256 (every U-Net 3x3x3 layer but the first) take Winograd
// F(2x2x2, 3x3x3) (conv_winograd.h) from 1024 voxels on (wgrad from 4096), or as
// set_conv3d_algo says; every other shape, the first layer's C=2 included, the direct implicit
// GEMM (conv_microkernels.h: a row of taps is one contiguous S*C segment).
//   fprop: Winograd with implicit padding; else the input is copied into a zero-padded buffer
//          (skipped when there is no padding), then y = direct convolution with the weights
//          packed into panels.
//   dgrad: dx = fprop of dy with the weights flipped and transposed (KTRSC -> CTRSK): Winograd
//          when it applies to that fprop, else dy placed into a zero buffer dilated by the
//          stride and offset by T-1-pad and the direct kernels.
//   wgrad: Winograd when it applies (conv_winograd.h: tiles in chunks fixed by the shape,
//          partials added in chunk order in double); else rows of output pixels split into
//          fixed-size chunks that depend on the shape only;
//          each chunk sums its rows into its own partial dw in float, and the partials are
//          added in chunk order in double. Up to 16384 output pixels (deep layers) the output
//          channels are split instead, each dw element one float sum over every pixel.
// float64 calls go to the reference kernels.
// Outputs are overwritten (=), never accumulated into. Results are bit-identical whatever the
// thread count (each output is written by one chunk; wgrad's reduction order is fixed by the
// shape) but differ between instruction-set levels (FMA or not, vector width) and from the
// reference by float rounding: |fast - ref| <~ L * 2^-24 * sum|terms| with L the reduction length.
#pragma once
#include "kernels/cpu/reference/conv3d.h"

namespace ctv::kernels::fast {

using ref::Conv3dShape;

// requires/ensures: as ref::conv3d_fprop (throws std::invalid_argument on a bad shape or a
//                   null required buffer); scratch memory: a padded copy of x when padded and
//                   not Winograd (which needs per thread 64*24*(C+K) floats and the transformed
//                   weights, 64*C*K).
void conv3d_fprop(const Conv3dShape& shape, const float* x, const float* w, const float* bias,
                  float* y);
void conv3d_fprop(const Conv3dShape& shape, const double* x, const double* w, const double* bias,
                  double* y);

// requires/ensures: as ref::conv3d_dgrad; scratch: dy dilated and padded (skipped for stride 1
//                   with pad = T-1), the transposed weights.
void conv3d_dgrad(const Conv3dShape& shape, const float* dy, const float* w, float* dx);
void conv3d_dgrad(const Conv3dShape& shape, const double* dy, const double* w, double* dx);

// requires/ensures: as ref::conv3d_wgrad (dbias null or K, summed in double as the
//                   reference does); scratch: the padded x and at most 64 partial dw (and at
//                   most ~64 MiB of them unless dw alone is larger).
void conv3d_wgrad(const Conv3dShape& shape, const float* x, const float* dy, float* dw,
                  float* dbias);
void conv3d_wgrad(const Conv3dShape& shape, const double* x, const double* dy, double* dw,
                  double* dbias);

}  // namespace ctv::kernels::fast
