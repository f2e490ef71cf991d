// A background producer: worker threads make results ahead of one consumer, who receives them
// in job order. Used to make augmented training copies (data/elastic.h) while the network
// trains on earlier ones; with results delivered in job order and each job a pure function
// of its own description, training sees the same sequence whatever the thread count.
//
// Invariants:
// - Jobs are claimed in index order; job i may start only when i < delivered + capacity, so
//   at most `capacity` results are finished or being made ahead of the consumer (bounded
//   memory), and the slot of job i (i mod capacity) is free when job i finishes.
// - next() returns job i's result only after results 0..i-1; it waits only when job i is not
//   finished yet (consumer_waits() counts those waits: with workers that keep up, none).
// - A job that throws: its exception_ptr is stored in its slot and rethrown by next() at its
//   turn, after every earlier result was delivered: the consumer gets the very exception
//   object (same type, same message). No job after it starts; later next() calls rethrow it.
// - The destructor stops claiming, lets running jobs finish (a job is never interrupted),
//   and joins every worker; undelivered results are dropped.
// next() must be called from one thread at a time (the consumer).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ctv::data {

template <class Job, class Result>
class OrderedProducer {
 public:
  using Make = std::function<Result(const Job&)>;

  // Starts `threads` workers over `jobs`. capacity 0 means 2 * threads (each worker can have
  // one result waiting while it makes the next).
  // requires: threads >= 1; make callable; make must be safe to call concurrently from
  //   several threads (std::invalid_argument for bad threads or an empty make).
  OrderedProducer(std::vector<Job> jobs, Make make, int threads, std::size_t capacity = 0)
      : jobs_(std::move(jobs)),
        make_(std::move(make)),
        capacity_(capacity ? capacity : 2 * std::size_t(threads > 0 ? threads : 1)) {
    if (threads < 1)
      throw std::invalid_argument("producer: threads " + std::to_string(threads) + " < 1");
    if (!make_) throw std::invalid_argument("producer: no function to make a job with");
    slots_.resize(capacity_);
    workers_.reserve(std::size_t(threads));
    for (int t = 0; t < threads; ++t) workers_.emplace_back([this] { work(); });
  }

  OrderedProducer(const OrderedProducer&) = delete;
  OrderedProducer& operator=(const OrderedProducer&) = delete;

  ~OrderedProducer() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    space_.notify_all();
    for (std::thread& w : workers_) w.join();
  }

  // The next result in job order; std::nullopt once every job was delivered.
  // throws: the exception of the job whose turn it is, if that job threw (and from then on).
  std::optional<Result> next() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (error_) std::rethrow_exception(error_);
    if (delivered_ == jobs_.size()) return std::nullopt;
    Slot& s = slots_[delivered_ % capacity_];
    if (!s.ready) {
      ++waits_;
      ready_.wait(lock, [&] { return s.ready; });
    }
    s.ready = false;
    if (s.error) {
      error_ = s.error;
      stop_ = true;
      lock.unlock();
      space_.notify_all();
      std::rethrow_exception(error_);
    }
    std::optional<Result> r = std::move(s.result);
    s.result.reset();
    ++delivered_;
    lock.unlock();
    space_.notify_all();
    return r;
  }

  std::size_t job_count() const { return jobs_.size(); }
  std::size_t capacity() const { return capacity_; }
  std::size_t delivered() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return delivered_;
  }
  // How many next() calls had to wait for their result.
  std::size_t consumer_waits() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return waits_;
  }

 private:
  struct Slot {
    bool ready = false;
    std::optional<Result> result;
    std::exception_ptr error;
  };

  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      space_.wait(lock, [&] {
        return stop_ || claimed_ >= jobs_.size() || claimed_ < delivered_ + capacity_;
      });
      if (stop_ || claimed_ >= jobs_.size()) return;
      const std::size_t i = claimed_++;
      lock.unlock();
      std::optional<Result> r;
      std::exception_ptr e;
      try {
        r.emplace(make_(jobs_[i]));
      } catch (...) {
        e = std::current_exception();
      }
      lock.lock();
      Slot& s = slots_[i % capacity_];
      s.result = std::move(r);
      s.error = e;
      s.ready = true;
      if (e) stop_ = true;  // nothing after a failed job will be delivered: stop claiming
      ready_.notify_all();
    }
  }

  const std::vector<Job> jobs_;
  const Make make_;
  const std::size_t capacity_;
  std::vector<Slot> slots_;
  std::vector<std::thread> workers_;

  mutable std::mutex mutex_;
  std::condition_variable space_;  // a slot freed, or stop: workers may claim
  std::condition_variable ready_;  // a result finished: the consumer may take it
  std::size_t claimed_ = 0, delivered_ = 0, waits_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace ctv::data
