// Exact Euclidean distance transforms against hand-worked distances and brute force.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "data/distance_transform.h"

using ctv::data::directional_squared_distance_to_mask;
using ctv::data::squared_distance_to_mask;
using Dim = std::array<int, 3>;
using Spacing = std::array<double, 3>;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::size_t index(const Dim& d, int i, int j, int k) {
  return std::size_t(i) + std::size_t(d[0]) * (std::size_t(j) + std::size_t(d[1]) * k);
}

// The definition: min over every set voxel g of sum_a (c_a s_a (x_a - g_a))^2, with c_a chosen
// by the sign of x_a - g_a. O(n^2): the spec the fast transforms are held to.
std::vector<double> brute_force(const std::vector<std::uint8_t>& mask, const Dim& d,
                                const Spacing& s, const Spacing& plus = {1, 1, 1},
                                const Spacing& minus = {1, 1, 1}) {
  std::vector<double> out(mask.size(), kInf);
  for (int k = 0; k < d[2]; ++k)
    for (int j = 0; j < d[1]; ++j)
      for (int i = 0; i < d[0]; ++i) {
        double best = kInf;
        for (int gk = 0; gk < d[2]; ++gk)
          for (int gj = 0; gj < d[1]; ++gj)
            for (int gi = 0; gi < d[0]; ++gi) {
              if (!mask[index(d, gi, gj, gk)]) continue;
              const int x[3] = {i, j, k}, g[3] = {gi, gj, gk};
              double sum = 0;
              for (int a = 0; a < 3; ++a) {
                const int t = x[a] - g[a];
                if (t == 0) continue;
                const double c = t > 0 ? plus[a] : minus[a];
                const double v = c * s[a] * t;
                sum += v * v;
              }
              best = std::min(best, sum);
            }
        out[index(d, i, j, k)] = best;
      }
  return out;
}

std::vector<std::uint8_t> random_mask(const Dim& d, double fill, std::mt19937& rng) {
  std::bernoulli_distribution on(fill);
  std::vector<std::uint8_t> m(static_cast<std::size_t>(d[0]) * d[1] * d[2]);
  for (auto& v : m) v = on(rng) ? 1 : 0;
  return m;
}

// Same infinities, finite values equal to 1e-9 relative.
void check_same(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const bool ok = (std::isinf(want[i]) && std::isinf(got[i])) ||
                    std::abs(got[i] - want[i]) <= 1e-9 * std::max(1.0, want[i]);
    if (!ok && bad++ < 5) FAIL_CHECK("voxel " << i << ": got " << got[i] << ", want " << want[i]);
  }
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("single voxel: squared Euclidean distance with spacing 1, 1, 2.5") {
  const Dim d{7, 6, 5};
  const Spacing s{1, 1, 2.5};
  std::vector<std::uint8_t> m(std::size_t(7 * 6 * 5), 0);
  m[index(d, 3, 2, 1)] = 1;
  const auto dist = squared_distance_to_mask(m, d, s);
  for (int k = 0; k < 5; ++k)
    for (int j = 0; j < 6; ++j)
      for (int i = 0; i < 7; ++i) {
        const double dx = i - 3, dy = j - 2, dz = 2.5 * (k - 1);
        CHECK(dist[index(d, i, j, k)] == dx * dx + dy * dy + dz * dz);
      }
  CHECK(dist[index(d, 3, 2, 1)] == 0.0);
  CHECK(dist[index(d, 0, 0, 4)] == 9 + 4 + 56.25);
}

TEST_CASE("empty mask: every distance is infinite") {
  const Dim d{4, 3, 5};
  const std::vector<std::uint8_t> m(60, 0);
  for (double v : squared_distance_to_mask(m, d, {1, 2, 3})) CHECK(v == kInf);
  for (double v : directional_squared_distance_to_mask(m, d, {1, 2, 3}, {1, 1, 1}, {2, 2, 2}))
    CHECK(v == kInf);
}

TEST_CASE("mask on the border: a corner voxel and a full face") {
  const Dim d{5, 4, 3};
  const Spacing s{0.8, 1.5, 2.0};
  std::vector<std::uint8_t> corner(60, 0);
  corner[index(d, 4, 3, 2)] = 1;
  const auto dc = squared_distance_to_mask(corner, d, s);
  CHECK(dc[index(d, 0, 0, 0)] ==
        doctest::Approx(std::pow(4 * 0.8, 2) + std::pow(3 * 1.5, 2) + std::pow(2 * 2.0, 2)));
  std::vector<std::uint8_t> face(60, 0);
  for (int j = 0; j < 4; ++j)
    for (int i = 0; i < 5; ++i) face[index(d, i, j, 0)] = 1;
  const auto df = squared_distance_to_mask(face, d, s);
  for (int k = 0; k < 3; ++k)
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < 5; ++i) CHECK(df[index(d, i, j, k)] == (2.0 * k) * (2.0 * k));
}

TEST_CASE("brute force agreement on small random volumes, sparse and dense") {
  std::mt19937 rng(12345);
  const Dim dims[] = {{1, 1, 1}, {1, 1, 9}, {9, 1, 1}, {1, 8, 1}, {7, 5, 6}, {6, 9, 4}, {11, 3, 7}};
  const Spacing spacings[] = {{1, 1, 1}, {1, 1, 2.5}, {0.7, 1.3, 2.1}, {3.0, 0.45, 1.0}};
  for (const Dim& d : dims)
    for (const Spacing& s : spacings)
      for (double fill : {0.02, 0.1, 0.5, 0.95}) {
        CAPTURE(d[0]);
        CAPTURE(d[1]);
        CAPTURE(d[2]);
        CAPTURE(fill);
        const auto m = random_mask(d, fill, rng);
        check_same(squared_distance_to_mask(m, d, s), brute_force(m, d, s));
      }
}

TEST_CASE("directional transform against brute force, zero and infinite reach included") {
  std::mt19937 rng(777);
  std::uniform_real_distribution<double> scale(0.3, 3.0);
  const Dim dims[] = {{7, 5, 6}, {9, 4, 5}, {1, 6, 8}};
  const Spacing s{0.9, 1.1, 2.5};
  for (const Dim& d : dims)
    for (int trial = 0; trial < 6; ++trial) {
      Spacing plus{scale(rng), scale(rng), scale(rng)}, minus{scale(rng), scale(rng), scale(rng)};
      if (trial == 1) plus = {kInf, 1, 1};  // no reach toward +x
      if (trial == 2) minus = {1, kInf, kInf};
      if (trial == 3) plus = minus = {kInf, kInf, kInf};  // the mask itself
      const auto m = random_mask(d, trial % 2 ? 0.03 : 0.15, rng);
      CAPTURE(trial);
      check_same(directional_squared_distance_to_mask(m, d, s, plus, minus),
                 brute_force(m, d, s, plus, minus));
    }
}

TEST_CASE("directional transform with unit scales equals the plain transform exactly") {
  std::mt19937 rng(99);
  const Dim d{13, 11, 9};
  const Spacing s{1, 1, 2.5};  // products exact in double: the two must agree to the bit
  const auto m = random_mask(d, 0.01, rng);
  CHECK(directional_squared_distance_to_mask(m, d, s, {1, 1, 1}, {1, 1, 1}) ==
        squared_distance_to_mask(m, d, s));
}

TEST_CASE("bad arguments are refused") {
  const std::vector<std::uint8_t> m(8, 1);
  CHECK_THROWS_AS(squared_distance_to_mask(m, {2, 2, 3}, {1, 1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(squared_distance_to_mask(m, {2, 2, 2}, {1, 0, 1}), std::invalid_argument);
  CHECK_THROWS_AS(squared_distance_to_mask(m, {2, 2, 2}, {1, 1, kInf}), std::invalid_argument);
  CHECK_THROWS_AS(
      directional_squared_distance_to_mask(m, {2, 2, 2}, {1, 1, 1}, {1, 0, 1}, {1, 1, 1}),
      std::invalid_argument);
}

TEST_CASE("speed on the paper grid 416 x 288 x 128 (printed, not asserted)") {
  const Dim d{416, 288, 128};
  std::vector<std::uint8_t> m(static_cast<std::size_t>(d[0]) * d[1] * d[2], 0);
  // A tumour-sized ball of radius 15 voxels in the middle.
  for (int k = 50; k < 78; ++k)
    for (int j = 130; j < 160; ++j)
      for (int i = 190; i < 220; ++i)
        if ((i - 205) * (i - 205) + (j - 145) * (j - 145) + (k - 64) * (k - 64) <= 225)
          m[index(d, i, j, k)] = 1;
  const auto t0 = std::chrono::steady_clock::now();
  const auto dist = squared_distance_to_mask(m, d, {1, 1, 2.5});
  const auto t1 = std::chrono::steady_clock::now();
  const auto dir = directional_squared_distance_to_mask(m, d, {1, 1, 2.5}, {1, 2, 1}, {0.5, 1, 1});
  const auto t2 = std::chrono::steady_clock::now();
  MESSAGE("416x288x128 spacing 1,1,2.5, one core: exact EDT "
          << std::chrono::duration<double, std::milli>(t1 - t0).count() << " ms, directional "
          << std::chrono::duration<double, std::milli>(t2 - t1).count() << " ms");
  CHECK(dist[index(d, 205, 145, 64)] == 0.0);
  CHECK(dist[index(d, 205, 145, 90)] == 32.5 * 32.5);  // 13 slices above the top voxel
  CHECK(dir[index(d, 205, 145, 64)] == 0.0);
}
