// Element-wise reference kernels: ReLU, sigmoid, accumulation, dtype conversion.
//
// Layout: flat dense arrays of n elements (convert_rows: rows of `width` elements, `pitch`
// apart, so channel-slice views are read and written in place). Every output is overwritten
// (=) except add_inplace's, which accumulates (+=) by definition. Arithmetic in double,
// rounded once to T.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ctv::kernels::ref {

// y = max(x, 0). NaN stays NaN. requires: x, y n elements (may alias: y == x is allowed).
template <typename T>
void relu_fwd(std::size_t n, const T* x, T* y);

// dx = dy where y > 0, else 0: the gradient at exactly x = 0 is 0 (documented choice).
// requires: y the forward output; dx may alias dy.
template <typename T>
void relu_bwd(std::size_t n, const T* y, const T* dy, T* dx);

// y = 1 / (1 + exp(-x)), evaluated without overflow for large |x|. y may alias x.
template <typename T>
void sigmoid_fwd(std::size_t n, const T* x, T* y);

// dx = dy * y * (1 - y), y the forward output. dx may alias dy.
template <typename T>
void sigmoid_bwd(std::size_t n, const T* y, const T* dy, T* dx);

// y += x (the one accumulating kernel: gradient accumulation). requires: no partial overlap.
template <typename T>
void add_inplace(std::size_t n, const T* x, T* y);

// dst[r*dp + j] = static_cast<D>(src[r*sp + j]) for r < rows, j < width.
template <typename S, typename D>
void convert_rows(std::size_t rows, std::size_t width, const S* src, std::size_t sp, D* dst,
                  std::size_t dp) {
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < width; ++j) dst[r * dp + j] = static_cast<D>(src[r * sp + j]);
}

}  // namespace ctv::kernels::ref
