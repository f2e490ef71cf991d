// Adam (see engine/optim.h); the arithmetic is the dispatched adam_step kernel.
#include "engine/optim.h"

#include <stdexcept>

#include "engine/ops_dispatch.h"

namespace ctv {

Adam::Adam(std::vector<Var> params, AdamConfig config)
    : params_(std::move(params)), config_(config) {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Var& p = params_[i];
    if (!p.defined() || !p.requires_grad())
      throw std::invalid_argument("Adam: parameter " + std::to_string(i) +
                                  " is undefined or does not require grad");
    if (!p.value().is_contiguous())
      throw std::invalid_argument("Adam: parameter " + std::to_string(i) + " (" +
                                  p.value().describe() + ") is a strided view");
    AdamParamState s;
    s.m = Tensor::zeros(p.shape(), p.dtype(), p.device());
    s.v = Tensor::zeros(p.shape(), p.dtype(), p.device());
    state_.push_back(std::move(s));
  }
}

void Adam::step() {
  const kernels::ref::AdamHyper h{config_.lr, config_.beta1, config_.beta2, config_.eps};
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Var& p = params_[i];
    if (!p.has_grad()) continue;
    AdamParamState& s = state_[i];
    ++s.step;
    dispatch::adam_step(p.value(), p.grad().contiguous(), s.m, s.v, s.step, h);
  }
}

void Adam::zero_grad() {
  for (Var& p : params_) p.zero_grad();
}

void Adam::to(Device device) {
  for (AdamParamState& s : state_) {
    if (s.m.defined() && s.m.device() != device) s.m = s.m.to(device);
    if (s.v.defined() && s.v.device() != device) s.v = s.v.to(device);
  }
}

}  // namespace ctv
