// kernels/cpu/fast/parallel.h: every chunk runs once, chunking ignores the thread count (so
// chunked reductions are bit-identical at any thread count), nesting and exceptions.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/cpu/fast/parallel.h"

using namespace ctv::kernels::fast;

namespace {

struct ThreadsGuard {
  int saved = num_threads();
  ~ThreadsGuard() { set_num_threads(saved); }
};

// A float sum whose rounding depends on the order: per-chunk partials, combined in chunk order.
float chunked_sum(const std::vector<float>& v, std::int64_t grain) {
  std::vector<float> partial(std::size_t(chunk_count(std::int64_t(v.size()), grain)), 0.f);
  parallel_for(std::int64_t(v.size()), grain, [&](std::int64_t b, std::int64_t e) {
    float s = 0;
    for (std::int64_t i = b; i < e; ++i) s += v[std::size_t(i)];
    partial[std::size_t(b / grain)] = s;
  });
  float total = 0;
  for (float p : partial) total += p;
  return total;
}

}  // namespace

TEST_CASE("parallel_for: every index runs exactly once, in chunks of the grain") {
  ThreadsGuard guard;
  for (int threads : {1, 2, 3, 8}) {
    set_num_threads(threads);
    CHECK(num_threads() == threads);
    for (std::int64_t n : {0, 1, 7, 64, 1001}) {
      for (std::int64_t grain : {1, 3, 64, 5000}) {
        CAPTURE(threads);
        CAPTURE(n);
        CAPTURE(grain);
        std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
        std::atomic<int> chunks{0}, bad_chunks{0};
        parallel_for(n, grain, [&](std::int64_t b, std::int64_t e) {
          ++chunks;
          if (b % grain != 0 || e - b > grain || e <= b || e > n) ++bad_chunks;
          for (std::int64_t i = b; i < e; ++i) ++hits[std::size_t(i)];
        });
        CHECK(chunks.load() == chunk_count(n, grain));
        CHECK(bad_chunks.load() == 0);
        int wrong = 0;
        for (auto& h : hits) wrong += h.load() != 1;
        CHECK(wrong == 0);
      }
    }
  }
}

TEST_CASE("parallel_for: a chunked float reduction is bit-identical at every thread count") {
  ThreadsGuard guard;
  std::vector<float> v(100003);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(std::sin(double(i)) * 1e3 + 1e-3 * i);
  set_num_threads(1);
  const float one = chunked_sum(v, 4096);
  for (int threads : {2, 3, 5, 16}) {
    set_num_threads(threads);
    for (int repeat = 0; repeat < 5; ++repeat) CHECK(chunked_sum(v, 4096) == one);
  }
  // The chunking, not the threads, decides the rounding: another grain gives another sum
  // (which is why grains must not depend on the thread count).
  CHECK(chunked_sum(v, 1000) != one);
}

TEST_CASE("parallel_for: nested loops run serially inside a chunk") {
  ThreadsGuard guard;
  set_num_threads(4);
  std::atomic<int> total{0};
  parallel_for(8, 1, [&](std::int64_t, std::int64_t) {
    const auto me = std::this_thread::get_id();
    std::atomic<int> foreign{0};
    parallel_for(100, 1, [&](std::int64_t, std::int64_t) {
      ++total;
      if (std::this_thread::get_id() != me) ++foreign;
    });
    CHECK(foreign.load() == 0);
  });
  CHECK(total.load() == 800);
}

TEST_CASE("parallel_for: an exception in a chunk reaches the caller, and the pool survives it") {
  ThreadsGuard guard;
  for (int threads : {1, 4}) {
    set_num_threads(threads);
    CHECK_THROWS_WITH_AS(parallel_for(1000, 10,
                                      [](std::int64_t b, std::int64_t) {
                                        if (b == 500) throw std::runtime_error("chunk 50 failed");
                                      }),
                         "chunk 50 failed", std::runtime_error);
    std::atomic<std::int64_t> sum{0};
    parallel_for(1000, 10, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) sum += i;
    });
    CHECK(sum.load() == 999 * 1000 / 2);
  }
}

TEST_CASE("parallel_for: arguments are checked; 0 threads means all cores") {
  ThreadsGuard guard;
  CHECK_THROWS_AS(parallel_for(-1, 1, [](std::int64_t, std::int64_t) {}), std::invalid_argument);
  CHECK_THROWS_AS(parallel_for(10, 0, [](std::int64_t, std::int64_t) {}), std::invalid_argument);
  CHECK_THROWS_AS(set_num_threads(-2), std::invalid_argument);
  set_num_threads(0);
  CHECK(num_threads() >= 1);
}

TEST_CASE("parallel_for: a loop right after the pool grows or shrinks returns (no stray pass)") {
  // A worker created by a resize must wait for the next loop, not take the resize itself for
  // one: an extra pass checks out of a loop twice and can leave its caller waiting for ever
  // (seen once, on a loaded machine; timing-dependent, so this stress test need not catch it).
  // The loops run in their own thread so that a hang fails this test instead of stalling it.
  ThreadsGuard guard;
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::thread runner([&] {
    for (int round = 0; round < 3000; ++round) {
      set_num_threads(2 + round % 7);  // 2 to 8 threads: a resize before every loop
      std::atomic<std::int64_t> sum{0};
      parallel_for(64, 1, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) sum += i;
      });
      wrong += sum.load() != 63 * 64 / 2;
    }
    done = true;
  });
  for (int waited = 0; waited < 600 && !done; ++waited)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (!done) {
    runner.detach();  // stuck for good: let the process end without it
    FAIL("parallel_for hung after a resize of the pool");
  }
  runner.join();
  CHECK(wrong.load() == 0);
}
