// The U-Net's configuration and its layer table (SPEC section 3): one description of the
// network from which the model builds its parameters, counts them and prints its summary.
//
// Invariants:
// - Level l (0 = full resolution, levels-1 = bottom) has filters()[l] channels; the default is
//   base_filters * 2^l, i.e. 16-32-64-128-256 for 5 levels.
// - Layer names are PyTorch state_dict prefixes of the reference network
//   (tools/make_golden_unet.py, tests/data/README.md):
//     enc.l.conv1, enc.l.bn1, enc.l.conv2, enc.l.bn2          l = 0 .. levels-1
//     up.l, dec.l.conv1, dec.l.bn1, dec.l.conv2, dec.l.bn2    l = levels-2 .. 0
//     head
//   and each layer's tensors are "<layer>.weight", "<layer>.bias" (conv: kernel and bias;
//   batch norm: gamma and beta) and "<layer>.running_mean", "<layer>.running_var" (batch-norm
//   buffers, not trained). The table lists layers in that order, which is also the order of
//   UNet3D::parameters() and PyTorch's initialisation order.
// - Decoder input at level l is concat[skip (f_l channels), upsampled (f_l channels)].
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ctv::unet3d {

enum class Norm : std::uint8_t { batch, none };
const char* norm_name(Norm n);

struct UNetConfig {
  int in_channels = 2;  // CT and iGTV
  int levels = 5;
  std::int64_t base_filters = 16;
  std::vector<std::int64_t> filters;  // explicit per-level filters; empty: base_filters * 2^l
  Norm norm = Norm::batch;
  double bn_momentum = 0.1;
  double bn_eps = 1e-5;
  DType dtype = DType::f32;
  std::uint64_t seed = 0;  // Glorot-uniform initialisation (engine/init.h)

  // requires: validate() passes. ensures: levels entries, level l's channel count.
  std::vector<std::int64_t> level_filters() const;
  // ensures: returns normally when the config describes a network; otherwise throws
  //          std::invalid_argument naming the field and its value.
  void validate() const;
  // The divisor every spatial dimension of an input must be a multiple of: 2^(levels-1).
  std::int64_t size_divisor() const;
};

enum class LayerKind : std::uint8_t { conv3d, conv_transpose3d, batch_norm };

struct LayerSpec {
  std::string name;  // "enc.0.conv1", "up.1", "dec.0.bn2", "head"
  LayerKind kind = LayerKind::conv3d;
  std::int64_t in_channels = 0;   // batch norm: channels
  std::int64_t out_channels = 0;  // batch norm: channels
  int kernel = 0;                 // 3 (conv), 2 (transposed conv, stride 2), 1 (head), 0 (norm)

  // Tensor shapes in the engine's layouts: conv3d KTRSC, conv_transpose3d CTRSK, norm [C].
  Shape weight_shape() const;
  Shape bias_shape() const { return Shape{out_channels}; }
};

// requires: config.validate() passes (it is called; std::invalid_argument otherwise).
// ensures: every layer of the network in the order described at the top of this file.
std::vector<LayerSpec> unet3d_layers(const UNetConfig& config);

struct ParameterCount {
  std::int64_t conv_weights = 0;  // conv3d, transposed-conv and head kernels
  std::int64_t conv_biases = 0;
  std::int64_t norm_affine = 0;   // batch-norm gamma and beta (trained)
  std::int64_t norm_running = 0;  // batch-norm running mean and variance (buffers)
  std::int64_t trainable() const { return conv_weights + conv_biases + norm_affine; }
  std::int64_t total() const { return trainable() + norm_running; }
};

// ensures: the counts summed over unet3d_layers(config).
ParameterCount count_parameters(const UNetConfig& config);

// A few lines: levels, filters, normalisation, dtype, input constraint and the parameter
// counts (trainable, by kind, and the batch-norm buffers).
std::string describe(const UNetConfig& config);

}  // namespace ctv::unet3d
