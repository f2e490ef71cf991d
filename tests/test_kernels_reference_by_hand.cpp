// The naive reference kernels (kernels/cpu/reference/) against answers worked by hand:
// conv3d, conv_transpose3d and max_pool3d on integer inputs with exact results (ties, padding,
// NaN and overlapping windows included), and the shape structs' sizes and validation
// messages. Sentinel guards after every output catch writes past the end.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernel_test_util.h"

using namespace kernel_test;

namespace {

std::string thrown_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

}  // namespace

// =========================================================================================
// Hand-worked cases: integer inputs, exact answers.
// =========================================================================================

TEST_CASE("conv3d fprop, 1 channel 3x3x3 box filter over a 4x4x4 ramp: 27 times the centre") {
  // x[d,h,w] = 16d + 4h + w is linear, so the mean over a 3x3x3 window is its centre value:
  // y[z,p,q] = 27 * x[z+1, p+1, q+1] = 27 * (16z + 4p + q + 21).
  const Conv3dShape s = conv_shape(1, 4, 4, 4, 1, 1, 3, 3, 3);
  Guarded<double> x(64), w(27, 1.0), y(s.y_size());
  for (int i = 0; i < 64; ++i) x[i] = i;
  REQUIRE(s.Z() == 2);
  REQUIRE(s.y_size() == 8);
  conv3d_fprop(s, x.data(), w.data(), static_cast<const double*>(nullptr), y.data());
  CHECK(y[0] == 567);   // (0,0,0): 27 * 21
  CHECK(y[1] == 594);   // (0,0,1): 27 * 22
  CHECK(y[2] == 675);   // (0,1,0): 27 * 25
  CHECK(y[4] == 999);   // (1,0,0): 27 * 37
  CHECK(y[7] == 1134);  // (1,1,1): 27 * 42
  CHECK_GUARD(y);
  // A bias of 5 adds 5 everywhere.
  const auto bias = from_list<double>({5});
  conv3d_fprop(s, x.data(), w.data(), bias.data(), y.data());
  CHECK(y[0] == 572);
  CHECK(y[7] == 1139);
  CHECK_GUARD(y);
}

TEST_CASE("conv3d stride 2, padding 1: fprop, dgrad and wgrad counted by hand") {
  // 4x4x4 ones, 3x3x3 ones, stride 2, pad 1: Z = (4 + 2 - 3)/2 + 1 = 2 on each axis.
  // Window z=0 covers d = -1..1 (2 real), z=1 covers d = 1..3 (3 real): y = c_z c_p c_q with
  // c = {2, 3}.
  const Conv3dShape s = conv_shape(1, 4, 4, 4, 1, 1, 3, 3, 3, {2, 2, 2}, {1, 1, 1});
  Guarded<double> x(64, 1.0), w(27, 1.0), y(8), dy(8, 1.0), dx(64), dw(27), db(1);
  conv3d_fprop(s, x.data(), w.data(), static_cast<const double*>(nullptr), y.data());
  CHECK(y.body() == std::vector<double>{8, 12, 12, 18, 12, 18, 18, 27});
  // dgrad with dy = 1: dx[d] counts the (z, t) with 2z - 1 + t = d: {1, 2, 1, 1} per axis.
  conv3d_dgrad(s, dy.data(), w.data(), dx.data());
  const int cnt[4] = {1, 2, 1, 1};
  for (int d = 0; d < 4; ++d)
    for (int h = 0; h < 4; ++h)
      for (int v = 0; v < 4; ++v) CHECK(dx[(d * 4 + h) * 4 + v] == cnt[d] * cnt[h] * cnt[v]);
  // wgrad with x = dy = 1: dw[t] counts the z with 2z - 1 + t in [0, 4): {1, 2, 2} per axis.
  conv3d_wgrad(s, x.data(), dy.data(), dw.data(), db.data());
  const int taps[3] = {1, 2, 2};
  for (int t = 0; t < 3; ++t)
    for (int r = 0; r < 3; ++r)
      for (int u = 0; u < 3; ++u) CHECK(dw[(t * 3 + r) * 3 + u] == taps[t] * taps[r] * taps[u]);
  CHECK(db[0] == 8);
  CHECK_GUARD(y);
  CHECK_GUARD(dx);
  CHECK_GUARD(dw);
  CHECK_GUARD(db);
}

TEST_CASE("conv3d channel order: 1x1x1 kernel is a per-voxel matrix product over KTRSC w") {
  // Two voxels (W=2), C=2, K=2; w[k][c] = {{1, 10}, {100, 1000}}; bias {3, 4}.
  const Conv3dShape s = conv_shape(1, 1, 1, 2, 2, 2, 1, 1, 1);
  const auto x = from_list<double>({1, 2, 3, 4}), w = from_list<double>({1, 10, 100, 1000}),
             bias = from_list<double>({3, 4}), dy = from_list<double>({1, 2, 3, 4});
  Guarded<double> y(4), dx(4), dw(4), db(2);
  conv3d_fprop(s, x.data(), w.data(), bias.data(), y.data());
  CHECK(y.body() == std::vector<double>{24, 2104, 46, 4304});
  conv3d_dgrad(s, dy.data(), w.data(), dx.data());  // dx[c] = sum_k dy[k] w[k][c]
  CHECK(dx.body() == std::vector<double>{201, 2010, 403, 4030});
  conv3d_wgrad(s, x.data(), dy.data(), dw.data(), db.data());  // dw[k][c] = sum dy[k] x[c]
  CHECK(dw.body() == std::vector<double>{10, 14, 14, 20});
  CHECK(db.body() == std::vector<double>{4, 6});
  CHECK_GUARD(y);
  CHECK_GUARD(dx);
  CHECK_GUARD(dw);
  CHECK_GUARD(db);
}

TEST_CASE("conv_transpose3d 2x2x2 stride 2 is a scatter without overlap") {
  // x 2x2x2 = 1..8, w 2x2x2 = 1..8 (C = K = 1): y[2d+t, 2h+r, 2v+u] = x[d,h,v] * w[t,r,u].
  const ConvTranspose3dShape s = conv_transpose_shape(1, 2, 2, 2, 1, 1, 2, 2, 2, {2, 2, 2});
  Guarded<double> x(8), w(8), y(s.y_size());
  for (int i = 0; i < 8; ++i) x[i] = w[i] = i + 1;
  REQUIRE(s.Z() == 4);
  REQUIRE(s.y_size() == 64);
  conv_transpose3d_fprop(s, x.data(), w.data(), static_cast<const double*>(nullptr), y.data());
  CHECK(y[0] == 1);                     // x[0,0,0] * w[0,0,0]
  CHECK(y[(1 * 4 + 0) * 4 + 0] == 5);   // x[0,0,0] * w[1,0,0] = 1 * 5
  CHECK(y[(2 * 4 + 1) * 4 + 3] == 24);  // x[1,0,1] * w[0,1,1] = 6 * 4
  CHECK(y[63] == 64);                   // x[1,1,1] * w[1,1,1]
  for (int d = 0; d < 2; ++d)
    for (int h = 0; h < 2; ++h)
      for (int v = 0; v < 2; ++v)
        for (int t = 0; t < 2; ++t)
          for (int r = 0; r < 2; ++r)
            for (int u = 0; u < 2; ++u)
              CHECK(y[((2 * d + t) * 4 + 2 * h + r) * 4 + 2 * v + u] ==
                    x[(d * 2 + h) * 2 + v] * w[(t * 2 + r) * 2 + u]);
  CHECK_GUARD(y);
}

TEST_CASE("conv_transpose3d channel order, bias and padding by hand") {
  SUBCASE("1x1x1: y[k] = bias[k] + sum_c x[c] w[c][k], w laid out [C][T][R][S][K]") {
    const ConvTranspose3dShape s = conv_transpose_shape(1, 1, 1, 1, 2, 3, 1, 1, 1);
    const auto x = from_list<double>({1, 2}), w = from_list<double>({1, 2, 3, 10, 20, 30}),
               bias = from_list<double>({100, 200, 300}), dy = from_list<double>({1, 2, 3});
    Guarded<double> y(3), dx(2), dw(6), db(3);
    conv_transpose3d_fprop(s, x.data(), w.data(), bias.data(), y.data());
    CHECK(y.body() == std::vector<double>{121, 242, 363});
    conv_transpose3d_dgrad(s, dy.data(), w.data(), dx.data());  // dx[c] = sum_k dy[k] w[c][k]
    CHECK(dx.body() == std::vector<double>{14, 140});
    conv_transpose3d_wgrad(s, x.data(), dy.data(), dw.data(), db.data());  // x[c] dy[k]
    CHECK(dw.body() == std::vector<double>{1, 2, 3, 2, 4, 6});
    CHECK(db.body() == std::vector<double>{1, 2, 3});
    CHECK_GUARD(y);
    CHECK_GUARD(dx);
    CHECK_GUARD(dw);
    CHECK_GUARD(db);
  }
  SUBCASE("1-D stride 2, kernel 3, pad 1: full output [1, 2, 3+10, 20, 30] cropped by 1") {
    const ConvTranspose3dShape s =
        conv_transpose_shape(1, 1, 1, 2, 1, 1, 1, 1, 3, {1, 1, 2}, {0, 0, 1});
    REQUIRE(s.Q() == 3);
    const auto x = from_list<double>({1, 10}), w = from_list<double>({1, 2, 3});
    Guarded<double> y(3);
    conv_transpose3d_fprop(s, x.data(), w.data(), static_cast<const double*>(nullptr), y.data());
    CHECK(y.body() == std::vector<double>{2, 13, 20});
    CHECK_GUARD(y);
  }
}

TEST_CASE("max_pool3d by hand: ties go to the first maximum, padding is -inf, overlaps add") {
  SUBCASE("2x2x2 window, stride 2: a tie between scan positions 3 and 6 goes to 3") {
    const MaxPool3dShape s = pool_shape(1, 2, 2, 2, 1, 2, 2, 2, {2, 2, 2});
    const auto x = from_list<double>({1, 4, 2, 9, 0, 3, 9, 5});
    Guarded<double> y(1), dx(8);
    Guarded<std::int64_t> am(1);
    max_pool3d_fprop(s, x.data(), y.data(), am.data());
    CHECK(y[0] == 9);
    CHECK(am[0] == 3);
    const auto dy = from_list<double>({7});
    max_pool3d_bprop(s, dy.data(), am.data(), dx.data());
    CHECK(dx.body() == std::vector<double>{0, 0, 0, 7, 0, 0, 0, 0});
    // All equal: the first element of the window wins.
    const Guarded<double> flat(8, 2.0);
    max_pool3d_fprop(s, flat.data(), y.data(), am.data());
    CHECK(am[0] == 0);
    CHECK_GUARD(y);
    CHECK_GUARD(am);
    CHECK_GUARD(dx);
  }
  SUBCASE("padding never wins, even over negative values") {
    // W = 4, window 3, stride 2, pad 1: windows cover w = -1..1 and 1..3.
    const MaxPool3dShape s = pool_shape(1, 1, 1, 4, 1, 1, 1, 3, {1, 1, 2}, {0, 0, 1});
    REQUIRE(s.Q() == 2);
    const auto x = from_list<double>({-5, -3, -4, -1});
    Guarded<double> y(2);
    Guarded<std::int64_t> am(2);
    max_pool3d_fprop(s, x.data(), y.data(), am.data());
    CHECK(y.body() == std::vector<double>{-3, -1});
    CHECK(am.body() == std::vector<std::int64_t>{1, 3});
    // Windows of -inf still name a real element (the first), never the padding.
    const Guarded<double> ninf(4, -std::numeric_limits<double>::infinity());
    max_pool3d_fprop(s, ninf.data(), y.data(), am.data());
    CHECK(am.body() == std::vector<std::int64_t>{0, 1});
    CHECK(std::isinf(y[0]));
    CHECK_GUARD(y);
    CHECK_GUARD(am);
  }
  SUBCASE("overlapping windows with the same maximum add their gradients") {
    // W = 5, window 3, stride 1: all three windows hold the 9 at index 2.
    const MaxPool3dShape s = pool_shape(1, 1, 1, 5, 1, 1, 1, 3, {1, 1, 1});
    const auto x = from_list<double>({0, 1, 9, 2, 3}), dy = from_list<double>({1, 10, 100});
    Guarded<double> y(3), dx(5);
    Guarded<std::int64_t> am(3);
    max_pool3d_fprop(s, x.data(), y.data(), am.data());
    max_pool3d_bprop(s, dy.data(), am.data(), dx.data());
    CHECK(dx.body() == std::vector<double>{0, 0, 111, 0, 0});
    CHECK_GUARD(y);
    CHECK_GUARD(am);
    CHECK_GUARD(dx);
  }
  SUBCASE("NaN propagates and the first NaN takes the gradient") {
    const MaxPool3dShape s = pool_shape(1, 1, 1, 4, 1, 1, 1, 4, {1, 1, 1});
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const auto x = from_list<double>({1, nan, 5, nan});
    Guarded<double> y(1);
    Guarded<std::int64_t> am(1);
    max_pool3d_fprop(s, x.data(), y.data(), am.data());
    CHECK(std::isnan(y[0]));
    CHECK(am[0] == 1);
    max_pool3d_fprop(s, x.data(), y.data(), static_cast<std::int64_t*>(nullptr));  // optional
    CHECK(std::isnan(y[0]));
    CHECK_GUARD(y);
  }
}

TEST_CASE("shape sizes and validation messages") {
  const Conv3dShape c = conv_shape(2, 5, 6, 7, 3, 4, 3, 2, 1, {2, 1, 3}, {1, 0, 2});
  CHECK(c.Z() == 3);  // (5 + 2 - 3)/2 + 1
  CHECK(c.P() == 5);  // (6 - 2)/1 + 1
  CHECK(c.Q() == 4);  // (7 + 4 - 1)/3 + 1
  CHECK(c.x_size() == 2u * 5 * 6 * 7 * 3);
  CHECK(c.w_size() == 4u * 3 * 2 * 1 * 3);
  CHECK(c.y_size() == 2u * 3 * 5 * 4 * 4);
  CHECK_NOTHROW(c.validate());

  auto bad = c;
  bad.N = 0;
  CHECK(thrown_message([&] { bad.validate(); }).find("batch N is 0") != std::string::npos);
  bad = c;
  bad.stride_h = 0;
  CHECK(thrown_message([&] { bad.validate(); }).find("stride_h") != std::string::npos);
  bad = c;
  bad.pad_w = -1;
  CHECK(thrown_message([&] { bad.validate(); }).find("pad_w is -1") != std::string::npos);
  bad = c;
  bad.T = 8;  // 5 + 2 < 8: (5 + 2 - 8)/2 + 1 would truncate to 1 without the check
  CHECK(bad.Z() == 0);
  const std::string empty = thrown_message([&] { bad.validate(); });
  CHECK(empty.find("empty") != std::string::npos);
  CHECK(empty.find("conv3d N=2 DHW=5x6x7") == 0);
  // Kernels validate, and refuse null buffers.
  std::vector<double> buf(1000);
  CHECK_THROWS_AS(conv3d_fprop(bad, buf.data(), buf.data(), buf.data(), buf.data()),
                  std::invalid_argument);
  CHECK_THROWS_AS(conv3d_dgrad(c, buf.data(), static_cast<const double*>(nullptr), buf.data()),
                  std::invalid_argument);

  const ConvTranspose3dShape t =
      conv_transpose_shape(1, 3, 4, 2, 2, 5, 2, 3, 1, {2, 3, 1}, {1, 2, 0});
  CHECK(t.Z() == 4);  // (3-1)*2 - 2 + 2
  CHECK(t.P() == 8);  // (4-1)*3 - 4 + 3
  CHECK(t.Q() == 2);
  CHECK(t.w_size() == 2u * 2 * 3 * 1 * 5);
  CHECK(t.y_size() == 1u * 4 * 8 * 2 * 5);
  const Conv3dShape f = t.as_forward_conv();
  CHECK((f.D == 4 && f.H == 8 && f.W == 2 && f.C == 5 && f.K == 2));
  CHECK((f.Z() == t.D && f.P() == t.H && f.Q() == t.W));
  auto tbad = t;
  tbad.pad_w = 1;  // (2-1)*1 - 2 + 1 = 0
  CHECK(thrown_message([&] { tbad.validate(); }).find("crops away the whole output width") !=
        std::string::npos);
  CHECK_THROWS_AS(
      conv_transpose3d_wgrad(t, buf.data(), buf.data(), static_cast<double*>(nullptr), buf.data()),
      std::invalid_argument);

  const MaxPool3dShape p = pool_shape(1, 5, 4, 3, 2, 2, 3, 3, {2, 2, 1}, {1, 1, 0});
  CHECK(p.Z() == 3);  // (5 + 2 - 2)/2 + 1, floor
  CHECK(p.P() == 2);  // (4 + 2 - 3)/2 + 1, floor
  CHECK(p.Q() == 1);
  CHECK(p.y_size() == 1u * 3 * 2 * 1 * 2);
  auto pbad = p;
  pbad.pad_w = 2;
  CHECK(thrown_message([&] { pbad.validate(); }).find("more than half the window") !=
        std::string::npos);
  std::vector<std::int64_t> am(100);
  CHECK_THROWS_AS(
      max_pool3d_bprop(p, buf.data(), static_cast<const std::int64_t*>(nullptr), buf.data()),
      std::invalid_argument);
  CHECK_NOTHROW(max_pool3d_fprop(p, buf.data(), buf.data() + 500, am.data()));
}
