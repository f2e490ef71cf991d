// Pieces the phantom's files share (data/phantom.h says what a patient is): the random stream,
// the grid in patient millimetres, the smooth deformation, tube painting, and the landmarks the
// anatomy draws and the tumour and nodes are placed by.
//
// Invariants: coordinates are patient mm, L (left), P (posterior), S (superior), origin at the
// centre of the field of view; arrays are x fastest (index = i + nx (j + ny k)) in LPS order.
// The random stream is written out (splitmix64, xoshiro256**, Box-Muller) so the same seed gives
// the same patient with every standard library.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "data/phantom.h"

namespace ctv::data::phantom::detail {

inline std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256** seeded through splitmix64.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    for (auto& w : s_) w = splitmix64(seed);
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  bool chance(double p) { return uniform() < p; }
  double normal() {
    const double u1 = (double(next() >> 11) + 0.5) * 0x1.0p-53, u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  int below(int n) { return int(uniform() * n); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> s_{};
};

struct Vec3 {
  double l = 0, p = 0, s = 0;
  Vec3 operator+(const Vec3& o) const { return {l + o.l, p + o.p, s + o.s}; }
  Vec3 operator-(const Vec3& o) const { return {l - o.l, p - o.p, s - o.s}; }
  Vec3 operator*(double k) const { return {l * k, p * k, s * k}; }
  double dot(const Vec3& o) const { return l * o.l + p * o.p + s * o.s; }
  double norm() const { return std::sqrt(dot(*this)); }
};

// A random unit vector.
inline Vec3 random_direction(Rng& rng) {
  const double z = rng.uniform(-1, 1), a = rng.uniform(0, 6.283185307179586);
  const double r = std::sqrt(1 - z * z);
  return {r * std::cos(a), r * std::sin(a), z};
}

struct Grid {
  std::array<int, 3> dim{};
  std::array<double, 3> spacing{};
  std::array<double, 3> first{};  // patient mm of voxel (0, 0, 0)

  explicit Grid(const PhantomConfig& c) : dim(c.size), spacing(c.spacing) {
    for (int a = 0; a < 3; ++a) first[a] = -0.5 * (dim[a] - 1) * spacing[a];
  }
  std::size_t count() const { return std::size_t(dim[0]) * dim[1] * dim[2]; }
  std::size_t index(int i, int j, int k) const {
    return std::size_t(i) + std::size_t(dim[0]) * (std::size_t(j) + std::size_t(dim[1]) * k);
  }
  double coord(int axis, int i) const { return first[axis] + i * spacing[axis]; }
  Vec3 at(int i, int j, int k) const { return {coord(0, i), coord(1, j), coord(2, k)}; }
  // Voxel range [lo, hi) along `axis` covering patient coordinates [a, b], clipped to the grid.
  std::array<int, 2> range(int axis, double a, double b) const {
    const int lo = std::max(0, int(std::ceil((a - first[axis]) / spacing[axis])));
    const int hi = std::min(dim[axis], int(std::floor((b - first[axis]) / spacing[axis])) + 1);
    return {lo, std::max(lo, hi)};
  }
};

// A voxel box [lo, hi) per axis.
struct Box {
  std::array<int, 3> lo{}, hi{};
  bool empty() const { return hi[0] <= lo[0] || hi[1] <= lo[1] || hi[2] <= lo[2]; }
};
inline Box box_around(const Grid& g, const Vec3& lo, const Vec3& hi) {
  Box b;
  const double a[3] = {lo.l, lo.p, lo.s}, z[3] = {hi.l, hi.p, hi.s};
  for (int ax = 0; ax < 3; ++ax) {
    const auto r = g.range(ax, a[ax], z[ax]);
    b.lo[ax] = r[0];
    b.hi[ax] = r[1];
  }
  return b;
}

// One smooth random deformation per patient: displacement(x) = sum of separable products of
// cosines (wavelengths 150-400 mm, amplitude up to ~6 mm per component), evaluated from
// per-axis tables so that warping a voxel costs a few multiplications.
class Warp {
 public:
  Warp(const Grid& g, Rng& rng, double amplitude_mm);
  // The anatomical position a voxel shows: its position plus the displacement.
  Vec3 at(int i, int j, int k) const;
  double max_displacement() const { return max_; }

 private:
  static constexpr int kTerms = 3;
  // table_[component][term][axis] holds the factor at every voxel index of that axis.
  std::array<std::array<std::array<std::vector<float>, 3>, kTerms>, 3> table_;
  const Grid* grid_;
  double max_ = 0;
};

// A tube: capsules along a polyline with a radius at each point (linear in between).
struct Tube {
  std::vector<Vec3> points;
  std::vector<double> radii;
};

// Paints `label` on every voxel whose warped position lies within `extra` mm more than the tube's
// radius, where the current label is one of `over` (a bit mask of Tissue values).
void paint_tube(std::vector<std::uint8_t>& tissue, const Grid& g, const Warp& w, const Tube& t,
                double extra, Tissue label, std::uint32_t over);

constexpr std::uint32_t bit(Tissue t) { return 1u << t; }
// The tissues that nodes, tubes and tumour may take the place of.
constexpr std::uint32_t kSoft = bit(kLung) | bit(kLungVessel) | bit(kMediastinalFat) |
                                bit(kMuscle) | bit(kSubcutaneousFat) | bit(kLymphNode);

// The landmarks of one patient's anatomy (patient mm), drawn in phantom_anatomy.cpp and used by
// the tumour and node placement.
struct Landmarks {
  double body_half_width = 160, body_half_depth = 115;
  double carina_s = 50;                          // height of the carina
  double apex_s = 140;                           // lung apices
  double dome_right_s = -80, dome_left_s = -95;  // diaphragm domes (top)
  Vec3 trachea;                                  // trachea centre at the carina
  Vec3 esophagus;                                // esophagus centre at the carina
  double vertebra_p = 50;                        // vertebral body centre (posterior coordinate)
  Vec3 hilum_right, hilum_left;
};

// Builds the static anatomy: labels, landmarks, normal lymph nodes (not yet involved).
void make_anatomy(const Grid& g, const Warp& w, Rng& rng, std::vector<std::uint8_t>& tissue,
                  Landmarks& marks, std::vector<LymphNode>& nodes);

// Voxels of an ellipsoid node (in warped coordinates, displaced by `shift`) that are `over`.
template <class F>
void for_node_voxels(const Grid& g, const Warp& w, const LymphNode& n, const Vec3& shift, F f) {
  const double pad = w.max_displacement() + 1;
  const Vec3 c{n.centre[0] + shift.l, n.centre[1] + shift.p, n.centre[2] + shift.s};
  const Vec3 r{n.radii[0], n.radii[1], n.radii[2]};
  const Box b = box_around(g, c - r - Vec3{pad, pad, pad}, c + r + Vec3{pad, pad, pad});
  for (int k = b.lo[2]; k < b.hi[2]; ++k)
    for (int j = b.lo[1]; j < b.hi[1]; ++j)
      for (int i = b.lo[0]; i < b.hi[0]; ++i) {
        const Vec3 x = w.at(i, j, k) - c;
        const double q =
            (x.l / r.l) * (x.l / r.l) + (x.p / r.p) * (x.p / r.p) + (x.s / r.s) * (x.s / r.s);
        if (q <= 1) f(g.index(i, j, k));
      }
}

}  // namespace ctv::data::phantom::detail
