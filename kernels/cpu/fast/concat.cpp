// Fast channel concatenation (see concat.h). Rows are interleaved input by input within a
// block of rows, so each input and the output stream through memory once.
#include "kernels/cpu/fast/concat.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/fast/elementwise.h"
#include "kernels/cpu/fast/parallel.h"

namespace ctv::kernels::fast {

void concat_channels(std::size_t rows, std::size_t count, const float* const* src,
                     const std::size_t* widths, const std::size_t* pitches, float* dst,
                     std::size_t dst_pitch) {
  const std::size_t grain = std::max<std::size_t>(1, kElementBlock / std::max<std::size_t>(1, dst_pitch));
  parallel_for(static_cast<std::int64_t>(rows), static_cast<std::int64_t>(grain),
               [&](std::int64_t b, std::int64_t e) {
                 std::size_t off = 0;
                 for (std::size_t i = 0; i < count; ++i) {
                   const std::size_t w = widths[i], sp = pitches[i];
                   const float* s = src[i];
                   for (auto r = static_cast<std::size_t>(b); r < static_cast<std::size_t>(e); ++r)
                     std::memcpy(dst + r * dst_pitch + off, s + r * sp, w * sizeof(float));
                   off += w;
                 }
               });
}

}  // namespace ctv::kernels::fast
