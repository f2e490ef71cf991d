// Cropped expansion: analytic volumes, brute force on the margin definition, crops, body,
// patient directions whatever the storage order, and zero margins.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <stdexcept>
#include <vector>

#include "data/distance_transform.h"
#include "data/expansion.h"

using namespace ctv::data;
using Dim = std::array<int, 3>;
using Spacing = std::array<double, 3>;

namespace {

std::size_t index(const Dim& d, int i, int j, int k) {
  return std::size_t(i) + std::size_t(d[0]) * (std::size_t(j) + std::size_t(d[1]) * k);
}

std::vector<std::uint8_t> random_mask(const Dim& d, double fill, std::mt19937& rng) {
  std::bernoulli_distribution on(fill);
  std::vector<std::uint8_t> m(static_cast<std::size_t>(d[0]) * d[1] * d[2]);
  for (auto& v : m) v = on(rng) ? 1 : 0;
  return m;
}

// The header's definition, on the canonical grid (+0 Left, +1 Posterior, +2 Superior).
std::vector<std::uint8_t> brute_force_grow(const std::vector<std::uint8_t>& mask, const Dim& d,
                                           const Spacing& s, const Margins& m) {
  const double plus[3] = {m.left, m.post, m.sup}, minus[3] = {m.right, m.ant, m.inf};
  std::vector<std::uint8_t> out(mask.size(), 0);
  for (int k = 0; k < d[2]; ++k)
    for (int j = 0; j < d[1]; ++j)
      for (int i = 0; i < d[0]; ++i)
        for (std::size_t g = 0; g < mask.size() && !out[index(d, i, j, k)]; ++g) {
          if (!mask[g]) continue;
          const int gx[3] = {int(g % d[0]), int(g / d[0] % d[1]), int(g / d[0] / d[1])};
          const int x[3] = {i, j, k};
          double sum = 0;
          for (int a = 0; a < 3; ++a) {
            const double t = (x[a] - gx[a]) * s[a];
            if (t == 0) continue;
            const double margin = t > 0 ? plus[a] : minus[a];
            sum +=
                margin > 0 ? (t / margin) * (t / margin) : std::numeric_limits<double>::infinity();
          }
          if (sum <= 1 + 1e-9) out[index(d, i, j, k)] = 1;
        }
  return out;
}

Volume make_volume(const Dim& d, const Eigen::Matrix4d& affine) {
  Volume v;
  v.geometry = make_geometry(d, affine);
  v.data.assign(v.geometry.voxel_count(), 0.f);
  return v;
}

Eigen::Matrix4d diag_affine(double sx, double sy, double sz) {
  Eigen::Matrix4d a = Eigen::Matrix4d::Identity();
  a(0, 0) = sx;
  a(1, 1) = sy;
  a(2, 2) = sz;
  a.block<3, 1>(0, 3) = Eigen::Vector3d(-20, 35, 7.5);
  return a;
}

std::int64_t count(const std::vector<float>& v) {
  std::int64_t n = 0;
  for (float x : v) n += x > 0.5f;
  return n;
}

}  // namespace

TEST_CASE("uniform margin: exactly the Euclidean distance transform thresholded at the margin") {
  std::mt19937 rng(5);
  const Dim d{12, 10, 8};
  for (const Spacing& s : {Spacing{1, 1, 2.5}, Spacing{0.7, 1.3, 2.1}}) {
    const auto mask = random_mask(d, 0.01, rng);
    for (double mm : {0.5, 2.0, 3.7, 5.0}) {
      const auto grown = grow_canonical(mask, d, s, Margins::uniform(mm));
      const auto d2 = squared_distance_to_mask(mask, d, s);
      int differ = 0;
      for (std::size_t i = 0; i < d2.size(); ++i)
        differ += grown[i] != (d2[i] <= mm * mm * (1 + 1e-9) ? 1 : 0);
      CHECK(differ == 0);
      CHECK(grown == brute_force_grow(mask, d, s, Margins::uniform(mm)));
    }
  }
}

TEST_CASE("per-direction margins against brute force on small random masks") {
  std::mt19937 rng(2024);
  std::uniform_real_distribution<double> mm(0.0, 5.0);
  const Dim d{9, 8, 7};
  const Spacing s{0.9, 1.1, 2.5};
  for (int trial = 0; trial < 12; ++trial) {
    Margins m{mm(rng), mm(rng), mm(rng), mm(rng), mm(rng), mm(rng)};
    if (trial % 3 == 1) m.right = m.sup = 0;  // zero margins in some directions
    if (trial % 3 == 2) m.ant = m.post = 0;
    CAPTURE(m.to_string());
    const auto mask = random_mask(d, trial % 2 ? 0.01 : 0.04, rng);
    CHECK(grow_canonical(mask, d, s, m) == brute_force_grow(mask, d, s, m));
  }
}

TEST_CASE("sphere: one voxel grown by 15 mm has the volume of a 15 mm ball") {
  // (Growing a voxelised ball instead would come out a few % small: its outermost voxel
  // centres lie up to half a slice inside the continuous sphere.)
  const Dim d{40, 40, 16};
  Volume igtv = make_volume(d, diag_affine(-1, -1, 2.5));
  igtv.data[index(d, 20, 20, 8)] = 1;
  const auto r = expand_igtv(igtv, Margins::uniform(15), {}, nullptr);
  const double ball = 4.0 / 3.0 * std::numbers::pi * 15 * 15 * 15;
  const double got = r.ctv_voxels * 2.5;
  MESSAGE("grown volume " << got << " mm3, analytic " << ball << " mm3");
  CHECK(got == doctest::Approx(ball).epsilon(0.02));
  CHECK(r.ctv_voxels == count(r.mask));
  CHECK(r.igtv_voxels == 1);
  // Along each axis the reach is exactly 15 mm: 15 voxels in x and y, 6 slices in z.
  CHECK(r.mask[index(d, 35, 20, 8)] == 1.f);
  CHECK(r.mask[index(d, 36, 20, 8)] == 0.f);
  CHECK(r.mask[index(d, 20, 5, 8)] == 1.f);
  CHECK(r.mask[index(d, 20, 4, 8)] == 0.f);
  CHECK(r.mask[index(d, 20, 20, 14)] == 1.f);
  CHECK(r.mask[index(d, 20, 20, 15)] == 0.f);
}

TEST_CASE("crops remove organ voxels, the body limits, the iGTV always stays") {
  const Dim d{21, 21, 21};
  Volume igtv = make_volume(d, diag_affine(1, 1, 1));
  for (int i = 8; i <= 12; ++i) igtv.data[index(d, i, 10, 10)] = 1;
  Volume heart = make_volume(d, diag_affine(1, 1, 1));
  Volume body = make_volume(d, diag_affine(1, 1, 1));
  for (int k = 0; k < 21; ++k)
    for (int j = 0; j < 21; ++j)
      for (int i = 0; i < 21; ++i) {
        if (i >= 11) heart.data[index(d, i, j, k)] = 1;  // covers part of the iGTV too
        if (k <= 11) body.data[index(d, i, j, k)] = 1;   // iGTV row at k = 10 is inside
      }
  body.data[index(d, 8, 10, 10)] = 0;  // an iGTV voxel outside the body stays
  const auto plain = expand_igtv(igtv, Margins::uniform(3), {}, nullptr);
  const auto r = expand_igtv(igtv, Margins::uniform(3), {&heart}, &body);
  CHECK(r.grown_voxels == plain.ctv_voxels);
  for (int k = 0; k < 21; ++k)
    for (int j = 0; j < 21; ++j)
      for (int i = 0; i < 21; ++i) {
        const std::size_t x = index(d, i, j, k);
        const bool in_igtv = igtv.data[x] > 0.5f;
        if (in_igtv) REQUIRE(r.mask[x] == 1.f);
        if (!in_igtv && heart.data[x] > 0.5f) REQUIRE(r.mask[x] == 0.f);
        if (!in_igtv && body.data[x] < 0.5f) REQUIRE(r.mask[x] == 0.f);
        const bool expect =
            in_igtv || (plain.mask[x] > 0.5f && heart.data[x] < 0.5f && body.data[x] > 0.5f);
        REQUIRE(r.mask[x] == (expect ? 1.f : 0.f));
      }
  CHECK(r.removed_by_crop.size() == 1);
  CHECK(r.removed_by_crop[0] > 0);
  CHECK(r.removed_outside_body > 0);
  CHECK(r.ctv_voxels == count(r.mask));
}

TEST_CASE("the RIGHT margin grows toward the patient's right whether the file is RAS or LPS") {
  const Dim d{11, 11, 11};
  // (RAS+ world: +x is the patient's Right, +y Anterior, +z Superior.)
  for (const auto& [name, affine] :
       {std::pair{"RAS", diag_affine(1, 1, 2)}, std::pair{"LPS", diag_affine(-1, -1, 2)},
        std::pair{"LAS", diag_affine(-1, 1, 2)}}) {
    CAPTURE(name);
    Volume igtv = make_volume(d, affine);
    igtv.data[index(d, 5, 5, 5)] = 1;
    REQUIRE(orientation_code(igtv.geometry) == name);
    const Eigen::Vector3d g = (affine * Eigen::Vector4d(5, 5, 5, 1)).head<3>();
    for (const auto& [dir, margins, world_axis, sign] :
         {std::tuple{"RIGHT", Margins{0, 0, 0, 0, 3, 0}, 0, +1},
          std::tuple{"LEFT", Margins{0, 0, 0, 0, 0, 3}, 0, -1},
          std::tuple{"ANT", Margins{0, 0, 3, 0, 0, 0}, 1, +1},
          std::tuple{"POST", Margins{0, 0, 0, 3, 0, 0}, 1, -1},
          std::tuple{"SUP", Margins{4, 0, 0, 0, 0, 0}, 2, +1},
          std::tuple{"INF", Margins{0, 4, 0, 0, 0, 0}, 2, -1}}) {
      CAPTURE(dir);
      const auto r = expand_igtv(igtv, margins, {}, nullptr);
      CHECK(r.ctv_voxels == (world_axis == 2 ? 3 : 4));  // 0..3 mm, or 0, 2, 4 mm at 2 mm slices
      double furthest = 0;
      for (int k = 0; k < 11; ++k)
        for (int j = 0; j < 11; ++j)
          for (int i = 0; i < 11; ++i) {
            if (r.mask[index(d, i, j, k)] < 0.5f) continue;
            const Eigen::Vector3d w = (affine * Eigen::Vector4d(i, j, k, 1)).head<3>() - g;
            for (int a = 0; a < 3; ++a)
              if (a != world_axis) CHECK(w[a] == 0.0);
            CHECK(sign * w[world_axis] >= 0.0);
            furthest = std::max(furthest, sign * w[world_axis]);
          }
      CHECK(furthest == (world_axis == 2 ? 4.0 : 3.0));
    }
  }
}

TEST_CASE("zero margins: all zero gives the iGTV, zero in one direction stops growth that way") {
  std::mt19937 rng(8);
  const Dim d{10, 9, 8};
  const Spacing s{1, 1, 2.5};
  const auto mask = random_mask(d, 0.05, rng);
  CHECK(grow_canonical(mask, d, s, Margins::uniform(0)) == mask);
  // Only LEFT (+axis 0): nothing may appear right of every iGTV voxel of its row.
  const auto grown = grow_canonical(mask, d, s, Margins{0, 0, 0, 0, 0, 4});
  for (int k = 0; k < d[2]; ++k)
    for (int j = 0; j < d[1]; ++j) {
      int first = d[0];
      for (int i = d[0] - 1; i >= 0; --i)
        if (mask[index(d, i, j, k)]) first = i;
      for (int i = 0; i < d[0]; ++i) {
        if (i < first) CHECK(grown[index(d, i, j, k)] == 0);
        if (i >= first && i <= first + 4) CHECK(grown[index(d, i, j, k)] == 1);
      }
    }
}

TEST_CASE("bad margins and mismatched dims are refused") {
  CHECK(margins_fault(Margins::uniform(5)).empty());
  CHECK(margins_fault(Margins::uniform(50)).empty());
  CHECK(margins_fault(Margins{0, 0, 0, 0, -1, 0}).find("RIGHT") != std::string::npos);
  CHECK(margins_fault(Margins{0, 50.5, 0, 0, 0, 0}).find("INF") != std::string::npos);
  CHECK(margins_fault(Margins{0, 0, std::nan(""), 0, 0, 0}).find("ANT") != std::string::npos);
  const std::vector<std::uint8_t> m(8, 1);
  CHECK_THROWS_AS(grow_canonical(m, {2, 2, 2}, {1, 1, 1}, Margins::uniform(-2)),
                  std::invalid_argument);
  Volume a = make_volume({4, 4, 4}, diag_affine(1, 1, 1));
  Volume b = make_volume({4, 4, 5}, diag_affine(1, 1, 1));
  CHECK_THROWS_AS(expand_igtv(a, Margins::uniform(2), {&b}, nullptr), std::invalid_argument);
  CHECK_THROWS_AS(expand_igtv(a, Margins::uniform(2), {}, &b), std::invalid_argument);
}

TEST_CASE("speed of expand on the paper grid 416 x 288 x 128 (printed, not asserted)") {
  const Dim d{416, 288, 128};
  Volume igtv = make_volume(d, diag_affine(1, 1, 2.5));  // RAS: reoriented to LPS and back
  for (int k = 56; k < 72; ++k)
    for (int j = 130; j < 160; ++j)
      for (int i = 190; i < 220; ++i) igtv.data[index(d, i, j, k)] = 1;
  const auto t0 = std::chrono::steady_clock::now();
  const auto u = expand_igtv(igtv, Margins::uniform(5), {}, nullptr);
  const auto t1 = std::chrono::steady_clock::now();
  const auto p = expand_igtv(igtv, Margins{5, 5, 8, 8, 5, 5}, {}, nullptr);
  const auto t2 = std::chrono::steady_clock::now();
  MESSAGE("expand 416x288x128 spacing 1,1,2.5, one core: uniform 5 mm "
          << std::chrono::duration<double, std::milli>(t1 - t0).count() << " ms, per-direction "
          << std::chrono::duration<double, std::milli>(t2 - t1).count() << " ms");
  CHECK(u.ctv_voxels > u.igtv_voxels);
  CHECK(p.ctv_voxels > u.ctv_voxels);
}
