// batch_norm3d (PyTorch's BatchNorm3d semantics, channels last) and its Node.
// Statistics are f64 [C] tensors whatever the activation dtype; the running estimates keep
// the parameters' dtype and are updated in place (see engine/ops.h).
#include <memory>

#include "engine/ops.h"
#include "engine/ops_common.h"
#include "engine/ops_dispatch.h"

namespace ctv {

using detail::op_error;
using detail::require_defined;
using detail::require_same_kind;

BatchNormState BatchNormState::create(std::int64_t channels, DType dtype) {
  BatchNormState s;
  s.running_mean = Tensor::zeros(Shape{channels}, dtype);
  s.running_var = Tensor::full(Shape{channels}, 1.0, dtype);
  return s;
}

namespace {

class BatchNormNode final : public Node {
 public:
  bool training = true;
  Tensor x, mean, invstd, gamma;  // x dense; mean, invstd f64 [C]
  const char* name() const override { return "batch_norm3d"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g(3);
    const std::int64_t C = x.shape().last();
    if (needs_grad(0)) g[0] = Tensor::empty(x.shape(), dy.dtype(), dy.device());
    if (needs_grad(1)) g[1] = Tensor::empty(Shape{C}, dy.dtype(), dy.device());
    if (needs_grad(2)) g[2] = Tensor::empty(Shape{C}, dy.dtype(), dy.device());
    dispatch::batch_norm_bwd(training, x, dy, mean, invstd, gamma, g[0].defined() ? &g[0] : nullptr,
                             g[1].defined() ? &g[1] : nullptr, g[2].defined() ? &g[2] : nullptr);
    return g;
  }
  void release_saved() override { x = mean = invstd = gamma = Tensor(); }
};

void require_channel_vector(const char* arg, const Tensor& t, std::int64_t C, DType dtype) {
  if (!t.defined() || t.rank() != 1 || t.dim(0) != C || t.dtype() != dtype)
    op_error("batch_norm3d", std::string(arg) + " must be " + dtype_name(dtype) + "[" +
                                 std::to_string(C) + "], got " + t.describe());
}

}  // namespace

Var batch_norm3d(const Var& x, const Var& gamma, const Var& beta, BatchNormState& state,
                 bool training) {
  constexpr const char* op = "batch_norm3d";
  require_defined(op, "x", x);
  require_defined(op, "gamma", gamma);
  require_defined(op, "beta", beta);
  require_same_kind(op, {{"x", &x}, {"gamma", &gamma}, {"beta", &beta}});
  if (x.value().rank() < 1) op_error(op, "x must have a channel dimension");
  const std::int64_t C = x.shape().last();
  const DType dt = x.dtype();
  require_channel_vector("gamma", gamma.value(), C, dt);
  require_channel_vector("beta", beta.value(), C, dt);
  require_channel_vector("running_mean", state.running_mean, C, dt);
  require_channel_vector("running_var", state.running_var, C, dt);
  if (!(state.eps > 0.0)) op_error(op, "eps must be positive");

  const Tensor xd = x.value().contiguous();
  const std::int64_t M = xd.rows();
  Tensor mean = Tensor::empty(Shape{C}, DType::f64, xd.device());
  Tensor invstd = Tensor::empty(Shape{C}, DType::f64, xd.device());
  if (training) {
    if (M < 2) op_error(op, "training needs more than 1 value per channel, x is " + xd.describe());
    Tensor var = Tensor::empty(Shape{C}, DType::f64, xd.device());
    dispatch::batch_norm_stats(xd, mean, var);
    dispatch::batch_norm_invstd(var, state.eps, invstd);
    dispatch::batch_norm_update_running(M, mean, var, state.momentum, state.running_mean,
                                        state.running_var);
    ++state.num_batches_tracked;
  } else {
    mean.copy_from(state.running_mean);
    dispatch::batch_norm_invstd(state.running_var, state.eps, invstd);
  }
  const Tensor gd = gamma.value().contiguous(), bd = beta.value().contiguous();
  Tensor y = Tensor::empty(xd.shape(), dt, xd.device());
  dispatch::batch_norm_fwd(xd, mean, invstd, gd, bd, y);
  if (!should_record({&x, &gamma, &beta})) return Var(std::move(y));
  auto node = std::make_shared<BatchNormNode>();
  node->training = training;
  node->x = xd;
  node->mean = std::move(mean);
  node->invstd = std::move(invstd);
  node->gamma = gd;
  node->set_inputs({x, gamma, beta});
  return Var::from_op(std::move(y), std::move(node));
}

}  // namespace ctv
