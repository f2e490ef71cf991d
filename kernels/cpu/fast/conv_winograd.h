// Winograd F(2x2x2, 3x3x3) convolution for the fast CPU backend: the U-Net's 3x3x3 stride-1
// pad-1 convolutions with C and K multiples of the vector width (fprop, and dgrad as the fprop
// of dy with the flipped, transposed weights), in 64/216 of the direct method's multiplies and
// with the padding implicit (no padded copy of the input). See WinogradArgs in
// conv_microkernels.h for the arithmetic and the work split.
//
// Invariants: x NDHWC, w KTRSC, y NDHWK, dense, any alignment; y overwritten. Each output is
// computed by one block, in an order fixed by the shape: bit-identical for any thread count.
// Rounding differs from the direct kernels: the transforms add up to 8 inputs and the
// transformed weights are sums of up to 27 taps (formed in double, rounded once), so the error
// is a small multiple of the direct method's (tests/test_kernels_fast_conv.cpp bounds it).
#pragma once
#include "kernels/cpu/fast/conv_microkernels.h"
#include "kernels/cpu/reference/conv3d.h"

namespace ctv::kernels::fast {

// True for T=R=S=3, stride 1, pad 1 and C, K multiples of mk.vec_width, with C and K at most
// kWinogradMaxChannels: measured faster than the direct kernels at every 3x3x3 layer of the
// U-Net but the first (C = 2) on 2 AVX-512 cores, about even at the deepest (8x18x26, 256
// channels); wider layers are unmeasured and stay direct (the scratch grows with C + K).
inline constexpr int kWinogradMaxChannels = 256;
bool winograd_applies(const ref::Conv3dShape& s, const ConvMicrokernels& mk);

// y = conv3d(x, w) + bias. requires: winograd_applies(s, mk); bias null or K floats.
void conv3d_winograd(const ConvMicrokernels& mk, const ref::Conv3dShape& s, const float* x,
                     const float* w, const float* bias, float* y);

}  // namespace ctv::kernels::fast
