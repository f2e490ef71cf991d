// Fast element-wise kernels (float32): ReLU, sigmoid, accumulation. Twins of
// kernels/cpu/reference/elementwise.h, with the same contracts (flat dense arrays of n
// elements; outputs overwritten (=), add_inplace accumulates (+=); the aliasing each allows).
//
// Threads: parallel_for over fixed blocks of elements; each element is computed alone, so
// results never depend on the thread count. Plain loops the compiler vectorises at the
// baseline level (memory-bound; no instruction-set-specific version written, README.md).
//
// Results against the reference:
//   relu_fwd, relu_bwd, add_inplace, sigmoid_bwd: the reference's bits (sigmoid_bwd computes
//     in double and rounds once, as the reference does);
//   sigmoid_fwd: float arithmetic with a polynomial exp, |fast - ref| <= 4 ulp of the result
//     (plus 2^-126 absolute where the result is subnormal); NaN gives NaN.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ctv::kernels::fast {

// y = max(x, 0), NaN stays NaN, -0 gives +0 (as the reference). y may alias x.
void relu_fwd(std::size_t n, const float* x, float* y);
// dx = y > 0 ? dy : 0. dx may alias dy.
void relu_bwd(std::size_t n, const float* y, const float* dy, float* dx);
// y = 1 / (1 + exp(-x)). y may alias x.
void sigmoid_fwd(std::size_t n, const float* x, float* y);
// dx = dy * y * (1 - y) (double, rounded once). dx may alias dy.
void sigmoid_bwd(std::size_t n, const float* y, const float* dy, float* dx);
// y += x. requires: no partial overlap.
void add_inplace(std::size_t n, const float* x, float* y);

// v where keep, else +0, by a bit mask: no branch on the data for the compiler to emit (a
// mispredicted one per element costs more than the memory traffic of the whole op).
inline float keep_or_zero(bool keep, float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bits &= 0u - static_cast<std::uint32_t>(keep);
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// Elements per parallel_for chunk of the element-wise kernels here and in the other fast
// files: 64 KiB of floats, large enough to hide the scheduling, small enough to balance.
inline constexpr std::size_t kElementBlock = 16384;

}  // namespace ctv::kernels::fast
