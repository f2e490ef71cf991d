// Resampling, crop/pad and the preprocessing plan: the grid convention by hand, a linear ramp
// reproduced exactly, bit-exact round trips where the spacing matches, a sphere through an
// anisotropic round trip, the iGTV-centroid crop, world positions through the whole chain,
// thread-count independence, and the full-size timing.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/LU>

#include "data/preprocess.h"
#include "data/resample.h"

using namespace ctv::data;

namespace {

std::size_t index(const Dim3& d, int i, int j, int k) {
  return std::size_t(i) + std::size_t(d[0]) * (std::size_t(j) + std::size_t(d[1]) * k);
}
std::size_t count(const Dim3& d) { return std::size_t(d[0]) * d[1] * d[2]; }

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Stored in RAS order (as many NIfTI writers do), field of view centred on the origin.
Geometry ras_geometry(const Dim3& d, const std::array<double, 3>& s) {
  Eigen::Matrix4d a = Eigen::Matrix4d::Identity();
  for (int c = 0; c < 3; ++c) {
    a(c, c) = s[c];
    a(c, 3) = -0.5 * (d[c] - 1) * s[c] + 3.7 * (c + 1);  // off the origin: offsets must matter
  }
  return make_geometry(d, a);
}

// Stored "SRA": voxel i runs Superior (spacing s_z), j Right (s_x), k Anterior (s_y), so the
// canonical frame permutes every axis and flips two.
Geometry sra_geometry(const Dim3& d, const std::array<double, 3>& canonical_spacing) {
  Eigen::Matrix4d a = Eigen::Matrix4d::Zero();
  a(2, 0) = canonical_spacing[2];
  a(0, 1) = canonical_spacing[0];
  a(1, 2) = canonical_spacing[1];
  a(3, 3) = 1;
  a.block<3, 1>(0, 3) = Eigen::Vector3d(-20.5, 11.25, -7.5);
  return make_geometry(d, a);
}

Volume random_volume(const Geometry& g, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> hu(-1000.f, 1500.f);
  Volume v;
  v.geometry = g;
  v.data.resize(g.voxel_count());
  for (float& x : v.data) x = hu(rng);
  return v;
}

// A ball of `radius` mm around world point `centre` (voxel centres inside).
Volume ball(const Geometry& g, const Eigen::Vector3d& centre, double radius) {
  Volume v;
  v.geometry = g;
  v.data.assign(g.voxel_count(), 0.f);
  std::size_t n = 0;
  for (int k = 0; k < g.dim[2]; ++k)
    for (int j = 0; j < g.dim[1]; ++j)
      for (int i = 0; i < g.dim[0]; ++i, ++n) {
        const Eigen::Vector3d w = (g.affine * Eigen::Vector4d(i, j, k, 1)).head<3>();
        if ((w - centre).norm() <= radius) v.data[n] = 1.f;
      }
  return v;
}

double sum(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return s;
}

Eigen::Vector3d centroid(const std::vector<float>& m, const Dim3& d) {
  Eigen::Vector3d s(0, 0, 0);
  double n = 0;
  for (int k = 0; k < d[2]; ++k)
    for (int j = 0; j < d[1]; ++j)
      for (int i = 0; i < d[0]; ++i)
        if (m[index(d, i, j, k)] > 0.5f) {
          s += Eigen::Vector3d(i, j, k);
          n += 1;
        }
  return s / n;
}

// Checks the round trip of a CT and a mask when the spacing matches: inside the crop every
// voxel comes back bit for bit, outside it is `outside`.
void check_exact_round_trip(const Geometry& g, const PreprocessConfig& config, bool expect_cut) {
  const Volume ct = random_volume(g, 11);
  Volume igtv = ball(g,
                     g.affine.block<3, 1>(0, 3) +
                         g.affine.block<3, 3>(0, 0) *
                             Eigen::Vector3d(g.dim[0] * 0.6, g.dim[1] * 0.45, g.dim[2] * 0.55),
                     6.0);
  REQUIRE(sum(igtv.data) > 0);
  const PreprocessPlan plan = plan_preprocessing(g, config, &igtv);
  for (int c = 0; c < 3; ++c) REQUIRE(plan.resampling[c].is_identity());
  const float outside = -12345.f;
  const std::vector<float> ct_back =
      from_network_grid(plan, to_network_grid(plan, ct, SampleKind::image), outside);
  const std::vector<float> igtv_back =
      from_network_grid(plan, to_network_grid(plan, igtv, SampleKind::mask), outside);
  std::size_t inside = 0, cut = 0, wrong_ct = 0, wrong_mask = 0;
  std::size_t n = 0;
  for (int k = 0; k < g.dim[2]; ++k)
    for (int j = 0; j < g.dim[1]; ++j)
      for (int i = 0; i < g.dim[0]; ++i, ++n) {
        const Eigen::Vector3d p = plan.network_index(Eigen::Vector3d(i, j, k));
        bool in = true;
        for (int c = 0; c < 3; ++c) {
          CHECK(p(c) == std::round(p(c)));  // integer-exact chain
          in = in && p(c) >= 0 && p(c) <= config.grid[c] - 1;
        }
        const float want_ct = in ? ct.data[n] : outside, want_mask = in ? igtv.data[n] : outside;
        inside += in;
        cut += !in;
        wrong_ct += std::memcmp(&ct_back[n], &want_ct, sizeof(float)) != 0;
        wrong_mask += std::memcmp(&igtv_back[n], &want_mask, sizeof(float)) != 0;
      }
  CHECK(inside > 0);
  CHECK((cut > 0) == expect_cut);
  CHECK(wrong_ct == 0);
  CHECK(wrong_mask == 0);
}

}  // namespace

TEST_CASE("grid convention: centred grids, hand-worked positions, identity when spacing matches") {
  const AxisMap up = axis_to_spacing(10, 1.0, 0.5);
  CHECK(up.in == 10);
  CHECK(up.out == 20);
  CHECK(up.step == 0.5);
  CHECK(up.position(0) == -0.25);  // first output centre a quarter input voxel before the first
  CHECK(up.position(19) == 9.25);
  CHECK(0.5 * (up.position(9) + up.position(10)) == 4.5);  // centres coincide
  const AxisMap down = axis_to_spacing(512, 0.98, 1.0);
  CHECK(down.out == 502);  // round(501.76)
  CHECK(std::abs(down.out * 1.0 - 512 * 0.98) <= 0.5);
  CHECK(axis_to_spacing(7, 2.5, 2.5).is_identity());
  CHECK(axis_to_spacing(7, 2.5000001f, 2.5).is_identity());  // float header rounding
  CHECK_FALSE(axis_to_spacing(7, 2.6, 2.5).is_identity());
  CHECK(axis_to_spacing(1, 3.0, 1.0).out == 3);
  CHECK(axis_to_spacing(1, 1.0, 10.0).out == 1);  // never an empty axis
  CHECK(up.inverse().position(int(4)) == doctest::Approx(0.5 * (20 - 1) + (4 - 4.5) / 0.5));
  CHECK_THROWS_AS(axis_to_spacing(0, 1, 1), std::invalid_argument);
  CHECK_THROWS_AS(axis_to_spacing(4, 1, 0), std::invalid_argument);
  CHECK_THROWS_AS(axis_to_spacing(4, std::nan(""), 1), std::invalid_argument);
}

TEST_CASE("trilinear of a linear ramp is exact (edge replication outside the centres)") {
  const Dim3 d{9, 6, 5};
  std::vector<float> ramp(count(d));
  auto f = [](double x, double y, double z) { return 3.0 * x - 2.0 * y + 5.0 * z - 7.0; };
  for (int k = 0; k < d[2]; ++k)
    for (int j = 0; j < d[1]; ++j)
      for (int i = 0; i < d[0]; ++i) ramp[index(d, i, j, k)] = float(f(i, j, k));
  auto clamp_to = [](double x, int n) { return std::clamp(x, 0.0, double(n - 1)); };

  SUBCASE("halving the spacing: weights 1/4 and 3/4, every value exact") {
    const std::array<AxisMap, 3> map{axis_to_spacing(d[0], 1, 0.5), axis_to_spacing(d[1], 2, 1),
                                     axis_to_spacing(d[2], 3, 1.5)};
    const std::vector<float> out = resample_linear(ramp, map);
    const Dim3 o{map[0].out, map[1].out, map[2].out};
    REQUIRE(out.size() == count(o));
    std::size_t wrong = 0;
    for (int k = 0; k < o[2]; ++k)
      for (int j = 0; j < o[1]; ++j)
        for (int i = 0; i < o[0]; ++i) {
          const double want =
              f(clamp_to(map[0].position(i), d[0]), clamp_to(map[1].position(j), d[1]),
                clamp_to(map[2].position(k), d[2]));
          wrong += out[index(o, i, j, k)] != float(want);
        }
    CHECK(wrong == 0);
  }
  SUBCASE("the paper's spacings (0.98, 0.98, 3 mm to 1, 1, 2.5 mm): exact up to float rounding") {
    const std::array<AxisMap, 3> map{axis_to_spacing(d[0], 0.98, 1), axis_to_spacing(d[1], 0.98, 1),
                                     axis_to_spacing(d[2], 3, 2.5)};
    const std::vector<float> out = resample_linear(ramp, map);
    const Dim3 o{map[0].out, map[1].out, map[2].out};
    double worst = 0;
    for (int k = 0; k < o[2]; ++k)
      for (int j = 0; j < o[1]; ++j)
        for (int i = 0; i < o[0]; ++i) {
          const double want =
              f(clamp_to(map[0].position(i), d[0]), clamp_to(map[1].position(j), d[1]),
                clamp_to(map[2].position(k), d[2]));
          worst = std::max(worst, std::abs(out[index(o, i, j, k)] - want));
        }
    CHECK(worst <= 1e-5);
  }
}

TEST_CASE("crop_or_pad: hand-worked offsets, and the negated offset undoes it") {
  const Dim3 d{3, 2, 2};
  std::vector<float> v(count(d));
  for (std::size_t n = 0; n < v.size(); ++n) v[n] = float(n + 1);
  // Pad x by one on each side, crop y to its second row, keep z.
  const std::vector<float> out = crop_or_pad(v, d, {5, 1, 2}, {-1, 1, 0}, -9.f);
  const std::vector<float> want{-9, 4, 5, 6, -9, -9, 10, 11, 12, -9};
  CHECK(out == want);
  const std::vector<float> back = crop_or_pad(out, {5, 1, 2}, d, {1, -1, 0}, 0.f);
  const std::vector<float> want_back{0, 0, 0, 4, 5, 6, 0, 0, 0, 10, 11, 12};
  CHECK(back == want_back);
  CHECK(crop_or_pad(v, d, {2, 2, 2}, {7, 0, 0}, 1.5f) == std::vector<float>(8, 1.5f));
  CHECK_THROWS_AS(crop_or_pad(v, {3, 2, 3}, d, {0, 0, 0}, 0.f), std::invalid_argument);
}

TEST_CASE("round trip is bit-exact where the spacing matches: CT and mask, both crop rules") {
  const std::array<double, 3> s{1, 1, 2.5};
  for (const CropRule rule : {CropRule::image_centre, CropRule::igtv_centroid}) {
    const std::string rule_name = crop_rule_name(rule);
    CAPTURE(rule_name);
    PreprocessConfig c;
    c.spacing = s;
    SUBCASE("RAS storage, odd sizes, the grid pads every axis") {
      c.grid = {45, 40, 26};
      check_exact_round_trip(ras_geometry({37, 31, 21}, s), c, /*expect_cut=*/false);
    }
    SUBCASE("RAS storage, odd sizes, the grid crops every axis") {
      c.grid = {30, 23, 14};
      check_exact_round_trip(ras_geometry({37, 31, 21}, s), c, /*expect_cut=*/true);
    }
    SUBCASE("SRA storage (permuted and flipped), pad x, crop y and z") {
      c.grid = {40, 25, 14};
      check_exact_round_trip(sra_geometry({21, 37, 31}, s), c, /*expect_cut=*/true);
    }
  }
}

TEST_CASE("anisotropic round trip of a sphere: volume within 2%, boundary within one voxel") {
  // A typical planning CT's in-plane and slice spacings, to the network's 1 x 1 x 2.5 mm.
  const std::array<double, 3> s{0.98, 0.98, 3.0};
  const Geometry g = ras_geometry({97, 91, 33}, s);
  const double radius = 20;
  const Eigen::Vector3d centre =
      (g.affine * Eigen::Vector4d(48.3, 44.1, 16.4, 1)).head<3>();  // off the voxel lattice
  const Volume sphere = ball(g, centre, radius);
  const double analytic = 4.0 / 3.0 * std::numbers::pi * radius * radius * radius;
  REQUIRE(std::abs(sum(sphere.data) * g.voxel_volume_mm3() / analytic - 1) < 0.02);

  for (const CropRule rule : {CropRule::image_centre, CropRule::igtv_centroid}) {
    const std::string rule_name = crop_rule_name(rule);
    CAPTURE(rule_name);
    PreprocessConfig c;
    c.grid = {87, 101, 35};  // crops x, pads y and z; odd sizes
    c.crop = rule;
    const PreprocessPlan plan = plan_preprocessing(g, c, &sphere);
    CHECK_FALSE(plan.resampling[0].is_identity());
    CHECK_FALSE(plan.resampling[2].is_identity());
    const std::vector<float> net = to_network_grid(plan, sphere, SampleKind::mask);
    const double net_volume = sum(net) * 1 * 1 * 2.5;
    CHECK(std::abs(net_volume / analytic - 1) < 0.02);

    const std::vector<float> prob = from_network_grid(plan, net);
    std::vector<float> back(prob.size());
    for (std::size_t n = 0; n < prob.size(); ++n) back[n] = prob[n] > 0.5f ? 1.f : 0.f;
    CHECK(std::abs(sum(back) / sum(sphere.data) - 1) < 0.02);
    // Every voxel that changed lies on the original boundary: some 26-neighbour differs.
    const Dim3& d = g.dim;
    std::size_t changed = 0, off_boundary = 0;
    for (int k = 0; k < d[2]; ++k)
      for (int j = 0; j < d[1]; ++j)
        for (int i = 0; i < d[0]; ++i) {
          const float v = sphere.data[index(d, i, j, k)];
          if (back[index(d, i, j, k)] == v) continue;
          ++changed;
          bool boundary = false;
          for (int dk = -1; dk <= 1; ++dk)
            for (int dj = -1; dj <= 1; ++dj)
              for (int di = -1; di <= 1; ++di) {
                const int a = i + di, b = j + dj, e = k + dk;
                if (a < 0 || b < 0 || e < 0 || a >= d[0] || b >= d[1] || e >= d[2]) continue;
                boundary = boundary || sphere.data[index(d, a, b, e)] != v;
              }
          off_boundary += !boundary;
        }
    MESSAGE(rule_name << ": " << changed << " voxels changed on the round trip of "
                      << sum(sphere.data) << "; volume on the source grid "
                      << sum(sphere.data) * g.voxel_volume_mm3() / analytic * 100
                      << "% of the sphere's, on the network grid " << net_volume / analytic * 100
                      << "%");
    CHECK(off_boundary == 0);
  }
}

TEST_CASE("crop around the iGTV centroid puts the centroid at the grid centre") {
  const std::array<double, 3> s{1, 1, 2.5};
  PreprocessConfig c;
  c.crop = CropRule::igtv_centroid;
  SUBCASE("matching spacing: the network mask's own centroid, for odd and even grids") {
    const Geometry g = ras_geometry({80, 70, 40}, s);
    for (const Dim3 grid : {Dim3{31, 27, 11}, Dim3{32, 28, 12}}) {
      c.grid = grid;
      for (const Eigen::Vector3d& frac :
           {Eigen::Vector3d(0.3, 0.7, 0.4), Eigen::Vector3d(0.61, 0.33, 0.71)}) {
        const Eigen::Vector3d at =
            (g.affine * Eigen::Vector4d(frac(0) * 80, frac(1) * 70, frac(2) * 40, 1)).head<3>();
        const Volume igtv = ball(g, at, 7.3);
        const PreprocessPlan plan = plan_preprocessing(g, c, &igtv);
        const Eigen::Vector3d m = centroid(to_network_grid(plan, igtv, SampleKind::mask), grid);
        for (int a = 0; a < 3; ++a) CHECK(std::abs(m(a) - 0.5 * (grid[a] - 1)) <= 0.5);
      }
    }
  }
  SUBCASE("with resampling and reorientation: mapped centroid within half a voxel") {
    const Geometry g = sra_geometry({30, 90, 80}, {0.8, 0.9, 3.0});
    c.grid = {41, 36, 19};
    const Eigen::Vector3d at = (g.affine * Eigen::Vector4d(11.2, 60.5, 24.9, 1)).head<3>();
    const Volume igtv = ball(g, at, 9.0);
    const PreprocessPlan plan = plan_preprocessing(g, c, &igtv);
    const Eigen::Vector3d m = centroid(to_network_grid(plan, igtv, SampleKind::mask), c.grid);
    // The network mask's centroid moves from the mapped one only by the resampling's rounding.
    for (int a = 0; a < 3; ++a) CHECK(std::abs(m(a) - 0.5 * (c.grid[a] - 1)) <= 0.6);
    // And the mapped world centroid itself is within half a voxel, exactly.
    const Eigen::Vector3d w =
        plan.network_affine.inverse().block<3, 4>(0, 0) * Eigen::Vector4d(at(0), at(1), at(2), 1);
    for (int a = 0; a < 3; ++a) CHECK(std::abs(w(a) - 0.5 * (c.grid[a] - 1)) <= 0.5 + 0.05);
  }
  SUBCASE("an empty iGTV or none is refused") {
    const Geometry g = ras_geometry({10, 10, 10}, s);
    Volume empty;
    empty.geometry = g;
    empty.data.assign(g.voxel_count(), 0.f);
    CHECK_THROWS_WITH_AS(plan_preprocessing(g, c, &empty),
                         "cannot centre the crop on an empty iGTV", std::invalid_argument);
    CHECK_THROWS_AS(plan_preprocessing(g, c), std::invalid_argument);
  }
}

TEST_CASE("image-centre crop puts the resampled volume's centre within half a voxel") {
  const Geometry g = ras_geometry({101, 90, 31}, {0.98, 0.98, 3});
  for (const Dim3 grid : {Dim3{64, 64, 16}, Dim3{65, 63, 17}, Dim3{120, 121, 41}}) {
    PreprocessConfig c;
    c.grid = grid;
    const PreprocessPlan plan = plan_preprocessing(g, c);
    const Dim3 m = plan.resampled_dim();
    for (int a = 0; a < 3; ++a)
      CHECK(std::abs(0.5 * (m[a] - 1) - plan.crop_offset[a] - 0.5 * (grid[a] - 1)) <= 0.5);
  }
}

TEST_CASE("network voxels sit where network_affine says: a world-linear CT through the chain") {
  // CT value = a linear function of the world position: after reorientation, resampling and
  // crop, each network voxel must hold the function at its own world position.
  const Geometry g = sra_geometry({24, 50, 44}, {0.9, 1.1, 3.0});
  Volume ct;
  ct.geometry = g;
  ct.data.resize(g.voxel_count());
  auto f = [](const Eigen::Vector3d& w) { return 2.0 * w(0) - 3.0 * w(1) + 0.5 * w(2) + 10; };
  std::size_t n = 0;
  for (int k = 0; k < g.dim[2]; ++k)
    for (int j = 0; j < g.dim[1]; ++j)
      for (int i = 0; i < g.dim[0]; ++i, ++n)
        ct.data[n] = float(f((g.affine * Eigen::Vector4d(i, j, k, 1)).head<3>()));
  PreprocessConfig c;
  c.grid = {36, 40, 20};
  const PreprocessPlan plan = plan_preprocessing(g, c);
  CHECK(plan.network_geometry().dim == c.grid);
  const std::vector<float> net = to_network_grid(plan, ct, SampleKind::image);
  const Eigen::Matrix4d to_source = g.affine.inverse() * plan.network_affine;
  double worst = 0;
  std::size_t checked = 0;
  for (int k = 0; k < c.grid[2]; ++k)
    for (int j = 0; j < c.grid[1]; ++j)
      for (int i = 0; i < c.grid[0]; ++i) {
        const Eigen::Vector4d s = to_source * Eigen::Vector4d(i, j, k, 1);
        bool interior = true;  // away from edge replication and padding
        for (int a = 0; a < 3; ++a) interior = interior && s(a) >= 0 && s(a) <= g.dim[a] - 1;
        if (!interior) continue;
        const Eigen::Vector3d w = (plan.network_affine * Eigen::Vector4d(i, j, k, 1)).head<3>();
        worst = std::max(worst, std::abs(net[index(c.grid, i, j, k)] - f(w)));
        ++checked;
      }
  CHECK(checked > 10000);
  CHECK(worst < 1e-3);
}

TEST_CASE("results do not depend on the thread count") {
  const Geometry g = ras_geometry({61, 47, 23}, {0.98, 0.98, 3});
  const Volume ct = random_volume(g, 5);
  PreprocessConfig c;
  c.grid = {50, 50, 30};
  const PreprocessPlan plan = plan_preprocessing(g, c);
  const std::vector<float> one = to_network_grid(plan, ct, SampleKind::image, 1);
  CHECK(same_bits(one, to_network_grid(plan, ct, SampleKind::image, 3)));
  CHECK(same_bits(one, to_network_grid(plan, ct, SampleKind::image, 8)));
  CHECK(same_bits(from_network_grid(plan, one, 0, 1), from_network_grid(plan, one, 0, 5)));
}

TEST_CASE("config faults, window, clearance and refused inputs") {
  PreprocessConfig c;
  CHECK(preprocess_config_fault(c).empty());
  c.spacing[2] = 0;
  CHECK(preprocess_config_fault(c) == "spacing z 0 mm is not in (0, 100]");
  c = {};
  c.grid[1] = 0;
  CHECK(preprocess_config_fault(c) == "grid y 0 voxels is not in 1..4096");
  c = {};
  c.window.lo = 500;
  c.window.hi = 400;
  CHECK_FALSE(preprocess_config_fault(c).empty());
  CHECK_THROWS_AS(plan_preprocessing(ras_geometry({4, 4, 4}, {1, 1, 1}), c), std::invalid_argument);
  CHECK(parse_crop_rule(crop_rule_name(CropRule::igtv_centroid)) == CropRule::igtv_centroid);
  CHECK_THROWS_AS(parse_crop_rule("centre"), std::invalid_argument);

  const HuWindow w;  // clip [-1000, 1000], / 1000
  CHECK(w.apply(-3000.f) == -1.f);
  CHECK(w.apply(40.f) == 0.04f);
  CHECK(w.apply(1900.f) == 1.f);

  // Clearance: a 5 mm ball 10 voxels from the x edge of a 1 mm grid.
  const Geometry g = ras_geometry({40, 40, 16}, {1, 1, 2.5});
  c = {};
  c.grid = {40, 40, 16};
  const PreprocessPlan plan = plan_preprocessing(g, c);
  const Volume near_edge = ball(g, (g.affine * Eigen::Vector4d(15, 20, 8, 1)).head<3>(), 5.0);
  // RAS voxel i = 15 is canonical (Left-pointing) x = 24; the ball reaches canonical x = 29.
  CHECK(crop_clearance_mm(plan, near_edge) == doctest::Approx(39 - 29 - 0.0));
  Volume outside = near_edge;
  outside.data.assign(outside.data.size(), 0.f);
  outside.data[0] = 1.f;  // a corner voxel, on the grid's edge
  CHECK(crop_clearance_mm(plan, outside) == 0.0);
  c.grid = {30, 40, 16};  // crop 5 voxels from each x side: the corner falls out
  CHECK(crop_clearance_mm(plan_preprocessing(g, c), outside) == -5.0);

  // A mask whose header differs within the SPEC tolerance (origin 5e-4 mm off) is accepted.
  Geometry close = g;
  close.affine(0, 3) += 5e-4;
  Volume shifted = random_volume(close, 2);
  CHECK(to_network_grid(plan, shifted, SampleKind::mask).size() == 40 * 40 * 16);
  Volume wrong = random_volume(ras_geometry({40, 40, 17}, {1, 1, 2.5}), 1);
  CHECK_THROWS_AS(to_network_grid(plan, wrong, SampleKind::image), std::invalid_argument);
  CHECK_THROWS_AS(from_network_grid(plan, std::vector<float>(5)), std::invalid_argument);
}

TEST_CASE("full size: 512x512x120 CT at 0.98x0.98x3 mm to 1x1x2.5 mm and back, one core") {
  const Geometry g = ras_geometry({512, 512, 120}, {0.98, 0.98, 3});
  Volume ct;
  ct.geometry = g;
  ct.data.assign(g.voxel_count(), -1000.f);
  for (int k = 30; k < 90; ++k)
    for (int j = 100; j < 400; ++j)
      for (int i = 80; i < 430; ++i) ct.at(i, j, k) = 40.f;
  PreprocessConfig c;  // 416 x 288 x 128 around the image centre
  const PreprocessPlan plan = plan_preprocessing(g, c);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<float> net = to_network_grid(plan, ct, SampleKind::image);
  const auto t1 = std::chrono::steady_clock::now();
  const std::vector<float> back = from_network_grid(plan, net, -1000.f);
  const auto t2 = std::chrono::steady_clock::now();
  const std::vector<float> net2 = to_network_grid(plan, ct, SampleKind::image, 2);
  const auto t3 = std::chrono::steady_clock::now();
  MESSAGE("512x512x120 -> " << plan.resampled_dim()[0] << "x" << plan.resampled_dim()[1] << "x"
                            << plan.resampled_dim()[2] << " -> 416x288x128: forward "
                            << std::chrono::duration<double>(t1 - t0).count() << " s, inverse "
                            << std::chrono::duration<double>(t2 - t1).count()
                            << " s (one core); forward on 2 threads "
                            << std::chrono::duration<double>(t3 - t2).count() << " s");
  CHECK(same_bits(net, net2));
  // Constant regions stay exactly constant: the network centre is soft tissue, a corner air.
  CHECK(net[index(c.grid, 208, 144, 64)] == 40.f);
  CHECK(net[0] == -1000.f);
  CHECK(back[ct.index(256, 250, 60)] == 40.f);
  CHECK(back[ct.index(5, 5, 5)] == -1000.f);
}
