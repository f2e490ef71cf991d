// Loss reference kernels: the AM-GM (soft Dice) loss of SPEC section 3 and (weighted) binary
// cross entropy. p = predicted probabilities, g = targets; both dense arrays of n elements
// (all voxels of the batch, every channel). Sums are chunked (kernels/cpu/reference/reduce.h):
// fixed chunks, fixed combination order, double accumulation. Gradient outputs are overwritten
// (=), never accumulated; a null gradient pointer means "not needed".
#pragma once
#include <cstdint>

namespace ctv::kernels::ref {

struct AmgmSums {
  double intersection = 0.0;  // sum_i p_i g_i
  double squares = 0.0;       // sum_i (p_i^2 + g_i^2)
};

// The two sums of the AM-GM loss, chunked.
template <typename T>
AmgmSums amgm_sums(std::int64_t n, const T* p, const T* g);

// L = 1 - (2 * intersection + eps) / (squares + eps).
double amgm_value(const AmgmSums& s, double eps);

// With I = 2 * intersection + eps and S = squares + eps:
//   dp_i = -dL * (2 g_i S - 2 p_i I) / S^2,   dg_i = -dL * (2 p_i S - 2 g_i I) / S^2.
template <typename T>
void amgm_bwd(std::int64_t n, const T* p, const T* g, const AmgmSums& s, double eps, double dL,
              T* dp, T* dg);

// log clamped below at -100 (PyTorch's BCELoss, so log(0) gives a finite loss of 100).
double clamped_log(double v);

// L = -(1/n) sum_i [ g_i log p_i + w_bg (1 - g_i) log(1 - p_i) ], clamped logs, chunked.
// w_bg = 1 is PyTorch's BCELoss (reduction mean). requires: n >= 1.
template <typename T>
double bce_value(std::int64_t n, const T* p, const T* g, double w_bg);

// dp_i = dL * (w_bg (1 - g_i) p_i - g_i (1 - p_i)) / max(p_i (1 - p_i), 1e-12) / n
//   (PyTorch's BCE gradient for w_bg = 1, guarded at p = 0 or 1 by the same 1e-12);
// dg_i = -dL * (log p_i - w_bg log(1 - p_i)) / n with clamped logs.
template <typename T>
void bce_bwd(std::int64_t n, const T* p, const T* g, double w_bg, double dL, T* dp, T* dg);

}  // namespace ctv::kernels::ref
