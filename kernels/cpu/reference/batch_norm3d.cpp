// Batch normalisation reference kernels (see batch_norm3d.h for the contracts).
#include "kernels/cpu/reference/batch_norm3d.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/reference/reduce.h"

namespace ctv::kernels::ref {

template <typename T>
void batch_norm_stats(std::int64_t M, std::int64_t C, const T* x, double* mean, double* var) {
  chunked_row_reduce(
      M, C,
      [&](std::int64_t r0, std::int64_t r1, double* a) {
        for (std::int64_t m = r0; m < r1; ++m)
          for (std::int64_t c = 0; c < C; ++c) a[c] += static_cast<double>(x[m * C + c]);
      },
      mean);
  for (std::int64_t c = 0; c < C; ++c) mean[c] /= static_cast<double>(M);
  chunked_row_reduce(
      M, C,
      [&](std::int64_t r0, std::int64_t r1, double* a) {
        for (std::int64_t m = r0; m < r1; ++m)
          for (std::int64_t c = 0; c < C; ++c) {
            const double d = static_cast<double>(x[m * C + c]) - mean[c];
            a[c] += d * d;
          }
      },
      var);
  for (std::int64_t c = 0; c < C; ++c) var[c] /= static_cast<double>(M);
}

void batch_norm_invstd(std::int64_t C, const double* var, double eps, double* invstd) {
  for (std::int64_t c = 0; c < C; ++c) invstd[c] = 1.0 / std::sqrt(var[c] + eps);
}

template <typename T>
void batch_norm_fwd(std::int64_t M, std::int64_t C, const T* x, const double* mean,
                    const double* invstd, const T* gamma, const T* beta, T* y) {
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t c = 0; c < C; ++c) {
      const double xhat = (static_cast<double>(x[m * C + c]) - mean[c]) * invstd[c];
      y[m * C + c] =
          static_cast<T>(static_cast<double>(gamma[c]) * xhat + static_cast<double>(beta[c]));
    }
}

namespace {
// sum_dy[c] = sum_m dy; sum_dy_xhat[c] = sum_m dy * xhat (chunked, one pass).
template <typename T>
void bn_grad_sums(std::int64_t M, std::int64_t C, const T* x, const T* dy, const double* mean,
                  const double* invstd, std::vector<double>& sum_dy,
                  std::vector<double>& sum_dy_xhat) {
  std::vector<double> both(static_cast<std::size_t>(2 * C));
  chunked_row_reduce(
      M, 2 * C,
      [&](std::int64_t r0, std::int64_t r1, double* a) {
        for (std::int64_t m = r0; m < r1; ++m)
          for (std::int64_t c = 0; c < C; ++c) {
            const double g = static_cast<double>(dy[m * C + c]);
            a[c] += g;
            a[C + c] += g * (static_cast<double>(x[m * C + c]) - mean[c]) * invstd[c];
          }
      },
      both.data());
  sum_dy.assign(both.begin(), both.begin() + C);
  sum_dy_xhat.assign(both.begin() + C, both.end());
}

template <typename T>
void write_param_grads(std::int64_t C, const std::vector<double>& sum_dy,
                       const std::vector<double>& sum_dy_xhat, T* dgamma, T* dbeta) {
  for (std::int64_t c = 0; c < C; ++c) {
    if (dgamma) dgamma[c] = static_cast<T>(sum_dy_xhat[static_cast<std::size_t>(c)]);
    if (dbeta) dbeta[c] = static_cast<T>(sum_dy[static_cast<std::size_t>(c)]);
  }
}
}  // namespace

template <typename T>
void batch_norm_bwd_train(std::int64_t M, std::int64_t C, const T* x, const T* dy,
                          const double* mean, const double* invstd, const T* gamma, T* dx,
                          T* dgamma, T* dbeta) {
  std::vector<double> sum_dy, sum_dy_xhat;
  bn_grad_sums(M, C, x, dy, mean, invstd, sum_dy, sum_dy_xhat);
  if (dx) {
    const double inv_m = 1.0 / static_cast<double>(M);
    for (std::int64_t m = 0; m < M; ++m)
      for (std::int64_t c = 0; c < C; ++c) {
        const auto cc = static_cast<std::size_t>(c);
        const double xhat = (static_cast<double>(x[m * C + c]) - mean[c]) * invstd[c];
        const double g = static_cast<double>(dy[m * C + c]);
        dx[m * C + c] = static_cast<T>(static_cast<double>(gamma[c]) * invstd[c] *
                                       (g - sum_dy[cc] * inv_m - xhat * sum_dy_xhat[cc] * inv_m));
      }
  }
  write_param_grads(C, sum_dy, sum_dy_xhat, dgamma, dbeta);
}

template <typename T>
void batch_norm_bwd_eval(std::int64_t M, std::int64_t C, const T* x, const T* dy,
                         const double* mean, const double* invstd, const T* gamma, T* dx, T* dgamma,
                         T* dbeta) {
  if (dgamma || dbeta) {
    std::vector<double> sum_dy, sum_dy_xhat;
    bn_grad_sums(M, C, x, dy, mean, invstd, sum_dy, sum_dy_xhat);
    write_param_grads(C, sum_dy, sum_dy_xhat, dgamma, dbeta);
  }
  if (dx)
    for (std::int64_t m = 0; m < M; ++m)
      for (std::int64_t c = 0; c < C; ++c)
        dx[m * C + c] = static_cast<T>(static_cast<double>(dy[m * C + c]) *
                                       static_cast<double>(gamma[c]) * invstd[c]);
}

template <typename T>
void batch_norm_update_running(std::int64_t M, std::int64_t C, const double* mean,
                               const double* var_biased, double momentum, T* running_mean,
                               T* running_var) {
  if (M < 2)
    throw std::invalid_argument("batch_norm: training needs more than 1 value per channel (got " +
                                std::to_string(M) +
                                "), the unbiased variance of the running estimate is undefined");
  const double unbias = static_cast<double>(M) / static_cast<double>(M - 1);
  for (std::int64_t c = 0; c < C; ++c) {
    running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) +
                                     momentum * mean[c]);
    running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) +
                                    momentum * var_biased[c] * unbias);
  }
}

#define CTV_INSTANTIATE(T)                                                                   \
  template void batch_norm_stats<T>(std::int64_t, std::int64_t, const T*, double*, double*); \
  template void batch_norm_fwd<T>(std::int64_t, std::int64_t, const T*, const double*,       \
                                  const double*, const T*, const T*, T*);                    \
  template void batch_norm_bwd_train<T>(std::int64_t, std::int64_t, const T*, const T*,      \
                                        const double*, const double*, const T*, T*, T*, T*); \
  template void batch_norm_bwd_eval<T>(std::int64_t, std::int64_t, const T*, const T*,       \
                                       const double*, const double*, const T*, T*, T*, T*);  \
  template void batch_norm_update_running<T>(std::int64_t, std::int64_t, const double*,      \
                                             const double*, double, T*, T*);
CTV_INSTANTIATE(float)
CTV_INSTANTIATE(double)
#undef CTV_INSTANTIATE

}  // namespace ctv::kernels::ref
