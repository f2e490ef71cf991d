// Resampling a volume to another spacing, and cropping or padding it to a fixed grid: the two
// geometric steps between a CT's canonical grid and the network grid (data/preprocess.h puts
// them together with the reorientation and records them in one plan).
//
// Layout: plain float arrays, x fastest (index = i + dim[0] * (j + dim[1] * k)), as data::Volume.
//
// Grid convention ("centred"). Along each axis, an output grid of `out` voxels samples an input
// grid of `in` voxels at the continuous input index
//     x(j) = (in - 1) / 2 + (j - (out - 1) / 2) * step,        j = 0 .. out - 1,
// where step = output spacing / input spacing (input voxels per output voxel). The two grids
// share their centre exactly; the first output voxel centre sits at x(0) = ((in-1) -
// (out-1)*step)/2 input voxels from the first input voxel centre. For a new spacing t on an axis of
// n voxels of spacing s, out = max(1, round(n s / t)): the field of view out*t equals n*s to within
// half an output voxel (a quarter on each side) and the spacing is exactly t. When
// spacing_matches(s, t), out = n and step = 1 exactly: x(j) = j, and the axis is copied as is
// (bit-identical). Samples outside [0, in - 1] (at most half an input voxel beyond the edge
// centres) take the edge value (edge replication: the field of view carries no information
// beyond its edge voxels, and an edge voxel is the best estimate there).
//
// Interpolation is linear along each axis, one axis after the other (x, then y, then z): the
// tensor product of the three, i.e. trilinear, with each value computed in double as
// a + w (b - a) and rounded to float after each axis. So a constant region stays exactly that
// constant (air stays -1000 HU, a mask's inside stays 1) and a linear ramp is reproduced up to
// float rounding. Every output value is a function of the input alone: results are
// bit-identical whatever the thread count.
#pragma once

#include <array>
#include <vector>

namespace ctv::data {

using Dim3 = std::array<int, 3>;

// Spacings within 1e-5 relative count as equal (a float32 header's rounding of 1 mm or 2.5 mm,
// not a real difference): over 512 voxels the position error stays under 0.003 voxel.
// requires: both finite and > 0.
bool spacing_matches(double spacing, double target);

// How one output axis samples one input axis (see the grid convention above).
struct AxisMap {
  int in = 1, out = 1;
  double step = 1;  // input voxels per output voxel

  bool is_identity() const { return in == out && step == 1.0; }
  // x(j), the continuous input index of output voxel j.
  double position(int j) const { return 0.5 * (in - 1) + (j - 0.5 * (out - 1)) * step; }
  // The map of the inverse direction: output grid back to this input grid.
  AxisMap inverse() const { return {out, in, 1.0 / step}; }
};

// The axis map from `n` voxels of `spacing` to `target` spacing (identity when they match).
// requires: n >= 1, spacing and target finite and > 0 (std::invalid_argument otherwise).
AxisMap axis_to_spacing(int n, double spacing, double target);

// Linear resampling, axis by axis, of `in` (dims map[a].in) to dims map[a].out. Identity axes
// are copied. threads >= 1 splits each pass into fixed slabs of the output; the result does
// not depend on it.
// requires: in.size() == product of map[a].in; every map in, out >= 1 and step finite and > 0;
//   threads >= 1 (std::invalid_argument otherwise).
std::vector<float> resample_linear(const std::vector<float>& in, const std::array<AxisMap, 3>& map,
                                   int threads = 1);

// A mask resampled: linear as above, then 1 where the value is > 0.5, else 0 (SPEC section 2:
// masks are voxels > 0.5). Input values > 0.5 count as inside before interpolation too.
std::vector<float> resample_mask(const std::vector<float>& in, const std::array<AxisMap, 3>& map,
                                 int threads = 1);

// Crop and/or pad: out(g) = in(g + offset) where g + offset lies inside `in_dim`, else `pad`.
// A positive offset crops the low side, a negative one pads it; each axis may do either. The
// inverse (un-crop back to in_dim, filling what was cut away) is the same call with the dims
// swapped and the offset negated.
// requires: in.size() == product of in_dim; every dim >= 1 (std::invalid_argument otherwise).
std::vector<float> crop_or_pad(const std::vector<float>& in, const Dim3& in_dim,
                               const Dim3& out_dim, const std::array<int, 3>& offset, float pad);

}  // namespace ctv::data
