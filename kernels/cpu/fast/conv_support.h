// What the fast convolution ops share around the micro-kernels (baseline flags, any CPU): the
// table of the active instruction-set level, uninitialised float buffers and weight packing.
// Kept apart from conv_microkernels.h, which the per-level translation units include, so that
// no inline library code is compiled with a level's flags.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/cpu/fast/conv_microkernels.h"
#include "kernels/cpu/host_memory.h"
#include "kernels/cpu/fast/isa.h"
#include "kernels/cpu/fast/parallel.h"

namespace ctv::kernels::fast {

// The table of level `isa`. requires: isa <= cpu_isa_detected() (callers pass cpu_isa()).
const ConvMicrokernels& conv_microkernels(CpuIsa isa);
// The table for a convolution whose vectorised channel counts are a and b (pass one twice):
// cpu_isa()'s, except at AVX-512 when one of them is a multiple of 8 but not of 16, where the
// AVX2 table's 8-float vectors fit them exactly (16-float vectors would run half empty; the
// 8-channel layers of a network with 8 base filters ran at 55-95 GFLOP/s on AVX-512).
const ConvMicrokernels& conv_microkernels_for_channels(int a, int b);

// A float buffer of n elements, not initialised (the callers write every element), from
// host_alloc (big ones are recycled rather than mapped afresh: host_memory.h).
struct FloatBuffer {
  struct Free {
    std::size_t bytes;
    void operator()(float* p) const { host_free(p, bytes); }
  };
  std::unique_ptr<float[], Free> data;
  std::size_t size = 0;
  explicit FloatBuffer(std::size_t n)
      : data(static_cast<float*>(host_alloc(n * sizeof(float))), Free{n * sizeof(float)}),
        size(n) {}
  float* get() { return data.get(); }
  const float* get() const { return data.get(); }
};

// Packs the matrix B[col][l] = src[col*col_stride + l*l_stride] (cols x L) into panels of
// mk.k_block columns (layout in conv_microkernels.h), each panel's width zero-padded to whole
// vectors. ensures: blocks*k_block*L floats, blocks = ceil(cols / k_block).
FloatBuffer pack_weight_panels(const ConvMicrokernels& mk, const float* src, int cols,
                               std::int64_t L, std::int64_t col_stride, std::int64_t l_stride);
// The same into out, which holds weight_panels_size(mk, cols, L) floats.
std::int64_t weight_panels_size(const ConvMicrokernels& mk, int cols, std::int64_t L);
void pack_weight_panels_into(const ConvMicrokernels& mk, const float* src, int cols,
                             std::int64_t L, std::int64_t col_stride, std::int64_t l_stride,
                             float* out);

// Split-K reductions (wgrad): items (rows, blocks of tiles) per chunk so that there are at most
// 64 chunks and their partials, partial_floats each, fit in 64 MiB unless one alone is larger.
// Depends on the shape only, never on the thread count.
std::int64_t partial_chunk_items(std::int64_t items, std::int64_t partial_floats);

// out[i] = the sum over c < chunks, in c order and in double, of partial[c * size + i],
// rounded once to T; chunk-major over runs of kRun elements (contiguous reads).
template <typename T>
void add_partials(const float* partial, std::int64_t chunks, std::int64_t size, T* out) {
  constexpr std::int64_t kRun = 2048;
  parallel_for(size, kRun, [&](std::int64_t b, std::int64_t e) {
    double acc[kRun];
    const std::int64_t n = e - b;
    for (std::int64_t i = 0; i < n; ++i) acc[i] = partial[b + i];
    for (std::int64_t c = 1; c < chunks; ++c) {
      const float* p = partial + c * size + b;
      for (std::int64_t i = 0; i < n; ++i) acc[i] += p[i];
    }
    for (std::int64_t i = 0; i < n; ++i) out[b + i] = static_cast<T>(acc[i]);
  });
}

}  // namespace ctv::kernels::fast
