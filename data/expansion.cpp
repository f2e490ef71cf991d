// Cropped expansion (see the header for the margin definition).
//
// Invariants: masks are 0/1 bytes, x fastest; the growth runs on the canonical LPS grid so that
// "left" and "anterior" mean the patient's, whatever the file's storage order, and the result
// is mapped back with to_source (a pure permutation and flip: no resampling).
#include "data/expansion.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "data/distance_transform.h"

namespace ctv::data {

namespace {

constexpr double kInside = 1 + 1e-9;  // relative slack on the margin's square (rounding)

std::vector<std::uint8_t> to_mask(const std::vector<float>& v) {
  std::vector<std::uint8_t> m(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) m[i] = v[i] > 0.5f ? 1 : 0;
  return m;
}

}  // namespace

bool Margins::is_uniform() const {
  return sup == inf && sup == ant && sup == post && sup == right && sup == left;
}

double Margins::largest() const { return std::max({sup, inf, ant, post, right, left}); }

std::string Margins::to_string() const {
  std::ostringstream os;
  os << sup << ',' << inf << ',' << ant << ',' << post << ',' << right << ',' << left;
  return os.str();
}

std::string margins_fault(const Margins& m) {
  const std::pair<const char*, double> all[] = {{"SUP", m.sup},     {"INF", m.inf},
                                                {"ANT", m.ant},     {"POST", m.post},
                                                {"RIGHT", m.right}, {"LEFT", m.left}};
  for (const auto& [name, v] : all) {
    std::ostringstream os;
    os << name << " margin " << v << " mm ";
    if (!std::isfinite(v)) return os.str() + "is not a finite number";
    if (v < 0) return os.str() + "is negative";
    if (v > kMaxMarginMm) {
      os << "is larger than " << kMaxMarginMm << " mm";
      return os.str();
    }
  }
  return {};
}

std::vector<std::uint8_t> grow_canonical(const std::vector<std::uint8_t>& mask,
                                         const std::array<int, 3>& dim,
                                         const std::array<double, 3>& spacing, const Margins& m) {
  if (const std::string fault = margins_fault(m); !fault.empty())
    throw std::invalid_argument("grow_canonical: " + fault);
  const double r = m.largest();
  std::vector<std::uint8_t> out(mask.size());
  if (r == 0) {
    for (std::size_t i = 0; i < mask.size(); ++i) out[i] = mask[i] ? 1 : 0;
    return out;
  }
  std::vector<double> d2;
  if (m.is_uniform()) {
    d2 = squared_distance_to_mask(mask, dim, spacing);
  } else {
    // Weighted so that the threshold is r^2: (r / m_a * d_a)^2 summed <= r^2.
    const auto scale = [r](double margin) {
      return margin > 0 ? r / margin : std::numeric_limits<double>::infinity();
    };
    // Canonical axes: +0 Left, +1 Posterior, +2 Superior. "plus" is x_a > g_a: x lies on the
    // + side of the iGTV voxel, so the margin of the + direction applies.
    d2 = directional_squared_distance_to_mask(mask, dim, spacing,
                                              {scale(m.left), scale(m.post), scale(m.sup)},
                                              {scale(m.right), scale(m.ant), scale(m.inf)});
  }
  const double limit = r * r * kInside;
  for (std::size_t i = 0; i < d2.size(); ++i) out[i] = d2[i] <= limit ? 1 : 0;
  return out;
}

ExpansionResult expand_igtv(const Volume& igtv, const Margins& m,
                            const std::vector<const Volume*>& crops, const Volume* body) {
  const auto same_dims = [&](const Volume* v, const char* what) {
    if (v->geometry.dim != igtv.geometry.dim || v->data.size() != igtv.data.size())
      throw std::invalid_argument(std::string("expand_igtv: ") + what +
                                  " dims differ from the iGTV's");
  };
  for (const Volume* c : crops) same_dims(c, "a crop mask's");
  if (body) same_dims(body, "the body mask's");
  if (const std::string fault = margins_fault(m); !fault.empty())
    throw std::invalid_argument("expand_igtv: " + fault);

  const Reorientation plan = plan_canonical(igtv.geometry);
  const Volume canonical = to_canonical(igtv, plan);
  const std::vector<std::uint8_t> grown_c = grow_canonical(
      to_mask(canonical.data), canonical.geometry.dim, canonical.geometry.spacing, m);
  const std::vector<float> grown =
      to_source(std::vector<float>(grown_c.begin(), grown_c.end()), plan);

  ExpansionResult r;
  r.removed_by_crop.assign(crops.size(), 0);
  r.mask.assign(igtv.data.size(), 0.f);
  for (std::size_t i = 0; i < grown.size(); ++i) {
    const bool in_igtv = igtv.data[i] > 0.5f;
    r.igtv_voxels += in_igtv;
    if (!(grown[i] > 0.5f)) continue;
    ++r.grown_voxels;
    bool keep = true;
    if (!in_igtv) {
      if (body && !(body->data[i] > 0.5f)) {
        ++r.removed_outside_body;
        keep = false;
      }
      for (std::size_t c = 0; c < crops.size(); ++c)
        if (crops[c]->data[i] > 0.5f) {
          ++r.removed_by_crop[c];
          keep = false;
        }
    }
    if (keep) {
      r.mask[i] = 1.f;
      ++r.ctv_voxels;
    }
  }
  return r;
}

}  // namespace ctv::data
