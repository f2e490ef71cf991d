// The dispatch layer: one function per kernel, on Tensors, choosing the backend kernel by the
// tensors' device tag and dtype at run time (dlib's tt:: idea, without its compile-time
// backend choice). CPU float32 calls go to kernels/cpu/fast (every op but the tiny
// per-channel batch_norm_invstd and batch_norm_update_running; set_cpu_kernels picks), float64
// calls and set_cpu_kernels(reference) to kernels/cpu/reference; CUDA kernels slot in here,
// behind the same signatures, and the ops never change.
//
// Common contract of every function here:
// requires: all tensors defined, dense (is_contiguous()), on one device, of one floating dtype
//           (checked: std::invalid_argument naming the function); shapes as the kernel's
//           contract says (the ops check those and name the user's arguments).
// ensures:  outputs overwritten (=), except add_inplace (+=) and the in-place updates
//           (batch_norm_update_running, adam_step) as documented.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "kernels/cpu/reference/adam.h"
#include "kernels/cpu/reference/conv3d.h"
#include "kernels/cpu/reference/conv_transpose3d.h"
#include "kernels/cpu/reference/losses.h"
#include "kernels/cpu/reference/max_pool3d.h"

namespace ctv::dispatch {

// Which CPU kernels run the ops that have both: the fast ones (default) or the reference (the
// spec; for tests and side-by-side benchmarks). Process-wide; not to be changed while an op
// runs. float64 always runs on the reference. The environment variable CTV_CPU_KERNELS
// (fast | reference) sets the value at start-up; another value stops the program at start-up
// with std::invalid_argument naming the variable.
enum class CpuKernels { reference, fast };
void set_cpu_kernels(CpuKernels k);
CpuKernels cpu_kernels();
const char* cpu_kernels_name(CpuKernels k);  // "reference" or "fast"

// Kernel time by dispatch function, for `ctv bench cpu --profile`: while on, the wall time of
// every call (the kernel and its argument checks, from any thread) is added to the row of its
// function. Off by default; on, it costs two clock reads a call.
struct KernelTime {
  std::string kernel;  // the function's name, "conv3d_wgrad"
  std::int64_t calls = 0;
  double seconds = 0;
};
void set_kernel_timing(bool on);
void reset_kernel_times();
// ensures: one row per function called since the last reset, the most time first.
std::vector<KernelTime> kernel_times();

using kernels::ref::AdamHyper;
using kernels::ref::AmgmSums;
using kernels::ref::Conv3dShape;
using kernels::ref::ConvTranspose3dShape;
using kernels::ref::MaxPool3dShape;

// y += x (same shape and dtype).
void add_inplace(Tensor& y, const Tensor& x);
// out[j] = sum over all leading dims of x[..., j] (chunked): bias gradients. out [x.dim(-1)].
void sum_rows(const Tensor& x, Tensor& out);
// dst (dense, channels sum(widths)) = inputs side by side, in order. Inputs may be views.
void concat_channels(const Tensor* const* inputs, std::size_t count, Tensor& dst);

void conv3d_fprop(const Conv3dShape& s, const Tensor& x, const Tensor& w, const Tensor* bias,
                  Tensor& y);
void conv3d_dgrad(const Conv3dShape& s, const Tensor& dy, const Tensor& w, Tensor& dx);
void conv3d_wgrad(const Conv3dShape& s, const Tensor& x, const Tensor& dy, Tensor& dw);

void conv_transpose3d_fprop(const ConvTranspose3dShape& s, const Tensor& x, const Tensor& w,
                            const Tensor* bias, Tensor& y);
void conv_transpose3d_dgrad(const ConvTranspose3dShape& s, const Tensor& dy, const Tensor& w,
                            Tensor& dx);
void conv_transpose3d_wgrad(const ConvTranspose3dShape& s, const Tensor& x, const Tensor& dy,
                            Tensor& dw);

// argmax: null (not needed) or a dense i64 tensor of y's shape.
void max_pool3d_fprop(const MaxPool3dShape& s, const Tensor& x, Tensor& y, Tensor* argmax);
void max_pool3d_bprop(const MaxPool3dShape& s, const Tensor& dy, const Tensor& argmax, Tensor& dx);

void relu_fwd(const Tensor& x, Tensor& y);
void relu_bwd(const Tensor& y, const Tensor& dy, Tensor& dx);
void sigmoid_fwd(const Tensor& x, Tensor& y);
void sigmoid_bwd(const Tensor& y, const Tensor& dy, Tensor& dx);

// x viewed as [M][C], C = x.dim(-1). mean, var, invstd: f64 [C].
void batch_norm_stats(const Tensor& x, Tensor& mean, Tensor& var);
// invstd = 1 / sqrt(var + eps); var f64 or the running estimate's dtype, invstd f64.
void batch_norm_invstd(const Tensor& var, double eps, Tensor& invstd);
void batch_norm_fwd(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& gamma,
                    const Tensor& beta, Tensor& y);
// dx, dgamma, dbeta may be null (not needed).
void batch_norm_bwd(bool training, const Tensor& x, const Tensor& dy, const Tensor& mean,
                    const Tensor& invstd, const Tensor& gamma, Tensor* dx, Tensor* dgamma,
                    Tensor* dbeta);
// Fused with the ReLU after it: y = relu(batch_norm_fwd(x)) in one pass. y may share x's
// storage (same offset: in place). On the reference: batch_norm_fwd, then relu_fwd in place.
void batch_norm_relu_fwd(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gamma, const Tensor& beta, Tensor& y);
// The backward of batch_norm_relu_fwd, y its output: batch_norm_bwd of dz = relu_bwd(y, dy),
// dz never stored on the fast kernels (the reference stores it and runs the pair).
void batch_norm_relu_bwd(bool training, const Tensor& x, const Tensor& y, const Tensor& dy,
                         const Tensor& mean, const Tensor& invstd, const Tensor& gamma, Tensor* dx,
                         Tensor* dgamma, Tensor* dbeta);
void batch_norm_update_running(std::int64_t M, const Tensor& mean, const Tensor& var,
                               double momentum, Tensor& running_mean, Tensor& running_var);

AmgmSums amgm_sums(const Tensor& p, const Tensor& g);
void amgm_bwd(const Tensor& p, const Tensor& g, const AmgmSums& s, double eps, double dL,
              Tensor* dp, Tensor* dg);
double bce_value(const Tensor& p, const Tensor& g, double w_bg);
void bce_bwd(const Tensor& p, const Tensor& g, double w_bg, double dL, Tensor* dp, Tensor* dg);

// theta, m, v updated in place; t = step number after this update (>= 1).
void adam_step(Tensor& theta, const Tensor& g, Tensor& m, Tensor& v, std::int64_t t,
               const AdamHyper& h);

}  // namespace ctv::dispatch
