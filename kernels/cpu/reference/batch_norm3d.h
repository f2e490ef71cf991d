// Batch normalisation reference kernels (PyTorch's BatchNorm3d semantics), channels last.
//
// Layout: x, y, dy, dx are dense [M][C] (M = N*D*H*W rows of C channels); gamma, beta,
// dgamma, dbeta, running_mean, running_var are [C] in T; mean, var, invstd are [C] in double
// (statistics are kept in double for both element types).
// Reductions over M use the chunked scheme of kernels/cpu/reference/reduce.h (fixed chunks,
// fixed combination tree): results do not depend on threads.
// Outputs are overwritten (=) except the running estimates, which are updated in place by
// their exponential moving average (documented below).
#pragma once
#include <cstdint>

namespace ctv::kernels::ref {

// ensures: mean[c] = (1/M) sum_m x[m,c]; var[c] = (1/M) sum_m (x[m,c] - mean[c])^2 (BIASED,
//          two passes, so no cancellation). requires: M >= 1, C >= 1.
template <typename T>
void batch_norm_stats(std::int64_t M, std::int64_t C, const T* x, double* mean, double* var);

// ensures: invstd[c] = 1 / sqrt(var[c] + eps).
void batch_norm_invstd(std::int64_t C, const double* var, double eps, double* invstd);

// ensures: y[m,c] = gamma[c] * (x[m,c] - mean[c]) * invstd[c] + beta[c]. y may alias x.
template <typename T>
void batch_norm_fwd(std::int64_t M, std::int64_t C, const T* x, const double* mean,
                    const double* invstd, const T* gamma, const T* beta, T* y);

// Backward through batch statistics (training): with xhat = (x - mean) * invstd,
//   dbeta[c] = sum_m dy, dgamma[c] = sum_m dy * xhat,
//   dx = gamma * invstd * (dy - dbeta/M - xhat * dgamma/M).
// Any of dx, dgamma, dbeta may be null (not computed). Written (=), never accumulated.
template <typename T>
void batch_norm_bwd_train(std::int64_t M, std::int64_t C, const T* x, const T* dy,
                          const double* mean, const double* invstd, const T* gamma, T* dx,
                          T* dgamma, T* dbeta);

// Backward with fixed statistics (inference): dx = dy * gamma * invstd; dgamma, dbeta as above.
template <typename T>
void batch_norm_bwd_eval(std::int64_t M, std::int64_t C, const T* x, const T* dy,
                         const double* mean, const double* invstd, const T* gamma, T* dx, T* dgamma,
                         T* dbeta);

// requires: M > 1 (the unbiased variance needs two values; checked: std::invalid_argument).
// ensures: running_mean = (1 - momentum) * running_mean + momentum * mean;
//          running_var  = (1 - momentum) * running_var + momentum * var * M / (M - 1).
template <typename T>
void batch_norm_update_running(std::int64_t M, std::int64_t C, const double* mean,
                               const double* var_biased, double momentum, T* running_mean,
                               T* running_var);

}  // namespace ctv::kernels::ref
