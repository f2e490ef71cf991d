#include "kernels/cpu/fast/parallel.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ctv::kernels::fast {

namespace {

int cores_available() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

thread_local bool t_inside_chunk = false;

// Workers sleep on a condition variable between loops; a loop is published as a generation
// number, its chunks handed out through an atomic counter; every worker wakes for every loop.
class Pool {
 public:
  ~Pool() {
    std::lock_guard<std::mutex> no_loop_running(run_mutex_);
    resize(0);
  }

  // Runs the loop on `threads` threads (the caller's included), growing or shrinking the pool
  // first when needed.
  void run(int threads, std::int64_t n, std::int64_t grain,
           const std::function<void(std::int64_t, std::int64_t)>& body) {
    std::lock_guard<std::mutex> one_loop_at_a_time(run_mutex_);
    if (int(workers_.size()) != threads - 1) resize(threads - 1);
    run_locked(n, grain, body);
  }

 private:
  // requires: run_mutex_ held (no loop running).
  void resize(int workers) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      ++generation_;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
    stop_ = false;
    // A new worker starts from the current generation: it must wait for the next loop. Starting
    // from 0 it would take the resize itself for a loop, check out of the next loop twice and
    // leave its caller waiting for ever (pending_ never back at 0).
    const std::uint64_t current = generation_;
    for (int i = 0; i < workers; ++i) workers_.emplace_back([this, current] { work(current); });
  }

  // requires: run_mutex_ held.
  void run_locked(std::int64_t n, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      n_ = n;
      grain_ = grain;
      chunks_ = chunk_count(n, grain);
      next_.store(0);
      done_ = 0;
      pending_ = std::int64_t(workers_.size());
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    take_chunks();
    std::unique_lock<std::mutex> lock(mutex_);
    // Every worker checks in before the loop returns, so none can still be looking at this
    // loop's state when the next one is published.
    finished_.wait(lock, [&] { return done_ == chunks_ && pending_ == 0; });
    body_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

  void work(std::uint64_t seen) {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (stop_) return;
      }
      take_chunks();
      std::lock_guard<std::mutex> lock(mutex_);
      --pending_;
      if (pending_ == 0) finished_.notify_all();
    }
  }

  void take_chunks() {
    t_inside_chunk = true;
    std::int64_t finished_here = 0;
    for (;;) {
      const std::int64_t c = next_.fetch_add(1);
      if (c >= chunks_) break;
      const std::int64_t begin = c * grain_, end = std::min(n_, begin + grain_);
      try {
        (*body_)(begin, end);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      ++finished_here;
    }
    t_inside_chunk = false;
    if (finished_here == 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    done_ += finished_here;
    if (done_ == chunks_) finished_.notify_all();
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_, run_mutex_;
  std::condition_variable wake_, finished_;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
  const std::function<void(std::int64_t, std::int64_t)>* body_ = nullptr;
  std::int64_t n_ = 0, grain_ = 1, chunks_ = 0, done_ = 0, pending_ = 0;
  std::atomic<std::int64_t> next_{0};
  std::exception_ptr error_;
};

std::atomic<int> g_threads{0};  // 0: not set (all cores)

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

int num_threads() {
  const int n = g_threads.load();
  return n > 0 ? n : cores_available();
}

void set_num_threads(int n) {
  if (n < 0) throw std::invalid_argument("set_num_threads: " + std::to_string(n) + " < 0");
  g_threads.store(n == 0 ? cores_available() : n);
}

void parallel_for(std::int64_t n, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body) {
  if (n < 0 || grain < 1)
    throw std::invalid_argument("parallel_for: n = " + std::to_string(n) + ", grain = " +
                                std::to_string(grain) + " (need n >= 0, grain >= 1)");
  if (n == 0) return;
  const int threads = num_threads();
  if (threads == 1 || t_inside_chunk || chunk_count(n, grain) == 1) {
    for (std::int64_t b = 0; b < n; b += grain) body(b, std::min(n, b + grain));
    return;
  }
  pool().run(threads, n, grain, body);
}

}  // namespace ctv::kernels::fast
