// The preprocessing plan: every geometric and intensity step between a patient's files and
// the network grid, recorded in one struct so that prediction inverts it exactly and a weights
// file can carry what is needed to repeat it (SPEC sections 2 and 3).
//
// Forward (source file grid -> network grid), for the CT and each mask alike:
//   1. reorient to canonical LPS (data/nifti.h: an exact permutation and flip of voxel axes);
//   2. resample each canonical axis to the target spacing (data/resample.h: centred grids,
//      linear interpolation; masks interpolated then > 0.5; axes whose spacing already matches
//      are copied, not interpolated);
//   3. crop or pad to the network grid: network voxel g is resampled voxel g + crop_offset;
//      what lies outside the resampled volume is ct_pad_hu for the CT (air) and 0 for masks.
//   The CT is then windowed for the network input (HuWindow) as a separate, last step.
// Inverse (network grid -> source file grid), for a probability map: un-crop (what the network
// never saw gets `outside`, 0 by default), resample back to the canonical grid with the
// inverse axis maps (linear), reorient back to the source voxel order. The caller thresholds.
// With matching spacing the inverse returns every voxel inside the crop bit for bit.
//
// Crop rules. image_centre: crop_offset = floor((resampled - grid) / 2) per axis, so the
// resampled volume's centre lands within half a voxel of the grid centre (grid - 1) / 2.
// igtv_centroid: the iGTV's centroid (mean index of its voxels > 0.5, mapped to the resampled
// grid exactly through the reorientation and the axis maps) lands within half a voxel of the
// grid centre: crop_offset = floor(centroid - (grid - 1) / 2 + 0.5).
//
// Defaults, and why. Spacing 1 x 1 x 2.5 mm and grid 416 x 288 x 128 are SPEC section 3's
// (the paper's, our reading): 416 x 288 mm in-plane covers an adult thorax, 128 slices of
// 2.5 mm cover 320 mm. The HU window clips to [-1000, 1000] and divides by 1000, giving
// [-1, 1]: air -1, lung about -0.85, fat -0.1, soft tissue 0.04, cortical bone 1. It keeps
// bone distinct from soft tissue (the CTV stops at bone; a window ending at 400 HU would merge
// cancellous and cortical bone) and keeps values of order one for the first convolution.
// CT padding is -1000 HU (air), the value outside any patient.
#pragma once

#include <Eigen/Core>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "data/nifti.h"
#include "data/resample.h"

namespace ctv::data {

enum class CropRule { image_centre, igtv_centroid };
// "image_centre" or "igtv_centroid", as recorded in a weights file and typed in a config.
const char* crop_rule_name(CropRule rule);
// throws std::invalid_argument naming the text and the accepted names.
CropRule parse_crop_rule(const std::string& name);

// Network input from Hounsfield units: (clamp(hu, lo, hi) - offset) / scale.
struct HuWindow {
  double lo = -1000, hi = 1000;     // clip, HU
  double offset = 0, scale = 1000;  // then shift and divide
  float apply(float hu) const;
};

// What a weights file records to preprocess an input exactly as in training.
struct PreprocessConfig {
  std::array<double, 3> spacing{1, 1, 2.5};  // mm, x y z of the canonical LPS grid
  Dim3 grid{416, 288, 128};                  // network grid, voxels x y z
  CropRule crop = CropRule::image_centre;
  HuWindow window;
  float ct_pad_hu = -1000;  // CT value where the grid extends beyond the image
};

// Empty when the config is usable; else what is wrong, naming the field (e.g. "spacing z 0 mm
// is not > 0"). Checks: spacings finite, > 0 and <= 100 mm; grid sizes 1..4096; window lo < hi,
// both finite; scale finite and != 0; offset and ct_pad_hu finite.
std::string preprocess_config_fault(const PreprocessConfig& config);

struct PreprocessPlan {
  PreprocessConfig config;
  Reorientation reorientation;  // source file grid -> canonical LPS; holds the source geometry
  Dim3 canonical_dim{};         // after reorientation
  std::array<double, 3> canonical_spacing{};
  Eigen::Matrix4d canonical_affine;   // canonical voxel -> RAS+ mm (= source affine * P)
  std::array<AxisMap, 3> resampling;  // canonical axis -> resampled axis
  std::array<int, 3> crop_offset{};   // network voxel g = resampled voxel g + crop_offset
  Eigen::Matrix4d network_affine;     // network voxel -> RAS+ mm

  Dim3 resampled_dim() const;
  // The network grid as a geometry (sform and qform code 1), e.g. to write a debug NIfTI.
  Geometry network_geometry() const;
  // Continuous network index of a source voxel index (exact: permutation, flip, axis maps).
  Eigen::Vector3d network_index(const Eigen::Vector3d& source_index) const;
};

// Plans the forward mapping for files of geometry `source` (read with read_nifti).
// igtv is needed (and only read) when config.crop is igtv_centroid: the iGTV in the source
// voxel order, same geometry.
// requires: preprocess_config_fault(config) empty (std::invalid_argument with it otherwise).
// throws NiftiError (naming `file`) when the source cannot be reoriented (plan_canonical);
//   std::invalid_argument when the rule needs an iGTV and none is given, when its geometry
//   differs from `source`, or when it is empty ("cannot centre the crop on an empty iGTV").
PreprocessPlan plan_preprocessing(const Geometry& source, const PreprocessConfig& config,
                                  const Volume* igtv = nullptr,
                                  const std::filesystem::path& file = {});

enum class SampleKind {
  image,  // CT in HU: linear; padded with config.ct_pad_hu
  mask,   // voxels > 0.5: linear then > 0.5, values 0/1; padded with 0
};

// The forward mapping of one volume: values on the network grid (x fastest, config.grid).
// requires: volume.geometry equals the plan's source geometry (geometry_difference empty) and
//   volume.data has its voxel count (std::invalid_argument naming the difference otherwise);
//   threads >= 1 (results do not depend on it).
std::vector<float> to_network_grid(const PreprocessPlan& plan, const Volume& volume,
                                   SampleKind kind, int threads = 1);

// The inverse mapping: network-grid values back to the source file's grid and voxel order
// (x fastest, source dims), ready to be thresholded by the caller and written with the
// source geometry. Voxels the crop cut away come back as `outside` (blended with their
// neighbours at the crop's edge by the inverse interpolation).
// requires: network.size() == product of config.grid; threads >= 1 (std::invalid_argument).
std::vector<float> from_network_grid(const PreprocessPlan& plan, const std::vector<float>& network,
                                     float outside = 0, int threads = 1);

// The network's CT channel: window.apply on every value.
std::vector<float> apply_window(const HuWindow& window, const std::vector<float>& hu);

// How far, in mm, the mask's voxels (> 0.5) stay inside the network grid: the smallest, over
// the three axes and both sides, distance from the mask's outermost voxel centre to the
// grid's outermost voxel centre, mapped exactly as to_network_grid maps them. Negative when
// part of the mask falls outside the crop; +infinity for an empty mask. SPEC section 3 asks
// for a warning when the iGTV plus 10 mm leaves the crop: warn when this is < 10.
// requires: mask geometry equals the plan's source geometry (std::invalid_argument).
double crop_clearance_mm(const PreprocessPlan& plan, const Volume& mask);

}  // namespace ctv::data
