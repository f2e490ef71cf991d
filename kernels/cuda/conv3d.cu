// CUDA conv3d (conv3d.h): two tiled GEMM kernels, float32 on the SIMT cores and TF32 on the
// tensor cores (mma_layout.h), their operands read through the loaders of each pass
// (conv_gemm.h), and the ordered reductions of wgrad's split-K partials and dbias.
#include "kernels/cuda/conv3d.h"

#include <cuda_runtime.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/cuda/conv_gemm.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/mma_layout.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/stream.cuh"

namespace ctv::kernels::cuda {

namespace {

constexpr int TM = kConvTileM, TN = kConvTileN, TL = kConvTileL;
constexpr std::int64_t kMaxGridZ = 65535;  // gridDim.z (and y) limit
static_assert(kConvThreads == (TM / 4) * (TN / 4), "one 4 x 4 sub-tile per thread");

void require_device(const char* fn, const void* a, const void* b, const void* c) {
  if (!a || !b || !c) throw std::invalid_argument(std::string(fn) + ": null buffer");
}

// The gathered operand A's indices, decomposed once (conv_gemm.h's ConvPixel and ConvTap): the
// block's kRows rows as the block starts, each tile's kTile reduction indices as the tile
// starts (read after the tile's first __syncthreads). Rows are pixels (fprop, dgrad: rows m,
// reduction l over the taps) or taps (wgrad: rows l, reduction m over the output pixels).
template <bool kRowsArePixels, int kRows, int kTile, class Gather>
struct GatherIndex {
  ConvPixel pix[kRowsArePixels ? kRows : kTile];
  ConvTap tap[kRowsArePixels ? kTile : kRows];
  __device__ void rows(const Gather& g, std::int64_t m0, std::int64_t M, int tid, int threads) {
    for (int i = tid; i < kRows; i += threads)
      if (m0 + i < M) {
        if constexpr (kRowsArePixels)
          pix[i] = g.pixel(m0 + i);
        else
          tap[i] = g.tap(m0 + i);
      }
  }
  __device__ void tile(const Gather& g, std::int64_t l0, std::int64_t l_end, int tid, int threads) {
    for (int i = tid; i < kTile; i += threads)
      if (l0 + i < l_end) {
        if constexpr (kRowsArePixels)
          tap[i] = g.tap(l0 + i);
        else
          pix[i] = g.pixel(l0 + i);
      }
  }
  // A[row][col] of the block (row < kRows, col < kTile), both in range.
  __device__ float at(const Gather& g, int row, int col) const {
    if constexpr (kRowsArePixels)
      return g.at(pix[row], tap[col]);
    else
      return g.at(pix[col], tap[row]);
  }
};

// C[m][n] for m < M, n < N = sum over the reduction indices l in [l_begin, l_end) of
// A(m, l) * b(l, n) (A gathered by g through GatherIndex), in ascending l, one fused multiply-add
// per term; z = z0 + blockIdx.z picks the range [z * chunk, min(L, (z + 1) * chunk)) and store(z,
// m, n, value) writes the result.
template <bool kRowsArePixels, class Gather, class LoadB, class Store>
__global__ void __launch_bounds__(kConvThreads)
    gemm_kernel(std::int64_t M, int N, std::int64_t L, std::int64_t chunk, std::int64_t z0,
                Gather g, LoadB b, Store store) {
  __shared__ float As[TL][TM + 4];  // As[l][m]
  __shared__ float Bs[TL][TN + 4];  // Bs[l][n]
  __shared__ GatherIndex<kRowsArePixels, TM, TL, Gather> gi;
  const int tid = static_cast<int>(threadIdx.x);
  const std::int64_t m0 = std::int64_t(blockIdx.x) * TM;
  const int n0 = static_cast<int>(blockIdx.y) * TN;
  const std::int64_t z = z0 + blockIdx.z;
  const std::int64_t l_begin = z * chunk;
  const std::int64_t l_end = l_begin + chunk < L ? l_begin + chunk : L;
  const int tm = (tid / (TN / 4)) * 4, tn = (tid % (TN / 4)) * 4;
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  gi.rows(g, m0, M, tid, kConvThreads);
  for (std::int64_t l0 = l_begin; l0 < l_end; l0 += TL) {
    gi.tile(g, l0, l_end, tid, kConvThreads);
    __syncthreads();
    for (int e = tid; e < TM * TL; e += kConvThreads) {
      const int mm = e / TL, ll = e % TL;
      const std::int64_t m = m0 + mm, l = l0 + ll;
      As[ll][mm] = (m < M && l < l_end) ? gi.at(g, mm, ll) : 0.0f;
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
      if (m < M && n < N) store(z, m, n, acc[i][j]);
    }
}

// The same GEMM on the tensor cores: operands rounded once to TF32 or BF16 as they enter shared
// memory, float accumulation. A block computes kTcTileM x BN outputs (mma_layout.h says which
// lane holds what); z picks the reduction range as in gemm_kernel. The zero padding of
// partial tiles enters the sums as exact zeros. Deterministic: the same instructions in the
// same order on every run. Ops is Tf32Ops or Bf16Ops: the element in shared memory, the
// rounding, the fragment loads and the mma instruction.
// d += a b for one warp: mma.sync m16n8k16 with BF16 operands (kBf16) or m16n8k8 with TF32,
// float accumulators; the operand and accumulator registers are laid out alike (mma_layout.h).
#define CTV_MMA_SYNC_F32(SHAPE_TYPES)                                   \
  asm volatile("mma.sync.aligned." SHAPE_TYPES                          \
               " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};" \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])         \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]))
template <bool kBf16>
__device__ inline void mma_m16n8(float (&d)[4], const std::uint32_t (&a)[4],
                                 const std::uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (kBf16)
    CTV_MMA_SYNC_F32("m16n8k16.row.col.f32.bf16.bf16.f32");
  else
    CTV_MMA_SYNC_F32("m16n8k8.row.col.f32.tf32.tf32.f32");
#else
  __trap();  // not reached: the build's images are sm_80 and newer (CTV_CUDA_ARCHS)
#endif
}
#undef CTV_MMA_SYNC_F32

struct Tf32Ops {
  using Elem = std::uint32_t;
  static constexpr int kPad = kTcSmemPad, kSteps = kTcTileL / kTcMmaK;
  using ATile = Elem[kTcTileM][kTcTileL + kPad];
  template <int BN>
  using BTile = Elem[BN][kTcTileL + kPad];
  __device__ static Elem convert(float v) {
    std::uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
    return r;
  }
  __device__ static void load_a(std::uint32_t (&a)[4], const ATile& As, int warp, int i, int ks,
                                int lane) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const MmaCoord c = tc_a_smem(warp, i, ks, lane, r);
      a[r] = As[c.row][c.col];
    }
  }
  template <int BN>
  __device__ static void load_b(std::uint32_t (&b)[2], const BTile<BN>& Bs, int j, int ks,
                                int lane) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const MmaCoord c = tc_b_smem(j, ks, lane, r);
      b[r] = Bs[c.row][c.col];
    }
  }
  __device__ static void mma(float (&d)[4], const std::uint32_t (&a)[4],
                             const std::uint32_t (&b)[2]) {
    mma_m16n8<false>(d, a, b);
  }
};

struct Bf16Ops {
  using Elem = std::uint16_t;
  static constexpr int kPad = kTcSmemPadBf16, kSteps = 1;
  using ATile = Elem[kTcTileM][kTcTileL + kPad];
  template <int BN>
  using BTile = Elem[BN][kTcTileL + kPad];
  __device__ static Elem convert(float v) {
    std::uint16_t r;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(v));
    return r;
  }
  // Two adjacent values of a row as one register (the even column in the low half).
  template <class Row>
  __device__ static std::uint32_t pair(const Row& row, int col) {
    return *reinterpret_cast<const std::uint32_t*>(&row[col]);
  }
  __device__ static void load_a(std::uint32_t (&a)[4], const ATile& As, int warp, int i, int,
                                int lane) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const MmaCoord c = tc_a_smem_bf16(warp, i, lane, r);
      a[r] = pair(As[c.row], c.col);
    }
  }
  template <int BN>
  __device__ static void load_b(std::uint32_t (&b)[2], const BTile<BN>& Bs, int j, int, int lane) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const MmaCoord c = tc_b_smem_bf16(j, lane, r);
      b[r] = pair(Bs[c.row], c.col);
    }
  }
  __device__ static void mma(float (&d)[4], const std::uint32_t (&a)[4],
                             const std::uint32_t (&b)[2]) {
    mma_m16n8<true>(d, a, b);
  }
};

template <class Ops, int BN, bool kRowsArePixels, class Gather, class LoadB, class Store>
__global__ void __launch_bounds__(kTcThreads)
    tc_gemm_kernel(std::int64_t M, int N, std::int64_t L, std::int64_t chunk, std::int64_t z0,
                   Gather g, LoadB b, Store store) {
  using Elem = typename Ops::Elem;
  constexpr int NT = BN / 8;  // n8 tiles per warp
  __shared__ __align__(16) typename Ops::ATile As;
  __shared__ __align__(16) typename Ops::template BTile<BN> Bs;
  __shared__ GatherIndex<kRowsArePixels, kTcTileM, kTcTileL, Gather> gi;
  const int tid = static_cast<int>(threadIdx.x), warp = tid / 32, lane = tid % 32;
  const std::int64_t m0 = std::int64_t(blockIdx.x) * kTcTileM;
  const int n0 = static_cast<int>(blockIdx.y) * BN;
  const std::int64_t z = z0 + blockIdx.z;
  const std::int64_t l_begin = z * chunk;
  const std::int64_t l_end = l_begin + chunk < L ? l_begin + chunk : L;
  float acc[2][NT][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;
  gi.rows(g, m0, M, tid, kTcThreads);
  for (std::int64_t l0 = l_begin; l0 < l_end; l0 += kTcTileL) {
    gi.tile(g, l0, l_end, tid, kTcThreads);
    __syncthreads();
    for (int e = tid; e < kTcTileM * kTcTileL; e += kTcThreads) {
      const MmaCoord f = tc_fill(e);
      const std::int64_t m = m0 + f.row, l = l0 + f.col;
      As[f.row][f.col] = (m < M && l < l_end) ? Ops::convert(gi.at(g, f.row, f.col)) : Elem(0);
    }
    for (int e = tid; e < BN * kTcTileL; e += kTcThreads) {
      // Consecutive threads read consecutive addresses: along l (fprop's weights) or along n
      // (the others: LoadB::kColumnsContiguous).
      const MmaCoord f = LoadB::kColumnsContiguous ? MmaCoord{e % BN, e / BN} : tc_fill(e);
      const int n = n0 + f.row;
      const std::int64_t l = l0 + f.col;
      Bs[f.row][f.col] = (n < N && l < l_end) ? Ops::convert(b(l, n)) : Elem(0);
    }
    __syncthreads();
#pragma unroll
    for (int ks = 0; ks < Ops::kSteps; ++ks) {
      std::uint32_t af[2][4];
#pragma unroll
      for (int i = 0; i < 2; ++i) Ops::load_a(af[i], As, warp, i, ks, lane);
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        std::uint32_t bf[2];
        Ops::template load_b<BN>(bf, Bs, j, ks, lane);
#pragma unroll
        for (int i = 0; i < 2; ++i) Ops::mma(acc[i][j], af[i], bf);
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const MmaCoord c = tc_acc(warp, i, j, lane, r);
        const std::int64_t m = m0 + c.row;
        const int n = n0 + c.col;
        if (m < M && n < N) store(z, m, n, acc[i][j][r]);
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

// partial[z][k] = sum over the rows m of chunk z of dy[m][k], in row order; z = blockIdx.x
// (x has no 65535 limit).
__global__ void bias_parts_kernel(const float* dy, std::int64_t M, int K, std::int64_t rows,
                                  float* partial) {
  const int k = static_cast<int>(blockIdx.y) * blockDim.x + static_cast<int>(threadIdx.x);
  if (k >= K) return;
  const std::int64_t z = blockIdx.x;
  const std::int64_t m1 = (z + 1) * rows < M ? (z + 1) * rows : M;
  float s = 0.0f;
  for (std::int64_t m = z * rows; m < m1; ++m) s += dy[m * K + k];
  partial[z * K + k] = s;
}

// The gathered operands (conv_gemm.h): x for fprop (rows are output pixels) and wgrad (rows
// are taps), dy for dgrad (rows are input pixels).
struct FpropGather {
  Conv3dShape s;
  const float* x;
  __device__ ConvPixel pixel(std::int64_t m) const { return fprop_pixel(s, m); }
  __device__ ConvTap tap(std::int64_t l) const { return fprop_tap(s, l); }
  __device__ float at(const ConvPixel& p, const ConvTap& t) const {
    const std::int64_t o = fprop_gather(s, p, t);
    return o < 0 ? 0.0f : x[o];
  }
};
struct DgradGather {
  Conv3dShape s;
  const float* dy;
  __device__ ConvPixel pixel(std::int64_t m) const { return dgrad_pixel(s, m); }
  __device__ ConvTap tap(std::int64_t l) const { return dgrad_tap(s, l); }
  __device__ float at(const ConvPixel& p, const ConvTap& t) const {
    const std::int64_t o = dgrad_gather(s, p, t);
    return o < 0 ? 0.0f : dy[o];
  }
};

// kColumnsContiguous: b(l, n) and b(l, n + 1) are adjacent in memory (else b(l + 1, n) is).
struct FpropB {
  static constexpr bool kColumnsContiguous = false;
  Conv3dShape s;
  const float* w;
  __device__ float operator()(std::int64_t l, int k) const { return w[fprop_b_offset(s, l, k)]; }
};
struct FpropStore {
  int K;
  const float* bias;
  float* y;
  __device__ void operator()(std::int64_t, std::int64_t m, int k, float v) const {
    y[m * K + k] = bias ? v + bias[k] : v;
  }
};

struct DgradB {
  static constexpr bool kColumnsContiguous = true;
  Conv3dShape s;
  const float* w;
  __device__ float operator()(std::int64_t l, int c) const { return w[dgrad_b_offset(s, l, c)]; }
};
struct RowStore {
  int cols;
  float* out;
  __device__ void operator()(std::int64_t, std::int64_t m, int n, float v) const {
    out[m * cols + n] = v;
  }
};

// wgrad is the GEMM with rows l (taps), columns k, reduced over the output pixels m: A is x
// gathered with rows as taps, B is dy.
struct DyRows {
  static constexpr bool kColumnsContiguous = true;
  int K;
  const float* dy;
  __device__ float operator()(std::int64_t m, int k) const { return dy[m * K + k]; }
};
struct WgradPartialStore {
  std::int64_t count;  // K * L
  std::int64_t L;
  float* partial;
  __device__ void operator()(std::int64_t z, std::int64_t l, int k, float v) const {
    partial[z * count + k * L + l] = v;
  }
};

// The transposed convolution as a GEMM and a scatter (conv_gemm.h, transposed_is_scatter): A is
// x as a dense rows x C matrix (a gather whose pixel is a row and whose tap is a channel), B the
// weights as stored, each result written to its one output with the bias.
struct DenseRows {
  int C;
  const float* x;
  __device__ ConvPixel pixel(std::int64_t m) const { return {m * C, 0, 0, 0}; }
  __device__ ConvTap tap(std::int64_t c) const { return {0, 0, 0, static_cast<int>(c)}; }
  __device__ float at(const ConvPixel& p, const ConvTap& t) const { return x[p.base + t.ch]; }
};
struct WeightRows {
  static constexpr bool kColumnsContiguous = true;
  int N;
  const float* w;
  __device__ float operator()(std::int64_t c, int n) const { return w[c * N + n]; }
};
struct ScatterStore {
  ConvTranspose3dShape s;
  const float* bias;
  float* y;
  __device__ void operator()(std::int64_t, std::int64_t m, int n, float v) const {
    y[transposed_scatter_offset(s, m, n)] = bias ? v + bias[n % s.K] : v;
  }
};

std::atomic<ConvMath> g_conv_math{ConvMath::fp32};

// C = A B over M rows, N columns and the reduction [0, L) in `parts` ranges of `chunk`, on the
// kernel of `math`. M / 64 or M / 128 blocks along x (up to 2^31 - 1), N / 64 or fewer along y.
template <bool kRowsArePixels, class Gather, class LoadB, class Store>
void run_gemm(ConvMath math, std::int64_t M, int N, std::int64_t L, std::int64_t chunk,
              std::int64_t parts, Gather a, LoadB b, Store store, const char* what) {
  const cudaStream_t st = compute_stream();
  // The reduction ranges in launches of at most 65535 (the grid's z limit), z0 the first.
  for (std::int64_t z0 = 0; z0 < parts; z0 += kMaxGridZ) {
    const unsigned nz = static_cast<unsigned>(parts - z0 < kMaxGridZ ? parts - z0 : kMaxGridZ);
    if (math == ConvMath::tf32 || math == ConvMath::bf16) {
      const int bn = tc_tile_n(N);
      const dim3 grid(static_cast<unsigned>((M + kTcTileM - 1) / kTcTileM),
                      static_cast<unsigned>((N + bn - 1) / bn), nz);
      const auto launch = [&](auto ops, auto bn_const) {
        tc_gemm_kernel<decltype(ops), decltype(bn_const)::value, kRowsArePixels>
            <<<grid, kTcThreads, 0, st>>>(M, N, L, chunk, z0, a, b, store);
      };
      using I16 = std::integral_constant<int, 16>;
      using I32 = std::integral_constant<int, 32>;
      using I64 = std::integral_constant<int, 64>;
      if (math == ConvMath::tf32) {
        if (bn == 16)
          launch(Tf32Ops{}, I16{});
        else if (bn == 32)
          launch(Tf32Ops{}, I32{});
        else
          launch(Tf32Ops{}, I64{});
      } else {
        if (bn == 16)
          launch(Bf16Ops{}, I16{});
        else if (bn == 32)
          launch(Bf16Ops{}, I32{});
        else
          launch(Bf16Ops{}, I64{});
      }
    } else {
      const dim3 grid(static_cast<unsigned>((M + TM - 1) / TM),
                      static_cast<unsigned>((N + TN - 1) / TN), nz);
      gemm_kernel<kRowsArePixels><<<grid, kConvThreads, 0, st>>>(M, N, L, chunk, z0, a, b, store);
    }
    check_launch(what);
  }
}

}  // namespace

void set_conv_math(ConvMath math) { g_conv_math.store(math); }
ConvMath conv_math() { return g_conv_math.load(); }

void conv3d_fprop(const Conv3dShape& s, const float* x, const float* w, const float* bias,
                  float* y) {
  s.validate();
  require_device("conv3d_fprop (CUDA)", x, w, y);
  const std::int64_t M = fprop_rows(s), L = fprop_reduction(s);
  run_gemm<true>(conv_math(), M, s.K, L, L, 1, FpropGather{s, x}, FpropB{s, w},
                 FpropStore{s.K, bias, y}, "conv3d_fprop (CUDA)");
}

void conv3d_dgrad(const Conv3dShape& s, const float* dy, const float* w, float* dx) {
  s.validate();
  require_device("conv3d_dgrad (CUDA)", dy, w, dx);
  const std::int64_t M = dgrad_rows(s), L = dgrad_reduction(s);
  run_gemm<true>(conv_math(), M, s.C, L, L, 1, DgradGather{s, dy}, DgradB{s, w}, RowStore{s.C, dx},
                 "conv3d_dgrad (CUDA)");
}

void conv3d_wgrad(const Conv3dShape& s, const float* x, const float* dy, float* dw, float* dbias) {
  s.validate();
  require_device("conv3d_wgrad (CUDA)", x, dy, dw);
  const std::int64_t M = fprop_rows(s), L = fprop_reduction(s), parts = wgrad_chunks(s);
  const std::int64_t count = std::int64_t(s.K) * L;
  const DeviceScratch<float> partial(static_cast<std::size_t>(parts * count));
  run_gemm<false>(conv_math(), L, s.K, M, kConvWgradChunkRows, parts, FpropGather{s, x},
                  DyRows{s.K, dy}, WgradPartialStore{count, L, partial.p}, "conv3d_wgrad (CUDA)");
  sum_parts_kernel<<<blocks_for(count), kBlock, 0, compute_stream()>>>(partial.p, parts, count, dw);
  check_launch("conv3d_wgrad (CUDA): partial sums");
  if (dbias) {
    const DeviceScratch<float> bias_partial(static_cast<std::size_t>(parts * s.K));
    bias_parts_kernel<<<dim3(static_cast<unsigned>(parts),
                             static_cast<unsigned>((s.K + 127) / 128)),
                        128, 0, compute_stream()>>>(dy, M, s.K, kConvWgradChunkRows,
                                                    bias_partial.p);
    check_launch("conv3d_wgrad (CUDA): bias partials");
    sum_parts_kernel<<<blocks_for(s.K), kBlock, 0, compute_stream()>>>(bias_partial.p, parts, s.K,
                                                                       dbias);
    check_launch("conv3d_wgrad (CUDA): bias");
    // The scratch returns to the cache when this scope ends; the kernels reading it were
    // queued on the same stream before any later use of the block, so the reuse is ordered.
  }
}

void conv_transpose3d_fprop(const ref::ConvTranspose3dShape& s, const float* x, const float* w,
                            const float* bias, float* y) {
  s.validate();
  if (transposed_is_scatter(s)) {
    // Each output is one input pixel's sum over c: the same sum (c ascending, one fused
    // multiply-add each, then the bias) the general path below gives, without its T R S - 1
    // zero taps per output.
    require_device("conv_transpose3d_fprop (CUDA)", x, w, y);
    const int N = transposed_columns(s);
    run_gemm<true>(conv_math(), transposed_rows(s), N, s.C, s.C, 1, DenseRows{s.C, x},
                   WeightRows{N, w}, ScatterStore{s, bias, y}, "conv_transpose3d_fprop (CUDA)");
    return;
  }
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
