// The fast CPU kernels' threads: one persistent pool, a thread count set once per process, and a
// parallel loop whose chunking depends only on the problem, never on the thread count.
//
// Determinism (SPEC section 0): parallel_for splits [0, n) into ceil(n / grain) chunks of
// `grain` iterations (the last may be shorter). Which thread runs a chunk varies from run to
// run; what a chunk computes does not. A kernel that writes each output from one chunk, or
// reduces per-chunk partials in chunk order afterwards, gives bit-identical results whatever
// the thread count, including 1.
//
// Nested calls (parallel_for inside a chunk) run serially on the calling thread.
#pragma once
#include <cstdint>
#include <functional>

namespace ctv::kernels::fast {

// The number of threads the fast kernels use (the caller's thread included).
// ensures: >= 1; the last set_num_threads value, else all cores the process may use.
int num_threads();

// n == 0 means all cores. requires: n >= 0 (std::invalid_argument otherwise). Not to be called
// while a parallel_for runs.
void set_num_threads(int n);

// Calls body(chunk_begin, chunk_end) for every chunk of [0, n) (see above), on up to
// num_threads() threads, and returns when all are done. The first exception a chunk throws is
// rethrown here (chunks not yet started may or may not run).
// requires: n >= 0, grain >= 1 (std::invalid_argument otherwise).
void parallel_for(std::int64_t n, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body);

// The number of chunks parallel_for makes of n: ceil(n / grain). For per-chunk partial buffers.
inline std::int64_t chunk_count(std::int64_t n, std::int64_t grain) {
  return n <= 0 ? 0 : (n + grain - 1) / grain;
}

}  // namespace ctv::kernels::fast
