// 2D elastic deformation of axial slices (see data/elastic.h).
//
// Invariants: the natural cubic spline is evaluated through cardinal weights: S(u) =
// sum_k w_k(u) y_k with unit knot spacing in control-index units u in [0, P - 1]; the weights
// of each pixel column and row are computed once per field. Warping precomputes one tap per
// pixel (corner and weights) and applies it to every slice of every volume, so CT and masks
// read the same positions. Each output value is written once from the input alone.
#include "data/elastic.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "data/random.h"

namespace ctv::data {

namespace {

// Cardinal weights of the natural cubic spline through P points at 0..P-1, at u.
// Second derivatives M solve M[i-1] + 4 M[i] + M[i+1] = 6 (y[i-1] - 2 y[i] + y[i+1]),
// M[0] = M[P-1] = 0 (Thomas algorithm), once per unit vector y = e_k.
std::vector<double> natural_spline_weights(int points, double u) {
  const int n = points;
  const int seg = std::clamp(int(std::floor(u)), 0, n - 2);
  const double t = u - seg, s = 1 - t;
  std::vector<double> w(static_cast<std::size_t>(n), 0.0);
  const std::size_t size = static_cast<std::size_t>(n);
  std::vector<double> m(size), c(size), d(size);
  for (int k = 0; k < n; ++k) {
    auto y = [k](int i) { return i == k ? 1.0 : 0.0; };
    std::fill(m.begin(), m.end(), 0.0);
    // Forward sweep over the interior unknowns 1..n-2 (diagonal 4, off-diagonals 1).
    for (int i = 1; i <= n - 2; ++i) {
      const double rhs = 6 * (y(i - 1) - 2 * y(i) + y(i + 1));
      const double denom = 4 - (i > 1 ? c[i - 1] : 0);
      c[i] = 1 / denom;
      d[i] = (rhs - (i > 1 ? d[i - 1] : 0)) / denom;
    }
    for (int i = n - 2; i >= 1; --i) m[i] = d[i] - (i < n - 2 ? c[i] * m[i + 1] : 0);
    w[k] = s * y(seg) + t * y(seg + 1) + (s * s * s - s) * m[seg] / 6 +
           (t * t * t - t) * m[seg + 1] / 6;
  }
  return w;
}

// Weights of every pixel of an axis of n pixels: row x holds P weights.
std::vector<double> axis_weights(int points, int n) {
  std::vector<double> out(std::size_t(n) * points);
  for (int x = 0; x < n; ++x) {
    const double u = n == 1 ? 0.5 * (points - 1) : double(x) * (points - 1) / (n - 1);
    const std::vector<double> w = natural_spline_weights(points, u);
    std::copy(w.begin(), w.end(), out.begin() + std::ptrdiff_t(x) * points);
  }
  return out;
}

// Where one output pixel reads: the lower corner and the weights of the next pixel in x, y.
struct Tap {
  int i0, j0;
  double wx, wy;
};

std::vector<Tap> taps(const DisplacementField& f) {
  std::vector<Tap> t(std::size_t(f.nx) * f.ny);
  for (int y = 0; y < f.ny; ++y)
    for (int x = 0; x < f.nx; ++x) {
      const std::size_t p = std::size_t(x) + std::size_t(f.nx) * y;
      // Clamped to just beyond the slice so the integer corner cannot overflow; positions
      // there read fill on both corners anyway.
      const double sx = std::clamp(x + double(f.dx[p]), -2.0, double(f.nx) + 1);
      const double sy = std::clamp(y + double(f.dy[p]), -2.0, double(f.ny) + 1);
      const double fx = std::floor(sx), fy = std::floor(sy);
      t[p] = {int(fx), int(fy), sx - fx, sy - fy};
    }
  return t;
}

inline double lerp(double a, double b, double w) { return a + w * (b - a); }

void check_volume(const std::vector<float>& v, const Dim3& dim, const DisplacementField& f,
                  const char* what) {
  if (dim[0] < 1 || dim[1] < 1 || dim[2] < 1 ||
      v.size() != std::size_t(dim[0]) * std::size_t(dim[1]) * std::size_t(dim[2]))
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(v.size()) +
                                " values for a grid of " + std::to_string(dim[0]) + "x" +
                                std::to_string(dim[1]) + "x" + std::to_string(dim[2]));
  if (f.nx != dim[0] || f.ny != dim[1] || f.dx.size() != std::size_t(f.nx) * f.ny ||
      f.dy.size() != f.dx.size())
    throw std::invalid_argument(std::string(what) + ": displacement field of " +
                                std::to_string(f.nx) + "x" + std::to_string(f.ny) +
                                " pixels for slices of " + std::to_string(dim[0]) + "x" +
                                std::to_string(dim[1]));
}

std::vector<float> warp(const std::vector<float>& v, const Dim3& dim, const std::vector<Tap>& tap,
                        float fill) {
  const int nx = dim[0], ny = dim[1];
  const std::size_t plane = std::size_t(nx) * ny;
  std::vector<float> out(v.size());
  for (int z = 0; z < dim[2]; ++z) {
    const float* in = v.data() + plane * z;
    float* dst = out.data() + plane * z;
    auto at = [&](int i, int j) -> double {
      return (i >= 0 && i < nx && j >= 0 && j < ny) ? in[std::size_t(i) + std::size_t(nx) * j]
                                                    : fill;
    };
    for (std::size_t p = 0; p < plane; ++p) {
      const Tap& t = tap[p];
      // A zero weight never reads its neighbour: whole-pixel shifts copy values exactly.
      const double a = at(t.i0, t.j0);
      const double row0 = t.wx == 0 ? a : lerp(a, at(t.i0 + 1, t.j0), t.wx);
      double value = row0;
      if (t.wy != 0) {
        const double c = at(t.i0, t.j0 + 1);
        const double row1 = t.wx == 0 ? c : lerp(c, at(t.i0 + 1, t.j0 + 1), t.wx);
        value = lerp(row0, row1, t.wy);
      }
      dst[p] = static_cast<float>(value);
    }
  }
  return out;
}

std::vector<float> binary(const std::vector<float>& m) {
  std::vector<float> b(m.size());
  for (std::size_t i = 0; i < m.size(); ++i) b[i] = m[i] > 0.5f ? 1.f : 0.f;
  return b;
}

std::vector<float> warp_mask(const std::vector<float>& m, const Dim3& dim,
                             const std::vector<Tap>& tap) {
  std::vector<float> out = warp(binary(m), dim, tap, 0.f);
  for (float& v : out) v = v > 0.5f ? 1.f : 0.f;
  return out;
}

}  // namespace

std::string elastic_config_fault(const ElasticConfig& c) {
  if (!std::isfinite(c.sigma_px) || c.sigma_px < 0 || c.sigma_px > 1000)
    return "elastic sigma " + std::to_string(c.sigma_px) + " px is not in [0, 1000]";
  if (c.control_points < 2 || c.control_points > 64)
    return "elastic control points " + std::to_string(c.control_points) + " is not in 2..64";
  if (!std::isfinite(c.ct_fill_hu)) return "elastic CT fill value is not finite";
  return {};
}

ControlGrid draw_control_grid(const ElasticConfig& config, std::uint64_t seed,
                              std::uint64_t patient, std::uint64_t copy) {
  if (const std::string f = elastic_config_fault(config); !f.empty())
    throw std::invalid_argument(f);
  ControlGrid g;
  g.points = config.control_points;
  const std::size_t n = std::size_t(g.points) * g.points;
  g.dx.resize(n);
  g.dy.resize(n);
  SplitMix64 rng(seed, {patient, copy});
  for (std::size_t i = 0; i < n; ++i) {
    // Drawn even when sigma is 0, so a copy's stream position never depends on sigma.
    g.dx[i] = config.sigma_px * rng.normal();
    g.dy[i] = config.sigma_px * rng.normal();
  }
  return g;
}

DisplacementField interpolate_control_grid(const ControlGrid& grid, int nx, int ny) {
  const int P = grid.points;
  if (P < 2 || grid.dx.size() != std::size_t(P) * P || grid.dy.size() != grid.dx.size())
    throw std::invalid_argument("control grid of " + std::to_string(P) + " points holds " +
                                std::to_string(grid.dx.size()) + " displacements");
  if (nx < 1 || ny < 1)
    throw std::invalid_argument("displacement field of " + std::to_string(nx) + "x" +
                                std::to_string(ny) + " pixels");
  const std::vector<double> wx = axis_weights(P, nx), wy = axis_weights(P, ny);
  DisplacementField f;
  f.nx = nx;
  f.ny = ny;
  f.dx.resize(std::size_t(nx) * ny);
  f.dy.resize(f.dx.size());
  // Along x first: row q of control values at every pixel column x.
  std::vector<double> rx(std::size_t(nx) * P), ry(rx.size());
  for (int x = 0; x < nx; ++x)
    for (int q = 0; q < P; ++q) {
      double sx = 0, sy = 0;
      for (int p = 0; p < P; ++p) {
        const double w = wx[std::size_t(x) * P + p];
        sx += w * grid.dx[std::size_t(p) + std::size_t(P) * q];
        sy += w * grid.dy[std::size_t(p) + std::size_t(P) * q];
      }
      rx[std::size_t(x) * P + q] = sx;
      ry[std::size_t(x) * P + q] = sy;
    }
  for (int y = 0; y < ny; ++y)
    for (int x = 0; x < nx; ++x) {
      double sx = 0, sy = 0;
      for (int q = 0; q < P; ++q) {
        const double w = wy[std::size_t(y) * P + q];
        sx += w * rx[std::size_t(x) * P + q];
        sy += w * ry[std::size_t(x) * P + q];
      }
      f.dx[std::size_t(x) + std::size_t(nx) * y] = static_cast<float>(sx);
      f.dy[std::size_t(x) + std::size_t(nx) * y] = static_cast<float>(sy);
    }
  return f;
}

std::vector<float> warp_slices(const std::vector<float>& volume, const Dim3& dim,
                               const DisplacementField& field, float fill) {
  check_volume(volume, dim, field, "warp_slices");
  return warp(volume, dim, taps(field), fill);
}

std::vector<float> warp_mask_slices(const std::vector<float>& mask, const Dim3& dim,
                                    const DisplacementField& field) {
  check_volume(mask, dim, field, "warp_mask_slices");
  return warp_mask(mask, dim, taps(field));
}

TrainingCase elastic_copy(const TrainingCase& input, const ElasticConfig& config,
                          std::uint64_t seed, std::uint64_t patient, std::uint64_t copy) {
  const DisplacementField field = interpolate_control_grid(
      draw_control_grid(config, seed, patient, copy), input.dim[0], input.dim[1]);
  check_volume(input.ct, input.dim, field, "elastic_copy (CT)");
  check_volume(input.igtv, input.dim, field, "elastic_copy (iGTV)");
  if (!input.ctv.empty()) check_volume(input.ctv, input.dim, field, "elastic_copy (CTV)");
  const std::vector<Tap> tap = taps(field);
  TrainingCase out;
  out.dim = input.dim;
  out.ct = warp(input.ct, input.dim, tap, config.ct_fill_hu);
  out.igtv = warp_mask(input.igtv, input.dim, tap);
  if (!input.ctv.empty()) out.ctv = warp_mask(input.ctv, input.dim, tap);
  return out;
}

}  // namespace ctv::data
