// Fast 3-D max pooling (see max_pool3d.h).
//
// Invariants: x, dx NDHWC; y, dy, argmax NZPQC; dense, any alignment; outputs overwritten.
// The fast path needs stride >= window and pad == 0 on every axis, so each input element lies
// in at most one window.
#include "kernels/cpu/fast/max_pool3d.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/fast/elementwise.h"
#include "kernels/cpu/fast/parallel.h"
#include "kernels/cpu/reference/shape_checks.h"

namespace ctv::kernels::fast {

namespace {

bool disjoint_windows(const MaxPool3dShape& s) {
  return s.stride_d >= s.T && s.stride_h >= s.R && s.stride_w >= s.S && s.pad_d == 0 &&
         s.pad_h == 0 && s.pad_w == 0;
}

// Offsets (elements, from the window's first element) of the taps in scan order t, r, s.
std::vector<std::int64_t> tap_offsets(const MaxPool3dShape& s) {
  std::vector<std::int64_t> off;
  for (int t = 0; t < s.T; ++t)
    for (int r = 0; r < s.R; ++r)
      for (int u = 0; u < s.S; ++u)
        off.push_back(((std::int64_t(t) * s.H + r) * s.W + u) * s.C);
  return off;
}

// One window, all channels: best[c] and (kArgmax) the winning tap's number.
// The reference's rule: v displaces m when v > m, or v is the first NaN.
template <bool kArgmax>
inline void window_max(const float* base, const std::int64_t* off, int taps, std::int64_t C,
                       float* best, std::int32_t* tap) {
  for (std::int64_t c = 0; c < C; ++c) {
    best[c] = base[off[0] + c];
    if constexpr (kArgmax) tap[c] = 0;
  }
  for (int k = 1; k < taps; ++k) {
    const float* src = base + off[k];
    for (std::int64_t c = 0; c < C; ++c) {
      const float v = src[c], m = best[c];
      const bool take = (v > m) | ((v != v) & (m == m));
      best[c] = take ? v : m;
      if constexpr (kArgmax) tap[c] = take ? k : tap[c];
    }
  }
}

template <bool kArgmax>
void fprop_disjoint(const MaxPool3dShape& s, const float* x, float* y, std::int64_t* argmax) {
  const int Z = s.Z(), P = s.P(), Q = s.Q();
  const std::int64_t C = s.C;
  const std::vector<std::int64_t> off = tap_offsets(s);
  const int taps = static_cast<int>(off.size());
  parallel_for(std::int64_t(s.N) * Z, 1, [&](std::int64_t b, std::int64_t e) {
    std::vector<std::int32_t> tap(static_cast<std::size_t>(kArgmax ? C : 0));
    for (std::int64_t plane = b; plane < e; ++plane) {
      const std::int64_t n = plane / Z;
      const int z = static_cast<int>(plane % Z);
      for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q) {
          const std::int64_t first =
              ndhwc_offset(n, z * s.stride_d, p * s.stride_h, q * s.stride_w, 0, s.D, s.H, s.W, s.C);
          const std::int64_t o = ndhwc_offset(n, z, p, q, 0, Z, P, Q, s.C);
          window_max<kArgmax>(x + first, off.data(), taps, C, y + o, tap.data());
          if constexpr (kArgmax)
            for (std::int64_t c = 0; c < C; ++c) argmax[o + c] = first + off[tap[c]] + c;
        }
    }
  });
}

void bprop_disjoint(const MaxPool3dShape& s, const float* dy, const std::int64_t* argmax,
                    float* dx) {
  const int Z = s.Z(), P = s.P(), Q = s.Q();
  const std::int64_t C = s.C;
  const std::int64_t row = std::int64_t(s.W) * C;
  parallel_for(std::int64_t(s.N) * s.D, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      const std::int64_t n = plane / s.D;
      const int d = static_cast<int>(plane % s.D);
      const int z = d / s.stride_d;
      const bool plane_covered = d % s.stride_d < s.T && z < Z;
      for (int h = 0; h < s.H; ++h) {
        const std::int64_t i_row = ndhwc_offset(n, d, h, 0, 0, s.D, s.H, s.W, s.C);
        float* dxr = dx + i_row;
        const int p = h / s.stride_h;
        if (!plane_covered || h % s.stride_h >= s.R || p >= P) {
          std::fill(dxr, dxr + row, 0.0f);
          continue;
        }
        for (int w = 0; w < s.W; ++w) {
          float* dxp = dxr + std::int64_t(w) * C;
          const int q = w / s.stride_w;
          if (w % s.stride_w >= s.S || q >= Q) {
            std::fill(dxp, dxp + C, 0.0f);
            continue;
          }
          const std::int64_t o = ndhwc_offset(n, z, p, q, 0, Z, P, Q, s.C);
          const std::int64_t i = i_row + std::int64_t(w) * C;
          for (std::int64_t c = 0; c < C; ++c)
            dxp[c] = keep_or_zero(argmax[o + c] == i + c, dy[o + c]);
        }
      }
    }
  });
}

}  // namespace

void max_pool3d_fprop(const MaxPool3dShape& s, const float* x, float* y, std::int64_t* argmax) {
  if (!disjoint_windows(s)) return ref::max_pool3d_fprop(s, x, y, argmax);
  s.validate();
  detail::require_nonnull("max_pool3d_fprop", x, y);
  if (argmax)
    fprop_disjoint<true>(s, x, y, argmax);
  else
    fprop_disjoint<false>(s, x, y, nullptr);
}

void max_pool3d_bprop(const MaxPool3dShape& s, const float* dy, const std::int64_t* argmax,
                      float* dx) {
  if (!disjoint_windows(s)) return ref::max_pool3d_bprop(s, dy, argmax, dx);
  s.validate();
  detail::require_nonnull("max_pool3d_bprop", dy, argmax, dx);
  bprop_disjoint(s, dy, argmax, dx);
}

}  // namespace ctv::kernels::fast
