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
// requires: mask.size() == dim[0]*dim[1]*dim[2]; every dim >= 1; spacing finite and > 0
//   (std::invalid_argument otherwise).
std::vector<double> squared_distance_to_mask(const std::vector<std::uint8_t>& mask,
                                             const std::array<int, 3>& dim,
                                             const std::array<double, 3>& spacing);

// Directional (asymmetric) squared distance: for every voxel x,
//   min over mask voxels g of  sum over axes a of  (c_a * spacing[a] * (x_a - g_a))^2,
// where c_a = scale_plus[a] when x_a > g_a (x lies toward +axis of g) and scale_minus[a] when
// x_a < g_a. A scale of +infinity forbids any reach that way (only g_a == x_a, or the other
// side, counts). The per-axis cost is convex and separable, so the minimum is computed exactly,
// axis by axis, each axis as the smaller of two one-sided lower envelopes (p <= q weighted by
// scale_plus, p >= q by scale_minus). With all scales 1 it equals squared_distance_to_mask.
// Used for per-direction margins (data/expansion.h); linear time, about twice the plain EDT.
// requires: as squared_distance_to_mask; every scale > 0 (+inf allowed), else
//   std::invalid_argument.
std::vector<double> directional_squared_distance_to_mask(const std::vector<std::uint8_t>& mask,
                                                         const std::array<int, 3>& dim,
                                                         const std::array<double, 3>& spacing,
                                                         const std::array<double, 3>& scale_plus,
                                                         const std::array<double, 3>& scale_minus);

}  // namespace ctv::data
