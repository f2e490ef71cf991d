// What the CPU kernel benchmarks (bench_conv_cpu, bench_ops_cpu) share: the CPU's name, a
// wall-clock timer, and the error of a fast result against its reference.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace ctv::bench {

// The "model name" of /proc/cpuinfo; "unknown CPU" when there is none.
inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// Wall-clock seconds f takes.
inline double seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// max |a - b| / max |b| over a's elements. requires: b.size() >= a.size().
inline double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0.0, den = 1e-30;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::fabs(double(a[i]) - double(b[i])));
    den = std::max(den, std::fabs(double(b[i])));
  }
  return num / den;
}

}  // namespace ctv::bench
