// Linear resampling and crop/pad on plain arrays (see data/resample.h for the grid convention).
//
// Invariants: arrays are x fastest. A pass resamples one axis a of a volume viewed as
// (outer, n_a, inner), inner = product of the dims below a, outer = product above: output
// (o, j, i) = lerp(input (o, i0[j], i), input (o, i0[j] + 1, i), w[j]). Each pass writes every
// output value exactly once from the input alone (no accumulation), so splitting the (o, j)
// range across threads cannot change a bit.
#include "data/resample.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <thread>

namespace ctv::data {

namespace {

std::size_t count(const Dim3& d) { return std::size_t(d[0]) * std::size_t(d[1]) * d[2]; }

std::string dims_text(const Dim3& d) {
  return std::to_string(d[0]) + "x" + std::to_string(d[1]) + "x" + std::to_string(d[2]);
}

// Runs f(begin, end) over [0, n) in `threads` contiguous ranges, the calling thread taking the
// first. Ranges never overlap, so writes to disjoint outputs need no synchronisation.
template <class F>
void parallel_ranges(std::size_t n, int threads, F&& f) {
  const std::size_t parts = std::max<std::size_t>(1, std::min<std::size_t>(threads, n));
  if (parts == 1) {
    f(std::size_t(0), n);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(parts - 1);
  for (std::size_t p = 1; p < parts; ++p)
    pool.emplace_back([&f, n, parts, p] { f(n * p / parts, n * (p + 1) / parts); });
  f(std::size_t(0), n / parts);
  for (std::thread& t : pool) t.join();
}

// Where output voxel j of an axis reads: input index i0 and weight w of i0 + 1 (w == 0 reads
// i0 alone, so an edge voxel or an identity axis never touches a neighbour).
struct Tap {
  int i0;
  double w;
};

std::vector<Tap> taps(const AxisMap& m) {
  std::vector<Tap> t(std::size_t(m.out));
  for (int j = 0; j < m.out; ++j) {
    const double x = m.position(j);
    if (!(x > 0)) {
      t[j] = {0, 0.0};  // at or before the first centre: edge value
    } else if (x >= m.in - 1) {
      t[j] = {m.in - 1, 0.0};  // at or after the last centre: edge value
    } else {
      const double f = std::floor(x);
      t[j] = {int(f), x - f};
    }
  }
  return t;
}

// a + w (b - a) in double: exact for w == 0 and for a == b (constant regions stay constant).
inline float lerp(float a, float b, double w) {
  return static_cast<float>(double(a) + w * (double(b) - double(a)));
}

std::vector<float> resample_axis(const std::vector<float>& in, const Dim3& dim, int axis,
                                 const AxisMap& m, int threads) {
  std::size_t inner = 1, outer = 1;
  for (int a = 0; a < axis; ++a) inner *= std::size_t(dim[a]);
  for (int a = axis + 1; a < 3; ++a) outer *= std::size_t(dim[a]);
  const std::vector<Tap> tap = taps(m);
  std::vector<float> out(outer * std::size_t(m.out) * inner);
  const std::size_t n_in = std::size_t(m.in), n_out = std::size_t(m.out);
  parallel_ranges(outer * n_out, threads, [&](std::size_t begin, std::size_t end) {
    std::size_t o = begin / n_out, j = begin % n_out;
    for (std::size_t oj = begin; oj < end; ++oj, ++j) {
      if (j == n_out) j = 0, ++o;
      const Tap t = tap[j];
      const float* a = in.data() + (o * n_in + std::size_t(t.i0)) * inner;
      float* dst = out.data() + oj * inner;
      if (t.w == 0.0) {
        std::copy(a, a + inner, dst);
      } else {
        const float* b = a + inner;
        for (std::size_t i = 0; i < inner; ++i) dst[i] = lerp(a[i], b[i], t.w);
      }
    }
  });
  return out;
}

void check_map(const std::vector<float>& in, const std::array<AxisMap, 3>& map, int threads) {
  std::size_t n = 1;
  for (int a = 0; a < 3; ++a) {
    if (map[a].in < 1 || map[a].out < 1 || !std::isfinite(map[a].step) || !(map[a].step > 0))
      throw std::invalid_argument("resample: axis " + std::to_string(a) + " map " +
                                  std::to_string(map[a].in) + " -> " + std::to_string(map[a].out) +
                                  " voxels, step " + std::to_string(map[a].step) +
                                  " is not a valid grid map");
    n *= std::size_t(map[a].in);
  }
  if (in.size() != n)
    throw std::invalid_argument("resample: " + std::to_string(in.size()) +
                                " values for a grid of " + std::to_string(n) + " voxels");
  if (threads < 1)
    throw std::invalid_argument("resample: threads " + std::to_string(threads) + " < 1");
}

}  // namespace

bool spacing_matches(double spacing, double target) {
  return std::abs(spacing - target) <= 1e-5 * target;
}

AxisMap axis_to_spacing(int n, double spacing, double target) {
  if (n < 1 || !std::isfinite(spacing) || !(spacing > 0) || !std::isfinite(target) || !(target > 0))
    throw std::invalid_argument("axis_to_spacing: " + std::to_string(n) + " voxels of " +
                                std::to_string(spacing) + " mm to " + std::to_string(target) +
                                " mm: sizes must be >= 1 and spacings finite and > 0");
  if (spacing_matches(spacing, target)) return {n, n, 1.0};
  const long out = std::lround(double(n) * spacing / target);
  return {n, int(std::max(1L, out)), target / spacing};
}

std::vector<float> resample_linear(const std::vector<float>& in, const std::array<AxisMap, 3>& map,
                                   int threads) {
  check_map(in, map, threads);
  Dim3 dim{map[0].in, map[1].in, map[2].in};
  std::vector<float> cur = in;
  for (int a = 0; a < 3; ++a) {
    if (map[a].is_identity()) continue;
    cur = resample_axis(cur, dim, a, map[a], threads);
    dim[a] = map[a].out;
  }
  return cur;
}

std::vector<float> resample_mask(const std::vector<float>& in, const std::array<AxisMap, 3>& map,
                                 int threads) {
  check_map(in, map, threads);
  std::vector<float> binary(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) binary[i] = in[i] > 0.5f ? 1.f : 0.f;
  std::vector<float> out = resample_linear(binary, map, threads);
  for (float& v : out) v = v > 0.5f ? 1.f : 0.f;
  return out;
}

std::vector<float> crop_or_pad(const std::vector<float>& in, const Dim3& in_dim,
                               const Dim3& out_dim, const std::array<int, 3>& offset, float pad) {
  for (int a = 0; a < 3; ++a)
    if (in_dim[a] < 1 || out_dim[a] < 1)
      throw std::invalid_argument("crop_or_pad: dims " + dims_text(in_dim) + " -> " +
                                  dims_text(out_dim) + " must all be >= 1");
  if (in.size() != count(in_dim))
    throw std::invalid_argument("crop_or_pad: " + std::to_string(in.size()) +
                                " values for a grid of " + dims_text(in_dim));
  std::vector<float> out(count(out_dim), pad);
  // The x range of an output row that reads the input: g in [x_lo, x_hi).
  const int x_lo = std::clamp(-offset[0], 0, out_dim[0]);
  const int x_hi = std::clamp(in_dim[0] - offset[0], x_lo, out_dim[0]);
  if (x_lo == x_hi) return out;
  for (int k = 0; k < out_dim[2]; ++k) {
    const int sk = k + offset[2];
    if (sk < 0 || sk >= in_dim[2]) continue;
    for (int j = 0; j < out_dim[1]; ++j) {
      const int sj = j + offset[1];
      if (sj < 0 || sj >= in_dim[1]) continue;
      const float* src =
          in.data() + std::size_t(in_dim[0]) * (std::size_t(sj) + std::size_t(in_dim[1]) * sk);
      float* dst =
          out.data() + std::size_t(out_dim[0]) * (std::size_t(j) + std::size_t(out_dim[1]) * k);
      std::copy(src + x_lo + offset[0], src + x_hi + offset[0], dst + x_lo);
    }
  }
  return out;
}

}  // namespace ctv::data
