// Deterministic reductions: the one chunking scheme every reduction in ctvnet uses (batch-norm
// statistics, losses, bias gradients), in reference, fast CPU and (later) CUDA kernels alike.
//
// Scheme: the reduced axis of length n is cut into chunks of kReduceChunk terms (the last one
// shorter). Each chunk's partial is summed in double in ascending order. The partials are then
// combined by a fixed pairwise tree over the chunk index:
//   level 0: p[0..count); level k+1: q[i] = q[2i] + q[2i+1] (an unpaired last one moves up).
// The result depends only on n, the chunk size and the terms, never on which thread computed
// which chunk or in which order: that is what makes weights bit-identical across thread counts.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/common.h"

namespace ctv::kernels {

// Terms per chunk along the reduced axis (elements for flat sums, rows for per-channel sums).
// Changing it changes results in the last bits: it is part of the numerical spec.
inline constexpr std::int64_t kReduceChunk = 4096;

struct ChunkPlan {
  std::int64_t n;                     // terms along the reduced axis
  std::int64_t chunk = kReduceChunk;  // terms per chunk (> 0)
  CTV_HD std::int64_t count() const { return n <= 0 ? 0 : (n + chunk - 1) / chunk; }
  CTV_HD std::int64_t begin(std::int64_t c) const { return c * chunk; }
  CTV_HD std::int64_t end(std::int64_t c) const {
    return (c + 1) * chunk < n ? (c + 1) * chunk : n;
  }
};

// Combines `count` partial rows of `width` doubles each (row-major, partials[c*width + j]) by
// the fixed pairwise tree, column by column, in place. ensures: out[j] = the combined column j
// (0 when count == 0); partials is clobbered.
void combine_partials(double* partials, std::int64_t count, std::int64_t width, double* out);

// How the chunks are evaluated: by how many threads, and in which order. It changes nothing in
// the result (that is the point, and what the tests check); the reference uses the default.
struct ReduceSchedule {
  int threads = 1;       // chunk c goes to thread c % threads
  bool reverse = false;  // each thread walks its chunks from the last to the first
};

// out[j] = sum over rows [0, rows) of the terms `partial` adds, for j < width.
// requires: partial(r0, r1, acc) adds rows [r0, r1) into acc[0..width) (acc arrives zeroed),
//           in ascending row order, reading nothing another chunk writes; width >= 1.
// ensures: out[0..width) written (=); deterministic as described at the top of this file.
template <typename PartialFn>
void chunked_row_reduce(std::int64_t rows, std::int64_t width, PartialFn&& partial, double* out,
                        ReduceSchedule schedule = {}, std::int64_t chunk = kReduceChunk) {
  if (width < 1 || chunk < 1) throw std::invalid_argument("chunked_row_reduce: width/chunk < 1");
  const ChunkPlan plan{rows, chunk};
  const std::int64_t count = plan.count();
  std::vector<double> partials(static_cast<std::size_t>(count * width), 0.0);
  auto run = [&](int t, int threads) {
    const std::int64_t mine = count <= t ? 0 : (count - 1 - t) / threads + 1;
    for (std::int64_t i = 0; i < mine; ++i) {
      const std::int64_t k = schedule.reverse ? mine - 1 - i : i;
      const std::int64_t c = t + k * threads;
      partial(plan.begin(c), plan.end(c), partials.data() + c * width);
    }
  };
  const int threads = std::max(1, schedule.threads);
  if (threads == 1 || count <= 1) {
    run(0, 1);
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(run, t, threads);
    for (auto& th : pool) th.join();
  }
  combine_partials(partials.data(), count, width, out);
}

// Scalar form: sum over terms [0, n) that partial(i0, i1, acc) adds into *acc.
template <typename PartialFn>
double chunked_sum(std::int64_t n, PartialFn&& partial, ReduceSchedule schedule = {},
                   std::int64_t chunk = kReduceChunk) {
  double out = 0.0;
  chunked_row_reduce(n, 1, partial, &out, schedule, chunk);
  return out;
}

namespace ref {

// Column sums of a dense [rows][width] matrix (bias gradients: dy summed over N,Z,P,Q).
// requires: x has rows*width elements, out width; no overlap.
// ensures: out[j] = sum_i x[i*width + j] by the chunked scheme, rounded to T once (=).
template <typename T>
void sum_rows(std::int64_t rows, std::int64_t width, const T* x, T* out);

}  // namespace ref
}  // namespace ctv::kernels
