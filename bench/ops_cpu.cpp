// bench_ops_cpu: times the fast CPU kernels other than the convolutions (float32, NDHWC) on the
// U-Net's shapes against the reference kernels they replace, llm.c style: each fast result is
// checked against the reference before and after timing, then one line per op:
//   bn+relu fwd (fused) | 64x96x96x16 | ref 812.3 ms | fast 2 threads 12.3 ms | 66.0x | 15.3 GB/s
// "ref" is the reference kernel (one thread, as it always runs; one timed run after a warm-up);
// GB/s counts the bytes an op
// must read and write once. The fused batch norm + ReLU rows are timed against the reference
// pair they replace (batch_norm then relu, and relu_bwd then batch_norm_bwd).
// Usage: bench_ops_cpu [--threads a,b,..] [--reps n] [--full] [--isa level] [--only text]
//   --full adds the full-resolution inference grid 128x288x416 (BN + ReLU in place, pooling,
//   sigmoid): about 4 GB of memory; --only keeps the ops whose name contains text. A benchmark,
//   not a test.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "kernels/cpu/fast/adam.h"
#include "kernels/cpu/fast/batch_norm3d.h"
#include "kernels/cpu/fast/concat.h"
#include "kernels/cpu/fast/elementwise.h"
#include "kernels/cpu/fast/isa.h"
#include "kernels/cpu/fast/losses.h"
#include "kernels/cpu/fast/max_pool3d.h"
#include "kernels/cpu/fast/parallel.h"
#include "kernels/cpu/fast/reduce.h"
#include "kernels/cpu/reference/adam.h"
#include "kernels/cpu/reference/batch_norm3d.h"
#include "kernels/cpu/reference/concat.h"
#include "kernels/cpu/reference/elementwise.h"
#include "kernels/cpu/reference/losses.h"

namespace fast = ctv::kernels::fast;
namespace ref = ctv::kernels::ref;

namespace {

using ctv::bench::cpu_model;
using ctv::bench::rel_err;
using ctv::bench::seconds;

std::uint64_t g_state = 1;
float uniform(float lo, float hi) {
  g_state = g_state * 6364136223846793005ull + 1442695040888963407ull;
  return lo + (hi - lo) * float((g_state >> 40) * 0x1p-24);
}
std::vector<float> random(std::size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = uniform(lo, hi);
  return v;
}

// One op: prepare(out) sets up what an in-place op starts from (not timed); run(fast, out)
// writes the op's result into out (sized by prepare or by the op).
using Prepare = std::function<void(std::vector<float>&)>;
struct Op {
  std::string name, shape;
  double bytes;
  std::function<void(bool, std::vector<float>&)> run;
  Prepare prepare = [](std::vector<float>&) {};
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "bench_ops_cpu: %s\nusage: bench_ops_cpu [--threads a,b,..] [--reps n] [--full] "
               "[--isa portable|avx2|avx512] [--only text]\n",
               why);
  std::exit(2);
}

std::string grid(std::int64_t D, std::int64_t H, std::int64_t W, std::int64_t C) {
  return std::to_string(D) + "x" + std::to_string(H) + "x" + std::to_string(W) + "x" +
         std::to_string(C);
}

// The ops on one grid D x H x W with C channels (16 at full resolution).
void add_grid_ops(std::vector<Op>& ops, int D, int H, int W, int C, bool inference_only) {
  const std::int64_t M = std::int64_t(D) * H * W;
  const auto n = static_cast<std::size_t>(M * C);
  const std::string g = grid(D, H, W, C);
  const double f4 = 4.0;
  // Shared inputs: x, dy, gamma, beta and x's statistics.
  auto x = std::make_shared<std::vector<float>>(random(n, -1.0f, 3.0f));
  auto gamma = std::make_shared<std::vector<float>>(random(std::size_t(C), 0.5f, 2.0f));
  auto beta = std::make_shared<std::vector<float>>(random(std::size_t(C), -0.5f, 0.5f));
  auto mean = std::make_shared<std::vector<double>>(std::size_t(C));
  auto var = std::make_shared<std::vector<double>>(std::size_t(C));
  auto invstd = std::make_shared<std::vector<double>>(std::size_t(C));
  fast::batch_norm_stats(M, C, x->data(), mean->data(), var->data());
  ref::batch_norm_invstd(C, var->data(), 1e-5, invstd->data());
  const ref::MaxPool3dShape pool{1, D, H, W, C, 2, 2, 2, 2, 2, 2};

  // BN + ReLU forward: fused (in place in inference) against the reference pair.
  ops.push_back({"bn+relu fwd (fused, in place)", g, 2 * f4 * double(n),
                 [=](bool f, std::vector<float>& out) {
                   if (f) {
                     fast::batch_norm_relu_fwd(M, C, out.data(), mean->data(), invstd->data(),
                                               gamma->data(), beta->data(), out.data());
                   } else {
                     ref::batch_norm_fwd<float>(M, C, out.data(), mean->data(), invstd->data(),
                                                gamma->data(), beta->data(), out.data());
                     ref::relu_fwd<float>(n, out.data(), out.data());
                   }
                 },
                 [=](std::vector<float>& out) { out.assign(x->begin(), x->end()); }});
  ops.push_back({"max_pool3d fprop (no argmax)", g, f4 * double(n) * 9 / 8,
                 [=](bool f, std::vector<float>& out) {
                   out.resize(pool.y_size());
                   (f ? fast::max_pool3d_fprop : ref::max_pool3d_fprop<float>)(pool, x->data(),
                                                                               out.data(), nullptr);
                 }});
  if (C == 16) {
    const auto n1 = static_cast<std::size_t>(M);
    auto logits = std::make_shared<std::vector<float>>(random(n1, -8.0f, 8.0f));
    ops.push_back({"sigmoid fwd", grid(D, H, W, 1), 2 * f4 * double(n1),
                   [=](bool f, std::vector<float>& out) {
                     out.resize(n1);
                     (f ? fast::sigmoid_fwd : ref::sigmoid_fwd<float>)(n1, logits->data(),
                                                                       out.data());
                   }});
  }
  if (inference_only) return;

  auto dy = std::make_shared<std::vector<float>>(random(n));
  auto y = std::make_shared<std::vector<float>>(n);
  fast::batch_norm_relu_fwd(M, C, x->data(), mean->data(), invstd->data(), gamma->data(),
                            beta->data(), y->data());
  ops.push_back({"bn stats", g, f4 * double(n) * 2, [=](bool f, std::vector<float>& out) {
                   std::vector<double> m(static_cast<std::size_t>(C)),
                       v(static_cast<std::size_t>(C));
                   (f ? fast::batch_norm_stats : ref::batch_norm_stats<float>)(M, C, x->data(),
                                                                               m.data(), v.data());
                   out.assign(m.begin(), m.end());
                   out.insert(out.end(), v.begin(), v.end());
                 }});
  ops.push_back({"bn fwd", g, 2 * f4 * double(n), [=](bool f, std::vector<float>& out) {
                   out.resize(n);
                   (f ? fast::batch_norm_fwd
                      : ref::batch_norm_fwd<float>)(M, C, x->data(), mean->data(), invstd->data(),
                                                    gamma->data(), beta->data(), out.data());
                 }});
  ops.push_back({"bn bwd train", g, 5 * f4 * double(n), [=](bool f, std::vector<float>& out) {
                   out.resize(n + 2 * std::size_t(C));
                   (f ? fast::batch_norm_bwd_train
                      : ref::batch_norm_bwd_train<float>)(M, C, x->data(), dy->data(), mean->data(),
                                                          invstd->data(), gamma->data(), out.data(),
                                                          out.data() + n, out.data() + n + C);
                 }});
  ops.push_back(
      {"relu_bwd + bn bwd train (fused)", g, 7 * f4 * double(n),
       [=](bool f, std::vector<float>& out) {
         out.resize(n + 2 * std::size_t(C));
         float* dx = out.data();
         if (f) {
           fast::batch_norm_relu_bwd_train(M, C, x->data(), y->data(), dy->data(), mean->data(),
                                           invstd->data(), gamma->data(), dx, dx + n, dx + n + C);
         } else {
           std::vector<float> dz(n);
           ref::relu_bwd<float>(n, y->data(), dy->data(), dz.data());
           ref::batch_norm_bwd_train<float>(M, C, x->data(), dz.data(), mean->data(),
                                            invstd->data(), gamma->data(), dx, dx + n, dx + n + C);
         }
       }});
  ops.push_back({"relu fwd", g, 2 * f4 * double(n), [=](bool f, std::vector<float>& out) {
                   out.resize(n);
                   (f ? fast::relu_fwd : ref::relu_fwd<float>)(n, x->data(), out.data());
                 }});
  ops.push_back({"relu bwd", g, 3 * f4 * double(n), [=](bool f, std::vector<float>& out) {
                   out.resize(n);
                   (f ? fast::relu_bwd : ref::relu_bwd<float>)(n, y->data(), dy->data(),
                                                               out.data());
                 }});
  ops.push_back({"add_inplace", g, 3 * f4 * double(n),
                 [=](bool f, std::vector<float>& out) {
                   (f ? fast::add_inplace : ref::add_inplace<float>)(n, x->data(), out.data());
                 },
                 [=](std::vector<float>& out) { out.assign(dy->begin(), dy->end()); }});
  ops.push_back({"sum_rows (bias grad)", g, f4 * double(n), [=](bool f, std::vector<float>& out) {
                   out.resize(std::size_t(C));
                   (f ? fast::sum_rows : ref::sum_rows<float>)(M, C, dy->data(), out.data());
                 }});
  ops.push_back({"concat_channels 16+16", grid(D, H, W, 2 * C), 4 * f4 * double(n),
                 [=](bool f, std::vector<float>& out) {
                   out.resize(2 * n);
                   const float* src[2] = {x->data(), dy->data()};
                   const std::size_t widths[2] = {std::size_t(C), std::size_t(C)};
                   (f ? fast::concat_channels
                      : ref::concat_channels<float>)(std::size_t(M), 2, src, widths, widths,
                                                     out.data(), 2 * std::size_t(C));
                 }});
  auto argmax = std::make_shared<std::vector<std::int64_t>>(pool.y_size());
  auto argmax_out = std::make_shared<std::vector<std::int64_t>>(pool.y_size());
  auto dyp = std::make_shared<std::vector<float>>(random(pool.y_size()));
  {
    std::vector<float> yp(pool.y_size());
    fast::max_pool3d_fprop(pool, x->data(), yp.data(), argmax->data());
  }
  ops.push_back({"max_pool3d fprop (argmax)", g, f4 * double(n) * (1.0 + 3.0 / 8),
                 [=](bool f, std::vector<float>& out) {
                   out.resize(pool.y_size());
                   (f ? fast::max_pool3d_fprop : ref::max_pool3d_fprop<float>)(pool, x->data(),
                                                                               out.data(),
                                                                               argmax_out->data());
                 }});
  ops.push_back({"max_pool3d bprop", g, f4 * double(n) * (1.0 + 3.0 / 8),
                 [=](bool f, std::vector<float>& out) {
                   out.resize(n);
                   (f ? fast::max_pool3d_bprop : ref::max_pool3d_bprop<float>)(pool, dyp->data(),
                                                                               argmax->data(),
                                                                               out.data());
                 }});
  // The output layer's channel: sigmoid backward, the losses.
  const auto n1 = static_cast<std::size_t>(M);
  auto p = std::make_shared<std::vector<float>>(random(n1, 0.0f, 1.0f));
  auto t = std::make_shared<std::vector<float>>(n1);
  for (std::size_t i = 0; i < n1; ++i) (*t)[i] = (*p)[i] > 0.7f ? 1.0f : 0.0f;
  const std::string g1 = grid(D, H, W, 1);
  ops.push_back({"sigmoid bwd", g1, 3 * f4 * double(n1), [=](bool f, std::vector<float>& out) {
                   out.resize(n1);
                   (f ? fast::sigmoid_bwd : ref::sigmoid_bwd<float>)(n1, p->data(), t->data(),
                                                                     out.data());
                 }});
  ops.push_back(
      {"amgm sums + bwd", g1, 5 * f4 * double(n1), [=](bool f, std::vector<float>& out) {
         out.resize(n1 + 2);
         const auto s =
             (f ? fast::amgm_sums : ref::amgm_sums<float>)(std::int64_t(n1), p->data(), t->data());
         (f ? fast::amgm_bwd : ref::amgm_bwd<float>)(std::int64_t(n1), p->data(), t->data(), s,
                                                     1e-5, 1.0, out.data(), nullptr);
         out[n1] = float(s.intersection);
         out[n1 + 1] = float(s.squares);
       }});
  ops.push_back({"bce value + bwd", g1, 5 * f4 * double(n1), [=](bool f, std::vector<float>& out) {
                   out.resize(n1 + 1);
                   out[n1] = float((f ? fast::bce_value : ref::bce_value<float>)(std::int64_t(n1),
                                                                                 p->data(),
                                                                                 t->data(), 1.0));
                   (f ? fast::bce_bwd : ref::bce_bwd<float>)(std::int64_t(n1), p->data(), t->data(),
                                                             1.0, 1.0, out.data(), nullptr);
                 }});
  // Adam over the default U-Net's 5.6 M parameters (one buffer here).
  const std::size_t np = 5'600'000;
  auto theta = std::make_shared<std::vector<float>>(random(np));
  auto grad = std::make_shared<std::vector<float>>(random(np));
  auto m = std::make_shared<std::vector<float>>(np), v = std::make_shared<std::vector<float>>(np);
  ops.push_back({"adam step", "5.6M params", 7 * f4 * double(np),
                 [=](bool f, std::vector<float>& out) {
                   (f ? fast::adam_step : ref::adam_step<float>)(std::int64_t(np), out.data(),
                                                                 grad->data(), m->data(), v->data(),
                                                                 3, ref::AdamHyper{});
                 },
                 [=](std::vector<float>& out) {
                   out.assign(theta->begin(), theta->end());
                   std::fill(m->begin(), m->end(), 0.01f);
                   std::fill(v->begin(), v->end(), 0.001f);
                 }});
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads = {1, 2};
  int reps = 5;
  bool full = false;
  std::string only;
  fast::CpuIsa isa = fast::cpu_isa();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads.clear();
      for (const char* p = argv[++i]; *p;) {
        threads.push_back(std::max(1, std::atoi(p)));
        while (*p && *p != ',') ++p;
        if (*p == ',') ++p;
      }
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--full") {
      full = true;
    } else if (a == "--isa" && i + 1 < argc) {
      try {
        isa = fast::parse_cpu_isa(argv[++i], "--isa");
      } catch (const std::exception& e) {
        usage(e.what());
      }
    } else {
      usage(("unknown argument " + a).c_str());
    }
  }
  fast::set_cpu_isa(isa);
  std::printf("bench_ops_cpu | %s | float32 NDHWC | fast level %s | best of %d\n",
              cpu_model().c_str(), fast::cpu_isa_name(isa), reps);
  std::vector<Op> ops;
  add_grid_ops(ops, 64, 96, 96, 16, false);
  if (full) add_grid_ops(ops, 128, 288, 416, 16, true);
  int failures = 0;
  for (const Op& op : ops) {
    if (op.name.find(only) == std::string::npos) continue;
    std::vector<float> want, got;
    op.prepare(want);
    op.run(false, want);  // warm-up: the output's pages are touched before timing
    op.prepare(want);
    const double t_ref = seconds([&] { op.run(false, want); });
    for (int th : threads) {
      fast::set_num_threads(th);
      op.prepare(got);
      op.run(true, got);  // warm-up, and the check before timing
      const double before = rel_err(got, want);
      double best = 1e30;
      for (int r = 0; r < reps; ++r) {
        op.prepare(got);
        best = std::min(best, seconds([&] { op.run(true, got); }));
      }
      const double after = rel_err(got, want);
      const bool ok = before < 1e-4 && after < 1e-4;
      failures += !ok;
      std::printf(
          "%-32s | %-15s | ref %9.2f ms | fast %d thread%s %8.2f ms | %6.1fx | %6.1f GB/s | "
          "max err / max |ref| %.1e%s\n",
          op.name.c_str(), op.shape.c_str(), t_ref * 1e3, th, th == 1 ? " " : "s", best * 1e3,
          t_ref / best, op.bytes / best * 1e-9, std::max(before, after), ok ? "" : "  MISMATCH");
    }
  }
  return failures == 0 ? 0 : 1;
}
