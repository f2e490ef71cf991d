// sum_rows on the thread pool (see reduce.h): the reference's chunks and tree, same bits.
#include "kernels/cpu/fast/reduce.h"

namespace ctv::kernels::fast {

void sum_rows(std::int64_t rows, std::int64_t width, const float* x, float* out) {
  std::vector<double> acc(static_cast<std::size_t>(width));
  chunked_row_reduce(
      rows, width,
      [&](std::int64_t r0, std::int64_t r1, double* a) {
        for_rows_by_channel(r0, r1, width, a, [&](std::int64_t m, std::int64_t c) {
          return static_cast<double>(x[m * width + c]);
        });
      },
      acc.data());
  for (std::int64_t j = 0; j < width; ++j) out[j] = static_cast<float>(acc[std::size_t(j)]);
}

}  // namespace ctv::kernels::fast
