// The 3D U-Net of SPEC section 3, built from the engine's ops (engine/ops.h).
//
//   encoder level l:  [maxpool 2x2x2 stride 2 if l > 0] -> 2 x (conv 3x3x3 pad 1 + bias -> norm
//                     -> ReLU); the output of every level but the bottom is kept as its skip
//   decoder level l:  convtranspose 2x2x2 stride 2 + bias (f_{l+1} -> f_l) -> concat[skip, up]
//                     -> 2 x (conv 3x3x3 -> norm -> ReLU)
//   head:             conv 1x1x1 + bias (f_0 -> 1) -> sigmoid
//
// Invariants:
// - Activations NDHWC, conv weights KTRSC, transposed-conv weights CTRSK ([C_in][T][R][S][C_out]),
//   all of config().dtype on the CPU. Parameter and layer names: see unet3d_config.h; they are
//   the PyTorch reference's state_dict keys, so loading its weights is a layout permutation.
// - The model owns its parameters (leaf Vars that require grad) and its batch-norm states.
//   forward() keeps no reference to any activation: under InferenceMode every activation is
//   freed as soon as the next layer has consumed it (skips live until their decoder level).
// - Gradients accumulate into the parameters' grads (engine/autograd.h): call zero_grad() (or
//   the optimiser's) between steps.
// - forward(x, training = true) updates every batch-norm state's running estimates (whether
//   grad mode is on or not), as PyTorch's train mode does; training = false reads them.
// - Initialisation: Glorot uniform kernels (engine/init.h), zero biases, gamma 1, beta 0,
//   running mean 0 and variance 1. Each kernel draws from its own stream Rng(seed,
//   fnv1a64(name)), so a kernel's values depend only on the seed, its name and its shape.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "unet3d/unet3d_config.h"

namespace ctv::unet3d {

struct NamedParameter {
  std::string name;  // "enc.0.conv1.weight"
  Var var;           // shares the model's variable
};

class UNet3D {
 public:
  // requires: config.validate() passes (std::invalid_argument otherwise).
  // ensures: every parameter initialised as described above, from config.seed.
  explicit UNet3D(UNetConfig config);
  // The batch-norm states are addressed by index: copies would share the parameters' Vars
  // but not the states, so the model is move-only.
  UNet3D(const UNet3D&) = delete;
  UNet3D& operator=(const UNet3D&) = delete;
  UNet3D(UNet3D&&) = default;
  UNet3D& operator=(UNet3D&&) = default;

  const UNetConfig& config() const { return config_; }

  // requires: x [N, D, H, W, in_channels] of config().dtype; D, H, W >= 1 and multiples of
  //           config().size_divisor() (checked: std::invalid_argument naming the dims and
  //           levels); in training with batch norm, more than one value per channel at the
  //           bottom level (checked by the engine's batch_norm3d).
  // ensures: the sigmoid probabilities [N, D, H, W, 1].
  Var forward(const Var& x, bool training);
  // The check forward() applies (useful before allocating a batch). requires/ensures: as above.
  void check_input_shape(const Shape& x) const;

  // Every trainable parameter in layer-table order (weight before bias), for the optimiser.
  std::vector<Var> parameters() const;
  const std::vector<NamedParameter>& named_parameters() const { return params_; }
  // requires: a name from named_parameters() (std::out_of_range naming it otherwise).
  Var parameter(const std::string& name) const;
  // Batch-norm layer names ("enc.0.bn1", ...) in layer-table order; empty with Norm::none.
  std::vector<std::string> batch_norm_names() const;
  // requires: a name from batch_norm_names() (std::out_of_range naming it otherwise).
  BatchNormState& batch_norm_state(const std::string& layer);
  const BatchNormState& batch_norm_state(const std::string& layer) const;

  // ensures: every parameter's grad undefined.
  void zero_grad();
  // Moves every parameter and batch-norm running estimate to `device` (the Vars stay the same
  // objects, so an optimiser made before sees the moved values; move its state with
  // Adam::to). ensures: grads undefined.
  void to(Device device);
  // The device of the parameters.
  Device device() const;
  // count_parameters(config()); the model's tensors hold exactly these counts.
  ParameterCount parameter_count() const { return count_parameters(config_); }
  std::string describe() const { return unet3d::describe(config_); }

 private:
  struct Conv {
    Var weight, bias;
  };
  struct ConvNorm {  // conv 3x3x3 -> batch norm (when norm_state >= 0) -> ReLU
    Conv conv;
    Var gamma, beta;
    int norm_state = -1;  // index into norm_states_
  };
  struct Level {
    ConvNorm first, second;
  };

  Var conv_norm_relu(const Var& x, ConvNorm& block, bool training);
  std::size_t norm_index(const std::string& layer) const;
  Conv make_conv(const LayerSpec& spec);
  ConvNorm make_conv_norm(const std::vector<LayerSpec>& layers, std::size_t& i);

  UNetConfig config_;
  std::vector<Level> encoder_;  // levels entries
  std::vector<Conv> up_;        // levels-1 entries, up_[l] maps level l+1 to level l
  std::vector<Level> decoder_;  // levels-1 entries, decoder_[l] at level l
  Conv head_;
  std::vector<BatchNormState> norm_states_;
  std::vector<std::string> norm_names_;  // parallel to norm_states_
  std::vector<NamedParameter> params_;
  std::map<std::string, std::size_t> param_index_;
};

}  // namespace ctv::unet3d
