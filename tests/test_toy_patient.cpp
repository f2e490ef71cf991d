// The demo's toy patient: anatomy is a function of world position, so storage order only
// mirrors the arrays; the reference CTV contains the iGTV and stays inside lung or tumour.
#include <doctest/doctest.h>

#include "data/nifti.h"
#include "data/toy_patient.h"

using namespace ctv::data;

namespace {
Geometry toy_geometry(bool ras) {
  const std::array<int, 3> dim{64, 48, 24};
  const double sp[3] = {3, 3, 4};
  Eigen::Matrix4d a = Eigen::Matrix4d::Identity();
  for (int i = 0; i < 3; ++i) {
    const double sign = (i < 2 && !ras) ? -1.0 : 1.0;  // LPS storage flips x and y
    a(i, i) = sign * sp[i];
    a(i, 3) = -sign * 0.5 * (dim[i] - 1) * sp[i];
  }
  return make_geometry(dim, a);
}
}  // namespace

TEST_CASE("RAS and LPS storage hold the same anatomy, mirrored in x and y") {
  const Geometry ras = toy_geometry(true), lps = toy_geometry(false);
  REQUIRE(orientation_code(ras) == "RAS");
  REQUIRE(orientation_code(lps) == "LPS");
  const ToyPatient a = make_toy_patient(ras), b = make_toy_patient(lps);
  const int nx = 64, ny = 48, nz = 24;
  int mismatches = 0;
  for (int k = 0; k < nz; ++k)
    for (int j = 0; j < ny; ++j)
      for (int i = 0; i < nx; ++i) {
        const std::size_t ia = std::size_t(i + nx * (j + ny * k));
        const std::size_t ib = std::size_t((nx - 1 - i) + nx * ((ny - 1 - j) + ny * k));
        mismatches +=
            a.igtv[ia] != b.igtv[ib] || a.ctv[ia] != b.ctv[ib] || a.lung[ia] != b.lung[ib];
      }
  CHECK(mismatches == 0);
  // And the canonical reorientation of the RAS file gives the LPS arrays.
  Volume v{ras, a.ctv, VoxelType::uint8};
  CHECK(to_canonical(v, plan_canonical(ras)).data == b.ctv);
}

TEST_CASE("the tumour lies in the patient's right lung") {
  const ToyPatient t = make_toy_patient(toy_geometry(true));  // RAS: x grows toward the Right
  double sum_x = 0;
  int n = 0;
  for (int k = 0; k < 24; ++k)
    for (int j = 0; j < 48; ++j)
      for (int i = 0; i < 64; ++i)
        if (t.igtv[std::size_t(i + 64 * (j + 48 * k))] > 0.5f) {
          sum_x += (t.geometry.affine * Eigen::Vector4d(i, j, k, 1)).x();
          ++n;
        }
  REQUIRE(n > 50);
  CHECK(sum_x / n > 10.0);  // RAS+ world x > 0 is the patient's right
}

TEST_CASE("the reference CTV contains the iGTV, grows beyond it, and is cropped by the lung") {
  const ToyPatient t = make_toy_patient(toy_geometry(true));
  int igtv = 0, ctv = 0, outside = 0, ctv_not_lung = 0;
  for (std::size_t i = 0; i < t.ctv.size(); ++i) {
    igtv += t.igtv[i] > 0.5f;
    ctv += t.ctv[i] > 0.5f;
    outside += t.igtv[i] > 0.5f && t.ctv[i] < 0.5f;
    ctv_not_lung += t.ctv[i] > 0.5f && t.igtv[i] < 0.5f && t.lung[i] < 0.5f;
  }
  CHECK(outside == 0);
  CHECK(ctv > 3 * igtv);
  CHECK(ctv_not_lung == 0);
  // Without the lung crop the expansion would be larger: the crop matters.
  ToyPatientConfig wide;
  wide.margin_mm = 20;
  const ToyPatient w = make_toy_patient(toy_geometry(true), wide);
  int ctv_wide = 0;
  for (float v : w.ctv) ctv_wide += v > 0.5f;
  CHECK(ctv_wide > ctv);
}

TEST_CASE("the same seed gives the same CT; another seed other noise") {
  const Geometry g = toy_geometry(true);
  ToyPatientConfig c1, c2;
  c2.seed = c1.seed + 1;
  CHECK(make_toy_patient(g, c1).ct == make_toy_patient(g, c1).ct);
  CHECK(make_toy_patient(g, c1).ct != make_toy_patient(g, c2).ct);
}
