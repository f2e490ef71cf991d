// CUDA max pooling, channel concatenation and the losses (ops.h): one thread per output (or
// input, for the pooling's gather) element, the references' expressions and scan orders; the
// loss sums chunked as kernels/cpu/reference/reduce.h, combined on the host.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/cpu/reference/reduce.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/stream.cuh"
#include "kernels/cuda/ops.h"

namespace ctv::kernels::cuda {

namespace {

// ---- max pooling: one thread per output (fprop) or input (bprop) element, the reference's own
// per-element functions (kernels/cpu/reference/max_pool3d.h) -----------------------------------
__global__ void pool_fprop_kernel(ref::MaxPool3dShape sh, const float* x, float* y,
                                  std::int64_t* argmax) {
  const int Z = sh.Z(), P = sh.P(), Q = sh.Q();
  const std::int64_t o = global_index();
  if (o >= std::int64_t(sh.N) * Z * P * Q * sh.C) return;
  const int c = static_cast<int>(o % sh.C);
  std::int64_t rest = o / sh.C;
  const int q = static_cast<int>(rest % Q);
  rest /= Q;
  const int p = static_cast<int>(rest % P);
  rest /= P;
  const int z = static_cast<int>(rest % Z);
  float best;
  const std::int64_t best_index = ref::max_pool_window(sh, x, rest / Z, z, p, q, c, best);
  y[o] = best;
  if (argmax) argmax[o] = best_index;
}

__global__ void pool_bprop_kernel(ref::MaxPool3dShape sh, const float* dy,
                                  const std::int64_t* argmax, float* dx) {
  const std::int64_t i = global_index();
  if (i >= std::int64_t(sh.N) * sh.D * sh.H * sh.W * sh.C) return;
  const int c = static_cast<int>(i % sh.C);
  std::int64_t rest = i / sh.C;
  const int w = static_cast<int>(rest % sh.W);
  rest /= sh.W;
  const int h = static_cast<int>(rest % sh.H);
  rest /= sh.H;
  const int d = static_cast<int>(rest % sh.D);
  dx[i] = static_cast<float>(ref::max_pool_gather(sh, dy, argmax, rest / sh.D, d, h, w, c));
}

// ---- concatenation: dst[r][offset + j] = src[r * pitch + j] for one source ------------------
__global__ void copy_columns_kernel(std::int64_t rows, std::int64_t width, const float* src,
                                    std::int64_t pitch, float* dst, std::int64_t dst_pitch) {
  const std::int64_t e = global_index();
  if (e >= rows * width) return;
  const std::int64_t r = e / width, j = e % width;
  dst[r * dst_pitch + j] = src[r * pitch + j];
}

// ---- losses ---------------------------------------------------------------------------------
__device__ double clamped_log(double v) {
  const double l = log(v);
  return l < -100.0 ? -100.0 : l;  // std::max(l, -100.0), as the reference: NaN stays NaN
}

// partial[chunk][...]: AM-GM (sum p g, sum p^2 + g^2) or BCE (the log terms, one column).
template <bool kBce>
__global__ void loss_chunks_kernel(std::int64_t n, std::int64_t chunks, const float* p,
                                   const float* g, double w_bg, double* partial) {
  const std::int64_t chunk = global_index();
  if (chunk >= chunks) return;
  const ChunkPlan plan{n, kReduceChunk};
  double a = 0.0, b = 0.0;
  for (std::int64_t i = plan.begin(chunk); i < plan.end(chunk); ++i) {
    const double pi = static_cast<double>(p[i]), gi = static_cast<double>(g[i]);
    if constexpr (kBce) {
      a += gi * clamped_log(pi) + w_bg * (1.0 - gi) * clamped_log(1.0 - pi);
    } else {
      a += pi * gi;
      b += pi * pi + gi * gi;
    }
  }
  if constexpr (kBce) {
    partial[chunk] = a;
  } else {
    partial[chunk * 2] = a;
    partial[chunk * 2 + 1] = b;
  }
}

template <bool kBce>
std::vector<double> loss_sums(std::int64_t n, const float* p, const float* g, double w_bg) {
  const std::int64_t chunks = ChunkPlan{n, kReduceChunk}.count(), width = kBce ? 1 : 2;
  if (chunks == 0) return std::vector<double>(static_cast<std::size_t>(width), 0.0);
  const DeviceScratch<double> partial(static_cast<std::size_t>(chunks * width));
  loss_chunks_kernel<kBce><<<blocks_for(chunks), kBlock, 0, compute_stream()>>>(n, chunks, p, g,
                                                                                 w_bg, partial.p);
  check_launch("loss sums");
  return combine_device_partials(partial.p, chunks, width);
}

__global__ void amgm_bwd_kernel(std::int64_t n, const float* p, const float* g, double S,
                                double I, double scale, float* dp, float* dg) {
  const std::int64_t i = global_index();
  if (i >= n) return;
  const double pi = static_cast<double>(p[i]), gi = static_cast<double>(g[i]);
  if (dp) dp[i] = static_cast<float>(scale * (2.0 * gi * S - 2.0 * pi * I));
  if (dg) dg[i] = static_cast<float>(scale * (2.0 * pi * S - 2.0 * gi * I));
}

__global__ void bce_bwd_kernel(std::int64_t n, const float* p, const float* g, double w_bg,
                               double scale, float* dp, float* dg) {
  const std::int64_t i = global_index();
  if (i >= n) return;
  constexpr double kGuard = 1e-12;  // as the reference (PyTorch's EPSILON)
  const double pi = static_cast<double>(p[i]), gi = static_cast<double>(g[i]);
  if (dp) {
    const double den = pi * (1.0 - pi);
    dp[i] = static_cast<float>(scale * (w_bg * (1.0 - gi) * pi - gi * (1.0 - pi)) /
                               (den < kGuard ? kGuard : den));  // std::max(den, kGuard)
  }
  if (dg) dg[i] = static_cast<float>(-scale * (clamped_log(pi) - w_bg * clamped_log(1.0 - pi)));
}

}  // namespace

void max_pool3d_fprop(const ref::MaxPool3dShape& s, const float* x, float* y,
                      std::int64_t* argmax) {
  s.validate();
  const auto n = static_cast<std::int64_t>(s.y_size());
  pool_fprop_kernel<<<blocks_for(n), kBlock, 0, compute_stream()>>>(s, x, y, argmax);
  check_launch("max_pool3d_fprop");
}

void max_pool3d_bprop(const ref::MaxPool3dShape& s, const float* dy, const std::int64_t* argmax,
                      float* dx) {
  s.validate();
  const auto n = static_cast<std::int64_t>(s.x_size());
  pool_bprop_kernel<<<blocks_for(n), kBlock, 0, compute_stream()>>>(s, dy, argmax, dx);
  check_launch("max_pool3d_bprop");
}

void concat_channels(std::size_t rows, std::size_t count, const float* const* src,
                     const std::size_t* widths, const std::size_t* pitches, float* dst,
                     std::size_t dst_pitch) {
  std::size_t offset = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const auto n = static_cast<std::int64_t>(rows * widths[i]);
    if (n > 0) {
      copy_columns_kernel<<<blocks_for(n), kBlock, 0, compute_stream()>>>(
          static_cast<std::int64_t>(rows), static_cast<std::int64_t>(widths[i]), src[i],
          static_cast<std::int64_t>(pitches[i]), dst + offset,
          static_cast<std::int64_t>(dst_pitch));
      check_launch("concat_channels");
    }
    offset += widths[i];
  }
}

ref::AmgmSums amgm_sums(std::int64_t n, const float* p, const float* g) {
  const std::vector<double> s = loss_sums<false>(n, p, g, 0.0);
  return {s[0], s[1]};
}

void amgm_bwd(std::int64_t n, const float* p, const float* g, const ref::AmgmSums& s, double eps,
              double dL, float* dp, float* dg) {
  if (n <= 0) return;
  const double I = 2.0 * s.intersection + eps, S = s.squares + eps;
  const double scale = -dL / (S * S);
  amgm_bwd_kernel<<<blocks_for(n), kBlock, 0, compute_stream()>>>(n, p, g, S, I, scale, dp, dg);
  check_launch("amgm_bwd");
}

double bce_value(std::int64_t n, const float* p, const float* g, double w_bg) {
  const std::vector<double> s = loss_sums<true>(n, p, g, w_bg);
  return -s[0] / static_cast<double>(n);
}

void bce_bwd(std::int64_t n, const float* p, const float* g, double w_bg, double dL, float* dp,
             float* dg) {
  if (n <= 0) return;
  bce_bwd_kernel<<<blocks_for(n), kBlock, 0, compute_stream()>>>(n, p, g, w_bg, dL / static_cast<double>(n), dp, dg);
  check_launch("bce_bwd");
}

}  // namespace ctv::kernels::cuda
