// Evaluation metrics of a predicted mask P against a reference mask R (SPEC section 5), on the
// CT's original grid, honouring anisotropic spacing.
//
// Definitions (every one is tested on hand-worked cases in tests/test_metrics.cpp):
// - A mask is the voxels > 0.5 (data/overlap.h counts them). Layout: x fastest, index =
//   i + dim[0] * (j + dim[1] * k), as data::Volume.
// - DSC, precision, recall: from count_overlap. Volumes in cm3 = voxels x voxel volume / 1000;
//   volume difference = |P| - |R| (signed, cm3) and 100 (|P| - |R|) / |R| (%).
// - OV with an organ at risk = |P and OAR| x voxel volume, in cm3.
// - Surface of a mask: its voxels with at least one of their 6 face neighbours outside the mask;
//   a neighbour outside the volume counts as outside.
// - Directed surface distances P -> R: for each surface voxel of P, the exact Euclidean distance
//   (mm, between voxel centres) to the nearest surface voxel of R; the same from R to P.
// - HD = the largest distance of both directions; HD95 = the larger of the two directed 95th
//   percentiles; mean / median surface distance = mean / median of both directions pooled.
//   Percentiles interpolate linearly between order statistics (numpy's default, "linear").
// - Either mask empty: surface metrics NaN and a warning names which mask; DSC is 1 when both
//   are empty (precision NaN when P is empty, recall and volume difference % NaN when R is).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/nifti.h"
#include "data/overlap.h"

namespace ctv::data {

// An organ at risk for the OV metric: a name (e.g. "heart") and its mask on the same grid.
struct NamedMask {
  std::string name;
  const std::vector<float>* mask = nullptr;  // not owned; must outlive the call
};

struct OarOverlap {
  std::string name;
  double overlap_cm3 = 0;  // |P and OAR| x voxel volume
};

struct Metrics {
  OverlapCounts counts;  // voxels of P, R, P and R
  double dice = 0, precision = 0, recall = 0;
  double pred_volume_cm3 = 0, ref_volume_cm3 = 0;
  double volume_difference_cm3 = 0;      // |P| - |R|
  double volume_difference_percent = 0;  // 100 (|P| - |R|) / |R|; NaN when R is empty
  double hausdorff_mm = 0, hausdorff95_mm = 0;
  double mean_surface_distance_mm = 0, median_surface_distance_mm = 0;
  // Each direction on its own (for comparison with tools that average the two directions).
  double hd95_pred_to_ref_mm = 0, hd95_ref_to_pred_mm = 0;
  double mean_pred_to_ref_mm = 0, mean_ref_to_pred_mm = 0;
  std::int64_t pred_surface_voxels = 0, ref_surface_voxels = 0;
  std::vector<OarOverlap> oars;       // in the order given
  std::vector<std::string> warnings;  // e.g. "the prediction is empty: surface metrics are NaN"
};

// The 0/1 surface of a mask (see the definitions above).
// requires: mask.size() == dim[0]*dim[1]*dim[2] (std::invalid_argument otherwise).
std::vector<std::uint8_t> mask_surface(const std::vector<std::uint8_t>& mask,
                                       const std::array<int, 3>& dim);

// For every voxel where from_surface is set (in index order), the distance in mm to the nearest
// voxel where to_surface is set. Empty result when from_surface is empty; +infinity entries
// when to_surface is empty.
std::vector<double> directed_surface_distances(const std::vector<std::uint8_t>& from_surface,
                                               const std::vector<std::uint8_t>& to_surface,
                                               const std::array<int, 3>& dim,
                                               const std::array<double, 3>& spacing);

// The q-th percentile (0 <= q <= 100) with linear interpolation between order statistics:
// sorted x, h = (n - 1) q / 100, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]), as
// numpy.percentile(method="linear"). NaN for no values. Takes its argument by value (sorts it).
double percentile_linear(std::vector<double> values, double q);

// All metrics of P against R; every OAR mask on the same grid.
// requires: pred, ref and every oar mask have geometry.voxel_count() voxels
//           (std::invalid_argument naming the mask otherwise).
Metrics compute_metrics(const std::vector<float>& pred, const std::vector<float>& ref,
                        const Geometry& geometry, const std::vector<NamedMask>& oars = {});

// ---- summary over patients (the paper's Table 1) ----------------------------------------

// mean +- sd uses the sample standard deviation (divisor n - 1); NaN values are skipped and
// counted. Every statistic is NaN when no finite value is left; sd is NaN when only one is.
struct Summary {
  std::int64_t n = 0;            // values summarised
  std::int64_t nan_skipped = 0;  // NaN values left out
  double mean = 0, sd = 0, median = 0, min = 0, max = 0;
};
Summary summarize(const std::vector<double>& values);

// Wilcoxon's signed-rank test of paired differences (one method minus another, per patient),
// two-sided. NaN differences are skipped; zero differences are dropped (Wilcoxon's rule); tied
// magnitudes share their mean rank. p is exact: the null distribution of W+ (the sum of the
// positive differences' ranks) over all 2^n equally likely sign patterns of the ranks actually
// present, ties included, counted on doubled ranks; p = min(1, 2 min(P(W+ <= w), P(W+ >= w))).
// n = 0 gives p = NaN. requires: at most 1000 nonzero differences (throws std::invalid_argument).
struct SignedRankTest {
  std::int64_t n = 0;  // nonzero differences used
  double w_plus = 0;   // sum of the ranks of the positive ones
  double p = 0;        // two-sided
};
SignedRankTest signed_rank_test(const std::vector<double>& differences);

// ---- one table for printing and CSV -------------------------------------------------------

// Every scalar metric as (column name, value), in a fixed order: the CSV header and the
// printed table both come from here, so they cannot disagree. OAR columns are "ov_<name>_cm3".
struct NamedValue {
  std::string name;
  double value = 0;
};
std::vector<NamedValue> metric_columns(const Metrics& m);

}  // namespace ctv::data
