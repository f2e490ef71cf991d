// The disease of a synthetic patient (data/phantom_tumour.cpp states the rules): what the
// patient assembly (data/phantom_patient.cpp) needs to build the iGTV and the averaged CT.
#pragma once

#include <cstdint>
#include <vector>

#include "data/phantom_internal.h"

namespace ctv::data::phantom::detail {

struct Disease {
  int phases = 10;
  double halo_mm = 0;
  // Per voxel: phases spent in the solid GTV (primary and nodes summed, so it may exceed
  // `phases` where both overlap) and in the ground-glass halo.
  std::vector<std::uint8_t> solid_count, halo_count;
  std::vector<std::uint8_t> primary, nodal;  // 0/1 unions over the phases
};

// Draws the primary in the `right` (else left) lung, involved nodes (marked involved in `nodes`,
// added when their station had no normal node) and motion; fills `out` and the features.
// requires: `tissue` from make_anatomy on the same grid and warp.
// throws std::invalid_argument when the field of view cannot hold a tumour in the lung.
void make_disease(const Grid& g, const Warp& w, Rng& rng, const Landmarks& m, bool right,
                  const std::vector<std::uint8_t>& tissue, std::vector<LymphNode>& nodes,
                  PatientFeatures& f, Disease& out);

}  // namespace ctv::data::phantom::detail
