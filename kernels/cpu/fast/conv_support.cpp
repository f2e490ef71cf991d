// Level selection and weight packing for the convolution micro-kernels (baseline flags: runs
// on any CPU). Layouts: see conv_microkernels.h.
#include "kernels/cpu/fast/conv_support.h"

#include <algorithm>

#include "kernels/cpu/fast/parallel.h"

namespace ctv::kernels::fast {

const ConvMicrokernels& conv_microkernels(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512:
      return conv_microkernels_avx512();
    case CpuIsa::avx2:
      return conv_microkernels_avx2();
    case CpuIsa::portable:
      break;
  }
  return conv_microkernels_portable();
}

const ConvMicrokernels& conv_microkernels_for_channels(int a, int b) {
  const CpuIsa isa = cpu_isa();
  auto half_vector = [](int n) { return n % 16 != 0 && n % 8 == 0; };
  if (isa == CpuIsa::avx512 && (half_vector(a) || half_vector(b)))
    return conv_microkernels(CpuIsa::avx2);
  return conv_microkernels(isa);
}

std::int64_t partial_chunk_items(std::int64_t items, std::int64_t partial_floats) {
  const std::int64_t max_chunks = std::clamp<std::int64_t>(
      (std::int64_t(64) << 20) / (partial_floats * std::int64_t(sizeof(float))), 1, 64);
  return (items + max_chunks - 1) / max_chunks;
}

std::int64_t weight_panels_size(const ConvMicrokernels& mk, int cols, std::int64_t L) {
  return std::int64_t((cols + mk.k_block - 1) / mk.k_block) * mk.k_block * L;
}

FloatBuffer pack_weight_panels(const ConvMicrokernels& mk, const float* src, int cols,
                               std::int64_t L, std::int64_t col_stride, std::int64_t l_stride) {
  FloatBuffer out(static_cast<std::size_t>(weight_panels_size(mk, cols, L)));
  pack_weight_panels_into(mk, src, cols, L, col_stride, l_stride, out.get());
  return out;
}

void pack_weight_panels_into(const ConvMicrokernels& mk, const float* src, int cols,
                             std::int64_t L, std::int64_t col_stride, std::int64_t l_stride,
                             float* out) {
  const int KB = mk.k_block, VW = mk.vec_width;
  const int blocks = (cols + KB - 1) / KB;
  parallel_for(blocks, 1, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const int col0 = static_cast<int>(b) * KB;
      const int wb = std::min(KB, (cols - col0 + VW - 1) / VW * VW);
      float* panel = out + b * KB * L;
      for (std::int64_t l = 0; l < L; ++l)
        for (int kk = 0; kk < wb; ++kk) {
          const int col = col0 + kk;
          panel[l * wb + kk] = col < cols ? src[col * col_stride + l * l_stride] : 0.0f;
        }
    }
  });
}

}  // namespace ctv::kernels::fast
