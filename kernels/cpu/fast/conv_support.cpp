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

FloatBuffer pack_weight_panels(const ConvMicrokernels& mk, const float* src, int cols,
                               std::int64_t L, std::int64_t col_stride, std::int64_t l_stride) {
  const int KB = mk.k_block, VW = mk.vec_width;
  const int blocks = (cols + KB - 1) / KB;
  FloatBuffer out(static_cast<std::size_t>(blocks) * KB * L);
  parallel_for(blocks, 1, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const int col0 = static_cast<int>(b) * KB;
      const int wb = std::min(KB, (cols - col0 + VW - 1) / VW * VW);
      float* panel = out.get() + b * KB * L;
      for (std::int64_t l = 0; l < L; ++l)
        for (int kk = 0; kk < wb; ++kk) {
          const int col = col0 + kk;
          panel[l * wb + kk] = col < cols ? src[col * col_stride + l * l_stride] : 0.0f;
        }
    }
  });
  return out;
}

}  // namespace ctv::kernels::fast
