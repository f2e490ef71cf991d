// Shared by every kernel, CPU and CUDA: the host/device marker and the index arithmetic of
// dense channels-last (NDHWC) buffers and sliding windows. Plain C++: no CUDA headers needed.
//
// Sliding-window convention (PyTorch's, no dilation): output coordinate o, tap t reads input
// coordinate i = o*stride - pad + t; out-of-range input coordinates are padding.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define CTV_HD __host__ __device__
#else
#define CTV_HD
#endif

namespace ctv::kernels {

// Flat offset of element (n, d, h, w, c) in a dense N x D x H x W x C channels-last buffer.
CTV_HD inline constexpr std::int64_t ndhwc_offset(std::int64_t n, int d, int h, int w, int c, int D,
                                                  int H, int W, int C) {
  return (((n * D + d) * H + h) * static_cast<std::int64_t>(W) + w) * C + c;
}

// Output length of a window of `window` taps sliding over `in` elements padded by `pad` on
// each side (floor mode); 0 when the window never fits. Requires stride > 0.
CTV_HD inline constexpr int window_out_size(int in, int window, int stride, int pad) {
  const int span = in + 2 * pad - window;
  return span < 0 ? 0 : span / stride + 1;
}

// Output length of a transposed window op (PyTorch's formula, output_padding 0): the input
// length of the forward window op whose output length is `in`.
CTV_HD inline constexpr int transposed_out_size(int in, int window, int stride, int pad) {
  return (in - 1) * stride - 2 * pad + window;
}

// Input coordinate read by tap t of output coordinate o (may fall in the padding).
CTV_HD inline constexpr int window_in_coord(int o, int t, int stride, int pad) {
  return o * stride - pad + t;
}

// Inverse of window_in_coord: the output coordinate o in [0, out_size) whose tap t reads input
// coordinate i, or -1 when there is none. Requires stride > 0.
CTV_HD inline constexpr int window_out_coord(int i, int t, int stride, int pad, int out_size) {
  const int num = i + pad - t;
  if (num < 0 || num % stride != 0) return -1;
  const int o = num / stride;
  return o < out_size ? o : -1;
}

CTV_HD inline constexpr bool in_range(int i, int n) { return i >= 0 && i < n; }

// ---- host-only checks shared by the shape structs' validate() and the kernels' entry points.
// Messages start with the shape's describe(), built only when a check fails.
namespace detail {

template <typename Shape>
[[noreturn]] void fail_shape(const Shape& shape, const std::string& why) {
  throw std::invalid_argument(shape.describe() + ": " + why);
}
template <typename Shape>
void require_positive(const Shape& shape, const char* field, int value) {
  if (value <= 0)
    fail_shape(shape, std::string(field) + " is " + std::to_string(value) + ", must be > 0");
}
template <typename Shape>
void require_nonnegative(const Shape& shape, const char* field, int value) {
  if (value < 0)
    fail_shape(shape, std::string(field) + " is " + std::to_string(value) + ", must be >= 0");
}
// A kernel entry point refuses null buffers for its required arguments.
template <typename... Ptr>
void require_nonnull(const char* kernel, Ptr... ptrs) {
  if (((ptrs == nullptr) || ...))
    throw std::invalid_argument(std::string(kernel) + ": a required buffer is null");
}

}  // namespace detail
}  // namespace ctv::kernels
