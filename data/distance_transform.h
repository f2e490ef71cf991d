// Exact Euclidean distance transforms on a voxel grid, honouring anisotropic spacing.
//
// Algorithm: the separable lower-envelope-of-parabolas method of Felzenszwalb and
// Huttenlocher (Theory of Computing 8, 2012): one pass per axis, linear in the voxel count,
// exact (not a chamfer approximation). Distances are between voxel centres, in mm.
// Layout: x fastest, index = i + dim[0] * (j + dim[1] * k), as data::Volume.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace ctv::data {

// Squared distance (mm^2) from every voxel to the nearest voxel where `mask` is non-zero;
// +infinity everywhere when the mask is empty.
// requires: mask.size() == dim[0]*dim[1]*dim[2]; spacing > 0 (std::invalid_argument otherwise).
std::vector<double> squared_distance_to_mask(const std::vector<std::uint8_t>& mask,
                                             const std::array<int, 3>& dim,
                                             const std::array<double, 3>& spacing);

}  // namespace ctv::data
