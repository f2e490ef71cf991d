// The losses of SPEC section 3 (AM-GM, BCE, weighted BCE) and their Nodes. Each returns a
// rank-0 tensor of the prediction's dtype; the sums behind it are chunked (reduce.h).
#include <memory>

#include "engine/ops.h"
#include "engine/ops_common.h"
#include "engine/ops_dispatch.h"

namespace ctv {

using detail::op_error;
using detail::require_defined;
using detail::require_same_kind;

namespace {

class AmgmNode final : public Node {
 public:
  Tensor p, g;
  dispatch::AmgmSums sums;
  double eps = 1e-5;
  const char* name() const override { return "amgm_loss"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> out(2);
    for (std::size_t i = 0; i < 2; ++i)
      if (needs_grad(i)) out[i] = Tensor::empty(p.shape(), p.dtype(), p.device());
    dispatch::amgm_bwd(p, g, sums, eps, dy.item(), out[0].defined() ? &out[0] : nullptr,
                       out[1].defined() ? &out[1] : nullptr);
    return out;
  }
  void release_saved() override { p = g = Tensor(); }
};

class BceNode final : public Node {
 public:
  Tensor p, g;
  double w_bg = 1.0;
  const char* name() const override { return "bce_loss"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> out(2);
    for (std::size_t i = 0; i < 2; ++i)
      if (needs_grad(i)) out[i] = Tensor::empty(p.shape(), p.dtype(), p.device());
    dispatch::bce_bwd(p, g, w_bg, dy.item(), out[0].defined() ? &out[0] : nullptr,
                      out[1].defined() ? &out[1] : nullptr);
    return out;
  }
  void release_saved() override { p = g = Tensor(); }
};

void check_pair(const char* op, const Var& p, const Var& g) {
  require_defined(op, "p", p);
  require_defined(op, "g", g);
  require_same_kind(op, {{"p", &p}, {"g", &g}});
  if (p.shape() != g.shape())
    op_error(op, "prediction " + p.value().describe() + " and target " + g.value().describe() +
                     " differ in shape");
  if (p.value().numel() == 0) op_error(op, "empty prediction");
}

Var bce_impl(const char* op, const Var& p, const Var& g, double w_bg) {
  check_pair(op, p, g);
  if (!(w_bg >= 0.0)) op_error(op, "background weight must be >= 0");
  const Tensor pd = p.value().contiguous(), gd = g.value().contiguous();
  Tensor y = Tensor::full(Shape{}, dispatch::bce_value(pd, gd, w_bg), pd.dtype(), pd.device());
  if (!should_record({&p, &g})) return Var(std::move(y));
  auto node = std::make_shared<BceNode>();
  node->p = pd;
  node->g = gd;
  node->w_bg = w_bg;
  node->set_inputs({p, g});
  return Var::from_op(std::move(y), std::move(node));
}

}  // namespace

Var amgm_loss(const Var& p, const Var& g, double eps) {
  constexpr const char* op = "amgm_loss";
  check_pair(op, p, g);
  if (!(eps > 0.0)) op_error(op, "eps must be positive");
  const Tensor pd = p.value().contiguous(), gd = g.value().contiguous();
  const dispatch::AmgmSums sums = dispatch::amgm_sums(pd, gd);
  Tensor y = Tensor::full(Shape{}, kernels::ref::amgm_value(sums, eps), pd.dtype(), pd.device());
  if (!should_record({&p, &g})) return Var(std::move(y));
  auto node = std::make_shared<AmgmNode>();
  node->p = pd;
  node->g = gd;
  node->sums = sums;
  node->eps = eps;
  node->set_inputs({p, g});
  return Var::from_op(std::move(y), std::move(node));
}

Var bce_loss(const Var& p, const Var& g) { return bce_impl("bce_loss", p, g, 1.0); }

Var weighted_bce_loss(const Var& p, const Var& g, double background_weight) {
  return bce_impl("weighted_bce_loss", p, g, background_weight);
}

}  // namespace ctv
