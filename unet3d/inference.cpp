// Prediction for one patient: see inference.h for the steps and invariants.
#include "unet3d/inference.h"

#include <stdexcept>
#include <string>

#include "engine/autograd.h"

namespace ctv::unet3d {

namespace {

std::size_t grid_voxels(const data::PreprocessConfig& c) {
  return std::size_t(c.grid[0]) * std::size_t(c.grid[1]) * std::size_t(c.grid[2]);
}

template <typename T>
void fill_input(const data::HuWindow& window, const std::vector<float>& ct_hu,
                const std::vector<float>& igtv, T* out) {
  for (std::size_t i = 0; i < ct_hu.size(); ++i) {
    out[2 * i] = static_cast<T>(window.apply(ct_hu[i]));
    out[2 * i + 1] = igtv[i] > 0.5f ? T(1) : T(0);
  }
}

}  // namespace

Tensor network_input(const data::PreprocessConfig& config, const std::vector<float>& ct_hu,
                     const std::vector<float>& igtv, DType dtype) {
  const std::size_t n = grid_voxels(config);
  if (ct_hu.size() != n || igtv.size() != n)
    throw std::invalid_argument("network_input: " + std::to_string(ct_hu.size()) + " CT and " +
                                std::to_string(igtv.size()) + " iGTV values for a grid of " +
                                std::to_string(n) + " voxels");
  const auto& g = config.grid;
  Tensor x = Tensor::empty(Shape{1, g[2], g[1], g[0], 2}, dtype);
  if (dtype == DType::f64)
    fill_input(config.window, ct_hu, igtv, x.data<double>());
  else if (dtype == DType::f32)
    fill_input(config.window, ct_hu, igtv, x.data<float>());
  else
    throw std::invalid_argument("network_input: dtype must be float32 or float64");
  return x;
}

void fill_network_input(const data::HuWindow& window, const std::vector<float>& ct_hu,
                        const std::vector<float>& igtv, float* out) {
  fill_input(window, ct_hu, igtv, out);
}

PatientPrediction predict_patient(UNet3D& model, const data::PreprocessConfig& preprocessing,
                                  const data::Volume& ct, const data::Volume& igtv,
                                  const PredictSettings& settings) {
  if (const std::string d = data::geometry_difference(ct.geometry, igtv.geometry); !d.empty())
    throw std::invalid_argument("CT and iGTV differ: " + d);
  const auto& g = preprocessing.grid;
  model.check_input_shape(Shape{1, g[2], g[1], g[0], model.config().in_channels});

  const data::PreprocessPlan plan = data::plan_preprocessing(ct.geometry, preprocessing, &igtv);
  const int threads = settings.threads < 1 ? 1 : settings.threads;
  std::vector<float> probability;
  {
    const std::vector<float> ct_grid =
        data::to_network_grid(plan, ct, data::SampleKind::image, threads);
    const std::vector<float> igtv_grid =
        data::to_network_grid(plan, igtv, data::SampleKind::mask, threads);
    InferenceMode no_tape;
    const Tensor prob =
        model
            .forward(Var(network_input(preprocessing, ct_grid, igtv_grid, model.config().dtype)
                             .to(model.device())),
                     /*training=*/false)
            .value()
            .to(Device::cpu);
    probability.resize(grid_voxels(preprocessing));
    if (prob.dtype() == DType::f64) {
      const double* p = prob.data<double>();
      for (std::size_t i = 0; i < probability.size(); ++i) probability[i] = float(p[i]);
    } else {
      const float* p = prob.data<float>();
      probability.assign(p, p + probability.size());
    }
  }

  PatientPrediction out;
  out.crop_clearance_mm = data::crop_clearance_mm(plan, igtv);
  out.probability = data::from_network_grid(plan, probability, /*outside=*/0.f, threads);
  out.mask.resize(out.probability.size());
  for (std::size_t i = 0; i < out.mask.size(); ++i) {
    const bool raw = out.probability[i] > 0.5f, in_igtv = igtv.data[i] > 0.5f;
    out.igtv_voxels += in_igtv;
    out.igtv_covered += raw && in_igtv;
    const bool ctv = raw || (settings.igtv_union && in_igtv);
    out.mask[i] = ctv ? 1.f : 0.f;
    out.ctv_voxels += ctv;
  }
  return out;
}

}  // namespace ctv::unet3d
