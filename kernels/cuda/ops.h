// CUDA kernels for the engine's non-convolution ops, float32, device pointers, on the
// compute stream (stream.cuh):
// element-wise (ReLU, sigmoid, add), per-channel sums (bias gradients), batch normalisation
// (statistics, forward with or without ReLU, backward in training and eval mode), max pooling,
// channel concatenation, the AM-GM and BCE losses, and Adam.
// Plain C++ header. Only built with the CUDA backend.
//
// Same contracts, layouts and formulas as the reference kernels of the same names
// (kernels/cpu/reference/*.h). Reductions follow kernels/cpu/reference/reduce.h term for term:
// each chunk of kReduceChunk rows is summed in double in row order on the device (one thread
// per chunk and column), and the chunk partials are combined on the host by the reference's
// own pairwise tree (combine_partials), so the sums are the reference's, bit for bit. Double
// arithmetic is compiled without contraction into FMA (--fmad=false), so every double
// expression rounds as the reference's does; results are then bit-identical to the reference
// kernels except where the device's exp and log enter (sigmoid_fwd, the BCE loss: within a few
// ulp).
//
// Status: compiles; run on a GPU against the reference only by ctv_gpu_tests
// (bench/gpu_check.sh). Reductions synchronise (their partials come back to the host).
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/cpu/reference/adam.h"
#include "kernels/cpu/reference/losses.h"
#include "kernels/cpu/reference/max_pool3d.h"

namespace ctv::kernels::cuda {

void relu_fwd(std::int64_t n, const float* x, float* y);
void relu_bwd(std::int64_t n, const float* y, const float* dy, float* dx);
void sigmoid_fwd(std::int64_t n, const float* x, float* y);
void sigmoid_bwd(std::int64_t n, const float* y, const float* dy, float* dx);
void add_inplace(std::int64_t n, const float* x, float* y);

// out[j] = sum over rows of x[r][j] (x is rows x width).
void sum_rows(std::int64_t rows, std::int64_t width, const float* x, float* out);

// x viewed as [M][C]. mean, var (biased): device doubles [C].
void batch_norm_stats(std::int64_t M, std::int64_t C, const float* x, double* mean, double* var);
// y = gamma * (x - mean) * invstd + beta, then max(0, .) when relu; y may be x (in place).
void batch_norm_fwd(std::int64_t M, std::int64_t C, bool relu, const float* x, const double* mean,
                    const double* invstd, const float* gamma, const float* beta, float* y);
// The backward of batch_norm_fwd (relu: of relu(batch_norm(x)), y its output, dz = y > 0 ? dy
// : 0); training: through the batch statistics, else with them fixed. dx, dgamma, dbeta may be
// null (not computed); y null unless relu.
void batch_norm_bwd(std::int64_t M, std::int64_t C, bool training, bool relu, const float* x,
                    const float* y, const float* dy, const double* mean, const double* invstd,
                    const float* gamma, float* dx, float* dgamma, float* dbeta);

// Max pooling (ties: the first maximum in window order; NaN wins); argmax: device int64, the
// flat index into x of each maximum. bprop gathers, per input element, the dy of the windows
// whose maximum it is, summed in double in window order (as the reference).
void max_pool3d_fprop(const ref::MaxPool3dShape& s, const float* x, float* y, std::int64_t* argmax);
void max_pool3d_bprop(const ref::MaxPool3dShape& s, const float* dy, const std::int64_t* argmax,
                      float* dx);

// dst (rows x dst_pitch) = the count sources side by side; src, widths and pitches are host
// arrays of device pointers and sizes (as the reference's concat_channels).
void concat_channels(std::size_t rows, std::size_t count, const float* const* src,
                     const std::size_t* widths, const std::size_t* pitches, float* dst,
                     std::size_t dst_pitch);

// The losses (kernels/cpu/reference/losses.h): sums on the device per chunk, combined on the
// host; the gradients element-wise. dp, dg may be null.
ref::AmgmSums amgm_sums(std::int64_t n, const float* p, const float* g);
void amgm_bwd(std::int64_t n, const float* p, const float* g, const ref::AmgmSums& s, double eps,
              double dL, float* dp, float* dg);
double bce_value(std::int64_t n, const float* p, const float* g, double w_bg);
void bce_bwd(std::int64_t n, const float* p, const float* g, double w_bg, double dL, float* dp,
             float* dg);

// theta, m, v updated in place; t = step number after this update (>= 1).
void adam_step(std::int64_t n, float* theta, const float* g, float* m, float* v, std::int64_t t,
               const ref::AdamHyper& h);

}  // namespace ctv::kernels::cuda
