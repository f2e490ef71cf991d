// Cohort composition and manifest of the synthetic cohort (rules in data/phantom_cohort.h).
#include "data/phantom_cohort.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "data/phantom_internal.h"

namespace ctv::data::phantom {

namespace {
int round_half_up(double v) { return int(std::floor(v + 0.5)); }
}  // namespace

SplitCounts split_counts(int n) {
  if (n < 1) throw std::invalid_argument("phantom: a cohort needs at least one patient");
  SplitCounts c;
  c.right = round_half_up(2.0 * n / 3.0);
  c.left = n - c.right;
  c.test = n >= 2 ? std::max(1, round_half_up(2.0 * n / 7.0)) : 0;
  c.val = std::min(round_half_up(5.0 * n / 42.0), std::max(0, n - c.test - 1));
  c.train = n - c.test - c.val;
  const double right_share = double(c.right) / n;
  c.test_right = std::min({c.right, c.test, round_half_up(c.test * right_share)});
  c.val_right = std::min({c.right - c.test_right, c.val, round_half_up(c.val * right_share)});
  c.train_right = c.right - c.test_right - c.val_right;
  // Rounding may leave more right patients than training places: move them to val, then test.
  while (c.train_right > c.train) {
    if (c.val_right < c.val)
      ++c.val_right;
    else
      ++c.test_right;
    --c.train_right;
  }
  // The left counts follow: train - train_right = left - (test - test_right) - (val - val_right).
  return c;
}

std::vector<CohortSlot> plan_cohort(int n, std::uint64_t seed) {
  const SplitCounts c = split_counts(n);
  std::vector<CohortSlot> slots;
  auto add = [&](int count, const char* side, const char* split) {
    for (int i = 0; i < count; ++i) slots.push_back({"", side, split});
  };
  add(c.train_right, "right", "train");
  add(c.train - c.train_right, "left", "train");
  add(c.val_right, "right", "val");
  add(c.val - c.val_right, "left", "val");
  add(c.test_right, "right", "test");
  add(c.test - c.test_right, "left", "test");
  detail::Rng rng(patient_stream(seed, -1));
  for (std::size_t i = slots.size(); i > 1; --i)
    std::swap(slots[i - 1], slots[std::size_t(rng.below(int(i)))]);
  const int digits = std::max(3, int(std::to_string(n).size()));
  for (std::size_t i = 0; i < slots.size(); ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "p%0*d", digits, int(i + 1));
    slots[i].id = id;
  }
  return slots;
}

std::string manifest_json(const std::vector<CohortSlot>& slots, const PhantomConfig& config,
                          const std::vector<PatientFeatures>& features) {
  if (features.size() != slots.size())
    throw std::invalid_argument("phantom: one feature record per patient is needed");
  nlohmann::ordered_json j;
  j["generator"] = {
      {"program", "ctv phantom"},  {"rules", "data/phantom*.cpp (stated at the top of each file)"},
      {"seed", config.seed},       {"size", config.size},
      {"spacing", config.spacing}, {"observer_variation", config.observer_variation},
      {"orientation", "LPS"}};
  j["split_rule"] =
      "right = round(2n/3); test = round(2n/7) (>= 1 when n >= 2); val = round(5n/42); the rest "
      "train; sides 2:1 within test and val (data/phantom_cohort.h)";
  nlohmann::ordered_json patients = nlohmann::ordered_json::array();
  auto round2 = [](double v) { return std::round(v * 100) / 100; };
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const PatientFeatures& f = features[i];
    patients.push_back({{"id", slots[i].id},
                        {"side", slots[i].side},
                        {"split", slots[i].split},
                        {"features",
                         {{"primary_radius_mm", round2(f.primary_radius_mm)},
                          {"ground_glass", f.ground_glass},
                          {"lobe", f.lobe},
                          {"motion_mm", round2(f.motion_mm)},
                          {"involved_stations", f.involved_stations},
                          {"at_risk_nodes_included", f.at_risk_nodes_included},
                          {"noise_sd_hu", round2(f.noise_sd_hu)},
                          {"ctv_margins_mm",
                           {{"lung", round2(f.lung_margin_mm)},
                            {"mediastinal_fat", round2(f.fat_margin_mm)},
                            {"nodal_fat", f.nodal_fat_margin_mm}}}}}});
  }
  j["patients"] = patients;
  return j.dump(2) + "\n";
}

}  // namespace ctv::data::phantom
