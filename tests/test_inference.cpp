// Prediction for one patient (unet3d/inference.h): where the recorded spacing and grid match
// the patient's canonical grid, predict_patient equals the network run by hand on the same
// input, bit for bit, brought back to the file's voxel order; the iGTV union; the input's
// channels; and the refusals (geometry mismatch, a grid the network cannot take, sizes).
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "data/nifti.h"
#include "data/preprocess.h"
#include "engine/autograd.h"
#include "engine/rng.h"
#include "unet3d/inference.h"
#include "unet3d/unet3d.h"

using namespace ctv;

namespace {

constexpr std::array<int, 3> kDim{16, 12, 8};
constexpr std::array<double, 3> kSpacing{2, 2, 3};

// Stored in RAS order (not the canonical LPS), so the reorientation is exercised.
data::Geometry ras_geometry() {
  Eigen::Matrix4d a = Eigen::Matrix4d::Identity();
  for (int i = 0; i < 3; ++i) {
    a(i, i) = kSpacing[i];
    a(i, 3) = -10.0 * i;
  }
  return data::make_geometry(kDim, a);
}

data::Volume volume(const data::Geometry& g, std::vector<float> v) {
  data::Volume out;
  out.geometry = g;
  out.data = std::move(v);
  return out;
}

// A CT of random HU in [-1000, 600] and an iGTV block.
struct Patient {
  data::Volume ct, igtv;
};
Patient make_patient() {
  const data::Geometry g = ras_geometry();
  const std::size_t n = std::size_t(kDim[0]) * kDim[1] * kDim[2];
  Rng rng(3, 9);
  std::vector<float> ct(n), igtv(n, 0.f);
  for (float& v : ct) v = float(-1000 + 1600 * rng.uniform());
  Patient p{volume(g, ct), volume(g, igtv)};
  for (int k = 3; k < 6; ++k)
    for (int j = 4; j < 8; ++j)
      for (int i = 5; i < 10; ++i) p.igtv.at(i, j, k) = 1.f;
  return p;
}

unet3d::UNetConfig small_net() {
  unet3d::UNetConfig c;
  c.levels = 2;
  c.base_filters = 3;
  c.seed = 11;
  return c;
}

data::PreprocessConfig matching_config() {
  data::PreprocessConfig c;
  c.spacing = kSpacing;
  c.grid = {kDim[0], kDim[1], kDim[2]};
  c.crop = data::CropRule::image_centre;
  return c;
}

}  // namespace

TEST_CASE("predict_patient equals the network run by hand where no resampling is needed") {
  const Patient p = make_patient();
  const data::PreprocessConfig config = matching_config();
  unet3d::UNet3D model(small_net());

  // By hand: canonical order is the network grid (same spacing, same size, no crop).
  const data::Reorientation plan = data::plan_canonical(p.ct.geometry);
  const data::Volume ct_c = data::to_canonical(p.ct, plan);
  const data::Volume igtv_c = data::to_canonical(p.igtv, plan);
  std::vector<float> prob_c(ct_c.data.size());
  {
    InferenceMode no_tape;
    const Tensor y =
        model
            .forward(Var(unet3d::network_input(config, ct_c.data, igtv_c.data, DType::f32)),
                     /*training=*/false)
            .value();
    const float* q = y.data<float>();
    prob_c.assign(q, q + prob_c.size());
  }
  const std::vector<float> expected_prob = data::to_source(prob_c, plan);

  const unet3d::PatientPrediction out = unet3d::predict_patient(model, config, p.ct, p.igtv);
  REQUIRE(out.probability.size() == expected_prob.size());
  std::int64_t raw = 0, igtv = 0, covered = 0, ctv = 0;
  for (std::size_t i = 0; i < expected_prob.size(); ++i) {
    REQUIRE(out.probability[i] == expected_prob[i]);
    const bool r = expected_prob[i] > 0.5f, g = p.igtv.data[i] > 0.5f;
    raw += r;
    igtv += g;
    covered += r && g;
    ctv += r || g;
    REQUIRE(out.mask[i] == ((r || g) ? 1.f : 0.f));
  }
  CHECK(out.igtv_voxels == igtv);
  CHECK(out.igtv_covered == covered);
  CHECK(out.ctv_voxels == ctv);
  // The random network puts some voxels on each side of 0.5, so the union is not trivial.
  CHECK(raw > 0);
  CHECK(raw < std::int64_t(expected_prob.size()));
}

TEST_CASE("predict_patient: the iGTV union can be turned off, and resampling keeps the grid") {
  const Patient p = make_patient();
  data::PreprocessConfig config = matching_config();
  config.spacing = {3, 3, 4};  // resampled: coarser than the file
  config.grid = {12, 10, 8};
  config.crop = data::CropRule::igtv_centroid;
  unet3d::UNet3D model(small_net());
  unet3d::PredictSettings no_union;
  no_union.igtv_union = false;
  const auto with = unet3d::predict_patient(model, config, p.ct, p.igtv);
  const auto without = unet3d::predict_patient(model, config, p.ct, p.igtv, no_union);
  REQUIRE(with.mask.size() == p.ct.data.size());
  CHECK(with.probability == without.probability);
  std::int64_t added = 0;
  for (std::size_t i = 0; i < with.mask.size(); ++i) {
    const bool g = p.igtv.data[i] > 0.5f;
    REQUIRE(with.mask[i] == ((without.mask[i] > 0.5f || g) ? 1.f : 0.f));
    REQUIRE(with.probability[i] >= 0.f);
    REQUIRE(with.probability[i] <= 1.f);
    added += with.mask[i] != without.mask[i];
  }
  CHECK(with.ctv_voxels == without.ctv_voxels + added);
  CHECK(with.igtv_covered == without.igtv_covered);
  CHECK(std::isfinite(with.crop_clearance_mm));
}

TEST_CASE("network_input: windowed CT in channel 0, the iGTV as 0/1 in channel 1") {
  data::PreprocessConfig c;
  c.grid = {2, 1, 1};
  c.window = {-1000, 400, -1000, 1400};
  const Tensor x = unet3d::network_input(c, {-2000.f, 400.f}, {0.2f, 0.7f}, DType::f64);
  REQUIRE(x.shape() == Shape{1, 1, 1, 2, 2});
  const double* v = x.data<double>();
  CHECK(v[0] == 0.0);
  CHECK(v[1] == 0.0);
  CHECK(v[2] == doctest::Approx(1.0));
  CHECK(v[3] == 1.0);
  CHECK_THROWS_AS(unet3d::network_input(c, {0.f}, {0.f, 0.f}, DType::f32), std::invalid_argument);
}

TEST_CASE("predict_patient refuses a geometry mismatch and a grid the network cannot take") {
  Patient p = make_patient();
  unet3d::UNet3D model(small_net());
  data::PreprocessConfig odd = matching_config();
  odd.grid = {15, 12, 8};  // 2 levels need even sizes
  CHECK_THROWS_AS(unet3d::predict_patient(model, odd, p.ct, p.igtv), std::invalid_argument);
  Eigen::Matrix4d a = p.igtv.geometry.affine;  // shifted by a voxel
  a(0, 3) += 2;
  p.igtv.geometry = data::make_geometry(kDim, a);
  CHECK_THROWS_AS(unet3d::predict_patient(model, matching_config(), p.ct, p.igtv),
                  std::invalid_argument);
}
