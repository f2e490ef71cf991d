// Engine machinery: tensors and views, storage accounting and guards, autograd semantics,
// inference mode releasing memory, the portable generator, the initialisers, Adam and the
// deterministic chunked reductions.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/init.h"
#include "engine/ops.h"
#include "engine/ops_dispatch.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "kernels/cpu/reference/reduce.h"

using namespace ctv;

namespace {
std::vector<double> iota(std::size_t n, double start = 0.0) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = start + static_cast<double>(i);
  return v;
}
}  // namespace

// ---- tensors ------------------------------------------------------------------------------

TEST_CASE("tensor: shapes, dtypes and values round-trip") {
  Tensor t = Tensor::from_vector(Shape{2, 1, 3}, iota(6), DType::f64);
  CHECK(t.numel() == 6);
  CHECK(t.rank() == 3);
  CHECK(t.dim(-1) == 3);
  CHECK(t.is_contiguous());
  CHECK(t.to_vector() == iota(6));
  CHECK(t.describe() == "f64[2,1,3] cpu");
  Tensor f = t.to(DType::f32);
  CHECK(f.dtype() == DType::f32);
  CHECK(f.to_vector() == iota(6));
  CHECK_THROWS_AS(f.data<double>(), std::invalid_argument);
  CHECK_THROWS_AS((Shape{1, 2, 3, 4, 5, 6}), std::invalid_argument);
  CHECK_THROWS_AS((Shape{2, -1}), std::invalid_argument);
  Tensor s = Tensor::full(Shape{}, 4.5, DType::f32);  // rank 0 is a scalar
  CHECK(s.numel() == 1);
  CHECK(s.item() == 4.5);
  CHECK(dtype_size(DType::f32) == 4);
  CHECK(dtype_size(DType::f64) == 8);
  CHECK_THROWS_AS(Tensor::empty(Shape{2}, DType::f32, Device::cuda), std::runtime_error);
}

TEST_CASE("tensor: channel slices are views with offset and pitch, sharing storage") {
  // NDHWC [1,1,2,2,5]: 4 rows of 5 channels, values 0..19.
  Tensor x = Tensor::from_vector(Shape{1, 1, 2, 2, 5}, iota(20));
  Tensor v = x.channel_slice(1, 4);
  CHECK(v.shares_storage(x));
  CHECK(v.shape() == Shape{1, 1, 2, 2, 3});
  CHECK(v.offset() == 1);
  CHECK(v.pitch() == 5);
  CHECK(!v.is_contiguous());
  CHECK(v.to_vector() == std::vector<double>{1, 2, 3, 6, 7, 8, 11, 12, 13, 16, 17, 18});
  Tensor vv = v.channel_slice(1, 2);  // slice of a slice: channel 2 of x
  CHECK(vv.to_vector() == std::vector<double>{2, 7, 12, 17});
  v.set(0, -1.0);  // writes through to x
  CHECK(x.at(1) == -1.0);
  Tensor d = v.contiguous();
  CHECK(!d.shares_storage(x));
  CHECK(d.is_contiguous());
  CHECK(d.to_vector() == v.to_vector());
  CHECK(x.contiguous().shares_storage(x));  // dense: no copy
  CHECK_THROWS_AS(v.reshape(Shape{12}), std::invalid_argument);
  CHECK_THROWS_AS(x.channel_slice(3, 3), std::invalid_argument);
  CHECK_THROWS_AS(x.channel_slice(2, 6), std::invalid_argument);
  // copy_from into a view touches only the view's elements.
  v.copy_from(Tensor::zeros(v.shape()));
  CHECK(x.to_vector() ==
        std::vector<double>{0, 0, 0, 0, 4, 5, 0, 0, 0, 9, 10, 0, 0, 0, 14, 15, 0, 0, 0, 19});
}

TEST_CASE("tensor: storage is counted; live bytes return when the last reference goes") {
  const MemoryStats before = memory_stats();
  {
    Tensor a = Tensor::empty(Shape{10, 10}, DType::f64);
    const MemoryStats during = memory_stats();
    CHECK(during.live_bytes - before.live_bytes == 800);
    CHECK(during.live_storages - before.live_storages == 1);
    CHECK(during.allocations - before.allocations == 1);
    Tensor view = a.channel_slice(0, 5);  // no allocation
    Tensor copy = a;                      // no allocation
    CHECK(memory_stats().allocations == during.allocations);
    a = Tensor();
    copy = Tensor();
    CHECK(memory_stats().live_bytes == during.live_bytes);  // the view still holds it
  }
  CHECK(memory_stats().live_bytes == before.live_bytes);
  CHECK(memory_stats().live_storages == before.live_storages);
}

TEST_CASE("tensor: a write past the end of a buffer damages its sentinel and is counted") {
  set_storage_guards(true);
  const std::int64_t before = storage_guard_violations();
  {
    Tensor t = Tensor::zeros(Shape{3, 5}, DType::f32);
    CHECK(t.storage()->guard_intact());
    t.data<float>()[15] = 1.0f;  // one past the end: inside the guard bytes
    CHECK(!t.storage()->guard_intact());
  }
  CHECK(storage_guard_violations() == before + 1);
  {
    Tensor t = Tensor::zeros(Shape{3, 5}, DType::f32);
    t.data<float>()[14] = 1.0f;  // the last element: fine
  }
  CHECK(storage_guard_violations() == before + 1);
  set_storage_guards(false);
}

// ---- autograd -----------------------------------------------------------------------------

TEST_CASE("tensor: a CUDA tensor needs the CUDA backend and a GPU, and says which is missing") {
  const BackendInfo& b = backend_info();
  if (!b.gpu_found) {
    // On this machine: refused with the reason, nothing counted.
    const std::int64_t before = memory_stats(Device::cuda).live_storages;
    try {
      (void)Tensor::empty(Shape{4, 3}, DType::f32, Device::cuda);
      FAIL("a CUDA tensor was made without a GPU");
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      CHECK((what.find("no GPU") != std::string::npos ||
             what.find("needs the CUDA backend") != std::string::npos));
    }
    CHECK(memory_stats(Device::cuda).live_storages == before);
    return;
  }
  // With a GPU: values survive the round trip, views included, and an op runs there.
  const Tensor h = Tensor::from_vector(Shape{2, 3}, {1, -2, 3, -4, 5, -6});
  const Tensor d = h.to(Device::cuda);
  CHECK(d.device() == Device::cuda);
  CHECK(d.to(Device::cpu).to_vector() == h.to_vector());
  CHECK(d.channel_slice(1, 3).to(Device::cpu).to_vector() == std::vector<double>{-2, 3, 5, -6});
  CHECK(d.at(4) == 5.0);
  Tensor y = Tensor::zeros(Shape{2, 3}, DType::f32, Device::cuda);
  dispatch::relu_fwd(d, y);
  CHECK(y.to_vector() == std::vector<double>{1, 0, 3, 0, 5, 0});
  CHECK(memory_stats(Device::cuda).live_bytes > 0);
}

TEST_CASE("autograd: grads accumulate across uses and across backward calls") {
  Var x = Var::parameter(Tensor::from_vector(Shape{1, 1, 1, 2, 1}, {0.5, -2.0}, DType::f64));
  // x feeds the loss twice (fan-out): concat(x, relu(x)) then a loss; d/dx sums both paths.
  Var g = Var(Tensor::from_vector(Shape{1, 1, 1, 2, 2}, {1, 0, 0, 1}, DType::f64));
  auto loss_of = [&] { return amgm_loss(concat_channels({x, relu(x)}), g); };
  Var l = loss_of();
  backward(l);
  const std::vector<double> once = x.grad().to_vector();
  // Path by path, by hand: p = [0.5, 0.5, -2, 0] (x0, relu x0, x1, relu x1), g = [1,0,0,1].
  // I = 2*0.5 + eps, S = 0.25+1+0.25+4+0+1 + eps; dL/dp_i = -(2 g_i S - 2 p_i I)/S^2.
  const double eps = 1e-5, I = 1.0 + eps, S = 6.5 + eps;
  auto dp = [&](double p, double gi) { return -(2 * gi * S - 2 * p * I) / (S * S); };
  CHECK(once[0] == doctest::Approx(dp(0.5, 1) + dp(0.5, 0)).epsilon(1e-13));
  CHECK(once[1] == doctest::Approx(dp(-2, 0)).epsilon(1e-13));  // relu path dead at x < 0
  Var l2 = loss_of();
  backward(l2);
  CHECK(x.grad().at(0) == doctest::Approx(2 * once[0]).epsilon(1e-15));
  x.zero_grad();
  CHECK(!x.has_grad());
}

TEST_CASE("autograd: graphs are freed after backward unless retained") {
  Var x = Var::parameter(Tensor::from_vector(Shape{1, 1, 1, 1, 3}, {1, -1, 2}, DType::f64));
  Var g = Var(Tensor::from_vector(Shape{1, 1, 1, 1, 3}, {1, 0, 1}, DType::f64));
  Var h = sigmoid(x);
  h.retain_grad();
  Var mid = relu(h);  // not retained: its grad is freed
  Var l = bce_loss(mid, g);
  backward(l, BackwardOptions{true});
  CHECK(h.has_grad());
  CHECK(!mid.has_grad());
  const double g0 = x.grad().at(0);
  backward(l);  // retained graph: a second pass works and accumulates
  CHECK(x.grad().at(0) == doctest::Approx(2 * g0).epsilon(1e-15));
  CHECK(l.grad_fn()->released());
  CHECK_THROWS_AS(backward(l), std::logic_error);
}

TEST_CASE("autograd: contracts of backward are checked") {
  Var x = Var::parameter(Tensor::from_vector(Shape{2}, {1, 2}, DType::f64));
  Var y = relu(x);
  CHECK_THROWS_AS(backward(y), std::invalid_argument);  // not a scalar, no seed
  CHECK_THROWS_AS(backward(y, Tensor::zeros(Shape{3}, DType::f64)), std::invalid_argument);
  Var c(Tensor::from_vector(Shape{2}, {1, 2}, DType::f64));  // constant
  Var yc = sigmoid(c);
  CHECK(yc.is_leaf());
  CHECK(!yc.requires_grad());
  CHECK_THROWS_AS(backward(amgm_loss(yc, c)), std::invalid_argument);
  Var d = y.detach();
  CHECK(d.is_leaf());
  CHECK(d.value().shares_storage(y.value()));
  // Op errors name the op and the shapes.
  Var xin(Tensor::zeros(Shape{1, 3, 3, 3, 2}));
  Var w = Var::parameter(Tensor::zeros(Shape{4, 3, 3, 3, 5}));
  try {
    conv3d(xin, w, Var());
    FAIL("conv3d accepted a weight with the wrong channel count");
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    CHECK(msg.find("conv3d") != std::string::npos);
    CHECK(msg.find("[4,3,3,3,5]") != std::string::npos);
  }
  Var xf64(Tensor::zeros(Shape{1, 3, 3, 3, 5}, DType::f64));
  CHECK_THROWS_AS(conv3d(xf64, w, Var()), std::invalid_argument);  // mixed dtypes
}

TEST_CASE("concat_channels: adjacent slices of one storage concatenate without a copy") {
  Var x = Var::parameter(Tensor::from_vector(Shape{1, 1, 2, 1, 4}, iota(8), DType::f64));
  Var a = slice_channels(x, 0, 1), b = slice_channels(x, 1, 3);
  const auto allocs = memory_stats().allocations;
  Var y = concat_channels({a, b});
  CHECK(memory_stats().allocations == allocs);
  CHECK(y.value().shares_storage(x.value()));
  CHECK(y.value().to_vector() == std::vector<double>{0, 1, 2, 4, 5, 6});
  Var swapped = concat_channels({b, a});  // not in storage order: a copy
  CHECK(!swapped.value().shares_storage(x.value()));
  CHECK(swapped.value().to_vector() == std::vector<double>{1, 2, 0, 5, 6, 4});
  backward(y, Tensor::from_vector(y.shape(), {1, 2, 3, 4, 5, 6}, DType::f64));
  CHECK(x.grad().to_vector() == std::vector<double>{1, 2, 3, 0, 4, 5, 6, 0});
}

// ---- inference mode and memory ------------------------------------------------------------

namespace {
// Eight conv3d+relu layers on a [1,8,8,8,4] f32 activation (8 KiB each).
Var deep_chain(const Var& x, const std::vector<Var>& ws) {
  Var h = x;
  for (const Var& w : ws) h = relu(conv3d(h, w, Var(), Conv3dParams::uniform(1, 1)));
  return h;
}
}  // namespace

TEST_CASE("inference mode: nothing is recorded and activations are freed as they go") {
  Rng rng(3);
  std::vector<Var> ws;
  for (int i = 0; i < 8; ++i) ws.push_back(Var::parameter(conv3d_weight(4, 3, 3, 3, 4, rng)));
  Var x(Tensor::full(Shape{1, 8, 8, 8, 4}, 0.5));
  const std::int64_t act = 8 * 8 * 8 * 4 * 4;  // bytes of one activation
  const std::int64_t base = memory_stats().live_bytes;

  CHECK(grad_mode_enabled());
  {
    InferenceMode im;
    CHECK(!grad_mode_enabled());
    {
      InferenceMode nested;
      CHECK(!grad_mode_enabled());
    }
    CHECK(!grad_mode_enabled());
    reset_peak_memory();
    Var y = deep_chain(x, ws);
    CHECK(y.is_leaf());
    CHECK(!y.requires_grad());
    // At most three activations in flight at any time: h, conv(h) and relu(conv(h)).
    CHECK(memory_stats().peak_bytes - base <= 3 * act);
    CHECK(memory_stats().live_bytes - base == act);  // only y remains
  }
  CHECK(grad_mode_enabled());
  CHECK(memory_stats().live_bytes == base);

  // Recording keeps every activation the backward needs: at least one per layer.
  reset_peak_memory();
  {
    Var y = deep_chain(x, ws);
    CHECK(!y.is_leaf());
    CHECK(memory_stats().live_bytes - base >= 8 * act);
    Var l = amgm_loss(y, Var(Tensor::zeros(y.shape())));
    backward(l);
    // Backward freed the saved activations as it went: what is left is y, the target, the
    // scalar loss and the weight grads.
    const std::int64_t grads = 8 * 4 * 27 * 4 * 4;
    CHECK(memory_stats().live_bytes - base <= 2 * act + grads + 64);
  }
  for (auto& w : ws) w.zero_grad();
  CHECK(memory_stats().live_bytes == base);
}

// ---- generator and initialisers -----------------------------------------------------------

TEST_CASE("rng: splitmix64 matches the published algorithm and is portable") {
  // splitmix64 from state 0: first output is mix(0x9E3779B97F4A7C15) = 0xE220A8397B1DCDAF.
  CHECK(splitmix64_mix(0x9E3779B97F4A7C15ull) == 0xE220A8397B1DCDAFull);
  CHECK(splitmix64_mix(2 * 0x9E3779B97F4A7C15ull) == 0x6E789E6AA1B965F4ull);
  Rng a(42), b(42), c(43), s1 = a.split(1), s2 = a.split(2);
  for (int i = 0; i < 100; ++i) {
    const double u = a.uniform();
    CHECK(u == b.uniform());
    CHECK(u >= 0.0);
    CHECK(u < 1.0);
  }
  CHECK(c.next_u64() != Rng(42).next_u64());
  CHECK(s1.next_u64() != s2.next_u64());
  CHECK(Rng(42, 1).next_u64() != Rng(42, 2).next_u64());
  // Golden values (from an independent transcription of engine/rng.cpp's definition: state =
  // mix(seed) ^ mix(~stream * gamma), then splitmix64). A change here changes every initial
  // weight; update only on purpose.
  Rng g(2021);
  CHECK(g.next_u64() == 0x680b2cc1eb4155feull);
  CHECK(g.next_u64() == 0xca5e3bbf8a19cc97ull);
  CHECK(g.next_u64() == 0x1f66d671268257edull);
}

TEST_CASE("init: Glorot uniform limits, fans and reproducibility") {
  const Fans f = conv3d_fans(Shape{16, 3, 3, 3, 2});
  CHECK(f.fan_in == 2 * 27);
  CHECK(f.fan_out == 16 * 27);
  const Fans ft = conv_transpose3d_fans(Shape{32, 2, 2, 2, 16});
  CHECK(ft.fan_in == 32 * 8);
  CHECK(ft.fan_out == 16 * 8);
  const double limit = glorot_limit(f);
  CHECK(limit == doctest::Approx(std::sqrt(6.0 / 486.0)).epsilon(1e-15));
  Rng r1(7), r2(7);
  Tensor w1 = conv3d_weight(16, 3, 3, 3, 2, r1);
  Tensor w2 = conv3d_weight(16, 3, 3, 3, 2, r2);
  CHECK(w1.to_vector() == w2.to_vector());
  double lo = 1, hi = -1, sum = 0;
  for (double v : w1.to_vector()) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  CHECK(lo >= -limit);
  CHECK(hi < limit);
  CHECK(hi > 0.95 * limit);  // 864 draws cover the range
  CHECK(lo < -0.95 * limit);
  CHECK(std::fabs(sum / 864.0) < 0.02);
  Tensor wt = conv_transpose3d_weight(4, 2, 2, 2, 3, r1, DType::f64);
  CHECK(wt.shape() == Shape{4, 2, 2, 2, 3});
  CHECK(wt.dtype() == DType::f64);
  CHECK_THROWS_AS(conv3d_fans(Shape{3, 3}), std::invalid_argument);
}

// ---- optimiser and deterministic reductions ------------------------------------------------

TEST_CASE("Adam: two steps against a hand-computed update") {
  // theta 1, g 0.5 then -0.25, defaults lr 1e-4, b1 0.9, b2 0.999, eps 1e-7:
  // t=1: m = 0.05, v = 0.00025, m_hat = 0.5, v_hat = 0.25, theta = 1 - 1e-4*0.5/(0.5+1e-7)
  //      = 0.99990000002;
  // t=2: m = 0.02, v = 0.00031225, m_hat = 0.02/0.19, v_hat = 0.00031225/0.001999,
  //      theta = 0.99990000002 - 1e-4*m_hat/(sqrt(v_hat)+1e-7) = 0.9998733663227728.
  Var theta = Var::parameter(Tensor::from_vector(Shape{1}, {1.0}, DType::f64));
  Adam opt({theta});
  theta.grad() = Tensor::from_vector(Shape{1}, {0.5}, DType::f64);
  opt.step();
  CHECK(opt.state()[0].step == 1);
  CHECK(opt.state()[0].m.at(0) == doctest::Approx(0.05).epsilon(1e-15));
  CHECK(opt.state()[0].v.at(0) == doctest::Approx(0.00025).epsilon(1e-15));
  CHECK(theta.value().at(0) == doctest::Approx(0.99990000002).epsilon(1e-15));
  theta.grad() = Tensor::from_vector(Shape{1}, {-0.25}, DType::f64);
  opt.step();
  CHECK(theta.value().at(0) == doctest::Approx(0.9998733663227728).epsilon(1e-15));
  // A parameter without a grad is skipped and its step does not advance.
  opt.zero_grad();
  opt.step();
  CHECK(opt.state()[0].step == 2);
  CHECK(theta.value().at(0) == doctest::Approx(0.9998733663227728).epsilon(1e-15));
}

TEST_CASE("Adam: restoring state and parameters makes the next step bit-identical") {
  Rng rng(5);
  std::vector<double> w0(7), g(7);
  for (auto& v : w0) v = rng.uniform(-1, 1);
  for (auto& v : g) v = rng.uniform(-1, 1);
  Var a = Var::parameter(Tensor::from_vector(Shape{7}, w0));
  Adam oa({a}, AdamConfig{1e-2});
  for (int i = 0; i < 3; ++i) {
    a.grad() = Tensor::from_vector(Shape{7}, g);
    oa.step();
  }
  Var b = Var::parameter(a.value().clone());
  Adam ob({b}, oa.config());
  ob.state()[0] = {oa.state()[0].m.clone(), oa.state()[0].v.clone(), oa.state()[0].step};
  a.grad() = b.grad() = Tensor::from_vector(Shape{7}, g);
  oa.step();
  ob.step();
  CHECK(std::memcmp(a.value().data<float>(), b.value().data<float>(), 7 * sizeof(float)) == 0);
}

TEST_CASE("determinism: chunked reductions are bit-identical for any thread count and order") {
  Rng rng(9);
  const std::int64_t rows = 9 * kernels::kReduceChunk + 123, width = 3;
  std::vector<double> x(static_cast<std::size_t>(rows * width));
  for (auto& v : x) v = rng.uniform(-1, 1) * std::pow(10.0, rng.uniform(-6, 6));
  auto reduce = [&](kernels::ReduceSchedule s) {
    std::vector<double> out(static_cast<std::size_t>(width));
    kernels::chunked_row_reduce(
        rows, width,
        [&](std::int64_t r0, std::int64_t r1, double* a) {
          for (std::int64_t r = r0; r < r1; ++r)
            for (std::int64_t j = 0; j < width; ++j)
              a[j] += x[static_cast<std::size_t>(r * width + j)];
        },
        out.data(), s);
    return out;
  };
  const auto ref = reduce({});
  for (int threads : {1, 2, 3, 8})
    for (bool reverse : {false, true}) {
      INFO("threads " << threads << " reverse " << reverse);
      const auto got = reduce({threads, reverse});
      CHECK(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(double)) == 0);
    }
  // The same data summed naively in one sequence rounds differently: the scheme is not a
  // no-op (if this ever fails, pick data where the orders differ).
  double naive = 0.0;
  for (std::int64_t r = 0; r < rows; ++r) naive += x[static_cast<std::size_t>(r * width)];
  CHECK(naive != ref[0]);
}

TEST_CASE("determinism: partials combine by the documented pairwise tree") {
  // Sequentially ((1e16 + 1) - 1e16) + 1 = 1; by the tree (1e16 + 1) + (-1e16 + 1) = 0.
  double p[4] = {1e16, 1.0, -1e16, 1.0};
  double out = -1.0;
  kernels::combine_partials(p, 4, 1, &out);
  CHECK(out == 0.0);
  double q[3] = {1.0, 2.0, 4.0};  // (1 + 2) + 4, the unpaired last one moves up
  kernels::combine_partials(q, 3, 1, &out);
  CHECK(out == 7.0);
  kernels::combine_partials(q, 0, 1, &out);
  CHECK(out == 0.0);
}
