// CUDA conv3d, float32: fprop, dgrad and wgrad as implicit GEMMs (conv_gemm.h gives the
// mapping and every address) over NDHWC activations and KTRSC weights, checked against
// kernels/cpu/reference/conv3d.h (same shapes, same contracts, same layouts) by
// tests/gpu/test_gpu_conv3d.cpp. Plain C++ header. Only built with the CUDA backend.
//
// All pointers are device memory; the kernels run on the compute stream (stream.cuh) and the
// calls return once they are queued (errors of the launch itself are thrown as
// std::runtime_error).
// Deterministic: each output is one thread's sum over its reduction index in ascending
// order; wgrad's split-K partials (one per kConvWgradChunkRows output pixels) are added in
// chunk order by a second kernel, and dbias likewise. Scratch (wgrad's partials) comes from
// device_memory.h.
//
// Status: compiles; run on a GPU against the CPU reference only by ctv_gpu_tests
// (bench/gpu_check.sh). Two tiled GEMM kernels, by conv_math(): float32 on the SIMT cores
// (64 x 64 outputs per block, 4 x 4 per thread; the sums above), or TF32 / BF16 on the tensor
// cores (mma.sync m16n8k8 / m16n8k16, kernels/cuda/mma_layout.h: operands rounded as cvt.rna
// / cvt.rn do, float accumulation in the instruction's own order; wgrad with the same split-K
// chunks added in chunk order, dbias in float32 as above). First correct versions, not yet
// fast ones.
#pragma once
#include "kernels/cpu/reference/conv3d.h"
#include "kernels/cpu/reference/conv_transpose3d.h"

namespace ctv::kernels::cuda {

// The arithmetic of every conv3d and conv_transpose3d call that follows, process-wide:
// fp32 (the default), or tf32 or bf16 on the tensor cores (SPEC's --precision): the float32
// operands rounded to TF32 or BF16 as the kernel reads them, float accumulation, float32
// results (tensors and master weights stay float32).
enum class ConvMath { fp32, tf32, bf16 };
void set_conv_math(ConvMath math);
ConvMath conv_math();

// requires: s.validate() passes (checked: std::invalid_argument); non-null device pointers with
//           x_size(), w_size(), y_size() floats; bias null or K floats.
// ensures:  y = conv(x, w) + bias.
void conv3d_fprop(const ref::Conv3dShape& s, const float* x, const float* w, const float* bias,
                  float* y);
// ensures: dx = the gradient of <conv(x, w), dy> with respect to x.
void conv3d_dgrad(const ref::Conv3dShape& s, const float* dy, const float* w, float* dx);
// ensures: dw (and dbias, when non-null) = the gradients with respect to w (and the bias).
void conv3d_wgrad(const ref::Conv3dShape& s, const float* x, const float* dy, float* dw,
                  float* dbias);

// The transposed convolution (kernels/cpu/reference/conv_transpose3d.h) through the forward
// convolution F = s.as_forward_conv() it is the dgrad of: fprop = F's dgrad (+ bias), or, when
// the kernel equals the stride and there is no padding, a GEMM and a scatter (conv_gemm.h) with
// the same sums; dgrad = F's fprop, wgrad = F's wgrad with the roles of x and dy exchanged
// (dbias: sum_rows of dy).
void conv_transpose3d_fprop(const ref::ConvTranspose3dShape& s, const float* x, const float* w,
                            const float* bias, float* y);
void conv_transpose3d_dgrad(const ref::ConvTranspose3dShape& s, const float* dy, const float* w,
                            float* dx);
void conv_transpose3d_wgrad(const ref::ConvTranspose3dShape& s, const float* x, const float* dy,
                            float* dw, float* dbias);

}  // namespace ctv::kernels::cuda
