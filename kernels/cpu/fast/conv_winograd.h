// Winograd F(2x2x2, 3x3x3) convolution for the fast CPU backend: the U-Net's 3x3x3 stride-1
// pad-1 convolutions with C and K multiples of the vector width (fprop; dgrad as the fprop of
// dy with the flipped, transposed weights; wgrad by the transpose of the same bilinear map), in
// 64/216 of the direct method's multiplies and with the padding implicit (no padded copy). See
// WinogradArgs in conv_microkernels.h for the arithmetic and the work split.
//
// Invariants: x NDHWC, w KTRSC, y NDHWK, dense, any alignment; y overwritten. Each output is
// computed by one block, in an order fixed by the shape: bit-identical for any thread count.
// Rounding differs from the direct kernels: the transforms add up to 8 inputs and the
// transformed weights are sums of up to 27 taps (formed in double, rounded once), so the error
// is a small multiple of the direct method's (tests/test_kernels_fast_conv.cpp bounds it).
#pragma once
#include <cstdint>

#include "kernels/cpu/fast/conv_microkernels.h"
#include "kernels/cpu/reference/conv3d.h"

namespace ctv::kernels::fast {

// True for T=R=S=3, stride 1, pad 1 and C, K multiples of mk.vec_width, with C and K at most
// kWinogradMaxChannels: measured faster than the direct kernels at every 3x3x3 layer of the
// U-Net but the first (C = 2) on 2 AVX-512 cores, about even at the deepest (8x18x26, 256
// channels); wider layers are unmeasured and stay direct (the scratch grows with C + K).
inline constexpr int kWinogradMaxChannels = 256;
bool winograd_applies(const ref::Conv3dShape& s, const ConvMicrokernels& mk);

// Which algorithm the fast conv3d uses where Winograd applies: automatic (Winograd for fprop
// and dgrad when the output has at least kWinogradMinVoxels voxels, so that the weight
// transform, about 16x the weights' size per call, is paid back; for wgrad from
// kWinogradWgradMinVoxels, below which its per-chunk partial sums in the Winograd domain, 64x
// the weights' size, cost more than the direct kernel; else direct), or always one of them
// (tests, benchmarks). Process-wide; not to be changed while a convolution runs. Measured on 2
// AVX-512 cores at the U-Net's 96x96x64 layers (bench/RESULTS.md): at 8x12x12 voxels (128
// channels) Winograd fprop 3.1 ms vs 5.3 direct, wgrad 9.4 vs 5.2; at 4x6x6, both slower.
enum class Conv3dAlgo { automatic, direct, winograd };
inline constexpr std::int64_t kWinogradMinVoxels = 1024;
inline constexpr std::int64_t kWinogradWgradMinVoxels = 4096;
void set_conv3d_algo(Conv3dAlgo algo);
Conv3dAlgo conv3d_algo();
const char* conv3d_algo_name(Conv3dAlgo algo);  // "auto", "direct", "winograd"
// True when the fast conv3d takes the Winograd path for s (fprop, or dgrad: both s and its
// flipped shape), or for its weight gradient: applies and chosen (see above).
bool winograd_chosen(const ref::Conv3dShape& s, const ConvMicrokernels& mk);
bool winograd_wgrad_chosen(const ref::Conv3dShape& s, const ConvMicrokernels& mk);

// y = conv3d(x, w) + bias. requires: winograd_applies(s, mk); bias null or K floats.
void conv3d_winograd(const ConvMicrokernels& mk, const ref::Conv3dShape& s, const float* x,
                     const float* w, const float* bias, float* y);

// dw = the weight gradient of y = conv3d(x, w) given dy (dbias is the caller's), as
// G^T [sum over tiles (A dy_tile) (.) (B^T x_tile)] G per axis: the sum over tiles is split into
// chunks fixed by the shape (at most 64, their partials within 64 MiB unless one is larger),
// each summed in float in tile order, the partials added in chunk order in double and
// transformed back in double. requires: winograd_applies(s, mk).
void conv3d_winograd_wgrad(const ConvMicrokernels& mk, const ref::Conv3dShape& s, const float* x,
                           const float* dy, float* dw);

}  // namespace ctv::kernels::fast
