// Stage III disease and breathing (data/phantom.h): the primary tumour, involved nodes, their
// respiratory motion, the iGTV and the tumour's share of the averaged CT.
//
// Rules:
// - Primary: in the chosen lung, centred within 100 mm of that side's hilum (stage III disease
//   is mostly central), its core in lung; radius 10-26 mm. Shape: an ellipsoid (axis ratios
//   0.75-1.25, random orientation) whose boundary is lobulated (6 smooth bumps) and spiculated
//   (3-7 narrow spikes in squamous-like tumours, 0-2 in adenocarcinoma-like ones). 45% are
//   adenocarcinoma-like and show a ground-glass halo (3-6 mm, -500 to -300 HU) in the lung
//   around the solid part; the halo is visible but not part of the GTV.
// - Nodes: 0 (15%), 1 (50%) or 2 (35%) involved nodes (short axis 10-25 mm) at stations that
//   drain the primary's lung (right: 4R, 7, 10R; left: 4L, 5, 7, 10L), replacing the normal
//   node there; they lie beside the trachea, esophagus, great vessels and heart.
// - Motion: peak amplitude by height (upper lobe 0-5 mm, middle 3-10, lower 6-15), mostly
//   superior-inferior (inferior at inhale, small AP and LR parts); nodes move 30% of it.
//   10 phases at displacement A (1 - cos^4(pi t)) (Lujan's model: longer near exhale).
// - GTV at a phase: the shape at its displaced position, only over soft tissue (lung, fat,
//   muscle, nodes: tumours push organs aside, so the GTV never overlaps the heart, great
//   vessels, esophagus, airways or bone). iGTV = union over phases. CT = average of the phase
//   images: a voxel covered in n of 10 phases gets n/10 of the tumour's HU.
#include <cmath>

#include "data/phantom_tumour.h"

namespace ctv::data::phantom::detail {

namespace {

constexpr int kPhases = 10;
constexpr double kPi = 3.141592653589793;

struct Lesion {
  Vec3 centre;
  double radius = 20;
  std::array<Vec3, 3> axes;     // orthonormal
  std::array<double, 3> scale;  // axis ratios
  std::vector<std::pair<Vec3, double>> lobes, spikes;

  // < 1 inside the solid part; the boundary is at 1 along every direction.
  double value(const Vec3& x) const {
    const Vec3 d = x - centre;
    const Vec3 v{d.dot(axes[0]) / scale[0], d.dot(axes[1]) / scale[1], d.dot(axes[2]) / scale[2]};
    const double q = v.norm() / radius;
    if (q < 1e-9) return 0;
    const Vec3 u = v * (1 / (q * radius));
    double b = 1;
    for (const auto& [dir, h] : lobes) b += h * std::exp(3 * (u.dot(dir) - 1));
    for (const auto& [dir, h] : spikes) b += h * std::exp(160 * (u.dot(dir) - 1));
    return q / b;
  }
  double extent() const {  // bounding radius in mm
    double sp = 0, lb = 0;
    for (const auto& s : spikes) sp = std::max(sp, s.second);
    for (const auto& l : lobes) lb += std::max(0.0, l.second);
    return radius * std::max({scale[0], scale[1], scale[2]}) * (1 + lb + sp);
  }
};

Lesion draw_lesion(Rng& rng, const Vec3& centre, double radius, bool ground_glass) {
  Lesion t;
  t.centre = centre;
  t.radius = radius;
  const Vec3 a = random_direction(rng);
  Vec3 b = random_direction(rng);
  b = b - a * a.dot(b);
  b = b * (1 / std::max(b.norm(), 1e-9));
  const Vec3 c{a.p * b.s - a.s * b.p, a.s * b.l - a.l * b.s, a.l * b.p - a.p * b.l};
  t.axes = {a, b, c};
  t.scale = {rng.uniform(0.75, 1.25), rng.uniform(0.75, 1.25), rng.uniform(0.75, 1.25)};
  for (int i = 0; i < 6; ++i) t.lobes.push_back({random_direction(rng), rng.uniform(-0.2, 0.35)});
  const int spikes = ground_glass ? rng.below(3) : 3 + rng.below(5);
  for (int i = 0; i < spikes; ++i)
    t.spikes.push_back({random_direction(rng), rng.uniform(0.3, 0.8)});
  return t;
}

bool in_soft(std::uint8_t t) { return (kSoft & (1u << t)) != 0; }
bool lung_like(std::uint8_t t) { return t == kLung || t == kLungVessel; }

std::uint8_t tissue_at(const Grid& g, const std::vector<std::uint8_t>& tissue, const Vec3& x) {
  const double c[3] = {x.l, x.p, x.s};
  int ijk[3];
  for (int a = 0; a < 3; ++a) {
    ijk[a] = int(std::lround((c[a] - g.first[a]) / g.spacing[a]));
    if (ijk[a] < 0 || ijk[a] >= g.dim[a]) return kOutside;
  }
  return tissue[g.index(ijk[0], ijk[1], ijk[2])];
}

// A centre in the side's lung whose core (0.6 radius along each axis) is lung.
bool place_primary(const Grid& g, const std::vector<std::uint8_t>& tissue, const Landmarks& m,
                   Rng& rng, bool right, double radius, Vec3& centre) {
  const Vec3 hilum = right ? m.hilum_right : m.hilum_left;
  for (int attempt = 0; attempt < 4000; ++attempt) {
    const Vec3 c = hilum + random_direction(rng) * (100 * std::cbrt(rng.uniform()));
    if ((c.l < 0) != right) continue;
    if (!lung_like(tissue_at(g, tissue, c))) continue;
    bool ok = true;
    const double r = 0.6 * radius;
    for (const Vec3& d : {Vec3{r, 0, 0}, Vec3{-r, 0, 0}, Vec3{0, r, 0}, Vec3{0, -r, 0},
                          Vec3{0, 0, r}, Vec3{0, 0, -r}})
      ok = ok && lung_like(tissue_at(g, tissue, c + d));
    // Keep the whole lesion and its largest margin inside the field of view.
    for (int a = 0; a < 3 && ok; ++a) {
      const double v = a == 0 ? c.l : a == 1 ? c.p : c.s;
      const double half = 0.5 * (g.dim[a] - 1) * g.spacing[a];
      ok = std::abs(v) + 2 * radius + 40 < half;
    }
    if (ok) {
      centre = c;
      return true;
    }
  }
  return false;
}

}  // namespace

void make_disease(const Grid& g, const Warp& w, Rng& rng, const Landmarks& m, bool right,
                  const std::vector<std::uint8_t>& tissue, std::vector<LymphNode>& nodes,
                  PatientFeatures& f, Disease& out) {
  f.side = right ? "right" : "left";
  f.ground_glass = rng.chance(0.45);
  double radius = rng.uniform(10, 26);
  Vec3 centre;
  while (!place_primary(g, tissue, m, rng, right, radius, centre)) {
    radius *= 0.8;
    if (radius < 5)
      throw std::invalid_argument(
          "phantom: the field of view is too small to hold a tumour in the lung");
  }
  f.primary_radius_mm = radius;
  const Lesion primary = draw_lesion(rng, centre, radius, f.ground_glass);
  const double halo_mm = f.ground_glass ? rng.uniform(3, 6) : 0;
  f.halo_mm = halo_mm;

  // Motion by height: lower lobes move most.
  const double upper = m.carina_s - 15, lower = m.carina_s - 55;
  f.lobe = centre.s > upper ? "upper" : centre.s < lower ? "lower" : "middle";
  f.motion_mm = f.lobe == "upper"    ? rng.uniform(0, 5)
                : f.lobe == "middle" ? rng.uniform(3, 10)
                                     : rng.uniform(6, 15);
  Vec3 dir{0.1 * rng.normal(), 0.1 + 0.2 * rng.normal(), -1};
  dir = dir * (1 / dir.norm());

  // Involved nodes at the stations the primary's lung drains to.
  const double pick = rng.uniform();
  const int n_involved = pick < 0.15 ? 0 : pick < 0.65 ? 1 : 2;
  std::vector<std::string> candidates = right ? std::vector<std::string>{"4R", "7", "10R"}
                                              : std::vector<std::string>{"4L", "5", "7", "10L"};
  std::vector<LymphNode> involved;
  for (int n = 0; n < n_involved && !candidates.empty(); ++n) {
    const int c = rng.below(int(candidates.size()));
    const std::string station = candidates[std::size_t(c)];
    candidates.erase(candidates.begin() + c);
    LymphNode node;
    node.station = station;
    node.involved = true;
    const double r = rng.uniform(5, 12.5);  // short axis 10-25 mm
    node.radii = {r * rng.uniform(1.05, 1.35), r * rng.uniform(1.05, 1.35),
                  r * rng.uniform(1.2, 1.6)};
    if (rng.uniform() < 0.5) std::swap(node.radii[0], node.radii[1]);
    node.radii[std::size_t(rng.below(2))] = r;  // the short axis is in-plane
    bool replaced = false;
    for (LymphNode& normal : nodes)
      if (normal.station == station && !normal.involved) {
        node.centre = normal.centre;
        normal = node;
        replaced = true;
      }
    if (!replaced) {
      // Station coordinates as the anatomy lays them out (data/phantom_anatomy.cpp).
      const double pt = m.trachea.p, car = m.carina_s, vp = m.vertebra_p;
      const std::array<double, 3> c3 =
          station == "4R"    ? std::array<double, 3>{-16, pt - 2, car + 14}
          : station == "4L"  ? std::array<double, 3>{14, pt + 4, car + 10}
          : station == "5"   ? std::array<double, 3>{22, vp - 68, car + 12}
          : station == "7"   ? std::array<double, 3>{2, pt + 6, car - 22}
          : station == "10R" ? std::array<double, 3>{-40, pt + 4, car - 25}
                             : std::array<double, 3>{45, pt + 6, car - 32};
      node.centre = c3;
      nodes.push_back(node);
    }
    f.involved_stations.push_back(station);
  }
  f.involved_nodes = int(f.involved_stations.size());

  // Phase by phase: counts of phases each voxel spends in the solid GTV and in the halo.
  const std::size_t n = g.count();
  out.solid_count.assign(n, 0);
  out.halo_count.assign(n, 0);
  out.primary.assign(n, 0);
  out.nodal.assign(n, 0);
  const double reach = primary.extent() + halo_mm + f.motion_mm + 2;
  const Box box =
      box_around(g, centre - Vec3{reach, reach, reach}, centre + Vec3{reach, reach, reach});
  for (int phase = 0; phase < kPhases; ++phase) {
    const double c = std::cos(kPi * phase / kPhases);
    const Vec3 shift = dir * (f.motion_mm * (1 - c * c * c * c));
    for (int k = box.lo[2]; k < box.hi[2]; ++k)
      for (int j = box.lo[1]; j < box.hi[1]; ++j)
        for (int i = box.lo[0]; i < box.hi[0]; ++i) {
          const std::size_t idx = g.index(i, j, k);
          if (!in_soft(tissue[idx])) continue;
          const double v = primary.value(g.at(i, j, k) - shift);
          if (v < 1) {
            ++out.solid_count[idx];
            out.primary[idx] = 1;
          } else if (halo_mm > 0 && v < 1 + halo_mm / radius && lung_like(tissue[idx])) {
            ++out.halo_count[idx];
          }
        }
    for (const LymphNode& node : nodes) {
      if (!node.involved) continue;
      for_node_voxels(g, w, node, shift * 0.3, [&](std::size_t idx) {
        if (!in_soft(tissue[idx])) return;
        ++out.solid_count[idx];
        out.nodal[idx] = 1;
      });
    }
  }
  out.phases = kPhases;
  out.halo_mm = halo_mm;
}

}  // namespace ctv::data::phantom::detail
