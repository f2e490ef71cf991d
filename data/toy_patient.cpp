#include "data/toy_patient.h"

#include <cmath>
#include <random>

namespace ctv::data {

namespace {

// Patient coordinates in mm: l toward the patient's Left, p Posterior, s Superior.
struct Lps {
  double l, p, s;
};

double ellipsoid(const Lps& x, const Lps& c, const Lps& r) {  // < 1 inside
  const double a = (x.l - c.l) / r.l, b = (x.p - c.p) / r.p, d = (x.s - c.s) / r.s;
  return a * a + b * b + d * d;
}

// Layout in mm around the world origin (RAS+ origin = centre of the field of view).
constexpr Lps kBody{0, 0, 0}, kBodyR{92, 66, 1e9};
constexpr Lps kRightLung{-40, -3, 0}, kRightLungR{30, 42, 40};
constexpr Lps kLeftLung{40, -3, 0}, kLeftLungR{27, 40, 38};
constexpr Lps kSpine{0, 45, 0}, kSpineR{13, 13, 1e9};
// The tumour sits medially in the right lung, so an expansion reaches the mediastinum.
constexpr Lps kTumour{-24, -6, 4}, kTumourR{10, 8, 12};

// Standard normal from two uniforms (Box-Muller), written out so that the same seed gives
// the same noise with every standard library.
double normal(std::mt19937_64& g) {
  constexpr double k = 1.0 / 18446744073709551616.0;  // 2^-64
  const double u1 = (double(g()) + 0.5) * k, u2 = (double(g()) + 0.5) * k;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace

ToyPatient make_toy_patient(const Geometry& geometry, const ToyPatientConfig& config) {
  ToyPatient t;
  t.geometry = geometry;
  const std::size_t n = geometry.voxel_count();
  t.ct.assign(n, 0.f);
  t.igtv.assign(n, 0.f);
  t.ctv.assign(n, 0.f);
  t.lung.assign(n, 0.f);
  std::mt19937_64 rng(config.seed);
  const double m = config.margin_mm;
  const Lps grown{kTumourR.l + m, kTumourR.p + m, kTumourR.s + m};
  const auto& dim = geometry.dim;
  std::size_t idx = 0;
  for (int k = 0; k < dim[2]; ++k)
    for (int j = 0; j < dim[1]; ++j)
      for (int i = 0; i < dim[0]; ++i, ++idx) {
        const Eigen::Vector4d w = geometry.affine * Eigen::Vector4d(i, j, k, 1);
        const Lps x{-w.x(), -w.y(), w.z()};  // RAS+ -> LPS
        const double body = ellipsoid(x, kBody, kBodyR);
        const bool lung =
            ellipsoid(x, kRightLung, kRightLungR) < 1 || ellipsoid(x, kLeftLung, kLeftLungR) < 1;
        const bool tumour = ellipsoid(x, kTumour, kTumourR) < 1;
        double hu = -1000;                                // air
        if (body < 1) hu = body > 0.8 ? -100 : 40;        // fat rim, soft tissue
        if (ellipsoid(x, kSpine, kSpineR) < 1) hu = 400;  // vertebral body
        if (lung) hu = -850;
        if (tumour) hu = 30;
        t.ct[idx] = float(hu + 20.0 * normal(rng));
        t.lung[idx] = lung;
        t.igtv[idx] = tumour;
        t.ctv[idx] = tumour || (lung && ellipsoid(x, kTumour, grown) < 1);
      }
  return t;
}

}  // namespace ctv::data
