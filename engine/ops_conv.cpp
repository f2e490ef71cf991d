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

// ---- conv3d -------------------------------------------------------------------------------

class Conv3dNode final : public Node {
 public:
  dispatch::Conv3dShape s{};
  Tensor x, w;  // saved values (dense)
  const char* name() const override { return "conv3d"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g(3);
    if (needs_grad(0)) {
      g[0] = Tensor::empty(Shape{s.N, s.D, s.H, s.W, s.C}, dy.dtype(), dy.device());
      dispatch::conv3d_dgrad(s, dy, w, g[0]);
    }
    if (needs_grad(1)) {
      g[1] = Tensor::empty(Shape{s.K, s.T, s.R, s.S, s.C}, dy.dtype(), dy.device());
      dispatch::conv3d_wgrad(s, x, dy, g[1]);
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

// ---- conv_transpose3d ---------------------------------------------------------------------

class ConvTranspose3dNode final : public Node {
 public:
  dispatch::ConvTranspose3dShape s{};
  Tensor x, w;
  const char* name() const override { return "conv_transpose3d"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g(3);
    if (needs_grad(0)) {
      g[0] = Tensor::empty(Shape{s.N, s.D, s.H, s.W, s.C}, dy.dtype(), dy.device());
      dispatch::conv_transpose3d_dgrad(s, dy, w, g[0]);
    }
    if (needs_grad(1)) {
      g[1] = Tensor::empty(Shape{s.C, s.T, s.R, s.S, s.K}, dy.dtype(), dy.device());
      dispatch::conv_transpose3d_wgrad(s, x, dy, g[1]);
    }
    if (needs_grad(2)) {
      g[2] = Tensor::empty(Shape{s.K}, dy.dtype(), dy.device());
      dispatch::sum_rows(dy, g[2]);
    }
    return g;
  }
  void release_saved() override { x = w = Tensor(); }
};

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
  constexpr const char* op = "conv3d";
  require_rank(op, "x", x, 5);
  require_rank(op, "w", w, 5);
  require_same_kind(op, {{"x", &x}, {"w", &w}, {"b", &b}});
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  if (ws[4] != xs[4])
    op_error(op, "weight " + ws.str() + " (KTRSC) has " + std::to_string(ws[4]) +
                     " input channels, x " + xs.str() + " (NDHWC) has " + std::to_string(xs[4]));
  check_bias(op, b, ws[0]);
  dispatch::Conv3dShape s{as_int(op, "N", xs[0]),
                          as_int(op, "D", xs[1]),
                          as_int(op, "H", xs[2]),
                          as_int(op, "W", xs[3]),
                          as_int(op, "C", xs[4]),
                          as_int(op, "K", ws[0]),
                          as_int(op, "T", ws[1]),
                          as_int(op, "R", ws[2]),
                          as_int(op, "S", ws[3]),
                          p.stride_d,
                          p.stride_h,
                          p.stride_w,
                          p.pad_d,
                          p.pad_h,
                          p.pad_w};
  s.validate();
  const Tensor xd = x.value().contiguous(), wd = w.value().contiguous();
  const Tensor bd = b.defined() ? b.value().contiguous() : Tensor();
  Tensor y = Tensor::empty(Shape{s.N, s.Z(), s.P(), s.Q(), s.K}, xd.dtype(), xd.device());
  dispatch::conv3d_fprop(s, xd, wd, b.defined() ? &bd : nullptr, y);
  if (!should_record({&x, &w, &b})) return Var(std::move(y));
  auto node = std::make_shared<Conv3dNode>();
  node->s = s;
  if (w.requires_grad()) node->x = xd;
  if (x.requires_grad()) node->w = wd;
  node->set_inputs({x, w, b});
  return Var::from_op(std::move(y), std::move(node));
}

Var conv_transpose3d(const Var& x, const Var& w, const Var& b, const Conv3dParams& p) {
  constexpr const char* op = "conv_transpose3d";
  require_rank(op, "x", x, 5);
  require_rank(op, "w", w, 5);
  require_same_kind(op, {{"x", &x}, {"w", &w}, {"b", &b}});
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  if (ws[0] != xs[4])
    op_error(op, "weight " + ws.str() + " (CTRSK) has " + std::to_string(ws[0]) +
                     " input channels, x " + xs.str() + " (NDHWC) has " + std::to_string(xs[4]));
  check_bias(op, b, ws[4]);
  dispatch::ConvTranspose3dShape s{as_int(op, "N", xs[0]),
                                   as_int(op, "D", xs[1]),
                                   as_int(op, "H", xs[2]),
                                   as_int(op, "W", xs[3]),
                                   as_int(op, "C", xs[4]),
                                   as_int(op, "K", ws[4]),
                                   as_int(op, "T", ws[1]),
                                   as_int(op, "R", ws[2]),
                                   as_int(op, "S", ws[3]),
                                   p.stride_d,
                                   p.stride_h,
                                   p.stride_w,
                                   p.pad_d,
                                   p.pad_h,
                                   p.pad_w};
  s.validate();
  const Tensor xd = x.value().contiguous(), wd = w.value().contiguous();
  const Tensor bd = b.defined() ? b.value().contiguous() : Tensor();
  Tensor y = Tensor::empty(Shape{s.N, s.Z(), s.P(), s.Q(), s.K}, xd.dtype(), xd.device());
  dispatch::conv_transpose3d_fprop(s, xd, wd, b.defined() ? &bd : nullptr, y);
  if (!should_record({&x, &w, &b})) return Var(std::move(y));
  auto node = std::make_shared<ConvTranspose3dNode>();
  node->s = s;
  if (w.requires_grad()) node->x = xd;
  if (x.requires_grad()) node->w = wd;
  node->set_inputs({x, w, b});
  return Var::from_op(std::move(y), std::move(node));
}

Var max_pool3d(const Var& x, const Pool3dParams& p) {
  constexpr const char* op = "max_pool3d";
  require_rank(op, "x", x, 5);
  require_same_kind(op, {{"x", &x}});
  const Shape& xs = x.shape();
  dispatch::MaxPool3dShape s{as_int(op, "N", xs[0]),
                             as_int(op, "D", xs[1]),
                             as_int(op, "H", xs[2]),
                             as_int(op, "W", xs[3]),
                             as_int(op, "C", xs[4]),
                             p.kernel_d,
                             p.kernel_h,
                             p.kernel_w,
                             p.stride_d,
                             p.stride_h,
                             p.stride_w,
                             p.pad_d,
                             p.pad_h,
                             p.pad_w};
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
