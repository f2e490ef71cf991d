// The preprocessing plan and its forward and inverse mappings (see data/preprocess.h).
//
// Invariants: a plan's maps compose exactly as
//   source index s --(permutation, flip)--> canonical index x --(axis maps)--> resampled j
//   --(minus crop_offset)--> network g,
// and network_affine = canonical_affine * (x as a function of g), so every network voxel's
// world position is the one its values were sampled at. Identity axis maps (matching spacing)
// make the whole chain integer-exact.
#include "data/preprocess.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ctv::data {

namespace {

const char* kAxis = "xyz";

std::string num(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

void require_source(const PreprocessPlan& plan, const Volume& v, const char* what) {
  const std::string d = geometry_difference(plan.reorientation.source, v.geometry);
  if (!d.empty())
    throw std::invalid_argument(std::string(what) + ": the volume's geometry differs from the " +
                                "plan's source: " + d);
  if (v.data.size() != v.geometry.voxel_count())
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(v.data.size()) +
                                " values for a grid of " +
                                std::to_string(v.geometry.voxel_count()) + " voxels");
}

// Canonical continuous index of source index s along canonical axis c (exact).
double canonical_coordinate(const Reorientation& r, int c, double s_along_source_axis) {
  const int a = r.source_axis[c];
  return r.flip[c] ? (r.source.dim[a] - 1) - s_along_source_axis : s_along_source_axis;
}

// Resampled continuous index of canonical index x (the inverse of AxisMap::position).
double resampled_coordinate(const AxisMap& m, double x) {
  return 0.5 * (m.out - 1) + (x - 0.5 * (m.in - 1)) / m.step;
}

}  // namespace

const char* crop_rule_name(CropRule rule) {
  return rule == CropRule::image_centre ? "image_centre" : "igtv_centroid";
}

CropRule parse_crop_rule(const std::string& name) {
  if (name == "image_centre") return CropRule::image_centre;
  if (name == "igtv_centroid") return CropRule::igtv_centroid;
  throw std::invalid_argument("crop rule \"" + name +
                              "\" is not one of image_centre, igtv_centroid");
}

float HuWindow::apply(float hu) const {
  return static_cast<float>((std::clamp(double(hu), lo, hi) - offset) / scale);
}

std::string preprocess_config_fault(const PreprocessConfig& c) {
  for (int a = 0; a < 3; ++a) {
    if (!std::isfinite(c.spacing[a]) || !(c.spacing[a] > 0) || c.spacing[a] > 100)
      return std::string("spacing ") + kAxis[a] + " " + num(c.spacing[a]) +
             " mm is not in (0, 100]";
    if (c.grid[a] < 1 || c.grid[a] > 4096)
      return std::string("grid ") + kAxis[a] + " " + std::to_string(c.grid[a]) +
             " voxels is not in 1..4096";
  }
  const HuWindow& w = c.window;
  if (!std::isfinite(w.lo) || !std::isfinite(w.hi) || !(w.lo < w.hi))
    return "HU window [" + num(w.lo) + ", " + num(w.hi) + "] is not a finite range lo < hi";
  if (!std::isfinite(w.scale) || w.scale == 0)
    return "HU scale " + num(w.scale) + " is not finite and non-zero";
  if (!std::isfinite(w.offset)) return "HU offset is not finite";
  if (!std::isfinite(c.ct_pad_hu)) return "CT pad value is not finite";
  return {};
}

Dim3 PreprocessPlan::resampled_dim() const {
  return {resampling[0].out, resampling[1].out, resampling[2].out};
}

Geometry PreprocessPlan::network_geometry() const {
  return make_geometry(config.grid, network_affine);
}

Eigen::Vector3d PreprocessPlan::network_index(const Eigen::Vector3d& s) const {
  Eigen::Vector3d g;
  for (int c = 0; c < 3; ++c) {
    const double x = canonical_coordinate(reorientation, c, s(reorientation.source_axis[c]));
    g(c) = resampled_coordinate(resampling[c], x) - crop_offset[c];
  }
  return g;
}

PreprocessPlan plan_preprocessing(const Geometry& source, const PreprocessConfig& config,
                                  const Volume* igtv, const std::filesystem::path& file) {
  if (const std::string f = preprocess_config_fault(config); !f.empty())
    throw std::invalid_argument("preprocessing config: " + f);
  PreprocessPlan p;
  p.config = config;
  p.reorientation = plan_canonical(source, file);
  const Reorientation& r = p.reorientation;

  // Canonical geometry = source affine * P (P: canonical index -> source index), as to_canonical.
  Eigen::Matrix4d perm = Eigen::Matrix4d::Zero();
  perm(3, 3) = 1;
  for (int c = 0; c < 3; ++c) {
    const int a = r.source_axis[c];
    p.canonical_dim[c] = source.dim[a];
    p.canonical_spacing[c] = source.spacing[a];
    perm(a, c) = r.flip[c] ? -1 : 1;
    perm(a, 3) = r.flip[c] ? source.dim[a] - 1 : 0;
  }
  p.canonical_affine = source.affine * perm;
  for (int c = 0; c < 3; ++c)
    p.resampling[c] =
        axis_to_spacing(p.canonical_dim[c], p.canonical_spacing[c], config.spacing[c]);

  const Dim3 m = p.resampled_dim();
  if (config.crop == CropRule::image_centre) {
    for (int c = 0; c < 3; ++c)
      p.crop_offset[c] = int(std::floor(0.5 * double(m[c] - config.grid[c])));
  } else {
    if (!igtv)
      throw std::invalid_argument("crop rule igtv_centroid needs the iGTV, and none was given");
    if (const std::string d = geometry_difference(source, igtv->geometry); !d.empty())
      throw std::invalid_argument(
          "crop rule igtv_centroid: the iGTV's geometry differs from "
          "the image's: " +
          d);
    if (igtv->data.size() != source.voxel_count())
      throw std::invalid_argument("crop rule igtv_centroid: the iGTV holds " +
                                  std::to_string(igtv->data.size()) + " values for " +
                                  std::to_string(source.voxel_count()) + " voxels");
    // Mean source index in double: sums of up to 2^31 indices below 2^16 stay exact.
    double sum[3] = {0, 0, 0};
    std::size_t n = 0, idx = 0;
    for (int k = 0; k < source.dim[2]; ++k)
      for (int j = 0; j < source.dim[1]; ++j)
        for (int i = 0; i < source.dim[0]; ++i, ++idx)
          if (igtv->data[idx] > 0.5f) {
            sum[0] += i;
            sum[1] += j;
            sum[2] += k;
            ++n;
          }
    if (n == 0) throw std::invalid_argument("cannot centre the crop on an empty iGTV");
    const Eigen::Vector3d centroid(sum[0] / double(n), sum[1] / double(n), sum[2] / double(n));
    p.crop_offset = {0, 0, 0};
    const Eigen::Vector3d g = p.network_index(centroid);  // = resampled index while offset is 0
    for (int c = 0; c < 3; ++c)
      p.crop_offset[c] = int(std::floor(g(c) - 0.5 * (config.grid[c] - 1) + 0.5));
  }

  // Network voxel g -> canonical x = (in-1)/2 + (g + offset - (out-1)/2) * step, per axis.
  Eigen::Matrix4d net_to_canonical = Eigen::Matrix4d::Identity();
  for (int c = 0; c < 3; ++c) {
    const AxisMap& a = p.resampling[c];
    net_to_canonical(c, c) = a.step;
    net_to_canonical(c, 3) = 0.5 * (a.in - 1) + (p.crop_offset[c] - 0.5 * (a.out - 1)) * a.step;
  }
  p.network_affine = p.canonical_affine * net_to_canonical;
  return p;
}

std::vector<float> to_network_grid(const PreprocessPlan& plan, const Volume& volume,
                                   SampleKind kind, int threads) {
  require_source(plan, volume, "to_network_grid");
  // The same voxel permutation, for this volume's own header: files of one patient share a
  // geometry within SPEC tolerances, not bit for bit, and to_canonical checks the latter.
  Reorientation reorientation = plan.reorientation;
  reorientation.source = volume.geometry;
  const Volume canonical = to_canonical(volume, reorientation);
  const std::vector<float> resampled =
      kind == SampleKind::mask ? resample_mask(canonical.data, plan.resampling, threads)
                               : resample_linear(canonical.data, plan.resampling, threads);
  const float pad = kind == SampleKind::mask ? 0.f : plan.config.ct_pad_hu;
  return crop_or_pad(resampled, plan.resampled_dim(), plan.config.grid, plan.crop_offset, pad);
}

std::vector<float> from_network_grid(const PreprocessPlan& plan, const std::vector<float>& network,
                                     float outside, int threads) {
  const Dim3& g = plan.config.grid;
  if (network.size() != std::size_t(g[0]) * std::size_t(g[1]) * std::size_t(g[2]))
    throw std::invalid_argument("from_network_grid: " + std::to_string(network.size()) +
                                " values for a network grid of " + std::to_string(g[0]) + "x" +
                                std::to_string(g[1]) + "x" + std::to_string(g[2]));
  const std::array<int, 3> back{-plan.crop_offset[0], -plan.crop_offset[1], -plan.crop_offset[2]};
  const std::vector<float> resampled = crop_or_pad(network, g, plan.resampled_dim(), back, outside);
  const std::array<AxisMap, 3> inverse{plan.resampling[0].inverse(), plan.resampling[1].inverse(),
                                       plan.resampling[2].inverse()};
  return to_source(resample_linear(resampled, inverse, threads), plan.reorientation);
}

std::vector<float> apply_window(const HuWindow& window, const std::vector<float>& hu) {
  std::vector<float> out(hu.size());
  for (std::size_t i = 0; i < hu.size(); ++i) out[i] = window.apply(hu[i]);
  return out;
}

double crop_clearance_mm(const PreprocessPlan& plan, const Volume& mask) {
  require_source(plan, mask, "crop_clearance_mm");
  const Dim3& d = mask.geometry.dim;
  // Bounding box in source indices: the map to network indices is monotonic per axis, so the
  // box's corners bound every voxel's network position.
  int lo[3] = {d[0], d[1], d[2]}, hi[3] = {-1, -1, -1};
  std::size_t idx = 0;
  for (int k = 0; k < d[2]; ++k)
    for (int j = 0; j < d[1]; ++j)
      for (int i = 0; i < d[0]; ++i, ++idx)
        if (mask.data[idx] > 0.5f) {
          const int v[3] = {i, j, k};
          for (int a = 0; a < 3; ++a) {
            lo[a] = std::min(lo[a], v[a]);
            hi[a] = std::max(hi[a], v[a]);
          }
        }
  if (hi[0] < 0) return std::numeric_limits<double>::infinity();
  const Eigen::Vector3d a = plan.network_index(Eigen::Vector3d(lo[0], lo[1], lo[2]));
  const Eigen::Vector3d b = plan.network_index(Eigen::Vector3d(hi[0], hi[1], hi[2]));
  double clearance = std::numeric_limits<double>::infinity();
  for (int c = 0; c < 3; ++c) {
    const double first = std::min(a(c), b(c)), last = std::max(a(c), b(c));
    const double mm = plan.config.spacing[c];
    clearance = std::min({clearance, first * mm, (plan.config.grid[c] - 1 - last) * mm});
  }
  return clearance;
}

}  // namespace ctv::data
