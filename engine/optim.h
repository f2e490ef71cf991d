// Adam, exactly as SPEC section 0 (PyTorch's formula, the paper's Keras defaults):
//   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;  m_hat = m/(1-b1^t);  v_hat = v/(1-b2^t);
//   theta -= lr * m_hat / (sqrt(v_hat) + eps);   lr 1e-4, b1 0.9, b2 0.999, eps 1e-7.
// Reference kernel and rounding rules: kernels/cpu/reference/adam.h.
//
// State: per parameter m, v (the parameter's shape and dtype, zero at start) and its own step
// count t (PyTorch's per-parameter `step`): a parameter whose grad is undefined at step() is
// skipped and its t does not advance. The state is public for checkpoints; restoring it and
// the parameters makes the next step bit-identical.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/autograd.h"
#include "kernels/cpu/reference/adam.h"

namespace ctv {

struct AdamConfig {
  double lr = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-7;
};

struct AdamParamState {
  Tensor m, v;
  std::int64_t step = 0;
};

class Adam {
 public:
  // requires: every param defined, floating and requires_grad (checked: std::invalid_argument).
  explicit Adam(std::vector<Var> params, AdamConfig config = {});

  // ensures: each param with a defined grad is updated in place (its storage is kept, so
  //          views and Vars sharing it see the new values); its m, v, step advance.
  void step();
  // ensures: every param's grad undefined (released).
  void zero_grad();
  // Moves the moment estimates to `device` (the parameters move with their model).
  void to(Device device);

  const AdamConfig& config() const { return config_; }
  void set_lr(double lr) { config_.lr = lr; }
  const std::vector<Var>& params() const { return params_; }
  std::vector<AdamParamState>& state() { return state_; }
  const std::vector<AdamParamState>& state() const { return state_; }

 private:
  std::vector<Var> params_;
  std::vector<AdamParamState> state_;
  AdamConfig config_;
};

}  // namespace ctv
