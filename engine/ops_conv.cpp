// conv3d, conv_transpose3d and max_pool3d: argument checks, dispatch, and their Nodes.
// Saved for backward: only what a needed gradient reads (x only when w needs grad, w only
// when x does), so an inference-style graph keeps nothing it will not use.
#include <memory>

#include "engine/ops.h"
#include "engine/ops_common.h"
#include "engine/ops_dispatch.h"

namespace ctv {

using detail::as_int;
using detail::op_error;
using detail::require_rank;
using detail::require_same_kind;

namespace {

// The fields every window shape takes from x (NDHWC) and from the stride and pad parameters.
template <typename WindowShape, typename Params>
void set_window_fields(WindowShape& s, const char* op, const Shape& xs, const Params& p) {
  s.N = as_int(op, "N", xs[0]);
  s.D = as_int(op, "D", xs[1]);
  s.H = as_int(op, "H", xs[2]);
  s.W = as_int(op, "W", xs[3]);
  s.C = as_int(op, "C", xs[4]);
  s.stride_d = p.stride_d;
  s.stride_h = p.stride_h;
  s.stride_w = p.stride_w;
  s.pad_d = p.pad_d;
  s.pad_h = p.pad_h;
  s.pad_w = p.pad_w;
}

// ---- conv3d and conv_transpose3d ----------------------------------------------------------
// The two differ only in their shape struct, kernels and weight layout; one Node and one op
// body serve both.

struct Conv3dKind {
  using ShapeT = dispatch::Conv3dShape;
  static constexpr const char* name = "conv3d";
  static constexpr const char* w_layout = "KTRSC";
  static constexpr int w_in_axis = 4, w_out_axis = 0;  // weight axes holding C and K
  static Shape w_shape(const ShapeT& s) { return Shape{s.K, s.T, s.R, s.S, s.C}; }
  static constexpr auto fprop = &dispatch::conv3d_fprop;
  static constexpr auto dgrad = &dispatch::conv3d_dgrad;
  static constexpr auto wgrad = &dispatch::conv3d_wgrad;
};

struct ConvTranspose3dKind {
  using ShapeT = dispatch::ConvTranspose3dShape;
  static constexpr const char* name = "conv_transpose3d";
  static constexpr const char* w_layout = "CTRSK";
  static constexpr int w_in_axis = 0, w_out_axis = 4;
  static Shape w_shape(const ShapeT& s) { return Shape{s.C, s.T, s.R, s.S, s.K}; }
  static constexpr auto fprop = &dispatch::conv_transpose3d_fprop;
  static constexpr auto dgrad = &dispatch::conv_transpose3d_dgrad;
  static constexpr auto wgrad = &dispatch::conv_transpose3d_wgrad;
};

template <typename Kind>
class ConvNode final : public Node {
 public:
  typename Kind::ShapeT s{};
  Tensor x, w;  // saved values (dense)
  const char* name() const override { return Kind::name; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g(3);
    if (needs_grad(0)) {
      g[0] = Tensor::empty(Shape{s.N, s.D, s.H, s.W, s.C}, dy.dtype(), dy.device());
      Kind::dgrad(s, dy, w, g[0]);
    }
    if (needs_grad(1)) {
      g[1] = Tensor::empty(Kind::w_shape(s), dy.dtype(), dy.device());
      Kind::wgrad(s, x, dy, g[1]);
    }
    if (needs_grad(2)) {
      g[2] = Tensor::empty(Shape{s.K}, dy.dtype(), dy.device());
      dispatch::sum_rows(dy, g[2]);
    }
    return g;
  }
  void release_saved() override { x = w = Tensor(); }
};

void check_bias(const char* op, const Var& b, std::int64_t K) {
  if (b.defined() && (b.value().rank() != 1 || b.value().dim(0) != K))
    op_error(op, "bias must be [" + std::to_string(K) + "], got " + b.value().describe());
}

template <typename Kind>
Var conv_op(const Var& x, const Var& w, const Var& b, const Conv3dParams& p) {
  constexpr const char* op = Kind::name;
  require_rank(op, "x", x, 5);
  require_rank(op, "w", w, 5);
  require_same_kind(op, {{"x", &x}, {"w", &w}, {"b", &b}});
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  if (ws[Kind::w_in_axis] != xs[4])
    op_error(op, "weight " + ws.str() + " (" + Kind::w_layout + ") has " +
                     std::to_string(ws[Kind::w_in_axis]) + " input channels, x " + xs.str() +
                     " (NDHWC) has " + std::to_string(xs[4]));
  check_bias(op, b, ws[Kind::w_out_axis]);
  typename Kind::ShapeT s{};
  set_window_fields(s, op, xs, p);
  s.K = as_int(op, "K", ws[Kind::w_out_axis]);
  s.T = as_int(op, "T", ws[1]);
  s.R = as_int(op, "R", ws[2]);
  s.S = as_int(op, "S", ws[3]);
  s.validate();
  const Tensor xd = x.value().contiguous(), wd = w.value().contiguous();
  const Tensor bd = b.defined() ? b.value().contiguous() : Tensor();
  Tensor y = Tensor::empty(Shape{s.N, s.Z(), s.P(), s.Q(), s.K}, xd.dtype(), xd.device());
  Kind::fprop(s, xd, wd, b.defined() ? &bd : nullptr, y);
  if (!should_record({&x, &w, &b})) return Var(std::move(y));
  auto node = std::make_shared<ConvNode<Kind>>();
  node->s = s;
  if (w.requires_grad()) node->x = xd;
  if (x.requires_grad()) node->w = wd;
  node->set_inputs({x, w, b});
  return Var::from_op(std::move(y), std::move(node));
}

// ---- max_pool3d ---------------------------------------------------------------------------

class MaxPool3dNode final : public Node {
 public:
  dispatch::MaxPool3dShape s{};
  Tensor argmax;  // i64, y's shape
  const char* name() const override { return "max_pool3d"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::empty(Shape{s.N, s.D, s.H, s.W, s.C}, dy.dtype(), dy.device());
    dispatch::max_pool3d_bprop(s, dy, argmax, dx);
    return {dx};
  }
  void release_saved() override { argmax = Tensor(); }
};

}  // namespace

Var conv3d(const Var& x, const Var& w, const Var& b, const Conv3dParams& p) {
  return conv_op<Conv3dKind>(x, w, b, p);
}

Var conv_transpose3d(const Var& x, const Var& w, const Var& b, const Conv3dParams& p) {
  return conv_op<ConvTranspose3dKind>(x, w, b, p);
}

Var max_pool3d(const Var& x, const Pool3dParams& p) {
  constexpr const char* op = "max_pool3d";
  require_rank(op, "x", x, 5);
  require_same_kind(op, {{"x", &x}});
  const Shape& xs = x.shape();
  dispatch::MaxPool3dShape s{};
  set_window_fields(s, op, xs, p);
  s.T = p.kernel_d;
  s.R = p.kernel_h;
  s.S = p.kernel_w;
  s.validate();
  const Tensor xd = x.value().contiguous();
  const Shape ys{s.N, s.Z(), s.P(), s.Q(), s.C};
  Tensor y = Tensor::empty(ys, xd.dtype(), xd.device());
  const bool record = should_record({&x});
  Tensor argmax = record ? Tensor::empty(ys, DType::i64, xd.device()) : Tensor();
  dispatch::max_pool3d_fprop(s, xd, y, record ? &argmax : nullptr);
  if (!record) return Var(std::move(y));
  auto node = std::make_shared<MaxPool3dNode>();
  node->s = s;
  node->argmax = std::move(argmax);
  node->set_inputs({x});
  return Var::from_op(std::move(y), std::move(node));
}

}  // namespace ctv
