// CUDA element-wise, reduction, batch-norm and Adam kernels (ops.h): one thread per element or
// per (chunk, column); the chunk partials of every reduction are combined on the host by
// kernels/cpu/reference/reduce.h's tree.
#include "kernels/cuda/ops.h"

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/reference/reduce.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/stream.cuh"

namespace ctv::kernels::cuda {

namespace {

// ---- element-wise (the reference's expressions) -------------------------------------------
__global__ void relu_fwd_kernel(std::int64_t n, const float* x, float* y) {
  const std::int64_t i = global_index();
  if (i < n) y[i] = x[i] > 0.0f ? x[i] : (x[i] != x[i] ? x[i] : 0.0f);
}
__global__ void relu_bwd_kernel(std::int64_t n, const float* y, const float* dy, float* dx) {
  const std::int64_t i = global_index();
  if (i < n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}
__global__ void sigmoid_fwd_kernel(std::int64_t n, const float* x, float* y) {
  const std::int64_t i = global_index();
  if (i >= n) return;
  const double v = static_cast<double>(x[i]);
  const double e = exp(-fabs(v));
  y[i] = static_cast<float>(v >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e));
}
__global__ void sigmoid_bwd_kernel(std::int64_t n, const float* y, const float* dy, float* dx) {
  const std::int64_t i = global_index();
  if (i >= n) return;
  const double s = static_cast<double>(y[i]);
  dx[i] = static_cast<float>(static_cast<double>(dy[i]) * s * (1.0 - s));
}
__global__ void add_kernel(std::int64_t n, const float* x, float* y) {
  const std::int64_t i = global_index();
  if (i < n) y[i] += x[i];
}

// ---- chunked per-column sums in double -------------------------------------------------------
// What a chunk adds per row: the value itself, (x - mean)^2, or the two batch-norm backward
// terms (dz, dz * xhat) into columns c and C + c.
enum class Term { value, centred_square, bn_grad };

// partial[chunk][j] for j < width: the chunk's rows summed in row order.
template <Term kTerm>
__global__ void chunk_sums_kernel(std::int64_t rows, std::int64_t C, std::int64_t chunks,
                                  const float* x, const float* y, const float* dy,
                                  const double* mean, const double* invstd, bool relu,
                                  double* partial) {
  const std::int64_t c = std::int64_t(blockIdx.y) * blockDim.x + threadIdx.x;
  const std::int64_t chunk = blockIdx.x;
  if (c >= C || chunk >= chunks) return;
  const ChunkPlan plan{rows, kReduceChunk};
  double a = 0.0, b = 0.0;
  for (std::int64_t r = plan.begin(chunk); r < plan.end(chunk); ++r) {
    const std::int64_t i = r * C + c;
    if constexpr (kTerm == Term::value) {
      a += static_cast<double>(x[i]);
    } else if constexpr (kTerm == Term::centred_square) {
      const double d = static_cast<double>(x[i]) - mean[c];
      a += d * d;
    } else {
      const float dz = relu ? (y[i] > 0.0f ? dy[i] : 0.0f) : dy[i];
      const double g = static_cast<double>(dz);
      a += g;
      b += g * (static_cast<double>(x[i]) - mean[c]) * invstd[c];
    }
  }
  const std::int64_t width = kTerm == Term::bn_grad ? 2 * C : C;
  partial[chunk * width + c] = a;
  if constexpr (kTerm == Term::bn_grad) partial[chunk * width + C + c] = b;
}

// Runs chunk_sums_kernel and combines its partials on the host: out[width] (host doubles).
template <Term kTerm>
std::vector<double> column_sums(std::int64_t rows, std::int64_t C, const float* x,
                                const float* y, const float* dy, const double* mean,
                                const double* invstd, bool relu) {
  const std::int64_t chunks = ChunkPlan{rows, kReduceChunk}.count();
  const std::int64_t width = kTerm == Term::bn_grad ? 2 * C : C;
  if (chunks == 0 || C <= 0) return std::vector<double>(static_cast<std::size_t>(width), 0.0);
  const DeviceScratch<double> partial(static_cast<std::size_t>(chunks * width));
  chunk_sums_kernel<kTerm><<<dim3(static_cast<unsigned>(chunks),
                                  static_cast<unsigned>((C + 127) / 128)),
                             128, 0, compute_stream()>>>(rows, C, chunks, x, y, dy, mean, invstd,
                                                         relu, partial.p);
  check_launch("column sums");
  return combine_device_partials(partial.p, chunks, width);
}

// ---- batch norm -----------------------------------------------------------------------------
__global__ void bn_fwd_kernel(std::int64_t n, std::int64_t C, bool relu, const float* x,
                              const double* mean, const double* invstd, const float* gamma,
                              const float* beta, float* y) {
  const std::int64_t i = global_index();
  if (i >= n) return;
  const std::int64_t c = i % C;
  const double xhat = (static_cast<double>(x[i]) - mean[c]) * invstd[c];
  const float v =
      static_cast<float>(static_cast<double>(gamma[c]) * xhat + static_cast<double>(beta[c]));
  y[i] = relu ? (v > 0.0f ? v : (v != v ? v : 0.0f)) : v;
}

// sums: [sum_dz (C), sum_dz_xhat (C)] on the device, for training.
__global__ void bn_dx_kernel(std::int64_t n, std::int64_t C, bool training, bool relu,
                             const float* x, const float* y, const float* dy, const double* mean,
                             const double* invstd, const float* gamma, const double* sums,
                             double inv_m, float* dx) {
  const std::int64_t i = global_index();
  if (i >= n) return;
  const std::int64_t c = i % C;
  const float dz = relu ? (y[i] > 0.0f ? dy[i] : 0.0f) : dy[i];
  const double g = static_cast<double>(dz);
  if (training) {
    const double xhat = (static_cast<double>(x[i]) - mean[c]) * invstd[c];
    dx[i] = static_cast<float>(static_cast<double>(gamma[c]) * invstd[c] *
                               (g - sums[c] * inv_m - xhat * sums[C + c] * inv_m));
  } else {
    dx[i] = static_cast<float>(g * static_cast<double>(gamma[c]) * invstd[c]);
  }
}

// ---- Adam (the reference's expression) ------------------------------------------------------
__global__ void adam_kernel(std::int64_t n, float* theta, const float* g, float* m, float* v,
                            double bc1, double bc2, double lr, double beta1, double beta2,
                            double eps) {
  const std::int64_t i = global_index();
  if (i >= n) return;
  const double gi = static_cast<double>(g[i]);
  m[i] = static_cast<float>(beta1 * static_cast<double>(m[i]) + (1.0 - beta1) * gi);
  v[i] = static_cast<float>(beta2 * static_cast<double>(v[i]) + (1.0 - beta2) * gi * gi);
  const double m_hat = static_cast<double>(m[i]) / bc1;
  const double v_hat = static_cast<double>(v[i]) / bc2;
  theta[i] = static_cast<float>(static_cast<double>(theta[i]) - lr * m_hat / (sqrt(v_hat) + eps));
}

__global__ void to_float_kernel(std::int64_t n, const double* in, float* out) {
  const std::int64_t i = global_index();
  if (i < n) out[i] = static_cast<float>(in[i]);
}

}  // namespace

void relu_fwd(std::int64_t n, const float* x, float* y) {
  if (n <= 0) return;
  relu_fwd_kernel<<<blocks_for(n), kBlock, 0, compute_stream()>>>(n, x, y);
  check_launch("relu_fwd");
}
void relu_bwd(std::int64_t n, const float* y, const float* dy, float* dx) {
  if (n <= 0) return;
  relu_bwd_kernel<<<blocks_for(n), kBlock, 0, compute_stream()>>>(n, y, dy, dx);
  check_launch("relu_bwd");
}
void sigmoid_fwd(std::int64_t n, const float* x, float* y) {
  if (n <= 0) return;
  sigmoid_fwd_kernel<<<blocks_for(n), kBlock, 0, compute_stream()>>>(n, x, y);
  check_launch("sigmoid_fwd");
}
void sigmoid_bwd(std::int64_t n, const float* y, const float* dy, float* dx) {
  if (n <= 0) return;
  sigmoid_bwd_kernel<<<blocks_for(n), kBlock, 0, compute_stream()>>>(n, y, dy, dx);
  check_launch("sigmoid_bwd");
}
void add_inplace(std::int64_t n, const float* x, float* y) {
  if (n <= 0) return;
  add_kernel<<<blocks_for(n), kBlock, 0, compute_stream()>>>(n, x, y);
  check_launch("add_inplace");
}

void sum_rows(std::int64_t rows, std::int64_t width, const float* x, float* out) {
  if (width <= 0) return;  // nothing to write (and a grid of 0 blocks is an error)
  const std::vector<double> s =
      column_sums<Term::value>(rows, width, x, nullptr, nullptr, nullptr, nullptr, false);
  const DeviceScratch<double> d(s);
  to_float_kernel<<<blocks_for(width), kBlock, 0, compute_stream()>>>(width, d.p, out);
  check_launch("sum_rows");
  check(cudaStreamSynchronize(compute_stream()), "sum_rows");
}

void batch_norm_stats(std::int64_t M, std::int64_t C, const float* x, double* mean, double* var) {
  std::vector<double> s =
      column_sums<Term::value>(M, C, x, nullptr, nullptr, nullptr, nullptr, false);
  for (double& v : s) v /= static_cast<double>(M);
  check(copy_sync(mean, s.data(), s.size() * sizeof(double), cudaMemcpyHostToDevice), "mean");
  std::vector<double> q =
      column_sums<Term::centred_square>(M, C, x, nullptr, nullptr, mean, nullptr, false);
  for (double& v : q) v /= static_cast<double>(M);
  check(copy_sync(var, q.data(), q.size() * sizeof(double), cudaMemcpyHostToDevice), "var");
}

void batch_norm_fwd(std::int64_t M, std::int64_t C, bool relu, const float* x, const double* mean,
                    const double* invstd, const float* gamma, const float* beta, float* y) {
  const std::int64_t n = M * C;
  if (n <= 0) return;
  bn_fwd_kernel<<<blocks_for(n), kBlock, 0, compute_stream()>>>(n, C, relu, x, mean, invstd, gamma, beta, y);
  check_launch("batch_norm_fwd");
}

void batch_norm_bwd(std::int64_t M, std::int64_t C, bool training, bool relu, const float* x,
                    const float* y, const float* dy, const double* mean, const double* invstd,
                    const float* gamma, float* dx, float* dgamma, float* dbeta) {
  if (relu && !y) throw std::invalid_argument("batch_norm_bwd (CUDA): relu needs y");
  const bool sums_needed = training || dgamma || dbeta;
  std::vector<double> sums(static_cast<std::size_t>(2 * C), 0.0);
  if (sums_needed)
    sums = column_sums<Term::bn_grad>(M, C, x, y, dy, mean, invstd, relu);
  if (C <= 0) return;
  const DeviceScratch<double> d(sums);
  if (dgamma) {
    to_float_kernel<<<blocks_for(C), kBlock, 0, compute_stream()>>>(C, d.p + C, dgamma);
    check_launch("batch_norm_bwd: dgamma");
  }
  if (dbeta) {
    to_float_kernel<<<blocks_for(C), kBlock, 0, compute_stream()>>>(C, d.p, dbeta);
    check_launch("batch_norm_bwd: dbeta");
  }
  if (dx && M * C > 0) {
    bn_dx_kernel<<<blocks_for(M * C), kBlock, 0, compute_stream()>>>(M * C, C, training, relu, x, y, dy, mean, invstd,
                                                gamma, d.p, 1.0 / static_cast<double>(M), dx);
    check_launch("batch_norm_bwd: dx");
  }
  check(cudaStreamSynchronize(compute_stream()), "batch_norm_bwd");  // before d's block returns to the cache
}

void adam_step(std::int64_t n, float* theta, const float* g, float* m, float* v, std::int64_t t,
               const ref::AdamHyper& h) {
  if (t < 1) throw std::invalid_argument("adam_step (CUDA): step number must be >= 1");
  if (n <= 0) return;
  const double bc1 = 1.0 - ref::ipow(h.beta1, t), bc2 = 1.0 - ref::ipow(h.beta2, t);
  adam_kernel<<<blocks_for(n), kBlock, 0, compute_stream()>>>(n, theta, g, m, v, bc1, bc2, h.lr, h.beta1, h.beta2,
                                         h.eps);
  check_launch("adam_step");
}

}  // namespace ctv::kernels::cuda
