// CUDA conv3d (conv3d.h): one tiled GEMM kernel, its operands read through the loaders of
// each pass (conv_gemm.h), and the ordered reductions of wgrad's split-K partials and dbias.
#include "kernels/cuda/conv3d.h"

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "kernels/cuda/conv_gemm.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/stream.cuh"
#include "kernels/cuda/ops.h"

namespace ctv::kernels::cuda {

namespace {

constexpr int TM = kConvTileM, TN = kConvTileN, TL = kConvTileL;
static_assert(kConvThreads == (TM / 4) * (TN / 4), "one 4 x 4 sub-tile per thread");

void require_device(const char* fn, const void* a, const void* b, const void* c) {
  if (!a || !b || !c) throw std::invalid_argument(std::string(fn) + ": null buffer");
}

// C[m][n] for m < M, n < N = sum over the reduction indices l in [l_begin, l_end) of
// a(m, l) * b(l, n), in ascending l, one fused multiply-add per term; blockIdx.z picks the
// range [z * chunk, min(L, (z + 1) * chunk)) and store(z, m, n, value) writes the result.
template <class LoadA, class LoadB, class Store>
__global__ void __launch_bounds__(kConvThreads)
    gemm_kernel(std::int64_t M, int N, std::int64_t L, std::int64_t chunk, LoadA a, LoadB b,
                Store store) {
  __shared__ float As[TL][TM + 4];  // As[l][m]
  __shared__ float Bs[TL][TN + 4];  // Bs[l][n]
  const int tid = static_cast<int>(threadIdx.x);
  const std::int64_t m0 = std::int64_t(blockIdx.x) * TM;
  const int n0 = static_cast<int>(blockIdx.y) * TN;
  const std::int64_t l_begin = std::int64_t(blockIdx.z) * chunk;
  const std::int64_t l_end = l_begin + chunk < L ? l_begin + chunk : L;
  const int tm = (tid / (TN / 4)) * 4, tn = (tid % (TN / 4)) * 4;
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  for (std::int64_t l0 = l_begin; l0 < l_end; l0 += TL) {
    for (int e = tid; e < TM * TL; e += kConvThreads) {
      const int mm = e / TL, ll = e % TL;
      const std::int64_t m = m0 + mm, l = l0 + ll;
      As[ll][mm] = (m < M && l < l_end) ? a(m, l) : 0.0f;
    }
    for (int e = tid; e < TL * TN; e += kConvThreads) {
      const int ll = e / TN, nn = e % TN;
      const std::int64_t l = l0 + ll;
      const int n = n0 + nn;
      Bs[ll][nn] = (n < N && l < l_end) ? b(l, n) : 0.0f;
    }
    __syncthreads();
    // Only the terms with l < l_end enter a sum: the zero padding of a partial last tile is
    // skipped, so every output is exactly the in-order sum conv_gemm.h describes.
    const int valid = l_end - l0 < TL ? static_cast<int>(l_end - l0) : TL;
    for (int ll = 0; ll < valid; ++ll) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = As[ll][tm + i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = Bs[ll][tn + j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const std::int64_t m = m0 + tm + i;
      const int n = n0 + tn + j;
      if (m < M && n < N) store(static_cast<int>(blockIdx.z), m, n, acc[i][j]);
    }
}

// y[m][k] += bias[k] for the rows m of y (rows x K).
__global__ void add_bias_kernel(std::int64_t n, int K, const float* bias, float* y) {
  const std::int64_t i = global_index();
  if (i < n) y[i] += bias[i % K];
}

// out[i] = sum over z < parts of partial[z * count + i], in z order.
__global__ void sum_parts_kernel(const float* partial, std::int64_t parts, std::int64_t count,
                                 float* out) {
  const std::int64_t i = global_index();
  if (i >= count) return;
  float total = 0.0f;
  for (std::int64_t z = 0; z < parts; ++z) total += partial[z * count + i];
  out[i] = total;
}

// partial[z][k] = sum over the rows m of chunk z of dy[m][k], in row order.
__global__ void bias_parts_kernel(const float* dy, std::int64_t M, int K, std::int64_t rows,
                                  float* partial) {
  const int k = static_cast<int>(blockIdx.x) * blockDim.x + static_cast<int>(threadIdx.x);
  if (k >= K) return;
  const std::int64_t z = blockIdx.y;
  const std::int64_t m1 = (z + 1) * rows < M ? (z + 1) * rows : M;
  float s = 0.0f;
  for (std::int64_t m = z * rows; m < m1; ++m) s += dy[m * K + k];
  partial[z * K + k] = s;
}

struct FpropA {
  Conv3dShape s;
  const float* x;
  __device__ float operator()(std::int64_t m, std::int64_t l) const {
    const std::int64_t o = fprop_a_offset(s, m, l);
    return o < 0 ? 0.0f : x[o];
  }
};
struct FpropB {
  Conv3dShape s;
  const float* w;
  __device__ float operator()(std::int64_t l, int k) const { return w[fprop_b_offset(s, l, k)]; }
};
struct FpropStore {
  int K;
  const float* bias;
  float* y;
  __device__ void operator()(int, std::int64_t m, int k, float v) const {
    y[m * K + k] = bias ? v + bias[k] : v;
  }
};

struct DgradA {
  Conv3dShape s;
  const float* dy;
  __device__ float operator()(std::int64_t m, std::int64_t l) const {
    const std::int64_t o = dgrad_a_offset(s, m, l);
    return o < 0 ? 0.0f : dy[o];
  }
};
struct DgradB {
  Conv3dShape s;
  const float* w;
  __device__ float operator()(std::int64_t l, int c) const { return w[dgrad_b_offset(s, l, c)]; }
};
struct RowStore {
  int cols;
  float* out;
  __device__ void operator()(int, std::int64_t m, int n, float v) const { out[m * cols + n] = v; }
};

// wgrad as a GEMM: rows k, columns l, reduction over the output pixels m; its B operand is
// fprop's A (FpropA).
struct WgradA {
  int K;
  const float* dy;
  __device__ float operator()(std::int64_t k, std::int64_t m) const { return dy[m * K + k]; }
};
struct PartialStore {
  std::int64_t count;  // K * L
  std::int64_t L;
  float* partial;
  __device__ void operator()(int z, std::int64_t k, int l, float v) const {
    partial[z * count + k * L + l] = v;
  }
};

dim3 gemm_grid(std::int64_t M, int N, std::int64_t parts) {
  return dim3(static_cast<unsigned>((M + TM - 1) / TM), static_cast<unsigned>((N + TN - 1) / TN),
              static_cast<unsigned>(parts));
}

}  // namespace

void conv3d_fprop(const Conv3dShape& s, const float* x, const float* w, const float* bias,
                  float* y) {
  s.validate();
  require_device("conv3d_fprop (CUDA)", x, w, y);
  const std::int64_t M = fprop_rows(s), L = fprop_reduction(s);
  gemm_kernel<<<gemm_grid(M, s.K, 1), kConvThreads, 0, compute_stream()>>>(M, s.K, L, L, FpropA{s, x}, FpropB{s, w},
                                                      FpropStore{s.K, bias, y});
  check_launch("conv3d_fprop (CUDA)");
}

void conv3d_dgrad(const Conv3dShape& s, const float* dy, const float* w, float* dx) {
  s.validate();
  require_device("conv3d_dgrad (CUDA)", dy, w, dx);
  const std::int64_t M = dgrad_rows(s), L = dgrad_reduction(s);
  gemm_kernel<<<gemm_grid(M, s.C, 1), kConvThreads, 0, compute_stream()>>>(M, s.C, L, L, DgradA{s, dy}, DgradB{s, w},
                                                      RowStore{s.C, dx});
  check_launch("conv3d_dgrad (CUDA)");
}

void conv3d_wgrad(const Conv3dShape& s, const float* x, const float* dy, float* dw,
                  float* dbias) {
  s.validate();
  require_device("conv3d_wgrad (CUDA)", x, dy, dw);
  const std::int64_t M = fprop_rows(s), L = fprop_reduction(s), parts = wgrad_chunks(s);
  const std::int64_t count = std::int64_t(s.K) * L;
  const DeviceScratch<float> partial(static_cast<std::size_t>(parts * count));
  gemm_kernel<<<gemm_grid(s.K, static_cast<int>(L), parts), kConvThreads, 0, compute_stream()>>>(
      s.K, static_cast<int>(L), M, kConvWgradChunkRows, WgradA{s.K, dy}, FpropA{s, x},
      PartialStore{count, L, partial.p});
  check_launch("conv3d_wgrad (CUDA)");
  sum_parts_kernel<<<blocks_for(count), kBlock, 0, compute_stream()>>>(partial.p, parts, count,
                                                                        dw);
  check_launch("conv3d_wgrad (CUDA): partial sums");
  if (dbias) {
    const DeviceScratch<float> bias_partial(static_cast<std::size_t>(parts * s.K));
    bias_parts_kernel<<<dim3(static_cast<unsigned>((s.K + 127) / 128),
                             static_cast<unsigned>(parts)),
                        128, 0, compute_stream()>>>(dy, M, s.K, kConvWgradChunkRows, bias_partial.p);
    check_launch("conv3d_wgrad (CUDA): bias partials");
    sum_parts_kernel<<<blocks_for(s.K), kBlock, 0, compute_stream()>>>(bias_partial.p, parts,
                                                                        s.K, dbias);
    check_launch("conv3d_wgrad (CUDA): bias");
    // The scratch returns to the cache when this scope ends; the kernels reading it were
    // queued on the same stream before any later use of the block, so the reuse is ordered.
  }
}

void conv_transpose3d_fprop(const ref::ConvTranspose3dShape& s, const float* x, const float* w,
                            const float* bias, float* y) {
  s.validate();
  const Conv3dShape f = s.as_forward_conv();
  conv3d_dgrad(f, x, w, y);
  if (bias) {
    const std::int64_t n = static_cast<std::int64_t>(s.y_size());
    add_bias_kernel<<<blocks_for(n), kBlock, 0, compute_stream()>>>(n, s.K, bias, y);
    check_launch("conv_transpose3d_fprop (CUDA): bias");
  }
}

void conv_transpose3d_dgrad(const ref::ConvTranspose3dShape& s, const float* dy, const float* w,
                            float* dx) {
  s.validate();
  conv3d_fprop(s.as_forward_conv(), dy, w, nullptr, dx);
}

void conv_transpose3d_wgrad(const ref::ConvTranspose3dShape& s, const float* x, const float* dy,
                            float* dw, float* dbias) {
  s.validate();
  conv3d_wgrad(s.as_forward_conv(), dy, x, dw, nullptr);
  if (dbias) sum_rows(static_cast<std::int64_t>(s.y_size()) / s.K, s.K, dy, dbias);
}

}  // namespace ctv::kernels::cuda
