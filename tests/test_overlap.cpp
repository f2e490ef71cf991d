// Overlap metrics on masks small enough to count by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>

#include "data/overlap.h"

using ctv::data::count_overlap;

TEST_CASE("dice, precision and recall of two shifted boxes counted by hand") {
  // 1-D strips of 10 voxels: P = [2, 6), R = [4, 9): |P| 4, |R| 5, overlap 2.
  std::vector<float> p(10, 0.f), r(10, 0.f);
  for (int i = 2; i < 6; ++i) p[i] = 1.f;
  for (int i = 4; i < 9; ++i) r[i] = 1.f;
  const auto c = count_overlap(p, r);
  CHECK(c.pred == 4);
  CHECK(c.ref == 5);
  CHECK(c.both == 2);
  CHECK(c.dice() == doctest::Approx(4.0 / 9.0));
  CHECK(c.precision() == doctest::Approx(0.5));
  CHECK(c.recall() == doctest::Approx(0.4));
}

TEST_CASE("a mask is the voxels above 0.5") {
  const std::vector<float> p{0.5f, 0.51f, 1.f, 0.f}, r{1.f, 1.f, 0.49f, 0.f};
  const auto c = count_overlap(p, r);
  CHECK(c.pred == 2);
  CHECK(c.ref == 2);
  CHECK(c.both == 1);
}

TEST_CASE("empty masks: dice 1 when both are empty, precision and recall undefined") {
  const std::vector<float> zero(5, 0.f), one(5, 1.f);
  CHECK(count_overlap(zero, zero).dice() == 1.0);
  CHECK(std::isnan(count_overlap(zero, zero).precision()));
  CHECK(count_overlap(zero, one).dice() == 0.0);
  CHECK(std::isnan(count_overlap(zero, one).precision()));
  CHECK(count_overlap(zero, one).recall() == 0.0);
}

TEST_CASE("masks of different sizes are refused") {
  CHECK_THROWS_AS(count_overlap(std::vector<float>(3), std::vector<float>(4)),
                  std::invalid_argument);
}
