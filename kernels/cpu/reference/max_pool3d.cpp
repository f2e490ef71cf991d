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
            Scalar best;
            const std::int64_t best_index = max_pool_window(sh, x, n, z, p, q, c, best);
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
  for (int n = 0; n < sh.N; ++n)
    for (int d = 0; d < sh.D; ++d)
      for (int h = 0; h < sh.H; ++h)
        for (int wi = 0; wi < sh.W; ++wi)
          for (int c = 0; c < sh.C; ++c)
            dx[ndhwc_offset(n, d, h, wi, c, sh.D, sh.H, sh.W, sh.C)] =
                static_cast<Scalar>(max_pool_gather(sh, dy, argmax, n, d, h, wi, c));
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
