// The cropped-expansion baseline (SPEC section 5): grow the iGTV by a margin, remove the
// organs at risk it must not enter, keep it within the body, and never lose the iGTV itself.
//
// Margins. A voxel x is in the expansion when there is an iGTV voxel g such that, with
// d = x - g in patient millimetres (voxel centres),
//     sum over the three patient axes a of (d_a / m_a(d_a))^2 <= 1,
// where m_a(d_a) is the margin of the direction d_a points to: Left/Right for the lateral
// axis, Anterior/Posterior, Superior/Inferior. This is the usual asymmetric ellipsoid: with six
// equal margins it is exactly "Euclidean distance to the iGTV <= margin". A zero margin in a
// direction means no growth that way (only d_a = 0 on that side counts).
// Per-direction margins are applied along the voxel axes of the canonical LPS frame
// (data/nifti.h plan_canonical), i.e. along the patient axis each voxel axis is closest to;
// for an oblique image they follow the image axes. Rounding: a voxel whose (weighted) squared
// distance is within 1e-9 relative of the margin's square counts as inside.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/nifti.h"

namespace ctv::data {

struct Margins {
  double sup = 0, inf = 0, ant = 0, post = 0, right = 0, left = 0;  // mm

  static Margins uniform(double mm) { return {mm, mm, mm, mm, mm, mm}; }
  bool is_uniform() const;
  double largest() const;
  // "SUP,INF,ANT,POST,RIGHT,LEFT" values as typed on the command line, e.g. "5,5,5,5,5,5".
  std::string to_string() const;
};

inline constexpr double kMaxMarginMm = 50;

// Empty when every margin is finite, >= 0 and <= kMaxMarginMm; else what is wrong, naming the
// direction (e.g. "RIGHT margin -1 mm is negative").
std::string margins_fault(const Margins& m);

// The grown region (no crops) of a mask on a canonical LPS grid: voxel axis 0 points to the
// patient's Left, 1 Posterior, 2 Superior; spacing in mm. Returns 0/1 per voxel, same layout.
// Uniform margins use squared_distance_to_mask, others the directional transform; both are
// exact. requires: as squared_distance_to_mask; margins_fault(m) empty (std::invalid_argument).
std::vector<std::uint8_t> grow_canonical(const std::vector<std::uint8_t>& mask,
                                         const std::array<int, 3>& dim,
                                         const std::array<double, 3>& spacing, const Margins& m);

struct ExpansionResult {
  std::vector<float> mask;  // 0/1, in the iGTV's own voxel order and geometry
  std::int64_t igtv_voxels = 0, ctv_voxels = 0;
  std::int64_t grown_voxels = 0;              // after growth, before crops and body
  std::int64_t removed_outside_body = 0;      // grown voxels outside the body (not iGTV)
  std::vector<std::int64_t> removed_by_crop;  // per crop: grown voxels in it (not iGTV);
                                              // a voxel in two crops counts for both
};

// The cropped expansion of `igtv` (masks are voxels > 0.5), computed in the canonical frame and
// mapped back to the iGTV's grid: (grown - union of crops) within body, united with the iGTV.
// body may be null (no body limit). requires: every volume has the iGTV's dims (the caller
// checks full geometry with require_same_geometry; here a dims mismatch is
// std::invalid_argument); margins_fault(m) empty. An empty iGTV gives an empty result.
ExpansionResult expand_igtv(const Volume& igtv, const Margins& m,
                            const std::vector<const Volume*>& crops, const Volume* body);

}  // namespace ctv::data
