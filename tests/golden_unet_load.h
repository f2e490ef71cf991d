// Loading the PyTorch U-Net reference (tests/data/golden_unet.h5, tests/data/README.md) into
// the engine's layouts, and the error measures the golden tests report.
//
// Layouts: the file is PyTorch's (row-major): activations (N, C, D, H, W), Conv3d weights
// (K, C, T, R, S), ConvTranspose3d weights (C_in, C_out, T, R, S). Ours are NDHWC, KTRSC and
// CTRSK: every rank-5 array maps by the same axis permutation (0, 2, 3, 4, 1), i.e. the second
// axis moves last; no flipping. Rank 0 and 1 arrays (losses, biases, batch-norm vectors) are
// taken as they are. The file's names are our parameter names (unet3d/unet3d_config.h).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "golden_h5.h"
#include "unet3d/unet3d.h"

namespace golden_unet {

inline const std::string& path() {
  static const std::string p = std::string(CTV_TEST_DATA_DIR) + "/golden_unet.h5";
  return p;
}

// requires: rank 0, 1 or 5. ensures: the array in the engine's layout, rounded to dtype.
inline ctv::Tensor to_engine_layout(const golden::GoldenArray& a, ctv::DType dtype) {
  if (a.shape.size() <= 1) {
    ctv::Shape s;
    if (a.shape.size() == 1) s = ctv::Shape{static_cast<std::int64_t>(a.shape[0])};
    return ctv::Tensor::from_vector(s, a.values, dtype);
  }
  if (a.shape.size() != 5)
    throw std::invalid_argument("golden_unet: cannot map a rank-" + std::to_string(a.shape.size()) +
                                " array to the engine's layout");
  const std::size_t n0 = a.shape[0], n1 = a.shape[1], n2 = a.shape[2], n3 = a.shape[3],
                    n4 = a.shape[4];
  const std::size_t inner = n2 * n3 * n4;  // (i2, i3, i4) keep their order
  std::vector<double> out(a.values.size());
  for (std::size_t i0 = 0; i0 < n0; ++i0)
    for (std::size_t i1 = 0; i1 < n1; ++i1)
      for (std::size_t j = 0; j < inner; ++j)
        out[(i0 * inner + j) * n1 + i1] = a.values[(i0 * n1 + i1) * inner + j];
  auto d = [](std::size_t v) { return static_cast<std::int64_t>(v); };
  return ctv::Tensor::from_vector(ctv::Shape{d(n0), d(n2), d(n3), d(n4), d(n1)}, out, dtype);
}

inline ctv::Tensor read_engine(const golden::File& f, const std::string& name, ctv::DType dtype) {
  return to_engine_layout(f.read(name), dtype);
}

// The network the file was made with, from its root attributes.
inline ctv::unet3d::UNetConfig config_from_file(const golden::File& f, ctv::DType dtype) {
  ctv::unet3d::UNetConfig c;
  c.levels = static_cast<int>(f.attr_number("levels"));
  c.base_filters = static_cast<std::int64_t>(f.attr_number("base_filters"));
  c.in_channels = static_cast<int>(f.attr_number("in_channels"));
  c.norm = ctv::unet3d::Norm::batch;
  c.bn_momentum = f.attr_number("bn_momentum");
  c.bn_eps = f.attr_number("bn_eps");
  c.dtype = dtype;
  if (f.attr_string("concat_order") != "skip,up")
    throw std::runtime_error(f.path() + ": concat_order is not \"skip,up\"");
  return c;
}

// Every tensor of the model's state, as the file names them: parameters, then per batch-norm
// layer "<layer>.running_mean" and "<layer>.running_var".
inline std::vector<std::string> state_keys(const ctv::unet3d::UNet3D& net) {
  std::vector<std::string> keys;
  for (const ctv::unet3d::NamedParameter& p : net.named_parameters()) keys.push_back(p.name);
  for (const std::string& b : net.batch_norm_names()) {
    keys.push_back(b + ".running_mean");
    keys.push_back(b + ".running_var");
  }
  return keys;
}

// The tensor of the model's state named `key` (a view of the model's own storage).
inline ctv::Tensor state_tensor(ctv::unet3d::UNet3D& net, const std::string& key) {
  for (const char* suffix : {".running_mean", ".running_var"}) {
    const std::string s = suffix;
    if (key.size() > s.size() && key.compare(key.size() - s.size(), s.size(), s) == 0) {
      ctv::BatchNormState& st = net.batch_norm_state(key.substr(0, key.size() - s.size()));
      return s == ".running_mean" ? st.running_mean : st.running_var;
    }
  }
  return net.parameter(key).value();
}

// ensures: every parameter and batch-norm buffer of net holds the file's `group` values
//          (rounded to the model's dtype); the file's keys and the model's are the same set
//          (std::runtime_error naming the first difference otherwise).
inline void load_state(ctv::unet3d::UNet3D& net, const golden::File& f, const std::string& group) {
  const std::vector<std::string> file_keys = f.list(group);
  const std::vector<std::string> ours = state_keys(net);
  const std::set<std::string> file_set(file_keys.begin(), file_keys.end());
  const std::set<std::string> our_set(ours.begin(), ours.end());
  for (const std::string& k : ours)
    if (!file_set.count(k)) throw std::runtime_error(f.path() + ": " + group + " lacks " + k);
  for (const std::string& k : file_keys)
    if (!our_set.count(k))
      throw std::runtime_error(f.path() + ": " + group + "/" + k + " is not in the model");
  for (const std::string& k : ours) {
    ctv::Tensor dst = state_tensor(net, k);
    const ctv::Tensor src = read_engine(f, group + "/" + k, ctv::DType::f64);
    if (src.shape() != dst.shape())
      throw std::runtime_error(f.path() + ": " + group + "/" + k + " has shape " +
                               src.shape().str() + " in our layout, the model " +
                               dst.shape().str());
    dst.copy_from(src);  // rounds to the model's dtype
  }
}

// A conv bias followed by a batch norm: its exact gradient is 0 (the norm removes the mean).
inline bool is_pre_norm_conv_bias(const ctv::unet3d::UNet3D& net, const std::string& name) {
  if (net.config().norm != ctv::unet3d::Norm::batch) return false;
  const std::string s = ".bias";
  if (name.size() <= s.size() || name.compare(name.size() - s.size(), s.size(), s) != 0)
    return false;
  return name.find(".conv1.") != std::string::npos || name.find(".conv2.") != std::string::npos;
}

// Euclidean norm over all elements.
inline double l2_norm(const ctv::Tensor& t) {
  double s = 0.0;
  for (double v : t.to_vector()) s += v * v;
  return std::sqrt(s);
}

// ||ours - ref|| / max(||ref||, 1e-12), Euclidean norms over all elements.
inline double relative_error(const ctv::Tensor& ours, const ctv::Tensor& ref) {
  if (ours.shape() != ref.shape())
    throw std::invalid_argument("relative_error: shapes " + ours.shape().str() + " and " +
                                ref.shape().str());
  const std::vector<double> a = ours.to_vector(), b = ref.to_vector();
  double diff = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-12);
}

inline double max_abs_difference(const ctv::Tensor& ours, const ctv::Tensor& ref) {
  const std::vector<double> a = ours.to_vector(), b = ref.to_vector();
  if (a.size() != b.size()) throw std::invalid_argument("max_abs_difference: sizes differ");
  double m = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace golden_unet
