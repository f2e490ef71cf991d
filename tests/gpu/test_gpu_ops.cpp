// ctv_gpu_tests: the CUDA element-wise, reduction, batch-norm, pooling, concat, loss and Adam
// kernels (kernels/cuda/ops.h) against the reference kernels on fresh random inputs, outputs
// poisoned before each run: the same bits (where the device's exp or log enter, within a few
// ulp), and the same bits on a second run. Shapes: row counts across several reduction chunks plus a remainder,
// channel counts 1, 3, 16 and 48. Without a GPU every case says so and passes.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/cpu/reference/adam.h"
#include "kernels/cpu/reference/batch_norm3d.h"
#include "kernels/cpu/reference/concat.h"
#include "kernels/cpu/reference/elementwise.h"
#include "kernels/cpu/reference/losses.h"
#include "kernels/cpu/reference/max_pool3d.h"
#include "kernels/cpu/reference/reduce.h"
#include "gpu/gpu_test_util.h"
#include "kernels/cuda/ops.h"

namespace {

using namespace kernel_test;
using namespace gpu_test;
namespace kc = ctv::kernels::cuda;

std::vector<float> random_floats(std::size_t n, Rng& rng, double scale = 1.0) {
  std::vector<float> v(n);
  for (float& f : v) f = static_cast<float>(scale * rng.uniform());
  return v;
}

struct RowsC {
  std::int64_t M, C;
};
const RowsC kShapes[] = {{3 * ctv::kernels::kReduceChunk + 37, 16}, {4097, 3}, {1000, 48},
                         {2, 1}};

}  // namespace

TEST_CASE("GPU element-wise kernels: the reference's bits") {
  if (!gpu_or_skip()) return;
  Rng rng{1300};
  const std::size_t n = 100003;
  auto x = random_floats(n, rng, 8.0), dy = random_floats(n, rng);
  for (std::size_t i = 0; i < n; i += 97) x[i] = 0.0f;  // exact zeros for the ReLU
  const Dev<float> dx_(x), ddy_(dy);
  std::vector<float> want(n), want2(n);

  Dev<float> y(n);
  kc::relu_fwd(std::int64_t(n), dx_.p, y.p);
  ref::relu_fwd(n, x.data(), want.data());
  CHECK(same_bits(y.download(), want));
  const std::vector<float> relu_y = want;
  const Dev<float> dy_relu(relu_y);
  Dev<float> g(n);
  kc::relu_bwd(std::int64_t(n), dy_relu.p, ddy_.p, g.p);
  ref::relu_bwd(n, relu_y.data(), dy.data(), want2.data());
  CHECK(same_bits(g.download(), want2));

  Dev<float> s(n);
  kc::sigmoid_fwd(std::int64_t(n), dx_.p, s.p);
  ref::sigmoid_fwd(n, x.data(), want.data());
  const std::vector<float> got = s.download();
  double worst_ulp = 0;
  for (std::size_t i = 0; i < n; ++i)
    worst_ulp = std::max(worst_ulp, std::fabs(double(got[i]) - want[i]) /
                                        (std::nextafter(std::fabs(want[i]), 2.0f) - std::fabs(want[i])));
  CHECK(worst_ulp <= 2.0);
  const Dev<float> sig(want);
  Dev<float> sb(n);
  kc::sigmoid_bwd(std::int64_t(n), sig.p, ddy_.p, sb.p);
  ref::sigmoid_bwd(n, want.data(), dy.data(), want2.data());
  CHECK(same_bits(sb.download(), want2));

  Dev<float> acc(dy);
  kc::add_inplace(std::int64_t(n), dx_.p, acc.p);
  want2 = dy;
  ref::add_inplace(n, x.data(), want2.data());
  CHECK(same_bits(acc.download(), want2));
}

TEST_CASE("GPU sum_rows and batch norm: the reference's bits, twice") {
  if (!gpu_or_skip()) return;
  Rng rng{1301};
  for (const RowsC& sh : kShapes) {
    CAPTURE(sh.M);
    CAPTURE(sh.C);
    const std::size_t n = std::size_t(sh.M * sh.C), C = std::size_t(sh.C);
    const auto x = random_floats(n, rng, 3.0), dy = random_floats(n, rng);
    const auto gamma = random_floats(C, rng), beta = random_floats(C, rng);
    const Dev<float> dx_(x), ddy_(dy), dgamma_(gamma), dbeta_(beta);

    std::vector<float> rows_want(C);
    ref::sum_rows(sh.M, sh.C, x.data(), rows_want.data());
    Dev<float> rows(C);
    kc::sum_rows(sh.M, sh.C, dx_.p, rows.p);
    CHECK(same_bits(rows.download(), rows_want));

    std::vector<double> mean(C), var(C), invstd(C);
    ref::batch_norm_stats(sh.M, sh.C, x.data(), mean.data(), var.data());
    Dev<double> dmean(C), dvar(C);
    kc::batch_norm_stats(sh.M, sh.C, dx_.p, dmean.p, dvar.p);
    CHECK(same_bits(dmean.download(), mean));
    CHECK(same_bits(dvar.download(), var));
    ref::batch_norm_invstd(sh.C, var.data(), 1e-5, invstd.data());
    const Dev<double> dm(mean), di(invstd);

    for (bool relu : {false, true}) {
      CAPTURE(relu);
      std::vector<float> y(n);
      ref::batch_norm_fwd(sh.M, sh.C, x.data(), mean.data(), invstd.data(), gamma.data(),
                          beta.data(), y.data());
      if (relu) ref::relu_fwd(n, y.data(), y.data());
      Dev<float> dyo(n);
      kc::batch_norm_fwd(sh.M, sh.C, relu, dx_.p, dm.p, di.p, dgamma_.p, dbeta_.p, dyo.p);
      CHECK(same_bits(dyo.download(), y));

      std::vector<float> dz = dy;
      if (relu) ref::relu_bwd(n, y.data(), dy.data(), dz.data());
      const Dev<float> dy_out(y);
      for (bool training : {true, false}) {
        CAPTURE(training);
        std::vector<float> dx(n), dg(C), db(C);
        auto k = training ? ref::batch_norm_bwd_train<float> : ref::batch_norm_bwd_eval<float>;
        k(sh.M, sh.C, x.data(), dz.data(), mean.data(), invstd.data(), gamma.data(), dx.data(),
          dg.data(), db.data());
        for (int run = 0; run < 2; ++run) {
          Dev<float> gx(n), gg(C), gb(C);
          kc::batch_norm_bwd(sh.M, sh.C, training, relu, dx_.p, relu ? dy_out.p : nullptr,
                             ddy_.p, dm.p, di.p, dgamma_.p, gx.p, gg.p, gb.p);
          CHECK(same_bits(gx.download(), dx));
          CHECK(same_bits(gg.download(), dg));
          CHECK(same_bits(gb.download(), db));
        }
      }
    }
  }
}

TEST_CASE("GPU Adam: the reference's bits over three steps") {
  if (!gpu_or_skip()) return;
  Rng rng{1302};
  const std::size_t n = 70001;
  auto theta = random_floats(n, rng), m = random_floats(n, rng, 0.01), v = random_floats(n, rng);
  for (float& e : v) e = std::fabs(e) * 1e-4f;
  Dev<float> dt(theta), dm(m), dv(v);
  ref::AdamHyper h;
  h.lr = 1e-3;
  for (std::int64_t t = 1; t <= 3; ++t) {
    const auto g = random_floats(n, rng, 1e-3);
    const Dev<float> dg(g);
    ref::adam_step(std::int64_t(n), theta.data(), g.data(), m.data(), v.data(), t, h);
    kc::adam_step(std::int64_t(n), dt.p, dg.p, dm.p, dv.p, t, h);
    CHECK(same_bits(dt.download(), theta));
    CHECK(same_bits(dm.download(), m));
    CHECK(same_bits(dv.download(), v));
  }
}

TEST_CASE("GPU max pooling: the reference's maxima, argmax and gathered gradients") {
  if (!gpu_or_skip()) return;
  Rng rng{1303};
  for (const MaxPool3dShape& s : pool_cases()) {
    CAPTURE(s.describe());
    auto x = random_floats(s.x_size(), rng);
    for (std::size_t i = 0; i < x.size(); i += 7) x[i] = 0.5f;  // ties
    const auto dy = random_floats(s.y_size(), rng);
    std::vector<float> y(s.y_size()), dx(s.x_size());
    std::vector<std::int64_t> arg(s.y_size());
    ref::max_pool3d_fprop(s, x.data(), y.data(), arg.data());
    ref::max_pool3d_bprop(s, dy.data(), arg.data(), dx.data());
    const Dev<float> dx_(x), ddy_(dy);
    Dev<float> gy(s.y_size()), gdx(s.x_size());
    Dev<std::int64_t> garg(s.y_size());
    kc::max_pool3d_fprop(s, dx_.p, gy.p, garg.p);
    CHECK(same_bits(gy.download(), y));
    CHECK(garg.download() == arg);
    kc::max_pool3d_bprop(s, ddy_.p, garg.p, gdx.p);
    CHECK(same_bits(gdx.download(), dx));
  }
}

TEST_CASE("GPU concat and losses: the reference's bits (BCE within a few ulp)") {
  if (!gpu_or_skip()) return;
  Rng rng{1304};
  // concat of a strided view (pitch 5, width 3) and a dense block (width 2).
  const std::size_t rows = 1001;
  const auto a = random_floats(rows * 5, rng), b = random_floats(rows * 2, rng);
  const Dev<float> da(a), db(b);
  const float* src_h[] = {a.data(), b.data()};
  const float* src_d[] = {da.p, db.p};
  const std::size_t widths[] = {3, 2}, pitches[] = {5, 2};
  std::vector<float> want(rows * 5);
  ref::concat_channels(rows, 2, src_h, widths, pitches, want.data(), 5);
  Dev<float> got(rows * 5);
  kc::concat_channels(rows, 2, src_d, widths, pitches, got.p, 5);
  CHECK(same_bits(got.download(), want));

  const std::int64_t n = 3 * ctv::kernels::kReduceChunk + 101;
  std::vector<float> p(static_cast<std::size_t>(n)), g(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < p.size(); ++i) {
    p[i] = static_cast<float>(0.5 + 0.49 * rng.uniform());
    g[i] = rng.uniform() > 0.3 ? 1.0f : 0.0f;
  }
  const Dev<float> dp_(p), dg_(g);
  const ref::AmgmSums s = ref::amgm_sums(n, p.data(), g.data());
  const ref::AmgmSums gs = kc::amgm_sums(n, dp_.p, dg_.p);
  CHECK(gs.intersection == s.intersection);
  CHECK(gs.squares == s.squares);
  std::vector<float> wp(p.size()), wg(p.size());
  ref::amgm_bwd(n, p.data(), g.data(), s, 1e-5, 1.0, wp.data(), wg.data());
  Dev<float> gp(p.size()), gg(p.size());
  kc::amgm_bwd(n, dp_.p, dg_.p, gs, 1e-5, 1.0, gp.p, gg.p);
  CHECK(same_bits(gp.download(), wp));
  CHECK(same_bits(gg.download(), wg));

  const double bce = ref::bce_value(n, p.data(), g.data(), 0.1);
  CHECK(std::fabs(kc::bce_value(n, dp_.p, dg_.p, 0.1) - bce) <= 1e-13 * std::fabs(bce));
  ref::bce_bwd(n, p.data(), g.data(), 0.1, 1.0, wp.data(), wg.data());
  kc::bce_bwd(n, dp_.p, dg_.p, 0.1, 1.0, gp.p, gg.p);
  CHECK(same_bits(gp.download(), wp));  // no log in dp
  const std::vector<float> gdg = gg.download();
  double worst = 0;
  for (std::size_t i = 0; i < gdg.size(); ++i)
    worst = std::max(worst, std::fabs(double(gdg[i]) - wg[i]) / std::max(1e-30, std::fabs(double(wg[i]))));
  CHECK(worst <= 4e-7);

  // A diverged network's NaN reaches the loss as NaN (the trainer stops on it), and its
  // gradient as NaN, as in the reference: the clamps must not turn it into a number.
  p[17] = std::nanf("");
  const Dev<float> dp_nan(p);
  CHECK(std::isnan(ref::bce_value(n, p.data(), g.data(), 0.1)));
  CHECK(std::isnan(kc::bce_value(n, dp_nan.p, dg_.p, 0.1)));
  CHECK(std::isnan(kc::amgm_sums(n, dp_nan.p, dg_.p).squares));
  kc::bce_bwd(n, dp_nan.p, dg_.p, 0.1, 1.0, gp.p, gg.p);
  CHECK(std::isnan(gp.download()[17]));
  CHECK(std::isnan(gg.download()[17]));
}
