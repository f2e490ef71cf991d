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

namespace ctv::kernels::fast {

// The table of level `isa`. requires: isa <= cpu_isa_detected() (callers pass cpu_isa()).
const ConvMicrokernels& conv_microkernels(CpuIsa isa);

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

}  // namespace ctv::kernels::fast
