// The synthetic cohort's composition and manifest (SPEC sections 2 and 3): who is left or
// right, who trains, validates or tests, and the cohort.json that records it.
//
// Split rule (the paper's protocol for 84 patients, the same proportions for any n):
//   right = round(2n/3), left = n - right;
//   test = round(2n/7) (24 of 84), at least 1 when n >= 2;
//   val = round(5n/42) (10 of 84), lowered so that at least one patient trains;
//   train = n - test - val (50 of 84, so 60 training patients with val as the paper counts);
//   within test and val the sides follow the same 2:1 proportion (rounded), the rest train:
//   for 84: test 16 right + 8 left, val 7 + 3, train 33 + 17 (training 40 right, 20 left).
// Slots are shuffled by the seed and handed out in id order p001, p002, ... (at least 3 digits).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/phantom.h"

namespace ctv::data::phantom {

struct CohortSlot {
  std::string id, side, split;
};

struct SplitCounts {
  int right = 0, left = 0, train = 0, val = 0, test = 0;
  int test_right = 0, val_right = 0, train_right = 0;
};

// requires: n >= 1 (std::invalid_argument otherwise).
SplitCounts split_counts(int n);

// The n slots in id order. ensures: counts per side and split equal split_counts(n).
std::vector<CohortSlot> plan_cohort(int n, std::uint64_t seed);

// The manifest text: {"generator": {...config...}, "split_rule": "...", "patients": [{"id",
// "side", "split", "features": {...}}]} (data/cohort.h reads id, side and split).
// requires: features.size() == slots.size().
std::string manifest_json(const std::vector<CohortSlot>& slots, const PhantomConfig& config,
                          const std::vector<PatientFeatures>& features);

}  // namespace ctv::data::phantom
