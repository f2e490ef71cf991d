// Geometry comparison (SPEC section 0) and reorientation to the canonical LPS frame and back.
//
// Reorientation is an exact index permutation: canonical voxel v reads source voxel s with
//   s[source_axis[c]] = flip[c] ? n[source_axis[c]] - 1 - v[c] : v[c],
// written as a 4x4 matrix P (s = P v), so the canonical affine is A P and every voxel keeps
// its world position. to_source applies the same map the other way, so the round trip is
// bit-exact.
#include <Eigen/SVD>

#include <cmath>
#include <sstream>

#include "data/nifti.h"

namespace ctv::data {

namespace fs = std::filesystem;

namespace {

// Canonical LPS in RAS+ world coordinates: axis 0 toward -x, axis 1 toward -y, axis 2 toward +z.
constexpr int kCanonicalSign[3] = {-1, -1, +1};

struct AxisMap {
  int world = -1;  // world axis (0 x, 1 y, 2 z), -1 when the voxel axis has no direction
  int sign = 0;    // +1 along the world axis, -1 against it
};

// nibabel.orientations.io_orientation, step for step.
std::array<AxisMap, 3> io_orientation(const Eigen::Matrix4d& affine) {
  Eigen::Matrix3d rzs = affine.block<3, 3>(0, 0);
  for (int a = 0; a < 3; ++a) {
    const double zoom = rzs.col(a).norm();
    if (zoom != 0) rzs.col(a) /= zoom;
  }
  // Polar decomposition: the shearless matrix closest to rzs, keeping only its rank.
  Eigen::JacobiSVD<Eigen::Matrix3d> svd(rzs, Eigen::ComputeFullU | Eigen::ComputeFullV);
  const Eigen::Vector3d s = svd.singularValues();
  const double tol = s.maxCoeff() * 3 * std::numeric_limits<double>::epsilon();
  Eigen::Matrix3d r = Eigen::Matrix3d::Zero();
  for (int k = 0; k < 3; ++k)
    if (s(k) > tol) r += svd.matrixU().col(k) * svd.matrixV().col(k).transpose();
  std::array<AxisMap, 3> out;
  for (int a = 0; a < 3; ++a) {
    const Eigen::Vector3d col = r.col(a);
    if (col.cwiseAbs().maxCoeff() <= 1e-8) continue;  // np.allclose(col, 0)
    int w = 0;
    for (int k = 1; k < 3; ++k)
      if (std::abs(col(k)) > std::abs(col(w))) w = k;  // first maximum, as np.argmax
    out[a] = {w, col(w) < 0 ? -1 : 1};
    r.row(w).setZero();  // each world axis is taken once
  }
  return out;
}

char axis_letter(const AxisMap& m) {
  static const char pos[] = "RAS", neg[] = "LPI";
  if (m.world < 0) return '?';
  return m.sign > 0 ? pos[m.world] : neg[m.world];
}

// s = P v: canonical voxel index (homogeneous) to source voxel index.
Eigen::Matrix4d canonical_to_source(const Reorientation& p) {
  Eigen::Matrix4d m = Eigen::Matrix4d::Zero();
  m(3, 3) = 1;
  for (int c = 0; c < 3; ++c) {
    const int a = p.source_axis[c];
    m(a, c) = p.flip[c] ? -1 : 1;
    m(a, 3) = p.flip[c] ? p.source.dim[a] - 1 : 0;
  }
  return m;
}

// For each canonical axis, the step in the source buffer; and the source index of voxel 0.
struct Walk {
  std::array<std::ptrdiff_t, 3> step{};
  std::ptrdiff_t start = 0;
  std::array<int, 3> dim{};  // canonical dims
};

Walk walk(const Reorientation& p) {
  const auto& sd = p.source.dim;
  const std::array<std::ptrdiff_t, 3> stride = {1, sd[0], std::ptrdiff_t(sd[0]) * sd[1]};
  Walk w;
  for (int c = 0; c < 3; ++c) {
    const int a = p.source_axis[c];
    w.dim[c] = sd[a];
    w.step[c] = p.flip[c] ? -stride[a] : stride[a];
    if (p.flip[c]) w.start += (sd[a] - 1) * stride[a];
  }
  return w;
}

// Calls f(canonical_index, source_index) for every voxel, canonical x fastest.
template <class F>
void for_each_voxel(const Reorientation& p, F&& f) {
  const Walk w = walk(p);
  std::size_t n = 0;
  for (int k = 0; k < w.dim[2]; ++k)
    for (int j = 0; j < w.dim[1]; ++j) {
      std::ptrdiff_t s = w.start + k * w.step[2] + j * w.step[1];
      for (int i = 0; i < w.dim[0]; ++i, s += w.step[0]) f(n++, std::size_t(s));
    }
}

std::string fmt(double v, int decimals) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(decimals);
  os << v;
  std::string s = os.str();
  if (s.find('.') != std::string::npos) {
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

std::string vec_text(const Eigen::Vector3d& v, int decimals) {
  std::ostringstream os;
  os << "(" << fmt(v(0), decimals) << ", " << fmt(v(1), decimals) << ", " << fmt(v(2), decimals)
     << ")";
  return os.str();
}

}  // namespace

// ---- geometry checks ---------------------------------------------------------------------

std::string geometry_difference(const Geometry& a, const Geometry& b) {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : "; ") + s; };
  if (a.dim != b.dim)
    add("dims " + std::to_string(a.dim[0]) + "x" + std::to_string(a.dim[1]) + "x" +
        std::to_string(a.dim[2]) + " vs " + std::to_string(b.dim[0]) + "x" +
        std::to_string(b.dim[1]) + "x" + std::to_string(b.dim[2]));
  bool spacing = false;
  for (int i = 0; i < 3; ++i) spacing |= !(std::abs(a.spacing[i] - b.spacing[i]) <= 1e-3);
  if (spacing)
    add("spacing " + fmt(a.spacing[0], 4) + "x" + fmt(a.spacing[1], 4) + "x" +
        fmt(a.spacing[2], 4) + " vs " + fmt(b.spacing[0], 4) + "x" + fmt(b.spacing[1], 4) + "x" +
        fmt(b.spacing[2], 4) + " mm");
  if (!((a.origin() - b.origin()).cwiseAbs().maxCoeff() <= 1e-3))
    add("origin " + vec_text(a.origin(), 4) + " vs " + vec_text(b.origin(), 4) + " mm");
  for (int i = 0; i < 3; ++i) {
    const Eigen::Vector3d da = a.direction(i), db = b.direction(i);
    if (!((da - db).cwiseAbs().maxCoeff() <= 1e-4))
      add(std::string("direction of axis ") + "ijk"[i] + " " + vec_text(da, 5) + " vs " +
          vec_text(db, 5));
  }
  return out;
}

void require_same_geometry(const Geometry& a, const fs::path& file_a, const Geometry& b,
                           const fs::path& file_b) {
  const std::string d = geometry_difference(a, b);
  if (!d.empty())
    throw NiftiError(file_b.string() + ": geometry differs from " + file_a.string() + ": " + d);
}

// ---- reorientation -----------------------------------------------------------------------

std::string orientation_code(const Geometry& geometry) {
  const auto m = io_orientation(geometry.affine);
  return {axis_letter(m[0]), axis_letter(m[1]), axis_letter(m[2])};
}

bool Reorientation::is_identity() const {
  return source_axis == std::array<int, 3>{0, 1, 2} && !flip[0] && !flip[1] && !flip[2];
}

std::string Reorientation::source_code() const { return orientation_code(source); }

Reorientation plan_canonical(const Geometry& geometry, const fs::path& file) {
  const auto m = io_orientation(geometry.affine);
  Reorientation p;
  p.source = geometry;
  std::array<bool, 3> taken{false, false, false};
  for (int a = 0; a < 3; ++a) {
    if (m[a].world < 0 || taken[m[a].world])
      throw NiftiError((file.empty() ? std::string("volume") : file.string()) + ": voxel axis " +
                       "ijk"[a] +
                       " has no world direction of its own (two voxel axes point along the "
                       "same world axis); cannot reorient to LPS");
    taken[m[a].world] = true;
    p.source_axis[m[a].world] = a;
    p.flip[m[a].world] = m[a].sign != kCanonicalSign[m[a].world];
  }
  return p;
}

Volume to_canonical(const Volume& volume, const Reorientation& plan) {
  const Geometry& src = plan.source;
  if (volume.geometry.dim != src.dim || volume.data.size() != src.voxel_count() ||
      !volume.geometry.affine.isApprox(src.affine))
    throw NiftiError("to_canonical: the volume is not the one the plan was made for");
  const Eigen::Matrix4d p = canonical_to_source(plan);
  Volume out;
  out.stored_type = volume.stored_type;
  Geometry& g = out.geometry;
  for (int c = 0; c < 3; ++c) {
    g.dim[c] = src.dim[plan.source_axis[c]];
    g.spacing[c] = src.spacing[plan.source_axis[c]];
  }
  g.affine = src.affine * p;
  // Both header transforms move with the voxels, each keeping its code: whichever a reader
  // picks (the same one as in the source) maps every voxel to the same world position.
  g.header = src.header;
  const Eigen::Matrix4d s = sform_affine(src.header) * p;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) g.header.srow[r][c] = static_cast<float>(s(r, c));
  if (src.header.qform_code > 0) {
    set_qform_from_affine(g.header, qform_affine(src.header) * p);
  } else {
    for (int c = 0; c < 3; ++c) g.header.pixdim[c] = src.header.pixdim[plan.source_axis[c]];
  }
  out.data.resize(volume.data.size());
  for_each_voxel(plan,
                 [&](std::size_t c, std::size_t s_index) { out.data[c] = volume.data[s_index]; });
  return out;
}

std::vector<float> to_source(const std::vector<float>& canonical_data, const Reorientation& plan) {
  if (canonical_data.size() != plan.source.voxel_count())
    throw NiftiError("to_source: " + std::to_string(canonical_data.size()) +
                     " values for a grid of " + std::to_string(plan.source.voxel_count()));
  std::vector<float> out(canonical_data.size());
  for_each_voxel(plan, [&](std::size_t c, std::size_t s) { out[s] = canonical_data[c]; });
  return out;
}

}  // namespace ctv::data
