// bench_conv_cpu: times conv3d fprop, dgrad and wgrad (float32, NDHWC / KTRSC) of one shape on
// the reference kernels and the fast ones, llm.c style: the fast results are checked against
// the reference before and after timing, then one line per run:
//   conv3d fprop | <shape> | fast avx512 2 threads | 12.345 ms | 660.1 GFLOP/s
// GFLOP counts 2*N*Z*P*Q*K*T*R*S*C per op (padding taps included, as peers count them).
// Usage: bench_conv_cpu [D H W C K [kernel pad]] [--threads a,b,..] [--reps n] [--isa level]
//                       [--no-ref]
// Defaults: the U-Net's full-resolution 16->16 3x3x3 layer at the training grid (D=64 H=96
// W=96), threads 1 and 2, 5 repetitions, the best level of this CPU. A benchmark, not a test.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "kernels/cpu/fast/conv3d.h"
#include "kernels/cpu/fast/isa.h"
#include "kernels/cpu/fast/parallel.h"
#include "kernels/cpu/reference/conv3d.h"

namespace fast = ctv::kernels::fast;
namespace ref = ctv::kernels::ref;

namespace {

using ctv::bench::cpu_model;
using ctv::bench::rel_err;
using ctv::bench::seconds;

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "bench_conv_cpu: %s\nusage: bench_conv_cpu [D H W C K [kernel pad]] "
               "[--threads a,b,..] [--reps n] [--isa portable|avx2|avx512] [--no-ref]\n",
               why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> dims;
  std::vector<int> threads = {1, 2};
  int reps = 5;
  bool with_ref = true;
  fast::CpuIsa isa = fast::cpu_isa();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads.clear();
      for (const char* p = argv[++i]; *p;) {
        threads.push_back(std::atoi(p));
        while (*p && *p != ',') ++p;
        if (*p == ',') ++p;
      }
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--isa" && i + 1 < argc) {
      try {
        isa = fast::parse_cpu_isa(argv[++i], "--isa");
      } catch (const std::exception& e) {
        usage(e.what());
      }
    } else if (a == "--no-ref") {
      with_ref = false;
    } else if (!a.empty() && a[0] != '-') {
      dims.push_back(std::atoi(a.c_str()));
    } else {
      usage(("unknown argument " + a).c_str());
    }
  }
  if (!dims.empty() && dims.size() != 5 && dims.size() != 7) usage("give D H W C K [kernel pad]");
  if (dims.empty()) dims = {64, 96, 96, 16, 16};
  const int ks = dims.size() == 7 ? dims[5] : 3, pad = dims.size() == 7 ? dims[6] : 1;
  ref::Conv3dShape s{1,  dims[0], dims[1], dims[2], dims[3], dims[4], ks, ks,
                     ks, 1,       1,       1,       pad,     pad,     pad};
  try {
    s.validate();
  } catch (const std::exception& e) {
    usage(e.what());
  }
  fast::set_cpu_isa(isa);
  const double gflop = 2.0 * double(s.y_size()) * s.T * s.R * s.S * s.C * 1e-9;
  std::printf("bench_conv_cpu | %s | float32 NDHWC/KTRSC | fast level %s | %s | %.3f GFLOP/op\n",
              cpu_model().c_str(), fast::cpu_isa_name(isa), s.describe().c_str(), gflop);

  std::vector<float> x(s.x_size()), w(s.w_size()), dy(s.y_size());
  std::uint64_t state = 1;
  auto uniform = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return float((state >> 40) * 0x1p-24 * 2.0 - 1.0);
  };
  for (auto& v : x) v = uniform();
  for (auto& v : w) v = uniform();
  for (auto& v : dy) v = uniform();

  struct Op {
    const char* name;
    std::size_t out_size;
    std::function<void(float*)> reference, fast_kernel;
  };
  const std::vector<Op> ops = {
      {"fprop", s.y_size(),
       [&](float* o) { ref::conv3d_fprop(s, x.data(), w.data(), (const float*)nullptr, o); },
       [&](float* o) { fast::conv3d_fprop(s, x.data(), w.data(), nullptr, o); }},
      {"dgrad", s.x_size(), [&](float* o) { ref::conv3d_dgrad(s, dy.data(), w.data(), o); },
       [&](float* o) { fast::conv3d_dgrad(s, dy.data(), w.data(), o); }},
      {"wgrad", s.w_size(),
       [&](float* o) { ref::conv3d_wgrad(s, x.data(), dy.data(), o, (float*)nullptr); },
       [&](float* o) { fast::conv3d_wgrad(s, x.data(), dy.data(), o, nullptr); }},
  };
  int failures = 0;
  for (const Op& op : ops) {
    std::vector<float> want(op.out_size), got(op.out_size);
    if (with_ref) {
      const double t = seconds([&] { op.reference(want.data()); });
      std::printf("conv3d %s | reference 1 thread | %10.3f ms | %8.2f GFLOP/s\n", op.name, t * 1e3,
                  gflop / t);
    }
    for (int th : threads) {
      fast::set_num_threads(th);
      op.fast_kernel(got.data());  // warm-up, and the check before timing
      const double before = with_ref ? rel_err(got, want) : 0.0;
      double best = 1e30, total = 0.0;
      for (int r = 0; r < reps; ++r) {
        const double t = seconds([&] { op.fast_kernel(got.data()); });
        best = std::min(best, t);
        total += t;
      }
      const double after = with_ref ? rel_err(got, want) : 0.0;
      const bool ok = !with_ref || (before < 1e-4 && after < 1e-4);
      failures += !ok;
      char check[96] = "not checked (--no-ref)";
      if (with_ref)
        std::snprintf(check, sizeof check, "max err / max |ref| %.1e%s", std::max(before, after),
                      ok ? "" : "  MISMATCH against the reference");
      std::printf("conv3d %s | fast %s %d thread%s | %10.3f ms (mean %.3f) | %8.2f GFLOP/s | %s\n",
                  op.name, fast::cpu_isa_name(isa), th, th == 1 ? " " : "s", best * 1e3,
                  total / reps * 1e3, gflop / best, check);
    }
  }
  return failures == 0 ? 0 : 1;
}
