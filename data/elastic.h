// The paper's augmentation (SPEC section 3): a 2D elastic deformation in the axial plane.
//
// For each augmented copy, a grid of P x P control points (P = 3: the paper's 3 x 3) is laid
// over the slice, the first and last points on the edge pixels' centres: control point (p, q)
// sits at pixel (p (nx - 1) / (P - 1), q (ny - 1) / (P - 1)). Each gets a random in-plane
// displacement (dx, dy) in pixels, each component drawn from N(0, sigma^2). The displacement
// at every pixel is the tensor-product natural cubic spline through the control values
// (interpolate along x, then y). Every axial slice gets the same field, and the CT, iGTV and
// CTV the same warp: output (x, y, z) = input sampled at (x + dx(x, y), y + dy(x, y), z).
//
// Why these choices:
// - Control points on the image edges and an interpolating cubic spline: as elasticdeform
//   (van Tulder), which the paper-era code most likely used, places its coarse grid over the
//   image extent and upsamples it with cubic spline interpolation; the field then equals the
//   drawn displacement at each control point, so sigma means what it says there.
// - Natural end conditions (second derivative 0 at the edges): with three points a
//   not-a-knot spline degenerates to one parabola, and a smoothing (non-interpolating) cubic
//   B-spline would shrink the displacements below sigma; the natural spline is C2, passes
//   through the points and bends least of all interpolants (minimal integral of f''^2).
// - Bilinear sampling for the CT as well as the masks (elasticdeform's default is cubic for
//   images): cubic sampling rings at the lung/chest-wall edge (about 900 HU in one voxel),
//   inventing HU values the scanner never measured, and one sampler for all three keeps CT
//   and masks consistent voxel for voxel. Masks are sampled as 0/1 values, then > 0.5.
// - Outside the slice the CT reads ct_fill_hu (air), masks 0: what lies beyond a CT's field
//   of view is air, and no contour continues there.
//
// Determinism: copy `copy` of patient `patient` draws from its own stream keyed
// (seed, patient, copy) (data/random.h): the same numbers whatever the thread count or the
// order in which copies are made. Draw order within a copy: control points row by row
// (q outer, p inner), dx then dy for each.
//
// Layout: volumes are float arrays x fastest (index = x + nx (y + ny z)), on the canonical LPS
// grid (x = Left, y = Posterior), typically the network grid of data/preprocess.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/resample.h"  // Dim3

namespace ctv::data {

struct ElasticConfig {
  // sd of each control-point displacement component, in pixels. Our reading: the paper gives
  // none; 10 px keeps the displacement gradient (about 2 sigma over half the image) well
  // below 1, so the warp never folds, on grids down to about 100 pixels; elasticdeform's
  // example uses 25 on 200 x 300 images.
  double sigma_px = 10;
  int control_points = 3;    // per in-plane axis
  float ct_fill_hu = -1000;  // CT outside the slice after displacement
};

// Empty when usable, else what is wrong naming the field: sigma finite, >= 0 and <= 1000 px;
// control_points 2..64; ct_fill_hu finite.
std::string elastic_config_fault(const ElasticConfig& config);

// The random part of one copy: displacements in pixels at the control points.
struct ControlGrid {
  int points = 3;
  std::vector<double> dx, dy;  // index p + points * q
};

// requires: elastic_config_fault(config) empty (std::invalid_argument otherwise).
// ensures: sigma 0 gives all displacements exactly 0.
ControlGrid draw_control_grid(const ElasticConfig& config, std::uint64_t seed,
                              std::uint64_t patient, std::uint64_t copy);

// A displacement per pixel of an nx x ny slice, x fastest.
struct DisplacementField {
  int nx = 0, ny = 0;
  std::vector<float> dx, dy;
};

// The natural-cubic-spline interpolation of the grid (see above). An axis of one pixel takes
// the spline at its middle control position.
// requires: grid.points >= 2 and dx, dy of points^2 values; nx, ny >= 1 (std::invalid_argument).
// ensures: at a pixel that sits on a control point, the field equals its control values (to
//   float rounding); an all-zero grid gives an all-zero field.
DisplacementField interpolate_control_grid(const ControlGrid& grid, int nx, int ny);

// Every axial slice warped by the same field, bilinear, `fill` outside the slice. Where the
// displacement is a whole number of pixels the value is copied exactly (so a zero field is
// the identity, bit for bit).
// requires: volume.size() == product of dim; field nx, ny == dim[0], dim[1]
//   (std::invalid_argument otherwise).
std::vector<float> warp_slices(const std::vector<float>& volume, const Dim3& dim,
                               const DisplacementField& field, float fill);
// A mask warped: voxels > 0.5 as 1, others 0, warped with fill 0, then > 0.5. Values 0/1.
std::vector<float> warp_mask_slices(const std::vector<float>& mask, const Dim3& dim,
                                    const DisplacementField& field);

// One training sample on the network grid: CT in HU (not yet windowed) and masks.
struct TrainingCase {
  Dim3 dim{0, 0, 0};
  std::vector<float> ct, igtv, ctv;  // ctv may be empty (then it stays empty)
};

// Augmented copy `copy` of `patient`: CT, iGTV and CTV warped by the one field of
// (seed, patient, copy).
// requires: elastic_config_fault(config) empty; ct and igtv (and ctv when not empty) of
//   product-of-dim values (std::invalid_argument otherwise).
TrainingCase elastic_copy(const TrainingCase& input, const ElasticConfig& config,
                          std::uint64_t seed, std::uint64_t patient, std::uint64_t copy);

}  // namespace ctv::data
