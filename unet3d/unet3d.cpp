// UNet3D: parameters from the layer table, the forward pass from the engine's ops.
#include "unet3d/unet3d.h"

#include <stdexcept>
#include <utility>

#include "engine/init.h"
#include "engine/rng.h"

namespace ctv::unet3d {

namespace {

// FNV-1a, 64 bit: a layer name's initialisation stream (stable across platforms).
std::uint64_t fnv1a64(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

[[noreturn]] void table_error(const std::string& what) {
  throw std::logic_error("UNet3D: layer table out of order: " + what);
}

}  // namespace

UNet3D::Conv UNet3D::make_conv(const LayerSpec& spec) {
  const std::string wname = spec.name + ".weight";
  Rng rng(config_.seed, fnv1a64(wname));
  const Shape ws = spec.weight_shape();
  Tensor w = Tensor::empty(ws, config_.dtype);
  if (spec.kind == LayerKind::conv3d)
    glorot_uniform_(w, conv3d_fans(ws), rng);
  else if (spec.kind == LayerKind::conv_transpose3d)
    glorot_uniform_(w, conv_transpose3d_fans(ws), rng);
  else
    table_error(spec.name + " is not a convolution");
  Conv c{Var::parameter(std::move(w), wname),
         Var::parameter(Tensor::zeros(spec.bias_shape(), config_.dtype), spec.name + ".bias")};
  for (const Var* v : {&c.weight, &c.bias}) {
    param_index_[v->name()] = params_.size();
    params_.push_back({v->name(), *v});
  }
  return c;
}

// Consumes layers[i] (a conv3d) and, when it is there, the batch norm after it.
UNet3D::ConvNorm UNet3D::make_conv_norm(const std::vector<LayerSpec>& layers, std::size_t& i) {
  if (i >= layers.size() || layers[i].kind != LayerKind::conv3d) table_error("expected a conv3d");
  ConvNorm b;
  b.conv = make_conv(layers[i++]);
  if (i < layers.size() && layers[i].kind == LayerKind::batch_norm) {
    const LayerSpec& s = layers[i++];
    const std::int64_t c = s.out_channels;
    b.gamma = Var::parameter(Tensor::full(Shape{c}, 1.0, config_.dtype), s.name + ".weight");
    b.beta = Var::parameter(Tensor::zeros(Shape{c}, config_.dtype), s.name + ".bias");
    for (const Var* v : {&b.gamma, &b.beta}) {
      param_index_[v->name()] = params_.size();
      params_.push_back({v->name(), *v});
    }
    BatchNormState st = BatchNormState::create(c, config_.dtype);
    st.momentum = config_.bn_momentum;
    st.eps = config_.bn_eps;
    b.norm_state = static_cast<int>(norm_states_.size());
    norm_states_.push_back(std::move(st));
    norm_names_.push_back(s.name);
  }
  return b;
}

UNet3D::UNet3D(UNetConfig config) : config_(std::move(config)) {
  const std::vector<LayerSpec> layers = unet3d_layers(config_);  // validates
  const auto L = static_cast<std::size_t>(config_.levels);
  std::size_t i = 0;
  encoder_.resize(L);
  for (std::size_t l = 0; l < L; ++l) {
    encoder_[l].first = make_conv_norm(layers, i);
    encoder_[l].second = make_conv_norm(layers, i);
  }
  up_.resize(L - 1);
  decoder_.resize(L - 1);
  for (std::size_t l = L - 1; l-- > 0;) {
    if (layers[i].kind != LayerKind::conv_transpose3d) table_error("expected " + layers[i].name);
    up_[l] = make_conv(layers[i++]);
    decoder_[l].first = make_conv_norm(layers, i);
    decoder_[l].second = make_conv_norm(layers, i);
  }
  head_ = make_conv(layers[i++]);
  if (i != layers.size()) table_error("layers left after the head");
}

void UNet3D::check_input_shape(const Shape& x) const {
  if (x.rank != 5 || x[4] != config_.in_channels)
    throw std::invalid_argument("UNet3D: input must be N x D x H x W x C with C = in_channels = " +
                                std::to_string(config_.in_channels) + ", got " + x.str());
  if (x[0] < 1) throw std::invalid_argument("UNet3D: input batch is empty, shape " + x.str());
  const std::int64_t q = config_.size_divisor();
  static constexpr const char* kAxis[3] = {"D (z)", "H (y)", "W (x)"};
  std::string bad;
  for (int a = 1; a <= 3; ++a)
    if (x[a] < 1 || x[a] % q != 0)
      bad += std::string(bad.empty() ? "" : ", ") + kAxis[a - 1] + " = " + std::to_string(x[a]);
  if (!bad.empty())
    throw std::invalid_argument("UNet3D: input spatial size D x H x W = " + std::to_string(x[1]) +
                                " x " + std::to_string(x[2]) + " x " + std::to_string(x[3]) +
                                " does not fit levels = " + std::to_string(config_.levels) +
                                ": every dimension must be a positive multiple of 2^" +
                                std::to_string(config_.levels - 1) + " = " + std::to_string(q) +
                                " (not: " + bad + ")");
}

Var UNet3D::conv_norm_relu(const Var& x, ConvNorm& block, bool training) {
  Var y = conv3d(x, block.conv.weight, block.conv.bias, Conv3dParams::uniform(1, 1));
  if (block.norm_state >= 0)  // one fused pass; in inference it overwrites the conv output
    return batch_norm_relu3d(y, block.gamma, block.beta,
                             norm_states_[static_cast<std::size_t>(block.norm_state)], training,
                             /*overwrite_input=*/true);
  return relu(y);
}

Var UNet3D::forward(const Var& x, bool training) {
  if (!x.defined()) throw std::invalid_argument("UNet3D: forward on an undefined input");
  check_input_shape(x.shape());
  if (x.dtype() != config_.dtype || x.device() != Device::cpu)
    throw std::invalid_argument(std::string("UNet3D: input is ") + x.value().describe() +
                                ", the model is " + dtype_name(config_.dtype) + " cpu");
  const std::size_t L = encoder_.size();
  std::vector<Var> skips;  // skips[l]: level l's output, l < L-1
  skips.reserve(L - 1);
  Var h = x;
  for (std::size_t l = 0; l < L; ++l) {
    if (l > 0) h = max_pool3d(h, Pool3dParams::cube(2, 2));
    h = conv_norm_relu(h, encoder_[l].first, training);
    h = conv_norm_relu(h, encoder_[l].second, training);
    if (l + 1 < L) skips.push_back(h);
  }
  for (std::size_t l = L - 1; l-- > 0;) {
    {
      // Hand the skip and the upsampled tensor to the concat and drop our references, so
      // that in inference mode both are freed once the concat has copied them.
      std::vector<Var> parts(2);
      parts[0] = std::move(skips[l]);
      parts[1] = conv_transpose3d(h, up_[l].weight, up_[l].bias, Conv3dParams::uniform(2, 0));
      skips.pop_back();
      h = concat_channels(parts);
    }
    h = conv_norm_relu(h, decoder_[l].first, training);
    h = conv_norm_relu(h, decoder_[l].second, training);
  }
  h = conv3d(h, head_.weight, head_.bias, Conv3dParams::uniform(1, 0));
  return sigmoid(h);
}

std::vector<Var> UNet3D::parameters() const {
  std::vector<Var> out;
  out.reserve(params_.size());
  for (const NamedParameter& p : params_) out.push_back(p.var);
  return out;
}

Var UNet3D::parameter(const std::string& name) const {
  auto it = param_index_.find(name);
  if (it == param_index_.end())
    throw std::out_of_range("UNet3D: no parameter named '" + name + "'");
  return params_[it->second].var;
}

std::vector<std::string> UNet3D::batch_norm_names() const { return norm_names_; }

std::size_t UNet3D::norm_index(const std::string& layer) const {
  for (std::size_t i = 0; i < norm_names_.size(); ++i)
    if (norm_names_[i] == layer) return i;
  throw std::out_of_range("UNet3D: no batch-norm layer named '" + layer + "'");
}

BatchNormState& UNet3D::batch_norm_state(const std::string& layer) {
  return norm_states_[norm_index(layer)];
}

const BatchNormState& UNet3D::batch_norm_state(const std::string& layer) const {
  return norm_states_[norm_index(layer)];
}

void UNet3D::zero_grad() {
  for (NamedParameter& p : params_) p.var.zero_grad();
}

void UNet3D::to(Device device) {
  zero_grad();
  for (NamedParameter& p : params_)
    if (p.var.value().device() != device) p.var.value() = p.var.value().to(device);
  for (BatchNormState& s : norm_states_) {
    if (s.running_mean.device() != device) s.running_mean = s.running_mean.to(device);
    if (s.running_var.device() != device) s.running_var = s.running_var.to(device);
  }
}

Device UNet3D::device() const {
  return params_.empty() ? Device::cpu : params_.front().var.value().device();
}

}  // namespace ctv::unet3d
