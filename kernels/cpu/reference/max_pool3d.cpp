// Naive 3-D max pooling: the reference (spec) for every faster pooling kernel.
//
// Layouts: x/dx NDHWC, y/dy/argmax NZPQC; dense, channels last. argmax entries are flat
// indices into x. Semantics: every output is overwritten (=): y and argmax by fprop, dx by
// bprop. Ties go to the first maximum in window scan order (t, r, s); NaN beats every number
// and the first NaN wins. bprop is a gather (one writer per dx element, sum in double in a
// fixed order), the form a GPU kernel takes; it equals "zero dx, then dx[argmax[o]] += dy[o]".
#include "kernels/cpu/reference/max_pool3d.h"

#include "kernels/cpu/reference/shape_checks.h"

namespace ctv::kernels::ref {

std::size_t MaxPool3dShape::x_size() const { return static_cast<std::size_t>(N) * D * H * W * C; }
std::size_t MaxPool3dShape::y_size() const {
  return static_cast<std::size_t>(N) * Z() * P() * Q() * C;
}

std::string MaxPool3dShape::describe() const {
  return detail::describe_window_shape(*this, "max_pool3d", detail::kPoolFieldNames);
}

void MaxPool3dShape::validate() const {
  using namespace detail;
  require_window_fields(*this, kPoolFieldNames);
  const struct {
    const char *axis, *pad_name;
    int in, pad, window;
  } axes[] = {{"depth", "pad_d", D, pad_d, T},
              {"height", "pad_h", H, pad_h, R},
              {"width", "pad_w", W, pad_w, S}};
  for (const auto& a : axes) {
    // As PyTorch: keeps a real element in every window, so padding never wins.
    if (2 * a.pad > a.window)
      fail_shape(*this, std::string(a.pad_name) + " " + std::to_string(a.pad) +
                            " is more than half the window " + a.axis + " " +
                            std::to_string(a.window));
    require_window_fits(*this, kPoolFieldNames, a.axis, a.in, a.pad, a.window);
  }
}

using detail::require_nonnull;

namespace {
// Whether candidate v displaces the current maximum m: strictly larger, or the first NaN.
template <typename Scalar>
CTV_HD inline bool max_pool_takes(Scalar v, Scalar m) {
  return v > m || (v != v && m == m);  // v != v: v is NaN
}
}  // namespace

template <typename Scalar>
void max_pool3d_fprop(const MaxPool3dShape& sh, const Scalar* x, Scalar* y, std::int64_t* argmax) {
  sh.validate();
  require_nonnull("max_pool3d_fprop", x, y);
  const int Z = sh.Z(), P = sh.P(), Q = sh.Q();
  for (int n = 0; n < sh.N; ++n)
    for (int z = 0; z < Z; ++z)
      for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q)
          for (int c = 0; c < sh.C; ++c) {
            std::int64_t best_index = -1;  // validate() guarantees a real element per window
            Scalar best = Scalar(0);
            for (int t = 0; t < sh.T; ++t) {
              const int d = window_in_coord(z, t, sh.stride_d, sh.pad_d);
              if (!in_range(d, sh.D)) continue;
              for (int r = 0; r < sh.R; ++r) {
                const int h = window_in_coord(p, r, sh.stride_h, sh.pad_h);
                if (!in_range(h, sh.H)) continue;
                for (int s = 0; s < sh.S; ++s) {
                  const int wi = window_in_coord(q, s, sh.stride_w, sh.pad_w);
                  if (!in_range(wi, sh.W)) continue;
                  const std::int64_t i = ndhwc_offset(n, d, h, wi, c, sh.D, sh.H, sh.W, sh.C);
                  if (best_index < 0 || max_pool_takes(x[i], best)) {
                    best = x[i];
                    best_index = i;
                  }
                }
              }
            }
            const std::int64_t o = ndhwc_offset(n, z, p, q, c, Z, P, Q, sh.C);
            y[o] = best;
            if (argmax) argmax[o] = best_index;
          }
}

template <typename Scalar>
void max_pool3d_bprop(const MaxPool3dShape& sh, const Scalar* dy, const std::int64_t* argmax,
                      Scalar* dx) {
  sh.validate();
  require_nonnull("max_pool3d_bprop", dy, argmax, dx);
  const int Z = sh.Z(), P = sh.P(), Q = sh.Q();
  for (int n = 0; n < sh.N; ++n)
    for (int d = 0; d < sh.D; ++d)
      for (int h = 0; h < sh.H; ++h)
        for (int wi = 0; wi < sh.W; ++wi)
          for (int c = 0; c < sh.C; ++c) {
            const std::int64_t i = ndhwc_offset(n, d, h, wi, c, sh.D, sh.H, sh.W, sh.C);
            double acc = 0.0;
            // The windows that contain (d, h, wi); those whose maximum it is pass dy on.
            for (int t = 0; t < sh.T; ++t) {
              const int z = window_out_coord(d, t, sh.stride_d, sh.pad_d, Z);
              if (z < 0) continue;
              for (int r = 0; r < sh.R; ++r) {
                const int p = window_out_coord(h, r, sh.stride_h, sh.pad_h, P);
                if (p < 0) continue;
                for (int s = 0; s < sh.S; ++s) {
                  const int q = window_out_coord(wi, s, sh.stride_w, sh.pad_w, Q);
                  if (q < 0) continue;
                  const std::int64_t o = ndhwc_offset(n, z, p, q, c, Z, P, Q, sh.C);
                  if (argmax[o] == i) acc += static_cast<double>(dy[o]);
                }
              }
            }
            dx[i] = static_cast<Scalar>(acc);
          }
}

#define CTV_INSTANTIATE(Scalar)                                                         \
  template void max_pool3d_fprop<Scalar>(const MaxPool3dShape&, const Scalar*, Scalar*, \
                                         std::int64_t*);                                \
  template void max_pool3d_bprop<Scalar>(const MaxPool3dShape&, const Scalar*,          \
                                         const std::int64_t*, Scalar*);
CTV_INSTANTIATE(float)
CTV_INSTANTIATE(double)
#undef CTV_INSTANTIATE

}  // namespace ctv::kernels::ref
