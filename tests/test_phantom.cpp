// The synthetic cohort (data/phantom*.h): determinism, the reference CTV's guarantees (iGTV
// inside, off the esophagus and out of bone, heart and great vessels), CT numbers per tissue,
// the split, the manifest read back as a cohort, and the rule recovering the reference.
// Patients are made on a coarse grid (4 x 4 x 6 mm) so the whole file runs in seconds.
#include <doctest/doctest.h>

#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "data/cohort.h"
#include "data/phantom.h"
#include "data/phantom_check.h"
#include "data/phantom_cohort.h"

using namespace ctv::data;
using namespace ctv::data::phantom;

namespace {

PhantomConfig small_config(std::uint64_t seed = 11) {
  PhantomConfig c;
  c.size = {96, 80, 48};
  c.spacing = {4, 4, 6};
  c.seed = seed;
  return c;
}

// Patients are cached: several cases look at the same few.
const PhantomPatient& patient(int index, std::uint64_t seed = 11) {
  static std::map<std::pair<int, std::uint64_t>, PhantomPatient> cache;
  const auto key = std::make_pair(index, seed);
  auto it = cache.find(key);
  if (it == cache.end())
    it = cache
             .emplace(key,
                      make_patient(small_config(seed), index, index % 3 == 2 ? "left" : "right"))
             .first;
  return it->second;
}

double dice(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  std::int64_t na = 0, nb = 0, both = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    na += a[i];
    nb += b[i];
    both += a[i] & b[i];
  }
  return 2.0 * double(both) / double(na + nb);
}

std::int64_t count(const std::vector<std::uint8_t>& m) {
  std::int64_t n = 0;
  for (auto v : m) n += v;
  return n;
}

}  // namespace

TEST_CASE("the same seed gives the same patient and another seed or index another one") {
  const PhantomPatient a = make_patient(small_config(), 1, "right");
  const PhantomPatient& b = patient(1);  // made separately, maybe after others
  CHECK(a.ct == b.ct);
  CHECK(a.igtv == b.igtv);
  CHECK(a.ctv == b.ctv);
  CHECK(a.oars == b.oars);
  const PhantomPatient& other_seed = patient(1, 12);
  CHECK(other_seed.ct != a.ct);
  CHECK(other_seed.igtv != a.igtv);
  CHECK(patient(0).ct != a.ct);
}

TEST_CASE("every array covers the grid stored in LPS with a valid geometry") {
  const PhantomPatient& p = patient(0);
  const std::size_t n = p.geometry.voxel_count();
  CHECK(n == std::size_t(96 * 80 * 48));
  CHECK(p.ct.size() == n);
  CHECK(p.igtv.size() == n);
  CHECK(p.ctv.size() == n);
  for (const auto& m : p.oars) CHECK(m.size() == n);
  CHECK(orientation_code(p.geometry) == "LPS");
  CHECK(p.geometry.spacing[2] == doctest::Approx(6));
  CHECK(p.geometry.header.sform_code > 0);
  CHECK(p.geometry.header.qform_code > 0);
}

TEST_CASE("the reference CTV holds the iGTV and stays out of bone heart vessels and esophagus") {
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    const PhantomPatient& p = patient(i);
    REQUIRE(count(p.igtv) > 0);
    CHECK(count(p.ctv) > count(p.igtv));
    std::int64_t igtv_outside = 0, in_oar = 0, igtv_in_oar = 0, outside_body = 0;
    for (std::size_t v = 0; v < p.ctv.size(); ++v) {
      igtv_outside += p.igtv[v] && !p.ctv[v];
      const bool oar = p.oars[0][v] || p.oars[1][v] || p.oars[2][v] || p.oars[3][v];
      in_oar += p.ctv[v] && oar;
      igtv_in_oar += p.igtv[v] && oar;
      outside_body += p.ctv[v] && !p.oars[5][v];
      const std::uint8_t t = p.tissue[v];
      if (p.ctv[v] && !p.igtv[v]) CHECK_MESSAGE(t != kRib, "CTV in a rib at voxel " << v);
    }
    CHECK(igtv_outside == 0);
    CHECK(in_oar == 0);
    CHECK(igtv_in_oar == 0);
    CHECK(outside_body == 0);
    CHECK(p.features.side == (i % 3 == 2 ? "left" : "right"));
  }
}

TEST_CASE("CT numbers per tissue are those of SPEC section 4's table") {
  const PhantomPatient& p = patient(0);
  // Medians over voxels whose 6 neighbours hold the same tissue (no partial volume).
  std::map<int, std::vector<float>> values;
  const auto& d = p.geometry.dim;
  for (int k = 1; k + 1 < d[2]; ++k)
    for (int j = 1; j + 1 < d[1]; ++j)
      for (int i = 1; i + 1 < d[0]; ++i) {
        const std::size_t v =
            std::size_t(i) + std::size_t(d[0]) * (std::size_t(j) + std::size_t(d[1]) * k);
        const std::size_t sx = 1, sy = std::size_t(d[0]), sz = sy * std::size_t(d[1]);
        const std::uint8_t t = p.tissue[v];
        if (p.tissue[v - sx] == t && p.tissue[v + sx] == t && p.tissue[v - sy] == t &&
            p.tissue[v + sy] == t && p.tissue[v - sz] == t && p.tissue[v + sz] == t)
          values[t].push_back(p.ct[v]);
      }
  auto median = [&](Tissue t) {
    std::vector<float>& x = values[t];
    REQUIRE_MESSAGE(!x.empty(), tissue_name(t));
    std::nth_element(x.begin(), x.begin() + std::ptrdiff_t(x.size() / 2), x.end());
    return x[x.size() / 2];
  };
  CHECK(median(kOutside) < -950);
  CHECK(median(kLung) > -920);
  CHECK(median(kLung) < -780);
  CHECK(median(kSubcutaneousFat) > -140);
  CHECK(median(kSubcutaneousFat) < -60);
  CHECK(median(kMuscle) > 10);
  CHECK(median(kMuscle) < 80);
  CHECK(median(kHeart) > 10);
  CHECK(median(kHeart) < 80);
  CHECK(median(kAbdomen) > 20);
  CHECK(median(kAbdomen) < 90);
  CHECK(median(kVertebraCancellous) > 200);
  CHECK(median(kVertebraCancellous) < 420);
  // Noise sd 15-30 HU: the spread of interior lung voxels (gravity gradient aside) says so.
  std::vector<float> lung = values[kLung];
  std::sort(lung.begin(), lung.end());
  const double iqr = lung[lung.size() * 3 / 4] - lung[lung.size() / 4];
  CHECK(iqr > 15);
  CHECK(iqr < 90);
  std::int64_t out_of_range = 0, fractional = 0;
  for (float v : p.ct) {
    out_of_range += v < -1024 || v > 3071;
    fractional += v != std::round(v);
  }
  CHECK(out_of_range == 0);
  CHECK(fractional == 0);
}

TEST_CASE("split counts: the paper's 84 and small cohorts") {
  const SplitCounts c = split_counts(84);
  CHECK(c.right == 56);
  CHECK(c.left == 28);
  CHECK(c.test == 24);
  CHECK(c.val == 10);
  CHECK(c.train == 50);
  CHECK(c.train_right + c.val_right == 40);  // training patients: 40 right, 20 left
  CHECK(c.test_right == 16);

  const std::vector<CohortSlot> slots = plan_cohort(84, 5);
  std::map<std::string, int> by;
  for (const CohortSlot& s : slots) ++by[s.side + "/" + s.split];
  CHECK(by["right/train"] + by["right/val"] == 40);
  CHECK(by["left/train"] + by["left/val"] == 20);
  CHECK(by["right/test"] == 16);
  CHECK(by["left/test"] == 8);
  CHECK(by["right/val"] + by["left/val"] == 10);
  CHECK(slots.front().id == "p001");
  CHECK(slots.back().id == "p084");
  std::string order5, order6;
  for (const CohortSlot& s : slots) order5 += s.side + s.split;
  for (const CohortSlot& s : plan_cohort(84, 6)) order6 += s.side + s.split;
  CHECK(order5 != order6);  // the seed shuffles who is where

  const SplitCounts s4 = split_counts(4);
  CHECK(s4.right == 3);
  CHECK(s4.left == 1);
  CHECK(s4.test == 1);
  CHECK(s4.train + s4.val == 3);
  for (int n = 1; n <= 30; ++n) {
    CAPTURE(n);
    const SplitCounts s = split_counts(n);
    CHECK(s.right + s.left == n);
    CHECK(s.train + s.val + s.test == n);
    CHECK(s.train >= 1);
    CHECK((n < 2 || s.test >= 1));
    CHECK(s.train_right >= 0);
    CHECK(s.train_right <= s.train);
    CHECK(s.test_right <= s.test);
    CHECK(s.val_right <= s.val);
  }
  CHECK_THROWS_AS(split_counts(0), std::invalid_argument);
}

TEST_CASE("the manifest reads back as a cohort with the planned sides and splits") {
  const std::vector<CohortSlot> slots = plan_cohort(7, 3);
  const std::string text = manifest_json(slots, small_config(), std::vector<PatientFeatures>(7));
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("ctv_phantom_manifest_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "cohort.json") << text;
  const Cohort c = read_cohort(dir);
  std::filesystem::remove_all(dir);
  REQUIRE(c.patients.size() == 7);
  for (std::size_t i = 0; i < 7; ++i) {
    CHECK(c.patients[i].id == slots[i].id);
    CHECK(c.patients[i].side == slots[i].side);
    CHECK(c.patients[i].split == slots[i].split);
  }
}

TEST_CASE("the rule without its variation recovers the reference and a switch turns it off") {
  double sum = 0;
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    const PhantomPatient& p = patient(i);
    const double d = dice(reference_ctv(p, false), p.ctv);
    CHECK(d > 0.9);
    CHECK(d < 1.0);  // the variation does something
    sum += d;
  }
  CHECK(sum / 3 >= 0.95);
  PhantomConfig c = small_config();
  c.observer_variation = false;
  const PhantomPatient p = make_patient(c, 0, "right");
  CHECK(p.ctv == reference_ctv(p, false));
  CHECK(p.ct == patient(0).ct);  // the switch changes the reference only
}

TEST_CASE("the CTV depends on the tissue: a uniform cropped margin does not reproduce it") {
  const PhantomPatient& p = patient(0);
  const PatientCheck c = check_patient(p, {"p001", "right", "test"});
  CHECK(c.rule_dice > 0.9);
  const double best = *std::max_element(c.uniform_dice.begin(), c.uniform_dice.end());
  CHECK(best < 0.97);
  CHECK(best > 0.5);
  CHECK(c.uniform_dice[std::size_t(5 - kSweepFirstMm)] == doctest::Approx(c.dice5));
  CHECK(c.msd5 > 0);
  std::int64_t voxels = 0;
  for (const auto& h : c.histogram)
    for (auto v : h) voxels += v;
  CHECK(voxels == std::int64_t(p.geometry.voxel_count()));
}

TEST_CASE("bad arguments are refused") {
  PhantomConfig c = small_config();
  CHECK_THROWS_AS(make_patient(c, 0, "middle"), std::invalid_argument);
  c.size = {4, 80, 48};
  CHECK_THROWS_AS(make_patient(c, 0, "right"), std::invalid_argument);
}
