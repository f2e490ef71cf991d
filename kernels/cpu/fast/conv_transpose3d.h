// Fast CPU 3-D transposed convolution, checked against kernels/cpu/reference/conv_transpose3d.h
// (same shapes, contracts and layouts: x NDHWC with C input channels, w CTRSK, y NZPQK).
//
// float32:
//   fprop: stride == kernel with no padding (the U-Net's 2x2x2 stride 2) has no overlap: one
//          GEMM (rows = input pixels, columns = (t, r, s, k), reduction C) whose vector results
//          are stored straight to their output pixels, each written once. It needs K to be a
//          multiple of the vector width (16, 8 or 4 floats by level); every other shape runs
//          as the dgrad of the forward convolution (as_forward_conv) with conv3d.h's kernels.
//   dgrad: the forward convolution of dy with w (conv3d.h's fprop).
//   wgrad: conv3d.h's wgrad with the roles of x and dy swapped; dbias summed in double.
// float64 calls go to the reference kernels. Outputs are overwritten (=). Results are
// bit-identical whatever the thread count; see conv3d.h for rounding.
#pragma once
#include "kernels/cpu/reference/conv_transpose3d.h"

namespace ctv::kernels::fast {

using ref::ConvTranspose3dShape;

// requires/ensures: as ref::conv_transpose3d_fprop.
void conv_transpose3d_fprop(const ConvTranspose3dShape& shape, const float* x, const float* w,
                            const float* bias, float* y);
void conv_transpose3d_fprop(const ConvTranspose3dShape& shape, const double* x, const double* w,
                            const double* bias, double* y);
// requires/ensures: as ref::conv_transpose3d_dgrad.
void conv_transpose3d_dgrad(const ConvTranspose3dShape& shape, const float* dy, const float* w,
                            float* dx);
void conv_transpose3d_dgrad(const ConvTranspose3dShape& shape, const double* dy, const double* w,
                            double* dx);
// requires/ensures: as ref::conv_transpose3d_wgrad.
void conv_transpose3d_wgrad(const ConvTranspose3dShape& shape, const float* x, const float* dy,
                            float* dw, float* dbias);
void conv_transpose3d_wgrad(const ConvTranspose3dShape& shape, const double* x, const double* dy,
                            double* dw, double* dbias);

}  // namespace ctv::kernels::fast
