// batch_norm3d (PyTorch's BatchNorm3d semantics, channels last), batch_norm_relu3d (the same
// fused with the ReLU after it) and their Nodes.
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

// relu(batch_norm) as one node: the backward masks dy by the saved output (y > 0).
class BatchNormReluNode final : public Node {
 public:
  bool training = true;
  Tensor x, y, mean, invstd, gamma;  // x, y dense; mean, invstd f64 [C]
  const char* name() const override { return "batch_norm_relu3d"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g(3);
    const std::int64_t C = x.shape().last();
    if (needs_grad(0)) g[0] = Tensor::empty(x.shape(), dy.dtype(), dy.device());
    if (needs_grad(1)) g[1] = Tensor::empty(Shape{C}, dy.dtype(), dy.device());
    if (needs_grad(2)) g[2] = Tensor::empty(Shape{C}, dy.dtype(), dy.device());
    dispatch::batch_norm_relu_bwd(training, x, y, dy, mean, invstd, gamma,
                                  g[0].defined() ? &g[0] : nullptr,
                                  g[1].defined() ? &g[1] : nullptr,
                                  g[2].defined() ? &g[2] : nullptr);
    return g;
  }
  void release_saved() override { x = y = mean = invstd = gamma = Tensor(); }
};

void require_channel_vector(const char* op, const char* arg, const Tensor& t, std::int64_t C,
                            DType dtype) {
  if (!t.defined() || t.rank() != 1 || t.dim(0) != C || t.dtype() != dtype)
    op_error(op, std::string(arg) + " must be " + dtype_name(dtype) + "[" + std::to_string(C) +
                     "], got " + t.describe());
}

// What the forward of batch_norm3d and batch_norm_relu3d shares: the checks, the statistics
// (batch or running) and, in training, the running-estimate update.
struct Normalisation {
  Tensor x, mean, invstd, gamma, beta;  // x, gamma, beta dense
};

Normalisation normalisation(const char* op, const Var& x, const Var& gamma, const Var& beta,
                            BatchNormState& state, bool training) {
  require_defined(op, "x", x);
  require_defined(op, "gamma", gamma);
  require_defined(op, "beta", beta);
  require_same_kind(op, {{"x", &x}, {"gamma", &gamma}, {"beta", &beta}});
  if (x.value().rank() < 1) op_error(op, "x must have a channel dimension");
  const std::int64_t C = x.shape().last();
  const DType dt = x.dtype();
  require_channel_vector(op, "gamma", gamma.value(), C, dt);
  require_channel_vector(op, "beta", beta.value(), C, dt);
  require_channel_vector(op, "running_mean", state.running_mean, C, dt);
  require_channel_vector(op, "running_var", state.running_var, C, dt);
  if (!(state.eps > 0.0)) op_error(op, "eps must be positive");

  Normalisation n;
  n.x = x.value().contiguous();
  const std::int64_t M = n.x.rows();
  n.mean = Tensor::empty(Shape{C}, DType::f64, n.x.device());
  n.invstd = Tensor::empty(Shape{C}, DType::f64, n.x.device());
  if (training) {
    if (M < 2) op_error(op, "training needs more than 1 value per channel, x is " + n.x.describe());
    Tensor var = Tensor::empty(Shape{C}, DType::f64, n.x.device());
    dispatch::batch_norm_stats(n.x, n.mean, var);
    dispatch::batch_norm_invstd(var, state.eps, n.invstd);
    dispatch::batch_norm_update_running(M, n.mean, var, state.momentum, state.running_mean,
                                        state.running_var);
    ++state.num_batches_tracked;
  } else {
    n.mean.copy_from(state.running_mean);
    dispatch::batch_norm_invstd(state.running_var, state.eps, n.invstd);
  }
  n.gamma = gamma.value().contiguous();
  n.beta = beta.value().contiguous();
  return n;
}

}  // namespace

Var batch_norm3d(const Var& x, const Var& gamma, const Var& beta, BatchNormState& state,
                 bool training) {
  Normalisation n = normalisation("batch_norm3d", x, gamma, beta, state, training);
  Tensor y = Tensor::empty(n.x.shape(), n.x.dtype(), n.x.device());
  dispatch::batch_norm_fwd(n.x, n.mean, n.invstd, n.gamma, n.beta, y);
  if (!should_record({&x, &gamma, &beta})) return Var(std::move(y));
  auto node = std::make_shared<BatchNormNode>();
  node->training = training;
  node->x = std::move(n.x);
  node->mean = std::move(n.mean);
  node->invstd = std::move(n.invstd);
  node->gamma = std::move(n.gamma);
  node->set_inputs({x, gamma, beta});
  return Var::from_op(std::move(y), std::move(node));
}

Var batch_norm_relu3d(const Var& x, const Var& gamma, const Var& beta, BatchNormState& state,
                      bool training, bool overwrite_input) {
  Normalisation n = normalisation("batch_norm_relu3d", x, gamma, beta, state, training);
  const bool record = should_record({&x, &gamma, &beta});
  // In place only where x itself is dense (n.x is then x's storage, not a copy of a view).
  Tensor y = overwrite_input && !record && x.value().is_contiguous()
                 ? n.x
                 : Tensor::empty(n.x.shape(), n.x.dtype(), n.x.device());
  dispatch::batch_norm_relu_fwd(n.x, n.mean, n.invstd, n.gamma, n.beta, y);
  if (!record) return Var(std::move(y));
  auto node = std::make_shared<BatchNormReluNode>();
  node->training = training;
  node->x = std::move(n.x);
  node->y = y;
  node->mean = std::move(n.mean);
  node->invstd = std::move(n.invstd);
  node->gamma = std::move(n.gamma);
  node->set_inputs({x, gamma, beta});
  return Var::from_op(std::move(y), std::move(node));
}

}  // namespace ctv
