// The naive reference kernels (kernels/cpu/reference/) against themselves, on random inputs:
// adjoint identities (<fprop(x,w), dy> = <x, dgrad(dy,w)> = <w, wgrad(x,dy)>), float64
// central finite differences of fprop against dgrad, wgrad and bprop, and float results
// against double ones. conv3d and conv_transpose3d share each check (kernel_test_util.h).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "kernel_test_util.h"

using namespace kernel_test;

namespace {

// The identities every conv kernel triple satisfies; returns the gradients (no bias in y).
template <typename Shape>
ConvGrads check_conv_adjoints(const Shape& s, const Guarded<double>& x, const Guarded<double>& w,
                              const Guarded<double>& dy) {
  const auto g = run_conv(s, x, w, nullptr, dy);
  const long double lhs = dot(g.y, dy), via_x = dot(x, g.dx), via_w = dot(w, g.dw);
  CAPTURE(static_cast<double>(lhs));
  CHECK(close_rel(lhs, via_x, 1e-12L));
  CHECK(close_rel(lhs, via_w, 1e-12L));
  const auto db = bias_grad_by_hand(dy, s.K);
  for (int k = 0; k < s.K; ++k) CHECK(close_rel(g.db[k], db[k], 1e-12L));
  return g;
}

}  // namespace

// =========================================================================================
// Adjoint identities on random double inputs: <fprop(x,w), dy> = <x, dgrad(dy,w)> =
// <w, wgrad(x,dy)>, and the bias gradient is the sum of dy over N, Z, P, Q.
// =========================================================================================

TEST_CASE("conv3d adjoint identities and bias gradient, random doubles") {
  Rng rng{21};
  for (const auto& s : conv_cases()) {
    CAPTURE(s.describe());
    const auto x = random_buffer<double>(s.x_size(), rng),
               w = random_buffer<double>(s.w_size(), rng),
               dy = random_buffer<double>(s.y_size(), rng), b = random_buffer<double>(s.K, rng);
    const auto g = check_conv_adjoints(s, x, w, dy);
    // fprop with a bias adds bias[k] to channel k.
    Guarded<double> yb(s.y_size());
    conv3d_fprop(s, x.data(), w.data(), b.data(), yb.data());
    for (std::size_t o = 0; o < yb.size(); ++o)
      CHECK(std::fabs(yb[o] - g.y[o] - b[o % s.K]) <= 1e-14);
    CHECK_GUARD(yb);
  }
}

TEST_CASE("conv_transpose3d adjoint identities and bias gradient, random doubles") {
  Rng rng{22};
  for (const auto& s : conv_transpose_cases()) {
    CAPTURE(s.describe());
    const auto x = random_buffer<double>(s.x_size(), rng),
               w = random_buffer<double>(s.w_size(), rng),
               dy = random_buffer<double>(s.y_size(), rng);
    check_conv_adjoints(s, x, w, dy);
  }
}

// =========================================================================================
// float64 central finite differences of L = <fprop(x, w, b), g> against dgrad and wgrad.
// =========================================================================================

namespace {
// Checks analytic[i] against (L(v + h e_i) - L(v - h e_i)) / 2h for up to `probes` indices
// of v spread over the buffer (always including the first and the last).
void check_fd(const char* what, Guarded<double>& v, const Guarded<double>& analytic,
              const std::function<long double()>& loss, double h, double tol) {
  const std::size_t n = v.size(), probes = std::min<std::size_t>(n, 24);
  for (std::size_t j = 0; j < probes; ++j) {
    const std::size_t i = probes == 1 ? 0 : j * (n - 1) / (probes - 1);
    const double keep = v[i];
    v[i] = keep + h;
    const long double up = loss();
    v[i] = keep - h;
    const long double down = loss();
    v[i] = keep;
    const double fd = static_cast<double>((up - down) / (2 * h));
    CAPTURE(what);
    CAPTURE(i);
    CHECK(std::fabs(fd - analytic[i]) <= tol * std::max(1.0, std::fabs(analytic[i])));
  }
}

// dx, dw and dbias of one conv shape against central differences of L = <fprop(x, w, b), gy>.
template <typename Shape>
void check_conv_fd(const Shape& s, Rng& rng) {
  CAPTURE(s.describe());
  auto x = random_buffer<double>(s.x_size(), rng), w = random_buffer<double>(s.w_size(), rng),
       b = random_buffer<double>(s.K, rng);
  const auto gy = random_buffer<double>(s.y_size(), rng);
  Guarded<double> y(s.y_size());
  auto loss = [&] {
    conv_fprop(s, x.data(), w.data(), b.data(), y.data());
    return dot(y, gy);
  };
  const auto g = run_conv(s, x, w, &b, gy);
  check_fd("dx", x, g.dx, loss, 1e-3, 1e-8);
  check_fd("dw", w, g.dw, loss, 1e-3, 1e-8);
  check_fd("dbias", b, g.db, loss, 1e-3, 1e-8);
  CHECK_GUARD(y);
}
}  // namespace

TEST_CASE("conv3d dgrad and wgrad match finite differences of fprop (float64)") {
  Rng rng{31};
  const auto cases = conv_cases();
  for (const auto& s : {cases[1], cases[2], cases[4], cases[6]}) check_conv_fd(s, rng);
}

TEST_CASE("conv_transpose3d dgrad and wgrad match finite differences of fprop (float64)") {
  Rng rng{32};
  for (const auto& s : conv_transpose_cases()) check_conv_fd(s, rng);
}

TEST_CASE("max_pool3d bprop matches finite differences on inputs without ties (float64)") {
  Rng rng{33};
  for (const auto& s : pool_cases()) {
    CAPTURE(s.describe());
    // Distinct values 0.01 apart in shuffled order; a step of 1e-3 < 0.01/2 moves no maximum.
    std::vector<std::size_t> order(s.x_size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.next() % i]);
    Guarded<double> x(s.x_size());
    for (std::size_t i = 0; i < order.size(); ++i)
      x[i] = 0.01 * static_cast<double>(order[i]) - 1.0;
    const auto gy = random_buffer<double>(s.y_size(), rng);
    Guarded<double> y(s.y_size()), dx(s.x_size());
    Guarded<std::int64_t> am(s.y_size());
    auto loss = [&] {
      max_pool3d_fprop(s, x.data(), y.data(), static_cast<std::int64_t*>(nullptr));
      return dot(y, gy);
    };
    max_pool3d_fprop(s, x.data(), y.data(), am.data());
    max_pool3d_bprop(s, gy.data(), am.data(), dx.data());
    // Each argmax names the element that holds the output value (before the probes move y).
    for (std::size_t o = 0; o < y.size(); ++o) CHECK(x[static_cast<std::size_t>(am[o])] == y[o]);
    check_fd("dx", x, dx, loss, 1e-3, 1e-9);
    CHECK_GUARD(y);
    CHECK_GUARD(am);
    CHECK_GUARD(dx);
  }
}

// =========================================================================================
// float agrees with double: both accumulate in double, so float is double rounded once.
// =========================================================================================

namespace {
// |f - d| within 1e-5 relative to the buffer's scale, and within one float rounding of d.
void check_float_vs_double(const char* what, const Guarded<float>& f, const Guarded<double>& d) {
  CAPTURE(what);
  REQUIRE(f.size() == d.size());
  double scale = 0;
  for (std::size_t i = 0; i < d.size(); ++i) scale = std::max(scale, std::fabs(d[i]));
  std::size_t bad_rel = 0, bad_round = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(f[i]) - d[i]);
    if (diff > 1e-5 * std::max(std::fabs(d[i]), 1e-3 * scale)) ++bad_rel;
    if (diff > 0x1p-24 * std::fabs(d[i]) * (1 + 1e-9)) ++bad_round;
  }
  CHECK(bad_rel == 0);
  CHECK(bad_round == 0);
  CHECK(f.guard_intact());
}

// One conv shape's float kernels against its double kernels, on inputs drawn as floats.
template <typename Shape, typename Draw>
void check_conv_float_vs_double(const std::string& op, const Shape& s, Draw& draw) {
  CAPTURE(s.describe());
  const auto x = draw(s.x_size()), w = draw(s.w_size()), b = draw(s.K), dy = draw(s.y_size());
  const auto g = run_conv(s, x, w, &b, dy);
  const auto xf = to_float(x), wf = to_float(w), bf = to_float(b), dyf = to_float(dy);
  Guarded<float> y(s.y_size()), dx(s.x_size()), dw(s.w_size()), db(s.K);
  conv_fprop(s, xf.data(), wf.data(), bf.data(), y.data());
  conv_dgrad(s, dyf.data(), wf.data(), dx.data());
  conv_wgrad(s, xf.data(), dyf.data(), dw.data(), db.data());
  check_float_vs_double((op + " y").c_str(), y, g.y);
  check_float_vs_double((op + " dx").c_str(), dx, g.dx);
  check_float_vs_double((op + " dw").c_str(), dw, g.dw);
  check_float_vs_double((op + " dbias").c_str(), db, g.db);
}
}  // namespace

TEST_CASE("float instantiations agree with double within 1e-5 relative") {
  Rng rng{41};
  // Inputs drawn as floats, so both precisions see the same numbers.
  auto draw = [&](std::size_t n) { return to_double(to_float(random_buffer<double>(n, rng))); };
  for (const auto& s : conv_cases()) check_conv_float_vs_double("conv3d", s, draw);
  for (const auto& s : conv_transpose_cases())
    check_conv_float_vs_double("conv_transpose3d", s, draw);
  for (const auto& s : pool_cases()) {
    CAPTURE(s.describe());
    const auto x = draw(s.x_size()), dy = draw(s.y_size());
    const auto xf = to_float(x), dyf = to_float(dy);
    Guarded<double> yd(s.y_size()), dxd(s.x_size());
    Guarded<float> yf(s.y_size()), dxf(s.x_size());
    Guarded<std::int64_t> amd(s.y_size()), amf(s.y_size());
    max_pool3d_fprop(s, x.data(), yd.data(), amd.data());
    max_pool3d_fprop(s, xf.data(), yf.data(), amf.data());
    max_pool3d_bprop(s, dy.data(), amd.data(), dxd.data());
    max_pool3d_bprop(s, dyf.data(), amf.data(), dxf.data());
    CHECK(amf.body() == amd.body());
    check_float_vs_double("max_pool3d y", yf, yd);
    check_float_vs_double("max_pool3d dx", dxf, dxd);
    CHECK_GUARD(amf);
  }
}
