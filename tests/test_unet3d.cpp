// The U-Net (unet3d/): layer table and parameter counts against hand-computed formulas, the
// default network's exact count, shapes through the network for several configs, the input
// size check, seeded initialisation and determinism, normalisation off, inference mode
// releasing activations, and float64 finite-difference gradients through the whole network.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/init.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "unet3d/unet3d.h"

using namespace ctv;
using namespace ctv::unet3d;

namespace {

UNetConfig tiny_config(int levels, std::int64_t base, int in_channels = 2, Norm norm = Norm::batch,
                       DType dtype = DType::f32, std::uint64_t seed = 7) {
  UNetConfig c;
  c.levels = levels;
  c.base_filters = base;
  c.in_channels = in_channels;
  c.norm = norm;
  c.dtype = dtype;
  c.seed = seed;
  return c;
}

// Standard-normal values from a fixed stream.
Tensor random_tensor(const Shape& s, DType dtype, std::uint64_t stream) {
  Rng rng(12345, stream);
  std::vector<double> v(static_cast<std::size_t>(s.numel()));
  for (double& x : v) x = rng.normal();
  return Tensor::from_vector(s, v, dtype);
}

// Values in [0, 1): a soft target for the AM-GM loss.
Tensor random_target(const Shape& s, DType dtype, std::uint64_t stream) {
  Rng rng(999, stream);
  std::vector<double> v(static_cast<std::size_t>(s.numel()));
  for (double& x : v) x = rng.uniform();
  return Tensor::from_vector(s, v, dtype);
}

// The parameter counts written out from the architecture, independently of the layer table:
// per level two 3x3x3 convs, per decoder level a 2x2x2 transposed conv and two 3x3x3 convs
// (the first on 2 f_l channels), a 1x1x1 head, and per conv3d of the levels one batch norm.
ParameterCount formula_count(int in_channels, const std::vector<std::int64_t>& f, bool bn) {
  ParameterCount n;
  const auto L = f.size();
  std::int64_t c = in_channels;
  std::int64_t norm_channels = 0;
  for (std::size_t l = 0; l < L; ++l) {
    n.conv_weights += 27 * f[l] * c + 27 * f[l] * f[l];
    n.conv_biases += 2 * f[l];
    norm_channels += 2 * f[l];
    c = f[l];
  }
  for (std::size_t l = 0; l + 1 < L; ++l) {
    n.conv_weights += 8 * f[l + 1] * f[l] + 27 * f[l] * 2 * f[l] + 27 * f[l] * f[l];
    n.conv_biases += 3 * f[l];
    norm_channels += 2 * f[l];
  }
  n.conv_weights += f[0];
  n.conv_biases += 1;
  if (bn) n.norm_affine = n.norm_running = 2 * norm_channels;
  return n;
}

void check_counts_equal(const ParameterCount& a, const ParameterCount& b) {
  CHECK(a.conv_weights == b.conv_weights);
  CHECK(a.conv_biases == b.conv_biases);
  CHECK(a.norm_affine == b.norm_affine);
  CHECK(a.norm_running == b.norm_running);
}

std::int64_t numel_of_parameters(const UNet3D& net) {
  std::int64_t n = 0;
  for (const Var& p : net.parameters()) n += p.value().numel();
  return n;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

// ---- configuration and parameter counts ------------------------------------------------------

TEST_CASE("unet3d: parameter counts of a tiny config, by hand") {
  // levels 2, filters 2-4, 1 input channel:
  //   enc.0.conv1 2*27*1 = 54 + 2, enc.0.conv2 2*27*2 = 108 + 2, enc.1.conv1 4*27*2 = 216 + 4,
  //   enc.1.conv2 4*27*4 = 432 + 4, up.0 4*8*2 = 64 + 2, dec.0.conv1 2*27*4 = 216 + 2,
  //   dec.0.conv2 108 + 2, head 2 + 1; batch norm on 2+2+4+4+2+2 = 16 channels.
  UNetConfig c = tiny_config(2, 2, 1);
  ParameterCount n = count_parameters(c);
  CHECK(n.conv_weights == 1200);
  CHECK(n.conv_biases == 19);
  CHECK(n.norm_affine == 32);
  CHECK(n.norm_running == 32);
  CHECK(n.trainable() == 1251);
  CHECK(n.total() == 1283);
  UNet3D net(c);
  CHECK(numel_of_parameters(net) == 1251);
  CHECK(net.named_parameters().size() == 8 * 2 + 6 * 2);  // 8 convs, 6 batch norms
  c.norm = Norm::none;
  n = count_parameters(c);
  CHECK(n.trainable() == 1219);
  CHECK(n.norm_running == 0);
}

TEST_CASE("unet3d: parameter counts match the formula for many configs") {
  for (int levels = 1; levels <= 6; ++levels)
    for (std::int64_t base : {1, 3, 8})
      for (int in : {1, 2, 5})
        for (Norm norm : {Norm::batch, Norm::none}) {
          UNetConfig c = tiny_config(levels, base, in, norm);
          CAPTURE(levels);
          CAPTURE(base);
          CAPTURE(in);
          check_counts_equal(count_parameters(c),
                             formula_count(in, c.level_filters(), norm == Norm::batch));
        }
  UNetConfig c = tiny_config(3, 1);
  c.filters = {3, 5, 7};  // an explicit list, not powers of two
  CHECK(c.level_filters() == std::vector<std::int64_t>{3, 5, 7});
  check_counts_equal(count_parameters(c), formula_count(2, {3, 5, 7}, true));
  UNet3D net(c);
  CHECK(numel_of_parameters(net) == count_parameters(c).trainable());
  CHECK(net.parameter("up.1.weight").shape() == Shape{7, 2, 2, 2, 5});  // CTRSK
  CHECK(net.parameter("dec.1.conv1.weight").shape() == Shape{5, 3, 3, 3, 10});
}

TEST_CASE("unet3d: the default network (5 levels, 16-32-64-128-256) and its exact count") {
  const UNetConfig c;
  CHECK(c.levels == 5);
  CHECK(c.in_channels == 2);
  CHECK(c.level_filters() == std::vector<std::int64_t>{16, 32, 64, 128, 256});
  CHECK(c.norm == Norm::batch);
  CHECK(c.bn_momentum == 0.1);
  CHECK(c.bn_eps == 1e-5);
  CHECK(c.size_divisor() == 16);
  const ParameterCount n = count_parameters(c);
  CHECK(n.conv_weights == 5643632);
  CHECK(n.conv_biases == 1713);
  CHECK(n.norm_affine == 2944);
  CHECK(n.norm_running == 2944);
  CHECK(n.conv_weights + n.conv_biases == 5645345);  // SPEC's "5.64 million"
  CHECK(n.trainable() == 5648289);
  CHECK(n.total() == 5651233);
  check_counts_equal(n, formula_count(2, {16, 32, 64, 128, 256}, true));
  const std::string d = describe(c);
  std::cout << d;
  CHECK(contains(d, "filters 16-32-64-128-256"));
  CHECK(contains(d, "trainable parameters 5,648,289"));
  CHECK(contains(d, "conv weights 5,643,632 + conv biases 1,713"));
  CHECK(contains(d, "running estimates 2,944"));
  UNet3D net(c);  // the tensors the model allocates hold exactly that count
  CHECK(numel_of_parameters(net) == n.trainable());
  std::int64_t buffers = 0;
  for (const std::string& b : net.batch_norm_names()) {
    buffers += net.batch_norm_state(b).running_mean.numel();
    buffers += net.batch_norm_state(b).running_var.numel();
  }
  CHECK(buffers == n.norm_running);
  CHECK(net.batch_norm_names().size() == 18);
}

TEST_CASE("unet3d: parameter names follow the PyTorch reference, in its initialisation order") {
  UNet3D net(tiny_config(3, 4));
  std::vector<std::string> names;
  for (const NamedParameter& p : net.named_parameters()) {
    CHECK(p.var.name() == p.name);
    CHECK(p.var.requires_grad());
    CHECK(p.var.is_leaf());
    names.push_back(p.name);
  }
  // Weights in the reference's xavier_uniform_ order (tests/data/README.md).
  std::vector<std::string> weights;
  for (const std::string& n : names)
    if (contains(n, ".weight") && !contains(n, ".bn")) weights.push_back(n);
  CHECK(weights == std::vector<std::string>{
                       "enc.0.conv1.weight", "enc.0.conv2.weight", "enc.1.conv1.weight",
                       "enc.1.conv2.weight", "enc.2.conv1.weight", "enc.2.conv2.weight",
                       "up.1.weight", "dec.1.conv1.weight", "dec.1.conv2.weight", "up.0.weight",
                       "dec.0.conv1.weight", "dec.0.conv2.weight", "head.weight"});
  CHECK(names.size() == 46);  // /grad of golden_unet.h5 holds 46 tensors
  CHECK(net.batch_norm_names() ==
        std::vector<std::string>{"enc.0.bn1", "enc.0.bn2", "enc.1.bn1", "enc.1.bn2", "enc.2.bn1",
                                 "enc.2.bn2", "dec.1.bn1", "dec.1.bn2", "dec.0.bn1", "dec.0.bn2"});
  CHECK(net.parameter("head.weight").shape() == Shape{1, 1, 1, 1, 4});
  CHECK(net.parameter("enc.2.bn2.bias").shape() == Shape{16});
  CHECK_THROWS_AS(net.parameter("enc.3.conv1.weight"), std::out_of_range);
  CHECK_THROWS_AS(net.batch_norm_state("head"), std::out_of_range);
}

TEST_CASE("unet3d: config validation names the field") {
  UNetConfig c;
  c.levels = 0;
  CHECK(contains(error_of([&] { c.validate(); }), "levels = 0"));
  c = UNetConfig{};
  c.filters = {4, 8};
  CHECK(contains(error_of([&] { UNet3D net(c); }), "filters lists 2 levels but levels = 5"));
  c = UNetConfig{};
  c.in_channels = 0;
  CHECK(contains(error_of([&] { c.validate(); }), "in_channels = 0"));
  c = UNetConfig{};
  c.bn_eps = 0;
  CHECK(contains(error_of([&] { c.validate(); }), "bn_eps"));
  c.norm = Norm::none;  // the batch-norm settings do not matter without batch norm
  CHECK(error_of([&] { c.validate(); }).empty());
  c = UNetConfig{};
  c.dtype = DType::i64;
  CHECK(contains(error_of([&] { c.validate(); }), "dtype = "));
}

// ---- initialisation and determinism -------------------------------------------------------

TEST_CASE("unet3d: initialisation is Glorot uniform, zero biases, identity batch norm") {
  UNetConfig c = tiny_config(3, 4, 2, Norm::batch, DType::f64);
  c.bn_momentum = 0.25;
  c.bn_eps = 1e-3;
  UNet3D net(c);
  for (const NamedParameter& p : net.named_parameters()) {
    CAPTURE(p.name);
    const std::vector<double> v = p.var.value().to_vector();
    const bool bn = contains(p.name, ".bn");
    const bool bias = contains(p.name, ".bias");
    if (bn || bias) {
      const double expect = bn && !bias ? 1.0 : 0.0;
      CHECK(std::all_of(v.begin(), v.end(), [&](double x) { return x == expect; }));
      continue;
    }
    const Shape& s = p.var.shape();
    const double limit =
        glorot_limit(contains(p.name, "up.") ? conv_transpose3d_fans(s) : conv3d_fans(s));
    double lo = 0, hi = 0, mean = 0;
    for (double x : v) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
      mean += x / static_cast<double>(v.size());
    }
    CHECK(lo >= -limit);
    CHECK(hi < limit);
    if (v.size() >= 200) {  // large enough to see the spread and centre of U[-limit, limit)
      CHECK(hi - lo > 1.8 * limit);
      CHECK(std::abs(mean) < 0.15 * limit);
    }
  }
  for (const std::string& b : net.batch_norm_names()) {
    const BatchNormState& s = net.batch_norm_state(b);
    CHECK(s.momentum == 0.25);
    CHECK(s.eps == 1e-3);
    CHECK(s.running_mean.to_vector() == std::vector<double>(s.running_mean.numel(), 0.0));
    CHECK(s.running_var.to_vector() == std::vector<double>(s.running_var.numel(), 1.0));
  }
}

TEST_CASE("unet3d: same seed gives bit-identical weights and outputs, another seed does not") {
  const Shape xs{2, 4, 8, 4, 2};
  const Tensor x = random_tensor(xs, DType::f32, 1);
  auto run = [&](std::uint64_t seed, std::vector<double>& weights) {
    UNet3D net(tiny_config(3, 3, 2, Norm::batch, DType::f32, seed));
    weights.clear();
    for (const Var& p : net.parameters()) {
      std::vector<double> v = p.value().to_vector();
      weights.insert(weights.end(), v.begin(), v.end());
    }
    return net.forward(Var(x), true).value().to_vector();
  };
  std::vector<double> w1, w2, w3;
  const std::vector<double> y1 = run(42, w1);
  const std::vector<double> y2 = run(42, w2);
  const std::vector<double> y3 = run(43, w3);
  CHECK(w1 == w2);
  CHECK(y1 == y2);
  CHECK(w1 != w3);
  CHECK(y1 != y3);
  // A kernel's values depend on the seed, its name and its shape only: a deeper network with
  // the same first level starts from the same enc.0 kernels.
  UNet3D a(tiny_config(2, 3, 2, Norm::batch, DType::f32, 42));
  UNet3D b(tiny_config(4, 3, 2, Norm::none, DType::f32, 42));
  CHECK(a.parameter("enc.0.conv2.weight").value().to_vector() ==
        b.parameter("enc.0.conv2.weight").value().to_vector());
  // ... and each kernel has its own stream: two kernels of the same shape differ.
  CHECK(a.parameter("enc.0.conv2.weight").shape() == a.parameter("dec.0.conv2.weight").shape());
  CHECK(a.parameter("enc.0.conv2.weight").value().to_vector() !=
        a.parameter("dec.0.conv2.weight").value().to_vector());
}

// ---- shapes and the input check -----------------------------------------------------------

TEST_CASE("unet3d: shapes through the network for levels 1..5, odd multiples, C = 1, N = 2") {
  struct Case {
    UNetConfig config;
    Shape input;
  };
  UNetConfig explicit5 = tiny_config(5, 1);
  explicit5.filters = {2, 2, 3, 3, 4};
  const std::vector<Case> cases = {
      {tiny_config(1, 2, 2), Shape{1, 3, 5, 7, 2}},    // no pooling: any size
      {tiny_config(2, 2, 2), Shape{2, 6, 10, 2, 2}},   // 2 x (3, 5, 1)
      {tiny_config(3, 2, 1), Shape{2, 12, 4, 20, 1}},  // C = 1, 4 x (3, 1, 5)
      {tiny_config(4, 1, 2), Shape{2, 8, 24, 8, 2}},   // bottom 1 x 3 x 1
      {explicit5, Shape{2, 16, 48, 16, 2}},            // bottom 1 x 3 x 1
  };
  for (const Case& c : cases) {
    CAPTURE(c.config.levels);
    UNet3D net(c.config);
    const Tensor x = random_tensor(c.input, DType::f32, 3);
    for (bool training : {true, false}) {
      CAPTURE(training);
      net.zero_grad();
      Var y = net.forward(Var(x), training);
      Shape expect = c.input;
      expect[4] = 1;
      CHECK(y.shape() == expect);
      CHECK(y.dtype() == DType::f32);
      const std::vector<double> v = y.value().to_vector();
      CHECK(std::all_of(v.begin(), v.end(), [](double p) { return p > 0.0 && p < 1.0; }));
      // Every parameter receives a gradient of its own shape through the whole network.
      Var loss = amgm_loss(y, Var(random_target(expect, DType::f32, 4)));
      backward(loss);
      for (const NamedParameter& p : net.named_parameters()) {
        CAPTURE(p.name);
        REQUIRE(p.var.has_grad());
        CHECK(p.var.grad().shape() == p.var.shape());
        for (double g : p.var.grad().to_vector()) REQUIRE(std::isfinite(g));
      }
    }
  }
}

TEST_CASE("unet3d: an input size that does not fit the levels is refused with a clear message") {
  UNet3D net(tiny_config(3, 2));
  std::string e = error_of([&] { net.check_input_shape(Shape{2, 12, 10, 8, 2}); });
  std::cout << "example message: " << e << "\n";
  CHECK(contains(e, "D x H x W = 12 x 10 x 8"));
  CHECK(contains(e, "levels = 3"));
  CHECK(contains(e, "multiple of 2^2 = 4"));
  CHECK(contains(e, "H (y) = 10"));
  CHECK(!contains(e, "D (z)"));
  CHECK(!contains(e, "W (x)"));
  // forward applies the same check before any work.
  e = error_of([&] { net.forward(Var(Tensor::zeros(Shape{1, 6, 8, 4, 2})), false); });
  CHECK(contains(e, "D (z) = 6"));
  e = error_of([&] { net.check_input_shape(Shape{1, 0, 4, 4, 2}); });
  CHECK(contains(e, "D (z) = 0"));
  e = error_of([&] { net.check_input_shape(Shape{1, 4, 4, 4, 3}); });
  CHECK(contains(e, "in_channels = 2"));
  e = error_of([&] { net.check_input_shape(Shape{4, 4, 4, 2}); });
  CHECK(contains(e, "N x D x H x W x C"));
  e = error_of([&] { net.forward(Var(Tensor::zeros(Shape{1, 4, 4, 4, 2}, DType::f64)), false); });
  CHECK(contains(e, "the model is f32"));
  CHECK(error_of([&] { net.check_input_shape(Shape{1, 4, 8, 12, 2}); }).empty());
}

// ---- normalisation and modes --------------------------------------------------------------

TEST_CASE("unet3d: batch norm: training uses batch statistics and moves the running estimates") {
  UNet3D net(tiny_config(2, 3));
  const Tensor x = random_tensor(Shape{2, 4, 6, 4, 2}, DType::f32, 5);
  const std::vector<double> eval0 = net.forward(Var(x), false).value().to_vector();
  CHECK(net.batch_norm_state("enc.0.bn1").running_mean.to_vector() ==
        std::vector<double>(3, 0.0));  // eval leaves the state alone
  const std::vector<double> train = net.forward(Var(x), true).value().to_vector();
  CHECK(net.batch_norm_state("enc.0.bn1").num_batches_tracked == 1);
  CHECK(net.batch_norm_state("dec.0.bn2").num_batches_tracked == 1);
  CHECK(net.batch_norm_state("enc.0.bn1").running_mean.to_vector() != std::vector<double>(3, 0.0));
  const std::vector<double> eval1 = net.forward(Var(x), false).value().to_vector();
  CHECK(train != eval0);
  CHECK(eval1 != eval0);
}

TEST_CASE("unet3d: norm none: no batch norm, training and eval agree") {
  UNet3D net(tiny_config(3, 2, 2, Norm::none));
  CHECK(net.batch_norm_names().empty());
  for (const NamedParameter& p : net.named_parameters()) CHECK(!contains(p.name, ".bn"));
  CHECK(count_parameters(net.config()).norm_affine == 0);
  CHECK(contains(net.describe(), "no normalisation"));
  // N = 1 with a 1 x 1 x 1 bottom: fine without batch statistics.
  const Tensor x = random_tensor(Shape{1, 4, 4, 4, 2}, DType::f32, 6);
  const Var a = net.forward(Var(x), true);
  const Var b = net.forward(Var(x), false);
  CHECK(a.value().to_vector() == b.value().to_vector());
}

TEST_CASE("unet3d: inference mode frees activations as the forward pass goes") {
  UNet3D net(tiny_config(3, 4));
  const Tensor x = random_tensor(Shape{1, 16, 16, 16, 2}, DType::f32, 7);
  const std::int64_t base = memory_stats().live_bytes;
  std::int64_t peak_inference = 0, peak_recording = 0;
  {
    InferenceMode guard;
    reset_peak_memory();
    Var y = net.forward(Var(x), false);
    CHECK(y.grad_fn() == nullptr);
    peak_inference = memory_stats().peak_bytes - base;
  }
  CHECK(memory_stats().live_bytes == base);
  {
    reset_peak_memory();
    Var y = net.forward(Var(x), false);  // grad mode on: the graph keeps every activation
    CHECK(y.grad_fn() != nullptr);
    peak_recording = memory_stats().peak_bytes - base;
  }
  CHECK(memory_stats().live_bytes == base);
  // One level-0 activation of 4 channels is 64 kB; the graph holds about 30 of them.
  const std::int64_t activation = 16 * 16 * 16 * 4 * 4;
  std::cout << "inference peak " << peak_inference / 1024 << " kB, recording peak "
            << peak_recording / 1024 << " kB (one level-0 activation " << activation / 1024
            << " kB)\n";
  CHECK(peak_inference < 8 * activation);
  CHECK(2 * peak_inference < peak_recording);
}

// ---- finite-difference gradients through the whole network (float64) ----------------------

namespace {

struct FdCase {
  const char* name;
  Norm norm;
  bool training;
};

// Directional derivative of the AM-GM loss along unit directions u: autograd's <grad, u>
// against central differences at two step sizes. Where the two differences disagree the
// step crossed a kink (a ReLU at 0, a max-pool winner change) and the sample is reported
// and skipped; otherwise the smaller step must match autograd.
void run_fd_case(const FdCase& fc) {
  UNet3D net(tiny_config(2, 2, 2, fc.norm, DType::f64, 11));
  const Shape xs{2, 4, 4, 6, 2};
  const Tensor x = random_tensor(xs, DType::f64, 8);
  const Tensor g = random_target(Shape{2, 4, 4, 6, 1}, DType::f64, 9);
  if (!fc.training) {  // eval mode on non-trivial running estimates
    InferenceMode guard;
    net.forward(Var(random_tensor(xs, DType::f64, 10)), true);
  }
  auto loss_at = [&]() {
    InferenceMode guard;
    return amgm_loss(net.forward(Var(x), fc.training), Var(g)).value().item();
  };
  net.zero_grad();
  backward(amgm_loss(net.forward(Var(x), fc.training), Var(g)));

  const std::vector<NamedParameter>& params = net.named_parameters();
  // Directions: one per parameter tensor, then three over all parameters at once.
  std::vector<std::vector<std::size_t>> supports;
  for (std::size_t i = 0; i < params.size(); ++i) supports.push_back({i});
  std::vector<std::size_t> all(params.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  for (int k = 0; k < 3; ++k) supports.push_back(all);

  const double h1 = 1e-5, h2 = 2.5e-6;
  int skipped = 0, checked = 0;
  double worst = 0.0;
  Rng rng(2024, 1);
  for (std::size_t d = 0; d < supports.size(); ++d) {
    std::vector<std::vector<double>> u(params.size()), orig(params.size());
    double norm2 = 0.0;
    for (std::size_t i : supports[d]) {
      orig[i] = params[i].var.value().to_vector();
      u[i].resize(orig[i].size());
      for (double& e : u[i]) {
        e = rng.normal();
        norm2 += e * e;
      }
    }
    double analytic = 0.0;
    for (std::size_t i : supports[d]) {
      const std::vector<double> gr = params[i].var.grad().to_vector();
      for (std::size_t k = 0; k < u[i].size(); ++k) {
        u[i][k] /= std::sqrt(norm2);
        analytic += gr[k] * u[i][k];
      }
    }
    auto shifted_loss = [&](double t) {
      for (std::size_t i : supports[d]) {
        Var v = params[i].var;
        double* p = v.value().data<double>();
        for (std::size_t k = 0; k < u[i].size(); ++k) p[k] = orig[i][k] + t * u[i][k];
      }
      return loss_at();
    };
    const double fd1 = (shifted_loss(h1) - shifted_loss(-h1)) / (2 * h1);
    const double fd2 = (shifted_loss(h2) - shifted_loss(-h2)) / (2 * h2);
    shifted_loss(0.0);  // restore
    const std::string what = supports[d].size() == 1 ? params[supports[d][0]].name
                                                     : "all parameters #" + std::to_string(d);
    const double scale = std::max(std::abs(analytic), 1e-3);
    if (std::abs(fd1 - fd2) > 1e-6 * scale) {
      ++skipped;
      MESSAGE(fc.name << ": " << what << ": unstable difference (kink), fd " << fd1 << " vs " << fd2
                      << ", skipped");
      continue;
    }
    ++checked;
    const double err = std::abs(fd2 - analytic) / scale;
    worst = std::max(worst, err);
    CAPTURE(what);
    CAPTURE(analytic);
    CAPTURE(fd2);
    CHECK(err < 1e-6);
    if (supports[d].size() > 1) {
      // The comparison would catch a gradient 0.1% off.
      CHECK(std::abs(fd2 - 1.001 * analytic) / scale > 1e-6);
    }
  }
  std::cout << "fd " << fc.name << ": " << checked << " directions checked, " << skipped
            << " skipped at kinks, worst relative error " << worst << "\n";
  CHECK(skipped <= 2);
  CHECK(checked >= static_cast<int>(supports.size()) - 2);
}

}  // namespace

TEST_CASE("unet3d: gradients match finite differences (f64, batch norm, training)") {
  run_fd_case({"batch norm, training", Norm::batch, true});
}
TEST_CASE("unet3d: gradients match finite differences (f64, batch norm, eval)") {
  run_fd_case({"batch norm, eval", Norm::batch, false});
}
TEST_CASE("unet3d: gradients match finite differences (f64, no normalisation)") {
  run_fd_case({"no normalisation", Norm::none, true});
}
