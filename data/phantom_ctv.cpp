// The reference CTV rule of the synthetic cohort (data/phantom.h reference_ctv), modelled on
// the clinical practice SPEC section 4 describes. It reads only what a physician sees: the
// label map of the visible anatomy, the iGTV (primary and nodal parts) and the tumour's visible
// features.
//
// Rule:
// 1. Distances: exact Euclidean distance (data/distance_transform.h, honouring spacing) from
//    every voxel to the primary iGTV, d_p, and to the nodal iGTV, d_n.
// 2. Reach per tissue class (mm):
//                          from the primary                     from involved nodes
//    lung, ground glass    6 (solid, squamous-like: Giraud's     5
//                          6 mm), or halo width + 7 (ground-
//                          glass halo, adenocarcinoma-like: the
//                          halo is tumour, then Giraud's 8 mm
//                          less the 1 mm the halo edge blurs)
//    mediastinal fat,      lung reach + 3                        7, or 9 for bulky nodes
//    lymph node                                                  (short axis >= 20 mm)
//    other soft tissue     5                                     5
//    (chest wall, airway wall)
//    bone, heart, great vessels, esophagus and 2 mm around it, airway lumen, abdomen, outside:
//    0 (never entered).
//    Toward the hilum (lymphatic drainage) the primary's lung and fat reach grows by up to
//    4 mm: + 4 max(0, cos a), a the angle at the primary's centroid between the voxel and the
//    hilum.
// 3. A voxel is a candidate when d_p <= reach_p or d_n <= reach_n for its tissue; the CTV is
//    the iGTV plus the candidates connected to it through candidates (6-connectivity), so the
//    extent follows the tissue and never jumps across a blocked organ.
// 4. At-risk nodes, case by case: a normal node (a connected group of node voxels outside the
//    iGTV) with short axis >= 5 mm whose nearest voxel lies within 20 mm of the iGTV is taken in,
//    with 3 mm around it in tissue that may be entered.
// 5. Observer variation (off with variation = false): every reach is scaled by one factor per
//    patient (1 + 0.06 N(0,1), clipped to +-12%) and shifted by a smooth field (sum of three
//    products of cosines, wavelength 40-90 mm, amplitude up to ~1.2 mm) from variation_seed.
// The iGTV is always in the CTV; the CTV never holds bone, heart, great vessels or esophagus.
#include <cmath>
#include <deque>
#include <limits>

#include "data/distance_transform.h"
#include "data/phantom_internal.h"

namespace ctv::data::phantom {

using namespace detail;

namespace {

enum class Reach { lung, fat, soft, blocked };

Reach reach_class(std::uint8_t t) {
  switch (t) {
    case kLung:
    case kLungVessel:
    case kGroundGlass:
    case kTumour:  // tumour seen outside the iGTV: blurred by motion, still lung around
      return Reach::lung;
    case kMediastinalFat:
    case kLymphNode:
      return Reach::fat;
    case kMuscle:
    case kSubcutaneousFat:
    case kAirwayWall:
      return Reach::soft;
    default:
      return Reach::blocked;
  }
}

constexpr double kPi = 3.141592653589793;

// A sub-box of the grid with its own x-fastest arrays.
struct SubBox {
  std::array<int, 3> lo{}, dim{};
  std::size_t count() const { return std::size_t(dim[0]) * dim[1] * dim[2]; }
  std::size_t full_index(const Geometry& g, std::size_t local) const {
    const int i = int(local % std::size_t(dim[0]));
    const int j = int((local / std::size_t(dim[0])) % std::size_t(dim[1]));
    const int k = int(local / (std::size_t(dim[0]) * dim[1]));
    return std::size_t(lo[0] + i) +
           std::size_t(g.dim[0]) * (std::size_t(lo[1] + j) + std::size_t(g.dim[1]) * (lo[2] + k));
  }
};

SubBox box_around_mask(const Geometry& g, const std::vector<std::uint8_t>& mask, double pad_mm) {
  std::array<int, 3> lo{g.dim[0], g.dim[1], g.dim[2]}, hi{-1, -1, -1};
  std::size_t idx = 0;
  for (int k = 0; k < g.dim[2]; ++k)
    for (int j = 0; j < g.dim[1]; ++j)
      for (int i = 0; i < g.dim[0]; ++i, ++idx)
        if (mask[idx]) {
          const int v[3] = {i, j, k};
          for (int a = 0; a < 3; ++a) {
            lo[a] = std::min(lo[a], v[a]);
            hi[a] = std::max(hi[a], v[a]);
          }
        }
  SubBox b;
  for (int a = 0; a < 3; ++a) {
    if (hi[a] < 0) return b;  // empty mask: empty box
    const int pad = int(std::ceil(pad_mm / g.spacing[a]));
    b.lo[a] = std::max(0, lo[a] - pad);
    b.dim[a] = std::min(g.dim[a] - 1, hi[a] + pad) - b.lo[a] + 1;
  }
  return b;
}

std::vector<double> distance_mm(const std::vector<std::uint8_t>& mask, const SubBox& b,
                                const std::array<double, 3>& spacing) {
  std::vector<double> d = squared_distance_to_mask(mask, b.dim, spacing);
  for (double& v : d) v = std::sqrt(v);
  return d;
}

// The observer's smooth reach offset (mm) at a voxel of the full grid.
struct VariationField {
  double factor = 1;
  struct Term {
    double amp;
    std::array<double, 3> freq, phase;
  };
  std::vector<Term> terms;
  double at(const std::array<double, 3>& x) const {
    double v = 0;
    for (const Term& t : terms)
      v += t.amp * std::cos(t.freq[0] * x[0] + t.phase[0]) *
           std::cos(t.freq[1] * x[1] + t.phase[1]) * std::cos(t.freq[2] * x[2] + t.phase[2]);
    return v;
  }
};

VariationField draw_variation(std::uint64_t seed) {
  Rng rng(seed);
  VariationField f;
  f.factor = 1 + std::clamp(0.06 * rng.normal(), -0.12, 0.12);
  for (int t = 0; t < 3; ++t) {
    VariationField::Term term;
    term.amp = rng.uniform(-1.2, 1.2) / std::sqrt(3.0);
    for (int a = 0; a < 3; ++a) {
      term.freq[a] = 2 * kPi / rng.uniform(40, 90);
      term.phase[a] = rng.uniform(0, 2 * kPi);
    }
    f.terms.push_back(term);
  }
  return f;
}

}  // namespace

std::vector<std::uint8_t> reference_ctv(const PhantomPatient& pt, bool variation,
                                        PatientFeatures* record) {
  const Geometry& g = pt.geometry;
  std::vector<std::uint8_t> ctv = pt.igtv;
  const SubBox b = box_around_mask(g, pt.igtv, 45);
  if (b.count() == 0) return ctv;
  const std::size_t m = b.count();
  const std::array<double, 3> sp{g.spacing[0], g.spacing[1], g.spacing[2]};

  std::vector<std::uint8_t> prim(m), nodal(m), tissue(m), igtv(m);
  bool any_nodal = false;
  for (std::size_t l = 0; l < m; ++l) {
    const std::size_t f = b.full_index(g, l);
    prim[l] = pt.igtv_primary[f];
    nodal[l] = pt.igtv_nodal[f];
    any_nodal = any_nodal || nodal[l];
    tissue[l] = pt.tissue[f];
    igtv[l] = pt.igtv[f];
  }
  const std::vector<double> dp =
      distance_mm(prim, b, sp);  // The esophagus and 2 mm around it are kept out.
  std::vector<std::uint8_t> esophagus(m);
  for (std::size_t l = 0; l < m; ++l)
    esophagus[l] = tissue[l] == kEsophagusWall || tissue[l] == kEsophagusAir;
  const std::vector<double> de = distance_mm(esophagus, b, sp);
  // The primary's centroid (patient mm of the box grid) and the direction to the hilum.
  std::array<double, 3> centroid{0, 0, 0};
  double count = 0;
  for (std::size_t l = 0; l < m; ++l)
    if (prim[l]) {
      centroid[0] += double(l % std::size_t(b.dim[0]));
      centroid[1] += double((l / std::size_t(b.dim[0])) % std::size_t(b.dim[1]));
      centroid[2] += double(l / (std::size_t(b.dim[0]) * b.dim[1]));
      ++count;
    }
  std::array<double, 3> to_hilum{0, 0, 0};
  if (count > 0) {
    double norm = 0;
    for (int a = 0; a < 3; ++a) {
      centroid[a] /= count;
      // box voxel -> patient mm: (lo + index - (dim - 1) / 2) * spacing (LPS grid of make_patient)
      const double mm = (b.lo[a] + centroid[a] - 0.5 * (g.dim[a] - 1)) * sp[a];
      to_hilum[a] = pt.hilum[a] - mm;
      norm += to_hilum[a] * to_hilum[a];
    }
    norm = std::sqrt(norm);
    for (double& v : to_hilum) v = norm > 1e-6 ? v / norm : 0;
  }
  const std::vector<double> dn =
      any_nodal ? distance_mm(nodal, b, sp)
                : std::vector<double>(m, std::numeric_limits<double>::infinity());

  // Reach from the visible features.
  const double lung = pt.features.ground_glass ? pt.features.halo_mm + 7 : 6;
  double largest_node = 0;
  for (const LymphNode& node : pt.nodes)
    if (node.involved) largest_node = std::max(largest_node, node.short_axis_mm());
  const double nodal_fat = largest_node >= 20 ? 9 : 7;
  const std::array<double, 3> reach_p{lung, lung + 3, 5}, reach_n{5, nodal_fat, 5};
  if (record != nullptr) {
    record->lung_margin_mm = lung;
    record->fat_margin_mm = lung + 3;
    record->nodal_fat_margin_mm = nodal_fat;
  }
  const VariationField field = variation ? draw_variation(pt.variation_seed) : VariationField{};

  std::vector<std::uint8_t> candidate(m, 0);
  for (std::size_t l = 0; l < m; ++l) {
    const Reach c = reach_class(tissue[l]);
    if (c == Reach::blocked) continue;
    double scale = 1, shift = 0;
    if (variation) {
      const std::size_t f = b.full_index(g, l);
      const int i = int(f % std::size_t(g.dim[0]));
      const int j = int((f / std::size_t(g.dim[0])) % std::size_t(g.dim[1]));
      const int k = int(f / (std::size_t(g.dim[0]) * g.dim[1]));
      scale = field.factor;
      shift = field.at({i * sp[0], j * sp[1], k * sp[2]});
    }
    if (de[l] <= 2) continue;
    double toward = 0;
    if (c != Reach::soft) {
      const double v[3] = {
          (double(l % std::size_t(b.dim[0])) - centroid[0]) * sp[0],
          (double((l / std::size_t(b.dim[0])) % std::size_t(b.dim[1])) - centroid[1]) * sp[1],
          (double(l / (std::size_t(b.dim[0]) * b.dim[1])) - centroid[2]) * sp[2]};
      const double len = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
      if (len > 1e-6)
        toward =
            4 * std::max(0.0, (v[0] * to_hilum[0] + v[1] * to_hilum[1] + v[2] * to_hilum[2]) / len);
    }
    const double rp = (reach_p[std::size_t(c)] + toward) * scale + shift;
    const double rn = reach_n[std::size_t(c)] * scale + shift;
    candidate[l] = dp[l] <= rp || dn[l] <= rn;
  }

  // Connected to the iGTV through candidates (6-connectivity).
  std::vector<std::uint8_t> in(m, 0);
  std::deque<std::size_t> queue;
  for (std::size_t l = 0; l < m; ++l)
    if (igtv[l]) {
      in[l] = 1;
      queue.push_back(l);
    }
  const std::size_t sx = 1, sy = std::size_t(b.dim[0]), sz = sy * std::size_t(b.dim[1]);
  auto visit = [&](auto&& push) {
    while (!queue.empty()) {
      const std::size_t l = queue.front();
      queue.pop_front();
      const int i = int(l % sy), j = int((l / sy) % std::size_t(b.dim[1])), k = int(l / sz);
      if (i > 0) push(l - sx);
      if (i + 1 < b.dim[0]) push(l + sx);
      if (j > 0) push(l - sy);
      if (j + 1 < b.dim[1]) push(l + sy);
      if (k > 0) push(l - sz);
      if (k + 1 < b.dim[2]) push(l + sz);
    }
  };
  visit([&](std::size_t q) {
    if (!in[q] && candidate[q]) {
      in[q] = 1;
      queue.push_back(q);
    }
  });

  // At-risk nodes: groups of node voxels outside the iGTV, near it and large enough.
  std::vector<int> group(m, -1);
  std::vector<std::uint8_t> taken(m, 0);
  int groups = 0, included = 0;
  const double d_igtv_limit = 20;
  for (std::size_t start = 0; start < m; ++start) {
    if (tissue[start] != kLymphNode || igtv[start] || group[start] >= 0) continue;
    std::vector<std::size_t> members{start};
    group[start] = groups;
    queue.push_back(start);
    visit([&](std::size_t q) {
      if (group[q] < 0 && tissue[q] == kLymphNode && !igtv[q]) {
        group[q] = groups;
        members.push_back(q);
        queue.push_back(q);
      }
    });
    ++groups;
    std::array<int, 3> lo{1 << 30, 1 << 30, 1 << 30}, hi{-1, -1, -1};
    double nearest = std::numeric_limits<double>::infinity();
    for (std::size_t q : members) {
      const int v[3] = {int(q % sy), int((q / sy) % std::size_t(b.dim[1])), int(q / sz)};
      for (int a = 0; a < 3; ++a) {
        lo[a] = std::min(lo[a], v[a]);
        hi[a] = std::max(hi[a], v[a]);
      }
      nearest = std::min({nearest, dp[q], dn[q]});
    }
    const double short_axis = std::min((hi[0] - lo[0] + 1) * sp[0], (hi[1] - lo[1] + 1) * sp[1]);
    if (short_axis >= 5 && nearest <= d_igtv_limit) {
      ++included;
      for (std::size_t q : members) taken[q] = 1;
    }
  }
  if (included > 0) {
    const std::vector<double> dnode = distance_mm(taken, b, sp);
    for (std::size_t l = 0; l < m; ++l)
      if (dnode[l] <= 3 && reach_class(tissue[l]) != Reach::blocked && de[l] > 2) in[l] = 1;
  }
  if (record != nullptr) record->at_risk_nodes_included = included;

  for (std::size_t l = 0; l < m; ++l)
    if (in[l]) ctv[b.full_index(g, l)] = 1;
  return ctv;
}

}  // namespace ctv::data::phantom
