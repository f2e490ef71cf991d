// The fixed combination tree of chunked reductions and the column-sum reference kernel.
#include "kernels/cpu/reference/reduce.h"

namespace ctv::kernels {

void combine_partials(double* p, std::int64_t count, std::int64_t width, double* out) {
  if (count == 0) {
    for (std::int64_t j = 0; j < width; ++j) out[j] = 0.0;
    return;
  }
  // One tree level at a time: q[i] = q[2i] + q[2i+1]; writes never overtake reads (i <= 2i).
  while (count > 1) {
    const std::int64_t half = (count + 1) / 2;
    for (std::int64_t i = 0; i < half; ++i)
      for (std::int64_t j = 0; j < width; ++j) {
        const double a = p[2 * i * width + j];
        const double b = 2 * i + 1 < count ? p[(2 * i + 1) * width + j] : 0.0;
        p[i * width + j] = 2 * i + 1 < count ? a + b : a;
      }
    count = half;
  }
  for (std::int64_t j = 0; j < width; ++j) out[j] = p[j];
}

namespace ref {

template <typename T>
void sum_rows(std::int64_t rows, std::int64_t width, const T* x, T* out) {
  std::vector<double> acc(static_cast<std::size_t>(width));
  chunked_row_reduce(
      rows, width,
      [&](std::int64_t r0, std::int64_t r1, double* a) {
        for (std::int64_t r = r0; r < r1; ++r)
          for (std::int64_t j = 0; j < width; ++j) a[j] += static_cast<double>(x[r * width + j]);
      },
      acc.data());
  for (std::int64_t j = 0; j < width; ++j)
    out[j] = static_cast<T>(acc[static_cast<std::size_t>(j)]);
}

template void sum_rows<float>(std::int64_t, std::int64_t, const float*, float*);
template void sum_rows<double>(std::int64_t, std::int64_t, const double*, double*);

}  // namespace ref
}  // namespace ctv::kernels
