// The fast CPU kernels other than the convolutions (kernels/cpu/fast: max pooling, ReLU,
// sigmoid, batch norm alone and fused with ReLU, add_inplace, sum_rows, concat, the losses,
// Adam) against their reference twins, one row per kernel case in an op-case table. Every row
// runs at every instruction-set level this machine has:
//   - fresh random inputs on awkward shapes (odd sizes, C = 1, N = 2, sizes that are no
//     multiple of a vector width or of a chunk), outputs poisoned before the call and guarded
//     by sentinels after their end;
//   - against the reference: the same bits where the header promises them (reductions with the
//     reference's chunks, copies, selections, double arithmetic rounded once), otherwise within
//     the header's bound of k float ulps of a per-element magnitude;
//   - the same bits for 1, 2, 3 and 7 threads.
// Then the engine side: dispatch routing (CTV_CPU_KERNELS=reference, float64), the fused op
// batch_norm_relu3d against the pair it replaces, its in-place inference path, and float64
// finite-difference gradients of the fused op with the ReLU kink kept away on purpose.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_dispatch.h"
#include "kernel_test_util.h"
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

using namespace kernel_test;
namespace fast = ctv::kernels::fast;

namespace {

// ---- one run of a case: its outputs, each with how it must compare ------------------------
struct FloatOut {
  std::string name;
  Guarded<float> v;
  double ulps = 0.0;            // 0: the reference's bits; else |fast - ref| <= ulps*2^-24*scale
  std::vector<double> scale{};  // per element (reference run only)
  double abs_floor = 0.0;       // added to the bound (subnormal results)
};
struct Outputs {
  std::vector<FloatOut> f;
  std::vector<std::pair<std::string, Guarded<double>>> d;  // always the reference's bits
  std::vector<std::pair<std::string, Guarded<std::int64_t>>> i;
};

struct OpCase {
  std::string op, desc;
  // Draws the case's inputs from its own seed (the same each call) and runs the fast kernels
  // (fast = true) or their reference twins into fresh poisoned, guarded outputs.
  std::function<Outputs(bool fast)> run;
};

template <typename E>
bool same_bits(const Guarded<E>& a, const Guarded<E>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(E)) == 0;
}

template <typename E>
std::size_t first_difference(const Guarded<E>& a, const Guarded<E>& b) {
  for (std::size_t k = 0; k < a.size(); ++k)
    if (std::memcmp(&a[k], &b[k], sizeof(E)) != 0) return k;
  return a.size();
}

// Every output of `got` against `want`: one line per failed comparison (none: all pass).
// Guards (no write past an output's end) are checked here too.
std::vector<std::string> mismatches(const Outputs& got, const Outputs& want) {
  std::vector<std::string> bad;
  auto say = [&](const std::string& name, const std::string& what) {
    bad.push_back("output " + name + ": " + what);
  };
  REQUIRE(got.f.size() == want.f.size());
  for (std::size_t k = 0; k < got.f.size(); ++k) {
    const FloatOut &g = got.f[k], &w = want.f[k];
    if (!g.v.guard_intact()) say(g.name, "write past the end");
    if (w.ulps == 0.0) {
      const std::size_t at = first_difference(g.v, w.v);
      if (at != g.v.size())
        say(g.name, "not the reference's bits at " + std::to_string(at) + ": " +
                        std::to_string(g.v[at]) + " vs " + std::to_string(w.v[at]));
      continue;
    }
    REQUIRE(w.scale.size() == w.v.size());
    std::size_t outside = 0, first = 0;
    for (std::size_t e = 0; e < g.v.size(); ++e) {
      const double err = std::fabs(double(g.v[e]) - double(w.v[e]));
      const double bound = w.ulps * 0x1p-24 * w.scale[e] + w.abs_floor;
      if (!(err <= bound) && !(std::isnan(g.v[e]) && std::isnan(w.v[e])))
        if (outside++ == 0) first = e;
    }
    if (outside)
      say(g.name, std::to_string(outside) + " of " + std::to_string(g.v.size()) + " outside " +
                      std::to_string(w.ulps) + " ulps, first at " + std::to_string(first) + ": " +
                      std::to_string(g.v[first]) + " vs " + std::to_string(w.v[first]));
  }
  for (std::size_t k = 0; k < got.d.size(); ++k) {
    if (!got.d[k].second.guard_intact()) say(got.d[k].first, "write past the end");
    if (!same_bits(got.d[k].second, want.d[k].second))
      say(got.d[k].first, "not the reference's bits");
  }
  for (std::size_t k = 0; k < got.i.size(); ++k) {
    if (!got.i[k].second.guard_intact()) say(got.i[k].first, "write past the end");
    if (!same_bits(got.i[k].second, want.i[k].second))
      say(got.i[k].first, "not the reference's values");
  }
  return bad;
}

bool all_same_bits(const Outputs& a, const Outputs& b) {
  bool same = true;
  for (std::size_t k = 0; k < a.f.size(); ++k) same &= same_bits(a.f[k].v, b.f[k].v);
  for (std::size_t k = 0; k < a.d.size(); ++k) same &= same_bits(a.d[k].second, b.d[k].second);
  for (std::size_t k = 0; k < a.i.size(); ++k) same &= same_bits(a.i[k].second, b.i[k].second);
  return same;
}

// ---- inputs ---------------------------------------------------------------------------------
Guarded<float> uniform_floats(std::size_t n, Rng& rng, double lo = -1.0, double hi = 1.0) {
  Guarded<float> b(n);
  for (std::size_t k = 0; k < n; ++k)
    b[k] = static_cast<float>(lo + (hi - lo) * (rng.uniform() + 1.0) / 2.0);
  return b;
}
Guarded<float> copy_of(const Guarded<float>& a) { return a; }

// ---- the table ------------------------------------------------------------------------------
void add_elementwise(std::vector<OpCase>& t, std::size_t n, std::uint64_t seed) {
  const std::string desc = "n=" + std::to_string(n);
  t.push_back({"relu_fwd", desc, [=](bool f) {
                 Rng rng{seed};
                 auto x = uniform_floats(n, rng);
                 if (n > 2) x[1] = -0.0f, x[2] = 0.0f;  // both zeros give +0
                 Outputs o;
                 o.f.push_back({"y", Guarded<float>(n)});
                 (f ? fast::relu_fwd : ref::relu_fwd<float>)(n, x.data(), o.f[0].v.data());
                 // In place, as the engine may call it.
                 auto y2 = copy_of(x);
                 (f ? fast::relu_fwd : ref::relu_fwd<float>)(n, y2.data(), y2.data());
                 o.f.push_back({"y in place", y2});
                 return o;
               }});
  t.push_back({"relu_bwd", desc, [=](bool f) {
                 Rng rng{seed};
                 Guarded<float> y = uniform_floats(n, rng), dy = uniform_floats(n, rng);
                 ref::relu_fwd<float>(n, y.data(), y.data());  // a forward output: zeros too
                 Outputs o;
                 o.f.push_back({"dx", Guarded<float>(n)});
                 (f ? fast::relu_bwd : ref::relu_bwd<float>)(n, y.data(), dy.data(),
                                                             o.f[0].v.data());
                 return o;
               }});
  t.push_back({"sigmoid_fwd", desc + " |x| up to 120", [=](bool f) {
                 Rng rng{seed};
                 auto x = uniform_floats(n, rng, -120.0, 120.0);
                 for (std::size_t k = 0; k < n; k += 3) x[k] *= 0.05f;  // and most of them small
                 Outputs o;
                 o.f.push_back({"y", Guarded<float>(n), 4.0, {}, 0x1p-149});
                 (f ? fast::sigmoid_fwd : ref::sigmoid_fwd<float>)(n, x.data(), o.f[0].v.data());
                 if (!f)
                   for (std::size_t k = 0; k < n; ++k) o.f[0].scale.push_back(o.f[0].v[k]);
                 return o;
               }});
  t.push_back({"sigmoid_bwd", desc, [=](bool f) {
                 Rng rng{seed};
                 auto y = uniform_floats(n, rng, 0.0, 1.0), dy = uniform_floats(n, rng);
                 Outputs o;
                 o.f.push_back({"dx", Guarded<float>(n)});
                 (f ? fast::sigmoid_bwd : ref::sigmoid_bwd<float>)(n, y.data(), dy.data(),
                                                                   o.f[0].v.data());
                 return o;
               }});
  t.push_back({"add_inplace", desc, [=](bool f) {
                 Rng rng{seed};
                 auto x = uniform_floats(n, rng), y = uniform_floats(n, rng);
                 (f ? fast::add_inplace : ref::add_inplace<float>)(n, x.data(), y.data());
                 Outputs o;
                 o.f.push_back({"y", y});
                 return o;
               }});
}

// The U-Net's pooling and awkward disjoint windows (fast path), and overlapping or padded
// windows (routed to the reference). `ties`: small integers, so windows tie often.
void add_pool(std::vector<OpCase>& t, const MaxPool3dShape& s, bool ties, std::uint64_t seed) {
  const std::string desc = s.describe() + (ties ? " integers (ties)" : "");
  auto inputs = [=](Rng& rng) {
    Guarded<float> x = ties ? integer_buffer<float>(s.x_size(), rng, -2, 2)
                            : uniform_floats(s.x_size(), rng);
    if (!ties && s.x_size() > 40) {  // NaN: the first one in scan order wins
      x[5] = std::numeric_limits<float>::quiet_NaN();
      x[37] = std::numeric_limits<float>::quiet_NaN();
    }
    return x;
  };
  t.push_back({"max_pool3d_fprop", desc, [=](bool f) {
                 Rng rng{seed};
                 const auto x = inputs(rng);
                 Outputs o;
                 o.f.push_back({"y", Guarded<float>(s.y_size())});
                 o.i.push_back({"argmax", Guarded<std::int64_t>(s.y_size())});
                 o.f.push_back({"y without argmax", Guarded<float>(s.y_size())});
                 auto k = f ? fast::max_pool3d_fprop : ref::max_pool3d_fprop<float>;
                 k(s, x.data(), o.f[0].v.data(), o.i[0].second.data());
                 k(s, x.data(), o.f[1].v.data(), nullptr);
                 return o;
               }});
  t.push_back({"max_pool3d_bprop", desc, [=](bool f) {
                 Rng rng{seed};
                 const auto x = inputs(rng);
                 const auto dy = uniform_floats(s.y_size(), rng);
                 Guarded<float> y(s.y_size());
                 Guarded<std::int64_t> argmax(s.y_size());
                 ref::max_pool3d_fprop<float>(s, x.data(), y.data(), argmax.data());
                 Outputs o;
                 o.f.push_back({"dx", Guarded<float>(s.x_size())});
                 (f ? fast::max_pool3d_bprop : ref::max_pool3d_bprop<float>)(
                     s, dy.data(), argmax.data(), o.f[0].v.data());
                 return o;
               }});
}

// Batch norm on x [M][C]: statistics, forward alone and fused with ReLU, backward alone and
// fused, training and eval.
struct BnInputs {
  Guarded<float> x, dy, gamma, beta;
  std::vector<double> mean, var, invstd;
};
BnInputs bn_inputs(std::int64_t M, std::int64_t C, std::uint64_t seed) {
  Rng rng{seed};
  BnInputs in{uniform_floats(std::size_t(M * C), rng, -1.0, 3.0),
              uniform_floats(std::size_t(M * C), rng), uniform_floats(std::size_t(C), rng, 0.5, 2.0),
              uniform_floats(std::size_t(C), rng, -0.5, 0.5), {}, {}, {}};
  in.mean.resize(std::size_t(C));
  in.var.resize(std::size_t(C));
  in.invstd.resize(std::size_t(C));
  ref::batch_norm_stats<float>(M, C, in.x.data(), in.mean.data(), in.var.data());
  ref::batch_norm_invstd(C, in.var.data(), 1e-5, in.invstd.data());
  return in;
}

void add_batch_norm(std::vector<OpCase>& t, std::int64_t M, std::int64_t C, std::uint64_t seed) {
  const std::string desc = "M=" + std::to_string(M) + " C=" + std::to_string(C);
  const auto n = static_cast<std::size_t>(M * C);
  t.push_back({"batch_norm_stats", desc, [=](bool f) {
                 const BnInputs in = bn_inputs(M, C, seed);
                 Outputs o;
                 o.d.push_back({"mean", Guarded<double>(std::size_t(C))});
                 o.d.push_back({"var", Guarded<double>(std::size_t(C))});
                 (f ? fast::batch_norm_stats : ref::batch_norm_stats<float>)(
                     M, C, in.x.data(), o.d[0].second.data(), o.d[1].second.data());
                 return o;
               }});
  for (bool relu : {false, true}) {
    t.push_back({relu ? "batch_norm_relu_fwd" : "batch_norm_fwd", desc, [=](bool f) {
                   const BnInputs in = bn_inputs(M, C, seed);
                   Outputs o;
                   o.f.push_back({"y", Guarded<float>(n), 4.0});
                   o.f.push_back({"y in place", copy_of(in.x), 4.0});
                   for (FloatOut* out : {&o.f[0], &o.f[1]}) {
                     const float* x = out == &o.f[0] ? in.x.data() : out->v.data();
                     if (f) {
                       (relu ? fast::batch_norm_relu_fwd : fast::batch_norm_fwd)(
                           M, C, x, in.mean.data(), in.invstd.data(), in.gamma.data(),
                           in.beta.data(), out->v.data());
                     } else {
                       ref::batch_norm_fwd<float>(M, C, x, in.mean.data(), in.invstd.data(),
                                                  in.gamma.data(), in.beta.data(), out->v.data());
                       if (relu) ref::relu_fwd<float>(n, out->v.data(), out->v.data());
                     }
                   }
                   if (!f)  // the bound's magnitude: |x * a| + |b|, a = gamma invstd
                     for (FloatOut* out : {&o.f[0], &o.f[1]})
                       for (std::size_t e = 0; e < n; ++e) {
                         const std::size_t c = e % std::size_t(C);
                         const double a = double(in.gamma[c]) * in.invstd[c];
                         out->scale.push_back(std::fabs(double(in.x[e]) * a) +
                                              std::fabs(double(in.beta[c]) - in.mean[c] * a));
                       }
                   return o;
                 }});
    for (bool training : {true, false}) {
      const std::string op = std::string(relu ? "batch_norm_relu_bwd" : "batch_norm_bwd") +
                             (training ? "_train" : "_eval");
      t.push_back({op, desc, [=](bool f) {
                     const BnInputs in = bn_inputs(M, C, seed);
                     // The fused forward's output, for the ReLU mask (some exact zeros).
                     Guarded<float> y(n);
                     ref::batch_norm_fwd<float>(M, C, in.x.data(), in.mean.data(),
                                                in.invstd.data(), in.gamma.data(), in.beta.data(),
                                                y.data());
                     ref::relu_fwd<float>(n, y.data(), y.data());
                     Outputs o;
                     o.f.push_back({"dx", Guarded<float>(n)});
                     o.f.push_back({"dgamma", Guarded<float>(std::size_t(C))});
                     o.f.push_back({"dbeta", Guarded<float>(std::size_t(C))});
                     o.f.push_back({"dx alone", Guarded<float>(n)});
                     float *dx = o.f[0].v.data(), *dg = o.f[1].v.data(), *db = o.f[2].v.data();
                     Guarded<float> dz(n);  // the reference pair's stored ReLU gradient
                     if (relu) ref::relu_bwd<float>(n, y.data(), in.dy.data(), dz.data());
                     const float* g = relu ? dz.data() : in.dy.data();
                     const double *mu = in.mean.data(), *is = in.invstd.data();
                     if (f && relu) {
                       auto k = training ? fast::batch_norm_relu_bwd_train
                                         : fast::batch_norm_relu_bwd_eval;
                       k(M, C, in.x.data(), y.data(), in.dy.data(), mu, is, in.gamma.data(), dx,
                         dg, db);
                       k(M, C, in.x.data(), y.data(), in.dy.data(), mu, is, in.gamma.data(),
                         o.f[3].v.data(), nullptr, nullptr);
                     } else {
                       auto k = f ? (training ? fast::batch_norm_bwd_train
                                              : fast::batch_norm_bwd_eval)
                                  : (training ? ref::batch_norm_bwd_train<float>
                                              : ref::batch_norm_bwd_eval<float>);
                       k(M, C, in.x.data(), g, mu, is, in.gamma.data(), dx, dg, db);
                       k(M, C, in.x.data(), g, mu, is, in.gamma.data(), o.f[3].v.data(), nullptr,
                         nullptr);
                     }
                     return o;
                   }});
    }
  }
}

void add_sum_rows(std::vector<OpCase>& t, std::int64_t rows, std::int64_t width,
                  std::uint64_t seed) {
  t.push_back({"sum_rows", "rows=" + std::to_string(rows) + " width=" + std::to_string(width),
               [=](bool f) {
                 Rng rng{seed};
                 const auto x = uniform_floats(std::size_t(rows * width), rng);
                 Outputs o;
                 o.f.push_back({"out", Guarded<float>(std::size_t(width))});
                 (f ? fast::sum_rows : ref::sum_rows<float>)(rows, width, x.data(),
                                                             o.f[0].v.data());
                 return o;
               }});
}

// Inputs as channel-slice views (pitch > width) into an output whose pitch may exceed the sum.
void add_concat(std::vector<OpCase>& t, std::size_t rows, std::vector<std::size_t> widths,
                std::vector<std::size_t> pitches, std::size_t extra, std::uint64_t seed) {
  std::string desc = "rows=" + std::to_string(rows) + " widths/pitches";
  std::size_t total = extra;
  for (std::size_t k = 0; k < widths.size(); ++k) {
    desc.append(" ").append(std::to_string(widths[k])).append("/");
    desc.append(std::to_string(pitches[k]));
    total += widths[k];
  }
  t.push_back({"concat_channels", desc + " dst pitch " + std::to_string(total), [=](bool f) {
                 Rng rng{seed};
                 std::vector<Guarded<float>> in;
                 std::vector<const float*> src;
                 for (std::size_t k = 0; k < widths.size(); ++k) {
                   in.push_back(uniform_floats(rows * pitches[k], rng));
                   src.push_back(in.back().data());
                 }
                 Outputs o;
                 o.f.push_back({"dst", Guarded<float>(rows * total)});
                 (f ? fast::concat_channels : ref::concat_channels<float>)(
                     rows, widths.size(), src.data(), widths.data(), pitches.data(),
                     o.f[0].v.data(), total);
                 return o;
               }});
}

// Probabilities with exact 0 and 1 (the log clamp, the gradient guard) and binary or soft g.
void add_losses(std::vector<OpCase>& t, std::int64_t n, bool soft, std::uint64_t seed) {
  const std::string desc = "n=" + std::to_string(n) + (soft ? " soft g" : " binary g");
  auto inputs = [=](Guarded<float>& p, Guarded<float>& g) {
    Rng rng{seed};
    p = uniform_floats(std::size_t(n), rng, 0.0, 1.0);
    g = soft ? uniform_floats(std::size_t(n), rng, 0.0, 1.0)
             : integer_buffer<float>(std::size_t(n), rng, 0, 1);
    if (n > 10) p[3] = 0.0f, p[7] = 1.0f;
  };
  t.push_back({"amgm_sums+amgm_bwd", desc, [=](bool f) {
                 Guarded<float> p(0), g(0);
                 inputs(p, g);
                 Outputs o;
                 const AmgmSums s = (f ? fast::amgm_sums : ref::amgm_sums<float>)(n, p.data(),
                                                                                   g.data());
                 o.d.push_back({"sums", from_list<double>({s.intersection, s.squares})});
                 o.f.push_back({"dp", Guarded<float>(std::size_t(n))});
                 o.f.push_back({"dg", Guarded<float>(std::size_t(n))});
                 o.f.push_back({"dp alone", Guarded<float>(std::size_t(n))});
                 auto k = f ? fast::amgm_bwd : ref::amgm_bwd<float>;
                 k(n, p.data(), g.data(), s, 1e-5, 0.75, o.f[0].v.data(), o.f[1].v.data());
                 k(n, p.data(), g.data(), s, 1e-5, 0.75, o.f[2].v.data(), nullptr);
                 return o;
               }});
  t.push_back({"bce_value+bce_bwd", desc + " w_bg 0.3", [=](bool f) {
                 Guarded<float> p(0), g(0);
                 inputs(p, g);
                 Outputs o;
                 const double v =
                     (f ? fast::bce_value : ref::bce_value<float>)(n, p.data(), g.data(), 0.3);
                 o.d.push_back({"value", from_list<double>({v})});
                 o.f.push_back({"dp", Guarded<float>(std::size_t(n))});
                 o.f.push_back({"dg", Guarded<float>(std::size_t(n))});
                 o.f.push_back({"dg alone", Guarded<float>(std::size_t(n))});
                 auto k = f ? fast::bce_bwd : ref::bce_bwd<float>;
                 k(n, p.data(), g.data(), 0.3, 1.5, o.f[0].v.data(), o.f[1].v.data());
                 k(n, p.data(), g.data(), 0.3, 1.5, nullptr, o.f[2].v.data());
                 return o;
               }});
}

void add_adam(std::vector<OpCase>& t, std::int64_t n, std::int64_t step, std::uint64_t seed) {
  t.push_back({"adam_step", "n=" + std::to_string(n) + " t=" + std::to_string(step),
               [=](bool f) {
                 Rng rng{seed};
                 auto theta = uniform_floats(std::size_t(n), rng),
                      g = uniform_floats(std::size_t(n), rng),
                      m = uniform_floats(std::size_t(n), rng, -0.1, 0.1),
                      v = uniform_floats(std::size_t(n), rng, 0.0, 0.01);
                 if (n > 4) g[2] = 0.0f, m[2] = 0.0f, v[2] = 0.0f;  // v_hat = 0: eps alone
                 const ref::AdamHyper h{1e-3, 0.9, 0.999, 1e-7};
                 (f ? fast::adam_step : ref::adam_step<float>)(n, theta.data(), g.data(), m.data(),
                                                               v.data(), step, h);
                 Outputs o;
                 o.f.push_back({"theta", theta});
                 o.f.push_back({"m", m});
                 o.f.push_back({"v", v});
                 return o;
               }});
}

std::vector<OpCase> op_table() {
  std::vector<OpCase> t;
  std::uint64_t seed = 1000;
  // Element-wise: one element, less than a vector, one block + 1, many blocks (odd).
  for (std::size_t n : {std::size_t(1), std::size_t(7), fast::kElementBlock + 1, std::size_t(100003)})
    add_elementwise(t, n, ++seed);
  // Pooling: the U-Net's 2x2x2 stride 2 with odd sizes (floor leaves rows), N=2, C=1, C=17;
  // windows with gaps (stride 3); overlap and padding (the reference's path).
  const Axes two{2, 2, 2};
  for (bool ties : {false, true}) {
    add_pool(t, pool_shape(2, 7, 5, 9, 3, 2, 2, 2, two), ties, ++seed);
    add_pool(t, pool_shape(1, 4, 6, 10, 1, 2, 2, 2, two), ties, ++seed);
    add_pool(t, pool_shape(1, 3, 4, 5, 17, 2, 2, 2, two), ties, ++seed);
    add_pool(t, pool_shape(2, 6, 4, 8, 16, 2, 2, 2, two), ties, ++seed);
    add_pool(t, pool_shape(1, 7, 8, 7, 2, 2, 1, 2, {3, 2, 3}), ties, ++seed);
  }
  for (const auto& s : pool_cases()) add_pool(t, s, false, ++seed);
  // Batch norm: C=1, odd C, the U-Net's 16 and 32, 64 and one past it; M from one row to
  // several reduction chunks (4096 rows) plus a remainder.
  add_batch_norm(t, 2, 1, ++seed);
  add_batch_norm(t, 210, 3, ++seed);
  add_batch_norm(t, 3 * 4096 + 37, 16, ++seed);
  add_batch_norm(t, 4096 + 1, 32, ++seed);
  add_batch_norm(t, 999, 17, ++seed);
  add_batch_norm(t, 2 * 4096 + 3, 1, ++seed);
  add_batch_norm(t, 300, 64, ++seed);
  add_batch_norm(t, 301, 65, ++seed);
  // Bias gradients: widths 1, 3, 16 (the U-Net's), 33; rows across chunk boundaries.
  add_sum_rows(t, 1, 1, ++seed);
  add_sum_rows(t, 2 * 4096 + 5, 16, ++seed);
  add_sum_rows(t, 9000, 3, ++seed);
  add_sum_rows(t, 3, 33, ++seed);
  add_sum_rows(t, 4096 * 5, 1, ++seed);
  // Concatenation: the U-Net's skip ++ up-sampled, views, C=1, three inputs, wide rows.
  add_concat(t, 1001, {16, 16}, {16, 16}, 0, ++seed);
  add_concat(t, 37, {1, 3, 2}, {2, 3, 5}, 3, ++seed);
  add_concat(t, 20000, {2, 1}, {2, 1}, 0, ++seed);
  add_concat(t, 5, {300, 17}, {301, 17}, 1, ++seed);
  // Losses: one element, past one chunk, several chunks plus a remainder.
  add_losses(t, 1, false, ++seed);
  add_losses(t, 4097, false, ++seed);
  add_losses(t, 3 * 4096 + 11, true, ++seed);
  add_losses(t, 70001, false, ++seed);
  // Adam: the first step and a later one, odd sizes.
  add_adam(t, 1, 1, ++seed);
  add_adam(t, 17, 1, ++seed);
  add_adam(t, 100001, 7, ++seed);
  return t;
}

// Runs f at every level this CPU supports, restoring the level afterwards.
template <typename F>
void at_every_level(F&& f) {
  const fast::CpuIsa before = fast::cpu_isa();
  for (fast::CpuIsa isa : fast::cpu_isas_available()) {
    CAPTURE(fast::cpu_isa_name(isa));
    fast::set_cpu_isa(isa);
    f();
  }
  fast::set_cpu_isa(before);
}

// Every row of `op` (a prefix of the table's op names): against the reference, then the same
// bits for 1, 2, 3 and 7 threads, at every level.
void run_rows(const std::string& prefix) {
  static const std::vector<OpCase> table = op_table();
  int rows = 0;
  const int threads_before = fast::num_threads();
  at_every_level([&] {
    for (const OpCase& c : table) {
      if (c.op.rfind(prefix, 0) != 0) continue;
      INFO(c.op << " " << c.desc);
      ++rows;
      const Outputs want = c.run(false);
      fast::set_num_threads(1);
      const Outputs one = c.run(true);
      const std::vector<std::string> bad = mismatches(one, want);
      for (const std::string& b : bad) FAIL_CHECK(b);
      for (int threads : {2, 3, 7}) {
        CAPTURE(threads);
        fast::set_num_threads(threads);
        CHECK(all_same_bits(c.run(true), one));
      }
      fast::set_num_threads(threads_before);
    }
  });
  fast::set_num_threads(threads_before);
  CHECK(rows > 0);
}

}  // namespace

TEST_CASE("fast relu, sigmoid, add_inplace: against the reference, threads, every level") {
  run_rows("relu_");
  run_rows("sigmoid_");
  run_rows("add_inplace");
}

TEST_CASE("fast max_pool3d: against the reference, threads, every level") {
  run_rows("max_pool3d_");
}

TEST_CASE("fast batch norm and batch norm + ReLU: against the reference, threads, every level") {
  run_rows("batch_norm");
}

TEST_CASE("fast sum_rows and concat_channels: against the reference, threads, every level") {
  run_rows("sum_rows");
  run_rows("concat_channels");
}

TEST_CASE("fast losses and Adam: against the reference, threads, every level") {
  run_rows("amgm");
  run_rows("bce");
  run_rows("adam_step");
}

TEST_CASE("fast ops table: the comparison catches a wrong element, a loose one, a stray write") {
  Outputs want;
  want.f.push_back({"y", from_list<float>({1.0, 2.0, 3.0}), 4.0, {1.0, 2.0, 3.0}});
  Outputs got = want;
  got.f[0].v[1] = 2.0f + 4.0f * 2.0f * 0x1p-24f;  // 4 ulps of 2: inside the bound
  CHECK(mismatches(got, want).empty());
  got.f[0].v[1] = 2.0f + 16.0f * 2.0f * 0x1p-24f;  // 16 ulps: outside
  CHECK(mismatches(got, want).size() == 1);
  got = want;
  got.f[0].v.data()[3] = 0.0f;  // one past the end
  CHECK(mismatches(got, want).size() == 1);
  Outputs exact = want;
  exact.f[0].ulps = 0.0;
  Outputs off = exact;
  off.f[0].v[2] = std::nextafter(3.0f, 4.0f);  // one ulp: not the same bits
  CHECK(mismatches(off, exact).size() == 1);
  CHECK_FALSE(all_same_bits(off, exact));
  Outputs ints;
  ints.i.push_back({"argmax", Guarded<std::int64_t>(2)});
  Outputs ints_off = ints;
  ints_off.i[0].second[1] = 5;
  CHECK(mismatches(ints_off, ints).size() == 1);
}

// ---- the engine side: dispatch, the fused op, its in-place path, its gradients ---------------

namespace {

using ctv::BatchNormState;
using ctv::DType;
using ctv::Shape;
using ctv::Tensor;
using ctv::Var;
namespace dispatch = ctv::dispatch;

// Runs the body on the given CPU kernels, restoring the process-wide choice afterwards.
struct KernelsFor {
  dispatch::CpuKernels before = dispatch::cpu_kernels();
  explicit KernelsFor(dispatch::CpuKernels k) { dispatch::set_cpu_kernels(k); }
  ~KernelsFor() { dispatch::set_cpu_kernels(before); }
};

std::vector<double> draw_values(std::size_t n, std::uint64_t seed, double lo, double hi) {
  Rng rng{seed};
  std::vector<double> v(n);
  for (auto& x : v) x = static_cast<float>(lo + (hi - lo) * (rng.uniform() + 1.0) / 2.0);
  return v;
}

bool same_values(const Tensor& a, const Tensor& b) { return a.to_vector() == b.to_vector(); }

// One forward and backward of relu(batch_norm3d) or batch_norm_relu3d: output, the three
// gradients and the running estimates afterwards.
struct BnReluRun {
  Tensor y, dx, dgamma, dbeta, running_mean, running_var;
};
BnReluRun run_bn_relu(bool fused, bool training, DType dt, const Shape& shape,
                      std::uint64_t seed) {
  const std::int64_t C = shape[shape.rank - 1];
  const auto n = static_cast<std::size_t>(shape.numel());
  Var x(Tensor::from_vector(shape, draw_values(n, seed, -1.0, 2.0), dt), true);
  Var gamma(Tensor::from_vector(Shape{C}, draw_values(std::size_t(C), seed + 1, 0.5, 2.0), dt),
            true);
  Var beta(Tensor::from_vector(Shape{C}, draw_values(std::size_t(C), seed + 2, -0.5, 0.5), dt),
           true);
  BatchNormState st = BatchNormState::create(C, dt);
  st.running_mean = Tensor::from_vector(Shape{C}, draw_values(std::size_t(C), seed + 3, 0, 1), dt);
  st.running_var = Tensor::from_vector(Shape{C}, draw_values(std::size_t(C), seed + 4, 1, 2), dt);
  Var y = fused ? ctv::batch_norm_relu3d(x, gamma, beta, st, training)
                : ctv::relu(ctv::batch_norm3d(x, gamma, beta, st, training));
  ctv::backward(y, Tensor::from_vector(shape, draw_values(n, seed + 5, -1.0, 1.0), dt));
  return {y.value(), x.grad(), gamma.grad(), beta.grad(), st.running_mean, st.running_var};
}

}  // namespace

TEST_CASE("dispatch: CTV_CPU_KERNELS=reference runs the reference kernels, float64 always") {
  const std::size_t n = 3001;
  const auto xv = draw_values(n, 700, -9.0, 9.0);
  const Tensor x32 = Tensor::from_vector(Shape{std::int64_t(n)}, xv, DType::f32);
  Tensor y = Tensor::empty(x32.shape(), DType::f32);
  std::vector<float> xf(xv.begin(), xv.end()), direct(n);
  ref::sigmoid_fwd<float>(n, xf.data(), direct.data());
  std::size_t differ = 0;
  {
    KernelsFor k(dispatch::CpuKernels::reference);
    dispatch::sigmoid_fwd(x32, y);
    const auto got = y.to_vector();
    for (std::size_t i = 0; i < n; ++i) differ += got[i] != double(direct[i]);
    CHECK(differ == 0);
  }
  {
    KernelsFor k(dispatch::CpuKernels::fast);
    dispatch::sigmoid_fwd(x32, y);
    const auto got = y.to_vector();
    std::vector<float> fast_direct(n);
    fast::sigmoid_fwd(n, xf.data(), fast_direct.data());
    differ = 0;
    std::size_t from_ref = 0;
    for (std::size_t i = 0; i < n; ++i) {
      differ += got[i] != double(fast_direct[i]);
      from_ref += got[i] != double(direct[i]);
    }
    CHECK(differ == 0);
    CHECK(from_ref > 0);  // the fast kernel really ran (it rounds differently somewhere)
  }
  // float64 stays on the reference whatever the choice.
  const Tensor x64 = Tensor::from_vector(Shape{std::int64_t(n)}, xv, DType::f64);
  Tensor y64 = Tensor::empty(x64.shape(), DType::f64);
  dispatch::sigmoid_fwd(x64, y64);
  std::vector<double> direct64(n);
  ref::sigmoid_fwd<double>(n, xv.data(), direct64.data());
  CHECK(y64.to_vector() == direct64);
}

TEST_CASE("batch_norm_relu3d: the same bits as relu(batch_norm3d), on both kernel sets") {
  const Shape shape{2, 3, 5, 7, 16};
  for (auto kernels : {dispatch::CpuKernels::reference, dispatch::CpuKernels::fast}) {
    CAPTURE(dispatch::cpu_kernels_name(kernels));
    KernelsFor k(kernels);
    for (bool training : {true, false}) {
      CAPTURE(training);
      const BnReluRun a = run_bn_relu(false, training, DType::f32, shape, 800);
      const BnReluRun b = run_bn_relu(true, training, DType::f32, shape, 800);
      CHECK(same_values(a.y, b.y));
      CHECK(same_values(a.dx, b.dx));
      CHECK(same_values(a.dgamma, b.dgamma));
      CHECK(same_values(a.dbeta, b.dbeta));
      CHECK(same_values(a.running_mean, b.running_mean));
      CHECK(same_values(a.running_var, b.running_var));
    }
  }
  // And the fast kernels within float rounding of the reference.
  const BnReluRun r = [&] {
    KernelsFor k(dispatch::CpuKernels::reference);
    return run_bn_relu(true, true, DType::f32, shape, 801);
  }();
  const BnReluRun f = run_bn_relu(true, true, DType::f32, shape, 801);
  auto close = [](const Tensor& a, const Tensor& b) {
    const auto u = a.to_vector(), v = b.to_vector();
    double err = 0, mag = 1e-30;
    for (std::size_t i = 0; i < u.size(); ++i) {
      err = std::max(err, std::fabs(u[i] - v[i]));
      mag = std::max(mag, std::fabs(v[i]));
    }
    return err / mag;
  };
  CHECK(close(f.y, r.y) < 1e-6);
  CHECK(close(f.dx, r.dx) < 1e-5);  // the forward's float rounding reaches the gradients
  CHECK(close(f.dgamma, r.dgamma) < 1e-5);
  CHECK(close(f.dbeta, r.dbeta) < 1e-5);
}

TEST_CASE("batch_norm_relu3d: in place without a graph, a fresh output with one") {
  const Shape shape{1, 4, 3, 5, 16};
  const auto xv = draw_values(std::size_t(shape.numel()), 900, -1.0, 2.0);
  Var gamma(Tensor::full(Shape{16}, 1.5, DType::f32), true);
  Var beta(Tensor::full(Shape{16}, 0.25, DType::f32), true);
  BatchNormState st = BatchNormState::create(16);
  const Tensor want = ctv::relu(ctv::batch_norm3d(Var(Tensor::from_vector(shape, xv)), gamma,
                                                  beta, st, false))
                          .value();
  {
    ctv::InferenceMode im;
    Var x(Tensor::from_vector(shape, xv));
    Var y = ctv::batch_norm_relu3d(x, gamma, beta, st, false, /*overwrite_input=*/true);
    CHECK(y.value().shares_storage(x.value()));
    CHECK(same_values(y.value(), want));
    CHECK(same_values(x.value(), want));  // x now holds the result
    Var x2(Tensor::from_vector(shape, xv));
    Var y2 = ctv::batch_norm_relu3d(x2, gamma, beta, st, false);  // not asked: a copy
    CHECK_FALSE(y2.value().shares_storage(x2.value()));
    CHECK(x2.value().to_vector() == xv);
  }
  // Recording a graph: the input is saved for backward, never overwritten.
  Var x(Tensor::from_vector(shape, xv), true);
  Var y = ctv::batch_norm_relu3d(x, gamma, beta, st, false, /*overwrite_input=*/true);
  CHECK_FALSE(y.value().shares_storage(x.value()));
  CHECK(x.value().to_vector() == xv);
  CHECK(same_values(y.value(), want));
}

// Float64 central finite differences of L = <batch_norm_relu3d(x, gamma, beta), r> against
// autograd, in the style of tests/test_ops.cpp. The ReLU kink is kept away on purpose: inputs
// are redrawn until every pre-activation is at least 0.02 from 0 (the step is 1e-6, and one
// step moves a pre-activation by far less than that), and the exact-kink rule (gradient 0 at
// 0) is pinned separately below.
namespace {

struct FdResult {
  double worst = 0.0;  // normalised max error over x, gamma, beta
};

FdResult bn_relu_fd(bool training, const Shape& shape, std::uint64_t seed, double tamper = 1.0) {
  const std::int64_t C = shape[shape.rank - 1];
  const auto n = static_cast<std::size_t>(shape.numel());
  std::vector<std::vector<double>> data;
  // Draw until no pre-activation is within 0.02 of the kink.
  for (std::uint64_t s = seed;; ++s) {
    data = {draw_values(n, s, -1.0, 1.0), draw_values(std::size_t(C), s + 100, 0.5, 1.5),
            draw_values(std::size_t(C), s + 200, -0.3, 0.3)};
    ctv::InferenceMode im;
    BatchNormState st = BatchNormState::create(C, DType::f64);
    Var x(Tensor::from_vector(shape, data[0], DType::f64));
    Var g(Tensor::from_vector(Shape{C}, data[1], DType::f64));
    Var b(Tensor::from_vector(Shape{C}, data[2], DType::f64));
    const auto pre = ctv::batch_norm3d(x, g, b, st, training).value().to_vector();
    bool clear = true;
    for (double v : pre) clear &= std::fabs(v) >= 0.02;
    if (clear) break;
    REQUIRE(s < seed + 1000);
  }
  const auto r = draw_values(n, seed + 300, -1.0, 1.0);
  auto build = [&](bool grad, BatchNormState& st) {
    std::vector<Var> v{Var(Tensor::from_vector(shape, data[0], DType::f64), grad),
                       Var(Tensor::from_vector(Shape{C}, data[1], DType::f64), grad),
                       Var(Tensor::from_vector(Shape{C}, data[2], DType::f64), grad)};
    Var y = ctv::batch_norm_relu3d(v[0], v[1], v[2], st, training);
    return std::make_pair(v, y);
  };
  BatchNormState st = BatchNormState::create(C, DType::f64);
  auto [vars, y] = build(true, st);
  ctv::backward(y, Tensor::from_vector(shape, r, DType::f64));
  auto loss = [&] {
    ctv::InferenceMode im;
    BatchNormState s2 = BatchNormState::create(C, DType::f64);
    const auto out = build(false, s2).second.value().to_vector();
    double L = 0;
    for (std::size_t i = 0; i < out.size(); ++i) L += out[i] * r[i];
    return L;
  };
  FdResult res;
  const double eps = 1e-6;
  for (std::size_t k = 0; k < 3; ++k) {
    const auto analytic = vars[k].grad().to_vector();
    double num = 0, den = 1.0;
    for (std::size_t j = 0; j < data[k].size(); ++j) {
      const double x0 = data[k][j];
      data[k][j] = x0 + eps;
      const double lp = loss();
      data[k][j] = x0 - eps;
      const double lm = loss();
      data[k][j] = x0;
      const double fd = (lp - lm) / (2 * eps);
      num = std::max(num, std::fabs(analytic[j] * tamper - fd));
      den = std::max(den, std::fabs(fd));
    }
    res.worst = std::max(res.worst, num / den);
  }
  return res;
}

}  // namespace

TEST_CASE("batch_norm_relu3d: finite-difference gradients (f64), kink kept away") {
  for (bool training : {true, false}) {
    for (const Shape& shape : {Shape{2, 3, 2, 3, 3}, Shape{1, 3, 1, 2, 1}, Shape{2, 2, 3, 1, 2}}) {
      CAPTURE(training);
      CAPTURE(shape.str());
      const FdResult r = bn_relu_fd(training, shape, 1000);
      std::printf("  batch_norm_relu3d %-5s %-16s | FD grad err %.2e (tol 1e-7)\n",
                  training ? "train" : "eval", shape.str().c_str(), r.worst);
      CHECK(r.worst <= 1e-7);
    }
  }
  // The check can fail: a gradient 0.1% off is rejected.
  CHECK(bn_relu_fd(true, Shape{2, 3, 2, 3, 3}, 1000, 1.001).worst > 1e-7);
}

TEST_CASE("batch_norm_relu3d: at exactly the kink the gradient is 0 (as relu)") {
  // Eval mode with the running mean equal to x and beta 0: every pre-activation is exactly 0.
  Var x(Tensor::from_vector(Shape{1, 1, 1, 2, 2}, {0.5, -0.25, 0.5, -0.25}, DType::f64), true);
  Var gamma(Tensor::full(Shape{2}, 2.0, DType::f64), true);
  Var beta(Tensor::zeros(Shape{2}, DType::f64), true);
  BatchNormState st = BatchNormState::create(2, DType::f64);
  st.running_mean = Tensor::from_vector(Shape{2}, {0.5, -0.25}, DType::f64);
  Var y = ctv::batch_norm_relu3d(x, gamma, beta, st, false);
  CHECK(y.value().to_vector() == std::vector<double>{0, 0, 0, 0});
  ctv::backward(y, Tensor::full(y.shape(), 1.0, DType::f64));
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 0, 0});
  CHECK(beta.grad().to_vector() == std::vector<double>{0, 0});
}
