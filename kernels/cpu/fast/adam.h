// Fast Adam step (float32): twin of kernels/cpu/reference/adam.h, same formula, rounding rules
// and contract (theta, m, v updated in place; g read only; t >= 1 checked). Each element is
// computed alone, in double, exactly as the reference does: the reference's bits, at any
// thread count (threads: parallel_for over fixed blocks of elements).
#pragma once
#include <cstdint>

#include "kernels/cpu/reference/adam.h"

namespace ctv::kernels::fast {

using ref::AdamHyper;

void adam_step(std::int64_t n, float* theta, const float* g, float* m, float* v, std::int64_t t,
               const AdamHyper& h);

}  // namespace ctv::kernels::fast
