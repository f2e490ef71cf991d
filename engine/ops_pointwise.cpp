// relu, sigmoid, channel concat and channel slices, and their Nodes.
#include <memory>

#include "engine/ops.h"
#include "engine/ops_common.h"
#include "engine/ops_dispatch.h"

namespace ctv {

using detail::op_error;
using detail::require_defined;
using detail::require_same_kind;

namespace {

// relu and sigmoid: the backward reads only the saved output, dx = bwd(y, dy).
class UnaryNode final : public Node {
 public:
  using Backward = void (*)(const Tensor& y, const Tensor& dy, Tensor& dx);
  UnaryNode(const char* op, Backward bwd) : op_(op), bwd_(bwd) {}
  Tensor y;
  const char* name() const override { return op_; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::empty(y.shape(), dy.dtype(), dy.device());
    bwd_(y, dy, dx);
    return {dx};
  }
  void release_saved() override { y = Tensor(); }

 private:
  const char* op_;
  Backward bwd_;
};

class ConcatNode final : public Node {
 public:
  std::vector<std::int64_t> widths;
  const char* name() const override { return "concat_channels"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g(widths.size());
    std::int64_t off = 0;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      if (needs_grad(i)) g[i] = dy.channel_slice(off, off + widths[i]);  // view; engine copies
      off += widths[i];
    }
    return g;
  }
};

class SliceNode final : public Node {
 public:
  Shape x_shape;
  std::int64_t c0 = 0, c1 = 0;
  const char* name() const override { return "slice_channels"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::zeros(x_shape, dy.dtype(), dy.device());
    Tensor window = dx.channel_slice(c0, c1);
    window.copy_from(dy);
    return {dx};
  }
};

// Unary element-wise op: dense input, fresh output, Node saving the output.
template <typename Fwd>
Var unary(const char* op, const Var& x, Fwd fwd, UnaryNode::Backward bwd) {
  require_defined(op, "x", x);
  require_same_kind(op, {{"x", &x}});
  const Tensor xd = x.value().contiguous();
  Tensor y = Tensor::empty(xd.shape(), xd.dtype(), xd.device());
  fwd(xd, y);
  if (!should_record({&x})) return Var(std::move(y));
  auto node = std::make_shared<UnaryNode>(op, bwd);
  node->y = y;
  node->set_inputs({x});
  return Var::from_op(std::move(y), std::move(node));
}

}  // namespace

Var relu(const Var& x) { return unary("relu", x, dispatch::relu_fwd, dispatch::relu_bwd); }

Var sigmoid(const Var& x) {
  return unary("sigmoid", x, dispatch::sigmoid_fwd, dispatch::sigmoid_bwd);
}

Var concat_channels(const std::vector<Var>& inputs) {
  constexpr const char* op = "concat_channels";
  if (inputs.empty()) op_error(op, "needs at least one input");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    require_defined(op, "inputs[i]", inputs[i]);
    require_same_kind(op, {{"inputs[0]", &inputs[0]}, {"inputs[i]", &inputs[i]}});
  }
  const Tensor& first = inputs[0].value();
  if (first.rank() < 1) op_error(op, "inputs need a channel dimension");
  Shape out = first.shape();
  out[out.rank - 1] = 0;
  std::vector<std::int64_t> widths;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i].value();
    bool same = t.rank() == first.rank();
    for (int d = 0; same && d + 1 < first.rank(); ++d) same = t.dim(d) == first.dim(d);
    if (!same)
      op_error(op, "input " + std::to_string(i) + " " + t.describe() + " does not match input 0 " +
                       first.describe() + " outside the channel dimension");
    widths.push_back(t.shape().last());
    out[out.rank - 1] += t.shape().last();
  }
  // Adjacent slices of one storage, in order: the concatenation is already there.
  bool adjacent = true;
  for (std::size_t i = 1; adjacent && i < inputs.size(); ++i) {
    const Tensor& a = inputs[i - 1].value();
    const Tensor& b = inputs[i].value();
    adjacent = b.shares_storage(first) && b.pitch() == first.pitch() &&
               b.offset() == a.offset() + a.shape().last();
  }
  Tensor y;
  if (adjacent && first.pitch() >= out.last()) {
    y = Tensor::view_of(first, out, first.offset(), first.pitch());
  } else {
    y = Tensor::empty(out, first.dtype(), first.device());
    std::vector<const Tensor*> src;
    for (const Var& v : inputs) src.push_back(&v.value());
    dispatch::concat_channels(src.data(), src.size(), y);
  }
  if (!should_record(inputs)) return Var(std::move(y));
  auto node = std::make_shared<ConcatNode>();
  node->widths = std::move(widths);
  node->set_inputs(inputs);
  return Var::from_op(std::move(y), std::move(node));
}

Var slice_channels(const Var& x, std::int64_t c0, std::int64_t c1) {
  constexpr const char* op = "slice_channels";
  require_defined(op, "x", x);
  Tensor y = x.value().channel_slice(c0, c1);
  if (!should_record({&x})) return Var(std::move(y));
  auto node = std::make_shared<SliceNode>();
  node->x_shape = x.shape();
  node->c0 = c0;
  node->c1 = c1;
  node->set_inputs({x});
  return Var::from_op(std::move(y), std::move(node));
}

}  // namespace ctv
