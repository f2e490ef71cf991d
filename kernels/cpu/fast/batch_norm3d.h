// Fast batch normalisation (float32, channels last), alone and fused with the ReLU that
// follows it in the U-Net. Twins of kernels/cpu/reference/batch_norm3d.h (same layouts:
// x, y, dy, dx dense [M][C]; gamma, beta, dgamma, dbeta float [C]; mean, var, invstd double
// [C]); batch_norm_invstd and batch_norm_update_running are tiny and stay on the reference.
//
// Fusion, for memory traffic (one activation at full resolution is 1 GB):
//   batch_norm_relu_fwd = relu(batch_norm_fwd(x)) in one pass, and in place when y == x;
//   batch_norm_relu_bwd_* = batch_norm_bwd_*(dz) with dz = relu_bwd(y, dy) formed on the fly:
//   dz is never stored.
//
// Reductions (statistics; dbeta = sum dz, dgamma = sum dz * xhat) use the reference's chunks,
// double terms and combination tree (fast/reduce.h), and dx is the reference's expression in
// double, rounded once: mean, var, dx, dgamma and dbeta are the reference's bits, at any
// thread count. (dx in float was tried: its cancellation leaves noise in sum(dx), the exactly-0
// gradient of the conv bias before the batch norm, which Adam with eps 1e-7 turns into steps of
// O(lr); the golden U-Net test caught it.) The forward runs in float, PyTorch's CPU form:
//   y = x * a + b with a = gamma * invstd, b = beta - mean * a (double, rounded to float once);
//   |fast - ref| <= 4 ulp of |x * a| + |b|.
// Every output element is written by one chunk: bit-identical for any thread count.
// Outputs overwritten (=); null dx / dgamma / dbeta are not computed.
#pragma once
#include <cstdint>

namespace ctv::kernels::fast {

// As ref::batch_norm_stats: biased variance, two passes; the reference's bits.
void batch_norm_stats(std::int64_t M, std::int64_t C, const float* x, double* mean, double* var);

// y = gamma * (x - mean) * invstd + beta. y may alias x.
void batch_norm_fwd(std::int64_t M, std::int64_t C, const float* x, const double* mean,
                    const double* invstd, const float* gamma, const float* beta, float* y);

// y = max(gamma * (x - mean) * invstd + beta, 0) (NaN stays NaN, as relu_fwd). y may alias x.
void batch_norm_relu_fwd(std::int64_t M, std::int64_t C, const float* x, const double* mean,
                         const double* invstd, const float* gamma, const float* beta, float* y);

// As ref::batch_norm_bwd_train / _eval (dz = dy).
void batch_norm_bwd_train(std::int64_t M, std::int64_t C, const float* x, const float* dy,
                          const double* mean, const double* invstd, const float* gamma, float* dx,
                          float* dgamma, float* dbeta);
void batch_norm_bwd_eval(std::int64_t M, std::int64_t C, const float* x, const float* dy,
                         const double* mean, const double* invstd, const float* gamma, float* dx,
                         float* dgamma, float* dbeta);

// The backward of batch_norm_relu_fwd: as batch_norm_bwd_* applied to dz = (y > 0 ? dy : 0),
// y the fused forward's output. requires: y, dy [M][C]; dx may alias dy (not x or y).
void batch_norm_relu_bwd_train(std::int64_t M, std::int64_t C, const float* x, const float* y,
                               const float* dy, const double* mean, const double* invstd,
                               const float* gamma, float* dx, float* dgamma, float* dbeta);
void batch_norm_relu_bwd_eval(std::int64_t M, std::int64_t C, const float* x, const float* y,
                              const float* dy, const double* mean, const double* invstd,
                              const float* gamma, float* dx, float* dgamma, float* dbeta);

}  // namespace ctv::kernels::fast
