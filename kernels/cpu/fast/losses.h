// Fast loss kernels (float32 inputs): twins of kernels/cpu/reference/losses.h with the same
// formulas and contracts. The sums (AM-GM's two, BCE's one) use the reference's chunks,
// double terms and combination tree (fast/reduce.h) and the backward passes compute in double
// and round once, as the reference does: every result is the reference's bits, at any thread
// count (threads: parallel_for over chunks / fixed blocks of elements).
#pragma once
#include <cstdint>

#include "kernels/cpu/reference/losses.h"

namespace ctv::kernels::fast {

using ref::AmgmSums;

AmgmSums amgm_sums(std::int64_t n, const float* p, const float* g);
void amgm_bwd(std::int64_t n, const float* p, const float* g, const AmgmSums& s, double eps,
              double dL, float* dp, float* dg);
double bce_value(std::int64_t n, const float* p, const float* g, double w_bg);
void bce_bwd(std::int64_t n, const float* p, const float* g, double w_bg, double dL, float* dp,
             float* dg);

}  // namespace ctv::kernels::fast
