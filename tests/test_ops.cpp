// The op-case table (ggml's test-backend-ops, adapted): one row per op case declaring the op,
// its input shapes and how inputs are drawn, the float32-vs-float64 tolerance and the
// finite-difference step. Every row runs in two modes:
//   compare: forward and backward in f32 and in f64 from the same (f32-representable) inputs,
//            normalised max error <= tol_f32; every storage carries a trailing sentinel
//            (engine storage guards) and no guard may be damaged;
//   grad:    f64 central finite differences of L = <op(inputs), r> (r random) against the
//            engine's autograd, for every input and parameter that takes a gradient.
// Kinks are handled on purpose: ReLU and max-pool inputs are drawn from well-separated values
// (no element within 1e-2 of a kink or a tie, far beyond the FD step), and the tie/kink
// behaviour itself is pinned by explicit cases at the end of this file.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/rng.h"

using namespace ctv;

namespace {

// How an input is drawn.
enum class Gen {
  uniform,   // U[-1, 1)
  distinct,  // a shuffled grid of distinct values 0.02 apart, none within 0.01 of 0
  prob,      // U[0.05, 0.95): probabilities away from the log clamp
  binary,    // {0, 1}: masks
  positive,  // U[0.5, 1.5): variances
};

struct InputSpec {
  const char* name;
  Shape shape;
  Gen gen = Gen::uniform;
  bool grad = true;  // takes a gradient (checked by FD)
};

struct OpCase {
  std::string op;    // the function in engine/ops.h
  std::string desc;  // shapes and parameters, for messages
  std::vector<InputSpec> inputs;
  std::function<Var(const std::vector<Var>&)> build;
  double tol_f32 = 1e-6;   // normalised max error, f32 vs f64 (forward and gradients)
  double grad_tol = 1e-7;  // normalised max error, FD vs autograd (f64)
  double fd_eps = 1e-6;    // central-difference step
};

std::vector<double> draw(const InputSpec& s, Rng& rng) {
  const auto n = static_cast<std::size_t>(s.shape.numel());
  std::vector<double> v(n);
  switch (s.gen) {
    case Gen::uniform:
      for (auto& x : v) x = rng.uniform(-1.0, 1.0);
      break;
    case Gen::prob:
      for (auto& x : v) x = rng.uniform(0.05, 0.95);
      break;
    case Gen::binary:
      for (auto& x : v) x = rng.uniform() < 0.4 ? 1.0 : 0.0;
      break;
    case Gen::positive:
      for (auto& x : v) x = rng.uniform(0.5, 1.5);
      break;
    case Gen::distinct: {
      for (std::size_t i = 0; i < n; ++i) {
        const double k = static_cast<double>(i) - static_cast<double>(n) / 2.0;
        v[i] = 0.02 * k + (k >= 0 ? 0.01 : -0.01) + 0.003;
      }
      for (std::size_t i = n; i > 1; --i) std::swap(v[i - 1], v[rng.next_u64() % i]);
      break;
    }
  }
  // Round to f32 so the f32 and f64 runs start from identical values.
  for (auto& x : v) x = static_cast<double>(static_cast<float>(x));
  return v;
}

std::vector<Var> make_vars(const OpCase& c, const std::vector<std::vector<double>>& data, DType dt,
                           bool with_grad) {
  std::vector<Var> vars;
  for (std::size_t i = 0; i < c.inputs.size(); ++i)
    vars.emplace_back(Tensor::from_vector(c.inputs[i].shape, data[i], dt),
                      with_grad && c.inputs[i].grad, c.inputs[i].name);
  return vars;
}

// max |a - b| / max(max |b|, floor)
double normalised_error(const std::vector<double>& a, const std::vector<double>& b,
                        double floor = 1e-3) {
  REQUIRE(a.size() == b.size());
  double num = 0.0, den = floor;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return num / den;
}

struct Run {
  std::vector<double> y;
  std::vector<std::vector<double>> grads;  // per input (empty when no grad)
};

// Forward, then backward with seed r, in dtype dt.
Run run_case(const OpCase& c, const std::vector<std::vector<double>>& data,
             const std::vector<double>* seed, DType dt) {
  std::vector<Var> vars = make_vars(c, data, dt, true);
  Var y = c.build(vars);
  Run out;
  out.y = y.value().to_vector();
  std::vector<double> r = seed ? *seed : std::vector<double>(out.y.size(), 1.0);
  REQUIRE(r.size() == out.y.size());
  backward(y, Tensor::from_vector(y.shape(), r, dt));
  for (auto& v : vars)
    out.grads.push_back(v.has_grad() ? v.grad().to_vector() : std::vector<double>{});
  return out;
}

std::vector<std::vector<double>> draw_inputs(const OpCase& c, std::uint64_t seed) {
  Rng rng(seed, 1);
  std::vector<std::vector<double>> data;
  for (const auto& s : c.inputs) data.push_back(draw(s, rng));
  return data;
}

std::vector<double> draw_seed(std::size_t n, std::uint64_t seed) {
  Rng rng(seed, 2);
  std::vector<double> r(n);
  for (auto& x : r) x = static_cast<double>(static_cast<float>(rng.uniform(-1.0, 1.0)));
  return r;
}

std::vector<OpCase> op_table();

std::vector<const OpCase*> cases_of(const std::vector<OpCase>& table, const std::string& op) {
  std::vector<const OpCase*> out;
  for (const auto& c : table)
    if (c.op == op) out.push_back(&c);
  return out;
}

// Mode "compare": f32 vs f64, sentinels.
void run_compare(const std::string& op) {
  static const std::vector<OpCase> table = op_table();
  const auto cases = cases_of(table, op);
  REQUIRE(!cases.empty());
  set_storage_guards(true);
  for (const OpCase* c : cases) {
    INFO(c->op << " " << c->desc);
    const std::int64_t violations_before = storage_guard_violations();
    const auto data = draw_inputs(*c, 11);
    std::vector<double> seed;
    {
      InferenceMode im;
      std::vector<Var> v = make_vars(*c, data, DType::f64, false);
      seed = draw_seed(static_cast<std::size_t>(c->build(v).value().numel()), 12);
    }
    const Run r64 = run_case(*c, data, &seed, DType::f64);
    const Run r32 = run_case(*c, data, &seed, DType::f32);
    const double fwd_err = normalised_error(r32.y, r64.y);
    std::printf("  %-18s %-62s | f32 vs f64 %.2e (tol %.0e)\n", c->op.c_str(), c->desc.c_str(),
                fwd_err, c->tol_f32);
    CHECK_MESSAGE(fwd_err <= c->tol_f32, "forward f32 vs f64 error " << fwd_err);
    for (std::size_t i = 0; i < c->inputs.size(); ++i) {
      INFO("input " << c->inputs[i].name);
      CHECK(r32.grads[i].size() == r64.grads[i].size());
      CHECK(r64.grads[i].empty() == !c->inputs[i].grad);
      if (r64.grads[i].empty() || r32.grads[i].size() != r64.grads[i].size()) continue;
      const double e = normalised_error(r32.grads[i], r64.grads[i]);
      CHECK_MESSAGE(e <= c->tol_f32, "gradient f32 vs f64 error " << e);
    }
    // Every storage of the case is gone now: each guard was checked when it was freed.
    CHECK(storage_guard_violations() == violations_before);
  }
  set_storage_guards(false);
}

// FD gradients of L = <op(x), r> in f64; returns the worst normalised error per input.
// `tamper` scales the analytic gradient (1.0 normally; the checker's own test uses != 1).
std::vector<double> grad_errors(const OpCase& c, double tamper = 1.0) {
  auto data = draw_inputs(c, 21);
  std::vector<double> seed;
  {
    InferenceMode im;
    std::vector<Var> v = make_vars(c, data, DType::f64, false);
    seed = draw_seed(static_cast<std::size_t>(c.build(v).value().numel()), 22);
  }
  const Run analytic = run_case(c, data, &seed, DType::f64);
  auto loss = [&]() {
    InferenceMode im;
    std::vector<Var> v = make_vars(c, data, DType::f64, false);
    const std::vector<double> y = c.build(v).value().to_vector();
    double L = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) L += y[i] * seed[i];
    return L;
  };
  std::vector<double> errors;
  for (std::size_t i = 0; i < c.inputs.size(); ++i) {
    if (!c.inputs[i].grad) {
      errors.push_back(0.0);
      continue;
    }
    std::vector<double> numeric(data[i].size());
    for (std::size_t j = 0; j < data[i].size(); ++j) {
      const double x0 = data[i][j];
      data[i][j] = x0 + c.fd_eps;
      const double lp = loss();
      data[i][j] = x0 - c.fd_eps;
      const double lm = loss();
      data[i][j] = x0;
      numeric[j] = (lp - lm) / (2.0 * c.fd_eps);
    }
    std::vector<double> a = analytic.grads[i];
    for (auto& g : a) g *= tamper;
    errors.push_back(normalised_error(a, numeric, 1.0));
  }
  return errors;
}

void run_grad(const std::string& op) {
  static const std::vector<OpCase> table = op_table();
  const auto cases = cases_of(table, op);
  REQUIRE(!cases.empty());
  for (const OpCase* c : cases) {
    INFO(c->op << " " << c->desc);
    const auto errors = grad_errors(*c);
    std::printf("  %-18s %-62s | FD grad err %.2e (tol %.0e)\n", c->op.c_str(), c->desc.c_str(),
                *std::max_element(errors.begin(), errors.end()), c->grad_tol);
    for (std::size_t i = 0; i < errors.size(); ++i) {
      INFO("input " << c->inputs[i].name);
      CHECK_MESSAGE(errors[i] <= c->grad_tol, "FD vs autograd error " << errors[i]);
    }
  }
}

// ---- the table ----------------------------------------------------------------------------

Shape sh(std::initializer_list<std::int64_t> d) { return Shape(d); }

// conv3d and conv_transpose3d cases differ in the op and in the weight axis holding the output
// channels, which sizes the bias (KTRSC: 0, CTRSK: 4).
using ConvOp = Var (*)(const Var&, const Var&, const Var&, const Conv3dParams&);
OpCase conv_like_case(std::string op, ConvOp fn, int k_axis, std::string desc, Shape x, Shape w,
                      bool bias, Conv3dParams p) {
  OpCase c{std::move(op), std::move(desc), {{"x", x}, {"w", w}}, nullptr};
  if (bias) c.inputs.push_back({"b", sh({w[k_axis]})});
  c.build = [fn, p, bias](const std::vector<Var>& v) {
    return fn(v[0], v[1], bias ? v[2] : Var(), p);
  };
  return c;
}

OpCase conv_case(std::string desc, Shape x, Shape w, bool bias, Conv3dParams p) {
  return conv_like_case("conv3d", conv3d, 0, std::move(desc), x, w, bias, p);
}

OpCase convt_case(std::string desc, Shape x, Shape w, bool bias, Conv3dParams p) {
  return conv_like_case("conv_transpose3d", conv_transpose3d, 4, std::move(desc), x, w, bias, p);
}

OpCase pool_case(std::string desc, Shape x, Pool3dParams p) {
  return {"max_pool3d", std::move(desc), {{"x", x, Gen::distinct}}, [p](const std::vector<Var>& v) {
            return max_pool3d(v[0], p);
          }};
}

OpCase bn_case(std::string desc, Shape x, bool training, bool relu = false) {
  const std::int64_t C = x[x.rank - 1];
  OpCase c{relu ? "batch_norm_relu3d" : "batch_norm3d",
           std::move(desc),
           {{"x", x},
            {"gamma", sh({C})},
            {"beta", sh({C})},
            {"rmean", sh({C}), Gen::uniform, false},
            {"rvar", sh({C}), Gen::positive, false}},
           nullptr};
  c.build = [training, relu](const std::vector<Var>& v) {
    BatchNormState st = BatchNormState::create(v[0].shape().last(), v[0].dtype());
    st.running_mean = v[3].value().clone();
    st.running_var = v[4].value().clone();
    return relu ? batch_norm_relu3d(v[0], v[1], v[2], st, training)
                : batch_norm3d(v[0], v[1], v[2], st, training);
  };
  return c;
}

OpCase loss_case(std::string op, std::string desc, Shape s, Gen target, bool target_grad,
                 std::function<Var(const Var&, const Var&)> f) {
  return {std::move(op),
          std::move(desc),
          {{"p", s, Gen::prob}, {"g", s, target, target_grad}},
          [f](const std::vector<Var>& v) { return f(v[0], v[1]); }};
}

std::vector<OpCase> op_table() {
  std::vector<OpCase> t;
  // conv3d: C=1, odd sizes, N=2, strides and pads per axis, 1x1x1, no bias.
  t.push_back(conv_case("N=1 DHW=5x4x3 C=1 K=1 TRS=3x3x3 pad 1 bias", sh({1, 5, 4, 3, 1}),
                        sh({1, 3, 3, 3, 1}), true, Conv3dParams::uniform(1, 1)));
  t.push_back(conv_case("N=2 DHW=3x5x4 C=3 K=2 TRS=3x3x3 pad 1 bias", sh({2, 3, 5, 4, 3}),
                        sh({2, 3, 3, 3, 3}), true, Conv3dParams::uniform(1, 1)));
  t.push_back(conv_case("N=1 DHW=6x5x7 C=2 K=3 TRS=2x3x1 stride 2,1,3 pad 0,1,0 no bias",
                        sh({1, 6, 5, 7, 2}), sh({3, 2, 3, 1, 2}), false, {2, 1, 3, 0, 1, 0}));
  t.push_back(conv_case("N=2 DHW=3x2x3 C=4 K=1 TRS=1x1x1 bias (output layer)", sh({2, 3, 2, 3, 4}),
                        sh({1, 1, 1, 1, 4}), true, {}));
  // conv_transpose3d: the U-Net's 2x2x2 stride 2, and overlapping windows with crop.
  t.push_back(convt_case("N=1 DHW=2x3x2 C=3 K=2 TRS=2x2x2 stride 2 bias", sh({1, 2, 3, 2, 3}),
                         sh({3, 2, 2, 2, 2}), true, Conv3dParams::uniform(2, 0)));
  t.push_back(convt_case("N=2 DHW=3x2x3 C=1 K=3 TRS=3x2x3 stride 2,1,2 pad 1,0,1 bias",
                         sh({2, 3, 2, 3, 1}), sh({1, 3, 2, 3, 3}), true, {2, 1, 2, 1, 0, 1}));
  t.push_back(convt_case("N=1 DHW=3x3x1 C=2 K=1 TRS=1x3x2 stride 1 no bias", sh({1, 3, 3, 1, 2}),
                         sh({2, 1, 3, 2, 1}), false, {}));
  // max_pool3d: distinct inputs (no ties near the FD step).
  t.push_back(
      pool_case("N=2 DHW=4x4x6 C=3 2x2x2 stride 2", sh({2, 4, 4, 6, 3}), Pool3dParams::cube(2, 2)));
  t.push_back(pool_case("N=1 DHW=5x5x3 C=1 2x2x2 stride 2 (floor)", sh({1, 5, 5, 3, 1}),
                        Pool3dParams::cube(2, 2)));
  t.push_back(pool_case("N=1 DHW=5x4x5 C=2 3x3x3 stride 1 pad 1 (overlap)", sh({1, 5, 4, 5, 2}),
                        Pool3dParams::cube(3, 1, 1)));
  // batch_norm3d.
  t.push_back(bn_case("train N=2 DHW=3x2x3 C=3", sh({2, 3, 2, 3, 3}), true));
  t.push_back(bn_case("train N=1 DHW=3x1x2 C=1", sh({1, 3, 1, 2, 1}), true));
  t.push_back(bn_case("eval N=2 DHW=2x3x1 C=2", sh({2, 2, 3, 1, 2}), false));
  // batch_norm_relu3d: the fused op (the U-Net's), as a unit.
  t.push_back(bn_case("train N=2 DHW=3x2x3 C=3", sh({2, 3, 2, 3, 3}), true, true));
  t.push_back(bn_case("eval N=1 DHW=2x3x2 C=2", sh({1, 2, 3, 2, 2}), false, true));
  // element-wise.
  t.push_back({"relu",
               "[2,3,4,5,3] away from 0",
               {{"x", sh({2, 3, 4, 5, 3}), Gen::distinct}},
               [](const std::vector<Var>& v) { return relu(v[0]); }});
  t.push_back({"relu",
               "[1,1,1,1,1]",
               {{"x", sh({1, 1, 1, 1, 1}), Gen::distinct}},
               [](const std::vector<Var>& v) { return relu(v[0]); }});
  t.push_back(
      {"sigmoid", "[2,3,1,5,2]", {{"x", sh({2, 3, 1, 5, 2})}}, [](const std::vector<Var>& v) {
         return sigmoid(v[0]);
       }});
  // concat / slice (views in and out).
  t.push_back({"concat_channels",
               "[2,3,2,3,1] ++ [2,3,2,3,4]",
               {{"a", sh({2, 3, 2, 3, 1})}, {"b", sh({2, 3, 2, 3, 4})}},
               [](const std::vector<Var>& v) {
                 return concat_channels({v[0], v[1]});
               }});
  t.push_back({"concat_channels",
               "[1,2,1,3,1] ++ [1,2,1,3,2] ++ slice [1,2) of [1,2,1,3,3]",
               {{"a", sh({1, 2, 1, 3, 1})}, {"b", sh({1, 2, 1, 3, 2})}, {"c", sh({1, 2, 1, 3, 3})}},
               [](const std::vector<Var>& v) {
                 return concat_channels({v[0], v[1], slice_channels(v[2], 1, 2)});
               }});
  t.push_back({"slice_channels",
               "[1,2,3,2,5] channels [1,4)",
               {{"x", sh({1, 2, 3, 2, 5})}},
               [](const std::vector<Var>& v) { return slice_channels(v[0], 1, 4); }});
  // losses: binary targets (no grad) and soft targets (grad).
  const Shape ls = sh({2, 3, 4, 3, 1});
  auto amgm = [](double eps) {
    return [eps](const Var& p, const Var& g) { return amgm_loss(p, g, eps); };
  };
  t.push_back(loss_case("amgm_loss", "[2,3,4,3,1] binary g", ls, Gen::binary, false, amgm(1e-5)));
  t.push_back(loss_case("amgm_loss", "[1,3,2,5,2] soft g eps 1e-3", sh({1, 3, 2, 5, 2}), Gen::prob,
                        true, amgm(1e-3)));
  t.push_back(loss_case("bce_loss", "[2,3,4,3,1] binary g", ls, Gen::binary, false,
                        [](const Var& p, const Var& g) { return bce_loss(p, g); }));
  t.push_back(loss_case("bce_loss", "[1,1,3,1,1] soft g", sh({1, 1, 3, 1, 1}), Gen::prob, true,
                        [](const Var& p, const Var& g) { return bce_loss(p, g); }));
  t.push_back(loss_case("weighted_bce_loss", "[2,3,4,3,1] binary g w_bg 0.3", ls, Gen::binary,
                        false,
                        [](const Var& p, const Var& g) { return weighted_bce_loss(p, g, 0.3); }));
  t.push_back(loss_case("weighted_bce_loss", "[1,2,3,1,2] soft g w_bg 2.5", sh({1, 2, 3, 1, 2}),
                        Gen::prob, true,
                        [](const Var& p, const Var& g) { return weighted_bce_loss(p, g, 2.5); }));
  // A U-Net slice end to end: fan-out (x feeds two branches), every op, one loss.
  {
    OpCase c{"chain",
             "conv-bn-relu-pool-convT-concat-conv1x1-sigmoid-amgm, N=2 DHW=4x4x2",
             {{"x", sh({2, 4, 4, 2, 2})},
              {"w1", sh({3, 3, 3, 3, 2})},
              {"b1", sh({3})},
              {"gamma", sh({3})},
              {"beta", sh({3})},
              {"wt", sh({3, 2, 2, 1, 2})},
              {"w2", sh({1, 1, 1, 1, 4})},
              {"g", sh({2, 4, 4, 2, 1}), Gen::binary, false}},
             nullptr};
    c.build = [](const std::vector<Var>& v) {
      BatchNormState st = BatchNormState::create(3, v[0].dtype());
      Var h = conv3d(v[0], v[1], v[2], Conv3dParams::uniform(1, 1));
      h = relu(batch_norm3d(h, v[3], v[4], st, true));
      h = max_pool3d(h, Pool3dParams{2, 2, 1, 2, 2, 1});
      h = conv_transpose3d(h, v[5], Var(), {2, 2, 1, 0, 0, 0});
      h = concat_channels({h, v[0]});
      return amgm_loss(sigmoid(conv3d(h, v[6], Var())), v[7]);
    };
    c.tol_f32 = 1e-5;
    c.grad_tol = 1e-6;
    t.push_back(c);
  }
  return t;
}

}  // namespace

// One pair of CTest tests per op: every row of that op in both modes.
#define CTV_OP_TESTS(OP)                                                     \
  TEST_CASE("op table: " OP " / f32 vs f64, sentinels") { run_compare(OP); } \
  TEST_CASE("op table: " OP " / finite-difference gradients (f64)") { run_grad(OP); }

CTV_OP_TESTS("conv3d")
CTV_OP_TESTS("conv_transpose3d")
CTV_OP_TESTS("max_pool3d")
CTV_OP_TESTS("batch_norm3d")
CTV_OP_TESTS("batch_norm_relu3d")
CTV_OP_TESTS("relu")
CTV_OP_TESTS("sigmoid")
CTV_OP_TESTS("concat_channels")
CTV_OP_TESTS("slice_channels")
CTV_OP_TESTS("amgm_loss")
CTV_OP_TESTS("bce_loss")
CTV_OP_TESTS("weighted_bce_loss")
CTV_OP_TESTS("chain")

TEST_CASE("op table: every row belongs to an op that the tests above run") {
  const std::set<std::string> run = {"conv3d",       "conv_transpose3d",  "max_pool3d",
                                     "batch_norm3d", "batch_norm_relu3d", "relu",
                                     "sigmoid",      "concat_channels",   "slice_channels",
                                     "amgm_loss",    "bce_loss",          "weighted_bce_loss",
                                     "chain"};
  std::set<std::string> in_table;
  for (const auto& c : op_table()) in_table.insert(c.op);
  CHECK(in_table == run);
}

TEST_CASE("op table: the gradient check rejects a gradient that is 0.1% off") {
  const auto table = op_table();
  for (const char* op : {"conv3d", "batch_norm3d", "amgm_loss"}) {
    const OpCase& c = *cases_of(table, op).front();
    INFO(op);
    const auto errors = grad_errors(c, 1.001);
    CHECK(*std::max_element(errors.begin(), errors.end()) > c.grad_tol);
  }
}

// ---- explicit cases: kinks, ties, hand-computed values, determinism -------------------------

namespace {
Var leaf(Shape s, std::vector<double> v, bool grad = true, DType dt = DType::f64) {
  return Var(Tensor::from_vector(s, v, dt), grad);
}
}  // namespace

TEST_CASE("relu: the gradient at exactly 0 is 0, elsewhere 0 or 1") {
  Var x = leaf(sh({1, 1, 1, 1, 5}), {-1.0, 0.0, 2.0, -0.0, 1e-300});
  Var y = relu(x);
  CHECK(y.value().to_vector() == std::vector<double>{0.0, 0.0, 2.0, 0.0, 1e-300});
  backward(y, Tensor::from_vector(y.shape(), {10, 20, 30, 40, 50}, DType::f64));
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 30, 0, 50});
}

TEST_CASE("max_pool3d ties: the first maximum in scan order (t, r, s) wins and takes dy") {
  SUBCASE("a whole 2x2x2 window equal: element (0,0,0)") {
    Var x = leaf(sh({1, 2, 2, 2, 1}), std::vector<double>(8, 3.5));
    Var y = max_pool3d(x, Pool3dParams::cube(2, 2));
    CHECK(y.value().item() == 3.5);
    backward(y, Tensor::full(y.shape(), 7.0, DType::f64));
    CHECK(x.grad().to_vector() == std::vector<double>{7, 0, 0, 0, 0, 0, 0, 0});
  }
  SUBCASE("two maxima at flat positions 3 and 5 of the window: position 3") {
    Var x = leaf(sh({1, 2, 2, 2, 1}), {0, 1, 2, 9, 4, 9, 6, 7});
    Var y = max_pool3d(x, Pool3dParams::cube(2, 2));
    backward(y, Tensor::full(y.shape(), 1.0, DType::f64));
    CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 0, 1, 0, 0, 0, 0});
  }
  SUBCASE("per channel: channel 1 ties, channel 0 does not") {
    // [1,1,1,2,2]: window of 2 along W; channel 0 values 1, 5; channel 1 values 4, 4.
    Var x = leaf(sh({1, 1, 1, 2, 2}), {1, 4, 5, 4});
    Var y = max_pool3d(x, Pool3dParams{1, 1, 2, 1, 1, 2});
    CHECK(y.value().to_vector() == std::vector<double>{5, 4});
    backward(y, Tensor::from_vector(y.shape(), {1, 2}, DType::f64));
    CHECK(x.grad().to_vector() == std::vector<double>{0, 2, 1, 0});
  }
  SUBCASE("overlapping windows sharing a maximum add their dy into it") {
    Var x = leaf(sh({1, 1, 1, 3, 1}), {1, 8, 2});
    Var y = max_pool3d(x, Pool3dParams{1, 1, 2, 1, 1, 1});  // windows {0,1}, {1,2}
    backward(y, Tensor::from_vector(y.shape(), {0.25, 0.5}, DType::f64));
    CHECK(x.grad().to_vector() == std::vector<double>{0, 0.75, 0});
  }
}

TEST_CASE("batch_norm3d: running estimates against hand-computed values") {
  // x [M=4][C=2]: channel 0 = 1,2,3,4 (mean 2.5, biased var 1.25, unbiased 5/3);
  //               channel 1 = 0,0,0,8 (mean 2,   biased var 12,   unbiased 16).
  Var x = leaf(sh({1, 2, 2, 1, 2}), {1, 0, 2, 0, 3, 0, 4, 8});
  Var gamma = leaf(sh({2}), {1, 2}), beta = leaf(sh({2}), {0, -1});
  BatchNormState st = BatchNormState::create(2, DType::f64);
  Var y = batch_norm3d(x, gamma, beta, st, true);
  CHECK(st.num_batches_tracked == 1);
  CHECK(st.running_mean.at(0) == doctest::Approx(0.25).epsilon(1e-15));
  CHECK(st.running_mean.at(1) == doctest::Approx(0.2).epsilon(1e-15));
  CHECK(st.running_var.at(0) == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0).epsilon(1e-15));
  CHECK(st.running_var.at(1) == doctest::Approx(0.9 + 1.6).epsilon(1e-15));
  // Normalised with the BIASED variance and eps 1e-5: x=1 -> (1-2.5)/sqrt(1.25+1e-5).
  CHECK(y.value().at(0) == doctest::Approx(-1.5 / std::sqrt(1.25 + 1e-5)).epsilon(1e-14));
  CHECK(y.value().at(7) ==
        doctest::Approx(2.0 * 6.0 / std::sqrt(12.0 + 1e-5) - 1.0).epsilon(1e-14));
  // Second step, momentum 0.3 and eps 1e-3 (configurable): ema of the previous estimates.
  st.momentum = 0.3;
  st.eps = 1e-3;
  y = batch_norm3d(x, gamma, beta, st, true);
  CHECK(st.num_batches_tracked == 2);
  CHECK(st.running_mean.at(0) == doctest::Approx(0.7 * 0.25 + 0.3 * 2.5).epsilon(1e-15));
  CHECK(st.running_var.at(1) == doctest::Approx(0.7 * 2.5 + 0.3 * 16.0).epsilon(1e-15));
  CHECK(y.value().at(0) == doctest::Approx(-1.5 / std::sqrt(1.25 + 1e-3)).epsilon(1e-14));
  // Inference uses the running estimates and leaves them alone.
  const double rm0 = st.running_mean.at(0), rv0 = st.running_var.at(0);
  Var ye = batch_norm3d(x, gamma, beta, st, false);
  CHECK(ye.value().at(0) == doctest::Approx((1.0 - rm0) / std::sqrt(rv0 + 1e-3)).epsilon(1e-14));
  CHECK(st.running_mean.at(0) == rm0);
  CHECK(st.num_batches_tracked == 2);
  // One value per channel cannot give an unbiased variance: refused, as PyTorch does.
  Var one = leaf(sh({1, 1, 1, 1, 2}), {1, 2});
  CHECK_THROWS_AS(batch_norm3d(one, gamma, beta, st, true), std::invalid_argument);
}

TEST_CASE("losses: values against hand computation") {
  Var p = leaf(sh({1, 1, 1, 2, 2}), {0.5, 0.25, 1.0, 0.0});
  Var g = leaf(sh({1, 1, 1, 2, 2}), {1.0, 0.0, 1.0, 1.0}, false);
  // AM-GM: sum pg = 1.5, sum p^2+g^2 = 0.25+1+0.0625+1+1+0+1 = 4.3125.
  CHECK(amgm_loss(p, g, 1e-5).value().item() ==
        doctest::Approx(1.0 - (3.0 + 1e-5) / (4.3125 + 1e-5)).epsilon(1e-15));
  // Empty masks: L = 1 - eps/eps = 0 (defined thanks to eps).
  Var z = leaf(sh({2}), {0.0, 0.0}, false);
  CHECK(amgm_loss(z, z).value().item() == 0.0);
  // BCE: -(log .5 + log .75 + log 1 + max(log 0, -100)) / 4: the clamp gives a finite 100.
  const double bce = -(std::log(0.5) + std::log(0.75) + 0.0 - 100.0) / 4.0;
  CHECK(bce_loss(p, g).value().item() == doctest::Approx(bce).epsilon(1e-15));
  CHECK(weighted_bce_loss(p, g, 1.0).value().item() == bce_loss(p, g).value().item());
  // Weighted: only the background voxel (index 1) is weighted.
  const double wbce = -(std::log(0.5) + 3.0 * std::log(0.75) + 0.0 - 100.0) / 4.0;
  CHECK(weighted_bce_loss(p, g, 3.0).value().item() == doctest::Approx(wbce).epsilon(1e-15));
  // The gradient at the clamp stays finite (PyTorch's 1e-12 guard).
  Var l = bce_loss(p, g);
  backward(l);
  for (double v : p.grad().to_vector()) CHECK(std::isfinite(v));
}
