// Channel concatenation and strided row copies (see concat.h for the contracts).
#include "kernels/cpu/reference/concat.h"

#include <cstring>

namespace ctv::kernels::ref {

template <typename T>
void copy_rows(std::size_t rows, std::size_t width, const T* src, std::size_t sp, T* dst,
               std::size_t dp) {
  if (width == sp && width == dp) {
    if (rows != 0 && width != 0) std::memcpy(dst, src, rows * width * sizeof(T));
    return;
  }
  for (std::size_t r = 0; r < rows; ++r)
    if (width) std::memcpy(dst + r * dp, src + r * sp, width * sizeof(T));
}

template <typename T>
void concat_channels(std::size_t rows, std::size_t count, const T* const* src,
                     const std::size_t* widths, const std::size_t* pitches, T* dst,
                     std::size_t dst_pitch) {
  std::size_t off = 0;
  for (std::size_t i = 0; i < count; ++i) {
    copy_rows(rows, widths[i], src[i], pitches[i], dst + off, dst_pitch);
    off += widths[i];
  }
}

#define CTV_INSTANTIATE(T)                                                                        \
  template void copy_rows<T>(std::size_t, std::size_t, const T*, std::size_t, T*, std::size_t);   \
  template void concat_channels<T>(std::size_t, std::size_t, const T* const*, const std::size_t*, \
                                   const std::size_t*, T*, std::size_t);
CTV_INSTANTIATE(float)
CTV_INSTANTIATE(double)
CTV_INSTANTIATE(std::int64_t)
#undef CTV_INSTANTIATE

}  // namespace ctv::kernels::ref
