// One synthetic patient assembled (data/phantom.h): anatomy, disease, the averaged CT, the
// organ-at-risk masks and the reference CTV.
//
// CT rules: every tissue has its HU (SPEC section 4's table), jittered per patient: outside air
// and airway lumen -1000, lung -850 +- 25 with a gravity gradient (+-40 HU, denser posterior),
// pulmonary vessels 40, fat -100, muscle 45, blood (heart, great vessels) 40, esophagus wall 40,
// lymph node 30, solid tumour 20-50, ground glass -500 to -300, ribs 600, cancellous 300 and
// cortical 1000 bone, spinal canal 20, abdomen 55. Moving tumour voxels get the phase-averaged
// value. The image is then blurred by [w, 1-2w, w] along each axis (the scanner's ~1 mm point
// spread in-plane: w = 0.25 at 1 mm voxels, 0.25/spacing at coarser ones; the partial volume
// of thick slices along z: w = 0.25), gets white noise of sd 15-30 HU (per patient), and is
// rounded and clipped to [-1024, 3071] as int16 CT is.
// Streams: the patient's stream seeds four independent ones (anatomy, disease, noise, observer
// variation), so a change in how one is drawn does not move the others.
#include <cmath>
#include <stdexcept>

#include "data/phantom_internal.h"
#include "data/phantom_tumour.h"

namespace ctv::data::phantom {

using namespace detail;

const char* tissue_name(Tissue t) {
  static constexpr const char* kNames[] = {
      "outside air",   "subcutaneous fat", "muscle",      "rib/sternum",     "lung",
      "lung vessel",   "mediastinal fat",  "heart",       "great vessel",    "esophagus wall",
      "esophagus air", "airway lumen",     "airway wall", "cancellous bone", "cortical bone",
      "spinal canal",  "lymph node",       "abdomen",     "tumour (solid)",  "ground glass"};
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == kTissueCount);
  return t < kTissueCount ? kNames[t] : "?";
}

const char* tissue_expected_hu(Tissue t) {
  static constexpr const char* kHu[] = {"-1000", "-100",  "40",    "300-1000", "-850 +- 50",
                                        "40",    "-100",  "40",    "40",       "40",
                                        "-1000", "-1000", "40",    "300",      "1000",
                                        "0-40",  "30",    "40-60", "20-50",    "-500 to -300"};
  static_assert(sizeof(kHu) / sizeof(kHu[0]) == kTissueCount);
  return t < kTissueCount ? kHu[t] : "?";
}

double LymphNode::short_axis_mm() const { return 2 * std::min({radii[0], radii[1], radii[2]}); }

std::uint64_t patient_stream(std::uint64_t seed, int index) {
  std::uint64_t x = seed ^ 0x6a09e667f3bcc909ULL;
  const std::uint64_t a = splitmix64(x);
  x = a ^ (std::uint64_t(index) * 0xd1b54a32d192ed03ULL);
  return splitmix64(x);
}

namespace {

// Blurs along one axis by [w, 1 - 2w, w].
void blur_axis(std::vector<float>& v, const Grid& g, int axis, float w) {
  const std::size_t stride = axis == 0   ? 1
                             : axis == 1 ? std::size_t(g.dim[0])
                                         : std::size_t(g.dim[0]) * g.dim[1];
  const int n = g.dim[axis];
  if (n < 3) return;
  std::vector<float> line(std::size_t(n), 0.f);
  const int other_a = axis == 0 ? 1 : 0, other_b = axis == 2 ? 1 : 2;
  for (int b = 0; b < g.dim[other_b]; ++b)
    for (int a = 0; a < g.dim[other_a]; ++a) {
      int ijk[3] = {0, 0, 0};
      ijk[other_a] = a;
      ijk[other_b] = b;
      const std::size_t base = g.index(ijk[0], ijk[1], ijk[2]);
      for (int i = 0; i < n; ++i) line[std::size_t(i)] = v[base + std::size_t(i) * stride];
      for (int i = 0; i < n; ++i) {
        const float lo = line[std::size_t(std::max(i - 1, 0))];
        const float hi = line[std::size_t(std::min(i + 1, n - 1))];
        v[base + std::size_t(i) * stride] = w * lo + (1 - 2 * w) * line[std::size_t(i)] + w * hi;
      }
    }
}

}  // namespace

PhantomPatient make_patient(const PhantomConfig& config, int index, const std::string& side) {
  for (int a = 0; a < 3; ++a)
    if (config.size[a] < 8 || !(config.spacing[a] > 0 && config.spacing[a] <= 10))
      throw std::invalid_argument("phantom: grid sizes must be >= 8 and spacings in (0, 10] mm");
  if (side != "left" && side != "right")
    throw std::invalid_argument("phantom: side must be \"left\" or \"right\"");
  const Grid g(config);
  Rng master(patient_stream(config.seed, index));
  Rng anatomy_rng(master.next()), disease_rng(master.next()), noise_rng(master.next());

  PhantomPatient pt;
  pt.variation_seed = master.next();
  Eigen::Matrix4d affine = Eigen::Matrix4d::Identity();
  // LPS storage: voxel axes toward Left, Posterior, Superior; RAS+ world, centre at 0.
  affine(0, 0) = -config.spacing[0];
  affine(1, 1) = -config.spacing[1];
  affine(2, 2) = config.spacing[2];
  for (int a = 0; a < 3; ++a) affine(a, 3) = -affine(a, a) * 0.5 * (config.size[a] - 1);
  pt.geometry = make_geometry(config.size, affine);

  const Warp warp(g, anatomy_rng, 6.0);
  Landmarks marks;
  make_anatomy(g, warp, anatomy_rng, pt.tissue, marks, pt.nodes);
  Disease disease;
  make_disease(g, warp, disease_rng, marks, side == "right", pt.tissue, pt.nodes, pt.features,
               disease);
  const Vec3 hilum = side == "right" ? marks.hilum_right : marks.hilum_left;
  pt.hilum = {hilum.l, hilum.p, hilum.s};

  // HU of each tissue for this patient.
  std::array<double, kTissueCount> hu{};
  hu[kOutside] = -1000;
  hu[kSubcutaneousFat] = -100 + 8 * noise_rng.normal();
  hu[kMuscle] = 45 + 5 * noise_rng.normal();
  hu[kRib] = 600 + 60 * noise_rng.normal();
  hu[kLung] = -850 + 25 * noise_rng.normal();
  hu[kLungVessel] = 40;
  hu[kMediastinalFat] = -100 + 8 * noise_rng.normal();
  hu[kHeart] = hu[kGreatVessel] = 40 + 5 * noise_rng.normal();
  hu[kEsophagusWall] = hu[kAirwayWall] = 40;
  hu[kEsophagusAir] = hu[kAirway] = -1000;
  hu[kVertebraCancellous] = 300 + 30 * noise_rng.normal();
  hu[kVertebraCortical] = 1000 + 60 * noise_rng.normal();
  hu[kSpinalCanal] = 20;
  hu[kLymphNode] = 30;
  hu[kAbdomen] = 55;
  const double tumour_hu = noise_rng.uniform(20, 50), glass_hu = noise_rng.uniform(-500, -300);
  const double noise_sd = noise_rng.uniform(15, 30);
  pt.features.noise_sd_hu = noise_sd;
  const double depth = marks.body_half_depth;

  const std::size_t n = g.count();
  pt.ct.assign(n, 0.f);
  const double phases = disease.phases;
  for (int k = 0; k < g.dim[2]; ++k)
    for (int j = 0; j < g.dim[1]; ++j)
      for (int i = 0; i < g.dim[0]; ++i) {
        const std::size_t idx = g.index(i, j, k);
        const std::uint8_t t = pt.tissue[idx];
        double v = hu[t];
        if (t == kLung) v += 40 * std::clamp(g.coord(1, j) / depth, -1.0, 1.0);
        const double s = std::min<double>(disease.solid_count[idx], phases) / phases;
        const double h = std::min<double>(disease.halo_count[idx], phases - s * phases) / phases;
        pt.ct[idx] = float(s * tumour_hu + h * glass_hu + (1 - s - h) * v);
      }
  // In-plane: a ~1 mm point spread (weight 0.25 at 1 mm voxels, less at coarser ones); along z
  // the slice profile: each slice sees a quarter of each neighbour (partial volume).
  for (int a = 0; a < 2; ++a)
    blur_axis(pt.ct, g, a, float(0.25 * std::min(1.0, 1.0 / config.spacing[a])));
  blur_axis(pt.ct, g, 2, 0.25f);
  for (std::size_t i = 0; i < n; ++i)
    pt.ct[i] =
        float(std::clamp(std::round(pt.ct[i] + noise_sd * noise_rng.normal()), -1024.0, 3071.0));

  // The label map shows the tumour where it is at least half the time.
  for (std::size_t i = 0; i < n; ++i) {
    if (disease.solid_count[i] * 2 >= disease.phases)
      pt.tissue[i] = kTumour;
    else if (disease.halo_count[i] * 2 >= disease.phases)
      pt.tissue[i] = kGroundGlass;
  }
  pt.igtv_primary = std::move(disease.primary);
  pt.igtv_nodal = std::move(disease.nodal);
  pt.igtv.assign(n, 0);
  for (std::size_t i = 0; i < n; ++i) pt.igtv[i] = pt.igtv_primary[i] | pt.igtv_nodal[i];

  // Organs at risk (data/cohort.h kOarNames order).
  for (auto& m : pt.oars) m.assign(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t t = pt.tissue[i];
    pt.oars[0][i] = t == kHeart;
    pt.oars[1][i] = t == kEsophagusWall || t == kEsophagusAir;
    pt.oars[2][i] = t == kGreatVessel;
    pt.oars[3][i] = t == kVertebraCancellous || t == kVertebraCortical;
    pt.oars[4][i] = (t == kLung || t == kLungVessel || t == kGroundGlass) && !pt.igtv[i];
    pt.oars[5][i] = t != kOutside;
    pt.oars[6][i] = t == kSpinalCanal;
  }
  pt.ctv = reference_ctv(pt, config.observer_variation, &pt.features);
  return pt;
}

}  // namespace ctv::data::phantom
