#include "data/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "data/distance_transform.h"

namespace ctv::data {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::size_t voxel_count(const std::array<int, 3>& dim) {
  return std::size_t(dim[0]) * std::size_t(dim[1]) * std::size_t(dim[2]);
}

// The smallest box holding every voxel of either mask: lo inclusive, hi exclusive.
struct Box {
  std::array<int, 3> lo{0, 0, 0}, hi{0, 0, 0};
  std::array<int, 3> dim() const { return {hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]}; }
};

Box union_box(const std::vector<float>& a, const std::vector<float>& b,
              const std::array<int, 3>& dim) {
  Box box{{dim[0], dim[1], dim[2]}, {0, 0, 0}};
  std::size_t n = 0;
  for (int k = 0; k < dim[2]; ++k)
    for (int j = 0; j < dim[1]; ++j)
      for (int i = 0; i < dim[0]; ++i, ++n)
        if (a[n] > 0.5f || b[n] > 0.5f) {
          const std::array<int, 3> v{i, j, k};
          for (int d = 0; d < 3; ++d) {
            box.lo[d] = std::min(box.lo[d], v[d]);
            box.hi[d] = std::max(box.hi[d], v[d] + 1);
          }
        }
  return box;
}

std::vector<std::uint8_t> crop_mask(const std::vector<float>& m, const std::array<int, 3>& dim,
                                    const Box& box) {
  const std::array<int, 3> c = box.dim();
  std::vector<std::uint8_t> out(voxel_count(c));
  std::size_t n = 0;
  for (int k = box.lo[2]; k < box.hi[2]; ++k)
    for (int j = box.lo[1]; j < box.hi[1]; ++j) {
      const std::size_t row = std::size_t(dim[0]) * (std::size_t(j) + std::size_t(dim[1]) * k);
      for (int i = box.lo[0]; i < box.hi[0]; ++i) out[n++] = m[row + i] > 0.5f;
    }
  return out;
}

std::int64_t count_set(const std::vector<std::uint8_t>& m) {
  return std::int64_t(std::count(m.begin(), m.end(), std::uint8_t(1)));
}

void require_voxels(const std::vector<float>& m, std::size_t n, const std::string& what) {
  if (m.size() != n)
    throw std::invalid_argument("compute_metrics: the " + what + " mask has " +
                                std::to_string(m.size()) + " voxels, the grid " +
                                std::to_string(n));
}

}  // namespace

std::vector<std::uint8_t> mask_surface(const std::vector<std::uint8_t>& mask,
                                       const std::array<int, 3>& dim) {
  if (mask.size() != voxel_count(dim))
    throw std::invalid_argument("mask_surface: mask of " + std::to_string(mask.size()) +
                                " voxels on a grid of " + std::to_string(voxel_count(dim)));
  const std::size_t sx = 1, sy = std::size_t(dim[0]), sz = sy * std::size_t(dim[1]);
  std::vector<std::uint8_t> surface(mask.size(), 0);
  std::size_t n = 0;
  for (int k = 0; k < dim[2]; ++k)
    for (int j = 0; j < dim[1]; ++j)
      for (int i = 0; i < dim[0]; ++i, ++n) {
        if (!mask[n]) continue;
        // A neighbour outside the volume counts as outside the mask.
        const bool inner = i > 0 && i + 1 < dim[0] && j > 0 && j + 1 < dim[1] && k > 0 &&
                           k + 1 < dim[2] && mask[n - sx] && mask[n + sx] && mask[n - sy] &&
                           mask[n + sy] && mask[n - sz] && mask[n + sz];
        surface[n] = !inner;
      }
  return surface;
}

std::vector<double> directed_surface_distances(const std::vector<std::uint8_t>& from_surface,
                                               const std::vector<std::uint8_t>& to_surface,
                                               const std::array<int, 3>& dim,
                                               const std::array<double, 3>& spacing) {
  if (from_surface.size() != voxel_count(dim) || to_surface.size() != voxel_count(dim))
    throw std::invalid_argument("directed_surface_distances: surfaces do not match the grid");
  std::vector<double> out;
  if (count_set(from_surface) == 0) return out;
  const std::vector<double> d2 = squared_distance_to_mask(to_surface, dim, spacing);
  for (std::size_t n = 0; n < from_surface.size(); ++n)
    if (from_surface[n]) out.push_back(std::sqrt(d2[n]));
  return out;
}

double percentile_linear(std::vector<double> values, double q) {
  if (!(q >= 0 && q <= 100))
    throw std::invalid_argument("percentile_linear: q = " + std::to_string(q) +
                                " is outside [0, 100]");
  if (values.empty()) return kNaN;
  std::sort(values.begin(), values.end());
  const double h = double(values.size() - 1) * q / 100.0;
  const std::size_t lo = std::size_t(std::floor(h));
  if (lo + 1 >= values.size()) return values.back();
  return values[lo] + (h - double(lo)) * (values[lo + 1] - values[lo]);
}

Metrics compute_metrics(const std::vector<float>& pred, const std::vector<float>& ref,
                        const Geometry& geometry, const std::vector<NamedMask>& oars) {
  const std::size_t n = geometry.voxel_count();
  require_voxels(pred, n, "predicted");
  require_voxels(ref, n, "reference");
  for (const NamedMask& o : oars) {
    if (o.mask == nullptr)
      throw std::invalid_argument("compute_metrics: OAR " + o.name + " has no mask");
    require_voxels(*o.mask, n, "OAR " + o.name);
  }

  Metrics m;
  m.counts = count_overlap(pred, ref);
  m.dice = m.counts.dice();
  m.precision = m.counts.precision();
  m.recall = m.counts.recall();
  const double cm3_per_voxel = geometry.voxel_volume_mm3() / 1000.0;
  m.pred_volume_cm3 = double(m.counts.pred) * cm3_per_voxel;
  m.ref_volume_cm3 = double(m.counts.ref) * cm3_per_voxel;
  m.volume_difference_cm3 = double(m.counts.pred - m.counts.ref) * cm3_per_voxel;
  m.volume_difference_percent =
      m.counts.ref == 0 ? kNaN
                        : 100.0 * double(m.counts.pred - m.counts.ref) / double(m.counts.ref);

  for (const NamedMask& o : oars) {
    std::int64_t both = 0;
    for (std::size_t v = 0; v < n; ++v) both += pred[v] > 0.5f && (*o.mask)[v] > 0.5f;
    m.oars.push_back({o.name, double(both) * cm3_per_voxel});
  }

  if (m.counts.pred == 0 || m.counts.ref == 0) {
    const char* which = m.counts.pred == 0 && m.counts.ref == 0 ? "both masks are empty"
                        : m.counts.pred == 0                    ? "the prediction is empty"
                                                                : "the reference is empty";
    m.warnings.push_back(std::string(which) + ": surface metrics are NaN");
    m.hausdorff_mm = m.hausdorff95_mm = kNaN;
    m.mean_surface_distance_mm = m.median_surface_distance_mm = kNaN;
    m.hd95_pred_to_ref_mm = m.hd95_ref_to_pred_mm = kNaN;
    m.mean_pred_to_ref_mm = m.mean_ref_to_pred_mm = kNaN;
    return m;
  }

  // Surfaces and distances inside the box holding both masks: every surface voxel lies in it,
  // a neighbour outside it is outside both masks, and Euclidean distances between voxels in it
  // do not depend on the grid around it, so the result is that of the whole grid.
  const Box box = union_box(pred, ref, geometry.dim);
  const std::array<int, 3> cdim = box.dim();
  const std::vector<std::uint8_t> ps = mask_surface(crop_mask(pred, geometry.dim, box), cdim);
  const std::vector<std::uint8_t> rs = mask_surface(crop_mask(ref, geometry.dim, box), cdim);
  m.pred_surface_voxels = count_set(ps);
  m.ref_surface_voxels = count_set(rs);
  const std::vector<double> p_to_r = directed_surface_distances(ps, rs, cdim, geometry.spacing);
  const std::vector<double> r_to_p = directed_surface_distances(rs, ps, cdim, geometry.spacing);

  std::vector<double> pooled = p_to_r;
  pooled.insert(pooled.end(), r_to_p.begin(), r_to_p.end());
  m.hausdorff_mm = *std::max_element(pooled.begin(), pooled.end());
  m.hd95_pred_to_ref_mm = percentile_linear(p_to_r, 95);
  m.hd95_ref_to_pred_mm = percentile_linear(r_to_p, 95);
  m.hausdorff95_mm = std::max(m.hd95_pred_to_ref_mm, m.hd95_ref_to_pred_mm);
  m.mean_pred_to_ref_mm =
      std::accumulate(p_to_r.begin(), p_to_r.end(), 0.0) / double(p_to_r.size());
  m.mean_ref_to_pred_mm =
      std::accumulate(r_to_p.begin(), r_to_p.end(), 0.0) / double(r_to_p.size());
  m.mean_surface_distance_mm =
      std::accumulate(pooled.begin(), pooled.end(), 0.0) / double(pooled.size());
  m.median_surface_distance_mm = percentile_linear(std::move(pooled), 50);
  return m;
}

Summary summarize(const std::vector<double>& values) {
  Summary s;
  std::vector<double> v;
  for (double x : values) {
    if (std::isnan(x))
      ++s.nan_skipped;
    else
      v.push_back(x);
  }
  s.n = std::int64_t(v.size());
  if (v.empty()) {
    s.mean = s.sd = s.median = s.min = s.max = kNaN;
    return s;
  }
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.sd = v.size() < 2 ? kNaN : std::sqrt(ss / double(v.size() - 1));
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  s.median = percentile_linear(std::move(v), 50);
  return s;
}

SignedRankTest signed_rank_test(const std::vector<double>& differences) {
  std::vector<double> d;
  for (double x : differences)
    if (!std::isnan(x) && x != 0) d.push_back(x);
  SignedRankTest t;
  t.n = std::int64_t(d.size());
  if (d.empty()) {
    t.p = kNaN;
    return t;
  }
  if (d.size() > 1000)
    throw std::invalid_argument("signed_rank_test: " + std::to_string(d.size()) +
                                " differences; at most 1000");
  std::sort(d.begin(), d.end(), [](double a, double b) { return std::fabs(a) < std::fabs(b); });
  // Doubled ranks (integers even where ties share a half-integer mean rank).
  std::vector<std::int64_t> rank2(d.size());
  for (std::size_t i = 0; i < d.size();) {
    std::size_t j = i;
    while (j < d.size() && std::fabs(d[j]) == std::fabs(d[i])) ++j;
    for (std::size_t k = i; k < j; ++k) rank2[k] = std::int64_t(i + 1 + j);  // 2 * mean rank
    i = j;
  }
  std::int64_t w2 = 0, total = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    total += rank2[i];
    if (d[i] > 0) w2 += rank2[i];
  }
  t.w_plus = double(w2) / 2;
  // prob[s]: the probability that the doubled W+ is s, each rank's sign a fair coin.
  std::vector<double> prob(std::size_t(total + 1), 0.0);
  prob[0] = 1;
  std::int64_t reach = 0;
  for (std::int64_t r : rank2) {
    reach += r;
    for (std::int64_t s = reach; s >= 0; --s)
      prob[std::size_t(s)] = 0.5 * (prob[std::size_t(s)] + (s >= r ? prob[std::size_t(s - r)] : 0));
  }
  double lower = 0, upper = 0;
  for (std::int64_t s = 0; s <= total; ++s) {
    if (s <= w2) lower += prob[std::size_t(s)];
    if (s >= w2) upper += prob[std::size_t(s)];
  }
  t.p = std::min(1.0, 2 * std::min(lower, upper));
  return t;
}

std::vector<NamedValue> metric_columns(const Metrics& m) {
  std::vector<NamedValue> c = {
      {"dice", m.dice},
      {"precision", m.precision},
      {"recall", m.recall},
      {"pred_volume_cm3", m.pred_volume_cm3},
      {"ref_volume_cm3", m.ref_volume_cm3},
      {"volume_difference_cm3", m.volume_difference_cm3},
      {"volume_difference_percent", m.volume_difference_percent},
      {"hausdorff_mm", m.hausdorff_mm},
      {"hausdorff95_mm", m.hausdorff95_mm},
      {"mean_surface_distance_mm", m.mean_surface_distance_mm},
      {"median_surface_distance_mm", m.median_surface_distance_mm},
      {"hd95_pred_to_ref_mm", m.hd95_pred_to_ref_mm},
      {"hd95_ref_to_pred_mm", m.hd95_ref_to_pred_mm},
      {"mean_pred_to_ref_mm", m.mean_pred_to_ref_mm},
      {"mean_ref_to_pred_mm", m.mean_ref_to_pred_mm},
      {"pred_voxels", double(m.counts.pred)},
      {"ref_voxels", double(m.counts.ref)},
      {"overlap_voxels", double(m.counts.both)},
  };
  for (const OarOverlap& o : m.oars) c.push_back({"ov_" + o.name + "_cm3", o.overlap_cm3});
  return c;
}

}  // namespace ctv::data
