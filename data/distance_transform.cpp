// Exact Euclidean distance transforms (Felzenszwalb and Huttenlocher 2012), see the header.
//
// Invariants: volumes are x fastest (index = i + dim[0] * (j + dim[1] * k)); every pass reads
// and writes squared distances in mm^2 (or weighted mm^2 for the directional transform), with
// +infinity for "no mask voxel reachable yet". A line is copied into a contiguous buffer, its
// transform computed there and written back: the strided axes then touch each cache line once.
#include "data/distance_transform.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace ctv::data {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Scratch space of one line's lower envelope: v holds the parabolas' vertex indices, z the
// boundaries between them (z[k] is where parabola v[k] starts to be the lowest).
struct Envelope {
  std::vector<int> v;
  std::vector<double> z;
  void reserve(int n) {
    v.resize(std::size_t(n));
    z.resize(std::size_t(n) + 1);
  }
};

// Where the parabolas f[q] + (x - q e)^2 and f[p] + (x - p e)^2 meet (q > p), in mm.
inline double intersection(const double* f, int q, int p, double e) {
  const double pq = q * e, pp = p * e;
  return ((f[q] + pq * pq) - (f[p] + pp * pp)) / (2.0 * (pq - pp));
}

// Two-sided pass: d[q] = min over p of f[p] + ((q - p) e)^2, e the spacing. Linear in n.
void envelope_two_sided(const double* f, double* d, int n, double e, Envelope& env) {
  int k = -1;
  for (int q = 0; q < n; ++q) {
    if (f[q] == kInf) continue;  // no parabola: a voxel not reached along earlier axes
    if (k < 0) {
      k = 0;
      env.v[0] = q;
      env.z[0] = -kInf;
      env.z[1] = kInf;
      continue;
    }
    double s = intersection(f, q, env.v[k], e);
    while (s <= env.z[k]) {  // parabola v[k] is nowhere lowest any more; z[0] = -inf stops it
      --k;
      s = intersection(f, q, env.v[k], e);
    }
    ++k;
    env.v[k] = q;
    env.z[k] = s;
    env.z[k + 1] = kInf;
  }
  if (k < 0) {
    std::fill(d, d + n, kInf);
    return;
  }
  int j = 0;
  for (int q = 0; q < n; ++q) {
    const double x = q * e;
    while (env.z[j + 1] < x) ++j;
    const double t = (q - env.v[j]) * e;
    d[q] = f[env.v[j]] + t * t;
  }
}

// One-sided pass: d[q] = min over p <= q of f[p] + ((q - p) e)^2. The envelope is built in
// order of p and queried at q right after parabola q joins it: popping only removes the tail,
// so the query pointer is clamped to the top and moves forward (still linear in n).
// e == +inf means "no reach": d = f.
void envelope_one_sided(const double* f, double* d, int n, double e, Envelope& env) {
  if (e == kInf) {
    std::copy(f, f + n, d);
    return;
  }
  int k = -1, j = 0;
  for (int q = 0; q < n; ++q) {
    if (f[q] != kInf) {
      if (k < 0) {
        k = 0;
        env.v[0] = q;
        env.z[0] = -kInf;
      } else {
        double s = intersection(f, q, env.v[k], e);
        while (s <= env.z[k]) {
          --k;
          s = intersection(f, q, env.v[k], e);
        }
        ++k;
        env.v[k] = q;
        env.z[k] = s;
      }
      env.z[k + 1] = kInf;
      j = std::min(j, k);
    }
    if (k < 0) {
      d[q] = kInf;
      continue;
    }
    const double x = q * e;
    while (env.z[j + 1] < x) ++j;
    const double t = (q - env.v[j]) * e;
    d[q] = f[env.v[j]] + t * t;
  }
}

void check_arguments(std::size_t mask_size, const std::array<int, 3>& dim,
                     const std::array<double, 3>& spacing, const char* who) {
  for (int a = 0; a < 3; ++a) {
    if (dim[a] < 1)
      throw std::invalid_argument(std::string(who) + ": dim[" + std::to_string(a) +
                                  "] = " + std::to_string(dim[a]) + " must be >= 1");
    if (!(spacing[a] > 0) || !std::isfinite(spacing[a]))
      throw std::invalid_argument(std::string(who) + ": spacing[" + std::to_string(a) +
                                  "] = " + std::to_string(spacing[a]) + " must be finite and > 0");
  }
  const std::size_t n = std::size_t(dim[0]) * dim[1] * dim[2];
  if (mask_size != n)
    throw std::invalid_argument(std::string(who) + ": mask has " + std::to_string(mask_size) +
                                " voxels, the grid " + std::to_string(n));
}

// Applies `line_pass(in, out, n, axis)` to every line along `axis` of `vol`, in place.
// Lines with no finite value are left alone (they stay +inf).
template <class LinePass>
void for_each_line(std::vector<double>& vol, const std::array<int, 3>& dim, int axis,
                   LinePass&& line_pass) {
  const std::size_t stride[3] = {1, std::size_t(dim[0]), std::size_t(dim[0]) * dim[1]};
  const int n = dim[axis];
  const int u = axis == 0 ? 1 : 0, w = axis == 2 ? 1 : 2;  // the two other axes
  std::vector<double> in(static_cast<std::size_t>(n)), out(static_cast<std::size_t>(n));
  for (int b = 0; b < dim[w]; ++b)
    for (int a = 0; a < dim[u]; ++a) {
      double* base = vol.data() + a * stride[u] + b * stride[w];
      bool any = false;
      for (int q = 0; q < n; ++q) {
        in[q] = base[q * stride[axis]];
        any |= in[q] != kInf;
      }
      if (!any) continue;
      line_pass(in.data(), out.data(), n, axis);
      for (int q = 0; q < n; ++q) base[q * stride[axis]] = out[q];
    }
}

// First axis straight from the mask: distance along x to the nearest set voxel of the row,
// two linear scans; then squared and scaled. Exact, and cheaper than an envelope.
std::vector<double> rows_from_mask(const std::vector<std::uint8_t>& mask,
                                   const std::array<int, 3>& dim, double e) {
  std::vector<double> out(mask.size(), kInf);
  const int n = dim[0];
  const std::size_t rows = std::size_t(dim[1]) * dim[2];
  for (std::size_t r = 0; r < rows; ++r) {
    const std::uint8_t* m = mask.data() + r * n;
    double* o = out.data() + r * n;
    int last = -1;
    for (int q = 0; q < n; ++q) {
      if (m[q]) last = q;
      if (last >= 0) o[q] = double(q - last);
    }
    last = -1;
    for (int q = n - 1; q >= 0; --q) {
      if (m[q]) last = q;
      if (last >= 0) o[q] = std::min(o[q], double(last - q));
    }
    for (int q = 0; q < n; ++q) {
      const double t = o[q] * e;
      o[q] = t * t;  // inf stays inf
    }
  }
  return out;
}

}  // namespace

std::vector<double> squared_distance_to_mask(const std::vector<std::uint8_t>& mask,
                                             const std::array<int, 3>& dim,
                                             const std::array<double, 3>& spacing) {
  check_arguments(mask.size(), dim, spacing, "squared_distance_to_mask");
  std::vector<double> d = rows_from_mask(mask, dim, spacing[0]);
  Envelope env;
  env.reserve(std::max(dim[1], dim[2]));
  for (int axis = 1; axis < 3; ++axis)
    for_each_line(d, dim, axis, [&](const double* in, double* out, int n, int a) {
      envelope_two_sided(in, out, n, spacing[a], env);
    });
  return d;
}

std::vector<double> directional_squared_distance_to_mask(const std::vector<std::uint8_t>& mask,
                                                         const std::array<int, 3>& dim,
                                                         const std::array<double, 3>& spacing,
                                                         const std::array<double, 3>& scale_plus,
                                                         const std::array<double, 3>& scale_minus) {
  check_arguments(mask.size(), dim, spacing, "directional_squared_distance_to_mask");
  for (int a = 0; a < 3; ++a)
    if (!(scale_plus[a] > 0) || !(scale_minus[a] > 0))
      throw std::invalid_argument("directional_squared_distance_to_mask: scales on axis " +
                                  std::to_string(a) + " must be > 0 (+inf allowed)");
  std::vector<double> d(mask.size());
  for (std::size_t i = 0; i < mask.size(); ++i) d[i] = mask[i] ? 0.0 : kInf;
  Envelope env;
  env.reserve(std::max({dim[0], dim[1], dim[2]}));
  std::vector<double> rin, rout;
  for (int axis = 0; axis < 3; ++axis)
    for_each_line(d, dim, axis, [&](const double* in, double* out, int n, int a) {
      // g <= x: x lies toward +axis of g, weighted by scale_plus.
      envelope_one_sided(in, out, n, scale_plus[a] * spacing[a], env);
      // g >= x: the same pass on the reversed line, weighted by scale_minus.
      rin.assign(in, in + n);
      std::reverse(rin.begin(), rin.end());
      rout.resize(std::size_t(n));
      envelope_one_sided(rin.data(), rout.data(), n, scale_minus[a] * spacing[a], env);
      for (int q = 0; q < n; ++q) out[q] = std::min(out[q], rout[std::size_t(n - 1 - q)]);
    });
  return d;
}

}  // namespace ctv::data
