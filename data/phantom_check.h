// The synthetic cohort's own report (SPEC section 4): evidence that the reference CTV is
// neither trivial nor noise, and that the CT looks like CT.
//
// Per patient: the Dice of the CTV rule with its observer variation switched off against the
// reference; the Dice of uniform cropped expansions (data/expansion.h: margins 3, 4, ..., 12 mm,
// crops heart, esophagus, great_vessels, vertebrae, within the body) against the reference; the
// 5 mm and 8 mm expansions' Dice and median surface distance (data/metrics.h); HU histograms
// per tissue (10 HU bins). Expansions and metrics run on a box around the iGTV and the CTV,
// padded by more than the largest margin, which gives the same numbers as the whole grid (no
// mask reaches the box's faces).
// Cohort: the means, the best uniform margin, the requirements (rule Dice >= 0.95, best uniform
// margin's mean Dice < 0.85), a Markdown report and CSV tables.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/phantom.h"
#include "data/phantom_cohort.h"

namespace ctv::data::phantom {

inline constexpr int kSweepFirstMm = 3, kSweepLastMm = 12;
inline constexpr int kSweepCount = kSweepLastMm - kSweepFirstMm + 1;
inline constexpr double kHistogramLow = -1030, kHistogramBin = 10;
inline constexpr int kHistogramBins = 411;  // -1030 .. 3080 HU

struct PatientCheck {
  CohortSlot slot;
  PatientFeatures features;
  double igtv_cm3 = 0, ctv_cm3 = 0;
  double rule_dice = 0;                             // rule without variation vs reference
  std::array<double, kSweepCount> uniform_dice{};   // margins 3..12 mm
  double dice5 = 0, dice8 = 0, msd5 = 0, msd8 = 0;  // msd: median surface distance, mm
  // counts per tissue and HU bin (bins clamp at both ends)
  std::array<std::array<std::int64_t, kHistogramBins>, kTissueCount> histogram{};
};

// All numbers of one patient. requires: a patient from make_patient.
PatientCheck check_patient(const PhantomPatient& patient, const CohortSlot& slot);

struct CohortCheck {
  double rule_dice_mean = 0, rule_dice_min = 0;
  std::array<double, kSweepCount> uniform_dice_mean{};  // over all patients
  int best_margin_mm = 0;
  double best_uniform_dice = 0;  // mean over all patients at the best margin
  bool rule_ok = false, uniform_ok = false;
};
CohortCheck summarize_check(const std::vector<PatientCheck>& checks);

// The report (Markdown), the per-patient table and the HU histograms (CSV).
std::string check_markdown(const std::vector<PatientCheck>& checks, const CohortCheck& summary,
                           const PhantomConfig& config);
std::string check_csv(const std::vector<PatientCheck>& checks);
std::string histogram_csv(const std::vector<PatientCheck>& checks);

}  // namespace ctv::data::phantom
