// Deterministic chunked reductions on the fast kernels' thread pool, and sum_rows (bias
// gradients) built on them.
//
// The scheme is the reference's (kernels/cpu/reference/reduce.h): kReduceChunk rows per chunk,
// each chunk's partial summed in double in ascending row order, the partials combined by the
// fixed pairwise tree (combine_partials). Only the evaluation differs: chunks run on
// parallel_for. So a fast reduction whose partial adds the same double terms in the same
// order as its reference twin gives the reference's bits, at any thread count.
//
// for_rows_by_channel: the loop shape every per-channel partial here shares. For the channel
// counts the U-Net uses it is compiled with C known, so the per-channel accumulators live in
// registers; the order of additions per channel is the same either way.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/cpu/fast/parallel.h"
#include "kernels/cpu/reference/reduce.h"

namespace ctv::kernels::fast {

// As kernels::chunked_row_reduce with the default chunk: out[j] = sum of the terms partial
// adds, for j < width. requires: as there (partial adds rows [r0, r1) into a zeroed acc in
// ascending row order, touching nothing another chunk writes), width >= 1.
// ensures: out[0..width) written (=), the reference's bits for the same partial.
template <typename PartialFn>
void chunked_row_reduce(std::int64_t rows, std::int64_t width, PartialFn&& partial, double* out) {
  const ChunkPlan plan{rows};
  const std::int64_t count = plan.count();
  std::vector<double> partials(static_cast<std::size_t>(count * width), 0.0);
  parallel_for(count, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t c = b; c < e; ++c)
      partial(plan.begin(c), plan.end(c), partials.data() + c * width);
  });
  combine_partials(partials.data(), count, width, out);
}

namespace detail {

template <int kC, typename Term>
inline void rows_fixed(std::int64_t r0, std::int64_t r1, double* acc, Term&& term) {
  double a[kC];
  for (int c = 0; c < kC; ++c) a[c] = acc[c];
  for (std::int64_t m = r0; m < r1; ++m)
    for (int c = 0; c < kC; ++c) a[c] += term(m, c);
  for (int c = 0; c < kC; ++c) acc[c] = a[c];
}

}  // namespace detail

// acc[c] += term(m, c) for m in [r0, r1) ascending, c < C. term returns a double.
template <typename Term>
inline void for_rows_by_channel(std::int64_t r0, std::int64_t r1, std::int64_t C, double* acc,
                                Term&& term) {
  switch (C) {
    case 1:
      return detail::rows_fixed<1>(r0, r1, acc, term);
    case 2:
      return detail::rows_fixed<2>(r0, r1, acc, term);
    case 4:
      return detail::rows_fixed<4>(r0, r1, acc, term);
    case 8:
      return detail::rows_fixed<8>(r0, r1, acc, term);
    case 16:
      return detail::rows_fixed<16>(r0, r1, acc, term);
    default:
      for (std::int64_t m = r0; m < r1; ++m)
        for (std::int64_t c = 0; c < C; ++c) acc[c] += term(m, c);
  }
}

// Column sums of a dense [rows][width] float matrix: the reference's sum_rows, same bits.
// requires: x rows*width elements, out width; no overlap; width >= 1. out overwritten (=).
void sum_rows(std::int64_t rows, std::int64_t width, const float* x, float* out);

}  // namespace ctv::kernels::fast
