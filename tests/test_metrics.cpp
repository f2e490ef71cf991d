// Evaluation metrics (data/metrics.h) on cases worked out by hand, and the surface distances
// against a brute-force oracle that measures every pair of surface voxels.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>

#include "data/metrics.h"

using namespace ctv::data;

namespace {

Geometry grid(std::array<int, 3> dim, std::array<double, 3> spacing = {1, 1, 1}) {
  Eigen::Matrix4d a = Eigen::Matrix4d::Identity();
  for (int d = 0; d < 3; ++d) a(d, d) = spacing[d];
  return make_geometry(dim, a);
}

std::size_t at(const Geometry& g, int i, int j, int k) {
  return std::size_t(i) + std::size_t(g.dim[0]) * (std::size_t(j) + std::size_t(g.dim[1]) * k);
}

// Voxels lo <= (i, j, k) < hi set to 1.
std::vector<float> box(const Geometry& g, std::array<int, 3> lo, std::array<int, 3> hi) {
  std::vector<float> m(g.voxel_count(), 0.f);
  for (int k = lo[2]; k < hi[2]; ++k)
    for (int j = lo[1]; j < hi[1]; ++j)
      for (int i = lo[0]; i < hi[0]; ++i) m[at(g, i, j, k)] = 1.f;
  return m;
}

std::vector<float> voxels(const Geometry& g, std::vector<std::array<int, 3>> set) {
  std::vector<float> m(g.voxel_count(), 0.f);
  for (const auto& v : set) m[at(g, v[0], v[1], v[2])] = 1.f;
  return m;
}

std::vector<float> sphere(const Geometry& g, std::array<double, 3> c, double r) {
  std::vector<float> m(g.voxel_count(), 0.f);
  for (int k = 0; k < g.dim[2]; ++k)
    for (int j = 0; j < g.dim[1]; ++j)
      for (int i = 0; i < g.dim[0]; ++i) {
        const double x = i - c[0], y = j - c[1], z = k - c[2];
        m[at(g, i, j, k)] = x * x + y * y + z * z <= r * r ? 1.f : 0.f;
      }
  return m;
}

std::vector<std::uint8_t> binary(const std::vector<float>& m) {
  std::vector<std::uint8_t> b(m.size());
  for (std::size_t n = 0; n < m.size(); ++n) b[n] = m[n] > 0.5f;
  return b;
}

// The oracle: for each surface voxel of `from`, the smallest distance to any surface voxel of
// `to`, measured pair by pair in mm.
std::vector<double> brute_force_distances(const std::vector<std::uint8_t>& from,
                                          const std::vector<std::uint8_t>& to, const Geometry& g) {
  std::vector<std::array<double, 3>> targets;
  std::vector<double> out;
  auto position = [&](std::size_t n) {
    const int i = int(n % g.dim[0]), j = int(n / g.dim[0] % g.dim[1]),
              k = int(n / (std::size_t(g.dim[0]) * g.dim[1]));
    return std::array<double, 3>{i * g.spacing[0], j * g.spacing[1], k * g.spacing[2]};
  };
  for (std::size_t n = 0; n < to.size(); ++n)
    if (to[n]) targets.push_back(position(n));
  for (std::size_t n = 0; n < from.size(); ++n) {
    if (!from[n]) continue;
    const auto p = position(n);
    double best = INFINITY;
    for (const auto& t : targets)
      best = std::min(best, std::hypot(p[0] - t[0], p[1] - t[1], p[2] - t[2]));
    out.push_back(best);
  }
  return out;
}

}  // namespace

TEST_CASE("percentile with linear interpolation matches numpy worked by hand") {
  // numpy.percentile([1, 2, 3, 4, 10], q): h = 4 q / 100.
  const std::vector<double> v{10, 3, 1, 4, 2};              // unsorted on purpose
  CHECK(percentile_linear(v, 95) == doctest::Approx(8.8));  // h 3.8: 4 + 0.8 (10 - 4)
  CHECK(percentile_linear(v, 50) == 3.0);
  CHECK(percentile_linear(v, 0) == 1.0);
  CHECK(percentile_linear(v, 100) == 10.0);
  CHECK(percentile_linear(v, 10) == doctest::Approx(1.4));  // h 0.4
  CHECK(percentile_linear({0, 1}, 50) == 0.5);
  CHECK(percentile_linear({7}, 95) == 7.0);
  CHECK(std::isnan(percentile_linear({}, 50)));
  CHECK_THROWS_AS(percentile_linear(v, 101), std::invalid_argument);
  CHECK_THROWS_AS(percentile_linear(v, -1), std::invalid_argument);
}

TEST_CASE("surface: a voxel with a face neighbour outside the mask or the volume") {
  // A 3x3x3 cube inside a 5x5x5 volume: all but its centre are surface.
  const Geometry g5 = grid({5, 5, 5});
  auto s = mask_surface(binary(box(g5, {1, 1, 1}, {4, 4, 4})), g5.dim);
  CHECK(std::count(s.begin(), s.end(), 1) == 26);
  CHECK(s[at(g5, 2, 2, 2)] == 0);
  // The same cube in the volume's corner: out-of-volume counts as outside, still 26.
  s = mask_surface(binary(box(g5, {0, 0, 0}, {3, 3, 3})), g5.dim);
  CHECK(std::count(s.begin(), s.end(), 1) == 26);
  CHECK(s[at(g5, 1, 1, 1)] == 0);
  CHECK(s[at(g5, 0, 1, 1)] == 1);
  // A mask filling a 4x4x4 volume: only its 2x2x2 core is not surface.
  const Geometry g4 = grid({4, 4, 4});
  s = mask_surface(std::vector<std::uint8_t>(64, 1), g4.dim);
  CHECK(std::count(s.begin(), s.end(), 1) == 56);
  // A single slice (dim z = 1): every voxel is surface.
  const Geometry flat = grid({4, 4, 1});
  s = mask_surface(std::vector<std::uint8_t>(16, 1), flat.dim);
  CHECK(std::count(s.begin(), s.end(), 1) == 16);
  CHECK_THROWS_AS(mask_surface(std::vector<std::uint8_t>(5, 1), flat.dim), std::invalid_argument);
}

TEST_CASE("shifted strips: every surface metric counted by hand") {
  // One row of 8 voxels (every voxel is surface): P = {0, 1, 2}, R = {1, 2, 3, 4}.
  // P -> R: 1, 0, 0. R -> P: 0, 0, 1, 2. HD 2. Directed 95th: P->R h = 1.9 -> 0.9;
  // R->P h = 2.85 -> 1 + 0.85 = 1.85. Pooled {0,0,0,0,1,1,2}: mean 4/7, median 0.
  const Geometry g = grid({8, 1, 1});
  const Metrics m = compute_metrics(box(g, {0, 0, 0}, {3, 1, 1}), box(g, {1, 0, 0}, {5, 1, 1}), g);
  CHECK(m.dice == doctest::Approx(4.0 / 7.0));
  CHECK(m.precision == doctest::Approx(2.0 / 3.0));
  CHECK(m.recall == doctest::Approx(0.5));
  CHECK(m.hausdorff_mm == 2.0);
  CHECK(m.hausdorff95_mm == doctest::Approx(1.85));
  CHECK(m.hd95_pred_to_ref_mm == doctest::Approx(0.9));
  CHECK(m.hd95_ref_to_pred_mm == doctest::Approx(1.85));
  CHECK(m.mean_pred_to_ref_mm == doctest::Approx(1.0 / 3.0));
  CHECK(m.mean_ref_to_pred_mm == doctest::Approx(0.75));
  CHECK(m.mean_surface_distance_mm == doctest::Approx(4.0 / 7.0));
  CHECK(m.median_surface_distance_mm == 0.0);
  CHECK(m.pred_surface_voxels == 3);
  CHECK(m.ref_surface_voxels == 4);
  CHECK(m.warnings.empty());
}

TEST_CASE("strips with spacing 2 mm: median interpolates, distances scale with spacing") {
  // P = {0}, R = {3, 4, 5}: P -> R 3 voxels, R -> P 3, 4, 5 voxels; x 2 mm.
  // Pooled {6, 6, 8, 10} mm: mean 7.5, median 7; HD 10; R->P 95th: h = 1.9 -> 8 + 0.9 x 2 = 9.8.
  const Geometry g = grid({8, 1, 1}, {2, 1, 1});
  const Metrics m = compute_metrics(box(g, {0, 0, 0}, {1, 1, 1}), box(g, {3, 0, 0}, {6, 1, 1}), g);
  CHECK(m.dice == 0.0);
  CHECK(m.hausdorff_mm == 10.0);
  CHECK(m.hausdorff95_mm == doctest::Approx(9.8));
  CHECK(m.mean_surface_distance_mm == doctest::Approx(7.5));
  CHECK(m.median_surface_distance_mm == doctest::Approx(7.0));
}

TEST_CASE("cubes shifted by one voxel along x: 26-voxel surfaces worked by hand") {
  // P = [1,4)^3, R = P shifted +1 in x, in a 6^3 volume. P -> R: P's x=2 face (8 surface
  // voxels besides P's centre) and x=3 face lie on R's surface except R's centre (3,2,2),
  // 1 mm from R's surface; P's x=1 face is 1 mm from R's x=2 face. So 16 zeros and 10 ones,
  // and the same from R to P. HD 1, HD95 1 (h = 23.75 falls among the ones), mean 20/52,
  // median 0. DSC 2 x 18 / 54.
  const Geometry g = grid({6, 6, 6});
  const Metrics m = compute_metrics(box(g, {1, 1, 1}, {4, 4, 4}), box(g, {2, 1, 1}, {5, 4, 4}), g);
  CHECK(m.dice == doctest::Approx(2.0 / 3.0));
  CHECK(m.hausdorff_mm == 1.0);
  CHECK(m.hausdorff95_mm == 1.0);
  CHECK(m.mean_surface_distance_mm == doctest::Approx(20.0 / 52.0));
  CHECK(m.median_surface_distance_mm == 0.0);
}

TEST_CASE("anisotropic spacing 1 x 1 x 2.5: a shift of one slice is 2.5 mm") {
  // As the x-shift case but along z with 2.5 mm slices: P's bottom face is 2.5 mm from R's,
  // and P's top-face centre (R's centre) is 1 mm from R's surface in x or y, not 2.5.
  // P -> R: 16 zeros, one 1.0, nine 2.5; R -> P the same. Mean (2 + 18 x 2.5) / 52.
  const Geometry g = grid({6, 6, 6}, {1, 1, 2.5});
  const Metrics m = compute_metrics(box(g, {1, 1, 1}, {4, 4, 4}), box(g, {1, 1, 2}, {4, 4, 5}), g);
  CHECK(m.hausdorff_mm == 2.5);
  CHECK(m.hausdorff95_mm == 2.5);
  CHECK(m.mean_surface_distance_mm == doctest::Approx(47.0 / 52.0));
  CHECK(m.median_surface_distance_mm == 0.0);
  // Two single voxels one slice apart.
  const Metrics one = compute_metrics(voxels(g, {{2, 2, 2}}), voxels(g, {{2, 2, 3}}), g);
  CHECK(one.hausdorff_mm == 2.5);
  CHECK(one.hausdorff95_mm == 2.5);
  CHECK(one.mean_surface_distance_mm == 2.5);
  CHECK(one.median_surface_distance_mm == 2.5);
}

TEST_CASE("one-voxel masks: the distance between two voxel centres") {
  const Geometry g = grid({6, 5, 4}, {1, 1, 2.5});
  // (1,2,3) to (4,0,1): 3, 2 and 2 x 2.5 mm apart.
  const Metrics m = compute_metrics(voxels(g, {{1, 2, 3}}), voxels(g, {{4, 0, 1}}), g);
  CHECK(m.hausdorff_mm == doctest::Approx(std::sqrt(38.0)));
  CHECK(m.hausdorff95_mm == doctest::Approx(std::sqrt(38.0)));
  CHECK(m.median_surface_distance_mm == doctest::Approx(std::sqrt(38.0)));
  CHECK(m.dice == 0.0);
  const Metrics same = compute_metrics(voxels(g, {{5, 4, 3}}), voxels(g, {{5, 4, 3}}), g);
  CHECK(same.dice == 1.0);
  CHECK(same.hausdorff_mm == 0.0);
  CHECK(same.mean_surface_distance_mm == 0.0);
}

TEST_CASE("masks on the volume border: out-of-volume voxels are outside") {
  // P fills the whole 3x3x3 volume, R is P without its x = 2 face. P's surface is 26 voxels
  // (all but the centre); R's is all 18 of its voxels (its centre (1,1,1) touches x = 2,
  // outside R). P -> R: the x = 2 face (9 voxels) is 1 mm away, the rest 0; R -> P: 0, except
  // R's (1,1,1), 1 mm from P's surface. Pooled 44: ten ones.
  const Geometry g = grid({3, 3, 3});
  const Metrics m = compute_metrics(box(g, {0, 0, 0}, {3, 3, 3}), box(g, {0, 0, 0}, {2, 3, 3}), g);
  CHECK(m.pred_surface_voxels == 26);
  CHECK(m.ref_surface_voxels == 18);
  CHECK(m.hausdorff_mm == 1.0);
  CHECK(m.mean_surface_distance_mm == doctest::Approx(10.0 / 44.0));
  CHECK(m.dice == doctest::Approx(2.0 * 18.0 / 45.0));
  const Metrics full =
      compute_metrics(box(g, {0, 0, 0}, {3, 3, 3}), box(g, {0, 0, 0}, {3, 3, 3}), g);
  CHECK(full.dice == 1.0);
  CHECK(full.hausdorff_mm == 0.0);
}

TEST_CASE("concentric spheres: HD is the difference of the radii within a voxel") {
  const Geometry g = grid({40, 40, 40});
  const Metrics m = compute_metrics(sphere(g, {20, 20, 20}, 14), sphere(g, {20, 20, 20}, 8), g);
  CHECK(std::abs(m.hausdorff_mm - 6.0) <= 1.0);
  CHECK(std::abs(m.median_surface_distance_mm - 6.0) <= 1.0);
  CHECK(m.hausdorff95_mm <= m.hausdorff_mm);
  CHECK(m.recall == 1.0);  // the small sphere lies inside the large one
}

TEST_CASE("surface distances agree with a pair-by-pair oracle on random masks") {
  std::mt19937 rng(11);
  const Geometry g = grid({9, 7, 6}, {0.8, 1.3, 2.5});
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<float> p(g.voxel_count()), r(g.voxel_count());
    std::bernoulli_distribution coin(0.3 + 0.1 * trial);
    for (std::size_t n = 0; n < p.size(); ++n) {
      p[n] = coin(rng);
      r[n] = coin(rng);
    }
    const auto ps = mask_surface(binary(p), g.dim), rs = mask_surface(binary(r), g.dim);
    const auto fast = directed_surface_distances(ps, rs, g.dim, g.spacing);
    const auto slow = brute_force_distances(ps, rs, g);
    REQUIRE(fast.size() == slow.size());
    for (std::size_t i = 0; i < fast.size(); ++i) CHECK(fast[i] == doctest::Approx(slow[i]));
    // compute_metrics works on the box around both masks: same answer as the whole grid.
    const Metrics m = compute_metrics(p, r, g);
    auto back = brute_force_distances(rs, ps, g);
    std::vector<double> pooled = slow;
    pooled.insert(pooled.end(), back.begin(), back.end());
    CHECK(m.hausdorff_mm == doctest::Approx(*std::max_element(pooled.begin(), pooled.end())));
    CHECK(m.hausdorff95_mm ==
          doctest::Approx(std::max(percentile_linear(slow, 95), percentile_linear(back, 95))));
    CHECK(m.median_surface_distance_mm == doctest::Approx(percentile_linear(pooled, 50)));
  }
}

TEST_CASE("empty masks: surface metrics NaN with a warning naming the mask, DSC rules") {
  const Geometry g = grid({4, 4, 4});
  const auto empty = std::vector<float>(g.voxel_count(), 0.f);
  const auto some = box(g, {1, 1, 1}, {3, 3, 3});
  const Metrics no_pred = compute_metrics(empty, some, g);
  CHECK(no_pred.dice == 0.0);
  CHECK(std::isnan(no_pred.hausdorff_mm));
  CHECK(std::isnan(no_pred.hausdorff95_mm));
  CHECK(std::isnan(no_pred.mean_surface_distance_mm));
  CHECK(std::isnan(no_pred.median_surface_distance_mm));
  CHECK(std::isnan(no_pred.hd95_ref_to_pred_mm));
  CHECK(std::isnan(no_pred.mean_pred_to_ref_mm));
  REQUIRE(no_pred.warnings.size() == 1);
  CHECK(no_pred.warnings[0].find("prediction") != std::string::npos);
  CHECK(no_pred.volume_difference_percent == -100.0);

  const Metrics no_ref = compute_metrics(some, empty, g);
  REQUIRE(no_ref.warnings.size() == 1);
  CHECK(no_ref.warnings[0].find("reference") != std::string::npos);
  CHECK(std::isnan(no_ref.recall));
  CHECK(std::isnan(no_ref.volume_difference_percent));
  CHECK(std::isnan(no_ref.hausdorff_mm));

  const Metrics none = compute_metrics(empty, empty, g);
  CHECK(none.dice == 1.0);
  CHECK(std::isnan(none.median_surface_distance_mm));
  REQUIRE(none.warnings.size() == 1);
  CHECK(none.warnings[0].find("both") != std::string::npos);
}

TEST_CASE("volumes, volume difference and OAR overlap in cm3") {
  // Voxels of 2 x 2 x 2.5 = 10 mm3. P: 5x5x4 = 100 voxels, R: 4x5x4 = 80 voxels inside P.
  const Geometry g = grid({8, 8, 8}, {2, 2, 2.5});
  const auto p = box(g, {0, 0, 0}, {5, 5, 4}), r = box(g, {0, 0, 0}, {4, 5, 4});
  const auto heart = box(g, {4, 0, 0}, {8, 8, 8});  // overlaps P in 1x5x4 = 20 voxels
  const auto lung = box(g, {6, 6, 6}, {8, 8, 8});   // no overlap
  const Metrics m = compute_metrics(p, r, g, {{"heart", &heart}, {"lungs", &lung}});
  CHECK(m.pred_volume_cm3 == doctest::Approx(1.0));
  CHECK(m.ref_volume_cm3 == doctest::Approx(0.8));
  CHECK(m.volume_difference_cm3 == doctest::Approx(0.2));
  CHECK(m.volume_difference_percent == doctest::Approx(25.0));
  REQUIRE(m.oars.size() == 2);
  CHECK(m.oars[0].name == "heart");
  CHECK(m.oars[0].overlap_cm3 == doctest::Approx(0.2));
  CHECK(m.oars[1].overlap_cm3 == 0.0);
  const auto cols = metric_columns(m);
  CHECK(cols.front().name == "dice");
  CHECK(cols[cols.size() - 2].name == "ov_heart_cm3");
  CHECK(cols.back().name == "ov_lungs_cm3");
  const std::vector<float> wrong(7, 0.f);
  CHECK_THROWS_AS(compute_metrics(p, r, g, {{"heart", &wrong}}), std::invalid_argument);
  CHECK_THROWS_AS(compute_metrics(wrong, r, g), std::invalid_argument);
}

TEST_CASE("summary: mean, sample sd (n - 1), median, range, NaN skipped and counted") {
  const Summary s = summarize({4, 1, NAN, 3, 2});
  CHECK(s.n == 4);
  CHECK(s.nan_skipped == 1);
  CHECK(s.mean == doctest::Approx(2.5));
  CHECK(s.sd == doctest::Approx(std::sqrt(5.0 / 3.0)));  // squares 2.25+0.25+0.25+2.25 over 3
  CHECK(s.median == doctest::Approx(2.5));
  CHECK(s.min == 1.0);
  CHECK(s.max == 4.0);
  const Summary one = summarize({7});
  CHECK(one.mean == 7.0);
  CHECK(std::isnan(one.sd));
  const Summary none = summarize({NAN, NAN});
  CHECK(none.n == 0);
  CHECK(none.nan_skipped == 2);
  CHECK(std::isnan(none.mean));
  CHECK(std::isnan(none.median));
}

TEST_CASE("signed-rank test: exact two-sided p, ties and zeros as Wilcoxon's rule") {
  // Expected values by enumerating all 2^n sign patterns (in Python, outside this project).
  // Darwin's Zea mays differences (Fisher 1935), no ties: W+ = 96, p = 1352 / 32768.
  const SignedRankTest zea =
      signed_rank_test({6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75});
  CHECK(zea.n == 15);
  CHECK(zea.w_plus == 96.0);
  CHECK(zea.p == doctest::Approx(0.041259765625).epsilon(1e-12));
  // All five positive: only one pattern that extreme on each side.
  CHECK(signed_rank_test({1, 2, 3, 4, 5}).p == doctest::Approx(0.0625).epsilon(1e-12));
  // Ties share mean ranks, a zero is dropped, NaN skipped.
  const SignedRankTest tied = signed_rank_test({0.5, -0.5, 1, 1, -2, 3, 0, 3, -3, 4, NAN});
  CHECK(tied.n == 9);
  CHECK(tied.w_plus == 31.5);
  CHECK(tied.p == doctest::Approx(0.3203125).epsilon(1e-12));
  CHECK(signed_rank_test({-1.5, -2, -2, -0.1, 0.3}).p == doctest::Approx(0.1875).epsilon(1e-12));
  // Symmetric in sign: the same p for the negated differences.
  CHECK(
      signed_rank_test({-6, -8, -14, -16, -23, -24, -28, -29, -41, 48, -49, -56, -60, 67, -75}).p ==
      doctest::Approx(zea.p).epsilon(1e-12));
  const SignedRankTest nothing = signed_rank_test({0, 0, NAN});
  CHECK(nothing.n == 0);
  CHECK(std::isnan(nothing.p));
  CHECK_THROWS_AS(signed_rank_test(std::vector<double>(1001, 1.0)), std::invalid_argument);
}
