// The static anatomy of a synthetic thorax (data/phantom.h): one Tissue label per voxel.
//
// Rules (patient mm; p < 0 anterior; s = 0 the centre of the field of view):
// - Body: an ellipse in each axial slice (half width 145-175 mm, half depth 100-125 mm anterior,
//   a little less posterior). From the skin inward along the ray to the centre: subcutaneous fat
//   (6-25 mm, thinner posterior), muscle (12 mm, up to ~40 mm posterior: paraspinal), the rib
//   layer (10 mm: ribs 10 mm high every ~30 mm, sloping down anteriorly; the sternum in front;
//   intercostal muscle between), then the thoracic cavity.
// - Cavity: below the diaphragm (two domes, the right ~15 mm higher, lower at the edges)
//   abdomen; above the lung apices neck muscle; else mediastinum (mediastinal fat between the
//   lungs, narrow above the carina, wider below), heart (an ellipsoid low and to the left, with
//   the left atrium behind it in front of the esophagus, wrapped in pericardial fat), or lung.
// - Spine: vertebral bodies (4 cm, cancellous 300 HU in a 2 mm cortical shell, discs every
//   26 mm), the spinal canal (15 mm) behind, posterior arch, spinous and transverse processes,
//   a paravertebral soft-tissue collar.
// - Tubes along polylines: trachea (18 mm lumen, 2 mm wall) to the carina and the main, lobar
//   bronchi; esophagus (2 cm, behind the trachea and left atrium, in front of the spine, left
//   of midline; an air lumen in some patients); aorta (ascending, ~3 cm arch, descending left of
//   and in front of the spine), arch branches, pulmonary trunk and arteries, superior vena cava;
//   a random pulmonary vessel tree from each hilum, finer toward the periphery.
// - Lymph nodes at stations 4R, 4L, 5, 7, 10R, 10L (each present with probability 0.85, short
//   axis 4-9 mm, long axis along S).
// Every landmark is jittered per patient and every shape is evaluated at the voxel's warped
// position (one smooth deformation, detail::Warp), so no two patients have the same anatomy.
#include <cmath>

#include "data/phantom_internal.h"

namespace ctv::data::phantom::detail {

namespace {

constexpr double kPi = 3.141592653589793;

double smoothstep01(double t) {
  t = std::clamp(t, 0.0, 1.0);
  return t * t * (3 - 2 * t);
}

// Per-patient shape parameters of the large structures (the single pass over every voxel).
struct Shape {
  Landmarks m;
  double fat_thickness = 12, rib_period = 30, rib_phase = 0, disc_phase = 0;
  double posterior_ratio = 0.92;  // posterior half depth / anterior
  double med_centre_l = 5;
  Vec3 heart_c, heart_r, atrium_c, atrium_r;
  double apex_taper = 50;
};

Shape draw_shape(Rng& rng) {
  Shape s;
  Landmarks& m = s.m;
  m.body_half_width = rng.uniform(145, 175);
  m.body_half_depth = rng.uniform(100, 125);
  s.posterior_ratio = rng.uniform(0.88, 0.96);
  s.fat_thickness = rng.uniform(6, 25);
  m.carina_s = rng.uniform(30, 60);
  m.apex_s = m.carina_s + rng.uniform(75, 95);
  m.dome_right_s = m.carina_s - rng.uniform(115, 145);
  m.dome_left_s = m.dome_right_s - rng.uniform(8, 22);
  m.vertebra_p = m.body_half_depth * s.posterior_ratio * rng.uniform(0.42, 0.5);
  const double vp = m.vertebra_p;
  m.esophagus = {rng.uniform(3, 9), vp - rng.uniform(31, 35), m.carina_s};
  m.trachea = {rng.uniform(-2, 2), m.esophagus.p - rng.uniform(21, 24), m.carina_s};
  m.hilum_right = {-45, m.trachea.p + 12, m.carina_s - 35};
  m.hilum_left = {48, m.trachea.p + 15, m.carina_s - 45};
  s.rib_period = rng.uniform(27, 33);
  s.rib_phase = rng.uniform(0, s.rib_period);
  s.disc_phase = rng.uniform(0, 26);
  s.med_centre_l = rng.uniform(2, 8);
  const double hs = rng.uniform(0.9, 1.1);
  s.heart_c = {rng.uniform(14, 24), vp - rng.uniform(75, 85), m.carina_s - rng.uniform(90, 100)};
  s.heart_r = {62 * hs, 50 * hs, 52 * hs};
  s.atrium_c = {rng.uniform(0, 6), m.esophagus.p - 26, m.carina_s - rng.uniform(55, 65)};
  s.atrium_r = {34, 15, 22};
  s.apex_taper = rng.uniform(45, 60);
  return s;
}

double ellipsoid(const Vec3& x, const Vec3& c, const Vec3& r) {
  const Vec3 d = x - c;
  return (d.l / r.l) * (d.l / r.l) + (d.p / r.p) * (d.p / r.p) + (d.s / r.s) * (d.s / r.s);
}

// Spine elements around the vertebral column at (0, vp); kOutside when none.
Tissue spine_at(const Vec3& x, double vp, double disc_phase) {
  const double dl = x.l, dp = x.p - vp;
  const double r_body = std::sqrt(dl * dl + dp * dp);
  const double period = 26, u = std::fmod(x.s - disc_phase + 1000 * period, period);
  const bool disc = u < 5;
  if (r_body < 20) {
    if (disc) return kMuscle;
    return (r_body > 18 || u < 7 || u > period - 2) ? kVertebraCortical : kVertebraCancellous;
  }
  const double cp = dp - 30, r_canal = std::sqrt(dl * dl + cp * cp);
  if (r_canal < 7.5) return kSpinalCanal;
  const bool arch = r_canal < 13 && cp > -9;
  const bool spinous = std::abs(dl) < 4 && cp > 8 && cp < 34;
  const bool transverse = std::abs(cp + 2) < 5 && std::abs(dl) < 32;
  if ((arch || spinous || transverse) && !disc) return kVertebraCortical;
  if (r_body < 24 || r_canal < 16) return kMuscle;  // paravertebral collar, ligaments
  return kOutside;
}

Tissue static_tissue(const Vec3& x, const Shape& sh) {
  const Landmarks& m = sh.m;
  const double a = m.body_half_width * (1 - 0.12 * smoothstep01((x.s - m.apex_s + 20) / 80));
  const double b = x.p < 0 ? m.body_half_depth : m.body_half_depth * sh.posterior_ratio;
  const double u = x.l / a, v = x.p / b;
  const double rho = std::sqrt(u * u + v * v);
  if (rho >= 1) return kOutside;
  const Tissue spine = spine_at(x, m.vertebra_p, sh.disc_phase);
  if (spine != kOutside && spine != kMuscle) return spine;
  const double radial = std::sqrt(x.l * x.l + x.p * x.p);
  const double depth = rho > 1e-6 ? radial * (1 / rho - 1) : 1e9;
  const double post = std::max(0.0, v);
  const double fat = sh.fat_thickness * (1 - 0.5 * post);
  if (depth < fat) return kSubcutaneousFat;
  const double muscle = fat + 12 + 30 * post * post * std::exp(-(x.l * x.l) / (2 * 60 * 60));
  if (depth < muscle) return kMuscle;
  if (depth < muscle + 10) {
    if (v < -0.6 && std::abs(x.l) < 18)
      return (x.s < m.carina_s + 45 && x.s > m.carina_s - 120) ? kRib : kMuscle;  // sternum
    const double s_eff = x.s + 25 * (-v);  // anterior rib ends lie lower
    const double w = std::fmod(s_eff - sh.rib_phase + 1000 * sh.rib_period, sh.rib_period);
    return (w < 10 && x.s < m.apex_s + 10 && std::abs(x.l) > 25) ? kRib : kMuscle;
  }
  if (spine == kMuscle) return kMuscle;
  // Thoracic cavity.
  const bool right = x.l < 0;
  const double dome_l = right ? -70 : 70;
  const double dome = (right ? m.dome_right_s : m.dome_left_s) -
                      70 * ((x.l - dome_l) / 100) * ((x.l - dome_l) / 100) -
                      45 * ((x.p + 10) / 100) * ((x.p + 10) / 100);
  if (x.s < dome) return kAbdomen;
  const double taper_from = m.apex_s - sh.apex_taper;
  if (x.s > taper_from) {
    const double t = (x.s - taper_from) / sh.apex_taper;
    const double q = ellipsoid({x.l, x.p, 0}, {right ? -75.0 : 75.0, 15, 0}, {58, 62, 1});
    if (t >= 1 || q > 1 - t * t) return kMuscle;
  }
  if (ellipsoid(x, sh.atrium_c, sh.atrium_r) < 1) return kHeart;
  const double heart = ellipsoid(x, sh.heart_c, sh.heart_r);
  if (heart < 1) return kHeart;
  if (heart < 1.2 || ellipsoid(x, sh.atrium_c, sh.atrium_r * 1.15) < 1) return kMediastinalFat;
  // Mediastinum: narrow above the carina, wider below, narrower behind the heart.
  const double below = smoothstep01((m.carina_s + 5 - x.s) / 45);
  const double front = -m.body_half_depth + 25, back = m.vertebra_p + 5;
  const double t = std::clamp((x.p - front) / (back - front), 0.0, 1.0);
  // Rounded front and back: the lungs meet in front (anterior junction) and behind.
  double half_width = (27 + 18 * below) * std::sqrt(std::max(0.0, 1 - std::pow(2 * t - 1, 4)));
  if (x.p > m.esophagus.p - 12) half_width *= 0.8;
  if (std::abs(x.l - sh.med_centre_l) < half_width + 8 * below && x.p < back)
    return kMediastinalFat;
  return kLung;
}

Tube tube(std::initializer_list<Vec3> points, std::initializer_list<double> radii) {
  return {points, radii};
}

// Pulmonary vessel tree from a hilum: each branch splits in two, radius x0.7, length x0.8.
void vessel_tree(std::vector<std::uint8_t>& tissue, const Grid& g, const Warp& w, Rng& rng,
                 const Vec3& start, const Vec3& dir, double radius, double length, int depth) {
  if (depth == 0 || radius < 0.6) return;
  const Vec3 end = start + dir * length;
  paint_tube(tissue, g, w, {{start, end}, {radius, radius * 0.85}}, 0, kLungVessel, bit(kLung));
  for (int c = 0; c < 2; ++c) {
    Vec3 d = dir + random_direction(rng) * rng.uniform(0.35, 0.7);
    d = d * (1 / d.norm());
    vessel_tree(tissue, g, w, rng, end, d, radius * 0.7, length * 0.8, depth - 1);
  }
}

}  // namespace

Warp::Warp(const Grid& g, Rng& rng, double amplitude_mm) : grid_(&g) {
  for (int c = 0; c < 3; ++c) {
    double sum = 0;
    for (int t = 0; t < kTerms; ++t) {
      const double amp = amplitude_mm * rng.uniform(-1, 1) / std::sqrt(double(kTerms));
      sum += std::abs(amp);
      for (int a = 0; a < 3; ++a) {
        const double wavelength = rng.uniform(150, 400), phase = rng.uniform(0, 2 * kPi);
        auto& tab = table_[c][t][a];
        tab.resize(std::size_t(g.dim[a]));
        for (int i = 0; i < g.dim[a]; ++i)
          tab[i] =
              float((a == 0 ? amp : 1.0) * std::cos(2 * kPi * g.coord(a, i) / wavelength + phase));
      }
    }
    max_ = std::max(max_, sum);
  }
}

Vec3 Warp::at(int i, int j, int k) const {
  double d[3];
  for (int c = 0; c < 3; ++c) {
    double v = 0;
    for (int t = 0; t < kTerms; ++t)
      v += double(table_[c][t][0][i]) * table_[c][t][1][j] * table_[c][t][2][k];
    d[c] = v;
  }
  return grid_->at(i, j, k) + Vec3{d[0], d[1], d[2]};
}

void paint_tube(std::vector<std::uint8_t>& tissue, const Grid& g, const Warp& w, const Tube& t,
                double extra, Tissue label, std::uint32_t over) {
  for (std::size_t seg = 0; seg + 1 < t.points.size(); ++seg) {
    const Vec3 a = t.points[seg], b = t.points[seg + 1];
    const double ra = t.radii[seg] + extra, rb = t.radii[seg + 1] + extra;
    const double pad = std::max(ra, rb) + w.max_displacement() + 1;
    const Vec3 lo{std::min(a.l, b.l) - pad, std::min(a.p, b.p) - pad, std::min(a.s, b.s) - pad};
    const Vec3 hi{std::max(a.l, b.l) + pad, std::max(a.p, b.p) + pad, std::max(a.s, b.s) + pad};
    const Box box = box_around(g, lo, hi);
    const Vec3 ab = b - a;
    const double len2 = std::max(ab.dot(ab), 1e-12);
    for (int k = box.lo[2]; k < box.hi[2]; ++k)
      for (int j = box.lo[1]; j < box.hi[1]; ++j)
        for (int i = box.lo[0]; i < box.hi[0]; ++i) {
          const std::size_t idx = g.index(i, j, k);
          if (!(over & (1u << tissue[idx]))) continue;
          const Vec3 x = w.at(i, j, k);
          const double f = std::clamp((x - a).dot(ab) / len2, 0.0, 1.0);
          const Vec3 d = x - (a + ab * f);
          const double r = ra + (rb - ra) * f;
          if (d.dot(d) <= r * r) tissue[idx] = label;
        }
  }
}

void make_anatomy(const Grid& g, const Warp& w, Rng& rng, std::vector<std::uint8_t>& tissue,
                  Landmarks& marks, std::vector<LymphNode>& nodes) {
  const Shape sh = draw_shape(rng);
  marks = sh.m;
  const Landmarks& m = sh.m;
  tissue.assign(g.count(), kOutside);
  for (int k = 0; k < g.dim[2]; ++k)
    for (int j = 0; j < g.dim[1]; ++j)
      for (int i = 0; i < g.dim[0]; ++i)
        tissue[g.index(i, j, k)] = static_tissue(w.at(i, j, k), sh);

  const double vp = m.vertebra_p, car = m.carina_s, top = m.apex_s + 200;
  const double pt = m.trachea.p, pe = m.esophagus.p;
  const std::uint32_t soft_heart = kSoft | bit(kHeart);
  // Great vessels (over soft tissue and the heart they leave from).
  const double ra = rng.uniform(13, 16);  // aortic radius: ~3 cm arch
  paint_tube(tissue, g, w,
             tube({{-10, vp - 85, car - 45},
                   {-10, vp - 85, car + 28},
                   {5, vp - 72, car + 40},
                   {24, vp - 47, car + 36},
                   {27, vp - 24, car + 18},
                   {25, vp - 22, m.dome_left_s - 10},
                   {12, vp - 18, m.dome_left_s - 70}},
                  {ra, ra, ra * 0.95, ra * 0.9, ra * 0.85, ra * 0.8, ra * 0.75}),
             0, kGreatVessel, soft_heart);
  paint_tube(tissue, g, w, tube({{-5, vp - 70, car + 38}, {-15, vp - 66, top}}, {6.5, 6}), 0,
             kGreatVessel, kSoft);
  paint_tube(tissue, g, w, tube({{8, vp - 62, car + 42}, {10, vp - 60, top}}, {4, 4}), 0,
             kGreatVessel, kSoft);
  paint_tube(tissue, g, w, tube({{20, vp - 48, car + 38}, {30, vp - 45, top}}, {5, 5}), 0,
             kGreatVessel, kSoft);
  paint_tube(
      tissue, g, w,
      tube({{-30, vp - 75, top}, {-28, vp - 75, car}, {-24, vp - 70, car - 48}}, {10, 10, 11}), 0,
      kGreatVessel, soft_heart);
  const double rp = rng.uniform(12, 15);
  paint_tube(tissue, g, w, tube({{20, vp - 95, car - 60}, {22, vp - 80, car - 25}}, {rp, rp}), 0,
             kGreatVessel, soft_heart);
  paint_tube(
      tissue, g, w,
      tube({{22, vp - 80, car - 25}, {48, vp - 60, car - 25}, {62, vp - 50, car - 35}}, {10, 9, 7}),
      0, kGreatVessel, kSoft);
  paint_tube(tissue, g, w,
             tube({{15, vp - 78, car - 25}, {-20, vp - 68, car - 22}, {-50, vp - 58, car - 32}},
                  {10, 9.5, 7.5}),
             0, kGreatVessel, kSoft);

  // Airways: walls first, then lumens inside them.
  const double tl = m.trachea.l;
  const std::vector<Tube> airways = {
      tube({{tl, pt, top}, {tl, pt, car}}, {9, 9}),
      tube({{tl, pt, car}, {-28, pt + 6, car - 18}}, {7.5, 7}),
      tube({{-28, pt + 6, car - 18}, {-65, pt + 2, car - 5}}, {4.5, 3.5}),
      tube({{-28, pt + 6, car - 18}, {-45, pt + 15, car - 50}}, {6, 5.5}),
      tube({{-45, pt + 15, car - 50}, {-70, pt - 25, car - 75}}, {3.5, 2.5}),
      tube({{-45, pt + 15, car - 50}, {-75, pt + 45, car - 95}}, {4.5, 3}),
      tube({{tl, pt, car}, {40, pt + 12, car - 38}}, {6.5, 6}),
      tube({{40, pt + 12, car - 38}, {75, pt - 10, car - 20}}, {4.5, 3.5}),
      tube({{40, pt + 12, car - 38}, {75, pt + 45, car - 95}}, {5, 3})};
  for (const Tube& t : airways) paint_tube(tissue, g, w, t, 2, kAirwayWall, kSoft);
  for (const Tube& t : airways) paint_tube(tissue, g, w, t, 0, kAirway, kSoft | bit(kAirwayWall));

  // Esophagus: behind the trachea and the left atrium, curving left through the diaphragm.
  const double re = rng.uniform(9, 11);
  const double el = m.esophagus.l;
  const Tube esophagus = tube({{el - 4, pe - 2, top},
                               {el, pe, car},
                               {el + 6, pe - 4, m.dome_left_s},
                               {el + 30, pe - 20, m.dome_left_s - 30}},
                              {re, re, re, re});
  paint_tube(tissue, g, w, esophagus, 0, kEsophagusWall,
             kSoft | bit(kHeart) | bit(kAbdomen) | bit(kAirwayWall));
  if (rng.chance(0.5)) {  // a column of swallowed air over part of its length
    const double s0 = rng.uniform(car - 80, car + 30), len = rng.uniform(15, 60);
    const double r = rng.uniform(2, 4);
    paint_tube(tissue, g, w, tube({{el + 1, pe, s0}, {el + 2, pe - 1, s0 - len}}, {r, r}), 0,
               kEsophagusAir, bit(kEsophagusWall));
  }

  // Pulmonary vessels from each hilum, laterally and up, down, forward or back.
  for (int side = 0; side < 2; ++side) {
    const Vec3 hilum = side == 0 ? m.hilum_right : m.hilum_left;
    const double lateral = side == 0 ? -1 : 1;
    const int trunks = 8;
    for (int t = 0; t < trunks; ++t) {
      Vec3 d = Vec3{lateral, 0, 0} + random_direction(rng) * 0.9;
      d = d * (1 / d.norm());
      vessel_tree(tissue, g, w, rng, hilum, d, rng.uniform(4, 5.5), rng.uniform(28, 38), 6);
    }
  }

  // Normal lymph nodes at the mediastinal and hilar stations.
  struct Station {
    const char* name;
    Vec3 c;
  };
  const Station stations[] = {{"4R", {-16, pt - 2, car + 14}},  {"4L", {14, pt + 4, car + 10}},
                              {"5", {22, vp - 68, car + 12}},   {"7", {2, pt + 6, car - 22}},
                              {"10R", {-40, pt + 4, car - 25}}, {"10L", {45, pt + 6, car - 32}}};
  nodes.clear();
  for (const Station& st : stations) {
    LymphNode n;
    n.station = st.name;
    n.centre = {st.c.l + rng.uniform(-3, 3), st.c.p + rng.uniform(-3, 3),
                st.c.s + rng.uniform(-4, 4)};
    const double r = rng.uniform(2, 4.5);
    n.radii = {r * rng.uniform(1, 1.3), r * rng.uniform(1, 1.3), r * rng.uniform(1.3, 1.8)};
    if (!rng.chance(0.85)) continue;
    nodes.push_back(n);
    for_node_voxels(g, w, n, {}, [&](std::size_t idx) {
      if (kSoft & (1u << tissue[idx])) tissue[idx] = kLymphNode;
    });
  }
}

}  // namespace ctv::data::phantom::detail
