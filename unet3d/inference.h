// Prediction for one patient (SPEC sections 1-3): the patient's CT and iGTV, in their own
// file geometry, to the CTV in the same geometry.
//
//   1. plan the preprocessing recorded with the weights (data/preprocess.h): reorient to LPS,
//      resample to the recorded spacing, crop or pad to the recorded grid;
//   2. the network input: channel 0 the windowed CT, channel 1 the iGTV (0/1), NDHWC
//      [1, Z, Y, X, 2] with the grid's x fastest, in the model's dtype;
//   3. the forward pass in eval mode without a tape (InferenceMode): sigmoid probabilities;
//   4. the probability map back to the source grid (linear; what the crop cut away is 0),
//      then thresholded: voxels with probability > 0.5 are CTV;
//   5. the safety union (SPEC section 3): every iGTV voxel is CTV, unless turned off.
//
// Invariants: nothing here reads or writes a file; the result depends only on the model, the
// preprocessing record and the two volumes (not on the thread count).
#pragma once

#include <cstdint>
#include <vector>

#include "data/nifti.h"
#include "data/preprocess.h"
#include "engine/tensor.h"
#include "unet3d/unet3d.h"

namespace ctv::unet3d {

// The network input [1, Z, Y, X, 2] (grid = config.grid, x fastest) of `dtype`.
// requires: ct_hu and igtv hold product(config.grid) values each (std::invalid_argument).
// ensures: channel 0 = config.window.apply(ct_hu), channel 1 = igtv > 0.5 ? 1 : 0.
Tensor network_input(const data::PreprocessConfig& config, const std::vector<float>& ct_hu,
                     const std::vector<float>& igtv, DType dtype);
// The same values written to out[0 .. 2 n) (channels interleaved, n = ct_hu.size()): one batch
// row of a float32 input, for training. requires: igtv.size() == ct_hu.size() (unchecked).
void fill_network_input(const data::HuWindow& window, const std::vector<float>& ct_hu,
                        const std::vector<float>& igtv, float* out);

struct PredictSettings {
  bool igtv_union = true;  // SPEC section 3's safety rule
  int threads = 1;         // for resampling; the network uses the kernels' thread pool
};

struct PatientPrediction {
  std::vector<float> probability;  // source grid and voxel order, in [0, 1]
  std::vector<float> mask;         // source grid: 1 for CTV, 0 outside
  std::int64_t igtv_voxels = 0;    // iGTV voxels (> 0.5) on the source grid
  std::int64_t igtv_covered = 0;   // of those, how many the raw output (> 0.5) covered
  std::int64_t ctv_voxels = 0;     // voxels of `mask`
  double crop_clearance_mm = 0;    // data::crop_clearance_mm of the iGTV (warn when < 10)

  double raw_igtv_coverage() const {
    return igtv_voxels ? double(igtv_covered) / double(igtv_voxels) : 1.0;
  }
};

// requires: ct and igtv share one geometry (std::invalid_argument naming the difference);
//   the recorded grid is a multiple of the model's size_divisor (std::invalid_argument);
//   preprocessing passes data::preprocess_config_fault.
// throws std::invalid_argument when the crop rule needs the iGTV's centroid and it is empty.
PatientPrediction predict_patient(UNet3D& model, const data::PreprocessConfig& preprocessing,
                                  const data::Volume& ct, const data::Volume& igtv,
                                  const PredictSettings& settings = {});

}  // namespace ctv::unet3d
